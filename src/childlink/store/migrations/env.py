"""Alembic environment for ChildLink.

Two ways in: :mod:`childlink.store.migrate` (and so ``childlink db ...``) hands over an open
connection in ``config.attributes["connection"]``; the plain ``alembic`` command (run from the
project root with its ``alembic.ini``) gets the URL from :class:`~childlink.config.Settings`,
exactly as the application would. SQLite runs in batch mode because it cannot ALTER most things.
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any, Literal

import sqlalchemy as sa
from alembic import context
from alembic.autogenerate.api import AutogenContext

from childlink.config import get_settings
from childlink.store.metadata import target_metadata
from childlink.store.migrate import migration_connection

config = context.config
metadata = target_metadata()


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render enum columns as the VARCHAR they are in the database.

    Enums carry no CHECK constraint (see ``childlink.store.enums``), so writing their member
    list into a migration would only suggest a constraint that does not exist.
    """
    if type_ == "type" and isinstance(obj, sa.Enum) and not obj.native_enum:
        return f"sa.String(length={obj.length})"
    return False


def _configure(connection: sa.Connection | None = None, **extra: Any) -> None:
    dialect = connection.dialect.name if connection is not None else extra.pop("dialect_name")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=dialect == "sqlite",
        compare_type=True,
        user_module_prefix="ct.",
        render_item=render_item,
        **extra,
    )


def run_migrations_offline() -> None:
    """Emit SQL to stdout (``alembic upgrade --sql``) for DBAs who apply scripts by hand."""
    url = get_settings().effective_database_url
    _configure(
        url=url,
        dialect_name=sa.engine.make_url(url).get_backend_name(),
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate over the caller's connection, or one built from the settings."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return

    with migration_connection(get_settings()) as own_connection:
        _configure(own_connection)
        with context.begin_transaction():
            context.run_migrations()


if config.config_file_name is not None and config.attributes.get("connection") is None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
