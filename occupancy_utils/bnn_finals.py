"""Chapter 5's final models: each fold's chosen configuration trained again for every
seed under each protocol (through :func:`~occupancy_utils.finals.train`), the learning
curves, the results file with its per-row predictions, and the protocol gap's paired runs.

Nothing here is reached by a stored search (their code lives in
:mod:`~occupancy_utils.bnn_study`), so editing it keeps every stored search."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from . import data, experiment, finals, nested, protocol_gap, results, splits, training
from .bnn_study import (
    FoldRun,
    Settings,
    check_params,
    config_text,
    prediction_frame,
    train_fold,
)
from .experiment import FittedFolds
from .results import model_entry

#: The model key one BNN training yields; each final model of the chapter is one
#: :class:`FinalModel` under its own name.
KEY = "bnn"


def _fit_fold(frame: pd.DataFrame, settings: Settings, curves_fold: int | None,
              fold: splits.Fold, config: Mapping[str, Any], protocol: str, seeds: list[int]
              ) -> list[finals.FoldFit]:
    """One fold's configuration trained for each seed, as
    :func:`~occupancy_utils.bnn_study.evaluate` trains it (one thread, seeded per fold);
    the first seed records learning curves on ``curves_fold``."""
    out = []
    for seed in seeds:
        with training.torch_threads(1):
            run = train_fold(frame, fold, protocol, config, settings, seed,
                             curves=curves_fold == fold.number and seed == seeds[0])
        pred = prediction_frame(run)
        # the clean protocol's validation tail, for chapter 7's thresholds
        tail = {KEY: validation_frame(run)} if protocol == "clean" else {}
        out.append(finals.FoldFit({KEY: pred}, run, run.train_seconds,
                                  {KEY: run.predict_seconds}, tail))
    return out


def validation_frame(run: FoldRun) -> pd.DataFrame:
    """Per-row predictions of one fold's validation tail (clean protocol): the class
    probabilities averaged over the weight samples and their argmax."""
    mean = run.monitor_probs.mean(axis=0)
    return experiment.prediction_frame(
        run.parts.fold.number, run.parts.positions["monitor"], run.parts.y["monitor"],
        mean.argmax(axis=1), **{f"p{c}": mean[:, c] for c in range(mean.shape[1])})


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


@dataclass
class FinalModel:
    """A configuration trained again for the results file: protocol -> seed -> its models
    over the folds (:class:`~occupancy_utils.experiment.FittedFolds`, whose models are
    :class:`~occupancy_utils.bnn_study.FoldRun`)."""

    label: str
    settings: Settings
    runs: dict[str, dict[int, FittedFolds]]

    @property
    def chosen(self) -> dict[int, dict[str, Any]]:
        """Fold number -> the configuration that fold's model uses."""
        return dict(next(iter(next(iter(self.runs.values())).values())).chosen)

    def run(self, protocol: str, seed: int, fold: int) -> FoldRun:
        """The run of one protocol, seed and fold; KeyError if that run is absent."""
        runs, i = self._at(protocol, seed, fold)
        return runs.models[i]

    def predictions(self, protocol: str, seed: int, fold: int) -> pd.DataFrame:
        """Per-row predictions of one protocol, seed and fold; KeyError if that run is absent."""
        runs, i = self._at(protocol, seed, fold)
        return runs.predictions[i]

    def _at(self, protocol: str, seed: int, fold: int) -> tuple[FittedFolds, int]:
        try:
            runs = self.runs[protocol][seed]
            return runs, [m.parts.fold.number for m in runs.models].index(fold)
        except (KeyError, ValueError):
            raise KeyError(f"{self.label}: no run for {protocol}, seed {seed}, "
                           f"fold {fold}") from None


def train_final(frame: pd.DataFrame, folds: Sequence[splits.Fold], label: str,
                chosen: Mapping[int, Mapping[str, Any]], settings: Settings,
                protocols: Sequence[str], seeds: Sequence[int],
                curves_fold: int | None = None) -> FinalModel:
    """Each fold's configuration trained again under the given protocols and seeds
    (:func:`~occupancy_utils.finals.train`, everything checked first); with
    ``curves_fold`` the first seed also records learning curves on that fold, so the
    figure needs no extra training."""
    chosen = {k: check_params(p) for k, p in chosen.items()}
    if curves_fold is not None:
        fold_by_number(folds, curves_fold)
    fit = functools.partial(_fit_fold, frame, settings, curves_fold)
    runs = finals.train(fit, folds, dict.fromkeys(protocols, chosen), seeds, desc=label)
    return FinalModel(label, settings, runs[KEY])


def results_model(model: FinalModel) -> dict[str, Any]:
    """One model's entry of the results file (CONTRIBUTING.md schema).

    ``seeds`` hold the scores of the argmax class (the report's MSE);
    ``seeds_expected_count`` the same with the MSE of the expected count.
    Times are per seed, summed over the folds, averaged over the seeds.
    """
    chosen = model.chosen
    params = dict(next(iter(chosen.values()))) if nested.distinct(chosen) == 1 else {}
    return model_entry(model.label, {**params, **asdict(model.settings)}, probabilistic=True,
                       protocols=finals.protocol_blocks(
                           model.runs, extras={"seeds_expected_count": finals.value_summary}))


def all_runs(models: Mapping[str, FinalModel]) -> finals.Runs:
    """The chapter's final models as :data:`~occupancy_utils.finals.Runs`, keyed by name."""
    return {key: m.runs for key, m in models.items()}


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
    models = {"bnn": train_final(frame, folds, "BNN (report's configuration: "
                                 f"{config_text(report_config)})", everywhere, settings,
                                 ["report", "clean"], seeds, curves_fold)}
    if any(p != report_config for p in chosen.values()):
        label = ("BNN (chosen on validation: " + config_text(next(iter(chosen.values()))) + ")"
                 if nested.distinct(chosen) == 1 else "BNN (chosen per fold on validation)")
        models["bnn_selected"] = train_final(frame, folds, label, chosen, settings, ["clean"],
                                             seeds, curves_fold)
    swapped = other_kl(settings)
    models[f"bnn_{swapped.kl}"] = train_final(
        frame, folds, f"BNN (report's configuration, KL scaled '{swapped.kl}')", everywhere,
        swapped, ["clean"], seeds)
    return models


def write_chapter_results(profile: str, notebook: str, models: Mapping[str, FinalModel],
                          elapsed_seconds: float, gaps: Mapping[str, Any] | None = None
                          ) -> tuple[Any, Any]:
    """The results file (CONTRIBUTING.md schema, with the ``protocol_gap`` entries) and
    the per-row predictions file (the validation tails' predictions are written beside it)."""
    payload = results.chapter_payload(
        notebook, profile, elapsed_seconds,
        {key: results_model(m) for key, m in models.items()}, protocol_gap=dict(gaps or {}))
    runs = all_runs(models)
    results.write_predictions(profile, notebook, finals.predictions_frame(runs, "validation"),
                              part="validation")
    return (results.write_results(profile, notebook, payload),
            results.write_predictions(profile, notebook, finals.predictions_frame(runs)))


def gap_scores(frame: pd.DataFrame, folds: Sequence[splits.Fold], final: FinalModel,
               seeds: Sequence[int]) -> dict[str, dict[int, float]]:
    """Mean-over-folds test MSE per regime of :mod:`~occupancy_utils.protocol_gap` and
    seed, for a final model with one configuration on every fold, run under both
    protocols: its report and clean runs are reused; the ``held_out`` runs are trained
    here, as :func:`~occupancy_utils.bnn_study.evaluate` trains (one thread, seeded per fold)."""
    if nested.distinct(final.chosen) != 1 or not {"report", "clean"} <= set(final.runs):
        raise ValueError(f"{final.label}: the protocol gap needs one configuration on every "
                         f"fold run under both protocols")
    params = next(iter(final.chosen.values()))
    reused = {p: {s: float(r.summary()["mean"]["mse"]) for s, r in final.runs[p].items()}
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

