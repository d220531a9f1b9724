"""``childlink db``: create, migrate and inspect the database schema.

Thin over :mod:`childlink.store.migrate`; every failure to reach or migrate the database
surfaces as a one-line :class:`~childlink.errors.DatabaseError`.
"""

from __future__ import annotations

import json

import typer
from pydantic import ValidationError

from childlink.config import Settings, get_settings
from childlink.errors import ConfigurationError
from childlink.sources.service import SeedResult, seed_reference_data
from childlink.store import migrate
from childlink.store.engine import (
    build_engine,
    create_session_factory,
    database_errors,
    redact_url,
    unit_of_work,
)

app = typer.Typer(
    name="db",
    help="Create, migrate and inspect the ChildLink database (CHILDLINK_DATABASE_URL).",
    no_args_is_help=True,
)


@app.command()
def upgrade(
    revision: str = typer.Argument("head", help="Target revision; default the newest."),
    seed: bool = typer.Option(
        True, "--seed/--no-seed", help="Insert the shipped departments and data sources."
    ),
) -> None:
    """Migrate the database up to REVISION, then seed reference data.

    Safe to run on every deployment: migrations already applied are skipped and seeding only
    adds what is missing, so a fresh database comes out ready for ingest.
    """
    settings = cli_settings()
    migrate.upgrade(settings, revision)
    at = migrate.current(settings)
    head = migrate.head_revision()
    typer.echo(f"{redact_url(settings.effective_database_url)} is at revision {_label(at, head)}")
    if not seed:
        return
    if at != head:
        typer.echo("reference data not seeded: the schema is not at head")
        return
    result = _seed(settings)
    typer.echo(
        f"reference data: {result.departments_created} department(s) and "
        f"{result.sources_created} data source(s) added"
    )


@app.command()
def downgrade(
    revision: str = typer.Argument(..., help="Target revision; 'base' removes every table."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Migrate the database down to REVISION, dropping what later revisions added.

    Downgrading deletes data in the dropped tables, hence the confirmation.
    """
    settings = cli_settings()
    target = redact_url(settings.effective_database_url)
    if not yes:
        typer.confirm(
            f"Downgrade {target} to {revision}? Data in dropped tables is lost.", abort=True
        )
    migrate.downgrade(settings, revision)
    typer.echo(
        f"{target} is at revision {_label(migrate.current(settings), migrate.head_revision())}"
    )


@app.command()
def current(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object for scripts."),
) -> None:
    """Show the revision the database is at and whether it is the newest."""
    settings = cli_settings()
    at, head = migrate.current(settings), migrate.head_revision()
    if as_json:
        typer.echo(json.dumps({"revision": at, "head": head, "up_to_date": at == head}))
    else:
        typer.echo(_label(at, head))


@app.command()
def check() -> None:
    """Fail if the models and the migrated schema differ (a migration is missing).

    The database must be at head. Exit code 1 lists each difference on its own line.
    """
    differences = migrate.check(cli_settings())
    if differences:
        for line in differences:
            typer.echo(line, err=True)
        typer.echo(
            f"{len(differences)} difference(s) between models and schema: "
            "write a migration (alembic revision --autogenerate)",
            err=True,
        )
        raise typer.Exit(code=1)
    typer.echo("schema matches the models")


def cli_settings() -> Settings:
    """Settings for a CLI command; invalid values become one-line ConfigurationErrors."""
    try:
        return get_settings()
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise ConfigurationError(f"invalid settings: {problems}") from error


def _seed(settings: Settings) -> SeedResult:
    engine = build_engine(settings)
    try:
        with (
            database_errors(settings.effective_database_url),
            unit_of_work(create_session_factory(engine)) as session,
        ):
            return seed_reference_data(session)
    finally:
        engine.dispose()


def _label(revision: str | None, head: str | None) -> str:
    if revision is None:
        return "none (empty database: run `childlink db upgrade`)"
    if revision == head:
        return f"{revision} (head)"
    return f"{revision} (head is {head}: run `childlink db upgrade`)"
