"""Render the true county as the messy exports that each department actually hands over.

Every export is built in two steps: select the true rows (who appears in this department's data
and with which facts), then pass the person columns through :class:`PersonNoise`, which applies
the configured defects and records, per row, which defects were applied. Each written row keeps
its ground truth (which true child or adult it is about) in :class:`ExportTruth`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import xlsxwriter

from childlink.synth import noise
from childlink.synth.config import NoiseRates, SynthConfig
from childlink.synth.events import Timeline
from childlink.synth.frames import frame
from childlink.synth.geography import ORIGIN_COUNTIES, Geography
from childlink.synth.names import placeholder_newborn_name
from childlink.synth.noise import DateStyle
from childlink.synth.population import Population

ObjArray = npt.NDArray[np.object_]
Mask = npt.NDArray[np.bool_]


@dataclass
class ExportTruth:
    """Ground truth rows collected while writing exports.

    ``records``: one row per (export row, person it is about): source, file, sheet, row_number
    (1-based data row under the header), entity_id (``C…`` child or ``A…`` adult), role
    (subject, guardian, party, involved_minor), defects (``;``-joined defect names).
    """

    parts: list[pl.DataFrame] = field(default_factory=list)
    files: list[dict[str, object]] = field(default_factory=list)

    def add(
        self,
        source: str,
        file: str,
        sheet: str | None,
        entity_id: ObjArray,
        role: str,
        defects: ObjArray | None = None,
        row_number: npt.NDArray[np.int64] | None = None,
    ) -> None:
        n = entity_id.size
        self.parts.append(
            frame(
                {
                    "source": [source] * n,
                    "file": [file] * n,
                    "sheet": [sheet] * n,
                    "row_number": (
                        row_number if row_number is not None else np.arange(1, n + 1)
                    ).astype(np.int64),
                    "entity_id": entity_id,
                    "role": [role] * n,
                    "defects": defects if defects is not None else np.full(n, "", dtype=object),
                },
                schema_overrides={"sheet": pl.String, "entity_id": pl.String, "defects": pl.String},
            )
        )

    def records(self) -> pl.DataFrame:
        return pl.concat(self.parts).filter(pl.col("entity_id").is_not_null())


class PersonNoise:
    """Applies the configured defects to the person columns of one export."""

    def __init__(self, rng: np.random.Generator, rates: NoiseRates, multiplier: float = 1.0):
        self.rng = rng
        self.rates = rates
        self.multiplier = multiplier

    def mask(
        self, n: int, rate_name: str, eligible: npt.NDArray[np.bool_] | None = None
    ) -> npt.NDArray[np.bool_]:
        rate = min(1.0, self.rates.rate(rate_name) * self.multiplier)
        result = self.rng.random(n) < rate
        if eligible is not None:
            result &= eligible
        return result

    def names(self, names: ObjArray, defects: _Defects) -> ObjArray:
        out = names.copy()
        n = out.size
        present = np.array([isinstance(v, str) for v in out], dtype=bool)
        m = self.mask(n, "name_homophone", present)
        out = noise.homophone_typo(self.rng, out, m)
        defects.add("name_homophone", m & (out != names))
        m = self.mask(n, "name_traditional", present)
        before = out.copy()
        out = noise.to_traditional(out, m)
        defects.add("name_traditional", m & (out != before))
        has_dot = np.array([isinstance(v, str) and "·" in v for v in out], dtype=bool)
        m = self.mask(n, "middle_dot_variant", has_dot)
        out = noise.middle_dot_variant(self.rng, out, m)
        defects.add("middle_dot_variant", m)
        m = self.mask(n, "name_space", present)
        out = noise.insert_space(self.rng, out, m)
        defects.add("name_space", m)
        return out

    def id_numbers(
        self,
        ids: ObjArray,
        defects: _Defects,
        missing_rate: float,
        born_before_2000: npt.NDArray[np.bool_] | None = None,
    ) -> ObjArray:
        out = ids.copy()
        n = out.size
        present = np.array([isinstance(v, str) for v in out], dtype=bool)
        m = present & (self.rng.random(n) < min(1.0, missing_rate * self.rates.scale))
        out = noise.drop_values(out, m)
        defects.add("id_missing", m)
        present &= ~m
        if born_before_2000 is not None:
            m = self.mask(n, "id_legacy15", present & born_before_2000)
            before = out.copy()
            out = noise.legacy15(out, m)
            # Numbers of people born in 2000 or later have no 15-digit form and stay as they are.
            m &= out != before
            defects.add("id_legacy15", m)
            present &= ~m
        typos: tuple[tuple[str, Callable[[np.random.Generator, ObjArray, Mask], ObjArray]], ...] = (
            ("id_wrong_check", noise.wrong_check_character),
            ("id_digit_typo", noise.one_digit_typo),
            ("id_transposition", noise.transpose_digits),
        )
        for name, apply in typos:
            m = self.mask(n, name, present)
            before = out.copy()
            out = apply(self.rng, out, m)
            defects.add(name, m & (out != before))
        ends_x = np.array([isinstance(v, str) and v.endswith("X") for v in out], dtype=bool)
        m = self.mask(n, "id_lowercase_x", ends_x)
        out = noise.lowercase_x(out, m)
        defects.add("id_lowercase_x", m)
        m = self.mask(n, "id_fullwidth", present)
        out = noise.fullwidth_digits(out, m)
        defects.add("id_fullwidth", m)
        return out

    def birth_dates(
        self, dates: npt.NDArray[np.datetime64], defects: _Defects
    ) -> npt.NDArray[np.datetime64]:
        n = dates.size
        m = self.mask(n, "dob_swapped_day_month")
        out = noise.swap_day_month(dates, m)
        defects.add("dob_swapped_day_month", m & (out != dates))
        m = self.mask(n, "dob_wrong")
        shift = self.rng.choice(np.array([-365, -31, -1, 1, 30, 365, 3652]), n).astype(
            "timedelta64[D]"
        )
        out = np.where(m, out + shift, out)
        defects.add("dob_wrong", m)
        return out

    def sexes(self, sexes: ObjArray, defects: _Defects) -> ObjArray:
        m = self.mask(sexes.size, "sex_contradiction")
        flipped = np.where(sexes == "M", "F", "M").astype(object)
        defects.add("sex_contradiction", m)
        result: ObjArray = np.where(m, flipped, sexes)
        return result

    def blanks(self, values: ObjArray, defects: _Defects, field_name: str) -> ObjArray:
        m = self.mask(values.size, "field_missing")
        defects.add(f"missing_{field_name}", m)
        return noise.drop_values(values, m)

    def duplicate_rows(self, n: int) -> npt.NDArray[np.int64]:
        """Row order with some rows repeated (as a re-keyed or twice-exported row would be)."""
        dup = np.flatnonzero(self.mask(n, "duplicate_row"))
        order = np.concatenate([np.arange(n), dup])
        # Duplicates land next to the original or somewhere later in the file.
        keys = np.concatenate(
            [np.arange(n, dtype=np.float64), dup + self.rng.choice([0.5, n / 2], dup.size)]
        )
        result: npt.NDArray[np.int64] = order[np.argsort(keys, kind="stable")]
        return result


class _Defects:
    """Per-row defect names, joined with ``;`` at the end."""

    def __init__(self, n: int):
        self.n = n
        self.masks: list[tuple[str, npt.NDArray[np.bool_]]] = []

    def add(self, name: str, mask: npt.NDArray[np.bool_]) -> None:
        if mask.any():
            self.masks.append((name, mask.copy()))

    def joined(self) -> ObjArray:
        if not self.masks:
            return np.full(self.n, "", dtype=object)
        masks = pl.DataFrame(dict(self.masks))
        expr = pl.concat_str(
            [pl.when(pl.col(name)).then(pl.lit(name)) for name, _ in self.masks],
            separator=";",
            ignore_nulls=True,
        )
        result: ObjArray = masks.select(expr.alias("d"))["d"].to_numpy().astype(object)
        return result

    def extend(self, order: npt.NDArray[np.int64], duplicate: npt.NDArray[np.bool_]) -> _Defects:
        out = _Defects(order.size)
        out.masks = [(name, mask[order]) for name, mask in self.masks]
        out.add("duplicate_row", duplicate)
        return out


# --- writers ---------------------------------------------------------------------------------


def _cell(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_csv(
    path: Path, header: Sequence[str], columns: Sequence[ObjArray], encoding: str
) -> None:
    """Write a CSV the way a department system does (CRLF, all text, given encoding)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(
        zip(*[[("" if v is None else v) for v in map(_cell, col)] for col in columns], strict=True)
    )
    path.write_bytes(buffer.getvalue().encode(encoding, errors="replace"))


#: Creation time written into every XLSX export (see :func:`write_xlsx`).
XLSX_CREATED = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def write_xlsx(
    path: Path,
    sheets: Sequence[tuple[str, Sequence[str], Sequence[ObjArray]]],
    title_row: str | None = None,
) -> None:
    """Write sheets; ``datetime.date`` cells become real Excel dates, as office staff type them."""
    workbook = xlsxwriter.Workbook(
        str(path), {"constant_memory": True, "strings_to_numbers": False}
    )
    # xlsxwriter stamps docProps/core.xml with the current time unless told otherwise; a fixed
    # creation time keeps the same config and seed giving the same bytes.
    workbook.set_properties({"created": XLSX_CREATED})
    date_format = workbook.add_format({"num_format": "yyyy/m/d"})
    bold = workbook.add_format({"bold": True})
    for name, header, columns in sheets:
        sheet = workbook.add_worksheet(name)
        row0 = 0
        if title_row:
            sheet.write(0, 0, title_row, bold)
            row0 = 2
        sheet.write_row(row0, 0, list(header), bold)
        rows = zip(*[[_cell(v) for v in col] for col in columns], strict=True)
        for r, values in enumerate(rows, start=row0 + 1):
            for c, value in enumerate(values):
                if value is None:
                    continue
                if isinstance(value, dt.date):
                    sheet.write_datetime(
                        r, c, dt.datetime(value.year, value.month, value.day), date_format
                    )
                elif isinstance(value, str):
                    sheet.write_string(r, c, value)
                else:
                    sheet.write(r, c, value)
    workbook.close()


def write_jsonl(path: Path, records: pl.DataFrame) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in records.iter_rows(named=True):
            handle.write(
                json.dumps({k: v for k, v in row.items() if v is not None}, ensure_ascii=False)
            )
            handle.write("\n")


# --- exports ---------------------------------------------------------------------------------


SEX_ZH = {"M": "男", "F": "女"}
SEX_CODE = {"M": "1", "F": "2"}
RELATION_ZH = {"father": "父亲", "mother": "母亲", "grandfather": "祖父", "grandmother": "祖母"}


@dataclass
class ExportContext:
    config: SynthConfig
    geo: Geography
    pop: Population
    timeline: Timeline
    out_dir: Path
    rng: np.random.Generator
    truth: ExportTruth
    progress: Callable[[str], None]

    def __post_init__(self) -> None:
        children = self.pop.children
        self.child = children
        self.adult = self.pop.adults
        households = self.pop.households
        self.household = households
        region_names = dict(self.geo.regions.select("code", "name").iter_rows())
        self.region_name = region_names
        self.school_name = dict(self.geo.schools.select("school_id", "name").iter_rows())

    def persons(self, ids: ObjArray) -> pl.DataFrame:
        """True facts of children (``C…``) and adults (``A…``) in the given order."""
        wanted = frame({"entity_id": ids}, {"entity_id": pl.String}).with_row_index("_order")
        kids = self.child.select(
            pl.col("child_id").alias("entity_id"),
            "name",
            "sex",
            "birth_date",
            "id_number",
            "ethnicity",
            "household_id",
            "guardian_id",
        )
        grown = self.adult.select(
            pl.col("person_id").alias("entity_id"),
            "name",
            "sex",
            "birth_date",
            "id_number",
            "ethnicity",
            "household_id",
            pl.lit(None, pl.String).alias("guardian_id"),
        )
        everyone = pl.concat([kids, grown])
        joined = wanted.join(everyone, on="entity_id", how="left").sort("_order")
        guardians = self.adult.select(
            pl.col("person_id").alias("guardian_id"),
            pl.col("name").alias("guardian_name"),
            pl.col("id_number").alias("guardian_id_number"),
            pl.col("phone").alias("guardian_phone"),
            pl.col("role").alias("guardian_role"),
        )
        households = self.household.select(
            "household_id", "village_code", "address", "previous_address", "move_date"
        )
        return (
            joined.join(guardians, on="guardian_id", how="left")
            .join(households, on="household_id", how="left")
            .sort("_order")
        )

    def stale_addresses(self, frame: pl.DataFrame, as_of: npt.NDArray[np.datetime64]) -> ObjArray:
        """The address a source holds: the old one before a move, and sometimes after it too."""
        moved = frame["move_date"].to_numpy().astype("datetime64[D]")
        previous = frame["previous_address"].to_numpy()
        current = frame["address"].to_numpy()
        has_move = ~np.isnat(moved)
        before = has_move & (as_of < moved)
        stale = (
            has_move
            & ~before
            & (self.rng.random(frame.height) < self.config.noise.rate("stale_address"))
        )
        result: ObjArray = np.where(before | stale, previous, current)
        return result


def _zfill(values: npt.NDArray[Any], width: int) -> npt.NDArray[np.str_]:
    """``np.char.zfill`` that also accepts an empty array (numpy 2 fails on one)."""
    result: npt.NDArray[np.str_] = (
        np.char.zfill(values, width) if values.size else values.astype(str)
    )
    return result


def _replace(values: npt.NDArray[Any], old: str, new: str) -> npt.NDArray[np.str_]:
    """``np.char.replace`` that also accepts an empty array (numpy 2 fails on one)."""
    result: npt.NDArray[np.str_] = (
        np.char.replace(values, old, new) if values.size else values.astype(str)
    )
    return result


def _np_dates(series: pl.Series) -> npt.NDArray[np.datetime64]:
    result: npt.NDArray[np.datetime64] = series.to_numpy().astype("datetime64[D]")
    return result


def _as_python_dates(dates: npt.NDArray[np.datetime64]) -> ObjArray:
    return np.array([None if np.isnat(d) else d.astype(dt.date) for d in dates], dtype=object)


def _mixed_dates(
    rng: np.random.Generator,
    dates: npt.NDArray[np.datetime64],
    styles: dict[DateStyle, float],
    native_share: float = 0.0,
) -> ObjArray:
    """Render dates in a mix of text styles; ``native_share`` stay real dates (Excel cells)."""
    text = noise.format_dates(rng, dates, styles)
    if native_share > 0:
        native = rng.random(dates.size) < native_share
        text = np.where(native, _as_python_dates(dates), text)
    text[np.isnat(dates)] = None
    result: ObjArray = text
    return result


def _is_adult_born_before_2000(dates: npt.NDArray[np.datetime64]) -> npt.NDArray[np.bool_]:
    result: npt.NDArray[np.bool_] = dates < np.datetime64("2000-01-01")
    return result


@dataclass
class RenderedPeople:
    """Noisy person columns for one export, aligned with the (possibly duplicated) row order."""

    facts: pl.DataFrame
    """True facts in output row order."""
    name: ObjArray
    sex: ObjArray
    birth_date: npt.NDArray[np.datetime64]
    id_number: ObjArray
    defects: ObjArray
    order: npt.NDArray[np.int64]
    """Index into the rows given to :func:`render_people` for each output row."""

    def first_occurrence(self) -> npt.NDArray[np.int64]:
        """For each output row, the output position of the first copy of the same source row."""
        first_position = np.full(self.order.max() + 1 if self.order.size else 0, -1)
        positions = np.arange(self.order.size)
        # Reverse so the earliest output position of each source row wins.
        first_position[self.order[::-1]] = positions[::-1]
        result: npt.NDArray[np.int64] = first_position[self.order]
        return result

    def exact(self, columns: list[Any], keep: tuple[int, ...] = ()) -> list[Any]:
        """Make each duplicate row an exact copy of its first occurrence.

        Columns drawn per output row (a class, a stale address, a date style) would otherwise
        differ between a row and its duplicate. Columns in ``keep`` (a running 序号) stay as
        they are, as a re-keyed duplicate gets a new serial number.
        """
        source = self.first_occurrence()
        return [
            column if i in keep or not isinstance(column, np.ndarray) else column[source]
            for i, column in enumerate(columns)
        ]

    def exact_values(self, values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """One column made exact (see :meth:`exact`), e.g. per-row defects drawn after ordering."""
        result: npt.NDArray[Any] = values[self.first_occurrence()]
        return result

    def exact_frame(self, records: pl.DataFrame) -> pl.DataFrame:
        """:meth:`exact` for a frame of output rows."""
        return records[self.first_occurrence()]


def render_people(
    ctx: ExportContext,
    ids: ObjArray,
    *,
    multiplier: float = 1.0,
    id_missing_rate: float = 0.03,
    duplicates: bool = True,
) -> RenderedPeople:
    """True facts of ``ids`` with name, sex, birth date and ID defects applied, then duplicated."""
    facts = ctx.persons(ids)
    n = facts.height
    person_noise = PersonNoise(ctx.rng, ctx.config.noise, multiplier)
    defects = _Defects(n)
    name = person_noise.names(facts["name"].to_numpy().astype(object), defects)
    sex = person_noise.sexes(facts["sex"].to_numpy().astype(object), defects)
    birth = _np_dates(facts["birth_date"])
    noisy_birth = person_noise.birth_dates(birth, defects)
    id_number = person_noise.id_numbers(
        facts["id_number"].to_numpy().astype(object),
        defects,
        id_missing_rate,
        born_before_2000=_is_adult_born_before_2000(birth),
    )
    order = person_noise.duplicate_rows(n) if duplicates else np.arange(n)
    duplicate = np.zeros(order.size, dtype=bool)
    seen = np.zeros(n, dtype=bool)
    for i, row in enumerate(order):  # marks the second occurrence; O(rows) over ints only
        duplicate[i] = seen[row]
        seen[row] = True
    all_defects = defects.extend(order, duplicate)
    return RenderedPeople(
        facts=facts[order],
        name=name[order],
        sex=sex[order],
        birth_date=noisy_birth[order],
        id_number=id_number[order],
        defects=all_defects.joined(),
        order=order,
    )


GRADE_ZH = {
    1: "一年级",
    2: "二年级",
    3: "三年级",
    4: "四年级",
    5: "五年级",
    6: "六年级",
    7: "初一",
    8: "初二",
    9: "初三",
    10: "高一",
    11: "高二",
    12: "高三",
}
EDUCATION_DATE_STYLES = {
    DateStyle.ISO: 0.3,
    DateStyle.SLASH: 0.4,
    DateStyle.CHINESE: 0.2,
    DateStyle.DOTTED: 0.1,
}


def student_numbers(ctx: ExportContext, child_ids: ObjArray) -> ObjArray:
    """National student number: ``G`` + true ID number, or ``L`` + a temporary number."""
    facts = ctx.persons(child_ids)
    ids = facts["id_number"].to_numpy().astype(object)
    temp = np.char.add("L", _zfill(ctx.rng.integers(0, 10**12, ids.size).astype(str), 17)).astype(
        object
    )
    known = np.array([isinstance(v, str) for v in ids], dtype=bool)
    result: ObjArray = np.where(
        known, np.char.add("G", np.where(known, ids, "").astype(str)).astype(object), temp
    )
    return result


def export_education(ctx: ExportContext) -> list[Path]:
    """学籍 registry per school year (XLSX, Chinese headers) and monthly attendance."""
    out = ctx.out_dir / "education"
    out.mkdir(parents=True, exist_ok=True)
    enrolments = ctx.timeline.enrolments
    all_students = enrolments["child_id"].unique(maintain_order=True).to_numpy().astype(object)
    number_of = dict(zip(all_students, student_numbers(ctx, all_students), strict=True))
    transfers = ctx.timeline.transfers
    sheets = []
    registry = "student_registry.xlsx"
    for year in sorted(enrolments["school_year"].unique().to_list()):
        rows = enrolments.filter(pl.col("school_year") == year)
        year_end = np.datetime64(f"{year + 1}-08-31")
        moved_in = transfers.filter(
            (pl.col("transfer_date") >= dt.date(year, 9, 1))
            & (pl.col("transfer_date") <= dt.date(year + 1, 8, 31))
        ).unique("child_id", keep="last")
        rows = rows.join(
            moved_in.select("child_id", "transfer_date", "to_school_id"), on="child_id", how="left"
        )
        people = render_people(
            ctx, rows["child_id"].to_numpy().astype(object), id_missing_rate=0.01
        )
        rows = rows[people.order]
        status = np.where(
            rows["status"].to_numpy() == "dropped_out",
            "辍学",
            np.where(rows["transfer_date"].is_not_null().to_numpy(), "转入", "在读"),
        ).astype(object)
        change_date = np.where(
            status == "辍学",
            _np_dates(rows["dropout_date"]),
            _np_dates(rows["transfer_date"]),
        )
        school = rows["to_school_id"].fill_null(rows["school_id"]).to_numpy()
        facts = people.facts
        address = ctx.stale_addresses(facts, np.full(facts.height, year_end))
        sheet = f"{year}学年"
        header = [
            "学籍号",
            "姓名",
            "性别",
            "出生日期",
            "身份证号",
            "民族",
            "学校名称",
            "年级",
            "班级",
            "入学日期",
            "学籍状态",
            "变动日期",
            "监护人姓名",
            "联系电话",
            "家庭住址",
        ]
        columns = [
            np.array([number_of[c] for c in rows["child_id"].to_numpy()], dtype=object),
            people.name,
            np.array([SEX_ZH[s] for s in people.sex], dtype=object),
            _mixed_dates(ctx.rng, people.birth_date, EDUCATION_DATE_STYLES, native_share=0.6),
            people.id_number,
            facts["ethnicity"].to_numpy().astype(object),
            np.array([ctx.school_name[s] for s in school], dtype=object),
            np.array([GRADE_ZH[g] for g in rows["grade"].to_numpy()], dtype=object),
            np.char.add(ctx.rng.integers(1, 7, rows.height).astype(str), "班").astype(object),
            _mixed_dates(
                ctx.rng, _np_dates(rows["entry_date"]), EDUCATION_DATE_STYLES, native_share=0.8
            ),
            status,
            _mixed_dates(ctx.rng, change_date, EDUCATION_DATE_STYLES, native_share=0.8),
            facts["guardian_name"].to_numpy().astype(object),
            facts["guardian_phone"].to_numpy().astype(object),
            address,
        ]
        sheets.append((sheet, header, people.exact(columns)))
        ctx.truth.add(
            "education_registry",
            f"education/{registry}",
            sheet,
            rows["child_id"].to_numpy().astype(object),
            "subject",
            people.defects,
        )
    write_xlsx(out / registry, sheets)
    ctx.progress("education registry")

    attendance = ctx.timeline.attendance.with_columns(
        semester=pl.when(pl.col("month").dt.month() >= 8)
        .then(pl.format("{}年秋季学期", pl.col("month").dt.year()))
        .when(pl.col("month").dt.month() == 1)
        .then(pl.format("{}年秋季学期", pl.col("month").dt.year() - 1))
        .otherwise(pl.format("{}年春季学期", pl.col("month").dt.year()))
    )
    sheets = []
    for semester in attendance["semester"].unique(maintain_order=True).to_list():
        rows = attendance.filter(pl.col("semester") == semester)
        ids = rows["child_id"].to_numpy().astype(object)
        names = ctx.persons(ids)["name"].to_numpy().astype(object)
        header = ["学籍号", "姓名", "学校名称", "月份", "应出勤天数", "缺勤天数"]
        columns = [
            np.array([number_of[c] for c in ids], dtype=object),
            names,
            np.array([ctx.school_name[s] for s in rows["school_id"].to_numpy()], dtype=object),
            rows.select(pl.col("month").dt.strftime("%Y-%m"))["month"].to_numpy().astype(object),
            rows["school_days"].to_numpy(),
            rows["absent_days"].to_numpy(),
        ]
        sheets.append((semester, header, columns))
        ctx.truth.add("education_attendance", "education/attendance.xlsx", semester, ids, "subject")
    write_xlsx(out / "attendance.xlsx", sheets)
    ctx.progress("education attendance")
    return [out / registry, out / "attendance.xlsx"]


CIVIL_DATE_STYLES = {
    DateStyle.ISO: 0.35,
    DateStyle.SLASH: 0.25,
    DateStyle.COMPACT: 0.15,
    DateStyle.CHINESE: 0.15,
    DateStyle.EXCEL_SERIAL: 0.1,
}


def export_civil_affairs(ctx: ExportContext) -> list[Path]:
    """Welfare rolls (低保, orphans, de-facto unsupported, left-behind, disability) in GBK CSV."""
    out = ctx.out_dir / "civil_affairs"
    out.mkdir(parents=True, exist_ok=True)
    rows = ctx.timeline.welfare
    people = render_people(ctx, rows["child_id"].to_numpy().astype(object), id_missing_rate=0.02)
    rows = rows[people.order]
    facts = people.facts
    person_noise = PersonNoise(ctx.rng, ctx.config.noise)
    # Defects of the guardian's name, ID number and phone belong to the guardian's truth record;
    # the child's own blanked fields to the child's.
    guardian_defects = _Defects(facts.height)
    child_extra = _Defects(facts.height)
    guardian_name = person_noise.names(
        facts["guardian_name"].to_numpy().astype(object), guardian_defects
    )
    guardian_id = person_noise.id_numbers(
        facts["guardian_id_number"].to_numpy().astype(object),
        guardian_defects,
        0.05,
        born_before_2000=np.ones(facts.height, dtype=bool),
    )
    export_day = np.datetime64(ctx.config.end, "D")
    village = facts["village_code"].to_numpy()
    township = np.array([ctx.region_name[v[:9] + "000"] for v in village], dtype=object)
    header = [
        "序号",
        "姓名",
        "身份证号码",
        "性别",
        "出生日期",
        "民族",
        "救助类别",
        "享受起始日期",
        "终止日期",
        "月救助金额(元)",
        "监护人姓名",
        "监护人身份证号",
        "监护人联系电话",
        "所在乡镇",
        "所在村(社区)",
        "家庭住址",
    ]
    columns = [
        np.arange(1, rows.height + 1),
        people.name,
        people.id_number,
        np.array([SEX_ZH[s] for s in people.sex], dtype=object),
        _mixed_dates(ctx.rng, people.birth_date, CIVIL_DATE_STYLES),
        person_noise.blanks(facts["ethnicity"].to_numpy().astype(object), child_extra, "ethnicity"),
        rows["programme"].to_numpy().astype(object),
        _mixed_dates(ctx.rng, _np_dates(rows["start_date"]), CIVIL_DATE_STYLES),
        _mixed_dates(ctx.rng, _np_dates(rows["end_date"]), CIVIL_DATE_STYLES),
        rows["monthly_amount"].to_numpy(),
        guardian_name,
        guardian_id,
        person_noise.blanks(
            facts["guardian_phone"].to_numpy().astype(object), guardian_defects, "phone"
        ),
        township,
        np.array([ctx.region_name[v] for v in village], dtype=object),
        ctx.stale_addresses(facts, np.full(facts.height, export_day)),
    ]
    path = out / "welfare_rolls.csv"
    write_csv(path, header, people.exact(columns, keep=(0,)), encoding="gbk")
    defects = _join_defects(people.defects, people.exact_values(child_extra.joined()))
    ctx.truth.add(
        "civil_affairs_welfare",
        "civil_affairs/welfare_rolls.csv",
        None,
        rows["child_id"].to_numpy().astype(object),
        "subject",
        defects,
    )
    ctx.truth.add(
        "civil_affairs_welfare",
        "civil_affairs/welfare_rolls.csv",
        None,
        facts["guardian_id"].to_numpy().astype(object),
        "guardian",
        people.exact_values(guardian_defects.joined()),
    )
    ctx.progress("civil affairs welfare rolls")
    return [path]


def _join_defects(a: ObjArray, b: ObjArray) -> ObjArray:
    pair = frame({"a": a, "b": b}, {"a": pl.String, "b": pl.String})
    joined = pair.select(
        pl.concat_str(
            [pl.when(pl.col("a") != "").then("a"), pl.when(pl.col("b") != "").then("b")],
            separator=";",
            ignore_nulls=True,
        ).alias("d")
    )
    result: ObjArray = joined["d"].to_numpy().astype(object)
    return result


def _household_heads(adults: pl.DataFrame) -> pl.DataFrame:
    """The head of each household: father, else grandfather, else mother, else grandmother."""
    priority = {"father": 0, "grandfather": 1, "mother": 2, "grandmother": 3}
    return (
        adults.with_columns(p=pl.col("role").replace_strict(priority, return_dtype=pl.Int64))
        .sort("household_id", "p")
        .group_by("household_id", maintain_order=True)
        .agg(
            pl.col("role").first().alias("head_role"), pl.col("person_id").first().alias("head_id")
        )
    )


_RELATION_TO_HEAD = {
    # (head role, member role) -> relation as written in the household register
    ("father", "mother"): "配偶",
    ("father", "grandfather"): "父亲",
    ("father", "grandmother"): "母亲",
    ("grandfather", "grandmother"): "配偶",
    ("grandfather", "father"): "儿子",
    ("grandfather", "mother"): "儿媳",
    ("mother", "grandfather"): "公公",
    ("mother", "grandmother"): "婆婆",
    ("grandmother", "father"): "儿子",
    ("grandmother", "mother"): "儿媳",
}


def export_public_security(ctx: ExportContext) -> list[Path]:
    """Household register 户籍, incidents 警情 and the floating-population registry (pinyin)."""
    out = ctx.out_dir / "public_security"
    out.mkdir(parents=True, exist_ok=True)
    end = np.datetime64(ctx.config.end, "D")
    registered_households = ctx.household.filter(~pl.col("migrant"))["household_id"]
    heads = _household_heads(ctx.adult)
    kids = ctx.child.filter(
        pl.col("household_id").is_in(registered_households.implode())
        & ~pl.col("unregistered")
        & (pl.col("birth_date") < pl.lit(end - np.timedelta64(60, "D")).cast(pl.Date))
    ).select(
        pl.col("child_id").alias("entity_id"),
        "household_id",
        pl.col("sex").alias("sex"),
        pl.lit("child").alias("role"),
    )
    grown = ctx.adult.filter(pl.col("household_id").is_in(registered_households.implode())).select(
        pl.col("person_id").alias("entity_id"), "household_id", "sex", "role"
    )
    members = (
        pl.concat([grown, kids]).join(heads, on="household_id").sort("household_id", "entity_id")
    )
    relation = []
    for head_role, head_id, entity_id, role, sex in members.select(
        "head_role", "head_id", "entity_id", "role", "sex"
    ).iter_rows():
        if entity_id == head_id:
            relation.append("户主")
        elif role == "child":
            grand = head_role in ("grandfather", "grandmother")
            relation.append(
                ("孙子" if sex == "M" else "孙女") if grand else ("儿子" if sex == "M" else "女儿")
            )
        else:
            relation.append(_RELATION_TO_HEAD.get((head_role, role), "其他"))
    people = render_people(
        ctx, members["entity_id"].to_numpy().astype(object), multiplier=0.3, id_missing_rate=0.0
    )
    facts = people.facts
    members = members[people.order]
    relation_arr = np.array(relation, dtype=object)[people.order]
    household_number = np.char.add(
        ctx.config.county_code,
        _zfill(np.char.lstrip(members["household_id"].to_numpy().astype(str), "H"), 7),
    ).astype(object)
    registered_on = facts["birth_date"].to_numpy().astype("datetime64[D]") + ctx.rng.integers(
        5, 200, facts.height
    ).astype("timedelta64[D]")
    header = [
        "户号",
        "姓名",
        "公民身份号码",
        "性别",
        "出生日期",
        "民族",
        "与户主关系",
        "户籍地址",
        "登记日期",
    ]
    columns = [
        household_number,
        people.name,
        people.id_number,
        np.array([SEX_CODE[s] for s in people.sex], dtype=object),
        noise.format_dates(ctx.rng, people.birth_date, {DateStyle.COMPACT: 1.0}),
        facts["ethnicity"].to_numpy().astype(object),
        relation_arr,
        ctx.stale_addresses(facts, np.full(facts.height, end)),
        noise.format_dates(ctx.rng, registered_on, {DateStyle.COMPACT: 1.0}),
    ]
    register_path = out / "household_register.csv"
    write_csv(register_path, header, people.exact(columns), encoding="utf-8")
    ctx.truth.add(
        "public_security_household",
        "public_security/household_register.csv",
        None,
        members["entity_id"].to_numpy().astype(object),
        "subject",
        people.defects,
    )
    ctx.progress("public security household register")

    incidents_path = _export_incidents(ctx, out, heads)
    floating_path = _export_floating_population(ctx, out)
    return [register_path, incidents_path, floating_path]


_DISPOSAL = {
    "domestic_violence": ("现场调解", "出具告诫书", "批评教育", "移交妇联跟进", "治安处罚"),
    "street_child": ("护送至救助站", "联系监护人领回", "移交民政部门"),
}
_KIND_ZH = {"domestic_violence": "家庭暴力", "street_child": "流浪乞讨未成年人"}


def _export_incidents(ctx: ExportContext, out: Path, heads: pl.DataFrame) -> Path:
    incidents = ctx.timeline.incidents.with_row_index("incident_row")
    n = incidents.height
    is_dv = incidents["kind"].to_numpy() == "domestic_violence"
    # The party of a domestic-violence call-out is the head of the household; for a street child
    # pick-up it is the child.
    party = incidents.join(heads, on="household_id", how="left").sort("incident_row")
    party_id = np.where(
        is_dv, party["head_id"].to_numpy(), incidents["child_id"].to_numpy()
    ).astype(object)
    people = render_people(ctx, party_id, multiplier=1.5, id_missing_rate=0.25, duplicates=False)
    incident_day = _np_dates(incidents["incident_date"])
    # Minors living in the household on the day.
    minors = (
        incidents.filter(pl.col("kind") == "domestic_violence")
        # The incident's own (null) child_id would shadow the minors' ids in the join.
        .drop("child_id")
        .join(
            ctx.child.select("child_id", "household_id", "name", "birth_date"),
            on="household_id",
        )
        .filter(pl.col("birth_date") <= pl.col("incident_date"))
    )
    names_by_row = minors.group_by("incident_row").agg(
        pl.col("name").str.join("、").alias("minors")
    )
    minor_names = (
        incidents.select("incident_row")
        .join(names_by_row, on="incident_row", how="left")
        .sort("incident_row")
    )["minors"].to_numpy()
    hours = ctx.rng.integers(0, 24 * 60, n).astype("timedelta64[m]")
    when = (incident_day.astype("datetime64[m]") + hours).astype(str)
    numbers = np.char.add(
        "J",
        np.char.add(
            _replace(incident_day.astype(str), "-", ""),
            _zfill((np.arange(n) % 10_000).astype(str), 4),
        ),
    )
    disposal = np.array(
        [ctx.rng.choice(_DISPOSAL[k]) for k in incidents["kind"].to_numpy()], dtype=object
    )
    header = [
        "警情编号",
        "接警时间",
        "警情类别",
        "发生地址",
        "当事人姓名",
        "当事人身份证号",
        "涉及未成年人",
        "处置结果",
    ]
    columns = [
        numbers.astype(object),
        _replace(when, "T", " ").astype(object),
        np.array([_KIND_ZH[k] for k in incidents["kind"].to_numpy()], dtype=object),
        ctx.stale_addresses(people.facts, incident_day),
        people.name,
        people.id_number,
        minor_names.astype(object),
        disposal,
    ]
    path = out / "incidents.csv"
    write_csv(path, header, columns, encoding="utf-8")
    file = "public_security/incidents.csv"
    rows = np.arange(1, n + 1)
    ctx.truth.add(
        "public_security_incidents",
        file,
        None,
        party_id[is_dv],
        "party",
        people.defects[is_dv],
        row_number=rows[is_dv],
    )
    ctx.truth.add(
        "public_security_incidents",
        file,
        None,
        party_id[~is_dv],
        "subject",
        people.defects[~is_dv],
        row_number=rows[~is_dv],
    )
    if minors.height:
        ctx.truth.add(
            "public_security_incidents",
            file,
            None,
            minors["child_id"].to_numpy().astype(object),
            "involved_minor",
            row_number=minors["incident_row"].to_numpy() + 1,
        )
    ctx.progress("public security incidents")
    return path


def _export_floating_population(ctx: ExportContext, out: Path) -> Path:
    """Migrant families as registered by the sending province: names only in pinyin."""
    migrant_households = ctx.household.filter(pl.col("migrant"))["household_id"].implode()
    kids = ctx.child.filter(pl.col("household_id").is_in(migrant_households))["child_id"]
    grown = ctx.adult.filter(
        pl.col("household_id").is_in(migrant_households)
        & pl.col("role").is_in(["father", "mother"])
        & ~pl.col("migrated")
    )["person_id"]
    ids = pl.concat([kids, grown]).to_numpy().astype(object)
    people = render_people(ctx, ids, multiplier=0.5, id_missing_rate=0.05)
    facts = people.facts
    # Registries of other provinces spell names as "Zhang Wei", "ZHANG WEI" or "zhangwei".
    spelled = pl.Series(noise.to_pinyin_names(people.name).tolist(), dtype=pl.String)
    style = pl.Series(ctx.rng.random(spelled.len()))
    pinyin = (
        pl.DataFrame({"p": spelled, "s": style})
        .select(
            pl.when(pl.col("s") < 0.3)
            .then(pl.col("p").str.to_uppercase())
            .when(pl.col("s") > 0.85)
            .then(pl.col("p").str.to_lowercase().str.replace_all(" ", ""))
            .otherwise(pl.col("p"))
        )
        .to_series()
        .to_numpy()
        .astype(object)
    )
    origin_name = dict(ORIGIN_COUNTIES)
    origin = np.array(
        [
            origin_name.get(v[:6], "") if isinstance(v, str) else ""
            for v in facts["id_number"].to_numpy()
        ],
        dtype=object,
    )
    registered = _np_dates(facts["birth_date"]) + ctx.rng.integers(30, 2000, facts.height).astype(
        "timedelta64[D]"
    )
    registered = np.minimum(registered, np.datetime64(ctx.config.end, "D") - np.timedelta64(1, "D"))
    header = ["XM", "GMSFHM", "XB", "CSRQ", "MZ", "HJDZ", "XZZ", "DJRQ", "JZSY"]
    is_child = np.char.startswith(facts["entity_id"].to_numpy().astype(str), "C")
    columns = [
        pinyin,
        people.id_number,
        np.array([SEX_CODE[s] for s in people.sex], dtype=object),
        noise.format_dates(ctx.rng, people.birth_date, {DateStyle.COMPACT: 1.0}),
        facts["ethnicity"].to_numpy().astype(object),
        origin,
        facts["address"].to_numpy().astype(object),
        noise.format_dates(ctx.rng, registered, {DateStyle.COMPACT: 1.0}),
        np.where(is_child, "随迁", "务工").astype(object),
    ]
    path = out / "floating_population.csv"
    write_csv(path, header, people.exact(columns), encoding="utf-8")
    ctx.truth.add(
        "public_security_floating",
        "public_security/floating_population.csv",
        None,
        facts["entity_id"].to_numpy().astype(object),
        "subject",
        people.defects,
    )
    ctx.progress("public security floating population")
    return path


DIAGNOSIS_ZH = {
    "S00.0": "头皮浅表损伤",
    "S01.8": "头部其他部位开放性伤口",
    "S09.9": "头部损伤",
    "S40.0": "肩和上臂挫伤",
    "S50.0": "肘挫伤",
    "S52.5": "桡骨下端骨折",
    "S60.2": "腕和手其他部位挫伤",
    "S80.0": "膝挫伤",
    "S93.4": "踝扭伤",
    "T14.0": "身体未特指部位浅表损伤",
    "T20.1": "头颈部一度烧伤",
    "W19": "跌倒",
    "T74.1": "身体虐待",
    "T74.0": "忽视或遗弃",
    "Y07.0": "配偶或伴侣所致虐待",
    "Y07.1": "父母所致虐待",
    "S00.8": "头部其他部位浅表损伤",
    "J06.9": "急性上呼吸道感染",
    "J20.9": "急性支气管炎",
    "A09": "感染性腹泻",
    "K52.9": "非感染性胃肠炎",
    "R50.9": "发热",
    "H66.9": "中耳炎",
    "L20.9": "特应性皮炎",
    "Z00.1": "儿童常规健康检查",
    "Z23": "预防接种",
    "J45.9": "哮喘",
    "B01.9": "水痘",
    "K35.8": "急性阑尾炎",
    "F32.2": "重度抑郁发作",
    "F41.1": "广泛性焦虑障碍",
    "F43.2": "适应障碍",
    "R45.8": "自杀意念",
    "X78": "故意自伤(锐器)",
    "X84": "故意自伤",
    "F92.0": "抑郁性品行障碍",
    "F32.0": "轻度抑郁发作",
    "F41.9": "焦虑障碍",
    "F93.0": "儿童分离性焦虑障碍",
    "F93.8": "儿童其他情绪障碍",
    "F51.0": "非器质性失眠症",
}
_DEPARTMENT = {
    "routine": "儿科",
    "injury": "急诊外科",
    "maltreatment_injury": "急诊外科",
    "mental_health_crisis": "精神心理科",
    "mental_health_outpatient": "心理门诊",
}


def export_health(ctx: ExportContext) -> list[Path]:
    """Clinic and hospital visits and school mental-health screenings as JSON lines."""
    out = ctx.out_dir / "health"
    out.mkdir(parents=True, exist_ok=True)
    visits = ctx.timeline.health_visits
    ids = visits["child_id"].to_numpy().astype(object)
    people = render_people(ctx, ids, id_missing_rate=0.15)
    visits = visits[people.order]
    facts = people.facts
    visit_day = _np_dates(visits["visit_date"])
    age_days = (visit_day - _np_dates(facts["birth_date"])).astype(np.int64)
    # Babies in their first weeks are often recorded as "<mother>之子/之女" without an ID number.
    mothers = ctx.adult.select(
        pl.col("person_id").alias("mother_id"), pl.col("name").alias("mother_name")
    )
    mother_name = (
        facts.select("entity_id")
        .join(
            ctx.child.select(pl.col("child_id").alias("entity_id"), "mother_id"),
            on="entity_id",
            how="left",
        )
        .join(mothers, on="mother_id", how="left")["mother_name"]
        .to_numpy()
    )
    newborn = (
        (age_days < 60)
        & np.array([isinstance(m, str) for m in mother_name], dtype=bool)
        & (ctx.rng.random(facts.height) < 0.7)
    )
    newborn = people.exact_values(newborn)
    name = people.name.copy()
    id_number = people.id_number.copy()
    sex = people.sex
    for i in np.flatnonzero(newborn):
        name[i] = placeholder_newborn_name(str(mother_name[i]), sex[i] == "M")
        id_number[i] = None
    defects = _join_defects(
        people.defects, np.where(newborn, "newborn_placeholder", "").astype(object)
    )
    kind = visits["kind"].to_numpy()
    hospital = (kind != "routine") | (ctx.rng.random(kind.size) < 0.3)
    village = facts["village_code"].to_numpy()
    clinic = np.array([f"{ctx.region_name[v[:9] + '000']}卫生院" for v in village], dtype=object)
    facility = np.where(hospital, f"{ctx.config.county_name}人民医院", clinic)
    gender_as_code = ctx.rng.random(kind.size) < 0.4
    hours = ctx.rng.integers(7 * 60, 22 * 60, kind.size).astype("timedelta64[m]")
    records = frame(
        {
            "record_id": np.char.add("HV", _zfill(np.arange(1, kind.size + 1).astype(str), 9)),
            "patient_name": name,
            "id_no": id_number,
            "gender": np.where(
                gender_as_code,
                np.array([SEX_CODE[s] for s in sex]),
                np.array([SEX_ZH[s] for s in sex]),
            ),
            "birth_date": noise.format_dates(
                ctx.rng, people.birth_date, {DateStyle.ISO: 0.8, DateStyle.COMPACT: 0.2}
            ),
            "visit_time": _replace(
                (visit_day.astype("datetime64[m]") + hours).astype(str), "T", " "
            ),
            "facility": facility,
            "department": np.array([_DEPARTMENT[k] for k in kind], dtype=object),
            "icd10": visits["icd10"].to_numpy(),
            "diagnosis": np.array(
                [DIAGNOSIS_ZH[c] for c in visits["icd10"].to_numpy()], dtype=object
            ),
            "injury": np.isin(kind, ["injury", "maltreatment_injury"]),
            "inpatient": visits["inpatient"].to_numpy(),
            "guardian_name": facts["guardian_name"].to_numpy().astype(object),
            "guardian_phone": facts["guardian_phone"].to_numpy().astype(object),
            "address": ctx.stale_addresses(facts, visit_day),
        },
        schema_overrides={
            "id_no": pl.String,
            "birth_date": pl.String,
            "guardian_name": pl.String,
            "guardian_phone": pl.String,
            "address": pl.String,
            "patient_name": pl.String,
        },
    )
    visits_path = out / "visits.jsonl"
    write_jsonl(visits_path, people.exact_frame(records))
    ctx.truth.add(
        "health_visits",
        "health/visits.jsonl",
        None,
        visits["child_id"].to_numpy().astype(object),
        "subject",
        defects,
    )
    ctx.progress("health visits")

    screenings = ctx.timeline.screenings
    people = render_people(
        ctx, screenings["child_id"].to_numpy().astype(object), multiplier=0.5, id_missing_rate=0.05
    )
    screenings = screenings[people.order]
    records = frame(
        {
            "screening_id": np.char.add(
                "MH", _zfill(np.arange(1, screenings.height + 1).astype(str), 9)
            ),
            "name": people.name,
            "id_no": people.id_number,
            "gender": np.array([SEX_ZH[s] for s in people.sex], dtype=object),
            "birth_date": noise.format_dates(ctx.rng, people.birth_date, {DateStyle.ISO: 1.0}),
            "school": np.array(
                [ctx.school_name[s] for s in screenings["school_id"].to_numpy()], dtype=object
            ),
            "screening_date": noise.format_dates(
                ctx.rng, _np_dates(screenings["screening_date"]), {DateStyle.ISO: 1.0}
            ),
            "instrument": screenings["instrument"].to_numpy(),
            "score": screenings["score"].to_numpy(),
        },
        schema_overrides={"id_no": pl.String, "name": pl.String},
    )
    screenings_path = out / "mental_health_screenings.jsonl"
    write_jsonl(screenings_path, people.exact_frame(records))
    ctx.truth.add(
        "health_screenings",
        "health/mental_health_screenings.jsonl",
        None,
        screenings["child_id"].to_numpy().astype(object),
        "subject",
        people.defects,
    )
    ctx.progress("health screenings")
    return [visits_path, screenings_path]


HAND_TYPED_DATE_STYLES = {
    DateStyle.ISO: 0.15,
    DateStyle.SLASH: 0.3,
    DateStyle.CHINESE: 0.25,
    DateStyle.DOTTED: 0.15,
    DateStyle.COMPACT: 0.05,
    DateStyle.EXCEL_SERIAL: 0.1,
}
_SITUATION_ZH = {
    "both_parents": "父母在家，家庭关系一般",
    "both_migrated": "父母均外出务工，由祖父母照料",
    "one_migrated": "父亲或母亲外出务工",
    "single_parent": "单亲家庭，经济较困难",
    "one_deceased": "父母一方去世",
    "orphaned": "父母双亡，由亲属抚养",
    "de_facto_unsupported": "父母无力履行抚养义务，由亲属代为照料",
}
_VISITORS = ("王主任", "李大姐", "刘专干", "陈主任", "杨社工", "赵专干")


def export_womens_federation(ctx: ExportContext) -> list[Path]:
    """Community home visits, typed by hand into a spreadsheet with a title row."""
    out = ctx.out_dir / "womens_federation"
    out.mkdir(parents=True, exist_ok=True)
    visits = ctx.timeline.home_visits.sort("visit_date")
    people = render_people(
        ctx, visits["child_id"].to_numpy().astype(object), multiplier=2.5, id_missing_rate=0.6
    )
    visits = visits[people.order]
    facts = people.facts
    day = _np_dates(visits["visit_date"])
    age = ((day - _np_dates(facts["birth_date"])).astype(np.int64) // 365).astype(object)
    person_noise = PersonNoise(ctx.rng, ctx.config.noise, 2.5)
    extra = _Defects(facts.height)
    situation = (
        facts.select("household_id")
        .join(ctx.household.select("household_id", "situation"), on="household_id", how="left")[
            "situation"
        ]
        .to_numpy()
    )
    note = np.array([_SITUATION_ZH[s] for s in situation], dtype=object)
    concern = visits["concern"].to_numpy()
    after_call = visits["after_call_out"].to_numpy()
    note = np.where(
        after_call,
        np.char.add(note.astype(str), "；近期有家暴警情，需持续关注").astype(object),
        note,
    )
    note = np.where(
        concern, np.char.add(note.astype(str), "；儿童身上有伤痕，情绪低落").astype(object), note
    )
    village = facts["village_code"].to_numpy()
    header = [
        "序号",
        "走访日期",
        "村（社区）",
        "儿童姓名",
        "性别",
        "年龄",
        "出生日期",
        "身份证号",
        "监护人",
        "联系电话",
        "家庭情况",
        "是否存在风险",
        "走访人",
    ]
    birth_text = _mixed_dates(ctx.rng, people.birth_date, HAND_TYPED_DATE_STYLES, native_share=0.2)
    columns = [
        np.arange(1, facts.height + 1),
        _mixed_dates(ctx.rng, day, HAND_TYPED_DATE_STYLES, native_share=0.4),
        np.array([ctx.region_name[v] for v in village], dtype=object),
        people.name,
        np.array([SEX_ZH[s] for s in people.sex], dtype=object),
        person_noise.blanks(age, extra, "age"),
        noise.drop_values(birth_text, ctx.rng.random(facts.height) < 0.5),
        people.id_number,
        person_noise.blanks(
            facts["guardian_name"].to_numpy().astype(object), extra, "guardian_name"
        ),
        person_noise.blanks(facts["guardian_phone"].to_numpy().astype(object), extra, "phone"),
        note,
        np.where(concern | after_call, "是", "否").astype(object),
        ctx.rng.choice(np.array(_VISITORS, dtype=object), facts.height),
    ]
    path = out / "home_visits.xlsx"
    title = f"{ctx.config.county_name}妇联儿童之家入户走访记录表"
    write_xlsx(path, [("走访记录", header, people.exact(columns, keep=(0,)))], title_row=title)
    ctx.truth.add(
        "womens_federation_visits",
        "womens_federation/home_visits.xlsx",
        "走访记录",
        visits["child_id"].to_numpy().astype(object),
        "subject",
        _join_defects(people.defects, people.exact_values(extra.joined())),
    )
    ctx.progress("women's federation home visits")
    return [path]


_REPORT_REASON = (
    "疑似遭受家庭暴力",
    "疑似遭受虐待",
    "疑似被遗弃或监护缺失",
    "疑似遭受性侵害",
    "不明原因受伤",
)
_REPORTER = {
    "school": "学校",
    "hospital": "医院",
    "community": "居（村）委会",
    "neighbour": "群众举报",
}
_RESULT = ("已移送公安机关", "已通报民政部门", "已督促监护人履职", "经核查不属实", "正在核查")


def export_procuratorate(ctx: ExportContext) -> list[Path]:
    """Mandatory reports 强制报告 received by the procuratorate, CSV."""
    out = ctx.out_dir / "procuratorate"
    out.mkdir(parents=True, exist_ok=True)
    reports = ctx.timeline.mandatory_reports
    people = render_people(
        ctx, reports["child_id"].to_numpy().astype(object), multiplier=1.5, id_missing_rate=0.4
    )
    reports = reports[people.order]
    facts = people.facts
    day = _np_dates(reports["report_date"])
    age = ((day - _np_dates(facts["birth_date"])).astype(np.int64) // 365).astype(object)
    substantiated = reports["substantiated"].to_numpy()
    result = np.where(
        substantiated,
        ctx.rng.choice(np.array(_RESULT[:3], dtype=object), facts.height),
        ctx.rng.choice(np.array(_RESULT[3:], dtype=object), facts.height),
    )
    header = [
        "报告编号",
        "报告日期",
        "报告单位类型",
        "未成年人姓名",
        "性别",
        "年龄",
        "出生日期",
        "身份证号",
        "监护人",
        "住址",
        "报告事由",
        "处理情况",
    ]
    columns = [
        np.char.add("QZBG", _zfill(np.arange(1, facts.height + 1).astype(str), 6)).astype(object),
        noise.format_dates(ctx.rng, day, {DateStyle.CHINESE: 0.7, DateStyle.ISO: 0.3}),
        np.array([_REPORTER[k] for k in reports["reporter_kind"].to_numpy()], dtype=object),
        people.name,
        np.array([SEX_ZH[s] for s in people.sex], dtype=object),
        age,
        noise.drop_values(
            noise.format_dates(ctx.rng, people.birth_date, {DateStyle.CHINESE: 1.0}),
            ctx.rng.random(facts.height) < 0.4,
        ),
        people.id_number,
        facts["guardian_name"].to_numpy().astype(object),
        ctx.stale_addresses(facts, day),
        ctx.rng.choice(np.array(_REPORT_REASON, dtype=object), facts.height),
        result,
    ]
    path = out / "mandatory_reports.csv"
    write_csv(path, header, people.exact(columns), encoding="utf-8-sig")
    ctx.truth.add(
        "procuratorate_reports",
        "procuratorate/mandatory_reports.csv",
        None,
        reports["child_id"].to_numpy().astype(object),
        "subject",
        people.defects,
    )
    ctx.progress("procuratorate mandatory reports")
    return [path]


EXPORTERS: tuple[Callable[[ExportContext], list[Path]], ...] = (
    export_education,
    export_civil_affairs,
    export_public_security,
    export_health,
    export_womens_federation,
    export_procuratorate,
)
