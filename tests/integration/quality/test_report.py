"""The quality report: it reconciles, its numbers are the database's, and it renders safely."""

from __future__ import annotations

import csv
import json
import uuid
from html.parser import HTMLParser
from pathlib import Path

import pytest
import sqlalchemy as sa
from rich.console import Console
from sqlalchemy.orm import Session

from childlink.errors import IngestError
from childlink.ingest.mapping import available_mappings, mapping_for_file
from childlink.ingest.service import ingest_file
from childlink.quality.errors import UnknownBatchError, UnknownSourceError
from childlink.quality.report import build_report, render_html, render_text
from childlink.regions.service import load_regions
from childlink.sources.models import IngestBatch, RecordProvenance
from childlink.store.engine import unit_of_work
from childlink.synth.config import SynthConfig
from childlink.synth.service import generate_county
from integration.quality.roll import (
    AS_OF,
    FORMULA_ADDRESS,
    FORMULA_PROGRAMME,
    QUARANTINED_ROWS,
    ROWS,
    SCRIPT_NAME,
    SOURCE,
    Ingested,
    assert_matches_direct_counts,
    write_roll,
)


def test_report_reconciles_and_equals_direct_counts(welfare: Ingested, db_session: Session) -> None:
    report = build_report(db_session, source=SOURCE)

    assert report.reconciles
    [source] = report.sources
    [batch] = source.batches
    counts = batch.summary.counts
    assert counts.rows_in == len(ROWS) == counts.provenance_rows
    assert counts.duplicate == 1
    assert counts.quarantined == len(QUARANTINED_ROWS)
    assert counts.fixed >= 1  # row 7
    assert counts.accepted + counts.fixed == len(ROWS) - 1 - len(QUARANTINED_ROWS)
    assert counts.counts_add_up
    assert counts.provenance_complete
    assert counts.records_match
    assert {c.code: c.count for c in batch.summary.quarantine_reasons} == dict.fromkeys(
        QUARANTINED_ROWS.values(), 1
    )
    dob = next(c for c in batch.summary.quarantine_reasons if c.code == "dob_contradicts_id")
    assert (dob.label_zh, dob.label_en) == (
        "出生日期与身份证号不符",
        "date of birth contradicts ID number",
    )
    assert "id_lowercase_x" in {c.code for c in batch.summary.fix_rules}
    formula = next(f for f in batch.summary.flags if f.flag == "address:formula_like")
    assert (formula.field, formula.issue, formula.count) == ("address", "formula_like", 1)
    assert batch.summary.duplicates.records_with_duplicates == 1
    assert batch.summary.contradictions.dob_contradicts_id == 1
    name = next(f for f in batch.summary.fields if f.field == "name")
    assert name.rows == len(ROWS)
    assert name.completeness == round(name.present / name.rows, 4)
    assert [s.row_number for s in batch.samples] == sorted(QUARANTINED_ROWS)
    [point] = source.trend
    assert point.usable_share == round((counts.accepted + counts.fixed) / counts.rows_in, 4)
    assert point.quarantine_share == round(counts.quarantined / counts.rows_in, 4)
    assert source.summary == batch.summary
    assert_matches_direct_counts(db_session, report)


def test_json_carries_the_reconciled_counts(welfare: Ingested, db_session: Session) -> None:
    document = json.loads(build_report(db_session).to_json())

    assert document["reconciles"] is True
    [source] = document["sources"]
    assert source["code"] == SOURCE
    counts = source["batches"][0]["summary"]["counts"]
    assert counts["rows_in"] == len(ROWS) == counts["provenance_rows"]
    assert counts["reconciles"] is True
    assert counts["rows_in"] == (
        counts["accepted"] + counts["fixed"] + counts["quarantined"] + counts["duplicate"]
    )
    assert source["batches"][0]["batch_id"] == welfare.result.batch_id
    assert "出生日期与身份证号不符" in build_report(db_session).to_json()


def test_a_lost_row_is_caught(welfare: Ingested, db_session: Session) -> None:
    with unit_of_work(welfare.factory) as session:
        session.execute(
            sa.delete(RecordProvenance).where(
                RecordProvenance.batch_id == welfare.batch_id, RecordProvenance.row_number == 2
            )
        )
    counts = build_report(db_session).sources[0].batches[0].summary.counts

    assert not counts.provenance_complete
    assert not counts.records_match  # one duplicate row no longer behind any record
    assert counts.counts_add_up
    assert not counts.reconciles


def test_counter_drift_is_caught(welfare: Ingested, db_session: Session) -> None:
    with unit_of_work(welfare.factory) as session:
        batch = session.get_one(IngestBatch, welfare.batch_id)
        batch.rows_quarantined -= 1
        batch.rows_accepted += 1
    report = build_report(db_session)

    assert report.sources[0].batches[0].summary.counts.counts_add_up
    assert not report.sources[0].batches[0].summary.counts.records_match
    assert not report.reconciles


def test_only_committed_batches_in_detail_others_listed(
    welfare: Ingested, db_session: Session, tmp_path: Path
) -> None:
    (tmp_path / "v2").mkdir()
    corrected = write_roll(tmp_path / "v2" / welfare.path.name, ROWS[:-1])
    second = ingest_file(welfare.factory, welfare.mapping, corrected, as_of=AS_OF)
    broken = tmp_path / "welfare_rolls_broken.csv"
    broken.write_text("序号,备注\n1,无\n", encoding="utf-8")
    with pytest.raises(IngestError):
        ingest_file(welfare.factory, welfare.mapping, broken, as_of=AS_OF)

    [source] = build_report(db_session).sources
    assert [str(b.batch_id) for b in source.batches] == [second.batch_id]
    statuses = {o.file_name: o.status for o in source.other_batches}
    assert statuses == {welfare.path.name: "superseded", broken.name: "failed"}
    failed = next(o for o in source.other_batches if o.status == "failed")
    assert failed.error_message

    [old] = build_report(db_session, batch_id=welfare.batch_id).sources[0].batches
    assert old.status == "superseded"
    assert old.summary.reconciles


def test_trend_follows_batches_oldest_first(
    welfare: Ingested, db_session: Session, tmp_path: Path
) -> None:
    july = write_roll(tmp_path / "welfare_rolls_2026_07.csv", [ROWS[0], ROWS[7]])
    ingest_file(welfare.factory, welfare.mapping, july, as_of=AS_OF)

    [source] = build_report(db_session, source=SOURCE).sources
    assert [b.file_name for b in source.batches] == [july.name, welfare.path.name]
    assert [p.file_name for p in source.trend] == [welfare.path.name, july.name]
    assert source.trend[-1].quarantine_share == 0
    assert source.summary.counts.rows_in == len(ROWS) + 2
    assert_matches_direct_counts(db_session, build_report(db_session))


def test_unknown_source_or_batch(welfare: Ingested, db_session: Session) -> None:
    with pytest.raises(UnknownSourceError):
        build_report(db_session, source="no.such_source")
    with pytest.raises(UnknownBatchError):
        build_report(db_session, batch_id=uuid.uuid4())
    with pytest.raises(UnknownBatchError):
        build_report(db_session, batch_id="not-a-uuid")
    with pytest.raises(UnknownBatchError):
        build_report(db_session, batch_id=welfare.batch_id, source="education.student_registry")


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[str] = []
        self.cells: list[str] = []
        self._stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(name for name, _ in attrs)
        self._stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._stack and self._stack[-1] == tag:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        if self._stack and self._stack[-1] in ("td", "th", "code", "span", "small"):
            self.cells.append(data.strip())


def test_html_is_self_contained_and_escaped(welfare: Ingested, db_session: Session) -> None:
    page = render_html(build_report(db_session))
    parsed = _Page()
    parsed.feed(page)

    assert "http://" not in page
    assert "https://" not in page
    assert "script" not in parsed.tags
    assert not {"src", "href"} & set(parsed.attributes)
    assert "link" not in parsed.tags
    assert "url(" not in page
    assert "@import" not in page
    assert SCRIPT_NAME not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # Cells from delivered rows that a spreadsheet would evaluate are shown as text.
    assert f"'{FORMULA_PROGRAMME}" in parsed.cells
    assert not [cell for cell in parsed.cells if cell.startswith(("=", "+", "@"))]
    assert "出生日期与身份证号不符" in page
    assert "date of birth contradicts ID number" in page
    assert FORMULA_ADDRESS not in parsed.cells


def test_samples_can_be_left_out(welfare: Ingested, db_session: Session) -> None:
    report = build_report(db_session, samples=0)
    assert report.sources[0].batches[0].samples == []
    assert SCRIPT_NAME not in report.to_json()


def test_text_rendering(welfare: Ingested, db_session: Session) -> None:
    console = Console(record=True, width=200)
    render_text(build_report(db_session), console)
    text = console.export_text()

    assert SOURCE in text
    assert "reconciles" in text
    assert "dob_contradicts_id" in text
    assert "all batches reconcile" in text


@pytest.fixture(scope="session")
def county(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic county (generated once per test session)."""
    folder = tmp_path_factory.mktemp("county") / "c"
    generate_county(SynthConfig(children=200, seed=5), folder)
    return folder


def test_synthetic_county_reconciles(county: Path, welfare: Ingested, db_session: Session) -> None:
    with (county / "reference" / "regions.csv").open(encoding="utf-8", newline="") as handle:
        regions = list(csv.DictReader(handle))
    with unit_of_work(welfare.factory) as session:
        load_regions(session, regions)
    mappings = available_mappings()
    ingested = 0
    for path in sorted(p for p in (county / "exports").rglob("*") if p.is_file()):
        mapping = mapping_for_file(path, mappings)
        assert mapping is not None, path
        ingest_file(welfare.factory, mapping, path, as_of=AS_OF)
        ingested += 1

    report = build_report(db_session)
    assert report.reconciles
    assert sum(len(s.batches) for s in report.sources) == ingested + 1
    assert_matches_direct_counts(db_session, report)
    assert render_html(report).startswith("<!DOCTYPE html>")
