"""Test rows do not reach a fold's model under the clean protocol; under the report's they do.

For every trained family, on the real data and the real training code at small
settings: fold 1's test rows (features and labels) are replaced with noise, and
the fold is trained again with the same seed. Under the clean protocol the
monitored losses and the trained weights must be bit-identical; under the
report protocol, which stops on the test part, the monitored losses change.

For the networks (CRF, BNN, LSTM) a second test covers their whole clean
protocol: the stored search over every fold, each fold's own choice and fold
1's final model.

For the fit/predict families of :mod:`occupancy_utils.nested` (the baselines)
it covers the whole protocol: the search over every fold, the per-fold choice
and the final models. Fold 1's predictions of its own test inputs must be
bit-identical under the clean protocol although fold 1's test rows sit inside
every later fold's training part and fold 2's validation tail.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
import torch

from occupancy_utils import (
    bnn_study,
    crf_study,
    data,
    experiment,
    families,
    lstm_study,
    nested,
    search,
    splits,
)

FOLD = 0  # fold 1: the smallest training part, the fastest to train


def _crf(frame: pd.DataFrame, fold: splits.Fold, protocol: str):
    parts = experiment.fold_parts(frame, fold, crf_study.FEATURES, protocol, val_fraction=0.2)
    return crf_study.train_fold(parts, "8", 0.01, 10, max_epochs=6, patience=2, seed=0)


def _bnn(frame: pd.DataFrame, fold: splits.Fold, protocol: str):
    settings = bnn_study.profile_settings("quick", batch_size=256, max_epochs=6, patience=2,
                                          samples=5, monitor_samples=3)
    run = bnn_study.train_fold(frame, fold, protocol, {"lr": 0.01, "hidden": 8,
                                                       "hidden_layers": 1}, settings, seed=0)
    return run.model, run.history


def _lstm(frame: pd.DataFrame, fold: splits.Fold, protocol: str):
    windows = lstm_study.fold_windows(frame, fold, protocol, seq_len=5, val_fraction=0.2)
    config = lstm_study.Config(variant="classification", seq_len=5, layers=1, hidden=8,
                               dropout=0.2, lr=0.01)
    settings = lstm_study.profile_settings("quick", batch_size=256, max_epochs=6, patience=2)
    model, history, _ = lstm_study.train_fold(windows, config, settings, seed=0)
    return model, history


FAMILIES: dict[str, Callable] = {"crf": _crf, "bnn": _bnn, "lstm": _lstm}


def _noised(frame: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """The frame with the given rows' sensor readings and labels replaced by noise."""
    rng = np.random.default_rng(7)
    out = frame.copy()
    for col in data.FEATURES:
        noise = rng.uniform(frame[col].min(), frame[col].max(), len(rows))
        if pd.api.types.is_integer_dtype(frame[col]):
            noise = np.round(noise)
        out.iloc[rows, out.columns.get_loc(col)] = noise.astype(frame[col].dtype)
    out.iloc[rows, out.columns.get_loc(data.TARGET)] = rng.integers(0, 4, len(rows))
    return out


def _weights(model: torch.nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def folds_and_noise(frame):
    folds = splits.make_folds(frame.index)
    return folds, _noised(frame, folds[FOLD].test)


def _trained_twice(family: str, protocol: str, frame: pd.DataFrame, folds, noised):
    """The fold's model and history on the data as it is and with its test rows noised."""
    train = FAMILIES[family]
    return train(frame, folds[FOLD], protocol), train(noised, folds[FOLD], protocol)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_test_rows_do_not_reach_the_clean_protocol(family, frame, folds_and_noise):
    (model, history), (model_n, history_n) = _trained_twice(family, "clean", frame,
                                                            *folds_and_noise)
    assert history.monitor == history_n.monitor and history.best_epoch == history_n.best_epoch
    weights, weights_n = _weights(model), _weights(model_n)
    assert weights.keys() == weights_n.keys()
    for name in weights:
        assert np.array_equal(weights[name], weights_n[name]), f"{family}: {name} moved"


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_test_rows_reach_the_report_protocol(family, frame, folds_and_noise):
    """The check above can fail: the report protocol watches the test part."""
    (_, history), (_, history_n) = _trained_twice(family, "report", frame, *folds_and_noise)
    assert history.monitor != history_n.monitor


#: Small grids with something to choose (the majority baseline has nothing: its
#: report-protocol run cannot change, so only its clean half is checked).
NESTED_GRIDS = {
    "gradient_boosting": {"learning_rate": [0.1], "max_leaf_nodes": [4, 15], "max_iter": [5, 15]},
    "forest_windowed": {"n_estimators": [5], "min_samples_leaf": [1, 50],
                        "max_features": ["sqrt"]},
    "logistic": {"C": [0.001, 1.0]},
    "majority": {},
}
NESTED_SETTINGS = nested.Settings(windows=(5, 10), val_fraction=0.2)


def _nested_predictions(key: str, protocol: str, data_frame: pd.DataFrame, folds,
                        frame: pd.DataFrame) -> np.ndarray:
    """Search, per-fold choice and final model on ``data_frame``; fold 1's test inputs
    of the real ``frame`` predicted (class probabilities)."""
    family = families.family(key)
    runs = nested.run(family, NESTED_GRIDS[key], protocol, NESTED_SETTINGS, [0],
                      profile="test", frame=data_frame, folds=folds)
    x, _, _ = nested.inputs(frame, family, NESTED_SETTINGS.windows)
    return experiment.class_probabilities(runs[0].models[FOLD], x[folds[FOLD].test])


def test_every_family_of_the_book_is_checked():
    assert set(NESTED_GRIDS) == set(families.FAMILIES)


@pytest.mark.parametrize("key", sorted(NESTED_GRIDS))
def test_nested_selection_keeps_fold_test_rows_out(key, frame, folds_and_noise):
    folds, noised = folds_and_noise
    assert np.array_equal(_nested_predictions(key, "clean", frame, folds, frame),
                          _nested_predictions(key, "clean", noised, folds, frame))


def _steered(key: str, frame: pd.DataFrame, folds) -> pd.DataFrame:
    """The frame with fold 1's test labels set to what a grid point the report protocol
    did *not* choose for fold 1 predicts there: a choice made on the test part must follow."""
    family, grid = families.family(key), NESTED_GRIDS[key]
    chosen = nested.run(family, grid, "report", NESTED_SETTINGS, [0], profile="test",
                        frame=frame, folds=folds)[0].chosen[folds[FOLD].number]
    other = next(p for p in search.grid_points(grid) if p != chosen)
    x, y, _ = nested.inputs(frame, family, NESTED_SETTINGS.windows)
    fold = folds[FOLD]
    model = family.make(other, NESTED_SETTINGS.seed).fit(x[fold.train], y[fold.train])
    out = frame.copy()
    out.iloc[fold.test, out.columns.get_loc(data.TARGET)] = model.predict(x[fold.test])
    return out


@pytest.mark.parametrize("key", sorted(k for k, grid in NESTED_GRIDS.items() if grid))
def test_nested_selection_under_the_report_protocol_sees_test_rows(key, frame, folds_and_noise):
    """The check above can fail: the report protocol chooses on the test part, so test
    labels that favour another configuration change fold 1's predictions; the clean
    protocol's stay bit-identical under this perturbation too."""
    folds, _ = folds_and_noise
    steered = _steered(key, frame, folds)
    assert not np.array_equal(_nested_predictions(key, "report", frame, folds, frame),
                              _nested_predictions(key, "report", steered, folds, frame))
    assert np.array_equal(_nested_predictions(key, "clean", frame, folds, frame),
                          _nested_predictions(key, "clean", steered, folds, frame))


# --- the networks' whole protocol: stored search, per-fold choice, final model ----------
#
# Each network's search objective reads the book's data through
# ``experiment.search_data``; here it reads the given frame instead, and each run gets a
# storage of its own (a stored search is keyed on code and settings, not on data).

NET_SEARCH = {"max_epochs": 2, "patience": 1, "seed": 0, "val_fraction": 0.2}


def _crf_pipeline(frame, folds):
    grid = {"hidden": ["8", "16"], "lr": [0.01], "seq_len": [10]}
    table, _ = crf_study.run_search(grid, "clean", profile="test", workers=1, **NET_SEARCH)
    chosen = crf_study.choices(table, grid, "clean", [f.number for f in folds])
    c = chosen[folds[FOLD].number]
    parts = experiment.fold_parts(frame, folds[FOLD], crf_study.FEATURES, "clean", val_fraction=0.2)
    model, _ = crf_study.train_fold(parts, c["hidden"], c["lr"], c["seq_len"], max_epochs=2,
                                    patience=1, seed=0)
    return chosen, _weights(model), crf_study.best_params(table, "clean")


def _bnn_pipeline(frame, folds):
    settings = bnn_study.profile_settings("quick", batch_size=256, max_epochs=2, patience=1,
                                          samples=5, monitor_samples=3)
    # four configurations whose mean over folds is close enough for fold 1's test rows to
    # move it (with fewer, the noise lifts every mean alike and the check cannot fail)
    studies = {"tiny": {"lr": [0.02], "hidden": [16, 32], "hidden_layers": [1, 2]}}
    found = bnn_study.run_studies("clean", settings, 0, "test", studies=studies)
    chosen = bnn_study.select_per_fold(found, [f.number for f in folds])
    run = bnn_study.train_fold(frame, folds[FOLD], "clean", chosen[folds[FOLD].number],
                               settings, 0)
    return chosen, _weights(run.model), bnn_study.select(found, "clean")


def _lstm_pipeline(frame, folds):
    settings = lstm_study.profile_settings("quick", batch_size=256, max_epochs=2, patience=1)
    s = lstm_study.two_stage_search(
        "classification", "clean", structure_grid={"seq_len": [5, 10], "layers": [1],
                                                   "hidden": [8]},
        structure_fixed={"lr": 0.01, "dropout": 0.2},
        tuning_grid={"dropout": [0.2], "lr": [0.01, 0.001]}, settings=settings, seed=0,
        profile="test", progress=False, keep=1.0, threads=1)  # halving: tests/test_halving.py
    config = s.per_fold[folds[FOLD].number]
    windows = lstm_study.fold_windows(frame, folds[FOLD], "clean", config.seq_len, val_fraction=0.2)
    model, _, _ = lstm_study.train_fold(windows, config, settings, seed=0)
    mean = lstm_study._best_row(s.structure, {"seq_len": [5, 10], "layers": [1], "hidden": [8]})
    return s.per_fold, _weights(model), int(mean["seq_len"])


NET_PIPELINES: dict[str, Callable] = {"crf": _crf_pipeline, "bnn": _bnn_pipeline,
                                      "lstm": _lstm_pipeline}


def _net_run(family, data_frame, folds, tmp_path, monkeypatch, name):
    monkeypatch.setattr(experiment, "search_data", lambda: (data_frame, tuple(folds)))
    monkeypatch.setenv("OPTUNA_STORAGE", f"sqlite:///{tmp_path / f'{name}.db'}")
    return NET_PIPELINES[family](data_frame, folds)


@pytest.mark.parametrize("family", sorted(NET_PIPELINES))
def test_network_search_and_choice_keep_fold_test_rows_out(family, frame, folds_and_noise,
                                                            tmp_path, monkeypatch):
    """Fold 1's test rows are noised: they are inside fold 2's validation tail and every
    later fold's training part. A choice by the mean over the folds changes with them
    (so the check can fail: a mean-based choice would not pass it), yet fold 1's own
    choice and fold 1's model, trained by the family's fold training, stay bit-identical."""
    folds, noised = folds_and_noise
    chosen, weights, mean = _net_run(family, frame, folds, tmp_path, monkeypatch, "plain")
    chosen_n, weights_n, mean_n = _net_run(family, noised, folds, tmp_path, monkeypatch,
                                           "noised")
    assert mean != mean_n, "a mean over folds would not have moved: the test proves nothing"
    assert chosen[folds[FOLD].number] == chosen_n[folds[FOLD].number]
    assert weights.keys() == weights_n.keys()
    for name in weights:
        assert np.array_equal(weights[name], weights_n[name]), f"{family}: {name} moved"
