"""Log in, log out, the start page and the purpose a person states for the session."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from sqlalchemy.orm import Session
from starlette.responses import HTMLResponse, RedirectResponse, Response

from childlink.access.choices import Purpose
from childlink.api.deps import (
    SESSION_COOKIE,
    CsrfError,
    LimiterDep,
    OptionalCallerDep,
    SessionDep,
    SettingsDep,
    check_csrf,
    client_ip,
)
from childlink.errors import (
    AccountLockedError,
    AuthenticationError,
    NotFoundError,
    RateLimitedError,
)
from childlink.identity.guard import audit
from childlink.identity.service import (
    LoginPolicy,
    authenticate,
    end_web_session,
    get_user,
    start_web_session,
)
from childlink.web.templating import render
from childlink.web.views.common import (
    PURPOSE_COOKIE,
    WebRequestDep,
    anonymous_page,
    purpose_of,
    safe_next,
    set_purpose_cookie,
)

router = APIRouter(include_in_schema=False)


def _login_form(
    request: Request,
    *,
    error: str | None = None,
    username: str = "",
    next_url: str = "/",
    locked_until: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "auth/login.html",
        anonymous_page(request),
        status_code=status_code,
        error=error,
        username=username,
        next_url=safe_next(next_url),
        locked_until=locked_until,
        default_purpose=purpose_of(request) or Purpose.CASE_WORK,
    )


def _locked_until(session: Session, username: str) -> str | None:
    """When a locked account opens again (the lock message already says the account exists)."""
    try:
        until = get_user(session, username).locked_until
    except NotFoundError:
        return None
    return None if until is None else f"{until:%Y-%m-%d %H:%M} UTC"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, caller: OptionalCallerDep, next: str = "/") -> Response:
    """The login form (a logged-in person goes straight on)."""
    if caller is not None and caller.via == "session":
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_form(request, next_url=next)


@router.post("/login", response_class=HTMLResponse)
async def login_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: LimiterDep,
    caller: OptionalCallerDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    purpose: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Check the password, start a web session and go on; say why when it fails.

    A wrong password and an unknown user get the same message; a locked account is named as
    locked (the person needs to know to wait or call the administrator).
    """
    try:
        await check_csrf(request, caller)
    except CsrfError:
        return _login_form(request, error="csrf", username=username, next_url=next, status_code=403)
    ip = client_ip(request)
    try:
        user = authenticate(
            session,
            username,
            password,
            client_ip=ip,
            policy=LoginPolicy.from_settings(settings),
            limiter=limiter,
        )
    except RateLimitedError:
        return _login_form(
            request, error="rate_limited", username=username, next_url=next, status_code=429
        )
    except AccountLockedError:
        return _login_form(
            request,
            error="locked",
            username=username,
            next_url=next,
            locked_until=_locked_until(session, username),
            status_code=423,
        )
    except AuthenticationError:
        return _login_form(
            request, error="bad_credentials", username=username, next_url=next, status_code=401
        )
    _row, token = start_web_session(session, user, client_ip=ip, hours=settings.session_hours)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    try:
        chosen = Purpose(purpose)
    except ValueError:
        chosen = purpose_of(request) or Purpose.CASE_WORK
    set_purpose_cookie(request, response, chosen)
    return response


@router.post("/logout")
async def logout(web: WebRequestDep) -> Response:
    """End the web session and forget the purpose."""
    if not await web.csrf_ok():
        return web.error(403, "missing or wrong CSRF token")
    if web.caller.web_session is not None:
        end_web_session(web.session, web.caller.web_session)
    audit(web.session, web.principal, "auth.logout", "ok", web.purpose, ip=web.ip)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(PURPOSE_COOKIE, path="/")
    return response


@router.get("/", response_class=HTMLResponse)
def home(web: WebRequestDep, purpose_needed: int = 0) -> Response:
    """Who you are, your role and jurisdiction, and the purpose of this session."""
    return web.render("home.html", purpose_needed=bool(purpose_needed) or web.purpose is None)


@router.post("/purpose")
async def choose_purpose(
    web: WebRequestDep,
    purpose: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """State (or change) the purpose; it is sent with, and audited on, every data request."""
    if not await web.csrf_ok():
        return web.error(403, "missing or wrong CSRF token")
    try:
        chosen = Purpose(purpose)
    except ValueError:
        return web.error(400, f"unknown purpose {purpose!r}")
    audit(web.session, web.principal, "purpose.set", "ok", chosen, ip=web.ip)
    response = RedirectResponse(safe_next(next), status_code=303)
    set_purpose_cookie(web.request, response, chosen)
    return response
