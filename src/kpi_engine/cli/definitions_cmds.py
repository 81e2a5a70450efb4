"""``kpi validate``, ``kpi list`` and ``kpi show``: reading definition sets."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from kpi_engine import load_definitions
from kpi_engine.cli._common import (
    EXIT_DATA_ERROR,
    fail,
    report_problems,
    stderr_console,
    stdout_console,
)
from kpi_engine.definitions import Definition
from kpi_engine.locations import LATEST_CONTRACT_SET, available_sets, definitions_root
from kpi_engine.render import describe_rating, describe_window
from kpi_engine.validation import DefinitionError, validate_paths


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
    """Check definition files or folders and report every problem.

    Each problem is printed as FILE:LINE:COLUMN: FIELD: MESSAGE. With no PATH, the shipped
    definition sets are checked.

    \b
    Examples:
      kpi validate indicator_definitions/
      kpi validate indicator_definitions/contract-2016-17/A1.yaml --format json
      kpi validate --extracts sample_data

    Exits 1 if any problem is found, 0 otherwise.
    """
    if extracts is not None:
        from kpi_engine.cli.extract_cmds import validate_extract

        validate_extract(extracts, fmt)
        return
    targets = list(paths) or [definitions_root()]
    sets, problems = validate_paths(targets)
    report_problems(problems, fmt)
    errors = sum(p.severity == "error" for p in problems)
    if fmt == "text":
        count = sum(len(s.definitions) for s in sets)
        summary = f"{errors} problem(s)" if errors else "no problems"
        stderr_console().print(f"checked {count} definition(s) in {len(sets)} set(s): {summary}")
    if errors:
        raise SystemExit(EXIT_DATA_ERROR)


def _load(set_name: str) -> list[Definition]:
    try:
        return list(load_definitions(set_name).definitions)
    except DefinitionError as e:
        report_problems(e.problems)
        fail(f"definition set {set_name!r} has problems (run: kpi validate)")


@click.command("list")
@click.option(
    "--set",
    "set_name",
    default=LATEST_CONTRACT_SET,
    show_default=True,
    help="Definition set name or folder.",
)
def list_(set_name: str) -> None:
    """List the indicators of a definition set.

    \b
    Examples:
      kpi list
      kpi list --set contract-2015-16
      kpi list --set corporate-scorecard
    """
    definitions = _load(set_name)
    table = Table(title=f"{set_name}: {len(definitions)} indicators", title_justify="left")
    for column in ("id", "name", "group", "frequency", "unit", "polarity", "rating"):
        table.add_column(column, overflow="fold")
    for d in definitions:
        name = d.name + ("" if d.status.value == "active" else f" [{d.status.value}]")
        table.add_row(
            d.id + (" ©" if d.contract else ""),
            name,
            d.group.label,
            d.frequency.value,
            d.unit.value,
            "higher" if d.polarity.value == "higher_is_better" else "lower",
            describe_rating(d),
        )
    stdout_console().print(table)


@click.command()
@click.argument("indicator_id")
@click.option("--set", "set_name", default=None, help="Definition set (default: search all).")
def show(indicator_id: str, set_name: str | None) -> None:
    """Show one indicator's definition, readably.

    \b
    Examples:
      kpi show A1
      kpi show A5 --set contract-2015-16
    """
    names = [set_name] if set_name else available_sets()
    found = False
    console = stdout_console()
    for name in names:
        for d in _load(name):
            if d.id != indicator_id:
                continue
            found = True
            console.print(f"[bold]{d.id}[/bold] {d.name}  ({name})", highlight=False)
            rows = [
                ("group", d.group.label),
                ("contract measure", "yes" if d.contract else "no"),
                ("status", d.status.value + (f": {d.status_note}" if d.status_note else "")),
                ("unit", d.unit.value + (f" ({d.unit_label})" if d.unit_label else "")),
                ("rounding", f"{d.rounding} decimal place(s)"),
                ("polarity", d.polarity.value.replace("_", " ")),
                ("frequency", d.frequency.value),
                ("window", describe_window(d)),
                ("rating", describe_rating(d)),
            ]
            for part in ("denominator", "numerator"):
                spec = getattr(d, part)
                if spec is not None:
                    rows.append((part, spec.model_dump_json(exclude_none=True)))
            if d.breakdown:
                rows.append(("breakdown", f"by {d.breakdown.column} ({d.breakdown.denominator})"))
            if d.replaces:
                rows.append(("replaces", d.replaces))
            if d.parameters:
                rows.append(
                    ("parameters", ", ".join(f"{k} = {v:g}" for k, v in d.parameters.items()))
                )
            if d.min_count is not None:
                rows.append(("min_count", str(d.min_count)))
            rows += [("description", d.description.strip()), ("source", d.source.strip())]
            rows.append(("hash", d.content_hash()))
            for label, value in rows:
                console.print(f"  [dim]{label:>16}[/dim]  {value}", highlight=False)
    if not found:
        fail(f"no indicator {indicator_id!r} in {', '.join(names) or 'any set'}")


def register(group: click.Group) -> None:
    group.add_command(validate)
    group.add_command(list_)
    group.add_command(show)
