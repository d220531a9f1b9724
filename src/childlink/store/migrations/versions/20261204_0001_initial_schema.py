"""Initial schema: regions, departments and data sources, ingest batches, source records,
master children, families, guardians and family membership.

Revision ID: 0001
Revises:
Create Date: 2026-12-04 16:34:31.321417+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from childlink.store import types as ct

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "departments",
        sa.Column("id", ct.GUID(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name_zh", sa.String(length=100), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=False),
        sa.Column("created_at", ct.UTCDateTime(), nullable=False),
        sa.Column("updated_at", ct.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_departments")),
        sa.UniqueConstraint("code", name=op.f("uq_departments_code")),
    )
    op.create_table(
        "regions",
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("parent_code", sa.String(length=12), nullable=True),
        sa.Column("level", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", ct.UTCDateTime(), nullable=False),
        sa.Column("updated_at", ct.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_code"], ["regions.code"], name=op.f("fk_regions_parent_code_regions")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_regions")),
    )
    op.create_index(op.f("ix_regions_level"), "regions", ["level"], unique=False)
    op.create_index(op.f("ix_regions_parent_code"), "regions", ["parent_code"], unique=False)

    op.create_table(
        "data_sources",
        sa.Column("id", ct.GUID(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("department_id", ct.GUID(), nullable=False),
        sa.Column("name_zh", sa.String(length=100), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=False),
        sa.Column("format", sa.String(length=32), nullable=False),
        sa.Column("mapping_version", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", ct.UTCDateTime(), nullable=False),
        sa.Column("updated_at", ct.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_data_sources_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_sources")),
        sa.UniqueConstraint("code", name=op.f("uq_data_sources_code")),
    )
    op.create_index(
        op.f("ix_data_sources_department_id"), "data_sources", ["department_id"], unique=False
    )

    op.create_table(
        "families",
        sa.Column("id", ct.GUID(), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=True),
        sa.Column("address", sa.String(length=255), nullable=True),
        sa.Column("created_at", ct.UTCDateTime(), nullable=False),
        sa.Column("updated_at", ct.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["region_code"],
            ["regions.code"],
            name=op.f("fk_families_region_code_regions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_families")),
    )
    op.create_index(op.f("ix_families_region_code"), "families", ["region_code"], unique=False)

    op.create_table(
        "master_children",
        sa.Column("id", ct.GUID(), nullable=False),
        sa.Column("child_key", sa.String(length=64), nullable=True),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("sex", sa.String(length=32), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("region_code", sa.String(length=12), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("merged_into_id", ct.GUID(), nullable=True),
        sa.Column("created_at", ct.UTCDateTime(), nullable=False),
        sa.Column("updated_at", ct.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merged_into_id"],
            ["master_children.id"],
            name=op.f("fk_master_children_merged_into_id_master_children"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["region_code"],
            ["regions.code"],
            name=op.f("fk_master_children_region_code_regions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_master_children")),
        sa.UniqueConstraint("child_key", name=op.f("uq_master_children_child_key")),
    )
    op.create_index(
        op.f("ix_master_children_birth_date"), "master_children", ["birth_date"], unique=False
    )
    op.create_index(
        op.f("ix_master_children_region_code"), "master_children", ["region_code"], unique=False
    )

    op.create_table(
        "family_memberships",
        sa.Column("id", ct.GUID(), nullable=False),
        sa.Column("family_id", ct.GUID(), nullable=False),
        sa.Column("master_child_id", ct.GUID(), nullable=False),
        sa.Column("relation", sa.String(length=32), nullable=False),
        sa.Column("created_at", ct.UTCDateTime(), nullable=False),
        sa.Column("updated_at", ct.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["families.id"],
            name=op.f("fk_family_memberships_family_id_families"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["master_child_id"],
            ["master_children.id"],
            name=op.f("fk_family_memberships_master_child_id_master_children"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_family_memberships")),
        sa.UniqueConstraint(
            "family_id",
            "master_child_id",
            name=op.f("uq_family_memberships_family_id_master_child_id"),
        ),
    )
    op.create_index(
        op.f("ix_family_memberships_master_child_id"),
        "family_memberships",
        ["master_child_id"],
        unique=False,
    )

    op.create_table(
        "guardians",
        sa.Column("id", ct.GUID(), nullable=False),
        sa.Column("family_id", ct.GUID(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("id_number", sa.String(length=18), nullable=True),
        sa.Column("relation", sa.String(length=32), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("is_migrant_worker", sa.Boolean(), nullable=False),
        sa.Column("created_at", ct.UTCDateTime(), nullable=False),
        sa.Column("updated_at", ct.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["families.id"],
            name=op.f("fk_guardians_family_id_families"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_guardians")),
    )
    op.create_index(op.f("ix_guardians_family_id"), "guardians", ["family_id"], unique=False)
    op.create_index(op.f("ix_guardians_id_number"), "guardians", ["id_number"], unique=False)

    op.create_table(
        "ingest_batches",
        sa.Column("id", ct.GUID(), nullable=False),
        sa.Column("source_id", ct.GUID(), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("mapping_version", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("started_at", ct.UTCDateTime(), nullable=False),
        sa.Column("finished_at", ct.UTCDateTime(), nullable=True),
        sa.Column("rows_in", sa.Integer(), nullable=False),
        sa.Column("rows_accepted", sa.Integer(), nullable=False),
        sa.Column("rows_fixed", sa.Integer(), nullable=False),
        sa.Column("rows_quarantined", sa.Integer(), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("supersedes_batch_id", ct.GUID(), nullable=True),
        sa.Column("created_at", ct.UTCDateTime(), nullable=False),
        sa.Column("updated_at", ct.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["data_sources.id"],
            name=op.f("fk_ingest_batches_source_id_data_sources"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_batch_id"],
            ["ingest_batches.id"],
            name=op.f("fk_ingest_batches_supersedes_batch_id_ingest_batches"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_batches")),
    )
    op.create_index(
        op.f("ix_ingest_batches_file_sha256"), "ingest_batches", ["file_sha256"], unique=False
    )
    op.create_index(
        op.f("ix_ingest_batches_source_id"), "ingest_batches", ["source_id"], unique=False
    )
    op.create_index(
        op.f("ix_ingest_batches_supersedes_batch_id"),
        "ingest_batches",
        ["supersedes_batch_id"],
        unique=False,
    )

    op.create_table(
        "source_records",
        sa.Column("id", ct.GUID(), nullable=False),
        sa.Column("batch_id", ct.GUID(), nullable=False),
        sa.Column("source_id", ct.GUID(), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("raw_row", ct.JSONDocument(), nullable=False),
        sa.Column("record_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("quarantine_reason", sa.String(length=64), nullable=True),
        sa.Column("quarantine_message", sa.Text(), nullable=True),
        sa.Column("id_number", sa.String(length=18), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("name_pinyin", sa.String(length=200), nullable=True),
        sa.Column("sex", sa.String(length=32), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("region_code", sa.String(length=12), nullable=True),
        sa.Column("attributes", ct.JSONDocument(), nullable=False),
        sa.Column("master_child_id", ct.GUID(), nullable=True),
        sa.Column("created_at", ct.UTCDateTime(), nullable=False),
        sa.Column("updated_at", ct.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["ingest_batches.id"],
            name=op.f("fk_source_records_batch_id_ingest_batches"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["master_child_id"],
            ["master_children.id"],
            name=op.f("fk_source_records_master_child_id_master_children"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["data_sources.id"],
            name=op.f("fk_source_records_source_id_data_sources"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_records")),
        sa.UniqueConstraint(
            "batch_id", "row_number", name=op.f("uq_source_records_batch_id_row_number")
        ),
    )
    op.create_index(
        op.f("ix_source_records_birth_date"), "source_records", ["birth_date"], unique=False
    )
    op.create_index(
        op.f("ix_source_records_id_number"), "source_records", ["id_number"], unique=False
    )
    op.create_index(
        op.f("ix_source_records_master_child_id"),
        "source_records",
        ["master_child_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_source_records_region_code"), "source_records", ["region_code"], unique=False
    )
    op.create_index(
        op.f("ix_source_records_source_id_record_hash"),
        "source_records",
        ["source_id", "record_hash"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("source_records")
    op.drop_table("ingest_batches")
    op.drop_table("guardians")
    op.drop_table("family_memberships")
    op.drop_table("master_children")
    op.drop_table("families")
    op.drop_table("data_sources")
    op.drop_table("regions")
    op.drop_table("departments")
