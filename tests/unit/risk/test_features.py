"""Feature values on a hand-made time line, facts behind them, and the county's events."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from childlink.risk.events import EVENT_SCHEMA, KINDS
from childlink.risk.features import FEATURES, build_features, feature_facts
from childlink.risk.rules import load_rules

AS_OF = dt.date(2025, 11, 15)


def events(*rows: dict[str, object]) -> pl.DataFrame:
    filled = []
    for i, row in enumerate(rows):
        record = {name: row.get(name) for name in EVENT_SCHEMA}
        record["record_id"] = row.get("record_id", f"r{i}")
        record["source"] = row.get("source", "test")
        record["known_date"] = row.get("known_date", row["event_date"])
        filled.append(record)
    return pl.DataFrame(filled, schema=EVENT_SCHEMA, orient="row")


CHILDREN = pl.DataFrame(
    {
        "master_child_id": ["a", "b"],
        "sex": ["male", "female"],
        "birth_date": [dt.date(2012, 11, 15), dt.date(2015, 5, 15)],
        "region_code": [None, None],
    },
    schema={
        "master_child_id": pl.String,
        "sex": pl.String,
        "birth_date": pl.Date,
        "region_code": pl.String,
    },
)


def a_events() -> pl.DataFrame:
    d = dt.date
    return events(
        {
            "master_child_id": "a",
            "kind": "attendance",
            "event_date": d(2025, 10, 31),
            "absent_days": 12,
            "school_days": 21,
        },
        {
            "master_child_id": "a",
            "kind": "attendance",
            "event_date": d(2025, 9, 30),
            "absent_days": 2,
            "school_days": 20,
        },
        {
            "master_child_id": "a",
            "kind": "attendance",
            "event_date": d(2025, 3, 31),
            "absent_days": 0,
            "school_days": 19,
        },
        {
            "master_child_id": "a",
            "kind": "welfare",
            "event_date": d(2023, 1, 1),
            "welfare_type": "low_income",
        },
        {
            "master_child_id": "a",
            "kind": "welfare",
            "event_date": d(2023, 1, 1),
            "welfare_type": "left_behind",
            "welfare_end": d(2025, 6, 1),
        },
        {
            "master_child_id": "a",
            "kind": "injury_visit",
            "event_date": d(2025, 10, 1),
            "injury": True,
            "record_id": "inj1",
        },
        {
            "master_child_id": "a",
            "kind": "injury_visit",
            "event_date": d(2025, 2, 1),
            "injury": True,
            "record_id": "inj2",
        },
        {"master_child_id": "a", "kind": "dv_callout", "event_date": d(2025, 9, 1)},
        {
            "master_child_id": "a",
            "kind": "screening",
            "event_date": d(2025, 4, 20),
            "screening_score": 6,
        },
        {
            "master_child_id": "a",
            "kind": "screening",
            "event_date": d(2025, 10, 20),
            "screening_score": 14,
        },
        {
            "master_child_id": "a",
            "kind": "home_visit",
            "event_date": d(2025, 8, 3),
            "risk_noted": True,
        },
        {
            "master_child_id": "a",
            "kind": "home_visit",
            "event_date": d(2025, 7, 3),
            "risk_noted": False,
        },
        {
            "master_child_id": "a",
            "kind": "enrolment",
            "event_date": d(2025, 3, 3),
            "enrolment_status": "transferred_in",
        },
    )


def test_feature_values_as_of_a_date() -> None:
    features = build_features(a_events(), CHILDREN, AS_OF)
    a = features.row(0, named=True)
    b = features.row(1, named=True)
    assert features["master_child_id"].to_list() == ["a", "b"]
    assert a["age_years"] == pytest.approx(13.0, abs=0.01)
    assert a["sex_male"] == 1.0
    assert a["absent_days_30d"] == 12.0
    # October (21 school days) and September: the first month to reach 30 school days.
    assert a["absent_days_30_school_days"] == 14.0
    assert a["absence_rate_30_school_days"] == pytest.approx(14 / 41)
    assert a["absent_days_90d"] == 14.0
    assert a["absence_rate_90d"] == pytest.approx(14 / 41)
    assert a["absence_rate_365d"] == pytest.approx(14 / 60)
    assert a["absence_trend"] == pytest.approx(14 / 41 - 14 / 60)
    assert a["days_since_attendance"] == 15.0
    assert a["low_income"] == 1.0
    assert a["left_behind"] == 0.0  # the roll ended before the date
    assert (a["injury_visits_90d"], a["injury_visits_365d"]) == (1.0, 2.0)
    assert (a["dv_callouts_90d"], a["dv_callouts_365d"]) == (1.0, 1.0)
    assert (a["screening_latest"], a["screening_change"], a["screening_max_365d"]) == (
        14.0,
        8.0,
        14.0,
    )
    assert a["has_screening"] == 1.0
    assert (a["home_visits_365d"], a["home_visit_risk_365d"]) == (2.0, 1.0)
    assert a["transfers_365d"] == 1.0
    # A child with no events: zeros, and "no attendance for two years".
    assert b["days_since_attendance"] == 730.0
    assert all(b[n] == 0.0 for n in FEATURES if n not in ("age_years", "days_since_attendance"))
    assert b["age_years"] == pytest.approx(10.5, abs=0.01)


def _attendance(month_end: dt.date, school_days: int, absent: int) -> dict[str, object]:
    return {
        "master_child_id": "a",
        "kind": "attendance",
        "event_date": month_end,
        "school_days": school_days,
        "absent_days": absent,
    }


@pytest.mark.parametrize(
    ("as_of", "absent", "school_days"),
    [
        # After the summer: August has no school days, so the window reaches back to June (and
        # stops at the 92-day look-back, before May).
        (dt.date(2025, 9, 1), 5, 25),
        # In term: November, then October, which brings it past 30; September is left out.
        (dt.date(2025, 12, 1), 5, 43),
    ],
)
def test_last_30_school_days_do_not_depend_on_the_season(
    as_of: dt.date, absent: int, school_days: int
) -> None:
    d = dt.date
    timeline = events(
        _attendance(d(2025, 5, 31), 19, 9),
        _attendance(d(2025, 6, 30), 20, 4),
        _attendance(d(2025, 7, 31), 5, 1),
        _attendance(d(2025, 8, 31), 0, 0),
        _attendance(d(2025, 9, 30), 20, 7),
        _attendance(d(2025, 10, 31), 21, 2),
        _attendance(d(2025, 11, 30), 22, 3),
    )
    a = build_features(timeline, CHILDREN, as_of).row(0, named=True)
    assert a["absent_days_30_school_days"] == absent
    assert a["absence_rate_30_school_days"] == pytest.approx(absent / school_days)


def test_facts_name_the_records_behind_a_feature() -> None:
    facts = feature_facts(a_events(), AS_OF, "a", "injury_visits_365d")
    assert [f.record_id for f in facts] == ["inj1", "inj2"]
    assert facts[0].text_zh.startswith("2025-10-01")
    assert "外伤" in facts[0].text_zh
    assert "injury visit" in facts[0].text_en
    absences = feature_facts(a_events(), AS_OF, "a", "absent_days_30d")
    assert len(absences) == 1
    assert "12" in absences[0].text_zh
    assert "21" in absences[0].text_en
    welfare = feature_facts(a_events(), AS_OF, "a", "low_income")
    assert len(welfare) == 1
    assert "低保" in welfare[0].text_zh
    assert feature_facts(a_events(), AS_OF, "a", "left_behind") == []
    assert feature_facts(a_events(), AS_OF, "a", "age_years") == []
    # Facts obey the date too: as of 2025-10-01 the injury of that day is not known yet.
    assert [
        f.record_id
        for f in feature_facts(a_events(), dt.date(2025, 10, 1), "a", "injury_visits_365d")
    ] == ["inj2"]


def test_every_feature_is_described_and_fed_by_known_kinds() -> None:
    read_by_rules = {condition.feature for rule in load_rules().rules for condition in rule.all} - {
        None
    }
    for name, spec in FEATURES.items():
        assert spec.name == name
        assert spec.label_zh
        assert spec.label_en
        # Every feature serves a model or, if none, a rule.
        assert spec.risks or name in read_by_rules, name
        assert set(spec.kinds) <= set(KINDS), name


def test_county_events_come_from_the_exports(county_events: pl.DataFrame) -> None:
    kinds = set(county_events["kind"].unique())
    assert {
        "attendance",
        "enrolment",
        "welfare",
        "screening",
        "health_visit",
        "home_visit",
    } <= kinds
    assert {"dv_callout", "injury_visit"} <= kinds
    assert county_events["master_child_id"].str.starts_with("C").all()
    assert county_events.filter(pl.col("kind") == "screening")["screening_score"].null_count() == 0
    attendance = county_events.filter(pl.col("kind") == "attendance")
    assert (attendance["absent_days"] <= attendance["school_days"]).all()
    assert (county_events["known_date"] == county_events["event_date"]).all()
