"""Standardise one read batch against its mapping: values, fixes, states, flags and hashes.

Pure and vectorised (polars; DuckDB for hashing): no database, no per-row Python loop. The
service persists what this returns. Every input row leaves here in exactly one state:

* ``accepted``: every value valid as given;
* ``fixed``: valid after safe fixes, each recorded as field/old/new/rule;
* ``quarantined``: with a machine-readable reason and the row kept verbatim.

An invalid value in an optional field does not cost the row: the value is removed (a fix,
``invalid_value_removed``) and a flag ``<field>:<reason>`` stays on the record, so a mistyped ID
number still reaches linkage through its name and birth date, and the officer sees why.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from dataclasses import dataclass

import duckdb
import polars as pl

from childlink.ingest.mapping import SourceMapping
from childlink.ingest.readers import RawBatch
from childlink.ingest.reasons import FixRule, QuarantineReason
from childlink.ingest.schema import CANONICAL_FIELDS, FieldType
from childlink.ingest.standardise import (
    FieldResult,
    IdNumberResult,
    NameResult,
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

ACCEPTED, FIXED, QUARANTINED = "accepted", "fixed", "quarantined"
#: Rules that translate a declared format into canonical form (code lists, date styles, sex
#: codes) rather than repair a defect: they are not fixes, and the verbatim row keeps the
#: original anyway. Everything else a standardiser changes is a fix, recorded and counted.
NORMALISATION_RULES = frozenset(
    {
        FixRule.SEX_CODE_MAPPED.value,
        FixRule.CODE_MAPPED.value,
        FixRule.DATE_CHINESE_FORMAT.value,
        FixRule.DATE_EXCEL_SERIAL.value,
        FixRule.NAME_CASE.value,
        FixRule.NUMBER_NORMALISED.value,
    }
)
EARLIEST_DATE = dt.date(1900, 1, 1)


@dataclass(frozen=True)
class StandardisedBatch:
    """What one read batch became.

    ``records``: one row per input row (reader rejects included), with ``_sheet``,
    ``_row_number``, ``_raw``, ``_status``, ``_reason``, ``_message``, ``_flags`` (list),
    ``_hash`` and one column per mapped canonical field (plus ``name_pinyin`` and
    ``<id field>_as_given``). ``fixes``: long table ``_sheet``, ``_row_number``, ``field``,
    ``old_value``, ``new_value``, ``rule``. ``field_quality``: per field rows/present/valid/
    fixed/invalid.
    """

    records: pl.DataFrame
    fixes: pl.DataFrame
    field_quality: pl.DataFrame


def standardise_batch(
    raw: RawBatch,
    mapping: SourceMapping,
    *,
    as_of: dt.date,
    known_regions: Collection[str] | None = None,
) -> StandardisedBatch:
    """Apply the mapping's canonical schema to one read batch."""
    rows = raw.rows
    sheet = raw.sheet or ""
    n = rows.height
    columns: dict[str, pl.Series] = {}
    fix_frames: list[pl.DataFrame] = []
    quality: list[dict[str, object]] = []
    reason = pl.Series("_reason", [None] * n, dtype=pl.String)
    message = pl.Series("_message", [None] * n, dtype=pl.String)
    flags: list[pl.Series] = []
    row_number = rows["_row_number"]
    id_extras: dict[str, IdNumberResult] = {}

    def quarantine(mask: pl.Series, code: str | pl.Series, text: str | pl.Series) -> None:
        """Quarantine the masked rows, keeping the first reason a row got."""
        nonlocal reason, message
        fresh = (mask.fill_null(False) & reason.is_null()).alias("fresh")
        code_s = code if isinstance(code, pl.Series) else pl.Series([code] * n, dtype=pl.String)
        text_s = text if isinstance(text, pl.Series) else pl.Series([text] * n, dtype=pl.String)
        frame = pl.DataFrame(
            {"fresh": fresh, "code": code_s, "text": text_s, "reason": reason, "message": message}
        )
        updated = frame.select(
            reason=pl.when("fresh").then("code").otherwise("reason"),
            message=pl.when("fresh").then("text").otherwise("message"),
        )
        reason, message = updated["reason"], updated["message"]

    def add_fixes(field: str, old: pl.Series, new: pl.Series, rules: pl.Series) -> None:
        frame = pl.DataFrame(
            {
                "_row_number": row_number,
                "field": pl.Series([field] * n, dtype=pl.String),
                "old_value": old.cast(pl.String),
                "new_value": new.cast(pl.String),
                "rule": rules,
            }
        ).filter(pl.col("rule").is_not_null())
        if frame.height:
            fix_frames.append(frame.with_columns(pl.col("rule").str.split(";")).explode("rule"))

    for field, column in mapping.fields.items():
        spec = CANONICAL_FIELDS[field]
        header = next((h for h in column.headers if h in rows.columns), None)
        values = (
            rows[header].cast(pl.String)
            if header is not None
            else pl.Series(field, [None] * n, dtype=pl.String)
        )
        result = _standardise(
            spec.type, values, column.codes, column.day_first, as_of, known_regions
        )
        if isinstance(result, IdNumberResult):
            id_extras[field] = result
            columns[f"{field}_as_given"] = result.cleaned.alias(f"{field}_as_given")
        if isinstance(result, NameResult) and field == "name":
            columns["name_pinyin"] = result.pinyin.alias("name_pinyin")
            flags.append(
                pl.select(
                    pl.when(result.is_placeholder).then(pl.lit("name:placeholder_newborn"))
                ).to_series()
            )
        present = values.str.strip_chars().fill_null("").str.len_chars() > 0
        invalid = result.error.is_not_null()
        value = result.value
        label = f"{spec.label_zh} ({field})"
        if column.required:
            quarantine(~present, QuarantineReason.REQUIRED_MISSING.value, f"{label} is empty")
            quarantine(
                invalid,
                result.error,
                pl.DataFrame({"v": values})
                .select(pl.format("{}: '{}' is invalid", pl.lit(label), pl.col("v")))
                .to_series(),
            )
        else:
            # Optional field: drop the invalid value, keep the row, record why.
            add_fixes(
                field,
                values,
                pl.Series([None] * n, dtype=pl.String),
                pl.select(
                    pl.when(invalid).then(pl.lit(FixRule.INVALID_VALUE_REMOVED.value))
                ).to_series(),
            )
            flags.append(
                pl.select(
                    pl.when(invalid).then(pl.format("{}:{}", pl.lit(field), result.error))
                ).to_series()
            )
        add_fixes(field, result.as_given, value, result.fixes.cast(pl.String))
        if spec.type is FieldType.TEXT:
            flags.append(
                pl.select(
                    pl.when(formula_like(values)).then(pl.lit(f"{field}:formula_like"))
                ).to_series()
            )
        columns[field] = value.alias(field)
        fixed = result.fixes.is_not_null() & ~invalid
        quality.append(
            {
                "field": field,
                "rows": n,
                "present": int(present.sum()),
                "valid": int((present & ~invalid).sum()),
                "fixed": int((present & fixed).sum()),
                "invalid": int((present & invalid).sum()),
            }
        )

    frame = pl.DataFrame(list(columns.values())) if columns else pl.DataFrame()
    frame = frame.with_columns(_row_number=row_number)
    frame, cross_fixes, cross_flags = _cross_check(frame, mapping, id_extras, quarantine)
    fix_frames.extend(cross_fixes)
    flags.extend(cross_flags)

    flag_list = (
        pl.DataFrame({f"f{i}": series for i, series in enumerate(flags)})
        .select(pl.concat_list(pl.all()).list.drop_nulls().alias("_flags"))
        .to_series()
        if flags
        else pl.Series("_flags", [[]] * n, dtype=pl.List(pl.String))
    )
    fixes = (
        pl.concat(fix_frames)
        if fix_frames
        else pl.DataFrame(
            schema={
                "_row_number": pl.Int64,
                "field": pl.String,
                "old_value": pl.String,
                "new_value": pl.String,
                "rule": pl.String,
            }
        )
    )
    fixes = fixes.filter(
        (pl.col("rule") != "") & ~pl.col("rule").is_in(list(NORMALISATION_RULES))
    ).with_columns(_sheet=pl.lit(sheet))
    rows_with_fixes = fixes.select("_row_number").unique().with_columns(_has_fix=pl.lit(True))
    records = (
        frame.with_columns(
            _sheet=pl.lit(sheet),
            _raw=rows["_raw"],
            _reason=reason,
            _message=message,
            _flags=flag_list,
            _hash=_row_hashes(rows, mapping),
        )
        .join(rows_with_fixes, on="_row_number", how="left")
        .with_columns(
            _status=pl.when(pl.col("_reason").is_not_null())
            .then(pl.lit(QUARANTINED))
            .when(pl.col("_has_fix").fill_null(False))
            .then(pl.lit(FIXED))
            .otherwise(pl.lit(ACCEPTED))
        )
        .drop("_has_fix")
    )
    # Fixes of quarantined rows are not applied; keep them only for accepted ones.
    fixes = fixes.join(
        records.filter(pl.col("_status") != QUARANTINED).select("_row_number"),
        on="_row_number",
        how="semi",
    )
    records = pl.concat([records, _rejects(raw, sheet)], how="diagonal_relaxed")
    return StandardisedBatch(records=records, fixes=fixes, field_quality=pl.DataFrame(quality))


def _standardise(
    kind: FieldType,
    values: pl.Series,
    codes: dict[str, str] | None,
    day_first: bool,
    as_of: dt.date,
    known_regions: Collection[str] | None,
) -> FieldResult:
    match kind:
        case FieldType.ID_NUMBER:
            return standardise_id_numbers(values)
        case FieldType.NAME:
            return standardise_names(values)
        case FieldType.SEX:
            return standardise_sex(values)
        case FieldType.DATE:
            return standardise_dates(
                values, day_first=day_first, min_date=EARLIEST_DATE, max_date=as_of
            )
        case FieldType.PHONE:
            return standardise_phones(values)
        case FieldType.REGION:
            return standardise_region_codes(values, known_regions)
        case FieldType.CODE:
            return standardise_codes(values, codes or {})
        case FieldType.INTEGER:
            return standardise_integers(values, minimum=0)
        case FieldType.TEXT | FieldType.STUDENT_NUMBER:
            return standardise_text(values)


def _cross_check(
    frame: pl.DataFrame,
    mapping: SourceMapping,
    ids: dict[str, IdNumberResult],
    quarantine: Callable[[pl.Series, str | pl.Series, str | pl.Series], None],
) -> tuple[pl.DataFrame, list[pl.DataFrame], list[pl.Series]]:
    """Consistency between fields of one row: ID number against birth date, sex, student number."""
    fixes: list[pl.DataFrame] = []
    flags: list[pl.Series] = []
    n = frame.height
    id_result = ids.get("id_number")
    if id_result is None:
        return frame, fixes, flags
    id_dob = id_result.birth_date
    id_sex = id_result.sex
    id_value = frame["id_number"]

    def fix(field: str, mask: pl.Series, old: pl.Series, new: pl.Series, rule: str) -> None:
        rows = pl.DataFrame(
            {
                "_row_number": frame["_row_number"],
                "field": pl.Series([field] * n, dtype=pl.String),
                "old_value": old.cast(pl.String),
                "new_value": new.cast(pl.String),
                "rule": pl.Series([rule] * n, dtype=pl.String),
            }
        ).filter(mask.fill_null(False))
        if rows.height:
            fixes.append(rows)

    # A valid ID inside the student number (G + ID) stands in for a missing or invalid one.
    if "student_number" in frame.columns:
        student = frame["student_number"].fill_null("")
        embedded = standardise_id_numbers(
            pl.select(pl.when(student.str.starts_with("G")).then(student.str.slice(1))).to_series()
        )
        use = id_value.is_null() & embedded.value.is_not_null()
        fix("id_number", use, id_value, embedded.value, FixRule.ID_FROM_STUDENT_NUMBER.value)
        mismatch = (
            id_value.is_not_null() & embedded.value.is_not_null() & (id_value != embedded.value)
        )
        flags.append(
            pl.select(pl.when(mismatch).then(pl.lit("student_number:id_mismatch"))).to_series()
        )
        id_value = pl.select(pl.coalesce(id_value, embedded.value)).to_series()
        id_dob = pl.select(pl.coalesce(id_dob, embedded.birth_date)).to_series()
        id_sex = pl.select(pl.coalesce(id_sex, embedded.sex)).to_series()
        frame = frame.with_columns(id_number=id_value)

    if "birth_date" in frame.columns:
        stated = frame["birth_date"]
        differs = stated.is_not_null() & id_dob.is_not_null() & (stated != id_dob)
        swapped = differs & (swap_day_month(stated) == id_dob).fill_null(False)
        fix("birth_date", swapped, stated, id_dob, FixRule.DOB_DAY_MONTH_SWAPPED.value)
        contradicts = differs & ~swapped
        quarantine(
            contradicts,
            QuarantineReason.DOB_CONTRADICTS_ID.value,
            pl.DataFrame({"s": stated, "i": id_dob})
            .select(pl.format("date of birth {} but the ID number says {}", "s", "i"))
            .to_series(),
        )
        derived = stated.is_null() & id_dob.is_not_null()
        fix("birth_date", derived, stated, id_dob, FixRule.DERIVED_FROM_ID.value)
        frame = frame.with_columns(
            birth_date=pl.when(swapped | derived).then(id_dob).otherwise(stated)
        )
    if "sex" in frame.columns:
        stated_sex = frame["sex"]
        contradicts = stated_sex.is_not_null() & id_sex.is_not_null() & (stated_sex != id_sex)
        quarantine(
            contradicts,
            QuarantineReason.SEX_CONTRADICTS_ID.value,
            pl.DataFrame({"s": stated_sex, "i": id_sex})
            .select(pl.format("sex {} but the ID number says {}", "s", "i"))
            .to_series(),
        )
        derived = stated_sex.is_null() & id_sex.is_not_null()
        fix("sex", derived, stated_sex, id_sex, FixRule.DERIVED_FROM_ID.value)
        frame = frame.with_columns(sex=pl.when(derived).then(id_sex).otherwise(stated_sex))
    return frame, fixes, flags


def _row_hashes(rows: pl.DataFrame, mapping: SourceMapping) -> pl.Series:
    """Content hash of the row without ignored columns: equal hashes = exact duplicates.

    Only compared within one batch, so polars' fast 64-bit hash (with a fixed seed) suffices;
    the chance of two different rows colliding in a million is about 3e-8.
    """
    content = [c for c in rows.columns if not c.startswith("_") and c not in mapping.ignore]
    if not content:
        return pl.Series("_hash", [""] * rows.height, dtype=pl.String)
    return rows.select(
        pl.struct(content).hash(seed=20261204).cast(pl.String).alias("_hash")
    ).to_series()


def sha256_column(values: pl.Series) -> pl.Series:
    """Hex SHA-256 of each string, computed by DuckDB in one vectorised pass."""
    frame = pl.DataFrame({"payload": values.fill_null("")})
    with duckdb.connect() as connection:
        connection.register("payload_table", frame)
        hashed = connection.sql("SELECT sha256(payload) AS h FROM payload_table").pl()
    series: pl.Series = hashed["h"]
    return series


def _rejects(raw: RawBatch, sheet: str) -> pl.DataFrame:
    """Rows the reader could not read as rows: quarantined with the reader's reason."""
    rejects = raw.rejects
    if rejects.height == 0:
        return pl.DataFrame()
    return rejects.select(
        pl.col("_row_number").cast(pl.Int64),
        pl.lit(sheet).alias("_sheet"),
        # The row could not be split into cells: keep its text verbatim under one key.
        pl.struct(pl.col("_raw").alias("_unparsed_row")).struct.json_encode().alias("_raw"),
        pl.col("_reason"),
        pl.col("_message"),
        pl.lit([], dtype=pl.List(pl.String)).alias("_flags"),
        sha256_column(rejects["_raw"]).alias("_hash"),
        pl.lit(QUARANTINED).alias("_status"),
    )
