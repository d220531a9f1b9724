"""The quarantine workflow: list, inspect, release or correct the rows ingest refused.

A quarantined record keeps its row exactly as delivered. An officer either

* **releases** it: accepts the values as they are (for a row that is right although a rule
  refused it, e.g. a real child whose stated birth date differs from a mistyped ID number), or
* **fixes** it: corrects raw cells, and the corrected row goes through the same
  standardisation as at ingest; only a row that now passes is accepted.

Both are recorded as :class:`~childlink.sources.models.RecordFix` rows with the actor and a
mandatory note, keep the original reason in a flag (``released:<reason>`` or
``manual_fix:<reason>``) and move the batch counters, so quality reports still reconcile. The
verbatim ``raw_row`` is never changed: the corrected row is ``raw_row`` plus the ``manual_fix``
fixes.

Each write is one unit of work on the caller's session: it commits when the change is complete
and rolls back (changing nothing) when it raises.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

import polars as pl
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from childlink.children.choices import Sex
from childlink.ingest.mapping import SourceMapping, available_mappings
from childlink.ingest.pipeline import QUARANTINED, standardise_batch
from childlink.ingest.readers import REJECT_SCHEMA, RawBatch
from childlink.ingest.reasons import QuarantineReason
from childlink.ingest.schema import PERSON_COLUMNS
from childlink.quality.choices import MANUAL_FIX_FLAG, RELEASED_FLAG, FlagIssue, ManualRule
from childlink.quality.errors import (
    InvalidCorrectionError,
    RecordNotQuarantinedError,
    StillQuarantinedError,
    UnknownBatchError,
    UnknownRecordError,
    UnknownSourceError,
)
from childlink.quality.report import reason_labels, rule_labels
from childlink.regions.models import Region
from childlink.sources.choices import BatchStatus, RecordStatus
from childlink.sources.models import (
    DataSource,
    IngestBatch,
    RecordFix,
    RecordProvenance,
    SourceRecord,
)
from childlink.store.base import utc_now

MAX_PAGE = 1_000
MAX_ACTOR = 100  # width of record_fixes.actor
MAX_FIELD = 64  # width of record_fixes.field
AUTOMATIC_FIX_NOTE = "re-standardised after a manual fix"
_SEX_CODES = {"M": Sex.MALE, "F": Sex.FEMALE}
_COUNTER = {
    RecordStatus.ACCEPTED: IngestBatch.rows_accepted,
    RecordStatus.FIXED: IngestBatch.rows_fixed,
}


class _Read(BaseModel):
    model_config = ConfigDict(frozen=True)


class QuarantinedItem(_Read):
    """One quarantined record in the work list (no identifiable fields beyond the message)."""

    record_id: uuid.UUID
    source: str
    batch_id: uuid.UUID
    file_name: str
    sheet: str
    row_number: int
    reason: str | None
    label_zh: str
    label_en: str
    message: str | None


class QuarantinePage(_Read):
    """A page of the quarantine work list; ``total`` counts every match, not just this page."""

    total: int
    limit: int
    offset: int
    items: list[QuarantinedItem]


class FixRead(_Read):
    """One recorded change of a record, automatic or manual."""

    field: str
    old_value: str | None
    new_value: str | None
    rule: str
    label_zh: str
    label_en: str
    actor: str | None
    note: str | None
    created_at: datetime


class ProvenanceRead(_Read):
    """One delivered row behind the record (duplicates share a record)."""

    sheet: str
    row_number: int


class RecordDetail(_Read):
    """A record with everything needed to decide on it: row as delivered, reason, history."""

    record_id: uuid.UUID
    source: str
    source_zh: str
    source_en: str
    batch_id: uuid.UUID
    batch_status: str
    file_name: str
    sheet: str
    row_number: int
    status: str
    reason: str | None
    label_zh: str
    label_en: str
    message: str | None
    flags: list[str]
    id_number: str | None
    name: str | None
    name_pinyin: str | None
    sex: str | None
    birth_date: date | None
    region_code: str | None
    attributes: dict[str, Any]
    raw_row: dict[str, Any]
    fixes: list[FixRead]
    provenance: list[ProvenanceRead]


def list_quarantined(
    session: Session,
    *,
    source: str | None = None,
    batch_id: uuid.UUID | str | None = None,
    reason: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> QuarantinePage:
    """Quarantined records of committed batches, newest batch first, in file order.

    Args:
        session: a session on the platform database (only read).
        source: only this data source (its code).
        batch_id: only this batch, whatever its status (default: every committed batch).
        reason: only this quarantine reason code (e.g. ``dob_contradicts_id``).
        limit: page size, 1 to 1,000.
        offset: records to skip.

    Raises:
        UnknownSourceError, UnknownBatchError: the filter names nothing.
        InvalidCorrectionError: an unknown reason code or a page outside the limits.
    """
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise InvalidCorrectionError(f"limit must be 1 to {MAX_PAGE} and offset at least 0")
    conditions: list[sa.ColumnElement[bool]] = [SourceRecord.status == RecordStatus.QUARANTINED]
    if source is not None:
        source_id = session.scalar(sa.select(DataSource.id).where(DataSource.code == source))
        if source_id is None:
            raise UnknownSourceError(f"no data source has the code {source!r}")
        conditions.append(SourceRecord.source_id == source_id)
    if batch_id is not None:
        batch_uuid = _uuid(batch_id, UnknownBatchError, "batch")
        if session.get(IngestBatch, batch_uuid) is None:
            raise UnknownBatchError(f"no ingest batch {batch_uuid}")
        conditions.append(SourceRecord.batch_id == batch_uuid)
    else:
        conditions.append(IngestBatch.status == BatchStatus.COMMITTED)
    if reason is not None:
        try:
            QuarantineReason(reason)
        except ValueError as error:
            known = ", ".join(member.value for member in QuarantineReason)
            raise InvalidCorrectionError(
                f"unknown quarantine reason {reason!r} (known: {known})"
            ) from error
        conditions.append(SourceRecord.quarantine_reason == reason)

    base = (
        sa.select(SourceRecord, IngestBatch.file_name, DataSource.code)
        .join(IngestBatch, SourceRecord.batch_id == IngestBatch.id)
        .join(DataSource, SourceRecord.source_id == DataSource.id)
        .where(*conditions)
    )
    total = session.scalar(sa.select(sa.func.count()).select_from(base.subquery())) or 0
    rows = session.execute(
        base.order_by(
            IngestBatch.started_at.desc(), IngestBatch.id, SourceRecord.sheet,
            SourceRecord.row_number,
        )
        .limit(limit)
        .offset(offset)
    ).all()  # fmt: skip
    items = []
    for record, file_name, source_code in rows:
        label_zh, label_en = reason_labels(record.quarantine_reason)
        items.append(
            QuarantinedItem(
                record_id=record.id,
                source=source_code,
                batch_id=record.batch_id,
                file_name=file_name,
                sheet=record.sheet,
                row_number=record.row_number,
                reason=record.quarantine_reason,
                label_zh=label_zh,
                label_en=label_en,
                message=record.quarantine_message,
            )
        )
    return QuarantinePage(total=total, limit=limit, offset=offset, items=items)


def show_record(session: Session, record_id: uuid.UUID | str) -> RecordDetail:
    """A record in full: canonical fields, the row as delivered, its fixes and provenance.

    Raises:
        UnknownRecordError: no record has this id.
    """
    return _detail(session, _load(session, record_id, lock=False))


def release(session: Session, record_id: uuid.UUID | str, *, actor: str, note: str) -> RecordDetail:
    """Accept a quarantined record with its values as they are.

    The record becomes ``accepted`` (``fixed`` if it already has fixes), keeps its reason in a
    ``released:<reason>`` flag and gets a ``manual_release`` fix naming the actor and the note;
    the batch moves one row from quarantined to accepted (or fixed). Commits.

    Raises:
        UnknownRecordError: no record has this id.
        RecordNotQuarantinedError: the record is not in quarantine (or its batch is not
            committed).
        InvalidCorrectionError: ``actor`` or ``note`` is empty.
    """
    actor, note = _require_actor_and_note(actor, note)
    with _unit_of_work(session):
        record = _load_quarantined(session, record_id)
        reason = record.quarantine_reason or ""
        has_fixes = session.scalar(
            sa.select(sa.func.count()).where(RecordFix.record_id == record.id)
        )
        status = RecordStatus.FIXED if has_fixes else RecordStatus.ACCEPTED
        session.add(
            RecordFix(
                record_id=record.id,
                field="status",
                old_value=RecordStatus.QUARANTINED.value,
                new_value=status.value,
                rule=ManualRule.MANUAL_RELEASE.value,
                actor=actor,
                note=note,
                created_at=utc_now(),
            )
        )
        record.flags = [*record.flags, f"{RELEASED_FLAG}:{reason}"]
        _leave_quarantine(session, record, status)
    return show_record(session, record.id)


def fix(
    session: Session,
    record_id: uuid.UUID | str,
    *,
    field_values: Mapping[str, str],
    actor: str,
    note: str,
    mappings: Mapping[str, SourceMapping] | None = None,
    as_of: dt.date | None = None,
) -> RecordDetail:
    """Correct raw cells of a quarantined row and accept it if it now passes standardisation.

    The corrected row (``raw_row`` with ``field_values`` applied) is standardised exactly as at
    ingest, through the source's current mapping. If it passes, the record gets the new
    canonical values and flags (plus ``manual_fix:<old reason>``), becomes ``fixed``, and gets
    one ``manual_fix`` fix per changed cell (field = the column header, old/new = raw cells)
    and the automatic fixes standardisation made. The batch moves one row from quarantined to
    fixed. Commits.

    Args:
        session: session on the platform database.
        record_id: the quarantined record.
        field_values: column header -> corrected raw cell.
        actor: who corrects (kept on every fix row).
        note: why (mandatory).
        mappings: source mappings by code; default :func:`available_mappings`.
        as_of: latest plausible date for the row (default today, as at ingest).

    Raises:
        UnknownRecordError, RecordNotQuarantinedError: as for :func:`release`.
        InvalidCorrectionError: no actor or note, no change, an unknown column, or a row that
            was never read as columns (re-deliver the file instead).
        StillQuarantinedError: the corrected row still fails; it names the new reason and
            nothing was changed.
    """
    actor, note = _require_actor_and_note(actor, note)
    if not field_values:
        raise InvalidCorrectionError("nothing to correct: give at least one header=value")
    with _unit_of_work(session):
        record = _load_quarantined(session, record_id)
        source_code = record.source.code
        mapping = (mappings if mappings is not None else available_mappings()).get(source_code)
        if mapping is None:
            raise InvalidCorrectionError(f"no mapping for source {source_code}")
        raw = record.raw_row
        if not isinstance(raw, dict) or not set(raw) & set(mapping.expected_headers()):
            raise InvalidCorrectionError(
                f"row {record.row_number} of {record.batch.file_name} was not read as columns "
                f"({record.quarantine_reason}): correct the file and deliver it again"
            )
        allowed = set(raw) | set(mapping.expected_headers())
        unknown = sorted(set(field_values) - allowed)
        if unknown:
            raise InvalidCorrectionError(
                f"unknown column(s) {', '.join(unknown)}; columns: {', '.join(sorted(allowed))}"
            )
        changed = {
            header: value
            for header, value in field_values.items()
            if _cell(raw.get(header)) != value
        }
        if not changed:
            raise InvalidCorrectionError("the values given equal the row as delivered")
        too_long = [header for header in changed if len(header) > MAX_FIELD]
        if too_long:
            raise InvalidCorrectionError(
                f"column header(s) longer than {MAX_FIELD} characters cannot be corrected here: "
                f"{', '.join(too_long)}; correct the file and deliver it again"
            )
        corrected = {**{h: _cell(v) for h, v in raw.items()}, **changed}
        standardised = standardise_batch(
            _one_row_batch(record, corrected),
            mapping,
            as_of=as_of or dt.date.today(),
            known_regions=set(session.scalars(sa.select(Region.code))) or None,
        )
        row = standardised.records.row(0, named=True)
        if row["_status"] == QUARANTINED:
            raise StillQuarantinedError(str(record.id), str(row["_reason"]), row["_message"])

        old_reason = record.quarantine_reason or ""
        now = utc_now()
        for header, value in changed.items():
            session.add(
                RecordFix(
                    record_id=record.id, field=header, old_value=_cell(raw.get(header)),
                    new_value=value, rule=ManualRule.MANUAL_FIX.value, actor=actor, note=note,
                    created_at=now,
                )
            )  # fmt: skip
        for automatic in standardised.fixes.iter_rows(named=True):
            session.add(
                RecordFix(
                    record_id=record.id, field=automatic["field"],
                    old_value=automatic["old_value"], new_value=automatic["new_value"],
                    rule=automatic["rule"], actor=None, note=AUTOMATIC_FIX_NOTE, created_at=now,
                )
            )  # fmt: skip
        _apply_canonical(record, row)
        record.flags = [*(row["_flags"] or []), f"{MANUAL_FIX_FLAG}:{old_reason}"]
        _leave_quarantine(session, record, RecordStatus.FIXED)
    return show_record(session, record.id)


# --- helpers ---------------------------------------------------------------------------------


@contextmanager
def _unit_of_work(session: Session) -> Iterator[None]:
    """Commit the caller's session when the block succeeds; roll it back when it raises."""
    try:
        yield
        session.commit()
    except BaseException:
        session.rollback()
        raise


def _require_actor_and_note(actor: str, note: str) -> tuple[str, str]:
    actor, note = (actor or "").strip(), (note or "").strip()
    if not actor:
        raise InvalidCorrectionError("an actor is required: who releases or fixes the record")
    if not note:
        raise InvalidCorrectionError("a note is required: say why the record may leave quarantine")
    if len(actor) > MAX_ACTOR:
        raise InvalidCorrectionError(f"actor is longer than {MAX_ACTOR} characters")
    return actor, note


def _uuid(value: uuid.UUID | str, error: type[Exception], what: str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise error(f"{value!r} is not a {what} id (a UUID)") from exc


def _load(session: Session, record_id: uuid.UUID | str, *, lock: bool) -> SourceRecord:
    record_uuid = _uuid(record_id, UnknownRecordError, "record")
    query = sa.select(SourceRecord).where(SourceRecord.id == record_uuid)
    if lock:
        # Two officers releasing the same row: the second waits, then sees it is no longer
        # quarantined (PostgreSQL; SQLite serialises writers anyway).
        query = query.with_for_update()
    # populate_existing: a record this session read earlier must show its current state.
    record = session.scalars(query.execution_options(populate_existing=True)).first()
    if record is None:
        raise UnknownRecordError(f"no source record {record_uuid}")
    return record


def _load_quarantined(session: Session, record_id: uuid.UUID | str) -> SourceRecord:
    record = _load(session, record_id, lock=True)
    if record.status != RecordStatus.QUARANTINED:
        raise RecordNotQuarantinedError(
            f"record {record.id} is {record.status.value}, not quarantined"
        )
    if record.batch.status != BatchStatus.COMMITTED:
        raise RecordNotQuarantinedError(
            f"record {record.id} belongs to a {record.batch.status.value} batch: work on the "
            "records of the batch that replaced it"
        )
    return record


def _leave_quarantine(session: Session, record: SourceRecord, status: RecordStatus) -> None:
    """Move the record and its batch's counters out of quarantine, then re-check conflicts."""
    record.status = status
    record.quarantine_reason = None
    record.quarantine_message = None
    counter = _COUNTER[status]
    session.execute(
        sa.update(IngestBatch)
        .where(IngestBatch.id == record.batch_id)
        .values(
            {
                IngestBatch.rows_quarantined: IngestBatch.rows_quarantined - 1,
                counter: counter + 1,
                IngestBatch.updated_at: utc_now(),
            }
        )
        .execution_options(synchronize_session=False)
    )
    session.flush()
    session.expire(record.batch)
    _flag_conflicts(session, record)


def _flag_conflicts(session: Session, record: SourceRecord) -> None:
    """Flag records of the batch that share this record's ID number but not its dob or sex.

    Ingest flags such conflicts among the records it accepts; a record leaving quarantine joins
    them, so the same check runs for its ID number.
    """
    if record.id_number is None:
        return
    conflict = f"id_number:{FlagIssue.CONFLICTING_RECORDS.value}"
    twins = session.scalars(
        sa.select(SourceRecord).where(
            SourceRecord.batch_id == record.batch_id,
            SourceRecord.id_number == record.id_number,
            SourceRecord.status != RecordStatus.QUARANTINED,
        )
    ).all()
    if len({t.birth_date for t in twins}) < 2 and len({t.sex for t in twins}) < 2:
        return
    for twin in twins:
        if conflict not in twin.flags:
            twin.flags = [*twin.flags, conflict]


def _cell(value: Any) -> str | None:
    """A raw cell as the text the readers produce (JSON lines may hold numbers or booleans)."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _one_row_batch(record: SourceRecord, row: dict[str, str | None]) -> RawBatch:
    columns = tuple(row)
    frame = pl.DataFrame(
        {
            **{header: pl.Series(header, [row[header]], dtype=pl.String) for header in columns},
            "_row_number": pl.Series("_row_number", [record.row_number], dtype=pl.Int64),
            "_raw": pl.Series("_raw", [json.dumps(row, ensure_ascii=False)], dtype=pl.String),
        }
    )
    return RawBatch(
        sheet=record.sheet or None,
        columns=columns,
        rows=frame,
        rejects=pl.DataFrame(schema=REJECT_SCHEMA),
    )


def _apply_canonical(record: SourceRecord, row: dict[str, Any]) -> None:
    """Copy the standardised values onto the record, as ingest stores them."""
    record.id_number = row.get("id_number")
    record.name = row.get("name")
    record.name_pinyin = row.get("name_pinyin")
    record.sex = _sex(row.get("sex"))
    record.birth_date = row.get("birth_date")
    record.region_code = row.get("region_code")
    record.attributes = {
        column: value.isoformat() if isinstance(value, date) else value
        for column, value in row.items()
        if not column.startswith("_")
        and column not in PERSON_COLUMNS
        and column != "name_pinyin"
        and value is not None
    }


def _sex(value: str | None) -> Sex | None:
    """The stored sex of a standardised value (``M``/``F`` as the ID rules code it)."""
    if value is None:
        return None
    return _SEX_CODES.get(value) or Sex(value)


def _detail(session: Session, record: SourceRecord) -> RecordDetail:
    fixes = session.scalars(
        sa.select(RecordFix)
        .where(RecordFix.record_id == record.id)
        .order_by(RecordFix.created_at, RecordFix.field, RecordFix.rule)
    ).all()
    provenance = session.execute(
        sa.select(RecordProvenance.sheet, RecordProvenance.row_number)
        .where(RecordProvenance.record_id == record.id)
        .order_by(RecordProvenance.sheet, RecordProvenance.row_number)
    ).all()
    label_zh, label_en = reason_labels(record.quarantine_reason)
    return RecordDetail(
        record_id=record.id,
        source=record.source.code,
        source_zh=record.source.name_zh,
        source_en=record.source.name_en,
        batch_id=record.batch_id,
        batch_status=record.batch.status.value,
        file_name=record.batch.file_name,
        sheet=record.sheet,
        row_number=record.row_number,
        status=record.status.value,
        reason=record.quarantine_reason,
        label_zh=label_zh if record.quarantine_reason else "",
        label_en=label_en if record.quarantine_reason else "",
        message=record.quarantine_message,
        flags=list(record.flags or []),
        id_number=record.id_number,
        name=record.name,
        name_pinyin=record.name_pinyin,
        sex=record.sex.value if record.sex is not None else None,
        birth_date=record.birth_date,
        region_code=record.region_code,
        attributes=dict(record.attributes or {}),
        raw_row=dict(record.raw_row) if isinstance(record.raw_row, dict) else {},
        fixes=[
            FixRead(
                field=f.field,
                old_value=f.old_value,
                new_value=f.new_value,
                rule=f.rule,
                label_zh=rule_labels(f.rule)[0],
                label_en=rule_labels(f.rule)[1],
                actor=f.actor,
                note=f.note,
                created_at=f.created_at,
            )
            for f in fixes
        ],
        provenance=[ProvenanceRead(sheet=sheet, row_number=number) for sheet, number in provenance],
    )
