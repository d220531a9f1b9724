"""``childlink worker`` stopped with SIGTERM mid-batch finishes it; the ``webhooks`` and
``outbox`` commands.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from childlink.alerts.bench_delivery import WebhookReceiver
from childlink.alerts.choices import DeliveryStatus
from childlink.cli.main import app
from childlink.config import Settings

from .delivery_support import DeliveryWorld, child_env, delivery_world, wait_for

CHILDLINK = Path(sys.executable).with_name("childlink")


@pytest.fixture
def world(migrated_settings: Settings) -> Iterator[DeliveryWorld]:
    yield from delivery_world(migrated_settings)


def test_worker_finishes_its_batch_on_sigterm(world: DeliveryWorld, tmp_path: Path) -> None:
    with WebhookReceiver(secret="") as receiver:
        endpoint_id = world.endpoint(receiver.url)
        receiver.secret = world.secrets[endpoint_id]
        world.alert(endpoints=[endpoint_id])
        receiver.hold = True
        worker = subprocess.Popen(
            [
                str(CHILDLINK),
                "worker",
                "--interval",
                "0.2",
                "--no-pipeline",
                "--escalate-every",
                "3600",
            ],
            env=child_env(world.settings),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for(receiver.arrived, "the POST to arrive", worker)
            worker.send_signal(signal.SIGTERM)
            time.sleep(0.3)  # the signal lands while the send is still in flight
            assert worker.poll() is None, "the worker waits for its batch"
            receiver.release()
            _, err = worker.communicate(timeout=60)
        finally:
            if worker.poll() is None:
                worker.kill()
    assert worker.returncode == 0, err[-2000:]
    assert "SIGTERM received" in err
    assert "sent 1" in err
    assert "errors 0" in err, err[-2000:]
    row = world.message()
    assert row.status is DeliveryStatus.SENT
    assert sum(receiver.posts.values()) == 1


def test_webhooks_and_outbox_commands(world: DeliveryWorld) -> None:
    runner = CliRunner()
    env = {
        "CHILDLINK_DATABASE_URL": world.settings.effective_database_url,
        "CHILDLINK_DATA_DIR": str(world.settings.data_dir),
        "CHILDLINK_ENVIRONMENT": "test",
    }
    added = runner.invoke(
        app,
        [
            "webhooks",
            "add",
            world.agency_code,
            "case system",
            "https://cases.example/hook",
            "--json",
        ],
        env=env,
    )
    assert added.exit_code == 0, added.output
    document = json.loads(added.stdout)
    assert document["secret"].startswith("whsec_")
    listed = runner.invoke(app, ["webhooks", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    [endpoint] = json.loads(listed.stdout)
    assert endpoint["id"] == document["id"]
    assert endpoint["active"] is True
    assert document["secret"] not in listed.stdout
    bad = runner.invoke(
        app, ["webhooks", "add", "no-such-agency", "x", "https://x.example/"], env=env
    )
    assert bad.exit_code != 0
    refused = runner.invoke(app, ["webhooks", "add", world.agency_code, "x", "ftp://x/"], env=env)
    assert refused.exit_code != 0

    world.alert(endpoints=[uuid.UUID(document["id"])])
    status = runner.invoke(app, ["outbox", "status", "--json"], env=env)
    assert status.exit_code == 0, status.output
    counts = json.loads(status.stdout)
    assert counts["counts"] == {"webhook": {"pending": 1}}
    assert counts["pending_due"] == 1
    assert counts["oldest_pending_age_s"] >= 0
    human = runner.invoke(app, ["outbox", "status"], env=env)
    assert human.exit_code == 0
    assert "webhook" in human.stdout

    disabled = runner.invoke(app, ["webhooks", "disable", document["id"]], env=env)
    assert disabled.exit_code == 0, disabled.output
    listed = runner.invoke(app, ["webhooks", "list", "--json"], env=env)
    assert json.loads(listed.stdout)[0]["active"] is False


def test_webhooks_ping_sends_a_signed_test_event(world: DeliveryWorld) -> None:
    """A department checks its receiver: the ping is signed like an alert and carries no child
    data; a receiver that refuses it makes the command fail with what it answered."""
    runner = CliRunner()
    env = {
        "CHILDLINK_DATABASE_URL": world.settings.effective_database_url,
        "CHILDLINK_DATA_DIR": str(world.settings.data_dir),
        "CHILDLINK_ENVIRONMENT": "test",
    }
    with WebhookReceiver("not-yet-known") as receiver:
        added = runner.invoke(
            app, ["webhooks", "add", world.agency_code, "desk", receiver.url, "--json"], env=env
        )
        assert added.exit_code == 0, added.output
        document = json.loads(added.stdout)
        receiver.secret = document["secret"]

        pinged = runner.invoke(app, ["webhooks", "ping", document["id"], "--json"], env=env)
        assert pinged.exit_code == 0, pinged.output
        assert json.loads(pinged.stdout)["ok"] is True
        [payload] = receiver.processed.values()
        assert payload["event"] == "ping"
        assert set(payload) == {"event", "endpoint_id", "idempotency_key"}
        assert receiver.bad_signatures == 0

        receiver.secret = "whsec_wrong"  # the receiver was configured with another secret
        refused = runner.invoke(app, ["webhooks", "ping", document["id"], "--json"], env=env)
        assert refused.exit_code == 1
        assert "401" in json.loads(refused.stdout)["detail"]
        assert receiver.bad_signatures == 1
