"""Helpers shared by test modules: synthetic people, reading files, an ingested county."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

# The live server lives in the package (``childlink bench alerts`` uses it too).
from childlink.api.live_server import LiveServer as LiveServer
from childlink.api.live_server import free_port as free_port
from childlink.core.id_number import compose
from childlink.ingest.readers import RawBatch, ReadOptions, read_batches
from childlink.risk.stand_in import ingest_county as ingest_county
from childlink.risk.stand_in import load_county_reference as load_county_reference
from childlink.synth.names import draw_given_names, draw_surnames


def synthetic_people(n: int, seed: int) -> list[tuple[str, str]]:
    """Synthetic (name, valid ID number) pairs from the generator's name pools."""
    rng = np.random.default_rng(seed)
    years = rng.integers(2006, 2020, n)
    names = draw_surnames(rng, n) + draw_given_names(rng, rng.random(n) < 0.5, years)
    ids = [
        compose("522799", dt.date(int(y), 1 + i % 12, 1 + i % 28), i % 1000)
        for i, y in enumerate(years)
    ]
    return list(zip((str(v) for v in names), ids, strict=True))


def read_all(path: Path, **options: Any) -> list[RawBatch]:
    """Every batch the reader yields for ``path``."""
    return list(read_batches(path, ReadOptions(**options)))


def backend_database(
    request: pytest.FixtureRequest, backend: str, tmp: Path, prefix: str
) -> Iterator[str]:
    """A database URL on ``backend`` for a module- or session-scoped county fixture.

    SQLite: a file under ``tmp``. PostgreSQL: a fresh schema ``<prefix>_<random>`` in the test
    database (the URL sets ``search_path`` to it), dropped when the generator is closed.
    """
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'childlink.db'}"
        return
    database = request.getfixturevalue("postgres_database_url")
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(database, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        yield (
            make_url(database)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()
