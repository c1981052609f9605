"""One training loop for every model of the book: seeding, device, early stopping.

Each chapter supplies the model, a loss for a batch, and a monitor (the loss
on the test fold in the report's protocol, on a validation tail in the clean
one). The loop keeps the weights of the best monitored epoch and restores them
at the end, so "the model" is always the one early stopping chose.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm  # text bars: tqdm.auto needs ipywidgets, whose output needs a CDN

#: ``report``: stop early on the test part, as the report did; ``clean``: on a validation tail.
PROTOCOLS = ("report", "clean")


def device() -> torch.device:
    """CUDA when present, else the CPU; the same code runs on both."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run torch on ``n`` CPU threads, then restore the previous count.

    The book's networks are small: splitting their matrix products over
    threads gains nothing on an idle 2-core machine and costs a lot on a busy
    one (see benchmarks/README.md). One thread per model, and a second worker
    process for the second core, is the better use of the machine.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"threads must be a positive integer, got {n!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def tensor(values: np.ndarray, dtype: torch.dtype | None = None,
           on: torch.device | None = None) -> torch.Tensor:
    """``values`` as a tensor on the training device (or ``on``), ``dtype`` or numpy's own."""
    return torch.as_tensor(np.ascontiguousarray(values), dtype=dtype,
                           device=on if on is not None else device())


def check_seeds(seeds: Sequence[int]) -> list[int]:
    """The seeds as a list; a one-line ValueError unless they are non-negative integers.

    One check for every chapter, so that a bad ``seeds`` parameter reads the same
    everywhere and fails before anything trains.
    """
    if (not isinstance(seeds, list | tuple) or not seeds
            or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds)):
        raise ValueError(f"seeds must be a non-empty list of non-negative integers, got {seeds!r}")
    return list(seeds)


def check_protocol(protocol: str) -> str:
    """The protocol, if it is one of :data:`PROTOCOLS`; a one-line ValueError otherwise."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    return protocol


@dataclass
class History:
    """What happened during training, epoch by epoch."""

    train_loss: list[float] = field(default_factory=list)
    monitor: list[float] = field(default_factory=list)
    extra: list[dict] = field(default_factory=list)
    best_epoch: int = -1  # 0-based index into the lists
    stopped_early: bool = False

    @property
    def epochs(self) -> int:
        """How many epochs ran (best weights may come from an earlier one)."""
        return len(self.train_loss)


def batches(n: int, batch_size: int, generator: torch.Generator | None = None,
            shuffle: bool = True) -> Iterable[torch.Tensor]:
    """Index batches over n items, shuffled with the seeded generator."""
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    return order.split(batch_size)


def fit(model: torch.nn.Module,
        batch_loss: Callable[[torch.Tensor], torch.Tensor],
        n_items: int,
        monitor: Callable[[], float],
        *,
        lr: float,
        batch_size: int,
        max_epochs: int,
        patience: int,
        generator: torch.Generator | None = None,
        on_epoch: Callable[[int, History], dict | None] | None = None,
        progress: bool = False,
        description: str = "epochs") -> History:
    """Train with Adam and early stopping on ``monitor()`` (lower is better).

    ``batch_loss(idx)`` returns the loss of the items ``idx`` (a LongTensor).
    ``on_epoch(epoch, history)`` may return a dict of extra per-epoch records
    (e.g. the CRF transition matrix). Stops after ``patience`` epochs without
    improvement, or at ``max_epochs``; restores the best weights.
    """
    for name, value in (("lr", lr), ("batch_size", batch_size), ("max_epochs", max_epochs),
                        ("patience", patience)):
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value!r}")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = History()
    best, best_state, waited = float("inf"), None, 0
    bar = tqdm(range(max_epochs), desc=description, disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        total, count = 0.0, 0
        for idx in batches(n_items, batch_size, generator):
            optimizer.zero_grad()
            loss = batch_loss(idx)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        history.train_loss.append(total / max(count, 1))
        model.eval()
        with torch.no_grad():
            value = float(monitor())
        history.monitor.append(value)
        if on_epoch is not None:
            history.extra.append(on_epoch(epoch, history) or {})
        if value < best:
            best, waited, history.best_epoch = value, 0, epoch
            best_state = copy.deepcopy(model.state_dict())
        else:
            waited += 1
            if waited >= patience:
                history.stopped_early = True
                break
        bar.set_postfix(monitor=f"{value:.4f}", best=f"{best:.4f}")
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history


def fit_many(models: list[torch.nn.Module],
             batch_losses: Callable[[torch.Tensor, list[int]], torch.Tensor],
             n_items: int,
             monitor: Callable[[list[int]], torch.Tensor],
             *,
             lrs: list[float],
             batch_size: int,
             max_epochs: int,
             patience: int,
             generator: torch.Generator | Sequence[torch.Generator] | None = None,
             on_epoch: Callable[[int, int], dict | None] | None = None,
             progress: bool = False,
             description: str = "epochs") -> list[History]:
    """:func:`fit` for several models at once, each as if it were trained alone.

    With one ``generator`` all models see the same shuffled batches (as each
    would have under the same seed on its own) and ``idx`` is one index batch;
    with one generator per model (models trained with different seeds) each
    draws its own order, and ``idx`` is (len(active), batch), row k the batch
    of ``active[k]``. ``batch_losses(idx, active)`` returns one loss per model
    in ``active`` and ``monitor(active)`` one monitored value per model in
    ``active``; ``on_epoch(epoch, i)`` may return model i's extra records of
    the epoch (:func:`fit`'s ``on_epoch``, per model). The summed loss gives every model
    the gradient of its own loss, as the models share no parameter. Each model
    keeps its own learning rate (one Adam parameter group per rate), its own
    early stopping, and its best weights; a stopped model leaves ``active``,
    so it is neither computed nor updated again (Adam skips parameters
    without a gradient).

    Adam runs fused where torch has a fused kernel (CPU and CUDA, float32): it
    is the same update as :func:`fit`'s, in one kernel per parameter group,
    and equal up to float rounding (``tests/test_training.py`` checks it).
    """
    if len(lrs) != len(models) or not models:
        raise ValueError(f"fit_many needs one lr per model, got {len(lrs)} for {len(models)}")
    shared = generator is None or isinstance(generator, torch.Generator)
    if not shared and len(generator) != len(models):
        raise ValueError(f"fit_many needs one generator per model, got {len(generator)} "
                         f"for {len(models)}")
    for name, value in (("batch_size", batch_size), ("max_epochs", max_epochs),
                        ("patience", patience), *(("lr", lr) for lr in lrs)):
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value!r}")
    by_lr: dict[float, list[torch.nn.Parameter]] = {}
    for model, lr in zip(models, lrs, strict=True):
        by_lr.setdefault(float(lr), []).extend(model.parameters())
    optimizer = torch.optim.Adam([{"params": p, "lr": lr} for lr, p in by_lr.items()],
                                 fused=True)
    histories = [History() for _ in models]
    best = [float("inf")] * len(models)
    best_state: list[dict | None] = [None] * len(models)
    waited = [0] * len(models)
    active = list(range(len(models)))
    bar = tqdm(range(max_epochs), desc=description, disable=not progress, leave=False)
    for epoch in bar:
        for i in active:
            models[i].train()
        totals = torch.zeros(len(active), dtype=torch.float64)
        count = 0
        steps = (batches(n_items, batch_size, generator) if shared else
                 map(torch.stack, zip(*(batches(n_items, batch_size, generator[i])
                                        for i in active), strict=True)))
        for idx in steps:
            optimizer.zero_grad()  # set_to_none: stopped models get no gradient, no step
            losses = batch_losses(idx, active)
            losses.sum().backward()
            optimizer.step()
            totals += losses.detach().double().cpu() * idx.shape[-1]
            count += idx.shape[-1]
        for i in active:
            models[i].eval()
        with torch.no_grad():
            values = monitor(active).detach().double().cpu().tolist()
        still = []
        for k, i in enumerate(active):
            history, value = histories[i], values[k]
            history.train_loss.append(float(totals[k]) / max(count, 1))
            history.monitor.append(value)
            if on_epoch is not None:
                history.extra.append(on_epoch(epoch, i) or {})
            if value < best[i]:
                best[i], waited[i], history.best_epoch = value, 0, epoch
                best_state[i] = copy.deepcopy(models[i].state_dict())
                still.append(i)
            else:
                waited[i] += 1
                if waited[i] >= patience:
                    history.stopped_early = True
                else:
                    still.append(i)
        active = still
        bar.set_postfix(training=len(active))
        if not active:
            break
    for model, state in zip(models, best_state, strict=True):
        if state is not None:
            model.load_state_dict(state)
        model.eval()
    return histories
