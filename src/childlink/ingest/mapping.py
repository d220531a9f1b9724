"""Declarative source mappings: how one department export maps onto the canonical schema.

A data officer adds a department by writing one YAML file, not code. :func:`load_mapping`
validates it and, when it is wrong, raises :class:`MappingError` listing every problem with the
place it occurs, so ``childlink sources validate FILE`` can explain them all at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from childlink.errors import ChildLinkError
from childlink.ingest.schema import CANONICAL_FIELDS, FieldType


class MappingError(ChildLinkError):
    """A mapping file is invalid; ``problems`` lists each problem on its own line."""

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: {len(problems)} problem(s): " + "; ".join(problems))


class ColumnMapping(BaseModel):
    """Where one canonical field comes from in the file, and how to read it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str = Field(min_length=1, description="Header of the column in the file.")
    aliases: tuple[str, ...] = Field(
        default=(), description="Other headers the same column has had in earlier exports."
    )
    required: bool = Field(default=False, description="A row without a valid value is quarantined.")
    codes: dict[str, str] | None = Field(
        default=None, description="Code list: value in the file -> canonical value."
    )
    day_first: bool = Field(default=False, description="Dates like 02/03/2015 are day first.")

    @property
    def headers(self) -> tuple[str, ...]:
        return (self.column, *self.aliases)


class SourceMapping(BaseModel):
    """One department source: file format, header, columns and the fields that identify people."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
    department: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name_zh: str
    name_en: str
    version: str = Field(min_length=1, max_length=32)
    description: str = ""
    format: Literal["csv", "xlsx", "jsonl"]
    file_patterns: tuple[str, ...] = Field(
        default=(), description="Glob patterns of file names this source delivers (auto-detect)."
    )
    encoding: Literal["auto", "utf-8", "utf-8-sig", "gbk", "gb18030"] = "auto"
    sheets: tuple[str, ...] | None = Field(
        default=None, description="Sheets to read; all if unset."
    )
    header_row: int | None = Field(default=None, ge=1, description="1-based; detected if unset.")
    subject: Literal["child", "adult", "mixed"] = Field(
        default="child", description="Whose record a row is: a child, an adult, or either."
    )
    fields: dict[str, ColumnMapping]
    ignore: tuple[str, ...] = Field(
        default=(), description="Columns known to carry nothing canonical (e.g. 序号)."
    )
    identity: tuple[str, ...] = Field(description="Canonical fields that identify the person.")
    sensitive: tuple[str, ...] = Field(
        default=(), description="Fields sensitive in this source beyond the schema's own list."
    )

    @model_validator(mode="after")
    def _consistent(self) -> SourceMapping:
        problems: list[str] = []
        for name, column in self.fields.items():
            field = CANONICAL_FIELDS.get(name)
            if field is None:
                known = ", ".join(sorted(CANONICAL_FIELDS))
                problems.append(f"fields.{name}: not a canonical field (known: {known})")
                continue
            if field.type is FieldType.CODE and not column.codes:
                problems.append(f"fields.{name}: a code field needs a 'codes' list")
            if field.type is not FieldType.CODE and column.codes:
                problems.append(f"fields.{name}: 'codes' only applies to code fields")
        for name in (*self.identity, *self.sensitive):
            if name not in self.fields:
                problems.append(f"{name!r} is listed in identity/sensitive but not mapped")
        if not {"name", "id_number", "student_number"} & set(self.identity):
            problems.append("identity must include at least one of name, id_number, student_number")
        headers = [h for column in self.fields.values() for h in column.headers]
        duplicated = sorted({h for h in headers if headers.count(h) > 1})
        if duplicated:
            problems.append(f"columns mapped twice: {', '.join(duplicated)}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def expected_headers(self) -> tuple[str, ...]:
        """Every header this mapping knows, for header-row detection."""
        return tuple(h for column in self.fields.values() for h in column.headers) + self.ignore

    def is_sensitive(self, field: str) -> bool:
        return field in self.sensitive or CANONICAL_FIELDS[field].sensitive


def load_mapping(path: Path) -> SourceMapping:
    """Read and validate one mapping file.

    Raises:
        MappingError: listing every problem (YAML syntax, unknown keys, types, consistency).
    """
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise MappingError(str(path), ["file not found"]) from error
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise MappingError(
            str(path), [f"not valid UTF-8 YAML: {' '.join(str(error).split())}"]
        ) from error
    if not isinstance(document, dict):
        raise MappingError(str(path), ["the file must hold a mapping (key: value) at the top"])
    try:
        return SourceMapping.model_validate(document)
    except ValidationError as error:
        raise MappingError(str(path), _explain(error)) from error


def _explain(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key (typo?)"
        elif item["type"] == "missing":
            message = "required key is missing"
        problems.append(f"{where}: {message}")
    return problems


def shipped_mapping_paths() -> Iterator[Path]:
    """The mapping files shipped with ChildLink, one per source of the synthetic county."""
    folder = resources.files("childlink.ingest") / "mappings"
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if entry.name.endswith((".yaml", ".yml")):
            yield Path(str(entry))


def shipped_mappings() -> dict[str, SourceMapping]:
    """Shipped mappings by source code."""
    mappings = [load_mapping(path) for path in shipped_mapping_paths()]
    return {mapping.source: mapping for mapping in mappings}


def available_mappings(extra_dir: Path | None = None) -> dict[str, SourceMapping]:
    """Shipped mappings, overridden and extended by the ``*.yaml`` files in ``extra_dir``."""
    mappings = shipped_mappings()
    if extra_dir is not None:
        if not extra_dir.is_dir():
            raise MappingError(str(extra_dir), ["mappings folder does not exist"])
        for path in sorted([*extra_dir.glob("*.yaml"), *extra_dir.glob("*.yml")]):
            mapping = load_mapping(path)
            mappings[mapping.source] = mapping
    return mappings


def mapping_for_file(path: Path, mappings: dict[str, SourceMapping]) -> SourceMapping | None:
    """The mapping whose ``file_patterns`` match the file name, if exactly one does."""
    matches = [m for m in mappings.values() if any(path.match(p) for p in m.file_patterns)]
    return matches[0] if len(matches) == 1 else None
