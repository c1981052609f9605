"""Per-fold selection, the shared runner of the fit/predict families, and their results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from occupancy_utils import comparison, experiment, families, finals, nested, splits

GRID = {"C": [0.01, 1.0, 10.0]}


def _found(fold_mse: list[list[float]]) -> pd.DataFrame:
    return pd.DataFrame({"C": GRID["C"], "fold_mse": fold_mse})


def test_each_fold_chooses_on_its_own_column():
    found = _found([[0.1, 0.9, 0.5], [0.5, 0.2, 0.5], [0.3, 0.3, 0.4]])
    assert nested.choose(found, GRID, [1, 2, 3]) == {1: {"C": 0.01}, 2: {"C": 1.0},
                                                      3: {"C": 10.0}}


def test_a_tie_goes_to_the_earlier_grid_point_never_to_a_test_score():
    found = _found([[0.4], [0.2], [0.2]]).assign(test_mse=[0.0, 0.9, 0.1])
    assert nested.choose(found, GRID, [1]) == {1: {"C": 1.0}}


def test_choose_refuses_records_of_other_folds():
    with pytest.raises(ValueError, match="2 folds, expected 4"):
        nested.choose(_found([[0.1, 0.2]] * 3), GRID, [1, 2, 3, 4])
    assert nested.choose(pd.DataFrame(), {}, [1, 2]) == {1: {}, 2: {}}


def test_tie_counts_at_each_fold_minimum_and_their_text():
    found = _found([[0.2, 0.1, 0.5], [0.2, 0.1 + 1e-9, 0.5], [0.3, 0.4, 0.5]])
    ties = nested.tied_at_minimum(found, [1, 2, 3])
    # an exact tie counts, a difference of 1e-9 does not; a fold where all tie counts all
    assert ties == {1: 2, 2: 1, 3: 3}
    assert nested.ties_text(ties, 3) == ("2 of 3 tie on fold 1, 3 of 3 tie on fold 3, "
                                         "a single best on fold 2")
    assert nested.ties_text({1: 1, 2: 1}, 9) == ("no ties (a single best of the 9 candidates "
                                                 "on every fold)")
    assert nested.ties_text({1: 1, 2: 1}, 1) == "one candidate, nothing to choose"
    assert nested.ties_text({1: 4, 2: 1, 3: 1, 4: 1}, 9) == ("4 of 9 tie on fold 1, a single "
                                                             "best on folds 2, 3 and 4")
    with pytest.raises(ValueError, match="3 folds, expected 2"):
        nested.tied_at_minimum(found, [1, 2])


def test_tie_counts_skip_candidates_not_trained_on_a_fold():
    """A halving search leaves NaN where a candidate stopped: fold 2's tie is counted
    among the two candidates that reached it, and the text names each fold's count."""
    nan = float("nan")
    found = _found([[0.2, 0.1, 0.3], [0.2, 0.1, nan], [0.3, nan, nan]])
    ties = nested.tied_at_minimum(found, [1, 2, 3])
    assert ties == {1: 2, 2: 2, 3: 1}
    assert nested.ties_text(ties, {1: 3, 2: 2, 3: 1}) == (
        "2 of 3 tie on fold 1, 2 of 2 tie on fold 2, one candidate on fold 3")
    assert nested.ties_text({1: 1, 2: 1}, {1: 3, 2: 2}) == (
        "no ties (a single best of its candidates on every fold)")
    assert nested.ties_text({1: 1, 2: 1}, {1: 1, 2: 1}) == "one candidate, nothing to choose"
    # a fold left with one candidate is not "a single best"
    assert nested.ties_text({1: 1, 2: 1, 3: 1}, {1: 2, 2: 1, 3: 1}) == (
        "no ties (a single best on fold 1, one candidate on folds 2 and 3)")
    assert nested.ties_text({1: 2, 2: 1, 3: 1}, {1: 4, 2: 2, 3: 1}) == (
        "2 of 4 tie on fold 1, a single best on fold 2, one candidate on fold 3")


def test_bad_settings_and_grids_are_named():
    with pytest.raises(ValueError, match="val_fraction"):
        nested.Settings(windows=(5,), val_fraction=1.0)
    with pytest.raises(ValueError, match="window"):
        nested.Settings(windows=(1,), val_fraction=0.2)
    with pytest.raises(ValueError, match="logistic: grid keys"):
        families.Logistic.check({"C": [1.0], "penalty": ["l2"]})
    with pytest.raises(ValueError, match="unknown model family 'svm'"):
        families.family("svm")


def _run(chosen: dict[int, dict]) -> experiment.FittedFolds:
    pred = experiment.prediction_frame(1, np.arange(3), np.array([0, 1, 2]), np.array([0, 1, 1]))
    return experiment.FittedFolds([pred], [None], 1.0, 0.5, chosen=chosen)


def test_choice_table_counts_agreeing_folds():
    runs = {"logistic": {"clean": {0: _run({1: {"C": 1.0}, 2: {"C": 1.0}})}},
            "gradient_boosting": {"clean": {0: _run({1: {"max_iter": 5}, 2: {"max_iter": 9}})}},
            "majority": {"clean": {0: _run({1: {}, 2: {}})}}}
    table = nested.choice_table(runs, "clean")
    assert set(table["model"]) == {families.Logistic.label, families.GradientBoosting.label}
    assert nested.agreeing(table) == [families.Logistic.label]
    assert nested.agreeing_text(table) == (
        f"for 1 of the 2 searched baselines every fold chose the same configuration "
        f"({families.Logistic.label})")
    split = table[table["model"] == families.GradientBoosting.label]
    assert nested.agreeing_text(split) == (
        "for none of the 1 searched baselines did every fold choose the same configuration")


def test_results_entry_is_read_by_the_comparison():
    runs = {"logistic": {p: {0: _run({1: {"C": 1.0}})} for p in ("report", "clean")}}
    entry = nested.results_entries(runs)["logistic"]
    summary = comparison.seed_summary(entry["protocols"]["clean"])
    assert summary["mse"] == pytest.approx(1 / 3)
    assert summary["train_seconds"] == 1.0 and entry["protocols"]["clean"]["chosen"] == {
        "1": {"C": 1.0}}
    preds = finals.predictions_frame(runs)
    assert list(preds.columns[:3]) == ["model", "protocol", "seed"] and len(preds) == 6


def test_stored_search_in_grid_order_and_finals_on_the_book_data(tmp_path, frame):
    """The stored path: one trial per grid point, records per fold, choices, finals."""
    settings = nested.Settings(windows=(5,), val_fraction=0.2)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    grid = {"C": [1.0, 0.001]}
    found = nested.monitor_table(families.Logistic, grid, "clean", settings, profile="test",
                                 storage=url, progress=False)
    assert found["C"].tolist() == [1.0, 0.001]
    assert all(len(v) == 4 for v in found["fold_mse"])
    folds = splits.make_folds(frame.index)
    in_memory = nested.monitor_table(families.Logistic, grid, "clean", settings, profile="test",
                                     frame=frame, folds=folds)
    np.testing.assert_allclose(np.stack(in_memory["fold_mse"]), np.stack(found["fold_mse"]))
    runs = nested.run(families.Majority, {}, "clean", settings, [0, 1], profile="test",
                      frame=frame, folds=folds)
    assert sorted(runs) == [0, 1]
    assert [len(p) for p in runs[0].predictions] == [len(f.test) for f in folds]


def test_rolling_design_has_six_equal_windows_placed_by_rule(frame):
    folds = splits.design_folds(frame.index, "rolling")
    sizes = [len(f.test) for f in folds]
    assert len(folds) == splits.ROLLING_WINDOWS and max(sizes) - min(sizes) <= 1
    assert folds[0].test[0] == round(len(frame) * splits.ROLLING_START)
    assert folds[-1].test[-1] == len(frame) - 1
    assert all(f.train[-1] + 1 == f.test[0] for f in folds)  # trained on everything before
    with pytest.raises(ValueError, match="fold design"):
        splits.design_folds(frame.index, "random")


def test_second_design_rescores_baselines_and_the_forest(tmp_path, frame):
    settings = nested.Settings(windows=(5,), val_fraction=0.2)
    preds = comparison.second_design(
        frame, {"logistic": {"C": [1.0]}, "majority": {}}, settings, [0], {"n_estimators": 5},
        profile="test", storage=f"sqlite:///{tmp_path / 'r.db'}")
    assert sorted(preds) == ["logistic", "majority", "random_forest"]
    folds = splits.design_folds(frame.index, "rolling")
    for rows in preds.values():
        assert sorted(rows["fold"].unique()) == [f.number for f in folds]
        assert len(rows) == sum(len(f.test) for f in folds)
