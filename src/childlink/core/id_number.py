"""Rules of the resident ID number (GB 11643-1999) and its legacy 15-digit form.

An 18-character number is ``AAAAAA YYYYMMDD SSS C``: a GB/T 2260 address code, the birth date,
a sequence number (odd for males, even for females) and an ISO 7064 MOD 11-2 check character.
Legacy 15-digit numbers carry ``YYMMDD`` (always 19YY) and no check character.

The scalar functions here are the reference implementation; :func:`check_characters` is the
vectorised form used by the generator and, later, by ingestion over whole columns.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from childlink.errors import InvalidIdNumberError

WEIGHTS: tuple[int, ...] = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
_WEIGHTS_ARRAY = np.array(WEIGHTS, dtype=np.int64)
_CHECK_ARRAY = np.array(list(CHECK_CHARS))


class Sex(StrEnum):
    """Sex as coded in the ID number's sequence digits."""

    MALE = "M"
    FEMALE = "F"

    @property
    def label_zh(self) -> str:
        return "男" if self is Sex.MALE else "女"


@dataclass(frozen=True, slots=True)
class IdNumberFacts:
    """What an 18-character ID number states about its holder."""

    id_number: str
    region_code: str
    birth_date: dt.date
    sequence: int
    sex: Sex


def check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise InvalidIdNumberError(
            f"need exactly 17 digits to compute a check character: {first17!r}"
        )
    total = sum(int(digit) * weight for digit, weight in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def check_characters(first17: npt.NDArray[np.int64]) -> npt.NDArray[np.str_]:
    """Vectorised :func:`check_character` over an ``(n, 17)`` array of digits."""
    if first17.ndim != 2 or first17.shape[1] != 17:
        raise ValueError("expected an (n, 17) array of digits")
    remainders = (first17 @ _WEIGHTS_ARRAY) % 11
    result: npt.NDArray[np.str_] = _CHECK_ARRAY[remainders]
    return result


def is_valid(id_number: str) -> bool:
    """True if ``id_number`` is a well-formed 18-character number with a correct check character."""
    try:
        parse(id_number)
    except InvalidIdNumberError:
        return False
    return True


def parse(id_number: str) -> IdNumberFacts:
    """Validate an 18-character ID number and extract its facts.

    Raises:
        InvalidIdNumberError: naming the first rule the number breaks.
    """
    if len(id_number) != 18:
        raise InvalidIdNumberError(f"ID number must have 18 characters, got {len(id_number)}")
    body, check = id_number[:17], id_number[17]
    if not (body.isascii() and body.isdigit()):
        raise InvalidIdNumberError("the first 17 characters of an ID number must be digits")
    if check not in CHECK_CHARS:
        raise InvalidIdNumberError(f"check character must be a digit or X, got {check!r}")
    birth_date = _parse_date(body[6:14])
    expected = check_character(body)
    if check != expected:
        raise InvalidIdNumberError(f"wrong check character {check!r}, expected {expected!r}")
    sequence = int(body[14:17])
    return IdNumberFacts(
        id_number=id_number,
        region_code=body[:6],
        birth_date=birth_date,
        sequence=sequence,
        sex=sex_from_sequence(sequence),
    )


def sex_from_sequence(sequence: int) -> Sex:
    """Odd sequence numbers are male, even ones female."""
    return Sex.MALE if sequence % 2 == 1 else Sex.FEMALE


def compose(region_code: str, birth_date: dt.date, sequence: int) -> str:
    """Build a valid 18-character ID number from its parts."""
    if len(region_code) != 6 or not region_code.isdigit():
        raise InvalidIdNumberError(f"region code must be 6 digits: {region_code!r}")
    if not 0 <= sequence <= 999:
        raise InvalidIdNumberError(f"sequence must be 0..999: {sequence}")
    first17 = f"{region_code}{birth_date:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)


def to_legacy15(id_number: str) -> str:
    """The legacy 15-digit form of an 18-character number born in the 1900s."""
    facts = parse(id_number)
    if not 1900 <= facts.birth_date.year <= 1999:
        raise InvalidIdNumberError("only people born 1900-1999 can have a 15-digit ID number")
    return id_number[:6] + id_number[8:17]


def upgrade15(legacy: str) -> str:
    """Convert a legacy 15-digit ID number to 18 characters (century 19, new check character).

    Raises:
        InvalidIdNumberError: if the number is not 15 digits or its birth date is impossible.
    """
    if len(legacy) != 15 or not (legacy.isascii() and legacy.isdigit()):
        raise InvalidIdNumberError("a legacy ID number has exactly 15 digits")
    first17 = legacy[:6] + "19" + legacy[6:15]
    _parse_date(first17[6:14])
    return first17 + check_character(first17)


def _parse_date(yyyymmdd: str) -> dt.date:
    try:
        return dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError as exc:
        raise InvalidIdNumberError(f"impossible birth date {yyyymmdd!r} in ID number") from exc
