"""StrEnums that carry Chinese and English labels, and the way they are stored.

Choices live next to each context's models (``<context>/choices.py``); this module only holds
the shared base so every enum shown to users has the same ``label_zh``/``label_en`` surface.
"""

from __future__ import annotations

from enum import Enum, StrEnum
from typing import Self

import sqlalchemy as sa

ENUM_COLUMN_LENGTH = 32
"""Width of enum columns: headroom so adding a member never needs a column change."""


class LabelledStrEnum(StrEnum):
    """A StrEnum whose members are declared as ``NAME = "value", "中文", "English"``.

    The value is what the database and the API store; the labels are what people read.
    """

    label_zh: str
    label_en: str

    def __new__(cls, value: str, label_zh: str = "", label_en: str = "") -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label_zh = label_zh or value
        member.label_en = label_en or value
        return member

    @classmethod
    def choices(cls) -> list[tuple[str, str, str]]:
        """``(value, label_zh, label_en)`` for every member, in declaration order (for forms)."""
        return [(member.value, member.label_zh, member.label_en) for member in cls]


def enum_values(enum_cls: type[Enum]) -> list[str]:
    """Store members by value (``"male"``), not by Python name (``"MALE"``)."""
    return [str(member.value) for member in enum_cls]


def enum_column_type() -> sa.Enum:
    """The generic enum column type used in ``Base.type_annotation_map``.

    Stored as VARCHAR without a CHECK constraint: allowed values are enforced in Python
    (``validate_strings``), so adding a member is a code change, not a table rebuild on SQLite.
    """
    return sa.Enum(
        Enum,
        native_enum=False,
        create_constraint=False,
        length=ENUM_COLUMN_LENGTH,
        values_callable=enum_values,
        validate_strings=True,
    )
