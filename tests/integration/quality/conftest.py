"""Fixtures of the quality tests: the hand-made welfare roll of :mod:`roll`, ingested for real."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from childlink.ingest.mapping import available_mappings
from childlink.ingest.service import ingest_file
from childlink.sources.service import seed_reference_data
from childlink.store.engine import create_session_factory, unit_of_work
from integration.quality.roll import AS_OF, ROWS, SOURCE, Ingested, write_roll


@pytest.fixture
def factory(engine: sa.Engine) -> sessionmaker[Session]:
    """Session factory on the migrated test database, with the shipped reference data."""
    made = create_session_factory(engine)
    with unit_of_work(made) as session:
        seed_reference_data(session)
    return made


@pytest.fixture
def welfare(factory: sessionmaker[Session], tmp_path: Path) -> Ingested:
    """The hand-made roll, ingested through the real ``ingest_file``."""
    mapping = available_mappings()[SOURCE]
    path = write_roll(tmp_path / "welfare_rolls_2026_06.csv", ROWS)
    result = ingest_file(factory, mapping, path, as_of=AS_OF)
    return Ingested(result=result, factory=factory, mapping=mapping, path=path)


@pytest.fixture
def db_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session of its own for the code under test (fixtures read through ``factory``)."""
    with factory() as session:
        yield session
