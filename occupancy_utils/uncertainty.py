"""Uncertainty of a classifier from sampled class probabilities (shape T x N x C).

A Bayesian network (weight samples) or Monte Carlo dropout (dropout masks)
gives, for each of N inputs, T probability vectors over C classes. Their mean
is the prediction; how they spread is the uncertainty, split the usual way
(Gal and Ghahramani, 2015; Depeweg et al., 2018):

* **predictive entropy** ``H[mean_t p_t]`` - all the uncertainty of the
  averaged prediction, whatever its source;
* **expected entropy** ``mean_t H[p_t]`` - the part every single sample has
  (the data is ambiguous: aleatoric);
* **mutual information** = predictive - expected entropy - the part that
  exists only because the samples *disagree* (epistemic: it would shrink with
  more data). It is zero when all T samples give the same vector.

Entropies are in nats (natural log) unless ``base`` is given; with
``base=C`` they lie in [0, 1]. Works on NumPy arrays and torch tensors
(converted to NumPy); returns NumPy arrays of length N.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: Probabilities below this are treated as zero inside the logarithm (0 log 0 = 0).
_EPS = 1e-12


def _as_samples(probs: Any, atol: float = 1e-4) -> np.ndarray:
    """Validate and convert to a float64 array T x N x C.

    The check catches the usual mistakes early with a one-line message:
    logits passed instead of probabilities, or the axes in the wrong order.
    """
    if hasattr(probs, "detach"):
        probs = probs.detach().cpu().numpy()
    arr = np.asarray(probs, dtype="float64")
    if arr.ndim != 3:
        raise ValueError(f"probs must have shape (T, N, C), got shape {arr.shape}")
    if 0 in arr.shape:
        raise ValueError(f"probs must be non-empty in every axis, got shape {arr.shape}")
    if not np.isfinite(arr).all() or (arr < -atol).any():
        raise ValueError("probs must be finite and non-negative (pass softmax outputs, "
                         "not logits)")
    sums = arr.sum(axis=-1)
    if not np.allclose(sums, 1.0, atol=atol):
        worst = float(np.abs(sums - 1).max())
        raise ValueError(f"probs must sum to 1 over the last axis (classes); off by up to "
                         f"{worst:.3g} (logits, or the axes in the wrong order?)")
    return np.clip(arr, 0.0, 1.0)


def _log(base: float | None) -> float:
    if base is None:
        return 1.0
    if not base > 1:
        raise ValueError(f"base must be greater than 1, got {base!r}")
    return math.log(base)


def entropy(p: Any, base: float | None = None) -> np.ndarray:
    """Entropy over the last axis of probability vectors (any leading shape)."""
    arr = np.asarray(p.detach().cpu().numpy() if hasattr(p, "detach") else p, dtype="float64")
    terms = np.where(arr > _EPS, arr * np.log(np.maximum(arr, _EPS)), 0.0)
    return -terms.sum(axis=-1) / _log(base)


def predictive_entropy(probs: Any, base: float | None = None) -> np.ndarray:
    """Entropy of the mean prediction, H[mean_t p_t]: the total uncertainty (length N)."""
    return entropy(_as_samples(probs).mean(axis=0), base)


def expected_entropy(probs: Any, base: float | None = None) -> np.ndarray:
    """Mean entropy of the single samples, mean_t H[p_t]: the aleatoric part (length N)."""
    return entropy(_as_samples(probs), base).mean(axis=0)


def mutual_information(probs: Any, base: float | None = None) -> np.ndarray:
    """Predictive minus expected entropy: the epistemic part (length N, >= 0).

    By Jensen's inequality it is never negative; tiny negative values from
    rounding are clipped to zero.
    """
    arr = _as_samples(probs)
    mi = entropy(arr.mean(axis=0), base) - entropy(arr, base).mean(axis=0)
    return np.maximum(mi, 0.0)


def decompose(probs: Any, base: float | None = None) -> dict[str, np.ndarray]:
    """Everything at once, validating the samples once.

    Returns ``mean`` (N x C), ``predicted`` (argmax class), ``confidence``
    (mean probability of that class), ``predictive_entropy``,
    ``expected_entropy``, ``mutual_information`` and ``expected_count``
    (sum_c c * p_c, for ordinal targets such as a number of people).
    """
    arr = _as_samples(probs)
    mean = arr.mean(axis=0)
    total = entropy(mean, base)
    aleatoric = entropy(arr, base).mean(axis=0)
    predicted = mean.argmax(axis=1)
    return {
        "mean": mean,
        "predicted": predicted,
        "confidence": mean[np.arange(len(mean)), predicted],
        "predictive_entropy": total,
        "expected_entropy": aleatoric,
        "mutual_information": np.maximum(total - aleatoric, 0.0),
        "expected_count": mean @ np.arange(mean.shape[1], dtype="float64"),
    }
