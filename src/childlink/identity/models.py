"""People and machines that may call ChildLink: users, web sessions, API tokens and keys.

Secrets are never stored: passwords as argon2id hashes, session cookies, API tokens and API
keys as SHA-256 digests of 256-bit random values (a slow hash adds nothing for values that are
not guessable, and a digest lets a request find its row with one indexed lookup).
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from childlink.access.choices import Role
from childlink.store.base import Base, TimestampMixin, UUIDPrimaryKeyMixin, utc_now


class User(UUIDPrimaryKeyMixin, TimestampMixin, Base):
    """A person with an account.

    ``auth_provider`` names where the password is checked: ``local`` (argon2id hash here) today;
    an OIDC provider later sets it to its name and leaves ``password_hash`` empty.
    """

    __tablename__ = "users"

    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(100))
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    auth_provider: Mapped[str] = mapped_column(sa.String(32), default="local")
    role: Mapped[Role]
    agency_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("agencies.id", ondelete="RESTRICT"), index=True
    )
    jurisdiction_code: Mapped[str | None] = mapped_column(
        sa.String(12), sa.ForeignKey("regions.code", ondelete="RESTRICT"), index=True
    )
    locale: Mapped[str] = mapped_column(sa.String(16), default="zh-Hans")
    is_active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(
        default=0, doc="Consecutive failed logins; reset by a successful one."
    )
    locked_until: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    password_changed_at: Mapped[datetime | None]

    assignments: Mapped[list[CaseAssignment]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )


class WebSession(UUIDPrimaryKeyMixin, Base):
    """A browser session: the cookie carries a random token, the row its digest.

    Server-side rows (not signed cookies) so that logout, disabling a user and a password reset
    end every session at once.
    """

    __tablename__ = "web_sessions"

    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(sa.String(64))
    client_ip: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()


class ApiToken(UUIDPrimaryKeyMixin, Base):
    """A personal API token (``Authorization: Bearer``): acts as its user, shown once."""

    __tablename__ = "api_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(100))
    prefix: Mapped[str] = mapped_column(sa.String(16), doc="First characters, to recognise it.")
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    expires_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()


class ApiKey(UUIDPrimaryKeyMixin, Base):
    """A department's key for pushing data feeds (``X-API-Key``); may only push that
    department's sources."""

    __tablename__ = "api_keys"

    department_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("departments.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(100))
    prefix: Mapped[str] = mapped_column(sa.String(16))
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class CaseAssignment(UUIDPrimaryKeyMixin, Base):
    """A child on a worker's caseload (the worker's Principal.caseload)."""

    __tablename__ = "case_assignments"
    __table_args__ = (sa.UniqueConstraint("user_id", "master_child_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    master_child_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("master_children.id", ondelete="CASCADE"), index=True
    )
    assigned_by: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    user: Mapped[User] = relationship(back_populates="assignments")
