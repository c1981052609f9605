"""The ydata-profiling report of the data, as a page of its own beside the book.

The report used pandas-profiling (now ydata-profiling) for its first look at
the data. Its HTML is several megabytes, too heavy for a notebook output, so
it is written to ``results/<profile>/site/``, which the book build copies to
the root of the built site, and the chapter links it. The page must work
offline and from a plain file server: scripts, styles and images are inlined
(``html.inline``, ``html.use_local_assets``), nothing is fetched from a CDN.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import pandas as pd

from .paths import results_dir
from .results import atomic_write

REPORT_NAME = "profile_report.html"


def site_dir(profile: str) -> Path:
    """results/<profile>/site/: files published at the root of the built book."""
    path = results_dir(profile) / "site"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_profile_report(frame: pd.DataFrame, path: str | Path, *, minimal: bool,
                         title: str = "Room Occupancy Estimation: data profile") -> Path:
    """Profile ``frame`` (its index becomes a column) into one self-contained HTML file.

    ``minimal`` skips correlations and interactions (seconds instead of tens of
    seconds, one megabyte instead of a dozen). Progress bars and the
    deprecation notice of the package are kept out of the notebook's output.
    """
    if not isinstance(minimal, bool):
        raise ValueError(f"profile_minimal must be true or false, got {minimal!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # ydata-profiling prints one progress bar that ignores progress_bar=False,
    # and warns about its own deprecation on import; neither belongs in the book.
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        from ydata_profiling import ProfileReport

        report = ProfileReport(frame.reset_index(), title=title, minimal=minimal,
                               progress_bar=False, pool_size=1)
        report.config.html.inline = True
        report.config.html.use_local_assets = True
        report.config.html.navbar_show = True
        atomic_write(path, report.to_file)
    return path
