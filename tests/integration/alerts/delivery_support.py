"""Fixtures and helpers of the delivery tests: a tiny world of alerts, real local receivers.

Alerts and recipients are written directly with the ORM (one agency, a child per alert), and
notifications are queued through the real :func:`childlink.alerts.outbox.enqueue`, so these
tests do not depend on routing. Receivers are real servers on local ports: the webhook
receiver of :mod:`childlink.alerts.bench_delivery`, an aiosmtpd SMTP server, and a small
HTTP SMS gateway.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession
from sqlalchemy.orm import Session, sessionmaker

from childlink.access.choices import AgencyKind, Role
from childlink.access.models import Agency
from childlink.alerts.choices import AlertSeverity, AlertSource, Channel
from childlink.alerts.models import (
    Alert,
    AlertRecipient,
    ContactAddress,
    OutboxMessage,
    WebhookEndpoint,
)
from childlink.alerts.outbox import enqueue
from childlink.alerts.webhooks import register_endpoint
from childlink.children.models import MasterChild
from childlink.config import Settings
from childlink.identity.models import User
from childlink.privacy.keys import FieldCipher, KeyStore
from childlink.risk.choices import RiskType
from childlink.store.engine import build_engine, create_session_factory, unit_of_work

CHILD_NAME = "李小明"
"""The child's name in the test data; it must never appear in anything sent out."""


@dataclass
class DeliveryWorld:
    """A migrated database of one backend with an agency, its key store and helpers."""

    settings: Settings
    factory: sessionmaker[Session]
    cipher: FieldCipher
    agency_code: str = "civil-affairs-test"
    secrets: dict[uuid.UUID, str] = field(default_factory=dict)

    def endpoint(self, url: str, name: str = "case system") -> uuid.UUID:
        """Register a webhook endpoint of the agency; its secret goes to ``secrets``."""
        with unit_of_work(self.factory) as session:
            endpoint, secret = register_endpoint(
                session, self.agency_code, name, url, cipher=self.cipher
            )
        self.secrets[endpoint.id] = secret
        return endpoint.id

    def user(
        self, username: str, *, email: str | None = None, phone: str | None = None
    ) -> uuid.UUID:
        """A user with optional e-mail and mobile contact addresses."""
        with unit_of_work(self.factory) as session:
            user = User(username=username, display_name=username, role=Role.SUPERVISOR)
            session.add(user)
            session.flush()
            if email:
                session.add(ContactAddress(user_id=user.id, channel=Channel.EMAIL, address=email))
            if phone:
                session.add(ContactAddress(user_id=user.id, channel=Channel.SMS, address=phone))
            return user.id

    def alert(
        self,
        *,
        endpoints: Sequence[uuid.UUID] = (),
        users: Sequence[uuid.UUID] = (),
        risk: RiskType = RiskType.DROPOUT,
    ) -> uuid.UUID:
        """A new child with an open alert routed to the endpoints and users, queued through
        :func:`enqueue` like routing does (webhooks per endpoint, e-mail/SMS per address)."""
        with unit_of_work(self.factory) as session:
            child = MasterChild(display_name=CHILD_NAME)
            session.add(child)
            session.flush()
            alert = Alert(
                master_child_id=child.id,
                risk=risk,
                source=AlertSource.RULE,
                severity=AlertSeverity.HIGH,
                region_code="522799001001",
                title_zh="连续缺勤超过15天",
                title_en="Absent from school for more than 15 days",
                explanation={"rules": [{"rule": "absence_15d"}]},
            )
            session.add(alert)
            session.flush()
            for endpoint_id in endpoints:
                endpoint = session.get_one(WebhookEndpoint, endpoint_id)
                recipient = AlertRecipient(
                    alert_id=alert.id, endpoint_id=endpoint_id, route_rule="test"
                )
                session.add(recipient)
                session.flush()
                enqueue(
                    session,
                    alert=alert,
                    recipient=recipient,
                    channel=Channel.WEBHOOK,
                    address=endpoint.url,
                    payload=payload_of(alert),
                )
            for user_id in users:
                recipient = AlertRecipient(alert_id=alert.id, user_id=user_id, route_rule="test")
                session.add(recipient)
                session.flush()
                for contact in session.scalars(
                    sa.select(ContactAddress).where(ContactAddress.user_id == user_id)
                ):
                    enqueue(
                        session,
                        alert=alert,
                        recipient=recipient,
                        channel=contact.channel,
                        address=contact.address,
                        payload=payload_of(alert),
                    )
            return alert.id

    def messages(self) -> list[OutboxMessage]:
        """Every outbox row, by idempotency key."""
        with self.factory() as session:
            return list(
                session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.idempotency_key))
            )

    def message(self) -> OutboxMessage:
        """The only outbox row."""
        rows = self.messages()
        assert len(rows) == 1, rows
        return rows[0]


def payload_of(alert: Alert, event: str = "created") -> dict[str, Any]:
    """The payload routing puts in the outbox (the contract of issue 7)."""
    return {
        "alert_id": str(alert.id),
        "version": alert.version,
        "risk": alert.risk.value,
        "severity": alert.severity.value,
        "status": alert.status.value,
        "title_zh": alert.title_zh,
        "title_en": alert.title_en,
        "child_ref": str(alert.master_child_id),
        "region_code": alert.region_code,
        "url": f"/alerts/{alert.id}",
        "escalation_level": alert.escalation_level,
        "event": event,
    }


def delivery_world(migrated_settings: Settings) -> Iterator[DeliveryWorld]:
    """The delivery world on a migrated database (test modules wrap it in a fixture)."""
    engine = build_engine(migrated_settings)
    factory = create_session_factory(engine)
    cipher = FieldCipher(KeyStore.from_settings(migrated_settings))
    world = DeliveryWorld(migrated_settings, factory, cipher)
    with unit_of_work(factory) as session:
        session.add(
            Agency(
                code=world.agency_code,
                name_zh="县民政局",
                name_en="County civil affairs bureau",
                kind=AgencyKind.CIVIL_AFFAIRS,
            )
        )
    try:
        yield world
    finally:
        engine.dispose()


class SmtpSink:
    """A real SMTP server (aiosmtpd) on a local port that keeps what it receives.

    Recipients in ``refuse`` are refused with 550 (a permanent failure).
    """

    def __init__(self, port: int) -> None:
        self.messages: list[Envelope] = []
        self.refuse: set[str] = set()
        self.controller = Controller(self, hostname="127.0.0.1", port=port)
        self.port = port

    async def handle_RCPT(  # noqa: N802 (aiosmtpd hook name)
        self,
        server: SMTP,
        session: SmtpSession,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 (aiosmtpd hook name)
        self, server: SMTP, session: SmtpSession, envelope: Envelope
    ) -> str:
        self.messages.append(envelope)
        return "250 Message accepted for delivery"

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.controller.stop()


class SmsGateway:
    """A local HTTP SMS gateway that records ``{to, text, idempotency_key}`` documents."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                gateway.received.append(json.loads(body))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/sms"

    def __enter__(self) -> SmsGateway:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def child_env(settings: Settings) -> dict[str, str]:
    """Environment of a worker process on the test's database and key store."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHILDLINK_")}
    env.update(
        {
            "CHILDLINK_DATABASE_URL": settings.effective_database_url,
            "CHILDLINK_DATA_DIR": str(settings.data_dir),
            "CHILDLINK_ENVIRONMENT": "test",
            "CHILDLINK_WEBHOOK_TIMEOUT_S": "120",
            "NO_COLOR": "1",
        }
    )
    return env


def wait_for(event: threading.Event, what: str, process: subprocess.Popen[str]) -> None:
    """Wait for ``event`` while the process lives (fail with its stderr if it dies)."""
    deadline = time.monotonic() + 90
    while not event.wait(0.1):
        if process.poll() is not None:
            _, err = process.communicate()
            pytest.fail(f"process ended before {what}: {err[-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"timed out waiting for {what}")
