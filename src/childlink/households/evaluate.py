"""Measure the stored families against the synthetic county's household truth.

Each active master child gets the true child that most of its records belong to (the truth row
of the file, sheet and row each record was read from) and that child's true household. A
sibling pair is two master children in the same stored family; it is right when both true
children share a household. Pairwise figures count pairs per group, as linkage's do: true
positives ``Σ C(n, 2)`` over (family, true household) groups. Master children without a family
count as families of one. Guardian recall is the share of master children in a family whose
true caring guardian (ID number, else name) is among the family's guardians.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from childlink.children.choices import ChildStatus
from childlink.children.models import Family, FamilyMembership, Guardian, MasterChild
from childlink.linkage.evaluate import TruthMissingError, label_records, load_truth
from childlink.sources.models import IngestBatch, SourceRecord

CHILDREN_FILE: Final = Path("truth") / "children.parquet"
ADULTS_FILE: Final = Path("truth") / "adults.parquet"


@dataclass(frozen=True)
class HouseholdScores:
    """Sibling-pair precision/recall/F1 and guardian recall of the stored families."""

    children: int
    true_pairs: int
    predicted_pairs: int
    true_positive_pairs: int
    precision: float
    recall: float
    f1: float
    guardian_recall: float
    twin_pairs: int
    twin_pairs_found: int
    sibling_precision: float
    """Precision over pairs of two different true children (a child that linkage left split
    over two masters is not a sibling pair)."""
    sibling_recall: float
    sibling_pairs: int
    """True pairs of two different children (the denominator of ``sibling_recall``)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pairs(column: str) -> pl.Expr:
    return (pl.col(column) * (pl.col(column) - 1) // 2).sum()


def _text(rows: Any, names: list[str]) -> pl.DataFrame:
    data = [tuple(None if v is None else str(v) for v in row) for row in rows]
    return pl.DataFrame(data, schema=dict.fromkeys(names, pl.String), orient="row")


def true_children(session: Session, county_dir: Path) -> pl.DataFrame:
    """``master_child_id`` → ``entity_id`` (majority of its records) and ``household_id``."""
    path = county_dir / CHILDREN_FILE
    if not path.is_file():
        raise TruthMissingError(f"no ground truth at {path}")
    rows = session.execute(
        sa.select(
            sa.type_coerce(SourceRecord.id, sa.String),
            IngestBatch.file_name,
            SourceRecord.sheet,
            SourceRecord.row_number,
            sa.type_coerce(SourceRecord.master_child_id, sa.String),
        )
        .join(IngestBatch, IngestBatch.id == SourceRecord.batch_id)
        .join(MasterChild, MasterChild.id == SourceRecord.master_child_id)
        .where(MasterChild.status == ChildStatus.ACTIVE)
    )
    records = _text(rows, ["rec_id", "file_name", "sheet", "row_number", "master_child_id"])
    records = records.with_columns(pl.col("row_number").cast(pl.Int64))
    labelled = label_records(records, load_truth(county_dir))
    kids = pl.read_parquet(path).select(
        pl.col("child_id").alias("entity_id"), "household_id", "guardian_id", "twin_of"
    )
    return (
        labelled.group_by("master_child_id", "entity_id")
        .len()
        .sort(["len", "entity_id"], descending=[True, False])
        .unique("master_child_id", keep="first", maintain_order=True)
        .join(kids, on="entity_id")
        .select("master_child_id", "entity_id", "household_id", "guardian_id", "twin_of")
    )


def evaluate_households(session: Session, county_dir: Path) -> HouseholdScores:
    """Score the stored families of ``session``'s database against ``county_dir``'s truth."""
    truth = true_children(session, county_dir)
    families = _text(
        session.execute(
            sa.select(FamilyMembership.master_child_id, FamilyMembership.family_id)
            .join(Family, Family.id == FamilyMembership.family_id)
            .where(Family.dissolved_at.is_(None))
        ),
        ["master_child_id", "family_id"],
    ).unique("master_child_id", keep="first")
    labelled = truth.join(families, on="master_child_id", how="left").with_columns(
        family_id=pl.coalesce("family_id", "master_child_id")
    )
    tp = int(labelled.group_by("family_id", "household_id").len().select(_pairs("len")).item())
    predicted = int(labelled.group_by("family_id").len().select(_pairs("len")).item())
    actual = int(labelled.group_by("household_id").len().select(_pairs("len")).item())
    precision = tp / predicted if predicted else 1.0
    recall = tp / actual if actual else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    # Pairs of masters of one true child: always the same household, found when in one family.
    same_found = int(labelled.group_by("family_id", "entity_id").len().select(_pairs("len")).item())
    same_all = int(labelled.group_by("entity_id").len().select(_pairs("len")).item())
    sibling_predicted = predicted - same_found
    sibling_actual = actual - same_all

    twins = labelled.filter(pl.col("twin_of").is_not_null()).join(
        labelled.select(
            pl.col("entity_id").alias("twin_of"), pl.col("family_id").alias("twin_family")
        ),
        on="twin_of",
    )
    return HouseholdScores(
        children=labelled.height,
        true_pairs=actual,
        predicted_pairs=predicted,
        true_positive_pairs=tp,
        precision=precision,
        recall=recall,
        f1=f1,
        guardian_recall=_guardian_recall(session, county_dir, truth, families),
        twin_pairs=twins.height,
        twin_pairs_found=twins.filter(pl.col("family_id") == pl.col("twin_family")).height,
        sibling_precision=(tp - same_found) / sibling_predicted if sibling_predicted else 1.0,
        sibling_recall=(tp - same_found) / sibling_actual if sibling_actual else 1.0,
        sibling_pairs=sibling_actual,
    )


def _guardian_recall(
    session: Session, county_dir: Path, truth: pl.DataFrame, families: pl.DataFrame
) -> float:
    adults = pl.read_parquet(county_dir / ADULTS_FILE).select(
        pl.col("person_id").alias("guardian_id"),
        pl.col("name").alias("true_name"),
        pl.col("id_number").alias("true_id"),
    )
    stored = _text(
        session.execute(sa.select(Guardian.family_id, Guardian.name, Guardian.id_number)),
        ["family_id", "name", "id_number"],
    )
    placed = truth.join(families, on="master_child_id").join(adults, on="guardian_id")
    if placed.is_empty():
        return 1.0
    found = (
        placed.join(stored, on="family_id")
        .filter(
            (pl.col("id_number") == pl.col("true_id")).fill_null(False)
            | (pl.col("name") == pl.col("true_name")).fill_null(False)
        )["master_child_id"]
        .n_unique()
    )
    return found / placed["master_child_id"].n_unique()
