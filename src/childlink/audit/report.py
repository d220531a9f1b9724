"""Supervision reports over the audit trail: who looked at which children, for which purpose,
and the patterns a supervisor should look at.

Findings (thresholds are arguments, defaults below):

* ``outside_caseload`` - a user viewed many distinct children that were not in their caseload
  (entries whose details say ``in_caseload: false``);
* ``night_bulk`` - many distinct children viewed in one night, 22:00-06:00 Asia/Shanghai;
* ``repeated_denials`` - many denied requests by one user;
* ``break_glass`` - every break-glass use (each must be reviewed).

Entries are grouped by the ``agency`` and ``role`` their details carry (access events should
include :func:`principal_details`).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from childlink.audit.models import AuditEntry

LOCAL_ZONE = ZoneInfo("Asia/Shanghai")
NIGHT_START = time(22, 0)
NIGHT_END = time(6, 0)
VIEW_ACTIONS = frozenset({"child.view", "record.export", "child.profile"})
OUTSIDE_CASELOAD_THRESHOLD = 10
NIGHT_BULK_THRESHOLD = 5
DENIAL_THRESHOLD = 3


@dataclass
class UserActivity:
    """One user's looks at children in the window."""

    actor: str
    agency: str | None
    role: str | None
    views: int = 0
    denials: int = 0
    children: set[str] = field(default_factory=set)
    purposes: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        document = asdict(self)
        document["children"] = sorted(self.children)
        document["children_viewed"] = len(self.children)
        return document


@dataclass(frozen=True)
class Finding:
    """An unusual pattern for the supervisor."""

    kind: str
    actor: str
    count: int
    message: str
    seqs: tuple[int, ...] = ()


@dataclass
class SupervisionReport:
    """Activity per user and the findings."""

    since: datetime | None
    until: datetime | None
    agency: str | None
    user: str | None
    users: list[UserActivity]
    findings: list[Finding]

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": None if self.since is None else self.since.isoformat(),
            "until": None if self.until is None else self.until.isoformat(),
            "agency": self.agency,
            "user": self.user,
            "users": [u.as_dict() for u in self.users],
            "findings": [asdict(f) for f in self.findings],
        }


def is_night(moment: datetime) -> bool:
    """Is ``moment`` between 22:00 and 06:00 in Asia/Shanghai?"""
    local = moment.astimezone(LOCAL_ZONE).time()
    return local >= NIGHT_START or local < NIGHT_END


def night_of(moment: datetime) -> date:
    """The local date the night started on (01:00 on the 5th belongs to the night of the 4th)."""
    local = moment.astimezone(LOCAL_ZONE)
    return (local - timedelta(hours=6)).date()


def build_supervision_report(
    session: Session,
    *,
    agency: str | None = None,
    user: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    outside_caseload_threshold: int = OUTSIDE_CASELOAD_THRESHOLD,
    night_bulk_threshold: int = NIGHT_BULK_THRESHOLD,
    denial_threshold: int = DENIAL_THRESHOLD,
) -> SupervisionReport:
    """Summarise the trail per user and list unusual patterns (read only)."""
    query = sa.select(AuditEntry).order_by(AuditEntry.seq)
    if user is not None:
        query = query.where(AuditEntry.actor == user)
    if since is not None:
        query = query.where(AuditEntry.created_at >= since.astimezone(UTC))
    if until is not None:
        query = query.where(AuditEntry.created_at < until.astimezone(UTC))
    users: dict[str, UserActivity] = {}
    outside: dict[str, set[str]] = defaultdict(set)
    outside_seqs: dict[str, list[int]] = defaultdict(list)
    nights: dict[tuple[str, date], set[str]] = defaultdict(set)
    night_seqs: dict[tuple[str, date], list[int]] = defaultdict(list)
    denials: dict[str, list[int]] = defaultdict(list)
    findings: list[Finding] = []
    for entry in session.scalars(query).yield_per(2_000):
        details = entry.details or {}
        entry_agency = details.get("agency")
        if agency is not None and entry_agency != agency:
            continue
        activity = users.setdefault(
            entry.actor, UserActivity(entry.actor, entry_agency, details.get("role"))
        )
        # Log-in and account events carry no role or agency; the first access event does.
        activity.agency = activity.agency or entry_agency
        activity.role = activity.role or details.get("role")
        if entry.outcome == "deny":
            activity.denials += 1
            denials[entry.actor].append(entry.seq)
        if entry.action == "break_glass" and entry.outcome == "allow":
            findings.append(
                Finding(
                    "break_glass",
                    entry.actor,
                    1,
                    f"{entry.actor} broke the glass for child {entry.child_id} at "
                    f"{_local(entry.created_at)}: {details.get('reason', '')}",
                    (entry.seq,),
                )
            )
        if entry.action not in VIEW_ACTIONS or entry.outcome not in ("allow", "ok"):
            continue
        activity.views += 1
        if entry.purpose:
            activity.purposes[entry.purpose] = activity.purposes.get(entry.purpose, 0) + 1
        if entry.child_id is None:
            continue
        child = str(entry.child_id)
        activity.children.add(child)
        if details.get("in_caseload") is False:
            outside[entry.actor].add(child)
            outside_seqs[entry.actor].append(entry.seq)
        if is_night(entry.created_at):
            key = (entry.actor, night_of(entry.created_at))
            nights[key].add(child)
            night_seqs[key].append(entry.seq)
    for actor, children in outside.items():
        if len(children) >= outside_caseload_threshold:
            findings.append(
                Finding(
                    "outside_caseload",
                    actor,
                    len(children),
                    f"{actor} viewed {len(children)} children outside their caseload",
                    tuple(outside_seqs[actor]),
                )
            )
    for (actor, night), children in nights.items():
        if len(children) >= night_bulk_threshold:
            findings.append(
                Finding(
                    "night_bulk",
                    actor,
                    len(children),
                    f"{actor} viewed {len(children)} children in the night of {night} "
                    "(22:00-06:00 Asia/Shanghai)",
                    tuple(night_seqs[(actor, night)]),
                )
            )
    for actor, seqs in denials.items():
        if len(seqs) >= denial_threshold:
            findings.append(
                Finding(
                    "repeated_denials",
                    actor,
                    len(seqs),
                    f"{actor} was refused {len(seqs)} times",
                    tuple(seqs),
                )
            )
    findings.sort(key=lambda f: (f.kind, f.actor))
    ordered = sorted(users.values(), key=lambda u: (-len(u.children), u.actor))
    return SupervisionReport(since, until, agency, user, ordered, findings)


def _local(moment: datetime) -> str:
    return moment.astimezone(LOCAL_ZONE).strftime("%Y-%m-%d %H:%M")


def access_details(
    principal_role: str,
    agency: str | None,
    *,
    in_caseload: bool | None = None,
    reason: str | None = None,
    rule: str | None = None,
    break_glass: bool = False,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``details`` of an access event in the shape the report reads."""
    details: dict[str, Any] = {"role": principal_role, "agency": agency}
    if in_caseload is not None:
        details["in_caseload"] = in_caseload
    if reason:
        details["reason"] = reason
    if rule:
        details["rule"] = rule
    if break_glass:
        details["break_glass"] = True
    if extra:
        details.update(extra)
    return details


def children_of(report: SupervisionReport, actor: str) -> list[uuid.UUID]:
    """The children an actor viewed, as UUIDs (for drill-down)."""
    for activity in report.users:
        if activity.actor == actor:
            return [uuid.UUID(c) for c in sorted(activity.children)]
    return []
