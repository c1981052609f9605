"""Python's, NumPy's and torch's global random generators, seeded only inside a block.

Model code draws from the global generators where libraries give no other way
(a network's initial weights, dropout masks, torchbnn's weight samples). A
function that seeds them and returns would leave them seeded for whatever runs
next: a figure's jitter or a later sample would then depend on which training
happened to run last. :func:`seeded` seeds them for one block and puts back what
was there before, so every result depends on its own seed alone and nothing
outside the block sees the change.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import numpy as np
import torch


def check_seed(seed: int) -> int:
    """``seed``; a one-line ValueError unless it is a non-negative integer."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return seed


def _cuda_devices() -> list[int]:
    return list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []


@contextlib.contextmanager
def restored() -> Iterator[None]:
    """Run a block, then put the three global generators back as they were before it.

    torch's own :func:`torch.random.fork_rng` does this for torch (CPU and every CUDA
    device); Python's and NumPy's states are saved and set back here.
    """
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        with torch.random.fork_rng(devices=_cuda_devices()):
            yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def seed_all(seed: int) -> torch.Generator:
    """Seed the three global generators; a fresh torch generator with the same seed (for
    the batch order). Call it inside :func:`restored`, or use :func:`seeded`."""
    check_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[torch.Generator]:
    """The global generators seeded with ``seed`` for one block, restored after it; yields
    a torch generator with the same seed for the batch order."""
    check_seed(seed)
    with restored():
        yield seed_all(seed)
