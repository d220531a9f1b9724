"""Households: family keys and membership evidence.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 19:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from childlink.store import types as ct

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("families", schema=None) as batch_op:
        batch_op.add_column(sa.Column("household_key", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("dissolved_at", ct.UTCDateTime(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_families_household_key"), ["household_key"], unique=False
        )
    with op.batch_alter_table("guardians", schema=None) as batch_op:
        batch_op.add_column(sa.Column("guardian_key", sa.String(length=64), nullable=True))
    with op.batch_alter_table("family_memberships", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("evidence", ct.JSONDocument(), server_default="{}", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("family_memberships", schema=None) as batch_op:
        batch_op.drop_column("evidence")
    with op.batch_alter_table("guardians", schema=None) as batch_op:
        batch_op.drop_column("guardian_key")
    with op.batch_alter_table("families", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_families_household_key"))
        batch_op.drop_column("dissolved_at")
        batch_op.drop_column("household_key")
