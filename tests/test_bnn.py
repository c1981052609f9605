"""The Bayesian network: sampling, batched sampling, KL term, the fold loop and its tables."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch
import torchbnn

from occupancy_utils import (
    bnn_finals,
    bnn_study,
    data,
    experiment,
    finals,
    results,
    splits,
    training,
)
from occupancy_utils.figures import bnn as figures
from occupancy_utils.findings import bnn as bnn_findings
from occupancy_utils.models import bnn

matplotlib.use("Agg")

FAST = bnn_study.profile_settings("quick", batch_size=64, max_epochs=3, patience=2, samples=8,
                                   monitor_samples=3)
PARAMS = {"lr": 0.01, "hidden": 8, "hidden_layers": 1}


@pytest.fixture(scope="module")
def synthetic() -> tuple[pd.DataFrame, list[splits.Fold]]:
    """800 rows, one a minute, whose class follows two of the 12 features."""
    rng = np.random.default_rng(0)
    n = 800
    index = pd.date_range("2020-01-01", periods=n, freq="min", name="time")
    frame = pd.DataFrame(rng.normal(size=(n, len(data.NON_LIGHT_FEATURES))),
                         index=index, columns=data.NON_LIGHT_FEATURES)
    score = frame["S5_CO2"] + frame["S1_Sound"]
    frame[data.TARGET] = np.digitize(score, [-0.5, 0.5, 1.5])
    edges = [index[k] for k in (200, 350, 500, 650)]
    bounds = [(str(edges[i]), str(edges[i + 1]) if i < 3 else None) for i in range(4)]
    return frame, splits.make_folds(index, bounds)


def small_model(seed: int = 0) -> bnn.BayesMLP:
    torch.manual_seed(seed)
    return bnn.BayesMLP(5, [7, 6], n_classes=3, prior_sigma=0.3)


def test_forward_samples_weights_and_freezing_fixes_them():
    model, x = small_model(), torch.rand(4, 5)
    assert not torch.equal(model(x), model(x))
    torchbnn.utils.freeze(model)
    frozen = model(x)
    assert torch.equal(frozen, model(x))
    # the batched sampler honours frozen noise: all T samples are the frozen network
    batched = model.sample_logits(x, 5)
    assert torch.allclose(batched, frozen.expand(5, -1, -1), atol=1e-6)
    torchbnn.utils.unfreeze(model)
    assert not torch.equal(model(x), model(x))


def test_batched_sampling_matches_the_loop_in_distribution():
    """Means and standard deviations of every output agree within sampling error."""
    model, x = small_model(), torch.rand(3, 5) * 2
    with torch.no_grad():
        torch.manual_seed(1)
        loop = bnn.loop_sample_logits(model, x, 4000)
        torch.manual_seed(2)
        batched = model.sample_logits(x, 4000)
    assert batched.shape == loop.shape == (4000, 3, 3)
    se = torch.sqrt(loop.var(0) / 4000 + batched.var(0) / 4000)
    assert ((loop.mean(0) - batched.mean(0)).abs() < 5 * se).all()
    ratio = batched.std(0) / loop.std(0)
    assert ((ratio > 0.9) & (ratio < 1.1)).all(), ratio
    # samples differ from each other (not one weight draw repeated)
    assert batched.std(0).min() > 0.01


def test_row_chunks_share_the_drawn_networks():
    """Chunking rows must not redraw weights: sample t is one network for all rows."""
    model, x = small_model(), torch.rand(50, 5)
    with torch.no_grad():
        torch.manual_seed(3)
        whole = model.sample_logits(x, 6)
        torch.manual_seed(3)
        chunked = model.sample_logits(x, 6, budget=6 * 7 * 4)  # 4 rows per chunk
    assert torch.allclose(whole, chunked, atol=1e-6)


def test_kl_is_positive_and_falls_towards_the_prior():
    model = small_model()
    with torch.no_grad():
        for layer in model.layers:
            layer.weight_log_sigma.fill_(np.log(0.05))
            layer.bias_log_sigma.fill_(np.log(0.05))
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    prior = {n: (torch.zeros_like(p) if n.endswith("_mu") else torch.full_like(p, np.log(0.3)))
             for n, p in model.named_parameters()}
    values = []
    for alpha in (0.0, 0.5, 0.9, 1.0):
        with torch.no_grad():
            for n, p in model.named_parameters():
                p.copy_((1 - alpha) * start[n] + alpha * prior[n])
        values.append(float(bnn.kl_term(model, "elbo", 1).detach()))
        mean = float(bnn.kl_term(model, "mean", 1).detach())
        assert mean == pytest.approx(values[-1] / model.n_weights, rel=1e-5, abs=1e-9)
    assert values[0] > values[1] > values[2] > 0
    assert values[3] == pytest.approx(0.0, abs=1e-5)
    with torch.no_grad():
        model.layers[0].weight_mu.add_(1.0)
        assert float(bnn.kl_term(model, "elbo", 1)) == pytest.approx(
            10 * float(bnn.kl_term(model, "elbo", 10)))


@pytest.mark.parametrize("make, match", [
    (lambda: FAST.replace(samples=0), "samples"),
    (lambda: FAST.replace(monitor_samples=-1), "monitor_samples"),
    (lambda: FAST.replace(kl="sum"), "kl must"),
    (lambda: FAST.replace(kl_weight=-0.1), "kl_weight"),
    (lambda: FAST.replace(max_epochs=0), "max_epochs"),
    (lambda: bnn.layer_sizes(64, 0), "hidden_layers"),
    (lambda: bnn_study.check_params({"lr": -1, "hidden": 4, "hidden_layers": 1}), "lr"),
    (lambda: bnn_study.check_grid({"hidden": [16, 0], "lr": [0.1], "hidden_layers": [1]}),
     "hidden"),
    (lambda: bnn_study.check_grid({"layers": [1]}), "'layers'"),
    (lambda: training.check_seeds([0, -1]), "seeds"),
])
def test_bad_parameters_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_parameters_fail_before_training(synthetic, monkeypatch):
    frame, folds = synthetic
    monkeypatch.setattr(bnn_study.training, "fit", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(ValueError, match="hidden_layers"):
        bnn_study.evaluate(frame, folds, "clean", {**PARAMS, "hidden_layers": 0}, FAST, 0)
    with pytest.raises(ValueError, match="protocol"):
        bnn_study.evaluate(frame, folds, "test", PARAMS, FAST, 0)


def test_same_seed_same_metrics(synthetic):
    frame, folds = synthetic
    a = bnn_study.evaluate(frame, folds, "clean", PARAMS, FAST, 0, keep_predictions=True)
    b = bnn_study.evaluate(frame, folds, "clean", PARAMS, FAST, 0, keep_predictions=True)
    c = bnn_study.evaluate(frame, folds, "clean", PARAMS, FAST, 1, keep_predictions=True)
    assert a["summary"] == b["summary"] and a["val_mse"] == b["val_mse"]
    pd.testing.assert_frame_equal(a["predictions"][0], b["predictions"][0])
    assert not np.allclose(a["predictions"][0]["p0"], c["predictions"][0]["p0"])
    # the clean protocol selects on the validation tail, the report on the test part
    assert a["mse"] == a["val_mse"]
    r = bnn_study.evaluate(frame, folds, "report", PARAMS, FAST, 0)
    assert r["mse"] == r["test_mse"] == r["val_mse"]
    json.dumps({k: v for k, v in a.items() if k != "predictions"})  # storable in Optuna


def test_predictions_and_results_entry(synthetic):
    frame, folds = synthetic
    ev = bnn_study.evaluate(frame, folds[:2], "clean", PARAMS, FAST, 0, keep_predictions=True,
                            curves_fold=folds[1].number)
    pred = ev["predictions"][1]
    probs = pred[["p0", "p1", "p2", "p3"]].to_numpy()
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert np.allclose(pred["value"], probs @ np.arange(4), atol=1e-5)
    assert (pred["y_pred"] == probs.argmax(axis=1)).all()
    assert (pred["mi"] <= pred["entropy"] + 1e-9).all() and (pred["mi"] >= 0).all()
    assert set(pred["position"]) == set(folds[1].test)
    assert ev["test_mse_value"] == pytest.approx(
        experiment.summarize(ev["predictions"], value_column="value")["mean"]["mse"])
    # the final model trains each fold as the search did: the same predictions
    model = bnn_finals.train_final(frame, folds[:2], "BNN", {f.number: PARAMS for f in folds[:2]},
                                   FAST, ["clean"], [0], curves_fold=folds[1].number)
    pd.testing.assert_frame_equal(model.predictions("clean", 0, folds[1].number), pred)
    entry = bnn_finals.results_model(model)
    assert entry["probabilistic"] is True and entry["params"]["hidden"] == PARAMS["hidden"]
    assert entry["protocols"]["clean"]["chosen"]["1"] == PARAMS
    assert entry["protocols"]["clean"]["seeds"]["0"]["pooled"] == ev["pooled"]
    assert (entry["protocols"]["clean"]["seeds_expected_count"]["0"]["mean"]["mse"]
            == pytest.approx(ev["test_mse_value"]))
    table = finals.predictions_frame(bnn_finals.all_runs({"bnn": model}))
    assert list(table.columns[:7]) == ["model", "protocol", "seed", "fold", "position", "y_true",
                                       "y_pred"]
    assert len(table) == sum(len(f.test) for f in folds[:2])
    tails = finals.predictions_frame(bnn_finals.all_runs({"bnn": model}), "validation")
    for f in folds[:2]:  # each fold's tail lies before its own test part
        assert tails.loc[tails["fold"] == f.number, "position"].max() < f.test.min()
    assert model.run("clean", 0, folds[1].number).curves  # curves on the asked fold
    assert not model.run("clean", 0, folds[0].number).curves
    # recording learning curves does not change the trained model
    plain = bnn_study.evaluate(frame, folds[:2], "clean", PARAMS, FAST, 0, keep_predictions=True)
    pd.testing.assert_frame_equal(plain["predictions"][1], pred)
    # learning curves were kept for the asked fold only
    (run,) = ev["runs"]
    assert run.parts.fold.number == folds[1].number and run.curves
    fig = figures.learning_curves({"run": run.history})
    assert len(fig.axes) == 3
    times = frame.index[pred["position"]]
    plot = figures.uncertainty_figure(pred, times, "t", max_points=40)
    assert len(plot.data) == 6 and len(plot.data[0].x) <= 40
    with pytest.raises(ValueError, match="curves_fold"):
        bnn_finals.train_final(frame, folds, "BNN", {f.number: PARAMS for f in folds}, FAST,
                               ["clean"], [0], curves_fold=9)
    summary = bnn_findings.confidence_summary(pred)
    assert 0 < summary["confidence_min"] <= summary["confidence_max"] <= 1


def test_tables_face_the_report(synthetic):
    report = results.report_numbers()
    configs = [dict(p, study=s) for s, g in bnn_study.STUDIES.items()
               for p in bnn_study.search.grid_points(g)]
    found = pd.DataFrame([{**c, "test_mse": 0.1 * i, "test_f1_macro": 0.5, "val_mse": 1 - 0.1 * i,
                           "test_mse_value": 0.2, "collapsed_folds": [4] if i == 2 else [],
                           "folds": []}
                          for i, c in enumerate(configs)])
    table = bnn_findings.study_table(found, report)
    assert len(table) == 10 and table["book MSE"].notna().all()
    shared = bnn_findings.rows_of(table, {"lr": 0.01, "hidden": 64, "hidden_layers": 1})
    assert sorted(shared["report MSE"]) == [0.54, 0.57]  # the report's two rows, one book run
    assert shared["book MSE"].nunique() == 1
    assert np.allclose(table["MSE diff."], table["book MSE"] - table["report MSE"])
    assert (table["collapsed folds"] == "4").sum() == 1
    # selection: test MSE under the report's protocol, validation MSE under the clean one
    assert bnn_study.select(found, "report") == {k: configs[0][k] for k in bnn_study.PARAM_KEYS}
    assert bnn_study.select(found, "clean") == {k: configs[-1][k] for k in bnn_study.PARAM_KEYS}
    with pytest.raises(KeyError):
        bnn_findings.rows_of(table, {"lr": 0.02, "hidden": 64, "hidden_layers": 1})
    partial = bnn_findings.study_table(found.iloc[:2], report)  # lr 0.01 and 0.005 at hidden 64
    assert partial["book MSE"].isna().sum() == 7  # 3 report rows found: 0.57, 0.54 and 1.06


def test_benchmark_reports_both_timings():
    out = bnn.benchmark_sampling(samples=3, repeats=1, rows=20, hidden=(4,))
    assert min(out["loop_seconds"], out["batched_seconds"], out["batched_one_chunk_seconds"]) > 0
    assert out["speedup"] == pytest.approx(out["loop_seconds"] / out["batched_seconds"])


def test_collapse_overview_and_zero_baseline(synthetic):
    frame, folds = synthetic

    def rec(fold, share, collapsed):
        return {"fold": fold, "zero_share": share, "collapsed": collapsed, "mean_p0": share,
                "test": {"mse": 1.0}}

    found = pd.DataFrame([
        {"lr": 0.01, "hidden": 64, "hidden_layers": 1,
         "folds": [rec(1, 0.5, False), rec(2, 1.0, True)]},
        {"lr": 0.001, "hidden": 64, "hidden_layers": 1,
         "folds": [rec(1, 0.7, False), rec(2, 0.8, False)]},
    ])
    wide = bnn_findings.collapse_overview(found)
    assert list(wide["all zeros on folds"]) == ["2", "-"]
    assert wide.loc["lr 0.001, 1 x 64", "fold 1"] == 0.7
    base = bnn_findings.zero_baseline(frame, folds)
    y = frame[data.TARGET].to_numpy()
    assert base["per_fold"][0]["mse"] == pytest.approx(np.mean(y[folds[0].test] ** 2))


def test_uncertainty_verdicts_at_their_thresholds():
    moved = bnn_findings.SIGMA_MOVED_SMALL  # at the threshold: the sigmas count as moved
    at = bnn_findings.uncertainty_verdicts(
        bnn_findings.SIGMA_RATIO_SMALL, bnn_findings.MI_SHARE_SMALL,
        bnn_findings.CONFIDENCE_STD_SMALL, moved)
    assert at["sigma"].startswith("is not small") and at["mi"].startswith("substantial")
    assert at["confidence"] == "varies only a little"  # at the threshold: not below it
    near = bnn_findings.CONFIDENCE_STD_NEAR
    assert bnn_findings.confidence_verdict(near - 1e-9) == "varies only a little"
    assert bnn_findings.confidence_verdict(near) == "does vary"
    below = bnn_findings.uncertainty_verdicts(0.299, 0.199, 0.049, moved)
    assert below["sigma"].startswith("is small") and below["mi"].startswith("small")
    assert below["confidence"] == "barely varies"
    # sigmas still near their start: the ratio is not read at all, small or not
    for ratio in (0.1, 0.9):
        still = bnn_findings.uncertainty_verdicts(ratio, 0.5, 0.1, 0.199)["sigma"]
        assert still.startswith("shows the initialisation")
    # and the mutual information then measures the starting spread, which the text says
    unmoved = bnn_findings.uncertainty_verdicts(0.5, 0.01, 0.1, 0.1)["mi"]
    assert unmoved.startswith("small: ") and "not one the network learned" in unmoved
    assert "learned" not in below["mi"]


def test_seed_difference_pairs_two_final_models():
    table = pd.DataFrame({"model": ["a", "a", "b", "b", "b"],
                          "protocol": ["clean", "clean", "clean", "clean", "report"],
                          "seed": [0, 1, 0, 1, 0], "MSE (argmax)": [0.5, 0.7, 0.2, 0.4, 9.0]})
    assert bnn_findings.seed_difference(table, "a", "b") == (
        "+0.300 (95 % interval ±0.000, which excludes 0: it raises the MSE; above 0 on 2 of 2 "
        "seeds)")
    with pytest.raises(ValueError, match="no clean-protocol rows for 'c'"):
        bnn_findings.seed_difference(table, "a", "c")


def test_posterior_table_measures_sigma_against_its_start():
    model = bnn.BayesMLP(3, [4], prior_sigma=0.1)
    table = bnn_findings.posterior_table(model)
    assert table["median sigma / initial"].to_numpy() == pytest.approx(1.0)  # untrained
    with torch.no_grad():
        model.layers[0].weight_log_sigma.fill_(np.log(0.05))
    table = bnn_findings.posterior_table(model)
    assert table.loc[1, "median sigma / initial"] == pytest.approx(0.5)


def test_other_kl_swaps_the_scaling_and_its_weight():
    settings = bnn_study.profile_settings("full", kl="mean", kl_weight=0.01)
    swapped = bnn_finals.other_kl(settings)
    assert (swapped.kl, swapped.kl_weight) == ("elbo", 1.0)
    assert (bnn_finals.other_kl(swapped).kl, bnn_finals.other_kl(swapped).kl_weight) == (
        "mean", 0.01)
    assert swapped.max_epochs == settings.max_epochs


def test_per_fold_evaluation_equals_one_configuration_everywhere(synthetic):
    frame, folds = synthetic
    folds = folds[:2]
    whole = bnn_study.evaluate(frame, folds, "clean", PARAMS, FAST, 0, keep_predictions=True)
    per_fold = bnn_finals.train_final(frame, folds, "BNN", {f.number: PARAMS for f in folds},
                                      FAST, ["clean"], [0]).runs["clean"][0]
    assert per_fold.summary() == whole["summary"]
    # the validation tails kept for chapter 7 are the ones the choice read
    assert experiment.summarize(per_fold.validation)["mean"]["mse"] == pytest.approx(
        whole["val_mse"])
    for a, b in zip(per_fold.predictions, whole["predictions"], strict=True):
        pd.testing.assert_frame_equal(a, b)
    # a different configuration on one fold changes that fold only
    other = {**PARAMS, "hidden": PARAMS["hidden"] * 2}
    mixed = bnn_finals.train_final(frame, folds, "BNN",
                                   {folds[0].number: PARAMS, folds[1].number: other}, FAST,
                                   ["clean"], [0]).runs["clean"][0]
    pd.testing.assert_frame_equal(mixed.predictions[0], whole["predictions"][0])
    assert not np.allclose(mixed.predictions[1]["p0"], whole["predictions"][1]["p0"])
    with pytest.raises(ValueError, match=r"fold\(s\) \[2\]"):
        bnn_finals.train_final(frame, folds, "BNN", {1: PARAMS}, FAST, ["clean"], [0])


def test_each_fold_chooses_on_its_own_validation_tail():
    def record(fold, val, test):
        return {"fold": fold, "monitor": {"mse": val}, "test": {"mse": test, "f1_macro": 0.5}}

    configs = [{"lr": 0.01, "hidden": 64, "hidden_layers": 1},
               {"lr": 0.01, "hidden": 16, "hidden_layers": 1},
               {"lr": 0.001, "hidden": 16, "hidden_layers": 1}]
    val = [[0.1, 0.5, 0.3], [0.2, 0.2, 0.1], [0.3, 0.2, 0.05]]  # per config, folds 1-3
    # test MSE 1 - val, except that the tie's loser (lr 0.001 on fold 2) has the best test
    # score there: a tie must not go to it
    found = pd.DataFrame([{**c, "folds": [record(k + 1, v, 0.0 if (i, k) == (2, 1) else 1 - v)
                                          for k, v in enumerate(vs)]}
                          for i, (c, vs) in enumerate(zip(configs, val, strict=True))])
    chosen = bnn_study.select_per_fold(found, [1, 2, 3])
    # fold 1: lowest 0.1 (64); fold 2: 16 at lr 0.01 and 16 at lr 0.001 tie, the larger lr
    # wins; fold 3: 16 at lr 0.001
    assert chosen == {1: configs[0], 2: configs[1], 3: configs[2]}
    # fold 2's tie is counted: two of the three candidates share its lowest MSE
    assert bnn_study.ties(found, [1, 2, 3]) == ({1: 1, 2: 2, 3: 1}, 3)
    assert bnn_findings.choice_text(chosen).startswith("fold 1: lr 0.01, 1 x 64; fold 2:")
    assert bnn_findings.choice_text({1: configs[1], 2: configs[1]}) == "lr 0.01, 1 x 16"
    with pytest.raises(ValueError, match="clean protocol"):
        bnn_study.select_per_fold(found.assign(protocol="report"), [1, 2, 3])
    scores = bnn_findings.chosen_scores(found, chosen)
    assert scores["val_mse"] == pytest.approx((0.1 + 0.2 + 0.05) / 3)
    assert scores["test_mse"] == pytest.approx((0.9 + 0.8 + 0.95) / 3)


def test_gap_scores_reuse_both_protocols_and_train_the_held_out_runs(synthetic):
    frame, folds = synthetic
    folds = folds[:2]
    chosen = {f.number: PARAMS for f in folds}
    final = bnn_finals.train_final(frame, folds, "bnn", chosen, FAST, ["report", "clean"], [0])
    scores = bnn_finals.gap_scores(frame, folds, final, [0])
    assert scores["report"][0] == final.runs["report"][0].summary()["mean"]["mse"]
    assert scores["clean"][0] == final.runs["clean"][0].summary()["mean"]["mse"]
    # the held-out run trains on the clean rows and stops on the test part
    parts = [experiment.held_out_parts(frame, f, list(data.NON_LIGHT_FEATURES),
                                       FAST.val_fraction) for f in folds]
    runs = [bnn_study.train_fold(frame, f, "report", PARAMS, FAST, 0, parts=p)
            for f, p in zip(folds, parts, strict=True)]
    preds = [bnn_study.prediction_frame(r) for r in runs]
    assert scores["held_out"][0] == pytest.approx(experiment.summarize(preds)["mean"]["mse"])
    with pytest.raises(ValueError, match="one configuration on every fold"):
        bnn_finals.gap_scores(frame, folds, bnn_finals.train_final(
            frame, folds, "x", chosen, FAST, ["clean"], [0]), [0])


def _found(collapsed: list[list[int]], folds: int = 4) -> pd.DataFrame:
    return pd.DataFrame({"collapsed_folds": collapsed,
                         "folds": [[{"fold": k} for k in range(1, folds + 1)]] * len(collapsed)})


def test_collapse_numbers_count_fold_runs_from_the_records_not_an_assumed_fold_count():
    zero = {"mean": {"mse": 1.5, "f1_macro": 0.2},
            "per_fold": [{"mse": 2.0, "f1_macro": 0.2}, {"mse": 0.5, "f1_macro": 0.3}]}
    out = bnn_findings.collapse_numbers(zero, [_found([[4], []], folds=3), _found([[1, 4]])])
    assert out["bnn_n_fold_runs"] == 2 * 3 + 4 and out["bnn_n_collapsed"] == 3
    assert out["bnn_zero_mse_last"] == 0.5 and out["bnn_zero_mse"] == 1.5


def test_book_key_is_the_clean_choice_only_where_it_was_trained():
    assert bnn_findings.book_key({"bnn": 1, "bnn_selected": 2, "bnn_elbo": 3}) == "bnn_selected"
    assert bnn_findings.book_key({"bnn": 1, "bnn_elbo": 3}) == "bnn"


def test_table_7_beside_puts_the_report_row_beside_its_own_run_only():
    scores = pd.DataFrame({"model": ["bnn", "bnn", "bnn_elbo"],
                           "protocol": ["report", "clean", "clean"]})
    report = {"table_7_comparison": [["CRF", 0.3, 0.5], ["BNN", 0.41, 0.62]]}
    out = bnn_findings.table_7_beside(scores, report)
    assert out["MSE (report, Table 7)"].tolist()[0] == 0.41
    assert out["MSE (report, Table 7)"].isna().tolist() == [False, True, True]


def test_lead_reading_calls_a_lead_within_sampling_noise_a_near_tie():
    def found(best_test: float) -> pd.DataFrame:
        rows = [(0.005, 64, 1, best_test, 0.453), (0.01, 128, 1, 0.429, 0.424),
                (0.01, 64, 1, 0.5, 0.45), (0.01, 64, 1, 0.5, 0.45),  # one config, two studies
                (0.001, 64, 1, 1.198, 1.871)]
        return pd.DataFrame(rows, columns=["lr", "hidden", "hidden_layers", "test_mse",
                                           "val_mse"]).assign(protocol="report")

    # sampling moves a score by a median of 0.038 (0.026 and 0.050); a lead of 0.002 ties
    text = bnn_findings.lead_reading(found(0.427))
    assert text.startswith("it leads the next, lr 0.01, 1 x 128 (0.429), by 0.002, less than "
                           "the median 0.038") and "near tie" in text
    wide = bnn_findings.lead_reading(found(0.3))
    assert "by 0.129, more than the median" in wide and "near tie" not in wide
    with pytest.raises(ValueError, match="report protocol"):
        bnn_findings.lead_reading(found(0.3).assign(protocol="clean"))


def test_people_rows_spans_the_test_parts(synthetic):
    frame, folds = synthetic
    counts = [int((frame[data.TARGET].to_numpy()[f.test] > 0).sum()) for f in folds]
    assert bnn_findings.people_rows(frame, folds) == f"from {min(counts)} to {max(counts)}"


def _table(mse: list[float], f1: list[float], report_f1: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"lr": ["0.01", "0.01", "0.005"], "hidden": [64, 64, 64],
                         "layers": [1, 1, 1], "book MSE": mse, "book F1": f1,
                         "report F1": report_f1})


def test_protocols_reading_counts_each_configuration_once():
    report = _table([0.5, 0.5, 0.4], [0.3, 0.3, 0.5], [0.4, 0.4, 0.45])
    clean = _table([0.45, 0.45, 0.41], [0.3, 0.3, 0.3], [0.4, 0.4, 0.45])
    assert bnn_findings.protocols_reading(report, clean) == (
        "on 1 of the 2 configurations trained under both protocols the clean protocol's test "
        "MSE is the lower, although it stops on a tail instead of the test part; and under "
        "the report protocol the book's F1 macro is below the report's in 2 of the 3 rows of "
        "the report-protocol table (the report's lr 0.01, 1 x 64 appears twice there)")
    with pytest.raises(ValueError, match="under both protocols"):
        bnn_findings.protocols_reading(report.assign(**{"book MSE": np.nan}), clean)


def _final(label: str, per_seed_fold_mse: dict[int, list[float]], chosen: dict
           ) -> bnn_finals.FinalModel:
    runs = {}
    for seed, mses in per_seed_fold_mse.items():
        preds = []
        for k, mse in enumerate(mses, start=1):
            # one row per fold: predicting sqrt(mse) away from 0 gives that MSE
            preds.append(experiment.prediction_frame(k, np.array([k]), np.array([0]),
                                                     np.array([int(round(mse ** 0.5))])))
        runs[seed] = experiment.FittedFolds(preds, [None] * len(mses), 0.0, 0.0, chosen=chosen)
    return bnn_finals.FinalModel(label, FAST, {"clean": runs})


def test_beyond_zero_names_the_folds_and_seeds_worse_than_predicting_zero():
    # one empty-room row per fold: predicting 0 scores 0, predicting 2 scores 4
    config = {1: PARAMS, 2: PARAMS}
    finals = {"bnn": _final("bnn", {0: [0.0, 0.0], 1: [4.0, 0.0]}, config),
              "bnn_elbo": _final("elbo", {0: [4.0, 4.0], 1: [4.0, 0.0]}, config)}
    assert bnn_findings.beyond_zero(finals) == (
        "bnn, clean protocol, fold 1: seed 1; bnn_elbo, clean protocol, fold 1: seeds 0 and "
        "1; bnn_elbo, clean protocol, fold 2: seed 0")
    assert bnn_findings.beyond_zero({"bnn": _final("bnn", {0: [0.0, 0.0]}, config)}) == "none"


def test_same_model_note_only_where_the_fold_chose_the_reports_configuration():
    other = {**PARAMS, "hidden": 128}
    bnn = _final("bnn", {0: [0.0, 0.0]}, {1: PARAMS, 2: PARAMS})
    selected = _final("sel", {0: [0.0, 0.0]}, {1: other, 2: PARAMS})
    finals = {"bnn": bnn, "bnn_selected": selected}
    assert "On fold 2 the per-fold choice is the report's configuration" in (
        bnn_findings.same_model_note(finals, 2))
    assert bnn_findings.same_model_note(finals, 1) == ""
    assert bnn_findings.same_model_note({"bnn": bnn}, 2) == ""


def _rows(k: int, y_true: list[int], y_pred: list[int]) -> pd.DataFrame:
    return experiment.prediction_frame(k, np.arange(len(y_true)), np.array(y_true),
                                       np.array(y_pred))


def test_worst_fold_reading_finds_the_fold_read_worst_against_predicting_zero():
    # fold 1: 3 of 4 rows empty, the runs call most of them 1 person; fold 2: read well
    def final(pred1):
        fitted = experiment.FittedFolds([_rows(1, [0, 0, 0, 2], pred1),
                                         _rows(2, [0, 1, 1, 2], [0, 1, 1, 2])],
                                        [None, None], 0.0, 0.0, chosen={})
        return bnn_finals.FinalModel("x", FAST, {"clean": {0: fitted}})

    # predicting 0 on fold 1 scores MSE 1.0; [3, 3, 3, 2] scores 6.75 and is left out
    finals = {"bnn": final([1, 1, 0, 2]), "bnn_selected": final([1, 0, 1, 1]),
              "bnn_elbo": final([0, 0, 0, 0]), "other": final([3, 3, 3, 2])}
    assert bnn_findings.worst_fold_reading(finals, ("bnn", "bnn_selected", "other")) == (
        "on fold 1, where 75 % of the test rows are empty, the 2 runs that score below "
        "predicting 0 there (bnn (clean), bnn_selected (clean)) predict 0 people on 25 % to "
        "25 % of the fold's rows and get 25 % to 50 % of them right, against 75 % for "
        "predicting 0 everywhere; on the empty rows they predict 1 person 67 % of the time")
    bad = experiment.FittedFolds([_rows(1, [0, 0, 0, 2], [3, 3, 3, 2]),
                                  _rows(2, [0, 1, 1, 2], [3, 3, 3, 3])],
                                 [None, None], 0.0, 0.0, chosen={})
    with pytest.raises(ValueError, match="scores below predicting 0"):
        bnn_findings.worst_fold_reading(
            {"bnn": bnn_finals.FinalModel("x", FAST, {"clean": {0: bad}})})


def test_confidence_by_seed_gives_each_seed_its_verdict():
    near = bnn_findings.CONFIDENCE_STD_NEAR

    class Stub:  # what confidence_by_seed reads of a final model: one fold's predictions
        def __init__(self, stds):
            self.stds = stds

        def predictions(self, protocol, seed, fold):
            # two rows at 0.5 +- d have a standard deviation (ddof 1) of d * sqrt(2)
            d = self.stds[seed] / np.sqrt(2)
            return pd.DataFrame({"confidence": [0.5 - d, 0.5 + d], "entropy": [1.0, 1.0],
                                 "mi": [0.1, 0.1]})

    mixed = Stub({0: near + 0.011, 1: near - 0.006, 2: near - 0.012})
    assert bnn_findings.confidence_by_seed(mixed, "clean", [0, 1, 2], 4) == (
        "does vary for seed 0 (0.086) and varies only a little for seeds 1 and 2 "
        "(0.069, 0.063)")
    same = Stub({0: 0.01, 1: 0.02})
    assert bnn_findings.confidence_by_seed(same, "clean", [0, 1], 4) == (
        "barely varies for every seed (0.010, 0.020)")
    assert bnn_findings.confidence_by_seed(same, "clean", [1], 4) == (
        "barely varies for seed 1 (0.020)")
    with pytest.raises(ValueError, match="at least one seed"):
        bnn_findings.confidence_by_seed(same, "clean", [], 4)
