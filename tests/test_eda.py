"""Chapter 1 and 3 measurements, checked on small frames whose answers are known by construction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from occupancy_utils import data, eda, splits
from occupancy_utils.data import TARGET


def _frame(labels: list[int], start: str = "2020-01-01 10:00", step: str = "30s",
           **columns: list[float]) -> pd.DataFrame:
    index = pd.date_range(start, periods=len(labels), freq=step, name="time")
    return pd.DataFrame({TARGET: labels, **columns}, index=index)


def test_class_counts_flag_a_difference_and_a_missing_class():
    frame = _frame([0, 0, 0, 2, 2, 3])
    table = eda.class_counts(frame, {0: 3, 1: 1, 2: 2, 3: 1})
    assert list(table.index) == [0, 1, 2, 3]
    assert table["book"].tolist() == [3, 0, 2, 1]
    assert table["difference"].tolist() == [0, -1, 0, 0]
    assert table["share"].sum() == pytest.approx(1.0)


def test_label_runs_and_changes():
    labels = _frame([0, 0, 1, 1, 1, 3, 0, 0])[TARGET]
    runs = eda.label_runs(labels)
    assert runs["label"].tolist() == [0, 1, 3, 0]
    assert runs["rows"].tolist() == [2, 3, 1, 2]
    assert runs["start"].iloc[1] == labels.index[2] and runs["end"].iloc[1] == labels.index[4]
    stats = eda.label_change_stats(labels)
    assert stats["changes"] == 3 and stats["runs"] == 4
    assert stats["changes_by_one"] == 1 and stats["changes_by_more"] == 2  # 1->3, 3->0
    assert stats["change_rate"] == pytest.approx(3 / 7)
    assert stats["shortest_run_rows"] == 1 and stats["longest_run_rows"] == 2 + 1


def test_a_gap_in_time_does_not_split_a_run():
    index = pd.DatetimeIndex(["2020-01-01 10:00", "2020-01-01 10:01", "2020-01-05 10:00"])
    labels = pd.Series([0, 0, 0], index=index)
    assert len(eda.label_runs(labels)) == 1
    assert eda.label_change_stats(labels)["changes"] == 0


def test_a_change_across_a_pause_is_counted_apart():
    index = pd.DatetimeIndex(["2020-01-01 10:00", "2020-01-01 10:00:30", "2020-01-01 10:05:30",
                              "2020-01-05 10:00"])
    stats = eda.label_change_stats(pd.Series([0, 1, 2, 3], index=index))
    # 0->1 after 30 s and 1->2 after exactly five minutes are steps; 2->3 is across a pause
    assert stats["changes"] == 3 and stats["changes_across_pauses"] == 1


def test_constant_labels_have_no_changes():
    stats = eda.label_change_stats(_frame([2] * 5)[TARGET])
    assert stats["changes"] == 0 and stats["rows_per_change"] == float("inf")


def test_sampling_gaps_and_steps():
    index = pd.DatetimeIndex(["2020-01-01 10:00:00", "2020-01-01 10:00:30",
                              "2020-01-01 10:01:01", "2020-01-01 12:00:00",
                              "2020-01-01 12:00:30"])
    gaps = eda.sampling_gaps(index, longer_than="5min")
    assert len(gaps) == 1
    assert gaps["last before"].iloc[0] == index[2] and gaps["first after"].iloc[0] == index[3]
    steps = eda.sampling_steps(index)
    assert steps.loc[30] == 2 and steps.loc[31] == 1 and steps.sum() == len(index) - 1
    with pytest.raises(ValueError, match="two timestamps"):
        eda.sampling_gaps(index[:1])


def test_samples_per_bin_shows_empty_hours():
    index = pd.DatetimeIndex(["2020-01-01 10:00", "2020-01-01 10:30", "2020-01-01 13:10"])
    counts = eda.samples_per_bin(index, "1h")
    assert counts.tolist() == [2, 0, 0, 1]


def test_daily_class_mix():
    frame = _frame([0, 1, 1, 0, 3, 0], start="2020-01-01 23:58", step="1min")
    mix = eda.daily_class_mix(frame)
    assert len(mix) == 2
    first, second = mix.iloc[0], mix.iloc[1]
    assert (first["class 0"], first["class 1"], first["rows"]) == (1, 1, 2)
    assert (second["class 1"], second["class 3"], second["rows"]) == (1, 1, 4)
    assert second["occupied share"] == pytest.approx(0.5)
    assert first["from"] == "23:58" and second["to"] == "00:03"


def test_spearman_is_rank_based_and_first_day():
    x = np.arange(1, 11, dtype=float)
    frame = _frame([0] * 10, step="3h", x=x.tolist(), cube=(x ** 3).tolist(),
                   down=(-x).tolist())
    corr = eda.spearman(frame, ["x", "cube", "down"])
    assert corr.loc["x", "cube"] == pytest.approx(1.0)  # monotonic, not linear
    assert corr.loc["x", "down"] == pytest.approx(-1.0)
    day = eda.first_day(frame)
    assert len(day) == 5 and (day.index.date == frame.index[0].date()).all()
    weakest = eda.within_group_min(corr, {"pair": ["x", "down"], "single": ["x"]})
    assert weakest.to_dict() == {"pair": pytest.approx(-1.0)}


# -- chapter 3 ------------------------------------------------------------------------------


def _fold_frame() -> tuple[pd.DataFrame, list[splits.Fold]]:
    labels = [0, 1, 2, 3, 1, 0, 2, 0, 3, 0, 0, 2]
    frame = _frame(labels, a=[0, 1, 2, 3, 4, 5, 6, 7, 8, -2, 20, 5],
                   b=[1.0] * 6 + [1, 1, 1, 1, 1, 1])
    folds = splits.make_folds(frame.index, [(str(frame.index[4]), str(frame.index[6])),
                                            (str(frame.index[6]), None)])
    return frame, folds


def test_absent_test_classes():
    frame, folds = _fold_frame()
    absent = eda.absent_test_classes(frame, folds)
    # fold 1 tests rows 4-5 (labels 1, 0); fold 2 tests rows 6-11 (2, 0, 3, 0, 0, 2)
    assert set(map(tuple, absent[["fold", "absent class"]].to_numpy())) == {
        (1, 2), (1, 3), (2, 1)}
    row = absent[(absent["fold"] == 2)].iloc[0]
    assert row["last seen"] == frame.index[4] and not row["in any later row"]
    assert absent[(absent["fold"] == 1) & (absent["absent class"] == 3)][
        "in any later row"].item()


def test_scaled_range_uses_training_rows_only():
    frame, folds = _fold_frame()
    r = eda.scaled_range(frame, folds[1], ["a"])  # train a = 0..5, test 6, 7, 8, -2, 20, 5
    assert r.loc["a", "train min"] == 0 and r.loc["a", "train max"] == 1
    assert r.loc["a", "test max"] == pytest.approx(20 / 5)
    assert r.loc["a", "test min"] == pytest.approx(-2 / 5)
    assert r.loc["a", "test above 1"] == pytest.approx(4 / 6)
    assert r.loc["a", "test below 0"] == pytest.approx(1 / 6)
    overview = eda.scaling_overview(frame, folds, ["a", "b"])
    assert overview.loc[2, "features leaving [0, 1]"] == 1
    assert overview.loc[2, "training rows"] == 6
    assert overview.loc[2, "share of test values outside"] == pytest.approx((5 / 6) / 2)


def test_per_class_f1_counts_an_absent_class_as_zero():
    y_true = np.array([0, 0, 2, 2, 3])
    table = eda.per_class_f1(y_true, y_true)  # perfect predictions, class 1 absent
    assert table.loc[1, "test rows"] == 0 and table.loc[1, "F1"] == 0
    assert table.loc[[0, 2, 3], "F1"].tolist() == [1, 1, 1]


def test_f1_views_mean_and_pooled():
    perfect_without_1 = pd.DataFrame({"fold": 1, "y_true": [0, 2, 3, 0],
                                      "y_pred": [0, 2, 3, 0]})
    perfect_all = pd.DataFrame({"fold": 2, "y_true": [0, 1, 2, 3], "y_pred": [0, 1, 2, 3]})
    views = eda.f1_views(pd.concat([perfect_without_1, perfect_all]))
    assert views.loc[1, "F1 macro (4 classes)"] == pytest.approx(0.75)
    assert views.loc[1, "F1 macro (classes present)"] == pytest.approx(1.0)
    assert views.loc["mean", "F1 macro (4 classes)"] == pytest.approx(0.875)
    assert views.loc["pooled", "F1 macro (4 classes)"] == pytest.approx(1.0)
    assert views.loc[1, "classes in test"] == "0, 2, 3"


def test_agreement_reading_splits_the_groups_at_its_threshold():
    weakest = pd.Series({"temperature": eda.CLOSE_AGREEMENT, "light": 0.93,
                         "sound": eda.CLOSE_AGREEMENT - 0.01})
    assert eda.agreement_reading(weakest) == (
        "the temperature and light sensors agree closely with each other (weakest pairwise "
        "correlation 0.80 and 0.93); the sound sensors do not (0.79)")
    assert eda.agreement_reading(weakest[["sound"]]).startswith("the sound")
    with pytest.raises(ValueError, match="no sensor group"):
        eda.agreement_reading(weakest.iloc[:0])


def test_sensor_kinds_leave_out_the_one_sensor_groups():
    kinds = eda.sensor_kinds(data.FEATURE_GROUPS)
    assert "co2" not in kinds and set(kinds) == set(data.FEATURE_GROUPS) - {"co2"}
    assert kinds["light"] == data.FEATURE_GROUPS["light"]


def test_most_correlated_reading_at_the_top_and_below():
    rho = pd.Series({"L1": 0.7, "L2": 0.6, "P1": 0.66, "P2": 0.62, "T1": 0.5})
    groups = {"light": ["L1", "L2"], "pir": ["P1", "P2"], "temperature": ["T1"]}
    by_group = eda.group_correlation(rho, groups)
    assert list(by_group.index) == ["light", "pir", "temperature"]
    assert by_group["light"] == pytest.approx(0.65)
    # a lead of 0.01, below CLEAR_LEAD: it holds only narrowly
    assert eda.most_correlated_reading(by_group, "light") == (
        "holds only narrowly for the groups' mean correlations: light 0.650, pir next with "
        "0.640")
    assert eda.most_correlated_reading(by_group, "pir") == (
        "does not hold for the groups' mean correlations: light leads with 0.650, pir has "
        "0.640")
    clear = by_group.copy()
    clear["light"] = clear["pir"] + eda.CLEAR_LEAD  # at the threshold: holds
    assert eda.most_correlated_reading(clear, "light").startswith("holds for")
    with pytest.raises(ValueError, match="'sound'"):
        eda.most_correlated_reading(by_group, "sound")


def test_occupied_breakdown_lists_the_counts_present():
    row = pd.Series({"class 0": 1751, "class 1": 0, "class 2": 38, "class 3": 2})
    assert eda.occupied_breakdown(row) == "38 of count 2 and 2 of count 3"
    assert eda.occupied_breakdown(pd.Series({"class 0": 5, "class 1": 0})) == "none"
