"""Chapter 4's tables and computed verdicts, apart from the CRF code whose results are stored.

Everything here reads what :mod:`~occupancy_utils.crf_study` computed (the
search tables, the final runs, the configurations chosen) and turns it into
the chapter's tables, the numbers its text glues and its verdicts on the
report's findings, each by a rule stated beside it. None of it is reached by a
search's objective, so editing it keeps every stored search
(:mod:`~occupancy_utils.cache_key`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import experiment, nested, protocol_gap, splits
from ..crf_finals import seed_score
from ..crf_study import (
    FEATURES,
    FoldRun,
    best_params,
    label_changes,
    summarize_runs,
)
from ..models.crf import LAYOUTS, parse_layout
from ..paths import results_dir
from ..results import atomic_write
from ..tables import plural


def _key(frame: pd.DataFrame) -> pd.Series:
    return (frame["hidden"].astype(str) + "|" + frame["lr"].map(lambda v: f"{float(v):g}") + "|"
            + frame["seq_len"].astype(int).astype(str))


def report_table_2(report: Mapping[str, Any]) -> pd.DataFrame:
    """The report's Table 2 rows as a frame, with their rank in the report."""
    rows = pd.DataFrame(report["table_2_top_results"],
                        columns=["hidden", "lr", "seq_len", "mse", "f1_macro", "f1_micro"])
    rows.insert(0, "report_rank", np.arange(1, len(rows) + 1))
    return rows


def table_2(grid: pd.DataFrame, report: Mapping[str, Any]) -> pd.DataFrame:
    """The report's Table 2 rows, each beside the book's numbers for the same configuration.

    ``book_rank`` is the configuration's rank in the book's grid; it is empty
    when the book's grid (e.g. the quick profile's sub-grid) lacks it.
    """
    rep = report_table_2(report)
    book = grid.set_index(_key(grid))
    out = rep[["report_rank", "hidden", "lr", "seq_len"]].copy()
    keys = _key(rep)
    for metric in ("mse", "f1_macro", "f1_micro"):
        out[f"{metric} (report)"] = rep[metric]
        out[f"{metric} (book)"] = keys.map(book[metric]).to_numpy()
    out["mse book - report"] = out["mse (book)"] - out["mse (report)"]
    out["book_rank"] = keys.map(book["rank"]).astype("Int64")
    return out


def top_table(grid: pd.DataFrame, report: Mapping[str, Any], n: int) -> pd.DataFrame:
    """The book's best ``n`` configurations, with the report's numbers where it lists them."""
    if n < 1:
        raise ValueError(f"top_n must be positive, got {n}")
    rep = report_table_2(report)
    rep = rep.set_index(_key(rep))
    top = grid.head(n)
    keys = _key(top)
    out = top[["rank", "hidden", "lr", "seq_len"]].copy()
    for metric in ("mse", "f1_macro", "f1_micro"):
        out[f"{metric} (book)"] = top[metric]
        out[f"{metric} (report)"] = keys.map(rep[metric]).to_numpy()
    out["report_rank"] = keys.map(rep["report_rank"]).astype("Int64")
    return out.reset_index(drop=True)


def collapse_table(grid: pd.DataFrame) -> pd.DataFrame:
    """Per layout and learning rate: how many sequence lengths collapsed to class 0, and where.

    A configuration collapses on a fold when it predicts only class 0 there
    although people were present (the report's second finding).
    """
    g = grid.assign(on_last=grid["collapsed_folds"].str.split(",").apply(lambda f: "4" in f))
    out = g.groupby(["hidden", "lr"], observed=True).agg(
        configurations=("seq_len", "size"), collapsed_somewhere=("collapsed", "sum"),
        collapsed_on_fold_4=("on_last", "sum"), mean_mse=("mse", "mean"))
    return out.reset_index()


def protocol_table(grids: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per protocol: the configuration it selects, and that configuration's scores.

    ``test mse`` is what the chapter reports for it; under the report protocol
    it is also what selected it, which is why it is optimistic.
    """
    rows = []
    for protocol, grid in grids.items():
        chosen = best_params(grid, protocol)
        row = grid.loc[_key(grid) == _key(pd.DataFrame([chosen])).iloc[0]].iloc[0]
        rows.append({"protocol": protocol,
                     "selected on": "mean test MSE" if protocol == "report"
                     else "mean validation MSE",
                     # the report protocol monitors the test part: it has no validation
                     **chosen, "validation mse": row["val_mse"] if protocol == "clean"
                     else float("nan"), "test mse": row["mse"],
                     "test f1_macro": row["f1_macro"], "test mse (pooled)": row["pooled_mse"],
                     "best test mse in grid": grid["mse"].min()})
    return pd.DataFrame(rows)


def changes_table(runs: Sequence[FoldRun]) -> pd.DataFrame:
    """Label changes inside chunks and at chunk starts: truth, chunk-wise and whole-fold."""
    rows = []
    for name, attr in (("truth", "y_true"), ("chunk-wise Viterbi", "chunk_pred"),
                       ("whole-fold Viterbi", "whole_pred")):
        counts = [label_changes(getattr(r, attr), r.seq_len) for r in runs]
        inside = sum(c["inside"] for c in counts)
        starts = sum(c["at_starts"] for c in counts)
        rows.append({"labels": name, "changes inside chunks": inside,
                     "changes at chunk starts": starts, "all changes": inside + starts,
                     "share at chunk starts": starts / (inside + starts) if inside + starts
                     else np.nan})
    return pd.DataFrame(rows)


def decoding_table(runs: Sequence[FoldRun]) -> pd.DataFrame:
    """Mean-over-folds and pooled scores of chunk-wise against whole-fold decoding."""
    rows = []
    for kind, name in (("chunks", "chunk-wise"), ("whole", "whole-fold")):
        s = summarize_runs(runs, kind)
        rows.append({"decoding": name,
                     **{f"{k} (mean over folds)": v for k, v in s["mean"].items()},
                     **{f"{k} (pooled)": v for k, v in s["pooled"].items()}})
    return pd.DataFrame(rows)


def chunk_table(frame: pd.DataFrame, folds: Sequence[splits.Fold], seq_lens: Sequence[int],
                protocol: str, val_fraction: float) -> pd.DataFrame:
    """Rows of every training and monitor part, and the tail rows each sequence length drops."""
    rows = []
    for fold in folds:
        parts = experiment.fold_parts(frame, fold, FEATURES, protocol, val_fraction)
        for part in ("fit", "monitor"):
            n = len(parts.x[part])
            rows.append({"fold": fold.number, "part": part, "rows": n,
                         **{f"chunks of {L} (rows dropped)": f"{n // L} ({n % L})"
                            for L in seq_lens}})
    return pd.DataFrame(rows)


def publish_csv(table: pd.DataFrame, profile: str, name: str) -> Path:
    """Write a table under results/<profile>/site/, which the build serves beside the pages."""
    path = results_dir(profile) / "site" / f"{name}.csv"
    return atomic_write(path, lambda tmp: table.to_csv(tmp, index=False, float_format="%.6g"))


def _seed_mean(by_seed: Mapping[int, Sequence[FoldRun]], kind: str, which: str, key: str
               ) -> float:
    return experiment.seed_mean((summarize_runs(runs, kind) for runs in by_seed.values()),
                                which, key)


def final_table(final: Mapping[str, Mapping[int, Sequence[FoldRun]]],
                chosen: Mapping[str, Mapping[int, Mapping[str, Any]]],
                report_row: Sequence[Any] | None = None) -> pd.DataFrame:
    """The retrained models: scores averaged over seeds, per protocol and decoding.

    ``report_row`` is the report's Table 7 row for the CRF ([name, mse, f1_macro]),
    shown beside the report protocol's chunk-wise model, which is what it
    corresponds to.
    """
    rows = []
    for protocol, by_seed in final.items():
        for kind, label in (("chunks", "chunk-wise"), ("whole", "whole-fold")):
            row = {"protocol": protocol, "decoding": label,
                   "configuration": choice_label(chosen[protocol]), "seeds": len(by_seed),
                   **{f"{k} (mean over folds)": _seed_mean(by_seed, kind, "mean", k)
                      for k in ("mse", "f1_macro")},
                   # ddof 1, the standard deviation every interval of the book builds on
                   "mse std over seeds": float(np.std(
                       [summarize_runs(runs, kind)["mean"]["mse"] for runs in by_seed.values()],
                       ddof=1)) if len(by_seed) > 1 else np.nan,
                   **{f"{k} (pooled)": _seed_mean(by_seed, kind, "pooled", k)
                      for k in ("mse", "f1_macro")}}
            if report_row is not None:
                same = protocol == "report" and kind == "chunks"
                row["mse (report, Table 7)"] = float(report_row[1]) if same else np.nan
                row["f1_macro (report, Table 7)"] = float(report_row[2]) if same else np.nan
            rows.append(row)
    return pd.DataFrame(rows)


def config_label(params: Mapping[str, Any]) -> str:
    """'hidden 32, lr 0.0007, seq_len 25' for the text."""
    return (f"hidden {params['hidden']}, lr {float(params['lr']):g}, "
            f"seq_len {int(params['seq_len'])}")


def choice_label(chosen: Mapping[int, Mapping[str, Any]]) -> str:
    """One configuration's label when every fold uses it, else 'per fold: k different'."""
    labels = {config_label(p) for p in chosen.values()}
    return labels.pop() if len(labels) == 1 else f"per fold: {len(labels)} different"


def choice_table(chosen: Mapping[str, Mapping[int, Mapping[str, Any]]]) -> pd.DataFrame:
    """Per protocol and fold, the configuration that fold's final model uses."""
    return nested.agreement_table({f"{p} protocol": by_fold for p, by_fold in chosen.items()})


def _row(table: pd.DataFrame, params: Mapping[str, Any]) -> pd.Series:
    """The grid table's row of one configuration."""
    return table.loc[_key(table) == _key(pd.DataFrame([params])).iloc[0]].iloc[0]


def chosen_scores(table: pd.DataFrame, chosen: Mapping[int, Mapping[str, Any]]
                  ) -> dict[str, float]:
    """The search's own scores of each fold's choice on that fold, averaged over the folds:
    ``val_mse`` on the validation tails (what chose them), ``test_mse`` on the test parts."""
    val, test = [], []
    for k, params in sorted(chosen.items()):  # fold k's scores sit at position k - 1
        row = _row(table, params)
        val.append(float(row["val_mse_folds"][k - 1]))
        test.append(float(row[f"mse_fold{k}"]))
    return {"val_mse": float(np.mean(val)), "test_mse": float(np.mean(test))}


def price_by_fold(table: pd.DataFrame, chosen: Mapping[int, Mapping[str, Any]]) -> str:
    """What choosing on the tails cost fold by fold, in the search's own runs: each fold's
    chosen configuration's test MSE on that fold minus that of the configuration with the
    lowest mean test MSE, divided by the number of folds (so the parts add up to the gap
    between the two means)."""
    best = table.loc[table["mse"].idxmin()]
    n = len(chosen)
    parts = []
    for k, params in sorted(chosen.items()):
        row = _row(table, params)
        cost = (float(row[f"mse_fold{k}"]) - float(best[f"mse_fold{k}"])) / n
        parts.append(f"fold {k} {cost:+.3f}")
    return ", ".join(parts)


def price_by_seed(seed_mses: Sequence[float], best: float) -> str:
    """The same price for each retrained seed of the clean choices: its mean-over-folds test
    MSE minus the clean grid's best test MSE (``best``), with the median, because one
    seed's failed fold can make the whole of a single run's price."""
    if not seed_mses:
        return "not run"
    prices = [v - best for v in seed_mses]
    median = f" (median {np.median(prices):+.3f})" if len(prices) > 1 else ""
    return ", ".join(f"{p:+.3f}" for p in prices) + median


def findings(grids: Mapping[str, pd.DataFrame],
             final: Mapping[str, Mapping[int, Sequence[FoldRun]]],
             report: Mapping[str, Any], table_7_row: Sequence[Any],
             chosen: Mapping[str, Mapping[int, Mapping[str, Any]]]) -> dict[str, Any]:
    """The numbers the chapter's text quotes, under names for myst-nb glue.

    Values that may not exist in a profile (a report configuration outside a
    sub-grid) are glued as ready-made text.
    """
    grid = grids["report"]
    best, rep_best = grid.iloc[0], report_table_2(report).iloc[0]
    rep_key = _key(report_table_2(report).head(1)).iloc[0]
    match = grid.loc[_key(grid) == rep_key]
    first_runs = next(iter(final["report"].values()))
    changes = changes_table(first_runs).set_index("labels")
    collapsed = grid.loc[grid["collapsed"]]
    on_last = collapsed["collapsed_folds"].str.split(",").apply(lambda f: "4" in f)
    clean = grids["clean"]
    clean_scores = chosen_scores(clean, chosen["clean"])
    mean_choice = best_params(clean, "clean")
    all_changes = grid["changes_inside"] + grid["changes_at_starts"]
    collapsed_folds = sorted({int(f) for folds in collapsed["collapsed_folds"]
                              for f in str(folds).split(",") if f})
    report_seeds = [seed_score(runs, "chunks", "mse") for runs in final["report"].values()]
    clean_seeds = [seed_score(runs, "chunks", "mse") for runs in final.get("clean", {}).values()]
    out = {
        "crf_n_configs": len(grid),
        "crf_best_config": config_label(best),
        "crf_best_mse": float(best["mse"]),
        "crf_best_f1_macro": float(best["f1_macro"]),
        "crf_best_f1_micro": float(best["f1_micro"]),
        "crf_best_folds": fold_scores(best),
        "crf_layout_reading": layout_reading(grid, report),
        "crf_report_best_config": config_label(rep_best),
        "crf_report_best_mse": float(rep_best["mse"]),
        "crf_report_best_f1_macro": float(rep_best["f1_macro"]),
        "crf_report_best_in_book": (
            f"{match.iloc[0]['mse']:.3f} (rank {int(match.iloc[0]['rank'])} of {len(grid)})"
            if len(match) else "not available: this profile's grid does not contain it"),
        "crf_clean_config": "; ".join(f"fold {k}: {config_label(p)}"
                                      for k, p in sorted(chosen["clean"].items())),
        "crf_clean_distinct": nested.distinct(chosen["clean"]),
        "crf_clean_distinct_text": plural(nested.distinct(chosen["clean"]),
                                          "different configuration"),
        "crf_clean_mean_config": config_label(mean_choice),
        "crf_clean_val_mse": clean_scores["val_mse"],
        "crf_clean_test_mse": clean_scores["test_mse"],
        "crf_clean_best_test_mse": float(clean["mse"].min()),
        # the clean grid's best test score beside the report grid's (both picked on test,
        # one run each: no direction is read into their difference)
        "crf_clean_best_vs_report": f"the report grid's best is {float(best['mse']):.3f}",
        # what the clean choice gives up against picking on test, in the same search runs
        "crf_clean_price": clean_scores["test_mse"] - float(clean["mse"].min()),
        "crf_clean_price_folds": price_by_fold(clean, chosen["clean"]),
        "crf_clean_price_seeds": price_by_seed(clean_seeds, float(clean["mse"].min())),
        # does the validation tail rank configurations as the test part does?
        "crf_clean_val_test_spearman": float(clean["val_mse"].rank().corr(clean["mse"].rank()))
        if len(clean) > 2 else float("nan"),
        "crf_report_seed_mses": ", ".join(f"{v:.3f}" for v in report_seeds),
        "crf_clean_seed_mses": ", ".join(f"{v:.3f}" for v in clean_seeds) or "not run",
        "crf_collapsed_folds": ", ".join(str(f) for f in collapsed_folds) or "none",
        # the share of label changes at chunk starts if changes fell anywhere
        "crf_grid_share_expected": float((1 / grid["seq_len"].astype(float)).mean()),
        "crf_collapsed_n": int(len(collapsed)),
        "crf_collapsed_last_n": int(on_last.sum()),
        "crf_collapsed_layouts": ", ".join(
            h for h in [*LAYOUTS, *sorted(set(grid["hidden"].astype(str)) - set(LAYOUTS))]
            if h in set(collapsed["hidden"].astype(str))) or "none",
        "crf_seq_len": int(first_runs[0].seq_len),
        "crf_grid_share_at_starts": float(grid["changes_at_starts"].sum() / all_changes.sum())
        if all_changes.sum() else float("nan"),
        "crf_table7_mse": float(table_7_row[1]),
        "crf_table7_f1_macro": float(table_7_row[2]),
    }
    for labels, prefix in (("truth", "true"), ("chunk-wise Viterbi", "chunk"),
                           ("whole-fold Viterbi", "whole")):
        out[f"crf_{prefix}_inside"] = int(changes.loc[labels, "changes inside chunks"])
        out[f"crf_{prefix}_starts"] = int(changes.loc[labels, "changes at chunk starts"])
    out["crf_chunk_finding"] = chunk_finding(out["crf_chunk_inside"], out["crf_chunk_starts"])
    # the report's figure (and so its finding) shows the last fold only
    last = changes_table(first_runs[-1:]).set_index("labels").loc["chunk-wise Viterbi"]
    out["crf_chunk_finding_last"] = chunk_finding(int(last["changes inside chunks"]),
                                                  int(last["changes at chunk starts"]))
    out["crf_last_fold"] = int(first_runs[-1].fold)
    out["crf_collapse_finding"] = collapse_finding(grid)
    out["crf_single_class"] = single_class_folds(final)
    out["crf_val_test_reading"] = val_test_agreement(clean)
    out["crf_table2_reading"] = table_2_reading(table_2(grid, report))
    seeds = seed_mses(final)
    out["crf_finals_difference"] = (
        protocol_gap.seed_difference(seeds["clean"], seeds["report"])
        if {"clean", "report"} <= set(seeds) and set(seeds["clean"]) == set(seeds["report"])
        else "not judged: the two protocols were not run with the same seeds")
    for protocol, by_seed in final.items():
        out[f"crf_decoding_{protocol}"] = protocol_gap.seed_difference(
            {s: seed_score(runs, "whole", "mse") for s, runs in by_seed.items()},
            {s: seed_score(runs, "chunks", "mse") for s, runs in by_seed.items()})
    for protocol, by_seed in final.items():
        for kind in ("chunks", "whole"):
            out[f"crf_final_{protocol}_{kind}_mse"] = _seed_mean(by_seed, kind, "mean", "mse")
            out[f"crf_final_{protocol}_{kind}_f1_macro"] = _seed_mean(by_seed, kind, "mean",
                                                                      "f1_macro")
    return out


def seed_mses(final: Mapping[str, Mapping[int, Sequence[FoldRun]]], kind: str = "chunks"
              ) -> dict[str, dict[int, float]]:
    """Per protocol and seed, the mean-over-folds test MSE of one decoding: what the
    protocols' paired comparisons read."""
    return {p: {s: seed_score(runs, kind, "mse") for s, runs in by_seed.items()}
            for p, by_seed in final.items()}


#: The report's finding (a chunk keeps the label of its first element) holds when at
#: most this share of the chunk-wise path's label changes fall inside chunks.
FINDING_INSIDE_SHARE = 0.5
#: ... and is judged only on at least this many label changes: with fewer, one change
#: decides the share.
FINDING_MIN_CHANGES = 5


def chunk_finding(inside: int, starts: int) -> str:
    """The verdict on the report's chunk finding, by :data:`FINDING_INSIDE_SHARE`.

    If chunks kept their first label, the chunk-wise path would change label
    mostly where a chunk starts; changes spread over a chunk's positions say
    that the transitions do not hold the label.
    """
    if inside < 0 or starts < 0:
        raise ValueError(f"label change counts must be non-negative, got {inside}, {starts}")
    total = inside + starts
    if total < FINDING_MIN_CHANGES:
        return (f"cannot be judged here: the chunk-wise path changes label "
                f"{plural(total, 'time')} (the rule needs at least {FINDING_MIN_CHANGES})")
    share = inside / total
    verdict = "holds" if share <= FINDING_INSIDE_SHARE else "does not hold"
    return (f"{verdict}: {share:.0%} of the chunk-wise path's {total} label changes fall "
            f"inside chunks")


def single_class_folds(final: Mapping[str, Mapping[int, Sequence[FoldRun]]]) -> str:
    """The retrained runs that give every test row of a fold one class (chunk-wise) although
    the fold holds several: a failure the collapse count (class 0 only) misses, and one
    that dominates a seed mean. "none" when no run does."""
    found = []
    for protocol, by_seed in final.items():
        for seed, runs in by_seed.items():
            for run in runs:
                classes = np.unique(run.chunk_pred)
                if len(classes) == 1 and len(np.unique(run.y_true)) > 1:
                    found.append(f"{protocol} protocol, seed {seed}: class {int(classes[0])} "
                                 f"on every test row of fold {run.fold}")
    return "; ".join(found) or "none"


#: Over a fold's configurations, a Spearman correlation between validation and test MSE
#: below this says the validation tail tells little about the test part.
RANKS_AGREE = 0.3


def val_test_agreement(clean: pd.DataFrame) -> str:
    """Per fold, the Spearman correlation between the configurations' validation MSE (the
    fold's own tail, on which it chooses) and their test MSE, read by
    :data:`RANKS_AGREE`: the nested choice is made per fold, so the agreement that
    matters is per fold."""
    folds = sorted(int(c.removeprefix("mse_fold")) for c in clean.columns
                   if c.startswith("mse_fold"))
    if len(clean) < 3 or not folds:
        return "cannot be judged: fewer than three configurations"
    rhos = []
    for k in folds:
        val = clean["val_mse_folds"].map(lambda v, k=k: float(v[k - 1]))
        rhos.append(float(val.rank().corr(clean[f"mse_fold{k}"].rank())))
    agree = sum(r >= RANKS_AGREE for r in rhos)
    values = ", ".join(f"fold {k} {r:+.2f}" for k, r in zip(folds, rhos, strict=True))
    return (f"{values}: on {agree} of {len(folds)} folds the tail ranks the configurations "
            f"like the test part (a correlation of at least {RANKS_AGREE:g})")


#: The book's Table 2 ranks the report's rows like the report when the Spearman
#: correlation of the two MSEs over those rows is at least this.
TABLE2_AGREES = 0.5


def table_2_reading(t2: pd.DataFrame) -> str:
    """Whether the book ranks the report's Table 2 rows as the report does (:func:`table_2`),
    by :data:`TABLE2_AGREES`."""
    both = t2.dropna(subset=["mse (book)", "mse (report)"])
    if len(both) < 3:
        return ("Whether the book ranks the report's Table 2 rows as the report does cannot be "
                "judged here: fewer than three of them are in this grid")
    rho = float(both["mse (book)"].rank().corr(both["mse (report)"].rank()))
    verdict = "ranks them as the report does" if rho >= TABLE2_AGREES else "does not rank " \
        "them as the report does"
    return (f"Over the {len(both)} rows of the report's Table 2 in this grid, the Spearman "
            f"correlation between the book's and the report's MSE is {rho:+.2f}: the book "
            f"{verdict} (the rule: at least {TABLE2_AGREES:g})")


def layout_reading(grid: pd.DataFrame, report: Mapping[str, Any]) -> str:
    """How many of the book's best configurations (as many as the report's Table 2 has
    rows) have several hidden layers, against the report's Table 2: where the two grids
    favour different layouts, the differences are not one run's noise."""
    rep = report_table_2(report)
    top = grid.sort_values("mse", kind="stable").head(len(rep))

    def deep(hidden: pd.Series) -> int:
        return int(hidden.astype(str).map(lambda h: len(parse_layout(h)) > 1).sum())

    common = top["hidden"].astype(str).value_counts()
    return (f"{deep(top['hidden'])} of the book's {len(top)} best configurations have two or "
            f"more hidden layers (the most common layout is {common.index[0]}, "
            f"{int(common.iloc[0])} times), against {deep(rep['hidden'])} of the report's "
            f"{len(rep)} Table 2 rows")


def fold_scores(row: pd.Series) -> str:
    """A configuration's test MSE fold by fold, for the text."""
    folds = sorted(int(c.removeprefix("mse_fold")) for c in row.index
                   if c.startswith("mse_fold") and c.removeprefix("mse_fold").isdigit())
    return ", ".join(f"{float(row[f'mse_fold{k}']):.3f}" for k in folds)


#: The report's collapse finding holds when more than this share of the configurations
#: that collapse somewhere match its pattern: a collapse on the last fold, in a layout
#: of two or more hidden layers, at a learning rate above the grid's median.
COLLAPSE_PATTERN_SHARE = 0.5


def collapse_finding(grid: pd.DataFrame) -> str:
    """The verdict on the report's collapse finding, by :data:`COLLAPSE_PATTERN_SHARE`.

    The report saw "deeper networks with large learning rates" predict only
    class 0 on the last split. A configuration matches that pattern when it
    collapses on the grid's last fold, has two or more hidden layers and a
    learning rate above the median of the grid's learning rates; collapses
    spread over shallow layouts, small rates or earlier folds do not show it.
    """
    folds = sorted(int(c.removeprefix("mse_fold")) for c in grid.columns
                   if c.startswith("mse_fold"))
    if not folds:
        raise ValueError("the grid has no per-fold columns (mse_fold<k>)")
    collapsed = grid.loc[grid["collapsed"].astype(bool)]
    if collapsed.empty:
        return f"does not appear: none of the {len(grid)} configurations collapses on any fold"
    median_lr = float(np.median(grid["lr"].astype(float).unique()))
    on_last = collapsed["collapsed_folds"].astype(str).str.split(",").apply(
        lambda f: str(folds[-1]) in f)
    deep = collapsed["hidden"].astype(str).str.count("-") >= 1
    large = collapsed["lr"].astype(float) > median_lr
    match = int((on_last & deep & large).sum())
    verdict = ("holds" if match / len(collapsed) > COLLAPSE_PATTERN_SHARE
               else "does not hold")
    pattern = (f"fold {folds[-1]}, two or more hidden layers, learning rate above the grid's "
               f"median {median_lr:g}")
    if len(collapsed) == 1:
        return (f"{verdict}: the only configuration that collapses "
                f"{'matches' if match else 'does not match'} the pattern ({pattern})")
    return (f"{verdict}: {match} of the {len(collapsed)} configurations that collapse "
            f"match the pattern ({pattern})")


