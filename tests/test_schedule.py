"""The indicator scheduler: results in order, never two big tasks at once."""

from __future__ import annotations

import threading
import time

import pytest

from kpi_engine._schedule import HEADROOM, run_sized


def test_results_come_in_task_order_and_big_tasks_never_overlap():
    sizes = [10, 1, 1, 10, 1, 9, 1]
    running: list[int] = []
    seen_together: list[int] = []
    lock = threading.Lock()

    def work(i: int) -> int:
        with lock:
            running.append(i)
            seen_together.append(sum(sizes[j] for j in running))
        time.sleep(0.01 * sizes[i])
        with lock:
            running.remove(i)
        return i * i

    out = list(run_sized(list(range(len(sizes))), sizes, work, threads=3))
    assert out == [i * i for i in range(len(sizes))]
    assert max(seen_together) <= HEADROOM * max(sizes)  # 10 + 9 never ran together
    assert len(set(seen_together)) > 1  # small tasks did run beside a big one (the 9)


def test_a_failing_task_raises_at_its_turn():
    def work(i: int) -> int:
        if i == 2:
            raise ValueError("task 2")
        return i

    results = run_sized([0, 1, 2, 3], [1, 1, 1, 1], work, threads=2)
    assert [next(results), next(results)] == [0, 1]
    with pytest.raises(ValueError, match="task 2"):
        next(results)


def test_one_thread_runs_in_the_calling_thread():
    threads = list(run_sized([1, 2], [5, 5], lambda _: threading.current_thread(), threads=1))
    assert threads == [threading.main_thread()] * 2
