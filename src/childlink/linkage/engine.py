"""Link prepared child records into clusters: deterministic keys, Splink, constrained clustering.

1. **Deterministic pass**: records sharing their own valid ID number (the ID's birth date agrees
   with the record's) or the same student number (``G`` + ID, or a temporary ``L…`` number) are
   the same child.
2. **Splink** (Fellegi-Sunter on DuckDB) scores candidate pairs among one representative per
   distinct record content of each deterministic group (the monthly attendance rows of a pupil
   collapse into one), with comparisons made for Chinese names, dates and ID numbers.
3. **Constrained clustering**: deterministic edges first, then accepted Splink edges by falling
   probability, joined with a union-find that refuses a merge which would put two different
   valid ID numbers in one child, or join twins (same birth date and guardian, different given
   names). Precision comes first: a wrong merge shows one child's data in another's file.

:data:`CHILDLINK` is ChildLink's model; :data:`SPLINK_DEFAULT` is Splink out of the box (names
and dates as plain strings, no term frequencies, no deterministic pass) for comparison.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import polars as pl
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on
from splink.blocking_analysis import count_comparisons_from_blocking_rules

ModelName = Literal["childlink", "splink_default"]
MODELS: Final[tuple[ModelName, ...]] = ("childlink", "splink_default")
#: Match probability above which a Splink pair is linked automatically.
MATCH_THRESHOLD: Final = 0.99
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
    """Accepted Splink pairs refused by the twins / two-ID constraints."""
    seconds: float
    settings: dict[str, Any] = field(repr=False)


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
        blocking_rules_to_generate_predictions=[
            block_on("pinyin", "dob_year"),
            block_on("dob"),
            block_on("substr(id_any, 1, 14)"),
            block_on("surname_py", "dob_md"),
            block_on("given_py", "region_code"),
            block_on("given_py", "dob_year"),
        ],
        retain_intermediate_calculation_columns=False,
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
    """Union-find whose components remember their valid ID numbers (at most one each)."""

    def __init__(self, size: int) -> None:
        self.parent = np.arange(size, dtype=np.int64)
        self.ids: dict[int, str] = {}

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
        id_a, id_b = self.ids.get(a), self.ids.get(b)
        if id_a is not None and id_b is not None and id_a != id_b:
            return False
        if a > b:
            a, b, id_b = b, a, id_a
        self.parent[b] = a
        if id_b is not None:
            self.ids[a] = id_b
            del self.ids[b]
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


def _count_pairs(db_api: DuckDBAPI, table: Any, settings: SettingsCreator) -> int:
    rules = settings.blocking_rules_to_generate_predictions
    counts = count_comparisons_from_blocking_rules(
        table,
        blocking_rules=rules,
        link_type="dedupe_only",
        unique_id_column_name="rec_id",
        record_sample_proportion=1.0,
    )
    return int(counts[-1]["cumulative_comparison_count"]) if counts else 0


def link_records(
    frame: pl.DataFrame,
    *,
    model: ModelName = "childlink",
    threshold: float | None = None,
    seed: int = 42,
) -> LinkOutput:
    """Cluster the records of :func:`~childlink.linkage.prepare.prepare_records`."""
    started = time.perf_counter()
    _quiet_splink()
    if model == "childlink":
        threshold = MATCH_THRESHOLD if threshold is None else threshold
        return _link_childlink(frame, threshold, seed, started)
    threshold = BASELINE_THRESHOLD if threshold is None else threshold
    return _link_default(frame, threshold, seed, started)


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


def _link_childlink(frame: pl.DataFrame, threshold: float, seed: int, started: float) -> LinkOutput:
    frame = frame.sort("rec_id")
    det = _deterministic_edges(frame)
    groups = _Clusters(frame.height)
    for record, id_key in enumerate(frame["id_key"].to_list()):
        if id_key is not None:
            groups.ids[record] = id_key
    for left, right in det.iter_rows():
        groups.union(left, right)
    det_group = groups.roots()
    # One representative per distinct content of each deterministic group.
    indexed = frame.with_row_index("i").with_columns(group=pl.Series(det_group))
    reps = indexed.unique(["group", *COMPARED], keep="first", maintain_order=True)
    if reps.height < 2:
        return _finish(frame, groups, 0, det.height, 0, 0, {}, "childlink", started)

    db_api = DuckDBAPI()
    table = db_api.register(
        reps.select(_SPLINK_COLUMNS).to_arrow(), dataset_display_name="child_records"
    )
    settings = childlink_settings()
    linker = Linker(table, settings)
    _train_childlink(linker, seed)
    pairs_compared = _count_pairs(db_api, table, settings)
    predictions = linker.inference.predict(threshold_match_probability=threshold)
    edges = _frame(predictions)
    model_json = linker.misc.save_model_to_json()

    index_of = frame.select("rec_id").with_row_index("i")
    edges = (
        edges.select(
            "rec_id_l",
            "rec_id_r",
            "match_probability",
            "dob_l",
            "dob_r",
            "guardian_py_l",
            "guardian_py_r",
            "given_py_l",
            "given_py_r",
        )
        .join(index_of.rename({"rec_id": "rec_id_l", "i": "left"}), on="rec_id_l")
        .join(index_of.rename({"rec_id": "rec_id_r", "i": "right"}), on="rec_id_r")
    )
    twins = (
        (pl.col("dob_l") == pl.col("dob_r"))
        & (pl.col("guardian_py_l") == pl.col("guardian_py_r"))
        & (pl.col("given_py_l") != pl.col("given_py_r"))
    ).fill_null(False)
    allowed = edges.filter(~twins).sort("match_probability", descending=True)
    rejected = edges.height - allowed.height
    for left, right in allowed.select("left", "right").iter_rows():
        if not groups.union(left, right):
            rejected += 1
    return _finish(
        frame,
        groups,
        pairs_compared,
        det.height,
        edges.height,
        rejected,
        model_json,
        "childlink",
        started,
    )


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
    )


def _link_default(frame: pl.DataFrame, threshold: float, seed: int, started: float) -> LinkOutput:
    if frame.height < 2:
        return _empty_output("splink_default", frame, started)
    db_api = DuckDBAPI()
    table = db_api.register(
        frame.select(_SPLINK_COLUMNS).to_arrow(), dataset_display_name="child_records"
    )
    settings = default_settings()
    linker = Linker(table, settings)
    _train_default(linker, seed)
    pairs_compared = _count_pairs(db_api, table, settings)
    predictions = linker.inference.predict(threshold_match_probability=threshold)
    clustered = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=threshold
    )
    result = _frame(clustered)
    clusters = result.select("rec_id", pl.col("cluster_id").cast(pl.String).alias("cluster"))
    return LinkOutput(
        model="splink_default",
        clusters=clusters,
        pairs_compared=pairs_compared,
        deterministic_edges=0,
        probabilistic_edges=_frame(predictions).height,
        rejected_edges=0,
        seconds=time.perf_counter() - started,
        settings=linker.misc.save_model_to_json(),
    )
