"""Vectorised standardisation of canonical fields: messy department text → canonical values.

Every ``standardise_*`` function takes a polars Series (strings, nullable; other dtypes are cast
to String) and returns a :class:`FieldResult` whose Series are aligned with the input:

- ``value``: the canonical value (String, Date or Int64), null when missing or invalid;
- ``fixes``: the :class:`~childlink.ingest.reasons.FixRule` values applied to the cell, joined
  with ``;`` (null if none; only set where ``value`` is set, since a fix record pairs the old
  value with the new one);
- ``error``: the :class:`~childlink.ingest.reasons.QuarantineReason` value when the cell holds
  something that is not a valid value (null otherwise);
- ``as_given``: the raw input as a string.

Null, empty and whitespace-only cells are *missing*: value and error are both null. Whether a
missing value is acceptable is the pipeline's ``required`` rule, not decided here.

All row-wise work is polars expressions (Rust). Per-value Python work runs only over small
distinct sets and is mapped back to the rows: OpenCC over the distinct characters of names
(applied with ``str.replace_many``), pypinyin over the distinct surnames, given names and
middle-dot names (applied with ``replace_strict``).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

import polars as pl

from childlink.core.id_number import CHECK_CHARS, WEIGHTS
from childlink.ingest.reasons import FixRule, QuarantineReason
from childlink.synth.names import SURNAME_PINYIN, SURNAMES

__all__ = [
    "DEFAULT_SEX_CODES",
    "SEX_UNSPECIFIED_CODES",
    "FieldResult",
    "IdNumberResult",
    "NameResult",
    "formula_like",
    "standardise_codes",
    "standardise_dates",
    "standardise_id_numbers",
    "standardise_integers",
    "standardise_names",
    "standardise_phones",
    "standardise_region_codes",
    "standardise_sex",
    "standardise_text",
    "swap_day_month",
]


# --------------------------------------------------------------------------------------------
# Result types
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldResult:
    """The standardised form of one column, aligned row by row with the input."""

    value: pl.Series
    """Canonical value (String, Date or Int64); null when missing or invalid."""
    fixes: pl.Series
    """String: ``;``-joined :class:`FixRule` values applied to the cell, null if none."""
    error: pl.Series
    """String: :class:`QuarantineReason` value if the cell is present but invalid, else null."""
    as_given: pl.Series
    """String: the raw input (the old value of fix records)."""


@dataclass(frozen=True)
class IdNumberResult(FieldResult):
    """Standardised resident ID numbers plus the facts a valid number states."""

    cleaned: pl.Series
    """Best-effort cleaned string even when invalid (no spaces, half-width, upper-case ``X``);
    the canonical 18-character number when valid. Linkage compares mistyped numbers with it."""
    birth_date: pl.Series
    """Date of birth stated by a valid number."""
    sex: pl.Series
    """``"M"``/``"F"`` stated by a valid number (odd/even sequence)."""
    region6: pl.Series
    """The 6-digit GB/T 2260 address code of a valid number."""


@dataclass(frozen=True)
class NameResult(FieldResult):
    """Standardised personal names plus the keys linkage compares.

    ``pinyin`` is the comparison key: lower-case ASCII letters only, no spaces, ``ü`` as ``v``
    and tone marks dropped, so 张伟, ``Zhang Wei``, ``ZHANG WEI``, ``zhangwei`` and ``Zhāng Wěi``
    all give ``zhangwei``. ``pinyin_spaced`` keeps word boundaries the way a name is romanised:
    surname and given name as two words for Han names (欧阳子涵 → ``ouyang zihan``), one word
    per part for names with a middle dot (阿依古丽·买买提 → ``ayiguli maimaiti``), and the typed
    words for Latin names. Polyphonic surnames use their surname reading (曾 → ``zeng``).
    """

    pinyin: pl.Series
    pinyin_spaced: pl.Series
    surname: pl.Series
    """Longest known surname (:data:`childlink.synth.names.SURNAMES`) of a Han name; null for
    names with a middle dot, Latin names, placeholders and names with no known surname."""
    given_name: pl.Series
    """The rest of a Han name; the part before the first dot of a middle-dot name; the whole
    name when no surname is known; null for Latin names and placeholders."""
    is_placeholder: pl.Series
    """Boolean (never null): a newborn's placeholder such as 李颖之子 / 李颖之女."""


# --------------------------------------------------------------------------------------------
# Shared pieces
# --------------------------------------------------------------------------------------------

_RAW: Final = "raw"

#: Characters removed around values: Unicode whitespace (incl. U+3000 and NBSP), zero-width
#: space and the byte-order mark that Excel exports leave in the first cell.
_STRIP_CHARS: Final = (
    " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680"
    + "".join(chr(c) for c in range(0x2000, 0x200C))
    + "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
#: One whitespace character (regex), with the same extras as :data:`_STRIP_CHARS`.
_WS: Final = r"[\s\x{200B}\x{FEFF}]"

#: Full-width ASCII (U+FF01..U+FF5E) → ASCII. U+3000 is whitespace and handled as such.
_FULLWIDTH: Final[dict[str, str]] = {chr(0xFF01 + i): chr(0x21 + i) for i in range(94)}
#: Only the full-width digits and Latin letters: what free text may safely lose.
_FULLWIDTH_ALNUM: Final[dict[str, str]] = {
    k: v for k, v in _FULLWIDTH.items() if v.isascii() and v.isalnum()
}


def _as_string(raw: pl.Series) -> pl.Series:
    return raw if raw.dtype == pl.String else raw.cast(pl.String)


def _frame(raw: pl.Series) -> pl.LazyFrame:
    return pl.DataFrame({_RAW: _as_string(raw)}).lazy()


def _present(expr: pl.Expr) -> pl.Expr:
    """Empty strings become null (missing)."""
    return pl.when(expr != "").then(expr)


def _first_error(*checks: tuple[pl.Expr, QuarantineReason]) -> pl.Expr:
    """The reason of the first failing check (condition true = failure), null if none."""
    return pl.coalesce([pl.when(failed).then(pl.lit(reason.value)) for failed, reason in checks])


def _joined_fixes(*fixes: tuple[pl.Expr, FixRule]) -> pl.Expr:
    joined = pl.concat_str(
        [pl.when(applied).then(pl.lit(rule.value)) for applied, rule in fixes],
        separator=";",
        ignore_nulls=True,
    )
    return pl.when(joined != "").then(joined)


def _result(
    raw: pl.Series, frame: pl.DataFrame, value: str = "value", **extra: str
) -> dict[str, pl.Series]:
    """Series of ``frame`` renamed to the input's name, as keyword arguments for a result."""
    name = raw.name
    out = {
        "value": frame[value].alias(name),
        "fixes": frame["fixes"].alias(name),
        "error": frame["error"].alias(name),
        "as_given": _as_string(raw).alias(name),
    }
    out.update({key: frame[column].alias(name) for key, column in extra.items()})
    return out


def _map_unique(
    values: pl.Series, function: Callable[[str], Any], return_dtype: pl.DataType
) -> pl.Series:
    """``function`` applied to each distinct non-null value of ``values``, mapped back to rows."""
    distinct = values.drop_nulls().unique()
    keys = distinct.to_list()
    mapped = pl.Series([function(key) for key in keys], dtype=return_dtype)
    return values.replace_strict(distinct, mapped, default=None, return_dtype=return_dtype)


# --------------------------------------------------------------------------------------------
# Resident ID numbers
# --------------------------------------------------------------------------------------------

_EARLIEST_BIRTH: Final = dt.date(1900, 1, 1)


def standardise_id_numbers(
    raw: pl.Series, *, latest_birth_date: dt.date | None = None
) -> IdNumberResult:
    """Clean and validate resident ID numbers (GB 11643-1999), upgrading 15-digit ones.

    Spaces anywhere (half- or full-width) are removed, full-width digits and ``Ｘ`` become ASCII,
    ``x`` becomes ``X``; a 15-digit legacy number gets century ``19`` and its check character.
    A number is valid when it has 18 characters (17 digits and a digit or ``X``), a birth date
    that exists and lies in 1900-01-01 .. ``latest_birth_date`` (default: today), and the right
    ISO 7064 MOD 11-2 check character. Errors, first failing rule wins: ``id_invalid_length``,
    ``id_invalid_characters``, ``id_impossible_date``, ``id_bad_check``.
    """
    latest = latest_birth_date or dt.date.today()
    raw_col = pl.col(_RAW)
    no_space = raw_col.str.replace_all(_WS, "")
    half = pl.col("no_space").str.replace_many(_FULLWIDTH)
    cleaned = pl.col("cleaned")
    n = cleaned.str.len_chars()
    full17 = pl.col("full17")
    number = pl.col("number")
    checksum = pl.sum_horizontal(
        [((number // 10 ** (16 - i)) % 10) * weight for i, weight in enumerate(WEIGHTS)]
    )
    frame = (
        _frame(raw)
        .with_columns(no_space=no_space)
        .with_columns(half=half)
        .with_columns(cleaned=_present(pl.col("half").str.replace_all("x", "X", literal=True)))
        .with_columns(
            length_ok=n.is_in([15, 18]),
            chars_ok=pl.when(n == 18)
            .then(cleaned.str.contains(r"^[0-9]{17}[0-9X]$"))
            .otherwise(cleaned.str.contains(r"^[0-9]{15}$")),
            full17=pl.when(n == 15)
            .then(pl.concat_str(cleaned.str.slice(0, 6), pl.lit("19"), cleaned.str.slice(6, 9)))
            .otherwise(cleaned.str.slice(0, 17)),
            upgraded=n == 15,
        )
        .with_columns(
            birth=full17.str.slice(6, 8).str.to_date("%Y%m%d", strict=False),
            number=full17.str.to_integer(strict=False),
        )
        .with_columns(
            check=pl.lit(CHECK_CHARS).str.slice(checksum % 11, 1),
            date_ok=pl.col("birth").is_between(_EARLIEST_BIRTH, latest).fill_null(False),
        )
        .with_columns(
            check_ok=pl.col("upgraded") | (cleaned.str.slice(17, 1) == pl.col("check")),
        )
        .with_columns(
            error=pl.when(cleaned.is_not_null()).then(
                _first_error(
                    (~pl.col("length_ok"), QuarantineReason.ID_INVALID_LENGTH),
                    (~pl.col("chars_ok"), QuarantineReason.ID_INVALID_CHARACTERS),
                    (~pl.col("date_ok"), QuarantineReason.ID_IMPOSSIBLE_DATE),
                    (~pl.col("check_ok"), QuarantineReason.ID_BAD_CHECK),
                )
            )
        )
        .with_columns(valid=cleaned.is_not_null() & pl.col("error").is_null())
        .with_columns(
            value=pl.when("valid").then(pl.concat_str(full17, pl.col("check"))),
            birth_date=pl.when("valid").then(pl.col("birth")),
            sex=pl.when("valid").then(
                pl.when(number % 2 == 1).then(pl.lit("M")).otherwise(pl.lit("F"))
            ),
            region6=pl.when("valid").then(full17.str.slice(0, 6)),
            fixes=pl.when("valid").then(
                _joined_fixes(
                    (pl.col("no_space") != raw_col, FixRule.TRIMMED),
                    (pl.col("half") != pl.col("no_space"), FixRule.FULLWIDTH_TO_HALFWIDTH),
                    (pl.col("half").str.contains("x", literal=True), FixRule.ID_LOWERCASE_X),
                    (pl.col("upgraded"), FixRule.ID_UPGRADED_15),
                )
            ),
        )
        .with_columns(cleaned=pl.coalesce("value", "cleaned"))
        .select("value", "fixes", "error", "cleaned", "birth_date", "sex", "region6")
        .collect()
    )
    return IdNumberResult(
        **_result(
            raw, frame, cleaned="cleaned", birth_date="birth_date", sex="sex", region6="region6"
        )
    )


# --------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------

_MIDDLE_DOT: Final = "·"
#: Look-alikes typed for the middle dot of minority names: bullet, full stop (also after
#: full-width conversion of ．), katakana middle dots, hyphenation point, dot operators, hyphens
#: and dashes, the ideographic full stop of a Chinese IME.
_DOT_VARIANTS: Final = r"[•.・･‧∙⋅\-‐‑‒–—―。]"
_HAN_NAME: Final = r"^\p{Han}+(?:·\p{Han}+)*$"
_LATIN_NAME: Final = r"^\p{Latin}+(?:[ '\-]\p{Latin}+)*$"
_PLACEHOLDER: Final = r"^\p{Han}{2,}之[子女]$"
_MAX_NAME_CHARS: Final = 50
_TONED: Final[dict[str, str]] = {
    **dict.fromkeys("āáǎà", "a"),
    **dict.fromkeys("ēéěè", "e"),
    **dict.fromkeys("īíǐì", "i"),
    **dict.fromkeys("ōóǒò", "o"),
    **dict.fromkeys("ūúǔù", "u"),
    **dict.fromkeys("ǖǘǚǜü", "v"),
}


@functools.cache
def _t2s() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


#: Characters OpenCC ``t2s`` would change that are standard characters of their own in names
#: (乾 qián, as in 乾坤, is not 干 gān).
_KEEP_IN_NAMES: Final = frozenset("乾")


def _simplify(han: pl.Series) -> pl.Series:
    """Traditional → simplified, character by character.

    OpenCC converts each distinct character once; the column is then rewritten with
    ``str.replace_many``. Converting whole names instead would apply OpenCC's phrase table, which
    mangles simplified names (沈思思 → 沉思思, 沈静 → 沉静).
    """
    chars = han.drop_nulls().unique().str.split("").explode().drop_nulls().unique().to_list()
    converter = _t2s()
    table = {
        char: simple
        for char in chars
        if char not in _KEEP_IN_NAMES and (simple := str(converter.convert(char))) != char
    }
    return han.str.replace_many(table) if table else han


def _surname_lengths() -> list[int]:
    return sorted({len(surname) for surname in SURNAMES}, reverse=True)


def _pinyin_word(text: str) -> str:
    """Toneless lower-case pinyin of Han text as one word (``ü`` written ``v``): 子涵 → zihan."""
    from pypinyin import lazy_pinyin

    return "".join(lazy_pinyin(text)).lower()


def _surname_pinyin(surname: str) -> str:
    return SURNAME_PINYIN.get(surname) or _pinyin_word(surname)


def _dotted_pinyin(name: str) -> str:
    """One word per part of a middle-dot name: 阿依古丽·买买提 → ``ayiguli maimaiti``."""
    return " ".join(_pinyin_word(part) for part in name.split(_MIDDLE_DOT))


def _latin_pinyin_spaced(expr: pl.Expr) -> pl.Expr:
    return (
        expr.str.to_lowercase()
        .str.replace_many(_TONED)
        .str.replace_all(r"['\-]", "")
        .str.replace_all(r"[^a-z ]", "")
    )


def _longest_surname(name: pl.Expr) -> pl.Expr:
    """The longest :data:`SURNAMES` key that prefixes ``name`` and leaves a given name."""
    surname: pl.Expr = pl.lit(None, dtype=pl.String)
    for length in reversed(_surname_lengths()):  # shortest first: longer matches override
        prefix = name.str.slice(0, length)
        candidates = [s for s in SURNAMES if len(s) == length]
        surname = (
            pl.when((name.str.len_chars() > length) & prefix.is_in(candidates))
            .then(prefix)
            .otherwise(surname)
        )
    return surname


def _clean_names(raw: pl.Series) -> pl.DataFrame:
    """Stage 1 of :func:`standardise_names`: cleaned Han (``han``) or Latin (``latin``) name."""
    raw_col = pl.col(_RAW)
    stripped = pl.col("stripped")
    han = pl.col("han")
    latin = pl.col("latin")
    return (
        _frame(raw)
        .with_columns(half=raw_col.str.replace_many(_FULLWIDTH))
        .with_columns(stripped=_present(pl.col("half").str.strip_chars(_STRIP_CHARS)))
        .with_columns(is_han=stripped.str.contains(r"\p{Han}"))
        .with_columns(
            han_nospace=pl.when("is_han").then(stripped.str.replace_all(_WS, "")),
            latin_spaced=pl.when(~pl.col("is_han")).then(stripped.str.replace_all(_WS + "+", " ")),
        )
        .with_columns(
            han=pl.col("han_nospace").str.replace_all(_DOT_VARIANTS, _MIDDLE_DOT),
            latin=pl.col("latin_spaced").str.to_titlecase(),
        )
        .with_columns(
            han_ok=han.str.contains(_HAN_NAME) & (han.str.len_chars() <= _MAX_NAME_CHARS),
            latin_ok=latin.str.contains(_LATIN_NAME) & (latin.str.len_chars() <= _MAX_NAME_CHARS),
        )
        .with_columns(
            han=pl.when("han_ok").then(han),
            latin=pl.when("latin_ok").then(latin),
            error=pl.when(
                stripped.is_not_null()
                & ~pl.col("han_ok").fill_null(False)
                & ~pl.col("latin_ok").fill_null(False)
            ).then(pl.lit(QuarantineReason.NAME_INVALID.value)),
            fixes=_joined_fixes(
                (stripped != pl.col("half"), FixRule.TRIMMED),
                (pl.col("half") != raw_col, FixRule.FULLWIDTH_TO_HALFWIDTH),
                (
                    (pl.col("han_nospace") != stripped) | (pl.col("latin_spaced") != stripped),
                    FixRule.NAME_WHITESPACE,
                ),
                (pl.col("latin") != pl.col("latin_spaced"), FixRule.NAME_CASE),
                (pl.col("han") != pl.col("han_nospace"), FixRule.NAME_MIDDLE_DOT_UNIFIED),
            ),
        )
        .select("han", "latin", "error", "fixes")
        .collect()
    )


def standardise_names(raw: pl.Series) -> NameResult:
    """Clean personal names: Han names (incl. minority names with ``·``) and Latin/pinyin names.

    - full-width Latin → half-width; surrounding whitespace removed;
    - a name containing Han characters loses all whitespace (``张 伟``, ``张　伟`` → 张伟), its
      middle-dot look-alikes (``•``, ``.``, ``．``, ``・``, ``-``, ``‧`` ...) become ``·`` and
      traditional characters become simplified (OpenCC ``t2s`` per distinct character; 乾 is
      kept);
    - a Latin name keeps single spaces and is title-cased (``ZHANG WEI`` → ``Zhang Wei``);
    - anything else (digits, symbols, Han mixed with Latin, a stray dot at either end, more than
      50 characters) is ``name_invalid``.

    Pinyin is computed per distinct surname and per distinct given name (or per distinct
    middle-dot name), which are far fewer than distinct full names. A middle dot that was
    dropped altogether (阿依古丽买买提) cannot be restored.
    """
    cleaned = _clean_names(raw)
    simplified = _simplify(cleaned["han"])
    name = pl.col("simplified")
    dotted = name.str.contains(_MIDDLE_DOT, literal=True)
    parts = (
        cleaned.with_columns(simplified=simplified)
        .lazy()
        .with_columns(surname_all=pl.when(~dotted).then(_longest_surname(name)))
        .with_columns(
            given_all=pl.when(~dotted).then(
                pl.when(pl.col("surname_all").is_not_null())
                .then(name.str.slice(pl.col("surname_all").str.len_chars()))
                .otherwise(name)
            ),
            dotted_name=pl.when(dotted).then(name),
        )
        .collect()
    )
    parts = parts.with_columns(
        surname_py=_map_unique(parts["surname_all"], _surname_pinyin, pl.String()),
        given_py=_map_unique(parts["given_all"], _pinyin_word, pl.String()),
        dotted_py=_map_unique(parts["dotted_name"], _dotted_pinyin, pl.String()),
    )
    is_placeholder = pl.col("is_placeholder")
    result = (
        parts.lazy()
        .with_columns(
            value=pl.coalesce("simplified", "latin"),
            is_placeholder=name.str.contains(_PLACEHOLDER).fill_null(False),
            pinyin_spaced=pl.coalesce(
                "dotted_py",
                pl.concat_str("surname_py", pl.lit(" "), "given_py"),
                "given_py",
                _latin_pinyin_spaced(pl.col("latin")),
            ),
        )
        .with_columns(
            surname=pl.when(~is_placeholder).then(pl.col("surname_all")),
            given_name=pl.when(~is_placeholder).then(
                pl.coalesce(pl.col("given_all"), name.str.split(_MIDDLE_DOT).list.first())
            ),
            pinyin=pl.col("pinyin_spaced").str.replace_all(" ", "", literal=True),
            fixes=pl.when(pl.col("value").is_not_null()).then(
                pl.concat_str(
                    "fixes",
                    pl.when(name != pl.col("han")).then(
                        pl.lit(FixRule.NAME_TRADITIONAL_TO_SIMPLIFIED.value)
                    ),
                    separator=";",
                    ignore_nulls=True,
                )
            ),
        )
        .with_columns(fixes=_present(pl.col("fixes")))
        .select(
            "value",
            "fixes",
            "error",
            "pinyin",
            "pinyin_spaced",
            "surname",
            "given_name",
            "is_placeholder",
        )
        .collect()
    )
    return NameResult(
        **_result(
            raw,
            result,
            pinyin="pinyin",
            pinyin_spaced="pinyin_spaced",
            surname="surname",
            given_name="given_name",
            is_placeholder="is_placeholder",
        )
    )


# --------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------

_TIME: Final = (
    r"(?:[ T]+[0-9]{1,2}:[0-9]{1,2}(?::[0-9]{1,2}(?:\.[0-9]+)?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?"
)
_DATE_PATTERN: Final = (
    "^(?:"
    rf"(?P<y1>[0-9]{{4}})[-/.](?P<m1>[0-9]{{1,2}})[-/.](?P<d1>[0-9]{{1,2}}){_TIME}"
    r"|(?P<y2>[0-9]{4})\s*年\s*(?P<m2>[0-9]{1,2})\s*月\s*(?P<d2>[0-9]{1,2})\s*[日号]?"
    r"|(?P<y3>[0-9]{4})(?P<m3>[0-9]{2})(?P<d3>[0-9]{2})"
    rf"|(?P<a4>[0-9]{{1,2}})[-/.](?P<b4>[0-9]{{1,2}})[-/.](?P<y4>[0-9]{{4}}){_TIME}"
    r"|(?P<serial>[0-9]{1,5})(?:\.[0-9]+)?"
    ")$"
)
#: Days from 1970-01-01 (polars' Date epoch) back to Excel's day 0 for serials after 60.
_EXCEL_EPOCH_DAYS: Final = (dt.date(1899, 12, 30) - dt.date(1970, 1, 1)).days
_EXCEL_MAX_SERIAL: Final = 80_000
_EXCEL_LEAP_BUG: Final = 60  # 1900-02-29, a day that never existed


def _days_in_month(year: pl.Expr, month: pl.Expr) -> pl.Expr:
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    return (
        pl.when(month == 2)
        .then(28 + leap.cast(pl.Int32))
        .when(month.is_in([4, 6, 9, 11]))
        .then(30)
        .otherwise(31)
    )


def standardise_dates(
    raw: pl.Series,
    *,
    day_first: bool = False,
    min_date: dt.date | None = None,
    max_date: dt.date | None = None,
) -> FieldResult:
    """Read dates written in the styles of Chinese department exports.

    Accepted: ``2015-03-02`` (also with a time part, ``T`` or space), ``2015/3/2``, ``2015.3.2``,
    ``20150302``, ``2015年3月2日`` (also ``号`` or no day mark; fix ``date_chinese_format``),
    ``3/2/2015`` (month first, or day first with ``day_first=True``), and Excel 1900-system
    serial numbers 1..80000 (fix ``date_excel_serial``; Excel's phantom 1900-02-29, serial 60,
    is ``date_impossible``). Full-width digits and separators are accepted. Errors:
    ``date_unparseable``, ``date_impossible`` (2015-02-30, month 13, serial 0 or 60),
    ``date_out_of_range`` (outside ``min_date`` .. ``max_date``).
    """
    raw_col = pl.col(_RAW)
    parts = pl.col("parts").struct

    def integer(*groups: str) -> pl.Expr:
        return pl.coalesce([parts.field(group) for group in groups]).cast(pl.Int32)

    first, second = ("b4", "a4") if day_first else ("a4", "b4")
    year, month, day, serial = pl.col("y"), pl.col("m"), pl.col("d"), pl.col("serial")
    ymd_ok = (
        year.is_between(1, 9999)
        & month.is_between(1, 12)
        & day.is_between(1, 31)
        & (day <= _days_in_month(year, month))
    )
    serial_ok = serial.is_between(1, _EXCEL_MAX_SERIAL) & (serial != _EXCEL_LEAP_BUG)
    from_ymd = pl.date(
        pl.when(ymd_ok).then(year).otherwise(2000),
        pl.when(ymd_ok).then(month).otherwise(1),
        pl.when(ymd_ok).then(day).otherwise(1),
    )
    from_serial = (
        pl.when(serial < _EXCEL_LEAP_BUG).then(serial + 1).otherwise(serial) + _EXCEL_EPOCH_DAYS
    ).cast(pl.Date)
    date = pl.col("date")
    frame = (
        _frame(raw)
        .with_columns(half=raw_col.str.replace_many(_FULLWIDTH))
        .with_columns(stripped=_present(pl.col("half").str.strip_chars(_STRIP_CHARS)))
        .with_columns(parts=pl.col("stripped").str.extract_groups(_DATE_PATTERN))
        .with_columns(
            y=integer("y1", "y2", "y3", "y4"),
            m=integer("m1", "m2", "m3", first),
            d=integer("d1", "d2", "d3", second),
            serial=parts.field("serial").cast(pl.Int32),
            chinese=parts.field("y2").is_not_null(),
        )
        .with_columns(
            date=pl.when(year.is_not_null() & ymd_ok)
            .then(from_ymd)
            .when(serial_ok)
            .then(from_serial),
        )
        .with_columns(
            in_range=pl.lit(True)
            & (date >= min_date if min_date is not None else pl.lit(True))
            & (date <= max_date if max_date is not None else pl.lit(True)),
        )
        .with_columns(
            error=pl.when(pl.col("stripped").is_not_null()).then(
                _first_error(
                    (year.is_null() & serial.is_null(), QuarantineReason.DATE_UNPARSEABLE),
                    (
                        serial.is_not_null() & (serial > _EXCEL_MAX_SERIAL),
                        QuarantineReason.DATE_UNPARSEABLE,
                    ),
                    (date.is_null(), QuarantineReason.DATE_IMPOSSIBLE),
                    (~pl.col("in_range"), QuarantineReason.DATE_OUT_OF_RANGE),
                )
            )
        )
        .with_columns(value=pl.when(pl.col("error").is_null()).then(date))
        .with_columns(
            fixes=pl.when(pl.col("value").is_not_null()).then(
                _joined_fixes(
                    (pl.col("stripped") != pl.col("half"), FixRule.TRIMMED),
                    (pl.col("half") != raw_col, FixRule.FULLWIDTH_TO_HALFWIDTH),
                    (serial.is_not_null(), FixRule.DATE_EXCEL_SERIAL),
                    (pl.col("chinese"), FixRule.DATE_CHINESE_FORMAT),
                )
            )
        )
        .select("value", "fixes", "error")
        .collect()
    )
    return FieldResult(**_result(raw, frame))


def swap_day_month(dates: pl.Series) -> pl.Series:
    """Each date with day and month exchanged (2015-03-02 → 2015-02-03); null where the day is
    above 12 (no such month) or the date is null. A date whose day equals its month comes back
    unchanged. The pipeline compares the result with the ID number's birth date to detect a
    ``dob_day_month_swapped`` typo."""
    frame = (
        pl.DataFrame({"d": dates.cast(pl.Date)})
        .lazy()
        .select(
            pl.when(pl.col("d").dt.day() <= 12).then(
                pl.date(
                    pl.col("d").dt.year(),
                    pl.when(pl.col("d").dt.day() <= 12).then(pl.col("d").dt.day()).otherwise(1),
                    pl.col("d").dt.month(),
                )
            )
        )
        .collect()
    )
    return frame.to_series().alias(dates.name)


# --------------------------------------------------------------------------------------------
# Sex
# --------------------------------------------------------------------------------------------

#: Default sex codes (matched case-insensitively): GB/T 2261.1 digits, Chinese and English.
DEFAULT_SEX_CODES: Final[Mapping[str, str]] = {
    "男": "M", "男性": "M", "男孩": "M", "m": "M", "1": "M", "male": "M", "boy": "M",
    "女": "F", "女性": "F", "女孩": "F", "f": "F", "2": "F", "female": "F", "girl": "F",
}  # fmt: skip
#: Codes that state that the sex is not known (GB/T 2261.1: 0 unknown, 9 not stated): null
#: without an error.
SEX_UNSPECIFIED_CODES: Final[frozenset[str]] = frozenset(
    {"0", "9", "未知", "未说明", "未知的性别", "未说明的性别", "不详", "unknown", "u"}
)


def standardise_sex(raw: pl.Series, codes: Mapping[str, str] | None = None) -> FieldResult:
    """Map sex codes to ``"M"``/``"F"``.

    ``codes`` adds to (and overrides) :data:`DEFAULT_SEX_CODES`; its values must be ``"M"`` or
    ``"F"``. Matching ignores case, surrounding whitespace and full-width forms. Codes of
    :data:`SEX_UNSPECIFIED_CODES` give null without an error; anything else is ``sex_unknown``.
    """
    merged = {**DEFAULT_SEX_CODES, **(codes or {})}
    if not set(merged.values()) <= {"M", "F"}:
        raise ValueError("sex codes must map to 'M' or 'F'")
    mapping = {key.strip().lower(): value for key, value in merged.items()}
    key = pl.col("key")
    frame = (
        _frame(raw)
        .with_columns(half=pl.col(_RAW).str.replace_many(_FULLWIDTH))
        .with_columns(stripped=_present(pl.col("half").str.strip_chars(_STRIP_CHARS)))
        .with_columns(key=pl.col("stripped").str.to_lowercase())
        .with_columns(
            value=key.replace_strict(mapping, default=None, return_dtype=pl.String),
        )
        .with_columns(
            error=pl.when(
                key.is_not_null()
                & pl.col("value").is_null()
                & ~key.is_in(sorted(SEX_UNSPECIFIED_CODES))
            ).then(pl.lit(QuarantineReason.SEX_UNKNOWN.value)),
            fixes=pl.when(pl.col("value").is_not_null()).then(
                _joined_fixes(
                    (pl.col("stripped") != pl.col("half"), FixRule.TRIMMED),
                    (pl.col("half") != pl.col(_RAW), FixRule.FULLWIDTH_TO_HALFWIDTH),
                    (pl.col("value") != pl.col("stripped"), FixRule.SEX_CODE_MAPPED),
                )
            ),
        )
        .select("value", "fixes", "error")
        .collect()
    )
    return FieldResult(**_result(raw, frame))


# --------------------------------------------------------------------------------------------
# Phones
# --------------------------------------------------------------------------------------------

_PHONE_SEPARATORS: Final = r"[\s\x{200B}\x{FEFF}\-‐‑‒–—―().（）]"
_MOBILE: Final = r"^(?:\+?86|0086|0)?(1[3-9][0-9]{9})$"
#: Area code (010, 02x, 0[3-9]xx) and a local number of 7-8 digits not starting with 0.
_LANDLINE: Final = r"^((?:010|02[0-9]|0[3-9][0-9]{2})[1-9][0-9]{6,7})$"


def standardise_phones(raw: pl.Series) -> FieldResult:
    """Chinese mobile (``1[3-9]`` + 9 digits, optional ``+86``/``86``/``0086`` prefix) and
    landline numbers with area code; spaces, dashes, dots and brackets are ignored. The canonical
    form is digits only: 11 for a mobile, area code + local number for a landline. Anything
    else (no area code, extensions, two numbers in one cell) is ``phone_invalid``."""
    digits = pl.col("digits")
    frame = (
        _frame(raw)
        .with_columns(half=pl.col(_RAW).str.replace_many(_FULLWIDTH))
        .with_columns(stripped=_present(pl.col("half").str.strip_chars(_STRIP_CHARS)))
        .with_columns(digits=pl.col("stripped").str.replace_all(_PHONE_SEPARATORS, ""))
        .with_columns(
            value=pl.coalesce(digits.str.extract(_MOBILE, 1), digits.str.extract(_LANDLINE, 1))
        )
        .with_columns(
            error=pl.when(pl.col("stripped").is_not_null() & pl.col("value").is_null()).then(
                pl.lit(QuarantineReason.PHONE_INVALID.value)
            ),
            fixes=pl.when(pl.col("value").is_not_null()).then(
                _joined_fixes(
                    (pl.col("stripped") != pl.col("half"), FixRule.TRIMMED),
                    (pl.col("half") != pl.col(_RAW), FixRule.FULLWIDTH_TO_HALFWIDTH),
                    (pl.col("value") != pl.col("stripped"), FixRule.PHONE_NORMALISED),
                )
            ),
        )
        .select("value", "fixes", "error")
        .collect()
    )
    return FieldResult(**_result(raw, frame))


# --------------------------------------------------------------------------------------------
# Region codes
# --------------------------------------------------------------------------------------------

_REGION_LENGTHS: Final = (6, 9, 12)


def _pad_region(code: str) -> str:
    return code.ljust(12, "0") if code.isdigit() and len(code) in _REGION_LENGTHS else code


def standardise_region_codes(raw: pl.Series, known: Collection[str] | None = None) -> FieldResult:
    """Administrative division codes → 12 digits (GB/T 2260 county codes and the statistical
    township/village extension). 6- and 9-digit codes are padded with zeros (fix
    ``region_padded``); a trailing ``.0`` left by a spreadsheet is dropped. Other lengths or
    non-digits are ``region_invalid``; a code not in ``known`` (if given; 6/9/12-digit entries,
    compared after padding) is ``region_unknown``."""
    digits = pl.col("digits")
    known_codes = None if known is None else sorted({_pad_region(code) for code in known})
    frame = (
        _frame(raw)
        .with_columns(half=pl.col(_RAW).str.replace_many(_FULLWIDTH))
        .with_columns(stripped=_present(pl.col("half").str.strip_chars(_STRIP_CHARS)))
        .with_columns(digits=pl.col("stripped").str.extract(r"^([0-9]+)(?:\.0+)?$", 1))
        .with_columns(
            padded=pl.when(digits.str.len_chars().is_in(list(_REGION_LENGTHS))).then(
                digits.str.pad_end(12, "0")
            )
        )
        .with_columns(
            error=pl.when(pl.col("stripped").is_not_null()).then(
                _first_error(
                    (pl.col("padded").is_null(), QuarantineReason.REGION_INVALID),
                    (
                        pl.lit(False)
                        if known_codes is None
                        else ~pl.col("padded").is_in(known_codes),
                        QuarantineReason.REGION_UNKNOWN,
                    ),
                )
            )
        )
        .with_columns(value=pl.when(pl.col("error").is_null()).then(pl.col("padded")))
        .with_columns(
            fixes=pl.when(pl.col("value").is_not_null()).then(
                _joined_fixes(
                    (pl.col("stripped") != pl.col("half"), FixRule.TRIMMED),
                    (pl.col("half") != pl.col(_RAW), FixRule.FULLWIDTH_TO_HALFWIDTH),
                    (digits != pl.col("stripped"), FixRule.NUMBER_NORMALISED),
                    (digits.str.len_chars() < 12, FixRule.REGION_PADDED),
                )
            ),
        )
        .select("value", "fixes", "error")
        .collect()
    )
    return FieldResult(**_result(raw, frame))


# --------------------------------------------------------------------------------------------
# Code lists
# --------------------------------------------------------------------------------------------


def _code_key(expr: pl.Expr, *, case_insensitive: bool) -> pl.Expr:
    key = (
        expr.str.replace_many(_FULLWIDTH)
        .str.strip_chars(_STRIP_CHARS)
        .str.replace_all(_WS + "+", " ")
    )
    return key.str.to_lowercase() if case_insensitive else key


def standardise_codes(
    raw: pl.Series, mapping: Mapping[str, str], *, case_insensitive: bool = True
) -> FieldResult:
    """Map the codes of a source's code list onto canonical codes (``{"在读": "enrolled"}``).

    Keys and cells are compared after trimming, full-width → half-width, collapsing whitespace
    runs and (by default) lower-casing. A cell that already holds a canonical code (a value of
    ``mapping``) is kept. Fix ``code_mapped`` when the canonical code differs from the cell;
    unmapped cells are ``code_unknown``.
    """
    pairs = {value: value for value in mapping.values()} | dict(mapping)
    keys = (
        pl.DataFrame({"k": list(pairs)})
        .select(_code_key(pl.col("k"), case_insensitive=case_insensitive))
        .to_series()
        .to_list()
    )
    lookup: dict[str, str] = {}
    for key, value in zip(keys, pairs.values(), strict=True):
        if lookup.get(key, value) != value:
            raise ValueError(f"code {key!r} maps to both {lookup[key]!r} and {value!r}")
        lookup[key] = value
    frame = (
        _frame(raw)
        .with_columns(
            stripped=_present(pl.col(_RAW).str.strip_chars(_STRIP_CHARS)),
            key=_present(_code_key(pl.col(_RAW), case_insensitive=case_insensitive)),
        )
        .with_columns(
            value=pl.col("key").replace_strict(lookup, default=None, return_dtype=pl.String)
        )
        .with_columns(
            error=pl.when(pl.col("key").is_not_null() & pl.col("value").is_null()).then(
                pl.lit(QuarantineReason.CODE_UNKNOWN.value)
            ),
            fixes=pl.when(pl.col("value").is_not_null()).then(
                _joined_fixes(
                    (pl.col("stripped") != pl.col(_RAW), FixRule.TRIMMED),
                    (pl.col("value") != pl.col("stripped"), FixRule.CODE_MAPPED),
                )
            ),
        )
        .select("value", "fixes", "error")
        .collect()
    )
    return FieldResult(**_result(raw, frame))


# --------------------------------------------------------------------------------------------
# Integers
# --------------------------------------------------------------------------------------------

#: Units hand-typed after a count: 12岁, 3天, 2次 ...
_INTEGER_UNITS: Final = "周岁|小时|岁|天|日|次|人|个|名|年|月|周|元|分|节|课时"
_INTEGER: Final = (
    rf"^(?P<sign>[+-]?)\s*(?P<digits>[0-9]{{1,3}}(?:,[0-9]{{3}})+|[0-9]+)(?:\.0*)?"
    rf"\s*(?:{_INTEGER_UNITS})?$"
)


def standardise_integers(
    raw: pl.Series, *, minimum: int | None = None, maximum: int | None = None
) -> FieldResult:
    """Whole numbers written as ``12``, ``12.0``, ``+12``, ``1,234``, ``１２`` or with a unit
    (``12岁``, ``3天``; fix ``number_normalised``). Other text, fractions and numbers beyond
    Int64 are ``integer_invalid``; values outside ``minimum`` .. ``maximum`` are
    ``integer_out_of_range``."""
    parts = pl.col("parts").struct
    number = pl.col("number")
    frame = (
        _frame(raw)
        .with_columns(half=pl.col(_RAW).str.replace_many(_FULLWIDTH))
        .with_columns(stripped=_present(pl.col("half").str.strip_chars(_STRIP_CHARS)))
        .with_columns(parts=pl.col("stripped").str.extract_groups(_INTEGER))
        .with_columns(
            number=pl.concat_str(
                parts.field("sign"), parts.field("digits").str.replace_all(",", "", literal=True)
            ).str.to_integer(strict=False)
        )
        .with_columns(
            error=pl.when(pl.col("stripped").is_not_null()).then(
                _first_error(
                    (number.is_null(), QuarantineReason.INTEGER_INVALID),
                    (
                        pl.lit(False) if minimum is None else number < minimum,
                        QuarantineReason.INTEGER_OUT_OF_RANGE,
                    ),
                    (
                        pl.lit(False) if maximum is None else number > maximum,
                        QuarantineReason.INTEGER_OUT_OF_RANGE,
                    ),
                )
            )
        )
        .with_columns(value=pl.when(pl.col("error").is_null()).then(number))
        .with_columns(
            fixes=pl.when(pl.col("value").is_not_null()).then(
                _joined_fixes(
                    (pl.col("stripped") != pl.col("half"), FixRule.TRIMMED),
                    (pl.col("half") != pl.col(_RAW), FixRule.FULLWIDTH_TO_HALFWIDTH),
                    (
                        pl.col("value").cast(pl.String) != pl.col("stripped"),
                        FixRule.NUMBER_NORMALISED,
                    ),
                )
            )
        )
        .select("value", "fixes", "error")
        .collect()
    )
    return FieldResult(**_result(raw, frame))


# --------------------------------------------------------------------------------------------
# Free text
# --------------------------------------------------------------------------------------------


def standardise_text(raw: pl.Series, *, max_chars: int = 2000) -> FieldResult:
    """Free text: NUL characters removed, full-width digits and Latin letters → half-width,
    surrounding whitespace trimmed and inner whitespace runs (newlines included) collapsed to one
    space. Full-width punctuation (，。：（）) is kept: it is ordinary Chinese punctuation. Text
    longer than ``max_chars`` characters after cleaning is ``field_too_long``.
    """
    frame = (
        _frame(raw)
        .with_columns(no_nul=pl.col(_RAW).str.replace_all("\x00", "", literal=True))
        .with_columns(half=pl.col("no_nul").str.replace_many(_FULLWIDTH_ALNUM))
        .with_columns(stripped=pl.col("half").str.strip_chars(_STRIP_CHARS))
        .with_columns(collapsed=_present(pl.col("stripped").str.replace_all(_WS + "+", " ")))
        .with_columns(
            error=pl.when(pl.col("collapsed").str.len_chars() > max_chars).then(
                pl.lit(QuarantineReason.FIELD_TOO_LONG.value)
            )
        )
        .with_columns(value=pl.when(pl.col("error").is_null()).then(pl.col("collapsed")))
        .with_columns(
            fixes=pl.when(pl.col("value").is_not_null()).then(
                _joined_fixes(
                    (pl.col("no_nul") != pl.col(_RAW), FixRule.NUL_REMOVED),
                    (pl.col("half") != pl.col("no_nul"), FixRule.FULLWIDTH_TO_HALFWIDTH),
                    (pl.col("stripped") != pl.col("half"), FixRule.TRIMMED),
                    (pl.col("collapsed") != pl.col("stripped"), FixRule.WHITESPACE_COLLAPSED),
                )
            )
        )
        .select("value", "fixes", "error")
        .collect()
    )
    return FieldResult(**_result(raw, frame))


def formula_like(raw: pl.Series) -> pl.Series:
    """Boolean (never null): cells a spreadsheet would run as a formula — starting with ``=``,
    ``+``, ``-``, ``@``, tab or carriage return (OWASP CSV injection) — so that reports and
    exports can escape them."""
    return _as_string(raw).str.contains(r"^[=+\-@\t\r]").fill_null(False).alias(raw.name)
