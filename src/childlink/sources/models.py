"""Departments, data sources, ingest batches and source records (with full provenance).

A source record keeps the row exactly as delivered (``raw_row``) beside the canonical person
fields that standardisation derived from it, so every linked or scored value can be traced back
to a file, a row and a department.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from childlink.children.choices import Sex
from childlink.sources.choices import BatchStatus, RecordStatus, SourceFormat
from childlink.store.base import Base, TimestampMixin, UUIDPrimaryKeyMixin, utc_now
from childlink.store.types import JSONDocument


class Department(UUIDPrimaryKeyMixin, TimestampMixin, Base):
    """A government body that shares data (education bureau, civil affairs bureau, ...)."""

    __tablename__ = "departments"

    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(sa.String(100))
    name_en: Mapped[str] = mapped_column(sa.String(100))

    sources: Mapped[list[DataSource]] = relationship(
        back_populates="department", order_by="DataSource.code"
    )


class DataSource(UUIDPrimaryKeyMixin, TimestampMixin, Base):
    """One kind of export from one department, read through a versioned mapping (contract)."""

    __tablename__ = "data_sources"

    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    department_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("departments.id", ondelete="RESTRICT"), index=True
    )
    name_zh: Mapped[str] = mapped_column(sa.String(100))
    name_en: Mapped[str] = mapped_column(sa.String(100))
    format: Mapped[SourceFormat]
    mapping_version: Mapped[str] = mapped_column(sa.String(32))
    description: Mapped[str] = mapped_column(sa.Text, default="")

    department: Mapped[Department] = relationship(back_populates="sources")


class IngestBatch(UUIDPrimaryKeyMixin, TimestampMixin, Base):
    """One delivered file and what became of its rows.

    Re-delivering a corrected file creates a new batch whose ``supersedes_batch_id`` points at
    the old one; the old batch is marked superseded, never deleted, so history stays auditable.
    """

    __tablename__ = "ingest_batches"

    source_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("data_sources.id", ondelete="RESTRICT"), index=True
    )
    file_name: Mapped[str] = mapped_column(sa.String(255))
    file_sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    mapping_version: Mapped[str] = mapped_column(
        sa.String(32), doc="Version of the source mapping that read this file (provenance)."
    )
    status: Mapped[BatchStatus] = mapped_column(default=BatchStatus.PENDING)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    rows_in: Mapped[int] = mapped_column(default=0)
    rows_accepted: Mapped[int] = mapped_column(default=0)
    rows_fixed: Mapped[int] = mapped_column(default=0)
    rows_quarantined: Mapped[int] = mapped_column(default=0)
    rows_duplicate: Mapped[int] = mapped_column(
        default=0, doc="Rows collapsed into an identical earlier row of the same batch."
    )
    encoding: Mapped[str | None] = mapped_column(sa.String(32))
    notes: Mapped[dict[str, Any]] = mapped_column(
        default=dict, doc="Header-level findings: unmapped columns, sheets read, warnings."
    )
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    supersedes_batch_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("ingest_batches.id", ondelete="SET NULL"), index=True
    )

    source: Mapped[DataSource] = relationship()
    supersedes: Mapped[IngestBatch | None] = relationship(remote_side="IngestBatch.id")


class SourceRecord(UUIDPrimaryKeyMixin, TimestampMixin, Base):
    """One row of one batch: the verbatim row, its canonical fields and its quality outcome."""

    __tablename__ = "source_records"
    __table_args__ = (
        sa.UniqueConstraint("batch_id", "sheet", "row_number"),
        sa.Index(None, "source_id", "record_hash"),
    )

    batch_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("ingest_batches.id", ondelete="CASCADE")
    )
    source_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("data_sources.id", ondelete="RESTRICT")
    )
    sheet: Mapped[str] = mapped_column(
        sa.String(64), default="", doc="Sheet of a workbook; empty for files without sheets."
    )
    row_number: Mapped[int] = mapped_column(
        doc="1-based data row under the header of the file or sheet (its first occurrence)."
    )
    raw_row: Mapped[dict[str, Any]] = mapped_column(doc="The row exactly as read, header -> cell.")
    record_hash: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[RecordStatus]
    quarantine_reason: Mapped[str | None] = mapped_column(sa.String(64))
    quarantine_message: Mapped[str | None] = mapped_column(sa.Text)
    flags: Mapped[list[str]] = mapped_column(
        JSONDocument(),
        default=list,
        doc="Issues kept on an accepted record, e.g. an invalid ID removed or a conflicting twin.",
    )

    # Canonical person fields shared by every source (what linkage compares).
    id_number: Mapped[str | None] = mapped_column(sa.String(18), index=True)
    name: Mapped[str | None] = mapped_column(sa.String(100))
    name_pinyin: Mapped[str | None] = mapped_column(sa.String(200))
    sex: Mapped[Sex | None]
    birth_date: Mapped[date | None] = mapped_column(index=True)
    # No foreign key: a migrant child's record may name a region outside the loaded tree.
    region_code: Mapped[str | None] = mapped_column(sa.String(12), index=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(
        default=dict, doc="Source-specific canonical fields (school, allowance type, ICD-10, ...)."
    )

    master_child_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("master_children.id", ondelete="SET NULL"), index=True
    )

    batch: Mapped[IngestBatch] = relationship()
    source: Mapped[DataSource] = relationship()


class RecordProvenance(UUIDPrimaryKeyMixin, Base):
    """Every input row that produced a record: exact duplicates share one record, many rows.

    Rows in = provenance rows, always; that is how ingest proves that nothing was dropped.
    """

    __tablename__ = "record_provenance"
    __table_args__ = (sa.UniqueConstraint("batch_id", "sheet", "row_number"),)

    record_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("source_records.id", ondelete="CASCADE"), index=True
    )
    batch_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("ingest_batches.id", ondelete="CASCADE")
    )
    sheet: Mapped[str] = mapped_column(sa.String(64), default="")
    row_number: Mapped[int]


class RecordFix(UUIDPrimaryKeyMixin, Base):
    """One change made to a record's value: by a standardisation rule or by a data officer."""

    __tablename__ = "record_fixes"

    record_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("source_records.id", ondelete="CASCADE"), index=True
    )
    field: Mapped[str] = mapped_column(sa.String(64))
    old_value: Mapped[str | None] = mapped_column(sa.Text)
    new_value: Mapped[str | None] = mapped_column(sa.Text)
    rule: Mapped[str] = mapped_column(sa.String(64))
    actor: Mapped[str | None] = mapped_column(
        sa.String(100), doc="Who made a manual fix or release; empty for automatic rules."
    )
    note: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
