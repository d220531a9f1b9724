"""Sealed (encrypted) sensitive attributes of source records.

The sensitive canonical fields of a record (diagnoses, screening scores, report reasons, ...)
are moved out of ``source_records.attributes`` into one AES-GCM ciphertext per record here by
the separate seal step (``childlink keys seal``), so ingest and linkage stay untouched.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from childlink.store.base import Base, utc_now
from childlink.store.types import JSONDocument


class SealedAttributes(Base):
    """The encrypted sensitive attributes of one source record."""

    __tablename__ = "sealed_attributes"

    record_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("source_records.id", ondelete="CASCADE"), primary_key=True
    )
    key_id: Mapped[str] = mapped_column(sa.String(32), index=True)
    ciphertext: Mapped[str] = mapped_column(sa.Text)
    fields: Mapped[list[str]] = mapped_column(
        JSONDocument(), default=list, doc="Names of the sealed fields (not their values)."
    )
    sealed_at: Mapped[datetime] = mapped_column(default=utc_now)
