"""Is a model's stated uncertainty worth anything? Calibration of its predictive distribution.

Classifiers (class probabilities ``p`` of shape N x 4):
negative log-likelihood (scikit-learn's ``log_loss``), the multi-class Brier
score, top-label expected calibration error (torchmetrics' definition) and
class-wise ECE, which torchmetrics does not offer, and the points of a reliability
diagram (scikit-learn's ``calibration_curve`` on the top-label confidence).

Regressors (a Gaussian ``mean``, ``std`` per row): Gaussian NLL (torch) and
how often the truth falls inside the +-1 and +-2 sigma intervals - a model that
is honest about its spread covers about 68 % and 95 %.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
from sklearn.calibration import calibration_curve
from sklearn.metrics import log_loss

from .experiment import PROBA_COLUMNS

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
    """Expected calibration error of the top label (equal-width bins).

    torchmetrics' definition and binning (``multiclass_calibration_error``, norm
    "l1"), computed here in float64 from per-row terms (:func:`score_terms`), so that
    a bootstrap can resample it; the tests check it against torchmetrics.
    """
    return resampled_score(*score_terms(y, p, "ece_top", n_bins))


def ece_classwise(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float:
    """Mean over classes of the ECE of "is it class c" with probability p_c.

    The top-label ECE only looks at the winning class; with 81 % of rows empty
    it is dominated by confident zeros. The class-wise one asks whether
    "20 % chance of 2 people" means 20 % for every class.
    """
    return resampled_score(*score_terms(y, p, "ece_classwise", n_bins))


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


# --------------------------------------------------------------------------- paired comparison

#: The classifier scores a paired comparison can resample; each is lower-is-better.
PAIRED_SCORES = ("nll", "brier", "ece_top", "ece_classwise")


def score_terms(y: np.ndarray, p: np.ndarray, score: str, n_bins: int = 10
                ) -> tuple[np.ndarray, np.ndarray]:
    """Per-row ``(group, term)`` arrays of shape (N, k) from which ``score`` of any sample
    of rows is :func:`resampled_score`: the sum over groups of the absolute summed term,
    divided by the number of terms.

    NLL and Brier have one group and a row's loss as term. An ECE groups rows by
    their confidence bin, with ``hit - confidence`` as term; the class-wise ECE has
    one column per class and bins offset by class. Written this way a bootstrap
    sample costs two array operations instead of a call of the scoring library.
    """
    if score not in PAIRED_SCORES:
        raise ValueError(f"score must be one of {PAIRED_SCORES}, got {score!r}")
    y, p = _check(y, p)
    rows = np.arange(len(y))
    if score == "nll":
        q = np.clip(p, _EPS, 1)
        q = q / q.sum(axis=1, keepdims=True)
        return np.zeros((len(y), 1), dtype=int), -np.log(q[rows, y])[:, None]
    if score == "brier":
        onehot = np.eye(len(CLASSES))[y]
        return np.zeros((len(y), 1), dtype=int), np.sum((p - onehot) ** 2, axis=1)[:, None]
    # rounded so that an edge is the float a decimal reading parses to (0.7, not 0.70...01)
    edges = np.round(np.linspace(0, 1, n_bins + 1), 12)
    if score == "ece_top":
        conf, hit = p.max(axis=1)[:, None], (p.argmax(axis=1) == y).astype(float)[:, None]
    else:
        conf, hit = p, (y[:, None] == CLASSES[None, :]).astype(float)
    # bins [lower, upper); the top label, as torchmetrics' bucketize does, gives a
    # confidence of exactly 1 a bin of its own, the class-wise ECE closes its last bin
    bins = np.searchsorted(edges, conf, side="right") - 1
    if score == "ece_classwise":
        bins = np.clip(bins, 0, n_bins - 1)
    return bins + (n_bins + 1) * np.arange(conf.shape[1])[None, :], hit - conf


def resampled_score(group: np.ndarray, term: np.ndarray, idx: np.ndarray | None = None) -> float:
    """The score of the rows ``idx`` (all rows when None) from :func:`score_terms`'s arrays."""
    if idx is not None:
        group, term = group[idx], term[idx]
    sums = np.bincount(group.ravel(), weights=term.ravel())
    return float(np.abs(sums).sum() / term.size)


def _by_row(rows: pd.DataFrame, index: pd.MultiIndex) -> tuple[np.ndarray, np.ndarray]:
    """True classes (n, s) and probabilities (n, s, 4): each (fold, position) of ``index``
    with its ``s`` seeds side by side, so that resampling rows keeps every seed's."""
    key = ["fold", "position"]
    counts = rows.groupby(key).size()
    if counts.nunique() != 1:
        raise ValueError("every row must be predicted by the same number of seeds")
    ordered = rows.set_index(key).sort_index(kind="stable").loc[index]
    s = int(counts.iloc[0])
    return (ordered["y_true"].to_numpy().reshape(len(index), s),
            ordered[PROBA_COLUMNS].to_numpy(dtype=float).reshape(len(index), s, 4))


def paired_difference(a: pd.DataFrame, b: pd.DataFrame, score: str, *,
                      block: int | None = None, n_boot: int | None = None,
                      level: float | None = None, seed: int = 0) -> dict[str, float]:
    """``score`` of model ``a`` minus that of model ``b`` on the same rows, with the
    percentile interval of the difference over block-bootstrap samples of the rows.

    ``a`` and ``b`` are predictions with ``fold``, ``position``, ``y_true`` and
    ``p0``..``p3``, every seed's rows pooled; both must predict the same
    (fold, position) rows. Rows are drawn in blocks of consecutive readings within
    each fold (:func:`~occupancy_utils.ranking.block_indices`), each with all of its
    seeds, the same rows for both models in every sample.
    """
    from . import ranking

    index = ranking.same_rows({"a": a, "b": b})
    terms = []
    for rows in (a, b):
        y, p = _by_row(rows, index)
        group, term = score_terms(y.ravel(), p.reshape(-1, 4), score)
        terms.append((group.reshape(len(index), -1), term.reshape(len(index), -1)))
    (ga, ta), (gb, tb) = terms
    diff = resampled_score(ga, ta) - resampled_score(gb, tb)
    # the ranking's block, sample count and level unless given: one bootstrap for the chapter
    given = {k: v for k, v in (("block", block), ("n_boot", n_boot), ("level", level))
             if v is not None}
    low, high = ranking.block_interval(
        index.get_level_values("fold").to_numpy(),
        lambda idx: resampled_score(ga, ta, idx) - resampled_score(gb, tb, idx),
        seed=seed, **given)
    return {"difference": float(diff), "low": float(low), "high": float(high)}


def paired_verdict(low: float, high: float) -> str:
    """The rule for a paired difference a - b of a lower-is-better score: ``a`` is *better*
    when the whole interval is below 0, *worse* when it is above, *indistinguishable*
    otherwise."""
    if low > high:
        raise ValueError(f"the interval's low end {low} is above its high end {high}")
    return "better" if high < 0 else "worse" if low > 0 else "indistinguishable"


#: A Gaussian band is read as about right when its ±1σ and ±2σ coverages lie within this
#: of the nominal 68.3 % and 95.4 %.
BAND_TOLERANCE = 0.05


def band_reading(coverage_1sigma: float, coverage_2sigma: float) -> str:
    """Whether a regression's Gaussian band is too narrow, too wide or about right against
    the nominal coverages of a Gaussian, by :data:`BAND_TOLERANCE`: too narrow when either
    the ±1σ or the ±2σ coverage falls short of its nominal value by more than that, too
    wide when the ±1σ coverage exceeds its nominal 68.3 % by more (the ±2σ one, nominal
    95.4 %, cannot exceed it by that much)."""
    for c in (coverage_1sigma, coverage_2sigma):
        if not 0 <= c <= 1:
            raise ValueError(f"a coverage must lie in [0, 1], got {c}")
    short = [k for k, c in ((1, coverage_1sigma), (2, coverage_2sigma))
             if c < nominal_coverage(k) - BAND_TOLERANCE]
    if short:
        return "too narrow: fewer rows fall inside than it claims"
    if coverage_1sigma > nominal_coverage(1) + BAND_TOLERANCE:
        return "too wide: more rows fall inside ±1σ than it claims"
    return "about right (within the tolerance of the nominal coverages)"


def nominal_coverage(k: float) -> float:
    """The share of a Gaussian within ±k standard deviations of its mean."""
    return math.erf(k / math.sqrt(2))
