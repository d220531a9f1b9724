"""``childlink link``: build the master child index and measure it against ground truth."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from childlink.cli.db import cli_settings
from childlink.cli.review import print_waterfall, session_factory
from childlink.households.evaluate import HouseholdScores, evaluate_households
from childlink.households.service import HouseholdResult, build_households
from childlink.linkage.engine import MODELS, link_records
from childlink.linkage.evaluate import Evaluation, evaluate_clusters, load_truth
from childlink.linkage.prepare import prepare_records
from childlink.linkage.review import default_reviewer, explain_pair, master_events, split_master
from childlink.linkage.service import link_county
from childlink.privacy.keys import FieldCipher, KeyStore
from childlink.risk.service import rescore_linked
from childlink.store.engine import build_engine, create_session_factory, database_errors

console = Console()


class EngineChoice(StrEnum):
    """``--engine`` values (:data:`childlink.linkage.engine.ENGINES`)."""

    DUCKDB = "duckdb"
    SPARK = "spark"


link_app = typer.Typer(
    name="link", help="Record linkage: the master child index.", no_args_is_help=True
)


@link_app.command("run")
def run(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    threshold: float | None = typer.Option(
        None, "--threshold", min=0.5, max=1.0, help="Match probability to link automatically."
    ),
    lower_threshold: float | None = typer.Option(
        None,
        "--review-threshold",
        min=0.0,
        max=1.0,
        help="Pairs from this probability up to --threshold go to the review queue (0.80).",
    ),
    engine_name: EngineChoice = typer.Option(
        EngineChoice.DUCKDB,
        "--engine",
        help="Splink backend: duckdb (embedded) or spark (local Spark, needs Java 17+).",
    ),
    incremental: bool = typer.Option(
        False,
        "--incremental",
        help="Link only records without a master child, with the last run's model; "
        "existing children keep their records and identifiers.",
    ),
) -> None:
    """Link every child record and write master children (identifiers stay stable)."""
    settings = cli_settings()
    engine = build_engine(settings)
    try:
        with database_errors(settings.effective_database_url):
            factory = create_session_factory(engine)
            result = link_county(
                factory,
                data_dir=settings.data_dir,
                engine="spark" if engine_name is EngineChoice.SPARK else "duckdb",
                threshold=threshold,
                lower_threshold=lower_threshold,
                incremental=incremental,
            )
            # Only the children this run created or changed are re-scored (no model yet: none).
            rescored = rescore_linked(
                factory,
                settings.data_dir,
                result.run_id,
                cipher=FieldCipher(KeyStore.from_settings(settings)),
            )
    finally:
        engine.dispose()
    if as_json:
        typer.echo(
            json.dumps(
                result.as_dict() | {"rescored_children": 0 if rescored is None else rescored},
                ensure_ascii=False,
            )
        )
        return
    table = Table(title="Linkage run")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in result.as_dict().items():
        table.add_row(key, f"{value:,}" if isinstance(value, int) else str(value))
    console.print(table)
    if rescored is not None:
        console.print(f"{rescored:,} children re-scored with the active risk models")


@link_app.command("evaluate")
def evaluate(
    truth: Path = typer.Option(
        ..., "--truth", exists=True, file_okay=False, help="Generated county directory."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    baseline: bool = typer.Option(
        True, "--baseline/--no-baseline", help="Also run Splink's out-of-the-box settings."
    ),
) -> None:
    """Link in memory (nothing written) and score ChildLink and Splink defaults against truth."""
    settings = cli_settings()
    truth_rows = load_truth(truth)
    engine = build_engine(settings)
    try:
        with (
            database_errors(settings.effective_database_url),
            create_session_factory(engine)() as s,
        ):
            frame = prepare_records(s)
    finally:
        engine.dispose()
    results: list[Evaluation] = []
    for model in MODELS if baseline else MODELS[:1]:
        output = link_records(frame, model=model)
        results.append(
            evaluate_clusters(
                frame,
                output.clusters,
                truth_rows,
                model=model,
                pairs_compared=output.pairs_compared,
                seconds=output.seconds,
            )
        )
    if as_json:
        main = results[0].as_dict()
        document = {**main, "models": {r.model: r.as_dict() for r in results}}
        typer.echo(json.dumps(document, ensure_ascii=False))
        return
    print_evaluation(results)


def print_evaluation(results: list[Evaluation]) -> None:
    """Pairwise and B-cubed scores per model, then precision/recall by defect."""
    table = Table(title="Linkage against ground truth (pairwise and B-cubed)")
    table.add_column("model")
    for column in ("precision", "recall", "F1", "B³ P", "B³ R", "pairs compared", "seconds"):
        table.add_column(column, justify="right")
    for result in results:
        o = result.overall
        table.add_row(
            result.model,
            f"{o.precision:.4f}",
            f"{o.recall:.4f}",
            f"{o.f1:.4f}",
            f"{o.bcubed_precision or 0:.4f}",
            f"{o.bcubed_recall or 0:.4f}",
            f"{result.pairs_compared:,}",
            f"{result.seconds:.1f}",
        )
    console.print(table)
    by_defect = Table(title="By defect of the records involved (precision / recall)")
    by_defect.add_column("defect")
    by_defect.add_column("records", justify="right")
    for result in results:
        by_defect.add_column(result.model, justify="right")
    for defect, scores in results[0].by_defect.items():
        cells = [
            f"{r.by_defect[defect].precision:.3f} / {r.by_defect[defect].recall:.3f}"
            if defect in r.by_defect
            else "-"
            for r in results
        ]
        by_defect.add_row(defect, f"{scores.records:,}", *cells)
    console.print(by_defect)


@link_app.command("households")
def households(
    truth: Path | None = typer.Option(
        None,
        "--truth",
        exists=True,
        file_okay=False,
        help="Generated county directory: also score sibling pairs against its truth.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Build or refresh families: link guardians and siblings of the master children.

    Run after `childlink link run`. Family ids stay stable across runs.
    """
    with session_factory() as (_settings, factory):
        result = build_households(factory)
        scores = None
        if truth is not None:
            with factory() as session:
                scores = evaluate_households(session, truth)
    if as_json:
        document: dict[str, object] = result.as_dict()
        if scores is not None:
            document["evaluation"] = scores.as_dict()
        typer.echo(json.dumps(document, ensure_ascii=False))
        return
    print_households(result, scores)


def print_households(result: HouseholdResult, scores: HouseholdScores | None) -> None:
    """Counts of a household rebuild and, when measured, its sibling-pair scores."""
    console.print(
        f"{result.children:,} children in {result.families:,} families "
        f"({result.multi_child_families:,} with siblings, {result.sibling_pairs:,} sibling "
        f"pairs, {result.guardians:,} guardians); {result.families_created:,} families new, "
        f"{result.families_kept:,} kept, {result.families_dissolved:,} dissolved "
        f"in {result.seconds:.1f} s"
    )
    rules = ", ".join(f"{rule} {count:,}" for rule, count in result.edges_by_rule.items())
    console.print(f"pairs linked by rule: {rules or 'none'}")
    if scores is None:
        return
    table = Table(title="Sibling pairs against ground truth")
    for column in ("precision", "recall", "F1", "true pairs", "found", "guardian recall"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{scores.precision:.4f}",
        f"{scores.recall:.4f}",
        f"{scores.f1:.4f}",
        f"{scores.true_pairs:,}",
        f"{scores.true_positive_pairs:,}",
        f"{scores.guardian_recall:.4f}",
    )
    console.print(table)
    console.print(
        f"pairs of two different children ({scores.sibling_pairs:,}): precision "
        f"{scores.sibling_precision:.4f}, recall {scores.sibling_recall:.4f}; twins in one "
        f"family: {scores.twin_pairs_found:,} of {scores.twin_pairs:,}"
    )


@link_app.command("explain")
def explain(
    record_a: str = typer.Argument(..., help="Source record id."),
    record_b: str = typer.Argument(..., help="Source record id."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Why two records link or not: each comparison's match weight under the latest model."""
    with session_factory() as (settings, factory):
        result = explain_pair(factory, settings.data_dir, record_a, record_b)
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, default=str))
        return
    left, right = result["records"]
    console.print(
        f"{left.get('name')} ({left['id']}) vs {right.get('name')} ({right['id']}); "
        f"same master: {result['same_master']}"
    )
    if result["twins_rule"]:
        console.print("twins rule: same birth date and guardian, different given names")
    if result["decision"]:
        d = result["decision"]
        console.print(f"reviewer decision: {d['kind']} by {d['reviewer']} ({d['reason'] or ''})")
    if result["review"]:
        r = result["review"]
        console.print(f"review {r['id']}: {r['status']} {r['rule'] or r['reviewer'] or ''}")
    print_waterfall(result["waterfall"])
    console.print(f"model: {result['model_path']}")


@link_app.command("split")
def split(
    master_id: str = typer.Argument(..., help="Master child to split."),
    records: str = typer.Option(
        ..., "--records", help="Comma-separated source record ids to move to a new master."
    ),
    note: str | None = typer.Option(None, "--note", help="Why (kept with the decisions)."),
    reviewer: str | None = typer.Option(None, "--reviewer", help="Default: the OS user."),
) -> None:
    """Undo a wrong merge: move records to a new master; later runs keep them apart."""
    with session_factory() as (_settings, factory):
        result = split_master(
            factory,
            master_id,
            records.split(","),
            reviewer=reviewer or default_reviewer(),
            note=note,
        )
    typer.echo(json.dumps(result, ensure_ascii=False))


@link_app.command("history")
def history(
    master_id: str = typer.Argument(..., help="Master child id."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON array."),
) -> None:
    """Every change to a master child: created, records added/removed, merged, split."""
    with session_factory() as (_settings, factory):
        events = master_events(factory, master_id)
    if as_json:
        typer.echo(json.dumps(events, ensure_ascii=False))
        return
    table = Table(title=f"Master child {master_id}")
    for column in ("at", "kind", "actor", "details"):
        table.add_column(column)
    for event in events:
        table.add_row(
            event["at"],
            event["kind"],
            event["actor"],
            json.dumps(event["details"], ensure_ascii=False)[:120],
        )
    console.print(table)
