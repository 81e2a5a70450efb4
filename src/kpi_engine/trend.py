"""The scorecard's 6-month trend: improving, stable or declining, judged by polarity.

The rule (documented for the cron job's readers in docs/cron.md, "The 6-month trend"):

- **Compare** the latest reported value with the *reference*: the mean of the definition's own
  reported values for the periods ending in the six months before the latest period (six monthly
  values; two quarterly values). The mean rather than the single value six months earlier
  because local figures rest on a few dozen children: one unusual month six months back would
  flip the arrow, while the mean of six is a steadier "where we were" and survives one missing
  month.
- **Band**: a difference within the band is noise, and *stable*. Percentages: 2 percentage
  points. Every other unit (rates, means, ratios, counts, pounds): 5% of the reference, but never
  less than one reporting step (1 for a figure reported to 0 decimals, 0.1 to 1 decimal), so small
  counts and a zero reference do not turn every change into a trend. The band edge is stable
  (boundaries inclusive, as in rating).
- **Direction**: beyond the band, a rise is *improving* when higher is better and *declining*
  when lower is better; a fall the reverse.
- **No data**: no latest value, fewer than half of the reference periods with a value, or no
  reference periods at all (annual measures) → blank, never a guess. A NO DATA period (one the
  extract does not cover, a zero denominator) has no value here: it is never judged, never a
  zero that "improves".

Values are the reported (rounded) figures, the same ones the scorecard prints.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import Enum

from kpi_engine.definitions import Frequency, Polarity, Unit

TREND_MONTHS = 6
"""How far back the reference reaches, in months."""

PERCENT_BAND = 2.0
"""Percentages: a change of up to 2 percentage points is stable."""

RELATIVE_BAND = 0.05
"""Other units: a change of up to 5% of the reference is stable."""

_EDGE = 1e-9  # absorbs binary error so that a difference exactly on the band edge is stable


class Trend(Enum):
    """A 6-month trend as the scorecard writes it (no data is an empty cell)."""

    improving = "improving"
    stable = "stable"
    declining = "declining"
    no_data = ""


def band(unit: Unit, reference: float, rounding: int) -> float:
    """The largest difference from ``reference`` that is still *stable*."""
    if unit is Unit.percent:
        return PERCENT_BAND
    step = 10.0 ** (-rounding)
    return max(RELATIVE_BAND * abs(reference), step)


def reference_periods(latest_end: int, frequency: Frequency) -> list[int]:
    """Month indices of the periods whose values make the reference, oldest first.

    The periods of ``frequency`` ending in the ``TREND_MONTHS`` months before ``latest_end``.
    """
    step = frequency.months
    if step > TREND_MONTHS:
        return []
    return list(range(latest_end - TREND_MONTHS, latest_end, step))


def _present(value: float | None) -> bool:
    return value is not None and not math.isnan(value)


def reference_value(previous: Sequence[float | None]) -> float | None:
    """The mean of the reference periods' values, or None when fewer than half have one."""
    values = [float(v) for v in previous if v is not None and _present(v)]
    if not previous or 2 * len(values) < len(previous):
        return None
    return math.fsum(values) / len(values)


def judge(
    latest: float | None,
    previous: Sequence[float | None],
    unit: Unit,
    polarity: Polarity,
    rounding: int,
) -> Trend:
    """The trend of ``latest`` against ``previous`` (one entry per reference period, None when
    that period has no value)."""
    if latest is None or not _present(latest):
        return Trend.no_data
    reference = reference_value(previous)
    if reference is None:
        return Trend.no_data
    difference = float(latest) - reference
    if abs(difference) <= band(unit, reference, rounding) + _EDGE:
        return Trend.stable
    rose = difference > 0
    if rose == (polarity is Polarity.higher_is_better):
        return Trend.improving
    return Trend.declining


def describe_rule() -> str:
    """The rule in one sentence, for the run metadata."""
    return (
        f"latest value against the mean of the periods ending in the {TREND_MONTHS} months "
        f"before it (at least half present); stable within {PERCENT_BAND:g} percentage points "
        f"for percentages, else within {RELATIVE_BAND:.0%} of the mean and at least one reporting "
        "step; beyond that improving or declining by polarity; blank without data"
    )
