"""Pair counting, B-cubed, constrained union-find and stable master assignment."""

from __future__ import annotations

import polars as pl
import pytest

from childlink.linkage.engine import _Clusters, waterfall
from childlink.linkage.evaluate import bcubed, evaluate_clusters, pair_counts
from childlink.linkage.service import _assign_masters


def test_pair_counts_match_enumeration() -> None:
    labelled = pl.DataFrame(
        {"cluster": ["a", "a", "a", "b", "b", "c"], "entity_id": ["x", "x", "y", "y", "y", "x"]}
    )
    counts = pair_counts(labelled)
    # true pairs: x has 3 records (3 pairs), y has 3 (3 pairs); predicted: a 3, b 1.
    assert (counts.true_positive, counts.predicted, counts.actual) == (2, 4, 6)
    precision, recall = bcubed(labelled)
    assert precision == pytest.approx((2 / 3 * 2 + 1 / 3 + 1 + 1 + 1) / 6)
    assert recall == pytest.approx((2 / 3 * 2 + 1 / 3 + 2 / 3 * 2 + 1 / 3) / 6)


def test_per_defect_scores_cover_pairs_touching_the_defect() -> None:
    records = pl.DataFrame(
        {
            "rec_id": ["1", "2", "3", "4"],
            "file_name": ["f"] * 4,
            "sheet": [""] * 4,
            "row_number": [1, 2, 3, 4],
        }
    )
    truth = pl.DataFrame(
        {
            "file_name": ["f"] * 4,
            "sheet": [""] * 4,
            "row_number": [1, 2, 3, 4],
            "entity_id": ["x", "x", "x", "y"],
            "defects": ["", "id_missing", "", ""],
        }
    )
    clusters = pl.DataFrame({"rec_id": ["1", "2", "3", "4"], "cluster": ["a", "b", "a", "a"]})
    result = evaluate_clusters(records, clusters, truth, model="t")
    assert result.overall.true_pairs == 3
    assert result.overall.true_positive_pairs == 1
    assert result.overall.predicted_pairs == 3
    missing = result.by_defect["id_missing"]
    assert (missing.true_pairs, missing.true_positive_pairs, missing.predicted_pairs) == (2, 0, 0)
    assert missing.recall == 0.0


def test_union_find_never_joins_two_valid_ids() -> None:
    groups = _Clusters(4)
    groups.ids = {0: "ID-A", 3: "ID-B"}
    assert groups.union(1, 3)
    assert groups.union(2, 1)
    assert not groups.union(0, 2)  # would put ID-A and ID-B in one child
    roots = groups.roots().tolist()
    assert roots[1] == roots[2] == roots[3] != roots[0]
    assert groups.union(0, 0)


def test_masters_are_kept_by_majority_and_split_clusters_get_new_ones() -> None:
    clusters = pl.DataFrame(
        {
            "rec_id": ["1", "2", "3", "4", "5", "6"],
            "cluster": ["a", "a", "b", "b", "b", "c"],
            "master_child_id": ["M1", "M1", "M1", "M2", "M2", None],
        }
    )
    masters = dict(_assign_masters(clusters).select("cluster", "master_id").iter_rows())
    assert masters["a"] == "M1"
    assert masters["b"] == "M2"
    assert masters["c"] not in {"M1", "M2"}

    split = pl.DataFrame(
        {"rec_id": ["1", "2", "3"], "cluster": ["a", "a", "b"], "master_child_id": ["M1"] * 3}
    )
    assigned = dict(_assign_masters(split).select("cluster", "master_id").iter_rows())
    assert assigned["a"] == "M1"
    assert assigned["b"] != "M1"


def test_union_find_respects_cannot_link_after_merges() -> None:
    groups = _Clusters(5)
    groups.forbid(0, 4)
    assert groups.union(0, 1)
    assert groups.union(3, 4)
    assert groups.refusal(1, 3) == "cannot_link"  # 1 is with 0, 3 is with 4
    assert not groups.union(1, 3)
    assert groups.union(2, 1)
    assert groups.refusal(2, 4) == "cannot_link"
    assert groups.refusal(2, 2) is None


def test_waterfall_adds_up_to_the_pair_weight() -> None:
    model = {
        "probability_two_random_records_match": 0.001,
        "comparisons": [
            {
                "output_column_name": "name",
                "comparison_levels": [
                    {"label_for_charts": "null", "is_null_level": True},
                    {"label_for_charts": "exact"},
                    {"label_for_charts": "else"},
                ],
            }
        ],
    }
    row = {
        "gamma_name": 1,
        "mw_name": 3.0,
        "mw_tf_adj_name": -0.5,
        "name_l": "张伟",
        "name_r": "张伟",
        "match_weight": -7.4658,
        "match_probability": 0.0056,
    }
    document = waterfall(row, model)
    (item,) = document["comparisons"]
    assert item["level"] == "exact"
    assert item["match_weight"] == pytest.approx(2.5)
    assert item["tf_adjustment"] == pytest.approx(-0.5)
    assert document["prior_match_weight"] + item["match_weight"] == pytest.approx(
        document["match_weight"], abs=0.01
    )
