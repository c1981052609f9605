"""Chapter 6's final models: each fold's chosen LSTM trained again for every seed and
scored on the test parts with dropout off and with Monte Carlo dropout, their predictions, the
results file and the protocol gap's paired runs.

Nothing here is reached by a stored search (their code lives in
:mod:`~occupancy_utils.lstm_study`), so editing it keeps every stored search."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from . import experiment, finals, nested, protocol_gap, results, splits, training
from .experiment import FittedFolds
from .lstm_study import (
    FEATURES,
    LABELS,
    MODEL_KEYS,
    Config,
    Search,
    Settings,
    deterministic_frame,
    fold_windows,
    history_windows,
    mc_frame,
    part_windows,
    threads_per_worker,
    train_fold,
)
from .models import lstm

# --- final models -------------------------------------------------------------------------

@dataclass
class Final:
    """The final models of one variant: :data:`~occupancy_utils.finals.Runs` (model key ->
    protocol -> seed -> the seed's models over the folds, each run's ``chosen`` holding
    every fold's :class:`~occupancy_utils.lstm_study.Config`)."""

    variant: str
    runs: finals.Runs

    @property
    def configs(self) -> dict[str, dict[int, Config]]:
        """Protocol -> fold number -> the configuration that fold's models use."""
        runs = self.runs[MODEL_KEYS[(self.variant, False)]]
        return {p: dict(next(iter(by_seed.values())).chosen) for p, by_seed in runs.items()}

    def frames(self, key: str, protocol: str, seed: int) -> list[pd.DataFrame]:
        """Per-fold test predictions of one model key, protocol and seed."""
        return self.runs[key][protocol][seed].predictions


def final_models(frame: pd.DataFrame, variant: str,
                 configs: Mapping[str, Mapping[int, Config]], *, settings: Settings,
                 seeds: Sequence[int], mc_samples: int, progress: bool = True,
                 threads: int) -> Final:
    """Train each protocol's choice for every seed and fold (``configs[protocol][fold]``,
    as ``Search.per_fold``) through :func:`~occupancy_utils.finals.train`; score with
    dropout off and MC.

    On ``threads`` torch threads (0: every core this process may use), restored
    afterwards. Under ``clean`` each fold's validation tail is predicted too (what
    chapter 7 chooses thresholds on), with no test row involved.
    """
    fit = functools.partial(_fit_fold, frame, variant, settings, mc_samples)
    with training.torch_threads(threads_per_worker(threads, 1)):
        return Final(variant, finals.train(fit, splits.make_folds(frame.index), configs, seeds,
                                           desc=f"final {variant}", progress=progress))


def _fit_fold(frame: pd.DataFrame, variant: str, settings: Settings, mc_samples: int,
              fold: splits.Fold, config: Config, protocol: str, seeds: list[int]
              ) -> list[finals.FoldFit]:
    """One fold's final models of :func:`final_models`, one per seed: train, then predict
    the test part (and the validation tail under ``clean``) with dropout off and MC."""
    keys = {False: MODEL_KEYS[(variant, False)], True: MODEL_KEYS[(variant, True)]}
    windows = fold_windows(frame, fold, protocol, config.seq_len, settings.val_fraction)
    test = history_windows(frame, fold, fold.test, config.seq_len)
    tail = (history_windows(frame, fold, fold.validation_split(settings.val_fraction)[1],
                            config.seq_len) if protocol == "clean" else None)

    def scored(model: lstm.LSTMNet, rows: Any, mc: bool, seed: int) -> pd.DataFrame:
        return (mc_frame(model, rows, variant, fold.number, mc_samples, seed) if mc
                else deterministic_frame(model, rows, variant, fold.number))

    out = []
    for seed in seeds:
        model, _, secs = train_fold(windows, config, settings, seed)
        predicted, seconds, validation = {}, {}, {}
        for mc, key in keys.items():
            start = time.perf_counter()
            predicted[key] = scored(model, test, mc, seed)
            seconds[key] = time.perf_counter() - start
            if tail is not None:
                validation[key] = scored(model, tail, mc, seed)
        out.append(finals.FoldFit(predicted, model, secs, seconds, validation))
    return out


def all_final_models(frame: pd.DataFrame, searches: Mapping[tuple[str, str], Search],
                     protocols: Sequence[str], **final_args: Any) -> dict[str, Final]:
    """:func:`final_models` of every variant
    :func:`~occupancy_utils.lstm_study.all_searches` searched, each fold on its protocol's
    own choice; ``final_args`` are its keyword arguments."""
    return {variant: final_models(frame, variant,
                                  {p: searches[(variant, p)].per_fold for p in protocols},
                                  **final_args)
            for variant in lstm.VARIANTS if all((variant, p) in searches for p in protocols)}


def summaries(final: Final) -> dict[tuple[str, str, int], dict[str, dict]]:
    """Scores of every (model, protocol, seed), the ways the chapter reports them.

    ``labels``: MSE on class labels (the report's); ``value``: MSE on the raw
    regression output or MC mean (regression only); ``frequency``: labels from
    the MC class frequencies (classification MC only, the report's way).
    """
    return {(key, protocol, seed): {way: score(run) for way, score in _ways(run).items()}
            for key, by_protocol in final.runs.items()
            for protocol, by_seed in by_protocol.items() for seed, run in by_seed.items()}


def _ways(run: FittedFolds) -> dict[str, Callable[[FittedFolds], dict]]:
    """The ways a run's predictions are scored, by the columns it has."""
    first = run.predictions[0]
    return {"labels": FittedFolds.summary,
            **({"value": finals.value_summary} if "value" in first else {}),
            **({"frequency": finals.frequency_summary} if "y_pred_freq" in first else {})}


#: The results file's name of each extra way of scoring (:func:`summaries`).
EXTRA_NAMES = {"value": "seeds_value_mse", "frequency": "seeds_by_frequency"}


def results_models(finals_: Sequence[Final]) -> dict[str, Any]:
    """The ``models`` part of results/<profile>/06_lstm.json (CONTRIBUTING.md schema).

    ``seeds`` scores class labels (regression rounded; MC classification by
    mean softmax). Extra entries: ``seeds_value_mse`` (regression: MSE on the
    raw output / MC mean) and ``seeds_by_frequency`` (MC classification
    labelled by class frequencies, the report's way).
    """
    models: dict[str, Any] = {}
    for final in finals_:
        configs = final.configs
        # the book's model is the clean protocol's winner; the report's is also kept
        main = configs.get("clean") or next(iter(configs.values()))
        by_fold = {k: c.hyper() for k, c in main.items()}
        for mc in (False, True):
            key = MODEL_KEYS[(final.variant, mc)]
            first = next(iter(next(iter(final.runs[key].values())).values()))
            extras = {EXTRA_NAMES[way]: score for way, score in _ways(first).items()
                      if way in EXTRA_NAMES}
            models[key] = results.model_entry(
                LABELS[key],
                next(iter(by_fold.values())) if nested.distinct(by_fold) == 1 else {},
                probabilistic=mc,
                protocols=finals.protocol_blocks(final.runs[key], with_chosen=False,
                                                 extras=extras),
                params_by_protocol={p: {str(k): c.hyper() for k, c in by_p.items()}
                                    for p, by_p in configs.items()})
    return models


def predictions_frame(finals_: Sequence[Final], part: str = "test") -> pd.DataFrame:
    """All per-row predictions of the test parts (or, ``part="validation"``, of the
    validation tails) in the shape results.write_predictions expects."""
    return finals.predictions_frame({k: v for f in finals_ for k, v in f.runs.items()}, part)


# --- results files ------------------------------------------------------------------------

def results_payload(profile: str, finals: Sequence[Final], searches: Sequence[Search],
                    elapsed_seconds: float, mc_samples: int, settings: Settings) -> dict[str, Any]:
    """The whole results/<profile>/06_lstm.json: the shared schema plus this chapter's extras.

    ``search_seconds`` sums the training time of every grid point (work a
    resumed run did not redo is counted too), the cost of the searches.
    """
    return results.chapter_payload(
        "06_lstm", profile, elapsed_seconds, results_models(finals),
        mc_samples=mc_samples, settings=asdict(settings),
        scored_on="every test row; windows take their history from the readings before",
        search={f"{s.variant}/{s.protocol}": {
            "per_fold": {str(k): c.hyper() for k, c in s.per_fold.items()},
            "seconds": s.seconds, "studies": list(s.names)} for s in searches},
        search_seconds=float(sum(s.seconds for s in searches)))


def gap_scores(frame: pd.DataFrame, final: Final, *, settings: Settings,
               seeds: Sequence[int], threads: int) -> dict[str, dict[int, float]]:
    """Dropout-off mean-over-folds test MSE per regime of
    :mod:`~occupancy_utils.protocol_gap` and seed, for the report protocol's configuration
    on every fold.

    The report protocol's finals are reused, the clean protocol's where it chose the
    same configuration on every fold; the other regimes are trained here as
    :func:`final_models` trains (windows inside each part, every test row scored
    with its history).
    """
    configs = final.configs.get("report", {})
    if len(set(configs.values())) != 1:
        raise ValueError("the protocol gap needs the report protocol's one configuration")
    config = next(iter(configs.values()))
    runs = final.runs[MODEL_KEYS[(final.variant, False)]]
    folds = splits.make_folds(frame.index)
    reused = {regime: {s: float(runs[regime][s].summary()["mean"]["mse"])
                       for s in seeds if s in runs[regime]}
              for regime in protocol_gap.REGIMES
              if set(final.configs.get(regime, {}).values()) == {config}}

    def train(regime: str, seed: int) -> float:
        preds = []
        for fold in folds:
            parts = protocol_gap.regime_parts(frame, fold, FEATURES, regime,
                                              settings.val_fraction)
            windows = {name: part_windows(parts.x[name], parts.y[name], parts.positions[name],
                                          parts.index[name], config.seq_len)
                       for name in ("fit", "monitor")}
            model, _, _ = train_fold(windows, config, settings, seed)
            test = history_windows(frame, fold, fold.test, config.seq_len)
            preds.append(deterministic_frame(model, test, final.variant, fold.number))
        return float(experiment.summarize(preds)["mean"]["mse"])

    with training.torch_threads(threads_per_worker(threads, 1)):
        return protocol_gap.paired_scores(reused, seeds, protocol_gap.per_seed(train))


def protocol_gaps(frame: pd.DataFrame, finals: Mapping[str, Final], *, settings: Settings,
                  seeds: Sequence[int], threads: int) -> dict[str, dict]:
    """The results file's ``protocol_gap`` entries of every variant that ran under both
    protocols (:func:`gap_scores`, dropout off), keyed as its dropout-off model."""
    out = {}
    for variant, final in finals.items():
        if {"report", "clean"} <= set(final.configs):
            config = next(iter(final.configs["report"].values()))
            out[MODEL_KEYS[(variant, False)]] = protocol_gap.entry(
                LABELS[MODEL_KEYS[(variant, False)]], nested.config_text(config.hyper()),
                gap_scores(frame, final, settings=settings, seeds=seeds, threads=threads))
    return out

