"""Chapter 4's experiment: the MLP + CRF grid over four folds and its choices (its final
models: :mod:`~occupancy_utils.crf_finals`).

What the chapter prints from these results (tables, glued numbers, verdicts) lives
in :mod:`~occupancy_utils.findings.crf`.

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
compares the two). Final models, the chosen configuration over seeds, train
the same way: the seeds of one fold as one stack, each with its own batches.

Tensors and the models go to ``training.device()``, as in every chapter, so
the same code runs on a CUDA GPU.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import optuna
import pandas as pd
import torch

from . import (
    data,
    experiment,
    metrics,
    nested,
    rng,
    search,
    sequences,
    splits,
    training,
)
from .models.crf import LAYOUTS, MLPCRF, MLPCRFStack, parse_layout

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
    """Train one model: :func:`train_group` of one member.

    With ``record_transitions`` the transition matrix of every epoch goes into
    ``history.extra`` (for Figure 8; kept off in the search to save memory).
    """
    return train_group(parts, [(hidden, lr)], seq_len, seeds=[seed], max_epochs=max_epochs,
                       patience=patience, batch_size=batch_size,
                       record_transitions=[0] if record_transitions else (),
                       progress=progress)[0]


def train_group(parts: experiment.FoldParts, configs: Sequence[tuple[str, float]],
                seq_len: int, *, seeds: Sequence[int], max_epochs: int, patience: int,
                batch_size: int = BATCH_SIZE, record_transitions: Sequence[int] = (),
                progress: bool = False) -> list[tuple[MLPCRF, training.History]]:
    """Several models of one ``seq_len`` trained as one stack, each a (hidden, lr)
    configuration with its own seed (``seeds[k]`` for ``configs[k]``).

    Adam with early stopping on the CRF NLL of the monitor part, per model. Each
    model starts from the weights its seed gives it alone (the global seed is reset
    before each is built) and draws its batches from a generator seeded as alone:
    one generator shared by all when they share a seed (the search's groups), one
    each otherwise (final models over seeds). So each is trained as it would be
    alone, up to float rounding in the stacked products (``tests/test_crf.py``
    measures the agreement); ``training.fit_many`` keeps early stopping per model.
    ``record_transitions``: the members whose transition matrix of every epoch goes
    into ``history.extra`` (Figure 8).
    """
    if not configs:
        raise ValueError("train_group needs at least one (hidden, lr) configuration")
    if len(seeds) != len(configs):
        raise ValueError(f"train_group needs one seed per configuration, got {len(seeds)} "
                         f"for {len(configs)}")
    for hidden, lr in configs:
        check_config(hidden, lr, seq_len)
    x_fit, y_fit = chunk_part(parts, "fit", seq_len)
    x_mon, y_mon = chunk_part(parts, "monitor", seq_len)
    models = []
    with rng.restored():  # each member's initial weights from its own seed, as alone
        for (hidden, _), seed in zip(configs, seeds, strict=True):
            rng.seed_all(seed)
            models.append(MLPCRF(x_fit.shape[2], hidden).to(training.device()))
    generator = (torch.Generator().manual_seed(seeds[0]) if len(set(seeds)) == 1
                 else [torch.Generator().manual_seed(seed) for seed in seeds])
    stack = MLPCRFStack(models)
    recorded = set(record_transitions)

    def on_epoch(epoch: int, i: int) -> dict | None:
        return {"transitions": models[i].transition_matrix()} if i in recorded else None

    with single_thread():
        histories = training.fit_many(
            models, lambda idx, active: stack.nll(x_fit[idx], y_fit[idx], active), len(x_fit),
            lambda active: stack.nll(x_mon, y_mon, active),
            lrs=[lr for _, lr in configs], batch_size=batch_size, max_epochs=max_epochs,
            patience=patience, generator=generator, on_epoch=on_epoch if recorded else None,
            progress=progress, description=f"fold {parts.fold.number}, {len(configs)} models")
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


def run_seeds(frame: pd.DataFrame, fold: splits.Fold, params: Mapping[str, Any],
              protocol: str, seeds: Sequence[int], *, max_epochs: int, patience: int,
              val_fraction: float, features: list[str] | None = None,
              record_transitions_seed: int | None = None, proba: bool = False,
              parts: experiment.FoldParts | None = None) -> list[FoldRun]:
    """One configuration on one fold under one protocol, once per seed, the seeds trained
    as one stack (:func:`train_group`); one run per seed with its test and monitor
    predictions (``parts``: ready-made parts instead of the protocol's, as
    :mod:`~occupancy_utils.protocol_gap` needs). With ``proba`` under the clean
    protocol each run also holds its labels and marginals on the validation tail."""
    parts = parts or experiment.fold_parts(frame, fold, features or FEATURES, protocol,
                                           val_fraction)
    seeds = list(seeds)
    recorded = [seeds.index(record_transitions_seed)] if record_transitions_seed in seeds else []
    runs = _stack_runs(parts, [(str(params["hidden"]), float(params["lr"]))] * len(seeds),
                       int(params["seq_len"]), seeds, max_epochs=max_epochs, patience=patience,
                       record_transitions=recorded, proba=proba)
    if not (proba and protocol == "clean"):
        return [run for run, _ in runs]
    out = []
    for run, model in runs:
        with single_thread():
            tail = {"chunks": predict_chunks(model, parts.x["monitor"], run.seq_len, True),
                    "whole": predict_whole(model, parts.x["monitor"], True)}
        out.append(ValidatedFoldRun(**{f.name: getattr(run, f.name) for f in fields(run)},
                                    validation_positions=parts.positions["monitor"],
                                    validation=tail))
    return out


def _stack_runs(parts: experiment.FoldParts, configs: Sequence[tuple[str, float]],
                seq_len: int, seeds: Sequence[int], *, max_epochs: int, patience: int,
                record_transitions: Sequence[int] = (), proba: bool = False
                ) -> list[tuple[FoldRun, MLPCRF]]:
    """:func:`train_group` on one fold's parts, then each model's predictions; a run's
    ``train_seconds`` is the stack's training time divided by its models (what one of
    them cost, shared)."""
    start = time.perf_counter()
    trained = train_group(parts, configs, seq_len, seeds=seeds, max_epochs=max_epochs,
                          patience=patience, record_transitions=record_transitions)
    share = (time.perf_counter() - start) / len(configs)
    return [(_fold_run(parts, model, history, seq_len, share, proba), model)
            for model, history in trained]


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
              val_fraction: float, features: list[str] | None = None
              ) -> list[FoldRun]:
    """A search group on one fold: every configuration with the search's one seed, trained
    together; one run per configuration."""
    parts = experiment.fold_parts(frame, fold, features or FEATURES, protocol, val_fraction)
    return [run for run, _ in _stack_runs(parts, configs, seq_len, [seed] * len(configs),
                                          max_epochs=max_epochs, patience=patience)]


def run_config(frame: pd.DataFrame, folds: Sequence[splits.Fold], params: Mapping[str, Any],
               protocol: str, *, max_epochs: int, patience: int, seed: int,
               val_fraction: float, features: list[str] | None = None,
               record_transitions_fold: int | None = None, proba: bool = False
               ) -> list[FoldRun]:
    """One configuration with one seed on every fold (transitions recorded on
    ``record_transitions_fold``)."""
    check_config(params["hidden"], params["lr"], params["seq_len"])
    check_settings(protocol, max_epochs, patience, val_fraction, [seed])
    return [run_seeds(frame, fold, params, protocol, [seed], max_epochs=max_epochs,
                      patience=patience, val_fraction=val_fraction, features=features,
                      record_transitions_seed=seed if fold.number == record_transitions_fold
                      else None, proba=proba)[0]
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
               max_epochs: int, patience: int, seed: int, val_fraction: float,
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
