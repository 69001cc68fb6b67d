"""Binary detection metrics (positive class = AI-generated), on probabilities, with no hidden thresholds."""

from __future__ import annotations

import numpy as np

# sklearn is imported where it is used: it costs 1.4 s of every app start on 2 slow cores, and the app only
# reads metrics that training wrote.


def expected_calibration_error(y_true: np.ndarray, p_ai: np.ndarray, bins: int = 15) -> float:
    """ECE of the predicted class's confidence, equal-width bins over [0.5, 1] confidence."""
    y_true, p_ai = np.asarray(y_true), np.asarray(p_ai, dtype=np.float64)
    predicted = (p_ai >= 0.5).astype(int)
    confidence = np.where(predicted == 1, p_ai, 1 - p_ai)
    correct = (predicted == y_true).astype(float)
    edges = np.linspace(0.5, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (confidence >= lo) & ((confidence < hi) if hi < 1.0 else (confidence <= hi))
        if inside.any():
            ece += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(ece)


def equal_error_rate(y_true: np.ndarray, p_ai: np.ndarray) -> float:
    """Error rate where false-positive and false-negative rates are equal (interpolated on the ROC)."""
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y_true, p_ai)
    fnr = 1 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    if i == 0:
        return float((fpr[0] + fnr[0]) / 2)
    # linear interpolation between the two ROC points that bracket the crossing
    d0, d1 = fnr[i - 1] - fpr[i - 1], fnr[i] - fpr[i]
    w = d0 / (d0 - d1) if d0 != d1 else 0.0
    return float(fpr[i - 1] + w * (fpr[i] - fpr[i - 1]))


def binary_metrics(y_true, p_ai, threshold: float = 0.5) -> dict:
    from sklearn.metrics import average_precision_score, roc_auc_score

    y_true = np.asarray(y_true).astype(int)
    p_ai = np.asarray(p_ai, dtype=np.float64)
    predicted = (p_ai >= threshold).astype(int)
    tp = int(((predicted == 1) & (y_true == 1)).sum())
    tn = int(((predicted == 0) & (y_true == 0)).sum())
    fp = int(((predicted == 1) & (y_true == 0)).sum())
    fn = int(((predicted == 0) & (y_true == 1)).sum())
    recalls = [tn / (tn + fp) if tn + fp else np.nan, tp / (tp + fn) if tp + fn else np.nan]
    both_classes = len(set(y_true.tolist())) == 2
    return {
        "n": int(len(y_true)),
        "n_ai": int(y_true.sum()),
        "accuracy": float((predicted == y_true).mean()) if len(y_true) else float("nan"),
        "balanced_accuracy": float(np.nanmean(recalls)),
        "real_recall": float(recalls[0]),
        "ai_recall": float(recalls[1]),
        "roc_auc": float(roc_auc_score(y_true, p_ai)) if both_classes else None,
        "average_precision": float(average_precision_score(y_true, p_ai)) if both_classes else None,
        "eer": equal_error_rate(y_true, p_ai) if both_classes else None,
        "ece": expected_calibration_error(y_true, p_ai),
        "confusion": {"tn": tn, "fp": fp, "fn": fn, "tp": tp},
    }
