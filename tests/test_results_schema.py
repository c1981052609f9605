"""Every chapter writes its models' entries through one schema (CONTRIBUTING.md)."""

from __future__ import annotations

import pytest

from occupancy_utils import results

SUMMARY = {"mean": {"mse": 0.2, "f1_macro": 0.5}}


def test_protocol_block_keys_seeds_and_folds_as_json_does():
    block = results.protocol_block({0: SUMMARY, 2: SUMMARY}, train_seconds=1, predict_seconds=0.5,
                                   chosen={1: {"lr": 0.1}}, seeds_value_mse={0: 1.0, 2: 2.0})
    assert block == {"seeds": {"0": SUMMARY, "2": SUMMARY}, "train_seconds": 1.0,
                     "predict_seconds": 0.5, "chosen": {"1": {"lr": 0.1}},
                     "seeds_value_mse": {"0": 1.0, "2": 2.0}}
    assert "chosen" not in results.protocol_block({0: SUMMARY}, train_seconds=1,
                                                  predict_seconds=1)


def test_model_entry_and_payload_carry_the_shared_fields_and_extras():
    block = results.protocol_block({0: SUMMARY}, train_seconds=1, predict_seconds=1)
    entry = results.model_entry("m", {"a": 1}, probabilistic=1, protocols={"clean": block},
                                note="n")
    assert entry == {"label": "m", "params": {"a": 1}, "probabilistic": True,
                     "protocols": {"clean": block}, "note": "n"}
    payload = results.chapter_payload("07_x", "quick", 3, {"m": entry}, ranking=[])
    assert payload == {"chapter": "07_x", "profile": "quick", "elapsed_seconds": 3.0,
                       "models": {"m": entry}, "ranking": []}


@pytest.mark.parametrize("change, message", [
    (lambda e: e.pop("label"), "'m' lacks label"),
    (lambda e: e.update(protocols={}), "'m' has no protocol"),
    (lambda e: e["protocols"]["clean"].pop("train_seconds"),
     "protocol 'clean' lacks train_seconds"),
    (lambda e: e["protocols"]["clean"].update(seeds={}), "protocol 'clean' has no seed"),
])
def test_an_entry_that_breaks_the_schema_is_named(change, message):
    entry = {"label": "m", "params": {}, "probabilistic": False,
             "protocols": {"clean": {"seeds": {"0": SUMMARY}, "train_seconds": 1.0,
                                     "predict_seconds": 1.0}}}
    results.check_entry(entry, "m")  # whole, it passes
    change(entry)
    with pytest.raises(ValueError, match=message):
        results.chapter_payload("04_crf", "quick", 1.0, {"m": entry})
