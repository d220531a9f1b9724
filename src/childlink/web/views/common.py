"""What every page needs: the logged-in person, the purpose, CSRF, error pages.

Pages use the API's dependencies (one database session per request, the caller from the
session cookie) and never a second way in. Anonymous visitors of a page that needs a login are
sent to the login form. The purpose a person states on the home page (or when logging in) is
kept in the ``purpose`` cookie, sent as ``X-Purpose`` with every htmx request and passed to
every service call, which audits it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import HTMLResponse, RedirectResponse

from childlink.access.choices import Purpose
from childlink.access.models import Agency
from childlink.access.principal import Principal
from childlink.access.service import Action, authorize
from childlink.api.deps import (
    Caller,
    CsrfError,
    FactoryDep,
    OptionalCallerDep,
    SessionDep,
    check_csrf,
    client_ip,
    csrf_token,
)
from childlink.identity.models import User
from childlink.regions.models import Region
from childlink.web.i18n import CHINESE
from childlink.web.reasons import translate_reason
from childlink.web.templating import PageContext, render, request_language, translator
from childlink.web.viewmodels import Viewer

PURPOSE_COOKIE = "purpose"
PURPOSE_COOKIE_SECONDS = 12 * 3600


class LoginRequiredError(Exception):
    """A page that needs a login was asked for anonymously; the handler redirects."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def safe_next(value: str | None) -> str:
    """A local path to go to after a form (never another host)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def login_redirect(request: Request) -> RedirectResponse:
    """Send an anonymous visitor to the login form, then back here."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(here, safe='')}", status_code=303)


def purpose_of(request: Request) -> Purpose | None:
    """The purpose stated for this browser session (``purpose`` cookie), if any."""
    value = request.cookies.get(PURPOSE_COOKIE)
    try:
        return Purpose(value) if value else None
    except ValueError:
        return None


def set_purpose_cookie(
    request: Request, response: HTMLResponse | RedirectResponse, purpose: Purpose
) -> None:
    """Remember the stated purpose (HttpOnly: scripts never need to read it)."""
    response.set_cookie(
        PURPOSE_COOKIE,
        purpose.value,
        max_age=PURPOSE_COOKIE_SECONDS,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def _region_name(session: Session, code: str | None) -> str | None:
    if not code:
        return None
    region = session.get(Region, code)
    return None if region is None else region.name


def may_review(session: Session, principal: Principal) -> bool:
    """Whether the person may decide linkage reviews for some purpose (to show the menu)."""
    return any(
        authorize(session, principal, Action.REVIEW_DECIDE, purpose).allowed for purpose in Purpose
    )


def viewer_for(request: Request, session: Session, principal: Principal) -> Viewer:
    """What the page header and home page say about the person."""
    user = None if principal.user_id is None else session.get(User, principal.user_id)
    agency_name = None
    if user is not None and user.agency_id is not None:
        agency = session.get(Agency, user.agency_id)
        if agency is not None:
            chinese = request_language(request) is CHINESE
            agency_name = agency.name_zh if chinese else agency.name_en
    return Viewer(
        username=principal.username,
        display_name=principal.username if user is None else user.display_name,
        role_zh=principal.role.label_zh,
        role_en=principal.role.label_en,
        jurisdiction=principal.jurisdiction,
        jurisdiction_name=_region_name(session, principal.jurisdiction),
        agency=agency_name,
        may_review=may_review(session, principal),
        caseload=len(principal.caseload),
    )


@dataclass
class WebRequest:
    """A logged-in page request: who, for which purpose, with which database session."""

    request: Request
    session: Session
    factory: sessionmaker[Session]
    caller: Caller
    purpose: Purpose | None
    page: PageContext

    @property
    def principal(self) -> Principal:
        return self.caller.principal

    @property
    def ip(self) -> str | None:
        return client_ip(self.request)

    def render(self, template: str, status_code: int = 200, **data: object) -> HTMLResponse:
        return render(self.request, template, self.page, status_code=status_code, **data)

    def error(
        self,
        status_code: int,
        reason: str | None = None,
        *,
        break_glass_child: str | None = None,
    ) -> HTMLResponse:
        return error_page(
            self.request, self.page, status_code, reason, break_glass_child=break_glass_child
        )

    async def csrf_ok(self) -> bool:
        """Whether this unsafe request carries the session's CSRF token."""
        try:
            await check_csrf(self.request, self.caller)
        except CsrfError:
            return False
        return True


def anonymous_page(request: Request) -> PageContext:
    """The page context of a visitor who is not logged in."""
    return PageContext(viewer=None, csrf=csrf_token(request), purpose=None)


def error_page(
    request: Request,
    page: PageContext,
    status_code: int,
    reason: str | None = None,
    *,
    break_glass_child: str | None = None,
) -> HTMLResponse:
    """A 4xx/5xx page in the request's language; ``reason`` is the policy's own sentence.

    The policy states its reasons in English; known shapes are translated
    (:mod:`childlink.web.reasons`) and the policy's own sentence is shown beneath, marked as
    English, so the page can be matched to the audit entry.
    """
    return render(
        request,
        "errors/error.html",
        page,
        status_code=status_code,
        status=status_code,
        reason=reason,
        reason_text=None if reason is None else translate_reason(reason, translator(request)),
        break_glass_child=break_glass_child,
    )


def get_web_request(
    request: Request,
    session: SessionDep,
    factory: FactoryDep,
    caller: OptionalCallerDep,
) -> WebRequest:
    """The logged-in page request, or :class:`LoginRequiredError` for an anonymous visitor."""
    if caller is None or caller.via != "session":
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequiredError(here)
    purpose = purpose_of(request)
    page = PageContext(
        viewer=viewer_for(request, session, caller.principal),
        csrf=csrf_token(request),
        purpose=purpose,
    )
    return WebRequest(
        request=request,
        session=session,
        factory=factory,
        caller=caller,
        purpose=purpose,
        page=page,
    )


WebRequestDep = Annotated[WebRequest, Depends(get_web_request)]
