"""Alerts as use cases: raise them from scoring runs and reports, answer, escalate, report.

One open alert per child and risk (a partial unique index). :func:`raise_alerts_for_run`
turns a scoring run's active rule flags (warning and urgent, not rejected) and its high-band
scores into alerts: a new alert when the child has none open for that risk, an update of the
open one (``version`` + 1, everyone told again) only when something material changed: a rule
hit on facts the alert does not hold yet, a higher severity, or a high score where there was
none. Re-scoring the same facts changes nothing and tells nobody (duplicate suppression); so
does a hit whose facts were already in an alert that was closed.

Every alert carries its explanation: the rule hits with their labels and the records behind
them, and/or the score with its model version and top factors, and/or the mandatory reports.

Unacknowledged alerts escalate on the deadlines of ``routing.yaml`` (:func:`escalate_due`,
run by the worker with the current time; tests pass their own clock). Every function takes
``now``. Mutations flush and never commit, except that a refused request records its refusal
in the audit trail and commits it before raising (as :func:`childlink.identity.guard.enforce`
does), so a denial is never lost with the rolled-back request.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from childlink.access.choices import Purpose
from childlink.access.principal import Principal
from childlink.access.service import Action, ChildScope, authorize, in_jurisdiction
from childlink.alerts.choices import (
    AlertEventKind,
    AlertOutcome,
    AlertSeverity,
    AlertSource,
    AlertStatus,
    Channel,
)
from childlink.alerts.models import (
    Alert,
    AlertEvent,
    AlertRecipient,
    ContactAddress,
    InboxItem,
    MandatoryReport,
    WebhookEndpoint,
)
from childlink.alerts.routing import (
    Directory,
    Event,
    RouteCounts,
    RoutingConfig,
    child_sources,
    load_routing,
    may_see_alert,
    route_alerts,
)
from childlink.alerts.schemas import (
    AlertDetail,
    AlertEventRead,
    AlertRead,
    InboxEntry,
    RecipientRead,
    ResponseTimeReport,
    ResponseTimeRow,
)
from childlink.audit.service import record_event
from childlink.children.choices import ChildStatus
from childlink.children.models import MasterChild
from childlink.errors import AccessDeniedError, ChildLinkError, NotFoundError
from childlink.identity.guard import audit
from childlink.identity.models import User
from childlink.identity.service import get_user, principal_for
from childlink.regions.models import Region
from childlink.risk.choices import RiskBand, RiskType, RuleSeverity
from childlink.risk.schemas import FlagStatus
from childlink.risk.store import RiskFlag, RiskScore, RiskScoreRun
from childlink.store.base import utc_now

#: Rows per ``IN (...)`` list.
CHUNK: Final = 500
SYSTEM: Final = "system"
PURPOSE: Final = Purpose.CASE_WORK
#: Rule severities that raise alerts (``info`` flags stay on the profile only).
RULE_SEVERITY: Final = {
    RuleSeverity.WARNING: AlertSeverity.MEDIUM,
    RuleSeverity.URGENT: AlertSeverity.HIGH,
}
SEVERITY_RANK: Final = {
    AlertSeverity.MEDIUM: 1,
    AlertSeverity.HIGH: 2,
    AlertSeverity.CRITICAL: 3,
}
MIN_FALSE_ALARM_REASON: Final = 5
MIN_REASON: Final = 2
SCORE_KEY: Final = "score:high"
#: Audit actions of the alerts context.
ALERT_RAISE: Final = "alert.raise"
ALERT_ESCALATE: Final = "alert.escalate"
ALERT_VIEW: Final = "alert.view"
ALERT_LIST: Final = "alert.list"
ALERT_ACK: Final = "alert.acknowledge"
ALERT_ASSIGN: Final = "alert.assign"
ALERT_CLOSE: Final = "alert.close"
ALERT_CONTACT: Final = "alert.contact"
RESPONSE_GROUPS: Final = ("township", "risk")
TOWNSHIP_DIGITS: Final = 9


class AlertError(ChildLinkError):
    """An alert operation that cannot be done as asked (closed alert, missing reason, ...)."""


@dataclass
class AlertCounts:
    """What :func:`raise_alerts_for_run` (or an escalation pass) did."""

    created: int = 0
    updated: int = 0
    recipients: int = 0
    inbox: int = 0
    outbox: int = 0
    refused: int = 0

    def add(self, routed: RouteCounts) -> None:
        self.recipients += routed.recipients
        self.inbox += routed.inbox
        self.outbox += routed.outbox
        self.refused += routed.refused


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _higher(a: AlertSeverity, b: AlertSeverity) -> AlertSeverity:
    return a if SEVERITY_RANK[a] >= SEVERITY_RANK[b] else b


def _rule_key(hit: dict[str, Any]) -> str:
    return f"rule:{hit['rule_id']}:{hit['rule_version']}:{hit['fact_key']}"


def explanation_keys(explanation: dict[str, Any]) -> set[str]:
    """The material facts of an explanation: rule hits on their facts, a high score, reports."""
    keys = {_rule_key(hit) for hit in explanation.get("rules", [])}
    score = explanation.get("score")
    if score and score.get("band") == RiskBand.HIGH.value:
        keys.add(SCORE_KEY)
    keys.update(f"report:{report['report_id']}" for report in explanation.get("reports", []))
    return keys


def _title(risk: RiskType, severity: AlertSeverity, explanation: dict[str, Any]) -> tuple[str, str]:
    """A title without names or numbers: the risk, the severity and the main reason."""
    rules = sorted(
        explanation.get("rules", []),
        key=lambda hit: 0 if hit.get("severity") == RuleSeverity.URGENT.value else 1,
    )
    if explanation.get("reports"):
        reason_zh, reason_en = "收到强制报告", "mandatory report received"
    elif rules:
        reason_zh, reason_en = str(rules[0]["label_zh"]), str(rules[0]["label_en"])
        if len(rules) > 1:
            reason_zh += f"（另有{len(rules) - 1}项）"
            reason_en += f" (+{len(rules) - 1} more)"
    else:
        reason_zh, reason_en = "风险模型评分为高", "risk model score is high"
    return (
        f"{risk.label_zh}（{severity.label_zh}）：{reason_zh}"[:200],
        f"{risk.label_en} ({severity.label_en}): {reason_en}"[:200],
    )


def _first_deadline(
    config: RoutingConfig, severity: AlertSeverity, level: int, start: datetime
) -> datetime | None:
    wait = config.deadline(severity, level)
    return None if wait is None else start + wait


# --- raising alerts ------------------------------------------------------------------------


@dataclass
class _Candidate:
    child: uuid.UUID
    risk: RiskType
    severity: AlertSeverity
    rules: list[dict[str, Any]]
    score: dict[str, Any] | None

    def explanation(self) -> dict[str, Any]:
        found: dict[str, Any] = {"rules": self.rules}
        if self.score is not None:
            found["score"] = self.score
        return found

    def keys(self) -> set[str]:
        return explanation_keys(self.explanation())


def _candidates(
    session: Session, run_id: uuid.UUID
) -> dict[tuple[uuid.UUID, RiskType], _Candidate]:
    """The run's active, unrejected warning/urgent flags and high scores, per child and risk."""
    found: dict[tuple[uuid.UUID, RiskType], _Candidate] = {}
    flags = session.execute(
        sa.select(
            RiskFlag.id,
            RiskFlag.master_child_id,
            RiskFlag.rule_id,
            RiskFlag.rule_version,
            RiskFlag.risk,
            RiskFlag.severity,
            RiskFlag.label_zh,
            RiskFlag.label_en,
            RiskFlag.facts,
            RiskFlag.fact_key,
            RiskFlag.as_of,
        )
        .where(
            sa.or_(RiskFlag.run_id == run_id, RiskFlag.last_seen_run_id == run_id),
            RiskFlag.is_active.is_(True),
            RiskFlag.status != FlagStatus.REJECTED,
            RiskFlag.severity.in_(list(RULE_SEVERITY)),
        )
        .order_by(RiskFlag.master_child_id, RiskFlag.rule_id)
    )
    for flag in flags:
        risk = RiskType(flag.risk)
        severity = RULE_SEVERITY[RuleSeverity(flag.severity)]
        hit = {
            "flag_id": str(flag.id),
            "rule_id": flag.rule_id,
            "rule_version": flag.rule_version,
            "severity": RuleSeverity(flag.severity).value,
            "label_zh": flag.label_zh,
            "label_en": flag.label_en,
            "fact_key": flag.fact_key,
            "facts": (flag.facts or {}).get("facts", []),
            "as_of": str(flag.as_of),
        }
        key = (flag.master_child_id, risk)
        candidate = found.get(key)
        if candidate is None:
            found[key] = _Candidate(flag.master_child_id, risk, severity, [hit], None)
        else:
            candidate.rules.append(hit)
            candidate.severity = _higher(candidate.severity, severity)
    scores = session.execute(
        sa.select(
            RiskScore.id,
            RiskScore.master_child_id,
            RiskScore.risk,
            RiskScore.probability,
            RiskScore.model_version,
            RiskScore.explanation,
            RiskScore.as_of,
        ).where(
            RiskScore.run_id == run_id,
            RiskScore.is_current.is_(True),
            RiskScore.band == RiskBand.HIGH,
        )
    )
    for score in scores:
        risk = RiskType(score.risk)
        explained = score.explanation or {}
        entry = {
            "score_id": str(score.id),
            "probability": round(float(score.probability), 6),
            "band": RiskBand.HIGH.value,
            "model_version": score.model_version,
            "as_of": str(score.as_of),
            "base_rate": explained.get("base_rate"),
            "relative_risk": explained.get("relative_risk"),
            "factors": explained.get("factors", []),
        }
        key = (score.master_child_id, risk)
        candidate = found.get(key)
        if candidate is None:
            found[key] = _Candidate(score.master_child_id, risk, AlertSeverity.HIGH, [], entry)
        else:
            candidate.score = entry
            candidate.severity = _higher(candidate.severity, AlertSeverity.HIGH)
    return found


def raise_alerts_for_run(
    session: Session, run_id: uuid.UUID, *, now: datetime | None = None
) -> AlertCounts:
    """Create or update the alerts of scoring run ``run_id`` and route them (one transaction).

    Reads the run's flags and scores, the children's open alerts and their closed alerts in
    bulk; writes alerts, events, recipients, inbox items and outbox messages in bulk; one
    audit entry for the run. Flushes; the caller commits.

    Raises:
        NotFoundError: no such scoring run.
    """
    moment = now or utc_now()
    if session.get(RiskScoreRun, run_id) is None:
        raise NotFoundError(f"no risk scoring run {run_id}")
    counts = AlertCounts()
    candidates = _candidates(session, run_id)
    if not candidates:
        return counts
    config = load_routing()
    # Sorted: open alerts are locked in one global order, so two runs never deadlock.
    children = sorted({child for child, _risk in candidates})
    regions: dict[uuid.UUID, str | None] = {}
    open_alerts: dict[tuple[uuid.UUID, RiskType], Alert] = {}
    closed_keys: dict[tuple[uuid.UUID, RiskType], set[str]] = {}
    for chunk in _chunks(children):
        for child_id, region in session.execute(
            sa.select(MasterChild.id, MasterChild.region_code).where(
                MasterChild.id.in_(chunk), MasterChild.status == ChildStatus.ACTIVE
            )
        ):
            regions[child_id] = region
        for held in session.scalars(
            sa.select(Alert)
            .where(Alert.master_child_id.in_(chunk), Alert.status != AlertStatus.CLOSED)
            .order_by(Alert.master_child_id, Alert.risk)
            .with_for_update()
        ):
            open_alerts[(held.master_child_id, RiskType(held.risk))] = held
        for child_id, risk, explanation in session.execute(
            sa.select(Alert.master_child_id, Alert.risk, Alert.explanation).where(
                Alert.master_child_id.in_(chunk), Alert.status == AlertStatus.CLOSED
            )
        ):
            closed_keys.setdefault((child_id, RiskType(risk)), set()).update(
                explanation_keys(explanation or {})
            )

    pending: list[tuple[Alert, _Candidate]] = []
    updated: list[tuple[Alert, set[str], AlertSeverity]] = []
    for key, candidate in candidates.items():
        if candidate.child not in regions:
            continue  # merged away or no longer active: its scores are history
        alert = open_alerts.get(key)
        if alert is None:
            if candidate.keys() <= closed_keys.get(key, set()):
                continue  # these facts were answered already (the alert was closed)
            pending.append(
                (_new_alert(config, candidate, regions[candidate.child], moment), candidate)
            )
            continue
        change = _merge(config, alert, candidate, moment)
        if change is not None:
            updated.append((alert, *change))
    if not pending and not updated:
        return counts

    created, raced = _insert_new(session, config, pending, moment)
    updated.extend(raced)
    events: list[dict[str, Any]] = [
        _event_row(alert.id, AlertEventKind.CREATED, moment, {"version": 1, "run_id": str(run_id)})
        for alert in created
    ]
    events.extend(
        _event_row(
            alert.id,
            AlertEventKind.UPDATED,
            moment,
            {
                "version": alert.version,
                "run_id": str(run_id),
                "new": sorted(new),
                "severity_before": before.value,
                "severity": str(alert.severity),
            },
        )
        for alert, new, before in updated
    )
    session.execute(sa.insert(AlertEvent), events)
    directory = Directory.load(
        session, [a.master_child_id for a in created] + [a.master_child_id for a, *_ in updated]
    )
    routed_new = route_alerts(
        session,
        created,
        levels={alert.id: (0,) for alert in created},
        kind=AlertEventKind.CREATED,
        event="created",
        now=moment,
        config=config,
        directory=directory,
    )
    changed = [alert for alert, *_ in updated]
    routed_changed = route_alerts(
        session,
        changed,
        levels={alert.id: tuple(range(alert.escalation_level + 1)) for alert in changed},
        kind=AlertEventKind.UPDATED,
        event="updated",
        now=moment,
        config=config,
        directory=directory,
    )
    counts.created, counts.updated = len(created), len(updated)
    counts.add(routed_new)
    counts.add(routed_changed)
    record_event(
        session,
        actor=SYSTEM,
        action=ALERT_RAISE,
        outcome="ok",
        purpose=PURPOSE.value,
        details={
            "run_id": str(run_id),
            "created": counts.created,
            "updated": counts.updated,
            "recipients": counts.recipients,
            "inbox": counts.inbox,
            "outbox": counts.outbox,
            "refused": counts.refused,
            "refusals": (routed_new.refusals + routed_changed.refusals)[:200],
        },
        at=moment,
    )
    return counts


def _new_alert(
    config: RoutingConfig, candidate: _Candidate, region: str | None, now: datetime
) -> Alert:
    explanation = candidate.explanation()
    title_zh, title_en = _title(candidate.risk, candidate.severity, explanation)
    return Alert(
        id=uuid.uuid4(),
        master_child_id=candidate.child,
        risk=candidate.risk,
        source=AlertSource.RULE if candidate.rules else AlertSource.SCORE,
        severity=candidate.severity,
        status=AlertStatus.OPEN,
        region_code=region,
        title_zh=title_zh,
        title_en=title_en,
        explanation=explanation,
        version=1,
        escalation_level=0,
        escalate_at=_first_deadline(config, candidate.severity, 0, now),
        opened_at=now,
        updated_at=now,
    )


def _insert_new(
    session: Session,
    config: RoutingConfig,
    pending: list[tuple[Alert, _Candidate]],
    now: datetime,
) -> tuple[list[Alert], list[tuple[Alert, set[str], AlertSeverity]]]:
    """Insert new alerts in bulk; one that lost a race (another transaction committed an open
    alert for the same child and risk meanwhile: the partial unique index refuses ours) is
    merged into that alert instead, so a scoring run never fails on a concurrent report."""
    if not pending:
        return [], []
    try:
        with session.begin_nested():
            session.add_all([alert for alert, _candidate in pending])
            session.flush()
        return [alert for alert, _candidate in pending], []
    except sa.exc.IntegrityError:
        pass
    inserted: list[Alert] = []
    merged: list[tuple[Alert, set[str], AlertSeverity]] = []
    for alert, candidate in pending:
        try:
            with session.begin_nested():
                session.add(alert)
                session.flush()
            inserted.append(alert)
            continue
        except sa.exc.IntegrityError:
            held = _open_alert(session, candidate.child, candidate.risk)
            if held is None:
                raise
        change = _merge(config, held, candidate, now)
        if change is not None:
            merged.append((held, *change))
    return inserted, merged


def _open_alert(session: Session, child: uuid.UUID, risk: RiskType) -> Alert | None:
    """The child's open alert for ``risk``, locked for update (PostgreSQL)."""
    return session.scalar(
        sa.select(Alert)
        .where(
            Alert.master_child_id == child,
            Alert.risk == risk,
            Alert.status != AlertStatus.CLOSED,
        )
        .with_for_update()
    )


def _merge(
    config: RoutingConfig, alert: Alert, candidate: _Candidate, now: datetime
) -> tuple[set[str], AlertSeverity] | None:
    """Fold a candidate into an open alert if it brings something material; else None."""
    before = AlertSeverity(alert.severity)
    held = dict(alert.explanation or {})
    new = candidate.keys() - explanation_keys(held)
    severity = _higher(before, candidate.severity)
    if not new and severity is before:
        return None
    known = {_rule_key(hit) for hit in held.get("rules", [])}
    rules = list(held.get("rules", []))
    rules.extend(hit for hit in candidate.rules if _rule_key(hit) not in known)
    held["rules"] = rules
    if candidate.score is not None:
        held["score"] = candidate.score
    alert.explanation = held
    alert.severity = severity
    alert.version += 1
    alert.updated_at = now
    alert.title_zh, alert.title_en = _title(RiskType(alert.risk), severity, held)
    if alert.status is AlertStatus.OPEN and severity is not before:
        sooner = _first_deadline(config, severity, alert.escalation_level, now)
        if sooner is not None and (alert.escalate_at is None or sooner < alert.escalate_at):
            alert.escalate_at = sooner
    return new, before


def _event_row(
    alert_id: uuid.UUID,
    kind: AlertEventKind,
    at: datetime,
    details: dict[str, Any],
    actor: str = SYSTEM,
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "alert_id": alert_id,
        "kind": kind,
        "actor": actor,
        "details": details,
        "at": at,
    }


def raise_report_alert(
    session: Session, report: MandatoryReport, *, now: datetime | None = None
) -> Alert:
    """A critical maltreatment alert for a mandatory report, routed at once.

    Updates the child's open maltreatment alert (critical, the report added to its
    explanation) when there is one. Links the report to the alert. Flushes.

    Raises:
        AlertError: the report has no child yet (find or create it first).
    """
    moment = now or utc_now()
    if report.master_child_id is None:
        raise AlertError("a mandatory report needs its child (found or provisional) first")
    config = load_routing()
    child = session.get(MasterChild, report.master_child_id)
    region = None if child is None else child.region_code
    entry = {
        "report_id": str(report.id),
        "receipt_no": report.receipt_no,
        "reporter_kind": str(report.reporter_kind),
        "reporter_name": report.reporter_name,
        "reporter_organisation": report.reporter_organisation,
        "harm": str(report.harm),
        "harm_label_zh": report.harm.label_zh,
        "harm_label_en": report.harm.label_en,
        "description": report.description[:2000],
        "observed_on": None if report.observed_on is None else report.observed_on.isoformat(),
        "received_at": report.received_at.isoformat() if report.received_at else None,
        "source_record_id": None
        if report.source_record_id is None
        else str(report.source_record_id),
        "provisional_child": report.provisional_child,
    }
    risk = RiskType.MALTREATMENT
    alert = _open_alert(session, report.master_child_id, risk)
    if alert is None:
        explanation: dict[str, Any] = {"rules": [], "reports": [entry]}
        title_zh, title_en = _title(risk, AlertSeverity.CRITICAL, explanation)
        alert = Alert(
            id=uuid.uuid4(),
            master_child_id=report.master_child_id,
            risk=risk,
            source=AlertSource.MANDATORY_REPORT,
            severity=AlertSeverity.CRITICAL,
            status=AlertStatus.OPEN,
            region_code=region,
            title_zh=title_zh,
            title_en=title_en,
            explanation=explanation,
            version=1,
            escalation_level=0,
            escalate_at=_first_deadline(config, AlertSeverity.CRITICAL, 0, moment),
            opened_at=moment,
            updated_at=moment,
        )
        try:
            with session.begin_nested():
                session.add(alert)
                session.flush()
        except sa.exc.IntegrityError:
            # Another transaction opened one meanwhile: add this report to it instead.
            if _open_alert(session, report.master_child_id, risk) is None:
                raise
            return raise_report_alert(session, report, now=moment)
        kind = AlertEventKind.CREATED
        event: Event = "created"
        levels: tuple[int, ...] = (0,)
    else:
        held = dict(alert.explanation or {})
        if any(r.get("report_id") == entry["report_id"] for r in held.get("reports", [])):
            report.alert_id = alert.id
            session.flush()
            return alert
        held["reports"] = [*held.get("reports", []), entry]
        alert.explanation = held
        alert.source = AlertSource.MANDATORY_REPORT
        alert.severity = AlertSeverity.CRITICAL
        alert.version += 1
        alert.updated_at = moment
        alert.title_zh, alert.title_en = _title(risk, AlertSeverity.CRITICAL, held)
        if alert.status is AlertStatus.OPEN:
            sooner = _first_deadline(config, AlertSeverity.CRITICAL, alert.escalation_level, moment)
            if sooner is not None and (alert.escalate_at is None or sooner < alert.escalate_at):
                alert.escalate_at = sooner
        kind, event = AlertEventKind.UPDATED, "updated"
        levels = tuple(range(alert.escalation_level + 1))
    report.alert_id = alert.id
    session.add(
        AlertEvent(
            alert_id=alert.id,
            kind=kind,
            actor=SYSTEM,
            at=moment,
            details={"version": alert.version, "report": report.receipt_no},
        )
    )
    session.flush()
    routed = route_alerts(
        session,
        [alert],
        levels={alert.id: levels},
        kind=kind,
        event=event,
        now=moment,
        config=config,
    )
    record_event(
        session,
        actor=SYSTEM,
        action=ALERT_RAISE,
        outcome="ok",
        purpose=PURPOSE.value,
        child_id=alert.master_child_id,
        details={
            "alert_id": str(alert.id),
            "version": alert.version,
            "report": report.receipt_no,
            "recipients": routed.recipients,
            "refused": routed.refused,
        },
        at=moment,
    )
    return alert


# --- escalation ----------------------------------------------------------------------------


def escalate_due(session: Session, *, now: datetime | None = None) -> int:
    """Move every open (unacknowledged) alert whose deadline has passed one level up.

    The next level's recipients are told (inbox kind ``escalated``, outbox event
    ``escalated``); the next deadline counts from the missed one (None after the last level).
    Returns how many alerts escalated. Flushes; the caller commits.
    """
    moment = now or utc_now()
    config = load_routing()
    due = list(
        session.scalars(
            sa.select(Alert)
            .where(
                Alert.status == AlertStatus.OPEN,
                Alert.escalate_at.is_not(None),
                Alert.escalate_at <= moment,
            )
            .order_by(Alert.escalate_at)
            # Two workers never escalate the same alert twice: the second skips locked rows.
            .with_for_update(skip_locked=True)
        )
    )
    if not due:
        return 0
    for alert in due:
        severity = AlertSeverity(alert.severity)
        missed = alert.escalate_at or moment
        alert.escalation_level += 1
        alert.version += 1
        alert.updated_at = moment
        wait = config.deadline(severity, alert.escalation_level)
        alert.escalate_at = None if wait is None else missed + wait
    session.flush()
    session.execute(
        sa.insert(AlertEvent),
        [
            _event_row(
                alert.id,
                AlertEventKind.ESCALATED,
                moment,
                {
                    "level": alert.escalation_level,
                    "version": alert.version,
                    "next_deadline": None
                    if alert.escalate_at is None
                    else alert.escalate_at.isoformat(),
                },
            )
            for alert in due
        ],
    )
    routed = route_alerts(
        session,
        due,
        levels={alert.id: (alert.escalation_level,) for alert in due},
        kind=AlertEventKind.ESCALATED,
        event="escalated",
        now=moment,
        config=config,
    )
    for alert in due:
        record_event(
            session,
            actor=SYSTEM,
            action=ALERT_ESCALATE,
            outcome="ok",
            purpose=PURPOSE.value,
            child_id=alert.master_child_id,
            details={"alert_id": str(alert.id), "level": alert.escalation_level},
            at=moment,
        )
    if routed.refused:
        session.flush()
    return len(due)


# --- answering -----------------------------------------------------------------------------


def _alert(session: Session, alert_id: uuid.UUID) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFoundError(f"no alert {alert_id}")
    return alert


def _scope(alert: Alert) -> ChildScope:
    return ChildScope(master_child_id=alert.master_child_id, region_code=alert.region_code)


def _is_recipient(session: Session, principal: Principal, alert: Alert) -> bool:
    if principal.user_id is None:
        return False
    if alert.assigned_to_id == principal.user_id:
        return True
    return (
        session.scalar(
            sa.select(AlertRecipient.id).where(
                AlertRecipient.alert_id == alert.id,
                AlertRecipient.user_id == principal.user_id,
            )
        )
        is not None
    )


def _team_covers(session: Session, principal: Principal, alert: Alert) -> bool:
    team = authorize(session, principal, Action.ALERT_TEAM, PURPOSE)
    return team.allowed and in_jurisdiction(principal, alert.region_code)


def _refuse(
    session: Session, principal: Principal, action: str, alert: Alert, reason: str
) -> AccessDeniedError:
    """Record the refusal, commit it (the request will be rolled back) and return the error."""
    audit(
        session,
        principal,
        action,
        "deny",
        PURPOSE,
        child_id=alert.master_child_id,
        details={"alert_id": str(alert.id), "reason": reason},
    )
    session.commit()
    return AccessDeniedError(reason)


def _may_respond(
    session: Session, principal: Principal, alert: Alert, action: str, now: datetime
) -> None:
    """A recipient (or assignee), or a team lead whose area covers the child; the policy
    must still allow them to see it."""
    if not (_is_recipient(session, principal, alert) or _team_covers(session, principal, alert)):
        raise _refuse(
            session,
            principal,
            action,
            alert,
            "only the alert's recipients or their team may do this",
        )
    allowed, reason = may_see_alert(
        session, principal, _scope(alert), _child_sources(session, alert.master_child_id), now=now
    )
    if not allowed:
        raise _refuse(session, principal, action, alert, reason)


def _child_sources(session: Session, master_child_id: uuid.UUID) -> list[str]:
    return child_sources(session, [master_child_id]).get(master_child_id, [])


def _open(alert: Alert) -> None:
    if alert.status is AlertStatus.CLOSED:
        raise AlertError(f"alert {alert.id} is closed")


def acknowledge(
    session: Session, principal: Principal, alert_id: uuid.UUID, *, now: datetime | None = None
) -> AlertDetail:
    """Acknowledge receipt: the alert stops escalating. Idempotent for an acknowledged alert.

    Raises:
        NotFoundError: no such alert.
        AccessDeniedError: not a recipient (or their team), or the policy refuses.
        AlertError: the alert is closed.
    """
    moment = now or utc_now()
    alert = _alert(session, alert_id)
    _may_respond(session, principal, alert, ALERT_ACK, moment)
    _open(alert)
    if alert.acknowledged_at is None:
        alert.acknowledged_at = moment
        alert.acknowledged_by = principal.username
        if alert.status is AlertStatus.OPEN:
            alert.status = AlertStatus.ACKNOWLEDGED
        alert.escalate_at = None
        alert.updated_at = moment
        _record(session, principal, alert, AlertEventKind.ACKNOWLEDGED, ALERT_ACK, moment, {})
    return _detail(session, alert)


def assign(
    session: Session,
    principal: Principal,
    alert_id: uuid.UUID,
    assignee: str,
    *,
    now: datetime | None = None,
) -> AlertDetail:
    """Assign the alert to a worker (acknowledging it if it was not yet).

    The assignee must be someone the policy lets see the alert; they become a recipient and
    find it in their inbox.

    Raises:
        NotFoundError: no such alert or user.
        AccessDeniedError: the principal may not respond, or the assignee may not see it.
        AlertError: the alert is closed.
    """
    moment = now or utc_now()
    alert = _alert(session, alert_id)
    _may_respond(session, principal, alert, ALERT_ASSIGN, moment)
    _open(alert)
    user = get_user(session, assignee)
    if not user.is_active:
        raise AlertError(f"user {assignee} is disabled")
    allowed, reason = may_see_alert(
        session,
        principal_for(session, user),
        _scope(alert),
        _child_sources(session, alert.master_child_id),
        now=moment,
    )
    if not allowed:
        raise _refuse(
            session, principal, ALERT_ASSIGN, alert, f"{assignee} may not see this alert: {reason}"
        )
    if alert.acknowledged_at is None:
        alert.acknowledged_at = moment
        alert.acknowledged_by = principal.username
    alert.assigned_to_id = user.id
    alert.assigned_at = moment
    alert.status = AlertStatus.ASSIGNED
    alert.escalate_at = None
    alert.updated_at = moment
    exists = session.scalar(
        sa.select(AlertRecipient.id).where(
            AlertRecipient.alert_id == alert.id, AlertRecipient.user_id == user.id
        )
    )
    if exists is None:
        session.add(
            AlertRecipient(
                alert_id=alert.id,
                user_id=user.id,
                level=alert.escalation_level,
                route_rule="assigned",
                added_at=moment,
            )
        )
    has_item = session.scalar(
        sa.select(InboxItem.id).where(
            InboxItem.user_id == user.id,
            InboxItem.alert_id == alert.id,
            InboxItem.alert_version == alert.version,
        )
    )
    if has_item is None:
        session.add(
            InboxItem(
                user_id=user.id,
                alert_id=alert.id,
                alert_version=alert.version,
                kind=AlertEventKind.ASSIGNED,
                created_at=moment,
            )
        )
    _record(
        session,
        principal,
        alert,
        AlertEventKind.ASSIGNED,
        ALERT_ASSIGN,
        moment,
        {"assignee": user.username},
    )
    return _detail(session, alert)


def close(
    session: Session,
    principal: Principal,
    alert_id: uuid.UUID,
    outcome: AlertOutcome,
    reason: str,
    *,
    now: datetime | None = None,
) -> AlertDetail:
    """Close the alert with its outcome and the reason (a false alarm needs a real reason).

    Raises:
        NotFoundError: no such alert.
        AccessDeniedError: not a recipient (or their team), or the policy refuses.
        AlertError: already closed, unknown outcome, or the reason is too short.
    """
    moment = now or utc_now()
    try:
        chosen = AlertOutcome(outcome)
    except ValueError as error:
        raise AlertError(f"unknown outcome {outcome!r}") from error
    text = (reason or "").strip()
    needed = MIN_FALSE_ALARM_REASON if chosen is AlertOutcome.FALSE_ALARM else MIN_REASON
    if len(text) < needed:
        raise AlertError(
            f"closing as {chosen.value} needs a reason of at least {needed} characters"
        )
    alert = _alert(session, alert_id)
    _may_respond(session, principal, alert, ALERT_CLOSE, moment)
    _open(alert)
    alert.status = AlertStatus.CLOSED
    alert.closed_at = moment
    alert.closed_by = principal.username
    alert.outcome = chosen
    alert.outcome_reason = text[:2000]
    alert.escalate_at = None
    alert.updated_at = moment
    _record(
        session,
        principal,
        alert,
        AlertEventKind.CLOSED,
        ALERT_CLOSE,
        moment,
        {"outcome": chosen.value, "reason": alert.outcome_reason},
    )
    return _detail(session, alert)


def _record(
    session: Session,
    principal: Principal,
    alert: Alert,
    kind: AlertEventKind,
    action: str,
    now: datetime,
    details: dict[str, Any],
) -> None:
    session.add(
        AlertEvent(alert_id=alert.id, kind=kind, actor=principal.username, at=now, details=details)
    )
    session.flush()
    audit(
        session,
        principal,
        action,
        "allow",
        PURPOSE,
        child_id=alert.master_child_id,
        details={"alert_id": str(alert.id), "version": alert.version, **details},
    )


# --- reading -------------------------------------------------------------------------------


def _usernames(session: Session, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = [i for i in set(ids) if i is not None]
    names: dict[uuid.UUID, str] = {}
    for chunk in _chunks(wanted):
        names.update(
            (row[0], row[1])
            for row in session.execute(sa.select(User.id, User.username).where(User.id.in_(chunk)))
        )
    return names


def _read(alert: Alert, names: dict[uuid.UUID, str]) -> AlertRead:
    risk = RiskType(alert.risk)
    return AlertRead(
        id=alert.id,
        master_child_id=alert.master_child_id,
        risk=risk.value,
        risk_label_zh=risk.label_zh,
        risk_label_en=risk.label_en,
        source=str(alert.source),
        severity=str(alert.severity),
        status=str(alert.status),
        region_code=alert.region_code,
        title_zh=alert.title_zh,
        title_en=alert.title_en,
        version=alert.version,
        escalation_level=alert.escalation_level,
        escalate_at=alert.escalate_at,
        opened_at=alert.opened_at,
        updated_at=alert.updated_at,
        acknowledged_at=alert.acknowledged_at,
        acknowledged_by=alert.acknowledged_by,
        assigned_to=None if alert.assigned_to_id is None else names.get(alert.assigned_to_id),
        closed_at=alert.closed_at,
        outcome=None if alert.outcome is None else str(alert.outcome),
        outcome_reason=alert.outcome_reason,
        explanation=alert.explanation,
    )


def _detail(session: Session, alert: Alert) -> AlertDetail:
    session.flush()
    recipients = list(
        session.execute(
            sa.select(AlertRecipient, User.username, WebhookEndpoint.name)
            .outerjoin(User, User.id == AlertRecipient.user_id)
            .outerjoin(WebhookEndpoint, WebhookEndpoint.id == AlertRecipient.endpoint_id)
            .where(AlertRecipient.alert_id == alert.id)
            .order_by(AlertRecipient.level, AlertRecipient.added_at)
        )
    )
    events = session.scalars(
        sa.select(AlertEvent).where(AlertEvent.alert_id == alert.id).order_by(AlertEvent.at)
    )
    names = _usernames(session, [alert.assigned_to_id])
    base = _read(alert, names)
    return AlertDetail(
        **base.model_dump(),
        recipients=[
            RecipientRead(
                username=username,
                endpoint_name=endpoint,
                level=row.level,
                route_rule=row.route_rule,
            )
            for row, username, endpoint in recipients
        ],
        events=[
            AlertEventRead(kind=str(e.kind), actor=e.actor, at=e.at, details=e.details or {})
            for e in events
        ],
    )


def alerts_for(
    session: Session,
    principal: Principal,
    *,
    team: bool = False,
    status: AlertStatus | None = None,
    limit: int = 200,
) -> list[AlertRead]:
    """The principal's alerts (recipient or assignee), or with ``team`` every alert in their
    area (supervisors and civil-affairs officers), open ones first, newest first.

    Raises:
        AccessDeniedError: ``team`` without the team permission.
    """
    query = sa.select(Alert)
    if team:
        decision = authorize(session, principal, Action.ALERT_TEAM, PURPOSE)
        if not decision.allowed:
            audit(
                session, principal, ALERT_LIST, "deny", PURPOSE, details={"reason": decision.reason}
            )
            session.commit()
            raise AccessDeniedError(decision.reason)
        prefix = _area_prefix(principal)
        query = query.where(Alert.region_code.like(f"{prefix}%"))
    else:
        mine = sa.select(AlertRecipient.alert_id).where(AlertRecipient.user_id == principal.user_id)
        query = query.where(sa.or_(Alert.id.in_(mine), Alert.assigned_to_id == principal.user_id))
    if status is not None:
        query = query.where(Alert.status == status)
    order = sa.case({AlertStatus.CLOSED.value: 1}, value=Alert.status, else_=0)
    alerts = list(session.scalars(query.order_by(order, Alert.updated_at.desc()).limit(limit)))
    names = _usernames(session, [a.assigned_to_id for a in alerts])
    audit(
        session,
        principal,
        ALERT_LIST,
        "allow",
        PURPOSE,
        details={"team": team, "count": len(alerts)},
    )
    return [_read(alert, names) for alert in alerts]


def _area_prefix(principal: Principal) -> str:
    from childlink.access.service import jurisdiction_prefix

    return jurisdiction_prefix(principal) or ""


def alert_for(session: Session, principal: Principal, alert_id: uuid.UUID) -> AlertDetail:
    """One alert with its recipients and history, if the principal may see it (audited).

    Raises:
        NotFoundError: no such alert.
        AccessDeniedError: not a recipient or their team, or the policy refuses.
    """
    alert = _alert(session, alert_id)
    _may_respond(session, principal, alert, ALERT_VIEW, utc_now())
    audit(
        session,
        principal,
        ALERT_VIEW,
        "allow",
        PURPOSE,
        child_id=alert.master_child_id,
        details={"alert_id": str(alert.id)},
    )
    return _detail(session, alert)


def inbox_since(
    session: Session, user_id: uuid.UUID, since: datetime | None, *, limit: int = 100
) -> list[InboxEntry]:
    """The user's inbox items created after ``since`` (all when None), oldest first."""
    query = (
        sa.select(InboxItem, Alert)
        .join(Alert, Alert.id == InboxItem.alert_id)
        .where(InboxItem.user_id == user_id)
    )
    if since is not None:
        query = query.where(InboxItem.created_at > since)
    rows = list(session.execute(query.order_by(InboxItem.created_at, InboxItem.id).limit(limit)))
    names = _usernames(session, [alert.assigned_to_id for _item, alert in rows])
    return [
        InboxEntry(
            item_id=item.id,
            created_at=item.created_at,
            kind=str(item.kind),
            read_at=item.read_at,
            alert=_read(alert, names),
        )
        for item, alert in rows
    ]


def response_times(
    session: Session,
    principal: Principal,
    *,
    by: str = "township",
    days: int = 90,
    now: datetime | None = None,
) -> ResponseTimeReport:
    """How fast alerts opened in the last ``days`` were answered, by township or by risk.

    Only alerts in the principal's area; needs the team permission.

    Raises:
        AlertError: ``by`` is neither ``township`` nor ``risk``.
        AccessDeniedError: no team permission.
    """
    if by not in RESPONSE_GROUPS:
        raise AlertError(f"group by one of {', '.join(RESPONSE_GROUPS)}, not {by!r}")
    decision = authorize(session, principal, Action.ALERT_TEAM, PURPOSE)
    if not decision.allowed:
        audit(session, principal, ALERT_LIST, "deny", PURPOSE, details={"reason": decision.reason})
        session.commit()
        raise AccessDeniedError(decision.reason)
    moment = now or utc_now()
    start = moment - timedelta(days=days)
    prefix = _area_prefix(principal)
    rows = session.execute(
        sa.select(
            Alert.region_code,
            Alert.risk,
            Alert.opened_at,
            Alert.acknowledged_at,
            Alert.escalation_level,
            Alert.status,
        ).where(
            Alert.opened_at >= start,
            Alert.opened_at <= moment,
            Alert.region_code.like(f"{prefix}%"),
        )
    ).all()
    columns: list[tuple[Any, ...]] = list(zip(*rows, strict=True)) if rows else [()] * 6
    frame = pl.DataFrame(
        {
            "region_code": list(columns[0]),
            "risk": [str(r) for r in columns[1]],
            "opened_at": list(columns[2]),
            "acknowledged_at": list(columns[3]),
            "escalation_level": list(columns[4]),
            "status": [str(s) for s in columns[5]],
        },
        schema={
            "region_code": pl.String,
            "risk": pl.String,
            "opened_at": pl.Datetime("us", "UTC"),
            "acknowledged_at": pl.Datetime("us", "UTC"),
            "escalation_level": pl.Int64,
            "status": pl.String,
        },
    )
    group = (
        pl.col("region_code").fill_null("").str.slice(0, TOWNSHIP_DIGITS).str.pad_end(12, "0")
        if by == "township"
        else pl.col("risk")
    )
    hours = (pl.col("acknowledged_at") - pl.col("opened_at")).dt.total_seconds() / 3600.0
    summary = (
        frame.with_columns(group.alias("group"), hours.alias("ack_hours"))
        .group_by("group")
        .agg(
            pl.len().alias("alerts"),
            pl.col("acknowledged_at").is_not_null().sum().alias("acknowledged"),
            pl.col("ack_hours").median().alias("median"),
            pl.col("ack_hours").quantile(0.9, interpolation="linear").alias("p90"),
            (pl.col("escalation_level") > 0).sum().alias("escalated"),
            (pl.col("status") == AlertStatus.CLOSED.value).sum().alias("closed"),
        )
        .sort("group")
    )
    labels: dict[str, str] = {}
    if by == "township" and summary.height:
        codes = summary["group"].to_list()
        for chunk in _chunks(codes):
            labels.update(
                (code, f"{name} ({code[:TOWNSHIP_DIGITS]})")
                for code, name in session.execute(
                    sa.select(Region.code, Region.name).where(Region.code.in_(chunk))
                )
            )
    result = [
        ResponseTimeRow(
            group=labels.get(row["group"], row["group"]),
            alerts=int(row["alerts"]),
            acknowledged=int(row["acknowledged"]),
            median_ack_hours=None if row["median"] is None else round(float(row["median"]), 2),
            p90_ack_hours=None if row["p90"] is None else round(float(row["p90"]), 2),
            escalated=int(row["escalated"]),
            closed=int(row["closed"]),
        )
        for row in summary.iter_rows(named=True)
    ]
    return ResponseTimeReport(rows=result, by=by)


# --- operators (CLI) -----------------------------------------------------------------------


def list_alerts(
    session: Session, *, status: AlertStatus | None = None, limit: int = 200
) -> list[AlertRead]:
    """Every alert, open first and newest first (for operators: ``childlink alerts list``)."""
    query = sa.select(Alert)
    if status is not None:
        query = query.where(Alert.status == status)
    order = sa.case({AlertStatus.CLOSED.value: 1}, value=Alert.status, else_=0)
    alerts = list(session.scalars(query.order_by(order, Alert.updated_at.desc()).limit(limit)))
    names = _usernames(session, [a.assigned_to_id for a in alerts])
    return [_read(alert, names) for alert in alerts]


def alert_detail(session: Session, alert_id: uuid.UUID) -> AlertDetail:
    """One alert with recipients and history, without an access check (operators).

    Raises:
        NotFoundError: no such alert.
    """
    return _detail(session, _alert(session, alert_id))


def set_contact(
    session: Session, username: str, channel: Channel, address: str, *, actor: str = SYSTEM
) -> ContactAddress:
    """Set (or replace) a person's e-mail address or mobile number for alert notices.

    Raises:
        NotFoundError: no such user.
        AlertError: a channel other than e-mail or SMS, or an implausible address.
    """
    if channel not in (Channel.EMAIL, Channel.SMS):
        raise AlertError("contact addresses are e-mail addresses or mobile numbers")
    text = address.strip()
    if channel is Channel.EMAIL and ("@" not in text or len(text) < 5):
        raise AlertError(f"not an e-mail address: {text!r}")
    if channel is Channel.SMS and not text.lstrip("+").isdigit():
        raise AlertError(f"not a mobile number: {text!r}")
    user = get_user(session, username)
    contact = session.scalar(
        sa.select(ContactAddress).where(
            ContactAddress.user_id == user.id, ContactAddress.channel == channel
        )
    )
    if contact is None:
        contact = ContactAddress(user_id=user.id, channel=channel, address=text)
        session.add(contact)
    contact.address = text
    contact.is_active = True
    session.flush()
    record_event(
        session,
        actor=actor,
        action=ALERT_CONTACT,
        outcome="ok",
        details={"username": username, "channel": channel.value},
    )
    return contact
