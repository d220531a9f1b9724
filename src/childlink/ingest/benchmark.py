"""Measured ingest speed: each stage runs in a fresh process so its peak memory is its own."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

from childlink.ingest.mapping import available_mappings
from childlink.ingest.pipeline import standardise_batch
from childlink.ingest.readers import ReadOptions, read_batches

SOURCE = "public_security.household_register"


def _peak_mb() -> float:
    """Peak resident memory of this process (VmHWM: unlike ru_maxrss, not inherited on exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _duckdb_read(path: str) -> dict[str, Any]:
    started = time.perf_counter()
    with duckdb.connect() as connection:
        count = connection.sql(
            f"SELECT count(*) FROM read_csv('{path}', all_varchar = true)"
        ).fetchall()[0][0]
    return {"rows": int(count), "seconds": time.perf_counter() - started, "peak_mb": _peak_mb()}


def _standardise_only(path: str) -> dict[str, Any]:
    mapping = available_mappings()[SOURCE]
    options = ReadOptions(format="csv", expected_columns=mapping.expected_headers())
    started = time.perf_counter()
    rows = 0
    for raw in read_batches(Path(path), options):
        std = standardise_batch(raw, mapping, as_of=dt.date.today())
        rows += std.records.height
    return {"rows": rows, "seconds": time.perf_counter() - started, "peak_mb": _peak_mb()}


def _full_ingest(path: str, data_dir: str) -> dict[str, Any]:
    from childlink.config import Settings
    from childlink.ingest.service import ingest_file
    from childlink.sources.service import seed_reference_data
    from childlink.store import migrate
    from childlink.store.engine import build_engine, create_session_factory, unit_of_work

    settings = Settings(data_dir=Path(data_dir))
    migrate.upgrade(settings)
    engine = build_engine(settings)
    factory = create_session_factory(engine)
    with unit_of_work(factory) as session:
        seed_reference_data(session)
    started = time.perf_counter()
    result = ingest_file(factory, available_mappings()[SOURCE], Path(path))
    seconds = time.perf_counter() - started
    engine.dispose()
    return {"rows": result.rows_in, "seconds": seconds, "peak_mb": _peak_mb()}


def _in_child(function: Any, *args: Any) -> dict[str, Any]:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        result: dict[str, Any] = pool.apply(function, args)
    return result


def run_ingest_benchmark(rows: int, *, store: bool = True) -> dict[str, Any]:
    """Write a ``rows``-row register CSV, then time DuckDB, standardisation and full ingest."""
    from childlink.synth.bench_data import write_register_csv

    with tempfile.TemporaryDirectory(prefix="childlink-bench-ingest-") as tmp:
        path = write_register_csv(Path(tmp) / "household_register.csv", rows)
        stages = [("duckdb_read", _in_child(_duckdb_read, str(path)))]
        stages.append(("read_and_standardise", _in_child(_standardise_only, str(path))))
        if store:
            stages.append(("ingest_into_sqlite", _in_child(_full_ingest, str(path), tmp)))
        size_mb = path.stat().st_size / 1e6
    table = [
        {
            "name": name,
            "rows": stage["rows"],
            "seconds": round(stage["seconds"], 3),
            "rows_per_s": round(stage["rows"] / stage["seconds"], 1),
            "peak_mb": round(stage["peak_mb"], 1),
        }
        for name, stage in stages
    ]
    by_name = {stage["name"]: stage for stage in table}
    return {
        "stage": "ingest",
        "rows": rows,
        "file_mb": round(size_mb, 1),
        "rows_per_s": by_name["read_and_standardise"]["rows_per_s"],
        "peak_mb": by_name["read_and_standardise"]["peak_mb"],
        "duckdb_rows_per_s": by_name["duckdb_read"]["rows_per_s"],
        "stored_rows_per_s": by_name.get("ingest_into_sqlite", {}).get("rows_per_s"),
        "stored_peak_mb": by_name.get("ingest_into_sqlite", {}).get("peak_mb"),
        "stages": table,
    }
