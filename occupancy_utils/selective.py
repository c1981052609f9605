"""Selective prediction: what abstaining on the least confident rows buys.

A model that knows when it is unsure should get better as it keeps fewer rows.
The risk-coverage curve keeps the ``coverage`` share of rows the model is most
confident about and scores only those; the area under the risk curve (AURC)
summarises it (lower is better for MSE). The report closes by claiming the
probabilities "reduce false positives"; :func:`false_occupied_rate` measures
that claim: among kept rows where the room is empty, how often the model says
someone is there.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, mean_squared_error, roc_auc_score

from .metrics import LABELS

DEFAULT_COVERAGES = tuple(np.round(np.linspace(0.1, 1.0, 19), 3))


def _kept(confidence: np.ndarray, coverage: float) -> np.ndarray:
    """Indices of the ``coverage`` share of rows with the highest confidence (stable ties)."""
    if not 0 < coverage <= 1:
        raise ValueError(f"coverage must be in (0, 1], got {coverage}")
    n_keep = max(1, int(round(coverage * len(confidence))))
    order = np.argsort(-np.asarray(confidence, dtype=float), kind="stable")
    return order[:n_keep]


def false_occupied_rate(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """P(predicted > 0 | truly empty): false alarms of an occupancy sensor."""
    empty = np.asarray(y_true) == 0
    if not empty.any():
        return float("nan")
    return float(np.mean(np.asarray(y_pred)[empty] > 0))


def risk_coverage(y_true: np.ndarray, y_pred: np.ndarray, confidence: np.ndarray,
                  coverages: Sequence[float] = DEFAULT_COVERAGES,
                  value: np.ndarray | None = None) -> pd.DataFrame:
    """MSE, F1 macro and false-occupied rate on the most confident rows, per coverage.

    ``mse`` is always on the predicted labels, so that every model is scored on
    the same quantity; where a model also has a number of people (a regression
    mean, an expected count) pass it as ``value`` and its MSE is the separate
    column ``mse_value``.
    """
    y_true, y_pred = np.asarray(y_true).astype(int), np.asarray(y_pred).astype(int)
    value = None if value is None else np.asarray(value, dtype=float)
    rows = []
    for c in coverages:
        keep = _kept(confidence, c)
        row = {
            "coverage": float(c),
            "mse": float(mean_squared_error(y_true[keep], y_pred[keep])),
            "f1_macro": float(f1_score(y_true[keep], y_pred[keep], labels=LABELS,
                                       average="macro", zero_division=0)),
            "false_occupied": false_occupied_rate(y_true[keep], y_pred[keep]),
            "kept": len(keep),
            # a false-occupied rate of 0 on kept rows that hold no occupied reading says
            # nothing about telling occupied from empty: the reading must see this share
            "occupied_share": float(np.mean(y_true[keep] > 0)),
        }
        if value is not None:
            row["mse_value"] = float(mean_squared_error(y_true[keep], value[keep]))
        rows.append(row)
    return pd.DataFrame(rows)


def aurc(curve: pd.DataFrame, column: str = "mse") -> float:
    """Area under the risk-coverage curve (trapezoids over the coverages given)."""
    curve = curve.sort_values("coverage")
    return float(np.trapezoid(curve[column], curve["coverage"]))


def error_detection_auroc(is_error: np.ndarray, uncertainty: np.ndarray) -> float:
    """How well an uncertainty score ranks wrong predictions above right ones (0.5 = chance)."""
    is_error = np.asarray(is_error).astype(int)
    if is_error.min() == is_error.max():
        return float("nan")
    return float(roc_auc_score(is_error, uncertainty))
