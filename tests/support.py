"""Helpers shared by test modules: synthetic people, reading files, an ingested county."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

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
