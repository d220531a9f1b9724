"""Risk models for tests: trained with the real ``train`` and saved in the real registry.

A test county of a few hundred children has too few six-month outcomes to learn from, so these
models learn a stand-in label: whether the generator's true probability is in the top fifth.
Tests that use them check how scores are stored, explained and shown, not how good models are
(``childlink risk evaluate`` does that).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
from sqlalchemy.orm import Session, sessionmaker

from childlink.risk.choices import RiskType
from childlink.risk.events import children_frame, load_events
from childlink.risk.features import build_features
from childlink.risk.labels import labels_from_county, map_truth_to_masters, relabel_to_masters
from childlink.risk.models import train
from childlink.risk.registry import Registry
from childlink.risk.training import temporal_split


def register_models(factory: sessionmaker[Session], data_dir: Path, county: Path) -> dict[str, str]:
    """Train one logistic model per risk on the stand-in label and save it in the registry."""
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
        versions[risk.value] = registry.save(model, {"note": "test stand-in label"}, {})
    return versions
