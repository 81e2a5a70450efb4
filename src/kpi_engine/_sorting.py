"""Sorting rows by integer columns, fast: the one sort every per-child rule starts with.

``np.lexsort`` sorts column by column and a stable ``argsort`` moves 16-byte pairs; on tens of
millions of rows either costs seconds. When the columns' value ranges and the row number fit
together in one int64, a plain ``np.sort`` of that packed number gives the same stable order
about four times faster (numpy sorts plain integers with SIMD). Rows that arrive already in
order, as many extracts do, are recognised in one pass and not sorted at all.
"""

from __future__ import annotations

import numpy as np

_BITS = 63  # int64 without its sign bit


def order_by(*columns: np.ndarray) -> np.ndarray:
    """Row positions that sort by ``columns`` (the first most significant); ties keep row order.

    The same order as ``np.lexsort(columns[::-1])``, for integer columns of equal length.
    """
    n = len(columns[0]) if columns else 0
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    key: np.ndarray | None = None
    bits = 0
    for column in reversed(columns):
        low, high = int(column.min()), int(column.max())
        width = (high - low).bit_length()
        if bits + width > _BITS:
            return np.lexsort(tuple(np.asarray(c, dtype=np.int64) for c in reversed(columns)))
        # one temporary per column, shifted and merged in place: these arrays are big
        part = np.subtract(column, low, dtype=np.int64)
        if key is None:
            key = part
        elif width:
            part <<= bits
            key |= part
        del part
        bits += width
    assert key is not None
    if bool((key[1:] >= key[:-1]).all()):
        return np.arange(n, dtype=np.int64)  # already in order: the usual case for an export
    row_bits = (n - 1).bit_length()
    if bits + row_bits > _BITS:
        order: np.ndarray = np.argsort(key, kind="stable")
        return order
    # the row number in the low bits keeps ties in row order and comes back out after the sort
    key <<= row_bits
    key |= np.arange(n, dtype=np.int64)
    key.sort()
    key &= (1 << row_bits) - 1
    return key
