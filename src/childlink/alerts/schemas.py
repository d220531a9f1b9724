"""What the alerts service returns: alerts with their explanation, history, inbox entries.

:class:`AlertRead` has a required ``explanation``: no screen, API answer or export can show an
alert without the facts that raised it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel


class AlertRead(BaseModel):
    """One alert as a person allowed to see it sees it (in the app: never outside it)."""

    id: uuid.UUID
    master_child_id: uuid.UUID
    risk: str
    risk_label_zh: str
    risk_label_en: str
    source: str
    severity: str
    status: str
    region_code: str | None
    title_zh: str
    title_en: str
    version: int
    escalation_level: int
    escalate_at: datetime | None
    opened_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    assigned_to: str | None
    closed_at: datetime | None
    outcome: str | None
    outcome_reason: str | None
    explanation: dict[str, Any]


class AlertEventRead(BaseModel):
    """One step of an alert's history."""

    kind: str
    actor: str
    at: datetime
    details: dict[str, Any]


class RecipientRead(BaseModel):
    """A person (``username``) or department system (``endpoint_name``) an alert went to."""

    username: str | None
    endpoint_name: str | None
    level: int
    route_rule: str


class AlertDetail(AlertRead):
    """An alert with whom it was routed to and its history."""

    recipients: list[RecipientRead]
    events: list[AlertEventRead]


class InboxEntry(BaseModel):
    """An alert (or a new version of it) in a person's inbox."""

    item_id: uuid.UUID
    created_at: datetime
    kind: str
    read_at: datetime | None
    alert: AlertRead


class ResponseTimeRow(BaseModel):
    """How fast alerts of one group (a township, or a risk) were answered."""

    group: str
    alerts: int
    acknowledged: int
    median_ack_hours: float | None
    p90_ack_hours: float | None
    escalated: int
    closed: int


class ResponseTimeReport(BaseModel):
    """Response times grouped ``by`` township or risk."""

    rows: list[ResponseTimeRow]
    by: str
