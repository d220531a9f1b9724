"""Quality results stored as rows (not log lines), so reports and trends are queries."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from childlink.store.base import Base, UUIDPrimaryKeyMixin


class BatchFieldQuality(UUIDPrimaryKeyMixin, Base):
    """Completeness and validity of one canonical field in one batch."""

    __tablename__ = "batch_field_quality"
    __table_args__ = (sa.UniqueConstraint("batch_id", "field"),)

    batch_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("ingest_batches.id", ondelete="CASCADE")
    )
    field: Mapped[str] = mapped_column(sa.String(64))
    rows: Mapped[int] = mapped_column(doc="Rows read (after reader rejects).")
    present: Mapped[int] = mapped_column(doc="Rows with a non-empty value.")
    valid: Mapped[int] = mapped_column(doc="Present and valid (possibly after a fix).")
    fixed: Mapped[int] = mapped_column(doc="Valid only after a standardisation fix.")
    invalid: Mapped[int] = mapped_column(doc="Present but invalid.")
