"""``childlink worker``, ``childlink webhooks`` and ``childlink outbox``: alert delivery.

The worker sends queued alert notifications (webhooks, e-mail, SMS) with retries, runs
escalations on schedule and, when the deployment has one, the ingest-to-alert pipeline.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import uuid
from types import FrameType

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from childlink.alerts.delivery import outbox_status
from childlink.alerts.webhooks import (
    disable_endpoint,
    list_endpoints,
    ping_endpoint,
    register_endpoint,
)
from childlink.alerts.worker import run_worker
from childlink.audit.service import record_event
from childlink.cli.access import default_actor, session_factory
from childlink.cli.db import cli_settings
from childlink.privacy.keys import FieldCipher, KeyStore
from childlink.store.engine import unit_of_work

console = Console()

webhooks_app = typer.Typer(
    name="webhooks",
    help="Department systems that receive alerts as signed HTTP POSTs.",
    no_args_is_help=True,
)
outbox_app = typer.Typer(
    name="outbox",
    help="The queue of alert notifications (webhook, e-mail, SMS).",
    no_args_is_help=True,
)


def worker(
    once: bool = typer.Option(False, "--once", help="Run one tick (drain the queue) and exit."),
    interval: float = typer.Option(
        1.0, "--interval", min=0.05, help="Seconds between ticks when there is no backlog."
    ),
    escalate_every: float = typer.Option(
        60.0, "--escalate-every", min=0.0, help="Seconds between escalation runs."
    ),
    pipeline: bool = typer.Option(
        True,
        "--pipeline/--no-pipeline",
        help="Also turn newly ingested records into alerts each tick (when available).",
    ),
) -> None:
    """Deliver alert notifications with retries and run escalations until SIGTERM/Ctrl-C.

    A first SIGTERM or Ctrl-C finishes the current batch and exits; a second Ctrl-C aborts.
    """
    settings = cli_settings()
    logging.basicConfig(
        level=logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=Console(stderr=True), show_path=False)],
        force=True,
    )
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        logging.getLogger("childlink.worker").info(
            "%s received: finishing the current batch", signal.Signals(signum).name
        )
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if not once:
        typer.echo("ChildLink worker running (Ctrl-C to stop)", err=True)
    stats = run_worker(
        settings,
        stop_event=stop,
        once=once,
        interval=interval,
        escalate_every=escalate_every,
        pipeline=pipeline,
    )
    report = stats.delivery
    typer.echo(
        f"worker stopped after {stats.ticks} tick(s): sent {report.sent}, "
        f"retried {report.retried}, dead-lettered {report.dead}, waiting {report.skipped}, "
        f"escalated {stats.escalated}, errors {stats.errors}",
        err=True,
    )
    if once and stats.errors:
        raise typer.Exit(1)


@webhooks_app.command("add")
def add_command(
    agency_code: str = typer.Argument(..., help="Code of the agency that owns the endpoint."),
    name: str = typer.Argument(..., help="A name for the endpoint (e.g. the system's name)."),
    url: str = typer.Argument(..., help="Absolute http(s) URL that receives the POSTs."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Register an endpoint and print its signing secret (shown once, stored encrypted)."""
    cipher = FieldCipher(KeyStore.from_settings(cli_settings()))
    with session_factory() as factory, unit_of_work(factory) as session:
        endpoint, secret = register_endpoint(session, agency_code, name, url, cipher=cipher)
        record_event(
            session,
            actor=default_actor(),
            action="webhook.add",
            outcome="ok",
            details={"endpoint": str(endpoint.id), "agency": agency_code, "url": endpoint.url},
        )
    if as_json:
        typer.echo(json.dumps({"id": str(endpoint.id), "url": endpoint.url, "secret": secret}))
        return
    console.print(f"endpoint {endpoint.id} ({endpoint.name}) -> {endpoint.url}", highlight=False)
    console.print(f"signing secret (shown once, keep it safe): {secret}", highlight=False)


@webhooks_app.command("list")
def list_command(
    agency_code: str | None = typer.Option(None, "--agency", help="Only this agency's."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array."),
) -> None:
    """List endpoints (never their secrets)."""
    with session_factory() as factory, factory() as session:
        endpoints = list_endpoints(session, agency_code=agency_code)
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "id": str(e.id),
                        "agency": e.agency_code,
                        "name": e.name,
                        "url": e.url,
                        "active": e.is_active,
                        "created_at": e.created_at.isoformat(),
                    }
                    for e in endpoints
                ]
            )
        )
        return
    table = Table(title="Webhook endpoints")
    for column in ("id", "agency", "name", "url", "active"):
        table.add_column(column)
    for e in endpoints:
        table.add_row(str(e.id), e.agency_code, e.name, e.url, "yes" if e.is_active else "no")
    console.print(table)


@webhooks_app.command("disable")
def disable_command(
    endpoint_id: uuid.UUID = typer.Argument(..., help="Id of the endpoint (see list)."),
) -> None:
    """Stop sending to an endpoint; messages still queued for it are dead-lettered."""
    with session_factory() as factory, unit_of_work(factory) as session:
        endpoint = disable_endpoint(session, endpoint_id)
        record_event(
            session,
            actor=default_actor(),
            action="webhook.disable",
            outcome="ok",
            details={"endpoint": str(endpoint.id), "url": endpoint.url},
        )
    console.print(f"endpoint {endpoint.id} ({endpoint.name}) disabled", highlight=False)


@webhooks_app.command("ping")
def ping_command(
    endpoint_id: uuid.UUID = typer.Argument(..., help="Id of the endpoint (see list)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Send one signed test event (no child data) to an endpoint and show what it answered."""
    settings = cli_settings()
    cipher = FieldCipher(KeyStore.from_settings(settings))
    with session_factory() as factory, factory() as session:
        result = ping_endpoint(
            session, endpoint_id, cipher=cipher, timeout_s=settings.webhook_timeout_s
        )
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "id": str(result.endpoint_id),
                    "url": result.url,
                    "ok": result.ok,
                    "detail": result.detail,
                    "ms": result.milliseconds,
                }
            )
        )
    else:
        verdict = "[green]ok[/]" if result.ok else "[red]failed[/]"
        console.print(
            f"{result.url}: {verdict} ({result.detail}, {result.milliseconds} ms)", highlight=False
        )
    if not result.ok:
        raise typer.Exit(1)


@outbox_app.command("status")
def status_command(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Messages by channel and status, how many are due or in flight, the oldest pending age."""
    with session_factory() as factory, factory() as session:
        status = outbox_status(session)
    if as_json:
        typer.echo(json.dumps(status.as_dict()))
        return
    table = Table(title="Outbox")
    table.add_column("channel")
    for column in ("pending", "sent", "dead"):
        table.add_column(column, justify="right")
    for channel, counts in sorted(status.counts.items()):
        table.add_row(channel, *(f"{counts.get(s, 0):,}" for s in ("pending", "sent", "dead")))
    console.print(table)
    age = status.oldest_pending_age_s
    console.print(
        f"due now: {status.pending_due:,}; in flight: {status.in_flight:,}; oldest pending: "
        + (f"{age:,.0f} s" if age is not None else "-"),
        highlight=False,
    )
    for entry in status.pending_errors:
        console.print(
            f"[yellow]{entry['channel']}[/]: {entry['messages']:,} waiting - {entry['last_error']}",
            highlight=False,
        )
