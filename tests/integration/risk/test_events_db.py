"""``load_events`` on an ingested, linked county, on SQLite and PostgreSQL.

The database path must see the same department facts as the file path used for training
(:func:`events_from_county`), only through linkage instead of the truth mapping, and must know
each fact from the day its batch arrived.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from childlink.children.models import MasterChild
from childlink.config import Settings
from childlink.households.service import build_households
from childlink.linkage.service import link_county
from childlink.privacy.keys import FieldCipher, KeyStore
from childlink.privacy.sealing import seal_records
from childlink.risk.events import (
    EVENT_SCHEMA,
    children_frame,
    events_from_county,
    load_events,
)
from childlink.risk.features import FEATURE_NAMES, build_features
from childlink.store.engine import create_session_factory
from childlink.synth.config import SynthConfig
from childlink.synth.service import generate_county
from support import ingest_county, load_county_reference

MAIN_KINDS = ("attendance", "enrolment", "welfare", "screening", "health_visit", "home_visit")


@pytest.fixture(scope="module")
def events_county(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("events-county") / "c"
    generate_county(SynthConfig(children=150, seed=7), out)
    return out


def test_load_events_from_linked_records(
    engine: sa.Engine, events_county: Path, migrated_settings: Settings, tmp_path: Path
) -> None:
    factory: sessionmaker[Session] = create_session_factory(engine)
    load_county_reference(factory, events_county)
    ingest_county(factory, events_county)
    link_county(factory, data_dir=migrated_settings.data_dir)
    build_households(factory)

    with factory() as session:
        events = load_events(session)
        by_event = load_events(session, known_from="event")
        children = children_frame(session)
        masters = {str(i) for i in session.scalars(sa.select(MasterChild.id))}
    assert events.schema == pl.Schema(EVENT_SCHEMA)
    assert set(events["master_child_id"].unique()) <= masters
    assert children.height == len(masters) > 100
    assert set(MAIN_KINDS) <= set(events["kind"].unique())
    assert "dv_callout" in set(events["kind"].unique())  # via the guardians of built families

    # Known from the batch's day (today), or from the event's own day.
    today = dt.datetime.now(dt.UTC).date()
    assert events["known_date"].min() >= today - dt.timedelta(days=1)
    assert (by_event["known_date"] == by_event["event_date"]).all()

    # The same facts as the exports read without a database, through linkage.
    truth = events_from_county(events_county)
    for kind in MAIN_KINDS:
        db_n = events.filter(pl.col("kind") == kind).height
        file_n = truth.filter(pl.col("kind") == kind).height
        assert 0.9 * file_n <= db_n <= 1.02 * file_n, (kind, db_n, file_n)
    absent = events.filter(pl.col("kind") == "attendance")["absent_days"].sum()
    assert 0.9 * truth["absent_days"].sum() <= absent <= 1.02 * truth["absent_days"].sum()

    # Re-scoring a few children reads only their events, the same rows.
    some = sorted(events["master_child_id"].unique())[:3]
    with factory() as session:
        few = load_events(session, children=some)
    expected = events.filter(pl.col("master_child_id").is_in(some))
    assert few.sort("record_id", "master_child_id").equals(
        expected.sort("record_id", "master_child_id")
    )

    # Scores of the latest screening exist before sealing, and after it only with the cipher.
    as_of = dt.date(2026, 8, 1)
    before = build_features(by_event, children, as_of)
    assert before["screening_latest"].max() > 0
    cipher = FieldCipher(KeyStore(tmp_path / "secrets", env={}))
    seal_records(factory, cipher)
    with factory() as session:
        sealed = load_events(session, known_from="event")
        opened = load_events(session, known_from="event", cipher=cipher)
    screenings = sealed.filter(pl.col("kind") == "screening")
    assert screenings.height > 0
    assert screenings["screening_score"].null_count() == screenings.height
    assert build_features(opened, children, as_of).equals(before)
    assert list(before.columns) == ["master_child_id", *FEATURE_NAMES]
