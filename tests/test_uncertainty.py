"""Entropy decomposition of sampled probabilities: known cases and invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from occupancy_utils import uncertainty as u


def test_agreeing_samples_have_no_mutual_information():
    p = np.array([[0.7, 0.1, 0.1, 0.1], [0.25, 0.25, 0.25, 0.25]])
    probs = np.repeat(p[None], 5, axis=0)
    assert np.allclose(u.mutual_information(probs), 0.0)
    assert np.allclose(u.predictive_entropy(probs), u.expected_entropy(probs))
    assert u.predictive_entropy(probs)[1] == pytest.approx(math.log(4))


def test_confident_disagreeing_samples_are_all_epistemic():
    # half the samples say class 0, half class 1, each with certainty
    probs = np.zeros((4, 1, 2))
    probs[:2, 0, 0] = 1.0
    probs[2:, 0, 1] = 1.0
    assert u.expected_entropy(probs)[0] == pytest.approx(0.0)
    assert u.mutual_information(probs)[0] == pytest.approx(math.log(2))
    assert u.mutual_information(probs, base=2)[0] == pytest.approx(1.0)


def test_decomposition_adds_up_and_bounds_hold():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4) * 0.5, size=(30, 50))
    d = u.decompose(probs)
    assert np.allclose(d["predictive_entropy"], d["expected_entropy"] + d["mutual_information"])
    assert (d["mutual_information"] >= 0).all()
    assert (d["predictive_entropy"] <= math.log(4) + 1e-9).all()
    assert np.allclose(d["mean"], probs.mean(axis=0))
    assert np.array_equal(d["predicted"], probs.mean(axis=0).argmax(axis=1))
    assert np.allclose(d["expected_count"], probs.mean(axis=0) @ np.arange(4))
    # the functions agree with decompose, and torch input is accepted
    assert np.allclose(u.mutual_information(torch.tensor(probs)), d["mutual_information"])


@pytest.mark.parametrize("bad, match", [
    (np.full((2, 3), 0.5), "shape"),
    (np.full((2, 3, 4), 0.5), "sum to 1"),
    (np.log(np.full((2, 3, 4), 0.25)), "non-negative"),
])
def test_bad_input_is_named(bad, match):
    with pytest.raises(ValueError, match=match):
        u.decompose(bad)


def test_false_occupied_reading_by_the_sign_of_each_change():
    import pandas as pd

    from occupancy_utils import uncertainty_value

    # rates at coverage 1.0 (all rows) and 0.5; d has no rate
    fp = pd.DataFrame({0.5: [0.05, 0.31, 0.0502, float("nan")],
                       1.0: [0.25, 0.30, 0.1002, float("nan")]}, index=list("abcd"))
    assert uncertainty_value.false_occupied_reading(fp, {"a": "A"}) == (
        "keeping only the 50 % most confident rows lowers the false-occupied rate for 2 of "
        "the 3 models, each on the rows it keeps; the lowest rate there is 0.050, for A and "
        "c, against 0.100 to 0.300 on all rows")
    # a: the largest fall (0.2) but not alone at the lowest rate, which is what is named;
    # a rate of 0.05 for c that keeps no occupied reading there is said to come from that
    occupied = pd.DataFrame({0.5: [0.3, 0.2, 0.0, float("nan")],
                             1.0: [0.2, 0.2, 0.2, float("nan")]}, index=list("abcd"))
    zero = pd.DataFrame({0.5: [0.0, 0.31, 0.0, float("nan")], 1.0: fp[1.0]}, index=fp.index)
    assert uncertainty_value.false_occupied_reading(zero, {"a": "A"}, occupied).endswith(
        "the lowest rate there is 0.000, for A and c, against 0.100 to 0.300 on all rows; of "
        "these, c keeps no occupied reading at that coverage (against 20 % of all rows), so "
        "its rate comes from setting every occupied reading aside")
    # a rate above 0 is not explained away
    assert "keeps no occupied" not in uncertainty_value.false_occupied_reading(
        fp, {}, occupied)
    nothing = pd.DataFrame({0.5: [0.1, 0.31], 1.0: [0.1, 0.30]}, index=list("ab"))
    assert uncertainty_value.false_occupied_reading(nothing, {}) == (
        "keeping only the 50 % most confident rows lowers no model's false-occupied rate (the "
        "smallest change is +0.000)")
    with pytest.raises(ValueError, match="no model"):
        uncertainty_value.false_occupied_reading(fp.loc[["d"]], {})


def test_aurc_reading_picks_the_lowest_kept_mse_not_the_lowest_ratio():
    import pandas as pd

    from occupancy_utils import uncertainty_value

    aurc = pd.DataFrame({"model": ["weak", "strong"],
                         "mse (mean over coverage)": [0.20, 0.10],
                         "mse ratio": [0.17, 0.50], "f1_macro ratio": [1.2, 0.9]})
    assert uncertainty_value.aurc_reading(aurc, {"strong": "S"}) == (
        "for 2 of the 2 models keeping the most confident rows lowers the mean MSE below the "
        "all-rows MSE, and for 1 of them it raises the mean F1 macro; the lowest mean MSE on "
        "the rows kept is S's, 0.100 (0.50 times its all-rows MSE)")
    with pytest.raises(ValueError, match="no model can abstain"):
        uncertainty_value.aurc_reading(aurc.iloc[:0], {})


def test_coverage_span_names_the_grid_a_mean_is_over():
    from occupancy_utils import uncertainty_value
    assert uncertainty_value.coverage_span() == "0.1 to 1 in steps of 0.05"
    assert uncertainty_value.coverage_span([1.0, 0.5, 0.8]) == "0.5 to 1"
    with pytest.raises(ValueError, match="two coverages"):
        uncertainty_value.coverage_span([1.0])
