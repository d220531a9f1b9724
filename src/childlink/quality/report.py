"""Data-quality reports: what became of every delivered row, per source and per batch.

The report proves that ingest lost nothing: for every batch, the rows read must equal the sum
of accepted, fixed, quarantined and duplicate rows, must equal the number of provenance rows
(one per input row) and the batch counters must match the records actually stored. Around
that it explains quality: why rows were quarantined, which fixes were applied, which flags
records carry, how complete and valid each field is, and how a source improves over time.

Every number is computed by the database (``GROUP BY``); only aggregate rows and a bounded
sample of quarantined rows are loaded into Python, so a report over millions of records is
as cheap as the indexes allow.

Three renderings: :func:`render_text` (Rich tables for the terminal),
:meth:`QualityReport.to_json` (for scripts) and :func:`render_html` (one self-contained page
to mail or archive: inline CSS, no scripts, no external assets).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from jinja2 import Environment, PackageLoader
from pydantic import BaseModel, ConfigDict, computed_field
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy.orm import Session

from childlink.ingest.reasons import FixRule, QuarantineReason
from childlink.ingest.schema import CANONICAL_FIELDS
from childlink.quality.choices import MANUAL_FIX_FLAG, RELEASED_FLAG, FlagIssue, ManualRule
from childlink.quality.errors import UnknownBatchError, UnknownSourceError
from childlink.quality.models import BatchFieldQuality
from childlink.sources.choices import BatchStatus, RecordStatus
from childlink.sources.models import (
    DataSource,
    Department,
    IngestBatch,
    RecordFix,
    RecordProvenance,
    SourceRecord,
)
from childlink.store.base import utc_now
from childlink.store.enums import LabelledStrEnum

DEFAULT_SAMPLES = 5
"""Quarantined rows shown per batch, so a reader sees what the reasons look like in the data."""

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet evaluate a cell (OWASP "CSV injection")."""

_FIELD_ORDER = {name: index for index, name in enumerate(CANONICAL_FIELDS)}
_ACTION_FLAGS = {RELEASED_FLAG: ManualRule.MANUAL_RELEASE, MANUAL_FIX_FLAG: ManualRule.MANUAL_FIX}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class LabelledCount(_Frozen):
    """How often one coded value (a quarantine reason or a fix rule) occurs."""

    code: str
    label_zh: str
    label_en: str
    count: int
    records: int | None = None
    """For fix rules: distinct records fixed (a record can get the same rule on two fields)."""


class FlagCount(_Frozen):
    """How many records carry one flag ``field:issue``."""

    flag: str
    field: str
    issue: str
    label_zh: str
    label_en: str
    count: int


class FieldQuality(_Frozen):
    """Completeness and validity of one canonical field, as delivered (before manual work)."""

    field: str
    label_zh: str
    label_en: str
    rows: int
    present: int
    valid: int
    fixed: int
    invalid: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def completeness(self) -> float | None:
        """Share of rows with a value (present / rows)."""
        return _share(self.present, self.rows)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def validity(self) -> float | None:
        """Share of present values that are valid, possibly after a fix (valid / present)."""
        return _share(self.valid, self.present)


class Counts(_Frozen):
    """Batch counters beside what the database actually holds for the batch."""

    rows_in: int
    accepted: int
    fixed: int
    quarantined: int
    duplicate: int
    provenance_rows: int
    records_accepted: int
    records_fixed: int
    records_quarantined: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def counts_add_up(self) -> bool:
        """rows_in = accepted + fixed + quarantined + duplicate."""
        return self.rows_in == self.accepted + self.fixed + self.quarantined + self.duplicate

    @computed_field  # type: ignore[prop-decorator]
    @property
    def provenance_complete(self) -> bool:
        """rows_in = provenance rows: every input row is traceable to a record."""
        return self.rows_in == self.provenance_rows

    @computed_field  # type: ignore[prop-decorator]
    @property
    def records_match(self) -> bool:
        """The counters equal the stored records per status (and the rows they stand for)."""
        records = self.records_accepted + self.records_fixed + self.records_quarantined
        return (self.accepted, self.fixed, self.quarantined) == (
            self.records_accepted,
            self.records_fixed,
            self.records_quarantined,
        ) and self.duplicate == self.provenance_rows - records

    @computed_field  # type: ignore[prop-decorator]
    @property
    def reconciles(self) -> bool:
        """All three checks hold: no row was lost, invented or counted twice."""
        return self.counts_add_up and self.provenance_complete and self.records_match


class Duplicates(_Frozen):
    """Exact duplicate rows (collapsed into the record of their first occurrence)."""

    rows: int
    records_with_duplicates: int


class Contradictions(_Frozen):
    """Rows whose fields disagree with their own ID number, or records disagreeing together."""

    dob_contradicts_id: int
    sex_contradicts_id: int
    conflicting_records: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total(self) -> int:
        return self.dob_contradicts_id + self.sex_contradicts_id + self.conflicting_records


class QualitySummary(_Frozen):
    """Everything known about the quality of one batch, or of a source's batches together."""

    counts: Counts
    quarantine_reasons: list[LabelledCount]
    fix_rules: list[LabelledCount]
    flags: list[FlagCount]
    fields: list[FieldQuality]
    duplicates: Duplicates
    contradictions: Contradictions

    @computed_field  # type: ignore[prop-decorator]
    @property
    def reconciles(self) -> bool:
        return self.counts.reconciles


class QuarantineSample(_Frozen):
    """One quarantined row shown as an example (identifiable: the raw row is verbatim)."""

    record_id: uuid.UUID
    sheet: str
    row_number: int
    reason: str | None
    label_zh: str
    label_en: str
    message: str | None
    raw_row: dict[str, Any]


class BatchQuality(_Frozen):
    """One batch in full detail."""

    batch_id: uuid.UUID
    file_name: str
    status: str
    status_zh: str
    status_en: str
    mapping_version: str
    encoding: str | None
    started_at: datetime
    finished_at: datetime | None
    supersedes_batch_id: uuid.UUID | None
    error_message: str | None
    summary: QualitySummary
    samples: list[QuarantineSample]


class BatchListing(_Frozen):
    """A batch outside the report's scope (superseded, failed or pending): status and counters."""

    batch_id: uuid.UUID
    file_name: str
    status: str
    status_zh: str
    status_en: str
    started_at: datetime
    rows_in: int
    accepted: int
    fixed: int
    quarantined: int
    duplicate: int
    error_message: str | None


class TrendPoint(_Frozen):
    """One batch in a source's history; shares are of the rows read."""

    batch_id: uuid.UUID
    file_name: str
    started_at: datetime
    rows_in: int
    usable_share: float | None
    """(accepted + fixed) / rows_in."""
    quarantine_share: float | None
    """quarantined / rows_in."""


class SourceQuality(_Frozen):
    """One data source: its batches (newest first), their totals and its trend (oldest first)."""

    code: str
    name_zh: str
    name_en: str
    department_code: str
    department_zh: str
    department_en: str
    summary: QualitySummary
    batches: list[BatchQuality]
    other_batches: list[BatchListing]
    trend: list[TrendPoint]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def reconciles(self) -> bool:
        return all(batch.summary.reconciles for batch in self.batches)


class QualityReport(_Frozen):
    """The data-quality report; JSON-serialisable as it stands."""

    generated_at: datetime
    source: str | None
    batch_id: uuid.UUID | None
    sources: list[SourceQuality]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def reconciles(self) -> bool:
        """Every batch in the report reconciles."""
        return all(source.reconciles for source in self.sources)

    def to_json(self, *, indent: int | None = 2) -> str:
        """The report as JSON (UTF-8, Chinese labels kept readable)."""
        return self.model_dump_json(indent=indent)


def build_report(
    session: Session,
    *,
    batch_id: uuid.UUID | str | None = None,
    source: str | None = None,
    samples: int = DEFAULT_SAMPLES,
) -> QualityReport:
    """Build the quality report of committed batches, per source.

    Args:
        session: a session on the platform database (only read).
        batch_id: report this one batch, whatever its status.
        source: report only this data source (its code, e.g. ``education.student_registry``).
        samples: quarantined rows shown per batch; 0 leaves identifiable rows out of the report.

    Raises:
        UnknownSourceError: no data source has the code ``source``.
        UnknownBatchError: no batch has the id ``batch_id`` (or it is not of ``source``).
    """
    batch_uuid = _parse_uuid(batch_id) if batch_id is not None else None
    sources_query = (
        sa.select(DataSource, Department)
        .join(Department, DataSource.department_id == Department.id)
        .order_by(DataSource.code)
    )
    if source is not None:
        sources_query = sources_query.where(DataSource.code == source)
        if session.scalar(sa.select(DataSource.id).where(DataSource.code == source)) is None:
            raise UnknownSourceError(f"no data source has the code {source!r}")
    batch_filter: list[sa.ColumnElement[bool]] = []
    if batch_uuid is not None:
        found = session.get(IngestBatch, batch_uuid)
        if found is None or (source is not None and found.source.code != source):
            where = f" of source {source}" if source is not None else ""
            raise UnknownBatchError(f"no ingest batch {batch_uuid}{where}")
        batch_filter.append(IngestBatch.id == batch_uuid)
        sources_query = sources_query.where(DataSource.id == found.source_id)
    elif source is None:
        sources_query = sources_query.where(
            sa.exists().where(IngestBatch.source_id == DataSource.id)
        )

    sources = session.execute(sources_query).all()
    source_ids = [row[0].id for row in sources]
    batches = (
        session.scalars(
            sa.select(IngestBatch)
            .where(IngestBatch.source_id.in_(source_ids), *batch_filter)
            .order_by(IngestBatch.started_at.desc(), IngestBatch.id)
            # Counters change under a long-lived session (releases, fixes): read them afresh.
            .execution_options(populate_existing=True)
        ).all()
        if source_ids
        else []
    )
    in_detail = [b for b in batches if batch_uuid is not None or b.status == BatchStatus.COMMITTED]
    aggregates = _Aggregates.load(session, [b.id for b in in_detail], samples)

    report_sources: list[SourceQuality] = []
    for data_source, department in sources:
        own = [b for b in in_detail if b.source_id == data_source.id]
        detailed = [_batch_quality(batch, aggregates) for batch in own]
        others = [
            _batch_listing(b) for b in batches if b.source_id == data_source.id and b not in own
        ]
        report_sources.append(
            SourceQuality(
                code=data_source.code,
                name_zh=data_source.name_zh,
                name_en=data_source.name_en,
                department_code=department.code,
                department_zh=department.name_zh,
                department_en=department.name_en,
                summary=aggregates.summary([b.id for b in own], {b.id: b for b in own}),
                batches=detailed,
                other_batches=others,
                trend=[_trend_point(b) for b in reversed(own)],
            )
        )
    return QualityReport(
        generated_at=utc_now(), source=source, batch_id=batch_uuid, sources=report_sources
    )


class _Aggregates:
    """Per-batch aggregate rows, each loaded by one GROUP BY query over the batches in scope."""

    def __init__(self) -> None:
        self.provenance: dict[uuid.UUID, int] = defaultdict(int)
        self.duplicate_groups: dict[uuid.UUID, int] = defaultdict(int)
        self.statuses: dict[uuid.UUID, dict[str, int]] = defaultdict(dict)
        self.reasons: dict[uuid.UUID, dict[str, int]] = defaultdict(dict)
        self.fixes: dict[uuid.UUID, dict[str, tuple[int, int]]] = defaultdict(dict)
        self.flags: dict[uuid.UUID, dict[str, int]] = defaultdict(dict)
        self.fields: dict[uuid.UUID, dict[str, tuple[int, int, int, int, int]]] = defaultdict(dict)
        self.samples: dict[uuid.UUID, list[QuarantineSample]] = defaultdict(list)

    @classmethod
    def load(cls, session: Session, batch_ids: list[uuid.UUID], samples: int) -> _Aggregates:
        loaded = cls()
        if not batch_ids:
            return loaded
        record_in = SourceRecord.batch_id.in_(batch_ids)
        provenance_in = RecordProvenance.batch_id.in_(batch_ids)
        count = sa.func.count()

        for batch, n in session.execute(
            sa.select(RecordProvenance.batch_id, count)
            .where(provenance_in)
            .group_by(RecordProvenance.batch_id)
        ):
            loaded.provenance[batch] = n

        groups = (
            sa.select(RecordProvenance.batch_id)
            .where(provenance_in)
            .group_by(RecordProvenance.batch_id, RecordProvenance.record_id)
            .having(count > 1)
            .subquery()
        )
        for batch, n in session.execute(
            sa.select(groups.c.batch_id, count).group_by(groups.c.batch_id)
        ):
            loaded.duplicate_groups[batch] = n

        for batch, status, n in session.execute(
            sa.select(SourceRecord.batch_id, SourceRecord.status, count)
            .where(record_in)
            .group_by(SourceRecord.batch_id, SourceRecord.status)
        ):
            loaded.statuses[batch][str(status)] = n

        for batch, reason, n in session.execute(
            sa.select(SourceRecord.batch_id, SourceRecord.quarantine_reason, count)
            .where(record_in, SourceRecord.status == RecordStatus.QUARANTINED)
            .group_by(SourceRecord.batch_id, SourceRecord.quarantine_reason)
        ):
            loaded.reasons[batch][reason or ""] = n

        for batch, rule, n, records in session.execute(
            sa.select(
                SourceRecord.batch_id,
                RecordFix.rule,
                count,
                sa.func.count(sa.distinct(RecordFix.record_id)),
            )
            .join(SourceRecord, RecordFix.record_id == SourceRecord.id)
            .where(record_in)
            .group_by(SourceRecord.batch_id, RecordFix.rule)
        ):
            loaded.fixes[batch][rule] = (n, records)

        for batch, flag, n in session.execute(_flag_counts_query(session, batch_ids)):
            loaded.flags[batch][flag] = n

        for row in session.scalars(
            sa.select(BatchFieldQuality).where(BatchFieldQuality.batch_id.in_(batch_ids))
        ):
            loaded.fields[row.batch_id][row.field] = (
                row.rows, row.present, row.valid, row.fixed, row.invalid,
            )  # fmt: skip

        if samples > 0:
            loaded._load_samples(session, batch_ids, samples)
        return loaded

    def _load_samples(self, session: Session, batch_ids: list[uuid.UUID], limit: int) -> None:
        position = (
            sa.func.row_number()
            .over(
                partition_by=SourceRecord.batch_id,
                order_by=(SourceRecord.sheet, SourceRecord.row_number),
            )
            .label("position")
        )
        ranked = (
            sa.select(SourceRecord.id, position)
            .where(
                SourceRecord.batch_id.in_(batch_ids),
                SourceRecord.status == RecordStatus.QUARANTINED,
            )
            .subquery()
        )
        rows = session.scalars(
            sa.select(SourceRecord)
            .join(ranked, ranked.c.id == SourceRecord.id)
            .where(ranked.c.position <= limit)
            .order_by(SourceRecord.batch_id, SourceRecord.sheet, SourceRecord.row_number)
        )
        for record in rows:
            label_zh, label_en = reason_labels(record.quarantine_reason)
            self.samples[record.batch_id].append(
                QuarantineSample(
                    record_id=record.id,
                    sheet=record.sheet,
                    row_number=record.row_number,
                    reason=record.quarantine_reason,
                    label_zh=label_zh,
                    label_en=label_en,
                    message=record.quarantine_message,
                    raw_row=dict(record.raw_row),
                )
            )

    def summary(
        self, batch_ids: list[uuid.UUID], batches: Mapping[uuid.UUID, IngestBatch]
    ) -> QualitySummary:
        """The summary of these batches together (one batch: that batch's summary)."""
        statuses = _merge(self.statuses[b] for b in batch_ids)
        counts = Counts(
            rows_in=sum(batches[b].rows_in for b in batch_ids),
            accepted=sum(batches[b].rows_accepted for b in batch_ids),
            fixed=sum(batches[b].rows_fixed for b in batch_ids),
            quarantined=sum(batches[b].rows_quarantined for b in batch_ids),
            duplicate=sum(batches[b].rows_duplicate for b in batch_ids),
            provenance_rows=sum(self.provenance[b] for b in batch_ids),
            records_accepted=statuses.get(RecordStatus.ACCEPTED.value, 0),
            records_fixed=statuses.get(RecordStatus.FIXED.value, 0),
            records_quarantined=statuses.get(RecordStatus.QUARANTINED.value, 0),
        )
        reasons = _merge(self.reasons[b] for b in batch_ids)
        flags = _merge(self.flags[b] for b in batch_ids)
        fixes: dict[str, tuple[int, int]] = {}
        for b in batch_ids:
            for rule, (n, records) in self.fixes[b].items():
                before = fixes.get(rule, (0, 0))
                fixes[rule] = (before[0] + n, before[1] + records)
        fields: dict[str, list[int]] = {}
        for b in batch_ids:
            for field, values in self.fields[b].items():
                total = fields.setdefault(field, [0, 0, 0, 0, 0])
                for index, value in enumerate(values):
                    total[index] += value
        return QualitySummary(
            counts=counts,
            quarantine_reasons=[
                LabelledCount(code=code, label_zh=zh, label_en=en, count=n)
                for code, n in _by_count(reasons)
                for zh, en in [reason_labels(code)]
            ],
            fix_rules=[
                LabelledCount(code=rule, label_zh=zh, label_en=en, count=n, records=records)
                for rule, (n, records) in sorted(fixes.items(), key=lambda i: (-i[1][0], i[0]))
                for zh, en in [rule_labels(rule)]
            ],
            flags=[_flag_count(flag, n) for flag, n in _by_count(flags)],
            fields=[
                _field_quality(field, values)
                for field, values in sorted(
                    fields.items(), key=lambda i: (_FIELD_ORDER.get(i[0], len(_FIELD_ORDER)), i[0])
                )
            ],
            duplicates=Duplicates(
                rows=counts.duplicate,
                records_with_duplicates=sum(self.duplicate_groups[b] for b in batch_ids),
            ),
            contradictions=Contradictions(
                dob_contradicts_id=reasons.get(QuarantineReason.DOB_CONTRADICTS_ID.value, 0),
                sex_contradicts_id=reasons.get(QuarantineReason.SEX_CONTRADICTS_ID.value, 0),
                conflicting_records=sum(
                    n
                    for flag, n in flags.items()
                    if flag.partition(":")[2] == FlagIssue.CONFLICTING_RECORDS.value
                ),
            ),
        )


def _flag_counts_query(session: Session, batch_ids: list[uuid.UUID]) -> sa.Select[Any]:
    """Records per flag and batch: the flags JSON array is unnested by the database."""
    if session.get_bind().dialect.name == "postgresql":
        elements = sa.func.jsonb_array_elements_text(SourceRecord.flags).table_valued(
            "value", name="flag"
        )
    else:
        elements = sa.func.json_each(SourceRecord.flags).table_valued("value", name="flag")
    flag = elements.c.value
    return (
        sa.select(SourceRecord.batch_id, flag, sa.func.count(sa.distinct(SourceRecord.id)))
        .select_from(SourceRecord)
        .join(elements, sa.true())
        .where(SourceRecord.batch_id.in_(batch_ids))
        .group_by(SourceRecord.batch_id, flag)
    )


def _batch_quality(batch: IngestBatch, aggregates: _Aggregates) -> BatchQuality:
    return BatchQuality(
        batch_id=batch.id,
        file_name=batch.file_name,
        status=batch.status.value,
        status_zh=batch.status.label_zh,
        status_en=batch.status.label_en,
        mapping_version=batch.mapping_version,
        encoding=batch.encoding,
        started_at=batch.started_at,
        finished_at=batch.finished_at,
        supersedes_batch_id=batch.supersedes_batch_id,
        error_message=batch.error_message,
        summary=aggregates.summary([batch.id], {batch.id: batch}),
        samples=aggregates.samples[batch.id],
    )


def _batch_listing(batch: IngestBatch) -> BatchListing:
    return BatchListing(
        batch_id=batch.id,
        file_name=batch.file_name,
        status=batch.status.value,
        status_zh=batch.status.label_zh,
        status_en=batch.status.label_en,
        started_at=batch.started_at,
        rows_in=batch.rows_in,
        accepted=batch.rows_accepted,
        fixed=batch.rows_fixed,
        quarantined=batch.rows_quarantined,
        duplicate=batch.rows_duplicate,
        error_message=batch.error_message,
    )


def _trend_point(batch: IngestBatch) -> TrendPoint:
    return TrendPoint(
        batch_id=batch.id,
        file_name=batch.file_name,
        started_at=batch.started_at,
        rows_in=batch.rows_in,
        usable_share=_share(batch.rows_accepted + batch.rows_fixed, batch.rows_in),
        quarantine_share=_share(batch.rows_quarantined, batch.rows_in),
    )


def _field_quality(field: str, values: list[int]) -> FieldQuality:
    spec = CANONICAL_FIELDS.get(field)
    rows, present, valid, fixed, invalid = values
    return FieldQuality(
        field=field,
        label_zh=spec.label_zh if spec else field,
        label_en=spec.label_en if spec else field,
        rows=rows,
        present=present,
        valid=valid,
        fixed=fixed,
        invalid=invalid,
    )


def _flag_count(flag: str, n: int) -> FlagCount:
    field, _, issue = flag.partition(":")
    label_zh, label_en = _labels(issue, QuarantineReason, FlagIssue)
    spec = CANONICAL_FIELDS.get(field)
    if spec is not None:
        label_zh, label_en = f"{spec.label_zh}：{label_zh}", f"{spec.label_en}: {label_en}"
    elif field in _ACTION_FLAGS:
        action = _ACTION_FLAGS[field]
        label_zh, label_en = f"{action.label_zh}：{label_zh}", f"{action.label_en}: {label_en}"
    return FlagCount(
        flag=flag, field=field, issue=issue, label_zh=label_zh, label_en=label_en, count=n
    )


def reason_labels(code: str | None) -> tuple[str, str]:
    """Chinese and English label of a quarantine reason code (the code if it is unknown)."""
    return _labels(code or "", QuarantineReason)


def rule_labels(code: str) -> tuple[str, str]:
    """Chinese and English label of a fix rule, automatic or manual."""
    return _labels(code, FixRule, ManualRule)


def _labels(code: str, *enums: type[LabelledStrEnum]) -> tuple[str, str]:
    for enum in enums:
        try:
            member = enum(code)
        except ValueError:
            continue
        return member.label_zh, member.label_en
    return code, code


def _merge(parts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    total: dict[str, int] = defaultdict(int)
    for part in parts:
        for key, value in part.items():
            total[key] += value
    return dict(total)


def _by_count(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _parse_uuid(value: uuid.UUID | str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(value)
    except ValueError as error:
        raise UnknownBatchError(f"{value!r} is not a batch id (a UUID)") from error


# --- text ------------------------------------------------------------------------------------


def render_text(report: QualityReport, console: Console) -> None:
    """Print the report as Rich tables (source totals, batches, then the quality details)."""
    if not report.sources:
        console.print("no ingested batches", highlight=False)
        return
    for source in report.sources:
        _print_source(source, console)
    verdict = (
        "[green]all batches reconcile[/]"
        if report.reconciles
        else ("[bold red]some batches do NOT reconcile[/]")
    )
    console.print(verdict)


def _print_source(source: SourceQuality, console: Console) -> None:
    console.rule(
        Text(f"{source.name_zh} {source.name_en} ({source.code}) · {source.department_zh}")
    )
    batches = Table(title="批次 Batches", title_justify="left")
    for column in ("batch", "file", "started", "status"):
        batches.add_column(column)
    for column in ("in", "accepted", "fixed", "quarantined", "duplicate"):
        batches.add_column(column, justify="right")
    batches.add_column("reconciles")
    for batch in source.batches:
        counts = batch.summary.counts
        batches.add_row(
            str(batch.batch_id)[:8], Text(batch.file_name), f"{batch.started_at:%Y-%m-%d %H:%M}",
            batch.status_zh, *_numbers(counts.rows_in, counts.accepted, counts.fixed,
                                       counts.quarantined, counts.duplicate),
            _check(counts.reconciles),
        )  # fmt: skip
    for other in source.other_batches:
        batches.add_row(
            str(other.batch_id)[:8], Text(other.file_name), f"{other.started_at:%Y-%m-%d %H:%M}",
            other.status_zh, *_numbers(other.rows_in, other.accepted, other.fixed,
                                       other.quarantined, other.duplicate),
            Text(other.error_message or "—", style="dim"),
        )  # fmt: skip
    console.print(batches)
    if not source.batches:
        return
    summary = source.summary
    counts = summary.counts
    console.print(
        Text(
            f"rows {counts.rows_in:,} = accepted {counts.accepted:,} + fixed {counts.fixed:,} + "
            f"quarantined {counts.quarantined:,} + duplicate {counts.duplicate:,}; "
            f"provenance rows {counts.provenance_rows:,}"
        ),
        _check(counts.reconciles),
    )
    _print_counts(console, "隔离原因 Quarantine reasons", summary.quarantine_reasons)
    _print_counts(console, "修正规则 Fix rules", summary.fix_rules)
    if summary.flags:
        flags = Table(title="记录标记 Record flags", title_justify="left")
        for column in ("field", "issue", "label", "records"):
            flags.add_column(column, justify="right" if column == "records" else "left")
        for flag in summary.flags:
            flags.add_row(Text(flag.field), Text(flag.issue), Text(flag.label_zh),
                          f"{flag.count:,}")  # fmt: skip
        console.print(flags)
    if summary.fields:
        fields = Table(title="字段质量 Field quality", title_justify="left")
        fields.add_column("field")
        for column in ("rows", "present", "complete", "valid", "validity", "fixed", "invalid"):
            fields.add_column(column, justify="right")
        for field in summary.fields:
            fields.add_row(
                Text(f"{field.label_zh} {field.field}"), *_numbers(field.rows, field.present),
                _percent(field.completeness), f"{field.valid:,}", _percent(field.validity),
                *_numbers(field.fixed, field.invalid),
            )  # fmt: skip
        console.print(fields)
    contradictions = summary.contradictions
    console.print(
        Text(
            f"duplicates: {summary.duplicates.rows:,} row(s) into "
            f"{summary.duplicates.records_with_duplicates:,} record(s); contradictions: "
            f"dob≠ID {contradictions.dob_contradicts_id:,}, sex≠ID "
            f"{contradictions.sex_contradicts_id:,}, conflicting records "
            f"{contradictions.conflicting_records:,}"
        )
    )
    if len(source.trend) > 1:
        trend = Table(title="趋势 Trend", title_justify="left")
        for column in ("started", "file", "rows", "usable", "quarantined"):
            trend.add_column(column, justify="right" if column != "file" else "left")
        for point in source.trend:
            trend.add_row(
                f"{point.started_at:%Y-%m-%d}", Text(point.file_name), f"{point.rows_in:,}",
                _percent(point.usable_share), _percent(point.quarantine_share),
            )  # fmt: skip
        console.print(trend)


def _print_counts(console: Console, title: str, counts: list[LabelledCount]) -> None:
    if not counts:
        return
    table = Table(title=title, title_justify="left")
    for column in ("code", "label", "count"):
        table.add_column(column, justify="right" if column == "count" else "left")
    for item in counts:
        table.add_row(Text(item.code), Text(f"{item.label_zh} / {item.label_en}"),
                      f"{item.count:,}")  # fmt: skip
    console.print(table)


def _numbers(*values: int) -> list[str]:
    return [f"{value:,}" for value in values]


def _percent(share: float | None) -> str:
    return "—" if share is None else f"{share:.1%}"


def _check(ok: bool) -> Text:
    return Text("✓ reconciles", style="green") if ok else Text("✗ does not", style="bold red")


# --- HTML ------------------------------------------------------------------------------------


def render_html(report: QualityReport) -> str:
    """The report as one self-contained HTML page (inline CSS, no scripts, no external assets).

    Every value is HTML-escaped by Jinja2's autoescape, and every text taken from delivered
    data passes :func:`spreadsheet_safe`, so a cell like ``=HYPERLINK(...)`` stays text even
    when the page is opened in or pasted into a spreadsheet.
    """
    return _environment().get_template("report.html.j2").render(report=report)


def spreadsheet_safe(value: object) -> str:
    """Text a spreadsheet will not evaluate: a leading ``= + - @`` (or tab/CR) gets a ``'``."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_PREFIXES) else text


def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("childlink.quality", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["cell"] = spreadsheet_safe
    environment.filters["percent"] = _percent
    environment.filters["number"] = lambda value: f"{value:,}"
    return environment
