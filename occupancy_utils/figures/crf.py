"""Figures of chapter 4 (MLP + CRF): the report's Figures 6-8 and views of the grid.

Figure 6 is static (matplotlib); the prediction, transition and grid views
are plotly, to be shown with :func:`occupancy_utils.plots.show`.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import optuna
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from matplotlib.figure import Figure

from ..training import History

#: Frames of the transition animation; a full-profile run may train for 1000 epochs.
MAX_FRAMES = 60


def loss_curves(history: History, protocol: str, title: str) -> Figure:
    """Figure 6: training loss and the monitored loss per epoch, best epoch marked.

    Under the report protocol the monitored loss is the test part's, and the
    label says so.
    """
    monitored = "test loss (report protocol)" if protocol == "report" else "validation loss"
    epochs = np.arange(1, history.epochs + 1)
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(epochs, history.train_loss, label="training loss")
    ax.plot(epochs, history.monitor, label=monitored)
    ax.axvline(history.best_epoch + 1, color="grey", ls="--", lw=1,
               label=f"best epoch ({history.best_epoch + 1})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("CRF negative log-likelihood per step")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def predictions_figure(y_true: np.ndarray, series: dict[str, np.ndarray], seq_len: int,
                       title: str) -> go.Figure:
    """Figure 7: true and predicted labels along the test part, chunk starts as faint lines.

    x is the sample number inside the test part, so the chunk grid is
    exact: chunk k starts at sample k * seq_len.
    """
    x = np.arange(len(y_true))
    fig = go.Figure()
    fig.add_scatter(x=x, y=y_true, name="truth", mode="lines", line={"shape": "hv", "width": 3},
                    opacity=0.5)
    for name, labels in series.items():
        fig.add_scatter(x=x, y=labels, name=name, mode="lines",
                        line={"shape": "hv", "width": 1.5})
    # One trace of None-separated segments: a shape per chunk start would be slow to build.
    starts = np.arange(0, len(y_true), seq_len)
    xs = np.column_stack([starts, starts, np.full(len(starts), np.nan)]).ravel()
    ys = np.tile([-0.2, 3.2, np.nan], len(starts))
    fig.add_scatter(x=xs, y=ys, name="chunk starts", mode="lines", hoverinfo="skip",
                    line={"width": 0.5, "color": "lightgrey"}, visible="legendonly")
    fig.update_layout(title=title, xaxis_title=f"sample in the test part "
                      f"(chunks of {seq_len} samples; click 'chunk starts' to show them)",
                      yaxis={"title": "people", "tickvals": [0, 1, 2, 3]},
                      height=420, legend={"orientation": "h", "y": -0.25})
    return fig


def frame_epochs(n_epochs: int, best_epoch: int, max_frames: int = MAX_FRAMES) -> list[int]:
    """At most ``max_frames`` 0-based epochs, evenly spread, always with first, last and best."""
    if n_epochs <= max_frames:
        return list(range(n_epochs))
    picked = set(np.linspace(0, n_epochs - 1, max_frames - 1).round().astype(int))
    return sorted(picked | {best_epoch})


def transitions_figure(matrices: Sequence[np.ndarray], best_epoch: int, title: str,
                       max_frames: int = MAX_FRAMES) -> go.Figure:
    """Figure 8: the learned transition scores, one slider step per (sampled) epoch.

    Scores, not probabilities: the CRF adds them to the emission scores, so a
    large diagonal against strongly negative off-diagonal cells is what makes
    a label change inside a chunk expensive.
    """
    if not len(matrices):
        raise ValueError("no transition matrices recorded (record_transitions was off)")
    epochs = frame_epochs(len(matrices), best_epoch, max_frames)
    limit = float(max(np.abs(m).max() for m in matrices)) or 1.0
    labels = [str(k) for k in range(matrices[0].shape[0])]

    def heatmap(m: np.ndarray) -> go.Heatmap:
        return go.Heatmap(z=m, x=labels, y=labels, zmin=-limit, zmax=limit, colorscale="RdBu",
                          texttemplate="%{z:.2f}", colorbar={"title": "score"})

    frames = [go.Frame(data=[heatmap(matrices[e])], name=str(e + 1)) for e in epochs]
    steps = [{"label": f.name, "method": "animate",
              "args": [[f.name], {"mode": "immediate", "frame": {"duration": 0, "redraw": True},
                                  "transition": {"duration": 0}}]} for f in frames]
    start = epochs.index(best_epoch) if best_epoch in epochs else len(epochs) - 1
    fig = go.Figure(data=[heatmap(matrices[epochs[start]])], frames=frames)
    fig.update_layout(
        title=f"{title} (slider at the best epoch, {best_epoch + 1})", height=520,
        xaxis={"title": "to label"}, yaxis={"title": "from label", "autorange": "reversed"},
        sliders=[{"active": start, "currentvalue": {"prefix": "epoch "}, "steps": steps,
                  "pad": {"t": 40}}],
        updatemenus=[{"type": "buttons", "showactive": False, "x": 1.0, "y": 1.12,
                      "xanchor": "right", "yanchor": "bottom", "buttons": [{
                          "label": "play", "method": "animate",
                          "args": [None, {"frame": {"duration": 150, "redraw": True},
                                          "fromcurrent": True}]}]}])
    return fig


def grid_scatter(grid: pd.DataFrame, title: str) -> go.Figure:
    """Every configuration: mean test MSE against mean F1 macro, details on hover."""
    data = grid.assign(hidden=grid["hidden"].astype(str), seq_len=grid["seq_len"].astype(str),
                       lr=grid["lr"].astype(str))
    fig = px.scatter(data, x="mse", y="f1_macro", color="hidden", symbol="seq_len",
                     hover_data=["rank", "hidden", "lr", "seq_len", "f1_micro", "pooled_mse",
                                 "val_mse", "mean_epochs", "collapsed_folds"],
                     labels={"mse": "mean test MSE (lower is better)",
                             "f1_macro": "mean test F1 macro"}, title=title)
    fig.update_traces(marker={"size": 10, "opacity": 0.8})
    fig.update_layout(height=480)
    return fig


def search_plots(study: optuna.Study, title: str) -> tuple[go.Figure, go.Figure]:
    """Optuna's parallel-coordinate and slice plots of a stored grid (objective: mean test MSE)."""
    params = ["hidden", "lr", "seq_len"]
    parallel = optuna.visualization.plot_parallel_coordinate(study, params=params,
                                                             target_name="mean test MSE")
    parallel.update_layout(title=f"{title}: parallel coordinates", height=420)
    sliced = optuna.visualization.plot_slice(study, params=params, target_name="mean test MSE")
    sliced.update_layout(title=f"{title}: MSE against each parameter", height=380)
    return parallel, sliced
