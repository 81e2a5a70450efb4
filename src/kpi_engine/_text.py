"""Text columns kept in Arrow memory, and the way between them and Arrow arrays.

Text stays in Arrow memory as pandas' "str" dtype: no Python object per value. The loader
and the id coding (``kpi_engine.keys``) both hand such columns to Arrow's compute functions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

TEXT = pd.StringDtype("pyarrow", na_value=np.nan)
ARROW_TYPES = {pa.string(): TEXT, pa.large_string(): TEXT, pa.bool_(): pd.BooleanDtype()}
"""Arrow types read straight into pandas extension types (nullable booleans stay booleans)."""


def to_arrow(values: pd.Series | pd.Index) -> pa.ChunkedArray | pa.Array:
    """The values as Arrow data, without copying when pandas already holds them so."""
    array = values.array
    if hasattr(array, "__arrow_array__"):
        return array.__arrow_array__()
    return pa.array(values.to_numpy(dtype=object), from_pandas=True)


def strings(values: pd.Series | pd.Index) -> pa.ChunkedArray:
    """The values as text: Arrow chunks of type string (no copy when they are so already)."""
    arrow = to_arrow(values.astype("str"))
    chunked = arrow if isinstance(arrow, pa.ChunkedArray) else pa.chunked_array([arrow])
    return chunked if chunked.type == pa.string() else chunked.cast(pa.string())


def to_index(array: pa.Array) -> pd.Index:
    """Arrow text as a pandas Index of the "str" dtype."""
    index: pd.Index = pd.Index(array.to_pandas(types_mapper=ARROW_TYPES.get))
    return index


def trimmed(series: pd.Series) -> pd.Series:
    """Text values, trimmed, with empty cells as missing.

    A categorical stays one: its distinct values are trimmed, and any that become equal merge.
    """
    if isinstance(series.dtype, pd.CategoricalDtype):
        categories = series.cat.categories
        merged = trimmed_codes(categories)
        if merged is None:
            return series  # nothing to trim: the usual case, and no second hashing of the ids
        mapping, values = merged
        recoded = mapping[np.asarray(series.cat.codes, dtype=np.int64)]
        return pd.Series(pd.Categorical.from_codes(recoded, categories=values), index=series.index)
    text = series.astype("str")
    if not needs_trimming(to_arrow(text)):
        return text  # the usual case: no copy of millions of values to change none of them
    text = text.str.strip()
    return text.mask(text == "")


def trimmed_codes(values: pd.Index) -> tuple[np.ndarray, pd.Index] | None:
    """Distinct ``values`` trimmed: each one's new code (-1 once emptied, then one more -1 for
    a null code to read) and the new distinct values; None when trimming changes nothing."""
    if not needs_trimming(strings(values)):
        return None
    cleaned = trimmed(pd.Series(values))
    same = pc.equal(to_arrow(cleaned), to_arrow(values))
    if pc.all(pc.fill_null(same, False)).as_py():
        return None  # a non-ASCII first or last byte that is not white space
    merged, kept = pd.factorize(cleaned)  # an emptied value becomes -1: missing
    mapping = np.append(np.asarray(merged, dtype=np.int64), -1)
    return mapping, pd.Index(kept, dtype=TEXT)


_EDGE_BYTES = np.zeros(256, dtype=bool)
_EDGE_BYTES[:0x21] = True  # space and control characters (tab, newline, ...)
_EDGE_BYTES[0x80:] = True  # any non-ASCII character: perhaps a Unicode space
"""Bytes that, first or last in a value, may mean it has white space to trim."""


def needs_trimming(values: pa.ChunkedArray | pa.Array) -> bool:
    """Whether any value may be empty or start or end with white space.

    Reads only each value's first and last byte, straight from Arrow's buffers, a chunk at a
    time: no copy of the text. It may say yes when trimming would change nothing (a value
    starting with "é"): the trim that follows then decides.
    """
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    for chunk in chunks:
        if len(chunk) == 0 or chunk.null_count == len(chunk):
            continue
        if not (pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type)):
            return True
        _, offset_buffer, data_buffer = chunk.buffers()
        width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        # a slice of a larger array shares its buffers: read only this chunk's offsets, as
        # they are (no copy: each pass over millions of values here counts)
        offsets: np.ndarray = np.frombuffer(offset_buffer, dtype=width)[
            chunk.offset : chunk.offset + len(chunk) + 1
        ]
        starts, ends = offsets[:-1], offsets[1:]
        if chunk.null_count:
            valid = chunk.is_valid().to_numpy(zero_copy_only=False)
            starts, ends = starts[valid], ends[valid]
        if np.less_equal(ends, starts).any():
            return True  # an empty value: it becomes missing
        if data_buffer is None:
            continue
        data = np.frombuffer(data_buffer, dtype=np.uint8)
        if _EDGE_BYTES[data[starts]].any() or _EDGE_BYTES[data[ends - 1]].any():
            return True
    return False
