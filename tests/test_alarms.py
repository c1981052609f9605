"""The report's false-positive claim: threshold chosen on validation, both errors on test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from occupancy_utils import alarms


def _rows(y_true, p_occupied, seed=0, fold=1, start=0) -> pd.DataFrame:
    """Rows whose argmax says 1 person where P(occupied) > 0.5, else 0."""
    p_occ = np.asarray(p_occupied, dtype=float)
    p0 = 1 - p_occ
    return pd.DataFrame({"seed": seed, "fold": fold,
                         "position": np.arange(start, start + len(p_occ)),
                         "y_true": y_true, "y_pred": (p_occ > 0.5).astype(int), "p0": p0,
                         "p1": p_occ, "p2": 0.0, "p3": 0.0})


def test_at_one_half_the_alarm_is_the_argmax():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(4), size=500)
    rows = pd.DataFrame(p, columns=[f"p{k}" for k in range(4)]).assign(y_pred=p.argmax(axis=1))
    assert np.array_equal(alarms.alarms(rows, 0.5), rows["y_pred"].to_numpy() > 0)
    # a higher threshold only withholds alarms
    assert (alarms.alarms(rows, 0.8) <= alarms.alarms(rows, 0.5)).all()


def test_threshold_is_the_smallest_that_halves_the_validation_false_alarms():
    # four false alarms at 0.615..0.945 and one true alarm: halving needs t >= 0.725
    val = _rows([0, 0, 0, 0, 2, 0], [0.615, 0.725, 0.835, 0.945, 0.99, 0.1])
    assert alarms.choose_threshold(val) == 0.73
    assert alarms.choose_threshold(val, target=0.75) == 0.62  # three of four may stay
    assert alarms.choose_threshold(val, target=0.0) == 0.95
    # no false alarm on the tail: nothing to lower, the argmax stays
    assert alarms.choose_threshold(_rows([1, 0], [0.9, 0.2])) == 0.5
    assert alarms.choose_threshold(_rows([1, 2], [0.9, 0.6])) == 0.5
    with pytest.raises(ValueError, match="target share"):
        alarms.choose_threshold(val, target=1.0)


def test_thresholds_read_validation_rows_only():
    val = _rows([0, 0, 1, 1], [0.6, 0.8, 0.9, 0.7])
    test = _rows([0, 1, 0, 1], [0.55, 0.65, 0.75, 0.95], start=10)
    per_row, chosen = alarms.row_alarms(test, val)
    noisy = test.assign(p1=1 - test["p0"][::-1].to_numpy(), y_true=[1, 1, 1, 1])
    assert alarms.row_alarms(noisy, val)[1].equals(chosen)  # the test rows choose nothing
    assert chosen["threshold"].tolist() == [0.6]
    # at 0.6: the alarm at 0.55 is withheld, the others stay
    assert per_row["thresholded"].tolist() == [0.0, 1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="no validation predictions for seed 0, fold 2"):
        alarms.row_alarms(test.assign(fold=2), val)
    with pytest.raises(ValueError, match=r"m: validation predictions lack columns \['p2'\]"):
        alarms.row_alarms(test, val.drop(columns="p2"), "m")


def _per_row(empty_withheld: int, occupied_withheld: int, n: int = 400) -> pd.DataFrame:
    y = np.r_[np.zeros(n // 2), np.ones(n // 2)]
    a0 = np.ones(n)
    at = a0.copy()
    at[:empty_withheld] = 0  # false alarms removed
    at[n // 2:n // 2 + occupied_withheld] = 0  # occupied rows newly missed
    index = pd.MultiIndex.from_arrays([np.repeat([1, 2], n // 2), np.arange(n)],
                                      names=["fold", "position"])
    return pd.DataFrame({"y_true": y, "argmax": a0, "thresholded": at}, index=index)


def test_the_verdict_weighs_removed_false_alarms_against_new_misses():
    pays = alarms.summary(_per_row(150, 10), n_boot=200)
    assert pays["false alarms removed"] == 150 and pays["occupied newly missed"] == 10
    assert pays["net"] == 140 and pays["low"] > 0 and pays["verdict"] == "pays"
    assert pays["false alarms (argmax)"] == 1.0 and pays["false alarms (threshold)"] == 0.25
    assert pays["missed (argmax)"] == 0.0 and pays["missed (threshold)"] == pytest.approx(0.05)
    assert alarms.summary(_per_row(10, 150), n_boot=200)["verdict"] == "costs"
    assert alarms.summary(_per_row(0, 0), n_boot=50)["verdict"] == "even"
    assert alarms.verdict(0.0, 3.0) == "even" and alarms.verdict(1e-9, 3.0) == "pays"
    assert alarms.verdict(-3.0, 0.0) == "even" and alarms.verdict(-3.0, -1e-9) == "costs"


def test_claim_table_and_its_reading():
    val = _rows([0, 0, 1, 1], [0.6, 0.8, 0.9, 0.7])
    test = _rows([0, 1, 0, 1], [0.55, 0.65, 0.75, 0.95], start=10)
    table = alarms.claim_table({"m": (test, val), "k": (test, val)}, n_boot=20)
    assert table["model"].tolist() == ["m", "k"] and (table["median threshold"] == 0.6).all()
    assert alarms.reading(table, {"m": "Model M"}).startswith("it ")
    assert "Model M" in alarms.reading(table, {"m": "Model M"})
    assert alarms.reading(table.iloc[0:0], {}) == "no model could be tested"
    costs = table.assign(verdict=["costs", "even"])
    assert alarms.reading(costs, {}).startswith(
        "it pays for none, it costs for 1 (m, its threshold moving on fold 1 only (100 % of "
        "its argmax's false alarms)), it is even for 1 (k). In 0 of 2 (model, seed, fold) "
        "cases the tail had no false alarm")
    # the threshold withholds the test row at 0.55 (empty): one of two false alarms removed
    assert (table["share of false alarms removed"] == 0.5).all()
    assert "removed at most 50.0% of the argmax's false alarms (m)" in alarms.reading(costs, {})
    # a tail without a false alarm leaves the threshold at the argmax: nothing is tested
    quiet = _rows([0, 0, 1, 1], [0.1, 0.2, 0.9, 0.7])
    untested = alarms.claim_table({"q": (test, quiet)}, n_boot=20)
    assert untested.loc[0, "verdict"] == "not tested"
    assert (untested.loc[0, "pairs at the argmax"], untested.loc[0, "pairs"]) == (1, 1)
    assert "it is not tested for 1 (q), whose validation tails never held a false alarm" in \
        alarms.reading(untested, {})


def test_the_reading_names_the_folds_whose_tail_cannot_move_the_threshold():
    """Fold 2's tail holds no empty-room reading, so its threshold stays at the argmax
    whatever the model; its test part holds 3 of the 4 false alarms, and the reading says
    that the verdict cannot reach them."""
    val = pd.concat([_rows([0, 0, 1, 1], [0.6, 0.8, 0.9, 0.7]),
                     _rows([1, 2, 1, 3], [0.9, 0.8, 0.7, 0.95], fold=2, start=4)])
    test = pd.concat([_rows([0, 1, 0, 1], [0.4, 0.65, 0.55, 0.95], start=10),
                      _rows([0, 0, 0, 1], [0.6, 0.7, 0.8, 0.9], fold=2, start=20)])
    table = alarms.claim_table({"m": (test, val)}, n_boot=20)
    row = table.iloc[0]
    assert row["folds it moved on"] == "1" and row["folds with no empty tail row"] == "2"
    assert row["false alarms on those folds"] == 0.25 and row["false alarms on those"] == 0.75
    text = alarms.reading(table.assign(verdict=["pays"]), {"m": "M"})
    assert text.startswith("it pays for 1 (M, its threshold moving on fold 1 only (25 % of "
                           "its argmax's false alarms))")
    assert text.endswith("The validation tail of fold 2 holds no empty-room reading, so no "
                         "threshold could move there, whatever the model; that fold's test "
                         "part holds 75 % of each model's argmax false alarms, which the test "
                         "as made cannot reach")
    # the range of shares is over the models the threshold was tested on
    quiet = _rows([0, 0, 1, 1], [0.1, 0.2, 0.9, 0.7])
    # q: untested (its tails never hold a false alarm), all its false alarms on fold 2
    test_q = pd.concat([_rows([1, 1, 1, 1], [0.9, 0.9, 0.9, 0.9], start=10),
                        test[test["fold"] == 2]])
    both = alarms.claim_table({"m": (test, val),
                               "q": (test_q, pd.concat([quiet, val[val["fold"] == 2]]))},
                              n_boot=20)
    assert both.set_index("model").loc["q", "verdict"] == "not tested"
    assert both.set_index("model").loc["q", "false alarms on those"] == 1.0
    assert "test part holds 75 % of each model's" in alarms.reading(both, {})
    assert alarms._share(0.003) == "under 1 %" and alarms._share(0.0) == "0 %"
    # every tail with an empty reading: nothing to add
    assert "hold no empty-room reading" not in alarms.reading(
        alarms.claim_table({"m": (test[test["fold"] == 1], val[val["fold"] == 1])},
                           n_boot=20), {})
