"""Generate a whole synthetic county: reference data, department exports and ground truth.

Layout of the output folder::

    manifest.json              config, seed, every file with rows and sha256
    reference/regions.csv      the county's region tree (12-digit codes)
    reference/schools.csv
    exports/<department>/...   what each department hands over (messy, see exports.py)
    truth/                     what really is: people, families, record -> person, outcomes

Only ``exports/`` and ``reference/`` may be fed to the platform; ``truth/`` is for measuring.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from childlink import __version__
from childlink.errors import SynthError
from childlink.synth.config import SynthConfig
from childlink.synth.events import build_timeline
from childlink.synth.exports import EXPORTERS, ExportContext, ExportTruth
from childlink.synth.geography import build_geography
from childlink.synth.population import build_population

#: Number of progress steps :func:`generate_county` reports (for progress bars).
PROGRESS_STEPS = 14
CATEGORY_COLUMNS = (
    "left_behind",
    "orphan",
    "de_facto_unsupported",
    "disability",
    "low_income",
    "migrant",
    "minority",
    "unregistered",
    "street",
)


@dataclass(frozen=True)
class FileSummary:
    path: str
    rows: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class SynthSummary:
    """What a run generated, for the terminal and for scripts (``--json``)."""

    out_dir: str
    seed: int
    children: int
    households: int
    adults: int
    townships: int
    villages: int
    schools: int
    categories: dict[str, int]
    outcomes: dict[str, dict[str, float]]
    exports: list[FileSummary] = field(default_factory=list)
    truth_records: int = 0
    seconds: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2)


def generate_county(
    config: SynthConfig,
    out_dir: Path,
    *,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
) -> SynthSummary:
    """Generate the county described by ``config`` into ``out_dir``.

    Raises:
        SynthError: if ``out_dir`` holds files and ``overwrite`` is false.
    """
    started = time.perf_counter()
    report = progress or (lambda _step: None)
    _prepare(out_dir, overwrite)
    # Independent streams per stage keep each stage deterministic even if another one changes.
    seeds = np.random.SeedSequence(config.seed).spawn(4)
    geo = build_geography(config, np.random.default_rng(seeds[0]))
    report("geography")
    pop = build_population(config, geo, np.random.default_rng(seeds[1]))
    report("population")
    timeline = build_timeline(config, geo, pop, np.random.default_rng(seeds[2]))
    report("time line")

    exports_dir = out_dir / "exports"
    truth = ExportTruth()
    ctx = ExportContext(
        config=config,
        geo=geo,
        pop=pop,
        timeline=timeline,
        out_dir=exports_dir,
        rng=np.random.default_rng(seeds[3]),
        truth=truth,
        progress=report,
    )
    written: list[Path] = []
    for exporter in EXPORTERS:
        written.extend(exporter(ctx))

    reference = out_dir / "reference"
    reference.mkdir(parents=True, exist_ok=True)
    geo.regions.write_csv(reference / "regions.csv")
    geo.schools.write_csv(reference / "schools.csv")

    truth_dir = out_dir / "truth"
    truth_dir.mkdir(parents=True, exist_ok=True)
    records = truth.records()
    records.write_parquet(truth_dir / "records.parquet")
    pop.children.write_parquet(truth_dir / "children.parquet")
    pop.adults.write_parquet(truth_dir / "adults.parquet")
    pop.households.write_parquet(truth_dir / "households.parquet")
    family_links(pop.children).write_parquet(truth_dir / "family_links.parquet")
    timeline.outcomes.write_parquet(truth_dir / "outcomes.parquet")
    events_dir = truth_dir / "events"
    events_dir.mkdir(exist_ok=True)
    for name in (
        "enrolments",
        "attendance",
        "welfare",
        "health_visits",
        "screenings",
        "incidents",
        "home_visits",
        "mandatory_reports",
        "transfers",
    ):
        getattr(timeline, name).write_parquet(events_dir / f"{name}.parquet")
    report("ground truth")

    row_counts = (
        records.group_by("file", "sheet")
        .agg(pl.col("row_number").n_unique().alias("rows"))
        .group_by("file")
        .agg(pl.col("rows").sum())
    )
    rows_of = dict(row_counts.iter_rows())
    exports = [
        FileSummary(
            path=str(path.relative_to(out_dir)),
            rows=int(rows_of.get(str(path.relative_to(exports_dir)), 0)),
            bytes=path.stat().st_size,
            sha256=_sha256(path),
        )
        for path in written
    ]
    children = pop.children
    summary = SynthSummary(
        out_dir=str(out_dir),
        seed=config.seed,
        children=children.height,
        households=pop.households.height,
        adults=pop.adults.height,
        townships=geo.regions.filter(pl.col("level") == "township").height,
        villages=geo.villages.height,
        schools=geo.schools.height,
        categories={name: int(children[name].sum()) for name in CATEGORY_COLUMNS},
        outcomes=_outcome_summary(timeline.outcomes),
        exports=exports,
        truth_records=records.height,
        seconds=round(time.perf_counter() - started, 2),
    )
    manifest = {
        "generator": f"childlink {__version__}",
        "config": json.loads(config.model_dump_json()),
        "summary": json.loads(summary.to_json()),
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2))
    return summary


def family_links(children: pl.DataFrame) -> pl.DataFrame:
    """True family links: child to father, mother, caring guardian, and to each sibling."""
    parents = pl.concat(
        [
            children.select(
                "child_id", pl.col(column).alias("related_id"), pl.lit(relation).alias("relation")
            )
            for column, relation in (
                ("father_id", "father"),
                ("mother_id", "mother"),
                ("guardian_id", "guardian"),
            )
        ]
    ).filter(pl.col("related_id").is_not_null())
    siblings = (
        children.select("child_id", "household_id", "twin_of")
        .join(
            children.select(pl.col("child_id").alias("related_id"), "household_id"),
            on="household_id",
        )
        .filter(pl.col("child_id") != pl.col("related_id"))
        .select("child_id", "related_id", pl.lit("sibling").alias("relation"))
    )
    twins = children.filter(pl.col("twin_of").is_not_null()).select(
        "child_id", pl.col("twin_of").alias("related_id"), pl.lit("twin").alias("relation")
    )
    return pl.concat([parents, siblings, twins]).sort("child_id", "relation", "related_id")


def _outcome_summary(outcomes: pl.DataFrame) -> dict[str, dict[str, float]]:
    rows = (
        outcomes.group_by("outcome")
        .agg(
            children_at_risk=pl.col("child_id").n_unique(),
            events=pl.col("occurred").sum(),
            mean_window_probability=pl.col("true_probability").mean(),
        )
        .sort("outcome")
    )
    return {
        row["outcome"]: {
            "children_at_risk": int(row["children_at_risk"]),
            "events": int(row["events"]),
            "mean_window_probability": round(float(row["mean_window_probability"]), 5),
        }
        for row in rows.iter_rows(named=True)
    }


def _prepare(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise SynthError(f"output path {out_dir} exists and is not a directory")
    if out_dir.exists() and any(out_dir.iterdir()):
        if not overwrite:
            raise SynthError(
                f"output directory {out_dir} is not empty; pass --overwrite to replace it"
            )
        if not (out_dir / "manifest.json").exists():
            raise SynthError(
                f"refusing to overwrite {out_dir}: it is not empty and holds no synthetic county"
            )
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
