"""Portable column types: the same Python values on SQLite and PostgreSQL.

Migrations import this module as ``ct`` (see ``script.py.mako``), so these class names and
their constructor signatures are part of the migration history: extend, do not rename.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


class GUID(TypeDecorator[uuid.UUID]):
    """A UUID: native ``uuid`` on PostgreSQL, canonical 36-character text elsewhere.

    Text with hyphens (not SQLAlchemy's 32-hex ``Uuid``) keeps ids readable in a SQLite shell
    and identical to what the API and the logs print.
    """

    impl = sa.CHAR(36)
    cache_ok = True

    def __repr__(self) -> str:
        return "GUID()"  # how migrations render it: the impl arguments are fixed

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.UUID(as_uuid=True))
        return dialect.type_descriptor(sa.CHAR(36))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        parsed = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
        return parsed if dialect.name == "postgresql" else str(parsed)

    def process_result_value(self, value: Any, dialect: Dialect) -> uuid.UUID | None:
        if value is None or isinstance(value, uuid.UUID):
            return value
        return uuid.UUID(str(value))


class UTCDateTime(TypeDecorator[datetime]):
    """A point in time, always returned as a tz-aware UTC ``datetime``.

    SQLite has no time-zone type and SQLAlchemy drops ``tzinfo`` there, so values are stored as
    naive UTC and re-labelled on the way out. Naive input is refused: a naive value is a local
    time of unknown zone and silently storing it would shift events by hours.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def __repr__(self) -> str:
        return "UTCDateTime()"

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"UTCDateTime expects a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: attach a time zone")
        in_utc = value.astimezone(UTC)
        return in_utc if dialect.name == "postgresql" else in_utc.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


class JSONDocument(TypeDecorator[Any]):
    """A JSON document: ``JSONB`` on PostgreSQL (indexable, compact), ``JSON`` text elsewhere.

    Python ``None`` is stored as SQL ``NULL`` rather than JSON ``null`` so ``IS NULL`` works.
    Values are not mutation-tracked: assign a new dict instead of editing one in place.
    """

    impl = sa.JSON(none_as_null=True)
    cache_ok = True

    def __repr__(self) -> str:
        return "JSONDocument()"

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.JSONB(none_as_null=True))
        return dialect.type_descriptor(sa.JSON(none_as_null=True))
