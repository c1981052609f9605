"""Windowed features from past readings only, for models that see one row at a time.

The sequence models (CRF, LSTM) read a window of readings; a tree ensemble or
a logistic regression reads one row. To give them the same history, each row
gets, per sensor and per window length ``w``, the mean and the spread of the
last ``w`` readings (the row itself included) and the change over them
(``x[t] - x[t-w]``), beside the reading itself. Every feature of row ``t``
uses rows ``t-w .. t`` and nothing later, so a row's features are known when
it is read, and the first rows of a test part take their history from the
readings before it (features, never labels). The first ``w`` rows of the data
have shorter windows (pandas' ``min_periods=1``), and a window spans the gaps
between recording days as the sequence models' windows do.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


def check_windows(windows: Sequence[int]) -> list[int]:
    """The window lengths as a sorted list; a ValueError names a bad one."""
    out = []
    for w in windows:
        if isinstance(w, bool) or not isinstance(w, int) or w < 2:
            raise ValueError(f"window lengths must be integers of at least 2, got {w!r}")
        out.append(int(w))
    if not out:
        raise ValueError("need at least one window length")
    return sorted(set(out))


def windowed(frame: pd.DataFrame, columns: Sequence[str], windows: Sequence[int]
             ) -> pd.DataFrame:
    """Per column: the reading, and per window ``w`` its trailing mean, std and change.

    Columns are named ``<sensor>``, ``<sensor>_mean<w>``, ``<sensor>_std<w>`` and
    ``<sensor>_diff<w>``; the index is ``frame``'s. Nothing of a row depends on
    a later row (``tests/test_features.py`` changes a later row and checks).
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"columns not in the data: {missing}")
    windows = check_windows(windows)
    parts = {}
    for col in columns:
        x = frame[col].astype("float64")
        parts[col] = x
        for w in windows:
            rolling = x.rolling(w, min_periods=1)
            parts[f"{col}_mean{w}"] = rolling.mean()
            parts[f"{col}_std{w}"] = rolling.std(ddof=0)
            parts[f"{col}_diff{w}"] = x - x.shift(w).fillna(x.iloc[0])  # early rows: since row 0
    return pd.DataFrame(parts, index=frame.index)
