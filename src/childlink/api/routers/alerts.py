"""Intervention alerts over HTTP: my inbox (and live stream), the team's, respond, response times.

Thin over :mod:`childlink.alerts.service`, which checks that the caller may see or act on each
alert (routing recipients, jurisdiction, ``alert.respond`` / ``alert.team``) and writes the
alert's history and the audit trail. Every alert carries its explanation; none is ever sent
without it. Child data is processed, so a purpose is required (``case_work`` is the one the
policy grants for alerts).

``GET /alerts/stream`` is a Server-Sent Events stream of the caller's inbox: a browser opens it
with ``EventSource`` (the session cookie authenticates it; name the purpose with
``?purpose=``), a script with a bearer token. It is left out of the OpenAPI schema (an endless
response is no operation a schema-driven client can call); ``docs/alerts.md`` describes it.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, BeforeValidator, Field
from sqlalchemy.orm import Session, sessionmaker

from childlink.access.choices import Purpose
from childlink.access.principal import Principal
from childlink.access.service import Action
from childlink.alerts import service
from childlink.alerts.choices import AlertOutcome, AlertStatus
from childlink.alerts.schemas import AlertDetail, AlertRead, InboxEntry, ResponseTimeReport
from childlink.api.deps import (
    CallerDep,
    CsrfDep,
    FactoryDep,
    PrincipalDep,
    PurposeDep,
    SessionDep,
    client_ip,
)
from childlink.api.errors import ERROR_RESPONSES
from childlink.errors import AccessDeniedError
from childlink.identity.guard import enforce
from childlink.store.base import utc_now

router = APIRouter(prefix="/alerts", tags=["alerts"], responses=ERROR_RESPONSES)

POLL_SECONDS = 0.5
"""How often the stream looks for new inbox items."""
LOOK_BACK = dt.timedelta(seconds=5)
"""Items are re-read this far before the cursor: an item flushed before a late commit has an
earlier ``created_at`` than items already sent, and must still be delivered."""
HEARTBEAT_SECONDS = 15.0
RETRY_MS = 2000
POLL_LIMIT = 100


def _no_nul(value: object) -> object:
    """NUL characters removed (PostgreSQL text cannot hold them), whitespace trimmed."""
    return value.replace("\x00", "").strip() if isinstance(value, str) else value


class AssignRequest(BaseModel):
    assignee: Annotated[str, BeforeValidator(_no_nul)] = Field(
        min_length=1, max_length=64, description="Username of the assignee."
    )


class CloseRequest(BaseModel):
    outcome: AlertOutcome
    reason: Annotated[str, BeforeValidator(_no_nul)] = Field(
        min_length=2, max_length=2000, description="Why, for the record."
    )


def gate(
    session: Session,
    principal: Principal,
    purpose: Purpose,
    request: Request,
    action: Action = Action.ALERT_RESPOND,
) -> None:
    """Refuse (audited) unless the caller may work on alerts for this purpose."""
    enforce(session, principal, action, purpose, ip=client_ip(request), audit_allow=False)


@router.get("", response_model=list[AlertRead])
def list_alerts(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    purpose: PurposeDep,
    team: Annotated[bool, Query(description="The team's alerts (supervisors).")] = False,
    status: Annotated[AlertStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> list[AlertRead]:
    """My alerts (routed to me or assigned to me), newest first; ``team=true``: my area's."""
    gate(session, principal, purpose, request, Action.ALERT_TEAM if team else Action.ALERT_RESPOND)
    return service.alerts_for(session, principal, team=team, status=status, limit=limit)


@router.get("/response-times", response_model=ResponseTimeReport)
def response_times(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    purpose: PurposeDep,
    by: Annotated[Literal["township", "risk"], Query()] = "township",
    days: Annotated[int, Query(ge=1, le=3660)] = 90,
) -> ResponseTimeReport:
    """How fast alerts were acknowledged, escalated and closed, by township (or risk)."""
    gate(session, principal, purpose, request, Action.ALERT_TEAM)
    return service.response_times(session, principal, by=by, days=days)


def _event(entry: InboxEntry) -> str:
    data = json.dumps(entry.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":"))
    return f"id: {entry.created_at.isoformat()}\nevent: alert\ndata: {data}\n\n"


def _parse_moment(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.strip().replace(" ", "+"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def inbox_events(
    factory: sessionmaker[Session],
    user_id: uuid.UUID,
    start: dt.datetime,
    disconnected: Callable[[], Awaitable[bool]],
    *,
    poll_seconds: float = POLL_SECONDS,
    heartbeat_seconds: float = HEARTBEAT_SECONDS,
) -> AsyncIterator[str]:
    """The SSE text of a person's inbox from ``start`` on, until ``disconnected()`` is true.

    Each poll runs in a worker thread with its own session. The cursor is the newest
    ``created_at`` sent; every poll re-reads :data:`LOOK_BACK` before it and skips the items
    already sent (remembered by id for twice the look-back).
    """

    def poll(since: dt.datetime) -> list[InboxEntry]:
        with factory() as session:
            return service.inbox_since(session, user_id, since, limit=POLL_LIMIT)

    async def events() -> AsyncIterator[str]:
        cursor = start
        sent: dict[uuid.UUID, dt.datetime] = {}
        yield f"retry: {RETRY_MS}\n: connected\n\n"
        quiet_since = anyio.current_time()
        while True:
            if await disconnected():
                return
            entries = await anyio.to_thread.run_sync(poll, cursor - LOOK_BACK)
            for entry in entries:
                if entry.item_id in sent:
                    continue
                yield _event(entry)
                sent[entry.item_id] = entry.created_at
                cursor = max(cursor, entry.created_at)
                quiet_since = anyio.current_time()
            horizon = cursor - 2 * LOOK_BACK
            for item_id in [i for i, at in sent.items() if at < horizon]:
                del sent[item_id]
            if anyio.current_time() - quiet_since >= heartbeat_seconds:
                yield ": ping\n\n"
                quiet_since = anyio.current_time()
            if len(entries) < POLL_LIMIT:
                await anyio.sleep(poll_seconds)

    return events()


@router.get("/stream", response_class=StreamingResponse, include_in_schema=False)
async def stream(
    request: Request,
    caller: CallerDep,
    purpose: PurposeDep,
    factory: FactoryDep,
    since: Annotated[
        str | None, Query(description="ISO time: send inbox items created after it.")
    ] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    """My inbox as Server-Sent Events: ``event: alert`` with an inbox entry as JSON data.

    Starts at ``Last-Event-ID`` (a reconnecting ``EventSource`` sends it), else ``since``,
    else now; sends ``: ping`` every 15 s when quiet; ends when the client goes away.
    """
    principal = caller.principal
    user_id = principal.user_id
    with factory() as session:
        gate(session, principal, purpose, request)
    if user_id is None:
        raise AccessDeniedError("only a person has an inbox; API keys cannot open the stream")
    start = _parse_moment(last_event_id) or _parse_moment(since) or utc_now()
    return StreamingResponse(
        inbox_events(factory, user_id, start, request.is_disconnected),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/{alert_id}", response_model=AlertDetail)
def show(
    alert_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    purpose: PurposeDep,
) -> AlertDetail:
    """One alert with its explanation, recipients and history."""
    gate(session, principal, purpose, request)
    return service.alert_for(session, principal, alert_id)


@router.post("/{alert_id}/acknowledge", response_model=AlertDetail)
def acknowledge(
    alert_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    purpose: PurposeDep,
    _csrf: CsrfDep,
) -> AlertDetail:
    """I have seen it and will act (stops the escalation clock)."""
    gate(session, principal, purpose, request)
    return service.acknowledge(session, principal, alert_id)


@router.post("/{alert_id}/assign", response_model=AlertDetail)
def assign(
    alert_id: uuid.UUID,
    body: AssignRequest,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    purpose: PurposeDep,
    _csrf: CsrfDep,
) -> AlertDetail:
    """Give the alert to a person (who must be allowed to see the child)."""
    gate(session, principal, purpose, request)
    return service.assign(session, principal, alert_id, body.assignee)


@router.post("/{alert_id}/close", response_model=AlertDetail)
def close(
    alert_id: uuid.UUID,
    body: CloseRequest,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    purpose: PurposeDep,
    _csrf: CsrfDep,
) -> AlertDetail:
    """Close with an outcome (case opened, false alarm, referred) and a reason."""
    gate(session, principal, purpose, request)
    return service.close(session, principal, alert_id, body.outcome, body.reason)
