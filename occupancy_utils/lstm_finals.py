"""Chapter 6's final models: each fold's chosen LSTM trained again for every seed and
scored on the test parts with dropout off and with Monte Carlo dropout, their predictions, the
results file and the protocol gap's paired runs.

Nothing here is reached by a stored search (their code lives in
:mod:`~occupancy_utils.lstm_study`), so editing it keeps every stored search."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
from tqdm import tqdm

from . import experiment, nested, protocol_gap, results, splits, training
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
    """Predictions and timings of the final models of one variant, every protocol and seed."""

    variant: str
    configs: dict[str, dict[int, Config]]
    predictions: dict[tuple[str, str, int], list[pd.DataFrame]] = field(default_factory=dict)
    #: the same models' predictions on each fold's validation tail (clean protocol only)
    validation: dict[tuple[str, str, int], list[pd.DataFrame]] = field(default_factory=dict)
    train_seconds: dict[str, float] = field(default_factory=dict)
    predict_seconds: dict[tuple[str, str], float] = field(default_factory=dict)
    epochs: dict[tuple[str, int], list[int]] = field(default_factory=dict)


def final_models(frame: pd.DataFrame, variant: str,
                 configs: Mapping[str, Mapping[int, Config]], *, settings: Settings,
                 seeds: Sequence[int], mc_samples: int, progress: bool = True,
                 threads: int) -> Final:
    """Train each protocol's choice for every seed and fold (``configs[protocol][fold]``,
    as ``Search.per_fold``); score with dropout off and MC.

    On ``threads`` torch threads (0: every core this process may use), restored
    afterwards.

    ``predictions[(model_key, protocol, seed)]`` holds one frame per fold;
    ``validation`` the same for each fold's validation tail under ``clean``
    (what chapter 7 chooses thresholds on), with no test row involved.
    """
    folds = splits.make_folds(frame.index)
    result = Final(variant, dict(configs))
    jobs = [(p, s, f) for p in configs for s in seeds for f in folds]
    with training.torch_threads(threads_per_worker(threads, 1)):
        for protocol, seed, fold in tqdm(jobs, desc=f"final {variant}", disable=not progress):
            _final_fold(frame, result, configs[protocol][fold.number], protocol, seed, fold,
                        settings=settings, mc_samples=mc_samples)
    return result


def _final_fold(frame: pd.DataFrame, result: Final, config: Config, protocol: str, seed: int,
                fold: splits.Fold, *, settings: Settings, mc_samples: int) -> None:
    """One final model of :func:`final_models`: train, then predict the test part (and
    the validation tail under ``clean``) with dropout off and MC; into ``result``."""
    variant = result.variant
    key_det, key_mc = MODEL_KEYS[(variant, False)], MODEL_KEYS[(variant, True)]
    windows = fold_windows(frame, fold, protocol, config.seq_len, settings.val_fraction)
    model, history, secs = train_fold(windows, config, settings, seed)
    result.train_seconds[protocol] = result.train_seconds.get(protocol, 0.0) + secs
    result.epochs.setdefault((protocol, seed), []).append(history.epochs)
    test = history_windows(frame, fold, fold.test, config.seq_len)
    tail = (history_windows(frame, fold, fold.validation_split(settings.val_fraction)[1],
                            config.seq_len) if protocol == "clean" else None)
    for key, mc in ((key_det, False), (key_mc, True)):
        start = time.perf_counter()
        pred = (mc_frame(model, test, variant, fold.number, mc_samples, seed)
                if mc else deterministic_frame(model, test, variant, fold.number))
        t = time.perf_counter() - start
        result.predict_seconds[(key, protocol)] = (
            result.predict_seconds.get((key, protocol), 0.0) + t)
        result.predictions.setdefault((key, protocol, seed), []).append(pred)
        if tail is not None:
            val = (mc_frame(model, tail, variant, fold.number, mc_samples, seed) if mc
                   else deterministic_frame(model, tail, variant, fold.number))
            result.validation.setdefault((key, protocol, seed), []).append(val)


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
    out: dict[tuple[str, str, int], dict[str, dict]] = {}
    for (key, protocol, seed), frames in final.predictions.items():
        entry = {"labels": experiment.summarize(frames)}
        if "value" in frames[0]:
            entry["value"] = experiment.summarize(frames, value_column="value")
        if "y_pred_freq" in frames[0]:
            by_freq = [f.assign(y_pred=f["y_pred_freq"]) for f in frames]
            entry["frequency"] = experiment.summarize(by_freq)
        out[(key, protocol, seed)] = entry
    return out


def results_models(finals: Sequence[Final]) -> dict[str, Any]:
    """The ``models`` part of results/<profile>/06_lstm.json (CONTRIBUTING.md schema).

    ``seeds`` scores class labels (regression rounded; MC classification by
    mean softmax). Extra entries: ``seeds_value_mse`` (regression: MSE on the
    raw output / MC mean) and ``seeds_by_frequency`` (MC classification
    labelled by class frequencies, the report's way).
    """
    models: dict[str, Any] = {}
    for final in finals:
        scored = summaries(final)
        for mc in (False, True):
            key = MODEL_KEYS[(final.variant, mc)]
            # the book's model is the clean protocol's winner; the report's is also kept
            main = final.configs.get("clean") or next(iter(final.configs.values()))
            by_fold = {k: c.hyper() for k, c in main.items()}
            protocols = {}
            for protocol in final.configs:
                seeds = sorted(s for (k, p, s) in scored if k == key and p == protocol)
                extras = {name: {s: scored[(key, protocol, s)][extra] for s in seeds}
                          for extra, name in (("value", "seeds_value_mse"),
                                              ("frequency", "seeds_by_frequency"))
                          if extra in scored[(key, protocol, seeds[0])]}
                protocols[protocol] = results.protocol_block(
                    {s: scored[(key, protocol, s)]["labels"] for s in seeds},
                    train_seconds=final.train_seconds[protocol] / len(seeds),
                    predict_seconds=final.predict_seconds[(key, protocol)] / len(seeds),
                    **extras)
            models[key] = results.model_entry(
                LABELS[key],
                next(iter(by_fold.values())) if nested.distinct(by_fold) == 1 else {},
                probabilistic=mc, protocols=protocols,
                params_by_protocol={p: {str(k): c.hyper() for k, c in configs.items()}
                                    for p, configs in final.configs.items()})
    return models


def predictions_frame(finals: Sequence[Final], part: str = "test") -> pd.DataFrame:
    """All per-row predictions of the test parts (or, ``part="validation"``, of the
    validation tails) in the shape results.write_predictions expects."""
    results.check_part(part)
    return experiment.predictions_table(
        (key, protocol, seed, f) for final in finals
        for (key, protocol, seed), frames in (final.predictions if part == "test"
                                              else final.validation).items()
        for f in frames)


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
    key = MODEL_KEYS[(final.variant, False)]
    folds = splits.make_folds(frame.index)
    reused = {regime: {s: float(experiment.summarize(final.predictions[(key, regime, s)])
                                ["mean"]["mse"])
                       for s in seeds if (key, regime, s) in final.predictions}
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

