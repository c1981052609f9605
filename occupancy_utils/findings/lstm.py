"""Chapter 6's tables and computed verdicts, apart from the LSTM code whose results are stored.

They read the searches and final models of :mod:`~occupancy_utils.lstm_study`:
the report's Tables 5 and 6 beside the book's, its readings of Figures 11-14
judged by stated rules, the uncertainty band and the drop of the assigned
probability on errors, and the parts of the protocol gap.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import experiment, finals, halving, nested, protocol_gap, search
from ..lstm_finals import Final, summaries
from ..lstm_study import MODEL_KEYS, STRUCTURE_KEYS, TUNING_KEYS, Search
from ..models import lstm
from ..ranking import block_interval
from ..tables import failures_text, joined, pct


def structure_reading(found: Search, reported: Mapping[str, Any],
                      grid: Mapping[str, Sequence[Any]]) -> str:
    """Does the report's structure lose to the book's stage-1 winner by more than the folds
    disagree? Under the report protocol (one winner, test MSE per fold): the report's
    structure's rank, and its per-fold difference to the winner. **The rule:** the
    difference counts where the 95 % interval of its mean over the folds
    (:func:`~occupancy_utils.protocol_gap.mean_and_spread`) excludes 0; otherwise a
    different winner is within the spread."""
    if found.protocol != "report":
        raise ValueError("the structure reading needs the report protocol's one winner")
    ranked = search.in_grid_order(found.structure, grid).sort_values("mse", kind="stable")
    ranked = ranked.reset_index(drop=True)
    key = tuple(reported[k] for k in STRUCTURE_KEYS)
    match = ranked[[tuple(r) == key for r in ranked[list(STRUCTURE_KEYS)].itertuples(
        index=False)]]
    label = ", ".join(f"{k} {v}" for k, v in zip(STRUCTURE_KEYS, key, strict=True))
    if match.empty:
        return f"the report's structure ({label}) is not in this profile's grid"
    mine, best = match.iloc[0], ranked.iloc[0]
    diffs = np.asarray(mine["fold_mse"], dtype=float) - np.asarray(best["fold_mse"], dtype=float)
    mean, half_width = protocol_gap.mean_and_spread(diffs)
    if match.index[0] == 0:
        return f"the report's structure ({label}) is the winner here too"
    verdict = ("loses by more than that spread" if np.isfinite(half_width) and mean > half_width
               else "is within the spread over folds, so the different winner is not a "
                    "finding")
    folds = ", ".join(f"{d:+.3f}" for d in diffs)
    return (f"the report's structure ({label}) ranks {int(match.index[0]) + 1} of {len(ranked)} "
            f"(mean test MSE {mine['mse']:.3f} against the winner's {best['mse']:.3f}); fold by "
            f"fold it differs by {folds} (mean {mean:+.3f}, 95 % interval over the folds "
            f"±{half_width:.3f}) and {verdict}")


def fold_spread_reading(stage: pd.DataFrame) -> str:
    """Are the folds more unequal than the configurations? The median over a stage's
    configurations of the range of its per-fold MSEs, against the range of the
    configurations' mean MSEs, in one sentence."""
    if stage.empty:
        raise ValueError("the stage has no configuration")
    per_fold = [np.asarray(f, dtype=float) for f in stage["fold_mse"]]
    fold_range = float(np.median([f.max() - f.min() for f in per_fold]))
    means = stage["mse"].astype(float)
    mean_range = float(means.max() - means.min())
    relation = ("more than" if fold_range > mean_range else "no more than")
    return (f"a configuration's MSE differs between its best and its worst fold by "
            f"{fold_range:.3f} (the median over the configurations), {relation} the "
            f"configurations' mean MSEs differ from each other ({mean_range:.3f} from the "
            f"best to the worst)")


def effect_reading(stage: pd.DataFrame, key: str, claimed: Sequence[Any]) -> str:
    """One of the report's findings from its Figures 11-12 ("``key`` = ``claimed`` did
    best"), judged on a search stage: per fold, the mean MSE of each value of ``key`` over
    the configurations that have it (:func:`long_folds`), and over the folds their mean.
    **The rule:** the finding holds when a claimed value has the lowest mean; it holds
    *clearly* when it beats every other value by more than the 95 % interval over the
    folds of their paired per-fold differences allows (the folds differ far more than the
    values do, so the values are compared fold by fold, as :func:`structure_reading`
    compares structures). Otherwise it does not hold, and *within the spread* where the
    best value beats the named one by no more than that."""
    long = long_folds(stage, [key])
    if long.empty:
        raise ValueError("the stage has no scores")
    per = long.groupby([key, "fold"])["mse"].mean().unstack("fold")
    means = per.mean(axis=1)

    def beyond(a: Any, b: Any) -> bool:
        """Whether value ``a`` beats ``b`` (a lower mean) by more than the paired spread."""
        mean, half_width = protocol_gap.mean_and_spread((per.loc[a] - per.loc[b]).dropna())
        return -mean > half_width  # False with one fold: the spread is NaN

    claim = [v for v in means.index if v in set(claimed)]
    named = " or ".join(str(v) for v in claimed)
    if not claim:
        return f"{key} {named}: not in this profile's grid"
    best = means.idxmin()
    if best not in claim:
        top = means.loc[claim].idxmin()
        how = "does not hold" if beyond(best, top) else "does not hold, within the spread"
        return (f"{key} {named}: {how}, the lowest mean MSE is at {best} "
                f"({means[best]:.3f}, against {means[top]:.3f} at {top})")
    others = means.drop(index=claim)
    if others.empty:
        return f"{key} {named}: nothing else was tried"
    clearly = ("holds clearly" if all(beyond(best, v) for v in others.index)
               else "holds, but not beyond the spread over folds")
    rival = others.idxmin()
    return (f"{key} {named}: {clearly}, the lowest mean MSE is at {best} "
            f"({means[best]:.3f}, next {rival} at {others[rival]:.3f})")


#: The report's readings of its Figures 11-12 (regression, its search on the test folds)
#: as (stage, hyper-parameter, the values it found best): "long sequences and larger
#: networks (hidden 64, 3-4 layers)", and learning rates "usually 0.0001". "Long" is
#: taken as the report's own 15 readings and longer.
FIGURE_FINDINGS = (("structure", "seq_len", (15, 20, 25)), ("structure", "hidden", (64,)),
                   ("structure", "layers", (3, 4)), ("tuning", "lr", (0.0001,)))


def figure_findings(found: Search) -> str:
    """:func:`effect_reading` of each of :data:`FIGURE_FINDINGS` on a search, in one
    sentence."""
    parts = []
    for stage, key, claimed in FIGURE_FINDINGS:
        frame = found.structure if stage == "structure" else found.tuning
        present = [v for v in claimed if v in set(frame[key])] if key in frame else []
        parts.append(effect_reading(frame, key, present or claimed) if key in frame
                     else f"{key}: not searched in this profile")
    return "; ".join(parts)


def ties(found: Search) -> dict[str, tuple[dict[int, int], int | dict[int, int]]]:
    """A clean search's tie counts per stage: per fold, how many structures tie at the fold's
    lowest validation MSE in stage 1 (of the structures that reached the fold), and how
    many (dropout, lr) points in its own stage 2."""
    if found.protocol != "clean":
        raise ValueError(f"tie counts are for the clean protocol's per-fold choices, "
                         f"got {found.protocol!r}")
    folds = sorted(found.per_fold)
    tuning = {k: nested.tied_at_minimum(found.tuning[found.tuning["fold"] == k], [k])[k]
              for k in folds}
    n_tuning = int((found.tuning["fold"] == folds[0]).sum())
    structures = halving.trained_per_fold(found.structure, folds)
    same = len(set(structures.values())) == 1  # every structure on every fold
    return {"structure": (nested.tied_at_minimum(found.structure, folds),
                          structures[folds[0]] if same else structures),
            "tuning": (tuning, n_tuning)}


def halving_text(found: Search) -> str:
    """How much of the exhaustive structure grid a clean search trained: the structures per
    fold (successive halving, :mod:`~occupancy_utils.halving`) and the trainings against
    every structure on every fold."""
    folds = sorted(found.per_fold)
    per_fold = list(halving.trained_per_fold(found.structure, folds).values())
    trained, total = sum(per_fold), len(found.structure) * len(folds)
    if trained == total:
        return f"every structure on every fold ({total} trainings)"
    return (f"{joined([str(n) for n in per_fold])} structures on folds "
            f"{folds[0]}-{folds[-1]}, {trained} of the {total} trainings an exhaustive grid "
            "needs")


def ties_text(found: Search) -> str:
    """:func:`ties` as the chapter prints it, one clause per stage."""
    stages = ties(found)
    return "; ".join(f"in the {name} stage, {nested.ties_text(*stages[stage])}"
                     for stage, name in (("structure", "structure"),
                                         ("tuning", "dropout and lr")))


def long_folds(stage: pd.DataFrame, keys: Sequence[str], column: str = "fold_mse") -> pd.DataFrame:
    """One row per grid point and fold (for the figures: the spread over folds)."""
    rows = []
    for _, r in stage.iterrows():
        for i, v in enumerate(r[column], start=1):
            if np.isnan(v):  # not trained on this fold (a halving search)
                continue
            # a per-fold study's row holds its own fold's score only
            fold = int(r["fold"]) if "fold" in r and len(r[column]) == 1 else i
            rows.append({**{k: r[k] for k in keys}, "fold": fold, "mse": v})
    return pd.DataFrame(rows)


def score_row(final: Final, key: str, protocol: str, way: str = "labels") -> dict[str, float]:
    """Mean over folds and std over folds of MSE and F1 macro, averaged over seeds."""
    scored = summaries(final)
    entries = [v[way] for (k, p, _), v in scored.items() if k == key and p == protocol]
    if not entries:
        raise KeyError(f"no scores for {key} / {protocol} / {way}")
    return {"mse": experiment.seed_mean(entries, "mean", "mse"),
            "mse_std": experiment.seed_mean(entries, "std", "mse"),
            "f1_macro": experiment.seed_mean(entries, "mean", "f1_macro"),
            "f1_std": experiment.seed_mean(entries, "std", "f1_macro")}


METRICS = ("mse", "mse_std", "f1_macro", "f1_std")


#: (row label, variant, model key, way of scoring, the report's row) of Table 6.
TABLE6_ROWS = (
    ("regression without MCD", "regression", "lstm_regression", "labels",
     "regression without MCD"),
    ("regression without MCD, MSE on raw output", "regression", "lstm_regression", "value",
     None),
    ("regression with MCD", "regression", "lstm_regression_mcd", "labels",
     "regression with MCD"),
    ("regression with MCD, MSE on raw MC mean", "regression", "lstm_regression_mcd", "value",
     None),
    ("classification without MCD", "classification", "lstm_classification", "labels",
     "classification without MCD"),
    ("classification with MCD, class frequencies (report's way)", "classification",
     "lstm_classification_mcd", "frequency", "classification with MCD"),
    ("classification with MCD, mean softmax", "classification", "lstm_classification_mcd",
     "labels", None),
)


TABLE5_ROWS = ("hidden", "layers", "seq_len", "dropout", "lr", "mse", "mse_std", "f1_macro",
               "f1_std")

#: The rows of Table 5 whose difference from the report's means something: the scores,
#: not the hyper-parameters nor the spreads over folds (a difference of two standard
#: deviations says nothing about either model).
TABLE5_DIFFERENCED = ("mse", "f1_macro")


def table5(variant: str, searches: Mapping[str, Search], finals: Mapping[str, Final],
           report: Mapping[str, Any], digits: int = 4) -> pd.DataFrame:
    """Best hyper-parameters and dropout-off test scores of one variant, the report's beside.

    ``report`` is ``report_numbers()['lstm']``. One column per protocol of
    the book; the difference column is book (report protocol) minus the report's
    *dropout-off* scores, its Table 6 row "<variant> without MCD", shown as a column
    of its own beside Table 5's (mean MSE and F1 only, :data:`TABLE5_DIFFERENCED`): the book's
    scores here are dropout-off, and the report's Table 5 gives the
    classification's F1 with MC dropout (0.627 with, 0.634 without), so Table 5
    itself would not compare like with like.
    Rows mix integers and scores, so the cells are objects: integer
    hyper-parameters stay integers and the rest is rounded to ``digits``.
    """
    rep = report["table_5_best"][variant]
    out = pd.DataFrame(index=list(TABLE5_ROWS))
    out["report"] = [rep[k] for k in TABLE5_ROWS]
    key = MODEL_KEYS[(variant, False)]
    for protocol, s in searches.items():
        scores = score_row(finals[variant], key, protocol)
        hyper = s.hyper()
        out[f"book ({protocol} protocol)"] = [hyper[k] if k in hyper else scores[k]
                                              for k in TABLE5_ROWS]
    if "book (report protocol)" in out:
        row = {r[0]: r for r in report["table_6_mc_dropout"]}[f"{variant} without MCD"]
        off = pd.Series(dict(zip(METRICS, row[1:], strict=True)))
        # the column the difference is taken from, so a reader can subtract it
        out["report, dropout off (Table 6)"] = off.reindex(out.index)
        # a difference of scores helps; of hyper-parameters or of spreads it does not
        diff = pd.to_numeric(out["book (report protocol)"], errors="coerce") - off
        out["book (report protocol) - report, dropout off"] = diff.reindex(
            [m for m in out.index if m in TABLE5_DIFFERENCED]).reindex(out.index)
    out = out.astype(object).map(
        lambda v: round(float(v), digits) if isinstance(v, (int, float, np.number)) else v
    ).astype(object)
    for row in ("hidden", "layers", "seq_len"):
        out.loc[row] = [int(v) if isinstance(v, (int, float, np.number)) and pd.notna(v)
                        else v for v in out.loc[row]]
    return out


def table6(finals: Mapping[str, Final], report: Mapping[str, Any],
           protocols: Sequence[str]) -> pd.DataFrame:
    """With and without MC dropout: for each model the report's row, then the book's.

    Long format (model, source) x (mse, mse_std, f1_macro, f1_std), so it stays
    narrow. The book adds models the report lacks: the regression MSE on the
    raw output and the MC classification labelled by mean softmax. The report's
    regression-with-MCD row is shown as printed (its columns look swapped).
    """
    reported = {row[0]: dict(zip(METRICS, row[1:], strict=True))
                for row in report["table_6_mc_dropout"]}
    records = []
    for label, variant, key, way, rep_key in TABLE6_ROWS:
        if variant not in finals:
            continue
        if rep_key in reported:
            records.append({"model": label, "source": "report", **reported[rep_key]})
        for protocol in protocols:
            records.append({"model": label, "source": f"book, {protocol} protocol",
                            **score_row(finals[variant], key, protocol, way)})
    return pd.DataFrame(records).set_index(["model", "source"])


def book_scores(t6: pd.DataFrame) -> dict[tuple[str, str], pd.Series]:
    """The book's rows of :func:`table6`, keyed by (model label, protocol)."""
    prefix, suffix = "book, ", " protocol"
    return {(label, source.removeprefix(prefix).removesuffix(suffix)): row
            for (label, source), row in t6.iterrows() if source.startswith(prefix)}


#: MC dropout "collapses" the regression's F1 (the printed Table 6 row) only if it
#: changes it by at least this much; the report's printed drop is 0.526.
F1_COLLAPSE = 0.1


def failed_runs(final: Mapping[str, Final]) -> str:
    """Every final run of every variant whose test MSE on a fold is above that of predicting
    0 people on every row of it (:func:`~occupancy_utils.finals.above_zero`): the failures a
    mean over three seeds and four folds hides."""
    runs = {key: by_protocol for f in final.values() for key, by_protocol in f.runs.items()}
    return failures_text(finals.above_zero_by_key(runs))


def swap_reading(t6: pd.DataFrame, report_f1: tuple[float, float]) -> str:
    """Does MC dropout change the regression's F1 as much as the report's printed row says?

    ``report_f1`` is the report's F1 without and with MCD. Below
    :data:`F1_COLLAPSE` on every protocol the run supports reading the printed
    row as swapped; otherwise it cannot rule the drop out.
    """
    scores = book_scores(t6)
    changes = {p: scores[("regression with MCD", p)]["f1_macro"]
               - scores[("regression without MCD", p)]["f1_macro"]
               for (label, p) in scores if label == "regression with MCD"}
    fall = -min(changes.values())  # the largest fall of F1 under MC dropout
    without, with_mcd = report_f1
    if fall < F1_COLLAPSE:
        signed = ", ".join(f"{v:+.3f} under the {p} protocol" for p, v in changes.items())
        return (f"in this run MC dropout changes the regression's F1 by {signed} (a fall of "
                f"{F1_COLLAPSE} or more would count), nothing like the collapse from {without} "
                f"to {with_mcd} the printed row shows, which supports the swapped reading.")
    worst = min(changes, key=changes.get)
    return (f"in this run MC dropout lowers the regression's F1 by {fall:.3f} under the "
            f"{worst} protocol (a fall of {F1_COLLAPSE} or more counts), so a large drop like "
            f"the printed row's cannot be ruled out from this run.")


def share_within(pred: pd.DataFrame, k: float = 2.0) -> float:
    """Share of rows whose true count lies within mean +- k std of the MC samples."""
    return float(((pred["y_true"] - pred["value"]).abs() <= k * pred["std"]).mean())


def assigned_probability(pred: pd.DataFrame, way: str = "softmax") -> np.ndarray:
    """Probability of the class the model assigned: mean softmax or MC frequency."""
    if way == "softmax":
        cols, label = [f"p{c}" for c in range(lstm.N_CLASSES)], pred["y_pred"]
    elif way == "frequency":
        cols, label = [f"freq{c}" for c in range(lstm.N_CLASSES)], pred["y_pred_freq"]
    else:
        raise ValueError(f"way must be 'softmax' or 'frequency', got {way!r}")
    probs = pred[cols].to_numpy()
    return probs[np.arange(len(pred)), label.to_numpy().astype(int)]


def confidence_when_right_and_wrong(pred: pd.DataFrame) -> pd.DataFrame:
    """Mean probability of the assigned class on correct and wrong predictions, both ways."""
    rows = []
    for way, col in (("softmax", "y_pred"), ("frequency", "y_pred_freq")):
        prob = assigned_probability(pred, way)
        right = (pred[col] == pred["y_true"]).to_numpy()
        rows.append({"probability": "mean softmax" if way == "softmax"
                     else "MC class frequency (report)",
                     "correct: rows": int(right.sum()),
                     "correct: mean probability": float(prob[right].mean()) if right.any()
                     else np.nan,
                     "wrong: rows": int((~right).sum()),
                     "wrong: mean probability": float(prob[~right].mean()) if (~right).any()
                     else np.nan})
    return pd.DataFrame(rows).set_index("probability")


def _drop(prob: np.ndarray, right: np.ndarray, idx: np.ndarray) -> float:
    """Mean probability on the correct rows of ``idx`` minus that on its wrong rows."""
    r = right[idx]
    if not 0 < r.sum() < len(r):
        return np.nan
    return float(prob[idx][r].mean() - prob[idx][~r].mean())


def drop_on_errors(pred: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0
                   ) -> pd.DataFrame:
    """Per reading (mean softmax, MC class frequency): how much lower the assigned class's
    probability is on wrong predictions than on correct ones, with a 95 % interval from a
    moving-block bootstrap of the rows within each fold
    (:func:`~occupancy_utils.ranking.block_indices`; neighbouring readings are not
    independent). The report's claim, "the probability drops where the model errs",
    counts as shown for a reading when the whole interval lies above 0."""
    folds = pred["fold"].to_numpy()
    rows = []
    for way, col, name in (("softmax", "y_pred", "mean softmax"),
                           ("frequency", "y_pred_freq", "MC class frequency (report)")):
        prob = assigned_probability(pred, way)
        right = (pred[col] == pred["y_true"]).to_numpy()
        if right.all() or not right.any():
            rows.append({"probability": name, "drop": np.nan, "low": np.nan, "high": np.nan,
                         "shown": "cannot be judged: no wrong or no correct prediction"})
            continue

        low, high = block_interval(folds, functools.partial(_drop, prob, right),
                                   n_boot=n_boot, seed=seed)
        rows.append({"probability": name, "drop": _drop(prob, right, np.arange(len(pred))),
                     "low": low, "high": high, "shown": "yes" if low > 0 else "no"})
    return pd.DataFrame(rows).set_index("probability")


#: How :func:`drop_reading` names each reading of :func:`drop_on_errors` in a sentence
#: (the table's labels, such as "MC class frequency (report)", do not read as prose).
DROP_NOUNS = {"mean softmax": "the mean softmax",
              "MC class frequency (report)": "the report's MC class frequencies"}


def drop_reading(drops: pd.DataFrame) -> str:
    """:func:`drop_on_errors` in one sentence."""
    parts = []
    for label, r in drops.iterrows():
        name = DROP_NOUNS.get(label, label)
        if r["shown"] not in ("yes", "no"):
            parts.append(f"with {name} it {r['shown']}")
            continue
        if r["shown"] == "yes":
            verdict = "it drops on the wrong predictions"
        elif r["high"] < 0:
            verdict = "it rises on the wrong predictions"
        else:
            verdict = "no drop can be read"
        parts.append(f"with {name} {verdict} (correct minus wrong {r['drop']:+.3f}, "
                     f"95 % interval {r['low']:+.3f} to {r['high']:+.3f})")
    return "; ".join(parts)


def band_table(final: Final, protocols: Sequence[str], seeds: Sequence[int],
               k: float = 2.0) -> pd.DataFrame:
    """Per protocol: share of rows within the MC mean +- k std, and the mean std by occupancy.

    Shares and means are averaged over the seeds. Needs a regression Final.
    """
    key = MODEL_KEYS[(final.variant, True)]
    if final.variant != "regression":
        raise ValueError(f"band_table needs the regression models, got {final.variant!r}")
    rows = []
    for protocol in protocols:
        per_seed = []
        for seed in seeds:
            frames = final.frames(key, protocol, seed)
            pooled = pd.concat(frames, ignore_index=True)
            empty = pooled["y_true"] == 0
            per_seed.append({
                f"within {k:g}σ, fold 1": share_within(frames[0], k),
                f"within {k:g}σ, all folds": share_within(pooled, k),
                "mean σ, empty room": float(pooled.loc[empty, "std"].mean()),
                "mean σ, occupied": float(pooled.loc[~empty, "std"].mean()),
                "rows": len(pooled),
            })
        rows.append({"protocol": protocol, **pd.DataFrame(per_seed).mean().to_dict()})
    out = pd.DataFrame(rows).set_index("protocol")
    out["rows"] = out["rows"].round().astype(int)
    return out


#: The report's "clear majority" ("zdecydowana większość") of rows within 2σ: the book
#: reads it as at least this share; a bare majority (more than half) is not "clear".
CLEAR_MAJORITY = 0.75


def majority_reading(share_fold1: float, share_all: float | None = None) -> str:
    """The report's "clear majority of samples within 2σ" (its Figure 13, the first fold),
    judged by a stated rule: at least :data:`CLEAR_MAJORITY` of the fold's rows; with
    ``share_all``, the same rule over all test rows as well, which goes beyond what
    the report claimed."""
    for share in (share_fold1, share_all):
        if share is not None and not 0 <= share <= 1:
            raise ValueError(f"a share must lie in [0, 1], got {share}")
    holds = share_fold1 >= CLEAR_MAJORITY
    text = (f"the report's clear majority within 2σ on the first fold "
            f"{'holds' if holds else 'does not hold'} here ({share_fold1:.3f})")
    if share_all is None:
        return text
    holds_all = share_all >= CLEAR_MAJORITY
    also = "also " if holds_all == holds else ""
    return (f"{text}; over all test rows, which the report made no claim about, the share is "
            f"{share_all:.3f}, {also}{'at or above' if holds_all else 'below'} the "
            f"{pct(CLEAR_MAJORITY)} the rule asks")


def gap_remainders(finals: Mapping[str, Final], entries: Mapping[str, Mapping]) -> str:
    """For each variant with a ``protocol_gap`` entry
    (:func:`~occupancy_utils.lstm_finals.protocol_gaps`, keyed by its dropout-off model):
    how much of its Table 5 gap (clean minus report, dropout off) the paired runs of the
    report's configuration explain
    (:func:`~occupancy_utils.protocol_gap.remainder_reading`, paired by seed)."""
    parts = []
    for variant, final in finals.items():
        key = MODEL_KEYS[(variant, False)]
        if key not in entries:
            continue
        runs = final.runs[key]
        seed_mses = {p: {s: float(r.summary()["mean"]["mse"]) for s, r in runs[p].items()}
                     for p in ("report", "clean")}
        scores = {r: {int(s): float(v) for s, v in by.items()}
                  for r, by in entries[key]["scores"].items()}
        parts.append(f"for {variant}, {protocol_gap.remainder_reading(seed_mses, scores)}")
    return "; ".join(parts) or "no variant ran under both protocols"



def gap_by_fold(finals: Mapping[str, Final]) -> str:
    """Table 5's gap (clean minus report, dropout off) fold by fold, for each variant
    trained under both protocols (:func:`~occupancy_utils.protocol_gap.fold_reading`):
    the clean protocol chose per fold, so its mean over the folds can net out one fold's
    poor choice against another's good one."""
    parts = []
    for variant, final in finals.items():
        runs = final.runs[MODEL_KEYS[(variant, False)]]
        if not {"report", "clean"} <= set(runs):
            continue
        per_fold = {p: {s: [f["mse"] for f in r.summary()["per_fold"]]
                        for s, r in runs[p].items()} for p in ("clean", "report")}
        parts.append(f"for {variant}, "
                     f"{protocol_gap.fold_reading(per_fold['clean'], per_fold['report'])}")
    return "; ".join(parts) or "no variant ran under both protocols"




def setup_numbers(full_grid: Mapping[str, Sequence[Any]], report: Mapping[str, Any]
                  ) -> dict[str, Any]:
    """The set-up paragraph's numbers: the full profile's structure ranges, and the
    report's Table 5 winners (``report`` is ``report_numbers()['lstm']``)."""
    out: dict[str, Any] = {f"lstm_full_{k}_range": f"{min(v)} to {max(v)}"
                           for k, v in full_grid.items()}
    out.update({f"lstm_rep_{variant}_{k}": value
                for variant, row in report["table_5_best"].items() for k, value in row.items()})
    return out


def whole_match_text(found: Search, theirs: Mapping[str, Any]) -> str:
    """Which folds chose every one of the report's Table 5 hyper-parameters (``theirs``):
    a per-fold search can match the report's whole configuration on a fold while sharing
    none of its values as a whole, since
    :meth:`~occupancy_utils.lstm_study.Search.hyper` keeps only values all folds
    agree on."""
    keys = (*STRUCTURE_KEYS, *TUNING_KEYS)
    folds = [str(k) for k, c in sorted(found.per_fold.items())
             if all(c.hyper()[key] == theirs[key] for key in keys)]
    if not folds:
        return "no fold chose the report's whole configuration"
    return (f"fold{'s' if len(folds) > 1 else ''} {joined(folds)} chose the report's whole "
            f"configuration")


def search_numbers(searches: Mapping[tuple[str, str], Search], report: Mapping[str, Any],
                   structure_grid: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    """Per (variant, protocol) search: how many of the report's Table 5 hyper-parameters
    the book's choice matches; for the clean searches their ties (:func:`ties_text`); for
    the report's, the structure, fold-spread and Figure 11-12 readings."""
    keys = (*STRUCTURE_KEYS, *TUNING_KEYS)
    out: dict[str, Any] = {}
    for (variant, protocol), found in searches.items():
        theirs = report["table_5_best"][variant]
        same = [k for k in keys if found.hyper()[k] == theirs[k]]
        out[f"lstm_match_{variant}_{protocol}"] = (
            f"{len(same)} of {len(keys)}" + (f" ({', '.join(same)})" if same else ""))
        if protocol == "clean":
            out[f"lstm_whole_match_{variant}"] = whole_match_text(found, theirs)
            out[f"lstm_ties_{variant}"] = ties_text(found)
            out[f"lstm_halving_{variant}"] = halving_text(found)
        else:
            out[f"lstm_structure_{variant}"] = structure_reading(found, theirs, structure_grid)
            out[f"lstm_fold_spread_{variant}"] = fold_spread_reading(found.structure)
            out[f"lstm_figure_findings_{variant}"] = figure_findings(found)
    return out


#: The Table 6 rows whose book scores the text quotes, by the short name it glues them as.
TABLE6_TAGS = {"regression without MCD": "reg", "regression with MCD": "reg_mcd",
               "classification without MCD": "cls",
               "classification with MCD, class frequencies (report's way)": "cls_mcd_freq",
               "classification with MCD, mean softmax": "cls_mcd_soft"}


def table6_numbers(t6: pd.DataFrame, report: Mapping[str, Any]) -> dict[str, Any]:
    """The Tables 5-6 paragraphs' numbers: the book's rows of :func:`table6` named in
    :data:`TABLE6_TAGS`, the report's printed values they are read against, and the
    verdict on the report's regression-with-MCD row (:func:`swap_reading`)."""
    out: dict[str, Any] = {}
    for (label, protocol), row in book_scores(t6).items():
        if label in TABLE6_TAGS:
            out[f"lstm_t6_{TABLE6_TAGS[label]}_{protocol}_mse"] = float(row["mse"])
            out[f"lstm_t6_{TABLE6_TAGS[label]}_{protocol}_f1"] = float(row["f1_macro"])
    rep6 = {r[0]: r for r in report["table_6_mc_dropout"]}
    reg, reg_mcd = rep6["regression without MCD"], rep6["regression with MCD"]
    out.update({"lstm_rep6_reg_mse": reg[1], "lstm_rep6_reg_f1": reg[3],
                "lstm_rep6_regmcd_mse": reg_mcd[1], "lstm_rep6_regmcd_mse_std": reg_mcd[2],
                "lstm_rep6_regmcd_f1": reg_mcd[3], "lstm_rep6_regmcd_f1_std": reg_mcd[4],
                "lstm_rep6_cls_f1": rep6["classification without MCD"][3],
                "lstm_rep5_cls_f1": report["table_5_best"]["classification"]["f1_macro"],
                "lstm_rep6_clsmcd_f1": rep6["classification with MCD"][3],
                "lstm_swap_verdict": swap_reading(t6, (reg[3], reg_mcd[3]))})
    return out


def band_numbers(band: pd.DataFrame, protocol: str) -> dict[str, Any]:
    """The band paragraph's numbers for one protocol's row of :func:`band_table` (2σ):
    the shares within the band, the mean σ on empty and occupied rows, the Gaussian
    share, and the verdict on the report's clear majority (:func:`majority_reading`)."""
    row = band.loc[protocol]
    fold1, everywhere = float(row["within 2σ, fold 1"]), float(row["within 2σ, all folds"])
    return {"lstm_band_fold1": fold1, "lstm_band_all": everywhere,
            "lstm_sigma_empty": float(row["mean σ, empty room"]),
            "lstm_sigma_occupied": float(row["mean σ, occupied"]),
            "lstm_gauss_2s": math.erf(2 / math.sqrt(2)),  # P(|Z| <= 2)
            "lstm_band_reading": majority_reading(fold1, everywhere),
            "lstm_clear_majority": CLEAR_MAJORITY}


def confidence_numbers(conf: pd.DataFrame, drops: pd.DataFrame) -> dict[str, Any]:
    """The confidence paragraph's numbers: mean assigned probability on correct and
    wrong predictions by both readings (:func:`confidence_when_right_and_wrong`), which
    reading is higher on the wrong ones (both values are printed beside it), and the
    drop on errors (:func:`drop_reading`)."""
    soft, freq = "mean softmax", "MC class frequency (report)"
    right, wrong = "correct: mean probability", "wrong: mean probability"
    out: dict[str, Any] = {"lstm_p_right": float(conf.loc[soft, right]),
                           "lstm_p_wrong": float(conf.loc[soft, wrong]),
                           "lstm_f_right": float(conf.loc[freq, right]),
                           "lstm_f_wrong": float(conf.loc[freq, wrong])}
    out["lstm_f_vs_p"] = "higher" if out["lstm_f_wrong"] > out["lstm_p_wrong"] else "not higher"
    out["lstm_drop_reading"] = drop_reading(drops)
    return out


def fixed_lr_text(lr: float, report_initial: float) -> str:
    """How the structure stage's fixed learning rate stands to the report's initial one."""
    if np.isclose(lr, report_initial):
        return "the report's initial rate"
    return f"the report's initial rate was {report_initial:g}"
