"""The synthetic county as a whole: determinism, people, exports against ground truth, noise.

One county of 1,500 children (default noise) serves most tests; a second copy of it checks
determinism, a clean one (``NoiseRates(scale=0)``) checks that exports are exact without noise,
and a 4,000-child county gives the outcome tests enough events. Statistical checks use a
tolerance of four binomial standard errors around the configured rate.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import openpyxl
import polars as pl
import pytest

from childlink.core.id_number import parse, upgrade15
from childlink.errors import InvalidIdNumberError, SynthError
from childlink.synth.config import CategoryRates, NoiseRates, SynthConfig
from childlink.synth.events import OUTCOMES, WINDOW_MONTHS
from childlink.synth.geography import ORIGIN_COUNTIES
from childlink.synth.names import DEFAULT_MINORITY_MIX, homophones, split_name
from childlink.synth.noise import pinyin_name
from childlink.synth.service import PROGRESS_STEPS, SynthSummary, generate_county

CHILDREN = 1_500
SEED = 20_240_901
#: Minority groups that mostly use Han-style names (a surname and a given name).
HAN_STYLE_MINORITIES = ("苗族", "侗族", "布依族", "土家族", "回族")

Cell = Any  # a cell as read back: str, int, float, bool, datetime or None
Row = dict[str, Cell]
SheetKey = tuple[str, str | None]  # (file under exports/, sheet or None)


# --- reading a county back ---------------------------------------------------------------------


def read_export(exports_dir: Path, file: str) -> dict[str | None, list[Row]]:
    """Data rows (header → value) of each sheet of one export, read as a user would."""
    path = exports_dir / file
    if path.suffix == ".xlsx":
        workbook = openpyxl.load_workbook(path, read_only=True)
        try:
            sheets: dict[str | None, list[Row]] = {}
            for sheet in workbook.worksheets:
                rows = [tuple(row) for row in sheet.iter_rows(values_only=True)]
                if file.startswith("womens_federation/"):
                    # A hand-made sheet: a title row, a blank row, then the header.
                    assert rows[0][0] == "青山县妇联儿童之家入户走访记录表"
                    assert all(value is None for value in rows[1])
                    rows = rows[2:]
                header = [str(value) for value in rows[0]]
                sheets[sheet.title] = [dict(zip(header, row, strict=True)) for row in rows[1:]]
            return sheets
        finally:
            workbook.close()
    if path.suffix == ".jsonl":
        lines = path.read_text(encoding="utf-8").splitlines()
        return {None: [json.loads(line) for line in lines]}
    encoding = {"civil_affairs": "gbk", "procuratorate": "utf-8-sig"}.get(
        file.split("/")[0], "utf-8"
    )
    text = path.read_bytes().decode(encoding)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    return {None: [dict(zip(header, row, strict=True)) for row in reader]}


@dataclass(frozen=True)
class Columns:
    """Which columns of an export hold one person's name, ID number, sex and birth date."""

    name: str | None
    id_number: str | None
    sex: str | None = None
    birth_date: str | None = None


#: The person columns of the subject (or party) of each export's rows.
SUBJECT_COLUMNS: dict[str, Columns] = {
    "education/student_registry.xlsx": Columns("姓名", "身份证号", "性别", "出生日期"),
    "education/attendance.xlsx": Columns("姓名", None),
    "civil_affairs/welfare_rolls.csv": Columns("姓名", "身份证号码", "性别", "出生日期"),
    "public_security/household_register.csv": Columns("姓名", "公民身份号码", "性别", "出生日期"),
    "public_security/incidents.csv": Columns("当事人姓名", "当事人身份证号"),
    "public_security/floating_population.csv": Columns("XM", "GMSFHM", "XB", "CSRQ"),
    "health/visits.jsonl": Columns("patient_name", "id_no", "gender", "birth_date"),
    "health/mental_health_screenings.jsonl": Columns("name", "id_no", "gender", "birth_date"),
    "womens_federation/home_visits.xlsx": Columns("儿童姓名", "身份证号", "性别", "出生日期"),
    "procuratorate/mandatory_reports.csv": Columns("未成年人姓名", "身份证号", "性别", "出生日期"),
}
GUARDIAN_COLUMNS: dict[str, Columns] = {
    "civil_affairs/welfare_rolls.csv": Columns("监护人姓名", "监护人身份证号"),
}
PINYIN_FILES = {"public_security/floating_population.csv"}
SEX_CODES = {"男": "M", "女": "F", "1": "M", "2": "F"}
NAME_DEFECTS = {
    "name_homophone",
    "name_traditional",
    "name_space",
    "middle_dot_variant",
    "newborn_placeholder",
}
ID_DEFECTS = {
    "id_missing",
    "id_fullwidth",
    "id_lowercase_x",
    "id_wrong_check",
    "id_digit_typo",
    "id_transposition",
    "id_legacy15",
    "newborn_placeholder",
}
DOB_DEFECTS = {"dob_swapped_day_month", "dob_wrong"}
#: Exports that apply :class:`NoiseRates` unscaled (multiplier 1) to their person columns.
UNIT_NOISE_SOURCES = ("education_registry", "civil_affairs_welfare", "health_visits")
_FULLWIDTH_DIGITS = re.compile("[０-９Ｘｘ]")


def text(value: Cell) -> str | None:
    """A cell as text; ``None`` for an empty cell."""
    if value is None or value == "":
        return None
    return str(value)


def excel_serial_date(serial: int) -> dt.date:
    assert serial >= 61, "serials before 1900-03-01 do not occur here"
    return dt.date(1899, 12, 30) + dt.timedelta(days=serial)


def parse_date(value: Cell) -> dt.date | None:
    """Any of the date renderings the exports use, back to a date."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, int) and not isinstance(value, bool):
        return excel_serial_date(value)
    raw = str(value).strip()
    if re.fullmatch(r"\d{5}", raw):
        return excel_serial_date(int(raw))
    if match := re.fullmatch(r"(\d{4})(\d{2})(\d{2})", raw):
        return dt.date(*map(int, match.groups()))
    if match := re.fullmatch(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?", raw):
        return dt.date(*map(int, match.groups()))
    raise AssertionError(f"unknown date rendering {value!r}")


def normalise_id(value: str) -> str:
    """Full-width digits to ASCII and a lower-case ``x`` to ``X``, as ingestion would."""
    return unicodedata.normalize("NFKC", value).upper()


def defect_set(defects: str) -> set[str]:
    kinds = set(defects.split(";")) if defects else set()
    assert "" not in kinds, f"malformed defects {defects!r}"
    return kinds


@dataclass
class County:
    """A generated county and lazily read views of it."""

    root: Path
    config: SynthConfig
    summary: SynthSummary

    def truth(self, name: str) -> pl.DataFrame:
        return pl.read_parquet(self.root / "truth" / f"{name}.parquet")

    @cached_property
    def records(self) -> pl.DataFrame:
        return self.truth("records")

    @cached_property
    def children(self) -> pl.DataFrame:
        return self.truth("children")

    @cached_property
    def adults(self) -> pl.DataFrame:
        return self.truth("adults")

    @cached_property
    def households(self) -> pl.DataFrame:
        return self.truth("households")

    @cached_property
    def manifest(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads((self.root / "manifest.json").read_text("utf-8"))
        return result

    @cached_property
    def exports(self) -> dict[SheetKey, list[Row]]:
        out: dict[SheetKey, list[Row]] = {}
        for item in self.summary.exports:
            file = item.path.removeprefix("exports/")
            for sheet, rows in read_export(self.root / "exports", file).items():
                out[(file, sheet)] = rows
        return out

    @cached_property
    def people(self) -> dict[str, dict[str, Any]]:
        """True facts of every child and adult by entity id."""
        kids = self.children.select(
            pl.col("child_id").alias("entity_id"), "name", "sex", "birth_date", "id_number",
            "mother_id",
        )  # fmt: skip
        grown = self.adults.select(
            pl.col("person_id").alias("entity_id"), "name", "sex", "birth_date", "id_number",
            pl.lit(None, pl.String).alias("mother_id"),
        )  # fmt: skip
        return {row["entity_id"]: row for row in pl.concat([kids, grown]).iter_rows(named=True)}

    @cached_property
    def person_rows(self) -> list[dict[str, Any]]:
        """One entry per (export row, subject, party or guardian): the values the export shows
        next to the true facts of the person the ground truth says the row is about."""
        out: list[dict[str, Any]] = []
        for (file, sheet), rows in self.exports.items():
            truth = self.records.filter(
                (pl.col("file") == file)
                & pl.col("sheet").eq_missing(sheet)
                & (pl.col("role") != "involved_minor")
            )
            for number, entity_id, role, source, defects in truth.select(
                "row_number", "entity_id", "role", "source", "defects"
            ).iter_rows():
                columns = (GUARDIAN_COLUMNS if role == "guardian" else SUBJECT_COLUMNS)[file]
                row = rows[number - 1]
                true = self.people[entity_id]
                out.append(
                    {
                        "file": file,
                        "sheet": sheet,
                        "row_number": number,
                        "source": source,
                        "role": role,
                        "entity_id": entity_id,
                        "defects": defect_set(defects),
                        "name": text(row[columns.name]) if columns.name else None,
                        "id_number": text(row.get(columns.id_number))
                        if columns.id_number
                        else None,
                        "sex": SEX_CODES[str(row[columns.sex])] if columns.sex else None,
                        "birth_date": parse_date(row.get(columns.birth_date))
                        if columns.birth_date
                        else None,
                        "has_name": columns.name is not None and file not in PINYIN_FILES,
                        "has_id": columns.id_number is not None,
                        "true": true,
                    }
                )
        return out


def _generate(root: Path, config: SynthConfig) -> County:
    return County(root=root, config=config, summary=generate_county(config, root))


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> County:
    return _generate(tmp_path_factory.mktemp("county"), SynthConfig(children=CHILDREN, seed=SEED))


@pytest.fixture(scope="module")
def county_again(tmp_path_factory: pytest.TempPathFactory) -> County:
    return _generate(tmp_path_factory.mktemp("again"), SynthConfig(children=CHILDREN, seed=SEED))


@pytest.fixture(scope="module")
def clean_county(tmp_path_factory: pytest.TempPathFactory) -> County:
    config = SynthConfig(children=600, seed=SEED + 7, noise=NoiseRates(scale=0))
    return _generate(tmp_path_factory.mktemp("clean"), config)


@pytest.fixture(scope="module")
def big_county(tmp_path_factory: pytest.TempPathFactory) -> County:
    """Enough children for a few dozen events of each outcome."""
    return _generate(tmp_path_factory.mktemp("big"), SynthConfig(children=4_000, seed=SEED + 1))


def assert_binomial(successes: int, trials: int, rate: float, what: str) -> None:
    """``successes`` out of ``trials`` is within four standard errors (plus one) of ``rate``."""
    assert trials > 0, what
    tolerance = 4 * math.sqrt(trials * rate * (1 - rate)) + 1
    expected = trials * rate
    assert abs(successes - expected) <= tolerance, (
        f"{what}: {successes}/{trials} = {successes / trials:.4f}, expected {rate:.4f} "
        f"(± {tolerance / trials:.4f})"
    )


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): _sha256(path)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


# --- 1. determinism ---------------------------------------------------------------------------


def test_same_seed_gives_identical_files(county: County, county_again: County) -> None:
    first, second = _files(county.root), _files(county_again.root)
    assert first.keys() == second.keys()
    differing = [name for name in first if name != "manifest.json" and first[name] != second[name]]
    assert differing == []
    assert {"truth/records.parquet", "truth/children.parquet", "truth/outcomes.parquet"} <= set(
        first
    )
    for name in ("records", "children", "adults", "family_links", "outcomes"):
        assert county.truth(name).equals(county_again.truth(name))

    # The manifest differs only in where and how fast the county was written.
    def stable(manifest: dict[str, Any]) -> dict[str, Any]:
        summary = {k: v for k, v in manifest["summary"].items() if k not in ("out_dir", "seconds")}
        return {**manifest, "summary": summary}

    assert stable(county.manifest) == stable(county_again.manifest)
    listed = {item["path"]: item["sha256"] for item in county.manifest["summary"]["exports"]}
    assert listed == {name: sha for name, sha in first.items() if name.startswith("exports/")}


def test_another_seed_gives_other_files(county: County, tmp_path: Path) -> None:
    other = _generate(tmp_path / "other", SynthConfig(children=CHILDREN, seed=SEED + 1))
    ours = {item.path: item.sha256 for item in county.summary.exports}
    theirs = {item.path: item.sha256 for item in other.summary.exports}
    assert ours.keys() == theirs.keys()
    assert [path for path in ours if ours[path] == theirs[path]] == []
    assert not county.children.equals(other.children)


def test_refuses_to_overwrite_without_permission(county: County, tmp_path: Path) -> None:
    before = _sha256(county.root / "truth" / "records.parquet")
    with pytest.raises(SynthError, match="not empty; pass --overwrite"):
        generate_county(county.config, county.root)
    assert _sha256(county.root / "truth" / "records.parquet") == before

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(SynthError, match="holds no synthetic county"):
        generate_county(SynthConfig(children=50), foreign, overwrite=True)
    assert (foreign / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("seed", [1, 16, 12])
def test_smallest_county_generates_and_reports_each_step(seed: int, tmp_path: Path) -> None:
    # At these seeds a 50-child county has no mandatory report (1), no migrant family (16) or
    # neither (12): those exports are written with a header only. (Every 50-child county now has
    # police incidents: 28 % of households have a domestic-violence call-out in three years.)
    steps: list[str] = []
    summary = generate_county(
        SynthConfig(children=50, seed=seed), tmp_path / "tiny", progress=steps.append
    )
    assert summary.children == 50
    assert len(steps) == PROGRESS_STEPS
    empty = [item.path for item in summary.exports if item.rows == 0]
    assert empty, "the seed no longer gives an empty export"
    for path in empty:
        assert path.endswith(".csv")
        assert len((tmp_path / "tiny" / path).read_bytes().splitlines()) == 1


# --- 2. people and ID numbers -----------------------------------------------------------------


def test_exactly_n_minors_on_the_time_line(county: County) -> None:
    children = county.children
    assert children.height == CHILDREN == county.summary.children
    assert children["child_id"].is_unique().all()
    assert children["child_id"].str.contains(r"^C\d{7}$").all()
    start, end = county.config.start, county.config.end
    eighteenth = children["birth_date"].dt.offset_by("18y")
    # Born before the time line ends and not yet 18 on its first day.
    assert (children["birth_date"] < end).all()
    assert (eighteenth > start).all(), children.filter(eighteenth <= start).head()
    # Newborns and 17-year-olds both occur.
    assert (children["birth_date"] >= start).any()
    assert (eighteenth < end).any()


def test_id_numbers_are_valid_unique_and_agree_with_the_person(county: County) -> None:
    migrant_households = set(county.households.filter(pl.col("migrant"))["household_id"])
    origins = {code for code, _ in ORIGIN_COUNTIES}
    for frame, key in ((county.children, "child_id"), (county.adults, "person_id")):
        registered = frame.filter(pl.col("id_number").is_not_null())
        for row in registered.iter_rows(named=True):
            facts = parse(row["id_number"])
            assert facts.birth_date == row["birth_date"], row[key]
            assert facts.sex.value == row["sex"], row[key]
            if row["household_id"] in migrant_households:
                assert facts.region_code in origins, row[key]
            else:
                assert facts.region_code == county.config.county_code, row[key]
    assert county.adults["id_number"].null_count() == 0
    children = county.children
    assert (children["id_number"].is_null() == children["unregistered"]).all()
    assert children["unregistered"].sum() < 0.02 * CHILDREN
    everyone = pl.concat([children["id_number"].drop_nulls(), county.adults["id_number"]])
    assert everyone.is_unique().all()


# --- 3. categories and names ------------------------------------------------------------------


def test_household_category_shares_match_the_configuration(county: County) -> None:
    rates = CategoryRates()
    households = county.households
    n = households.height
    situations = Counter(households["situation"].to_list())
    for situation, rate in (
        ("both_migrated", rates.both_parents_migrated),
        ("one_migrated", rates.one_parent_migrated),
        ("single_parent", rates.single_parent),
        ("one_deceased", rates.one_parent_deceased),
        ("orphaned", rates.orphaned),
        ("de_facto_unsupported", rates.de_facto_unsupported),
    ):
        assert_binomial(situations[situation], n, rate, situation)
    assert_binomial(int(households["migrant"].sum()), n, rates.migrant, "migrant")
    assert_binomial(int(households["minority"].sum()), n, rates.minority, "minority")
    # Low income is 3.5 times as common in households in hardship.
    hardship = households["situation"].is_in(
        ["single_parent", "one_deceased", "orphaned", "de_facto_unsupported"]
    )
    poor = households["low_income"]
    assert_binomial(int((poor & ~hardship).sum()), int((~hardship).sum()), 0.07, "low income")
    assert_binomial(int((poor & hardship).sum()), int(hardship.sum()), 0.245, "poor in hardship")


def test_child_categories_match_the_configuration(county: County) -> None:
    rates = CategoryRates()
    children = county.children
    assert county.summary.categories == {
        name: int(children[name].sum()) for name in county.summary.categories
    }
    # Left-behind: every child of a household with both parents away, and a few children of a
    # household with one parent away whose other parent cannot care for them.
    both = children.filter(pl.col("situation") == "both_migrated")
    one = children.filter(pl.col("situation") == "one_migrated")
    assert both.height > 0
    assert both["left_behind"].all()
    assert_binomial(int(one["left_behind"].sum()), one.height, 0.08, "one away, other unable")
    others = children.filter(~pl.col("situation").is_in(["both_migrated", "one_migrated"]))
    assert not others["left_behind"].any()
    households = county.households.height
    left_behind_households = both["household_id"].n_unique()
    assert_binomial(left_behind_households, households, rates.both_parents_migrated, "left-behind")
    # Disability is twice as common in low-income households.
    not_poor = children.filter(~pl.col("low_income"))
    assert_binomial(int(not_poor["disability"].sum()), not_poor.height, 0.015, "disability")
    assert_binomial(int(children["unregistered"].sum()), CHILDREN, 0.004, "unregistered")
    assert (children["orphan"] == (children["situation"] == "orphaned")).all()


def test_minority_names_and_name_collisions(county: County) -> None:
    children = county.children
    dotted = children["name"].str.contains("·", literal=True)
    uyghur = children["ethnicity"] == "维吾尔族"
    # The middle dot belongs to Uyghur names (own name · father's name) and to no others.
    assert (dotted == uyghur).all()
    assert not children.filter(pl.col("ethnicity") == "汉族")["name"].str.contains("·").any()
    assert (children["minority"] == (children["ethnicity"] != "汉族")).all()
    # A minority household's children share its ethnic group, so the group is drawn per
    # household: count households, not children.
    minority = (
        children.filter(pl.col("minority"))
        .group_by("household_id")
        .agg(pl.col("name").str.contains("·", literal=True).all().alias("dotted"))
    )
    uyghur_share = DEFAULT_MINORITY_MIX["维吾尔族"] / sum(DEFAULT_MINORITY_MIX.values())
    assert_binomial(
        int(minority["dotted"].sum()),
        minority.height,
        uyghur_share,
        "middle dot among minority households",
    )
    assert 0.002 < float(np.mean(dotted.to_numpy())) < 0.05
    # Many children share a full name with a child of another household.
    shared = children.group_by("name").agg(pl.col("household_id").n_unique().alias("households"))
    shared_names = shared.filter(pl.col("households") > 1)["name"]
    sharing = children.filter(pl.col("name").is_in(shared_names.implode())).height
    assert sharing >= 0.05 * CHILDREN, f"only {sharing} children share a name"
    assert shared_names.len() >= 30


def test_siblings_of_a_minority_household_share_their_ethnic_group(county: County) -> None:
    children = county.children.filter(pl.col("minority"))
    groups = (
        children.group_by("household_id")
        .agg(pl.col("ethnicity").n_unique().alias("groups"), pl.len().alias("children"))
        .filter(pl.col("children") > 1)
    )
    assert groups.height > 0
    assert (groups["groups"] == 1).all()
    # The adults of a minority household belong to the children's group too.
    adults = county.adults.join(
        children.select("household_id", pl.col("ethnicity").alias("child_ethnicity")).unique(),
        on="household_id",
    )
    assert adults.height > 0
    assert (adults["ethnicity"] == adults["child_ethnicity"]).all()
    # Children with their father's name, for the groups whose names follow the father.
    with_father = children.join(
        county.adults.select(
            pl.col("person_id").alias("father_id"), pl.col("name").alias("father_name")
        ),
        on="father_id",
    )
    han_style = with_father.filter(pl.col("ethnicity").is_in(HAN_STYLE_MINORITIES))
    assert han_style.height > 0
    for child, father in han_style.select("name", "father_name").iter_rows():
        surname = split_name(child)[0]
        assert surname, child
        assert surname == split_name(father)[0], (child, father)
    uyghur = with_father.filter(pl.col("ethnicity") == "维吾尔族")
    assert uyghur.height > 0
    for child, father in uyghur.select("name", "father_name").iter_rows():
        assert child.split("·")[1] == father.split("·")[0], (child, father)
    yi = with_father.filter(pl.col("ethnicity") == "彝族")
    for child, father in yi.select("name", "father_name").iter_rows():
        assert child[:2] == father[:2], (child, father)
    # Siblings of a Han-style minority household share one surname, even without a father.
    surnames = (
        children.filter(pl.col("ethnicity").is_in(HAN_STYLE_MINORITIES))
        .with_columns(surname=pl.col("name").map_elements(lambda n: split_name(n)[0], pl.String))
        .group_by("household_id")
        .agg(pl.col("surname").n_unique().alias("surnames"), pl.len().alias("children"))
        .filter(pl.col("children") > 1)
    )
    assert surnames.height > 0
    assert (surnames["surnames"] == 1).all()


# --- 4. ground truth is complete and reconciles with the files --------------------------------


def test_every_export_row_has_ground_truth(county: County) -> None:
    records = county.records
    in_truth = set(records.select("file", "sheet").unique().iter_rows())
    assert in_truth == set(county.exports)
    for (file, sheet), rows in county.exports.items():
        assert rows, f"{file} {sheet} is empty"
        numbers = records.filter((pl.col("file") == file) & pl.col("sheet").eq_missing(sheet))[
            "row_number"
        ]
        assert numbers.n_unique() == len(rows), (file, sheet)
        assert set(numbers) == set(range(1, len(rows) + 1)), (file, sheet)
        for row in rows:
            assert any(text(value) for value in row.values()), f"blank data row in {file}"
    assert records["row_number"].min() == 1


def test_truth_entities_and_roles_exist(county: County) -> None:
    records = county.records
    children = set(county.children["child_id"])
    adults = set(county.adults["person_id"])
    ids = set(records["entity_id"])
    assert ids <= children | adults
    assert set(records["role"]) == {"subject", "guardian", "party", "involved_minor"}
    prefixes = (
        records.group_by("role")
        .agg(pl.col("entity_id").str.slice(0, 1).unique().sort().alias("kinds"))
        .iter_rows()
    )
    assert {role: tuple(kinds) for role, kinds in prefixes} == {
        "subject": ("A", "C"),  # household register and floating population list adults too
        "guardian": ("A",),
        "party": ("A",),
        "involved_minor": ("C",),
    }
    # One subject per row (a party in domestic-violence incidents), guardians only in welfare.
    per_row = records.filter(pl.col("role").is_in(["subject", "party"])).group_by(
        "file", "sheet", "row_number"
    )
    assert per_row.len()["len"].max() == 1
    guardian_files = set(records.filter(pl.col("role") == "guardian")["file"])
    assert guardian_files == {"civil_affairs/welfare_rolls.csv"}


def test_manifest_matches_the_files(county: County) -> None:
    manifest = county.manifest
    assert manifest["config"] == json.loads(county.config.model_dump_json())
    summary = manifest["summary"]
    assert summary["children"] == CHILDREN
    assert summary["truth_records"] == county.records.height
    rows_in_files: Counter[str] = Counter()
    for (file, _sheet), rows in county.exports.items():
        rows_in_files[f"exports/{file}"] += len(rows)
    on_disk = {
        str(path.relative_to(county.root))
        for path in (county.root / "exports").rglob("*")
        if path.is_file()
    }
    assert {item["path"] for item in summary["exports"]} == on_disk
    for item in summary["exports"]:
        path = county.root / item["path"]
        assert item["rows"] == rows_in_files[item["path"]], item["path"]
        assert item["bytes"] == path.stat().st_size
        assert item["sha256"] == _sha256(path)
    assert (county.root / "reference" / "regions.csv").is_file()
    assert (county.root / "reference" / "schools.csv").is_file()


def test_involved_minors_are_the_children_named_in_the_incident(county: County) -> None:
    rows = county.exports[("public_security/incidents.csv", None)]
    minors = county.records.filter(
        (pl.col("file") == "public_security/incidents.csv") & (pl.col("role") == "involved_minor")
    )
    assert minors.height > 0
    name_of = dict(county.children.select("child_id", "name").iter_rows())
    by_row: dict[int, list[str]] = {}
    for number, child in minors.select("row_number", "entity_id").iter_rows():
        by_row.setdefault(number, []).append(name_of[child])
    for number, row in enumerate(rows, start=1):
        listed = row["涉及未成年人"].split("、") if row["涉及未成年人"] else []
        assert sorted(listed) == sorted(by_row.get(number, [])), number


def test_student_numbers_follow_the_id_number(county: County) -> None:
    id_of = dict(county.children.select("child_id", "id_number").iter_rows())
    number_of: dict[str, str] = {}
    for (file, sheet), rows in county.exports.items():
        if not file.startswith("education/"):
            continue
        subjects = county.records.filter(
            (pl.col("file") == file) & pl.col("sheet").eq_missing(sheet)
        ).sort("row_number")["entity_id"]
        for child, row in zip(subjects, rows, strict=True):
            number = row["学籍号"]
            true_id = id_of[child]
            if true_id is None:
                assert re.fullmatch(r"L\d{17}", number), number
            else:
                assert number == f"G{true_id}"
            assert number_of.setdefault(child, number) == number, "one number per student"


# --- 5. noise ---------------------------------------------------------------------------------


def test_clean_exports_are_exact(clean_county: County) -> None:
    records = clean_county.records
    assert set(records["defects"]) <= {"", "newborn_placeholder"}
    placeholders = 0
    for row in clean_county.person_rows:
        true = row["true"]
        where = (row["file"], row["sheet"], row["row_number"])
        newborn = "newborn_placeholder" in row["defects"]
        if newborn:
            placeholders += 1
            mother = clean_county.people[true["mother_id"]]["name"]
            suffix = "之子" if true["sex"] == "M" else "之女"
            assert row["name"] == mother + suffix, where
            assert row["id_number"] is None, where
        elif row["has_name"]:
            assert row["name"] == true["name"], where
        if row["file"] in PINYIN_FILES:
            spelled = re.sub(r"\s", "", row["name"]).lower()
            assert spelled == pinyin_name(true["name"]).replace(" ", "").lower(), where
        if row["has_id"] and not newborn:
            assert row["id_number"] == true["id_number"], where
        if row["id_number"] is not None:
            facts = parse(row["id_number"])
            assert (facts.birth_date, facts.sex.value) == (true["birth_date"], true["sex"])
        if row["sex"] is not None:
            assert row["sex"] == true["sex"], where
        if row["birth_date"] is not None:
            assert row["birth_date"] == true["birth_date"], where
    assert placeholders > 0
    # Placeholder names appear only where the truth marks them.
    visits = clean_county.exports[("health/visits.jsonl", None)]
    marked = {
        number
        for number, defects in records.filter(pl.col("file") == "health/visits.jsonl")
        .select("row_number", "defects")
        .iter_rows()
        if defects == "newborn_placeholder"
    }
    named_like_newborn = {
        number
        for number, visit in enumerate(visits, start=1)
        if re.search("之[子女]$", visit["patient_name"])
    }
    assert named_like_newborn == marked


def test_clean_exports_have_no_duplicate_rows(clean_county: County) -> None:
    for (file, sheet), rows in clean_county.exports.items():
        as_tuples = [tuple(text(value) for value in row.values()) for row in rows]
        assert len(set(as_tuples)) == len(as_tuples), (file, sheet)
    # Registers list each person once.
    records = clean_county.records.filter(pl.col("role") == "subject")
    for file in ("education/student_registry.xlsx", "public_security/household_register.csv"):
        per_sheet = records.filter(pl.col("file") == file).group_by("sheet", "entity_id").len()
        assert per_sheet["len"].max() == 1, file


def test_every_deviation_from_the_truth_is_recorded(county: County) -> None:
    for row in county.person_rows:
        true, defects = row["true"], row["defects"]
        where = (row["file"], row["sheet"], row["row_number"], sorted(defects))
        if row["has_name"] and row["name"] != true["name"]:
            assert defects & NAME_DEFECTS, where
        if row["has_id"] and row["id_number"] != true["id_number"]:
            assert defects & ID_DEFECTS, where
        if row["sex"] is not None and row["sex"] != true["sex"]:
            assert "sex_contradiction" in defects, where
        if row["birth_date"] is not None and row["birth_date"] != true["birth_date"]:
            assert defects & DOB_DEFECTS, where
        # And the other way round for defects that always show.
        if "sex_contradiction" in defects and row["sex"] is not None:
            assert row["sex"] != true["sex"], where
        if "id_missing" in defects:
            assert row["id_number"] is None, where
        if "name_space" in defects and row["has_name"] and "newborn_placeholder" not in defects:
            assert re.search("[ \u3000]", row["name"] or ""), where


def test_defect_rates_match_the_configured_rates(county: County) -> None:
    noise = county.config.noise
    table = homophones()
    rows = [
        row
        for row in county.person_rows
        if row["source"] in UNIT_NOISE_SOURCES and "duplicate_row" not in row["defects"]
    ]
    subjects = [row for row in rows if row["role"] == "subject"]

    def has_homophone(name: str) -> bool:
        return any(char in table for char in split_name(name)[1])

    def id_typo_eligible(row: dict[str, Any]) -> bool:
        return row["true"]["id_number"] is not None and not (
            row["defects"] & {"id_missing", "id_legacy15"}
        )

    def day_month_swappable(row: dict[str, Any]) -> bool:
        born: dt.date = row["true"]["birth_date"]
        return born.day <= 12 and born.day != born.month

    checks = (
        ("name_homophone", rows, lambda row: has_homophone(row["true"]["name"])),
        ("name_space", rows, lambda row: True),
        ("middle_dot_variant", rows, lambda row: "·" in row["true"]["name"]),
        ("id_wrong_check", rows, id_typo_eligible),
        ("id_digit_typo", rows, id_typo_eligible),
        ("id_transposition", rows, id_typo_eligible),
        ("id_fullwidth", rows, id_typo_eligible),
        ("sex_contradiction", subjects, lambda row: True),
        ("dob_swapped_day_month", subjects, day_month_swappable),
        ("dob_wrong", subjects, lambda row: True),
    )
    for kind, population, eligible in checks:
        chosen = [row for row in population if eligible(row)]
        hits = sum(kind in row["defects"] for row in chosen)
        assert_binomial(hits, len(chosen), noise.rate(kind), kind)
    # A duplicate repeats an original row: count them against the originals.
    all_subjects = [
        row
        for row in county.person_rows
        if row["source"] in UNIT_NOISE_SOURCES and row["role"] == "subject"
    ]
    duplicates = sum("duplicate_row" in row["defects"] for row in all_subjects)
    assert_binomial(
        duplicates, len(all_subjects) - duplicates, noise.rate("duplicate_row"), "duplicate_row"
    )
    # Legacy 15-digit numbers: a quarter of the ID numbers of adults born before 2000.
    guardians = [
        row
        for row in county.person_rows
        if row["role"] == "guardian"
        and row["true"]["birth_date"] < dt.date(2000, 1, 1)
        and "id_missing" not in row["defects"]
    ]
    legacy = sum("id_legacy15" in row["defects"] for row in guardians)
    assert_binomial(legacy, len(guardians), noise.rate("id_legacy15"), "id_legacy15")


def test_damaged_id_numbers_look_as_their_defects_say(county: County) -> None:
    other_typos = {"id_digit_typo", "id_transposition", "id_legacy15", "id_missing"}
    seen: Counter[str] = Counter()
    for row in county.person_rows:
        defects, value, true_id = row["defects"], row["id_number"], row["true"]["id_number"]
        if "newborn_placeholder" in defects:
            continue
        if "id_wrong_check" in defects and not defects & other_typos:
            seen["id_wrong_check"] += 1
            normal = normalise_id(value)
            assert normal[:17] == true_id[:17]
            assert normal[17] != true_id[17]
            with pytest.raises(InvalidIdNumberError, match="check character"):
                parse(normal)
        if "id_legacy15" in defects:
            seen["id_legacy15"] += 1
            assert re.fullmatch(r"\d{15}", value), value
            assert upgrade15(value) == true_id
        if "id_fullwidth" in defects:
            seen["id_fullwidth"] += 1
            assert _FULLWIDTH_DIGITS.search(value), value
            assert not value.isascii()
        if "id_lowercase_x" in defects:
            seen["id_lowercase_x"] += 1
            assert value.endswith(("x", "ｘ")), value
        if row["has_id"] and value is not None and not defects & ID_DEFECTS:
            assert value == true_id
            parse(value)
    assert set(seen) == {"id_wrong_check", "id_legacy15", "id_fullwidth", "id_lowercase_x"}
    assert min(seen.values()) >= 3, seen
    # Full-width digits really are in the files.
    assert any(
        _FULLWIDTH_DIGITS.search(path.read_text("utf-8"))
        for path in (county.root / "exports").rglob("*")
        if path.suffix in (".csv", ".jsonl") and "civil_affairs" not in path.parts
    )


def test_civil_affairs_export_is_gbk_with_mixed_dates(county: County) -> None:
    raw = (county.root / "exports/civil_affairs/welfare_rolls.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    decoded = raw.decode("gbk")
    assert decoded.startswith("序号,姓名,身份证号码,性别,出生日期")
    assert "\r\n" in decoded
    rows = county.exports[("civil_affairs/welfare_rolls.csv", None)]
    subjects = (
        county.records.filter(
            (pl.col("file") == "civil_affairs/welfare_rolls.csv") & (pl.col("role") == "subject")
        )
        .sort("row_number")
        .select("entity_id", "defects")
        .rows()
    )
    birth_of = dict(county.children.select("child_id", "birth_date").iter_rows())
    styles: Counter[str] = Counter()
    for row, (child, defects) in zip(rows, subjects, strict=True):
        for column in ("出生日期", "享受起始日期", "终止日期"):
            value = row[column]
            if re.fullmatch(r"\d{5}", value):
                styles["excel serial"] += 1
            elif re.fullmatch(r"\d{4}年\d{1,2}月\d{1,2}日", value):
                styles["chinese"] += 1
            elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                styles["iso"] += 1
        if not defect_set(defects) & DOB_DEFECTS:
            assert parse_date(row["出生日期"]) == birth_of[child]
    assert set(styles) == {"excel serial", "chinese", "iso"}, styles


# --- 6. families ------------------------------------------------------------------------------


def test_guardians_parents_and_siblings_are_consistent(county: County) -> None:
    children, adults = county.children, county.adults
    adult = {row["person_id"]: row for row in adults.iter_rows(named=True)}
    assert children["guardian_id"].null_count() == 0
    for child in children.iter_rows(named=True):
        guardian = adult[child["guardian_id"]]
        assert guardian["household_id"] == child["household_id"]
        assert not guardian["migrated"], "the caring guardian lives with the child"
        for column, role, sex in (("father_id", "father", "M"), ("mother_id", "mother", "F")):
            if child[column] is None:
                continue
            parent = adult[child[column]]
            assert (parent["role"], parent["sex"]) == (role, sex)
            assert parent["household_id"] == child["household_id"]
            assert (child["birth_date"] - parent["birth_date"]).days > 15 * 365
    both_away = children.filter(pl.col("situation") == "both_migrated")
    for child in both_away.iter_rows(named=True):
        for column in ("father_id", "mother_id"):
            if child[column] is not None:
                assert adult[child[column]]["migrated"]
    orphans = children.filter(pl.col("orphan"))
    assert orphans["father_id"].null_count() == orphans["mother_id"].null_count() == orphans.height


def test_family_links_match_the_households(county: County) -> None:
    children = county.children
    links = county.truth("family_links")
    household_of = dict(children.select("child_id", "household_id").iter_rows())
    birth_of = dict(children.select("child_id", "birth_date").iter_rows())
    siblings = links.filter(pl.col("relation") == "sibling")
    pairs = set(siblings.select("child_id", "related_id").iter_rows())
    assert pairs == {(b, a) for a, b in pairs}, "sibling links are symmetric"
    assert all(household_of[a] == household_of[b] for a, b in pairs)
    sizes = children.group_by("household_id").len()["len"]
    assert len(pairs) == int((sizes * (sizes - 1)).sum()), "every pair of siblings is linked"
    twins = links.filter(pl.col("relation") == "twin")
    assert twins.height > 0
    for child, twin in twins.select("child_id", "related_id").iter_rows():
        assert child != twin
        assert birth_of[child] == birth_of[twin]
        assert household_of[child] == household_of[twin]
    for relation, column in (("father", "father_id"), ("mother", "mother_id")):
        expected = set(children.select("child_id", column).drop_nulls().iter_rows())
        linked = set(
            links.filter(pl.col("relation") == relation).select("child_id", "related_id").rows()
        )
        assert linked == expected, relation
    guardians = set(
        links.filter(pl.col("relation") == "guardian").select("child_id", "related_id").rows()
    )
    assert guardians == set(children.select("child_id", "guardian_id").iter_rows())


# --- 7. outcomes ------------------------------------------------------------------------------


def auc(scores: npt.NDArray[np.float64], labels: npt.NDArray[np.bool_]) -> float:
    """Area under the ROC curve by the rank-sum (Mann-Whitney) formula, ties averaged."""
    ranks = pl.Series(scores).rank("average").to_numpy()
    positives = int(labels.sum())
    negatives = labels.size - positives
    assert positives > 0
    assert negatives > 0
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def test_auc_helper() -> None:
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    labels = np.array([False, False, True, True])
    assert auc(scores, labels) == 0.75
    assert auc(np.ones(4), labels) == 0.5


def test_outcome_windows_are_well_formed(county: County) -> None:
    outcomes = county.truth("outcomes")
    assert set(outcomes["outcome"]) == set(OUTCOMES)
    assert outcomes["true_probability"].is_between(0, 1).all()
    assert (outcomes.filter(pl.col("occurred"))["true_probability"] > 0).all()
    assert outcomes.select("child_id", "outcome", "window_start").is_unique().all()
    windows = outcomes.select("window_start", "window_end").unique().sort("window_start")
    assert windows.height == county.config.months // WINDOW_MONTHS
    assert windows["window_start"][0] == county.config.start
    assert windows["window_end"][-1] == county.config.end
    for start, end in windows.iter_rows():
        months = (end.year - start.year) * 12 + end.month - start.month
        assert months == WINDOW_MONTHS
    # The first month of an event lies in its window; nothing else has one.
    happened = outcomes.filter(pl.col("occurred"))
    assert (
        happened["first_month"]
        .is_between(happened["window_start"], happened["window_end"], closed="left")
        .all()
    )
    assert (
        outcomes.filter(~pl.col("occurred"))["first_month"].null_count()
        == outcomes.filter(~pl.col("occurred")).height
    )
    # Every child who was born is at risk of maltreatment in each window.
    birth_of = dict(county.children.select("child_id", "birth_date").iter_rows())
    maltreatment = outcomes.filter(pl.col("outcome") == "maltreatment")
    for start, end in windows.iter_rows():
        in_window = set(maltreatment.filter(pl.col("window_start") == start)["child_id"])
        assert in_window == {child for child, born in birth_of.items() if born < end}
    # Mental-health crises are counted from age 10, dropout from age 10 while enrolled.
    for outcome in ("mental_health_crisis", "dropout"):
        rows = outcomes.filter(pl.col("outcome") == outcome)
        last_month = rows["window_end"].dt.offset_by("-1mo")
        age = (last_month - rows["child_id"].replace_strict(birth_of)).dt.total_days() / 365.25
        assert (age >= 10).all(), outcome
    # A child drops out once and is no longer at risk in later windows.
    dropout = outcomes.filter(pl.col("outcome") == "dropout")
    assert dropout.group_by("child_id").agg(pl.col("occurred").sum())["occurred"].max() == 1
    dropped = dropout.filter(pl.col("occurred")).select(
        "child_id", pl.col("window_start").alias("dropped_in")
    )
    later = dropout.join(dropped, on="child_id").filter(
        pl.col("window_start") > pl.col("dropped_in")
    )
    assert later.height == 0


def test_true_probabilities_rank_the_outcomes(big_county: County) -> None:
    outcomes = big_county.truth("outcomes")
    for outcome in OUTCOMES:
        rows = outcomes.filter(pl.col("outcome") == outcome)
        labels = rows["occurred"].to_numpy()
        positives, negatives = int(labels.sum()), int((~labels).sum())
        assert positives >= 10, f"too few {outcome} events for a stable AUC: {positives}"
        # Standard error of the AUC of an uninformative score (Hanley & McNeil under H0).
        null_se = math.sqrt((positives + negatives + 1) / (12 * positives * negatives))
        value = auc(rows["true_probability"].to_numpy(), labels)
        assert value > max(0.6, 0.5 + 3 * null_se), f"{outcome}: AUC {value:.3f}"


def test_true_probabilities_are_calibrated(big_county: County) -> None:
    """The true probability is the one known on the window's first day (averaged over the
    window's possible paths), so outcomes occur as often as it says: per outcome, the count of
    events is within four standard deviations of the sum of the probabilities."""
    outcomes = big_county.truth("outcomes")
    for outcome in OUTCOMES:
        rows = outcomes.filter(pl.col("outcome") == outcome)
        p = rows["true_probability"].to_numpy()
        events = int(rows["occurred"].sum())
        sd = math.sqrt(float((p * (1 - p)).sum()))
        assert abs(events - p.sum()) < 4 * sd + 1, f"{outcome}: {events} events, {p.sum():.1f}"


def test_absences_rise_before_dropout(big_county: County) -> None:
    dropout = big_county.truth("outcomes").filter(pl.col("outcome") == "dropout")
    first = dropout.filter(pl.col("occurred")).select(
        "child_id", pl.col("first_month").alias("dropout_month")
    )
    at_risk = dropout["child_id"].unique().implode()
    attendance = (
        big_county.truth("events/attendance")
        .filter(pl.col("child_id").is_in(at_risk))
        .join(first, on="child_id", how="left")
    )
    before = attendance.filter(pl.col("month") < pl.col("dropout_month"))
    others = attendance.filter(pl.col("dropout_month").is_null())
    dropouts, stayers = (
        part.group_by("child_id").agg(pl.col("absent_days").mean())["absent_days"].to_numpy()
        for part in (before, others)
    )
    assert dropouts.size >= 20
    difference = float(dropouts.mean() - stayers.mean())
    welch_se = math.sqrt(dropouts.var(ddof=1) / dropouts.size + stayers.var(ddof=1) / stayers.size)
    assert difference > 3 * welch_se, (difference, welch_se)
    # In the month of dropout, at least two thirds of the school days are missed.
    month_of = attendance.filter(pl.col("month") == pl.col("dropout_month"))
    assert (month_of["absent_days"] >= month_of["school_days"] * 2 // 3).all()
