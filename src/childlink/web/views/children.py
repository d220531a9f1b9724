"""Find a child and open the child's profile; emergency (break-glass) access.

Both go through the children service, which asks the policy, restricts rows and fields and
writes the audit entries; the pages only show what comes back. A refusal shows the policy's
reason, and, where the person's role may use break-glass, the emergency form.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from starlette.responses import HTMLResponse, RedirectResponse, Response

from childlink.access.service import Action, BreakGlassError, authorize, start_break_glass
from childlink.api.deps import field_cipher
from childlink.children.profile import build_profile
from childlink.children.search import SearchQueryError, child_scope, search_children
from childlink.errors import AccessDeniedError, NotFoundError
from childlink.risk.service import (
    FlagReviewError,
    flag_child,
    review_flag_as,
    risk_for_viewer,
)
from childlink.web.adapt import parse_uuid, profile_view, summary_view
from childlink.web.views.common import WebRequest, WebRequestDep

router = APIRouter(include_in_schema=False)

SEARCH_LIMIT = 50


def _no_purpose(web: WebRequest) -> Response:
    return RedirectResponse("/?purpose_needed=1", status_code=303)


@router.get("/search", response_class=HTMLResponse)
def search(web: WebRequestDep, q: str = "") -> Response:
    """Search by name, pinyin, ID number or student number (within the jurisdiction).

    An htmx request (typing in the box) gets the same page; htmx swaps in only the results.
    """
    if web.purpose is None:
        return _no_purpose(web)
    query = q.strip()[:100]
    results = []
    error = None
    status_code = 200
    if query:
        try:
            hits = search_children(
                web.session, web.principal, web.purpose, query, limit=SEARCH_LIMIT, ip=web.ip
            )
            results = [summary_view(hit) for hit in hits]
        except AccessDeniedError as denied:
            error, status_code = str(denied), 403
        except SearchQueryError as problem:
            error, status_code = str(problem), 400
    return web.render(
        "children/search.html", status_code=status_code, query=query, results=results, error=error
    )


@router.get("/children/{child_id}", response_class=HTMLResponse)
def profile(child_id: str, web: WebRequestDep) -> Response:
    """One child's linked records, family and link evidence, as the policy allows."""
    if web.purpose is None:
        return _no_purpose(web)
    master_id = parse_uuid(child_id)
    if master_id is None:
        return web.error(404)
    try:
        found = build_profile(
            web.session,
            web.principal,
            web.purpose,
            master_id,
            ip=web.ip,
            cipher=field_cipher(web.request),
        )
    except NotFoundError:
        return web.error(404)
    except AccessDeniedError as denied:
        glass = authorize(web.session, web.principal, Action.BREAK_GLASS, web.purpose)
        return web.error(
            403, str(denied), break_glass_child=str(master_id) if glass.allowed else None
        )
    risk = risk_for_viewer(
        web.session, web.principal, web.purpose, master_id, ip=web.ip, strict=False
    )
    return web.render(
        "children/profile.html",
        profile=profile_view(web.session, found, web.factory),
        risk=risk,
    )


@router.post("/children/{child_id}/break-glass", response_class=HTMLResponse)
async def break_glass(
    child_id: str, web: WebRequestDep, reason: Annotated[str, Form()] = ""
) -> Response:
    """Open a child's file in an emergency: reason required, time-limited, reviewed later."""
    if not await web.csrf_ok():
        return web.error(403, "missing or wrong CSRF token")
    if web.purpose is None:
        return _no_purpose(web)
    master_id = parse_uuid(child_id)
    if master_id is None or child_scope(web.session, master_id) is None:
        return web.error(404)
    try:
        start_break_glass(
            web.session, web.principal, master_id, reason, purpose=web.purpose, ip=web.ip
        )
    except AccessDeniedError as denied:
        return web.error(403, str(denied))  # the denial entry commits with the request
    except BreakGlassError as problem:
        return web.error(400, str(problem), break_glass_child=str(master_id))
    web.session.commit()
    return RedirectResponse(f"/children/{master_id}", status_code=303)


@router.post("/risk/flags/{flag_id}/decide", response_class=HTMLResponse)
async def decide_flag(
    flag_id: str,
    web: WebRequestDep,
    decision: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Confirm or reject a risk flag with a reason; back to the child's profile."""
    if not await web.csrf_ok():
        return web.error(403, "missing or wrong CSRF token")
    if web.purpose is None:
        return _no_purpose(web)
    flag = parse_uuid(flag_id)
    if flag is None:
        return web.error(404)
    try:
        read = review_flag_as(
            web.session, web.principal, web.purpose, flag, decision, reason, ip=web.ip
        )
        child = flag_child(web.session, flag)
    except NotFoundError:
        return web.error(404)
    except AccessDeniedError as denied:
        return web.error(403, str(denied))
    except FlagReviewError as problem:
        return web.error(400, str(problem))
    web.session.commit()
    return RedirectResponse(f"/children/{child}#flag-{read.id}", status_code=303)
