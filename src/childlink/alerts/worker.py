"""The background worker: new records to alerts, escalations on schedule, outbox delivery.

Each tick (every ``interval`` seconds):

1. the ingest pipeline hook, if the deployment ships one
   (``childlink.alerts.pipeline.process_new_records(factory, settings)``), turns newly ingested
   records into alerts;
2. every ``escalate_every`` seconds, :func:`childlink.alerts.service.escalate_due` moves
   unacknowledged alerts past their deadline up a level (committed at once);
3. outbox delivery rounds run until the backlog is drained (a round that comes back short).

A failing stage is logged and retried next tick; it never stops the loop. ``stop_event`` ends
the loop after the current round, so a SIGTERM never abandons messages mid-send (and if it
did, their leases would run out and the next worker would send them). ``childlink worker``
runs this in the foreground; ``childlink serve`` can run it in a background thread.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from childlink.alerts.channels import Sender, build_senders, close_senders
from childlink.alerts.choices import Channel
from childlink.alerts.delivery import DeliveryReport, deliver_due
from childlink.config import Settings
from childlink.privacy.keys import FieldCipher, KeyStore
from childlink.store.base import utc_now
from childlink.store.engine import build_engine, create_session_factory, unit_of_work

logger = logging.getLogger("childlink.worker")

PIPELINE_MODULE = "childlink.alerts.pipeline"
SERVICE_MODULE = "childlink.alerts.service"


EMAIL_TIMEOUT_S = 10.0
"""The SMTP sender's own timeout (see :class:`~childlink.alerts.channels.EmailSender`)."""


def longest_send_s(settings: Settings) -> float:
    """The longest one send can take before its channel times out (plus some slack)."""
    return max(settings.webhook_timeout_s, EMAIL_TIMEOUT_S) + 5.0


@dataclass
class WorkerStats:
    """What a worker run did, summed over its ticks."""

    ticks: int = 0
    delivery: DeliveryReport = field(default_factory=DeliveryReport)
    escalated: int = 0
    pipeline_runs: int = 0
    errors: int = 0


def _optional_function(module_name: str, name: str) -> Callable[..., Any] | None:
    """``module.name`` if that module exists and defines it, else None (optional stages)."""
    if importlib.util.find_spec(module_name) is None:
        return None
    function = getattr(importlib.import_module(module_name), name, None)
    return function if callable(function) else None


class Worker:
    """One worker loop over a session factory and a set of channel senders."""

    def __init__(
        self,
        settings: Settings,
        factory: sessionmaker[Session],
        senders: Mapping[Channel, Sender],
        *,
        escalate_every: float = 60.0,
        pipeline: bool = True,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.settings = settings
        self.factory = factory
        self.senders = senders
        self.escalate_every = escalate_every
        self.clock = clock
        self.stats = WorkerStats()
        self._pipeline_wanted = pipeline
        self._pipeline: Callable[[], Any] | None = None
        self._escalate = _optional_function(SERVICE_MODULE, "escalate_due")
        self._last_escalation: float | None = None
        if self._escalate is None:
            logger.warning("escalation disabled: %s.escalate_due is not available", SERVICE_MODULE)

    def tick(self, stop_event: threading.Event | None = None) -> DeliveryReport:
        """Run every stage once; delivery runs rounds until the backlog is drained."""
        self.stats.ticks += 1
        escalated = self._run_escalation()
        self._run_pipeline()
        report = self._run_delivery(stop_event)
        if report.claimed or escalated:
            logger.info(
                "sent %d, retried %d, dead-lettered %d, waiting (unconfigured) %d, "
                "escalated %d in %.2fs%s",
                report.sent,
                report.retried,
                report.dead,
                report.skipped,
                escalated,
                report.seconds,
                f"; errors {report.errors}" if report.errors else "",
            )
        return report

    def _pipeline_step(self) -> Callable[[], Any] | None:
        """The pipeline's pass: one long-lived ``RecordPipeline`` (it keeps the watermark of
        batches already processed) or, failing that, the module's ``process_new_records``."""
        if self._pipeline is None and self._pipeline_wanted:
            pipeline_class = _optional_function(PIPELINE_MODULE, "RecordPipeline")
            if pipeline_class is not None:
                # May raise (database down): then it is tried again next tick.
                self._pipeline = pipeline_class(self.factory, self.settings).process_new_records
            else:
                function = _optional_function(PIPELINE_MODULE, "process_new_records")
                if function is not None:
                    self._pipeline = partial(function, self.factory, self.settings)
            self._pipeline_wanted = False  # decided
        return self._pipeline

    def _run_pipeline(self) -> None:
        try:
            step = self._pipeline_step()
            if step is None:
                return
            result = step()
        except Exception:
            self.stats.errors += 1
            logger.exception("pipeline stage failed; retrying next tick")
            return
        if result is not None:
            self.stats.pipeline_runs += 1

    def _run_escalation(self) -> int:
        if self._escalate is None:
            return 0
        now = time.monotonic()
        if self._last_escalation is not None and now - self._last_escalation < self.escalate_every:
            return 0
        self._last_escalation = now
        try:
            with unit_of_work(self.factory) as session:
                escalated = int(self._escalate(session, now=self.clock()))
        except Exception:
            self.stats.errors += 1
            logger.exception("escalation failed; retrying next time")
            return 0
        self.stats.escalated += escalated
        return escalated

    def _run_delivery(self, stop_event: threading.Event | None) -> DeliveryReport:
        total = DeliveryReport()
        batch = self.settings.delivery_batch
        while True:
            try:
                report = deliver_due(
                    self.factory,
                    self.senders,
                    now=self.clock(),
                    batch=batch,
                    lease=timedelta(seconds=self.settings.delivery_lease_s),
                    longest_send_s=longest_send_s(self.settings),
                    max_attempts=self.settings.delivery_max_attempts,
                    concurrency=self.settings.delivery_concurrency,
                )
            except Exception:
                self.stats.errors += 1
                logger.exception("delivery round failed; retrying next tick")
                break
            total.add(report)
            if report.claimed < batch or (stop_event is not None and stop_event.is_set()):
                break
        self.stats.delivery.add(total)
        return total


def run_worker(
    settings: Settings,
    *,
    stop_event: threading.Event | None = None,
    once: bool = False,
    interval: float = 1.0,
    escalate_every: float = 60.0,
    pipeline: bool = True,
    factory: sessionmaker[Session] | None = None,
    senders: Mapping[Channel, Sender] | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> WorkerStats:
    """Run the worker loop until ``stop_event`` is set (or one tick with ``once``).

    Safe to run in a background thread (it installs no signal handlers; the caller sets
    ``stop_event``). Builds its own engine and senders unless given, and closes what it built.
    """
    stop = stop_event or threading.Event()
    engine = None
    if factory is None:
        engine = build_engine(settings)
        factory = create_session_factory(engine)
    owned_senders = senders is None
    active_senders: Mapping[Channel, Sender] = (
        senders
        if senders is not None
        else build_senders(settings, FieldCipher(KeyStore.from_settings(settings)))
    )
    worker = Worker(
        settings,
        factory,
        active_senders,
        escalate_every=escalate_every,
        pipeline=pipeline,
        clock=clock,
    )
    try:
        while True:
            worker.tick(stop)
            if once or stop.wait(interval):
                break
    finally:
        if owned_senders:
            close_senders(active_senders)
        if engine is not None:
            engine.dispose()
    return worker.stats
