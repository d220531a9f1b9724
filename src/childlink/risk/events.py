"""Each child's time line of events, read from linked source records (or a county's exports).

One row per event about a child, in one long frame (see :data:`EVENT_SCHEMA`): what happened
(``kind``), when it happened (``event_date``) and when the platform could know it
(``known_date``), with the payload the department exported (absence days, welfare programme,
injury flag, ICD-10 code, screening score, ...). Features and rules read only this frame, so the
database path (:func:`load_events`) and the file path used for training and benchmarks
(:func:`events_from_county`) feed them the same columns.

Everything is vectorised: one SQL query (plus one for domestic-violence call-outs, whose party is
an adult) and polars expressions; no per-record Python.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Final, Literal

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from childlink.children.choices import ChildStatus
from childlink.children.models import Family, FamilyMembership, Guardian, MasterChild
from childlink.ingest.mapping import available_mappings, mapping_for_file
from childlink.ingest.pipeline import standardise_batch
from childlink.ingest.readers import ReadOptions, read_batches
from childlink.privacy.keys import FieldCipher
from childlink.privacy.sealing import open_sealed
from childlink.sources.choices import BatchStatus, RecordStatus
from childlink.sources.models import DataSource, IngestBatch, SourceRecord

#: Event kinds, by the source and value that produce them.
KINDS: Final[tuple[str, ...]] = (
    "attendance",
    "enrolment",
    "welfare",
    "health_visit",
    "injury_visit",
    "mental_health_visit",
    "screening",
    "dv_callout",
    "street_child",
    "missing_person",
    "home_visit",
    "mandatory_report",
    "migrant_registration",
)

#: Columns (and types) of every events frame.
EVENT_SCHEMA: Final[dict[str, pl.DataType]] = {
    "master_child_id": pl.String(),
    "record_id": pl.String(),
    "source": pl.String(),
    "event_date": pl.Date(),
    "known_date": pl.Date(),
    "kind": pl.String(),
    "absent_days": pl.Int64(),
    "school_days": pl.Int64(),
    "enrolment_status": pl.String(),
    "welfare_type": pl.String(),
    "welfare_end": pl.Date(),
    "injury": pl.Boolean(),
    "icd10": pl.String(),
    "screening_score": pl.Int64(),
    "incident_type": pl.String(),
    "risk_noted": pl.Boolean(),
    "reporter_kind": pl.String(),
}

#: Columns of a children frame.
CHILDREN_SCHEMA: Final[dict[str, pl.DataType]] = {
    "master_child_id": pl.String(),
    "sex": pl.String(),
    "birth_date": pl.Date(),
    "region_code": pl.String(),
}

#: Canonical attribute fields the events are built from (all read as text first).
EVENT_FIELDS: Final[tuple[str, ...]] = (
    "event_date",
    "month",
    "absent_days",
    "school_days",
    "enrolment_status",
    "enrolled_on",
    "status_changed_on",
    "programme",
    "programme_start",
    "programme_end",
    "injury",
    "icd10",
    "score",
    "event_type",
    "risk_noted",
    "reporter_kind",
    "registered_on",
)

#: Of :data:`EVENT_FIELDS`, those ``childlink keys seal`` moves out of ``attributes``: without
#: a cipher, sealed records keep the event but lose these values (see :func:`load_events`).
SEALED_EVENT_FIELDS: Final[tuple[str, ...]] = ("icd10", "score")

#: Sources that are not events (identity only): read for nothing here.
_STATIC_SOURCES: Final = frozenset({"public_security.household_register"})

#: ICD-10 prefixes of injuries and maltreatment (S, T, W falls, Y07 perpetrator codes).
_INJURY_ICD: Final = r"^(S|T|W|Y0[0-9])"
#: ICD-10 prefixes of mental-health presentations (F codes, intentional self-harm, R45).
_MENTAL_ICD: Final = r"^(F|X[67][0-9]|X8[0-4]|R45)"

Provenance = Literal["batch", "event"]


def _date(name: str) -> pl.Expr:
    return pl.col(name).str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)


def _int(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.Float64, strict=False).cast(pl.Int64, strict=False)


def events_from_canonical(frame: pl.DataFrame) -> pl.DataFrame:
    """Events from records given as ``master_child_id``, ``record_id``, ``source``,
    ``known_date`` (Date, may be null: then the event date) and the :data:`EVENT_FIELDS` as text.

    The date of each kind: attendance at the end of its month (the month's total is complete
    only then); enrolment at its status change, else its entry date; welfare at the programme's
    start; screenings, visits, incidents and reports at their own date; a floating-population
    registration at its registration date.
    """
    missing = [c for c in EVENT_FIELDS if c not in frame.columns]
    if missing:
        frame = frame.with_columns(pl.lit(None, pl.String).alias(c) for c in missing)
    frame = frame.with_columns(pl.col(c).cast(pl.String) for c in EVENT_FIELDS)
    source = pl.col("source")
    icd = pl.col("icd10").str.to_uppercase().str.strip_chars()
    injury = (pl.col("injury") == "yes") | icd.str.contains(_INJURY_ICD).fill_null(False)
    kind = (
        pl.when(source == "education.attendance")
        .then(pl.lit("attendance"))
        .when(source == "education.student_registry")
        .then(pl.lit("enrolment"))
        .when(source == "civil_affairs.welfare_rolls")
        .then(pl.lit("welfare"))
        .when(source == "health.mental_health_screenings")
        .then(pl.lit("screening"))
        .when((source == "health.visits") & icd.str.contains(_MENTAL_ICD).fill_null(False))
        .then(pl.lit("mental_health_visit"))
        .when((source == "health.visits") & injury)
        .then(pl.lit("injury_visit"))
        .when(source == "health.visits")
        .then(pl.lit("health_visit"))
        .when(
            (source == "public_security.incidents") & (pl.col("event_type") == "domestic_violence")
        )
        .then(pl.lit("dv_callout"))
        .when((source == "public_security.incidents") & (pl.col("event_type") == "street_child"))
        .then(pl.lit("street_child"))
        .when((source == "public_security.incidents") & (pl.col("event_type") == "missing_person"))
        .then(pl.lit("missing_person"))
        .when(source == "womens_federation.home_visits")
        .then(pl.lit("home_visit"))
        .when(source == "procuratorate.mandatory_reports")
        .then(pl.lit("mandatory_report"))
        .when(source == "public_security.floating_population")
        .then(pl.lit("migrant_registration"))
    )
    month_end = pl.col("month").str.slice(0, 7).str.to_date("%Y-%m", strict=False).dt.month_end()
    event_date = (
        pl.when(source == "education.attendance")
        .then(month_end)
        .when(source == "education.student_registry")
        .then(pl.coalesce(_date("status_changed_on"), _date("enrolled_on")))
        .when(source == "civil_affairs.welfare_rolls")
        .then(_date("programme_start"))
        .when(source == "public_security.floating_population")
        .then(_date("registered_on"))
        .otherwise(_date("event_date"))
    )
    if "known_date" not in frame.columns:
        frame = frame.with_columns(known_date=pl.lit(None, pl.Date))
    return (
        frame.lazy()
        .with_columns(kind=kind, event_date=event_date)
        .filter(pl.col("kind").is_not_null() & pl.col("event_date").is_not_null())
        .select(
            pl.col("master_child_id").cast(pl.String),
            pl.col("record_id").cast(pl.String),
            source,
            "event_date",
            pl.max_horizontal(
                pl.col("known_date").cast(pl.Date).fill_null(pl.col("event_date")),
                pl.col("event_date"),
            ).alias("known_date"),
            "kind",
            pl.when(pl.col("kind") == "attendance").then(_int("absent_days")).alias("absent_days"),
            pl.when(pl.col("kind") == "attendance").then(_int("school_days")).alias("school_days"),
            pl.col("enrolment_status"),
            pl.col("programme").alias("welfare_type"),
            _date("programme_end").alias("welfare_end"),
            injury.alias("injury"),
            icd.alias("icd10"),
            _int("score").alias("screening_score"),
            pl.col("event_type").alias("incident_type"),
            pl.when(pl.col("risk_noted").is_not_null())
            .then(pl.col("risk_noted") == "yes")
            .alias("risk_noted"),
            pl.col("reporter_kind"),
        )
        .filter(pl.col("master_child_id").is_not_null())
        .sort("master_child_id", "event_date", "record_id")
        .collect()
        .cast(EVENT_SCHEMA)  # type: ignore[arg-type]
    )


def empty_events() -> pl.DataFrame:
    """An events frame without rows."""
    return pl.DataFrame(schema=EVENT_SCHEMA)


# --- database -------------------------------------------------------------------------------


def _text_frame(result: sa.Result[Any]) -> pl.DataFrame:
    names = list(result.keys())
    rows = result.all()
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    return pl.DataFrame(
        {
            name: pl.Series(name, [None if v is None else str(v) for v in values], pl.String)
            for name, values in zip(names, columns, strict=True)
        }
    )


def _record_query() -> sa.Select[*tuple[Any, ...]]:
    return (
        sa.select(
            SourceRecord.id.label("record_id"),
            SourceRecord.master_child_id,
            DataSource.code.label("source"),
            IngestBatch.started_at.label("known_at"),
            sa.cast(SourceRecord.attributes, sa.Text).label("attributes"),
        )
        .join(IngestBatch, IngestBatch.id == SourceRecord.batch_id)
        .join(DataSource, DataSource.id == SourceRecord.source_id)
        .join(MasterChild, MasterChild.id == SourceRecord.master_child_id)
        .where(
            IngestBatch.status == BatchStatus.COMMITTED,
            SourceRecord.status != RecordStatus.QUARANTINED,
            MasterChild.status == ChildStatus.ACTIVE,
            DataSource.code.not_in(_STATIC_SOURCES),
        )
    )


def _dv_query() -> sa.Select[*tuple[Any, ...]]:
    """Domestic-violence call-outs whose party (an adult) is a guardian of a linked child.

    The party is matched on the guardian's ID number within the child's family (households must
    have been built); the event goes to each child of that family.
    """
    return (
        sa.select(
            SourceRecord.id.label("record_id"),
            FamilyMembership.master_child_id,
            DataSource.code.label("source"),
            IngestBatch.started_at.label("known_at"),
            sa.cast(SourceRecord.attributes, sa.Text).label("attributes"),
        )
        .join(IngestBatch, IngestBatch.id == SourceRecord.batch_id)
        .join(DataSource, DataSource.id == SourceRecord.source_id)
        .join(Guardian, Guardian.id_number == SourceRecord.id_number)
        .join(Family, Family.id == Guardian.family_id)
        .join(FamilyMembership, FamilyMembership.family_id == Guardian.family_id)
        .join(MasterChild, MasterChild.id == FamilyMembership.master_child_id)
        .where(
            IngestBatch.status == BatchStatus.COMMITTED,
            SourceRecord.status != RecordStatus.QUARANTINED,
            SourceRecord.master_child_id.is_(None),
            SourceRecord.id_number.is_not(None),
            DataSource.code == "public_security.incidents",
            MasterChild.status == ChildStatus.ACTIVE,
            Family.dissolved_at.is_(None),
        )
        .distinct()
    )


def _json_fields(raw: pl.DataFrame) -> pl.DataFrame:
    return raw.with_columns(
        pl.col("attributes").str.json_path_match(f"$.{field}").alias(field)
        for field in EVENT_FIELDS
    )


def _open_sealed_fields(session: Session, frame: pl.DataFrame, cipher: FieldCipher) -> pl.DataFrame:
    """Put the sealed :data:`SEALED_EVENT_FIELDS` back (screening and visit records only)."""
    import uuid

    wanted = frame.filter(
        pl.col("source").is_in(["health.visits", "health.mental_health_screenings"])
        & pl.all_horizontal(pl.col(f).is_null() for f in SEALED_EVENT_FIELDS)
    )["record_id"]
    if wanted.is_empty():
        return frame
    opened = open_sealed(session, (uuid.UUID(v) for v in wanted.to_list()), cipher)
    if not opened:
        return frame
    values = pl.DataFrame(
        {
            "record_id": [str(k) for k in opened],
            **{
                f"_sealed_{f}": [
                    None if v.get(f) is None else str(v.get(f)) for v in opened.values()
                ]
                for f in SEALED_EVENT_FIELDS
            },
        },
        schema={"record_id": pl.String, **{f"_sealed_{f}": pl.String for f in SEALED_EVENT_FIELDS}},
    )
    return (
        frame.join(values, on="record_id", how="left")
        .with_columns(pl.coalesce(f, f"_sealed_{f}").alias(f) for f in SEALED_EVENT_FIELDS)
        .drop(f"_sealed_{f}" for f in SEALED_EVENT_FIELDS)
    )


def load_events(
    session: Session,
    *,
    cipher: FieldCipher | None = None,
    known_from: Provenance = "batch",
    children: list[str] | None = None,
) -> pl.DataFrame:
    """Every event about a linked, active master child (see :data:`EVENT_SCHEMA`).

    Args:
        session: an open session (read only).
        cipher: opens the sealed ICD-10 codes and screening scores of records that
            ``childlink keys seal`` sealed; without it those values are null on sealed records
            (their events stay, but screening-score features and ICD-based kinds cannot see them).
        known_from: ``"batch"`` (default): an event is known from the day its batch was ingested;
            ``"event"``: from its own date (back-testing on data ingested all at once).
        children: only these master child ids (re-scoring a few children).
    """
    queries = [_record_query(), _dv_query()]
    if children is not None:
        ids = [str(c) for c in children]
        queries = [
            _record_query().where(SourceRecord.master_child_id.in_(ids)),
            _dv_query().where(FamilyMembership.master_child_id.in_(ids)),
        ]
    parts = []
    for query in queries:
        raw = _text_frame(session.execute(query))
        if raw.height:
            parts.append(raw)
    if not parts:
        return empty_events()
    frame = _json_fields(pl.concat(parts))
    if cipher is not None:
        frame = _open_sealed_fields(session, frame, cipher)
    known = _date("known_at") if known_from == "batch" else pl.lit(None, pl.Date)
    return events_from_canonical(frame.with_columns(known_date=known))


def children_frame(session: Session, children: list[str] | None = None) -> pl.DataFrame:
    """Active master children with their static columns (see :data:`CHILDREN_SCHEMA`)."""
    stmt = sa.select(
        MasterChild.id.label("master_child_id"),
        MasterChild.sex,
        MasterChild.birth_date,
        MasterChild.region_code,
    ).where(MasterChild.status == ChildStatus.ACTIVE)
    if children is not None:
        stmt = stmt.where(MasterChild.id.in_([str(c) for c in children]))
    raw = _text_frame(session.execute(stmt))
    if raw.is_empty():
        return pl.DataFrame(schema=CHILDREN_SCHEMA)
    return (
        raw.with_columns(_date("birth_date").alias("birth_date"))
        .cast(
            CHILDREN_SCHEMA  # type: ignore[arg-type]
        )
        .sort("master_child_id")
    )


# --- a generated county, without a database --------------------------------------------------

#: truth ``records.parquet`` roles that make a row an event about that child.
_CHILD_ROLES: Final = ("subject", "involved_minor")


def _read_export(path: Path, exports: Path) -> pl.DataFrame:
    mappings = available_mappings()
    mapping = mapping_for_file(path, mappings)
    if mapping is None or mapping.source in _STATIC_SOURCES:
        return pl.DataFrame()
    options = ReadOptions(
        format=mapping.format,
        encoding=mapping.encoding,
        sheets=mapping.sheets,
        header_row=mapping.header_row,
        expected_columns=mapping.expected_headers(),
    )
    parts = []
    file = path.relative_to(exports).as_posix()
    for raw in read_batches(path, options):
        records = standardise_batch(raw, mapping, as_of=dt.date(2100, 1, 1)).records
        if records.is_empty():
            continue
        keep = [c for c in EVENT_FIELDS if c in records.columns]
        parts.append(
            records.filter(pl.col("_status") != RecordStatus.QUARANTINED.value).select(
                pl.lit(mapping.source).alias("source"),
                pl.lit(file).alias("file"),
                pl.col("_sheet").fill_null("").alias("sheet"),
                pl.col("_row_number").alias("row_number"),
                *(pl.col(c).cast(pl.String) for c in keep),
            )
        )
    return pl.concat(parts, how="diagonal") if parts else pl.DataFrame()


def events_from_county(county_dir: Path) -> pl.DataFrame:
    """Events of a generated county from its department exports, without a database.

    Every export is read and standardised by the ingest pipeline (the same values a department
    delivered, noise included; quarantined rows are left out); ``truth/records.parquet`` only
    says which child each row is about, in place of linkage, so ``master_child_id`` is the truth
    child id. ``known_date`` is the event date.
    """
    exports = county_dir / "exports"
    frames = [
        f
        for path in sorted(exports.rglob("*.*"))
        if not (f := _read_export(path, exports)).is_empty()
    ]
    if not frames:
        return empty_events()
    rows = pl.concat(frames, how="diagonal")
    truth = (
        pl.scan_parquet(county_dir / "truth" / "records.parquet")
        .filter(pl.col("role").is_in(_CHILD_ROLES) & pl.col("entity_id").str.starts_with("C"))
        .select(
            "file",
            pl.col("sheet").fill_null(""),
            "row_number",
            pl.col("entity_id").alias("master_child_id"),
        )
        .unique()
        .collect()
    )
    joined = rows.join(truth, on=["file", "sheet", "row_number"], how="inner").with_columns(
        record_id=pl.concat_str(
            [pl.col("file"), pl.col("sheet"), pl.col("row_number").cast(pl.String)], separator=":"
        ),
        known_date=pl.lit(None, pl.Date),
    )
    return events_from_canonical(joined)


def children_from_county(county_dir: Path) -> pl.DataFrame:
    """The county's children (truth ids) with sex, birth date and village code."""
    truth = county_dir / "truth"
    households = pl.read_parquet(
        truth / "households.parquet", columns=["household_id", "village_code"]
    )
    return (
        pl.read_parquet(
            truth / "children.parquet", columns=["child_id", "household_id", "sex", "birth_date"]
        )
        .join(households, on="household_id", how="left")
        .select(
            pl.col("child_id").alias("master_child_id"),
            pl.col("sex")
            .cast(pl.String)
            .replace({"M": "male", "F": "female", "男": "male", "女": "female"}),
            pl.col("birth_date").cast(pl.Date),
            pl.col("village_code").alias("region_code"),
        )
        .cast(CHILDREN_SCHEMA)  # type: ignore[arg-type]
        .sort("master_child_id")
    )
