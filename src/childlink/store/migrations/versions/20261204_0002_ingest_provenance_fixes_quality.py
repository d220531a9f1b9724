"""Ingest: record provenance (duplicates), record fixes, field quality, sheets and flags.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 16:47:07.950235+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from childlink.store import types as ct

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Server defaults let the NOT NULL columns be added to tables that already hold rows.
    op.create_table(
        "batch_field_quality",
        sa.Column("id", ct.GUID(), nullable=False),
        sa.Column("batch_id", ct.GUID(), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("present", sa.Integer(), nullable=False),
        sa.Column("valid", sa.Integer(), nullable=False),
        sa.Column("fixed", sa.Integer(), nullable=False),
        sa.Column("invalid", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["ingest_batches.id"],
            name=op.f("fk_batch_field_quality_batch_id_ingest_batches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_field_quality")),
        sa.UniqueConstraint(
            "batch_id", "field", name=op.f("uq_batch_field_quality_batch_id_field")
        ),
    )
    op.create_table(
        "record_fixes",
        sa.Column("id", ct.GUID(), nullable=False),
        sa.Column("record_id", ct.GUID(), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", ct.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["source_records.id"],
            name=op.f("fk_record_fixes_record_id_source_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_fixes")),
    )
    with op.batch_alter_table("record_fixes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_record_fixes_record_id"), ["record_id"], unique=False)

    op.create_table(
        "record_provenance",
        sa.Column("id", ct.GUID(), nullable=False),
        sa.Column("record_id", ct.GUID(), nullable=False),
        sa.Column("batch_id", ct.GUID(), nullable=False),
        sa.Column("sheet", sa.String(length=64), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["ingest_batches.id"],
            name=op.f("fk_record_provenance_batch_id_ingest_batches"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["source_records.id"],
            name=op.f("fk_record_provenance_record_id_source_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_provenance")),
        sa.UniqueConstraint(
            "batch_id",
            "sheet",
            "row_number",
            name=op.f("uq_record_provenance_batch_id_sheet_row_number"),
        ),
    )
    with op.batch_alter_table("record_provenance", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_record_provenance_record_id"), ["record_id"], unique=False
        )

    with op.batch_alter_table("ingest_batches", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("rows_duplicate", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("encoding", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("notes", ct.JSONDocument(), nullable=False, server_default="{}")
        )

    with op.batch_alter_table("source_records", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sheet", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("flags", ct.JSONDocument(), nullable=False, server_default="[]")
        )
        batch_op.drop_constraint(
            batch_op.f("uq_source_records_batch_id_row_number"), type_="unique"
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_source_records_batch_id_sheet_row_number"),
            ["batch_id", "sheet", "row_number"],
        )


def downgrade() -> None:
    with op.batch_alter_table("source_records", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_source_records_batch_id_sheet_row_number"), type_="unique"
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_source_records_batch_id_row_number"), ["batch_id", "row_number"]
        )
        batch_op.drop_column("flags")
        batch_op.drop_column("sheet")

    with op.batch_alter_table("ingest_batches", schema=None) as batch_op:
        batch_op.drop_column("notes")
        batch_op.drop_column("encoding")
        batch_op.drop_column("rows_duplicate")

    with op.batch_alter_table("record_provenance", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_record_provenance_record_id"))

    op.drop_table("record_provenance")
    with op.batch_alter_table("record_fixes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_record_fixes_record_id"))

    op.drop_table("record_fixes")
    op.drop_table("batch_field_quality")
