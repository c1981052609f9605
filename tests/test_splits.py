"""Folds are in temporal order without overlap, and scaling never sees a test row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from occupancy_utils import data, splits


@pytest.fixture(scope="module")
def folds(frame):
    return splits.make_folds(frame.index)


def test_four_folds_test_after_train(frame, folds):
    assert len(folds) == 4
    for fold in folds:
        assert frame.index[fold.train].max() < frame.index[fold.test].min()
        assert not set(fold.train) & set(fold.test)
        # expanding window: training is everything before the test part
        assert fold.train[0] == 0 and fold.train[-1] + 1 == fold.test[0]


def test_test_parts_are_consecutive_and_cover_the_end(frame, folds):
    for a, b in zip(folds, folds[1:], strict=False):
        assert a.test[-1] + 1 == b.test[0]
    assert folds[-1].test[-1] == len(frame) - 1


def test_every_class_where_the_data_allow(frame, folds):
    y = frame[data.TARGET].to_numpy()
    present = [set(np.unique(y[f.test])) for f in folds]
    # class 1 is only ever recorded on 22-23 December, which the first two folds test
    last_class_1 = frame.index[y == 1].max()
    assert last_class_1 < frame.index[folds[2].test[0]]
    assert present[0] == present[1] == {0, 1, 2, 3}
    assert present[2] == present[3] == {0, 2, 3}
    for fold in folds:
        assert set(np.unique(y[fold.train])) == {0, 1, 2, 3}


def test_validation_tail_is_the_end_of_training(folds):
    fit, val = folds[3].validation_split(0.2)
    assert np.array_equal(np.concatenate([fit, val]), folds[3].train)
    assert len(val) == round(0.2 * len(folds[3].train))
    with pytest.raises(ValueError, match="fraction"):
        folds[0].validation_split(1.5)


def test_scaler_is_fitted_on_training_rows_only(frame, folds, monkeypatch):
    seen = []
    original = splits.fit_scaler

    def spy(values):
        seen.append(values.copy())
        return original(values)

    monkeypatch.setattr(splits, "fit_scaler", spy)
    fold = folds[1]
    parts = splits.scaled_parts(frame, fold, data.NON_LIGHT_FEATURES)
    assert len(seen) == 1
    expected = frame[data.NON_LIGHT_FEATURES].to_numpy()[fold.train]
    assert np.array_equal(seen[0], expected)
    assert parts["train"].min() >= 0 and parts["train"].max() <= 1 + 1e-6
    # a test row changed to an extreme value changes nothing in the scaling of train
    altered = frame.copy()
    altered.iloc[fold.test[0], 0] = 1e6
    again = splits.scaled_parts(altered, fold, data.NON_LIGHT_FEATURES)
    assert np.array_equal(again["train"], parts["train"])
    assert again["test"][0, 0] > 1


def test_boundaries_must_leave_both_parts(frame):
    with pytest.raises(ValueError, match="fold 1"):
        splits.make_folds(frame.index, [("2017-01-01", "2017-02-01")])
    shuffled = pd.DatetimeIndex(frame.index[::-1])
    with pytest.raises(ValueError, match="sorted"):
        splits.make_folds(shuffled)


def test_later_tails_lie_in_earlier_test_parts_never_in_their_own(frame):
    folds = splits.make_folds(frame.index)
    table = splits.tail_overlaps(folds, 0.2).set_index("fold")
    assert (table["in its own test part"] == 0).all()
    assert table.loc[1, "in earlier folds' test parts"] == 0  # fold 1 has no earlier fold
    for fold in (2, 3, 4):  # the leak that per-fold selection closes
        assert table.loc[fold, "in earlier folds' test parts"] > 0
        assert table.loc[fold, "which"] == f"fold {fold - 1}"
    tail = folds[1].validation_split(0.2)[1]
    assert table.loc[2, "in earlier folds' test parts"] == np.intersect1d(tail, folds[0].test).size
