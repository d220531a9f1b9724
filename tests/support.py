"""Helpers shared by test modules: synthetic people, reading files, an ingested county."""

from __future__ import annotations

import csv
import datetime as dt
import socket
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from childlink.config import Settings
from childlink.core.id_number import compose
from childlink.ingest.mapping import available_mappings, mapping_for_file
from childlink.ingest.readers import RawBatch, ReadOptions, read_batches
from childlink.ingest.service import ingest_file
from childlink.regions.service import load_regions
from childlink.sources.service import seed_reference_data
from childlink.store.engine import unit_of_work
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


def load_county_reference(factory: sessionmaker[Session], county: Path) -> None:
    """Seed departments and sources and load the county's region tree."""
    with unit_of_work(factory) as session:
        seed_reference_data(session)
        with (county / "reference" / "regions.csv").open(encoding="utf-8") as handle:
            load_regions(session, list(csv.DictReader(handle)))


def ingest_county(factory: sessionmaker[Session], county: Path) -> None:
    """Ingest every export of a synthetic county through its shipped mapping."""
    mappings = available_mappings()
    for path in sorted((county / "exports").rglob("*.*")):
        mapping = mapping_for_file(path, mappings)
        assert mapping is not None, path
        ingest_file(factory, mapping, path)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """uvicorn serving ``create_app(settings)`` on 127.0.0.1 in a daemon thread.

    A real server on a real port, so HTTP clients and browsers talk to the app as they would
    in production (cookies, redirects, static files).
    """

    def __init__(self, settings: Settings) -> None:
        import uvicorn

        from childlink.api.app import create_app

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
