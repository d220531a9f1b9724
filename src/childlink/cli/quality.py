"""``childlink quality`` and ``childlink quarantine``: quality reports and the quarantine queue.

Thin over :mod:`childlink.quality.report` and :mod:`childlink.quality.quarantine`; every
command opens one session on ``CHILDLINK_DATABASE_URL`` and disposes of the engine after.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy.orm import Session

from childlink.cli.db import cli_settings
from childlink.errors import ChildLinkError
from childlink.ingest.mapping import available_mappings
from childlink.quality import quarantine as quarantine_service
from childlink.quality.quarantine import QuarantinePage, RecordDetail
from childlink.quality.report import DEFAULT_SAMPLES, build_report, render_html, render_text
from childlink.quality.truth_check import DefectScore, score_against_truth
from childlink.store.engine import build_engine, create_session_factory, database_errors

console = Console()

quality_app = typer.Typer(
    name="quality", help="Data-quality reports of ingested batches.", no_args_is_help=True
)
quarantine_app = typer.Typer(
    name="quarantine",
    help="Rows refused at ingest: list, inspect, release or correct them.",
    no_args_is_help=True,
)


@contextmanager
def _session() -> Iterator[Session]:
    settings = cli_settings()
    engine = build_engine(settings)
    try:
        with (
            database_errors(settings.effective_database_url),
            create_session_factory(engine)() as session,
        ):
            yield session
    finally:
        engine.dispose()


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError) as error:
        raise ChildLinkError("cannot tell who you are: pass --actor NAME") from error


@quality_app.command("report")
def report(
    source: str | None = typer.Option(None, "--source", "-s", help="Only this source (code)."),
    batch: str | None = typer.Option(None, "--batch", "-b", help="Only this batch (its id)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON for scripts."),
    html: Path | None = typer.Option(
        None, "--html", help="Also write a self-contained HTML page to this file."
    ),
    samples: int = typer.Option(
        DEFAULT_SAMPLES,
        "--samples",
        min=0,
        help="Quarantined rows shown per batch in JSON/HTML; 0 keeps identifiable rows out.",
    ),
) -> None:
    """Report committed batches per source: reconciliation, reasons, fixes, flags, fields, trend.

    Each batch reconciles when rows in = accepted + fixed + quarantined + duplicate = provenance
    rows, and its counters match the stored records; the command exits 1 if any does not.
    """
    with _session() as session:
        result = build_report(session, batch_id=batch, source=source, samples=samples)
    if html is not None:
        html.write_text(render_html(result), encoding="utf-8")
    if as_json:
        typer.echo(result.to_json())
    else:
        render_text(result, console)
        if html is not None:
            console.print(Text(f"HTML report written to {html}"))
    if not result.reconciles:
        raise typer.Exit(code=1)


@quality_app.command("truth-check")
def truth_check(
    county: Path = typer.Option(..., "--county", help="The synthetic county that was ingested."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Score ingestion per injected defect against a synthetic county's ground truth."""
    if not (county / "truth" / "records.parquet").is_file():
        raise ChildLinkError(f"{county} has no truth/records.parquet: is it a synthetic county?")
    with _session() as session:
        scores = score_against_truth(session, county)
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        **asdict(score),
                        "missed": score.missed,
                        "detection_rate": score.detection_rate,
                    }
                    for score in scores
                ]
            )
        )
        return
    print_truth_scores(scores)


def print_truth_scores(scores: list[DefectScore]) -> None:
    """A table of how ingestion treated each kind of injected defect."""
    table = Table(title="Injected defects vs. what ingest did (ground truth)")
    table.add_column("defect")
    for column in ("rows", "handled", "held (other reason)", "undetectable", "missed", "rate"):
        table.add_column(column, justify="right")
    for score in scores:
        rate = score.detection_rate
        table.add_row(
            score.defect,
            f"{score.rows:,}",
            f"{score.handled:,}",
            f"{score.quarantined_other:,}",
            f"{score.undetectable:,}",
            f"{score.missed:,}",
            "—" if rate is None else f"{rate:.1%}",
        )
    console.print(table)
    console.print(
        Text(
            "rate = (handled + held) / detectable rows; undetectable: no trace a single source "
            "can see (homophones are linkage's job; consistency needs a valid ID number)"
        )
    )


@quarantine_app.command("list")
def list_records(
    source: str | None = typer.Option(None, "--source", "-s", help="Only this source (code)."),
    batch: str | None = typer.Option(None, "--batch", "-b", help="Only this batch (its id)."),
    reason: str | None = typer.Option(None, "--reason", "-r", help="Only this reason code."),
    limit: int = typer.Option(
        50, "--limit", min=1, max=quarantine_service.MAX_PAGE, help="Records per page."
    ),
    offset: int = typer.Option(0, "--offset", min=0, help="Records to skip (paging)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """List quarantined records of committed batches, newest batch first."""
    with _session() as session:
        page = quarantine_service.list_quarantined(
            session, source=source, batch_id=batch, reason=reason, limit=limit, offset=offset
        )
    if as_json:
        typer.echo(page.model_dump_json(indent=2))
        return
    _print_page(page)


@quarantine_app.command("show")
def show(
    record_id: str = typer.Argument(..., help="Record id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Show a record: canonical fields, the row as delivered, reason, fixes and provenance."""
    with _session() as session:
        detail = quarantine_service.show_record(session, record_id)
    if as_json:
        typer.echo(detail.model_dump_json(indent=2))
        return
    _print_detail(detail)


@quarantine_app.command("release")
def release(
    record_id: str = typer.Argument(..., help="Record id."),
    note: str = typer.Option(..., "--note", help="Why the row may be accepted as it is."),
    actor: str | None = typer.Option(None, "--actor", help="Who releases; default: OS user."),
    as_json: bool = typer.Option(False, "--json", help="Print the record as JSON."),
) -> None:
    """Accept a quarantined record as it is (recorded with actor and note)."""
    with _session() as session:
        detail = quarantine_service.release(
            session, record_id, actor=actor or _default_actor(), note=note
        )
    _print_outcome(detail, as_json, "released")


@quarantine_app.command("fix")
def fix(
    record_id: str = typer.Argument(..., help="Record id."),
    values: list[str] = typer.Option(
        ..., "--set", help="Corrected raw cell as 'header=value'; repeat for several cells."
    ),
    note: str = typer.Option(..., "--note", help="Why and from where the correction comes."),
    actor: str | None = typer.Option(None, "--actor", help="Who corrects; default: OS user."),
    as_json: bool = typer.Option(False, "--json", help="Print the record as JSON."),
) -> None:
    """Correct raw cells of a quarantined row; it is accepted only if it now passes."""
    field_values: dict[str, str] = {}
    for item in values:
        header, sep, value = item.partition("=")
        if not sep or not header.strip():
            raise typer.BadParameter(f"{item!r} is not header=value", param_hint="--set")
        field_values[header.strip()] = value
    with _session() as session:
        detail = quarantine_service.fix(
            session,
            record_id,
            field_values=field_values,
            actor=actor or _default_actor(),
            note=note,
            mappings=available_mappings(cli_settings().mappings_dir),
        )
    _print_outcome(detail, as_json, "fixed")


def _print_outcome(detail: RecordDetail, as_json: bool, verb: str) -> None:
    if as_json:
        typer.echo(detail.model_dump_json(indent=2))
        return
    console.print(
        Text(
            f"record {detail.record_id} {verb}: now {detail.status} "
            f"({detail.file_name} row {detail.row_number})"
        )
    )


def _print_page(page: QuarantinePage) -> None:
    table = Table(
        title=f"隔离记录 Quarantined records {page.offset + 1 if page.items else 0}"
        f"-{page.offset + len(page.items)} of {page.total:,}",
        title_justify="left",
    )
    for column in ("record", "source", "file", "row", "reason", "message"):
        table.add_column(column, justify="right" if column == "row" else "left")
    for item in page.items:
        table.add_row(
            str(item.record_id), Text(item.source), Text(item.file_name),
            f"{item.sheet}:{item.row_number}" if item.sheet else str(item.row_number),
            Text(f"{item.label_zh} {item.reason or ''}"), Text(item.message or ""),
        )  # fmt: skip
    console.print(table)


def _print_detail(detail: RecordDetail) -> None:
    console.print(Text(f"record {detail.record_id}", style="bold"))
    facts = Table(show_header=False, box=None)
    facts.add_column(style="dim")
    facts.add_column()
    where = f"{detail.sheet}:{detail.row_number}" if detail.sheet else str(detail.row_number)
    rows: list[tuple[str, str]] = [
        ("source", f"{detail.source_zh} {detail.source_en} ({detail.source})"),
        ("batch", f"{detail.batch_id} ({detail.batch_status})"),
        ("file / row", f"{detail.file_name} row {where}"),
        ("status", detail.status),
        ("reason", f"{detail.label_zh} {detail.reason}" if detail.reason else "—"),
        ("message", detail.message or "—"),
        ("flags", ", ".join(detail.flags) or "—"),
        ("id_number", detail.id_number or "—"),
        ("name", f"{detail.name or '—'} ({detail.name_pinyin or '—'})"),
        ("sex", detail.sex or "—"),
        ("birth_date", detail.birth_date.isoformat() if detail.birth_date else "—"),
        ("region_code", detail.region_code or "—"),
        *((f"· {key}", str(value)) for key, value in sorted(detail.attributes.items())),
    ]
    for key, value in rows:
        facts.add_row(key, Text(value))
    console.print(facts)
    raw = Table(title="原始行 Row as delivered", title_justify="left")
    raw.add_column("column")
    raw.add_column("cell")
    for header, cell in detail.raw_row.items():
        raw.add_row(Text(str(header)), Text("∅" if cell is None else str(cell)))
    console.print(raw)
    if detail.fixes:
        fixes = Table(title="修正记录 Fixes", title_justify="left")
        for column in ("field", "old", "new", "rule", "actor", "note", "at"):
            fixes.add_column(column)
        for item in detail.fixes:
            fixes.add_row(
                Text(item.field), Text(item.old_value or "∅"), Text(item.new_value or "∅"),
                Text(item.rule), Text(item.actor or ""), Text(item.note or ""),
                f"{item.created_at:%Y-%m-%d %H:%M}",
            )  # fmt: skip
        console.print(fixes)
    lines = ", ".join(
        f"{p.sheet}:{p.row_number}" if p.sheet else str(p.row_number) for p in detail.provenance
    )
    console.print(Text(f"delivered rows: {lines or '—'}"))
