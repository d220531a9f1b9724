"""Link prepared child records into clusters: deterministic keys, Splink, constrained clustering.

1. **Deterministic pass**: records sharing their own valid ID number (the ID's birth date agrees
   with the record's) or the same student number (``G`` + ID, or a temporary ``L…`` number) are
   the same child.
2. **Splink** (Fellegi-Sunter on DuckDB, or on Spark with ``engine="spark"``) scores candidate
   pairs among one representative per distinct record content of each deterministic group (the
   monthly attendance rows of a pupil collapse into one), with comparisons made for Chinese
   names, dates and ID numbers.
3. **Constrained clustering**: deterministic edges first, then reviewers' must-link decisions,
   then Splink edges at or above the upper threshold by falling probability, joined with a
   union-find that refuses a merge which would put two different valid ID numbers in one
   child, join twins (same birth date and guardian, different given names) or cross a
   reviewer's cannot-link. Precision comes first: a wrong merge shows one child's data in
   another's file.
4. **Review candidates**: Splink pairs between the lower and the upper threshold that would
   join two different clusters (one per pair of clusters, the most probable) go to the
   clerical review queue; pairs refused by a rule are reported with the rule. Each carries its
   waterfall (:func:`waterfall`), the match weight of every comparison.

:data:`CHILDLINK` is ChildLink's model; :data:`SPLINK_DEFAULT` is Splink out of the box (names
and dates as plain strings, no term frequencies, no deterministic pass) for comparison.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on
from splink.blocking_analysis import count_comparisons_from_blocking_rules
from splink.internals.splink_dataframe import SplinkDataFrame

from childlink.errors import ChildLinkError

#: Where Splink runs: embedded DuckDB (the default) or Spark (local mode unless configured).
Engine = Literal["duckdb", "spark"]
ENGINES: Final[tuple[Engine, ...]] = ("duckdb", "spark")
ModelName = Literal["childlink", "splink_default"]
MODELS: Final[tuple[ModelName, ...]] = ("childlink", "splink_default")
#: Match probability above which a Splink pair is linked automatically.
MATCH_THRESHOLD: Final = 0.99
#: Match probability below which a Splink pair is rejected; between the two it is reviewed.
REVIEW_THRESHOLD: Final = 0.80
#: Threshold of the out-of-the-box baseline (Splink's tutorials use 0.95).
BASELINE_THRESHOLD: Final = 0.95
#: Columns whose values decide whether two records of one group are interchangeable for Splink.
COMPARED: Final[tuple[str, ...]] = (
    "name",
    "pinyin",
    "given_py",
    "surname_py",
    "dob",
    "sex",
    "id_any",
    "id_key",
    "guardian_py",
    "region_code",
)
_SPLINK_COLUMNS: Final[tuple[str, ...]] = ("rec_id", *COMPARED, "dob_year", "dob_md")


class UnsupportedEngineError(ChildLinkError):
    """The engine name is not one of :data:`ENGINES`."""


PairOutcome = Literal["review", "twins", "two_valid_ids", "cannot_link"]


@dataclass(frozen=True)
class Constraints:
    """Reviewers' standing decisions as pairs of ``rec_id`` (unknown ids are ignored)."""

    must_link: tuple[tuple[str, str], ...] = ()
    cannot_link: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ScoredPair:
    """A Splink pair that was neither linked nor silently dropped: queued or refused by a rule."""

    left: str
    right: str
    """``rec_id`` of the two records, ``left < right``."""
    match_probability: float
    match_weight: float
    outcome: PairOutcome
    waterfall: dict[str, Any]


@dataclass(frozen=True)
class LinkOutput:
    """Clusters of one run and what produced them."""

    model: ModelName
    clusters: pl.DataFrame
    """``rec_id``, ``cluster`` (the smallest ``rec_id`` of the cluster)."""
    pairs_compared: int
    deterministic_edges: int
    probabilistic_edges: int
    rejected_edges: int
    """Splink pairs above the upper threshold refused by the twins / two-ID / cannot-link rules."""
    seconds: float
    settings: dict[str, Any] = field(repr=False)
    scored_pairs: tuple[ScoredPair, ...] = field(default=(), repr=False)
    """Review candidates (one per pair of clusters) and rule refusals, most probable first."""
    must_links_applied: int = 0
    upper_threshold: float = MATCH_THRESHOLD
    lower_threshold: float = REVIEW_THRESHOLD
    constraint_refusals: int = 0
    """Deterministic edges and must-links refused by a cannot-link or the two-ID rule."""

    @property
    def review_pairs(self) -> int:
        return sum(1 for pair in self.scored_pairs if pair.outcome == "review")


def _name_comparison() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="name",
        comparison_levels=[
            cll.NullLevel("pinyin"),
            cll.ExactMatchLevel("name", term_frequency_adjustments=True).configure(
                label_for_charts="same characters"
            ),
            cll.ExactMatchLevel("pinyin", term_frequency_adjustments=True).configure(
                label_for_charts="same pinyin (homophone, traditional, romanised)"
            ),
            cll.JaroWinklerLevel("pinyin", 0.92),
            cll.And(cll.ExactMatchLevel("surname_py"), cll.JaroWinklerLevel("given_py", 0.85)),
            cll.ExactMatchLevel("given_py").configure(label_for_charts="same given name pinyin"),
            cll.ElseLevel(),
        ],
    )


def _dob_comparison() -> cl.CustomComparison:
    swapped = (
        "substr(dob_l, 1, 4) = substr(dob_r, 1, 4) "
        "AND substr(dob_l, 5, 2) = substr(dob_r, 7, 2) "
        "AND substr(dob_l, 7, 2) = substr(dob_r, 5, 2)"
    )
    return cl.CustomComparison(
        output_column_name="dob",
        comparison_levels=[
            cll.NullLevel("dob"),
            cll.ExactMatchLevel("dob"),
            cll.CustomLevel(swapped, "day and month swapped"),
            cll.DamerauLevenshteinLevel("dob", 1),
            cll.ExactMatchLevel("dob_year"),
            cll.ElseLevel(),
        ],
    )


def _region_comparison() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="region",
        comparison_levels=[
            cll.NullLevel("region_code"),
            cll.CustomLevel(
                "region_code_l = region_code_r AND substr(region_code_l, 10, 3) <> '000'",
                "same village",
            ),
            cll.CustomLevel(
                "substr(region_code_l, 1, 9) = substr(region_code_r, 1, 9) "
                "AND substr(region_code_l, 7, 3) <> '000'",
                "same township",
            ),
            cll.CustomLevel(
                "substr(region_code_l, 1, 6) = substr(region_code_r, 1, 6)", "same county"
            ),
            cll.ElseLevel(),
        ],
    )


def childlink_settings() -> SettingsCreator:
    """ChildLink's comparisons and blocking rules for Chinese child records."""
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="rec_id",
        comparisons=[
            _name_comparison(),
            _dob_comparison(),
            cl.DamerauLevenshteinAtThresholds("id_any", [1]),
            cl.ExactMatch("sex"),
            cl.JaroWinklerAtThresholds("guardian_py", [0.92]),
            _region_comparison(),
        ],
        # Chosen by measuring, on a 1M-record county, the candidate pairs of each rule and
        # the share of true cross-group pairs they block (docs/linkage.md, "Blocking"): 6.7M
        # distinct pairs and 92.3% of true pairs, where the earlier rules (given name + village,
        # given name + birth year, ...) blocked 31.8M summed per rule and 91.3%.
        blocking_rules_to_generate_predictions=[
            block_on("pinyin", "dob_year"),
            block_on("dob"),
            block_on("surname_py", "dob_md"),
            block_on("given_py", "dob_md"),
            block_on("given_py", "guardian_py"),
            block_on("pinyin", "substr(region_code, 1, 9)"),
            # The ID number as given (a wrong check character included): few pairs here, but
            # the rule that finds FEBRL's records with a mistyped name and birth date.
            block_on("id_any"),
        ],
        retain_intermediate_calculation_columns=True,
        additional_columns_to_retain=["id_key", "given_py"],
    )


def default_settings() -> SettingsCreator:
    """Splink out of the box: names and dates compared as plain strings, default blocking."""
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="rec_id",
        comparisons=[
            cl.JaroWinklerAtThresholds("name"),
            cl.JaroWinklerAtThresholds("dob"),
            cl.ExactMatch("id_any"),
            cl.ExactMatch("sex"),
            cl.ExactMatch("region_code"),
        ],
        blocking_rules_to_generate_predictions=[block_on("name"), block_on("dob")],
    )


# --------------------------------------------------------------------------------------------
# Union-find over integer node ids
# --------------------------------------------------------------------------------------------


class _Clusters:
    """Union-find whose components remember their valid ID numbers (at most one each) and the
    records they must never join (reviewers' cannot-link decisions)."""

    def __init__(self, size: int) -> None:
        self.parent = np.arange(size, dtype=np.int64)
        self.ids: dict[int, str] = {}
        self.forbidden: dict[int, set[int]] = {}

    def forbid(self, left: int, right: int) -> None:
        """Never join the components of ``left`` and ``right`` (a cannot-link)."""
        a, b = self.find(left), self.find(right)
        self.forbidden.setdefault(a, set()).add(right)
        self.forbidden.setdefault(b, set()).add(left)

    def refusal(self, left: int, right: int) -> PairOutcome | None:
        """Why joining the two components is refused, or ``None`` when it is allowed."""
        a, b = self.find(left), self.find(right)
        if a == b:
            return None
        id_a, id_b = self.ids.get(a), self.ids.get(b)
        if id_a is not None and id_b is not None and id_a != id_b:
            return "two_valid_ids"
        small, other = (
            (a, b) if len(self.forbidden.get(a, ())) <= len(self.forbidden.get(b, ())) else (b, a)
        )
        if any(self.find(node) == other for node in self.forbidden.get(small, ())):
            return "cannot_link"
        return None

    def find(self, node: int) -> int:
        parent = self.parent
        root = node
        while parent[root] != root:
            root = int(parent[root])
        while parent[node] != root:
            parent[node], node = root, int(parent[node])
        return root

    def union(self, left: int, right: int) -> bool:
        """Join two components unless that puts two different valid IDs in one child."""
        a, b = self.find(left), self.find(right)
        if a == b:
            return True
        if self.refusal(a, b) is not None:
            return False
        id_a, id_b = self.ids.get(a), self.ids.get(b)
        if a > b:
            a, b, id_b = b, a, id_a
        self.parent[b] = a
        if id_b is not None:
            self.ids[a] = id_b
            del self.ids[b]
        moved = self.forbidden.pop(b, None)
        if moved:
            self.forbidden.setdefault(a, set()).update(moved)
        return True

    def roots(self) -> npt.NDArray[np.int64]:
        return np.fromiter(
            (self.find(i) for i in range(len(self.parent))), np.int64, len(self.parent)
        )


def _deterministic_edges(frame: pl.DataFrame) -> pl.DataFrame:
    """``(left, right)`` row indices of records sharing an own ID or student number."""
    indexed = frame.select("id_key", "student_number").with_row_index("i")
    parts = []
    for key in ("id_key", "student_number"):
        parts.append(
            indexed.filter(pl.col(key).is_not_null())
            .with_columns(left=pl.col("i").min().over(key))
            .filter(pl.col("i") != pl.col("left"))
            .select(pl.col("left").cast(pl.Int64), pl.col("i").cast(pl.Int64).alias("right"))
        )
    return pl.concat(parts)


def _train_childlink(linker: Linker, seed: int) -> None:
    linker.training.estimate_probability_two_random_records_match(
        [block_on("id_any", "dob"), block_on("pinyin", "dob", "sex")], recall=0.8
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=seed)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("dob"), max_pairs=1e6, record_sample_proportion=1.0
    )
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("pinyin"), max_pairs=1e6, record_sample_proportion=1.0
    )


def _train_default(linker: Linker, seed: int) -> None:
    linker.training.estimate_probability_two_random_records_match(
        [block_on("name", "dob")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=seed)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("dob"), max_pairs=1e6, record_sample_proportion=1.0
    )
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("name"), max_pairs=1e6, record_sample_proportion=1.0
    )


def _frame(splink_frame: Any) -> pl.DataFrame:
    """A Splink result table as polars (Splink's ``as_pyarrow_table`` is untyped)."""
    table = getattr(splink_frame, "as_pyarrow_table")()  # noqa: B009
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _quiet_splink() -> None:
    for name in ("splink", "splink.internals"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _count_pairs(table: SplinkDataFrame, settings: SettingsCreator) -> int:
    rules = settings.blocking_rules_to_generate_predictions
    counts = count_comparisons_from_blocking_rules(
        table,
        blocking_rules=rules,
        link_type="dedupe_only",
        unique_id_column_name="rec_id",
        record_sample_proportion=1.0,
    )
    return int(counts[-1]["cumulative_comparison_count"]) if counts else 0


@contextmanager
def splink_table(engine: Engine, table: pa.Table) -> Iterator[SplinkDataFrame]:
    """``table`` registered as ``child_records`` with the Splink backend of ``engine``.

    Everything Splink computes from it must be collected (``as_pyarrow_table``) inside the
    ``with`` block: on leaving it, Spark's intermediate tables of the run are dropped.
    """
    if engine == "duckdb":
        yield DuckDBAPI().register(table, dataset_display_name="child_records")
        return
    if engine != "spark":
        raise UnsupportedEngineError(f"engine {engine!r} is not available; use one of {ENGINES}")
    from splink import SparkAPI

    from childlink.linkage.spark import release_tables, spark_session, temporary_views

    session = spark_session()
    before = temporary_views(session)
    try:
        db_api = SparkAPI(  # type: ignore[no-untyped-call]
            spark_session=session, break_lineage_method="parquet"
        )
        # Spark reads Arrow's plain string type; polars exports large/view strings.
        plain = pa.schema(
            [
                pa.field(f.name, pa.string())
                if pa.types.is_large_string(f.type) or pa.types.is_string_view(f.type)
                else f
                for f in table.schema
            ]
        )
        yield db_api.register(table.cast(plain), dataset_display_name="child_records")
    finally:
        release_tables(session, temporary_views(session) - before)


def link_records(
    frame: pl.DataFrame,
    *,
    model: ModelName = "childlink",
    threshold: float | None = None,
    lower_threshold: float | None = None,
    constraints: Constraints | None = None,
    seed: int = 42,
    engine: Engine = "duckdb",
) -> LinkOutput:
    """Cluster the records of :func:`~childlink.linkage.prepare.prepare_records`.

    ``threshold`` links automatically; Splink pairs from ``lower_threshold`` up to it become
    review candidates (ChildLink model only). ``constraints`` are reviewers' decisions.
    ``engine`` is Splink's backend; everything around Splink runs the same on both.
    """
    started = time.perf_counter()
    _quiet_splink()
    if model == "childlink":
        upper = MATCH_THRESHOLD if threshold is None else threshold
        lower = REVIEW_THRESHOLD if lower_threshold is None else lower_threshold
        lower = min(lower, upper)
        output = _link_childlink(
            frame, upper, lower, constraints or Constraints(), seed, started, engine
        )
        return replace(output, upper_threshold=upper, lower_threshold=lower)
    threshold = BASELINE_THRESHOLD if threshold is None else threshold
    return _link_default(frame, threshold, seed, started, engine)


def _empty_output(model: ModelName, frame: pl.DataFrame, started: float) -> LinkOutput:
    return LinkOutput(
        model=model,
        clusters=frame.select("rec_id", pl.col("rec_id").alias("cluster")),
        pairs_compared=0,
        deterministic_edges=0,
        probabilistic_edges=0,
        rejected_edges=0,
        seconds=time.perf_counter() - started,
        settings={},
    )


# --------------------------------------------------------------------------------------------
# Waterfall: the match weight of each comparison
# --------------------------------------------------------------------------------------------


def _level_labels(model_json: dict[str, Any]) -> list[tuple[str, dict[int, str]]]:
    """``(comparison, {comparison vector value: level label})`` as Splink numbers levels.

    Splink gives null levels ``-1`` and counts the other levels down from ``n - 1`` to ``0``.
    """
    result = []
    for comparison in model_json.get("comparisons", []):
        levels = comparison["comparison_levels"]
        counter = sum(1 for level in levels if not level.get("is_null_level")) - 1
        labels: dict[int, str] = {}
        for level in levels:
            label = str(level.get("label_for_charts") or level.get("sql_condition"))
            if level.get("is_null_level"):
                labels[-1] = label
            else:
                labels[counter] = label
                counter -= 1
        result.append((str(comparison["output_column_name"]), labels))
    return result


#: The record column shown beside each comparison of the ChildLink model.
COMPARISON_COLUMNS: Final[dict[str, str]] = {
    "name": "name",
    "dob": "dob",
    "id_any": "id_any",
    "sex": "sex",
    "guardian_py": "guardian_py",
    "region": "region_code",
}


def waterfall(row: dict[str, Any], model_json: dict[str, Any]) -> dict[str, Any]:
    """The waterfall of one scored pair (a row of Splink's ``predict``/``score_pair`` output
    with intermediate columns): prior, each comparison's level and match weight, final weight.

    A comparison's ``match_weight`` includes its term-frequency adjustment (also shown
    separately as ``tf_adjustment``); the prior plus all comparisons is the pair's weight.
    """
    prefix = str(model_json.get("match_weight_column_prefix", "mw_"))
    gamma_prefix = str(model_json.get("comparison_vector_value_column_prefix", "gamma_"))
    prior_p = float(model_json.get("probability_two_random_records_match", 0.0001))
    prior = math.log2(prior_p / (1 - prior_p))
    comparisons = []
    for name, labels in _level_labels(model_json):
        gamma = row.get(f"{gamma_prefix}{name}")
        weight = float(row.get(f"{prefix}{name}") or 0.0)
        tf_weight = float(row.get(f"{prefix}tf_adj_{name}") or 0.0)
        column = COMPARISON_COLUMNS.get(name, name)
        total = weight + tf_weight
        comparisons.append(
            {
                "comparison": name,
                "level": labels.get(int(gamma), str(gamma)) if gamma is not None else None,
                "gamma": None if gamma is None else int(gamma),
                "match_weight": round(total, 4),
                "bayes_factor": round(2.0**total, 6),
                "tf_adjustment": round(tf_weight, 4),
                "value_l": row.get(f"{column}_l"),
                "value_r": row.get(f"{column}_r"),
            }
        )
    return {
        "prior_match_weight": round(prior, 4),
        "comparisons": comparisons,
        "match_weight": round(float(row["match_weight"]), 4),
        "match_probability": float(row["match_probability"]),
    }


# --------------------------------------------------------------------------------------------
# ChildLink's run
# --------------------------------------------------------------------------------------------


def representatives(frame: pl.DataFrame, groups: npt.NDArray[np.int64]) -> pl.DataFrame:
    """One row per distinct compared content of each deterministic group (``i`` = row index)."""
    indexed = frame.with_row_index("i").with_columns(group=pl.Series(groups))
    return indexed.unique(["group", *COMPARED], keep="first", maintain_order=True)


def _constrained_groups(
    frame: pl.DataFrame, det: pl.DataFrame, constraints: Constraints
) -> tuple[_Clusters, int, int]:
    """Union-find after cannot-links, deterministic edges and must-links."""
    groups = _Clusters(frame.height)
    for record, id_key in enumerate(frame["id_key"].to_list()):
        if id_key is not None:
            groups.ids[record] = id_key
    index = {rec: i for i, rec in enumerate(frame["rec_id"].to_list())}
    for left, right in constraints.cannot_link:
        if left in index and right in index:
            groups.forbid(index[left], index[right])
    refused = 0
    for left, right in det.iter_rows():
        refused += not groups.union(left, right)
    applied = 0
    for left, right in constraints.must_link:
        if left in index and right in index:
            joined = groups.union(index[left], index[right])
            applied += joined
            refused += not joined
    return groups, applied, refused


def _link_childlink(
    frame: pl.DataFrame,
    upper: float,
    lower: float,
    constraints: Constraints,
    seed: int,
    started: float,
    engine: Engine,
) -> LinkOutput:
    frame = frame.sort("rec_id")
    det = _deterministic_edges(frame)
    groups, must_applied, refused = _constrained_groups(frame, det, constraints)
    reps = representatives(frame, groups.roots())
    if reps.height < 2:
        return _finish(
            frame, groups, 0, det.height, 0, 0, {}, "childlink", started, (), must_applied, refused
        )

    settings = childlink_settings()
    with splink_table(engine, reps.select(_SPLINK_COLUMNS).to_arrow()) as table:
        linker = Linker(table, settings)
        _train_childlink(linker, seed)
        pairs_compared = _count_pairs(table, settings)
        predictions = linker.inference.predict(threshold_match_probability=lower)
        edges = _frame(predictions)
        model_json = linker.misc.save_model_to_json()

    index_of = frame.select("rec_id").with_row_index("i")
    edges = edges.join(index_of.rename({"rec_id": "rec_id_l", "i": "left"}), on="rec_id_l").join(
        index_of.rename({"rec_id": "rec_id_r", "i": "right"}), on="rec_id_r"
    )
    twins = (
        (pl.col("dob_l") == pl.col("dob_r"))
        & (pl.col("guardian_py_l") == pl.col("guardian_py_r"))
        & (pl.col("given_py_l") != pl.col("given_py_r"))
    ).fill_null(False)
    # Ties broken by record ids: backends return pairs in different orders.
    edges = edges.with_columns(twins=twins).sort(
        ["match_probability", "rec_id_l", "rec_id_r"], descending=[True, False, False]
    )
    is_auto = edges["match_probability"] >= upper
    automatic = int(is_auto.sum())
    found: list[tuple[int, PairOutcome]] = []  # row of ``edges``, outcome
    rejected = 0
    rows = edges.head(automatic).select("left", "right", "twins").iter_rows()
    for position, (left, right, is_twins) in enumerate(rows):
        reason: PairOutcome | None = "twins" if is_twins else groups.refusal(left, right)
        if reason is None:
            groups.union(left, right)
        elif groups.find(left) != groups.find(right):
            rejected += 1
            found.append((position, reason))
    for position, (left, right, is_twins) in enumerate(
        edges.slice(automatic).select("left", "right", "twins").iter_rows(), start=automatic
    ):
        if groups.find(left) != groups.find(right):
            reason = "twins" if is_twins else groups.refusal(left, right)
            found.append((position, reason or "review"))
    picked = edges[[position for position, _ in found]].to_dicts() if found else []
    candidates = [
        (row["left"], row["right"], outcome, row)
        for (_, outcome), row in zip(found, picked, strict=True)
    ]
    scored = _scored_pairs(groups, candidates, model_json)
    return _finish(
        frame,
        groups,
        pairs_compared,
        det.height,
        automatic,
        rejected,
        model_json,
        "childlink",
        started,
        scored,
        must_applied,
        refused,
    )


def _scored_pairs(
    groups: _Clusters,
    candidates: list[tuple[int, int, PairOutcome, dict[str, Any]]],
    model_json: dict[str, Any],
) -> tuple[ScoredPair, ...]:
    """One pair per pair of final clusters and outcome (the most probable), with waterfalls."""
    seen: set[tuple[int, int, str]] = set()
    result = []
    for left, right, outcome, row in candidates:  # already most probable first
        a, b = sorted((groups.find(left), groups.find(right)))
        if a == b or (a, b, outcome) in seen:
            continue
        seen.add((a, b, outcome))
        rec_l, rec_r = sorted((str(row["rec_id_l"]), str(row["rec_id_r"])))
        result.append(
            ScoredPair(
                left=rec_l,
                right=rec_r,
                match_probability=float(row["match_probability"]),
                match_weight=float(row["match_weight"]),
                outcome=outcome,
                waterfall=waterfall(row, model_json),
            )
        )
    return tuple(result)


def _finish(
    frame: pl.DataFrame,
    groups: _Clusters,
    pairs_compared: int,
    deterministic: int,
    probabilistic: int,
    rejected: int,
    model_json: dict[str, Any],
    model: ModelName,
    started: float,
    scored: tuple[ScoredPair, ...] = (),
    must_links: int = 0,
    refused: int = 0,
) -> LinkOutput:
    roots = groups.roots()
    rec_ids = frame["rec_id"]
    clusters = pl.DataFrame({"rec_id": rec_ids, "cluster": rec_ids.gather(roots)})
    return LinkOutput(
        model=model,
        clusters=clusters,
        pairs_compared=pairs_compared,
        deterministic_edges=deterministic,
        probabilistic_edges=probabilistic,
        rejected_edges=rejected,
        seconds=time.perf_counter() - started,
        settings=model_json,
        scored_pairs=scored,
        must_links_applied=must_links,
        constraint_refusals=refused,
    )


def _link_default(
    frame: pl.DataFrame, threshold: float, seed: int, started: float, engine: Engine
) -> LinkOutput:
    if frame.height < 2:
        return _empty_output("splink_default", frame, started)
    settings = default_settings()
    with splink_table(engine, frame.select(_SPLINK_COLUMNS).to_arrow()) as table:
        linker = Linker(table, settings)
        _train_default(linker, seed)
        pairs_compared = _count_pairs(table, settings)
        predictions = linker.inference.predict(threshold_match_probability=threshold)
        clustered = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, threshold_match_probability=threshold
        )
        result = _frame(clustered)
        predicted = _frame(predictions).height
        model_json = linker.misc.save_model_to_json()
    clusters = result.select("rec_id", pl.col("cluster_id").cast(pl.String).alias("cluster"))
    return LinkOutput(
        model="splink_default",
        clusters=clusters,
        pairs_compared=pairs_compared,
        deterministic_edges=0,
        probabilistic_edges=predicted,
        rejected_edges=0,
        seconds=time.perf_counter() - started,
        settings=model_json,
    )
