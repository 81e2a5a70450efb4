"""``kpi report``: the board report, one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path

import click

from kpi_engine import load_definitions
from kpi_engine.cli._common import (
    EXIT_USAGE,
    extract_problems,
    fail,
    report_problems,
    stderr_console,
)
from kpi_engine.cli._sets import definitions_option, extracts_option
from kpi_engine.extract import ExtractError
from kpi_engine.locations import SCORECARD_SET, no_extract_folder, sample_data_dir
from kpi_engine.periods import PeriodError
from kpi_engine.report import DEFAULT_MONTHS, write_report
from kpi_engine.scorecard import BenchmarkError
from kpi_engine.validation import DefinitionError


@click.command()
@extracts_option()
@definitions_option(SCORECARD_SET)
@click.option(
    "--period", default=None, help="The latest month, YYYY-MM [default: latest complete month]."
)
@click.option(
    "--months",
    type=click.IntRange(min=1, max=120),
    default=DEFAULT_MONTHS,
    show_default=True,
    help="Months in each trend chart.",
)
@click.option(
    "--publish",
    is_flag=True,
    help="Publication mode: suppress counts 1-5 and what would reveal them, shown as [c].",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The HTML file to write (atomically).",
)
def report(
    extracts: Path | None,
    definitions: str,
    period: str | None,
    months: int,
    publish: bool,
    output: Path,
) -> None:
    """Write the board report: one self-contained HTML page (no network needed to open it)
    with every measure's latest figure, target, rating, trend chart with SPC limits,
    variation and assurance icons, national benchmark, definitions and data provenance.

    It prints on A4 landscape as a board pack. It holds aggregate figures only; use
    --publish before it leaves the organisation. Method: docs/report.md.

    \b
    Examples:
      kpi report --output report.html
      kpi report --period 2015-12 --months 36 --output board-2015-12.html
      kpi report --extracts /data/extract --publish --output published.html
    """
    if output.suffix.lower() not in (".html", ".htm"):
        fail(f"--output {output}: the report is HTML; name the file .html", EXIT_USAGE)
    try:
        definition_set = load_definitions(definitions)
    except DefinitionError as e:
        report_problems(e.problems)
        fail(f"definition set {definitions!r} has problems (run: kpi validate)")
    folder = extracts if extracts is not None else sample_data_dir()
    if not folder.is_dir():
        fail(no_extract_folder(folder), EXIT_USAGE)
    try:
        written = write_report(
            folder, definition_set, output, period=period, months=months, publish=publish
        )
    except PeriodError as e:
        fail(str(e), EXIT_USAGE)
    except ExtractError as e:
        report_problems(e.problems)
        fail(extract_problems(folder, len(e.problems)))
    except BenchmarkError as e:
        fail(str(e))
    except OSError as e:
        fail(f"cannot write {output}: {e.strerror or e}")
    stderr_console().print(
        f"wrote the {written.definition_set.name} report for {written.period} "
        f"({len(written.measures)} measures) to {output}"
    )
