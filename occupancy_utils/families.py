"""The baselines a practitioner would try first, each one small class.

A family says how to build its scikit-learn estimator from one grid point and
a seed, and whether it reads the windowed features (:mod:`~occupancy_utils.features`)
or nothing at all. Everything else (the nested per-fold selection, the final
models over seeds, the results files) is shared, in :mod:`~occupancy_utils.nested`:
adding a family is one class here and one section in ``params/*.yaml``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from sklearn.base import ClassifierMixin
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


class Family:
    """A model family: how one grid point becomes an estimator with fit/predict_proba."""

    key: ClassVar[str]
    label: ClassVar[str]
    #: Whether the estimator reads the windowed features (else no input at all).
    windowed: ClassVar[bool] = True
    #: The grid parameters it takes (the search checks a grid against them).
    params: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def check(cls, grid: Mapping[str, Any]) -> None:
        """A ValueError naming the family when a grid's keys are not its parameters."""
        if set(grid) != set(cls.params):
            raise ValueError(f"{cls.key}: grid keys {sorted(grid)} are not its parameters "
                             f"{sorted(cls.params)}")

    @classmethod
    def make(cls, params: Mapping[str, Any], seed: int) -> ClassifierMixin:
        """The estimator of one grid point, seeded."""
        raise NotImplementedError


class GradientBoosting(Family):
    """Histogram gradient boosting on the windowed features (no internal early stopping:
    its random validation split would be a second, hidden selection)."""

    key, label = "gradient_boosting", "gradient boosting (windowed features)"
    params = ("learning_rate", "max_leaf_nodes", "max_iter")

    @classmethod
    def make(cls, params: Mapping[str, Any], seed: int) -> ClassifierMixin:
        return HistGradientBoostingClassifier(
            learning_rate=float(params["learning_rate"]),
            max_leaf_nodes=int(params["max_leaf_nodes"]), max_iter=int(params["max_iter"]),
            early_stopping=False, random_state=seed)


class WindowedForest(Family):
    """A random forest on the windowed features (chapter 2's forest reads single readings)."""

    key, label = "forest_windowed", "random forest (windowed features)"
    params = ("n_estimators", "min_samples_leaf", "max_features")

    @classmethod
    def make(cls, params: Mapping[str, Any], seed: int) -> ClassifierMixin:
        return RandomForestClassifier(
            n_estimators=int(params["n_estimators"]),
            min_samples_leaf=int(params["min_samples_leaf"]),
            max_features=params["max_features"], random_state=seed, n_jobs=1)


class Logistic(Family):
    """Multinomial logistic regression on standardised windowed features."""

    key, label = "logistic", "logistic regression (windowed features)"
    params = ("C",)

    @classmethod
    def make(cls, params: Mapping[str, Any], seed: int) -> ClassifierMixin:
        return make_pipeline(StandardScaler(),
                             LogisticRegression(C=float(params["C"]), max_iter=2000,
                                                random_state=seed))


class Majority(Family):
    """The training part's most common count, whatever the sensors say: the persistence
    baseline that needs no label at prediction time (lag-1 needs one, so it is an oracle)."""

    key, label = "majority", "most common training count"
    windowed = False

    @classmethod
    def make(cls, params: Mapping[str, Any], seed: int) -> ClassifierMixin:
        return DummyClassifier(strategy="prior")


#: Every family, by key, in the order tables list them.
FAMILIES: dict[str, type[Family]] = {
    f.key: f for f in (GradientBoosting, WindowedForest, Logistic, Majority)}


def family(key: str) -> type[Family]:
    """The family of a key; a ValueError lists the known ones."""
    if key not in FAMILIES:
        raise ValueError(f"unknown model family {key!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[key]
