"""``kpi validate``, ``kpi list`` and ``kpi show``: reading definition sets."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import click
from rich.table import Table

from kpi_engine import load_definitions
from kpi_engine.cli._common import (
    EXIT_DATA_ERROR,
    EXIT_USAGE,
    fail,
    report_problems,
    stderr_console,
    stdout_console,
)
from kpi_engine.cli._sets import SET_NAME, no_indicator
from kpi_engine.definitions import DefinitionSet
from kpi_engine.locations import (
    LATEST_CONTRACT_SET,
    UnknownSetError,
    available_sets,
    definitions_root,
    resolve_set,
    unknown_set,
)
from kpi_engine.render import (
    definition_details,
    definition_json,
    definition_row,
    definitions_table,
)
from kpi_engine.validation import SET_FILE, DefinitionError, validate_paths


def _target(path: Path) -> Path:
    """A file or folder to check: as given, or a set name's folder (a usage error if neither)."""
    if path.exists():
        return path
    try:
        return resolve_set(str(path))
    except UnknownSetError:
        message = unknown_set(str(path), what="file, folder or definition set")
        raise click.BadParameter(message, param_hint="PATHS") from None


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--extracts",
    "extracts",
    type=click.Path(path_type=Path),
    default=None,
    help="Check a case-level extract folder instead of definitions.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def validate(paths: tuple[Path, ...], extracts: Path | None, fmt: str) -> None:
    """Check definition files, folders or sets and report every problem.

    Each problem is printed as FILE:LINE:COLUMN: FIELD: MESSAGE. PATHS are files, folders or
    set names; with none, the shipped definition sets are checked.

    \b
    Examples:
      kpi validate indicator_definitions/
      kpi validate contract-2016-17
      kpi validate indicator_definitions/contract-2016-17/A1.yaml --format json
      kpi validate --extracts sample_data

    Exits 1 if any problem is found, 2 for a path or set that does not exist, 0 otherwise.
    """
    if extracts is not None:
        from kpi_engine.cli.extract_cmds import validate_extract

        validate_extract(extracts, fmt)
        return
    targets = [_target(p) for p in paths] or [definitions_root()]
    sets, problems = validate_paths(targets)
    report_problems(problems, fmt)
    errors = sum(p.severity == "error" for p in problems)
    if fmt == "text":
        files = sum(t.is_file() and t.name != SET_FILE for t in targets)
        count = sum(len(s.definitions) for s in sets) + files
        where = f" in {len(sets)} set(s)" if sets else ""
        summary = f"{errors} problem(s)" if errors else "no problems"
        stderr_console().print(f"checked {count} definition(s){where}: {summary}")
    if errors:
        raise SystemExit(EXIT_DATA_ERROR)


def _load(set_name: str) -> DefinitionSet:
    try:
        return load_definitions(set_name)
    except UnknownSetError as e:  # the option checks names; a set removed since is still 2
        fail(e.problems[0].message, EXIT_USAGE)
    except DefinitionError as e:
        report_problems(e.problems)
        fail(f"definition set {set_name!r} has problems (run: kpi validate {set_name})")


@click.command("list")
@click.option(
    "--set",
    "set_name",
    type=SET_NAME,
    default=LATEST_CONTRACT_SET,
    show_default=True,
    help="Definition set name or folder.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="json and csv: every field, one record per indicator, for scripts and CI.",
)
def list_(set_name: str, fmt: str) -> None:
    """List the indicators of a definition set.

    JSON and CSV give each indicator's id, name, group, contract, status, frequency, unit,
    unit_label, polarity, rating (in words), replaces and hash.

    \b
    Examples:
      kpi list
      kpi list --set contract-2015-16
      kpi list --set corporate-scorecard --format csv > measures.csv
      kpi list --format json | jq -r '.[].id'
    """
    definition_set = _load(set_name)
    rows = [definition_row(d) for d in definition_set.definitions]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    elif fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else ["id"])
        writer.writeheader()
        writer.writerows(rows)
    else:
        console = stdout_console()
        title = f"{definition_set.name}: {len(rows)} indicators"
        table = definitions_table(definition_set.definitions, title, width=console.width)
        console.print(table)


@click.command()
@click.argument("indicator_id")
@click.option(
    "--set", "set_name", type=SET_NAME, default=None, help="Definition set (default: search all)."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: a list of the definitions found, each with its set and hash.",
)
def show(indicator_id: str, set_name: str | None, fmt: str) -> None:
    """Show one indicator's definition, readably: filters as the YAML file writes them.

    Without --set, every set holding INDICATOR_ID is shown. An id no set holds is a usage
    error (exit 2), with the closest id.

    \b
    Examples:
      kpi show A1
      kpi show A5 --set contract-2015-16
      kpi show B8 --set contract-2016-17 --format json
    """
    searched = [_load(name) for name in ([set_name] if set_name else available_sets())]
    found = [(s.name, s.get(indicator_id)) for s in searched if indicator_id in s.ids]
    if not found:
        fail(no_indicator(indicator_id, searched), EXIT_USAGE)
    if fmt == "json":
        payload = [definition_json(d, name) for name, d in found]
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    console = stdout_console()
    for name, d in found:
        console.print(f"[bold]{d.id}[/bold] {d.name}  ({name})", highlight=False)
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="dim", justify="right", no_wrap=True)
        grid.add_column(overflow="fold")
        for label, value in definition_details(d):
            grid.add_row(label, value)
        console.print(grid, highlight=False)
