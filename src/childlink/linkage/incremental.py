"""Link new records to an existing master child index without re-linking the county.

A full run (:func:`~childlink.linkage.engine.link_records`) trains the model and clusters every
record. When a new batch arrives, the county does not have to be recomputed: the saved model of
the last full run scores only

* new records against one representative per distinct content of every existing child
  (Splink's ``predict_between``), and
* new records against each other (``predict_within``),

and the same constrained clustering as a full run attaches each new record to an existing child
or groups it into a new one. Existing children are never merged or split here: a pair that
would join two existing children goes to the review queue instead, so every existing master id
and every existing record's master stay exactly as they were.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Final

import numpy as np
import polars as pl
from splink import DuckDBAPI, Linker

from childlink.errors import ChildLinkError
from childlink.linkage.engine import (
    _SPLINK_COLUMNS,
    MATCH_THRESHOLD,
    REVIEW_THRESHOLD,
    Constraints,
    LinkOutput,
    PairOutcome,
    _Clusters,
    _deterministic_edges,
    _finish,
    _frame,
    _quiet_splink,
    _scored_pairs,
    representatives,
)

#: Comparison columns whose term frequencies the ChildLink model uses.
TF_COLUMNS: Final[tuple[str, ...]] = ("name", "pinyin")


class NoSavedModelError(ChildLinkError):
    """Incremental linking needs the model of an earlier full run."""


def load_saved_settings(path: str | Path | None) -> dict[str, Any]:
    """The Splink settings (with trained m and u values) saved by a full ChildLink run."""
    if path is None or not Path(path).is_file():
        raise NoSavedModelError(
            "no saved linkage model: run `childlink link run` once without --incremental"
        )
    document = json.loads(Path(path).read_text("utf-8"))
    if document.get("model") != "childlink" or not document.get("splink_settings"):
        raise NoSavedModelError(f"{path} is not a saved ChildLink model")
    settings = document["splink_settings"]
    assert isinstance(settings, dict)
    return settings


class _IncrementalClusters(_Clusters):
    """Union-find that never joins two components which both hold existing records."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.existing: set[int] = set()

    def refusal(self, left: int, right: int) -> PairOutcome | None:
        a, b = self.find(left), self.find(right)
        if a != b and a in self.existing and b in self.existing:
            return "review"
        return super().refusal(left, right)

    def union(self, left: int, right: int) -> bool:
        a, b = self.find(left), self.find(right)
        holds_existing = a in self.existing or b in self.existing
        joined = super().union(left, right)
        if joined and holds_existing:
            self.existing.discard(a)
            self.existing.discard(b)
            self.existing.add(self.find(left))
        return joined

    def adopt(self, members: list[int]) -> None:
        """Put the records of one existing child into one component, whatever their IDs."""
        root = min(members)
        for member in members:
            if member != root:
                self.parent[member] = root
        first_id = next((self.ids.pop(m) for m in members if m in self.ids), None)
        for member in members:
            self.ids.pop(member, None)
        if first_id is not None:
            self.ids[root] = first_id
        self.existing.add(root)


def link_new_records(
    frame: pl.DataFrame,
    saved_settings: dict[str, Any],
    *,
    threshold: float | None = None,
    lower_threshold: float | None = None,
    constraints: Constraints | None = None,
) -> LinkOutput:
    """Cluster ``frame`` (all linkable records) keeping every existing master as it is.

    Records with a ``master_child_id`` are existing; the others are new. The returned clusters
    cover every record; a cluster holds at most one existing child.
    """
    started = time.perf_counter()
    _quiet_splink()
    upper = MATCH_THRESHOLD if threshold is None else threshold
    lower = min(REVIEW_THRESHOLD if lower_threshold is None else lower_threshold, upper)
    constraints = constraints or Constraints()
    frame = frame.sort("rec_id")
    groups = _IncrementalClusters(frame.height)
    for record, id_key in enumerate(frame["id_key"].to_list()):
        if id_key is not None:
            groups.ids[record] = id_key
    masters = (
        frame.with_row_index("i")
        .filter(pl.col("master_child_id").is_not_null())
        .group_by("master_child_id")
        .agg(pl.col("i"))
    )
    for members in masters["i"].to_list():
        groups.adopt([int(m) for m in members])
    index = {rec: i for i, rec in enumerate(frame["rec_id"].to_list())}
    for left, right in constraints.cannot_link:
        if left in index and right in index:
            groups.forbid(index[left], index[right])

    det = _deterministic_edges(frame)
    refused = 0
    for left, right in det.iter_rows():
        if groups.find(left) != groups.find(right):
            refused += not groups.union(left, right)
    applied = 0
    for left, right in constraints.must_link:
        if (
            left in index
            and right in index
            and groups.find(index[left]) != groups.find(index[right])
        ):
            joined = groups.union(index[left], index[right])
            applied += joined
            refused += not joined

    roots = groups.roots()
    is_existing = np.isin(roots, np.fromiter(groups.existing, np.int64, len(groups.existing)))
    reps = representatives(frame, roots)
    reps = reps.with_columns(existing=pl.Series(is_existing[reps["i"].to_numpy()]))
    new_reps = reps.filter(~pl.col("existing"))
    if new_reps.height == 0:
        return _finish(
            frame, groups, 0, det.height, 0, 0, saved_settings, "childlink", started, (), applied
        )
    old_reps = reps.filter(pl.col("existing"))

    db_api = DuckDBAPI()
    combined = db_api.register(
        reps.select(_SPLINK_COLUMNS).to_arrow(), dataset_display_name="all_records"
    )
    old_table = db_api.register(
        old_reps.select(_SPLINK_COLUMNS).to_arrow(), dataset_display_name="existing_records"
    )
    new_table = db_api.register(
        new_reps.select(_SPLINK_COLUMNS).to_arrow(), dataset_display_name="new_records"
    )
    linker = Linker(combined, saved_settings)
    for column in TF_COLUMNS:
        linker.table_management.compute_tf_table(column)
    parts = []
    if old_reps.height:
        parts.append(_frame(linker.inference.predict_between(old_table, new_table)))
    if new_reps.height >= 2:
        parts.append(_frame(linker.inference.predict_within(new_table)))
    edges = pl.concat(parts, how="diagonal_relaxed") if parts else pl.DataFrame()
    pairs_compared = edges.height
    if pairs_compared:
        edges = edges.filter(pl.col("match_probability") >= lower)
    if edges.height == 0:
        return _finish(
            frame,
            groups,
            pairs_compared,
            det.height,
            0,
            0,
            saved_settings,
            "childlink",
            started,
            (),
            applied,
            refused,
        )

    index_of = frame.select("rec_id").with_row_index("i")
    edges = edges.join(index_of.rename({"rec_id": "rec_id_l", "i": "left"}), on="rec_id_l").join(
        index_of.rename({"rec_id": "rec_id_r", "i": "right"}), on="rec_id_r"
    )
    twins = (
        (pl.col("dob_l") == pl.col("dob_r"))
        & (pl.col("guardian_py_l") == pl.col("guardian_py_r"))
        & (pl.col("given_py_l") != pl.col("given_py_r"))
    ).fill_null(False)
    edges = edges.with_columns(twins=twins).sort("match_probability", descending=True)
    automatic = int((edges["match_probability"] >= upper).sum())
    found: list[tuple[int, PairOutcome]] = []
    rejected = 0
    linked = 0
    rows = edges.select("left", "right", "twins").iter_rows()
    for position, (left, right, is_twins) in enumerate(rows):
        if groups.find(left) == groups.find(right):
            continue
        reason: PairOutcome | None = "twins" if is_twins else groups.refusal(left, right)
        if position < automatic and reason is None:
            groups.union(left, right)
            linked += 1
            continue
        if position < automatic and reason != "review":
            rejected += 1
        found.append((position, reason or "review"))
    picked = edges[[position for position, _ in found]].to_dicts() if found else []
    candidates = [
        (row["left"], row["right"], outcome, row)
        for (_, outcome), row in zip(found, picked, strict=True)
    ]
    scored = _scored_pairs(groups, candidates, saved_settings)
    return _finish(
        frame,
        groups,
        pairs_compared,
        det.height,
        linked,
        rejected,
        saved_settings,
        "childlink",
        started,
        scored,
        applied,
        refused,
    )
