"""A child's risk scores and rule flags; a worker's confirm or reject of a flag.

Scores and flags are the ``risk`` field group: a caller whose policy does not grant it for any
source of the child gets 403, never a number. Every score comes with its explanation (top
factors with the facts behind them) and the model version that produced it. Views and
decisions are audited.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request

from childlink.api.deps import CsrfDep, PrincipalDep, PurposeDep, SessionDep, client_ip
from childlink.api.errors import ERROR_RESPONSES
from childlink.risk.schemas import ChildRisk, FlagDecision, FlagRead, FlagReview
from childlink.risk.service import review_flag_as, risk_for_viewer

router = APIRouter(tags=["risk"], responses=ERROR_RESPONSES)


@router.get("/children/{child_id}/risk", response_model=ChildRisk)
def child_risk(
    child_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    purpose: PurposeDep,
) -> ChildRisk:
    """Current scores (with explanation and model version), score history and rule flags."""
    found = risk_for_viewer(session, principal, purpose, child_id, ip=client_ip(request))
    assert found is not None  # strict mode raises instead of returning None
    return found


def _review(
    decision: FlagDecision,
    flag_id: uuid.UUID,
    body: FlagReview,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    purpose: PurposeDep,
) -> FlagRead:
    return review_flag_as(
        session, principal, purpose, flag_id, decision, body.reason, ip=client_ip(request)
    )


@router.post("/risk/flags/{flag_id}/confirm", response_model=FlagRead)
def confirm_flag(
    flag_id: uuid.UUID,
    body: FlagReview,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    purpose: PurposeDep,
    _csrf: CsrfDep,
) -> FlagRead:
    """Confirm a rule flag: the worker agrees the child needs attention (reason required)."""
    return _review(FlagDecision.CONFIRM, flag_id, body, request, session, principal, purpose)


@router.post("/risk/flags/{flag_id}/reject", response_model=FlagRead)
def reject_flag(
    flag_id: uuid.UUID,
    body: FlagReview,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    purpose: PurposeDep,
    _csrf: CsrfDep,
) -> FlagRead:
    """Reject a rule flag as not pointing to a real risk (reason required)."""
    return _review(FlagDecision.REJECT, flag_id, body, request, session, principal, purpose)
