"""Measure clusters against the synthetic county's ground truth.

Each linked record's true person is the truth row (role subject or party) of the file, sheet
and row the record was first read from. Pairwise figures count pairs per group instead of
enumerating pairs: true positives are ``Σ C(n, 2)`` over (predicted cluster, true person)
groups, predicted pairs ``Σ C(n, 2)`` over clusters, true pairs ``Σ C(n, 2)`` over persons.
Per defect, the figures cover the pairs with at least one record carrying the defect: the
counts over all records minus the counts over the records without it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import polars as pl

from childlink.errors import ChildLinkError

TRUTH_FILE: Final = Path("truth") / "records.parquet"
_LINKED_ROLES: Final = ("subject", "party")


class TruthMissingError(ChildLinkError):
    """The directory holds no generator ground truth."""


@dataclass(frozen=True)
class PairCounts:
    true_positive: int
    predicted: int
    actual: int

    def minus(self, other: PairCounts) -> PairCounts:
        return PairCounts(
            self.true_positive - other.true_positive,
            self.predicted - other.predicted,
            self.actual - other.actual,
        )


@dataclass(frozen=True)
class Scores:
    """Pairwise precision/recall/F1 (and B-cubed when computed over every record)."""

    records: int
    true_pairs: int
    predicted_pairs: int
    true_positive_pairs: int
    precision: float
    recall: float
    f1: float
    bcubed_precision: float | None = None
    bcubed_recall: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 1.0


def _pairs(counts: pl.Expr) -> pl.Expr:
    return (counts * (counts - 1) // 2).sum()


def pair_counts(labelled: pl.DataFrame) -> PairCounts:
    """Pair counts of a frame with ``cluster`` and ``entity_id`` columns."""
    if labelled.is_empty():
        return PairCounts(0, 0, 0)
    both = labelled.group_by("cluster", "entity_id").len().select(_pairs(pl.col("len"))).item()
    predicted = labelled.group_by("cluster").len().select(_pairs(pl.col("len"))).item()
    actual = labelled.group_by("entity_id").len().select(_pairs(pl.col("len"))).item()
    return PairCounts(int(both), int(predicted), int(actual))


def _scores(counts: PairCounts, records: int) -> Scores:
    precision = _ratio(counts.true_positive, counts.predicted)
    recall = _ratio(counts.true_positive, counts.actual)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(
        records=records,
        true_pairs=counts.actual,
        predicted_pairs=counts.predicted,
        true_positive_pairs=counts.true_positive,
        precision=precision,
        recall=recall,
        f1=f1,
    )


def bcubed(labelled: pl.DataFrame) -> tuple[float, float]:
    """B-cubed precision and recall (mean over records)."""
    if labelled.is_empty():
        return 1.0, 1.0
    sized = labelled.with_columns(
        both=pl.len().over("cluster", "entity_id"),
        cluster_size=pl.len().over("cluster"),
        entity_size=pl.len().over("entity_id"),
    )
    row = sized.select(
        (pl.col("both") / pl.col("cluster_size")).mean().alias("p"),
        (pl.col("both") / pl.col("entity_size")).mean().alias("r"),
    ).row(0)
    return float(row[0]), float(row[1])


def load_truth(county_dir: Path) -> pl.DataFrame:
    """Truth rows of the linked roles: file name, sheet, row number, entity, defects."""
    path = county_dir / TRUTH_FILE
    if not path.is_file():
        raise TruthMissingError(f"no ground truth at {path}")
    return (
        pl.read_parquet(path)
        .filter(pl.col("role").is_in(_LINKED_ROLES))
        .select(
            pl.col("file").str.split("/").list.last().alias("file_name"),
            pl.col("sheet").fill_null(""),
            "row_number",
            "entity_id",
            pl.col("defects").fill_null(""),
        )
        .unique(["file_name", "sheet", "row_number"], keep="first")
    )


def label_records(records: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    """``records`` (rec_id, file_name, sheet, row_number, ...) with entity_id and defects."""
    return records.with_columns(pl.col("row_number").cast(pl.Int64)).join(
        truth.with_columns(pl.col("row_number").cast(pl.Int64)),
        on=["file_name", "sheet", "row_number"],
        how="inner",
    )


@dataclass(frozen=True)
class Evaluation:
    """Overall and per-defect scores of one model's clusters."""

    model: str
    overall: Scores
    by_defect: dict[str, Scores]
    pairs_compared: int
    seconds: float
    unmatched_records: int
    """Linked records without a truth row (should be 0)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            **self.overall.as_dict(),
            "pairs_compared": self.pairs_compared,
            "seconds": round(self.seconds, 2),
            "unmatched_records": self.unmatched_records,
            "by_defect": {name: s.as_dict() for name, s in sorted(self.by_defect.items())},
        }


def evaluate_clusters(
    records: pl.DataFrame,
    clusters: pl.DataFrame,
    truth: pl.DataFrame,
    *,
    model: str,
    pairs_compared: int = 0,
    seconds: float = 0.0,
) -> Evaluation:
    """Score ``clusters`` (rec_id, cluster) of ``records`` against ``truth``."""
    labelled = label_records(
        records.select("rec_id", "file_name", "sheet", "row_number").join(
            clusters.select("rec_id", "cluster"), on="rec_id"
        ),
        truth,
    ).with_columns(pl.col("defects").str.split(";").alias("defect_list"))
    all_counts = pair_counts(labelled)
    overall = _scores(all_counts, labelled.height)
    precision, recall = bcubed(labelled)
    overall = Scores(
        **{**overall.as_dict(), "bcubed_precision": precision, "bcubed_recall": recall}
    )
    defects = sorted(
        d for d in labelled["defect_list"].explode().drop_nulls().unique().to_list() if d
    )
    by_defect: dict[str, Scores] = {}
    for defect in defects:
        has = pl.col("defect_list").list.contains(defect)
        without = pair_counts(labelled.filter(~has))
        by_defect[defect] = _scores(all_counts.minus(without), labelled.filter(has).height)
    return Evaluation(
        model=model,
        overall=overall,
        by_defect=by_defect,
        pairs_compared=pairs_compared,
        seconds=seconds,
        unmatched_records=records.height - labelled.height,
    )
