"""Engines and units of work built from :class:`~childlink.config.Settings`.

Nothing here runs at import time: the CLI, the web app and the workers each build one engine at
their edge and pass a session factory down. SQLite (the embedded default) is tuned so it behaves
like a real server for our needs: foreign keys enforced, WAL so readers never block the writer,
a busy timeout instead of instant "database is locked", and transactional DDL so a failed
migration leaves no half-built schema.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from childlink.config import Settings
from childlink.errors import DatabaseError

SQLITE_BUSY_TIMEOUT_MS = 15_000
"""How long a SQLite writer waits for another writer before failing (batch ingest can be slow)."""

POSTGRES_CONNECT_TIMEOUT_S = 10
"""Fail fast on an unreachable server instead of the driver's default of waiting forever."""


def build_engine(settings: Settings) -> Engine:
    """Create the engine for ``settings.effective_database_url``.

    Raises:
        DatabaseError: the URL is malformed or names a driver that is not installed.
    """
    url = parse_database_url(settings.effective_database_url)
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise DatabaseError(
            f"unsupported database {backend!r} in {redact_url(url)}: "
            "use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
        )
    if backend == "sqlite" and settings.database_url is None:
        # The embedded default lives under data_dir, which a fresh checkout lacks.
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        if backend == "sqlite":
            return _sqlite_engine(url, echo=settings.sql_echo)
        return _postgres_engine(url, echo=settings.sql_echo)
    except (exc.NoSuchModuleError, ImportError) as error:
        raise DatabaseError(
            f"no driver for database {redact_url(url)}: {_one_line(error)}"
        ) from error


def parse_database_url(url: str) -> URL:
    """Parse a SQLAlchemy URL, turning a malformed one into a one-line :class:`DatabaseError`."""
    try:
        return make_url(url)
    except (exc.ArgumentError, ValueError) as error:  # ValueError: e.g. a non-numeric port
        masked = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
        raise DatabaseError(f"invalid database URL {masked!r}: {_one_line(error)}") from error


def redact_url(url: str | URL) -> str:
    """The URL with its password masked, safe for error messages and logs."""
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except (exc.ArgumentError, ValueError):
        return "<unparseable URL>"
    return parsed.render_as_string(hide_password=True)


def create_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit, so services can return them.

    Every model module is imported first, so relationships and foreign keys between contexts
    resolve whichever service happens to open the first session.
    """
    from childlink.store.metadata import target_metadata

    target_metadata()
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit if the block succeeds, roll back if it raises.

    Services own the transaction (house style 4); repositories only ``flush``.
    """
    with factory() as session, session.begin():
        yield session


@contextmanager
def database_errors(url: str | URL) -> Iterator[None]:
    """Translate driver failures (unreachable server, bad file path) into one-line errors.

    Only connection-level failures are translated; integrity and programming errors are bugs or
    domain problems and keep their own type and traceback.
    """
    try:
        yield
    except (exc.OperationalError, exc.InterfaceError) as error:
        cause = error.orig if error.orig is not None else error
        raise DatabaseError(f"cannot use database {redact_url(url)}: {_one_line(cause)}") from error


def _sqlite_engine(url: URL, *, echo: bool) -> Engine:
    in_memory = url.database in (None, "", ":memory:")
    options: dict[str, Any] = {
        "echo": echo,
        "connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    }
    if in_memory:
        # Each new connection to :memory: is a new empty database; share one connection.
        options["poolclass"] = StaticPool
    engine = sa.create_engine(url, **options)

    @event.listens_for(engine, "connect")
    def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy (see "begin" below): pysqlite's own implicit
        # BEGIN skips DDL, which would make migrations non-atomic and SAVEPOINTs unreliable.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            if not in_memory:
                cursor.execute("PRAGMA journal_mode = WAL")
                # NORMAL is durable in WAL mode except for the last commit on power loss.
                cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin_sqlite(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN")

    return engine


def _postgres_engine(url: URL, *, echo: bool) -> Engine:
    return sa.create_engine(
        url,
        echo=echo,
        pool_pre_ping=True,
        connect_args={
            "connect_timeout": POSTGRES_CONNECT_TIMEOUT_S,
            "application_name": "childlink",
        },
    )


def _one_line(error: BaseException) -> str:
    """Collapse a driver message (psycopg's span several lines) into one line."""
    text = " ".join(str(error).split())
    return text or type(error).__name__
