"""Which chapters run when: side by side wherever none reads another's results.

A chapter only needs the chapters whose results files it reads
(``book.READS_RESULTS``: chapter 3 reads chapter 2's predictions, chapter 7 those of
chapters 2 and 4-6). The others need nothing from each other, so in the quick
profile, whose searches take one worker process and leave the second core idle,
two chapters run at once: :func:`run_graph` starts every chapter as soon as the
chapters it reads have finished, at most ``CHAPTER_JOBS`` at a time. Each chapter
keeps its own kernel, seeds and torch threads, so its numbers do not depend on what
runs beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from .search import positive_int_env, usable_cores


def chapter_jobs(profile: str) -> int:
    """How many chapters run at once: ``CHAPTER_JOBS`` from the environment.

    Unset or ``auto``: one per usable core in the quick profile, whose searches use
    one worker process each (``search.default_workers``), and one in the full
    profile, whose searches already put a worker on every core.
    """
    jobs = positive_int_env("CHAPTER_JOBS")
    if jobs is None:
        return usable_cores() if profile == "quick" else 1
    return jobs


def run_graph(items: Sequence[str], needs: Mapping[str, Iterable[str]],
              run: Callable[[str], object], jobs: int) -> None:
    """Run ``run(item)`` for every item once the items it needs have finished.

    At most ``jobs`` run at once. Among the items ready to start, those that more
    items wait on (directly or through others) start first, then the earlier in
    ``items``: the chapters chapter 7 reads start before chapters 1 and 3, which
    then run beside chapter 7 instead of delaying it. Needs outside ``items`` count
    as met (``--only`` runs a chapter on the results stored by an earlier build).
    After the first failure nothing new starts; the items already running finish
    (what they store is kept), then the failure is raised. With one job the items
    run in this thread, in book order.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
    wanted = set(items)
    deps = {item: set(needs.get(item, ())) & wanted for item in items}
    order = _topological(items, deps)  # a circle fails here, before anything runs
    if jobs == 1:
        for item in order:
            run(item)
        return
    waiting = {item: sum(item in _upstream(other, deps) for other in items) for item in items}
    pending, done = sorted(items, key=lambda i: -waiting[i]), set()  # stable: ties keep order
    running: dict[Future, str] = {}
    failure: BaseException | None = None
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        while pending or running:
            if failure is None:
                for item in [i for i in pending if deps[i] <= done][:jobs - len(running)]:
                    pending.remove(item)
                    running[pool.submit(run, item)] = item
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                item = running.pop(future)
                error = future.exception()
                if error is None:
                    done.add(item)
                elif failure is None:
                    failure = error
    if failure is not None:
        raise failure


def _topological(items: Sequence[str], deps: Mapping[str, set[str]]) -> list[str]:
    """``items`` in an order where every item comes after those it needs (stable)."""
    order: list[str] = []
    left = list(items)
    while left:
        ready = [i for i in left if deps[i] <= set(order)]
        if not ready:
            raise ValueError(f"these items need each other in a circle: {', '.join(left)}")
        order.append(ready[0])
        left.remove(ready[0])
    return order


def _upstream(item: str, deps: Mapping[str, set[str]]) -> set[str]:
    """Every item ``item`` waits on, directly or through others."""
    seen: set[str] = set()
    todo = list(deps[item])
    while todo:
        other = todo.pop()
        if other not in seen:
            seen.add(other)
            todo.extend(deps[other])
    return seen
