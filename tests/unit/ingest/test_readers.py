"""File readers: values verbatim as text, row numbers that point into the file, every format.

Hostile inputs (broken encodings, zip bombs, NUL bytes, ...) are in ``test_hostile_inputs.py``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

from childlink.ingest.errors import HeaderNotFoundError, SheetNotFoundError
from childlink.ingest.readers import (
    RawBatch,
    ReadOptions,
    detect_encoding,
    detect_header,
    file_sha256,
    read_batches,
)
from childlink.synth.config import SynthConfig
from childlink.synth.service import generate_county
from support import read_all, synthetic_people


def _rows(batches: list[RawBatch]) -> pl.DataFrame:
    return pl.concat([b.rows for b in batches], how="diagonal_relaxed")


def _rejects(batches: list[RawBatch]) -> pl.DataFrame:
    return pl.concat([b.rejects for b in batches])


def _xlsx(path: Path, sheets: Mapping[str, Sequence[Sequence[object]]]) -> Path:
    """Write rows as typed cells (dates as real Excel dates); ``None`` leaves a cell empty."""
    workbook = xlsxwriter.Workbook(str(path))
    date = workbook.add_format({"num_format": "yyyy/m/d"})
    stamp = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    for name, rows in sheets.items():
        sheet = workbook.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, dt.datetime):
                    sheet.write_datetime(r, c, value, stamp)
                elif isinstance(value, dt.date):
                    sheet.write_datetime(
                        r, c, dt.datetime(value.year, value.month, value.day), date
                    )
                elif isinstance(value, str):
                    sheet.write_string(r, c, value)
                else:
                    sheet.write(r, c, value)
    workbook.close()
    return path


# --- CSV -------------------------------------------------------------------------------------


def test_csv_values_come_out_verbatim_with_row_numbers_and_raw(tmp_path: Path) -> None:
    (name1, id1), (name2, id2) = synthetic_people(2, seed=7)
    path = tmp_path / "roll.csv"
    path.write_text(
        f"序号, 姓名 ,身份证号,备注\r\n1,{name1},{id1}, 需关注 \r\n2,{name2},{id2},\r\n",
        encoding="utf-8",
    )
    [batch] = read_all(path, format="csv")
    assert batch.sheet is None
    assert batch.columns == ("序号", "姓名", "身份证号", "备注")
    assert batch.rows.columns == ["序号", "姓名", "身份证号", "备注", "_row_number", "_raw"]
    assert batch.rows.schema["_row_number"] == pl.Int64
    assert batch.rows["姓名"].to_list() == [name1, name2]
    assert batch.rows["身份证号"].to_list() == [id1, id2]  # never a number
    assert batch.rows["备注"].to_list() == [" 需关注 ", None]  # not trimmed; empty -> None
    assert batch.rows["_row_number"].to_list() == [1, 2]
    assert json.loads(batch.rows["_raw"][0]) == {
        "序号": "1",
        "姓名": name1,
        "身份证号": id1,
        "备注": " 需关注 ",
    }
    assert "\\u" not in batch.rows["_raw"][0]  # Chinese kept as is
    assert batch.rejects.height == 0
    assert batch.rejects.schema == {
        "_row_number": pl.Int64,
        "_reason": pl.String,
        "_message": pl.String,
        "_raw": pl.String,
    }


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gbk", "gb18030"), ("gb18030", "gb18030")],
)
def test_auto_detection_decodes_every_common_encoding(
    tmp_path: Path, encoding: str, expected: str
) -> None:
    people = synthetic_people(30, seed=7)
    # GB18030-only characters (not in GBK) where the encoding can carry them.
    extra = "刘䶮𠀀" if encoding != "gbk" else "刘岩"
    text = "姓名,身份证号\n" + "".join(f"{n},{i}\n" for n, i in people) + f"{extra},\n"
    path = tmp_path / "roll.csv"
    path.write_bytes(text.encode(encoding))
    assert detect_encoding(path) == expected
    rows = _rows(read_all(path, format="csv"))
    assert rows["姓名"].to_list() == [n for n, _ in people] + [extra]
    assert rows.columns[0] == "姓名"  # the BOM is not part of the first header


def test_declared_encodings_that_fit_are_used(tmp_path: Path) -> None:
    path = tmp_path / "roll.csv"
    path.write_bytes("姓名\n刘䶮\n".encode("gb18030"))
    assert detect_encoding(path, "gbk") == "gb18030"  # GBK labels are read as their superset
    assert detect_encoding(path, "GB18030") == "gb18030"
    utf8 = tmp_path / "utf8.csv"
    utf8.write_bytes("\ufeff姓名\n张三\n".encode())
    assert detect_encoding(utf8, "utf-8") == "utf-8-sig"
    ascii_only = tmp_path / "ascii.csv"
    ascii_only.write_bytes(b"a,b\n1,2\n")
    assert detect_encoding(ascii_only, "gbk") == "gb18030"  # ASCII is valid GBK too


def test_header_only_csv_gives_one_empty_batch_with_columns(tmp_path: Path) -> None:
    path = tmp_path / "empty_roll.csv"
    path.write_bytes("姓名,身份证号,性别\r\n".encode("gbk"))
    [batch] = read_all(path, format="csv")
    assert batch.columns == ("姓名", "身份证号", "性别")
    assert batch.rows.height == 0
    assert batch.rows.columns == ["姓名", "身份证号", "性别", "_row_number", "_raw"]
    assert batch.rejects.height == 0


def test_duplicate_and_empty_header_names_are_made_unique(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("姓名,电话,电话,,姓名,_raw\n甲,1,2,3,乙,4\n", encoding="utf-8")
    [batch] = read_all(path, format="csv")
    assert batch.columns == ("姓名", "电话", "电话__2", "column_4", "姓名__2", "_raw__2")
    assert batch.rows.row(0) == ("甲", "1", "2", "3", "乙", "4", 1, batch.rows["_raw"][0])


def test_csv_title_rows_are_skipped_by_header_detection(tmp_path: Path) -> None:
    (name, id_number), *_ = synthetic_people(1, seed=7)
    path = tmp_path / "titled.csv"
    path.write_text(
        f"青山县困境儿童名册\n制表日期：2024年9月\n\n姓名,身份证号,性别\n{name},{id_number},女\n",
        encoding="utf-8",
    )
    for options in ({}, {"expected_columns": ("身份证号", "姓名", "监护人")}, {"header_row": 4}):
        [batch] = read_all(path, format="csv", **options)
        assert batch.columns == ("姓名", "身份证号", "性别"), options
        assert batch.rows["_row_number"].to_list() == [1]
        assert batch.rejects.height == 0  # rows above the header are not rejects


def test_header_row_past_the_end_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(HeaderNotFoundError, match="header row 9"):
        read_all(path, format="csv", header_row=9)


def test_quoted_line_breaks_make_one_record_and_numbers_count_records(tmp_path: Path) -> None:
    path = tmp_path / "notes.csv"
    path.write_text('id,备注\n1,"第一行\n第二行"\n2,"引号""内"\n\n3,x\n', encoding="utf-8")
    rows = _rows(read_all(path, format="csv"))
    assert rows["备注"].to_list() == ["第一行\n第二行", '引号"内', "x"]
    # Record 3 is the blank line: counted, not returned.
    assert rows["_row_number"].to_list() == [1, 2, 4]


def test_detect_header_rules() -> None:
    title: list[list[str | None]] = [["青山县走访记录表", None, None, None], [None] * 4]
    header: list[list[str | None]] = [["序号", "姓名", "性别", "身份证号"], ["1", "甲", "女", None]]
    assert detect_header(title + header) == 2
    assert detect_header(header) == 0
    assert detect_header(title + header, expected=("身份证号", "姓 名", "监护人")) == 2
    # Nothing expected matches: falls back to the structure.
    assert detect_header(title + header, expected=("学籍号", "学校")) == 2
    assert detect_header([["a"], ["1"]]) == 0


# --- JSON lines ------------------------------------------------------------------------------


def test_jsonl_values_as_text_keys_in_order_of_appearance(tmp_path: Path) -> None:
    (name, id_number), *_ = synthetic_people(1, seed=7)
    lines = [
        json.dumps({"id_no": id_number, "name": name, "score": 12, "ratio": 0.25}),
        "",
        json.dumps(
            {"name": name, "flag": True, "nested": {"icd10": ["S00.0"]}, "none": None},
            ensure_ascii=False,
        ),
        "   ",
        '{"id_no": "G' + id_number + '", "score": 1.0}\r',
    ]
    path = tmp_path / "visits.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    [batch] = read_all(path, format="jsonl")
    assert batch.columns == ("id_no", "name", "score", "ratio", "flag", "nested", "none")
    rows = batch.rows
    assert rows["_row_number"].to_list() == [1, 3, 5]  # line numbers; blank lines not rows
    assert rows["id_no"].to_list() == [id_number, None, "G" + id_number]
    assert rows["score"].to_list() == ["12", None, "1"]
    assert rows["ratio"].to_list() == ["0.25", None, None]
    assert rows["flag"].to_list() == [None, "true", None]
    assert json.loads(rows["nested"][1]) == {"icd10": ["S00.0"]}
    assert rows["none"].to_list() == [None, None, None]
    assert rows["_raw"][0] == lines[0]  # the line as read
    assert batch.rejects.height == 0


def test_jsonl_keys_with_conflicting_nested_types_stillread_all(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        '{"a": 1, "b": {"x": 1}}\n{"a": "一", "b": {"y": [1]}}\n{"c": [1, "二"], "a": null}\n',
        encoding="utf-8",
    )
    [batch] = read_all(path, format="jsonl")
    assert batch.columns == ("a", "b", "c")
    assert batch.rows["a"].to_list() == ["1", "一", None]
    assert [json.loads(v) for v in batch.rows["b"].to_list()[:2]] == [{"x": 1}, {"y": [1]}]


# --- XLSX ------------------------------------------------------------------------------------


def test_xlsx_cells_as_text_dates_iso(tmp_path: Path) -> None:
    (name, id_number), *_ = synthetic_people(1, seed=7)
    path = _xlsx(
        tmp_path / "registry.xlsx",
        {
            "学籍": [
                [
                    "姓名",
                    "身份证号",
                    "年龄",
                    "身高",
                    "出生日期",
                    "登记时间",
                    "在校",
                    "备注",
                    "序号",
                ],
                [
                    name,
                    id_number,
                    9,
                    1.25,
                    dt.date(2015, 3, 2),
                    dt.datetime(2024, 9, 1, 8, 30),
                    True,
                    "=1+2",
                    7.0,
                ],
                [name, None, 10.0, None, "2015年3月2日", None, False, " 空格 ", 8],
            ]
        },
    )
    [batch] = read_all(path, format="xlsx")
    assert batch.sheet == "学籍"
    assert batch.rows.drop("_raw").rows() == [
        (name, id_number, "9", "1.25", "2015-03-02", "2024-09-01T08:30:00", "true", "=1+2", "7", 1),
        (name, None, "10", None, "2015年3月2日", None, "false", " 空格 ", "8", 2),
    ]
    assert json.loads(batch.rows["_raw"][0])["出生日期"] == "2015-03-02"


def test_xlsx_title_rows_blank_rows_and_sheets(tmp_path: Path) -> None:
    people = synthetic_people(4, seed=7)
    header = ["序号", "姓名", "身份证号"]
    path = _xlsx(
        tmp_path / "visits.xlsx",
        {
            "走访记录": [
                ["青山县妇联儿童之家入户走访记录表"],
                [],
                header,
                [1, *people[0]],
                [],  # a blank row inside the data: counted, not returned
                [2, *people[1]],
                [],
                [],
            ],
            "Sheet2": [],
            "第二批": [header, [3, *people[2]], [4, *people[3]]],
        },
    )
    batches = read_all(path, format="xlsx")
    assert [b.sheet for b in batches] == ["走访记录", "第二批"]  # the empty sheet is skipped
    first, second = batches
    assert first.columns == ("序号", "姓名", "身份证号")
    assert first.rows["姓名"].to_list() == [people[0][0], people[1][0]]
    assert first.rows["_row_number"].to_list() == [1, 3]  # sheet rows 4 and 6, header on 3
    assert second.rows["_row_number"].to_list() == [1, 2]  # restarts on every sheet
    [only] = read_all(path, format="xlsx", sheets=("第二批",))
    assert only.rows["序号"].to_list() == ["3", "4"]
    [explicit] = read_all(path, format="xlsx", sheets=("走访记录",), header_row=3)
    assert explicit.rows["_row_number"].to_list() == [1, 3]
    with pytest.raises(SheetNotFoundError, match="没有这页"):
        read_all(path, format="xlsx", sheets=("没有这页",))


def test_xlsx_header_only_sheet_gives_columns(tmp_path: Path) -> None:
    path = _xlsx(tmp_path / "h.xlsx", {"名册": [["姓名", "身份证号"]]})
    [batch] = read_all(path, format="xlsx")
    assert batch.columns == ("姓名", "身份证号")
    assert batch.rows.height == 0


# --- batching --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "xlsx"])
def test_batches_are_bounded_and_rejects_land_in_order(tmp_path: Path, fmt: str) -> None:
    people = synthetic_people(95, seed=7)
    path = tmp_path / f"roll.{fmt}"
    bad_rows = {10, 11, 50, 95}
    if fmt == "csv":
        lines = ["姓名,身份证号"] + [
            f"{n},{i},多余" if k in bad_rows else f"{n},{i}" for k, (n, i) in enumerate(people, 1)
        ]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    elif fmt == "jsonl":
        lines = [
            "{broken"
            if k in bad_rows
            else json.dumps({"姓名": n, "身份证号": i}, ensure_ascii=False)
            for k, (n, i) in enumerate(people, 1)
        ]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        rows: list[Sequence[object]] = [["姓名", "身份证号"]]
        rows += [["长" * 21, i] if k in bad_rows else [n, i] for k, (n, i) in enumerate(people, 1)]
        _xlsx(path, {"名册": rows})
    batches = read_all(path, format=fmt, batch_rows=20, max_field_chars=20)
    assert all(b.rows.height <= 20 for b in batches)
    assert len(batches) >= 5
    rows_read = _rows(batches)
    assert rows_read["_row_number"].to_list() == [k for k in range(1, 96) if k not in bad_rows]
    assert rows_read["身份证号"].to_list() == [
        i for k, (_, i) in enumerate(people, 1) if k not in bad_rows
    ]
    assert _rejects(batches)["_row_number"].to_list() == sorted(bad_rows)
    for batch in batches:  # a batch's rejects lie at or before its last row (the last: any)
        if batch.rows.height and batch is not batches[-1]:
            last = batch.rows["_row_number"][-1]
            assert all(n <= last for n in batch.rejects["_row_number"])


def test_file_sha256(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"a,b\n" * 1000)
    assert file_sha256(path) == hashlib.sha256(b"a,b\n" * 1000).hexdigest()


# --- round trip against the generator --------------------------------------------------------

_FORMATS = {".csv": "csv", ".xlsx": "xlsx", ".jsonl": "jsonl"}


def test_every_synthetic_export_reads_back_to_its_ground_truth(tmp_path: Path) -> None:
    out = tmp_path / "c"
    generate_county(SynthConfig(children=300, seed=3), out)
    truth = pl.read_parquet(out / "truth" / "records.parquet")
    expected = {
        (file, sheet): sorted(numbers)
        for file, sheet, numbers in truth.group_by("file", "sheet")
        .agg(pl.col("row_number").unique())
        .iter_rows()
    }
    got: dict[tuple[str, str | None], list[int]] = {}
    files = sorted(p for p in (out / "exports").rglob("*") if p.is_file())
    assert {p.suffix for p in files} == set(_FORMATS)
    for path in files:
        file = path.relative_to(out / "exports").as_posix()
        for batch in read_batches(path, ReadOptions(format=_FORMATS[path.suffix])):  # type: ignore[arg-type]
            assert batch.rejects.height == 0, (file, batch.rejects.head(3))
            got.setdefault((file, batch.sheet), []).extend(batch.rows["_row_number"].to_list())
    assert got == expected

    # The women's federation workbook has a title row and a blank row above its header.
    [visits] = read_all(out / "exports/womens_federation/home_visits.xlsx", format="xlsx")
    assert visits.columns[:4] == ("序号", "走访日期", "村（社区）", "儿童姓名")
    assert visits.rows["序号"].head(3).to_list() == ["1", "2", "3"]
    # The civil-affairs roll is GBK: decoded, not mojibake.
    roll = out / "exports/civil_affairs/welfare_rolls.csv"
    assert detect_encoding(roll) == "gb18030"
    [welfare] = read_all(roll, format="csv")
    assert "姓名" in welfare.columns
    assert welfare.rows["性别"].drop_nulls().is_in(["男", "女"]).all()
