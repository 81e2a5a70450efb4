"""``kpi scorecard``: the monthly corporate scorecard, safe to run unattended from cron."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn, TextIO

import click

from kpi_engine import load_definitions
from kpi_engine.cli._common import (
    EXIT_DATA_ERROR,
    EXIT_LOCKED,
    EXIT_USAGE,
    extract_problems,
    stdout_console,
)
from kpi_engine.cli._sets import definitions_option, extracts_option, no_cache_option
from kpi_engine.extract import ExtractError
from kpi_engine.locations import SCORECARD_SET, no_extract_folder, sample_data_dir
from kpi_engine.lock import LockHeld, exclusive_output
from kpi_engine.output import FormatError, WriteError, chosen_format, untouched
from kpi_engine.periods import PeriodError, parse_month
from kpi_engine.prepared import caching
from kpi_engine.scorecard import (
    LAYOUTS,
    SCORECARD_FORMATS,
    BenchmarkError,
    IncompleteScorecard,
    ScorecardRun,
    render,
    rich_table,
    scorecard_run,
    write_scorecard,
)
from kpi_engine.suppression import publish_run
from kpi_engine.validation import DefinitionError, Problem

log = logging.getLogger("kpi_engine.cli.scorecard")


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Timestamped log lines on stderr, never coloured (cron mails them)."""


def _configure_logging(quiet: bool) -> None:
    root = logging.getLogger("kpi_engine")
    for handler in list(root.handlers):
        if isinstance(handler, _StderrHandler):
            root.removeHandler(handler)
    handler = _StderrHandler(sys.stderr)  # the stderr of this invocation
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S%z")
    )
    root.addHandler(handler)
    root.setLevel(logging.WARNING if quiet else logging.INFO)


def _fail(message: str, code: int, problems: Sequence[Problem] = ()) -> NoReturn:
    for p in problems:
        log.error("%s", p)
    log.error("kpi scorecard: %s", message)
    sys.exit(code)


def _scorecard_or_exit(
    extracts: Path | None, definitions: str, period: str | None, publish: bool = False
) -> ScorecardRun:
    """Load, compute, and turn every library error into a log line and an exit code."""
    try:
        definition_set = load_definitions(definitions)
    except DefinitionError as e:
        _fail(
            f"definition set {definitions!r} has problems (run: kpi validate)",
            EXIT_DATA_ERROR,
            e.problems,
        )
    folder = extracts if extracts is not None else sample_data_dir()
    if not folder.is_dir():
        _fail(no_extract_folder(folder), EXIT_USAGE)
    log.info("scorecard %s from %s", definition_set.name, folder)
    try:
        run = scorecard_run(folder, definition_set, period=period)
        if publish:
            run = publish_run(run)
        warnings = [p for p in getattr(run.extract, "problems", ()) if p.severity != "error"]
        for p in warnings[:20]:
            log.warning("%s", p)
        if len(warnings) > 20:
            log.warning(
                "... and %d more extract warnings (kpi validate --extracts)", len(warnings) - 20
            )
        return run
    except PeriodError as e:
        _fail(str(e), EXIT_USAGE)
    except ExtractError as e:
        _fail(
            f"{extract_problems(folder, len(e.problems))}; nothing written",
            EXIT_DATA_ERROR,
            e.problems,
        )
    except BenchmarkError as e:
        _fail(f"{e}; nothing written", EXIT_DATA_ERROR)


def _resolve_format(fmt: str | None, output: Path | None) -> str:
    """The format to write, or a usage error: to a file, the one its suffix names."""
    default = "table" if sys.stdout.isatty() else "csv"
    try:
        return chosen_format(fmt, output, SCORECARD_FORMATS, default)
    except FormatError as e:
        _fail(str(e), EXIT_USAGE)


def _publish_or_exit(
    output: Path, wait: float, produce: Callable[[], ScorecardRun], layout: str, fmt: str
) -> tuple[ScorecardRun, Path]:
    """Compute under the output's lock and publish the scorecard and its metadata together,
    or exit with the reason (the previous pair as it was)."""
    try:
        with exclusive_output(output, wait) as stale:
            for path in stale:
                log.info("removed %s, left by an interrupted run", path)
            run = produce()
            generated_at = datetime.now(UTC).isoformat(timespec="seconds")
            meta = write_scorecard(run, output, layout=layout, fmt=fmt, generated_at=generated_at)
    except LockHeld as e:
        _fail(f"{e}; not written (retry later, or give --wait SECONDS)", EXIT_LOCKED)
    except (WriteError, IncompleteScorecard) as e:
        _fail(f"{e}; {untouched(output)}", EXIT_DATA_ERROR)
    except FormatError as e:
        _fail(f"{e}; {untouched(output)}", EXIT_USAGE)
    return run, meta


@click.command()
@extracts_option()
@definitions_option(SCORECARD_SET)
@click.option(
    "--period", default=None, help="The latest month, YYYY-MM [default: latest complete month]."
)
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Write here (.csv, .md or .xlsx; atomically, under a lock) and FILE.meta.json beside it.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice([*SCORECARD_FORMATS, "table"]),
    default=None,
    help="[default: table on a terminal, else csv; with --output, its suffix's]",
)
@click.option(
    "--layout",
    type=click.Choice(list(LAYOUTS)),
    default="wide",
    show_default=True,
    help="wide: one row per measure; long: one row per measure and period (kpi compute columns).",
)
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Seconds to wait for another run writing the same --output before giving up (exit 3).",
)
@click.option("--quiet", "-q", is_flag=True, help="Log warnings and errors only (for cron mail).")
@click.option(
    "--publish",
    is_flag=True,
    help="Publication mode: counts 1-5 and what would reveal them written [c] (csv, markdown).",
)
@no_cache_option()
def scorecard(
    extracts: Path | None,
    definitions: str,
    period: str | None,
    output: Path | None,
    fmt: str | None,
    layout: str,
    wait: float,
    quiet: bool,
    publish: bool,
    no_cache: bool,
) -> None:
    """Write the corporate scorecard: one row per measure, in the set's order, with the
    baseline, the four last financial quarters, the latest month, target, rating, 6-month trend
    and national benchmark.

    Made for cron: the file is byte-identical for the same extract and definitions (run
    details go to FILE.meta.json), published together with its metadata or not at all, and
    one run at a time writes an output. Column contracts, the trend rule and a crontab line:
    docs/cron.md.

    Exit codes: 0 written; 1 data, definition or write error, or a measure of the set missing
    (nothing written); 2 usage error; 3 another run holds the output's lock.

    \b
    Examples:
      kpi scorecard --period 2015-12
      kpi scorecard --extracts /data/extract --output /srv/kpi/scorecard.csv --wait 600 --quiet
      kpi scorecard --layout long --output scorecard-long.csv
      kpi scorecard --output scorecard.xlsx
      kpi scorecard --publish --output published.csv
    """
    _configure_logging(quiet)
    fmt = _resolve_format(fmt, output)
    if publish and fmt not in ("csv", "markdown"):
        _fail("--publish writes [c] into the figures: use csv or markdown", EXIT_USAGE)
    if period is not None:
        try:
            parse_month(period)  # a usage error, before waiting for any lock
        except PeriodError as e:
            _fail(str(e), EXIT_USAGE)
    if output is None:
        with caching(not no_cache):
            run = _scorecard_or_exit(extracts, definitions, period, publish)
        if fmt == "table":
            console = stdout_console()
            console.print(rich_table(run.scorecard, layout, width=console.width))
        else:
            click.echo(render(run.scorecard, layout, fmt), nl=False)
        return

    def produce() -> ScorecardRun:
        with caching(not no_cache):
            return _scorecard_or_exit(extracts, definitions, period, publish)

    run, meta = _publish_or_exit(output, wait, produce, layout, fmt)
    rows = len(run.scorecard.frame(layout))
    log.info("wrote %d rows to %s for %s (metadata: %s)", rows, output, run.scorecard.period, meta)
