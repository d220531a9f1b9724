"""Access, consent, audit trail and key management.

Agencies, legal bases (consent), break-glass grants, the hash-chained audit trail with its
head row, and sealed (encrypted) record attributes. The audit table is append-only: a trigger
rejects UPDATE and DELETE (and TRUNCATE on PostgreSQL) on every backend.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 19:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from childlink.store import types as ct

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS_HASH = "0" * 64

_PG_GUARD_FUNCTION = """
CREATE FUNCTION audit_entries_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_entries is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$
"""
_PG_ROW_TRIGGER = """
CREATE TRIGGER audit_entries_no_update_delete
BEFORE UPDATE OR DELETE ON audit_entries
FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only()
"""
_PG_TRUNCATE_TRIGGER = """
CREATE TRIGGER audit_entries_no_truncate
BEFORE TRUNCATE ON audit_entries
FOR EACH STATEMENT EXECUTE FUNCTION audit_entries_append_only()
"""
_SQLITE_TRIGGERS = (
    """
CREATE TRIGGER audit_entries_no_update
BEFORE UPDATE ON audit_entries
BEGIN
    SELECT RAISE(ABORT, 'audit_entries is append-only: UPDATE refused');
END
""",
    """
CREATE TRIGGER audit_entries_no_delete
BEFORE DELETE ON audit_entries
BEGIN
    SELECT RAISE(ABORT, 'audit_entries is append-only: DELETE refused');
END
""",
)


def upgrade() -> None:
    op.create_table(
        "agencies",
        sa.Column("id", ct.GUID(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name_zh", sa.String(length=100), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=True),
        sa.Column("created_at", ct.UTCDateTime(), nullable=False),
        sa.Column("updated_at", ct.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["region_code"],
            ["regions.code"],
            name=op.f("fk_agencies_region_code_regions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agencies")),
        sa.UniqueConstraint("code", name=op.f("uq_agencies_code")),
    )
    with op.batch_alter_table("agencies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agencies_region_code"), ["region_code"], unique=False)

    op.create_table(
        "legal_bases",
        sa.Column("id", ct.GUID(), nullable=False),
        sa.Column("master_child_id", ct.GUID(), nullable=True),
        sa.Column("source_code", sa.String(length=64), nullable=False),
        sa.Column("basis", sa.String(length=32), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("expires_at", sa.Date(), nullable=True),
        sa.Column("withdrawn_at", ct.UTCDateTime(), nullable=True),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", ct.UTCDateTime(), nullable=False),
        sa.Column("updated_at", ct.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["master_child_id"],
            ["master_children.id"],
            name=op.f("fk_legal_bases_master_child_id_master_children"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_bases")),
    )
    with op.batch_alter_table("legal_bases", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_legal_bases_master_child_id_source_code"),
            ["master_child_id", "source_code"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_legal_bases_source_code"), ["source_code"], unique=False
        )

    op.create_table(
        "break_glass_grants",
        sa.Column("id", ct.GUID(), nullable=False),
        sa.Column("user_id", ct.GUID(), nullable=True),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("agency_code", sa.String(length=64), nullable=True),
        sa.Column("master_child_id", ct.GUID(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("started_at", ct.UTCDateTime(), nullable=False),
        sa.Column("expires_at", ct.UTCDateTime(), nullable=False),
        sa.Column("ended_at", ct.UTCDateTime(), nullable=True),
        sa.Column("reviewed_at", ct.UTCDateTime(), nullable=True),
        sa.Column("reviewed_by", sa.String(length=100), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["master_child_id"],
            ["master_children.id"],
            name=op.f("fk_break_glass_grants_master_child_id_master_children"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_break_glass_grants")),
    )
    with op.batch_alter_table("break_glass_grants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_break_glass_grants_master_child_id"), ["master_child_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_break_glass_grants_reviewed_at"), ["reviewed_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_break_glass_grants_username_master_child_id_expires_at"),
            ["username", "master_child_id", "expires_at"],
            unique=False,
        )

    op.create_table(
        "audit_entries",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("created_at", ct.UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=True),
        sa.Column("child_id", ct.GUID(), nullable=True),
        sa.Column("details", ct.JSONDocument(), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_entries")),
        sa.UniqueConstraint("entry_hash", name=op.f("uq_audit_entries_entry_hash")),
    )
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_entries_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_entries_actor"), ["actor"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_entries_child_id"), ["child_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_audit_entries_created_at"), ["created_at"], unique=False
        )

    head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at", ct.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    op.bulk_insert(
        head,
        [{"id": 1, "last_seq": 0, "last_hash": GENESIS_HASH, "updated_at": datetime.now(UTC)}],
    )

    op.create_table(
        "sealed_attributes",
        sa.Column("record_id", ct.GUID(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.Column("fields", ct.JSONDocument(), nullable=False),
        sa.Column("sealed_at", ct.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["source_records.id"],
            name=op.f("fk_sealed_attributes_record_id_source_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_sealed_attributes")),
    )
    with op.batch_alter_table("sealed_attributes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sealed_attributes_key_id"), ["key_id"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_GUARD_FUNCTION)
        op.execute(_PG_ROW_TRIGGER)
        op.execute(_PG_TRUNCATE_TRIGGER)
    else:
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_entries_no_truncate ON audit_entries")
        op.execute("DROP TRIGGER IF EXISTS audit_entries_no_update_delete ON audit_entries")
        op.execute("DROP FUNCTION IF EXISTS audit_entries_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_entries_no_delete")
        op.execute("DROP TRIGGER IF EXISTS audit_entries_no_update")

    with op.batch_alter_table("sealed_attributes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sealed_attributes_key_id"))
    op.drop_table("sealed_attributes")
    op.drop_table("audit_chain_head")
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_entries_created_at"))
        batch_op.drop_index(batch_op.f("ix_audit_entries_child_id"))
        batch_op.drop_index(batch_op.f("ix_audit_entries_actor"))
        batch_op.drop_index(batch_op.f("ix_audit_entries_action"))
    op.drop_table("audit_entries")
    with op.batch_alter_table("break_glass_grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_break_glass_grants_username_master_child_id_expires_at"))
        batch_op.drop_index(batch_op.f("ix_break_glass_grants_reviewed_at"))
        batch_op.drop_index(batch_op.f("ix_break_glass_grants_master_child_id"))
    op.drop_table("break_glass_grants")
    with op.batch_alter_table("legal_bases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_legal_bases_source_code"))
        batch_op.drop_index(batch_op.f("ix_legal_bases_master_child_id_source_code"))
    op.drop_table("legal_bases")
    with op.batch_alter_table("agencies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agencies_region_code"))
    op.drop_table("agencies")
