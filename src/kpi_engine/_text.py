"""Text columns kept in Arrow memory, and the way between them and Arrow arrays.

Text stays in Arrow memory as pandas' "str" dtype: no Python object per value. The loader
and the id coding (``kpi_engine.keys``) both hand such columns to Arrow's compute functions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

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
