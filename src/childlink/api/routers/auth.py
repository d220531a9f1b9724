"""Log in, log out, who am I."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from childlink.api.deps import (
    SESSION_COOKIE,
    Caller,
    CallerDep,
    CsrfDep,
    LimiterDep,
    SessionDep,
    SettingsDep,
    client_ip,
)
from childlink.api.errors import ERROR_RESPONSES
from childlink.api.schemas import LoginRequest, LoginResponse, MeRead, OkResponse
from childlink.identity.guard import audit
from childlink.identity.models import User
from childlink.identity.service import (
    LoginPolicy,
    authenticate,
    end_web_session,
    principal_for,
    start_web_session,
)

router = APIRouter(prefix="/auth", tags=["auth"], responses=ERROR_RESPONSES)


def me_of(session: SessionDep, caller: Caller, csrf: str | None = None) -> MeRead:
    principal = caller.principal
    user = None if principal.user_id is None else session.get(User, principal.user_id)
    return MeRead(
        username=principal.username,
        display_name=None if user is None else user.display_name,
        role=principal.role.value,
        role_zh=principal.role.label_zh,
        role_en=principal.role.label_en,
        agency_code=principal.agency_code,
        jurisdiction=principal.jurisdiction,
        caseload=len(principal.caseload),
        via=caller.via,
        csrf_token=csrf
        if csrf is not None
        else (None if caller.web_session is None else caller.web_session.csrf_token),
    )


@router.post("/login", response_model=LoginResponse)
def login(
    body: LoginRequest,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    limiter: LimiterDep,
) -> LoginResponse:
    """Check the password and start a web session (HttpOnly, SameSite=Lax cookie).

    Repeated failures lock the account (``login_max_failures`` within a row, for
    ``login_lockout_minutes``); too many attempts from one address are refused with 429.
    """
    ip = client_ip(request)
    user = authenticate(
        session,
        body.username,
        body.password,
        client_ip=ip,
        policy=LoginPolicy.from_settings(settings),
        limiter=limiter,
    )
    row, token = start_web_session(session, user, client_ip=ip, hours=settings.session_hours)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    caller = Caller(principal_for(session, user), "session", web_session=row)
    request.state.caller = caller
    return LoginResponse(user=me_of(session, caller, row.csrf_token), csrf_token=row.csrf_token)


@router.post("/logout", response_model=OkResponse)
def logout(
    request: Request, response: Response, session: SessionDep, caller: CallerDep, _csrf: CsrfDep
) -> OkResponse:
    """End the web session (cookie callers need the CSRF token)."""
    if caller.web_session is not None:
        end_web_session(session, caller.web_session)
    audit(session, caller.principal, "auth.logout", "ok", None, ip=client_ip(request))
    response.delete_cookie(SESSION_COOKIE, path="/")
    return OkResponse()


@router.get("/me", response_model=MeRead)
def me(session: SessionDep, caller: CallerDep) -> MeRead:
    """The caller: role, agency, jurisdiction, caseload size and (cookie) CSRF token."""
    return me_of(session, caller)
