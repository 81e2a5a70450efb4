"""``kpi compute``: the scorecard for one period or many."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from kpi_engine import load_definitions
from kpi_engine.cli._common import EXIT_USAGE, fail, report_problems, stderr_console, stdout_console
from kpi_engine.definitions import Definition
from kpi_engine.extract import ExtractError
from kpi_engine.locations import LATEST_CONTRACT_SET, sample_data_dir
from kpi_engine.output import FORMATS, format_from_suffix, render_text, write_frame
from kpi_engine.periods import PeriodError
from kpi_engine.prepared import caching
from kpi_engine.render import scorecard_table
from kpi_engine.run import RunResult, compute_run
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
        fail(f"no extract folder at {folder}", EXIT_USAGE)
    console = stderr_console()
    live = show_progress and sys.stderr.isatty()
    try:
        if not live:
            return compute_run(
                folder, definition_set, indicators=wanted, period=period, first=first, last=last
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
            )
    except DefinitionError as e:
        report_problems(e.problems)
        fail("unknown indicator", EXIT_USAGE)
    except PeriodError as e:
        fail(str(e), EXIT_USAGE)
    except ExtractError as e:
        report_problems(e.problems)
        fail(
            f"the extract in {folder} has {len(e.problems)} problem(s) "
            "(run: kpi validate --extracts)"
        )


@click.command()
@click.option(
    "--extracts",
    type=click.Path(path_type=Path),
    default=None,
    help="Case-level extract folder [default: the shipped sample_data].",
)
@click.option(
    "--definitions",
    default=LATEST_CONTRACT_SET,
    show_default=True,
    help="Definition set name or folder.",
)
@click.option("--indicators", default=None, help="Comma-separated indicator ids (default: all).")
@click.option("--period", default=None, help="One month, YYYY-MM [default: latest complete month].")
@click.option("--from", "first", default=None, help="First month of a range, YYYY-MM.")
@click.option("--to", "last", default=None, help="Last month of a range, YYYY-MM.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", *FORMATS]),
    default=None,
    help="Output format [default: table on a terminal, else from --output's suffix, else csv].",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write to this file (atomically) instead of stdout.",
)
@click.option(
    "--no-cache", is_flag=True, help="Load the extract afresh (no prepared copy; KPI_CACHE=0)."
)
def compute(
    extracts: Path | None,
    definitions: str,
    indicators: str | None,
    period: str | None,
    first: str | None,
    last: str | None,
    fmt: str | None,
    output: Path | None,
    no_cache: bool,
) -> None:
    """Compute and rate every indicator of a definition set.

    One row per indicator and period (and breakdown value). CSV, JSON and Parquet output
    follow the column contract in docs/output.md.

    \b
    Examples:
      kpi compute
      kpi compute --definitions contract-2015-16 --period 2015-12
      kpi compute --from 2015-04 --to 2016-03 --format csv --output scorecard.csv
      kpi compute --indicators A1,A2 --format json
    """
    if fmt is None:
        # a person at a terminal gets the table; a pipe or a cron job gets CSV
        terminal = output is None and sys.stdout.isatty()
        fmt = (format_from_suffix(output) if output else None) or ("table" if terminal else "csv")
    if fmt == "table" and output is not None:
        fail(
            "--format table prints to the terminal; pick csv, json, parquet or markdown", EXIT_USAGE
        )
    if fmt == "parquet" and output is None:
        fail("--format parquet needs --output FILE", EXIT_USAGE)
    with caching(not no_cache):
        result = run_or_exit(
            extracts, definitions, indicators=indicators, period=period, first=first, last=last
        )
    frame = result.results
    if output is not None:
        write_frame(frame, output, fmt)
        stderr_console().print(f"wrote {len(frame)} rows to {output}")
        return
    if fmt == "table":
        labels = result.period_labels
        span = labels[0] if len(labels) == 1 else f"{labels[0]} to {labels[-1]}"
        title = f"{result.definition_set.info.title} — {span}"
        stdout_console().print(scorecard_table(frame, result.definitions, title))
        return
    click.echo(render_text(frame, fmt), nl=False)


def register(group: click.Group) -> None:
    group.add_command(compute)
