"""A sender process killed with SIGKILL mid-send: the message is delivered after a restart.

The receiver holds the request open after processing it, so the kill lands while the message
is claimed and in flight: the receiver has acted on it but the sender never saw the answer.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from childlink.alerts.bench_delivery import WebhookReceiver
from childlink.alerts.channels import WebhookSender
from childlink.alerts.choices import Channel, DeliveryStatus
from childlink.alerts.delivery import deliver_due, outbox_status
from childlink.config import Settings
from childlink.store.base import utc_now

from .delivery_support import DeliveryWorld, child_env, delivery_world, wait_for

SEND_ONCE = """
import sys
from datetime import timedelta
from childlink.alerts.channels import build_senders, close_senders
from childlink.alerts.delivery import deliver_due
from childlink.config import Settings
from childlink.privacy.keys import FieldCipher, KeyStore
from childlink.store.engine import build_engine, create_session_factory

settings = Settings()
engine = build_engine(settings)
senders = build_senders(settings, FieldCipher(KeyStore.from_settings(settings)))
report = deliver_due(
    create_session_factory(engine), senders, lease=timedelta(seconds=float(sys.argv[1]))
)
close_senders(senders)
print(report.sent, report.retried, report.dead, report.skipped)
"""


@pytest.fixture
def world(migrated_settings: Settings) -> Iterator[DeliveryWorld]:
    yield from delivery_world(migrated_settings)


def test_killed_between_claim_and_answer_is_delivered_after_restart(
    world: DeliveryWorld, tmp_path: Path
) -> None:
    with WebhookReceiver(secret="") as receiver:
        endpoint_id = world.endpoint(receiver.url)
        receiver.secret = world.secrets[endpoint_id]
        world.alert(endpoints=[endpoint_id])
        key = world.message().idempotency_key
        receiver.hold = True
        lease_s = 4
        first = subprocess.Popen(
            [sys.executable, "-c", SEND_ONCE, str(lease_s)],
            env=child_env(world.settings),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for(receiver.arrived, "the POST to arrive", first)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        assert first.returncode == -signal.SIGKILL

        # The row survived the crash, claimed: pending, no attempt recorded, lease running.
        row = world.message()
        assert row.status is DeliveryStatus.PENDING
        assert row.attempts == 0
        assert row.claimed_until is not None
        lease_end: datetime = row.claimed_until
        receiver.release()
        receiver.hold = False
        # While the lease runs nobody else takes it (no duplicate send from a live lease).
        senders = {Channel.WEBHOOK: WebhookSender(world.cipher)}
        try:
            if utc_now() < lease_end:
                assert deliver_due(world.factory, senders).claimed == 0
        finally:
            senders[Channel.WEBHOOK].close()
        with world.factory() as session:
            assert outbox_status(session).in_flight == (1 if utc_now() < lease_end else 0)
        while utc_now() <= lease_end:  # wait for the lease to run out
            time.sleep(0.1)

        restarted = subprocess.run(
            [sys.executable, "-c", SEND_ONCE, "60"],
            env=child_env(world.settings),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert restarted.returncode == 0, restarted.stderr[-2000:]
    assert restarted.stdout.split() == ["1", "0", "0", "0"]
    row = world.message()
    assert row.status is DeliveryStatus.SENT
    assert row.attempts == 1
    # Sent twice (the first answer was lost with the process), processed once.
    assert dict(receiver.posts) == {key: 2}
    assert list(receiver.processed) == [key]
    assert receiver.bad_signatures == 0
