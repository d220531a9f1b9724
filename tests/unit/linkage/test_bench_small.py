"""``bench link`` on the smallest inputs, so the benchmark code cannot rot (no timing asserts)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from polars.testing import assert_frame_equal

from childlink.linkage.bench import (
    bench_size,
    children_for,
    county_linkage_frame,
    growth,
    run_in_child,
)
from childlink.linkage.febrl import childlink_frame, load, run_febrl_benchmark
from childlink.linkage.prepare import COLUMNS, prepare_records
from childlink.store.engine import create_session_factory
from childlink.synth.config import SynthConfig
from childlink.synth.service import generate_county
from support import ingest_county, load_county_reference

SIZE = 2_000
SEED = 42


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bench cache holding the county of :data:`SIZE` records (named as ``bench_size`` does)."""
    folder = tmp_path_factory.mktemp("bench-cache")
    children = children_for(SIZE)
    generate_county(SynthConfig(children=children, seed=SEED), folder / f"county-{children}-{SEED}")
    return folder


def test_bench_frame_equals_prepare_records_of_an_ingested_county(
    engine: sa.Engine, cache: Path
) -> None:
    county = cache / f"county-{children_for(SIZE)}-{SEED}"
    factory = create_session_factory(engine)
    load_county_reference(factory, county)
    ingest_county(factory, county)
    with factory() as session:
        from_db = prepare_records(session)

    from_files = county_linkage_frame(county)

    assert from_files.columns == list(COLUMNS)
    assert from_files["rec_id"].n_unique() == from_files.height
    key = ["file_name", "sheet", "row_number"]
    assert_frame_equal(
        from_db.drop("rec_id", "master_child_id").sort(key),
        from_files.drop("rec_id", "master_child_id").sort(key),
    )


def test_bench_size_runs_both_models_in_children(cache: Path) -> None:
    result = bench_size(SIZE, cache, seed=SEED, timeout=None)

    assert "generate" not in result  # the cached county was reused
    assert result["prepare"]["status"] == "ok"
    assert result["source_records"] > SIZE // 2
    for model in ("childlink", "splink_default"):
        row = result[model]
        assert row["status"] == "ok", row
        assert 0.5 < row["precision"] <= 1.0
        assert 0.5 < row["recall"] <= 1.0
        assert row["pairs_compared"] > 0
        assert row["peak_mb"] > 0
        assert row["unmatched_records"] == 0
    doubled = {**result, "size": SIZE * 2, "source_records": result["source_records"] * 2}
    doubled["childlink"] = {**result["childlink"], "seconds": result["childlink"]["seconds"] * 2}
    (step,) = growth([result, doubled], "childlink")
    assert (step["records_ratio"], step["time_ratio"], step["exponent"]) == (2.0, 2.0, 1.0)


def _boom() -> dict[str, object]:
    raise RuntimeError("boom")


def _sleep() -> dict[str, object]:
    import time

    time.sleep(60)
    return {}


def test_run_in_child_reports_errors_and_timeouts() -> None:
    assert run_in_child(_boom) == {"status": "error", "error": "RuntimeError: boom"}
    stopped = run_in_child(_sleep, timeout=3)
    assert stopped["status"] == "timeout"
    assert stopped["peak_mb"] > 0


def test_febrl3_subset_scores_every_linker() -> None:
    result = run_febrl_benchmark(datasets=("febrl3",), limit=300, in_child=False)

    rows = result["febrl3"]["methods"]
    assert set(rows) == {
        "splink_default",
        "recordlinkage_threshold",
        "recordlinkage_ecm",
        "childlink",
    }
    for name, row in rows.items():
        assert row["status"] == "ok", name
        assert row["true_pairs"] > 0
        assert 0.5 < row["f1"] <= 1.0, (name, row)
    assert result["febrl3"]["best_f1"] in rows


def test_febrl_fields_map_onto_the_prepared_columns() -> None:
    tables, true_pairs = load("febrl4", limit=50)
    frame = childlink_frame(tables)

    assert true_pairs == 50
    assert frame.columns == list(COLUMNS)
    assert frame.height == 100
    assert frame["region_code"].drop_nulls().str.len_chars().unique().to_list() == [12]
    assert frame.filter(pl.col("dob").is_not_null())["dob_year"].null_count() == 0
