"""Chapter 5's tables and computed verdicts, apart from the BNN code whose results are stored.

They read the studies' records and the final models of
:mod:`~occupancy_utils.bnn_study`: the report's Tables 3 and 4 beside the
book's, where the networks collapse to "nobody there", what the posterior
and the predictive uncertainty look like, and the chapter's verdicts on them,
each by a threshold stated beside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from .. import data, metrics, protocol_gap, splits
from ..bnn_finals import FinalModel
from ..bnn_study import PARAM_KEYS, check_params, config_text
from ..experiment import FittedFolds
from ..finals import above_zero_by_key, value_summary, worse_than_zero
from ..models import bnn
from ..tables import failures_text, joined, numbered, pct


def choice_text(chosen: Mapping[int, Mapping[str, Any]]) -> str:
    """'lr 0.01, 1 x 64' when every fold chose it, else 'fold 1: ...; fold 2: ...'."""
    texts = {k: config_text(p) for k, p in sorted(chosen.items())}
    if len(set(texts.values())) == 1:
        return next(iter(texts.values()))
    return "; ".join(f"fold {k}: {t}" for k, t in texts.items())


def chosen_scores(found: pd.DataFrame, chosen: Mapping[int, Mapping[str, Any]]
                  ) -> dict[str, float]:
    """The search's scores of each fold's choice on that fold, averaged over the folds:
    validation-tail MSE (what chose it), test MSE and test F1 macro."""
    rows = found.drop_duplicates(subset=list(PARAM_KEYS))
    out: dict[str, list[float]] = {"val_mse": [], "test_mse": [], "test_f1_macro": []}
    for k, params in sorted(chosen.items()):
        match = rows.loc[(rows[list(PARAM_KEYS)] == pd.Series(params)).all(axis=1)]
        record = next(r for r in match.iloc[0]["folds"] if r["fold"] == k)
        out["val_mse"].append(record["monitor"]["mse"])
        out["test_mse"].append(record["test"]["mse"])
        out["test_f1_macro"].append(record["test"]["f1_macro"])
    return {key: float(np.mean(v)) for key, v in out.items()}


def _label(study: str, params: Mapping[str, Any]) -> str:
    if study == "lr":
        return f"lr = {params['lr']:g}"
    return f"hidden size = {params['hidden']}"


def report_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The report's Tables 3 and 4 as rows with their configuration."""
    d = report["bnn"]["defaults"]
    rows = []
    for name, value, mse, f1 in report["bnn"]["table_3_one_hidden_layer"]:
        study = "lr" if name == "lr" else "hidden"
        params = {**{k: d[k] for k in PARAM_KEYS}, name: value, "hidden_layers": 1}
        rows.append({"table": 3, "study": study, **params, "report_mse": mse, "report_f1": f1})
    for hidden, mse, f1 in report["bnn"]["table_4_two_hidden_layers"]:
        rows.append({"table": 4, "study": "two_layers", "lr": d["lr"], "hidden": hidden,
                     "hidden_layers": 2, "report_mse": mse, "report_f1": f1})
    return rows


def study_table(found: pd.DataFrame, report: Mapping[str, Any]) -> pd.DataFrame:
    """Tables 3 and 4: the report's MSE and F1 macro beside the book's (mean over folds).

    The book's MSE is on the argmax class, like the report's; the expected-count
    MSE and the folds that collapsed to all zeros are extra columns. A
    configuration is matched wherever it was trained, so the report's two rows
    for lr 0.01, hidden 64 face the same book run. Rows the profile did not run
    show NaN.
    """
    rows = []
    for r in report_rows(report):
        hit = found[np.isclose(found["lr"], r["lr"])
                    & (found["hidden"] == r["hidden"])
                    & (found["hidden_layers"] == r["hidden_layers"])]
        book = hit.iloc[0] if len(hit) else None
        rows.append({
            "table": r["table"], "parameter": _label(r["study"], r),
            "lr": f"{r['lr']:g}", "hidden": r["hidden"], "layers": r["hidden_layers"],
            "report MSE": r["report_mse"],
            "book MSE": float(book["test_mse"]) if book is not None else np.nan,
            "report F1": r["report_f1"],
            "book F1": float(book["test_f1_macro"]) if book is not None else np.nan,
            "book MSE (expected count)": (float(book["test_mse_value"]) if book is not None
                                          else np.nan),
            "book val. MSE": float(book["val_mse"]) if book is not None else np.nan,
            "collapsed folds": (", ".join(str(f) for f in book["collapsed_folds"]) or "-")
            if book is not None else "",
        })
    out = pd.DataFrame(rows)
    out.insert(out.columns.get_loc("book MSE") + 1, "MSE diff.",
               out["book MSE"] - out["report MSE"])
    return out


def rows_of(table: pd.DataFrame, params: Mapping[str, Any]) -> pd.DataFrame:
    """The rows of a :func:`study_table` that hold one configuration (the report's
    lr 0.01, 1 x 64 holds two)."""
    params = check_params(params)
    hit = table[np.isclose(table["lr"].astype(float), params["lr"])
                & (table["hidden"] == params["hidden"])
                & (table["layers"] == params["hidden_layers"])]
    if hit.empty:
        raise KeyError(f"no table row for {params}")
    return hit


def collapse_table(found: pd.DataFrame) -> pd.DataFrame:
    """Per configuration and fold: share of test rows predicted 0 and whether all were."""
    rows = []
    for _, r in found.drop_duplicates(subset=list(PARAM_KEYS)).iterrows():
        for f in r["folds"]:
            rows.append({"lr": r["lr"], "hidden": r["hidden"], "layers": r["hidden_layers"],
                         "fold": f["fold"], "share predicted 0": f["zero_share"],
                         "mean p0": f["mean_p0"], "all zeros": f["collapsed"],
                         "test MSE": f["test"]["mse"]})
    return pd.DataFrame(rows)


def collapse_overview(found: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration: share of each fold's test rows predicted 0 (columns
    ``fold N``), and the folds on which *every* row was predicted 0 although people were
    present."""
    long = collapse_table(found)
    if long.empty:
        raise ValueError("found holds no per-fold records")
    long["configuration"] = [f"lr {r.lr:g}, {r.layers} x {r.hidden}" for r in long.itertuples()]
    wide = long.pivot_table(index="configuration", columns="fold", values="share predicted 0",
                            sort=False)
    wide.columns = [f"fold {c}" for c in wide.columns]
    collapsed = long[long["all zeros"]].groupby("configuration", sort=False)["fold"].agg(
        lambda f: ", ".join(str(v) for v in f))
    wide["all zeros on folds"] = collapsed.reindex(wide.index).fillna("-")
    return wide


def posterior_table(model: bnn.BayesMLP) -> pd.DataFrame:
    """Per layer: typical posterior mean and standard deviation of the weights.

    When the standard deviations are small next to the means, every weight
    sample is nearly the same network and the samples cannot disagree much.
    """
    rows = []
    for i, layer in enumerate(model.layers, start=1):
        mu = layer.weight_mu.detach().abs().flatten().cpu().numpy()
        sigma = torch.exp(layer.weight_log_sigma.detach()).flatten().cpu().numpy()
        rows.append({"layer": i, "weights": mu.size, "median |mu|": float(np.median(mu)),
                     "median sigma": float(np.median(sigma)),
                     "median sigma / |mu|": float(np.median(sigma / np.maximum(mu, 1e-12))),
                     # torchbnn starts every sigma at the prior's
                     "median sigma / initial": float(np.median(sigma) / layer.prior_sigma)})
    return pd.DataFrame(rows).set_index("layer")


def zero_baseline(frame: pd.DataFrame, folds: Sequence[splits.Fold]) -> dict[str, Any]:
    """Scores of predicting 0 people everywhere: what a collapsed network scores."""
    y = frame[data.TARGET].to_numpy()
    parts = [(y[f.test], np.zeros(len(f.test), dtype=int)) for f in folds]
    return metrics.fold_summary(parts)


def confidence_summary(pred: pd.DataFrame) -> dict[str, float]:
    """Does the confidence vary across test rows? Spread of the chosen-class probability,
    predictive entropy and mutual information, and the share of confident rows."""
    return {
        "confidence_mean": float(pred["confidence"].mean()),
        "confidence_std": float(pred["confidence"].std()),
        "confidence_min": float(pred["confidence"].min()),
        "confidence_max": float(pred["confidence"].max()),
        "share_above_0_9": float((pred["confidence"] > 0.9).mean()),
        "entropy_mean": float(pred["entropy"].mean()),
        "entropy_max": float(pred["entropy"].max()),
        "mi_mean": float(pred["mi"].mean()),
        "mi_max": float(pred["mi"].max()),
        "mi_share_of_entropy": float(pred["mi"].sum() / max(pred["entropy"].sum(), 1e-12)),
    }


def seed_table(by_protocol: Mapping[str, Mapping[int, FittedFolds]]) -> pd.DataFrame:
    """Mean-over-folds and pooled scores of one final model, per protocol and seed."""
    rows = []
    for protocol, by_seed in by_protocol.items():
        for seed, run in by_seed.items():
            test, value = run.summary(), value_summary(run)
            rows.append({"protocol": protocol, "seed": seed,
                         "MSE (argmax)": test["mean"]["mse"],
                         "MSE (expected count)": value["mean"]["mse"],
                         "F1 macro": test["mean"]["f1_macro"],
                         "pooled MSE": test["pooled"]["mse"],
                         "pooled F1 macro": test["pooled"]["f1_macro"],
                         "epochs per fold": ", ".join(str(m.history.epochs)
                                                      for m in run.models)})
    return pd.DataFrame(rows)


def final_table(finals: Mapping[str, FinalModel]) -> pd.DataFrame:
    """Scores of every final model, protocol and seed (mean over folds and pooled)."""
    frames = [seed_table(m.runs).assign(model=key, label=m.label)
              for key, m in finals.items()]
    out = pd.concat(frames, ignore_index=True)
    return out[["model", "label", *[c for c in out.columns if c not in ("model", "label")]]]


#: Below this median ``sigma / |mu|`` the posterior's spread counts as small.
SIGMA_RATIO_SMALL = 0.3


#: Within this relative distance of their starting value in every layer, the posterior
#: standard deviations have not moved: the ratio shows the initialisation, not the data.
SIGMA_MOVED_SMALL = 0.2


#: Below this share of the entropy, the weight samples' disagreement (MI) is small.
MI_SHARE_SMALL = 0.2


#: Below this std of the top-class confidence, the confidence barely varies.
CONFIDENCE_STD_SMALL = 0.05
#: Up to this std it varies only a little: a cutoff is the book's choice, and a value just
#: above it should not read as the opposite of one just below.
CONFIDENCE_STD_NEAR = 0.075


def uncertainty_verdicts(sigma_ratio: float, mi_share: float, confidence_std: float,
                         sigma_moved: float) -> dict[str, str]:
    """The chapter's three readings of the final BNN's uncertainty, by stated thresholds.

    ``sigma``: first whether the posterior standard deviations moved from where
    training started them (``sigma_moved``, the largest relative distance over the
    layers, at least :data:`SIGMA_MOVED_SMALL`); a posterior that has not moved
    says nothing about the data, so only then is the median ``sigma / |mu|``
    compared with :data:`SIGMA_RATIO_SMALL`. ``mi``: mutual information's share
    of the predictive entropy below :data:`MI_SHARE_SMALL`; ``confidence``: the std
    of the top-class confidence below :data:`CONFIDENCE_STD_SMALL`. Returns the
    sentence for each.
    """
    still = sigma_moved < SIGMA_MOVED_SMALL
    if still:
        sigma = (f"shows the initialisation in its spread: in every layer the median "
                 f"standard deviation is within {100 * SIGMA_MOVED_SMALL:.0f} % of the value "
                 f"training started it at, so the spread of the weights says little about what "
                 f"the data taught (the rule reads the standard deviations, not the means)")
    elif sigma_ratio < SIGMA_RATIO_SMALL:
        sigma = "is small: every weight sample is nearly the same network"
    else:
        sigma = ("is not small: single weights vary a lot from sample to sample, but each "
                 "logit sums many independently perturbed weights, whose noise partly "
                 "cancels")
    mi = ("small: most of what the network is unsure about, it is unsure about with "
          "every weight sample" if mi_share < MI_SHARE_SMALL else
          "substantial: the weight samples disagree on many rows")
    if still:
        # the weight samples disagree as much as the starting sigmas let them, no more
        mi += (", but it measures the posterior spread training started from (the prior's "
               "sigma), not one the network learned")
    return {"sigma": sigma, "mi": mi, "confidence": confidence_verdict(confidence_std)}


def confidence_verdict(confidence_std: float) -> str:
    """Whether the top-class confidence varies across rows: "barely varies" below
    :data:`CONFIDENCE_STD_SMALL`, "varies only a little" below
    :data:`CONFIDENCE_STD_NEAR`, "does vary" otherwise."""
    if confidence_std < CONFIDENCE_STD_SMALL:
        return "barely varies"
    return "varies only a little" if confidence_std < CONFIDENCE_STD_NEAR else "does vary"


def confidence_by_seed(model: FinalModel, protocol: str, seeds: Sequence[int], fold: int
                       ) -> str:
    """:func:`confidence_verdict` for every seed of one final model on one fold, grouped
    by verdict ("does vary for seed 0 (0.086) and varies only a little for seeds 1 and 2
    (0.069, 0.063)"). Why: one seed's run can read the opposite way to the others, and a
    chapter that glued only the first seed's verdict would state it as the model's."""
    if not seeds:
        raise ValueError("confidence_by_seed needs at least one seed")
    groups: dict[str, list[tuple[int, float]]] = {}
    for seed in seeds:
        std = confidence_summary(model.predictions(protocol, seed, fold))["confidence_std"]
        groups.setdefault(confidence_verdict(std), []).append((seed, std))
    if len(groups) == 1 and len(seeds) > 1:
        (verdict, members), = groups.items()
        return (f"{verdict} for every seed "
                f"({', '.join(f'{std:.3f}' for _, std in members)})")
    return joined([f"{verdict} for {numbered('seed', [s for s, _ in members])} "
                   f"({', '.join(f'{std:.3f}' for _, std in members)})"
                   for verdict, members in groups.items()])


def seed_difference(table: pd.DataFrame, minuend: str, subtrahend: str,
                    protocol: str = "clean", column: str = "MSE (argmax)") -> str:
    """Two final models of :func:`final_table` paired by seed under one protocol
    (:func:`~occupancy_utils.protocol_gap.seed_difference`): does one score a
    different MSE from the other beyond the seed spread?"""
    per = {}
    for model in (minuend, subtrahend):
        rows = table[(table["model"] == model) & (table["protocol"] == protocol)]
        if rows.empty:
            raise ValueError(f"no {protocol}-protocol rows for {model!r}")
        per[model] = rows.set_index("seed")[column].to_dict()
    return protocol_gap.seed_difference(per[minuend], per[subtrahend])




def zero_table(zero: Mapping[str, Any], folds: Sequence[splits.Fold]) -> pd.DataFrame:
    """Per fold, the MSE and F1 macro of predicting 0 everywhere (:func:`zero_baseline`)."""
    return pd.DataFrame({"fold": [f.number for f in folds],
                         "MSE of predicting 0": [s["mse"] for s in zero["per_fold"]],
                         "F1 macro of predicting 0": [s["f1_macro"] for s in zero["per_fold"]]})


def collapse_numbers(zero: Mapping[str, Any], found: Sequence[pd.DataFrame]) -> dict[str, Any]:
    """The numbers the collapse paragraph glues: what predicting 0 scores (mean over the
    folds and on the last fold), and how many of the studies' fold trainings (``found``:
    one frame per protocol) predicted 0 on every test row."""
    return {"bnn_zero_mse": float(zero["mean"]["mse"]),
            "bnn_zero_f1": float(zero["mean"]["f1_macro"]),
            "bnn_zero_mse_last": float(zero["per_fold"][-1]["mse"]),
            "bnn_n_collapsed": int(sum(len(c) for f in found for c in f["collapsed_folds"])),
            "bnn_n_fold_runs": int(sum(len(r) for f in found for r in f["folds"]))}


def book_key(finals: Mapping[str, FinalModel]) -> str:
    """The final model the chapter shows as the book's: the clean protocol's own choice
    (``bnn_selected``) where it differs from the report's configuration, else ``bnn``."""
    return "bnn_selected" if "bnn_selected" in finals else "bnn"


def table_7_beside(final_scores: pd.DataFrame, report: Mapping[str, Any]) -> pd.DataFrame:
    """:func:`final_table` with the report's Table 7 BNN row beside the run it corresponds
    to (the report's configuration under the report protocol)."""
    row = next(r for r in report["table_7_comparison"] if r[0] == "BNN")
    beside = (final_scores["model"] == "bnn") & (final_scores["protocol"] == "report")
    return final_scores.assign(**{"MSE (report, Table 7)": beside.map({True: row[1]}),
                                  "F1 macro (report, Table 7)": beside.map({True: row[2]})})


def final_numbers(final_scores: pd.DataFrame, finals: Mapping[str, FinalModel],
                  report: Mapping[str, Any], report_t3_f1: float, other_kl: str
                  ) -> dict[str, Any]:
    """The numbers the final models' paragraph glues: the report's Table 7 row (and its
    Table 3 F1 for the same configuration, ``report_t3_f1``), the finals' means and
    ranges over seeds, and the paired verdicts on the KL scaling (``other_kl``) and the
    per-fold choice (:func:`seed_difference`)."""
    scores = final_scores.groupby(["model", "protocol"])[
        ["MSE (argmax)", "MSE (expected count)", "F1 macro"]].agg(["mean", "min", "max"])
    t7 = next(r for r in report["table_7_comparison"] if r[0] == "BNN")
    picks = {"bnn_final_report_mse": ("bnn", "report", "MSE (argmax)", "mean"),
             "bnn_final_report_f1": ("bnn", "report", "F1 macro", "mean"),
             "bnn_final_report_min": ("bnn", "report", "MSE (argmax)", "min"),
             "bnn_final_report_max": ("bnn", "report", "MSE (argmax)", "max"),
             "bnn_final_clean_mse": ("bnn", "clean", "MSE (argmax)", "mean"),
             "bnn_final_clean_value_mse": ("bnn", "clean", "MSE (expected count)", "mean"),
             "bnn_final_clean_f1": ("bnn", "clean", "F1 macro", "mean"),
             "bnn_other_kl_mse": (f"bnn_{other_kl}", "clean", "MSE (argmax)", "mean"),
             "bnn_other_kl_f1": (f"bnn_{other_kl}", "clean", "F1 macro", "mean")}
    out: dict[str, Any] = {"bnn_t7_mse": float(t7[1]), "bnn_t7_f1": float(t7[2]),
                           "bnn_t3_f1": float(report_t3_f1)}
    out.update({name: float(scores.loc[(m, p), (column, stat)])
                for name, (m, p, column, stat) in picks.items()})
    out["bnn_other_kl"] = other_kl
    out["bnn_book_key"] = book_key(finals)
    out["bnn_kl_difference"] = seed_difference(final_scores, f"bnn_{other_kl}", "bnn")
    out["bnn_choice_difference"] = (seed_difference(final_scores, "bnn_selected", "bnn")
                                    if "bnn_selected" in finals else "not run in this profile")
    return out


def confidence_by_model(finals: Mapping[str, FinalModel], seed: int, fold: int
                        ) -> dict[str, pd.DataFrame]:
    """Each final model's predictions on one fold and seed, under every protocol it ran
    ("<model> (<protocol>)" -> frame): what the confidence table and histogram show."""
    return {f"{key} ({protocol})": m.predictions(protocol, seed, fold)
            for key, m in finals.items() for protocol in m.runs}


def lead_reading(found: pd.DataFrame) -> str:
    """Whether the report protocol's lowest mean test MSE leads by more than weight sampling
    alone moves a score.

    Under the report protocol the monitored part is the test fold, so ``val_mse`` is the
    same trained networks predicting the same test rows with other weight samples; the
    median of ``|test_mse - val_mse|`` over the configurations is how far sampling alone
    moves one. A lead smaller than that is called a near tie.
    """
    if "protocol" in found and (found["protocol"] != "report").any():
        raise ValueError("lead_reading reads the report protocol's studies only")
    unique = found.drop_duplicates(list(PARAM_KEYS)).sort_values("test_mse", kind="stable")
    if len(unique) < 2:
        raise ValueError("a lead needs two configurations or more")
    best, second = unique.iloc[0], unique.iloc[1]
    lead = float(second["test_mse"] - best["test_mse"])
    noise = float((unique["test_mse"] - unique["val_mse"]).abs().median())
    said = (f"more than the median {noise:.3f} by which new weight samples alone move a "
            f"configuration's score" if lead > noise else
            f"less than the median {noise:.3f} by which new weight samples alone move a "
            f"configuration's score, so it is a near tie")
    return (f"it leads the next, {config_text(second)} ({float(second['test_mse']):.3f}), by "
            f"{lead:.3f}, {said} (the same trained networks predicting the same test rows "
            f"again: the column book val. MSE against book MSE)")


def people_rows(frame: pd.DataFrame, folds: Sequence[splits.Fold]) -> str:
    """The fewest and most people-present rows of a test part, over the folds."""
    counts = [int((frame[data.TARGET].to_numpy()[f.test] > 0).sum()) for f in folds]
    return f"from {min(counts)} to {max(counts)}"


def protocols_reading(table_report: pd.DataFrame, table_clean: pd.DataFrame) -> str:
    """Row by row over the configurations both protocols trained (:func:`study_table`
    rows, in the same order): on how many the clean protocol's test MSE is lower, and on
    how many the book's F1 macro is below the report's under the report protocol."""
    both = pd.DataFrame({"report": table_report["book MSE"].to_numpy(),
                         "clean": table_clean["book MSE"].to_numpy(),
                         "key": (table_report["lr"].astype(str) + "|"
                                 + table_report["hidden"].astype(str) + "|"
                                 + table_report["layers"].astype(str)).to_numpy()})
    both = both.dropna().drop_duplicates("key")
    if both.empty:
        raise ValueError("no configuration was trained under both protocols")
    lower = int((both["clean"] < both["report"]).sum())
    f1 = table_report.dropna(subset=["book F1"])
    below = int((f1["book F1"] < f1["report F1"]).sum())
    return (f"on {lower} of the {len(both)} configurations trained under both protocols the "
            f"clean protocol's test MSE is the lower, although it stops on a tail instead of "
            f"the test part; and under the report protocol the book's F1 macro is below the "
            f"report's in {below} of the {len(f1)} rows of the report-protocol table (the "
            f"report's lr 0.01, 1 x 64 appears twice there)")


def beyond_zero(finals: Mapping[str, FinalModel]) -> str:
    """Every final model's folds whose test MSE is above predicting 0 everywhere
    (:func:`~occupancy_utils.finals.above_zero`), with the number of seeds that did so:
    the failures a mean over few seeds hides."""
    return failures_text(above_zero_by_key({key: m.runs for key, m in finals.items()}))


def worst_fold_reading(finals: Mapping[str, FinalModel],
                       keys: Sequence[str] = ("bnn", "bnn_selected")) -> str:
    """What the final runs of ``keys`` that score *below* predicting 0 people everywhere on
    a fold (those above it are listed as failures already) do there, on the fold where their
    median accuracy falls furthest below predicting 0's: the share of the fold's rows that
    are empty, the share the runs predict as 0, the share they get right, and the count
    they give the empty rows most. A run can stay below predicting 0's MSE and still
    misread a fold."""
    runs: dict[int, list[tuple[str, pd.DataFrame]]] = {}
    for key in keys:
        if key not in finals:
            continue
        for protocol, by_seed in finals[key].runs.items():
            for fitted in by_seed.values():
                for pred in fitted.predictions:
                    if not worse_than_zero(pred):
                        runs.setdefault(int(pred["fold"].iloc[0]), []).append(
                            (f"{key} ({protocol})", pred))
    if not runs:
        raise ValueError(f"no final run of {list(keys)} scores below predicting 0 on any fold")

    def shortfall(fold: int) -> float:
        empty = float((runs[fold][0][1]["y_true"] == 0).mean())
        return empty - float(np.median([(p["y_pred"] == p["y_true"]).mean()
                                        for _, p in runs[fold]]))

    fold = max(sorted(runs), key=shortfall)
    preds = [p for _, p in runs[fold]]
    names = ", ".join(dict.fromkeys(name for name, _ in runs[fold]))
    empty = float((preds[0]["y_true"] == 0).mean())
    zero = [float((p["y_pred"] == 0).mean()) for p in preds]
    right = [float((p["y_pred"] == p["y_true"]).mean()) for p in preds]
    on_empty = pd.concat([p.loc[p["y_true"] == 0, "y_pred"] for p in preds])
    most = int(on_empty.mode().iloc[0]) if len(on_empty) else 0
    share = float((on_empty == most).mean()) if len(on_empty) else 0.0
    return (f"on fold {fold}, where {pct(empty)} of the test rows are empty, the "
            f"{len(preds)} runs that score below predicting 0 there ({names}) predict 0 "
            f"people on {pct(min(zero))} to {pct(max(zero))} of the fold's rows and get "
            f"{pct(min(right))} to {pct(max(right))} of them right, against {pct(empty)} for "
            f"predicting 0 everywhere; on the empty rows they predict {most} "
            f"{'person' if most == 1 else 'people'} {pct(share)} of the time")


def same_model_note(finals: Mapping[str, FinalModel], fold: int) -> str:
    """Whether ``bnn_selected`` is ``bnn`` on ``fold`` (that fold chose the report's
    configuration, so the two are one model and one seed there): a sentence, or ""."""
    if "bnn_selected" not in finals:
        return ""
    if finals["bnn_selected"].chosen[fold] != finals["bnn"].chosen[fold]:
        return ""
    return (f" On fold {fold} the per-fold choice is the report's configuration, so "
            f"bnn_selected and bnn under the clean protocol are the same model there: their "
            f"rows agree and one histogram line hides the other.")
