"""Outbox throughput: how many webhook notifications a minute reach a local receiver.

:func:`bench_deliveries` builds a scratch database (SQLite in a temporary folder unless a URL
is given) holding ``messages`` pending webhook messages for one endpoint, starts a local
receiver (:class:`WebhookReceiver`, HTTP/1.1 keep-alive, checking every signature), runs
:func:`~childlink.alerts.delivery.deliver_due` rounds until the queue is empty, and checks
that every idempotency key arrived exactly once. The issue asks for at least 10,000 a minute.

The receiver is also what the delivery tests talk to: it counts POSTs per key, "processes"
only the first of each key (the deduplication a department system does), and can be told to
fail or to hold requests open to simulate an outage or a crash in flight.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from childlink.access.choices import AgencyKind
from childlink.access.models import Agency
from childlink.alerts.channels import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Sender,
    WebhookSender,
    verify_signature,
)
from childlink.alerts.choices import AlertSeverity, AlertSource, Channel, DeliveryStatus
from childlink.alerts.delivery import deliver_due
from childlink.alerts.models import Alert, AlertRecipient, OutboxMessage, WebhookEndpoint
from childlink.alerts.webhooks import register_endpoint
from childlink.children.models import MasterChild
from childlink.config import Settings
from childlink.privacy.keys import FieldCipher, KeyStore
from childlink.risk.choices import RiskType
from childlink.store import migrate
from childlink.store.base import utc_now
from childlink.store.engine import build_engine, create_session_factory, unit_of_work

INSERT_CHUNK = 5_000


class WebhookReceiver:
    """A local department system: a threaded HTTP/1.1 server that records signed POSTs.

    Attributes:
        posts: POSTs per ``Idempotency-Key`` (every request, duplicates included).
        processed: the payload of each key, kept the first time a validly signed POST with
            that key arrives (what a deduplicating receiver acts on).
        other_secrets: more secrets to accept (several endpoints pointing at one receiver).
        bad_signatures: POSTs refused with 401 because the signature did not verify.
        fail_with: when set, every POST is answered with this status and not processed.
        hold: when set, a POST is processed, ``arrived`` is set, and the answer waits until
            :meth:`release` is called (a crash of the sender in that window loses the
            acknowledgement, not the notification).
        delay_s: seconds a processed POST waits before it is answered (a slow receiver).
    """

    def __init__(self, secret: str, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.secret = secret
        self.other_secrets: set[str] = set()
        self.posts: Counter[str] = Counter()
        self.processed: dict[str, dict[str, Any]] = {}
        self.bad_signatures = 0
        self.fail_with: int | None = None
        self.hold = False
        self.delay_s = 0.0
        self.arrived = threading.Event()
        self._released = threading.Event()
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer((host, port), self._handler_class())
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving and free the port (held requests are released first)."""
        self.release()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def release(self) -> None:
        """Let held requests answer."""
        self._released.set()

    def handle(self, headers: Any, body: bytes) -> int:
        """Record one POST and choose the status to answer with."""
        key = headers.get(IDEMPOTENCY_HEADER, "")
        with self._lock:
            self.posts[key] += 1
            fail_with = self.fail_with
        if fail_with is not None:
            return fail_with
        timestamp, signature = headers.get(TIMESTAMP_HEADER, ""), headers.get(SIGNATURE_HEADER)
        if not any(
            verify_signature(secret, timestamp, body, signature)
            for secret in (self.secret, *self.other_secrets)
        ):
            with self._lock:
                self.bad_signatures += 1
            return HTTPStatus.UNAUTHORIZED
        with self._lock:
            if key not in self.processed:
                self.processed[key] = json.loads(body)
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.hold:
            self.arrived.set()
            self._released.wait()
        return HTTPStatus.OK

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as separate writes

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status = receiver.handle(self.headers, body)
                reply = b'{"ok":true}' if status == HTTPStatus.OK else b'{"ok":false}'
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except OSError:  # the sender went away while we held the answer
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler


def seed_bench_outbox(
    settings: Settings, cipher: FieldCipher, receiver_url: str, messages: int, run: str
) -> tuple[str, uuid.UUID, uuid.UUID]:
    """An agency, a child, an alert, an endpoint and ``messages`` pending outbox rows.

    Returns the endpoint's secret, the alert id (deleting it removes the rows) and the child id.
    """
    engine = build_engine(settings)
    try:
        factory = create_session_factory(engine)
        with unit_of_work(factory) as session:
            agency = Agency(
                code=f"bench-{run}",
                name_zh="基准测试接收系统",
                name_en="Benchmark receiver",
                kind=AgencyKind.CIVIL_AFFAIRS,
            )
            child = MasterChild(display_name="基准")
            session.add_all([agency, child])
            session.flush()
            endpoint, secret = register_endpoint(
                session, agency.code, "bench", receiver_url, cipher=cipher
            )
            alert = Alert(
                master_child_id=child.id,
                risk=RiskType.DROPOUT,
                source=AlertSource.RULE,
                severity=AlertSeverity.HIGH,
                title_zh="基准测试预警",
                title_en="Benchmark alert",
                explanation={"rules": []},
            )
            session.add(alert)
            session.flush()
            recipient = AlertRecipient(
                alert_id=alert.id, endpoint_id=endpoint.id, route_rule="bench"
            )
            session.add(recipient)
            session.flush()
            now = utc_now()
            payload = {
                "alert_id": str(alert.id),
                "version": 1,
                "risk": "dropout",
                "severity": "high",
                "status": "open",
                "title_zh": "基准测试预警",
                "title_en": "Benchmark alert",
                "child_ref": str(child.id),
                "region_code": None,
                "url": f"/alerts/{alert.id}",
                "escalation_level": 0,
                "event": "created",
            }
            table = cast(sa.Table, OutboxMessage.__table__)
            rows = [
                {
                    "id": uuid.uuid4(),
                    "alert_id": alert.id,
                    "recipient_id": recipient.id,
                    "channel": Channel.WEBHOOK,
                    "address": receiver_url,
                    "idempotency_key": f"bench:{run}:{i}",
                    "payload": payload,
                    "status": DeliveryStatus.PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for i in range(messages)
            ]
            connection = session.connection()
            for start in range(0, len(rows), INSERT_CHUNK):
                connection.execute(sa.insert(table), rows[start : start + INSERT_CHUNK])
            alert_id, child_id = alert.id, child.id
    finally:
        engine.dispose()
    return secret, alert_id, child_id


def _pending(factory: sessionmaker[Session], alert_id: uuid.UUID) -> int:
    with factory() as session:
        return int(
            session.scalar(
                sa.select(sa.func.count()).where(
                    OutboxMessage.alert_id == alert_id,
                    OutboxMessage.status == DeliveryStatus.PENDING,
                )
            )
            or 0
        )


def bench_deliveries(
    messages: int = 20_000,
    database_url: str | None = None,
    *,
    concurrency: int = 16,
    batch: int = 500,
) -> dict[str, Any]:
    """Deliver ``messages`` webhook notifications to a local receiver and time it.

    Args:
        messages: outbox rows to deliver.
        database_url: a scratch database to use (its bench rows are deleted afterwards);
            default a new SQLite file in a temporary folder.
        concurrency: parallel sends.
        batch: messages claimed per round.

    Returns:
        ``messages``, ``delivered`` (distinct keys the receiver processed), ``duplicates``
        (POSTs beyond the first per key), ``bad_signatures``, ``rows_sent`` (rows marked sent),
        ``seconds`` and ``deliveries_per_min``.
    """
    with tempfile.TemporaryDirectory(prefix="childlink-bench-delivery-") as scratch:
        folder = Path(scratch)
        settings = Settings(
            database_url=database_url or f"sqlite:///{folder / 'bench.db'}",
            data_dir=folder / "var",
            environment="test",
        )
        migrate.upgrade(settings)
        cipher = FieldCipher(KeyStore(folder / "secrets", env={}))
        run = uuid.uuid4().hex[:8]
        # The secret is only known once the endpoint exists; the receiver learns it then.
        receiver = WebhookReceiver(secret="")
        with receiver:
            secret, alert_id, child_id = seed_bench_outbox(
                settings, cipher, receiver.url, messages, run
            )
            receiver.secret = secret
            engine = build_engine(settings)
            sender = WebhookSender(cipher, max_connections=concurrency, timeout_s=10.0)
            senders: dict[Channel, Sender] = {Channel.WEBHOOK: sender}
            try:
                factory = create_session_factory(engine)
                started = time.perf_counter()
                finished = started
                deadline = started + max(120.0, messages / 50)
                while True:
                    report = deliver_due(
                        factory,
                        senders,
                        batch=batch,
                        concurrency=concurrency,
                        lease=timedelta(seconds=120),
                    )
                    if report.claimed:
                        finished = time.perf_counter()
                        continue
                    if _pending(factory, alert_id) == 0 or time.perf_counter() > deadline:
                        break
                    time.sleep(0.05)  # only retries are left: wait until they are due
                seconds = finished - started
                with factory() as session:
                    rows_sent = int(
                        session.scalar(
                            sa.select(sa.func.count()).where(
                                OutboxMessage.alert_id == alert_id,
                                OutboxMessage.status == DeliveryStatus.SENT,
                            )
                        )
                        or 0
                    )
                if database_url:
                    with unit_of_work(factory) as session:
                        session.execute(sa.delete(Alert).where(Alert.id == alert_id))
                        session.execute(
                            sa.delete(WebhookEndpoint).where(WebhookEndpoint.url == receiver.url)
                        )
                        session.execute(sa.delete(Agency).where(Agency.code == f"bench-{run}"))
                        session.execute(sa.delete(MasterChild).where(MasterChild.id == child_id))
            finally:
                sender.close()
                engine.dispose()
        delivered = sum(1 for key in receiver.processed if key.startswith(f"bench:{run}:"))
        total_posts = sum(receiver.posts.values())
    return {
        "messages": messages,
        "delivered": delivered,
        "duplicates": total_posts - len(receiver.posts),
        "bad_signatures": receiver.bad_signatures,
        "rows_sent": rows_sent,
        "seconds": round(seconds, 3),
        "deliveries_per_min": round(delivered / seconds * 60) if seconds > 0 else 0,
    }


if __name__ == "__main__":
    print(json.dumps(bench_deliveries()))
