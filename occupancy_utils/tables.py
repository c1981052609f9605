"""Display helpers for the chapters' tables and sentences."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

#: What a table cell shows where there is no number (the report gives none, or a
#: protocol has no such score).
MISSING = "—"


def with_dashes(table: pd.DataFrame, digits: int = 4) -> pd.DataFrame:
    """A rounded copy in which a missing number shows as a dash, not ``NaN``.

    In the book's tables an empty cell means "the report gives no number here"
    (or "this protocol has none"); ``NaN`` reads as a failed computation. Only
    the columns that have a gap change type, so the others keep pandas' number
    formatting.
    """
    out = table.round(digits)
    for column in out.columns[out.isna().any()]:
        out[column] = out[column].astype(object).where(out[column].notna(), MISSING)
    return out


def joined(items: Sequence[str]) -> str:
    """Items as a sentence lists them: "a", "a and b", "a, b and c"."""
    if not items:
        raise ValueError("nothing to join")
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def pct(share: float) -> str:
    """A share as the book prints percentages in its sentences: "24 %"."""
    return f"{100 * share:.0f} %"


def glue_all(numbers: Mapping[str, Any]) -> None:
    """Glue every number of a findings function for the text (myst-nb), none displayed.

    The findings modules return their numbers as one mapping (name -> value), so a
    chapter's cell is one call, and the names a text uses are listed in one place.
    """
    from myst_nb import glue  # the book's kernel has it; the package's tests need not

    for name, value in numbers.items():
        glue(name, value, display=False)


def numbered(noun: str, items: Sequence[object]) -> str:
    """Numbered things in prose: ``numbered("fold", [1])`` is "fold 1", ``numbered("seed",
    [1, 2])`` "seeds 1 and 2"."""
    return f"{noun}{'s' if len(items) > 1 else ''} {joined([str(i) for i in items])}"


def plural(n: int, noun: str) -> str:
    """``"1 seed"``, ``"3 seeds"``: a count in prose without "seed(s)"."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def count_of(k: int, n: int, things: str) -> str:
    """``k`` of ``n`` things in prose: "all 4 training parts", "3 of the 4 training
    parts", "none of the 4 training parts"."""
    if not 0 <= k <= n:
        raise ValueError(f"a count must lie between 0 and {n}, got {k}")
    if k == n:
        return f"all {n} {things}"
    return f"{'none' if k == 0 else k} of the {n} {things}"


def failures_text(failures: Mapping[str, Mapping[tuple[str, int], Sequence[int]]]) -> str:
    """Model name -> (protocol, fold) -> failing seeds, one clause each ("bnn, clean
    protocol, fold 1: seed 2"), or "none"."""
    parts = [f"{name}, {protocol} protocol, fold {fold}: "
             f"seed{'s' if len(seeds) > 1 else ''} {joined([str(s) for s in seeds])}"
             for name, found in failures.items()
             for (protocol, fold), seeds in sorted(found.items())]
    return "; ".join(parts) or "none"
