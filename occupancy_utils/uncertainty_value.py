"""What the probabilistic models' uncertainty is worth (chapter 7), model by model.

The models' per-row predictions (:func:`~occupancy_utils.comparison.probabilistic_predictions`)
are scored for calibration (:mod:`~occupancy_utils.calibration`), for what abstaining on
the least confident rows buys (:mod:`~occupancy_utils.selective`) and for how well each
uncertainty score flags wrong predictions; then the best deep model is paired against the
best baseline per score, on the same rows, with the ranking's block bootstrap. Each
verdict states its rule beside it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import partial

import numpy as np
import pandas as pd

from . import calibration, ranking, selective
from .experiment import PROBA_COLUMNS
from .selective import DEFAULT_COVERAGES
from .tables import joined, pct, plural


def confidence(rows: pd.DataFrame) -> np.ndarray:
    """How sure the model is of each row: top-class probability, or minus the predicted std."""
    if set(PROBA_COLUMNS) <= set(rows.columns):
        return rows[PROBA_COLUMNS].to_numpy().max(axis=1)
    return -rows["std"].to_numpy()


def coverage_span(coverages: Iterable[float] = DEFAULT_COVERAGES) -> str:
    """The coverages a mean over coverage runs over, as the text names them ("0.1 to 1.0 in
    steps of 0.05"): the selective table shows a few of them only, so the text must say
    which grid a mean is over."""
    values = sorted(float(c) for c in coverages)
    if len(values) < 2:
        raise ValueError("a span needs at least two coverages")
    steps = set(np.round(np.diff(values), 6))
    step = f" in steps of {steps.pop():g}" if len(steps) == 1 else ""
    return f"{values[0]:g} to {values[-1]:g}{step}"


def calibration_table(models: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Calibration scores of each probabilistic model (NaN where a score does not apply).

    A model with class probabilities is scored as a classifier only: the mean and
    spread of its categorical distribution (the BNN stores them) are not a
    Gaussian prediction, and a Gaussian NLL or ±1σ coverage of them would
    score a claim the model never makes. The Gaussian scores are for the
    models whose output is a mean and a standard deviation (the MC-dropout
    regression).
    """
    rows = []
    for name, p in models.items():
        y = p["y_true"].to_numpy()
        row: dict[str, object] = {"model": name, "rows": len(p)}
        if set(PROBA_COLUMNS) <= set(p.columns):
            row.update(calibration.classifier_report(y, p[PROBA_COLUMNS].to_numpy()))
        elif {"value", "std"} <= set(p.columns):
            row.update(calibration.regression_report(y, p["value"].to_numpy(),
                                                     p["std"].to_numpy()))
        rows.append(row)
    return pd.DataFrame(rows)


def risk_coverage_of(rows: pd.DataFrame,
                     coverages: Iterable[float] = DEFAULT_COVERAGES) -> pd.DataFrame:
    """One model's risk-coverage curve, ranked by :func:`confidence`.

    ``mse`` is on the predicted labels for every model (as in Table 7);
    ``mse_value`` on the model's number of people (regression mean, expected
    count) where it has one.
    """
    value = rows["value"].to_numpy() if "value" in rows.columns else None
    return selective.risk_coverage(rows["y_true"].to_numpy(), rows["y_pred"].to_numpy(),
                                   confidence(rows), coverages=list(coverages), value=value)


def can_abstain(models: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The models whose confidence varies within some fold. A confidence that is constant
    within each fold (a model that ignores the sensors, as the most common training
    count) ranks rows by fold or by row order, not by what the model knows of them."""
    def varies(p: pd.DataFrame) -> bool:
        conf = confidence(p)
        folds = p["fold"].to_numpy() if "fold" in p.columns else np.zeros(len(p))
        return any(np.ptp(conf[folds == f]) > 0 for f in np.unique(folds))

    return {name: p for name, p in models.items() if varies(p)}


def selective_table(models: dict[str, pd.DataFrame],
                    coverages: Iterable[float] = (1.0, 0.9, 0.8, 0.5)) -> pd.DataFrame:
    """MSE, F1 macro and false-occupied rate when each model keeps its most confident rows
    (models that :func:`can_abstain`)."""
    return pd.concat([risk_coverage_of(p, coverages).assign(model=name)
                      for name, p in can_abstain(models).items()], ignore_index=True)


def error_flags(models: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """AUROC of each available uncertainty score for telling wrong predictions from right ones,
    for the models that :func:`can_abstain`: a confidence constant within each fold still gets
    an AUROC above 0.5 where the folds' error rates differ, which says which fold a row is in,
    not which rows the model knows less about."""
    rows = []
    for name, p in can_abstain(models).items():
        wrong = (p["y_true"] != p["y_pred"]).to_numpy()
        scores = {"1 - top probability": -confidence(p)} if "p0" in p.columns else {
            "predicted std": p["std"].to_numpy()}
        for col, label in (("entropy", "predictive entropy"), ("mi", "mutual information")):
            if col in p.columns:
                scores[label] = p[col].to_numpy()
        for label, score in scores.items():
            rows.append({"model": name, "score": label,
                         "auroc": selective.error_detection_auroc(wrong, score),
                         "error rate": float(wrong.mean())})
    return pd.DataFrame(rows)


def aurc_table(models: dict[str, pd.DataFrame],
               coverages: Iterable[float] = DEFAULT_COVERAGES) -> pd.DataFrame:
    """Mean risk over the coverages against the risk on every row, per model.

    The area under the risk-coverage curve divided by the span of coverages is
    the mean risk a user meets when choosing a coverage at random. If the
    confidence ranked nothing, that mean would equal the all-rows risk (random
    abstention keeps the error rate in expectation), so the ratio below 1 is
    what the confidence buys. For F1 (higher is better) a ratio above 1 is. Only
    models that :func:`can_abstain` are scored.
    """
    coverages = sorted(coverages)
    span = coverages[-1] - coverages[0]
    rows = []
    for name, p in can_abstain(models).items():
        curve = risk_coverage_of(p, coverages)
        full = curve.loc[curve["coverage"].idxmax()]
        row: dict[str, object] = {"model": name}
        for metric in ("mse", "f1_macro"):
            mean = selective.aurc(curve, metric) / span
            row |= {f"{metric} (all rows)": float(full[metric]),
                    f"{metric} (mean over coverage)": mean,
                    f"{metric} ratio": mean / float(full[metric]) if full[metric] else np.nan}
        rows.append(row)
    return pd.DataFrame(rows)


#: Bootstrap samples for the AUROC differences (each sample recomputes two AUROCs).
N_BOOT_AUROC = 500


def _auroc_gap(wrong: np.ndarray, first: np.ndarray, second: np.ndarray, idx: np.ndarray
               ) -> float:
    """Error-detection AUROC of ``first`` minus that of ``second`` on the rows ``idx``."""
    return (selective.error_detection_auroc(wrong[idx], first[idx])
            - selective.error_detection_auroc(wrong[idx], second[idx]))


def entropy_against_mi_paired(models: dict[str, pd.DataFrame], *, n_boot: int = N_BOOT_AUROC,
                              seed: int = 0) -> pd.DataFrame:
    """Per model with both scores: the error-detection AUROC of the predictive entropy
    minus that of the mutual information, with the ranking's level of interval from a
    moving-block bootstrap of the rows (blocks within each seed and fold), and which
    score flags the errors better by the rule that the interval must exclude 0."""
    rows = []
    for name, p in models.items():
        if not {"entropy", "mi"} <= set(p.columns):
            continue
        wrong = (p["y_true"] != p["y_pred"]).to_numpy()
        ent, mi = p["entropy"].to_numpy(), p["mi"].to_numpy()
        groups = (p["seed"].astype(int) * 1000 + p["fold"].astype(int)).to_numpy()
        low, high = ranking.block_interval(groups, partial(_auroc_gap, wrong, ent, mi),
                                           n_boot=n_boot, seed=seed)
        a_ent = selective.error_detection_auroc(wrong, ent)
        a_mi = selective.error_detection_auroc(wrong, mi)
        better = ("entropy" if low > 0 else "mutual information" if high < 0
                  else "indistinguishable")
        rows.append({"model": name, "predictive entropy": a_ent, "mutual information": a_mi,
                     "difference": a_ent - a_mi, "low": float(low), "high": float(high),
                     "better": better})
    return pd.DataFrame(rows, columns=["model", "predictive entropy", "mutual information",
                                       "difference", "low", "high", "better"])


def entropy_mi_reading(paired: pd.DataFrame) -> str:
    """:func:`entropy_against_mi_paired` in one sentence, with the models whose mutual
    information ranks the errors below the correct rows (an AUROC under 0.5)."""
    if paired.empty:
        return "no model has both scores"
    count = {k: int((paired["better"] == k).sum())
             for k in ("entropy", "mutual information", "indistinguishable")}
    below = int((paired["mutual information"] < 0.5).sum())
    return (f"of the {plural(len(paired), 'model')} with both scores, the entropy flags the "
            f"errors better, beyond the interval, for {count['entropy']}, the mutual information "
            f"for "
            f"{count['mutual information']}, and {count['indistinguishable']} cannot be told "
            f"apart; for {below} the mutual information's AUROC is under 0.5 (a point "
            f"estimate: below chance, with no interval of its own)")


def fewer_false_occupied(fp: pd.DataFrame) -> pd.Series:
    """Change in the false-occupied rate from all rows to the smallest coverage, per model.

    ``fp`` has one column per coverage (as :func:`selective_table` pivoted). A
    negative change supports the report's claim for that model.
    """
    return (fp[min(fp.columns)] - fp[max(fp.columns)]).rename("change")


def false_occupied_reading(fp: pd.DataFrame, labels: Mapping[str, str],
                           occupied: pd.DataFrame | None = None) -> str:
    """:func:`fewer_false_occupied` in words (``fp``: one row per model, one column per
    coverage), by the sign of each model's change: for how many models the rate falls
    from all rows to the smallest coverage, and the lowest rate there with every model at
    it. No single "largest fall" is named: each model's rate is on the rows that model
    keeps, and falls that differ by less than any interval would name a winner of noise.
    ``occupied`` (same shape as ``fp``: the share of kept rows with someone present) names
    the models at the lowest rate that keep no occupied reading there, whose rate of 0 comes
    from setting every occupied reading aside, not from telling empty from occupied."""
    change = fewer_false_occupied(fp).dropna()
    if change.empty:
        raise ValueError("no model's false-occupied rate to read")
    coverage = min(fp.columns)
    kept = f"keeping only the {pct(coverage)} most confident rows"
    falls = change[change < 0]
    if falls.empty:
        return (f"{kept} lowers no model's false-occupied rate (the smallest change is "
                f"{change.min():+.3f})")
    at = fp.loc[change.index, coverage]
    lowest = float(at.min())
    at_low = at.index[np.isclose(at, lowest, rtol=0, atol=5e-4)]  # equal at the printed digit
    names = [labels.get(m, m) for m in at_low]
    every = fp.loc[change.index, max(fp.columns)]
    text = (f"{kept} lowers the false-occupied rate for {len(falls)} of the {len(change)} "
            f"models, each on the rows it keeps; the lowest rate there is {lowest:.3f}, for "
            f"{joined(names)}, against {every.min():.3f} to {every.max():.3f} on all rows")
    if occupied is not None and lowest < 5e-4:  # a rate of 0 (at the printed digit)
        none = [labels.get(m, m) for m in at_low if occupied.loc[m, coverage] == 0]
        if none:
            text += (f"; of these, {joined(none)} {'keeps' if len(none) == 1 else 'keep'} "
                     f"no occupied reading at that coverage (against "
                     f"{pct(float(occupied[max(occupied.columns)].median()))} of all rows), so "
                     f"{'its' if len(none) == 1 else 'their'} rate comes from setting every "
                     f"occupied reading aside")
    return text


def aurc_reading(aurc: pd.DataFrame, labels: Mapping[str, str]) -> str:
    """:func:`aurc_table` in words: for how many models keeping the most confident rows
    lowers the mean MSE (a ratio below 1) and for how many it raises the mean F1 macro (a
    ratio above 1), and the model with the lowest mean MSE over the coverages on the rows
    it keeps (chosen on that absolute mean, as :func:`uncertainty_edge` does: the ratio
    alone would favour a model with many errors to remove)."""
    if aurc.empty:
        raise ValueError("no model can abstain")
    n = len(aurc)
    lower = int((aurc["mse ratio"] < 1).sum())
    f1_up = int((aurc["f1_macro ratio"] > 1).sum())
    best = aurc.loc[aurc["mse (mean over coverage)"].idxmin()]
    name = labels.get(best["model"], best["model"])
    return (f"for {lower} of the {n} models keeping the most confident rows lowers the mean "
            f"MSE below the all-rows MSE, and for {f1_up} of them it raises the mean F1 "
            f"macro; the lowest mean MSE on the rows kept is {name}'s, "
            f"{float(best['mse (mean over coverage)']):.3f} ({float(best['mse ratio']):.2f} "
            f"times its all-rows MSE)")


def uncertainty_edge(aurc: pd.DataFrame, baselines: Iterable[str]) -> dict[str, object]:
    """Among the deep models and among the baselines: the lowest mean MSE over the
    coverages on the rows kept (what a user who abstains meets) and that model's ratio to
    its own all-rows MSE. The ratio alone would favour a model with many errors to
    remove, so the best is chosen on the absolute mean; calibration is compared, paired,
    by :func:`calibration_edge`."""
    base = set(baselines)
    out: dict[str, object] = {}
    for group, is_base in (("deep", False), ("baseline", True)):
        a = aurc[aurc["model"].isin(base) == is_base]
        if a.empty:
            raise ValueError(f"no {group} model can abstain")
        best = a.loc[a["mse (mean over coverage)"].idxmin()]
        out |= {f"kept_{group}": float(best["mse (mean over coverage)"]),
                f"ratio_{group}": float(best["mse ratio"]), f"kept_{group}_model": best["model"]}
    return out


#: The scores of :func:`calibration_edge`, by their names in the calibration table.
CALIBRATION_SCORES = {"nll": "NLL", "brier": "Brier score", "ece_top": "top-label ECE",
                      "ece_classwise": "class-wise ECE"}


def calibration_edge(models: dict[str, pd.DataFrame], calib: pd.DataFrame,
                     baselines: Iterable[str], *, seed: int = 0,
                     n_boot: int | None = None) -> pd.DataFrame:
    """Per calibration score: the best deep model against the best baseline, paired.

    Each score picks its own best of each group (lowest value in ``calib``); the
    difference deep minus baseline is computed on the same rows with its 95 %
    block-bootstrap interval (:func:`~occupancy_utils.calibration.paired_difference`)
    and read by :func:`~occupancy_utils.calibration.paired_verdict`: the deep
    model is better, worse, or indistinguishable. ``models`` holds each model's
    predictions, every seed's rows pooled.
    """
    base = set(baselines)
    classifiers = calib.dropna(subset=["ece_top"])
    rows = []
    for score, name in CALIBRATION_SCORES.items():
        best = {}
        for group, is_base in (("deep", False), ("baseline", True)):
            c = classifiers[classifiers["model"].isin(base) == is_base]
            if c.empty:
                raise ValueError(f"no {group} model has class probabilities to compare")
            best[group] = c.loc[c[score].astype(float).idxmin()]
        d = calibration.paired_difference(models[best["deep"]["model"]],
                                          models[best["baseline"]["model"]], score,
                                          seed=seed, n_boot=n_boot)
        rows.append({"score": name, "deep model": best["deep"]["model"],
                     "deep": float(best["deep"][score]),
                     "baseline model": best["baseline"]["model"],
                     "baseline": float(best["baseline"][score]), **d,
                     "deep model is": calibration.paired_verdict(d["low"], d["high"])})
    return pd.DataFrame(rows)


def calibration_edge_reading(edge: pd.DataFrame, labels: Mapping[str, str]) -> str:
    """:func:`calibration_edge` in one sentence: per score, who is better, or that the two
    cannot be told apart."""
    parts = []
    for _, r in edge.iterrows():
        deep, base = (labels.get(m, m) for m in (r["deep model"], r["baseline model"]))
        what = {"better": f"the deep model is better ({deep})",
                "worse": f"the best baseline ({base}) is better than the best deep model "
                         f"({deep})",
                "indistinguishable": f"the best deep model ({deep}) and the best baseline "
                                     f"({base}) cannot be told apart"}[r["deep model is"]]
        parts.append(f"by {r['score']}, {what}: deep {r['deep']:.3f} against baseline "
                     f"{r['baseline']:.3f}, deep minus baseline {r['difference']:+.3f} "
                     f"({ranking.LEVEL:.0%} interval {r['low']:+.3f} to {r['high']:+.3f})")
    return "; ".join(parts)


def calibration_leaders(calib: pd.DataFrame, labels: Mapping[str, str]) -> str:
    """Which classifier has the lowest value of each calibration score, in one sentence,
    saying whether one model leads on every score."""
    classifiers = calib.dropna(subset=["ece_top"])
    if classifiers.empty:
        raise ValueError("no model has class probabilities")
    leaders = {name: classifiers.loc[classifiers[score].astype(float).idxmin()]
               for score, name in CALIBRATION_SCORES.items()}
    keys = {str(r["model"]) for r in leaders.values()}
    values = {name: float(leaders[name][score]) for score, name in CALIBRATION_SCORES.items()}
    if len(keys) == 1:
        key = keys.pop()
        return (f"{labels.get(key, key)} is the best calibrated classifier by every score ("
                + ", ".join(f"{n} {v:.3f}" for n, v in values.items()) + ")")
    return ("No classifier is the best calibrated by every score: "
            + "; ".join(f"by {n}, {labels.get(leaders[n]['model'], leaders[n]['model'])} "
                        f"({v:.3f})" for n, v in values.items()))


