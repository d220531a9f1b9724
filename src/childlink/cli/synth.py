"""``childlink synth``: generate a synthetic county with department exports and ground truth."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from childlink.synth.config import NoiseRates, SynthConfig
from childlink.synth.service import PROGRESS_STEPS, SynthSummary, generate_county

console = Console()


def synth(
    children: int = typer.Option(10_000, "--children", "-n", min=50, help="Number of children."),
    seed: int = typer.Option(42, "--seed", "-s", min=0, help="Random seed; same seed, same files."),
    out: Path = typer.Option(Path("var/demo-county"), "--out", "-o", help="Output directory."),
    noise: float = typer.Option(
        1.0, "--noise", min=0.0, max=10.0, help="Multiplier of all noise rates (0 = clean exports)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier county in OUT."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Generate a synthetic county: department exports (exports/), ground truth (truth/)."""
    config = SynthConfig(children=children, seed=seed, noise=NoiseRates(scale=noise))
    if as_json:
        summary = generate_county(config, out, overwrite=overwrite)
        typer.echo(summary.to_json())
        return
    with Progress(
        TextColumn("[bold]synth[/]"),
        BarColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("starting", total=PROGRESS_STEPS)

        def step(name: str) -> None:
            progress.update(task, advance=1, description=name)

        summary = generate_county(config, out, overwrite=overwrite, progress=step)
    print_summary(summary)


def print_summary(summary: SynthSummary) -> None:
    """Rich tables of what was generated."""
    overview = Table(title=f"Synthetic county in {summary.out_dir} (seed {summary.seed})")
    overview.add_column("what")
    overview.add_column("count", justify="right")
    for label, value in (
        ("children", summary.children),
        ("households", summary.households),
        ("adults (guardians)", summary.adults),
        ("townships", summary.townships),
        ("villages", summary.villages),
        ("schools", summary.schools),
    ):
        overview.add_row(label, f"{value:,}")
    for name, value in summary.categories.items():
        share = value / summary.children
        overview.add_row(f"  {name}", f"{value:,} ({share:.1%})")
    console.print(overview)

    outcomes = Table(title="Outcomes over the time line (ground truth)")
    for column in ("outcome", "children at risk", "events", "mean 6-month probability"):
        outcomes.add_column(column, justify="right" if column != "outcome" else "left")
    for name, row in summary.outcomes.items():
        outcomes.add_row(
            name,
            f"{row['children_at_risk']:,}",
            f"{row['events']:,}",
            f"{row['mean_window_probability']:.4f}",
        )
    console.print(outcomes)

    files = Table(title="Department exports")
    files.add_column("file")
    files.add_column("rows", justify="right")
    files.add_column("size", justify="right")
    for item in summary.exports:
        files.add_row(item.path, f"{item.rows:,}", f"{item.bytes / 1e6:.1f} MB")
    console.print(files)
    console.print(
        f"{summary.truth_records:,} ground-truth record links in truth/; "
        f"done in {summary.seconds:.1f} s"
    )
