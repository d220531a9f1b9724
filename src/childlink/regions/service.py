"""Loading the region tree (from the synthetic generator or an official code list)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from childlink.regions.choices import RegionLevel
from childlink.regions.models import REGION_CODE_LENGTH, Region
from childlink.store.base import utc_now

_BATCH_SIZE = 500


def pad_region_code(code: str) -> str:
    """Right-pad a 2/4/6/9-digit division code with zeros to the 12-digit key.

    Raises:
        ValueError: the code is not 1 to 12 ASCII digits.
    """
    code = code.strip()
    if not (code.isascii() and code.isdigit() and 0 < len(code) <= REGION_CODE_LENGTH):
        raise ValueError(f"region code must be 1 to 12 digits, got {code!r}")
    return code.ljust(REGION_CODE_LENGTH, "0")


def load_regions(session: Session, rows: Iterable[Mapping[str, Any]]) -> int:
    """Insert or update regions given as dicts with ``code``, ``parent_code``, ``level``, ``name``.

    Idempotent: loading the same rows twice leaves one row per code, with the latest name,
    level and parent. Rows are written parents first so the self-referencing foreign key holds
    whatever order the caller supplies. Flushes but does not commit: the caller's unit of work
    owns the transaction.

    Returns:
        The number of distinct region codes written.

    Raises:
        ValueError: a row has a malformed code or an unknown level.
    """
    by_code: dict[str, dict[str, Any]] = {}
    for row in rows:
        level = RegionLevel(row["level"])
        code = pad_region_code(str(row["code"]))
        parent = row.get("parent_code")
        by_code[code] = {
            "code": code,
            "parent_code": pad_region_code(str(parent)) if parent else None,
            "level": level,
            "name": str(row["name"]).strip(),
        }
    ordered = sorted(by_code.values(), key=lambda r: (r["level"].depth, r["code"]))
    if not ordered:
        return 0
    session.flush()
    insert = _dialect_insert(session)
    for start in range(0, len(ordered), _BATCH_SIZE):
        now = utc_now()
        chunk = [
            dict(r, created_at=now, updated_at=now) for r in ordered[start : start + _BATCH_SIZE]
        ]
        statement = insert(Region).values(chunk)
        statement = statement.on_conflict_do_update(
            index_elements=[Region.code],
            set_={
                "parent_code": statement.excluded.parent_code,
                "level": statement.excluded.level,
                "name": statement.excluded.name,
                "updated_at": statement.excluded.updated_at,
            },
        )
        session.execute(statement)
    return len(ordered)


def _dialect_insert(session: Session) -> Any:
    """``INSERT ... ON CONFLICT`` exists on both supported databases, with per-dialect builders."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise NotImplementedError(f"load_regions does not support {name}")  # pragma: no cover


def count_regions(session: Session) -> int:
    """Number of regions stored (used by reports and tests)."""
    return session.scalar(sa.select(sa.func.count()).select_from(Region)) or 0
