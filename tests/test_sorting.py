"""The packed sort gives exactly numpy's stable multi-key order."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kpi_engine._sorting import order_by


@st.composite
def columns(draw: st.DrawFn) -> list[np.ndarray]:
    n = draw(st.integers(0, 40))
    count = draw(st.integers(1, 3))
    out = []
    for _ in range(count):
        # narrow ranges (packed sort), sentinel-wide ones (argsort), the full int64 range (lexsort)
        bound = draw(st.sampled_from([3, 1000, 2**40, 2**62]))
        out.append(draw(hnp.arrays(np.int64, n, elements=st.integers(-bound, bound))))
    if draw(st.booleans()) and n:  # already sorted input takes its own path
        order = np.lexsort(tuple(reversed(out)))
        out = [c[order] for c in out]
    return out


@settings(max_examples=300, deadline=None)
@given(columns())
def test_order_by_is_numpys_stable_order(cols):
    expected = np.lexsort(tuple(reversed(cols))) if len(cols[0]) else np.zeros(0, np.int64)
    assert order_by(*cols).tolist() == expected.tolist()


def test_ties_keep_row_order():
    group = np.array([2, 1, 2, 1, 2])
    day = np.array([5, 5, 5, 4, 5])
    assert order_by(group, day).tolist() == [3, 1, 0, 2, 4]
