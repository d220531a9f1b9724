"""Persistence infrastructure: engines, units of work, portable column types and migrations.

Domain contexts declare their tables on :class:`~childlink.store.base.Base`; nothing here
imports a domain context except :mod:`childlink.store.metadata`, which gathers every model for
Alembic.
"""

from __future__ import annotations

from childlink.store.base import Base, TimestampMixin, UUIDPrimaryKeyMixin
from childlink.store.engine import build_engine, create_session_factory, unit_of_work

__all__ = [
    "Base",
    "TimestampMixin",
    "UUIDPrimaryKeyMixin",
    "build_engine",
    "create_session_factory",
    "unit_of_work",
]
