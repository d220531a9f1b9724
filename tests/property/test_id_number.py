"""Properties of the resident ID number rules (GB 11643-1999, ISO 7064 MOD 11-2)."""

from __future__ import annotations

import calendar
import datetime as dt

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from childlink.core.id_number import (
    CHECK_CHARS,
    Sex,
    check_character,
    check_characters,
    compose,
    is_valid,
    parse,
    to_legacy15,
    upgrade15,
)
from childlink.errors import InvalidIdNumberError

regions = st.integers(0, 999_999).map(lambda code: f"{code:06d}")
birth_dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2099, 12, 31))
sequences = st.integers(0, 999)
id_numbers = st.builds(compose, regions, birth_dates, sequences)
digits17 = st.lists(st.integers(0, 9), min_size=17, max_size=17)


@settings(max_examples=300)
@given(regions, birth_dates, sequences)
def test_compose_parse_round_trip(region: str, birth_date: dt.date, sequence: int) -> None:
    number = compose(region, birth_date, sequence)
    facts = parse(number)
    assert len(number) == 18
    assert is_valid(number)
    assert facts.id_number == number
    assert facts.region_code == region
    assert facts.birth_date == birth_date
    assert facts.sequence == sequence
    assert facts.sex is (Sex.MALE if sequence % 2 == 1 else Sex.FEMALE)


@settings(max_examples=100)
@given(st.lists(digits17, min_size=1, max_size=40))
def test_vectorised_check_characters_match_scalar(rows: list[list[int]]) -> None:
    matrix = np.array(rows, dtype=np.int64)
    vectorised = check_characters(matrix)
    scalar = [check_character("".join(map(str, row))) for row in rows]
    assert vectorised.tolist() == scalar


def test_check_characters_rejects_wrong_shape() -> None:
    with pytest.raises(ValueError, match="17"):
        check_characters(np.zeros((3, 16), dtype=np.int64))


@settings(max_examples=300)
@given(id_numbers, st.integers(0, 16), st.integers(1, 9))
def test_any_single_digit_change_is_detected(number: str, position: int, shift: int) -> None:
    digit = str((int(number[position]) + shift) % 10)
    changed = number[:position] + digit + number[position + 1 :]
    assert changed != number
    assert not is_valid(changed)


@settings(max_examples=100)
@given(id_numbers, st.sampled_from(CHECK_CHARS))
def test_any_other_check_character_is_detected(number: str, check: str) -> None:
    changed = number[:17] + check
    assert is_valid(changed) == (changed == number)


@settings(max_examples=300)
@given(id_numbers, st.integers(0, 16))
def test_any_adjacent_transposition_is_detected(number: str, position: int) -> None:
    a, b = number[position], number[position + 1]
    assume(a != b and b.isdigit())  # something to swap; an X check character cannot move
    swapped = number[:position] + b + a + number[position + 2 :]
    assert not is_valid(swapped)


@settings(max_examples=200)
@given(
    regions,
    st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(1999, 12, 31)),
    sequences,
)
def test_legacy15_round_trip(region: str, birth_date: dt.date, sequence: int) -> None:
    number = compose(region, birth_date, sequence)
    legacy = to_legacy15(number)
    assert len(legacy) == 15
    assert legacy.isdigit()
    assert legacy[6:12] == f"{birth_date:%y%m%d}"
    assert upgrade15(legacy) == number


@settings(max_examples=50)
@given(
    regions,
    st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31)),
    sequences,
)
def test_no_legacy15_after_1999(region: str, birth_date: dt.date, sequence: int) -> None:
    with pytest.raises(InvalidIdNumberError):
        to_legacy15(compose(region, birth_date, sequence))


def _impossible_dates() -> st.SearchStrategy[tuple[int, int, int]]:
    years = st.integers(1900, 2099)
    bad_month = st.tuples(years, st.sampled_from([0, 13, 20, 99]), st.integers(1, 28))
    bad_day = years.flatmap(
        lambda y: st.integers(1, 12).flatmap(
            lambda m: st.tuples(
                st.just(y),
                st.just(m),
                st.sampled_from([0, calendar.monthrange(y, m)[1] + 1, 32, 99]),
            )
        )
    )
    return st.one_of(bad_month, bad_day)


@settings(max_examples=200)
@given(regions, _impossible_dates(), sequences)
def test_impossible_dates_are_rejected(
    region: str, ymd: tuple[int, int, int], sequence: int
) -> None:
    year, month, day = ymd
    body = f"{region}{year:04d}{month:02d}{day:02d}{sequence:03d}"
    number = body + check_character(body)  # a correct check character: only the date is wrong
    with pytest.raises(InvalidIdNumberError, match="date"):
        parse(number)
    assert not is_valid(number)
    if 1900 <= year <= 1999:
        with pytest.raises(InvalidIdNumberError, match="date"):
            upgrade15(number[:6] + number[8:17])


@pytest.mark.parametrize(
    ("number", "region", "birth_date", "sequence", "sex"),
    [
        # The two examples of GB 11643-1999.
        ("11010519491231002X", "110105", dt.date(1949, 12, 31), 2, Sex.FEMALE),
        ("440524188001010014", "440524", dt.date(1880, 1, 1), 1, Sex.MALE),
        # Leap days, including 2000 (a leap year although divisible by 100).
        (
            compose("522701", dt.date(2000, 2, 29), 123),
            "522701",
            dt.date(2000, 2, 29),
            123,
            Sex.MALE,
        ),
    ],
)
def test_known_good_numbers(
    number: str, region: str, birth_date: dt.date, sequence: int, sex: Sex
) -> None:
    facts = parse(number)
    assert (facts.region_code, facts.birth_date, facts.sequence, facts.sex) == (
        region,
        birth_date,
        sequence,
        sex,
    )
    assert compose(region, birth_date, sequence) == number


def test_known_legacy_example() -> None:
    assert upgrade15("110105491231002") == "11010519491231002X"
    assert to_legacy15("11010519491231002X") == "110105491231002"


@pytest.mark.parametrize(
    "number",
    [
        "11010519491231002",  # 17 characters
        "110105194912310021",  # wrong check character
        "11010519491231002Y",  # not a check character
        "1101051949123100２X",  # full-width digit
        "110105190002290011",  # 1900-02-29 does not exist
    ],
)
def test_known_bad_numbers(number: str) -> None:
    assert not is_valid(number)
    with pytest.raises(InvalidIdNumberError):
        parse(number)
