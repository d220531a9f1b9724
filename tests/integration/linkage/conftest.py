"""A generated county ingested into the test database (shared by the linkage tests)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from childlink.ingest.mapping import available_mappings, mapping_for_file
from childlink.ingest.service import ingest_file
from childlink.regions.service import load_regions
from childlink.sources.service import seed_reference_data
from childlink.store.engine import create_session_factory, unit_of_work
from childlink.synth.config import SynthConfig
from childlink.synth.service import generate_county


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("county") / "c"
    generate_county(SynthConfig(children=500, seed=1), out)
    return out


@pytest.fixture
def factory(engine: sa.Engine, county: Path) -> sessionmaker[Session]:
    made = create_session_factory(engine)
    with unit_of_work(made) as session:
        seed_reference_data(session)
        with (county / "reference" / "regions.csv").open(encoding="utf-8") as handle:
            load_regions(session, list(csv.DictReader(handle)))
    mappings = available_mappings()
    for path in sorted((county / "exports").rglob("*.*")):
        mapping = mapping_for_file(path, mappings)
        assert mapping is not None, path
        ingest_file(made, mapping, path)
    return made
