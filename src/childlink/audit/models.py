"""The audit trail: one append-only, hash-chained table and the chain's head.

Entries are keyed by their sequence number rather than a UUID (a departure from house style
recorded in decision 0005): the sequence is part of what each hash commits to, and a gap in it
is itself evidence of a deleted entry.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from childlink.store.base import Base, utc_now

GENESIS_HASH = "0" * 64
"""``prev_hash`` of the first entry."""


class AuditEntry(Base):
    """One event: who did what, to which child, for which purpose, and with what outcome."""

    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(sa.String(100), index=True)
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    outcome: Mapped[str] = mapped_column(sa.String(16))
    purpose: Mapped[str | None] = mapped_column(sa.String(32))
    # No foreign key: the trail must outlive merges and deletions of master children.
    child_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    entry_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)


class AuditChainHead(Base):
    """A single row naming the newest entry; updating it first serialises appends.

    It also lets verification notice entries cut off the end of the chain (which a hash chain
    alone cannot), unless the head was rewritten too: hence the external anchor.
    """

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(sa.BigInteger)
    last_hash: Mapped[str] = mapped_column(sa.String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)
