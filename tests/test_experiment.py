"""Protocols decide what early stopping sees; predictions are scored per fold and pooled."""

from __future__ import annotations

import numpy as np
import pytest

from occupancy_utils import data, experiment, results, splits


@pytest.fixture(scope="module")
def fold(frame):
    return splits.make_folds(frame.index)[1]


def test_report_protocol_monitors_the_test_part(frame, fold):
    parts = experiment.fold_parts(frame, fold, data.NON_LIGHT_FEATURES, "report", val_fraction=0.2)
    assert np.array_equal(parts.positions["monitor"], fold.test)
    assert np.array_equal(parts.positions["fit"], fold.train)


def test_clean_protocol_never_touches_the_test_part(frame, fold):
    parts = experiment.fold_parts(frame, fold, data.NON_LIGHT_FEATURES, "clean", 0.25)
    assert not set(parts.positions["monitor"]) & set(fold.test)
    assert parts.positions["monitor"].max() < fold.test.min()
    assert len(parts.positions["fit"]) + len(parts.positions["monitor"]) == len(fold.train)
    assert parts.x["fit"].shape == (len(parts.positions["fit"]), 12)
    assert np.array_equal(parts.y["test"], frame[data.TARGET].to_numpy()[fold.test])
    with pytest.raises(ValueError, match="protocol"):
        experiment.fold_parts(frame, fold, data.NON_LIGHT_FEATURES, "peeking", val_fraction=0.2)


def test_summarize_uses_value_column_for_mse():
    p1 = experiment.prediction_frame(1, np.arange(3), np.array([0, 1, 2]), np.array([0, 1, 2]),
                                     value=np.array([0.5, 1.0, 2.0]))
    p2 = experiment.prediction_frame(2, np.arange(3, 5), np.array([3, 0]), np.array([3, 0]),
                                     value=np.array([3.0, 0.0]))
    by_label = experiment.summarize([p1, p2])
    by_value = experiment.summarize([p1, p2], value_column="value")
    assert by_label["pooled"]["mse"] == 0
    assert by_value["pooled"]["mse"] == pytest.approx(0.25 / 5)
    assert by_value["pooled"]["f1_macro"] == 1.0


def test_results_round_trip(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "results_dir", lambda profile: tmp_path)
    results.write_results("quick", "nb", {"x": np.float32(1.5), "a": np.arange(2)})
    assert results.read_results("quick", "nb") == {"a": [0, 1], "x": 1.5}
    frame = experiment.prediction_frame(1, np.arange(2), np.array([0, 1]), np.array([0, 1]))
    results.write_predictions("quick", "nb", frame)
    assert results.read_predictions("quick", "nb").equals(frame)
    # the validation tails' predictions go to their own file, the test file is untouched
    results.write_predictions("quick", "nb", frame.assign(fold=2), part="validation")
    assert (tmp_path / "nb_validation_predictions.csv").is_file()
    assert results.read_predictions("quick", "nb", "validation")["fold"].eq(2).all()
    assert results.read_predictions("quick", "nb").equals(frame)
    with pytest.raises(ValueError, match="part must be one of"):
        results.read_predictions("quick", "nb", "train")
    with pytest.raises(FileNotFoundError, match="run notebook other"):
        results.read_results("quick", "other")
    assert results.report_numbers()["dataset"]["table_1_class_counts"][0] == 8228


def test_atomic_write_keeps_the_old_file_on_error(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("old")

    def broken(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        results.atomic_write(path, broken)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["table.csv"]
    results.atomic_write(path, lambda tmp: tmp.write_text("new"))
    assert path.read_text() == "new" and oct(path.stat().st_mode)[-3:] == "644"


def test_the_predictions_writer_refuses_an_unknown_part():
    from occupancy_utils import finals, results

    for call in (lambda: finals.predictions_frame({}, part="valdation"),
                 lambda: results.check_part("train")):
        with pytest.raises(ValueError, match="part must be one of"):
            call()
    assert results.check_part("validation") == "validation"


def test_seed_mean_averages_one_score_over_the_seeds_summaries():
    summaries = [{"mean": {"mse": 0.2, "f1_macro": 0.5}, "std": {"mse": 0.1, "f1_macro": 0.0}},
                 {"mean": {"mse": 0.4, "f1_macro": 0.7}, "std": {"mse": 0.3, "f1_macro": 0.2}}]
    assert experiment.seed_mean(summaries, "mean", "mse") == pytest.approx(0.3)
    assert experiment.seed_mean(iter(summaries), "std", "f1_macro") == pytest.approx(0.1)
    with pytest.raises(ValueError, match="no seed's summary"):
        experiment.seed_mean([], "mean", "mse")
