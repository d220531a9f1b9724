"""Households, guardians and children of the synthetic county, drawn with vectorised numpy.

The population is the ground truth that every export is derived from: each person has one true
name, birth date, sex and (unless unregistered) one valid ID number. Family situations drive the
policy categories of DOMAIN.md (left-behind, orphan, de-facto unsupported, ...) and a latent
household adversity that the event model uses, so categories and risks are correlated as they
are in the field.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt
import polars as pl

from childlink.core.id_number import check_characters
from childlink.synth.config import SynthConfig
from childlink.synth.frames import frame, keep_where
from childlink.synth.geography import ORIGIN_COUNTIES, Geography
from childlink.synth.names import (
    draw_given_names,
    draw_minority_groups,
    draw_minority_household_names,
    draw_surnames,
    split_name,
)

DAY = np.timedelta64(1, "D")

# Births per year in China (millions), used as relative cohort sizes for the children.
_BIRTHS_BY_YEAR = {
    2006: 15.8, 2007: 15.9, 2008: 16.1, 2009: 15.9, 2010: 15.9, 2011: 16.0, 2012: 16.4,
    2013: 16.4, 2014: 16.9, 2015: 16.6, 2016: 17.9, 2017: 17.2, 2018: 15.2, 2019: 14.7,
    2020: 12.0, 2021: 10.6, 2022: 9.6, 2023: 9.0, 2024: 9.5, 2025: 8.9, 2026: 8.5, 2027: 8.3,
    2028: 8.1,
}  # fmt: skip


class Situation(StrEnum):
    """A household's parental situation, the root of most policy categories."""

    BOTH_PARENTS = "both_parents"
    BOTH_MIGRATED = "both_migrated"
    ONE_MIGRATED = "one_migrated"
    SINGLE_PARENT = "single_parent"
    ONE_DECEASED = "one_deceased"
    ORPHANED = "orphaned"
    UNSUPPORTED = "de_facto_unsupported"


@dataclass(frozen=True)
class Population:
    """The true people of the county."""

    households: pl.DataFrame
    adults: pl.DataFrame
    children: pl.DataFrame


def _dates(days: npt.NDArray[np.int64]) -> npt.NDArray[np.datetime64]:
    result: npt.NDArray[np.datetime64] = days.astype("datetime64[D]")
    return result


def _day_number(date: dt.date) -> int:
    return int(np.datetime64(date, "D").astype(np.int64))


def build_population(config: SynthConfig, geo: Geography, rng: np.random.Generator) -> Population:
    """Draw households, adults and exactly ``config.children`` children."""
    rates = config.categories
    start_day = _day_number(config.start)
    end_day = _day_number(config.end)

    # Oversample households, then keep whole households until exactly N children are reached.
    n_households = int(config.children / 1.7 * 1.25) + 20
    kids_per_household = rng.choice([1, 2, 3, 4], size=n_households, p=[0.42, 0.42, 0.13, 0.03])

    # Eldest child's birth date from the cohort sizes, anywhere from 18 years before the time line
    # to its last month (children born during the time line appear as newborns).
    years = np.array(sorted(_BIRTHS_BY_YEAR), dtype=np.int64)
    first_year, last_year = config.start.year - 18, config.end.year
    in_range = (years >= first_year) & (years <= last_year)
    weights = np.array([_BIRTHS_BY_YEAR[int(y)] for y in years[in_range]])
    eldest_year = rng.choice(years[in_range], size=n_households, p=weights / weights.sum())
    eldest_day = ((eldest_year - 1970) * 365.25 + rng.integers(0, 365, n_households)).astype(
        np.int64
    )
    # Families whose eldest child is younger tend to have fewer children so far.
    young = eldest_day > end_day - 4 * 365
    kids_per_household = np.where(young, np.minimum(kids_per_household, 2), kids_per_household)

    household_of_child = np.repeat(np.arange(n_households), kids_per_household)
    birth_order = _rank_within(household_of_child)
    is_twin = (birth_order > 0) & (rng.random(household_of_child.size) < 0.012)
    gaps = np.where(birth_order == 0, 0, 300 + rng.gamma(2.0, 450.0, household_of_child.size))
    gaps = np.where(is_twin, 0, gaps).astype(np.int64)
    birth_day = eldest_day[household_of_child] + _cumsum_within(gaps, household_of_child)
    # Only minors: born after the day 18 years before the time line (an elder sibling who is
    # already an adult stays out) and at least 20 days before its end.
    adult_line = _day_number(_years_before(config.start, 18))
    keep_child = (birth_day > adult_line) & (birth_day < end_day - 20)

    # Trim to exactly N children, keeping whole households.
    kept_per_household = np.bincount(household_of_child[keep_child], minlength=n_households)
    cumulative = np.cumsum(kept_per_household)
    last_household = int(np.searchsorted(cumulative, config.children))
    if last_household >= n_households:
        raise RuntimeError("household oversampling too small; this is a bug")
    keep_child &= household_of_child <= last_household
    # The last household may overshoot; drop its youngest children.
    overshoot = int(cumulative[last_household] - config.children)
    if overshoot > 0:
        last_kids = np.flatnonzero(keep_child & (household_of_child == last_household))
        keep_child[last_kids[-overshoot:]] = False
    n_households = last_household + 1
    household_of_child = household_of_child[keep_child]
    birth_order = _rank_within(household_of_child)
    birth_day = birth_day[keep_child]
    is_twin = is_twin[keep_child]
    n_children = household_of_child.size
    # Households whose every child was born after the time line are gone; renumber.
    present, household_of_child = np.unique(household_of_child, return_inverse=True)
    n_households = present.size
    eldest_day = eldest_day[present]

    # Household attributes.
    situation_names = [
        Situation.BOTH_MIGRATED,
        Situation.ONE_MIGRATED,
        Situation.SINGLE_PARENT,
        Situation.ONE_DECEASED,
        Situation.ORPHANED,
        Situation.UNSUPPORTED,
    ]
    situation_probs = np.array(
        [
            rates.both_parents_migrated,
            rates.one_parent_migrated,
            rates.single_parent,
            rates.one_parent_deceased,
            rates.orphaned,
            rates.de_facto_unsupported,
        ]
    )
    all_situations = np.array([Situation.BOTH_PARENTS, *situation_names], dtype=object)
    situation = rng.choice(
        all_situations,
        size=n_households,
        p=np.concatenate([[1 - situation_probs.sum()], situation_probs]),
    )
    migrant = rng.random(n_households) < rates.migrant
    minority = rng.random(n_households) < rates.minority
    hardship = np.isin(
        situation,
        [
            Situation.SINGLE_PARENT,
            Situation.ONE_DECEASED,
            Situation.ORPHANED,
            Situation.UNSUPPORTED,
        ],
    )
    low_income = rng.random(n_households) < np.where(
        hardship, rates.low_income * 3.5, rates.low_income
    )
    adversity = (
        rng.normal(0, 1, n_households)
        + 0.6 * low_income
        + 0.4 * hardship
        + 0.3 * (situation == Situation.BOTH_MIGRATED)
    )
    dv_propensity = 0.55 * adversity + rng.normal(0, 1, n_households)

    village_codes = geo.villages["code"].to_numpy()
    village_weights = geo.villages["weight"].to_numpy()
    village_index = rng.choice(
        village_codes.size, size=n_households, p=village_weights / village_weights.sum()
    )
    moved = rng.random(n_households) < 1 - (1 - rates.household_moves_per_year) ** (
        config.months / 12
    )
    previous_village_index = np.where(
        moved, rng.choice(village_codes.size, size=n_households), village_index
    )
    moved &= previous_village_index != village_index
    move_day = np.where(moved, rng.integers(start_day, end_day, n_households), -1)
    origin_codes = np.array([code for code, _ in ORIGIN_COUNTIES])
    id_region = np.where(
        migrant, rng.choice(origin_codes, size=n_households), config.county_code
    ).astype(object)
    village_full = geo.villages["full_name"].to_numpy()
    group_no = rng.integers(1, 12, n_households)
    house_no = rng.integers(1, 120, n_households)
    address = np.array(
        [
            f"{village_full[v]}{g}组{h}号"
            for v, g, h in zip(village_index, group_no, house_no, strict=True)
        ],
        dtype=object,
    )
    previous_address = keep_where(
        moved,
        np.array(
            [
                f"{village_full[v]}{g}组{h}号"
                for v, g, h in zip(
                    previous_village_index, house_no % 11 + 1, group_no * 7, strict=True
                )
            ],
            dtype=object,
        ),
    )
    household_ids = np.array([f"H{i + 1:07d}" for i in range(n_households)], dtype=object)

    # Adults: fathers and mothers (unless absent), grandparents where they care for the children.
    mother_day = eldest_day - (rng.uniform(20, 36, n_households) * 365.25).astype(np.int64)
    father_day = mother_day - (rng.uniform(-1, 6, n_households) * 365.25).astype(np.int64)
    grandma_day = mother_day - (rng.uniform(22, 32, n_households) * 365.25).astype(np.int64)
    grandpa_day = grandma_day - (rng.uniform(-1, 5, n_households) * 365.25).astype(np.int64)

    father_present = (
        ~np.isin(situation, [Situation.ORPHANED])
        & ~((situation == Situation.SINGLE_PARENT) & (rng.random(n_households) < 0.6))
        & ~((situation == Situation.ONE_DECEASED) & (rng.random(n_households) < 0.6))
    )
    mother_present = ~np.isin(situation, [Situation.ORPHANED]) & ~(
        np.isin(situation, [Situation.SINGLE_PARENT, Situation.ONE_DECEASED]) & father_present
    )
    needs_grandparent = np.isin(
        situation, [Situation.BOTH_MIGRATED, Situation.ORPHANED, Situation.UNSUPPORTED]
    )
    grandma_present = needs_grandparent | (rng.random(n_households) < 0.3)
    grandpa_present = grandma_present & (rng.random(n_households) < 0.7)
    father_migrated = father_present & (
        (situation == Situation.BOTH_MIGRATED)
        | ((situation == Situation.ONE_MIGRATED) & (rng.random(n_households) < 0.8))
    )
    mother_migrated = mother_present & (
        (situation == Situation.BOTH_MIGRATED)
        | ((situation == Situation.ONE_MIGRATED) & ~father_migrated)
    )

    roles = (
        ("father", father_present, father_day, True),
        ("mother", mother_present, mother_day, False),
        ("grandfather", grandpa_present, grandpa_day, True),
        ("grandmother", grandma_present, grandma_day, False),
    )
    family_surname = draw_surnames(rng, n_households)
    adult_frames = []
    adult_index_of: dict[str, npt.NDArray[np.int64]] = {}
    offset = 0
    for role, present_mask, day, male in roles:
        hh = np.flatnonzero(present_mask)
        n = hh.size
        is_male = np.full(n, male)
        surname = family_surname[hh] if role in ("father", "grandfather") else draw_surnames(rng, n)
        given = draw_given_names(rng, is_male, 1970 + (day[hh] / 365.25).astype(np.int64))
        name = np.char.add(surname.astype(str), given.astype(str)).astype(object)
        migrated = (
            father_migrated[hh]
            if role == "father"
            else mother_migrated[hh]
            if role == "mother"
            else np.zeros(n, dtype=bool)
        )
        index = np.full(n_households, -1, dtype=np.int64)
        index[hh] = np.arange(offset, offset + n)
        adult_index_of[role] = index
        offset += n
        adult_frames.append(
            frame(
                {
                    "household_index": hh,
                    "role": np.full(n, role, dtype=object),
                    "name": name,
                    "sex": np.where(is_male, "M", "F").astype(object),
                    "birth_day": day[hh],
                    "migrated": migrated,
                    "phone": _phones(rng, n),
                    "id_region": id_region[hh],
                }
            )
        )
    adults = pl.concat(adult_frames)
    n_adults = adults.height
    adult_ids = np.array([f"A{i + 1:07d}" for i in range(n_adults)], dtype=object)
    adult_id_numbers = _id_numbers(
        rng,
        adults["id_region"].to_numpy().astype(str),
        adults["birth_day"].to_numpy(),
        adults["sex"].to_numpy() == "M",
    )
    adults = adults.with_columns(
        person_id=pl.Series(adult_ids),
        id_number=pl.Series(adult_id_numbers),
        household_id=pl.Series(household_ids[adults["household_index"].to_numpy()]),
        birth_date=pl.Series(_dates(adults["birth_day"].to_numpy())),
    )

    # Children.
    hh = household_of_child
    is_male = rng.random(n_children) < 0.53
    twin_same_sex = is_twin & (rng.random(n_children) < 0.65)
    previous_sex = np.roll(is_male, 1)
    is_male = np.where(twin_same_sex, previous_sex, is_male)
    birth_year = 1970 + (birth_day / 365.25).astype(np.int64)
    given = draw_given_names(rng, is_male, birth_year)
    mother_surname_kids = rng.random(n_children) < 0.07
    mother_idx = adult_index_of["mother"][hh]
    adult_names = adults["name"].to_numpy()
    mother_surname = np.array(
        [split_name(adult_names[m])[0] if m >= 0 else "" for m in mother_idx], dtype=object
    )
    surname = np.where(mother_surname_kids & (mother_idx >= 0), mother_surname, family_surname[hh])
    child_name = np.char.add(surname.astype(str), given.astype(str)).astype(object)

    # Minority households: one ethnic group per household, shared by all its members, whose
    # names follow that group's conventions and the family ties (shared surname or clan, the
    # Uyghur child carrying the father's name).
    minority_households = np.flatnonzero(minority)
    group_of_household = np.full(n_households, "汉族", dtype=object)
    group_of_household[minority_households] = draw_minority_groups(rng, minority_households.size)
    local_household = np.full(n_households, -1, dtype=np.int64)
    local_household[minority_households] = np.arange(minority_households.size)
    adult_household = adults["household_index"].to_numpy()
    adult_rows = np.flatnonzero(minority[adult_household])
    child_rows = np.flatnonzero(minority[hh])
    minority_names = draw_minority_household_names(
        rng,
        group_of_household[minority_households],
        np.concatenate(
            [local_household[adult_household[adult_rows]], local_household[hh[child_rows]]]
        ),
        np.concatenate(
            [adults["role"].to_numpy()[adult_rows], np.full(child_rows.size, "child", dtype=object)]
        ),
        np.concatenate([adults["sex"].to_numpy()[adult_rows] == "M", is_male[child_rows]]),
        np.concatenate(
            [
                1970 + (adults["birth_day"].to_numpy()[adult_rows] / 365.25).astype(np.int64),
                birth_year[child_rows],
            ]
        ),
    )
    adult_name = adult_names.copy()
    adult_name[adult_rows] = minority_names[: adult_rows.size]
    child_name[child_rows] = minority_names[adult_rows.size :]
    adults = adults.with_columns(
        name=pl.Series(adult_name, dtype=pl.String),
        ethnicity=pl.Series(group_of_household[adult_household], dtype=pl.String),
    )
    child_ethnicity = group_of_household[hh]

    unregistered = rng.random(n_children) < rates.unregistered
    child_id_numbers = _id_numbers(rng, id_region[hh].astype(str), birth_day, is_male)
    child_id_numbers = keep_where(~unregistered, child_id_numbers)

    father_idx = adult_index_of["father"][hh]
    grandma_idx = adult_index_of["grandmother"][hh]
    grandpa_idx = adult_index_of["grandfather"][hh]
    sit = situation[hh]
    # The guardian who actually cares for the child day to day.
    caregiver = np.where(
        (mother_idx >= 0) & ~mother_migrated[hh] & (sit != Situation.UNSUPPORTED),
        mother_idx,
        np.where(
            (father_idx >= 0) & ~father_migrated[hh] & (sit != Situation.UNSUPPORTED),
            father_idx,
            np.where(grandma_idx >= 0, grandma_idx, grandpa_idx),
        ),
    )
    one_migrated_other_unable = (sit == Situation.ONE_MIGRATED) & (rng.random(n_children) < 0.08)
    left_behind = (sit == Situation.BOTH_MIGRATED) | one_migrated_other_unable
    disability = rng.random(n_children) < np.where(
        low_income[hh], rates.disability * 2, rates.disability
    )
    age_at_end = (end_day - birth_day) / 365.25
    street = (age_at_end >= 10) & (
        rng.random(n_children) < rates.street * (1 + 3 * adversity[hh].clip(0))
    )
    child_ids = np.array([f"C{i + 1:07d}" for i in range(n_children)], dtype=object)
    twin_of = keep_where(is_twin, np.roll(child_ids, 1))

    children = frame(
        {
            "child_id": child_ids,
            "household_id": household_ids[hh],
            "name": child_name,
            "sex": np.where(is_male, "M", "F").astype(object),
            "birth_date": _dates(birth_day),
            "id_number": child_id_numbers,
            "ethnicity": child_ethnicity,
            "birth_order": birth_order + 1,
            "twin_of": twin_of,
            "father_id": _lookup(adult_ids, father_idx),
            "mother_id": _lookup(adult_ids, mother_idx),
            "guardian_id": _lookup(adult_ids, caregiver),
            "situation": sit.astype(str),
            "left_behind": left_behind,
            "orphan": sit == Situation.ORPHANED,
            "de_facto_unsupported": sit == Situation.UNSUPPORTED,
            "disability": disability,
            "low_income": low_income[hh],
            "migrant": migrant[hh],
            "minority": minority[hh],
            "unregistered": unregistered,
            "street": street,
        },
        schema_overrides={
            "id_number": pl.String,
            "twin_of": pl.String,
            "father_id": pl.String,
            "mother_id": pl.String,
            "guardian_id": pl.String,
        },
    )
    households = frame(
        {
            "household_id": household_ids,
            "village_code": village_codes[village_index],
            "address": address,
            "previous_village_code": keep_where(moved, village_codes[previous_village_index]),
            "previous_address": previous_address,
            "move_date": np.where(moved, _dates(np.maximum(move_day, 0)), np.datetime64("NaT")),
            "situation": situation.astype(str),
            "low_income": low_income,
            "migrant": migrant,
            "minority": minority,
            "adversity": adversity,
            "dv_propensity": dv_propensity,
        },
        schema_overrides={"previous_village_code": pl.String, "previous_address": pl.String},
    )
    adults = adults.drop("household_index", "birth_day", "id_region").select(
        "person_id", "household_id", "role", "name", "sex", "birth_date", "id_number",
        "ethnicity", "migrated", "phone",
    )  # fmt: skip
    return Population(households=households, adults=adults, children=children)


def _years_before(date: dt.date, years: int) -> dt.date:
    """The same day ``years`` earlier (28 February for a 29 February without its year)."""
    try:
        return date.replace(year=date.year - years)
    except ValueError:
        return dt.date(date.year - years, 2, 28)


def _rank_within(groups: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """0-based position of each element within its run of equal, sorted group labels."""
    starts = np.r_[0, np.flatnonzero(np.diff(groups)) + 1]
    counts = np.diff(np.r_[starts, groups.size])
    result: npt.NDArray[np.int64] = np.arange(groups.size) - np.repeat(starts, counts)
    return result


def _cumsum_within(
    values: npt.NDArray[np.int64], groups: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    total = np.cumsum(values)
    starts = np.r_[0, np.flatnonzero(np.diff(groups)) + 1]
    counts = np.diff(np.r_[starts, groups.size])
    before = np.r_[0, total][starts]
    result: npt.NDArray[np.int64] = total - np.repeat(before, counts)
    return result


def _lookup(ids: npt.NDArray[np.object_], index: npt.NDArray[np.int64]) -> npt.NDArray[np.object_]:
    return keep_where(index >= 0, ids[np.maximum(index, 0)])


def _phones(rng: np.random.Generator, n: int) -> npt.NDArray[np.object_]:
    prefixes = np.array(
        ["133", "135", "138", "139", "150", "151", "157", "177", "180", "186", "187", "199"]
    )
    body = rng.integers(0, 100_000_000, n)
    return np.char.add(rng.choice(prefixes, n), np.char.zfill(body.astype(str), 8)).astype(object)


def _id_numbers(
    rng: np.random.Generator,
    region: npt.NDArray[np.str_],
    birth_day: npt.NDArray[np.int64],
    is_male: npt.NDArray[np.bool_],
) -> npt.NDArray[np.object_]:
    """Valid, unique 18-character ID numbers for the given regions, birth days and sexes."""
    n = region.size
    dates = np.datetime_as_string(_dates(birth_day), unit="D")
    prefix = np.char.add(region.astype(str), np.char.replace(dates, "-", ""))
    sequence = rng.integers(0, 500, n) * 2 + np.where(is_male, 1, 0)
    for _ in range(50):
        first17 = np.char.add(prefix, np.char.zfill(sequence.astype(str), 3))
        _, first_index, inverse = np.unique(first17, return_index=True, return_inverse=True)
        clash = first_index[inverse] != np.arange(n)
        if not clash.any():
            break
        sequence[clash] = rng.integers(0, 500, int(clash.sum())) * 2 + np.where(
            is_male[clash], 1, 0
        )
    else:  # pragma: no cover - needs thousands of births on one day in one county
        raise RuntimeError("could not draw unique ID numbers")
    digits = np.frombuffer("".join(first17.tolist()).encode("ascii"), dtype=np.uint8).reshape(n, 17)
    checks = check_characters(digits.astype(np.int64) - ord("0"))
    return np.char.add(first17, checks).astype(object)
