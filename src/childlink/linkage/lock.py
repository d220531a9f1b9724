"""One linkage run at a time per database: across threads, processes and machines.

Two linkage runs that overlap would each place the same new record, and each could create a
child for it. Runs come from the CLI, the worker's record pipeline and the mandatory-report
intake, possibly in different processes (``childlink serve`` and ``childlink worker``), so a
thread lock alone is not enough: on PostgreSQL a session-level advisory lock serialises every
process and machine that uses the database; on the embedded SQLite database (one machine by
definition) an exclusive ``flock`` on a file beside the database file does.
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

ADVISORY_LOCK_KEY = 0x43484C4B4C4E4B  # "CHLKLNK": ChildLink linkage
"""The PostgreSQL advisory lock key of linkage runs."""

_THREAD_LOCK = threading.Lock()
_held = threading.local()


def _lock_file(engine: sa.Engine, data_dir: Path) -> Path:
    database = engine.url.database
    if database and database != ":memory:":
        return Path(database).with_name(Path(database).name + ".linkage.lock")
    return data_dir / "linkage.lock"


@contextmanager
def linkage_lock(factory: sessionmaker[Session], data_dir: Path) -> Iterator[None]:
    """Hold the database's linkage lock (waits for a run elsewhere to finish).

    Re-entrant in one thread: a caller that holds it (the record pipeline around its exact-ID
    pass and the incremental run) may call :func:`~childlink.linkage.service.link_county`,
    which takes it again.
    """
    if getattr(_held, "depth", 0):
        _held.depth += 1
        try:
            yield
        finally:
            _held.depth -= 1
        return
    engine = factory.kw["bind"]
    assert isinstance(engine, sa.Engine)
    with _THREAD_LOCK:
        _held.depth = 1
        try:
            with _database_lock(engine, data_dir):
                yield
        finally:
            _held.depth = 0


@contextmanager
def _database_lock(engine: sa.Engine, data_dir: Path) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(sa.select(sa.func.pg_advisory_lock(ADVISORY_LOCK_KEY)))
            connection.commit()
            try:
                yield
            finally:
                connection.execute(sa.select(sa.func.pg_advisory_unlock(ADVISORY_LOCK_KEY)))
                connection.commit()
        return
    path = _lock_file(engine, data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
