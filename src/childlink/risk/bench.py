"""``childlink bench risk``: model quality against the ceiling, and scoring speed.

A county is generated in a throw-away folder and read without the database
(:func:`~childlink.risk.events.events_from_county`); features for the three window dates, both
model kinds for every risk and the rules are timed, and each model's test AUC is set beside the
ceiling the generator's true probabilities reach on the same children.

Scoring speed is measured on ``score_children`` children (default one million): the county's
events and children are replicated with suffixed ids until there are that many, then features as
of the test date, every selected model and every rule are run over all of them in one pass. The
replicated children are copies, so this measures throughput, not quality.
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from childlink.synth.config import SynthConfig
from childlink.synth.service import generate_county

Progress = Callable[[str], None]


def _peak_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def replicate(frame: pl.DataFrame, copies: int, limit: int | None = None) -> pl.DataFrame:
    """``frame`` repeated ``copies`` times with ``master_child_id`` suffixed ``~i``."""
    parts = [frame]
    for i in range(1, copies):
        parts.append(
            frame.with_columns((pl.col("master_child_id") + f"~{i}").alias("master_child_id"))
        )
    out = pl.concat(parts, rechunk=True)
    if limit is not None:
        keep = out.select("master_child_id").unique(maintain_order=True).head(limit)
        out = out.join(keep, on="master_child_id", how="semi")
    return out


def run_risk_benchmark(
    children: int,
    *,
    seed: int = 42,
    score_children: int = 1_000_000,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Generate, train, test and time; one JSON-ready dict."""
    from childlink.risk.choices import RiskType
    from childlink.risk.events import children_from_county, events_from_county
    from childlink.risk.features import build_features
    from childlink.risk.rules import evaluate_rules, load_rules
    from childlink.risk.training import build_county_data, temporal_split, train_risks

    say = progress or (lambda _message: None)
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="childlink-bench-risk-") as tmp:
        county_dir = Path(tmp) / "county"
        say(f"generating {children:,} children")
        started = time.perf_counter()
        generate_county(SynthConfig(children=children, seed=seed), county_dir)
        seconds["generate"] = time.perf_counter() - started
        say("events from the exports (ingest standardisation, no database)")
        started = time.perf_counter()
        events = events_from_county(county_dir)
        child_frame = children_from_county(county_dir)
        seconds["events"] = time.perf_counter() - started
        split = temporal_split(county_dir)
        started = time.perf_counter()
        data = build_county_data(events, child_frame, county_dir, split, None)
        seconds["features_and_labels_3_dates"] = time.perf_counter() - started
        say("training logistic + LightGBM per risk")
        started = time.perf_counter()
        results = train_risks(data, progress=say)
        seconds["train_and_test_all_models"] = time.perf_counter() - started
    rules = load_rules()
    started = time.perf_counter()
    hits = evaluate_rules(rules, events, data.features[split.test], split.test)
    seconds["rules_county"] = time.perf_counter() - started

    models: dict[str, Any] = {}
    for result in results:
        block: dict[str, Any] = {"selected": result.selected, "models": {}}
        for kind, m in result.metrics.items():
            auc, ceiling = m.get("auc"), m.get("ceiling_auc")
            block["models"][kind] = {
                "auc": auc,
                "ceiling_auc": ceiling,
                "auc_gap": None if auc is None or ceiling is None else ceiling - auc,
                "expected_auc": m.get("expected_auc"),
                "ceiling_expected_auc": m.get("ceiling_expected_auc"),
                "pr_auc": m.get("pr_auc"),
                "ceiling_pr_auc": m.get("ceiling_pr_auc"),
                "brier": m.get("brier"),
                "ece": m.get("ece"),
                "ece_vs_true": m.get("ece_vs_true"),
                "positives": m.get("positives"),
                "n": m.get("n"),
                "valid_auc": m.get("valid_auc"),
                "flagged_subgroups": {
                    column: sub["flagged"]
                    for column, sub in m["subgroups"]["by_column"].items()
                    if sub["flagged"]
                },
            }
        models[result.risk.value] = block

    # Scoring throughput: features + every selected model + every rule, one pass.
    selected = {r.risk: r.models[r.selected] for r in results}
    copies = max(1, math.ceil(score_children / max(child_frame.height, 1)))
    say(f"replicating to {score_children:,} children for the scoring pass")
    big_children = replicate(child_frame, copies, score_children)
    big_events = replicate(events, copies).join(
        big_children.select("master_child_id"), on="master_child_id", how="semi"
    )
    del events
    say("scoring pass")
    started = time.perf_counter()
    features = build_features(big_events, big_children, split.test)
    t_features = time.perf_counter() - started
    probabilities = {risk: model.predict(features) for risk, model in selected.items()}
    t_models = time.perf_counter() - started - t_features
    big_hits = evaluate_rules(rules, big_events, features, split.test)
    t_total = time.perf_counter() - started
    scored = features.height
    return {
        "stage": "risk",
        "children": children,
        "seed": seed,
        "split": {"train": str(split.train), "valid": str(split.valid), "test": str(split.test)},
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "rule_hits_county": hits.height,
        "models": models,
        "scoring": {
            "children_scored": scored,
            "events": big_events.height,
            "replicated_from": child_frame.height,
            "features_s": round(t_features, 2),
            "models_s": round(t_models, 2),
            "rules_s": round(t_total - t_features - t_models, 2),
            "total_s": round(t_total, 2),
            "per_million_s": round(t_total * 1_000_000 / max(scored, 1), 1),
            "rule_hits": big_hits.height,
            "scored_risks": [r.value for r in RiskType if r in probabilities],
        },
        "peak_mb": _peak_mb(),
    }


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = max(0, math.ceil(share * len(ordered)) - 1)
    return ordered[index]


def run_rescore_benchmark(
    children: int = 300,
    *,
    seed: int = 42,
    samples: int = 50,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """In-process latency of re-scoring one child (``rescore_after_link``), on a database.

    A small county is generated, ingested into a throw-away SQLite database and linked; one
    logistic model per risk is trained on a stand-in label (the generator's true probability in
    the top fifth: a few hundred children have too few real outcomes) and registered, and the
    county is scored once. Then ``samples`` children are re-scored one at a time (after one
    warm-up call, as in a running server or linkage job) and the median and 95th percentile are
    reported. Latency only: the stand-in models say nothing about quality.
    """
    import sqlalchemy as sa

    from childlink.children.choices import ChildStatus
    from childlink.children.models import MasterChild
    from childlink.risk.service import rescore_after_link, score_children
    from childlink.risk.stand_in import build_linked_county, register_stand_in_models

    say = progress or (lambda _message: None)
    with tempfile.TemporaryDirectory(prefix="childlink-bench-rescore-") as tmp:
        settings, factory, county = build_linked_county(Path(tmp), children, seed, say=say)
        engine = factory.kw["bind"]
        try:
            say("training stand-in models and scoring the county once")
            register_stand_in_models(
                factory, settings.data_dir, county, note="bench stand-in label"
            )
            full = score_children(factory, data_dir=settings.data_dir, known_from="event")
            with factory() as session:
                ids = list(
                    session.scalars(
                        sa.select(MasterChild.id)
                        .where(MasterChild.status == ChildStatus.ACTIVE)
                        .order_by(MasterChild.id)
                        .limit(samples + 1)
                    )
                )
            say(f"re-scoring {len(ids) - 1} children one at a time")
            rescore_after_link(factory, settings.data_dir, ids[:1])  # warm-up (caches)
            timings: list[float] = []
            for child in ids[1:]:
                started = time.perf_counter()
                rescore_after_link(factory, settings.data_dir, [child])
                timings.append(time.perf_counter() - started)
        finally:
            engine.dispose()
    return {
        "stage": "risk-rescore",
        "children": children,
        "seed": seed,
        "backend": "sqlite",
        "full_score_s": full.seconds,
        "rescore": {
            "samples": len(timings),
            "median_ms": round(statistics.median(timings) * 1000, 1) if timings else None,
            "p95_ms": round(_percentile(timings, 0.95) * 1000, 1) if timings else None,
            "max_ms": round(max(timings) * 1000, 1) if timings else None,
        },
        "peak_mb": _peak_mb(),
    }
