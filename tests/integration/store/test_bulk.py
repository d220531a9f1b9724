"""Bulk inserts store exactly what the ORM would, on both backends, inside the transaction."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from childlink.store.bulk import BulkWriter, bulk_insert, uuid4_strings
from childlink.store.types import GUID, JSONDocument, UTCDateTime

metadata = sa.MetaData()
probe = sa.Table(
    "bulk_probe",
    metadata,
    sa.Column("id", GUID(), primary_key=True),
    sa.Column("label", sa.String(50)),
    sa.Column("number", sa.Integer),
    sa.Column("day", sa.Date),
    sa.Column("at", UTCDateTime()),
    sa.Column("doc", JSONDocument()),
)

ROWS: list[dict[str, object]] = [
    {"label": "普通", "number": 1, "day": date(2015, 3, 2), "doc": {"姓名": "张三", "n": 1}},
    {"label": "", "number": None, "day": None, "doc": {"a": None, "b": [1, "x"]}},
    {"label": None, "number": 0, "day": date(1900, 1, 1), "doc": {}},
    {"label": "\\N", "number": -7, "day": date(2024, 2, 29), "doc": {"q": 'say "hi",\nbye'}},
    {"label": 'quote " comma , newline \n', "number": 2**31 - 1, "day": None, "doc": []},
]


def _frame(ids: list[str], at: datetime) -> pl.DataFrame:
    docs = [_json(row["doc"]) for row in ROWS]
    return pl.DataFrame(
        {
            "id": ids,
            "label": [row["label"] for row in ROWS],
            "number": [row["number"] for row in ROWS],
            "day": [row["day"] for row in ROWS],
            "at": [at] * len(ROWS),
            "doc": docs,
        },
        schema={
            "id": pl.String,
            "label": pl.String,
            "number": pl.Int64,
            "day": pl.Date,
            "at": pl.Datetime("us", "UTC"),
            "doc": pl.String,
        },
    )


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@pytest.fixture
def table(engine: sa.Engine) -> sa.Table:
    metadata.create_all(engine)
    return probe


def test_bulk_insert_reads_back_like_an_orm_insert(engine: sa.Engine, table: sa.Table) -> None:
    ids = uuid4_strings(len(ROWS)).to_list()
    at = datetime(2024, 9, 1, 8, 30, 15, 123456, tzinfo=timezone(timedelta(hours=8)))
    orm_ids = [uuid.uuid4() for _ in ROWS]
    with engine.begin() as connection:
        bulk_insert(connection, table, _frame(ids, at))
        connection.execute(
            sa.insert(table),
            [{"id": i, "at": at, **row} for i, row in zip(orm_ids, ROWS, strict=True)],
        )
    with engine.connect() as connection:
        got = {row.id: row for row in connection.execute(sa.select(table))}
        stored = {
            row[0]: row[1:]
            for row in connection.exec_driver_sql(
                "SELECT CAST(id AS TEXT), label, number, CAST(day AS TEXT), CAST(at AS TEXT) "
                "FROM bulk_probe"
            )
        }
    for bulk_id, orm_id in zip(ids, orm_ids, strict=True):
        # The very same stored values as the ORM's (SQLite: the same text forms).
        assert stored[bulk_id] == stored[str(orm_id)]
        bulk, orm = got[uuid.UUID(bulk_id)], got[orm_id]
        assert isinstance(bulk.id, uuid.UUID)
        assert bulk.id.version == 4
        for column in ("label", "number", "day", "at", "doc"):
            assert getattr(bulk, column) == getattr(orm, column), column
        assert bulk.at == at.astimezone(UTC)
        assert bulk.at.tzinfo is not None


def test_a_rolled_back_transaction_keeps_no_bulk_rows(engine: sa.Engine, table: sa.Table) -> None:
    frame = _frame(uuid4_strings(len(ROWS)).to_list(), datetime.now(UTC))

    def crash_before_commit() -> None:
        with engine.begin() as connection:
            with BulkWriter(connection) as writer:
                writer.submit((table, frame))
            raise RuntimeError("crash after the insert, before the commit")

    with pytest.raises(RuntimeError):
        crash_before_commit()
    with engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(table)) == 0


def test_writer_errors_surface_as_sqlalchemy_errors(engine: sa.Engine, table: sa.Table) -> None:
    frame = _frame(uuid4_strings(len(ROWS)).to_list(), datetime.now(UTC))

    def insert_twice() -> None:
        with engine.begin() as connection, BulkWriter(connection) as writer:
            writer.submit((table, frame))
            writer.submit((table, frame.head(1)))  # the same primary key again

    with pytest.raises(sa.exc.IntegrityError):
        insert_twice()
    with engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(table)) == 0


def test_naive_datetimes_and_unknown_columns_are_refused(
    engine: sa.Engine, table: sa.Table
) -> None:
    with engine.begin() as connection:
        with pytest.raises(ValueError, match="naive"):
            bulk_insert(connection, table, pl.DataFrame({"at": [datetime(2024, 1, 1)]}))
        with pytest.raises(ValueError, match="no column"):
            bulk_insert(connection, table, pl.DataFrame({"nope": [1]}))


def test_uuid4_strings_are_canonical_version_4() -> None:
    ids = uuid4_strings(10_000)
    assert ids.n_unique() == 10_000
    for text in ids.head(500):
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
    ordered = uuid4_strings(1_000, ordered=True).to_list()
    assert ordered == sorted(ordered)
    assert uuid4_strings(0).len() == 0


def test_a_same_thread_only_sqlite_connection_writes_synchronously(tmp_path: Path) -> None:
    engine = sa.create_engine(
        f"sqlite:///{tmp_path / 'strict.db'}", connect_args={"check_same_thread": True}
    )
    try:
        metadata.create_all(engine)
        frame = _frame(uuid4_strings(len(ROWS)).to_list(), datetime.now(UTC))
        with engine.begin() as connection, BulkWriter(connection) as writer:
            writer.submit((probe, frame))
        with engine.connect() as connection:
            count = connection.scalar(sa.select(sa.func.count()).select_from(probe))
        assert count == len(ROWS)
    finally:
        engine.dispose()
