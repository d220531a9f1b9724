"""``childlink risk score`` and ``childlink risk flags``: scores and flags in the product.

Registered onto the ``risk`` sub-app (whose train/evaluate commands live in
:mod:`childlink.cli.risk`) by :func:`register_score_commands`, so the two modules stay separate.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from childlink.cli.db import cli_settings
from childlink.errors import ChildLinkError
from childlink.privacy.keys import FieldCipher, KeyStore
from childlink.risk.choices import RiskType
from childlink.risk.schemas import FlagStatus, ScoreRunRead
from childlink.risk.service import list_flags, score_children
from childlink.store.engine import build_engine, create_session_factory, database_errors

console = Console()


class KnownFrom(StrEnum):
    """``--known-from`` values (see ``childlink.risk.events.load_events``)."""

    BATCH = "batch"
    EVENT = "event"


class StatusChoice(StrEnum):
    """``--status`` values."""

    OPEN = "open"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


def score(
    as_of: str | None = typer.Option(
        None, "--as-of", help="Scoring date YYYY-MM-DD (default: the latest full run's date)."
    ),
    child: list[str] | None = typer.Option(
        None, "--child", help="Only this master child id (repeatable)."
    ),
    known_from: KnownFrom | None = typer.Option(
        None,
        "--known-from",
        help="batch: facts count from their ingest date; event: from their own date "
        "(a county loaded at once). Default: the latest full run's choice, else batch.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Score every child (or --child) with the active models and rules; history is kept."""
    settings = cli_settings()
    day = dt.date.fromisoformat(as_of) if as_of else None
    children = [uuid.UUID(value) for value in child] if child else None
    engine = build_engine(settings)
    try:
        with database_errors(settings.effective_database_url):
            result = score_children(
                create_session_factory(engine),
                as_of=day,
                children=children,
                data_dir=settings.data_dir,
                cipher=FieldCipher(KeyStore.from_settings(settings)),
                known_from=None if known_from is None else known_from.value,
            )
    finally:
        engine.dispose()
    if as_json:
        typer.echo(result.model_dump_json())
        return
    print_score_run(result)


def print_score_run(result: ScoreRunRead) -> None:
    """Children scored per risk and band, with the model versions used."""
    table = Table(title=f"Risk scores as of {result.as_of} ({result.children:,} children)")
    table.add_column("risk")
    table.add_column("model version")
    for band in ("low", "medium", "high"):
        table.add_column(band, justify="right")
    for risk, version in result.model_versions.items():
        counts = result.bands.get(risk, {})
        table.add_row(risk, version, *(f"{counts.get(b, 0):,}" for b in ("low", "medium", "high")))
    console.print(table)
    console.print(
        f"{result.scores:,} scores stored, {result.flags_new:,} new rule flags, "
        f"in {result.seconds:.1f} s (run {result.run_id})"
    )


def flags(
    status: StatusChoice | None = typer.Option(None, "--status", help="Only flags in this state."),
    limit: int = typer.Option(50, "--limit", min=1, max=10_000, help="At most this many."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list."),
) -> None:
    """Active indicator-rule flags, most severe and newest first."""
    settings = cli_settings()
    engine = build_engine(settings)
    try:
        with (
            database_errors(settings.effective_database_url),
            create_session_factory(engine)() as session,
        ):
            found = list_flags(
                session, status=None if status is None else FlagStatus(status.value), limit=limit
            )
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps([flag.model_dump(mode="json") for flag in found], ensure_ascii=False))
        return
    table = Table(title=f"Risk flags ({len(found)})")
    for column in ("flag", "rule", "risk", "severity", "status", "label", "facts"):
        table.add_column(column)
    for flag in found:
        table.add_row(
            str(flag.id)[:8],
            f"{flag.rule_id} v{flag.rule_version}",
            flag.risk,
            flag.severity,
            flag.status,
            flag.label_zh,
            str(len(flag.facts)),
        )
    console.print(table)


def register_score_commands(app: typer.Typer) -> None:
    """Add ``score`` and ``flags`` to the ``risk`` sub-app."""
    app.command("score")(score)
    app.command("flags")(flags)


@dataclass(frozen=True)
class DemoRisk:
    """What the demo's risk step did."""

    summary: dict[str, Any]
    skipped: dict[str, str]
    report_html: Path | None
    run: ScoreRunRead | None
    seconds: float


def demo_risk(
    factory: sessionmaker[Session], data_dir: Path, county_dir: Path, cipher: FieldCipher
) -> DemoRisk:
    """Train, evaluate and register the models on the linked county, then score every child.

    Facts count from their own dates (``known_from="event"``): the demo ingests years of county
    records in one go, so their batch dates say nothing about when they happened. Labels are the
    generator's outcomes mapped to master children; a risk with too few outcomes in a small
    county is skipped and named.
    """
    from childlink.risk.registry import Registry
    from childlink.risk.report import build_report, summary, write_report
    from childlink.risk.training import database_data, register_results, train_risks

    started = time.perf_counter()
    try:
        with factory() as session:
            data = database_data(session, county_dir, cipher=cipher, known_from="event")
    except ChildLinkError as problem:  # e.g. fewer than three outcome windows
        return DemoRisk({}, {"all": str(problem)}, None, None, time.perf_counter() - started)
    results = []
    skipped: dict[str, str] = {}
    for risk in RiskType:
        try:
            results.extend(train_risks(data, risks=(risk,)))
        except ChildLinkError as problem:  # too few outcomes in a small county
            skipped[risk.value] = str(problem)
    if not results:
        return DemoRisk({}, skipped, None, None, time.perf_counter() - started)
    registry = Registry(data_dir, factory)
    versions = register_results(results, data, registry)
    active = {item.risk.value: versions[item.risk.value][item.selected] for item in results}
    report = build_report(results, data, active)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    _json_path, html_path = write_report(report, data_dir / "risk" / "reports" / stamp)
    run = score_children(factory, data_dir=data_dir, cipher=cipher, known_from="event")
    return DemoRisk(
        summary=summary(report),
        skipped=skipped,
        report_html=html_path,
        run=run,
        seconds=time.perf_counter() - started,
    )


def print_demo_risk(result: DemoRisk) -> None:
    """The selected model of each risk with its test figures, then the scores per band."""
    table = Table(title="Risk models (test window; * the active version)")
    for column in ("risk", "active version", "AUC", "ceiling AUC", "PR-AUC", "Brier", "ECE"):
        table.add_column(
            column, justify="left" if column in {"risk", "active version"} else "right"
        )

    def fmt(value: Any) -> str:
        return "—" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

    for risk, block in result.summary.items():
        m = block["models"][block["selected"]]
        table.add_row(
            risk,
            f"{block.get('version')} *",
            fmt(m.get("auc")),
            fmt(m.get("ceiling_auc")),
            fmt(m.get("pr_auc")),
            fmt(m.get("brier")),
            fmt(m.get("ece")),
        )
    console.print(table)
    for risk, reason in result.skipped.items():
        console.print(f"[yellow]{risk}: not trained ({reason})[/]")
    if result.run is None:
        console.print("[yellow]no risk model could be trained; children were not scored[/]")
        return
    print_score_run(result.run)
    console.print(f"evaluation report: {result.report_html}; risk step took {result.seconds:.1f} s")
