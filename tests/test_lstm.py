"""Chapter 6: LSTM windows, Monte Carlo dropout, the two-stage search and the results."""

from __future__ import annotations

import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from occupancy_utils import experiment, finals, lstm_finals, lstm_study, sequences, splits
from occupancy_utils.data import TARGET
from occupancy_utils.figures import lstm as lstm_figures
from occupancy_utils.findings import lstm as lstm_findings
from occupancy_utils.models import lstm

GOOD = dict(seeds=[0], structure_grid={"seq_len": [15], "layers": [1], "hidden": [16]},
            structure_fixed={"lr": 0.01, "dropout": 0.5},
            tuning_grid={"dropout": [0.3], "lr": [0.01]},
            settings=lstm_study.profile_settings("quick"),
            mc_samples=10, search_protocols=["report", "clean"], structure_keep=0.5,
            torch_threads=0)


# --- windows ------------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", ["report", "clean"])
def test_windows_stay_inside_one_part_and_one_stretch(frame, protocol):
    seq_len = 15
    step = np.diff(frame.index.asi8) / 1e9
    y_all = frame[TARGET].to_numpy()
    for fold in splits.make_folds(frame.index):
        windows = lstm_study.fold_windows(frame, fold, protocol, seq_len, val_fraction=0.2)
        parts = {"fit": fold.train, "monitor": fold.test, "test": fold.test}
        if protocol == "clean":
            parts["fit"], parts["monitor"] = fold.validation_split(0.2)
        for name, w in windows.items():
            assert len(w) > 0 and w.x.shape == (len(w), seq_len, len(lstm_study.FEATURES))
            assert np.isin(w.rows, parts[name]).all(), f"fold {fold.number} {name}"
            assert (np.diff(w.rows, axis=1) == 1).all()  # consecutive rows
            inner = step[w.rows[:, :-1]]  # gap from each row to the next inside the window
            assert inner.max() <= sequences.MAX_GAP_SECONDS
            assert np.array_equal(w.y, y_all[w.positions])
        # the test part's windows end in the test part and start no earlier than it does
        assert windows["test"].rows.min() >= fold.test.min()
        # only the first seq_len - 1 rows of each stretch lack a window
        seg = sequences.segment_ids(frame.index[fold.test])
        missing = len(fold.test) - len(windows["test"])
        assert missing == (seq_len - 1) * (seg.max() + 1)


def test_windows_carry_the_scaled_rows(frame):
    fold = splits.make_folds(frame.index)[1]
    w = lstm_study.fold_windows(frame, fold, "report", 5, val_fraction=0.2)["test"]
    x = splits.scaled_parts(frame, fold, lstm_study.FEATURES)["test"]
    where = {p: i for i, p in enumerate(fold.test)}
    for k in (0, len(w) // 2, len(w) - 1):
        rows = [where[p] for p in w.rows[k]]
        assert np.allclose(w.x[k], x[rows])


def test_part_windows_break_at_gaps():
    t = pd.DatetimeIndex(pd.to_datetime([0, 30, 60, 90, 2000, 2030, 2060, 2090], unit="s"))
    x = np.arange(8, dtype="float32")[:, None]
    w = lstm_study.part_windows(x, np.arange(8) % 4, np.arange(100, 108), t, 3)
    assert w.positions.tolist() == [102, 103, 106, 107]
    assert w.rows[2].tolist() == [104, 105, 106]
    empty = lstm_study.part_windows(x[:2], np.zeros(2), np.arange(2), t[:2], 3)
    assert len(empty) == 0 and empty.rows.shape == (0, 3)


@pytest.mark.parametrize("seq_len", [5, 15])
def test_history_windows_cover_every_test_row_from_past_readings(frame, seq_len):
    segments = sequences.segment_ids(frame.index)
    for fold in splits.make_folds(frame.index):
        w = lstm_study.history_windows(frame, fold, fold.test, seq_len)
        assert np.array_equal(w.positions, fold.test)  # every test row, in order
        assert w.x.shape == (len(fold.test), seq_len, len(lstm_study.FEATURES))
        assert (np.diff(w.rows, axis=1) >= 0).all() and (w.rows <= w.positions[:, None]).all()
        # the history never crosses a break: every row of a window is in its row's stretch
        assert (segments[w.rows] == segments[w.positions][:, None]).all()
        # where the test part holds a full window, it is the window the search used
        inside = lstm_study.fold_windows(frame, fold, "report", seq_len, val_fraction=0.2)["test"]
        at = np.searchsorted(fold.test, inside.positions)
        assert np.array_equal(w.rows[at], inside.rows) and np.allclose(w.x[at], inside.x)
    # the first test part starts mid-stretch: its first rows reach back into training
    first = splits.make_folds(frame.index)[0]
    w = lstm_study.history_windows(frame, first, first.test, seq_len)
    if segments[first.test[0]] == segments[first.test[0] - seq_len]:
        assert w.rows[0, 0] == first.test[0] - seq_len + 1


def test_history_windows_pad_after_a_break_and_read_no_label_or_future():
    t = pd.DatetimeIndex(["2020-01-01 00:00:00", "2020-01-01 00:00:30", "2020-01-01 00:01:00",
                          "2020-01-01 05:00:00", "2020-01-01 05:00:30", "2020-01-01 05:01:00"])
    frame = pd.DataFrame({f: np.arange(6.0) * (i + 1) for i, f in enumerate(lstm_study.FEATURES)},
                         index=t).assign(**{TARGET: [0, 1, 2, 3, 0, 1]})
    fold = splits.Fold(1, np.arange(3), np.arange(3, 6))
    w = lstm_study.history_windows(frame, fold, fold.test, 3)
    # row 3 opens a stretch: padded with itself; row 4 with row 3; row 5 has a full window
    assert w.rows.tolist() == [[3, 3, 3], [3, 3, 4], [3, 4, 5]]
    counts = lstm_study.history_counts(frame, [fold], 3)
    assert counts.loc[0, "padded after a break"] == 2
    assert counts.loc[0, "history before the test part"] == 0
    changed = frame.copy()
    changed[TARGET] = [3, 3, 3, 3, 3, 3]  # labels are never part of a window
    changed.iloc[5, 0] = 99.0  # nor is a reading after the row
    again = lstm_study.history_windows(changed, fold, fold.test[:2], 3)
    assert np.array_equal(again.x, w.x[:2])
    assert again.y.tolist() == [3, 3]  # the target is the row's own label, as before


# --- Monte Carlo dropout ------------------------------------------------------------------

def _model(variant: str, dropout: float, layers: int = 2) -> lstm.LSTMNet:
    torch.manual_seed(0)
    return lstm.build(variant, 3, hidden=8, layers=layers, dropout=dropout)


X = torch.randn(6, 5, 3, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("variant", lstm.VARIANTS)
def test_no_dropout_gives_identical_samples(variant):
    s = lstm.mc_samples(_model(variant, 0.0), X, variant, 7)
    assert s.shape[:2] == (7, 6)
    # identical up to float rounding (copies sit at different places in one batch)
    assert torch.allclose(s, s[:1].expand_as(s), atol=1e-6, rtol=0)
    assert torch.allclose(s[0], lstm.predict(_model(variant, 0.0), X, variant), atol=1e-6)


@pytest.mark.parametrize("variant", lstm.VARIANTS)
def test_dropout_gives_varied_samples_and_restores_mode(variant):
    model = _model(variant, 0.5).eval()
    s = lstm.mc_samples(model, X, variant, 7)
    assert (s.std(dim=0) > 1e-4).all()
    assert not model.training
    if variant == "classification":
        assert torch.allclose(s.sum(-1), torch.ones(7, 6))


def test_lstm_inter_layer_dropout_is_sampled():
    model = _model("regression", 0.5, layers=2)
    model.drop.p = 0.0  # only nn.LSTM's own dropout left
    assert (lstm.mc_samples(model, X, "regression", 20).std(dim=0) > 1e-4).all()
    single = _model("regression", 0.5, layers=1)
    single.drop.p = 0.0  # one layer: nn.LSTM has no dropout at all
    s = lstm.mc_samples(single, X, "regression", 5)
    assert torch.allclose(s, s[:1].expand_as(s), atol=1e-6, rtol=0)


def test_batched_equals_looped_in_distribution():
    model = _model("regression", 0.5)
    T = 1500
    torch.manual_seed(123)
    looped = lstm.mc_samples(model, X, "regression", T, batched=False)
    torch.manual_seed(123)
    batched = lstm.mc_samples(model, X, "regression", T, batched=True, max_rows=1000)
    assert looped.shape == batched.shape == (T, len(X))
    se = torch.sqrt(looped.var(0) / T + batched.var(0) / T)
    assert ((looped.mean(0) - batched.mean(0)).abs() < 5 * se).all()
    ratio = batched.std(0) / looped.std(0)
    assert ((ratio > 0.85) & (ratio < 1.15)).all()
    # copies of one window in the batched pass are not all given the same mask
    assert batched[:, 0].unique().numel() > T // 2


def test_mc_sampling_rejects_bad_input():
    with pytest.raises(ValueError, match="mc_samples"):
        lstm.mc_samples(_model("regression", 0.5), X, "regression", 0)
    net = _model("regression", 0.5)
    net.norm = torch.nn.BatchNorm1d(8)
    with pytest.raises(ValueError, match="batch normalisation"):
        lstm.mc_samples(net, X, "regression", 3)
    with pytest.raises(ValueError, match="variant"):
        lstm.build("ordinal", 3, 8, 1, 0.1)


def test_time_mc_reports_both_ways():
    out = lstm.time_mc(_model("classification", 0.5), X, "classification", 4, repeats=1)
    assert out["looped_seconds"] > 0 and out["batched_seconds"] > 0 and out["samples"] == 4


# --- labels and the two readings of MC classification ------------------------------------

def test_regression_labels_round_and_clip():
    got = lstm_study.to_labels(np.array([-0.7, 0.4, 0.6, 1.49, 2.51, 3.9, 7.0]), "regression")
    assert got.tolist() == [0, 0, 1, 1, 3, 3, 3]


def test_mc_frame_columns_and_frequencies():
    torch.manual_seed(0)
    model = lstm.build("classification", 3, 8, 2, 0.5)
    w = lstm_study.Windows(X.numpy(), np.array([0, 1, 2, 3, 0, 1]),
                           np.arange(30).reshape(6, 5))
    f = lstm_study.mc_frame(model, w, "classification", fold=1, samples=25, seed=0)
    freq = f[[f"freq{c}" for c in range(4)]].to_numpy()
    p = f[[f"p{c}" for c in range(4)]].to_numpy()
    assert np.allclose(freq.sum(1), 1) and np.allclose(p.sum(1), 1)
    assert np.allclose(freq * 25, np.round(freq * 25))  # shares of 25 votes
    assert (f["y_pred"].to_numpy() == p.argmax(1)).all()
    assert (f["mi"] >= 0).all() and (f["entropy"] >= f["mi"] - 1e-9).all()
    again = lstm_study.mc_frame(model, w, "classification", fold=1, samples=25, seed=0)
    pd.testing.assert_frame_equal(f, again)  # the seed fixes the masks


# --- training: same seed, same metrics ---------------------------------------------------

def test_same_seed_same_metrics(frame):
    settings = lstm_study.profile_settings("quick", batch_size=512, max_epochs=1, patience=1)
    one = lstm_study.Config("regression", 5, 1, 4, 0.3, 0.01)
    cfg = {"clean": dict.fromkeys((1, 2, 3, 4), one)}

    def run(seed: int) -> dict:
        final = lstm_finals.final_models(frame, "regression", cfg, settings=settings,
                                        seeds=[seed], mc_samples=3, progress=False,
                                        threads=1)
        return lstm_finals.results_models([final])

    a, b, c = run(0), run(0), run(1)
    assert a["lstm_regression"]["protocols"]["clean"]["seeds"] == \
        b["lstm_regression"]["protocols"]["clean"]["seeds"]
    assert a["lstm_regression_mcd"]["protocols"]["clean"]["seeds"] == \
        b["lstm_regression_mcd"]["protocols"]["clean"]["seeds"]
    va = a["lstm_regression"]["protocols"]["clean"]["seeds_value_mse"]["0"]["mean"]["mse"]
    vc = c["lstm_regression"]["protocols"]["clean"]["seeds_value_mse"]["1"]["mean"]["mse"]
    assert va != vc  # another seed trains another model


# --- parameters ---------------------------------------------------------------------------

@pytest.mark.parametrize("change, name", [
    ({"seeds": []}, "seeds"),
    ({"seeds": [-1]}, "seeds"),
    ({"structure_grid": {"seq_len": [15], "layers": [1]}}, "structure_grid"),
    ({"structure_grid": {"seq_len": [0], "layers": [1], "hidden": [16]}},
     "structure_grid.seq_len"),
    ({"structure_grid": {"seq_len": [15], "layers": [1.5], "hidden": [16]}},
     "structure_grid.layers"),
    ({"tuning_grid": {"dropout": [1.0], "lr": [0.01]}}, "tuning_grid.dropout"),
    ({"tuning_grid": {"dropout": [0.3], "lr": [-1]}}, "tuning_grid.lr"),
    ({"tuning_grid": {"dropout": [], "lr": [0.1]}}, "tuning_grid.dropout"),
    ({"structure_fixed": {"lr": 0.01}}, "structure_fixed"),
    ({"structure_fixed": {"lr": 0.01, "dropout": 0.0}}, "structure_fixed.dropout"),
    ({"mc_samples": 0}, "mc_samples"),
    ({"search_protocols": ["test"]}, "search_protocols"),
    ({"torch_threads": -1}, "torch_threads"),
    ({"structure_keep": 0}, "structure_keep"),
    ({"structure_keep": 1.5}, "structure_keep"),
])
def test_bad_parameters_are_named(change, name):
    with pytest.raises(ValueError, match=name.replace(".", r"\.")):
        lstm_study.check_parameters(**{**GOOD, **change})


def test_good_parameters_pass_and_bad_settings_are_named():
    lstm_study.check_parameters(**GOOD)
    for kwargs, name in (({"batch_size": 0}, "batch_size"), ({"max_epochs": 2.5}, "max_epochs"),
                         ({"val_fraction": 1.0}, "val_fraction")):
        with pytest.raises(ValueError, match=name):
            lstm_study.profile_settings("quick", **kwargs)
    with pytest.raises(ValueError, match="hidden"):
        lstm_study.Config("regression", 15, 1, 0, 0.3, 0.01)
    with pytest.raises(ValueError, match="lr"):
        lstm_study.Config("regression", 15, 1, 8, 0.3, 0)


# --- the search ---------------------------------------------------------------------------

def fake_objective(params, *, variant, protocol, fixed, settings, seed, threads=0):
    """Stands in for training: best structure seq 10 / 2 layers, best tuning lr 0.01."""
    p = {**fixed, **params}
    mse = abs(p["seq_len"] - 10) + abs(p["layers"] - 2) + abs(p["lr"] - 0.01) * 10
    return {"mse": float(mse), "fold_mse": [mse] * 4, "seconds": 1.0, "fixed": dict(fixed)}


def test_two_stage_search_tunes_the_stage_one_winner(tmp_path, monkeypatch):
    monkeypatch.setattr(lstm_study, "search_objective", fake_objective)
    s = lstm_study.two_stage_search(
        "regression", "report", structure_grid={"seq_len": [5, 10], "layers": [1, 2],
                                               "hidden": [8]},
        structure_fixed={"lr": 0.001, "dropout": 0.2},
        tuning_grid={"dropout": [0.2, 0.5], "lr": [0.001, 0.01]},
        settings=lstm_study.profile_settings("quick"), seed=0, profile="test",
        storage=f"sqlite:///{tmp_path / 's.db'}", progress=False, keep=0.5, threads=1)
    assert len(s.structure) == 4 and len(s.tuning) == 4  # the report's: every structure
    best = s.per_fold[1]
    assert set(s.per_fold.values()) == {best}  # the report's way: one winner for all folds
    assert (best.seq_len, best.layers, best.hidden, best.lr) == (10, 2, 8, 0.01)
    assert best.dropout == 0.2  # a tie: the earlier grid point wins
    assert all(f == {"seq_len": 10, "layers": 2, "hidden": 8} for f in s.tuning["fixed"])
    assert s.seconds == 8.0
    tidy = lstm_findings.long_folds(s.structure, lstm_study.STRUCTURE_KEYS)
    assert len(tidy) == 16 and set(tidy["fold"]) == {1, 2, 3, 4}


def fake_structure(params, *, variant, protocol, fixed, settings, seed, threads=0):
    """Stage 1 where every fold prefers another window: fold k wants seq_len 5 * k."""
    p = {**fixed, **params}
    return {"mse": 0.0, "fold_mse": [abs(p["seq_len"] - 5 * k) for k in (1, 2, 3, 4)],
            "seconds": 1.0}


def fake_fold(params, *, variant, protocol, fixed, settings, seed, fold, threads=0):
    """One fold of the clean searches. Stage 1 (a structure): fold k wants seq_len 5 * k.
    Stage 2: fold 1 and 2 want lr 0.01, folds 3 and 4 lr 0.001."""
    if "seq_len" in params:
        mse = float(abs(params["seq_len"] - 5 * fold))
    else:
        want = 0.01 if fold <= 2 else 0.001
        mse = abs(params["lr"] - want) + fixed["seq_len"] / 1000
    return {"mse": mse, "fold_mse": [mse], "test_mse": mse, "epochs": [3], "seconds": 0.5}


def _clean_search(tmp_path, keep: float) -> lstm_study.Search:
    """The clean two-stage search on four window lengths and two learning rates."""
    return lstm_study.two_stage_search(
        "regression", "clean", structure_grid={"seq_len": [5, 10, 15, 20], "layers": [1],
                                               "hidden": [8]},
        structure_fixed={"lr": 0.001, "dropout": 0.2},
        tuning_grid={"dropout": [0.2], "lr": [0.001, 0.01]},
        settings=lstm_study.profile_settings("quick"), seed=0, profile="test",
        storage=f"sqlite:///{tmp_path / 's.db'}", progress=False, keep=keep, threads=1)


def test_clean_search_chooses_every_stage_per_fold(tmp_path, monkeypatch):
    monkeypatch.setattr(lstm_study, "search_objective", fake_structure)
    monkeypatch.setattr(lstm_study, "fold_objective", fake_fold)
    s = _clean_search(tmp_path, keep=1.0)
    assert {k: c.seq_len for k, c in s.per_fold.items()} == {1: 5, 2: 10, 3: 15, 4: 20}
    assert {k: c.lr for k, c in s.per_fold.items()} == {1: 0.01, 2: 0.01, 3: 0.001, 4: 0.001}
    # one stage-1 study per fold (keep 1: every structure on each), one stage-2 study per
    # fold, each on that fold's structure
    assert len(s.names) == 8 and sorted(set(s.tuning["fold"])) == [1, 2, 3, 4]
    assert (s.structure["folds_reached"] == 4).all()
    assert lstm_findings.halving_text(s) == "every structure on every fold (16 trainings)"
    assert (s.tuning.groupby("fold")["seq_len"].first() == [5, 10, 15, 20]).all()
    assert s.hyper()["seq_len"] == "5 / 10 / 15 / 20" and s.hyper()["layers"] == 1
    tidy = lstm_findings.long_folds(s.tuning, lstm_study.TUNING_KEYS)
    assert sorted(set(tidy["fold"])) == [1, 2, 3, 4] and len(tidy) == 8


def test_clean_search_halves_the_structures_fold_by_fold(tmp_path, monkeypatch):
    """keep 0.5 on four structures: 4, 2, 1 and 1 trained on folds 1-4. Fold 1 ranks
    seq_len 5 and 10 best; after fold 2 they tie on the mean (2.5) and the earlier goes
    on, so folds 3 and 4 can only take seq_len 5, while fold 2 still chooses on its own
    tail among the two that reached it."""
    calls = []

    def counted(params, **kw):
        if "seq_len" in params:
            calls.append((kw["fold"], params["seq_len"]))
        return fake_fold(params, **kw)

    monkeypatch.setattr(lstm_study, "fold_objective", counted)
    s = _clean_search(tmp_path, keep=0.5)
    assert sorted(calls) == [(1, 5), (1, 10), (1, 15), (1, 20), (2, 5), (2, 10), (3, 5), (4, 5)]
    assert {k: c.seq_len for k, c in s.per_fold.items()} == {1: 5, 2: 10, 3: 5, 4: 5}
    assert s.structure["folds_reached"].tolist() == [4, 2, 1, 1]
    assert lstm_findings.halving_text(s) == ("4, 2, 1 and 1 structures on folds 1-4, 8 of the "
                                             "16 trainings an exhaustive grid needs")
    assert lstm_findings.ties(s)["structure"][1] == {1: 4, 2: 2, 3: 1, 4: 1}
    assert np.isnan(s.structure["mse"].iloc[1]) and s.structure["mse"].iloc[0] == 7.5


# --- results, tables and the measured claims ---------------------------------------------

def _synthetic_final() -> lstm_finals.Final:
    rng = np.random.default_rng(0)
    chosen = {
        "report": dict.fromkeys((1, 2), lstm_study.Config("regression", 15, 1, 8, 0.5, 0.01)),
        "clean": dict.fromkeys((1, 2), lstm_study.Config("regression", 10, 1, 8, 0.5, 0.01))}
    fits = {}
    for protocol in ("report", "clean"):
        for fold in (1, 2):
            y = rng.integers(0, 4, 50)
            value = y + rng.normal(0, 0.4, 50)
            std = np.full(50, 0.4)
            det = lstm_study.experiment.prediction_frame(
                fold, np.arange(50), y, lstm_study.to_labels(value, "regression"), value=value)
            mc = det.assign(std=std)
            fits.setdefault((protocol, 0), []).append(finals.FoldFit(
                {"lstm_regression": det, "lstm_regression_mcd": mc}, None, 0.5,
                {"lstm_regression": 0.05, "lstm_regression_mcd": 0.1}))
    return lstm_finals.Final("regression", finals.assemble(fits, chosen))


def test_results_follow_the_schema():
    final = _synthetic_final()
    models = lstm_finals.results_models([final])
    assert set(models) == {"lstm_regression", "lstm_regression_mcd"}
    entry = models["lstm_regression_mcd"]
    assert entry["probabilistic"] is True and models["lstm_regression"]["probabilistic"] is False
    assert entry["params"]["seq_len"] == 10  # the clean protocol's model is the book's
    block = entry["protocols"]["report"]
    assert set(block) >= {"seeds", "train_seconds", "predict_seconds", "seeds_value_mse"}
    labels_mse = block["seeds"]["0"]["mean"]["mse"]
    value_mse = block["seeds_value_mse"]["0"]["mean"]["mse"]
    assert labels_mse != value_mse
    frames = final.frames("lstm_regression_mcd", "report", 0)
    expected = np.mean([np.mean((f["y_true"] - f["value"]) ** 2) for f in frames])
    assert value_mse == pytest.approx(expected)
    preds = lstm_finals.predictions_frame([final])
    assert {"model", "protocol", "seed", "fold", "position", "y_true", "y_pred", "value",
            "std"} <= set(preds.columns)
    assert len(preds) == 4 * 2 * 50


def test_band_and_confidence_measures():
    pred = pd.DataFrame({"y_true": [0, 1, 2, 3], "value": [0.1, 1.5, 2.0, 1.0],
                         "std": [0.1, 0.2, 0.1, 0.5]})
    assert lstm_findings.share_within(pred) == 0.5  # rows 0 and 2
    assert lstm_findings.share_within(pred, k=3) == 0.75
    band = lstm_findings.band_table(_synthetic_final(), ["report", "clean"], [0])
    assert band.loc["clean", "rows"] == 100 and 0 < band.loc["clean", "within 2σ, all folds"] <= 1
    cls = pd.DataFrame({"y_true": [0, 1, 2], "y_pred": [0, 2, 2], "y_pred_freq": [0, 1, 2],
                        **{f"p{c}": v for c, v in enumerate(
                            [[0.9, 0.1, 0.1], [0.1, 0.3, 0.1], [0, 0.6, 0.7], [0, 0, 0.1]])},
                        **{f"freq{c}": v for c, v in enumerate(
                            [[1.0, 0.2, 0.0], [0, 0.5, 0.1], [0, 0.3, 0.9], [0, 0, 0]])}})
    conf = lstm_findings.confidence_when_right_and_wrong(cls)
    assert conf.loc["mean softmax", "correct: mean probability"] == pytest.approx(0.8)
    assert conf.loc["mean softmax", "wrong: mean probability"] == pytest.approx(0.6)
    assert conf.loc["MC class frequency (report)", "wrong: rows"] == 0


def test_table6_sets_the_report_beside_the_book():
    report = {"table_6_mc_dropout": [["regression without MCD", 0.1, 0.01, 0.6, 0.1],
                                     ["regression with MCD", 0.6, 0.1, 0.1, 0.01]]}
    final = _synthetic_final()
    t6 = lstm_findings.table6({"regression": final}, report, ["report", "clean"])
    assert t6.loc[("regression with MCD", "report"), "mse"] == 0.6
    assert ("regression with MCD, MSE on raw MC mean", "report") not in t6.index
    book = t6.loc[("regression with MCD, MSE on raw MC mean", "book, clean protocol")]
    frames = final.frames("lstm_regression_mcd", "clean", 0)
    assert book["mse"] == pytest.approx(np.mean([np.mean((f["y_true"] - f["value"]) ** 2)
                                                 for f in frames]))
    assert list(t6.columns) == list(lstm_findings.METRICS)


def test_figures_are_light_and_complete():
    n = 3 * lstm_figures.MAX_POINTS
    pred = pd.DataFrame({"y_true": np.zeros(n, int), "value": np.zeros(n), "std": np.ones(n)})
    fig = lstm_figures.regression_bands(pred, "t")
    assert len(fig.data) == 4 and all(len(t.x) <= lstm_figures.MAX_POINTS for t in fig.data)
    stage = pd.DataFrame({"dropout": [0.2, 0.5], "lr": [0.01, 0.01],
                          "fold_mse": [[0.1, 0.2, 0.3, 0.4], [0.2, 0.3, 0.4, 0.5]]})
    f2 = lstm_figures.search_effects({"a": stage, "b": stage}, lstm_study.TUNING_KEYS)
    assert len(f2.axes) == 4


def test_search_figure_jitter_is_the_same_whatever_ran_before():
    """seaborn jitters Figures 11-12's points with NumPy's global generator; the figure
    seeds it for itself, so the same results draw the same figure in any session."""
    stage = pd.DataFrame({"dropout": [0.2, 0.5], "lr": [0.01, 0.01],
                          "fold_mse": [[0.1, 0.2, 0.3, 0.4], [0.2, 0.3, 0.4, 0.5]]})

    def points(global_seed: int) -> np.ndarray:
        np.random.seed(global_seed)
        fig = lstm_figures.search_effects({"a": stage}, lstm_study.TUNING_KEYS)
        offsets = np.concatenate([c.get_offsets() for c in fig.axes[0].collections
                                  if len(c.get_offsets())])
        plt.close(fig)
        return offsets

    first = points(1)
    assert np.ptp(first[:, 0] - np.rint(first[:, 0])) > 0  # the points are jittered
    np.testing.assert_array_equal(points(2), first)
    after_figure = np.random.random()  # the global stream where the figure found it
    np.random.seed(2)
    assert np.random.random() == after_figure


def test_table5_keeps_integer_hyper_parameters_and_differences_only_scores():
    # Table 6's dropout-off row, not Table 5's, is what the difference subtracts
    report = {"table_5_best": {"regression": {
        "hidden": 64, "layers": 3, "seq_len": 15, "dropout": 0.5, "lr": 0.003, "mse": 0.133,
        "mse_std": 0.058, "f1_macro": 0.627, "f1_std": 0.196}},
        "table_6_mc_dropout": [["regression without MCD", 0.133, 0.058, 0.659, 0.196],
                               ["regression with MCD", 0.5, 0.1, 0.2, 0.1]]}
    final = _synthetic_final()
    searches = {p: lstm_study.Search("regression", p, pd.DataFrame(), pd.DataFrame(),
                                     final.configs[p]) for p in ("report", "clean")}
    t5 = lstm_findings.table5("regression", searches, {"regression": final}, report)
    assert t5.loc["hidden", "book (report protocol)"] == 8
    assert isinstance(t5.loc["seq_len", "book (clean protocol)"], int)
    assert str(t5.loc["layers", "report"]) == "3"  # shown as 3, not 3.0000
    diff = "book (report protocol) - report, dropout off"
    assert pd.isna(t5.loc["lr", diff])
    book_mse = t5.loc["mse", "book (report protocol)"]
    assert t5.loc["mse", diff] == pytest.approx(book_mse - 0.133, abs=1e-4)
    book_f1 = t5.loc["f1_macro", "book (report protocol)"]
    assert t5.loc["f1_macro", "report"] == 0.627  # shown as the report printed it
    assert t5.loc["f1_macro", diff] == pytest.approx(book_f1 - 0.659, abs=1e-4)
    # the column the difference is taken from is shown, and spreads are not differenced
    assert t5.loc["f1_macro", "report, dropout off (Table 6)"] == 0.659
    assert pd.isna(t5.loc["mse_std", diff]) and pd.isna(t5.loc["f1_std", diff])
    assert t5.loc["f1_std", "report, dropout off (Table 6)"] == 0.196
    # folds that chose differently are listed in fold order, not averaged
    c = lstm_study.Config
    searches["clean"].per_fold = {1: c("regression", 10, 1, 8, 0.5, 0.01),
                                  2: c("regression", 20, 1, 8, 0.5, 0.01)}
    t5 = lstm_findings.table5("regression", searches, {"regression": final}, report)
    assert t5.loc["seq_len", "book (clean protocol)"] == "10 / 20"
    assert t5.loc["hidden", "book (clean protocol)"] == 8


def test_search_workers_share_the_cores_unless_told(monkeypatch):
    monkeypatch.setattr(lstm_study.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert lstm_study.threads_per_worker(0, 1) == 4
    assert lstm_study.threads_per_worker(0, 2) == 2
    assert lstm_study.threads_per_worker(0, 8) == 1
    assert lstm_study.threads_per_worker(3, 2) == 3  # an explicit count wins


def _t6(gap: float) -> pd.DataFrame:
    rows = []
    for protocol in ("report", "clean"):
        rows += [{"model": "regression without MCD", "source": f"book, {protocol} protocol",
                  "mse": 0.2, "f1_macro": 0.6},
                 {"model": "regression with MCD", "source": f"book, {protocol} protocol",
                  "mse": 0.2, "f1_macro": 0.6 - (gap if protocol == "clean" else 0.0)}]
    rows.append({"model": "regression with MCD", "source": "report", "mse": 0.659,
                 "f1_macro": 0.133})
    return pd.DataFrame(rows).set_index(["model", "source"])


def test_book_scores_key_the_book_rows_by_protocol():
    scores = lstm_findings.book_scores(_t6(0.05))
    assert set(scores) == {(m, p) for m in ("regression without MCD", "regression with MCD")
                           for p in ("report", "clean")}  # the report's row is left out
    assert scores[("regression with MCD", "clean")]["f1_macro"] == pytest.approx(0.55)


def test_swap_reading_at_the_collapse_threshold():
    below = lstm_findings.swap_reading(_t6(lstm_findings.F1_COLLAPSE - 0.001), (0.659, 0.133))
    assert "supports the swapped reading" in below and "-0.099 under the clean protocol" in below
    at = lstm_findings.swap_reading(_t6(lstm_findings.F1_COLLAPSE + 1e-9), (0.659, 0.133))
    assert "cannot be ruled out" in at and "under the clean protocol" in at
    # a rise of F1 under MC dropout is no fall: it supports the swapped reading
    rise = lstm_findings.swap_reading(_t6(-0.3), (0.659, 0.133))
    # the change is given with its sign, not clipped to a fall of 0
    assert "+0.300 under the clean protocol" in rise and "supports the swapped reading" in rise


def test_fixed_lr_text_says_whether_it_is_the_reports_initial_rate():
    assert lstm_findings.fixed_lr_text(0.0001, 0.0001) == "the report's initial rate"
    assert lstm_findings.fixed_lr_text(0.01, 0.0001) == "the report's initial rate was 0.0001"


def test_majority_reading_boundary():

    clear = lstm_findings.CLEAR_MAJORITY
    assert lstm_findings.majority_reading(clear - 0.001).endswith("does not hold here (0.749)")
    assert lstm_findings.majority_reading(clear).endswith(" holds here (0.750)")  # at the cutoff
    assert "does not hold" in lstm_findings.majority_reading(0.6)  # a bare majority is not clear
    with pytest.raises(ValueError, match="share"):
        lstm_findings.majority_reading(1.5)
    assert lstm_findings.majority_reading(0.07, 0.80).endswith(
        "does not hold here (0.070); over all test rows, which the report made no claim "
        "about, the share is 0.800, at or above the 75 % the rule asks")
    assert lstm_findings.majority_reading(0.8, 0.5).endswith(
        "the share is 0.500, below the 75 % the rule asks")
    assert lstm_findings.majority_reading(0.8, 0.9).endswith(
        "the share is 0.900, also at or above the 75 % the rule asks")
    assert lstm_findings.majority_reading(0.07, 0.7).endswith(
        "the share is 0.700, also below the 75 % the rule asks")
    with pytest.raises(ValueError, match="share"):
        lstm_findings.majority_reading(0.5, -0.1)


def test_tie_counts_per_stage_and_fold():
    c = lstm_study.Config("regression", 5, 1, 4, 0.3, 0.01)
    structure = pd.DataFrame({"fold_mse": [[0.1, 0.2], [0.1, 0.3], [0.2, 0.2]]})
    tuning = pd.DataFrame({"fold": [1, 1, 2, 2], "fold_mse": [[0.0], [0.0], [0.5], [0.4]]})
    found = lstm_study.Search("regression", "clean", structure, tuning, {1: c, 2: c})
    assert lstm_findings.ties(found) == {"structure": ({1: 2, 2: 2}, 3),
                                      "tuning": ({1: 2, 2: 1}, 2)}
    assert lstm_findings.ties_text(found) == (
        "in the structure stage, 2 of 3 tie on fold 1, 2 of 3 tie on fold 2; in the dropout "
        "and lr stage, 2 of 2 tie on fold 1, a single best on fold 2")
    with pytest.raises(ValueError, match="clean protocol"):
        lstm_findings.ties(lstm_study.Search("regression", "report", structure, tuning, {1: c}))


def test_final_models_train_each_fold_on_its_own_configuration(frame):
    settings = lstm_study.profile_settings("quick", batch_size=512, max_epochs=1, patience=1)
    c = lstm_study.Config
    per_fold = {1: c("regression", 5, 1, 4, 0.3, 0.01), 2: c("regression", 20, 1, 4, 0.3, 0.01),
                3: c("regression", 5, 1, 4, 0.3, 0.01), 4: c("regression", 10, 1, 4, 0.3, 0.01)}
    final = lstm_finals.final_models(frame, "regression", {"clean": per_fold}, settings=settings,
                                    seeds=[0], mc_samples=2, progress=False, threads=1)
    folds = splits.make_folds(frame.index)
    counts = lstm_study.history_counts_per_fold(frame, folds, per_fold)
    frames = final.frames("lstm_regression", "clean", 0)
    # every fold's every test row is scored, whatever its window length
    assert [f["position"].tolist() for f in frames] == [f.test.tolist() for f in folds]
    assert counts["seq_len"].tolist() == [5, 20, 5, 10]
    # the longer window reaches further back before the test part
    reach = counts["history before the test part"]
    assert reach[1] >= 19 > 4 >= reach[0]
    models = lstm_finals.results_models([final])
    assert models["lstm_regression"]["params"] == {}  # the folds differ: no one configuration
    assert models["lstm_regression"]["params_by_protocol"]["clean"]["2"]["seq_len"] == 20


def test_gap_scores_reuse_the_finals_and_train_the_held_out_runs(frame):
    settings = lstm_study.profile_settings("quick", batch_size=512, max_epochs=1, patience=1)
    config = lstm_study.Config("classification", 5, 1, 4, 0.3, 0.01)
    folds = splits.make_folds(frame.index)
    same = {f.number: config for f in folds}
    final = lstm_finals.final_models(frame, "classification", {"report": same, "clean": same},
                                    settings=settings, seeds=[0], mc_samples=2, progress=False,
                                    threads=1)
    scores = lstm_finals.gap_scores(frame, final, settings=settings, seeds=[0], threads=1)
    assert scores["clean"][0] == pytest.approx(
        np.mean([((f["y_pred"] - f["y_true"]) ** 2).mean()
                 for f in final.frames("lstm_classification", "clean", 0)]))
    assert set(scores) == {"report", "held_out", "clean"}
    # without the clean finals the clean regime is trained here, and gives the same numbers
    alone = lstm_finals.Final("classification", {k: {"report": v["report"]}
                                                 for k, v in final.runs.items()})
    assert lstm_finals.gap_scores(frame, alone, settings=settings, seeds=[0], threads=1) == scores
    entries = lstm_finals.protocol_gaps(frame, {"classification": final, "regression": alone},
                                       settings=settings, seeds=[0], threads=1)
    assert list(entries) == ["lstm_classification"]  # only variants run under both protocols
    assert entries["lstm_classification"]["scores"]["held_out"] == {"0": scores["held_out"][0]}
    # one configuration under both protocols: the paired runs explain the whole finals gap
    text = lstm_findings.gap_remainders({"classification": final, "regression": alone}, entries)
    assert text.startswith("for classification, clean minus report, the final models differ")
    assert text.endswith("so the paired runs, which reuse those final models, are the whole gap")
    assert "regression" not in text
    other = {**same, 2: lstm_study.Config("classification", 10, 1, 4, 0.3, 0.01)}
    odd = {k: {"report": {s: dataclasses.replace(r, chosen=other) for s, r in v["report"].items()}}
           for k, v in final.runs.items()}
    with pytest.raises(ValueError, match="one configuration"):
        lstm_finals.gap_scores(frame, lstm_finals.Final("classification", odd),
                              settings=settings, seeds=[0], threads=1)


def test_drop_on_errors_tells_a_real_drop_from_none():
    rng = np.random.default_rng(0)
    n = 600
    y = rng.integers(0, 4, n)
    wrong = rng.random(n) < 0.3
    pred = (y + wrong) % 4
    # softmax: 0.9 on correct rows, 0.5 on wrong ones; frequency: 0.8 on both
    p = np.full((n, 4), 0.1 / 3)
    p[np.arange(n), pred] = np.where(wrong, 0.5, 0.9)
    p[np.arange(n), (pred + 1) % 4] += np.where(wrong, 0.4, 0.0)
    f = np.full((n, 4), 0.2 / 3)
    f[np.arange(n), pred] = 0.8
    frame = pd.DataFrame({"fold": np.repeat([1, 2], n // 2), "y_true": y, "y_pred": pred,
                          "y_pred_freq": pred,
                          **{f"p{c}": p[:, c] for c in range(4)},
                          **{f"freq{c}": f[:, c] for c in range(4)}})
    drops = lstm_findings.drop_on_errors(frame, n_boot=200)
    assert drops.loc["mean softmax", "drop"] == pytest.approx(0.4)
    assert drops.loc["mean softmax", "shown"] == "yes"
    assert drops.loc["MC class frequency (report)", "drop"] == pytest.approx(0.0)
    assert drops.loc["MC class frequency (report)", "shown"] == "no"
    text = lstm_findings.drop_reading(drops)
    assert text.startswith("with the mean softmax it drops on the wrong predictions (correct "
                           "minus wrong +0.400")
    assert ("with the report's MC class frequencies no drop can be read (correct minus wrong "
            "+0.000") in text
    rises = drops.assign(drop=-0.4, low=-0.45, high=-0.35, shown="no")
    assert "it rises on the wrong predictions (correct minus wrong -0.400" in (
        lstm_findings.drop_reading(rises))
    right = frame.assign(y_pred=frame["y_true"], y_pred_freq=frame["y_true"])
    assert lstm_findings.drop_on_errors(right, n_boot=5)["shown"].str.startswith(
        "cannot be judged").all()


def test_structure_reading_applies_the_fold_spread():
    grid = {"seq_len": [5, 15], "layers": [1, 3], "hidden": [64]}
    rows = [(5, 1, [0.1, 0.1, 0.1, 0.1]), (5, 3, [0.9, 0.2, 0.2, 0.2]),
            (15, 1, [0.3, 0.3, 0.3, 0.3]), (15, 3, [0.2, 0.2, 0.2, 0.2])]
    structure = pd.DataFrame([{"seq_len": s, "layers": la, "hidden": 64, "fold_mse": f,
                               "mse": float(np.mean(f))} for s, la, f in rows])
    c = lstm_study.Config("regression", 5, 1, 64, 0.2, 0.01)
    found = lstm_study.Search("regression", "report", structure, pd.DataFrame(), {1: c})
    steady = lstm_findings.structure_reading(found, {"seq_len": 15, "layers": 1, "hidden": 64},
                                          grid)
    assert steady.startswith("the report's structure (seq_len 15, layers 1, hidden 64) ranks 3 "
                             "of 4")
    assert steady.endswith("loses by more than that spread")  # +0.2 on every fold
    # one fold carries the whole difference: within the spread
    lumpy = lstm_findings.structure_reading(found, {"seq_len": 5, "layers": 3, "hidden": 64}, grid)
    assert "differs by +0.800, +0.100, +0.100, +0.100" in lumpy
    assert lumpy.endswith("is within the spread over folds, so the different winner is not a "
                          "finding")
    assert lstm_findings.structure_reading(found, {"seq_len": 5, "layers": 1, "hidden": 64},
                                        grid).endswith("is the winner here too")
    assert lstm_findings.structure_reading(found, {"seq_len": 20, "layers": 1, "hidden": 64},
                                        grid).endswith("is not in this profile's grid")
    with pytest.raises(ValueError, match="report protocol"):
        lstm_findings.structure_reading(lstm_study.Search("regression", "clean", structure,
                                                       pd.DataFrame(), {1: c}), {}, grid)


def test_fold_spread_reading_compares_fold_ranges_with_mean_ranges():
    unequal = pd.DataFrame({"fold_mse": [[0.1, 0.9], [0.2, 0.8]], "mse": [0.5, 0.5]})
    assert lstm_findings.fold_spread_reading(unequal) == (
        "a configuration's MSE differs between its best and its worst fold by 0.700 (the median "
        "over the configurations), more than the configurations' mean MSEs differ from each "
        "other (0.000 from the best to the worst)")
    steady = pd.DataFrame({"fold_mse": [[0.1, 0.1], [0.9, 0.9]], "mse": [0.1, 0.9]})
    assert "0.000 (the median over the configurations), no more than" in \
        lstm_findings.fold_spread_reading(steady)
    with pytest.raises(ValueError, match="no configuration"):
        lstm_findings.fold_spread_reading(unequal.iloc[:0])


def test_effect_reading_checks_the_claimed_value_against_the_spread():
    stage = pd.DataFrame({"layers": [1, 3, 4],
                          "fold_mse": [[0.5, 0.5, 0.5, 0.5], [0.1, 0.1, 0.1, 0.1],
                                       [0.3, 0.3, 0.3, 0.3]]})
    assert lstm_findings.effect_reading(stage, "layers", [3, 4]) == (
        "layers 3 or 4: holds clearly, the lowest mean MSE is at 3 (0.100, next 1 at 0.500)")
    assert lstm_findings.effect_reading(stage, "layers", [4]).startswith(
        "layers 4: does not hold, the lowest mean MSE is at 3 (0.100, against 0.300 at 4)")
    noisy = stage.assign(fold_mse=[[0.1, 0.9, 0.1, 0.9], [0.0, 0.4, 0.0, 0.4],
                                   [0.3, 0.3, 0.3, 0.3]])
    assert "holds, but not beyond the spread over folds" in lstm_findings.effect_reading(
        noisy, "layers", [3])
    assert lstm_findings.effect_reading(noisy, "layers", [4]).startswith(
        "layers 4: does not hold, within the spread, the lowest mean MSE is at 3")
    assert lstm_findings.effect_reading(stage, "layers", [8]).endswith("not in this profile's grid")
    # the folds differ far more than the values, but 3 beats 4 by 0.1 on every fold:
    # paired fold by fold, that is clear
    folds_apart = stage.assign(fold_mse=[[0.5, 1.5, 0.5, 1.5], [0.1, 0.9, 0.1, 0.9],
                                         [0.2, 1.0, 0.2, 1.0]])
    assert lstm_findings.effect_reading(folds_apart, "layers", [3]).startswith(
        "layers 3: holds clearly")


def test_figure_findings_read_every_claim_of_the_report():
    structure = pd.DataFrame({"seq_len": [5, 15], "layers": [1, 3], "hidden": [64, 64],
                              "fold_mse": [[0.5] * 4, [0.1] * 4]})
    tuning = pd.DataFrame({"dropout": [0.2, 0.2], "lr": [0.0001, 0.01],
                           "fold_mse": [[0.3] * 4, [0.2] * 4]})
    c = lstm_study.Config("regression", 15, 3, 64, 0.2, 0.01)
    text = lstm_findings.figure_findings(lstm_study.Search("regression", "report", structure,
                                                        tuning, {1: c}))
    assert text.split("; ") == [
        "seq_len 15: holds clearly, the lowest mean MSE is at 15 (0.100, next 5 at 0.500)",
        "hidden 64: nothing else was tried",
        "layers 3: holds clearly, the lowest mean MSE is at 3 (0.100, next 1 at 0.500)",
        "lr 0.0001: does not hold, the lowest mean MSE is at 0.01 (0.200, against 0.300 at "
        "0.0001)"]


def test_setup_numbers_give_ranges_and_the_report_winners():
    out = lstm_findings.setup_numbers({"seq_len": [15, 5, 10], "hidden": [64]},
                                      {"table_5_best": {"regression": {"hidden": 64}}})
    assert out == {"lstm_full_seq_len_range": "5 to 15", "lstm_full_hidden_range": "64 to 64",
                   "lstm_rep_regression_hidden": 64}


def test_band_numbers_read_the_clear_majority_at_its_threshold():
    clear = lstm_findings.CLEAR_MAJORITY
    band = pd.DataFrame({"within 2σ, fold 1": [clear], "within 2σ, all folds": [clear - 0.01],
                         "mean σ, empty room": [0.1], "mean σ, occupied": [0.3]},
                        index=pd.Index(["clean"], name="protocol"))
    out = lstm_findings.band_numbers(band, "clean")
    assert out["lstm_band_reading"].startswith(
        "the report's clear majority within 2σ on the first fold holds")
    assert out["lstm_band_reading"].endswith("the share is 0.740, below the 75 % the rule asks")
    assert out["lstm_gauss_2s"] == pytest.approx(0.9545, abs=1e-4)


def test_confidence_numbers_say_higher_only_when_the_frequencies_are_higher_on_errors():
    def conf(f_wrong: float) -> pd.DataFrame:
        return pd.DataFrame({"correct: mean probability": [0.9, 0.95],
                             "wrong: mean probability": [0.5, f_wrong]},
                            index=["mean softmax", "MC class frequency (report)"])
    drops = pd.DataFrame({"drop": [0.4], "low": [0.3], "high": [0.5], "shown": ["yes"]},
                         index=pd.Index(["mean softmax"], name="probability"))
    assert lstm_findings.confidence_numbers(conf(0.6), drops)["lstm_f_vs_p"] == "higher"
    assert lstm_findings.confidence_numbers(conf(0.5), drops)["lstm_f_vs_p"] == "not higher"


def test_all_final_models_train_only_variants_searched_under_every_protocol(monkeypatch):
    trained = []
    monkeypatch.setattr(lstm_finals, "final_models", lambda frame, variant, configs, **kw:
                        trained.append((variant, sorted(configs), kw)) or variant)

    class Found:
        per_fold = {1: "config"}

    searches = {("regression", "report"): Found(), ("regression", "clean"): Found(),
                ("classification", "report"): Found()}
    out = lstm_finals.all_final_models(None, searches, ["report", "clean"], seeds=[0])
    assert out == {"regression": "regression"}
    assert trained == [("regression", ["clean", "report"], {"seeds": [0]})]


def test_failed_runs_names_the_runs_worse_than_predicting_zero_on_a_fold():
    # one empty-room row per fold: predicting 0 scores 0, predicting 2 scores 4
    def runs(per_seed):
        out = {}
        for seed, preds in per_seed.items():
            frames = [experiment.prediction_frame(k, np.array([k]), np.array([0]), np.array([p]))
                      for k, p in enumerate(preds, start=1)]
            out[seed] = experiment.FittedFolds(frames, [None] * len(preds), 0.0, 0.0)
        return out

    final = {"classification": lstm_finals.Final("classification", {
        "lstm_classification": {"clean": runs({0: [2, 0], 1: [0, 0]})}}),
        "regression": lstm_finals.Final("regression", {
            "lstm_regression": {"report": runs({0: [0, 0]})}})}
    assert lstm_findings.failed_runs(final) == "lstm_classification, clean protocol, fold 1: seed 0"
    final["classification"].runs["lstm_classification"]["clean"] = runs({0: [0, 0]})
    assert lstm_findings.failed_runs(final) == "none"


def test_gap_by_fold_reads_the_clean_minus_report_mse_of_each_fold():
    final = _synthetic_final()
    runs = final.runs["lstm_regression"]
    mse = {p: [f["mse"] for f in runs[p][0].summary()["per_fold"]] for p in ("report", "clean")}
    text = lstm_findings.gap_by_fold({"regression": final})
    assert text == (f"for regression, fold 1 {mse['clean'][0] - mse['report'][0]:+.3f}, "
                    f"fold 2 {mse['clean'][1] - mse['report'][1]:+.3f}: with one seed, no "
                    f"fold is judged")
    alone = lstm_finals.Final("regression", {k: {"report": v["report"]}
                                             for k, v in final.runs.items()})
    assert lstm_findings.gap_by_fold({"regression": alone}) == (
        "no variant ran under both protocols")


def test_whole_match_names_the_folds_that_chose_the_report_configuration():
    c = lstm_study.Config
    theirs = {"seq_len": 15, "layers": 3, "hidden": 64, "dropout": 0.5, "lr": 0.003}
    report_like = c("regression", 15, 3, 64, 0.5, 0.003)
    near = c("regression", 15, 3, 64, 0.5, 0.001)  # four of five values
    found = lstm_study.Search("regression", "clean", pd.DataFrame(), pd.DataFrame(),
                              {1: near, 2: report_like, 3: near, 4: report_like})
    assert lstm_findings.whole_match_text(found, theirs) == (
        "folds 2 and 4 chose the report's whole configuration")
    found.per_fold = {1: near, 2: near}
    assert lstm_findings.whole_match_text(found, theirs) == (
        "no fold chose the report's whole configuration")
