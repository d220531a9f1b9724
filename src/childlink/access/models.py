"""Agencies, legal bases for processing a child's data, and break-glass grants.

Grants of *what* a role may see are not rows: they are the declarative data-sharing agreements
in ``access/policies/`` (reviewed like code). What is stored here is what changes per agency,
per child and per emergency.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from childlink.access.choices import AgencyKind, LegalBasisKind, Purpose, Role
from childlink.store.base import Base, TimestampMixin, UUIDPrimaryKeyMixin, utc_now

ALL_SOURCES = "*"
"""``source_code`` of a legal basis that covers every source (e.g. a statute on all records)."""


class Agency(UUIDPrimaryKeyMixin, TimestampMixin, Base):
    """An organisation whose staff use ChildLink: a bureau, a township, a school, an NGO.

    Its kind decides which data-sharing agreements apply to its staff and whether it acts as a
    state organ (statutory duty, PIPL arts. 33-37) or needs guardian consent.
    """

    __tablename__ = "agencies"

    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name_zh: Mapped[str] = mapped_column(sa.String(100))
    name_en: Mapped[str] = mapped_column(sa.String(100))
    kind: Mapped[AgencyKind]
    region_code: Mapped[str | None] = mapped_column(
        sa.String(12), sa.ForeignKey("regions.code", ondelete="RESTRICT"), index=True
    )


class LegalBasis(UUIDPrimaryKeyMixin, TimestampMixin, Base):
    """Why ChildLink may process one child's data from one source (PIPL arts. 13, 28, 31).

    ``master_child_id`` empty means the basis covers every child of the source (a statutory
    duty is a property of the source, not of the child); ``source_code`` ``*`` means every
    source. A basis is in force from ``valid_from`` until ``expires_at`` (exclusive) unless it
    was withdrawn.
    """

    __tablename__ = "legal_bases"
    __table_args__ = (sa.Index(None, "master_child_id", "source_code"),)

    master_child_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("master_children.id", ondelete="CASCADE")
    )
    source_code: Mapped[str] = mapped_column(sa.String(64), index=True)
    basis: Mapped[LegalBasisKind]
    evidence: Mapped[str] = mapped_column(
        sa.Text, doc="The statute article, the signed consent form's reference, the emergency."
    )
    valid_from: Mapped[date]
    expires_at: Mapped[date | None] = mapped_column(doc="First day the basis no longer holds.")
    withdrawn_at: Mapped[datetime | None]
    recorded_by: Mapped[str] = mapped_column(sa.String(100))


class BreakGlassGrant(UUIDPrimaryKeyMixin, Base):
    """Emergency access to one child outside one's jurisdiction or caseload.

    Time-limited, with a mandatory reason, and flagged for the supervisor's review until
    ``reviewed_at`` is set.
    """

    __tablename__ = "break_glass_grants"
    __table_args__ = (sa.Index(None, "username", "master_child_id", "expires_at"),)

    user_id: Mapped[uuid.UUID | None] = mapped_column(doc="The user, when a person (not a key).")
    username: Mapped[str] = mapped_column(sa.String(100))
    role: Mapped[Role]
    agency_code: Mapped[str | None] = mapped_column(sa.String(64))
    master_child_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("master_children.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[Purpose]
    reason: Mapped[str] = mapped_column(sa.Text)
    started_at: Mapped[datetime] = mapped_column(default=utc_now)
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None] = mapped_column(
        doc="Ended early by the user or a supervisor."
    )
    reviewed_at: Mapped[datetime | None] = mapped_column(index=True)
    reviewed_by: Mapped[str | None] = mapped_column(sa.String(100))
    review_note: Mapped[str | None] = mapped_column(sa.Text)
