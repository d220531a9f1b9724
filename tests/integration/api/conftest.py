"""A small linked county behind a real uvicorn server, once per database backend.

The county (about 200 children) is generated, ingested and linked once per backend per test
session; the app runs in a uvicorn server on a free port in a background thread, and tests
talk to it over HTTP with httpx, exactly as a browser or a script would.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from childlink.access.consent import seed_demo_legal_bases
from childlink.config import Settings
from childlink.identity.demo import DemoAccount, seed_demo_accounts
from childlink.linkage.service import link_county
from childlink.store import migrate
from childlink.store.engine import build_engine, create_session_factory, unit_of_work
from childlink.synth.config import SynthConfig
from childlink.synth.service import generate_county
from support import LiveServer, backend_database, ingest_county, load_county_reference

COUNTY_CHILDREN = 200


@dataclass
class County:
    """The shared county: settings, a session factory, the demo accounts and the server."""

    settings: Settings
    factory: sessionmaker[Session]
    accounts: dict[str, DemoAccount]
    url: str
    backend: str
    extra: dict[str, object] = field(default_factory=dict)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60)

    def login(self, username: str, password: str) -> tuple[httpx.Client, str]:
        """A client holding a session cookie, and its CSRF token."""
        client = self.client()
        response = client.post(
            "/api/v1/auth/login", json={"username": username, "password": password}
        )
        assert response.status_code == 200, response.text
        return client, str(response.json()["csrf_token"])

    def login_as(self, username: str) -> tuple[httpx.Client, str]:
        account = self.accounts[username]
        return self.login(account.username, account.password)


@pytest.fixture(scope="session")
def county_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("api-county") / "county"
    generate_county(SynthConfig(children=COUNTY_CHILDREN, seed=5), out)
    return out


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def county(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    county_files: Path,
) -> Iterator[County]:
    """The linked county on one backend, served over HTTP (shared; tests must not break it)."""
    tmp = tmp_path_factory.mktemp(f"api-{request.param}")
    for url in backend_database(request, request.param, tmp, "api"):
        settings = Settings(
            database_url=url,
            data_dir=tmp / "var",
            environment="test",
            login_attempts_per_ip=100_000,
        )
        migrate.upgrade(settings)
        engine = build_engine(settings)
        try:
            factory = create_session_factory(engine)
            load_county_reference(factory, county_files)
            ingest_county(factory, county_files)
            link_county(factory, data_dir=settings.data_dir)
            with unit_of_work(factory) as session:
                seed_demo_legal_bases(session, consent_children=0)  # statutory duty per source
                accounts = {account.username: account for account in seed_demo_accounts(session)}
            with LiveServer(settings) as server:
                yield County(settings, factory, accounts, server.url, request.param)
        finally:
            engine.dispose()
