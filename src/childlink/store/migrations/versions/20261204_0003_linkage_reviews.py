"""Linkage review: runs, review queue with waterfalls, reviewer decisions, master-child events.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 17:36:59.887131+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from childlink.store import types as ct

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "link_runs",
        sa.Column("id", ct.GUID(), nullable=False),
        sa.Column("created_at", ct.UTCDateTime(), nullable=False),
        sa.Column("model_path", sa.String(length=500), nullable=True),
        sa.Column("upper_threshold", sa.Double(), nullable=False),
        sa.Column("lower_threshold", sa.Double(), nullable=False),
        sa.Column("summary", ct.JSONDocument(), server_default="{}", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_runs")),
    )
    op.create_table(
        "master_child_events",
        sa.Column("id", ct.GUID(), nullable=False),
        sa.Column("master_child_id", ct.GUID(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("run_id", ct.GUID(), nullable=True),
        sa.Column("details", ct.JSONDocument(), server_default="{}", nullable=False),
        sa.Column("created_at", ct.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["master_child_id"],
            ["master_children.id"],
            name=op.f("fk_master_child_events_master_child_id_master_children"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["link_runs.id"],
            name=op.f("fk_master_child_events_run_id_link_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_master_child_events")),
    )
    with op.batch_alter_table("master_child_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_master_child_events_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_master_child_events_master_child_id"), ["master_child_id"], unique=False
        )

    op.create_table(
        "link_reviews",
        sa.Column("id", ct.GUID(), nullable=False),
        sa.Column("left_record_id", ct.GUID(), nullable=False),
        sa.Column("right_record_id", ct.GUID(), nullable=False),
        sa.Column("match_probability", sa.Double(), nullable=False),
        sa.Column("match_weight", sa.Double(), nullable=False),
        sa.Column("waterfall", ct.JSONDocument(), server_default="{}", nullable=False),
        sa.Column("status", sa.String(length=32), server_default="pending", nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=True),
        sa.Column("reviewer", sa.String(length=100), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("decided_at", ct.UTCDateTime(), nullable=True),
        sa.Column("created_run_id", ct.GUID(), nullable=True),
        sa.Column("last_run_id", ct.GUID(), nullable=True),
        sa.Column("created_at", ct.UTCDateTime(), nullable=False),
        sa.Column("updated_at", ct.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_run_id"],
            ["link_runs.id"],
            name=op.f("fk_link_reviews_created_run_id_link_runs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["last_run_id"],
            ["link_runs.id"],
            name=op.f("fk_link_reviews_last_run_id_link_runs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["left_record_id"],
            ["source_records.id"],
            name=op.f("fk_link_reviews_left_record_id_source_records"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["right_record_id"],
            ["source_records.id"],
            name=op.f("fk_link_reviews_right_record_id_source_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_reviews")),
        sa.UniqueConstraint(
            "left_record_id",
            "right_record_id",
            name=op.f("uq_link_reviews_left_record_id_right_record_id"),
        ),
    )
    with op.batch_alter_table("link_reviews", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_link_reviews_right_record_id"), ["right_record_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_link_reviews_status"), ["status"], unique=False)

    op.create_table(
        "link_decisions",
        sa.Column("id", ct.GUID(), nullable=False),
        sa.Column("left_record_id", ct.GUID(), nullable=False),
        sa.Column("right_record_id", ct.GUID(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("reviewer", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("review_id", ct.GUID(), nullable=True),
        sa.Column("created_at", ct.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["left_record_id"],
            ["source_records.id"],
            name=op.f("fk_link_decisions_left_record_id_source_records"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["link_reviews.id"],
            name=op.f("fk_link_decisions_review_id_link_reviews"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["right_record_id"],
            ["source_records.id"],
            name=op.f("fk_link_decisions_right_record_id_source_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_decisions")),
        sa.UniqueConstraint(
            "left_record_id",
            "right_record_id",
            name=op.f("uq_link_decisions_left_record_id_right_record_id"),
        ),
    )
    with op.batch_alter_table("link_decisions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_link_decisions_right_record_id"), ["right_record_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("link_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_link_decisions_right_record_id"))

    op.drop_table("link_decisions")
    with op.batch_alter_table("link_reviews", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_link_reviews_status"))
        batch_op.drop_index(batch_op.f("ix_link_reviews_right_record_id"))

    op.drop_table("link_reviews")
    with op.batch_alter_table("master_child_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_master_child_events_master_child_id"))
        batch_op.drop_index(batch_op.f("ix_master_child_events_created_at"))

    op.drop_table("master_child_events")
    op.drop_table("link_runs")
