"""The defects of real department exports, applied to clean ground-truth columns.

Every function takes a column as a numpy array (object or ``str`` dtype) and, usually, a boolean
``mask`` of the rows to damage, and returns a new object array: the input is never modified and
unmasked rows come back identical. A masked row is left unchanged when the defect cannot apply
to it (no homophone for any character, an ID number of someone born in 2000 or later has no
15-digit form, a missing value ...), so callers that record ground truth should compare input and
output rather than trust the mask.

Randomness comes only from the ``rng`` argument, drawn in a fixed order, so a seed reproduces the
same damage. Python loops run over the masked rows only; whole-column work is vectorised.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from childlink.core.id_number import CHECK_CHARS
from childlink.synth.names import SURNAME_PINYIN, homophones, split_name

ObjectArray = npt.NDArray[np.object_]

_MIDDLE_DOT = "·"
#: What typists and other systems put in place of the middle dot; ``""`` means dropped.
MIDDLE_DOT_VARIANTS: tuple[str, ...] = ("•", ".", "．", "・", "-", "")
_FULLWIDTH_SPACE = "\u3000"
_FULLWIDTH_TABLE = str.maketrans("0123456789Xx", "０１２３４５６７８９Ｘｘ")
_DIGITS = "0123456789"


def _copy(values: npt.NDArray[Any]) -> ObjectArray:
    result: ObjectArray = np.array(values, dtype=object, copy=True)
    if result.ndim != 1:
        raise ValueError("expected a one-dimensional column")
    return result


def _masked_rows(values: npt.NDArray[Any], mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.intp]:
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != np.shape(values):
        raise ValueError(f"mask shape {mask.shape} does not match values {np.shape(values)}")
    return np.flatnonzero(mask)


# --------------------------------------------------------------------------------------------
# Names and text
# --------------------------------------------------------------------------------------------


def homophone_typo(
    rng: np.random.Generator, names: npt.NDArray[Any], mask: npt.NDArray[np.bool_]
) -> ObjectArray:
    """Replace one character of the given name by a homophone (伟 → 玮), as a pinyin IME does.

    The surname is kept. Names whose given name has no character with a homophone in
    :data:`childlink.synth.names.HOMOPHONES` stay unchanged.
    """
    out = _copy(names)
    rows = _masked_rows(names, mask)
    table = homophones()
    pick_position = rng.random(rows.size)
    pick_char = rng.random(rows.size)
    for k, row in enumerate(rows):
        name = out[row]
        if not isinstance(name, str):
            continue
        surname, given = split_name(name)
        start = len(surname)
        candidates = [i for i, char in enumerate(given) if char in table]
        if not candidates:
            continue
        i = candidates[int(pick_position[k] * len(candidates))]
        options = table[given[i]]
        replacement = options[int(pick_char[k] * len(options))]
        at = start + i
        out[row] = name[:at] + replacement + name[at + 1 :]
    return out


@functools.cache
def _s2t() -> Any:
    import opencc

    return opencc.OpenCC("s2t")


def to_traditional(values: npt.NDArray[Any], mask: npt.NDArray[np.bool_]) -> ObjectArray:
    """Simplified → traditional characters (张伟 → 張偉); text without such characters is kept."""
    out = _copy(values)
    converter = _s2t()
    for row in _masked_rows(values, mask):
        value = out[row]
        if isinstance(value, str):
            out[row] = converter.convert(value)
    return out


def fullwidth_digits(values: npt.NDArray[Any], mask: npt.NDArray[np.bool_]) -> ObjectArray:
    """ASCII digits and ``X`` → full-width ``０``-``９`` and ``Ｘ``."""
    out = _copy(values)
    for row in _masked_rows(values, mask):
        value = out[row]
        if isinstance(value, str):
            out[row] = value.translate(_FULLWIDTH_TABLE)
    return out


def insert_space(
    rng: np.random.Generator, names: npt.NDArray[Any], mask: npt.NDArray[np.bool_]
) -> ObjectArray:
    """Put a half-width or full-width space inside, before or after each masked name.

    Inside, the space mostly separates surname and given name (``张 伟``), as hand-typed lists
    do; otherwise it leads or trails the name. Full-width spaces (U+3000) are 40% of them.
    """
    out = _copy(names)
    rows = _masked_rows(names, mask)
    where = rng.choice(3, size=rows.size, p=[0.65, 0.1, 0.25])  # inner, leading, trailing
    full = rng.random(rows.size) < 0.4
    at_boundary = rng.random(rows.size) < 0.75
    anywhere = rng.random(rows.size)
    for k, row in enumerate(rows):
        name = out[row]
        if not isinstance(name, str) or not name:
            continue
        space = _FULLWIDTH_SPACE if full[k] else " "
        kind = int(where[k])
        if kind == 0 and len(name) < 2:
            kind = 2
        if kind == 0:
            surname, _ = split_name(name)
            if surname and at_boundary[k]:
                at = len(surname)
            else:
                at = 1 + int(anywhere[k] * (len(name) - 1))
            out[row] = name[:at] + space + name[at:]
        elif kind == 1:
            out[row] = space + name
        else:
            out[row] = name + space
    return out


def middle_dot_variant(
    rng: np.random.Generator, names: npt.NDArray[Any], mask: npt.NDArray[np.bool_]
) -> ObjectArray:
    """Replace the middle dot of minority names (``阿依古丽·买买提``) by a look-alike or drop it.

    The replacement is drawn uniformly from :data:`MIDDLE_DOT_VARIANTS` (``""``: dropped).
    Names without a middle dot stay unchanged.
    """
    out = _copy(names)
    rows = _masked_rows(names, mask)
    choice = rng.integers(0, len(MIDDLE_DOT_VARIANTS), size=rows.size)
    for k, row in enumerate(rows):
        name = out[row]
        if isinstance(name, str) and _MIDDLE_DOT in name:
            variant = MIDDLE_DOT_VARIANTS[int(choice[k])]
            out[row] = name.replace(_MIDDLE_DOT, variant)
    return out


def drop_values(values: npt.NDArray[Any], mask: npt.NDArray[np.bool_]) -> ObjectArray:
    """Missing values (``None``) in the masked rows."""
    out = _copy(values)
    out[_masked_rows(values, mask)] = None
    return out


# --------------------------------------------------------------------------------------------
# ID numbers
# --------------------------------------------------------------------------------------------


def _is_id18(value: object) -> bool:
    return (
        isinstance(value, str)
        and len(value) == 18
        and value[:17].isascii()
        and value[:17].isdigit()
    )


def legacy15(values: npt.NDArray[Any], mask: npt.NDArray[np.bool_]) -> ObjectArray:
    """The legacy 15-digit form of 18-character numbers of people born 1900-1999.

    Numbers of people born in 2000 or later (every child) and malformed values stay unchanged.
    """
    out = _copy(values)
    for row in _masked_rows(values, mask):
        value = out[row]
        if _is_id18(value) and value[6:8] == "19":
            out[row] = value[:6] + value[8:17]
    return out


def wrong_check_character(
    rng: np.random.Generator, values: npt.NDArray[Any], mask: npt.NDArray[np.bool_]
) -> ObjectArray:
    """Replace the check character of 18-character numbers by another one of ``0``-``9``, ``X``."""
    out = _copy(values)
    rows = _masked_rows(values, mask)
    shift = rng.integers(1, len(CHECK_CHARS), size=rows.size)
    for k, row in enumerate(rows):
        value = out[row]
        if _is_id18(value):
            current = CHECK_CHARS.find(value[17].upper())
            new = CHECK_CHARS[(max(current, 0) + int(shift[k])) % len(CHECK_CHARS)]
            out[row] = value[:17] + new
    return out


def one_digit_typo(
    rng: np.random.Generator, values: npt.NDArray[Any], mask: npt.NDArray[np.bool_]
) -> ObjectArray:
    """Change one of the first 17 digits (all 15 of a legacy number) to a different digit."""
    out = _copy(values)
    rows = _masked_rows(values, mask)
    pick = rng.random(rows.size)
    shift = rng.integers(1, 10, size=rows.size)
    for k, row in enumerate(rows):
        value = out[row]
        if not isinstance(value, str):
            continue
        positions = [i for i, char in enumerate(value[:17]) if char in _DIGITS]
        if not positions:
            continue
        i = positions[int(pick[k] * len(positions))]
        digit = str((int(value[i]) + int(shift[k])) % 10)
        out[row] = value[:i] + digit + value[i + 1 :]
    return out


def transpose_digits(
    rng: np.random.Generator, values: npt.NDArray[Any], mask: npt.NDArray[np.bool_]
) -> ObjectArray:
    """Swap two adjacent, different digits among the first 17 (``...1203...`` → ``...2103...``)."""
    out = _copy(values)
    rows = _masked_rows(values, mask)
    pick = rng.random(rows.size)
    for k, row in enumerate(rows):
        value = out[row]
        if not isinstance(value, str):
            continue
        head = value[:17]
        pairs = [
            i
            for i in range(len(head) - 1)
            if head[i] in _DIGITS and head[i + 1] in _DIGITS and head[i] != head[i + 1]
        ]
        if not pairs:
            continue
        i = pairs[int(pick[k] * len(pairs))]
        out[row] = value[:i] + value[i + 1] + value[i] + value[i + 2 :]
    return out


def lowercase_x(values: npt.NDArray[Any], mask: npt.NDArray[np.bool_]) -> ObjectArray:
    """A final check character ``X`` written ``x``; other values stay unchanged."""
    out = _copy(values)
    for row in _masked_rows(values, mask):
        value = out[row]
        if isinstance(value, str) and value.endswith("X"):
            out[row] = value[:-1] + "x"
    return out


# --------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------


class DateStyle(StrEnum):
    """How an export writes a date."""

    ISO = "iso"  # 2015-03-02
    SLASH = "slash"  # 2015/3/2
    COMPACT = "compact"  # 20150302
    CHINESE = "chinese"  # 2015年3月2日
    DOTTED = "dotted"  # 2015.03.02
    EXCEL_SERIAL = "excel_serial"  # 42065 (int)


_STRFTIME: Mapping[DateStyle, str] = {
    DateStyle.ISO: "%Y-%m-%d",
    DateStyle.SLASH: "%Y/%-m/%-d",
    DateStyle.COMPACT: "%Y%m%d",
    DateStyle.CHINESE: "%Y年%-m月%-d日",
    DateStyle.DOTTED: "%Y.%m.%d",
}
_EXCEL_EPOCH = np.datetime64("1899-12-30", "D")
_EXCEL_LEAP_BUG_END = np.datetime64("1900-03-01", "D")
_EXCEL_FIRST_DAY = np.datetime64("1900-01-01", "D")


def excel_serials(dates: npt.NDArray[np.datetime64]) -> npt.NDArray[np.int64]:
    """Excel 1900-date-system serial numbers (2015-03-02 → 42065, 1900-03-01 → 61).

    Excel counts the non-existent 1900-02-29 as day 60, so days before 1900-03-01 are one lower
    than a plain day count. Dates before 1900 and NaT have no serial; the caller must mask them.
    """
    days = np.asarray(dates, dtype="datetime64[D]")
    serial = (days - _EXCEL_EPOCH).astype(np.int64)
    result: npt.NDArray[np.int64] = np.where(days < _EXCEL_LEAP_BUG_END, serial - 1, serial)
    return result


def format_dates(
    rng: np.random.Generator,
    dates: npt.NDArray[np.datetime64],
    style_probs: Mapping[DateStyle, float],
) -> ObjectArray:
    """Write each date in a style drawn from ``style_probs`` (vectorised per style).

    Text styles give ``str``; :attr:`DateStyle.EXCEL_SERIAL` gives an ``int`` (dates before
    1900, which Excel cannot hold as dates, fall back to ISO text). NaT gives ``None``.
    """
    days = np.asarray(dates, dtype="datetime64[D]")
    if days.ndim != 1:
        raise ValueError("expected a one-dimensional array of dates")
    styles = [DateStyle(style) for style in style_probs]
    weights = np.array([style_probs[style] for style in styles], dtype=np.float64)
    if not styles or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError("style_probs needs non-negative weights with a positive sum")
    chosen = rng.choice(len(styles), size=days.size, p=weights / weights.sum())
    missing = np.isnat(days)
    out = np.full(days.size, None, dtype=object)
    excel_rows = np.zeros(days.size, dtype=bool)
    if DateStyle.EXCEL_SERIAL in styles:
        excel_rows = chosen == styles.index(DateStyle.EXCEL_SERIAL)
        too_early = excel_rows & (days < _EXCEL_FIRST_DAY)
        excel_rows &= ~too_early & ~missing
        rows = np.flatnonzero(excel_rows)
        out[rows] = excel_serials(days[rows]).astype(object)
        chosen = np.where(too_early, -1, chosen)  # -1: ISO fallback
    for index, style in [(-1, DateStyle.ISO), *enumerate(styles)]:
        if style is DateStyle.EXCEL_SERIAL:
            continue
        rows = np.flatnonzero((chosen == index) & ~missing)
        if rows.size:
            text = pl.Series(days[rows]).dt.strftime(_STRFTIME[style]).to_numpy()
            out[rows] = text.astype(object)
    return out


def swap_day_month(
    dates: npt.NDArray[np.datetime64], mask: npt.NDArray[np.bool_]
) -> npt.NDArray[np.datetime64]:
    """Exchange day and month (2015-03-02 → 2015-02-03) in the masked rows.

    Only dates whose day is 1-12 and differs from the month change; the others (and NaT) stay.
    """
    days = np.array(dates, dtype="datetime64[D]", copy=True)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != days.shape:
        raise ValueError(f"mask shape {mask.shape} does not match dates {days.shape}")
    months_since_epoch = days.astype("datetime64[M]")
    year = days.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months_since_epoch.astype(np.int64) % 12 + 1
    day = (days - months_since_epoch.astype("datetime64[D]")).astype(np.int64) + 1
    swap = mask & ~np.isnat(days) & (day <= 12) & (day != month)
    rows = np.flatnonzero(swap)
    new_month = (year[rows] - 1970) * 12 + (day[rows] - 1)
    days[rows] = new_month.astype("datetime64[M]").astype("datetime64[D]") + (month[rows] - 1)
    return days


# --------------------------------------------------------------------------------------------
# Pinyin
# --------------------------------------------------------------------------------------------


def _pinyin_word(text: str) -> str:
    from pypinyin import lazy_pinyin

    return "".join(lazy_pinyin(text, v_to_u=True)).capitalize()


def pinyin_name(name: str) -> str:
    """One name in pinyin, surname first: 张伟 → ``Zhang Wei``, 欧阳子涵 → ``Ouyang Zihan``.

    Known polyphonic surnames use their surname reading (曾 → Zeng, 单 → Shan); ü is kept as
    ``ü`` (吕 → Lü). A name with a middle dot gives one word per part.
    """
    name = name.strip()
    if _MIDDLE_DOT in name:
        return " ".join(_pinyin_word(part) for part in name.split(_MIDDLE_DOT) if part)
    surname, given = split_name(name)
    if not surname:
        return _pinyin_word(given)
    family = SURNAME_PINYIN.get(surname)
    family = family.capitalize() if family else _pinyin_word(surname)
    return f"{family} {_pinyin_word(given)}"


def to_pinyin_names(names: npt.NDArray[Any]) -> ObjectArray:
    """:func:`pinyin_name` over a column (each distinct name converted once; ``None`` stays)."""
    values = _copy(names)
    present = np.flatnonzero([isinstance(v, str) for v in values])
    out = np.full(values.size, None, dtype=object)
    if present.size:
        unique, inverse = np.unique(values[present].astype(str), return_inverse=True)
        converted = np.array([pinyin_name(str(name)) for name in unique], dtype=object)
        out[present] = converted[inverse]
    return out
