"""The children's time line: school, welfare, health, police, community and reports.

A latent, slowly moving risk state per child and month (an AR(1) process on top of household
adversity and individual vulnerability) drives both the observable precursors (absences,
injuries, call-outs, screening scores) and the outcomes (dropout, maltreatment, mental-health
crisis). The monthly hazards are kept, so each outcome window's true probability is known and a
model's AUC can be compared with the ceiling those probabilities reach.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from childlink.synth.config import SynthConfig
from childlink.synth.frames import frame, keep_where
from childlink.synth.geography import Geography
from childlink.synth.population import Population

OUTCOMES = ("dropout", "maltreatment", "mental_health_crisis")
WINDOW_MONTHS = 6
# Teaching days in each calendar month (Chinese school calendar, winter and summer breaks).
SCHOOL_DAYS_BY_MONTH = np.array([10, 5, 22, 20, 19, 20, 5, 0, 20, 16, 21, 22])

INJURY_CODES = np.array(
    [
        "S00.0",
        "S01.8",
        "S09.9",
        "S40.0",
        "S50.0",
        "S52.5",
        "S60.2",
        "S80.0",
        "S93.4",
        "T14.0",
        "T20.1",
        "W19",
    ]
)
MALTREATMENT_CODES = np.array(["T74.1", "T74.0", "Y07.0", "Y07.1", "S00.8"])
GENERAL_CODES = np.array(
    [
        "J06.9",
        "J20.9",
        "A09",
        "K52.9",
        "R50.9",
        "H66.9",
        "L20.9",
        "Z00.1",
        "Z23",
        "J45.9",
        "B01.9",
        "K35.8",
    ]
)
MH_CRISIS_CODES = np.array(["F32.2", "F41.1", "F43.2", "R45.8", "X78", "X84", "F92.0"])
#: Outpatient mental-health presentations short of a crisis (mild depression, anxiety, emotional
#: and sleep disorders).
MH_OUTPATIENT_CODES = np.array(["F32.0", "F41.9", "F93.0", "F93.8", "F51.0"])


@dataclass(frozen=True)
class Signals:
    """How often and how strongly the observable records reflect the latent risk state.

    Rates are per child (or household) and month; a ``*_slope`` multiplies the latent score in
    an exponent, so a child whose score is one unit higher sees ``exp(slope)`` times the events.
    """

    #: Mean days absent per 20 school days at a latent dropout score of 0.
    absence_base: float = 0.7
    absence_slope: float = 0.85
    #: Domestic-violence call-outs per household and month at a propensity of 0.
    callout_base: float = 0.004
    callout_slope: float = 1.6
    #: Injury visits: a floor for accidents, plus a part that grows with the maltreatment score.
    injury_floor: float = 0.006
    injury_excess: float = 0.012
    injury_slope: float = 1.3
    #: Community home visits per child and month: children in a policy category, and the others.
    home_visit_category: float = 0.22
    home_visit_other: float = 0.1
    #: A home visit notes a concern when ``exp(slope * z_m) * U > threshold`` (U uniform): never
    #: below ``z_m = log(threshold) / slope``, and ever more often above it.
    concern_slope: float = 2.0
    concern_threshold: float = 1.6
    #: Outpatient mental-health visits per child (10 and over) and month at z_h = 0.
    mh_visit_base: float = 0.012
    mh_visit_slope: float = 1.2
    #: Standard deviation of the noise on a PHQ-9 screening score.
    screening_noise: float = 1.6


SIGNALS: Final = Signals()


@dataclass(frozen=True)
class Timeline:
    """Everything that happened to the county's children, without export noise."""

    enrolments: pl.DataFrame
    attendance: pl.DataFrame
    welfare: pl.DataFrame
    health_visits: pl.DataFrame
    screenings: pl.DataFrame
    incidents: pl.DataFrame
    home_visits: pl.DataFrame
    mandatory_reports: pl.DataFrame
    transfers: pl.DataFrame
    outcomes: pl.DataFrame


def _month_starts(config: SynthConfig) -> npt.NDArray[np.datetime64]:
    first = np.datetime64(config.start, "M")
    months: npt.NDArray[np.datetime64] = (first + np.arange(config.months + 1)).astype(
        "datetime64[D]"
    )
    return months


def _logistic(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    result: npt.NDArray[np.float64] = 1.0 / (1.0 + np.exp(-x))
    return result


def _random_days(
    rng: np.random.Generator, start: np.datetime64, end: np.datetime64, n: int
) -> npt.NDArray[np.datetime64]:
    span = int((end - start) / np.timedelta64(1, "D"))
    result: npt.NDArray[np.datetime64] = start + rng.integers(0, max(span, 1), n).astype(
        "timedelta64[D]"
    )
    return result


#: Month-to-month persistence (AR(1) coefficient) of the dropout, mental-health and household
#: (domestic-violence) shocks, and the standard deviation of their monthly innovations.
SHOCK_PERSISTENCE: Final[tuple[float, float, float]] = (0.85, 0.85, 0.8)
SHOCK_SD: Final[tuple[float, float, float]] = (0.16, 0.12, 0.10)
#: Log-odds of each outcome's monthly hazard (dropout, maltreatment, mental-health crisis) for a
#: child with every latent score at 0.
BASELINE_LOGIT: Final[tuple[float, float, float]] = (-8.3, -8.2, -8.5)
#: Weight of the child's own (unrecorded) maltreatment vulnerability in the maltreatment score.
IND_M_WEIGHT: Final = 0.2
#: Draws of the six months ahead averaged for each window's true probability.
FORECAST_DRAWS = 32


@dataclass(frozen=True)
class _Month:
    """The calendar, ages and school enrolment of every child in one month."""

    first: np.datetime64
    last: np.datetime64
    calendar_month: int
    school_year: int
    sept_first: np.datetime64
    age: npt.NDArray[np.float64]
    alive: npt.NDArray[np.bool_]
    grade: npt.NDArray[np.int64]
    enrolled: npt.NDArray[np.bool_]


@dataclass(frozen=True)
class _StaticRisk:
    """The parts of the latent risk that do not move: household and individual, per child."""

    adversity: npt.NDArray[np.float64]
    dv_household: npt.NDArray[np.float64]
    ind_d: npt.NDArray[np.float64]
    ind_m: npt.NDArray[np.float64]
    ind_h: npt.NDArray[np.float64]
    left_behind: npt.NDArray[np.bool_]
    disability: npt.NDArray[np.bool_]
    de_facto_unsupported: npt.NDArray[np.bool_]
    low_income: npt.NDArray[np.bool_]


@dataclass(frozen=True)
class _LatentState:
    """The moving part of the latent risk: AR(1) shocks per child and per household."""

    shock_d: npt.NDArray[np.float64]
    shock_h: npt.NDArray[np.float64]
    household_shock: npt.NDArray[np.float64]

    def draw_innovations(self, rng: np.random.Generator) -> list[npt.NDArray[np.float64]]:
        """One month's innovations of the three shocks (sizes and SDs: ``SHOCK_SD``)."""
        shocks = (self.shock_d, self.shock_h, self.household_shock)
        return [rng.normal(0, sd, shock.size) for sd, shock in zip(SHOCK_SD, shocks, strict=True)]

    def advance(
        self, innovations: list[npt.NDArray[np.float64]], sign: float = 1.0
    ) -> _LatentState:
        """The state one month on, given that month's innovations (``sign`` -1: antithetic)."""
        r_d, r_h, r_hh = SHOCK_PERSISTENCE
        e_d, e_h, e_hh = innovations
        return _LatentState(
            shock_d=r_d * self.shock_d + sign * e_d,
            shock_h=r_h * self.shock_h + sign * e_h,
            household_shock=r_hh * self.household_shock + sign * e_hh,
        )

    def step(self, rng: np.random.Generator) -> _LatentState:
        """The state one month on."""
        return self.advance(self.draw_innovations(rng))


@dataclass(frozen=True)
class _Hazards:
    """Latent scores and monthly outcome hazards, with who is at risk of each outcome."""

    z_d: npt.NDArray[np.float64]
    z_m: npt.NDArray[np.float64]
    z_h: npt.NDArray[np.float64]
    dropout: npt.NDArray[np.float64]
    maltreatment: npt.NDArray[np.float64]
    mental_health: npt.NDArray[np.float64]
    at_risk_dropout: npt.NDArray[np.bool_]
    at_risk_maltreatment: npt.NDArray[np.bool_]
    at_risk_mental_health: npt.NDArray[np.bool_]

    def by_outcome(self) -> list[tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]]:
        """(hazard, at risk) in the order of :data:`OUTCOMES`."""
        return [
            (self.dropout, self.at_risk_dropout),
            (self.maltreatment, self.at_risk_maltreatment),
            (self.mental_health, self.at_risk_mental_health),
        ]


def _monthly_hazards(
    month: _Month,
    state: _LatentState,
    static: _StaticRisk,
    household_row: npt.NDArray[np.int64],
) -> _Hazards:
    """The latent scores and the hazard of each outcome in ``month`` given ``state``."""
    age = month.age
    z_d = (
        0.5 * static.adversity
        + 0.8 * static.ind_d
        + 0.4 * static.left_behind
        + 0.3 * static.disability
        + state.shock_d
    )
    z_m = (
        0.75 * (static.dv_household + state.household_shock)[household_row]
        + IND_M_WEIGHT * static.ind_m
        + 0.4 * static.de_facto_unsupported
    )
    z_h = 0.4 * static.adversity + 0.7 * static.ind_h + 0.35 * static.left_behind
    z_h = z_h + 0.25 * z_m + state.shock_h
    return _Hazards(
        z_d=z_d,
        z_m=z_m,
        z_h=z_h,
        dropout=_logistic(
            BASELINE_LOGIT[0]
            + 1.3 * z_d
            + 0.3 * np.clip(age - 12, 0, None)
            + 0.5 * static.low_income
        ),
        maltreatment=_logistic(BASELINE_LOGIT[1] + 1.25 * z_m + 0.3 * (age < 6)),
        mental_health=_logistic(BASELINE_LOGIT[2] + 1.3 * z_h + 0.2 * np.clip(age - 13, 0, None)),
        at_risk_dropout=month.enrolled & (age >= 10),
        at_risk_maltreatment=month.alive,
        at_risk_mental_health=month.alive & (age >= 10),
    )


def _window_probability(
    months: list[_Month],
    state: _LatentState,
    static: _StaticRisk,
    household_row: npt.NDArray[np.int64],
    rng: np.random.Generator,
    draws: int = FORECAST_DRAWS,
) -> npt.NDArray[np.float64]:
    """P(each outcome happens in ``months`` | the latent state on their first day), per child.

    The probability of at least one event, ``1 - prod(1 - hazard)``, averaged over ``draws``
    simulated paths of the shocks (half of them antithetic, which halves the noise of the
    average). Enrolment is as of the first day: a child who has dropped out stays out.

    Returns:
        An array of shape (len(OUTCOMES), children).
    """
    total = np.zeros((len(OUTCOMES), state.shock_d.size))
    half = max(1, draws // 2)
    for _ in range(half):
        noise = [state.draw_innovations(rng) for _month in months]
        for sign in (1.0, -1.0):
            path = state
            survival = np.ones_like(total)
            for month, innovations in zip(months, noise, strict=True):
                path = path.advance(innovations, sign)
                for k, (h, risk) in enumerate(
                    _monthly_hazards(month, path, static, household_row).by_outcome()
                ):
                    survival[k] *= 1.0 - np.where(risk, h, 0.0)
            total += 1.0 - survival
    result: npt.NDArray[np.float64] = total / (2 * half)
    return result


def build_timeline(
    config: SynthConfig, geo: Geography, pop: Population, rng: np.random.Generator
) -> Timeline:
    """Simulate the months of the time line for every child at once."""
    children = pop.children
    n = children.height
    hh = pop.households
    household_row = (
        children.select("household_id")
        .join(hh.with_row_index("row"), on="household_id", how="left")["row"]
        .to_numpy()
    )
    adversity = hh["adversity"].to_numpy()[household_row]
    dv_household = hh["dv_propensity"].to_numpy()
    flag = {
        name: children[name].to_numpy().astype(bool)
        for name in (
            "left_behind",
            "orphan",
            "de_facto_unsupported",
            "disability",
            "low_income",
            "street",
        )
    }
    birth = children["birth_date"].to_numpy().astype("datetime64[D]")
    month_start = _month_starts(config)
    n_months = config.months
    n_households = hh.height

    ind_d, ind_m, ind_h = rng.normal(0, 1, (3, n))
    shock_d = rng.normal(0, 0.45, n)
    shock_h = rng.normal(0, 0.45, n)
    household_shock = rng.normal(0, 0.45, n_households)

    # Schools: primary in the child's township (the village's own school if it has one), the
    # township's middle school, and one of the county high schools.
    schools = geo.schools
    current_village = hh["village_code"].to_numpy()[household_row]
    previous_village = (
        hh.select(pl.col("previous_village_code").fill_null(pl.col("village_code")))
        .to_series()
        .to_numpy()[household_row]
    )
    move_day = hh["move_date"].to_numpy().astype("datetime64[D]")[household_row]
    primary_by_village = dict(
        schools.filter(pl.col("kind") == "primary").select("village_code", "school_id").iter_rows()
    )
    central_primary = dict(
        schools.filter(pl.col("kind") == "primary")
        .group_by("township_code")
        .agg(pl.col("school_id").first())
        .iter_rows()
    )
    middle_by_township = dict(
        schools.filter(pl.col("kind") == "middle").select("township_code", "school_id").iter_rows()
    )
    high_schools = schools.filter(pl.col("kind") == "high")["school_id"].to_numpy()

    def local_schools(villages: npt.NDArray[np.object_]) -> tuple[npt.NDArray[np.object_], ...]:
        townships = [code[:9] + "000" for code in villages]
        primary = [
            primary_by_village.get(v) or central_primary[t]
            for v, t in zip(villages, townships, strict=True)
        ]
        middle = [middle_by_township[t] for t in townships]
        return np.array(primary, dtype=object), np.array(middle, dtype=object)

    primary_now, middle_now = local_schools(current_village)
    primary_before, middle_before = local_schools(previous_village)
    high = rng.choice(high_schools, n)
    school_last_month = np.full(n, None, dtype=object)
    transfer_parts: list[pl.DataFrame] = []
    repeats_grade = rng.random(n) < 0.04
    high_school_entry = rng.random(n) < 0.85

    dropped = np.zeros(n, dtype=bool)
    dropout_day = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    occurred = np.zeros((len(OUTCOMES), n, n_months), dtype=bool)
    at_risk = np.zeros((len(OUTCOMES), n, n_months), dtype=bool)

    attendance_parts: list[pl.DataFrame] = []
    visit_parts: list[pl.DataFrame] = []
    screening_parts: list[pl.DataFrame] = []
    incident_parts: list[pl.DataFrame] = []
    home_visit_parts: list[pl.DataFrame] = []
    report_parts: list[pl.DataFrame] = []
    enrolment_parts: list[pl.DataFrame] = []
    child_ids = children["child_id"].to_numpy()
    household_ids = hh["household_id"].to_numpy()
    dv_calls_last_month = np.zeros(n_households, dtype=np.int64)

    def month_of(m: int, dropped: npt.NDArray[np.bool_]) -> _Month:
        first, last = month_start[m], month_start[m + 1]
        calendar_month = int(str(first)[5:7])
        school_year = int(str(first)[:4]) - (1 if calendar_month < 9 else 0)
        sept_first = np.datetime64(f"{school_year}-09-01")
        age_at_sept = (sept_first - birth).astype(np.int64) / 365.25
        grade = np.floor(age_at_sept).astype(np.int64) - 5 - repeats_grade
        school_age = (grade >= 1) & (grade <= 12) & ~flag["street"]
        alive = birth < last
        return _Month(
            first=first,
            last=last,
            calendar_month=calendar_month,
            school_year=school_year,
            sept_first=sept_first,
            age=(first - birth).astype(np.int64) / 365.25,
            alive=alive,
            grade=grade,
            enrolled=school_age & ~dropped & ((grade <= 9) | high_school_entry) & alive,
        )

    def hazards_of(month: _Month, state: _LatentState) -> _Hazards:
        return _monthly_hazards(month, state, static, household_row)

    static = _StaticRisk(
        adversity=adversity,
        dv_household=dv_household,
        ind_d=ind_d,
        ind_m=ind_m,
        ind_h=ind_h,
        left_behind=flag["left_behind"],
        disability=flag["disability"],
        de_facto_unsupported=flag["de_facto_unsupported"],
        low_income=flag["low_income"],
    )
    # The true probability of each window is what the generator knows on its first day: the
    # latent state then, with the next six months' shocks still to come (averaged over draws
    # from a stream of its own, so the county's other draws do not change).
    forecast_rng = rng.spawn(1)[0]
    start_probability = np.zeros((len(OUTCOMES), n, n_months // WINDOW_MONTHS))

    for m in range(n_months):
        if m % WINDOW_MONTHS == 0 and m + WINDOW_MONTHS <= n_months:
            start_probability[:, :, m // WINDOW_MONTHS] = _window_probability(
                [month_of(m + k, dropped) for k in range(WINDOW_MONTHS)],
                _LatentState(shock_d, shock_h, household_shock),
                static,
                household_row,
                forecast_rng,
            )
        month = month_of(m, dropped)
        first, last = month.first, month.last
        calendar_month = month.calendar_month
        age = month.age
        alive = month.alive
        school_year = month.school_year
        sept_first = month.sept_first
        grade = month.grade
        enrolled = month.enrolled
        before_move = ~(move_day <= first)
        primary = np.where(before_move, primary_before, primary_now)
        middle = np.where(before_move, middle_before, middle_now)
        school = np.where(grade <= 6, primary, np.where(grade <= 9, middle, high))
        # A change of school without a change of level is a transfer (the family moved).
        same_level = (calendar_month != 9) & enrolled & (school_last_month != None)  # noqa: E711
        transferred = np.flatnonzero(same_level & (school != school_last_month))
        if transferred.size:
            transfer_parts.append(
                frame(
                    {
                        "child_id": child_ids[transferred],
                        "transfer_date": move_day[transferred],
                        "from_school_id": school_last_month[transferred],
                        "to_school_id": school[transferred],
                    }
                )
            )
        school_last_month = keep_where(enrolled, school)

        if calendar_month == 9 or m == 0:
            idx = np.flatnonzero(enrolled)
            enrolment_parts.append(
                frame(
                    {
                        "child_id": child_ids[idx],
                        "school_year": np.full(idx.size, school_year),
                        "school_id": school[idx],
                        "grade": grade[idx],
                        "entry_date": np.maximum(
                            sept_first, birth[idx] + np.timedelta64(6 * 365, "D")
                        ),
                    }
                )
            )

        # Latent states this month, outcome hazards and draws.
        state = _LatentState(shock_d, shock_h, household_shock).step(rng)
        shock_d, shock_h, household_shock = state.shock_d, state.shock_h, state.household_shock
        hazard = hazards_of(month, state)
        z_d, z_m, z_h = hazard.z_d, hazard.z_m, hazard.z_h
        for k, (h, risk) in enumerate(hazard.by_outcome()):
            at_risk[k, :, m] = risk
            occurred[k, :, m] = risk & (rng.random(n) < h)
        new_dropouts = occurred[0, :, m]
        dropout_day[new_dropouts] = _random_days(rng, first, last, int(new_dropouts.sum()))

        # School attendance: absences rise with the latent dropout state.
        school_days = int(SCHOOL_DAYS_BY_MONTH[calendar_month - 1])
        if school_days > 0:
            idx = np.flatnonzero(enrolled)
            mean = (
                SIGNALS.absence_base * school_days / 20 * np.exp(SIGNALS.absence_slope * z_d[idx])
            )
            absent = np.minimum(rng.poisson(mean), school_days)
            absent = np.where(new_dropouts[idx], np.maximum(absent, school_days * 2 // 3), absent)
            attendance_parts.append(
                frame(
                    {
                        "child_id": child_ids[idx],
                        "month": np.full(idx.size, first),
                        "school_id": school[idx],
                        "school_days": np.full(idx.size, school_days),
                        "absent_days": absent,
                    }
                )
            )
        dropped |= new_dropouts

        # Health: routine visits, injuries (more with maltreatment), crises.
        routine = alive & (rng.random(n) < np.where(age < 6, 0.2, 0.09))
        injury = alive & (
            rng.random(n)
            < SIGNALS.injury_floor
            + SIGNALS.injury_excess * np.exp(SIGNALS.injury_slope * z_m) * (age >= 1)
        )
        mh_outpatient = (
            alive
            & (age >= 10)
            & (rng.random(n) < SIGNALS.mh_visit_base * np.exp(SIGNALS.mh_visit_slope * z_h))
        )
        maltreat = occurred[1, :, m]
        maltreat_injury = maltreat & (rng.random(n) < 0.55)
        crisis = occurred[2, :, m]
        for mask, kind, codes in (
            (routine, "routine", GENERAL_CODES),
            (injury, "injury", INJURY_CODES),
            (maltreat_injury, "maltreatment_injury", MALTREATMENT_CODES),
            (crisis, "mental_health_crisis", MH_CRISIS_CODES),
            (mh_outpatient, "mental_health_outpatient", MH_OUTPATIENT_CODES),
        ):
            idx = np.flatnonzero(mask)
            if idx.size:
                visit_parts.append(
                    frame(
                        {
                            "child_id": child_ids[idx],
                            "visit_date": np.maximum(
                                _random_days(rng, first, last, idx.size), birth[idx]
                            ),
                            "kind": np.full(idx.size, kind, dtype=object),
                            "icd10": rng.choice(codes, idx.size),
                            "inpatient": rng.random(idx.size)
                            < (0.6 if kind == "mental_health_crisis" else 0.08),
                        }
                    )
                )

        # Mental-health screening at school each October and April from age 10.
        if calendar_month in (10, 4):
            idx = np.flatnonzero(enrolled & (age >= 10))
            score = np.clip(
                np.round(4.5 + 3.8 * z_h[idx] + rng.normal(0, SIGNALS.screening_noise, idx.size)),
                0,
                27,
            )
            screening_parts.append(
                frame(
                    {
                        "child_id": child_ids[idx],
                        "screening_date": _random_days(rng, first, last, idx.size),
                        "instrument": np.full(idx.size, "PHQ-9", dtype=object),
                        "score": score.astype(np.int64),
                        "school_id": school[idx],
                    }
                )
            )

        # Police: domestic-violence call-outs per household, street-child pick-ups.
        calls = rng.poisson(
            SIGNALS.callout_base
            * np.exp(SIGNALS.callout_slope * (hh["dv_propensity"].to_numpy() + household_shock))
        )
        call_hh = np.flatnonzero(calls > 0)
        if call_hh.size:
            incident_parts.append(
                frame(
                    {
                        "household_id": household_ids[call_hh],
                        "child_id": np.full(call_hh.size, None, dtype=object),
                        "incident_date": _random_days(rng, first, last, call_hh.size),
                        "kind": np.full(call_hh.size, "domestic_violence", dtype=object),
                    },
                    schema_overrides={"child_id": pl.String},
                )
            )
        street_idx = np.flatnonzero(flag["street"] & alive & (rng.random(n) < 0.15))
        if street_idx.size:
            incident_parts.append(
                frame(
                    {
                        "household_id": hh["household_id"].to_numpy()[household_row[street_idx]],
                        "child_id": child_ids[street_idx],
                        "incident_date": _random_days(rng, first, last, street_idx.size),
                        "kind": np.full(street_idx.size, "street_child", dtype=object),
                    }
                )
            )

        # Community home visits: regular for children in the policy categories, and after a
        # domestic-violence call-out in the household the month before.
        in_category = (
            flag["left_behind"]
            | flag["orphan"]
            | flag["de_facto_unsupported"]
            | flag["disability"]
            | flag["low_income"]
        )
        after_call = dv_calls_last_month[household_row] > 0
        visit_prob = np.where(
            in_category, SIGNALS.home_visit_category, SIGNALS.home_visit_other
        ) + np.where(after_call, 0.5, 0.0)
        idx = np.flatnonzero(alive & (rng.random(n) < visit_prob))
        home_visit_parts.append(
            frame(
                {
                    "child_id": child_ids[idx],
                    "visit_date": _random_days(rng, first, last, idx.size),
                    "concern": (
                        np.exp(SIGNALS.concern_slope * z_m[idx]) * rng.random(idx.size)
                        > SIGNALS.concern_threshold
                    ),
                    "after_call_out": after_call[idx],
                }
            )
        )
        dv_calls_last_month = calls

        # Mandatory reports: most confirmed maltreatment, and a few false alarms.
        reported = (maltreat & (rng.random(n) < 0.6)) | (
            alive & (rng.random(n) < 0.0004 * np.exp(0.8 * z_m))
        )
        idx = np.flatnonzero(reported)
        if idx.size:
            report_parts.append(
                frame(
                    {
                        "child_id": child_ids[idx],
                        "report_date": _random_days(rng, first, last, idx.size),
                        "reporter_kind": rng.choice(
                            np.array(["school", "hospital", "community", "neighbour"]),
                            idx.size,
                            p=[0.45, 0.3, 0.15, 0.1],
                        ),
                        "substantiated": maltreat[idx],
                    }
                )
            )

    enrolments = _enrolments_with_status(pl.concat(enrolment_parts), children, dropout_day)
    outcomes = _outcome_windows(
        config, child_ids, start_probability, occurred, at_risk, month_start
    )
    welfare = _welfare(config, pop, rng)
    return Timeline(
        enrolments=enrolments,
        attendance=_concat(attendance_parts, "attendance"),
        welfare=welfare,
        health_visits=_concat(visit_parts, "health_visits").sort("visit_date", "child_id"),
        screenings=_concat(screening_parts, "screenings"),
        incidents=_concat(incident_parts, "incidents").sort("incident_date"),
        home_visits=_concat(home_visit_parts, "home_visits"),
        mandatory_reports=_concat(report_parts, "mandatory_reports").sort("report_date"),
        transfers=_concat(transfer_parts, "transfers"),
        outcomes=outcomes,
    )


def _enrolments_with_status(
    enrolments: pl.DataFrame,
    children: pl.DataFrame,
    dropout_day: npt.NDArray[np.datetime64],
) -> pl.DataFrame:
    dropouts = frame({"child_id": children["child_id"], "dropout_date": dropout_day}).filter(
        pl.col("dropout_date").is_not_null()
    )
    return (
        enrolments.join(dropouts, on="child_id", how="left")
        .with_columns(
            school_year_end=pl.date(pl.col("school_year") + 1, 8, 31),
        )
        .with_columns(
            status=pl.when(
                pl.col("dropout_date").is_not_null()
                & (pl.col("dropout_date") <= pl.col("school_year_end"))
            )
            .then(pl.lit("dropped_out"))
            .otherwise(pl.lit("enrolled")),
        )
        .with_columns(
            dropout_date=pl.when(pl.col("status") == "dropped_out").then(pl.col("dropout_date"))
        )
        .drop("school_year_end")
    )


def _outcome_windows(
    config: SynthConfig,
    child_ids: npt.NDArray[np.object_],
    start_probability: npt.NDArray[np.float64],
    occurred: npt.NDArray[np.bool_],
    at_risk: npt.NDArray[np.bool_],
    month_start: npt.NDArray[np.datetime64],
) -> pl.DataFrame:
    """True probability (as of the window's first day) and occurrence per child and window."""
    parts = []
    for k, outcome in enumerate(OUTCOMES):
        for w in range(config.months // WINDOW_MONTHS):
            span = slice(w * WINDOW_MONTHS, (w + 1) * WINDOW_MONTHS)
            risk = at_risk[k, :, span].any(axis=1)
            probability = start_probability[k, :, w]
            happened = occurred[k, :, span]
            first_month = np.where(happened.any(axis=1), happened.argmax(axis=1), -1)
            idx = np.flatnonzero(risk)
            parts.append(
                frame(
                    {
                        "child_id": child_ids[idx],
                        "outcome": np.full(idx.size, outcome, dtype=object),
                        "window_start": np.full(idx.size, month_start[w * WINDOW_MONTHS]),
                        "window_end": np.full(idx.size, month_start[(w + 1) * WINDOW_MONTHS]),
                        "true_probability": probability[idx],
                        "occurred": first_month[idx] >= 0,
                        "first_month": np.where(
                            first_month[idx] >= 0,
                            month_start[w * WINDOW_MONTHS + np.maximum(first_month[idx], 0)],
                            np.datetime64("NaT"),
                        ),
                    }
                )
            )
    return pl.concat(parts)


def _welfare(config: SynthConfig, pop: Population, rng: np.random.Generator) -> pl.DataFrame:
    """Civil-affairs programme enrolments, some starting or ending during the time line."""
    children = pop.children
    start = np.datetime64(config.start, "D")
    end = np.datetime64(config.end, "D")
    programmes = (
        ("low_income", "低保", 420),
        ("orphan", "孤儿基本生活费", 1500),
        ("de_facto_unsupported", "事实无人抚养儿童生活补贴", 1500),
        ("left_behind", "农村留守儿童", 0),
        ("disability", "残疾儿童康复救助", 600),
    )
    parts = []
    birth = children["birth_date"].to_numpy().astype("datetime64[D]")
    for column, programme, amount in programmes:
        idx = np.flatnonzero(children[column].to_numpy())
        if idx.size == 0:
            continue
        starts_during = rng.random(idx.size) < 0.25
        begin = np.where(
            starts_during,
            _random_days(rng, start, end, idx.size),
            start - rng.integers(30, 3 * 365, idx.size).astype("timedelta64[D]"),
        )
        begin = np.maximum(begin, birth[idx])
        ends = rng.random(idx.size) < (0.12 if column in ("low_income", "left_behind") else 0.03)
        finish = np.where(
            ends,
            begin + rng.integers(60, 540, idx.size).astype("timedelta64[D]"),
            np.datetime64("NaT"),
        )
        finish = np.where(finish >= end, np.datetime64("NaT"), finish)
        parts.append(
            frame(
                {
                    "child_id": children["child_id"].to_numpy()[idx],
                    "programme": np.full(idx.size, programme, dtype=object),
                    "start_date": begin,
                    "end_date": finish,
                    "monthly_amount": np.full(idx.size, amount)
                    + rng.integers(0, 3, idx.size) * 10 * (amount > 0),
                }
            )
        )
    return _concat(parts, "welfare").sort("child_id", "start_date")


#: Columns of each event table, for the empty table of a county too small for any such event.
_EVENT_SCHEMAS: dict[str, dict[str, type[pl.DataType]]] = {
    "attendance": {
        "child_id": pl.String,
        "month": pl.Date,
        "school_id": pl.String,
        "school_days": pl.Int64,
        "absent_days": pl.Int64,
    },
    "welfare": {
        "child_id": pl.String,
        "programme": pl.String,
        "start_date": pl.Date,
        "end_date": pl.Date,
        "monthly_amount": pl.Int64,
    },
    "health_visits": {
        "child_id": pl.String,
        "visit_date": pl.Date,
        "kind": pl.String,
        "icd10": pl.String,
        "inpatient": pl.Boolean,
    },
    "screenings": {
        "child_id": pl.String,
        "screening_date": pl.Date,
        "instrument": pl.String,
        "score": pl.Int64,
        "school_id": pl.String,
    },
    "incidents": {
        "household_id": pl.String,
        "child_id": pl.String,
        "incident_date": pl.Date,
        "kind": pl.String,
    },
    "home_visits": {
        "child_id": pl.String,
        "visit_date": pl.Date,
        "concern": pl.Boolean,
        "after_call_out": pl.Boolean,
    },
    "mandatory_reports": {
        "child_id": pl.String,
        "report_date": pl.Date,
        "reporter_kind": pl.String,
        "substantiated": pl.Boolean,
    },
    "transfers": {
        "child_id": pl.String,
        "transfer_date": pl.Date,
        "from_school_id": pl.String,
        "to_school_id": pl.String,
    },
}


def _concat(parts: list[pl.DataFrame], table: str) -> pl.DataFrame:
    """The parts of one event table; an empty table when no such event happened."""
    return pl.concat(parts) if parts else pl.DataFrame(schema=_EVENT_SCHEMAS[table])
