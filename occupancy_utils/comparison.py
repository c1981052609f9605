"""Table 7 and its honest version, built from the chapters' results files.

Nothing here trains a network: the model chapters wrote their scores to
``results/<profile>/<chapter>.json`` (schema in CONTRIBUTING.md), and this
module lines them up with the report's Table 7 and with two baselines the
report lacks.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from . import experiment, selective
from .data import TARGET
from .paths import results_dir
from .results import MissingResults, read_results
from .selective import DEFAULT_COVERAGES
from .splits import Fold

#: The report's Table 7 rows and where the book's counterpart lives.
TABLE_7_SOURCES: dict[str, tuple[str, str]] = {
    "random forest": ("02_feature_dropping", "random_forest"),
    "CRF": ("04_crf", "crf"),
    "BNN": ("05_bnn", "bnn"),
    "LSTM regression without MCD": ("06_lstm", "lstm_regression"),
    "LSTM classification without MCD": ("06_lstm", "lstm_classification"),
    "LSTM classification with MCD": ("06_lstm", "lstm_classification_mcd"),
}
MODEL_CHAPTERS = ("02_feature_dropping", "04_crf", "05_bnn", "06_lstm")
KEYS = ("mse", "f1_macro", "f1_micro")


def load_models(profile: str, chapters: Iterable[str] = MODEL_CHAPTERS) -> dict[str, dict]:
    """Every model entry of the chapters' results files, keyed by model key.

    Raises :class:`~occupancy_utils.results.MissingResults`, naming every chapter
    still to run, when any of them has not stored its results in this profile.
    """
    chapters = list(chapters)
    missing = [c for c in chapters if not (results_dir(profile) / f"{c}.json").is_file()]
    if missing:
        raise MissingResults(f"this chapter compares the models of {', '.join(chapters)}; run "
                             f"{', '.join(missing)} first in the {profile} profile "
                             f"(or `make book PROFILE={profile}`)")
    models: dict[str, dict] = {}
    for chapter in chapters:
        for key, entry in read_results(profile, chapter)["models"].items():
            models[key] = {**entry, "chapter": chapter}
    return models


def seed_summary(protocol_entry: dict) -> dict[str, float]:
    """Mean over seeds of the report-style fold mean, its spread, and pooled scores."""
    seeds = list(protocol_entry["seeds"].values())
    if not seeds:
        raise ValueError("a protocol entry has no seeds")
    out: dict[str, float] = {"n_seeds": len(seeds)}
    for k in KEYS:
        per_seed = np.array([s["mean"][k] for s in seeds])
        out[k] = float(per_seed.mean())
        out[f"{k}_seed_std"] = float(per_seed.std())
        out[f"{k}_fold_std"] = float(np.mean([s["std"][k] for s in seeds]))
        out[f"{k}_pooled"] = float(np.mean([s["pooled"][k] for s in seeds]))
    for k in ("train_seconds", "predict_seconds"):
        out[k] = float(protocol_entry.get(k, float("nan")))
    return out


def long_table(models: dict[str, dict]) -> pd.DataFrame:
    """One row per model and protocol with every score the comparison discusses."""
    rows = []
    for key, entry in models.items():
        for protocol, pentry in entry["protocols"].items():
            rows.append({"model": key, "label": entry.get("label", key), "protocol": protocol,
                         "probabilistic": bool(entry.get("probabilistic", False)),
                         **seed_summary(pentry)})
    return pd.DataFrame(rows)


def table_7(models: dict[str, dict], report_rows: list[list]) -> pd.DataFrame:
    """The report's Table 7 beside the book's numbers under the report's own protocol."""
    rows = []
    for name, mse, f1 in report_rows:
        chapter, key = TABLE_7_SOURCES[name]
        if key not in models:
            raise KeyError(f"results of {chapter} have no model {key!r} (Table 7 row {name!r})")
        book = seed_summary(models[key]["protocols"]["report"])
        rows.append({"model": name, "report MSE": mse, "book MSE": book["mse"],
                     "report F1 macro": f1, "book F1 macro": book["f1_macro"],
                     "book F1 macro, pooled": book["f1_macro_pooled"]})
    table = pd.DataFrame(rows)
    table["MSE difference"] = table["book MSE"] - table["report MSE"]
    table["F1 difference"] = table["book F1 macro"] - table["report F1 macro"]
    return table


def baseline_predictions(frame: pd.DataFrame, folds: list[Fold]) -> dict[str, list[pd.DataFrame]]:
    """Two references every model should beat, on the same test rows.

    * ``always_0`` predicts an empty room - right 81 % of the time.
    * ``lag_1`` predicts the true count of the previous reading (the last
      training label for the first test row). It needs the label stream, which
      a sensor-only model does not have, so it is a reference for how sticky
      occupancy is, not a fair competitor.
    """
    y = frame[TARGET].to_numpy()
    out: dict[str, list[pd.DataFrame]] = {"always_0": [], "lag_1": []}
    for fold in folds:
        idx = fold.test
        out["always_0"].append(experiment.prediction_frame(fold.number, idx, y[idx],
                                                           np.zeros(len(idx), dtype=int)))
        out["lag_1"].append(experiment.prediction_frame(fold.number, idx, y[idx], y[idx - 1]))
    return out


PROBABILITY_COLUMNS = ["p0", "p1", "p2", "p3"]


def probabilistic_predictions(profile: str, protocol: str = "clean", seed: int | None = None,
                              chapters: Iterable[str] = MODEL_CHAPTERS) -> dict[str, pd.DataFrame]:
    """Per-row predictive distributions of every model that has one, for one protocol and seed.

    A model qualifies with class probabilities (p0..p3) or a Gaussian (value, std).
    ``seed=None`` takes each model's smallest seed.
    """
    from .results import read_predictions

    out: dict[str, pd.DataFrame] = {}
    for chapter in chapters:
        preds = read_predictions(profile, chapter)
        preds = preds[preds["protocol"] == protocol]
        for model, rows in preds.groupby("model", sort=True):
            has_p = set(PROBABILITY_COLUMNS) <= set(rows.columns) and rows["p0"].notna().all()
            has_std = {"value", "std"} <= set(rows.columns) and rows["std"].notna().all()
            if not (has_p or has_std):
                continue
            chosen = rows["seed"].min() if seed is None else seed
            out[str(model)] = rows[rows["seed"] == chosen].dropna(axis=1, how="all")
    return out


def confidence(rows: pd.DataFrame) -> np.ndarray:
    """How sure the model is of each row: top-class probability, or minus the predicted std."""
    if set(PROBABILITY_COLUMNS) <= set(rows.columns):
        return rows[PROBABILITY_COLUMNS].to_numpy().max(axis=1)
    return -rows["std"].to_numpy()


def calibration_table(models: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Calibration scores of each probabilistic model (NaN where a score does not apply)."""
    from . import calibration

    rows = []
    for name, p in models.items():
        y = p["y_true"].to_numpy()
        row: dict[str, object] = {"model": name, "rows": len(p)}
        if set(PROBABILITY_COLUMNS) <= set(p.columns):
            row.update(calibration.classifier_report(y, p[PROBABILITY_COLUMNS].to_numpy()))
        if {"value", "std"} <= set(p.columns):
            row.update(calibration.regression_report(y, p["value"].to_numpy(),
                                                     p["std"].to_numpy()))
        rows.append(row)
    return pd.DataFrame(rows)


def risk_coverage_of(rows: pd.DataFrame,
                     coverages: Iterable[float] = DEFAULT_COVERAGES) -> pd.DataFrame:
    """One model's risk-coverage curve, ranked by :func:`confidence`.

    The MSE is taken on the model's value (regression mean, expected count)
    where it has one, on its labels otherwise.
    """
    value = rows["value"].to_numpy() if "value" in rows.columns else None
    return selective.risk_coverage(rows["y_true"].to_numpy(), rows["y_pred"].to_numpy(),
                                   confidence(rows), coverages=list(coverages), value=value)


def selective_table(models: dict[str, pd.DataFrame],
                    coverages: Iterable[float] = (1.0, 0.9, 0.8, 0.5)) -> pd.DataFrame:
    """MSE, F1 macro and false-occupied rate when each model keeps its most confident rows."""
    return pd.concat([risk_coverage_of(p, coverages).assign(model=name)
                      for name, p in models.items()], ignore_index=True)


def error_flags(models: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """AUROC of each available uncertainty score for telling wrong predictions from right ones."""
    rows = []
    for name, p in models.items():
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
    what the confidence buys. For F1 (higher is better) a ratio above 1 is.
    """
    coverages = sorted(coverages)
    span = coverages[-1] - coverages[0]
    rows = []
    for name, p in models.items():
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


def entropy_against_mi(flags: pd.DataFrame) -> pd.DataFrame:
    """For each model that has both, the error-detection AUROC of entropy and of MI.

    ``better`` names the score that ranks wrong predictions above right ones
    more often on this model's test rows.
    """
    wide = flags.pivot(index="model", columns="score", values="auroc")
    both = ["predictive entropy", "mutual information"]
    if not set(both) <= set(wide.columns):
        return pd.DataFrame(columns=[*both, "better"])
    wide = wide[both].dropna()
    better = np.where(wide[both[0]] >= wide[both[1]], "entropy", "mutual information")
    return wide.assign(better=better)


def fewer_false_occupied(fp: pd.DataFrame) -> pd.Series:
    """Change in the false-occupied rate from all rows to the smallest coverage, per model.

    ``fp`` has one column per coverage (as :func:`selective_table` pivoted). A
    negative change supports the report's claim for that model.
    """
    return (fp[min(fp.columns)] - fp[max(fp.columns)]).rename("change")


# --------------------------------------------------------------------------- report map

def _score(models: dict[str, dict], key: str, metric: str, protocol: str = "report") -> float:
    return seed_summary(models[key]["protocols"][protocol])[metric]


def verdict(report_value: float, book_value: float, why: str) -> str:
    """'reproduced' within a tolerance (0.05 absolute or 15 %), else 'differs' and why."""
    if abs(book_value - report_value) <= max(0.05, 0.15 * abs(report_value)):
        return "reproduced (within 0.05 or 15 %)"
    return f"differs: {why}"


def pair_verdict(report_mse: float, book_mse: float, report_f1: float, book_f1: float,
                 why: str) -> str:
    """An (MSE / F1) row counts as reproduced only when both numbers are."""
    close = [name for name, rep, book in (("MSE", report_mse, book_mse),
                                          ("F1", report_f1, book_f1))
             if verdict(rep, book, why).startswith("reproduced")]
    if len(close) == 2:
        return "reproduced (MSE and F1 within 0.05 or 15 %)"
    if close:
        return f"differs: only the {close[0]} is within 0.05 or 15 %; {why}"
    return f"differs: {why}"


#: The LSTM hyper-parameters of the report's Table 5, in its order.
LSTM_HYPER = ("hidden", "layers", "seq_len", "dropout", "lr")


def hyper_verdict(report_best: dict, by_protocol: dict[str, dict]) -> str:
    """How many of the report's winning values each protocol's search found again."""
    found = {p: [k for k in LSTM_HYPER if params[k] == report_best[k]]
             for p, params in by_protocol.items()}
    shared = "; ".join(f"{p} protocol {len(same)} of {len(LSTM_HYPER)}"
                       + (f" ({', '.join(same)})" if same else "")
                       for p, same in sorted(found.items()))
    if any(len(same) == len(LSTM_HYPER) for same in found.values()):
        return f"reproduced: the report's winner won again; values shared: {shared}"
    return f"differs: another point won; values shared with the report's: {shared}"


def report_map(models: dict[str, dict], report: dict, class_counts: dict[int, int],
               profile: str) -> pd.DataFrame:
    """Every table, figure and inconsistency of the report, with the book's number and a verdict.

    Numbers are read from the chapters' results files (report protocol, as the
    report ran them, unless the row says otherwise).
    """
    short = ("the quick profile trains a small grid for a few epochs"
             if profile == "quick" else "different folds and seeds (see the chapter)")
    rows: list[dict[str, str]] = []

    def add(item: str, where: str, rep: str, book: str, verdict_text: str) -> None:
        rows.append({"report": item, "book chapter": where, "report's number": rep,
                     "book's number": book, "verdict": verdict_text})

    counts = report["dataset"]["table_1_class_counts"]
    same = all(int(counts[c]) == int(class_counts[c]) for c in counts)
    add("Table 1 (class counts)", "1", ", ".join(str(counts[c]) for c in sorted(counts)),
        ", ".join(str(class_counts[c]) for c in sorted(class_counts)),
        "reproduced exactly" if same else "differs: the data file is not the canonical one")
    rf = _score(models, "random_forest", "f1_macro")
    sec1 = report["section_1_feature_dropping"]["f1_macro_without_light"]
    add("§1 random forest F1 without light", "2", f"{sec1:.2f}", f"{rf:.3f}",
        verdict(sec1, rf, "the report's validation scheme is not stated (chapter 2 tests two)"))
    t2 = report["crf"]["table_2_top_results"][0]
    crf_mse, crf_f1 = _score(models, "crf", "mse"), _score(models, "crf", "f1_macro")
    add("Table 2 best row (MSE / F1 macro)", "4", f"{t2[3]:.4f} / {t2[4]:.4f}",
        f"{crf_mse:.3f} / {crf_f1:.3f}", pair_verdict(t2[3], crf_mse, t2[4], crf_f1, short))
    t3 = report["bnn"]["table_3_one_hidden_layer"][0]
    bnn_mse = _score(models, "bnn", "mse")
    add("Tables 3-4 chosen BNN (lr 0.01, 1 x 64) MSE", "5", f"{t3[2]:.2f}", f"{bnn_mse:.3f}",
        verdict(t3[2], bnn_mse, short))
    for variant in ("regression", "classification"):
        best = report["lstm"]["table_5_best"][variant]
        mse = _score(models, f"lstm_{variant}", "mse")
        add(f"Table 5 LSTM {variant} MSE", "6", f"{best['mse']:.3f}", f"{mse:.3f}",
            verdict(best["mse"], mse, short))
        winners = models[f"lstm_{variant}"]["params_by_protocol"]
        add(f"Table 5 LSTM {variant} hyper-parameters ({', '.join(LSTM_HYPER)})", "6",
            ", ".join(f"{best[k]:g}" for k in LSTM_HYPER),
            "; ".join(f"{protocol} protocol " + ", ".join(f"{params[k]:g}" for k in LSTM_HYPER)
                      for protocol, params in sorted(winners.items())),
            hyper_verdict(best, winners))
    # the report's regression-with-MCD row looks transposed (see the inconsistency rows)
    t6 = {row[0]: row for row in report["lstm"]["table_6_mc_dropout"]}
    _, printed_mse, _, printed_f1, _ = t6["regression with MCD"]
    reg_mcd = (_score(models, "lstm_regression_mcd", "mse"),
               _score(models, "lstm_regression_mcd", "f1_macro"))
    swapped = (abs(reg_mcd[0] - printed_f1) + abs(reg_mcd[1] - printed_mse)
               < abs(reg_mcd[0] - printed_mse) + abs(reg_mcd[1] - printed_f1))
    t6_keys = ["lstm_regression", "lstm_regression_mcd", "lstm_classification",
               "lstm_classification_mcd"]
    for (name, mse_r, _, f1_r, _), key in zip(report["lstm"]["table_6_mc_dropout"], t6_keys,
                                              strict=True):
        mse, f1 = _score(models, key, "mse"), _score(models, key, "f1_macro")
        if key == "lstm_regression_mcd" and swapped:
            judged = pair_verdict(f1_r, mse, mse_r, f1, short) + (
                " (read with the report's MSE and F1 swapped)")
        else:
            judged = pair_verdict(mse_r, mse, f1_r, f1, short)
        add(f"Table 6 {name} (MSE / F1)", "6", f"{mse_r:.3f} / {f1_r:.3f}",
            f"{mse:.3f} / {f1:.3f}", judged)
    for name, mse_r, f1_r in report["table_7_comparison"]:
        key = TABLE_7_SOURCES[name][1]
        mse, f1 = _score(models, key, "mse"), _score(models, key, "f1_macro")
        add(f"Table 7 {name} (MSE / F1)", "7", f"{mse_r:.3f} / {f1_r:.3f}",
            f"{mse:.3f} / {f1:.3f}", pair_verdict(mse_r, mse, f1_r, f1, short))
    for number, what in sorted(report["figures"].items()):
        chapter = {1: "1", 2: "1", 3: "1", 4: "1", 5: "3"}.get(number) or (
            "4" if number <= 8 else "5" if number <= 10 else "6")
        add(f"Figure {number}: {what}", chapter, "a figure", "redrawn from code",
            "reproduced as a figure (interactive where it helps)")
    # the inconsistencies listed in report_numbers.yaml, and what the reproduction says;
    # the report's numbers come from the same yaml as every other row
    add("Inconsistency: Table 6 regression with MCD looks swapped", "6",
        f"{printed_mse:.3f} / {printed_f1:.3f}", f"{reg_mcd[0]:.3f} / {reg_mcd[1]:.3f}",
        "the book's scores are nearer the swapped order: a transposed row" if swapped
        else "the book's scores are nearer the printed order")
    rf_t7 = next(f1 for name, _, f1 in report["table_7_comparison"] if name == "random forest")
    add(f"Inconsistency: random forest F1 {sec1:.2f} (§1) vs {rf_t7:.3f} (Table 7)", "2",
        f"{sec1:.2f} / {rf_t7:.3f}", f"{rf:.3f}",
        "one model, one number in the book; the report's gap is rounding at most")
    cls_t5 = report["lstm"]["table_5_best"]["classification"]["f1_macro"]
    cls_t6 = t6["classification without MCD"][3]
    cls, cls_mcd = (_score(models, "lstm_classification", "f1_macro"),
                    _score(models, "lstm_classification_mcd", "f1_macro"))
    add(f"Inconsistency: classification LSTM F1 {cls_t5:.3f} (Table 5) vs {cls_t6:.3f} "
        "(Table 6)", "6", f"{cls_t5:.3f} / {cls_t6:.3f}",
        f"{cls:.3f} (no MCD) / {cls_mcd:.3f} (MCD)",
        "Table 5 mixes the MCD F1 with the no-MCD MSE spread; the book keeps them apart")
    t3_rows = report["bnn"]["table_3_one_hidden_layer"]
    lr_row = next(r[2] for r in t3_rows if r[0] == "lr" and r[1] == 0.01)
    hidden_row = next(r[2] for r in t3_rows if r[0] == "hidden" and r[1] == 64)
    bnn = seed_summary(models["bnn"]["protocols"]["report"])
    gap = abs(lr_row - hidden_row)
    noise = ("one seed in this profile, so no spread to compare" if bnn["n_seeds"] < 2 else
             f"the book's {bnn['n_seeds']:.0f} seeds spread by {bnn['mse_seed_std']:.3f} "
             "(std): the gap is " + ("within" if gap <= 2 * bnn["mse_seed_std"] else "beyond")
             + " run-to-run noise")
    add(f"Inconsistency: BNN lr 0.01, 1 x 64: MSE {lr_row:.2f} and {hidden_row:.2f} in "
        "Table 3", "5", f"{lr_row:.2f} / {hidden_row:.2f}", f"{bnn_mse:.3f} (seed mean)",
        f"two runs of one configuration differ by {gap:.2f} in the report; {noise}")
    gaps = [seed_summary(e["protocols"]["clean"])["mse"] - seed_summary(e["protocols"]["report"])
            ["mse"] for e in models.values() if {"clean", "report"} <= set(e["protocols"])]
    add("Slip: early stopping watched the test fold", "4-7", "not measured",
        f"mean MSE change, clean - report: {np.mean(gaps):+.3f}",
        "fixed: every chapter also runs the clean protocol (validation tail)")
    return pd.DataFrame(rows)
