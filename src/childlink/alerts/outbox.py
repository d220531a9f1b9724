"""The transactional outbox: notifications are rows written with the alert, sent later.

Writing the row in the alert's own transaction means an alert is never committed without its
notifications, and a notification never refers to an alert that was rolled back. The worker
(:mod:`childlink.alerts.delivery`) sends due rows and retries with backoff.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from childlink.alerts.choices import Channel
from childlink.alerts.models import Alert, AlertRecipient, OutboxMessage


def idempotency_key(alert: Alert, recipient: AlertRecipient, channel: Channel) -> str:
    """One key per alert version, recipient and channel: the same notice is queued once."""
    return f"{alert.id}:v{alert.version}:{recipient.id}:{channel.value}"


def enqueue(
    session: Session,
    *,
    alert: Alert,
    recipient: AlertRecipient,
    channel: Channel,
    address: str,
    payload: dict[str, Any],
) -> OutboxMessage | None:
    """Queue one notification in the caller's transaction; None if it is already queued.

    ``alert`` and ``recipient`` must have ids (flush first). The caller commits.
    """
    if channel is Channel.INBOX:
        raise ValueError("inbox notifications are inbox items, not outbox messages")
    if alert.id is None or recipient.id is None:
        raise ValueError("flush the alert and its recipient before queueing notifications")
    key = idempotency_key(alert, recipient, channel)
    exists = session.scalar(sa.select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key))
    if exists is not None:
        return None
    message = OutboxMessage(
        alert_id=alert.id,
        recipient_id=recipient.id,
        channel=channel,
        address=address,
        idempotency_key=key,
        payload=payload,
    )
    session.add(message)
    return message
