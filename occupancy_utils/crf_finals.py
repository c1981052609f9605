"""Chapter 4's final models: each fold's chosen configuration trained again for every seed
(the seeds of a fold as one stack), both decodings' predictions, the results file and the
protocol gap's paired runs.

Nothing here is reached by a stored search (their code lives in
:mod:`~occupancy_utils.crf_study`), so editing it keeps every stored search."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import experiment, finals, nested, protocol_gap, splits
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
from .results import chapter_payload, model_entry

# --------------------------------------------------------------------------- final models

def final_models(frame: pd.DataFrame, folds: Sequence[splits.Fold],
                 chosen: Mapping[str, Mapping[int, Mapping[str, Any]]], seeds: Sequence[int],
                 *, max_epochs: int, patience: int, val_fraction: float,
                 record_transitions_fold: int | None = None) -> finals.Runs:
    """Each protocol's per-fold choice (``chosen[protocol][fold]``, from
    :func:`~occupancy_utils.crf_study.choices`) trained again on its fold for every seed
    (the seeds of a fold as one stack) through :func:`~occupancy_utils.finals.train`;
    both decodings' per-row predictions with their marginals, under the keys
    ``crf`` (chunk-wise) and ``crf_whole_fold``.

    Transitions are recorded on ``record_transitions_fold`` for the first seed only.
    """
    for protocol in chosen:
        check_settings(protocol, max_epochs, patience, val_fraction, list(seeds))
    fit = functools.partial(_fit_fold, frame, max_epochs, patience, val_fraction,
                            record_transitions_fold)
    return finals.train(fit, folds, chosen, seeds, desc="CRF finals")


def _fit_fold(frame: pd.DataFrame, max_epochs: int, patience: int, val_fraction: float,
              record_transitions_fold: int | None, fold: splits.Fold,
              config: Mapping[str, Any], protocol: str, seeds: list[int]
              ) -> list[finals.FoldFit]:
    """One fold's final models of :func:`final_models`, one per seed, as
    :func:`~occupancy_utils.crf_study.run_seeds` trains them."""
    runs = run_seeds(frame, fold, config, protocol, seeds, max_epochs=max_epochs,
                     patience=patience, val_fraction=val_fraction,
                     record_transitions_seed=seeds[0] if fold.number == record_transitions_fold
                     else None, proba=True)
    return [fold_fit(run) for run in runs]


def fold_fit(run: FoldRun) -> finals.FoldFit:
    """One run as :class:`~occupancy_utils.finals.FoldFit`: both decodings' per-row
    predictions of the test part, and of the validation tail where the run kept it."""
    test = {MODEL_KEYS[kind]: _frame(run.fold, run.positions, run.y_true, pred, proba)
            for kind, (pred, proba) in (("chunks", (run.chunk_pred, run.chunk_proba)),
                                        ("whole", (run.whole_pred, run.whole_proba)))}
    tail = ({MODEL_KEYS[kind]: _frame(run.fold, run.validation_positions, run.monitor_true,
                                      *run.validation[kind])
             for kind in MODEL_KEYS} if isinstance(run, ValidatedFoldRun) else {})
    return finals.FoldFit(test, run, run.train_seconds, dict.fromkeys(test, run.predict_seconds),
                          tail)


def _frame(fold: int, positions: np.ndarray, y_true: np.ndarray, pred: np.ndarray,
           proba: np.ndarray | None) -> pd.DataFrame:
    """Per-row predictions of one decoding: labels, and the marginals p0..p3 with their
    expected count where there are marginals."""
    extra = {}
    if proba is not None:
        extra = {"value": proba @ np.arange(proba.shape[1]),
                 **{f"p{k}": proba[:, k] for k in range(proba.shape[1])}}
    return experiment.prediction_frame(fold, positions, y_true, pred, **extra)


def fold_runs(runs: finals.Runs) -> dict[str, dict[int, list[FoldRun]]]:
    """Protocol -> seed -> the runs over the folds (history, transitions, both decodings),
    what the chapter's tables of the runs themselves read."""
    return {protocol: {seed: list(run.models) for seed, run in by_seed.items()}
            for protocol, by_seed in runs[MODEL_KEYS["chunks"]].items()}


def results_payload(runs: finals.Runs, *, profile: str, elapsed_seconds: float,
                    search_seconds: Mapping[str, float], settings: Mapping[str, Any]
                    ) -> dict[str, Any]:
    """The results file (CONTRIBUTING.md schema), one model per decoding.

    ``params`` of a model is the report protocol's choice; each protocol block
    also carries the configuration each fold used (``chosen``) and how it was
    selected (``selected_by``): the clean protocol chooses per fold.
    """
    models = {}
    for kind, key in MODEL_KEYS.items():
        protocols = finals.protocol_blocks(runs[key])
        for protocol, block in protocols.items():
            block["selected_by"] = ("mean test MSE" if protocol == "report"
                                    else "each fold's own validation MSE (nested)")
        first = "report" if "report" in protocols else next(iter(protocols))
        one = next(iter(next(iter(runs[key][first].values())).chosen.values()))
        has_proba = all(r.chunk_proba is not None for by_seed in runs[key].values()
                        for run in by_seed.values() for r in run.models)
        models[key] = model_entry(MODEL_LABELS[kind], {**one, **settings},
                                  probabilistic=has_proba, protocols=protocols)
    return chapter_payload("04_crf", profile, elapsed_seconds, models,
                           search_seconds=dict(search_seconds))


def seed_score(runs: Sequence[FoldRun], kind: str, key: str) -> float:
    """Mean over the folds of one seed's runs."""
    return float(summarize_runs(runs, kind)["mean"][key])


def gap_scores(frame: pd.DataFrame, folds: Sequence[splits.Fold], runs: finals.Runs,
               chosen: Mapping[str, Mapping[int, Mapping[str, Any]]], seeds: Sequence[int], *,
               max_epochs: int, patience: int, val_fraction: float
               ) -> dict[str, dict[int, float]]:
    """Chunk-wise mean-over-folds test MSE per regime of
    :mod:`~occupancy_utils.protocol_gap` and seed, for the report protocol's configuration
    (``chosen["report"]``) on every fold.

    A protocol's finals (``runs``, from :func:`final_models`) are reused where that
    protocol ran this configuration on every fold; the other regimes are trained here,
    as :func:`final_models` trains.
    """
    if nested.distinct(chosen["report"]) != 1:
        raise ValueError("the protocol gap needs the report protocol's one configuration")
    config = next(iter(chosen["report"].values()))
    check_config(config["hidden"], config["lr"], config["seq_len"])
    chunks = runs.get(MODEL_KEYS["chunks"], {})
    reused = {regime: {s: float(run.summary()["mean"]["mse"])
                       for s, run in chunks[regime].items()}
              for regime in protocol_gap.REGIMES
              if regime in chunks and all(c == config for run in chunks[regime].values()
                                          for c in run.chosen.values())}

    def train(regime: str, seeds: Sequence[int]) -> dict[int, float]:
        protocol = "clean" if regime == "clean" else "report"
        by_fold = [run_seeds(frame, fold, config, protocol, seeds, max_epochs=max_epochs,
                             patience=patience, val_fraction=val_fraction,
                             parts=protocol_gap.regime_parts(frame, fold, FEATURES, regime,
                                                             val_fraction))
                   for fold in folds]
        return {seed: seed_score([by[k] for by in by_fold], "chunks", "mse")
                for k, seed in enumerate(seeds)}

    return protocol_gap.paired_scores(reused, seeds, train)

