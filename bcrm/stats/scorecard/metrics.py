"""A scorecard's quality: AUC, KS and Gini, and the ROC curve."""

from __future__ import annotations

import numpy as np


def classification_metrics(y: np.ndarray, risk: np.ndarray) -> dict[str, float]:
    """AUC, KS and Gini of a risk score (higher = more likely bad) against 0/1 outcomes."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(y, risk)
    auc = float(roc_auc_score(y, risk))
    return {"auc": auc, "ks": float(np.max(tpr - fpr)), "gini": 2 * auc - 1}


def _roc_points(y: np.ndarray, risk: np.ndarray, points: int = 101) -> dict[str, list[float]]:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y, risk)
    grid = np.linspace(0, 1, points)
    return {"fpr": grid.tolist(), "tpr": np.interp(grid, fpr, tpr).tolist()}
