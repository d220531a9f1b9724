"""Search children, open a child's profile, break the glass in an emergency."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from childlink.access.service import Action, start_break_glass
from childlink.api.deps import (
    CsrfDep,
    PrincipalDep,
    PurposeDep,
    SessionDep,
    client_ip,
    field_cipher,
)
from childlink.api.errors import ERROR_RESPONSES
from childlink.api.schemas import BreakGlassRead, BreakGlassRequest
from childlink.children.profile import build_profile
from childlink.children.schemas import ChildProfile, ChildSummary
from childlink.children.search import child_scope, search_children
from childlink.errors import AccessDeniedError, NotFoundError
from childlink.identity.guard import audit

router = APIRouter(prefix="/children", tags=["children"], responses=ERROR_RESPONSES)


@router.get("", response_model=list[ChildSummary])
def search(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    purpose: PurposeDep,
    q: Annotated[
        str, Query(min_length=1, max_length=100, description="Name, pinyin, ID or 学籍号")
    ],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[ChildSummary]:
    """Children in your jurisdiction whose name, pinyin, ID or student number matches."""
    return search_children(session, principal, purpose, q, limit, ip=client_ip(request))


@router.get("/{child_id}", response_model=ChildProfile)
def profile(
    child_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    purpose: PurposeDep,
) -> ChildProfile:
    """One child's linked records by department, as far as your policy allows."""
    return build_profile(
        session, principal, purpose, child_id, ip=client_ip(request), cipher=field_cipher(request)
    )


@router.post("/{child_id}/break-glass", response_model=BreakGlassRead, status_code=201)
def break_glass(
    child_id: uuid.UUID,
    body: BreakGlassRequest,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    purpose: PurposeDep,
    _csrf: CsrfDep,
) -> BreakGlassRead:
    """Emergency access to a child outside your jurisdiction or caseload.

    The reason is mandatory, the grant expires, and your supervisor reviews it.
    """
    ip = client_ip(request)
    if child_scope(session, child_id) is None:
        audit(
            session,
            principal,
            Action.BREAK_GLASS,
            "deny",
            purpose,
            child_id=child_id,
            ip=ip,
            details={"reason": "no such child"},
        )
        session.commit()
        raise NotFoundError(f"no child {child_id}")
    try:
        # Decides, stores the grant and writes the audit entry (allow or deny) itself.
        grant = start_break_glass(
            session, principal, child_id, body.reason, body.minutes, purpose=purpose, ip=ip
        )
    except AccessDeniedError:
        session.commit()  # keep the denial's audit entry
        raise
    return BreakGlassRead(
        grant_id=grant.id,
        master_child_id=child_id,
        expires_at=grant.expires_at.isoformat(),
        reason=grant.reason,
    )
