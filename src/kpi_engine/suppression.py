"""Publication mode (``--publish``): small numbers suppressed before a figure leaves the building.

The rule, applied to a result frame (``kpi compute``, the long scorecard) and through it to the
wide scorecard and the report:

1. **Primary suppression.** A count from 1 to 5 (a numerator or denominator that counts rows or
   children; sums such as FTE, days or pounds are not counts) is suppressed and written ``[c]``.
   Zero is shown: it identifies nobody.
2. **Figures from suppressed counts.** A value computed from a suppressed numerator or
   denominator is suppressed (a rate and its denominator would give the count back); a count
   measure's value is its numerator.
3. **Secondary suppression.** An indicator's own row and its breakdown rows for one period are
   a total and its parts: ``total = sum(parts)``, for numerators and denominators (per-group
   breakdowns), or the parts' numerators adding up to the total's denominator (share
   breakdowns such as A3's grades, whose total numerator is then hidden with any part). If
   exactly one cell of such a sum is suppressed it could be recovered by subtraction, so the
   smallest shown part (a non-zero one first; the total when no part is left) is suppressed
   too, until no sum has exactly one unknown. Step 2 then follows from the hidden counts.

What it does not cover: relations *between periods* (a quarter's count as the sum of its months,
the difference of two rolling windows). The report and the scorecard show values, not the
monthly numerators, so those sums are not laid out side by side; the numbers still carry
that risk in a long multi-period output, which is why the rule is named in the output.

Without ``--publish`` nothing is suppressed. Ratings, trends and SPC icons are kept: they say
which band a figure is in, never the figure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from kpi_engine.definitions import Count, Definition
from kpi_engine.scorecard import QUARTER_COLUMNS, Scorecard, ScorecardRun, quarterly_variant

MARK = "[c]"
"""How a suppressed cell is written (the DfE's mark for confidential figures)."""

SMALLEST, LARGEST = 1, 5
"""Counts in this range (inclusive) are suppressed."""

RULE = (
    "Publication mode: counts from 1 to 5 are suppressed and shown as [c]; figures computed "
    "from a suppressed count are suppressed; where a total and its breakdown would let a "
    "suppressed cell be found by subtraction, the smallest other cell is suppressed too."
)
"""The rule, as named in every published output."""

NOTE = "[c]: counts 1-5 suppressed, with rates from them and cells that would reveal them"
"""Appended to ``note`` on a published row that has a suppressed cell."""

_FIGURES = ("numerator", "denominator", "value")


def is_counted(spec: Count | None) -> bool:
    """Whether a numerator or denominator counts rows or children (not a sum of a quantity)."""
    return spec is not None and spec.sum is None


def _primary(frame: pd.DataFrame, definitions: Iterable[Definition]) -> dict[str, np.ndarray]:
    counted_num: dict[str, bool] = {}
    counted_den: dict[str, bool] = {}
    for d in definitions:
        h = d.content_hash()
        counted_num[h] = is_counted(d.numerator)
        counted_den[h] = is_counted(d.denominator)
    hashes = frame["definition_hash"]
    small: dict[str, np.ndarray] = {}
    for column, counted in (("numerator", counted_num), ("denominator", counted_den)):
        values = frame[column].to_numpy(dtype=float)
        is_count = np.array([counted.get(h, False) for h in hashes], dtype=bool)
        small[column] = is_count & (values >= SMALLEST) & (values <= LARGEST)
    return small


def _protect(
    total: tuple[np.ndarray, int], parts: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> None:
    """Make sure the sum ``total = sum(parts)`` never has exactly one hidden cell, hiding more
    cells in place: the smallest non-zero shown part first, then any part, then the total.

    ``total`` is (hidden, row) and ``parts`` (values, hidden, rows): the total and its parts
    may be different columns (a share breakdown's parts add up to the denominator).
    """
    t_hidden, t_row = total
    p_values, p_hidden, p_rows = parts
    while int(t_hidden[t_row]) + int(p_hidden[p_rows].sum()) == 1:
        shown = p_rows[~p_hidden[p_rows] & ~np.isnan(p_values[p_rows])]
        if len(shown) == 0:
            t_hidden[t_row] = True
            continue
        positive = shown[p_values[shown] > 0]
        pool = positive if len(positive) else shown
        p_hidden[pool[np.argmin(p_values[pool])]] = True


def _secondary(
    frame: pd.DataFrame, hidden: dict[str, np.ndarray], definitions: Iterable[Definition]
) -> None:
    """Secondary suppression between each indicator's own row and its breakdown rows.

    Per-group breakdowns: parts' numerators add up to the total's numerator, and denominators
    to its denominator. Share breakdowns (A3: each grade's share of all audits): parts'
    numerators add up to the total's *denominator*; the total's numerator is the sum of the
    parts its filter keeps, which cannot be read off the frame, so it is hidden whenever a
    part is (its own value with it).
    """
    shares = {
        d.content_hash()
        for d in definitions
        if d.breakdown is not None and d.breakdown.denominator == "total"
    }
    num = frame["numerator"].to_numpy(dtype=float)
    den = frame["denominator"].to_numpy(dtype=float)
    hide_num, hide_den = hidden["numerator"], hidden["denominator"]
    is_part = (frame["breakdown"] != "").to_numpy()
    keys = ["indicator_id", "definition_hash", "period"]
    # one total and its parts per indicator and period: a loop over output cells, not case rows
    for key, positions in frame.groupby(keys, sort=False).indices.items():
        rows = np.asarray(positions)
        totals, parts = rows[~is_part[rows]], rows[is_part[rows]]
        if len(totals) != 1 or len(parts) == 0:
            continue
        total = int(totals[0])
        if str(key[1]) in shares:  # type: ignore[index]  # (id, hash, period)
            _protect((hide_den, total), (num, hide_num, parts))
            hide_num[total] |= bool(hide_num[parts].any())
        else:
            _protect((hide_num, total), (num, hide_num, parts))
            _protect((hide_den, total), (den, hide_den, parts))


def _cell(value: object, empty: object = None) -> object:
    """A shown figure as a plain number (23, not 23.0, in a column that also holds [c]);
    ``empty`` for a missing one."""
    v = float(value)  # type: ignore[arg-type]
    if np.isnan(v):
        return empty
    return int(v) if v.is_integer() else v


def publish_frame(frame: pd.DataFrame, definitions: Sequence[Definition]) -> pd.DataFrame:
    """``frame`` (engine.OUTPUT_COLUMNS) with small counts, the figures from them and the cells
    that would reveal them written ``[c]``, and :data:`NOTE` added to those rows' ``note``."""
    if len(frame) == 0:
        return frame.copy()
    hidden = _primary(frame, definitions)
    _secondary(frame, hidden, definitions)
    # a count measure's value is its numerator; any other value is computed from both
    hidden["value"] = hidden["numerator"] | hidden["denominator"]
    out = frame.copy()
    any_hidden = np.zeros(len(frame), dtype=bool)
    for column in _FIGURES:
        cells = np.array([_cell(v) for v in frame[column]], dtype=object)
        cells[hidden[column]] = MARK
        out[column] = pd.Series(cells, index=frame.index, dtype=object)
        any_hidden |= hidden[column]
    notes = out["note"].to_numpy(dtype=object, copy=True)
    notes[any_hidden] = [f"{n}; {NOTE}" if n else NOTE for n in notes[any_hidden]]
    out["note"] = notes
    return out


def publish_scorecard(scorecard: Scorecard) -> Scorecard:
    """A :class:`~kpi_engine.scorecard.Scorecard` with its long frame published and every wide
    cell (baseline, quarters, latest) whose long row's value is ``[c]`` written ``[c]``."""
    definitions = list(scorecard.definition_set.definitions)
    hashes = dict(scorecard.quarter_hashes)
    variants = [v for d in definitions if (v := quarterly_variant(d)) is not None]
    long = publish_frame(scorecard.long, [*definitions, *variants])
    own = long[long["breakdown"] == ""]
    suppressed = {
        (str(h), str(p))
        for h, p, v in zip(own["definition_hash"], own["period"], own["value"], strict=True)
        if v == MARK
    }
    wide = scorecard.wide.copy()
    columns = ["baseline", *QUARTER_COLUMNS, "latest"]
    cells = {c: np.array([_cell(v, np.nan) for v in wide[c]], dtype=object) for c in columns}
    periods = {q.column: q.period for q in scorecard.quarters}
    notes = wide["note"].to_numpy(dtype=object, copy=True)
    for i, d in enumerate(definitions):
        h = d.content_hash()
        row = wide.iloc[i]
        wanted = {
            "baseline": (h, str(row["baseline_period"])),
            "latest": (h, str(row["latest_period"])),
            **{c: (hashes.get(d.id, h), periods[c]) for c in QUARTER_COLUMNS},
        }
        for column, key in wanted.items():
            if key in suppressed:
                cells[column][i] = MARK
                notes[i] = (
                    NOTE
                    if not notes[i]
                    else notes[i]
                    if NOTE in notes[i]
                    else f"{notes[i]}; {NOTE}"
                )
    for column in columns:
        wide[column] = pd.Series(cells[column], index=wide.index, dtype=object)
    wide["note"] = notes
    return dataclasses.replace(scorecard, wide=wide, long=long)


def publish_run(run: ScorecardRun) -> ScorecardRun:
    """A scorecard run with its scorecard published (:func:`publish_scorecard`)."""
    return dataclasses.replace(run, scorecard=publish_scorecard(run.scorecard))
