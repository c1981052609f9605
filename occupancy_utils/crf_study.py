"""Chapter 4's experiment: the MLP + CRF grid over four folds, and what it says.

One *configuration* is (hidden layout, learning rate, sequence length). Its
score is the mean over the four folds of the test MSE, as in the report's
Table 2. Every fold part is chunked on its own (``sequences.chunk``), so no
training sequence straddles the train/monitor or train/test boundary.

Two protocols (see :mod:`occupancy_utils.experiment`): ``report`` stops on the
test loss, and its best configuration is picked on test MSE - both choices see
the test data, as in the report. ``clean`` stops on a validation tail and its
best configuration is picked on the validation MSE (``val_mse``), so the
test part reaches no choice. Both record the test scores of every
configuration, which is what lets the chapter price the report's shortcut.

Chunk-wise prediction decodes every full chunk, then the short tail of the
part as one shorter sequence, so every test row gets a label (the report
dropped the tail; the difference is under 25 rows of thousands). Whole-fold
prediction decodes the test part as one sequence.

Search in groups. On a CPU one of these models costs the number of its
operations, not their size: the MLP is tiny and the CRF loops over up to 25
steps. The search therefore trains every layout and learning rate of one
sequence length together (:func:`train_group`, one Optuna trial per group):
the 24 models share each batch, their first layers are one matrix product,
and one CRF recursion runs for all of them. Each model keeps its own
initial weights, learning rate, early stopping and best weights, so the
results are those of training them one by one, up to float rounding (a test
compares the two). Final models (the chosen configuration over seeds) are
trained one at a time.

Tensors and the models go to ``training.device()``, as in every chapter, so
the same code runs on a CUDA GPU.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import torch
from tqdm import tqdm  # text bars, as the shared modules (tqdm.auto needs ipywidgets)

from . import data, experiment, metrics, nested, protocol_gap, search, sequences, splits, training
from .models.crf import LAYOUTS, MLPCRF, MLPCRFStack, parse_layout
from .paths import results_dir
from .results import atomic_write, check_part

FEATURES: list[str] = data.NON_LIGHT_FEATURES
BATCH_SIZE = 16  # the report's
GRID_KEYS = ("hidden", "lr", "seq_len")
#: Trained together in the search: every layout and learning rate of one sequence
#: length share their batches (see train_group); one search trial is such a group.
BATCH_KEYS = ("hidden", "lr")
#: The version of what this family's search records hold (part of every search's key,
#: see cache_key): bump it when the records change shape or meaning.
SCHEMA = 2  # 2: records hold each fold's validation MSE
MODEL_KEYS = {"chunks": "crf", "whole": "crf_whole_fold"}
MODEL_LABELS = {"chunks": "MLP + CRF (chunk-wise Viterbi, as the report)",
                "whole": "MLP + CRF (whole-fold Viterbi)"}


# --------------------------------------------------------------------------- checks

def check_config(hidden: str, lr: float, seq_len: int) -> None:
    """One-line ValueError naming the bad parameter, before anything trains."""
    parse_layout(hidden)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if isinstance(seq_len, bool) or not isinstance(seq_len, (int, np.integer)) or seq_len < 2:
        raise ValueError(f"seq_len must be an integer of at least 2, got {seq_len!r}")


def check_settings(protocol: str, max_epochs: int, patience: int, val_fraction: float,
                   seeds: Sequence[int] = (0,), top_n: int = 1) -> None:
    """The chapter's other parameters, checked before the first configuration trains."""
    training.check_protocol(protocol)
    for name, value in (("max_epochs", max_epochs), ("patience", patience), ("top_n", top_n)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    training.check_seeds(seeds)


def check_grid(grid: Mapping[str, Sequence[Any]]) -> None:
    """The grid has exactly hidden, lr and seq_len, each non-empty and valid."""
    if set(grid) != set(GRID_KEYS):
        raise ValueError(f"grid must have the keys {GRID_KEYS}, got {tuple(grid)}")
    for key in GRID_KEYS:
        if isinstance(grid[key], (str, bytes)) or not len(grid[key]):
            raise ValueError(f"{key} must be a non-empty list, got {grid[key]!r}")
    for hidden in grid["hidden"]:
        for lr in grid["lr"]:
            for seq_len in grid["seq_len"]:
                check_config(hidden, lr, seq_len)


# --------------------------------------------------------------------------- one fold

@dataclass
class FoldRun:
    """One trained model on one fold: its history and its predictions."""

    fold: int
    seq_len: int
    history: training.History
    positions: np.ndarray
    y_true: np.ndarray
    chunk_pred: np.ndarray
    whole_pred: np.ndarray
    monitor_true: np.ndarray
    monitor_pred: np.ndarray
    train_seconds: float
    predict_seconds: float
    chunk_proba: np.ndarray | None = None
    whole_proba: np.ndarray | None = None
    transitions: list[np.ndarray] = field(default_factory=list)
    test_index: pd.DatetimeIndex | None = None


def chunk_part(parts: experiment.FoldParts, part: str, seq_len: int
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Chunks of one part as tensors; a part shorter than one chunk is a ValueError."""
    x, y = sequences.chunk(parts.x[part], parts.y[part], seq_len)
    if len(x) == 0:
        raise ValueError(f"seq_len {seq_len} is longer than the {part} part of fold "
                         f"{parts.fold.number} ({len(parts.x[part])} rows)")
    return training.tensor(x), training.tensor(y.astype(np.int64))


#: One torch thread per fit (see training.torch_threads); a name of its own so the
#: benchmark can swap it out.
single_thread = functools.partial(training.torch_threads, 1)


def train_fold(parts: experiment.FoldParts, hidden: str, lr: float, seq_len: int, *,
               max_epochs: int, patience: int, seed: int, batch_size: int = BATCH_SIZE,
               record_transitions: bool = False, progress: bool = False
               ) -> tuple[MLPCRF, training.History]:
    """Train one model with Adam, stopping on the CRF NLL of the monitor part.

    The monitor loss is one batched call over all monitor chunks. With
    ``record_transitions`` the transition matrix of every epoch goes into
    ``history.extra`` (for Figure 8; kept off in the search to save memory).
    """
    check_config(hidden, lr, seq_len)
    x_fit, y_fit = chunk_part(parts, "fit", seq_len)
    x_mon, y_mon = chunk_part(parts, "monitor", seq_len)
    generator = training.seed_everything(seed)
    model = MLPCRF(x_fit.shape[2], hidden).to(training.device())

    def on_epoch(epoch: int, history: training.History) -> dict:
        return {"transitions": model.transition_matrix()}

    with single_thread():
        history = training.fit(
            model, lambda idx: model.nll(x_fit[idx], y_fit[idx]), len(x_fit),
            lambda: model.nll(x_mon, y_mon),
            lr=lr, batch_size=batch_size, max_epochs=max_epochs, patience=patience,
            generator=generator, on_epoch=on_epoch if record_transitions else None,
            progress=progress, description=f"fold {parts.fold.number}")
    return model, history


def train_group(parts: experiment.FoldParts, configs: Sequence[tuple[str, float]],
                seq_len: int, *, max_epochs: int, patience: int, seed: int,
                batch_size: int = BATCH_SIZE, progress: bool = False
                ) -> list[tuple[MLPCRF, training.History]]:
    """:func:`train_fold` for several (hidden, lr) configurations of one ``seq_len`` at once.

    Each model starts from the weights :func:`train_fold` would give it (the
    global seed is reset before each is built) and sees the same batches (one
    generator seeded as there), so each is trained as it would be alone, up to
    float rounding in the stacked products (``tests/test_crf.py`` measures the
    agreement). ``training.fit_many`` keeps early stopping per model.
    """
    if not configs:
        raise ValueError("train_group needs at least one (hidden, lr) configuration")
    for hidden, lr in configs:
        check_config(hidden, lr, seq_len)
    x_fit, y_fit = chunk_part(parts, "fit", seq_len)
    x_mon, y_mon = chunk_part(parts, "monitor", seq_len)
    models = []
    for hidden, _ in configs:
        training.seed_everything(seed)
        models.append(MLPCRF(x_fit.shape[2], hidden).to(training.device()))
    generator = torch.Generator().manual_seed(seed)
    stack = MLPCRFStack(models)
    with single_thread():
        histories = training.fit_many(
            models, lambda idx, active: stack.nll(x_fit[idx], y_fit[idx], active), len(x_fit),
            lambda active: stack.nll(x_mon, y_mon, active),
            lrs=[lr for _, lr in configs], batch_size=batch_size, max_epochs=max_epochs,
            patience=patience, generator=generator, progress=progress,
            description=f"fold {parts.fold.number}, {len(configs)} configurations")
    return list(zip(models, histories, strict=True))


def predict_chunks(model: MLPCRF, x: np.ndarray, seq_len: int, proba: bool = False
                   ) -> tuple[np.ndarray, np.ndarray | None]:
    """Chunk-wise Viterbi labels for every row: full chunks, then the tail as one sequence."""
    n_full = (len(x) // seq_len) * seq_len
    labels, probs = [], []
    pieces = [x[:n_full].reshape(-1, seq_len, x.shape[1])] if n_full else []
    if n_full < len(x):
        pieces.append(x[n_full:][None])
    for piece in pieces:
        xt = training.tensor(piece)
        labels.append(model.decode(xt).reshape(-1))
        if proba:
            probs.append(model.marginals(xt).reshape(-1, model.crf.num_tags))
    return np.concatenate(labels), (np.concatenate(probs) if proba else None)


def predict_whole(model: MLPCRF, x: np.ndarray, proba: bool = False
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """Viterbi labels of a whole part decoded as one sequence (emissions are per step)."""
    xt = training.tensor(x[None])
    labels = model.decode(xt)[0]
    return labels, (model.marginals(xt)[0] if proba else None)


def run_fold(frame: pd.DataFrame, fold: splits.Fold, params: Mapping[str, Any], protocol: str,
             *, max_epochs: int, patience: int, seed: int, val_fraction: float = 0.2,
             features: list[str] | None = None, record_transitions: bool = False,
             proba: bool = False, progress: bool = False,
             parts: experiment.FoldParts | None = None) -> FoldRun:
    """Train on one fold under one protocol and predict its test and monitor parts
    (``parts``: ready-made parts instead of the protocol's, as
    :mod:`~occupancy_utils.protocol_gap` needs)."""
    parts = parts or experiment.fold_parts(frame, fold, features or FEATURES, protocol,
                                           val_fraction)
    seq_len = int(params["seq_len"])
    start = time.perf_counter()
    model, history = train_fold(parts, params["hidden"], params["lr"], seq_len,
                                max_epochs=max_epochs, patience=patience, seed=seed,
                                record_transitions=record_transitions, progress=progress)
    run = _fold_run(parts, model, history, seq_len, time.perf_counter() - start, proba)
    if not (proba and protocol == "clean"):
        return run
    with single_thread():
        tail = {"chunks": predict_chunks(model, parts.x["monitor"], seq_len, True),
                "whole": predict_whole(model, parts.x["monitor"], True)}
    return ValidatedFoldRun(**{f.name: getattr(run, f.name) for f in fields(run)},
                            validation_positions=parts.positions["monitor"], validation=tail)


@dataclass
class ValidatedFoldRun(FoldRun):
    """A final model's run with its labels and marginals on the fold's validation tail
    (clean protocol; ``validation[kind] = (labels, proba)``), where chapter 7 chooses its
    thresholds. Apart from :class:`FoldRun`, whose code keys the stored searches."""

    validation_positions: np.ndarray | None = None
    validation: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def _fold_run(parts: experiment.FoldParts, model: MLPCRF, history: training.History,
              seq_len: int, train_seconds: float, proba: bool = False) -> FoldRun:
    start = time.perf_counter()
    with single_thread():
        chunk_pred, chunk_proba = predict_chunks(model, parts.x["test"], seq_len, proba)
        predicted = time.perf_counter()
        whole_pred, whole_proba = predict_whole(model, parts.x["test"], proba)
        monitor_pred, _ = predict_chunks(model, parts.x["monitor"], seq_len)
    return FoldRun(
        fold=parts.fold.number, seq_len=seq_len, history=history,
        positions=parts.positions["test"], y_true=parts.y["test"], chunk_pred=chunk_pred,
        whole_pred=whole_pred, monitor_true=parts.y["monitor"], monitor_pred=monitor_pred,
        train_seconds=train_seconds, predict_seconds=predicted - start,
        chunk_proba=chunk_proba, whole_proba=whole_proba,
        transitions=[e["transitions"] for e in history.extra if "transitions" in e],
        test_index=parts.index["test"])


def run_group(frame: pd.DataFrame, fold: splits.Fold, configs: Sequence[tuple[str, float]],
              seq_len: int, protocol: str, *, max_epochs: int, patience: int, seed: int,
              val_fraction: float = 0.2, features: list[str] | None = None
              ) -> list[FoldRun]:
    """:func:`run_fold` for a group of configurations trained together; one run per config.

    Each run's ``train_seconds`` is the group's training time divided by the
    number of configurations (what one of them cost, shared).
    """
    parts = experiment.fold_parts(frame, fold, features or FEATURES, protocol, val_fraction)
    start = time.perf_counter()
    trained = train_group(parts, configs, seq_len, max_epochs=max_epochs, patience=patience,
                          seed=seed)
    share = (time.perf_counter() - start) / len(configs)
    return [_fold_run(parts, model, history, seq_len, share) for model, history in trained]


def run_config(frame: pd.DataFrame, folds: Sequence[splits.Fold], params: Mapping[str, Any],
               protocol: str, *, max_epochs: int, patience: int, seed: int,
               val_fraction: float = 0.2, features: list[str] | None = None,
               record_transitions_fold: int | None = None, proba: bool = False,
               progress: bool = False) -> list[FoldRun]:
    """One configuration on every fold (the unit of the grid search)."""
    check_config(params["hidden"], params["lr"], params["seq_len"])
    check_settings(protocol, max_epochs, patience, val_fraction, [seed])
    return [run_fold(frame, fold, params, protocol, max_epochs=max_epochs, patience=patience,
                     seed=seed, val_fraction=val_fraction, features=features,
                     record_transitions=fold.number == record_transitions_fold, proba=proba,
                     progress=progress)
            for fold in folds]


# --------------------------------------------------------------------------- scoring

def label_changes(labels: np.ndarray, seq_len: int) -> dict[str, int]:
    """Label changes between neighbouring rows, split by where the chunk grid puts them.

    A change from row t-1 to row t is *at a chunk start* when t is a multiple
    of ``seq_len`` (row t opens a new chunk), otherwise *inside* a chunk. The
    report's finding is that chunk-wise decoding almost never changes label
    inside a chunk.
    """
    labels = np.asarray(labels)
    changed = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    at_starts = int(np.sum(changed % seq_len == 0))
    return {"inside": int(len(changed) - at_starts), "at_starts": at_starts}


def collapsed_folds(runs: Sequence[FoldRun]) -> list[int]:
    """Folds on which the model predicted only class 0 although people were present."""
    return [r.fold for r in runs if not r.chunk_pred.any() and r.y_true.any()]


def _frames(runs: Sequence[FoldRun], kind: str) -> list[pd.DataFrame]:
    pred = "chunk_pred" if kind == "chunks" else "whole_pred"
    return [experiment.prediction_frame(r.fold, r.positions, r.y_true, getattr(r, pred))
            for r in runs]


def summarize_runs(runs: Sequence[FoldRun], kind: str = "chunks") -> dict:
    """experiment.summarize of chunk-wise (``chunks``) or whole-fold (``whole``) predictions."""
    if kind not in MODEL_KEYS:
        raise ValueError(f"kind must be one of {tuple(MODEL_KEYS)}, got {kind!r}")
    return experiment.summarize(_frames(runs, kind))


def config_record(runs: Sequence[FoldRun], seconds: float) -> dict[str, Any]:
    """What the search stores per configuration (JSON-friendly; ``mse`` is minimised)."""
    chunks, whole = summarize_runs(runs, "chunks"), summarize_runs(runs, "whole")
    monitor = [metrics.scores(r.monitor_true, r.monitor_pred) for r in runs]
    changes = [label_changes(r.chunk_pred, r.seq_len) for r in runs]
    whole_changes = [label_changes(r.whole_pred, r.seq_len) for r in runs]
    true_changes = [label_changes(r.y_true, r.seq_len) for r in runs]
    record: dict[str, Any] = {
        **chunks["mean"],
        **{f"{k}_folds": [f[k] for f in chunks["per_fold"]] for k in metrics.KEYS},
        **{f"pooled_{k}": v for k, v in chunks["pooled"].items()},
        **{f"whole_{k}": v for k, v in whole["mean"].items()},
        **{f"whole_pooled_{k}": v for k, v in whole["pooled"].items()},
        "val_mse": float(np.mean([m["mse"] for m in monitor])),
        # per fold: what each fold's own choice reads (nested selection, chapter 3)
        "val_mse_folds": [m["mse"] for m in monitor],
        "val_f1_macro": float(np.mean([m["f1_macro"] for m in monitor])),
        "epochs": [r.history.epochs for r in runs],
        "best_epochs": [r.history.best_epoch + 1 for r in runs],
        "collapsed_folds": collapsed_folds(runs),
        "changes_inside": sum(c["inside"] for c in changes),
        "changes_at_starts": sum(c["at_starts"] for c in changes),
        "whole_changes_inside": sum(c["inside"] for c in whole_changes),
        "whole_changes_at_starts": sum(c["at_starts"] for c in whole_changes),
        "true_changes_inside": sum(c["inside"] for c in true_changes),
        "true_changes_at_starts": sum(c["at_starts"] for c in true_changes),
        "seconds": float(seconds),
    }
    record["collapsed"] = bool(record["collapsed_folds"])
    return record


# --------------------------------------------------------------------------- search

def group_objective(params: dict[str, Any], group: Sequence[Mapping[str, Any]], *,
                    protocol: str, max_epochs: int, patience: int, seed: int,
                    val_fraction: float) -> list[dict[str, Any]]:
    """Grouped grid objective: every (hidden, lr) of ``group`` at one ``seq_len``, all folds.

    One record per configuration, as :func:`config_record` makes it; its
    ``seconds`` is its share of the group's time.
    """
    frame, folds = experiment.search_data()
    seq_len = int(params["seq_len"])
    configs = [(str(p["hidden"]), float(p["lr"])) for p in group]
    check_settings(protocol, max_epochs, patience, val_fraction, [seed])
    start = time.perf_counter()
    by_fold = [run_group(frame, fold, configs, seq_len, protocol, max_epochs=max_epochs,
                         patience=patience, seed=seed, val_fraction=val_fraction)
               for fold in folds]
    share = (time.perf_counter() - start) / len(configs)
    return [config_record([runs[k] for runs in by_fold], share) for k in range(len(configs))]


def study_settings(protocol: str, *, max_epochs: int, patience: int, seed: int,
                   val_fraction: float) -> dict[str, Any]:
    """Everything besides the grid that changes a search's results (it names the study)."""
    settings = {"protocol": protocol, "max_epochs": max_epochs, "patience": patience,
                "seed": seed, "batch_size": BATCH_SIZE, "features": FEATURES}
    if protocol == "clean":
        settings["val_fraction"] = val_fraction
    return settings


def run_search(grid: Mapping[str, Sequence[Any]], protocol: str, *, profile: str,
               max_epochs: int, patience: int, seed: int, val_fraction: float = 0.2,
               workers: int | None = None, storage: str | None = None
               ) -> tuple[pd.DataFrame, str]:
    """Run (or resume) the grid under one protocol; return its table and the study name."""
    check_grid(grid)
    check_settings(protocol, max_epochs, patience, val_fraction, [seed])
    settings = study_settings(protocol, max_epochs=max_epochs, patience=patience, seed=seed,
                              val_fraction=val_fraction)
    bound = functools.partial(group_objective, protocol=protocol, max_epochs=max_epochs,
                              patience=patience, seed=seed, val_fraction=val_fraction)
    found = search.run_grid(f"crf-{protocol}", dict(grid), bound, profile=profile,
                            settings=settings, schema=SCHEMA, storage=storage,
                            workers=workers or search.default_workers(profile), seed=seed,
                            batch_keys=BATCH_KEYS)
    return grid_table(found), found.attrs["study_name"]


def load_study(name: str, profile: str, storage: str | None = None) -> optuna.Study:
    """The stored search as an in-memory study of one trial per configuration.

    The stored trials are groups (one per ``seq_len``); Optuna's plots want
    one trial per grid point, which :func:`~occupancy_utils.search.points_study` rebuilds.
    """
    stored = optuna.load_study(study_name=name,
                               storage=storage or search.default_storage(profile))
    frame = search.results_frame(stored, GRID_KEYS)
    grid = {"hidden": [h for h in [*LAYOUTS, *sorted(set(frame["hidden"]) - set(LAYOUTS))]
                       if h in set(frame["hidden"])],
            "lr": sorted(set(frame["lr"])), "seq_len": sorted(set(frame["seq_len"]))}
    return search.points_study(frame, grid)


def grid_table(found: pd.DataFrame) -> pd.DataFrame:
    """One tidy row per configuration, best (lowest mean test MSE) first."""
    out = found.copy()
    out["hidden"] = pd.Categorical(out["hidden"], categories=[
        *[h for h in LAYOUTS if h in set(out["hidden"])],
        *sorted(set(out["hidden"]) - set(LAYOUTS))])
    out["mean_epochs"] = out["epochs"].apply(np.mean)
    out["collapsed_folds"] = out["collapsed_folds"].apply(
        lambda f: ",".join(str(v) for v in f))
    columns = ["hidden", "lr", "seq_len", "mse", "f1_macro", "f1_micro", "pooled_mse",
               "pooled_f1_macro", "whole_mse", "whole_f1_macro", "val_mse", "val_f1_macro",
               *[f"mse_fold{i}" for i in range(1, 5)], "val_mse_folds", "mean_epochs",
               "collapsed",
               "collapsed_folds", "changes_inside", "changes_at_starts", "seconds"]
    for i in range(4):
        out[f"mse_fold{i + 1}"] = out["mse_folds"].apply(lambda v, i=i: v[i] if len(v) > i
                                                         else np.nan)
    out = out[columns].sort_values(["mse", "hidden", "lr", "seq_len"]).reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out


def _params(row: pd.Series | Mapping[str, Any]) -> dict[str, Any]:
    return {"hidden": str(row["hidden"]), "lr": float(row["lr"]), "seq_len": int(row["seq_len"])}


def best_params(table: pd.DataFrame, protocol: str) -> dict[str, Any]:
    """One configuration for every fold, by the mean over folds (the report's way).

    Lowest mean test MSE under ``report``; under ``clean`` the lowest mean
    validation MSE, which the book no longer ships (see :func:`choices`): the
    folds' validation tails lie inside earlier folds' test parts. Ties go to
    the first layout (as ``LAYOUTS`` orders them), then the smaller
    learning rate, then the shorter sequence: never to a test score (the
    table itself comes sorted by test MSE).
    """
    training.check_protocol(protocol)
    column = "mse" if protocol == "report" else "val_mse"
    ordered = table.sort_values(["hidden", "lr", "seq_len"], kind="stable")
    return _params(ordered.sort_values(column, kind="stable").iloc[0])


def choices(table: pd.DataFrame, grid: Mapping[str, Sequence[Any]], protocol: str,
            fold_numbers: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The configuration each fold's final model uses (fold number -> parameters).

    ``report``: the report's rule, one configuration for all folds by the mean
    test MSE. ``clean``: nested (:func:`~occupancy_utils.nested.choose`), fold k
    takes the lowest MSE on its own validation tail, ties to the earlier grid
    point, so no test row of fold k reaches fold k's model.
    """
    training.check_protocol(protocol)
    if protocol == "report":
        one = best_params(table, protocol)
        return {k: dict(one) for k in fold_numbers}
    return {k: _params(p) for k, p in nested.choose(_by_fold(table, grid), grid,
                                                        fold_numbers).items()}


def _by_fold(table: pd.DataFrame, grid: Mapping[str, Sequence[Any]]) -> pd.DataFrame:
    """The search table in grid order with each fold's validation MSE as ``fold_mse``."""
    return search.in_grid_order(table, grid).assign(fold_mse=lambda t: t["val_mse_folds"])


def ties(table: pd.DataFrame, grid: Mapping[str, Sequence[Any]],
         fold_numbers: Sequence[int]) -> tuple[dict[int, int], int]:
    """Per fold: how many grid points tie at the fold's lowest validation MSE; and how
    many grid points there are."""
    return nested.tied_at_minimum(_by_fold(table, grid), fold_numbers), len(table)


# --------------------------------------------------------------------------- tables

def report_table_2(report: Mapping[str, Any]) -> pd.DataFrame:
    """The report's Table 2 rows as a frame, with their rank in the report."""
    rows = pd.DataFrame(report["table_2_top_results"],
                        columns=["hidden", "lr", "seq_len", "mse", "f1_macro", "f1_micro"])
    rows.insert(0, "report_rank", np.arange(1, len(rows) + 1))
    return rows


def _key(frame: pd.DataFrame) -> pd.Series:
    return (frame["hidden"].astype(str) + "|" + frame["lr"].map(lambda v: f"{float(v):g}") + "|"
            + frame["seq_len"].astype(int).astype(str))


def table_2(grid: pd.DataFrame, report: Mapping[str, Any]) -> pd.DataFrame:
    """The report's Table 2 rows, each beside the book's numbers for the same configuration.

    ``book_rank`` is the configuration's rank in the book's grid; it is empty
    when the book's grid (e.g. the quick profile's sub-grid) lacks it.
    """
    rep = report_table_2(report)
    book = grid.set_index(_key(grid))
    out = rep[["report_rank", "hidden", "lr", "seq_len"]].copy()
    keys = _key(rep)
    for metric in ("mse", "f1_macro", "f1_micro"):
        out[f"{metric} (report)"] = rep[metric]
        out[f"{metric} (book)"] = keys.map(book[metric]).to_numpy()
    out["mse difference"] = out["mse (book)"] - out["mse (report)"]
    out["book_rank"] = keys.map(book["rank"]).astype("Int64").to_numpy()
    return out


def top_table(grid: pd.DataFrame, report: Mapping[str, Any], n: int) -> pd.DataFrame:
    """The book's best ``n`` configurations, with the report's numbers where it lists them."""
    if n < 1:
        raise ValueError(f"top_n must be positive, got {n}")
    rep = report_table_2(report)
    rep = rep.set_index(_key(rep))
    top = grid.head(n)
    keys = _key(top)
    out = top[["rank", "hidden", "lr", "seq_len"]].copy()
    for metric in ("mse", "f1_macro", "f1_micro"):
        out[f"{metric} (book)"] = top[metric]
        out[f"{metric} (report)"] = keys.map(rep[metric]).to_numpy()
    out["report_rank"] = keys.map(rep["report_rank"]).astype("Int64").to_numpy()
    return out.reset_index(drop=True)


def collapse_table(grid: pd.DataFrame) -> pd.DataFrame:
    """Per layout and learning rate: how many sequence lengths collapsed to class 0, and where.

    A configuration collapses on a fold when it predicts only class 0 there
    although people were present (the report's second finding).
    """
    g = grid.assign(on_last=grid["collapsed_folds"].str.split(",").apply(lambda f: "4" in f))
    out = g.groupby(["hidden", "lr"], observed=True).agg(
        configurations=("seq_len", "size"), collapsed_somewhere=("collapsed", "sum"),
        collapsed_on_fold_4=("on_last", "sum"), mean_mse=("mse", "mean"))
    return out.reset_index()


def protocol_table(grids: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per protocol: the configuration it selects, and that configuration's scores.

    ``test mse`` is what the chapter reports for it; under the report protocol
    it is also what selected it, which is why it is optimistic.
    """
    rows = []
    for protocol, grid in grids.items():
        chosen = best_params(grid, protocol)
        row = grid.loc[_key(grid) == _key(pd.DataFrame([chosen])).iloc[0]].iloc[0]
        rows.append({"protocol": protocol,
                     "selected on": "mean test MSE" if protocol == "report"
                     else "mean validation MSE",
                     # the report protocol monitors the test part: it has no validation
                     **chosen, "validation mse": row["val_mse"] if protocol == "clean"
                     else float("nan"), "test mse": row["mse"],
                     "test f1_macro": row["f1_macro"], "test mse (pooled)": row["pooled_mse"],
                     "best test mse in grid": grid["mse"].min()})
    return pd.DataFrame(rows)


def changes_table(runs: Sequence[FoldRun]) -> pd.DataFrame:
    """Label changes inside chunks and at chunk starts: truth, chunk-wise and whole-fold."""
    rows = []
    for name, attr in (("truth", "y_true"), ("chunk-wise Viterbi", "chunk_pred"),
                       ("whole-fold Viterbi", "whole_pred")):
        counts = [label_changes(getattr(r, attr), r.seq_len) for r in runs]
        inside = sum(c["inside"] for c in counts)
        starts = sum(c["at_starts"] for c in counts)
        rows.append({"labels": name, "changes inside chunks": inside,
                     "changes at chunk starts": starts, "all changes": inside + starts,
                     "share at chunk starts": starts / (inside + starts) if inside + starts
                     else np.nan})
    return pd.DataFrame(rows)


def decoding_table(runs: Sequence[FoldRun]) -> pd.DataFrame:
    """Mean-over-folds and pooled scores of chunk-wise against whole-fold decoding."""
    rows = []
    for kind, name in (("chunks", "chunk-wise"), ("whole", "whole-fold")):
        s = summarize_runs(runs, kind)
        rows.append({"decoding": name,
                     **{f"{k} (mean over folds)": v for k, v in s["mean"].items()},
                     **{f"{k} (pooled)": v for k, v in s["pooled"].items()}})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- final models

def retrain(frame: pd.DataFrame, folds: Sequence[splits.Fold],
            chosen: Mapping[int, Mapping[str, Any]], protocol: str, seeds: Sequence[int], *,
            max_epochs: int, patience: int, val_fraction: float = 0.2,
            record_transitions_fold: int | None = None) -> dict[int, list[FoldRun]]:
    """Each fold's chosen configuration (:func:`choices`) on that fold, once per seed,
    with class probabilities.

    Transitions are recorded on ``record_transitions_fold`` for the first seed only.
    """
    check_settings(protocol, max_epochs, patience, val_fraction, list(seeds))
    nested.check_chosen(chosen, folds)
    out = {}
    for i, seed in enumerate(tqdm(list(seeds), desc=f"{protocol} seeds", leave=False)):
        transitions = record_transitions_fold if i == 0 else None
        out[seed] = [run_config(frame, [fold], chosen[fold.number], protocol,
                                max_epochs=max_epochs, patience=patience, seed=seed,
                                val_fraction=val_fraction, record_transitions_fold=transitions,
                                proba=True)[0]
                     for fold in folds]
    return out


def predictions(final: Mapping[str, Mapping[int, Sequence[FoldRun]]], part: str = "test"
                ) -> pd.DataFrame:
    """Per-row predictions of both decodings (results.write_predictions' columns), on the
    test parts or (``part="validation"``) on the clean protocol's validation tails."""
    check_part(part)
    frames = []
    for protocol, by_seed in final.items():
        for seed, runs in by_seed.items():
            for kind, model in MODEL_KEYS.items():
                for r in runs:
                    if part == "test":
                        proba = r.chunk_proba if kind == "chunks" else r.whole_proba
                        pred = r.chunk_pred if kind == "chunks" else r.whole_pred
                        positions, y_true = r.positions, r.y_true
                    elif isinstance(r, ValidatedFoldRun):
                        pred, proba = r.validation[kind]
                        positions, y_true = r.validation_positions, r.monitor_true
                    else:
                        continue
                    extra = {}
                    if proba is not None:
                        extra = {"value": proba @ np.arange(proba.shape[1]),
                                 **{f"p{k}": proba[:, k] for k in range(proba.shape[1])}}
                    f = experiment.prediction_frame(r.fold, positions, y_true, pred, **extra)
                    f.insert(0, "seed", seed)
                    f.insert(0, "protocol", protocol)
                    f.insert(0, "model", model)
                    frames.append(f)
    return pd.concat(frames, ignore_index=True)


def results_payload(final: Mapping[str, Mapping[int, Sequence[FoldRun]]],
                    chosen: Mapping[str, Mapping[int, Mapping[str, Any]]], *, profile: str,
                    elapsed_seconds: float, search_seconds: Mapping[str, float],
                    settings: Mapping[str, Any]) -> dict[str, Any]:
    """The results file (CONTRIBUTING.md schema), one model per decoding.

    ``params`` of a model is the report protocol's choice; each protocol block
    also carries the configuration each fold used (``chosen``) and how it was
    selected (``selected_by``): the clean protocol chooses per fold.
    """
    models = {}
    for kind, key in MODEL_KEYS.items():
        protocols = {}
        for protocol, by_seed in final.items():
            seeds = {str(seed): summarize_runs(runs, kind) for seed, runs in by_seed.items()}
            protocols[protocol] = {
                "seeds": seeds,
                # per seed, summed over the folds, averaged over the seeds (as every model)
                "train_seconds": sum(r.train_seconds for runs in by_seed.values() for r in runs)
                / len(by_seed),
                "predict_seconds": sum(r.predict_seconds for runs in by_seed.values()
                                       for r in runs) / len(by_seed),
                "chosen": {str(k): dict(v) for k, v in chosen[protocol].items()},
                "selected_by": "mean test MSE" if protocol == "report"
                else "each fold's own validation MSE (nested)",
            }
        first = "report" if "report" in chosen else next(iter(chosen))
        one = next(iter(chosen[first].values()))
        has_proba = all(r.chunk_proba is not None for by_seed in final.values()
                        for runs in by_seed.values() for r in runs)
        models[key] = {"label": MODEL_LABELS[kind],
                       "params": {**one, **settings}, "probabilistic": has_proba,
                       "protocols": protocols}
    return {"chapter": "04_crf", "profile": profile, "elapsed_seconds": float(elapsed_seconds),
            "search_seconds": dict(search_seconds), "models": models}


def chunk_table(frame: pd.DataFrame, folds: Sequence[splits.Fold], seq_lens: Sequence[int],
                protocol: str, val_fraction: float = 0.2) -> pd.DataFrame:
    """Rows of every training and monitor part, and the tail rows each sequence length drops."""
    rows = []
    for fold in folds:
        parts = experiment.fold_parts(frame, fold, FEATURES, protocol, val_fraction)
        for part in ("fit", "monitor"):
            n = len(parts.x[part])
            rows.append({"fold": fold.number, "part": part, "rows": n,
                         **{f"chunks of {L} (rows dropped)": f"{n // L} ({n % L})"
                            for L in seq_lens}})
    return pd.DataFrame(rows)


def publish_csv(table: pd.DataFrame, profile: str, name: str) -> Path:
    """Write a table under results/<profile>/site/, which the build serves beside the pages."""
    path = results_dir(profile) / "site" / f"{name}.csv"
    return atomic_write(path, lambda tmp: table.to_csv(tmp, index=False, float_format="%.6g"))


def _seed_score(runs: Sequence[FoldRun], kind: str, key: str) -> float:
    """Mean over the folds of one seed's runs."""
    return float(summarize_runs(runs, kind)["mean"][key])


def _seed_mean(by_seed: Mapping[int, Sequence[FoldRun]], kind: str, which: str, key: str
               ) -> float:
    return float(np.mean([summarize_runs(runs, kind)[which][key] for runs in by_seed.values()]))


def final_table(final: Mapping[str, Mapping[int, Sequence[FoldRun]]],
                chosen: Mapping[str, Mapping[int, Mapping[str, Any]]],
                report_row: Sequence[Any] | None = None) -> pd.DataFrame:
    """The retrained models: scores averaged over seeds, per protocol and decoding.

    ``report_row`` is the report's Table 7 row for the CRF ([name, mse, f1_macro]),
    shown beside the report protocol's chunk-wise model, which is what it
    corresponds to.
    """
    rows = []
    for protocol, by_seed in final.items():
        for kind, label in (("chunks", "chunk-wise"), ("whole", "whole-fold")):
            row = {"protocol": protocol, "decoding": label,
                   "configuration": choice_label(chosen[protocol]), "seeds": len(by_seed),
                   **{f"{k} (mean over folds)": _seed_mean(by_seed, kind, "mean", k)
                      for k in ("mse", "f1_macro")},
                   "mse std over seeds": float(np.std(
                       [summarize_runs(runs, kind)["mean"]["mse"] for runs in by_seed.values()])),
                   **{f"{k} (pooled)": _seed_mean(by_seed, kind, "pooled", k)
                      for k in ("mse", "f1_macro")}}
            if report_row is not None:
                same = protocol == "report" and kind == "chunks"
                row["mse (report, Table 7)"] = float(report_row[1]) if same else np.nan
                row["f1_macro (report, Table 7)"] = float(report_row[2]) if same else np.nan
            rows.append(row)
    return pd.DataFrame(rows)


def config_label(params: Mapping[str, Any]) -> str:
    """'hidden 32, lr 0.0007, seq_len 25' for the text."""
    return (f"hidden {params['hidden']}, lr {float(params['lr']):g}, "
            f"seq_len {int(params['seq_len'])}")


def choice_label(chosen: Mapping[int, Mapping[str, Any]]) -> str:
    """One configuration's label when every fold uses it, else 'per fold: k different'."""
    labels = {config_label(p) for p in chosen.values()}
    return labels.pop() if len(labels) == 1 else f"per fold: {len(labels)} different"


def choice_table(chosen: Mapping[str, Mapping[int, Mapping[str, Any]]]) -> pd.DataFrame:
    """Per protocol and fold, the configuration that fold's final model uses."""
    return nested.agreement_table({f"{p} protocol": by_fold for p, by_fold in chosen.items()})


def chosen_scores(table: pd.DataFrame, chosen: Mapping[int, Mapping[str, Any]]
                  ) -> dict[str, float]:
    """The search's own scores of each fold's choice on that fold, averaged over the folds:
    ``val_mse`` on the validation tails (what chose them), ``test_mse`` on the test parts."""
    val, test = [], []
    for k, params in sorted(chosen.items()):  # fold k's scores sit at position k - 1
        row = table.loc[_key(table) == _key(pd.DataFrame([params])).iloc[0]].iloc[0]
        val.append(float(row["val_mse_folds"][k - 1]))
        test.append(float(row[f"mse_fold{k}"]))
    return {"val_mse": float(np.mean(val)), "test_mse": float(np.mean(test))}


def findings(grids: Mapping[str, pd.DataFrame],
             final: Mapping[str, Mapping[int, Sequence[FoldRun]]],
             report: Mapping[str, Any], table_7_row: Sequence[Any],
             chosen: Mapping[str, Mapping[int, Mapping[str, Any]]]) -> dict[str, Any]:
    """The numbers the chapter's text quotes, under names for myst-nb glue.

    Values that may not exist in a profile (a report configuration outside a
    sub-grid) are glued as ready-made text.
    """
    grid = grids["report"]
    best, rep_best = grid.iloc[0], report_table_2(report).iloc[0]
    rep_key = _key(report_table_2(report).head(1)).iloc[0]
    match = grid.loc[_key(grid) == rep_key]
    first_runs = next(iter(final["report"].values()))
    changes = changes_table(first_runs).set_index("labels")
    collapsed = grid.loc[grid["collapsed"]]
    on_last = collapsed["collapsed_folds"].str.split(",").apply(lambda f: "4" in f)
    clean = grids["clean"]
    clean_scores = chosen_scores(clean, chosen["clean"])
    mean_choice = best_params(clean, "clean")
    all_changes = grid["changes_inside"] + grid["changes_at_starts"]
    collapsed_folds = sorted({int(f) for folds in collapsed["collapsed_folds"]
                              for f in str(folds).split(",") if f})
    report_seeds = [_seed_score(runs, "chunks", "mse") for runs in final["report"].values()]
    clean_seeds = [_seed_score(runs, "chunks", "mse") for runs in final.get("clean", {}).values()]
    out = {
        "crf_n_configs": len(grid),
        "crf_best_config": config_label(best),
        "crf_best_mse": float(best["mse"]),
        "crf_best_f1_macro": float(best["f1_macro"]),
        "crf_best_f1_micro": float(best["f1_micro"]),
        "crf_report_best_config": config_label(rep_best),
        "crf_report_best_mse": float(rep_best["mse"]),
        "crf_report_best_f1_macro": float(rep_best["f1_macro"]),
        "crf_report_best_in_book": (
            f"{match.iloc[0]['mse']:.3f} (rank {int(match.iloc[0]['rank'])} of {len(grid)})"
            if len(match) else "not available: this profile's grid does not contain it"),
        "crf_clean_config": "; ".join(f"fold {k}: {config_label(p)}"
                                      for k, p in sorted(chosen["clean"].items())),
        "crf_clean_distinct": nested.distinct(chosen["clean"]),
        "crf_clean_mean_config": config_label(mean_choice),
        "crf_clean_val_mse": clean_scores["val_mse"],
        "crf_clean_test_mse": clean_scores["test_mse"],
        "crf_clean_best_test_mse": float(clean["mse"].min()),
        # does the validation tail rank configurations as the test part does?
        "crf_clean_val_test_spearman": float(clean["val_mse"].rank().corr(clean["mse"].rank()))
        if len(clean) > 2 else float("nan"),
        "crf_report_seed_mses": ", ".join(f"{v:.3f}" for v in report_seeds),
        "crf_clean_seed_mses": ", ".join(f"{v:.3f}" for v in clean_seeds) or "not run",
        "crf_collapsed_folds": ", ".join(str(f) for f in collapsed_folds) or "none",
        # the share of label changes at chunk starts if changes fell anywhere
        "crf_grid_share_expected": float((1 / grid["seq_len"].astype(float)).mean()),
        "crf_collapsed_n": int(len(collapsed)),
        "crf_collapsed_last_n": int(on_last.sum()),
        "crf_collapsed_layouts": ", ".join(
            h for h in [*LAYOUTS, *sorted(set(grid["hidden"].astype(str)) - set(LAYOUTS))]
            if h in set(collapsed["hidden"].astype(str))) or "none",
        "crf_seq_len": int(first_runs[0].seq_len),
        "crf_grid_share_at_starts": float(grid["changes_at_starts"].sum() / all_changes.sum())
        if all_changes.sum() else float("nan"),
        "crf_table7_mse": float(table_7_row[1]),
        "crf_table7_f1_macro": float(table_7_row[2]),
    }
    for labels, prefix in (("truth", "true"), ("chunk-wise Viterbi", "chunk"),
                           ("whole-fold Viterbi", "whole")):
        out[f"crf_{prefix}_inside"] = int(changes.loc[labels, "changes inside chunks"])
        out[f"crf_{prefix}_starts"] = int(changes.loc[labels, "changes at chunk starts"])
    out["crf_chunk_finding"] = chunk_finding(out["crf_chunk_inside"], out["crf_chunk_starts"])
    out["crf_collapse_finding"] = collapse_finding(grid)
    out["crf_single_class"] = single_class_folds(final)
    out["crf_val_test_reading"] = val_test_agreement(clean)
    out["crf_table2_reading"] = table_2_reading(table_2(grid, report))
    seeds = {p: {s: _seed_score(runs, "chunks", "mse") for s, runs in by_seed.items()}
             for p, by_seed in final.items()}
    out["crf_finals_difference"] = (
        protocol_gap.seed_difference(seeds["clean"], seeds["report"])
        if {"clean", "report"} <= set(seeds) and set(seeds["clean"]) == set(seeds["report"])
        else "not judged: the two protocols were not run with the same seeds")
    for protocol, by_seed in final.items():
        out[f"crf_decoding_{protocol}"] = protocol_gap.seed_difference(
            {s: _seed_score(runs, "whole", "mse") for s, runs in by_seed.items()},
            {s: _seed_score(runs, "chunks", "mse") for s, runs in by_seed.items()})
    for protocol, by_seed in final.items():
        for kind in ("chunks", "whole"):
            out[f"crf_final_{protocol}_{kind}_mse"] = _seed_mean(by_seed, kind, "mean", "mse")
            out[f"crf_final_{protocol}_{kind}_f1_macro"] = _seed_mean(by_seed, kind, "mean",
                                                                      "f1_macro")
    return out


#: The report's finding (a chunk keeps the label of its first element) holds when at
#: most this share of the chunk-wise path's label changes fall inside chunks.
FINDING_INSIDE_SHARE = 0.5


def chunk_finding(inside: int, starts: int) -> str:
    """The verdict on the report's chunk finding, by :data:`FINDING_INSIDE_SHARE`.

    If chunks kept their first label, the chunk-wise path would change label
    mostly where a chunk starts; changes spread over a chunk's positions say
    that the transitions do not hold the label.
    """
    if inside < 0 or starts < 0:
        raise ValueError(f"label change counts must be non-negative, got {inside}, {starts}")
    total = inside + starts
    if total == 0:
        return "cannot be judged here: the chunk-wise path never changes label"
    share = inside / total
    verdict = "holds" if share <= FINDING_INSIDE_SHARE else "does not hold"
    return (f"{verdict}: {share:.0%} of the chunk-wise path's {total} label changes fall "
            f"inside chunks")


def single_class_folds(final: Mapping[str, Mapping[int, Sequence[FoldRun]]]) -> str:
    """The retrained runs that give every test row of a fold one class (chunk-wise) although
    the fold holds several: a failure the collapse count (class 0 only) misses, and one
    that dominates a seed mean. "none" when no run does."""
    found = []
    for protocol, by_seed in final.items():
        for seed, runs in by_seed.items():
            for run in runs:
                classes = np.unique(run.chunk_pred)
                if len(classes) == 1 and len(np.unique(run.y_true)) > 1:
                    found.append(f"{protocol} protocol, seed {seed}: class {int(classes[0])} "
                                 f"on every test row of fold {run.fold}")
    return "; ".join(found) or "none"


#: Over a fold's configurations, a Spearman correlation between validation and test MSE
#: below this says the validation tail tells little about the test part.
RANKS_AGREE = 0.3


def val_test_agreement(clean: pd.DataFrame) -> str:
    """Per fold, the Spearman correlation between the configurations' validation MSE (the
    fold's own tail, on which it chooses) and their test MSE, read by
    :data:`RANKS_AGREE`: the nested choice is made per fold, so the agreement that
    matters is per fold."""
    folds = sorted(int(c.removeprefix("mse_fold")) for c in clean.columns
                   if c.startswith("mse_fold"))
    if len(clean) < 3 or not folds:
        return "cannot be judged: fewer than three configurations"
    rhos = []
    for k in folds:
        val = clean["val_mse_folds"].map(lambda v, k=k: float(v[k - 1]))
        rhos.append(float(val.rank().corr(clean[f"mse_fold{k}"].rank())))
    agree = sum(r >= RANKS_AGREE for r in rhos)
    values = ", ".join(f"fold {k} {r:+.2f}" for k, r in zip(folds, rhos, strict=True))
    return (f"{values}: on {agree} of {len(folds)} folds the tail ranks the configurations "
            f"like the test part (a correlation of at least {RANKS_AGREE:g})")


#: The book's Table 2 ranks the report's rows like the report when the Spearman
#: correlation of the two MSEs over those rows is at least this.
TABLE2_AGREES = 0.5


def table_2_reading(t2: pd.DataFrame) -> str:
    """Whether the book ranks the report's Table 2 rows as the report does (:func:`table_2`),
    by :data:`TABLE2_AGREES`."""
    both = t2.dropna(subset=["mse (book)", "mse (report)"])
    if len(both) < 3:
        return ("Whether the book ranks the report's Table 2 rows as the report does cannot be "
                "judged here: fewer than three of them are in this grid")
    rho = float(both["mse (book)"].rank().corr(both["mse (report)"].rank()))
    verdict = "ranks them as the report does" if rho >= TABLE2_AGREES else "does not rank " \
        "them as the report does"
    return (f"Over the {len(both)} rows of the report's Table 2 in this grid, the Spearman "
            f"correlation between the book's and the report's MSE is {rho:+.2f}: the book "
            f"{verdict} (the rule: at least {TABLE2_AGREES:g})")


#: The report's collapse finding holds when more than this share of the configurations
#: that collapse somewhere match its pattern: a collapse on the last fold, in a layout
#: of two or more hidden layers, at a learning rate above the grid's median.
COLLAPSE_PATTERN_SHARE = 0.5


def collapse_finding(grid: pd.DataFrame) -> str:
    """The verdict on the report's collapse finding, by :data:`COLLAPSE_PATTERN_SHARE`.

    The report saw "deeper networks with large learning rates" predict only
    class 0 on the last split. A configuration matches that pattern when it
    collapses on the grid's last fold, has two or more hidden layers and a
    learning rate above the median of the grid's learning rates; collapses
    spread over shallow layouts, small rates or earlier folds do not show it.
    """
    folds = sorted(int(c.removeprefix("mse_fold")) for c in grid.columns
                   if c.startswith("mse_fold"))
    if not folds:
        raise ValueError("the grid has no per-fold columns (mse_fold<k>)")
    collapsed = grid.loc[grid["collapsed"].astype(bool)]
    if collapsed.empty:
        return f"does not appear: none of the {len(grid)} configurations collapses on any fold"
    median_lr = float(np.median(grid["lr"].astype(float).unique()))
    on_last = collapsed["collapsed_folds"].astype(str).str.split(",").apply(
        lambda f: str(folds[-1]) in f)
    deep = collapsed["hidden"].astype(str).str.count("-") >= 1
    large = collapsed["lr"].astype(float) > median_lr
    match = int((on_last & deep & large).sum())
    verdict = ("holds" if match / len(collapsed) > COLLAPSE_PATTERN_SHARE
               else "does not hold")
    return (f"{verdict}: {match} of the {len(collapsed)} configuration(s) that collapse "
            f"match the pattern (fold {folds[-1]}, two or more hidden layers, learning rate "
            f"above the grid's median {median_lr:g})")


def gap_scores(frame: pd.DataFrame, folds: Sequence[splits.Fold],
               final: Mapping[str, Mapping[int, Sequence[FoldRun]]],
               chosen: Mapping[str, Mapping[int, Mapping[str, Any]]], seeds: Sequence[int], *,
               max_epochs: int, patience: int, val_fraction: float
               ) -> dict[str, dict[int, float]]:
    """Chunk-wise mean-over-folds test MSE per regime of
    :mod:`~occupancy_utils.protocol_gap` and seed, for the report protocol's configuration
    on every fold.

    A protocol's finals (``final[protocol]``, from :func:`retrain`) are reused
    where that protocol ran this configuration on every fold; the other regimes
    are trained here, as :func:`retrain` trains.
    """
    if nested.distinct(chosen["report"]) != 1:
        raise ValueError("the protocol gap needs the report protocol's one configuration")
    config = next(iter(chosen["report"].values()))
    check_config(config["hidden"], config["lr"], config["seq_len"])
    reused = {regime: {s: _seed_score(runs, "chunks", "mse") for s, runs in final[regime].items()}
              for regime in protocol_gap.REGIMES
              if regime in final and all(c == config for c in chosen.get(regime, {}).values())}

    def train(regime: str, seed: int) -> float:
        protocol = "clean" if regime == "clean" else "report"
        return _seed_score([run_fold(frame, fold, config, protocol, max_epochs=max_epochs,
                                     patience=patience, seed=seed, val_fraction=val_fraction,
                                     parts=protocol_gap.regime_parts(frame, fold, FEATURES,
                                                                     regime, val_fraction))
                            for fold in folds], "chunks", "mse")

    return protocol_gap.paired_scores(reused, seeds, train)
