"""``childlink audit``: verify the hash chain (and print the anchor), supervision reports."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.table import Table

from childlink.audit.report import LOCAL_ZONE, build_supervision_report
from childlink.audit.service import verify_chain
from childlink.cli.access import session_factory
from childlink.errors import ChildLinkError

console = Console()

audit_app = typer.Typer(
    name="audit",
    help="The tamper-evident audit trail: verify it, and supervision reports.",
    no_args_is_help=True,
)


@audit_app.command("verify")
def verify_command(
    anchor: str | None = typer.Option(
        None,
        "--anchor",
        help="SEQ:HASH written down earlier; the trail must still contain that entry.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Recompute every hash and link; name each edited, inserted, reordered or deleted entry.

    Prints the head (SEQ:HASH) to write down elsewhere (a paper register, another system):
    a later `verify --anchor SEQ:HASH` then also catches a trail rewritten wholesale.
    Exits 1 when anything is wrong.
    """
    parsed = _anchor(anchor) if anchor else None
    with session_factory() as factory, factory() as session:
        report = verify_chain(session, anchor=parsed)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        if report.ok:
            console.print(f"[green]audit trail intact[/]: {report.entries:,} entries")
        else:
            console.print(f"[red]audit trail tampered with[/]: {len(report.problems)} finding(s)")
            for problem in report.problems:
                console.print(
                    f"  - {problem.kind} at {problem.seq}: {problem.message}",
                    highlight=False,
                    soft_wrap=True,
                )
        console.print(
            f"head (write this down): {report.head_seq}:{report.head_hash}",
            highlight=False,
            soft_wrap=True,
        )
    if not report.ok:
        raise typer.Exit(1)


def _anchor(value: str) -> tuple[int, str]:
    seq, _, digest = value.partition(":")
    if not seq.isdigit() or len(digest) != 64:
        raise ChildLinkError(f"anchor must be SEQ:HASH (64 hex digits), not {value!r}")
    return int(seq), digest


@audit_app.command("report")
def report_command(
    agency: str | None = typer.Option(None, "--agency", help="Only this agency code."),
    user: str | None = typer.Option(None, "--user", help="Only this user."),
    since: str | None = typer.Option(None, "--since", help="From this date (YYYY-MM-DD, local)."),
    until: str | None = typer.Option(None, "--until", help="Before this date (local)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Who looked at which children for which purpose, and unusual patterns.

    Patterns: many children outside one's caseload, night-time bulk views (22:00-06:00
    Asia/Shanghai), repeated denials, every break-glass use.
    """
    with session_factory() as factory, factory() as session:
        report = build_supervision_report(
            session, agency=agency, user=user, since=_local_day(since), until=_local_day(until)
        )
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False))
        return
    table = Table(title="Views of children per user")
    for column in ("user", "agency", "role", "children", "views", "denials", "purposes"):
        table.add_column(column)
    for activity in report.users:
        table.add_row(
            activity.actor,
            activity.agency or "",
            activity.role or "",
            str(len(activity.children)),
            str(activity.views),
            str(activity.denials),
            ", ".join(f"{p} {n}" for p, n in sorted(activity.purposes.items())),
        )
    console.print(table)
    if not report.findings:
        console.print("[green]no unusual patterns[/]")
        return
    findings = Table(title=f"Unusual patterns ({len(report.findings)})")
    for column in ("kind", "user", "count", "what"):
        findings.add_column(column)
    for finding in report.findings:
        findings.add_row(finding.kind, finding.actor, str(finding.count), finding.message)
    console.print(findings)


def _local_day(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        day = datetime.fromisoformat(value)
    except ValueError as error:
        raise ChildLinkError(f"not a date (YYYY-MM-DD): {value!r}") from error
    if day.tzinfo is None:
        day = day.replace(tzinfo=LOCAL_ZONE)
    return day.astimezone(UTC)
