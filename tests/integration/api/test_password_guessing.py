"""Password guessing over HTTP: per-account lock-out and per-address rate limiting."""

from __future__ import annotations

from datetime import timedelta

import httpx
import sqlalchemy as sa

from childlink.access.choices import Role
from childlink.audit.models import AuditEntry
from childlink.config import Settings
from childlink.identity.models import User
from childlink.identity.service import create_user, disable_user, enable_user, reset_password
from childlink.store.base import utc_now
from childlink.store.engine import build_engine, create_session_factory, unit_of_work

from .conftest import LiveServer

PASSWORD = "correct horse battery"


def test_lockout_then_rate_limit(migrated_settings: Settings) -> None:
    settings = migrated_settings.model_copy(
        update={"login_max_failures": 3, "login_lockout_minutes": 15, "login_attempts_per_ip": 9}
    )
    engine = build_engine(settings)
    factory = create_session_factory(engine)
    try:
        with unit_of_work(factory) as session:
            create_user(session, username="guessed", role=Role.SUPERVISOR, password=PASSWORD)
        with LiveServer(settings) as server:
            login = f"{server.url}/api/v1/auth/login"
            with httpx.Client(timeout=30) as client:

                def attempt(username: str, password: str) -> httpx.Response:
                    return client.post(login, json={"username": username, "password": password})

                # Three wrong guesses lock the account ...
                for guess in ("123456", "password", "qwerty123"):
                    assert attempt("guessed", guess).status_code == 401
                # ... so even the right password is refused now, with a clear message.
                locked = attempt("guessed", PASSWORD)
                assert locked.status_code == 423
                assert "locked" in locked.json()["error"]["message"]
                # An unknown user is refused exactly like a wrong password.
                unknown = attempt("nobody", PASSWORD)
                assert unknown.status_code == 401
                assert unknown.json()["error"]["message"] == "invalid username or password"

                with unit_of_work(factory) as session:
                    user = session.scalars(sa.select(User).where(User.username == "guessed")).one()
                    assert user.locked_until is not None
                    assert user.locked_until > utc_now() + timedelta(minutes=14)
                    user.locked_until = utc_now() - timedelta(seconds=1)  # the lock has run out

                ok = attempt("guessed", PASSWORD)
                assert ok.status_code == 200, ok.text
                with factory() as session:
                    user = session.scalars(sa.select(User).where(User.username == "guessed")).one()
                    assert user.failed_logins == 0
                    assert user.last_login_at is not None

                # Six attempts so far from 127.0.0.1; the limit is nine per window.
                for name in ("a", "b", "c"):
                    assert attempt(name, "x").status_code == 401
                limited = attempt("guessed", PASSWORD)
                assert limited.status_code == 429
                assert int(limited.headers["Retry-After"]) > 0
        with factory() as session:
            outcomes = list(
                session.execute(
                    sa.select(AuditEntry.actor, AuditEntry.outcome, AuditEntry.details)
                    .where(AuditEntry.action == "auth.login")
                    .order_by(AuditEntry.seq)
                )
            )
        reasons = [(actor, outcome, details.get("reason")) for actor, outcome, details in outcomes]
        assert reasons == [
            ("guessed", "fail", "bad_password"),
            ("guessed", "fail", "bad_password"),
            ("guessed", "fail", "bad_password_locked"),
            ("guessed", "fail", "locked"),
            ("nobody", "fail", "unknown_user"),
            ("guessed", "ok", None),
            ("a", "fail", "unknown_user"),
            ("b", "fail", "unknown_user"),
            ("c", "fail", "unknown_user"),
            ("guessed", "fail", "rate_limited"),
        ]
    finally:
        engine.dispose()


def test_disabled_user_and_reset_end_sessions(migrated_settings: Settings) -> None:
    engine = build_engine(migrated_settings)
    factory = create_session_factory(engine)
    try:
        with unit_of_work(factory) as session:
            create_user(session, username="leaver", role=Role.TEACHER, password=PASSWORD)
        with (
            LiveServer(migrated_settings) as server,
            httpx.Client(base_url=server.url, timeout=30) as client,
        ):
            body = {"username": "leaver", "password": PASSWORD}
            assert client.post("/api/v1/auth/login", json=body).status_code == 200
            assert client.get("/api/v1/auth/me").status_code == 200
            with unit_of_work(factory) as session:
                disable_user(session, "leaver")
            assert client.get("/api/v1/auth/me").status_code == 401
            assert client.post("/api/v1/auth/login", json=body).status_code == 401
            with unit_of_work(factory) as session:
                enable_user(session, "leaver")
                new_password = reset_password(session, "leaver")
            assert client.post("/api/v1/auth/login", json=body).status_code == 401
            fresh = client.post(
                "/api/v1/auth/login", json={"username": "leaver", "password": new_password}
            )
            assert fresh.status_code == 200
    finally:
        engine.dispose()
