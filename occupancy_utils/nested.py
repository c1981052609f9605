"""Nested, per-fold selection for the fit/predict families, and their final models.

The rule: nothing scored on fold k's test part may depend on fold k's test
rows, directly or through another fold. Choosing one configuration by the mean
validation score over the folds breaks it, because the folds are expanding
windows and each later fold's validation tail lies inside an earlier fold's
test part. So every fold chooses **on its own monitored part** (chapter 3):

1. the search trains every grid point on each fold's ``fit`` part and scores
   it on that fold's ``monitor`` part (:func:`monitor_scores`), one stored
   trial per grid point (:func:`monitor_table`, resumable, shared between workers);
2. :func:`choose` takes, for fold k, the grid point with the lowest MSE on fold
   k's monitored part alone, ties going to the earlier grid point, never to a
   test score;
3. :func:`final_models` fits fold k's choice on fold k's ``fit`` part for every seed
   and predicts fold k's test part.

Under ``clean`` the monitored part is the training part's tail, so fold k's test
rows reach nothing that fold k's predictions depend on
(``tests/test_leakage.py`` replaces them with noise and compares). Under
``report`` it is the test part itself: the report's slip, kept for comparison.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from threadpoolctl import threadpool_limits

from . import experiment, features, finals, metrics, search, splits
from .data import NON_LIGHT_FEATURES, TARGET
from .experiment import FittedFolds
from .families import Family, family
from .results import model_entry, plain
from .tables import joined
from .training import PROTOCOLS, check_protocol

#: Version of what the search records hold (see cache_key).
SCHEMA = 1


@dataclass(frozen=True)
class Settings:
    """Everything besides the grid point that changes a family's numbers."""

    windows: tuple[int, ...]
    val_fraction: float
    seed: int = 0
    #: Which folds (:data:`~occupancy_utils.splits.DESIGNS`): the hand-made four or the
    #: rolling-origin six.
    design: str = "hand"

    def __post_init__(self) -> None:
        object.__setattr__(self, "windows", tuple(features.check_windows(self.windows)))
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.design not in splits.DESIGNS:
            raise ValueError(f"design must be one of {splits.DESIGNS}, got {self.design!r}")

    def as_dict(self) -> dict[str, Any]:
        """Plain values, for the search's key."""
        return {"windows": list(self.windows), "val_fraction": self.val_fraction,
                "seed": self.seed, "design": self.design}


def inputs(frame: pd.DataFrame, family: type[Family], windows: Sequence[int]
           ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The rows a family reads (windowed features, or one constant column), labels, names."""
    y = frame[TARGET].to_numpy()
    if not family.windowed:
        return np.zeros((len(frame), 1)), y, ["none"]
    x = features.windowed(frame, NON_LIGHT_FEATURES, windows)
    return x.to_numpy(), y, list(x.columns)


def monitor_scores(frame: pd.DataFrame, folds: Sequence[splits.Fold], family: type[Family],
                   params: Mapping[str, Any], protocol: str, settings: Settings,
                   threads: int = 1) -> dict[str, Any]:
    """One grid point fitted on each fold's ``fit`` part, scored on its ``monitor`` part.

    ``fold_mse`` holds one MSE (on labels) per fold; ``mse`` their mean, which
    the search stores as the trial's value but no choice uses.
    """
    check_protocol(protocol)
    x, y, _ = inputs(frame, family, settings.windows)
    fold_mse = []
    with threadpool_limits(limits=threads):  # thread counts change the last digits
        for fold in folds:
            parts = experiment.part_positions(fold, protocol, settings.val_fraction)
            model = family.make(params, settings.seed).fit(x[parts["fit"]], y[parts["fit"]])
            proba = experiment.class_probabilities(model, x[parts["monitor"]])
            pred = np.asarray(metrics.LABELS)[proba.argmax(axis=1)]
            fold_mse.append(metrics.scores(y[parts["monitor"]], pred)["mse"])
    return {"mse": float(np.mean(fold_mse)), "fold_mse": fold_mse}


def objective(params: dict[str, Any], *, family: type[Family], protocol: str,
              settings: dict[str, Any], threads: int = 1) -> dict[str, Any]:
    """The stored search's objective: :func:`monitor_scores` on the book's data and folds."""
    frame, _ = experiment.search_data()
    folds = splits.design_folds(frame.index, settings["design"])
    return monitor_scores(frame, folds, family, params, protocol, Settings(**settings), threads)


def monitor_table(family: type[Family], grid: Mapping[str, Sequence[Any]], protocol: str,
                  settings: Settings, *, profile: str, frame: pd.DataFrame | None = None,
                  folds: Sequence[splits.Fold] | None = None, storage: str | None = None,
                  workers: int = 1, threads: int = 1, progress: bool = True) -> pd.DataFrame:
    """Every grid point's per-fold monitored MSE, one row per point in grid order.

    On the book's data (``frame`` None) this is a stored, resumable search
    (:func:`~occupancy_utils.search.run_grid`). Given a ``frame`` (a test's
    perturbed copy) it computes in memory with the same :func:`monitor_scores`:
    a stored search is keyed on code and settings, not on data.
    """
    family.check(grid)
    points = search.grid_points(grid)
    if frame is not None:
        if folds is None:
            raise ValueError("a frame needs its folds")
        rows = [{**p, **monitor_scores(frame, folds, family, p, protocol, settings, threads)}
                for p in points]
        return pd.DataFrame(rows)
    design = "" if settings.design == "hand" else f"-{settings.design}"
    found = search.run_grid(
        f"07_{family.key}-{protocol}{design}", grid,
        functools.partial(objective, family=family, protocol=protocol,
                          settings=settings.as_dict(), threads=threads),
        profile=profile, settings=settings.as_dict(), schema=SCHEMA, storage=storage,
        workers=workers, seed=settings.seed, progress=progress)
    return search.in_grid_order(found, grid)


def _fold_matrix(found: pd.DataFrame, fold_numbers: Sequence[int]) -> np.ndarray:
    """``found["fold_mse"]`` as a (candidates, folds) array; a one-line error when the
    records hold another number of folds."""
    per_fold = np.array([list(v) for v in found["fold_mse"]], dtype=float)
    if per_fold.ndim != 2 or per_fold.shape[1] != len(fold_numbers):
        raise ValueError(f"records hold {per_fold.shape[-1] if per_fold.ndim == 2 else 0} "
                         f"folds, expected {len(fold_numbers)}")
    return per_fold


def choose(found: pd.DataFrame, grid: Mapping[str, Sequence[Any]], fold_numbers: Sequence[int]
           ) -> dict[int, dict[str, Any]]:
    """Fold k's configuration: lowest MSE on fold k's own monitored part.

    ``found`` is :func:`monitor_table`'s table in grid order; a tie goes to the
    earlier grid point (``argmin`` takes the first), never to a test score.
    """
    if not grid:
        return {k: {} for k in fold_numbers}
    per_fold = _fold_matrix(found, fold_numbers)
    if np.isnan(per_fold).any():
        raise ValueError("a monitored MSE is NaN: no configuration can be chosen on it")
    keys = list(grid)
    return {k: {key: plain(found.iloc[int(per_fold[:, i].argmin())][key]) for key in keys}
            for i, k in enumerate(fold_numbers)}


def tied_at_minimum(found: pd.DataFrame, fold_numbers: Sequence[int]) -> dict[int, int]:
    """Per fold: how many candidates share the lowest monitored MSE (1: a clear choice).

    Why it is shown: a short validation tail scores labels, so many candidates
    can reach exactly the same MSE; then the tie rule of :func:`choose`, not
    the data, picks among them. A NaN is a candidate not trained on that fold
    (pruned, :mod:`~occupancy_utils.halving`) and is not counted.
    """
    per_fold = _fold_matrix(found, fold_numbers)
    out = {}
    for i, k in enumerate(fold_numbers):
        column = per_fold[:, i][~np.isnan(per_fold[:, i])]
        tied = np.isclose(column, column.min(), rtol=0, atol=1e-12) if len(column) else column
        out[k] = int(tied.sum())
    return out


def ties_text(ties: Mapping[int, int], candidates: int | Mapping[int, int]) -> str:
    """The tie counts as the chapters print them, e.g. '7 of 20 tie on fold 1, a single
    best on folds 2, 3 and 4'; ``candidates`` per fold where folds had different
    numbers (a halving search), and a fold left with one candidate is named as such."""
    per_fold = (dict(candidates) if isinstance(candidates, Mapping)
                else dict.fromkeys(ties, candidates))
    single = [str(k) for k in ties if per_fold[k] == 1]
    if len(single) == len(ties):
        return "one candidate, nothing to choose"
    tied = [f"{n} of {per_fold[k]} tie on fold {k}" for k, n in ties.items() if n > 1]
    clear = [str(k) for k, n in ties.items() if n == 1 and per_fold[k] > 1]

    def folds(ks: list[str]) -> str:
        return f"fold{'s' if len(ks) > 1 else ''} {joined(ks)}"

    if not tied and not single:
        how_many = (f"the {per_fold[next(iter(per_fold))]} candidates"
                    if len(set(per_fold.values())) == 1 else "its candidates")
        return f"no ties (a single best of {how_many} on every fold)"
    parts = tied + ([f"a single best on {folds(clear)}"] if clear else [])
    parts += [f"one candidate on {folds(single)}"] if single else []
    return ", ".join(parts) if tied else f"no ties ({', '.join(parts)})"


def choice_table(runs: finals.Runs,
                 protocol: str = "clean") -> pd.DataFrame:
    """One row per family with something to choose and per fold: the configuration that
    fold chose under ``protocol``, and how many folds chose the same (all: they agree)."""
    return agreement_table({family(key).label: next(iter(by_protocol[protocol].values())).chosen
                            for key, by_protocol in runs.items()})


def config_text(params: Mapping[str, Any]) -> str:
    """'C=0.1, max_iter=100': one configuration as the tables print it."""
    return ", ".join(f"{p}={plain(v)}" for p, v in params.items())


def agreement_table(chosen: Mapping[str, Mapping[int, Mapping[str, Any]]]) -> pd.DataFrame:
    """One row per model (with something to choose) and fold: the configuration that fold
    chose, and how many folds chose the same (all of them: the folds agree).

    ``chosen`` maps a model's label to its per-fold choices (fold number -> parameters),
    as :func:`choose` returns them; every family's chapter shows its choices this way.
    """
    rows = []
    for model, by_fold in chosen.items():
        labels = {k: config_text(params) for k, params in by_fold.items()}
        if not any(labels.values()):
            continue
        for k, label in labels.items():
            same = sum(v == label for v in labels.values())
            rows.append({"model": model, "fold": k, "configuration": label,
                         "folds choosing it": same, "folds": len(labels)})
    return pd.DataFrame(rows, columns=["model", "fold", "configuration", "folds choosing it",
                                       "folds"])


def distinct(chosen: Mapping[int, Mapping[str, Any]]) -> int:
    """How many different configurations the folds chose (1: they all agree)."""
    return len({config_text(p) for p in chosen.values()})


def agreed_values(chosen: Mapping[Any, Mapping[str, Any]]) -> dict[str, Any]:
    """Each parameter's value where every fold chose it, else the folds' values in fold
    order as 'a / b / c / d'. Fold numbers may be ints or, read from JSON, strings."""
    folds = [chosen[k] for k in sorted(chosen, key=int)]
    return {key: folds[0][key] if len({f[key] for f in folds}) == 1
            else " / ".join(f"{f[key]:g}" for f in folds) for key in folds[0]}


def agreeing(choices: pd.DataFrame) -> list[str]:
    """The families whose folds all chose the same configuration."""
    full = choices["folds choosing it"] == choices["folds"]
    return [m for m, ok in full.groupby(choices["model"], sort=False).all().items() if ok]


def agreeing_text(choices: pd.DataFrame) -> str:
    """:func:`agreeing` as the chapter says it, with a branch for none (not "for 0 of 3
    ... (none of them)")."""
    agree, n = agreeing(choices), int(choices["model"].nunique())
    if not agree:
        return (f"for none of the {n} searched baselines did every fold choose the same "
                f"configuration")
    return (f"for {len(agree)} of the {n} searched baselines every fold chose the same "
            f"configuration ({'; '.join(agree)})")


def final_models(frame: pd.DataFrame, folds: Sequence[splits.Fold], family: type[Family],
           chosen: Mapping[int, Mapping[str, Any]], protocol: str, settings: Settings,
           seeds: Sequence[int], threads: int = 1) -> dict[int, FittedFolds]:
    """Fold k's choice fitted on fold k's ``fit`` part for each seed, test parts (and the
    clean protocol's validation tails) predicted: :func:`~occupancy_utils.finals.train`
    with this family's :func:`fit_fold`."""
    x, y, _ = inputs(frame, family, settings.windows)
    fit = functools.partial(fit_fold, family, x, y, settings.val_fraction)
    with threadpool_limits(limits=threads):  # as in the search: the same numbers
        runs = finals.train(fit, folds, {protocol: chosen}, seeds, desc=family.key,
                             progress=False)
    return runs[family.key][protocol]


def fit_fold(family: type[Family], x: np.ndarray, y: np.ndarray, val_fraction: float,
             fold: splits.Fold, config: Mapping[str, Any], protocol: str, seeds: list[int]
             ) -> list[finals.FoldFit]:
    """One family's configuration fitted on one fold's ``fit`` part for each seed."""
    parts = experiment.part_positions(fold, protocol, val_fraction)
    out = []
    for seed in seeds:
        start = time.perf_counter()
        model = family.make(config, seed).fit(x[parts["fit"]], y[parts["fit"]])
        train_s = time.perf_counter() - start
        start = time.perf_counter()
        test = _predicted(model, fold.number, fold.test, x, y)
        predict_s = time.perf_counter() - start
        tail = ({family.key: _predicted(model, fold.number, parts["monitor"], x, y)}
                if protocol == "clean" else {})  # the held-out tail, for chapter 7's thresholds
        out.append(finals.FoldFit({family.key: test}, model, train_s,
                                   {family.key: predict_s}, tail))
    return out


def _predicted(model: Any, fold: int, rows: np.ndarray, x: np.ndarray, y: np.ndarray
               ) -> pd.DataFrame:
    """One fitted model's per-row predictions on ``rows``: argmax and p0..p3."""
    proba = experiment.class_probabilities(model, x[rows])
    return experiment.prediction_frame(
        fold, rows, y[rows], np.asarray(metrics.LABELS)[proba.argmax(axis=1)],
        **{c: proba[:, i] for i, c in enumerate(experiment.PROBA_COLUMNS)})


def run(family: type[Family], grid: Mapping[str, Sequence[Any]], protocol: str,
        settings: Settings, seeds: Sequence[int], *, profile: str,
        frame: pd.DataFrame | None = None, folds: Sequence[splits.Fold] | None = None,
        workers: int = 1, threads: int = 1, storage: str | None = None
        ) -> dict[int, FittedFolds]:
    """Search, choose per fold and fit the finals: a family's whole protocol."""
    if frame is None:
        data = experiment.search_data()[0]
        data_folds = splits.design_folds(data.index, settings.design)
    else:
        data, data_folds = frame, folds
    found = (monitor_table(family, grid, protocol, settings, profile=profile, frame=frame,
                           folds=folds, storage=storage, workers=workers, threads=threads)
             if grid else pd.DataFrame())
    chosen = choose(found, grid, [f.number for f in data_folds])
    return final_models(data, data_folds, family, chosen, protocol, settings, seeds, threads)


def run_families(grids: Mapping[str, Mapping[str, Sequence[Any]]], settings: Settings,
                 seeds: Sequence[int], *, profile: str, protocols: Sequence[str] = PROTOCOLS,
                 workers: int = 1, storage: str | None = None
                 ) -> finals.Runs:
    """:func:`run` for every family of ``grids`` (family key -> grid) under every protocol."""
    return {key: {protocol: run(family(key), grid, protocol, settings, seeds, profile=profile,
                                workers=workers, storage=storage)
                  for protocol in protocols}
            for key, grid in grids.items()}


def results_entries(runs: finals.Runs) -> dict[str, dict]:
    """Each family's entry in the results schema (CONTRIBUTING.md), both protocols."""
    return {key: results_entry(family(key), by_protocol) for key, by_protocol in runs.items()}


def results_entry(fam: type[Family], runs: Mapping[str, Mapping[int, FittedFolds]]) -> dict:
    """A family's entry in the results schema (CONTRIBUTING.md), both protocols."""
    return model_entry(fam.label, {}, probabilistic=True,
                       protocols=finals.protocol_blocks(runs),
                       note="chosen per fold on that fold's monitored part (nested)")


def importances(frame: pd.DataFrame, folds: Sequence[splits.Fold], family: type[Family],
                run_: FittedFolds, settings: Settings, repeats: int, top: int) -> pd.DataFrame:
    """Permutation importance of each input on each fold's test part (rise in MSE when
    the column is shuffled), averaged over folds; the ``top`` largest, largest first."""
    x, y, names = inputs(frame, family, settings.windows)
    per_fold = []
    for fold, model in zip(folds, run_.models, strict=True):
        result = permutation_importance(
            model, x[fold.test], y[fold.test], scoring="neg_mean_squared_error",
            n_repeats=repeats, random_state=settings.seed)
        per_fold.append(result.importances_mean)
    table = pd.DataFrame(per_fold, columns=names, index=[f.number for f in folds])
    out = pd.DataFrame({"feature": names, "mse increase": table.mean().to_numpy(),
                        "fold spread": table.std(ddof=0).to_numpy()})
    return out.sort_values("mse increase", ascending=False).head(top).reset_index(drop=True)
