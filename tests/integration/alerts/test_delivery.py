"""Outbox delivery on both backends: signed webhooks, retries with backoff, exactly-once
processing by a deduplicating receiver, dead letters, e-mail over real SMTP, SMS waiting for a
gateway, and concurrent workers never sharing a message.

Time is controlled by passing ``now`` to :func:`deliver_due`; receivers are real local servers.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from email.message import Message

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from childlink.alerts.bench_delivery import WebhookReceiver
from childlink.alerts.channels import (
    NO_SMS_GATEWAY,
    NO_SMTP,
    WebhookSender,
    build_senders,
    close_senders,
    message_id,
    payload_body,
    sign,
    verify_signature,
)
from childlink.alerts.choices import Channel, DeliveryStatus
from childlink.alerts.delivery import backoff_delay, deliver_due, outbox_status
from childlink.alerts.models import Alert, AlertRecipient, OutboxMessage, WebhookEndpoint
from childlink.alerts.outbox import enqueue
from childlink.alerts.webhooks import disable_endpoint, endpoint_secret, list_endpoints
from childlink.alerts.worker import run_worker
from childlink.config import Settings
from childlink.store.base import utc_now
from childlink.store.engine import unit_of_work
from support import free_port

from .delivery_support import CHILD_NAME, DeliveryWorld, SmsGateway, SmtpSink, delivery_world


@pytest.fixture
def world(migrated_settings: Settings) -> Iterator[DeliveryWorld]:
    yield from delivery_world(migrated_settings)


def webhook_senders(world: DeliveryWorld) -> dict[Channel, WebhookSender]:
    return {Channel.WEBHOOK: WebhookSender(world.cipher, timeout_s=5.0)}


# --- signatures and backoff (no database) -------------------------------------------------


def test_signature_verifies_and_rejects_tampering_and_replays() -> None:
    body = payload_body({"alert_id": "a", "title_zh": "预警"})
    now = int(time.time())
    header = sign("whsec_x", now, body)
    assert header.startswith("sha256=")
    assert verify_signature("whsec_x", str(now), body, header)
    assert not verify_signature("whsec_y", str(now), body, header)
    assert not verify_signature("whsec_x", str(now), body + b" ", header)
    assert not verify_signature("whsec_x", str(now + 1), body, header)
    assert not verify_signature("whsec_x", "not-a-number", body, header)
    assert not verify_signature("whsec_x", str(now), body, None)
    stale = now - 301
    assert not verify_signature("whsec_x", str(stale), body, sign("whsec_x", stale, body))
    assert verify_signature("whsec_x", str(stale), body, sign("whsec_x", stale, body), 600)


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    rng = random.Random(7)
    for attempts, ceiling in [(1, 5), (2, 10), (3, 20), (8, 640), (20, 3600)]:
        for _ in range(50):
            delay = backoff_delay(attempts, rng=rng).total_seconds()
            assert ceiling / 2 <= delay <= ceiling
    draws = {backoff_delay(4, rng=rng) for _ in range(20)}
    assert len(draws) > 1, "jitter spreads retries"


# --- webhooks ------------------------------------------------------------------------------


def test_webhook_is_signed_carries_the_key_and_no_identity(world: DeliveryWorld) -> None:
    with WebhookReceiver(secret="") as receiver:
        endpoint_id = world.endpoint(receiver.url)
        receiver.secret = world.secrets[endpoint_id]
        alert_ids = [world.alert(endpoints=[endpoint_id]) for _ in range(3)]
        senders = webhook_senders(world)
        try:
            report = deliver_due(world.factory, senders)
        finally:
            close_senders(senders)
    assert (report.sent, report.retried, report.dead, report.skipped) == (3, 0, 0, 0)
    assert receiver.bad_signatures == 0
    rows = world.messages()
    assert {r.status for r in rows} == {DeliveryStatus.SENT}
    assert all(r.sent_at is not None and r.attempts == 1 and r.claimed_until is None for r in rows)
    assert set(receiver.posts) == {r.idempotency_key for r in rows}
    assert set(receiver.posts.values()) == {1}
    payloads = list(receiver.processed.values())
    assert {p["alert_id"] for p in payloads} == {str(a) for a in alert_ids}
    for payload in payloads:
        assert payload["url"] == f"/alerts/{payload['alert_id']}"
        assert CHILD_NAME not in json.dumps(payload, ensure_ascii=False)
    # The secret is stored encrypted, bound to its endpoint row.
    with world.factory() as session:
        [listed] = list_endpoints(session)
        row = session.get_one(WebhookEndpoint, endpoint_id)
    assert listed.id == endpoint_id
    assert listed.is_active
    assert world.secrets[endpoint_id].encode() not in row.secret_encrypted
    assert endpoint_secret(row, world.cipher) == world.secrets[endpoint_id]


def test_channel_down_is_retried_with_backoff_then_delivered_exactly_once(
    world: DeliveryWorld,
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    endpoint_id = world.endpoint(url)
    world.alert(endpoints=[endpoint_id])
    key = world.message().idempotency_key
    senders = webhook_senders(world)
    t0 = utc_now()
    try:
        # 1. Nothing listens: a transient failure, retried after 2.5-5 s.
        report = deliver_due(world.factory, senders, now=t0, rng=random.Random(1))
        assert (report.sent, report.retried) == (0, 1)
        row = world.message()
        assert row.status is DeliveryStatus.PENDING
        assert row.attempts == 1
        assert row.claimed_until is None
        assert row.last_error is not None
        assert row.last_error.startswith("connection")
        wait = (row.next_attempt_at - t0).total_seconds()
        assert 2.5 <= wait <= 5 + report.seconds
        # Not due yet: nothing is claimed.
        assert deliver_due(world.factory, senders, now=t0 + timedelta(seconds=2)).claimed == 0

        with WebhookReceiver(secret=world.secrets[endpoint_id], port=port) as receiver:
            # 2. The receiver is up but failing (503): retried again, twice as late.
            receiver.fail_with = 503
            t1 = t0 + timedelta(seconds=10)
            report = deliver_due(world.factory, senders, now=t1, rng=random.Random(2))
            assert report.retried == 1
            row = world.message()
            assert row.attempts == 2
            assert row.last_error == "HTTP 503 Service Unavailable"
            assert 5 <= (row.next_attempt_at - t1).total_seconds() <= 10 + report.seconds
            assert receiver.processed == {}

            # 3. It comes back: delivered, and only once however often the worker runs.
            receiver.fail_with = None
            for minutes in (1, 2, 60):
                deliver_due(world.factory, senders, now=t0 + timedelta(minutes=minutes))
    finally:
        close_senders(senders)
    row = world.message()
    assert row.status is DeliveryStatus.SENT
    assert row.attempts == 3
    assert dict(receiver.posts) == {key: 2}, "one 503, then one success"
    assert list(receiver.processed) == [key]


def test_permanent_error_is_dead_lettered_at_once(world: DeliveryWorld) -> None:
    with WebhookReceiver(secret="") as receiver:
        endpoint_id = world.endpoint(receiver.url)
        receiver.fail_with = 400
        world.alert(endpoints=[endpoint_id])
        senders = webhook_senders(world)
        try:
            report = deliver_due(world.factory, senders)
            later = deliver_due(world.factory, senders, now=utc_now() + timedelta(days=1))
        finally:
            close_senders(senders)
    assert (report.dead, later.claimed) == (1, 0)
    row = world.message()
    assert row.status is DeliveryStatus.DEAD
    assert row.attempts == 1
    assert row.last_error == "HTTP 400 Bad Request"
    assert sum(receiver.posts.values()) == 1


def test_transient_errors_are_dead_lettered_after_max_attempts(world: DeliveryWorld) -> None:
    with WebhookReceiver(secret="") as receiver:
        endpoint_id = world.endpoint(receiver.url)
        receiver.fail_with = 503
        world.alert(endpoints=[endpoint_id])
        senders = webhook_senders(world)
        now = utc_now()
        reports = []
        try:
            for hour in range(5):
                reports.append(
                    deliver_due(
                        world.factory, senders, now=now + timedelta(hours=hour), max_attempts=3
                    )
                )
        finally:
            close_senders(senders)
    assert [(r.retried, r.dead) for r in reports] == [(1, 0), (1, 0), (0, 1), (0, 0), (0, 0)]
    row = world.message()
    assert row.status is DeliveryStatus.DEAD
    assert row.attempts == 3
    assert row.last_error == "HTTP 503 Service Unavailable"
    assert sum(receiver.posts.values()) == 3


def test_a_slow_round_releases_what_it_cannot_send_within_its_lease(
    world: DeliveryWorld,
) -> None:
    with WebhookReceiver(secret="") as receiver:
        endpoint_id = world.endpoint(receiver.url)
        receiver.secret = world.secrets[endpoint_id]
        for _ in range(3):
            world.alert(endpoints=[endpoint_id])
        receiver.delay_s = 2.0  # each answer takes 2 s; no send may start after 1.5 s
        senders = webhook_senders(world)
        try:
            report = deliver_due(
                world.factory,
                senders,
                concurrency=1,
                lease=timedelta(seconds=4),
                longest_send_s=2.5,
            )
            receiver.delay_s = 0.0
            rest = deliver_due(world.factory, senders)
        finally:
            close_senders(senders)
    assert (report.sent, report.released, report.retried) == (1, 2, 0)
    assert (rest.sent, rest.released) == (2, 0)
    rows = world.messages()
    assert {r.status for r in rows} == {DeliveryStatus.SENT}
    assert {r.attempts for r in rows} == {1}, "a released message used no attempt"
    assert set(receiver.posts.values()) == {1}


def test_disabled_endpoint_dead_letters_its_queued_messages(world: DeliveryWorld) -> None:
    with WebhookReceiver(secret="") as receiver:
        endpoint_id = world.endpoint(receiver.url)
        world.alert(endpoints=[endpoint_id])
        with unit_of_work(world.factory) as session:
            disable_endpoint(session, endpoint_id)
        senders = webhook_senders(world)
        try:
            report = deliver_due(world.factory, senders)
        finally:
            close_senders(senders)
    assert report.dead == 1
    assert receiver.posts == {}
    assert world.message().last_error == "webhook endpoint disabled"


def test_same_alert_version_is_queued_once(world: DeliveryWorld) -> None:
    endpoint_id = world.endpoint("http://127.0.0.1:9/hook")
    alert_id = world.alert(endpoints=[endpoint_id])
    with unit_of_work(world.factory) as session:
        alert = session.get_one(Alert, alert_id)
        recipient = session.scalars(
            sa.select(AlertRecipient).where(AlertRecipient.alert_id == alert_id)
        ).one()
        for _ in range(2):  # the same version again, in the same transaction and flushed
            assert (
                enqueue(
                    session,
                    alert=alert,
                    recipient=recipient,
                    channel=Channel.WEBHOOK,
                    address="http://127.0.0.1:9/hook",
                    payload={},
                )
                is None
            )
    assert len(world.messages()) == 1
    # A new version of the alert is a new notification.
    with unit_of_work(world.factory) as session:
        alert = session.get_one(Alert, alert_id)
        alert.version += 1
        recipient = session.scalars(
            sa.select(AlertRecipient).where(AlertRecipient.alert_id == alert_id)
        ).one()
        queued = enqueue(
            session,
            alert=alert,
            recipient=recipient,
            channel=Channel.WEBHOOK,
            address="http://127.0.0.1:9/hook",
            payload={},
        )
        assert queued is not None
    assert len(world.messages()) == 2
    # Even a writer that skips enqueue's check cannot queue a key twice.
    first = world.messages()[0]
    with pytest.raises(IntegrityError), unit_of_work(world.factory) as session:
        session.add(
            OutboxMessage(
                alert_id=first.alert_id,
                recipient_id=first.recipient_id,
                channel=Channel.WEBHOOK,
                address=first.address,
                idempotency_key=first.idempotency_key,
                payload={},
            )
        )


def test_concurrent_workers_never_send_the_same_message(world: DeliveryWorld) -> None:
    with WebhookReceiver(secret="") as receiver:
        endpoint_ids = [world.endpoint(receiver.url, f"system {i}") for i in range(4)]
        receiver.other_secrets.update(world.secrets.values())
        for _ in range(30):
            world.alert(endpoints=endpoint_ids)  # 120 messages
        senders = webhook_senders(world)
        reports = []

        def work() -> None:
            for _ in range(10):
                reports.append(deliver_due(world.factory, senders, batch=7, concurrency=4))

        threads = [threading.Thread(target=work) for _ in range(3)]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
        finally:
            close_senders(senders)
    assert sum(r.sent for r in reports) == 120
    assert len(receiver.posts) == 120
    assert set(receiver.posts.values()) == {1}
    assert {r.status for r in world.messages()} == {DeliveryStatus.SENT}


# --- e-mail and SMS ------------------------------------------------------------------------


def test_email_goes_out_over_smtp_in_chinese_and_english(world: DeliveryWorld) -> None:
    user_id = world.user("supervisor-a", email="supervisor@example.org")
    refused_id = world.user("gone", email="gone@example.org")
    world.alert(users=[user_id, refused_id])
    with SmtpSink(free_port()) as smtp:
        smtp.refuse.add("gone@example.org")
        settings = world.settings.model_copy(
            update={"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "smtp_from": "alerts@x.cn"}
        )
        senders = build_senders(settings, world.cipher)
        try:
            report = deliver_due(world.factory, senders)
        finally:
            close_senders(senders)
    assert (report.sent, report.dead) == (1, 1)
    rows = {r.address: r for r in world.messages()}
    sent = rows["supervisor@example.org"]
    assert sent.status is DeliveryStatus.SENT
    assert rows["gone@example.org"].status is DeliveryStatus.DEAD
    assert "550" in (rows["gone@example.org"].last_error or "")
    assert len(smtp.messages) == 1
    envelope = smtp.messages[0]
    assert envelope.mail_from == "alerts@x.cn"
    assert envelope.rcpt_tos == ["supervisor@example.org"]
    mail: Message = message_from_bytes(envelope.original_content or b"")
    assert mail["Message-ID"] == message_id(sent.idempotency_key)
    assert mail["X-ChildLink-Idempotency-Key"] == sent.idempotency_key
    body = mail.get_payload(decode=True)
    assert isinstance(body, bytes)
    text = body.decode("utf-8")
    assert "连续缺勤超过15天" in text
    assert "Absent from school for more than 15 days" in text
    assert str(sent.payload["child_ref"]) in text
    assert f"/alerts/{sent.alert_id}" in text
    assert CHILD_NAME not in text


def test_unconfigured_channels_stay_pending_with_a_reason(world: DeliveryWorld) -> None:
    user_id = world.user("director-b", email="b@example.org", phone="13800000000")
    world.alert(users=[user_id])
    senders = build_senders(world.settings, world.cipher)  # no SMTP host, no SMS gateway
    try:
        report = deliver_due(world.factory, senders)
        again = deliver_due(world.factory, senders)
    finally:
        close_senders(senders)
    assert (report.skipped, again.claimed) == (2, 0), "re-checked a minute later, not at once"
    rows = {r.channel: r for r in world.messages()}
    assert rows[Channel.SMS].last_error == NO_SMS_GATEWAY
    assert rows[Channel.EMAIL].last_error == NO_SMTP
    assert all(r.status is DeliveryStatus.PENDING and r.attempts == 0 for r in rows.values())
    with world.factory() as session:
        status = outbox_status(session, now=utc_now() + timedelta(minutes=5))
    assert status.counts == {"email": {"pending": 1}, "sms": {"pending": 1}}
    assert status.pending_due == 2
    assert status.oldest_pending_age_s is not None
    assert {e["last_error"] for e in status.pending_errors} == {NO_SMS_GATEWAY, NO_SMTP}

    # Once a gateway is configured, the waiting SMS goes out.
    with SmsGateway() as gateway:
        settings = world.settings.model_copy(update={"sms_gateway_url": gateway.url})
        senders = build_senders(settings, world.cipher)
        try:
            report = deliver_due(world.factory, senders, now=utc_now() + timedelta(minutes=2))
        finally:
            close_senders(senders)
    assert (report.sent, report.skipped) == (1, 1)
    sms = {r.channel: r for r in world.messages()}[Channel.SMS]
    assert sms.status is DeliveryStatus.SENT
    [document] = gateway.received
    assert document["to"] == "13800000000"
    assert document["idempotency_key"] == sms.idempotency_key
    assert "连续缺勤超过15天" in document["text"]
    assert CHILD_NAME not in document["text"]


# --- the worker loop in a thread (as `childlink serve` runs it) -----------------------------


def test_worker_thread_delivers_until_stopped(world: DeliveryWorld) -> None:
    with WebhookReceiver(secret="") as receiver:
        endpoint_id = world.endpoint(receiver.url)
        receiver.secret = world.secrets[endpoint_id]
        stop = threading.Event()
        stats: list[object] = []
        thread = threading.Thread(
            target=lambda: stats.append(
                run_worker(
                    world.settings,
                    stop_event=stop,
                    interval=0.05,
                    pipeline=False,
                    factory=world.factory,
                )
            )
        )
        thread.start()
        try:
            world.alert(endpoints=[endpoint_id])
            deadline = time.monotonic() + 30
            while not receiver.processed and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            stop.set()
            thread.join(timeout=30)
    assert not thread.is_alive()
    assert len(receiver.processed) == 1
    assert world.message().status is DeliveryStatus.SENT
    assert len(stats) == 1
