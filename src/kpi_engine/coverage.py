"""Coverage: which periods the extract can answer for, and the reason for each it cannot.

A count over months the extract does not hold is not zero, it is unknown: a period after the
extract was taken, or whose window reaches back before a table's first record, would otherwise
be rated on an empty or truncated window (``kpi compute --period 2025-01`` once rated A6 "100%
OFF TARGET"). Such a period is NO DATA with the reason.

The idea: a table's records span months ``[first, last]`` *by the date the indicator counts
them by* (``referral_date`` for re-referrals, the start and end of a plan for plans open at
period end). The engine already turns every row into its month (the difference-array pass), so
each span is one ``min`` and one ``max`` over arrays it holds, once per numerator or
denominator. A period is then checked against the spans of the tables it reads, with a handful
of integer comparisons per period, never per row:

- it ends after the extract date (the manifest's ``extract_date``): the month is incomplete;
- with no extract date, its window starts after the table's last record month: nothing of it
  is in the extract (with one, every table is a full snapshot to that date, so a table with
  no record since January still says "none" for February);
- its window starts before the table's first record month, unless the window is ``partial``
  (a 12-month figure needs 12 months of data: the seed's reading).

The last record month is lenient on purpose: a table with no event in the final month of an
otherwise covered window (no adoption order in March) still reports its zero.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from kpi_engine.definitions import Frequency, Window, WindowType
from kpi_engine.periods import Period, month_label


@dataclass(frozen=True)
class Span:
    """The months the records of one table cover, by the dates one count reads."""

    table: str
    first: int | None
    """Month index of the earliest record; None when the table has no dated record."""
    last: int | None
    """Month index of the latest record (or latest end, for records open over time)."""


def span_of(table: str, months: np.ndarray, present: np.ndarray) -> Span:
    """The span of the month indices ``months`` where ``present``."""
    if not present.any():
        return Span(table, None, None)
    chosen = months[present]
    return Span(table, int(chosen.min()), int(chosen.max()))


def window_months(end: int, window: Window, frequency: Frequency) -> tuple[int, int] | None:
    """The first and last month of the records counted in the period ending in month ``end``.

    None for windows that need no history (the latest annual figure at or before the period).
    """
    last = end - window.lag_months
    if window.type is WindowType.latest_year:
        return None
    if window.type is WindowType.open_at_end:
        return last, last
    if window.type is WindowType.in_period:
        return last - frequency.months + 1, last
    if window.type is WindowType.rolling:
        assert window.months is not None
        return last - window.months + 1, last
    april = 3  # month index modulo 12 of April, the first month of a financial year
    return last - (last % 12 - april) % 12, last


_GAP_STARTS = ("period ", "its ", "no dated records")


def is_gap(note: str) -> bool:
    """Whether an output ``note`` is one of :func:`gap`'s reasons."""
    return str(note).startswith(_GAP_STARTS)


def gap(
    period: Period,
    counts: list[tuple[Window, Span]],
    extract_date: dt.date | None,
    partial: bool,
) -> str:
    """Why the extract cannot answer for ``period`` ("" when it can).

    ``counts`` pairs each numerator or denominator's window with its table's span; ``partial``
    reports windows that reach back before the first record (the definition's or the run's
    choice).
    """
    label = period.label
    if extract_date is not None and period.end.date() > extract_date:
        if period.start.date() > extract_date:
            return f"period {label} is after the extract date {extract_date.isoformat()}"
        return f"period {label} ends after the extract date {extract_date.isoformat()} (incomplete)"
    for window, span in counts:
        months = window_months(period.end_index, window, period.frequency)
        if months is None:
            continue
        first, last = months
        if span.first is None or span.last is None:
            return f"no dated records in {span.table}"
        if extract_date is None and first > span.last:
            return (
                f"period {label} is after the last record in {span.table} "
                f"({month_label(span.last)})"
            )
        if first < span.first and not (partial or window.partial):
            if last < span.first:
                return (
                    f"period {label} is before the first record in {span.table} "
                    f"({month_label(span.first)})"
                )
            return (
                f"its {last - first + 1}-month window from {month_label(first)} starts before "
                f"the first record in {span.table} ({month_label(span.first)}); "
                "partial windows are off (window.partial, --partial-windows)"
            )
    return ""
