"""The paired ranking: same rows, paired block bootstrap, and the verdict rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from occupancy_utils import ranking


def _preds(y_true, y_pred, seeds=(0,), fold=1, start=0):
    n = len(y_true)
    rows = np.arange(start, start + n)
    return pd.concat([pd.DataFrame({"seed": s, "fold": fold, "position": rows,
                                    "y_true": y_true, "y_pred": y_pred}) for s in seeds],
                     ignore_index=True)


def _losses(columns: dict[str, np.ndarray], folds=(1, 2)) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    fold = np.repeat(folds, -(-n // len(folds)))[:n]
    index = pd.MultiIndex.from_arrays([fold, np.arange(n)], names=ranking.ROW)
    return pd.DataFrame(columns, index=index)


def test_same_rows_refuses_models_scored_on_different_rows():
    y = np.array([0, 1, 2, 3, 0])
    preds = {"a": _preds(y, y, seeds=(0, 1)), "b": _preds(y, np.zeros(5, dtype=int))}
    rows = ranking.same_rows(preds)
    assert list(rows) == [(1, 0), (1, 1), (1, 2), (1, 3), (1, 4)]
    with pytest.raises(ValueError, match="late scores 0 rows a does not and misses 2"):
        ranking.same_rows({**preds, "late": _preds(y[2:], y[2:], start=2)})
    with pytest.raises(ValueError, match="other scores 5 rows a does not and misses 5"):
        ranking.same_rows({"a": _preds(y, y), "other": _preds(y, y, fold=2)})
    with pytest.raises(ValueError, match="no models"):
        ranking.same_rows({})


def test_row_losses_average_the_seeds_and_refuse_missing_rows():
    y = np.array([0, 2])
    p = pd.concat([_preds(y, np.array([0, 0]), seeds=(0,)),
                   _preds(y, np.array([1, 2]), seeds=(1,))], ignore_index=True)
    rows = ranking.same_rows({"m": p})
    losses = ranking.row_losses({"m": p}, rows)
    assert losses["m"].tolist() == [0.5, 2.0]  # (0 + 1) / 2 and (4 + 0) / 2
    with pytest.raises(ValueError, match="short: 1 of the rows"):
        ranking.row_losses({"m": p, "short": _preds(y[:1], y[:1])}, rows)
    with pytest.raises(ValueError, match="true counts differ"):
        ranking.row_losses({"m": p, "other": _preds(y + 1, y)}, rows)


def test_block_bootstrap_stays_within_folds_and_keeps_their_sizes():
    folds = np.array([1] * 130 + [2] * 70)
    idx = ranking.block_indices(folds, 60, np.random.default_rng(0))
    assert len(idx) == 200
    assert np.array_equal(np.sort(folds[idx]), np.sort(folds))
    first = idx[:60]  # a block is consecutive rows
    assert np.array_equal(np.diff(first), np.ones(59))
    with pytest.raises(ValueError, match="block"):
        ranking.block_indices(folds, 0, np.random.default_rng(0))


def test_identical_models_are_indistinguishable_with_no_spread():
    loss = np.random.default_rng(1).uniform(0, 2, 400)
    table = ranking.paired_ranking(_losses({"a": loss, "b": loss.copy()}), n_boot=200)
    assert table["verdict"].tolist() == ["best", "indistinguishable"]
    assert table.loc[1, ["difference to best", "low", "high"]].tolist() == [0, 0, 0]


def test_a_constant_gap_is_worse_with_an_exact_interval():
    loss = np.random.default_rng(2).uniform(0, 2, 400)
    table = ranking.paired_ranking(_losses({"worse": loss + 0.5, "best": loss}), n_boot=200)
    assert table["model"].tolist() == ["best", "worse"]
    row = table.iloc[1]
    assert row["verdict"] == "worse"
    assert row["low"] == pytest.approx(0.5) and row["high"] == pytest.approx(0.5)
    assert (row["folds below the best"], row["folds"]) == (0, 2)


def test_folds_below_the_best_count_per_fold_means():
    loss = np.ones(8)
    other = np.array([0.0, 0.0, 0.0, 0.0, 3.0, 3.0, 3.0, 3.0])  # fold 1 below, fold 2 above
    table = ranking.paired_ranking(_losses({"flat": loss, "swing": other}), n_boot=50)
    assert table.set_index("model").loc["swing", "folds below the best"] == 1


def test_a_small_noisy_gap_is_not_a_win_and_a_large_one_is():
    rng = np.random.default_rng(3)
    base = rng.uniform(0, 2, 600)
    noise = rng.normal(0, 1, 600)
    close = ranking.paired_ranking(_losses({"a": base, "b": base + 0.02 + noise}), n_boot=500)
    far = ranking.paired_ranking(_losses({"a": base, "b": base + 1.0 + noise}), n_boot=500)
    assert close.set_index("model").loc["b", "verdict"] == "indistinguishable"
    assert far.set_index("model").loc["b", "verdict"] == "worse"


def test_the_bootstrap_is_reproducible_for_a_seed():
    rng = np.random.default_rng(4)
    losses = _losses({"a": rng.uniform(0, 1, 300), "b": rng.uniform(0, 1, 300)})
    first = ranking.paired_ranking(losses, n_boot=100, seed=5)
    pd.testing.assert_frame_equal(first, ranking.paired_ranking(losses, n_boot=100, seed=5))


def test_verdict_boundary():
    assert ranking.verdict(0.0, is_best=False) == "indistinguishable"  # touching 0 is a tie
    assert ranking.verdict(1e-12, is_best=False) == "worse"
    assert ranking.verdict(5.0, is_best=True) == "best"
    with pytest.raises(ValueError, match="level"):
        ranking.paired_ranking(_losses({"a": np.zeros(4)}), level=1.0)


def test_recommendation_is_the_cheapest_model_tied_with_the_best():
    table = pd.DataFrame({"model": ["deep", "tree", "linear", "zero"],
                          "mse": [0.30, 0.31, 0.33, 0.9],
                          "verdict": ["best", "indistinguishable", "indistinguishable", "worse"]})
    seconds = {"deep": 300.0, "tree": 4.0, "linear": 9.0, "zero": 0.0}
    rec = ranking.recommend(table, seconds)
    assert rec["model"] == "tree" and rec["n_tied"] == 3  # "zero" is cheaper but worse
    assert ranking.recommend(table, {"deep": 300.0})["model"] == "deep"
    with pytest.raises(ValueError, match="measured time"):
        ranking.recommend(table, {"zero": 0.0})
    assert ranking.best_of(table, ["linear", "tree"]) == "tree"
    text = ranking.reading(table, {"deep": "LSTM"})
    assert text.startswith("the lowest MSE belongs to LSTM; 2 models cannot be told from it")
    assert text.endswith("1 is worse by more than the spread")


def test_agreement_of_two_rankings():
    first = pd.DataFrame({"model": ["a", "b", "c", "deep"], "mse": [0.1, 0.2, 0.3, 0.05]})
    same = pd.DataFrame({"model": ["c", "b", "a"], "mse": [0.9, 0.5, 0.4]})
    swapped = pd.DataFrame({"model": ["a", "b", "c"], "mse": [0.3, 0.2, 0.1]})
    agree = ranking.agreement(first, same)
    assert agree["models"] == 3 and agree["same_best"] and agree["tau"] == pytest.approx(1.0)
    reverse = ranking.agreement(first, swapped)
    assert not reverse["same_best"] and reverse["tau"] == pytest.approx(-1.0)
    assert (reverse["best_first"], reverse["best_second"]) == ("a", "c")
    with pytest.raises(ValueError, match="at least two"):
        ranking.agreement(first, pd.DataFrame({"model": ["a"], "mse": [1.0]}))
    # three models in the same order: tau 1, but three models cannot show it beyond chance
    assert ranking.agreement_reading(agree, {"a": "A"}) == (
        "of the 3 models ranked under both designs, the best of them is the same on both "
        "(A); Kendall's tau between the two orders is 1.00 (1: the same order; p = 0.33 "
        "against unrelated orders, so the orders agree no more than chance would)")
    eight = pd.DataFrame({"model": list("abcdefgh"), "mse": np.arange(8) / 10,
                          "verdict": ["best", "indistinguishable", "indistinguishable"]
                          + ["worse"] * 5})
    moved = eight.assign(verdict=["best", "worse", "indistinguishable", "indistinguishable"]
                         + ["worse"] * 4)
    text = ranking.agreement_reading(ranking.agreement(eight, moved), {"a": "A"})
    assert text == (
        "of the 8 models ranked under both designs, the best of them is the same on both "
        "(A); of the 3 models tied with the best (the best included) on the first design, 2 "
        "are on the second too (A and c), b is not, and d joins them; Kendall's tau between "
        "the two orders is 1.00 (1: the same order; p < 0.001 against unrelated orders)")
    assert "moves from a to c" in ranking.agreement_reading(reverse, {})
    # with verdicts: a point flip among tied models is not a change
    tied = swapped.assign(verdict=["indistinguishable", "indistinguishable", "best"])
    assert ranking.agreement_reading(ranking.agreement(first, tied), {}).startswith(
        "of the 3 models ranked under both designs, the lowest MSE among them moves from a to "
        "c, but a is still tied with the best on the second design")
    worse = swapped.assign(verdict=["worse", "worse", "best"])
    assert ", and a is worse than the best on the second design" in \
        ranking.agreement_reading(ranking.agreement(first, worse), {})


def test_a_claimed_order_holds_is_reversed_or_cannot_be_told_apart():
    rng = np.random.default_rng(1)
    n = 600
    base = rng.uniform(0, 1, n)
    losses = _losses({"good": base, "bad": base + 0.5, "same": base.copy(),
                      "noisy": base + rng.normal(0, 1, n)})
    table = ranking.ordered_pairs(losses, [("good", "bad"), ("bad", "good"), ("good", "same"),
                                           ("good", "noisy")], n_boot=300)
    assert table["verdict"].tolist()[:3] == ["holds", "reversed", "cannot be told apart"]
    assert table.loc[0, "low"] == pytest.approx(0.5) and table.loc[1, "high"] == pytest.approx(
        -0.5)
    # a constant difference of 0 has an interval of exactly [0, 0]: not above 0, so no claim
    assert table.loc[2, ["low", "high"]].tolist() == [0.0, 0.0]
    noisy = table.loc[3]
    assert noisy["verdict"] == ("holds" if noisy["low"] > 0 else "reversed" if noisy["high"] < 0
                                else "cannot be told apart")
    text = ranking.order_reading(table, {"good": "Good model"})
    assert text.startswith("the claim that Good model scores a lower MSE than bad holds (the "
                           "second's MSE minus the first's +0.500, 95 % interval +0.500 to")
    assert "the claim that bad scores a lower MSE than Good model is reversed" in text
    assert "than same is not shown, the two cannot be told apart" in text
    with pytest.raises(ValueError, match="no losses for lstm"):
        ranking.ordered_pairs(losses, [("lstm", "good")])


def test_recommend_reading_counts_every_tied_model_and_names_the_untimed():
    table = pd.DataFrame({"model": ["deep", "tree", "linear", "zero"],
                          "mse": [0.30, 0.31, 0.33, 0.9],
                          "verdict": ["best", "indistinguishable", "indistinguishable", "worse"]})
    rec = ranking.recommend(table, {"tree": 4.0, "linear": 9.0, "zero": 0.0})
    assert rec["n_tied"] == 3 and rec["untimed"] == ["deep"] and rec["model"] == "tree"
    assert ranking.recommend_reading(rec, {"deep": "LSTM", "tree": "forest"}) == (
        "among the 3 models the ranking does not call worse (the best included), LSTM has no "
        "stored search time and cannot be recommended; the cheapest to tune, train and run "
        "is forest")
    timed = ranking.recommend(table, {"deep": 300.0, "tree": 4.0, "linear": 9.0})
    assert ranking.recommend_reading(timed, {}).endswith(
        "(the best included), the cheapest to tune, train and run is tree")


def _two_folds(loss_a: list[float], loss_b: list[float]) -> pd.DataFrame:
    """Fold 1: one row, fold 2: three rows; two models' losses row by row."""
    index = pd.MultiIndex.from_tuples([(1, 0), (2, 1), (2, 2), (2, 3)],
                                      names=["fold", "position"])
    return pd.DataFrame({"a": loss_a, "b": loss_b}, index=index)


def test_fold_shares_of_rows_and_of_each_model_s_loss():
    shares = ranking.fold_shares(_two_folds([3, 1, 0, 0], [1, 1, 1, 1]))
    assert shares.loc[1].tolist() == pytest.approx([0.25, 0.75, 0.25])
    assert shares.loc[2].tolist() == pytest.approx([0.75, 0.25, 0.75])


def test_fold_share_reading_names_the_heavy_fold_and_says_how_it_weighs():
    # fold 1 holds 25 % of the rows; both models put more of their loss there
    text = ranking.fold_share_reading(_two_folds([3, 1, 0, 0], [2, 0, 1, 0]))
    assert text.startswith("fold 1 holds 25 % of the test rows but 67 % to 75 %")
    # one model below its row share, one above: neither word
    text = ranking.fold_share_reading(_two_folds([3, 1, 0, 0], [0, 1, 1, 1]))
    assert text.startswith("fold 2 holds 75 % of the test rows and 25 % to 100 %")
    # the heaviest fold under its row share for every model
    text = ranking.fold_share_reading(_two_folds([1, 1, 1, 0], [1, 1, 1, 0]))
    assert text.startswith("fold 2 holds 75 % of the test rows and only 67 % to 67 %")


def test_by_seed_sets_apart_the_seed_whose_failure_decides_the_pooled_verdict():
    """Model 'a' beats 'b' by a little on every seed but seed 0, where it fails badly on
    every row: pooled over the seeds b looks better (the failure is averaged in); seed by
    seed, a is below b on seeds 1 and 2 and the claim is reversed on seed 0 only."""
    rng = np.random.default_rng(0)
    n = 3000
    y = rng.integers(0, 4, n)
    near = np.where(rng.random(n) < 0.1, (y + 1) % 4, y)  # 10 % of the rows off by one
    worse = np.where(rng.random(n) < 0.5, (y + 1) % 4, y)  # 50 % off by one
    wrong = 3 - y  # off by 1 or 3 on every row
    frames = {"a": [], "b": []}
    for s in (0, 1, 2):
        frames["a"].append(_preds(y, wrong if s == 0 else near, seeds=(s,)))
        frames["b"].append(_preds(y, worse, seeds=(s,)))
    preds = {m: pd.concat(f, ignore_index=True) for m, f in frames.items()}
    rows = ranking.same_rows(preds)
    pooled = ranking.ordered_pairs(ranking.row_losses(preds, rows), [("a", "b")], n_boot=200)
    assert pooled["verdict"].iloc[0] == "reversed"
    runs = ranking.by_seed(preds, rows, [("a", "b")], n_boot=200)
    assert sorted(runs) == [0, 1, 2]
    labels = {"a": "A", "b": "B"}
    assert ranking.seed_order_reading(runs, labels) == (
        "A below B is reversed on seed 0 and holds on seeds 1 and 2")
    assert ranking.seed_tie_reading(runs, labels) == (
        "no model is the best or tied with it on every seed; on some seeds only: "
        "B (seed 0); A (seeds 1 and 2); the best of each seed: seed 0 B, seed 1 A and "
        "seed 2 A")
    same = {m: p.assign(y_pred=p["y_true"]) for m, p in preds.items()}
    assert ranking.seed_tie_reading(ranking.by_seed(same, rows, [], n_boot=20), labels) == (
        "the best or tied with it on every seed: A and B; the best on every seed: A")
    one = ranking.by_seed({m: p[p["seed"] == 1] for m, p in preds.items()}, rows,
                          [("a", "b")], n_boot=20)
    assert ranking.seed_tie_reading(one, labels) == (
        "with one seed the ranking above is the only one")
    assert ranking.seed_order_reading(one, labels) == (
        "with one seed the test above is the only one")
    with pytest.raises(ValueError, match="b ran seeds \\[1, 2\\], a ran \\[0, 1, 2\\]"):
        ranking.seeds_of({**preds, "b": preds["b"][preds["b"]["seed"] > 0]})


def test_pooled_support_says_which_pooled_verdicts_rest_on_one_seed():
    def order(verdicts):
        return pd.DataFrame({"better": ["a", "a"], "worse": ["b", "c"], "verdict": verdicts})

    def rank(worse):
        return pd.DataFrame({"model": ["a", "b", "c"],
                             "verdict": ["best", *["worse" if m in worse else
                                                   "indistinguishable" for m in "bc"]]})

    runs = {0: (rank("bc"), order(["reversed", "holds"])),
            1: (rank("c"), order(["cannot be told apart", "holds"])),
            2: (rank("c"), order(["cannot be told apart", "cannot be told apart"]))}
    text = ranking.pooled_support(rank("bc"), order(["reversed", "holds"]), runs,
                                  {"a": "A"})
    assert text == ("that A below b is reversed rests on seed 0; that A below c holds stands "
                    "(2 of 3 seeds); of the 2 models called worse, 1 stands and the verdict "
                    "rests on fewer seeds for b (seed 0)")
    # at the boundary: half of two seeds is enough
    two = {0: runs[0], 1: runs[1]}
    assert ranking.pooled_support(rank("c"), order(["reversed", "holds"]), two, {}).startswith(
        "that a below b is reversed stands (1 of 2 seeds)")
    assert ranking.pooled_support(rank("c"), order(["cannot be told apart", "holds"]), two,
                                  {}) == ("that a below c holds stands (2 of 2 seeds); of the "
                                          "1 model called worse, every verdict stands")
    assert ranking.pooled_support(rank(""), order(["reversed", "holds"]), {0: runs[0]},
                                  {}) == "with one seed every verdict rests on that seed"
