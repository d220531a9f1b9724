"""Ingest use cases: one file into one atomic, idempotent batch.

:func:`ingest_file` owns the transaction. The batch, its records, their provenance and fixes,
and the field-quality rows commit together or not at all: a crash or a kill mid-file leaves no
partial batch. Ingesting the same bytes again for the same source adds nothing; a corrected
re-export of a file (same source and file name, different bytes) supersedes the earlier batch,
whose records stay in the database as history.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from childlink.children.choices import Sex
from childlink.errors import ChildLinkError
from childlink.ingest.errors import IngestError
from childlink.ingest.mapping import SourceMapping
from childlink.ingest.pipeline import QUARANTINED, StandardisedBatch, standardise_batch
from childlink.ingest.readers import ReadOptions, file_sha256, read_batches
from childlink.ingest.schema import PERSON_COLUMNS
from childlink.quality.models import BatchFieldQuality
from childlink.regions.models import Region
from childlink.sources.choices import BatchStatus, SourceFormat
from childlink.sources.models import (
    DataSource,
    Department,
    IngestBatch,
    RecordFix,
    RecordProvenance,
    SourceRecord,
)
from childlink.store.base import Base, utc_now
from childlink.store.bulk import BulkWriter, uuid4_strings
from childlink.store.engine import unit_of_work

_FORMATS = {"csv": SourceFormat.CSV, "xlsx": SourceFormat.EXCEL, "jsonl": SourceFormat.JSON}
_FLAG_CHUNK = 5_000
_SEX = {"M": Sex.MALE, "F": Sex.FEMALE}


class MissingColumnsError(IngestError):
    """Required columns of the mapping are not in the file."""

    code = "missing_columns"


class UnknownDepartmentError(IngestError):
    """The mapping names a department that is not registered."""

    code = "unknown_department"


@dataclass
class IngestResult:
    """What one ``ingest_file`` call did; reconciles: rows_in = the four counts added up."""

    source: str
    file: str
    sha256: str
    batch_id: str
    outcome: str  # "committed" | "already_ingested"
    rows_in: int = 0
    accepted: int = 0
    fixed: int = 0
    quarantined: int = 0
    duplicate: int = 0
    superseded_batch_id: str | None = None
    seconds: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def reconciles(self) -> bool:
        return self.rows_in == self.accepted + self.fixed + self.quarantined + self.duplicate

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"reconciles": self.reconciles}


def ingest_file(
    factory: sessionmaker[Session],
    mapping: SourceMapping,
    path: Path,
    *,
    supersedes: uuid.UUID | None = None,
    as_of: dt.date | None = None,
    progress: Callable[[int], None] | None = None,
) -> IngestResult:
    """Ingest one department file through its mapping.

    Args:
        factory: session factory of the platform database.
        mapping: the source's mapping (see :mod:`childlink.ingest.mapping`).
        path: the delivered file.
        supersedes: batch this file replaces; default: the committed batch of the same source
            with the same file name, if any.
        as_of: latest plausible date in the file (default today), for date range checks.
        progress: called with the number of rows processed so far.

    Raises:
        IngestError: the file cannot be read as this source (encoding, corrupt, columns...). A
            failed batch row with the error is recorded; no record of the file is kept.
    """
    started = time.perf_counter()
    sha256 = file_sha256(path)
    as_of = as_of or dt.date.today()
    with unit_of_work(factory) as session:
        source = ensure_source(session, mapping)
        existing = session.scalars(
            sa.select(IngestBatch).where(
                IngestBatch.source_id == source.id,
                IngestBatch.file_sha256 == sha256,
                IngestBatch.status.in_([BatchStatus.COMMITTED, BatchStatus.SUPERSEDED]),
            )
        ).first()
        if existing is not None:
            return IngestResult(
                source=mapping.source,
                file=path.name,
                sha256=sha256,
                batch_id=str(existing.id),
                outcome="already_ingested",
                seconds=round(time.perf_counter() - started, 3),
            )
        source_id = source.id
    try:
        with unit_of_work(factory) as session:
            return _ingest(
                session, mapping, path, sha256, source_id, supersedes, as_of, progress, started
            )
    except IngestError as error:
        _record_failure(factory, mapping, path, sha256, source_id, error)
        raise


def _ingest(
    session: Session,
    mapping: SourceMapping,
    path: Path,
    sha256: str,
    source_id: uuid.UUID,
    supersedes: uuid.UUID | None,
    as_of: dt.date,
    progress: Callable[[int], None] | None,
    started: float,
) -> IngestResult:
    batch = IngestBatch(
        source_id=source_id,
        file_name=path.name,
        file_sha256=sha256,
        mapping_version=mapping.version,
        status=BatchStatus.PENDING,
        started_at=utc_now(),
    )
    session.add(batch)
    session.flush()
    known_regions = set(session.scalars(sa.select(Region.code)))
    options = ReadOptions(
        format=mapping.format,
        encoding=mapping.encoding,
        sheets=mapping.sheets,
        header_row=mapping.header_row,
        expected_columns=mapping.expected_headers(),
    )
    seen = _SeenRecords()
    counts = {"rows_in": 0, "accepted": 0, "fixed": 0, "quarantined": 0, "duplicate": 0}
    quality: list[pl.DataFrame] = []
    notes: dict[str, Any] = {"sheets": [], "unmapped_columns": []}
    checked_headers: set[tuple[str, ...]] = set()
    # Batch n is written in the background while batch n + 1 is read and standardised.
    with BulkWriter(session.connection()) as writer:
        for raw in read_batches(path, options):
            if raw.columns not in checked_headers:
                _check_columns(mapping, raw.columns, raw.sheet, path, notes)
                checked_headers.add(raw.columns)
            if raw.sheet is not None and raw.sheet not in notes["sheets"]:
                notes["sheets"].append(raw.sheet)
            std = standardise_batch(raw, mapping, as_of=as_of, known_regions=known_regions or None)
            _persist(writer, batch.id, source_id, std, seen, counts)
            quality.append(std.field_quality)
            if progress:
                progress(counts["rows_in"])
    _flag_conflicts(session, seen)
    if quality:
        totals = (
            pl.concat(quality)
            .group_by("field", maintain_order=True)
            .agg(pl.col("rows", "present", "valid", "fixed", "invalid").sum())
        )
        session.execute(
            sa.insert(BatchFieldQuality),
            [{"id": uuid.uuid4(), "batch_id": batch.id, **row} for row in totals.to_dicts()],
        )
    superseded = _supersede(session, batch, supersedes)
    batch.rows_in = counts["rows_in"]
    batch.rows_accepted = counts["accepted"]
    batch.rows_fixed = counts["fixed"]
    batch.rows_quarantined = counts["quarantined"]
    batch.rows_duplicate = counts["duplicate"]
    batch.encoding = notes.get("encoding")
    batch.notes = notes
    batch.status = BatchStatus.COMMITTED
    batch.finished_at = utc_now()
    session.flush()
    return IngestResult(
        source=mapping.source,
        file=path.name,
        sha256=sha256,
        batch_id=str(batch.id),
        outcome="committed",
        superseded_batch_id=str(superseded) if superseded else None,
        seconds=round(time.perf_counter() - started, 3),
        notes=notes,
        **counts,
    )


def _check_columns(
    mapping: SourceMapping,
    columns: tuple[str, ...],
    sheet: str | None,
    path: Path,
    notes: dict[str, Any],
) -> None:
    present = set(columns)
    missing = [
        f"{column.column} ({name})"
        for name, column in mapping.fields.items()
        if column.required and not present.intersection(column.headers)
    ]
    where = f"{path.name}" + (f" sheet {sheet}" if sheet else "")
    if missing:
        raise MissingColumnsError(
            f"{where}: required column(s) missing for source {mapping.source}: "
            f"{', '.join(missing)}; columns found: {', '.join(columns) or '(none)'}"
        )
    known = set(mapping.expected_headers())
    unmapped = [c for c in columns if c not in known]
    for column in unmapped:
        if column not in notes["unmapped_columns"]:
            notes["unmapped_columns"].append(column)


@dataclass
class _SeenRecords:
    """What the batches of one file produced so far: for deduplication and conflict flags.

    ``hashes``: content hash -> record id of every record (an exact duplicate in a later batch
    points at the first occurrence). ``people``: id, ID number, birth date, sex and status of
    every record with an ID number, for :func:`_flag_conflicts`.
    """

    hashes: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema={"_hash": pl.String, "_record_id": pl.String})
    )
    people: list[pl.DataFrame] = field(default_factory=list)


def _persist(
    writer: BulkWriter,
    batch_id: uuid.UUID,
    source_id: uuid.UUID,
    std: StandardisedBatch,
    seen: _SeenRecords,
    counts: dict[str, int],
) -> None:
    """Insert records (first occurrence of each content hash), provenance and fixes.

    Vectorised: ids, deduplication, JSON documents and database forms are computed on whole
    columns; the rows are then written in bulk in the session's transaction.
    """
    records = std.records
    n = records.height
    if n == 0:
        return
    now = utc_now()
    frame = records.with_columns(
        # Random ids, not ascending in row order: ids must reveal neither order nor volume
        # (ordered ids would load about 20 % faster on SQLite; privacy comes first).
        _own_id=uuid4_strings(n, ordered=False),
        _provenance_id=uuid4_strings(n, ordered=False),
        _new=pl.col("_hash").is_first_distinct()
        & ~pl.col("_hash").is_in(seen.hashes["_hash"].implode(), nulls_equal=True),
    )
    fresh = frame.filter("_new")
    seen.hashes = pl.concat(
        [seen.hashes, fresh.select("_hash", _record_id=pl.col("_own_id"))], rechunk=False
    )
    frame = frame.join(seen.hashes, on="_hash", how="left", nulls_equal=True, maintain_order="left")
    counts["rows_in"] += n
    counts["duplicate"] += n - fresh.height
    for status, number in fresh["_status"].value_counts().iter_rows():
        counts[status] += number

    rows = _record_rows(fresh, batch_id, source_id, now)
    if "id_number" in rows.columns:
        seen.people.append(
            rows.filter(pl.col("id_number").is_not_null()).select(
                "id",
                "id_number",
                "status",
                *[c for c in ("birth_date", "sex") if c in rows.columns],
            )
        )
    batch = pl.lit(str(batch_id))
    provenance = frame.select(
        id="_provenance_id",
        record_id="_record_id",
        batch_id=batch,
        sheet="_sheet",
        row_number="_row_number",
    )
    fixes = std.fixes.join(
        fresh.select("_sheet", "_row_number", record_id="_own_id"),
        on=["_sheet", "_row_number"],
        how="inner",
        maintain_order="left",
    )
    fixes = fixes.select(
        id=uuid4_strings(fixes.height, ordered=False),
        record_id="record_id",
        field="field",
        old_value="old_value",
        new_value="new_value",
        rule="rule",
        created_at=pl.lit(now),
    )
    writer.submit(
        (_table(SourceRecord), rows),
        (_table(RecordProvenance), provenance),
        (_table(RecordFix), fixes),
    )


def _table(model: type[Base]) -> sa.Table:
    table = model.__table__
    if not isinstance(table, sa.Table):
        raise TypeError(f"{model.__name__} is not mapped to a table")
    return table


def _record_rows(
    fresh: pl.DataFrame, batch_id: uuid.UUID, source_id: uuid.UUID, now: dt.datetime
) -> pl.DataFrame:
    """``source_records`` rows as :func:`~childlink.store.bulk.bulk_insert` takes them."""
    attribute_columns = [
        c
        for c in fresh.columns
        if not c.startswith("_") and c not in PERSON_COLUMNS and c != "name_pinyin"
    ]
    person: dict[str, pl.Expr] = {
        c: pl.col(c) for c in (*PERSON_COLUMNS, "name_pinyin") if c in fresh.columns
    }
    if "sex" in person:
        person["sex"] = pl.col("sex").replace_strict(
            {code: sex.value for code, sex in _SEX.items()}, default=None, return_dtype=pl.String
        )
    return fresh.select(
        id="_own_id",
        batch_id=pl.lit(str(batch_id)),
        source_id=pl.lit(str(source_id)),
        sheet="_sheet",
        row_number="_row_number",
        # The verbatim row is JSON text already (an unreadable row: {"_unparsed_row": text}).
        raw_row=pl.when(pl.col("_raw").fill_null("") == "")
        .then(pl.lit("{}"))
        .otherwise(pl.col("_raw")),
        record_hash="_hash",
        status="_status",
        quarantine_reason="_reason",
        quarantine_message="_message",
        flags=_json_value(pl.col("_flags").fill_null(pl.lit([], dtype=pl.List(pl.String)))),
        **person,
        attributes=_json_object(fresh.select(attribute_columns).schema),
        created_at=pl.lit(now),
        updated_at=pl.lit(now),
    )


def _json_value(column: pl.Expr) -> pl.Expr:
    """The JSON text of each value of ``column`` (null for null)."""
    return (
        pl.struct(column.alias("v"))
        .struct.json_encode()
        .str.strip_prefix('{"v":')
        .str.strip_suffix("}")
    )


def _json_object(schema: pl.Schema) -> pl.Expr:
    """A JSON object of the columns of ``schema`` without their nulls; dates as ISO text."""
    members = []
    for name, dtype in schema.items():
        value = pl.col(name).cast(pl.String) if dtype == pl.Date else pl.col(name)
        encoded = pl.struct(value.alias(name)).struct.json_encode()  # {"name":value}
        members.append(
            pl.when(pl.col(name).is_not_null()).then(
                encoded.str.strip_prefix("{").str.strip_suffix("}")
            )
        )
    if not members:
        return pl.lit("{}")
    return pl.concat_str(
        [pl.lit("{"), pl.concat_str(members, separator=",", ignore_nulls=True), pl.lit("}")]
    )


def _flag_conflicts(session: Session, seen: _SeenRecords) -> None:
    """Flag records sharing a valid ID number but stating another birth date or sex.

    Among the batch's records that are not quarantined, an ID number with two birth dates or
    two sexes (nulls aside) is conflicting; every record of the batch with that number is
    flagged. Decided on the rows just written (``seen``), the few flagged records updated.
    """
    if not seen.people:
        return
    people = pl.concat(seen.people, how="diagonal_relaxed")
    differs = [
        pl.col(c).drop_nulls().n_unique() > 1 for c in ("birth_date", "sex") if c in people.columns
    ]
    if not differs:
        return
    conflicting = (
        people.filter(pl.col("status") != QUARANTINED)
        .group_by("id_number")
        .agg(pl.any_horizontal(differs).alias("conflict"))
        .filter("conflict")["id_number"]
    )
    flagged = people.filter(pl.col("id_number").is_in(conflicting.implode()))["id"]
    for start in range(0, flagged.len(), _FLAG_CHUNK):
        ids = [uuid.UUID(text) for text in flagged.slice(start, _FLAG_CHUNK)]
        for record in session.scalars(sa.select(SourceRecord).where(SourceRecord.id.in_(ids))):
            record.flags = [*record.flags, "id_number:conflicting_records"]


def _supersede(
    session: Session, batch: IngestBatch, supersedes: uuid.UUID | None
) -> uuid.UUID | None:
    if supersedes is None:
        previous = session.scalars(
            sa.select(IngestBatch)
            .where(
                IngestBatch.source_id == batch.source_id,
                IngestBatch.file_name == batch.file_name,
                IngestBatch.status == BatchStatus.COMMITTED,
                IngestBatch.id != batch.id,
            )
            .order_by(IngestBatch.started_at.desc())
        ).first()
    else:
        previous = session.get(IngestBatch, supersedes)
        if previous is None or previous.source_id != batch.source_id:
            raise IngestError(f"batch {supersedes} does not exist for this source")
    if previous is None:
        return None
    previous.status = BatchStatus.SUPERSEDED
    batch.supersedes_batch_id = previous.id
    return previous.id


def _record_failure(
    factory: sessionmaker[Session],
    mapping: SourceMapping,
    path: Path,
    sha256: str,
    source_id: uuid.UUID,
    error: ChildLinkError,
) -> None:
    with unit_of_work(factory) as session:
        session.add(
            IngestBatch(
                source_id=source_id,
                file_name=path.name,
                file_sha256=sha256,
                mapping_version=mapping.version,
                status=BatchStatus.FAILED,
                started_at=utc_now(),
                finished_at=utc_now(),
                error_message=str(error),
            )
        )


def ensure_source(session: Session, mapping: SourceMapping) -> DataSource:
    """The data source of a mapping, registered on first use (a mapping file is enough)."""
    source = session.scalars(sa.select(DataSource).where(DataSource.code == mapping.source)).first()
    department = session.scalars(
        sa.select(Department).where(Department.code == mapping.department)
    ).first()
    if department is None:
        raise UnknownDepartmentError(
            f"department {mapping.department!r} of source {mapping.source} is not registered "
            "(run `childlink db upgrade` to seed the shipped departments)"
        )
    if source is None:
        source = DataSource(
            code=mapping.source,
            department_id=department.id,
            name_zh=mapping.name_zh,
            name_en=mapping.name_en,
            format=_FORMATS[mapping.format],
            mapping_version=mapping.version,
            description=mapping.description,
        )
        session.add(source)
        session.flush()
    elif source.mapping_version != mapping.version:
        source.mapping_version = mapping.version
    return source


def known_region_codes(session: Session) -> Collection[str]:
    return set(session.scalars(sa.select(Region.code)))
