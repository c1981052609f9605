"""The report map: each table, figure and inconsistency of the report beside the book's number.

Every verdict comes from one stated rule, so that a row can fail:

- a number is **reproduced** when the report's value, allowing for the digits
  it was rounded to, lies between the smallest and the largest of the book's
  per-seed values (report protocol, fold mean, as the report averaged); it
  **differs** otherwise; with a single seed there is no spread, and the row is
  **not judged**. A seed whose run *failed* (on some fold, an MSE above that of
  predicting 0 people on every row of it, :func:`failed_seeds`) is left out of the
  range and named in the notes with the range it would have given: a range widened by
  a failed training would make a reproduction easier the less stable the training;
- a row with an MSE and an F1 is reproduced only when both are, and differs
  when either differs;
- a figure is **redrawn** from code and not counted: a picture has no number
  to compare;
- an inconsistency of the report is **supported** when the book's numbers fit
  the explanation the book gives under the same rule, **not supported** when
  they fit the other reading, **not judged** otherwise; a remark that no number
  can test is a **remark**, its text in the notes column;
- the report's slip (early stopping on the test fold) is **fixed** (the clean
  protocol runs beside it), and the notes say whether the report **states** it
  or the book **assumes** it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import nested

REPRODUCED, DIFFERS, NOT_JUDGED = "reproduced", "differs", "not judged"
REDRAWN, REMARK, FIXED = "redrawn", "remark", "fixed"
SUPPORTED, NOT_SUPPORTED = "supported", "not supported"
#: Verdicts of the rows that carry a number the rule compares.
NUMERIC = (REPRODUCED, DIFFERS, NOT_JUDGED)
#: The LSTM hyper-parameters of the report's Table 5, in its order.
LSTM_HYPER = ("hidden", "layers", "seq_len", "dropout", "lr")
#: Where the report says what its early stopping watched (section 3.1 for the CRF);
#: for the other families the book assumes it.
STOPPING_STATED = {"CRF": "stated in §3.1 (loss on the test set)",
                   "BNN": "assumed: §3.2 does not say what early stopping watched",
                   "LSTM": "assumed: §3.3 gives the patience (10), not what it watched"}


def rounding(value: float) -> float:
    """Half a unit of the last digit the report printed (0.133 -> 0.0005, "0.350" -> 0.0005).

    The printed text comes from :class:`~occupancy_utils.results.PrintedFloat`;
    a plain float is read from its shortest repr.
    """
    text = getattr(value, "text", None) or repr(float(value))
    mantissa = text.lower().split("e")[0]
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    exponent = int(text.lower().split("e")[1]) if "e" in text.lower() else 0
    return 0.5 * 10.0 ** (exponent - decimals)


def _p(value: Any) -> str:
    """A report number as the report printed it ("0.350"), else in its shortest form."""
    return getattr(value, "text", None) or f"{value:g}"


def seed_values(models: Mapping[str, Mapping], key: str, metric: str,
                protocol: str = "report") -> list[float]:
    """The book's per-seed fold means of ``metric`` for one model and protocol."""
    seeds = models[key]["protocols"][protocol]["seeds"]
    return [float(s["mean"][metric]) for s in seeds.values()]


def failed_seeds(models: Mapping[str, Mapping], key: str, zero_mse: Sequence[float],
                 protocol: str = "report") -> dict[str, tuple[int, float]]:
    """Seed -> (fold number, its MSE) of the first fold on which that seed's run scores a
    test MSE above predicting 0 on every row of the fold (``zero_mse``, one per fold in
    fold order; equal is not above): the runs the map's rule leaves out."""
    out: dict[str, tuple[int, float]] = {}
    for seed, scores in models[key]["protocols"][protocol]["seeds"].items():
        per_fold = scores.get("per_fold") or []
        if per_fold and len(per_fold) != len(zero_mse):
            raise ValueError(f"{key}: seed {seed} has {len(per_fold)} folds, predicting 0 "
                             f"has {len(zero_mse)}")
        for number, (fold, zero) in enumerate(zip(per_fold, zero_mse, strict=False), 1):
            if float(fold["mse"]) > float(zero):
                out[str(seed)] = (number, float(fold["mse"]))
                break
    return out


def kept_values(models: Mapping[str, Mapping], key: str, metric: str,
                zero_mse: Sequence[float], protocol: str = "report"
                ) -> tuple[list[float], str]:
    """The per-seed values the rule judges by (:func:`seed_values` without the
    :func:`failed_seeds`), and a note naming each seed left out, what it scored and the
    range every seed would have given ("" when none is left out)."""
    failed = failed_seeds(models, key, zero_mse, protocol)
    seeds = models[key]["protocols"][protocol]["seeds"]
    kept = [float(s["mean"][metric]) for k, s in seeds.items() if str(k) not in failed]
    if not failed:
        return kept, ""
    every = seed_values(models, key, metric, protocol)
    left = "; ".join(f"seed {seed} left out (fold {fold}: MSE {mse:.3f}, above predicting "
                     f"0's {float(zero_mse[fold - 1]):.3f})"
                     for seed, (fold, mse) in failed.items())
    return kept, f"{left}; with every seed {spread_text(every)}"


def judge(report_value: float, values: Sequence[float]) -> str:
    """REPRODUCED, DIFFERS or NOT_JUDGED by the module's rule (see its docstring)."""
    if len(values) < 2:
        return NOT_JUDGED
    slack = rounding(report_value)
    return REPRODUCED if min(values) - slack <= report_value <= max(values) + slack else DIFFERS


def judge_pair(first: str, second: str) -> str:
    """Both numbers reproduced: REPRODUCED; either differs: DIFFERS; else NOT_JUDGED."""
    if DIFFERS in (first, second):
        return DIFFERS
    return REPRODUCED if first == second == REPRODUCED else NOT_JUDGED


def spread_text(values: Sequence[float]) -> str:
    """The book's number as printed in the map: the seed mean, and the range over seeds."""
    mean = float(np.mean(values))
    if len(values) < 2:
        return f"{mean:.3f} (1 seed)"
    return f"{mean:.3f} ({min(values):.3f}-{max(values):.3f}, {len(values)} seeds)"


def agreed_hyper(by_fold: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One protocol's LSTM values: each value where every fold chose it, else the folds'
    values as 'a / b / c / d' (the clean protocol chooses per fold)."""
    if not all(str(k).isdigit() for k in by_fold):
        raise ValueError("06_lstm.json predates per-fold choices (params_by_protocol holds no "
                         "folds): run 06_lstm again")
    agreed = nested.agreed_values(by_fold)
    return {k: agreed[k] for k in LSTM_HYPER}


def _value(value: Any) -> str:
    return value if isinstance(value, str) else f"{value:g}"


def hyper_verdict(report_best: Mapping[str, Any], by_protocol: Mapping[str, Mapping]
                  ) -> tuple[str, str]:
    """Verdict and notes for the report's winning LSTM values.

    The report chose on its test folds, so its winner is compared with the
    book's report-protocol search: REPRODUCED when every value matches.
    """
    found = {p: [k for k in LSTM_HYPER if params[k] == report_best[k]]
             for p, params in by_protocol.items()}
    notes = "values shared with the report's: " + "; ".join(
        f"{p} protocol {len(same)} of {len(LSTM_HYPER)}" + (f" ({', '.join(same)})" if same
                                                             else "")
        for p, same in sorted(found.items()))
    same_winner = len(found.get("report", [])) == len(LSTM_HYPER)
    return (REPRODUCED if same_winner else DIFFERS), notes


def swap_verdict(printed: tuple[float, float], mse: Sequence[float], f1: Sequence[float]
                 ) -> str:
    """Does the book support reading the report's (MSE, F1) row as swapped?

    SUPPORTED when the swapped reading is reproduced and the printed one is
    not, NOT_SUPPORTED when the printed reading is reproduced, else NOT_JUDGED.
    """
    as_printed = judge_pair(judge(printed[0], mse), judge(printed[1], f1))
    swapped = judge_pair(judge(printed[1], mse), judge(printed[0], f1))
    if as_printed == REPRODUCED:
        return NOT_SUPPORTED
    return SUPPORTED if swapped == REPRODUCED else NOT_JUDGED


def noise_verdict(gap: float, values: Sequence[float]) -> str:
    """Is a gap between two of the report's runs within the book's seed spread?

    SUPPORTED (the gap is run-to-run noise) when it is no larger than the range
    of the book's per-seed values, NOT_SUPPORTED when larger, NOT_JUDGED with
    one seed.
    """
    if len(values) < 2:
        return NOT_JUDGED
    return SUPPORTED if abs(gap) <= max(values) - min(values) else NOT_SUPPORTED


def report_map(models: Mapping[str, Mapping], report: Mapping[str, Any],
               class_counts: Mapping[int, int], profile: str,
               zero_mse: Sequence[float]) -> pd.DataFrame:
    """Every table, figure and inconsistency of the report, the book's number and a verdict.

    Numbers are read from the chapters' results files (report protocol, as the
    report ran them); ``zero_mse`` is predicting 0's test MSE per fold, by which
    :func:`failed_seeds` are left out. Columns: report, book chapter, report's number,
    book's number, verdict (one of this module's categories), notes.
    """
    why = ("the quick profile trains a small grid for a few epochs" if profile == "quick"
           else "different folds and seeds (see the chapter)")
    rows: list[dict[str, str]] = []

    def add(item: str, where: str, rep: str, book: str, verdict: str, notes: str = "",
            kind: str = "number") -> None:
        rows.append({"report": item, "kind": kind, "book chapter": where,
                     "report's number": rep, "book's number": book, "verdict": verdict,
                     "notes": notes or "-"})

    def number(item, where, rep, key, metric, notes=why):
        values, left = kept_values(models, key, metric, zero_mse)
        add(item, where, f"{_p(rep)}", spread_text(values), judge(rep, values),
            notes + (f"; {left}" if left else ""))

    def pair(item, where, rep_mse, rep_f1, key, notes=why):
        (mse, left), (f1, _) = (kept_values(models, key, m, zero_mse)
                                for m in ("mse", "f1_macro"))
        add(item, where, f"{_p(rep_mse)} / {_p(rep_f1)}",
            f"{spread_text(mse)} / {spread_text(f1)}",
            judge_pair(judge(rep_mse, mse), judge(rep_f1, f1)),
            notes + (f"; {left} (MSE)" if left else ""))

    counts = report["dataset"]["table_1_class_counts"]
    same = all(int(counts[c]) == int(class_counts[c]) for c in counts)
    add("Table 1 (class counts)", "1", ", ".join(str(counts[c]) for c in sorted(counts)),
        ", ".join(str(class_counts[c]) for c in sorted(class_counts)),
        REPRODUCED if same else DIFFERS, "exact counts" if same else
        "the data file is not the canonical one", kind="count")
    sec1 = report["section_1_feature_dropping"]["f1_macro_without_light"]
    number("§1 random forest F1 without light", "2", sec1, "random_forest", "f1_macro",
           "the report's validation scheme is not stated (chapter 2 tests two)")
    t2 = report["crf"]["table_2_top_results"][0]
    pair("Table 2 best row (MSE / F1 macro)", "4", t2[3], t2[4], "crf")
    t3 = report["bnn"]["table_3_one_hidden_layer"][0]
    number("Tables 3-4 chosen BNN (lr 0.01, 1 x 64) MSE", "5", t3[2], "bnn", "mse")
    for variant in ("regression", "classification"):
        best = report["lstm"]["table_5_best"][variant]
        number(f"Table 5 LSTM {variant} MSE", "6", best["mse"], f"lstm_{variant}", "mse")
        winners = {p: agreed_hyper(by_fold) for p, by_fold in
                   models[f"lstm_{variant}"]["params_by_protocol"].items()}
        verdict, notes = hyper_verdict(best, winners)
        add(f"Table 5 LSTM {variant} hyper-parameters ({', '.join(LSTM_HYPER)})", "6",
            ", ".join(_p(best[k]) for k in LSTM_HYPER),
            "; ".join(f"{protocol} protocol " + ", ".join(_value(params[k]) for k in LSTM_HYPER)
                      for protocol, params in sorted(winners.items())), verdict, notes,
            kind="choice")
    t6_keys = ["lstm_regression", "lstm_regression_mcd", "lstm_classification",
               "lstm_classification_mcd"]
    for (name, mse_r, _, f1_r, _), key in zip(report["lstm"]["table_6_mc_dropout"], t6_keys,
                                              strict=True):
        pair(f"Table 6 {name} (MSE / F1)", "6", mse_r, f1_r, key,
             why + ("; the inconsistency row below tests the swapped reading"
                    if key == "lstm_regression_mcd" else ""))
    sources = {"random forest": "random_forest", "CRF": "crf", "BNN": "bnn",
               "LSTM regression without MCD": "lstm_regression",
               "LSTM classification without MCD": "lstm_classification",
               "LSTM classification with MCD": "lstm_classification_mcd"}
    for name, mse_r, f1_r in report["table_7_comparison"]:
        pair(f"Table 7 {name} (MSE / F1)", "7", mse_r, f1_r, sources[name])
    for fig, what in sorted(report["figures"].items()):
        chapter = {1: "1", 2: "1", 3: "1", 4: "1", 5: "3"}.get(fig) or (
            "4" if fig <= 8 else "5" if fig <= 10 else "6")
        add(f"Figure {fig}: {what}", chapter, "a figure", "redrawn from code", REDRAWN,
            "compared by eye in the chapter; not counted", kind="figure")
    _inconsistencies(models, report, add, sec1, zero_mse)
    for family, how in STOPPING_STATED.items():
        add(f"Slip: {family} early stopping watched the test fold", "4-6",
            "test fold", "validation tail (clean protocol) beside it", FIXED, how, kind="slip")
    return pd.DataFrame(rows)


def _inconsistencies(models, report, add, sec1: float, zero_mse: Sequence[float]) -> None:
    """The rows for report_numbers.yaml's known inconsistencies (but the slip)."""
    t6 = {row[0]: row for row in report["lstm"]["table_6_mc_dropout"]}
    _, printed_mse, _, printed_f1, _ = t6["regression with MCD"]
    mse, left = kept_values(models, "lstm_regression_mcd", "mse", zero_mse)
    f1, _ = kept_values(models, "lstm_regression_mcd", "f1_macro", zero_mse)
    swap = swap_verdict((printed_mse, printed_f1), mse, f1)
    add("Inconsistency: Table 6 regression with MCD looks swapped", "6",
        f"{_p(printed_mse)} / {_p(printed_f1)}", f"{spread_text(mse)} / {spread_text(f1)}", swap,
        {SUPPORTED: "the book reproduces the row with MSE and F1 exchanged, not as printed",
         NOT_SUPPORTED: "the book reproduces the row as printed",
         NOT_JUDGED: "neither reading lies within the book's seed spread, or one seed gives "
                     "no spread"}[swap] + (f"; {left} (MSE)" if left else ""),
        kind="inconsistency")
    rf_t7 = next(f1 for name, _, f1 in report["table_7_comparison"] if name == "random forest")
    add(f"Inconsistency: random forest F1 {_p(sec1)} (§1) vs {_p(rf_t7)} (Table 7)", "2",
        f"{_p(sec1)} / {_p(rf_t7)}", spread_text(seed_values(models, "random_forest", "f1_macro")),
        REMARK, "one model, one number in the book; the report's gap is rounding at most",
        kind="inconsistency")
    cls_t5 = report["lstm"]["table_5_best"]["classification"]["f1_macro"]
    cls_t6 = t6["classification without MCD"][3]
    add(f"Inconsistency: classification LSTM F1 {_p(cls_t5)} (Table 5) vs {_p(cls_t6)} "
        "(Table 6)", "6", f"{_p(cls_t5)} / {_p(cls_t6)}",
        f"{spread_text(seed_values(models, 'lstm_classification', 'f1_macro'))} (no MCD) / "
        f"{spread_text(seed_values(models, 'lstm_classification_mcd', 'f1_macro'))} (MCD)",
        REMARK, "Table 5 mixes the MCD F1 with the no-MCD MSE spread; the book keeps them apart",
        kind="inconsistency")
    rows = report["bnn"]["table_3_one_hidden_layer"]
    lr_row = next(r[2] for r in rows if r[0] == "lr" and r[1] == 0.01)
    hidden_row = next(r[2] for r in rows if r[0] == "hidden" and r[1] == 64)
    bnn, left = kept_values(models, "bnn", "mse", zero_mse)
    noise = noise_verdict(lr_row - hidden_row, bnn)
    add(f"Inconsistency: BNN lr 0.01, 1 x 64: MSE {_p(lr_row)} and {_p(hidden_row)} in Table 3",
        "5", f"{_p(lr_row)} / {_p(hidden_row)}", spread_text(bnn), noise,
        f"two runs of one configuration differ by {abs(lr_row - hidden_row):.2f}, "
        + {SUPPORTED: "no more than the book's spread over seeds: run-to-run noise",
           NOT_SUPPORTED: "more than the book's spread over seeds",
           NOT_JUDGED: "and one seed gives no spread to compare"}[noise]
        + (f"; {left}" if left else ""), kind="inconsistency")


def summary_counts(table: pd.DataFrame) -> dict[str, int]:
    """Rows per verdict among the report's numbers and choices, and per kind of row.

    Keys: ``reproduced``, ``differs``, ``not judged`` (counts, numbers and choices
    only), ``judged`` (reproduced + differs), ``numbers`` (all such rows),
    and one count per kind (``figure``, ``inconsistency``, ``slip``).
    """
    judged = table[table["kind"].isin(["count", "number", "choice"])]
    out = {v: int((judged["verdict"] == v).sum()) for v in NUMERIC}
    out["judged"] = out[REPRODUCED] + out[DIFFERS]
    out["numbers"] = len(judged)
    for kind in ("figure", "inconsistency", "slip"):
        out[kind] = int((table["kind"] == kind).sum())
    return out


def table_7_reading(table: pd.DataFrame) -> str:
    """How the report's Table 7 rows fare in the map (:func:`report_map`), in one sentence:
    whether the report's MSE and F1 lie within the book's spread over seeds."""
    rows = table[table["report"].str.startswith("Table 7 ")]
    if rows.empty:
        raise ValueError("the map has no Table 7 row")
    count = {v: int((rows["verdict"] == v).sum()) for v in NUMERIC}
    if count[NOT_JUDGED] == len(rows):
        return (f"with one seed none of the {len(rows)} Table 7 rows can be judged against "
                f"the book's spread")
    return (f"{count[REPRODUCED]} of the {len(rows)} Table 7 rows lie within the book's "
            f"spread over seeds (MSE and F1 both), {count[DIFFERS]} differ"
            + (f" and {count[NOT_JUDGED]} are not judged" if count[NOT_JUDGED] else ""))
