"""Cutting a fold part into sequences: CRF chunks and LSTM sliding windows.

Both work on one part (train, validation or test) at a time, so no sequence
ever crosses a fold boundary.

Gap rule for sliding windows: the sensors report about every 30 s; a few
missed readings (gaps of up to :data:`MAX_GAP_SECONDS`) are tolerated, but a
window never spans a longer break in collection (the data set has breaks of
25 minutes, a day and two weeks), because the temperature and CO2 history
before such a break says nothing about the room after it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .tables import joined

#: A longer pause between two readings is a break in collection: no sequence spans it.
MAX_GAP_SECONDS = 300.0


def chunk(x: np.ndarray, y: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping chunks of ``seq_len`` consecutive rows; the short tail is dropped.

    Returns arrays of shape (n_chunks, seq_len, n_features) and (n_chunks, seq_len).
    """
    if seq_len < 2:
        raise ValueError(f"seq_len must be at least 2, got {seq_len}")
    n = (len(x) // seq_len) * seq_len
    return (x[:n].reshape(-1, seq_len, x.shape[1]), y[:n].reshape(-1, seq_len))


def segment_ids(index: pd.DatetimeIndex, max_gap_seconds: float = MAX_GAP_SECONDS) -> np.ndarray:
    """Label each row with the id of its contiguous stretch of collection."""
    gaps = np.diff(index.asi8) / 1e9
    return np.concatenate([[0], np.cumsum(gaps > max_gap_seconds)])


def sliding_windows(x: np.ndarray, seq_len: int,
                    segments: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Windows of the last ``seq_len`` rows ending at each row that has that much history.

    Returns (windows of shape (n, seq_len, n_features), positions of the rows
    whose target each window predicts). A window never spans two segments.
    """
    if seq_len < 1:
        raise ValueError(f"seq_len must be at least 1, got {seq_len}")
    if segments is None:
        segments = np.zeros(len(x), dtype=int)
    if len(x) < seq_len:
        return np.empty((0, seq_len, x.shape[1]), dtype=x.dtype), np.empty(0, dtype=int)
    ends = np.arange(seq_len - 1, len(x))
    ends = ends[segments[ends] == segments[ends - seq_len + 1]]
    view = np.lib.stride_tricks.sliding_window_view(x, seq_len, axis=0)  # (n-L+1, F, L)
    windows = np.ascontiguousarray(view[ends - seq_len + 1].transpose(0, 2, 1))
    return windows, ends


def describe_breaks(index: pd.DatetimeIndex, max_gap_seconds: float = MAX_GAP_SECONDS) -> str:
    """The breaks in collection longer than ``max_gap_seconds``, each in its natural unit
    ("25.5 minutes", "24.0 hours", "15.3 days"), in time order; "none" without one."""
    gaps = np.diff(index.asi8) / 1e9
    words = []
    for seconds in gaps[gaps > max_gap_seconds]:
        if seconds < 3600:
            words.append(f"{seconds / 60:.1f} minutes")
        elif seconds < 2 * 86400:
            words.append(f"{seconds / 3600:.1f} hours")
        else:
            words.append(f"{seconds / 86400:.1f} days")
    return joined(words) if words else "none"
