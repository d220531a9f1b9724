"""Score ingestion against the synthetic county's ground truth, defect by defect.

For every export row the generator recorded which defects it injected; ingestion recorded, per
row, its state, quarantine reason, flags and fixes. A defect counts as *handled* when the row
carries the signal that defect should leave (a fix rule, a flag, a quarantine reason, a
collapsed duplicate). Some defects leave no trace a single source can see (a homophone is a
valid name; a wrong birth date cannot be caught without an ID number): those rows are reported
as *undetectable at ingest* rather than silently counted as handled or missed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from childlink.sources.choices import BatchStatus
from childlink.sources.models import (
    IngestBatch,
    RecordFix,
    RecordProvenance,
    SourceRecord,
)

#: Signals that show a defect was handled, for the person fields of the row's subject (``{p}``
#: is empty) or guardian (``{p}`` is ``guardian_``): ``fix:<field>:<rule>`` a fix on the record,
#: ``flag:<field>:<issue>`` a flag, ``reason:<code>`` the quarantine reason, ``duplicate`` a row
#: collapsed into an earlier identical row, ``null:<field>`` the value is absent.
EXPECTED_SIGNALS: dict[str, tuple[str, ...]] = {
    "name_traditional": ("fix:{p}name:name_traditional_to_simplified",),
    "name_space": ("fix:{p}name:name_whitespace", "fix:{p}name:trimmed"),
    "middle_dot_variant": ("fix:{p}name:name_middle_dot_unified",),
    "id_missing": ("null:{p}id_number", "fix:{p}id_number:id_from_student_number"),
    "id_legacy15": ("fix:{p}id_number:id_upgraded_15",),
    "id_wrong_check": (
        "flag:{p}id_number:id_bad_check",
        "flag:{p}id_number:id_impossible_date",
        "fix:{p}id_number:id_from_student_number",
    ),
    # A lower-case x or full-width digits in a number that is wrong anyway: caught by the check.
    "id_lowercase_x": (
        "fix:{p}id_number:id_lowercase_x",
        "flag:{p}id_number:id_bad_check",
        "flag:{p}id_number:id_impossible_date",
    ),
    "id_fullwidth": (
        "fix:{p}id_number:fullwidth_to_halfwidth",
        "flag:{p}id_number:id_bad_check",
        "flag:{p}id_number:id_impossible_date",
    ),
    "dob_swapped_day_month": ("fix:birth_date:dob_day_month_swapped",),
    # A birth date in the future is dropped (and taken from the ID number) before comparison.
    "dob_wrong": ("reason:dob_contradicts_id", "flag:birth_date:date_out_of_range"),
    "sex_contradiction": ("reason:sex_contradicts_id",),
    "duplicate_row": ("duplicate",),
    "newborn_placeholder": ("flag:name:placeholder_newborn",),
}
EXPECTED_SIGNALS["id_digit_typo"] = EXPECTED_SIGNALS["id_wrong_check"]
EXPECTED_SIGNALS["id_transposition"] = EXPECTED_SIGNALS["id_wrong_check"]
#: Defects no single-source check can see: a homophone is a valid name (linkage's job).
NOT_DETECTABLE_AT_INGEST = {"name_homophone"}
#: Consistency defects can only be seen when the row has a valid ID number to compare with and
#: states the value (a blank or absent column shows nothing).
NEEDS_ID = {
    "dob_wrong": "birth_date",
    "sex_contradiction": "sex",
    "dob_swapped_day_month": "birth_date",
}


@dataclass(frozen=True)
class DefectScore:
    """How ingestion treated the rows that carried one kind of injected defect."""

    defect: str
    rows: int
    handled: int
    """Fixed, flagged or quarantined with the reason this defect should cause."""
    quarantined_other: int
    """Quarantined for another reason first: held for review, not silently accepted."""
    undetectable: int
    """No trace in the row that any single-source check could see."""

    @property
    def missed(self) -> int:
        return self.rows - self.handled - self.quarantined_other - self.undetectable

    @property
    def detection_rate(self) -> float | None:
        """Handled or held, among the rows where the defect was detectable."""
        detectable = self.rows - self.undetectable
        if not detectable:
            return None
        return (self.handled + self.quarantined_other) / detectable


def load_row_outcomes(session: Session) -> pl.DataFrame:
    """Per input row of committed batches: state, reason and ``kind:field:value`` signals."""
    rows = session.execute(
        sa.select(
            IngestBatch.file_name,
            RecordProvenance.sheet,
            RecordProvenance.row_number,
            SourceRecord.sheet.label("record_sheet"),
            SourceRecord.row_number.label("record_row"),
            SourceRecord.status,
            SourceRecord.quarantine_reason,
            SourceRecord.flags,
            SourceRecord.id_number,
            SourceRecord.name,
            SourceRecord.birth_date,
            SourceRecord.sex,
            SourceRecord.attributes,
            SourceRecord.id,
        )
        .join(RecordProvenance, RecordProvenance.record_id == SourceRecord.id)
        .join(IngestBatch, IngestBatch.id == RecordProvenance.batch_id)
        .where(IngestBatch.status == BatchStatus.COMMITTED)
    ).all()
    frame = pl.DataFrame(
        [
            {
                "file_name": r.file_name,
                "sheet": r.sheet,
                "row_number": r.row_number,
                "duplicate": (r.sheet, r.row_number) != (r.record_sheet, r.record_row),
                "quarantined": str(r.status) == "quarantined",
                "reason": r.quarantine_reason,
                "signals": [f"flag:{f}" for f in (r.flags or [])]
                + ([f"reason:{r.quarantine_reason}"] if r.quarantine_reason else [])
                + (
                    ["duplicate"]
                    if (r.sheet, r.row_number) != (r.record_sheet, r.record_row)
                    else []
                )
                + ([] if r.id_number else ["null:id_number"])
                + (
                    []
                    if (r.attributes or {}).get("guardian_id_number")
                    else ["null:guardian_id_number"]
                ),
                "id_present": r.id_number is not None,
                "name": r.name,
                "birth_date_present": r.birth_date is not None,
                "sex_present": r.sex is not None,
                "record_id": str(r.id),
            }
            for r in rows
        ],
        schema_overrides={"reason": pl.String, "signals": pl.List(pl.String)},
    )
    fixes = session.execute(sa.select(RecordFix.record_id, RecordFix.field, RecordFix.rule)).all()
    fix_frame = pl.DataFrame(
        {
            "record_id": [str(f.record_id) for f in fixes],
            "signal": [f"fix:{f.field}:{f.rule}" for f in fixes],
        },
        schema={"record_id": pl.String, "signal": pl.String},
    )
    fix_signals = fix_frame.group_by("record_id").agg(pl.col("signal").alias("fix_signals"))
    return (
        frame.join(fix_signals, on="record_id", how="left")
        .with_columns(
            signals=pl.concat_list(
                "signals", pl.col("fix_signals").fill_null(pl.lit([], dtype=pl.List(pl.String)))
            )
        )
        .drop("fix_signals")
    )


def score_against_truth(session: Session, county_dir: Path) -> list[DefectScore]:
    """Per-defect detection rates of the ingested county in ``county_dir``."""
    truth = pl.read_parquet(county_dir / "truth" / "records.parquet")
    defects = (
        truth.filter(pl.col("role").is_in(["subject", "party", "guardian"]))
        .with_columns(
            file_name=pl.col("file").str.split("/").list.last(),
            sheet=pl.col("sheet").fill_null(""),
            prefix=pl.when(pl.col("role") == "guardian")
            .then(pl.lit("guardian_"))
            .otherwise(pl.lit("")),
            defect=pl.col("defects").str.split(";"),
        )
        .explode("defect")
        .filter(pl.col("defect").is_not_null() & (pl.col("defect") != ""))
        .select("file_name", "sheet", "row_number", "prefix", "defect")
        .unique()
    )
    outcomes = load_row_outcomes(session)
    joined = defects.join(outcomes, on=["file_name", "sheet", "row_number"], how="left")
    scores = []
    for (name,), group in joined.group_by("defect"):
        defect = str(name)
        if defect.startswith("missing_"):
            scores.append(DefectScore(defect, group.height, group.height, 0, 0))
            continue
        if defect not in EXPECTED_SIGNALS:
            undetectable = group.height if defect in NOT_DETECTABLE_AT_INGEST else 0
            scores.append(DefectScore(defect, group.height, 0, 0, undetectable))
            continue
        templates = EXPECTED_SIGNALS[defect]
        expected = pl.concat_list(
            [
                pl.format(t.replace("{p}", "{}"), pl.col("prefix")) if "{p}" in t else pl.lit(t)
                for t in templates
            ]
        )
        marked = group.with_columns(
            handled=pl.col("signals").list.set_intersection(expected).list.len() > 0
        )
        handled = marked.filter("handled")
        others = marked.filter(~pl.col("handled") & pl.col("quarantined").fill_null(False))
        rest = marked.filter(~pl.col("handled") & ~pl.col("quarantined").fill_null(False))
        if defect in NEEDS_ID:
            field = NEEDS_ID[defect]
            derived = f"fix:{field}:derived_from_id"
            undetectable = rest.filter(
                ~pl.col("id_present").fill_null(False)
                | ~pl.col(f"{field}_present").fill_null(False)
                | pl.col("signals").list.contains(derived)
            ).height
        elif defect == "middle_dot_variant":
            # A dot removed outright leaves a plausible name without any trace of the dot.
            undetectable = rest.filter(~pl.col("name").fill_null("").str.contains("·")).height
        else:
            undetectable = 0
        scores.append(
            DefectScore(defect, group.height, handled.height, others.height, undetectable)
        )
    return sorted(scores, key=lambda s: s.defect)
