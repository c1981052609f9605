"""Chapter 6: the LSTM on each fold, its two-stage search and MC dropout (its final models:
:mod:`~occupancy_utils.lstm_finals`).

The chapter's tables and verdicts on these results live in
:mod:`~occupancy_utils.findings.lstm`.

Windows. For training and for the search, each part of a fold (fit, monitor,
test from :func:`~occupancy_utils.experiment.fold_parts`) is cut into sliding
windows on its own, with the gap rule of :mod:`occupancy_utils.sequences`, so
no window crosses a fold boundary or a break in collection. A window predicts
the label of its last row, so the first ``seq_len - 1`` rows of each part, and
of each stretch after a break, have no window there. The final models are
scored on **every** test row: :func:`history_windows` takes each row's window
from the readings before it, reaching back into the training part (features
only), so the LSTM is scored on the rows every other model is scored on.

Search. As in the report, the structure (``seq_len``, ``layers``,
``hidden``) is searched first at a fixed ``lr`` and ``dropout``, then
``dropout`` and ``lr`` for the winning structure. Configurations are scored
with dropout off (the report's choice) on the **monitor** part: under the
report protocol the test part, one choice by the mean over folds (the
report's selection, on test data); under the clean protocol each fold's own
validation tail, one choice per fold (``_per_fold_tuning``), so no test
row reaches any fold's choice. Test scores are stored with every trial as well.

Final models. Each fold's choice is trained again for each seed and scored on
the test parts with dropout off and with Monte Carlo dropout (T samples in one
batched pass, :func:`~occupancy_utils.models.lstm.mc_samples`).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from . import (
    data,
    experiment,
    halving,
    nested,
    profiles,
    results,
    rng,
    search,
    sequences,
    splits,
    training,
    uncertainty,
)
from .models import lstm

#: The version of what this family's search records hold (part of every search's key,
#: see cache_key): bump it when the records change shape or meaning.
SCHEMA = 1
#: Version of the one-fold records (:func:`fold_objective`); 2: they keep each epoch's
#: monitored loss.
FOLD_SCHEMA = 2

FEATURES: list[str] = data.NON_LIGHT_FEATURES
STRUCTURE_KEYS = ("seq_len", "layers", "hidden")
TUNING_KEYS = ("dropout", "lr")
MODEL_KEYS = {
    ("regression", False): "lstm_regression",
    ("regression", True): "lstm_regression_mcd",
    ("classification", False): "lstm_classification",
    ("classification", True): "lstm_classification_mcd",
}
LABELS = {
    "lstm_regression": "LSTM regression scored with dropout off",
    "lstm_regression_mcd": "LSTM regression, MC dropout (mean of T samples)",
    "lstm_classification": "LSTM classification scored with dropout off",
    "lstm_classification_mcd": "LSTM classification, MC dropout (mean softmax of T samples)",
}


# --- parameters ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Config:
    """One LSTM configuration: the five hyper-parameters the report searched."""

    variant: str
    seq_len: int
    layers: int
    hidden: int
    dropout: float
    lr: float

    def __post_init__(self) -> None:
        lstm.outputs_for(self.variant)
        _positive_int("seq_len", self.seq_len)
        lstm.check_structure(self.hidden, self.layers, self.dropout)
        _positive_float("lr", self.lr)

    def hyper(self) -> dict[str, Any]:
        """The hyper-parameters without the variant (for tables and results)."""
        return {k: v for k, v in asdict(self).items() if k != "variant"}


@dataclass(frozen=True)
class Settings:
    """Training settings shared by every fit of the chapter.

    No field has a default: the values live in one place, ``params/<profile>.yaml``
    (:func:`profile_settings` reads them).
    """

    batch_size: int
    max_epochs: int
    patience: int
    val_fraction: float

    def __post_init__(self) -> None:
        for name in ("batch_size", "max_epochs", "patience"):
            _positive_int(name, getattr(self, name))
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction!r}")


def profile_settings(profile: str, **changes: Any) -> Settings:
    """The chapter's :class:`Settings` as ``params/<profile>.yaml`` gives them, with
    ``changes`` applied (tests and benchmarks shrink a profile this way, never by
    defaults of their own)."""
    given = profiles.notebook_parameters(profile, "06_lstm")
    return Settings(**{**{f: given[f] for f in Settings.__dataclass_fields__}, **changes})


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _positive_float(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def threads_per_worker(threads: int, workers: int) -> int:
    """Torch threads for each search worker: ``threads``, or with 0 the cores shared out.

    ``WORKERS=2`` on a 2-core machine then gives each worker one thread
    instead of two workers of two threads fighting over two cores.
    """
    if threads:
        return threads
    try:
        cores = len(os.sched_getaffinity(0))  # the cores this process may use
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, workers))


def _check_grid(name: str, grid: Any, keys: Sequence[str]) -> None:
    if not isinstance(grid, Mapping) or set(grid) != set(keys):
        got = sorted(grid) if isinstance(grid, Mapping) else type(grid).__name__
        raise ValueError(f"{name} must map exactly {list(keys)} to values, got {got}")
    for key in keys:
        values = grid[key]
        if not isinstance(values, (list, tuple)) or not values:
            raise ValueError(f"{name}.{key} must be a non-empty list, got {values!r}")


def check_parameters(*, seeds: Sequence[int], structure_grid: Mapping[str, Sequence[Any]],
                     structure_fixed: Mapping[str, float],
                     tuning_grid: Mapping[str, Sequence[Any]], settings: Settings,
                     mc_samples: int, search_protocols: Sequence[str],
                     structure_keep: float, torch_threads: int) -> None:
    """Every parameter of the chapter, checked before anything trains.

    Each bad value fails with a one-line ValueError naming the parameter.
    """
    training.check_seeds(seeds)
    _check_grid("structure_grid", structure_grid, STRUCTURE_KEYS)
    _check_grid("tuning_grid", tuning_grid, TUNING_KEYS)
    if not isinstance(structure_fixed, Mapping) or set(structure_fixed) != set(TUNING_KEYS):
        raise ValueError(f"structure_fixed must map exactly {list(TUNING_KEYS)} to values, "
                         f"got {structure_fixed!r}")
    for key in STRUCTURE_KEYS:
        for v in structure_grid[key]:
            _positive_int(f"structure_grid.{key}", v)
    for label, lrs in (("structure_fixed.lr", [structure_fixed["lr"]]),
                       ("tuning_grid.lr", tuning_grid["lr"])):
        for v in lrs:
            _positive_float(label, v)
    for label, drops in (("structure_fixed.dropout", [structure_fixed["dropout"]]),
                         ("tuning_grid.dropout", tuning_grid["dropout"])):
        for v in drops:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < 1:
                raise ValueError(f"{label} must be in (0, 1) (MC dropout needs some), "
                                 f"got {v!r}")
    if not isinstance(settings, Settings):
        raise ValueError(f"settings must be a Settings, got {type(settings).__name__}")
    _positive_int("mc_samples", mc_samples)
    if isinstance(torch_threads, bool) or not isinstance(torch_threads, int) or torch_threads < 0:
        raise ValueError(f"torch_threads must be a non-negative integer, got {torch_threads!r}")
    halving.check_keep(structure_keep, "structure_keep")
    if (not isinstance(search_protocols, (list, tuple)) or not search_protocols
            or any(p not in training.PROTOCOLS for p in search_protocols)):
        raise ValueError(f"search_protocols must be a non-empty list from {training.PROTOCOLS}, "
                         f"got {search_protocols!r}")


# --- windows ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Windows:
    """Sliding windows of one part: inputs, the label of each window's last row, and rows.

    ``rows[i]`` are the frame positions of the ``seq_len`` rows of window i;
    ``positions = rows[:, -1]`` is the row whose label the window predicts.
    """

    x: np.ndarray
    y: np.ndarray
    rows: np.ndarray

    @property
    def positions(self) -> np.ndarray:
        """Row positions of the windows' last readings: the rows the windows predict."""
        return self.rows[:, -1]

    def __len__(self) -> int:
        return len(self.y)


def part_windows(x: np.ndarray, y: np.ndarray, positions: np.ndarray,
                 index: pd.DatetimeIndex, seq_len: int) -> Windows:
    """Windows of one part only; none spans a gap longer than ``sequences.MAX_GAP_SECONDS``."""
    windows, ends = sequences.sliding_windows(x, seq_len, sequences.segment_ids(index))
    offsets = np.arange(-seq_len + 1, 1)
    rows = positions[ends[:, None] + offsets[None, :]] if len(ends) else np.empty(
        (0, seq_len), dtype=int)
    return Windows(windows.astype("float32"), y[ends], rows)


def fold_windows(frame: pd.DataFrame, fold: splits.Fold, protocol: str, seq_len: int,
                 val_fraction: float) -> dict[str, Windows]:
    """Windows of the fit, monitor and test parts of one fold (scaled on training rows only)."""
    parts = experiment.fold_parts(frame, fold, FEATURES, protocol, val_fraction)
    return {name: part_windows(parts.x[name], parts.y[name], parts.positions[name],
                               parts.index[name], seq_len)
            for name in ("fit", "monitor", "test")}


def history_windows(frame: pd.DataFrame, fold: splits.Fold, positions: np.ndarray,
                    seq_len: int) -> Windows:
    """Windows ending at each of ``positions``, their history the readings just before it.

    Why: a deployed model has the readings that came before the row it
    predicts. Taking them as the window (features only, never labels) lets
    the LSTM predict every test row, the rows every other model is scored
    on, instead of leaving the first ``seq_len - 1`` rows of each test part
    unscored. The history reaches back into the training part where the row
    is near its start, scaled by the fold's scaler (fitted on the training
    part). A window still never spans a break in collection: the readings
    before the break are replaced by the first reading after it, as if the
    room had stood still, so the window keeps the length the model was
    trained on.
    """
    positions = np.asarray(positions, dtype=int)
    rows = history_rows(frame.index, positions, seq_len)
    needed = np.unique(rows)
    x = splits.scaled_parts(frame, fold, FEATURES, {"train": fold.train, "rows": needed})["rows"]
    y = frame[experiment.TARGET].to_numpy()[positions]
    return Windows(x[np.searchsorted(needed, rows)].astype("float32"), y, rows)


def history_rows(index: pd.DatetimeIndex, positions: np.ndarray, seq_len: int) -> np.ndarray:
    """The frame positions of :func:`history_windows`' windows, one row per position:
    the ``seq_len`` rows ending at it, padded with the first row after a break."""
    segments = sequences.segment_ids(index)
    starts = np.flatnonzero(np.r_[True, np.diff(segments) != 0])  # first row of each segment
    rows = np.asarray(positions, dtype=int)[:, None] + np.arange(-seq_len + 1, 1)[None, :]
    return np.maximum(rows, starts[segments[positions]][:, None])


def history_counts(frame: pd.DataFrame, folds: Sequence[splits.Fold],
                   seq_len: int) -> pd.DataFrame:
    """Per fold: test rows, how many take part of their window from before the test
    part, and how many are padded after a break in collection (:func:`history_windows`)."""
    out = []
    for fold in folds:
        rows = history_rows(frame.index, fold.test, seq_len)
        padded = (np.diff(rows, axis=1) == 0).any(axis=1)
        out.append({"fold": fold.number, "test rows": len(rows),
                    "history before the test part": int((rows[:, 0] < fold.test[0]).sum()),
                    "padded after a break": int(padded.sum())})
    return pd.DataFrame(out)


def history_counts_per_fold(frame: pd.DataFrame, folds: Sequence[splits.Fold],
                            per_fold: Mapping[int, Config]) -> pd.DataFrame:
    """:func:`history_counts` with each fold's own window length (its chosen configuration)."""
    return pd.concat([history_counts(frame, [f], per_fold[f.number].seq_len).assign(
        seq_len=per_fold[f.number].seq_len) for f in folds], ignore_index=True)


# --- training and prediction --------------------------------------------------------------

def train_fold(windows: Mapping[str, Windows], config: Config, settings: Settings, seed: int,
               progress: bool = False) -> tuple[lstm.LSTMNet, training.History, float]:
    """Train one configuration on one fold; early stopping watches the monitor part.

    Returns the model (best monitored epoch's weights), its history and seconds.
    """
    if len(windows["fit"]) == 0 or len(windows["monitor"]) == 0:
        raise ValueError(f"seq_len {config.seq_len} leaves a fit or monitor part without "
                         "windows")
    start = time.perf_counter()
    with rng.seeded(seed) as generator:
        dev = training.device()
        model = lstm.build(config.variant, len(FEATURES), config.hidden, config.layers,
                           config.dropout).to(dev)
        regression = config.variant == "regression"
        ytype = torch.float32 if regression else torch.long
        xf = training.tensor(windows["fit"].x, torch.float32, dev)
        yf = training.tensor(windows["fit"].y, ytype, dev)
        xm = training.tensor(windows["monitor"].x, torch.float32, dev)
        ym = training.tensor(windows["monitor"].y, ytype, dev)

        def loss_of(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            if regression:
                return torch.nn.functional.mse_loss(out.squeeze(-1), target, reduction="sum")
            return torch.nn.functional.cross_entropy(out, target, reduction="sum")

        def batch_loss(idx: torch.Tensor) -> torch.Tensor:
            idx = idx.to(dev)
            return loss_of(model(xf[idx]), yf[idx]) / len(idx)

        def monitor() -> float:
            total = sum(float(loss_of(model(xb), yb))
                        for xb, yb in zip(xm.split(4096), ym.split(4096), strict=True))
            return total / len(ym)

        history = training.fit(model, batch_loss, len(yf), monitor, lr=config.lr,
                               batch_size=settings.batch_size, max_epochs=settings.max_epochs,
                               patience=settings.patience, generator=generator,
                               progress=progress, description=f"{config.variant} fold")
        return model, history, time.perf_counter() - start


def to_labels(output: np.ndarray, variant: str) -> np.ndarray:
    """Class labels from outputs: regression rounded and clipped to 0..3, else argmax."""
    if variant == "regression":
        return np.clip(np.rint(output), 0, lstm.N_CLASSES - 1).astype(int)
    return np.asarray(output).argmax(axis=-1).astype(int)


def deterministic_frame(model: lstm.LSTMNet, w: Windows, variant: str,
                        fold: int) -> pd.DataFrame:
    """Dropout-off predictions of one part: ``value`` (regression) or ``p0..p3``."""
    x = training.tensor(w.x, torch.float32, next(model.parameters()).device)
    out = lstm.predict(model, x, variant)
    out = out.cpu().numpy().astype("float64")
    if variant == "regression":
        extra = {"value": out}
    else:
        extra = {f"p{c}": out[:, c] for c in range(lstm.N_CLASSES)}
    return experiment.prediction_frame(fold, w.positions, w.y, to_labels(out, variant), **extra)


def mc_frame(model: lstm.LSTMNet, w: Windows, variant: str, fold: int, samples: int,
             seed: int) -> pd.DataFrame:
    """MC dropout predictions of one part, the predictive distribution summarised per row.

    Regression: ``value`` (mean of the T samples), ``std``; ``y_pred`` rounds
    the mean. Classification: ``p0..p3`` (mean softmax, the prediction
    ``y_pred``), ``freq0..freq3`` (how often each class was the argmax of a
    sample, the report's probabilities), ``y_pred_freq`` (its argmax),
    ``entropy`` (predictive) and ``mi`` (mutual information), in nats.
    """
    x = training.tensor(w.x, torch.float32, next(model.parameters()).device)
    with rng.seeded(seed):
        sampled = lstm.mc_samples(model, x, variant, samples).cpu().numpy().astype("float64")
    if variant == "regression":
        mean, std = sampled.mean(axis=0), sampled.std(axis=0)
        return experiment.prediction_frame(fold, w.positions, w.y, to_labels(mean, variant),
                                           value=mean, std=std)
    parts = uncertainty.decompose(sampled)
    votes = sampled.argmax(axis=-1)  # (T, N)
    freq = np.stack([(votes == c).mean(axis=0) for c in range(lstm.N_CLASSES)], axis=1)
    extra = {f"p{c}": parts["mean"][:, c] for c in range(lstm.N_CLASSES)}
    extra |= {f"freq{c}": freq[:, c] for c in range(lstm.N_CLASSES)}
    extra |= {"y_pred_freq": freq.argmax(axis=1), "entropy": parts["predictive_entropy"],
              "mi": parts["mutual_information"]}
    return experiment.prediction_frame(fold, w.positions, w.y, parts["predicted"], **extra)


# --- search -------------------------------------------------------------------------------

def search_objective(params: dict[str, Any], *, variant: str, protocol: str,
                     fixed: Mapping[str, Any], settings: Mapping[str, Any],
                     seed: int, threads: int) -> dict[str, Any]:
    """Train one grid point on every fold (dropout off when scoring); mean monitor MSE.

    Module level so that search workers can pickle it. The returned ``mse``
    is what the search minimises: the mean over folds of the MSE on the
    monitor part (test under the report protocol, validation tail under the
    clean one), on labels (regression rounded), as the report did.
    Runs on ``threads`` torch threads and restores the process's count afterwards.
    """
    config = Config(variant=variant, **{**fixed, **params})
    st = Settings(**settings)
    frame, folds = experiment.search_data()
    monitor_frames, test_frames, epochs, seconds = [], [], [], []
    with training.torch_threads(threads):
        for fold in folds:
            monitor, test, history, secs = _scored_fold(frame, fold, config, st, protocol, seed)
            monitor_frames.append(monitor)
            test_frames.append(test)
            epochs.append(history.epochs)
            seconds.append(secs)
    sel = experiment.summarize(monitor_frames)
    test = experiment.summarize(test_frames)
    return {
        "mse": sel["mean"]["mse"], "mse_std": sel["std"]["mse"],
        "f1_macro": sel["mean"]["f1_macro"], "f1_std": sel["std"]["f1_macro"],
        "fold_mse": [f["mse"] for f in sel["per_fold"]],
        "fold_f1": [f["f1_macro"] for f in sel["per_fold"]],
        "test_mse": test["mean"]["mse"], "test_mse_std": test["std"]["mse"],
        "test_f1_macro": test["mean"]["f1_macro"], "test_f1_std": test["std"]["f1_macro"],
        "test_fold_mse": [f["mse"] for f in test["per_fold"]],
        "epochs": epochs, "seconds": float(np.sum(seconds)),
    }


def _scored_fold(frame: pd.DataFrame, fold: splits.Fold, config: Config, settings: Settings,
                 protocol: str, seed: int
                 ) -> tuple[pd.DataFrame, pd.DataFrame, training.History, float]:
    """One grid point trained on one fold; its dropout-off predictions of the monitor and
    test parts, its history and seconds (what both kinds of search record)."""
    windows = fold_windows(frame, fold, protocol, config.seq_len, settings.val_fraction)
    model, history, secs = train_fold(windows, config, settings, seed)
    return (deterministic_frame(model, windows["monitor"], config.variant, fold.number),
            deterministic_frame(model, windows["test"], config.variant, fold.number),
            history, secs)


def fold_objective(params: dict[str, Any], *, variant: str, protocol: str,
                   fixed: Mapping[str, Any], settings: Mapping[str, Any], seed: int,
                   fold: int, threads: int) -> dict[str, Any]:
    """Train one grid point on one fold only; its monitor MSE (the clean protocol's searches).

    The clean protocol's structure search runs fold by fold (successive halving,
    :mod:`~occupancy_utils.halving`) and its second stage per fold, on the structure
    that fold chose, so fold k's choice reads fold k's validation tail and nothing
    after it. A fold is seeded on its own, so this gives the numbers
    :func:`search_objective` gives for that fold. The record keeps the monitored
    loss of every epoch (``monitor_curve``), so that other pruning rules can be
    replayed on a full run without training again. Runs on ``threads`` torch
    threads and restores the process's count afterwards.
    """
    config = Config(variant=variant, **{**fixed, **params})
    st = Settings(**settings)
    frame, folds = experiment.search_data()
    (one,) = [f for f in folds if f.number == fold]
    with training.torch_threads(threads):
        monitor, test, history, secs = _scored_fold(frame, one, config, st, protocol, seed)
    sel, test = experiment.summarize([monitor]), experiment.summarize([test])
    return {"mse": sel["mean"]["mse"], "f1_macro": sel["mean"]["f1_macro"],
            "fold_mse": [sel["mean"]["mse"]], "test_mse": test["mean"]["mse"],
            "test_f1_macro": test["mean"]["f1_macro"], "epochs": [history.epochs],
            "best_epoch": history.best_epoch + 1,
            "monitor_curve": [float(v) for v in history.monitor],
            "seconds": float(secs)}


@dataclass
class Search:
    """Both stages of one variant's search under one protocol, and what each fold uses.

    ``per_fold`` maps a fold number to its configuration: under ``report`` the
    one winner by the mean test MSE (the report's way), under ``clean`` each
    fold's own choice (nested: its structure, then its dropout and lr, on its own
    validation tail). ``tuning`` holds the second stage's rows (with a ``fold``
    column under ``clean``, one per-fold study each).
    """

    variant: str
    protocol: str
    structure: pd.DataFrame
    tuning: pd.DataFrame
    per_fold: dict[int, Config]
    names: tuple[str, ...] = ()

    @property
    def seconds(self) -> float:
        """Training seconds summed over every grid point of both stages."""
        return float(self.structure["seconds"].sum() + self.tuning["seconds"].sum())

    def hyper(self) -> dict[str, Any]:
        """Each hyper-parameter: its value when every fold agrees, else 'a / b / c / d'."""
        return nested.agreed_values({k: c.hyper() for k, c in self.per_fold.items()})


def _best_row(frame: pd.DataFrame, grid: Mapping[str, Sequence[Any]]) -> pd.Series:
    """Lowest mean MSE; a tie goes to the earlier point in grid order.

    Grid order, not trial order: Optuna hands out points in a shuffled order
    (and workers race), so only the grid order makes the choice reproducible.
    """
    return search.in_grid_order(frame, grid).sort_values("mse", kind="stable").iloc[0]


def two_stage_search(variant: str, protocol: str, *, structure_grid: Mapping[str, Sequence],
                     structure_fixed: Mapping[str, float], tuning_grid: Mapping[str, Sequence],
                     settings: Settings, seed: int, profile: str, workers: int = 1,
                     storage: str | None = None, progress: bool = True,
                     keep: float, threads: int) -> Search:
    """The report's two series: structure at fixed lr/dropout, then dropout and lr.

    Under ``report`` one winner for every fold, by the mean test MSE over folds
    (the report's way), from the exhaustive grid: its Figures 11-12 and readings
    are of that grid. Under ``clean`` each fold chooses on its own validation
    tail: its structure from stage 1, run fold by fold with successive halving
    (``keep``, :mod:`~occupancy_utils.halving`; 1 trains every structure on every
    fold), then dropout and lr in a per-fold stage 2 on that structure
    (``_per_fold_tuning``), so no fold's test rows reach its own model through
    another fold's tail. Each stage is resumable
    (:func:`~occupancy_utils.search.run_grid`). Each training runs on ``threads``
    torch threads (0: the cores shared out among the workers) and restores the count.
    """
    training.check_protocol(protocol)
    keep = halving.check_keep(keep)
    threads = threads_per_worker(threads, workers)
    common = {"variant": variant, "protocol": protocol, "settings": asdict(settings),
              "seed": seed}
    fold_numbers = [f.number for f in experiment.search_data()[1]]
    run = {"profile": profile, "storage": storage, "workers": workers, "seed": seed,
           "progress": progress}
    fixed1 = dict(structure_fixed)
    if protocol == "clean":
        objective = functools.partial(fold_objective, variant=variant, protocol=protocol,
                                      fixed=fixed1, settings=asdict(settings), seed=seed)
        stage1 = halving.run(f"06_lstm-{variant}-clean-structure", structure_grid,
                             objective, fold_numbers, keep=keep,
                             settings={"fixed": fixed1, **common}, schema=FOLD_SCHEMA,
                             bound={"threads": threads}, **run)
        return _per_fold_tuning(variant, stage1, structure_grid=structure_grid,
                                tuning_grid=tuning_grid, fold_numbers=fold_numbers,
                                common=common, threads=threads, run=run)

    def exhaustive(stage: str, grid: Mapping[str, Sequence], fixed: Mapping[str, Any]
                   ) -> pd.DataFrame:
        objective = functools.partial(search_objective, variant=variant, protocol=protocol,
                                      fixed=fixed, settings=asdict(settings), seed=seed,
                                      threads=threads)
        return search.run_grid(f"06_lstm-{variant}-{protocol}-{stage}", grid, objective,
                               settings={"fixed": fixed, **common}, schema=SCHEMA, **run)

    stage1 = exhaustive("structure", structure_grid, fixed1)
    fixed2 = {k: results.plain(_best_row(stage1, structure_grid)[k]) for k in STRUCTURE_KEYS}
    stage2 = exhaustive("tuning", tuning_grid, fixed2)
    win2 = _best_row(stage2, tuning_grid)
    best = Config(variant=variant, **fixed2, **{k: results.plain(win2[k]) for k in TUNING_KEYS})
    return Search(variant, protocol, stage1, stage2, {k: best for k in fold_numbers},
                  (stage1.attrs["study_name"], stage2.attrs["study_name"]))


def _per_fold_tuning(variant: str, stage1: pd.DataFrame, *,
                     structure_grid: Mapping[str, Sequence], tuning_grid: Mapping[str, Sequence],
                     fold_numbers: Sequence[int], common: Mapping[str, Any],
                     run: Mapping[str, Any], threads: int) -> Search:
    """The clean protocol: each fold chooses its structure on its own validation tail among
    the structures that reached it (:func:`~occupancy_utils.halving.choose`), then its
    dropout and lr in a study of its own (:func:`fold_objective`)."""
    structures = halving.choose(stage1, structure_grid, fold_numbers)
    per_fold, frames, names = {}, [], list(stage1.attrs["study_names"])
    for k, structure in structures.items():
        fixed = {key: results.plain(structure[key]) for key in STRUCTURE_KEYS}
        objective = functools.partial(fold_objective, variant=variant, protocol="clean",
                                      fixed=fixed, settings=common["settings"],
                                      seed=common["seed"], fold=k, threads=threads)
        found = search.run_grid(f"06_lstm-{variant}-clean-tuning-fold{k}", tuning_grid,
                                objective, settings={"fixed": fixed, "fold": k, **common},
                                schema=FOLD_SCHEMA, **run)
        names.append(found.attrs["study_name"])
        found = search.in_grid_order(found, tuning_grid)
        tuned = nested.choose(found, tuning_grid, [k])[k]
        per_fold[k] = Config(variant=variant, **fixed, **tuned)
        frames.append(found.assign(fold=k, **fixed))
    return Search(variant, "clean", stage1, pd.concat(frames, ignore_index=True), per_fold,
                  tuple(names))


def all_searches(protocols: Sequence[str], **search_args: Any) -> dict[tuple[str, str], Search]:
    """:func:`two_stage_search` of every variant under every protocol, keyed (variant,
    protocol); ``search_args`` are its keyword arguments."""
    return {(variant, protocol): two_stage_search(variant, protocol, **search_args)
            for variant in lstm.VARIANTS for protocol in protocols}
