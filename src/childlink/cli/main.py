"""Entry point of the ``childlink`` command.

User mistakes surface as :class:`~childlink.errors.ChildLinkError`; :func:`run` turns them into
one red line on stderr and a non-zero exit code instead of a traceback.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from childlink import __version__
from childlink.cli import bench as bench_cli
from childlink.cli import db as db_cli
from childlink.cli.access import access_app, consent_app
from childlink.cli.alerts import alerts_app
from childlink.cli.audit import audit_app
from childlink.cli.demo import demo as demo_command
from childlink.cli.ingest import ingest as ingest_command
from childlink.cli.ingest import sources_app
from childlink.cli.keys import keys_app
from childlink.cli.link import link_app
from childlink.cli.quality import quality_app, quarantine_app
from childlink.cli.review import review_app
from childlink.cli.risk import risk_app
from childlink.cli.risk_scores import register_score_commands
from childlink.cli.rules import rules_app
from childlink.cli.serve import serve as serve_command
from childlink.cli.synth import synth as synth_command
from childlink.cli.users import users_app
from childlink.cli.worker import outbox_app, webhooks_app
from childlink.cli.worker import worker as worker_command
from childlink.errors import ChildLinkError

app = typer.Typer(
    name="childlink",
    help="ChildLink: cross-department child data sharing platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db_cli.app, name="db")
app.command(name="synth")(synth_command)
app.command(name="demo")(demo_command)
app.add_typer(bench_cli.app, name="bench")
app.add_typer(sources_app, name="sources")
app.command(name="ingest")(ingest_command)
app.add_typer(quality_app, name="quality")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(link_app, name="link")
app.add_typer(review_app, name="review")
app.add_typer(rules_app, name="rules")
register_score_commands(risk_app)  # score and flags live in cli/risk_scores.py
app.add_typer(risk_app, name="risk")
app.add_typer(access_app, name="access")
app.add_typer(consent_app, name="consent")
app.add_typer(audit_app, name="audit")
app.add_typer(keys_app, name="keys")
app.add_typer(users_app, name="users")
app.add_typer(alerts_app, name="alerts")
app.command(name="serve")(serve_command)
app.command(name="worker")(worker_command)
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(outbox_app, name="outbox")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"childlink {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """ChildLink: cross-department child data sharing platform."""


def run() -> None:
    """Console-script entry point."""
    try:
        app(standalone_mode=True)
    except ChildLinkError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
