"""The networks on the second fold design: the candidate rule, the choice, and no leak.

The rule's claim is that no test row of a rolling fold reaches that fold's
choice or model: the last test perturbs every label from the fold's test
window on (and every reading after it) and demands the fold's choice and
predictions unchanged, while a later fold, which trains on those rows, changes.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
import pytest

from occupancy_utils import bnn_study, experiment, lstm_study, networks, rescoring, splits

BNN_TINY = {"batch_size": 256, "max_epochs": 3, "patience": 2, "samples": 5,
            "monitor_samples": 3}
LSTM_TINY = {"batch_size": 256, "max_epochs": 2, "patience": 1, "val_fraction": 0.2}


def _fold(number: int, train: tuple[int, int], test: tuple[int, int]) -> splits.Fold:
    return splits.Fold(number, np.arange(*train), np.arange(*test))


def test_a_hand_made_fold_is_a_candidate_only_if_it_ends_before_the_test_window():
    hand = [_fold(1, (0, 10), (10, 20)), _fold(2, (0, 20), (20, 30))]
    rolling = [_fold(1, (0, 20), (20, 25)), _fold(2, (0, 21), (21, 25))]
    # hand fold 2's training part ends at row 19: before a window starting at 20 and 21
    assert rescoring.eligible(hand, rolling) == {1: [1, 2], 2: [1, 2]}
    rolling = [_fold(1, (0, 19), (19, 25))]  # its window starts on hand fold 2's last row
    assert rescoring.eligible(hand, rolling) == {1: [1]}
    with pytest.raises(ValueError, match="rolling fold 1: no hand-made fold"):
        rescoring.eligible(hand, [_fold(1, (0, 9), (9, 12))])


def test_candidates_are_distinct_and_in_hand_made_fold_order():
    chosen = {1: {"lr": 0.1}, 2: {"lr": 0.2}, 3: {"lr": 0.1}}
    assert rescoring.candidates(chosen, {1: [1], 2: [1, 2, 3], 3: [3, 2]}) == {
        1: [{"lr": 0.1}], 2: [{"lr": 0.1}, {"lr": 0.2}], 3: [{"lr": 0.1}, {"lr": 0.2}]}
    with pytest.raises(ValueError, match=r"hand-made fold\(s\) \[4\]"):
        rescoring.candidates(chosen, {1: [4]})


def test_the_lowest_tail_wins_and_a_tie_goes_to_the_earlier_candidate():
    found = pd.DataFrame({"task": ["1/0", "1/1", "2/0", "2/1", "2/0", "2/1"],
                          "seed": [0, 0, 0, 0, 1, 1], "mse": [0.3, 0.2, 0.1, 0.1, 0.4, 0.1]})
    chosen = rescoring.choose(found)
    assert chosen[["seed", "fold", "candidate"]].values.tolist() == [
        [0, 1, 1], [0, 2, 0], [1, 2, 1]]
    with pytest.raises(ValueError, match="NaN"):
        rescoring.choose(found.assign(mse=[0.1, np.nan, 0, 0, 0, 0]))


class _Scripted(networks.Network):
    """A stand-in family: the tail MSE is the configuration's ``tail``; every test row is
    predicted as the configuration's ``label``."""

    family = "scripted"

    def fit_predict(self, frame, fold, config, seed):
        labels = np.full(len(fold.test), config["label"])
        return networks.Fitted(float(config["tail"]), {k: labels for k in self.models})


def test_rescore_assembles_each_folds_choice_on_every_test_row(monkeypatch, frame):
    monkeypatch.setitem(networks.NETWORKS, "scripted", _Scripted)
    spec = rescoring.Spec("scripted", "scripted", ("a", "b"), {},
                          {1: {"tail": 0.5, "label": 1}, 2: {"tail": 0.2, "label": 2},
                           3: {"tail": 0.2, "label": 3}, 4: {"tail": 0.9, "label": 0}})
    preds, choice = rescoring.rescore(spec, [0, 1], profile="test", frame=frame)
    rolling = splits.design_folds(frame.index, "rolling")
    allowed = rescoring.eligible(splits.design_folds(frame.index, "hand"), rolling)
    for key in ("a", "b"):
        rows = preds[key]
        assert list(rows.columns) == ["seed", *experiment.PREDICTION_COLUMNS]
        assert len(rows) == 2 * sum(len(f.test) for f in rolling)
        for f in rolling:
            # hand fold 2's choice beats 1 and ties with 3, which it precedes; 4 is worse
            expected = 2 if 2 in allowed[f.number] else 1
            assert set(rows.loc[rows["fold"] == f.number, "y_pred"]) == {expected}
            assert (rows.loc[rows["fold"] == f.number, "position"].to_numpy()[:len(f.test)]
                    == f.test).all()
    table = rescoring.choice_table(choice.assign(network="scripted"))
    assert set(table["chosen: from hand fold (per seed)"]) <= {"1, 1", "2, 2"}


def _tiny_bnn_spec() -> rescoring.Spec:
    settings = dataclasses.asdict(bnn_study.profile_settings("quick", **BNN_TINY))
    return rescoring.Spec("bnn", "bnn", ("bnn",), settings,
                          {1: {"lr": 0.01, "hidden": 8, "hidden_layers": 1},
                           2: {"lr": 0.05, "hidden": 8, "hidden_layers": 1},
                           3: {"lr": 0.01, "hidden": 4, "hidden_layers": 1},
                           4: {"lr": 0.01, "hidden": 8, "hidden_layers": 2}})


def test_no_row_from_a_rolling_test_window_on_reaches_that_folds_choice_or_model(frame):
    rolling = splits.design_folds(frame.index, "rolling")
    fold = rolling[2]  # rolling fold 3: three hand-made folds' choices are candidates
    perturbed = frame.copy()
    rng = np.random.default_rng(0)
    later = np.arange(fold.test[0], len(frame))
    perturbed.iloc[later, perturbed.columns.get_loc(experiment.TARGET)] = rng.integers(
        0, 4, len(later))
    after = np.arange(fold.test[-1] + 1, len(frame))
    for column in bnn_study.data.NON_LIGHT_FEATURES:
        perturbed[column] = perturbed[column].astype(float)
        perturbed.iloc[after, perturbed.columns.get_loc(column)] = rng.normal(size=len(after))
    spec = _tiny_bnn_spec()
    base, base_choice = rescoring.rescore(spec, [0], profile="test", frame=frame)
    moved, moved_choice = rescoring.rescore(spec, [0], profile="test", frame=perturbed)
    assert base_choice.loc[base_choice["fold"] == fold.number, "candidates"].item() > 1

    def of(preds: dict[str, pd.DataFrame], number: int) -> np.ndarray:
        rows = preds["bnn"]
        return rows.loc[rows["fold"] == number, "y_pred"].to_numpy()

    for k in (1, 2, 3):
        assert (base_choice.loc[base_choice["fold"] == k, "tail mses"].item()
                == moved_choice.loc[moved_choice["fold"] == k, "tail mses"].item())
        assert (of(base, k) == of(moved, k)).all()
    # the last fold trains on the perturbed labels: the check can tell a change
    assert (base_choice.loc[base_choice["fold"] == 6, "tail mses"].item()
            != moved_choice.loc[moved_choice["fold"] == 6, "tail mses"].item())


def _lstm_config() -> dict[str, Any]:
    return {"seq_len": 5, "layers": 1, "hidden": 8, "dropout": 0.2, "lr": 0.01}


def test_the_lstm_tail_is_the_one_chapter_6_chooses_on(frame):
    fold = splits.make_folds(frame.index)[0]
    net = networks.network("lstm", ("lstm_classification", "lstm_classification_mcd"),
                           {**LSTM_TINY, "variant": "classification", "mc_samples": 3})
    fitted, = networks.fit_predict(net, frame, fold, _lstm_config(), [0])
    stored = lstm_study.fold_objective(
        {"dropout": 0.2, "lr": 0.01}, variant="classification", protocol="clean",
        fixed={"seq_len": 5, "layers": 1, "hidden": 8}, settings=LSTM_TINY, seed=0, fold=1,
        threads=1)
    assert fitted.tail_mse == stored["mse"]
    assert {k: len(v) for k, v in fitted.test.items()} == {
        "lstm_classification": len(fold.test), "lstm_classification_mcd": len(fold.test)}


def test_the_bnn_tail_is_the_one_chapter_5_chooses_on(frame):
    fold = splits.make_folds(frame.index)[0]
    spec = _tiny_bnn_spec()
    config = spec.chosen[1]
    fitted, = networks.fit_predict(networks.network("bnn", ("bnn",), spec.settings), frame,
                                   fold, config, [0])
    record = bnn_study.evaluate(frame, [fold], "clean", config,
                                bnn_study.Settings(**spec.settings), 0)["folds"][0]
    assert fitted.tail_mse == record["monitor"]["mse"]
    assert len(fitted.test["bnn"]) == len(fold.test)


def test_specs_read_every_network_of_the_results_files():
    crf = {"models": {"crf": {"params": {"max_epochs": 5, "patience": 2, "val_fraction": 0.2,
                                         "hidden": "32"},
                              "protocols": {"clean": {"chosen": {"1": {"hidden": "32"}}}}}}}
    bnn = {"models": {"bnn": {"params": {**BNN_TINY, "lr": 0.1},
                              "protocols": {"clean": {"chosen": {"1": {"lr": 0.1}}},
                                            "report": {}}},
                      "bnn_old": {"params": {}, "protocols": {"report": {}}}}}
    lstm = {"settings": LSTM_TINY, "mc_samples": 4,
            "models": {"lstm_regression": {"params_by_protocol": {"clean": {"1": {"lr": 1}}}}}}
    got = rescoring.specs(crf, bnn, lstm)
    assert [(s.name, s.models) for s in got] == [
        ("crf", ("crf", "crf_whole_fold")), ("bnn", ("bnn",)),
        ("lstm_regression", ("lstm_regression", "lstm_regression_mcd"))]
    assert got[0].settings == {"max_epochs": 5, "patience": 2, "val_fraction": 0.2}
    assert got[1].settings == BNN_TINY and got[1].chosen == {1: {"lr": 0.1}}
    assert got[2].settings == {**LSTM_TINY, "variant": "regression", "mc_samples": 4}
    with pytest.raises(ValueError, match="unknown network family 'svm'"):
        networks.network("svm", ("x",), {})


def test_choice_reading_counts_real_choices_and_asks_about_seeds_only_with_several():
    one = pd.DataFrame({"network": ["a", "a", "b"], "fold": [1, 2, 1], "seed": [0, 0, 0],
                        "candidates": [1, 3, 2], "candidate": [0, 2, 1]})
    assert rescoring.choice_reading(one) == (
        "2 of the 3 network and fold pairs had more than one candidate (one seed: whether "
        "seeds agree on the choice is not asked)")
    two = pd.concat([one, one.assign(seed=1, candidate=[0, 2, 0])], ignore_index=True)
    assert rescoring.choice_reading(two).endswith("; on 1 of them every seed chose the same one")
    assert rescoring.choice_reading(one.assign(candidates=1)).startswith(
        "every one of the 3 network and fold pairs had a single candidate")
