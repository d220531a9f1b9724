"""A generated county ingested and linked into the test database (households tests)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from childlink.config import Settings
from childlink.linkage.service import link_county
from childlink.store.engine import create_session_factory
from childlink.synth.config import SynthConfig
from childlink.synth.service import generate_county
from support import ingest_county, load_county_reference


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("county") / "c"
    generate_county(SynthConfig(children=500, seed=1), out)
    return out


@pytest.fixture
def factory(engine: sa.Engine, county: Path, migrated_settings: Settings) -> sessionmaker[Session]:
    made = create_session_factory(engine)
    load_county_reference(made, county)
    ingest_county(made, county)
    link_county(made, data_dir=migrated_settings.data_dir)
    return made
