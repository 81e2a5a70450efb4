"""``kpi diff OLD NEW``: classify year-on-year definition changes and show their effect."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.cells import cell_len
from rich.console import Group
from rich.table import Table
from rich.text import Text

from kpi_engine import diff, load_definitions
from kpi_engine.cli._common import (
    EXIT_DATA_ERROR,
    EXIT_USAGE,
    fail,
    report_problems,
    stdout_console,
)
from kpi_engine.cli._sets import SET_NAME, no_cache_option
from kpi_engine.definitions import DefinitionSet
from kpi_engine.locations import no_extract_folder, sample_data_dir


def _load(name: str, fmt: str) -> DefinitionSet | None:
    from kpi_engine.validation import DefinitionError

    try:
        return load_definitions(name)
    except DefinitionError as e:
        report_problems(e.problems, "json" if fmt == "json" else "text")
        click.echo(f"kpi: error: definition set {name!r} has problems", err=True)
        return None


def _table(result: diff.SetDiff, impacts: list[diff.Impact] | None, period: str) -> None:
    """The overview one line per measure, then what changed as a list, then the impact."""
    console = stdout_console()
    old, new = result.labels
    rows = []
    for row in diff.overview_rows(result):
        ref = row["old_id"] or row["new_id"]
        if row["old_id"] and row["new_id"] and row["old_id"] != row["new_id"]:
            ref = f"{row['old_id']} → {row['new_id']}"
        rows.append([ref, row["change"], row["measure"] or row["replacement"]])
    console.print(_fitted(f"{old} → {new}", ["ref", "change", "measure"], rows, console.width))
    detailed = [e for e in result.entries if e.changes]
    if detailed:
        console.print("\n[bold]What changed[/bold]")
    for e in detailed:
        console.print(f"  [bold]{e.new_id or e.old_id}[/bold] ({e.change.value})", highlight=False)
        for line in diff.change_lines(e):
            console.print(f"    {line}", highlight=False)
    if impacts:
        headings = ["ref", "old", "new", "change", "rating", "num in/out", "den in/out"]
        rows = [
            [
                r["new_id"] or r["old_id"],
                r["old_value"],
                r["new_value"],
                r["change"].split(":")[0],  # 'unit changed': which units, in markdown and json
                f"{r['old_rating'] or '-'} → {r['new_rating'] or '-'}",
                diff.pair(r["numerator_in"], r["numerator_out"]),
                diff.pair(r["denominator_in"], r["denominator_out"]),
            ]
            for r in diff.impact_rows(impacts)
        ]
        console.print()
        console.print(_fitted(f"Impact on {period}", headings, rows, console.width))


def _fitted(title: str, headings: list[str], rows: list[list[str]], width: int) -> Group:
    """One line per row: the last column is cut to fit, the columns that cannot fit dropped."""
    widths = [max([cell_len(h), *(cell_len(r[i]) for r in rows)]) for i, h in enumerate(headings)]
    keep = len(headings)
    while keep > 3 and sum(widths[:keep]) + 2 * (keep - 1) > width:
        keep -= 1
    table = Table(**_PLAIN)
    room = width - sum(widths[: keep - 1]) - 2 * (keep - 1)
    for i, heading in enumerate(headings[:keep]):
        fixed = widths[i] if i < keep - 1 else max(min(room, widths[i]), cell_len(heading))
        table.add_column(heading, no_wrap=True, overflow="ellipsis", width=fixed)
    for row in rows:
        table.add_row(*row[:keep])
    if keep < len(headings):
        hidden = ", ".join(headings[keep:])
        table.caption = f"Not shown at {width} columns: {hidden}; --format markdown shows all."
        table.caption_justify = "left"
    return Group(Text(title, style="table.title"), table)  # a long title wraps on its own


_PLAIN: dict[str, Any] = {
    "box": box.SIMPLE_HEAD,
    "show_edge": False,
    "pad_edge": False,
    "collapse_padding": True,
}


@click.command("diff")
@click.argument("old", type=SET_NAME)
@click.argument("new", type=SET_NAME)
@click.option(
    "--extracts",
    type=click.Path(path_type=Path),
    default=None,
    help="Compute old and new on this extract [default with --period: the shipped sample_data].",
)
@click.option("--period", default=None, help="Month YYYY-MM for the impact [default: latest].")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "markdown", "json"]),
    default="table",
    show_default=True,
    help="markdown fits a pull-request comment; json is for tools.",
)
@click.option(
    "--fail-on",
    type=click.Choice(["none", "breaking", "any"]),
    default="breaking",
    show_default=True,
    help="Exit 1 on breaking changes (revised, replaced, dropped), on any change, or never.",
)
@no_cache_option()
def diff_command(
    old: str,
    new: str,
    extracts: Path | None,
    period: str | None,
    fmt: str,
    fail_on: str,
    no_cache: bool,
) -> None:
    """Compare two definition sets (names or folders): retained, revised, replaced, dropped, new.

    Filters are compared by meaning, so reordering, quoting and spacing are no change. With
    --extracts or --period, both sets are computed on the same data and the table shows old
    value, new value, rating change and how many children enter or leave the numerator and
    denominator.

    Exit codes: 0 no change that --fail-on counts; 1 such changes, or invalid definitions;
    2 usage error.

    \b
    Examples:
      kpi diff indicator_definitions/contract-2015-16 indicator_definitions/contract-2016-17
      kpi diff contract-2015-16 contract-2016-17 --period 2016-03 --format markdown
      kpi diff old/ indicator_definitions/contract-2016-17 --fail-on any --format json
    """
    old_set, new_set = _load(old, fmt), _load(new, fmt)
    if old_set is None or new_set is None:
        sys.exit(EXIT_DATA_ERROR)
    result = diff.compare(old_set, new_set)
    impacts: list[diff.Impact] | None = None
    label = ""
    if extracts is not None or period is not None:
        folder = extracts if extracts is not None else sample_data_dir()
        impacts, label = _impacts(result, folder, period, no_cache)
    if fmt == "json":
        click.echo(json.dumps(diff.as_json(result, impacts), indent=2))
    elif fmt == "markdown":
        click.echo(diff.markdown(result, impacts, label), nl=False)
    else:
        _table(result, impacts, label)
    if result.fails(fail_on):
        why = result.why_failing(fail_on)
        click.echo(f"kpi diff: --fail-on {fail_on} fails on {why}", err=True)
        sys.exit(EXIT_DATA_ERROR)


def _impacts(
    result: diff.SetDiff, folder: Path, period: str | None, no_cache: bool
) -> tuple[list[diff.Impact], str]:
    """Both sets computed on the extract in ``folder`` for ``period`` (default: the latest
    complete month), and that month's label. The engine is imported here: comparing the
    definitions alone, as CI does on every change, needs none of it."""
    from kpi_engine.extract import ExtractError
    from kpi_engine.periods import PeriodError, month_label, parse_month
    from kpi_engine.prepared import caching, load_extract
    from kpi_engine.run import latest_complete_month, tables_needed

    if not folder.is_dir():
        fail(no_extract_folder(folder), EXIT_USAGE)
    try:
        month = parse_month(period) if period else None
    except PeriodError as e:
        fail(str(e), EXIT_USAGE)
    needed = tables_needed([*result.old.definitions, *result.new.definitions])
    try:
        with caching(not no_cache):
            extract = load_extract(folder, tables=sorted(needed))
    except ExtractError as e:
        report_problems(e.problems)
        fail(f"the extract in {folder} has problems (run: kpi validate --extracts)")
    if month is None:
        month = latest_complete_month(extract)
    return diff.impact(result, extract, month), month_label(month)
