"""Picklable objectives for the search tests (worker processes import this module)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path


def logged_objective(params: dict, log: str) -> dict:
    """Record each call in a file (one line per run), then return a score."""
    with open(log, "a") as f:
        f.write(json.dumps(params, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())
    time.sleep(0.25)
    return {"mse": float(params["a"] * 10 + params["b"]), "pid": os.getpid()}


def failing_once_objective(params: dict, log: str, flag: str) -> dict:
    """Fails on its first call with b == 2 (an interrupted run), fine afterwards."""
    if params["b"] == 2 and not Path(flag).exists():
        Path(flag).write_text("failed once")
        raise KeyboardInterrupt
    return logged_objective(params, log)


def logged_group_objective(params: dict, group: list, log: str) -> list:
    """A grouped objective: one call per group, one record per point of the group."""
    with open(log, "a") as f:
        f.write(json.dumps(params, sort_keys=True) + "\n")
    return [{"mse": float(params["a"] * 10 + point["b"]), "pid": os.getpid()}
            for point in group]


def slow_objective(params: dict, log: str, seconds: float) -> dict:
    """Log the start of each call, then take ``seconds`` (long enough to overlap a rival)."""
    with open(log, "a") as f:
        f.write(json.dumps(params, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())
    time.sleep(seconds)
    return {"mse": float(params["a"] * 10 + params["b"]), "pid": os.getpid()}


def hanging_once_objective(params: dict, log: str, flag: str) -> dict:
    """Hangs on its first call with a == 0 and b == 1 (a worker about to be killed)."""
    if params == {"a": 0, "b": 1} and not Path(flag).exists():
        Path(flag).write_text("hanging")
        with open(log, "a") as f:
            f.write(json.dumps(params, sort_keys=True) + "\n")
        time.sleep(600)
    return slow_objective(params, log, 0.05)


def nan_objective(params: dict, log: str) -> dict:
    """A configuration whose score is not a number (a diverged training)."""
    logged_objective(params, log)
    return {"mse": float("nan")}
