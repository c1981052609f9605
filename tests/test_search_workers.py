"""Workers on one storage do not fail each other, and a dead worker's trial is run again.

Each test runs on SQLite (one machine) and on a real PostgreSQL server (what
``OPTUNA_STORAGE=postgresql://...`` promises for workers on several machines):
the fixture starts its own cluster in a temporary directory on a free local
port and stops it at the end. ``make setup`` installs Debian's ``postgresql``.
"""

from __future__ import annotations

import functools
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))
from search_objectives import hanging_once_objective, slow_objective  # noqa: E402

from occupancy_utils import search  # noqa: E402

pytestmark = pytest.mark.slow
GRID = {"a": [0, 1], "b": [1, 2]}
FAST_HEARTBEAT = (1, 4)  # seconds: beat every second, dead after four silent ones


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.fail("no PostgreSQL server for the distributed-search test: `make setup` "
                    "installs Debian's postgresql as root (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="occupancy-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", _free_port()
    try:
        subprocess.run([*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "postgres",
                        "--no-sync"], check=True, capture_output=True)
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-l", str(root / "log"), "-w",
                        "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 "
                        "-c fsync=off", "start"], check=True, capture_output=True)
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    return request.getfixturevalue("postgres_url")


def _calls(log: Path) -> Counter:
    return Counter(log.read_text().splitlines()) if log.exists() else Counter()


def _worker(name: str, storage: str, objective: str, kwargs: dict) -> subprocess.Popen:
    """Another process running the same search (as `make book` beside JupyterLab would)."""
    code = (f"import sys, functools; sys.path.insert(0, {str(TESTS)!r})\n"
            f"import search_objectives as o\nfrom occupancy_utils import search\n"
            f"search.run_grid({name!r}, {GRID!r}, functools.partial(o.{objective}, **{kwargs!r}),"
            f" profile='test', storage={storage!r}, progress=False,"
            f" heartbeat={FAST_HEARTBEAT!r})\n")
    return subprocess.Popen([sys.executable, "-c", code])


def _wait_for(predicate, seconds: float = 60.0) -> None:
    deadline = time.time() + seconds
    while not predicate():
        assert time.time() < deadline, "timed out"
        time.sleep(0.1)


def test_a_live_worker_s_trial_is_waited_for_not_failed(storage, tmp_path):
    log = tmp_path / "calls.log"
    kwargs = {"log": str(log), "seconds": 6.0}  # longer than the grace period: beats needed
    name = f"live-{tmp_path.name}"
    other = _worker(name, storage, "slow_objective", kwargs)
    try:
        _wait_for(lambda: sum(_calls(log).values()) >= 1)  # the other process is training
        frame = search.run_grid(name, GRID, functools.partial(slow_objective, **kwargs),
                                profile="test", storage=storage, progress=False,
                                heartbeat=FAST_HEARTBEAT)
        assert other.wait(timeout=60) == 0
    finally:
        other.kill()
    assert len(frame) == 4
    counts = _calls(log)
    assert len(counts) == 4 and set(counts.values()) == {1}, counts  # each point once
    assert frame["pid"].nunique() == 2  # both processes trained
    study = optuna.load_study(study_name=frame.attrs["study_name"], storage=storage)
    assert Counter(t.state.name for t in study.get_trials()) == {"COMPLETE": 4}


def test_a_killed_worker_s_trial_is_run_again_after_the_grace_period(storage, tmp_path):
    log, flag = tmp_path / "calls.log", tmp_path / "flag"
    kwargs = {"log": str(log), "flag": str(flag)}
    name = f"killed-{tmp_path.name}"
    doomed = _worker(name, storage, "hanging_once_objective", kwargs)
    try:
        _wait_for(flag.exists)  # it is inside the trial of point (0, 1)
        time.sleep(FAST_HEARTBEAT[0] * 2)  # and its heartbeat has been recorded
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=10)
    finally:
        doomed.kill()
    start = time.time()
    frame = search.run_grid(name, GRID, functools.partial(hanging_once_objective, **kwargs),
                            profile="test", storage=storage, progress=False,
                            heartbeat=FAST_HEARTBEAT)
    assert len(frame) == 4
    counts = _calls(log)
    assert counts[json.dumps({"a": 0, "b": 1})] == 2  # killed once, then run again
    assert all(n == 1 for point, n in counts.items() if point != json.dumps({"a": 0, "b": 1}))
    assert time.time() - start < 60
    study = optuna.load_study(study_name=frame.attrs["study_name"], storage=storage)
    assert Counter(t.state.name for t in study.get_trials()) == {"COMPLETE": 4, "FAIL": 1}


def test_two_worker_processes_on_postgresql_train_each_point_once(postgres_url, tmp_path):
    log = tmp_path / "calls.log"
    grid = {"a": list(range(4)), "b": [1, 2, 3]}
    frame = search.run_grid(f"pg-{tmp_path.name}", grid,
                            functools.partial(slow_objective, log=str(log), seconds=0.2),
                            profile="test", storage=postgres_url, workers=2, progress=False)
    counts = _calls(log)
    assert len(frame) == 12 and len(counts) == 12 and set(counts.values()) == {1}
    assert frame["pid"].nunique() == 2
