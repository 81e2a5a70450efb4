"""Calendar arithmetic on whole columns: calendar months and England and Wales working days.

Bank holidays come from the ``holidays`` package, which computes them for any year offline, so the
calendar never silently runs out the way a hand-typed list does. Working days are counted with
``numpy.busday_count`` over a cached business-day calendar: vectorised, no per-row Python.
"""

from __future__ import annotations

from functools import lru_cache

import holidays
import numpy as np
import pandas as pd

# England and Wales share their bank holidays (Scotland and Northern Ireland differ).
_COUNTRY = "GB"
_SUBDIVISION = "ENG"
_YEAR_SPAN = (1990, 2060)
"""Years the cached calendar covers; dates outside widen it (see ``_calendar_for``)."""


@lru_cache(maxsize=8)
def _business_calendar(first_year: int, last_year: int) -> np.busdaycalendar:
    days = holidays.country_holidays(
        _COUNTRY, subdiv=_SUBDIVISION, years=range(first_year, last_year + 1)
    )
    return np.busdaycalendar(
        weekmask="1111100", holidays=np.array(sorted(days), dtype="datetime64[D]")
    )


def bank_holidays(first_year: int, last_year: int) -> list[pd.Timestamp]:
    """England and Wales bank holidays from ``first_year`` to ``last_year`` inclusive."""
    days = holidays.country_holidays(
        _COUNTRY, subdiv=_SUBDIVISION, years=range(first_year, last_year + 1)
    )
    return [pd.Timestamp(d) for d in sorted(days)]


def _calendar_for(days: np.ndarray) -> np.busdaycalendar:
    first, last = _YEAR_SPAN
    valid = days[~np.isnat(days)]
    if len(valid):
        years = valid.astype("datetime64[Y]").astype(int) + 1970
        first, last = min(first, int(years.min())), max(last, int(years.max()))
    return _business_calendar(first, last)


def working_days_between(start: pd.Series, end: pd.Series) -> pd.Series:
    """Working days after ``start`` up to and including ``end`` (negative if end is earlier).

    Monday to Tuesday is 1; Friday to the following Monday is 1; a bank holiday in between is not
    counted. This is the DfE reading of "completed within 45 working days" of the start: the
    start day itself is day 0. Null where either date is null.
    """
    a = pd.DatetimeIndex(start).values.astype("datetime64[D]")
    b = pd.DatetimeIndex(end).values.astype("datetime64[D]")
    missing = np.isnat(a) | np.isnat(b)
    cal = _calendar_for(np.concatenate([a, b]))
    one = np.timedelta64(1, "D")
    # busday_count counts [begin, end); shifting both by a day counts (start, end].
    a_safe = np.where(missing, np.datetime64("2000-01-01"), a) + one
    b_safe = np.where(missing, np.datetime64("2000-01-01"), b) + one
    counts = np.busday_count(a_safe, b_safe, busdaycal=cal).astype(float)
    counts[missing] = np.nan
    return pd.Series(counts, index=start.index)


def add_months(dates: pd.Series, months: int | float | pd.Series) -> pd.Series:
    """Each date plus whole calendar months, clipped to the month's end (31 Jan + 1 = 28/29 Feb).

    ``months`` is one number or a column of them; null dates or counts stay null.
    """
    stamps = pd.DatetimeIndex(dates).values.astype("datetime64[ns]")
    values = stamps.astype("datetime64[D]")
    time_of_day = stamps - values.astype("datetime64[ns]")  # kept for datetime columns
    n = (
        np.asarray(months, dtype=float)
        if isinstance(months, pd.Series)
        else np.full(len(values), float(months))
    )
    missing = np.isnat(values) | np.isnan(n)
    safe = np.where(missing, np.datetime64("2000-01-01"), values)
    month_start = safe.astype("datetime64[M]")
    day = (safe - month_start.astype("datetime64[D]")).astype(int)  # 0-based day of month
    target = month_start + np.where(missing, 0, n).astype(int)
    days_in_target = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(
        int
    )
    out = target.astype("datetime64[D]") + np.minimum(day, days_in_target - 1)
    result = out.astype("datetime64[ns]") + np.where(missing, np.timedelta64(0, "ns"), time_of_day)
    result[missing] = np.datetime64("NaT")
    return pd.Series(result, index=dates.index)
