"""A linked throw-away county with stand-in risk models, for benchmarks and tests.

A county of a few hundred children has too few six-month outcomes to learn from, so these
models learn a stand-in label: whether the generator's true probability is in the top fifth.
They are trained with the real ``train`` and saved in the real registry, so whatever uses them
(re-scoring latency, alerts, the profile page) runs the production code; they say nothing
about model quality (``childlink risk evaluate`` does that).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy.orm import Session, sessionmaker

from childlink.config import Settings
from childlink.ingest.mapping import available_mappings, mapping_for_file
from childlink.ingest.service import ingest_file
from childlink.linkage.service import link_county
from childlink.regions.service import load_regions
from childlink.risk.choices import RiskType
from childlink.risk.events import children_frame, load_events
from childlink.risk.features import build_features
from childlink.risk.labels import labels_from_county, map_truth_to_masters, relabel_to_masters
from childlink.risk.models import train
from childlink.risk.registry import Registry
from childlink.risk.training import temporal_split
from childlink.sources.service import seed_reference_data
from childlink.store import migrate
from childlink.store.engine import build_engine, create_session_factory, unit_of_work
from childlink.synth.config import SynthConfig
from childlink.synth.service import generate_county


def register_stand_in_models(
    factory: sessionmaker[Session], data_dir: Path, county: Path, *, note: str
) -> dict[str, str]:
    """Train one logistic model per risk on the stand-in label and save it in the registry.

    Returns:
        Risk → the registered model version.
    """
    day = temporal_split(county).test
    with factory() as session:
        events = load_events(session, known_from="event")
        children = children_frame(session)
        mapping = map_truth_to_masters(session, county)
    features = build_features(events, children, day)
    labels = relabel_to_masters(labels_from_county(county, day), mapping)
    registry = Registry(data_dir, factory)
    versions = {}
    for risk in RiskType:
        p = pl.col(f"p_{risk.value}")
        stand_in = labels.with_columns(
            (p >= p.quantile(0.8)).cast(pl.Int8).alias(f"y_{risk.value}")
        )
        model = train(features, stand_in, risk, as_of_train=day, kind="logistic")
        versions[risk.value] = registry.save(model, {"note": note}, {})
    return versions


def load_county_reference(factory: sessionmaker[Session], county: Path) -> None:
    """Seed departments and sources and load a generated county's region tree."""
    with unit_of_work(factory) as session:
        seed_reference_data(session)
        with (county / "reference" / "regions.csv").open(encoding="utf-8") as handle:
            load_regions(session, list(csv.DictReader(handle)))


def ingest_county(factory: sessionmaker[Session], county: Path) -> None:
    """Ingest every export of a generated county through its shipped mapping.

    Raises:
        ValueError: an export no shipped mapping reads (the generator and the mappings
            disagree).
    """
    mappings = available_mappings()
    for path in sorted((county / "exports").rglob("*.*")):
        mapping = mapping_for_file(path, mappings)
        if mapping is None:
            raise ValueError(f"no shipped mapping reads {path}")
        ingest_file(factory, mapping, path)


def build_linked_county(
    root: Path,
    children: int,
    seed: int,
    *,
    say: Callable[[str], None] = lambda _message: None,
    **settings: Any,
) -> tuple[Settings, sessionmaker[Session], Path]:
    """Generate a county under ``root``, ingest every export into SQLite there and link it.

    ``settings`` are extra :class:`Settings` fields. The caller disposes of the factory's
    engine (``factory.kw["bind"].dispose()``).
    """
    county = root / "county"
    say(f"generating, ingesting and linking {children:,} children (SQLite)")
    generate_county(SynthConfig(children=children, seed=seed), county)
    configured = Settings(
        database_url=f"sqlite:///{root / 'childlink.db'}",
        data_dir=root / "var",
        environment="test",
        **settings,
    )
    migrate.upgrade(configured)
    factory = create_session_factory(build_engine(configured))
    load_county_reference(factory, county)
    ingest_county(factory, county)
    link_county(factory, data_dir=configured.data_dir)
    return configured, factory, county
