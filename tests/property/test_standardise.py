"""Properties of standardisation: the generator's reversible noise is undone, the rest refused.

The noise functions of :mod:`childlink.synth.noise` model the defects of real exports; every
defect that keeps the information must standardise back to the clean value, every defect that
destroys it (a mistyped digit) must be rejected while the cleaned text is kept for linkage.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from childlink.core.id_number import CHECK_CHARS, compose, is_valid, parse
from childlink.ingest.standardise import (
    standardise_dates,
    standardise_id_numbers,
    standardise_names,
)
from childlink.synth import names, noise

LATEST = dt.date(2030, 12, 31)
regions = st.integers(100_000, 999_999).map(str)
birth_dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=LATEST)
sequences = st.integers(0, 999)
id_numbers = st.builds(compose, regions, birth_dates, sequences)
id_lists = st.lists(id_numbers, min_size=1, max_size=40)
seeds = st.integers(0, 2**32 - 1)
SPACES = ("", " ", "\u3000", "\t", "  \u3000")

#: Characters that OpenCC ``s2t`` writes for a simplified character inside some phrases
#: (宁浩 → 甯浩, 修浚 → 修濬) but that are standard characters of their own, so ``t2s`` keeps
#: them. Found by converting every surname + pool given name and every pair of pool characters.
S2T_ARTEFACTS = str.maketrans("甯濬", "宁浚")


def _objects(values: list[str]) -> npt.NDArray[np.object_]:
    return np.array(values, dtype=object)


def _all(n: int) -> npt.NDArray[np.bool_]:
    return np.ones(n, dtype=bool)


def _standardise_ids(values: npt.NDArray[np.object_]) -> pl.Series:
    series = pl.Series(values.tolist(), dtype=pl.String)
    return standardise_id_numbers(series, latest_birth_date=LATEST).value


# --------------------------------------------------------------------------------------------
# ID numbers
# --------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    id_lists,
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.lists(st.tuples(st.sampled_from(SPACES), st.sampled_from(SPACES)), min_size=40),
)
def test_reversible_id_noise_standardises_back(
    originals: list[str],
    fullwidth: bool,
    lowercase: bool,
    legacy: bool,
    spaces: list[tuple[str, str]],
) -> None:
    n = len(originals)
    values = _objects(originals)
    if legacy:
        values = noise.legacy15(values, _all(n))  # only 19xx births change
    if lowercase:
        values = noise.lowercase_x(values, _all(n))
    if fullwidth:
        values = noise.fullwidth_digits(values, _all(n))
    noisy = [
        f"{before}{value}{after}" for value, (before, after) in zip(values, spaces, strict=False)
    ]
    result = standardise_id_numbers(pl.Series(noisy), latest_birth_date=LATEST)
    assert result.value.to_list() == originals
    assert result.error.null_count() == n
    facts = [parse(number) for number in originals]
    assert result.birth_date.to_list() == [f.birth_date for f in facts]
    assert result.sex.to_list() == [f.sex.value for f in facts]
    assert result.region6.to_list() == [f.region_code for f in facts]
    changed = [a != b for a, b in zip(noisy, originals, strict=True)]
    assert [fixes is not None for fixes in result.fixes.to_list()] == changed


@settings(max_examples=60, deadline=None)
@given(id_lists, seeds, st.sampled_from(["wrong_check", "typo", "transpose"]), st.booleans())
def test_damaging_id_noise_is_rejected_but_cleaned(
    originals: list[str], seed: int, kind: str, fullwidth: bool
) -> None:
    rng = np.random.default_rng(seed)
    values = _objects(originals)
    n = len(originals)
    if kind == "wrong_check":
        damaged = noise.wrong_check_character(rng, values, _all(n))
    elif kind == "typo":
        damaged = noise.one_digit_typo(rng, values, _all(n))
    else:
        damaged = noise.transpose_digits(rng, values, _all(n))
    shown = noise.fullwidth_digits(damaged, _all(n)) if fullwidth else damaged
    result = standardise_id_numbers(pl.Series(shown.tolist()), latest_birth_date=LATEST)
    for original, bad, value, error, cleaned in zip(
        originals, damaged, result.value, result.error, result.cleaned, strict=True
    ):
        if bad == original:  # the noise could not apply (e.g. no two different adjacent digits)
            continue
        assert value is None
        assert error in {"id_bad_check", "id_impossible_date"}
        assert cleaned == bad


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(alphabet="0123456789", min_size=17, max_size=17), st.sampled_from(CHECK_CHARS)
        ).map("".join),
        min_size=1,
        max_size=30,
    )
)
def test_id_validity_matches_the_scalar_reference(numbers: list[str]) -> None:
    result = standardise_id_numbers(pl.Series(numbers), latest_birth_date=LATEST)
    for number, value, error in zip(numbers, result.value, result.error, strict=True):
        expected = is_valid(number) and dt.date(1900, 1, 1) <= parse(number).birth_date <= LATEST
        assert (value == number) is expected
        assert (error is None) is expected


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=25)), max_size=30))
def test_arbitrary_text_is_value_error_or_missing(values: list[str | None]) -> None:
    series = pl.Series(values, dtype=pl.String)
    for result in (
        standardise_id_numbers(series),
        standardise_names(series),
        standardise_dates(series),
    ):
        assert result.value.len() == len(values)
        both = result.value.is_not_null() & result.error.is_not_null()
        assert not both.any()
        missing = series.str.strip_chars().fill_null("") == ""
        assert not (missing & (result.value.is_not_null() | result.error.is_not_null())).any()
    # Row-wise and whole-column results agree (no leakage between rows).
    column = standardise_id_numbers(series).error.to_list()
    single = [standardise_id_numbers(pl.Series([v], dtype=pl.String)).error[0] for v in values]
    assert column == single


# --------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31)), min_size=1, max_size=30),
    seeds,
    st.booleans(),
)
def test_every_date_style_parses_back(days: list[dt.date], seed: int, fullwidth: bool) -> None:
    rng = np.random.default_rng(seed)
    as_numpy = np.array(days, dtype="datetime64[D]")
    for style in noise.DateStyle:
        written = noise.format_dates(rng, as_numpy, {style: 1.0})
        text = _objects([str(value) for value in written])
        if fullwidth:
            text = noise.fullwidth_digits(text, _all(len(days)))
        result = standardise_dates(pl.Series(text.tolist(), dtype=pl.String))
        assert result.value.to_list() == days, style
        assert result.error.null_count() == len(days)


# --------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------


def _pool_names(rng: np.random.Generator, n: int) -> list[str]:
    is_male = rng.random(n) < 0.5
    years = rng.integers(1950, 2025, n)
    han = np.char.add(
        names.draw_surnames(rng, n).astype(str),
        names.draw_given_names(rng, is_male, years).astype(str),
    )
    minority, _ = names.draw_minority_full_names(rng, is_male, birth_years=years)
    pick = rng.random(n) < 0.7
    return [str(name) for name in np.where(pick, han, minority.astype(str))]


@settings(max_examples=40, deadline=None)
@given(seeds, st.integers(1, 60))
def test_reversible_name_noise_standardises_back(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    originals = _pool_names(rng, n)
    values = _objects(originals)
    values = noise.to_traditional(values, rng.random(n) < 0.5)
    values = noise.insert_space(rng, values, rng.random(n) < 0.5)
    values = noise.middle_dot_variant(rng, values, rng.random(n) < 0.7)
    noisy = [str(v) for v in values]
    result = standardise_names(pl.Series(noisy))
    clean = standardise_names(pl.Series(originals))
    assert clean.value.to_list() == originals
    assert result.error.null_count() == n
    for original, shown, value, pinyin, clean_pinyin in zip(
        originals, noisy, result.value, result.pinyin, clean.pinyin, strict=True
    ):
        expected = original
        dots = ("·", *noise.MIDDLE_DOT_VARIANTS)
        if "·" in original and not any(dot in shown for dot in dots if dot):
            expected = original.replace("·", "")  # a dropped dot cannot be restored
        assert value.translate(S2T_ARTEFACTS) == expected
        if expected == original:
            assert pinyin == clean_pinyin


@settings(max_examples=30, deadline=None)
@given(seeds, st.integers(1, 40))
def test_pinyin_of_han_name_equals_pinyin_of_its_romanisation(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    originals = _pool_names(rng, n)
    han = standardise_names(pl.Series(originals))
    styles = (str.upper, str.lower, str.title)
    picks = rng.integers(0, len(styles), size=n)
    romanised = [
        styles[int(pick)](noise.pinyin_name(name))
        for name, pick in zip(originals, picks, strict=True)
    ]
    latin = standardise_names(pl.Series(romanised))
    assert latin.error.null_count() == n
    assert latin.pinyin.to_list() == han.pinyin.to_list()
