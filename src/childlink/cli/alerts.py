"""``childlink alerts``: list and inspect alerts, run escalations, show routing, set contacts.

An operator's tool on the database (like ``childlink users``): it reads alerts without a
person's access policy, so keep it to the people who run the platform. Workers answer alerts
in the web app or through the API.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from childlink.alerts import service
from childlink.alerts.choices import AlertStatus, Channel
from childlink.alerts.routing import describe_rules, load_routing
from childlink.cli.db import cli_settings
from childlink.errors import ChildLinkError
from childlink.linkage.review import default_reviewer
from childlink.store.engine import (
    build_engine,
    create_session_factory,
    database_errors,
    unit_of_work,
)

console = Console()

alerts_app = typer.Typer(
    name="alerts",
    help="Intervention alerts: list, show, escalate overdue ones, routing rules, contacts.",
    no_args_is_help=True,
)


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


def _when(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


@alerts_app.command("list")
def list_command(
    status: AlertStatus | None = typer.Option(None, "--status", help="Only alerts in this state."),
    limit: int = typer.Option(200, "--limit", min=1, help="At most this many alerts."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array."),
) -> None:
    """Alerts, open ones first and newest first."""
    with _session() as session:
        alerts = service.list_alerts(session, status=status, limit=limit)
    if as_json:
        typer.echo(json.dumps([a.model_dump(mode="json") for a in alerts], ensure_ascii=False))
        return
    table = Table(title=f"Alerts ({len(alerts)})")
    for column in ("id", "risk", "severity", "status", "level", "region", "opened", "title"):
        table.add_column(column)
    for alert in alerts:
        table.add_row(
            str(alert.id),
            alert.risk,
            alert.severity,
            alert.status,
            str(alert.escalation_level),
            alert.region_code or "",
            _when(alert.opened_at),
            alert.title_zh,
        )
    console.print(table)


@alerts_app.command("show")
def show(
    alert_id: uuid.UUID = typer.Argument(..., help="The alert's id."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """One alert with its explanation, recipients and history."""
    with _session() as session:
        detail = service.alert_detail(session, alert_id)
    if as_json:
        typer.echo(detail.model_dump_json())
        return
    console.print(f"[bold]{detail.title_zh}[/]  ({detail.title_en})", highlight=False)
    console.print(
        f"{detail.risk} · {detail.severity} · {detail.status} · level {detail.escalation_level}"
        f" · v{detail.version} · child {detail.master_child_id} · region {detail.region_code}",
        highlight=False,
    )
    if detail.escalate_at is not None:
        console.print(f"escalates at {_when(detail.escalate_at)} UTC unless acknowledged")
    for hit in detail.explanation.get("rules", []):
        console.print(f"  rule {hit['rule_id']} ({hit['severity']}): {hit['label_zh']}")
        for fact in hit.get("facts", []):
            console.print(
                f"      {fact.get('event_date')} {fact.get('source')} {fact.get('text_zh')}"
                f" [{fact.get('record_id')}]",
                highlight=False,
            )
    score = detail.explanation.get("score")
    if score:
        console.print(
            f"  score {score['probability']:.3f} ({score['band']}, model {score['model_version']})"
        )
        for factor in score.get("factors", []):
            console.print(f"      {factor.get('label_zh')}: {factor.get('value')}")
    for report in detail.explanation.get("reports", []):
        console.print(f"  mandatory report {report['receipt_no']}: {report['harm_label_zh']}")
    table = Table(title="Recipients")
    for column in ("who", "level", "rule"):
        table.add_column(column)
    for recipient in detail.recipients:
        who = recipient.username or f"webhook {recipient.endpoint_name}"
        table.add_row(who, str(recipient.level), recipient.route_rule)
    console.print(table)
    history = Table(title="History")
    for column in ("at", "event", "by", "details"):
        history.add_column(column)
    for event in detail.events:
        history.add_row(
            _when(event.at), event.kind, event.actor, json.dumps(event.details, ensure_ascii=False)
        )
    console.print(history)


@alerts_app.command("escalate")
def escalate(
    now: str | None = typer.Option(
        None, "--now", help="ISO time to escalate as of (default: now, UTC)."
    ),
) -> None:
    """Escalate every unacknowledged alert whose deadline has passed (and commit)."""
    moment = datetime.now(UTC)
    if now is not None:
        try:
            moment = datetime.fromisoformat(now)
        except ValueError as error:
            raise ChildLinkError(f"--now must be an ISO date-time, not {now!r}") from error
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    with _session() as session:
        count = service.escalate_due(session, now=moment)
    typer.echo(f"{count} alert(s) escalated as of {moment.isoformat()}")


@alerts_app.command("routes")
def routes(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The routing rules (alerts/routing.yaml) and the escalation deadlines."""
    config = load_routing()
    rules = describe_rules(config)
    if as_json:
        deadlines = {str(s): list(h) for s, h in config.deadlines.items()}
        typer.echo(json.dumps({"deadlines": deadlines, "rules": rules}, ensure_ascii=False))
        return
    deadlines_table = Table(title="Escalation deadlines (hours unacknowledged per level)")
    deadlines_table.add_column("severity")
    deadlines_table.add_column("hours")
    for severity, hours in config.deadlines.items():
        deadlines_table.add_row(str(severity), " → ".join(f"{h:g}" for h in hours))
    console.print(deadlines_table)
    table = Table(title="Routing rules")
    for column in ("rule", "level", "risks", "severities", "reaches", "description"):
        table.add_column(column)
    for rule in rules:
        reaches = [*rule["roles"]]
        if rule["caseload"]:
            reaches.append("caseload")
        reaches.extend(f"webhook:{kind}" for kind in rule["agency_kinds"])
        table.add_row(
            rule["id"],
            str(rule["level"]),
            rule["risks"] if isinstance(rule["risks"], str) else ", ".join(rule["risks"]),
            rule["severities"]
            if isinstance(rule["severities"], str)
            else ", ".join(rule["severities"]),
            ", ".join(reaches),
            rule["description"],
        )
    console.print(table)


@alerts_app.command("contact")
def contact(
    username: str = typer.Argument(..., help="Login name."),
    email: str | None = typer.Option(None, "--email", help="E-mail address for alert notices."),
    sms: str | None = typer.Option(None, "--sms", help="Mobile number for SMS notices."),
) -> None:
    """Set where a person is told of alerts outside the app (e-mail and/or SMS)."""
    if email is None and sms is None:
        raise ChildLinkError("give --email and/or --sms")
    actor = f"cli:{default_reviewer()}"
    with _session() as session:
        if email is not None:
            service.set_contact(session, username, Channel.EMAIL, email, actor=actor)
        if sms is not None:
            service.set_contact(session, username, Channel.SMS, sms, actor=actor)
    typer.echo(f"contact addresses of {username} set")
