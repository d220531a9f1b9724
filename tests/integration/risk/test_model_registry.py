"""The model registry's table on both backends, and truth children mapped to master children."""

from __future__ import annotations

import polars as pl
import sqlalchemy as sa

from childlink.config import Settings
from childlink.risk.choices import RiskType
from childlink.risk.labels import (
    labels_from_county,
    map_truth_to_masters,
    relabel_to_masters,
)
from childlink.risk.registry import Registry, RiskModelVersion
from childlink.risk.training import database_data, temporal_split
from childlink.store import migrate

from .conftest import RiskCounty


def test_migration_0007_creates_and_drops_the_registry_table(settings: Settings) -> None:
    migrate.upgrade(settings, "0007")
    engine = sa.create_engine(settings.effective_database_url)
    try:
        with engine.connect() as connection:
            inspector = sa.inspect(connection)
            columns = {c["name"] for c in inspector.get_columns("risk_model_versions")}
        assert {"risk", "version", "kind", "as_of_train", "metrics", "card", "is_active"} <= columns
        migrate.downgrade(settings, "0006")
        with engine.connect() as connection:
            assert "risk_model_versions" not in sa.inspect(connection).get_table_names()
    finally:
        engine.dispose()
    migrate.upgrade(settings)
    assert migrate.check(settings) == []


def test_registry_rows_name_one_active_version_per_risk(risk_county: RiskCounty) -> None:
    registry = Registry(risk_county.settings.data_dir, risk_county.factory)
    with risk_county.factory() as session:
        rows = session.scalars(sa.select(RiskModelVersion)).all()
    assert {row.version for row in rows} >= set(risk_county.versions.values())
    for risk in RiskType:
        active = [row for row in rows if row.risk == risk and row.is_active]
        assert len(active) == 1
        assert registry.active_version(risk) == active[0].version
        assert registry.load(risk).feature_names == active[0].features


def test_truth_children_map_to_their_majority_master(risk_county: RiskCounty) -> None:
    with risk_county.factory() as session:
        mapping = map_truth_to_masters(session, risk_county.county_dir)
    truth = pl.read_parquet(risk_county.county_dir / "truth" / "children.parquet")
    assert mapping["child_id"].is_unique().all()
    assert set(mapping["child_id"]) <= set(truth["child_id"])
    # Linkage finds nearly every child; a handful may be split or missed.
    assert mapping.height >= 0.9 * truth.height
    # Most masters hold exactly one truth child.
    assert mapping["master_child_id"].n_unique() >= 0.95 * mapping.height
    day = temporal_split(risk_county.county_dir).test
    relabelled = relabel_to_masters(labels_from_county(risk_county.county_dir, day), mapping)
    assert relabelled["master_child_id"].is_unique().all()
    assert set(relabelled["master_child_id"]) <= set(mapping["master_child_id"])


def test_database_data_keys_features_and_labels_by_master(risk_county: RiskCounty) -> None:
    with risk_county.factory() as session:
        data = database_data(session, risk_county.county_dir, known_from="event")
    test_day = data.split.test
    features = data.features[test_day]
    labels = data.labels[test_day]
    joined = features.join(labels, on="master_child_id", how="inner")
    assert joined.height >= 0.9 * labels.height
    assert set(data.subgroups["master_child_id"]) <= set(features["master_child_id"])
