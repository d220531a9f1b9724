"""Ingest use cases: one file into one atomic, idempotent batch.

:func:`ingest_file` owns the transaction. The batch, its records, their provenance and fixes,
and the field-quality rows commit together or not at all: a crash or a kill mid-file leaves no
partial batch. Ingesting the same bytes again for the same source adds nothing; a corrected
re-export of a file (same source and file name, different bytes) supersedes the earlier batch,
whose records stay in the database as history.
"""

from __future__ import annotations

import datetime as dt
import json
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
from childlink.store.base import utc_now
from childlink.store.engine import unit_of_work

_FORMATS = {"csv": SourceFormat.CSV, "xlsx": SourceFormat.EXCEL, "jsonl": SourceFormat.JSON}
_INSERT_CHUNK = 5_000
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
    record_of_hash: dict[str, uuid.UUID] = {}
    counts = {"rows_in": 0, "accepted": 0, "fixed": 0, "quarantined": 0, "duplicate": 0}
    quality: list[pl.DataFrame] = []
    notes: dict[str, Any] = {"sheets": [], "unmapped_columns": []}
    checked_headers: set[tuple[str, ...]] = set()
    for raw in read_batches(path, options):
        if raw.columns not in checked_headers:
            _check_columns(mapping, raw.columns, raw.sheet, path, notes)
            checked_headers.add(raw.columns)
        if raw.sheet is not None and raw.sheet not in notes["sheets"]:
            notes["sheets"].append(raw.sheet)
        std = standardise_batch(raw, mapping, as_of=as_of, known_regions=known_regions or None)
        _persist(session, batch.id, source_id, std, record_of_hash, counts)
        quality.append(std.field_quality)
        if progress:
            progress(counts["rows_in"])
    _flag_conflicts(session, batch.id)
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


def _persist(
    session: Session,
    batch_id: uuid.UUID,
    source_id: uuid.UUID,
    std: StandardisedBatch,
    record_of_hash: dict[str, uuid.UUID],
    counts: dict[str, int],
) -> None:
    """Insert records (first occurrence of each content hash), provenance and fixes."""
    records = std.records
    now = utc_now()
    attribute_columns = [
        c
        for c in records.columns
        if not c.startswith("_") and c not in PERSON_COLUMNS and c != "name_pinyin"
    ]
    new_rows: list[dict[str, Any]] = []
    provenance: list[dict[str, Any]] = []
    record_id_of_row: dict[tuple[str, int], uuid.UUID] = {}
    select = [
        "_sheet",
        "_row_number",
        "_raw",
        "_status",
        "_reason",
        "_message",
        "_flags",
        "_hash",
        *[c for c in (*PERSON_COLUMNS, "name_pinyin") if c in records.columns],
        *attribute_columns,
    ]
    for row in records.select(select).iter_rows(named=True):
        key = (row["_sheet"], row["_row_number"])
        counts["rows_in"] += 1
        existing = record_of_hash.get(row["_hash"])
        if existing is not None:
            counts["duplicate"] += 1
            provenance.append(
                {
                    "id": uuid.uuid4(),
                    "record_id": existing,
                    "batch_id": batch_id,
                    "sheet": key[0],
                    "row_number": key[1],
                }
            )
            continue
        record_id = uuid.uuid4()
        record_of_hash[row["_hash"]] = record_id
        record_id_of_row[key] = record_id
        counts[row["_status"]] += 1
        attributes = {c: _jsonable(row[c]) for c in attribute_columns if row[c] is not None}
        new_rows.append(
            {
                "id": record_id,
                "batch_id": batch_id,
                "source_id": source_id,
                "sheet": key[0],
                "row_number": key[1],
                "raw_row": json.loads(row["_raw"]) if row["_raw"] else {},
                "record_hash": row["_hash"],
                "status": row["_status"],
                "quarantine_reason": row["_reason"],
                "quarantine_message": row["_message"],
                "flags": list(row["_flags"] or []),
                "id_number": row.get("id_number"),
                "name": row.get("name"),
                "name_pinyin": row.get("name_pinyin"),
                "sex": _SEX.get(row.get("sex") or ""),
                "birth_date": row.get("birth_date"),
                "region_code": row.get("region_code"),
                "attributes": attributes,
                "created_at": now,
                "updated_at": now,
            }
        )
        provenance.append(
            {
                "id": uuid.uuid4(),
                "record_id": record_id,
                "batch_id": batch_id,
                "sheet": key[0],
                "row_number": key[1],
            }
        )
    fixes = [
        {
            "id": uuid.uuid4(),
            "record_id": record_id_of_row[(fix["_sheet"], fix["_row_number"])],
            "field": fix["field"],
            "old_value": fix["old_value"],
            "new_value": fix["new_value"],
            "rule": fix["rule"],
            "created_at": now,
        }
        for fix in std.fixes.iter_rows(named=True)
        if (fix["_sheet"], fix["_row_number"]) in record_id_of_row
    ]
    for table, rows in (
        (SourceRecord, new_rows),
        (RecordProvenance, provenance),
        (RecordFix, fixes),
    ):
        for start in range(0, len(rows), _INSERT_CHUNK):
            session.execute(sa.insert(table), rows[start : start + _INSERT_CHUNK])


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _flag_conflicts(session: Session, batch_id: uuid.UUID) -> None:
    """Flag records sharing a valid ID number but stating another birth date or sex."""
    conflicting = (
        sa.select(SourceRecord.id_number)
        .where(
            SourceRecord.batch_id == batch_id,
            SourceRecord.id_number.is_not(None),
            SourceRecord.status != QUARANTINED,
        )
        .group_by(SourceRecord.id_number)
        .having(
            (sa.func.count(sa.distinct(SourceRecord.birth_date)) > 1)
            | (sa.func.count(sa.distinct(SourceRecord.sex)) > 1)
        )
    )
    records = session.scalars(
        sa.select(SourceRecord).where(
            SourceRecord.batch_id == batch_id, SourceRecord.id_number.in_(conflicting)
        )
    )
    for record in records:
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
