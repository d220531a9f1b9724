"""The complete table metadata, for Alembic and for drift checks.

Model modules register their tables on :class:`~childlink.store.base.Base` when imported; this
is the one list that imports them all. A new context with tables adds its ``models`` module to
:data:`MODEL_MODULES` (a test fails if one is missing).
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa

from childlink.store.base import Base

MODEL_MODULES: tuple[str, ...] = (
    "childlink.regions.models",
    "childlink.sources.models",
    "childlink.children.models",
    "childlink.quality.models",
    "childlink.linkage.models",
    "childlink.access.models",
    "childlink.audit.models",
    "childlink.privacy.models",
    "childlink.identity.models",
    "childlink.risk.registry",
    "childlink.risk.store",
    "childlink.alerts.models",
)


def target_metadata() -> sa.MetaData:
    """Import every model module and return the shared metadata."""
    for module in MODEL_MODULES:
        importlib.import_module(module)
    return Base.metadata
