"""A small generated county read into events without a database (shared by the risk unit tests)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from childlink.risk.events import children_from_county, events_from_county
from childlink.synth.config import SynthConfig
from childlink.synth.service import generate_county


@pytest.fixture(scope="session")
def county_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("risk-unit-county") / "county"
    generate_county(SynthConfig(children=400, seed=11), out)
    return out


@pytest.fixture(scope="session")
def county_events(county_dir: Path) -> pl.DataFrame:
    return events_from_county(county_dir)


@pytest.fixture(scope="session")
def county_children(county_dir: Path) -> pl.DataFrame:
    return children_from_county(county_dir)
