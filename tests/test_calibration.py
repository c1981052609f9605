"""Calibration and selective-prediction scores behave as their definitions say."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from occupancy_utils import (
    calibration,
    comparison,
    experiment,
    selective,
    splits,
    uncertainty_value,
)


def calibrated_sample(n: int = 20000, seed: int = 0):
    """Labels drawn from the stated probabilities: calibrated by construction."""
    rng = np.random.default_rng(seed)
    p = rng.dirichlet([1, 1, 1, 1], size=n)
    y = np.array([rng.choice(4, p=row) for row in p])
    return y, p


def test_calibrated_probabilities_score_near_zero_ece():
    y, p = calibrated_sample()
    assert calibration.ece_top_label(y, p) < 0.02
    assert calibration.ece_classwise(y, p) < 0.02
    # an overconfident version of the same predictions is worse on every score
    sharp = p ** 4 / (p ** 4).sum(axis=1, keepdims=True)
    assert calibration.ece_top_label(y, sharp) > 0.1
    assert calibration.nll(y, sharp) > calibration.nll(y, p)
    conf, acc = calibration.reliability(y, sharp)
    assert np.all(acc[conf > 0.8] < conf[conf > 0.8])


def test_brier_and_nll_by_hand():
    y = np.array([0, 1])
    p = np.array([[1.0, 0, 0, 0], [0.5, 0.5, 0, 0]])
    assert calibration.brier(y, p) == pytest.approx((0 + 0.5) / 2)
    assert calibration.nll(y, p) == pytest.approx(np.log(2) / 2, rel=1e-6)
    with pytest.raises(ValueError, match="shape"):
        calibration.brier(y, p[:, :3])
    with pytest.raises(ValueError, match="sum to 1"):
        calibration.nll(y, p * 2)


def test_gaussian_coverage_matches_the_normal_distribution():
    rng = np.random.default_rng(1)
    mean = rng.uniform(0, 3, 50000)
    std = rng.uniform(0.1, 1, 50000)
    y = rng.normal(mean, std)
    rep = calibration.regression_report(y, mean, std)
    assert rep["coverage_1sigma"] == pytest.approx(0.6827, abs=0.01)
    assert rep["coverage_2sigma"] == pytest.approx(0.9545, abs=0.01)
    # the true std minimises the Gaussian NLL against a too-narrow one
    assert calibration.gaussian_nll(y, mean, std) < calibration.gaussian_nll(y, mean, std / 3)


def test_informative_confidence_lowers_risk():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 4, 2000)
    wrong = rng.random(2000) < 0.3
    pred = np.where(wrong, (y + 1) % 4, y)
    informative = np.where(wrong, rng.uniform(0, 0.5, 2000), rng.uniform(0.5, 1, 2000))
    curve = selective.risk_coverage(y, pred, informative)
    random_curve = selective.risk_coverage(y, pred, rng.random(2000))
    assert curve.iloc[-1]["mse"] == pytest.approx(random_curve.iloc[-1]["mse"])  # all rows kept
    assert selective.aurc(curve) < selective.aurc(random_curve)
    assert curve[curve.coverage <= 0.6]["mse"].max() == 0  # ~70 % are right
    assert selective.error_detection_auroc(wrong, -informative) == 1.0
    with pytest.raises(ValueError, match="coverage"):
        selective.risk_coverage(y, pred, informative, coverages=[0.0])


def test_false_occupied_rate():
    assert selective.false_occupied_rate([0, 0, 0, 2], [0, 1, 0, 2]) == pytest.approx(1 / 3)
    assert np.isnan(selective.false_occupied_rate([1, 2], [0, 0]))


def test_baselines_on_the_real_folds(frame):
    folds = splits.make_folds(frame.index)
    base = comparison.baseline_predictions(frame, folds)
    zero = pd.concat(base["always_0"])
    assert (zero["y_pred"] == 0).all() and len(zero) == sum(len(f.test) for f in folds)
    lag = pd.concat(base["lag_1"])
    changes = (lag["y_true"] != lag["y_pred"]).sum()
    assert 0 < changes < 30  # the label changes only ~28 times in the whole data set


def test_table_7_lines_up_report_and_book():
    summary = {"mean": {"mse": 0.3, "f1_macro": 0.5, "f1_micro": 0.8},
               "std": {"mse": 0.1, "f1_macro": 0.1, "f1_micro": 0.1},
               "pooled": {"mse": 0.3, "f1_macro": 0.6, "f1_micro": 0.8}, "per_fold": []}
    models = {"crf": {"protocols": {"report": {"seeds": {"0": summary, "1": summary},
                                               "train_seconds": 1.0}}}}
    table = comparison.table_7(models, [["CRF", 0.288, 0.530]])
    row = table.iloc[0]
    assert row["book MSE"] == 0.3 and row["report MSE"] == 0.288
    assert row["F1 difference"] == pytest.approx(0.5 - 0.530)
    with pytest.raises(KeyError, match="bnn"):
        comparison.table_7(models, [["BNN", 0.54, 0.48]])
    long = comparison.long_table(models)
    assert long.loc[0, "mse_seed_std"] == 0 and long.loc[0, "n_seeds"] == 2


def test_largest_gap_reading_shows_the_seeds_behind_the_mean():
    def seed(mse):
        s = {"mse": mse, "f1_macro": 0.5, "f1_micro": 0.8}
        return {"mean": s, "std": s, "pooled": s, "per_fold": []}

    models = {"crf": {"protocols": {"report": {"seeds": {"0": seed(0.35), "1": seed(0.36),
                                                         "2": seed(2.1)}}}},
              "bnn": {"protocols": {"report": {"seeds": {"0": seed(0.6), "1": seed(0.6)}}}}}
    table = comparison.table_7(models, [["CRF", 0.289, 0.530], ["BNN", 0.57, 0.48]])
    assert comparison.largest_gap_reading(table, models) == (
        "+0.648 (CRF: the book's MSE per seed 0.350, 0.360 and 2.100; from the median seed, "
        "0.360, the gap is +0.071)")
    one = {"crf": {"protocols": {"report": {"seeds": {"0": seed(0.35)}}}}}
    assert comparison.largest_gap_reading(comparison.table_7(one, [["CRF", 0.289, 0.53]]),
                                          one) == "+0.061 (CRF, one seed)"


def _classifier_rows(rng, n, informative):
    """Rows of a 4-class model that is right 70 % of the time; its top probability ranks
    its errors when ``informative``, and is noise otherwise."""
    y = rng.integers(0, 4, n)
    wrong = rng.random(n) < 0.3
    pred = np.where(wrong, (y + 1) % 4, y)
    top = (np.where(wrong, rng.uniform(0.3, 0.6, n), rng.uniform(0.6, 1.0, n)) if informative
           else rng.uniform(0.3, 1.0, n))
    p = np.repeat(((1 - top) / 3)[:, None], 4, axis=1)
    p[np.arange(n), pred] = top
    return pd.DataFrame({"y_true": y, "y_pred": pred, **{f"p{k}": p[:, k] for k in range(4)}})


def test_aurc_table_credits_a_confidence_that_ranks_errors():
    rng = np.random.default_rng(0)
    models = {"ranks": _classifier_rows(rng, 4000, True),
              "noise": _classifier_rows(rng, 4000, False)}
    table = uncertainty_value.aurc_table(models).set_index("model")
    assert table.loc["ranks", "mse ratio"] < 0.6  # errors are dropped first
    assert table.loc["ranks", "f1_macro ratio"] > 1.1
    assert table.loc["noise", "mse ratio"] == pytest.approx(1.0, abs=0.1)  # random abstention
    assert table.loc["ranks", "mse (all rows)"] == pytest.approx(
        table.loc["noise", "mse (all rows)"], rel=0.2)
    # a model whose confidence never varies ranks nothing: it is left out
    constant = models["noise"].assign(p0=0.4, p1=0.2, p2=0.2, p3=0.2)
    kept = uncertainty_value.can_abstain({**models, "constant": constant})
    assert list(kept) == ["ranks", "noise"]
    # constant within each fold (a prior per training part) ranks nothing either
    by_fold = constant.assign(fold=np.repeat([1, 2], len(constant) // 2),
                              p0=np.repeat([0.4, 0.7], len(constant) // 2))
    assert uncertainty_value.can_abstain({"by_fold": by_fold}) == {}
    assert "constant" not in set(uncertainty_value.selective_table({"constant": constant,
                                                             **models})["model"])
    # nor does it flag errors: its AUROC would only say which fold is harder
    flags = uncertainty_value.error_flags({**models, "by_fold": by_fold})
    assert set(flags["model"]) == {"ranks", "noise"}


def test_fewer_false_occupied_compares_smallest_coverage_with_all_rows():
    fp = pd.DataFrame({0.5: [0.0, 0.3], 0.9: [0.1, 0.25], 1.0: [0.2, 0.2]}, index=["x", "y"])
    change = uncertainty_value.fewer_false_occupied(fp)
    assert change["x"] == pytest.approx(-0.2) and change["y"] == pytest.approx(0.1)


def test_risk_coverage_scores_labels_for_every_model_and_values_apart():
    y = np.array([0, 1, 2, 3])
    pred = np.array([0, 1, 1, 3])
    value = np.array([0.4, 1.0, 1.4, 3.0])
    conf = np.array([4.0, 3.0, 2.0, 1.0])
    curve = selective.risk_coverage(y, pred, conf, coverages=[1.0], value=value)
    assert curve.loc[0, "mse"] == pytest.approx(0.25)  # labels: one error of 1, over 4 rows
    assert curve.loc[0, "mse_value"] == pytest.approx((0.16 + 0.36) / 4)
    plain = selective.risk_coverage(y, pred, conf, coverages=[1.0])
    assert "mse_value" not in plain.columns and plain.loc[0, "mse"] == curve.loc[0, "mse"]


def test_uncertainty_edge_compares_the_best_of_each_group():
    aurc = pd.DataFrame({"model": ["crf", "lstm", "gb", "lr"],
                         "mse (mean over coverage)": [0.09, 0.30, 0.20, 0.10],
                         "mse ratio": [0.9, 0.2, 0.5, 0.7]})
    edge = uncertainty_value.uncertainty_edge(aurc, {"gb", "lr"})
    # chosen on the rows kept, not on the ratio that favours a model with many errors
    assert (edge["kept_deep_model"], edge["kept_deep"], edge["ratio_deep"]) == ("crf", 0.09, 0.9)
    assert (edge["kept_baseline_model"], edge["kept_baseline"]) == ("lr", 0.10)
    with pytest.raises(ValueError, match="no baseline model"):
        uncertainty_value.uncertainty_edge(aurc, {"nothing"})


def test_calibration_edge_pairs_the_best_of_each_group_per_score():
    rng = np.random.default_rng(6)
    y = rng.integers(0, 4, 400)
    right, wrong = np.full((400, 4), 0.02), np.full((400, 4), 0.02)
    right[np.arange(400), y] = 0.94
    wrong[np.arange(400), (y + 1) % 4] = 0.94
    prob = {"deep": _rows(y, right), "worse_deep": _rows(y, wrong), "base": _rows(y, wrong),
            "uniform": _rows(y, np.full((400, 4), 0.25))}
    calib = uncertainty_value.calibration_table(prob)
    edge = uncertainty_value.calibration_edge(prob, calib, ["base", "uniform"], n_boot=100)
    assert list(edge["deep model"]) == ["deep"] * 4
    # the uniform baseline has the lower NLL and Brier of the two baselines...
    nll = edge.set_index("score").loc["NLL"]
    assert nll["baseline model"] == "uniform" and nll["deep model is"] == "better"
    # ...but its top label (class 0, at 0.25) is right about as often as it claims, while
    # the deep model, always right at 0.94, is underconfident: calibration, not accuracy
    top = edge.set_index("score").loc["top-label ECE"]
    assert top["deep"] == pytest.approx(0.06) and top["baseline"] < 0.02
    assert top["deep model is"] == "worse"
    text = uncertainty_value.calibration_edge_reading(edge, {"deep": "Deep"})
    assert text.startswith("by NLL, the deep model is better (Deep): deep ")
    assert ("; by top-label ECE, the best baseline (uniform) is better than the best deep "
            "model (Deep): deep 0.060 against baseline") in text
    with pytest.raises(ValueError, match="no baseline model"):
        uncertainty_value.calibration_edge(prob, calib, [], n_boot=5)


def test_calibration_leaders_say_when_one_model_leads_on_every_score():
    calib = pd.DataFrame({"model": ["a", "b", "r"], "nll": [0.4, 0.5, np.nan],
                          "brier": [0.2, 0.3, np.nan], "ece_top": [0.1, 0.2, np.nan],
                          "ece_classwise": [0.1, 0.2, np.nan]})
    assert uncertainty_value.calibration_leaders(calib, {"a": "A"}).startswith(
        "A is the best calibrated classifier by every score (NLL 0.400")
    calib.loc[1, "ece_top"] = 0.05
    assert uncertainty_value.calibration_leaders(calib, {}) == (
        "No classifier is the best calibrated by every score: by NLL, a (0.400); "
        "by Brier score, a (0.200); "
        "by top-label ECE, b (0.050); by class-wise ECE, a (0.100)")


def test_seconds_are_train_plus_predict_of_one_protocol():
    long = pd.DataFrame({"model": ["a", "a", "b"], "protocol": ["clean", "report", "clean"],
                         "train_seconds": [2.0, 9.0, np.nan], "predict_seconds": [0.5, 1, 1]})
    assert comparison.seconds(long) == {"a": 2.5}


def test_ranked_predictions_gather_every_chapter_and_the_extra_rows(tmp_path, monkeypatch):
    from occupancy_utils import results

    monkeypatch.setattr(results, "results_dir", lambda profile: tmp_path)
    rows = experiment.prediction_frame(1, np.arange(2), np.array([0, 1]), np.array([0, 1]))
    results.write_predictions("quick", "04_crf", pd.concat(
        [rows.assign(model="crf", protocol=p, seed=0) for p in ("clean", "report")]))
    extra = rows.assign(model="gb", protocol="clean", seed=3)
    out = comparison.ranked_predictions("quick", extra, chapters=["04_crf"])
    assert sorted(out) == ["crf", "gb"] and len(out["crf"]) == 2
    assert out["gb"]["seed"].tolist() == [3, 3]


def test_alarm_predictions_pair_test_and_validation_rows_of_one_protocol(tmp_path,
                                                                        monkeypatch):
    from occupancy_utils import results

    monkeypatch.setattr(results, "results_dir", lambda profile: tmp_path)
    p = {"p0": np.array([0.7, 0.2]), "p1": np.array([0.3, 0.8]), "p2": np.zeros(2),
         "p3": np.zeros(2)}
    rows = experiment.prediction_frame(1, np.arange(2), np.array([0, 1]), np.array([0, 1]), **p)
    plain = experiment.prediction_frame(1, np.arange(2), np.array([0, 1]), np.array([0, 1]),
                                        value=np.array([0.2, 0.9]))
    results.write_predictions("quick", "04_crf", pd.concat(
        [rows.assign(model="crf", protocol=pr, seed=0) for pr in ("clean", "report")]
        + [plain.assign(model="reg", protocol="clean", seed=0)]))
    results.write_predictions("quick", "04_crf", pd.concat(
        [rows.assign(model="crf", protocol="clean", seed=0, position=[7, 8]),
         plain.assign(model="reg", protocol="clean", seed=0)]), part="validation")
    extra = rows.assign(model="gb", protocol="clean", seed=3)
    out = comparison.alarm_predictions("quick", extra, extra.iloc[:1], chapters=["04_crf"])
    # a model without class probabilities takes no part; each keeps its own rows
    assert sorted(out) == ["crf", "gb"]
    test, val = out["crf"]
    assert test["protocol"].eq("clean").all() and len(test) == 2
    assert val["position"].tolist() == [7, 8]
    with pytest.raises(FileNotFoundError, match="run notebook 06_lstm first"):
        comparison.alarm_predictions("quick", extra, extra, chapters=["06_lstm"])


def test_probabilistic_predictions_pool_every_seed_on_request(tmp_path, monkeypatch):
    from occupancy_utils import results

    monkeypatch.setattr(results, "results_dir", lambda profile: tmp_path)
    p = {"p0": np.array([0.7, 0.2]), "p1": np.array([0.3, 0.8]), "p2": np.zeros(2),
         "p3": np.zeros(2)}
    rows = experiment.prediction_frame(1, np.arange(2), np.array([0, 1]), np.array([0, 1]), **p)
    results.write_predictions("quick", "04_crf", pd.concat(
        [rows.assign(model="crf", protocol="clean", seed=s) for s in (2, 0, 1)]))
    first = comparison.probabilistic_predictions("quick", chapters=["04_crf"])["crf"]
    pooled = comparison.probabilistic_predictions("quick", seed="all", chapters=["04_crf"])["crf"]
    assert first["seed"].tolist() == [0, 0] and len(pooled) == 6
    assert sorted(set(pooled["seed"])) == [0, 1, 2]


def test_a_categorical_is_not_scored_as_a_gaussian():
    y = np.array([0, 1, 2, 3])
    p = np.full((4, 4), 0.25)
    both = pd.DataFrame({"y_true": y, "y_pred": y, "value": 1.5, "std": 1.1,
                         **{f"p{k}": p[:, k] for k in range(4)}})
    gaussian = pd.DataFrame({"y_true": y, "y_pred": y, "value": y + 0.1, "std": 0.5})
    table = uncertainty_value.calibration_table({"bnn": both, "mcd": gaussian}).set_index("model")
    assert np.isnan(table.loc["bnn", "gaussian_nll"]) and np.isfinite(table.loc["bnn", "nll"])
    assert np.isfinite(table.loc["mcd", "gaussian_nll"]) and np.isnan(table.loc["mcd", "nll"])


def test_model_costs_add_the_stored_searches_that_chose_each_model(tmp_path):
    import optuna

    url = f"sqlite:///{tmp_path / 'c.db'}"
    dist = {"C": optuna.distributions.CategoricalDistribution([1.0])}
    study = optuna.create_study(study_name="07_logistic-clean-keyabc", storage=url)
    study.set_user_attr("cache_key", {})
    study.add_trial(optuna.trial.create_trial(params={"C": 1.0}, distributions=dist, value=1.0))
    long = pd.DataFrame({"model": ["logistic", "random_forest", "bnn"],
                         "protocol": "clean", "train_seconds": [2.0, 1.0, 1.0],
                         "predict_seconds": [1.0, 0.5, 0.1]})
    costs = comparison.model_costs(long, "quick", storage=url).set_index("model")
    searched = "search s (summed trial time)"
    assert costs.loc["logistic", searched] >= 0 and costs.loc["logistic", "search"] == "stored"
    assert costs.loc["logistic", "total_s"] == costs.loc["logistic", searched] + 3.0
    assert costs.loc["random_forest", "total_s"] == 1.5  # nothing to search
    assert costs.loc["random_forest", "search"] == "nothing to search"
    # the report chose this configuration on its test folds: no total, never recommended
    assert np.isnan(costs.loc["bnn", "total_s"]) and costs.loc["bnn", "search"].startswith(
        "none: the report's configuration")
    assert set(comparison.total_seconds(costs.reset_index())) == {"logistic", "random_forest"}
    # a search the chapters should have stored but the storage lacks is an error, not a blank
    crf = pd.concat([long, long.iloc[[0]].assign(model="crf")])
    with pytest.raises(ValueError, match="crf: the search crf-clean that chose it is not "
                                         "stored in sqlite"):
        comparison.model_costs(crf, "quick", storage=url)


def test_ece_top_label_is_torchmetrics_definition():
    import torch
    from torchmetrics.functional.classification import multiclass_calibration_error

    y, p = calibrated_sample(n=3000, seed=3)
    sharp = p ** 3 / (p ** 3).sum(axis=1, keepdims=True)
    # a confidence of exactly 1 (trees, saturated softmax) has a bin of its own there
    certain = np.array([[1.0, 0, 0, 0], [1.0, 0, 0, 0], [0.95, 0.05, 0, 0], [0.95, 0.05, 0, 0]])
    y_certain = np.array([0, 1, 0, 0])
    assert calibration.ece_top_label(y_certain, certain) == pytest.approx(0.275)
    for probs in (p, sharp):
        ours = calibration.ece_top_label(y, probs)
        theirs = float(multiclass_calibration_error(torch.as_tensor(probs), torch.as_tensor(y),
                                                    num_classes=4, n_bins=10, norm="l1"))
        assert ours == pytest.approx(theirs, abs=1e-5)


def test_a_confidence_on_a_bin_edge_falls_in_the_upper_bin():
    # top confidence 0.7 exactly: bin [0.7, 0.8); one hit, one miss -> |0.5 - 0.7| in one bin
    y = np.array([0, 1])
    p = np.array([[0.7, 0.3, 0, 0], [0.7, 0.3, 0, 0]])
    assert calibration.ece_top_label(y, p) == pytest.approx(0.2)
    # were the two rows in different bins the ECE would differ: 0.7 and 0.69 share none
    q = np.array([[0.7, 0.3, 0, 0], [0.69, 0.31, 0, 0]])
    assert calibration.ece_top_label(y, q) == pytest.approx((0.3 + 0.69) / 2)


def test_resampled_score_of_some_rows_is_the_score_of_those_rows():
    y, p = calibrated_sample(n=2000, seed=4)
    idx = np.random.default_rng(0).integers(0, 2000, 2000)
    for score, func in [("nll", calibration.nll), ("brier", calibration.brier),
                        ("ece_top", calibration.ece_top_label),
                        ("ece_classwise", calibration.ece_classwise)]:
        group, term = calibration.score_terms(y, p, score)
        assert calibration.resampled_score(group, term, idx) == pytest.approx(
            func(y[idx], p[idx]), rel=1e-9)
    with pytest.raises(ValueError, match="score must be one of"):
        calibration.score_terms(y, p, "accuracy")


def _rows(y: np.ndarray, p: np.ndarray, seeds: int = 2) -> pd.DataFrame:
    n = len(y)
    one = pd.DataFrame(p, columns=experiment.PROBA_COLUMNS).assign(
        fold=np.repeat([1, 2], n // 2), position=np.arange(n), y_true=y)
    return pd.concat([one.assign(seed=s) for s in range(seeds)], ignore_index=True)


def test_paired_difference_tells_a_sharp_model_from_a_vague_one():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 4, 600)
    right, wrong = np.full((600, 4), 0.02), np.full((600, 4), 0.02)
    right[np.arange(600), y] = 0.94
    wrong[np.arange(600), (y + 1) % 4] = 0.94  # as sure, and always wrong
    sharp, misled = _rows(y, right), _rows(y, wrong)
    for score in calibration.PAIRED_SCORES:
        d = calibration.paired_difference(sharp, misled, score, block=20, n_boot=200)
        assert d["difference"] < 0 and d["high"] < 0
        assert calibration.paired_verdict(d["low"], d["high"]) == "better"
    same = calibration.paired_difference(sharp, sharp, "nll", block=20, n_boot=50)
    assert same == {"difference": 0.0, "low": 0.0, "high": 0.0}
    with pytest.raises(ValueError, match="same rows"):
        calibration.paired_difference(sharp, sharp[sharp["position"] > 0], "nll", n_boot=5)
    with pytest.raises(ValueError, match="same number of seeds"):
        calibration.paired_difference(sharp.iloc[1:], sharp, "nll", n_boot=5)


def test_paired_verdict_at_its_boundaries():
    assert calibration.paired_verdict(-0.2, -1e-12) == "better"
    assert calibration.paired_verdict(-0.2, 0.0) == "indistinguishable"  # touches 0
    assert calibration.paired_verdict(0.0, 0.3) == "indistinguishable"
    assert calibration.paired_verdict(1e-12, 0.3) == "worse"
    with pytest.raises(ValueError, match="above its high end"):
        calibration.paired_verdict(0.3, 0.2)


def test_band_reading_against_the_nominal_coverages():
    one, two = calibration.nominal_coverage(1), calibration.nominal_coverage(2)
    assert (one, two) == (pytest.approx(0.6827, abs=1e-4), pytest.approx(0.9545, abs=1e-4))
    tol = calibration.BAND_TOLERANCE
    assert calibration.band_reading(one, 0.692).startswith("too narrow")
    assert calibration.band_reading(one, two - tol).startswith("about")  # at the tolerance
    assert calibration.band_reading(one - tol - 0.01, two).startswith("too narrow")
    assert calibration.band_reading(one + tol, 0.99).startswith("about right")
    # a ±1σ band holding nearly every row is too wide, whatever the ±2σ coverage says
    assert calibration.band_reading(0.95, 1.0).startswith("too wide")
    with pytest.raises(ValueError, match="coverage"):
        calibration.band_reading(0.5, 1.2)


def test_entropy_against_mi_paired_needs_the_interval_to_exclude_zero():
    rng = np.random.default_rng(7)
    n = 800
    y = rng.integers(0, 2, n)
    wrong = rng.random(n) < 0.3
    frame = pd.DataFrame({"seed": 0, "fold": np.repeat([1, 2], n // 2),
                          "position": np.arange(n), "y_true": y,
                          "y_pred": np.where(wrong, 1 - y, y),
                          "entropy": wrong + 0.1 * rng.random(n),  # marks every error
                          "mi": rng.random(n)})                     # marks none
    paired = uncertainty_value.entropy_against_mi_paired({"m": frame}, n_boot=50)
    row = paired.set_index("model").loc["m"]
    assert row["predictive entropy"] == pytest.approx(1.0) and row["better"] == "entropy"
    same = uncertainty_value.entropy_against_mi_paired({"m": frame.assign(mi=frame["entropy"])},
                                                n_boot=50)
    assert same.loc[0, "better"] == "indistinguishable"
    text = uncertainty_value.entropy_mi_reading(paired)
    assert text.startswith("of the 1 model with both scores, the entropy flags the errors "
                           "better, beyond the interval, for 1")
    assert uncertainty_value.entropy_mi_reading(paired.iloc[:0]) == "no model has both scores"
