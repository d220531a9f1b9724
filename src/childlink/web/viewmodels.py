"""What the templates show, decoupled from the services that produce it.

Templates render only these small frozen dataclasses. The adapters in
:mod:`childlink.web.adapt` build them from the children service's ``ChildSummary`` and
``ChildProfile`` and from the linkage review queue, so a change there touches one function,
and the templates can be tested with hand-made view models.

A field is either shown in full, shown masked (``masked=True``: the value is the masked form,
such as ``110105********1234``) or absent: hidden fields never reach a view model.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date

from childlink.children.choices import Sex
from childlink.store.enums import LabelledStrEnum
from childlink.web.i18n import N_

COMPARISON_LABELS: dict[str, str] = {
    "name": N_("Name"),
    "dob": N_("Date of birth"),
    "id_any": N_("ID number"),
    "sex": N_("Sex"),
    "guardian_py": N_("Guardian name (pinyin)"),
    "region": N_("Region"),
}
"""The linkage model's comparisons, as people call them (translated in the template)."""


@dataclass(frozen=True)
class FieldView:
    """One canonical field of a record, as the viewer may see it."""

    name: str
    label_zh: str
    label_en: str
    value: str
    masked: bool = False
    choice: LabelledStrEnum | None = None
    """The value as an enum member, when it is one (shown by its label in the page language)."""


@dataclass(frozen=True)
class RecordView:
    """One source record with its provenance: which file, sheet, row and batch it came from."""

    record_id: str
    source_code: str
    source_zh: str
    source_en: str
    file_name: str | None
    sheet: str | None
    row_number: int | None
    batch_date: str | None
    fields: tuple[FieldView, ...]
    hint: str | None = None
    """A value that tells records of one source apart in a list (month, event date, ...)."""


@dataclass(frozen=True)
class DepartmentView:
    """The records one department holds about the child."""

    code: str
    name_zh: str
    name_en: str
    records: tuple[RecordView, ...]


@dataclass(frozen=True)
class PersonView:
    """A family member (guardian or sibling) as far as the viewer may see them."""

    name: str
    relation_zh: str
    relation_en: str
    fields: tuple[FieldView, ...] = ()
    child_id: str | None = None
    name_masked: bool = False


@dataclass(frozen=True)
class WaterfallStep:
    """One comparison of a pair: its level and how much it moved the match weight."""

    comparison: str
    level: str
    match_weight: float


@dataclass(frozen=True)
class WaterfallView:
    """Why a pair scored as it did: the prior, each comparison, the final weight."""

    prior_match_weight: float | None
    steps: tuple[WaterfallStep, ...]
    match_weight: float | None
    match_probability: float | None

    @property
    def scale(self) -> float:
        """The largest absolute weight, for drawing bars relative to it."""
        values = [abs(step.match_weight) for step in self.steps]
        if self.prior_match_weight is not None:
            values.append(abs(self.prior_match_weight))
        return max(values, default=1.0) or 1.0


@dataclass(frozen=True)
class EvidenceView:
    """A review or decision that joined (or kept apart) records of this child."""

    kind: str
    status: LabelledStrEnum | str
    reviewer: str | None
    note: str | None
    at: str | None
    waterfall: WaterfallView | None
    probability: float | None = None
    rule: str | None = None


@dataclass(frozen=True)
class EventView:
    """One entry of the master child's change log."""

    kind: LabelledStrEnum | str
    actor: str
    at: str
    summary: str


@dataclass(frozen=True)
class ProfileView:
    """Everything the child profile page shows."""

    child_id: str
    name: str
    sex: Sex | None
    birth_date: str | None
    region_code: str | None
    region_name: str | None
    departments: tuple[DepartmentView, ...]
    guardians: tuple[PersonView, ...] = ()
    siblings: tuple[PersonView, ...] = ()
    family_shown: bool = True
    evidence: tuple[EvidenceView, ...] = ()
    events: tuple[EventView, ...] = ()
    evidence_shown: bool = True
    name_masked: bool = False
    header_fields: tuple[FieldView, ...] = ()
    break_glass: bool = False
    withheld_sources: int = 0


@dataclass(frozen=True)
class SummaryView:
    """One search hit."""

    child_id: str
    name: str
    sex: Sex | None
    birth_date: str | None
    region_code: str | None
    region_name: str | None
    id_number: str | None = None
    id_masked: bool = False
    sources: tuple[str, ...] = ()
    name_masked: bool = False


@dataclass(frozen=True)
class ReviewRecordView:
    """One side of a review pair."""

    record_id: str
    fields: tuple[FieldView, ...]
    master_child_id: str | None = None
    title: str | None = None
    """The record's name (or pinyin) for lists; None when the record has neither."""


@dataclass(frozen=True)
class ReviewView:
    """A pair of records waiting for (or given) a reviewer's decision."""

    review_id: str
    status: LabelledStrEnum | str
    match_probability: float
    match_weight: float
    left: ReviewRecordView
    right: ReviewRecordView
    waterfall: WaterfallView | None
    reviewer: str | None = None
    note: str | None = None
    decided_at: str | None = None


@dataclass(frozen=True)
class Viewer:
    """Who is looking: what the page header says about the logged-in person."""

    username: str
    display_name: str
    role_zh: str
    role_en: str
    jurisdiction: str | None
    jurisdiction_name: str | None
    agency: str | None = None
    may_review: bool = False
    caseload: int = 0
    extra: dict[str, str] = field(default_factory=dict)


def short_id(value: uuid.UUID | str) -> str:
    """The first 8 characters of a UUID, enough to tell rows apart on screen."""
    return str(value)[:8]


def format_date(value: date | str | None) -> str | None:
    """ISO date for display (None stays None)."""
    if value is None:
        return None
    return value.isoformat() if isinstance(value, date) else str(value)
