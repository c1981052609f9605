"""Test rows do not reach a fold's model under the clean protocol; under the report's they do.

For every trained family, on the real data and the real training code at small
settings: fold 1's test rows (features and labels) are replaced with noise, and
the fold is trained again with the same seed. Under the clean protocol the
monitored losses and the trained weights must be bit-identical; under the
report protocol, which stops on the test part, the monitored losses change.

This covers training and early stopping on one fold. It does not yet cover the
choice of a configuration across folds (each search picks one configuration by
the mean over all four folds, whose validation tails lie inside earlier folds'
test parts): that is the nested-selection work of the clean-protocol issue.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
import torch

from occupancy_utils import bnn_study, crf_study, data, experiment, lstm_study, splits

FOLD = 0  # fold 1: the smallest training part, the fastest to train


def _crf(frame: pd.DataFrame, fold: splits.Fold, protocol: str):
    parts = experiment.fold_parts(frame, fold, crf_study.FEATURES, protocol)
    return crf_study.train_fold(parts, "8", 0.01, 10, max_epochs=6, patience=2, seed=0)


def _bnn(frame: pd.DataFrame, fold: splits.Fold, protocol: str):
    settings = bnn_study.Settings(batch_size=256, max_epochs=6, patience=2, samples=5,
                                  monitor_samples=3)
    run = bnn_study.train_fold(frame, fold, protocol, {"lr": 0.01, "hidden": 8,
                                                       "hidden_layers": 1}, settings, seed=0)
    return run.model, run.history


def _lstm(frame: pd.DataFrame, fold: splits.Fold, protocol: str):
    windows = lstm_study.fold_windows(frame, fold, protocol, seq_len=5)
    config = lstm_study.Config(variant="classification", seq_len=5, layers=1, hidden=8,
                               dropout=0.2, lr=0.01)
    settings = lstm_study.Settings(batch_size=256, max_epochs=6, patience=2)
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
