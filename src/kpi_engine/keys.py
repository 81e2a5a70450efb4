"""People ids as integer codes shared across an extract's tables.

A national extract names the same children tens of millions of times (referrals, visits,
episodes, allocations...). Every rule that follows a child's history, joins a child to their
date of birth or counts children once has to compare those ids. Hashing the strings again in
every derivation cost more than the rules themselves, so the loader codes each id of
:data:`kpi_engine.contract.SHARED_KEYS` once: every table's column becomes a categorical over
one shared list of ids (:func:`share`), and equal ids have equal codes in every table.

The helpers here take the fast path when columns share their categories and fall back to
hashing otherwise, so frames built by hand (tests, the Python API) give the same answers.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from kpi_engine import contract
from kpi_engine._text import strings, to_index, trimmed, trimmed_codes
from kpi_engine._threads import workers


def _categories(column: pd.Series | pd.Index) -> pd.Index | None:
    dtype = column.dtype
    return dtype.categories if isinstance(dtype, pd.CategoricalDtype) else None


def shared_categories(*columns: pd.Series) -> pd.Index | None:
    """The categories every column is coded over, or None if they are not all shared."""
    first = _categories(columns[0]) if columns else None
    if first is None:
        return None
    for column in columns[1:]:
        other = _categories(column)
        if other is None or not (other is first or other.is_(first)):
            return None
    return first


def _raw_codes(column: pd.Series) -> np.ndarray:
    codes: np.ndarray = np.asarray(column.cat.codes, dtype=np.int64)
    return codes


def concat_rows(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """``pd.concat(frames, ignore_index=True)``, with the columns every frame codes over one
    shared list joined as their codes.

    pandas hashes every value of such a list to check that the frames share it, which they
    do: 2.8 million national children, 0.9 s a join. Frames whose columns differ are left
    to pandas.
    """
    names = list(frames[0].columns) if frames else []
    same = all(list(f.columns) == names for f in frames)
    coded = [c for c in names if same and shared_categories(*(f[c] for f in frames)) is not None]
    if not coded:
        return pd.concat(frames, ignore_index=True)
    out = pd.concat([f.drop(columns=coded) for f in frames], ignore_index=True)
    for name in coded:  # in column order: each goes back to its own place
        joined = np.concatenate([_raw_codes(f[name]) for f in frames])
        dtype = frames[0][name].dtype
        assert isinstance(dtype, pd.CategoricalDtype)  # shared_categories said so
        column = pd.Categorical.from_codes(joined, dtype=dtype)
        out.insert(names.index(name), name, pd.Series(column, index=out.index, copy=False))
    return out


def codes(*columns: pd.Series) -> list[np.ndarray]:
    """Integer codes of the columns, shared across them (equal values, equal codes; null -1).

    Codes are for equality only: their order means nothing.
    """
    if not columns:
        return []
    if shared_categories(*columns) is not None:
        return [_raw_codes(c) for c in columns]
    joint = pd.factorize(pd.concat([c.reset_index(drop=True) for c in columns]))[0]
    out, at = [], 0
    for column in columns:
        out.append(np.asarray(joint[at : at + len(column)], dtype=np.int64))
        at += len(column)
    return out


def coded(column: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """One column's codes (null -1) and the values they index."""
    categories = _categories(column)
    if categories is not None:
        return _raw_codes(column), categories
    values, uniques = pd.factorize(column)
    return np.asarray(values, dtype=np.int64), pd.Index(uniques)


def positions(values: pd.Series, keys: pd.Series) -> np.ndarray:
    """For each of ``values``, the position of the equal value in ``keys`` (-1 where none).

    ``keys`` is a table's key column; where a key repeats, its first row is the one found.
    """
    if shared_categories(values, keys) is not None:
        key_codes = _raw_codes(keys)
        where = np.full(len(keys.cat.categories) + 1, -1, dtype=np.int64)
        rows = np.flatnonzero(key_codes >= 0)
        # assigning the last row first leaves each code's first row in place
        where[key_codes[rows[::-1]]] = rows[::-1]
        found: np.ndarray = where[_raw_codes(values)]  # code -1 reads the final -1
        return found
    if _is_text(values) and _is_text(keys):
        # Arrow's hash lookup: several times faster than pandas' get_indexer on Arrow text (a
        # national referral_id lookup took 4 s), and it finds a repeated key's first row
        found = pc.index_in(
            strings(values), value_set=strings(keys).combine_chunks(), skip_nulls=True
        )
        return np.asarray(pc.fill_null(found, -1).to_numpy(), dtype=np.int64)
    index = pd.Index(keys)
    if not index.is_unique:
        first = ~index.duplicated(keep="first")
        kept = np.flatnonzero(first)
        inner = pd.Index(keys[first]).get_indexer(values)
        return np.where(inner >= 0, kept[np.maximum(inner, 0)], -1)
    located: np.ndarray = index.get_indexer(values)
    return located


def _is_text(column: pd.Series) -> bool:
    dtype = column.dtype
    return not isinstance(dtype, pd.CategoricalDtype) and (
        isinstance(dtype, pd.StringDtype)
        or (pd.api.types.is_object_dtype(dtype) and pd.api.types.is_string_dtype(column))
    )


def _keyed_by(name: str) -> str | None:
    """The table whose key is the id ``name`` itself (children for child_id)."""
    for table in contract.TABLES.values():
        column = table.column(name)
        if table.key == name and column is not None and column.references is None:
            return table.name
    return None


def share(tables: MutableMapping[str, pd.DataFrame]) -> None:
    """Code each id column of ``tables`` (``contract.CODED_IDS``) over one list per id, in place.

    The loader leaves these ids as text; a column coded already (a categorical over its
    own values) is coded again only when its list is not the one the others share. Each id's
    text, in every table, is hashed once: Arrow encodes the columns (a coded column gives just
    its list) in one pass, into one dictionary, their union; each distinct id is then trimmed
    once, not every row. The table keyed by the id comes first, so when every id resolves the
    list is that table's own ids in its order, and an id that dangles (no row in ``children``)
    keeps a code of its own.
    """
    work: dict[str, list[str]] = {}
    for name in contract.CODED_IDS:
        holders = [t for t, f in tables.items() if name in f and _codable(f[name])]
        root = _keyed_by(name)
        holders.sort(key=lambda t: t != root)
        if name in contract.LINKED_IDS and len(holders) < 2:
            # nothing links to it in this load: hashing millions of distinct ids would buy
            # nothing, so the text is only trimmed (usually a check that finds nothing to do)
            for table in holders:
                tables[table][name] = trimmed(tables[table][name])
        elif holders and shared_categories(*(tables[t][name] for t in holders)) is None:
            work[name] = holders

    # Each kind of id is hashed on a thread of its own (Arrow frees the GIL): the children's
    # ids and the referrals' take about as long as each other on a national extract. The
    # columns are put in place here, on the calling thread.
    def code(name: str) -> list[pd.Categorical]:
        return _code([tables[t][name] for t in work[name]])

    threads = min(workers(), len(work))
    with ThreadPoolExecutor(max_workers=max(threads, 1)) as pool:
        coded = pool.map(code, work) if threads > 1 else map(code, work)
        for name, columns in zip(work, coded, strict=True):
            for table, column in zip(work[name], columns, strict=True):
                # a Series over the new codes: a Categorical set as it is would be copied
                frame = tables[table]
                frame[name] = pd.Series(column, index=frame.index, copy=False)


def _code(columns: list[pd.Series]) -> list[pd.Categorical]:
    """``columns`` coded over one list: the union of their ids, in order of first appearance."""
    parts = [strings(c.cat.categories if _categories(c) is not None else c) for c in columns]
    # one hashing pass, one dictionary: every chunk's indices refer to the same list
    encoded = pc.dictionary_encode(
        pa.chunked_array([k for p in parts for k in p.chunks], pa.string())
    )
    union = encoded.chunk(0).dictionary if encoded.num_chunks else pa.array([], pa.string())
    # int32, as Arrow gives them: int64 would double the largest temporary of a national load
    indices = np.asarray(pc.fill_null(_indices(encoded), -1).to_numpy(), dtype=np.int32)
    categories = to_index(union)
    merged = trimmed_codes(categories)
    if merged is not None:  # ids with white space about them, or empty: each trimmed once
        mapping, categories = merged
        indices = mapping[indices]
    dtype = distinct_dtype(categories)
    out, at = [], 0
    for column, part in zip(columns, parts, strict=True):
        codes = indices[at : at + len(part)]
        at += len(part)
        if _categories(column) is not None:  # a coded column: its list's codes, recoded
            codes = np.append(codes, -1)[_raw_codes(column)]  # code -1 reads the final -1
        out.append(pd.Categorical.from_codes(codes, dtype=dtype))
    return out


def _codable(column: pd.Series) -> bool:
    return _categories(column) is not None or _is_text(column)


def _indices(encoded: pa.ChunkedArray) -> pa.ChunkedArray:
    return pa.chunked_array([c.indices for c in encoded.chunks], pa.int32())


def distinct_dtype(categories: pd.Index) -> pd.CategoricalDtype:
    """The type over ``categories``, known distinct: pandas' own check would turn each id into
    a Python string to hash it (over a second for a national list of children)."""
    fast = getattr(pd.CategoricalDtype, "_from_fastpath", None)
    dtype = fast(categories, False) if fast is not None else None
    return dtype if isinstance(dtype, pd.CategoricalDtype) else pd.CategoricalDtype(categories)


def as_shared(tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """A copy of ``tables`` with the shared id columns coded as the loader codes them.

    For frames built by hand (tests, the Python API) that should take the loader's path.
    """
    out = {name: frame.copy(deep=False) for name, frame in tables.items()}
    for frame in out.values():
        for name in contract.SHARED_KEYS:
            if name in frame and _categories(frame[name]) is None:
                frame[name] = frame[name].astype("str")  # text, as the loader leaves ids
    share(out)
    return out
