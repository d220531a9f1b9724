"""A small linked county with models, demo accounts and legal bases, once per backend.

Built like ``tests/integration/risk/conftest.py`` (generate → ingest → link → register
models → legal bases and demo accounts), but *not* scored: tests that need a real scoring run
call ``score_children`` themselves; the others write a scoring run with the flags they need
(:func:`flag_run`), which keeps each test's alerts its own. The database is shared by the
tests of a module, so every test takes children nobody has used yet (:meth:`AlertCounty.take`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from childlink.access.consent import seed_demo_legal_bases
from childlink.access.principal import Principal
from childlink.access.service import ChildScope
from childlink.alerts.models import Alert
from childlink.alerts.routing import may_see_alert
from childlink.children.choices import ChildStatus
from childlink.children.models import MasterChild
from childlink.config import Settings
from childlink.identity.demo import DemoAccount, seed_demo_accounts
from childlink.identity.models import User
from childlink.identity.service import principal_for
from childlink.linkage.service import link_county
from childlink.risk.choices import RiskType, RuleSeverity
from childlink.risk.schemas import FlagStatus, ScoreTrigger
from childlink.risk.store import RiskFlag, RiskScoreRun
from childlink.sources.models import DataSource, SourceRecord
from childlink.store import migrate
from childlink.store.base import utc_now
from childlink.store.engine import build_engine, create_session_factory, unit_of_work
from childlink.synth.config import SynthConfig
from childlink.synth.service import generate_county
from risk_support import register_models
from support import backend_database, ingest_county, load_county_reference

COUNTY_CHILDREN = 200


@dataclass
class AlertCounty:
    """The linked county on one backend, with demo accounts (director, supervisor, ...)."""

    settings: Settings
    factory: sessionmaker[Session]
    backend: str
    accounts: dict[str, DemoAccount]
    used: set[tuple[uuid.UUID, RiskType]] = field(default_factory=set)

    def principal(self, session: Session, username: str) -> Principal:
        user = session.scalar(sa.select(User).where(User.username == username))
        assert user is not None, username
        return principal_for(session, user)

    def take(
        self, risk: RiskType, n: int = 1, *, source_prefix: str | None = None
    ) -> list[uuid.UUID]:
        """``n`` active children of the demo village no test has used for ``risk`` and without
        an alert for it (with a record of a ``source_prefix`` source, if given), whom the
        village's child director may be alerted about (some children are known only from
        sources whose risk information is not shared with the director)."""
        village = self.accounts["director"].jurisdiction
        assert village is not None
        with self.factory() as session:
            query = (
                sa.select(MasterChild.id)
                .where(
                    MasterChild.status == ChildStatus.ACTIVE,
                    MasterChild.region_code == village,
                    MasterChild.id.not_in(
                        sa.select(Alert.master_child_id).where(Alert.risk == risk)
                    ),
                )
                .order_by(MasterChild.id)
            )
            if source_prefix is not None:
                query = query.where(
                    MasterChild.id.in_(
                        sa.select(SourceRecord.master_child_id)
                        .join(DataSource, DataSource.id == SourceRecord.source_id)
                        .where(DataSource.code.like(f"{source_prefix}%"))
                    )
                )
            director = self.principal(session, "director")
            found = [
                c
                for c in session.scalars(query)
                if (c, risk) not in self.used
                and may_see_alert(
                    session,
                    director,
                    ChildScope(master_child_id=c, region_code=village),
                    self._sources(session, c),
                )[0]
            ][:n]
        assert len(found) == n, f"not enough unused children in village {village}"
        self.used.update((child, risk) for child in found)
        return found

    @staticmethod
    def _sources(session: Session, child: uuid.UUID) -> list[str]:
        return list(
            session.scalars(
                sa.select(DataSource.code)
                .join(SourceRecord, SourceRecord.source_id == DataSource.id)
                .where(SourceRecord.master_child_id == child)
                .distinct()
            )
        )


def flag_run(
    session: Session,
    hits: list[tuple[uuid.UUID, RiskType, RuleSeverity, str]],
    *,
    fact: str = "a",
) -> uuid.UUID:
    """A scoring run (no scores) whose flags are ``hits``: (child, risk, severity, rule id).

    The same ``fact`` gives the same fact key (the same records behind the hit).
    """
    run = RiskScoreRun(trigger=ScoreTrigger.CHILDREN, as_of=dt.date(2026, 1, 1), children=0)
    session.add(run)
    session.flush()
    for child, risk, severity, rule_id in hits:
        key = hashlib.sha256(f"{child}:{rule_id}:{fact}".encode()).hexdigest()
        existing = session.scalar(
            sa.select(RiskFlag).where(
                RiskFlag.master_child_id == child,
                RiskFlag.rule_id == rule_id,
                RiskFlag.fact_key == key,
            )
        )
        if existing is not None:
            existing.last_seen_run_id = run.id
            continue
        facts: list[dict[str, Any]] = [
            {
                "record_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{child}:{fact}")),
                "source": "health.visits",
                "event_date": "2025-12-01",
                "text_zh": f"测试事实 {fact}",
                "text_en": f"test fact {fact}",
            }
        ]
        session.add(
            RiskFlag(
                master_child_id=child,
                rule_id=rule_id,
                rule_version="1",
                risk=risk,
                severity=severity,
                label_zh=f"测试规则 {rule_id}",
                label_en=f"test rule {rule_id}",
                facts={"facts": facts},
                fact_key=key,
                as_of=dt.date(2026, 1, 1),
                run_id=run.id,
                last_seen_run_id=run.id,
                is_active=True,
                status=FlagStatus.OPEN,
                created_at=utc_now(),
            )
        )
    session.flush()
    return run.id


@pytest.fixture(scope="session")
def alert_county_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("alert-county") / "county"
    generate_county(SynthConfig(children=COUNTY_CHILDREN, seed=5), out)
    return out


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def alert_county(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    alert_county_files: Path,
) -> Iterator[AlertCounty]:
    """The county linked on one backend, with models and demo accounts (once per module)."""
    tmp = tmp_path_factory.mktemp(f"alerts-{request.param}")
    for url in backend_database(request, request.param, tmp, "alerts"):
        settings = Settings(database_url=url, data_dir=tmp / "var", environment="test")
        migrate.upgrade(settings)
        engine = build_engine(settings)
        try:
            factory = create_session_factory(engine)
            load_county_reference(factory, alert_county_files)
            ingest_county(factory, alert_county_files)
            link_county(factory, data_dir=settings.data_dir)
            register_models(factory, settings.data_dir, alert_county_files)
            with unit_of_work(factory) as session:
                seed_demo_legal_bases(session)
                accounts = {a.username: a for a in seed_demo_accounts(session)}
            yield AlertCounty(settings, factory, request.param, accounts)
        finally:
            engine.dispose()
