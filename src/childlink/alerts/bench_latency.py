"""``childlink bench alerts``: from a committed record to the alert in the open inbox.

End to end, as in production: a small county is generated, ingested, linked, given stand-in
risk models and demo accounts, and scored once (SQLite, throw-away folder); the app runs in
uvicorn on a free local port; the responsible worker's inbox stream
(``/api/v1/alerts/stream``, Server-Sent Events) is opened with her session cookie. Then, for
each sample, one mental-health screening row with a score over the rule's threshold is pushed
for a child of her area through the ingest service (committed); the alerts worker runs in a
thread beside the app exactly as ``childlink serve`` runs it (every
:data:`childlink.cli.serve.WORKER_INTERVAL_S`: the record pipeline links the new batch by
exact ID number, re-scores the child and raises the alert), and the time from the ingest
commit to the alert event arriving on the stream is measured: the worker's polling delay is
included.

The listener is the village child director when her village has a child for every sample,
else the township supervisor (both are first-line recipients), so every sample is a new alert
rather than an update of one.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import queue
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from childlink.api.live_server import LiveServer
from childlink.config import Settings

Progress = Callable[[str], None]
SCREENING_SOURCE = "health.mental_health_screenings"
HIGH_SCORE = 21
"""PHQ-9 21: over the ``mental_health.screening_high`` threshold (15)."""
EVENT_TIMEOUT_S = 60.0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    k = (len(ordered) - 1) * q
    low, high = math.floor(k), math.ceil(k)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def _sse_events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    event: dict[str, str] = {}
    for line in lines:
        if not line:
            if event.get("event") == "alert":
                yield json.loads(event["data"])
            event = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            event[name] = value.removeprefix(" ")


class _Listener:
    """Reads the inbox stream in a thread; each alert event with its arrival time."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.events: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            with self.client.stream(
                "GET", "/api/v1/alerts/stream", params={"purpose": "case_work"}
            ) as response:
                response.raise_for_status()
                lines = response.iter_lines()
                self.ready.set()
                for entry in _sse_events(lines):
                    self.events.put((time.perf_counter(), entry))
                    if self.stop.is_set():
                        return
        except httpx.HTTPError:
            self.ready.set()

    def wait_for(self, child: uuid.UUID, timeout: float) -> float | None:
        """Arrival time of the next event about ``child``; None if none in ``timeout``."""
        deadline = time.perf_counter() + timeout
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                return None
            try:
                arrived, entry = self.events.get(timeout=left)
            except queue.Empty:
                return None
            if entry.get("alert", {}).get("master_child_id") == str(child):
                return arrived


def _build_county(
    root: Path, children: int, seed: int, say: Progress
) -> tuple[Settings, sessionmaker[Session], dict[str, str], Path]:
    """A linked county with stand-in models and demo accounts, scored once."""
    from childlink.access.consent import seed_demo_legal_bases
    from childlink.identity.demo import seed_demo_accounts
    from childlink.risk.service import score_children
    from childlink.risk.stand_in import build_linked_county, register_stand_in_models
    from childlink.store.engine import unit_of_work

    settings, factory, county = build_linked_county(
        root, children, seed, say=say, login_attempts_per_ip=100_000
    )
    say("training stand-in models, seeding accounts, scoring the county once")
    register_stand_in_models(factory, settings.data_dir, county, note="bench stand-in label")
    with unit_of_work(factory) as session:
        seed_demo_legal_bases(session)
        passwords = {a.username: a.password for a in seed_demo_accounts(session)}
    score_children(factory, data_dir=settings.data_dir, known_from="event")
    return settings, factory, passwords, county


def _candidates(factory: sessionmaker[Session], area: str) -> list[tuple[uuid.UUID, str, str]]:
    """Children of ``area`` with a valid ID number and no open mental-health alert."""
    from childlink.regions.models import Region

    with factory() as session:
        region = session.get(Region, area)
    if region is None:
        return []
    return _children_under(factory, area[: region.level.code_digits])


def _children_under(
    factory: sessionmaker[Session], prefix: str
) -> list[tuple[uuid.UUID, str, str]]:
    from childlink.alerts.choices import AlertStatus
    from childlink.alerts.models import Alert
    from childlink.children.choices import ChildStatus
    from childlink.children.models import MasterChild
    from childlink.risk.choices import RiskType
    from childlink.sources.models import SourceRecord

    with factory() as session:
        rows = session.execute(
            sa.select(MasterChild.id, MasterChild.display_name, sa.func.min(SourceRecord.id_number))
            .join(SourceRecord, SourceRecord.master_child_id == MasterChild.id)
            .where(
                MasterChild.status == ChildStatus.ACTIVE,
                MasterChild.region_code.like(f"{prefix}%"),
                SourceRecord.id_number.is_not(None),
                MasterChild.id.not_in(
                    sa.select(Alert.master_child_id).where(
                        Alert.risk == RiskType.MENTAL_HEALTH, Alert.status != AlertStatus.CLOSED
                    )
                ),
            )
            .group_by(MasterChild.id, MasterChild.display_name)
            .order_by(MasterChild.id)
        ).all()
    return [(child, str(name), str(idn)) for child, name, idn in rows]


def _push_screening(
    factory: sessionmaker[Session],
    settings: Settings,
    folder: Path,
    child: tuple[uuid.UUID, str, str],
    day: dt.date,
    index: int,
) -> float:
    """Ingest one high screening row for ``child``; the time its batch committed."""
    from childlink.ingest.mapping import available_mappings
    from childlink.ingest.service import ingest_file

    mapping = available_mappings(settings.mappings_dir)[SCREENING_SOURCE]
    _child_id, name, id_number = child
    row = {
        "screening_id": f"BENCH-{index:05d}-{uuid.uuid4().hex[:6]}",
        "name": name,
        "id_no": id_number,
        "school": "基准测试学校",
        "screening_date": day.isoformat(),
        "instrument": "PHQ-9",
        "score": HIGH_SCORE,
    }
    path = folder / f"screening-{index:05d}.jsonl"
    path.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    ingest_file(factory, mapping, path)
    return time.perf_counter()


def bench_alert_latency(
    samples: int = 20,
    children: int = 300,
    *,
    seed: int = 42,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Seconds from an ingested record's commit to its alert on the open inbox stream.

    Returns:
        ``samples`` (measured), ``p50_s``, ``p95_s``, ``max_s``, ``missed`` (no event within
        60 s), ``listener`` (the username whose stream was read), ``children``, ``backend``.
    """
    from childlink.alerts.worker import run_worker
    from childlink.cli.serve import WORKER_INTERVAL_S
    from childlink.risk.store import RiskScoreRun

    say = progress or (lambda _message: None)
    with tempfile.TemporaryDirectory(prefix="childlink-bench-alerts-") as tmp:
        root = Path(tmp)
        settings, factory, passwords, _county = _build_county(root, children, seed, say)
        try:
            from childlink.identity.models import User

            with factory() as session:
                areas = {
                    str(username): code
                    for username, code in session.execute(
                        sa.select(User.username, User.jurisdiction_code).where(
                            User.username.in_(["director", "supervisor"])
                        )
                    )
                }
                as_of = session.scalar(
                    sa.select(RiskScoreRun.as_of).order_by(RiskScoreRun.started_at.desc())
                )
            assert as_of is not None
            listener = "director"
            pool = _candidates(factory, str(areas.get("director") or "~"))
            if len(pool) < samples:
                listener = "supervisor"
                pool = _candidates(factory, str(areas.get("supervisor") or "~"))
            pool = pool[:samples]
            folder = root / "pushed"
            folder.mkdir()
            timings: list[float] = []
            missed = 0
            say(f"serving the app and its worker; {listener} opens the inbox stream")
            stop_worker = threading.Event()
            worker = threading.Thread(
                target=run_worker,
                args=(settings,),
                kwargs={
                    "stop_event": stop_worker,
                    "interval": WORKER_INTERVAL_S,
                    "factory": factory,
                },
                name="bench-alerts-worker",
                daemon=True,
            )
            worker.start()
            with LiveServer(settings) as server:
                client = httpx.Client(base_url=server.url, timeout=httpx.Timeout(120, read=None))
                login = client.post(
                    "/api/v1/auth/login",
                    json={"username": listener, "password": passwords[listener]},
                )
                login.raise_for_status()
                watcher = _Listener(client)
                watcher.thread.start()
                watcher.ready.wait(timeout=30)
                say(f"{len(pool)} samples: push a screening, wait for the event")
                for index, child in enumerate(pool):
                    committed = _push_screening(
                        factory, settings, folder, child, as_of - dt.timedelta(days=1), index
                    )
                    arrived = watcher.wait_for(child[0], EVENT_TIMEOUT_S)
                    if arrived is None:
                        missed += 1
                        continue
                    timings.append(arrived - committed)
                watcher.stop.set()
                client.close()
            stop_worker.set()
            worker.join(timeout=30)
        finally:
            factory.kw["bind"].dispose()
    return {
        "stage": "alerts-latency",
        "backend": "sqlite",
        "children": children,
        "listener": listener,
        "samples": len(timings),
        "missed": missed,
        "p50_s": round(statistics.median(timings), 3) if timings else None,
        "p95_s": round(_percentile(timings, 0.95), 3) if timings else None,
        "max_s": round(max(timings), 3) if timings else None,
    }
