"""Successive halving over the folds, in time order: a grid search that stops training the
configurations the earlier folds already rank low.

Why (#16): a grid point of the LSTM's structure search is trained on every fold, and
the folds are expanding windows, so the last fold (8,338 training rows of 15,922 summed
over the four) costs about half of it. Most structures are hopeless long before then.
Here every grid point trains on fold 1; after each fold but the last, the points are
ranked by their mean monitored MSE over the folds trained so far, and only the best
``keep`` share (rounded up, at least one) goes on to the next fold. With ``keep = 0.5``
a 48-point grid trains 48, 24, 12 and 6 points on folds 1-4: on the full profile's
stored learning records about 30 % of the exhaustive grid's training epochs (see
benchmarks/README.md, which also replays the rule against the exhaustive choices).

Why it does not leak under the clean protocol: fold k still chooses the lowest MSE on
its own validation tail (:func:`choose`), but only among the points that reached fold
k. Which points reach fold k depends on the tails of folds 1 to k-1, and each of
those lies inside its own fold's training part, before fold k's test part; so no test
row of fold k reaches fold k's choice (``tests/test_halving.py`` perturbs them and
compares). Optuna's pruners decide on whichever trials happen to have finished, so
their choices depend on how workers race; this rule proceeds fold by fold and is the
same with any number of workers.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import nested, search


def check_keep(keep: float, name: str = "the halving keep share") -> float:
    """``keep`` as a float; a one-line error naming ``name`` unless 0 < keep <= 1 (1: the
    exhaustive grid). The share itself has no default here: profiles set it."""
    if isinstance(keep, bool) or not isinstance(keep, (int, float)) or not 0 < keep <= 1:
        raise ValueError(f"{name} must be in (0, 1], got {keep!r}")
    return float(keep)


def survivors(scores: np.ndarray, keep: float) -> list[int]:
    """Which rows of ``scores`` (points in grid order x folds trained so far) go on.

    **The rule:** rank by the mean over the folds, ties to the earlier row (grid
    order, never a test score); keep the first ``ceil(keep * rows)``, at least one.
    Returned in grid order. A NaN score is refused: it would rank arbitrarily.
    """
    keep = check_keep(keep)
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 2 or scores.shape[0] == 0 or scores.shape[1] == 0:
        raise ValueError(f"survivors need a (points, folds) array of scores, got shape "
                         f"{scores.shape}")
    if np.isnan(scores).any():
        raise ValueError("a monitored MSE is NaN: the points cannot be ranked on it")
    n = max(1, math.ceil(keep * len(scores) - 1e-9))
    order = np.argsort(scores.mean(axis=1), kind="stable")
    return sorted(int(i) for i in order[:n])


def point_objective(params: dict[str, Any], *, objective: Callable[..., Mapping[str, Any]],
                    points: Sequence[Mapping[str, Any]], fold: int, **bound: Any
                    ) -> dict[str, Any]:
    """The stored rung's objective: grid point number ``params["point"]`` on ``fold``.

    Module level so that search workers can pickle it; ``bound`` goes on to
    ``objective`` (the worker's thread count).
    """
    return dict(objective(dict(points[int(params["point"])]), fold=fold, **bound))


def run(name: str, grid: Mapping[str, Sequence[Any]], objective: Callable[..., Mapping[str, Any]],
        fold_numbers: Sequence[int], *, keep: float, settings: Mapping[str, Any],
        schema: int, bound: Mapping[str, Any] | None = None,
        **run_args: Any) -> pd.DataFrame:
    """Successive halving of ``grid`` over ``fold_numbers`` (in time order).

    ``objective(params, fold=k, **bound)`` trains one point on fold k and returns
    its record, with ``mse`` the monitored MSE on that fold (the LSTM's
    :func:`~occupancy_utils.lstm_study.fold_objective`). Each fold is one stored,
    resumable :func:`~occupancy_utils.search.run_grid` named ``<name>-fold<k>``
    over the numbers of the points that reached it, keyed with ``settings``,
    the whole grid and ``keep``; ``run_args`` go to it (profile, storage,
    workers, seed, progress). Returns :func:`table`.
    """
    keep = check_keep(keep)
    points = search.grid_points(grid)
    alive = list(range(len(points)))
    records: dict[tuple[int, int], dict[str, Any]] = {}
    names = []
    for r, k in enumerate(fold_numbers):
        fold_objective = functools.partial(point_objective, objective=objective, points=points,
                                           fold=k, **(bound or {}))
        found = search.run_grid(
            f"{name}-fold{k}", {"point": alive}, fold_objective,
            settings={**settings, "grid": {g: list(v) for g, v in grid.items()},
                      "keep": keep, "fold": k}, schema=schema, **run_args)
        names.append(found.attrs["study_name"])
        for row in found.to_dict("records"):
            records[(int(row["point"]), k)] = row
        if r < len(fold_numbers) - 1:
            scores = np.array([[records[(i, f)]["mse"] for f in fold_numbers[:r + 1]]
                               for i in alive])
            alive = [alive[j] for j in survivors(scores, keep)]
    out = table(points, records, fold_numbers)
    out.attrs["study_names"] = tuple(names)
    return out


def table(points: Sequence[Mapping[str, Any]], records: Mapping[tuple[int, int], Mapping],
          fold_numbers: Sequence[int]) -> pd.DataFrame:
    """One row per grid point, in grid order, in the shape of an exhaustive search's table.

    ``fold_mse`` / ``test_fold_mse`` / ``epochs`` hold one entry per fold, NaN
    (or 0 epochs) where the point was not trained; ``folds_reached`` counts its
    folds; ``mse`` is the mean over the folds for the points that reached the
    last one, NaN for the others; ``seconds`` sums its trainings.
    """
    rows = []
    for i, point in enumerate(points):
        got = [records.get((i, k)) for k in fold_numbers]
        fold_mse = [float(g["mse"]) if g else np.nan for g in got]
        rows.append({
            **point, "point": i, "folds_reached": sum(g is not None for g in got),
            "mse": float(np.mean(fold_mse)) if all(got) else np.nan, "fold_mse": fold_mse,
            "test_fold_mse": [float(g["test_mse"]) if g else np.nan for g in got],
            "epochs": [int(g["epochs"][0]) if g else 0 for g in got],
            "seconds": float(sum(g["seconds"] for g in got if g)),
        })
    return pd.DataFrame(rows)


def trained_per_fold(found: pd.DataFrame, fold_numbers: Sequence[int]) -> dict[int, int]:
    """How many grid points were trained on each fold (a NaN ``fold_mse``: not trained);
    every point on every fold for an exhaustive search's table."""
    per_fold = np.array([list(v) for v in found["fold_mse"]], dtype=float)
    return {k: int((~np.isnan(per_fold[:, i])).sum()) for i, k in enumerate(fold_numbers)}


def choose(found: pd.DataFrame, grid: Mapping[str, Sequence[Any]],
           fold_numbers: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Fold k's point: :func:`~occupancy_utils.nested.choose` (lowest MSE on fold k's own
    monitored part, ties to the earlier grid point) among the points trained on fold k.

    ``found`` is in grid order (:func:`table`, or an exhaustive search's table,
    where every point reached every fold and this is ``nested.choose``).
    """
    per_fold = np.array([list(v) for v in found["fold_mse"]], dtype=float)
    out = {}
    for i, k in enumerate(fold_numbers):
        reached = found[~np.isnan(per_fold[:, i])]
        if reached.empty:
            raise ValueError(f"no grid point was trained on fold {k}")
        column = reached.assign(fold_mse=[[v[i]] for v in reached["fold_mse"]])
        out[k] = nested.choose(column, grid, [k])[k]
    return out


def replay(found: pd.DataFrame, fold_numbers: Sequence[int], keep: float,
           fold_cost: Sequence[float] | None = None) -> pd.DataFrame:
    """The rule replayed on an exhaustive search's records (every point on every fold).

    Per fold: the point the exhaustive grid chooses there (lowest own MSE), the
    one halving chooses (the same among the points that reach the fold), whether
    they agree (or tie on the fold's MSE), and their MSEs on the fold's monitored
    and test parts (read, never chosen on). The last row (``fold`` = "mean") is
    the report protocol's one choice by the mean over folds. ``attrs["cost"]``:
    halving's share of the exhaustive grid's epochs, each fold's weighted by
    ``fold_cost`` (e.g. its training rows; 1 each when not given).
    """
    mse = np.array([list(v) for v in found["fold_mse"]], dtype=float)
    test = np.array([list(v) for v in found["test_fold_mse"]], dtype=float)
    epochs = np.array([list(v) for v in found["epochs"]], dtype=float)
    if np.isnan(mse).any():
        raise ValueError("replay needs an exhaustive search: every point on every fold")
    weight = np.ones(len(fold_numbers)) if fold_cost is None else np.asarray(fold_cost, float)
    alive = list(range(len(mse)))
    reached = []
    for r in range(len(fold_numbers)):
        reached.append(list(alive))
        if r < len(fold_numbers) - 1:
            alive = [alive[j] for j in survivors(mse[alive, : r + 1], keep)]
    rows = []
    for r, k in enumerate(fold_numbers):
        full, pruned = int(np.argmin(mse[:, r])), reached[r][int(np.argmin(mse[reached[r], r]))]
        rows.append({"fold": str(k), "exhaustive": full, "halving": pruned,
                     "same": full == pruned, "tied": bool(mse[full, r] == mse[pruned, r]),
                     "mse_exhaustive": mse[full, r], "mse_halving": mse[pruned, r],
                     "test_exhaustive": test[full, r], "test_halving": test[pruned, r]})
    full = int(np.argmin(mse.mean(axis=1)))
    last = reached[-1]
    pruned = last[int(np.argmin(mse[last].mean(axis=1)))]
    rows.append({"fold": "mean", "exhaustive": full, "halving": pruned, "same": full == pruned,
                 "tied": bool(mse[full].mean() == mse[pruned].mean()),
                 "mse_exhaustive": mse[full].mean(), "mse_halving": mse[pruned].mean(),
                 "test_exhaustive": test[full].mean(), "test_halving": test[pruned].mean()})
    out = pd.DataFrame(rows)
    spent = sum((epochs[reached[r], r] * weight[r]).sum() for r in range(len(fold_numbers)))
    out.attrs["cost"] = float(spent / (epochs * weight).sum())
    return out


def replay_stored(storage: str, keep: float, fold_numbers: Sequence[int],
                  fold_cost: Sequence[float] | None = None, contains: str = "-structure"
                  ) -> pd.DataFrame:
    """:func:`replay` on the latest stored exhaustive search of each name holding
    ``contains`` whose records hold every fold's monitored MSE, test MSE and epochs
    (the LSTM's all-fold structure searches,
    :func:`~occupancy_utils.lstm_study.search_objective`).

    One row per (search, fold), with the search's name and its cost share. For
    ``make bench``: how often halving would have kept the exhaustive grid's choices.
    """
    import optuna  # only when a storage is read

    rows = []
    for name, summary in search.latest_studies(storage).items():
        key = summary.user_attrs["cache_key"]
        if contains not in name or not isinstance(key, dict) or not summary.n_trials:
            continue
        grid = key.get("grid", {})
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        try:
            found = search.in_grid_order(search.results_frame(study, grid), grid)
        except (RuntimeError, KeyError):
            continue
        needed = {"fold_mse", "test_fold_mse", "epochs"}
        if (not needed <= set(found) or len(found) < len(search.grid_points(grid))
                or any(len(v) != len(fold_numbers) for v in found["fold_mse"])):
            continue
        replayed = replay(found, fold_numbers, keep, fold_cost)
        rows.append(replayed.assign(search=name, points=len(found),
                                    cost=replayed.attrs["cost"]))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
