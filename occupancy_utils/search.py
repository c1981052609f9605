"""Grid searches on Optuna, resumable and shareable between workers.

Every grid point is one Optuna trial whose objective trains a configuration on
all folds and returns its mean MSE; the per-fold records go into the trial's
user attributes, so tables and plots are made from the storage without
training again. The storage (SQLite under ``results/<profile>/`` by default,
``OPTUNA_STORAGE`` for a shared database) is what makes an interrupted run
resume: finished points are never recomputed.

Groups: with ``batch_keys`` one trial is a *group* of grid points (every
combination of those keys for one value of the others), which the objective
trains together (e.g. :class:`~occupancy_utils.models.crf.MLPCRFStack`). The trial stores one
record per point; :func:`results_frame` and :func:`points_study` unfold them,
so tables and Optuna's plots still see one row or trial per grid point. A
group is then the unit of resuming and of sharing out between workers.

Exactly once: Optuna's GridSampler hands each point to one trial, but when
workers race at the end of a grid it may hand out a point a second time. The
wrapper here prunes such a duplicate before it trains, and points whose trial
failed (an interrupted run) are queued again.

Workers that do not fail each other: every storage, SQLite included, keeps a
heartbeat for each running trial. A trial whose worker died (killed, machine
lost) is failed once its heartbeat is older than the grace period and then run
again; a trial another live process is running (a JupyterLab session beside
``make book``) is waited for, never failed.

Stored searches are named by their key (:mod:`~occupancy_utils.cache_key`): the
grid, the settings, a schema version, the code the objective reaches (without
docstrings and comments), the libraries and the device. When a stored search
of the same name has another key, the new one says what changed.
"""

from __future__ import annotations

import contextlib
import json
import math
import multiprocessing as mp
import os
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState
from tqdm import tqdm  # text bars: tqdm.auto needs ipywidgets, whose output needs a CDN

from . import cache_key
from .paths import results_dir
from .results import plain

Objective = Callable[[dict[str, Any]], Mapping[str, Any]]
_CLAIMED = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)

optuna.logging.set_verbosity(optuna.logging.WARNING)


def default_storage(profile: str) -> str:
    """``OPTUNA_STORAGE`` if set, else a SQLite file under results/<profile>/."""
    url = os.environ.get("OPTUNA_STORAGE")
    if url:
        return url
    return f"sqlite:///{results_dir(profile) / 'optuna.db'}"


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, as a container grants it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no affinity on this platform
        return max(1, os.cpu_count() or 1)


def default_workers(profile: str = "full") -> int:
    """Worker processes for a search: ``WORKERS`` from the environment (make book WORKERS=N).

    Unset or ``auto``: in the full profile one per usable core. On the 2-core
    machine two workers of one torch thread each ran the grouped CRF search 1.35
    times as fast as one worker with two threads (``benchmarks/README.md``). In
    the quick profile one: its searches take seconds, less than starting a worker
    process (importing torch) costs.
    """
    workers = positive_int_env("WORKERS")
    if workers is None:
        return usable_cores() if profile == "full" else 1
    return workers


def positive_int_env(name: str) -> int | None:
    """The environment variable ``name`` as a positive integer; None when it is unset or
    ``auto`` (the caller's default). Anything else fails with one line naming it."""
    raw = os.environ.get(name, "auto").strip()
    if raw in ("", "auto"):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}")
    return value


def grid_points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid, in a fixed order (the order of the keys)."""
    points: list[dict[str, Any]] = [{}]
    for key, values in grid.items():
        if not values:
            raise ValueError(f"grid parameter {key!r} has no values")
        points = [{**p, key: v} for p in points for v in values]
    return points


def in_grid_order(frame: pd.DataFrame, grid: Mapping[str, Sequence[Any]]) -> pd.DataFrame:
    """``frame``'s rows (one per grid point, columns named as the grid's keys) in grid order.

    Grid order, not trial order: Optuna hands out points shuffled (and workers
    race), so only the grid order makes a tie-break reproducible.
    """
    order = {point_key(p): i for i, p in enumerate(grid_points(grid))}
    rank = [order[point_key(r)] for r in frame[list(grid)].to_dict("records")]
    return frame.assign(_order=rank).sort_values("_order", kind="stable").drop(
        columns="_order").reset_index(drop=True)


def point_key(params: Mapping[str, Any]) -> str:
    """One string per grid point, whatever the key order or numeric type (numpy or not)."""
    values = {k: plain(v) for k, v in params.items()}
    return json.dumps(dict(sorted(values.items())), default=str)


#: Seconds between a running trial's heartbeats, and after the last one until the trial
#: counts as its worker's death (then it is failed and run again).
HEARTBEAT = (10, 60)
_POLL_SECONDS = 1.0


@contextlib.contextmanager
def _heartbeat_api():
    """Optuna marks its heartbeat API experimental; the book relies on it knowingly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def _storage(url: str, heartbeat: tuple[int, int] = HEARTBEAT) -> optuna.storages.BaseStorage:
    interval, grace = heartbeat
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
    with _heartbeat_api():
        return optuna.storages.RDBStorage(url, heartbeat_interval=interval,
                                          grace_period=grace, **kwargs)


def _fail_dead_workers_trials(study: optuna.Study) -> None:
    """Fail the running trials whose heartbeat is older than the grace period."""
    with _heartbeat_api():
        optuna.storages.fail_stale_trials(study)


def _open(name: str, url: str, grid: Mapping[str, Sequence[Any]], seed: int,
          heartbeat: tuple[int, int] = HEARTBEAT) -> optuna.Study:
    sampler = optuna.samplers.GridSampler({k: list(v) for k, v in grid.items()}, seed=seed)
    return optuna.create_study(study_name=name, storage=_storage(url, heartbeat),
                               sampler=sampler, direction="minimize", load_if_exists=True)


def _status(study: optuna.Study, points: list[dict[str, Any]]) -> dict[str, set[str]]:
    by_state: dict[str, set[str]] = {"complete": set(), "claimed": set(), "failed": set()}
    for t in study.get_trials(deepcopy=False):
        params = t.params or t.system_attrs.get("fixed_params") or {}
        k = point_key(params)
        if t.state == TrialState.COMPLETE:
            by_state["complete"].add(k)
        if t.state in _CLAIMED:
            by_state["claimed"].add(k)
        if t.state == TrialState.FAIL:
            by_state["failed"].add(k)
    wanted = {point_key(p) for p in points}
    return {k: v & wanted for k, v in by_state.items()}


def _requeue_failed(study: optuna.Study, points: list[dict[str, Any]]) -> None:
    status = _status(study, points)
    for p in points:
        k = point_key(p)
        if k in status["failed"] and k not in status["claimed"]:
            study.enqueue_trial(p)


def split_grid(grid: Mapping[str, Sequence[Any]], batch_keys: Sequence[str]
               ) -> tuple[dict[str, list[Any]], list[dict[str, Any]]]:
    """The grid Optuna walks (keys not batched) and the points of one group."""
    unknown = set(batch_keys) - set(grid)
    if unknown:
        raise ValueError(f"batch_keys {sorted(unknown)} are not grid parameters {list(grid)}")
    outer = {k: list(v) for k, v in grid.items() if k not in batch_keys}
    if not outer:
        raise ValueError("batch_keys must leave at least one grid parameter for the trials")
    return outer, grid_points({k: grid[k] for k in grid if k in batch_keys})


def _finite_mse(records: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> float:
    """The lowest ``mse`` of the records; a ValueError if any is not a finite number.

    Optuna would store a NaN as a failed trial without raising, and the point
    would be queued again for ever.
    """
    values = [float(r["mse"]) for r in records]
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"the objective returned a non-finite mse {values} for {dict(params)}")
    return min(values)


def _params_of(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """A trial's grid point: its parameters, or the ones it was queued with (not yet drawn)."""
    return dict(trial.params or trial.system_attrs.get("fixed_params") or {})


def _wrap(objective: Objective, grid: Mapping[str, Sequence[Any]],
          group: list[dict[str, Any]] | None = None):
    def run(trial: optuna.Trial) -> float:
        params = {k: trial.suggest_categorical(k, list(v)) for k, v in grid.items()}
        key = point_key(params)
        for other in trial.study.get_trials(deepcopy=False, states=_CLAIMED):
            if other.number < trial.number and point_key(_params_of(other)) == key:
                trial.set_user_attr("duplicate_of", other.number)
                raise optuna.TrialPruned(f"grid point already taken by trial {other.number}")
        if group is not None:
            records = [{**point, **record}
                       for point, record in zip(group, objective(dict(params), group),
                                                strict=True)]
            mse = _finite_mse(records, params)
            trial.set_user_attr("records", records)
            return mse
        record = dict(objective(dict(params)))
        mse = _finite_mse([record], params)
        for k, v in record.items():
            trial.set_user_attr(k, v)
        return mse
    return run


def _work(name: str, url: str, grid: Mapping[str, Sequence[Any]], objective: Objective,
          seed: int, on_done: Callable[[], None] | None = None,
          group: list[dict[str, Any]] | None = None,
          heartbeat: tuple[int, int] = HEARTBEAT) -> None:
    """Take unclaimed grid points (or groups) one at a time until every one is complete.

    Points another process is running are waited for; a dead worker's trial is
    failed when its heartbeat expires and then queued again here.
    """
    study = _open(name, url, grid, seed, heartbeat)
    points = grid_points(grid)
    wrapped = _wrap(objective, grid, group)
    callbacks = [lambda s, t: on_done()] if on_done else []
    said = False
    while True:
        _fail_dead_workers_trials(study)
        _requeue_failed(study, points)
        status = _status(study, points)
        if len(status["complete"]) >= len(points):
            return
        waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        if len(status["claimed"]) >= len(points) and not waiting:
            if not said:  # the rest is running elsewhere: say so once
                left = len(points) - len(status["complete"])
                print(f"[search] {name}: waiting for {left} configuration(s) another process "
                      f"is running (a dead worker's are run again {heartbeat[1]} s after its "
                      "last heartbeat)", file=sys.stderr, flush=True)
                said = True
            time.sleep(_POLL_SECONDS)
            continue
        study.optimize(wrapped, n_trials=1, callbacks=callbacks)


def _worker_main(name, url, grid, objective, seed, group, heartbeat) -> None:  # pragma: no cover
    _work(name, url, grid, objective, seed, group=group, heartbeat=heartbeat)


def _announce_change(prefix: str, name: str, key: Mapping[str, Any], url: str) -> None:
    """Say why a search starts anew when one of the same prefix is stored under another key."""
    try:
        summaries = optuna.get_all_study_summaries(storage=url, include_best_trial=False)
    except Exception:  # noqa: BLE001 - an empty or new storage has nothing to compare
        return
    if any(s.study_name == name for s in summaries):
        return
    older = [s for s in summaries if s.study_name.startswith(f"{prefix}-key")
             and isinstance(s.user_attrs.get("cache_key"), dict)]
    if not older:
        return
    latest = max(older, key=lambda s: (s.datetime_start is not None, s.datetime_start or 0,
                                       s._study_id))
    change = cache_key.describe_change(latest.user_attrs["cache_key"], key)
    print(f"[search] {prefix}: starting anew; the stored search {latest.study_name} was "
          f"computed with another {change or 'key'} (it stays in the storage)",
          file=sys.stderr, flush=True)


def run_grid(name: str, grid: Mapping[str, Sequence[Any]], objective: Objective, *,
             profile: str, settings: Mapping[str, Any] | None = None, schema: int = 1,
             storage: str | None = None, workers: int = 1, seed: int = 0,
             progress: bool = True, batch_keys: Sequence[str] = (),
             heartbeat: tuple[int, int] = HEARTBEAT) -> pd.DataFrame:
    """Run (or resume) a grid search and return one row per grid point.

    ``settings`` are everything besides the grid that changes the results and
    ``schema`` the family's version of its records; with the code, libraries
    and device they make the search's key (:func:`~occupancy_utils.cache_key.search_key`),
    stored with the study, whose name is ``<name>-key<digest>``. The returned
    frame's ``attrs["study_name"]`` holds that stored name.

    ``objective(params)`` returns a mapping with at least ``mse`` (the value
    minimised, as in the report); every entry is stored with the trial.
    With ``batch_keys`` it is called as ``objective(params, group)`` and
    returns one such mapping per point of ``group`` (dicts of the batched
    keys), in order. With ``workers > 1`` the objective must be picklable (a
    module-level function or a functools.partial of one).
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    full_grid = {k: list(v) for k, v in grid.items()}
    group = None
    if batch_keys:
        grid, group = split_grid(full_grid, batch_keys)
    url = storage or default_storage(profile)
    from .training import device  # torch: only when a search runs

    key = cache_key.search_key(objective, grid=full_grid, settings=settings or {},
                               schema=schema, device=device().type)
    prefix, name = name, f"{name}-key{cache_key.key_digest(key)}"
    _announce_change(prefix, name, key, url)
    points = grid_points(grid)
    study = _open(name, url, grid, seed, heartbeat)
    if study.user_attrs.get("cache_key") != key:
        study.set_user_attr("cache_key", key)
    done = len(_status(study, points)["complete"])
    unit = "group" if group else "config"
    bar = tqdm(total=len(points), initial=done, desc=name, disable=not progress, unit=unit)
    if workers == 1:
        _work(name, url, grid, objective, seed, group=group, heartbeat=heartbeat,
              on_done=lambda: bar.update(len(_status(study, points)["complete"]) - bar.n))
    else:
        ctx = mp.get_context("spawn")
        # One sampler seed for every worker: Optuna's GridSampler shuffles the grid with
        # its seed and gives trial number k the k-th point, so workers seeded apart
        # disagree on which point a grid id means; they then skip points and re-draw
        # at random until they stumble on them (pruned duplicates, wasted trials).
        procs = [ctx.Process(target=_worker_main,
                             args=(name, url, grid, objective, seed, group, heartbeat))
                 for _ in range(workers)]
        for p in procs:
            p.start()
        while any(p.is_alive() for p in procs):
            time.sleep(1.0)
            bar.update(len(_status(study, points)["complete"]) - bar.n)
        for p in procs:
            p.join()
        bar.update(len(_status(study, points)["complete"]) - bar.n)
        failed = [p.exitcode for p in procs if p.exitcode != 0]
        if failed:
            raise RuntimeError(f"{len(failed)} search worker(s) failed (exit codes {failed}); "
                               "rerun to resume")
    bar.close()
    frame = results_frame(study, full_grid)
    frame.attrs["study_name"] = name  # the stored name, for optuna.load_study
    return frame


def results_frame(study: optuna.Study, grid: Mapping[str, Sequence[Any]] | Sequence[str]
                  ) -> pd.DataFrame:
    """One row per completed grid point: its parameters and stored records.

    A group trial (see ``batch_keys``) gives one row per record it holds.
    Only the keys of ``grid`` are used.
    """
    rows = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        attrs = dict(t.user_attrs)
        for record in attrs.pop("records", None) or [{}]:
            row = {**t.params, "trial": t.number, **attrs, **record}
            rows.append({**{k: row[k] for k in grid}, **row})
    frame = pd.DataFrame(rows)
    if frame.empty:
        raise RuntimeError(f"study {study.study_name}: no completed trial")
    return frame.drop_duplicates(subset=list(grid)).reset_index(drop=True)


def points_study(frame: pd.DataFrame, grid: Mapping[str, Sequence[Any]],
                 value: str = "mse") -> optuna.Study:
    """An in-memory study with one trial per row of ``frame`` (one per grid point).

    For Optuna's plots of a grouped search, whose stored trials are groups.
    """
    distributions = {k: optuna.distributions.CategoricalDistribution(list(v))
                     for k, v in grid.items()}
    study = optuna.create_study(direction="minimize")
    study.add_trials([
        optuna.trial.create_trial(
            params={k: plain(row[k]) for k in grid}, distributions=distributions,
            value=float(row[value]))
        for _, row in frame.iterrows()])
    return study



def latest_studies(storage: str) -> dict[str, Any]:
    """The latest stored study of each search name (the name before ``-key``), by start.

    A search stored under an older key is not counted, nor one stored before
    searches were keyed (no code runs it any more).
    """
    latest: dict[str, Any] = {}
    for summary in optuna.get_all_study_summaries(storage=storage, include_best_trial=False):
        if "cache_key" not in summary.user_attrs:
            continue
        prefix = summary.study_name.split("-key")[0]
        if prefix not in latest or (summary.datetime_start or 0) > (
                latest[prefix].datetime_start or 0):
            latest[prefix] = summary
    return latest


def cost_table(storage: str) -> pd.DataFrame:
    """What every stored search cost: one row per study of a storage.

    ``fits`` counts trained models (grid points x folds, as the records list
    their per-fold ``epochs``); ``wall_min`` is the time at least one trial ran
    (overlapping workers count once, a pause between two runs not at all),
    ``cpu_min`` adds up the trials;
    ``epochs_median`` and ``epochs_iqr`` describe the epochs per fit, and
    ``s_per_epoch`` divides the trials' time by all their epochs. Families
    whose records keep no epochs show them as missing. Of the searches stored
    under several keys, only the latest counts.
    """
    rows = []
    for summary in latest_studies(storage).values():
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if not trials:
            continue
        epochs: list[int] = []
        for t in trials:
            for record in t.user_attrs.get("records") or [t.user_attrs]:
                epochs += [int(e) for e in record.get("epochs") or []]
        seconds = sum((t.datetime_complete - t.datetime_start).total_seconds() for t in trials)
        wall = _busy_seconds([(t.datetime_start, t.datetime_complete) for t in trials])
        q25, q50, q75 = (np.percentile(epochs, [25, 50, 75]) if epochs
                         else (np.nan, np.nan, np.nan))
        rows.append({"search": summary.study_name.split("-key")[0], "trials": len(trials),
                     "fits": len(epochs) or np.nan, "wall_min": wall / 60,
                     "cpu_min": seconds / 60, "epochs_median": q50,
                     "epochs_iqr": f"{q25:.0f}-{q75:.0f}" if epochs else "",
                     "s_per_epoch": seconds / sum(epochs) if epochs else np.nan})
    return pd.DataFrame(rows)


def _busy_seconds(intervals: Sequence[tuple[Any, Any]]) -> float:
    """Length of the union of (start, end) datetime intervals, in seconds."""
    total, end = 0.0, None
    for start, stop in sorted(intervals):
        if end is None or start > end:
            total += (stop - start).total_seconds()
            end = stop
        elif stop > end:
            total += (stop - end).total_seconds()
            end = stop
    return total
