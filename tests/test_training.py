"""The shared loop stops early, restores the best weights and is reproducible."""

from __future__ import annotations

import pytest
import torch

from occupancy_utils import training


def _problem(seed: int):
    gen = training.seed_everything(seed)
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
    with pytest.raises(ValueError, match="seed"):
        training.seed_everything(-1)
    assert training.device().type in {"cpu", "cuda"}


def test_torch_threads_restores_the_setting():
    before = torch.get_num_threads()
    with training.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads"), training.torch_threads(0):
        pass
