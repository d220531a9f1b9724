"""Accounts and credentials: log-in with lock-out and rate limiting, sessions, tokens, keys.

Functions take the caller's session and only flush; the caller (API request, CLI command)
commits. The exception is a refused log-in: the failure counter, the lock and the audit entry
must survive the error the caller receives, so :func:`authenticate` commits them before raising.

Single sign-on: password checking goes through an :class:`AuthProvider` chosen by the user's
``auth_provider``. Only ``local`` (argon2id) exists today; an OIDC provider would add a
provider (and a redirect endpoint that maps the ID token's subject to a user) without changing
users, sessions, principals or the policy.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.orm import Session

from childlink.access.choices import Role
from childlink.access.models import Agency
from childlink.access.principal import Principal
from childlink.audit.service import record_event
from childlink.config import Settings
from childlink.errors import (
    AccountLockedError,
    AuthenticationError,
    IdentityError,
    NotFoundError,
    RateLimitedError,
)
from childlink.identity.models import ApiKey, ApiToken, CaseAssignment, User, WebSession
from childlink.regions.models import Region
from childlink.sources.models import Department
from childlink.store.base import utc_now

MIN_PASSWORD_LENGTH = 10
TOKEN_PREFIX = "clt_"
KEY_PREFIX = "clk_"
_HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory defaults of argon2-cffi
_DUMMY_HASH = _HASHER.hash("not-a-password-of-anyone")
INVALID_CREDENTIALS = "invalid username or password"


def hash_password(password: str) -> str:
    """An argon2id hash (with its own salt and parameters) of ``password``."""
    return _HASHER.hash(password)


def generate_password() -> str:
    """A random password of 16 URL-safe characters (about 96 bits), for new and reset accounts."""
    return secrets.token_urlsafe(12)


def digest(secret: str) -> str:
    """SHA-256 hex digest of a high-entropy secret (session, token, key)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------------
# Providers (the single sign-on seam)
# --------------------------------------------------------------------------------------------


class AuthProvider(Protocol):
    """Checks a user's credentials. ``local`` checks the argon2id hash; OIDC would go here."""

    name: str

    def verify(self, user: User, password: str) -> bool: ...


class LocalPasswordProvider:
    """Passwords hashed with argon2id in ``users.password_hash``; rehashes on parameter change."""

    name = "local"

    def verify(self, user: User, password: str) -> bool:
        if not user.password_hash:
            return False
        try:
            _HASHER.verify(user.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        if _HASHER.check_needs_rehash(user.password_hash):
            user.password_hash = _HASHER.hash(password)
        return True


PROVIDERS: dict[str, AuthProvider] = {"local": LocalPasswordProvider()}


# --------------------------------------------------------------------------------------------
# Rate limiting per client address
# --------------------------------------------------------------------------------------------


class LoginRateLimiter:
    """At most ``attempts`` log-in attempts per client address in a sliding window.

    In-process memory (a deque of timestamps per address): enough for the single-process
    deployment ChildLink ships; several worker processes would each count separately, which a
    shared store (the database or Redis) would fix. Per-account lock-out, stored in the
    database, is the second line and holds across processes.
    """

    def __init__(self, attempts: int, window_seconds: float) -> None:
        self.attempts = attempts
        self.window = window_seconds
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, client_ip: str) -> None:
        """Count one attempt from ``client_ip``; raise if it is over the limit."""
        now = time.monotonic()
        with self._lock:
            seen = self._seen.setdefault(client_ip, deque())
            while seen and seen[0] <= now - self.window:
                seen.popleft()
            if len(seen) >= self.attempts:
                error = RateLimitedError(
                    "too many login attempts from your address; try again later"
                )
                error.retry_after = max(1, int(seen[0] + self.window - now) + 1)
                raise error
            seen.append(now)

    def reset(self) -> None:
        with self._lock:
            self._seen.clear()


@dataclass(frozen=True)
class LoginPolicy:
    """Lock-out parameters (from :class:`~childlink.config.Settings`)."""

    max_failures: int = 5
    lockout_minutes: int = 15

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginPolicy:
        return cls(settings.login_max_failures, settings.login_lockout_minutes)


# --------------------------------------------------------------------------------------------
# Log-in
# --------------------------------------------------------------------------------------------


def _user_by_name(session: Session, username: str) -> User | None:
    return session.scalar(sa.select(User).where(User.username == username.strip()))


def authenticate(
    session: Session,
    username: str,
    password: str,
    *,
    client_ip: str | None,
    policy: LoginPolicy | None = None,
    limiter: LoginRateLimiter | None = None,
) -> User:
    """The active user whose credentials these are; every attempt is audited.

    Raises:
        RateLimitedError: too many attempts from ``client_ip`` (nothing else is checked).
        AccountLockedError: the account is locked after repeated failures.
        AuthenticationError: unknown user, wrong password or disabled account (one message).
    """
    policy = policy or LoginPolicy()
    actor = username.strip()[:64] or "(empty)"
    if limiter is not None and client_ip is not None:
        try:
            limiter.hit(client_ip)
        except RateLimitedError:
            _refuse(session, actor, "rate_limited", client_ip)
            raise
    user = _user_by_name(session, username)
    now = utc_now()
    if user is None:
        _burn_time(password)
        _refuse(session, actor, "unknown_user", client_ip)
        raise AuthenticationError(INVALID_CREDENTIALS)
    if user.locked_until is not None and user.locked_until > now:
        _refuse(session, actor, "locked", client_ip)
        raise AccountLockedError(
            f"account locked after repeated failed logins until {user.locked_until:%H:%M} UTC"
        )
    provider = PROVIDERS.get(user.auth_provider)
    if provider is None or not provider.verify(user, password):
        user.failed_logins += 1
        reason = "bad_password"
        if user.failed_logins >= policy.max_failures:
            user.locked_until = now + timedelta(minutes=policy.lockout_minutes)
            user.failed_logins = 0
            reason = "bad_password_locked"
        _refuse(session, actor, reason, client_ip)
        raise AuthenticationError(INVALID_CREDENTIALS)
    if not user.is_active:
        _refuse(session, actor, "disabled", client_ip)
        raise AuthenticationError(INVALID_CREDENTIALS)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    record_event(session, actor=actor, action="auth.login", outcome="ok", details={}, ip=client_ip)
    session.flush()
    return user


def _burn_time(password: str) -> None:
    """Verify against a dummy hash so an unknown username takes as long as a wrong password."""
    try:
        _HASHER.verify(_DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return


def _refuse(session: Session, actor: str, reason: str, client_ip: str | None) -> None:
    record_event(
        session,
        actor=actor,
        action="auth.login",
        outcome="fail",
        details={"reason": reason},
        ip=client_ip,
    )
    session.commit()


# --------------------------------------------------------------------------------------------
# Principals
# --------------------------------------------------------------------------------------------


def principal_for(session: Session, user: User) -> Principal:
    """What the policy engine needs to know about ``user``."""
    agency_code = None
    if user.agency_id is not None:
        agency = session.get(Agency, user.agency_id)
        agency_code = None if agency is None else agency.code
    caseload = frozenset(
        session.scalars(
            sa.select(CaseAssignment.master_child_id).where(CaseAssignment.user_id == user.id)
        )
    )
    return Principal(
        user_id=user.id,
        username=user.username,
        role=user.role,
        agency_code=agency_code,
        jurisdiction=user.jurisdiction_code,
        caseload=caseload,
    )


def principal_for_api_key(key: ApiKey, department_code: str) -> Principal:
    """A department feed: a data officer of no person, for data pushes only."""
    return Principal(
        user_id=None,
        username=f"apikey:{department_code}:{key.prefix}",
        role=Role.DATA_OFFICER,
        agency_code=None,
        jurisdiction=None,
        is_api_key=True,
    )


# --------------------------------------------------------------------------------------------
# Accounts
# --------------------------------------------------------------------------------------------


def _account_event(session: Session, actor: str, action: str, **details: object) -> None:
    """Account changes are audited like data changes (who changed whose access)."""
    record_event(session, actor=actor, action=action, outcome="ok", details=dict(details))


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise IdentityError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")


def get_user(session: Session, username: str) -> User:
    """The user called ``username``.

    Raises:
        NotFoundError: there is none.
    """
    user = _user_by_name(session, username)
    if user is None:
        raise NotFoundError(f"no user {username!r}")
    return user


def create_user(
    session: Session,
    *,
    username: str,
    role: Role,
    password: str | None = None,
    display_name: str | None = None,
    agency_code: str | None = None,
    jurisdiction_code: str | None = None,
    locale: str = "zh-Hans",
    actor: str = "system",
) -> tuple[User, str]:
    """Add an account; returns it and its password (generated when none is given).

    Raises:
        IdentityError: the username is taken, the password too short, or the agency or
            jurisdiction unknown.
    """
    username = username.strip()
    if not username or len(username) > 64:
        raise IdentityError("a username needs 1 to 64 characters")
    if _user_by_name(session, username) is not None:
        raise IdentityError(f"username {username!r} is taken")
    password = password or generate_password()
    _check_password(password)
    agency_id = None
    if agency_code is not None:
        agency = session.scalar(sa.select(Agency).where(Agency.code == agency_code))
        if agency is None:
            raise IdentityError(f"no agency {agency_code!r}")
        agency_id = agency.id
    if jurisdiction_code is not None and session.get(Region, jurisdiction_code) is None:
        raise IdentityError(f"no region {jurisdiction_code!r} (use the 12-digit code)")
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=hash_password(password),
        role=role,
        agency_id=agency_id,
        jurisdiction_code=jurisdiction_code,
        locale=locale,
        is_active=True,
        failed_logins=0,
        password_changed_at=utc_now(),
    )
    session.add(user)
    session.flush()
    _account_event(
        session,
        actor,
        "users.add",
        username=username,
        role=role.value,
        agency=agency_code,
        jurisdiction=jurisdiction_code,
    )
    return user, password


def list_users(session: Session) -> list[User]:
    """Every account, by username."""
    return list(session.scalars(sa.select(User).order_by(User.username)))


def _end_sessions(session: Session, user: User) -> None:
    now = utc_now()
    session.execute(
        sa.update(WebSession)
        .where(WebSession.user_id == user.id, WebSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def disable_user(session: Session, username: str, *, actor: str = "system") -> User:
    """Refuse further log-ins and end the user's sessions and tokens (the row stays)."""
    user = get_user(session, username)
    user.is_active = False
    _end_sessions(session, user)
    session.execute(
        sa.update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utc_now())
    )
    session.flush()
    _account_event(session, actor, "users.disable", username=username)
    return user


def enable_user(session: Session, username: str, *, actor: str = "system") -> User:
    """Allow log-ins again (after :func:`disable_user`)."""
    user = get_user(session, username)
    user.is_active = True
    session.flush()
    _account_event(session, actor, "users.enable", username=username)
    return user


def reset_password(
    session: Session, username: str, password: str | None = None, *, actor: str = "system"
) -> str:
    """Set a new password (generated when none is given), unlock, end every session."""
    user = get_user(session, username)
    password = password or generate_password()
    _check_password(password)
    user.password_hash = hash_password(password)
    user.password_changed_at = utc_now()
    user.failed_logins = 0
    user.locked_until = None
    _end_sessions(session, user)
    session.flush()
    _account_event(session, actor, "users.reset", username=username)
    return password


def assign_case(
    session: Session, username: str, master_child_id: uuid.UUID, *, assigned_by: str | None
) -> None:
    """Put a child on the user's caseload (idempotent; audited as ``users.assign``)."""
    user = get_user(session, username)
    exists = session.scalar(
        sa.select(CaseAssignment.id).where(
            CaseAssignment.user_id == user.id, CaseAssignment.master_child_id == master_child_id
        )
    )
    if exists is None:
        session.add(
            CaseAssignment(
                user_id=user.id, master_child_id=master_child_id, assigned_by=assigned_by
            )
        )
        session.flush()
        record_event(
            session,
            actor=assigned_by or "system",
            action="users.assign",
            outcome="ok",
            child_id=master_child_id,
            details={"username": username},
        )


# --------------------------------------------------------------------------------------------
# Web sessions
# --------------------------------------------------------------------------------------------


def start_web_session(
    session: Session, user: User, *, client_ip: str | None, hours: int = 8
) -> tuple[WebSession, str]:
    """A new browser session; returns the row and the cookie value (shown nowhere else)."""
    token = secrets.token_urlsafe(32)
    row = WebSession(
        user_id=user.id,
        token_hash=digest(token),
        csrf_token=secrets.token_urlsafe(32),
        client_ip=client_ip,
        created_at=utc_now(),
        expires_at=utc_now() + timedelta(hours=hours),
    )
    session.add(row)
    session.flush()
    return row, token


def resolve_web_session(session: Session, token: str) -> WebSession | None:
    """The live session of a cookie value, or None (unknown, expired, revoked, user disabled)."""
    row = session.scalar(sa.select(WebSession).where(WebSession.token_hash == digest(token)))
    if row is None or row.revoked_at is not None or row.expires_at <= utc_now():
        return None
    if not row.user.is_active:
        return None
    return row


def end_web_session(session: Session, row: WebSession) -> None:
    """Log out."""
    row.revoked_at = utc_now()
    session.flush()


# --------------------------------------------------------------------------------------------
# Personal API tokens and department API keys
# --------------------------------------------------------------------------------------------


def issue_api_token(
    session: Session, username: str, *, name: str, days: int = 90, actor: str = "system"
) -> tuple[ApiToken, str]:
    """A personal token for scripts; returns the row and the token (shown once)."""
    user = get_user(session, username)
    if not user.is_active:
        raise IdentityError(f"user {username!r} is disabled")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        name=name,
        prefix=secret[:12],
        token_hash=digest(secret),
        created_at=utc_now(),
        expires_at=utc_now() + timedelta(days=days),
    )
    session.add(row)
    session.flush()
    _account_event(session, actor, "users.token", username=username, prefix=row.prefix, days=days)
    return row, secret


def resolve_api_token(session: Session, secret: str) -> User:
    """The user of a bearer token.

    Raises:
        AuthenticationError: unknown, expired or revoked token, or a disabled user.
    """
    row = session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == digest(secret)))
    now = utc_now()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise AuthenticationError("invalid, expired or revoked API token")
    if not row.user.is_active:
        raise AuthenticationError("invalid, expired or revoked API token")
    row.last_used_at = now
    return row.user


def revoke_api_token(session: Session, prefix: str, *, actor: str = "system") -> int:
    """Revoke the token(s) starting with ``prefix``; returns how many."""
    result = session.execute(
        sa.update(ApiToken)
        .where(ApiToken.prefix == prefix, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utc_now())
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    _account_event(session, actor, "users.token_revoke", prefix=prefix, revoked=count)
    return count


def issue_api_key(
    session: Session,
    department_code: str,
    *,
    name: str,
    days: int | None = None,
    actor: str = "system",
) -> tuple[ApiKey, str]:
    """A key for one department's data feeds; returns the row and the key (shown once)."""
    department = session.scalar(sa.select(Department).where(Department.code == department_code))
    if department is None:
        raise IdentityError(f"no department {department_code!r}")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        department_id=department.id,
        name=name,
        prefix=secret[:12],
        key_hash=digest(secret),
        created_at=utc_now(),
        expires_at=None if days is None else utc_now() + timedelta(days=days),
    )
    session.add(row)
    session.flush()
    _account_event(
        session, actor, "users.apikey", department=department_code, prefix=row.prefix, name=name
    )
    return row, secret


def resolve_api_key(session: Session, secret: str) -> tuple[ApiKey, str]:
    """The key row and its department code.

    Raises:
        AuthenticationError: unknown, expired or revoked key.
    """
    row = session.scalar(sa.select(ApiKey).where(ApiKey.key_hash == digest(secret)))
    now = utc_now()
    if (
        row is None
        or row.revoked_at is not None
        or (row.expires_at is not None and row.expires_at <= now)
    ):
        raise AuthenticationError("invalid, expired or revoked API key")
    department = session.get(Department, row.department_id)
    assert department is not None  # foreign key
    row.last_used_at = now
    return row, department.code


def revoke_api_key(session: Session, prefix: str, *, actor: str = "system") -> int:
    """Revoke the key(s) starting with ``prefix``; returns how many."""
    result = session.execute(
        sa.update(ApiKey)
        .where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
        .values(revoked_at=utc_now())
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    _account_event(session, actor, "users.apikey_revoke", prefix=prefix, revoked=count)
    return count


def is_locked(user: User, now: datetime | None = None) -> bool:
    """Whether the account is locked right now."""
    return user.locked_until is not None and user.locked_until > (now or utc_now())
