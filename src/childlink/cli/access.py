"""``childlink access`` and ``childlink consent``: the policy, break-glass reviews, legal bases.

Thin over :mod:`childlink.access`: ``validate`` lists every problem of the policy files,
``explain`` shows what a role sees of a source for a purpose; ``consent`` records and lists
the legal bases of processing.
"""

from __future__ import annotations

import getpass
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from childlink.access.choices import AgencyKind, FieldGroup, LegalBasisKind, Purpose, Role
from childlink.access.consent import (
    BASES_NEEDED,
    STATE_ORGAN_KINDS,
    add_legal_basis,
    list_legal_bases,
    withdraw_legal_basis,
)
from childlink.access.fields import FIELD_GROUPS, field_group, source_domain
from childlink.access.models import ALL_SOURCES
from childlink.access.policy import CHILD_DATA_PURPOSES, validate_policy
from childlink.access.service import (
    explain_grants,
    pending_break_glass_reviews,
    review_break_glass,
)
from childlink.audit.service import record_event
from childlink.cli.db import cli_settings
from childlink.errors import ChildLinkError
from childlink.store.engine import (
    build_engine,
    create_session_factory,
    database_errors,
    unit_of_work,
)

console = Console()

access_app = typer.Typer(
    name="access",
    help="Data-sharing policy: validate the agreements, explain what a role sees, break-glass.",
    no_args_is_help=True,
)
consent_app = typer.Typer(
    name="consent",
    help="Legal bases for processing a child's data: statutory duty, guardian consent, ...",
    no_args_is_help=True,
)


@contextmanager
def session_factory() -> Iterator[sessionmaker[Session]]:
    """A session factory on the configured database (engine disposed afterwards)."""
    settings = cli_settings()
    engine = build_engine(settings)
    try:
        with database_errors(settings.effective_database_url):
            yield create_session_factory(engine)
    finally:
        engine.dispose()


def default_actor() -> str:
    """Who runs the command, for the audit trail (``cli:<os user>``)."""
    try:
        return f"cli:{getpass.getuser()}"
    except OSError:
        return "cli:unknown"


@access_app.command("validate")
def validate_command(
    directory: Path | None = typer.Option(
        None, "--dir", help="Folder of policy files; default the shipped ones."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Check every policy file and list every problem; exit 1 if there is any."""
    policy, problems = validate_policy(directory)
    if as_json:
        document = {
            "ok": not problems,
            "problems": problems,
            "agreements": [a.id for a in policy.agreements],
            "grants": len(policy.grants),
            "actions": len(policy.actions),
            "limits": len(policy.limits),
        }
        typer.echo(json.dumps(document, ensure_ascii=False))
    elif problems:
        console.print(f"[red]{len(problems)} problem(s) in the access policy:[/]")
        for problem in problems:
            console.print(f"  - {problem}", highlight=False, soft_wrap=True)
    else:
        console.print(
            f"[green]policy OK[/]: {len(policy.agreements)} agreement(s) "
            f"({', '.join(a.id for a in policy.agreements)}), {len(policy.grants)} grant line(s), "
            f"{len(policy.actions)} action permission(s), {len(policy.limits)} limit(s)",
            highlight=False,
            soft_wrap=True,
        )
    if problems:
        raise typer.Exit(1)


@access_app.command("explain")
def explain_command(
    role: Role = typer.Option(..., "--role", help="Role, e.g. teacher."),
    purpose: Purpose = typer.Option(..., "--purpose", help="Purpose, e.g. case_work."),
    source: str = typer.Option(..., "--source", help="Source code, e.g. health.visits."),
    agency_kind: AgencyKind | None = typer.Option(
        None, "--agency-kind", help="Agency kind; default any kind the agreements name."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """What a role sees of one source for one purpose, field by field, and under what terms."""
    grants = explain_grants(role, purpose, source, agency_kind)
    domain = source_domain(source)
    levels: dict[str, str] = {}
    for name in FIELD_GROUPS:
        group = field_group(name, source)
        entries = grants.get(group, [])
        levels[name] = (
            "full"
            if any(g.level.value == "full" for g in entries)
            else ("masked" if entries else "hidden")
        )
    if purpose not in CHILD_DATA_PURPOSES:
        why = f"{purpose.value} never shows identifiable child data (de-identified aggregates only)"
    elif not grants:
        why = (
            f"no agreement grants a {role.value} the {domain.value} group of {source} "
            f"(the source's domain) for {purpose.value}"
        )
    else:
        why = ""
    state, other = BASES_NEEDED.get(purpose, (frozenset(), frozenset()))
    kind_is_state = agency_kind is None or agency_kind in STATE_ORGAN_KINDS
    needed = state if kind_is_state else other
    if as_json:
        document = {
            "role": role.value,
            "purpose": purpose.value,
            "source": source,
            "domain_group": domain.value,
            "groups": {
                group.value: [
                    {"level": g.level.value, "scope": g.scope.value, "rule": g.rule}
                    for g in entries
                ]
                for group, entries in grants.items()
            },
            "fields": levels,
            "legal_bases_needed": sorted(b.value for b in needed),
            "nothing_visible_because": why or None,
        }
        typer.echo(json.dumps(document, ensure_ascii=False))
        return
    console.print(
        f"[bold]{role.value}[/] ({role.label_zh}) · {purpose.value} · {source} "
        f"(domain group: {domain.value})",
        highlight=False,
    )
    if why:
        console.print(f"[yellow]nothing visible[/]: {why}", highlight=False, soft_wrap=True)
        return
    table = Table(title="Field groups")
    for column in ("group", "level", "scope", "rule"):
        table.add_column(column)
    for group in FieldGroup:
        for grant in grants.get(group, []):
            table.add_row(group.value, grant.level.value, grant.scope.value, grant.rule)
        if group not in grants:
            table.add_row(group.value, "hidden", "", "")
    console.print(table)
    fields = Table(title="Fields")
    fields.add_column("field")
    fields.add_column("visibility")
    for name, level in levels.items():
        fields.add_row(name, level)
    console.print(fields)
    console.print(
        "shown only for children inside the scope (or under break-glass) and while one of "
        f"these legal bases is in force for the child and source: "
        f"{', '.join(sorted(b.value for b in needed)) or 'none'}",
        highlight=False,
        soft_wrap=True,
    )


@access_app.command("reviews")
def reviews_command(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Break-glass grants waiting for a supervisor's review."""
    with session_factory() as factory, factory() as session:
        grants = pending_break_glass_reviews(session)
        rows = [
            {
                "id": str(g.id),
                "user": g.username,
                "role": g.role.value,
                "child": str(g.master_child_id),
                "purpose": g.purpose.value,
                "reason": g.reason,
                "started_at": g.started_at.isoformat(),
                "expires_at": g.expires_at.isoformat(),
            }
            for g in grants
        ]
    if as_json:
        typer.echo(json.dumps({"pending": rows}, ensure_ascii=False))
        return
    table = Table(title=f"Break-glass grants to review ({len(rows)})")
    for column in ("id", "user", "role", "child", "started", "reason"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["id"], row["user"], row["role"], row["child"], row["started_at"], row["reason"]
        )
    console.print(table)


@access_app.command("review")
def review_command(
    grant_id: str = typer.Argument(..., help="Break-glass grant id."),
    note: str = typer.Option(..., "--note", help="The reviewer's conclusion."),
    reviewer: str | None = typer.Option(None, "--by", help="Reviewer; default cli:<os user>."),
    end: bool = typer.Option(False, "--end", help="Also end the grant now if still running."),
) -> None:
    """Record a supervisor's review of a break-glass grant (audited)."""
    with session_factory() as factory, unit_of_work(factory) as session:
        grant = review_break_glass(
            session, _uuid(grant_id), reviewer or default_actor(), note, end_now=end
        )
        typer.echo(f"reviewed break-glass grant {grant.id} of {grant.username}")


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as error:
        raise ChildLinkError(f"not a UUID: {value!r}") from error


@consent_app.command("add")
def consent_add(
    child: str | None = typer.Option(
        None, "--child", help="Master child id; omit for a statutory duty covering all children."
    ),
    source: str = typer.Option(ALL_SOURCES, "--source", help="Source code, or * for every source."),
    basis: LegalBasisKind = typer.Option(..., "--basis", help="The legal basis."),
    evidence: str = typer.Option(..., "--evidence", help="Statute, consent form number, ..."),
    valid_from: str | None = typer.Option(None, "--from", help="First day (YYYY-MM-DD)."),
    expires: str | None = typer.Option(None, "--expires", help="First day it no longer holds."),
    recorded_by: str | None = typer.Option(None, "--by", help="Who records it."),
) -> None:
    """Record a legal basis for a child (or all children) and a source (audited)."""
    actor = recorded_by or default_actor()
    with session_factory() as factory, unit_of_work(factory) as session:
        row = add_legal_basis(
            session,
            master_child_id=None if child is None else _uuid(child),
            source_code=source,
            basis=basis,
            evidence=evidence,
            recorded_by=actor,
            valid_from=_date(valid_from),
            expires_at=_date(expires),
        )
        record_event(
            session,
            actor=actor,
            action="consent.add",
            outcome="ok",
            child_id=row.master_child_id,
            details={"basis_id": str(row.id), "source": source, "basis": basis.value},
        )
        typer.echo(f"legal basis {row.id} recorded: {basis.value} for {source}")


@consent_app.command("withdraw")
def consent_withdraw(
    basis_id: str = typer.Argument(..., help="Legal basis id."),
    recorded_by: str | None = typer.Option(None, "--by", help="Who records it."),
) -> None:
    """Mark a legal basis withdrawn (e.g. a guardian revokes consent); audited."""
    actor = recorded_by or default_actor()
    with session_factory() as factory, unit_of_work(factory) as session:
        withdraw_legal_basis(session, _uuid(basis_id))
        record_event(
            session,
            actor=actor,
            action="consent.withdraw",
            outcome="ok",
            details={"basis_id": basis_id},
        )
        typer.echo(f"legal basis {basis_id} withdrawn")


@consent_app.command("list")
def consent_list(
    child: str | None = typer.Option(None, "--child", help="Only this child (and all-children)."),
    source: str | None = typer.Option(None, "--source", help="Only this source (and *)."),
    limit: int = typer.Option(200, "--limit", min=1),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Legal bases, newest first, with whether each is in force today."""
    today = date.today()
    with session_factory() as factory, factory() as session:
        rows = list_legal_bases(
            session,
            master_child_id=None if child is None else _uuid(child),
            source_code=source,
            limit=limit,
        )
        items = [
            {
                "id": str(r.id),
                "child": None if r.master_child_id is None else str(r.master_child_id),
                "source": r.source_code,
                "basis": r.basis.value,
                "evidence": r.evidence,
                "valid_from": r.valid_from.isoformat(),
                "expires_at": None if r.expires_at is None else r.expires_at.isoformat(),
                "withdrawn": r.withdrawn_at is not None,
                "in_force": r.withdrawn_at is None
                and r.valid_from <= today
                and (r.expires_at is None or r.expires_at > today),
            }
            for r in rows
        ]
    if as_json:
        typer.echo(json.dumps({"legal_bases": items}, ensure_ascii=False))
        return
    table = Table(title=f"Legal bases ({len(items)})")
    for column in ("id", "child", "source", "basis", "from", "expires", "in force", "evidence"):
        table.add_column(column)
    for item in items:
        table.add_row(
            str(item["id"]),
            str(item["child"] or "all"),
            str(item["source"]),
            str(item["basis"]),
            str(item["valid_from"]),
            str(item["expires_at"] or ""),
            "yes" if item["in_force"] else "[red]no[/]",
            str(item["evidence"]),
        )
    console.print(table)


def _date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise ChildLinkError(f"not a date (YYYY-MM-DD): {value!r}") from error
