"""Table 7 and its honest version, built from the chapters' results files.

Nothing here trains a network: the model chapters wrote their scores to
``results/<profile>/<chapter>.json`` (schema in CONTRIBUTING.md), and this
module lines them up with the report's Table 7 and with the baselines the
report lacks, gathers every model's per-row predictions for the ranking and
the uncertainty scores, and says what each model cost. What the uncertainty
is worth is :mod:`~occupancy_utils.uncertainty_value`'s.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import numpy as np
import pandas as pd

from . import ablation, experiment, families, finals, nested, search, splits
from .data import NON_LIGHT_FEATURES, TARGET
from .experiment import PROBA_COLUMNS
from .paths import results_dir
from .results import MissingResults, read_results
from .splits import Fold
from .tables import joined

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


def largest_gap_reading(table: pd.DataFrame, models: dict[str, dict]) -> str:
    """The largest absolute MSE difference (book minus report) of :func:`table_7`, with the
    book's per-seed MSEs behind it and the gap from the median seed: a mean over three seeds
    can take most of its gap from one seed's failed run, and the reader should see whether
    it does."""
    row = table.loc[table["MSE difference"].abs().idxmax()]
    _, key = TABLE_7_SOURCES[row["model"]]
    seeds = [float(s["mean"]["mse"]) for s in models[key]["protocols"]["report"]["seeds"].values()]
    median = float(np.median(seeds))
    if len(seeds) < 2:
        return f"{row['MSE difference']:+.3f} ({row['model']}, one seed)"
    return (f"{row['MSE difference']:+.3f} ({row['model']}: the book's MSE per seed "
            f"{joined([f'{v:.3f}' for v in seeds])}; from the median seed, {median:.3f}, the "
            f"gap is {median - float(row['report MSE']):+.3f})")


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


def probabilistic_predictions(profile: str, protocol: str = "clean",
                              seed: int | str | None = None,
                              chapters: Iterable[str] = MODEL_CHAPTERS) -> dict[str, pd.DataFrame]:
    """Per-row predictive distributions of every model that has one, for one protocol and seed.

    A model qualifies with class probabilities (p0..p3) or a Gaussian (value, std).
    ``seed=None`` takes each model's smallest seed; ``seed="all"`` pools every seed's
    rows, so that one failed seed neither makes nor breaks a model's uncertainty scores.
    """
    from .results import read_predictions

    out: dict[str, pd.DataFrame] = {}
    for chapter in chapters:
        preds = read_predictions(profile, chapter)
        preds = preds[preds["protocol"] == protocol]
        for model, rows in preds.groupby("model", sort=True):
            has_p = set(PROBA_COLUMNS) <= set(rows.columns) and rows["p0"].notna().all()
            has_std = {"value", "std"} <= set(rows.columns) and rows["std"].notna().all()
            if not (has_p or has_std):
                continue
            if seed != "all":
                rows = rows[rows["seed"] == (rows["seed"].min() if seed is None else seed)]
            out[str(model)] = rows.dropna(axis=1, how="all")
    return out


def ranked_predictions(profile: str, extra: pd.DataFrame, protocol: str = "clean",
                       chapters: Iterable[str] = MODEL_CHAPTERS) -> dict[str, pd.DataFrame]:
    """Every model's per-row predictions under one protocol, all seeds, by model key.

    ``extra`` holds further models' rows in the same columns (this chapter's
    baselines). For :mod:`~occupancy_utils.ranking`.
    """
    from .results import read_predictions

    frames = [read_predictions(profile, c) for c in chapters] + [extra]
    cols = ["seed", *experiment.PREDICTION_COLUMNS]
    return {m: g[cols] for m, g in _by_model(frames, protocol).items()}


def _by_model(frames: Iterable[pd.DataFrame], protocol: str) -> dict[str, pd.DataFrame]:
    """The rows of one protocol from several predictions frames, one frame per model key."""
    rows = pd.concat([f[f["protocol"] == protocol] for f in frames], ignore_index=True)
    return {str(m): g.reset_index(drop=True) for m, g in rows.groupby("model", sort=False)}


def seconds(long: pd.DataFrame, protocol: str = "clean") -> dict[str, float]:
    """Training plus prediction seconds (over the folds, mean over seeds) per model key."""
    rows = long[long["protocol"] == protocol].set_index("model")
    total = rows["train_seconds"] + rows["predict_seconds"]
    return {str(k): float(v) for k, v in total.dropna().items()}


# --------------------------------------------------------------------------- protocol gap

def protocol_gaps(models: dict[str, dict]) -> pd.DataFrame:
    """Per trained model: the clean minus report MSE (seed means) and the half-width of its
    95 % interval.

    The two protocols' seeds are independent runs, so the interval is Welch's
    (:func:`~occupancy_utils.protocol_gap.welch_half_width`); with one seed it is NaN.
    Models whose two protocols are one run (no early
    stopping, as the random forest) are left out: their gap is 0 by construction.
    """
    from .protocol_gap import welch_half_width

    rows = []
    for key, entry in models.items():
        protocols = entry.get("protocols", {})
        if not {"clean", "report"} <= set(protocols):
            continue
        if protocols["clean"]["seeds"] == protocols["report"]["seeds"]:
            continue
        clean, report = ([s["mean"]["mse"] for s in protocols[p]["seeds"].values()]
                         for p in ("clean", "report"))
        # a model that scores the same on every seed has no seed spread to judge it by
        steady = np.ptp(clean) == 0 and np.ptp(report) == 0
        half_width = (welch_half_width(clean, report) if not steady
                      else float("nan"))
        rows.append({"model": key, "label": entry.get("label", key),
                     "gap": float(np.mean(clean) - np.mean(report)), "half_width": half_width,
                     "same on every seed": bool(steady and len(clean) > 1)})
    return pd.DataFrame(rows, columns=["model", "label", "gap", "half_width",
                                       "same on every seed"])


def protocol_gap_reading(gaps: pd.DataFrame) -> str:
    """What the clean-minus-report gaps allow one to say, by a stated rule.

    A model's gap counts as a difference only when its 95 % interval excludes 0;
    with one seed none can be judged. The sentence
    always names what the gap mixes, because the two protocols differ in more
    than where early stopping looks.
    """
    confound = ("the gap mixes less training data (the clean protocol holds out a "
                "validation tail), other chosen configurations and seed noise, so it does "
                "not measure by itself what stopping on the test fold was worth")
    if gaps.empty:
        return f"no trained model has both protocols; {confound}"
    judged = gaps.dropna(subset=["half_width"])
    if judged.empty:
        return f"with one seed no gap can be told from seed noise; {confound}"
    worse = int((judged["gap"] > judged["half_width"]).sum())
    better = int((judged["gap"] < -judged["half_width"]).sum())
    within = len(judged) - worse - better
    steady = int(gaps["same on every seed"].sum()) if "same on every seed" in gaps else 0
    one_seed = len(gaps) - len(judged) - steady
    notes = [f"{one_seed} more ran one seed"] if one_seed else []
    notes += [f"{steady} more score the same on every seed, so no seed spread judges them"
              ] if steady else []
    also = f" ({'; '.join(notes)})" if notes else ""
    return (f"{worse} of {len(judged)} trained models{also} score a higher MSE under the clean "
            f"protocol by more than the 95 % interval over the seeds allows, {better} a lower "
            f"one, and {within} are within it; {confound}")


# --------------------------------------------------------------------------- the report's order

#: The report's reading of its Table 7 (section 3.4) as (better, worse) pairs: the BNN,
#: which ignores time, scores worst, the CRF better, the LSTM better still. Each family
#: is the model its Table 7 row stands for (the BNN in the report's configuration, the
#: chunk-wise CRF, the LSTM regression without MC dropout), tested with
#: :func:`~occupancy_utils.ranking.ordered_pairs`.
REPORT_ORDER = (("crf", "bnn"), ("lstm_regression", "crf"), ("lstm_regression", "bnn"))


# --------------------------------------------------------------------------- second fold design

def second_design(frame: pd.DataFrame, grids: dict, settings: nested.Settings, seeds: list[int],
                  forest: dict, *, profile: str, workers: int = 1,
                  storage: str | None = None) -> dict[str, pd.DataFrame]:
    """The models that can be re-scored cheaply, on the rolling-origin folds (clean protocol).

    The baselines choose per fold again, on each new fold's own tail (their
    stored searches under ``design="rolling"``); the random forest of chapter 2,
    which has nothing to choose, is fitted with its parameters (``forest``:
    ``n_estimators``). Returns per-row predictions by model key, for
    :mod:`~occupancy_utils.ranking`.
    """
    rolling = replace(settings, design="rolling")
    runs = nested.run_families(grids, rolling, seeds, profile=profile, protocols=["clean"],
                               workers=workers, storage=storage)
    folds = splits.design_folds(frame.index, "rolling")
    forest_runs = {s: ablation.run_forest(frame, folds, NON_LIGHT_FEATURES, random_state=s,
                                          n_estimators=int(forest["n_estimators"]))
                   for s in seeds}
    rows = pd.concat([finals.predictions_frame(runs),
                      ablation.predictions_frame(forest_runs).query("protocol == 'clean'")],
                     ignore_index=True)
    cols = ["seed", *experiment.PREDICTION_COLUMNS]
    return {str(m): g[cols].reset_index(drop=True) for m, g in rows.groupby("model", sort=False)}


# --------------------------------------------------------------------------- cost

# the clean protocol's LSTM searches run fold by fold (halving.run names each fold's study
# "<name>-fold<k>"), both stages
_LSTM = {v: [f"06_lstm-{v}-clean-{stage}-fold{k}" for stage in ("structure", "tuning")
             for k in (1, 2, 3, 4)]
         for v in ("regression", "classification")}
#: The stored searches that chose each model's clean-protocol configuration, by name.
#: ``[]``: nothing to search (the random forest keeps its fixed settings, the majority
#: class has none). ``None``: the report's configuration, which the report chose on its own
#: test folds: it has no clean search to count, so it has no total and is not recommended.
CLEAN_SEARCHES: dict[str, list[str] | None] = {
    "random_forest": [], "crf": ["crf-clean"], "crf_whole_fold": ["crf-clean"],
    "bnn": None, "bnn_elbo": None,
    "bnn_selected": ["05_bnn-lr-clean", "05_bnn-hidden-clean", "05_bnn-two_layers-clean"],
    "lstm_regression": _LSTM["regression"], "lstm_regression_mcd": _LSTM["regression"],
    "lstm_classification": _LSTM["classification"],
    "lstm_classification_mcd": _LSTM["classification"],
    **{key: [] if key == "majority" else [f"07_{key}-clean"] for key in families.FAMILIES},
}


def model_costs(long: pd.DataFrame, profile: str, storage: str | None = None) -> pd.DataFrame:
    """What each model cost under the clean protocol: the summed trial time of the searches
    that chose it (:data:`CLEAN_SEARCHES`, from the stored trials; elapsed seconds per trial,
    which two workers overlap) and the time to fit and predict all folds once (one seed).
    ``total_s`` is NaN where the report chose the configuration; the ``search`` column says
    so. A named search missing from the storage is an error, not a blank: the chapters that
    wrote the results read here stored their searches there, so a missing one means a wrong
    name or another storage, and a blank would silently drop the model from the
    recommendation."""
    where = storage or search.default_storage(profile)
    stored = search.cost_table(where)
    minutes = stored.set_index("search")["cpu_min"] if not stored.empty else pd.Series()
    fit = seconds(long)
    rows = []
    for model, total_fit in fit.items():
        names = CLEAN_SEARCHES.get(model)
        if names is None:
            status, search_s = "none: the report's configuration, chosen on its test folds", \
                np.nan
        elif not names:
            status, search_s = "nothing to search", 0.0
        elif missing := [n for n in names if n not in minutes.index]:
            raise ValueError(f"{model}: the search {missing[0]} that chose it is not stored in "
                             f"{where}; run its chapter again in the {profile} profile")
        else:
            status, search_s = "stored", float(sum(minutes[n] for n in names)) * 60
        rows.append({"model": model, "search": status, "search s (summed trial time)": search_s,
                     "fit and predict s": total_fit, "total_s": search_s + total_fit})
    return pd.DataFrame(rows)


def total_seconds(costs: pd.DataFrame) -> dict[str, float]:
    """Search plus fit-and-predict seconds per model, for the models whose search is stored."""
    known = costs.dropna(subset=["total_s"])
    return {str(m): float(t) for m, t in zip(known["model"], known["total_s"], strict=True)}


# --------------------------------------------------------------------------- false alarms

#: The chapters whose final models held out a validation tail (chapter 2's forest trains
#: on its whole training part, so it has no tail to choose a threshold on).
HELD_OUT_CHAPTERS = ("04_crf", "05_bnn", "06_lstm")


def alarm_predictions(profile: str, extra_test: pd.DataFrame, extra_validation: pd.DataFrame,
                      protocol: str = "clean", chapters: Iterable[str] = HELD_OUT_CHAPTERS
                      ) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Per model with class probabilities on both: its test and validation-tail predictions
    under one protocol (``extra_*``: this chapter's baselines), for
    :mod:`~occupancy_utils.alarms`."""
    from .results import read_predictions

    def by_model(frames: list[pd.DataFrame]) -> dict[str, pd.DataFrame]:
        return {m: g for m, g in _by_model(frames, protocol).items()
                if set(PROBA_COLUMNS) <= set(g.columns) and g["p0"].notna().all()}

    chapters = list(chapters)
    test = by_model([read_predictions(profile, c) for c in chapters] + [extra_test])
    validation = by_model([read_predictions(profile, c, "validation") for c in chapters]
                          + [extra_validation])
    return {m: (test[m], validation[m]) for m in test if m in validation}


def protocol_decompositions(profile: str, chapters: Iterable[str] = HELD_OUT_CHAPTERS
                            ) -> pd.DataFrame:
    """Every chapter's stored protocol-gap runs (:mod:`~occupancy_utils.protocol_gap`),
    decomposed; a chapter that stored none adds nothing."""
    from . import protocol_gap

    entries: dict[str, dict] = {}
    for chapter in chapters:
        entries.update(read_results(profile, chapter).get("protocol_gap", {}))
    return protocol_gap.table(entries)
