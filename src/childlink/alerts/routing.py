"""Who hears of an alert: declarative routing rules, the access-policy check, and the writes.

The rules (``alerts/routing.yaml``) name, per escalation level, risk and severity, the roles
whose jurisdiction covers the child, the child's lead professional (caseload) and the agency
kinds whose department systems get a webhook. :func:`route_alerts` resolves them for many
alerts at once (users, agencies, endpoints, contacts and case assignments are read in bulk)
and asks the access policy about every person: only someone who may open the child for case
work *and* see the ``risk`` field group of at least one of the child's sources (the same test
as :func:`childlink.risk.service.risk_visible`) becomes a recipient. A refusal becomes an
``route_refused`` event with the policy's reason, and nothing is sent to that person.

For each recipient it writes, in the caller's transaction: the :class:`AlertRecipient` row,
an :class:`InboxItem` for the alert's current version (people), and one outbox message per
channel (:func:`childlink.alerts.outbox.idempotency_key`: a person's active e-mail and SMS
addresses, an agency's active webhooks).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Final, Literal

import sqlalchemy as sa
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.orm import Session

from childlink.access.choices import AgencyKind, FieldGroup, Purpose, Role
from childlink.access.models import Agency
from childlink.access.policy import shipped_engine
from childlink.access.principal import Principal
from childlink.access.service import (
    Action,
    ChildScope,
    Visibility,
    agency_kind_of,
    authorize,
    group_visibility,
    jurisdiction_prefix,
)
from childlink.alerts.choices import (
    AlertEventKind,
    AlertSeverity,
    AlertSource,
    Channel,
    DeliveryStatus,
)
from childlink.alerts.models import (
    Alert,
    AlertEvent,
    AlertRecipient,
    ContactAddress,
    InboxItem,
    OutboxMessage,
    WebhookEndpoint,
)
from childlink.alerts.outbox import idempotency_key
from childlink.errors import ChildLinkError
from childlink.identity.models import CaseAssignment, User
from childlink.identity.service import principal_for
from childlink.risk.choices import RiskType
from childlink.sources.choices import RecordStatus
from childlink.sources.models import DataSource, SourceRecord

ROUTING_FILE: Final = Path(__file__).with_name("routing.yaml")
#: Rows per ``IN (...)`` list.
CHUNK: Final = 500
#: The purpose every routing decision is taken for: responding to a child at risk.
ROUTE_PURPOSE: Final = Purpose.CASE_WORK
SYSTEM: Final = "system"
ANY: Final = "*"

Event = Literal["created", "updated", "escalated"]


class RoutingConfigError(ChildLinkError):
    """The routing rules file cannot be used as written (the message says where and why)."""


# --- the rules ---------------------------------------------------------------------------


class RouteRule(BaseModel):
    """One routing rule: at this level, for these risks and severities, reach these people."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=100)
    description: str = ""
    level: int = Field(ge=0)
    risks: tuple[RiskType, ...] | Literal["*"] = ANY
    severities: tuple[AlertSeverity, ...] | Literal["*"] = ANY
    roles: tuple[Role, ...] = ()
    caseload: bool = False
    agency_kinds: tuple[AgencyKind, ...] = ()

    @field_validator("risks", "severities", mode="before")
    @classmethod
    def _star_or_list(cls, value: object) -> object:
        if isinstance(value, str) and value != ANY:
            return [value]
        return value

    def applies(self, risk: RiskType, severity: AlertSeverity, level: int) -> bool:
        """Does this rule serve an alert of ``risk`` and ``severity`` at ``level``?"""
        return (
            self.level == level
            and (self.risks == ANY or risk in self.risks)
            and (self.severities == ANY or severity in self.severities)
        )


class RoutingConfig(BaseModel):
    """The whole routing file: deadlines per severity and the rules."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    deadlines: dict[AlertSeverity, tuple[float, ...]]
    rules: tuple[RouteRule, ...] = Field(min_length=1)

    @field_validator("deadlines")
    @classmethod
    def _deadlines(
        cls, value: dict[AlertSeverity, tuple[float, ...]]
    ) -> dict[AlertSeverity, tuple[float, ...]]:
        missing = [str(s) for s in AlertSeverity if s not in value]
        if missing:
            raise ValueError(f"no deadlines for severity {', '.join(missing)}")
        for severity, hours in value.items():
            if any(h <= 0 for h in hours):
                raise ValueError(f"{severity}: every deadline must be a positive number of hours")
        return value

    def max_level(self, severity: AlertSeverity) -> int:
        """The highest level an alert of ``severity`` can reach."""
        return len(self.deadlines[severity])

    def deadline(self, severity: AlertSeverity, level: int) -> timedelta | None:
        """How long an alert may wait unacknowledged at ``level`` (None: it stays there)."""
        hours = self.deadlines[severity]
        return timedelta(hours=hours[level]) if level < len(hours) else None

    def rules_for(self, risk: RiskType, severity: AlertSeverity, level: int) -> list[RouteRule]:
        """The rules that serve an alert at ``level``."""
        return [rule for rule in self.rules if rule.applies(risk, severity, level)]


def _check_rules(config: RoutingConfig) -> list[str]:
    problems = []
    seen: set[str] = set()
    top = max(len(hours) for hours in config.deadlines.values())
    for index, rule in enumerate(config.rules):
        where = f"rules[{index}] ({rule.id})"
        if rule.id in seen:
            problems.append(f"{where}: duplicate rule id {rule.id!r}")
        seen.add(rule.id)
        if not (rule.roles or rule.caseload or rule.agency_kinds):
            problems.append(f"{where}: reaches nobody (give roles, caseload or agency_kinds)")
        if rule.level > top:
            problems.append(
                f"{where}: level {rule.level} is never reached (deadlines allow levels 0-{top})"
            )
    if not any(rule.level == 0 for rule in config.rules):
        problems.append("rules: no rule for level 0, so new alerts would reach nobody")
    return problems


def parse_routing(data: object, *, source: str = "routing rules") -> RoutingConfig:
    """Validate routing rules already read from YAML.

    Raises:
        RoutingConfigError: with one line per problem, each naming the rule and the field.
    """
    if not isinstance(data, dict):
        raise RoutingConfigError(f"{source}: expected a mapping with 'deadlines' and 'rules'")
    try:
        config = RoutingConfig.model_validate(data)
    except ValidationError as error:
        lines = []
        for problem in error.errors():
            location = ".".join(str(part) for part in problem["loc"]) or "(top)"
            lines.append(f"  {location}: {problem['msg']}")
        raise RoutingConfigError(f"{source} is invalid:\n" + "\n".join(lines)) from None
    problems = _check_rules(config)
    if problems:
        raise RoutingConfigError(f"{source} is invalid:\n" + "\n".join(f"  {p}" for p in problems))
    return config


def load_routing(path: Path | None = None) -> RoutingConfig:
    """The routing rules of ``path`` (default: the shipped ``routing.yaml``, read once).

    Raises:
        RoutingConfigError: unreadable or invalid file.
    """
    if path is None:
        return _shipped()
    return _read(path)


@lru_cache(maxsize=1)
def _shipped() -> RoutingConfig:
    return _read(ROUTING_FILE)


def _read(path: Path) -> RoutingConfig:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise RoutingConfigError(f"cannot read routing rules {path}: {error}") from error
    return parse_routing(data, source=str(path))


# --- areas ---------------------------------------------------------------------------------


def covers(area_code: str | None, region_code: str | None) -> bool:
    """Is ``region_code`` inside the area of ``area_code`` (a region subtree)?"""
    if not area_code or not region_code:
        return False
    probe = Principal(
        user_id=None,
        username="",
        role=Role.CHILD_DIRECTOR,
        agency_code=None,
        jurisdiction=area_code,
    )
    prefix = jurisdiction_prefix(probe)
    return prefix is not None and region_code.startswith(prefix)


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


# --- the directory: everything routing needs, read in bulk --------------------------------


@dataclass
class _Person:
    """A user and, once asked for, the principal the policy engine sees (``principal_for``)."""

    user: User
    principal: Principal | None = None

    def as_principal(self, session: Session) -> Principal:
        if self.principal is None:
            self.principal = principal_for(session, self.user)
        return self.principal


@dataclass
class Directory:
    """Users, agencies, webhooks, contacts, case assignments and the children's sources."""

    people: dict[uuid.UUID, _Person] = field(default_factory=dict)
    by_role: dict[Role, list[_Person]] = field(default_factory=dict)
    agencies: dict[uuid.UUID, Agency] = field(default_factory=dict)
    endpoints: dict[uuid.UUID, list[WebhookEndpoint]] = field(default_factory=dict)
    contacts: dict[uuid.UUID, list[ContactAddress]] = field(default_factory=dict)
    caseload: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)
    sources: dict[uuid.UUID, list[str]] = field(default_factory=dict)
    decisions: dict[tuple[uuid.UUID, uuid.UUID], tuple[bool, str]] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session, children: Sequence[uuid.UUID]) -> Directory:
        """Read what routing needs for these children (a handful of queries, chunked)."""
        found = cls()
        users = list(session.scalars(sa.select(User).where(User.is_active.is_(True))))
        for agency in session.scalars(sa.select(Agency)):
            found.agencies[agency.id] = agency
        wanted = list(dict.fromkeys(children))
        assignments: list[tuple[uuid.UUID, uuid.UUID]] = []
        for chunk in _chunks(wanted):
            assignments.extend(
                (row[0], row[1])
                for row in session.execute(
                    sa.select(CaseAssignment.master_child_id, CaseAssignment.user_id).where(
                        CaseAssignment.master_child_id.in_(chunk)
                    )
                )
            )
        for child, user_id in assignments:
            found.caseload.setdefault(child, []).append(user_id)
        found.sources = child_sources(session, wanted)
        for user in users:
            person = _Person(user)
            found.people[user.id] = person
            found.by_role.setdefault(user.role, []).append(person)
        for endpoint in session.scalars(
            sa.select(WebhookEndpoint).where(WebhookEndpoint.is_active.is_(True))
        ):
            found.endpoints.setdefault(endpoint.agency_id, []).append(endpoint)
        for contact in session.scalars(
            sa.select(ContactAddress).where(ContactAddress.is_active.is_(True))
        ):
            found.contacts.setdefault(contact.user_id, []).append(contact)
        return found

    def person(self, session: Session, user_id: uuid.UUID) -> _Person | None:
        """A user known to the directory (or read now: e.g. an assignee)."""
        known = self.people.get(user_id)
        if known is not None:
            return known
        user = session.get(User, user_id)
        if user is None or not user.is_active:
            return None
        known = _Person(user)
        self.people[user_id] = known
        return known


def child_sources(session: Session, children: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    """The sources each child has (unquarantined) records from: the policy decides per source."""
    found: dict[uuid.UUID, list[str]] = {}
    for chunk in _chunks(list(dict.fromkeys(children))):
        for child, code in session.execute(
            sa.select(SourceRecord.master_child_id, DataSource.code)
            .join(DataSource, SourceRecord.source_id == DataSource.id)
            .where(
                SourceRecord.master_child_id.in_(chunk),
                SourceRecord.status != RecordStatus.QUARANTINED,
            )
            .distinct()
        ):
            if child is not None:
                found.setdefault(child, []).append(code)
    return found


def may_see_alert(
    session: Session,
    principal: Principal,
    child: ChildScope,
    sources: Sequence[str],
    *,
    now: datetime | None = None,
) -> tuple[bool, str]:
    """May ``principal`` be shown an alert about ``child``, and why (not)?

    Three questions, all asked of the access policy: may they respond to alerts (case work),
    may they open this child for case work, and is the ``risk`` field group (scores, flags and
    alerts) granted to them for at least one of the child's sources.
    """
    respond = authorize(session, principal, Action.ALERT_RESPOND, ROUTE_PURPOSE, now=now)
    if not respond.allowed:
        return False, respond.reason
    decision = authorize(session, principal, Action.CHILD_VIEW, ROUTE_PURPOSE, child, now=now)
    if not decision.allowed:
        return False, decision.reason
    kind = agency_kind_of(session, principal)
    engine = shipped_engine()
    for code in sources:
        # No grant of the risk group for this source at all: hidden, without asking the
        # database about scopes and legal bases (group_visibility would say the same).
        table = engine.group_grants(
            principal.role, "" if kind is None else kind.value, code, ROUTE_PURPOSE
        )
        if FieldGroup.RISK not in table:
            continue
        groups = group_visibility(session, principal, ROUTE_PURPOSE, child, code, now=now)
        if groups.get(FieldGroup.RISK) not in (None, Visibility.HIDDEN):
            return True, decision.reason
    return False, (
        f"a {principal.role.value}'s data-sharing grants do not include risk information "
        "for this child's records"
    )


# --- routing -------------------------------------------------------------------------------


@dataclass
class RouteCounts:
    """What one routing pass wrote."""

    recipients: int = 0
    inbox: int = 0
    outbox: int = 0
    refused: int = 0
    refusals: list[dict[str, str]] = field(default_factory=list)


def outside_title(alert: Alert) -> tuple[str, str]:
    """The title that leaves the app: risk, severity and what raised it, never the facts.

    The in-app title names the rule that hit ("absent 10 of 30 days and on 低保"); a school's
    or a police station's system, an e-mail or an SMS must not learn a family's allowance or a
    child's injury from it. The facts are behind the link, where the policy decides.
    """
    risk = RiskType(alert.risk)
    severity = AlertSeverity(alert.severity)
    source = AlertSource(alert.source)
    return (
        f"{risk.label_zh}（{severity.label_zh}）：{source.label_zh}",
        f"{risk.label_en} ({severity.label_en}): {source.label_en}",
    )


def alert_payload(alert: Alert, event: Event) -> dict[str, Any]:
    """What every channel sends: no names, no ID numbers, no facts; the child's reference, the
    risk and severity, and a link."""
    title_zh, title_en = outside_title(alert)
    return {
        "alert_id": str(alert.id),
        "version": alert.version,
        "risk": str(alert.risk),
        "severity": str(alert.severity),
        "status": str(alert.status),
        "title_zh": title_zh,
        "title_en": title_en,
        "child_ref": str(alert.master_child_id),
        "region_code": alert.region_code,
        "url": f"/alerts/{alert.id}",
        "escalation_level": alert.escalation_level,
        "event": event,
    }


def route_alerts(
    session: Session,
    alerts: Sequence[Alert],
    *,
    levels: dict[uuid.UUID, Sequence[int]],
    kind: AlertEventKind,
    event: Event,
    now: datetime,
    config: RoutingConfig | None = None,
    directory: Directory | None = None,
) -> RouteCounts:
    """Route each alert by the rules of its ``levels``: recipients, inbox items, outbox rows.

    Alerts must be flushed (have ids) and carry the version to announce. People the policy
    refuses get a ``route_refused`` event and nothing else. Existing recipients of an alert
    are not added again, but are told of the new version when a rule of ``levels`` names
    them. Flushes; the caller commits.
    """
    counts = RouteCounts()
    if not alerts:
        return counts
    rules = config or load_routing()
    found = directory or Directory.load(session, [alert.master_child_id for alert in alerts])
    existing: dict[tuple[uuid.UUID, str, uuid.UUID], AlertRecipient] = {}
    alert_ids = [alert.id for alert in alerts]
    for chunk in _chunks(alert_ids):
        for row in session.scalars(
            sa.select(AlertRecipient).where(AlertRecipient.alert_id.in_(chunk))
        ):
            if row.user_id is not None:
                existing[(row.alert_id, "user", row.user_id)] = row
            elif row.endpoint_id is not None:
                existing[(row.alert_id, "endpoint", row.endpoint_id)] = row
    inbox_rows: list[dict[str, Any]] = []
    event_rows: list[dict[str, Any]] = []
    messages: list[tuple[Alert, AlertRecipient, Channel, str]] = []

    for alert in alerts:
        child = ChildScope(master_child_id=alert.master_child_id, region_code=alert.region_code)
        sources = found.sources.get(alert.master_child_id, [])
        users: dict[uuid.UUID, tuple[RouteRule, int]] = {}
        agencies: dict[uuid.UUID, tuple[RouteRule, int]] = {}
        for level in levels.get(alert.id, (alert.escalation_level,)):
            for rule in rules.rules_for(RiskType(alert.risk), AlertSeverity(alert.severity), level):
                for role in rule.roles:
                    for person in found.by_role.get(role, []):
                        if covers(person.user.jurisdiction_code, alert.region_code):
                            users.setdefault(person.user.id, (rule, level))
                if rule.caseload:
                    for user_id in found.caseload.get(alert.master_child_id, []):
                        users.setdefault(user_id, (rule, level))
                for agency in found.agencies.values():
                    if agency.kind in rule.agency_kinds and covers(
                        agency.region_code, alert.region_code
                    ):
                        agencies.setdefault(agency.id, (rule, level))
        reached: list[str] = []
        for user_id, (rule, level) in users.items():
            who = found.person(session, user_id)
            if who is None:
                continue
            key = (who.user.id, alert.master_child_id)
            if key not in found.decisions:
                found.decisions[key] = may_see_alert(
                    session, who.as_principal(session), child, sources, now=now
                )
            allowed, reason = found.decisions[key]
            if not allowed:
                counts.refused += 1
                refusal = {
                    "username": who.user.username,
                    "role": who.user.role.value,
                    "rule": rule.id,
                    "level": str(level),
                    "reason": reason,
                }
                counts.refusals.append(refusal | {"alert_id": str(alert.id)})
                event_rows.append(_event(alert.id, AlertEventKind.ROUTE_REFUSED, now, refusal))
                continue
            recipient = existing.get((alert.id, "user", user_id))
            if recipient is None:
                recipient = AlertRecipient(
                    id=uuid.uuid4(),
                    alert_id=alert.id,
                    user_id=user_id,
                    level=level,
                    route_rule=rule.id,
                    added_at=now,
                )
                session.add(recipient)
                existing[(alert.id, "user", user_id)] = recipient
                counts.recipients += 1
            reached.append(who.user.username)
            inbox_rows.append(
                {
                    "id": uuid.uuid4(),
                    "user_id": user_id,
                    "alert_id": alert.id,
                    "alert_version": alert.version,
                    "kind": kind,
                    "created_at": now,
                }
            )
            for contact in found.contacts.get(user_id, []):
                if contact.channel in (Channel.EMAIL, Channel.SMS):
                    messages.append((alert, recipient, Channel(contact.channel), contact.address))
            agency_id = who.user.agency_id
            if agency_id is not None and agency_id not in agencies:
                agencies[agency_id] = (rule, level)
        systems: list[str] = []
        for agency_id, (rule, level) in agencies.items():
            for endpoint in found.endpoints.get(agency_id, []):
                recipient = existing.get((alert.id, "endpoint", endpoint.id))
                if recipient is None:
                    recipient = AlertRecipient(
                        id=uuid.uuid4(),
                        alert_id=alert.id,
                        endpoint_id=endpoint.id,
                        level=level,
                        route_rule=rule.id,
                        added_at=now,
                    )
                    session.add(recipient)
                    existing[(alert.id, "endpoint", endpoint.id)] = recipient
                    counts.recipients += 1
                systems.append(endpoint.name)
                messages.append((alert, recipient, Channel.WEBHOOK, endpoint.url))
        event_rows.append(
            _event(
                alert.id,
                AlertEventKind.ROUTED,
                now,
                {
                    "version": alert.version,
                    "levels": list(levels.get(alert.id, (alert.escalation_level,))),
                    "users": sorted(reached),
                    "endpoints": sorted(systems),
                },
            )
        )
    session.flush()
    counts.inbox = _insert_inbox(session, inbox_rows)
    counts.outbox = _queue(session, messages, event, now)
    if event_rows:
        session.execute(sa.insert(AlertEvent), event_rows)
    session.flush()
    return counts


def _event(
    alert_id: uuid.UUID, kind: AlertEventKind, at: datetime, details: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "alert_id": alert_id,
        "kind": kind,
        "actor": SYSTEM,
        "details": details,
        "at": at,
    }


def _insert_inbox(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert inbox items, skipping any the user already has for that alert version."""
    if not rows:
        return 0
    have: set[tuple[uuid.UUID, uuid.UUID, int]] = set()
    for chunk in _chunks(list({row["alert_id"] for row in rows})):
        have.update(
            (r[0], r[1], r[2])
            for r in session.execute(
                sa.select(InboxItem.user_id, InboxItem.alert_id, InboxItem.alert_version).where(
                    InboxItem.alert_id.in_(chunk)
                )
            )
        )
    fresh = []
    for row in rows:
        key = (row["user_id"], row["alert_id"], row["alert_version"])
        if key not in have:
            have.add(key)
            fresh.append(row)
    if fresh:
        session.execute(sa.insert(InboxItem), fresh)
    return len(fresh)


def _queue(
    session: Session,
    messages: list[tuple[Alert, AlertRecipient, Channel, str]],
    event: Event,
    now: datetime,
) -> int:
    """Queue outbox messages in bulk, with :mod:`~childlink.alerts.outbox`'s idempotency keys.

    The same as :func:`childlink.alerts.outbox.enqueue` for each message, with one look-up of
    existing keys per chunk instead of one per message.
    """
    if not messages:
        return 0
    keyed = {idempotency_key(a, r, c): (a, r, c, address) for a, r, c, address in messages}
    keys = list(keyed)
    for chunk in _chunks(keys):
        for taken in session.scalars(
            sa.select(OutboxMessage.idempotency_key).where(OutboxMessage.idempotency_key.in_(chunk))
        ):
            keyed.pop(taken, None)
    rows = [
        {
            "id": uuid.uuid4(),
            "alert_id": alert.id,
            "recipient_id": recipient.id,
            "channel": channel,
            "address": address,
            "idempotency_key": key,
            "payload": alert_payload(alert, event),
            "status": DeliveryStatus.PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for key, (alert, recipient, channel, address) in keyed.items()
    ]
    if rows:
        session.execute(sa.insert(OutboxMessage), rows)
    return len(rows)


def describe_rules(config: RoutingConfig | None = None) -> list[dict[str, Any]]:
    """The rules as plain rows (for ``childlink alerts routes`` and the docs)."""
    rules = config or load_routing()
    return [
        {
            "id": rule.id,
            "level": rule.level,
            "risks": ANY if rule.risks == ANY else [str(r) for r in rule.risks],
            "severities": ANY if rule.severities == ANY else [str(s) for s in rule.severities],
            "roles": [str(role) for role in rule.roles],
            "caseload": rule.caseload,
            "agency_kinds": [str(kind) for kind in rule.agency_kinds],
            "description": rule.description,
        }
        for rule in rules.rules
    ]
