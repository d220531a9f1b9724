"""What the outside sees of a child: search hits and the profile, already filtered by policy.

Values are strings as the viewer may see them: in full, masked (``张*``), or absent. A field the
viewer may not see is not in ``fields`` at all; ``masked`` lists the ones shown masked.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class ChildSummary(BaseModel):
    """One search hit."""

    master_child_id: uuid.UUID
    display_name: str | None = Field(description="Name as the viewer may see it (maybe masked).")
    sex: str | None
    birth_date: str | None
    region_code: str | None
    region_name: str | None
    matched_by: str = Field(description="name, pinyin, id_number or student_number.")


class RecordView(BaseModel):
    """One linked source record, with where it came from."""

    record_id: uuid.UUID
    batch_id: uuid.UUID
    file_name: str
    sheet: str
    row_number: int
    ingested_at: datetime
    status: str
    fields: dict[str, str | None]
    masked: list[str] = Field(default_factory=list)


class SourceGroup(BaseModel):
    """The records of one department source."""

    source_code: str
    source_name_zh: str
    source_name_en: str
    department_code: str
    records: list[RecordView]


class LinkEvidence(BaseModel):
    """Why records were joined into this child (or kept apart)."""

    kind: str
    at: datetime | None
    actor: str | None
    details: dict[str, Any] = Field(default_factory=dict)


class ChildProfile(BaseModel):
    """Everything the viewer may see of one child."""

    master_child_id: uuid.UUID
    display_name: str | None
    sex: str | None
    birth_date: str | None
    region_code: str | None
    region_name: str | None
    status: str
    break_glass: bool = Field(description="Seen under an emergency (break-glass) grant.")
    sources: list[SourceGroup]
    withheld_sources: int = Field(
        description="Sources with records of the child of which the viewer may see nothing."
    )
    family: list[dict[str, Any]] = Field(default_factory=list)
    link_evidence: list[LinkEvidence] = Field(default_factory=list)
