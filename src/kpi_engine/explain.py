"""Who is behind a figure (``kpi explain``): the records an indicator counts, and its figure.

The engine counts a numerator or denominator in one of three ways, and the figure explain
reports is counted from the listed records the same way, so it always equals ``kpi compute``'s:

- **rows**: each record counts 1 (referrals in the month);
- **distinct**: each person counts once however many records they have (``count: distinct``;
  CARE-LADDER lists 642 placements in 2016-03 but counts 628 children);
- **sum**: each record adds the value of an expression (B8 adds each case's weeks; a rate per
  10,000 adds the population ``count`` of each age row).

The listing (:func:`engine.members`) has one row per record. When the numerator is a subset of
the denominator (most measures) each denominator record is listed once, with ``in_numerator``
saying whether it is also in the numerator. When they come from different tables (a custody
rate per 1,000 of the population), each table's records are listed, flagged by the part they
count in. A sum adds a column with what each record adds (``numerator_adds``,
``denominator_adds``): the column's total is the figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kpi_engine import engine
from kpi_engine.definitions import Count, Definition
from kpi_engine.evaluate import evaluate
from kpi_engine.expressions import parse


@dataclass(frozen=True)
class Part:
    """A numerator or denominator as explain reports it."""

    value: float
    """The figure, as compute has it: a count of rows, of distinct people, or a sum."""
    records: int
    """How many listed records count in it."""
    counted: str
    """How: 'records', 'distinct child_id', 'sum of days_between(...) / 7'."""

    def __str__(self) -> str:
        value = f"{self.value:,.0f}" if float(self.value).is_integer() else f"{self.value:,.1f}"
        if self.counted == "records":
            return value
        return f"{value} ({self.counted} over {self.records:,} records)"


@dataclass(frozen=True)
class Explanation:
    """The records behind one indicator's figure for one period, and the figure from them."""

    records: pd.DataFrame
    """One row per record: indicator_id, period, in_numerator, in_denominator, its columns."""
    numerator: Part
    denominator: Part | None


def explain(extract: Any, definition: Definition, month: int) -> Explanation:
    """The records behind ``definition``'s figure for the period ending in ``month``.

    Raises :class:`engine.NoData` when the indicator cannot be computed.
    """
    d = definition
    records = engine.members(extract, d, month)  # NoData for a measure with no data source
    assert d.numerator is not None
    num_spec, den_spec = d.numerator, d.denominator
    # a subset numerator without its own 'count' counts as its denominator does (as engine)
    subset = num_spec.is_subset and num_spec.count is None and den_spec is not None
    counting = den_spec if subset and den_spec is not None else num_spec
    numerator = _part(records, "in_numerator", num_spec, counting, "numerator_adds")
    denominator = (
        _part(records, "in_denominator", den_spec, den_spec, "denominator_adds")
        if den_spec is not None
        else None
    )
    return Explanation(records, numerator, denominator)


def _part(records: pd.DataFrame, flag: str, spec: Count, counting: Count, adds: str) -> Part:
    """Count the flagged records as the engine's ``_measure`` does (and note what each adds)."""
    chosen = records[flag].to_numpy(dtype=bool)
    rows = records[chosen]
    if spec.sum is not None:
        values = pd.to_numeric(evaluate(parse(spec.sum), rows), errors="coerce")
        amounts = np.nan_to_num(np.asarray(values, dtype=float))
        column = np.full(len(records), np.nan)
        column[chosen] = amounts
        records[adds] = column
        return Part(float(amounts.sum()), len(rows), f"sum of {' '.join(spec.sum.split())}")
    if counting.count == "distinct":
        key = counting.key or "child_id"
        return Part(float(rows[key].nunique(dropna=True)), len(rows), f"distinct {key}")
    return Part(float(len(rows)), len(rows), "records")
