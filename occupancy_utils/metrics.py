"""Scores as the report used them, and as they should be pooled.

MSE is on the class labels (a 0-for-3 error costs nine times a 0-for-1).
F1 uses ``labels=[0, 1, 2, 3]`` and ``zero_division=0`` explicitly: a class
that is absent from a test fold and never predicted scores 0, which is what
pulled the report's per-fold F1 down. The pooled out-of-fold score computes
F1 once over all test rows, where every class is present.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import f1_score, mean_squared_error

LABELS = [0, 1, 2, 3]
KEYS = ("mse", "f1_macro", "f1_micro")


def scores(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[float] | np.ndarray,
           y_value: Sequence[float] | np.ndarray | None = None) -> dict[str, float]:
    """MSE, F1 macro and F1 micro of one set of predictions.

    ``y_pred`` are class labels. ``y_value``, when given (a regression output
    or an expected count), is used for the MSE instead of the labels.
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred).astype(int)
    if len(y_true) != len(y_pred) or len(y_true) == 0:
        raise ValueError(f"need equal, non-zero lengths, got {len(y_true)} and {len(y_pred)}")
    mse_of = y_pred if y_value is None else np.asarray(y_value, dtype=float)
    return {
        "mse": float(mean_squared_error(y_true, mse_of)),
        "f1_macro": float(f1_score(y_true, y_pred, labels=LABELS, average="macro",
                                   zero_division=0)),
        "f1_micro": float(f1_score(y_true, y_pred, labels=LABELS, average="micro",
                                   zero_division=0)),
    }


def fold_summary(per_fold: Sequence[tuple[np.ndarray, np.ndarray]]
                 | Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> dict:
    """Per-fold scores, their mean and std (the report's style) and pooled out-of-fold scores.

    ``per_fold`` holds (y_true, y_pred) or (y_true, y_pred, y_value) for each fold.
    """
    folds = [scores(*parts) for parts in per_fold]
    pooled = scores(*(np.concatenate([p[i] for p in per_fold]) for i in range(len(per_fold[0]))))
    return {
        "per_fold": folds,
        "mean": {k: float(np.mean([f[k] for f in folds])) for k in KEYS},
        "std": {k: float(np.std([f[k] for f in folds])) for k in KEYS},
        "pooled": pooled,
    }
