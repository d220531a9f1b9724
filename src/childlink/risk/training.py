"""Train, calibrate, select and test the risk models on a county, end to end.

The split is temporal over the county's six-month outcome windows: the last three window starts
are T1 (train: features as of T1, outcomes in the window after it), T2 (calibrate and choose
between logistic regression and LightGBM) and T3 (test). Earlier windows only provide history.
Data comes either from a generated county's files (no database; truth children are the
"masters") or from the database with truth children mapped to their majority master child.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy.orm import Session

from childlink.errors import ChildLinkError
from childlink.risk.choices import RiskType
from childlink.risk.evaluate import evaluate_model
from childlink.risk.labels import (
    SUBGROUPS,
    labels_from_county,
    map_truth_to_masters,
    outcome_windows,
    relabel_to_masters,
    subgroups_from_county,
)
from childlink.risk.models import (
    MODEL_KINDS,
    Calibration,
    ModelKind,
    TrainedModel,
    TrainingDataError,
    labelled,
    select_best,
    train,
)

Progress = Callable[[str], None]


class TemporalSplitError(ChildLinkError):
    """The county has too few outcome windows for a train/validation/test split."""


@dataclass(frozen=True)
class TemporalSplit:
    """Scoring dates of the three windows."""

    train: dt.date
    valid: dt.date
    test: dt.date


@dataclass
class CountyData:
    """Events, children, per-date features and labels, and subgroup columns of one county."""

    split: TemporalSplit
    features: dict[dt.date, pl.DataFrame]
    labels: dict[dt.date, pl.DataFrame]
    subgroups: pl.DataFrame
    events: pl.DataFrame
    children: pl.DataFrame
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class RiskResult:
    """Both models of one risk, their test metrics, and which one was selected."""

    risk: RiskType
    models: dict[str, TrainedModel]
    metrics: dict[str, dict[str, Any]]
    selected: str


def temporal_split(county_dir: Path) -> TemporalSplit:
    """The last three outcome-window starts of the county (T1, T2, T3)."""
    windows = outcome_windows(county_dir)
    if len(windows) < 3:
        raise TemporalSplitError(
            f"need at least three outcome windows, the county has {len(windows)}"
        )
    return TemporalSplit(*windows[-3:])


def build_county_data(
    events: pl.DataFrame,
    children: pl.DataFrame,
    county_dir: Path,
    split: TemporalSplit,
    mapping: pl.DataFrame | None,
) -> CountyData:
    """Features and labels for the three dates; ``mapping`` re-keys truth children to masters."""
    from childlink.risk.features import build_features

    seconds: dict[str, float] = {}
    features: dict[dt.date, pl.DataFrame] = {}
    labels: dict[dt.date, pl.DataFrame] = {}
    for day in (split.train, split.valid, split.test):
        started = time.perf_counter()
        features[day] = build_features(events, children, day)
        seconds[f"features_{day.isoformat()}"] = time.perf_counter() - started
        truth_labels = labels_from_county(county_dir, day)
        labels[day] = truth_labels if mapping is None else relabel_to_masters(truth_labels, mapping)
    groups = subgroups_from_county(county_dir)
    if mapping is not None:
        groups = relabel_to_masters(groups, mapping)
    return CountyData(split, features, labels, groups, events, children, seconds)


def county_data(county_dir: Path) -> CountyData:
    """Everything needed to train and test, from a generated county's files (no database)."""
    from childlink.risk.events import children_from_county, events_from_county

    split = temporal_split(county_dir)
    events = events_from_county(county_dir)
    children = children_from_county(county_dir)
    return build_county_data(events, children, county_dir, split, None)


def database_data(session: Session, county_dir: Path, **load_options: Any) -> CountyData:
    """The same from the database: linked events, with truth children mapped to masters."""
    from childlink.risk.events import children_frame, load_events

    split = temporal_split(county_dir)
    events = load_events(session, **load_options)
    children = children_frame(session)
    mapping = map_truth_to_masters(session, county_dir)
    return build_county_data(events, children, county_dir, split, mapping)


def test_frame(
    data: CountyData, risk: RiskType
) -> tuple[pl.DataFrame, np.ndarray[Any, Any], np.ndarray[Any, Any], pl.DataFrame]:
    """Test features, outcomes, true probabilities and subgroups of the labelled children."""
    day = data.split.test
    frame, y = labelled(data.features[day], data.labels[day], risk)
    aligned = frame.select("master_child_id").join(
        data.labels[day].select("master_child_id", f"p_{risk.value}"),
        on="master_child_id",
        how="left",
    )
    groups = (
        frame.select("master_child_id")
        .join(data.subgroups, on="master_child_id", how="left")
        .select(*SUBGROUPS)
    )
    true_p = aligned[f"p_{risk.value}"].fill_null(0.0).to_numpy()
    return frame, y, true_p, groups


def evaluate_on_test(model: TrainedModel, data: CountyData) -> dict[str, Any]:
    """``evaluate_model`` of ``model`` on the test window, with ceiling and subgroups."""
    frame, y, true_p, groups = test_frame(data, model.risk)
    metrics = evaluate_model(y, model.predict(frame), true_p=true_p, groups=groups)
    metrics["valid_auc"] = model.valid_auc
    metrics["kind"] = model.kind
    return metrics


def train_risks(
    data: CountyData,
    *,
    risks: Sequence[RiskType] = tuple(RiskType),
    kinds: Sequence[ModelKind] = MODEL_KINDS,
    calibration: Calibration = "sigmoid",
    progress: Progress | None = None,
) -> list[RiskResult]:
    """Train every kind for every risk, calibrate on T2, choose on T2, test on T3."""
    split = data.split
    results = []
    for risk in risks:
        models: dict[str, TrainedModel] = {}
        metrics: dict[str, dict[str, Any]] = {}
        for kind in kinds:
            if progress:
                progress(f"{risk.value}: {kind}")
            try:
                model = train(
                    data.features[split.train],
                    data.labels[split.train],
                    risk,
                    as_of_train=split.train,
                    kind=kind,
                    validation=(data.features[split.valid], data.labels[split.valid]),
                    as_of_valid=split.valid,
                    calibration=calibration,
                )
            except TrainingDataError as error:
                if progress:
                    progress(f"skipped: {error}")
                break
            models[kind] = model
            metrics[kind] = evaluate_on_test(model, data)
        if not models:
            continue
        best = select_best(list(models.values()))
        results.append(RiskResult(risk, models, metrics, best.kind))
    return results


def card_for(result: RiskResult, data: CountyData) -> dict[str, Any]:
    """Model-card fields beyond what the registry fills in: windows, subgroups, limitations."""
    metrics = result.metrics[result.selected]
    flags = [
        f"{column}={row['group']}: recall gap {row['recall_gap']:.2f}"
        for column, block in metrics.get("subgroups", {}).get("by_column", {}).items()
        for row in block["groups"]
        if row["flag"] == "recall_gap"
    ]
    return {
        "training_window": {
            "as_of_train": data.split.train.isoformat(),
            "as_of_valid": data.split.valid.isoformat(),
            "as_of_test": data.split.test.isoformat(),
        },
        "selected_over": {kind: m.get("valid_auc") for kind, m in result.metrics.items()},
        "subgroup_metrics": metrics.get("subgroups"),
        "disparity_flags": flags,
        "limitations": [
            "Trained and tested on a synthetic county; not validated on real children.",
            "Outcomes are rare, so test AUC on a small county has wide sampling error; compare "
            "with ceiling_auc and expected_auc.",
            "Features see only what departments recorded; children no department sees are "
            "scored from almost nothing.",
        ],
    }


def register_results(
    results: list[RiskResult], data: CountyData, registry: Any, *, activate: bool = True
) -> dict[str, dict[str, str]]:
    """Save every trained model as a registry version; activate each risk's selected one.

    Returns ``{risk: {kind: version}}``.
    """
    versions: dict[str, dict[str, str]] = {}
    for result in results:
        card = card_for(result, data)
        for kind, model in result.models.items():
            chosen = kind == result.selected
            versions.setdefault(result.risk.value, {})[kind] = registry.save(
                model,
                result.metrics[kind],
                {**card, "selected": chosen},
                activate=activate and chosen,
            )
    return versions


def evaluate_registered(
    data: CountyData, registry: Any, *, risks: Sequence[RiskType] = tuple(RiskType)
) -> tuple[list[RiskResult], dict[str, str]]:
    """Test the registry's latest version of each kind per risk (the active one is selected).

    Returns the results and ``{risk: active version}``.
    """
    results: list[RiskResult] = []
    active: dict[str, str] = {}
    for risk in risks:
        active_version = registry.active_version(risk)
        latest: dict[str, str] = {}
        for info in registry.list():
            if info.risk == risk:
                latest[info.kind] = info.version
        if not latest:
            continue
        models = {kind: registry.load(risk, version) for kind, version in latest.items()}
        metrics = {kind: evaluate_on_test(model, data) for kind, model in models.items()}
        for kind, version in latest.items():
            metrics[kind]["version"] = version
        selected = next(
            (kind for kind, version in latest.items() if version == active_version),
            next(iter(latest)),
        )
        if active_version:
            active[risk.value] = active_version
        results.append(RiskResult(risk, models, metrics, selected))
    return results, active
