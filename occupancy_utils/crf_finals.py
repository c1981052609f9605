"""Chapter 4's final models: each fold's chosen configuration trained again for every seed
(the seeds of a fold as one stack), both decodings' predictions, the results file and the
protocol gap's paired runs.

Nothing here is reached by a stored search (their code lives in
:mod:`~occupancy_utils.crf_study`), so editing it keeps every stored search."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from . import experiment, nested, protocol_gap, splits
from .crf_study import (
    FEATURES,
    MODEL_KEYS,
    MODEL_LABELS,
    FoldRun,
    ValidatedFoldRun,
    check_config,
    check_settings,
    run_seeds,
    summarize_runs,
)
from .results import chapter_payload, check_part, model_entry, protocol_block

# --------------------------------------------------------------------------- final models

def retrain(frame: pd.DataFrame, folds: Sequence[splits.Fold],
            chosen: Mapping[int, Mapping[str, Any]], protocol: str, seeds: Sequence[int], *,
            max_epochs: int, patience: int, val_fraction: float,
            record_transitions_fold: int | None = None) -> dict[int, list[FoldRun]]:
    """Each fold's chosen configuration (:func:`~occupancy_utils.crf_study.choices`) on
    that fold, once per seed (the seeds of a fold trained as one stack), with class
    probabilities.

    Transitions are recorded on ``record_transitions_fold`` for the first seed only.
    """
    check_settings(protocol, max_epochs, patience, val_fraction, list(seeds))
    nested.check_chosen(chosen, folds)
    seeds = list(seeds)
    return _by_seed(seeds, [
        run_seeds(frame, fold, chosen[fold.number], protocol, seeds, max_epochs=max_epochs,
                  patience=patience, val_fraction=val_fraction,
                  record_transitions_seed=seeds[0] if fold.number == record_transitions_fold
                  else None, proba=True)
        for fold in tqdm(list(folds), desc=f"{protocol} folds", leave=False)])


def _by_seed(seeds: Sequence[int], by_fold: Sequence[Sequence[FoldRun]]
             ) -> dict[int, list[FoldRun]]:
    """Per-fold lists of :func:`~occupancy_utils.crf_study.run_seeds` (one run per seed)
    as one list of folds per seed."""
    return {seed: [runs[k] for runs in by_fold] for k, seed in enumerate(seeds)}


def predictions(final: Mapping[str, Mapping[int, Sequence[FoldRun]]], part: str = "test"
                ) -> pd.DataFrame:
    """Per-row predictions of both decodings (results.write_predictions' columns), on the
    test parts or (``part="validation"``) on the clean protocol's validation tails."""
    check_part(part)
    frames = []
    for protocol, by_seed in final.items():
        for seed, runs in by_seed.items():
            for kind, model in MODEL_KEYS.items():
                for r in runs:
                    if part == "test":
                        proba = r.chunk_proba if kind == "chunks" else r.whole_proba
                        pred = r.chunk_pred if kind == "chunks" else r.whole_pred
                        positions, y_true = r.positions, r.y_true
                    elif isinstance(r, ValidatedFoldRun):
                        pred, proba = r.validation[kind]
                        positions, y_true = r.validation_positions, r.monitor_true
                    else:
                        continue
                    extra = {}
                    if proba is not None:
                        extra = {"value": proba @ np.arange(proba.shape[1]),
                                 **{f"p{k}": proba[:, k] for k in range(proba.shape[1])}}
                    frames.append((model, protocol, seed, experiment.prediction_frame(
                        r.fold, positions, y_true, pred, **extra)))
    return experiment.predictions_table(frames)


def results_payload(final: Mapping[str, Mapping[int, Sequence[FoldRun]]],
                    chosen: Mapping[str, Mapping[int, Mapping[str, Any]]], *, profile: str,
                    elapsed_seconds: float, search_seconds: Mapping[str, float],
                    settings: Mapping[str, Any]) -> dict[str, Any]:
    """The results file (CONTRIBUTING.md schema), one model per decoding.

    ``params`` of a model is the report protocol's choice; each protocol block
    also carries the configuration each fold used (``chosen``) and how it was
    selected (``selected_by``): the clean protocol chooses per fold.
    """
    models = {}
    for kind, key in MODEL_KEYS.items():
        protocols = {}
        for protocol, by_seed in final.items():
            protocols[protocol] = protocol_block(
                {seed: summarize_runs(runs, kind) for seed, runs in by_seed.items()},
                train_seconds=sum(r.train_seconds for runs in by_seed.values() for r in runs)
                / len(by_seed),
                predict_seconds=sum(r.predict_seconds for runs in by_seed.values()
                                    for r in runs) / len(by_seed),
                chosen=chosen[protocol])
            protocols[protocol]["selected_by"] = (
                "mean test MSE" if protocol == "report"
                else "each fold's own validation MSE (nested)")
        first = "report" if "report" in chosen else next(iter(chosen))
        one = next(iter(chosen[first].values()))
        has_proba = all(r.chunk_proba is not None for by_seed in final.values()
                        for runs in by_seed.values() for r in runs)
        models[key] = model_entry(MODEL_LABELS[kind], {**one, **settings},
                                  probabilistic=has_proba, protocols=protocols)
    return chapter_payload("04_crf", profile, elapsed_seconds, models,
                           search_seconds=dict(search_seconds))


def seed_score(runs: Sequence[FoldRun], kind: str, key: str) -> float:
    """Mean over the folds of one seed's runs."""
    return float(summarize_runs(runs, kind)["mean"][key])


def gap_scores(frame: pd.DataFrame, folds: Sequence[splits.Fold],
               final: Mapping[str, Mapping[int, Sequence[FoldRun]]],
               chosen: Mapping[str, Mapping[int, Mapping[str, Any]]], seeds: Sequence[int], *,
               max_epochs: int, patience: int, val_fraction: float
               ) -> dict[str, dict[int, float]]:
    """Chunk-wise mean-over-folds test MSE per regime of
    :mod:`~occupancy_utils.protocol_gap` and seed, for the report protocol's configuration
    on every fold.

    A protocol's finals (``final[protocol]``, from :func:`retrain`) are reused
    where that protocol ran this configuration on every fold; the other regimes
    are trained here, as :func:`retrain` trains.
    """
    if nested.distinct(chosen["report"]) != 1:
        raise ValueError("the protocol gap needs the report protocol's one configuration")
    config = next(iter(chosen["report"].values()))
    check_config(config["hidden"], config["lr"], config["seq_len"])
    reused = {regime: {s: seed_score(runs, "chunks", "mse") for s, runs in final[regime].items()}
              for regime in protocol_gap.REGIMES
              if regime in final and all(c == config for c in chosen.get(regime, {}).values())}

    def train(regime: str, seeds: Sequence[int]) -> dict[int, float]:
        protocol = "clean" if regime == "clean" else "report"
        by_fold = [run_seeds(frame, fold, config, protocol, seeds, max_epochs=max_epochs,
                             patience=patience, val_fraction=val_fraction,
                             parts=protocol_gap.regime_parts(frame, fold, FEATURES, regime,
                                                             val_fraction))
                   for fold in folds]
        return {seed: seed_score(runs, "chunks", "mse")
                for seed, runs in _by_seed(seeds, by_fold).items()}

    return protocol_gap.paired_scores(reused, seeds, train)

