"""Tables of the risk context that the product writes: scoring runs, scores and rule flags.

Scores are never updated in place: each scoring run inserts new rows and marks the child's
earlier rows for the same risk ``is_current = False``, so the history shows how a risk moved.
Every score names the model version that produced it and carries its explanation (top factors
with the facts behind them, in Chinese and English); a score without both is never written.
Rule hits are flags a worker confirms or rejects with a reason; decided flags are the labels
later evaluations learn from (:func:`childlink.risk.service.feedback_labels`).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from childlink.risk.choices import RiskBand, RiskType, RuleSeverity
from childlink.risk.schemas import FlagStatus, ScoreTrigger
from childlink.store.base import Base, UUIDPrimaryKeyMixin, utc_now


class RiskScoreRun(UUIDPrimaryKeyMixin, Base):
    """One scoring pass: the full county, or the children a linkage run touched."""

    __tablename__ = "risk_score_runs"

    trigger: Mapped[ScoreTrigger]
    as_of: Mapped[date]
    known_from: Mapped[str] = mapped_column(
        sa.String(16), default="batch", doc="``batch`` or ``event`` (see ``load_events``)."
    )
    started_at: Mapped[datetime] = mapped_column(default=utc_now)
    finished_at: Mapped[datetime | None]
    children: Mapped[int] = mapped_column(default=0)
    scores: Mapped[int] = mapped_column(default=0)
    flags_new: Mapped[int] = mapped_column(default=0)
    model_versions: Mapped[dict[str, Any]] = mapped_column(
        default=dict, server_default="{}", doc="Risk → model version used in this run."
    )
    link_run_id: Mapped[uuid.UUID | None] = mapped_column(
        doc="The linkage run whose changes triggered this one, if any."
    )


class RiskScore(UUIDPrimaryKeyMixin, Base):
    """One child's calibrated probability for one risk, as of a date, by one model version."""

    __tablename__ = "risk_scores"
    __table_args__ = (sa.Index("ix_risk_scores_child_current", "master_child_id", "is_current"),)

    master_child_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("master_children.id", ondelete="CASCADE"), index=True
    )
    risk: Mapped[RiskType]
    model_version: Mapped[str] = mapped_column(sa.String(64))
    probability: Mapped[float]
    band: Mapped[RiskBand]
    explanation: Mapped[dict[str, Any]] = mapped_column(
        doc="``{'factors': [{feature, label_zh, label_en, value, contribution, facts}]}``."
    )
    as_of: Mapped[date]
    scored_at: Mapped[datetime] = mapped_column(default=utc_now)
    run_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("risk_score_runs.id", ondelete="CASCADE"), index=True
    )
    is_current: Mapped[bool] = mapped_column(default=True)


class RiskFlag(UUIDPrimaryKeyMixin, Base):
    """A hit of an indicator rule for a child, with the facts that triggered it.

    The same rule version hitting the same child on the same facts is one flag, however often
    the child is re-scored (``last_seen_run_id`` moves); ``is_active`` turns False when the
    rule no longer hits. A worker's decision (status, reviewer, reason) is kept either way.
    """

    __tablename__ = "risk_flags"

    master_child_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("master_children.id", ondelete="CASCADE"), index=True
    )
    rule_id: Mapped[str] = mapped_column(sa.String(100))
    rule_version: Mapped[str] = mapped_column(sa.String(32))
    risk: Mapped[RiskType]
    severity: Mapped[RuleSeverity]
    label_zh: Mapped[str] = mapped_column(sa.String(200))
    label_en: Mapped[str] = mapped_column(sa.String(200))
    facts: Mapped[dict[str, Any]] = mapped_column(doc="``{'facts': [{record_id, source, ...}]}``.")
    fact_key: Mapped[str] = mapped_column(
        sa.String(64), doc="Digest of the triggering record ids (same facts, same flag)."
    )
    as_of: Mapped[date]
    run_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("risk_score_runs.id", ondelete="CASCADE"), index=True
    )
    last_seen_run_id: Mapped[uuid.UUID | None]
    is_active: Mapped[bool] = mapped_column(default=True)
    status: Mapped[FlagStatus] = mapped_column(default=FlagStatus.OPEN)
    reviewer: Mapped[str | None] = mapped_column(sa.String(64))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
