"""Read department exports (CSV, XLSX, JSON lines) into batches of raw text rows.

Readers only read: every value comes out as text exactly as the file holds it (``None`` for an
empty cell), nothing is trimmed, converted or evaluated (a cell ``=1+2`` stays ``=1+2``).
Mapping and standardisation happen later. A row that cannot be read as a row does not stop the
file: it becomes a *reject* with a reason code and its raw text.

Row numbers (``_row_number``, 1-based) are chosen so that an officer can find the row in the
file:

* CSV: the number of the CSV *record* counted from the record under the header. A quoted field
  with line breaks inside is one record, so row numbers count records, not physical lines (they
  equal "line number - header line" whenever no field holds a line break). ``\\r\\n``, ``\\n``
  and a lone ``\\r`` all end a record. Blank or white-space-only lines and all-empty records
  (``,,,``) are counted but not returned.
* XLSX: the sheet row minus the header's sheet row (title rows above the header are skipped),
  restarting at 1 on every sheet. Blank rows are counted but not returned.
* JSON lines: the physical line number (there is no header). Blank lines are counted but are
  not data rows: nothing is returned for them.

Memory stays bounded: CSV and JSON lines are streamed (pyarrow's CSV parser, polars' NDJSON
parser) and vectorised per batch; an XLSX workbook is checked for zip bombs before it is opened.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import python_calamine

from childlink.ingest.errors import (
    CorruptFileError,
    EmptyFileError,
    EncodingError,
    HeaderNotFoundError,
    MissingFileError,
    SheetNotFoundError,
    UnsafeArchiveError,
)

Format = Literal["csv", "xlsx", "jsonl"]
FORMATS: tuple[str, ...] = ("csv", "xlsx", "jsonl")
ENCODINGS: tuple[str, ...] = ("auto", "utf-8", "utf-8-sig", "gbk", "gb18030")

ROW_NUMBER = "_row_number"
RAW = "_raw"
REJECT_SCHEMA: dict[str, pl.DataType] = {
    ROW_NUMBER: pl.Int64(),
    "_reason": pl.String(),
    "_message": pl.String(),
    RAW: pl.String(),
}
#: Reject reason codes (see :class:`childlink.ingest.reasons.QuarantineReason`).
WRONG_FIELD_COUNT = "wrong_field_count"
NUL_BYTE = "nul_byte"
FIELD_TOO_LONG = "field_too_long"
INVALID_JSON = "invalid_json"
NOT_AN_OBJECT = "not_an_object"
UNDECODABLE = "undecodable"

#: A reject keeps at most this many characters of its raw text.
RAW_LIMIT = 2_000
#: Header detection looks at this many rows from the first non-empty one.
HEADER_SCAN_ROWS = 20

_CHUNK = 4 * 1024 * 1024
#: pyarrow parses CSV in blocks of this size; one record may not be longer.
_CSV_BLOCK = 4 * 1024 * 1024
_HEAD_LIMIT = 8 * 1024 * 1024
#: At least this many bytes of multi-byte UTF-8 before the first invalid byte: a UTF-8 file
#: with damaged bytes, not a GBK file whose first characters happen to be valid UTF-8.
_UTF8_EVIDENCE = 64
_BOM = codecs.BOM_UTF8
_BLANK = " \t\r\n\x0b\x0c\x1a\u3000"
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_CJK = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
#: Undecodable bytes are decoded as this noncharacter followed by ``\\xNN`` for each byte, so a
#: row holding them can be found (vectorised) and shown.
_MARK = "\ufdd0"
_UNDECODABLE_HANDLER = "childlink.undecodable"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
#: Entries smaller than this are not checked for their compression ratio (harmless anyway).
_RATIO_MIN_BYTES = 1024 * 1024
_MAX_ZIP_ENTRIES = 100_000

CellValue = str | None


def _mark_undecodable(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start : error.end]
    return _MARK + "".join(f"\\x{byte:02x}" for byte in bad), error.end


codecs.register_error(_UNDECODABLE_HANDLER, _mark_undecodable)


@dataclass(frozen=True)
class ReadOptions:
    """How to read one file.

    ``header_row`` is 1-based: the CSV record, or the sheet row, of the header (``None``:
    detect it, see :func:`detect_header`). ``expected_columns`` are the header names the
    mapping expects, used only to find the header row. ``sheets``: XLSX sheets to read
    (``None``: every worksheet). ``encoding`` applies to CSV and JSON lines.
    """

    format: Format
    encoding: str = "auto"
    sheets: tuple[str, ...] | None = None
    header_row: int | None = None
    expected_columns: tuple[str, ...] = ()
    batch_rows: int = 200_000
    max_field_chars: int = 10_000
    max_xlsx_uncompressed_bytes: int = 2 * 1024**3
    max_xlsx_compression_ratio: float = 200.0

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {self.format!r}")
        if self.batch_rows < 1:
            raise ValueError("batch_rows must be at least 1")
        if self.header_row is not None and self.header_row < 1:
            raise ValueError("header_row is 1-based and must be at least 1")
        if self.max_field_chars < 1:
            raise ValueError("max_field_chars must be at least 1")


@dataclass(frozen=True)
class RawBatch:
    """Up to ``batch_rows`` rows of one file (or one sheet), as text.

    ``columns``: the header names as in the file, stripped of surrounding whitespace and BOM;
    an empty name becomes ``column_<n>`` (1-based column) and repeated names ``name__2``,
    ``name__3``. ``rows``: one String column per header column (``None`` for an empty cell),
    ``_row_number`` (Int64, see the module docstring) and ``_raw`` (the row as read: a JSON
    object header -> cell for CSV and XLSX, the line itself for JSON lines). ``rejects``: rows
    that could not be read as rows: ``_row_number``, ``_reason`` (``wrong_field_count``,
    ``nul_byte``, ``field_too_long``, ``invalid_json``, ``not_an_object``, ``undecodable``),
    ``_message`` and ``_raw`` (at most 2,000 characters; NUL shown as ``\\x00``).
    """

    sheet: str | None
    columns: tuple[str, ...]
    rows: pl.DataFrame
    rejects: pl.DataFrame


# --- whole-file checks ---------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    """SHA-256 of the file's bytes (hex), read in chunks."""
    _check_file(path)
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _check_file(path: Path) -> None:
    if not path.exists():
        raise MissingFileError(path, "the file does not exist; check the path")
    if not path.is_file():
        raise MissingFileError(path, "is not a regular file; give the path of the exported file")


def _check_not_empty(path: Path) -> None:
    with path.open("rb") as handle:
        chunk = handle.read(_CHUNK)
        if not chunk:
            raise EmptyFileError(path, "the file is empty (0 bytes); export it again")
        chunk = chunk.removeprefix(_BOM)
        while chunk:
            if chunk.strip():
                return
            chunk = handle.read(_CHUNK)
    raise EmptyFileError(
        path, "the file holds no data (only a byte-order mark or white space); export it again"
    )


# --- encodings ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Utf8Scan:
    bom: bool
    valid: bool
    multibyte: int
    """Bytes beyond the first of multi-byte sequences, before the first invalid byte."""
    cjk: bool
    """A CJK character was decoded before the first invalid byte."""
    error_offset: int
    error_line: int


def _scan_utf8(path: Path) -> _Utf8Scan:
    """Is the file valid UTF-8? Streams the file once, stopping at the first invalid byte."""
    pending = b""
    base = lines = multibyte = 0
    cjk = False
    bom: bool | None = None
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(_CHUNK)
            final = not chunk
            data = pending + chunk
            if bom is None and (len(data) >= len(_BOM) or final):
                bom = data.startswith(_BOM)
            try:
                text, used = codecs.utf_8_decode(data, "strict", final)
            except UnicodeDecodeError as error:
                good = data[: error.start].decode("utf-8")
                multibyte += error.start - len(good)
                cjk = cjk or _CJK.search(good) is not None
                line = lines + data.count(b"\n", 0, error.start) + 1
                return _Utf8Scan(bool(bom), False, multibyte, cjk, base + error.start, line)
            multibyte += used - len(text)
            if not cjk and not text.isascii():
                cjk = _CJK.search(text) is not None
            lines += data.count(b"\n", 0, used)
            pending = data[used:]
            base += used
            if final:
                return _Utf8Scan(bool(bom), True, multibyte, cjk, -1, 0)


def _looks_like_gb18030(path: Path, offset: int) -> bool:
    """Do the bytes from the line holding ``offset`` on decode as GB18030?"""
    start = max(0, offset - 4096)
    with path.open("rb") as handle:
        handle.seek(start)
        data = handle.read(offset - start + 65536)
        at_end = not handle.read(1)
    newline = data.rfind(b"\n", 0, offset - start)
    data = data[newline + 1 :] if newline >= 0 or start == 0 else data[offset - start :]
    try:
        codecs.getincrementaldecoder("gb18030")().decode(data, final=at_end)
    except UnicodeDecodeError:
        return False
    return True


def _normalise_encoding(path: Path, declared: str) -> str:
    name = (declared or "auto").strip().lower().replace("_", "-")
    if name == "auto":
        return name
    try:
        canonical = codecs.lookup(name).name
    except LookupError:
        canonical = name
    canonical = {"gb2312": "gbk", "cp936": "gbk"}.get(canonical, canonical)
    if canonical not in ENCODINGS:
        raise EncodingError(
            path,
            f"encoding {declared!r} is not supported; declare one of {', '.join(ENCODINGS)}",
        )
    return canonical


def _resolve_encoding(path: Path, declared: str) -> tuple[str, bool]:
    """The codec to read the file with, and whether undecodable bytes may occur in it."""
    name = _normalise_encoding(path, declared)
    with path.open("rb") as handle:
        head = handle.read(4)
    if head.startswith(_UTF16_BOMS):
        raise EncodingError(
            path,
            "the file is UTF-16 (a 'Unicode text' export), which is not supported; "
            "save it as CSV UTF-8 and deliver it again",
        )
    scan = _scan_utf8(path)
    utf8 = "utf-8-sig" if scan.bom else "utf-8"
    mostly_utf8 = scan.multibyte >= _UTF8_EVIDENCE
    if name == "auto":
        if scan.valid:
            return utf8, False
        if scan.bom or mostly_utf8:
            return utf8, True
        return "gb18030", True
    if name in ("utf-8", "utf-8-sig"):
        if scan.valid:
            return utf8, False
        if not scan.bom and not mostly_utf8 and _looks_like_gb18030(path, scan.error_offset):
            raise EncodingError(
                path,
                f"declared encoding {declared} but the file is not valid UTF-8 (looks like "
                f"GBK/GB18030; first invalid byte on line {scan.error_line}); declare gbk "
                "or gb18030, or use auto",
            )
        return utf8, True
    # gbk or gb18030: read with gb18030, the superset of GBK, so that the GB18030-only
    # characters that GBK-labelled files often hold still decode.
    if scan.bom or (scan.cjk and (scan.valid or mostly_utf8)):
        raise EncodingError(
            path,
            f"declared encoding {declared} but the file is UTF-8 (reading it as {declared} "
            "would garble the Chinese text); declare utf-8, or use auto",
        )
    return "gb18030", True


def detect_encoding(path: Path, declared: str = "auto") -> str:
    """The codec the readers use for ``path``: ``utf-8``, ``utf-8-sig`` or ``gb18030``.

    ``auto``: a UTF-8 BOM gives ``utf-8-sig``; valid UTF-8 gives ``utf-8`` (also a UTF-8 file
    with a few damaged bytes: those rows become ``undecodable`` rejects); anything else
    ``gb18030`` (the superset of GBK). A declared ``gbk`` or ``gb18030`` is read with
    ``gb18030``.

    Raises:
        EncodingError: the declared encoding does not fit the file (``utf-8`` declared for a
            GBK file, ``gbk`` for a UTF-8 file, which would give mojibake), the file is UTF-16,
            or the encoding is not supported.
    """
    _check_file(path)
    return _resolve_encoding(path, declared)[0]


def _text_chunks(path: Path, codec: str) -> Iterator[str]:
    """The file decoded in chunks; undecodable bytes become ``_MARK`` + ``\\xNN``."""
    decoder = codecs.getincrementaldecoder(codec)(_UNDECODABLE_HANDLER)
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            text = decoder.decode(chunk)
            if text:
                yield text
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail


class _Utf8Stream(io.RawIOBase):
    """A read-only byte stream of the UTF-8 encoding of text chunks (for pyarrow)."""

    def __init__(self, chunks: Iterator[str]) -> None:
        super().__init__()
        self._chunks = chunks
        self._buffer = bytearray()
        self._done = False

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        want = -1 if size is None else size
        while not self._done and (want < 0 or len(self._buffer) < want):
            try:
                self._buffer += next(self._chunks).encode("utf-8")
            except StopIteration:
                self._done = True
        if want < 0 or want >= len(self._buffer):
            out = bytes(self._buffer)
            self._buffer.clear()
            return out
        out = bytes(self._buffer[:want])
        del self._buffer[:want]
        return out

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


# --- header --------------------------------------------------------------------------------


def _header_key(name: str) -> str:
    return "".join(name.replace("\ufeff", "").split()).casefold()


def detect_header(rows: Sequence[Sequence[CellValue]], expected: Sequence[str] = ()) -> int:
    """0-based index of the header among ``rows`` (the first rows of a file or sheet).

    The first of the first 20 rows holding at least half of ``expected`` (compared without
    white space, case-insensitively). Failing that (or with nothing expected), the first row
    with at least half as many non-empty cells as the widest of those rows, and at least two
    unless no row has more than one: title rows (one cell) and blank rows above the header are
    skipped, and a file whose first row is its header gets row 0.
    """
    rows = rows[:HEADER_SCAN_ROWS]
    wanted = {_header_key(name) for name in expected if _header_key(name)}
    if wanted:
        need = (len(wanted) + 1) // 2
        for index, row in enumerate(rows):
            found = {_header_key(cell) for cell in row if cell}
            if len(wanted & found) >= need:
                return index
    counts = [sum(1 for cell in row if cell is not None and cell.strip()) for row in rows]
    widest = max(counts, default=0)
    if widest == 0:
        return 0
    need = max(2 if widest > 1 else 1, (widest + 1) // 2)
    return next(index for index, count in enumerate(counts) if count >= need)


def _column_names(cells: Sequence[CellValue], first_column: int = 1) -> tuple[str, ...]:
    names: list[str] = []
    seen: set[str] = {ROW_NUMBER, RAW}
    for position, cell in enumerate(cells, start=first_column):
        base = (cell or "").replace("\ufeff", "").strip() or f"column_{position}"
        name, copy = base, 1
        while name in seen:
            copy += 1
            name = f"{base}__{copy}"
        seen.add(name)
        names.append(name)
    return tuple(names)


# --- shared batch assembly -----------------------------------------------------------------


def _empty_rows(columns: Sequence[str]) -> pl.DataFrame:
    schema: dict[str, pl.DataType] = {name: pl.String() for name in columns}
    schema[ROW_NUMBER] = pl.Int64()
    schema[RAW] = pl.String()
    return pl.DataFrame(schema=schema)


def _empty_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema=REJECT_SCHEMA)


def _rejects_frame(
    numbers: Sequence[int], reasons: Sequence[str], messages: Sequence[str], raws: Sequence[str]
) -> pl.DataFrame:
    frame = pl.DataFrame(
        {ROW_NUMBER: numbers, "_reason": reasons, "_message": messages, RAW: raws},
        schema=REJECT_SCHEMA,
    )
    return frame.with_columns(_clean_raw(pl.col(RAW)))


def _clean_raw(raw: pl.Expr) -> pl.Expr:
    """A reject's raw text: undecodable marks removed, NUL shown as ``\\x00``, truncated."""
    return (
        raw.str.replace_all(_MARK, "", literal=True)
        .str.replace_all("\x00", "\\x00", literal=True)
        .str.slice(0, RAW_LIMIT)
        .alias(RAW)
    )


def _first_column(columns: Sequence[str], masks: Sequence[pl.Expr]) -> pl.Expr:
    return pl.coalesce(
        [pl.when(mask).then(pl.lit(name)) for name, mask in zip(columns, masks, strict=True)]
    )


def _screen(
    frame: pl.DataFrame, columns: Sequence[str], max_chars: int, marked: bool, codec: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Drop blank rows; move rows with undecodable bytes, NUL or too long fields to rejects.

    ``frame`` has the String ``columns``, ``_row_number`` and possibly ``_raw`` (default: the
    row as a JSON object header -> cell). Vectorised.
    """
    cols = [pl.col(name) for name in columns]
    if cols:
        frame = frame.filter(~pl.all_horizontal([col.is_null() for col in cols]))
    if RAW not in frame.columns:
        frame = frame.with_columns(
            (pl.struct(cols).struct.json_encode() if cols else pl.lit("{}")).alias(RAW)
        )
    if frame.height == 0 or not cols:
        return frame, _empty_rejects()
    checks: list[tuple[str, list[pl.Expr], str]] = []
    if marked:
        undecodable = [col.str.contains(_MARK, literal=True).fill_null(False) for col in cols]
        checks.append((UNDECODABLE, undecodable, f"bytes that are not valid {codec} in column "))
    nul = [col.str.contains("\x00", literal=True).fill_null(False) for col in cols]
    checks.append((NUL_BYTE, nul, "NUL byte (\\x00) in column "))
    # A field has at least as many bytes as characters: count characters only if needed.
    maybe_long = frame.select(
        pl.any_horizontal([col.str.len_bytes().fill_null(0) > max_chars for col in cols])
    ).to_series()
    if maybe_long.any():
        long = [col.str.len_chars().fill_null(0) > max_chars for col in cols]
        checks.append(
            (FIELD_TOO_LONG, long, f"field longer than {max_chars} characters in column ")
        )
    any_bad = frame.select(
        pl.any_horizontal([pl.any_horizontal(masks) for _, masks, _ in checks]).any()
    ).item()
    if not any_bad:
        return frame, _empty_rejects()
    reason_expr: pl.Expr = pl.lit(None, pl.String)
    message_expr: pl.Expr = pl.lit(None, pl.String)
    for reason, masks, text in reversed(checks):
        hit = pl.any_horizontal(masks)
        reason_expr = pl.when(hit).then(pl.lit(reason)).otherwise(reason_expr)
        message_expr = (
            pl.when(hit).then(pl.lit(text) + _first_column(columns, masks)).otherwise(message_expr)
        )
    judged = frame.with_columns(reason_expr.alias("_reason"), message_expr.alias("_message"))
    good = judged.filter(pl.col("_reason").is_null()).drop("_reason", "_message")
    rejects = judged.filter(pl.col("_reason").is_not_null()).select(
        pl.col(ROW_NUMBER), "_reason", "_message", _clean_raw(pl.col(RAW))
    )
    return good, rejects


class _Batcher:
    """Collects screened rows and rejects; hands out batches of at most ``batch_rows`` rows.

    A batch carries the rejects numbered up to its last row (the last batch all the rest).
    """

    def __init__(self, sheet: str | None, columns: tuple[str, ...], batch_rows: int) -> None:
        self.sheet = sheet
        self.columns = columns
        self.batch_rows = batch_rows
        self.frames: list[pl.DataFrame] = []
        self.buffered = 0
        self.rejects: list[pl.DataFrame] = []
        self.rejected = 0
        self.emitted = 0

    def add(self, rows: pl.DataFrame, rejects: pl.DataFrame | None = None) -> Iterator[RawBatch]:
        if rows.height:
            self.frames.append(rows)
            self.buffered += rows.height
        if rejects is not None and rejects.height:
            self.rejects.append(rejects)
            self.rejected += rejects.height
        while self.buffered >= self.batch_rows:
            yield self._emit(self.batch_rows, final=False)
        if self.rejected >= self.batch_rows:
            yield self._emit(self.buffered, final=True)

    def finish(self) -> Iterator[RawBatch]:
        if self.buffered or self.rejected or not self.emitted:
            yield self._emit(self.buffered, final=True)

    def _emit(self, n: int, final: bool) -> RawBatch:
        rows = pl.concat(self.frames) if self.frames else _empty_rows(self.columns)
        out, rest = rows.head(n), rows.slice(n)
        self.frames = [rest] if rest.height else []
        self.buffered = rest.height
        rejects = pl.concat(self.rejects) if self.rejects else _empty_rejects()
        if not final and out.height:
            last = out[ROW_NUMBER][-1]
            keep = rejects.filter(pl.col(ROW_NUMBER) > last)
            rejects = rejects.filter(pl.col(ROW_NUMBER) <= last)
        else:
            keep = _empty_rejects()
        self.rejects = [keep] if keep.height else []
        self.rejected = keep.height
        self.emitted += 1
        ordered = [*self.columns, ROW_NUMBER, RAW]
        return RawBatch(
            sheet=self.sheet,
            columns=self.columns,
            rows=out.select(ordered),
            rejects=rejects.sort(ROW_NUMBER),
        )


# --- CSV -----------------------------------------------------------------------------------


def _csv_head(path: Path, codec: str, wanted: int) -> list[list[str]]:
    """The first ``wanted`` records (by Python's csv, which splits records as pyarrow does)."""
    text = ""
    chunks = _text_chunks(path, codec)
    while True:
        chunk = next(chunks, None)
        if chunk is not None:
            text += chunk
        records, stopped = _parse_records(text, wanted + 1)
        if chunk is None or stopped or len(records) > wanted or len(text) >= _HEAD_LIMIT:
            break
    if chunk is not None and not stopped and len(records) <= wanted:
        records = records[:-1]  # the text was cut: its last record may be incomplete
    return records[:wanted]


def _widened_header(records: list[list[str]], header_index: int) -> list[str]:
    """The header, with unnamed columns added if every sampled data record is wider.

    Exports often end every data line with a delimiter the header line lacks; without this,
    every row would be a ``wrong_field_count`` reject.
    """
    header = records[header_index]
    sample = [r for r in records[header_index + 1 :] if any(field.strip() for field in r)]
    widths = {len(record) for record in sample}
    if len(sample) >= 3 and len(widths) == 1 and (width := widths.pop()) > len(header):
        return header + [""] * (width - len(header))
    return header


def _parse_records(text: str, limit: int) -> tuple[list[list[str]], bool]:
    reader = csv.reader(io.StringIO(text.replace("\x00", " "), newline=""), strict=False)
    records: list[list[str]] = []
    try:
        for record in reader:
            records.append(record)
            if len(records) >= limit:
                break
    except csv.Error:  # a field over csv's size limit: take the records before it
        return records, True
    return records, False


def _read_csv(path: Path, options: ReadOptions, codec: str, marked: bool) -> Iterator[RawBatch]:
    # The header's rows plus a sample of data records.
    needed = (options.header_row or HEADER_SCAN_ROWS) + HEADER_SCAN_ROWS
    records = _csv_head(path, codec, needed)
    cells: list[list[CellValue]] = [[field or None for field in record] for record in records]
    if options.header_row is None:
        first = next((i for i, row in enumerate(cells) if any(c and c.strip() for c in row)), 0)
        header_index = first + detect_header(cells[first:], options.expected_columns)
    else:
        header_index = options.header_row - 1
        if header_index >= len(cells):
            raise HeaderNotFoundError(
                path,
                f"header row {options.header_row} is past the end of the file "
                f"({len(cells)} records); set the right header row",
            )
    if header_index >= len(cells) or not any(c and c.strip() for c in cells[header_index]):
        where = "the first rows are" if options.header_row is None else "that row is"
        raise HeaderNotFoundError(
            path, f"no header row found: {where} empty; set the header row of the mapping"
        )
    columns = _column_names(_widened_header(records, header_index))
    header_number = header_index + 1
    internal = [f"f{i}" for i in range(len(columns))]
    rename = dict(zip(internal, columns, strict=True))
    invalid: list[tuple[int, int, str]] = []

    def on_invalid(row: Any) -> str:
        invalid.append((row.number, row.actual_columns, row.text))
        return "skip"

    source: str | _Utf8Stream
    if marked or codec not in ("utf-8", "utf-8-sig"):
        source = _Utf8Stream(_text_chunks(path, codec))
    else:
        source = str(path)
    try:
        reader = pacsv.open_csv(
            source,
            read_options=pacsv.ReadOptions(
                use_threads=False, block_size=_CSV_BLOCK, column_names=internal
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=",",
                quote_char='"',
                double_quote=True,
                newlines_in_values=True,
                ignore_empty_lines=False,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(internal, pa.string()),
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
                null_values=[""],
            ),
        )
    except pa.ArrowInvalid as error:
        raise _csv_broken(path, error, 0) from error
    numbers = _RecordNumbers()
    batcher = _Batcher(None, columns, options.batch_rows)
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except pa.ArrowInvalid as error:
            raise _csv_broken(path, error, numbers.next - header_number) from error
        numbers.report(invalid)
        invalid.clear()
        record_numbers, skipped = numbers.take(batch.num_rows)
        frame = pl.DataFrame(pl.from_arrow(batch)).rename(rename)
        frame = frame.with_columns(
            pl.Series(ROW_NUMBER, record_numbers - header_number, dtype=pl.Int64)
        ).filter(pl.col(ROW_NUMBER) > 0)
        good, bad = _screen(frame, columns, options.max_field_chars, marked, codec)
        yield from batcher.add(
            good, _concat_rejects(bad, _wrong_counts(skipped, header_number, len(columns)))
        )
    numbers.report(invalid)
    yield from batcher.add(
        _empty_rows(columns).drop(RAW), _wrong_counts(numbers.pending, header_number, len(columns))
    )
    yield from batcher.finish()


def _concat_rejects(*frames: pl.DataFrame) -> pl.DataFrame:
    present = [frame for frame in frames if frame.height]
    return pl.concat(present) if present else _empty_rejects()


def _wrong_counts(
    rows: Sequence[tuple[int, int, str]], header_number: int, width: int
) -> pl.DataFrame:
    """Rejects for records with the wrong number of fields.

    Records up to the header (title rows) are skipped, and so are blank ones (white space,
    or the Ctrl-Z that old DOS programs put at the end): counted, not returned.
    """
    kept = [row for row in rows if row[0] > header_number and row[2].strip(_BLANK)]
    if not kept:
        return _empty_rejects()
    return _rejects_frame(
        [number - header_number for number, _, _ in kept],
        [WRONG_FIELD_COUNT] * len(kept),
        [f"expected {width} fields, found {count}" for _, count, _ in kept],
        [text for _, _, text in kept],
    )


def _csv_broken(path: Path, error: pa.ArrowInvalid, after_row: int) -> CorruptFileError:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    if "straddl" in text:
        return CorruptFileError(
            path,
            f"a record at or after data row {max(after_row, 1)} is longer than "
            f'{_CSV_BLOCK // (1024 * 1024)} MB, most likely an unbalanced quote ("); '
            "fix the quoting and export the file again",
        )
    return CorruptFileError(path, f"the CSV cannot be parsed ({text}); export the file again")


class _RecordNumbers:
    """Record numbers of the rows pyarrow returns, from the numbers of the rows it skipped.

    pyarrow numbers every record (header and skipped ones included) in its invalid-row
    callback, and reports the skipped rows of a block before returning the block's rows, so
    the returned rows are the records not reported as skipped, in order.
    """

    def __init__(self) -> None:
        self.next = 1
        self.pending: list[tuple[int, int, str]] = []

    def report(self, rows: Iterable[tuple[int, int, str]]) -> None:
        for row in rows:
            if row[0] is None:  # pragma: no cover - only with multi-threaded parsing
                raise RuntimeError("pyarrow did not number a skipped CSV row")
            self.pending.append(row)

    def take(self, n: int) -> tuple[npt.NDArray[np.int64], list[tuple[int, int, str]]]:
        """Numbers of the next ``n`` returned rows, and the skipped rows among them."""
        skipped = np.fromiter((row[0] for row in self.pending), np.int64, len(self.pending))
        k = 0
        while True:
            end = self.next + n + k
            k_new = int(np.searchsorted(skipped, end))
            if k_new == k:
                break
            k = k_new
        candidates = np.arange(self.next, end, dtype=np.int64)
        valid = candidates[~np.isin(candidates, skipped[:k])] if k else candidates
        consumed = self.pending[:k]
        del self.pending[:k]
        self.next = end
        return valid, consumed


# --- JSON lines ----------------------------------------------------------------------------


def _line_batches(
    chunks: Iterable[str], batch_rows: int, cap: int
) -> Iterator[tuple[int, list[str]]]:
    """(first line number, lines) in batches; a line longer than ``cap`` is cut to cap + 1."""
    lines: list[str] = []
    first = 1
    partial = ""
    over = False
    for text in chunks:
        pieces = text.split("\n")
        if len(pieces) == 1:
            if not over:
                partial += pieces[0]
                if len(partial) > cap:
                    partial, over = partial[: cap + 1], True
            continue
        lines.append(partial if over else (partial + pieces[0])[: cap + 1])
        lines.extend(pieces[1:-1])
        partial, over = pieces[-1], False
        if len(partial) > cap:
            partial, over = partial[: cap + 1], True
        while len(lines) >= batch_rows:
            yield first, lines[:batch_rows]
            del lines[:batch_rows]
            first += batch_rows
    if partial:
        lines.append(partial)
    while lines:
        yield first, lines[:batch_rows]
        del lines[:batch_rows]
        first += batch_rows


def _ndjson(lines: Sequence[str], schema: dict[str, pl.DataType] | None) -> pl.DataFrame:
    payload = "\n".join(lines).encode("utf-8")
    if schema is None:
        return pl.read_ndjson(io.BytesIO(payload), infer_schema_length=None)
    return pl.read_ndjson(io.BytesIO(payload), schema=schema)


_JSON_READ = pajson.ReadOptions(use_threads=True, block_size=64 * 1024 * 1024)
_PROBE: dict[str, pl.DataType] = {"\x00probe": pl.String()}


def _json_objects_ok(lines: Sequence[str]) -> bool:
    """Is every line one valid JSON object (polars' strict parser)?"""
    try:
        return _ndjson(lines, _PROBE).height == len(lines)
    except Exception:  # polars raises ComputeError, SchemaError or others on bad input
        return False


def _invalid_lines(lines: Sequence[str], lo: int, hi: int, out: list[int]) -> None:
    """Indices in [lo, hi) of lines that are not valid JSON objects (bisection)."""
    if hi <= lo or _json_objects_ok(lines[lo:hi]):
        return
    if hi - lo == 1:
        out.append(lo)
        return
    mid = (lo + hi) // 2
    _invalid_lines(lines, lo, mid, out)
    _invalid_lines(lines, mid, hi, out)


def _json_problem(line: str) -> tuple[str, str]:
    """Reason and message for a line that is not a valid JSON object (rejects only)."""
    try:
        value = json.loads(line)
    except (ValueError, RecursionError) as error:
        return INVALID_JSON, f"invalid JSON: {error}"
    if isinstance(value, dict):
        return INVALID_JSON, "invalid JSON: not strictly valid (NaN, or several values on a line)"
    kinds: dict[type, str] = {list: "an array", str: "a string", bool: "true or false"}
    kind = "null" if value is None else kinds.get(type(value), "a number")
    return NOT_AN_OBJECT, f"the line is {kind}, not a JSON object"


def _inferred_keys(payload: bytes) -> list[str] | None:
    """Top-level keys in order of first appearance (pyarrow's inference is the faster)."""
    try:
        return list(pajson.read_json(io.BytesIO(payload), read_options=_JSON_READ).column_names)
    except Exception:  # type conflicts between lines, invalid JSON
        pass
    try:
        return list(pl.read_ndjson(io.BytesIO(payload), infer_schema_length=None).columns)
    except Exception:  # polars raises ComputeError, SchemaError, ... on bad or mixed input
        return None


def _parse_objects(payload: bytes, lines: int, keys: list[str] | None) -> pl.DataFrame | None:
    """Every value as text, if each of the ``lines`` lines is one valid JSON object."""
    if keys is None:
        keys = _inferred_keys(payload)
        if keys is None:
            return None
    schema = dict.fromkeys(keys, pl.String()) if keys else _PROBE
    try:
        values = pl.read_ndjson(io.BytesIO(payload), schema=schema)
    except Exception:  # invalid JSON
        return None
    if values.height != lines:
        return None
    return values if keys else pl.DataFrame()  # only {}: no columns


def _python_keys(lines: Sequence[str]) -> list[str]:
    """Keys of valid JSON object lines that defeat schema inference (conflicting types)."""
    found: dict[str, None] = {}
    for line in lines:
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            found.update(dict.fromkeys(value))
    return list(found)


def _jsonl_batch(
    first: int, lines: list[str], options: ReadOptions, codec: str, marked: bool, cap: int
) -> RawBatch:
    """One batch of lines: whole-line checks, then polars' NDJSON parser, values as text."""
    frame = pl.DataFrame(
        {
            ROW_NUMBER: pl.int_range(first, first + len(lines), dtype=pl.Int64, eager=True),
            RAW: pl.Series(RAW, lines, dtype=pl.String).str.strip_chars(),
        }
    ).filter(pl.col(RAW) != "")
    line = pl.col(RAW)
    verdict = (
        pl.when(line.str.len_chars() > cap)
        .then(pl.lit(FIELD_TOO_LONG))
        .when(line.str.contains("\x00", literal=True))
        .then(pl.lit(NUL_BYTE))
        .when(pl.lit(marked) & line.str.contains(_MARK, literal=True))
        .then(pl.lit(UNDECODABLE))
        .when(~line.str.starts_with("{"))
        .then(pl.lit(NOT_AN_OBJECT))
        .otherwise(pl.lit(None, pl.String))
        .alias("_reason")
    )
    judged = frame.with_columns(verdict)
    candidates = judged.filter(pl.col("_reason").is_null()).drop("_reason")
    texts: list[str] = candidates[RAW].to_list()
    payload = "\n".join(texts).encode("utf-8")
    values = _parse_objects(payload, len(texts), None) if texts else pl.DataFrame()
    flagged = judged.filter(pl.col("_reason").is_not_null())
    if values is None:  # some line is not a valid JSON object: find which (bisection)
        bad: list[int] = []
        _invalid_lines(texts, 0, len(texts), bad)
        keep = np.ones(len(texts), dtype=bool)
        keep[bad] = False
        invalid = candidates.filter(pl.Series(~keep)).with_columns(
            pl.lit(INVALID_JSON).alias("_reason")
        )
        flagged = pl.concat([flagged, invalid])
        candidates = candidates.filter(pl.Series(keep))
        texts = candidates[RAW].to_list()
        payload = "\n".join(texts).encode("utf-8")
        values = _parse_objects(payload, len(texts), None) if texts else pl.DataFrame()
        if values is None:
            values = _parse_objects(payload, len(texts), _python_keys(texts))
        if values is None:  # pragma: no cover - polars accepted these lines one by one
            raise RuntimeError("JSON lines valid one by one failed together")
    fixed_messages = {
        FIELD_TOO_LONG: f"line longer than {cap} characters",
        NUL_BYTE: "NUL byte (\\x00) in the line",
        UNDECODABLE: f"bytes that are not valid {codec} in the line",
    }
    # Only rejected lines get here: explain each with Python's json.
    explained = [
        _json_problem(text)
        if reason in (NOT_AN_OBJECT, INVALID_JSON)
        else (reason, fixed_messages[reason])
        for reason, text in flagged.select("_reason", RAW).iter_rows()
    ]
    line_rejects = _rejects_frame(
        flagged[ROW_NUMBER].to_list(),
        [reason for reason, _ in explained],
        [message for _, message in explained],
        flagged[RAW].to_list(),
    )
    columns = _column_names([key.strip() for key in values.columns])
    if values.width:  # (lines holding only {} are blank rows)
        values.columns = list(columns)
        rows = pl.concat([values, candidates.select(ROW_NUMBER, RAW)], how="horizontal")
    else:
        rows = _empty_rows(columns)
    good, value_rejects = _screen(rows, columns, options.max_field_chars, marked, codec)
    return RawBatch(
        sheet=None,
        columns=columns,
        rows=good.select([*columns, ROW_NUMBER, RAW]),
        rejects=_concat_rejects(line_rejects, value_rejects).sort(ROW_NUMBER),
    )


def _read_jsonl(path: Path, options: ReadOptions, codec: str, marked: bool) -> Iterator[RawBatch]:
    cap = max(1024 * 1024, 100 * options.max_field_chars)
    produced = False
    for first, lines in _line_batches(_text_chunks(path, codec), options.batch_rows, cap):
        produced = True
        yield _jsonl_batch(first, lines, options, codec, marked, cap)
    if not produced:  # pragma: no cover - an empty file is refused before
        yield RawBatch(None, (), _empty_rows(()), _empty_rejects())


# --- XLSX ----------------------------------------------------------------------------------


def _check_workbook(path: Path, options: ReadOptions) -> None:
    """Refuse what is not a whole XLSX zip, or would inflate too far, without inflating it."""
    with path.open("rb") as handle:
        magic = handle.read(8)
    if not magic.startswith(_ZIP_MAGIC):
        if magic.startswith(_OLE2_MAGIC):
            hint = "it is an old .xls or a password-protected workbook"
        elif magic.lstrip().startswith((b"<", b"\xef\xbb\xbf<")):
            hint = "it is an HTML or XML file named .xlsx"
        else:
            hint = "the file is not a zip archive"
        raise CorruptFileError(
            path,
            f"not an XLSX workbook ({hint}); open it in Excel or WPS, save it as .xlsx "
            "(without a password) and deliver it again",
        )
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as error:
        raise CorruptFileError(
            path,
            f"the XLSX workbook is damaged or truncated ({error}); copy or export it again",
        ) from error
    names = {entry.filename.lower() for entry in entries}
    if "[content_types].xml" not in names or not any(
        name.endswith("workbook.xml") for name in names
    ):
        raise CorruptFileError(
            path,
            "the zip archive has no workbook part (xl/workbook.xml), so it is not an XLSX "
            "workbook; open it in Excel or WPS, save it as .xlsx and deliver it again",
        )
    if len(entries) > _MAX_ZIP_ENTRIES:
        raise UnsafeArchiveError(
            path, f"the workbook has {len(entries)} parts; refusing to open it"
        )
    total = sum(entry.file_size for entry in entries)
    if total > options.max_xlsx_uncompressed_bytes:
        raise UnsafeArchiveError(
            path,
            f"the workbook would inflate to {_size(total)} (limit "
            f"{_size(options.max_xlsx_uncompressed_bytes)}); refusing to open it: split it "
            "into smaller workbooks",
        )
    on_disk = path.stat().st_size
    if sum(entry.compress_size for entry in entries) > on_disk:
        raise CorruptFileError(
            path, "the workbook's zip directory does not match its size; copy or export it again"
        )
    for entry in entries:
        if entry.file_size < _RATIO_MIN_BYTES:
            continue
        ratio = entry.file_size / max(entry.compress_size, 1)
        if ratio > options.max_xlsx_compression_ratio:
            raise UnsafeArchiveError(
                path,
                f"part {entry.filename} would inflate {ratio:.0f}-fold to "
                f"{_size(entry.file_size)} (limit {options.max_xlsx_compression_ratio:.0f}-fold), "
                "as a zip bomb does; refusing to open it",
            )


def _size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


_MIDNIGHT = dt.time(0, 0)


def _cell(value: object) -> CellValue:
    """One XLSX cell as text: integral numbers without ``.0``, dates ISO, booleans lower-case."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        if value.time() == _MIDNIGHT and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat(timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat(timespec="seconds")
    if isinstance(value, dt.timedelta):
        seconds = int(value.total_seconds())
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return None if value is None else str(value)


def _cells(raw: Sequence[object], width: int) -> list[CellValue]:
    row = [_cell(value) for value in raw]
    if len(row) != width:
        row = (row + [None] * width)[:width]
    return row


def _is_blank(row: Sequence[CellValue]) -> bool:
    return all(cell is None for cell in row)


def _read_xlsx(path: Path, options: ReadOptions) -> Iterator[RawBatch]:
    try:
        workbook = python_calamine.CalamineWorkbook.from_path(str(path))
    except Exception as error:  # calamine's errors (zip, XML, password) share no base class
        raise _workbook_broken(path, error) from error
    with workbook:
        worksheets = [
            meta.name
            for meta in workbook.sheets_metadata
            if meta.typ == python_calamine.SheetTypeEnum.WorkSheet
        ]
        if options.sheets:
            missing = [name for name in options.sheets if name not in workbook.sheet_names]
            if missing:
                raise SheetNotFoundError(
                    path,
                    f"no sheet named {', '.join(missing)} (the workbook has "
                    f"{', '.join(workbook.sheet_names)}); fix the mapping's sheets",
                )
            chosen = list(options.sheets)
        else:
            chosen = worksheets
        produced = False
        for name in chosen:
            try:
                sheet = workbook.get_sheet_by_name(name)
            except Exception as error:  # damaged sheet XML
                raise _workbook_broken(path, error) from error
            batches = _read_sheet(path, sheet, name, options)
            first = next(batches, None)
            if first is None:
                if options.sheets:
                    raise EmptyFileError(
                        path, f"sheet {name} is empty; choose another sheet or export it again"
                    )
                continue
            produced = True
            yield first
            yield from batches
        if not produced:
            raise EmptyFileError(
                path, "every sheet of the workbook is empty; export the data again"
            )


def _workbook_broken(path: Path, error: Exception) -> CorruptFileError:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return CorruptFileError(
        path,
        f"the XLSX workbook cannot be read ({type(error).__name__}: {text[:200]}); "
        "open it in Excel or WPS, save it again and deliver it again",
    )


def _read_sheet(
    path: Path, sheet: python_calamine.CalamineSheet, name: str, options: ReadOptions
) -> Iterator[RawBatch]:
    """Batches of one sheet; nothing at all if the sheet is empty."""
    start = sheet.start
    if start is None:
        return
    width = sheet.width
    rows = iter(sheet.iter_rows())
    try:
        # iter_rows starts at sheet row 1 (it pads the empty rows above sheet.start), so
        # counting the rows it gives counts sheet rows.
        skipped = 0
        first: list[CellValue] | None = None
        for raw in rows:
            cells = _cells(raw, width)
            if not _is_blank(cells):
                first = cells
                break
            skipped += 1
        if first is None:
            return
        first_row = skipped  # 0-based sheet row of ``first``
        if options.header_row is None:
            wanted = HEADER_SCAN_ROWS
        else:
            wanted = options.header_row - first_row
            if wanted < 1:
                raise HeaderNotFoundError(
                    path,
                    f"header row {options.header_row} of sheet {name} is empty (the sheet "
                    f"starts at row {first_row + 1}); set the right header row",
                )
        head = [first]
        for raw in rows:
            head.append(_cells(raw, width))
            if len(head) >= wanted:
                break
        if options.header_row is None:
            header_index = detect_header(head, options.expected_columns)
        else:
            header_index = wanted - 1
            if header_index >= len(head) or _is_blank(head[header_index]):
                raise HeaderNotFoundError(
                    path,
                    f"header row {options.header_row} of sheet {name} is empty or past its "
                    "end; set the right header row",
                )
        columns = _column_names(head[header_index], first_column=start[1] + 1)
        batcher = _Batcher(name, columns, options.batch_rows)
        # Data rows stay as calamine gives them (converted per column in _sheet_rows); the
        # rows already converted for header detection convert again to themselves.
        pending: list[Sequence[object]] = list(head[header_index + 1 :])
        next_number = 1  # _row_number of pending[0]
        for raw in rows:
            pending.append(raw if len(raw) == width else _cells(raw, width))
            if len(pending) >= options.batch_rows:
                yield from _sheet_rows(batcher, columns, pending, next_number, options)
                next_number += len(pending)
                pending = []
        if pending:
            yield from _sheet_rows(batcher, columns, pending, next_number, options)
        yield from batcher.finish()
    except python_calamine.CalamineError as error:
        raise _workbook_broken(path, error) from error


def _sheet_rows(
    batcher: _Batcher,
    columns: tuple[str, ...],
    rows: list[Sequence[object]],
    first_number: int,
    options: ReadOptions,
) -> Iterator[RawBatch]:
    frame = pl.DataFrame(
        [
            _sheet_column(name, values)
            for name, values in zip(columns, zip(*rows, strict=True), strict=True)
        ]
    ).with_columns(
        pl.int_range(first_number, first_number + len(rows), dtype=pl.Int64).alias(ROW_NUMBER)
    )
    good, bad = _screen(frame, columns, options.max_field_chars, False, "xlsx")
    yield from batcher.add(good, bad)


def _sheet_column(name: str, values: tuple[object, ...]) -> pl.Series:
    """One column of cells as text (:func:`_cell`); a column of text cells only, vectorised."""
    if set(map(type, values)) <= {str}:
        text = pl.Series(name, values, dtype=pl.String)
        return text.set(text == "", None)
    return pl.Series(name, [_cell(value) for value in values], dtype=pl.String)


# --- entry point ---------------------------------------------------------------------------


def read_batches(path: Path, options: ReadOptions) -> Iterator[RawBatch]:
    """Read ``path`` as ``options.format`` in batches of at most ``options.batch_rows`` rows.

    Every file, and every chosen XLSX sheet, gives at least one batch (a header-only file one
    batch of zero rows with its columns). Problems with the whole file are raised by this call
    itself; a missing header (:class:`HeaderNotFoundError`) and damaged sheets while iterating.

    Raises:
        MissingFileError: the path is not a file.
        EmptyFileError: 0 bytes, only a BOM or white space, or every sheet empty.
        EncodingError: see :func:`detect_encoding`.
        CorruptFileError: not an XLSX zip, truncated, missing workbook parts; a CSV record
            longer than 4 MB (an unbalanced quote).
        UnsafeArchiveError: the workbook would inflate beyond the configured limits.
        HeaderNotFoundError: the header row is empty or past the end.
        SheetNotFoundError: a requested sheet is not in the workbook.
    """
    path = Path(path)
    _check_file(path)
    _check_not_empty(path)
    if options.format == "xlsx":
        _check_workbook(path, options)
        return _read_xlsx(path, options)
    codec, marked = _resolve_encoding(path, options.encoding)
    if options.format == "csv":
        return _read_csv(path, options, codec, marked)
    return _read_jsonl(path, options, codec, marked)
