"""The population file a user gives for per-10,000 rates: a small CSV of year, age, count."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kpi_engine.importers._common import ImportFailure

COLUMNS = ("year", "age", "count")


def read_population(path: Path) -> pd.DataFrame:
    """The mid-year estimates in ``path`` as the extract's population table.

    Raises :class:`ImportFailure` naming the file and, for each bad value, its line and column.
    """
    try:
        frame = pd.read_csv(path, dtype=str, skipinitialspace=True)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise ImportFailure(f"{path}: cannot be read as CSV ({e})") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ImportFailure(
            f"{path}: line 1: missing column(s) {', '.join(missing)} "
            f"(expected {', '.join(COLUMNS)}: one row per year and single year of age 0-17)"
        )
    problems = []
    out = pd.DataFrame(index=frame.index)
    for column in COLUMNS:
        values = pd.to_numeric(frame[column].str.strip(), errors="coerce")
        bad = values.isna()
        if column != "count":
            bad |= values.notna() & (values != values.round())
        if column == "age":
            bad |= ~values.between(0, 17)
        for line in (frame.index[bad.to_numpy()] + 2)[:10]:
            problems.append(f"line {line}: {column}: got {frame.at[line - 2, column]!r}")
        out[column] = values
    if problems:
        raise ImportFailure(f"{path}: " + "; ".join(problems))
    return out.astype({"year": "Int64", "age": "Int64", "count": "float64"})
