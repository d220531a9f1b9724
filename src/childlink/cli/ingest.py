"""``childlink ingest`` and ``childlink sources``: department files into canonical records."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from childlink.cli.db import cli_settings
from childlink.errors import ChildLinkError
from childlink.ingest.mapping import (
    MappingError,
    SourceMapping,
    available_mappings,
    load_mapping,
    mapping_for_file,
)
from childlink.ingest.service import IngestResult, ingest_file
from childlink.store.engine import build_engine, create_session_factory, database_errors

console = Console()
sources_app = typer.Typer(
    name="sources", help="Department source mappings (YAML contracts).", no_args_is_help=True
)

#: Order in which a county's exports are ingested: registers first, events after.
SOURCE_ORDER = (
    "public_security.household_register",
    "public_security.floating_population",
    "education.student_registry",
    "civil_affairs.welfare_rolls",
    "health.visits",
    "health.mental_health_screenings",
    "education.attendance",
    "public_security.incidents",
    "womens_federation.home_visits",
    "procuratorate.mandatory_reports",
)


@sources_app.command("validate")
def validate(files: list[Path] = typer.Argument(..., help="Mapping files to check.")) -> None:
    """Check mapping files and explain every problem; exit 1 if any file is invalid."""
    failed = 0
    for path in files:
        try:
            mapping = load_mapping(path)
        except MappingError as error:
            failed += 1
            console.print(f"[red]✗ {path}[/] ({len(error.problems)} problem(s))", highlight=False)
            for problem in error.problems:
                console.print(f"    - {problem}", highlight=False)
            continue
        console.print(
            f"[green]✓ {path}[/]: {mapping.source} v{mapping.version}, "
            f"{len(mapping.fields)} fields, {mapping.format}",
            highlight=False,
        )
    if failed:
        raise typer.Exit(code=1)


@sources_app.command("list")
def list_sources(
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """List the source mappings available (shipped, and from CHILDLINK_MAPPINGS_DIR)."""
    mappings = available_mappings(cli_settings().mappings_dir)
    if as_json:
        typer.echo(
            json.dumps(
                {code: m.model_dump(mode="json") for code, m in mappings.items()},
                ensure_ascii=False,
            )
        )
        return
    table = Table(title="Source mappings")
    for column in ("source", "version", "format", "files", "name"):
        table.add_column(column)
    for code, mapping in sorted(mappings.items()):
        table.add_row(
            code,
            mapping.version,
            mapping.format,
            ", ".join(mapping.file_patterns),
            f"{mapping.name_zh} / {mapping.name_en}",
        )
    console.print(table)


def ingest(
    files: list[Path] = typer.Argument(None, help="Files to ingest."),
    source: str | None = typer.Option(
        None, "--source", "-s", help="Source code of the files; detected from names if unset."
    ),
    county: Path | None = typer.Option(
        None, "--county", help="Ingest every export of a synthetic county (DIR/exports)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per file."),
) -> None:
    """Ingest department files: standardise, fix what is safe, quarantine the rest, count all."""
    settings = cli_settings()
    mappings = available_mappings(settings.mappings_dir)
    plan = plan_ingest(files or [], source, county, mappings)
    engine = build_engine(settings)
    factory = create_session_factory(engine)
    results: list[IngestResult] = []
    try:
        with (
            database_errors(settings.effective_database_url),
            Progress(
                TextColumn("[bold]ingest[/] {task.description}"),
                BarColumn(),
                TextColumn("{task.completed:,} rows"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
                disable=as_json,
            ) as progress,
        ):
            for mapping, path in plan:
                task = progress.add_task(f"{mapping.source} {path.name}", total=None)

                def advance(rows: int, task: TaskID = task) -> None:
                    progress.update(task, completed=rows)

                result = ingest_file(factory, mapping, path, progress=advance)
                progress.remove_task(task)
                results.append(result)
                if as_json:
                    typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
    finally:
        engine.dispose()
    if not as_json:
        print_results(results)


def plan_ingest(
    files: list[Path],
    source: str | None,
    county: Path | None,
    mappings: dict[str, SourceMapping],
) -> list[tuple[SourceMapping, Path]]:
    """Which mapping reads which file, registers before events (so later stages find people)."""
    if county is not None:
        exports = county / "exports"
        if not exports.is_dir():
            raise ChildLinkError(f"{county} has no exports/ folder: is it a synthetic county?")
        files = [*files, *sorted(p for p in exports.rglob("*") if p.is_file())]
    if not files:
        raise ChildLinkError("nothing to ingest: name files or --county DIR")
    plan = []
    for path in files:
        if not path.is_file():
            raise ChildLinkError(f"{path}: no such file")
        if source is not None:
            if source not in mappings:
                raise ChildLinkError(f"unknown source {source!r}; see `childlink sources list`")
            mapping = mappings[source]
        else:
            found = mapping_for_file(path, mappings)
            if found is None:
                raise ChildLinkError(
                    f"{path}: cannot tell which source it is; "
                    "pass --source (see `childlink sources list`)"
                )
            mapping = found
        plan.append((mapping, path))
    rank = {code: i for i, code in enumerate(SOURCE_ORDER)}
    return sorted(plan, key=lambda item: rank.get(item[0].source, len(rank)))


def print_results(results: list[IngestResult]) -> None:
    """One table row per file: rows in = accepted + fixed + quarantined + duplicates."""
    table = Table(title="Ingest")
    for column in (
        "source",
        "file",
        "outcome",
        "rows in",
        "accepted",
        "fixed",
        "quarantined",
        "duplicate",
        "reconciles",
        "s",
    ):
        table.add_column(
            column, justify="right" if column not in ("source", "file", "outcome") else "left"
        )
    for r in results:
        table.add_row(
            r.source,
            r.file,
            r.outcome,
            f"{r.rows_in:,}",
            f"{r.accepted:,}",
            f"{r.fixed:,}",
            f"{r.quarantined:,}",
            f"{r.duplicate:,}",
            "✓" if r.reconciles else "[red]✗",
            f"{r.seconds:.1f}",
        )
    console.print(table)
