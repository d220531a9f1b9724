"""Continuous processing on SQLite and PostgreSQL: a pushed batch is linked (exact ID number
first, the incremental model for the rest) and only the children it touched are re-scored."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import sqlalchemy as sa

from childlink.alerts.pipeline import RecordPipeline, scoring_date
from childlink.children.choices import ChildStatus
from childlink.children.models import MasterChild
from childlink.ingest.mapping import available_mappings
from childlink.ingest.service import ingest_file
from childlink.linkage.exact import link_by_id_number
from childlink.linkage.models import LinkRun
from childlink.risk.schemas import ScoreTrigger
from childlink.risk.service import score_children
from childlink.risk.store import RiskFlag, RiskScore, RiskScoreRun
from childlink.sources.models import IngestBatch, SourceRecord
from childlink.store.engine import unit_of_work

from .conftest import RiskCounty, ingest_exports

SCREENINGS = "health.mental_health_screenings"


def _push_screening(county: RiskCounty, rows: list[dict[str, object]]) -> uuid.UUID:
    """Ingest rows of the screening source as a JSON-lines delivery (as the push API does)."""
    mapping = available_mappings()[SCREENINGS].model_copy(
        update={"format": "jsonl", "encoding": "utf-8", "sheets": None, "header_row": None}
    )
    folder: Path = county.settings.data_dir / "incoming"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"screenings-{uuid.uuid4().hex[:8]}.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return uuid.UUID(ingest_file(county.factory, mapping, path).batch_id)


def _known_child(county: RiskCounty, *, skip: int = 0) -> tuple[str, str, dt.date, uuid.UUID]:
    """A school-age child with a valid ID number carried by exactly one active master."""
    with county.factory() as session:
        return session.execute(
            sa.select(
                SourceRecord.id_number,
                SourceRecord.name,
                SourceRecord.birth_date,
                SourceRecord.master_child_id,
            )
            .join(MasterChild, MasterChild.id == SourceRecord.master_child_id)
            .where(
                SourceRecord.id_number.is_not(None),
                MasterChild.status == ChildStatus.ACTIVE,
                SourceRecord.birth_date.between(dt.date(2010, 1, 1), dt.date(2014, 12, 31)),
            )
            .order_by(SourceRecord.id_number)
            .offset(skip)
            .limit(1)
        ).one()  # type: ignore[return-value]


def _screening(
    child: tuple[str, str, dt.date, uuid.UUID], score: int, day: dt.date
) -> dict[str, object]:
    id_number, name, birth, _ = child
    return {
        "screening_id": f"T{uuid.uuid4().hex[:10]}",
        "name": name,
        "id_no": id_number,
        "birth_date": birth.isoformat(),
        "screening_date": day.isoformat(),
        "instrument": "PHQ-9",
        "score": score,
    }


def test_a_pushed_record_is_linked_by_id_and_only_its_child_rescored(
    risk_county: RiskCounty,
) -> None:
    base = score_children(risk_county.factory, data_dir=risk_county.settings.data_dir)
    pipeline = RecordPipeline(risk_county.factory, risk_county.settings)
    assert pipeline.process_new_records() is None  # nothing new since the last link run

    child = _known_child(risk_county)
    batch = _push_screening(risk_county, [_screening(child, 24, base.as_of - dt.timedelta(days=2))])
    result = pipeline.process_new_records()

    assert result is not None
    assert (result.batches, result.records_exact, result.incremental_run) == (1, 1, None)
    assert (result.children, result.rescored) == (1, 1)
    with risk_county.factory() as session:
        record = session.scalars(
            sa.select(SourceRecord).where(SourceRecord.batch_id == batch)
        ).one()
        assert record.master_child_id == child[3]
        run = session.scalars(
            sa.select(RiskScoreRun).order_by(RiskScoreRun.started_at.desc()).limit(1)
        ).one()
        assert run.trigger == ScoreTrigger.LINK
        # Facts count from their ingest date here, so the new fact moves the date to today.
        assert run.as_of == max(base.as_of, dt.date.today())
        scored = set(
            session.scalars(sa.select(RiskScore.master_child_id).where(RiskScore.run_id == run.id))
        )
        assert scored == {child[3]}
        hit = session.scalars(
            sa.select(RiskFlag).where(
                RiskFlag.master_child_id == child[3],
                RiskFlag.rule_id == "mental_health.screening_high",
                RiskFlag.is_active.is_(True),
            )
        ).one()
        assert str(record.id) in json.dumps(hit.facts)
    assert pipeline.process_new_records() is None  # the batch is not processed twice


def test_records_without_a_known_id_go_through_the_incremental_model(
    risk_county: RiskCounty,
) -> None:
    pipeline = RecordPipeline(risk_county.factory, risk_county.settings)
    ingest_exports(risk_county.factory, risk_county.county_dir, late=True)
    result = pipeline.process_new_records()

    assert result is not None
    assert result.incremental_run is not None
    with risk_county.factory() as session:
        late = session.scalars(
            sa.select(IngestBatch.id).order_by(IngestBatch.finished_at.desc()).limit(1)
        ).one()
        unlinked = session.scalar(
            sa.select(sa.func.count())
            .select_from(SourceRecord)
            .where(SourceRecord.batch_id == late, SourceRecord.master_child_id.is_(None))
        )
        assert unlinked == 0
        assert session.get(LinkRun, uuid.UUID(result.incremental_run)) is not None


def test_an_id_number_carried_by_two_children_is_left_to_the_model(
    risk_county: RiskCounty,
) -> None:
    """Exact linking never picks between two masters that share an ID number (a duplicate
    waiting for review): the record stays unlinked for the model run and its review queue."""
    first = _known_child(risk_county, skip=3)
    second = _known_child(risk_county, skip=40)
    with unit_of_work(risk_county.factory) as session:
        # The second child's registry record now carries the first child's ID number.
        record = session.scalars(
            sa.select(SourceRecord).where(SourceRecord.master_child_id == second[3]).limit(1)
        ).one()
        record.id_number = first[0]
    batch = _push_screening(risk_county, [_screening(first, 3, dt.date(2020, 10, 12))])
    with unit_of_work(risk_county.factory) as session:
        result = link_by_id_number(session, [batch])
    assert result.records == 0
    with risk_county.factory() as session:
        pushed = session.scalars(
            sa.select(SourceRecord).where(SourceRecord.batch_id == batch)
        ).one()
        assert pushed.master_child_id is None


def test_facts_known_from_their_own_date_move_the_scoring_date_to_the_newest_fact(
    risk_county: RiskCounty,
) -> None:
    """A county loaded at once (facts known from their own dates, as in the demo): a new fact
    after the full run's date moves the re-scoring date to the day after it; an older one
    leaves it, and so does a future-dated one (ingest quarantines it)."""
    base = score_children(
        risk_county.factory, data_dir=risk_county.settings.data_dir, known_from="event"
    )
    child = _known_child(risk_county, skip=7)
    later = base.as_of + dt.timedelta(days=10)
    newer = _push_screening(risk_county, [_screening(child, 12, later)])
    older = _push_screening(
        risk_county, [_screening(child, 12, base.as_of - dt.timedelta(days=30))]
    )
    future = _push_screening(
        risk_county, [_screening(child, 12, dt.date.today() + dt.timedelta(days=30))]
    )
    with risk_county.factory() as session:
        assert scoring_date(session, [newer, older]) == min(
            dt.date.today(), later + dt.timedelta(days=1)
        )
        assert scoring_date(session, [older]) == base.as_of
        statuses = session.scalars(
            sa.select(SourceRecord.status).where(SourceRecord.batch_id == future)
        ).all()
        assert [str(status) for status in statuses] == ["quarantined"]
        assert scoring_date(session, [future]) == base.as_of
