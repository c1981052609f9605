"""Which models can be told apart: a paired ranking on the rows every model scores.

Like with like:

* **Same rows.** Every model is scored on every test row (the sequence
  models take their history from the readings before a row);
  :func:`same_rows` refuses a comparison where one model's (fold, row) pairs
  differ from another's, so a model that skips rows cannot slip in.
* **Same quantity.** The squared error of the predicted count (a label), per
  row, averaged over the model's seeds (:func:`row_losses`): seed noise is
  averaged, not resampled.
* **Paired differences with their spread.** Each model's mean loss minus the
  best model's, on the same resampled rows (:func:`paired_ranking`). Rows are
  resampled in blocks of consecutive readings within each fold (a moving-block
  bootstrap), because neighbouring readings are not independent: a person in
  the room stays for many readings.

The rule (:func:`verdict`): the best model has the lowest mean loss; another is
*worse* when the lower end of the ``level`` interval of its paired difference
is above 0, and *indistinguishable* otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from .tables import joined, numbered, pct, plural

#: Readings are 30 s apart: a block of 60 is half an hour, about one stay in the room.
BLOCK = 60
LEVEL = 0.95
N_BOOT = 2000
ROW = ["fold", "position"]


def same_rows(predictions: Mapping[str, pd.DataFrame]) -> pd.MultiIndex:
    """The (fold, position) pairs every model scores, sorted; a ValueError naming the model
    and how many rows differ when one model's set is not the others'."""
    if not predictions:
        raise ValueError("no models to compare")
    sets = {name: set(map(tuple, p[ROW].drop_duplicates().to_numpy()))
            for name, p in predictions.items()}
    first, rows = next(iter(sets.items()))
    for name, other in sets.items():
        if other != rows:
            raise ValueError(f"{name} scores {len(other - rows)} rows {first} does not and "
                             f"misses {len(rows - other)} of its rows: models must be "
                             f"compared on the same rows")
    if not rows:
        raise ValueError("the models score no row")
    return pd.MultiIndex.from_tuples(sorted(rows), names=ROW)


def row_losses(predictions: Mapping[str, pd.DataFrame], rows: pd.MultiIndex) -> pd.DataFrame:
    """Squared error of the predicted label per row (mean over seeds), one column per model.

    Every model must score every row of ``rows`` with the same true count.
    """
    out, truth = {}, None
    for name, p in predictions.items():
        p = p.assign(loss=(p["y_pred"] - p["y_true"]) ** 2)
        by_row = p.groupby(ROW)[["loss", "y_true"]].mean()
        missing = rows.difference(by_row.index)
        if len(missing):
            raise ValueError(f"{name}: {len(missing)} of the rows to compare are not scored")
        by_row = by_row.loc[rows]
        if truth is not None and not np.array_equal(by_row["y_true"].to_numpy(), truth):
            raise ValueError(f"{name}: the true counts differ from the other models'")
        truth = by_row["y_true"].to_numpy()
        out[name] = by_row["loss"].to_numpy()
    return pd.DataFrame(out, index=rows)


def block_indices(folds: np.ndarray, block: int, rng: np.random.Generator) -> np.ndarray:
    """One moving-block bootstrap sample of row indices, drawn within each fold.

    Each fold of ``n`` rows gets ``ceil(n / block)`` blocks of consecutive rows
    with random starts, cut to ``n`` rows: folds keep their sizes.
    """
    if block < 1:
        raise ValueError(f"block must be at least 1, got {block}")
    out = []
    for fold in pd.unique(folds):
        idx = np.flatnonzero(folds == fold)
        n = len(idx)
        size = min(block, n)
        starts = rng.integers(0, n - size + 1, size=-(-n // size))
        picks = (starts[:, None] + np.arange(size)[None, :]).ravel()[:n]
        out.append(idx[picks])
    return np.concatenate(out)


def block_interval(groups: np.ndarray, statistic: Callable[[np.ndarray], Any], *,
                   block: int = BLOCK, n_boot: int = N_BOOT, level: float = LEVEL,
                   seed: int = 0) -> tuple[Any, Any]:
    """The percentile interval of ``statistic(idx)`` over ``n_boot`` moving-block bootstrap
    samples of row indices (:func:`block_indices` within each of ``groups``).

    The one bootstrap every paired comparison of the book uses; ``statistic`` may
    return a number or an array (one interval per element). Samples where it is NaN
    (e.g. an AUROC with one class drawn) are left out.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    rng = np.random.default_rng(seed)
    boot = np.array([statistic(block_indices(groups, block, rng)) for _ in range(n_boot)])
    alpha = (1 - level) / 2
    low, high = np.nanquantile(boot, [alpha, 1 - alpha], axis=0)
    return low, high


def verdict(low: float, is_best: bool) -> str:
    """The stated rule: *best*, *worse* (interval above 0) or *indistinguishable*."""
    if is_best:
        return "best"
    return "worse" if low > 0 else "indistinguishable"


def paired_ranking(losses: pd.DataFrame, *, block: int = BLOCK, n_boot: int = N_BOOT,
                   level: float = LEVEL, seed: int = 0) -> pd.DataFrame:
    """Each model's mean loss, its paired difference to the best and that difference's
    percentile interval over ``n_boot`` block-bootstrap samples of the rows, and on how
    many folds its mean loss is below the best model's.

    The same resampled rows serve every model in a sample, so the spread is
    that of the difference, not of two separate means.
    """
    values = losses.to_numpy(dtype=float)
    means = values.mean(axis=0)
    best = int(np.argmin(means))
    diffs = values - values[:, [best]]
    folds = losses.index.get_level_values("fold").to_numpy()
    low, high = block_interval(folds, lambda idx: diffs[idx].mean(axis=0), block=block,
                               n_boot=n_boot, level=level, seed=seed)
    table = pd.DataFrame({"model": losses.columns, "mse": means,
                          "difference to best": means - means[best],
                          "low": low, "high": high})
    per_fold = pd.DataFrame(diffs, columns=losses.columns).groupby(folds).mean()
    table["folds below the best"] = (per_fold < 0).sum().to_numpy()
    table["folds"] = len(per_fold)
    table["verdict"] = [verdict(lo, i == best) for i, lo in enumerate(low)]
    return table.sort_values("mse", kind="stable").reset_index(drop=True)


def tied_with_best(table: pd.DataFrame) -> list[str]:
    """The best model and every model the rule cannot tell from it."""
    return table.loc[table["verdict"] != "worse", "model"].tolist()


def best_of(table: pd.DataFrame, models: list[str]) -> str:
    """The lowest-MSE model among ``models`` in a ranking (e.g. the best tree ensemble)."""
    rows = table[table["model"].isin(models)]
    if rows.empty:
        raise ValueError(f"none of {models} is in the ranking")
    return str(rows.loc[rows["mse"].idxmin(), "model"])


def recommend(table: pd.DataFrame, seconds: Mapping[str, float]) -> dict[str, object]:
    """Among the models tied with the best, the one cheapest to train and run.

    ``seconds`` holds each model's training plus prediction time; a tied model
    without a time is not recommended.
    """
    every = tied_with_best(table)
    tied = [m for m in every if m in seconds]
    if not tied:
        raise ValueError("no model tied with the best has a measured time")
    choice = min(tied, key=lambda m: (seconds[m], m))
    row = table.set_index("model").loc[choice]
    return {"model": choice, "mse": float(row["mse"]), "seconds": float(seconds[choice]),
            "tied": tied, "n_tied": len(every),
            "untimed": [m for m in every if m not in seconds]}


def recommend_reading(choice: Mapping[str, object], labels: Mapping[str, str]) -> str:
    """:func:`recommend` in words: how many models the ranking does not call worse (the
    best included), which of them have no stored time and so cannot be recommended, and
    the cheapest of the rest."""
    untimed = [labels.get(m, m) for m in choice["untimed"]]
    n = int(choice["n_tied"])
    text = f"among the {plural(n, 'model')} the ranking does not call worse (the best included)"
    if untimed:
        text += (f", {joined(untimed)} {'has' if len(untimed) == 1 else 'have'} no stored "
                 f"search time and cannot be recommended;")
    else:
        text += ","
    label = labels.get(str(choice["model"]), str(choice["model"]))
    return f"{text} the cheapest to tune, train and run is {label}"


def labelled(table: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    """The ranking with each model's readable label in place of its key."""
    return table.assign(model=table["model"].map(lambda m: labels.get(m, m)))


def reading(table: pd.DataFrame, labels: Mapping[str, str]) -> str:
    """The ranking in one sentence, by the rule of :func:`verdict`."""
    name = {m: labels.get(m, m) for m in table["model"]}
    best = table.loc[table["verdict"] == "best", "model"].iloc[0]
    tied = [name[m] for m in table.loc[table["verdict"] == "indistinguishable", "model"]]
    worse = int((table["verdict"] == "worse").sum())
    if tied:
        ties = (f"{len(tied)} model{'s' if len(tied) > 1 else ''} cannot be told from it "
                f"({'; '.join(tied)})")
    else:
        ties = "no other model comes close enough to be tied with it"
    return (f"the lowest MSE belongs to {name[best]}; {ties}, and {worse} "
            f"{'is' if worse == 1 else 'are'} worse by more than the spread")


def fold_shares(losses: pd.DataFrame) -> pd.DataFrame:
    """Per fold: its share of the rows and of each model's summed loss (fractions).

    A model's MSE over every row is its summed loss over the rows, so a fold whose
    share of the loss is far above its share of the rows decides most of the score.
    """
    folds = losses.index.get_level_values("fold")
    sums = losses.groupby(folds).sum()
    shares = sums / sums.sum()
    shares.insert(0, "rows", pd.Series(folds).value_counts(normalize=True).reindex(sums.index))
    return shares


def fold_share_reading(losses: pd.DataFrame) -> str:
    """The fold that carries most of the models' scores, in numbers.

    The fold is the one with the largest median share of a model's summed loss; it
    is said to weigh more than its rows when every model's share exceeds its share
    of the rows, and less when none does.
    """
    shares = fold_shares(losses)
    models = shares.drop(columns="rows")
    fold = models.median(axis=1).idxmax()
    row = shares.loc[fold]
    low, high, rows = row.drop("rows").min(), row.drop("rows").max(), row["rows"]
    link = "but" if low > rows else ("and only" if high < rows else "and")
    return (f"fold {fold} holds {pct(rows)} of the test rows {link} {pct(low)} to {pct(high)} "
            f"of each model's summed squared error (median {pct(models.loc[fold].median())})")


#: Kendall's tau between two orders is read only when its two-sided p-value (scipy's,
#: the models as the units) is below this: otherwise the orders agree no more than two
#: unrelated orders of as many models would.
TAU_ALPHA = 0.05


def agreement(first: pd.DataFrame, second: pd.DataFrame) -> dict[str, object]:
    """Whether two rankings of the same models (e.g. two fold designs) agree.

    Over the models both rank: the best of each, Kendall's tau between their
    MSE orders (1: the same order, -1: reversed) with its p-value, and, where both
    rankings carry verdicts, the models tied with the best in each.
    """
    shared = [m for m in first["model"] if m in set(second["model"])]
    if len(shared) < 2:
        raise ValueError("two rankings need at least two models in common to compare")
    a = first.set_index("model").loc[shared]
    b = second.set_index("model").loc[shared]
    tau, p = kendalltau(a["mse"], b["mse"])
    best_first = str(a["mse"].idxmin())
    # where the second ranking carries verdicts: is the first design's best still tied there?
    kept = (str(b.loc[best_first, "verdict"]) != "worse") if "verdict" in b else None
    out = {"models": len(shared), "best_first": best_first,
           "best_second": str(b["mse"].idxmin()),
           "same_best": bool(best_first == b["mse"].idxmin()), "tau": float(tau),
           "tau_p": float(p), "first_best_tied_in_second": kept}
    if "verdict" in a and "verdict" in b:
        out["tied_first"] = [m for m in shared if a.loc[m, "verdict"] != "worse"]
        out["tied_second"] = [m for m in shared if b.loc[m, "verdict"] != "worse"]
    return out


def agreement_reading(agree: Mapping[str, object], labels: Mapping[str, str]) -> str:
    """:func:`agreement` in one sentence: the best, the tied sets where there are verdicts,
    and Kendall's tau, read only below :data:`TAU_ALPHA`."""
    first, second = (labels.get(str(agree[k]), str(agree[k])) for k in ("best_first",
                                                                        "best_second"))
    if agree["same_best"]:
        best = f"the best of them is the same on both ({first})"
    else:
        best = f"the lowest MSE among them moves from {first} to {second}"
        tied = agree.get("first_best_tied_in_second")
        if tied is not None:
            best += (f", but {first} is still tied with the best on the second design, so the "
                     f"ranking does not call this a change" if tied else
                     f", and {first} is worse than the best on the second design")
    sets = ""
    if "tied_first" in agree:
        one, two = list(agree["tied_first"]), list(agree["tied_second"])
        stay = [labels.get(m, m) for m in one if m in two]
        leave = [labels.get(m, m) for m in one if m not in two]
        join = [labels.get(m, m) for m in two if m not in one]
        sets = (f"; of the {plural(len(one), 'model')} tied with the best (the best included) "
                f"on the first design, {len(stay)} {'is' if len(stay) == 1 else 'are'} on the "
                f"second too" + (f" ({joined(stay)})" if stay else "")
                + (f", {joined(leave)} {'is' if len(leave) == 1 else 'are'} not" if leave
                   else "")
                + (f", and {joined(join)} join{'s' if len(join) == 1 else ''} them" if join
                   else ""))
    p = float(agree["tau_p"])
    p_text = "p < 0.001" if p < 0.001 else f"p = {p:.2f}"
    tau = (f"Kendall's tau between the two orders is {agree['tau']:.2f} (1: the same order; "
           f"{p_text} against unrelated orders"
           + (", so the orders agree no more than chance would)" if not p < TAU_ALPHA
              else ")"))
    return f"of the {agree['models']} models ranked under both designs, {best}{sets}; {tau}"


def ordered_pairs(losses: pd.DataFrame, pairs: Sequence[tuple[str, str]], *,
                  block: int = BLOCK, n_boot: int = N_BOOT, level: float = LEVEL,
                  seed: int = 0) -> pd.DataFrame:
    """A claimed order of models tested pair by pair: for each (better, worse) pair, the
    worse model's mean loss minus the better one's on the same rows, with its
    block-bootstrap interval (one draw of rows serves every pair).

    **The rule:** the claim *holds* when the whole interval lies above 0, is
    *reversed* when it lies below 0, and the two *cannot be told apart* otherwise.
    """
    missing = sorted({m for pair in pairs for m in pair} - set(losses.columns))
    if missing:
        raise ValueError(f"no losses for {', '.join(missing)}")
    values = losses.to_numpy(dtype=float)
    col = {m: i for i, m in enumerate(losses.columns)}
    diffs = np.stack([values[:, col[worse]] - values[:, col[better]]
                      for better, worse in pairs], axis=1)
    folds = losses.index.get_level_values("fold").to_numpy()
    low, high = block_interval(folds, lambda idx: diffs[idx].mean(axis=0), block=block,
                               n_boot=n_boot, level=level, seed=seed)
    verdicts = ["holds" if lo > 0 else "reversed" if hi < 0 else "cannot be told apart"
                for lo, hi in zip(np.atleast_1d(low), np.atleast_1d(high), strict=True)]
    return pd.DataFrame({"better": [b for b, _ in pairs], "worse": [w for _, w in pairs],
                         "difference": diffs.mean(axis=0), "low": np.atleast_1d(low),
                         "high": np.atleast_1d(high), "verdict": verdicts})


_ORDER_VERBS = {"holds": "holds", "reversed": "is reversed",
                "cannot be told apart": "is not shown, the two cannot be told apart"}


def order_reading(table: pd.DataFrame, labels: Mapping[str, str]) -> str:
    """:func:`ordered_pairs` in one sentence, one clause per pair."""
    name = {m: labels.get(m, m) for m in [*table["better"], *table["worse"]]}
    return "; ".join(
        f"the claim that {name[r.better]} scores a lower MSE than {name[r.worse]} "
        f"{_ORDER_VERBS[r.verdict]}"
        f" (the second's MSE minus the first's {r.difference:+.3f}, {LEVEL * 100:.0f} % "
        f"interval {r.low:+.3f} to {r.high:+.3f})" for r in table.itertuples())


# --------------------------------------------------------------------------- seed by seed

def seeds_of(predictions: Mapping[str, pd.DataFrame]) -> list[int]:
    """The seeds every model ran, sorted; a ValueError naming a model whose seeds differ."""
    sets = {name: sorted(int(s) for s in p["seed"].unique()) for name, p in predictions.items()}
    first, seeds = next(iter(sets.items()))
    for name, other in sets.items():
        if other != seeds:
            raise ValueError(f"{name} ran seeds {other}, {first} ran {seeds}: a seed-by-seed "
                             f"comparison needs the same seeds for every model")
    return seeds


def by_seed(predictions: Mapping[str, pd.DataFrame], rows: pd.MultiIndex,
            pairs: Sequence[tuple[str, str]], *, block: int = BLOCK, n_boot: int = N_BOOT,
            level: float = LEVEL, seed: int = 0
            ) -> dict[int, tuple[pd.DataFrame, pd.DataFrame]]:
    """Seed -> (:func:`paired_ranking`, :func:`ordered_pairs` of ``pairs``) on that seed's
    runs alone, with the same rows, rule and bootstrap.

    Why: the pooled ranking averages each row's loss over the seeds, so one seed's failed
    training on one fold is averaged in, not set apart; a verdict that holds on the pooled
    rows but on no single seed, or only on one, rests on that run.
    """
    out = {}
    for s in seeds_of(predictions):
        losses = row_losses({m: p[p["seed"] == s] for m, p in predictions.items()}, rows)
        order = (ordered_pairs(losses, pairs, block=block, n_boot=n_boot, level=level,
                               seed=seed) if pairs else pd.DataFrame(columns=_PAIR_COLUMNS))
        out[s] = (paired_ranking(losses, block=block, n_boot=n_boot, level=level, seed=seed),
                  order)
    return out


_PAIR_COLUMNS = ["better", "worse", "difference", "low", "high", "verdict"]


def _seed_list(seeds: Sequence[int]) -> str:
    return numbered("seed", seeds)


def seed_tie_reading(runs: Mapping[int, tuple[pd.DataFrame, pd.DataFrame]],
                     labels: Mapping[str, str]) -> str:
    """Which models :func:`tied_with_best` keeps on every seed of :func:`by_seed` and which
    on some seeds only (naming them), and the best model of each seed."""
    seeds = sorted(runs)
    if len(seeds) < 2:
        return "with one seed the ranking above is the only one"
    tied: dict[str, list[int]] = {}
    for s in seeds:
        for m in tied_with_best(runs[s][0]):
            tied.setdefault(m, []).append(s)
    name = {m: labels.get(m, m) for m in tied}
    every = [name[m] for m, on in tied.items() if len(on) == len(seeds)]
    some = [f"{name[m]} ({_seed_list(on)})" for m, on in tied.items() if len(on) < len(seeds)]
    best = {s: str(runs[s][0].loc[runs[s][0]["verdict"] == "best", "model"].iloc[0])
            for s in seeds}
    text = (f"the best or tied with it on every seed: {joined(every)}" if every
            else "no model is the best or tied with it on every seed")
    if some:
        text += f"; on some seeds only: {'; '.join(some)}"
    if len(set(best.values())) == 1:
        return f"{text}; the best on every seed: {labels.get(best[seeds[0]], best[seeds[0]])}"
    return (f"{text}; the best of each seed: "
            f"{joined([f'seed {s} {labels.get(b, b)}' for s, b in best.items()])}")


def seed_order_reading(runs: Mapping[int, tuple[pd.DataFrame, pd.DataFrame]],
                       labels: Mapping[str, str]) -> str:
    """For each claimed pair of :func:`by_seed`, the seeds on which it holds, is reversed
    or cannot be told apart, by the rule of :func:`ordered_pairs`."""
    seeds = sorted(runs)
    if len(seeds) < 2:
        return "with one seed the test above is the only one"
    first = runs[seeds[0]][1]
    clauses = []
    for i, r in enumerate(first.itertuples()):
        groups: dict[str, list[int]] = {}
        for s in seeds:
            groups.setdefault(str(runs[s][1]["verdict"].iloc[i]), []).append(s)
        said = [f"{_ORDER_VERBS[v].removeprefix('is not shown, the two ')} on "
                f"{'every seed' if len(on) == len(seeds) and len(seeds) > 1 else _seed_list(on)}"
                for v, on in groups.items()]
        clauses.append(f"{labels.get(r.better, r.better)} below "
                       f"{labels.get(r.worse, r.worse)} {joined(said)}")
    return "; ".join(clauses)


def pooled_support(rank: pd.DataFrame, order: pd.DataFrame,
                   runs: Mapping[int, tuple[pd.DataFrame, pd.DataFrame]],
                   labels: Mapping[str, str]) -> str:
    """Which pooled verdicts the seeds alone bear out, by a stated rule: a pooled verdict
    (a claimed order's *holds* or *reversed*, a model's *worse*) **stands** where at least
    half of the seeds, ranked alone (:func:`by_seed`), give the same verdict, and **rests on
    fewer seeds** otherwise, the seeds that give it named. Why: the pooled rows average a
    failed seed in, so a verdict it alone produces would otherwise read as the models'."""
    seeds = sorted(runs)
    if len(seeds) < 2:
        return "with one seed every verdict rests on that seed"
    need = len(seeds) / 2
    parts = []
    for i, r in enumerate(order.itertuples()):
        if r.verdict == "cannot be told apart":
            continue
        on = [s for s in seeds if runs[s][1]["verdict"].iloc[i] == r.verdict]
        name = f"{labels.get(r.better, r.better)} below {labels.get(r.worse, r.worse)}"
        said = (f"stands ({len(on)} of {len(seeds)} seeds)" if len(on) >= need else
                f"rests on {_seed_list(on) if on else 'no seed alone'}")
        parts.append(f"that {name} {_ORDER_VERBS[r.verdict]} {said}")
    worse = rank.loc[rank["verdict"] == "worse", "model"]
    weak = []
    for m in worse:
        on = [s for s in seeds
              if runs[s][0].set_index("model").loc[m, "verdict"] == "worse"]
        if len(on) < need:
            weak.append(f"{labels.get(m, m)} ({_seed_list(on) if on else 'no seed'})")
    parts.append(f"of the {plural(len(worse), 'model')} called worse, "
                 + (f"{len(worse) - len(weak)} "
                    f"{'stands' if len(worse) - len(weak) == 1 else 'stand'} and the verdict "
                    f"rests on fewer seeds for {joined(weak)}" if weak
                    else "every verdict stands"))
    return "; ".join(parts)
