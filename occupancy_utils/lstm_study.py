"""Chapter 6: the LSTM on each fold, its two-stage search, MC dropout evaluation and tables.

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
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from . import (
    data,
    experiment,
    nested,
    protocol_gap,
    results,
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
    "lstm_regression": "LSTM regression, dropout off",
    "lstm_regression_mcd": "LSTM regression, MC dropout (mean of T samples)",
    "lstm_classification": "LSTM classification, dropout off",
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
    """Training settings shared by every fit of the chapter."""

    batch_size: int = 64
    max_epochs: int = 300
    patience: int = 10
    val_fraction: float = 0.2

    def __post_init__(self) -> None:
        for name in ("batch_size", "max_epochs", "patience"):
            _positive_int(name, getattr(self, name))
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction!r}")


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _positive_float(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def set_threads(threads: int) -> None:
    """Torch CPU threads for this process; 0 leaves torch's default (every core).

    Small LSTMs gain little from intra-op threads, larger ones some (an epoch
    at 3 x 64 is 1.4x faster on two threads of an idle 2-core machine), but
    threads that share busy cores wait on each other and slow down many times
    over; :func:`threads_per_worker` keeps search workers from doing that.
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ValueError(f"torch_threads must be a non-negative integer, got {threads!r}")
    if threads:
        torch.set_num_threads(threads)


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
                     torch_threads: int = 0) -> None:
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
                 val_fraction: float = 0.2) -> dict[str, Windows]:
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
    generator = training.seed_everything(seed)
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
        total = sum(float(loss_of(model(xb), yb)) for xb, yb in zip(xm.split(4096),
                                                                    ym.split(4096), strict=True))
        return total / len(ym)

    history = training.fit(model, batch_loss, len(yf), monitor, lr=config.lr,
                           batch_size=settings.batch_size, max_epochs=settings.max_epochs,
                           patience=settings.patience, generator=generator, progress=progress,
                           description=f"{config.variant} fold")
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
    torch.manual_seed(seed)
    x = training.tensor(w.x, torch.float32, next(model.parameters()).device)
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
                     seed: int, threads: int = 0) -> dict[str, Any]:
    """Train one grid point on every fold (dropout off when scoring); mean monitor MSE.

    Module level so that search workers can pickle it. The returned ``mse``
    is what the search minimises: the mean over folds of the MSE on the
    monitor part (test under the report protocol, validation tail under the
    clean one), on labels (regression rounded), as the report did.
    ``threads`` (0 = leave torch's default) also applies in worker processes.
    """
    set_threads(threads)
    config = Config(variant=variant, **{**fixed, **params})
    st = Settings(**settings)
    frame, folds = experiment.search_data()
    monitor_frames, test_frames, epochs, seconds = [], [], [], []
    for fold in folds:
        windows = fold_windows(frame, fold, protocol, config.seq_len, st.val_fraction)
        model, history, secs = train_fold(windows, config, st, seed)
        monitor_frames.append(deterministic_frame(model, windows["monitor"], variant,
                                                  fold.number))
        test_frames.append(deterministic_frame(model, windows["test"], variant, fold.number))
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


def fold_objective(params: dict[str, Any], *, variant: str, protocol: str,
                   fixed: Mapping[str, Any], settings: Mapping[str, Any], seed: int,
                   fold: int, threads: int = 0) -> dict[str, Any]:
    """Train one grid point on one fold only; its monitor MSE (the per-fold tuning stage).

    The clean protocol's second stage runs per fold, on the structure that fold
    chose, so fold k's tuning reads fold k's validation tail and nothing else.
    A fold is seeded on its own, so this gives the numbers :func:`search_objective`
    gives for that fold.
    """
    set_threads(threads)
    config = Config(variant=variant, **{**fixed, **params})
    st = Settings(**settings)
    frame, folds = experiment.search_data()
    (one,) = [f for f in folds if f.number == fold]
    windows = fold_windows(frame, one, protocol, config.seq_len, st.val_fraction)
    model, history, secs = train_fold(windows, config, st, seed)
    sel = experiment.summarize([deterministic_frame(model, windows["monitor"], variant, fold)])
    test = experiment.summarize([deterministic_frame(model, windows["test"], variant, fold)])
    return {"mse": sel["mean"]["mse"], "f1_macro": sel["mean"]["f1_macro"],
            "fold_mse": [sel["mean"]["mse"]], "test_mse": test["mean"]["mse"],
            "test_f1_macro": test["mean"]["f1_macro"], "epochs": [history.epochs],
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
                     threads: int = 0) -> Search:
    """The report's two series: structure at fixed lr/dropout, then dropout and lr.

    Under ``report`` one winner for every fold, by the mean test MSE over folds
    (the report's way). Under ``clean`` each fold chooses on its own validation
    tail: its structure from stage 1, then dropout and lr in a per-fold stage 2
    on that structure (``_per_fold_tuning``), so no fold's test rows reach
    its own model through another fold's tail. Each stage is a resumable
    :func:`~occupancy_utils.search.run_grid`.
    """
    training.check_protocol(protocol)
    threads = threads_per_worker(threads, workers)
    common = {"variant": variant, "protocol": protocol, "settings": asdict(settings),
              "seed": seed}
    fold_numbers = [f.number for f in experiment.search_data()[1]]
    fixed1 = dict(structure_fixed)
    objective1 = functools.partial(search_objective, variant=variant, protocol=protocol,
                                   fixed=fixed1, settings=asdict(settings), seed=seed,
                                   threads=threads)
    stage1 = search.run_grid(f"06_lstm-{variant}-{protocol}-structure", structure_grid,
                             objective1, profile=profile, settings={"fixed": fixed1, **common},
                             schema=SCHEMA, storage=storage, workers=workers, seed=seed,
                             progress=progress)
    if protocol == "clean":
        return _per_fold_tuning(
            variant, stage1, structure_grid=structure_grid, tuning_grid=tuning_grid,
            fold_numbers=fold_numbers, common=common, threads=threads,
            run={"profile": profile, "storage": storage, "workers": workers, "seed": seed,
                 "progress": progress})
    win1 = _best_row(stage1, structure_grid)
    fixed2 = {k: results.plain(win1[k]) for k in STRUCTURE_KEYS}
    objective2 = functools.partial(search_objective, variant=variant, protocol=protocol,
                                   fixed=fixed2, settings=asdict(settings), seed=seed,
                                   threads=threads)
    stage2 = search.run_grid(f"06_lstm-{variant}-{protocol}-tuning", tuning_grid, objective2,
                             profile=profile, settings={"fixed": fixed2, **common},
                             schema=SCHEMA, storage=storage, workers=workers, seed=seed,
                             progress=progress)
    win2 = _best_row(stage2, tuning_grid)
    best = Config(variant=variant, **fixed2, **{k: results.plain(win2[k]) for k in TUNING_KEYS})
    return Search(variant, protocol, stage1, stage2, {k: best for k in fold_numbers},
                  (stage1.attrs["study_name"], stage2.attrs["study_name"]))


def _per_fold_tuning(variant: str, stage1: pd.DataFrame, *,
                     structure_grid: Mapping[str, Sequence], tuning_grid: Mapping[str, Sequence],
                     fold_numbers: Sequence[int], common: Mapping[str, Any],
                     run: Mapping[str, Any], threads: int) -> Search:
    """The clean protocol: each fold chooses its structure on its own validation tail, then
    its dropout and lr in a study of its own (:func:`fold_objective`)."""
    structures = nested.choose(search.in_grid_order(stage1, structure_grid), structure_grid,
                               fold_numbers)
    per_fold, frames, names = {}, [], [stage1.attrs["study_name"]]
    for k, structure in structures.items():
        fixed = {key: results.plain(structure[key]) for key in STRUCTURE_KEYS}
        objective = functools.partial(fold_objective, variant=variant, protocol="clean",
                                      fixed=fixed, settings=common["settings"],
                                      seed=common["seed"], fold=k, threads=threads)
        found = search.run_grid(f"06_lstm-{variant}-clean-tuning-fold{k}", tuning_grid,
                                objective, settings={"fixed": fixed, "fold": k, **common},
                                schema=SCHEMA, **run)
        names.append(found.attrs["study_name"])
        found = search.in_grid_order(found, tuning_grid)
        tuned = nested.choose(found, tuning_grid, [k])[k]
        per_fold[k] = Config(variant=variant, **fixed, **tuned)
        frames.append(found.assign(fold=k, **fixed))
    return Search(variant, "clean", stage1, pd.concat(frames, ignore_index=True), per_fold,
                  tuple(names))


def structure_reading(found: Search, reported: Mapping[str, Any],
                      grid: Mapping[str, Sequence[Any]]) -> str:
    """Does the report's structure lose to the book's stage-1 winner by more than the folds
    disagree? Under the report protocol (one winner, test MSE per fold): the report's
    structure's rank, and its per-fold difference to the winner. **The rule:** the
    difference counts where its mean over the folds is further from 0 than twice its
    standard error over the folds; otherwise a different winner is within the spread."""
    if found.protocol != "report":
        raise ValueError("the structure reading needs the report protocol's one winner")
    ranked = search.in_grid_order(found.structure, grid).sort_values("mse", kind="stable")
    ranked = ranked.reset_index(drop=True)
    key = tuple(reported[k] for k in STRUCTURE_KEYS)
    match = ranked[[tuple(r) == key for r in ranked[list(STRUCTURE_KEYS)].itertuples(
        index=False)]]
    label = ", ".join(f"{k} {v}" for k, v in zip(STRUCTURE_KEYS, key, strict=True))
    if match.empty:
        return f"the report's structure ({label}) is not in this profile's grid"
    mine, best = match.iloc[0], ranked.iloc[0]
    diffs = np.asarray(mine["fold_mse"], dtype=float) - np.asarray(best["fold_mse"], dtype=float)
    mean = float(diffs.mean())
    two_se = float(2 * diffs.std(ddof=1) / np.sqrt(len(diffs))) if len(diffs) > 1 else np.nan
    if match.index[0] == 0:
        return f"the report's structure ({label}) is the winner here too"
    verdict = ("loses by more than that spread" if np.isfinite(two_se) and mean > two_se
               else "is within the spread over folds, so the different winner is not a "
                    "finding")
    folds = ", ".join(f"{d:+.3f}" for d in diffs)
    return (f"the report's structure ({label}) ranks {int(match.index[0]) + 1} of {len(ranked)} "
            f"(mean test MSE {mine['mse']:.3f} against the winner's {best['mse']:.3f}); fold by "
            f"fold it differs by {folds} (mean {mean:+.3f}, twice the standard error over the "
            f"folds {two_se:.3f}) and {verdict}")


def fold_spread_reading(stage: pd.DataFrame) -> str:
    """Are the folds more unequal than the configurations? The median over a stage's
    configurations of the range of its per-fold MSEs, against the range of the
    configurations' mean MSEs, in one sentence."""
    if stage.empty:
        raise ValueError("the stage has no configuration")
    per_fold = [np.asarray(f, dtype=float) for f in stage["fold_mse"]]
    fold_range = float(np.median([f.max() - f.min() for f in per_fold]))
    means = stage["mse"].astype(float)
    mean_range = float(means.max() - means.min())
    relation = ("more than" if fold_range > mean_range else "no more than")
    return (f"a configuration's MSE differs between its best and its worst fold by "
            f"{fold_range:.3f} (the median over the configurations), {relation} the "
            f"configurations' mean MSEs differ from each other ({mean_range:.3f} from the "
            f"best to the worst)")


def effect_reading(stage: pd.DataFrame, key: str, claimed: Sequence[Any]) -> str:
    """One of the report's findings from its Figures 11-12 ("``key`` = ``claimed`` did
    best"), judged on a search stage: the mean MSE per value of ``key`` over every
    configuration and fold (:func:`long_folds`). **The rule:** the finding holds when a
    claimed value has the lowest mean; it holds *clearly* when that mean is below every
    other value's by more than twice their combined standard error (over the
    configuration-fold scores). Otherwise it does not hold, and *within the spread*
    where the best value beats the named one by no more than that."""
    long = long_folds(stage, [key])
    if long.empty:
        raise ValueError("the stage has no scores")
    by = long.groupby(key)["mse"].agg(["mean", "std", "count"])
    se = (by["std"].fillna(0) / np.sqrt(by["count"])).to_dict()
    claim = [v for v in by.index if v in set(claimed)]
    named = " or ".join(str(v) for v in claimed)
    if not claim:
        return f"{key} {named}: not in this profile's grid"
    best = by["mean"].idxmin()
    if best not in claim:
        top = by.loc[claim, "mean"].idxmin()
        gap = float(by.loc[top, "mean"] - by.loc[best, "mean"] - 2 * np.hypot(se[top], se[best]))
        how = "does not hold" if gap > 0 else "does not hold, within the spread"
        return (f"{key} {named}: {how}, the lowest mean MSE is at {best} "
                f"({by.loc[best, 'mean']:.3f}, against {by.loc[top, 'mean']:.3f} at {top})")
    others = by.drop(index=claim)
    if others.empty:
        return f"{key} {named}: nothing else was tried"
    margin = min(float(others.loc[v, "mean"] - by.loc[best, "mean"]
                       - 2 * np.hypot(se[v], se[best])) for v in others.index)
    clearly = "holds clearly" if margin > 0 else "holds, within the spread"
    rival = others["mean"].idxmin()
    return (f"{key} {named}: {clearly}, the lowest mean MSE is at {best} "
            f"({by.loc[best, 'mean']:.3f}, next {rival} at {others.loc[rival, 'mean']:.3f})")


#: The report's readings of its Figures 11-12 (regression, its search on the test folds)
#: as (stage, hyper-parameter, the values it found best): "long sequences and larger
#: networks (hidden 64, 3-4 layers)", and learning rates "usually 0.0001". "Long" is
#: taken as the report's own 15 readings and longer.
FIGURE_FINDINGS = (("structure", "seq_len", (15, 20, 25)), ("structure", "hidden", (64,)),
                   ("structure", "layers", (3, 4)), ("tuning", "lr", (0.0001,)))


def figure_findings(found: Search) -> str:
    """:func:`effect_reading` of each of :data:`FIGURE_FINDINGS` on a search, in one
    sentence."""
    parts = []
    for stage, key, claimed in FIGURE_FINDINGS:
        frame = found.structure if stage == "structure" else found.tuning
        present = [v for v in claimed if v in set(frame[key])] if key in frame else []
        parts.append(effect_reading(frame, key, present or claimed) if key in frame
                     else f"{key}: not searched in this profile")
    return "; ".join(parts)


def ties(found: Search) -> dict[str, tuple[dict[int, int], int]]:
    """A clean search's tie counts per stage: per fold, how many structures tie at the fold's
    lowest validation MSE in stage 1, and how many (dropout, lr) points in its own stage 2."""
    if found.protocol != "clean":
        raise ValueError(f"tie counts are for the clean protocol's per-fold choices, "
                         f"got {found.protocol!r}")
    folds = sorted(found.per_fold)
    tuning = {k: nested.tied_at_minimum(found.tuning[found.tuning["fold"] == k], [k])[k]
              for k in folds}
    n_tuning = int((found.tuning["fold"] == folds[0]).sum())
    return {"structure": (nested.tied_at_minimum(found.structure, folds), len(found.structure)),
            "tuning": (tuning, n_tuning)}


def ties_text(found: Search) -> str:
    """:func:`ties` as the chapter prints it, one clause per stage."""
    stages = ties(found)
    return "; ".join(f"in the {name} stage, {nested.ties_text(*stages[stage])}"
                     for stage, name in (("structure", "structure"),
                                         ("tuning", "dropout and lr")))


def long_folds(stage: pd.DataFrame, keys: Sequence[str], column: str = "fold_mse") -> pd.DataFrame:
    """One row per grid point and fold (for the figures: the spread over folds)."""
    rows = []
    for _, r in stage.iterrows():
        for i, v in enumerate(r[column], start=1):
            # a per-fold study's row holds its own fold's score only
            fold = int(r["fold"]) if "fold" in r and len(r[column]) == 1 else i
            rows.append({**{k: r[k] for k in keys}, "fold": fold, "mse": v})
    return pd.DataFrame(rows)


# --- final models -------------------------------------------------------------------------

@dataclass
class Final:
    """Predictions and timings of the final models of one variant, every protocol and seed."""

    variant: str
    configs: dict[str, dict[int, Config]]
    predictions: dict[tuple[str, str, int], list[pd.DataFrame]] = field(default_factory=dict)
    #: the same models' predictions on each fold's validation tail (clean protocol only)
    validation: dict[tuple[str, str, int], list[pd.DataFrame]] = field(default_factory=dict)
    train_seconds: dict[str, float] = field(default_factory=dict)
    predict_seconds: dict[tuple[str, str], float] = field(default_factory=dict)
    epochs: dict[tuple[str, int], list[int]] = field(default_factory=dict)


def final_models(frame: pd.DataFrame, variant: str,
                 configs: Mapping[str, Mapping[int, Config]], *, settings: Settings,
                 seeds: Sequence[int], mc_samples: int, progress: bool = True) -> Final:
    """Train each protocol's choice for every seed and fold (``configs[protocol][fold]``,
    as ``Search.per_fold``); score with dropout off and MC.

    ``predictions[(model_key, protocol, seed)]`` holds one frame per fold;
    ``validation`` the same for each fold's validation tail under ``clean``
    (what chapter 7 chooses thresholds on), with no test row involved.
    """
    folds = splits.make_folds(frame.index)
    result = Final(variant, dict(configs))
    key_det, key_mc = MODEL_KEYS[(variant, False)], MODEL_KEYS[(variant, True)]
    jobs = [(p, s, f) for p in configs for s in seeds for f in folds]
    for protocol, seed, fold in tqdm(jobs, desc=f"final {variant}", disable=not progress):
        config = configs[protocol][fold.number]
        windows = fold_windows(frame, fold, protocol, config.seq_len, settings.val_fraction)
        model, history, secs = train_fold(windows, config, settings, seed)
        result.train_seconds[protocol] = result.train_seconds.get(protocol, 0.0) + secs
        result.epochs.setdefault((protocol, seed), []).append(history.epochs)
        test = history_windows(frame, fold, fold.test, config.seq_len)
        tail = (history_windows(frame, fold, fold.validation_split(settings.val_fraction)[1],
                                config.seq_len) if protocol == "clean" else None)
        for key, mc in ((key_det, False), (key_mc, True)):
            start = time.perf_counter()
            pred = (mc_frame(model, test, variant, fold.number, mc_samples, seed)
                    if mc else deterministic_frame(model, test, variant, fold.number))
            t = time.perf_counter() - start
            result.predict_seconds[(key, protocol)] = (
                result.predict_seconds.get((key, protocol), 0.0) + t)
            result.predictions.setdefault((key, protocol, seed), []).append(pred)
            if tail is not None:
                val = (mc_frame(model, tail, variant, fold.number, mc_samples, seed) if mc
                       else deterministic_frame(model, tail, variant, fold.number))
                result.validation.setdefault((key, protocol, seed), []).append(val)
    return result


def summaries(final: Final) -> dict[tuple[str, str, int], dict[str, dict]]:
    """Scores of every (model, protocol, seed), the ways the chapter reports them.

    ``labels``: MSE on class labels (the report's); ``value``: MSE on the raw
    regression output or MC mean (regression only); ``frequency``: labels from
    the MC class frequencies (classification MC only, the report's way).
    """
    out: dict[tuple[str, str, int], dict[str, dict]] = {}
    for (key, protocol, seed), frames in final.predictions.items():
        entry = {"labels": experiment.summarize(frames)}
        if "value" in frames[0]:
            entry["value"] = experiment.summarize(frames, value_column="value")
        if "y_pred_freq" in frames[0]:
            by_freq = [f.assign(y_pred=f["y_pred_freq"]) for f in frames]
            entry["frequency"] = experiment.summarize(by_freq)
        out[(key, protocol, seed)] = entry
    return out


def results_models(finals: Sequence[Final]) -> dict[str, Any]:
    """The ``models`` part of results/<profile>/06_lstm.json (CONTRIBUTING.md schema).

    ``seeds`` scores class labels (regression rounded; MC classification by
    mean softmax). Extra entries: ``seeds_value_mse`` (regression: MSE on the
    raw output / MC mean) and ``seeds_by_frequency`` (MC classification
    labelled by class frequencies, the report's way).
    """
    models: dict[str, Any] = {}
    for final in finals:
        scored = summaries(final)
        for mc in (False, True):
            key = MODEL_KEYS[(final.variant, mc)]
            # the book's model is the clean protocol's winner; the report's is also kept
            main = final.configs.get("clean") or next(iter(final.configs.values()))
            by_fold = {k: c.hyper() for k, c in main.items()}
            entry: dict[str, Any] = {
                "label": LABELS[key],
                "params": next(iter(by_fold.values())) if nested.distinct(by_fold) == 1 else {},
                "params_by_protocol": {p: {str(k): c.hyper() for k, c in by_fold.items()}
                                       for p, by_fold in final.configs.items()},
                "probabilistic": mc, "protocols": {}}
            for protocol in final.configs:
                seeds = sorted(s for (k, p, s) in scored if k == key and p == protocol)
                block: dict[str, Any] = {
                    "seeds": {str(s): scored[(key, protocol, s)]["labels"] for s in seeds},
                    # per seed, summed over the folds, averaged over the seeds (as every model)
                    "train_seconds": final.train_seconds[protocol] / len(seeds),
                    "predict_seconds": final.predict_seconds[(key, protocol)] / len(seeds),
                }
                for extra, name in (("value", "seeds_value_mse"),
                                    ("frequency", "seeds_by_frequency")):
                    if extra in scored[(key, protocol, seeds[0])]:
                        block[name] = {str(s): scored[(key, protocol, s)][extra] for s in seeds}
                entry["protocols"][protocol] = block
            models[key] = entry
    return models


def predictions_frame(finals: Sequence[Final], part: str = "test") -> pd.DataFrame:
    """All per-row predictions of the test parts (or, ``part="validation"``, of the
    validation tails) in the shape results.write_predictions expects."""
    results.check_part(part)
    parts = []
    for final in finals:
        by_key = final.predictions if part == "test" else final.validation
        for (key, protocol, seed), frames in by_key.items():
            f = pd.concat(frames, ignore_index=True)
            f.insert(0, "seed", seed)
            f.insert(0, "protocol", protocol)
            f.insert(0, "model", key)
            parts.append(f)
    return pd.concat(parts, ignore_index=True)


# --- tables -------------------------------------------------------------------------------

def _seed_mean(entries: Sequence[dict], stat: str, metric: str) -> float:
    return float(np.mean([e[stat][metric] for e in entries]))


def score_row(final: Final, key: str, protocol: str, way: str = "labels") -> dict[str, float]:
    """Mean over folds and std over folds of MSE and F1 macro, averaged over seeds."""
    scored = summaries(final)
    entries = [v[way] for (k, p, _), v in scored.items() if k == key and p == protocol]
    if not entries:
        raise KeyError(f"no scores for {key} / {protocol} / {way}")
    return {"mse": _seed_mean(entries, "mean", "mse"), "mse_std": _seed_mean(entries, "std", "mse"),
            "f1_macro": _seed_mean(entries, "mean", "f1_macro"),
            "f1_std": _seed_mean(entries, "std", "f1_macro")}


METRICS = ("mse", "mse_std", "f1_macro", "f1_std")
#: (row label, variant, model key, way of scoring, the report's row) of Table 6.
TABLE6_ROWS = (
    ("regression without MCD", "regression", "lstm_regression", "labels",
     "regression without MCD"),
    ("regression without MCD, MSE on raw output", "regression", "lstm_regression", "value",
     None),
    ("regression with MCD", "regression", "lstm_regression_mcd", "labels",
     "regression with MCD"),
    ("regression with MCD, MSE on raw MC mean", "regression", "lstm_regression_mcd", "value",
     None),
    ("classification without MCD", "classification", "lstm_classification", "labels",
     "classification without MCD"),
    ("classification with MCD, class frequencies (report's way)", "classification",
     "lstm_classification_mcd", "frequency", "classification with MCD"),
    ("classification with MCD, mean softmax", "classification", "lstm_classification_mcd",
     "labels", None),
)
TABLE5_ROWS = ("hidden", "layers", "seq_len", "dropout", "lr", "mse", "mse_std", "f1_macro",
               "f1_std")


def table5(variant: str, searches: Mapping[str, Search], finals: Mapping[str, Final],
           report: Mapping[str, Any], digits: int = 4) -> pd.DataFrame:
    """Best hyper-parameters and dropout-off test scores of one variant, the report's beside.

    ``report`` is ``report_numbers()['lstm']``. One column per protocol of
    the book; the difference column is book (report protocol) minus the report's
    *dropout-off* scores, its Table 6 row "<variant> without MCD": the book's
    scores here are dropout-off, and the report's Table 5 gives the
    classification's F1 with MC dropout (0.627 with, 0.634 without), so Table 5
    itself would not compare like with like.
    Rows mix integers and scores, so the cells are objects: integer
    hyper-parameters stay integers and the rest is rounded to ``digits``.
    """
    rep = report["table_5_best"][variant]
    out = pd.DataFrame(index=list(TABLE5_ROWS))
    out["report"] = [rep[k] for k in TABLE5_ROWS]
    key = MODEL_KEYS[(variant, False)]
    for protocol, s in searches.items():
        scores = score_row(finals[variant], key, protocol)
        hyper = s.hyper()
        out[f"book ({protocol} protocol)"] = [hyper[k] if k in hyper else scores[k]
                                              for k in TABLE5_ROWS]
    if "book (report protocol)" in out:
        row = {r[0]: r for r in report["table_6_mc_dropout"]}[f"{variant} without MCD"]
        off = pd.Series(dict(zip(METRICS, row[1:], strict=True)))
        diff = pd.to_numeric(out["book (report protocol)"], errors="coerce") - off
        # a difference of scores helps; of hyper-parameters it does not
        out["book (report protocol) - report, dropout off"] = diff.reindex(out.index)
    out = out.astype(object).map(
        lambda v: round(float(v), digits) if isinstance(v, (int, float, np.number)) else v
    ).astype(object)
    for row in ("hidden", "layers", "seq_len"):
        out.loc[row] = [int(v) if isinstance(v, (int, float, np.number)) and pd.notna(v)
                        else v for v in out.loc[row]]
    return out


def table6(finals: Mapping[str, Final], report: Mapping[str, Any],
           protocols: Sequence[str]) -> pd.DataFrame:
    """With and without MC dropout: for each model the report's row, then the book's.

    Long format (model, source) x (mse, mse_std, f1_macro, f1_std), so it stays
    narrow. The book adds models the report lacks: the regression MSE on the
    raw output and the MC classification labelled by mean softmax. The report's
    regression-with-MCD row is shown as printed (its columns look swapped).
    """
    reported = {row[0]: dict(zip(METRICS, row[1:], strict=True))
                for row in report["table_6_mc_dropout"]}
    records = []
    for label, variant, key, way, rep_key in TABLE6_ROWS:
        if variant not in finals:
            continue
        if rep_key in reported:
            records.append({"model": label, "source": "report", **reported[rep_key]})
        for protocol in protocols:
            records.append({"model": label, "source": f"book, {protocol} protocol",
                            **score_row(finals[variant], key, protocol, way)})
    return pd.DataFrame(records).set_index(["model", "source"])


def book_scores(t6: pd.DataFrame) -> dict[tuple[str, str], pd.Series]:
    """The book's rows of :func:`table6`, keyed by (model label, protocol)."""
    prefix, suffix = "book, ", " protocol"
    return {(label, source.removeprefix(prefix).removesuffix(suffix)): row
            for (label, source), row in t6.iterrows() if source.startswith(prefix)}


#: MC dropout "collapses" the regression's F1 (the printed Table 6 row) only if it
#: changes it by at least this much; the report's printed drop is 0.526.
F1_COLLAPSE = 0.1


def swap_reading(t6: pd.DataFrame, report_f1: tuple[float, float]) -> str:
    """Does MC dropout change the regression's F1 as much as the report's printed row says?

    ``report_f1`` is the report's F1 without and with MCD. Below
    :data:`F1_COLLAPSE` on every protocol the run supports reading the printed
    row as swapped; otherwise it cannot rule the drop out.
    """
    scores = book_scores(t6)
    gap = max(abs(scores[("regression with MCD", p)]["f1_macro"]
                  - scores[("regression without MCD", p)]["f1_macro"])
              for (label, p) in scores if label == "regression with MCD")
    without, with_mcd = report_f1
    if gap < F1_COLLAPSE:
        return (f"in this run MC dropout changes the regression's F1 by at most {gap:.3f}, "
                f"nothing like the collapse from {without} to {with_mcd} the printed row "
                "shows, which supports the swapped reading.")
    return (f"in this run MC dropout changes the regression's F1 by up to {gap:.3f}, so a "
            "large drop like the printed row's cannot be ruled out from this run.")


# --- the two claims of Figures 13 and 14 --------------------------------------------------

def share_within(pred: pd.DataFrame, k: float = 2.0) -> float:
    """Share of rows whose true count lies within mean +- k std of the MC samples."""
    return float(((pred["y_true"] - pred["value"]).abs() <= k * pred["std"]).mean())


def assigned_probability(pred: pd.DataFrame, way: str = "softmax") -> np.ndarray:
    """Probability of the class the model assigned: mean softmax or MC frequency."""
    if way == "softmax":
        cols, label = [f"p{c}" for c in range(lstm.N_CLASSES)], pred["y_pred"]
    elif way == "frequency":
        cols, label = [f"freq{c}" for c in range(lstm.N_CLASSES)], pred["y_pred_freq"]
    else:
        raise ValueError(f"way must be 'softmax' or 'frequency', got {way!r}")
    probs = pred[cols].to_numpy()
    return probs[np.arange(len(pred)), label.to_numpy().astype(int)]


def confidence_when_right_and_wrong(pred: pd.DataFrame) -> pd.DataFrame:
    """Mean probability of the assigned class on correct and wrong predictions, both ways."""
    rows = []
    for way, col in (("softmax", "y_pred"), ("frequency", "y_pred_freq")):
        prob = assigned_probability(pred, way)
        right = (pred[col] == pred["y_true"]).to_numpy()
        rows.append({"probability": "mean softmax" if way == "softmax"
                     else "MC class frequency (report)",
                     "correct: rows": int(right.sum()),
                     "correct: mean probability": float(prob[right].mean()) if right.any()
                     else np.nan,
                     "wrong: rows": int((~right).sum()),
                     "wrong: mean probability": float(prob[~right].mean()) if (~right).any()
                     else np.nan})
    return pd.DataFrame(rows).set_index("probability")


def _drop(prob: np.ndarray, right: np.ndarray, idx: np.ndarray) -> float:
    """Mean probability on the correct rows of ``idx`` minus that on its wrong rows."""
    r = right[idx]
    if not 0 < r.sum() < len(r):
        return np.nan
    return float(prob[idx][r].mean() - prob[idx][~r].mean())


def drop_on_errors(pred: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0
                   ) -> pd.DataFrame:
    """Per reading (mean softmax, MC class frequency): how much lower the assigned class's
    probability is on wrong predictions than on correct ones, with a 95 % interval from a
    moving-block bootstrap of the rows within each fold
    (:func:`~occupancy_utils.ranking.block_indices`; neighbouring readings are not
    independent). The report's claim, "the probability drops where the model errs",
    counts as shown for a reading when the whole interval lies above 0."""
    from .ranking import block_interval

    folds = pred["fold"].to_numpy()
    rows = []
    for way, col, name in (("softmax", "y_pred", "mean softmax"),
                           ("frequency", "y_pred_freq", "MC class frequency (report)")):
        prob = assigned_probability(pred, way)
        right = (pred[col] == pred["y_true"]).to_numpy()
        if right.all() or not right.any():
            rows.append({"probability": name, "drop": np.nan, "low": np.nan, "high": np.nan,
                         "shown": "cannot be judged: no wrong or no correct prediction"})
            continue

        low, high = block_interval(folds, functools.partial(_drop, prob, right),
                                   n_boot=n_boot, seed=seed)
        rows.append({"probability": name, "drop": _drop(prob, right, np.arange(len(pred))),
                     "low": low, "high": high, "shown": "yes" if low > 0 else "no"})
    return pd.DataFrame(rows).set_index("probability")


def drop_reading(drops: pd.DataFrame) -> str:
    """:func:`drop_on_errors` in one sentence."""
    parts = []
    for name, r in drops.iterrows():
        if r["shown"] not in ("yes", "no"):
            parts.append(f"with {name} it {r['shown']}")
            continue
        verdict = "it drops" if r["shown"] == "yes" else "no drop can be read"
        parts.append(f"with {name} {verdict} ({r['drop']:+.3f} from correct to wrong, "
                     f"95 % interval {r['low']:+.3f} to {r['high']:+.3f})")
    return "; ".join(parts)


def results_payload(profile: str, finals: Sequence[Final], searches: Sequence[Search],
                    elapsed_seconds: float, mc_samples: int, settings: Settings) -> dict[str, Any]:
    """The whole results/<profile>/06_lstm.json: the shared schema plus this chapter's extras.

    ``search_seconds`` sums the training time of every grid point (work a
    resumed run did not redo is counted too), the cost of the searches.
    """
    return {
        "chapter": "06_lstm", "profile": profile, "elapsed_seconds": elapsed_seconds,
        "models": results_models(finals),
        "mc_samples": mc_samples, "settings": asdict(settings),
        "scored_on": "every test row; windows take their history from the readings before",
        "search": {f"{s.variant}/{s.protocol}": {
            "per_fold": {str(k): c.hyper() for k, c in s.per_fold.items()},
            "seconds": s.seconds, "studies": list(s.names)}
                   for s in searches},
        "search_seconds": float(sum(s.seconds for s in searches)),
    }


def band_table(final: Final, protocols: Sequence[str], seeds: Sequence[int],
               k: float = 2.0) -> pd.DataFrame:
    """Per protocol: share of rows within the MC mean +- k std, and the mean std by occupancy.

    Shares and means are averaged over the seeds. Needs a regression Final.
    """
    key = MODEL_KEYS[(final.variant, True)]
    if final.variant != "regression":
        raise ValueError(f"band_table needs the regression models, got {final.variant!r}")
    rows = []
    for protocol in protocols:
        per_seed = []
        for seed in seeds:
            frames = final.predictions[(key, protocol, seed)]
            pooled = pd.concat(frames, ignore_index=True)
            empty = pooled["y_true"] == 0
            per_seed.append({
                f"within {k:g}σ, fold 1": share_within(frames[0], k),
                f"within {k:g}σ, all folds": share_within(pooled, k),
                "mean σ, empty room": float(pooled.loc[empty, "std"].mean()),
                "mean σ, occupied": float(pooled.loc[~empty, "std"].mean()),
                "rows": len(pooled),
            })
        rows.append({"protocol": protocol, **pd.DataFrame(per_seed).mean().to_dict()})
    out = pd.DataFrame(rows).set_index("protocol")
    out["rows"] = out["rows"].round().astype(int)
    return out


#: The report's "clear majority" ("zdecydowana większość") of rows within 2σ: the book
#: reads it as at least this share; a bare majority (more than half) is not "clear".
CLEAR_MAJORITY = 0.75


def majority_reading(share_fold1: float, share_all: float | None = None) -> str:
    """The report's "clear majority of samples within 2σ" (its Figure 13, the first fold),
    judged by a stated rule: at least :data:`CLEAR_MAJORITY` of the fold's rows; with
    ``share_all``, the same rule over all test rows as well, which goes beyond what
    the report claimed."""
    for share in (share_fold1, share_all):
        if share is not None and not 0 <= share <= 1:
            raise ValueError(f"a share must lie in [0, 1], got {share}")
    holds = share_fold1 >= CLEAR_MAJORITY
    text = (f"the report's clear majority within 2σ on the first fold "
            f"{'holds' if holds else 'does not hold'} here ({share_fold1:.3f})")
    if share_all is None:
        return text
    holds_all = share_all >= CLEAR_MAJORITY
    joint = "and" if holds_all == holds else "but"
    return (f"{text}, {joint} over all test rows, beyond the report's claim, it "
            f"{'holds' if holds_all else 'does not hold'} ({share_all:.3f})")


def gap_scores(frame: pd.DataFrame, final: Final, *, settings: Settings,
               seeds: Sequence[int]) -> dict[str, dict[int, float]]:
    """Dropout-off mean-over-folds test MSE per regime of
    :mod:`~occupancy_utils.protocol_gap` and seed, for the report protocol's configuration
    on every fold.

    The report protocol's finals are reused, the clean protocol's where it chose the
    same configuration on every fold; the other regimes are trained here as
    :func:`final_models` trains (windows inside each part, every test row scored
    with its history).
    """
    configs = final.configs.get("report", {})
    if len(set(configs.values())) != 1:
        raise ValueError("the protocol gap needs the report protocol's one configuration")
    config = next(iter(configs.values()))
    key = MODEL_KEYS[(final.variant, False)]
    folds = splits.make_folds(frame.index)
    reused = {regime: {s: float(experiment.summarize(final.predictions[(key, regime, s)])
                                ["mean"]["mse"])
                       for s in seeds if (key, regime, s) in final.predictions}
              for regime in protocol_gap.REGIMES
              if set(final.configs.get(regime, {}).values()) == {config}}

    def train(regime: str, seed: int) -> float:
        preds = []
        for fold in folds:
            parts = protocol_gap.regime_parts(frame, fold, FEATURES, regime,
                                              settings.val_fraction)
            windows = {name: part_windows(parts.x[name], parts.y[name], parts.positions[name],
                                          parts.index[name], config.seq_len)
                       for name in ("fit", "monitor")}
            model, _, _ = train_fold(windows, config, settings, seed)
            test = history_windows(frame, fold, fold.test, config.seq_len)
            preds.append(deterministic_frame(model, test, final.variant, fold.number))
        return float(experiment.summarize(preds)["mean"]["mse"])

    return protocol_gap.paired_scores(reused, seeds, train)


def gap_remainders(finals: Mapping[str, Final], gap_table: pd.DataFrame) -> str:
    """For each variant in ``gap_table`` (:func:`~occupancy_utils.protocol_gap.table` of
    :func:`protocol_gaps`): how much of its Table 5 gap (clean minus report, dropout off)
    the paired runs of the report's configuration explain
    (:func:`~occupancy_utils.protocol_gap.remainder_reading`)."""
    parts = []
    for variant, final in finals.items():
        key = MODEL_KEYS[(variant, False)]
        rows = gap_table[gap_table["model"] == key]
        if rows.empty:
            continue
        finals_gap = (score_row(final, key, "clean")["mse"]
                      - score_row(final, key, "report")["mse"])
        parts.append(f"for {variant}, {protocol_gap.remainder_reading(finals_gap, rows)}")
    return "; ".join(parts) or "no variant ran under both protocols"


def protocol_gaps(frame: pd.DataFrame, finals: Mapping[str, Final], *, settings: Settings,
                  seeds: Sequence[int]) -> dict[str, dict]:
    """The results file's ``protocol_gap`` entries of every variant that ran under both
    protocols (:func:`gap_scores`, dropout off), keyed as its dropout-off model."""
    out = {}
    for variant, final in finals.items():
        if {"report", "clean"} <= set(final.configs):
            config = next(iter(final.configs["report"].values()))
            out[MODEL_KEYS[(variant, False)]] = protocol_gap.entry(
                LABELS[MODEL_KEYS[(variant, False)]], nested.config_text(config.hyper()),
                gap_scores(frame, final, settings=settings, seeds=seeds))
    return out
