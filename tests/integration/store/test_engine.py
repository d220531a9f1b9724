"""Engine construction: SQLite tuning, error translation and the unit of work."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from childlink.config import Settings
from childlink.errors import DatabaseError
from childlink.regions.choices import RegionLevel
from childlink.regions.models import Region
from childlink.store import migrate
from childlink.store.engine import (
    SQLITE_BUSY_TIMEOUT_MS,
    build_engine,
    create_session_factory,
    unit_of_work,
)


def test_sqlite_connections_enforce_foreign_keys_with_wal_and_busy_timeout(tmp_path: Path) -> None:
    engine = build_engine(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}"))
    try:
        with engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA foreign_keys").scalar() == 1
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_TIMEOUT_MS
    finally:
        engine.dispose()


def test_embedded_default_creates_its_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "fresh" / "var")
    migrate.upgrade(settings)
    assert (tmp_path / "fresh" / "var" / "childlink.db").is_file()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "invalid database URL"),
        ("mysql://root@localhost/childlink", "unsupported database 'mysql'"),
        ("postgresql+nosuchdriver://u@localhost/db", "no driver"),
    ],
)
def test_bad_urls_become_database_errors(url: str, message: str) -> None:
    with pytest.raises(DatabaseError, match=message):
        build_engine(Settings(database_url=url))


def test_unparseable_url_is_masked_in_the_error() -> None:
    with pytest.raises(DatabaseError) as caught:
        build_engine(Settings(database_url="postgresql://me:s3cret@host:notaport/db"))
    assert "s3cret" not in str(caught.value)


def test_unreachable_server_is_a_one_line_database_error() -> None:
    settings = Settings(database_url="postgresql+psycopg://childlink:s3cret@127.0.0.1:1/none")
    with pytest.raises(DatabaseError) as caught:
        migrate.current(settings)
    message = str(caught.value)
    assert "\n" not in message
    assert "127.0.0.1:1" in message
    assert "s3cret" not in message


def test_unit_of_work_commits_on_success_and_rolls_back_on_error(engine: sa.Engine) -> None:
    factory = create_session_factory(engine)
    with unit_of_work(factory) as session:
        session.add(Region(code="410000000000", level=RegionLevel.PROVINCE, name="河南省"))

    def add_city_then_fail() -> None:
        with unit_of_work(factory) as session:
            session.add(Region(code="410500000000", level=RegionLevel.CITY, name="安阳市"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        add_city_then_fail()

    with factory() as session:
        assert session.scalars(sa.select(Region.code)).all() == ["410000000000"]


def test_migration_connection_is_transactional(settings: Settings) -> None:
    """A failed migration leaves no half-built schema behind, on SQLite too."""

    def create_table_then_fail() -> None:
        with migrate.migration_connection(settings) as connection:
            connection.exec_driver_sql("CREATE TABLE scratch (id INTEGER)")
            raise RuntimeError("migration failed")

    with pytest.raises(RuntimeError):
        create_table_then_fail()
    engine = build_engine(settings)
    try:
        assert "scratch" not in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()
