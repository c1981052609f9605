"""Windowed features use past readings only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from occupancy_utils import features


@pytest.fixture()
def readings() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"a": rng.normal(size=40), "b": rng.integers(0, 5, 40)})


def test_changing_a_later_row_leaves_earlier_rows_unchanged(readings):
    before = features.windowed(readings, ["a", "b"], [3, 7])
    changed = readings.copy()
    changed.loc[20, ["a", "b"]] = [100.0, 99]
    after = features.windowed(changed, ["a", "b"], [3, 7])
    pd.testing.assert_frame_equal(before.iloc[:20], after.iloc[:20])
    # the check can fail: row 20 itself and the rows whose windows reach it do change
    assert not before.iloc[20].equals(after.iloc[20])
    assert not np.allclose(before["a_mean7"].iloc[20:27], after["a_mean7"].iloc[20:27])


def test_features_are_trailing_means_spreads_and_changes(readings):
    out = features.windowed(readings, ["a"], [3])
    a = readings["a"]
    assert list(out.columns) == ["a", "a_mean3", "a_std3", "a_diff3"]
    assert out["a_mean3"].iloc[10] == pytest.approx(a.iloc[8:11].mean())
    assert out["a_std3"].iloc[10] == pytest.approx(a.iloc[8:11].std(ddof=0))
    assert out["a_diff3"].iloc[10] == pytest.approx(a.iloc[10] - a.iloc[7])
    assert out["a_diff3"].iloc[1] == pytest.approx(a.iloc[1] - a.iloc[0])  # since row 0
    assert not out.isna().any().any()


@pytest.mark.parametrize("windows", [[], [1], [2.5], [True]])
def test_bad_windows_are_named(readings, windows):
    with pytest.raises(ValueError, match="window"):
        features.windowed(readings, ["a"], windows)


def test_unknown_columns_are_named(readings):
    with pytest.raises(ValueError, match="'z'"):
        features.windowed(readings, ["a", "z"], [3])
