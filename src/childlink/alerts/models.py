"""Tables of the alerts context: alerts, their recipients and history, inbox items, the outbox,
department webhooks, people's contact addresses and mandatory reports.

One alert per child and risk while it is not closed (a partial unique index): a new rule hit
or score for the same risk updates the open alert (``version`` moves) instead of adding one.
Inbox items are written in the same transaction as the alert, so a committed alert is in the
recipient's inbox at once. Webhook, e-mail and SMS notifications go through the transactional
outbox: a row per recipient, channel and alert version, written with the alert, delivered by
``childlink worker`` with retries; its ``idempotency_key`` is unique, so nothing is queued twice,
and receivers see the same key again if a send is repeated after a crash.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from childlink.alerts.choices import (
    AlertEventKind,
    AlertOutcome,
    AlertSeverity,
    AlertSource,
    AlertStatus,
    Channel,
    DeliveryStatus,
    HarmKind,
    ReporterKind,
)
from childlink.risk.choices import RiskType
from childlink.store.base import Base, UUIDPrimaryKeyMixin, utc_now


class Alert(UUIDPrimaryKeyMixin, Base):
    """A risk someone must act on, for one child."""

    __tablename__ = "alerts"
    __table_args__ = (
        sa.Index(
            "uq_alerts_open_child_risk",
            "master_child_id",
            "risk",
            unique=True,
            sqlite_where=sa.text("status != 'closed'"),
            postgresql_where=sa.text("status != 'closed'"),
        ),
        sa.Index("ix_alerts_status_escalate_at", "status", "escalate_at"),
    )

    master_child_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("master_children.id", ondelete="CASCADE"), index=True
    )
    risk: Mapped[RiskType]
    source: Mapped[AlertSource]
    severity: Mapped[AlertSeverity]
    status: Mapped[AlertStatus] = mapped_column(default=AlertStatus.OPEN)
    region_code: Mapped[str | None] = mapped_column(
        sa.String(12), index=True, doc="The child's region when the alert was raised (routing)."
    )
    title_zh: Mapped[str] = mapped_column(sa.String(200))
    title_en: Mapped[str] = mapped_column(sa.String(200))
    explanation: Mapped[dict[str, Any]] = mapped_column(
        doc="``{'rules': [...], 'score': {...}, 'reports': [...]}``: what triggered it, with facts."
    )
    version: Mapped[int] = mapped_column(default=1, doc="Moves on every update that notifies.")
    escalation_level: Mapped[int] = mapped_column(
        default=0, doc="0 first line; each missed deadline moves it up one level."
    )
    escalate_at: Mapped[datetime | None] = mapped_column(
        doc="When the alert escalates if still unacknowledged (None: no further level)."
    )
    opened_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(sa.String(64))
    assigned_to_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    assigned_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(sa.String(64))
    outcome: Mapped[AlertOutcome | None]
    outcome_reason: Mapped[str | None] = mapped_column(sa.Text)

    recipients: Mapped[list[AlertRecipient]] = relationship(
        back_populates="alert", cascade="all, delete-orphan"
    )


class AlertRecipient(UUIDPrimaryKeyMixin, Base):
    """A person or department system an alert was routed to, and by which routing rule."""

    __tablename__ = "alert_recipients"
    __table_args__ = (
        sa.UniqueConstraint("alert_id", "user_id"),
        sa.UniqueConstraint("alert_id", "endpoint_id"),
    )

    alert_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("alerts.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    endpoint_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    level: Mapped[int] = mapped_column(default=0, doc="Escalation level that added it.")
    route_rule: Mapped[str] = mapped_column(sa.String(100))
    added_at: Mapped[datetime] = mapped_column(default=utc_now)

    alert: Mapped[Alert] = relationship(back_populates="recipients")


class AlertEvent(UUIDPrimaryKeyMixin, Base):
    """One step in an alert's life, with who did it (``system`` for the platform)."""

    __tablename__ = "alert_events"

    alert_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("alerts.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[AlertEventKind]
    actor: Mapped[str] = mapped_column(sa.String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime] = mapped_column(default=utc_now)


class InboxItem(UUIDPrimaryKeyMixin, Base):
    """An alert (or a change to it) in one person's in-app inbox; live-pushed to open pages."""

    __tablename__ = "inbox_items"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "alert_id", "alert_version"),
        sa.Index("ix_inbox_items_user_created", "user_id", "created_at"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    alert_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("alerts.id", ondelete="CASCADE"), index=True
    )
    alert_version: Mapped[int]
    kind: Mapped[AlertEventKind]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    read_at: Mapped[datetime | None]


class WebhookEndpoint(UUIDPrimaryKeyMixin, Base):
    """A department system that receives alerts as signed HTTP POSTs (HMAC-SHA256).

    The signing secret is stored encrypted with the platform's key store, never in clear.
    """

    __tablename__ = "webhook_endpoints"

    agency_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("agencies.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(100))
    url: Mapped[str] = mapped_column(sa.String(500))
    secret_encrypted: Mapped[bytes] = mapped_column(sa.LargeBinary)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class ContactAddress(UUIDPrimaryKeyMixin, Base):
    """Where a person is reached outside the app: an e-mail address or a mobile number."""

    __tablename__ = "contact_addresses"
    __table_args__ = (sa.UniqueConstraint("user_id", "channel"),)

    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    channel: Mapped[Channel]
    address: Mapped[str] = mapped_column(sa.String(200))
    is_active: Mapped[bool] = mapped_column(default=True)


class OutboxMessage(UUIDPrimaryKeyMixin, Base):
    """One notification to send: written in the alert's transaction, sent by the worker.

    ``claimed_until`` is a lease: a worker that dies mid-send leaves the row pending, and
    another worker takes it once the lease has run out.
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (sa.Index("ix_outbox_messages_due", "status", "next_attempt_at"),)

    alert_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("alerts.id", ondelete="CASCADE"), index=True
    )
    recipient_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("alert_recipients.id", ondelete="CASCADE")
    )
    channel: Mapped[Channel]
    address: Mapped[str] = mapped_column(sa.String(500), doc="URL, e-mail address or number.")
    idempotency_key: Mapped[str] = mapped_column(sa.String(128), unique=True)
    payload: Mapped[dict[str, Any]]
    status: Mapped[DeliveryStatus] = mapped_column(default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utc_now)
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    sent_at: Mapped[datetime | None]


class MandatoryReport(UUIDPrimaryKeyMixin, Base):
    """A mandatory report (强制报告): who reported what about which child, and its receipt.

    The child's identifying details are kept as a source record of the ``mandatory_report``
    source (so linkage finds or provisionally creates the child like any other record); this
    row holds the report itself.
    """

    __tablename__ = "mandatory_reports"

    receipt_no: Mapped[str] = mapped_column(sa.String(32), unique=True)
    reporter_user_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    reporter_name: Mapped[str] = mapped_column(sa.String(100))
    reporter_organisation: Mapped[str] = mapped_column(sa.String(200))
    reporter_kind: Mapped[ReporterKind]
    reporter_phone: Mapped[str | None] = mapped_column(sa.String(32))
    harm: Mapped[HarmKind]
    description: Mapped[str] = mapped_column(sa.Text)
    observed_on: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(default=utc_now)
    source_record_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("source_records.id", ondelete="SET NULL")
    )
    master_child_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("master_children.id", ondelete="SET NULL"), index=True
    )
    provisional_child: Mapped[bool] = mapped_column(
        default=False, doc="True when no existing child matched and a new one was created."
    )
    alert_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("alerts.id", ondelete="SET NULL")
    )
