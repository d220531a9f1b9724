"""Features of every child as of a scoring date, computed only from what was known before it.

The no-leakage rule: a feature as of date ``D`` reads only events with ``event_date < D`` **and**
``known_date <= D`` (:func:`events_as_of`). Nothing else in this module looks at event dates
beyond ``D``: windows end at ``D``, welfare end dates count only when already past, and the
child's age is taken at ``D``. ``tests/unit/risk/test_leakage.py`` adds future events (and
moves past ones into the future) and asserts the feature frame does not change.

One pass over the events frame: a filter, a ``group_by`` with conditional aggregations, and a
join onto the children (vectorised polars; no per-child Python).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

import polars as pl

from childlink.risk.choices import RiskType
from childlink.risk.events import KINDS

D, M, H = RiskType.DROPOUT, RiskType.MALTREATMENT, RiskType.MENTAL_HEALTH


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """One model feature: what it means (zh/en), which risks use it, which events feed it.

    ``window_days`` is the look-back window of a count or sum (None: all history before the
    date); :func:`feature_facts` uses ``kinds`` and the window to find the records behind it.
    """

    name: str
    label_zh: str
    label_en: str
    risks: tuple[RiskType, ...]
    kinds: tuple[str, ...]
    window_days: int | None = None
    #: A count of events whose rate grows exponentially with the latent risk: the logistic
    #: model reads it as ``log(1 + count)`` (see ``risk.models.log_scaled``).
    log_scale: bool = False


@dataclass(frozen=True, slots=True)
class Fact:
    """One source record behind a feature value or a rule hit."""

    record_id: str
    source: str
    event_date: dt.date
    text_zh: str
    text_en: str


#: The "last 30 school days" are the most recent monthly attendance records back to 30 school
#: days, within this many days: a calendar month after a holiday has few or no school days, and
#: models that read calendar windows learned one season's scale (docs/risk.md).
RECENT_SCHOOL_DAYS: Final = 30
RECENT_SCHOOL_LOOKBACK_DAYS: Final = 92

_SPECS: Final[tuple[FeatureSpec, ...]] = (
    FeatureSpec("age_years", "年龄（岁）", "age in years", (D, M, H), ()),
    FeatureSpec("sex_male", "男孩", "boy", (D, M, H), ()),
    FeatureSpec(
        "absent_days_30d",
        "近30天缺勤天数",
        "days absent, last 30 days",
        (),
        ("attendance",),
        31,
        log_scale=True,
    ),
    FeatureSpec(
        "absent_days_30_school_days",
        "最近30个教学日缺勤天数",
        "days absent, last 30 school days",
        (D, H),
        ("attendance",),
        RECENT_SCHOOL_LOOKBACK_DAYS,
        log_scale=True,
    ),
    FeatureSpec(
        "absence_rate_30_school_days",
        "最近30个教学日缺勤率",
        "absence rate, last 30 school days",
        (D, H),
        ("attendance",),
        RECENT_SCHOOL_LOOKBACK_DAYS,
    ),
    FeatureSpec(
        "absent_days_90d",
        "近90天缺勤天数",
        "days absent, last 90 days",
        (D, H),
        ("attendance",),
        92,
        log_scale=True,
    ),
    FeatureSpec(
        "absence_rate_90d", "近90天缺勤率", "absence rate, last 90 days", (D,), ("attendance",), 92
    ),
    FeatureSpec(
        "absence_rate_365d",
        "近一年缺勤率",
        "absence rate, last year",
        (D,),
        ("attendance",),
        365,
    ),
    FeatureSpec(
        "absence_trend",
        "缺勤率上升幅度（近90天减近一年）",
        "rise in absence rate (last 90 days minus last year)",
        (D,),
        ("attendance",),
        365,
    ),
    FeatureSpec(
        "days_since_attendance",
        "距最近一次考勤记录天数",
        "days since the last attendance record",
        (D,),
        ("attendance",),
    ),
    FeatureSpec(
        "transfers_365d",
        "近一年转学次数",
        "school transfers, last year",
        (D, H),
        ("enrolment",),
        365,
        log_scale=True,
    ),
    FeatureSpec(
        "dropout_recorded", "学籍记录曾辍学", "registry shows a dropout", (D,), ("enrolment",)
    ),
    FeatureSpec(
        "low_income",
        "享受低保",
        "household on minimum living allowance (低保)",
        (D, M),
        ("welfare",),
    ),
    FeatureSpec(
        "extreme_poverty", "特困供养", "extreme-poverty support (特困)", (D, M), ("welfare",)
    ),
    FeatureSpec(
        "orphan_or_unsupported",
        "孤儿或事实无人抚养",
        "orphan or de-facto unsupported",
        (D, M, H),
        ("welfare",),
    ),
    FeatureSpec("left_behind", "农村留守儿童", "left-behind child", (D, M, H), ("welfare",)),
    FeatureSpec("disability", "残疾儿童", "child with a disability", (D, H), ("welfare",)),
    FeatureSpec(
        "migrant", "流动人口登记", "registered as a migrant", (D,), ("migrant_registration",)
    ),
    FeatureSpec(
        "injury_visits_90d",
        "近90天外伤就诊次数",
        "injury visits, last 90 days",
        (M,),
        ("injury_visit",),
        90,
        log_scale=True,
    ),
    FeatureSpec(
        "injury_visits_365d",
        "近一年外伤就诊次数",
        "injury visits, last year",
        (M,),
        ("injury_visit",),
        365,
        log_scale=True,
    ),
    FeatureSpec(
        "health_visits_365d",
        "近一年就诊次数",
        "health visits, last year",
        (M, H),
        ("health_visit", "injury_visit", "mental_health_visit"),
        365,
        log_scale=True,
    ),
    FeatureSpec(
        "mental_health_visits_365d",
        "近一年心理/精神科就诊次数",
        "mental-health visits, last year",
        (H,),
        ("mental_health_visit",),
        365,
        log_scale=True,
    ),
    FeatureSpec(
        "dv_callouts_90d",
        "近90天家暴出警次数",
        "domestic-violence call-outs, last 90 days",
        (M, H),
        ("dv_callout",),
        90,
        log_scale=True,
    ),
    FeatureSpec(
        "dv_callouts_365d",
        "近一年家暴出警次数",
        "domestic-violence call-outs, last year",
        (M, H),
        ("dv_callout",),
        365,
        log_scale=True,
    ),
    FeatureSpec(
        "street_incidents_365d",
        "近一年流浪/走失警情",
        "street-child or missing-person incidents, last year",
        (D, M),
        ("street_child", "missing_person"),
        365,
        log_scale=True,
    ),
    FeatureSpec(
        "home_visits_365d",
        "近一年入户走访次数",
        "home visits, last year",
        (M,),
        ("home_visit",),
        365,
        log_scale=True,
    ),
    FeatureSpec(
        "home_visit_risk_365d",
        "近一年走访发现风险次数",
        "home visits noting a risk, last year",
        (M, H),
        ("home_visit",),
        365,
        log_scale=True,
    ),
    FeatureSpec(
        "mandatory_reports_365d",
        "近一年强制报告次数",
        "mandatory reports, last year",
        (M,),
        ("mandatory_report",),
        365,
        log_scale=True,
    ),
    FeatureSpec("has_screening", "有心理筛查记录", "has a screening score", (H,), ("screening",)),
    FeatureSpec(
        "screening_latest",
        "最近一次心理筛查得分",
        "latest screening score (PHQ-9)",
        (H,),
        ("screening",),
    ),
    FeatureSpec(
        "screening_max_365d",
        "近一年心理筛查最高分",
        "highest screening score, last year",
        (H,),
        ("screening",),
        365,
    ),
    FeatureSpec(
        "screening_change",
        "心理筛查得分变化（最近两次）",
        "change between the last two screening scores",
        (H,),
        ("screening",),
    ),
    FeatureSpec(
        "screening_mean",
        "历次心理筛查平均分",
        "mean of all screening scores",
        (H,),
        ("screening",),
    ),
    FeatureSpec(
        "dv_callouts_ever",
        "家暴出警总次数",
        "domestic-violence call-outs, all history",
        (M, H),
        ("dv_callout",),
        log_scale=True,
    ),
    FeatureSpec(
        "dv_callouts_recent",
        "家暴出警（按时间衰减，半衰期约两月）",
        "domestic-violence call-outs, weighted by recency (about two-month half-life)",
        (M, H),
        ("dv_callout",),
        log_scale=True,
    ),
    FeatureSpec(
        "injury_visits_recent",
        "外伤就诊（按时间衰减，半衰期约两月）",
        "injury visits, weighted by recency (about two-month half-life)",
        (M,),
        ("injury_visit",),
        log_scale=True,
    ),
    FeatureSpec(
        "injury_visits_ever",
        "外伤就诊总次数",
        "injury visits, all history",
        (M,),
        ("injury_visit",),
        log_scale=True,
    ),
    FeatureSpec(
        "home_visit_risk_ever",
        "入户走访发现风险总次数",
        "home visits noting a risk, all history",
        (M, H),
        ("home_visit",),
        log_scale=True,
    ),
    FeatureSpec(
        "home_visits_ever",
        "入户走访总次数",
        "home visits, all history",
        (M,),
        ("home_visit",),
        log_scale=True,
    ),
    FeatureSpec(
        "home_visit_risk_share",
        "入户走访发现风险的比例",
        "share of home visits noting a risk, all history",
        (M, H),
        ("home_visit",),
    ),
    FeatureSpec("under_6", "六岁以下", "under six years old", (M,), ()),
    FeatureSpec("years_over_13", "超过13岁的年数", "years of age over 13", (D, H), ()),
)

FEATURES: Final[dict[str, FeatureSpec]] = {spec.name: spec for spec in _SPECS}
"""Every feature :func:`build_features` returns, in column order."""

FEATURE_NAMES: Final[tuple[str, ...]] = tuple(FEATURES)
#: Features a logistic model reads on a log scale.
LOG_SCALED_FEATURES: Final[frozenset[str]] = frozenset(
    spec.name for spec in _SPECS if spec.log_scale
)

_LOW_INCOME: Final = ("low_income",)
_WELFARE_GROUPS: Final[dict[str, tuple[str, ...]]] = {
    "low_income": ("low_income",),
    "extreme_poverty": ("extreme_poverty",),
    "orphan_or_unsupported": ("orphan", "de_facto_unsupported"),
    "left_behind": ("left_behind",),
    "disability": ("disability",),
}


def events_as_of(events: pl.DataFrame | pl.LazyFrame, as_of: dt.date) -> pl.LazyFrame:
    """The events a feature as of ``as_of`` may read: happened before it and known by it."""
    return events.lazy().filter((pl.col("event_date") < as_of) & (pl.col("known_date") <= as_of))


def _within(days: int, as_of: dt.date) -> pl.Expr:
    return pl.col("event_date") >= as_of - dt.timedelta(days=days)


def _is(kind: str) -> pl.Expr:
    return pl.col("kind") == kind


def _count(condition: pl.Expr) -> pl.Expr:
    return condition.fill_null(False).cast(pl.Float64)


def _sum(values: pl.Expr, condition: pl.Expr) -> pl.Expr:
    return pl.when(condition).then(values).otherwise(0).cast(pl.Float64)


def _decay(as_of: dt.date, days: float = 90.0) -> pl.Expr:
    """``exp(-age / days)`` of an event dated before ``as_of`` (1 yesterday, ~0.37 at ``days``)."""
    age = (pl.lit(as_of) - pl.col("event_date")).dt.total_days().cast(pl.Float64)
    return (-age / days).exp()


def _rate(absent: str, days: str) -> pl.Expr:
    return pl.when(pl.col(days) > 0).then(pl.col(absent) / pl.col(days)).otherwise(0.0)


def _row_columns(as_of: dt.date) -> tuple[list[pl.Expr], list[pl.Expr]]:
    """Per-event contributions (summed per child) and per-event values (maxed per child).

    Computed over the whole frame first and then aggregated with plain ``sum``/``max``, which
    polars runs on its fast path (conditional expressions inside ``agg`` would not be).
    """
    attendance = _is("attendance")
    absent, school = pl.col("absent_days"), pl.col("school_days")
    enrolment = _is("enrolment")
    welfare_active = _is("welfare") & (
        pl.col("welfare_end").is_null() | (pl.col("welfare_end") >= as_of)
    )
    screening = _is("screening") & pl.col("screening_score").is_not_null()
    sums = [
        _sum(absent, attendance & _within(31, as_of)).alias("absent_days_30d"),
        _sum(absent, attendance & _within(92, as_of)).alias("absent_days_90d"),
        _sum(school, attendance & _within(92, as_of)).alias("_school_90d"),
        _sum(absent, attendance & _within(365, as_of)).alias("_absent_365d"),
        _sum(school, attendance & _within(365, as_of)).alias("_school_365d"),
        _count(
            enrolment
            & pl.col("enrolment_status").is_in(["transferred_in", "transferred_out"])
            & _within(365, as_of)
        ).alias("transfers_365d"),
        _count(enrolment & (pl.col("enrolment_status") == "dropped_out")).alias("dropout_recorded"),
        _count(_is("migrant_registration")).alias("migrant"),
        _count(_is("injury_visit") & _within(90, as_of)).alias("injury_visits_90d"),
        _count(_is("injury_visit") & _within(365, as_of)).alias("injury_visits_365d"),
        _count(
            pl.col("kind").is_in(["health_visit", "injury_visit", "mental_health_visit"])
            & _within(365, as_of)
        ).alias("health_visits_365d"),
        _count(_is("mental_health_visit") & _within(365, as_of)).alias("mental_health_visits_365d"),
        _count(_is("dv_callout") & _within(90, as_of)).alias("dv_callouts_90d"),
        _count(_is("dv_callout") & _within(365, as_of)).alias("dv_callouts_365d"),
        _count(
            pl.col("kind").is_in(["street_child", "missing_person"]) & _within(365, as_of)
        ).alias("street_incidents_365d"),
        _count(_is("home_visit") & _within(365, as_of)).alias("home_visits_365d"),
        _count(_is("home_visit") & pl.col("risk_noted") & _within(365, as_of)).alias(
            "home_visit_risk_365d"
        ),
        _count(_is("mandatory_report") & _within(365, as_of)).alias("mandatory_reports_365d"),
        _count(_is("dv_callout")).alias("dv_callouts_ever"),
        _sum(_decay(as_of), _is("dv_callout")).alias("dv_callouts_recent"),
        _count(_is("injury_visit")).alias("injury_visits_ever"),
        _sum(_decay(as_of), _is("injury_visit")).alias("injury_visits_recent"),
        _count(_is("home_visit") & pl.col("risk_noted")).alias("home_visit_risk_ever"),
        _count(_is("home_visit")).alias("home_visits_ever"),
        _sum(pl.col("screening_score").cast(pl.Float64), screening).alias("_screening_total"),
        _count(screening).alias("has_screening"),
        *(
            _count(welfare_active & pl.col("welfare_type").is_in(list(types))).alias(name)
            for name, types in _WELFARE_GROUPS.items()
        ),
    ]
    maxima = [
        pl.when(attendance).then(pl.col("event_date")).alias("_last_attendance"),
        pl.when(screening & _within(365, as_of))
        .then(pl.col("screening_score").cast(pl.Float64))
        .alias("screening_max_365d"),
    ]
    return sums, maxima


def _screening_history(past: pl.LazyFrame) -> pl.LazyFrame:
    """Latest and previous screening score per child (ties on a day: the higher score last)."""
    return (
        past.filter(_is("screening") & pl.col("screening_score").is_not_null())
        .select("master_child_id", "event_date", pl.col("screening_score").cast(pl.Float64))
        .sort("master_child_id", "event_date", "screening_score")
        .group_by("master_child_id")
        .agg(
            pl.col("screening_score").last().alias("screening_latest"),
            pl.col("screening_score").reverse().slice(1, 1).first().alias("_screening_previous"),
        )
    )


def _recent_school_days(past: pl.LazyFrame, as_of: dt.date) -> pl.LazyFrame:
    """Absence over the most recent monthly records back to :data:`RECENT_SCHOOL_DAYS`."""
    school = pl.col("school_days")
    return (
        past.filter(_is("attendance") & (school > 0) & _within(RECENT_SCHOOL_LOOKBACK_DAYS, as_of))
        .select("master_child_id", "event_date", "absent_days", "school_days")
        .sort(["master_child_id", "event_date"], descending=[False, True])
        .with_columns(_before=(school.cum_sum() - school).over("master_child_id"))
        .filter(pl.col("_before") < RECENT_SCHOOL_DAYS)
        .group_by("master_child_id")
        .agg(
            pl.col("absent_days").sum().cast(pl.Float64).alias("absent_days_30_school_days"),
            school.sum().cast(pl.Float64).alias("_recent_school_days"),
        )
    )


def build_features(events: pl.DataFrame, children: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
    """One row per child of ``children``: ``master_child_id`` and every feature (Float64).

    Only events with ``event_date < as_of`` and ``known_date <= as_of`` are read. A child with
    no events gets zeros (and ``days_since_attendance`` = 730, "none in two years").
    """
    past = events_as_of(
        events.lazy().select(
            "master_child_id",
            "event_date",
            "known_date",
            # Compared some twenty times: an enum compares as integers, not text.
            pl.col("kind").cast(pl.Enum(KINDS)),
            "absent_days",
            "school_days",
            "enrolment_status",
            "welfare_type",
            "welfare_end",
            "risk_noted",
            "screening_score",
        ),
        as_of,
    )
    sums, maxima = _row_columns(as_of)
    per_child = (
        past.select("master_child_id", *sums, *maxima)
        .group_by("master_child_id")
        .agg(
            *(pl.col(e.meta.output_name()).sum() for e in sums),
            *(pl.col(e.meta.output_name()).max() for e in maxima),
        )
    )
    flags = ("has_screening", "migrant", "dropout_recorded", *_WELFARE_GROUPS)
    frame = (
        children.lazy()
        .select("master_child_id", "sex", "birth_date")
        .join(per_child, on="master_child_id", how="left", maintain_order="left")
        .join(_screening_history(past), on="master_child_id", how="left", maintain_order="left")
        .join(
            _recent_school_days(past, as_of),
            on="master_child_id",
            how="left",
            maintain_order="left",
        )
        .with_columns(
            age_years=((pl.lit(as_of) - pl.col("birth_date")).dt.total_days() / 365.25).clip(0),
            sex_male=(pl.col("sex") == "male").cast(pl.Float64),
            absence_rate_30_school_days=_rate("absent_days_30_school_days", "_recent_school_days"),
            absence_rate_90d=_rate("absent_days_90d", "_school_90d"),
            absence_rate_365d=_rate("_absent_365d", "_school_365d"),
            days_since_attendance=(
                (pl.lit(as_of) - pl.col("_last_attendance")).dt.total_days().cast(pl.Float64)
            ).fill_null(730.0),
            screening_change=(pl.col("screening_latest") - pl.col("_screening_previous")),
            screening_mean=_rate("_screening_total", "has_screening"),
            home_visit_risk_share=_rate("home_visit_risk_ever", "home_visits_ever"),
            **{name: (pl.col(name) > 0).cast(pl.Float64) for name in flags},
        )
        .with_columns(
            absence_trend=pl.col("absence_rate_90d") - pl.col("absence_rate_365d"),
            under_6=(pl.col("age_years") < 6).cast(pl.Float64),
            years_over_13=(pl.col("age_years") - 13).clip(0),
        )
        .select(
            "master_child_id",
            *(pl.col(name).cast(pl.Float64).fill_null(0.0).fill_nan(0.0) for name in FEATURE_NAMES),
        )
    )
    return frame.collect()


# --- facts ----------------------------------------------------------------------------------

_KIND_TEXT: Final[dict[str, tuple[str, str]]] = {
    "attendance": ("考勤", "attendance"),
    "enrolment": ("学籍变动", "registry entry"),
    "welfare": ("救助名册", "welfare roll"),
    "health_visit": ("就诊", "health visit"),
    "injury_visit": ("外伤就诊", "injury visit"),
    "mental_health_visit": ("心理/精神科就诊", "mental-health visit"),
    "screening": ("心理筛查", "mental-health screening"),
    "dv_callout": ("家暴出警", "domestic-violence call-out"),
    "street_child": ("流浪乞讨警情", "street-child incident"),
    "missing_person": ("走失警情", "missing-person incident"),
    "home_visit": ("入户走访", "home visit"),
    "mandatory_report": ("强制报告", "mandatory report"),
    "migrant_registration": ("流动人口登记", "migrant registration"),
}
_WELFARE_TEXT: Final[dict[str, tuple[str, str]]] = {
    "low_income": ("低保", "minimum living allowance (低保)"),
    "extreme_poverty": ("特困", "extreme-poverty support (特困)"),
    "orphan": ("孤儿基本生活费", "orphan allowance"),
    "de_facto_unsupported": ("事实无人抚养儿童生活补贴", "de-facto unsupported child allowance"),
    "left_behind": ("农村留守儿童", "left-behind child roll"),
    "disability": ("残疾儿童康复救助", "disability rehabilitation support"),
}
_STATUS_TEXT: Final[dict[str, tuple[str, str]]] = {
    "enrolled": ("在读", "enrolled"),
    "dropped_out": ("辍学", "dropped out"),
    "transferred_in": ("转入", "transferred in"),
    "transferred_out": ("转出", "transferred out"),
    "suspended": ("休学", "suspended"),
    "graduated": ("毕业", "graduated"),
}


def _lookup(column: str, table: dict[str, tuple[str, str]], index: int) -> pl.Expr:
    return pl.col(column).replace_strict(
        {k: v[index] for k, v in table.items()}, default=pl.col(column), return_dtype=pl.String
    )


def describe_events(events: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """The events with a plain ``text_zh`` and ``text_en`` sentence each (vectorised)."""
    date = pl.col("event_date").dt.strftime("%Y-%m-%d")
    month = pl.col("event_date").dt.strftime("%Y-%m")
    kind_zh, kind_en = _lookup("kind", _KIND_TEXT, 0), _lookup("kind", _KIND_TEXT, 1)
    absent = pl.col("absent_days").cast(pl.String)
    school = pl.col("school_days").cast(pl.String)
    score = pl.col("screening_score").cast(pl.String)
    kind = pl.col("kind")

    def text(zh: bool) -> pl.Expr:
        i = 0 if zh else 1
        base = pl.concat_str([date, pl.lit(" "), kind_zh if zh else kind_en])
        return (
            pl.when(kind == "attendance")
            .then(
                pl.concat_str(
                    [month, pl.lit(" 缺勤 "), absent, pl.lit("/"), school, pl.lit(" 天")]
                    if zh
                    else [
                        month,
                        pl.lit(": absent "),
                        absent,
                        pl.lit(" of "),
                        school,
                        pl.lit(" school days"),
                    ]
                )
            )
            .when(kind == "welfare")
            .then(
                pl.concat_str(
                    [
                        date,
                        pl.lit(" 起享受" if zh else " enrolled in "),
                        _lookup("welfare_type", _WELFARE_TEXT, i),
                    ]
                )
            )
            .when(kind == "enrolment")
            .then(
                pl.concat_str(
                    [
                        base,
                        pl.lit("：" if zh else ": "),
                        _lookup("enrolment_status", _STATUS_TEXT, i),
                    ],
                    ignore_nulls=True,
                )
            )
            .when((kind == "screening") & score.is_not_null())
            .then(pl.concat_str([base, pl.lit(" 得分 " if zh else ", score "), score]))
            .when(
                kind.is_in(["injury_visit", "mental_health_visit"]) & pl.col("icd10").is_not_null()
            )
            .then(pl.concat_str([base, pl.lit(" (ICD-10 "), pl.col("icd10"), pl.lit(")")]))
            .when((kind == "home_visit") & pl.col("risk_noted").fill_null(False))
            .then(pl.concat_str([base, pl.lit("，记录存在风险" if zh else ", risk noted")]))
            .otherwise(base)
        )

    return events.lazy().with_columns(text_zh=text(True), text_en=text(False))


def fact_filter(spec: FeatureSpec, as_of: dt.date) -> pl.Expr:
    """Which events (of the as-of frame) are the facts behind ``spec``'s value."""
    condition = pl.col("kind").is_in(list(spec.kinds))
    if spec.window_days is not None:
        condition &= _within(spec.window_days, as_of)
    if spec.name in _WELFARE_GROUPS:
        condition &= pl.col("welfare_type").is_in(list(_WELFARE_GROUPS[spec.name])) & (
            pl.col("welfare_end").is_null() | (pl.col("welfare_end") >= as_of)
        )
    elif spec.name in ("home_visit_risk_365d", "home_visit_risk_ever"):
        condition &= pl.col("risk_noted").fill_null(False)
    elif spec.name.startswith("absent_days") or spec.name.startswith("absence_rate"):
        condition &= pl.col("absent_days") > 0
    elif spec.name == "transfers_365d":
        condition &= pl.col("enrolment_status").is_in(["transferred_in", "transferred_out"])
    elif spec.name == "dropout_recorded":
        condition &= pl.col("enrolment_status") == "dropped_out"
    elif spec.kinds == ("screening",):
        condition &= pl.col("screening_score").is_not_null()
    return condition


def feature_facts(
    events: pl.DataFrame, as_of: dt.date, master_child_id: str, feature: str
) -> list[Fact]:
    """The records behind one child's feature value as of ``as_of`` (newest first).

    Features without events behind them (age, sex) have no facts.
    """
    spec = FEATURES[feature]
    if not spec.kinds:
        return []
    rows = (
        describe_events(
            events_as_of(events, as_of).filter(pl.col("master_child_id") == str(master_child_id))
        )
        .filter(fact_filter(spec, as_of))
        .sort("event_date", "record_id", descending=True)
        .select("record_id", "source", "event_date", "text_zh", "text_en")
        .collect()
    )
    return [Fact(**row) for row in rows.iter_rows(named=True)]
