"""How many threads loading and computing use.

Arrow, numpy and pandas' heavy loops release the GIL, so threads give real parallelism on the
big columns: one thread per core, at most four (each thread holds a table's or an
indicator's working set, so more would cost memory for little time). ``KPI_THREADS`` sets it
(1 runs everything in the calling thread, for the lowest peak memory).
"""

from __future__ import annotations

import os

MAX_THREADS = 4


def workers() -> int:
    """The number of worker threads to use (at least 1)."""
    setting = os.environ.get("KPI_THREADS", "").strip()
    if setting.isdigit() and int(setting) > 0:
        return int(setting)
    try:
        cores = len(os.sched_getaffinity(0))  # the cores this process may run on
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(MAX_THREADS, cores))
