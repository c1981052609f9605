"""The runner's execution cache and the plotly output that renders offline."""

from __future__ import annotations

import plotly.graph_objects as go

from occupancy_utils import book, plots, profiles


def test_cache_key_follows_parameters_and_notebook(tmp_path):
    nb = book.notebook_paths()[0]
    key = book.cache_key(nb, {"seed": 0})
    assert key == book.cache_key(nb, {"seed": 0})
    assert key != book.cache_key(nb, {"seed": 1})
    copy = tmp_path / nb.name
    copy.write_bytes(nb.read_bytes() + b" ")
    assert book.cache_key(copy, {"seed": 0}) != key


def test_profile_parameters_merge_common_and_own():
    params = profiles.notebook_parameters("quick", "04_crf")
    assert params["profile"] == "quick" and "seed" in params


def test_plotly_bundle_renders_in_lab_and_book_without_inline_library():
    fig = go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))
    bundle = plots.plotly_bundle(fig)
    assert bundle[plots.PLOTLY_MIME]["data"][0]["type"] == "scatter"
    html = bundle["text/html"]
    assert "Plotly.newPlot" in html and "plotly-graph-div" in html
    assert len(html) < 20_000  # plotly.js (4.8 MB) is served once by the book, not inlined
