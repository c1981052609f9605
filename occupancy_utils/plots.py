"""Plotting helpers shared by the chapters.

Interactive figures are plotly. :func:`show` emits each figure twice in one
output: as plotly's own mimetype (JupyterLab renders it natively) and as an
HTML fragment *without* plotly.js, which the built book renders with the one
copy of plotly.js it serves as a static file. Nothing needs a connection.
"""

from __future__ import annotations

import json

import plotly.graph_objects as go
from IPython.display import display

PLOTLY_MIME = "application/vnd.plotly.v1+json"


def plotly_bundle(fig: go.Figure) -> dict[str, object]:
    """The mime bundle :func:`show` displays (separate so it can be tested)."""
    html = fig.to_html(full_html=False, include_plotlyjs=False,
                       config={"responsive": True, "displaylogo": False})
    return {PLOTLY_MIME: json.loads(fig.to_json()), "text/html": html}


def show(fig: go.Figure) -> None:
    """Display a plotly figure so that it renders both in JupyterLab and in the book."""
    display(plotly_bundle(fig), raw=True)


class PlotlyMimeForBook:
    """myst-nb plugin (entry point ``myst_nb.mime_renderers``): the book renders the
    text/html copy of a plotly output, so the plotly-JSON copy renders to nothing
    instead of raising the "unknown mime type" warning that ``-W`` makes fatal.
    Only this one mime type is handled; any other unknown output still warns.
    """

    mime_priority_overrides = ()

    @staticmethod
    def handle_mime(renderer, data, inline):  # noqa: ANN001, ANN205 - myst-nb's protocol
        """Nothing for plotly's JSON (the page uses the HTML beside it); None: not ours."""
        return [] if data.mime_type == PLOTLY_MIME else None
