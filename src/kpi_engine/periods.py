"""Reporting periods on a month grid.

Every period is identified by the month it ends in. Internally months are integers
(``year * 12 + month - 1``) so that windows become integer ranges and all periods can be
counted in one pass. Quarters are financial quarters (Q1 = April-June), years run April-March.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kpi_engine import calendar
from kpi_engine.definitions import Frequency

_MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


FIRST_SUPPORTED = "1900-01"
LAST_SUPPORTED = "2199-12"
"""The months a period may be (docs/extract-validation.md). Older dates are null sentinels
(1900-01-01) or typing errors; later ones are open-end sentinels (9999-12-31) or typing errors.
The range keeps every period, and every window reaching back from one, inside what pandas'
nanosecond timestamps hold (1677 to 2262)."""


class PeriodError(ValueError):
    """A period the user typed that is not a YYYY-MM month, or an empty range."""


def _index(text: str) -> int | None:
    m = _MONTH_RE.match(text.strip())
    return None if m is None else int(m.group(1)) * 12 + int(m.group(2)) - 1


def parse_month(text: str) -> int:
    """``'2015-12'`` → month index; a month outside the supported range is an error."""
    index = _index(text)
    if index is None:
        raise PeriodError(f"expected a month as YYYY-MM (got {text!r})")
    if not FIRST_MONTH <= index <= LAST_MONTH:
        raise PeriodError(
            f"{text.strip()} is outside the supported months {FIRST_SUPPORTED} to {LAST_SUPPORTED}"
        )
    return index


FIRST_MONTH = 1900 * 12
LAST_MONTH = 2199 * 12 + 11


def month_label(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_start(index: int) -> pd.Timestamp:
    return pd.Timestamp(year=index // 12, month=index % 12 + 1, day=1)


def month_end(index: int) -> pd.Timestamp:
    return month_start(index + 1) - pd.Timedelta(days=1)


def months_of(dates: pd.Series | pd.DatetimeIndex | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Month index of each date (int64) and which dates are present (null: False, month 0)."""
    days, present = calendar.day_numbers(dates)
    months = calendar.months_of_days(days)
    months += _EPOCH_MONTH
    months[~present] = 0
    return months, present


_EPOCH_MONTH = 1970 * 12  # numpy counts months from January 1970


def month_index(dates: pd.Series | pd.DatetimeIndex | np.ndarray) -> np.ndarray:
    """Month index of each date (float array, NaN where the date is null)."""
    months, present = months_of(dates)
    return np.where(present, months, np.nan)


def is_month_end(dates: pd.Series | pd.DatetimeIndex | np.ndarray) -> np.ndarray:
    """Whether each date is midnight on the last day of its month (null: False)."""
    values = np.asarray(dates, dtype="datetime64[ns]")
    days, present = calendar.day_numbers(values)
    midnight = values.view(np.int64) == days * calendar.NS_PER_DAY
    both = calendar.months_of_days(np.concatenate([days, days + 1]))
    last_day = both[: len(days)] != both[len(days) :]
    month_end: np.ndarray = midnight & last_day & present
    return month_end


def is_period_end(index: int, frequency: Frequency) -> bool:
    """Quarterly measures are due at financial quarter ends, annual ones at March."""
    month = index % 12 + 1
    if frequency is Frequency.quarterly:
        return month in (3, 6, 9, 12)
    if frequency is Frequency.annual:
        return month == 3
    return True


def latest_period_end(index: int, frequency: Frequency) -> int:
    """The last period end of ``frequency`` at or before month ``index``."""
    while not is_period_end(index, frequency):
        index -= 1
    return index


def financial_year_end(index: np.ndarray) -> np.ndarray:
    """Month index of the March that closes each month's financial year."""
    month = np.mod(index, 12)  # 0 = January
    return np.asarray(index + np.where(month <= 2, 2 - month, 14 - month))


@dataclass(frozen=True)
class Period:
    """One reporting period of a definition: the months its in-period window covers."""

    end_index: int
    frequency: Frequency

    @property
    def label(self) -> str:
        return month_label(self.end_index)

    @property
    def start(self) -> pd.Timestamp:
        return month_start(self.end_index - self.frequency.months + 1)

    @property
    def end(self) -> pd.Timestamp:
        return month_end(self.end_index)


def periods_for(months: list[int], frequency: Frequency) -> list[Period]:
    """The periods of ``frequency`` to report for the requested months.

    A range reports every period end inside it. A single month reports the latest period end
    at or before it (a quarterly measure asked for November reports the quarter to September).
    """
    if not months:
        return []
    if len(months) == 1:
        return [Period(latest_period_end(months[0], frequency), frequency)]
    ends = [m for m in months if is_period_end(m, frequency)]
    return [Period(m, frequency) for m in ends]


def month_range(first: str, last: str) -> list[int]:
    a, b = parse_month(first), parse_month(last)
    if b < a:
        raise PeriodError(f"--to {last} is before --from {first}")
    return list(range(a, b + 1))
