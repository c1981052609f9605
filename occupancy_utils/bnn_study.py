"""Chapter 5: the Bayesian network on the four folds - training, studies and their choices
(its final models: :mod:`~occupancy_utils.bnn_finals`).

The chapter's tables and verdicts on these results live in
:mod:`~occupancy_utils.findings.bnn`.

One configuration (``lr``, ``hidden``, ``hidden_layers``) is trained on each
fold with :func:`~occupancy_utils.training.fit`; the batch loss is the cross-entropy of one
weight sample plus ``kl_weight`` times the KL term of :func:`~occupancy_utils.models.bnn.kl_term`.
Early stopping watches the *predictive* log loss (the negative log of the
mean probability of the true class over ``monitor_samples`` weight samples)
on the monitor part: the test part under the report's protocol, the
validation tail under the clean one. The test part is then predicted from
``samples`` weight samples drawn in one batched pass.

The three studies of the report (Tables 3 and 4) go through
:func:`~occupancy_utils.search.run_grid`; :func:`objective` is their module-level objective.
Selection (:func:`select`): under ``report`` the lowest mean test MSE, as the
report chose; under ``clean`` the lowest mean MSE on the validation tails, so
no fold's own test rows take part (later folds' tails lie in earlier folds' test
parts, so the mean over folds does see some).
"""

from __future__ import annotations

import functools
import math
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
    metrics,
    nested,
    profiles,
    rng,
    search,
    splits,
    training,
    uncertainty,
)
from .models import bnn

#: The version of what this family's search records hold (part of every search's key,
#: see cache_key): bump it when the records change shape or meaning.
SCHEMA = 1

MODEL_KEY = "bnn"
PARAM_KEYS = ("lr", "hidden", "hidden_layers")


@dataclass(frozen=True)
class Settings:
    """Everything but the searched parameters; all of it changes results.

    The report gives neither the BNN's epoch limit nor its patience nor its
    batch size; these are the book's choices, stated in the chapter. No field
    has a default: the values live in one place, ``params/<profile>.yaml``.
    """

    batch_size: int
    max_epochs: int
    patience: int
    samples: int
    monitor_samples: int
    kl: str
    kl_weight: float
    prior_sigma: float
    val_fraction: float

    def __post_init__(self) -> None:
        for name in ("batch_size", "max_epochs", "patience"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        bnn.check_samples(self.samples, "samples")
        bnn.check_samples(self.monitor_samples, "monitor_samples")
        bnn.check_kl(self.kl, self.kl_weight)
        if not (isinstance(self.prior_sigma, (int, float)) and self.prior_sigma > 0):
            raise ValueError(f"prior_sigma must be positive, got {self.prior_sigma!r}")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction!r}")

    def replace(self, **changes: Any) -> Settings:
        """A copy of these settings with ``changes`` applied (the dataclass is frozen)."""
        return Settings(**{**asdict(self), **changes})


def profile_settings(profile: str, **changes: Any) -> Settings:
    """The chapter's :class:`Settings` as ``params/<profile>.yaml`` gives them, with
    ``changes`` applied (tests and benchmarks shrink a profile this way, never by
    defaults of their own)."""
    given = profiles.notebook_parameters(profile, "05_bnn")
    return Settings(**{**{f: given[f] for f in Settings.__dataclass_fields__}, **changes})


def check_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """A configuration: positive ``lr``, a valid layout. Fails naming the parameter."""
    missing = [k for k in PARAM_KEYS if k not in params]
    if missing:
        raise ValueError(f"configuration lacks {missing[0]!r}")
    lr = params["lr"]
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < math.inf:
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    bnn.layer_sizes(params["hidden"], params["hidden_layers"])
    return {k: params[k] for k in PARAM_KEYS}


def check_grid(grid: Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
    """Every point of a study grid is a valid configuration (checked before any training)."""
    unknown = [k for k in grid if k not in PARAM_KEYS]
    if unknown:
        raise ValueError(f"unknown grid parameter {unknown[0]!r} (known: {PARAM_KEYS})")
    for point in search.grid_points(grid):
        check_params(point)
    return {k: list(v) for k, v in grid.items()}


@dataclass
class FoldRun:
    """One trained fold: the model, its history, its parts and its sampled test predictions."""

    model: bnn.BayesMLP
    history: training.History
    parts: experiment.FoldParts
    probs: np.ndarray  # (T, N_test, C)
    monitor_probs: np.ndarray  # (T, N_monitor, C)
    train_seconds: float
    predict_seconds: float
    curves: list[dict] = field(default_factory=list)


def predictive_nll(model: bnn.BayesMLP, x: torch.Tensor, y: torch.Tensor, samples: int) -> float:
    """Mean negative log of the sample-averaged probability of the true class."""
    probs = model.predict_proba(x, samples).mean(dim=0)
    return float(-torch.log(probs[torch.arange(len(y)), y].clamp_min(1e-12)).mean())


def _scores_of(model: bnn.BayesMLP, x: torch.Tensor, y: np.ndarray, samples: int) -> dict:
    mean = model.predict_proba(x, samples).mean(dim=0).cpu().numpy()
    return metrics.scores(y, mean.argmax(axis=1))


def train_fold(frame: pd.DataFrame, fold: splits.Fold, protocol: str, params: Mapping[str, Any],
               settings: Settings, seed: int, *, curves: bool = False,
               features: Sequence[str] = tuple(data.NON_LIGHT_FEATURES),
               parts: experiment.FoldParts | None = None) -> FoldRun:
    """Train one configuration on one fold and sample its test predictions.

    Seeded per fold, so a fold's result does not depend on which folds or grid
    points ran before it (the search may run them in any order). With
    ``curves`` every epoch also records MSE and F1 on the fit and test parts
    (for the learning-curve figure only; nothing is chosen from them).
    ``parts`` replaces the protocol's parts (the third kind that
    :mod:`~occupancy_utils.protocol_gap` needs).
    """
    params = check_params(params)
    with rng.seeded(seed) as generator:
        parts = parts or experiment.fold_parts(frame, fold, list(features), protocol,
                                               settings.val_fraction)
        x = {k: training.tensor(v, torch.float32) for k, v in parts.x.items()}
        y = {k: training.tensor(v, torch.long) for k, v in parts.y.items()}
        sizes = bnn.layer_sizes(params["hidden"], params["hidden_layers"])
        model = bnn.BayesMLP(len(features), sizes, n_classes=len(data.CLASSES),
                             prior_sigma=settings.prior_sigma).to(training.device())
        n_fit = len(y["fit"])
        cross_entropy = torch.nn.CrossEntropyLoss()

        def batch_loss(idx: torch.Tensor) -> torch.Tensor:
            idx = idx.to(x["fit"].device)
            ce = cross_entropy(model(x["fit"][idx]), y["fit"][idx])
            if settings.kl_weight == 0:
                return ce
            return ce + settings.kl_weight * bnn.kl_term(model, settings.kl, n_fit)

        def monitor() -> float:
            return predictive_nll(model, x["monitor"], y["monitor"], settings.monitor_samples)

        def on_epoch(epoch: int, history: training.History) -> dict:
            # Sampling for the curves must not move the random stream that training uses:
            # recording curves may not change the model.
            with torch.no_grad(), rng.restored():
                fit = _scores_of(model, x["fit"], parts.y["fit"], settings.monitor_samples)
                test = _scores_of(model, x["test"], parts.y["test"], settings.monitor_samples)
            return {**{f"fit_{k}": v for k, v in fit.items()},
                    **{f"test_{k}": v for k, v in test.items()}}

        start = time.perf_counter()
        history = training.fit(model, batch_loss, n_fit, monitor, lr=float(params["lr"]),
                               batch_size=settings.batch_size, max_epochs=settings.max_epochs,
                               patience=settings.patience, generator=generator,
                               on_epoch=on_epoch if curves else None)
        train_seconds = time.perf_counter() - start
        start = time.perf_counter()
        probs = model.predict_proba(x["test"], settings.samples).cpu().numpy()
        predict_seconds = time.perf_counter() - start
        monitor_probs = model.predict_proba(x["monitor"], settings.samples).cpu().numpy()
        return FoldRun(model, history, parts, probs, monitor_probs, train_seconds,
                       predict_seconds, list(history.extra) if curves else [])


def prediction_frame(run: FoldRun) -> pd.DataFrame:
    """Per-row test predictions of one fold, with everything chapter 7 scores.

    ``p0..p3`` are the class probabilities averaged over the T weight samples,
    ``y_pred`` their argmax, ``value`` the expected count sum_c c p_c, ``std``
    the standard deviation of the count under those probabilities, then
    ``confidence`` (mean probability of the predicted class), ``entropy``
    (predictive entropy) and ``mi`` (mutual information, the part of the
    entropy due to the weight samples disagreeing), in nats.
    """
    d = uncertainty.decompose(run.probs)
    counts = np.arange(d["mean"].shape[1], dtype="float64")
    second = d["mean"] @ counts**2
    std = np.sqrt(np.maximum(second - d["expected_count"] ** 2, 0.0))
    return experiment.prediction_frame(
        run.parts.fold.number, run.parts.positions["test"], run.parts.y["test"], d["predicted"],
        value=d["expected_count"], std=std,
        **{f"p{c}": d["mean"][:, c] for c in range(d["mean"].shape[1])},
        confidence=d["confidence"], entropy=d["predictive_entropy"],
        mi=d["mutual_information"])


def _fold_record(run: FoldRun, pred: pd.DataFrame) -> dict[str, Any]:
    monitor_pred = run.monitor_probs.mean(axis=0).argmax(axis=1)
    return {
        "fold": run.parts.fold.number,
        "test": metrics.scores(pred["y_true"], pred["y_pred"]),
        "test_mse_value": metrics.scores(pred["y_true"], pred["y_pred"], pred["value"])["mse"],
        "monitor": metrics.scores(run.parts.y["monitor"], monitor_pred),
        "epochs": run.history.epochs,
        "best_epoch": run.history.best_epoch + 1,
        "stopped_early": run.history.stopped_early,
        "zero_share": float((pred["y_pred"] == 0).mean()),
        "collapsed": bool((pred["y_pred"] == 0).all() and (pred["y_true"] != 0).any()),
        "mean_p0": float(pred["p0"].mean()),
        "train_seconds": run.train_seconds,
        "predict_seconds": run.predict_seconds,
    }


def evaluate(frame: pd.DataFrame, folds: Sequence[splits.Fold], protocol: str,
             params: Mapping[str, Any], settings: Settings, seed: int, *,
             keep_runs: bool = False, keep_predictions: bool = False,
             curves_fold: int | None = None, progress: bool = False) -> dict[str, Any]:
    """Train a configuration on every fold; per-fold records and the summaries.

    ``mse`` is the value a search minimises: the mean test MSE under
    ``report`` (what the report selected on), the mean validation-tail MSE
    under ``clean``. Test scores are always recorded as ``test_*``.
    """
    training.check_protocol(protocol)
    params = check_params(params)
    runs, preds, records = [], [], []
    for fold in tqdm(folds, desc="folds", disable=not progress, leave=False):
        with training.torch_threads(1):
            run = train_fold(frame, fold, protocol, params, settings, seed,
                             curves=curves_fold == fold.number)
        pred = prediction_frame(run)
        records.append(_fold_record(run, pred))
        preds.append(pred)
        if keep_runs or curves_fold == fold.number:
            runs.append(run)
    test = experiment.summarize(preds)
    value = experiment.summarize(preds, value_column="value")
    val_mse = float(np.mean([r["monitor"]["mse"] for r in records]))
    out = {
        "params": params,
        "protocol": protocol,
        "seed": seed,
        "mse": test["mean"]["mse"] if protocol == "report" else val_mse,
        "val_mse": val_mse,
        "test_mse": test["mean"]["mse"],
        "test_f1_macro": test["mean"]["f1_macro"],
        "test_mse_value": value["mean"]["mse"],
        "pooled": test["pooled"],
        "pooled_mse_value": value["pooled"]["mse"],
        "folds": records,
        "collapsed_folds": [r["fold"] for r in records if r["collapsed"]],
        "summary": test,
        "summary_value": value,
        "train_seconds": float(sum(r["train_seconds"] for r in records)),
        "predict_seconds": float(sum(r["predict_seconds"] for r in records)),
    }
    if keep_runs or curves_fold is not None:
        out["runs"] = runs
    if keep_predictions:
        out["predictions"] = preds
    return out


def objective(params: dict[str, Any], *, protocol: str, settings: dict[str, Any],
              seed: int) -> dict[str, Any]:
    """Search objective: one grid point on the four folds of the real data.

    Module-level (picklable for worker processes); returns JSON-friendly
    records only (no models), stored with the Optuna trial.
    """
    frame, folds = experiment.search_data()
    return evaluate(frame, folds, protocol, params, Settings(**settings), seed)


#: The report's three studies. Hidden 64 at lr 0.01 (one layer) belongs to the
#: first two; it is trained once, in the first (same seed, same numbers).
STUDIES: dict[str, dict[str, list[Any]]] = {
    "lr": {"lr": [0.01, 0.005, 0.001, 0.0001], "hidden": [64], "hidden_layers": [1]},
    "hidden": {"lr": [0.01], "hidden": [16, 128], "hidden_layers": [1]},
    "two_layers": {"lr": [0.01], "hidden": [16, 64, 128], "hidden_layers": [2]},
}


def run_studies(protocol: str, settings: Settings, seed: int, profile: str,
                studies: Mapping[str, Mapping[str, Sequence[Any]]] | None = None,
                workers: int = 1) -> pd.DataFrame:
    """Run (or resume) the studies under one protocol; one row per study and grid point."""
    training.check_protocol(protocol)
    studies = {k: check_grid(v) for k, v in (studies or STUDIES).items()}
    frames = []
    for key, grid in studies.items():
        objective_fn = functools.partial(objective, protocol=protocol,
                                         settings=asdict(settings), seed=seed)
        found = search.run_grid(f"05_bnn-{key}-{protocol}", grid, objective_fn,
                                profile=profile, settings={"protocol": protocol, "seed": seed,
                                                           **asdict(settings)},
                                schema=SCHEMA, workers=workers, seed=seed)
        frames.append(found.assign(study=key))
    return pd.concat(frames, ignore_index=True)


def select(found: pd.DataFrame, protocol: str) -> dict[str, Any]:
    """The chosen configuration: lowest ``mse`` (test MSE under report, validation-tail
    MSE under clean); ties go to the smaller network, then the larger learning rate."""
    training.check_protocol(protocol)
    rows = found.drop_duplicates(subset=list(PARAM_KEYS))
    key = "test_mse" if protocol == "report" else "val_mse"
    ranked = rows.assign(_size=rows["hidden"] * rows["hidden_layers"], _lr=-rows["lr"])
    best = ranked.sort_values([key, "_size", "_lr"], kind="stable").iloc[0]
    return {k: (float(best[k]) if k == "lr" else int(best[k])) for k in PARAM_KEYS}


def select_per_fold(found: pd.DataFrame, fold_numbers: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The clean protocol's choice, per fold (nested): fold k takes the configuration with
    the lowest MSE on fold k's own validation tail; ties go to the smaller network, then
    the larger learning rate, as in :func:`select`, never to a test score.

    The studies' grids are fixed in advance (:data:`STUDIES`), so every fold chooses
    among the same candidates and no earlier choice narrows them.
    """
    if "protocol" in found and not found["protocol"].eq("clean").all():
        raise ValueError("select_per_fold needs the clean protocol's studies: under the "
                         "report protocol the monitored part is the test part")
    ranked = _by_fold(found, fold_numbers)
    return {k: check_params(p)
            for k, p in nested.choose(ranked, dict.fromkeys(PARAM_KEYS), fold_numbers).items()}


def _by_fold(found: pd.DataFrame, fold_numbers: Sequence[int]) -> pd.DataFrame:
    """Distinct candidates in tie order (smaller network, larger lr) with ``fold_mse``."""
    rows = found.drop_duplicates(subset=list(PARAM_KEYS))
    ranked = rows.assign(_size=rows["hidden"] * rows["hidden_layers"], _lr=-rows["lr"])
    ranked = ranked.sort_values(["_size", "_lr"], kind="stable").reset_index(drop=True)
    by_fold = [{r["fold"]: r["monitor"]["mse"] for r in records} for records in ranked["folds"]]
    return ranked.assign(fold_mse=[[scores[k] for k in fold_numbers] for scores in by_fold])


def ties(found: pd.DataFrame, fold_numbers: Sequence[int]) -> tuple[dict[int, int], int]:
    """Per fold: how many candidates tie at the fold's lowest validation MSE; and how many
    candidates there are."""
    ranked = _by_fold(found, fold_numbers)
    return nested.tied_at_minimum(ranked, fold_numbers), len(ranked)


def config_text(params: Mapping[str, Any]) -> str:
    """'lr 0.01, 2 x 64' for the text."""
    return f"lr {params['lr']:g}, {params['hidden_layers']} x {params['hidden']}"
