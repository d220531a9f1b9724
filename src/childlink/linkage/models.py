"""Linkage runs, the clerical review queue, reviewer decisions and the master-child change log.

* :class:`LinkRun`: one ``childlink link run`` (its counts and the saved model file).
* :class:`LinkReview`: one scored pair of source records that was neither linked nor dropped
  silently: between the two thresholds and joining two different children (``pending`` until
  a reviewer decides), or refused by a rule (``rejected`` with ``rule`` set). The waterfall (the
  match weight of each comparison) is stored with it so a reviewer sees why it scored as it did.
* :class:`LinkDecision`: a reviewer's must-link or cannot-link between two source records; every
  later run respects it.
* :class:`MasterChildEvent`: every change to a master child (created, records added/removed,
  merged, split), by a run's rules or by a reviewer.

Pairs are stored with the smaller record id on the left, so a pair has one row.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from childlink.linkage.choices import DecisionKind, MasterEventKind, ReviewStatus
from childlink.store.base import Base, UUIDPrimaryKeyMixin, utc_now


class LinkRun(UUIDPrimaryKeyMixin, Base):
    """One linkage run over the county."""

    __tablename__ = "link_runs"

    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    model_path: Mapped[str | None] = mapped_column(sa.String(500))
    upper_threshold: Mapped[float]
    lower_threshold: Mapped[float]
    summary: Mapped[dict[str, Any]] = mapped_column(
        default=dict, server_default="{}", doc="The run's counts (LinkResult)."
    )


class LinkReview(UUIDPrimaryKeyMixin, Base):
    """A scored pair waiting for, or decided by, a reviewer or a rule."""

    __tablename__ = "link_reviews"
    __table_args__ = (sa.UniqueConstraint("left_record_id", "right_record_id"),)

    left_record_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("source_records.id", ondelete="CASCADE")
    )
    right_record_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("source_records.id", ondelete="CASCADE"), index=True
    )
    match_probability: Mapped[float]
    match_weight: Mapped[float]
    waterfall: Mapped[dict[str, Any]] = mapped_column(
        default=dict,
        server_default="{}",
        doc="Prior, then per comparison: level label, match weight, Bayes factor; final weight.",
    )
    status: Mapped[ReviewStatus] = mapped_column(
        default=ReviewStatus.PENDING, server_default=ReviewStatus.PENDING.value, index=True
    )
    rule: Mapped[str | None] = mapped_column(
        sa.String(32), doc="RejectRule value when a rule, not a reviewer, refused the pair."
    )
    reviewer: Mapped[str | None] = mapped_column(sa.String(100))
    note: Mapped[str | None] = mapped_column(sa.Text)
    decided_at: Mapped[datetime | None]
    created_run_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("link_runs.id", ondelete="SET NULL")
    )
    last_run_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("link_runs.id", ondelete="SET NULL"),
        doc="The latest run that scored this pair.",
    )
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)


class LinkDecision(UUIDPrimaryKeyMixin, Base):
    """A reviewer's standing must-link or cannot-link between two source records."""

    __tablename__ = "link_decisions"
    __table_args__ = (sa.UniqueConstraint("left_record_id", "right_record_id"),)

    left_record_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("source_records.id", ondelete="CASCADE")
    )
    right_record_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("source_records.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[DecisionKind]
    reviewer: Mapped[str] = mapped_column(sa.String(100))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    review_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("link_reviews.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class MasterChildEvent(UUIDPrimaryKeyMixin, Base):
    """One change to a master child, by a run's rules or by a reviewer."""

    __tablename__ = "master_child_events"

    master_child_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("master_children.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[MasterEventKind]
    actor: Mapped[str] = mapped_column(
        sa.String(100), doc="``rule:linkage`` for a run, ``reviewer:<name>`` for a person."
    )
    run_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("link_runs.id", ondelete="SET NULL")
    )
    details: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
