"""Schema migrations as functions: what ``childlink db ...`` and the tests call.

The Alembic configuration is built here from code and settings, so no ``alembic.ini`` has to
be found at run time (the one at the project root only serves the bare ``alembic`` command).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from childlink.config import Settings
from childlink.errors import DatabaseError
from childlink.store.engine import build_engine, database_errors, redact_url
from childlink.store.metadata import target_metadata

SCRIPT_LOCATION = "childlink.store:migrations"


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic config for ChildLink's migrations, optionally bound to an open connection."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The newest revision the code ships (``None`` only if there are no migrations)."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Migrate the database up to ``revision`` (default: the newest).

    Raises:
        DatabaseError: the database cannot be reached or a migration fails.
    """
    with migration_connection(settings) as connection:
        command.upgrade(alembic_config(connection), revision)


def downgrade(settings: Settings, revision: str) -> None:
    """Migrate the database down to ``revision`` (``base`` removes every ChildLink table).

    Raises:
        DatabaseError: the database cannot be reached or a migration fails.
    """
    with migration_connection(settings) as connection:
        command.downgrade(alembic_config(connection), revision)


def current(settings: Settings) -> str | None:
    """The revision the database is at, or ``None`` for a database never migrated.

    Raises:
        DatabaseError: the database cannot be reached.
    """
    with migration_connection(settings) as connection:
        return _current_revision(connection)


def check(settings: Settings) -> list[str]:
    """Differences between the models and the migrated schema; empty means no drift.

    A non-empty result means a model changed without a migration (run
    ``alembic revision --autogenerate``), or someone altered the database by hand.

    Raises:
        DatabaseError: the database cannot be reached or is not at the head revision, in which
            case a comparison would only report the missing migrations.
    """
    with migration_connection(settings) as connection:
        at, head = _current_revision(connection), head_revision()
        if at != head:
            raise DatabaseError(
                f"database is at revision {at or 'none'}, not at head {head}: "
                "run `childlink db upgrade` first"
            )
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return [_describe_diff(diff) for diff in compare_metadata(context, target_metadata())]


@contextmanager
def migration_connection(settings: Settings) -> Iterator[sa.Connection]:
    """A connection inside one transaction, committed only if the whole block succeeds.

    On SQLite, foreign keys are switched off for the duration (batch migrations rebuild tables,
    and dropping a referenced table would otherwise fail or cascade) and verified with
    ``PRAGMA foreign_key_check`` before commit, as the SQLite manual prescribes.
    """
    url = settings.effective_database_url
    engine = build_engine(settings)
    try:
        with database_errors(url), engine.connect() as connection:
            is_sqlite = connection.dialect.name == "sqlite"
            if is_sqlite:
                _sqlite_pragma(connection, "PRAGMA foreign_keys = OFF")
            try:
                with connection.begin():
                    yield connection
                    if is_sqlite:
                        _raise_on_foreign_key_violations(connection, url)
            finally:
                if is_sqlite:
                    _sqlite_pragma(connection, "PRAGMA foreign_keys = ON")
    finally:
        engine.dispose()


def _current_revision(connection: sa.Connection) -> str | None:
    heads = MigrationContext.configure(connection).get_current_heads()
    return ", ".join(heads) if heads else None


def _sqlite_pragma(connection: sa.Connection, pragma: str) -> None:
    # Straight to the driver: SQLAlchemy would open a transaction first, and SQLite ignores
    # this pragma inside a transaction.
    connection.connection.driver_connection.execute(pragma)  # type: ignore[union-attr]


def _raise_on_foreign_key_violations(connection: sa.Connection, url: str) -> None:
    violations = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if violations:
        tables = sorted({str(row[0]) for row in violations})
        raise DatabaseError(
            f"migration of {redact_url(url)} left {len(violations)} foreign-key violation(s) "
            f"in {', '.join(tables)}; nothing was committed"
        )


def _describe_diff(diff: Any) -> str:
    """One readable line per autogenerate difference (which are nested tuples of objects)."""
    if isinstance(diff, list):
        return "; ".join(_describe_diff(item) for item in diff)
    operation, *items = diff
    names = []
    for item in items:
        if item is None or isinstance(item, dict):
            continue
        name = getattr(item, "name", None)
        if isinstance(item, sa.Column) and item.table is not None:
            name = f"{item.table.name}.{item.name}"
        names.append(str(name if name is not None else item))
    return f"{operation} {' '.join(names)}".strip()
