"""The one gate every use case passes: ask the policy, write the audit entry, refuse or go on.

``authorize`` decides and ``record_event`` records; this joins them so that no caller can
forget either. A refusal is committed before :class:`~childlink.errors.AccessDeniedError` is
raised (the caller's transaction is rolled back on errors, and a denial that leaves no trace
would defeat the audit trail); at that point the session holds nothing but the entry, because
the gate runs before a use case changes anything.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from childlink.access.choices import Purpose
from childlink.access.principal import Principal
from childlink.access.service import Action, ChildScope, Decision, authorize
from childlink.audit.service import record_event
from childlink.errors import AccessDeniedError


def enforce(
    session: Session,
    principal: Principal,
    action: Action,
    purpose: Purpose | None,
    *,
    child: ChildScope | None = None,
    ip: str | None = None,
    details: dict[str, Any] | None = None,
    audit_allow: bool = True,
) -> Decision:
    """Authorise ``action``; audit the decision; raise on deny.

    Args:
        audit_allow: record an "allow" entry now; callers that record a richer entry after
            the work (e.g. what a search returned) pass False.

    Raises:
        AccessDeniedError: the policy refused; its message is the decision's reason.
    """
    decision = authorize(session, principal, action, purpose, child)
    if not decision.allowed:
        audit(
            session,
            principal,
            action,
            "deny",
            purpose,
            child_id=None if child is None else child.master_child_id,
            ip=ip,
            details={"reason": decision.reason, "rule": decision.rule, **(details or {})},
        )
        session.commit()
        raise AccessDeniedError(decision.reason)
    if audit_allow:
        audit(
            session,
            principal,
            action,
            "allow",
            purpose,
            child_id=None if child is None else child.master_child_id,
            ip=ip,
            details={"rule": decision.rule, "break_glass": decision.break_glass, **(details or {})},
        )
    return decision


def audit(
    session: Session,
    principal: Principal,
    action: Action | str,
    outcome: str,
    purpose: Purpose | None,
    *,
    child_id: uuid.UUID | None = None,
    ip: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one audit entry for ``principal`` in the caller's transaction."""
    context: dict[str, Any] = {"role": principal.role.value, "agency": principal.agency_code}
    if child_id is not None:
        context["in_caseload"] = child_id in principal.caseload
    record_event(
        session,
        actor=principal.username,
        action=str(action),
        outcome=outcome,
        purpose=None if purpose is None else str(purpose),
        child_id=child_id,
        details=context | (details or {}),
        ip=ip,
    )
