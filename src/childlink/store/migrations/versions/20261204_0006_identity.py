"""Identity: users, web sessions, API tokens and keys, caseloads.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 19:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from childlink.store import types as ct

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", ct.GUID(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("auth_provider", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("agency_id", ct.GUID(), nullable=True),
        sa.Column("jurisdiction_code", sa.String(length=12), nullable=True),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", ct.UTCDateTime(), nullable=True),
        sa.Column("last_login_at", ct.UTCDateTime(), nullable=True),
        sa.Column("password_changed_at", ct.UTCDateTime(), nullable=True),
        sa.Column("created_at", ct.UTCDateTime(), nullable=False),
        sa.Column("updated_at", ct.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_users_agency_id_agencies"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["jurisdiction_code"],
            ["regions.code"],
            name=op.f("fk_users_jurisdiction_code_regions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_users_agency_id"), ["agency_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_users_jurisdiction_code"), ["jurisdiction_code"], unique=False
        )

    op.create_table(
        "web_sessions",
        sa.Column("id", ct.GUID(), nullable=False),
        sa.Column("user_id", ct.GUID(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("client_ip", sa.String(length=64), nullable=True),
        sa.Column("created_at", ct.UTCDateTime(), nullable=False),
        sa.Column("expires_at", ct.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", ct.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_web_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_web_sessions_token_hash")),
    )
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_web_sessions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "api_tokens",
        sa.Column("id", ct.GUID(), nullable=False),
        sa.Column("user_id", ct.GUID(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", ct.UTCDateTime(), nullable=False),
        sa.Column("expires_at", ct.UTCDateTime(), nullable=False),
        sa.Column("last_used_at", ct.UTCDateTime(), nullable=True),
        sa.Column("revoked_at", ct.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_api_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "api_keys",
        sa.Column("id", ct.GUID(), nullable=False),
        sa.Column("department_id", ct.GUID(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", ct.UTCDateTime(), nullable=False),
        sa.Column("expires_at", ct.UTCDateTime(), nullable=True),
        sa.Column("last_used_at", ct.UTCDateTime(), nullable=True),
        sa.Column("revoked_at", ct.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_api_keys_department_id_departments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_api_keys_department_id"), ["department_id"], unique=False
        )

    op.create_table(
        "case_assignments",
        sa.Column("id", ct.GUID(), nullable=False),
        sa.Column("user_id", ct.GUID(), nullable=False),
        sa.Column("master_child_id", ct.GUID(), nullable=False),
        sa.Column("assigned_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", ct.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["master_child_id"],
            ["master_children.id"],
            name=op.f("fk_case_assignments_master_child_id_master_children"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_case_assignments_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_assignments")),
        sa.UniqueConstraint(
            "user_id", "master_child_id", name=op.f("uq_case_assignments_user_id_master_child_id")
        ),
    )
    with op.batch_alter_table("case_assignments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_case_assignments_master_child_id"), ["master_child_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("case_assignments")
    op.drop_table("api_keys")
    op.drop_table("api_tokens")
    op.drop_table("web_sessions")
    op.drop_table("users")
