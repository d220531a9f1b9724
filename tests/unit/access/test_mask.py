"""Masking: examples from the domain, and Hypothesis properties that must hold for any input."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from childlink.access.fields import FIELD_GROUPS
from childlink.access.service import mask
from childlink.core.id_number import compose


def test_examples() -> None:
    assert mask("id_number", "110105201503021234") == "110105********1234"
    assert mask("phone", "13812345678") == "138****5678"
    assert mask("guardian_phone", "13812345678") == "138****5678"
    assert mask("name", "张三") == "张*"
    assert mask("name", "欧阳小明") == "欧*"
    assert mask("name", "阿依古丽·买买提") == "阿*"
    assert mask("address", "贵州省演示县甲镇甲一村3组12号") == "贵州省演示县甲镇***"
    assert mask("address", "演示县城关街道人民路5号") == "演示县城关街道***"
    assert mask("birth_date", dt.date(2015, 3, 2)) == "2015-**-**"
    assert mask("region_code", "522799001001") == "522799001***"
    assert mask("student_number", "G110105201503021234") == "G110105********1234"
    assert mask("score", 17) == "***"
    assert mask("diagnosis", "抑郁发作") == "***"
    assert mask("name", None) is None


ids = st.builds(
    compose,
    st.sampled_from(["110105", "522799", "440305"]),
    st.dates(dt.date(2005, 1, 1), dt.date(2024, 12, 31)),
    st.integers(0, 999),
)


@given(ids)
def test_id_numbers_keep_region_and_last_four_only(id_number: str) -> None:
    masked = mask("id_number", id_number)
    assert masked is not None
    assert len(masked) == len(id_number)
    assert masked[:6] == id_number[:6]
    assert masked[-4:] == id_number[-4:]
    assert masked[6:14] == "*" * 8  # the birth date never shows
    assert mask("id_number", masked) == masked  # masking is idempotent


@given(st.sampled_from(sorted(FIELD_GROUPS)), st.text(min_size=1, max_size=40))
def test_any_field_any_text_never_shows_the_whole_value(field: str, text: str) -> None:
    masked = mask(field, text)
    assert isinstance(masked, str)
    assert "*" in masked
    if len(text.strip()) >= 2:
        assert masked != text.strip()


@given(st.sampled_from(sorted(FIELD_GROUPS)), st.one_of(st.integers(), st.dates(), st.none()))
def test_non_text_values(field: str, value: object) -> None:
    masked = mask(field, value)
    assert (masked is None) is (value is None)


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_mobile_phones_show_seven_digits_at_most(phone: str) -> None:
    masked = mask("phone", phone)
    assert masked is not None
    assert masked[:3] == phone[:3]
    assert masked[-4:] == phone[-4:]
    assert sum(ch.isdigit() for ch in masked) == 7
