"""``kpi explain``: which records (children) are behind a figure."""

from __future__ import annotations

from pathlib import Path

import click

from kpi_engine import load_definitions
from kpi_engine.cli._common import EXIT_USAGE, fail, report_problems, stderr_console
from kpi_engine.cli._sets import SET_NAME, no_indicator
from kpi_engine.definitions import DefinitionSet
from kpi_engine.engine import NoData
from kpi_engine.explain import explain as explain_figure
from kpi_engine.extract import ExtractError
from kpi_engine.locations import LATEST_CONTRACT_SET, no_extract_folder, sample_data_dir
from kpi_engine.output import FORMATS, render_text, write_frame
from kpi_engine.periods import PeriodError, month_label, parse_month
from kpi_engine.prepared import caching, load_extract
from kpi_engine.run import latest_complete_month, tables_needed
from kpi_engine.validation import DefinitionError


@click.command()
@click.argument("indicator_id")
@click.option("--extracts", type=click.Path(path_type=Path), default=None, help="Extract folder.")
@click.option(
    "--definitions",
    type=SET_NAME,
    default=LATEST_CONTRACT_SET,
    show_default=True,
    help="Definition set name or folder.",
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

    One row per record the figure counts, with in_numerator and in_denominator flags and the
    record's columns. When the numerator is a subset of the denominator (most measures), each
    denominator record is listed once, flagged if it is also in the numerator; when the two
    come from different tables (a rate per 1,000 of the population), each table's records are
    listed, flagged by the part they count in. A summed figure (weeks, FTE, money) gets a
    numerator_adds or denominator_adds column: what each record adds.

    The summary on stderr gives the numerator and denominator exactly as kpi compute has
    them: records, distinct children (a child with two placements counts once) or a sum.
    The list identifies children: keep it inside the organisation.

    \b
    Examples:
      kpi explain A1 --period 2015-12
      kpi explain B10 --only numerator --format markdown
      kpi explain CARE-LADDER --definitions contract-2016-17 --output ladder.csv
    """
    definition_set = _load(definitions)
    if indicator_id not in definition_set.ids:
        fail(no_indicator(indicator_id, [definition_set]), EXIT_USAGE)
    definition = definition_set.get(indicator_id)
    folder = extracts if extracts is not None else sample_data_dir()
    if not folder.is_dir():
        fail(no_extract_folder(folder), EXIT_USAGE)
    try:
        with caching(not no_cache):
            extract = load_extract(folder, tables=sorted(tables_needed([definition])))
        month = parse_month(period) if period else latest_complete_month(extract)
        found = explain_figure(extract, definition, month)
    except PeriodError as e:
        fail(str(e), EXIT_USAGE)
    except ExtractError as e:
        report_problems(e.problems)
        fail(f"the extract in {folder} has problems (run: kpi validate --extracts {folder})")
    except NoData as e:
        fail(f"{indicator_id} has no data: {e}")
    # the summary describes the whole figure, whichever records are listed
    summary = f"{indicator_id}: {found.numerator} in the numerator, "
    summary += f"{found.denominator} in the denominator" if found.denominator else "no denominator"
    summary += f" ({month_label(month)})"
    stderr_console().print(summary, highlight=False)
    frame = found.records
    if only != "all":
        frame = frame[frame[f"in_{only}"].to_numpy(dtype=bool)]
    if output is not None:
        write_frame(frame, output, fmt)
        return
    if fmt == "parquet":
        fail("--format parquet needs --output FILE", EXIT_USAGE)
    click.echo(render_text(frame, fmt), nl=False)


def _load(name: str) -> DefinitionSet:
    try:
        return load_definitions(name)
    except DefinitionError as e:
        report_problems(e.problems)
        fail(f"definition set {name!r} has problems (run: kpi validate {name})")


def register(group: click.Group) -> None:
    group.add_command(explain)
