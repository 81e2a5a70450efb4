"""The engine: compute and rate every indicator of a definition set, for many periods in one pass.

How one pass serves every period: each row of a table belongs to a *range* of reporting months,
not to one. A referral dated March 2015 counts in a rolling-12-month window for every month end
from March 2015 to February 2016; a plan open from June 2013 to August 2015 is "open at period
end" for every month end from June 2013 to July 2015. The engine turns each row into such an
integer range [lo, hi] of month indices, narrows it with the filter's ``period_end`` bounds
(``period_end >= add_days(start_date, 729)`` moves ``lo``), then counts every month at once with
a difference array: +1 at lo, −1 after hi, cumulative sum. Distinct counts first merge each
key's overlapping ranges. The cost is O(rows + months), whatever the number of periods.

The same ranges say which months each table covers (kpi_engine.coverage: one min and max per
count), so a period the extract cannot answer for is NO DATA with the reason, never a zero; a
``sum`` is tallied a second time over its rows that give no number, and a figure with any is
NO DATA too. Both are per period and group, never per row.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kpi_engine import contract, coverage, derivations, derived, keys, partial_tables
from kpi_engine._schedule import run_sized
from kpi_engine._sorting import order_by
from kpi_engine._threads import workers
from kpi_engine.definitions import (
    DEFAULT_MIN_COUNT,
    Count,
    Definition,
    DefinitionSet,
    Status,
    Unit,
    Window,
    WindowType,
)
from kpi_engine.evaluate import Value, as_mask, evaluate, evaluate_mask
from kpi_engine.expressions import (
    COMPARISON_OPS,
    PERIOD_NAMES,
    Binary,
    Logical,
    Name,
    Node,
    mentions_period,
    parse,
)
from kpi_engine.periods import (
    Period,
    financial_year_end,
    is_month_end,
    months_of,
    periods_for,
)
from kpi_engine.rating import RatingStatus, rate_values, round_reported, threshold_columns

if TYPE_CHECKING:
    from kpi_engine.prepared import DerivedStore

OUTPUT_COLUMNS = [
    "indicator_id",
    "indicator_name",
    "group",
    "contract",
    "breakdown",
    "period",
    "period_start",
    "period_end",
    "numerator",
    "denominator",
    "value",
    "unit",
    "polarity",
    "target",
    "tolerance",
    "status",
    "rag",
    "definition_set",
    "definition_hash",
    "note",
    "low_count",
    "variation",
    "assurance",
]
"""The column contract of ``kpi compute`` output (CSV, JSON, Parquet); ``note`` says why a
figure is NO DATA, or its small-number caveat; ``low_count`` flags a figure from fewer cases
than the definition's threshold; ``variation`` and ``assurance`` are the SPC icons
(kpi_engine.report.assess fills them when the months before are computed too; empty here).
Documented in docs/output.md: the cron job and BI tools rely on it."""

_FAR_FUTURE = 10**7  # a month index beyond any period: "still open"

Tables = Mapping[str, pd.DataFrame]
Progress = Callable[[Definition], None]


class NoData(Exception):
    """An indicator that cannot be computed, with the reason shown in the scorecard."""


# --- rows and their month ranges ----------------------------------------------------------------


class _Rows:
    """The rows of one numerator or denominator, each with the months [lo, hi] it counts in.

    They are ``source``'s rows at positions ``at`` (every row when None). Choosing millions of
    rows copies none of them: :attr:`frame` gathers them when a column of theirs is first read,
    and a condition on most of a table's rows is evaluated on the table and then picked
    (:meth:`values`), which costs no more than on the rows and spares the copy.
    """

    def __init__(
        self, source: pd.DataFrame, lo: np.ndarray, hi: np.ndarray, at: np.ndarray | None = None
    ) -> None:
        self.source = source
        self.lo = lo
        self.hi = hi
        self.at = at
        self._frame: pd.DataFrame | None = source if at is None else None

    def __len__(self) -> int:
        return len(self.lo)

    @property
    def frame(self) -> pd.DataFrame:
        if self._frame is None:
            assert self.at is not None
            self._frame = self.source.take(self.at)
        return self._frame

    def take(self, mask: np.ndarray) -> _Rows:
        if mask.all():  # every row: nothing to copy
            return self
        at = np.flatnonzero(mask) if self.at is None else self.at[mask]
        taken = _Rows(self.source, self.lo[mask], self.hi[mask], at)
        if self._frame is not None and self.at is not None:
            taken._frame = self._frame[mask]  # gathered already: narrowed, not gathered again
        return taken

    def with_ranges(self, lo: np.ndarray, hi: np.ndarray) -> _Rows:
        """The same rows counted in other months."""
        out = _Rows(self.source, lo, hi, self.at)
        out._frame = self._frame
        return out

    def _on_source(self) -> bool:
        """Whether to evaluate on the source table: the rows are most of it, not gathered."""
        return self._frame is None and self.at is not None and 2 * len(self.at) >= len(self.source)

    def values(self, node: Node) -> Value:
        """``node`` evaluated for each row."""
        if not self._on_source():
            return evaluate(node, self.frame)
        whole = evaluate(node, self.source)
        assert self.at is not None
        return whole.iloc[self.at] if isinstance(whole, pd.Series) else whole

    def mask(self, node: Node) -> np.ndarray:
        """Which rows meet the condition ``node`` (null: no)."""
        if not self._on_source():
            return evaluate_mask_node(node, self.frame)
        assert self.at is not None
        picked: np.ndarray = evaluate_mask_node(node, self.source)[self.at]
        return picked


def _conjuncts(node: Node) -> list[Node]:
    if isinstance(node, Logical) and node.op == "and":
        return [c for o in node.operands for c in _conjuncts(o)]
    return [node]


def _split_filter(text: str | None) -> tuple[list[Node], list[Binary]]:
    """A filter's row conditions, and its ``period_end`` comparisons (validated: top-level and)."""
    if text is None:
        return [], []
    rows: list[Node] = []
    bounds: list[Binary] = []
    for c in _conjuncts(parse(text)):
        if mentions_period(c):
            assert isinstance(c, Binary) and c.op in COMPARISON_OPS
            bounds.append(c)
        else:
            rows.append(c)
    return rows, bounds


def _apply_bounds(rows: _Rows, bounds: list[Binary]) -> _Rows:
    """Narrow each row's month range by ``period_end OP date`` conditions."""
    if not bounds:
        return rows
    lo, hi = rows.lo.copy(), rows.hi.copy()
    valid = np.ones(len(lo), dtype=bool)
    for b in bounds:
        period_left = isinstance(b.left, Name) and b.left.name in PERIOD_NAMES
        other = b.right if period_left else b.left
        op = b.op if period_left else {"<": ">", "<=": ">=", ">": "<", ">=": "<="}[b.op]
        dates = rows.values(other)
        if not isinstance(dates, pd.Series):
            dates = pd.Series([dates] * len(rows))
        days = np.asarray(pd.to_datetime(dates), dtype="datetime64[ns]").astype("datetime64[D]")
        m, present = months_of(days)
        valid &= present
        at_end = is_month_end(days)
        # period end P_m is the last day of month m: P_m >= X ⟺ m >= month(X), and so on
        if op == ">=":
            lo = np.maximum(lo, m)
        elif op == ">":
            lo = np.maximum(lo, m + at_end)
        elif op == "<=":
            hi = np.minimum(hi, m - 1 + at_end)
        else:  # "<"
            hi = np.minimum(hi, m - 1)
    keep = valid & (lo <= hi)
    return rows.with_ranges(lo, hi).take(keep)


def _window_ranges(
    frame: pd.DataFrame, spec: Count, window: Window, definition: Definition
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's [lo, hi] month range under ``window``, and which rows have one at all."""
    lag = window.lag_months
    if window.type is WindowType.open_at_end:
        assert spec.start is not None and spec.end is not None
        lo, ok = months_of(frame[spec.start])
        end, ended = months_of(frame[spec.end])
        # open at the end of month m ⟺ start <= P_m and (no end, or end > P_m) ⟺ m < month(end)
        hi = np.where(ended, end - 1, _FAR_FUTURE)
        return lo + lag, hi + lag, ok
    if window.type is WindowType.latest_year:
        assert spec.year is not None
        years = pd.to_numeric(frame[spec.year], errors="coerce").to_numpy(dtype=float)
        ok = ~np.isnan(years)
        distinct = np.unique(years[ok])
        following = np.searchsorted(distinct, years, side="right")
        next_year = np.where(
            following < len(distinct), distinct[np.minimum(following, len(distinct) - 1)], np.inf
        )
        lo = np.nan_to_num(years * 12).astype(np.int64)
        hi = np.where(np.isinf(next_year), _FAR_FUTURE, next_year * 12 - 1)
        return lo + lag, np.nan_to_num(hi).astype(np.int64) + lag, ok
    assert spec.date is not None
    dates = evaluate(parse(spec.date), frame)
    if not isinstance(dates, pd.Series):  # a constant date: every row has it
        dates = pd.Series([dates] * len(frame), index=frame.index)
    e, ok = months_of(pd.to_datetime(dates))
    if window.type is WindowType.in_period:
        return e + lag, e + lag + definition.frequency.months - 1, ok
    if window.type is WindowType.rolling:
        assert window.months is not None
        return e + lag, e + lag + window.months - 1, ok
    # financial year to date: counts from its month to the March closing its financial year
    return e + lag, financial_year_end(e) + lag, ok


def _select(
    frame: pd.DataFrame,
    spec: Count,
    window: Window,
    definition: Definition,
    m0: int,
    m1: int,
    columns: set[str] | None = None,
) -> tuple[_Rows, coverage.Span]:
    """The rows of ``frame`` that ``spec`` counts in some month of [m0, m1], with their ranges,
    and the months the whole table covers by the same dates (kpi_engine.coverage).

    Only ``columns`` (all when None) are kept: copying the selected rows of columns nobody
    reads afterwards is most of the cost on a table of millions of rows.
    """
    row_conditions, bounds = _split_filter(spec.filter)
    mask = np.ones(len(frame), dtype=bool)
    for c in row_conditions:
        mask &= evaluate_mask_node(c, frame)
    lo, hi, ok = _window_ranges(frame, spec, window, definition)
    span = _span(str(spec.table), window, lo, hi, ok)
    mask &= ok & (hi >= m0) & (lo <= m1)
    kept = frame if columns is None else frame[[c for c in frame.columns if c in columns]]
    rows = _Rows(kept, lo, hi).take(mask)
    return _apply_bounds(rows, bounds), span


def _span(
    table: str, window: Window, lo: np.ndarray, hi: np.ndarray, ok: np.ndarray
) -> coverage.Span:
    """The months of a table's records, from the ranges every row already has (no lag)."""
    lag = window.lag_months
    span = coverage.span_of(table, lo - lag, ok)
    if window.type is WindowType.open_at_end and span.last is not None:
        ended = ok & (hi < _FAR_FUTURE)  # a record that ended covers its end month too
        if ended.any():
            last_end = int(hi[ended].max()) - lag + 1
            span = coverage.Span(table, span.first, max(span.last, last_end))
    return span


def evaluate_mask_node(node: Node, frame: pd.DataFrame) -> np.ndarray:
    return as_mask(evaluate(node, frame), len(frame))


# --- counting -----------------------------------------------------------------------------------


def _merge_ranges(
    keys: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Union each key's ranges so a key counts once per month (distinct counting).

    ``keys`` are non-negative integer codes; returns the merged ranges with their key codes.
    """
    if len(lo) == 0:
        return keys, lo, hi
    order = order_by(keys, lo)
    keys, lo, hi = keys[order], lo[order], hi[order]
    # A running maximum of hi that restarts for each key: offset every key far above the last.
    big = np.int64(_FAR_FUTURE + 2)
    offset = keys.astype(np.int64) * big
    running = np.maximum.accumulate(offset + hi)
    previous = np.concatenate([[np.int64(-1)], running[:-1]])
    starts = (offset + lo) > previous
    first = np.flatnonzero(starts)
    last = np.concatenate([first[1:], [len(lo)]]) - 1
    return keys[first], lo[first], running[last] - offset[first]


def _tally(
    lo: np.ndarray,
    hi: np.ndarray,
    m0: int,
    months: int,
    weights: np.ndarray | None = None,
    groups: np.ndarray | None = None,
    n_groups: int = 1,
) -> np.ndarray:
    """Counts (or weighted sums) per group and month m0 .. m0+months-1: (groups, months)."""
    width = months + 1
    # in place: np.clip on millions of rows took several times as long
    a = lo - m0
    np.maximum(a, 0, out=a)
    np.minimum(a, months, out=a)
    b = hi - (m0 - 1)
    np.maximum(b, 0, out=b)
    np.minimum(b, months, out=b)
    w = None if weights is None else np.nan_to_num(weights.astype(float))
    size = n_groups * width
    if groups is not None:  # each group's months laid end to end
        offset = groups.astype(np.int64) * width
        a += offset
        b += offset
    diff = np.bincount(a, weights=w, minlength=size) - np.bincount(b, weights=w, minlength=size)
    return np.cumsum(diff.reshape(n_groups, width), axis=1)[:, :months]


def _measure(
    rows: _Rows,
    spec: Count,
    counting: Count,
    m0: int,
    months: int,
    groups: np.ndarray | None,
    n_groups: int,
) -> np.ndarray:
    """Tally ``rows`` as ``spec`` says (sum) or as ``counting`` says (rows or distinct)."""
    if spec.sum is not None:
        weights = _sum_values(rows, spec)
        return _tally(rows.lo, rows.hi, m0, months, weights, groups, n_groups)
    if counting.count == "distinct":
        # a loaded extract's child ids are already codes (kpi_engine.keys): nothing to hash
        codes, uniques = keys.coded(rows.frame[counting.key or "child_id"])
        if groups is not None:
            # a child counts once per breakdown value: key = (group, child)
            codes = groups.astype(np.int64) * (len(uniques) + 1) + codes
        codes, lo, hi = _merge_ranges(codes, rows.lo, rows.hi)
        merged_groups = None if groups is None else codes // (len(uniques) + 1)
        return _tally(lo, hi, m0, months, None, merged_groups, n_groups)
    return _tally(rows.lo, rows.hi, m0, months, None, groups, n_groups)


def _sum_values(rows: _Rows, spec: Count) -> np.ndarray:
    assert spec.sum is not None
    values = pd.to_numeric(rows.values(parse(spec.sum)), errors="coerce")
    if not isinstance(values, pd.Series):  # a constant: every row has it
        return np.full(len(rows), np.nan if values is None else float(values))
    return np.asarray(values, dtype=float)


def _not_computable(
    rows: _Rows,
    spec: Count,
    m0: int,
    months: int,
    groups: np.ndarray | None,
    n_groups: int,
) -> np.ndarray | None:
    """Per group and month, the rows whose ``sum`` gives no number (null, NaN or infinite).

    Such a row makes its figure NO DATA: summed as 0 (or as 1.8e308) it would be a confident
    wrong figure. None for counts, which read no value.
    """
    if spec.sum is None:
        return None
    bad = ~np.isfinite(_sum_values(rows, spec))
    return _tally(rows.lo, rows.hi, m0, months, bad.astype(float), groups, n_groups)


# --- tables -------------------------------------------------------------------------------------


def _referenced_names(spec: Count) -> set[str]:
    names: set[str] = set()
    for text in (spec.filter, spec.sum, spec.date):
        if text is not None:
            names |= {n.name for n in parse(text).walk() if isinstance(n, Name)}
    for column in (spec.start, spec.end, spec.year, spec.key):
        if column is not None:
            names.add(column)
    return names


class _TableCache:
    """Extract tables prepared once per run: derived fields added, derived tables built.

    Safe to share between the threads computing indicators: each table is prepared once, by
    the first thread to ask for it, while others that want the same table wait for it.
    """

    def __init__(
        self,
        tables: Tables,
        definitions: Sequence[Definition],
        partial: Mapping[str, partial_tables.Partial] | None = None,
        store: DerivedStore | None = None,
    ) -> None:
        self.tables = tables
        self.store = store
        """Derived fields and tables kept from earlier runs on this extract (prepared cache)."""
        self.partial = partial or {}
        """Tables the extract holds only in part (its manifest: kpi_engine.partial_tables)."""
        self._lock = threading.Lock()
        self._building: dict[str, threading.Lock] = {}
        # how many definitions still read each table; at zero it is forgotten
        self._readers = Counter(table for d in definitions for _, table in _specs(d))
        # the derived fields each extract table needs, for every definition at once
        self.wanted: dict[str, set[str]] = {}
        for d in definitions:
            for table, names in names_read(d).items():
                fields = derived.derived_fields_for(table)
                self.wanted.setdefault(table, set()).update(names & set(fields))
        self.prepared: dict[str, pd.DataFrame] = {}

    def needs(self, table: str, spec_names: set[str]) -> list[str]:
        """The extract tables that must be present for a spec on ``table`` (named ones absent)."""
        if table in derived.DERIVED_TABLES:
            needed = set(derived.DERIVED_TABLES[table].needs)
        else:
            fields = derived.derived_fields_for(table)
            needed = {table} | {t for n in spec_names if n in fields for t in fields[n].needs}
        return sorted(t for t in needed if t not in self.tables)

    def get(self, table: str) -> pd.DataFrame:
        with self._lock:
            if table in self.prepared:
                return self.prepared[table]
            building = self._building.setdefault(table, threading.Lock())
        with building:
            with self._lock:
                if table in self.prepared:  # another thread built it while this one waited
                    return self.prepared[table]
                built = dict(self.prepared)
            if table in derived.DERIVED_TABLES:
                frame = self._derived_table(table, built)
            else:
                frame = self.tables[table]
                names = sorted(self.wanted.get(table, set()))
                if names:
                    frame = self._with_fields(table, frame, names)
            with self._lock:
                self.prepared[table] = frame
        return frame

    def _derived_table(self, table: str, built: Tables) -> pd.DataFrame:
        needs = derived.DERIVED_TABLES[table].needs
        store = self.store if all(t in self.tables for t in needs) else None
        key = f"table.{table}"
        frame = store.get(key) if store is not None else None
        if frame is None:
            frame = derivations.build_derived_table(table, self.tables, built)
            if store is not None:
                store.put(key, frame)
        return frame

    def _with_fields(self, table: str, frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
        """``frame`` with the derived fields ``names``: those kept from an earlier run read,
        the others derived (and kept). A field whose tables are absent is derived, to fail
        as it always does."""
        store = self.store
        if store is None:
            return derivations.add_derived_fields(table, frame, self.tables, names)
        fields = derived.derived_fields_for(table)
        kept: dict[str, Any] = {}
        for name in names:
            if name in fields and all(t in self.tables for t in fields[name].needs):
                found = store.get(f"field.{table}.{name}", rows=len(frame))
                if found is not None:
                    kept[name] = found[name].array
        missing = [n for n in names if n not in kept]
        if missing:
            out = derivations.add_derived_fields(table, frame, self.tables, missing)
            for name in missing:
                store.put(f"field.{table}.{name}", out[[name]].reset_index(drop=True))
        else:
            out = frame.copy(deep=False)  # new columns only, as add_derived_fields adds them
        for name, values in kept.items():
            out[name] = pd.Series(values, index=frame.index)
        return out

    def done_with(self, d: Definition) -> None:
        """``d`` is computed: forget the prepared tables no other definition still reads.

        A national run holds millions of derived rows per table; keeping them all to the end
        would set its peak memory.
        """
        with self._lock:
            for _, table in _specs(d):
                self._readers[table] -= 1
                if self._readers[table] <= 0:
                    self.prepared.pop(table, None)


def names_read(d: Definition) -> dict[str, set[str]]:
    """Every column or derived field name the definition reads, by the table it counts over.

    Filters, dates, windows, sums, the distinct key (``child_id`` unless named) and the
    breakdown column: ``kpi_engine.derived.columns_read`` turns these into extract columns.
    """
    out: dict[str, set[str]] = {}
    d = d.bound()  # a parameter is a number, not a column
    for spec, table in _specs(d):
        names = out.setdefault(table, set())
        names |= _referenced_names(spec)
        # a subset numerator with no count of its own counts as its denominator does
        inherits = spec.is_subset and spec.count is None and d.denominator is not None
        counting = d.denominator if inherits and d.denominator is not None else spec
        if counting.count == "distinct":
            names.add(counting.key or "child_id")
        if d.breakdown is not None:
            names.add(d.breakdown.column)
    return out


def columns_read(d: Definition) -> dict[str, set[str]]:
    """The extract columns ``d`` reads, by table, directly or through derived fields and tables."""
    out: dict[str, set[str]] = {}
    for table, names in names_read(d).items():
        for name, columns in derived.columns_read(table, names).items():
            out.setdefault(name, set()).update(columns)
    return out


def _size(d: Definition, tables: Tables) -> int:
    """Rows of the extract tables ``d`` reads: a measure of the working memory it needs."""
    return max(1, sum(len(tables[t]) for t in columns_read(d) if t in tables))


def _specs(d: Definition) -> list[tuple[Count, str]]:
    out: list[tuple[Count, str]] = []
    if d.status is not Status.active:
        return out
    if d.denominator is not None and d.denominator.table is not None:
        out.append((d.denominator, d.denominator.table))
    if d.numerator is not None:
        table = d.numerator.table or (d.denominator.table if d.denominator else None)
        if table is not None:
            out.append((d.numerator, table))
    return out


# --- one indicator ------------------------------------------------------------------------------


@dataclass
class _Figures:
    """Numerator and denominator per breakdown group and month, for one indicator."""

    groups: list[str]  # "" is the indicator's own row; others are breakdown values
    numerator: np.ndarray  # (groups, months)
    denominator: np.ndarray | None
    counts: list[tuple[Window, coverage.Span]]
    """Each numerator or denominator read from a table: its window and the table's span."""
    not_computable: list[tuple[str, str, np.ndarray]]
    """(numerator or denominator, its sum expression, rows giving no number per group, month)."""
    cases: np.ndarray | None
    """The counted cases behind each figure (groups, months), for the small-number flag."""


def _group_codes(frame: pd.DataFrame, column: str, categories: list[str]) -> np.ndarray:
    values = frame[column].astype("string").fillna("(missing)")
    return np.asarray(pd.Categorical(values, categories=categories).codes, dtype=np.int64)


def _categories(frames: Iterable[pd.DataFrame], column: str, declared: Sequence[str]) -> list[str]:
    """``declared`` first (each reported, zero or not), then any other value found, sorted."""
    values: set[str] = set()
    for f in frames:
        values |= set(f[column].astype("string").fillna("(missing)").unique())
    return list(declared) + sorted(values - set(declared))


def declared_categories(d: Definition, table: str) -> tuple[str, ...]:
    """The breakdown values ``d`` reports even at zero: its own list, else the contract's codes."""
    assert d.breakdown is not None
    if d.breakdown.categories is not None:
        return d.breakdown.categories
    spec = contract.TABLES.get(table)
    column = spec.column(d.breakdown.column) if spec is not None else None
    return column.codes if column is not None and column.codes is not None else ()


def _cases_spec(d: Definition, num: Count, den: Count | None) -> str | None:
    """Which count holds the cases a figure rests on, for the small-number flag.

    A share or an average rests on its denominator's cases (B8: the proceedings completed); a
    rate per 1,000 children on its numerator's (the denominator is the population). A sum
    (FTE, pounds) counts no cases, and a count or currency figure is not rated on a share.
    """
    if d.unit in (Unit.rate_per_10000, Unit.rate_per_1000):
        return "numerator" if num.sum is None else None
    if d.unit.has_denominator and den is not None and den.sum is None:
        return "denominator"
    return None


@dataclass
class _Chosen:
    """The rows one indicator counts over [m0, m1], and how its numerator counts them."""

    numerator: _Rows
    numerator_counting: Count
    denominator: _Rows | None
    counts: list[tuple[Window, coverage.Span]]


def _choose(d: Definition, cache: _TableCache, m0: int, m1: int) -> _Chosen:
    assert d.window is not None and d.numerator is not None
    num_spec, den_spec = d.numerator, d.denominator
    for spec, table in _specs(d):
        missing = cache.needs(table, _referenced_names(spec))
        if missing:
            raise NoData(f"needs table {', '.join(missing)}, absent from the extract")
    if (why := partial_tables.not_carried(cache.partial, d)) is not None:
        raise NoData(why)
    # what is read once the rows are chosen: later filters, sums, distinct keys, breakdowns
    used = {n for names in names_read(d).values() for n in names}
    counts: list[tuple[Window, coverage.Span]] = []
    den_rows: _Rows | None = None
    if den_spec is not None:
        assert den_spec.table is not None
        den_window = den_spec.window or d.window
        den_rows, span = _select(cache.get(den_spec.table), den_spec, den_window, d, m0, m1, used)
        counts.append((den_window, span))
    if num_spec.is_subset:
        assert den_rows is not None and den_spec is not None
        row_conditions, bounds = _split_filter(num_spec.filter)
        mask = np.ones(len(den_rows), dtype=bool)
        for c in row_conditions:
            mask &= den_rows.mask(c)
        num_rows = _apply_bounds(den_rows.take(mask), bounds)
        counting = num_spec if num_spec.count is not None else den_spec
        return _Chosen(num_rows, counting, den_rows, counts)
    assert num_spec.table is not None
    num_window = num_spec.window or d.window
    num_rows, span = _select(cache.get(num_spec.table), num_spec, num_window, d, m0, m1, used)
    counts.append((num_window, span))
    return _Chosen(num_rows, num_spec, den_rows, counts)


@dataclass
class _Groups:
    """A breakdown's values and each chosen row's value code (None: no breakdown codes)."""

    values: list[str]
    numerator: np.ndarray | None
    denominator: np.ndarray | None
    share: bool
    """Each value's share of the whole denominator (A3: % of audits in each grade)."""


def _groups(d: Definition, chosen: _Chosen) -> _Groups:
    if d.breakdown is None:
        return _Groups([], None, None, False)
    column = d.breakdown.column
    den_rows = chosen.denominator
    spec = d.denominator or d.numerator
    declared = declared_categories(d, (spec.table if spec is not None else None) or "")
    if d.breakdown.denominator == "total" and den_rows is not None:
        values = _categories([den_rows.frame], column, declared)
        return _Groups(values, None, _group_codes(den_rows.frame, column, values), True)
    frames = [chosen.numerator.frame] + ([den_rows.frame] if den_rows is not None else [])
    values = _categories(frames, column, declared)
    return _Groups(
        values,
        _group_codes(chosen.numerator.frame, column, values),
        None if den_rows is None else _group_codes(den_rows.frame, column, values),
        False,
    )


def _figures(d: Definition, cache: _TableCache, m0: int, months: int) -> _Figures:
    chosen = _choose(d, cache, m0, m0 + months - 1)
    groups = _groups(d, chosen)
    n = len(groups.values)

    def by_group(rows: _Rows, spec: Count, counting: Count, codes: np.ndarray | None) -> np.ndarray:
        whole = _measure(rows, spec, counting, m0, months, None, 1)
        if codes is None:
            return whole
        return np.vstack([whole, _measure(rows, spec, counting, m0, months, codes, n)])

    def unknown(rows: _Rows, spec: Count, codes: np.ndarray | None) -> np.ndarray | None:
        whole = _not_computable(rows, spec, m0, months, None, 1)
        if whole is None or codes is None:
            return whole if whole is None or not groups.share else np.vstack([whole] * (n + 1))
        parts = _not_computable(rows, spec, m0, months, codes, n)
        assert parts is not None
        return np.vstack([whole, parts])

    num_spec, den_spec, den_rows = d.numerator, d.denominator, chosen.denominator
    assert num_spec is not None
    num_codes = groups.numerator
    numerator = by_group(chosen.numerator, num_spec, chosen.numerator_counting, num_codes)
    not_computable: list[tuple[str, str, np.ndarray]] = []
    bad = unknown(chosen.numerator, num_spec, num_codes)
    if bad is not None and num_spec.sum is not None:
        not_computable.append(("numerator", num_spec.sum, bad))
    denominator: np.ndarray | None = None
    if den_rows is not None and den_spec is not None:
        # a share breakdown divides each value's count by the whole denominator
        den_codes = None if groups.share else groups.denominator
        denominator = by_group(den_rows, den_spec, den_spec, den_codes)
        bad = unknown(den_rows, den_spec, den_codes)
        if bad is not None and den_spec.sum is not None:
            not_computable.append(("denominator", den_spec.sum, bad))
        if groups.share and groups.denominator is not None:
            parts = _measure(den_rows, den_spec, den_spec, m0, months, groups.denominator, n)
            numerator = np.vstack([numerator, parts])
            denominator = np.vstack([denominator] * (n + 1))
    which = _cases_spec(d, num_spec, den_spec)
    cases = {"numerator": numerator, "denominator": denominator}.get(which or "")
    if groups.share and cases is not None:
        cases = np.vstack([cases[:1]] * (n + 1))  # a share rests on the whole figure's cases
    return _Figures(
        ["", *groups.values], numerator, denominator, chosen.counts, not_computable, cases
    )


# --- the public call ----------------------------------------------------------------------------


def _extract_date(extract: Any) -> dt.date | None:
    """The manifest's extract date, for an Extract that has one."""
    when = getattr(getattr(extract, "manifest", None), "extract_date", None)
    return when if isinstance(when, dt.date) else None


def _tables_of(extract: Any) -> Tables:
    tables = getattr(extract, "tables", extract)
    if not isinstance(tables, Mapping):
        raise TypeError("extract must be an Extract or a mapping of table name to DataFrame")
    return tables


def compute(
    extract: Any,
    definitions: DefinitionSet | Sequence[Definition],
    months: Sequence[int],
    *,
    definition_set: str | None = None,
    progress: Progress | None = None,
    partial_windows: bool = False,
    extract_date: dt.date | None = None,
) -> pd.DataFrame:
    """Compute and rate every definition for the periods covering ``months`` (month indices).

    One row per indicator × period (× breakdown value), in definition order, then period, with
    the columns of :data:`OUTPUT_COLUMNS`. An indicator that cannot be computed is NO DATA with
    the reason in ``note``; it never raises for one indicator's sake. So is a period the
    extract does not cover (kpi_engine.coverage): after ``extract_date`` (default: the
    manifest's), after a table's last record, or with a window reaching back before a table's
    first record unless ``partial_windows`` (or the definition's ``window.partial``).
    """
    tables = _tables_of(extract)
    if extract_date is None:
        extract_date = _extract_date(extract)
    if isinstance(definitions, DefinitionSet):
        definition_set = definition_set or definitions.name
        defs = list(definitions.definitions)
    else:
        defs = list(definitions)
    scope = _Scope(definition_set or "", extract_date, partial_windows)
    wanted = sorted(set(months))
    if not wanted:
        return pd.DataFrame(columns=OUTPUT_COLUMNS)
    cache = _TableCache(
        tables, defs, partial_tables.declared(extract), getattr(extract, "derived", None)
    )

    def rows_of(d: Definition) -> list[dict[str, object]]:
        rows = _indicator_rows(d, periods_for(wanted, d.frequency), cache, scope)
        cache.done_with(d)
        return rows

    records: list[dict[str, object]] = []
    # Indicators are independent once their tables are prepared: two cores compute two, but
    # never two big ones at once (kpi_engine._schedule). Results come in definition order.
    sizes = [_size(d, tables) for d in defs]
    for d, rows in zip(defs, run_sized(defs, sizes, rows_of, workers()), strict=True):
        records.extend(rows)
        if progress is not None:
            progress(d)
    frame = pd.DataFrame.from_records(records, columns=OUTPUT_COLUMNS)
    for column in ("numerator", "denominator", "value", "target", "tolerance"):
        frame[column] = frame[column].astype(float)
    frame["low_count"] = frame["low_count"].astype(bool)
    return frame


@dataclass(frozen=True)
class _Scope:
    """What a run says about every indicator: its set, the extract's date, partial windows."""

    set_name: str
    extract_date: dt.date | None
    partial_windows: bool


def _indicator_rows(
    d: Definition, periods: list[Period], cache: _TableCache, scope: _Scope
) -> list[dict[str, object]]:
    if not periods:
        return []
    target, tolerance = threshold_columns(d)
    base = {
        "indicator_id": d.id,
        "indicator_name": d.name,
        "group": d.group.value,
        "contract": d.contract,
        "unit": d.unit.value,
        "polarity": d.polarity.value,
        "target": target,
        "tolerance": tolerance,
        "definition_set": scope.set_name,
        "definition_hash": d.content_hash(),
        "variation": "",
        "assurance": "",
    }
    note = ""
    figures: _Figures | None = None
    if d.status is not Status.active:
        note = f"{d.status.value.replace('_', ' ')}: {d.status_note}"
    else:
        m0 = min(p.end_index for p in periods)
        months = max(p.end_index for p in periods) - m0 + 1
        try:
            figures = _figures(d.bound(), cache, m0, months)
        except NoData as e:
            note = str(e)
        except derivations.MissingTableError as e:
            note = f"needs table {e.table}, absent from the extract"

    rows: list[dict[str, object]] = []
    groups = figures.groups if figures is not None else [""]
    threshold = d.min_count if d.min_count is not None else DEFAULT_MIN_COUNT
    share = d.breakdown is not None and d.breakdown.denominator == "total"
    for p in periods:
        if figures is None:
            numerators, denominators = np.full(1, np.nan), np.full(1, np.nan)
            notes, cases = [note], None
        else:
            numerators, denominators, notes, cases = _at_period(
                figures, p, p.end_index - m0, d, scope
            )
        values = _values(d, numerators, denominators)
        rounded = round_reported(values, d.rounding)
        statuses = rate_values(rounded, d.rating, d.polarity)
        for j, group in enumerate(groups):
            status = statuses[j]
            # a grade's share of the total is reported, not rated: the indicator's target is
            # for its headline figure, and shown beside a share it would read as the share's
            unrated = share and group != ""
            if unrated and status is not RatingStatus.no_data:
                status = RatingStatus.no_target
            row_note = notes[j]
            if figures is not None and not row_note and np.isnan(values[j]):
                row_note = "no value"
            n = int(cases[j]) if cases is not None else 0
            flagged = 0 < n < threshold and not np.isnan(rounded[j])
            if flagged:
                row_note = f"low count: {n} case{'s' if n != 1 else ''} (threshold {threshold})"
            rows.append(
                {
                    **base,
                    "breakdown": group,
                    "period": p.label,
                    "period_start": p.start.date().isoformat(),
                    "period_end": p.end.date().isoformat(),
                    "numerator": numerators[j],
                    "denominator": denominators[j] if d.unit.has_denominator else np.nan,
                    "value": rounded[j],
                    "status": status.value,
                    "rag": status.rag,
                    "note": row_note,
                    "low_count": flagged,
                    **({"target": np.nan, "tolerance": np.nan} if unrated else {}),
                }
            )
    return rows


def _at_period(
    figures: _Figures, p: Period, i: int, d: Definition, scope: _Scope
) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray | None]:
    """Numerators, denominators, notes and cases of each group for period ``p`` (month ``i``
    of the figures): all NaN with the reason when the extract does not cover the period."""
    n = len(figures.groups)
    gap = coverage.gap(p, figures.counts, scope.extract_date, scope.partial_windows)
    if gap:
        return np.full(n, np.nan), np.full(n, np.nan), [gap] * n, None
    numerators = figures.numerator[:, i].astype(float)
    denominators = np.full(n, np.nan)
    if figures.denominator is not None:
        denominators = figures.denominator[:, i].astype(float)
    notes, unknown = _figure_notes(figures, i, denominators, d)
    numerators[unknown] = np.nan
    denominators[unknown] = np.nan
    cases = None if figures.cases is None else figures.cases[:, i]
    return numerators, denominators, notes, cases


def _figure_notes(
    figures: _Figures, i: int, denominators: np.ndarray, d: Definition
) -> tuple[list[str], np.ndarray]:
    """Why each group's figure in month ``i`` has no value ("" where it has one), and which
    groups have rows whose sum gives no number (their figure is withheld, not rated)."""
    notes = [""] * len(figures.groups)
    unknown = np.zeros(len(figures.groups), dtype=bool)
    for j in range(len(figures.groups)):
        for part, expression, rows in figures.not_computable:
            n = int(rows[j, i])
            if n:
                notes[j] = (
                    f"{part}: {n} row{'s' if n != 1 else ''} not computable "
                    f"({expression!r} gives no number: a null, or a division by zero)"
                )
                unknown[j] = True
                break
        else:
            if d.unit.has_denominator and denominators[j] == 0:
                notes[j] = "zero denominator"
    return notes, unknown


def _values(d: Definition, numerators: np.ndarray, denominators: np.ndarray) -> np.ndarray:
    """The reported value. A zero denominator is NO DATA (not 0%, not an error)."""
    if d.unit in (Unit.count, Unit.currency):
        return numerators
    with np.errstate(divide="ignore", invalid="ignore"):
        values = numerators / denominators * d.unit.multiplier
    values[~np.isfinite(values)] = np.nan
    return np.asarray(values, dtype=float)


def evaluate_filter(text: str | None, frame: pd.DataFrame) -> np.ndarray:
    """Public helper: a filter without period terms as a mask (used by explain and tests)."""
    return evaluate_mask(text, frame)


# --- who is behind a figure ---------------------------------------------------------------------


def members(extract: Any, definition: Definition, month: int) -> pd.DataFrame:
    """The records behind one indicator's figure for the period ending in ``month``.

    One row per record counted in the denominator (or, with no denominator, the numerator),
    with ``in_numerator`` and ``in_denominator`` flags and the record's own columns. For a
    distinct count the key column (``child_id``) says which child a record belongs to.
    Raises :class:`NoData` when the indicator cannot be computed.
    """
    d = definition.bound()
    if d.status is not Status.active:
        raise NoData(f"{d.status.value.replace('_', ' ')}: {d.status_note}")
    assert d.window is not None and d.numerator is not None
    period = periods_for([month], d.frequency)[0]
    m = period.end_index
    # derived fields and tables an earlier run kept with the extract's cache entry are read
    cache = _TableCache(_tables_of(extract), [d], store=getattr(extract, "derived", None))
    for spec, table in _specs(d):
        missing = cache.needs(table, _referenced_names(spec))
        if missing:
            raise NoData(f"needs table {', '.join(missing)}, absent from the extract")
    if (why := partial_tables.not_carried(partial_tables.declared(extract), d)) is not None:
        raise NoData(why)

    counts: list[tuple[Window, coverage.Span]] = []

    def at_period(spec: Count) -> _Rows:
        assert spec.table is not None and d.window is not None
        window = spec.window or d.window
        rows, span = _select(cache.get(spec.table), spec, window, d, m, m)
        counts.append((window, span))
        return rows.take((rows.lo <= m) & (rows.hi >= m))

    num_spec, den_spec = d.numerator, d.denominator
    if num_spec.is_subset:
        assert den_spec is not None
        den = at_period(den_spec)
        row_conditions, bounds = _split_filter(num_spec.filter)
        mask = np.ones(len(den.frame), dtype=bool)
        for c in row_conditions:
            mask &= evaluate_mask_node(c, den.frame)
        num = _apply_bounds(den.take(mask), bounds)
        num = num.take((num.lo <= m) & (num.hi >= m))
        frame = den.frame.copy()
        frame.insert(0, "in_numerator", frame.index.isin(num.frame.index))
        frame.insert(1, "in_denominator", True)
    else:
        num = at_period(num_spec)
        parts = [num.frame.assign(in_numerator=True, in_denominator=False)]
        if den_spec is not None:
            den = at_period(den_spec)
            parts.append(den.frame.assign(in_numerator=False, in_denominator=True))
        frame = keys.concat_rows(parts)
        front = ["in_numerator", "in_denominator"]
        frame = frame[front + [c for c in frame.columns if c not in front]]
    gap = coverage.gap(period, counts, _extract_date(extract), partial=False)
    if gap:  # the same records a NO DATA figure would not rest on
        raise NoData(gap)
    frame.insert(0, "period", period.label)
    frame.insert(0, "indicator_id", d.id)
    return frame.reset_index(drop=True)
