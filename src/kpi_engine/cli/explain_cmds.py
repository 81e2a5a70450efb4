"""``kpi explain``: which records (children) are behind a figure."""

from __future__ import annotations

from pathlib import Path

import click

from kpi_engine import load_definitions
from kpi_engine.cli._common import EXIT_USAGE, fail, report_problems, stderr_console
from kpi_engine.cli._sets import definitions_option, extracts_option, no_cache_option, no_indicator
from kpi_engine.definitions import DefinitionSet
from kpi_engine.engine import NoData
from kpi_engine.explain import explain as explain_figure
from kpi_engine.extract import ExtractError
from kpi_engine.locations import LATEST_CONTRACT_SET, no_extract_folder, sample_data_dir
from kpi_engine.output import (
    FORMATS,
    FormatError,
    WriteError,
    chosen_format,
    render_text,
    untouched,
    write_frame,
    write_text_atomic,
)
from kpi_engine.periods import PeriodError, month_label, parse_month
from kpi_engine.prepared import caching, load_extract
from kpi_engine.run import latest_complete_month, tables_needed
from kpi_engine.validation import DefinitionError

PERSONAL_DATA = (
    "personal data: these records identify children and staff; keep them inside the "
    "organisation (never in a report or a published scorecard)"
)
"""How every listing is marked: on stderr always, and as the Markdown's first line."""


@click.command()
@click.argument("indicator_id")
@extracts_option()
@definitions_option(LATEST_CONTRACT_SET)
@click.option("--period", default=None, help="Month YYYY-MM [default: latest complete month].")
@click.option(
    "--only",
    type=click.Choice(["all", "numerator", "denominator"]),
    default="all",
    show_default=True,
    help="Which records to list.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(FORMATS)),
    default=None,
    help="Output format [default: csv; with --output, its suffix's].",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Write to this file (atomically): .csv, .json, .parquet or .md.",
)
@no_cache_option()
def explain(
    indicator_id: str,
    extracts: Path | None,
    definitions: str,
    period: str | None,
    only: str,
    fmt: str | None,
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
    The list identifies children: it is personal data, marked as such (on stderr, and in the
    Markdown's heading), never part of a report or a published scorecard: keep it inside the
    organisation.

    \b
    Examples:
      kpi explain A1 --period 2015-12
      kpi explain B10 --only numerator --format markdown
      kpi explain CARE-LADDER --definitions contract-2016-17 --output ladder.csv
    """
    fmt = _format(fmt, output)
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
    click.echo(f"kpi: {PERSONAL_DATA}", err=True)
    frame = found.records
    if only != "all":
        frame = frame[frame[f"in_{only}"].to_numpy(dtype=bool)]
    if output is None:
        click.echo(_marked(render_text(frame, fmt), fmt), nl=False)
        return
    try:
        if fmt == "markdown":
            write_text_atomic(output, _marked(render_text(frame, fmt), fmt))
        else:
            write_frame(frame, output, fmt)
    except WriteError as e:
        fail(f"{e}; {untouched(output)}")


def _marked(text: str, fmt: str) -> str:
    """Markdown is read by people: its first line says what it holds. CSV, JSON and Parquet
    keep their shape for the tools that read them (the notice is on stderr)."""
    return f"**{PERSONAL_DATA}**\n\n{text}" if fmt == "markdown" else text


def _format(fmt: str | None, output: Path | None) -> str:
    """The format to write: to a file, the one its suffix names (a usage error otherwise)."""
    try:
        return chosen_format(fmt, output, FORMATS, "csv")
    except FormatError as e:
        fail(str(e), EXIT_USAGE)


def _load(name: str) -> DefinitionSet:
    try:
        return load_definitions(name)
    except DefinitionError as e:
        report_problems(e.problems)
        fail(f"definition set {name!r} has problems (run: kpi validate {name})")
