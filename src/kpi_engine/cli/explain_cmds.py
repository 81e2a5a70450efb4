"""``kpi explain``: which records (children) are behind a figure."""

from __future__ import annotations

from pathlib import Path

import click

from kpi_engine import load_definitions
from kpi_engine.cli._common import EXIT_USAGE, fail, report_problems, stderr_console
from kpi_engine.engine import NoData, members
from kpi_engine.extract import ExtractError
from kpi_engine.locations import LATEST_CONTRACT_SET, sample_data_dir
from kpi_engine.output import FORMATS, render_text, write_frame
from kpi_engine.periods import PeriodError, parse_month
from kpi_engine.prepared import caching, load_extract
from kpi_engine.run import latest_complete_month, tables_needed
from kpi_engine.validation import DefinitionError


@click.command()
@click.argument("indicator_id")
@click.option("--extracts", type=click.Path(path_type=Path), default=None, help="Extract folder.")
@click.option(
    "--definitions", default=LATEST_CONTRACT_SET, show_default=True, help="Definition set."
)
@click.option("--period", default=None, help="Month YYYY-MM [default: latest complete month].")
@click.option(
    "--only",
    type=click.Choice(["all", "numerator", "denominator"]),
    default="all",
    show_default=True,
    help="Which records to list.",
)
@click.option("--format", "fmt", type=click.Choice(list(FORMATS)), default="csv", show_default=True)
@click.option("--output", type=click.Path(path_type=Path, dir_okay=False), default=None)
@click.option(
    "--no-cache", is_flag=True, help="Load the extract afresh (no prepared copy; KPI_CACHE=0)."
)
def explain(
    indicator_id: str,
    extracts: Path | None,
    definitions: str,
    period: str | None,
    only: str,
    fmt: str,
    output: Path | None,
    no_cache: bool,
) -> None:
    """List the records (children, staff) behind an indicator's figure.

    Each row is one record counted in the denominator, flagged if it is also in the numerator,
    so a RAG rating can be traced back to the children behind it. The list identifies
    children: keep it inside the organisation.

    \b
    Examples:
      kpi explain A1 --period 2015-12
      kpi explain B10 --only numerator --format markdown
    """
    try:
        definition = load_definitions(definitions).get(indicator_id)
    except DefinitionError as e:
        report_problems(e.problems)
        fail(f"definition set {definitions!r} has problems (run: kpi validate)")
    except KeyError:
        fail(f"no indicator {indicator_id!r} in {definitions}", EXIT_USAGE)
    folder = extracts if extracts is not None else sample_data_dir()
    try:
        with caching(not no_cache):
            extract = load_extract(folder, tables=sorted(tables_needed([definition])))
        month = parse_month(period) if period else latest_complete_month(extract)
        frame = members(extract, definition, month)
    except PeriodError as e:
        fail(str(e), EXIT_USAGE)
    except ExtractError as e:
        report_problems(e.problems)
        fail(f"the extract in {folder} has problems (run: kpi validate --extracts)")
    except NoData as e:
        fail(f"{indicator_id} has no data: {e}")
    # the counts describe the whole figure, whichever records are listed
    numerator, denominator = int(frame.in_numerator.sum()), int(frame.in_denominator.sum())
    if only == "numerator":
        frame = frame[frame.in_numerator]
    elif only == "denominator":
        frame = frame[frame.in_denominator]
    stderr_console().print(
        f"{indicator_id}: {numerator} in the numerator, {denominator} in the denominator"
    )
    if output is not None:
        write_frame(frame, output, fmt)
        return
    if fmt == "parquet":
        fail("--format parquet needs --output FILE", EXIT_USAGE)
    click.echo(render_text(frame, fmt), nl=False)


def register(group: click.Group) -> None:
    group.add_command(explain)
