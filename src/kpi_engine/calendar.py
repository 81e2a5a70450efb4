"""Calendar arithmetic on whole columns: calendar months and England and Wales working days.

Bank holidays come from the ``holidays`` package, which computes them for any year offline, so the
calendar never silently runs out the way a hand-typed list does. Working days are counted with
``numpy.busday_count`` over a cached business-day calendar: vectorised, no per-row Python.

The package takes 0.13 to 0.17 s to load (it imports every country it knows) and compute the
calendar's 71 years: more than any indicator of the sample data. So the dates it gives are kept
in the cache folder (:func:`kpi_engine.prepared.holidays_folder`), one small file named by the
package's version and the years, checked by a hash of its dates when read; a missing, edited or
damaged file is computed again. ``KPI_CACHE=0`` (``--no-cache``) reads and writes none.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

# England and Wales share their bank holidays (Scotland and Northern Ireland differ).
_COUNTRY = "GB"
_SUBDIVISION = "ENG"
_YEAR_SPAN = (1990, 2060)
"""Years the cached calendar covers; dates outside widen it (see ``_calendar_for``)."""


@lru_cache(maxsize=8)
def _business_calendar(first_year: int, last_year: int) -> np.busdaycalendar:
    return np.busdaycalendar(weekmask="1111100", holidays=_holidays(first_year, last_year))


def bank_holidays(first_year: int, last_year: int) -> list[pd.Timestamp]:
    """England and Wales bank holidays from ``first_year`` to ``last_year`` inclusive."""
    return [pd.Timestamp(d) for d in _holidays(first_year, last_year)]


def _holidays(first_year: int, last_year: int) -> np.ndarray:
    """England's bank holidays, sorted (datetime64[D]): kept on disk, else from the package."""
    kept = _kept_file(first_year, last_year)
    if kept is not None:
        days = _read_kept(kept, first_year, last_year)
        if days is not None:
            return days
    # imported here, not with the module: commands counting no working days (``kpi list``,
    # ``validate``, ``--help``) need not wait for it
    import holidays

    found = holidays.country_holidays(
        _COUNTRY, subdiv=_SUBDIVISION, years=range(first_year, last_year + 1)
    )
    days = np.array(sorted(found), dtype="datetime64[D]")
    if kept is not None:
        from kpi_engine.output import WriteError, write_text_atomic
        from kpi_engine.prepared import make_private

        try:
            make_private(kept.parent)
            write_text_atomic(kept, _kept_text(days))
        except (OSError, WriteError):
            pass  # a cache folder that cannot be written: the next run computes them again
    return days


def _kept_file(first_year: int, last_year: int) -> Path | None:
    """Where the dates for these years from this version of the package are kept, or None
    (caching off, or the package's version unknown)."""
    from kpi_engine.prepared import holidays_folder

    folder = holidays_folder()
    if folder is None:
        return None
    version = _package_version()
    if version is None:
        return None
    return folder / f"{_COUNTRY}-{_SUBDIVISION}-{first_year}-{last_year}-holidays-{version}.txt"


def _package_version() -> str | None:
    """The ``holidays`` package's installed version, from its dist-info folder's name (its own
    ``__version__`` asks importlib.metadata, 0.05 s), without importing it; None if unclear."""
    try:
        spec = importlib.util.find_spec("holidays")
        folders = list(spec.submodule_search_locations or []) if spec is not None else []
        if len(folders) != 1:
            return None
        found = list(Path(folders[0]).parent.glob("holidays-*.dist-info"))
    except (OSError, ImportError, ValueError):
        return None
    if len(found) != 1:  # none (a source checkout) or several (a damaged environment)
        return None
    version = found[0].name.removeprefix("holidays-").removesuffix(".dist-info")
    return version if re.fullmatch(r"[\w.+!-]+", version) else None


def _kept_text(days: np.ndarray) -> str:
    dates = "".join(f"{d}\n" for d in days)
    return f"# sha256 {hashlib.sha256(dates.encode()).hexdigest()}\n{dates}"


def _read_kept(path: Path, first_year: int, last_year: int) -> np.ndarray | None:
    """The dates kept at ``path``, or None if it is missing or not exactly what was written."""
    try:
        header, _, dates = path.read_text(encoding="ascii").partition("\n")
        if header != f"# sha256 {hashlib.sha256(dates.encode()).hexdigest()}":
            return None
        days = np.array(dates.split(), dtype="datetime64[D]")
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    span = (np.datetime64(f"{first_year}-01-01"), np.datetime64(f"{last_year}-12-31"))
    if not len(days) or days[0] < span[0] or days[-1] > span[1] or (np.diff(days) <= 0).any():
        return None
    return days


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


NS_PER_DAY = 86_400 * 10**9
"""Nanoseconds in a day: datetime64[ns] values are counts of them since 1970."""


def day_numbers(values: pd.Series | pd.DatetimeIndex | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dates as day numbers (days since 1970-01-01, int64) and which are present.

    A null date is day 0 with ``present`` False. Times of day are dropped.
    """
    days = np.asarray(values, dtype="datetime64[ns]").astype("datetime64[D]")  # a new array
    present = ~np.isnat(days)
    numbers = days.view(np.int64)  # changed in place: a second copy of millions would cost
    numbers[~present] = 0
    return numbers, present


def _through_table(values: np.ndarray, unit: str, to_unit: str) -> np.ndarray:
    """``values`` (counts of ``unit`` since 1970) as counts of ``to_unit``, by table lookup.

    numpy's conversions between days and months do calendar arithmetic value by value, which
    on millions of rows costs more than the rules they serve; the distinct values spanned are
    few, so they are converted once into a table that every row then reads.
    """
    if not len(values):
        return np.zeros(0, dtype=np.int64)
    first, last = int(values.min()), int(values.max())
    # a table from 0 when it stays small (dates since 1970) is read without first shifting
    # every value: one pass over the column fewer, and no temporary as long as it
    base = 0 if first >= 0 and last < _DIRECT_TABLE else first
    table = np.arange(base, last + 1).astype(f"datetime64[{unit}]").astype(f"datetime64[{to_unit}]")
    return np.asarray(table.view(np.int64)[values if base == 0 else values - base])


_DIRECT_TABLE = 1 << 20
"""Entries a conversion table may have when it starts at 0 (8 MB; days to the year 4840)."""


def months_of_days(days: np.ndarray) -> np.ndarray:
    """The month (months since January 1970) of each day number."""
    return _through_table(days, "D", "M")


def first_days(months: np.ndarray) -> np.ndarray:
    """The day number of the first day of each month (months since January 1970)."""
    return _through_table(months, "M", "D")


def add_months(dates: pd.Series, months: int | float | pd.Series) -> pd.Series:
    """Each date plus whole calendar months, clipped to the month's end (31 Jan + 1 = 28/29 Feb).

    ``months`` is one number or a column of them; null dates or counts stay null.
    """
    stamps = pd.DatetimeIndex(dates).values.astype("datetime64[ns]")
    days, present = day_numbers(stamps)
    if not isinstance(months, pd.Series) and len(days) and not np.isnan(float(months)):
        # One number of months: every distinct day moves the same way, so the days the
        # column spans are moved once and each row reads its own (times of day kept).
        first, last = int(days.min()), int(days.max())
        span = np.arange(first, last + 1)
        moved = _add_months_to_days(span, np.full(len(span), int(months)))
        step = (moved - span) * NS_PER_DAY
        result = (stamps.view(np.int64) + step[days - first]).view("datetime64[ns]")
        result[~present] = np.datetime64("NaT")
        return pd.Series(result, index=dates.index)
    n = (
        np.asarray(months, dtype=float)
        if isinstance(months, pd.Series)
        else np.full(len(days), float(months))
    )
    missing = ~present | np.isnan(n)
    out = _add_months_to_days(days, np.where(missing, 0, n).astype(np.int64))
    # times of day are kept for datetime columns
    time_of_day = stamps.view(np.int64) - days * NS_PER_DAY
    result = (out * NS_PER_DAY + time_of_day).view("datetime64[ns]")
    result[missing] = np.datetime64("NaT")
    return pd.Series(result, index=dates.index)


def _add_months_to_days(days: np.ndarray, months: np.ndarray) -> np.ndarray:
    """Day numbers plus whole calendar months, clipped to the month's end."""
    month = months_of_days(days)
    day = days - first_days(month)  # 0-based day of month
    target = month + months
    starts = first_days(np.concatenate([target, target + 1]))
    days_in_target = starts[len(target) :] - starts[: len(target)]
    out: np.ndarray = starts[: len(target)] + np.minimum(day, days_in_target - 1)
    return out
