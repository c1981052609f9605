"""The three network families behind one small interface: fit on a fold, predict its rows.

Chapters 4-6 train their networks through their own study modules, whose code
keys the stored searches. Re-scoring a chosen configuration on other folds
(chapter 7's second fold design) needs only one thing of each family: train a
configuration on one fold under the clean protocol and predict the fold's test
rows, with the MSE on its validation tail that a choice reads. Each family
here is that one method over its study module's own training code, so the
numbers are the ones the chapters compute; what is done with them (the
candidates, the choice, the stored runs) is written once, in
:mod:`~occupancy_utils.rescoring`. A new family is one more class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from . import bnn_study, crf_study, lstm_study, metrics, splits, training, uncertainty
from .models import lstm


@dataclass(frozen=True)
class Fitted:
    """One configuration trained on one fold (clean protocol).

    ``tail_mse``: the MSE on the fold's validation tail, what a choice among
    configurations reads (the test part is never scored for it);
    ``test``: model key -> the predicted count of every test row, in the
    order of ``fold.test``.
    """

    tail_mse: float
    test: dict[str, np.ndarray]


class Network:
    """A network family as the second fold design re-scores it.

    ``settings`` are the chapter's training settings (the results file keeps
    them); ``models`` the Table 7 keys one training yields (a CRF is
    decoded two ways, an LSTM scored with dropout off and with MC dropout).
    """

    family: ClassVar[str]

    def __init__(self, models: tuple[str, ...], settings: Mapping[str, Any]) -> None:
        if not models:
            raise ValueError(f"{self.family}: no model key to predict for")
        self.models = tuple(models)
        self.settings = dict(settings)

    def fit_predict(self, frame: pd.DataFrame, fold: splits.Fold, config: Mapping[str, Any],
                    seed: int) -> Fitted:
        """Train ``config`` on ``fold``'s clean parts with ``seed``; predict its test rows."""
        raise NotImplementedError

    def fit_predict_seeds(self, frame: pd.DataFrame, fold: splits.Fold,
                          config: Mapping[str, Any], seeds: Sequence[int]) -> list[Fitted]:
        """:meth:`fit_predict` once per seed, in order. One seed after another here; a
        family that can train its seeds together (the CRF) overrides this."""
        return [self.fit_predict(frame, fold, config, seed) for seed in seeds]


def _in_test_order(fold: splits.Fold, positions: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Labels reordered to ``fold.test``; a one-line error if a test row has none."""
    order = pd.Series(np.asarray(labels), index=np.asarray(positions))
    missing = np.setdiff1d(fold.test, order.index)
    if len(missing) or order.index.has_duplicates:
        raise ValueError(f"fold {fold.number}: predictions do not cover each test row once "
                         f"({len(missing)} missing)")
    return order.loc[fold.test].to_numpy().astype(int)


class CRF(Network):
    """MLP + CRF (chapter 4): chunk-wise and whole-fold Viterbi from one training; the tail
    is scored chunk-wise, as chapter 4's nested choice reads it (``val_mse_folds``)."""

    family = "crf"

    def fit_predict(self, frame: pd.DataFrame, fold: splits.Fold, config: Mapping[str, Any],
                    seed: int) -> Fitted:
        """:meth:`fit_predict_seeds` of one seed."""
        return self.fit_predict_seeds(frame, fold, config, [seed])[0]

    def fit_predict_seeds(self, frame: pd.DataFrame, fold: splits.Fold,
                          config: Mapping[str, Any], seeds: Sequence[int]) -> list[Fitted]:
        """:func:`~occupancy_utils.crf_study.run_seeds` under the clean protocol (the seeds
        trained as one stack); both decodings of each run's test part."""
        runs = crf_study.run_seeds(frame, fold, config, "clean", seeds,
                                   max_epochs=int(self.settings["max_epochs"]),
                                   patience=int(self.settings["patience"]),
                                   val_fraction=float(self.settings["val_fraction"]))
        out = []
        for run in runs:
            decoded = {"crf": run.chunk_pred, "crf_whole_fold": run.whole_pred}
            out.append(Fitted(metrics.scores(run.monitor_true, run.monitor_pred)["mse"],
                              {key: _in_test_order(fold, run.positions, decoded[key])
                               for key in self.models}))
        return out


class BNN(Network):
    """The Bayesian network (chapter 5): the argmax of the class probabilities averaged over
    the weight samples, on the tail as chapter 5's choice reads it and on the test rows."""

    family = "bnn"

    def fit_predict(self, frame: pd.DataFrame, fold: splits.Fold, config: Mapping[str, Any],
                    seed: int) -> Fitted:
        """:func:`~occupancy_utils.bnn_study.train_fold` under the clean protocol; the test
        rows' labels from the sampled class probabilities."""
        settings = bnn_study.Settings(**self.settings)
        run = bnn_study.train_fold(frame, fold, "clean", config, settings, seed)
        tail = metrics.scores(run.parts.y["monitor"],
                              run.monitor_probs.mean(axis=0).argmax(axis=1))["mse"]
        predicted = uncertainty.decompose(run.probs)["predicted"]
        labels = _in_test_order(fold, run.parts.positions["test"], predicted)
        return Fitted(tail, {key: labels for key in self.models})


class LSTM(Network):
    """The LSTM (chapter 6) of one variant: the tail scored with dropout off on its own
    windows (chapter 6's choice), every test row predicted from its history, with dropout
    off (first model key) and by MC dropout (second, ``mc_samples`` in the settings)."""

    family = "lstm"

    def __init__(self, models: tuple[str, ...], settings: Mapping[str, Any]) -> None:
        super().__init__(models, settings)
        self.variant = str(self.settings.pop("variant"))
        if self.variant not in lstm.VARIANTS:
            raise ValueError(f"variant must be one of {lstm.VARIANTS}, got {self.variant!r}")
        self.mc_samples = int(self.settings.pop("mc_samples"))

    def fit_predict(self, frame: pd.DataFrame, fold: splits.Fold, config: Mapping[str, Any],
                    seed: int) -> Fitted:
        """:func:`~occupancy_utils.lstm_study.train_fold` on the fold's clean windows; every
        test row predicted from its history, dropout off and by MC dropout."""
        settings = lstm_study.Settings(**self.settings)
        cfg = lstm_study.Config(variant=self.variant, **config)
        windows = lstm_study.fold_windows(frame, fold, "clean", cfg.seq_len,
                                          settings.val_fraction)
        model, _, _ = lstm_study.train_fold(windows, cfg, settings, seed)
        tail = lstm_study.deterministic_frame(model, windows["monitor"], self.variant,
                                              fold.number)
        test = lstm_study.history_windows(frame, fold, fold.test, cfg.seq_len)
        frames = [lstm_study.deterministic_frame(model, test, self.variant, fold.number),
                  lstm_study.mc_frame(model, test, self.variant, fold.number, self.mc_samples,
                                      seed)]
        return Fitted(metrics.scores(tail["y_true"], tail["y_pred"])["mse"],
                      {key: _in_test_order(fold, f["position"].to_numpy(), f["y_pred"])
                       for key, f in zip(self.models, frames, strict=False)})


#: Every family, by the name the stored runs use.
NETWORKS: dict[str, type[Network]] = {n.family: n for n in (CRF, BNN, LSTM)}


def network(family: str, models: tuple[str, ...], settings: Mapping[str, Any]) -> Network:
    """The family's network; a ValueError lists the known ones."""
    if family not in NETWORKS:
        raise ValueError(f"unknown network family {family!r}; known: {', '.join(NETWORKS)}")
    return NETWORKS[family](models, settings)


def fit_predict(net: Network, frame: pd.DataFrame, fold: splits.Fold,
                config: Mapping[str, Any], seeds: Sequence[int]) -> list[Fitted]:
    """:meth:`Network.fit_predict_seeds` on one torch thread (one per worker process)."""
    with training.torch_threads(1):
        return net.fit_predict_seeds(frame, fold, config, seeds)
