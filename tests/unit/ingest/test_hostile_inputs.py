"""Readers against hostile and broken files: a clear error for a bad file, a reject for a bad row.

Nothing here may crash, hang, inflate a zip bomb or load a large file whole.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import python_calamine
import xlsxwriter

from childlink.errors import ChildLinkError, IngestError
from childlink.ingest import readers
from childlink.ingest.errors import (
    CorruptFileError,
    EmptyFileError,
    EncodingError,
    HeaderNotFoundError,
    MissingFileError,
    UnsafeArchiveError,
)
from childlink.ingest.readers import RawBatch, ReadOptions, detect_encoding, read_batches
from support import read_all, synthetic_people


def _rows(batches: list[RawBatch]) -> pl.DataFrame:
    return pl.concat([b.rows for b in batches], how="diagonal_relaxed")


def _rejects(batches: list[RawBatch]) -> pl.DataFrame:
    return pl.concat([b.rejects for b in batches])


def _roll_text(people: list[tuple[str, str]]) -> str:
    return "姓名,身份证号,性别\r\n" + "".join(f"{n},{i},女\r\n" for n, i in people)


def _workbook(path: Path, rows: int = 50) -> Path:
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet("名册")
    sheet.write_row(0, 0, ["姓名", "身份证号"])
    for r, (name, id_number) in enumerate(synthetic_people(rows, seed=3), start=1):
        sheet.write_row(r, 0, [name, id_number])
    workbook.close()
    return path


def _one_line(error: pytest.ExceptionInfo[IngestError], path: Path) -> str:
    message = str(error.value)
    assert "\n" not in message
    assert str(path) in message
    assert isinstance(error.value, ChildLinkError)
    return message


# --- encodings -------------------------------------------------------------------------------


def test_gbk_file_declared_utf8_is_refused_naming_both(tmp_path: Path) -> None:
    path = tmp_path / "welfare.csv"
    path.write_bytes(_roll_text(synthetic_people(20, seed=3)).encode("gbk"))
    with pytest.raises(EncodingError) as error:
        read_all(path, format="csv", encoding="utf-8")
    message = _one_line(error, path)
    assert "declared encoding utf-8" in message
    assert "not valid UTF-8" in message
    assert "GBK/GB18030" in message
    assert "line 1" in message  # the header is already Chinese
    assert error.value.code == "wrong_encoding"


def test_utf8_file_declared_gbk_is_refused_instead_of_mojibake(tmp_path: Path) -> None:
    path = tmp_path / "register.csv"
    path.write_text(_roll_text(synthetic_people(20, seed=3)), encoding="utf-8")
    with pytest.raises(EncodingError) as error:
        read_all(path, format="csv", encoding="gbk")
    message = _one_line(error, path)
    assert "declared encoding gbk but the file is UTF-8" in message
    with pytest.raises(EncodingError, match="UTF-8"):
        detect_encoding(path, "gb18030")
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbfa,b\n1,2\n")  # ASCII after a BOM: still UTF-8
    with pytest.raises(EncodingError, match="UTF-8"):
        detect_encoding(bom, "gbk")


def test_unsupported_and_utf16_encodings_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "roll.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(EncodingError, match="'latin-1' is not supported"):
        detect_encoding(path, "latin-1")
    utf16 = tmp_path / "unicode.csv"
    utf16.write_text("姓名\t性别\n甲\t女\n", encoding="utf-16")
    with pytest.raises(EncodingError, match="UTF-16"):
        read_all(utf16, format="csv")


def test_undecodable_bytes_reject_only_their_rows(tmp_path: Path) -> None:
    people = synthetic_people(40, seed=3)
    text = _roll_text(people).encode("utf-8")
    lines = text.split(b"\r\n")
    lines[30] = lines[30][:-3] + b"\xff\xfe"  # damaged bytes at the end of data row 30
    path = tmp_path / "damaged.csv"
    path.write_bytes(b"\r\n".join(lines))
    assert detect_encoding(path) == "utf-8"  # plenty of UTF-8 before the damage
    batches = read_all(path, format="csv")
    rejects = _rejects(batches)
    assert rejects.rows() == [
        (30, "undecodable", "bytes that are not valid utf-8 in column 性别", rejects["_raw"][0])
    ]
    assert json.loads(rejects["_raw"][0])["性别"] == "\\xff\\xfe"  # the bad bytes, shown
    assert _rows(batches)["_row_number"].to_list() == [k for k in range(1, 41) if k != 30]

    gbk = tmp_path / "damaged_gbk.csv"
    gbk_lines = _roll_text(people[:5]).encode("gbk").split(b"\r\n")
    gbk_lines[3] += b"\x80"  # not a valid GB18030 sequence
    gbk.write_bytes(b"\r\n".join(gbk_lines))
    batches = read_all(gbk, format="csv", encoding="gbk")
    assert _rejects(batches)["_reason"].to_list() == ["undecodable"]
    assert _rejects(batches)["_row_number"].to_list() == [3]
    assert _rows(batches)["姓名"].to_list() == [n for n, _ in people[:5] if n != people[2][0]]


def test_mostly_utf8_file_with_gbk_line_keeps_utf8(tmp_path: Path) -> None:
    people = synthetic_people(30, seed=3)
    good = _roll_text(people).encode("utf-8")
    path = tmp_path / "mixed.csv"
    path.write_bytes(good + f"{people[0][0]},{people[0][1]},男\r\n".encode("gbk"))
    batches = read_all(path, format="csv")
    assert _rows(batches)["姓名"].to_list() == [n for n, _ in people]
    assert _rejects(batches)["_row_number"].to_list() == [31]


# --- empty and missing -----------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b" \r\n\t\n", b"\xef\xbb\xbf\n\n"])
@pytest.mark.parametrize("fmt", ["csv", "jsonl", "xlsx"])
def test_empty_files_are_refused(tmp_path: Path, content: bytes, fmt: str) -> None:
    path = tmp_path / f"empty.{fmt}"
    path.write_bytes(content)
    with pytest.raises(EmptyFileError) as error:
        read_all(path, format=fmt)
    _one_line(error, path)
    assert error.value.code == "empty_file"


def test_workbook_with_only_empty_sheets_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "blank.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    workbook.add_worksheet("Sheet1")
    workbook.add_worksheet("Sheet2")
    workbook.close()
    with pytest.raises(EmptyFileError, match="every sheet"):
        read_all(path, format="xlsx")


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError, match="does not exist"):
        read_all(tmp_path / "nope.csv", format="csv")
    with pytest.raises(MissingFileError, match="not a regular file"):
        read_all(tmp_path, format="csv")


def test_csv_with_no_header_anywhere(tmp_path: Path) -> None:
    path = tmp_path / "commas.csv"
    path.write_text(",,,\n,,,\n", encoding="utf-8")
    with pytest.raises(HeaderNotFoundError, match="no header row"):
        read_all(path, format="csv")


# --- broken workbooks ------------------------------------------------------------------------


def test_truncated_xlsx_is_corrupt(tmp_path: Path) -> None:
    whole = _workbook(tmp_path / "whole.xlsx").read_bytes()
    path = tmp_path / "cut.xlsx"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(CorruptFileError) as error:
        read_all(path, format="xlsx")
    message = _one_line(error, path)
    assert "damaged or truncated" in message
    assert error.value.code == "corrupt_file"


def test_random_bytes_named_xlsx_are_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "random.xlsx"
    path.write_bytes(np.random.default_rng(1).bytes(5000))
    with pytest.raises(CorruptFileError, match="not a zip archive"):
        read_all(path, format="xlsx")
    xls = tmp_path / "old.xlsx"
    xls.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600))
    with pytest.raises(CorruptFileError, match=r"old \.xls"):
        read_all(xls, format="xlsx")
    html = tmp_path / "table.xlsx"
    html.write_text("<html><table><tr><td>姓名</td></tr></table></html>", encoding="utf-8")
    with pytest.raises(CorruptFileError, match="HTML"):
        read_all(html, format="xlsx")


def test_zip_without_workbook_parts_or_with_garbage_parts_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "not_a_workbook.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(CorruptFileError, match="no workbook part"):
        read_all(path, format="xlsx")
    garbage = tmp_path / "garbage.xlsx"
    with zipfile.ZipFile(garbage, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types")
        archive.writestr("xl/workbook.xml", "not xml at all <<<")
    with pytest.raises(CorruptFileError, match="cannot be read"):
        read_all(garbage, format="xlsx")


class _NoOpen:
    """Stands in for python_calamine: the workbook must not even be opened."""

    SheetTypeEnum = python_calamine.SheetTypeEnum
    CalamineError = python_calamine.CalamineError

    class CalamineWorkbook:
        @staticmethod
        def from_path(path: str) -> None:
            raise AssertionError(f"opened {path}")


def test_zip_bomb_posing_as_xlsx_is_refused_without_inflating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bomb.xlsx"
    block = bytes(1024 * 1024)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        with archive.open("xl/worksheets/sheet1.xml", "w") as entry:
            for _ in range(300):  # 300 MB of zeros, about 300 KB compressed
                entry.write(block)
    assert path.stat().st_size < 2 * 1024 * 1024
    monkeypatch.setattr(readers, "python_calamine", _NoOpen)
    monkeypatch.setattr(zipfile.ZipFile, "open", _refuse_inflating)
    with pytest.raises(UnsafeArchiveError) as error:
        read_all(path, format="xlsx")
    message = _one_line(error, path)
    assert "xl/worksheets/sheet1.xml" in message
    assert "zip bomb" in message
    assert error.value.code == "unsafe_archive"


def _refuse_inflating(*args: object, **kwargs: object) -> None:
    raise AssertionError("a zip entry was opened")


def test_workbook_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "big.xlsx", rows=200)
    with pytest.raises(UnsafeArchiveError, match="limit"):
        read_all(path, format="xlsx", max_xlsx_uncompressed_bytes=10_000)
    assert _rows(read_all(path, format="xlsx")).height == 200


# --- hostile rows ----------------------------------------------------------------------------


def test_nul_bytes_reject_the_row_only(tmp_path: Path) -> None:
    people = synthetic_people(5, seed=3)
    path = tmp_path / "nul.csv"
    body = _roll_text(people).replace(people[1][0], people[1][0] + "\x00", 1)
    path.write_bytes(body.encode("gbk"))
    batches = read_all(path, format="csv")
    rejects = _rejects(batches)
    assert rejects["_row_number"].to_list() == [2]
    assert rejects["_reason"].to_list() == ["nul_byte"]
    assert "姓名" in rejects["_message"][0]
    assert "\x00" not in rejects["_raw"][0]
    assert people[1][1] in rejects["_raw"][0]
    assert _rows(batches)["_row_number"].to_list() == [1, 3, 4, 5]

    jsonl = tmp_path / "nul.jsonl"
    jsonl.write_text(
        '{"a": "x"}\n{"a": "x\x00y"}\n{"a": "x\\u0000y"}\n{"a": "z"}\n', encoding="utf-8"
    )
    batches = read_all(jsonl, format="jsonl")
    assert _rejects(batches).select("_row_number", "_reason").rows() == [
        (2, "nul_byte"),
        (3, "nul_byte"),
    ]
    assert _rows(batches)["a"].to_list() == ["x", "z"]


def test_very_long_fields_are_rejected(tmp_path: Path) -> None:
    (name, id_number), *_ = synthetic_people(1, seed=3)
    long_note = "情况说明" * 3000  # 12,000 characters
    path = tmp_path / "long.csv"
    path.write_text(
        f"姓名,身份证号,备注\n{name},{id_number},{long_note}\n{name},{id_number},短\n",
        encoding="utf-8",
    )
    batches = read_all(path, format="csv")
    rejects = _rejects(batches)
    assert rejects.select("_row_number", "_reason").rows() == [(1, "field_too_long")]
    assert rejects["_message"][0] == "field longer than 10000 characters in column 备注"
    assert len(rejects["_raw"][0]) == 2000
    assert _rows(batches)["备注"].to_list() == ["短"]
    # 12,000 ASCII characters but 4,000 Chinese ones (12,000 bytes): characters count.
    assert _rows(read_all(path, format="csv", max_field_chars=12_000)).height == 2

    jsonl = tmp_path / "long.jsonl"
    jsonl.write_text(
        json.dumps({"note": long_note}, ensure_ascii=False) + "\n" + '{"note": "ok"}\n',
        encoding="utf-8",
    )
    batches = read_all(jsonl, format="jsonl")
    assert _rejects(batches)["_reason"].to_list() == ["field_too_long"]
    assert _rows(batches)["note"].to_list() == ["ok"]


def test_giant_jsonl_line_is_rejected_without_holding_it(tmp_path: Path) -> None:
    path = tmp_path / "giant.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        handle.write('{"a": "1"}\n{"a": "')
        for _ in range(12):
            handle.write("x" * 1_000_000)
        handle.write('"}\n{"a": "3"}\n')
    batches = read_all(path, format="jsonl")
    assert _rejects(batches).select("_row_number", "_reason").rows() == [(2, "field_too_long")]
    assert _rows(batches)["a"].to_list() == ["1", "3"]


def test_unbalanced_quote_in_a_large_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "quote.csv"
    path.write_text('a,b\n1,2\n"3,4\n' + "5,6\n" * 2_500_000, encoding="utf-8")
    with pytest.raises(CorruptFileError, match=r"at or after data row 2 .* unbalanced quote"):
        read_all(path, format="csv")
    # Up to the end of a smaller file it is one (wrong) record: a reject, not an error.
    small = tmp_path / "small.csv"
    small.write_text('a,b\n1,2\n"3,4\n5,6\n', encoding="utf-8")
    assert _rejects(read_all(small, format="csv")).select("_row_number", "_reason").rows() == [
        (2, "wrong_field_count")
    ]


def test_formula_injection_values_are_kept_verbatim(tmp_path: Path) -> None:
    formulas = ["=1+2", '=HYPERLINK("http://example.invalid","点击")', "+86 138", "-5", "@SUM(A1)"]
    csv_path = tmp_path / "f.csv"
    csv_path.write_text(
        "值\n" + "".join(f'"{v.replace(chr(34), chr(34) * 2)}"\n' for v in formulas),
        encoding="utf-8",
    )
    assert _rows(read_all(csv_path, format="csv"))["值"].to_list() == formulas

    xlsx_path = tmp_path / "f.xlsx"
    workbook = xlsxwriter.Workbook(str(xlsx_path))
    sheet = workbook.add_worksheet("表")
    sheet.write_string(0, 0, "值")
    for r, value in enumerate(formulas, start=1):
        sheet.write_string(r, 0, value)
    workbook.close()
    assert _rows(read_all(xlsx_path, format="xlsx"))["值"].to_list() == formulas

    jsonl_path = tmp_path / "f.jsonl"
    jsonl_path.write_text("".join(json.dumps({"值": v}) + "\n" for v in formulas), encoding="utf-8")
    assert _rows(read_all(jsonl_path, format="jsonl"))["值"].to_list() == formulas


def test_mixed_line_endings(tmp_path: Path) -> None:
    people = synthetic_people(4, seed=3)
    path = tmp_path / "endings.csv"
    rows = [f"{n},{i}" for n, i in people]
    path.write_bytes(
        f"姓名,身份证号\r\n{rows[0]}\n{rows[1]}\r{rows[2]}\r\n{rows[3]}".encode(
            "gbk"
        )  # no final EOL
    )
    batches = read_all(path, format="csv")
    assert _rows(batches).select("姓名", "身份证号", "_row_number").rows() == [
        (n, i, k) for k, (n, i) in enumerate(people, 1)
    ]
    assert _rejects(batches).height == 0


def test_blank_and_white_space_lines_are_counted_not_rejected(tmp_path: Path) -> None:
    path = tmp_path / "blanks.csv"
    path.write_bytes(b"a,b\r\n1,2\r\n\r\n   \r\n,\r\n3,4\r\n\x1a")
    batches = read_all(path, format="csv")
    assert _rows(batches).select("a", "_row_number").rows() == [("1", 1), ("3", 5)]
    assert _rejects(batches).height == 0


def test_wrong_field_counts_are_rejects_with_raw_line_and_row_number(tmp_path: Path) -> None:
    people = synthetic_people(6, seed=3)
    lines = [f"{n},{i},女" for n, i in people]
    lines[1] = f"{people[1][0]},{people[1][1]}"  # a field missing
    lines[4] = f'{people[4][0]},"{people[4][1]}",女,多出来的,字段'  # two too many
    path = tmp_path / "counts.csv"
    path.write_text("姓名,身份证号,性别\n" + "\n".join(lines) + "\n", encoding="utf-8")
    batches = read_all(path, format="csv")
    assert _rejects(batches).rows() == [
        (2, "wrong_field_count", "expected 3 fields, found 2", lines[1]),
        (5, "wrong_field_count", "expected 3 fields, found 5", lines[4]),
    ]
    rows = _rows(batches)
    assert rows["_row_number"].to_list() == [1, 3, 4, 6]
    assert rows["身份证号"].to_list() == [people[k][1] for k in (0, 2, 3, 5)]


def test_trailing_delimiters_on_every_data_line_widen_the_header(tmp_path: Path) -> None:
    people = synthetic_people(5, seed=3)
    path = tmp_path / "trailing.csv"
    path.write_text("姓名,身份证号\n" + "".join(f"{n},{i},\n" for n, i in people), encoding="utf-8")
    [batch] = read_all(path, format="csv")
    assert batch.columns == ("姓名", "身份证号", "column_3")
    assert batch.rows["身份证号"].to_list() == [i for _, i in people]
    assert batch.rows["column_3"].null_count() == 5
    assert batch.rejects.height == 0


def test_jsonl_bad_lines_are_rejects(tmp_path: Path) -> None:
    lines = [
        '{"a": 1}',
        '{"a": 2,',  # cut
        "[1, 2]",
        '"text"',
        "42",
        '{"a": NaN}',
        "{'a': 3}",
        '{"a": 4} {"a": 5}',
        '{"a": 6}',
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    batches = read_all(path, format="jsonl")
    assert _rejects(batches).select("_row_number", "_reason", "_raw").rows() == [
        (2, "invalid_json", lines[1]),
        (3, "not_an_object", lines[2]),
        (4, "not_an_object", lines[3]),
        (5, "not_an_object", lines[4]),
        (6, "invalid_json", lines[5]),
        (7, "invalid_json", lines[6]),
        (8, "invalid_json", lines[7]),
    ]
    assert _rejects(batches)["_message"][2] == "the line is a string, not a JSON object"
    rows = _rows(batches)
    assert rows.select("a", "_row_number").rows() == [("1", 1), ("6", 9)]


def test_jsonl_batches_without_any_good_line(tmp_path: Path) -> None:
    path = tmp_path / "worst.jsonl"
    path.write_text("[1]\n{}\n\n{oops\n{}\n" + '{"a": "1"}\n', encoding="utf-8")
    batches = read_all(path, format="jsonl", batch_rows=3)
    assert [b.columns for b in batches] == [(), ("a",)]
    assert _rejects(batches).select("_row_number", "_reason").rows() == [
        (1, "not_an_object"),
        (4, "invalid_json"),
    ]
    assert _rows(batches).select("a", "_row_number").rows() == [("1", 6)]  # {} rows are blank


def test_large_csv_streams_in_bounded_batches(tmp_path: Path) -> None:
    n = 400_000
    rng = np.random.default_rng(5)
    names = np.array([name for name, _ in synthetic_people(50, seed=3)], dtype=object)
    frame = pl.DataFrame(
        {
            "序号": np.arange(1, n + 1).astype(str),
            "姓名": names[rng.integers(0, names.size, n)],
            "身份证号": rng.integers(10**17, 10**18, n).astype(str),
            "性别": np.where(rng.random(n) < 0.5, "男", "女"),
            "住址": np.full(n, "贵州省示范自治州青山县桃湖镇云坡村7组23号"),
            "电话": rng.integers(13 * 10**9, 19 * 10**9, n).astype(str),
            "备注": np.full(n, "父母均外出务工，由祖父母照料"),
        }
    )
    path = tmp_path / "large.csv"
    frame.write_csv(path)
    assert path.stat().st_size > 45 * 1024 * 1024
    total = 0
    batches = 0
    last = 0
    for batch in read_batches(path, ReadOptions(format="csv", batch_rows=25_000)):
        assert 0 < batch.rows.height <= 25_000
        numbers = batch.rows["_row_number"]
        assert numbers[0] == last + 1
        last = int(numbers[-1])
        total += batch.rows.height
        batches += 1
    assert total == n
    assert last == n
    assert batches == n // 25_000


def test_reader_errors_are_ingest_errors_with_codes() -> None:
    for error in (CorruptFileError, EmptyFileError, EncodingError, UnsafeArchiveError):
        instance = error(Path("x.csv"), "detail\nwith a break")
        assert isinstance(instance, IngestError)
        assert str(instance) == "x.csv: detail with a break"
        assert instance.code != IngestError.code


def test_read_options_are_checked() -> None:
    with pytest.raises(ValueError, match="format"):
        ReadOptions(format="xls")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch_rows"):
        ReadOptions(format="csv", batch_rows=0)
    with pytest.raises(ValueError, match="header_row"):
        ReadOptions(format="csv", header_row=0)


def test_stream_adapter_reads_in_pieces() -> None:
    stream = readers._Utf8Stream(iter(["甲乙", "", "丙"]))
    data = io.BytesIO()
    while piece := stream.read(4):
        data.write(piece)
    assert data.getvalue().decode() == "甲乙丙"
