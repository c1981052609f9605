"""Final models, written once for every family: each fold's chosen configuration trained
again for every seed under each protocol, and what the chapters keep of them.

A family supplies one function, ``fit_fold(fold, config, protocol, seeds)``: train the
configuration on that fold once per seed and return one :class:`FoldFit` per seed, with
per-row predictions of the fold's test part under each model key the training yields
(a CRF is decoded two ways, an LSTM scored with dropout off and by MC dropout, a
baseline is one key) and, under the clean protocol, of its validation tail (what
chapter 7 sets thresholds on). :func:`train` runs it over protocols and folds and
assembles one shape for every family: model key -> protocol -> seed ->
:class:`~occupancy_utils.experiment.FittedFolds`. The per-row predictions files
(:func:`predictions_frame`) and the results schema's protocol blocks
(:func:`protocol_blocks`) are built from that shape, so every chapter writes the same
files the same way.

Nothing here is reached by a stored search, so editing it keeps every stored search.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from . import experiment, splits, training
from .experiment import FittedFolds
from .results import check_part, protocol_block


@dataclass
class FoldFit:
    """One configuration trained on one fold with one seed, and its per-row predictions.

    ``test`` and ``validation``: model key -> :func:`~occupancy_utils.experiment.prediction_frame`
    (``validation`` only where a tail was held out and kept); ``model``: the family's own
    record of the training (the fitted model, its history), for its chapter's figures;
    ``predict_seconds``: per model key.
    """

    test: dict[str, pd.DataFrame]
    model: Any
    train_seconds: float
    predict_seconds: dict[str, float]
    validation: dict[str, pd.DataFrame] = field(default_factory=dict)


#: ``fit_fold(fold, config, protocol, seeds)``: one :class:`FoldFit` per seed, in order.
FitFold = Callable[[splits.Fold, Any, str, list[int]], list[FoldFit]]
#: model key -> protocol -> seed -> the seed's models over the folds.
Runs = dict[str, dict[str, dict[int, FittedFolds]]]


def check_chosen(chosen: Mapping[int, Any], folds: Sequence[splits.Fold]) -> None:
    """Every fold has a chosen configuration; else a one-line error naming the missing."""
    missing = [f.number for f in folds if f.number not in chosen]
    if missing:
        raise ValueError(f"no chosen configuration for fold(s) {missing}")


def train(fit_fold: FitFold, folds: Sequence[splits.Fold],
          chosen: Mapping[str, Mapping[int, Any]], seeds: Sequence[int], *, desc: str,
          progress: bool = True) -> Runs:
    """``fit_fold`` for every protocol of ``chosen`` (protocol -> fold number ->
    configuration) and fold, all seeds at once (a family may train them together),
    everything checked first; the runs in :data:`Runs`' shape.

    Every family seeds each training on its own, so the order of the loop does not
    change a number.
    """
    seeds = training.check_seeds(seeds)
    for protocol, by_fold in chosen.items():
        training.check_protocol(protocol)
        check_chosen(by_fold, folds)
    fits: dict[tuple[str, int], list[FoldFit]] = {(p, s): [] for p in chosen for s in seeds}
    jobs = [(protocol, fold) for protocol in chosen for fold in folds]
    for protocol, fold in tqdm(jobs, desc=desc, leave=False, disable=not progress):
        done = fit_fold(fold, chosen[protocol][fold.number], protocol, list(seeds))
        if len(done) != len(seeds):
            raise ValueError(f"{desc}: fold {fold.number} returned {len(done)} fits for "
                             f"{len(seeds)} seeds")
        for seed, fit in zip(seeds, done, strict=True):
            fits[(protocol, seed)].append(fit)
    return assemble(fits, chosen)


def assemble(fits: Mapping[tuple[str, int], Sequence[FoldFit]],
             chosen: Mapping[str, Mapping[int, Any]]) -> Runs:
    """(protocol, seed) -> per-fold fits as :data:`Runs`: per model key, each seed's
    predictions and models over the folds, times summed over the folds, and each fold's
    configuration (``chosen[protocol]``)."""
    runs: Runs = {}
    for (protocol, seed), per_fold in fits.items():
        for key in per_fold[0].test:
            runs.setdefault(key, {}).setdefault(protocol, {})[seed] = FittedFolds(
                predictions=[f.test[key] for f in per_fold],
                models=[f.model for f in per_fold],
                train_seconds=float(sum(f.train_seconds for f in per_fold)),
                predict_seconds=float(sum(f.predict_seconds[key] for f in per_fold)),
                validation=[f.validation[key] for f in per_fold if key in f.validation],
                chosen=dict(chosen[protocol]))
    return runs


def predictions_frame(runs: Mapping[str, Mapping[str, Mapping[int, FittedFolds]]],
                      part: str = "test") -> pd.DataFrame:
    """Per-row predictions of every model key, protocol and seed (results schema columns),
    on the test parts or (``part="validation"``) on the clean protocol's validation tails."""
    check_part(part)
    return experiment.predictions_table(
        (key, protocol, seed, p) for key, by_protocol in runs.items()
        for protocol, by_seed in by_protocol.items() for seed, run in by_seed.items()
        for p in (run.predictions if part == "test" else run.validation))


def value_summary(run: FittedFolds) -> dict:
    """:func:`~occupancy_utils.experiment.summarize` with the MSE of the ``value`` column
    (a regression's raw output, an expected count) instead of the labels."""
    return experiment.summarize(run.predictions, value_column="value")


def frequency_summary(run: FittedFolds) -> dict:
    """:func:`~occupancy_utils.experiment.summarize` of the labels MC sampling voted for
    most often (``y_pred_freq``, the report's way) instead of the mean-softmax labels."""
    return experiment.summarize([p.assign(y_pred=p["y_pred_freq"]) for p in run.predictions])


def protocol_blocks(by_protocol: Mapping[str, Mapping[int, FittedFolds]], *,
                    with_chosen: bool = True,
                    extras: Mapping[str, Callable[[FittedFolds], dict]] | None = None
                    ) -> dict[str, dict[str, Any]]:
    """One model key's protocol blocks of the results schema
    (:func:`~occupancy_utils.results.protocol_block`): per seed the test scores, the times
    per seed (summed over folds, averaged over seeds), each fold's configuration (unless
    ``with_chosen`` is false: a family that lists them elsewhere) and each of ``extras``
    (name -> score of a seed's run)."""
    return {protocol: protocol_block(
        {s: r.summary() for s, r in by_seed.items()},
        train_seconds=np.mean([r.train_seconds for r in by_seed.values()]),
        predict_seconds=np.mean([r.predict_seconds for r in by_seed.values()]),
        chosen=next(iter(by_seed.values())).chosen if with_chosen else None,
        **{name: {s: score(r) for s, r in by_seed.items()}
           for name, score in (extras or {}).items()})
        for protocol, by_seed in by_protocol.items()}


def worse_than_zero(pred: pd.DataFrame) -> bool:
    """Whether one fold's predictions score a test MSE above that of predicting 0 people on
    every one of its rows (equal is not worse)."""
    y = pred["y_true"].to_numpy(dtype=float)
    return bool(np.mean((pred["y_pred"].to_numpy(dtype=float) - y) ** 2) > np.mean(y ** 2))


def above_zero(by_protocol: Mapping[str, Mapping[int, FittedFolds]]
               ) -> dict[tuple[str, int], list[int]]:
    """(protocol, fold number) -> the seeds whose model scores a test MSE on that fold above
    that of predicting 0 people on every one of its rows: the failed folds a mean over a
    few seeds hides (a fold where it is only equal is not counted)."""
    out: dict[tuple[str, int], list[int]] = {}
    for protocol, by_seed in by_protocol.items():
        for seed, run in by_seed.items():
            for p in run.predictions:
                if worse_than_zero(p):
                    out.setdefault((protocol, int(p["fold"].iloc[0])), []).append(seed)
    return out


def above_zero_by_key(runs: Runs) -> dict[str, dict[tuple[str, int], list[int]]]:
    """:func:`above_zero` of every model key."""
    return {key: above_zero(by_protocol) for key, by_protocol in runs.items()}
