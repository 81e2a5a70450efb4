"""Per-child date intervals: merge overlaps, intersect two sets. Vectorised, no per-row Python.

Convention throughout (the engine's "open at period end"): an interval ``[start, end)`` is open
on day P when ``start <= P`` and (``end`` is null or ``end > P``). A null end is still open.
Adjacent intervals (one ends the day the next starts) merge into one continuous spell.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

COLUMNS = ["child_id", "start_date", "end_date"]

# Stands in for a null end while sorting and comparing; turned back into null on the way out.
_OPEN = np.datetime64("2200-01-01", "ns")


def empty() -> pd.DataFrame:
    """An interval frame with no rows."""
    return pd.DataFrame(
        {
            "child_id": pd.Series([], dtype=object),
            "start_date": pd.Series([], dtype="datetime64[ns]"),
            "end_date": pd.Series([], dtype="datetime64[ns]"),
        }
    )


def _ends(frame: pd.DataFrame) -> np.ndarray:
    end = frame["end_date"].to_numpy(dtype="datetime64[ns]")
    return np.where(np.isnat(end), _OPEN, end)


def _frame(keys: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> pd.DataFrame:
    end_out = ends.astype("datetime64[ns]").copy()
    end_out[end_out >= _OPEN] = np.datetime64("NaT")
    return pd.DataFrame(
        {
            "child_id": keys.astype(object),
            "start_date": starts.astype("datetime64[ns]"),
            "end_date": end_out,
        }
    )


def merge(frame: pd.DataFrame) -> pd.DataFrame:
    """Union of each child's intervals as disjoint spells, sorted by child and start.

    Rows with no start date, or ending before they start, are ignored (the extract loader
    reports them).
    """
    starts = frame["start_date"].to_numpy(dtype="datetime64[ns]")
    ends = _ends(frame)
    keep = ~np.isnat(starts) & (ends >= starts)
    if not keep.any():
        return empty()
    keys = frame["child_id"].to_numpy(dtype=object)[keep]
    starts, ends = starts[keep], ends[keep]
    order = np.lexsort((starts, keys))
    keys, starts, ends = keys[order], starts[order], ends[order]
    codes = pd.factorize(keys)[0]
    # Running latest end within each child: a row starts a new spell when it begins after it.
    running = pd.Series(ends.view("int64")).groupby(codes).cummax().to_numpy()
    previous = np.empty_like(running)
    previous[0] = np.iinfo(np.int64).min
    previous[1:] = running[:-1]
    new_child = np.ones(len(codes), dtype=bool)
    new_child[1:] = codes[1:] != codes[:-1]
    new_spell = new_child | (starts.view("int64") > previous)
    first = np.flatnonzero(new_spell)
    spell_end = np.maximum.reduceat(ends.view("int64"), first)
    return _frame(keys[first], starts[first], spell_end.view("datetime64[ns]"))


def intersect(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """The days each child is inside both ``a`` and ``b``, as disjoint spells."""
    a, b = merge(a), merge(b)
    if a.empty or b.empty:
        return empty()
    keys = np.concatenate(
        [a["child_id"].to_numpy(object)] * 2 + [b["child_id"].to_numpy(object)] * 2
    )
    times = np.concatenate(
        [
            a["start_date"].to_numpy("datetime64[ns]"),
            _ends(a),
            b["start_date"].to_numpy("datetime64[ns]"),
            _ends(b),
        ]
    )
    steps = np.concatenate(
        [np.ones(len(a)), -np.ones(len(a)), np.ones(len(b)), -np.ones(len(b))]
    ).astype(int)
    codes = pd.factorize(keys)[0]
    # At equal times an end (-1) sorts before a start (+1): [s, t) and [t, u) do not overlap.
    order = np.lexsort((steps, times, codes))
    codes, times, steps, keys = codes[order], times[order], steps[order], keys[order]
    # Each child's steps sum to zero (open ends close at _OPEN), so one running sum serves all.
    depth = np.cumsum(steps)
    inside = depth == 2
    starts_idx = np.flatnonzero(inside[:-1])
    # Within one child the next event ends the overlap; depth 2 never spans two children.
    out_start = times[starts_idx]
    out_end = times[starts_idx + 1]
    nonempty = out_end > out_start
    return merge(_frame(keys[starts_idx][nonempty], out_start[nonempty], out_end[nonempty]))


def union(*frames: pd.DataFrame) -> pd.DataFrame:
    """Every day each child is inside any of ``frames``, as disjoint spells."""
    parts = [f[COLUMNS] for f in frames if len(f)]
    if not parts:
        return empty()
    return merge(pd.concat(parts, ignore_index=True))
