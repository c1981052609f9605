"""Is a model's stated uncertainty worth anything? Calibration of its predictive distribution.

Classifiers (class probabilities ``p`` of shape N x 4):
negative log-likelihood (scikit-learn's ``log_loss``), the multi-class Brier
score, top-label expected calibration error (torchmetrics) and class-wise
ECE, which torchmetrics does not offer, and the points of a reliability
diagram (scikit-learn's ``calibration_curve`` on the top-label confidence).

Regressors (a Gaussian ``mean``, ``std`` per row): Gaussian NLL (torch) and
how often the truth falls inside the +-1 and +-2 sigma intervals - a model that
is honest about its spread covers about 68 % and 95 %.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.calibration import calibration_curve
from sklearn.metrics import log_loss
from torchmetrics.functional.classification import multiclass_calibration_error

CLASSES = np.arange(4)
_EPS = 1e-12


def _check(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=float)
    if p.ndim != 2 or p.shape != (len(y), len(CLASSES)):
        raise ValueError(f"probabilities must have shape ({len(y)}, 4), got {p.shape}")
    if np.any(p < -1e-9) or not np.allclose(p.sum(axis=1), 1, atol=1e-4):
        raise ValueError("probabilities must be non-negative and sum to 1 per row")
    return y, np.clip(p, 0, 1)


def brier(y: np.ndarray, p: np.ndarray) -> float:
    """Mean over rows of the squared distance between p and the one-hot truth (0 to 2)."""
    y, p = _check(y, p)
    onehot = np.eye(len(CLASSES))[y]
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


def nll(y: np.ndarray, p: np.ndarray) -> float:
    """Mean negative log-likelihood of the true classes (lower is better).

    Probabilities are clipped away from 0 and each row rescaled to sum to 1:
    clipping, and the 6 digits the predictions files keep, leave sums a few
    millionths off, which scikit-learn warns about on every call.
    """
    y, p = _check(y, p)
    p = np.clip(p, _EPS, 1)
    return float(log_loss(y, p / p.sum(axis=1, keepdims=True), labels=CLASSES))


def ece_top_label(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float:
    """Expected calibration error of the top label (equal-width bins), via torchmetrics."""
    y, p = _check(y, p)
    return float(multiclass_calibration_error(torch.as_tensor(p, dtype=torch.float64),
                                              torch.as_tensor(y), num_classes=len(CLASSES),
                                              n_bins=n_bins, norm="l1"))


def ece_classwise(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float:
    """Mean over classes of the ECE of "is it class c" with probability p_c.

    The top-label ECE only looks at the winning class; with 81 % of rows empty
    it is dominated by confident zeros. The class-wise one asks whether
    "20 % chance of 2 people" means 20 % for every class.
    """
    y, p = _check(y, p)
    edges = np.linspace(0, 1, n_bins + 1)
    total = 0.0
    for c in CLASSES:
        conf, hit = p[:, c], (y == c).astype(float)
        bins = np.clip(np.digitize(conf, edges[1:-1]), 0, n_bins - 1)
        for b in range(n_bins):
            mask = bins == b
            if mask.any():
                total += mask.mean() * abs(hit[mask].mean() - conf[mask].mean())
    return float(total / len(CLASSES))


def reliability(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """(mean confidence, accuracy) per non-empty bin of the top-label confidence."""
    y, p = _check(y, p)
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(int)
    if correct.min() == correct.max():  # calibration_curve needs both outcomes
        return np.array([confidence.mean()]), np.array([float(correct[0])])
    accuracy, mean_conf = calibration_curve(correct, confidence, n_bins=n_bins,
                                            strategy="uniform")
    return mean_conf, accuracy


def classifier_report(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """A classifier's calibration scores by name: NLL, Brier, top-label and class-wise ECE."""
    return {"nll": nll(y, p), "brier": brier(y, p), "ece_top": ece_top_label(y, p),
            "ece_classwise": ece_classwise(y, p)}


def gaussian_nll(y: np.ndarray, mean: np.ndarray, std: np.ndarray, min_std: float = 1e-3) -> float:
    """Mean Gaussian negative log-likelihood (with the constant), std floored at ``min_std``."""
    var = torch.as_tensor(np.maximum(np.asarray(std, dtype=float), min_std) ** 2)
    loss = torch.nn.GaussianNLLLoss(full=True, reduction="mean")
    return float(loss(torch.as_tensor(mean, dtype=torch.float64),
                      torch.as_tensor(y, dtype=torch.float64), var))


def coverage(y: np.ndarray, mean: np.ndarray, std: np.ndarray, k: float) -> float:
    """Share of rows whose truth lies within mean +- k * std."""
    y, mean, std = (np.asarray(a, dtype=float) for a in (y, mean, std))
    return float(np.mean(np.abs(y - mean) <= k * std))


def regression_report(y: np.ndarray, mean: np.ndarray, std: np.ndarray) -> dict[str, float]:
    """A regression's Gaussian NLL and the shares of rows inside its 1σ and 2σ bands."""
    return {"gaussian_nll": gaussian_nll(y, mean, std),
            "coverage_1sigma": coverage(y, mean, std, 1),
            "coverage_2sigma": coverage(y, mean, std, 2)}
