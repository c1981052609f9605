"""The shared loop stops early, restores the best weights and is reproducible."""

from __future__ import annotations

import pytest
import torch

from occupancy_utils import rng, training


def _problem(seed: int):
    gen = rng.seed_all(seed)
    x = torch.randn(64, 3)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1 * torch.randn(64)
    model = torch.nn.Linear(3, 1)
    return gen, x, y, model


def test_loss_falls_and_best_weights_are_restored():
    gen, x, y, model = _problem(0)
    monitored = []

    def monitor():
        value = float(((model(x).squeeze(-1) - y) ** 2).mean())
        monitored.append(value)
        return value

    hist = training.fit(model, lambda i: ((model(x[i]).squeeze(-1) - y[i]) ** 2).mean(), len(x),
                        monitor, lr=0.05, batch_size=16, max_epochs=200, patience=5,
                        generator=gen)
    assert hist.train_loss[-1] < hist.train_loss[0] / 10
    assert hist.monitor[hist.best_epoch] == min(hist.monitor)
    with torch.no_grad():
        final = float(((model(x).squeeze(-1) - y) ** 2).mean())
    assert final == pytest.approx(min(hist.monitor))


def test_patience_stops_training():
    gen, x, y, model = _problem(1)
    values = iter([5.0, 4.0, 4.5, 4.6, 4.7, 4.8, 4.9, 5.0, 5.1])
    hist = training.fit(model, lambda i: model(x[i]).pow(2).mean(), len(x), lambda: next(values),
                        lr=0.01, batch_size=32, max_epochs=100, patience=3, generator=gen)
    assert hist.stopped_early and hist.epochs == 5 and hist.best_epoch == 1


def test_same_seed_same_result():
    def run(seed):
        gen, x, y, model = _problem(seed)
        training.fit(model, lambda i: ((model(x[i]).squeeze(-1) - y[i]) ** 2).mean(), len(x),
                     lambda: 0.0, lr=0.05, batch_size=8, max_epochs=3, patience=10,
                     generator=gen)
        return model.weight.detach().clone()

    assert torch.equal(run(3), run(3))
    assert not torch.equal(run(3), run(4))


@pytest.mark.parametrize(("name", "kwargs"), [("lr", {"lr": -1.0}), ("patience", {"patience": 0}),
                                              ("max_epochs", {"max_epochs": 0})])
def test_bad_settings_are_named(name, kwargs):
    model = torch.nn.Linear(1, 1)
    settings = {"lr": 0.1, "batch_size": 4, "max_epochs": 2, "patience": 1, **kwargs}
    with pytest.raises(ValueError, match=name):
        training.fit(model, lambda i: model(torch.ones(len(i), 1)).sum(), 4, lambda: 0.0,
                     **settings)


def test_protocol_and_seed_checks():
    assert training.check_protocol("clean") == "clean"
    with pytest.raises(ValueError, match="protocol"):
        training.check_protocol("test")
    assert training.device().type in {"cpu", "cuda"}


def test_torch_threads_restores_the_setting():
    before = torch.get_num_threads()
    with training.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads"), training.torch_threads(0):
        pass


@pytest.mark.parametrize("seeds", [[0, 0, 0], [3, 4, 5]], ids=["one seed", "a seed each"])
def test_fit_many_trains_each_model_as_fit_would_alone(seeds):
    """Three regressions with their own learning rates and stopping points, trained as one:
    with one seed they share the batches (one generator); with a seed each, each draws its
    own (one generator each, ``idx`` one row per active model)."""
    lrs, patience = [0.05, 0.01, 0.2], 3
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(9))
    y = x @ torch.tensor([1.0, -2.0, 0.5])
    x_mon = x[:16] + 0.3  # a shifted monitor set, so the models stop at different epochs

    def models():
        out = []
        for seed in seeds:
            rng.seed_all(seed)
            out.append(torch.nn.Linear(3, 1))
        return out

    def loss(model, xs, ys):
        return ((model(xs).squeeze(-1) - ys) ** 2).mean()

    alone, alone_hist = models(), []
    for model, lr, seed in zip(alone, lrs, seeds, strict=True):
        alone_hist.append(training.fit(
            model, lambda i, m=model: loss(m, x[i], y[i]), len(x),
            lambda m=model: float(loss(m, x_mon, y[:16])), lr=lr, batch_size=8,
            max_epochs=60, patience=patience, generator=torch.Generator().manual_seed(seed)))
    together = models()
    shared = len(set(seeds)) == 1
    generator = (torch.Generator().manual_seed(seeds[0]) if shared
                 else [torch.Generator().manual_seed(s) for s in seeds])

    def batch_losses(i, act):
        rows = [i] * len(act) if shared else list(i)
        return torch.stack([loss(together[k], x[r], y[r]) for k, r in zip(act, rows, strict=True)])

    hists = training.fit_many(
        together, batch_losses,
        len(x), lambda act: torch.stack([loss(together[k], x_mon, y[:16]) for k in act]),
        lrs=lrs, batch_size=8, max_epochs=60, patience=patience, generator=generator)
    assert len({h.epochs for h in hists}) > 1  # the test exercises per-model stopping
    for a, b, ma, mb in zip(alone_hist, hists, alone, together, strict=True):
        assert (a.epochs, a.best_epoch, a.stopped_early) == (b.epochs, b.best_epoch,
                                                             b.stopped_early)
        assert b.monitor == pytest.approx(a.monitor, rel=1e-5, abs=1e-7)
        assert torch.allclose(ma.weight, mb.weight, atol=1e-6)  # best weights restored


def test_fit_many_needs_one_lr_per_model():
    with pytest.raises(ValueError, match="one lr per model"):
        training.fit_many([torch.nn.Linear(1, 1)], lambda i, a: None, 4, lambda a: None,
                          lrs=[0.1, 0.2], batch_size=2, max_epochs=1, patience=1)
    with pytest.raises(ValueError, match="lr"):
        training.fit_many([torch.nn.Linear(1, 1)], lambda i, a: None, 4, lambda a: None,
                          lrs=[-0.1], batch_size=2, max_epochs=1, patience=1)
    with pytest.raises(ValueError, match="one generator per model, got 2 for 1"):
        training.fit_many([torch.nn.Linear(1, 1)], lambda i, a: None, 4, lambda a: None,
                          lrs=[0.1], batch_size=2, max_epochs=1, patience=1,
                          generator=[torch.Generator(), torch.Generator()])
