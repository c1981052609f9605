"""The report's per-fold scores and the pooled out-of-fold ones."""

from __future__ import annotations

import numpy as np
import pytest

from occupancy_utils import metrics


def test_scores_by_hand():
    y = [0, 0, 1, 3]
    p = [0, 1, 1, 2]
    s = metrics.scores(y, p)
    assert s["mse"] == pytest.approx((0 + 1 + 0 + 1) / 4)
    # per class F1: 0 -> 2/3, 1 -> 2/3, 2 -> 0 (predicted, absent), 3 -> 0 (missed)
    assert s["f1_macro"] == pytest.approx((2 / 3 + 2 / 3) / 4)
    assert s["f1_micro"] == pytest.approx(0.5)


def test_absent_class_pulls_fold_f1_down_but_not_pooled():
    # fold 1 has no class 3 and the model never predicts it: that class scores 0
    f1 = (np.array([0, 1, 2, 0]), np.array([0, 1, 2, 0]))
    f2 = (np.array([3, 3, 0, 0]), np.array([3, 3, 0, 0]))
    summary = metrics.fold_summary([f1, f2])
    assert summary["per_fold"][0]["f1_macro"] == pytest.approx(0.75)
    assert summary["mean"]["f1_macro"] == pytest.approx((0.75 + 0.5) / 2)
    assert summary["pooled"]["f1_macro"] == pytest.approx(1.0)
    assert summary["mean"]["mse"] == 0 and summary["std"]["f1_macro"] > 0


def test_value_used_for_mse_when_given():
    s = metrics.scores([1, 2], [1, 2], y_value=[1.5, 2.0])
    assert s["mse"] == pytest.approx(0.125) and s["f1_macro"] == pytest.approx(0.5)


def test_lengths_must_match():
    with pytest.raises(ValueError, match="lengths"):
        metrics.scores([0, 1], [0])
