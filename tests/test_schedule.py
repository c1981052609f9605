"""Chapters side by side: a chapter starts only after the chapters whose results it reads."""

from __future__ import annotations

import re
import threading
import time

import pytest

from occupancy_utils import book, profiles, schedule

BOOK = [p.stem for p in book.notebook_paths()]


class Log:
    """Records when each item started and finished, and how many ran at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[tuple[str, str]] = []
        self.now = self.most = 0

    def __call__(self, item: str, pause: float = 0.02) -> None:
        with self.lock:
            self.events.append(("start", item))
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(pause)
        with self.lock:
            self.events.append(("end", item))
            self.now -= 1

    def index(self, kind: str, item: str) -> int:
        return self.events.index((kind, item))


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_a_chapter_starts_after_every_chapter_it_reads_and_no_more_run_than_jobs(jobs):
    log = Log()
    schedule.run_graph(BOOK, book.READS_RESULTS, log, jobs)
    assert sorted(item for kind, item in log.events if kind == "end") == sorted(BOOK)
    for chapter, reads in book.READS_RESULTS.items():
        for needed in reads:
            assert log.index("end", needed) < log.index("start", chapter), (chapter, needed)
    assert log.most <= jobs


def test_independent_chapters_really_run_at_the_same_time():
    # each waits for the other: run one after the other, the barrier times out
    barrier = threading.Barrier(2, timeout=10)
    schedule.run_graph(["a", "b"], {}, lambda item: barrier.wait(), jobs=2)


def test_what_others_wait_on_starts_first():
    log = Log()
    # book order would start 01 and 02; 02, 04, 05 and 06 are what chapter 7 waits on
    schedule.run_graph(BOOK, book.READS_RESULTS, log, jobs=2)
    starts = [item for kind, item in log.events if kind == "start"]
    assert starts[:4] == ["02_feature_dropping", "04_crf", "05_bnn", "06_lstm"]
    assert starts[-1] == "07_comparison"


def test_one_job_runs_in_order_in_the_calling_thread():
    seen = []
    schedule.run_graph(["c", "a", "b"], {"c": ["b"]},
                       lambda item: seen.append((item, threading.current_thread())), jobs=1)
    assert [item for item, _ in seen] == ["a", "b", "c"]
    assert {thread for _, thread in seen} == {threading.current_thread()}


def test_after_a_failure_nothing_new_starts_and_the_running_ones_finish():
    log = Log()

    def run(item):
        if item == "a":
            raise SystemExit("[book] a failed in cell 3")
        log(item, pause=0.3)

    with pytest.raises(SystemExit, match="a failed in cell 3"):
        schedule.run_graph(["a", "b", "c", "d"], {"d": ["b"]}, run, jobs=2)
    assert log.events == [("start", "b"), ("end", "b")]  # c and d never started


def test_needs_outside_the_items_count_as_met_and_a_circle_is_refused_before_running():
    ran = []
    schedule.run_graph(["07_comparison"], book.READS_RESULTS, ran.append, jobs=2)
    assert ran == ["07_comparison"]  # --only 07_comparison reads the stored results
    with pytest.raises(ValueError, match="circle: a, b"):
        schedule.run_graph(["a", "b", "c"], {"a": ["b"], "b": ["a"]}, ran.append, jobs=2)
    assert ran == ["07_comparison"]
    with pytest.raises(ValueError, match="jobs"):
        schedule.run_graph(["a"], {}, ran.append, jobs=0)


def test_chapter_jobs_from_the_environment(monkeypatch):
    monkeypatch.setattr(schedule, "usable_cores", lambda: 4)
    monkeypatch.delenv("CHAPTER_JOBS", raising=False)
    assert schedule.chapter_jobs("quick") == 4
    assert schedule.chapter_jobs("full") == 1
    monkeypatch.setenv("CHAPTER_JOBS", "auto")
    assert schedule.chapter_jobs("quick") == 4
    monkeypatch.setenv("CHAPTER_JOBS", "3")
    assert schedule.chapter_jobs("full") == 3
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("CHAPTER_JOBS", bad)
        with pytest.raises(ValueError, match="CHAPTER_JOBS must be a positive integer"):
            schedule.chapter_jobs("quick")


def test_every_chapter_a_notebook_reads_is_declared():
    """A chapter named in a notebook's code is one whose results it reads; undeclared,
    it could start before that chapter has written them."""
    for nb in book.notebook_paths():
        code = "\n".join(book._code_cells(nb))
        named = {s for s in BOOK if s != nb.stem and re.search(rf"[\"']{s}[\"']", code)}
        assert named <= set(book.READS_RESULTS.get(nb.stem, ())), nb.stem
    assert book.READS_RESULTS["03_time_series_splits"] == ("02_feature_dropping",)


def test_execute_hands_the_reads_to_the_scheduler_and_returns_book_order(monkeypatch,
                                                                        tmp_path):
    monkeypatch.setattr(book, "BUILD", tmp_path / "_build")
    monkeypatch.setattr(profiles, "RESULTS_DIR", tmp_path / "results")
    monkeypatch.setenv("CHAPTER_JOBS", "2")
    log = Log()

    def fake(nb_path, profile, out_dir, force, record):
        log(nb_path.stem, pause=0.2)
        return out_dir / nb_path.name

    monkeypatch.setattr(book, "_execute_one", fake)
    paths = book.execute("quick")
    assert [p.stem for p in paths] == BOOK
    assert log.index("end", "02_feature_dropping") < log.index("start", "03_time_series_splits")
    assert log.most == 2
    # the build's wall time is recorded apart: under the chapters' sum (7 x 0.2 s), at
    # least the longest chain (chapter 2, then 3 or 7)
    wall = profiles.last_execution(book.BUILD_WALL, tmp_path / "results")[1]["seconds"]
    assert 0.4 <= wall < 7 * 0.2
