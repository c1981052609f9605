"""Successive halving over the folds (occupancy_utils.halving): the rule at its boundaries,
the stored fold-by-fold run, the replay against an exhaustive grid, and that no fold's
test rows reach that fold's choice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from occupancy_utils import experiment, halving, search

GRID = {"a": [1, 2, 3, 4, 5], "b": ["x"]}


def test_survivors_keep_the_best_share_rounded_up_in_grid_order():
    scores = np.array([[0.5], [0.1], [0.4], [0.2], [0.3]])
    assert halving.survivors(scores, 0.5) == [1, 3, 4]  # ceil(2.5) = 3, back in grid order
    assert halving.survivors(scores, 0.4) == [1, 3]  # exactly 2: no rounding up past it
    assert halving.survivors(scores, 1.0) == [0, 1, 2, 3, 4]
    assert halving.survivors(scores, 0.01) == [1]  # at least one goes on
    # the mean over the folds so far ranks; a tie goes to the earlier grid point
    assert halving.survivors(np.array([[0.25, 0.25], [0.5, 0.0], [0.1, 0.9]]), 0.3) == [0]


@pytest.mark.parametrize("keep", [0, -0.5, 1.5, True, "half"])
def test_survivors_refuse_a_keep_share_outside_0_to_1(keep):
    with pytest.raises(ValueError, match="halving keep share must be in"):
        halving.survivors(np.array([[0.1]]), keep)


def test_survivors_refuse_nan_and_empty_scores():
    with pytest.raises(ValueError, match="NaN"):
        halving.survivors(np.array([[0.1], [np.nan]]), 0.5)
    with pytest.raises(ValueError, match="shape"):
        halving.survivors(np.zeros((0, 1)), 0.5)


def test_choose_reads_each_fold_among_the_points_that_reached_it():
    found = pd.DataFrame({"a": [1, 2, 3], "b": ["x"] * 3,
                          "fold_mse": [[0.3, 0.2, np.nan], [0.1, 0.5, 0.4], [0.2, np.nan, np.nan]]})
    grid = {"a": [1, 2, 3], "b": ["x"]}
    assert halving.choose(found, grid, [1, 2, 3]) == {1: {"a": 2, "b": "x"},
                                                      2: {"a": 1, "b": "x"},
                                                      3: {"a": 2, "b": "x"}}
    dead = found.assign(fold_mse=[[0.1, np.nan, np.nan]] * 3)
    with pytest.raises(ValueError, match="no grid point was trained on fold 2"):
        halving.choose(dead, grid, [1, 2, 3])


def scripted(params, *, fold, table, **_):
    """Fold ``fold``'s score of a point, read from ``table`` (point a -> per-fold MSE)."""
    mse = table[params["a"]][fold - 1]
    return {"mse": mse, "fold_mse": [mse], "test_mse": 10 * mse, "epochs": [fold],
            "seconds": 1.0}


TABLE = {1: [0.5, 0.1, 0.1, 0.1], 2: [0.1, 0.9, 0.9, 0.9], 3: [0.2, 0.2, 0.3, 0.3],
         4: [0.3, 0.1, 0.2, 0.05], 5: [0.4, 0.3, 0.1, 0.1]}


def _run(tmp_path, keep, calls=None, name="s", db="h.db"):
    def objective(params, *, fold, table):
        if calls is not None:
            calls.append((fold, params["a"]))
        return scripted(params, fold=fold, table=table)
    return halving.run(name, GRID, objective, [1, 2, 3, 4], keep=keep, settings={},
                       schema=1, bound={"table": TABLE}, profile="test",
                       storage=f"sqlite:///{tmp_path / db}", progress=False)


def test_run_halves_fold_by_fold_and_resumes(tmp_path):
    """Fold 1 ranks a = 2, 3, 4 best (3 of 5 go on); after fold 2 the means are 0.5, 0.2,
    0.2: ceil(1.5) = 2 go on, a = 3 and 4; after fold 3 a = 4 leads (0.2 against
    0.233). Point 1, best on folds 2-4, never gets past fold 1."""
    calls = []
    found = _run(tmp_path, 0.5, calls)
    assert sorted(calls) == sorted([(1, a) for a in range(1, 6)] + [(2, 2), (2, 3), (2, 4)]
                                   + [(3, 3), (3, 4), (4, 4)])
    assert found["folds_reached"].tolist() == [1, 2, 3, 4, 1]
    assert found["a"].tolist() == [1, 2, 3, 4, 5]  # grid order
    assert found["mse"].iloc[3] == pytest.approx(np.mean(TABLE[4]))
    assert found["mse"].drop(index=3).isna().all()
    assert found["epochs"].iloc[2] == [1, 2, 3, 0] and found["seconds"].iloc[2] == 3.0
    assert halving.choose(found, GRID, [1, 2, 3, 4]) == {
        1: {"a": 2, "b": "x"}, 2: {"a": 4, "b": "x"}, 3: {"a": 4, "b": "x"},
        4: {"a": 4, "b": "x"}}
    assert len(found.attrs["study_names"]) == 4
    again = []
    pd.testing.assert_frame_equal(_run(tmp_path, 0.5, again), found)
    assert again == []  # every fold's study is stored: nothing trains twice


def test_keep_one_is_the_exhaustive_grid(tmp_path):
    found = _run(tmp_path, 1.0)
    assert (found["folds_reached"] == 4).all()
    assert found["mse"].tolist() == pytest.approx([np.mean(TABLE[a]) for a in range(1, 6)])
    # and the choice is the nested one: each fold's lowest own MSE, ties to the earlier
    assert {k: v["a"] for k, v in halving.choose(found, GRID, [1, 2, 3, 4]).items()} == {
        1: 2, 2: 1, 3: 1, 4: 4}


def test_replay_on_an_exhaustive_table_agrees_with_a_halving_run(tmp_path):
    exhaustive = _run(tmp_path, 1.0, name="all")
    replayed = halving.replay(exhaustive, [1, 2, 3, 4], 0.5)
    pruned = halving.choose(_run(tmp_path, 0.5, name="half"), GRID, [1, 2, 3, 4])
    per_fold = replayed.set_index("fold")
    for k, choice in pruned.items():
        assert exhaustive["a"].iloc[per_fold.loc[str(k), "halving"]] == choice["a"]
    assert per_fold["same"].tolist() == [True, False, False, True, True]
    # fold 2: another point, at the same MSE (a tie the exhaustive grid broke by grid order)
    assert per_fold.loc["2", "mse_halving"] == 0.1 and per_fold.loc["2", "tied"]
    assert not per_fold.loc["3", "tied"]
    assert per_fold.loc["2", "test_halving"] == pytest.approx(1.0)  # read, not chosen on
    # epochs: 5 + 3 * 2 + 2 * 3 + 1 * 4 = 21 of 5 * (1 + 2 + 3 + 4) = 50
    assert replayed.attrs["cost"] == pytest.approx(21 / 50)
    weighted = halving.replay(exhaustive, [1, 2, 3, 4], 0.5, fold_cost=[1, 0, 0, 0])
    assert weighted.attrs["cost"] == pytest.approx(1.0)  # every point trains fold 1
    with pytest.raises(ValueError, match="exhaustive"):
        halving.replay(_run(tmp_path, 0.5, name="half"), [1, 2, 3, 4], 0.5)


# --- no leak: fold k's test rows reach no choice of fold k --------------------------------

def _tail_scores(frame: pd.DataFrame, folds) -> dict[int, list[float]]:
    """A scripted score per (point, fold) read from the fold's validation tail only, as
    the clean protocol's objectives read it: each point weighs the readings differently."""
    x = frame["S1_Temp"].to_numpy()
    out = {}
    for a in GRID["a"]:
        scores = []
        for fold in folds:
            tail = experiment.part_positions(fold, "clean", val_fraction=0.2)["monitor"]
            scores.append(float(np.mean(np.abs(x[tail] - x[tail].mean() * (0.96 + 0.02 * a)))))
        out[a] = scores
    return out


def _choices(tmp_path, frame, folds, name):
    table = _tail_scores(frame, folds)
    found = halving.run(name, GRID, scripted, [f.number for f in folds], keep=0.5,
                        settings={}, schema=1, bound={"table": table}, profile="test",
                        storage=f"sqlite:///{tmp_path / f'{name}.db'}", progress=False)
    return halving.choose(found, GRID, [f.number for f in folds]), found


@pytest.mark.parametrize("noised_fold", [1, 2])
def test_no_test_row_of_a_fold_reaches_its_own_choice(tmp_path, noised_fold):
    """Fold j's test rows (and every row after them) are replaced by noise. They lie in
    fold j+1's validation tail, so the ranking after fold j+1 and the later folds'
    choices may move; folds 1 to j must choose exactly as before. That something does
    move shows the perturbation reaches the search at all (the check can fail)."""
    frame, folds = experiment.search_data()
    start = int(folds[noised_fold - 1].test.min())
    noised = frame.copy()
    rng = np.random.default_rng(0)
    noised.iloc[start:, noised.columns.get_loc("S1_Temp")] = rng.normal(
        25, 5, len(frame) - start)
    plain, found = _choices(tmp_path, frame, folds, "plain")
    moved, found_n = _choices(tmp_path, noised, folds, "noised")
    assert {k: plain[k] for k in range(1, noised_fold + 1)} == {
        k: moved[k] for k in range(1, noised_fold + 1)}
    assert found["fold_mse"].tolist() != found_n["fold_mse"].tolist()
    later = [np.asarray(v[noised_fold:], float) for v in found["fold_mse"]]
    later_n = [np.asarray(v[noised_fold:], float) for v in found_n["fold_mse"]]
    assert any(not np.allclose(a, b, equal_nan=True) for a, b in zip(later, later_n,
                                                                     strict=True))
    assert search.grid_points(GRID)  # the grid the choices index


def all_folds(params, *, table):
    """An exhaustive all-fold record, as lstm_study.search_objective stores one."""
    mse = table[params["a"]]
    return {"mse": float(np.mean(mse)), "fold_mse": mse, "test_fold_mse": [10 * v for v in mse],
            "epochs": [1, 2, 3, 4], "seconds": 1.0}


def test_replay_stored_finds_the_latest_exhaustive_search_of_each_name(tmp_path):
    import functools

    url = f"sqlite:///{tmp_path / 'r.db'}"
    for name in ("x-structure", "x-tuning"):
        search.run_grid(name, GRID, functools.partial(all_folds, table=TABLE), profile="test",
                        storage=url, progress=False)
    _run(tmp_path, 0.5, name="y-structure", db="r.db")  # per-fold records: not replayable
    found = halving.replay_stored(url, 0.5, [1, 2, 3, 4])
    assert set(found["search"]) == {"x-structure"}  # tuning: another name
    exhaustive = search.in_grid_order(
        pd.DataFrame([{"a": a, "b": "x", **all_folds({"a": a}, table=TABLE)} for a in GRID["a"]]),
        GRID)
    expected = halving.replay(exhaustive, [1, 2, 3, 4], 0.5)
    pd.testing.assert_frame_equal(found.drop(columns=["search", "points", "cost"]), expected,
                                  check_like=True)
    assert (found["points"] == 5).all() and found["cost"].iloc[0] == expected.attrs["cost"]
