"""The linkage review queue over HTTP: list, show, accept, reject.

Thin over :mod:`childlink.linkage.review`, which runs each decision as its own unit of work;
the audit entry is written in the request's transaction right after it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from childlink.access.service import Action
from childlink.api.deps import (
    CsrfDep,
    FactoryDep,
    PrincipalDep,
    PurposeDep,
    SessionDep,
    client_ip,
)
from childlink.api.errors import ERROR_RESPONSES
from childlink.api.schemas import ReviewDecisionRequest, ReviewList, ReviewRead
from childlink.identity.guard import audit, enforce
from childlink.linkage.choices import ReviewStatus
from childlink.linkage.review import (
    ReviewItem,
    accept_review,
    count_reviews,
    get_review,
    list_reviews,
    reject_review,
)

router = APIRouter(prefix="/reviews", tags=["reviews"], responses=ERROR_RESPONSES)


def _read(item: ReviewItem, *, with_waterfall: bool) -> ReviewRead:
    return ReviewRead(**item.as_dict(with_waterfall=with_waterfall))


@router.get("", response_model=ReviewList)
def list_queue(
    request: Request,
    session: SessionDep,
    factory: FactoryDep,
    principal: PrincipalDep,
    purpose: PurposeDep,
    status: Annotated[ReviewStatus | None, Query()] = ReviewStatus.PENDING,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ReviewList:
    """Review pairs (pending by default), most probable first."""
    enforce(
        session,
        principal,
        Action.REVIEW_DECIDE,
        purpose,
        ip=client_ip(request),
        details={"operation": "list"},
    )
    items = list_reviews(factory, status=status, limit=limit)
    return ReviewList(
        counts=count_reviews(factory),
        items=[_read(item, with_waterfall=False) for item in items],
    )


@router.get("/{review_id}", response_model=ReviewRead)
def show(
    review_id: str,
    request: Request,
    session: SessionDep,
    factory: FactoryDep,
    principal: PrincipalDep,
    purpose: PurposeDep,
) -> ReviewRead:
    """One pair with both records and the match-weight waterfall."""
    enforce(
        session,
        principal,
        Action.REVIEW_DECIDE,
        purpose,
        ip=client_ip(request),
        details={"operation": "show", "review_id": review_id},
    )
    return _read(get_review(factory, review_id), with_waterfall=True)


def _decide(
    decision: str,
    review_id: str,
    body: ReviewDecisionRequest | None,
    request: Request,
    session: SessionDep,
    factory: FactoryDep,
    principal: PrincipalDep,
    purpose: PurposeDep,
) -> dict[str, object]:
    ip = client_ip(request)
    enforce(session, principal, Action.REVIEW_DECIDE, purpose, ip=ip, audit_allow=False)
    note = None if body is None else body.note
    # The decision runs in its own unit of work; commit first so the request holds no lock.
    session.commit()
    action = accept_review if decision == "accept" else reject_review
    result = action(factory, review_id, reviewer=principal.username, note=note)
    audit(
        session,
        principal,
        Action.REVIEW_DECIDE,
        "allow",
        purpose,
        ip=ip,
        details={"operation": decision, "review_id": review_id, "result": result},
    )
    return result


@router.post("/{review_id}/accept")
def accept(
    review_id: str,
    request: Request,
    session: SessionDep,
    factory: FactoryDep,
    principal: PrincipalDep,
    purpose: PurposeDep,
    _csrf: CsrfDep,
    body: ReviewDecisionRequest | None = None,
) -> dict[str, object]:
    """The two records are one child: merge their masters now and in every later run."""
    return _decide("accept", review_id, body, request, session, factory, principal, purpose)


@router.post("/{review_id}/reject")
def reject(
    review_id: str,
    request: Request,
    session: SessionDep,
    factory: FactoryDep,
    principal: PrincipalDep,
    purpose: PurposeDep,
    _csrf: CsrfDep,
    body: ReviewDecisionRequest | None = None,
) -> dict[str, object]:
    """The two records are different children: no later run merges them."""
    return _decide("reject", review_id, body, request, session, factory, principal, purpose)
