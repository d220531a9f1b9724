"""Continuous processing: newly ingested records → linked → sealed → re-scored → alerts.

The worker (``childlink worker``, or the thread ``childlink serve`` starts) calls
:meth:`RecordPipeline.process_new_records` every tick. It looks at ingest batches committed
since the last pass; their records are linked by exact ID number where a valid one names a
known child (milliseconds), and the rest by the incremental linkage model (seconds); the
records' sensitive attributes are sealed; the children that gained records are re-scored, and
re-scoring raises or updates their alerts in the same transaction
(:func:`childlink.alerts.service.raise_alerts_for_run`), which puts them in the responsible
workers' inboxes at once.

The watermark is the newest batch finish time seen, with a look-back so a batch whose
transaction committed late is still picked up (batches already processed are remembered). On
start it is the newest link run's time: batches linked by an earlier run are not re-processed.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass, field

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from childlink.config import Settings
from childlink.ingest.mapping import SourceMapping, available_mappings
from childlink.linkage.exact import link_by_id_number
from childlink.linkage.lock import linkage_lock
from childlink.linkage.models import LinkRun
from childlink.linkage.service import latest_model_path, link_county
from childlink.privacy.keys import FieldCipher, KeyStore
from childlink.privacy.models import SealedAttributes
from childlink.privacy.sealing import assign_child_keys, seal_records
from childlink.risk.schemas import ScoreTrigger
from childlink.risk.service import affected_children, rescore_after_link
from childlink.risk.store import RiskScoreRun
from childlink.sources.choices import BatchStatus, RecordStatus
from childlink.sources.models import IngestBatch, SourceRecord
from childlink.store.engine import unit_of_work

log = logging.getLogger(__name__)

LOOK_BACK = dt.timedelta(seconds=60)
"""How far before the watermark batches are looked at again (late commits)."""


@dataclass(frozen=True)
class PipelineResult:
    """What one pass did."""

    batches: int
    records_exact: int
    incremental_run: str | None
    children: int
    rescored: int
    seconds: float


@dataclass
class RecordPipeline:
    """Processes new ingest batches; keep one per worker (it holds the watermark)."""

    factory: sessionmaker[Session]
    settings: Settings
    cipher: FieldCipher | None = None
    watermark: dt.datetime | None = None
    seen: dict[uuid.UUID, dt.datetime] = field(default_factory=dict)
    look_back: bool = False
    floor: dt.datetime | None = None
    mappings: dict[str, SourceMapping] | None = None

    def __post_init__(self) -> None:
        if self.cipher is None:
            self.cipher = FieldCipher(KeyStore.from_settings(self.settings))
        if self.watermark is None:
            with self.factory() as session:
                self.watermark = session.scalar(sa.select(sa.func.max(LinkRun.created_at)))
        self.floor = self.watermark

    def pending_batches(self, session: Session) -> list[tuple[uuid.UUID, dt.datetime]]:
        """Committed batches finished after the watermark (minus the look-back), not yet seen."""
        stmt = sa.select(IngestBatch.id, IngestBatch.finished_at).where(
            IngestBatch.status == BatchStatus.COMMITTED, IngestBatch.finished_at.is_not(None)
        )
        if self.watermark is not None:
            since = self.watermark - LOOK_BACK if self.look_back else self.watermark
            if self.floor is not None:
                since = max(since, self.floor)  # batches linked before this pipeline started
            stmt = stmt.where(IngestBatch.finished_at > since)
        return [
            (batch_id, finished)
            for batch_id, finished in session.execute(stmt)
            if batch_id not in self.seen and finished is not None
        ]

    def process_new_records(self) -> PipelineResult | None:
        """One pass; None when no new batch was committed since the last one."""
        started = time.perf_counter()
        with self.factory() as session:
            batches = self.pending_batches(session)
        if not batches:
            return None
        batch_ids = [batch_id for batch_id, _ in batches]
        incremental_run: str | None = None
        # Under the linkage lock: no other run (another process, the report intake) may place
        # these records between the exact pass and the model run.
        with linkage_lock(self.factory, self.settings.data_dir):
            with unit_of_work(self.factory) as session:
                exact = link_by_id_number(session, batch_ids)
            children: set[uuid.UUID] = set(exact.children)
            with self.factory() as session:
                unlinked = _unlinked(session, batch_ids)
                has_model = latest_model_path(session) is not None
            if unlinked and has_model:
                result = link_county(
                    self.factory, data_dir=self.settings.data_dir, incremental=True
                )
                incremental_run = result.run_id
                with self.factory() as session:
                    children.update(affected_children(session, result.run_id))
        if children:
            self._protect(batch_ids, new_children=incremental_run is not None)
        rescored = 0
        if children:
            with self.factory() as session:
                as_of = scoring_date(session, batch_ids)
            link_run = incremental_run or (None if exact.run_id is None else str(exact.run_id))
            run = rescore_after_link(
                self.factory,
                self.settings.data_dir,
                sorted(children),
                link_run_id=None if link_run is None else uuid.UUID(link_run),
                as_of=as_of,
                cipher=self.cipher,
            )
            rescored = 0 if run is None else run.children
        self.look_back = True
        for batch_id, finished in batches:
            self.seen[batch_id] = finished
            if self.watermark is None or finished > self.watermark:
                self.watermark = finished
        self._forget_old()
        result_ = PipelineResult(
            batches=len(batches),
            records_exact=exact.records,
            incremental_run=incremental_run,
            children=len(children),
            rescored=rescored,
            seconds=round(time.perf_counter() - started, 3),
        )
        log.info("pipeline: %s", result_)
        return result_

    def _protect(self, batch_ids: list[uuid.UUID], *, new_children: bool) -> None:
        """Key new children and seal the new batches, when this database seals (the default)."""
        assert self.cipher is not None
        with self.factory() as session:
            sealing = session.scalar(sa.select(SealedAttributes.record_id).limit(1)) is not None
        if not sealing:
            return
        if new_children:
            with unit_of_work(self.factory) as session:
                assign_child_keys(session, self.cipher.store)
        if self.mappings is None:
            self.mappings = available_mappings(self.settings.mappings_dir)
        seal_records(self.factory, self.cipher, mappings=self.mappings, batch_ids=batch_ids)

    def _forget_old(self) -> None:
        if self.watermark is None:
            return
        horizon = self.watermark - 2 * LOOK_BACK
        for batch_id in [b for b, finished in self.seen.items() if finished < horizon]:
            del self.seen[batch_id]


def scoring_date(session: Session, batch_ids: list[uuid.UUID]) -> dt.date | None:
    """The date to re-score the touched children as of, so that the new facts count.

    Scores stay as of the latest full run unless the new facts are newer: with facts known from
    their ingest date (``batch``, the production default) that is today; with facts known from
    their own date (a county loaded at once, as in the demo) it is the day after the newest
    fact in the new batches, never later than today. None: no full run yet (the scorer's
    default applies).
    """
    last = session.execute(
        sa.select(RiskScoreRun.as_of, RiskScoreRun.known_from)
        .where(RiskScoreRun.trigger == ScoreTrigger.FULL)
        .order_by(RiskScoreRun.started_at.desc())
        .limit(1)
    ).first()
    if last is None:
        return None
    full_as_of, known_from = last
    today = dt.date.today()
    if known_from != "event":
        return max(full_as_of, today)
    texts = session.scalars(
        sa.select(sa.cast(SourceRecord.attributes, sa.Text)).where(
            SourceRecord.batch_id.in_(batch_ids),
            SourceRecord.status != RecordStatus.QUARANTINED,
        )
    ).all()
    # One vectorised JSON pass (a re-delivered export may hold many thousand rows).
    dates = pl.Series("attributes", texts, dtype=pl.String).str.json_path_match("$.event_date")
    newest = dates.drop_nulls().max()
    if not isinstance(newest, str):
        newest = None
    try:
        fact_day = dt.date.fromisoformat(newest[:10]) if newest else None
    except ValueError:
        fact_day = None
    if fact_day is None:
        return full_as_of
    return max(full_as_of, min(today, fact_day + dt.timedelta(days=1)))


def _unlinked(session: Session, batch_ids: list[uuid.UUID]) -> int:
    return int(
        session.scalar(
            sa.select(sa.func.count())
            .select_from(SourceRecord)
            .where(
                SourceRecord.batch_id.in_(batch_ids),
                SourceRecord.status != RecordStatus.QUARANTINED,
                SourceRecord.master_child_id.is_(None),
            )
        )
        or 0
    )


def process_new_records(
    factory: sessionmaker[Session], settings: Settings
) -> PipelineResult | None:
    """One pass with a fresh pipeline (for scripts; a worker keeps one :class:`RecordPipeline`)."""
    return RecordPipeline(factory, settings, watermark=None).process_new_records()
