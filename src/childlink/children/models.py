"""Master children, families (households), guardians and family membership.

A master child is ChildLink's one picture of a real child: the cluster that linkage builds from
source records. Its identifying attributes here are only what workers need to recognise the
child; everything else is derived from the linked source records.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from childlink.children.choices import ChildStatus, GuardianRelation, MembershipRelation, Sex
from childlink.store.base import Base, TimestampMixin, UUIDPrimaryKeyMixin


class MasterChild(UUIDPrimaryKeyMixin, TimestampMixin, Base):
    """One real child, as established by record linkage."""

    __tablename__ = "master_children"

    child_key: Mapped[str | None] = mapped_column(
        sa.String(64),
        unique=True,
        doc="Pseudonymous key (keyed HMAC) used outside the identifiable core; set by privacy.",
    )
    display_name: Mapped[str] = mapped_column(sa.String(100))
    sex: Mapped[Sex] = mapped_column(default=Sex.UNKNOWN)
    birth_date: Mapped[date | None] = mapped_column(index=True)
    region_code: Mapped[str | None] = mapped_column(
        sa.String(12), sa.ForeignKey("regions.code", ondelete="RESTRICT"), index=True
    )
    status: Mapped[ChildStatus] = mapped_column(default=ChildStatus.ACTIVE)
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("master_children.id", ondelete="SET NULL"),
        doc="When status is merged: the master child that absorbed this one.",
    )

    memberships: Mapped[list[FamilyMembership]] = relationship(back_populates="child")


class Family(UUIDPrimaryKeyMixin, TimestampMixin, Base):
    """A household: the unit that home visits, allowances and guardianship concern."""

    __tablename__ = "families"

    region_code: Mapped[str | None] = mapped_column(
        sa.String(12), sa.ForeignKey("regions.code", ondelete="RESTRICT"), index=True
    )
    address: Mapped[str | None] = mapped_column(sa.String(255))
    household_key: Mapped[str | None] = mapped_column(
        sa.String(64),
        index=True,
        doc="Household register number (户号) of the family when one is known (an attribute).",
    )
    dissolved_at: Mapped[datetime | None] = mapped_column(
        doc="Set when a household rebuild left the family without children (kept for history)."
    )

    guardians: Mapped[list[Guardian]] = relationship(
        back_populates="family", cascade="all, delete-orphan"
    )
    memberships: Mapped[list[FamilyMembership]] = relationship(
        back_populates="family", cascade="all, delete-orphan"
    )


class Guardian(UUIDPrimaryKeyMixin, TimestampMixin, Base):
    """An adult in a family: parent, grandparent or other carer."""

    __tablename__ = "guardians"

    family_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("families.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(100))
    id_number: Mapped[str | None] = mapped_column(sa.String(18), index=True)
    relation: Mapped[GuardianRelation]
    phone: Mapped[str | None] = mapped_column(sa.String(32))
    is_migrant_worker: Mapped[bool] = mapped_column(
        default=False, doc="Works away from home: with both parents away the child is left-behind."
    )
    guardian_key: Mapped[str | None] = mapped_column(
        sa.String(64),
        doc="Hash of what identifies the guardian within the family (ID number, else name), "
        "so a household rebuild updates the same row.",
    )

    family: Mapped[Family] = relationship(back_populates="guardians")


class FamilyMembership(UUIDPrimaryKeyMixin, TimestampMixin, Base):
    """A child belonging to a family; one row per (family, child)."""

    __tablename__ = "family_memberships"
    __table_args__ = (sa.UniqueConstraint("family_id", "master_child_id"),)

    family_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("families.id", ondelete="CASCADE"))
    master_child_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("master_children.id", ondelete="CASCADE"), index=True
    )
    relation: Mapped[MembershipRelation] = mapped_column(default=MembershipRelation.CHILD)
    evidence: Mapped[dict[str, Any]] = mapped_column(
        default=dict,
        server_default="{}",
        doc="Rule -> the other members it linked this child with (see households.service).",
    )

    family: Mapped[Family] = relationship(back_populates="memberships")
    child: Mapped[MasterChild] = relationship(back_populates="memberships")
