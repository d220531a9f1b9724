"""Counts of alerts for the demo and the CLI: by risk and severity, and per recipient."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from childlink.alerts.choices import AlertStatus
from childlink.alerts.models import Alert, AlertRecipient, InboxItem, OutboxMessage
from childlink.identity.models import User


@dataclass(frozen=True)
class AlertsSummary:
    """Open alerts by (risk, severity), inbox items per user, outbox rows by (channel, status)."""

    open_by_risk: dict[tuple[str, str], int]
    closed: int
    per_user: list[tuple[str, str, int, int]]
    """(username, role, alerts routed to them, inbox items)."""
    outbox: dict[tuple[str, str], int]
    next_escalation: str | None


def alerts_summary(session: Session) -> AlertsSummary:
    """Aggregate counts, in a handful of grouped queries."""
    open_by_risk = {
        (str(risk), str(severity)): int(count)
        for risk, severity, count in session.execute(
            sa.select(Alert.risk, Alert.severity, sa.func.count())
            .where(Alert.status != AlertStatus.CLOSED)
            .group_by(Alert.risk, Alert.severity)
        )
    }
    closed = int(
        session.scalar(
            sa.select(sa.func.count()).select_from(Alert).where(Alert.status == AlertStatus.CLOSED)
        )
        or 0
    )
    routed = dict(
        session.execute(
            sa.select(AlertRecipient.user_id, sa.func.count())
            .where(AlertRecipient.user_id.is_not(None))
            .group_by(AlertRecipient.user_id)
        ).all()
    )
    inbox = dict(
        session.execute(
            sa.select(InboxItem.user_id, sa.func.count()).group_by(InboxItem.user_id)
        ).all()
    )
    per_user = [
        (user.username, str(user.role), int(routed.get(user.id, 0)), int(inbox.get(user.id, 0)))
        for user in session.scalars(sa.select(User).order_by(User.username))
        if user.id in routed or user.id in inbox
    ]
    outbox = {
        (str(channel), str(status)): int(count)
        for channel, status, count in session.execute(
            sa.select(OutboxMessage.channel, OutboxMessage.status, sa.func.count()).group_by(
                OutboxMessage.channel, OutboxMessage.status
            )
        )
    }
    next_at = session.scalar(
        sa.select(sa.func.min(Alert.escalate_at)).where(Alert.status == AlertStatus.OPEN)
    )
    return AlertsSummary(
        open_by_risk=open_by_risk,
        closed=closed,
        per_user=per_user,
        outbox=outbox,
        next_escalation=None if next_at is None else next_at.strftime("%Y-%m-%d %H:%M UTC"),
    )
