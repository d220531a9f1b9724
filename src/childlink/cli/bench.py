"""``childlink bench <stage>``: measured speed, printed as figures (``--json`` for scripts).

Benchmarks are never assertions in tests: they run on demand, on this machine, and report.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from childlink.synth.config import SynthConfig
from childlink.synth.service import generate_county

app = typer.Typer(name="bench", help="Benchmarks of the pipeline stages.", no_args_is_help=True)
console = Console()


@app.command("synth")
def bench_synth(
    children: int = typer.Option(100_000, "--children", "-n", min=50, help="County size."),
    seed: int = typer.Option(42, "--seed", "-s", min=0, help="Random seed of the county."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Time the synthetic generator stage by stage on a throw-away county."""
    marks: list[tuple[str, float]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="childlink-bench-") as tmp:
        summary = generate_county(
            SynthConfig(children=children, seed=seed),
            Path(tmp) / "county",
            progress=lambda step: marks.append((step, time.perf_counter())),
        )
    total = time.perf_counter() - started
    stages: dict[str, float] = {}
    previous = started
    for step, at in marks:
        stages[step] = round(at - previous, 3)
        previous = at
    rows = sum(item.rows for item in summary.exports)
    export_bytes = sum(item.bytes for item in summary.exports)
    result: dict[str, object] = {
        "stage": "synth",
        "children": children,
        "seconds": round(total, 2),
        "children_per_s": round(children / total, 1),
        "export_rows": rows,
        "export_rows_per_s": round(rows / total, 1),
        "export_bytes": export_bytes,
        "stages_s": stages,
    }
    if as_json:
        typer.echo(json.dumps(result))
        return
    table = Table(title=f"bench synth: {children:,} children")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    for step, seconds in stages.items():
        table.add_row(step, f"{seconds:.2f}")
    table.add_row("[bold]total", f"[bold]{total:.2f}")
    console.print(table)
    console.print(
        f"{rows:,} export rows, {export_bytes / 1e6:.0f} MB; "
        f"{children / total:,.0f} children/s, {rows / total:,.0f} rows/s"
    )


@app.command("ingest")
def bench_ingest(
    rows: int = typer.Option(1_000_000, "--rows", "-r", min=1_000, help="CSV rows to ingest."),
    store: bool = typer.Option(
        True, "--store/--no-store", help="Also time the full ingest into a scratch SQLite DB."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Rows/s of reading + standardising a household-register CSV, beside DuckDB's read rate."""
    from childlink.ingest.benchmark import run_ingest_benchmark

    result = run_ingest_benchmark(rows, store=store)
    if as_json:
        typer.echo(json.dumps(result))
        return
    table = Table(title=f"bench ingest: {rows:,} CSV rows ({result['file_mb']:.0f} MB)")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    table.add_column("rows/s", justify="right")
    table.add_column("peak MB", justify="right")
    for stage in result["stages"]:
        table.add_row(
            stage["name"],
            f"{stage['seconds']:.2f}",
            f"{stage['rows_per_s']:,.0f}",
            f"{stage['peak_mb']:,.0f}",
        )
    console.print(table)
