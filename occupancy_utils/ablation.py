"""Random forests for chapter 2: the report's light-sensor experiment and its extensions.

The report compared a random forest with and without the four light sensors
and dropped them. Here the same forest runs on the book's four folds for any
feature set (every sensor group dropped in turn, or kept alone), permutation
importance asks what each sensor carries once a model is fixed, and a protocol
comparison shows which validation scheme gives numbers like the report's. The
chapter's tables and verdicts on these runs are :mod:`~occupancy_utils.findings.ablation`'s.

A forest has no early stopping, so the ``report`` and ``clean`` protocols of
the other chapters coincide for it: nothing is chosen on any test row.
Features are min-max scaled on the training part, like every other model's,
although a tree's splits do not change under a monotonic rescaling.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import KFold
from tqdm import tqdm

from . import experiment, metrics, results, splits, training
from .data import FEATURE_GROUPS, FEATURES, TARGET


def check_forest_params(n_estimators: int, n_jobs: int, seeds: Sequence[int] = (0,),
                        repeats: int = 1) -> None:
    """Fail before any fit, naming the parameter, on settings a forest cannot use."""
    if not isinstance(n_estimators, int) or n_estimators < 1:
        raise ValueError(f"n_estimators must be a positive integer, got {n_estimators!r}")
    if not isinstance(n_jobs, int) or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive integer, got {n_jobs!r}")
    training.check_seeds(seeds)
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"permutation_repeats must be a positive integer, got {repeats!r}")


def feature_sets(groups: Mapping[str, Sequence[str]] = FEATURE_GROUPS,
                 features: Sequence[str] = FEATURES) -> dict[str, list[str]]:
    """All features, each group dropped in turn, and each group alone.

    Dropping a group shows what the others can make up for; a group alone
    shows what it carries by itself. The report's two runs are the first two.
    """
    out = {"all features": list(features)}
    for name, cols in groups.items():
        out[f"without {name}"] = [f for f in features if f not in cols]
    for name, cols in groups.items():
        out[f"only {name}"] = list(cols)
    return out


def _forest(random_state: int, n_estimators: int, n_jobs: int) -> RandomForestClassifier:
    return RandomForestClassifier(n_estimators=n_estimators, random_state=random_state,
                                  n_jobs=n_jobs)


@dataclass
class ForestRun(experiment.FittedFolds):
    """One forest per fold on one feature set and seed, with its predictions and timings."""

    features: list[str] = field(default_factory=list)
    random_state: int = 0


def run_forest(frame: pd.DataFrame, folds: Sequence[splits.Fold], features: Sequence[str], *,
               random_state: int, n_estimators: int, n_jobs: int = 1) -> ForestRun:
    """Train on each fold's training part, predict its test part (labels and p0..p3)."""
    check_forest_params(n_estimators, n_jobs)
    y = frame[TARGET].to_numpy()
    predictions, models, train_s, predict_s = [], [], 0.0, 0.0
    for fold in folds:
        x = splits.scaled_parts(frame, fold, list(features))
        model = _forest(random_state, n_estimators, n_jobs)
        start = time.perf_counter()
        model.fit(x["train"], y[fold.train])
        train_s += time.perf_counter() - start
        start = time.perf_counter()
        proba = experiment.class_probabilities(model, x["test"])
        predict_s += time.perf_counter() - start
        y_pred = np.asarray(metrics.LABELS)[proba.argmax(axis=1)]
        predictions.append(experiment.prediction_frame(
            fold.number, fold.test, y[fold.test], y_pred,
            **{name: proba[:, i] for i, name in enumerate(experiment.PROBA_COLUMNS)}))
        models.append(model)
    return ForestRun(predictions, models, train_s, predict_s, features=list(features),
                     random_state=random_state)


def run_feature_sets(frame: pd.DataFrame, folds: Sequence[splits.Fold],
                     sets: Mapping[str, Sequence[str]], *, random_state: int,
                     n_estimators: int, n_jobs: int = 1,
                     progress: bool = True) -> dict[str, ForestRun]:
    """:func:`run_forest` for every named feature set, with a progress bar."""
    check_forest_params(n_estimators, n_jobs)
    return {name: run_forest(frame, folds, cols, random_state=random_state,
                             n_estimators=n_estimators, n_jobs=n_jobs)
            for name, cols in tqdm(sets.items(), desc="feature sets", disable=not progress)}


# -- permutation importance ---------------------------------------------------------------


def permutation_importance(frame: pd.DataFrame, folds: Sequence[splits.Fold], run: ForestRun,
                           items: Mapping[str, Sequence[str]], *, repeats: int, seed: int,
                           progress: bool = True) -> pd.DataFrame:
    """Pooled F1 macro lost and MSE gained when the columns of an item are shuffled.

    The fitted forests of ``run`` stay fixed; in each fold's test part the
    columns of one item (a sensor, or a whole group, shuffled with one
    permutation so the sensors of a group stay consistent with each other)
    are permuted, the four folds' predictions are pooled and scored. Shuffling
    a group answers what the model loses without it; shuffling one of four
    correlated sensors mostly shows how easily the others stand in for it.
    Computed after the models are fixed, it informs no model choice.
    """
    check_forest_params(1, 1, repeats=repeats)
    unknown = sorted({c for cols in items.values() for c in cols} - set(run.features))
    if unknown:
        raise ValueError(f"items: columns {unknown} are not features of the run")
    y = frame[TARGET].to_numpy()
    tests = [splits.scaled_parts(frame, fold, run.features)["test"] for fold in folds]
    y_true = np.concatenate([y[fold.test] for fold in folds])

    def pooled(xs: list[np.ndarray]) -> dict[str, float]:
        y_pred = np.concatenate([model.predict(x) for model, x in zip(run.models, xs,
                                                                       strict=True)])
        return metrics.scores(y_true, y_pred)

    base = pooled(tests)
    rng = np.random.default_rng(seed)
    rows = []
    for name, cols in tqdm(items.items(), desc="permutation importance", disable=not progress):
        where = [run.features.index(c) for c in cols]
        for r in range(repeats):
            shuffled = []
            for x in tests:
                x = x.copy()
                x[:, where] = x[rng.permutation(len(x))][:, where]
                shuffled.append(x)
            s = pooled(shuffled)
            rows.append({"item": name, "repeat": r,
                         "F1 macro drop": base["f1_macro"] - s["f1_macro"],
                         "MSE increase": s["mse"] - base["mse"]})
    return pd.DataFrame(rows)


# -- where could the report's numbers come from? --------------------------------------------


def holdout_start(n_rows: int, holdout: float) -> int:
    """Where the chronological hold-out's test part starts: after the first ``1 - holdout``
    of the rows."""
    return int(round(n_rows * (1 - holdout)))


def protocol_comparison(frame: pd.DataFrame, sets: Mapping[str, Sequence[str]], *,
                        random_state: int, n_estimators: int, holdout: float,
                        shuffled_folds: int, n_jobs: int = 1,
                        progress: bool = True) -> pd.DataFrame:
    """F1 macro of the same forest under two other validation schemes.

    * shuffled k-fold: rows assigned to folds at random, so almost every test
      reading has its 30-second neighbours in training (leaky for a time series);
    * chronological hold-out: train on the first ``1 - holdout`` of the rows,
      test on the rest (one split, no class 1 in its test part).

    The report does not say how it validated the forest; this shows which
    scheme produces numbers like its 0.98 and 0.36. Nothing here is used to
    choose anything.
    """
    check_forest_params(n_estimators, n_jobs)
    if not 0 < holdout < 1:
        raise ValueError(f"holdout must be in (0, 1), got {holdout!r}")
    if not isinstance(shuffled_folds, int) or shuffled_folds < 2:
        raise ValueError(f"shuffled_folds must be an integer >= 2, got {shuffled_folds!r}")
    y = frame[TARGET].to_numpy()
    n_train = holdout_start(len(frame), holdout)
    schemes = {
        f"shuffled {shuffled_folds}-fold (pooled)": list(
            KFold(shuffled_folds, shuffle=True, random_state=random_state).split(frame)),
        f"chronological hold-out, last {holdout:.0%}": [
            (np.arange(n_train), np.arange(n_train, len(frame)))],
    }
    rows = {}
    jobs = [(s, n) for s in schemes for n in sets]
    for scheme, name in tqdm(jobs, desc="protocols", disable=not progress):
        values = frame[list(sets[name])].to_numpy(dtype="float64")
        y_true, y_pred = [], []
        for train, test in schemes[scheme]:
            scaler = splits.fit_scaler(values[train])
            model = _forest(random_state, n_estimators, n_jobs)
            model.fit(scaler.transform(values[train]), y[train])
            y_true.append(y[test])
            y_pred.append(model.predict(scaler.transform(values[test])))
        rows.setdefault(scheme, {})[name] = metrics.scores(
            np.concatenate(y_true), np.concatenate(y_pred))["f1_macro"]
    return pd.DataFrame(rows).T


# -- results for the comparison chapter ------------------------------------------------------


def results_entry(runs: Mapping[int, ForestRun], *, label: str, params: dict) -> dict:
    """The ``models.random_forest`` entry of the results schema (CONTRIBUTING.md).

    A forest has no early stopping, so the same summary is stored under both
    protocols; ``note`` says so.
    """
    block = results.protocol_block(
        {seed: run.summary() for seed, run in runs.items()},
        train_seconds=np.mean([r.train_seconds for r in runs.values()]),
        predict_seconds=np.mean([r.predict_seconds for r in runs.values()]))
    return results.model_entry(
        label, params, probabilistic=True, protocols={"report": block, "clean": block},
        note="no early stopping: the report and clean protocols are the same run")


def predictions_frame(runs: Mapping[int, ForestRun], model: str = "random_forest"
                      ) -> pd.DataFrame:
    """Per-row predictions of every seed, under both protocols (the same rows)."""
    return experiment.predictions_table(
        (model, protocol, seed, p) for seed, run in runs.items()
        for protocol in ("report", "clean") for p in run.predictions)


