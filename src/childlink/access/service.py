"""Authorisation in one place: who may do what, to which child, for which purpose.

Everything that shows or changes child data asks here first: :func:`authorize` for an action
(with the reason a person can read), :func:`field_visibility` for the fields of one source of
one child, :func:`jurisdiction_prefix` to restrict searches. Decisions come from the declarative
data-sharing agreements (``access/policies/``, enforced through pycasbin behind
:mod:`childlink.access.policy`), the principal's jurisdiction and caseload, active break-glass
grants and the child's legal bases (:mod:`childlink.access.consent`). Nothing here writes the
audit trail except :func:`start_break_glass`; callers record their decisions.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Session

from childlink.access.choices import AgencyKind, FieldGroup, Purpose, Role, Visibility
from childlink.access.consent import basis_covers
from childlink.access.fields import FIELD_GROUPS, field_group, source_domain
from childlink.access.models import Agency, BreakGlassGrant
from childlink.access.policy import (
    ANY,
    CHILD_DATA_PURPOSES,
    Grant,
    GroupGrant,
    PolicyEngine,
    Scope,
    shipped_engine,
)
from childlink.access.principal import Principal
from childlink.errors import AccessDeniedError, ChildLinkError
from childlink.store.base import utc_now

__all__ = [
    "FIELD_GROUPS",
    "Action",
    "ChildScope",
    "Decision",
    "Visibility",
    "authorize",
    "field_visibility",
    "group_visibility",
    "jurisdiction_prefix",
    "mask",
    "record_decision",
    "start_break_glass",
]

BREAK_GLASS_MIN_REASON = 10
BREAK_GLASS_MAX_MINUTES = 240
NO_REGION = "~"
"""Prefix that matches no region code: the search limit of a principal without jurisdiction."""
_LEVEL_DIGITS = (2, 4, 6, 9, 12)


class Action(StrEnum):
    """What a principal asks to do."""

    CHILD_SEARCH = "child.search"
    CHILD_VIEW = "child.view"
    RECORD_EXPORT = "record.export"
    REVIEW_DECIDE = "review.decide"
    AUDIT_READ = "audit.read"
    USERS_MANAGE = "users.manage"
    STATS_READ = "stats.read"
    DATA_PUSH = "data.push"
    BREAK_GLASS = "break_glass"
    ALERT_RESPOND = "alert.respond"
    ALERT_TEAM = "alert.team"
    REPORT_FILE = "report.file"


_CHILD_ACTIONS = frozenset({Action.CHILD_SEARCH, Action.CHILD_VIEW, Action.RECORD_EXPORT})


@dataclass(frozen=True)
class ChildScope:
    """The child an action concerns, as far as the policy needs to know it."""

    master_child_id: uuid.UUID
    region_code: str | None


@dataclass(frozen=True)
class Decision:
    """An allow or deny with the reason a person can read and the rule that decided it."""

    allowed: bool
    reason: str
    rule: str | None = None
    break_glass: bool = False


class BreakGlassError(ChildLinkError):
    """A break-glass request that cannot be granted as asked (reason too short, ...)."""


def _engine() -> PolicyEngine:
    return shipped_engine()


def _purpose(value: Purpose | str | None) -> Purpose | None:
    if value is None or isinstance(value, Purpose):
        return value
    try:
        return Purpose(value)
    except ValueError:
        return None


def agency_kind_of(session: Session, principal: Principal) -> AgencyKind | None:
    """The kind of the principal's agency (None without one); cached on the session."""
    if principal.agency_code is None:
        return None
    cache: dict[str, AgencyKind | None] = session.info.setdefault("childlink.agency_kinds", {})
    if principal.agency_code not in cache:
        cache[principal.agency_code] = session.scalar(
            sa.select(Agency.kind).where(Agency.code == principal.agency_code)
        )
    return cache[principal.agency_code]


def _kind_value(kind: AgencyKind | None) -> str:
    return "" if kind is None else kind.value


def jurisdiction_prefix(principal: Principal) -> str | None:
    """The region-code prefix of the principal's area, for filtering searches.

    ``130102001000`` (a township) gives ``130102001``; a principal without a jurisdiction gets
    :data:`NO_REGION`, which matches no region (deny by default). ``None`` (no limit) is not
    returned for any principal today: every role is bound to an area.
    """
    code = (principal.jurisdiction or "").strip()
    if not code:
        return NO_REGION
    if not code.isdigit():
        return NO_REGION
    significant = code.rstrip("0") or code[:2]
    for digits in _LEVEL_DIGITS:
        if len(significant) <= digits:
            return code.ljust(12, "0")[:digits]
    return code[:12]


def in_jurisdiction(principal: Principal, region_code: str | None) -> bool:
    """Is a child's region inside the principal's area (the subtree of its jurisdiction)?"""
    prefix = jurisdiction_prefix(principal)
    if region_code is None or prefix is None or prefix == NO_REGION:
        return prefix is None
    return region_code.startswith(prefix)


def active_break_glass(
    session: Session,
    principal: Principal,
    master_child_id: uuid.UUID,
    purpose: Purpose | None = None,
    now: datetime | None = None,
) -> BreakGlassGrant | None:
    """The principal's break-glass grant for this child in force now, if any."""
    moment = now or utc_now()
    query = (
        sa.select(BreakGlassGrant)
        .where(
            BreakGlassGrant.username == principal.username,
            BreakGlassGrant.master_child_id == master_child_id,
            BreakGlassGrant.started_at <= moment,
            BreakGlassGrant.expires_at > moment,
            BreakGlassGrant.ended_at.is_(None),
        )
        .order_by(BreakGlassGrant.expires_at.desc())
        .limit(1)
    )
    if purpose is not None:
        query = query.where(BreakGlassGrant.purpose == purpose)
    return session.scalar(query)


def authorize(
    session: Session,
    principal: Principal,
    action: Action | str,
    purpose: Purpose | str | None,
    child: ChildScope | None = None,
    *,
    now: datetime | None = None,
) -> Decision:
    """May ``principal`` perform ``action`` for ``purpose`` (on ``child``)?

    Child actions (search, view, export) need a data-sharing grant for the purpose; with a
    child, the child must be inside one of the grants' scopes (jurisdiction subtree or
    caseload) or covered by an active break-glass grant (then ``break_glass`` is true).
    Other actions need a permission in ``actions.yaml``. Does not write the audit trail.
    """
    try:
        act = Action(action)
    except ValueError:
        return Decision(False, f"unknown action {action!r}")
    wanted = _purpose(purpose)
    if purpose is not None and wanted is None:
        return Decision(False, f"unknown purpose {purpose!r}")
    if principal.is_api_key and act is not Action.DATA_PUSH:
        return Decision(False, "API keys may only push department data")
    engine = _engine()
    kind = agency_kind_of(session, principal)
    role = principal.role

    if act in _CHILD_ACTIONS:
        if wanted is None:
            return Decision(False, "a purpose is required to look at children's data")
        if wanted not in CHILD_DATA_PURPOSES:
            return Decision(
                False,
                f"{wanted.value} uses de-identified aggregates only: no identifiable child data",
            )
        grants = engine.has_child_grants(role, _kind_value(kind), wanted)
        if not grants:
            where = kind.value if kind is not None else "no agency"
            return Decision(
                False,
                f"no data-sharing agreement lets a {role.value} ({where}) see children's data "
                f"for {wanted.value}",
            )
        if act is Action.RECORD_EXPORT:
            rule = engine.action_rule(role, _kind_value(kind), act.value, wanted.value)
            if rule is None:
                return Decision(False, f"a {role.value} may not export records for {wanted.value}")
        if child is None:
            return Decision(True, _area_sentence(principal, grants), grants[0].rule)
        return _child_decision(session, principal, wanted, child, grants, now)

    rule = engine.action_rule(role, _kind_value(kind), act.value, wanted.value if wanted else "")
    if rule is None:
        for_purpose = f" for {wanted.value}" if wanted is not None else ""
        return Decision(False, f"a {role.value} may not {act.value}{for_purpose}")
    if (
        act is Action.BREAK_GLASS
        and wanted is not None
        and not engine.has_child_grants(role, _kind_value(kind), wanted)
    ):
        return Decision(False, f"a {role.value} has no data grant for {wanted.value}")
    return Decision(True, f"allowed by {rule}", rule)


def _area_sentence(principal: Principal, grants: list[Grant]) -> str:
    scopes = {g.scope for g in grants}
    if scopes == {Scope.CASELOAD}:
        return "allowed within your caseload"
    return f"allowed within your jurisdiction {principal.jurisdiction or '(none)'}"


def _child_decision(
    session: Session,
    principal: Principal,
    purpose: Purpose,
    child: ChildScope,
    grants: list[Grant],
    now: datetime | None,
) -> Decision:
    scopes = {g.scope for g in grants}
    in_caseload = child.master_child_id in principal.caseload
    inside = in_jurisdiction(principal, child.region_code)
    for grant in grants:
        scope, rule = grant.scope, grant.rule
        if scope is Scope.JURISDICTION and (inside or in_caseload):
            where = "in your caseload" if in_caseload and not inside else "in your jurisdiction"
            return Decision(True, f"child is {where} ({rule})", rule)
        if scope is Scope.CASELOAD and in_caseload:
            return Decision(True, f"child is in your caseload ({rule})", rule)
    grant_row = active_break_glass(session, principal, child.master_child_id, purpose, now)
    if grant_row is not None:
        until = grant_row.expires_at.strftime("%Y-%m-%d %H:%M UTC")
        return Decision(
            True, f"break-glass access until {until}, under supervisor review", "break_glass", True
        )
    if Scope.JURISDICTION in scopes:
        return Decision(
            False, f"child is outside your jurisdiction {principal.jurisdiction or '(none)'}"
        )
    return Decision(False, "child is not in your caseload")


def group_visibility(
    session: Session,
    principal: Principal,
    purpose: Purpose | str,
    child: ChildScope,
    source_code: str,
    *,
    now: datetime | None = None,
) -> dict[FieldGroup, Visibility]:
    """How each field group of ``source_code`` is shown to ``principal`` for this child.

    A group is FULL or MASKED when a grant covers it and the source's domain group (a
    record's existence says something) for the purpose, the child is inside that grant's
    scope (or under an active break-glass grant), and a legal basis that the purpose needs is
    in force for this child and source. Everything else is HIDDEN. ``linkage`` here tells
    whether link evidence may be shown beside the source's records.
    """
    hidden = dict.fromkeys(FieldGroup, Visibility.HIDDEN)
    wanted = _purpose(purpose)
    if wanted is None or wanted not in CHILD_DATA_PURPOSES or principal.is_api_key:
        return hidden
    kind = agency_kind_of(session, principal)
    table = _engine().group_grants(principal.role, _kind_value(kind), source_code, wanted)
    if not table:
        return hidden
    in_caseload = child.master_child_id in principal.caseload
    scope_ok = {
        Scope.JURISDICTION: in_caseload or in_jurisdiction(principal, child.region_code),
        Scope.CASELOAD: in_caseload,
    }
    if not all(scope_ok.values()) and active_break_glass(
        session, principal, child.master_child_id, wanted, now
    ):
        scope_ok = dict.fromkeys(Scope, True)

    def level(group: FieldGroup) -> Visibility:
        best = Visibility.HIDDEN
        for grant in table.get(group, []):
            if scope_ok[grant.scope]:
                if grant.level is Visibility.FULL:
                    return Visibility.FULL
                best = Visibility.MASKED
        return best

    if level(source_domain(source_code)) is Visibility.HIDDEN:
        return hidden
    day = (now or utc_now()).date()
    if basis_covers(session, child.master_child_id, source_code, wanted, kind, day) is None:
        return hidden
    return {group: level(group) for group in FieldGroup}


def field_visibility(
    session: Session,
    principal: Principal,
    purpose: Purpose | str,
    child: ChildScope,
    source_code: str,
    *,
    now: datetime | None = None,
) -> dict[str, Visibility]:
    """How each canonical field of ``source_code`` is shown to ``principal`` for this child.

    Keyed by canonical field name (:data:`FIELD_GROUPS`, which adds ``name_pinyin``); the
    level is that of the field's group in this source (:func:`group_visibility`). A field
    missing from the result is hidden. Show MASKED values through :func:`mask`.
    """
    groups = group_visibility(session, principal, purpose, child, source_code, now=now)
    return {name: groups[field_group(name, source_code)] for name in FIELD_GROUPS}


def explain_grants(
    role: Role, purpose: Purpose, source_code: str, agency_kind: AgencyKind | None = None
) -> dict[FieldGroup, list[GroupGrant]]:
    """What a role (of an agency kind; default: any kind the agreements name) is granted of a
    source for a purpose, per field group, before scope and legal basis (for ``explain``)."""
    engine = _engine()
    kinds = (
        [agency_kind.value]
        if agency_kind is not None
        else sorted({g.agency_kind for g in engine.policy.grants if g.role is role} or {ANY})
    )
    merged: dict[FieldGroup, list[GroupGrant]] = {}
    for kind in kinds:
        for group, grants in engine.group_grants(role, kind, source_code, purpose).items():
            for grant in grants:
                if grant not in merged.setdefault(group, []):
                    merged[group].append(grant)
    if source_domain(source_code) not in merged:
        return {}
    return merged


# -- break glass --------------------------------------------------------------------------------


def start_break_glass(
    session: Session,
    principal: Principal,
    master_child_id: uuid.UUID,
    reason: str,
    minutes: int = 60,
    *,
    purpose: Purpose = Purpose.CASE_WORK,
    ip: str | None = None,
) -> BreakGlassGrant:
    """Open emergency access to one child outside one's jurisdiction or caseload.

    The reason is mandatory (at least 10 characters), the grant lasts ``minutes`` (at most
    four hours), is stored, written to the audit trail and flagged for the supervisor's review.
    Flushes; the caller commits.

    Raises:
        BreakGlassError: the reason is too short or the duration out of range.
        AccessDeniedError: the principal's role may not break the glass.
    """
    from childlink.audit.service import record_event

    text = " ".join(reason.split())
    if len(text) < BREAK_GLASS_MIN_REASON:
        raise BreakGlassError(
            f"break-glass needs a reason of at least {BREAK_GLASS_MIN_REASON} characters"
        )
    if not 1 <= minutes <= BREAK_GLASS_MAX_MINUTES:
        raise BreakGlassError(f"break-glass lasts 1 to {BREAK_GLASS_MAX_MINUTES} minutes")
    decision = authorize(session, principal, Action.BREAK_GLASS, purpose)
    if not decision.allowed:
        record_event(
            session,
            actor=principal.username,
            action=Action.BREAK_GLASS.value,
            outcome="deny",
            purpose=purpose.value,
            child_id=master_child_id,
            details={**principal_details(principal), "reason": decision.reason},
            ip=ip,
        )
        raise AccessDeniedError(decision.reason)
    start = utc_now()
    grant = BreakGlassGrant(
        user_id=principal.user_id,
        username=principal.username,
        role=principal.role,
        agency_code=principal.agency_code,
        master_child_id=master_child_id,
        purpose=purpose,
        reason=text,
        started_at=start,
        expires_at=start + timedelta(minutes=minutes),
    )
    session.add(grant)
    session.flush()
    record_event(
        session,
        actor=principal.username,
        action=Action.BREAK_GLASS.value,
        outcome="allow",
        purpose=purpose.value,
        child_id=master_child_id,
        details={
            **principal_details(principal),
            "grant_id": str(grant.id),
            "reason": text,
            "minutes": minutes,
            "expires_at": grant.expires_at.isoformat(),
            "needs_review": True,
        },
        ip=ip,
    )
    return grant


def pending_break_glass_reviews(session: Session, limit: int = 200) -> list[BreakGlassGrant]:
    """Break-glass grants no supervisor has reviewed yet, oldest first."""
    return list(
        session.scalars(
            sa.select(BreakGlassGrant)
            .where(BreakGlassGrant.reviewed_at.is_(None))
            .order_by(BreakGlassGrant.started_at)
            .limit(limit)
        )
    )


def review_break_glass(
    session: Session, grant_id: uuid.UUID, reviewer: str, note: str, *, end_now: bool = False
) -> BreakGlassGrant:
    """A supervisor's review of a break-glass grant (audited; flushes)."""
    from childlink.audit.service import record_event

    grant = session.get(BreakGlassGrant, grant_id)
    if grant is None:
        raise BreakGlassError(f"no break-glass grant {grant_id}")
    if grant.username == reviewer:
        raise BreakGlassError("a break-glass grant is reviewed by someone else")
    grant.reviewed_at = utc_now()
    grant.reviewed_by = reviewer
    grant.review_note = note
    if end_now and grant.ended_at is None:
        grant.ended_at = grant.reviewed_at
    session.flush()
    record_event(
        session,
        actor=reviewer,
        action="break_glass.review",
        outcome="ok",
        purpose=Purpose.AUDIT.value,
        child_id=grant.master_child_id,
        details={"grant_id": str(grant.id), "user": grant.username, "note": note},
    )
    return grant


def record_decision(
    session: Session,
    principal: Principal,
    action: Action | str,
    purpose: Purpose | str | None,
    decision: Decision,
    child: ChildScope | None = None,
    *,
    ip: str | None = None,
    extra: dict[str, object] | None = None,
) -> None:
    """Append a decision to the audit trail in the shape the supervision report reads.

    Details carry the role, agency, reason, rule, whether it was break-glass and whether the
    child was in the principal's caseload. Joins the caller's transaction (flushes only).
    """
    from childlink.audit.service import record_event

    details: dict[str, object] = {
        **principal_details(principal),
        "reason": decision.reason,
        "rule": decision.rule,
    }
    if decision.break_glass:
        details["break_glass"] = True
    if child is not None:
        details["in_caseload"] = child.master_child_id in principal.caseload
    details.update(extra or {})
    record_event(
        session,
        actor=principal.username,
        action=str(action),
        outcome="allow" if decision.allowed else "deny",
        purpose=None if purpose is None else str(purpose),
        child_id=None if child is None else child.master_child_id,
        details=details,
        ip=ip,
    )


def principal_details(principal: Principal) -> dict[str, object]:
    """The principal's role and agency for audit ``details`` (the report groups by them)."""
    return {"role": principal.role.value, "agency": principal.agency_code}


def ensure_agency(
    session: Session,
    code: str,
    *,
    name_zh: str,
    name_en: str,
    kind: AgencyKind,
    region_code: str | None = None,
) -> Agency:
    """The agency with ``code``, created (or updated) as given. Flushes."""
    agency = session.scalar(sa.select(Agency).where(Agency.code == code))
    if agency is None:
        agency = Agency(code=code, name_zh=name_zh, name_en=name_en, kind=kind)
        session.add(agency)
    agency.name_zh, agency.name_en, agency.kind = name_zh, name_en, kind
    agency.region_code = region_code
    session.flush()
    session.info.get("childlink.agency_kinds", {}).pop(code, None)
    return agency


# -- masking ------------------------------------------------------------------------------------

_ID_FIELDS = frozenset({"id_number", "guardian_id_number"})
_NAME_FIELDS = frozenset({"name", "guardian_name"})
_PHONE_FIELDS = frozenset({"phone", "guardian_phone"})
_ADDRESS_FIELDS = frozenset({"address", "origin_address"})
_ADDRESS_CUT = re.compile(r"^.*?(?:乡|镇|街道|苏木)")
_COUNTY_CUT = re.compile(r"^.*?(?:县|区|旗|市)")


def _mask_middle(text: str, keep_start: int, keep_end: int) -> str:
    if len(text) <= keep_start + keep_end:
        keep_start = max(0, min(keep_start, len(text) // 3))
        keep_end = max(0, min(keep_end, (len(text) - keep_start) // 3))
    hidden = len(text) - keep_start - keep_end
    return text[:keep_start] + "*" * max(hidden, 1) + (text[-keep_end:] if keep_end else "")


def mask(field: str, value: object) -> str | None:
    """A value as shown to someone granted only the masked view of its field.

    ID numbers keep the address code and the last four (``110105********1234``); student
    numbers likewise after their letter; phones keep three and four (``138****5678``); names
    keep the surname's first character (``张*``); addresses stop at the township (``...镇***``);
    birth dates keep the year; region codes the township. Anything else becomes ``***``:
    whoever sees it learns that a value exists, not what it is. ``None`` stays ``None``.
    """
    if value is None:
        return None
    text = value.isoformat() if isinstance(value, (date, datetime)) else str(value)
    text = text.strip()
    if not text:
        return "***"
    if field in _ID_FIELDS:
        return _mask_middle(text, 6, 4)
    if field == "student_number":
        return _mask_middle(text, 7 if text[:1].isalpha() else 6, 4)
    if field == "household_number":
        return _mask_middle(text, 2, 2)
    if field in _PHONE_FIELDS:
        return _mask_middle(text, 3, 4)
    if field in _NAME_FIELDS:
        return text[0] + "*"
    if field in _ADDRESS_FIELDS:
        found = _ADDRESS_CUT.match(text) or _COUNTY_CUT.match(text)
        kept = found.group(0) if found and found.end() < len(text) else text[: len(text) // 3]
        return kept + "***"
    if field == "birth_date":
        return text[:4] + "-**-**" if len(text) >= 4 else "***"
    if field == "region_code":
        return text[:9] + "*" * max(len(text) - 9, 1) if len(text) > 9 else "***"
    return "***"
