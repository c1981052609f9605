"""The final models' one loop (finals.train), its one shape, and every family going through it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from occupancy_utils import (
    bnn_finals,
    bnn_study,
    crf_finals,
    experiment,
    families,
    finals,
    lstm_finals,
    lstm_study,
    nested,
    splits,
)

FOLDS = [splits.Fold(k, np.arange(10 * k), np.arange(10 * k, 10 * k + 5)) for k in (1, 2)]


def _fake_fit(calls: list) -> finals.FitFold:
    """A family of two model keys whose predictions say which fold, seed and protocol made
    them (the predicted label is the seed), with a validation tail under ``clean``."""

    def fit(fold: splits.Fold, config: dict, protocol: str, seeds: list[int]
            ) -> list[finals.FoldFit]:
        calls.append((protocol, fold.number, tuple(seeds)))
        out = []
        for seed in seeds:
            y = np.zeros(len(fold.test), dtype=int)
            frames = {key: experiment.prediction_frame(fold.number, fold.test, y,
                                                       np.full(len(y), seed % 4),
                                                       value=np.full(len(y), 0.5))
                      for key in ("a", "a_other")}
            tail = dict(frames) if protocol == "clean" else {}
            out.append(finals.FoldFit(frames, (fold.number, seed, config["c"]), 1.0,
                                      {"a": 0.25, "a_other": 0.5}, tail))
        return out

    return fit


def test_one_loop_and_one_shape():
    calls = []
    chosen = {"report": {1: {"c": 1}, 2: {"c": 1}}, "clean": {1: {"c": 2}, 2: {"c": 3}}}
    runs = finals.train(_fake_fit(calls), FOLDS, chosen, [5, 6], desc="fake", progress=False)
    # each protocol and fold trained once, with every seed at once
    assert calls == [("report", 1, (5, 6)), ("report", 2, (5, 6)), ("clean", 1, (5, 6)),
                     ("clean", 2, (5, 6))]
    assert set(runs) == {"a", "a_other"}
    run = runs["a"]["clean"][6]
    assert [int(p["fold"].iloc[0]) for p in run.predictions] == [1, 2]
    assert all((p["y_pred"] == 6 % 4).all() for p in run.predictions)
    assert run.models == [(1, 6, 2), (2, 6, 3)]  # the family's records, in fold order
    assert run.chosen == chosen["clean"]
    assert run.train_seconds == 2.0 and run.predict_seconds == 0.5  # summed over the folds
    assert runs["a_other"]["clean"][6].predict_seconds == 1.0  # per model key
    assert len(run.validation) == 2 and runs["a"]["report"][5].validation == []


def test_the_shape_becomes_the_files_and_entries():
    runs = finals.train(_fake_fit([]), FOLDS, {"report": {1: {"c": 1}, 2: {"c": 1}},
                                               "clean": {1: {"c": 1}, 2: {"c": 1}}},
                        [0, 1], desc="fake", progress=False)
    table = finals.predictions_frame(runs)
    assert list(table.columns[:4]) == ["model", "protocol", "seed", "fold"]
    assert len(table) == 2 * 2 * 2 * 10  # keys x protocols x seeds x test rows
    tails = finals.predictions_frame(runs, "validation")
    assert set(tails["protocol"]) == {"clean"}
    blocks = finals.protocol_blocks(runs["a"], extras={"value_mse": finals.value_summary})
    assert blocks["clean"]["chosen"] == {"1": {"c": 1}, "2": {"c": 1}}
    assert blocks["clean"]["seeds"]["1"]["mean"]["mse"] == 1.0  # label 1 for truth 0
    assert blocks["clean"]["value_mse"]["1"]["mean"]["mse"] == 0.25  # value 0.5 for truth 0
    assert blocks["report"]["train_seconds"] == 2.0
    assert "chosen" not in finals.protocol_blocks(runs["a"], with_chosen=False)["clean"]
    with pytest.raises(ValueError, match="part must be one of"):
        finals.predictions_frame(runs, "train")


def test_bad_input_is_named_before_anything_trains():
    calls = []
    fit = _fake_fit(calls)
    with pytest.raises(ValueError, match=r"fold\(s\) \[2\]"):
        finals.train(fit, FOLDS, {"clean": {1: {"c": 1}}}, [0], desc="x", progress=False)
    with pytest.raises(ValueError, match="protocol"):
        finals.train(fit, FOLDS, {"dirty": {1: {"c": 1}, 2: {"c": 1}}}, [0], desc="x",
                     progress=False)
    with pytest.raises(ValueError, match="seed"):
        finals.train(fit, FOLDS, {"clean": {1: {"c": 1}, 2: {"c": 1}}}, [-1], desc="x",
                     progress=False)
    assert calls == []

    def short(fold, config, protocol, seeds):
        return fit(fold, config, protocol, seeds)[:1]

    with pytest.raises(ValueError, match="returned 1 fits for 2 seeds"):
        finals.train(short, FOLDS, {"clean": {1: {"c": 1}, 2: {"c": 1}}}, [0, 1], desc="x",
                     progress=False)


def test_every_family_trains_its_finals_through_the_one_loop(frame, monkeypatch):
    """The baselines and the three networks: each family's final models come from
    finals.train, the chapters' shape is what it assembled."""
    seen = []
    real = finals.train

    def spy(fit_fold, folds, chosen, seeds, **kwargs):
        runs = real(fit_fold, folds, chosen, seeds, **kwargs)
        seen.append(sorted(runs))
        return runs

    monkeypatch.setattr(finals, "train", spy)
    folds = splits.make_folds(frame.index)[:2]
    every = {f.number: {} for f in folds}
    settings = nested.Settings(windows=(5,), val_fraction=0.2)
    nested.final_models(frame, folds, families.Majority, every, "clean", settings, [0])
    crf_finals.final_models(frame, folds, {"clean": {f.number: {"hidden": "4", "lr": 0.01,
                                                                "seq_len": 5} for f in folds}},
                            [0], max_epochs=1, patience=1, val_fraction=0.2)
    bnn = bnn_study.profile_settings("quick", batch_size=512, max_epochs=1, patience=1,
                                     samples=2, monitor_samples=2)
    bnn_finals.train_final(frame, folds, "BNN", {f.number: {"lr": 0.01, "hidden": 4,
                                                             "hidden_layers": 1} for f in folds},
                           bnn, ["clean"], [0])
    lstm = lstm_study.profile_settings("quick", batch_size=512, max_epochs=1, patience=1)
    config = lstm_study.Config("regression", 5, 1, 4, 0.3, 0.01)
    final = lstm_finals.final_models(frame, "regression",
                                     {"clean": dict.fromkeys(range(1, 5), config)},
                                     settings=lstm, seeds=[0], mc_samples=2, progress=False,
                                     threads=1)
    assert seen == [["majority"], ["crf", "crf_whole_fold"], ["bnn"],
                    ["lstm_regression", "lstm_regression_mcd"]]
    assert isinstance(final.frames("lstm_regression", "clean", 0)[0], pd.DataFrame)


def test_above_zero_counts_seeds_worse_than_predicting_zero_on_a_fold():
    def run(fold_preds):
        return experiment.FittedFolds(
            [experiment.prediction_frame(k, np.arange(2), np.array(y), np.array(p))
             for k, (y, p) in enumerate(fold_preds, start=1)], [None, None], 0.0, 0.0)

    # fold 1: truth 0, 2 (predicting 0 scores 2.0); fold 2: truth 1, 1 (scores 1.0)
    good = run([([0, 2], [0, 2]), ([1, 1], [1, 1])])
    equal = run([([0, 2], [0, 0]), ([1, 1], [1, 1])])  # as bad as predicting 0: not counted
    bad = run([([0, 2], [3, 2]), ([1, 1], [3, 3])])
    counts = finals.above_zero({"clean": {0: good, 1: equal, 2: bad}, "report": {5: bad}})
    assert counts == {("clean", 1): [2], ("clean", 2): [2], ("report", 1): [5],
                      ("report", 2): [5]}
    from occupancy_utils import tables
    assert tables.failures_text({"m": counts}).startswith(
        "m, clean protocol, fold 1: seed 2; m, clean protocol, fold 2: seed 2")
    assert tables.failures_text({"m": {("clean", 1): [0, 2]}}) == (
        "m, clean protocol, fold 1: seeds 0 and 2")
    assert tables.failures_text({"m": {}}) == "none"
