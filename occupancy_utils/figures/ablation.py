"""Figures of chapter 2: what each sensor group is worth to a random forest."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def ablation_figure(table: pd.DataFrame) -> Figure:
    """Pooled and fold-mean F1 macro of every feature set, the report's values marked.

    ``table`` comes from :func:`occupancy_utils.findings.ablation.ablation_table`.
    """
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(table) + 1.6))
    y = np.arange(len(table))
    ax.barh(y, table["F1 macro (pooled)"], color="#4a5568", label="book, pooled over folds")
    ax.scatter(table["F1 macro (fold mean)"], y, color="#f6ad55", edgecolor="black",
               zorder=3, label="book, mean of the 4 folds (the report's style)")
    has_report = table["report F1 macro"].notna().to_numpy()
    ax.scatter(table["report F1 macro"][has_report], y[has_report], marker="D",
               color="#c53030", zorder=4, label="report")
    ax.set_yticks(y, table.index)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("F1 macro (random forest, the book's four folds)")
    ax.set_title("Dropping or keeping one sensor group at a time")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=8,
              frameon=False)
    fig.tight_layout()
    return fig


def importance_figure(summaries: dict[str, pd.DataFrame]) -> Figure:
    """Permutation importance (pooled F1 macro drop) per model, one panel each.

    ``summaries`` maps a model's name to
    :func:`occupancy_utils.findings.ablation.importance_summary` output.
    """
    fig, axes = plt.subplots(1, len(summaries), figsize=(5.2 * len(summaries), 6.5),
                             squeeze=False)
    for ax, (name, summary) in zip(axes[0], summaries.items(), strict=True):
        y = np.arange(len(summary))
        groups = np.array([not str(i).startswith("S") for i in summary.index])
        ax.barh(y, summary["F1 macro drop (mean)"], xerr=summary["F1 macro drop (std)"],
                color=np.where(groups, "#2b6cb0", "#a0aec0"))
        ax.axvline(0, color="black", lw=0.6)
        ax.set_yticks(y, summary.index, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("drop of pooled F1 macro when shuffled")
        ax.set_title(name, fontsize=10)
    handles = [plt.Rectangle((0, 0), 1, 1, color="#2b6cb0"),
               plt.Rectangle((0, 0), 1, 1, color="#a0aec0")]
    fig.legend(handles, ["whole sensor group shuffled", "one sensor shuffled"],
               loc="lower center", ncol=2, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig
