"""What other modules read about households: a child's family, its guardians and siblings."""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel, ConfigDict

from childlink.children.choices import GuardianRelation, MembershipRelation, Sex


class GuardianRead(BaseModel):
    """A guardian of a family, as the household rebuild established it."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    name: str
    id_number: str | None
    relation: GuardianRelation
    phone: str | None
    is_migrant_worker: bool


class MemberRead(BaseModel):
    """A child of a family and the rules that placed it there."""

    model_config = ConfigDict(frozen=True)

    master_child_id: uuid.UUID
    display_name: str
    sex: Sex
    birth_date: date | None
    relation: MembershipRelation
    evidence: dict[str, list[str]]
    """Rule -> the other members (master child ids) it linked this child with."""


class FamilyRead(BaseModel):
    """A household with its children and guardians."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    household_key: str | None
    region_code: str | None
    address: str | None
    members: list[MemberRead]
    guardians: list[GuardianRead]
