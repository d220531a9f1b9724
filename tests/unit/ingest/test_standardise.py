"""Standardisation of canonical fields: one test per rule, with the messy values of real exports."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import polars as pl
import pytest

from childlink.core.id_number import compose
from childlink.ingest import standardise as std
from childlink.ingest.reasons import FixRule, QuarantineReason
from childlink.ingest.standardise import (
    FieldResult,
    formula_like,
    standardise_codes,
    standardise_dates,
    standardise_id_numbers,
    standardise_integers,
    standardise_names,
    standardise_phones,
    standardise_region_codes,
    standardise_sex,
    standardise_text,
    swap_day_month,
)

FULLWIDTH = str.maketrans("0123456789Xx", "０１２３４５６７８９Ｘｘ")
LATEST = dt.date(2026, 1, 1)


def one(result: FieldResult) -> tuple[object, str | None, str | None]:
    """``(value, fixes, error)`` of a one-row result."""
    return result.value[0], result.fixes[0], result.error[0]


def ids(*values: str | None) -> std.IdNumberResult:
    return standardise_id_numbers(
        pl.Series("id_number", values, dtype=pl.String), latest_birth_date=LATEST
    )


# --------------------------------------------------------------------------------------------
# Reasons
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("enum", [QuarantineReason, FixRule])
def test_reasons_have_distinct_values_and_both_labels(
    enum: type[QuarantineReason] | type[FixRule],
) -> None:
    values = [member.value for member in enum]
    assert len(values) == len(set(values))
    for member in enum:
        assert member.value == member.value.lower()
        assert member.label_zh != member.value
        assert member.label_en != member.value or " " not in member.value


def test_reason_values_named_in_the_brief() -> None:
    assert QuarantineReason("id_bad_check") is QuarantineReason.ID_BAD_CHECK
    assert QuarantineReason.ID_BAD_CHECK.label_zh == "身份证号校验位错误"
    assert FixRule("id_upgraded_15").label_en == "15-digit ID number upgraded"


# --------------------------------------------------------------------------------------------
# Missing values
# --------------------------------------------------------------------------------------------

FUNCTIONS: dict[str, Callable[[pl.Series], FieldResult]] = {
    "id": standardise_id_numbers,
    "name": standardise_names,
    "date": standardise_dates,
    "sex": standardise_sex,
    "phone": standardise_phones,
    "region": standardise_region_codes,
    "code": lambda s: standardise_codes(s, {"在读": "enrolled"}),
    "integer": standardise_integers,
    "text": standardise_text,
}


@pytest.mark.parametrize("kind", sorted(FUNCTIONS))
def test_missing_values_give_neither_value_nor_error(kind: str) -> None:
    raw = pl.Series("col", [None, "", "   ", "\u3000", " \t\u3000\n"], dtype=pl.String)
    result = FUNCTIONS[kind](raw)
    for series in (result.value, result.fixes, result.error):
        assert series.len() == raw.len()
        assert series.null_count() == raw.len()
    assert result.as_given.to_list() == raw.to_list()
    assert result.value.name == "col"


@pytest.mark.parametrize("kind", sorted(FUNCTIONS))
def test_empty_and_all_null_series(kind: str) -> None:
    assert FUNCTIONS[kind](pl.Series("c", [], dtype=pl.String)).value.len() == 0
    assert FUNCTIONS[kind](pl.Series("c", [None, None])).error.null_count() == 2


# --------------------------------------------------------------------------------------------
# ID numbers
# --------------------------------------------------------------------------------------------


def test_gb_example_id_number() -> None:
    result = ids("11010519491231002X")
    assert one(result) == ("11010519491231002X", None, None)
    assert result.birth_date[0] == dt.date(1949, 12, 31)
    assert result.sex[0] == "F"
    assert result.region6[0] == "110105"
    assert result.cleaned[0] == "11010519491231002X"


def test_legacy_15_digit_number_is_upgraded() -> None:
    result = ids("130503670401001")
    assert one(result) == ("130503196704010016", "id_upgraded_15", None)
    assert result.birth_date[0] == dt.date(1967, 4, 1)
    assert result.sex[0] == "M"
    assert result.cleaned[0] == "130503196704010016"


def test_lowercase_x_is_upper_cased() -> None:
    assert one(ids("11010519491231002x")) == ("11010519491231002X", "id_lowercase_x", None)


def test_fullwidth_digits_and_spaces() -> None:
    valid = compose("522723", dt.date(2015, 3, 2), 1)
    noisy = "\u3000" + valid.translate(FULLWIDTH) + " "
    assert noisy.startswith("\u3000５２２７")
    assert one(ids(noisy)) == (valid, "trimmed;fullwidth_to_halfwidth", None)
    spaced = f"{valid[:6]} {valid[6:14]}\u3000{valid[14:]}"
    assert one(ids(spaced)) == (valid, "trimmed", None)


def test_fullwidth_lowercase_x() -> None:
    assert one(ids("11010519491231002ｘ")) == (
        "11010519491231002X",
        "fullwidth_to_halfwidth;id_lowercase_x",
        None,
    )


@pytest.mark.parametrize(
    ("raw", "reason", "cleaned"),
    [
        ("1101051949123100", "id_invalid_length", "1101051949123100"),
        ("11010519491231002XX", "id_invalid_length", "11010519491231002XX"),
        ("无", "id_invalid_length", "无"),
        ("1101051949123100X2", "id_invalid_characters", "1101051949123100X2"),
        ("11010A19491231002X", "id_invalid_characters", "11010A19491231002X"),
        ("1.10105E+17xxxxxxx", "id_invalid_characters", "1.10105E+17XXXXXXX"),
        ("11010519491331002X", "id_impossible_date", "11010519491331002X"),
        ("110105194902300020", "id_impossible_date", "110105194902300020"),
        ("110105189912310020", "id_impossible_date", "110105189912310020"),
        ("110105203001010020", "id_impossible_date", "110105203001010020"),
        ("130503670230001", "id_impossible_date", "130503670230001"),
        ("110105194912310021", "id_bad_check", "110105194912310021"),
        ("11010519491231002ｘ ", None, "11010519491231002X"),
    ],
)
def test_invalid_id_numbers(raw: str, reason: str | None, cleaned: str) -> None:
    result = ids(raw)
    assert result.error[0] == reason
    assert result.cleaned[0] == cleaned
    if reason is not None:
        assert result.value[0] is None
        assert result.fixes[0] is None
        assert result.birth_date[0] is None
        assert result.sex[0] is None
        assert result.region6[0] is None


def test_id_results_stay_aligned() -> None:
    raw = ["11010519491231002X", None, "bad", "130503670401001", "  "]
    result = ids(*raw)
    assert result.value.to_list() == [
        "11010519491231002X",
        None,
        None,
        "130503196704010016",
        None,
    ]
    assert result.error.to_list() == [None, None, "id_invalid_length", None, None]
    assert result.as_given.to_list() == raw
    assert result.sex.to_list() == ["F", None, None, "M", None]


def test_id_numbers_accept_non_string_input() -> None:
    result = standardise_id_numbers(pl.Series([130503670401001], dtype=pl.Int64))
    assert result.value[0] == "130503196704010016"


# --------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------


def names(*values: str | None) -> std.NameResult:
    return standardise_names(pl.Series("name", values, dtype=pl.String))


@pytest.mark.parametrize(
    ("raw", "value", "fixes"),
    [
        ("张伟", "张伟", None),
        ("張偉", "张伟", "name_traditional_to_simplified"),
        ("張 偉", "张伟", "name_whitespace;name_traditional_to_simplified"),
        ("张 伟", "张伟", "name_whitespace"),
        ("张　伟", "张伟", "name_whitespace"),
        (" 张伟\u3000", "张伟", "trimmed"),
        ("阿依古丽·买买提", "阿依古丽·买买提", None),
        ("阿依古丽•买买提", "阿依古丽·买买提", "name_middle_dot_unified"),
        ("阿依古丽 . 买买提", "阿依古丽·买买提", "name_whitespace;name_middle_dot_unified"),
        ("阿依古丽．买买提", "阿依古丽·买买提", "fullwidth_to_halfwidth;name_middle_dot_unified"),
        ("沈思思", "沈思思", None),
        ("乾坤", "乾坤", None),
        ("Zhang Wei", "Zhang Wei", None),
        ("ZHANG WEI", "Zhang Wei", "name_case"),
        ("zhang   wei", "Zhang Wei", "name_whitespace;name_case"),
        ("ｚｈａｎｇ　ｗｅｉ", "Zhang Wei", "fullwidth_to_halfwidth;name_whitespace;name_case"),
    ],
)
def test_names_are_cleaned(raw: str, value: str, fixes: str | None) -> None:
    assert one(names(raw)) == (value, fixes, None)


@pytest.mark.parametrize("dot", ["•", ".", "．", "・", "-", "‧", "·", "･", "。", "—"])
def test_middle_dot_variants_are_unified(dot: str) -> None:
    assert names(f"艾力{dot}吐尔逊").value[0] == "艾力·吐尔逊"


@pytest.mark.parametrize(
    "raw",
    [
        "张3",
        "张伟1",
        "张伟?",
        "张wei",
        "·阿依",
        "阿依·",
        "阿依··古丽",
        "@@",
        "...",
        "张" * 51,
        "x_y",
    ],
)
def test_invalid_names(raw: str) -> None:
    assert one(names(raw)) == (None, None, "name_invalid")


def test_pinyin_of_han_and_latin_forms_agree() -> None:
    result = names("张伟", "張偉", "Zhang Wei", "ZHANG WEI", "zhangwei", "Zhāng Wěi", "张 伟")
    assert set(result.pinyin.to_list()) == {"zhangwei"}
    assert result.pinyin_spaced.to_list()[:4] == ["zhang wei"] * 4


def test_pinyin_uses_surname_readings_and_parts() -> None:
    result = names("曾小明", "单田芳", "欧阳子涵", "阿依古丽·买买提", "吕布", "Lü Bu")
    assert result.pinyin_spaced.to_list() == [
        "zeng xiaoming",
        "shan tianfang",
        "ouyang zihan",
        "ayiguli maimaiti",
        "lv bu",
        "lv bu",
    ]
    assert result.pinyin.to_list()[3] == "ayigulimaimaiti"


def test_surname_split() -> None:
    result = names("欧阳子涵", "张伟", "阿依古丽·买买提", "扎西次仁", "Zhang Wei", "欧阳")
    assert result.surname.to_list() == ["欧阳", "张", None, None, None, "欧"]
    assert result.given_name.to_list() == ["子涵", "伟", "阿依古丽", "扎西次仁", None, "阳"]


def test_placeholder_newborn_names() -> None:
    result = names("李颖之子", "李颖之女", "张伟", None, "之子")
    assert result.is_placeholder.to_list() == [True, True, False, False, False]
    assert result.value.to_list()[:2] == ["李颖之子", "李颖之女"]
    assert result.error.to_list()[:2] == [None, None]
    assert result.surname.to_list()[:2] == [None, None]
    assert result.is_placeholder.null_count() == 0


def test_name_python_work_runs_once_per_distinct_part(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = std._pinyin_word

    def counting(text: str) -> str:
        calls.append(text)
        return original(text)

    monkeypatch.setattr(std, "_pinyin_word", counting)
    result = names(*(["张伟", "王伟", "李娜", "張偉"] * 1000))
    assert result.pinyin.to_list()[:4] == ["zhangwei", "wangwei", "lina", "zhangwei"]
    # Once per distinct given name and per distinct surname without a special reading.
    assert sorted(calls) == sorted(["伟", "娜", "张", "王", "李"])


# --------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------


def dates(
    *values: str | None,
    day_first: bool = False,
    min_date: dt.date | None = None,
    max_date: dt.date | None = None,
) -> FieldResult:
    return standardise_dates(
        pl.Series("d", values, dtype=pl.String),
        day_first=day_first,
        min_date=min_date,
        max_date=max_date,
    )


MARCH_2 = dt.date(2015, 3, 2)


@pytest.mark.parametrize(
    ("raw", "fixes"),
    [
        ("2015-03-02", None),
        ("2015-03-02 00:00:00", None),
        ("2015-03-02T10:11:12", None),
        ("2015-03-02 10:11:12.123456", None),
        ("2015/3/2", None),
        ("2015/03/02 0:00", None),
        ("2015.3.2", None),
        ("2015.03.02", None),
        ("20150302", None),
        ("2015-3-2", None),
        ("2015年3月2日", "date_chinese_format"),
        ("2015年03月02日", "date_chinese_format"),
        ("2015 年 3 月 2 号", "date_chinese_format"),
        ("42065", "date_excel_serial"),
        ("42065.0", "date_excel_serial"),
        ("42065.75", "date_excel_serial"),
        ("２０１５－０３－０２", "fullwidth_to_halfwidth"),
        ("２０１５年３月２日", "fullwidth_to_halfwidth;date_chinese_format"),
        (" 2015/3/2 ", "trimmed"),
        ("3/2/2015", None),
    ],
)
def test_date_styles(raw: str, fixes: str | None) -> None:
    assert one(dates(raw)) == (MARCH_2, fixes, None)


def test_day_first() -> None:
    assert dates("2/3/2015", day_first=True).value[0] == MARCH_2
    assert dates("2/3/2015").value[0] == dt.date(2015, 2, 3)
    assert dates("2015/3/2", day_first=True).value[0] == MARCH_2


@pytest.mark.parametrize(
    ("serial", "expected"),
    [
        ("1", dt.date(1900, 1, 1)),
        ("59", dt.date(1900, 2, 28)),
        ("61", dt.date(1900, 3, 1)),
        ("42065", MARCH_2),
        ("80000", dt.date(2119, 1, 11)),
    ],
)
def test_excel_serials(serial: str, expected: dt.date) -> None:
    assert one(dates(serial)) == (expected, "date_excel_serial", None)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("2015-02-30", "date_impossible"),
        ("2015-02-29", "date_impossible"),
        ("2015-13-01", "date_impossible"),
        ("2015-00-10", "date_impossible"),
        ("2015年2月30日", "date_impossible"),
        ("20150231", "date_impossible"),
        ("0000-01-01", "date_impossible"),
        ("60", "date_impossible"),
        ("0", "date_impossible"),
        ("80001", "date_unparseable"),
        ("abc", "date_unparseable"),
        ("2015年3月", "date_unparseable"),
        ("15-3-2", "date_unparseable"),
        ("2015-03-02x", "date_unparseable"),
        ("123456", "date_unparseable"),
    ],
)
def test_invalid_dates(raw: str, reason: str) -> None:
    assert one(dates(raw)) == (None, None, reason)


def test_leap_day_is_possible() -> None:
    assert dates("2016-02-29", "2000-02-29").value.to_list() == [
        dt.date(2016, 2, 29),
        dt.date(2000, 2, 29),
    ]
    assert dates("1900-02-29").error[0] == "date_impossible"


def test_date_range() -> None:
    result = dates(
        "2015-03-02",
        "1999-12-31",
        "2030-01-01",
        min_date=dt.date(2000, 1, 1),
        max_date=dt.date(2025, 12, 31),
    )
    assert result.value.to_list() == [MARCH_2, None, None]
    assert result.error.to_list() == [None, "date_out_of_range", "date_out_of_range"]


def test_dates_accept_date_and_integer_series() -> None:
    assert standardise_dates(pl.Series([MARCH_2])).value[0] == MARCH_2
    assert standardise_dates(pl.Series([42065])).value[0] == MARCH_2
    assert standardise_dates(pl.Series([dt.datetime(2015, 3, 2, 8)])).value[0] == MARCH_2


def test_swap_day_month() -> None:
    series = pl.Series(
        "dob",
        [MARCH_2, dt.date(2015, 3, 13), dt.date(2015, 4, 4), None, dt.date(2016, 12, 1)],
    )
    assert swap_day_month(series).to_list() == [
        dt.date(2015, 2, 3),
        None,
        dt.date(2015, 4, 4),
        None,
        dt.date(2016, 1, 12),
    ]
    assert swap_day_month(series).name == "dob"


# --------------------------------------------------------------------------------------------
# Sex, phones, regions, codes, integers, text
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value", "fixes", "error"),
    [
        ("M", "M", None, None),
        ("F", "F", None, None),
        ("男", "M", "sex_code_mapped", None),
        ("女", "F", "sex_code_mapped", None),
        ("m", "M", "sex_code_mapped", None),
        ("f", "F", "sex_code_mapped", None),
        ("1", "M", "sex_code_mapped", None),
        ("2", "F", "sex_code_mapped", None),
        ("Male", "M", "sex_code_mapped", None),
        ("FEMALE", "F", "sex_code_mapped", None),
        (" 男 ", "M", "trimmed;sex_code_mapped", None),
        ("２", "F", "fullwidth_to_halfwidth;sex_code_mapped", None),
        ("0", None, None, None),
        ("9", None, None, None),
        ("未知", None, None, None),
        ("unknown", None, None, None),
        ("3", None, None, "sex_unknown"),
        ("男女", None, None, "sex_unknown"),
    ],
)
def test_sex(raw: str, value: str | None, fixes: str | None, error: str | None) -> None:
    assert one(standardise_sex(pl.Series([raw]))) == (value, fixes, error)


def test_sex_custom_codes() -> None:
    result = standardise_sex(pl.Series(["B", "G", "1"]), {"b": "M", "G": "F", "1": "F"})
    assert result.value.to_list() == ["M", "F", "F"]
    with pytest.raises(ValueError, match="'M' or 'F'"):
        standardise_sex(pl.Series(["x"]), {"x": "male"})


@pytest.mark.parametrize(
    ("raw", "value", "fixes"),
    [
        ("13812345678", "13812345678", None),
        ("138 1234 5678", "13812345678", "phone_normalised"),
        ("138-1234-5678", "13812345678", "phone_normalised"),
        ("+86 138 1234 5678", "13812345678", "phone_normalised"),
        ("+8613812345678", "13812345678", "phone_normalised"),
        ("8613812345678", "13812345678", "phone_normalised"),
        ("008613812345678", "13812345678", "phone_normalised"),
        ("１３８１２３４５６７８", "13812345678", "fullwidth_to_halfwidth"),
        ("010-62345678", "01062345678", "phone_normalised"),
        ("(0755) 2345678", "07552345678", "phone_normalised"),
        ("0851-86123456", "085186123456", "phone_normalised"),
        ("02087654321", "02087654321", None),
    ],
)
def test_valid_phones(raw: str, value: str, fixes: str | None) -> None:
    assert one(standardise_phones(pl.Series([raw]))) == (value, fixes, None)


@pytest.mark.parametrize(
    "raw",
    ["12345678", "1381234567", "138123456789", "12812345678", "abc", "13812345678/13912345678"],
)
def test_invalid_phones(raw: str) -> None:
    assert one(standardise_phones(pl.Series([raw]))) == (None, None, "phone_invalid")


def test_region_codes() -> None:
    raw = ["522723", "522723101", "522723101201", "522723.0", "52272", "5227a3", "110105"]
    result = standardise_region_codes(pl.Series(raw), known=["522723", "522723101201"])
    assert result.value.to_list() == [
        "522723000000",
        None,
        "522723101201",
        "522723000000",
        None,
        None,
        None,
    ]
    assert result.fixes.to_list()[0] == "region_padded"
    assert result.fixes.to_list()[3] == "number_normalised;region_padded"
    assert result.error.to_list() == [
        None,
        "region_unknown",
        None,
        None,
        "region_invalid",
        "region_invalid",
        "region_unknown",
    ]
    assert standardise_region_codes(pl.Series(["110105"])).value[0] == "110105000000"


def test_codes() -> None:
    mapping = {"在读": "enrolled", "辍学": "dropped_out", "Transferred": "transferred"}
    raw = [
        "在读",
        " 辍学 ",
        "enrolled",
        "ENROLLED",
        "transferred",
        "ＴＲＡＮＳＦＥＲＲＥＤ",
        "休学",
    ]
    result = standardise_codes(pl.Series(raw), mapping)
    assert result.value.to_list() == [
        "enrolled",
        "dropped_out",
        "enrolled",
        "enrolled",
        "transferred",
        "transferred",
        None,
    ]
    assert result.fixes.to_list()[:3] == ["code_mapped", "trimmed;code_mapped", None]
    assert result.error.to_list()[-1] == "code_unknown"
    strict = standardise_codes(pl.Series(["transferred"]), mapping, case_insensitive=False)
    assert strict.value[0] == "transferred"
    assert standardise_codes(pl.Series(["TRANSFERRED"]), {"x": "y"}, case_insensitive=False).error[
        0
    ] == ("code_unknown")


def test_conflicting_code_mapping_is_refused() -> None:
    with pytest.raises(ValueError, match="maps to both"):
        standardise_codes(pl.Series(["a"]), {"A": "x", "a": "y"})


@pytest.mark.parametrize(
    ("raw", "value", "fixes"),
    [
        ("12", 12, None),
        ("12.0", 12, "number_normalised"),
        ("１２", 12, "fullwidth_to_halfwidth"),
        ("12岁", 12, "number_normalised"),
        ("3 天", 3, "number_normalised"),
        ("1,234", 1234, "number_normalised"),
        ("-4", -4, None),
        ("+4", 4, "number_normalised"),
        (" 7 ", 7, "trimmed"),
    ],
)
def test_integers(raw: str, value: int, fixes: str | None) -> None:
    assert one(standardise_integers(pl.Series([raw]))) == (value, fixes, None)


@pytest.mark.parametrize("raw", ["12.5", "abc", "十二", "1,23", "99999999999999999999", "12kg"])
def test_invalid_integers(raw: str) -> None:
    assert one(standardise_integers(pl.Series([raw]))) == (None, None, "integer_invalid")


def test_integer_range() -> None:
    result = standardise_integers(pl.Series(["-1", "0", "100", "101"]), minimum=0, maximum=100)
    assert result.value.to_list() == [None, 0, 100, None]
    assert result.error.to_list() == ["integer_out_of_range", None, None, "integer_out_of_range"]
    assert result.value.dtype == pl.Int64


def test_text() -> None:
    raw = ["  家访 \n\n 记录\u3000正常 ", "a\x00b", "ＡＢＣ１２３，好", "短"]
    result = standardise_text(pl.Series(raw))
    assert result.value.to_list() == ["家访 记录 正常", "ab", "ABC123，好", "短"]
    assert result.fixes.to_list() == [
        "trimmed;whitespace_collapsed",
        "nul_removed",
        "fullwidth_to_halfwidth",
        None,
    ]
    long = standardise_text(pl.Series(["x" * 11, "x" * 10]), max_chars=10)
    assert long.error.to_list() == ["field_too_long", None]
    assert long.value.to_list() == [None, "x" * 10]


def test_formula_like() -> None:
    raw = pl.Series(["=SUM(A1)", "+1", "-1", "@x", "\t=1", "\rx", "a=1", "张伟", None])
    assert formula_like(raw).to_list() == [True] * 6 + [False] * 3
