"""Fixtures shared by the whole suite: one database per backend, settings, a migrated session.

``database_url`` is parametrised over ``sqlite`` (a fresh file per test) and ``postgres`` (a
fresh schema per test inside one throw-away database per test session), so every test that
asks for it runs on both backends (house style 12). PostgreSQL comes from
``CHILDLINK_TEST_POSTGRES_URL``; when it cannot be reached the postgres cases are skipped,
except under CI (``CI`` set), where they fail: a green CI run must have exercised PostgreSQL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from childlink.config import Settings, get_settings, normalise_database_url
from childlink.store import migrate
from childlink.store.engine import build_engine, create_session_factory, redact_url
from support import backend_database

POSTGRES_URL_ENV = "CHILDLINK_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(autouse=True)
def _fresh_settings_cache() -> Iterator[None]:
    """``get_settings`` is cached per process; tests that change the environment need a reset."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """URL of the PostgreSQL server for tests; skips (or fails under CI) if unreachable."""
    url = normalise_database_url(os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL))
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except sa.exc.DBAPIError as error:
        reason = (
            f"PostgreSQL at {redact_url(url)} is unreachable "
            f"({' '.join(str(error.orig).split())[:200]}); set {POSTGRES_URL_ENV}"
        )
        if os.environ.get("CI"):
            pytest.fail(f"{reason}. CI is set, so PostgreSQL tests must not be skipped.")
        pytest.skip(reason)
    finally:
        engine.dispose()
    return url


@pytest.fixture(scope="session")
def postgres_database_url(postgres_server_url: str) -> Iterator[str]:
    """A database ``childlink_test_<hex>`` created for this test session and dropped after."""
    name = f"childlink_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield make_url(postgres_server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each backend, private to the test.

    SQLite: a new file under ``tmp_path``. PostgreSQL: a new schema, made the only entry of the
    ``search_path`` through the URL, so migrations, the ORM and the CLI all land in it.
    """
    yield from backend_database(request, request.param, tmp_path, "t")


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings pointing at the test's own database and data directory."""
    return Settings(database_url=database_url, data_dir=tmp_path / "var", environment="test")


@pytest.fixture
def migrated_settings(settings: Settings) -> Settings:
    """Settings whose database has been migrated to head (no reference data seeded)."""
    migrate.upgrade(settings)
    return settings


@pytest.fixture
def engine(migrated_settings: Settings) -> Iterator[sa.Engine]:
    """An engine on the migrated test database, disposed after the test."""
    engine = build_engine(migrated_settings)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: sa.Engine) -> Iterator[Session]:
    """A session on the migrated test database; the database itself is private to the test."""
    with create_session_factory(engine)() as session:
        yield session
