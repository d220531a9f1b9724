"""Alert screens: my alerts (live), the team's alerts, response times, one alert and its forms.

Thin over :mod:`childlink.alerts.service`, which decides who may see and act on each alert and
writes its history and the audit trail. ``/alerts`` opens the inbox stream
(``/api/v1/alerts/stream``, Server-Sent Events) through ``/static/alerts.js``: new alerts appear
at the top of the table without a reload. Every alert is shown with its explanation; a score
is shown only with its model version and the factors behind it.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Form
from starlette.responses import HTMLResponse, RedirectResponse, Response

from childlink.access.choices import Role
from childlink.access.service import Action, authorize, jurisdiction_prefix
from childlink.alerts import service
from childlink.alerts.choices import AlertEventKind, AlertOutcome, AlertSeverity, AlertStatus
from childlink.alerts.schemas import AlertRead
from childlink.errors import AccessDeniedError, ChildLinkError, NotFoundError
from childlink.identity.guard import enforce
from childlink.identity.models import User
from childlink.risk.choices import RiskType
from childlink.store.base import utc_now
from childlink.web.adapt import parse_uuid
from childlink.web.i18n import N_
from childlink.web.templating import translator
from childlink.web.views.common import WebRequest, WebRequestDep

router = APIRouter(include_in_schema=False)

LIST_LIMIT = 200
DONE_MESSAGES: dict[str, str] = {
    "acknowledged": N_("Acknowledged: the escalation clock has stopped."),
    "assigned": N_("Assigned."),
    "closed": N_("Closed with its outcome."),
}


def _no_purpose() -> Response:
    return RedirectResponse("/?purpose_needed=1", status_code=303)


def _gate(web: WebRequest, action: Action = Action.ALERT_RESPOND) -> Response | None:
    """Refuse with the policy's reason unless the person may work on alerts now."""
    if web.purpose is None:
        return _no_purpose()
    try:
        enforce(web.session, web.principal, action, web.purpose, ip=web.ip, audit_allow=False)
    except AccessDeniedError as denied:
        return web.error(403, str(denied))
    return None


def may_see_team(web: WebRequest) -> bool:
    """Whether to offer the team and response-time screens."""
    return web.purpose is not None and (
        authorize(web.session, web.principal, Action.ALERT_TEAM, web.purpose).allowed
    )


def _status_filter(value: str | None) -> AlertStatus | None:
    try:
        return AlertStatus(value) if value else None
    except ValueError:
        return None


def js_labels() -> dict[str, dict[str, list[str]]]:
    """Chinese and English labels of severities and statuses, for rows added by the script."""
    return {
        "severity": {s.value: [s.label_zh, s.label_en] for s in AlertSeverity},
        "status": {s.value: [s.label_zh, s.label_en] for s in AlertStatus},
    }


def _row_view(alert: AlertRead) -> dict[str, Any]:
    """The alert as templates use it: its fields, with severity and status as enums."""
    return alert.model_dump() | {
        "severity_enum": AlertSeverity(alert.severity),
        "status_enum": AlertStatus(alert.status),
        "outcome_enum": None if alert.outcome is None else AlertOutcome(alert.outcome),
    }


@router.get("/alerts", response_class=HTMLResponse)
def my_alerts(web: WebRequestDep, status: str | None = None) -> Response:
    """Alerts routed or assigned to me, newest first; new ones arrive live."""
    refused = _gate(web)
    if refused is not None:
        return refused
    chosen = _status_filter(status)
    now = utc_now()
    alerts = service.alerts_for(web.session, web.principal, status=chosen, limit=LIST_LIMIT)
    open_count = sum(1 for a in alerts if a.status != AlertStatus.CLOSED.value)
    assert web.purpose is not None
    return web.render(
        "alerts/inbox.html",
        alerts=[_row_view(a) for a in alerts],
        open_count=open_count,
        statuses=list(AlertStatus),
        status=chosen,
        team=may_see_team(web),
        stream_url=f"/api/v1/alerts/stream?purpose={web.purpose.value}",
        since=now.isoformat(),
        js_labels=json.dumps(js_labels(), ensure_ascii=False),
    )


@router.get("/alerts/team", response_class=HTMLResponse)
def team_alerts(web: WebRequestDep, status: str | None = None) -> Response:
    """The alerts of my area (supervisors and the county), filtered by status."""
    refused = _gate(web, Action.ALERT_TEAM)
    if refused is not None:
        return refused
    chosen = _status_filter(status)
    alerts = service.alerts_for(
        web.session, web.principal, team=True, status=chosen, limit=LIST_LIMIT
    )
    return web.render(
        "alerts/team.html",
        alerts=[_row_view(a) for a in alerts],
        statuses=list(AlertStatus),
        status=chosen,
    )


@router.get("/alerts/response-times", response_class=HTMLResponse)
def response_times(web: WebRequestDep, by: str = "township", days: int = 90) -> Response:
    """Per township (or risk): alerts, acknowledged, median and p90 hours, escalated, closed."""
    refused = _gate(web, Action.ALERT_TEAM)
    if refused is not None:
        return refused
    grouping = by if by in ("township", "risk") else "township"
    window = min(max(days, 1), 3660)
    report = service.response_times(web.session, web.principal, by=grouping, days=window)
    return web.render(
        "alerts/response_times.html",
        report=report,
        group_names=_group_names(web, report.by, [row.group for row in report.rows]),
        by=grouping,
        days=window,
    )


def _group_names(web: WebRequest, by: str, groups: list[str]) -> dict[str, str]:
    """Township names (or risk labels) for the groups of the response-time table."""
    tr = translator(web.request)
    if by == "risk":
        names = {}
        for group in groups:
            try:
                names[group] = tr.label(RiskType(group))
            except ValueError:
                names[group] = group
        return names
    from childlink.regions.models import Region

    codes = [g for g in groups if g]
    rows = web.session.execute(sa.select(Region.code, Region.name).where(Region.code.in_(codes)))
    return {str(code): str(name) for code, name in rows}


def _assignees(web: WebRequest) -> list[tuple[str, str]]:
    """People of my area who can take an alert (the service checks each choice again)."""
    prefix = jurisdiction_prefix(web.principal) or ""
    roles = [r for r in Role if r not in (Role.ADMINISTRATOR, Role.AUDITOR, Role.POLICY_ANALYST)]
    query = (
        sa.select(User.username, User.display_name)
        .where(User.is_active.is_(True), User.role.in_(roles))
        .order_by(User.username)
        .limit(200)
    )
    if prefix and prefix != "~":
        query = query.where(
            sa.or_(
                User.jurisdiction_code.like(f"{prefix}%"), User.username == web.principal.username
            )
        )
    return [(username, name) for username, name in web.session.execute(query)]


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def show(alert_id: str, web: WebRequestDep, done: str | None = None) -> Response:
    """One alert: explanation, recipients, history, and the forms to respond."""
    parsed = parse_uuid(alert_id)
    if parsed is None:
        return web.error(404)
    refused = _gate(web)
    if refused is not None:
        return refused
    return _detail(web, parsed, message=DONE_MESSAGES.get(done or ""), error=None)


def _detail(
    web: WebRequest,
    alert_id: uuid.UUID,
    *,
    message: str | None,
    error: str | None,
    status_code: int = 200,
) -> Response:
    try:
        detail = service.alert_for(web.session, web.principal, alert_id)
    except NotFoundError:
        return web.error(404)
    except AccessDeniedError as denied:
        return web.error(403, str(denied))
    return web.render(
        "alerts/detail.html",
        status_code=status_code,
        alert=_row_view(detail),
        outcomes=list(AlertOutcome),
        event_labels={kind.value: kind for kind in AlertEventKind},
        assignees=_assignees(web),
        message=message,
        error=error,
    )


async def _respond(web: WebRequest, alert_id: str, operation: str, **given: str) -> Response:
    form = {key: value.replace("\x00", "").strip() for key, value in given.items()}
    if not await web.csrf_ok():
        return web.error(403, "missing or wrong CSRF token")
    parsed = parse_uuid(alert_id)
    if parsed is None:
        return web.error(404)
    refused = _gate(web)
    if refused is not None:
        return refused
    try:
        if operation == "acknowledged":
            service.acknowledge(web.session, web.principal, parsed)
        elif operation == "assigned":
            service.assign(web.session, web.principal, parsed, form["assignee"])
        else:
            try:
                outcome = AlertOutcome(form["outcome"])
            except ValueError:
                return _detail(
                    web, parsed, message=None, error=N_("Choose an outcome."), status_code=400
                )
            service.close(web.session, web.principal, parsed, outcome, form["reason"])
    except NotFoundError:
        return web.error(404)
    except AccessDeniedError as denied:
        return web.error(403, str(denied))
    except ChildLinkError as problem:
        web.session.rollback()
        return _detail(web, parsed, message=None, error=str(problem), status_code=409)
    web.session.commit()
    return RedirectResponse(f"/alerts/{parsed}?done={operation}", status_code=303)


@router.post("/alerts/{alert_id}/acknowledge", response_class=HTMLResponse)
async def acknowledge(alert_id: str, web: WebRequestDep) -> Response:
    """I have seen it and will act."""
    return await _respond(web, alert_id, "acknowledged")


@router.post("/alerts/{alert_id}/assign", response_class=HTMLResponse)
async def assign(
    alert_id: str, web: WebRequestDep, assignee: Annotated[str, Form(max_length=64)] = ""
) -> Response:
    """Give the alert to a person."""
    if not assignee.strip():
        parsed = parse_uuid(alert_id)
        if parsed is None:
            return web.error(404)
        return _detail(web, parsed, message=None, error=N_("Choose a person."), status_code=400)
    return await _respond(web, alert_id, "assigned", assignee=assignee)


@router.post("/alerts/{alert_id}/close", response_class=HTMLResponse)
async def close(
    alert_id: str,
    web: WebRequestDep,
    outcome: Annotated[str, Form(max_length=32)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Close with an outcome and a reason."""
    if len(reason.strip()) < 2:
        parsed = parse_uuid(alert_id)
        if parsed is None:
            return web.error(404)
        return _detail(
            web, parsed, message=None, error=N_("Give a reason (required)."), status_code=400
        )
    return await _respond(web, alert_id, "closed", outcome=outcome, reason=reason)
