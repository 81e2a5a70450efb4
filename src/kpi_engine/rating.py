"""Rating a value against its definition: the one place rounding and rating rules live.

Rules (docs/indicators.md, seed 001 Appendix B key):
- The value is rounded to the definition's reported precision first, half away from zero
  (as a spreadsheet does), and the *rounded* value is rated: 24.6% reported as 25% meets a
  target of 25%.
- Boundaries are inclusive: D17e "target >2" with performance 2 is ON TARGET.
- Year-1 style: at or better than target is ON TARGET; else at or better than tolerance is
  IN TOLERANCE; else OFF TARGET. A two-sided band (A5 "between 5 and 20%") also puts values
  below its lower bound OFF TARGET.
- Year-2 style: green / amber thresholds map to the same three statuses.
- No target (TBC) is NO TARGET SET; no value (a zero denominator, an absent table) is NO DATA.
"""

from __future__ import annotations

from enum import Enum

import numpy as np

from kpi_engine.definitions import Definition, Polarity, Rating


class RatingStatus(Enum):
    on_target = "ON TARGET"
    in_tolerance = "IN TOLERANCE"
    off_target = "OFF TARGET"
    no_target = "NO TARGET SET"
    no_data = "NO DATA"

    @property
    def rag(self) -> str:
        return _RAG.get(self, "")


_RAG = {
    RatingStatus.on_target: "Green",
    RatingStatus.in_tolerance: "Amber",
    RatingStatus.off_target: "Red",
}


def round_reported(values: np.ndarray, places: int) -> np.ndarray:
    """Round half away from zero to ``places`` decimals (NaN stays NaN).

    numpy and Python round half to even (12.5 → 12), which is not how a published figure
    is rounded; the small epsilon absorbs binary representation error (0.285 * 100).
    """
    scale = 10.0**places
    scaled = np.asarray(values, dtype=float) * scale
    return np.sign(scaled) * np.floor(np.abs(scaled) + 0.5 + 1e-9) / scale


def rate_values(values: np.ndarray, rating: Rating, polarity: Polarity) -> list[RatingStatus]:
    """Rate already-rounded values; NaN is NO DATA."""
    values = np.asarray(values, dtype=float)
    statuses = np.full(values.shape, RatingStatus.no_data, dtype=object)
    present = ~np.isnan(values)
    if not rating.has_target:
        statuses[present] = RatingStatus.no_target
        return list(statuses)
    sign = 1.0 if polarity is Polarity.higher_is_better else -1.0

    def at_or_better(threshold: float) -> np.ndarray:
        # for lower-is-better, v <= t  ⟺  -v >= -t
        return np.asarray(sign * values >= sign * threshold)

    if rating.green is not None and rating.amber is not None:
        good, tolerable = at_or_better(rating.green), at_or_better(rating.amber)
        in_band = np.ones(values.shape, dtype=bool)
    else:
        assert rating.target is not None
        tolerance = rating.tolerance if rating.tolerance is not None else rating.target
        good, tolerable = at_or_better(rating.target), at_or_better(tolerance)
        lower = rating.lower_bound
        in_band = values >= lower if lower is not None else np.ones(values.shape, dtype=bool)
    statuses[present] = RatingStatus.off_target
    statuses[present & tolerable & in_band] = RatingStatus.in_tolerance
    statuses[present & good & in_band] = RatingStatus.on_target
    return list(statuses)


def rate(value: float | None, definition: Definition) -> RatingStatus:
    """Round and rate one value of ``definition``."""
    v = np.array([np.nan if value is None else value], dtype=float)
    return rate_values(
        round_reported(v, definition.rounding), definition.rating, definition.polarity
    )[0]


def threshold_columns(definition: Definition) -> tuple[float | None, float | None]:
    """The (target, tolerance) pair shown in scorecards: green/amber for year-2 ratings."""
    r = definition.rating
    if r.green is not None:
        return r.green, r.amber
    if r.target is not None:
        return r.target, r.tolerance if r.tolerance is not None else r.target
    return None, None
