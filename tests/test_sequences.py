"""Chunks and sliding windows stay inside one part and one stretch of collection."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from occupancy_utils import sequences


def test_chunk_drops_the_tail():
    x = np.arange(23 * 2, dtype=float).reshape(23, 2)
    y = np.arange(23)
    cx, cy = sequences.chunk(x, y, 5)
    assert cx.shape == (4, 5, 2) and cy.shape == (4, 5)
    assert cy[-1, -1] == 19  # rows 20..22 dropped, no padding
    assert np.array_equal(cx[1, 0], x[5])
    with pytest.raises(ValueError, match="seq_len"):
        sequences.chunk(x, y, 1)


def test_chunks_never_cross_a_fold_boundary(frame):
    from occupancy_utils import splits
    fold = splits.make_folds(frame.index)[0]
    x = np.arange(len(frame), dtype=float)[:, None]
    for part in (fold.train, fold.test):
        cx, _ = sequences.chunk(x[part], x[part, 0], 10)
        rows = cx[..., 0].astype(int)
        assert np.isin(rows, part).all()


def test_segments_break_only_at_long_gaps():
    t = pd.DatetimeIndex(pd.to_datetime([0, 30, 60, 200, 230, 2000, 2030], unit="s"))
    seg = sequences.segment_ids(t, max_gap_seconds=300)
    assert seg.tolist() == [0, 0, 0, 0, 0, 1, 1]
    assert sequences.segment_ids(t, max_gap_seconds=100).tolist() == [0, 0, 0, 1, 1, 2, 2]


def test_sliding_windows_respect_segments():
    x = np.arange(10, dtype=float)[:, None]
    seg = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    w, ends = sequences.sliding_windows(x, 3, seg)
    assert ends.tolist() == [2, 3, 6, 7, 8, 9]
    assert w.shape == (6, 3, 1)
    assert w[2, :, 0].tolist() == [4, 5, 6]
    for window in w[..., 0].astype(int):
        assert len(set(seg[window])) == 1
        assert np.all(np.diff(window) == 1)


def test_real_data_windows_skip_the_breaks(frame):
    seg = sequences.segment_ids(frame.index)
    assert seg.max() >= 3  # the 25-minute, one-day and two-week breaks
    w, ends = sequences.sliding_windows(np.zeros((len(frame), 1)), 15, seg)
    starts = ends - 14
    assert np.all(seg[starts] == seg[ends])
    step = np.diff(frame.index.asi8) / 1e9
    inner_max = [step[s:e].max() for s, e in zip(starts, ends, strict=True)]
    assert max(inner_max) <= sequences.MAX_GAP_SECONDS
    # the 25-minute break on 22 December cuts windows: none ends in the 14 rows after it
    brk = int(np.argmax(step > 1000)) + 1
    assert not set(range(brk, brk + 14)) & set(ends.tolist())


def test_describe_breaks_names_each_break_in_its_unit():
    t = pd.to_datetime(["2017-12-22 10:00:00", "2017-12-22 10:00:30", "2017-12-22 10:26:00",
                        "2017-12-23 10:26:00", "2018-01-07 10:26:00", "2018-01-07 10:26:30"])
    assert sequences.describe_breaks(pd.DatetimeIndex(t)) == (
        "25.5 minutes, 24.0 hours and 15.0 days")
    assert sequences.describe_breaks(pd.DatetimeIndex(t[:2])) == "none"
    assert sequences.describe_breaks(pd.DatetimeIndex(t[:3])) == "25.5 minutes"
