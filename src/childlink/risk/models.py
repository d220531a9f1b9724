"""Risk models: a standardised logistic-regression baseline and LightGBM, both calibrated.

Training is temporal: features as of a date T1 with the outcomes of the six months after it,
calibration (Platt scaling on the log-odds, or isotonic) on a later date T2, and the test on a
third date T3 (see :mod:`childlink.risk.evaluate`). Outcomes are rare (well under 1 % a window),
so LightGBM is kept shallow and heavily regularised (stumps of depth two, at least 400 rows a
leaf), the logistic baseline strongly shrunk, and the calibration step, not the class
weights, is what makes the probabilities honest.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import polars as pl
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from childlink.errors import ChildLinkError
from childlink.risk.choices import RiskType
from childlink.risk.features import LOG_SCALED_FEATURES

ModelKind = Literal["lightgbm", "logistic"]
Calibration = Literal["sigmoid", "isotonic"]
MODEL_KINDS: Final[tuple[ModelKind, ...]] = ("logistic", "lightgbm")
_EPS: Final = 1e-6
LIGHTGBM_PARAMS: Final[dict[str, Any]] = {
    "objective": "binary",
    "learning_rate": 0.03,
    "num_leaves": 7,
    "max_depth": 3,
    "min_child_samples": 40,
    "min_sum_hessian_in_leaf": 1.0,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 5.0,
    "verbose": -1,
    "num_threads": 2,
    "seed": 7,
    "deterministic": True,
}
LIGHTGBM_ROUNDS: Final = 200


#: Inverse L2 strength of the logistic baseline on standardised features. Strong shrinkage: a
#: training window holds only tens of positives, and weaker shrinkage (0.1) lost
#: validation AUC on every risk (docs/risk.md).
LOGISTIC_C: Final = 0.01


class TrainingDataError(ChildLinkError):
    """Too few labelled children or positives to fit a model."""


def feature_columns(features: pl.DataFrame) -> list[str]:
    """The numeric feature columns of a feature frame (everything but ``master_child_id``)."""
    return [c for c in features.columns if c != "master_child_id"]


def _matrix(features: pl.DataFrame, names: list[str]) -> npt.NDArray[np.float64]:
    missing = [n for n in names if n not in features.columns]
    if missing:
        raise TrainingDataError(f"feature frame lacks {', '.join(missing)}")
    matrix: npt.NDArray[np.float64] = (
        features.select(pl.col(n).cast(pl.Float64).fill_null(0.0).fill_nan(0.0) for n in names)
        .to_numpy()
        .astype(np.float64, copy=False)
    )
    return matrix


def log_scaled(
    matrix: npt.NDArray[np.float64], names: list[str], log_features: list[str]
) -> npt.NDArray[np.float64]:
    """``matrix`` with the columns named in ``log_features`` replaced by ``log(1 + max(x, 0))``.

    Counts of events whose rate grows exponentially with a latent risk (call-outs, injuries,
    absences) carry evidence in proportion to their logarithm; the logistic model is linear in
    its inputs, so it is given the logarithm. LightGBM splits on ranks and needs no transform.
    """
    if not log_features:
        return matrix
    wanted = set(log_features)
    columns = [i for i, name in enumerate(names) if name in wanted]
    out = matrix.copy()
    out[:, columns] = np.log1p(np.clip(out[:, columns], 0.0, None))
    return out


def labelled(
    features: pl.DataFrame, labels: pl.DataFrame, risk: RiskType
) -> tuple[pl.DataFrame, npt.NDArray[np.int8]]:
    """Features of the children with a label for ``risk`` (in the window) and those labels."""
    column = f"y_{risk.value}"
    joined = features.join(
        labels.select("master_child_id", column).filter(pl.col(column).is_not_null()),
        on="master_child_id",
        how="inner",
    ).sort("master_child_id")  # row order fixes LightGBM's bagging: same data, same model
    y: npt.NDArray[np.int8] = joined[column].cast(pl.Int8).to_numpy()
    return joined.drop(column), y


def _logit(p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    clipped = np.clip(p, _EPS, 1 - _EPS)
    result: npt.NDArray[np.float64] = np.log(clipped / (1 - clipped))
    return result


@dataclass
class TrainedModel:
    """A fitted, calibrated model for one risk, with what it was trained on."""

    risk: RiskType
    kind: ModelKind
    feature_names: list[str]
    estimator: Any
    scaler: StandardScaler | None
    calibrator: Any
    calibration: Calibration
    as_of_train: dt.date
    as_of_valid: dt.date | None
    train_rows: int
    train_positives: int
    valid_rows: int = 0
    valid_positives: int = 0
    valid_auc: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    #: Features the logistic model reads on a log scale (:func:`log_scaled`), fixed at training.
    log_features: list[str] = field(default_factory=list)

    def _design(self, features: pl.DataFrame) -> npt.NDArray[np.float64]:
        """The logistic model's standardised input matrix."""
        assert self.scaler is not None
        matrix = _matrix(features, self.feature_names)
        scaled: npt.NDArray[np.float64] = self.scaler.transform(
            log_scaled(matrix, self.feature_names, getattr(self, "log_features", []))
        )
        return scaled

    def raw_log_odds(self, features: pl.DataFrame) -> npt.NDArray[np.float64]:
        """The uncalibrated model's log-odds for each row of ``features``."""
        if self.kind == "logistic":
            result: npt.NDArray[np.float64] = self.estimator.decision_function(
                self._design(features)
            )
            return result
        matrix = _matrix(features, self.feature_names)
        raw: npt.NDArray[np.float64] = self.estimator.predict(matrix, raw_score=True)
        return raw

    def _calibrate(self, log_odds: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        if self.calibrator is None:
            result: npt.NDArray[np.float64] = 1.0 / (1.0 + np.exp(-log_odds))
            return result
        if self.calibration == "isotonic":
            iso: npt.NDArray[np.float64] = self.calibrator.predict(log_odds)
            return np.clip(iso, 0.0, 1.0)
        sig: npt.NDArray[np.float64] = self.calibrator.predict_proba(log_odds.reshape(-1, 1))[:, 1]
        return sig

    def predict(self, features: pl.DataFrame) -> npt.NDArray[np.float64]:
        """Calibrated probability of the outcome in the next six months, per row."""
        return self._calibrate(self.raw_log_odds(features))

    def contributions(self, features: pl.DataFrame) -> pl.DataFrame:
        """Per child and feature, the contribution to the (uncalibrated) log-odds.

        LightGBM: SHAP values (``pred_contrib=True``); logistic: coefficient × standardised
        (for count features log-scaled) value; ``value`` is the feature's own value. Long format:
        ``master_child_id``, ``feature``, ``value``, ``contribution``.
        """
        matrix = _matrix(features, self.feature_names)
        if self.kind == "logistic":
            contrib = self._design(features) * self.estimator.coef_[0]
        else:
            contrib = self.estimator.predict(matrix, pred_contrib=True)[:, :-1]
        n, k = contrib.shape
        return pl.DataFrame(
            {
                "master_child_id": np.repeat(features["master_child_id"].to_numpy(), k),
                "feature": np.tile(np.array(self.feature_names, dtype=object), n),
                "value": matrix.reshape(-1),
                "contribution": np.asarray(contrib, dtype=np.float64).reshape(-1),
            },
            schema={
                "master_child_id": pl.String,
                "feature": pl.String,
                "value": pl.Float64,
                "contribution": pl.Float64,
            },
        )


def _fit_estimator(
    kind: ModelKind, x: npt.NDArray[np.float64], y: npt.NDArray[np.int8]
) -> tuple[Any, StandardScaler | None, dict[str, Any]]:
    if kind == "logistic":
        scaler = StandardScaler().fit(x)
        params: dict[str, Any] = {"C": LOGISTIC_C, "max_iter": 2000}
        model = LogisticRegression(**params).fit(scaler.transform(x), y)
        return model, scaler, params
    booster = lgb.train(
        LIGHTGBM_PARAMS,
        lgb.Dataset(x, label=y, free_raw_data=True),
        num_boost_round=LIGHTGBM_ROUNDS,
    )
    return booster, None, {**LIGHTGBM_PARAMS, "num_boost_round": LIGHTGBM_ROUNDS}


def train(
    features: pl.DataFrame,
    labels: pl.DataFrame,
    risk: RiskType,
    *,
    as_of_train: dt.date,
    kind: ModelKind = "lightgbm",
    validation: tuple[pl.DataFrame, pl.DataFrame] | None = None,
    as_of_valid: dt.date | None = None,
    calibration: Calibration = "sigmoid",
) -> TrainedModel:
    """Fit one model for ``risk`` and calibrate it.

    Args:
        features: ``build_features(..., as_of_train)``.
        labels: ``labels_from_county(..., as_of_train)`` (or re-keyed to master ids).
        risk: which outcome.
        as_of_train: the scoring date of the training rows (recorded on the model).
        kind: ``"logistic"`` (standardised, L2) or ``"lightgbm"``.
        validation: features and labels of a later date, for calibration; without it the
            model's own probabilities are kept uncalibrated.
        as_of_valid: the date of ``validation``.
        calibration: ``"sigmoid"`` (Platt on the log-odds) or ``"isotonic"``.
    """
    train_frame, y = labelled(features, labels, risk)
    positives = int(y.sum())
    if positives < 2 or positives == y.size:
        raise TrainingDataError(
            f"{risk.value}: {positives} positives among {y.size} labelled children"
        )
    names = feature_columns(features)
    log_features = [n for n in names if n in LOG_SCALED_FEATURES] if kind == "logistic" else []
    estimator, scaler, params = _fit_estimator(
        kind, log_scaled(_matrix(train_frame, names), names, log_features), y
    )
    model = TrainedModel(
        risk=risk,
        kind=kind,
        feature_names=names,
        estimator=estimator,
        scaler=scaler,
        calibrator=None,
        calibration=calibration,
        as_of_train=as_of_train,
        as_of_valid=as_of_valid,
        train_rows=int(y.size),
        train_positives=positives,
        params={**params, "log_scaled": log_features} if log_features else params,
        log_features=log_features,
    )
    if validation is not None:
        valid_frame, y_valid = labelled(validation[0], validation[1], risk)
        log_odds = model.raw_log_odds(valid_frame)
        model.valid_rows = int(y_valid.size)
        model.valid_positives = int(y_valid.sum())
        if 0 < model.valid_positives < y_valid.size:
            model.valid_auc = float(roc_auc_score(y_valid, log_odds))
            if calibration == "isotonic":
                model.calibrator = IsotonicRegression(
                    out_of_bounds="clip", y_min=0.0, y_max=1.0
                ).fit(log_odds, y_valid)
            else:
                model.calibrator = LogisticRegression(C=1e4, max_iter=1000).fit(
                    log_odds.reshape(-1, 1), y_valid
                )
    return model


def auc_standard_error(auc: float, positives: int, negatives: int) -> float:
    """Standard error of an AUC (Hanley & McNeil, 1982)."""
    if positives < 1 or negatives < 1:
        return float("inf")
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    variance = (
        auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)
    ) / (positives * negatives)
    return float(np.sqrt(max(variance, 0.0)))


def select_best(models: list[TrainedModel]) -> TrainedModel:
    """The model with the highest validation AUC (ranking is what calibration cannot fix).

    A logistic model is kept unless another kind beats the best logistic one by more than
    that AUC's standard error: with tens of validation positives LightGBM often wins by noise
    and then loses on the test window, and the logistic model is the easier one to explain.
    """
    if not models:
        raise TrainingDataError("no models to choose from")

    def validation_auc(model: TrainedModel) -> float:
        return -1.0 if model.valid_auc is None else model.valid_auc

    best = max(models, key=validation_auc)
    logistic = [m for m in models if m.kind == "logistic" and m.valid_auc is not None]
    if best.kind == "logistic" or not logistic or best.valid_auc is None:
        return best
    simple = max(logistic, key=validation_auc)
    assert simple.valid_auc is not None
    margin = auc_standard_error(
        simple.valid_auc, simple.valid_positives, simple.valid_rows - simple.valid_positives
    )
    return best if best.valid_auc - simple.valid_auc > margin else simple
