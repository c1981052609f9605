"""Grid searches run every point exactly once, resume after interruption, share workers."""

from __future__ import annotations

import functools
import json
import sys
from collections import Counter
from pathlib import Path

import optuna
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from search_objectives import (  # noqa: E402
    failing_once_objective,
    logged_group_objective,
    logged_objective,
    nan_objective,
)

from occupancy_utils import search  # noqa: E402

GRID = {"a": [0, 1, 2], "b": [1, 2]}


def calls(log: Path) -> Counter:
    if not log.exists():
        return Counter()
    return Counter(line for line in log.read_text().splitlines())


def test_grid_points():
    assert len(search.grid_points(GRID)) == 6
    with pytest.raises(ValueError, match="'c'"):
        search.grid_points({"c": []})


def test_runs_each_point_once_and_resumes(tmp_path):
    log = tmp_path / "calls.log"
    url = f"sqlite:///{tmp_path / 'study.db'}"
    objective = functools.partial(logged_objective, log=str(log))
    frame = search.run_grid("t", GRID, objective, profile="test", storage=url, progress=False)
    assert len(frame) == 6 and set(calls(log).values()) == {1}
    best = frame.sort_values("mse").iloc[0]
    assert (best["a"], best["b"]) == (0, 1)
    # a second run finds everything done and trains nothing
    again = search.run_grid("t", GRID, objective, profile="test", storage=url, progress=False)
    assert len(again) == 6 and sum(calls(log).values()) == 6


def test_interrupted_point_is_run_again(tmp_path):
    log, flag = tmp_path / "calls.log", tmp_path / "flag"
    url = f"sqlite:///{tmp_path / 'study.db'}"
    objective = functools.partial(failing_once_objective, log=str(log), flag=str(flag))
    with pytest.raises(KeyboardInterrupt):
        search.run_grid("t", GRID, objective, profile="test", storage=url, progress=False)
    done_before = sum(calls(log).values())
    frame = search.run_grid("t", GRID, objective, profile="test", storage=url, progress=False)
    assert len(frame) == 6
    counts = calls(log)
    assert len(counts) == 6 and set(counts.values()) == {1}
    assert done_before < 6


def test_two_workers_share_one_study_exactly_once(tmp_path):
    grid = {"a": list(range(6)), "b": [1, 2, 3]}
    log = tmp_path / "calls.log"
    url = f"sqlite:///{tmp_path / 'study.db'}"
    objective = functools.partial(logged_objective, log=str(log))
    frame = search.run_grid("w", grid, objective, profile="test", storage=url, workers=2,
                            progress=False)
    counts = calls(log)
    assert len(frame) == 18
    assert len(counts) == 18 and set(counts.values()) == {1}, counts
    assert frame["pid"].nunique() == 2  # both workers took points
    assert {json.dumps({"a": a, "b": b}, sort_keys=True)
            for a in grid["a"] for b in grid["b"]} == set(counts)
    # the workers agree on which point each grid id means
    study = optuna.load_study(study_name=frame.attrs["study_name"], storage=url)
    states = Counter(t.state.name for t in study.get_trials(deepcopy=False))
    # two workers drawing at the same instant can still pick one point (pruned before it
    # trains, see the calls above): a few such draws on a loaded machine, where workers
    # seeded apart drew dozens
    assert states["COMPLETE"] == 18 and set(states) <= {"COMPLETE", "PRUNED"}, states
    assert states["PRUNED"] <= 3, states


def test_workers_from_environment(monkeypatch):
    monkeypatch.setenv("WORKERS", "3")
    assert search.default_workers() == 3
    monkeypatch.setattr(search.os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    for unset in ("auto", ""):
        monkeypatch.setenv("WORKERS", unset)
        assert search.default_workers() == 3  # one per usable core
        assert search.default_workers("quick") == 1  # seconds of search: no process start-up
    monkeypatch.delenv("WORKERS")
    assert search.default_workers("full") == 3
    monkeypatch.setenv("WORKERS", "2")
    assert search.default_workers("quick") == 2  # an explicit count wins
    monkeypatch.setenv("WORKERS", "two")
    with pytest.raises(ValueError, match="WORKERS"):
        search.default_workers()


def test_a_changed_key_starts_a_new_study_and_says_why(tmp_path, monkeypatch, capsys):
    log = tmp_path / "calls.log"
    url = f"sqlite:///{tmp_path / 'study.db'}"
    objective = functools.partial(logged_objective, log=str(log))
    first = search.run_grid("c", GRID, objective, profile="test", storage=url, progress=False,
                            settings={"epochs": 5})
    assert first.attrs["study_name"].startswith("c-key")
    stored = optuna.load_study(study_name=first.attrs["study_name"], storage=url)
    assert stored.user_attrs["cache_key"]["settings"] == {"epochs": 5}
    same = search.run_grid("c", GRID, objective, profile="test", storage=url, progress=False,
                           settings={"epochs": 5})
    assert same.attrs["study_name"] == first.attrs["study_name"]
    assert sum(calls(log).values()) == 6 and "starting anew" not in capsys.readouterr().err
    # a new library version: new study, and the message names what changed
    versions = {**search.cache_key.library_versions(), "torch": "99.0"}
    monkeypatch.setattr(search.cache_key, "library_versions", lambda: versions)
    second = search.run_grid("c", GRID, objective, profile="test", storage=url, progress=False,
                             settings={"epochs": 5})
    assert second.attrs["study_name"] != first.attrs["study_name"]
    err = capsys.readouterr().err
    assert "[search] c: starting anew" in err and "-> 99.0" in err and "torch" in err
    assert sum(calls(log).values()) == 12  # every point trained again
    third = search.run_grid("c", GRID, objective, profile="test", storage=url, progress=False,
                            settings={"epochs": 6})
    assert third.attrs["study_name"] not in {first.attrs["study_name"],
                                             second.attrs["study_name"]}
    assert 'settings {"epochs": 5} -> {"epochs": 6}' in capsys.readouterr().err


def test_point_key_ignores_order_and_numpy_types():
    import numpy as np
    assert search.point_key({"b": np.int64(2), "a": np.float64(0.5)}) == search.point_key(
        {"a": 0.5, "b": 2})
    assert search.point_key({"a": 1}) != search.point_key({"a": 2})


def test_grouped_grid_calls_once_per_group_and_unfolds_every_point(tmp_path):
    log = tmp_path / "calls.log"
    url = f"sqlite:///{tmp_path / 'study.db'}"
    objective = functools.partial(logged_group_objective, log=str(log))
    frame = search.run_grid("g", GRID, objective, profile="test", storage=url, progress=False,
                            batch_keys=("b",))
    assert dict(calls(log)) == {json.dumps({"a": a}): 1 for a in GRID["a"]}
    assert len(frame) == 6
    assert {(r.a, r.b, r.mse) for r in frame.itertuples()} == {
        (a, b, float(a * 10 + b)) for a in GRID["a"] for b in GRID["b"]}
    # resuming trains nothing; Optuna's plots get one trial per grid point
    search.run_grid("g", GRID, objective, profile="test", storage=url, progress=False,
                    batch_keys=("b",))
    assert sum(calls(log).values()) == 3
    study = search.points_study(frame, GRID)
    assert len(study.trials) == 6 and study.best_params == {"a": 0, "b": 1}


def test_grouping_needs_known_keys_and_an_outer_key():
    with pytest.raises(ValueError, match="'c'"):
        search.split_grid(GRID, ("c",))
    with pytest.raises(ValueError, match="at least one"):
        search.split_grid(GRID, ("a", "b"))


def test_a_non_finite_score_stops_the_search_instead_of_looping(tmp_path):
    log = tmp_path / "calls.log"
    url = f"sqlite:///{tmp_path / 'study.db'}"
    with pytest.raises(ValueError, match="non-finite mse"):
        search.run_grid("nan", {"a": [0], "b": [1]}, functools.partial(nan_objective,
                                                                        log=str(log)),
                        profile="test", storage=url, progress=False)
    assert sum(calls(log).values()) == 1  # tried once, not again and again


def test_a_point_queued_twice_is_trained_once(tmp_path):
    """Two workers may both queue a dead worker's point; the later copy is pruned."""
    log = tmp_path / "calls.log"
    url = f"sqlite:///{tmp_path / 'study.db'}"
    grid = {"a": [0, 1], "b": [1]}
    study = search._open("twice", url, grid, seed=0)
    study.enqueue_trial({"a": 1, "b": 1})
    study.enqueue_trial({"a": 1, "b": 1})
    search._work("twice", url, grid, functools.partial(logged_objective, log=str(log)), seed=0)
    assert dict(calls(log)) == {json.dumps({"a": a, "b": 1}): 1 for a in (0, 1)}
    states = Counter(t.state.name for t in study.get_trials(deepcopy=False))
    assert states == {"COMPLETE": 2, "PRUNED": 1}, states



def test_cost_table_counts_fits_epochs_and_only_the_latest_key(tmp_path):
    import datetime as dt

    url = f"sqlite:///{tmp_path / 'cost.db'}"
    dist = {"x": optuna.distributions.CategoricalDistribution([1, 2])}
    for name, epochs in (("s-keyold", [[100, 100]]), ("s-keynew", [[2, 4], [6, 8]])):
        study = optuna.create_study(study_name=name, storage=url)
        study.set_user_attr("cache_key", {"name": name})
        for i, e in enumerate(epochs):
            study.add_trial(optuna.trial.create_trial(
                params={"x": i + 1}, distributions=dist, value=1.0,
                user_attrs={"epochs": e}))
    optuna.create_study(study_name="unkeyed", storage=url).add_trial(optuna.trial.create_trial(
        params={"x": 1}, distributions=dist, value=1.0))
    table = search.cost_table(url).set_index("search")
    assert list(table.index) == ["s"]  # one row per search, the latest key, keyed ones only
    row = table.loc["s"]
    assert (row["trials"], row["fits"], row["epochs_median"]) == (2, 4, 5.0)
    assert row["epochs_iqr"] == "4-6"
    t = dt.datetime(2026, 1, 1)
    minutes = [(t, t + dt.timedelta(minutes=10)), (t + dt.timedelta(minutes=5),
                                                   t + dt.timedelta(minutes=12)),
               (t + dt.timedelta(hours=5), t + dt.timedelta(hours=5, minutes=3))]
    assert search._busy_seconds(minutes) == 15 * 60  # overlap once, the pause not at all
