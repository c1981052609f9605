"""Figures of the comparison chapter: scores with their spread, reliability, risk-coverage."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .. import calibration
from ..experiment import PROBA_COLUMNS
from ..uncertainty_value import risk_coverage_of


def scores_figure(table: pd.DataFrame, metric: str = "mse") -> go.Figure:
    """Each model's score per protocol, with the spread over folds and over seeds."""
    fig = go.Figure()
    for protocol, rows in table.groupby("protocol", sort=False):
        fig.add_trace(go.Scatter(
            x=rows[metric], y=rows["label"], mode="markers", name=f"{protocol} protocol",
            error_x={"type": "data", "array": rows[f"{metric}_fold_std"], "visible": True},
            customdata=np.stack([rows[f"{metric}_seed_std"], rows["n_seeds"]], axis=-1),
            hovertemplate=("%{y}<br>" + metric + " %{x:.3f} (spread over folds shown)"
                           "<br>std over %{customdata[1]} seeds: %{customdata[0]:.3f}"
                           "<extra></extra>")))
    fig.update_layout(xaxis_title=f"{metric} (mean over folds)", height=120 + 40 * len(table),
                      margin={"l": 10, "r": 10, "t": 30, "b": 40}, legend={"orientation": "h"})
    return fig


def reliability_figure(models: dict[str, pd.DataFrame]) -> plt.Figure:
    """Reliability diagrams of the models with class probabilities."""
    names = [m for m, p in models.items() if set(PROBA_COLUMNS) <= set(p.columns)]
    cols = min(3, max(len(names), 1))
    nrows = -(-max(len(names), 1) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 3.6 * nrows), squeeze=False)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, names, strict=False):
        p = models[name]
        conf, acc = calibration.reliability(p["y_true"].to_numpy(),
                                            p[PROBA_COLUMNS].to_numpy())
        ax.plot([0, 1], [0, 1], ls="--", color="grey", label="perfect calibration")
        ax.plot(conf, acc, marker="o", label="model")
        ax.set(title=name, xlabel="confidence (top class)", ylabel="accuracy", xlim=(0, 1),
               ylim=(0, 1))
        ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    plt.close(fig)  # returned for display; not shown twice by the inline backend
    return fig


def risk_coverage_figure(models: dict[str, pd.DataFrame], metric: str = "mse") -> go.Figure:
    """Risk against coverage: keep the most confident rows, score only those."""
    fig = go.Figure()
    for name, p in models.items():
        curve = risk_coverage_of(p)
        fig.add_trace(go.Scatter(x=curve["coverage"], y=curve[metric], mode="lines+markers",
                                 name=name,
                                 hovertemplate="coverage %{x:.2f}<br>" + metric
                                 + " %{y:.3f}<extra>" + name + "</extra>"))
    fig.update_layout(xaxis_title="coverage (share of rows kept)", yaxis_title=metric,
                      height=380, margin={"l": 10, "r": 10, "t": 30, "b": 40})
    return fig


VERDICT_COLOURS = {"best": "#1b9e77", "indistinguishable": "#7570b3", "worse": "#d95f02"}


def ranking_figure(table: pd.DataFrame) -> go.Figure:
    """Each model's paired MSE difference to the best, with its bootstrap interval,
    coloured by the verdict (:func:`~occupancy_utils.ranking.verdict`)."""
    fig = go.Figure()
    for verdict, rows in table.groupby("verdict", sort=False):
        fig.add_trace(go.Scatter(
            x=rows["difference to best"], y=rows["model"], mode="markers", name=verdict,
            marker={"color": VERDICT_COLOURS.get(verdict, "grey"), "size": 9},
            error_x={"type": "data", "symmetric": False, "visible": True,
                     "array": rows["high"] - rows["difference to best"],
                     "arrayminus": rows["difference to best"] - rows["low"]},
            customdata=rows[["mse"]].to_numpy(),
            hovertemplate="%{y}<br>MSE %{customdata[0]:.3f}<br>minus the best: %{x:.3f}"
                          "<extra></extra>"))
    fig.add_vline(x=0, line_dash="dash", line_color="grey")
    fig.update_layout(xaxis_title="MSE minus the best model's, same rows (95 % interval)",
                      yaxis={"autorange": "reversed"}, height=140 + 32 * len(table),
                      margin={"l": 10, "r": 10, "t": 30, "b": 40}, legend={"orientation": "h"})
    return fig


def importance_figure(table: pd.DataFrame, title: str) -> plt.Figure:
    """Permutation importance: the rise in test MSE when one windowed feature is
    shuffled, mean over folds with its spread."""
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(table) + 1.2))
    ax.barh(table["feature"], table["mse increase"], xerr=table["fold spread"], color="#1b9e77")
    ax.invert_yaxis()
    ax.set(xlabel="rise in test MSE when shuffled (mean over folds, ± spread)", title=title)
    fig.tight_layout()
    plt.close(fig)
    return fig
