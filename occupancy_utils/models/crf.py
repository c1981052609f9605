"""The report's MLP + linear-chain CRF: per-step emission scores and a label-transition layer.

The MLP sees one time step at a time; everything the model knows about the
order of the samples sits in the CRF's 4 x 4 transition scores (plus start and
end scores). That is why a sequence can be decoded at any length: the emissions
do not depend on where a chunk starts, so a whole test part can be decoded as
one long sequence as well as in the chunks the model was trained on.

pytorch-crf has no marginals API; :func:`marginals` runs forward-backward on
the CRF's own parameters, so that the model can give class probabilities
(p0..p3) beside its Viterbi labels.
"""

from __future__ import annotations

import re

import numpy as np
import torch
from torch import nn
from torchcrf import CRF

#: The report's hidden-layer layouts: widths of the hidden layers, joined by '-'.
LAYOUTS = ("32", "64", "128", "64-32", "128-64", "64-32-16")
N_TAGS = 4
_LAYOUT = re.compile(r"[1-9]\d*(-[1-9]\d*)*")


def parse_layout(hidden: str) -> tuple[int, ...]:
    """Hidden widths of a layout string such as ``"64-32"``; a one-line error otherwise."""
    if not isinstance(hidden, str) or not _LAYOUT.fullmatch(hidden):
        raise ValueError(f"hidden must be a layout of positive widths joined by '-' "
                         f"(e.g. '64-32'), got {hidden!r}")
    return tuple(int(width) for width in hidden.split("-"))


def _full_mask(tags_shape: torch.Size, device: torch.device | None = None) -> torch.Tensor:
    # Chunks are never padded (the report dropped short tails), so every step counts;
    # the mask is passed explicitly so that pytorch-crf never guesses it.
    return torch.ones(tags_shape, dtype=torch.bool, device=device)


class MLPCRF(nn.Module):
    """MLP emissions (ReLU after each hidden layer) under a ``torchcrf.CRF``."""

    def __init__(self, n_features: int, hidden: str, n_tags: int = N_TAGS) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for size in parse_layout(hidden):
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        layers.append(nn.Linear(width, n_tags))
        self.mlp = nn.Sequential(*layers)
        self.crf = CRF(n_tags, batch_first=True)

    def emissions(self, x: torch.Tensor) -> torch.Tensor:
        """Per-step scores, shape (batch, steps, tags); steps are independent here."""
        return self.mlp(x)

    def nll(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood per time step (pytorch-crf's ``token_mean``).

        Per step rather than per batch so that losses of different sequence
        lengths and part sizes are on one scale; early stopping and Adam do
        not care about the scale, the figures do.
        """
        return -self.crf(self.emissions(x), y, mask=_full_mask(y.shape, y.device),
                         reduction="token_mean")

    @torch.no_grad()
    def decode(self, x: torch.Tensor) -> np.ndarray:
        """Viterbi labels of equal-length sequences, shape (batch, steps)."""
        em = self.emissions(x)
        return np.asarray(self.crf.decode(em, mask=_full_mask(em.shape[:2], em.device)),
                          dtype=np.int64)

    @torch.no_grad()
    def marginals(self, x: torch.Tensor) -> np.ndarray:
        """Class probabilities per step (batch, steps, tags), from forward-backward."""
        return marginals(self.crf, self.emissions(x)).cpu().numpy()

    def transition_matrix(self) -> np.ndarray:
        """The learned transition scores (from-tag rows, to-tag columns)."""
        return self.crf.transitions.detach().cpu().numpy().copy()


def marginals(crf: CRF, emissions: torch.Tensor) -> torch.Tensor:
    """Posterior marginals P(y_t = k | x) of a batch-first, unmasked CRF.

    Forward and backward recursions in log space over the time steps (the
    only loop; batch and tags are vectorised).
    """
    batch, steps, tags = emissions.shape
    dtype = emissions.dtype
    # float64: over a whole test part (thousands of steps) float32 log-scores drift
    emissions = emissions.double()
    start, end = crf.start_transitions.double(), crf.end_transitions.double()
    trans = crf.transitions.double().unsqueeze(0)  # (1, from, to)
    alpha = [start + emissions[:, 0]]
    for t in range(1, steps):
        alpha.append(torch.logsumexp(alpha[-1].unsqueeze(2) + trans, dim=1) + emissions[:, t])
    beta = [end.expand(batch, tags)]
    for t in range(steps - 1, 0, -1):
        beta.append(torch.logsumexp(trans + (emissions[:, t] + beta[-1]).unsqueeze(1), dim=2))
    log_alpha = torch.stack(alpha, dim=1)
    log_beta = torch.stack(beta[::-1], dim=1)
    # alpha_t + beta_t sums to log Z at every step; normalising each step is the same
    # division and keeps every row summing to 1 whatever rounding remains.
    return torch.softmax(log_alpha + log_beta, dim=-1).to(dtype)


# --------------------------------------------------------------------------- many at once

def stacked_nll(emissions: torch.Tensor, tags: torch.Tensor, start: torch.Tensor,
                end: torch.Tensor, transitions: torch.Tensor) -> torch.Tensor:
    """Per-step CRF NLL of M models at once: pytorch-crf's ``token_mean``, model by model.

    ``emissions`` is (M, batch, steps, tags), the CRF scores are (M, tags) and
    (M, tags, tags); ``tags`` is (batch, steps) when every model sees the same batch,
    or (M, batch, steps), one batch per model. The forward recursion is one loop over
    the steps for all M models together, which is what makes training a group of
    configurations cheaper than training them one by one: on a CPU the cost of these
    tiny models is the number of operations, not their size.
    """
    models, batch, steps, _ = emissions.shape
    if tags.dim() == 2:
        gathered = emissions.gather(3, tags.expand(models, batch, steps).unsqueeze(-1)).squeeze(-1)
        score = start[:, tags[:, 0]] + gathered.sum(2) + end[:, tags[:, -1]]
        score = score + transitions[:, tags[:, :-1], tags[:, 1:]].sum(2)
    else:
        member = torch.arange(models, device=tags.device).unsqueeze(1)
        gathered = emissions.gather(3, tags.unsqueeze(-1)).squeeze(-1)
        score = start[member, tags[:, :, 0]] + gathered.sum(2) + end[member, tags[:, :, -1]]
        score = score + transitions[member.unsqueeze(2), tags[:, :, :-1], tags[:, :, 1:]].sum(2)
    per_step = emissions.unbind(2)  # unbind, not indexing: its gradient is one stack
    trans = transitions.unsqueeze(1)  # (M, 1, from, to)
    alpha = start.unsqueeze(1) + per_step[0]
    for t in range(1, steps):
        alpha = torch.logsumexp(alpha.unsqueeze(-1) + trans, dim=2) + per_step[t]
    log_z = torch.logsumexp(alpha + end.unsqueeze(1), dim=-1)
    return (log_z - score).sum(1) / (batch * steps)


class MLPCRFStack:
    """Several :class:`MLPCRF` trained as one: same batches, one CRF recursion.

    The members stay ordinary ``MLPCRF`` modules (their own parameters, so an
    optimizer can give each its own learning rate, and prediction is the one-
    model code). Each call stacks the weights of the members asked for: the
    first layers of all of them are one matrix product, later layers one
    batched product per layout, and the CRF one :func:`stacked_nll`.
    """

    def __init__(self, members: list[MLPCRF]) -> None:
        if not members:
            raise ValueError("an MLPCRFStack needs at least one model")
        self.members = members
        self.layouts = [tuple(m.mlp) for m in members]

    def emissions(self, x: torch.Tensor, active: list[int]) -> torch.Tensor:
        """Emission scores (len(active), batch, steps, tags) of the active members.

        ``x`` is one batch every member sees, (batch, steps, features), or one batch per
        active member, (len(active), batch, steps, features): members trained with
        different seeds draw their batches apart.
        """
        per_member = x.dim() == 4
        batch, steps, features = x.shape[-3:]
        flat = x.reshape(*x.shape[:-3], batch * steps, features)
        groups: dict[tuple[int, ...], list[int]] = {}
        for i in active:  # members with one layout share the batched products
            widths = tuple(layer.out_features for layer in self.members[i].mlp
                           if isinstance(layer, nn.Linear))
            groups.setdefault(widths, []).append(i)
        order, outputs = [], []
        for indices in groups.values():
            mlps = [self.members[i].mlp for i in indices]
            h = flat[[active.index(i) for i in indices]] if per_member else flat
            for j, layer in enumerate(mlps[0]):
                if isinstance(layer, nn.Linear):
                    weight = torch.stack([m[j].weight for m in mlps]).transpose(1, 2)
                    bias = torch.stack([m[j].bias for m in mlps]).unsqueeze(1)
                    h = torch.matmul(h, weight) + bias  # (k, rows, width); first: broadcast
                else:
                    h = torch.relu(h)
            order += indices
            outputs.append(h)
        em = torch.cat(outputs).reshape(len(order), batch, steps, -1)
        position = {i: k for k, i in enumerate(order)}
        return em[[position[i] for i in active]] if order != list(active) else em

    def nll(self, x: torch.Tensor, y: torch.Tensor, active: list[int]) -> torch.Tensor:
        """Per-step NLL of each active member, shape (len(active),); ``x`` and ``y`` shared
        or one per active member, as in :meth:`emissions`."""
        crfs = [self.members[i].crf for i in active]
        return stacked_nll(self.emissions(x, active), y,
                           torch.stack([c.start_transitions for c in crfs]),
                           torch.stack([c.end_transitions for c in crfs]),
                           torch.stack([c.transitions for c in crfs]))
