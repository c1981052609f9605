"""Chapter 2's tables and computed verdicts, apart from the forests of
:mod:`~occupancy_utils.ablation` that compute them.

One row per feature set, per fold or per seed, the report's Table 7 row for the
forest beside the book's, a fold's confusion matrix, and the verdicts on light's
effect and on the report's light contrast, each by a threshold stated beside it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .. import metrics
from ..ablation import ForestRun, holdout_start
from ..tables import joined


def ablation_table(runs: Mapping[str, ForestRun],
                   report_f1: Mapping[str, float] | None = None) -> pd.DataFrame:
    """One row per feature set: report-style mean F1 and MSE, pooled F1 and MSE,
    and the report's F1 where it has one."""
    rows = []
    for name, run in runs.items():
        s = run.summary()
        rows.append({
            "feature set": name, "features": len(run.features),
            "report F1 macro": (report_f1 or {}).get(name, np.nan),
            "F1 macro (fold mean)": s["mean"]["f1_macro"],
            "F1 macro (pooled)": s["pooled"]["f1_macro"],
            "MSE (fold mean)": s["mean"]["mse"], "MSE (pooled)": s["pooled"]["mse"],
        })
    return pd.DataFrame(rows).set_index("feature set")


def per_fold_table(runs: Mapping[str, ForestRun], metric: str = "f1_macro") -> pd.DataFrame:
    """One metric per fold and feature set: where a fold is hard for every set, it is the fold."""
    numbers = [int(p["fold"].iloc[0]) for p in next(iter(runs.values())).predictions]
    values = [[f[metric] for f in run.summary()["per_fold"]] for run in runs.values()]
    return pd.DataFrame(values, index=pd.Index(list(runs), name="feature set"),
                        columns=[f"fold {n}" for n in numbers])


def importance_summary(importances: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over repeats per item, largest F1 drop first."""
    out = importances.groupby("item")[["F1 macro drop", "MSE increase"]].agg(["mean", "std"])
    out.columns = [f"{a} ({b})" for a, b in out.columns]
    return out.sort_values("F1 macro drop (mean)", ascending=False)


def table_7_rows(runs: Mapping[int, ForestRun], report_mse: float, report_f1: float
                 ) -> pd.DataFrame:
    """The forest's row of the report's Table 7 beside the book's: fold-mean scores
    averaged over seeds (the report's style), and pooled scores of the first seed."""
    summaries = [run.summary() for run in runs.values()]
    mean = {k: float(np.mean([s["mean"][k] for s in summaries])) for k in ("mse", "f1_macro")}
    pooled = summaries[0]["pooled"]
    out = pd.DataFrame({
        "report": [report_mse, report_f1],
        "book (fold mean, over seeds)": [mean["mse"], mean["f1_macro"]],
        "book (pooled, first seed)": [pooled["mse"], pooled["f1_macro"]],
    }, index=pd.Index(["MSE", "F1 macro"], name="metric"))
    out["difference (fold mean - report)"] = out["book (fold mean, over seeds)"] - out["report"]
    return out


def seed_table(runs: Mapping[int, ForestRun]) -> pd.DataFrame:
    """Fold-mean and pooled MSE and F1 macro, and timings, for each seed's run."""
    rows = []
    for seed, run in runs.items():
        s = run.summary()
        rows.append({"seed": seed, "MSE (fold mean)": s["mean"]["mse"],
                     "F1 macro (fold mean)": s["mean"]["f1_macro"],
                     "MSE (pooled)": s["pooled"]["mse"],
                     "F1 macro (pooled)": s["pooled"]["f1_macro"],
                     "train seconds": run.train_seconds,
                     "predict seconds": run.predict_seconds})
    return pd.DataFrame(rows).set_index("seed")


def confusion(run: ForestRun, fold_number: int) -> pd.DataFrame:
    """Confusion matrix of one fold's test part: true class in rows, predicted in columns."""
    part = next(p for p in run.predictions if int(p["fold"].iloc[0]) == fold_number)
    table = pd.crosstab(pd.Categorical(part["y_true"], categories=metrics.LABELS),
                        pd.Categorical(part["y_pred"], categories=metrics.LABELS),
                        dropna=False)
    table.index.name, table.columns.name = "true class", "predicted class"
    return table


#: A change of F1 macro smaller than this reads as no change.
NEGLIGIBLE_F1 = 0.005


#: The report's light contrast reproduces when the book's drop of F1 macro without light
#: is at least this share of the report's drop.
CONTRAST_SHARE = 0.5


def change_reading(before: float, after: float) -> str:
    """What going from ``before`` to ``after`` (an F1 macro) does, in words: raises or
    lowers it, or leaves it practically unchanged (:data:`NEGLIGIBLE_F1`)."""
    change = after - before
    if abs(change) < NEGLIGIBLE_F1:
        return f"leaves it practically unchanged ({change:+.4f})"
    return f"{'raises' if change > 0 else 'lowers'} it by {abs(change):.3f}"


def contrast_verdict(book_all: float, book_without: float, report_all: float,
                     report_without: float) -> str:
    """Whether the report's fall of F1 macro without light reproduces: the book's fall
    must be at least :data:`CONTRAST_SHARE` of the report's."""
    report_drop = report_all - report_without
    if not report_drop > 0:
        raise ValueError(f"the report's F1 must fall without light, got {report_all} -> "
                         f"{report_without}")
    holds = book_all - book_without >= CONTRAST_SHARE * report_drop
    return f"The report's contrast {'reproduces' if holds else 'does not reproduce'} on these folds"




def false_occupied_share(run: ForestRun, fold_number: int) -> float:
    """The share of a fold's empty-room test readings that the forest calls occupied."""
    table = confusion(run, fold_number)
    empty = table.loc[0].sum()
    if not empty:
        raise ValueError(f"fold {fold_number}'s test part has no empty-room reading")
    return float(table.loc[0, [c for c in metrics.LABELS if c != 0]].sum() / empty)


def fold_story(runs: Mapping[str, ForestRun], per_fold: pd.DataFrame, fold_number: int
               ) -> dict[str, float | str]:
    """What misleads the forest on one fold, from the feature sets' runs on it.

    ``culprit``: the group whose removal raises the fold's F1 macro most over
    ``all features`` ("none" when no removal raises it by :data:`NEGLIGIBLE_F1` or
    more); ``culprit_text`` says what that removal does, ``light_text`` what light
    alone does, each with the share of empty-room readings called occupied
    (:func:`false_occupied_share`); ``false_occupied``: that share with all features.
    """
    column = per_fold[f"fold {fold_number}"]
    gain = column[[n for n in column.index if n.startswith("without ")]] - column["all features"]

    def scored(name: str) -> str:
        return (f"scores {column[name]:.3f} on fold {fold_number} and calls "
                f"{false_occupied_share(runs[name], fold_number):.0%} of its empty-room "
                f"readings occupied")

    if gain.max() >= NEGLIGIBLE_F1:
        name = gain.idxmax()
        culprit = name.removeprefix("without ")
        culprit_text = (f"the group whose removal helps fold {fold_number} most is "
                        f"{culprit}: the forest without it {scored(name)}")
    else:
        culprit, culprit_text = "none", f"removing no single group helps fold {fold_number}"
    return {"culprit": culprit, "culprit_text": culprit_text,
            "light_text": f"light alone {scored('only light')}",
            "false_occupied": false_occupied_share(runs["all features"], fold_number)}


def importance_reading(drops: pd.Series) -> str:
    """How shuffling each of ``drops``' groups changes pooled F1 macro, group by group (a
    drop is ``unshuffled - shuffled``, so a negative drop is a rise); a change smaller
    than :data:`NEGLIGIBLE_F1` leaves it practically unchanged."""
    rises = drops[drops <= -NEGLIGIBLE_F1].sort_values()
    falls = drops[drops >= NEGLIGIBLE_F1].sort_values(ascending=False)
    still = drops[(drops > -NEGLIGIBLE_F1) & (drops < NEGLIGIBLE_F1)]

    def named(part: pd.Series, sign: float) -> str:
        return (f"{joined([str(g) for g in part.index])} (by "
                f"{joined([f'{sign * v:.3f}' for v in part])})")

    parts = ([f"raises it for {named(rises, -1)}"] if len(rises) else []) + (
        [f"lowers it for {named(falls, 1)}"] if len(falls) else []) + (
        [f"leaves it practically unchanged for {joined([str(g) for g in still.index])}"]
        if len(still) else [])
    if not parts:
        raise ValueError("no group to read")
    return joined(parts)


def drop_by_fold(per_fold: pd.DataFrame, group: str) -> str:
    """Per fold, F1 macro without ``group`` minus with all features, and where dropping it
    helps (a difference of :data:`NEGLIGIBLE_F1` or more) or hurts (as much the other
    way)."""
    diff = per_fold.loc[f"without {group}"] - per_fold.loc["all features"]
    text = ", ".join(f"{fold} {value:+.3f}" for fold, value in diff.items())
    helps = [f.removeprefix("fold ") for f, v in diff.items() if v >= NEGLIGIBLE_F1]
    hurts = [f.removeprefix("fold ") for f, v in diff.items() if v <= -NEGLIGIBLE_F1]
    phrases = [f"{verb} on fold{'s' if len(folds) > 1 else ''} {joined(folds)}"
               for verb, folds in (("helps", helps), ("hurts", hurts)) if folds]
    said = (f"dropping {group} " + " and ".join(phrases) if phrases
            else f"dropping {group} changes no fold")
    return f"{text} ({said})"


def difference_reading(book: float, report: float, lower_is_better: bool) -> str:
    """The book's score against the report's, in words: better or worse by how much, or
    the same to within :data:`NEGLIGIBLE_F1`."""
    diff = book - report
    if abs(diff) < NEGLIGIBLE_F1:
        return f"the same to within {NEGLIGIBLE_F1} ({book:.3f} against {report:.3f})"
    better = diff < 0 if lower_is_better else diff > 0
    return f"{'better' if better else 'worse'} by {abs(diff):.3f} ({book:.3f} against {report:.3f})"


def holdout_cap(y: np.ndarray, holdout: float) -> str:
    """The counts the chronological hold-out's test part lacks, and the ceiling that puts on
    its F1 macro (a count with no reading scores 0 in the macro average)."""
    test = np.asarray(y)[holdout_start(len(y), holdout):]
    absent = [c for c in metrics.LABELS if c not in set(test.tolist())]
    if not absent:
        return "its test part holds every count"
    cap = (len(metrics.LABELS) - len(absent)) / len(metrics.LABELS)
    return (f"its test part has no reading of count{'s' if len(absent) > 1 else ''} "
            f"{joined([str(c) for c in absent])}, so its F1 macro is at most {cap:.2f}")


def with_report_row(protocols: pd.DataFrame, report_f1: Mapping[str, float]) -> pd.DataFrame:
    """The protocol comparison with the report's two F1 values as a last row (its
    validation scheme is not stated)."""
    row = pd.DataFrame([{name: report_f1.get(name, np.nan) for name in protocols.columns}],
                       index=["report (scheme not stated)"])
    return pd.concat([protocols, row])
