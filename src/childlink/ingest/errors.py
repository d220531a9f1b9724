"""Why a delivered file cannot be read at all (row-level problems are rejects, not errors).

Every error names the file and says what to do, on one line, and carries a machine-readable
``code``. All are :class:`~childlink.errors.IngestError`, so the CLI prints them without a
traceback.
"""

from __future__ import annotations

from pathlib import Path

from childlink.errors import IngestError

__all__ = [
    "CorruptFileError",
    "EmptyFileError",
    "EncodingError",
    "FileReadError",
    "HeaderNotFoundError",
    "IngestError",
    "MissingFileError",
    "SheetNotFoundError",
    "UnsafeArchiveError",
]


class FileReadError(IngestError):
    """Base of the reader's errors: ``path`` is the file, the message is ``"<path>: <detail>"``."""

    code = "unreadable_file"

    def __init__(self, path: Path | str, detail: str) -> None:
        self.path = Path(path)
        self.detail = " ".join(detail.split())
        super().__init__(f"{path}: {self.detail}")


class MissingFileError(FileReadError):
    """The path does not exist or is not a regular file."""

    code = "file_not_found"


class EmptyFileError(FileReadError):
    """The file (or every sheet of the workbook) holds nothing: 0 bytes, a BOM or whitespace."""

    code = "empty_file"


class EncodingError(FileReadError):
    """The declared encoding cannot decode the file, or the encoding is not supported."""

    code = "wrong_encoding"


class CorruptFileError(FileReadError):
    """The file is not what its format says, or it is truncated or damaged."""

    code = "corrupt_file"


class UnsafeArchiveError(FileReadError):
    """An XLSX workbook would inflate beyond the limits (a zip bomb or an absurdly large file)."""

    code = "unsafe_archive"


class HeaderNotFoundError(FileReadError):
    """No header row where it was expected (the requested row is empty or past the end)."""

    code = "header_not_found"


class SheetNotFoundError(FileReadError):
    """A requested sheet is not in the workbook."""

    code = "sheet_not_found"
