"""A hand-made welfare roll with known defects, and checks shared by the quality tests.

Every name below is invented. The file is small enough that each expected outcome is written
down here, so tests can compare the report both with numbers known in advance and with direct
counts from the database (:func:`assert_matches_direct_counts`).
"""

from __future__ import annotations

import csv
import datetime as dt
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from childlink.core.id_number import compose
from childlink.ingest.mapping import SourceMapping
from childlink.ingest.service import IngestResult
from childlink.quality.models import BatchFieldQuality
from childlink.quality.report import QualityReport
from childlink.sources.models import IngestBatch, RecordFix, RecordProvenance, SourceRecord

SOURCE = "civil_affairs.welfare_rolls"
AS_OF = dt.date(2026, 6, 30)
HEADER = ["序号", "姓名", "身份证号码", "性别", "出生日期", "救助类别", "家庭住址"]
REGION = "522799"
SCRIPT_NAME = "<script>alert(1)</script>"
FORMULA_PROGRAMME = '=HYPERLINK("evil.example","点我")'
FORMULA_ADDRESS = "=1+2"


def _id_ending_in_x(birth: dt.date) -> str:
    return next(
        number
        for number in (compose(REGION, birth, n) for n in range(1, 999, 2))
        if number.endswith("X")
    )


ID_OK = compose(REGION, dt.date(2015, 3, 2), 11)  # male
ID_OK_2 = compose(REGION, dt.date(2016, 4, 5), 22)  # female
ID_CONTRADICTED = compose(REGION, dt.date(2012, 5, 1), 33)  # male
ID_SCRIPT = compose(REGION, dt.date(2014, 1, 9), 44)  # female
ID_FORMULA = compose(REGION, dt.date(2013, 8, 8), 55)  # male
ID_LOWER_X = _id_ending_in_x(dt.date(2011, 2, 3))  # male

ROWS: list[list[str]] = [
    # 1 accepted; the formula-like address stays text and is flagged
    ["1", "王小明", ID_OK, "男", "2015-03-02", "低保", FORMULA_ADDRESS],
    # 2 exact duplicate of row 1 (序号 is ignored)
    ["2", "王小明", ID_OK, "男", "2015-03-02", "低保", FORMULA_ADDRESS],
    # 3 date of birth contradicts the ID number -> quarantined (dob_contradicts_id)
    ["3", "李红", ID_CONTRADICTED, "男", "2013-07-09", "特困", "示例村1号"],
    # 4 a name that is markup -> quarantined (name_invalid)
    ["4", SCRIPT_NAME, ID_SCRIPT, "女", "2014-01-09", "低保", "示例村2号"],
    # 5 programme not in the code list, and formula-like -> quarantined (code_unknown)
    ["5", "赵强", ID_FORMULA, "男", "2013-08-08", FORMULA_PROGRAMME, "示例村3号"],
    # 6 name missing -> quarantined (required_missing)
    ["6", "", ID_OK_2, "女", "2016-04-05", "低保", "示例村4号"],
    # 7 fixable: lower-case x (the Chinese date is a format, not a fix) -> fixed
    ["7", "孙丽", ID_LOWER_X.lower(), "男", "2011年2月3日", "孤儿基本生活费", "示例村5号"],
    # 8 accepted
    ["8", "周芳", ID_OK_2, "女", "2016-04-05", "低保", "示例村6号"],
    # 9 accepted; same ID as row 3 with the ID's own birth date (conflicts once 3 is released)
    ["9", "李红", ID_CONTRADICTED, "男", "2012-05-01", "特困", "示例村1号"],
]
QUARANTINED_ROWS = {
    3: "dob_contradicts_id",
    4: "name_invalid",
    5: "code_unknown",
    6: "required_missing",
}


@dataclass(frozen=True)
class Ingested:
    """The ingested welfare roll: its result, a session factory and the mapping used."""

    result: IngestResult
    factory: sessionmaker[Session]
    mapping: SourceMapping
    path: Path

    @property
    def batch_id(self) -> uuid.UUID:
        return uuid.UUID(self.result.batch_id)

    def record_at(self, row_number: int) -> SourceRecord:
        """The record of a delivered row (its first occurrence), read in a fresh session."""
        with self.factory() as session:
            record = session.scalars(
                sa.select(SourceRecord).where(
                    SourceRecord.batch_id == self.batch_id,
                    SourceRecord.row_number == row_number,
                )
            ).one()
            session.expunge(record)
            return record

    def batch(self) -> IngestBatch:
        with self.factory() as session:
            batch = session.get_one(IngestBatch, self.batch_id)
            session.expunge(batch)
            return batch

    def fixes_of(self, record_id: uuid.UUID) -> list[RecordFix]:
        with self.factory() as session:
            fixes = list(
                session.scalars(sa.select(RecordFix).where(RecordFix.record_id == record_id))
            )
            session.expunge_all()
            return fixes


def write_roll(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def batch_counts(batch: IngestBatch) -> tuple[int, int, int, int, int]:
    return (
        batch.rows_in, batch.rows_accepted, batch.rows_fixed, batch.rows_quarantined,
        batch.rows_duplicate,
    )  # fmt: skip


def assert_matches_direct_counts(session: Session, report: QualityReport) -> None:
    """Every batch of the report against counts taken here from the records themselves."""
    for source in report.sources:
        for batch in source.batches:
            stored = session.get_one(IngestBatch, batch.batch_id)
            records = list(
                session.scalars(sa.select(SourceRecord).where(SourceRecord.batch_id == stored.id))
            )
            provenance = session.scalar(
                sa.select(sa.func.count()).where(RecordProvenance.batch_id == stored.id)
            )
            statuses = Counter(r.status.value for r in records)
            counts = batch.summary.counts
            assert (counts.rows_in, counts.accepted, counts.fixed, counts.quarantined,
                    counts.duplicate) == batch_counts(stored)  # fmt: skip
            assert counts.provenance_rows == provenance
            assert counts.records_accepted == statuses["accepted"]
            assert counts.records_fixed == statuses["fixed"]
            assert counts.records_quarantined == statuses["quarantined"]
            # Reconciliation checked here independently of the report's own arithmetic.
            assert stored.rows_in == provenance
            assert stored.rows_in == sum(batch_counts(stored)[1:])
            assert stored.rows_duplicate == provenance - len(records)
            assert batch.summary.reconciles

            reasons = Counter(
                r.quarantine_reason for r in records if r.status.value == "quarantined"
            )
            assert {c.code: c.count for c in batch.summary.quarantine_reasons} == reasons
            flags = Counter(flag for r in records for flag in set(r.flags))
            assert {f.flag: f.count for f in batch.summary.flags} == flags
            record_ids = {r.id for r in records}
            fixes = [
                fix for fix in session.scalars(sa.select(RecordFix)) if fix.record_id in record_ids
            ]
            assert {c.code: c.count for c in batch.summary.fix_rules} == Counter(
                fix.rule for fix in fixes
            )
            fields = {
                q.field: (q.rows, q.present, q.valid, q.fixed, q.invalid)
                for q in session.scalars(
                    sa.select(BatchFieldQuality).where(BatchFieldQuality.batch_id == stored.id)
                )
            }
            assert {
                f.field: (f.rows, f.present, f.valid, f.fixed, f.invalid)
                for f in batch.summary.fields
            } == fields
            contradictions = batch.summary.contradictions
            assert contradictions.dob_contradicts_id == reasons["dob_contradicts_id"]
            assert contradictions.sex_contradicts_id == reasons["sex_contradicts_id"]
            assert contradictions.conflicting_records == flags["id_number:conflicting_records"]
        # The source's totals are the sums of its batches.
        totals = source.summary.counts
        assert totals.rows_in == sum(b.summary.counts.rows_in for b in source.batches)
        assert totals.provenance_rows == sum(
            b.summary.counts.provenance_rows for b in source.batches
        )
        assert totals.reconciles
