"""Export noise: each defect changes exactly the rows it should, deterministically."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from openpyxl.utils.datetime import to_excel
from pypinyin import lazy_pinyin

from childlink.core.id_number import CHECK_CHARS, compose, is_valid, upgrade15
from childlink.synth import noise
from childlink.synth.names import (
    HOMOPHONES,
    draw_given_names,
    draw_minority_full_names,
    draw_surnames,
    split_name,
)
from childlink.synth.noise import DateStyle

ObjArray = npt.NDArray[np.object_]
BoolArray = npt.NDArray[np.bool_]


def _rng(seed: int = 11) -> np.random.Generator:
    return np.random.default_rng(seed)


def _mask(n: int, seed: int = 5, rate: float = 0.4) -> BoolArray:
    result: BoolArray = np.random.default_rng(seed).random(n) < rate
    return result


def _han_names(n: int, seed: int = 1) -> ObjArray:
    rng = _rng(seed)
    is_male = rng.random(n) < 0.5
    years = rng.integers(1960, 2027, n)
    joined = np.char.add(
        draw_surnames(rng, n).astype(str), draw_given_names(rng, is_male, years).astype(str)
    )
    result: ObjArray = joined.astype(object)
    return result


def _id_numbers(n: int, first_year: int, last_year: int, seed: int = 2) -> ObjArray:
    rng = _rng(seed)
    start = dt.date(first_year, 1, 1).toordinal()
    end = dt.date(last_year, 12, 31).toordinal()
    days = rng.integers(start, end + 1, n)
    sequence = rng.integers(0, 1000, n)
    return np.array(
        [
            compose("522701", dt.date.fromordinal(int(d)), int(s))
            for d, s in zip(days, sequence, strict=True)
        ],
        dtype=object,
    )


def _assert_changes_exactly(before: ObjArray, after: ObjArray, mask: BoolArray) -> None:
    assert after is not before
    assert after.dtype == object
    assert after.shape == before.shape
    changed = np.array([a != b for a, b in zip(after, before, strict=True)])
    assert (changed == mask).all()


def _random_dates(n: int, seed: int = 3) -> npt.NDArray[np.datetime64]:
    days = _rng(seed).integers(
        np.datetime64("1955-01-01").astype(np.int64),
        np.datetime64("2030-12-31").astype(np.int64),
        n,
    )
    result: npt.NDArray[np.datetime64] = days.astype("datetime64[D]")
    return result


# ------------------------------------------------------------------------------- names, text


def _homophonable(name: str) -> bool:
    return any(char in HOMOPHONES for char in split_name(name)[1])


def test_homophone_typo_changes_one_given_name_character() -> None:
    names = np.array([n for n in _han_names(3_000) if _homophonable(n)], dtype=object)
    original = names.copy()
    mask = _mask(names.size)
    out = noise.homophone_typo(_rng(), names, mask)
    assert (names == original).all()  # input untouched
    _assert_changes_exactly(names, out, mask)
    for before, after in zip(names[mask], out[mask], strict=True):
        assert len(before) == len(after)
        diffs = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
        assert len(diffs) == 1
        i = diffs[0]
        surname, _ = split_name(before)
        assert i >= len(surname)  # the surname is kept
        assert after[i] in HOMOPHONES[before[i]]
        assert lazy_pinyin(after[i]) == lazy_pinyin(before[i])


def test_homophone_typo_without_candidates_is_a_no_op() -> None:
    names = np.array(["张乙", "王", None, "艾力·吐尔逊"], dtype=object)
    assert not any(char in HOMOPHONES for char in "乙艾力")
    out = noise.homophone_typo(_rng(), names, np.ones(4, dtype=bool))
    assert out.tolist() == names.tolist()


def test_homophone_typo_is_deterministic() -> None:
    names = _han_names(500)
    mask = _mask(500)
    first = noise.homophone_typo(_rng(1), names, mask)
    assert (first == noise.homophone_typo(_rng(1), names, mask)).all()
    assert (first != noise.homophone_typo(_rng(2), names, mask)).any()


def test_to_traditional() -> None:
    names = np.array(["张伟", "刘欣怡", "陈浩宇", "欧阳子涵", "阿依古丽·买买提"], dtype=object)
    mask = np.array([True, False, True, True, True])
    out = noise.to_traditional(names, mask)
    _assert_changes_exactly(names, out, mask)
    assert out.tolist() == ["張偉", "刘欣怡", "陳浩宇", "歐陽子涵", "阿依古麗·買買提"]


def test_to_traditional_accepts_str_arrays_and_missing_values() -> None:
    out = noise.to_traditional(np.array(["张伟", "王芳"]), np.array([True, True]))
    assert out.tolist() == ["張偉", "王芳"]
    assert noise.to_traditional(np.array([None], dtype=object), np.array([True]))[0] is None


def test_fullwidth_digits() -> None:
    ids = _id_numbers(200, 1960, 2020)
    mask = _mask(200)
    out = noise.fullwidth_digits(ids, mask)
    _assert_changes_exactly(ids, out, mask)
    assert noise.fullwidth_digits(np.array(["11010519491231002X"], dtype=object), np.array([True]))[
        0
    ] == ("１１０１０５１９４９１２３１００２Ｘ")
    assert all(not re.search(r"[0-9X]", value) for value in out[mask])


def test_insert_space() -> None:
    names = np.concatenate([_han_names(1_000), np.array(["阿依古丽·买买提", "王"], dtype=object)])
    mask = _mask(names.size)
    mask[-2:] = True
    out = noise.insert_space(_rng(), names, mask)
    _assert_changes_exactly(names, out, mask)
    spaces = {" ", "\u3000"}
    for before, after in zip(names[mask], out[mask], strict=True):
        assert len(after) == len(before) + 1
        assert sum(char in spaces for char in after) == 1
        assert after.replace(" ", "").replace("\u3000", "") == before
    inner = [a for a in out[mask] if a.strip(" \u3000") != a.strip(" \u3000").replace(" ", "")]
    assert len(inner) > mask.sum() / 3  # mostly between surname and given name
    assert any("\u3000" in a for a in out[mask])
    assert any(" " in a for a in out[mask])


def test_middle_dot_variant() -> None:
    rng = _rng()
    uyghur, _ = draw_minority_full_names(rng, rng.random(300) < 0.5, mix={"维吾尔族": 1.0})
    names = np.concatenate([uyghur, _han_names(300)])
    mask = _mask(names.size, rate=0.6)
    out = noise.middle_dot_variant(_rng(), names, mask)
    has_dot = np.array(["·" in name for name in names])
    _assert_changes_exactly(names, out, mask & has_dot)
    seen = set()
    for before, after in zip(names[mask & has_dot], out[mask & has_dot], strict=True):
        own, father = before.split("·")
        assert after.startswith(own)
        assert after.endswith(father)
        variant = after[len(own) : len(after) - len(father)]
        assert variant in noise.MIDDLE_DOT_VARIANTS
        seen.add(variant)
    assert seen == set(noise.MIDDLE_DOT_VARIANTS)


def test_drop_values() -> None:
    values = np.array(["a", "b", "c"])
    out = noise.drop_values(values, np.array([False, True, False]))
    assert out.tolist() == ["a", None, "c"]
    assert values.tolist() == ["a", "b", "c"]


def test_mask_must_match_values() -> None:
    with pytest.raises(ValueError, match="mask"):
        noise.drop_values(np.array(["a", "b"]), np.array([True]))


# ----------------------------------------------------------------------------------- ID numbers


def test_legacy15_round_trips_through_upgrade15() -> None:
    ids = _id_numbers(500, 1955, 1999)
    mask = _mask(500)
    out = noise.legacy15(ids, mask)
    _assert_changes_exactly(ids, out, mask)
    for original, legacy in zip(ids[mask], out[mask], strict=True):
        assert len(legacy) == 15
        assert upgrade15(legacy) == original


def test_legacy15_leaves_children_born_2000_or_later_unchanged() -> None:
    ids = _id_numbers(300, 2000, 2026)
    out = noise.legacy15(ids, np.ones(300, dtype=bool))
    assert out.tolist() == ids.tolist()


def test_wrong_check_character() -> None:
    ids = _id_numbers(2_000, 1955, 2026)
    mask = _mask(ids.size)
    out = noise.wrong_check_character(_rng(), ids, mask)
    _assert_changes_exactly(ids, out, mask)
    for before, after in zip(ids[mask], out[mask], strict=True):
        assert after[:17] == before[:17]
        assert after[17] in CHECK_CHARS
        assert after[17] != before[17]
        assert not is_valid(after)
    assert {value[17] for value in out[mask]} == set(CHECK_CHARS)


def test_one_digit_typo() -> None:
    ids = _id_numbers(1_000, 1955, 2026)
    mask = _mask(ids.size)
    out = noise.one_digit_typo(_rng(), ids, mask)
    _assert_changes_exactly(ids, out, mask)
    positions = set()
    for before, after in zip(ids[mask], out[mask], strict=True):
        diffs = [i for i in range(18) if before[i] != after[i]]
        assert len(diffs) == 1
        assert diffs[0] < 17
        assert after[diffs[0]].isdigit()
        assert not is_valid(after)
        positions.add(diffs[0])
    assert positions == set(range(17))


def test_transpose_digits() -> None:
    ids = _id_numbers(1_000, 1955, 2026)
    mask = _mask(ids.size)
    out = noise.transpose_digits(_rng(), ids, mask)
    _assert_changes_exactly(ids, out, mask)
    for before, after in zip(ids[mask], out[mask], strict=True):
        diffs = [i for i in range(18) if before[i] != after[i]]
        assert len(diffs) == 2
        i, j = diffs
        assert j == i + 1 < 17
        assert (after[i], after[j]) == (before[j], before[i])
        assert after[17] == before[17]
        assert not is_valid(after)


def test_transposition_needs_two_different_digits() -> None:
    values = np.array(["11111111111111111X", "1"], dtype=object)
    out = noise.transpose_digits(_rng(), values, np.array([True, True]))
    assert out.tolist() == values.tolist()


def test_lowercase_x() -> None:
    ids = np.array(["11010519491231002X", "440524188001010014", None], dtype=object)
    out = noise.lowercase_x(ids, np.array([True, True, True]))
    assert out.tolist() == ["11010519491231002x", "440524188001010014", None]


@pytest.mark.parametrize(
    "apply",
    [
        lambda v, m: noise.homophone_typo(_rng(), v, m),
        lambda v, m: noise.wrong_check_character(_rng(), v, m),
        lambda v, m: noise.one_digit_typo(_rng(), v, m),
        lambda v, m: noise.transpose_digits(_rng(), v, m),
        lambda v, m: noise.insert_space(_rng(), v, m),
        lambda v, m: noise.middle_dot_variant(_rng(), v, m),
        noise.legacy15,
        noise.lowercase_x,
        noise.fullwidth_digits,
        noise.to_traditional,
        noise.drop_values,
    ],
)
def test_no_mask_no_change(apply: Callable[[ObjArray, BoolArray], ObjArray]) -> None:
    values = np.concatenate([_han_names(50), _id_numbers(50, 1960, 2020)])
    before = values.copy()
    out = apply(values, np.zeros(values.size, dtype=bool))
    assert out is not values
    assert out.tolist() == before.tolist()
    assert values.tolist() == before.tolist()


# ---------------------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        (DateStyle.ISO, "2015-03-02"),
        (DateStyle.SLASH, "2015/3/2"),
        (DateStyle.COMPACT, "20150302"),
        (DateStyle.CHINESE, "2015年3月2日"),
        (DateStyle.DOTTED, "2015.03.02"),
        (DateStyle.EXCEL_SERIAL, 42065),
    ],
)
def test_date_styles(style: DateStyle, expected: object) -> None:
    out = noise.format_dates(_rng(), np.array(["2015-03-02"], dtype="datetime64[D]"), {style: 1})
    assert out.dtype == object
    assert out[0] == expected
    assert type(out[0]) is type(expected)


@pytest.mark.parametrize(
    ("date", "serial"),
    [
        ("1900-01-01", 1),
        ("1900-02-28", 59),
        ("1900-03-01", 61),  # Excel's fictitious 1900-02-29 is 60
        ("2015-03-02", 42065),
        ("2024-02-29", 45351),
    ],
)
def test_excel_serials(date: str, serial: int) -> None:
    out = noise.format_dates(
        _rng(), np.array([date], dtype="datetime64[D]"), {DateStyle.EXCEL_SERIAL: 1.0}
    )
    assert out[0] == serial


def test_excel_serials_match_openpyxl() -> None:
    dates = _random_dates(2_000)
    serials = noise.excel_serials(dates)
    expected = [int(to_excel(d.astype(dt.date))) for d in dates]
    assert serials.tolist() == expected


def _parse(text: Any) -> np.datetime64:
    if isinstance(text, int):
        return np.datetime64("1899-12-30") + np.timedelta64(text, "D")
    parts = re.findall(r"\d+", text)
    if len(parts) == 1:
        parts = [text[:4], text[4:6], text[6:]]
    year, month, day = (int(p) for p in parts)
    return np.datetime64(dt.date(year, month, day), "D")


def test_mixed_styles_round_trip() -> None:
    dates = _random_dates(5_000)
    dates[::97] = np.datetime64("NaT")
    probs = dict.fromkeys(DateStyle, 1.0)
    out = noise.format_dates(_rng(), dates, probs)
    missing = np.isnat(dates)
    assert all(value is None for value in out[missing])
    for date, text in zip(dates[~missing], out[~missing], strict=True):
        assert _parse(text) == date
    kinds = {
        "int" if isinstance(v, int) else "chinese" if "年" in v else v[4] if len(v) > 8 else "c"
        for v in out[~missing]
    }
    assert kinds == {"int", "chinese", "-", "/", ".", "c"}


def test_format_dates_is_deterministic_and_follows_probabilities() -> None:
    dates = _random_dates(20_000)
    probs = {DateStyle.ISO: 0.7, DateStyle.COMPACT: 0.3}
    first = noise.format_dates(_rng(1), dates, probs)
    assert first.tolist() == noise.format_dates(_rng(1), dates, probs).tolist()
    compact = np.mean([len(v) == 8 for v in first])
    assert 0.28 < compact < 0.32


def test_format_dates_before_1900_fall_back_to_iso_text() -> None:
    dates = np.array(["1899-12-31", "1900-01-01"], dtype="datetime64[D]")
    out = noise.format_dates(_rng(), dates, {DateStyle.EXCEL_SERIAL: 1.0})
    assert out.tolist() == ["1899-12-31", 1]


def test_format_dates_rejects_bad_probabilities() -> None:
    dates = np.array(["2015-03-02"], dtype="datetime64[D]")
    with pytest.raises(ValueError, match="weights"):
        noise.format_dates(_rng(), dates, {})
    with pytest.raises(ValueError, match="weights"):
        noise.format_dates(_rng(), dates, {DateStyle.ISO: 0.0})


def test_swap_day_month() -> None:
    dates = np.array(
        ["2015-03-02", "2015-03-13", "2015-03-03", "2016-12-01", "NaT", "2015-03-02"],
        dtype="datetime64[D]",
    )
    mask = np.array([True, True, True, True, True, False])
    out = noise.swap_day_month(dates, mask)
    assert out.dtype == np.dtype("datetime64[D]")
    expected = ["2015-02-03", "2015-03-13", "2015-03-03", "2016-01-12", "NaT", "2015-03-02"]
    assert out.astype(str).tolist() == expected
    assert dates[0] == np.datetime64("2015-03-02")


def test_swapped_dates_are_valid_and_only_swappable_rows_change() -> None:
    dates = _random_dates(5_000)
    mask = _mask(dates.size, rate=0.5)
    out = noise.swap_day_month(dates, mask)
    before = [d.astype(dt.date) for d in dates]
    after = [d.astype(dt.date) for d in out]
    for b, a, m in zip(before, after, mask, strict=True):
        swappable = m and b.day <= 12 and b.day != b.month
        if swappable:
            assert (a.year, a.month, a.day) == (b.year, b.day, b.month)
        else:
            assert a == b


# --------------------------------------------------------------------------------------- pinyin


def test_to_pinyin_names() -> None:
    names = np.array(
        ["张伟", "欧阳子涵", "曾小贤", "单田芳", "吕欣怡", "李颖之子", "阿依古丽·买买提", None],
        dtype=object,
    )
    out = noise.to_pinyin_names(names)
    assert out.tolist() == [
        "Zhang Wei",
        "Ouyang Zihan",
        "Zeng Xiaoxian",
        "Shan Tianfang",
        "Lü Xinyi",
        "Li Yingzhizi",
        "Ayiguli Maimaiti",
        None,
    ]


def test_to_pinyin_names_over_a_column() -> None:
    names = _han_names(2_000)
    out = noise.to_pinyin_names(names)
    assert all(re.fullmatch(r"[A-Z][a-zü]+ [A-Z][a-zü]+", value) for value in out)
    same = names[0] == names
    assert len(set(out[same].tolist())) == 1
