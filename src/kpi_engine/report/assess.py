"""The ``variation`` and ``assurance`` columns: SPC icons for every monthly row of a result.

One function, :func:`add_assessment`, decides them for ``kpi compute``, ``kpi scorecard`` and
``kpi report``, so a CSV and the report never disagree. Each row is judged on its own series
(indicator, definition hash, breakdown) over the :data:`SPC_MONTHS` months ending at its period;
:func:`compute_assessed` computes those history months in the same engine pass (the engine
counts every month at once, so history costs little) and keeps only the rows asked for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from kpi_engine import engine
from kpi_engine.definitions import Definition, DefinitionSet, Frequency
from kpi_engine.periods import parse_month, periods_for
from kpi_engine.report import spc

SPC_MONTHS = 24
"""The months an SPC judgement looks back over, the judged month included (the report's
default chart length, so the chart shows exactly the points the icons come from)."""


def history_months(months: Iterable[int]) -> list[int]:
    """Every month from SPC_MONTHS - 1 before the first requested one to the last."""
    wanted = sorted(set(months))
    if not wanted:
        return []
    return list(range(wanted[0] - SPC_MONTHS + 1, wanted[-1] + 1))


SERIES_KEYS = ["indicator_id", "definition_hash", "breakdown"]
"""What makes one series: a definition (its hash tells a scorecard's quarterly copy apart) and
a breakdown value."""


def add_assessment(
    frame: pd.DataFrame, definitions: Sequence[Definition], *, rows: np.ndarray | None = None
) -> pd.DataFrame:
    """``frame`` (engine output) with ``variation`` and ``assurance`` decided for ``rows`` (a
    boolean mask; default every row) from the rows of the same series in ``frame``.

    Only monthly measures are judged; a row with fewer than spc.MIN_POINTS values in its window,
    without a value, or of a quarterly or annual measure, keeps empty cells. Assurance needs a
    target: rows reported but not rated (NO TARGET SET, a breakdown's share) have none.
    """
    by_hash = {d.content_hash(): d for d in definitions}
    variation = np.full(len(frame), "", dtype=object)
    assurance = np.full(len(frame), "", dtype=object)
    judge_row = np.ones(len(frame), dtype=bool) if rows is None else np.asarray(rows, dtype=bool)
    months = np.array([parse_month(p) for p in frame["period"]], dtype=np.int64)
    values = frame["value"].to_numpy(dtype=float)
    targets = frame["target"].to_numpy(dtype=float)
    rated = (frame["status"] != "NO TARGET SET").to_numpy()
    # series are a few dozen per run, each a few dozen months: a loop over series, not rows
    for key, positions in frame.groupby(SERIES_KEYS, sort=False).indices.items():
        d = by_hash.get(str(key[1]))  # type: ignore[index]  # the key is a (id, hash, breakdown)
        index = np.asarray(positions)
        if d is None or d.frequency is not Frequency.monthly:
            continue
        m, v = months[index], values[index]
        for i in np.flatnonzero(judge_row[index] & ~np.isnan(v)).tolist():
            window = (m > m[i] - SPC_MONTHS) & (m <= m[i])
            order = np.argsort(m[window], kind="stable")
            row = int(index[i])
            target = float(targets[row]) if rated[row] else None
            chart = spc.judge(v[window][order], d.polarity, target, d.rating.lower_bound)
            variation[row] = chart.variation.value
            assurance[row] = chart.assurance.value
    return frame.assign(variation=variation, assurance=assurance)


def compute_assessed(
    extract: Any,
    definitions: DefinitionSet | Sequence[Definition],
    months: Sequence[int],
    *,
    definition_set: str | None = None,
    progress: engine.Progress | None = None,
    partial_windows: bool = False,
    extract_date: dt.date | None = None,
) -> pd.DataFrame:
    """:func:`engine.compute` for ``months``, with ``variation`` and ``assurance`` filled in.

    The same rows as ``engine.compute(extract, definitions, months)``: the history months are
    computed in the same pass, used for the judgement, then dropped.
    """
    if isinstance(definitions, DefinitionSet):
        definition_set = definition_set or definitions.name
        defs = list(definitions.definitions)
    else:
        defs = list(definitions)
    wanted = sorted(set(months))
    if not wanted:
        return engine.compute(
            extract,
            defs,
            wanted,
            definition_set=definition_set,
            partial_windows=partial_windows,
            extract_date=extract_date,
        )
    frame = engine.compute(
        extract,
        defs,
        history_months(wanted),
        definition_set=definition_set,
        progress=progress,
        partial_windows=partial_windows,
        extract_date=extract_date,
    )
    # the rows engine.compute(months) reports: each definition's periods for the wanted months
    labels = {d.content_hash(): {p.label for p in periods_for(wanted, d.frequency)} for d in defs}
    keep = np.fromiter(
        (p in labels[h] for h, p in zip(frame["definition_hash"], frame["period"], strict=True)),
        dtype=bool,
        count=len(frame),
    )
    assessed = add_assessment(frame, defs, rows=keep)
    return assessed[keep].reset_index(drop=True)
