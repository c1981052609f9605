"""Figures of chapter 3: the folds on the time axis (the report's Figure 5) and
what training-only scaling does to the test part."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from .. import splits
from ..data import CLASSES, TARGET
from . import CLASS_COLOURS

PART_COLOURS = {"train": "#2d3748", "test": "#805ad5"}
#: Sub-rows per fold in the image: part bar, two rows of class colour, a white spacer.
_LAYOUT = ("part", "class", "class", "space")


def fold_strips(labels: np.ndarray, folds: Sequence[splits.Fold]) -> np.ndarray:
    """RGBA image, four pixel rows per fold: a bar for the part (training or test),
    two rows of class colour for the readings the fold uses, a white spacer.
    Readings a fold does not use stay white."""
    n = len(labels)
    image = np.ones((len(_LAYOUT) * len(folds), n, 4))
    colours = np.array([to_rgba(CLASS_COLOURS[c]) for c in CLASSES])
    for row, fold in enumerate(folds):
        for part, idx in (("train", fold.train), ("test", fold.test)):
            for sub, kind in enumerate(_LAYOUT):
                r = len(_LAYOUT) * row + sub
                if kind == "part":
                    image[r, idx] = to_rgba(PART_COLOURS[part])
                elif kind == "class":
                    image[r, idx] = colours[labels[idx].astype(int)]
    return image


def fold_timeline(frame: pd.DataFrame, folds: Sequence[splits.Fold],
                  gap: str = "5min") -> Figure:
    """Figure 5: the folds against the reading number, by part and by class.

    The x axis counts readings, not hours: on a calendar axis the 15-day pause
    would squeeze the data into two slivers. Dashed lines mark pauses in
    collection longer than ``gap``, ticks mark the first reading of each day.
    """
    labels = frame[TARGET].to_numpy()
    image = fold_strips(labels, folds)
    fig, ax = plt.subplots(figsize=(11, 1.6 + 0.8 * len(folds)))
    ax.imshow(image, aspect="auto", interpolation="nearest",
              extent=(-0.5, len(labels) - 0.5, len(image) - 0.5, -0.5))
    centres = [len(_LAYOUT) * i + 1 for i in range(len(folds))]
    ax.set_yticks(centres, [f"fold {f.number}" for f in folds])
    days = frame.index.normalize()
    starts = np.flatnonzero(np.r_[True, days[1:] != days[:-1]])
    ax.set_xticks(starts, [frame.index[i].strftime("%d %b") for i in starts], fontsize=8)
    pauses = np.flatnonzero(np.diff(frame.index) > pd.Timedelta(gap)) + 1
    for p in pauses:
        ax.axvline(p - 0.5, color="#333", ls="--", lw=0.8)
    ax.set_xlabel("reading number (ticks: first reading of each day; dashed: pause in "
                  "collection)")
    handles = [Patch(color=PART_COLOURS["train"], label="training part"),
               Patch(color=PART_COLOURS["test"], label="test part")]
    handles += [Patch(color=CLASS_COLOURS[c], label=f"class {c}") for c in CLASSES]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=6,
              frameon=False, fontsize=8)
    ax.set_title("The four folds: the thin bar gives the part, the strip below it the class")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0)
    fig.tight_layout()
    return fig


def scaled_range_figure(ranges: pd.DataFrame, fold_number: int) -> Figure:
    """Each feature's test range after scaling on the training part, against [0, 1].

    ``ranges`` comes from :func:`occupancy_utils.eda.scaled_range`.
    """
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(ranges) + 1.5))
    y = np.arange(len(ranges))
    ax.axvspan(0, 1, color="#c6f6d5", alpha=0.6, label="[0, 1]: the training range")
    ax.hlines(y, ranges["test min"], ranges["test max"], color="#2b6cb0", lw=3,
              label="test values, scaled")
    low = ranges["test min"] < -1e-6
    high = ranges["test max"] > 1 + 1e-6
    ax.scatter(np.r_[ranges["test min"][low], ranges["test max"][high]],
               np.r_[y[low.to_numpy()], y[high.to_numpy()]], color="#c53030", zorder=3,
               label="test values outside [0, 1]")
    ax.set_yticks(y, ranges.index)
    ax.invert_yaxis()
    ax.set_xlabel("value after min-max scaling fitted on the training part")
    ax.set_title(f"Fold {fold_number}: where the test part lands after training-only scaling")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, fontsize=8,
              frameon=False)
    fig.tight_layout()
    return fig
