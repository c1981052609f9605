"""Stacked LSTM over sliding windows, and Monte Carlo dropout sampling from it.

The network mirrors report section 3.3: one or more ``nn.LSTM`` layers, the
output of the last time step through dropout into a linear head. One output
is the regression variant (the count), four the classification variant.
Dropout sits between the LSTM layers (``nn.LSTM``'s own ``dropout``) and
before the head, as in the report.

Monte Carlo dropout (Gal and Ghahramani, 2015) keeps these dropouts on at
prediction time. ``nn.LSTM`` applies its inter-layer dropout only in training
mode, so sampling puts the whole model in training mode under
``torch.no_grad()``. That is correct only because nothing else in the model
behaves differently in training mode (no batch normalisation); the model is
built here, so that holds.

One batched pass instead of T calls: the inputs are repeated T times along
the batch dimension. Dropout draws an independent mask for every element of
its input, so each copy of a window gets its own masks, exactly as T
separate calls would. Note that ``nn.LSTM``'s dropout draws a new mask at
every time step (it is not the tied-over-time "variational" dropout of later
work by Gal); the head's dropout is one mask per window.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

VARIANTS = ("regression", "classification")
N_CLASSES = 4
#: Largest number of window copies pushed through the network at once when sampling,
#: by device type. On a CPU large batches run slower per row (they leave the cache:
#: 100 samples of 1000 windows took 5.9 s in chunks of 1000 copies, 10.7 s in chunks of
#: 32768, and 5.9 s as 100 separate calls); a GPU wants them as large as memory allows.
MC_MAX_ROWS = {"cpu": 2048, "cuda": 65536}


def check_structure(hidden: int, layers: int, dropout: float) -> None:
    """Fail early, naming the parameter, before any tensor is made."""
    for name, value in (("hidden", hidden), ("layers", layers)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")


def outputs_for(variant: str) -> int:
    """Width of the head: one count for regression, four class scores for classification."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    return 1 if variant == "regression" else N_CLASSES


class LSTMNet(nn.Module):
    """LSTM layers, dropout on the last step's output, a linear head."""

    def __init__(self, n_features: int, hidden: int, layers: int, dropout: float,
                 n_outputs: int) -> None:
        super().__init__()
        check_structure(hidden, layers, dropout)
        # nn.LSTM's dropout acts between layers only, so a single layer gets none
        # (and would warn); the head's dropout below is there in every case.
        self.lstm = nn.LSTM(n_features, hidden, num_layers=layers, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, seq_len, features) -> (batch, n_outputs)."""
        out, _ = self.lstm(x)
        return self.head(self.drop(out[:, -1]))


def build(variant: str, n_features: int, hidden: int, layers: int, dropout: float) -> LSTMNet:
    """The network for one variant ('regression' or 'classification')."""
    return LSTMNet(n_features, hidden, layers, dropout, outputs_for(variant))


def _to_output(raw: torch.Tensor, variant: str) -> torch.Tensor:
    """Regression: the count (N,); classification: softmax probabilities (N, 4)."""
    return raw.squeeze(-1) if variant == "regression" else torch.softmax(raw, dim=-1)


def predict(model: nn.Module, x: torch.Tensor, variant: str,
            batch_size: int = 4096) -> torch.Tensor:
    """Deterministic prediction, dropout off (how the report scored its search)."""
    model.eval()
    with torch.no_grad():
        parts = [_to_output(model(xb), variant) for xb in x.split(batch_size)]
    return torch.cat(parts) if parts else torch.empty(0)


def mc_samples(model: nn.Module, x: torch.Tensor, variant: str, samples: int,
               batched: bool = True, max_rows: int | None = None) -> torch.Tensor:
    """T Monte Carlo dropout samples: (T, N) counts or (T, N, 4) probabilities.

    ``batched`` repeats each window T times in one forward pass (in chunks of
    at most ``max_rows`` copies, default :data:`MC_MAX_ROWS` for the device,
    to bound memory); otherwise T separate passes are made (kept to compare
    the two in tests and benchmarks).
    """
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 1:
        raise ValueError(f"mc_samples must be a positive integer, got {samples!r}")
    if max_rows is None:
        max_rows = MC_MAX_ROWS.get(x.device.type, MC_MAX_ROWS["cpu"])
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            raise ValueError("mc_samples: the model has batch normalisation, which training "
                             "mode would change; MC dropout sampling here would be wrong")
    was_training = model.training
    model.train()  # dropout on, including nn.LSTM's inter-layer dropout
    try:
        with torch.no_grad():
            if batched:
                per_chunk = max(1, max_rows // samples)
                chunks = []
                for xb in x.split(per_chunk):
                    n = len(xb)
                    rep = xb.repeat(samples, 1, 1)  # copy t of window i at row t * n + i
                    out = _to_output(model(rep), variant)
                    chunks.append(out.reshape(samples, n, *out.shape[1:]))
                return torch.cat(chunks, dim=1)
            return torch.stack([_to_output(model(x), variant) for _ in range(samples)])
    finally:
        model.train(was_training)


def time_mc(model: nn.Module, x: torch.Tensor, variant: str, samples: int,
            repeats: int = 3) -> dict[str, float]:
    """Seconds for looped and batched MC sampling of the same inputs (best of ``repeats``).

    For a benchmark, not a test: timings depend on the machine and its load.
    """
    def best(fn: Callable[[], torch.Tensor]) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            if x.is_cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        return min(times)

    looped = best(lambda: mc_samples(model, x, variant, samples, batched=False))
    batched = best(lambda: mc_samples(model, x, variant, samples, batched=True))
    return {"looped_seconds": looped, "batched_seconds": batched,
            "speedup": looped / batched if batched > 0 else float("nan"),
            "samples": samples, "windows": len(x)}
