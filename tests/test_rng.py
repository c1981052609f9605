"""Seeding the global generators for one block leaves nothing seeded behind it."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from occupancy_utils import rng


def _draws() -> tuple[float, float, float]:
    return random.random(), float(np.random.random()), float(torch.rand(1))


def test_seeded_block_is_reproducible_and_leaves_the_outer_streams_where_they_were():
    random.seed(11), np.random.seed(11), torch.manual_seed(11)
    expected_after = _draws()  # what the outer streams give next, with no block between
    random.seed(11), np.random.seed(11), torch.manual_seed(11)
    with rng.seeded(3) as generator:
        inside = _draws()
        order = torch.randperm(10, generator=generator)
    assert _draws() == expected_after
    with rng.seeded(3) as generator:
        assert _draws() == inside  # the same seed, the same draws, whatever ran before
        assert torch.equal(torch.randperm(10, generator=generator), order)
    with rng.seeded(4):
        assert _draws() != inside


def test_restored_puts_the_streams_back_even_after_an_error():
    random.seed(5), np.random.seed(5), torch.manual_seed(5)
    expected = _draws()
    random.seed(5), np.random.seed(5), torch.manual_seed(5)
    with pytest.raises(RuntimeError, match="boom"), rng.restored():
        rng.seed_all(9)
        _draws()
        raise RuntimeError("boom")
    assert _draws() == expected


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"])
def test_a_bad_seed_is_named(seed):
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        rng.check_seed(seed)
    with pytest.raises(ValueError, match="seed must be"), rng.seeded(seed):
        pass
