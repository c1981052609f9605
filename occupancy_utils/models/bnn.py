"""A Bayesian multilayer perceptron of ``torchbnn.BayesLinear`` layers.

Every weight has a Gaussian posterior ``N(mu, exp(log_sigma)^2)`` and a
Gaussian prior ``N(prior_mu, prior_sigma^2)`` (Blundell et al., 2015). The
layers are torchbnn's own, so :meth:`BayesMLP.forward` (one weight sample per
call), ``torchbnn.utils.freeze``/``unfreeze`` and ``torchbnn.BKLLoss`` behave
exactly as the library documents.

What torchbnn lacks is drawing *T* weight samples at once: its forward draws
one sample per call, so T predictions would be a Python loop of T calls.
:meth:`BayesMLP.sample_logits` draws T weight matrices per layer in one tensor
(``mu + exp(log_sigma) * eps`` with ``eps`` of shape ``(T, out, in)``) and
pushes the input through all of them with one batched matrix product per
layer - the same distribution as T separate calls (tests check it), in one
pass. :func:`benchmark_sampling` measures the difference.

The KL term: torchbnn's ``BKLLoss(reduction="mean")`` divides the summed KL by
the number of *weights*, whereas the ELBO of Bayes by Backprop, written per
training sample, divides it by the number of *training rows*.
:func:`kl_term` offers both (``"mean"`` and ``"elbo"``), so a chapter can say
which one it uses.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import torch
import torchbnn
from torch import nn

#: The KL scalings :func:`kl_term` knows.
KL_MODES = ("mean", "elbo")
#: Activations (floats) held at once by :meth:`BayesMLP.sample_logits`: 1 MiB, about
#: what a CPU cache holds (larger chunks measured slower on a CPU, not faster).
ACTIVATION_BUDGET = 1 << 18


def layer_sizes(hidden: int, hidden_layers: int) -> list[int]:
    """Hidden widths of a layout: ``hidden_layers`` layers of ``hidden`` units (the report's
    two-layer networks repeat the width). Fails with the parameter's name."""
    for name, value in (("hidden", hidden), ("hidden_layers", hidden_layers)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return [hidden] * hidden_layers


def check_samples(samples: int, name: str = "samples") -> int:
    """T, the number of weight samples: a positive integer."""
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"{name} must be a positive integer (T >= 1), got {samples!r}")
    return samples


def check_kl(kl: str, kl_weight: float) -> None:
    """The KL mode must be known and its weight non-negative."""
    if kl not in KL_MODES:
        raise ValueError(f"kl must be one of {KL_MODES}, got {kl!r}")
    if not isinstance(kl_weight, (int, float)) or not kl_weight >= 0 or math.isinf(kl_weight):
        raise ValueError(f"kl_weight must be a finite number >= 0, got {kl_weight!r}")


class BayesMLP(nn.Module):
    """Bayesian layers with ReLU between them, ending in class logits."""

    def __init__(self, n_features: int, hidden: Sequence[int], n_classes: int = 4,
                 prior_mu: float = 0.0, prior_sigma: float = 0.1) -> None:
        super().__init__()
        if not prior_sigma > 0:
            raise ValueError(f"prior_sigma must be positive, got {prior_sigma!r}")
        widths = [n_features, *hidden, n_classes]
        self.layers = nn.ModuleList(
            torchbnn.BayesLinear(prior_mu=prior_mu, prior_sigma=prior_sigma, in_features=a,
                                 out_features=b)
            for a, b in zip(widths[:-1], widths[1:], strict=True))

    @property
    def n_weights(self) -> int:
        """Number of random weights (means), what BKLLoss(reduction='mean') divides by."""
        return sum(layer.weight_mu.numel() + layer.bias_mu.numel() for layer in self.layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits from one weight sample (a new sample on every call unless frozen)."""
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return x

    def draw_weights(self, samples: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """T weight samples of every layer at once: ``[(W (T, out, in), b (T, out)), ...]``.

        ``mu + exp(log_sigma) * eps`` with ``eps`` drawn for all T at once. A
        frozen layer (``torchbnn.utils.freeze``) uses its fixed noise in all T
        samples, as its forward does.
        """
        check_samples(samples)
        drawn = []
        for layer in self.layers:
            weight = layer.weight_mu + torch.exp(layer.weight_log_sigma) * _noise(
                layer.weight_eps, samples, layer.weight_mu)
            bias = layer.bias_mu + torch.exp(layer.bias_log_sigma) * _noise(
                layer.bias_eps, samples, layer.bias_mu)
            drawn.append((weight, bias))
        return drawn

    @staticmethod
    def apply_weights(weights: list[tuple[torch.Tensor, torch.Tensor]],
                      x: torch.Tensor) -> torch.Tensor:
        """Logits of rows ``x`` (N, in) under T drawn networks: (T, N, C), one bmm per layer."""
        h = x.unsqueeze(0).expand(weights[0][0].shape[0], *x.shape)
        for i, (weight, bias) in enumerate(weights):
            if i:
                h = torch.relu(h)
            h = torch.baddbmm(bias.unsqueeze(1), h, weight.transpose(1, 2))
        return h

    def sample_logits(self, x: torch.Tensor, samples: int,
                      budget: int = ACTIVATION_BUDGET) -> torch.Tensor:
        """Logits from ``samples`` independent weight samples at once: shape (T, N, C).

        Equivalent in distribution to stacking T calls of :meth:`forward` on
        all of ``x``: the T networks are drawn once, and sample t is the same
        network for every row. Rows go through in chunks of at most
        ``budget`` activations (T x rows x widest layer), because one huge
        (T, N, width) tensor is slower than the loop on a CPU (memory bound).
        """
        weights = self.draw_weights(samples)
        width = max(w.shape[1] for w, _ in weights)
        rows = max(1, budget // (samples * width))
        return torch.cat([self.apply_weights(weights, x[i:i + rows])
                          for i in range(0, len(x), rows)], dim=1)

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor, samples: int) -> torch.Tensor:
        """Class probabilities of every weight sample, (T, N, C), without gradients."""
        return torch.softmax(self.sample_logits(x, samples), dim=-1)


def _noise(frozen: torch.Tensor | None, samples: int, like: torch.Tensor) -> torch.Tensor:
    if frozen is not None:
        return frozen.unsqueeze(0).expand(samples, *frozen.shape)
    return torch.randn((samples, *like.shape), dtype=like.dtype, device=like.device)


def kl_term(model: nn.Module, kl: str, n_train: int) -> torch.Tensor:
    """The KL part of the loss for one batch, before the weight.

    ``"mean"``: torchbnn's ``BKLLoss(reduction="mean")``, the summed KL over
    the number of weights - a scale that does not grow with the data.
    ``"elbo"``: the summed KL over the number of training rows, so that the
    batch loss (mean cross-entropy + this) is the negative ELBO per row.
    """
    check_kl(kl, 0.0)
    if kl == "mean":
        return torchbnn.BKLLoss(reduction="mean", last_layer_only=False)(model).squeeze()
    if n_train < 1:
        raise ValueError(f"n_train must be positive, got {n_train!r}")
    return torchbnn.BKLLoss(reduction="sum", last_layer_only=False)(model).squeeze() / n_train


def loop_sample_logits(model: BayesMLP, x: torch.Tensor, samples: int) -> torch.Tensor:
    """The naive way: T calls of the sampling forward, stacked (for tests and benchmarks)."""
    check_samples(samples)
    return torch.stack([model(x) for _ in range(samples)])


@torch.no_grad()
def benchmark_sampling(model: BayesMLP | None = None, x: torch.Tensor | None = None,
                       samples: int = 100, repeats: int = 5, rows: int = 2000,
                       n_features: int = 12, hidden: Sequence[int] = (64,)) -> dict[str, float]:
    """Seconds per T-sample prediction: a loop of T forward calls, the batched pass in row
    chunks (what :meth:`BayesMLP.sample_logits` does) and the batched pass in one chunk.

    Without a model, times a fresh network on random rows. Returns the best of
    ``repeats`` for each (the least disturbed by other work) and the speed-up of
    the chunked batched pass over the loop.
    """
    check_samples(samples)
    model = model if model is not None else BayesMLP(n_features, list(hidden))
    x = x if x is not None else torch.rand(rows, model.layers[0].in_features)
    model.eval()
    ways = {
        "loop": lambda: loop_sample_logits(model, x, samples),
        "batched": lambda: model.sample_logits(x, samples),
        "batched_one_chunk": lambda: model.sample_logits(x, samples, budget=1 << 62),
    }
    timings = {}
    for name, fn in ways.items():
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            torch.softmax(fn(), dim=-1)
            best = min(best, time.perf_counter() - start)
        timings[f"{name}_seconds"] = best
    timings["speedup"] = timings["loop_seconds"] / timings["batched_seconds"]
    timings.update(samples=samples, rows=len(x))
    return timings
