"""``childlink risk``: train, evaluate (and, from the product side, score) the risk models."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from childlink.cli.db import cli_settings

risk_app = typer.Typer(
    name="risk",
    help="Risk models: train, evaluate, score.",
    no_args_is_help=True,
)
console = Console()


def _county(county: Path | None) -> Path:
    folder = county or cli_settings().data_dir / "demo-county"
    if not (folder / "truth" / "outcomes.parquet").is_file():
        raise typer.BadParameter(
            f"{folder} is not a generated county with truth/outcomes.parquet", param_hint="--county"
        )
    return folder


def _data(county_dir: Path, source: str) -> Any:
    from childlink.risk.training import county_data, database_data

    if source == "files":
        return county_data(county_dir)
    from childlink.cli.review import session_factory

    with session_factory() as (_settings, factory), factory() as session:
        return database_data(session, county_dir)


def _print_summary(summary: dict[str, Any], title: str) -> None:
    table = Table(title=title)
    for column in (
        "risk",
        "model",
        "version",
        "AUC",
        "ceiling",
        "exp. AUC",
        "exp. ceiling",
        "PR-AUC",
        "Brier",
        "ECE",
        "positives",
    ):
        table.add_column(
            column, justify="left" if column in {"risk", "model", "version"} else "right"
        )

    def fmt(value: Any) -> str:
        return "—" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

    for risk, block in summary.items():
        for kind, m in block["models"].items():
            mark = " *" if kind == block["selected"] else ""
            table.add_row(
                risk,
                kind + mark,
                str(m.get("version") or ""),
                fmt(m["auc"]),
                fmt(m["ceiling_auc"]),
                fmt(m["expected_auc"]),
                fmt(m["ceiling_expected_auc"]),
                fmt(m["pr_auc"]),
                fmt(m["brier"]),
                fmt(m["ece"]),
                fmt(m["positives"]),
            )
    console.print(table)
    console.print("* selected / active model (highest validation AUC)")


SOURCE_HELP = "files: the county's exports, no database; db: linked records in the database."


@risk_app.command("train")
def train_command(
    county: Path | None = typer.Option(
        None,
        "--county",
        "-c",
        help="Generated county (labels from its truth); default <data dir>/demo-county.",
    ),
    source: str = typer.Option("files", "--source", help=SOURCE_HELP),
    activate: bool = typer.Option(
        True, "--activate/--no-activate", help="Make each risk's selected model the active version."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Train logistic and LightGBM models per risk (temporal split), register every version."""
    from childlink.cli.review import session_factory
    from childlink.risk.registry import Registry
    from childlink.risk.report import build_report, summary, write_report
    from childlink.risk.training import register_results, train_risks

    if source not in {"files", "db"}:
        raise typer.BadParameter("--source must be files or db")
    county_dir = _county(county)
    data = _data(county_dir, source)
    results = train_risks(data, progress=None if as_json else lambda m: console.print(f"… {m}"))
    with session_factory() as (settings, factory):
        registry = Registry(settings.data_dir, factory)
        versions = register_results(results, data, registry, activate=activate)
        for item in results:
            for kind, metrics in item.metrics.items():
                metrics["version"] = versions[item.risk.value][kind]
        active = {item.risk.value: versions[item.risk.value][item.selected] for item in results}
        report = build_report(results, data, active)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        json_path, html_path = write_report(report, settings.data_dir / "risk" / "reports" / stamp)
    result: dict[str, Any] = {
        "versions": versions,
        "report_json": str(json_path),
        "report_html": str(html_path),
        "summary": summary(report),
    }
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
        return
    _print_summary(result["summary"], f"risk train: test as of {report['split']['test']}")
    console.print(f"report: {html_path}")


@risk_app.command("evaluate")
def evaluate_command(
    county: Path | None = typer.Option(
        None,
        "--county",
        "-c",
        help="Generated county (labels from its truth); default <data dir>/demo-county.",
    ),
    source: str = typer.Option("files", "--source", help=SOURCE_HELP),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Report folder; default <data dir>/risk/reports/<time>."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Test the registered models on the county's last window; write the HTML + JSON report."""
    from childlink.cli.review import session_factory
    from childlink.risk.registry import Registry
    from childlink.risk.report import build_report, summary, write_report
    from childlink.risk.training import evaluate_registered

    if source not in {"files", "db"}:
        raise typer.BadParameter("--source must be files or db")
    county_dir = _county(county)
    data = _data(county_dir, source)
    with session_factory() as (settings, factory):
        registry = Registry(settings.data_dir, factory)
        results, active = evaluate_registered(data, registry)
        if not results:
            raise typer.BadParameter("no registered models; run `childlink risk train` first")
        report = build_report(results, data, active)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        folder = out or settings.data_dir / "risk" / "reports" / stamp
        json_path, html_path = write_report(report, folder)
    result = {
        "report_json": str(json_path),
        "report_html": str(html_path),
        "split": report["split"],
        "risks": summary(report),
    }
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
        return
    _print_summary(result["risks"], f"risk evaluate: test as of {report['split']['test']}")
    console.print(f"report: {html_path}")
