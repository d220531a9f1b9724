"""Risk model registry.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 20:15:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from childlink.store import types as ct

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "risk_model_versions",
        sa.Column("id", ct.GUID(), nullable=False),
        sa.Column("risk", sa.String(length=32), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("as_of_train", sa.Date(), nullable=False),
        sa.Column("as_of_valid", sa.Date(), nullable=True),
        sa.Column("features", ct.JSONDocument(), nullable=False),
        sa.Column("metrics", ct.JSONDocument(), nullable=False),
        sa.Column("card", ct.JSONDocument(), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", ct.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_model_versions")),
        sa.UniqueConstraint("risk", "version", name=op.f("uq_risk_model_versions_risk_version")),
    )
    with op.batch_alter_table("risk_model_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_risk_model_versions_version"), ["version"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("risk_model_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_risk_model_versions_version"))
    op.drop_table("risk_model_versions")
