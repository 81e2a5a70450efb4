"""``kpi validate --extracts DIR``: the extract's problems as a table (or JSON), and a summary.

The option lives on ``kpi validate`` (see definitions_cmds); this module renders its report.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.table import Table

from kpi_engine.cli._common import EXIT_DATA_ERROR, stderr_console
from kpi_engine.extract import validate_extract_folder


def validate_extract(path: Path, fmt: str) -> None:
    """Check every table of the extract in ``path``; exit 1 on errors, 0 with warnings listed."""
    extract, problems = validate_extract_folder(path)
    errors = [p for p in problems if p.severity == "error"]
    warnings = [p for p in problems if p.severity != "error"]
    tables = extract.tables if extract is not None else {}
    rows = sum(len(t) for t in tables.values())
    if fmt == "json":
        payload = {
            "extract": str(path),
            "tables": {name: len(frame) for name, frame in tables.items()},
            "errors": len(errors),
            "warnings": len(warnings),
            "problems": [p.as_dict() for p in problems],
        }
        click.echo(json.dumps(payload, indent=2))
    else:
        console = stderr_console()
        if problems:
            table = Table(title=f"Problems in {path}", show_lines=False)
            for heading in ("severity", "file", "row", "column", "problem"):
                table.add_column(heading, overflow="fold")
            for p in problems:
                table.add_row(
                    p.severity,
                    Path(p.file).name,
                    "" if p.line is None else str(p.line),
                    p.field,
                    p.message,
                )
            console.print(table)
        console.print(
            f"checked {len(tables)} table(s), {rows:,} row(s) in {path}: "
            f"{len(errors)} error(s), {len(warnings)} warning(s)"
        )
    if errors:
        sys.exit(EXIT_DATA_ERROR)
