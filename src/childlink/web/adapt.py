"""Build the templates' view models from what the services return.

The children service has already applied the policy: hidden fields are absent and masked ones
carry their masked form. These adapters only reshape (group sources by department, order
fields as the canonical schema does, attach labels) and never reveal more; where a service
returns raw values the page does not need (guardians' ID numbers and phones inside the family
block), they are masked here as a second line of defence.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from childlink.access.service import Visibility, mask
from childlink.children.choices import GuardianRelation, MembershipRelation, Sex
from childlink.children.schemas import ChildProfile, ChildSummary, LinkEvidence
from childlink.children.schemas import RecordView as ServiceRecord
from childlink.ingest.schema import CANONICAL_FIELDS
from childlink.linkage.choices import MasterEventKind, ReviewStatus
from childlink.linkage.review import ReviewError, ReviewItem, get_review
from childlink.sources.models import Department
from childlink.store.enums import LabelledStrEnum
from childlink.web.i18n import N_
from childlink.web.viewmodels import (
    DepartmentView,
    EventView,
    EvidenceView,
    FieldView,
    PersonView,
    ProfileView,
    RecordView,
    ReviewRecordView,
    ReviewView,
    SummaryView,
    WaterfallStep,
    WaterfallView,
)

_FIELD_ORDER = {name: index for index, name in enumerate(CANONICAL_FIELDS)}
_REVIEW_FIELDS = ("name", "sex", "birth_date", "id_number", "region_code")
_HINT_FIELDS = (
    "month",
    "event_date",
    "event_time",
    "programme",
    "school_name",
    "enrolled_on",
    "registered_on",
)


def is_masked(value: str | None) -> bool:
    """A masked value carries ``*`` in place of what is withheld."""
    return value is not None and "*" in value


def _enum(enum_cls: type[LabelledStrEnum], value: object) -> LabelledStrEnum | None:
    try:
        return enum_cls(str(value))
    except ValueError:
        return None


def field_view(name: str, value: object, *, masked: bool | None = None) -> FieldView:
    """One field with its canonical labels (the name itself when the schema has none)."""
    canonical = CANONICAL_FIELDS.get(name)
    text = "" if value is None else str(value)
    return FieldView(
        name=name,
        label_zh=canonical.label_zh if canonical else name,
        label_en=canonical.label_en if canonical else name,
        value=text,
        masked=is_masked(text) if masked is None else masked,
        choice=_enum(Sex, text) if name == "sex" else None,
    )


def ordered_fields(
    values: Mapping[str, object], masked: Iterable[str] = ()
) -> tuple[FieldView, ...]:
    """Fields in the canonical schema's order, empty ones left out."""
    masked_set = set(masked)
    names = sorted(
        (name for name, value in values.items() if value not in (None, "")),
        key=lambda name: (_FIELD_ORDER.get(name, len(_FIELD_ORDER)), name),
    )
    return tuple(
        field_view(name, values[name], masked=name in masked_set or is_masked(str(values[name])))
        for name in names
    )


def summary_view(summary: ChildSummary) -> SummaryView:
    """A search hit as the results list shows it."""
    name = summary.display_name or "—"
    return SummaryView(
        child_id=str(summary.master_child_id),
        name=name,
        sex=_sex(summary.sex),
        birth_date=summary.birth_date,
        region_code=summary.region_code,
        region_name=summary.region_name,
        name_masked=is_masked(summary.display_name),
        sources=(),
    )


def _sex(value: str | None) -> Sex | None:
    found = _enum(Sex, value) if value else None
    return found if isinstance(found, Sex) else None


def _department_names(session: Session, codes: Iterable[str]) -> dict[str, tuple[str, str]]:
    rows = session.execute(
        sa.select(Department.code, Department.name_zh, Department.name_en).where(
            Department.code.in_(sorted(set(codes)))
        )
    )
    return {code: (name_zh, name_en) for code, name_zh, name_en in rows}


def _hint(fields: Mapping[str, str | None]) -> str | None:
    for name in _HINT_FIELDS:
        value = fields.get(name)
        if value:
            return value
    return None


def _record(record: ServiceRecord, source_code: str, zh: str, en: str) -> RecordView:
    return RecordView(
        record_id=str(record.record_id),
        source_code=source_code,
        source_zh=zh,
        source_en=en,
        file_name=record.file_name,
        sheet=record.sheet or None,
        row_number=record.row_number,
        batch_date=record.ingested_at.date().isoformat(),
        fields=ordered_fields(record.fields, record.masked),
        hint=_hint(record.fields),
    )


def profile_view(
    session: Session, profile: ChildProfile, factory: sessionmaker[Session] | None = None
) -> ProfileView:
    """The profile page's view model: sources grouped by department, family, evidence."""
    departments: dict[str, list[RecordView]] = {}
    for group in profile.sources:
        records = [
            _record(record, group.source_code, group.source_name_zh, group.source_name_en)
            for record in group.records
            if record.fields
        ]
        if records:
            departments.setdefault(group.department_code, []).extend(records)
    names = _department_names(session, departments)
    department_views = tuple(
        DepartmentView(
            code=code,
            name_zh=names.get(code, (code, code))[0],
            name_en=names.get(code, (code, code))[1],
            records=tuple(records),
        )
        for code, records in sorted(departments.items())
    )
    guardians, siblings = _family(profile)
    evidence, events = _evidence(profile.link_evidence, factory)
    return ProfileView(
        child_id=str(profile.master_child_id),
        name=profile.display_name or "—",
        name_masked=is_masked(profile.display_name),
        sex=_sex(profile.sex),
        birth_date=profile.birth_date,
        region_code=profile.region_code,
        region_name=profile.region_name,
        departments=department_views,
        guardians=guardians,
        siblings=siblings,
        family_shown=bool(profile.family),
        evidence=evidence,
        events=events,
        evidence_shown=True,
        break_glass=profile.break_glass,
        withheld_sources=profile.withheld_sources,
    )


def _family(profile: ChildProfile) -> tuple[tuple[PersonView, ...], tuple[PersonView, ...]]:
    guardians: list[PersonView] = []
    siblings: list[PersonView] = []
    seen_guardians: set[str] = set()
    seen_children: set[str] = set()
    own_id = str(profile.master_child_id)
    for family in profile.family:
        for guardian in family.get("guardians") or []:
            key = str(guardian.get("id") or guardian.get("name"))
            if key in seen_guardians:
                continue
            seen_guardians.add(key)
            relation = _enum(GuardianRelation, guardian.get("relation"))
            extra: dict[str, object] = {}
            if guardian.get("phone"):
                extra["guardian_phone"] = mask("phone", guardian["phone"])
            if guardian.get("id_number"):
                extra["guardian_id_number"] = mask("id_number", guardian["id_number"])
            name = str(guardian.get("name") or "—")
            guardians.append(
                PersonView(
                    name=name,
                    relation_zh=relation.label_zh if relation else "",
                    relation_en=relation.label_en if relation else "",
                    fields=ordered_fields(extra, masked=extra),
                    name_masked=is_masked(name),
                )
            )
        for member in family.get("members") or []:
            child_id = str(member.get("master_child_id") or "")
            if not child_id or child_id == own_id or child_id in seen_children:
                continue
            seen_children.add(child_id)
            relation = _enum(MembershipRelation, member.get("relation"))
            name = str(member.get("display_name") or "—")
            facts = {"birth_date": member.get("birth_date")}
            siblings.append(
                PersonView(
                    name=name,
                    relation_zh=relation.label_zh if relation else "",
                    relation_en=relation.label_en if relation else "",
                    fields=ordered_fields(facts),
                    child_id=child_id,
                    name_masked=is_masked(name),
                )
            )
    return tuple(guardians), tuple(siblings)


def waterfall_view(document: Mapping[str, Any] | None) -> WaterfallView | None:
    """The weights of a stored waterfall (never the compared values, which may be identifying)."""
    if not document or not document.get("comparisons"):
        return None
    steps = tuple(
        WaterfallStep(
            comparison=str(item.get("comparison")),
            level=str(item.get("level") or ""),
            match_weight=float(item.get("match_weight") or 0.0),
        )
        for item in document["comparisons"]
    )
    prior = document.get("prior_match_weight")
    weight = document.get("match_weight")
    probability = document.get("match_probability")
    return WaterfallView(
        prior_match_weight=None if prior is None else float(prior),
        steps=steps,
        match_weight=None if weight is None else float(weight),
        match_probability=None if probability is None else float(probability),
    )


def _evidence(
    items: list[LinkEvidence], factory: sessionmaker[Session] | None
) -> tuple[tuple[EvidenceView, ...], tuple[EventView, ...]]:
    evidence: list[EvidenceView] = []
    events: list[EventView] = []
    for item in items:
        at = None if item.at is None else item.at.strftime("%Y-%m-%d %H:%M")
        if item.kind.startswith("review_"):
            status = _enum(ReviewStatus, item.kind.removeprefix("review_"))
            review = _stored_review(factory, item.details.get("review_id"))
            evidence.append(
                EvidenceView(
                    kind=N_("Review"),
                    status=status or item.kind,
                    reviewer=item.actor,
                    note=None if review is None else review.note,
                    at=at,
                    waterfall=None if review is None else waterfall_view(review.waterfall),
                    probability=item.details.get("match_probability"),
                    rule=item.details.get("rule"),
                )
            )
            continue
        kind = _enum(MasterEventKind, item.kind)
        events.append(
            EventView(
                kind=kind or item.kind,
                actor=item.actor or "",
                at=at or "",
                summary=_event_summary(item.details),
            )
        )
    return tuple(evidence), tuple(events)


def _event_summary(details: Mapping[str, Any]) -> str:
    parts = []
    for key in ("records", "from_masters", "into", "split_from", "new_master", "note"):
        value = details.get(key)
        if value in (None, "", []):
            continue
        if isinstance(value, list):
            value = ", ".join(str(item)[:8] for item in value)
        elif key in ("into", "split_from", "new_master"):
            value = str(value)[:8]
        parts.append(f"{key}: {value}")
    return "; ".join(parts)


def _stored_review(factory: sessionmaker[Session] | None, review_id: object) -> ReviewItem | None:
    if factory is None or not review_id:
        return None
    try:
        return get_review(factory, str(review_id))
    except ReviewError:
        return None


VisibilityOf = Callable[[Mapping[str, Any]], Mapping[str, Visibility]]
"""For one record of a pair: how the reviewer may see each of its fields."""


def review_view(item: ReviewItem, visibility_of: VisibilityOf) -> ReviewView:
    """A queued pair for a reviewer: the two records' person fields and the waterfall.

    Each side passes the reviewer's field visibility for its source (a department data officer
    sees identifiers masked, and other departments' records not at all).
    """
    return ReviewView(
        review_id=item.id,
        status=_enum(ReviewStatus, item.status) or item.status,
        match_probability=item.match_probability,
        match_weight=item.match_weight,
        left=_review_side(item.left, visibility_of(item.left)),
        right=_review_side(item.right, visibility_of(item.right)),
        waterfall=waterfall_view(item.waterfall),
        reviewer=item.reviewer,
        note=item.note,
        decided_at=item.decided_at,
    )


def _review_side(
    record: Mapping[str, Any], visibility: Mapping[str, Visibility]
) -> ReviewRecordView:
    values: dict[str, object] = {}
    masked: list[str] = []
    for name in _REVIEW_FIELDS:
        level = visibility.get(name)
        value = record.get(name)
        if level is None or level is Visibility.HIDDEN or value in (None, ""):
            continue
        if level is Visibility.MASKED:
            value = mask(name, value)
            masked.append(name)
        values[name] = value
    master = record.get("master_child_id")
    title = values.get("name")
    return ReviewRecordView(
        record_id=str(record.get("id")),
        fields=ordered_fields(values, masked),
        master_child_id=None if master is None else str(master),
        title=None if title is None else str(title),
    )


def parse_uuid(value: str) -> uuid.UUID | None:
    """A UUID from a path segment, or None when it is not one (the page then says 404)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
