"""The runner's execution cache and the plotly output that renders offline."""

from __future__ import annotations

import nbformat
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


def _package(root):
    pkg = root / "occupancy_utils"
    (pkg / "sub").mkdir(parents=True)
    files = {"__init__.py": "", "a.py": "from . import b\n", "b.py": "from .sub import c\n",
             "sub/__init__.py": "", "sub/c.py": "from ..d import VALUE\n", "d.py": "VALUE = 1\n",
             "e.py": "def f():\n    from .unused import x\n", "unused.py": "x = 2\n",
             "alone.py": "y = 3\n"}
    for name, text in files.items():
        (pkg / name).write_text(text)
    return pkg


def test_reached_modules_follow_imports_relative_nested_and_in_functions(tmp_path):
    pkg = _package(tmp_path)
    names = {str(p.relative_to(pkg)) for p in book.reached_modules(
        ["from occupancy_utils import a\nimport os"], pkg)}
    assert names == {"__init__.py", "a.py", "b.py", "sub/__init__.py", "sub/c.py", "d.py"}
    names = {str(p.relative_to(pkg)) for p in book.reached_modules(
        ["import occupancy_utils.e"], pkg)}
    assert names == {"__init__.py", "e.py", "unused.py"}


def test_cache_key_ignores_package_code_the_notebook_does_not_reach(tmp_path, monkeypatch):
    pkg = _package(tmp_path)
    monkeypatch.setattr(book, "ROOT", tmp_path)
    nb = tmp_path / "01_x.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("%matplotlib inline\nfrom occupancy_utils import a")]), nb)
    key = book.cache_key(nb, {})
    (pkg / "alone.py").write_text("y = 4\n")
    assert book.cache_key(nb, {}) == key
    (pkg / "d.py").write_text("VALUE = 2\n")  # reached through a -> b -> sub.c -> d
    assert book.cache_key(nb, {}) != key


def test_each_chapter_reaches_its_own_modules():
    reach = {nb.stem: {p.stem for p in book.reached_modules(book._code_cells(nb),
                                                             book.ROOT / "occupancy_utils")}
             for nb in book.notebook_paths()}
    assert "ranking" not in reach["01_exploratory_analysis"]
    assert "report_map" not in reach["01_exploratory_analysis"] | reach["06_lstm"]
    assert "ranking" in reach["06_lstm"]  # its drop-on-errors bootstrap
    assert {"nested", "ranking", "comparison"} <= reach["07_comparison"]
    assert {"lstm_study", "training"} <= reach["06_lstm"]


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


def test_chapter_7_key_follows_the_results_files_it_reads(tmp_path, monkeypatch):
    from occupancy_utils import comparison

    assert book.READS_RESULTS["07_comparison"] == comparison.MODEL_CHAPTERS
    monkeypatch.setattr(book, "results_dir", lambda profile: tmp_path)
    nb7 = next(p for p in book.notebook_paths() if p.stem == "07_comparison")
    nb1 = book.notebook_paths()[0]
    before, before1 = book.cache_key(nb7, {}, "quick"), book.cache_key(nb1, {}, "quick")
    (tmp_path / "04_crf.json").write_text("{}")  # chapter 4 ran alone
    assert book.cache_key(nb7, {}, "quick") != before
    changed = book.cache_key(nb7, {}, "quick")
    (tmp_path / "04_crf_predictions.csv").write_text("model\n")
    assert book.cache_key(nb7, {}, "quick") != changed
    assert book.cache_key(nb1, {}, "quick") == before1  # chapter 1 reads no results
