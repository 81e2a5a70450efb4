"""What every command shares: consoles, error reporting and exit codes."""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

import click
from rich.console import Console

from kpi_engine._reading import what_was_read
from kpi_engine.validation import Problem

EXIT_OK = 0
EXIT_DATA_ERROR = 1
EXIT_USAGE = 2
EXIT_LOCKED = 3


_debug = False


def set_debug(on: bool) -> None:
    """``kpi --debug``: unexpected failures show their traceback."""
    global _debug
    _debug = on  # click calls this on every run, so an in-process rerun starts afresh


def debugging() -> bool:
    return _debug or os.environ.get("KPI_DEBUG", "").strip() not in ("", "0")


def report_unexpected(error: BaseException) -> None:
    """One line for a failure no command anticipated, naming the file being read if known.

    A defect, not the user's error; the line says how to see the traceback to report it.
    """
    if debugging():
        traceback.print_exception(error)
    where = what_was_read(error)
    reading = f" while reading {where}" if where else ""
    detail = str(error).splitlines()[0] if str(error).strip() else ""
    hint = "" if debugging() else " (run with kpi --debug for the traceback)"
    click.echo(
        f"kpi: error: unexpected failure{reading}: {type(error).__name__}"
        + (f": {detail}" if detail else "")
        + hint,
        err=True,
    )


def stdout_console() -> Console:
    # rich honours NO_COLOR and drops styling when stdout is not a terminal
    return Console(soft_wrap=False)


def stderr_console() -> Console:
    return Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = EXIT_DATA_ERROR) -> NoReturn:
    """Print ``message`` on stderr and exit with ``code`` (no traceback)."""
    click.echo(f"kpi: error: {message}", err=True)
    sys.exit(code)


def report_problems(problems: Sequence[Problem], fmt: str = "text") -> None:
    """Print problems: plain lines on stderr, or JSON on stdout for CI."""
    if fmt == "json":
        payload = {
            "ok": not any(p.severity == "error" for p in problems),
            "errors": sum(p.severity == "error" for p in problems),
            "warnings": sum(p.severity == "warning" for p in problems),
            "problems": [p.as_dict() for p in problems],
        }
        click.echo(json.dumps(payload, indent=2))
        return
    for p in problems:
        prefix = "warning: " if p.severity == "warning" else ""
        click.echo(f"{prefix}{p}", err=True)


def extract_problems(folder: object, count: int) -> str:
    """The one line after an extract's problems are listed: how many, and what to run."""
    return f"the extract in {folder} has {count} problem(s) (run: kpi validate --extracts)"
