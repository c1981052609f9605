"""Random-forest ablation: feature sets, per-fold runs, permutation importance, results entries.

A small synthetic room: the label is readable from one column (``signal``),
another is pure noise, so what a forest and permutation importance must find
is known in advance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from occupancy_utils import ablation, experiment, splits
from occupancy_utils.data import TARGET
from occupancy_utils.findings import ablation as ablation_findings

FEATURES = ["signal", "noise", "echo"]


@pytest.fixture(scope="module")
def room() -> tuple[pd.DataFrame, list[splits.Fold]]:
    rng = np.random.default_rng(0)
    blocks = [0, 1, 2, 3, 0, 2, 1, 3, 0, 3, 2, 1, 0, 1, 2, 3]
    labels = np.repeat(blocks, 25)
    index = pd.date_range("2020-01-01", periods=len(labels), freq="30s", name="time")
    frame = pd.DataFrame({
        "signal": labels + rng.normal(0, 0.1, len(labels)),
        "noise": rng.normal(0, 1, len(labels)),
        "echo": labels + rng.normal(0, 0.1, len(labels)),
        TARGET: labels,
    }, index=index)
    cuts = [str(index[i]) for i in (200, 300)]
    folds = splits.make_folds(index, [(cuts[0], cuts[1]), (cuts[1], None)])
    return frame, folds


def test_feature_sets_drop_and_keep_each_group():
    groups = {"a": ["x1", "x2"], "b": ["y"]}
    sets = ablation.feature_sets(groups, ["x1", "x2", "y"])
    assert sets == {"all features": ["x1", "x2", "y"], "without a": ["y"],
                    "without b": ["x1", "x2"], "only a": ["x1", "x2"], "only b": ["y"]}


@pytest.mark.parametrize("kwargs, name", [
    ({"n_estimators": 0, "n_jobs": 1}, "n_estimators"),
    ({"n_estimators": 5, "n_jobs": 0}, "n_jobs"),
    ({"n_estimators": 5, "n_jobs": 1, "seeds": []}, "seeds"),
    ({"n_estimators": 5, "n_jobs": 1, "seeds": [0, -1]}, "seeds"),
    ({"n_estimators": 5, "n_jobs": 1, "repeats": 0}, "permutation_repeats"),
])
def test_bad_parameters_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        ablation.check_forest_params(**kwargs)


def test_run_forest_predicts_every_test_row_with_probabilities(room):
    frame, folds = room
    run = ablation.run_forest(frame, folds, FEATURES, random_state=0, n_estimators=10)
    assert [int(p["fold"].iloc[0]) for p in run.predictions] == [1, 2]
    for fold, p in zip(folds, run.predictions, strict=True):
        assert np.array_equal(p["position"], fold.test)
        assert np.array_equal(p["y_true"], frame[TARGET].to_numpy()[fold.test])
        proba = p[experiment.PROBA_COLUMNS].to_numpy()
        assert np.allclose(proba.sum(axis=1), 1)
        assert np.array_equal(proba.argmax(axis=1), p["y_pred"])
    summary = run.summary()
    assert summary["pooled"]["f1_macro"] > 0.95  # the label is in `signal`
    assert run.train_seconds > 0 and run.predict_seconds > 0


def test_same_seed_same_predictions_other_seed_other_forest(room):
    frame, folds = room
    kwargs = {"n_estimators": 5}
    a = ablation.run_forest(frame, folds, ["noise"], random_state=1, **kwargs)
    b = ablation.run_forest(frame, folds, ["noise"], random_state=1, **kwargs)
    c = ablation.run_forest(frame, folds, ["noise"], random_state=2, **kwargs)
    assert all(np.array_equal(x["p1"], y["p1"]) for x, y in zip(a.predictions, b.predictions,
                                                                strict=True))
    assert not all(np.array_equal(x["p1"], y["p1"]) for x, y in zip(a.predictions,
                                                                    c.predictions, strict=True))


def test_probabilities_fill_classes_missing_from_training():
    index = pd.date_range("2020-01-01", periods=40, freq="30s")
    frame = pd.DataFrame({"x": np.r_[np.zeros(20), np.ones(20)],
                          TARGET: np.r_[np.zeros(10, int), np.full(10, 2), np.zeros(20, int)]},
                         index=index)
    folds = splits.make_folds(index, [(str(index[20]), None)])
    run = ablation.run_forest(frame, folds, ["x"], random_state=0, n_estimators=3)
    p = run.predictions[0]
    assert (p["p1"] == 0).all() and (p["p3"] == 0).all()
    assert set(p["y_pred"]) <= {0, 2}


def test_ablation_finds_the_informative_column(room):
    frame, folds = room
    sets = {"all features": FEATURES, "without signal": ["noise", "echo"],
            "only noise": ["noise"]}
    runs = ablation.run_feature_sets(frame, folds, sets, random_state=0, n_estimators=10,
                                     progress=False)
    table = ablation_findings.ablation_table(runs, {"all features": 0.5})
    assert table.loc["all features", "report F1 macro"] == 0.5
    assert np.isnan(table.loc["only noise", "report F1 macro"])
    assert table.loc["only noise", "F1 macro (pooled)"] < 0.6
    assert table.loc["without signal", "F1 macro (pooled)"] > 0.9  # echo stands in
    per_fold = ablation_findings.per_fold_table(runs)
    assert list(per_fold.columns) == ["fold 1", "fold 2"]
    assert per_fold.loc["all features"].tolist() == pytest.approx(
        [f["f1_macro"] for f in runs["all features"].summary()["per_fold"]])


def test_permutation_importance_sees_groups_that_single_columns_hide(room):
    frame, folds = room
    run = ablation.run_forest(frame, folds, FEATURES, random_state=0, n_estimators=20)
    items = {"copies": ["signal", "echo"], "signal": ["signal"], "noise": ["noise"]}
    imp = ablation.permutation_importance(frame, folds, run, items, repeats=2, seed=0,
                                          progress=False)
    assert len(imp) == 3 * 2
    summary = ablation_findings.importance_summary(imp)
    assert summary.index[0] == "copies"  # both copies shuffled: the label is gone
    assert summary.loc["copies", "F1 macro drop (mean)"] > 0.5
    assert abs(summary.loc["noise", "F1 macro drop (mean)"]) < 0.1
    again = ablation.permutation_importance(frame, folds, run, items, repeats=2, seed=0,
                                            progress=False)
    pd.testing.assert_frame_equal(imp, again)
    with pytest.raises(ValueError, match="not features"):
        ablation.permutation_importance(frame, folds, run, {"x": ["missing"]}, repeats=1,
                                        seed=0, progress=False)


def test_protocol_comparison_shows_the_shuffled_split_leak():
    # The label follows a slow drift that the features only echo locally: a shuffled
    # split has every test row's neighbours in training, a chronological split does not.
    rng = np.random.default_rng(1)
    n = 400
    t = np.arange(n)
    labels = (t // 100) % 4
    index = pd.date_range("2020-01-01", periods=n, freq="30s")
    frame = pd.DataFrame({"clock": t + rng.normal(0, 0.5, n), TARGET: labels}, index=index)
    table = ablation.protocol_comparison(frame, {"clock": ["clock"]}, random_state=0,
                                         n_estimators=10, holdout=0.25, shuffled_folds=4,
                                         progress=False)
    shuffled, holdout = table["clock"]
    assert shuffled > 0.9 and holdout < 0.5
    with pytest.raises(ValueError, match="holdout"):
        ablation.protocol_comparison(frame, {"clock": ["clock"]}, random_state=0,
                                     n_estimators=2, holdout=1.5, shuffled_folds=4,
                                     progress=False)


def test_results_entry_and_predictions_follow_the_schema(room):
    frame, folds = room
    runs = {s: ablation.run_forest(frame, folds, FEATURES, random_state=s, n_estimators=3)
            for s in (0, 1)}
    entry = ablation.results_entry(runs, label="forest", params={"n_estimators": 3})
    assert set(entry) >= {"label", "params", "probabilistic", "protocols"}
    assert entry["protocols"]["report"] == entry["protocols"]["clean"]
    block = entry["protocols"]["clean"]
    assert set(block["seeds"]) == {"0", "1"}
    assert block["seeds"]["1"] == experiment.summarize(runs[1].predictions)
    assert block["train_seconds"] > 0
    preds = ablation.predictions_frame(runs)
    assert list(preds.columns[:7]) == ["model", "protocol", "seed", "fold", "position",
                                       "y_true", "y_pred"]
    assert set(experiment.PROBA_COLUMNS) <= set(preds.columns)
    n_test = sum(len(f.test) for f in folds)
    assert len(preds) == n_test * 2 * 2  # two seeds, two protocols
    t7 = ablation_findings.table_7_rows(runs, report_mse=0.3, report_f1=0.4)
    assert t7.loc["MSE", "report"] == 0.3
    assert t7.loc["F1 macro", "difference (fold mean - report)"] == pytest.approx(
        t7.loc["F1 macro", "book (fold mean, over seeds)"] - 0.4)
    assert list(ablation_findings.seed_table(runs).index) == [0, 1]


def test_confusion_matrix_of_one_fold(room):
    frame, folds = room
    run = ablation.run_forest(frame, folds, FEATURES, random_state=0, n_estimators=5)
    table = ablation_findings.confusion(run, 2)
    assert table.shape == (4, 4)
    assert table.to_numpy().sum() == len(folds[1].test)


def test_change_reading_and_contrast_verdict_at_their_thresholds():
    eps = ablation_findings.NEGLIGIBLE_F1
    assert (ablation_findings.change_reading(0.0, -eps / 2)
            == "leaves it practically unchanged (-0.0025)")
    assert ablation_findings.change_reading(0.0, eps) == "raises it by 0.005"  # at the threshold
    assert ablation_findings.change_reading(0.5, 0.4) == "lowers it by 0.100"
    # a report that falls 0.5: the book must fall at least CONTRAST_SHARE of that
    share = ablation_findings.CONTRAST_SHARE * 0.5
    assert ablation_findings.contrast_verdict(0.75, 0.75 - share, 1.0, 0.5).endswith(
        "contrast reproduces on these folds")
    assert "does not reproduce" in ablation_findings.contrast_verdict(0.75, 0.76 - share, 1.0, 0.5)
    assert "does not reproduce" in ablation_findings.contrast_verdict(0.44, 0.46, 0.98, 0.36)
    with pytest.raises(ValueError, match="must fall without light"):
        ablation_findings.contrast_verdict(0.9, 0.5, 0.36, 0.98)


def _fold_run(fold: int, y_true: list[int], y_pred: list[int]) -> ablation.ForestRun:
    pred = experiment.prediction_frame(fold, np.arange(len(y_true)), np.array(y_true),
                                       np.array(y_pred))
    return ablation.ForestRun([pred], [None], 0.0, 0.0)


def test_false_occupied_share_counts_empty_readings_called_occupied():
    run = _fold_run(1, [0, 0, 0, 0, 2], [0, 1, 3, 0, 0])
    assert ablation_findings.false_occupied_share(run, 1) == 0.5
    with pytest.raises(ValueError, match="no empty-room reading"):
        ablation_findings.false_occupied_share(_fold_run(1, [1, 2], [1, 2]), 1)


def test_fold_story_names_the_group_whose_removal_helps_most_at_its_threshold():
    eps = ablation_findings.NEGLIGIBLE_F1
    runs = {"all features": _fold_run(1, [0, 0, 1, 1], [1, 1, 1, 1]),
            "only light": _fold_run(1, [0, 0, 1, 1], [0, 0, 1, 1]),
            "without temperature": _fold_run(1, [0, 0, 1, 1], [0, 1, 1, 1]),
            "without light": _fold_run(1, [0, 0, 1, 1], [1, 1, 1, 1])}
    per_fold = pd.DataFrame({"fold 1": [0.3, 0.9, 0.3 + eps, 0.3]}, index=list(runs))
    story = ablation_findings.fold_story(runs, per_fold, 1)
    assert story["culprit"] == "temperature" and story["false_occupied"] == 1.0
    assert story["culprit_text"].endswith("temperature: the forest without it scores "
                                          f"{0.3 + eps:.3f} on fold 1 and calls 50% of its "
                                          "empty-room readings occupied")
    assert story["light_text"] == ("light alone scores 0.900 on fold 1 and calls 0% of its "
                                   "empty-room readings occupied")
    per_fold.loc["without temperature", "fold 1"] = 0.3 + eps / 2  # below the threshold
    story = ablation_findings.fold_story(runs, per_fold, 1)
    assert story["culprit"] == "none" and story["culprit_text"] == (
        "removing no single group helps fold 1")


def test_importance_reading_names_each_group_by_the_sign_of_its_drop():
    eps = ablation_findings.NEGLIGIBLE_F1
    drops = pd.Series({"temperature": -0.024, "co2": -0.023, "sound": -eps / 2, "pir": 0.01})
    assert ablation_findings.importance_reading(drops) == (
        "raises it for temperature and co2 (by 0.024 and 0.023), lowers it for pir (by 0.010) "
        "and leaves it practically unchanged for sound")
    at = pd.Series({"a": -eps, "b": eps})  # at the threshold: counted
    assert ablation_findings.importance_reading(at) == (
        "raises it for a (by 0.005) and lowers it for b (by 0.005)")
    with pytest.raises(ValueError, match="no group"):
        ablation_findings.importance_reading(pd.Series(dtype=float))


def test_drop_by_fold_names_where_dropping_a_group_helps_and_hurts():
    eps = ablation_findings.NEGLIGIBLE_F1
    per_fold = pd.DataFrame({"fold 1": [0.1, 0.3], "fold 2": [0.9, 0.7],
                             "fold 3": [0.5, 0.501],  # below NEGLIGIBLE_F1
                             "fold 4": [0.5, 0.5 + eps]},  # at it
                            index=["all features", "without light"])
    assert ablation_findings.drop_by_fold(per_fold, "light") == (
        "fold 1 +0.200, fold 2 -0.200, fold 3 +0.001, fold 4 +0.005 (dropping light helps on "
        "folds 1 and 4 and hurts on fold 2)")
    assert ablation_findings.drop_by_fold(per_fold[["fold 3"]], "light").endswith(
        "(dropping light changes no fold)")


def test_difference_reading_at_its_threshold():
    eps = ablation_findings.NEGLIGIBLE_F1
    assert ablation_findings.difference_reading(0.398, 0.323, lower_is_better=True) == (
        "worse by 0.075 (0.398 against 0.323)")
    assert ablation_findings.difference_reading(0.451, 0.350, lower_is_better=False) == (
        "better by 0.101 (0.451 against 0.350)")
    assert ablation_findings.difference_reading(0.3 + eps / 2, 0.3, True).startswith(
        "the same to within")
    assert ablation_findings.difference_reading(0.3, 0.3 + eps, True).startswith("better by")


def test_holdout_cap_names_the_counts_the_test_part_lacks():
    y = np.array([0, 1, 2, 3, 0, 0, 2, 3, 0, 2])
    # the last 40 %: rows 6-9, counts 2, 3, 0, 2: no 1
    assert ablation_findings.holdout_cap(y, 0.4) == (
        "its test part has no reading of count 1, so its F1 macro is at most 0.75")
    assert ablation_findings.holdout_cap(y, 0.2) == (
        "its test part has no reading of counts 1 and 3, so its F1 macro is at most 0.50")
    assert ablation_findings.holdout_cap(np.array([0, 1, 2, 3] * 3), 0.4) == (
        "its test part holds every count")


def test_with_report_row_puts_the_reports_values_under_each_set():
    protocols = pd.DataFrame({"all features": [0.99, 0.5], "without light": [0.98, 0.35]},
                             index=["shuffled", "hold-out"])
    out = ablation_findings.with_report_row(protocols, {"all features": 0.98})
    assert out.loc["report (scheme not stated)", "all features"] == 0.98
    assert np.isnan(out.loc["report (scheme not stated)", "without light"])
