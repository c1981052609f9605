"""Measurements behind chapters 1 and 3: class counts, label runs, gaps, folds.

Chapter 1 asks what the data look like before any model sees them: how
unbalanced the classes are, how rarely the label changes (the CRF chapter's
finding rests on it), where collection stopped, and on which days anyone was
in the room. Chapter 3 asks what the four folds can and cannot show: which
classes a test part lacks, how far test values leave the training range after
min-max scaling, and how an absent class biases a per-fold F1.

Everything here returns plain DataFrames or numbers, so the notebooks only
glue and display them, and the tests can check them on tiny synthetic frames.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from . import splits
from .data import CLASSES, TARGET
from .metrics import LABELS
from .tables import joined

# -- chapter 1: the data ------------------------------------------------------------------


def class_counts(frame: pd.DataFrame, report_counts: Mapping[int, int],
                 target: str = TARGET) -> pd.DataFrame:
    """Table 1: rows per class in the data beside the report's counts.

    Every class 0..3 gets a row, even one the frame lacks, so a missing class
    shows as a difference instead of a silently shorter table.
    """
    counts = frame[target].value_counts()
    book = [int(counts.get(c, 0)) for c in CLASSES]
    report = [int(report_counts[c]) for c in CLASSES]
    out = pd.DataFrame({"class": CLASSES, "report": report, "book": book})
    out["difference"] = out["book"] - out["report"]
    out["share"] = out["book"] / max(len(frame), 1)
    return out.set_index("class")


def label_runs(labels: pd.Series) -> pd.DataFrame:
    """Runs of a constant label in time order: first and last timestamp, label, rows.

    A run ends where the label changes, whatever the gap in time, so the gaps
    in collection do not split a run of empty-room readings.
    """
    if labels.empty:
        raise ValueError("labels must not be empty")
    run_id = (labels != labels.shift()).cumsum().to_numpy()
    positions = np.arange(len(labels))
    starts = np.flatnonzero(np.r_[True, run_id[1:] != run_id[:-1]])
    ends = np.r_[starts[1:] - 1, len(labels) - 1]
    return pd.DataFrame({
        "start": labels.index[starts], "end": labels.index[ends],
        "label": labels.to_numpy()[starts].astype(int),
        "rows": positions[ends] - positions[starts] + 1,
    })


#: Two readings further apart than this lie on either side of a pause in collection.
PAUSE = "5min"


def label_change_stats(labels: pd.Series) -> dict[str, float]:
    """How often the label changes, and how long a run of one label lasts.

    A model that assumes the label rarely changes is right on almost every row;
    these numbers say how right. ``changes_across_pauses`` counts the changes between
    two readings more than :data:`PAUSE` apart: a pause in collection, not one step.
    """
    runs = label_runs(labels)
    changes = len(runs) - 1
    steps = np.abs(np.diff(runs["label"].to_numpy()))
    gaps = (runs["start"].iloc[1:].to_numpy() - runs["end"].iloc[:-1].to_numpy())
    return {
        "rows": len(labels),
        "changes": changes,
        "runs": len(runs),
        "change_rate": changes / max(len(labels) - 1, 1),
        "rows_per_change": (len(labels) - 1) / changes if changes else float("inf"),
        "median_run_rows": float(runs["rows"].median()),
        "shortest_run_rows": int(runs["rows"].min()),
        "longest_run_rows": int(runs["rows"].max()),
        "changes_by_one": int((steps == 1).sum()),
        "changes_by_more": int((steps > 1).sum()),
        "changes_across_pauses": int((gaps > pd.Timedelta(PAUSE)).sum()),
    }


def sampling_gaps(index: pd.DatetimeIndex, longer_than: str = PAUSE) -> pd.DataFrame:
    """Pauses in collection: consecutive readings further apart than ``longer_than``.

    The sensors report about every 30 s, so anything much longer is a pause.
    """
    if len(index) < 2:
        raise ValueError("need at least two timestamps to find gaps")
    step = pd.Series(index[1:] - index[:-1])
    where = np.flatnonzero(step > pd.Timedelta(longer_than))
    return pd.DataFrame({
        "last before": index[where], "first after": index[where + 1],
        "gap": step.iloc[where].to_numpy(),
    })


def sampling_steps(index: pd.DatetimeIndex) -> pd.Series:
    """Seconds between consecutive readings, counted: the regular rhythm and its exceptions."""
    seconds = pd.Series((index[1:] - index[:-1]).total_seconds().round().astype(int))
    return seconds.value_counts().sort_index().rename("readings")


def samples_per_bin(index: pd.DatetimeIndex, freq: str = "1h") -> pd.Series:
    """Readings per time bin over the whole calendar span; pauses show as empty bins."""
    counts = pd.Series(1, index=index).resample(freq).sum()
    return counts.rename("readings")


def daily_class_mix(frame: pd.DataFrame, target: str = TARGET) -> pd.DataFrame:
    """Rows per calendar day and class (0..3), with each day's first and last reading."""
    days = pd.Index(frame.index.normalize(), name="day")
    mix = frame.groupby(days)[target].value_counts().unstack(fill_value=0)
    mix = mix.reindex(columns=CLASSES, fill_value=0)
    mix.columns = [f"class {c}" for c in CLASSES]
    first = frame.index.to_series().groupby(days).agg(["min", "max"])
    mix.insert(0, "from", first["min"].dt.strftime("%H:%M"))
    mix.insert(1, "to", first["max"].dt.strftime("%H:%M"))
    mix["rows"] = mix[[f"class {c}" for c in CLASSES]].sum(axis=1)
    mix["occupied share"] = 1 - mix["class 0"] / mix["rows"]
    mix.index = mix.index.date
    mix.index.name = "day"
    return mix


def spearman(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Spearman rank correlations (Figure 3): monotonic, so the lagged, curved
    temperature and CO2 responses to occupancy still count."""
    return frame[list(columns)].corr(method="spearman")


def first_day(frame: pd.DataFrame) -> pd.DataFrame:
    """The readings of the first calendar day (Figure 4)."""
    day = frame.index[0].normalize()
    return frame.loc[frame.index < day + pd.Timedelta(days=1)]


# -- chapter 3: the folds ------------------------------------------------------------------


def absent_test_classes(frame: pd.DataFrame, folds: Sequence[splits.Fold],
                        target: str = TARGET) -> pd.DataFrame:
    """Per fold: which classes the test part lacks and when each was last seen before it.

    A class that no reading after the fold's start holds cannot be in that
    fold's test part, however the boundaries are moved.
    """
    y = frame[target].to_numpy()
    rows = []
    for fold in folds:
        start = frame.index[fold.test[0]]
        present = set(np.unique(y[fold.test]).astype(int))
        for c in CLASSES:
            if c in present:
                continue
            later = y[fold.test[0]:] == c
            rows.append({
                "fold": fold.number, "absent class": c,
                "last seen": frame.index[y == c].max() if (y == c).any() else pd.NaT,
                "test starts": start,
                "in any later row": bool(later.any()),
            })
    return pd.DataFrame(rows, columns=["fold", "absent class", "last seen", "test starts",
                                       "in any later row"])


def scaled_range(frame: pd.DataFrame, fold: splits.Fold, features: Sequence[str]
                 ) -> pd.DataFrame:
    """Per feature, the test part's range after min-max scaling fitted on training rows.

    Uses :func:`~occupancy_utils.splits.scaled_parts`, the scaling every model uses; the share
    of test values outside [0, 1] is what the report warned of.
    """
    parts = splits.scaled_parts(frame, fold, list(features))
    test = parts["test"].astype("float64")
    out = pd.DataFrame({
        "train min": parts["train"].min(axis=0), "train max": parts["train"].max(axis=0),
        "test min": test.min(axis=0), "test max": test.max(axis=0),
        "test below 0": (test < -1e-6).mean(axis=0),
        "test above 1": (test > 1 + 1e-6).mean(axis=0),
    }, index=pd.Index(list(features), name="feature"))
    return out


def per_class_f1(y_true: np.ndarray, y_pred: np.ndarray) -> pd.DataFrame:
    """Support, predictions and F1 of each class 0..3, as F1 macro averages them.

    With ``zero_division=0`` a class that is absent and never predicted gets
    F1 = 0 and still counts in the macro average: that zero is the bias.
    """
    y_true = np.asarray(y_true).astype(int)
    y_pred = np.asarray(y_pred).astype(int)
    f1 = f1_score(y_true, y_pred, labels=LABELS, average=None, zero_division=0)
    return pd.DataFrame({
        "test rows": [int((y_true == c).sum()) for c in LABELS],
        "predicted": [int((y_pred == c).sum()) for c in LABELS],
        "F1": f1,
    }, index=pd.Index(LABELS, name="class"))


def f1_views(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per fold: F1 macro over all four classes (the report's), over the classes
    present in the test part, and the pooled out-of-fold F1 over all folds.

    ``predictions`` has columns fold, y_true, y_pred (one model, one seed).
    """
    rows = []
    for fold, part in predictions.groupby("fold", sort=True):
        yt, yp = part["y_true"].to_numpy(), part["y_pred"].to_numpy()
        present = sorted(int(c) for c in np.unique(yt))
        rows.append({
            "fold": int(fold), "classes in test": ", ".join(map(str, present)),
            "F1 macro (4 classes)": f1_score(yt, yp, labels=LABELS, average="macro",
                                             zero_division=0),
            "F1 macro (classes present)": f1_score(yt, yp, labels=present, average="macro",
                                                   zero_division=0),
        })
    out = pd.DataFrame(rows).set_index("fold")
    yt, yp = predictions["y_true"].to_numpy(), predictions["y_pred"].to_numpy()
    pooled = f1_score(yt, yp, labels=LABELS, average="macro", zero_division=0)
    out.loc["mean"] = ["", out["F1 macro (4 classes)"].mean(),
                       out["F1 macro (classes present)"].mean()]
    out.loc["pooled"] = [", ".join(map(str, sorted(int(c) for c in np.unique(yt)))),
                         pooled, pooled]
    return out


def scaling_overview(frame: pd.DataFrame, folds: Sequence[splits.Fold],
                     features: Sequence[str]) -> pd.DataFrame:
    """Per fold: how many features and what share of test values leave [0, 1], and
    the extremes, after min-max scaling fitted on that fold's training part."""
    rows = []
    for fold in folds:
        r = scaled_range(frame, fold, features)
        outside = r["test below 0"] + r["test above 1"]
        rows.append({
            "fold": fold.number, "training rows": len(fold.train),
            "features leaving [0, 1]": int((outside > 0).sum()),
            "share of test values outside": float(outside.mean()),
            "lowest test value": float(r["test min"].min()),
            "highest test value": float(r["test max"].max()),
        })
    return pd.DataFrame(rows).set_index("fold")


def within_group_min(corr: pd.DataFrame, groups: Mapping[str, Sequence[str]]) -> pd.Series:
    """Weakest pairwise correlation inside each sensor group of two or more columns:
    how much the sensors of one kind agree at worst."""
    out = {}
    for name, cols in groups.items():
        cols = [c for c in cols if c in corr.index]
        if len(cols) < 2:
            continue
        block = corr.loc[cols, cols].to_numpy()
        out[name] = float(block[~np.eye(len(cols), dtype=bool)].min())
    return pd.Series(out, name="weakest pairwise correlation")


#: Groups whose columns come from one physical sensor (the CO₂ level and its slope, a
#: level and its rate of change): whether they correlate says nothing about sensors
#: agreeing, so :func:`sensor_kinds` leaves them out.
ONE_SENSOR_GROUPS = ("co2",)


def sensor_kinds(groups: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """The groups of several sensors of one kind: ``groups`` without
    :data:`ONE_SENSOR_GROUPS`."""
    return {name: list(cols) for name, cols in groups.items() if name not in ONE_SENSOR_GROUPS}


#: Sensors of one kind "agree closely" when their weakest pairwise correlation is at
#: least this.
CLOSE_AGREEMENT = 0.8


def agreement_reading(weakest: pd.Series) -> str:
    """Which sensor kinds agree closely (:data:`CLOSE_AGREEMENT`) and which do not, in one
    sentence, from :func:`within_group_min`."""
    if weakest.empty:
        raise ValueError("no sensor group of two or more columns")
    close = weakest[weakest >= CLOSE_AGREEMENT]
    loose = weakest[weakest < CLOSE_AGREEMENT]

    parts = []
    if len(close):
        parts.append(f"the {joined([str(n) for n in close.index])} sensors agree closely with "
                     f"each other (weakest pairwise correlation "
                     f"{joined([f'{v:.2f}' for v in close])})")
    if len(loose):
        parts.append(f"the {joined([str(n) for n in loose.index])} sensors do not "
                     f"({joined([f'{v:.2f}' for v in loose])})")
    return "; ".join(parts)


def group_correlation(with_target: pd.Series, groups: Mapping[str, Sequence[str]]) -> pd.Series:
    """Each sensor group's mean correlation of its columns with the target, highest first."""
    means = {name: float(with_target[[c for c in cols if c in with_target.index]].mean())
             for name, cols in groups.items()}
    return pd.Series(means, name="mean correlation with the count").sort_values(ascending=False)


#: A group "clearly" correlates most when its mean correlation leads the next group's by
#: at least this; a smaller lead holds "only narrowly".
CLEAR_LEAD = 0.02


def most_correlated_reading(by_group: pd.Series, claimed: str) -> str:
    """The report's claim that ``claimed`` correlates most with occupancy, judged on the
    groups' mean correlations (:func:`group_correlation`): it holds when that group's mean
    is the highest, only narrowly when it leads the next by less than :data:`CLEAR_LEAD`."""
    if claimed not in by_group.index or len(by_group) < 2:
        raise ValueError(f"need the group {claimed!r} and at least one other")
    ranked = by_group.sort_values(ascending=False)
    if ranked.index[0] != claimed:
        return (f"does not hold for the groups' mean correlations: {ranked.index[0]} leads "
                f"with {ranked.iloc[0]:.3f}, {claimed} has {ranked[claimed]:.3f}")
    lead = ranked.iloc[0] - ranked.iloc[1]
    how = "holds" if lead >= CLEAR_LEAD else "holds only narrowly"
    return (f"{how} for the groups' mean correlations: {claimed} {ranked.iloc[0]:.3f}, "
            f"{ranked.index[1]} next with {ranked.iloc[1]:.3f}")


def occupied_breakdown(part: pd.Series) -> str:
    """A fold part's occupied readings by count, from a row of
    :func:`~occupancy_utils.splits.fold_table` ("38 of count 2 and 2 of count 3"): a
    count with few readings weighs a quarter of that part's F1 macro all the same."""
    counts = [(c, int(part.get(f"class {c}", 0))) for c in (1, 2, 3)]
    present = [f"{n} of count {c}" for c, n in counts if n > 0]
    return joined(present) if present else "none"
