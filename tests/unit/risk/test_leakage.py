"""No leakage: features and rule hits as of D never change when later knowledge is added.

The check adds, to a real county's events, (a) copies of its events moved to dates on or after
D (including D itself) and (b) copies of past events that only became known after D, then
asserts the feature frame is identical. The same check is run on deliberately leaky builders to
prove it catches them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from childlink.risk.features import FEATURE_NAMES, build_features
from childlink.risk.rules import evaluate_rules, load_rules

Builder = Callable[[pl.DataFrame, pl.DataFrame, dt.date], pl.DataFrame]
AS_OF_DATES = (dt.date(2025, 3, 1), dt.date(2025, 11, 15), dt.date(2026, 5, 20))


def later_knowledge(events: pl.DataFrame, as_of: dt.date, seed: int = 0) -> pl.DataFrame:
    """Events that a scorer as of ``as_of`` could not have known."""
    rng = np.random.default_rng(seed)
    n = events.height
    future = events.with_columns(
        # Offsets from 0: some land exactly on the scoring date.
        event_date=pl.lit(as_of) + pl.duration(days=pl.Series(rng.integers(0, 400, n))),
        record_id=pl.lit("future:") + pl.col("record_id"),
    ).with_columns(known_date=pl.col("event_date"))
    past = events.filter(pl.col("event_date") < as_of)
    late = past.with_columns(
        known_date=pl.lit(as_of) + pl.duration(days=pl.Series(rng.integers(1, 90, past.height))),
        record_id=pl.lit("late:") + pl.col("record_id"),
    )
    return pl.concat([future, late]).select(events.columns)


def assert_no_leakage(
    builder: Builder, events: pl.DataFrame, children: pl.DataFrame, as_of: dt.date
) -> None:
    before = builder(events, children, as_of)
    polluted = pl.concat([events, later_knowledge(events, as_of)]).sample(
        fraction=1.0, shuffle=True, seed=3
    )
    assert_frame_equal(builder(polluted, children, as_of), before)


def _ignores_known_date(e: pl.DataFrame, c: pl.DataFrame, d: dt.date) -> pl.DataFrame:
    return build_features(e.with_columns(known_date=pl.col("event_date")), c, d)


def _counts_the_day_itself(e: pl.DataFrame, c: pl.DataFrame, d: dt.date) -> pl.DataFrame:
    on_the_day = pl.col("event_date") == d
    moved = e.with_columns(
        event_date=pl.when(on_the_day)
        .then(pl.lit(d) - pl.duration(days=1))
        .otherwise("event_date"),
        known_date=pl.when(on_the_day).then(pl.lit(d)).otherwise("known_date"),
    )
    return build_features(moved, c, d)


def _lifetime_visit_count(e: pl.DataFrame, c: pl.DataFrame, d: dt.date) -> pl.DataFrame:
    """A feature written without the as-of filter: every health visit the child ever had."""
    visits = e.filter(pl.col("kind").str.ends_with("visit")).group_by("master_child_id").len()
    return (
        build_features(e, c, d)
        .join(visits, on="master_child_id", how="left")
        .with_columns(pl.col("len").fill_null(0).cast(pl.Float64).alias("visits_ever"))
        .drop("len")
    )


@pytest.mark.parametrize("as_of", AS_OF_DATES)
def test_features_ignore_everything_after_the_scoring_date(
    county_events: pl.DataFrame, county_children: pl.DataFrame, as_of: dt.date
) -> None:
    assert_no_leakage(build_features, county_events, county_children, as_of)


@pytest.mark.parametrize(
    "leaky", [_ignores_known_date, _counts_the_day_itself, _lifetime_visit_count]
)
def test_the_check_catches_leaky_features(
    county_events: pl.DataFrame, county_children: pl.DataFrame, leaky: Builder
) -> None:
    with pytest.raises(AssertionError):
        assert_no_leakage(leaky, county_events, county_children, dt.date(2025, 11, 15))


def test_the_features_see_the_past(
    county_events: pl.DataFrame, county_children: pl.DataFrame
) -> None:
    """Guard against a vacuous pass: the features do vary, and past events move them."""
    as_of = dt.date(2025, 11, 15)
    features = build_features(county_events, county_children, as_of)
    assert features.height == county_children.height
    assert list(features.columns) == ["master_child_id", *FEATURE_NAMES]
    varying = [n for n in FEATURE_NAMES if features[n].n_unique() > 1]
    assert len(varying) >= 20, varying
    earlier = county_events.with_columns(
        event_date=pl.col("event_date") - pl.duration(days=40),
        known_date=pl.col("known_date") - pl.duration(days=40),
    )
    assert not build_features(earlier, county_children, as_of).equals(features)


@pytest.mark.parametrize("as_of", AS_OF_DATES)
def test_rule_hits_ignore_everything_after_the_scoring_date(
    county_events: pl.DataFrame, county_children: pl.DataFrame, as_of: dt.date
) -> None:
    rules = load_rules()

    def hits(events: pl.DataFrame, children: pl.DataFrame, day: dt.date) -> pl.DataFrame:
        return evaluate_rules(rules, events, build_features(events, children, day), day)

    assert hits(county_events, county_children, as_of).height > 0
    assert_no_leakage(hits, county_events, county_children, as_of)
