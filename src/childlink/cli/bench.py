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


def _figures(row: dict[str, object] | None) -> list[str]:
    if not row or row.get("status") != "ok":
        status = "not run" if not row else str(row.get("status"))
        detail = ""
        if row and row.get("status") == "timeout":
            detail = f" after {row.get('seconds')} s, peak {row.get('peak_mb')} MB"
        elif row and row.get("error"):
            detail = f": {str(row.get('error'))[:60]}"
        return [f"[red]{status}{detail}", "", "", "", "", ""]
    return [
        f"{row['precision']:.4f}",
        f"{row['recall']:.4f}",
        f"{row['f1']:.4f}",
        f"{row['pairs_compared']:,}",
        f"{row['seconds']:.1f}",
        f"{row['peak_mb']:,.0f}",
    ]


@app.command("link")
def bench_link(
    sizes: str = typer.Option(
        "10000,100000,1000000", "--sizes", help="Comma-separated county sizes in source records."
    ),
    seed: int = typer.Option(42, "--seed", "-s", min=0, help="Random seed of the counties."),
    timeout: float = typer.Option(
        900.0, "--timeout", min=1.0, help="Seconds one model may run on one county."
    ),
    febrl: bool = typer.Option(True, "--febrl/--no-febrl", help="Also run FEBRL3 and FEBRL4."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """ChildLink's engine vs Splink out of the box on generated counties and on FEBRL."""
    from childlink.linkage.bench import run_link_benchmark

    try:
        size_list = [int(part.replace("_", "")) for part in sizes.split(",") if part.strip()]
    except ValueError as error:
        raise typer.BadParameter(f"--sizes: {error}") from error
    if not size_list or min(size_list) < 1_000:
        raise typer.BadParameter("--sizes: give sizes of at least 1000 records")

    def say(message: str) -> None:
        if not as_json:
            console.print(f"[dim]… {message}")

    result = run_link_benchmark(size_list, seed=seed, timeout=timeout, febrl=febrl, progress=say)
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
        return
    columns = ("precision", "recall", "F1", "pairs compared", "seconds", "peak MB")
    table = Table(title="bench link: generated counties (default noise)")
    for column in ("records", "children", "model", *columns):
        table.add_column(column, justify="left" if column == "model" else "right")
    for county in result["counties"]:
        for model in ("childlink", "splink_default"):
            table.add_row(
                f"{county.get('source_records', county['size']):,}",
                f"{county['children']:,}",
                model,
                *_figures(county.get(model)),
            )
    console.print(table)
    for model, steps in result["growth"].items():
        for step in steps:
            console.print(
                f"{model}: {step['from']:,} → {step['to']:,} records: time ×{step['time_ratio']}"
                f" for records ×{step['records_ratio']} (t ∝ n^{step['exponent']})"
            )
    if "febrl" not in result:
        return
    for dataset in ("febrl3", "febrl4"):
        block = result["febrl"][dataset]
        table = Table(title=f"bench link: {dataset.upper()}")
        for column in ("method", *columns):
            table.add_column(column, justify="left" if column == "method" else "right")
        for method, row in block["methods"].items():
            table.add_row(method, *_figures(row))
        console.print(table)
        console.print(f"best F1 on {dataset.upper()}: [bold]{block['best_f1']}")
    console.print("ChildLink on FEBRL, field mapping:")
    for column, source in result["febrl"]["field_mapping"].items():
        console.print(f"  {column} ← {source}")


@app.command("risk")
def bench_risk(
    children: int = typer.Option(
        100_000, "--children", "-n", min=2_000, help="Children in the generated county."
    ),
    seed: int = typer.Option(42, "--seed", "-s", min=0, help="Random seed of the county."),
    score_children: int = typer.Option(
        1_000_000,
        "--score-children",
        min=1_000,
        help="Children in the timed scoring pass (the county replicated with suffixed ids).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    rescore: bool = typer.Option(
        False,
        "--rescore",
        help="Instead: latency of re-scoring one child in process, on a small database county.",
    ),
    rescore_children: int = typer.Option(
        300, "--rescore-children", min=50, help="Children in the --rescore county."
    ),
    samples: int = typer.Option(
        50, "--samples", min=1, help="Children re-scored one at a time (--rescore)."
    ),
) -> None:
    """Risk models: test AUC vs the generator's ceiling, ECE, and scoring time per 1M children.

    With --rescore: the median and 95th-percentile latency of re-scoring one child
    (``rescore_after_link``) on a small ingested, linked and scored SQLite county.
    """
    from childlink.risk.bench import run_rescore_benchmark, run_risk_benchmark

    def say(message: str) -> None:
        if not as_json:
            console.print(f"[dim]… {message}")

    if rescore:
        found = run_rescore_benchmark(rescore_children, seed=seed, samples=samples, progress=say)
        if as_json:
            typer.echo(json.dumps(found, ensure_ascii=False))
            return
        latency = found["rescore"]
        console.print(
            f"re-scoring one child ({found['backend']}, {rescore_children:,} children, "
            f"{latency['samples']} samples): median {latency['median_ms']} ms, "
            f"p95 {latency['p95_ms']} ms, max {latency['max_ms']} ms "
            f"(full county score {found['full_score_s']} s)"
        )
        return
    result = run_risk_benchmark(children, seed=seed, score_children=score_children, progress=say)
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
        return
    table = Table(title=f"bench risk: {children:,} children, test as of {result['split']['test']}")
    for column in ("risk", "model", "AUC", "ceiling", "gap", "PR-AUC", "ECE", "positives"):
        table.add_column(column, justify="left" if column in {"risk", "model"} else "right")

    def fmt(value: object) -> str:
        return "—" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

    for risk, block in result["models"].items():
        for kind, m in block["models"].items():
            mark = " *" if kind == block["selected"] else ""
            table.add_row(
                risk,
                kind + mark,
                fmt(m["auc"]),
                fmt(m["ceiling_auc"]),
                fmt(m["auc_gap"]),
                fmt(m["pr_auc"]),
                fmt(m["ece"]),
                fmt(m["positives"]),
            )
    console.print(table)
    scoring = result["scoring"]
    console.print(
        f"scoring {scoring['children_scored']:,} children (features + all models + rules): "
        f"{scoring['total_s']:.1f} s (features {scoring['features_s']:.1f}, models "
        f"{scoring['models_s']:.1f}, rules {scoring['rules_s']:.1f}); "
        f"{scoring['per_million_s']:.1f} s per 1,000,000"
    )
    console.print("stages (s): " + ", ".join(f"{k} {v}" for k, v in result["seconds"].items()))


@app.command("alerts")
def bench_alerts(
    samples: int = typer.Option(
        20, "--samples", min=1, help="Records pushed one at a time (latency samples)."
    ),
    messages: int = typer.Option(
        20_000, "--messages", min=100, help="Webhook notifications for the delivery rate."
    ),
    children: int = typer.Option(
        300, "--children", "-n", min=100, help="Children in the latency county."
    ),
    seed: int = typer.Option(42, "--seed", "-s", min=0, help="Random seed of the county."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Alerts: commit-to-inbox latency (p50/p95) and outbox deliveries per minute.

    Latency: a record that triggers a rule is ingested (committed); the alerts worker, running
    beside a real uvicorn server as in ``childlink serve``, links it, re-scores the child and
    raises the alert; the time until the alert arrives on the responsible worker's open inbox
    stream (SSE) is measured. Deliveries: the outbox sends ``--messages`` signed webhook
    notifications to a local receiver.
    """
    from childlink.alerts.bench_delivery import bench_deliveries
    from childlink.alerts.bench_latency import bench_alert_latency

    def say(message: str) -> None:
        if not as_json:
            console.print(f"[dim]… {message}")

    latency = bench_alert_latency(samples=samples, children=children, seed=seed, progress=say)
    say(f"delivering {messages:,} webhook notifications")
    delivery = bench_deliveries(messages)
    result: dict[str, object] = {
        "stage": "alerts",
        "alert_latency_p50_s": latency["p50_s"],
        "alert_latency_p95_s": latency["p95_s"],
        "alert_latency_max_s": latency["max_s"],
        "latency_samples": latency["samples"],
        "latency_missed": latency["missed"],
        "latency_listener": latency["listener"],
        "deliveries_per_min": delivery.get("deliveries_per_min"),
        "latency": latency,
        "delivery": delivery,
    }
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, default=str))
        return
    table = Table(title=f"bench alerts: {children:,} children, {samples} samples")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    table.add_row("alert latency p50 (s)", str(latency["p50_s"]), "")
    table.add_row("alert latency p95 (s)", str(latency["p95_s"]), "< 2")
    table.add_row("alert latency max (s)", str(latency["max_s"]), "")
    table.add_row("samples (missed)", f"{latency['samples']} ({latency['missed']})", "")
    table.add_row("deliveries per minute", str(delivery.get("deliveries_per_min")), "≥ 10,000")
    for key in ("delivered", "duplicates", "bad_signatures"):
        if key in delivery:
            table.add_row(key.replace("_", " "), str(delivery[key]), "")
    console.print(table)
