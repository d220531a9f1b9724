"""Risk scores, rule flags and worker feedback.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 20:15:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from childlink.store import types as ct

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "risk_score_runs",
        sa.Column("id", ct.GUID(), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("known_from", sa.String(length=16), nullable=False),
        sa.Column("started_at", ct.UTCDateTime(), nullable=False),
        sa.Column("finished_at", ct.UTCDateTime(), nullable=True),
        sa.Column("children", sa.Integer(), nullable=False),
        sa.Column("scores", sa.Integer(), nullable=False),
        sa.Column("flags_new", sa.Integer(), nullable=False),
        sa.Column("model_versions", ct.JSONDocument(), server_default="{}", nullable=False),
        sa.Column("link_run_id", ct.GUID(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_score_runs")),
    )
    op.create_table(
        "risk_scores",
        sa.Column("id", ct.GUID(), nullable=False),
        sa.Column("master_child_id", ct.GUID(), nullable=False),
        sa.Column("risk", sa.String(length=32), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("probability", sa.Double(), nullable=False),
        sa.Column("band", sa.String(length=32), nullable=False),
        sa.Column("explanation", ct.JSONDocument(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("scored_at", ct.UTCDateTime(), nullable=False),
        sa.Column("run_id", ct.GUID(), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["master_child_id"],
            ["master_children.id"],
            name=op.f("fk_risk_scores_master_child_id_master_children"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["risk_score_runs.id"],
            name=op.f("fk_risk_scores_run_id_risk_score_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_scores")),
    )
    with op.batch_alter_table("risk_scores", schema=None) as batch_op:
        batch_op.create_index(
            "ix_risk_scores_child_current", ["master_child_id", "is_current"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_risk_scores_master_child_id"), ["master_child_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_risk_scores_run_id"), ["run_id"], unique=False)
    op.create_table(
        "risk_flags",
        sa.Column("id", ct.GUID(), nullable=False),
        sa.Column("master_child_id", ct.GUID(), nullable=False),
        sa.Column("rule_id", sa.String(length=100), nullable=False),
        sa.Column("rule_version", sa.String(length=32), nullable=False),
        sa.Column("risk", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=32), nullable=False),
        sa.Column("label_zh", sa.String(length=200), nullable=False),
        sa.Column("label_en", sa.String(length=200), nullable=False),
        sa.Column("facts", ct.JSONDocument(), nullable=False),
        sa.Column("fact_key", sa.String(length=64), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("run_id", ct.GUID(), nullable=False),
        sa.Column("last_seen_run_id", ct.GUID(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("reviewer", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("decided_at", ct.UTCDateTime(), nullable=True),
        sa.Column("created_at", ct.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["master_child_id"],
            ["master_children.id"],
            name=op.f("fk_risk_flags_master_child_id_master_children"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["risk_score_runs.id"],
            name=op.f("fk_risk_flags_run_id_risk_score_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_flags")),
    )
    with op.batch_alter_table("risk_flags", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_risk_flags_master_child_id"), ["master_child_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_risk_flags_run_id"), ["run_id"], unique=False)


def downgrade() -> None:
    op.drop_table("risk_flags")
    op.drop_table("risk_scores")
    op.drop_table("risk_score_runs")
