"""Bulk writes of polars frames, inside the caller's transaction, without the ORM.

The ORM binds every parameter of every row through Python type processors, which caps an
insert at a few thousand rows a second. Here a frame whose columns are already in their
database form is handed to the driver in one go: ``executemany`` on SQLite, ``COPY ... FROM
STDIN`` on PostgreSQL (psycopg 3). Both run on the connection of the current transaction, so a
failure or a kill before the commit leaves nothing behind.

Frame columns must be named after table columns and be one of: String, integers, Boolean,
Date, or a UTC Datetime. The string forms must be what the column types store: canonical
hyphenated UUID text (:class:`~childlink.store.types.GUID`), JSON text
(:class:`~childlink.store.types.JSONDocument`), enum values. Dates and times are rendered per
database here, exactly as SQLAlchemy would store them: ISO text for dates and naive UTC
``YYYY-MM-DD HH:MM:SS.ffffff`` text for times on SQLite, native types on PostgreSQL.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from types import TracebackType
from typing import Any, Self

import numpy as np
import polars as pl
import pyarrow as pa
import sqlalchemy as sa

SQLITE_CHUNK_ROWS = 50_000
"""Rows converted to Python tuples at a time for ``executemany`` (bounds memory)."""

COPY_CHUNK_ROWS = 100_000
"""Rows rendered to CSV at a time for ``COPY`` (bounds memory)."""

BULK_CACHE_MIB = 256
"""SQLite page cache while ingesting (see :func:`bulk_page_cache`)."""

_COPY_NULL = r"\N"
# SQLAlchemy's SQLite DATETIME storage format (always with microseconds).
_SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S%.6f"
# Byte -> its two lowercase hex digits, packed in a uint16 (viewed back as two ASCII bytes).
_HEX = np.frombuffer(b"".join(f"{i:02x}".encode() for i in range(256)), dtype=np.uint16)
# Groups of the 32 hex digits of a UUID (8-4-4-4-12); group k lands k hyphens further on.
_UUID_GROUPS = ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32))


def bulk_insert(connection: sa.Connection, table: sa.Table, frame: pl.DataFrame) -> None:
    """Insert every row of ``frame`` into ``table`` on ``connection`` (no commit).

    Use ``session.connection()`` so the rows join the session's transaction.
    """
    if frame.height == 0:
        return
    unknown = [name for name in frame.columns if name not in table.c]
    if unknown:
        raise ValueError(f"{table.name} has no column(s) {', '.join(unknown)}")
    naive = [
        name
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is None
    ]
    if naive:
        raise ValueError(f"naive datetime column(s) {', '.join(naive)} refused: attach UTC")
    if connection.dialect.name == "postgresql":
        _copy_postgres(connection, table, frame)
    else:
        _executemany(connection, table, _sqlite_ready(frame))


class BulkWriter:
    """Bulk inserts on one background thread, in order, while the caller prepares the next.

    :meth:`submit` first waits for the previous submission (raising its error), so at most one
    group of frames is being written while the next is prepared: reading and standardising
    overlap with the database's work. Leaving the block waits for the writer (also when the
    block raises, so the transaction is never rolled back under a running insert) and raises
    its error. Inside the block nothing else may use ``connection``. On SQLite the page cache
    is enlarged meanwhile (:func:`bulk_page_cache`); where the SQLite connection refuses other
    threads (``check_same_thread``), the inserts run synchronously.
    """

    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection
        self._stack = ExitStack()
        self._executor: ThreadPoolExecutor | None = None
        self._pending: Future[None] | None = None

    def __enter__(self) -> Self:
        with ExitStack() as stack:
            stack.enter_context(bulk_page_cache(self.connection))
            executor = stack.enter_context(
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="childlink-bulk")
            )
            if _usable_from(executor, self.connection):
                self._executor = executor
            self._stack = stack.pop_all()
        return self

    def submit(self, *jobs: tuple[sa.Table, pl.DataFrame]) -> None:
        """Insert each ``(table, frame)`` in turn, after everything submitted before."""
        self.wait()
        if self._executor is None:
            self._write(jobs)
        else:
            self._pending = self._executor.submit(self._write, jobs)

    def wait(self) -> None:
        """Block until everything submitted is written; raise the writer's error, if any."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        with self._stack:
            if exc is None:
                self.wait()
            elif self._pending is not None:
                futures.wait([self._pending])  # the block's own error wins
                self._pending = None

    def _write(self, jobs: tuple[tuple[sa.Table, pl.DataFrame], ...]) -> None:
        for table, frame in jobs:
            bulk_insert(self.connection, table, frame)


def _usable_from(executor: ThreadPoolExecutor, connection: sa.Connection) -> bool:
    """May another thread use this connection? (pysqlite refuses unless check_same_thread.)"""
    if connection.dialect.name != "sqlite":
        return True
    raw = connection.connection.driver_connection
    if raw is None:
        return False
    try:
        executor.submit(raw.execute, "SELECT 1").result()
    except connection.dialect.loaded_dbapi.ProgrammingError:
        return False
    return True


@contextmanager
def bulk_page_cache(connection: sa.Connection, mib: int = BULK_CACHE_MIB) -> Iterator[None]:
    """On SQLite, a page cache of ``mib`` MiB while the block runs (then the previous size).

    A bulk insert updates every index of a table at places all over the index; with the
    default 2 MiB cache most of those pages are evicted and read back again and again. Other
    databases: no effect.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    previous = int(connection.exec_driver_sql("PRAGMA cache_size").scalar() or -2000)
    connection.exec_driver_sql(f"PRAGMA cache_size = -{int(mib) * 1024}")
    try:
        yield
    except BaseException:
        with suppress(sa.exc.DBAPIError):  # the block's own error wins
            connection.exec_driver_sql(f"PRAGMA cache_size = {previous}")
        raise
    connection.exec_driver_sql(f"PRAGMA cache_size = {previous}")


def uuid4_strings(n: int, *, ordered: bool = False) -> pl.Series:
    """``n`` random (version 4) UUIDs as canonical lowercase hyphenated text, vectorised.

    The same randomness source as :func:`uuid.uuid4` (``os.urandom``) with the version and
    variant bits set as RFC 9562 prescribes. ``ordered``: the same kind of random ids, sorted,
    so rows inserted in that order update a primary-key (or foreign-key) index in sequence
    instead of at random places: several times faster for a large insert into a big table.
    """
    if n == 0:
        return pl.Series("uuid", [], dtype=pl.String)
    raw = np.frombuffer(os.urandom(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    digits = _HEX[raw].view(np.uint8)  # (n, 32) ASCII hex digits
    text = np.full((n, 36), ord("-"), dtype=np.uint8)
    for hyphens, (start, stop) in enumerate(_UUID_GROUPS):
        text[:, start + hyphens : stop + hyphens] = digits[:, start:stop]
    offsets = np.arange(0, 36 * (n + 1), 36, dtype=np.int32)
    array = pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(text)])
    series = pl.Series("uuid", array)
    return series.sort() if ordered else series


def _quoted(connection: sa.Connection, table: sa.Table, columns: list[str]) -> tuple[str, str]:
    preparer = connection.dialect.identifier_preparer
    return preparer.format_table(table), ", ".join(preparer.quote(c) for c in columns)


def _sqlite_ready(frame: pl.DataFrame) -> pl.DataFrame:
    """Dates and times as the text SQLAlchemy stores on SQLite."""
    converted = []
    for name, dtype in frame.schema.items():
        if dtype == pl.Date:
            converted.append(pl.col(name).dt.strftime("%Y-%m-%d"))
        elif isinstance(dtype, pl.Datetime):
            moment = pl.col(name).dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            converted.append(moment.dt.strftime(_SQLITE_DATETIME))
    return frame.with_columns(converted) if converted else frame


def _executemany(connection: sa.Connection, table: sa.Table, frame: pl.DataFrame) -> None:
    name, columns = _quoted(connection, table, frame.columns)
    marks = ", ".join("?" * frame.width)
    sql = f"INSERT INTO {name} ({columns}) VALUES ({marks})"
    for chunk in frame.iter_slices(SQLITE_CHUNK_ROWS):
        connection.exec_driver_sql(sql, chunk.rows())


def _copy_postgres(connection: sa.Connection, table: sa.Table, frame: pl.DataFrame) -> None:
    name, columns = _quoted(connection, table, frame.columns)
    sql = f"COPY {name} ({columns}) FROM STDIN WITH (FORMAT csv, NULL '{_COPY_NULL}')"
    timestamps = {
        column: pl.col(column).dt.convert_time_zone("UTC")
        for column, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime)
    }
    if timestamps:
        frame = frame.with_columns(**timestamps)
    raw = connection.connection.driver_connection
    if raw is None:
        raise RuntimeError("the connection is closed")
    dbapi = connection.dialect.loaded_dbapi
    try:
        _copy_chunks(raw, sql, frame)
    except dbapi.Error as error:  # as SQLAlchemy reports it: IntegrityError, DataError...
        raise sa.exc.DBAPIError.instance(
            sql, None, error, dbapi.Error, dialect=connection.dialect
        ) from error


def _copy_chunks(raw: Any, sql: str, frame: pl.DataFrame) -> None:
    with raw.cursor() as cursor, cursor.copy(sql) as copy:
        for chunk in frame.iter_slices(COPY_CHUNK_ROWS):
            buffer = io.BytesIO()
            # Every string quoted, so an empty string or a literal \N is never read as NULL.
            chunk.write_csv(
                buffer,
                include_header=False,
                null_value=_COPY_NULL,
                quote_style="non_numeric",
                date_format="%Y-%m-%d",
                datetime_format="%Y-%m-%d %H:%M:%S%.6f%:z",
            )
            copy.write(buffer.getbuffer())
