"""``childlink bench link``: ChildLink's engine beside Splink out of the box, measured.

For each size (source records; the generator writes about :data:`RECORDS_PER_CHILD` records
per child) a county is generated once per run into a cache folder, read and standardised
without the database into the frame :func:`~childlink.linkage.prepare.prepare_records` would
build, and written to Parquet. Each model then runs in its own spawned process (so its peak
memory, ``VmHWM``, is its own) that reads the frame, links it and scores the clusters against
the generator's truth. A run that exceeds its time limit is stopped and reported as such, with
the peak memory it had reached.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
import logging
import math
import multiprocessing
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Final

import polars as pl

from childlink.ingest.mapping import available_mappings, mapping_for_file
from childlink.ingest.pipeline import QUARANTINED, standardise_batch
from childlink.ingest.readers import ReadOptions, read_batches
from childlink.ingest.schema import PERSON_COLUMNS
from childlink.linkage.engine import MODELS, ModelName
from childlink.linkage.prepare import RAW_COLUMNS, prepare_frame
from childlink.regions.choices import RegionLevel
from childlink.regions.service import pad_region_code

#: Source records the generator writes per child with default noise (measured: 22-23).
RECORDS_PER_CHILD: Final = 22
DEFAULT_SIZES: Final[tuple[int, ...]] = (10_000, 100_000, 1_000_000)
#: Seconds one model may run on one county before it is stopped.
DEFAULT_TIMEOUT: Final = 900.0
_SEX: Final = {"M": "male", "F": "female"}
Progress = Callable[[str], None]


# --------------------------------------------------------------------------------------------
# Peak memory and spawned children
# --------------------------------------------------------------------------------------------


def _vm_hwm_mb(pid: int | str = "self") -> float | None:
    """Peak resident memory of a process (VmHWM: unlike ru_maxrss, not inherited on exec)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def _child_main(
    function: Callable[..., dict[str, Any]], args: tuple[Any, ...], conn: Any
) -> None:  # pragma: no cover - runs in the spawned process
    logging.disable(logging.WARNING)  # Splink's training chatter; errors still surface
    os.dup2(2, 1)  # DuckDB's progress bar writes to stdout, which ``--json`` keeps for the result
    try:
        result = function(*args)
        result["peak_mb"] = _vm_hwm_mb()
        conn.send(("ok", result))
    except BaseException as error:
        conn.send(("error", f"{type(error).__name__}: {error}"))
    finally:
        conn.close()


def run_in_child(
    function: Callable[..., dict[str, Any]], *args: Any, timeout: float | None = None
) -> dict[str, Any]:
    """``function(*args)`` in a fresh spawned process, with its ``peak_mb``.

    On timeout the process is killed and ``{"status": "timeout", "seconds", "peak_mb"}`` is
    returned (peak memory read from ``/proc`` just before the kill); on an exception,
    ``{"status": "error", "error": ...}``.
    """
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_child_main, args=(function, args, child), daemon=True)
    started = time.perf_counter()
    process.start()
    child.close()
    try:
        if not parent.poll(timeout):
            peak = _vm_hwm_mb(process.pid) if process.pid else None
            process.kill()
            process.join()
            return {
                "status": "timeout",
                "seconds": round(time.perf_counter() - started, 1),
                "peak_mb": None if peak is None else round(peak, 1),
            }
        try:
            status, payload = parent.recv()
        except EOFError:
            process.join()
            return {"status": "error", "error": f"child exited with code {process.exitcode}"}
    finally:
        parent.close()
    process.join()
    if status != "ok":
        return {"status": "error", "error": payload}
    result: dict[str, Any] = {"status": "ok", **payload}
    return result


# --------------------------------------------------------------------------------------------
# County → linkage frame without the database
# --------------------------------------------------------------------------------------------


def children_for(records: int) -> int:
    """Children to generate for about ``records`` source records."""
    return max(50, round(records / RECORDS_PER_CHILD))


def region_rows(county_dir: Path) -> list[dict[str, str]]:
    with (county_dir / "reference" / "regions.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def regions_frame(rows: Iterable[dict[str, str]]) -> pl.DataFrame:
    """The region tree as :func:`~childlink.linkage.prepare.prepare_frame` reads it."""
    by_code: dict[str, tuple[str, str | None, str, str]] = {}
    for row in rows:
        code = pad_region_code(row["code"])
        parent = row.get("parent_code")
        by_code[code] = (
            code,
            pad_region_code(parent) if parent else None,
            RegionLevel(row["level"]).value.lower(),
            row["name"].strip(),
        )
    return pl.DataFrame(
        list(by_code.values()),
        schema={"code": pl.String, "parent": pl.String, "level": pl.String, "name": pl.String},
        orient="row",
    )


def _attributes(schema: pl.Schema) -> pl.Expr:
    """The ``attributes`` JSON object ingest stores: non-null values, dates as ISO text."""
    members = []
    for name, dtype in schema.items():
        value = pl.col(name).cast(pl.String) if dtype == pl.Date else pl.col(name)
        encoded = pl.struct(value.alias(name)).struct.json_encode()
        members.append(
            pl.when(pl.col(name).is_not_null()).then(
                encoded.str.strip_prefix("{").str.strip_suffix("}")
            )
        )
    if not members:
        return pl.lit("{}")
    return pl.concat_str(
        [pl.lit("{"), pl.concat_str(members, separator=",", ignore_nulls=True), pl.lit("}")]
    )


def _stored_rows(records: pl.DataFrame, source: str, file_name: str) -> pl.DataFrame:
    """One standardised batch in the shape of the stored records (:data:`RAW_COLUMNS`)."""
    attribute_columns = [
        c
        for c in records.columns
        if not c.startswith("_") and c not in PERSON_COLUMNS and c != "name_pinyin"
    ]

    def column(name: str) -> pl.Expr:
        if name in records.columns:
            return pl.col(name).cast(pl.String)
        return pl.lit(None, dtype=pl.String)

    return records.select(
        source=pl.lit(source),
        file_name=pl.lit(file_name),
        sheet=pl.col("_sheet").fill_null(""),
        row_number=pl.col("_row_number").cast(pl.Int64),
        master_child_id=pl.lit(None, dtype=pl.String),
        name=column("name"),
        name_pinyin=column("name_pinyin"),
        sex=column("sex").replace_strict(_SEX, default=None, return_dtype=pl.String),
        birth_date=column("birth_date"),
        region_code=column("region_code"),
        id_number=column("id_number"),
        attributes=_attributes(records.select(attribute_columns).schema),
    )


def read_county_records(county_dir: Path, *, as_of: dt.date | None = None) -> pl.DataFrame:
    """Every record ingest would store from the county's exports, as ``prepare`` reads them.

    Same rules as :func:`childlink.ingest.service.ingest_file`: the first occurrence of each
    content hash within a file is kept, quarantined records are left out (``prepare`` never
    sees them). ``rec_id`` is a zero-padded running number in read order.
    """
    as_of = as_of or dt.date.today()
    known = {pad_region_code(row["code"]) for row in region_rows(county_dir)}
    mappings = available_mappings()
    parts: list[pl.DataFrame] = []
    for path in sorted(p for p in (county_dir / "exports").rglob("*") if p.is_file()):
        mapping = mapping_for_file(path, mappings)
        if mapping is None:
            continue
        options = ReadOptions(
            format=mapping.format,
            encoding=mapping.encoding,
            sheets=mapping.sheets,
            header_row=mapping.header_row,
            expected_columns=mapping.expected_headers(),
        )
        seen = pl.Series("_hash", [], dtype=pl.String)
        for raw in read_batches(path, options):
            std = standardise_batch(raw, mapping, as_of=as_of, known_regions=known or None)
            records = std.records.filter(
                pl.col("_hash").is_first_distinct()
                & ~pl.col("_hash").is_in(seen.implode(), nulls_equal=True)
            )
            seen = pl.concat([seen, records["_hash"]])
            kept = records.filter(pl.col("_status") != QUARANTINED)
            if kept.height:
                parts.append(_stored_rows(kept, mapping.source, path.name))
    if not parts:
        return pl.DataFrame(schema=dict.fromkeys(RAW_COLUMNS, pl.String))
    frame = pl.concat(parts, how="vertical")
    width = max(8, len(str(frame.height)))
    return frame.with_row_index("_i").select(
        pl.col("_i").cast(pl.String).str.zfill(width).alias("rec_id"), pl.exclude("_i")
    )


def county_linkage_frame(
    county_dir: Path, *, reference_date: dt.date | None = None
) -> pl.DataFrame:
    """The frame ``prepare_records`` builds after ingesting the county, without a database."""
    raw = read_county_records(county_dir, as_of=reference_date)
    regions = regions_frame(region_rows(county_dir))
    return prepare_frame(raw, regions, reference_date=reference_date)


# --------------------------------------------------------------------------------------------
# Stages (each runs in its own spawned process)
# --------------------------------------------------------------------------------------------


def _generate_stage(children: int, seed: int, out: str) -> dict[str, Any]:
    from childlink.synth.config import SynthConfig
    from childlink.synth.service import generate_county

    started = time.perf_counter()
    summary = generate_county(SynthConfig(children=children, seed=seed), Path(out))
    return {
        "children": children,
        "source_records": sum(item.rows for item in summary.exports),
        "seconds": round(time.perf_counter() - started, 2),
    }


def _prepare_stage(county_dir: str, parquet: str) -> dict[str, Any]:
    started = time.perf_counter()
    frame = county_linkage_frame(Path(county_dir))
    frame.write_parquet(parquet)
    return {"linkable_records": frame.height, "seconds": round(time.perf_counter() - started, 2)}


def _link_stage(county_dir: str, parquet: str, model: str) -> dict[str, Any]:
    from childlink.linkage.engine import link_records
    from childlink.linkage.evaluate import evaluate_clusters, load_truth

    assert model in MODELS
    name: ModelName = "childlink" if model == "childlink" else "splink_default"
    frame = pl.read_parquet(parquet)
    output = link_records(frame, model=name)
    scores = evaluate_clusters(frame, output.clusters, load_truth(Path(county_dir)), model=name)
    overall = scores.overall
    return {
        "model": model,
        "records": frame.height,
        "precision": round(overall.precision, 5),
        "recall": round(overall.recall, 5),
        "f1": round(overall.f1, 5),
        "bcubed_precision": overall.bcubed_precision,
        "bcubed_recall": overall.bcubed_recall,
        "pairs_compared": output.pairs_compared,
        "predicted_pairs": overall.predicted_pairs,
        "true_pairs": overall.true_pairs,
        "clusters": output.clusters["cluster"].n_unique(),
        "seconds": round(output.seconds, 2),
        "unmatched_records": scores.unmatched_records,
    }


def bench_size(
    size: int,
    cache_dir: Path,
    *,
    seed: int = 42,
    timeout: float | None = DEFAULT_TIMEOUT,
    models: Iterable[ModelName] = MODELS,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Generate (or reuse) the county for ``size`` records and run every model on it."""
    say = progress or (lambda _message: None)
    children = children_for(size)
    county = cache_dir / f"county-{children}-{seed}"
    parquet = cache_dir / f"county-{children}-{seed}.parquet"
    result: dict[str, Any] = {"size": size, "children": children}
    if not (county / "manifest.json").is_file():
        say(f"generating {children:,} children (~{size:,} records)")
        result["generate"] = run_in_child(_generate_stage, children, seed, str(county))
    if not parquet.is_file():
        say(f"reading and standardising {county.name}")
        result["prepare"] = run_in_child(_prepare_stage, str(county), str(parquet))
        if result["prepare"].get("status") != "ok":
            return result
    manifest = json.loads((county / "manifest.json").read_text(encoding="utf-8"))
    result["source_records"] = sum(int(item["rows"]) for item in manifest["summary"]["exports"])
    for model in models:
        say(f"linking {size:,} records with {model}")
        result[model] = run_in_child(_link_stage, str(county), str(parquet), model, timeout=timeout)
    return result


def growth(rows: list[dict[str, Any]], model: str) -> list[dict[str, Any]]:
    """Time ratio and exponent (``t ∝ n^k``) between consecutive sizes that both finished."""
    steps = []
    finished = [r for r in rows if r.get(model, {}).get("status") == "ok"]
    for before, after in itertools.pairwise(finished):
        n0, n1 = before["source_records"], after["source_records"]
        t0, t1 = before[model]["seconds"], after[model]["seconds"]
        ratio = t1 / t0 if t0 else math.inf
        measurable = 0 < ratio < math.inf and n0 > 0 and n1 != n0
        steps.append(
            {
                "from": before["size"],
                "to": after["size"],
                "records_ratio": round(n1 / n0, 2),
                "time_ratio": round(ratio, 2),
                "exponent": round(math.log(ratio) / math.log(n1 / n0), 2) if measurable else None,
            }
        )
    return steps


def run_link_benchmark(
    sizes: Iterable[int] = DEFAULT_SIZES,
    *,
    seed: int = 42,
    timeout: float | None = DEFAULT_TIMEOUT,
    febrl: bool = True,
    febrl_limit: int | None = None,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Counties of each size (ChildLink vs Splink defaults), then FEBRL3/4."""
    from childlink.linkage.febrl import run_febrl_benchmark

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="childlink-bench-link-") as tmp:
        cache = cache_dir or Path(tmp)
        counties = [
            bench_size(size, cache, seed=seed, timeout=timeout, progress=progress)
            for size in sorted(sizes)
        ]
    result: dict[str, Any] = {
        "stage": "link",
        "counties": counties,
        "growth": {model: growth(counties, model) for model in MODELS},
    }
    if febrl:
        result["febrl"] = run_febrl_benchmark(limit=febrl_limit, progress=progress)
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result
