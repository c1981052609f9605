"""What the clean protocol's gap is made of: paired runs that split it in two.

The clean protocol changes two things at once against the report's: it
trains on fewer rows (the validation tail is held out) and it stops on that
tail instead of on the test part. The gap between the two protocols' final
models mixes both, and, where the protocols chose different configurations,
the choice as well. One configuration, the same seeds and three runs per fold
separate them (:data:`REGIMES`):

* ``report``: the whole training part, stopping on the test part (the report's);
* ``held_out``: the training part without its validation tail, stopping on the
  test part (:func:`~occupancy_utils.experiment.held_out_parts`);
* ``clean``: the same rows, stopping on the validation tail.

``held_out - report`` is what the held-out rows cost; ``clean - held_out`` is
what stopping on the test part was worth: above 0, it flattered the report's
numbers. Each is a per-seed paired difference of the mean-over-folds test MSE.
**The rule** (:func:`verdict`): a part counts only where the 95 % interval of its
mean over the seeds (Student's t on n - 1 degrees of freedom, :data:`LEVEL`)
excludes 0; with one seed nothing is judged. With three seeds that interval is
the mean plus or minus 4.3 standard errors: three seeds rarely settle a
difference, and the book says so rather than name one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from tqdm.auto import tqdm

from . import experiment, splits
from .tables import joined, numbered

#: The confidence of every paired interval the book's verdicts read (seeds or folds).
LEVEL = 0.95
#: the three ways each fold is trained, with one configuration and the same seeds
REGIMES = ("report", "held_out", "clean")
#: each part of the gap as (minuend, subtrahend) regimes
PARTS = {"rows held out": ("held_out", "report"),
         "stopping on the tail": ("clean", "held_out"),
         "clean way minus report way": ("clean", "report")}


def regime_parts(frame: pd.DataFrame, fold: splits.Fold, features: list[str], regime: str,
                 val_fraction: float) -> experiment.FoldParts:
    """One fold's parts under a regime of :data:`REGIMES`."""
    if regime not in REGIMES:
        raise ValueError(f"regime must be one of {REGIMES}, got {regime!r}")
    if regime == "held_out":
        return experiment.held_out_parts(frame, fold, features, val_fraction)
    return experiment.fold_parts(frame, fold, features, regime, val_fraction)


def paired_scores(reused: Mapping[str, Mapping[int, float]], seeds: Sequence[int],
                  train: Callable[[str, Sequence[int]], Mapping[int, float]]
                  ) -> dict[str, dict[int, float]]:
    """Every regime's score per seed: taken from ``reused`` where a regime there holds every
    seed, otherwise ``train(regime, seeds)`` (seed -> score).

    The one skeleton every family's gap shares: a family passes the scores its
    final models already hold for this configuration and how it trains one regime
    on every fold for the given seeds (returning each seed's mean-over-folds test
    MSE); :func:`per_seed` makes that of a one-seed training.
    """
    out: dict[str, dict[int, float]] = {}
    for regime in REGIMES:
        have = reused.get(regime, {})
        if all(s in have for s in seeds):
            out[regime] = {s: float(have[s]) for s in seeds}
            continue
        trained = train(regime, list(seeds))
        out[regime] = {s: float(trained[s]) for s in seeds}
    return out


def per_seed(train_one: Callable[[str, int], float]
             ) -> Callable[[str, Sequence[int]], dict[int, float]]:
    """A :func:`paired_scores` trainer that trains one seed after another."""
    def train(regime: str, seeds: Sequence[int]) -> dict[int, float]:
        return {s: float(train_one(regime, s))
                for s in tqdm(list(seeds), desc=f"protocol gap ({regime})", leave=False)}
    return train


def verdict(mean: float, half_width: float) -> str:
    """The stated rule: a difference whose interval (``mean`` plus or minus
    ``half_width``) excludes 0 raises or lowers the MSE; otherwise the seeds cannot
    settle it: its interval includes 0."""
    if not np.isfinite(half_width):
        return "one seed: not judged"
    if mean > half_width:
        return "raises the MSE"
    return "lowers the MSE" if mean < -half_width else "interval includes 0"


def decompose(scores: Mapping[str, Mapping[int, float]]) -> pd.DataFrame:
    """One row per part of :data:`PARTS`: the mean over seeds of the paired difference,
    the half-width of its :data:`LEVEL` interval, and :func:`verdict`.

    ``scores[regime][seed]`` is the mean-over-folds test MSE of one run.
    """
    missing = [r for r in REGIMES if r not in scores]
    if missing:
        raise ValueError(f"scores lack the regime(s) {missing}")
    seeds = sorted(scores["report"])
    if not seeds or any(sorted(scores[r]) != seeds for r in REGIMES):
        raise ValueError("every regime needs the same seeds: the differences are paired")
    rows = []
    for part, (a, b) in PARTS.items():
        mean, half_width = _paired(scores[a], scores[b], seeds)
        rows.append({"part": part, "difference": mean, "half_width": half_width,
                     "seeds": len(seeds), "verdict": verdict(mean, half_width)})
    return pd.DataFrame(rows)


def mean_and_spread(differences: Sequence[float]) -> tuple[float, float]:
    """The mean of paired differences and the half-width of its :data:`LEVEL` interval,
    Student's t on n - 1 degrees of freedom (NaN with one difference): the spread every
    paired verdict of the book is read against.

    Why t and not "twice the standard error": with three seeds the standard error is
    itself a guess from three numbers, and the 95 % quantile of t on two degrees of
    freedom is 4.30; twice the standard error would call a difference real about one
    time in five when there is none.
    """
    d = np.asarray(differences, dtype=float)
    if len(d) < 2:
        return float(d.mean()) if len(d) else float("nan"), float("nan")
    se = float(d.std(ddof=1) / np.sqrt(len(d)))
    return float(d.mean()), _t(len(d) - 1) * se


def _t(df: float) -> float:
    """The two-sided :data:`LEVEL` quantile of Student's t on ``df`` degrees of freedom."""
    return float(stats.t.ppf((1 + LEVEL) / 2, df))


def interval_note(n: int) -> str:
    """How wide the rule's interval is with ``n`` paired runs, in standard errors, for the
    sentence that states the rule; with one run there is no interval."""
    if n < 2:
        return "with one seed there is no interval, and nothing is judged"
    return (f"with {n} seeds, {_t(n - 1):.1f} standard errors "
            f"either side")


def welch_half_width(a: Sequence[float], b: Sequence[float]) -> float:
    """The half-width of the :data:`LEVEL` interval of ``mean(a) - mean(b)`` for two
    independent sets of runs (Welch: unequal spreads, Satterthwaite's degrees of
    freedom); NaN when either set has fewer than two runs or neither varies."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if min(len(a), len(b)) < 2:
        return float("nan")
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if va + vb == 0:
        return float("nan")
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    return _t(df) * float(np.sqrt(va + vb))


def _paired(minuend: Mapping[int, float], subtrahend: Mapping[int, float],
            seeds: Sequence[int]) -> tuple[float, float]:
    """The mean over ``seeds`` of ``minuend - subtrahend`` and the half-width of its
    :data:`LEVEL` interval (NaN with one seed)."""
    return mean_and_spread([minuend[s] - subtrahend[s] for s in seeds])


def _spread(part: pd.Series) -> str:
    return (f"95 % interval ±{part['half_width']:.3f}" if np.isfinite(part["half_width"])
            else "one seed")


def _size(part: pd.Series) -> str:
    """A part's difference with its spread, or with "one seed" where there is none."""
    return f"{part['difference']:+.3f} ({_spread(part)})"


def _bracketed(part: pd.Series) -> str:
    return f"({part['difference']:+.3f}, {_spread(part)})"


def reading(table: pd.DataFrame, label: str) -> str:
    """The sentence a chapter prints: whether stopping on the test part flattered the
    model's numbers, conditional on sign and spread, and what the held-out rows did.

    The last clause is both parts together for this one configuration; it is not the
    gap between the protocols' final models where the clean protocol chose other
    configurations (:func:`remainder_reading` says how much of that gap it covers).
    """
    by = table.set_index("part")
    stop, rows, both = (by.loc["stopping on the tail"], by.loc["rows held out"],
                        by.loc["clean way minus report way"])
    size = _size(stop)
    # "raises/lowers by" takes the size without its sign
    by = f"{abs(stop['difference']):.3f} ({_spread(stop)})"
    said = {
        "raises the MSE": (f"stopping on the validation tail instead of the test part raises "
                           f"the MSE by {by}, so stopping on the test part flattered its "
                           f"numbers"),
        "lowers the MSE": (f"stopping on the validation tail instead of the test part lowers "
                           f"the MSE by {by}, so stopping on the test part did not flatter "
                           f"it"),
        "interval includes 0": (f"what stopping on the validation tail instead of the "
                                f"test part did to the MSE, {size}, has an interval that "
                                f"includes 0, so no flattering can be read from it"),
        "one seed: not judged": (f"with one seed, what stopping on the validation tail "
                                 f"instead of the test part did to the MSE, {size}, is not "
                                 f"judged"),
    }[stop["verdict"]]
    words = {"raises the MSE": "which raises the MSE", "lowers the MSE": "which lowers it",
             "interval includes 0": "whose interval includes 0",
             "one seed: not judged": "not judged"}
    return (f"for {label}, {said}; holding out the validation tail gives "
            f"{_size(rows)}, {words[rows['verdict']]}; both together (this configuration "
            f"trained the clean way minus the report way) give {_size(both)}, "
            f"{words[both['verdict']]}")


def seed_table(scores: Mapping[str, Mapping[int, float]]) -> pd.DataFrame:
    """The paired runs seed by seed: each regime's mean-over-folds test MSE and each part
    of :data:`PARTS`, one row per seed. A mean over few seeds can take its sign from one
    seed's failed fold; this table shows whether it does."""
    decompose(scores)  # the same checks: every regime, the same seeds
    seeds = sorted(scores["report"])
    table = pd.DataFrame({r: [scores[r][s] for s in seeds] for r in REGIMES},
                         index=pd.Index(seeds, name="seed"))
    for part, (a, b) in PARTS.items():
        table[part] = table[a] - table[b]
    return table


def by_seed_reading(scores: Mapping[str, Mapping[int, float]]) -> str:
    """On how many seeds each part raises the MSE and on how many it lowers it, so a reader
    sees when a mean's sign is one seed's doing."""
    table = seed_table(scores)
    n = len(table)

    def counted(part: str, doing: str) -> str:
        up, down = int((table[part] > 0).sum()), int((table[part] < 0).sum())
        if down == 0:
            return f"{doing} raises the MSE on {up} of {n} seeds"
        if up == 0:
            return f"{doing} lowers the MSE on {down} of {n} seeds"
        return f"{doing} raises the MSE on {up} of {n} seeds and lowers it on {down}"

    parts = (("stopping on the tail", "stopping on the tail"),
             ("rows held out", "holding out the validation tail"),
             ("clean way minus report way", "the clean way minus the report way"))
    medians = ", ".join(f"{doing} {table[p].median():+.3f}" for p, doing in parts)
    text = "; ".join(counted(p, doing) for p, doing in parts) + (
        f"; the medians over the seeds: {medians}")
    # a mean whose sign its median does not share takes that sign from few seeds
    flipped = [doing for p, doing in parts
               if np.sign(table[p].mean()) * np.sign(table[p].median()) < 0]
    if flipped:
        text += (f"; the mean{'s' if len(flipped) > 1 else ''} of {joined(flipped)} "
                 f"{'have' if len(flipped) > 1 else 'has'} the opposite sign to the "
                 f"median{'s' if len(flipped) > 1 else ''}: a minority of the seeds sets "
                 f"{'them' if len(flipped) > 1 else 'it'}")
    return text


def remainder_reading(finals: Mapping[str, Mapping[int, float]],
                      scores: Mapping[str, Mapping[int, float]]) -> str:
    """How much of the gap between the protocols' final models (``finals``: per protocol
    and seed, the mean-over-folds test MSE) the paired runs of the report's configuration
    (``scores``, as :func:`decompose` takes them) explain, and whether the rest can be put
    down to the configurations the clean protocol chose.

    The rest is paired by seed, (clean final - report final) - (clean run - report run),
    and read by :func:`verdict`: only a rest whose interval excludes 0 is attributed to
    the configurations; a smaller one cannot be told from seed noise.
    """
    seeds = sorted(finals["report"])
    if not seeds or any(sorted(d) != seeds for d in (finals["clean"], scores["report"],
                                                      scores["clean"])):
        raise ValueError("the finals and the paired runs need the same seeds")
    finals_gap, finals_hw = _paired(finals["clean"], finals["report"], seeds)
    both, both_hw = _paired(scores["clean"], scores["report"], seeds)
    rest = {s: (finals["clean"][s] - finals["report"][s]) - (scores["clean"][s]
                                                             - scores["report"][s])
            for s in seeds}
    if all(v == 0 for v in rest.values()):
        return (f"clean minus report, the final models differ by {finals_gap:+.3f}, and the "
                f"clean protocol chose the report's configuration on every fold, so the paired "
                f"runs, which reuse those final models, are the whole gap")
    mean, half_width = _paired(rest, dict.fromkeys(seeds, 0.0), seeds)
    part = pd.Series({"difference": mean, "half_width": half_width})
    judged = verdict(mean, half_width)
    said = {"one seed: not judged": "is not judged",
            "interval includes 0": "has an interval that includes 0: it cannot be told "
                                   "from seed noise"}.get(
        judged, "comes from the configurations the clean protocol chose")
    finals_part = pd.Series({"difference": finals_gap, "half_width": finals_hw})
    both_part = pd.Series({"difference": both, "half_width": both_hw})
    neither = ("; the intervals of the first two include 0 as well, so this split is "
               "arithmetic, not a finding"
               if verdict(finals_gap, finals_hw) == verdict(both, both_hw) == judged
               == "interval includes 0" else "")
    return (f"clean minus report, the final models differ by {_size(finals_part)} in MSE; "
            f"the report's configuration trained both ways gives {_size(both_part)}, and "
            f"the rest, {_size(part)}, {said}{neither}")


def fold_reading(minuend: Mapping[int, Sequence[float]],
                 subtrahend: Mapping[int, Sequence[float]]) -> str:
    """Two models' test MSE fold by fold (per seed, one value per fold), read by the rule
    of :func:`verdict` on each fold: the mean over seeds of ``minuend - subtrahend`` with
    its interval, then which folds move the MSE beyond their interval and which way.

    Why: a mean over folds near 0 can net out one fold made much worse against another
    made better; a reader of the mean alone would conclude that nothing differs. Only a
    fold whose interval excludes 0 counts; where folds of both signs count, the sentence
    says the mean nets out opposite effects.
    """
    seeds = sorted(minuend)
    if not seeds or sorted(subtrahend) != seeds:
        raise ValueError("a paired difference needs the same seeds on both sides")
    folds = {len(minuend[s]) for s in seeds} | {len(subtrahend[s]) for s in seeds}
    if len(folds) != 1:
        raise ValueError(f"every seed needs the same number of folds on both sides, got "
                         f"{sorted(folds)}")
    parts, raised, lowered = [], [], []
    for i in range(folds.pop()):
        mean, half_width = mean_and_spread([minuend[s][i] - subtrahend[s][i]
                                            for s in seeds])
        part = pd.Series({"difference": mean, "half_width": half_width})
        parts.append(f"fold {i + 1} {_size(part) if len(seeds) > 1 else f'{mean:+.3f}'}")
        judged = verdict(mean, half_width)
        if judged == "raises the MSE":
            raised.append(str(i + 1))
        elif judged == "lowers the MSE":
            lowered.append(str(i + 1))

    def folds_of(numbers: list[str]) -> str:
        return numbered("fold", numbers)

    if raised and lowered:
        said = (f"it raises the MSE on {folds_of(raised)} and lowers it on "
                f"{folds_of(lowered)}, beyond their intervals: the mean over the folds nets "
                f"out opposite effects")
    elif raised or lowered:
        said = (f"only on {folds_of(raised or lowered)} does it "
                f"{'raise' if raised else 'lower'} the MSE beyond the interval")
    elif len(seeds) == 1:
        said = "with one seed, no fold is judged"
    else:
        said = "no fold's interval excludes 0"
    return f"{', '.join(parts)}: {said}"


def seed_difference(minuend: Mapping[int, float], subtrahend: Mapping[int, float]) -> str:
    """Any two runs paired by seed (the same seeds on both sides), read by the rule of
    :func:`verdict`: the mean over seeds of ``minuend - subtrahend`` with its interval's
    half-width, and what it does to the MSE, in a few words."""
    seeds = sorted(minuend)
    if not seeds or sorted(subtrahend) != seeds:
        raise ValueError("a paired difference needs the same seeds on both sides")
    diffs = np.array([minuend[s] - subtrahend[s] for s in seeds], dtype=float)
    mean, half_width = mean_and_spread(diffs)
    part = pd.Series({"difference": mean, "half_width": half_width})
    said = {"raises the MSE": "which excludes 0: it raises the MSE",
            "lowers the MSE": "which excludes 0: it lowers the MSE",
            "interval includes 0": "which includes 0",
            "one seed: not judged": "not judged"}[verdict(mean, half_width)]
    if len(seeds) == 1:
        return f"{part['difference']:+.3f} (one seed: {said})"
    # the seeds counted in the direction of the mean, so that no count reads "0 of 3"
    # where every seed agrees
    count, side = (int((diffs < 0).sum()), "below") if mean < 0 else (int((diffs > 0).sum()),
                                                                        "above")
    median = float(np.median(diffs))
    other = (f"; the median, {median:+.3f}, has the other sign"
             if np.sign(median) * np.sign(mean) < 0 else "")
    return (f"{part['difference']:+.3f} ({_spread(part)}, {said}; {side} 0 on {count} of "
            f"{len(seeds)} seeds{other})")


def entry(label: str, config: str, scores: Mapping[str, Mapping[int, float]]) -> dict:
    """A model's ``protocol_gap`` entry in a chapter's results file (CONTRIBUTING.md):
    its label, the configuration the runs share, and each regime's score per seed."""
    decompose(scores)  # refuses unpaired scores before they are stored
    return {"label": label, "config": config,
            "scores": {r: {str(s): float(v) for s, v in scores[r].items()} for r in REGIMES}}


def table(entries: Mapping[str, Mapping]) -> pd.DataFrame:
    """:func:`decompose` of every stored entry (model key -> entry), one row per model
    and part, for the comparison chapter."""
    frames = [decompose({r: {int(s): v for s, v in e["scores"][r].items()} for r in REGIMES})
              .assign(model=key, label=e["label"], config=e["config"])
              for key, e in entries.items()]
    if not frames:
        return pd.DataFrame(columns=["model", "label", "config", "part", "difference",
                                     "half_width", "seeds", "verdict"])
    out = pd.concat(frames, ignore_index=True)
    return out[["model", "label", "config", "part", "difference", "half_width", "seeds",
                "verdict"]]


def readings(tables: pd.DataFrame) -> str:
    """:func:`reading` for every model of :func:`table`, one clause each."""
    if tables.empty:
        return "no model was run in the three regimes"
    # one sentence per model: a model's reading is three clauses already
    clauses = [reading(t, label) for label, t in tables.groupby("label", sort=False)]
    return ". ".join([clauses[0], *(c[0].upper() + c[1:] for c in clauses[1:])])
