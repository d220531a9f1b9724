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
