"""Run linkage over the county and write master children with stable identifiers.

Re-running keeps every existing child's master id: each new cluster inherits the master id held
by most of its records (the largest claimant wins when a master's records were split, the
others get new masters); clusters of unseen records get new masters. A master left without
records because its records joined another child's cluster is marked merged into that child.
The Splink model and the run's counts are saved under ``<data_dir>/linkage/``.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from childlink.children.choices import ChildStatus, Sex
from childlink.children.models import MasterChild
from childlink.errors import ChildLinkError
from childlink.linkage.engine import LinkOutput, link_records
from childlink.linkage.prepare import prepare_records
from childlink.regions.models import Region
from childlink.sources.models import SourceRecord
from childlink.store.base import utc_now
from childlink.store.engine import unit_of_work

Engine = Literal["duckdb"]


class UnsupportedEngineError(ChildLinkError):
    """Only the embedded DuckDB engine exists so far."""


@dataclass(frozen=True)
class LinkResult:
    """What one linkage run did."""

    records: int
    children: int
    masters_created: int
    masters_kept: int
    masters_retired: int
    records_relinked: int
    pairs_compared: int
    deterministic_edges: int
    probabilistic_edges: int
    rejected_edges: int
    seconds: float
    model_path: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _assign_masters(clusters: pl.DataFrame) -> pl.DataFrame:
    """``cluster`` → ``master_id`` (existing id kept by majority, else a new UUID)."""
    claims = (
        clusters.filter(pl.col("master_child_id").is_not_null())
        .group_by("cluster", "master_child_id")
        .len()
        .sort(["len", "master_child_id", "cluster"], descending=[True, False, False])
    )
    taken: set[str] = set()
    chosen: dict[str, str] = {}
    for cluster, master, _count in claims.iter_rows():
        if cluster in chosen or master in taken:
            continue
        chosen[cluster] = master
        taken.add(master)
    names = clusters["cluster"].unique().sort().to_list()
    return pl.DataFrame(
        {
            "cluster": names,
            "master_id": [chosen.get(name) or str(uuid.uuid4()) for name in names],
            "is_new": [name not in chosen for name in names],
        },
        schema={"cluster": pl.String, "master_id": pl.String, "is_new": pl.Boolean},
    )


def _profiles(frame: pl.DataFrame, known_regions: set[str]) -> pl.DataFrame:
    """Display name, sex, birth date and region of each master: the most frequent values."""

    def mode(column: str) -> pl.Expr:
        return pl.col(column).drop_nulls().mode().sort().first().alias(column)

    return (
        frame.group_by("master_id")
        .agg(mode("name"), mode("pinyin"), mode("sex"), mode("dob"), mode("region_code"))
        .with_columns(
            display_name=pl.coalesce("name", "pinyin", pl.lit("(unnamed)")).str.slice(0, 100),
            region_code=pl.when(pl.col("region_code").is_in(list(known_regions))).then(
                "region_code"
            ),
            birth_date=pl.col("dob").str.to_date("%Y%m%d", strict=False),
        )
    )


def _save_model(data_dir: Path, output: LinkOutput, summary: dict[str, Any]) -> Path:
    folder = data_dir / "linkage"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = folder / f"model-{stamp}.json"
    document = {"model": output.model, "run": summary, "splink_settings": output.settings}
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2, default=str), "utf-8")
    return path


def link_county(
    factory: sessionmaker[Session],
    *,
    data_dir: Path,
    engine: Engine = "duckdb",
    threshold: float | None = None,
    seed: int = 42,
) -> LinkResult:
    """Link every linkable child record and write master children (one transaction)."""
    if engine != "duckdb":
        raise UnsupportedEngineError(f"engine {engine!r} is not available; use duckdb")
    with factory() as session:
        frame = prepare_records(session)
        known_regions = set(session.scalars(sa.select(Region.code)))
    output = link_records(frame, model="childlink", threshold=threshold, seed=seed)
    clusters = frame.select("rec_id", "master_child_id").join(output.clusters, on="rec_id")
    masters = _assign_masters(clusters)
    assigned = frame.join(output.clusters, on="rec_id").join(masters, on="cluster")
    profiles = _profiles(assigned, known_regions).join(
        masters.select("master_id", "is_new"), on="master_id"
    )
    changed = assigned.filter(
        pl.col("master_child_id").is_null() | (pl.col("master_child_id") != pl.col("master_id"))
    )
    # Masters that lost every record: merged into the master that took most of their records.
    kept_ids = set(masters["master_id"].to_list())
    retired = (
        assigned.filter(
            pl.col("master_child_id").is_not_null()
            & ~pl.col("master_child_id").is_in(list(kept_ids))
        )
        .group_by("master_child_id", "master_id")
        .len()
        .sort(["len", "master_id"], descending=[True, False])
        .unique("master_child_id", keep="first")
    )

    now = utc_now()
    with unit_of_work(factory) as session:
        new_rows = [
            {
                "id": uuid.UUID(row["master_id"]),
                "display_name": row["display_name"],
                "sex": Sex(row["sex"]) if row["sex"] else Sex.UNKNOWN,
                "birth_date": row["birth_date"],
                "region_code": row["region_code"],
                "status": ChildStatus.ACTIVE,
                "created_at": now,
                "updated_at": now,
            }
            for row in profiles.filter(pl.col("is_new")).iter_rows(named=True)
        ]
        if new_rows:
            session.execute(sa.insert(MasterChild), new_rows)
        updates = [
            {
                "id": uuid.UUID(row["master_id"]),
                "display_name": row["display_name"],
                "sex": Sex(row["sex"]) if row["sex"] else Sex.UNKNOWN,
                "birth_date": row["birth_date"],
                "region_code": row["region_code"],
                "status": ChildStatus.ACTIVE,
                "merged_into_id": None,
                "updated_at": now,
            }
            for row in profiles.filter(~pl.col("is_new")).iter_rows(named=True)
        ]
        if updates:
            session.execute(sa.update(MasterChild), updates)
        retirements = [
            {
                "id": uuid.UUID(old),
                "status": ChildStatus.MERGED,
                "merged_into_id": uuid.UUID(into),
                "updated_at": now,
            }
            for old, into, _count in retired.iter_rows()
        ]
        if retirements:
            session.execute(sa.update(MasterChild), retirements)
        relinks = [
            {"id": uuid.UUID(rec), "master_child_id": uuid.UUID(master)}
            for rec, master in changed.select("rec_id", "master_id").iter_rows()
        ]
        if relinks:
            session.execute(sa.update(SourceRecord), relinks)

    summary: dict[str, Any] = {
        "records": frame.height,
        "children": masters.height,
        "masters_created": len(new_rows),
        "masters_kept": len(updates),
        "masters_retired": len(retirements),
        "records_relinked": len(relinks),
        "pairs_compared": output.pairs_compared,
        "deterministic_edges": output.deterministic_edges,
        "probabilistic_edges": output.probabilistic_edges,
        "rejected_edges": output.rejected_edges,
        "seconds": round(output.seconds, 2),
    }
    path = _save_model(data_dir, output, summary)
    return LinkResult(**summary, model_path=str(path))
