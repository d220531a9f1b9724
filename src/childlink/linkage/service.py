"""Run linkage over the county and write master children with stable identifiers.

Re-running keeps every existing child's master id: each new cluster inherits the master id held
by most of its records (the largest claimant wins when a master's records were split, the
others get new masters); clusters of unseen records get new masters. A master left without
records because its records joined another child's cluster is marked merged into that child.
The Splink model and the run's counts are saved under ``<data_dir>/linkage/``.

Reviewers' decisions (``link_decisions``) constrain every run; pairs between the two thresholds
that would join two children are queued in ``link_reviews`` with their waterfall, pairs refused
by a rule are recorded with the rule, and every change to a master child is written to
``master_child_events`` (actor ``rule:linkage``) in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from childlink.children.choices import ChildStatus, Sex
from childlink.children.models import MasterChild
from childlink.linkage.choices import DecisionKind, MasterEventKind, ReviewStatus
from childlink.linkage.engine import (
    ENGINES,
    Constraints,
    Engine,
    LinkOutput,
    ScoredPair,
    UnsupportedEngineError,
    link_records,
)
from childlink.linkage.incremental import link_new_records, load_saved_settings
from childlink.linkage.lock import linkage_lock
from childlink.linkage.models import LinkDecision, LinkReview, LinkRun, MasterChildEvent
from childlink.linkage.prepare import prepare_records
from childlink.regions.models import Region
from childlink.sources.models import SourceRecord
from childlink.store.base import utc_now
from childlink.store.engine import unit_of_work

#: Actor of the changes a linkage run makes.
RUN_ACTOR = "rule:linkage"
#: Record ids listed in one event's details (the count is always complete).
EVENT_RECORD_LIMIT = 50


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
    review_pending: int
    """Pairs waiting in the review queue after this run (new and still open)."""
    rule_rejections: int
    """Scored pairs refused by a rule (twins, two valid IDs, cannot-link), recorded."""
    must_links_applied: int
    incremental: bool
    """Only new records were linked, with the saved model of an earlier run."""
    seconds: float
    model_path: str
    run_id: str

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
    lower_threshold: float | None = None,
    seed: int = 42,
    incremental: bool = False,
) -> LinkResult:
    """Link every linkable child record and write master children (one transaction).

    With ``incremental`` only records without a master are linked, with the model of the last
    run, to the existing children or into new ones; no existing child changes. Runs in one
    database are serialised, whichever process or machine starts them (:mod:`.lock`).
    """
    with linkage_lock(factory, data_dir):
        return _link_county(
            factory,
            data_dir=data_dir,
            engine=engine,
            threshold=threshold,
            lower_threshold=lower_threshold,
            seed=seed,
            incremental=incremental,
        )


def _link_county(
    factory: sessionmaker[Session],
    *,
    data_dir: Path,
    engine: Engine,
    threshold: float | None,
    lower_threshold: float | None,
    seed: int,
    incremental: bool,
) -> LinkResult:
    if engine not in ENGINES:
        raise UnsupportedEngineError(f"engine {engine!r} is not available; use one of {ENGINES}")
    if incremental and engine != "duckdb":
        raise UnsupportedEngineError("incremental linking runs on duckdb only")
    with factory() as session:
        frame = prepare_records(session)
        known_regions = set(session.scalars(sa.select(Region.code)))
        constraints = load_constraints(session)
        saved_model = latest_model_path(session) if incremental else None
    if incremental:
        output = link_new_records(
            frame,
            load_saved_settings(saved_model),
            threshold=threshold,
            lower_threshold=lower_threshold,
            constraints=constraints,
        )
    else:
        output = link_records(
            frame,
            model="childlink",
            threshold=threshold,
            lower_threshold=lower_threshold,
            constraints=constraints,
            seed=seed,
            engine=engine,
        )
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
    run_id = uuid.uuid4()
    with unit_of_work(factory) as session:
        session.add(
            LinkRun(
                id=run_id,
                created_at=now,
                upper_threshold=output.upper_threshold,
                lower_threshold=output.lower_threshold,
            )
        )
        session.flush()
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
        events = _run_events(changed, retired, set(profiles.filter("is_new")["master_id"]))
        if events:
            session.execute(
                sa.insert(MasterChildEvent),
                [
                    {**event, "run_id": run_id, "actor": RUN_ACTOR, "created_at": now}
                    for event in events
                ],
            )
        pending, rule_rejections = _write_reviews(session, output.scored_pairs, run_id, now)

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
        "review_pending": pending,
        "rule_rejections": rule_rejections,
        "must_links_applied": output.must_links_applied,
        "incremental": incremental,
        "seconds": round(output.seconds, 2),
    }
    path = _save_model(data_dir, output, summary)
    with unit_of_work(factory) as session:
        session.execute(
            sa.update(LinkRun)
            .where(LinkRun.id == run_id)
            .values(model_path=str(path), summary=summary)
        )
    return LinkResult(**summary, model_path=str(path), run_id=str(run_id))


def latest_model_path(session: Session) -> str | None:
    """The saved model of the newest run that has one."""
    return session.scalar(
        sa.select(LinkRun.model_path)
        .where(LinkRun.model_path.is_not(None))
        .order_by(LinkRun.created_at.desc())
        .limit(1)
    )


def load_constraints(session: Session) -> Constraints:
    """Reviewers' must-link and cannot-link decisions as ``rec_id`` pairs."""
    must: list[tuple[str, str]] = []
    cannot: list[tuple[str, str]] = []
    rows = session.execute(
        sa.select(LinkDecision.left_record_id, LinkDecision.right_record_id, LinkDecision.kind)
    )
    for left, right, kind in rows:
        (must if kind == DecisionKind.MUST_LINK else cannot).append((str(left), str(right)))
    return Constraints(must_link=tuple(must), cannot_link=tuple(cannot))


def _ids(values: list[str]) -> dict[str, Any]:
    return {"records": len(values), "record_ids": sorted(values)[:EVENT_RECORD_LIMIT]}


def _run_events(
    changed: pl.DataFrame, retired: pl.DataFrame, created: set[str]
) -> list[dict[str, Any]]:
    """Events of a run: masters created, records added to / removed from masters, merges."""
    events: list[dict[str, Any]] = []
    retired_into = {old: into for old, into, _count in retired.iter_rows()}
    gained = changed.group_by("master_id").agg(
        pl.col("rec_id"), pl.col("master_child_id").drop_nulls().unique().alias("from")
    )
    for master, records, sources in gained.sort("master_id").iter_rows():
        kind = MasterEventKind.CREATED if master in created else MasterEventKind.RECORDS_ADDED
        details = _ids(records) | {"from_masters": sorted(sources)}
        events.append({"master_child_id": uuid.UUID(master), "kind": kind, "details": details})
    lost = (
        changed.filter(pl.col("master_child_id").is_not_null())
        .group_by("master_child_id")
        .agg(pl.col("rec_id"), pl.col("master_id").unique().alias("to"))
    )
    for master, records, targets in lost.sort("master_child_id").iter_rows():
        events.append(
            {
                "master_child_id": uuid.UUID(master),
                "kind": MasterEventKind.RECORDS_REMOVED,
                "details": _ids(records) | {"to_masters": sorted(targets)},
            }
        )
        if master in retired_into:
            events.append(
                {
                    "master_child_id": uuid.UUID(master),
                    "kind": MasterEventKind.MERGED,
                    "details": {"into": retired_into[master]},
                }
            )
    return events


def _write_reviews(
    session: Session, pairs: tuple[ScoredPair, ...], run_id: uuid.UUID, now: dt.datetime
) -> tuple[int, int]:
    """Queue new review pairs, record rule refusals, supersede pending pairs no longer scored.

    A reviewer's decision is never overwritten; an open or rule-decided row is refreshed with
    the run's score. Returns (pending pairs after the run, rule refusals of this run).
    """
    existing = {
        (str(left), str(right)): (review_id, status, reviewer)
        for review_id, left, right, status, reviewer in session.execute(
            sa.select(
                LinkReview.id,
                LinkReview.left_record_id,
                LinkReview.right_record_id,
                LinkReview.status,
                LinkReview.reviewer,
            )
        )
    }
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    rule_rejections = 0
    for pair in pairs:
        key = (pair.left, pair.right)
        if key in seen:
            continue
        seen.add(key)
        is_review = pair.outcome == "review"
        rule_rejections += not is_review
        values: dict[str, Any] = {
            "match_probability": pair.match_probability,
            "match_weight": pair.match_weight,
            "waterfall": pair.waterfall,
            "last_run_id": run_id,
            "updated_at": now,
        }
        decision: dict[str, Any] = {
            "status": ReviewStatus.PENDING if is_review else ReviewStatus.REJECTED,
            "rule": None if is_review else pair.outcome,
            "decided_at": None if is_review else now,
        }
        found = existing.get(key)
        if found is None:
            inserts.append(
                {
                    "id": uuid.uuid4(),
                    "left_record_id": uuid.UUID(pair.left),
                    "right_record_id": uuid.UUID(pair.right),
                    "created_run_id": run_id,
                    "created_at": now,
                    **values,
                    **decision,
                }
            )
            continue
        review_id, _status, reviewer = found
        updates.append({"id": review_id, **values, **({} if reviewer else decision)})
    if inserts:
        session.execute(sa.insert(LinkReview), inserts)
    if updates:
        session.execute(sa.update(LinkReview), updates)
    stale = [
        {"id": review_id, "status": ReviewStatus.SUPERSEDED, "updated_at": now}
        for key, (review_id, status, _reviewer) in existing.items()
        if status == ReviewStatus.PENDING and key not in seen
    ]
    if stale:
        session.execute(sa.update(LinkReview), stale)
    pending = session.scalar(
        sa.select(sa.func.count())
        .select_from(LinkReview)
        .where(LinkReview.status == ReviewStatus.PENDING)
    )
    return int(pending or 0), rule_rejections
