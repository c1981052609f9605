"""The four time-series folds and training-only scaling.

Fold boundaries are data, written once here. Every fold trains on everything
recorded before its test part starts (an expanding window), so a test row is
always later than every training row. The boundaries were placed by hand on
the label timeline (see chapter 3) so that as many test parts as the data
allow hold every class:

* people (classes 1-3) were only present on 22-23 December and on
  10 January, and class 1 only on 22-23 December; so the test parts after
  23 December cannot hold class 1, whatever the boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.preprocessing import MinMaxScaler

#: (test start, test end) of each fold; the end is exclusive, None = end of data.
FOLD_BOUNDARIES: list[tuple[str, str | None]] = [
    ("2017-12-22 17:30:00", "2017-12-23 13:00:00"),
    ("2017-12-23 13:00:00", "2017-12-23 21:00:00"),
    ("2017-12-23 21:00:00", "2018-01-10 17:37:00"),
    ("2018-01-10 17:37:00", None),
]


@dataclass(frozen=True)
class Fold:
    """Row positions (into the time-ordered frame) of one fold's parts."""

    number: int  # 1-based, as in the report's figures
    train: np.ndarray
    test: np.ndarray

    def validation_split(self, fraction: float) -> tuple[np.ndarray, np.ndarray]:
        """Cut the last `fraction` of the training part off as a validation tail.

        The clean protocol stops training on this tail, so the test part
        reaches no choice. It is the *end* of the training part, the rows
        closest in time to the test part, and never shuffled.
        """
        if not 0 < fraction < 1:
            raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
        n_val = max(1, int(round(len(self.train) * fraction)))
        return self.train[:-n_val], self.train[-n_val:]


def make_folds(index: pd.DatetimeIndex,
               boundaries: list[tuple[str, str | None]] | None = None) -> list[Fold]:
    """Folds for a time-ordered index, from the boundaries above (or given ones)."""
    if not index.is_monotonic_increasing:
        raise ValueError("index must be sorted in time before making folds")
    folds = []
    for number, (start, end) in enumerate(boundaries or FOLD_BOUNDARIES, start=1):
        t0 = pd.Timestamp(start)
        is_test = index >= t0
        if end is not None:
            is_test &= index < pd.Timestamp(end)
        test = np.flatnonzero(is_test)
        train = np.flatnonzero(index < t0)
        if len(test) == 0 or len(train) == 0:
            raise ValueError(f"fold {number}: empty train or test part for boundary {start}")
        folds.append(Fold(number, train, test))
    return folds


def fold_table(frame: pd.DataFrame, folds: list[Fold], target: str) -> pd.DataFrame:
    """One row per fold and part: time range, rows and class counts."""
    rows = []
    for fold in folds:
        for part, idx in (("train", fold.train), ("test", fold.test)):
            sub = frame.iloc[idx]
            counts = sub[target].value_counts()
            rows.append({
                "fold": fold.number, "part": part,
                "from": sub.index[0], "to": sub.index[-1], "rows": len(sub),
                **{f"class {c}": int(counts.get(c, 0)) for c in range(4)},
            })
    return pd.DataFrame(rows)


def fit_scaler(train_values: np.ndarray) -> MinMaxScaler:
    """Min-max scaler fitted on training rows only; test values may then leave [0, 1]."""
    return MinMaxScaler().fit(train_values)


def scaled_parts(frame: pd.DataFrame, fold: Fold, features: list[str],
                 parts: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Scale each part of a fold with a scaler fitted on ``parts['train']`` only.

    ``parts`` defaults to the fold's train and test; pass e.g. a validation
    tail as well. The fit sees exactly the rows of the train part.
    """
    parts = parts or {"train": fold.train, "test": fold.test}
    values = frame[features].to_numpy(dtype="float64")
    scaler = fit_scaler(values[parts["train"]])
    return {name: scaler.transform(values[idx]).astype("float32") for name, idx in parts.items()}


def tail_overlaps(folds: list[Fold], val_fraction: float) -> pd.DataFrame:
    """Per fold: its validation tail, and how many of those rows are another fold's test rows.

    Why a configuration chosen by the mean over the folds is not clean: the
    folds grow forward, so a later fold's tail lies in an earlier fold's test
    part, and that fold's score then rests on a choice made partly on its own
    test rows. Chosen per fold, on the fold's own tail, it is.
    """
    rows = []
    for fold in folds:
        _, tail = fold.validation_split(val_fraction)
        inside = {other.number: int(np.intersect1d(tail, other.test).size) for other in folds}
        rows.append({"fold": fold.number, "tail rows": len(tail),
                     "in its own test part": inside[fold.number],
                     "in earlier folds' test parts": sum(inside.values()),
                     "which": ", ".join(f"fold {k}" for k, n in inside.items() if n) or "none"})
    return pd.DataFrame(rows)


#: Test windows of the second fold design, placed by a rule (:func:`rolling_boundaries`).
ROLLING_WINDOWS = 6
#: Share of the readings before the first test window of the second design.
ROLLING_START = 0.1
#: The fold designs: the four hand-made folds and the rolling-origin windows.
DESIGNS = ("hand", "rolling")


def rolling_boundaries(index: pd.DatetimeIndex, n_windows: int = ROLLING_WINDOWS,
                       start: float = ROLLING_START) -> list[tuple[str, str | None]]:
    """Rolling-origin test windows placed by a rule, as a sensitivity check of the hand-made folds.

    The rule: after the first ``start`` share of the readings (training data for
    the first window), the rest is cut into ``n_windows`` test windows of equal
    numbers of readings, each trained on everything before it. Nothing looks at
    the labels, so some windows hold no person at all: they ask how often a model
    raises a false alarm in an empty room, which the hand-made folds ask less.
    """
    if not 0 < start < 1 or n_windows < 1:
        raise ValueError(f"need 0 < start < 1 and n_windows >= 1, got {start}, {n_windows}")
    first = int(round(len(index) * start))
    cuts = np.linspace(first, len(index), n_windows + 1).round().astype(int)
    if np.any(np.diff(cuts) < 1):
        raise ValueError(f"{len(index)} readings cannot hold {n_windows} test windows")
    stamps = [str(index[c]) for c in cuts[:-1]]
    return list(zip(stamps, [*stamps[1:], None], strict=True))


def design_folds(index: pd.DatetimeIndex, design: str = "hand") -> list[Fold]:
    """The folds of a named design: ``hand`` (FOLD_BOUNDARIES) or ``rolling``."""
    if design not in DESIGNS:
        raise ValueError(f"fold design must be one of {DESIGNS}, got {design!r}")
    return make_folds(index, None if design == "hand" else rolling_boundaries(index))
