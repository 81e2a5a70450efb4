"""The corporate scorecard: one row per measure, baseline, four quarters, latest month, trend.

Shaped like the seed's Dec-15 Corporate Scorecard (seed 001, Appendix A). Everything in it comes
from one ``engine.compute`` call: the definitions as they are, over every month the scorecard
needs, plus a quarterly copy of each monthly in-period (flow) measure for its quarter columns.

The two layouts and their column contracts are documented in docs/cron.md; the cron job and BI
tools rely on them, so a change to :data:`WIDE_COLUMNS` is a breaking change.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import pandas as pd

from kpi_engine import coverage, engine
from kpi_engine.definitions import (
    Definition,
    DefinitionSet,
    Frequency,
    Status,
    WindowType,
)
from kpi_engine.locations import shipped_path
from kpi_engine.periods import (
    Period,
    latest_period_end,
    month_label,
    parse_month,
)
from kpi_engine.report.assess import compute_assessed
from kpi_engine.trend import Trend, judge, reference_periods
from kpi_engine.trend import describe_rule as describe_trend_rule

log = logging.getLogger(__name__)

QUARTER_COLUMNS = ("q_minus_3", "q_minus_2", "q_minus_1", "q_latest")
"""The four most recent complete financial quarters before the latest month's quarter, oldest
first. Their names never change; which quarters they are is in the sidecar metadata."""

WIDE_COLUMNS = [
    "indicator_id",
    "measure",
    "contract",
    "group",
    "unit",
    "polarity",
    "quarter_basis",
    "baseline_period",
    "baseline",
    *QUARTER_COLUMNS,
    "latest_period",
    "latest",
    "target",
    "tolerance",
    "status",
    "rag",
    "trend_6m",
    "benchmark",
    "benchmark_source",
    "definition_set",
    "definition_hash",
    "note",
    "low_count",
    "variation",
    "assurance",
]
"""The column contract of the wide scorecard (``kpi scorecard``, the default layout)."""

LONG_COLUMNS = list(engine.OUTPUT_COLUMNS)
"""The long layout (``--layout long``) has exactly the columns of ``kpi compute``."""

LAYOUTS = ("wide", "long")

CONTRACT_MARK = "©"


class QuarterBasis(Enum):
    """How a measure's quarter columns are obtained."""

    snapshot = "snapshot"
    """Open at period end (or a latest annual figure): the value at the quarter's final month."""
    flow = "flow"
    """Events in the period: the whole quarter, numerator and denominator summed over it."""
    rolling = "rolling"
    """A rolling window: its value at the quarter's final month (the window's own length)."""
    year_to_date = "year_to_date"
    """Financial year to date: its value at the quarter's final month."""
    annual = "annual"
    """An annual measure: its figure in the quarter ending in March, blank in the others."""
    none = ""
    """Not computed (under development, no data source)."""


def quarter_basis(d: Definition) -> QuarterBasis:
    if d.status is not Status.active or d.window is None:
        return QuarterBasis.none
    if d.frequency is Frequency.annual:
        return QuarterBasis.annual
    return {
        WindowType.open_at_end: QuarterBasis.snapshot,
        WindowType.latest_year: QuarterBasis.snapshot,
        WindowType.in_period: QuarterBasis.flow,
        WindowType.rolling: QuarterBasis.rolling,
        WindowType.financial_year_to_date: QuarterBasis.year_to_date,
    }[d.window.type]


def quarterly_variant(d: Definition) -> Definition | None:
    """The definition evaluated over a whole quarter, for a monthly flow measure (else None).

    A monthly in-period measure's quarter is not its quarter-end month: it is the quarter's
    events, numerator and denominator each summed over the three months, which is exactly the
    definition evaluated at quarterly frequency.
    """
    if quarter_basis(d) is QuarterBasis.flow and d.frequency is Frequency.monthly:
        return d.model_copy(update={"frequency": Frequency.quarterly})
    return None


# --- quarters -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quarter:
    """One of the four quarter columns."""

    column: str
    """Its column in the wide layout (``q_latest`` ...)."""
    end: int
    """Month index of the quarter's last month (March, June, September or December)."""

    @property
    def period(self) -> str:
        return month_label(self.end)

    @property
    def label(self) -> str:
        """The seed's way of naming it: ``2015-16 Q2`` (financial year, Q1 = April-June)."""
        year, month = divmod(self.end, 12)
        first = year if month >= 3 else year - 1
        number = ((month - 3) % 12) // 3 + 1
        return f"{first}-{(first + 1) % 100:02d} Q{number}"

    def as_dict(self) -> dict[str, str]:
        p = Period(self.end, Frequency.quarterly)
        return {
            "column": self.column,
            "period": self.period,
            "label": self.label,
            "start": p.start.date().isoformat(),
            "end": p.end.date().isoformat(),
        }


def scorecard_quarters(month: int) -> tuple[Quarter, ...]:
    """The four complete financial quarters before the quarter ``month`` falls in.

    As the seed's Dec-15 scorecard shows 2014-15 Q3 to 2015-16 Q2 beside the latest month: the
    quarter in progress (or, in a quarter's last month, just completed) is what the latest-month
    column shows.
    """
    latest_end = month - month % 3 - 1  # financial quarters are calendar quarters shifted
    ends = [latest_end - 3 * k for k in (3, 2, 1, 0)]
    return tuple(Quarter(c, e) for c, e in zip(QUARTER_COLUMNS, ends, strict=True))


# --- benchmarks ---------------------------------------------------------------------------------

BENCHMARKS_FILE = "national_benchmarks.csv"


def default_benchmarks_path() -> Path:
    """$KPI_BENCHMARKS, else the published England figures shipped with the package."""
    env = os.environ.get("KPI_BENCHMARKS")
    return Path(env) if env else shipped_path("reference", BENCHMARKS_FILE)


def find_benchmarks(path: Path | None = None) -> Benchmarks | None:
    """The benchmarks at ``path`` (default: :func:`default_benchmarks_path`).

    A file that is not there is a warning, not an error: the scorecard is still written, with
    the definitions' seed figures only. A file that is there but unreadable is an error.
    """
    path = path if path is not None else default_benchmarks_path()
    if not path.is_file():
        setting = " (KPI_BENCHMARKS)" if os.environ.get("KPI_BENCHMARKS") else ""
        log.warning(
            "national benchmarks file %s%s not found: the benchmark column shows only the "
            "definitions' seed figures",
            path,
            setting,
        )
        return None
    return load_benchmarks(path)


@dataclass(frozen=True)
class NationalFigure:
    """A published England figure: the latest year of one indicator in the benchmarks file."""

    indicator: str
    year: int
    value: float


@dataclass(frozen=True)
class Benchmarks:
    """The national benchmarks file, read."""

    path: Path
    sha256: str
    latest: Mapping[str, NationalFigure]

    def as_dict(self) -> dict[str, str]:
        return {"path": str(self.path), "sha256": self.sha256}


class BenchmarkError(ValueError):
    """The benchmarks file cannot be read (a definition-level problem: exit code 1)."""


def load_benchmarks(path: Path) -> Benchmarks:
    """Read ``indicator,year,...,published_pct`` rows; keep each indicator's latest year."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise BenchmarkError(f"cannot read benchmarks {path}: {e.strerror}") from e
    latest: dict[str, NationalFigure] = {}
    reader = csv.DictReader(data.decode("utf-8").splitlines())
    for line, row in enumerate(reader, start=2):
        try:
            figure = NationalFigure(
                row["indicator"].strip(), int(row["year"]), float(row["published_pct"])
            )
        except (KeyError, TypeError, ValueError) as e:
            raise BenchmarkError(f"{path}:{line}: expected indicator, year, published_pct") from e
        known = latest.get(figure.indicator)
        if known is None or figure.year > known.year:
            latest[figure.indicator] = figure
    return Benchmarks(Path(path), hashlib.sha256(data).hexdigest(), latest)


def _benchmark(d: Definition, benchmarks: Benchmarks | None) -> tuple[float, str, str | None]:
    """(value, source, warning) for the benchmark column; NaN and '' when there is none."""
    b = d.benchmark
    if b is None:
        return math.nan, "", None
    if b.national is not None:
        figure = benchmarks.latest.get(b.national) if benchmarks is not None else None
        if figure is not None:
            return figure.value, f"England {figure.year}", None
        if b.seed_value is None:
            where = "no benchmarks file" if benchmarks is None else str(benchmarks.path)
            return math.nan, "", f"{d.id}: national benchmark {b.national!r} not found ({where})"
    if b.seed_value is not None:
        return b.seed_value, "seed", None
    return math.nan, "", None


# --- the scorecard ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scorecard:
    """A computed corporate scorecard, in both layouts, with what it needs to be reproduced."""

    wide: pd.DataFrame
    """One row per measure in the set's order: :data:`WIDE_COLUMNS`."""
    long: pd.DataFrame
    """One row per measure × period (× breakdown) shown or used: :data:`LONG_COLUMNS`."""
    definition_set: DefinitionSet
    month: int
    """The latest month (month index)."""
    quarters: tuple[Quarter, ...]
    baseline_month: int | None
    """The set's baseline month, if it declares one."""
    quarter_hashes: Mapping[str, str]
    """Indicator id → hash of its quarterly evaluation (flow measures only)."""
    benchmarks: Benchmarks | None
    warnings: tuple[str, ...] = field(default=())
    """Things the reader of the log should know (a benchmark not found)."""

    @property
    def period(self) -> str:
        return month_label(self.month)

    def frame(self, layout: str) -> pd.DataFrame:
        if layout not in LAYOUTS:
            raise ValueError(f"invalid layout {layout!r}, expected 'wide' or 'long'")
        return self.wide if layout == "wide" else self.long


def _months_needed(
    definitions: Sequence[Definition], month: int, baseline: int | None
) -> dict[str, set[int]]:
    """For each indicator, the period ends it needs (baseline, trend reference, latest, quarters).

    Keys are ``id`` for the definition as it is and ``id@quarter`` for its quarterly variant.
    """
    quarters = [q.end for q in scorecard_quarters(month)]
    needed: dict[str, set[int]] = {}
    for d in definitions:
        latest = latest_period_end(month, d.frequency)
        ends = {latest, *reference_periods(latest, d.frequency)}
        if baseline is not None:
            ends.add(latest_period_end(baseline, d.frequency))
        if quarterly_variant(d) is not None:
            needed[f"{d.id}@quarter"] = set(quarters)
        else:
            ends |= {q for q in quarters if latest_period_end(q, d.frequency) == q}
        needed[d.id] = ends
    return needed


def _value_at(rows: Mapping[str, Mapping[str, Any]], end: int) -> float:
    row = rows.get(month_label(end))
    if row is None or row["status"] == "NO DATA":  # never a figure, never judged by the trend
        return math.nan
    return float(row["value"])


def build_scorecard(
    extract: Any,
    definition_set: DefinitionSet,
    month: int,
    *,
    benchmarks: Benchmarks | None = None,
) -> Scorecard:
    """Compute the scorecard of ``definition_set`` for ``month`` (a month index) on ``extract``.

    ``extract`` is an :class:`~kpi_engine.extract.Extract` or a mapping of table name to
    DataFrame. Deterministic: the same extract and definitions give equal frames.
    """
    definitions = list(definition_set.definitions)
    baseline = (
        parse_month(definition_set.info.baseline_period)
        if definition_set.info.baseline_period
        else None
    )
    quarters = scorecard_quarters(month)
    needed = _months_needed(definitions, month, baseline)
    variants = {d.id: v for d in definitions if (v := quarterly_variant(d)) is not None}
    variant_hashes = {i: v.content_hash() for i, v in variants.items()}
    first = min(min(ends) for ends in needed.values()) if needed else month
    months = list(range(first, month + 1))
    log.info(
        "computing %d indicators (%d quarterly flow variants) for %s to %s",
        len(definitions),
        len(variants),
        month_label(first),
        month_label(month),
    )
    # one pass: the engine computes every month of the range at once, for every definition
    results = compute_assessed(
        extract,
        [*definitions, *variants.values()],
        months,
        definition_set=definition_set.name,
    )
    is_variant = results["definition_hash"].isin(set(variant_hashes.values()))
    results = results.assign(
        _key=results["indicator_id"].where(~is_variant, results["indicator_id"] + "@quarter")
    )

    keep = pd.Series(False, index=results.index)
    period_end_index = results["period"].map(parse_month)
    for key, ends in needed.items():
        keep |= (results["_key"] == key) & period_end_index.isin(ends)
    rank = {d.id: i for i, d in enumerate(definitions)}
    selected = results[keep]
    # set order, then period end; at a quarter end a flow measure's quarter row (earlier start)
    # comes before its month row; the engine's own order (indicator row, then breakdowns) last
    long = selected.assign(_rank=selected["indicator_id"].map(rank), _row=selected.index)
    long = long.sort_values(["_rank", "period_end", "period_start", "_row"], kind="stable")
    long = long[LONG_COLUMNS].reset_index(drop=True)

    own = results[results["breakdown"] == ""]
    by_key: dict[str, dict[str, dict[str, Any]]] = {}
    for record in own.to_dict(orient="records"):
        by_key.setdefault(str(record["_key"]), {})[str(record["period"])] = {
            str(k): v for k, v in record.items()
        }

    warnings: list[str] = []
    rows: list[dict[str, object]] = []
    for d in definitions:
        rows.append(_wide_row(d, by_key, month, baseline, quarters, benchmarks, warnings))
    wide = pd.DataFrame.from_records(rows, columns=WIDE_COLUMNS)
    for column in ("baseline", *QUARTER_COLUMNS, "latest", "target", "tolerance", "benchmark"):
        wide[column] = wide[column].astype(float)
    warnings += _coverage_warnings(wide, month)
    for w in warnings:
        log.warning(w)
    return Scorecard(
        wide=wide,
        long=long,
        definition_set=definition_set,
        month=month,
        quarters=quarters,
        baseline_month=baseline,
        quarter_hashes=variant_hashes,
        benchmarks=benchmarks,
        warnings=tuple(warnings),
    )


def _coverage_warnings(wide: pd.DataFrame, month: int) -> list[str]:
    """A warning for measures whose latest figure is NO DATA because the extract does not
    cover the period (kpi_engine.coverage), and one for figures resting on few cases."""
    out: list[str] = []
    uncovered = wide[(wide["status"] == "NO DATA") & wide["note"].map(coverage.is_gap)]
    if len(uncovered):
        out.append(
            f"{len(uncovered)} of {len(wide)} measures have no figure for {month_label(month)}: "
            f"{uncovered['note'].iloc[0]}"
        )
    low = wide[wide["low_count"]]
    if len(low):
        out.append(f"low counts (rated with care): {', '.join(low['indicator_id'])}")
    return out


def _wide_row(
    d: Definition,
    by_key: Mapping[str, Mapping[str, Mapping[str, Any]]],
    month: int,
    baseline: int | None,
    quarters: Sequence[Quarter],
    benchmarks: Benchmarks | None,
    warnings: list[str],
) -> dict[str, object]:
    rows = by_key.get(d.id, {})
    latest_end = latest_period_end(month, d.frequency)
    latest = rows.get(month_label(latest_end), {})
    basis = quarter_basis(d)
    quarter_rows = by_key.get(f"{d.id}@quarter", rows)
    quarter_values = {q.column: _value_at(quarter_rows, q.end) for q in quarters}
    baseline_end = latest_period_end(baseline, d.frequency) if baseline is not None else None
    latest_value = float(latest.get("value", math.nan))
    previous = [_value_at(rows, end) for end in reference_periods(latest_end, d.frequency)]
    trend = (
        judge(latest_value, previous, d.unit, d.polarity, d.rounding)
        if basis is not QuarterBasis.none
        else Trend.no_data
    )
    bench, bench_source, warning = _benchmark(d, benchmarks)
    if warning:
        warnings.append(warning)
    return {
        "indicator_id": d.id,
        "measure": f"{d.name} {CONTRACT_MARK}" if d.contract else d.name,
        "contract": d.contract,
        "group": d.group.value,
        "unit": d.unit.value,
        "polarity": d.polarity.value,
        "quarter_basis": basis.value,
        "baseline_period": month_label(baseline_end) if baseline_end is not None else "",
        "baseline": _value_at(rows, baseline_end) if baseline_end is not None else math.nan,
        **quarter_values,
        "latest_period": month_label(latest_end),
        "latest": latest_value,
        "target": latest.get("target", math.nan),
        "tolerance": latest.get("tolerance", math.nan),
        "status": latest.get("status", ""),
        "rag": latest.get("rag", ""),
        "trend_6m": trend.value,
        "benchmark": bench,
        "benchmark_source": bench_source,
        "definition_set": latest.get("definition_set", ""),
        "definition_hash": d.content_hash(),
        "note": latest.get("note", ""),
        "low_count": bool(latest.get("low_count", False)),
        "variation": latest.get("variation", ""),
        "assurance": latest.get("assurance", ""),
    }


# --- a run: load, compute, describe -------------------------------------------------------------


@dataclass(frozen=True)
class ScorecardRun:
    """A scorecard with the extract it was computed from (for the run metadata)."""

    scorecard: Scorecard
    extract: Any
    """The loaded :class:`~kpi_engine.extract.Extract`."""
    extracts_path: Path


def scorecard_run(
    extracts: Path,
    definition_set: DefinitionSet,
    *,
    period: str | None = None,
    benchmarks: Path | None = None,
) -> ScorecardRun:
    """Load the extract (only the tables the set needs) and build the scorecard for ``period``
    (YYYY-MM; default: the extract's latest complete month).

    Raises ExtractError, PeriodError or BenchmarkError; a single indicator that cannot be
    computed is NO DATA in the scorecard, never an error.
    """
    from kpi_engine.prepared import load_extract
    from kpi_engine.run import resolve_months, tables_needed

    bench = find_benchmarks(benchmarks)
    definitions = list(definition_set.definitions)
    extract = load_extract(extracts, tables=sorted(tables_needed(definitions)))
    (month,) = resolve_months(extract, period, None, None)
    scorecard = build_scorecard(extract, definition_set, month, benchmarks=bench)
    return ScorecardRun(scorecard, extract, Path(extracts))


# --- rendering ----------------------------------------------------------------------------------

TEXT_FORMATS = ("csv", "markdown")


def _display_headers(scorecard: Scorecard) -> list[str]:
    baseline = (
        f"Baseline {month_label(scorecard.baseline_month)}"
        if scorecard.baseline_month is not None
        else "Baseline"
    )
    return [
        "Measure (© contract)",
        baseline,
        *(q.label for q in scorecard.quarters),
        scorecard.period,
        "Target",
        "Rating",
        "6mth trend",
        "Benchmark",
    ]


def _display_rows(scorecard: Scorecard) -> list[tuple[str, list[str], str]]:
    """(group title, cells, status) per measure, figures formatted as the seed prints them."""
    from kpi_engine.render import format_value

    out: list[tuple[str, list[str], str]] = []
    for row in scorecard.wide.to_dict(orient="records"):
        d = scorecard.definition_set.get(str(row["indicator_id"]))

        def fmt(value: object, d: Definition = d) -> str:
            if isinstance(value, str):
                return value  # [c]: suppressed in publication mode
            v = float(value)  # type: ignore[arg-type]
            return "" if math.isnan(v) else format_value(v, d.unit.value, d.rounding)

        latest = fmt(row["latest"])
        if row["latest_period"] != scorecard.period and latest:
            latest += f" ({row['latest_period']})"  # a quarterly measure's last quarter
        national = float(row["benchmark"])
        # published national figures carry a decimal the local rounding would hide (2.3%)
        places = d.rounding if math.isnan(national) or national.is_integer() else max(d.rounding, 1)
        bench = "" if math.isnan(national) else format_value(national, d.unit.value, places)
        if bench:
            bench += f" ({row['benchmark_source']})"
        status = str(row["status"])
        out.append(
            (
                d.group.label,
                [
                    str(row["measure"]),
                    fmt(row["baseline"]),
                    *(fmt(row[c]) for c in QUARTER_COLUMNS),
                    latest,
                    fmt(row["target"]),
                    status,
                    str(row["trend_6m"]),
                    bench,
                ],
                status,
            )
        )
    return out


def title(scorecard: Scorecard) -> str:
    return f"{scorecard.definition_set.info.title} — {scorecard.period}"


def _markdown(scorecard: Scorecard) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    headers = _display_headers(scorecard)
    lines = [f"# {title(scorecard)}", ""]
    current = None
    for group, cells, _ in _display_rows(scorecard):
        if group != current:
            if current is not None:
                lines.append("")
            current = group
            lines += [f"## {group}", ""]
            lines.append("| " + " | ".join(headers) + " |")
            lines.append("|---|" + "---:|" * (len(headers) - 1))
        lines.append("| " + " | ".join(cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def render(scorecard: Scorecard, layout: str, fmt: str) -> str:
    """The scorecard as text: ``csv`` (the column contract) or ``markdown`` (for people: the wide
    layout grouped and formatted as the seed prints it; the long layout as a plain table)."""
    from kpi_engine.output import markdown_table, render_text

    frame = scorecard.frame(layout)
    if fmt == "csv":
        return render_text(frame, "csv")
    if fmt == "markdown":
        return _markdown(scorecard) if layout == "wide" else markdown_table(frame)
    raise ValueError(f"invalid format {fmt!r}, expected 'csv' or 'markdown'")


_STATUS_STYLE = {
    "ON TARGET": "bold green",
    "IN TOLERANCE": "bold yellow",
    "OFF TARGET": "bold red",
    "NO TARGET SET": "dim",
    "NO DATA": "dim italic",
}


def rich_table(scorecard: Scorecard, layout: str = "wide", width: int = 120) -> Any:
    """A rich renderable for a terminal ``width`` characters wide (the long layout uses
    ``kpi compute``'s table).

    Every measure is one line and no heading wraps. The measure, latest month, target and
    rating always show; the trend, the quarters (latest first), the baseline and the
    benchmark show while they fit, and names are cut (…) to fit. The caption says what was
    left out and how to see everything.
    """
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from kpi_engine.render import hint

    if layout == "long":
        from kpi_engine.render import scorecard_table

        return scorecard_table(
            scorecard.long, scorecard.definition_set.definitions, title(scorecard), width
        )
    headers = _display_headers(scorecard)
    rows = _display_rows(scorecard)
    natural = [
        max([len(h), *(len(cells[i]) for _, cells, _ in rows)]) for i, h in enumerate(headers)
    ]
    shown = _columns_that_fit(natural, width)
    name_width = min(natural[0], _MEASURE_MAX, width - sum(natural[i] + _GAP for i in shown[1:]))

    def columns(header: bool) -> Table:
        """A table of the shown columns; every one has the same widths, so they line up."""
        table = Table(box=None, pad_edge=False, show_header=header, show_edge=False)
        for i in shown:
            table.add_column(
                headers[i],
                justify="left" if i in (0, _RATING, _TREND) else "right",
                no_wrap=True,
                overflow="ellipsis",
                width=name_width if i == 0 else natural[i],
            )
        return table

    # each group's heading is a line of its own, at full width, as in kpi compute's table
    parts: list[Any] = [Text(title(scorecard), style="table.title"), columns(header=True)]
    current = None
    for group, cells, status in rows:
        if group != current:
            current = group
            parts += [Text(group, style="bold"), columns(header=False)]
        parts[-1].add_row(
            *(
                Text(cells[i], style=_STATUS_STYLE.get(status, "") if i == _RATING else "")
                for i in shown
            )
        )
    hidden = [headers[i] for i in range(len(headers)) if i not in shown]
    hidden += ["full names"] if name_width < natural[0] else []
    if hidden:
        parts.append(Text(hint(hidden, width, "kpi scorecard "), style="table.caption"))
    return Group(*parts)


_RATING, _TREND = 8, 9
"""Positions in the wide display's cells: measure, baseline, four quarters, latest, target,
rating, trend, benchmark."""
_ALWAYS = (0, 6, 7, 8)
_BY_PRIORITY = (9, 5, 4, 3, 2, 1, 10)
"""The other columns, the first to show first: trend, the quarters latest first, the
baseline, the benchmark."""
_MEASURE_MIN, _MEASURE_MAX, _GAP = 20, 44, 2  # a space either side of each column


def _columns_that_fit(natural: list[int], width: int) -> list[int]:
    """The display's columns for ``width``: those always shown, then the others in
    priority while the measure keeps :data:`_MEASURE_MIN` characters (or its own width)."""
    shown = list(_ALWAYS)
    measure = min(natural[0], _MEASURE_MIN)
    for i in _BY_PRIORITY:
        used = measure + sum(natural[j] + _GAP for j in [*shown[1:], i])
        if used <= width:
            shown.append(i)
    return sorted(shown)


# --- writing: the metadata and the file, published together ------------------------------------

SCORECARD_FORMATS = ("csv", "markdown", "xlsx")
"""What ``kpi scorecard --output`` writes."""


class IncompleteScorecard(ValueError):
    """The scorecard would publish fewer measures than its definition set declares (exit 1):
    the cron job must never replace a good scorecard with an empty or partial one."""


def meta_path_for(output: Path) -> Path:
    """``scorecard.csv`` → ``scorecard.csv.meta.json``."""
    return output.with_name(output.name + ".meta.json")


def declared_ids(definition_set: DefinitionSet) -> list[str]:
    """Every measure the set declares: its definitions, ``set.yaml``'s ``order`` and the
    definition files in its folder (a file whose definition went missing still counts)."""
    from kpi_engine.validation import definition_files

    ids = dict.fromkeys([*definition_set.ids, *definition_set.info.order])
    if definition_set.path is not None and Path(definition_set.path).is_dir():
        ids.update(dict.fromkeys(p.stem for p in definition_files(Path(definition_set.path))))
    return list(ids)


def check_complete(scorecard: Scorecard, layout: str) -> None:
    """Raise IncompleteScorecard unless every declared measure has its rows in ``layout``."""
    ds = scorecard.definition_set
    where = f" ({ds.path})" if ds.path else ""
    declared = declared_ids(ds)
    if not declared:
        raise IncompleteScorecard(
            f"definition set {ds.name!r}{where} has no definitions: an empty scorecard is not "
            "published"
        )
    published = set(scorecard.frame(layout)["indicator_id"])
    missing = [i for i in declared if i not in published]
    if missing:
        raise IncompleteScorecard(
            f"the scorecard has {len(declared) - len(missing)} of the {len(declared)} measures "
            f"definition set {ds.name!r}{where} declares (missing: {', '.join(missing)}): "
            "a partial scorecard is not published"
        )


def describe_manifest(manifest: Any) -> dict[str, Any] | None:
    """The manifest's validated fields, and nothing else.

    Never the manifest's unknown keys (``Manifest.extra``): they are unvalidated input (YAML
    aliases can make them huge or self-referencing) and no reader of the metadata needs them.
    """
    if manifest is None:
        return None
    when = manifest.extract_date
    return {
        "authority": manifest.authority,
        "extract_date": when.isoformat() if when is not None else None,
        "source_system": manifest.source_system,
        "column_map": {
            str(table): {str(site): str(ours) for site, ours in names.items()}
            for table, names in sorted(manifest.column_map.items())
        },
    }


def describe_extract(extract: Any, path: Path) -> dict[str, Any]:
    """What the scorecard was computed from: folder, manifest and each table's row count."""
    tables = getattr(extract, "tables", extract)
    return {
        "path": str(Path(path).resolve()),
        "manifest": describe_manifest(getattr(extract, "manifest", None)),
        "tables": {str(name): len(tables[name]) for name in sorted(tables)},
    }


def describe_run(run: ScorecardRun, *, layout: str, fmt: str) -> dict[str, Any]:
    """Everything needed to reproduce the scorecard (no timestamp, no checksum of the file):
    the sidecar's content and the workbook's metadata sheet."""
    from kpi_engine import __version__

    sc = run.scorecard
    frame = sc.frame(layout)
    ds = sc.definition_set
    return {
        "tool": {"name": "kpi-engine", "version": __version__, "command": "kpi scorecard"},
        "output": {
            "format": fmt,
            "layout": layout,
            "rows": len(frame),
            "columns": [str(c) for c in frame.columns],
        },
        "period": sc.period,
        "baseline_period": month_label(sc.baseline_month)
        if sc.baseline_month is not None
        else None,
        "quarters": [q.as_dict() for q in sc.quarters],
        "periods": sorted({str(p) for p in sc.long["period"]}),
        "trend_rule": describe_trend_rule(),
        "definition_set": {
            "name": ds.name,
            "title": ds.info.title,
            "path": ds.path,
            "definitions": [
                {
                    "id": d.id,
                    "hash": d.content_hash(),
                    **(
                        {"quarter_hash": sc.quarter_hashes[d.id]}
                        if d.id in sc.quarter_hashes
                        else {}
                    ),
                    "quarter_basis": quarter_basis(d).value,
                }
                for d in ds.definitions
            ],
        },
        "extract": describe_extract(run.extract, run.extracts_path),
        "benchmarks": sc.benchmarks.as_dict() if sc.benchmarks is not None else None,
        "warnings": list(sc.warnings),
    }


def run_metadata(
    run: ScorecardRun,
    *,
    output: Path,
    data: bytes,
    layout: str,
    fmt: str,
    generated_at: str,
) -> dict[str, Any]:
    """The sidecar ``FILE.meta.json``: everything that varies between identical runs (the time)
    and everything needed to reproduce the file, which itself holds no timestamp."""
    described = describe_run(run, layout=layout, fmt=fmt)
    output_part = {
        "file": output.name,
        **described.pop("output"),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    tool = described.pop("tool")
    return {"generated_at": generated_at, "tool": tool, "output": output_part, **described}


def _metadata_rows(described: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """The metadata as (field, value) rows for a sheet: nested fields as dotted names, lists of
    plain values joined, numbers kept numbers."""
    rows: list[tuple[str, Any]] = []
    for key, value in described.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows += _metadata_rows(value, f"{name}.")
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            for i, item in enumerate(value):
                label = item.get("id") or item.get("column") or str(i)
                rows += _metadata_rows(item, f"{name}.{label}.")
        elif isinstance(value, list):
            rows.append((name, ", ".join(str(v) for v in value)))
        else:
            rows.append((name, value))
    return rows


def scorecard_bytes(run: ScorecardRun, layout: str, fmt: str) -> bytes:
    """The scorecard file: CSV or Markdown text, or a workbook of the scorecard and its
    metadata (without the time of the run: the same figures give the same bytes)."""
    if fmt != "xlsx":
        return render(run.scorecard, layout, fmt).encode("utf-8")
    from kpi_engine.excel import Sheet, workbook

    rows = _metadata_rows(describe_run(run, layout=layout, fmt=fmt))
    metadata = pd.DataFrame.from_records(rows, columns=["field", "value"])
    sheet = "scorecard" if layout == "wide" else "scorecard (long)"
    return workbook([Sheet(sheet, run.scorecard.frame(layout)), Sheet("metadata", metadata)])


def write_scorecard(
    run: ScorecardRun, output: Path, *, layout: str, fmt: str, generated_at: str
) -> Path:
    """Publish the scorecard at ``output`` and its metadata beside it, together or not at all.

    Both are made in full first (raising IncompleteScorecard, before anything is touched, if a
    declared measure is missing). Then both temporaries are written and the metadata is renamed
    into place before the file: a reader who finds the new file always finds its metadata
    beside it. If the file's rename fails, the previous metadata is put back; only a SIGKILL
    between the two renames can leave the new metadata beside the previous file, and its
    ``output.sha256`` then does not match the file. Raises WriteError; returns the metadata's
    path.
    """
    import json

    from kpi_engine.output import publish

    check_complete(run.scorecard, layout)
    data = scorecard_bytes(run, layout, fmt)
    meta = run_metadata(
        run, output=output, data=data, layout=layout, fmt=fmt, generated_at=generated_at
    )
    meta_text = json.dumps(meta, indent=2, ensure_ascii=False) + "\n"
    meta_path = meta_path_for(output)
    publish([(meta_path, meta_text.encode("utf-8")), (output, data)])
    return meta_path
