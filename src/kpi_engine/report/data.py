"""What the board report shows, gathered: the scorecard, each measure's monthly series and SPC
chart, its benchmark, and where the figures came from.

Two engine passes over one loaded extract: the corporate scorecard (its baseline, quarters,
latest month, 6-month trend and the ``variation``/``assurance`` columns), and the last
``months`` months of every measure for the charts (the SPC window's 24, if more). The chart's
limits come from :func:`spc.judge` on the same 24 months that
:mod:`kpi_engine.report.assess` judged for the scorecard's columns, so picture and CSV agree.

Nothing here lists children: the report holds aggregate figures only (``kpi explain``, which
names children, is never called), and extract warnings are counted by file and field, never
quoted (a warning's message can carry a child's id).
"""

from __future__ import annotations

import csv
import hashlib
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kpi_engine import engine
from kpi_engine.definitions import Definition, DefinitionSet, Frequency, Group, Polarity, Status
from kpi_engine.periods import month_label, parse_month
from kpi_engine.report import spc
from kpi_engine.report.assess import SPC_MONTHS
from kpi_engine.scorecard import Benchmarks, Scorecard, ScorecardRun, scorecard_run

DEFAULT_MONTHS = SPC_MONTHS
"""Months in each trend chart by default (two years: the SPC window)."""

STALE_YEARS = 2
"""A benchmark this many years or more from the period's financial year is shown as dated."""

# --- sections -------------------------------------------------------------------------------------

SECTIONS = (
    "Children in need",
    "Child protection",
    "Children in care",
    "Care leavers",
    "Workforce",
    "Finance",
    "Youth justice",
)
"""The report's sections, in the seed's order (seed 001 lines 1640-1666: the contract measures
"relating to the social care pathway for Children in Need", child protection A4-A7, "Children
in Care and Care Leavers" B8-B12; the scorecard's workforce and finance blocks, lines 1745 and
1758; youth offending, line 1726, reported here as youth justice, after them as in the year-2
contract measures, lines 1924-1926)."""

_CHILD_PROTECTION = {"A4", "A4-2016", "A5", "A6", "A7", "CPP-RATE", "CP-VISITS"}
_CARE_LEAVERS = {"B11", "B12", "B11-2016", "B12-2016"}
_BY_GROUP = {
    Group.children_in_need: "Children in need",
    Group.children_in_care: "Children in care",
    Group.youth_offending: "Youth justice",
    Group.workforce: "Workforce",
    Group.finance: "Finance",
}


def section_of(d: Definition) -> str:
    """The report section of a measure: child protection and care leavers are split from the
    definitions' broader groups by id (the seed's own headings), the rest follow the group."""
    base = d.id.split("-2016")[0] if d.id.endswith("-2016") else d.id
    if d.id in _CHILD_PROTECTION or base in _CHILD_PROTECTION:
        return "Child protection"
    if d.id in _CARE_LEAVERS or base in _CARE_LEAVERS:
        return "Care leavers"
    return _BY_GROUP[d.group]


# --- benchmarks -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Benchmark:
    """A measure's comparison figure, with where and when it is from."""

    value: float
    year: int | None
    """The benchmark's year (the year ending 31 March, as DfE publishes); None for a seed figure."""
    source: str
    """``England 2025, dfe-analytical-services/CSC_outcomes_and_enablers`` or the seed."""
    stale_years: int | None
    """Years between the benchmark and the period's financial year, when STALE_YEARS or more."""
    quartile: str | None
    """``A`` (best quarter of authorities) to ``D``, when the file gives quartile boundaries."""


def _benchmark_rows(path: Path) -> dict[tuple[str, int], dict[str, str]]:
    """The benchmarks file's rows by (indicator, year): source and optional quartile columns
    (``lower_quartile``, ``median``, ``upper_quartile``), beside what scorecard.py reads."""
    rows: dict[tuple[str, int], dict[str, str]] = {}
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            try:
                rows[(row["indicator"].strip(), int(row["year"]))] = row
            except (KeyError, TypeError, ValueError):
                continue  # scorecard.load_benchmarks has already rejected a malformed file
    return rows


def _quartile(value: float, row: Mapping[str, str], polarity: Polarity) -> str | None:
    try:
        bounds = [float(row[k]) for k in ("lower_quartile", "median", "upper_quartile")]
    except (KeyError, TypeError, ValueError):
        return None
    above = sum(value >= b for b in bounds)  # 0..3 boundaries at or below the value
    rank = 3 - above if polarity is Polarity.higher_is_better else above
    return "ABCD"[rank]


def number(value: object) -> float:
    """A cell as a float: NaN for an empty or suppressed (``[c]``) cell."""
    if value is None or isinstance(value, str):
        return math.nan
    return float(value)  # type: ignore[arg-type]


def financial_year(month: int) -> int:
    """The year a month's financial year ends in (April 2015 to March 2016: 2016)."""
    year, m = divmod(month, 12)
    return year + 1 if m >= 3 else year


def benchmark_for(
    d: Definition, wide: Mapping[str, Any], month: int, benchmarks: Benchmarks | None
) -> Benchmark | None:
    """The scorecard's benchmark of ``d`` (its ``benchmark`` column), with year, source, age
    and quartile; the local figure is the scorecard's latest."""
    value = float(wide["benchmark"])
    if math.isnan(value):
        return None
    local = number(wide["latest"])
    period_year = financial_year(month)
    if wide["benchmark_source"] == "seed":
        note = d.benchmark.note.strip() if d.benchmark is not None and d.benchmark.note else None
        source = "national figure quoted in the seed (scrutiny panel pack, Feb 2016)"
        return Benchmark(value, None, source + (f": {note}" if note else ""), None, None)
    year = int(str(wide["benchmark_source"]).removeprefix("England "))
    source = f"England {year}"
    quartile = None
    if benchmarks is not None and d.benchmark is not None and d.benchmark.national:
        row = _benchmark_rows(benchmarks.path).get((d.benchmark.national, year), {})
        origin = row.get("source", "").split("@")[0]
        if origin:
            source += f", {origin}"
        if not math.isnan(local):
            quartile = _quartile(local, row, d.polarity)
    age = abs(year - period_year)
    return Benchmark(value, year, source, age if age >= STALE_YEARS else None, quartile)


# --- measures -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    """One measure of the report: its scorecard row, series and chart."""

    definition: Definition
    section: str
    row: Mapping[str, Any]
    """Its wide scorecard row (scorecard.WIDE_COLUMNS)."""
    latest: Mapping[str, Any] | None
    """Its latest long row (numerator, denominator), None if it has none."""
    months: tuple[int, ...]
    """The chart's months, oldest first."""
    values: np.ndarray
    """The value of each month (NaN: no value, or suppressed in publication mode)."""
    suppressed: np.ndarray
    """Which months' values are suppressed (publication mode)."""
    chart: spc.Chart | None
    """The SPC judgement of the SPC_MONTHS months ending at the latest month (monthly
    measures); its arrays cover those months, the last of ``months``."""
    benchmark: Benchmark | None

    @property
    def charted(self) -> bool:
        return self.definition.status is Status.active and bool(np.any(~np.isnan(self.values)))


@dataclass(frozen=True)
class ExtractSummary:
    """Where the figures came from: enough to trace a printed copy."""

    path: str
    authority: str | None
    extract_date: str | None
    tables: Mapping[str, int]
    """Table name → rows loaded."""
    warnings: tuple[tuple[str, str, int], ...]
    """(file, field, count) of the extract's warnings, and the scorecard's own (file '')."""
    scorecard_warnings: tuple[str, ...]


@dataclass(frozen=True)
class Report:
    """Everything the page shows."""

    scorecard: Scorecard
    measures: tuple[Measure, ...]
    months: int
    extract: ExtractSummary
    definition_set_hash: str
    publish: bool
    suppression_rule: str | None

    @property
    def definition_set(self) -> DefinitionSet:
        return self.scorecard.definition_set

    @property
    def period(self) -> str:
        return self.scorecard.period


def definition_set_hash(definition_set: DefinitionSet) -> str:
    """12 hex digits of the SHA-256 of the set's ids and definition hashes, in order: two
    printed reports with the same hash used the same definitions."""
    text = "".join(f"{d.id}:{d.content_hash()}\n" for d in definition_set.definitions)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _summarise_extract(run: ScorecardRun) -> ExtractSummary:
    extract = run.extract
    manifest = getattr(extract, "manifest", None)
    when = getattr(manifest, "extract_date", None)
    problems = [p for p in getattr(extract, "problems", ()) if p.severity != "error"]
    counts = Counter((Path(p.file).name, p.field) for p in problems)
    tables = getattr(extract, "tables", {})
    return ExtractSummary(
        path=str(run.extracts_path),
        authority=getattr(manifest, "authority", None),
        extract_date=when.isoformat() if when is not None else None,
        tables={name: len(tables[name]) for name in sorted(tables)},
        warnings=tuple((f, field, n) for (f, field), n in sorted(counts.items())),
        scorecard_warnings=run.scorecard.warnings,
    )


def _series(frame: pd.DataFrame, months: Sequence[int], column: str = "value") -> np.ndarray:
    """One measure's own rows (no breakdown) as a value per month (NaN where none)."""
    by_month = dict(zip(frame["period"], frame[column], strict=True))
    out = []
    for m in months:
        v = by_month.get(month_label(m))
        out.append(number(v))
    return np.array(out, dtype=float)


def _measure(
    d: Definition,
    frame: pd.DataFrame,
    row: dict[str, Any],
    latest: Mapping[str, Any] | None,
    shown: Sequence[int],
    card: Scorecard,
) -> Measure:
    """One measure from its own result rows (``frame``) and its wide scorecard row."""
    from kpi_engine.suppression import MARK

    by_month = dict(zip(frame["period"], frame["value"], strict=True))
    hidden = np.array([by_month.get(month_label(m)) == MARK for m in shown], dtype=bool)
    spc_months = range(card.month - SPC_MONTHS + 1, card.month + 1)
    chart = None
    # no limits over a suppressed month: the mean of 24 months would give it back
    suppressed = any(by_month.get(month_label(m)) == MARK for m in spc_months)
    if d.frequency is Frequency.monthly and d.status is Status.active and not suppressed:
        target = number(row["target"]) if row["status"] != "NO TARGET SET" else None
        window = _series(frame, spc_months)
        chart = spc.judge(window, d.polarity, target, d.rating.lower_bound)
    return Measure(
        d,
        section_of(d),
        row,
        latest,
        tuple(shown),
        _series(frame, shown),
        hidden,
        chart,
        benchmark_for(d, row, card.month, card.benchmarks),
    )


def build_report(
    run: ScorecardRun, months: int = DEFAULT_MONTHS, *, publish: bool = False
) -> Report:
    """The report of a computed scorecard run, with ``months`` months in each chart."""
    from kpi_engine import suppression

    card = run.scorecard
    ds = card.definition_set
    all_months = list(range(card.month - max(months, SPC_MONTHS) + 1, card.month + 1))
    # the charts judge their own window with spc.judge, as assess did for the scorecard's
    # columns: plain figures are enough here
    series = engine.compute(run.extract, ds, all_months, definition_set=ds.name)
    if publish:
        card = suppression.publish_scorecard(card)
        series = suppression.publish_frame(series, ds.definitions)
    own = series[series["breakdown"] == ""]
    by_hash = {str(h): g for h, g in own.groupby("definition_hash", sort=False)}
    long_own = card.long[card.long["breakdown"] == ""]
    latest_rows = {
        (str(r["definition_hash"]), str(r["period"])): {str(k): v for k, v in r.items()}
        for r in long_own.to_dict(orient="records")
    }
    measures = []
    for r in card.wide.to_dict(orient="records"):
        row = {str(k): v for k, v in r.items()}
        d = ds.get(str(row["indicator_id"]))
        h = d.content_hash()
        frame = by_hash.get(h, own.iloc[:0])
        latest = latest_rows.get((h, str(row["latest_period"])))
        measures.append(_measure(d, frame, row, latest, all_months[-months:], card))
    return Report(
        card,
        tuple(measures),
        months,
        _summarise_extract(run),
        definition_set_hash(ds),
        publish,
        suppression.RULE if publish else None,
    )


def report_run(
    extracts: Path,
    definition_set: DefinitionSet,
    *,
    period: str | None = None,
    months: int = DEFAULT_MONTHS,
    publish: bool = False,
) -> Report:
    """Load the extract, build the scorecard for ``period`` and the report around it.

    Raises what :func:`kpi_engine.scorecard.scorecard_run` raises (ExtractError, PeriodError,
    BenchmarkError), and ValueError for ``months`` below 1.
    """
    if months < 1:
        raise ValueError(f"--months must be at least 1 (got {months})")
    if period is not None:
        parse_month(period)
    run = scorecard_run(extracts, definition_set, period=period)
    return build_report(run, months, publish=publish)
