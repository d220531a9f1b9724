"""Browser tests: a small linked county behind a real uvicorn server, driven by real Chromium.

The county (about 200 children) is generated, ingested, linked and given the demo accounts
and legal bases once per test session; the app runs in uvicorn on a free port
(:class:`support.LiveServer`); Debian's ``/usr/bin/chromium`` is driven headless by
Playwright (never a downloaded browser). Tests skip when Chromium is missing locally and fail
under CI, which installs it (``.ci/run``).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from childlink.access.consent import seed_demo_legal_bases
from childlink.children.choices import ChildStatus
from childlink.children.models import MasterChild
from childlink.config import Settings
from childlink.households.service import build_households
from childlink.identity.demo import DemoAccount, seed_demo_accounts
from childlink.linkage.service import link_county
from childlink.sources.models import DataSource, SourceRecord
from childlink.store import migrate
from childlink.store.engine import build_engine, create_session_factory, unit_of_work
from childlink.synth.config import SynthConfig
from childlink.synth.service import generate_county
from support import LiveServer, ingest_county, load_county_reference

CHROMIUM = "/usr/bin/chromium"
COUNTY_CHILDREN = 200
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}
ID_MASKED = re.compile(r"^\d{6}\*{8}\d{3}[\dX]$")

if os.environ.get("CI") is None and not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402


@dataclass(frozen=True)
class Site:
    """The served county and the children the tests look at."""

    url: str
    settings: Settings
    factory: sessionmaker[Session]
    accounts: dict[str, DemoAccount]
    director_child: uuid.UUID
    """A child of the director's village (she may open the file)."""
    outside_child: uuid.UUID
    """A child outside the director's township and caseload (refused)."""
    teacher_child: uuid.UUID
    """A child of the teacher's township with school records, an ID number and health data."""
    glass_child: uuid.UUID
    """Another child outside the director's township, for the break-glass test only."""

    def name_of(self, child: uuid.UUID) -> str:
        with self.factory() as session:
            master = session.get(MasterChild, child)
            assert master is not None
            return master.display_name


def _records_with(session: Session, source_prefix: str) -> sa.Select[tuple[uuid.UUID]]:
    return (
        sa.select(SourceRecord.master_child_id)
        .join(DataSource, SourceRecord.source_id == DataSource.id)
        .where(DataSource.code.like(f"{source_prefix}%"))
    )


def _pick(session: Session, *conditions: sa.ColumnElement[bool]) -> uuid.UUID:
    record_count = (
        sa.select(sa.func.count())
        .where(SourceRecord.master_child_id == MasterChild.id)
        .scalar_subquery()
    )
    found = session.scalar(
        sa.select(MasterChild.id)
        .where(MasterChild.status == ChildStatus.ACTIVE, *conditions)
        .order_by(record_count.desc(), MasterChild.id)
        .limit(1)
    )
    assert found is not None, "the generated county lacks a child the browser tests need"
    return found


def build_site(
    settings: Settings, county_files: Path
) -> tuple[sessionmaker[Session], dict[str, DemoAccount]]:
    """Migrate, load, ingest, link, build households, seed accounts and legal bases (the
    demo's steps)."""
    migrate.upgrade(settings)
    engine = build_engine(settings)
    factory = create_session_factory(engine)
    load_county_reference(factory, county_files)
    ingest_county(factory, county_files)
    link_county(factory, data_dir=settings.data_dir)
    build_households(factory)
    with unit_of_work(factory) as session:
        accounts = {account.username: account for account in seed_demo_accounts(session)}
        seed_demo_legal_bases(session)
    return factory, accounts


def find_children(
    factory: sessionmaker[Session], accounts: dict[str, DemoAccount]
) -> dict[str, uuid.UUID]:
    """The children the tests open, chosen from the data (not hard-coded)."""
    village = accounts["director"].jurisdiction
    teacher_area = accounts["teacher"].jurisdiction
    assert village is not None
    assert teacher_area is not None
    township = village[:9]
    with factory() as session:
        director_child = _pick(session, MasterChild.region_code.like(f"{village}%"))
        outside = (
            MasterChild.region_code.is_not(None),
            sa.not_(MasterChild.region_code.like(f"{township}%")),
        )
        outside_child = _pick(session, *outside)
        glass_child = _pick(session, *outside, MasterChild.id != outside_child)
        teacher_child = _pick(
            session,
            MasterChild.region_code.like(f"{teacher_area[:9]}%"),
            MasterChild.id.in_(_records_with(session, "education.student_registry")),
            MasterChild.id.in_(_records_with(session, "health.")),
            MasterChild.id.in_(
                sa.select(SourceRecord.master_child_id).where(SourceRecord.id_number.is_not(None))
            ),
        )
    return {
        "director_child": director_child,
        "outside_child": outside_child,
        "teacher_child": teacher_child,
        "glass_child": glass_child,
    }


@pytest.fixture(scope="session")
def e2e_county_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("e2e-county") / "county"
    generate_county(SynthConfig(children=COUNTY_CHILDREN, seed=5), out)
    return out


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory, e2e_county_files: Path) -> Iterator[Site]:
    """The county on SQLite, served by uvicorn for the whole session (tests must not break it)."""
    tmp = tmp_path_factory.mktemp("e2e-sqlite")
    settings = Settings(
        database_url=f"sqlite:///{tmp / 'childlink.db'}",
        data_dir=tmp / "var",
        environment="test",
        login_attempts_per_ip=100_000,
    )
    factory, accounts = build_site(settings, e2e_county_files)
    children = find_children(factory, accounts)
    try:
        with LiveServer(settings) as server:
            yield Site(server.url, settings, factory, accounts, **children)
    finally:
        factory.kw["bind"].dispose()


@pytest.fixture(scope="session")
def postgres_site(
    tmp_path_factory: pytest.TempPathFactory,
    e2e_county_files: Path,
    postgres_database_url: str,
) -> Iterator[Site]:
    """The same county on PostgreSQL (its own schema), for the smoke test."""
    tmp = tmp_path_factory.mktemp("e2e-postgres")
    schema = f"e2e_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = (
        make_url(postgres_database_url)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    settings = Settings(
        database_url=url, data_dir=tmp / "var", environment="test", login_attempts_per_ip=100_000
    )
    factory = None
    try:
        factory, accounts = build_site(settings, e2e_county_files)
        children = find_children(factory, accounts)
        with LiveServer(settings) as server:
            yield Site(server.url, settings, factory, accounts, **children)
    finally:
        if factory is not None:
            factory.kw["bind"].dispose()
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium (``executable_path``: Playwright never downloads a browser)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing; .ci/run installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) with a desktop viewport."""
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    """A fresh browser context the size of a phone, with touch."""
    context = browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-CN"
    )
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def log_in(page: Page, site: Site, username: str, *, purpose: str = "case_work") -> None:
    """Log in through the form, as a person would."""
    account = site.accounts[username]
    page.goto(f"{site.url}/login")
    page.fill("#username", account.username)
    page.fill("#password", account.password)
    page.select_option("#login-purpose", purpose)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(f"{site.url}/")
