"""What every model chapter does on each fold: prepare the parts, score the predictions.

Two protocols decide which rows early stopping watches:

* ``report`` - the report's own: train on the whole training part, stop on the
  loss of the **test** part. The test data then takes part in choosing the
  model, so its scores are optimistic; the book labels them as such.
* ``clean`` - train on the training part minus its last ``val_fraction``,
  stop on that validation tail. No test row of a fold reaches that fold's
  training or early stopping (``tests/test_leakage.py``). A choice made across
  folds is another matter: the folds grow forward in time, so each later
  fold's validation tail lies inside an earlier fold's test part.

In both, the min-max scaler is fitted on the training part only (for
``clean`` that includes the validation tail, which is training data).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import metrics, splits
from .data import TARGET, load
from .training import check_protocol

PREDICTION_COLUMNS = ("fold", "position", "y_true", "y_pred")


@functools.lru_cache(maxsize=1)
def search_data() -> tuple[pd.DataFrame, tuple[splits.Fold, ...]]:
    """The data and its four folds, loaded once per process.

    Search objectives run one grid point per call, possibly in a worker
    process; this keeps them from reading and validating the CSV each time.
    """
    frame = load()
    return frame, tuple(splits.make_folds(frame.index))


@dataclass(frozen=True)
class FoldParts:
    """Scaled features, labels and row positions of one fold under one protocol.

    ``fit`` trains the model, ``monitor`` is what early stopping watches and
    ``test`` is scored. Under the report protocol ``monitor`` is the test part.
    """

    fold: splits.Fold
    protocol: str
    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    positions: dict[str, np.ndarray]
    index: dict[str, pd.DatetimeIndex]


def part_positions(fold: splits.Fold, protocol: str, val_fraction: float
                   ) -> dict[str, np.ndarray]:
    """Row positions of a fold's ``fit``, ``monitor`` and ``test`` parts under a protocol.

    ``monitor`` is what early stopping and every choice of the fold watch: the
    test part itself under ``report``, the training part's last ``val_fraction``
    under ``clean`` (``fit`` is then the training part without it). The same
    parts as :func:`fold_parts`, which keeps its own lines for now: the stored
    searches of chapters 4-6 are keyed on its code, and hours of training would
    start over for an edit that changes nothing.
    """
    check_protocol(protocol)
    if protocol == "report":
        return {"fit": fold.train, "monitor": fold.test, "test": fold.test}
    fit, val = fold.validation_split(val_fraction)
    return {"fit": fit, "monitor": val, "test": fold.test}


def fold_parts(frame: pd.DataFrame, fold: splits.Fold, features: list[str], protocol: str,
               val_fraction: float) -> FoldParts:
    """One fold's scaled parts under a protocol: ``fit``, ``monitor`` and ``test``.

    ``report`` monitors (stops early) on the test part, as the report did;
    ``clean`` monitors on the last ``val_fraction`` of the training part. The
    scaler is fitted on the training part only.
    """
    check_protocol(protocol)
    if protocol == "report":
        positions = {"fit": fold.train, "monitor": fold.test, "test": fold.test}
    else:
        fit, val = fold.validation_split(val_fraction)
        positions = {"fit": fit, "monitor": val, "test": fold.test}
    x = splits.scaled_parts(frame, fold, features, {"train": fold.train, **positions})
    x.pop("train")
    y_all = frame[TARGET].to_numpy()
    return FoldParts(fold, protocol, x, {k: y_all[v] for k, v in positions.items()}, positions,
                     {k: frame.index[v] for k, v in positions.items()})


def prediction_frame(fold: int, positions: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray,
                     **extra: np.ndarray) -> pd.DataFrame:
    """Per-row predictions of one fold: the common columns plus model-specific ones
    (``value`` for a regression output or expected count, ``std``, ``p0``..``p3``)."""
    out = pd.DataFrame({"fold": fold, "position": positions, "y_true": y_true,
                        "y_pred": np.asarray(y_pred).astype(int)})
    for name, values in extra.items():
        out[name] = values
    return out


def predictions_table(parts: Iterable[tuple[str, str, int, pd.DataFrame]]) -> pd.DataFrame:
    """Per-row predictions of many runs as one table, the shape the results files keep.

    ``parts`` are (model key, protocol, seed, frame of :func:`prediction_frame`);
    the table starts with ``model``, ``protocol`` and ``seed``, then
    ``PREDICTION_COLUMNS``, then whatever else a model has (``value``,
    ``std``, ``p0``..``p3``). Every chapter writes its predictions through this,
    so chapter 7 reads one layout.
    """
    frames = [frame.assign(model=model, protocol=protocol, seed=seed)
              for model, protocol, seed, frame in parts]
    if not frames:
        raise ValueError("no predictions to put in a table")
    out = pd.concat(frames, ignore_index=True)
    first = ["model", "protocol", "seed", *PREDICTION_COLUMNS]
    return out[first + [c for c in out.columns if c not in first]]


def summarize(predictions: Sequence[pd.DataFrame], value_column: str | None = None) -> dict:
    """Per-fold, mean, std and pooled scores from per-fold prediction frames.

    With ``value_column`` the MSE is taken on that column (e.g. a regression
    output) instead of the predicted labels.
    """
    parts = []
    for p in predictions:
        item = (p["y_true"].to_numpy(), p["y_pred"].to_numpy())
        if value_column is not None:
            item = (*item, p[value_column].to_numpy())
        parts.append(item)
    return metrics.fold_summary(parts)


def seed_mean(summaries: Iterable[Mapping[str, Mapping[str, float]]], stat: str,
              metric: str) -> float:
    """One score of :func:`summarize`'s (``stat`` ``"mean"``, ``"std"`` or ``"pooled"``,
    ``metric`` ``"mse"`` or ``"f1_macro"``) averaged over the seeds' summaries: how
    every chapter puts a model's seeds into one number."""
    values = [s[stat][metric] for s in summaries]
    if not values:
        raise ValueError(f"no seed's summary to average ({stat} {metric})")
    return float(np.mean(values))


@dataclass
class FittedFolds:
    """One fitted model per fold with its test predictions; times summed over the folds.

    What a final run of one seed holds, whatever the model family.
    """

    predictions: list[pd.DataFrame]
    models: list[Any] = field(repr=False)
    train_seconds: float
    predict_seconds: float
    #: the same models' predictions on each fold's validation tail, where one was held out
    validation: list[pd.DataFrame] = field(default_factory=list)
    #: fold number -> the configuration that fold's model uses, where the folds were searched
    chosen: dict[int, Any] = field(default_factory=dict)

    def summary(self) -> dict:
        """Per-fold, mean, std and pooled scores (:func:`summarize`)."""
        return summarize(self.predictions)


#: Class-probability columns of a predictions file, one per count 0..3.
PROBA_COLUMNS = [f"p{c}" for c in metrics.LABELS]


def class_probabilities(model: Any, x: np.ndarray) -> np.ndarray:
    """A fitted scikit-learn classifier's probabilities in columns 0..3.

    A training part may lack a class (a fold without three people): its
    column is 0, so every model's columns mean the same counts.
    """
    out = np.zeros((len(x), len(metrics.LABELS)))
    out[:, np.asarray(model.classes_).astype(int)] = model.predict_proba(x)
    return out


def held_out_parts(frame: pd.DataFrame, fold: splits.Fold, features: list[str],
                   val_fraction: float) -> FoldParts:
    """The clean protocol's rows with the report's stopping: train on the training part
    without its validation tail, stop on the test part.

    The third run that splits the protocol gap in two (:mod:`~occupancy_utils.protocol_gap`):
    against ``report`` it differs only in the rows held out, against ``clean``
    only in what early stopping watches. The scaler is the clean protocol's
    (fitted on the whole training part), so nothing else differs.
    """
    clean = fold_parts(frame, fold, features, "clean", val_fraction)
    swap = {"fit": "fit", "monitor": "test", "test": "test"}
    return FoldParts(fold, "report", *({k: part[v] for k, v in swap.items()}
                                       for part in (clean.x, clean.y, clean.positions,
                                                    clean.index)))
