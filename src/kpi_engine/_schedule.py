"""Running tasks on a few threads without letting two big ones overlap.

Computing two indicators at once nearly halves a national run, but two that each work over
millions of rows at the same moment would add their working memory together. So a task runs
beside others only while the sizes of all running tasks add up to no more than
:data:`HEADROOM` times the largest task's size: the largest runs alone, the others side by
side while they add up to no more than it, never two big ones at once. The biggest tasks
start first, so the small ones fill in around them rather than leaving a big one to run
alone at the end.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

HEADROOM = 1.0
"""How far the running tasks' sizes may add up beyond the largest task's size. On a national
extract 1.5 let CIN-PLAN run beside A4 (2.9 GB at the peak); 1.15 let small tasks run beside
A4, and the 2016-17 set's warm peak moved from 1.65 to 1.98 GB with which ones did; 1.0 runs
A4 alone: 1.64 to 1.68 GB over six runs, at 2% of the time (medians 8.1 against 7.9 s)."""

T = TypeVar("T")
R = TypeVar("R")


def run_sized(
    tasks: Sequence[T], sizes: Sequence[int], work: Callable[[T], R], threads: int
) -> Iterator[R]:
    """``work(task)`` for every task, yielded in the tasks' order, on up to ``threads`` threads.

    A task starts when nothing runs or when it fits beside what runs (see the module); among
    those that fit, the biggest goes first (the earliest, between equals). A task's exception
    is raised when its turn to be yielded comes.
    """
    if threads <= 1 or len(tasks) <= 1:
        yield from map(work, tasks)
        return
    limit = HEADROOM * max(sizes)
    pending = sorted(range(len(tasks)), key=lambda i: -sizes[i])  # stable: ties keep order
    results: dict[int, tuple[bool, object]] = {}
    state: dict[str, float] = {"used": 0, "stop": False}
    changed = threading.Condition()

    def next_task() -> int | None:
        """The earliest pending task that fits now, or None to stop (call holding the lock)."""
        while True:
            if state["stop"] or not pending:
                return None
            for position, i in enumerate(pending):
                if state["used"] == 0 or state["used"] + sizes[i] <= limit:
                    del pending[position]
                    state["used"] += sizes[i]
                    return i
            changed.wait()

    def worker() -> None:
        while True:
            with changed:
                i = next_task()
            if i is None:
                return
            try:
                outcome: tuple[bool, object] = (True, work(tasks[i]))
            except BaseException as error:  # handed to the caller, in order
                outcome = (False, error)
            with changed:
                results[i] = outcome
                state["used"] -= sizes[i]
                changed.notify_all()

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(min(threads, len(tasks)))]
    for thread in pool:
        thread.start()
    try:
        for i in range(len(tasks)):
            with changed:
                changed.wait_for(lambda i=i: i in results)  # type: ignore[misc]
                ok, value = results.pop(i)
            if not ok:
                assert isinstance(value, BaseException)
                raise value
            yield value  # type: ignore[misc]
    finally:  # all yielded, failed, or the caller stopped early: start nothing more
        with changed:
            state["stop"] = True
            changed.notify_all()
        for thread in pool:
            thread.join()
