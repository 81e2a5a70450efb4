"""Per-child date intervals: merge overlaps, intersect two sets. Vectorised, no per-row Python.

Convention throughout (the engine's "open at period end"): an interval ``[start, end)`` is open
on day P when ``start <= P`` and (``end`` is null or ``end > P``). A null end is still open.
Adjacent intervals (one ends the day the next starts) merge into one continuous spell.

Internally a spell is three integer arrays: child code, start day and end day (days since
1970). Sorting one packed int64 key (child, day) is several times faster than sorting strings
and datetimes column by column, which matters at national scale (millions of spells).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from kpi_engine import keys
from kpi_engine._sorting import order_by

COLUMNS = ["child_id", "start_date", "end_date"]

_DAY_BITS = 20
_DAY_OFFSET = 1 << (_DAY_BITS - 1)  # days before 1970 stay positive once offset
OPEN_DAY = _DAY_OFFSET - 1
"""Stands in for a null end (about the year 3400); turned back into null on the way out."""
EARLIEST_DAY = -_DAY_OFFSET
"""Stands in for a null start (never a real start: such rows are dropped)."""


@dataclass(frozen=True)
class Spells:
    """Intervals as arrays: child codes (into ``children``), start and end days."""

    child: np.ndarray
    start: np.ndarray
    end: np.ndarray
    children: pd.Index
    """The child ids the codes index (for a loaded extract, its shared list of child ids)."""

    def frame(self) -> pd.DataFrame:
        end = self.end.astype("datetime64[D]").astype("datetime64[ns]")
        end[self.end >= OPEN_DAY] = np.datetime64("NaT")
        # child ids as a categorical over the codes: no Python string per spell (millions at
        # national scale), and the engine's distinct counting reads the codes directly
        # over a type known distinct (the ids are a coding's uniques): pandas would otherwise
        # hash every id to check (2.8 million national children, 0.3 s a derived table)
        child_id = pd.Categorical.from_codes(self.child, dtype=keys.distinct_dtype(self.children))
        return pd.DataFrame(
            {
                "child_id": child_id,
                "start_date": self.start.astype("datetime64[D]").astype("datetime64[ns]"),
                "end_date": end,
            },
            copy=False,  # every column is new here
        )


def _days(column: pd.Series | np.ndarray, open_value: int) -> np.ndarray:
    days = np.asarray(column, dtype="datetime64[ns]").astype("datetime64[D]")
    out = days.view(np.int64)  # the new day array itself: a copy costs what the division does
    out[np.isnat(days)] = open_value
    return out


def start_days(column: pd.Series | np.ndarray) -> np.ndarray:
    """Dates as day numbers, a null as :data:`EARLIEST_DAY` (so it sorts first)."""
    return _days(column, EARLIEST_DAY)


def end_days(column: pd.Series | np.ndarray) -> np.ndarray:
    """End dates as day numbers, a null end as :data:`OPEN_DAY`."""
    return _days(column, OPEN_DAY)


def spells(
    child: pd.Series, start: pd.Series | np.ndarray, end: pd.Series | np.ndarray | None = None
) -> Spells:
    """Spells from columns (child ids, start dates, end dates; a null end is open)."""
    codes, uniques = keys.coded(child)
    ends = end_days(end) if end is not None else np.full(len(codes), OPEN_DAY)
    return Spells(codes, start_days(start), ends, uniques)


def from_frame(frame: pd.DataFrame) -> Spells:
    """Spells from a frame with child_id, start_date and end_date."""
    return spells(frame["child_id"], frame["start_date"], frame["end_date"])


def _recode(parts: list[Spells]) -> list[Spells]:
    """The same spells, their child codes made to index one shared id list."""
    first = parts[0].children
    if all(p.children is first or p.children.is_(first) for p in parts[1:]):
        return parts  # already coded over the same ids (a loaded extract's shared child ids)
    codes, uniques = pd.factorize(first.append([p.children for p in parts[1:]]))
    out, at = [], 0
    children = pd.Index(uniques)
    for p in parts:
        mapping = np.append(codes[at : at + len(p.children)].astype(np.int64), -1)  # null: -1
        out.append(Spells(mapping[p.child], p.start, p.end, children))
        at += len(p.children)
    return out


def pack(group: np.ndarray, day: np.ndarray) -> np.ndarray:
    """One sortable int64 per (group code, day number): sorts by group, then day."""
    # built in one new array: day + offset lies in [0, 2**_DAY_BITS), so adding it is the
    # bitwise or it stands for, and four temporaries of millions of rows become none
    key: np.ndarray = group.astype(np.int64)
    key <<= _DAY_BITS
    key += day
    key += _DAY_OFFSET
    return key


def sortable(days: np.ndarray) -> np.ndarray:
    """Day numbers in the same order, the null stand-ins moved next to the real days.

    :data:`EARLIEST_DAY` and :data:`OPEN_DAY` lie far from any real date; packed into a sort
    key they would take more bits than the dates themselves (``kpi_engine._sorting``).
    """
    real = (days > EARLIEST_DAY) & (days < OPEN_DAY)
    if real.all() or not real.any():
        return days
    inside = days[real]
    out = days.copy()
    out[days <= EARLIEST_DAY] = int(inside.min()) - 1
    out[days >= OPEN_DAY] = int(inside.max()) + 1
    return out


def merge(s: Spells) -> Spells:
    """Union of each child's intervals as disjoint spells, sorted by child and start.

    Rows with no start date, or ending before they start, are ignored (the extract loader
    reports them).
    """
    if _merged_already(s):
        return s  # a derived table read back, or a union about to be intersected
    keep = (s.start > EARLIEST_DAY) & (s.end > s.start)
    child, start, end = s.child[keep], s.start[keep], s.end[keep]
    if not len(child):
        return Spells(child, start, end, s.children)
    order = order_by(child, start)
    child, start, end = child[order], start[order], end[order]
    # Running latest end within each child: a row starts a new spell when it begins after it.
    new_child = np.ones(len(child), dtype=bool)
    new_child[1:] = child[1:] != child[:-1]
    # Packing the child into the end makes one global running maximum stay within each child.
    packed = np.maximum.accumulate(pack(child, end))
    previous = np.empty_like(packed)
    previous[0] = -1
    previous[1:] = packed[:-1]
    new_spell = new_child | (pack(child, start) > previous)
    first = np.flatnonzero(new_spell)
    spell_end = np.maximum.reduceat(end, first)
    return Spells(child[first], start[first], spell_end, s.children)


def _merged_already(s: Spells) -> bool:
    """Whether ``s`` is as :func:`merge` leaves it: sorted by child and start, each spell
    non-empty and apart from the next (a gap of a day at least). Checking costs a few passes
    over the arrays; sorting them again, several times that."""
    if not len(s.child):
        return False
    if (s.child < 0).any() or (s.start <= EARLIEST_DAY).any() or (s.end <= s.start).any():
        return False
    same = s.child[1:] == s.child[:-1]
    ordered = (s.child[1:] > s.child[:-1]) | (same & (s.start[1:] > s.end[:-1]))
    return bool(ordered.all())


def intersect(a: Spells, b: Spells) -> Spells:
    """The days each child is inside both ``a`` and ``b``, as disjoint spells.

    Once merged, each side's spells are disjoint and sorted by (child, start), so their ends
    are sorted too: for each spell of ``a`` two binary searches find the run of ``b``'s spells
    overlapping it. Memory stays proportional to the inputs and the answer, which matters
    when both sides hold millions of spells.
    """
    a, b = (merge(s) for s in _recode([a, b]))  # sorted by the codes they share
    if not len(a.child) or not len(b.child):
        return Spells(a.child[:0], a.start[:0], a.end[:0], a.children)
    # b's spells overlapping a's spell [s, e): same child, b.end > s and b.start < e
    first = np.searchsorted(pack(b.child, b.end), pack(a.child, a.start), side="right")
    last = np.searchsorted(pack(b.child, b.start), pack(a.child, a.end), side="left")
    count = np.maximum(last - first, 0)
    owner = np.repeat(np.arange(len(a.child)), count)  # the a spell behind each overlap
    runs = np.cumsum(count) - count  # where each a spell's overlaps begin in the output
    other = first[owner] + (np.arange(len(owner)) - runs[owner])
    start = np.maximum(a.start[owner], b.start[other])
    end = np.minimum(a.end[owner], b.end[other])
    return merge(Spells(a.child[owner], start, end, a.children))


def union(*parts: Spells) -> Spells:
    """Every day each child is inside any of ``parts``, as disjoint spells."""
    recoded = _recode(list(parts))
    return merge(
        Spells(
            np.concatenate([p.child for p in recoded]),
            np.concatenate([p.start for p in recoded]),
            np.concatenate([p.end for p in recoded]),
            recoded[0].children,
        )
    )
