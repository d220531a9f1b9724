"""``childlink users``: accounts, personal API tokens and department API keys.

Passwords, tokens and keys are printed once, when made, and stored only as hashes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from childlink.access.choices import Role
from childlink.cli.db import cli_settings
from childlink.identity import service
from childlink.linkage.review import default_reviewer
from childlink.store.engine import (
    build_engine,
    create_session_factory,
    database_errors,
    unit_of_work,
)

console = Console()

users_app = typer.Typer(
    name="users",
    help="Accounts (argon2id passwords, lock-out), API tokens for people, API keys for feeds.",
    no_args_is_help=True,
)


def _actor() -> str:
    """Who runs the command, for the audit trail."""
    return f"cli:{default_reviewer()}"


@contextmanager
def _session() -> Iterator[Session]:
    settings = cli_settings()
    engine = build_engine(settings)
    try:
        with (
            database_errors(settings.effective_database_url),
            unit_of_work(create_session_factory(engine)) as session,
        ):
            yield session
    finally:
        engine.dispose()


@users_app.command("add")
def add(
    username: str = typer.Argument(..., help="Login name."),
    role: Role = typer.Option(..., "--role", help="What the person does (decides the policy)."),
    display_name: str | None = typer.Option(None, "--name", help="Name shown in the UI."),
    agency: str | None = typer.Option(None, "--agency", help="Agency code."),
    jurisdiction: str | None = typer.Option(
        None, "--jurisdiction", help="12-digit region code of the area the person serves."
    ),
    locale: str = typer.Option("zh-Hans", "--locale", help="zh-Hans or en."),
    password: str | None = typer.Option(
        None, "--password", help="Default: a random one, printed once."
    ),
) -> None:
    """Add an account; prints its password once."""
    with _session() as session:
        user, secret = service.create_user(
            session,
            username=username,
            role=role,
            password=password,
            display_name=display_name,
            agency_code=agency,
            jurisdiction_code=jurisdiction,
            locale=locale,
            actor=_actor(),
        )
        name = user.username
    typer.echo(f"user {name} added ({role.value}); password: {secret}")


@users_app.command("disable")
def disable(username: str = typer.Argument(..., help="Login name.")) -> None:
    """Refuse further log-ins and end the user's sessions and tokens."""
    with _session() as session:
        service.disable_user(session, username, actor=_actor())
    typer.echo(f"user {username} disabled")


@users_app.command("enable")
def enable(username: str = typer.Argument(..., help="Login name.")) -> None:
    """Allow a disabled user to log in again."""
    with _session() as session:
        service.enable_user(session, username, actor=_actor())
    typer.echo(f"user {username} enabled")


@users_app.command("reset")
def reset(
    username: str = typer.Argument(..., help="Login name."),
    password: str | None = typer.Option(
        None, "--password", help="Default: a random one, printed once."
    ),
) -> None:
    """Set a new password, unlock the account and end its sessions."""
    with _session() as session:
        secret = service.reset_password(session, username, password, actor=_actor())
    typer.echo(f"user {username}: new password {secret}")


@users_app.command("list")
def list_command(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array."),
) -> None:
    """Every account with role, agency, jurisdiction and state."""
    with _session() as session:
        rows = [
            {
                "username": user.username,
                "display_name": user.display_name,
                "role": user.role.value,
                "jurisdiction": user.jurisdiction_code,
                "active": user.is_active,
                "locked": service.is_locked(user),
                "last_login_at": None
                if user.last_login_at is None
                else user.last_login_at.isoformat(),
            }
            for user in service.list_users(session)
        ]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    table = Table(title=f"{len(rows)} user(s)")
    for column in ("username", "name", "role", "jurisdiction", "state", "last login"):
        table.add_column(column)
    for row in rows:
        state = "disabled" if not row["active"] else ("locked" if row["locked"] else "active")
        table.add_row(
            str(row["username"]),
            str(row["display_name"]),
            str(row["role"]),
            str(row["jurisdiction"] or ""),
            state,
            str(row["last_login_at"] or ""),
        )
    console.print(table)


@users_app.command("assign")
def assign(
    username: str = typer.Argument(..., help="Login name."),
    child: str = typer.Argument(..., help="Master child id to put on the caseload."),
) -> None:
    """Put a child on a worker's caseload."""
    with _session() as session:
        service.assign_case(session, username, uuid.UUID(child), assigned_by=_actor())
    typer.echo(f"child {child} assigned to {username}")


@users_app.command("token")
def token(
    username: str = typer.Argument(..., help="Login name."),
    name: str = typer.Option("script", "--name", help="What the token is for."),
    days: int = typer.Option(90, "--days", min=1, max=366, help="Lifetime."),
    revoke: str | None = typer.Option(None, "--revoke", help="Revoke the token with this prefix."),
) -> None:
    """Issue a personal API token (printed once), or revoke one by its prefix."""
    with _session() as session:
        if revoke:
            count = service.revoke_api_token(session, revoke, actor=_actor())
            typer.echo(f"{count} token(s) revoked")
            return
        row, secret = service.issue_api_token(
            session, username, name=name, days=days, actor=_actor()
        )
        expires = row.expires_at.isoformat()
    typer.echo(f"token for {username} (expires {expires}): {secret}")


@users_app.command("apikey")
def apikey(
    department: str = typer.Argument(..., help="Department code, e.g. education."),
    name: str = typer.Option("feed", "--name", help="Which feed uses it."),
    days: int | None = typer.Option(None, "--days", min=1, help="Lifetime; default no expiry."),
    revoke: str | None = typer.Option(None, "--revoke", help="Revoke the key with this prefix."),
) -> None:
    """Issue a department API key for data pushes (printed once), or revoke one."""
    with _session() as session:
        if revoke:
            count = service.revoke_api_key(session, revoke, actor=_actor())
            typer.echo(f"{count} key(s) revoked")
            return
        _row, secret = service.issue_api_key(
            session, department, name=name, days=days, actor=_actor()
        )
    typer.echo(f"API key for {department}: {secret}")
