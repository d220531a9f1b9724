"""The delivery benchmark counts honestly: every key arrives once, every row ends sent.

Only correctness is asserted (the figure itself is measured by ``childlink bench alerts``).
"""

from __future__ import annotations

import sqlalchemy as sa

from childlink.alerts.bench_delivery import bench_deliveries
from childlink.alerts.models import OutboxMessage, WebhookEndpoint
from childlink.config import Settings
from childlink.store.engine import build_engine, create_session_factory


def test_bench_delivers_every_message_once_on_sqlite() -> None:
    result = bench_deliveries(300, concurrency=4, batch=120)
    assert result["messages"] == 300
    assert result["delivered"] == 300
    assert result["rows_sent"] == 300
    assert result["duplicates"] == 0
    assert result["bad_signatures"] == 0
    assert result["seconds"] > 0
    assert result["deliveries_per_min"] > 0


def test_bench_on_a_given_database_cleans_up_after_itself(database_url: str) -> None:
    result = bench_deliveries(120, database_url, concurrency=4, batch=50)
    assert (result["delivered"], result["rows_sent"], result["duplicates"]) == (120, 120, 0)
    engine = build_engine(Settings(database_url=database_url, environment="test"))
    try:
        with create_session_factory(engine)() as session:
            assert session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0
            assert session.scalar(sa.select(sa.func.count()).select_from(WebhookEndpoint)) == 0
    finally:
        engine.dispose()
