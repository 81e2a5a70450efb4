"""``kpi compute``: the scorecard for one period or many."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from kpi_engine import load_definitions
from kpi_engine.cli._common import (
    EXIT_LOCKED,
    EXIT_USAGE,
    extract_problems,
    fail,
    report_problems,
    stderr_console,
    stdout_console,
)
from kpi_engine.cli._sets import definitions_option, extracts_option, no_cache_option
from kpi_engine.definitions import Definition
from kpi_engine.extract import ExtractError
from kpi_engine.locations import LATEST_CONTRACT_SET, no_extract_folder, sample_data_dir
from kpi_engine.lock import LockHeld, exclusive_output
from kpi_engine.output import (
    FormatError,
    WriteError,
    chosen_format,
    render_text,
    untouched,
    write_frame,
)
from kpi_engine.periods import PeriodError
from kpi_engine.prepared import caching
from kpi_engine.render import scorecard_table
from kpi_engine.run import RunResult, compute_run
from kpi_engine.suppression import publish_frame
from kpi_engine.validation import DefinitionError


def run_or_exit(
    extracts: Path | None,
    definitions: str,
    *,
    indicators: str | None = None,
    period: str | None = None,
    first: str | None = None,
    last: str | None = None,
    show_progress: bool = True,
    partial_windows: bool = False,
) -> RunResult:
    """Load, compute and turn every library error into a message and an exit code."""
    try:
        definition_set = load_definitions(definitions)
    except DefinitionError as e:
        report_problems(e.problems)
        fail(f"definition set {definitions!r} has problems (run: kpi validate)")
    wanted = [i.strip() for i in indicators.split(",") if i.strip()] if indicators else None
    folder = extracts if extracts is not None else sample_data_dir()
    if not folder.is_dir():
        fail(no_extract_folder(folder), EXIT_USAGE)
    console = stderr_console()
    live = show_progress and sys.stderr.isatty()
    try:
        if not live:
            return compute_run(
                folder,
                definition_set,
                indicators=wanted,
                period=period,
                first=first,
                last=last,
                partial_windows=partial_windows,
            )
        with Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            count = len(wanted) if wanted else len(definition_set.definitions)
            task = bar.add_task("computing", total=count)

            def step(d: Definition) -> None:
                bar.update(task, advance=1, description=f"computing {d.id}")

            return compute_run(
                folder,
                definition_set,
                indicators=wanted,
                period=period,
                first=first,
                last=last,
                progress=step,
                partial_windows=partial_windows,
            )
    except DefinitionError as e:
        report_problems(e.problems)
        fail("unknown indicator", EXIT_USAGE)
    except PeriodError as e:
        fail(str(e), EXIT_USAGE)
    except ExtractError as e:
        report_problems(e.problems)
        fail(extract_problems(folder, len(e.problems)))


COMPUTE_FORMATS = ("csv", "json", "parquet", "markdown", "xlsx")
"""What ``kpi compute`` writes; a file's suffix names its format (docs/output.md)."""


def resolve_format(fmt: str | None, output: Path | None) -> str:
    """The format to write, or a usage error: to a file, the one its suffix names."""
    # a person at a terminal gets the table; a pipe or a cron job gets CSV
    default = "table" if sys.stdout.isatty() else "csv"
    try:
        return chosen_format(fmt, output, COMPUTE_FORMATS, default)
    except FormatError as e:
        fail(str(e), EXIT_USAGE)


@click.command()
@extracts_option()
@definitions_option(LATEST_CONTRACT_SET)
@click.option("--indicators", default=None, help="Comma-separated indicator ids (default: all).")
@click.option("--period", default=None, help="One month, YYYY-MM [default: latest complete month].")
@click.option("--from", "first", default=None, help="First month of a range, YYYY-MM.")
@click.option("--to", "last", default=None, help="Last month of a range, YYYY-MM.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", *COMPUTE_FORMATS]),
    default=None,
    help="Output format [default: table on a terminal, else csv; with --output, its suffix's].",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Write to this file (atomically, under a lock) instead of stdout: .csv, .json, "
    ".parquet, .md or .xlsx.",
)
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Seconds to wait for another run writing the same --output before giving up (exit 3).",
)
@click.option(
    "--publish",
    is_flag=True,
    help="Publication mode: counts 1-5 and what would reveal them written [c] (csv, json, "
    "markdown).",
)
@click.option(
    "--partial-windows",
    is_flag=True,
    help="Report windows reaching back before a table's first record [default: NO DATA].",
)
@no_cache_option()
def compute(
    extracts: Path | None,
    definitions: str,
    indicators: str | None,
    period: str | None,
    first: str | None,
    last: str | None,
    fmt: str | None,
    output: Path | None,
    wait: float,
    publish: bool,
    partial_windows: bool,
    no_cache: bool,
) -> None:
    """Compute and rate every indicator of a definition set.

    One row per indicator and period (and breakdown value). CSV, JSON, Parquet and Excel
    output follow the column contract and types in docs/output.md. A file is named for its
    format (.csv, .json, .parquet, .md, .xlsx) and replaced atomically: a failed run leaves
    the previous file as it was. Exit codes: 0 written; 1 data, definition or write error;
    2 usage error; 3 another run holds the output's lock.

    \b
    Examples:
      kpi compute
      kpi compute --definitions contract-2015-16 --period 2015-12
      kpi compute --from 2015-04 --to 2016-03 --output year.csv
      kpi compute --from 2015-04 --to 2016-03 --output year.xlsx --wait 600
      kpi compute --indicators A1,A2 --format json
      kpi compute --period 2015-12 --publish --output published.csv
      kpi compute --period 2010-06 --partial-windows
    """
    fmt = resolve_format(fmt, output)
    if publish and fmt not in ("csv", "json", "markdown"):
        fail("--publish writes [c] into the figures: use csv, json or markdown", EXIT_USAGE)

    def run() -> RunResult:
        with caching(not no_cache):
            result = run_or_exit(
                extracts,
                definitions,
                indicators=indicators,
                period=period,
                first=first,
                last=last,
                partial_windows=partial_windows,
            )
        if not publish:
            return result
        return replace(result, results=publish_frame(result.results, result.definitions))

    if output is not None:
        write_or_exit(output, fmt, wait, run)
        return
    result = run()
    frame = result.results
    if fmt == "table":
        labels = result.period_labels
        span = labels[0] if len(labels) == 1 else f"{labels[0]} to {labels[-1]}"
        title = f"{result.definition_set.info.title} — {span}"
        console = stdout_console()
        console.print(scorecard_table(frame, result.definitions, title, width=console.width))
        return
    click.echo(render_text(frame, fmt), nl=False)


def write_or_exit(output: Path, fmt: str, wait: float, run: Callable[[], RunResult]) -> None:
    """Compute under the output's lock and publish the file, or exit with the reason."""
    try:
        with exclusive_output(output, wait) as stale:
            for path in stale:
                click.echo(f"removed {path}, left by an interrupted run", err=True)
            frame = run().results
            write_frame(frame, output, fmt)
    except LockHeld as e:
        fail(f"{e}; not written (retry later, or give --wait SECONDS)", EXIT_LOCKED)
    except WriteError as e:
        fail(f"{e}; {untouched(output)}")
    except FormatError as e:
        fail(f"{e}; {untouched(output)}", EXIT_USAGE)
    stderr_console().print(f"wrote {len(frame)} rows to {output}")
