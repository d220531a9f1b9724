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
from typing import Any, Final

import numpy as np
import polars as pl
from sqlalchemy.orm import Session

from childlink.errors import ChildLinkError
from childlink.risk.choices import RiskType
from childlink.risk.evaluate import evaluate_model
from childlink.risk.labels import (
    SUBGROUPS,
    _add_months,
    map_truth_to_masters,
    outcome_windows,
    relabel_to_masters,
    snapshot_labels,
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
#: Months between stacked training snapshots (see :func:`training_dates`).
SNAPSHOT_MONTHS = 2
#: History a stacked snapshot needs before its date: features that count all history (and the
#: models fitted on them) drift with its length, so a snapshot with little of it teaches the
#: model a scale the later dates do not have (docs/risk.md).
MIN_SNAPSHOT_HISTORY_MONTHS = 12
#: Model kinds trained on the stacked snapshots; the others train on T1 alone. LightGBM on the
#: stacked rows ranked no better on validation and, Platt-calibrated on a small county's few
#: validation positives, under-predicted the mean risk by half (docs/risk.md).
STACKED_KINDS: Final[frozenset[str]] = frozenset({"logistic"})


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
    #: Training snapshots (T1 and earlier first-of-month dates whose label window ends by T2);
    #: their features and labels are stacked for training. Empty: T1 alone.
    train_dates: list[dt.date] = field(default_factory=list)

    def training_frames(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Features and labels of every training snapshot, stacked (ids suffixed ``@date``)."""
        dates = self.train_dates or [self.split.train]
        if len(dates) == 1:
            return self.features[dates[0]], self.labels[dates[0]]

        def stack(frames: dict[dt.date, pl.DataFrame]) -> pl.DataFrame:
            return pl.concat(
                [
                    frames[day].with_columns(pl.col("master_child_id") + f"@{day.isoformat()}")
                    for day in dates
                ],
                how="vertical_relaxed",
            )

        return stack(self.features), stack(self.labels)


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


def training_dates(
    county_dir: Path, split: TemporalSplit, every_months: int = SNAPSHOT_MONTHS
) -> list[dt.date]:
    """T1 and earlier snapshots every ``every_months`` months, oldest first.

    A snapshot's label window (six months) ends by T2 at the latest, so no training label
    overlaps the validation or test windows; snapshots need
    :data:`MIN_SNAPSHOT_HISTORY_MONTHS` of history before them (T1 is kept whatever it has).
    """
    first = _add_months(outcome_windows(county_dir)[0], MIN_SNAPSHOT_HISTORY_MONTHS)
    dates = [split.train]
    if every_months <= 0:
        return dates
    while True:
        day = _add_months(dates[0], -every_months)
        if day < first:
            break
        dates.insert(0, day)
    return dates


def build_county_data(
    events: pl.DataFrame,
    children: pl.DataFrame,
    county_dir: Path,
    split: TemporalSplit,
    mapping: pl.DataFrame | None,
    *,
    snapshot_months: int = SNAPSHOT_MONTHS,
) -> CountyData:
    """Features and labels for the training snapshots, T2 and T3.

    ``mapping`` re-keys truth children to masters; ``snapshot_months`` spaces the stacked
    training snapshots (0: train on T1 alone).
    """
    from childlink.risk.features import build_features

    seconds: dict[str, float] = {}
    features: dict[dt.date, pl.DataFrame] = {}
    labels: dict[dt.date, pl.DataFrame] = {}
    train_dates = training_dates(county_dir, split, snapshot_months)
    for day in (*train_dates[:-1], split.train, split.valid, split.test):
        started = time.perf_counter()
        features[day] = build_features(events, children, day)
        seconds[f"features_{day.isoformat()}"] = time.perf_counter() - started
        truth_labels = snapshot_labels(county_dir, day)
        labels[day] = truth_labels if mapping is None else relabel_to_masters(truth_labels, mapping)
    groups = subgroups_from_county(county_dir)
    if mapping is not None:
        groups = relabel_to_masters(groups, mapping)
    return CountyData(
        split, features, labels, groups, events, children, seconds, train_dates=train_dates
    )


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


def risk_features(risk: RiskType) -> list[str]:
    """The features whose spec lists ``risk`` (fewer columns: less to overfit on few positives)."""
    from childlink.risk.features import FEATURES

    if not USE_RISK_FEATURES:
        return list(FEATURES)
    return [name for name, spec in FEATURES.items() if risk in spec.risks]


USE_RISK_FEATURES: Final = True


def _train_on(
    data: CountyData,
    train_features: pl.DataFrame,
    train_labels: pl.DataFrame,
    names: list[str],
    risk: RiskType,
    kind: ModelKind,
    calibration: Calibration,
) -> TrainedModel:
    """One kind for one risk, trained on T1; for :data:`STACKED_KINDS` also on the stacked
    snapshots, keeping whichever reaches the higher validation AUC on T2."""
    split = data.split
    validation = (data.features[split.valid], data.labels[split.valid])
    sources = [(data.features[split.train], data.labels[split.train])]
    if kind in STACKED_KINDS and len(data.train_dates) > 1:
        sources.append((train_features, train_labels))
    candidates = [
        train(
            frame.select("master_child_id", *names),
            labels,
            risk,
            as_of_train=split.train,
            kind=kind,
            validation=validation,
            as_of_valid=split.valid,
            calibration=calibration,
        )
        for frame, labels in sources
    ]
    if len(candidates) > 1:
        candidates[1].params["train_snapshots"] = [d.isoformat() for d in data.train_dates]
    return select_best(candidates)


def train_risks(
    data: CountyData,
    *,
    risks: Sequence[RiskType] = tuple(RiskType),
    kinds: Sequence[ModelKind] = MODEL_KINDS,
    calibration: Calibration = "sigmoid",
    progress: Progress | None = None,
) -> list[RiskResult]:
    """Train every kind for every risk, calibrate on T2, choose on T2, test on T3."""
    train_features, train_labels = data.training_frames()
    results = []
    for risk in risks:
        names = risk_features(risk)
        models: dict[str, TrainedModel] = {}
        metrics: dict[str, dict[str, Any]] = {}
        for kind in kinds:
            if progress:
                progress(f"{risk.value}: {kind}")
            try:
                model = _train_on(
                    data, train_features, train_labels, names, risk, kind, calibration
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
            "train_snapshots": {
                kind: model.params.get("train_snapshots", [data.split.train.isoformat()])
                for kind, model in result.models.items()
            },
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
