"""Outcome labels and subgroup facts from a generated county's ground truth.

The generator keeps, per child, outcome and six-month window, the true probability of the
outcome and whether it happened (``truth/outcomes.parquet``). A model scored as of the first day
of a window is judged on that window's outcomes, and its AUC is compared with the ceiling the
true probabilities reach on the same children. In a county loaded into the database, the truth
child is mapped to the master child most of its linked records went to.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Final

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from childlink.errors import ChildLinkError
from childlink.linkage.evaluate import label_records, load_truth
from childlink.risk.choices import RiskType

#: The generator's outcome name for each monitored risk.
OUTCOME_OF: Final[dict[RiskType, str]] = {
    RiskType.DROPOUT: "dropout",
    RiskType.MALTREATMENT: "maltreatment",
    RiskType.MENTAL_HEALTH: "mental_health_crisis",
}
#: Subgroups the evaluation reports on (fairness audit).
SUBGROUPS: Final[tuple[str, ...]] = ("sex", "left_behind", "migrant", "minority", "township")


class LabelWindowError(ChildLinkError):
    """The scoring date is not the start of one of the county's outcome windows."""


def outcome_windows(county_dir: Path) -> list[dt.date]:
    """The first days of the county's outcome windows, in order."""
    outcomes = pl.read_parquet(county_dir / "truth" / "outcomes.parquet", columns=["window_start"])
    return sorted(outcomes["window_start"].unique().to_list())


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.month - 1 + months
    return dt.date(day.year + index // 12, index % 12 + 1, 1)


def labels_from_county(county_dir: Path, as_of: dt.date, horizon_months: int = 6) -> pl.DataFrame:
    """Per truth child, ``y_<risk>`` (0/1, null when not at risk) and ``p_<risk>`` (true prob.).

    Args:
        county_dir: a folder written by ``generate_county``.
        as_of: the scoring date; must be the first day of one of the outcome windows.
        horizon_months: the window length (the generator's windows are six months).

    Returns:
        One row per child of ``truth/children.parquet``: ``master_child_id`` (the truth child
        id) and, per risk, ``y_<risk>`` (Int8) and ``p_<risk>`` (Float64); nulls where the child
        was not at risk in the window (for example too young for dropout).
    """
    outcomes = pl.read_parquet(county_dir / "truth" / "outcomes.parquet")
    window = outcomes.filter(
        (pl.col("window_start") == as_of)
        & (pl.col("window_end") == _add_months(as_of, horizon_months))
    )
    if window.is_empty():
        raise LabelWindowError(
            f"no {horizon_months}-month outcome window starts on {as_of}; "
            f"windows start on {', '.join(str(d) for d in outcome_windows(county_dir))}"
        )
    children = pl.read_parquet(county_dir / "truth" / "children.parquet", columns=["child_id"])
    frame = children.rename({"child_id": "master_child_id"})
    for risk, outcome in OUTCOME_OF.items():
        part = window.filter(pl.col("outcome") == outcome).select(
            pl.col("child_id").alias("master_child_id"),
            pl.col("occurred").cast(pl.Int8).alias(f"y_{risk.value}"),
            pl.col("true_probability").cast(pl.Float64).alias(f"p_{risk.value}"),
        )
        frame = frame.join(part, on="master_child_id", how="left")
    return frame


def snapshot_labels(county_dir: Path, as_of: dt.date, horizon_months: int = 6) -> pl.DataFrame:
    """Labels for any first-of-month ``as_of``: did the outcome first happen in the next months.

    For a window start this is :func:`labels_from_county`. Otherwise the label is pieced together
    from the (at most two) outcome windows the ``horizon_months`` after ``as_of`` overlap:
    ``y_<risk>`` is 1 when an outcome's ``first_month`` falls in ``[as_of, as_of + horizon)``,
    null when the child was at risk in neither window; ``p_<risk>`` is null (the true
    probability of a shifted window is not stored). Used only to stack training snapshots.
    """
    if as_of in outcome_windows(county_dir):
        return labels_from_county(county_dir, as_of, horizon_months)
    end = _add_months(as_of, horizon_months)
    outcomes = pl.read_parquet(
        county_dir / "truth" / "outcomes.parquet",
        columns=["child_id", "outcome", "window_start", "window_end", "occurred", "first_month"],
    ).filter((pl.col("window_start") < end) & (pl.col("window_end") > as_of))
    children = pl.read_parquet(county_dir / "truth" / "children.parquet", columns=["child_id"])
    frame = children.rename({"child_id": "master_child_id"})
    for risk, outcome in OUTCOME_OF.items():
        hit = pl.col("occurred") & (pl.col("first_month") >= as_of) & (pl.col("first_month") < end)
        part = (
            outcomes.filter(pl.col("outcome") == outcome)
            .group_by("child_id")
            .agg(hit.fill_null(False).any().cast(pl.Int8).alias(f"y_{risk.value}"))
            .select(
                pl.col("child_id").alias("master_child_id"),
                f"y_{risk.value}",
                pl.lit(None, dtype=pl.Float64).alias(f"p_{risk.value}"),
            )
        )
        frame = frame.join(part, on="master_child_id", how="left")
    return frame


def subgroups_from_county(county_dir: Path) -> pl.DataFrame:
    """Per truth child, the subgroup columns of the fairness audit (:data:`SUBGROUPS`).

    ``township`` is the first nine digits of the household's village code.
    """
    children = pl.read_parquet(
        county_dir / "truth" / "children.parquet",
        columns=["child_id", "household_id", "sex", "left_behind", "migrant", "minority"],
    )
    households = pl.read_parquet(
        county_dir / "truth" / "households.parquet", columns=["household_id", "village_code"]
    )
    return children.join(households, on="household_id", how="left").select(
        pl.col("child_id").alias("master_child_id"),
        "sex",
        pl.col("left_behind").cast(pl.String),
        pl.col("migrant").cast(pl.String),
        pl.col("minority").cast(pl.String),
        pl.col("village_code").str.slice(0, 9).alias("township"),
    )


def _records_sql() -> sa.TextClause:
    return sa.text(
        "SELECT b.file_name AS file_name, r.sheet AS sheet, r.row_number AS row_number, "
        "r.master_child_id AS master_child_id "
        "FROM source_records r JOIN ingest_batches b ON b.id = r.batch_id "
        "WHERE r.master_child_id IS NOT NULL"
    )


def map_truth_to_masters(session: Session, county_dir: Path) -> pl.DataFrame:
    """``child_id`` (truth) → ``master_child_id`` (str): the master most of its records went to.

    Ties go to the smallest master id, so the mapping is deterministic.
    """
    rows = session.execute(_records_sql()).all()
    records = pl.DataFrame(
        [(r.file_name, r.sheet or "", int(r.row_number), str(r.master_child_id)) for r in rows],
        schema={
            "file_name": pl.String,
            "sheet": pl.String,
            "row_number": pl.Int64,
            "master_child_id": pl.String,
        },
        orient="row",
    ).with_columns(pl.col("file_name").str.split("/").list.last())
    labelled = label_records(records, load_truth(county_dir)).filter(
        pl.col("entity_id").str.starts_with("C")
    )
    return (
        labelled.group_by("entity_id", "master_child_id")
        .len()
        .sort(["entity_id", "len", "master_child_id"], descending=[False, True, False])
        .unique("entity_id", keep="first", maintain_order=True)
        .select(pl.col("entity_id").alias("child_id"), "master_child_id")
    )


def relabel_to_masters(frame: pl.DataFrame, mapping: pl.DataFrame) -> pl.DataFrame:
    """A truth-keyed frame (``master_child_id`` = truth id) re-keyed to database master ids.

    Children without a master are dropped; when two truth children share a master, the first
    one (by truth id) is kept.
    """
    return (
        frame.rename({"master_child_id": "child_id"})
        .join(mapping, on="child_id", how="inner")
        .drop("child_id")
        .sort("master_child_id")
        .unique("master_child_id", keep="first", maintain_order=True)
        .select("master_child_id", pl.exclude("master_child_id"))
    )
