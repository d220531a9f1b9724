"""Migration 0005 goes down and up again on both databases; TRUNCATE is refused too."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from childlink.audit.service import record_event, verify_chain
from childlink.config import Settings
from childlink.store import migrate
from childlink.store.engine import build_engine, create_session_factory, unit_of_work

OWN_TABLES = {
    "agencies",
    "legal_bases",
    "break_glass_grants",
    "audit_entries",
    "audit_chain_head",
    "sealed_attributes",
}


def test_down_and_up_again(migrated_settings: Settings) -> None:
    engine = build_engine(migrated_settings)
    try:
        factory = create_session_factory(engine)
        with unit_of_work(factory) as session:
            record_event(session, actor="a", action="login", outcome="ok")
        migrate.downgrade(migrated_settings, "0004")
        assert not OWN_TABLES & set(sa.inspect(engine).get_table_names())
        migrate.upgrade(migrated_settings)
        assert set(sa.inspect(engine).get_table_names()) >= OWN_TABLES
        with unit_of_work(factory) as session:
            record_event(session, actor="b", action="login", outcome="ok")
        with factory() as session:
            report = verify_chain(session)
        assert report.ok
        assert report.entries == 1
        with engine.connect() as connection:  # the guard came back with the table
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                connection.execute(sa.text("DELETE FROM audit_entries"))
            connection.rollback()
            if connection.dialect.name == "postgresql":
                with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                    connection.execute(sa.text("TRUNCATE audit_entries"))
    finally:
        engine.dispose()
