"""The networks on the second fold design, chosen by a rule that no test row reaches.

Chapter 7 checks whether its ranking holds on rule-placed, rolling-origin folds
(chapter 3). The baselines search again on those folds; the networks' grids
cost hours, so they are not searched again. Instead each network's clean
protocol has already chosen one configuration per hand-made fold (chapters
4-6), and a rolling fold chooses among those choices:

- **candidates**: the configurations chosen on the hand-made folds whose
  training part (validation tail included) ends before the rolling fold's test
  window starts (:func:`eligible`). A choice made later could have read rows of
  that test window; one made before cannot.
- **choice**: each candidate is trained on the rolling fold's training part and
  scored on its own validation tail; the lowest tail MSE wins, a tie going to
  the earlier hand-made fold's choice. The winner's test predictions are the
  fold's.

Every (fold, candidate) is one trial of a stored, resumable search
(:func:`~occupancy_utils.search.run_grid`, keyed on the code it runs) that
trains it once per seed, so ``WORKERS`` share it out, an interrupted build
resumes, and a family that trains its seeds together (the CRF) does so. The families'
training is :mod:`~occupancy_utils.networks`'; the settings and the hand-made
folds' choices come from chapters 4-6's results files (:func:`specs`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import bnn_study, experiment, lstm_study, networks, search, splits
from .models import lstm

#: The version of what the stored runs hold (part of their key, see cache_key).
SCHEMA = 2  # 2: one trial per (fold, candidate), its seeds as a group


@dataclass(frozen=True)
class Spec:
    """One network to re-score: its ``name`` (stored runs are named after it), family,
    the Table 7 keys one training yields, the chapter's settings, and the configuration
    each hand-made fold chose (fold number -> configuration)."""

    name: str
    family: str
    models: tuple[str, ...]
    settings: dict[str, Any]
    chosen: dict[int, dict[str, Any]]


def eligible(hand: Sequence[splits.Fold], rolling: Sequence[splits.Fold]) -> dict[int, list[int]]:
    """Rolling fold number -> the hand-made folds whose training part ends before its test
    window starts; a one-line error for a rolling fold that has none."""
    out = {}
    for r in rolling:
        out[r.number] = [h.number for h in hand if h.train.max() < r.test.min()]
        if not out[r.number]:
            raise ValueError(f"rolling fold {r.number}: no hand-made fold was chosen before "
                             f"its test window starts")
    return out


def candidates(chosen: Mapping[int, Mapping[str, Any]], allowed: Mapping[int, Sequence[int]]
               ) -> dict[int, list[dict[str, Any]]]:
    """Rolling fold -> its distinct candidate configurations, in hand-made fold order (the
    order a tie is broken in)."""
    out: dict[int, list[dict[str, Any]]] = {}
    for k, hand in allowed.items():
        missing = [h for h in hand if h not in chosen]
        if missing:
            raise ValueError(f"no configuration chosen on hand-made fold(s) {missing}")
        out[k] = []
        for h in hand:
            if dict(chosen[h]) not in out[k]:
                out[k].append(dict(chosen[h]))
    return out


def tasks(cands: Mapping[int, Sequence[Any]]) -> list[str]:
    """One stored trial per rolling fold and candidate: ``"fold/candidate"``."""
    return [f"{k}/{i}" for k, c in cands.items() for i in range(len(c))]


def _parse(task: str) -> tuple[int, int]:
    fold, i = (int(v) for v in task.split("/"))
    return fold, i


def run_task(frame: pd.DataFrame, folds: Mapping[int, splits.Fold], net: networks.Network,
             cands: Mapping[str, Sequence[Mapping[str, Any]]], task: str,
             seeds: Sequence[int]) -> list[dict[str, Any]]:
    """Train one task's candidate on its rolling fold once per seed: per seed, the tail MSE
    (``mse``, what the choice minimises) and the test rows' predicted counts per model key
    (``test_<key>``)."""
    k, i = _parse(task)
    fitted = networks.fit_predict(net, frame, folds[k], cands[str(k)][i], seeds)
    return [{"mse": float(f.tail_mse),
             **{f"test_{key}": labels.tolist() for key, labels in f.test.items()}}
            for f in fitted]


def objective(params: dict[str, Any], group: Sequence[Mapping[str, Any]], *, family: str,
              models: Sequence[str], settings: dict[str, Any],
              cands: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The stored runs' objective: :func:`run_task` of one trial's seeds (``group``) on the
    book's data and rolling folds."""
    frame, _ = experiment.search_data()
    folds = {f.number: f for f in splits.design_folds(frame.index, "rolling")}
    return run_task(frame, folds, networks.network(family, tuple(models), settings), cands,
                    params["task"], [int(g["seed"]) for g in group])


def choose(found: pd.DataFrame) -> pd.DataFrame:
    """Per seed and rolling fold, the candidate with the lowest tail MSE (a tie to the
    earlier candidate); one row each, with every candidate's tail MSE beside it."""
    parsed = pd.DataFrame([_parse(t) for t in found["task"]], columns=["fold", "i"])
    table = pd.concat([parsed, found[["seed", "mse"]].reset_index(drop=True)], axis=1)
    if table["mse"].isna().any():
        raise ValueError("a tail MSE is NaN: no candidate can be chosen on it")
    rows = []
    for (seed, k), g in table.sort_values(["seed", "fold", "i"]).groupby(["seed", "fold"]):
        best = g.iloc[int(np.argmin(g["mse"].to_numpy()))]
        rows.append({"seed": int(seed), "fold": int(k), "candidate": int(best["i"]),
                     "candidates": len(g), "tail mse": float(best["mse"]),
                     "tail mses": [float(v) for v in g["mse"]]})
    return pd.DataFrame(rows)


def predictions(found: pd.DataFrame, chosen: pd.DataFrame, frame: pd.DataFrame,
                folds: Mapping[int, splits.Fold], models: Sequence[str]
                ) -> dict[str, pd.DataFrame]:
    """Model key -> the chosen candidates' test predictions over the rolling folds, one frame
    with ``seed`` and the columns of ``experiment.PREDICTION_COLUMNS``."""
    by_task = found.set_index(["task", "seed"])
    y = frame[experiment.TARGET].to_numpy()
    out = {}
    for key in models:
        parts = []
        for r in chosen.itertuples():
            fold = folds[r.fold]
            labels = by_task.loc[(f"{r.fold}/{r.candidate}", r.seed), f"test_{key}"]
            parts.append(experiment.prediction_frame(fold.number, fold.test, y[fold.test],
                                                     np.asarray(labels)).assign(seed=r.seed))
        f = pd.concat(parts, ignore_index=True)
        out[key] = f[["seed", *experiment.PREDICTION_COLUMNS]]
    return out


def rescore(spec: Spec, seeds: Sequence[int], *, profile: str,
            frame: pd.DataFrame | None = None, workers: int = 1, storage: str | None = None,
            progress: bool = True) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """One network on the rolling folds: per-row test predictions by model key, and the
    choice per seed and fold (:func:`choose`, with the configuration chosen).

    On the book's data (``frame`` None) the trainings are a stored, resumable search;
    given a ``frame`` (a test's perturbed copy) they run in memory with the same
    :func:`run_task`.
    """
    data = frame if frame is not None else experiment.search_data()[0]
    hand = splits.design_folds(data.index, "hand")
    rolling = {f.number: f for f in splits.design_folds(data.index, "rolling")}
    chosen = {int(k): dict(v) for k, v in spec.chosen.items()}
    allowed = eligible(hand, rolling.values())
    by_fold = candidates(chosen, allowed)
    cands = {str(k): c for k, c in by_fold.items()}  # JSON keys: the stored runs' key
    points = tasks(by_fold)
    if frame is not None:
        net = networks.network(spec.family, spec.models, spec.settings)
        found = pd.DataFrame([{"task": t, "seed": s, **record} for t in points
                              for s, record in zip(seeds, run_task(frame, rolling, net, cands,
                                                                   t, seeds), strict=True)])
    else:
        found = search.run_grid(
            f"07_rolling-{spec.name}", {"task": points, "seed": list(seeds)},
            functools.partial(objective, family=spec.family, models=list(spec.models),
                              settings=dict(spec.settings), cands=cands),
            profile=profile, schema=SCHEMA, storage=storage, workers=workers,
            progress=progress, batch_keys=("seed",))
        found = found.set_index(["task", "seed"]).loc[
            [(t, s) for t in points for s in seeds]].reset_index()
    choice = choose(found)
    choice["configuration"] = [by_fold[r.fold][r.candidate] for r in choice.itertuples()]
    # the hand-made fold whose choice it is (the first one, if several chose it)
    choice["from hand fold"] = [next(h for h in allowed[r.fold] if chosen[h] == r.configuration)
                                for r in choice.itertuples()]
    return predictions(found, choice, data, rolling, spec.models), choice


def _settings(params: Mapping[str, Any], cls: type) -> dict[str, Any]:
    return {f.name: params[f.name] for f in dataclasses.fields(cls) if f.name in params}


def specs(crf: Mapping[str, Any], bnn: Mapping[str, Any], lstm_results: Mapping[str, Any]
          ) -> list[Spec]:
    """The networks of chapters 4-6 as their results files hold them (clean protocol): the
    CRF (both decodings), every BNN final model, and both LSTM variants (dropout off and
    MC dropout)."""
    def chosen(model: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
        return {int(k): dict(v) for k, v in model["protocols"]["clean"]["chosen"].items()}

    out = [Spec("crf", "crf", ("crf", "crf_whole_fold"),
                {k: crf["models"]["crf"]["params"][k]
                 for k in ("max_epochs", "patience", "val_fraction")},
                chosen(crf["models"]["crf"]))]
    for key, model in bnn["models"].items():
        if "clean" in model["protocols"]:
            out.append(Spec(key, "bnn", (key,), _settings(model["params"], bnn_study.Settings),
                            chosen(model)))
    for variant in lstm.VARIANTS:
        det, mc = (lstm_study.MODEL_KEYS[(variant, m)] for m in (False, True))
        if det not in lstm_results["models"]:
            continue
        by_fold = lstm_results["models"][det]["params_by_protocol"].get("clean")
        if by_fold:
            out.append(Spec(f"lstm_{variant}", "lstm", (det, mc),
                            {**lstm_results["settings"], "variant": variant,
                             "mc_samples": int(lstm_results["mc_samples"])},
                            {int(k): dict(v) for k, v in by_fold.items()}))
    return out


def rescore_all(specs_: Sequence[Spec], seeds: Sequence[int], *, profile: str,
                workers: int = 1, storage: str | None = None
                ) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """:func:`rescore` of every spec: predictions by model key, and every choice with
    the network's name (``network``)."""
    preds: dict[str, pd.DataFrame] = {}
    choices = []
    for spec in specs_:
        p, c = rescore(spec, seeds, profile=profile, workers=workers, storage=storage)
        preds |= p
        choices.append(c.assign(network=spec.name))
    return preds, pd.concat(choices, ignore_index=True)


def choice_table(choices: pd.DataFrame) -> pd.DataFrame:
    """Per network and rolling fold: how many candidates it had, and per seed the hand-made
    fold whose choice won on the rolling fold's tail (:func:`rescore_all`'s choices)."""
    rows = []
    for (name, k), g in choices.groupby(["network", "fold"], sort=False):
        g = g.sort_values("seed")
        rows.append({"network": name, "rolling fold": int(k),
                     "candidates": int(g["candidates"].iloc[0]),
                     "chosen: from hand fold (per seed)": ", ".join(
                         str(h) for h in g["from hand fold"])})
    return pd.DataFrame(rows)


def choice_reading(choices: pd.DataFrame) -> str:
    """How much choosing there was: of the (network, rolling fold) pairs, how many had more
    than one candidate, and on how many of those the seeds chose the same one."""
    per = choices.groupby(["network", "fold"])
    several = per["candidates"].first() > 1
    agree = per["candidate"].nunique() == 1
    if not several.any():
        return (f"every one of the {len(several)} network and fold pairs had a single "
                "candidate, so nothing was chosen")
    text = (f"{int(several.sum())} of the {len(several)} network and fold pairs had more than "
            "one candidate")
    if choices["seed"].nunique() < 2:
        return text + " (one seed: whether seeds agree on the choice is not asked)"
    return (text + f"; on {int((several & agree).sum())} of them every seed chose the "
            "same one")
