"""Metrics of a detector on labelled account-days, threshold calibration, and plots.

These functions take (score, label, campaign) pairs as pandas: the holdout and the
leave-one-campaign-out sets contain only *labelled* account-days, which analysts
produce by hand (thousands, not billions), so collecting them to the driver is
bounded by labelling capacity, not by traffic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: plots are files logged to MLflow
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve  # noqa: E402


@dataclass(frozen=True)
class Threshold:
    """The decision threshold and what it achieved on the holdout."""

    value: float
    precision: float
    recall: float
    meets_target: bool


def _has_both(y: np.ndarray) -> bool:
    return bool(y.size) and 0 < int(y.sum()) < y.size


def detection_metrics(y: np.ndarray, s: np.ndarray) -> dict[str, float]:
    """PR-AUC, ROC-AUC, recall at precision 0.99 and recall at 0.1% false-positive rate.

    With only one class present the AUCs are undefined and reported as NaN.
    """
    if not _has_both(y):
        return {k: math.nan for k in ("pr_auc", "roc_auc", "recall_at_p99", "recall_at_fpr_0001")}
    precision, recall, _ = precision_recall_curve(y, s)
    fpr, tpr, _ = roc_curve(y, s)
    return {
        "pr_auc": float(average_precision_score(y, s)),
        "roc_auc": float(roc_auc_score(y, s)),
        "recall_at_p99": float(recall[precision >= 0.99].max(initial=0.0)),
        "recall_at_fpr_0001": float(tpr[fpr <= 0.001].max(initial=0.0)),
    }


def calibrate_threshold(y: np.ndarray, s: np.ndarray, target_precision: float) -> Threshold:
    """The threshold with the most recall at ``target_precision`` on (y, s), placed in the
    middle of the gap between that score and the next lower one (:func:`_in_the_gap`: the
    holdout's precision and recall are the same anywhere in it). If no threshold reaches the
    target, the one of the highest precision, with ``meets_target`` False, so the shortfall is
    visible.
    """
    if not int(y.sum()):
        raise ValueError("cannot calibrate a threshold without positive labels in the holdout")
    precision, recall, thresholds = precision_recall_curve(y, s)
    # precision/recall have one more entry than thresholds (the final point p=1, r=0).
    p, r = precision[:-1], recall[:-1]
    ok = np.flatnonzero(p >= target_precision)
    meets = bool(ok.size)
    i = int(ok[np.argmax(r[ok])]) if meets else int(np.argmax(p))
    return Threshold(_in_the_gap(float(thresholds[i]), s), float(p[i]), float(r[i]), meets)


def _in_the_gap(edge: float, s: np.ndarray) -> float:
    """``edge`` (a holdout score) moved down to the middle of the empty gap below it.

    Every threshold between ``edge`` and the next lower holdout score classifies the holdout
    alike; the edge itself is the score of the least suspicious positive, the worst place
    for a campaign the holdout does not hold. On a separable holdout the edge can be 0.98
    with every legitimate account under 0.01, and a campaign type the model never saw then
    scores under it (leave-one-campaign-out recall 0 and no promotion, measured 2026-12-06).
    """
    below = s[s < edge]
    return (edge + float(below.max())) / 2.0 if below.size else edge


def recall_by_campaign(pairs: pd.DataFrame, threshold: float) -> dict[str, float]:
    """Share of each labelled campaign's account-days scored at or above ``threshold``."""
    pos = pairs[(pairs["label"] == 1) & pairs["campaign"].notna()]
    return {str(c): float((g["score"] >= threshold).mean()) for c, g in pos.groupby("campaign")}


def plot_pr_curve(y: np.ndarray, s: np.ndarray, threshold: Threshold, path: Path) -> Path:
    precision, recall, _ = precision_recall_curve(y, s)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(recall, precision)
    ax.scatter(
        [threshold.recall], [threshold.precision], color="red", label=f"threshold {threshold.value:.3f}"
    )
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("holdout precision-recall")
    ax.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_score_distributions(y: np.ndarray, s: np.ndarray, threshold: float, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 4))
    bins = np.linspace(0, 1, 41).tolist()
    ax.hist(s[y == 0], bins=bins, alpha=0.6, label="benign", density=True)
    ax.hist(s[y == 1], bins=bins, alpha=0.6, label="distillation", density=True)
    ax.axvline(threshold, color="red", linestyle="--", label="threshold")
    ax.set_xlabel("score")
    ax.set_title("holdout scores by label")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_feature_importance(importance: dict[str, float], path: Path, top: int = 20) -> Path:
    items = sorted(importance.items(), key=lambda kv: kv[1])[-top:]
    fig, ax = plt.subplots(figsize=(6, max(2.0, 0.3 * len(items) + 1)))
    ax.barh([k for k, _ in items], [v for _, v in items])
    ax.set_xlabel("total gain")
    ax.set_title("feature importance")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
