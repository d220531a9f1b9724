"""How good a risk model is, measured the way a county team would use it.

Discrimination (ROC-AUC, PR-AUC), calibration (Brier score, expected calibration error over ten
equal-width bins, the calibration curve), the share of real cases a team would reach with a
monthly home-visit capacity of k children (precision and recall at the top k), and the same
metrics per subgroup with fairlearn's ``MetricFrame``. A subgroup whose recall at the chosen
threshold falls more than :data:`DISPARITY_GAP` below the overall recall is flagged.

Because the county is synthetic, the generator's true probabilities are known: ``ceiling_auc``
is the AUC those probabilities reach on the same test children (what no model can beat, up to
noise), and ``expected_auc``/``ceiling_expected_auc`` are the same comparison with the true
probabilities as soft labels, which has far less sampling noise when positives are few.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl
from fairlearn.metrics import MetricFrame, count, selection_rate
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    recall_score,
    roc_auc_score,
)

#: Monthly home-visit capacity as shares of the children scored (top-k lists).
CAPACITY_SHARES: Final[tuple[float, ...]] = (0.01, 0.05)
#: The flagging threshold is the score of the child at this share (the team's capacity).
THRESHOLD_SHARE: Final = 0.05
#: Recall gap below the overall recall that flags a subgroup.
DISPARITY_GAP: Final = 0.1
ECE_BINS: Final = 10


def expected_calibration_error(
    y: npt.NDArray[Any], p: npt.NDArray[np.float64], bins: int = ECE_BINS
) -> float:
    """ECE: mean |observed rate − mean prediction| over equal-width bins, weighted by size."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(p, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            total += mask.sum() * abs(float(y[mask].mean()) - float(p[mask].mean()))
    return float(total / max(p.size, 1))


def calibration_curve(
    y: npt.NDArray[Any],
    p: npt.NDArray[np.float64],
    true_p: npt.NDArray[np.float64] | None = None,
    bins: int = ECE_BINS,
) -> list[dict[str, float | int]]:
    """Calibration points on quantile bins (outcomes are rare, so equal-width bins are empty).

    Each bin: ``n``, ``mean_predicted``, ``observed_rate`` and, when known, ``mean_true``.
    """
    order = np.argsort(p, kind="stable")
    points: list[dict[str, float | int]] = []
    for chunk in np.array_split(order, bins):
        if chunk.size == 0:
            continue
        point: dict[str, float | int] = {
            "n": int(chunk.size),
            "mean_predicted": float(p[chunk].mean()),
            "observed_rate": float(y[chunk].mean()),
        }
        if true_p is not None:
            point["mean_true"] = float(true_p[chunk].mean())
        points.append(point)
    return points


def _soft_auc(score: npt.NDArray[np.float64], true_p: npt.NDArray[np.float64]) -> float:
    """AUC with soft labels: each child a positive with weight p and a negative with 1 − p."""
    n = score.size
    both = np.concatenate([score, score])
    labels = np.concatenate([np.ones(n), np.zeros(n)])
    weights = np.concatenate([true_p, 1.0 - true_p])
    return float(roc_auc_score(labels, both, sample_weight=weights))


def _auc(y: npt.NDArray[Any], score: npt.NDArray[np.float64]) -> float | None:
    return float(roc_auc_score(y, score)) if 0 < y.sum() < y.size else None


def _top_k(y: npt.NDArray[Any], p: npt.NDArray[np.float64], share: float) -> dict[str, float | int]:
    k = max(1, round(share * p.size))
    top = np.argsort(-p, kind="stable")[:k]
    caught = int(y[top].sum())
    return {
        "share": share,
        "k": k,
        "caught": caught,
        "precision": caught / k,
        "recall": caught / int(y.sum()) if y.sum() else 0.0,
    }


def _recall(y_true: Any, y_pred: Any) -> float:
    return float(recall_score(y_true, y_pred, zero_division=0.0))


def subgroup_metrics(
    y: npt.NDArray[Any],
    p: npt.NDArray[np.float64],
    groups: pl.DataFrame,
    threshold: float,
    true_p: npt.NDArray[np.float64] | None = None,
) -> dict[str, Any]:
    """Per subgroup column, recall, precision-free selection rate and AUC, with flags.

    A group is flagged when its recall at ``threshold`` is more than :data:`DISPARITY_GAP`
    below the overall recall; groups without a positive are reported with ``recall`` null and
    flagged as ``insufficient_positives`` rather than silently passed.
    """
    predicted = (p >= threshold).astype(int)
    overall_recall = _recall(y, predicted)
    out: dict[str, Any] = {}
    for column in groups.columns:
        values = groups[column].cast(pl.String).fill_null("unknown").to_numpy()
        frame = MetricFrame(
            metrics={"recall": _recall, "selection_rate": selection_rate, "count": count},
            y_true=y,
            y_pred=predicted,
            sensitive_features=values,
        )
        by_group = frame.by_group
        rows = []
        for group in sorted(set(values.tolist())):
            mask = values == group
            positives = int(y[mask].sum())
            recall = float(by_group.loc[group, "recall"]) if positives else None
            gap = None if recall is None else overall_recall - recall
            row: dict[str, Any] = {
                "group": str(group),
                "n": int(mask.sum()),
                "positives": positives,
                "recall": recall,
                "selection_rate": float(by_group.loc[group, "selection_rate"]),
                "auc": _auc(y[mask], p[mask]),
                "mean_predicted": float(p[mask].mean()),
                "observed_rate": float(y[mask].mean()),
                "recall_gap": gap,
                "flag": None
                if positives == 0
                else ("recall_gap" if gap is not None and gap > DISPARITY_GAP else None),
            }
            if positives == 0:
                row["flag"] = "insufficient_positives"
            if true_p is not None:
                row["mean_true"] = float(true_p[mask].mean())
            rows.append(row)
        out[column] = {
            "groups": rows,
            "flagged": [r["group"] for r in rows if r["flag"] == "recall_gap"],
            "recall_difference": float(frame.difference(method="between_groups")["recall"]),
        }
    return {"overall_recall": overall_recall, "threshold": threshold, "by_column": out}


def evaluate_model(
    y: npt.NDArray[Any],
    p: npt.NDArray[np.float64],
    *,
    true_p: npt.NDArray[np.float64] | None = None,
    groups: pl.DataFrame | None = None,
    capacity_shares: Sequence[float] = CAPACITY_SHARES,
    threshold_share: float = THRESHOLD_SHARE,
) -> dict[str, Any]:
    """All metrics of one model's test predictions ``p`` against outcomes ``y``.

    Args:
        y: 0/1 outcomes of the test children in the window after the scoring date.
        p: calibrated probabilities.
        true_p: the generator's true probabilities of the same children (for the ceiling).
        groups: one column per subgroup (rows aligned with ``y``).
        capacity_shares: top-k shares for precision@k.
        threshold_share: the flagging threshold is the score at this share of children.
    """
    y = np.asarray(y, dtype=np.int64)
    p = np.asarray(p, dtype=np.float64)
    k = max(1, round(threshold_share * p.size))
    threshold = float(np.sort(p)[::-1][k - 1])
    result: dict[str, Any] = {
        "n": int(y.size),
        "positives": int(y.sum()),
        "prevalence": float(y.mean()) if y.size else 0.0,
        "mean_predicted": float(p.mean()) if p.size else 0.0,
        "auc": _auc(y, p),
        "pr_auc": float(average_precision_score(y, p)) if y.sum() else None,
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p),
        "precision_at_k": [_top_k(y, p, share) for share in capacity_shares],
        "threshold": threshold,
        "calibration_curve": calibration_curve(y, p, true_p),
    }
    if true_p is not None:
        true_p = np.asarray(true_p, dtype=np.float64)
        result.update(
            ceiling_auc=_auc(y, true_p),
            ceiling_pr_auc=float(average_precision_score(y, true_p)) if y.sum() else None,
            ceiling_brier=float(brier_score_loss(y, true_p)),
            ceiling_ece=expected_calibration_error(y, true_p),
            expected_auc=_soft_auc(p, true_p),
            ceiling_expected_auc=_soft_auc(true_p, true_p),
            ece_vs_true=expected_calibration_error(true_p, p),
            mae_vs_true=float(np.abs(p - true_p).mean()),
        )
    if groups is not None:
        result["subgroups"] = subgroup_metrics(y, p, groups, threshold, true_p)
    return result
