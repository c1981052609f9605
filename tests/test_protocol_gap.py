"""The protocol gap split in two: held-out rows and where early stopping looks."""

from __future__ import annotations

import numpy as np
import pytest

from occupancy_utils import experiment, protocol_gap, splits
from occupancy_utils.data import NON_LIGHT_FEATURES


def test_held_out_parts_are_the_clean_rows_stopping_on_the_test_part(frame):
    fold = splits.make_folds(frame.index)[1]
    clean = experiment.fold_parts(frame, fold, NON_LIGHT_FEATURES, "clean", val_fraction=0.2)
    report = experiment.fold_parts(frame, fold, NON_LIGHT_FEATURES, "report", val_fraction=0.2)
    held = protocol_gap.regime_parts(frame, fold, NON_LIGHT_FEATURES, "held_out", val_fraction=0.2)
    # trains on the clean protocol's rows, with its scaler ...
    assert np.array_equal(held.positions["fit"], clean.positions["fit"])
    assert np.array_equal(held.x["fit"], clean.x["fit"])
    # ... and stops on the test part, as the report protocol does
    assert np.array_equal(held.positions["monitor"], report.positions["monitor"])
    assert np.array_equal(held.x["monitor"], clean.x["test"])
    assert np.array_equal(held.y["monitor"], held.y["test"])
    assert len(held.positions["fit"]) < len(report.positions["fit"])
    with pytest.raises(ValueError, match="regime must be one of"):
        protocol_gap.regime_parts(frame, fold, NON_LIGHT_FEATURES, "nested", val_fraction=0.2)


def test_decompose_pairs_the_seeds_and_the_parts_add_up():
    scores = {"report": {0: 0.30, 1: 0.32, 2: 0.31},
              "held_out": {0: 0.35, 1: 0.36, 2: 0.37},
              "clean": {0: 0.36, 1: 0.34, 2: 0.40}}
    table = protocol_gap.decompose(scores).set_index("part")
    rows, stop = table.loc["rows held out"], table.loc["stopping on the tail"]
    assert rows["difference"] == pytest.approx(0.05)
    assert stop["difference"] == pytest.approx((0.01 - 0.02 + 0.03) / 3)
    assert table.loc["clean way minus report way", "difference"] == pytest.approx(
        rows["difference"] + stop["difference"])
    d = np.array([0.01, -0.02, 0.03])
    assert stop["half_width"] == pytest.approx(4.3027 * d.std(ddof=1) / np.sqrt(3), rel=1e-4)
    assert rows["verdict"] == "raises the MSE" and stop["verdict"] == "interval includes 0"
    with pytest.raises(ValueError, match="same seeds"):
        protocol_gap.decompose({**scores, "clean": {0: 0.3, 1: 0.3}})
    with pytest.raises(ValueError, match=r"lack the regime\(s\) \['held_out'\]"):
        protocol_gap.decompose({"report": scores["report"], "clean": scores["clean"]})
    one = protocol_gap.decompose({r: {0: v[0]} for r, v in scores.items()})
    assert (one["verdict"] == "one seed: not judged").all()


def test_verdict_boundaries_and_the_reading():
    assert protocol_gap.verdict(0.02, 0.02) == "interval includes 0"
    assert protocol_gap.verdict(0.0201, 0.02) == "raises the MSE"
    assert protocol_gap.verdict(-0.0201, 0.02) == "lowers the MSE"
    assert protocol_gap.verdict(0.5, float("nan")) == "one seed: not judged"
    flat = {"report": {0: 0.30, 1: 0.30}, "held_out": {0: 0.30, 1: 0.31},
            "clean": {0: 0.40, 1: 0.42}}
    text = protocol_gap.reading(protocol_gap.decompose(flat), "CRF")
    assert "so stopping on the test part flattered its numbers" in text
    assert text.startswith("for CRF, stopping on the validation tail instead of the test part "
                           "raises the MSE by 0.105 (95 % interval ±0.064)")
    fair = {"report": {0: 0.30, 1: 0.30}, "held_out": {0: 0.40, 1: 0.41},
            "clean": {0: 0.30, 1: 0.31}}
    fair_text = protocol_gap.reading(protocol_gap.decompose(fair), "BNN")
    assert "did not flatter it" in fair_text
    # "lowers by" takes the size without its sign: no "lowers the MSE by -0.105"
    assert "lowers the MSE by 0.100 (" in fair_text and "by -" not in fair_text
    assert "holding out the validation tail gives +0.105 (95 % interval ±0.064), which raises " \
        "the MSE" in protocol_gap.reading(protocol_gap.decompose(fair), "BNN")


def test_entries_round_trip_into_the_comparison_table():
    scores = {"report": {0: 0.3, 1: 0.3}, "held_out": {0: 0.35, 1: 0.36},
              "clean": {0: 0.36, 1: 0.35}}
    e = protocol_gap.entry("CRF", "hidden 8", scores)
    assert e["scores"]["held_out"] == {"0": 0.35, "1": 0.36}  # JSON keys
    table = protocol_gap.table({"crf": e, "bnn": {**e, "label": "BNN"}})
    assert table["model"].tolist() == ["crf"] * 3 + ["bnn"] * 3
    assert table.loc[0, "difference"] == pytest.approx(0.055)
    text = protocol_gap.readings(table)
    assert text.count("; holding out") == 2
    assert text.startswith("for CRF, ") and ". For BNN, " in text  # a sentence per model
    assert protocol_gap.readings(protocol_gap.table({})) == "no model was run in the three regimes"
    with pytest.raises(ValueError, match="same seeds"):
        protocol_gap.entry("CRF", "x", {**scores, "clean": {0: 0.3}})


def test_paired_scores_reuse_only_regimes_that_hold_every_seed():
    calls = []

    def train(regime, seed):
        calls.append((regime, seed))
        return 10 * seed + len(regime)

    reused = {"report": {0: 0.5, 1: 0.6, 7: 9.9}, "clean": {0: 0.1}}
    scores = protocol_gap.paired_scores(reused, [0, 1], protocol_gap.per_seed(train))
    assert scores["report"] == {0: 0.5, 1: 0.6}  # reused; an extra seed is ignored
    # clean lacks seed 1, so both of its seeds are trained: one regime, one kind of run
    assert scores["clean"] == {0: 5.0, 1: 15.0}
    assert scores["held_out"] == {0: 8.0, 1: 18.0}
    assert sorted(calls) == [("clean", 0), ("clean", 1), ("held_out", 0), ("held_out", 1)]


def test_one_seed_reading_gives_every_difference_and_no_nan():
    one = {"report": {0: 0.30}, "held_out": {0: 0.33}, "clean": {0: 0.40}}
    text = protocol_gap.reading(protocol_gap.decompose(one), "LSTM")
    assert "nan" not in text
    # the number is the tail's minus the test part's: the sentence names that direction
    assert ("what stopping on the validation tail instead of the test part did to the MSE, "
            "+0.070 (one seed), is not judged") in text
    assert "holding out the validation tail gives +0.030 (one seed), not judged" in text
    assert text.endswith("both together (this configuration trained the clean way minus the "
                         "report way) give +0.100 (one seed), not judged")


def test_remainder_reading_attributes_only_a_rest_beyond_its_spread():
    scores = {"report": {0: 0.30, 1: 0.30}, "held_out": {0: 0.31, 1: 0.31},
              "clean": {0: 0.35, 1: 0.36}}
    finals = {"report": {0: 0.30, 1: 0.30}, "clean": {0: 0.55, 1: 0.56}}
    assert protocol_gap.remainder_reading(finals, scores) == (
        "clean minus report, the final models differ by +0.255 (95 % interval ±0.064) in "
        "MSE; the report's configuration trained both ways gives +0.055 (95 % interval "
        "±0.064), and the rest, +0.200 (95 % interval ±0.000), comes from the configurations "
        "the clean protocol chose")
    # the same configuration on every fold: the paired runs reuse the finals, no rest at all
    same = {"report": scores["report"], "clean": scores["clean"]}
    assert protocol_gap.remainder_reading(same, scores).endswith(
        "so the paired runs, which reuse those final models, are the whole gap")
    # one seed's failure swings the rest both ways: within the spread, not attributed
    noisy = {"report": {0: 0.30, 1: 2.30}, "clean": {0: 0.85, 1: 0.56}}
    text = protocol_gap.remainder_reading(noisy, scores)
    assert "has an interval that includes 0: it cannot be told from seed noise" in text
    # and so do the two gaps it is the difference of: the split is said to be no finding
    assert text.endswith("the intervals of the first two include 0 as well, so this split is "
                         "arithmetic, not a finding")
    one = {r: {0: v[0]} for r, v in scores.items()}
    assert protocol_gap.remainder_reading({p: {0: v[0]} for p, v in finals.items()},
                                          one).endswith("(one seed), is not judged")
    with pytest.raises(ValueError, match="same seeds"):
        protocol_gap.remainder_reading({"report": {0: 0.3}, "clean": {1: 0.3}}, scores)


def test_seed_difference_reads_any_paired_runs():
    assert protocol_gap.seed_difference({0: 0.5, 1: 0.7}, {0: 0.2, 1: 0.4}) == (
        "+0.300 (95 % interval ±0.000, which excludes 0: it raises the MSE; above 0 on 2 of 2 "
        "seeds)")
    assert protocol_gap.seed_difference({0: 0.1, 1: 0.5}, {0: 0.2, 1: 0.2}).endswith(
        ", which includes 0; above 0 on 1 of 2 seeds)")
    assert protocol_gap.seed_difference({0: 0.1}, {0: 0.2}) == (
        "-0.100 (one seed: not judged)")
    with pytest.raises(ValueError, match="same seeds"):
        protocol_gap.seed_difference({0: 0.1}, {1: 0.2})


def test_seed_table_and_by_seed_reading_show_one_seeds_failure():
    scores = {"report": {0: 0.3, 1: 0.3, 2: 2.3}, "held_out": {0: 0.3, 1: 0.3, 2: 2.0},
              "clean": {0: 0.4, 1: 0.5, 2: 0.5}}
    table = protocol_gap.seed_table(scores)
    assert list(table.index) == [0, 1, 2]
    assert table.loc[2, "stopping on the tail"] == pytest.approx(-1.5)
    assert table.loc[0, "clean way minus report way"] == pytest.approx(0.1)
    # the mean of stopping on the tail is negative, yet two of three seeds rise
    assert protocol_gap.decompose(scores).set_index("part").loc[
        "stopping on the tail", "difference"] < 0
    assert protocol_gap.by_seed_reading(scores) == (
        "stopping on the tail raises the MSE on 2 of 3 seeds and lowers it on 1; holding out "
        "the validation tail lowers the MSE on 1 of 3 seeds; the clean way "
        "minus the report way raises the MSE on 2 of 3 seeds and lowers it on 1; the medians "
        "over the seeds: stopping on the tail +0.100, holding out the validation tail +0.000, "
        "the clean way minus the report way +0.100; the means of stopping on the tail and the "
        "clean way minus the report way have the opposite sign to the medians: a minority of "
        "the seeds sets them")
    # one flipped part; a median of 0 is no sign to contradict
    one = {**scores, "report": {0: 0.3, 1: 0.3, 2: 0.3}, "held_out": {0: 0.3, 1: 0.3, 2: 2.3}}
    assert protocol_gap.by_seed_reading(one).endswith(
        "; the mean of stopping on the tail has the opposite sign to the median: a minority "
        "of the seeds sets it")
    same = {"report": {0: 0.3, 1: 0.3, 2: 0.3}, "held_out": {0: 0.3, 1: 0.3, 2: 0.3},
            "clean": {0: 0.4, 1: 0.5, 2: 0.3}}
    assert "opposite sign" not in protocol_gap.by_seed_reading(same)
    with pytest.raises(ValueError, match="same seeds"):
        protocol_gap.seed_table({**scores, "clean": {0: 0.4}})


def test_the_spread_is_the_t_interval_not_twice_the_standard_error():
    """Three seeds, a mean three standard errors from 0: twice the standard error would
    call it a difference; the 95 % t-interval on two degrees of freedom (4.30 standard
    errors) does not, and 4.4 standard errors do count."""
    d = np.array([1.0, 2.0, 3.0])  # mean 2, standard error 1 / sqrt(3)
    mean, half_width = protocol_gap.mean_and_spread(d)
    se = d.std(ddof=1) / np.sqrt(3)
    assert mean == 2.0 and half_width == pytest.approx(4.302653 * se)
    shift = mean - 3 * se  # the same spread, the mean three standard errors from 0
    assert protocol_gap.verdict(*protocol_gap.mean_and_spread(d - shift)) == (
        "interval includes 0")
    shift = mean - 4.4 * se
    assert protocol_gap.verdict(*protocol_gap.mean_and_spread(d - shift)) == "raises the MSE"
    # four folds: three degrees of freedom
    four = np.array([1.0, 2.0, 3.0, 4.0])
    assert protocol_gap.mean_and_spread(four)[1] == pytest.approx(
        3.182446 * four.std(ddof=1) / 2)
    assert np.isnan(protocol_gap.mean_and_spread([0.4])[1])


def test_welch_interval_for_two_separate_sets_of_seeds():
    a, b = [0.5, 0.6], [0.3, 0.4]  # equal spreads, two runs each: 2 degrees of freedom
    se = np.sqrt(np.var(a, ddof=1) / 2 + np.var(b, ddof=1) / 2)
    assert protocol_gap.welch_half_width(a, b) == pytest.approx(4.302653 * se)
    # one set steady: the other's n - 1 degrees of freedom
    c = [0.3, 0.3, 0.3]
    assert protocol_gap.welch_half_width([0.5, 0.6, 0.7], c) == pytest.approx(
        4.302653 * 0.1 / np.sqrt(3))
    assert np.isnan(protocol_gap.welch_half_width([0.5], b))
    assert np.isnan(protocol_gap.welch_half_width(c, c))


def test_seed_difference_counts_the_seeds_in_the_direction_of_the_mean():
    text = protocol_gap.seed_difference({0: 0.40, 1: 0.40, 2: 0.30}, {0: 0.45, 1: 0.50, 2: 0.45})
    assert text.endswith("; below 0 on 3 of 3 seeds)")
    assert protocol_gap.seed_difference({0: 0.5, 1: 0.4}, {0: 0.4, 1: 0.45}).endswith(
        "; above 0 on 1 of 2 seeds)")
    # one seed's failure sets the mean's sign: the median says so
    failed = protocol_gap.seed_difference({0: 0.5, 1: 0.5, 2: 0.4}, {0: 0.4, 1: 0.45, 2: 2.0})
    assert failed.endswith("; below 0 on 1 of 3 seeds; the median, +0.050, has the other "
                           "sign)")


def test_interval_note_gives_the_width_the_rule_uses():
    assert protocol_gap.interval_note(3) == "with 3 seeds, 4.3 standard errors either side"
    assert protocol_gap.interval_note(4).startswith("with 4 seeds, 3.2 standard errors")
    assert protocol_gap.interval_note(1) == (
        "with one seed there is no interval, and nothing is judged")


def test_fold_reading_names_opposite_fold_effects_that_the_mean_nets_out():
    base = {s: [0.5, 0.3, 0.1, 0.1] for s in (0, 1, 2)}
    # fold 1 much worse on every seed, fold 3 better on every seed, folds 2 and 4 noise;
    # the mean over folds of the difference is about 0
    worse = {s: [0.5 + 0.4 + 0.01 * s, 0.3 + 0.05 * (s - 1), 0.1 - 0.4 + 0.01 * s,
                 0.1 + 0.02 * (s - 1)] for s in (0, 1, 2)}
    text = protocol_gap.fold_reading(worse, base)
    assert text.startswith("fold 1 +0.410 (95 % interval ±0.025), fold 2 +0.000")
    assert text.endswith("raises the MSE on fold 1 and lowers it on fold 3, beyond their "
                         "intervals: the mean over the folds nets out opposite effects")
    # one side only
    one = {s: [v + (0.4 + 0.01 * s if i == 0 else 0.02 * (s - 1)) for i, v in
               enumerate(base[s])] for s in (0, 1, 2)}
    assert protocol_gap.fold_reading(one, base).endswith(
        "only on fold 1 does it raise the MSE beyond the interval")
    # at the boundary: a fold difference 3 standard errors from 0 (three seeds) does not count
    se3 = {s: [v + (0.3 + 0.1 * (s - 1) * np.sqrt(3) if i == 0 else 0.0) for i, v in
               enumerate(base[s])] for s in (0, 1, 2)}
    assert "no fold's interval excludes 0" in protocol_gap.fold_reading(se3, base)
    assert protocol_gap.fold_reading({0: [1.0, 2.0]}, {0: [0.5, 2.5]}) == (
        "fold 1 +0.500, fold 2 -0.500: with one seed, no fold is judged")
    with pytest.raises(ValueError, match="same number of folds"):
        protocol_gap.fold_reading({0: [1.0, 2.0]}, {0: [1.0]})
    with pytest.raises(ValueError, match="same seeds"):
        protocol_gap.fold_reading({0: [1.0]}, {1: [1.0]})
