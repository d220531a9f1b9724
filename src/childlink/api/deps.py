"""Request dependencies: the database session, who is calling, for which purpose, CSRF.

Three ways to be someone: the web session cookie (browsers; unsafe methods need the CSRF
token), ``Authorization: Bearer <token>`` (a person's API token) and ``X-API-Key`` (a
department's data feed). All three end in the same :class:`~childlink.access.principal.Principal`
that the policy judges, so an OIDC login would only add a fourth way in.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Header, Query, Request
from sqlalchemy.orm import Session, sessionmaker

from childlink.access.choices import Purpose
from childlink.access.principal import Principal
from childlink.config import Settings
from childlink.errors import AuthenticationError, ChildLinkError
from childlink.identity.models import WebSession
from childlink.identity.service import (
    LoginRateLimiter,
    principal_for,
    principal_for_api_key,
    resolve_api_key,
    resolve_api_token,
    resolve_web_session,
)
from childlink.privacy.keys import FieldCipher, KeyStore

SESSION_COOKIE = "childlink_session"
ANON_CSRF_COOKIE = "childlink_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class NotAuthenticatedError(AuthenticationError):
    """No credentials on a request that needs them."""


class CsrfError(ChildLinkError):
    """A cookie-authenticated unsafe request without the right CSRF token."""


class PurposeRequiredError(ChildLinkError):
    """The endpoint processes child data and the request named no purpose."""


@dataclass(frozen=True)
class Caller:
    """The authenticated caller and how they proved it."""

    principal: Principal
    via: Literal["session", "token", "api_key"]
    web_session: WebSession | None = None
    department_code: str | None = None


def field_cipher(request: Request) -> FieldCipher:
    """The app's cipher for sealed fields, made on first use (it reads the key files)."""
    cipher: FieldCipher | None = getattr(request.app.state, "field_cipher", None)
    if cipher is None:
        cipher = FieldCipher(KeyStore.from_settings(request.app.state.settings))
        request.app.state.field_cipher = cipher
    return cipher


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_factory(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.session_factory
    return factory


def get_limiter(request: Request) -> LoginRateLimiter:
    limiter: LoginRateLimiter = request.app.state.login_limiter
    return limiter


def get_session(request: Request) -> Iterator[Session]:
    """One session per request: committed if the endpoint returns, rolled back if it raises."""
    with get_factory(request)() as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        session.commit()


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
FactoryDep = Annotated[sessionmaker[Session], Depends(get_factory)]
LimiterDep = Annotated[LoginRateLimiter, Depends(get_limiter)]


def client_ip(request: Request) -> str | None:
    """The peer address (no proxy headers are trusted: ChildLink is served directly)."""
    return None if request.client is None else request.client.host


def _caller(request: Request, session: Session) -> Caller | None:
    cached = getattr(request.state, "caller", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    caller: Caller | None = None
    api_key = request.headers.get("x-api-key")
    authorization = request.headers.get("authorization", "")
    cookie = request.cookies.get(SESSION_COOKIE)
    if api_key:
        key, department = resolve_api_key(session, api_key)
        caller = Caller(
            principal_for_api_key(key, department), "api_key", department_code=department
        )
    elif authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError("use 'Authorization: Bearer <token>'")
        user = resolve_api_token(session, token.strip())
        caller = Caller(principal_for(session, user), "token")
    elif cookie:
        row = resolve_web_session(session, cookie)
        if row is not None:
            caller = Caller(principal_for(session, row.user), "session", web_session=row)
    request.state.caller = caller
    return caller


def get_optional_caller(request: Request, session: SessionDep) -> Caller | None:
    return _caller(request, session)


def get_caller(request: Request, session: SessionDep) -> Caller:
    caller = _caller(request, session)
    if caller is None:
        raise NotAuthenticatedError("log in first (session cookie, bearer token or API key)")
    return caller


OptionalCallerDep = Annotated[Caller | None, Depends(get_optional_caller)]
CallerDep = Annotated[Caller, Depends(get_caller)]


def get_principal(caller: CallerDep) -> Principal:
    return caller.principal


def get_optional_principal(caller: OptionalCallerDep) -> Principal | None:
    return None if caller is None else caller.principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]
OptionalPrincipalDep = Annotated[Principal | None, Depends(get_optional_principal)]


async def get_purpose(
    request: Request,
    x_purpose: Annotated[
        Purpose | None,
        Header(alias="X-Purpose", description="Why the data is processed (PIPL)."),
    ] = None,
    purpose: Annotated[Purpose | None, Query(description="Alternative to X-Purpose.")] = None,
) -> Purpose:
    """The purpose of the request: ``X-Purpose`` header, ``purpose`` query or form field."""
    chosen = x_purpose or purpose
    if chosen is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get("purpose")
        if isinstance(value, str) and value in Purpose.__members__.values():
            chosen = Purpose(value)
    if chosen is None:
        choices = ", ".join(p.value for p in Purpose)
        raise PurposeRequiredError(f"name the purpose: X-Purpose header, one of {choices}")
    return chosen


PurposeDep = Annotated[Purpose, Depends(get_purpose)]


def csrf_token(request: Request) -> str:
    """The CSRF token to embed in forms and send as ``X-CSRF-Token``.

    Logged in: the session's token. Anonymous (the login form): a random token also set as
    the ``childlink_csrf`` cookie by the app's middleware (double-submit).
    """
    caller = getattr(request.state, "caller", None)
    if isinstance(caller, Caller) and caller.web_session is not None:
        return caller.web_session.csrf_token
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        factory = get_factory(request)
        with factory() as session:
            row = resolve_web_session(session, cookie)
            if row is not None:
                return row.csrf_token
    token: str | None = getattr(request.state, "anon_csrf", None)
    if token is None:
        token = request.cookies.get(ANON_CSRF_COOKIE) or secrets.token_urlsafe(32)
        request.state.anon_csrf = token
    return token


async def check_csrf(request: Request, caller: OptionalCallerDep) -> None:
    """Refuse cookie-authenticated unsafe requests whose CSRF token is missing or wrong.

    Bearer tokens and API keys are not sent by browsers on their own, so they need none.
    An anonymous form that carries the double-submit cookie is checked against it.
    """
    if request.method in SAFE_METHODS:
        return
    if caller is not None and caller.via != "session":
        return
    expected: str | None
    if caller is not None and caller.web_session is not None:
        expected = caller.web_session.csrf_token
    else:
        expected = request.cookies.get(ANON_CSRF_COOKIE)
        if expected is None:
            return  # no ambient credentials to abuse
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not given or not secrets.compare_digest(given, expected):
        raise CsrfError(f"missing or wrong CSRF token (send the {CSRF_HEADER} header)")


CsrfDep = Annotated[None, Depends(check_csrf)]
