"""The declarative base every ChildLink table derives from.

Constraint names come from one naming convention so Alembic autogenerate produces the same
names on every run and batch migrations on SQLite can find constraints to drop or alter.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from childlink.store.enums import enum_column_type
from childlink.store.types import GUID, JSONDocument, UTCDateTime

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utc_now() -> datetime:
    """Current time as an aware UTC datetime (the only kind the store accepts)."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base: shared metadata, naming convention and Python-to-column type map."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        uuid.UUID: GUID(),
        datetime: UTCDateTime(),
        date: sa.Date(),
        dict[str, Any]: JSONDocument(),
        Enum: enum_column_type(),
    }


class UUIDPrimaryKeyMixin:
    """A random UUID primary key: ids reveal neither order nor volume, and merge across sites."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4, sort_order=-1)


class TimestampMixin:
    """``created_at``/``updated_at`` in UTC, set by the application (identical on every DB)."""

    created_at: Mapped[datetime] = mapped_column(default=utc_now, sort_order=1)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now, sort_order=1)
