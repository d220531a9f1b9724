"""A small linked county with risk models in the real registry, once per database backend.

The county (200 children) is generated, ingested (all but the mandatory reports, which arrive
later as a new batch in one test) and linked. Its six-month outcomes are too rare in 200
children to learn from, so the models here are trained, with the real ``train`` and saved in
the real :class:`~childlink.risk.registry.Registry`, on a stand-in label: whether the
generator's true probability is in the top fifth. These tests check how scores are stored,
explained, re-scored and reviewed, not how good the models are (``childlink risk evaluate``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from childlink.access.consent import seed_demo_legal_bases
from childlink.config import Settings
from childlink.identity.demo import DemoAccount, seed_demo_accounts
from childlink.ingest.mapping import available_mappings, mapping_for_file
from childlink.ingest.service import ingest_file
from childlink.linkage.service import link_county
from childlink.store import migrate
from childlink.store.engine import build_engine, create_session_factory, unit_of_work
from childlink.synth.config import SynthConfig
from childlink.synth.service import generate_county
from risk_support import register_models
from support import backend_database, load_county_reference

COUNTY_CHILDREN = 200
LATE_EXPORT = "mandatory_reports.csv"


@dataclass
class RiskCounty:
    """The linked county with registered models."""

    settings: Settings
    factory: sessionmaker[Session]
    county_dir: Path
    versions: dict[str, str]
    backend: str
    accounts: dict[str, DemoAccount]


@pytest.fixture(scope="session")
def risk_county_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("risk-county") / "county"
    generate_county(SynthConfig(children=COUNTY_CHILDREN, seed=5), out)
    return out


def ingest_exports(factory: sessionmaker[Session], county: Path, *, late: bool) -> None:
    """Ingest the county's exports: all but the late one, or only the late one."""
    mappings = available_mappings()
    for path in sorted((county / "exports").rglob("*.*")):
        if (path.name == LATE_EXPORT) != late:
            continue
        mapping = mapping_for_file(path, mappings)
        assert mapping is not None, path
        ingest_file(factory, mapping, path)


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def risk_county(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    risk_county_files: Path,
) -> Iterator[RiskCounty]:
    """The county linked on one backend with models registered (one per test module)."""
    tmp = tmp_path_factory.mktemp(f"risk-{request.param}")
    for url in backend_database(request, request.param, tmp, "risk"):
        settings = Settings(database_url=url, data_dir=tmp / "var", environment="test")
        migrate.upgrade(settings)
        engine = build_engine(settings)
        try:
            factory = create_session_factory(engine)
            load_county_reference(factory, risk_county_files)
            ingest_exports(factory, risk_county_files, late=False)
            link_county(factory, data_dir=settings.data_dir)
            versions = register_models(factory, settings.data_dir, risk_county_files)
            with unit_of_work(factory) as session:
                seed_demo_legal_bases(session)
                accounts = {a.username: a for a in seed_demo_accounts(session)}
            yield RiskCounty(
                settings, factory, risk_county_files, versions, request.param, accounts
            )
        finally:
            engine.dispose()
