"""``childlink review``: the clerical review queue of linkage (list, show, accept, reject)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from childlink.cli.db import cli_settings
from childlink.config import Settings
from childlink.linkage.choices import ReviewStatus
from childlink.linkage.review import (
    accept_review,
    count_reviews,
    default_reviewer,
    get_review,
    list_reviews,
    reject_review,
)
from childlink.store.engine import build_engine, create_session_factory, database_errors

console = Console()

review_app = typer.Typer(
    name="review",
    help="Clerical review of record pairs between the linkage thresholds.",
    no_args_is_help=True,
)


@contextmanager
def session_factory() -> Iterator[tuple[Settings, sessionmaker[Session]]]:
    """Settings and a session factory on the configured database (disposed afterwards)."""
    settings = cli_settings()
    engine = build_engine(settings)
    try:
        with database_errors(settings.effective_database_url):
            yield settings, create_session_factory(engine)
    finally:
        engine.dispose()


def print_waterfall(document: dict[str, Any], title: str = "Match weights (waterfall)") -> None:
    """Prior, each comparison's level and match weight, and the final weight."""
    table = Table(title=title)
    for column in ("comparison", "level", "left", "right", "weight", "Bayes factor"):
        table.add_column(
            column, justify="right" if column in {"weight", "Bayes factor"} else "left"
        )
    prior = float(document.get("prior_match_weight", 0.0))
    table.add_row("prior", "two random records match", "", "", f"{prior:+.2f}", f"{2**prior:.3g}")
    for item in document.get("comparisons", []):
        weight = float(item["match_weight"])
        level = str(item.get("level"))
        if item.get("tf_adjustment"):
            level += f" (term frequency {float(item['tf_adjustment']):+.2f})"
        table.add_row(
            str(item["comparison"]),
            level,
            "" if item.get("value_l") is None else str(item["value_l"]),
            "" if item.get("value_r") is None else str(item["value_r"]),
            f"{weight:+.2f}",
            f"{float(item['bayes_factor']):.3g}",
        )
    total = float(document.get("match_weight", 0.0))
    probability = float(document.get("match_probability", 0.0))
    table.add_row("total", f"match probability {probability:.4f}", "", "", f"{total:+.2f}", "")
    console.print(table)


def _reviewer(value: str | None) -> str:
    return value or default_reviewer()


@review_app.command("list")
def list_command(
    status: ReviewStatus | None = typer.Option(
        ReviewStatus.PENDING, "--status", help="pending, accepted, rejected or superseded."
    ),
    all_statuses: bool = typer.Option(False, "--all", help="Every status."),
    limit: int = typer.Option(100, "--limit", min=1, help="At most this many rows."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Review rows (pending by default), most probable first."""
    with session_factory() as (_settings, factory):
        items = list_reviews(factory, status=None if all_statuses else status, limit=limit)
        counts = count_reviews(factory)
    if as_json:
        document = {
            "counts": counts,
            "items": [item.as_dict(with_waterfall=False) for item in items],
        }
        typer.echo(json.dumps(document, ensure_ascii=False))
        return
    table = Table(
        title=f"Review queue ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))})"
    )
    for column in ("id", "status", "p", "left", "right"):
        table.add_column(column)
    for item in items:
        table.add_row(
            item.id,
            item.status + (f" ({item.rule})" if item.rule else ""),
            f"{item.match_probability:.3f}",
            _describe(item.left),
            _describe(item.right),
        )
    console.print(table)


def _describe(record: dict[str, Any]) -> str:
    parts = [record.get("name"), record.get("birth_date"), record.get("id_number")]
    return " ".join(str(part) for part in parts if part) or str(record.get("id"))


@review_app.command("show")
def show(
    review_id: str = typer.Argument(..., help="Review id."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """One review: the two records, the decision so far and the waterfall."""
    with session_factory() as (_settings, factory):
        item = get_review(factory, review_id)
    if as_json:
        typer.echo(json.dumps(item.as_dict(), ensure_ascii=False))
        return
    table = Table(
        title=f"Review {item.id}: {item.status}" + (f" by rule {item.rule}" if item.rule else "")
    )
    table.add_column("field")
    table.add_column("left")
    table.add_column("right")
    for key in ("id", "name", "sex", "birth_date", "id_number", "region_code", "master_child_id"):
        table.add_row(key, str(item.left.get(key) or ""), str(item.right.get(key) or ""))
    console.print(table)
    if item.reviewer:
        console.print(f"decided by {item.reviewer} at {item.decided_at}: {item.note or ''}")
    print_waterfall(item.waterfall)


def _decide(
    action: Callable[..., dict[str, Any]], review_id: str, reviewer: str | None, note: str | None
) -> None:
    with session_factory() as (_settings, factory):
        result = action(factory, review_id, reviewer=_reviewer(reviewer), note=note)
    typer.echo(json.dumps(result, ensure_ascii=False))


@review_app.command("accept")
def accept(
    review_id: str = typer.Argument(..., help="Review id."),
    note: str | None = typer.Option(None, "--note", help="Why (kept with the decision)."),
    reviewer: str | None = typer.Option(None, "--reviewer", help="Default: the OS user."),
) -> None:
    """The two records are one child: merge their masters now and in every later run."""
    _decide(accept_review, review_id, reviewer, note)


@review_app.command("reject")
def reject(
    review_id: str = typer.Argument(..., help="Review id."),
    note: str | None = typer.Option(None, "--note", help="Why (kept with the decision)."),
    reviewer: str | None = typer.Option(None, "--reviewer", help="Default: the OS user."),
) -> None:
    """The two records are different children: no later run merges them."""
    _decide(reject_review, review_id, reviewer, note)
