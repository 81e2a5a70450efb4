"""A run: load an extract and a definition set, pick the periods, compute (``kpi compute``).

Kept apart from the engine so the engine stays pure (DataFrames in, DataFrame out) and the CLI
stays thin (options in, one call, rendering out).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from kpi_engine import contract, derived, engine
from kpi_engine.definitions import Definition, DefinitionSet
from kpi_engine.extract import Extract
from kpi_engine.periods import PeriodError, month_index, month_label, month_range, parse_month
from kpi_engine.prepared import load_extract
from kpi_engine.report.assess import compute_assessed
from kpi_engine.validation import DefinitionError, Problem


@dataclass(frozen=True)
class RunResult:
    """What a run produced, with what it needs to be reproduced."""

    results: pd.DataFrame
    """One row per indicator × period (× breakdown): engine.OUTPUT_COLUMNS."""
    definition_set: DefinitionSet
    definitions: tuple[Definition, ...]
    """The definitions computed (the set, or the requested subset), in order."""
    extract: Extract
    months: tuple[int, ...]

    @property
    def period_labels(self) -> list[str]:
        return [month_label(m) for m in self.months]


def select_definitions(
    definition_set: DefinitionSet, indicators: Sequence[str] | None
) -> list[Definition]:
    """The set's definitions, or just the requested ids (every unknown id is an error)."""
    if not indicators:
        return list(definition_set.definitions)
    known = set(definition_set.ids)
    unknown = [i for i in indicators if i not in known]
    if unknown:
        from kpi_engine.validation import closest

        problems = []
        for i in unknown:
            hint = closest(i, known)
            message = f"no indicator {i!r} in set {definition_set.name}"
            problems.append(
                Problem(
                    "--indicators",
                    None,
                    None,
                    "",
                    message + (f"; did you mean {hint!r}?" if hint else ""),
                )
            )
        raise DefinitionError(problems)
    wanted = set(indicators)
    return [d for d in definition_set.definitions if d.id in wanted]


def tables_needed(definitions: Sequence[Definition]) -> set[str]:
    """Every extract table the definitions could read (only these are loaded)."""
    needed: set[str] = set()
    for d in definitions:
        for spec in (d.numerator, d.denominator):
            if spec is None:
                continue
            table = spec.table or (d.denominator.table if d.denominator else None)
            if table is not None:
                needed |= set(derived.tables_needed(table))
    return needed


def columns_needed(definitions: Sequence[Definition]) -> dict[str, set[str]]:
    """Every extract column the definitions read, by table, with each table's key.

    A run loads only these: on a national extract the columns nobody reads (a child's
    ethnicity, an assessment's referral) cost as much to load and check as the rest. Keys
    are always loaded, so a repeated record is still an error rather than a double count.
    """
    needed: dict[str, set[str]] = {}
    for d in definitions:
        for table, columns in engine.columns_read(d).items():
            needed.setdefault(table, set()).update(columns)
    return with_keys(needed)


def with_keys(columns: dict[str, set[str]]) -> dict[str, set[str]]:
    """``columns`` (table → column names) with each table's key column added."""
    out = {table: set(names) for table, names in columns.items()}
    for table, names in out.items():
        key = contract.TABLES[table].key
        if key is not None:
            names.add(key)
    return out


def latest_complete_month(extract: Extract) -> int:
    """The default period: the last whole month before the extract was taken.

    From the manifest's extract_date; failing that, the month before the latest date found in
    the referrals table (or any date column).
    """
    when = extract.manifest.extract_date
    if when is not None:
        ts = pd.Timestamp(when)
        index = ts.year * 12 + ts.month - 1
        return index if ts.is_month_end else index - 1
    latest = extract.latest_date  # not after today: a stray future date cannot move it
    if latest is None:
        raise PeriodError("cannot tell the extract's date: give --period")
    return int(month_index(pd.Series([latest]))[0]) - 1


def resolve_months(
    extract: Extract, period: str | None, first: str | None, last: str | None
) -> list[int]:
    if period and (first or last):
        raise PeriodError("give either --period or --from/--to, not both")
    if first or last:
        if not (first and last):
            raise PeriodError("--from and --to go together")
        return month_range(first, last)
    if period:
        return [parse_month(period)]
    return [latest_complete_month(extract)]


def compute_run(
    extracts: Path,
    definition_set: DefinitionSet,
    *,
    indicators: Sequence[str] | None = None,
    period: str | None = None,
    first: str | None = None,
    last: str | None = None,
    progress: engine.Progress | None = None,
    partial_windows: bool = False,
) -> RunResult:
    """Load the extract (only the tables needed) and compute the requested periods.

    ``partial_windows`` reports windows reaching back before a table's first record (by
    default NO DATA, as each definition's ``window.partial`` says; kpi_engine.coverage).
    """
    definitions = select_definitions(definition_set, indicators)
    # dangling references are warnings that never change a figure: kpi validate reports them
    extract = load_extract(extracts, columns=columns_needed(definitions), references=False)
    months = resolve_months(extract, period, first, last)
    results = compute_assessed(
        extract,
        definitions,
        months,
        definition_set=definition_set.name,
        progress=progress,
        partial_windows=partial_windows,
    )
    return RunResult(results, definition_set, tuple(definitions), extract, tuple(months))
