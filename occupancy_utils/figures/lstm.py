"""Figures of chapter 6: the search stages (Figures 11-12) and MC dropout predictions (13-14)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import seaborn as sns
from plotly.subplots import make_subplots

from .. import rng
from ..findings.lstm import assigned_probability, long_folds

#: Longest series drawn per trace; longer ones are thinned evenly (the figures stay light).
MAX_POINTS = 5000


def search_effects(stages: Mapping[str, pd.DataFrame], keys: Sequence[str],
                   ylabels: Mapping[str, str] | None = None) -> plt.Figure:
    """How each hyper-parameter moved the MSE, one row of panels per protocol.

    Each point is one grid point on one fold; the line joins the means per
    value and the bars are the standard deviation of those per-fold values
    (over folds and the other hyper-parameters), the spread the report's
    Figures 11-12 showed.
    """
    names = list(stages)
    fig, axes = plt.subplots(len(names), len(keys), figsize=(3.6 * len(keys), 3.2 * len(names)),
                             squeeze=False, sharey="row")
    with rng.seeded(0):  # seaborn jitters the points with NumPy's global generator
        for r, name in enumerate(names):
            tidy = long_folds(stages[name], keys)
            for c, key in enumerate(keys):
                ax = axes[r][c]
                order = sorted(tidy[key].unique())
                sns.stripplot(data=tidy, x=key, y="mse", hue="fold", order=order, ax=ax,
                              palette="tab10", alpha=0.55, size=4, jitter=0.15, legend=(c == 0))
                sns.pointplot(data=tidy, x=key, y="mse", order=order, ax=ax, color="black",
                              errorbar="sd", capsize=0.1, markers="D", linestyles="-",
                              linewidth=1.2, markersize=5)
                ax.set_xlabel(key)
                ax.set_ylabel((ylabels or {}).get(name, "MSE") if c == 0 else "")
                if c == 0 and ax.get_legend() is not None:
                    ax.legend(title="fold", fontsize="x-small", title_fontsize="x-small",
                              loc="upper right")
            axes[r][0].set_title(name, loc="left", fontsize="medium")
    fig.tight_layout()
    return fig


def _thin(frame: pd.DataFrame, max_points: int = MAX_POINTS) -> pd.DataFrame:
    if len(frame) <= max_points:
        return frame
    keep = np.unique(np.linspace(0, len(frame) - 1, max_points).round().astype(int))
    return frame.iloc[keep]


def regression_bands(pred: pd.DataFrame, title: str, k: float = 2.0) -> go.Figure:
    """MC regression: the truth, the mean of the samples and the mean +- k std band.

    ``pred`` is one fold's MC frame (``value``, ``std``, ``y_true``); the x axis
    counts the scored test samples of the fold, as the report's Figure 13 does.
    """
    p = _thin(pred.reset_index(drop=True).rename_axis("sample").reset_index())
    x = p["sample"]
    lo, hi = p["value"] - k * p["std"], p["value"] + k * p["std"]
    fig = go.Figure([
        go.Scatter(x=x, y=hi, mode="lines", line={"width": 0}, hoverinfo="skip",
                   showlegend=False),
        go.Scatter(x=x, y=lo, mode="lines", line={"width": 0}, fill="tonexty",
                   fillcolor="rgba(31,119,180,0.25)", name=f"mean ± {k:g}σ",
                   hoverinfo="skip"),
        go.Scatter(x=x, y=p["value"], mode="lines", line={"color": "rgb(31,119,180)",
                                                          "width": 1.5},
                   name="MC mean", customdata=p["std"],
                   hovertemplate="sample %{x}<br>mean %{y:.2f}<br>σ %{customdata:.2f}"
                                 "<extra></extra>"),
        go.Scatter(x=x, y=p["y_true"], mode="lines", line={"color": "black", "width": 1.5,
                                                            "shape": "hv"},
                   name="true count", hovertemplate="sample %{x}<br>true %{y}<extra></extra>"),
    ])
    fig.update_layout(title=title, xaxis_title="test sample (fold order)",
                      yaxis_title="people in the room", height=420,
                      margin={"l": 10, "r": 10, "t": 50, "b": 40},
                      legend={"orientation": "h", "y": -0.2})
    return fig


def classification_confidence(pred: pd.DataFrame, title: str) -> go.Figure:
    """MC classification: true and assigned class, and the probability of the assigned class.

    Both probabilities are drawn: the MC class frequency (the report's) and the
    mean softmax (the prediction the book keeps).
    """
    p = _thin(pred.reset_index(drop=True).rename_axis("sample").reset_index())
    p = p.assign(prob_softmax=assigned_probability(p, "softmax"),
                 prob_freq=assigned_probability(p, "frequency"))
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        row_heights=[0.5, 0.5])
    fig.add_trace(go.Scatter(x=p["sample"], y=p["y_true"], mode="lines", name="true class",
                             line={"color": "black", "shape": "hv", "width": 1.5}), row=1, col=1)
    fig.add_trace(go.Scatter(x=p["sample"], y=p["y_pred"], mode="lines",
                             name="assigned class (mean softmax)",
                             line={"color": "rgb(214,39,40)", "shape": "hv", "width": 1}),
                  row=1, col=1)
    fig.add_trace(go.Scatter(x=p["sample"], y=p["prob_freq"], mode="lines",
                             name="MC class frequency of its class (report)",
                             line={"color": "rgb(44,160,44)", "width": 1}), row=2, col=1)
    fig.add_trace(go.Scatter(x=p["sample"], y=p["prob_softmax"], mode="lines",
                             name="mean softmax of its class",
                             line={"color": "rgb(31,119,180)", "width": 1}), row=2, col=1)
    wrong = p[p["y_pred"] != p["y_true"]]
    fig.add_trace(go.Scatter(x=wrong["sample"], y=wrong["prob_softmax"], mode="markers",
                             name="wrong prediction", marker={"color": "rgb(214,39,40)",
                                                              "size": 4}), row=2, col=1)
    fig.update_yaxes(title_text="class", tickvals=[0, 1, 2, 3], row=1, col=1)
    fig.update_yaxes(title_text="probability", range=[0, 1.05], row=2, col=1)
    fig.update_xaxes(title_text="test sample (fold order)", row=2, col=1)
    fig.update_layout(title=title, height=520, margin={"l": 10, "r": 10, "t": 50, "b": 40},
                      legend={"orientation": "h", "y": -0.15})
    return fig
