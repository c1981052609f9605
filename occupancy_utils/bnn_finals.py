"""Chapter 5's final models: each fold's chosen configuration evaluated again for every
seed under each protocol, the learning curves, the results file with its per-row predictions,
and the protocol gap's paired runs.

Nothing here is reached by a stored search (their code lives in
:mod:`~occupancy_utils.bnn_study`), so editing it keeps every stored search."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from . import data, experiment, nested, protocol_gap, results, splits, training
from .bnn_study import (
    FoldRun,
    Settings,
    check_params,
    config_text,
    evaluate,
    prediction_frame,
    train_fold,
)
from .results import check_part, model_entry, protocol_block


def evaluate_chosen(frame: pd.DataFrame, folds: Sequence[splits.Fold], protocol: str,
                    chosen: Mapping[int, Mapping[str, Any]], settings: Settings, seed: int,
                    curves_fold: int | None = None) -> dict[str, Any]:
    """:func:`~occupancy_utils.bnn_study.evaluate` with each fold's own configuration,
    predictions kept.

    Each fold is evaluated alone (a fold is seeded on its own, so this gives the numbers
    ``evaluate`` gives when every fold has the same configuration); the per-fold records
    are then summarised together. ``evaluate`` itself stays as the search stored it (its
    code keys the stored searches).
    """
    nested.check_chosen(chosen, folds)
    keep = protocol == "clean"  # the runs' validation tails, for chapter 7's thresholds
    parts = [evaluate(frame, [fold], protocol, chosen[fold.number], settings, seed,
                      keep_predictions=True, keep_runs=keep,
                      curves_fold=curves_fold if curves_fold == fold.number else None)
             for fold in folds]
    runs = [r for part in parts for r in part.get("runs", [])]
    preds = [p for part in parts for p in part["predictions"]]
    records = [r for part in parts for r in part["folds"]]
    test = experiment.summarize(preds)
    value = experiment.summarize(preds, value_column="value")
    return {
        "chosen": {k: dict(v) for k, v in chosen.items()}, "protocol": protocol, "seed": seed,
        "val_mse": float(np.mean([r["monitor"]["mse"] for r in records])),
        "test_mse": test["mean"]["mse"], "test_f1_macro": test["mean"]["f1_macro"],
        "test_mse_value": value["mean"]["mse"], "pooled": test["pooled"],
        "pooled_mse_value": value["pooled"]["mse"], "folds": records,
        "collapsed_folds": [r["fold"] for r in records if r["collapsed"]],
        "summary": test, "summary_value": value,
        "train_seconds": float(sum(r["train_seconds"] for r in records)),
        "predict_seconds": float(sum(r["predict_seconds"] for r in records)),
        "runs": runs,
        "predictions": preds,
        "validation": [validation_frame(r) for r in runs] if keep else [],
    }


def validation_frame(run: FoldRun) -> pd.DataFrame:
    """Per-row predictions of one fold's validation tail (clean protocol): the class
    probabilities averaged over the weight samples and their argmax."""
    mean = run.monitor_probs.mean(axis=0)
    return experiment.prediction_frame(
        run.parts.fold.number, run.parts.positions["monitor"], run.parts.y["monitor"],
        mean.argmax(axis=1), **{f"p{c}": mean[:, c] for c in range(mean.shape[1])})


def seeds_evaluation(frame: pd.DataFrame, folds: Sequence[splits.Fold], protocol: str,
                     chosen: Mapping[int, Mapping[str, Any]], settings: Settings,
                     seeds: Sequence[int], curves_fold: int | None = None
                     ) -> dict[int, dict[str, Any]]:
    """Each fold's configuration under several seeds, with predictions, for the results file.

    With ``curves_fold`` the first seed also records learning curves on that
    fold (its run is kept under ``runs``), so the figure needs no extra training.
    """
    seeds = training.check_seeds(seeds)
    if curves_fold is not None:
        fold_by_number(folds, curves_fold)
    return {s: evaluate_chosen(frame, folds, protocol, chosen, settings, s,
                               curves_fold=curves_fold if s == seeds[0] else None)
            for s in tqdm(seeds, desc=f"seeds ({protocol})", leave=False)}


def fold_by_number(folds: Sequence[splits.Fold], number: int,
                   name: str = "curves_fold") -> splits.Fold:
    """The fold with that 1-based number; fails naming the parameter."""
    for fold in folds:
        if fold.number == number:
            return fold
    raise ValueError(f"{name} must be one of {[f.number for f in folds]}, got {number!r}")


def curves_run(frame: pd.DataFrame, folds: Sequence[splits.Fold], number: int, protocol: str,
               params: Mapping[str, Any], settings: Settings, seed: int) -> FoldRun:
    """One fold trained with per-epoch scores recorded (Figure 9)."""
    fold = fold_by_number(folds, number)
    with training.torch_threads(1):
        return train_fold(frame, fold, protocol, params, settings, seed, curves=True)


def results_model(label: str, chosen: Mapping[int, Mapping[str, Any]], settings: Settings,
                  by_protocol: Mapping[str, Mapping[int, Mapping[str, Any]]]) -> dict[str, Any]:
    """One model's entry of the results file (CONTRIBUTING.md schema).

    ``seeds`` hold the scores of the argmax class (the report's MSE);
    ``seeds_expected_count`` the same with the MSE of the expected count.
    Times are per seed, summed over the folds, averaged over the seeds.
    """
    protocols = {
        protocol: protocol_block(
            {s: ev["summary"] for s, ev in evaluations.items()},
            train_seconds=np.mean([ev["train_seconds"] for ev in evaluations.values()]),
            predict_seconds=np.mean([ev["predict_seconds"] for ev in evaluations.values()]),
            chosen=chosen,
            seeds_expected_count={s: ev["summary_value"] for s, ev in evaluations.items()})
        for protocol, evaluations in by_protocol.items()}
    params = dict(next(iter(chosen.values()))) if nested.distinct(chosen) == 1 else {}
    return model_entry(label, {**params, **asdict(settings)}, probabilistic=True,
                               protocols=protocols)


def predictions_table(by_model: Mapping[str, Mapping[str, Mapping[int, Mapping[str, Any]]]],
                      part: str = "test") -> pd.DataFrame:
    """All kept per-row predictions with ``model``, ``protocol`` and ``seed`` columns, of
    the test parts or (``part="validation"``) of the clean protocol's validation tails."""
    check_part(part)
    key = "predictions" if part == "test" else "validation"
    return experiment.predictions_table(
        (model, protocol, seed, pred) for model, by_protocol in by_model.items()
        for protocol, evaluations in by_protocol.items() for seed, ev in evaluations.items()
        for pred in ev.get(key, []))


@dataclass
class FinalModel:
    """A configuration evaluated for the results file: per protocol, per seed."""

    label: str
    #: fold number -> the configuration that fold's model uses
    chosen: dict[int, dict[str, Any]]
    settings: Settings
    evaluations: dict[str, dict[int, dict[str, Any]]]

    def run(self, protocol: str, seed: int, fold: int) -> FoldRun:
        """The kept run of one fold (the curves fold of the first seed)."""
        for run in self.evaluations[protocol][seed].get("runs", []):
            if run.parts.fold.number == fold:
                return run
        raise KeyError(f"{self.label}: no kept run for {protocol}, seed {seed}, fold {fold}")

    def predictions(self, protocol: str, seed: int, fold: int) -> pd.DataFrame:
        """Per-row predictions of one protocol, seed and fold; KeyError if that run is absent."""
        for pred in self.evaluations[protocol][seed]["predictions"]:
            if int(pred["fold"].iloc[0]) == fold:
                return pred
        raise KeyError(f"{self.label}: no predictions for {protocol}, seed {seed}, fold {fold}")


def train_final(frame: pd.DataFrame, folds: Sequence[splits.Fold], label: str,
                chosen: Mapping[int, Mapping[str, Any]], settings: Settings,
                protocols: Sequence[str], seeds: Sequence[int],
                curves_fold: int | None = None) -> FinalModel:
    """Evaluate each fold's configuration under the given protocols and seeds (all
    checked first)."""
    chosen = {k: check_params(p) for k, p in chosen.items()}
    for protocol in protocols:
        training.check_protocol(protocol)
    training.check_seeds(seeds)
    return FinalModel(label, chosen, settings,
                      {p: seeds_evaluation(frame, folds, p, chosen, settings, seeds, curves_fold)
                       for p in protocols})


def other_kl(settings: Settings) -> Settings:
    """The same settings with the KL term scaled the other way (the chapter's comparison).

    ``mean`` (the report's, weight 0.01) and ``elbo`` (weight 1, the textbook
    ELBO) swap.
    """
    kl = "elbo" if settings.kl == "mean" else "mean"
    return settings.replace(kl=kl, kl_weight=1.0 if kl == "elbo" else 0.01)


def final_models(frame: pd.DataFrame, folds: Sequence[splits.Fold],
                 report_config: Mapping[str, Any], chosen: Mapping[int, Mapping[str, Any]],
                 settings: Settings, seeds: Sequence[int], curves_fold: int
                 ) -> dict[str, FinalModel]:
    """The chapter's final models, keyed as in the results file.

    ``bnn``: the report's configuration under both protocols; ``bnn_selected``:
    the clean protocol's per-fold choice
    (:func:`~occupancy_utils.bnn_study.select_per_fold`), only when some fold's choice
    differs from the report's; ``bnn_<kl>``: the report's
    configuration with the KL term scaled the other way (clean protocol).
    """
    report_config = check_params(report_config)
    chosen = {k: check_params(p) for k, p in chosen.items()}
    everywhere = {f.number: report_config for f in folds}
    finals = {"bnn": train_final(frame, folds, "BNN (report's configuration: "
                                 f"{config_text(report_config)})", everywhere, settings,
                                 ["report", "clean"], seeds, curves_fold)}
    if any(p != report_config for p in chosen.values()):
        label = ("BNN (chosen on validation: " + config_text(next(iter(chosen.values()))) + ")"
                 if nested.distinct(chosen) == 1 else "BNN (chosen per fold on validation)")
        finals["bnn_selected"] = train_final(frame, folds, label, chosen, settings, ["clean"],
                                             seeds, curves_fold)
    swapped = other_kl(settings)
    finals[f"bnn_{swapped.kl}"] = train_final(
        frame, folds, f"BNN (report's configuration, KL scaled '{swapped.kl}')", everywhere,
        swapped, ["clean"], seeds)
    return finals


def write_chapter_results(profile: str, notebook: str, finals: Mapping[str, FinalModel],
                          elapsed_seconds: float, gaps: Mapping[str, Any] | None = None
                          ) -> tuple[Any, Any]:
    """The results file (CONTRIBUTING.md schema, with the ``protocol_gap`` entries) and
    the per-row predictions file (the validation tails' predictions are written beside it)."""
    payload = results.chapter_payload(
        notebook, profile, elapsed_seconds,
        {key: results_model(m.label, m.chosen, m.settings, m.evaluations)
         for key, m in finals.items()},
        protocol_gap=dict(gaps or {}))
    evaluations = {key: m.evaluations for key, m in finals.items()}
    results.write_predictions(profile, notebook, predictions_table(evaluations, "validation"),
                              part="validation")
    return (results.write_results(profile, notebook, payload),
            results.write_predictions(profile, notebook, predictions_table(evaluations)))


def gap_scores(frame: pd.DataFrame, folds: Sequence[splits.Fold], final: FinalModel,
               seeds: Sequence[int]) -> dict[str, dict[int, float]]:
    """Mean-over-folds test MSE per regime of :mod:`~occupancy_utils.protocol_gap` and
    seed, for a final model with one configuration on every fold, run under both
    protocols: its report and clean runs are reused; the ``held_out`` runs are trained
    here, as :func:`~occupancy_utils.bnn_study.evaluate` trains (one thread, seeded per fold)."""
    if nested.distinct(final.chosen) != 1 or not {"report", "clean"} <= set(final.evaluations):
        raise ValueError(f"{final.label}: the protocol gap needs one configuration on every "
                         f"fold run under both protocols")
    params = next(iter(final.chosen.values()))
    reused = {p: {s: float(e["test_mse"]) for s, e in final.evaluations[p].items()}
              for p in ("report", "clean")}

    def train(regime: str, seed: int) -> float:
        preds = []
        for fold in folds:
            parts = protocol_gap.regime_parts(frame, fold, list(data.NON_LIGHT_FEATURES),
                                              regime, final.settings.val_fraction)
            with training.torch_threads(1):
                run = train_fold(frame, fold, "clean" if regime == "clean" else "report",
                                 params, final.settings, seed, parts=parts)
            preds.append(prediction_frame(run))
        return float(experiment.summarize(preds)["mean"]["mse"])

    return protocol_gap.paired_scores(reused, seeds, protocol_gap.per_seed(train))

