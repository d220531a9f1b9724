"""The linkage review queue for people who may decide reviews: list, show, accept, reject.

Thin over :mod:`childlink.linkage.review` (each decision is its own unit of work) behind the
same gate as the API: ``review.decide`` for the stated purpose, audited.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Form
from starlette.responses import HTMLResponse, RedirectResponse, Response

from childlink.access.service import Action, ChildScope, Visibility, field_visibility
from childlink.children.search import child_scope
from childlink.errors import AccessDeniedError
from childlink.identity.guard import audit, enforce
from childlink.linkage.choices import ReviewStatus
from childlink.linkage.review import (
    ReviewError,
    accept_review,
    get_review,
    list_reviews,
    reject_review,
)
from childlink.sources.models import DataSource, SourceRecord
from childlink.web.adapt import VisibilityOf, parse_uuid, review_view
from childlink.web.views.common import WebRequest, WebRequestDep

router = APIRouter(include_in_schema=False)

QUEUE_LIMIT = 50


_NOBODY = uuid.UUID(int=0)


def _visibility_of(web: WebRequest) -> VisibilityOf:
    """The reviewer's field visibility for a record of a pair (its source, its child)."""
    purpose = web.purpose

    def visibility(record: Mapping[str, Any]) -> Mapping[str, Visibility]:
        record_id = parse_uuid(str(record.get("id")))
        row = None if record_id is None else web.session.get(SourceRecord, record_id)
        if row is None or purpose is None:
            return {}
        source = web.session.get(DataSource, row.source_id)
        if source is None:
            return {}
        scope = (
            None if row.master_child_id is None else child_scope(web.session, row.master_child_id)
        )
        scope = scope or ChildScope(master_child_id=_NOBODY, region_code=row.region_code)
        return field_visibility(web.session, web.principal, purpose, scope, source.code)

    return visibility


def _gate(web: WebRequest, operation: str, review_id: str | None = None) -> Response | None:
    """Refuse with the policy's reason unless the person may decide reviews now."""
    details: dict[str, object] = {"operation": operation}
    if review_id is not None:
        details["review_id"] = review_id
    try:
        enforce(
            web.session,
            web.principal,
            Action.REVIEW_DECIDE,
            web.purpose,
            ip=web.ip,
            details=details,
            audit_allow=operation != "decide",
        )
    except AccessDeniedError as denied:
        return web.error(403, str(denied))
    return None


@router.get("/reviews", response_class=HTMLResponse)
def queue(web: WebRequestDep) -> Response:
    """Pending pairs, most probable first."""
    refused = _gate(web, "list")
    if refused is not None:
        return refused
    items = list_reviews(web.factory, status=ReviewStatus.PENDING, limit=QUEUE_LIMIT)
    visibility = _visibility_of(web)
    return web.render(
        "reviews/queue.html", reviews=[review_view(item, visibility) for item in items]
    )


@router.get("/reviews/{review_id}", response_class=HTMLResponse)
def show(review_id: str, web: WebRequestDep, done: str | None = None) -> Response:
    """One pair side by side with the waterfall of its match weight."""
    if parse_uuid(review_id) is None:
        return web.error(404)
    refused = _gate(web, "show", review_id)
    if refused is not None:
        return refused
    try:
        item = get_review(web.factory, review_id)
    except ReviewError:
        return web.error(404)
    message = done if done in ("accepted", "rejected") else None
    return web.render(
        "reviews/pair.html",
        review=review_view(item, _visibility_of(web)),
        message=message,
        error=None,
    )


@router.post("/reviews/{review_id}/decide", response_class=HTMLResponse)
async def decide(
    review_id: str,
    web: WebRequestDep,
    decision: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    """Accept (one child) or reject (two children) a pair."""
    if not await web.csrf_ok():
        return web.error(403, "missing or wrong CSRF token")
    if parse_uuid(review_id) is None or decision not in ("accept", "reject"):
        return web.error(404 if decision in ("accept", "reject") else 400)
    refused = _gate(web, "decide", review_id)
    if refused is not None:
        return refused
    # The decision runs in its own unit of work; commit first so the request holds no lock.
    web.session.commit()
    action = accept_review if decision == "accept" else reject_review
    try:
        result = action(
            web.factory, review_id, reviewer=web.principal.username, note=note.strip() or None
        )
    except ReviewError as problem:
        try:
            item = get_review(web.factory, review_id)
        except ReviewError:
            return web.error(404)
        return web.render(
            "reviews/pair.html",
            status_code=409,
            review=review_view(item, _visibility_of(web)),
            message=None,
            error=str(problem),
        )
    audit(
        web.session,
        web.principal,
        Action.REVIEW_DECIDE,
        "allow",
        web.purpose,
        ip=web.ip,
        details={"operation": decision, "review_id": review_id, "result": result},
    )
    done = "accepted" if decision == "accept" else "rejected"
    return RedirectResponse(f"/reviews/{review_id}?done={done}", status_code=303)
