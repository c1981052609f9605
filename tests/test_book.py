"""Integration: every notebook runs in the quick profile, the book builds, and pages render.

The build is the integration test (-W -n --keep-going): a failing notebook, a
warning or a broken reference fails it. The browser part opens every page in
headless Chromium, offline, and fails on console errors, broken images and
plotly figures that did not draw.
"""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

from occupancy_utils.paths import ROOT

pytestmark = pytest.mark.slow
HTML = ROOT / "_build" / "html"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="module")
def built_book() -> Path:
    res = subprocess.run([sys.executable, "-m", "occupancy_utils.book", "build",
                          "--profile", "quick"], cwd=ROOT, capture_output=True, text=True)
    sys.stdout.write(res.stdout[-6000:])
    sys.stderr.write(res.stderr[-6000:])
    assert res.returncode == 0, f"book build failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return HTML


def test_every_chapter_page_is_built(built_book):
    for name in ("01_exploratory_analysis", "02_feature_dropping", "03_time_series_splits",
                 "04_crf", "05_bnn", "06_lstm", "07_comparison"):
        page = built_book / "notebooks" / f"{name}.html"
        assert page.is_file(), page
        text = page.read_text()
        assert "injected-parameters" not in text and "Injected parameters" not in text
        # the parameters shown are the ones this build used, not the notebook's defaults
        assert "Parameters of this build (params/quick.yaml)" in text
    assert (built_book / "book" / "report_map.html").is_file()
    assert (built_book / "_static" / "plotly.min.js").is_file()
    assert (built_book / "_static" / "mathjax" / "tex-chtml.js").is_file()


def test_every_model_is_scored_on_the_same_rows(built_book):
    """Table 7 and the ranking compare like with like: under each protocol, every model of
    every chapter (the sequence models included) predicts the same (fold, position) set,
    every test row of every fold."""
    from occupancy_utils import comparison, data, splits
    from occupancy_utils.results import read_predictions

    folds = splits.make_folds(data.load().index)
    every = {(f.number, int(p)) for f in folds for p in f.test}
    preds = pd.concat([read_predictions("quick", c) for c in (*comparison.MODEL_CHAPTERS,
                                                               "07_comparison")])
    for (model, protocol), rows in preds.groupby(["model", "protocol"]):
        for seed, by_seed in rows.groupby("seed"):
            got = set(zip(by_seed["fold"], by_seed["position"].astype(int), strict=True))
            assert got == every, (f"{model} ({protocol}, seed {seed}): {len(every - got)} "
                                  f"test rows unscored, {len(got - every)} extra")


def test_launch_buttons_point_at_the_page_s_own_notebook(built_book):
    """Binder and Colab open notebooks/<chapter>.ipynb of this repository: it must exist."""
    for page in sorted((built_book / "notebooks").glob("*.html")):
        text = page.read_text()
        binder = re.findall(r'href="https://mybinder\.org/v2/gh/[^/"]+/[^/"]+/[^?"]+'
                            r'\?urlpath=lab/tree/([^"]+)"', text)
        colab = re.findall(r'href="https://colab\.research\.google\.com/github/[^/"]+/[^/"]+'
                           r'/blob/[^/"]+/([^"]+)"', text)
        assert binder and colab, f"{page.name}: no Binder or Colab button"
        for target in binder + colab:
            assert target == f"notebooks/{page.stem}.ipynb", f"{page.name}: button opens {target}"
            assert (ROOT / target).is_file(), f"{page.name}: {target} is not in the repository"


def test_reference_pages_document_their_modules(built_book):
    for source in sorted((ROOT / "book" / "reference").glob("*.md")):
        page = built_book / "book" / "reference" / f"{source.stem}.html"
        assert page.is_file(), page
        html = page.read_text()
        for module in re.findall(r"^\.\. automodule:: (\S+)$", source.read_text(), re.M):
            assert f'id="module-{module}"' in html, f"{page.name}: {module} not rendered"
            assert re.search(rf'<dt class="sig[^"]*" id="{re.escape(module)}\.', html), \
                f"{page.name}: nothing of {module} documented"


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("no Chromium found for the browser test: install Debian's `chromium` "
                "(make setup does it as root) or put a chromium binary on PATH")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@pytest.fixture(scope="module")
def server(built_book):
    handler = functools.partial(QuietHandler, directory=str(built_book))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_pages_render_offline_in_chromium(built_book, server):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    pages = sorted(p.relative_to(built_book).as_posix() for p in built_book.rglob("*.html")
                   if not p.name.startswith(("genindex", "search")) and "_static" not in p.parts
                   and "_extra" not in str(p) and p.parent.name != "_sources")
    assert len(pages) >= 10
    problems: list[str] = []
    figures = maths = 0
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_FLAGS)
        for rel in pages:
            page = browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m, e=errors: e.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc, e=errors: e.append(str(exc)))
            page.on("requestfailed", lambda r, e=errors: e.append(f"request failed: {r.url}"))
            page.on("response", lambda r, e=errors: e.append(f"HTTP {r.status}: {r.url}")
                    if r.status >= 400 else None)
            page.goto(f"{server}/{rel}", wait_until="load")
            page.wait_for_timeout(300)
            for err in errors:
                problems.append(f"{rel}: console: {err}")
            broken = page.eval_on_selector_all(
                "img", "els => els.filter(i => !i.complete || i.naturalWidth === 0)"
                ".map(i => i.getAttribute('src'))")
            problems += [f"{rel}: broken image {src}" for src in broken]
            divs = page.eval_on_selector_all(
                "div.plotly-graph-div",
                "els => els.map(d => d.querySelector('svg.main-svg') !== null)")
            figures += len(divs)
            problems += [f"{rel}: plotly figure {i} did not render"
                         for i, ok in enumerate(divs) if not ok]
            if page.query_selector(".math") is not None:
                maths += 1
                try:
                    page.wait_for_selector("mjx-container", timeout=10_000)
                except PlaywrightTimeout:
                    problems.append(f"{rel}: formulas left untypeset (MathJax did not load)")
            page.close()
        browser.close()
    assert not problems, "\n".join(problems)
    print(f"{len(pages)} pages, {figures} plotly figures, {maths} pages with formulas: rendered")
