"""Statistical process control: telling a real change from noise (NHS "Making Data Count").

The method, as NHS England's Making Data Count guidance and its reference implementation
(NHS-R Community's NHSRplotthedots, whose unit tests are the published worked examples this
module is tested against) apply it to a monthly measure:

- **XmR chart.** The *mean* of the values; the *moving ranges* ``|x[i] - x[i-1]|`` and their
  mean ``MR̄``. Moving ranges above ``3.267 × MR̄`` (the upper limit of the moving-range chart)
  are screened out and ``MR̄`` recomputed, so one wild month does not widen the limits. The
  *process limits* are ``mean ± 2.66 × MR̄`` (2.66 = 3 / 1.128: three sigma, sigma estimated
  from the moving range); "near a limit" is beyond ``mean ± 2 sigma`` (the outer third).
- **Special-cause rules**, each marking the points that make it up:
  1. a point outside the process limits;
  2. a *shift*: a run of :data:`RUN_LENGTH` (7) or more points on one side of the mean (a point
     on the mean breaks the run);
  3. a *trend*: :data:`TREND_LENGTH` (7) or more points each higher (or each lower) than the
     one before (an equal value breaks it);
  4. two of three consecutive points beyond 2 sigma on the same side of the mean.
- **Variation icon**, from the latest point: *common cause* when no rule marks it; otherwise
  *special cause improving* when it sits on the better side of the mean for the measure's
  polarity, else *special cause concerning* (the side of the mean decides, as NHSRplotthedots
  does).
- **Assurance icon**, from the process limits against the target: *consistently met* when the
  whole range between the limits meets the target (boundaries inclusive, as in rating);
  *consistently missed* when none of it does; *hit and miss* when the target lies between them.
  No target: no assurance.
- **Minimum history**: :data:`MIN_POINTS` (12) values, NHSRplotthedots' threshold for limits it
  does not warn about; fewer and the measure gets no variation and no assurance. Only monthly
  measures are charted: a quarterly measure would need three years for 12 points.

Pure numpy on one series: no pandas, no definitions, so every rule can be worked by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from kpi_engine.definitions import Polarity

MIN_POINTS = 12
"""Fewest values with which limits are drawn and icons given."""

RUN_LENGTH = 7
"""Points in a row on one side of the mean that make a shift."""

TREND_LENGTH = 7
"""Points in a row each higher (or lower) than the last that make a trend."""

LIMIT_FACTOR = 2.66
"""Process limits: mean ± 2.66 × mean moving range (3 sigma; sigma = MR̄ / 1.128)."""

SCREEN_FACTOR = 3.267
"""Moving ranges above 3.267 × MR̄ (the moving-range chart's upper limit) are screened out."""


class Variation(Enum):
    """The variation icon (empty: too little history)."""

    common_cause = "common cause"
    improving = "special cause improving"
    concerning = "special cause concerning"
    none = ""


class Assurance(Enum):
    """The assurance icon (empty: no target, or too little history)."""

    met = "consistently met"
    missed = "consistently missed"
    hit_and_miss = "hit and miss"
    none = ""


@dataclass(frozen=True)
class Limits:
    """An XmR chart's centre line and process limits."""

    mean: float
    lower: float
    upper: float
    sigma: float


@dataclass(frozen=True)
class Chart:
    """One series judged: its limits, which points each rule marks, and the two icons."""

    limits: Limits | None
    """None with fewer than MIN_POINTS values."""
    outside: np.ndarray
    """Rule 1: the point is outside the process limits."""
    shift: np.ndarray
    """Rule 2: the point is part of a run of RUN_LENGTH on one side of the mean."""
    trend: np.ndarray
    """Rule 3: the point is part of a trend of TREND_LENGTH."""
    near_limit: np.ndarray
    """Rule 4: the point is one of two (or three) of three beyond 2 sigma, same side."""
    variation: Variation
    assurance: Assurance

    @property
    def special(self) -> np.ndarray:
        """Points any rule marks."""
        marked: np.ndarray = self.outside | self.shift | self.trend | self.near_limit
        return marked


def limits(values: np.ndarray) -> Limits:
    """The XmR limits of ``values`` (no NaN; at least two)."""
    x = np.asarray(values, dtype=float)
    moving = np.abs(np.diff(x))
    mr_bar = float(moving.mean())
    kept = moving[moving <= SCREEN_FACTOR * mr_bar + 1e-12]
    if len(kept):
        mr_bar = float(kept.mean())
    mean = float(x.mean())
    half = LIMIT_FACTOR * mr_bar
    return Limits(mean, mean - half, mean + half, half / 3)


def _runs(flags: np.ndarray, length: int) -> np.ndarray:
    """Mark every element of each run of at least ``length`` consecutive True values."""
    padded = np.concatenate(([False], np.asarray(flags, dtype=bool), [False])).astype(np.int8)
    edges = np.diff(padded)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    keep = ends - starts >= length
    # +1 where a long run starts, -1 where it ends: the running sum is 1 inside long runs
    delta = np.zeros(len(flags) + 1, dtype=np.int64)
    np.add.at(delta, starts[keep], 1)
    np.add.at(delta, ends[keep], -1)
    inside: np.ndarray = np.cumsum(delta[:-1]) > 0
    return inside


def shift_points(x: np.ndarray, mean: float) -> np.ndarray:
    """Rule 2: points in a run of RUN_LENGTH or more strictly above, or strictly below, the mean."""
    marked: np.ndarray = _runs(x > mean, RUN_LENGTH) | _runs(x < mean, RUN_LENGTH)
    return marked


def trend_points(x: np.ndarray) -> np.ndarray:
    """Rule 3: points in a run of TREND_LENGTH or more each strictly above (or below) the last.

    A step is "up" between points i-1 and i; a trend of n points is n-1 steps in a row, and
    marks both ends of every step.
    """
    out = np.zeros(len(x), dtype=bool)
    steps = np.diff(x)
    for up in (steps > 0, steps < 0):
        in_run = _runs(up, TREND_LENGTH - 1)
        out[1:] |= in_run
        out[:-1] |= in_run
    return out


def near_limit_points(x: np.ndarray, mean: float, sigma: float) -> np.ndarray:
    """Rule 4: in any three consecutive points, two or more beyond 2 sigma on the same side
    mark those (the third, inside, is not marked)."""
    out = np.zeros(len(x), dtype=bool)
    for beyond in (x > mean + 2 * sigma, x < mean - 2 * sigma):
        if len(x) < 3:
            continue
        counts = beyond[:-2].astype(int) + beyond[1:-1] + beyond[2:]
        window = counts >= 2
        for offset in range(3):
            covered = np.zeros(len(x), dtype=bool)
            covered[offset : offset + len(window)] = window
            out |= covered & beyond
    return out


def variation_of(x: np.ndarray, special: np.ndarray, mean: float, polarity: Polarity) -> Variation:
    """The icon for the latest point."""
    if not special[-1]:
        return Variation.common_cause
    above = x[-1] > mean
    better_above = polarity is Polarity.higher_is_better
    return Variation.improving if above == better_above and x[-1] != mean else Variation.concerning


def assurance_of(
    lim: Limits, target: float | None, polarity: Polarity, lower_bound: float | None = None
) -> Assurance:
    """Where the target sits against the limits (inclusive, as rating is).

    The values that meet the target are ``[target, ∞)`` when higher is better and
    ``(-∞, target]`` when lower is better, cut below at ``lower_bound`` for two-sided bands.
    """
    if target is None or np.isnan(target):
        return Assurance.none
    low, high = (target, np.inf) if polarity is Polarity.higher_is_better else (-np.inf, target)
    if lower_bound is not None:
        low = max(low, lower_bound)
    if low <= lim.lower and lim.upper <= high:
        return Assurance.met
    if lim.upper < low or lim.lower > high:
        return Assurance.missed
    return Assurance.hit_and_miss


def judge(
    values: np.ndarray,
    polarity: Polarity,
    target: float | None = None,
    lower_bound: float | None = None,
) -> Chart:
    """Judge a series (oldest first). Missing values (NaN) are left out: the rules run over the
    values present, in order, as an MDC chart skips a missing month; the rule arrays are over
    the whole series (False where a value is missing)."""
    series = np.asarray(values, dtype=float)
    present = ~np.isnan(series)
    x = series[present]

    def spread(flags: np.ndarray) -> np.ndarray:
        out = np.zeros(len(series), dtype=bool)
        out[present] = flags
        return out

    if len(x) < MIN_POINTS:
        none = spread(np.zeros(len(x), dtype=bool))
        return Chart(None, none, none, none, none, Variation.none, Assurance.none)
    lim = limits(x)
    outside = (x > lim.upper) | (x < lim.lower)
    shift = shift_points(x, lim.mean)
    trend = trend_points(x)
    near = near_limit_points(x, lim.mean, lim.sigma)
    special = outside | shift | trend | near
    return Chart(
        lim,
        spread(outside),
        spread(shift),
        spread(trend),
        spread(near),
        variation_of(x, special, lim.mean, polarity),
        assurance_of(lim, target, polarity, lower_bound),
    )
