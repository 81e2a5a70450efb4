"""Arrow's allocator for a ``kpi`` run.

Arrow's default (mimalloc) keeps the memory a table freed for reuse: after loading a national
extract the process held 2.4 GB for 1.1 GB of tables, and every later peak sat on top of
that. jemalloc returns freed memory to the system within a second, which lowered the peak of
the national benchmark from about 3.5 GB to about 3 GB at no cost in time
(docs/performance.md). Only the command line sets it, once, before any table is read; a
program using the library keeps its own choice, and ``ARROW_DEFAULT_MEMORY_POOL`` overrides.
"""

from __future__ import annotations

import contextlib
import os

import pyarrow as pa


def use_returning_allocator() -> None:
    """Make jemalloc Arrow's allocator, unless the user chose one or this build lacks it."""
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return
    # a pyarrow built without jemalloc (on Windows, say) keeps its default
    with contextlib.suppress(NotImplementedError):
        pa.set_memory_pool(pa.jemalloc_memory_pool())
