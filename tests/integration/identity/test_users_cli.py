"""``childlink users``: accounts, tokens and keys from the command line, on both backends."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from childlink.access.choices import Role
from childlink.cli.main import app
from childlink.config import Settings
from childlink.errors import AccountLockedError, AuthenticationError
from childlink.identity.models import ApiToken, User
from childlink.identity.service import (
    LoginPolicy,
    authenticate,
    principal_for,
    resolve_api_key,
    resolve_api_token,
)
from childlink.sources.service import seed_reference_data
from childlink.store.base import utc_now
from childlink.store.engine import build_engine, create_session_factory, unit_of_work


@pytest.fixture
def cli_env(migrated_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("CHILDLINK_DATABASE_URL", str(migrated_settings.database_url))
    monkeypatch.setenv("CHILDLINK_DATA_DIR", str(migrated_settings.data_dir))
    return migrated_settings


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_users_commands(cli_env: Settings) -> None:
    out = _invoke("users", "add", "wang", "--role", "supervisor", "--name", "王督导")
    password = out.strip().rsplit(" ", 1)[-1]
    assert len(password) >= 16
    duplicate = CliRunner().invoke(app, ["users", "add", "wang", "--role", "teacher"])
    assert duplicate.exit_code != 0
    listed = json.loads(_invoke("users", "list", "--json"))
    assert [(u["username"], u["role"], u["active"]) for u in listed] == [
        ("wang", "supervisor", True)
    ]

    engine = build_engine(cli_env)
    factory = create_session_factory(engine)
    try:
        with unit_of_work(factory) as session:
            user = authenticate(session, "wang", password, client_ip=None)
            stored = session.scalars(sa.select(User)).one()
            assert stored.password_hash is not None
            assert stored.password_hash.startswith("$argon2id$")
            assert password not in stored.password_hash
            assert principal_for(session, user).role is Role.SUPERVISOR

        token_line = _invoke("users", "token", "wang", "--days", "1")
        token = token_line.strip().rsplit(" ", 1)[-1]
        with unit_of_work(factory) as session:
            assert resolve_api_token(session, token).username == "wang"
            row = session.scalars(sa.select(ApiToken)).one()
            assert row.token_hash != token
            row.expires_at = utc_now() - timedelta(seconds=1)
        with unit_of_work(factory) as session, pytest.raises(AuthenticationError):
            resolve_api_token(session, token)

        with unit_of_work(factory) as session:
            seed_reference_data(session)
        key = _invoke("users", "apikey", "education").strip().rsplit(" ", 1)[-1]
        with unit_of_work(factory) as session:
            assert resolve_api_key(session, key)[1] == "education"
        _invoke("users", "apikey", "education", "--revoke", key[:12])
        with unit_of_work(factory) as session, pytest.raises(AuthenticationError):
            resolve_api_key(session, key)

        _invoke("users", "disable", "wang")
        with factory() as session, pytest.raises(AuthenticationError):
            authenticate(session, "wang", password, client_ip=None)
        _invoke("users", "enable", "wang")
        new_password = _invoke("users", "reset", "wang").strip().rsplit(" ", 1)[-1]
        assert new_password != password
        with factory() as session:
            policy = LoginPolicy(max_failures=2, lockout_minutes=5)
            for _ in range(2):
                with pytest.raises(AuthenticationError):
                    authenticate(session, "wang", password, client_ip=None, policy=policy)
            with pytest.raises(AccountLockedError):
                authenticate(session, "wang", new_password, client_ip=None, policy=policy)
        _invoke("users", "reset", "wang", "--password", "a-long-enough-one")
        with unit_of_work(factory) as session:
            assert authenticate(session, "wang", "a-long-enough-one", client_ip=None)
    finally:
        engine.dispose()
