"""Indicator rules: declarative, versioned YAML files evaluated over features and event windows.

A rule names a risk, a severity, Chinese and English labels and a list of conditions that must
all hold for a child as of the scoring date. A condition is either a feature comparison
(``feature: absent_days_30d, op: ">=", value: 10``) or an event window
(``events: {kinds: [dv_callout], within_days: 90, min_count: 1}``). Every hit carries the facts
that triggered it (the source records behind each condition), so a worker can check them.

Rule files live in ``src/childlink/risk/rules/*.yaml`` (format in docs/risk.md). Evaluation is
vectorised: one boolean expression per rule over the features frame and per-child event counts.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from childlink.errors import ChildLinkError
from childlink.risk.choices import RiskType, RuleSeverity
from childlink.risk.events import EVENT_SCHEMA, KINDS
from childlink.risk.features import FEATURES, describe_events, events_as_of, fact_filter

Op = Literal[">=", ">", "<=", "<", "==", "!="]
_PAYLOAD: Final = frozenset(EVENT_SCHEMA) - {"master_child_id", "record_id", "source", "kind"}

#: Columns of :func:`evaluate_rules`' result.
HIT_SCHEMA: Final[dict[str, pl.DataType]] = {
    "master_child_id": pl.String(),
    "rule_id": pl.String(),
    "rule_version": pl.String(),
    "risk": pl.String(),
    "severity": pl.String(),
    "label_zh": pl.String(),
    "label_en": pl.String(),
    "facts": pl.List(
        pl.Struct(
            {
                "record_id": pl.String(),
                "source": pl.String(),
                "event_date": pl.Date(),
                "text_zh": pl.String(),
                "text_en": pl.String(),
            }
        )
    ),
}


class RuleError(ChildLinkError):
    """A rule file (or a rule fixture) is invalid; ``problems`` lists every problem."""

    def __init__(self, where: str, problems: list[str]) -> None:
        self.where = where
        self.problems = problems
        super().__init__(f"{where}: " + "; ".join(problems))


def _compare(column: pl.Expr, op: Op, value: float | str | bool) -> pl.Expr:
    match op:
        case ">=":
            return column >= value
        case ">":
            return column > value
        case "<=":
            return column <= value
        case "<":
            return column < value
        case "==":
            return column == value
        case "!=":
            return column != value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PayloadTest(_Strict):
    """A test on an event's payload column, e.g. ``screening_score >= 15``."""

    column: str
    op: Op
    value: float | str | bool

    @field_validator("column")
    @classmethod
    def _known_column(cls, value: str) -> str:
        if value not in _PAYLOAD:
            raise ValueError(f"unknown event column {value!r}; known: {sorted(_PAYLOAD)}")
        return value

    def expr(self) -> pl.Expr:
        return _compare(pl.col(self.column), self.op, self.value).fill_null(False)


class EventWindow(_Strict):
    """At least ``min_count`` events of these kinds in the ``within_days`` before the date."""

    kinds: tuple[str, ...] = Field(min_length=1)
    within_days: int | None = Field(default=None, gt=0)
    min_count: int = Field(default=1, ge=1)
    where: tuple[PayloadTest, ...] = ()

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown event kinds {unknown}; known: {list(KINDS)}")
        return value

    def expr(self, as_of: dt.date) -> pl.Expr:
        condition = pl.col("kind").is_in(list(self.kinds))
        if self.within_days is not None:
            condition &= pl.col("event_date") >= as_of - dt.timedelta(days=self.within_days)
        for test in self.where:
            condition &= test.expr()
        return condition


class Condition(_Strict):
    """One condition of a rule: a feature comparison or an event window (exactly one)."""

    feature: str | None = None
    op: Op | None = None
    value: float | None = None
    events: EventWindow | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Condition:
        if (self.feature is None) == (self.events is None):
            raise ValueError("a condition has either `feature` (with op and value) or `events`")
        if self.feature is not None:
            if self.feature not in FEATURES:
                raise ValueError(f"unknown feature {self.feature!r}; known: {list(FEATURES)}")
            if self.op is None or self.value is None:
                raise ValueError(f"feature condition on {self.feature!r} needs `op` and `value`")
        elif self.op is not None or self.value is not None:
            raise ValueError("`op`/`value` belong to a feature condition, not to `events`")
        return self


class Rule(_Strict):
    """One indicator rule (a version is never edited in place: change it, bump the version)."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")]
    version: str = Field(min_length=1)
    risk: RiskType
    severity: RuleSeverity
    label_zh: str = Field(min_length=1)
    label_en: str = Field(min_length=1)
    description: str = ""
    all: tuple[Condition, ...] = Field(min_length=1)

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value


class _RuleFile(_Strict):
    rules: tuple[Rule, ...] = Field(min_length=1)


@dataclass(frozen=True)
class RuleSet:
    """Rules loaded from one or more files (ids unique across the set)."""

    rules: tuple[Rule, ...]
    files: tuple[Path, ...] = field(default=())

    def by_id(self, rule_id: str) -> Rule:
        return next(r for r in self.rules if r.id == rule_id)


def shipped_rules_dir() -> Path:
    """Folder of the rule files that ship with ChildLink."""
    return Path(str(resources.files("childlink.risk") / "rules"))


def _problems(error: ValidationError) -> list[str]:
    return [
        f"{'.'.join(str(p) for p in problem['loc']) or '(file)'}: {problem['msg']}"
        for problem in error.errors()
    ]


def load_rule_file(path: Path) -> tuple[Rule, ...]:
    """Rules of one YAML file; :class:`RuleError` lists every problem."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise RuleError(str(path), [f"cannot read: {error}"]) from error
    try:
        rules = _RuleFile.model_validate(data).rules
    except ValidationError as error:
        raise RuleError(str(path), _problems(error)) from error
    duplicates = sorted({r.id for r in rules if sum(o.id == r.id for o in rules) > 1})
    if duplicates:
        raise RuleError(str(path), [f"rule id used twice: {d}" for d in duplicates])
    return rules


#: Parsed rule sets of this process, by folder/file and the (path, mtime, size) of each file.
_RULES_CACHE: dict[tuple[str, tuple[tuple[str, int, int], ...]], RuleSet] = {}
_RULES_CACHE_SIZE: Final = 16


def _stamp(file: Path) -> tuple[str, int, int]:
    try:
        stat = file.stat()
    except OSError:
        return (str(file), -1, -1)
    return (str(file), stat.st_mtime_ns, stat.st_size)


def load_rules(path: Path | None = None) -> RuleSet:
    """Rules of a file, or of every ``*.yaml`` in a folder (default: the shipped rules).

    Parsed rule sets are kept per process, keyed by the files' paths, modification times and
    sizes: an edited, added or removed rule file is read again on the next call.
    """
    target = path if path is not None else shipped_rules_dir()
    files = tuple(sorted(target.glob("*.yaml"))) if target.is_dir() else (target,)
    key = (str(target), tuple(_stamp(file) for file in files))
    cached = _RULES_CACHE.get(key)
    if cached is not None:
        return cached
    ruleset = _parse_rules(target, files)
    if len(_RULES_CACHE) >= _RULES_CACHE_SIZE:
        _RULES_CACHE.pop(next(iter(_RULES_CACHE)))
    _RULES_CACHE[key] = ruleset
    return ruleset


def _parse_rules(target: Path, files: tuple[Path, ...]) -> RuleSet:
    rules: list[Rule] = []
    for file in files:
        rules.extend(load_rule_file(file))
    seen: dict[str, int] = {}
    for rule in rules:
        seen[rule.id] = seen.get(rule.id, 0) + 1
    duplicates = sorted(k for k, v in seen.items() if v > 1)
    if duplicates:
        raise RuleError(str(target), [f"rule id in several files: {d}" for d in duplicates])
    return RuleSet(rules=tuple(rules), files=files)


def _empty_hits() -> pl.DataFrame:
    return pl.DataFrame(schema=HIT_SCHEMA)


def _window_counts(
    past: pl.LazyFrame, windows: list[tuple[str, EventWindow]], as_of: dt.date
) -> pl.LazyFrame:
    names = [name for name, _ in windows]
    return (
        past.select(
            "master_child_id",
            *(window.expr(as_of).cast(pl.Int64).alias(name) for name, window in windows),
        )
        .group_by("master_child_id")
        .agg(pl.col(names).sum())
    )


def evaluate_rules(
    rules: RuleSet, events: pl.DataFrame, features: pl.DataFrame, as_of: dt.date
) -> pl.DataFrame:
    """Every rule hit as of ``as_of`` (see :data:`HIT_SCHEMA`), with the facts behind it.

    ``features`` is :func:`~childlink.risk.features.build_features` for the same date; event
    windows read only events before the date and known by it, like the features.
    """
    if not rules.rules or features.is_empty():
        return _empty_hits()
    past = events_as_of(events, as_of)
    windows = [
        (f"_w{r}_{c}", condition.events)
        for r, rule in enumerate(rules.rules)
        for c, condition in enumerate(rule.all)
        if condition.events is not None
    ]
    frame = features.lazy()
    if windows:
        frame = frame.join(
            _window_counts(past, windows, as_of), on="master_child_id", how="left"
        ).with_columns(pl.col(name).fill_null(0) for name, _ in windows)
    masks: list[pl.Expr] = []
    for r, rule in enumerate(rules.rules):
        mask = pl.lit(True)
        for c, condition in enumerate(rule.all):
            if condition.events is not None:
                mask &= pl.col(f"_w{r}_{c}") >= condition.events.min_count
            else:
                assert condition.feature is not None
                assert condition.op is not None
                assert condition.value is not None
                mask &= _compare(pl.col(condition.feature), condition.op, condition.value)
        masks.append(mask.fill_null(False).alias(f"_r{r}"))
    hits = (
        frame.select("master_child_id", *masks)
        .unpivot(index="master_child_id", variable_name="_rule", value_name="_hit")
        .filter(pl.col("_hit"))
        .select("master_child_id", pl.col("_rule").str.slice(2).cast(pl.Int64).alias("_r"))
        .collect()
    )
    if hits.is_empty():
        return _empty_hits()
    facts = _facts(rules, hits, past, as_of)
    meta = pl.DataFrame(
        {
            "_r": list(range(len(rules.rules))),
            "rule_id": [r.id for r in rules.rules],
            "rule_version": [r.version for r in rules.rules],
            "risk": [r.risk.value for r in rules.rules],
            "severity": [r.severity.value for r in rules.rules],
            "label_zh": [r.label_zh for r in rules.rules],
            "label_en": [r.label_en for r in rules.rules],
        },
        schema_overrides={"_r": pl.Int64},
    )
    return (
        hits.join(meta, on="_r", how="left")
        .join(facts, on=["master_child_id", "_r"], how="left")
        .with_columns(pl.col("facts").fill_null(pl.lit([], dtype=HIT_SCHEMA["facts"])))
        .select(list(HIT_SCHEMA))
        .sort("master_child_id", "rule_id")
        .cast(HIT_SCHEMA)  # type: ignore[arg-type]
    )


def _facts(rules: RuleSet, hits: pl.DataFrame, past: pl.LazyFrame, as_of: dt.date) -> pl.DataFrame:
    """Per hit (child, rule index): the events behind each of the rule's conditions."""
    children = hits["master_child_id"].unique().implode()
    candidate = describe_events(past.filter(pl.col("master_child_id").is_in(children))).collect()
    parts = []
    for r, rule in enumerate(rules.rules):
        child_ids = hits.filter(pl.col("_r") == r)["master_child_id"]
        if child_ids.is_empty():
            continue
        mine = candidate.filter(pl.col("master_child_id").is_in(child_ids.implode()))
        for condition in rule.all:
            if condition.events is not None:
                chosen = mine.filter(condition.events.expr(as_of))
            else:
                assert condition.feature is not None
                spec = FEATURES[condition.feature]
                if not spec.kinds:
                    continue
                chosen = mine.filter(fact_filter(spec, as_of))
            parts.append(chosen.with_columns(_r=pl.lit(r, pl.Int64)))
    if not parts:
        return pl.DataFrame(
            schema={"master_child_id": pl.String, "_r": pl.Int64, "facts": HIT_SCHEMA["facts"]}
        )
    return (
        pl.concat(parts)
        .unique(["master_child_id", "_r", "record_id"])
        .sort("event_date", "record_id", descending=True)
        .group_by("master_child_id", "_r", maintain_order=True)
        .agg(pl.struct("record_id", "source", "event_date", "text_zh", "text_en").alias("facts"))
    )


# --- fixtures: `childlink rules test` ------------------------------------------------------


@dataclass(frozen=True)
class FixtureResult:
    """Outcome of one fixture case against a rule file."""

    name: str
    passed: bool
    expected: list[tuple[str, str]]
    actual: list[tuple[str, str]]
    missing: list[tuple[str, str]]
    unexpected: list[tuple[str, str]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "missing": [list(x) for x in self.missing],
            "unexpected": [list(x) for x in self.unexpected],
        }


def _fixture_events(rows: Iterable[dict[str, Any]]) -> pl.DataFrame:
    records = []
    for i, row in enumerate(rows):
        record: dict[str, Any] = {name: row.get(name) for name in EVENT_SCHEMA}
        record["record_id"] = str(row.get("record_id") or f"fixture-{i + 1}")
        record["source"] = row.get("source") or "fixture"
        for name in ("event_date", "known_date", "welfare_end"):
            value = record[name]
            if isinstance(value, str):
                record[name] = dt.date.fromisoformat(value)
        record["known_date"] = record["known_date"] or record["event_date"]
        records.append(record)
    return (
        pl.DataFrame(records, schema=EVENT_SCHEMA, orient="row")
        if records
        else pl.DataFrame(schema=EVENT_SCHEMA)
    )


def run_fixture(rules: RuleSet, path: Path) -> FixtureResult:
    """Evaluate ``rules`` on one fixture file and compare with its expected hits.

    A fixture (YAML or JSON) has ``as_of``, ``children`` (``master_child_id``, ``sex``,
    ``birth_date``), ``events`` (rows of the events frame; ``known_date`` defaults to the event
    date) and ``expected`` (``master_child_id`` and ``rule_id`` of every hit of the rules under
    test; hits of rules outside the file are ignored).
    """
    from childlink.risk.features import build_features

    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        as_of = data["as_of"]
        as_of = as_of if isinstance(as_of, dt.date) else dt.date.fromisoformat(str(as_of))
        children = pl.DataFrame(
            [
                {
                    "master_child_id": str(c["master_child_id"]),
                    "sex": c.get("sex"),
                    "birth_date": dt.date.fromisoformat(str(c["birth_date"])),
                    "region_code": c.get("region_code"),
                }
                for c in data["children"]
            ],
            schema={
                "master_child_id": pl.String,
                "sex": pl.String,
                "birth_date": pl.Date,
                "region_code": pl.String,
            },
        )
        events = _fixture_events(data.get("events") or [])
        expected = sorted(
            {(str(e["master_child_id"]), str(e["rule_id"])) for e in data.get("expected") or []}
        )
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError) as error:
        raise RuleError(str(path), [f"invalid fixture: {error!r}"]) from error
    ids = {r.id for r in rules.rules}
    hits = evaluate_rules(rules, events, build_features(events, children, as_of), as_of)
    actual = sorted(hits.select("master_child_id", "rule_id").iter_rows())
    expected = [e for e in expected if e[1] in ids]
    missing = sorted(set(expected) - set(actual))
    unexpected = sorted(set(actual) - set(expected))
    return FixtureResult(
        name=path.name,
        passed=not missing and not unexpected,
        expected=expected,
        actual=actual,
        missing=missing,
        unexpected=unexpected,
    )


def run_fixtures(rules: RuleSet, folder: Path) -> list[FixtureResult]:
    """Every ``*.yaml``/``*.yml``/``*.json`` fixture of ``folder`` (or the one file), by name."""
    if not folder.exists():
        raise RuleError(str(folder), ["no such file or folder"])
    candidates = [folder] if folder.is_file() else list(folder.iterdir())
    files = sorted(p for p in candidates if p.suffix in {".yaml", ".yml", ".json"})
    if not files:
        raise RuleError(str(folder), ["no fixture files (*.yaml, *.json)"])
    return [run_fixture(rules, path) for path in files]
