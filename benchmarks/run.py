"""Performance benchmark of the book (``make bench``): measured, never asserted.

Prints, in one run:

1. wall time per chapter, as each chapter recorded it in ``results/<profile>/``
   for every profile that has been built;
2. CRF search throughput: configurations (x 4 folds) per minute trained one
   at a time on one torch thread, on two threads, and with two worker
   processes sharing one Optuna storage (``WORKERS=2``);
3. one LSTM epoch at the report's regression structure;
4. T = 100 Monte Carlo samples drawn in a Python loop against one batched pass,
   for the BNN (weight samples) and the LSTM (dropout masks);
5. peak memory (resident set) of this process and of its children.

Epoch counts are fixed here (no early stopping) so runs compare like for like.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

from occupancy_utils import crf_study, data, experiment, lstm_study, search, splits, training
from occupancy_utils.models import bnn, lstm
from occupancy_utils.paths import RESULTS_DIR

CRF_CONFIG = {"hidden": "32", "lr": 0.0007, "seq_len": 25}


def line(text: str = "") -> None:
    print(text, flush=True)


def chapter_times() -> None:
    line("## Wall time per chapter (as recorded by the last build of each profile)")
    for profile_dir in sorted(p for p in RESULTS_DIR.glob("*") if p.is_dir()):
        rows = []
        for path in sorted(profile_dir.glob("0*.json")):
            elapsed = json.loads(path.read_text()).get("elapsed_seconds")
            if elapsed is not None:
                rows.append((path.stem, float(elapsed)))
        if rows:
            total = sum(s for _, s in rows)
            line(f"profile {profile_dir.name}: " + ", ".join(f"{n} {s:.0f} s" for n, s in rows)
                 + f"; total {total:.0f} s")
    line()


def _crf_config_seconds(epochs: int, threads: int | None) -> float:
    frame, folds = experiment.search_data()
    ctx = contextlib.nullcontext() if threads == 1 else training.torch_threads(threads)
    patch = (contextlib.nullcontext() if threads == 1
             else _patched(crf_study, "single_thread", contextlib.nullcontext))
    start = time.perf_counter()
    with ctx, patch:
        crf_study.run_config(frame, list(folds), CRF_CONFIG, "report", max_epochs=epochs,
                             patience=epochs + 1, seed=0)
    return time.perf_counter() - start


@contextlib.contextmanager
def _patched(module, name, value):
    before = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, before)


def crf_throughput(epochs: int) -> None:
    line(f"## CRF search throughput ({CRF_CONFIG}, 4 folds, {epochs} epochs each)")
    _crf_config_seconds(1, 1)  # warm-up: data, folds, first torch calls
    one = min(_crf_config_seconds(epochs, 1) for _ in range(2))
    two = min(_crf_config_seconds(epochs, 2) for _ in range(2))
    line(f"one model at a time, 1 torch thread : {one:6.1f} s/config = {60 / one:5.2f} "
         "configs/min")
    line(f"one model at a time, 2 torch threads: {two:6.1f} s/config = {60 / two:5.2f} "
         "configs/min")
    grid = {"hidden": ["32", "64"], "lr": [0.001, 0.0007], "seq_len": [20, 25]}
    n = len(search.grid_points(grid))
    objective = functools.partial(crf_study.objective, protocol="report", max_epochs=epochs,
                                  patience=epochs + 1, seed=0, val_fraction=0.2)
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            start = time.perf_counter()
            search.run_grid("bench-crf", grid, objective, profile="bench", storage=url,
                            workers=workers, progress=False)
            seconds = time.perf_counter() - start
        line(f"run_grid, WORKERS={workers} ({n} configs, incl. start-up): {seconds:6.1f} s = "
             f"{n * 60 / seconds:5.2f} configs/min")
    line()


def lstm_epoch() -> None:
    line("## LSTM: one training epoch, regression 3 x 64, seq_len 15, last fold")
    frame = data.load()
    fold = splits.make_folds(frame.index)[-1]
    windows = lstm_study.fold_windows(frame, fold, "report", 15)
    config = lstm_study.Config("regression", 15, 3, 64, 0.5, 0.003)
    with training.torch_threads(1):
        lstm_study.train_fold(windows, config, lstm_study.Settings(max_epochs=1), seed=0)
    for threads in (1, 2):
        with training.torch_threads(threads):
            seconds = []
            for _ in range(2):
                _, hist, s = lstm_study.train_fold(windows, config,
                                                   lstm_study.Settings(max_epochs=1), seed=0)
                seconds.append(s)
        line(f"{threads} thread(s): {min(seconds):.2f} s per epoch over "
             f"{len(windows['fit'])} windows")
    line()


def mc_sampling(samples: int) -> None:
    line(f"## Monte Carlo sampling, T = {samples}")
    with training.torch_threads(1):
        b = bnn.benchmark_sampling(samples=samples, rows=2500)
    line("BNN (1 x 64, 2,500 rows): " + ", ".join(f"{k} {v:.3g}" for k, v in b.items()))
    training.seed_everything(0)
    model = lstm.build("regression", 12, 64, 3, 0.5)
    x = torch.rand(2500, 15, 12)
    with training.torch_threads(1):
        t = lstm.time_mc(model, x, "regression", samples, repeats=1)
    line("LSTM (3 x 64, seq 15, 2,500 windows): "
         + ", ".join(f"{k} {v:.3g}" for k, v in t.items()))
    line()


def peak_memory() -> None:
    self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    line("## Peak memory")
    line(f"this process {self_mb:.0f} MB; largest child process {child_mb:.0f} MB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10, help="CRF epochs per fold")
    parser.add_argument("--samples", type=int, default=100, help="Monte Carlo samples T")
    args = parser.parse_args(argv)
    line(f"# occupancy-book benchmark, {time.strftime('%Y-%m-%d %H:%M')}")
    line(f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads by default, "
         f"python {platform.python_version()}, torch {torch.__version__}, "
         f"device {training.device()}")
    line()
    chapter_times()
    crf_throughput(args.epochs)
    lstm_epoch()
    mc_sampling(args.samples)
    peak_memory()
    return 0


if __name__ == "__main__":
    sys.exit(main())
