"""Figures of chapter 5: learning curves (Figure 9) and predictions with uncertainty (Figure 10)."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..training import History

#: Above this many rows per trace Figure 10 is thinned (every k-th row) to stay light.
MAX_POINTS = 5000


def curves_frame(history: History) -> pd.DataFrame:
    """One row per epoch: training loss, monitored loss and the recorded fit/test scores."""
    frame = pd.DataFrame(history.extra)
    frame.insert(0, "monitor_loss", history.monitor)
    frame.insert(0, "train_loss", history.train_loss)
    frame.insert(0, "epoch", np.arange(1, history.epochs + 1))
    return frame


def learning_curves(histories: Mapping[str, History]) -> plt.Figure:
    """Figure 9: per run (a row), loss, MSE and F1 macro per epoch, best epoch marked.

    The monitored loss is what early stopping watched (the test part's under
    the report's protocol, the validation tail's under the clean one); name
    the protocol in each run's title.
    """
    if not histories:
        raise ValueError("histories must hold at least one run")
    fig, axes = plt.subplots(len(histories), 3, figsize=(12, 3.2 * len(histories)),
                             squeeze=False, constrained_layout=True)
    for row, (title, history) in zip(axes, histories.items(), strict=True):
        frame = curves_frame(history)
        if "fit_mse" not in frame:
            raise ValueError(f"run {title!r} has no per-epoch scores (train with curves=True)")
        best = history.best_epoch + 1
        row[0].plot(frame["epoch"], frame["train_loss"], label="training loss (CE + KL)")
        row[0].plot(frame["epoch"], frame["monitor_loss"], label="monitored loss (predictive NLL)")
        row[0].set_ylabel("loss")
        for ax, metric, name in ((row[1], "mse", "MSE"), (row[2], "f1_macro", "F1 macro")):
            ax.plot(frame["epoch"], frame[f"fit_{metric}"], label="training part")
            ax.plot(frame["epoch"], frame[f"test_{metric}"], label="test part")
            ax.set_ylabel(name)
        for ax in row:
            ax.axvline(best, color="grey", linestyle=":", label=f"best epoch ({best})")
            ax.set_xlabel("epoch")
            ax.legend(fontsize="small")
        row[1].set_title(title)
    return fig


def _thin(frame: pd.DataFrame, max_points: int) -> pd.DataFrame:
    step = max(1, int(np.ceil(len(frame) / max_points)))
    return frame.iloc[::step]


def uncertainty_figure(pred: pd.DataFrame, times: pd.DatetimeIndex, title: str,
                       max_points: int = MAX_POINTS) -> go.Figure:
    """Figure 10: truth, predicted class and expected count, then the uncertainty.

    Panels share the time axis: (1) true and predicted number of people and
    the expected count; (2) probability of the predicted class; (3) predictive
    entropy split into its expected-entropy (aleatoric) and mutual-information
    (epistemic, from the weight samples) parts, stacked.
    """
    needed = {"y_true", "y_pred", "value", "confidence", "entropy", "mi"}
    missing = needed - set(pred.columns)
    if missing:
        raise ValueError(f"pred lacks columns {sorted(missing)}")
    if len(times) != len(pred):
        raise ValueError(f"times has {len(times)} entries for {len(pred)} predictions")
    frame = _thin(pred.assign(time=np.asarray(times)).reset_index(drop=True), max_points)
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.05,
                        row_heights=[0.45, 0.25, 0.3],
                        subplot_titles=("number of people", "probability of the predicted class",
                                        "predictive entropy (nats) = expected entropy + MI"))
    fig.add_trace(go.Scatter(x=frame["time"], y=frame["y_true"], name="true",
                             line={"color": "black", "width": 2, "shape": "hv"}), 1, 1)
    fig.add_trace(go.Scatter(x=frame["time"], y=frame["y_pred"], name="predicted (argmax)",
                             line={"color": "#d62728", "width": 1, "shape": "hv"}), 1, 1)
    fig.add_trace(go.Scatter(x=frame["time"], y=frame["value"], name="expected count",
                             line={"color": "#1f77b4", "width": 1, "dash": "dot"}), 1, 1)
    fig.add_trace(go.Scatter(x=frame["time"], y=frame["confidence"], name="confidence",
                             line={"color": "#2ca02c", "width": 1}), 2, 1)
    aleatoric = (frame["entropy"] - frame["mi"]).clip(lower=0)
    fig.add_trace(go.Scatter(x=frame["time"], y=aleatoric, name="expected entropy",
                             stackgroup="h", line={"color": "#9467bd", "width": 0.5}), 3, 1)
    fig.add_trace(go.Scatter(x=frame["time"], y=frame["mi"], name="mutual information",
                             stackgroup="h", line={"color": "#ff7f0e", "width": 0.5}), 3, 1)
    fig.update_yaxes(range=[-0.2, 3.2], dtick=1, row=1, col=1)
    fig.update_yaxes(range=[0, 1.02], row=2, col=1)
    fig.update_layout(title=title, height=720, hovermode="x unified",
                      legend={"orientation": "h", "y": -0.08},
                      margin={"l": 50, "r": 20, "t": 70, "b": 40})
    return fig


def confidence_histogram(preds: Mapping[str, pd.DataFrame]) -> plt.Figure:
    """Distribution of the predicted class's probability over test rows, per model.

    A model whose confidence "oscillates around one value" (the report's
    Figure 10) shows one narrow peak here.
    """
    fig, ax = plt.subplots(figsize=(7, 3.5), constrained_layout=True)
    bins = np.linspace(0.25, 1.0, 31)
    for name, pred in preds.items():
        ax.hist(pred["confidence"], bins=bins, histtype="step", linewidth=1.5, label=name,
                weights=np.full(len(pred), 1 / len(pred)))
    ax.set_xlabel("probability of the predicted class")
    ax.set_ylabel("share of test rows")
    ax.legend(fontsize="small")
    return fig
