"""False alarms and missed occupancy at a threshold chosen on validation data.

The report closes by saying that the models' probabilities can lower the rate
of false positives, "though then not every row gets a class". Abstaining
like this can only remove alarms, so the claim as stated cannot fail; what
matters is what it costs. Tested as the report makes it:

* **The decision.** A model raises an alarm ("someone is in the room") where
  its argmax says so *and* its probability of an occupied room, ``1 - p0``,
  is above a threshold ``t`` (:func:`alarms`). At ``t = 0.5`` this is the
  plain argmax (an argmax above 0 already puts more than half the probability
  on occupied); a higher ``t`` withholds the less certain alarms.
* **The threshold is chosen on validation data.** For each fold and seed, on
  the fold's validation tail and nothing else: the smallest ``t`` of
  :data:`GRID` at which the tail's false alarms fall to at most
  :data:`TARGET_SHARE` of the argmax's false alarms there
  (:func:`choose_threshold`). Where the argmax raises no false alarm on the
  tail there is nothing to lower and ``t`` stays 0.5.
* **Both errors on the test parts.** Per model: the false-alarm rate (alarms
  among empty-room rows) and the missed-occupancy rate (no alarm among
  occupied rows), at the argmax and at ``t``, each row's alarm averaged over
  the seeds.
* **The rule** (:func:`verdict`): with false alarms and missed occupancy
  costing the same, the threshold *pays* where the false alarms it removes
  outnumber the occupied readings it newly misses, the lower end of the
  ``level`` block-bootstrap interval of that difference being above 0; it
  *costs* where the upper end is below 0; otherwise it is *even*.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .experiment import PROBA_COLUMNS
from .ranking import BLOCK, LEVEL, N_BOOT, ROW, block_interval
from .tables import numbered, pct

#: Candidate thresholds on P(occupied): 0.50 (the argmax) to 1.00 (no alarm at all).
GRID = tuple(float(t) for t in np.round(np.linspace(0.5, 1.0, 51), 2))
#: The threshold must bring the validation tail's false alarms down to this share.
TARGET_SHARE = 0.5


def alarms(rows: pd.DataFrame, threshold: float) -> np.ndarray:
    """Where the model says someone is there: argmax above 0 and P(occupied) > threshold."""
    occupied = 1.0 - rows["p0"].to_numpy(dtype=float)
    return (rows["y_pred"].to_numpy() > 0) & (occupied > threshold)


def choose_threshold(validation: pd.DataFrame, target: float = TARGET_SHARE,
                     grid: tuple[float, ...] = GRID) -> float:
    """The smallest threshold of ``grid`` at which the validation rows' false alarms are at
    most ``target`` times the argmax's; 0.5 (the argmax) where it raises none."""
    if not 0 <= target < 1:
        raise ValueError(f"target share must be in [0, 1), got {target}")
    empty = validation["y_true"].to_numpy() == 0
    base = int((alarms(validation, 0.5) & empty).sum())
    if base == 0:
        return 0.5
    for t in grid:
        if (alarms(validation, t) & empty).sum() <= target * base:
            return float(t)
    raise ValueError(f"no threshold of the grid (up to {max(grid)}) brings the false alarms "
                     f"to {target:.0%} of {base}")


def _check(rows: pd.DataFrame, name: str, what: str) -> None:
    missing = [c for c in ["seed", *ROW, "y_true", "y_pred", *PROBA_COLUMNS] if c not in rows]
    if missing:
        raise ValueError(f"{name}: {what} predictions lack columns {missing}")


def row_alarms(test: pd.DataFrame, validation: pd.DataFrame, name: str = "model"
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per test row (fold, position): the true count and the alarm at the argmax and at
    each fold's threshold, averaged over the seeds; and the thresholds per seed and fold."""
    _check(test, name, "test")
    _check(validation, name, "validation")
    out, chosen = [], []
    for (seed, fold), rows in test.groupby(["seed", "fold"], sort=True):
        val = validation[(validation["seed"] == seed) & (validation["fold"] == fold)]
        if val.empty:
            raise ValueError(f"{name}: no validation predictions for seed {seed}, fold {fold}")
        t = choose_threshold(val)
        chosen.append({"seed": seed, "fold": fold, "threshold": t})
        out.append(rows[[*ROW, "y_true"]].assign(argmax=alarms(rows, 0.5).astype(float),
                                                 thresholded=alarms(rows, t).astype(float)))
    per_row = pd.concat(out).groupby(ROW)[["y_true", "argmax", "thresholded"]].mean()
    return per_row, pd.DataFrame(chosen)


def verdict(low: float, high: float) -> str:
    """The stated rule: *pays* (interval above 0), *costs* (below 0), else *even*."""
    if low > 0:
        return "pays"
    return "costs" if high < 0 else "even"


def summary(per_row: pd.DataFrame, *, block: int = BLOCK, n_boot: int = N_BOOT,
            level: float = LEVEL, seed: int = 0) -> dict[str, float | str]:
    """Both error rates at the argmax and at the thresholds, the false alarms removed and
    occupied readings newly missed (counts over the test rows), and the verdict."""
    empty = per_row["y_true"].to_numpy() == 0
    a0, at = per_row["argmax"].to_numpy(), per_row["thresholded"].to_numpy()
    withheld = a0 - at  # >= 0: a higher threshold only withholds alarms
    net = np.where(empty, withheld, -withheld)  # a false alarm removed, or a miss added
    folds = per_row.index.get_level_values("fold").to_numpy()
    low, high = block_interval(folds, lambda idx: net[idx].sum(), block=block, n_boot=n_boot,
                               level=level, seed=seed)
    return {"false alarms (argmax)": float(a0[empty].mean()),
            "false alarms (threshold)": float(at[empty].mean()),
            "missed (argmax)": float(1 - a0[~empty].mean()),
            "missed (threshold)": float(1 - at[~empty].mean()),
            "false alarms removed": float(withheld[empty].sum()),
            "occupied newly missed": float(withheld[~empty].sum()),
            "net": float(net.sum()), "low": float(low), "high": float(high),
            "verdict": verdict(float(low), float(high))}


def claim_table(models: Mapping[str, tuple[pd.DataFrame, pd.DataFrame]], *, seed: int = 0,
                **kwargs: float) -> pd.DataFrame:
    """One row per model (``name -> (test, validation)`` predictions of one protocol): the
    median threshold chosen over folds and seeds and :func:`summary`."""
    rows = []
    for name, (test, validation) in models.items():
        per_row, chosen = row_alarms(test, validation, name)
        at_argmax = int((chosen["threshold"] == GRID[0]).sum())
        # where the argmax's false alarms are, fold by fold, against where the threshold
        # moved and where it never could (a tail without an empty-room reading has no false
        # alarm to halve, whatever the model)
        false = (per_row["argmax"] * (per_row["y_true"] == 0)).groupby(level="fold").sum()
        moved = sorted(int(f) for f in chosen.loc[chosen["threshold"] > GRID[0], "fold"].unique())
        blind = sorted(int(f) for f, v in validation.groupby("fold")
                       if not (v["y_true"] == 0).any())
        total = float(false.sum())
        row = {"model": name, "median threshold": float(chosen["threshold"].median()),
               "pairs at the argmax": at_argmax, "pairs": len(chosen),
               "folds it moved on": ", ".join(map(str, moved)) or "none",
               "false alarms on those folds": (float(false.reindex(moved).sum()) / total
                                               if total else np.nan),
               "folds with no empty tail row": ", ".join(map(str, blind)) or "none",
               "false alarms on those": (float(false.reindex(blind).sum()) / total
                                         if total else np.nan),
               **summary(per_row, seed=seed, **kwargs)}
        before = row["false alarms (argmax)"]
        row["share of false alarms removed"] = (
            1 - row["false alarms (threshold)"] / before if before > 0 else 0.0)
        if at_argmax == len(chosen):
            # the tails never had a false alarm to halve: the threshold never moved
            row["verdict"] = "not tested"
        rows.append(row)
    return pd.DataFrame(rows)


def reading(table: pd.DataFrame, labels: Mapping[str, str]) -> str:
    """The chapter's sentence: for how many models the threshold pays, costs or is even."""
    if table.empty:
        return "no model could be tested"
    parts = []
    for word, phrase in (("pays", "it pays for"), ("costs", "it costs for"),
                         ("even", "it is even for"),
                         ("not tested", "it is not tested for")):
        chosen = table[table["verdict"] == word]
        names = [labels.get(r["model"], r["model"])
                 + (f", its threshold moving on {_folds(r['folds it moved on'])} only "
                    f"({_share(r['false alarms on those folds'])} of its argmax's false "
                    f"alarms)"
                    if word in ("pays", "costs") else "")
                 for _, r in chosen.iterrows()]
        if names:
            parts.append(f"{phrase} {len(names)} ({'; '.join(names)})"
                         + (", whose validation tails never held a false alarm to halve"
                            if word == "not tested" else ""))
        elif word == "pays":
            parts.append("it pays for none")
    untested = int(table["pairs at the argmax"].sum())
    best = table.loc[table["share of false alarms removed"].idxmax()]
    pairs = int(table["pairs"].sum())
    text = (", ".join(parts) + f". In {untested} of {pairs} (model, seed, fold) cases the tail "
            f"had no false alarm, so the threshold stayed at the argmax; on the test parts the "
            f"thresholds removed at most {best['share of false alarms removed']:.1%} of the "
            f"argmax's false alarms ({labels.get(best['model'], best['model'])})")
    blind = sorted(set(table["folds with no empty tail row"]) - {"none"})
    if blind:
        # the models the threshold was tested on: a model whose tails never moved it says
        # nothing about where the tested ones' false alarms are
        shares = table.loc[table["verdict"] != "not tested", "false alarms on those"].dropna()
        if shares.empty:
            shares = table["false alarms on those"].dropna()
        held = (f"{pct(shares.min())} to {pct(shares.max())}" if shares.min() != shares.max()
                else pct(shares.min()))
        folds = _folds("; ".join(blind))
        one = folds.startswith("fold ")
        tails = "tail of " + folds + " holds" if one else "tails of " + folds + " hold"
        parts_hold = "that fold's test part holds" if one else "those folds' test parts hold"
        text += (f". The validation {tails} no empty-room reading, so no threshold could "
                 f"move there, whatever the model; {parts_hold} {held} of each model's argmax "
                 f"false alarms, which the test as made cannot reach")
    return text


def _share(share: float) -> str:
    """A share as a percentage, "under 1 %" rather than a "0 %" that is not 0."""
    return "under 1 %" if 0 < share < 0.005 else pct(share)


def _folds(numbers: str) -> str:
    """ "1" -> "fold 1", "1, 3" -> "folds 1 and 3" (the table keeps them as text)."""
    return numbered("fold", [n.strip() for n in numbers.replace(";", ",").split(",")
                             if n.strip()])
