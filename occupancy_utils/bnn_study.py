"""Chapter 5: the Bayesian network on the four folds - training, studies, final models.

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
    protocol_gap,
    rng,
    search,
    splits,
    training,
    uncertainty,
)
from .models import bnn
from .results import check_part

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


def evaluate_chosen(frame: pd.DataFrame, folds: Sequence[splits.Fold], protocol: str,
                    chosen: Mapping[int, Mapping[str, Any]], settings: Settings, seed: int,
                    curves_fold: int | None = None) -> dict[str, Any]:
    """:func:`evaluate` with each fold's own configuration, predictions kept.

    Each fold is evaluated alone (a fold is seeded on its own, so this gives
    the numbers :func:`evaluate` gives when every fold has the same
    configuration); the per-fold records are then summarised together.
    :func:`evaluate` itself stays as the search stored it (its code keys the
    stored searches).
    """
    nested.check_chosen(chosen, folds)
    keep = protocol == "clean"  # the runs' validation tails, for chapter 7's thresholds
    parts = [evaluate(frame, [fold], protocol, chosen[fold.number], settings, seed,
                      keep_predictions=True, keep_runs=keep,
                      curves_fold=curves_fold if curves_fold == fold.number else None)
             for fold in folds]
    runs = [r for part in parts for r in part.get("runs", [])]
    preds = [p for part in parts for p in part["predictions"]]
    records = [r for part in parts for r in part["folds"]]
    test = experiment.summarize(preds)
    value = experiment.summarize(preds, value_column="value")
    return {
        "chosen": {k: dict(v) for k, v in chosen.items()}, "protocol": protocol, "seed": seed,
        "val_mse": float(np.mean([r["monitor"]["mse"] for r in records])),
        "test_mse": test["mean"]["mse"], "test_f1_macro": test["mean"]["f1_macro"],
        "test_mse_value": value["mean"]["mse"], "pooled": test["pooled"],
        "pooled_mse_value": value["pooled"]["mse"], "folds": records,
        "collapsed_folds": [r["fold"] for r in records if r["collapsed"]],
        "summary": test, "summary_value": value,
        "train_seconds": float(sum(r["train_seconds"] for r in records)),
        "predict_seconds": float(sum(r["predict_seconds"] for r in records)),
        "runs": runs,
        "predictions": preds,
        "validation": [validation_frame(r) for r in runs] if keep else [],
    }


def validation_frame(run: FoldRun) -> pd.DataFrame:
    """Per-row predictions of one fold's validation tail (clean protocol): the class
    probabilities averaged over the weight samples and their argmax."""
    mean = run.monitor_probs.mean(axis=0)
    return experiment.prediction_frame(
        run.parts.fold.number, run.parts.positions["monitor"], run.parts.y["monitor"],
        mean.argmax(axis=1), **{f"p{c}": mean[:, c] for c in range(mean.shape[1])})


def seeds_evaluation(frame: pd.DataFrame, folds: Sequence[splits.Fold], protocol: str,
                     chosen: Mapping[int, Mapping[str, Any]], settings: Settings,
                     seeds: Sequence[int], curves_fold: int | None = None
                     ) -> dict[int, dict[str, Any]]:
    """Each fold's configuration under several seeds, with predictions, for the results file.

    With ``curves_fold`` the first seed also records learning curves on that
    fold (its run is kept under ``runs``), so the figure needs no extra training.
    """
    seeds = training.check_seeds(seeds)
    if curves_fold is not None:
        fold_by_number(folds, curves_fold)
    return {s: evaluate_chosen(frame, folds, protocol, chosen, settings, s,
                               curves_fold=curves_fold if s == seeds[0] else None)
            for s in tqdm(seeds, desc=f"seeds ({protocol})", leave=False)}


def fold_by_number(folds: Sequence[splits.Fold], number: int,
                   name: str = "curves_fold") -> splits.Fold:
    """The fold with that 1-based number; fails naming the parameter."""
    for fold in folds:
        if fold.number == number:
            return fold
    raise ValueError(f"{name} must be one of {[f.number for f in folds]}, got {number!r}")


def curves_run(frame: pd.DataFrame, folds: Sequence[splits.Fold], number: int, protocol: str,
               params: Mapping[str, Any], settings: Settings, seed: int) -> FoldRun:
    """One fold trained with per-epoch scores recorded (Figure 9)."""
    fold = fold_by_number(folds, number)
    with training.torch_threads(1):
        return train_fold(frame, fold, protocol, params, settings, seed, curves=True)


def results_model(label: str, chosen: Mapping[int, Mapping[str, Any]], settings: Settings,
                  by_protocol: Mapping[str, Mapping[int, Mapping[str, Any]]]) -> dict[str, Any]:
    """One model's entry of the results file (CONTRIBUTING.md schema).

    ``seeds`` hold the scores of the argmax class (the report's MSE);
    ``seeds_expected_count`` the same with the MSE of the expected count.
    Times are per seed, summed over the folds, averaged over the seeds.
    """
    protocols = {}
    for protocol, evaluations in by_protocol.items():
        protocols[protocol] = {
            "seeds": {str(s): ev["summary"] for s, ev in evaluations.items()},
            "seeds_expected_count": {str(s): ev["summary_value"] for s, ev in evaluations.items()},
            "train_seconds": float(np.mean([ev["train_seconds"] for ev in evaluations.values()])),
            "predict_seconds": float(np.mean([ev["predict_seconds"]
                                              for ev in evaluations.values()])),
            "chosen": {str(k): dict(v) for k, v in chosen.items()},
        }
    params = dict(next(iter(chosen.values()))) if nested.distinct(chosen) == 1 else {}
    return {"label": label, "params": {**params, **asdict(settings)},
            "probabilistic": True, "protocols": protocols}


def predictions_table(by_model: Mapping[str, Mapping[str, Mapping[int, Mapping[str, Any]]]],
                      part: str = "test") -> pd.DataFrame:
    """All kept per-row predictions with ``model``, ``protocol`` and ``seed`` columns, of
    the test parts or (``part="validation"``) of the clean protocol's validation tails."""
    check_part(part)
    key = "predictions" if part == "test" else "validation"
    return experiment.predictions_table(
        (model, protocol, seed, pred) for model, by_protocol in by_model.items()
        for protocol, evaluations in by_protocol.items() for seed, ev in evaluations.items()
        for pred in ev.get(key, []))


@dataclass
class FinalModel:
    """A configuration evaluated for the results file: per protocol, per seed."""

    label: str
    #: fold number -> the configuration that fold's model uses
    chosen: dict[int, dict[str, Any]]
    settings: Settings
    evaluations: dict[str, dict[int, dict[str, Any]]]

    def run(self, protocol: str, seed: int, fold: int) -> FoldRun:
        """The kept run of one fold (the curves fold of the first seed)."""
        for run in self.evaluations[protocol][seed].get("runs", []):
            if run.parts.fold.number == fold:
                return run
        raise KeyError(f"{self.label}: no kept run for {protocol}, seed {seed}, fold {fold}")

    def predictions(self, protocol: str, seed: int, fold: int) -> pd.DataFrame:
        """Per-row predictions of one protocol, seed and fold; KeyError if that run is absent."""
        for pred in self.evaluations[protocol][seed]["predictions"]:
            if int(pred["fold"].iloc[0]) == fold:
                return pred
        raise KeyError(f"{self.label}: no predictions for {protocol}, seed {seed}, fold {fold}")


def train_final(frame: pd.DataFrame, folds: Sequence[splits.Fold], label: str,
                chosen: Mapping[int, Mapping[str, Any]], settings: Settings,
                protocols: Sequence[str], seeds: Sequence[int],
                curves_fold: int | None = None) -> FinalModel:
    """Evaluate each fold's configuration under the given protocols and seeds (all
    checked first)."""
    chosen = {k: check_params(p) for k, p in chosen.items()}
    for protocol in protocols:
        training.check_protocol(protocol)
    training.check_seeds(seeds)
    return FinalModel(label, chosen, settings,
                      {p: seeds_evaluation(frame, folds, p, chosen, settings, seeds, curves_fold)
                       for p in protocols})


def other_kl(settings: Settings) -> Settings:
    """The same settings with the KL term scaled the other way (the chapter's comparison).

    ``mean`` (the report's, weight 0.01) and ``elbo`` (weight 1, the textbook
    ELBO) swap.
    """
    kl = "elbo" if settings.kl == "mean" else "mean"
    return settings.replace(kl=kl, kl_weight=1.0 if kl == "elbo" else 0.01)


def final_models(frame: pd.DataFrame, folds: Sequence[splits.Fold],
                 report_config: Mapping[str, Any], chosen: Mapping[int, Mapping[str, Any]],
                 settings: Settings, seeds: Sequence[int], curves_fold: int
                 ) -> dict[str, FinalModel]:
    """The chapter's final models, keyed as in the results file.

    ``bnn``: the report's configuration under both protocols; ``bnn_selected``:
    the clean protocol's per-fold choice (:func:`select_per_fold`), only when some
    fold's choice differs from the report's; ``bnn_<kl>``: the report's
    configuration with the KL term scaled the other way (clean protocol).
    """
    report_config = check_params(report_config)
    chosen = {k: check_params(p) for k, p in chosen.items()}
    everywhere = {f.number: report_config for f in folds}
    finals = {"bnn": train_final(frame, folds, "BNN (report's configuration: "
                                 f"{config_text(report_config)})", everywhere, settings,
                                 ["report", "clean"], seeds, curves_fold)}
    if any(p != report_config for p in chosen.values()):
        label = ("BNN (chosen on validation: " + config_text(next(iter(chosen.values()))) + ")"
                 if nested.distinct(chosen) == 1 else "BNN (chosen per fold on validation)")
        finals["bnn_selected"] = train_final(frame, folds, label, chosen, settings, ["clean"],
                                             seeds, curves_fold)
    swapped = other_kl(settings)
    finals[f"bnn_{swapped.kl}"] = train_final(
        frame, folds, f"BNN (report's configuration, KL scaled '{swapped.kl}')", everywhere,
        swapped, ["clean"], seeds)
    return finals


def write_chapter_results(profile: str, notebook: str, finals: Mapping[str, FinalModel],
                          elapsed_seconds: float, gaps: Mapping[str, Any] | None = None
                          ) -> tuple[Any, Any]:
    """The results file (CONTRIBUTING.md schema, with the ``protocol_gap`` entries) and
    the per-row predictions file (the validation tails' predictions are written beside it)."""
    from . import results

    payload = {
        "chapter": notebook, "profile": profile, "elapsed_seconds": float(elapsed_seconds),
        "models": {key: results_model(m.label, m.chosen, m.settings, m.evaluations)
                   for key, m in finals.items()},
        "protocol_gap": dict(gaps or {}),
    }
    evaluations = {key: m.evaluations for key, m in finals.items()}
    results.write_predictions(profile, notebook, predictions_table(evaluations, "validation"),
                              part="validation")
    return (results.write_results(profile, notebook, payload),
            results.write_predictions(profile, notebook, predictions_table(evaluations)))


def gap_scores(frame: pd.DataFrame, folds: Sequence[splits.Fold], final: FinalModel,
               seeds: Sequence[int]) -> dict[str, dict[int, float]]:
    """Mean-over-folds test MSE per regime of :mod:`~occupancy_utils.protocol_gap` and
    seed, for a final model with one configuration on every fold, run under both
    protocols: its report and clean runs are reused; the ``held_out`` runs are trained
    here, as :func:`evaluate` trains (one thread, seeded per fold)."""
    if nested.distinct(final.chosen) != 1 or not {"report", "clean"} <= set(final.evaluations):
        raise ValueError(f"{final.label}: the protocol gap needs one configuration on every "
                         f"fold run under both protocols")
    params = next(iter(final.chosen.values()))
    reused = {p: {s: float(e["test_mse"]) for s, e in final.evaluations[p].items()}
              for p in ("report", "clean")}

    def train(regime: str, seed: int) -> float:
        preds = []
        for fold in folds:
            parts = protocol_gap.regime_parts(frame, fold, list(data.NON_LIGHT_FEATURES),
                                              regime, final.settings.val_fraction)
            with training.torch_threads(1):
                run = train_fold(frame, fold, "clean" if regime == "clean" else "report",
                                 params, final.settings, seed, parts=parts)
            preds.append(prediction_frame(run))
        return float(experiment.summarize(preds)["mean"]["mse"])

    return protocol_gap.paired_scores(reused, seeds, protocol_gap.per_seed(train))
