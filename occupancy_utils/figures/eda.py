"""Figures of chapter 1 (the report's Figures 1-4): the room, the calendar, correlations,
and the first day of readings."""

from __future__ import annotations

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyBboxPatch, Rectangle, Wedge
from plotly.subplots import make_subplots

from ..data import CLASSES, FEATURE_GROUPS, TARGET
from . import CLASS_COLOURS

#: Room size from the data set's paper (Singh et al. 2018), in metres.
ROOM_WIDTH, ROOM_DEPTH = 6.0, 4.6
#: Schematic (x, y) positions in metres; the paper's plan is not to scale, neither is this.
NODE_POSITIONS: dict[str, tuple[float, float]] = {
    "S1": (1.3, 3.5), "S2": (4.7, 3.5), "S3": (1.3, 1.1), "S4": (4.7, 1.1),
    "S5": (3.0, 2.3), "S6": (0.35, 4.25), "S7": (5.65, 0.35),
}
NODE_KIND = {"S1": "desk", "S2": "desk", "S3": "desk", "S4": "desk", "S5": "co2",
             "S6": "pir", "S7": "pir"}
KIND_STYLE = {
    "desk": ("#2b6cb0", "temperature, light, sound"),
    "co2": ("#2f855a", "CO$_2$ (and its slope)"),
    "pir": ("#9b2c2c", "PIR motion"),
}


def room_schematic() -> Figure:
    """Figure 1 redrawn: a plan of the room with the seven sensor positions.

    Positions are schematic (the data set describes which node measures what,
    not exact coordinates); the room's size is the one the data set's paper gives.
    """
    fig, ax = plt.subplots(figsize=(8, 6.2))
    ax.add_patch(Rectangle((0, 0), ROOM_WIDTH, ROOM_DEPTH, fill=False, lw=3, color="#333"))
    ax.add_patch(Rectangle((2.55, -0.06), 0.9, 0.12, color="white", zorder=3))  # door gap
    ax.add_patch(Wedge((2.55, 0), 0.9, 0, 90, fill=False, ls=":", color="#555"))
    ax.text(3.0, -0.3, "door", ha="center", va="top", fontsize=9, color="#555")
    for name, (x, y) in NODE_POSITIONS.items():
        kind = NODE_KIND[name]
        colour = KIND_STYLE[kind][0]
        if kind == "desk":
            ax.add_patch(FancyBboxPatch((x - 0.75, y - 0.4), 1.5, 0.8,
                                        boxstyle="round,pad=0.02", fc="#f3ede3", ec="#9c8c74"))
            ax.text(x, y - 0.62, "desk", ha="center", va="top", fontsize=8, color="#7a6a52")
        if kind == "pir":
            direction = 315 if x < ROOM_WIDTH / 2 else 135
            ax.add_patch(Wedge((x, y), 1.6, direction - 30, direction + 30, alpha=0.12,
                               color=colour))
        ax.add_patch(Circle((x, y), 0.2, color=colour, zorder=4))
        ax.text(x, y, name, ha="center", va="center", color="white", fontsize=8,
                fontweight="bold", zorder=5)
    handles = [plt.Line2D([], [], marker="o", ls="", color=c, markersize=10, label=label)
               for c, label in KIND_STYLE.values()]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3,
              frameon=False)
    ax.annotate("", xy=(0, ROOM_DEPTH + 0.25), xytext=(ROOM_WIDTH, ROOM_DEPTH + 0.25),
                arrowprops={"arrowstyle": "<->", "color": "#555"})
    ax.text(ROOM_WIDTH / 2, ROOM_DEPTH + 0.32, f"about {ROOM_WIDTH:g} m", ha="center",
            va="bottom", fontsize=9, color="#555")
    ax.annotate("", xy=(ROOM_WIDTH + 0.25, 0), xytext=(ROOM_WIDTH + 0.25, ROOM_DEPTH),
                arrowprops={"arrowstyle": "<->", "color": "#555"})
    ax.text(ROOM_WIDTH + 0.35, ROOM_DEPTH / 2, f"about {ROOM_DEPTH:g} m", rotation=90,
            va="center", fontsize=9, color="#555")
    ax.set_xlim(-0.4, ROOM_WIDTH + 0.7)
    ax.set_ylim(-0.6, ROOM_DEPTH + 0.7)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title("The room (schematic, not to scale): sensor positions S1-S7")
    fig.tight_layout()
    return fig


def calendar_figure(per_bin: pd.Series, day_mix: pd.DataFrame) -> Figure:
    """Figure 2 and the class mix: readings per hour over the calendar, and rows per
    class on each day with data.

    ``per_bin`` comes from :func:`occupancy_utils.eda.samples_per_bin`,
    ``day_mix`` from :func:`occupancy_utils.eda.daily_class_mix`.
    """
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7),
                                      gridspec_kw={"height_ratios": [1, 1.2]})
    width = (per_bin.index[1] - per_bin.index[0]) if len(per_bin) > 1 else pd.Timedelta("1h")
    top.bar(per_bin.index, per_bin.to_numpy(), width=width, align="edge", color="#4a5568")
    empty = per_bin.to_numpy() == 0
    top.fill_between(per_bin.index, 0, 1, where=empty, step="post", color="#e53e3e", alpha=0.1,
                     transform=top.get_xaxis_transform(), label="no readings")
    top.set_ylabel(f"readings per {_bin_label(width)}")
    top.set_title("Readings over the calendar: collection ran on a few days only")
    top.legend(loc="upper right", frameon=False)
    top.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
    classes = [f"class {c}" for c in CLASSES]
    left = np.zeros(len(day_mix))
    labels = [str(d) for d in day_mix.index]
    for c, col in zip(CLASSES, classes, strict=True):
        values = day_mix[col].to_numpy()
        bottom.barh(labels, values, left=left, color=CLASS_COLOURS[c],
                    label=f"{c} {'person' if c == 1 else 'people'}")
        left += values
    bottom.invert_yaxis()
    bottom.set_xlabel("readings (rows) on the day")
    bottom.set_title("Occupancy on each day with data")
    bottom.legend(loc="lower right", frameon=False, title="occupancy")
    fig.tight_layout()
    return fig


def _bin_label(width: pd.Timedelta) -> str:
    return "hour" if width == pd.Timedelta("1h") else str(width)


def spearman_heatmap(corr: pd.DataFrame) -> Figure:
    """Figure 3: Spearman correlations of every feature and the target, annotated."""
    size = max(6.0, 0.55 * len(corr) + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    sns.heatmap(corr, vmin=-1, vmax=1, center=0, cmap="RdBu_r", annot=True, fmt=".2f",
                annot_kws={"fontsize": 7}, square=True, linewidths=0.3,
                cbar_kws={"shrink": 0.7, "label": "Spearman correlation"}, ax=ax)
    ax.set_title("Spearman correlations of the features and the occupancy count")
    fig.tight_layout()
    return fig


#: Rows of Figure 4: (title, columns, y-axis label).
FIRST_DAY_ROWS: list[tuple[str, list[str], str]] = [
    ("temperature", FEATURE_GROUPS["temperature"], "°C"),
    ("light", FEATURE_GROUPS["light"], "lux"),
    ("sound", FEATURE_GROUPS["sound"], "V"),
    ("CO2", ["S5_CO2"], "ppm"),
    ("CO2 slope", ["S5_CO2_Slope"], "ppm/step"),
    ("PIR motion", FEATURE_GROUPS["pir"], "0/1"),
    ("occupancy", [TARGET], "people"),
]
#: Columns aggregated with the maximum when thinned (a spike must survive).
MAX_COLUMNS = {*FEATURE_GROUPS["pir"], TARGET}


def thin(frame: pd.DataFrame, columns: list[str], max_points: int) -> tuple[pd.DataFrame, int]:
    """Average every ``k`` consecutive rows so ``len(columns)`` series stay under ``max_points``.

    Motion and occupancy take the maximum of each block (a short presence
    must not vanish), the rest the mean. Returns the thinned frame and ``k``
    (1 means untouched), which the caption reports.
    """
    if max_points < len(columns):
        raise ValueError(f"max_points must be at least the number of series ({len(columns)}), "
                         f"got {max_points}")
    k = int(np.ceil(len(frame) * len(columns) / max_points))
    if k <= 1:
        return frame[columns], 1
    block = np.arange(len(frame)) // k
    how = {c: ("max" if c in MAX_COLUMNS else "mean") for c in columns}
    out = frame[columns].groupby(block).agg(how)
    out.index = frame.index.to_series().groupby(block).first().to_numpy()
    out.index.name = frame.index.name
    return out, k


def first_day_figure(day: pd.DataFrame, max_points: int = 20_000) -> tuple[go.Figure, int]:
    """Figure 4, interactive: every attribute and the occupancy on one shared time axis.

    Zooming on one row zooms all of them, so an episode (people arriving,
    leaving) can be followed across sensors. Returns the figure and the
    thinning factor of :func:`thin`.
    """
    columns = [c for _, cols, _ in FIRST_DAY_ROWS for c in cols]
    data, k = thin(day, columns, max_points)
    palette = {"#1f77b4": "blue", "#ff7f0e": "orange", "#2ca02c": "green", "#9467bd": "purple"}
    colours = list(palette)
    titles = []
    for title, cols, _ in FIRST_DAY_ROWS:
        if len(cols) > 1:  # name the colours in the title instead of a wide legend
            key = ", ".join(f"{c.split('_')[0]} {palette[colours[i]]}" for i, c in enumerate(cols))
            title = f"{title} ({key})"
        titles.append(title)
    fig = make_subplots(rows=len(FIRST_DAY_ROWS), cols=1, shared_xaxes=True,
                        vertical_spacing=0.025, subplot_titles=titles)
    for row, (_, cols, unit) in enumerate(FIRST_DAY_ROWS, start=1):
        for i, col in enumerate(cols):
            step = col in MAX_COLUMNS
            fig.add_trace(go.Scatter(
                x=data.index, y=data[col].to_numpy(), name=col, mode="lines",
                line={"width": 1.2, "shape": "hv" if step else "linear",
                      "color": "#333" if col == TARGET else colours[i % len(colours)]},
                hovertemplate="%{y}<extra>" + col + "</extra>"), row=row, col=1)
        fig.update_yaxes(title_text=unit, row=row, col=1)
    day_name = day.index[0].strftime("%d %B %Y")
    fig.update_layout(height=170 * len(FIRST_DAY_ROWS), hovermode="x unified", showlegend=False,
                      title=f"Every attribute against occupancy on the first day ({day_name})",
                      margin={"l": 60, "r": 20, "t": 80, "b": 40})
    return fig, k
