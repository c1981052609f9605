"""Chapter 4: the MLP + CRF model, its fold loop, and the tables built from the grid."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from occupancy_utils import crf_finals, crf_study, data, experiment, results, splits, training
from occupancy_utils.figures import crf as crf_figures
from occupancy_utils.finals import assemble, predictions_frame
from occupancy_utils.findings import crf as crf_findings
from occupancy_utils.models.crf import MLPCRF, MLPCRFStack, parse_layout
from occupancy_utils.rng import seed_all

FEATURES = data.NON_LIGHT_FEATURES


def sticky_labels(n: int, rng: np.random.Generator, stay: float = 0.95) -> np.ndarray:
    """A Markov chain that stays put or moves one step (never jumps 0 -> 3)."""
    labels = [0]
    for _ in range(n - 1):
        last = labels[-1]
        if rng.random() < stay:
            labels.append(last)
        else:
            labels.append(int(np.clip(last + rng.choice([-1, 1]), 0, 3)))
    return np.array(labels)


@pytest.fixture(scope="module")
def synthetic() -> tuple[pd.DataFrame, list[splits.Fold]]:
    """A small frame with the real column names, labels a sticky chain, features noisy labels."""
    rng = np.random.default_rng(0)
    n = 700
    index = pd.date_range("2020-01-01", periods=n, freq="30s", name="time")
    y = sticky_labels(n, rng)
    x = y[:, None] + rng.normal(0, 0.7, (n, len(FEATURES)))
    frame = pd.DataFrame(x, index=index, columns=FEATURES)
    frame[data.TARGET] = y
    folds = splits.make_folds(index, [(str(index[400]), str(index[550])),
                                      (str(index[550]), None)])
    return frame, folds


# ------------------------------------------------------------------ bad input, before training

@pytest.mark.parametrize("hidden", ["", "64--32", "64-0", "abc", "32 ", 64])
def test_bad_layout_is_named(hidden):
    with pytest.raises(ValueError, match="hidden"):
        parse_layout(hidden)


@pytest.mark.parametrize(("params", "name"), [
    ({"hidden": "32", "lr": -0.001, "seq_len": 10}, "lr"),
    ({"hidden": "32", "lr": 0.0, "seq_len": 10}, "lr"),
    ({"hidden": "32", "lr": 0.001, "seq_len": 1}, "seq_len"),
    ({"hidden": "32", "lr": 0.001, "seq_len": 2.5}, "seq_len"),
    ({"hidden": "32-x", "lr": 0.001, "seq_len": 10}, "hidden"),
])
def test_bad_config_fails_before_training(params, name, synthetic, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("trained despite a bad parameter")

    monkeypatch.setattr(crf_study, "train_fold", no_training)
    frame, folds = synthetic
    with pytest.raises(ValueError, match=name):
        crf_study.run_config(frame, folds, params, "report", max_epochs=2, patience=1, seed=0,
                             features=FEATURES, val_fraction=0.2)
    grid = {k: [v] for k, v in params.items()}
    with pytest.raises(ValueError, match=name):
        crf_study.run_search(grid, "report", profile="quick", max_epochs=2, patience=1, seed=0,
                             storage="sqlite:////nonexistent/never-opened.db", val_fraction=0.2)


def test_unknown_protocol_and_settings_are_named(monkeypatch):
    monkeypatch.setattr(crf_study.search, "run_grid", lambda *a, **k: pytest.fail("searched"))
    grid = {"hidden": ["32"], "lr": [0.001], "seq_len": [10]}
    for kwargs, name in (({"protocol": "peeking"}, "protocol"),
                         ({"protocol": "report", "patience": 0}, "patience"),
                         ({"protocol": "clean", "val_fraction": 1.5}, "val_fraction")):
        settings = {"max_epochs": 2, "patience": 1, "val_fraction": 0.2, **kwargs}
        protocol = settings.pop("protocol")
        with pytest.raises(ValueError, match=name):
            crf_study.run_search(grid, protocol, profile="quick", seed=0, **settings)
    with pytest.raises(ValueError, match="grid"):
        crf_study.check_grid({"hidden": ["32"], "lr": [0.001]})
    with pytest.raises(ValueError, match="seeds"):
        crf_study.check_settings("report", 2, 1, 0.2, seeds=[])
    with pytest.raises(ValueError, match="top_n"):
        crf_study.check_settings("report", 2, 1, 0.2, seeds=[0], top_n=0)


# ------------------------------------------------------------------ chunks and fold parts

def test_chunks_drop_the_tail_and_stay_inside_their_part():
    """Features encode the row position, so each chunk can be traced back to its rows."""
    n = 403
    index = pd.date_range("2020-01-01", periods=n, freq="30s", name="time")
    frame = pd.DataFrame({f: np.arange(n, dtype=float) for f in FEATURES}, index=index)
    frame[data.TARGET] = 0
    fold = splits.make_folds(index, [(str(index[301]), None)])[0]
    parts = experiment.fold_parts(frame, fold, FEATURES, "clean", val_fraction=0.2)
    lo, hi = fold.train.min(), fold.train.max()  # the scaler saw the training rows only
    seq_len = 7
    seen = []
    for part in ("fit", "monitor", "test"):
        x, y = crf_study.chunk_part(parts, part, seq_len)
        positions = np.rint(x[..., 0].numpy() * (hi - lo) + lo).astype(int)
        own = parts.positions[part]
        assert len(x) == len(own) // seq_len
        assert y.shape == (len(x), seq_len)
        # consecutive rows, all of them from this part, starting at the part's first row
        assert (np.diff(positions, axis=1) == 1).all()
        assert set(positions.ravel()) <= set(own)
        assert positions[0, 0] == own[0]
        # the short tail is dropped, not padded
        assert set(own) - set(positions.ravel()) == set(own[len(x) * seq_len:])
        seen.append(positions)
    fit_rows, monitor_rows = set(seen[0].ravel()), set(seen[1].ravel())
    assert not fit_rows & monitor_rows


def test_part_shorter_than_a_chunk_is_named(synthetic):
    frame, folds = synthetic
    parts = experiment.fold_parts(frame, folds[0], FEATURES, "clean", 0.02)
    with pytest.raises(ValueError, match="seq_len"):
        crf_study.chunk_part(parts, "monitor", 25)


# ------------------------------------------------------------------ the model

def test_marginals_and_viterbi_match_brute_force():
    torch.manual_seed(1)
    model = MLPCRF(3, "8")
    x = torch.randn(1, 5, 3)
    paths = np.array(list(itertools.product(range(4), repeat=5)))
    with torch.no_grad():
        em = model.emissions(x)
        mask = torch.ones(len(paths), 5, dtype=torch.bool)
        logp = model.crf(em.expand(len(paths), 5, 4), torch.as_tensor(paths), mask=mask,
                         reduction="none").numpy()
    p = np.exp(logp)
    assert p.sum() == pytest.approx(1.0, abs=1e-5)
    expected = np.array([[p[paths[:, t] == k].sum() for k in range(4)] for t in range(5)])
    np.testing.assert_allclose(model.marginals(x)[0], expected, atol=1e-5)
    assert model.decode(x)[0].tolist() == paths[np.argmax(p)].tolist()


def test_marginals_stay_distributions_over_a_whole_test_part():
    """Whole-fold decoding runs thousands of steps; each step's marginals must sum to 1."""
    torch.manual_seed(2)
    model = MLPCRF(3, "8")
    with torch.no_grad():
        model.crf.transitions.mul_(20)  # strong transitions make the scores large
    probs = model.marginals(torch.randn(1, 5000, 3) * 5)[0]
    assert np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)


def test_crf_learns_a_known_transition_structure():
    """Labels stay or move by one; with weak emissions the CRF must learn that from the data."""
    rng = np.random.default_rng(0)
    y = sticky_labels(2400, rng, stay=0.9)
    x = (np.eye(4)[y] + rng.normal(0, 0.6, (len(y), 4))).astype("float32")
    xc, yc = (torch.as_tensor(a) for a in
              (x.reshape(-1, 10, 4), y.reshape(-1, 10).astype(np.int64)))
    generator = seed_all(0)
    model = MLPCRF(4, "16")
    with crf_study.single_thread():
        history = training.fit(model, lambda idx: model.nll(xc[idx], yc[idx]), len(xc),
                               lambda: model.nll(xc, yc), lr=0.03, batch_size=16, max_epochs=10,
                               patience=10, generator=generator)
    assert history.monitor[-1] < 0.8 * history.monitor[0]
    t = model.transition_matrix()
    for i in range(4):
        assert np.argmax(t[i]) == i, t  # staying is the most likely move from every label
    assert t[0, 3] < t[0, 1] and t[3, 0] < t[3, 2], t  # jumps are less likely than steps
    # decoding with the learned transitions changes label less often than the emissions alone
    with torch.no_grad():
        greedy = model.emissions(xc).argmax(-1).numpy()
    viterbi = model.decode(xc)
    assert (np.diff(viterbi, axis=1) != 0).sum() < (np.diff(greedy, axis=1) != 0).sum()


def test_predict_chunks_labels_every_row_and_decodes_chunks_independently():
    torch.manual_seed(0)
    model = MLPCRF(3, "8")
    x = np.random.default_rng(0).normal(size=(23, 3)).astype("float32")
    labels, proba = crf_study.predict_chunks(model, x, 5, proba=True)
    assert labels.shape == (23,) and proba.shape == (23, 4)
    np.testing.assert_allclose(proba.sum(1), 1, atol=1e-5)
    for start in (0, 5, 20):  # a full chunk, another, and the 3-row tail
        alone = model.decode(torch.as_tensor(x[None, start:start + 5]))[0]
        assert labels[start:start + 5].tolist() == alone.tolist()
    whole, _ = crf_study.predict_whole(model, x)
    assert whole.shape == (23,)


def test_label_changes_split_at_chunk_starts():
    labels = np.array([0, 0, 1, 1, 1, 2, 2, 0, 0, 0])  # changes into rows 2, 5, 7
    assert crf_study.label_changes(labels, 5) == {"inside": 2, "at_starts": 1}
    assert crf_study.label_changes(labels, 2) == {"inside": 2, "at_starts": 1}
    assert crf_study.label_changes(np.zeros(9, int), 3) == {"inside": 0, "at_starts": 0}


# ------------------------------------------------------------------ fold loop

@pytest.fixture(scope="module")
def two_runs(synthetic):
    frame, folds = synthetic
    params = {"hidden": "16", "lr": 0.01, "seq_len": 10}
    kwargs = dict(max_epochs=4, patience=2, seed=3, features=FEATURES, val_fraction=0.2)
    first = crf_study.run_config(frame, folds, params, "clean", **kwargs,
                                 record_transitions_fold=2)
    second = crf_study.run_config(frame, folds, params, "clean", **kwargs)
    return first, second


def test_same_seed_gives_identical_metrics(two_runs):
    first, second = (crf_study.config_record(runs, 0.0) for runs in two_runs)
    assert first == second
    assert first["mse_folds"] and np.isfinite(first["mse"])


def test_fold_runs_score_the_test_part_and_record_what_was_asked(two_runs, synthetic):
    frame, folds = synthetic
    runs = two_runs[0]
    for run, fold in zip(runs, folds, strict=True):
        assert np.array_equal(run.positions, fold.test)
        assert len(run.chunk_pred) == len(run.whole_pred) == len(fold.test)
        assert run.history.epochs <= 4
    # transitions only where asked, one matrix per epoch
    assert runs[0].transitions == []
    assert len(runs[1].transitions) == runs[1].history.epochs
    assert runs[1].transitions[0].shape == (4, 4)


def test_collapse_is_only_all_zero_predictions_on_a_fold_with_people():
    def run(fold, y_true, pred):
        y_true, pred = np.asarray(y_true), np.asarray(pred)
        return crf_study.FoldRun(fold, 2, training.History(), np.arange(len(y_true)), y_true,
                                 pred, pred, y_true, pred, 0.0, 0.0)

    runs = [run(1, [0, 1, 2], [0, 0, 0]), run(2, [0, 0], [0, 0]), run(3, [0, 3], [0, 1])]
    assert crf_study.collapsed_folds(runs) == [1]


# ------------------------------------------------------------------ tables and results

def fake_grid(rows: list[tuple], val_folds: list[list[float]] | None = None) -> pd.DataFrame:
    found = pd.DataFrame(rows, columns=["hidden", "lr", "seq_len", "mse", "val_mse"])
    n = len(found)
    found = found.assign(val_mse_folds=val_folds or [[v] * 4 for v in found["val_mse"]])
    found = found.assign(f1_macro=0.5, f1_micro=0.8, pooled_mse=found["mse"],
                         pooled_f1_macro=0.5, whole_mse=found["mse"], whole_f1_macro=0.5,
                         val_f1_macro=0.5, mse_folds=[[m] * 4 for m in found["mse"]],
                         epochs=[[3, 4, 5, 6]] * n, collapsed=False, collapsed_folds=[[]] * n,
                         changes_inside=0, changes_at_starts=0, seconds=1.0)
    return crf_study.grid_table(found)


def test_table_2_matches_report_rows_by_configuration():
    report = results.report_numbers()["crf"]
    grid = fake_grid([("32", 0.0007, 25, 0.9, 0.1), ("128", 0.001, 20, 0.3, 0.5),
                      ("64-32-16", 0.001, 10, 0.2, 0.9)])
    assert grid["rank"].tolist() == [1, 2, 3] and grid["mse"].is_monotonic_increasing
    table = crf_findings.table_2(grid, report)
    assert len(table) == len(report["table_2_top_results"])
    first = table.iloc[0]  # the report's best: 32, 0.0007, 25
    assert (first["hidden"], first["seq_len"]) == ("32", 25)
    assert first["mse (book)"] == 0.9 and first["book_rank"] == 3
    assert first["mse book - report"] == pytest.approx(0.9 - first["mse (report)"])
    assert table.iloc[3]["mse (book)"] == 0.3  # 128, 0.001, 20 is the report's 4th row
    assert table["mse (book)"].notna().sum() == 2
    top = crf_findings.top_table(grid, report, 2)
    assert top["hidden"].tolist() == ["64-32-16", "128"]
    assert pd.isna(top.iloc[0]["mse (report)"]) and top.iloc[1]["report_rank"] == 4


def test_clean_protocol_selects_on_validation_not_test():
    grid = fake_grid([("32", 0.001, 10, 0.2, 0.9), ("64", 0.0003, 25, 0.5, 0.1)])
    assert crf_study.best_params(grid, "report") == {"hidden": "32", "lr": 0.001, "seq_len": 10}
    assert crf_study.best_params(grid, "clean") == {"hidden": "64", "lr": 0.0003, "seq_len": 25}
    table = crf_findings.protocol_table({"report": grid, "clean": grid})
    assert table["test mse"].tolist() == [0.2, 0.5]
    # the report protocol has no validation part: its monitored part is the test part
    assert np.isnan(table["validation mse"][0]) and table["validation mse"][1] == 0.1
    # a tie never goes to a test score: equal validation MSE, the first layout wins although
    # the other has the lower test MSE (the table comes sorted by test MSE)
    tied = fake_grid([("32", 0.001, 10, 0.9, 0.3), ("64", 0.001, 10, 0.2, 0.3)])
    assert tied["hidden"].tolist() == ["64", "32"]
    assert crf_study.best_params(tied, "clean")["hidden"] == "32"
    # under the report protocol a tie in test MSE goes to the smaller learning rate
    tied = fake_grid([("32", 0.001, 10, 0.5, 0.3), ("32", 0.0003, 10, 0.5, 0.3)])
    assert crf_study.best_params(tied, "report")["lr"] == 0.0003


def test_each_fold_chooses_on_its_own_validation_tail_under_clean():
    configs = [("32", 0.001, 10, 0.2, 0.5), ("64", 0.0003, 25, 0.9, 0.5),
               ("128", 0.001, 10, 0.1, 0.5)]
    # fold 1 prefers 64, fold 2 ties 32 and 64 (earlier grid point wins), fold 3 prefers
    # 128, fold 4 prefers 32; the means tie, so only per-fold numbers can decide
    val = [[0.5, 0.1, 0.9, 0.1], [0.1, 0.1, 0.9, 0.9], [0.9, 0.8, 0.0, 0.5]]
    grid_spec = {"hidden": ["32", "64", "128"], "lr": [0.001, 0.0003], "seq_len": [10, 25]}
    table = fake_grid(configs, val)
    chosen = crf_study.choices(table, grid_spec, "clean", [1, 2, 3, 4])
    assert [chosen[k]["hidden"] for k in (1, 2, 3, 4)] == ["64", "32", "128", "32"]
    # fold 2 ties two grid points at its minimum, the others have one each
    assert crf_study.ties(table, grid_spec, [1, 2, 3, 4]) == ({1: 1, 2: 2, 3: 1, 4: 1}, 3)
    # test scores never decide: changing them leaves the clean choice as it is
    assert crf_study.choices(fake_grid([(*c[:3], 1 - c[3], c[4]) for c in configs], val),
                             grid_spec, "clean", [1, 2, 3, 4]) == chosen
    # the report protocol ships one configuration, the lowest mean test MSE, everywhere
    report = crf_study.choices(table, grid_spec, "report", [1, 2, 3, 4])
    assert {crf_findings.config_label(p) for p in report.values()} == {
        "hidden 128, lr 0.001, seq_len 10"}
    assert crf_findings.choice_label(report) == "hidden 128, lr 0.001, seq_len 10"
    assert crf_findings.choice_label(chosen) == "per fold: 3 different"
    agree = crf_findings.choice_table({"clean": chosen})
    assert agree["folds choosing it"].tolist() == [1, 2, 1, 2]
    scores = crf_findings.chosen_scores(table, chosen)
    assert scores["val_mse"] == pytest.approx((0.1 + 0.1 + 0.0 + 0.1) / 4)
    assert scores["test_mse"] == pytest.approx((0.9 + 0.2 + 0.1 + 0.2) / 4)


def test_results_follow_the_shared_schema(two_runs, tmp_path, monkeypatch):
    runs = two_runs[0]
    chosen = {"clean": {r.fold: {"hidden": "16", "lr": 0.01, "seq_len": 10} for r in runs}}
    final = assemble({("clean", 3): [crf_finals.fold_fit(r) for r in runs]}, chosen)
    payload = crf_finals.results_payload(final, profile="quick", elapsed_seconds=1.0,
                                        search_seconds={"clean": 2.0}, settings={})
    model = payload["models"]["crf"]
    block = model["protocols"]["clean"]
    assert set(block["seeds"]["3"]) == {"per_fold", "mean", "std", "pooled"}
    assert block["seeds"]["3"]["mean"]["mse"] == pytest.approx(
        np.mean([np.mean((r.y_true - r.chunk_pred) ** 2) for r in runs]))
    assert payload["elapsed_seconds"] == 1.0 and model["probabilistic"] is False
    assert block["chosen"] == {str(r.fold): chosen["clean"][r.fold] for r in runs}
    assert block["selected_by"] == "each fold's own validation MSE (nested)"
    frame = predictions_frame(final)
    assert {"model", "protocol", "seed", "fold", "position", "y_true", "y_pred"} <= set(frame)
    assert set(frame["model"]) == set(crf_study.MODEL_KEYS.values())
    monkeypatch.setattr(results, "results_dir", lambda profile: tmp_path)
    results.write_results("quick", "04_crf", payload)
    assert results.read_results("quick", "04_crf")["models"]["crf"]["label"] == model["label"]


def test_transition_animation_keeps_best_epoch_and_stays_light():
    assert crf_figures.frame_epochs(10, 3) == list(range(10))
    picked = crf_figures.frame_epochs(1000, 537, max_frames=60)
    assert len(picked) <= 60 and 537 in picked and picked[0] == 0 and picked[-1] == 999
    matrices = [np.full((4, 4), float(e)) for e in range(100)]
    fig = crf_figures.transitions_figure(matrices, 42, "t", max_frames=20)
    assert len(fig.frames) <= 20
    assert fig.layout.sliders[0].steps[fig.layout.sliders[0].active].label == "43"
    with pytest.raises(ValueError, match="record_transitions"):
        crf_figures.transitions_figure([], 0, "t")


def test_findings_quote_the_tables(two_runs):
    report = results.report_numbers()["crf"]
    runs = two_runs[0]
    grid = fake_grid([("32", 0.001, 10, 0.4, 0.3), ("64", 0.0003, 25, 0.6, 0.1),
                      ("64", 0.001, 10, 0.5, 0.2)])
    final = {"report": {3: runs}, "clean": {3: runs}}
    one = {"hidden": "64", "lr": 0.0003, "seq_len": 25}
    chosen = {p: {k: one for k in (1, 2, 3, 4)} for p in ("report", "clean")}
    found = crf_findings.findings({"report": grid, "clean": grid}, final, report,
                                  ["CRF", 0.288, 0.53], chosen)
    assert found["crf_best_mse"] == 0.4 and found["crf_best_config"].startswith("hidden 32,")
    assert found["crf_report_best_in_book"].startswith("not available")
    assert found["crf_clean_config"].startswith("fold 1: hidden 64, lr 0.0003, seq_len 25;")
    assert found["crf_clean_mean_config"] == "hidden 64, lr 0.0003, seq_len 25"
    assert found["crf_clean_distinct"] == 1
    assert found["crf_clean_test_mse"] == pytest.approx(0.6)
    # two single-run minima: the report grid's best is named beside, no direction read
    assert found["crf_clean_best_vs_report"] == "the report grid's best is 0.400"
    assert found["crf_clean_price"] == pytest.approx(0.6 - 0.4)
    # the parts add up to the price: (0.6 - 0.4) / 4 on each of the four folds
    assert found["crf_clean_price_folds"] == ("fold 1 +0.050, fold 2 +0.050, fold 3 +0.050, "
                                              "fold 4 +0.050")
    # each retrained seed's price: its mean-over-folds test MSE minus the clean grid's best
    seed_mse = crf_study.summarize_runs(runs)["mean"]["mse"]
    assert found["crf_clean_price_seeds"] == f"{seed_mse - 0.4:+.3f}"
    assert crf_findings.price_by_seed([1.191, 0.413, 0.434], 0.330) == (
        "+0.861, +0.083, +0.104 (median +0.104)")
    assert crf_findings.price_by_seed([], 0.330) == "not run"
    assert crf_findings.seed_mses(final)["clean"][3] == pytest.approx(
        crf_study.summarize_runs(runs)["mean"]["mse"])
    inside = sum(crf_study.label_changes(r.chunk_pred, 10)["inside"] for r in runs)
    assert found["crf_chunk_inside"] == inside
    last = crf_study.label_changes(runs[-1].chunk_pred, 10)
    assert found["crf_chunk_finding_last"] == crf_findings.chunk_finding(last["inside"],
                                                                          last["at_starts"])
    assert found["crf_last_fold"] == runs[-1].fold
    assert found["crf_final_report_chunks_mse"] == pytest.approx(
        crf_study.summarize_runs(runs)["mean"]["mse"])
    assert found["crf_report_seed_mses"] == f"{crf_study.summarize_runs(runs)['mean']['mse']:.3f}"
    assert found["crf_collapsed_folds"] == "none"
    assert found["crf_grid_share_expected"] == pytest.approx((2 / 10 + 1 / 25) / 3)
    assert found["crf_clean_val_test_spearman"] == pytest.approx(-1.0)  # ranks reversed
    # per fold too: every fold's tail ranks the three configurations against the test part
    assert found["crf_val_test_reading"].startswith("fold 1 -1.00, fold 2 -1.00")
    assert found["crf_val_test_reading"].endswith("on 0 of 4 folds the tail ranks the "
                                                  "configurations like the test part (a "
                                                  "correlation of at least 0.3)")
    assert "cannot be judged here" in found["crf_table2_reading"]
    # one seed a side: the paired differences are given but not judged
    assert found["crf_finals_difference"] == "+0.000 (one seed: not judged)"
    assert found["crf_decoding_report"].endswith("(one seed: not judged)")
    table = crf_findings.final_table(final, chosen, ["CRF", 0.288, 0.53])
    assert table["mse (report, Table 7)"].notna().sum() == 1


# ------------------------------------------------------------------ several configurations at once

def test_stacked_nll_is_pytorch_crf_nll_model_by_model():
    torch.manual_seed(0)
    models = [MLPCRF(len(FEATURES), h) for h in ("16", "8-4", "16", "32-8-4")]
    x = torch.randn(5, 7, len(FEATURES))
    y = torch.randint(0, 4, (5, 7))
    stack = MLPCRFStack(models)
    with torch.no_grad():
        alone = torch.stack([m.nll(x, y) for m in models])
        for active in ([0, 1, 2, 3], [3, 0, 2], [1]):
            assert torch.allclose(stack.nll(x, y, active), alone[active], atol=1e-6)
    # one batch per member (members trained with their own seeds draw their own batches)
    xs, ys = torch.randn(3, 5, 7, len(FEATURES)), torch.randint(0, 4, (3, 5, 7))
    with torch.no_grad():
        own = torch.stack([models[i].nll(xs[k], ys[k]) for k, i in enumerate([3, 0, 2])])
        assert torch.allclose(stack.nll(xs, ys, [3, 0, 2]), own, atol=1e-6)
    with pytest.raises(ValueError, match="at least one"):
        MLPCRFStack([])


def _plain(parts, hidden, lr, seq_len, *, max_epochs, patience, seed):
    """One model through training.fit, the plain one-model loop: the reference a stack
    must reproduce."""
    x_fit, y_fit = crf_study.chunk_part(parts, "fit", seq_len)
    x_mon, y_mon = crf_study.chunk_part(parts, "monitor", seq_len)
    generator = seed_all(seed)
    model = MLPCRF(x_fit.shape[2], hidden)
    with training.torch_threads(1):
        history = training.fit(model, lambda idx: model.nll(x_fit[idx], y_fit[idx]),
                               len(x_fit), lambda: model.nll(x_mon, y_mon), lr=lr,
                               batch_size=crf_study.BATCH_SIZE, max_epochs=max_epochs,
                               patience=patience, generator=generator)
    return model, history


@pytest.mark.parametrize("seeds", [[5, 5, 5, 5], [5, 6, 7, 5]],
                         ids=["search group: one seed", "final models: a seed each"])
def test_stacked_training_agrees_with_one_model_at_a_time(synthetic, seeds):
    """The speed-up may not change what is computed (up to float rounding): a stack of
    configurations with the search's one seed, or of seeds (with their own batches), trains
    each model as the plain one-model loop does."""
    frame, folds = synthetic
    parts = experiment.fold_parts(frame, folds[1], FEATURES, "clean", 0.2)
    configs = [("16", 0.01), ("8-4", 0.003), ("16", 0.05), ("32-8-4", 0.01)]
    kwargs = dict(max_epochs=25, patience=3)
    together = crf_study.train_group(parts, configs, 10, seeds=seeds, **kwargs)
    alone = [_plain(parts, h, lr, 10, seed=s, **kwargs)
             for (h, lr), s in zip(configs, seeds, strict=True)]
    assert len({h.epochs for _, h in together}) > 1  # models stopped at different epochs
    for (m_group, h_group), (m_alone, h_alone) in zip(together, alone, strict=True):
        assert (h_group.epochs, h_group.best_epoch) == (h_alone.epochs, h_alone.best_epoch)
        assert h_group.monitor == pytest.approx(h_alone.monitor, rel=1e-4)
        for a, b in zip(m_group.parameters(), m_alone.parameters(), strict=True):
            assert torch.allclose(a, b, atol=1e-4)
        x_test = parts.x["test"]
        assert np.array_equal(crf_study.predict_chunks(m_group, x_test, 10)[0],
                              crf_study.predict_chunks(m_alone, x_test, 10)[0])
    with pytest.raises(ValueError, match="one seed per configuration, got 1 for 4"):
        crf_study.train_group(parts, configs, 10, seeds=[5], **kwargs)


def test_seeds_of_a_final_model_are_the_runs_one_seed_at_a_time(synthetic):
    """run_seeds trains the seeds as one stack; each run is the one-seed run's, label for
    label, with Figure 8's transitions only on the seed asked for."""
    frame, folds = synthetic
    params = {"hidden": "16", "lr": 0.01, "seq_len": 10}
    kwargs = dict(max_epochs=6, patience=2, features=FEATURES, val_fraction=0.2)
    runs = crf_study.run_seeds(frame, folds[0], params, "clean", [0, 1, 2], proba=True,
                               record_transitions_seed=1, **kwargs)
    for seed, run in zip([0, 1, 2], runs, strict=True):
        one = crf_study.run_seeds(frame, folds[0], params, "clean", [seed], proba=True,
                                  **kwargs)[0]
        assert np.array_equal(run.chunk_pred, one.chunk_pred)
        assert np.array_equal(run.validation["whole"][0], one.validation["whole"][0])
        assert run.history.best_epoch == one.history.best_epoch
    assert [len(r.transitions) for r in runs] == [0, runs[1].history.epochs, 0]
    assert not np.array_equal(runs[0].chunk_proba, runs[1].chunk_proba)  # seeds differ


def test_grouped_search_gives_one_row_and_one_plot_trial_per_configuration(
        synthetic, tmp_path, monkeypatch):
    frame, folds = synthetic
    monkeypatch.setattr(crf_study.experiment, "search_data", lambda: (frame, tuple(folds)))
    monkeypatch.setattr(crf_study, "FEATURES", FEATURES)
    grid = {"hidden": ["16", "8-4"], "lr": [0.01, 0.003], "seq_len": [10, 20]}
    url = f"sqlite:///{tmp_path / 'crf.db'}"
    table, name = crf_study.run_search(grid, "clean", profile="quick", max_epochs=2,
                                       patience=1, seed=0, workers=1, storage=url, val_fraction=0.2)
    assert len(table) == 8 and table["rank"].tolist() == list(range(1, 9))
    stored = crf_study.optuna.load_study(study_name=name, storage=url)
    assert len(stored.trials) == 2  # one trial per seq_len: the groups
    points = crf_study.load_study(name, "quick", storage=url)
    assert len(points.trials) == 8
    assert points.best_value == pytest.approx(table["mse"].min())
    # one configuration of the grouped search equals the same configuration run alone
    row = table.set_index(["hidden", "lr", "seq_len"]).loc[("8-4", 0.003, 20)]
    alone = crf_study.config_record(crf_study.run_config(
        frame, folds, {"hidden": "8-4", "lr": 0.003, "seq_len": 20}, "clean", max_epochs=2,
        patience=1, seed=0, features=FEATURES, val_fraction=0.2), 0.0)
    assert row["mse"] == pytest.approx(alone["mse"]) and row["val_mse"] == alone["val_mse"]


def test_retrain_trains_each_fold_on_its_own_choice(synthetic):
    frame, folds = synthetic
    chosen = {folds[0].number: {"hidden": "16", "lr": 0.01, "seq_len": 10},
              folds[1].number: {"hidden": "8", "lr": 0.01, "seq_len": 5}}
    final = crf_finals.final_models(frame, folds, {"clean": chosen}, [3], max_epochs=2,
                                    patience=1, val_fraction=0.2)
    runs = crf_finals.fold_runs(final)["clean"][3]
    assert [r.fold for r in runs] == [f.number for f in folds]
    assert [r.seq_len for r in runs] == [10, 5]
    alone = crf_study.run_config(frame, [folds[1]], chosen[folds[1].number], "clean",
                                 max_epochs=2, patience=1, seed=3, proba=True, val_fraction=0.2)[0]
    assert np.array_equal(runs[1].chunk_pred, alone.chunk_pred)
    with pytest.raises(ValueError, match=r"fold\(s\) \[2\]"):
        crf_finals.final_models(frame, folds, {"clean": {1: chosen[1]}}, [3], max_epochs=2,
                                patience=1, val_fraction=0.2)


def test_chunk_finding_verdict_at_its_boundary():
    assert crf_findings.chunk_finding(5, 5).startswith("holds: 50% of")  # at the share: holds
    assert crf_findings.chunk_finding(6, 5).startswith("does not hold: 55% of")
    assert crf_findings.chunk_finding(0, 7) == ("holds: 0% of the chunk-wise path's 7 label "
                                             "changes fall inside chunks")
    assert crf_findings.chunk_finding(0, 0).startswith("cannot be judged")
    # below FINDING_MIN_CHANGES one change would decide the share
    few = crf_findings.FINDING_MIN_CHANGES - 1
    assert crf_findings.chunk_finding(0, few) == (
        f"cannot be judged here: the chunk-wise path changes label {few} times (the rule "
        f"needs at least {crf_findings.FINDING_MIN_CHANGES})")
    assert crf_findings.chunk_finding(0, 1).endswith("changes label 1 time (the rule needs "
                                                     "at least 5)")
    assert crf_findings.chunk_finding(0, few + 1).startswith("holds")
    with pytest.raises(ValueError, match="non-negative"):
        crf_findings.chunk_finding(-1, 2)


def test_gap_scores_reproduce_the_finals_they_pair_with(synthetic):
    frame, folds = synthetic
    folds = folds[:2]
    config = {"hidden": "8", "lr": 0.01, "seq_len": 5}
    chosen = {f.number: config for f in folds}
    settings = dict(max_epochs=2, patience=1, val_fraction=0.2)
    report = crf_finals.final_models(frame, folds, {"report": chosen}, [0, 1], **settings)
    clean = crf_finals.final_models(frame, folds, {"clean": chosen}, [0, 1], **settings)
    other = {f.number: {**config, "lr": 0.003} for f in folds}
    scores = crf_finals.gap_scores(frame, folds, clean, {"report": chosen}, [0, 1], **settings)
    # the report regime trained here is the report protocol's final, seed by seed
    report_runs, clean_runs = crf_finals.fold_runs(report), crf_finals.fold_runs(clean)
    assert scores["report"] == {s: crf_finals.seed_score(report_runs["report"][s], "chunks",
                                                         "mse") for s in (0, 1)}
    assert scores["clean"] == {s: crf_finals.seed_score(clean_runs["clean"][s], "chunks", "mse")
                               for s in (0, 1)}
    assert set(scores["held_out"]) == {0, 1}
    # finals of another configuration are not reused: the clean regime is trained again
    elsewhere = crf_finals.final_models(frame, folds, {"clean": other}, [0, 1], **settings)
    both = {k: {**report[k], **elsewhere[k]} for k in report}
    again = crf_finals.gap_scores(frame, folds, both, {"report": chosen}, [0, 1], **settings)
    assert again == scores
    with pytest.raises(ValueError, match="one configuration"):
        crf_finals.gap_scores(frame, folds, {}, {"report": {1: config, 2: other[2]}}, [0],
                             **settings)


def _collapse_grid(rows: list[tuple[str, float, str]]) -> pd.DataFrame:
    """A grid of (hidden, lr, collapsed folds) over four folds and the report's rates."""
    lrs = [0.001, 0.0007, 0.0003, 0.0001]
    base = [("32", lr, "") for lr in lrs]
    grid = pd.DataFrame(base + rows, columns=["hidden", "lr", "collapsed_folds"])
    grid["collapsed"] = grid["collapsed_folds"] != ""
    for k in range(1, 5):
        grid[f"mse_fold{k}"] = 0.1
    return grid


def test_collapse_finding_needs_most_collapses_to_match_the_pattern():
    # two of three collapses are deep, fast and on the last fold: holds
    grid = _collapse_grid([("64-32", 0.001, "4"), ("128-64", 0.0007, "2,4"),
                           ("32", 0.001, "4")])
    assert crf_findings.collapse_finding(grid).startswith("holds: 2 of the 3 configurations")
    # one of two at exactly the share: does not hold
    half = _collapse_grid([("64-32", 0.001, "4"), ("32", 0.001, "4")])
    assert crf_findings.collapse_finding(half).startswith("does not hold: 1 of the 2")
    # each part of the pattern matters: an earlier fold, one layer, the median rate or below
    for hidden, lr, folds in [("64-32", 0.001, "3"), ("128", 0.001, "4"),
                              ("64-32", 0.0003, "4")]:
        assert crf_findings.collapse_finding(_collapse_grid([(hidden, lr, folds)])).startswith(
            "does not hold: the only configuration that collapses does not match the pattern")
    assert crf_findings.collapse_finding(_collapse_grid([("64-32", 0.001, "4")])).startswith(
        "holds: the only configuration that collapses matches the pattern")
    assert crf_findings.collapse_finding(_collapse_grid([])).startswith("does not appear")
    with pytest.raises(ValueError, match="per-fold columns"):
        crf_findings.collapse_finding(_collapse_grid([]).drop(columns="mse_fold1").iloc[:, :4])


def test_single_class_folds_and_table_2_reading(two_runs):
    runs = [replace(r, chunk_pred=r.y_true.copy()) for r in two_runs[0]]  # several classes
    assert crf_findings.single_class_folds({"report": {0: runs}}) == "none"
    stuck = [replace(runs[0], chunk_pred=np.full_like(runs[0].chunk_pred, 3)), *runs[1:]]
    assert crf_findings.single_class_folds({"report": {0: runs}, "clean": {2: stuck}}) == (
        f"clean protocol, seed 2: class 3 on every test row of fold {runs[0].fold}")
    report = results.report_numbers()["crf"]
    rows = [(str(r[0]), r[1], r[2], m, 0.1) for r, m in
            zip(report["table_2_top_results"], np.linspace(0.1, 0.9, 19), strict=True)]
    same = crf_findings.table_2(fake_grid(rows), report)
    assert "+1.00: the book ranks them as the report does" in crf_findings.table_2_reading(same)
    flipped = crf_findings.table_2(fake_grid([(h, lr, sl, 1 - m, v) for h, lr, sl, m, v in rows]),
                                report)
    assert "does not rank them as the report does" in crf_findings.table_2_reading(flipped)


def test_layout_reading_counts_deep_layouts_among_the_best_and_in_the_report():
    report = results.report_numbers()["crf"]
    n = len(report["table_2_top_results"])
    deep_in_report = sum(len(str(r[0]).split("-")) > 1 for r in report["table_2_top_results"])
    rows = [("64-32-16", 0.001, 10, 0.1 + i / 100, 0.2) for i in range(3)]
    rows += [("32", 0.001, 10 + i, 0.5 + i / 100, 0.2) for i in range(n)]
    text = crf_findings.layout_reading(fake_grid(rows), report)
    assert text == (f"3 of the book's {n} best configurations have two or more hidden layers "
                    f"(the most common layout is 32, {n - 3} times), against {deep_in_report} "
                    f"of the report's {n} Table 2 rows")
    best = fake_grid(rows).iloc[0]
    assert crf_findings.fold_scores(best) == "0.100, 0.100, 0.100, 0.100"
