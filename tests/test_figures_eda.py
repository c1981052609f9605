"""Figures of chapters 1-3 draw what they claim, and the profiling page is self-contained."""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba

from occupancy_utils import eda, profiling, splits
from occupancy_utils.data import FEATURE_GROUPS, TARGET
from occupancy_utils.figures import CLASS_COLOURS
from occupancy_utils.figures import ablation as fig_ablation
from occupancy_utils.figures import eda as fig_eda
from occupancy_utils.figures import splits as fig_splits


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _day(rows: int = 120) -> pd.DataFrame:
    index = pd.date_range("2020-01-01 08:00", periods=rows, freq="30s", name="time")
    rng = np.random.default_rng(0)
    columns = [c for _, cols, _ in fig_eda.FIRST_DAY_ROWS for c in cols if c != TARGET]
    frame = pd.DataFrame(rng.random((rows, len(columns))), index=index, columns=columns)
    frame[TARGET] = np.repeat([0, 1, 3, 0], rows // 4)
    frame["S6_PIR"] = 0
    frame.iloc[7, frame.columns.get_loc("S6_PIR")] = 1  # one short motion spike
    return frame


def test_room_schematic_labels_all_seven_positions():
    fig = fig_eda.room_schematic()
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {f"S{i}" for i in range(1, 8)} <= texts
    assert "schematic" in fig.axes[0].get_title()


def test_thin_keeps_spikes_and_reports_the_factor():
    day = _day(120)
    columns = ["S1_Temp", "S6_PIR", TARGET]
    same, k = fig_eda.thin(day, columns, max_points=10_000)
    assert k == 1 and len(same) == 120
    thinned, k = fig_eda.thin(day, columns, max_points=90)
    assert k == 4 and len(thinned) == 30 and len(thinned) * len(columns) <= 90
    assert thinned["S6_PIR"].max() == 1  # the single spike survives as a maximum
    assert thinned["S1_Temp"].iloc[0] == pytest.approx(day["S1_Temp"].iloc[:4].mean())
    assert thinned.index[1] == day.index[4]
    with pytest.raises(ValueError, match="max_points"):
        fig_eda.thin(day, columns, max_points=2)


def test_first_day_figure_has_every_attribute_on_one_time_axis():
    fig, k = fig_eda.first_day_figure(_day(120), max_points=20_000)
    names = [t.name for t in fig.data]
    expected = [c for _, cols, _ in fig_eda.FIRST_DAY_ROWS for c in cols]
    assert names == expected and k == 1
    assert all(len(t.x) == 120 for t in fig.data)
    axes = [a for a in fig.layout if a.startswith("xaxis")]
    assert len(axes) == len(fig_eda.FIRST_DAY_ROWS)
    assert sum(len(t.x) for t in fig_eda.first_day_figure(_day(120), 400)[0].data) <= 400
    assert set(FEATURE_GROUPS["light"]) <= set(names)


def test_calendar_and_heatmap_figures():
    frame = _day(240)
    fig = fig_eda.calendar_figure(eda.samples_per_bin(frame.index), eda.daily_class_mix(frame))
    assert len(fig.axes) == 2
    corr = eda.spearman(frame, ["S1_Temp", "S2_Temp", TARGET])
    heat = fig_eda.spearman_heatmap(corr)
    labels = [t.get_text() for t in heat.axes[0].get_xticklabels()]
    assert labels == ["S1_Temp", "S2_Temp", TARGET]


def test_fold_strips_colour_parts_and_leave_unused_rows_white():
    labels = np.array([0, 1, 2, 3, 0, 2])
    folds = [splits.Fold(1, np.array([0, 1]), np.array([2, 3])),
             splits.Fold(2, np.array([0, 1, 2, 3]), np.array([4, 5]))]
    image = fig_splits.fold_strips(labels, folds)
    rows = len(fig_splits._LAYOUT)
    assert image.shape == (2 * rows, 6, 4)
    part, strip = image[0], image[1]
    assert np.allclose(part[0], to_rgba(fig_splits.PART_COLOURS["train"]))
    assert np.allclose(part[2], to_rgba(fig_splits.PART_COLOURS["test"]))
    assert np.allclose(strip[3], to_rgba(CLASS_COLOURS[3]))
    assert np.allclose(strip[4:], 1) and np.allclose(part[4:], 1)  # fold 1 ignores rows 4-5
    assert np.allclose(image[rows + 1][5], to_rgba(CLASS_COLOURS[2]))


def test_fold_timeline_and_scaling_figures():
    frame = _day(200)
    folds = splits.make_folds(frame.index, [(str(frame.index[100]), str(frame.index[150])),
                                            (str(frame.index[150]), None)])
    fig = fig_splits.fold_timeline(frame, folds)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["fold 1", "fold 2"]
    ranges = eda.scaled_range(frame, folds[0], ["S1_Temp", "S2_Temp"])
    fig = fig_splits.scaled_range_figure(ranges, 1)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["S1_Temp", "S2_Temp"]


def test_ablation_figures():
    table = pd.DataFrame({"report F1 macro": [0.98, np.nan],
                          "F1 macro (fold mean)": [0.4, 0.5],
                          "F1 macro (pooled)": [0.45, 0.55]}, index=["all features", "only a"])
    fig = fig_ablation.ablation_figure(table)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == list(table.index)
    summary = pd.DataFrame({"F1 macro drop (mean)": [0.2, 0.01],
                            "F1 macro drop (std)": [0.01, 0.0]}, index=["light", "S1_Light"])
    fig = fig_ablation.importance_figure({"a": summary, "b": summary})
    assert len(fig.axes) == 2


def test_profile_report_is_self_contained(tmp_path):
    frame = _day(60)[["S1_Temp", "S6_PIR", TARGET]]
    path = profiling.write_profile_report(frame, tmp_path / "site" / "profile.html",
                                          minimal=True)
    html = path.read_text()
    assert "<html" in html.lower() and len(html) > 10_000
    # Nothing for the browser to fetch: no external scripts, styles or images.
    external = re.findall(r"<(?:script|link|img)[^>]+(?:src|href)=[\"']?(?:https?:)?//",
                          html, flags=re.IGNORECASE)
    assert external == []
    with pytest.raises(ValueError, match="profile_minimal"):
        profiling.write_profile_report(frame, tmp_path / "x.html", minimal="yes")
