"""Performance benchmark of the book (``make bench``): measured, never asserted.

Prints, in one run:

1. wall time per chapter, as the book runner recorded it in
   ``results/<profile>/executed.json`` for every profile that has been built;
2. what every stored search cost: fits, epochs per fit, seconds per epoch,
   wall and CPU minutes (:func:`occupancy_utils.search.cost_table`);
3. CRF search throughput: configurations (x 4 folds) per minute trained one
   at a time (the naive loop) on one torch thread and on two, against the
   search's way, a group of all 24 (layout, learning rate) configurations of
   one sequence length trained as one stacked model, and the grouped search
   with one and two worker processes sharing one Optuna storage;
4. one LSTM epoch at the report's regression structure, this CPU's matrix-
   product rate, and from the two a lower bound on the LSTM searches of the
   full profile (every fit needs at least ``patience + 1`` epochs);
5. T = 100 Monte Carlo samples drawn in a Python loop against one batched pass,
   for the BNN (weight samples) and the LSTM (dropout masks);
6. where a training epoch goes: seconds training against seconds evaluating the
   monitored part (early stopping evaluates it after every epoch), per family and,
   for the LSTM, per structure, on the last fold's clean parts;
7. start-up overheads: a worker process importing the package, loading the data
   and its folds, and opening the stored searches;
8. peak memory (resident set) of this process and of its children;
9. successive halving over the folds (chapter 6's clean structure search) replayed
   on every stored exhaustive search: how often it keeps the exhaustive choice, per
   fold, and its share of the training epochs;
10. the CRF's final models (one configuration over seeds, as chapter 4's finals,
    protocol-gap regimes and chapter 7's re-scoring train them): the seeds one at a
    time against one stack of all of them, each drawing its own batches.

Epoch counts are fixed here (no early stopping) so runs compare like for like.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from occupancy_utils import (
    bnn_study,
    book,
    crf_study,
    data,
    experiment,
    halving,
    lstm_study,
    profiles,
    rng,
    search,
    splits,
    training,
)
from occupancy_utils.models import bnn, crf, lstm
from occupancy_utils.paths import RESULTS_DIR

CRF_CONFIG = {"hidden": "32", "lr": 0.0007, "seq_len": 25}
CRF_LRS = [0.001, 0.0007, 0.0003, 0.0001]  # the report's grid
#: the validation tail's share, as the full profile gives it (the one place it is set)
VAL_FRACTION = profiles.notebook_parameters("full", "04_crf")["val_fraction"]


def line(text: str = "") -> None:
    print(text, flush=True)


def chapter_times() -> None:
    """Each chapter's wall time as the book runner recorded it (``executed.json``: every
    chapter, those without a results file too), per profile."""
    line("## Wall time per chapter (as recorded by the last build of each profile)")
    for profile_dir in sorted(p for p in RESULTS_DIR.glob("*") if p.is_dir()):
        try:
            record = json.loads((profile_dir / profiles.EXECUTED).read_text())
        except (OSError, ValueError):
            continue
        rows = sorted((name, float(entry["seconds"])) for name, entry in record.items()
                      if isinstance(entry, dict) and "seconds" in entry
                      and name != book.BUILD_WALL)
        if rows:
            total = sum(s for _, s in rows)
            wall = record.get(book.BUILD_WALL, {}).get("seconds")
            whole = (f"; the last whole build's notebooks {wall:.0f} s of wall time "
                     "(less than the sum where chapters ran side by side)" if wall else "")
            line(f"profile {profile_dir.name}: " + ", ".join(f"{n} {s:.0f} s" for n, s in rows)
                 + f"; total {total:.0f} s ({total / 60:.1f} min){whole}")
    line()


def search_costs() -> None:
    line("## Stored searches: what each cost (from the trials in results/<profile>/optuna.db)")
    for db in sorted(RESULTS_DIR.glob("*/optuna.db")):
        table = search.cost_table(f"sqlite:///{db}")
        if table.empty:
            continue
        line(f"profile {db.parent.name}: {table['wall_min'].sum():.0f} min of wall time, "
             f"{table['cpu_min'].sum():.0f} CPU-minutes in trials")
        line(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    line()


def halving_replay() -> None:
    """How often successive halving over the folds keeps the exhaustive grid's choice."""
    keep = profiles.notebook_parameters("full", "06_lstm")["structure_keep"]
    _, folds = experiment.search_data()
    rows = [len(f.train) for f in folds]
    line(f"## Successive halving over the folds (keep {keep}), replayed on the stored "
         "exhaustive searches")
    line(f"(each fold's epochs weighted by its training rows, {rows}; 'same': halving "
         "chooses the exhaustive grid's point, 'tied': or another at the same MSE)")
    for db in sorted(RESULTS_DIR.glob("*/optuna.db")):
        found = halving.replay_stored(f"sqlite:///{db}", keep, [f.number for f in folds], rows)
        if found.empty:
            continue
        line(f"profile {db.parent.name}:")
        for name, one in found.groupby("search", sort=False):
            per_fold = one[one["fold"] != "mean"]
            mean = one[one["fold"] == "mean"].iloc[0]
            marks = " ".join(f"{r.fold}:{'same' if r.same else 'tied' if r.tied else 'other'}"
                             f"({r.test_exhaustive:.3f}->{r.test_halving:.3f})"
                             for r in per_fold.itertuples())
            line(f"{name:>42} {int(one['points'].iloc[0]):>3} points, cost "
                 f"{one['cost'].iloc[0]:.0%}; per fold {marks}; mean-over-folds choice "
                 f"{'same' if mean.same else 'other'}")
    line("(in brackets: the test MSE of the exhaustive choice -> of halving's; read, never "
         "chosen on)")
    line()


def _crf_config_seconds(epochs: int, threads: int | None) -> float:
    frame, folds = experiment.search_data()
    ctx = contextlib.nullcontext() if threads == 1 else training.torch_threads(threads)
    patch = (contextlib.nullcontext() if threads == 1
             else _patched(crf_study, "single_thread", contextlib.nullcontext))
    start = time.perf_counter()
    with ctx, patch:
        crf_study.run_config(frame, list(folds), CRF_CONFIG, "report", max_epochs=epochs,
                             patience=epochs + 1, seed=0, val_fraction=VAL_FRACTION)
    return time.perf_counter() - start


@contextlib.contextmanager
def _patched(module, name, value):
    before = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, before)


def _crf_group_seconds(epochs: int, seq_len: int) -> float:
    """Seconds per configuration when the 24 configurations of one seq_len train together."""
    group = [{"hidden": h, "lr": lr} for h in crf.LAYOUTS for lr in CRF_LRS]
    start = time.perf_counter()
    crf_study.group_objective({"seq_len": seq_len}, group, protocol="report",
                              max_epochs=epochs, patience=epochs + 1, seed=0,
                              val_fraction=0.2)
    return (time.perf_counter() - start) / len(group)


def _crf_layouts_seconds(epochs: int, seq_len: int) -> float:
    """Mean seconds per configuration, one at a time, over the six layouts."""
    frame, folds = experiment.search_data()
    start = time.perf_counter()
    for hidden in crf.LAYOUTS:
        crf_study.run_config(frame, list(folds), {"hidden": hidden, "lr": 0.001,
                                                  "seq_len": seq_len},
                             "report", max_epochs=epochs, patience=epochs + 1, seed=0,
                             val_fraction=VAL_FRACTION)
    return (time.perf_counter() - start) / len(crf.LAYOUTS)


def crf_throughput(epochs: int) -> None:
    line(f"## CRF search throughput (4 folds, {epochs} epochs each, no early stop)")
    _crf_config_seconds(1, 1)  # warm-up: data, folds, first torch calls
    one = min(_crf_config_seconds(epochs, 1) for _ in range(2))
    two = min(_crf_config_seconds(epochs, 2) for _ in range(2))
    line(f"{CRF_CONFIG}, one at a time, 1 torch thread : {one:6.2f} s/config = "
         f"{60 / one:6.2f} configs/min")
    line(f"{CRF_CONFIG}, one at a time, 2 torch threads: {two:6.2f} s/config = "
         f"{60 / two:6.2f} configs/min")
    for seq_len in (10, 25):
        naive = _crf_layouts_seconds(epochs, seq_len)
        grouped = _crf_group_seconds(epochs, seq_len)
        line(f"seq_len {seq_len}: six layouts one at a time {naive:6.2f} s/config = "
             f"{60 / naive:6.2f} configs/min; 24 as one group {grouped:6.2f} s/config = "
             f"{60 / grouped:6.2f} configs/min; speed-up {naive / grouped:4.1f}x")
    grid = {"hidden": list(crf.LAYOUTS), "lr": CRF_LRS, "seq_len": [20, 25]}
    n = len(search.grid_points(grid))
    objective = functools.partial(crf_study.group_objective, protocol="report",
                                  max_epochs=epochs, patience=epochs + 1, seed=0,
                                  val_fraction=0.2)
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            start = time.perf_counter()
            search.run_grid("bench-crf", grid, objective, profile="bench", storage=url,
                            workers=workers, progress=False, batch_keys=crf_study.BATCH_KEYS)
            seconds = time.perf_counter() - start
        line(f"grouped run_grid, WORKERS={workers} ({n} configs in 2 groups, incl. start-up): "
             f"{seconds:6.1f} s = {n * 60 / seconds:6.2f} configs/min")
    line()


def crf_seeds(epochs: int, seeds: tuple[int, ...] = (0, 1, 2)) -> None:
    """Seconds to train one configuration over ``seeds`` on the last fold's clean parts,
    seed by seed against one stack (``crf_study.train_group``, a generator per seed)."""
    frame, folds = experiment.search_data()
    parts = experiment.fold_parts(frame, folds[-1], crf_study.FEATURES, "clean", 0.2)
    kwargs = dict(max_epochs=epochs, patience=epochs + 1)
    line(f"## CRF final models: {len(seeds)} seeds of one configuration, last fold, "
         f"{epochs} epochs each, no early stop")
    for hidden, seq_len in (("64-32-16", 25), ("64", 10)):
        start = time.perf_counter()
        for seed in seeds:
            crf_study.train_group(parts, [(hidden, 0.0007)], seq_len, seeds=[seed], **kwargs)
        alone = time.perf_counter() - start
        start = time.perf_counter()
        crf_study.train_group(parts, [(hidden, 0.0007)] * len(seeds), seq_len,
                              seeds=list(seeds), **kwargs)
        stacked = time.perf_counter() - start
        line(f"hidden {hidden}, seq_len {seq_len}: seed by seed {alone:6.2f} s, one stack "
             f"{stacked:6.2f} s, speed-up {alone / stacked:4.1f}x")
    line()


def matmul_gflops(size: int = 512, repeats: int = 50) -> float:
    """This CPU's single-thread float32 rate on a square matrix product: a compute ceiling."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    with training.torch_threads(1):
        for _ in range(3):
            a @ b
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        seconds = (time.perf_counter() - start) / repeats
    return 2 * size**3 / seconds / 1e9


def lstm_train_flops(seq_len: int, layers: int, hidden: int, n_features: int) -> float:
    """Floating-point operations to train on one window: forward and backward.

    Per step and layer an LSTM multiplies [input, state] by a (4 hidden) x
    (input + hidden) matrix: 2 * 4h(in + h) operations. The backward pass
    costs about twice the forward one. Gate nonlinearities and the head are
    left out, so this undercounts.
    """
    forward = sum(seq_len * 2 * 4 * hidden * ((n_features if i == 0 else hidden) + hidden)
                  for i in range(layers))
    return 3.0 * forward


def lstm_lower_bound(gflops: float) -> None:
    """Least compute the full profile's LSTM searches can take, whatever the code does.

    Every fit runs at least ``patience + 1`` epochs. Stage 2 is counted at
    the report's winning structures (the book's own winners are known only
    after stage 1). Final models and Monte Carlo sampling come on top.
    """
    params = profiles.notebook_parameters("full", "06_lstm")
    grid, tuning = params["structure_grid"], params["tuning_grid"]
    epochs = params["patience"] + 1
    frame, folds = experiment.search_data()
    n_features = len(lstm_study.FEATURES)
    windows = {(p, s): sum(len(lstm_study.fold_windows(frame, f, p, s, VAL_FRACTION)["fit"])
                           for f in folds)
               for p in params["search_protocols"] for s in grid["seq_len"]}
    stage_2 = {"regression": (15, 3, 64), "classification": (15, 4, 32)}
    total = 0.0
    for s2_len, s2_layers, s2_hidden in stage_2.values():  # one per variant
        for protocol in params["search_protocols"]:
            for point in search.grid_points(grid):
                total += epochs * windows[protocol, point["seq_len"]] * lstm_train_flops(
                    point["seq_len"], point["layers"], point["hidden"], n_features)
            total += (len(search.grid_points(tuning)) * epochs * windows[protocol, s2_len]
                      * lstm_train_flops(s2_len, s2_layers, s2_hidden, n_features))
    minutes = total / (2 * gflops * 1e9) / 60
    line(f"LSTM searches of the full profile, at least {epochs} epochs per fit: "
         f"{total / 1e12:.0f} TFLOP; at {gflops:.0f} GFLOPS on each of 2 cores, at least "
         f"{minutes:.0f} min of pure matrix products")


def lstm_epoch() -> None:
    line("## LSTM: one training epoch, regression 3 x 64, seq_len 15, last fold")
    frame = data.load()
    fold = splits.make_folds(frame.index)[-1]
    windows = lstm_study.fold_windows(frame, fold, "report", 15, val_fraction=VAL_FRACTION)
    config = lstm_study.Config("regression", 15, 3, 64, 0.5, 0.003)
    one_epoch = lstm_study.profile_settings("full", max_epochs=1)
    with training.torch_threads(1):
        lstm_study.train_fold(windows, config, one_epoch, seed=0)
    for threads in (1, 2):
        with training.torch_threads(threads):
            seconds = []
            for _ in range(2):
                _, hist, s = lstm_study.train_fold(windows, config, one_epoch, seed=0)
                seconds.append(s)
        line(f"{threads} thread(s): {min(seconds):.2f} s per epoch over "
             f"{len(windows['fit'])} windows")
    gflops = matmul_gflops()
    achieved = (len(windows["fit"]) * lstm_train_flops(15, 3, 64, len(lstm_study.FEATURES))
                / min(seconds) / 1e9)
    line(f"this CPU: {gflops:.0f} GFLOPS on a 512 x 512 product (1 thread); the epoch above "
         f"runs at {achieved:.0f} GFLOPS")
    lstm_lower_bound(gflops)
    line()


def mc_sampling(samples: int) -> None:
    line(f"## Monte Carlo sampling, T = {samples}")
    with training.torch_threads(1):
        b = bnn.benchmark_sampling(samples=samples, rows=2500)
    line("BNN (1 x 64, 2,500 rows): " + ", ".join(f"{k} {v:.3g}" for k, v in b.items()))
    with rng.seeded(0):
        model = lstm.build("regression", 12, 64, 3, 0.5)
        x = torch.rand(2500, 15, 12)
    with training.torch_threads(1):
        t = lstm.time_mc(model, x, "regression", samples, repeats=1)
    line("LSTM (3 x 64, seq 15, 2,500 windows): "
         + ", ".join(f"{k} {v:.3g}" for k, v in t.items()))
    line()


@contextlib.contextmanager
def _monitor_clock():
    """Time every call of the monitor that ``training.fit`` / ``fit_many`` make, without
    touching the training code: the two are wrapped for the duration."""
    spent = {"seconds": 0.0, "calls": 0}
    fit, fit_many = training.fit, training.fit_many

    def clocked(monitor):
        def timed(*args):
            start = time.perf_counter()
            value = monitor(*args)
            spent["seconds"] += time.perf_counter() - start
            spent["calls"] += 1
            return value
        return timed

    training.fit = lambda model, loss, n, monitor, **kw: fit(model, loss, n, clocked(monitor), **kw)
    training.fit_many = lambda models, losses, n, monitor, **kw: fit_many(
        models, losses, n, clocked(monitor), **kw)
    try:
        yield spent
    finally:
        training.fit, training.fit_many = fit, fit_many


def _share_line(name: str, run) -> None:
    with training.torch_threads(1), _monitor_clock() as spent:
        start = time.perf_counter()
        run()
        total = time.perf_counter() - start
    epochs = max(spent["calls"], 1)
    line(f"{name:<44} {total / epochs:7.3f} s/epoch, monitor {spent['seconds'] / epochs:6.3f} "
         f"s/epoch = {spent['seconds'] / total:5.1%} of the fit")


def epoch_shares(epochs: int) -> None:
    line(f"## Where an epoch goes: training against evaluating the monitored part "
         f"({epochs} epochs, no early stop, 1 thread, last fold, clean parts)")
    frame = data.load()
    fold = splits.make_folds(frame.index)[-1]
    parts = experiment.fold_parts(frame, fold, crf_study.FEATURES, "clean", 0.2)
    _share_line("CRF 32, seq_len 25", lambda: crf_study.train_fold(
        parts, "32", 0.0007, 25, max_epochs=epochs, patience=epochs + 1, seed=0))
    settings = bnn_study.profile_settings("full", max_epochs=epochs, patience=epochs + 1)
    _share_line("BNN 1 x 64, 20 monitor samples", lambda: bnn_study.train_fold(
        frame, fold, "clean", {"lr": 0.01, "hidden": 64, "hidden_layers": 1}, settings, 0))
    for seq_len, layers, hidden in ((5, 1, 16), (10, 2, 32), (15, 3, 64), (20, 4, 64)):
        windows = lstm_study.fold_windows(frame, fold, "clean", seq_len, val_fraction=VAL_FRACTION)
        config = lstm_study.Config("regression", seq_len, layers, hidden, 0.2, 0.001)
        lstm_settings = lstm_study.profile_settings("full", max_epochs=epochs, patience=epochs + 1)
        _share_line(f"LSTM {layers} x {hidden}, seq_len {seq_len}",
                    functools.partial(lstm_study.train_fold, windows, config, lstm_settings, 0))
    line()


def _seconds_in_fresh_process(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - start


def startup_overheads() -> None:
    line("## Start-up overheads (fresh processes; the median of three)")
    steps = {
        "python alone": "pass",
        "import the package and torch (a search worker)":
            "import torch, occupancy_utils.search, occupancy_utils.lstm_study",
        "... and load the data and its folds": "import torch, occupancy_utils.search; "
            "from occupancy_utils import experiment; experiment.search_data()",
    }
    for db in sorted(RESULTS_DIR.glob("*/optuna.db")):
        steps[f"... and list the stored searches of {db.parent.name}"] = (
            "import optuna, occupancy_utils.search; optuna.get_all_study_summaries("
            f"storage='sqlite:///{db}', include_best_trial=False)")
    for name, code in steps.items():
        seconds = sorted(_seconds_in_fresh_process(code) for _ in range(3))[1]
        line(f"{name:<60} {seconds:6.2f} s")
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
    parser.add_argument("--share-epochs", type=int, default=5,
                        help="epochs per fit when splitting an epoch's time")
    args = parser.parse_args(argv)
    line(f"# occupancy-book benchmark, {time.strftime('%Y-%m-%d %H:%M')}")
    line(f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads by default, "
         f"python {platform.python_version()}, torch {torch.__version__}, "
         f"device {training.device()}")
    line()
    chapter_times()
    search_costs()
    halving_replay()
    crf_throughput(args.epochs)
    crf_seeds(args.epochs)
    lstm_epoch()
    mc_sampling(args.samples)
    epoch_shares(args.share_epochs)
    startup_overheads()
    peak_memory()
    return 0


if __name__ == "__main__":
    sys.exit(main())
