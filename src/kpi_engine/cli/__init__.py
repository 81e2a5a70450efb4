"""The ``kpi`` command: a thin click layer over the library API.

Each command lives in its own module, parses options, calls one library function and renders
the result. Exit codes: 0 ok, 1 data or definition error, 2 usage error (3: lock held, for
``kpi scorecard``). Results go to stdout, diagnostics to stderr.
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys
from collections.abc import Sequence

import click

from kpi_engine import __version__
from kpi_engine._memory import use_returning_allocator
from kpi_engine.cli._common import EXIT_DATA_ERROR, report_unexpected, set_debug

_COMMANDS = {
    "compute": ("compute_cmds", "compute"),
    "diff": ("diff_cmds", "diff_command"),
    "explain": ("explain_cmds", "explain"),
    "import": ("import_cmds", "import_group"),
    "list": ("definitions_cmds", "list_"),
    "report": ("report_cmds", "report"),
    "sample-data": ("sample_cmds", "sample_data"),
    "scorecard": ("scorecard_cmds", "scorecard"),
    "show": ("definitions_cmds", "show"),
    "validate": ("definitions_cmds", "validate"),
}
"""Each command and where it is written (module of kpi_engine.cli, name in it)."""


class _Commands(click.Group):
    """The commands, each imported when it runs: a command reading no data (``kpi validate``,
    ``--version``) need not wait for pandas and the engine (about 0.5 s), which the
    commands that read data import. ``kpi --help`` and completion import them all."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name not in _COMMANDS and not name.startswith("-") and not ctx.resilient_parsing:
            # click suggests from the commands it holds, and this group holds none until used
            close = sorted(difflib.get_close_matches(name, _COMMANDS))
            named = ", ".join(repr(c) for c in close)
            hint = (
                f"Did you mean {named}?" if len(close) == 1 else f"(Did you mean one of: {named}?)"
            )
            ctx.fail(f"No such command {name!r}." + (f" {hint}" if close else ""))
        return super().resolve_command(ctx, args)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _COMMANDS:
            return None
        module, name = _COMMANDS[cmd_name]
        command = getattr(importlib.import_module(f"kpi_engine.cli.{module}"), name)
        assert isinstance(command, click.Command) and command.name == cmd_name
        return command


@click.group(
    cls=_Commands,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="kpi")
@click.option(
    "--debug",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=lambda _ctx, _param, on: set_debug(on),
    help="Show the traceback of an unexpected failure (or set KPI_DEBUG=1).",
)
def cli() -> None:
    """Compute children's social care performance indicators from case-level extracts.

    \b
    Example:
      kpi validate indicator_definitions/
      kpi list --set contract-2015-16
      kpi compute --period 2015-12

    Exit codes: 0 ok, 1 data or definition error, 2 usage error (3: kpi scorecard's
    output is locked by another run).

    \b
    Environment:
      KPI_DEFINITIONS  folder of definition sets [default:
                       ./indicator_definitions, else the sets shipped with kpi]
      KPI_EXTRACTS     default extract folder [default: ./sample_data, else the
                       source checkout's sample_data]
      KPI_BENCHMARKS   national benchmarks CSV for kpi scorecard [default: the
                       shipped England figures; a missing file is a warning]
      KPI_THREADS      threads for loading and computing [default: one per core,
                       at most 4]; 1 gives the lowest peak memory
      NO_COLOR         any value: no colour

    \b
    Shell completion of commands, options and set names, in ~/.bashrc:
      eval "$(_KPI_COMPLETE=bash_source kpi)"
    (zsh: zsh_source in ~/.zshrc; fish: fish_source; see README.md)
    """


def main(args: Sequence[str] | None = None) -> None:
    """The ``kpi`` command: an unexpected failure is one line on stderr and exit 1, naming the
    file being read; the traceback only with ``kpi --debug`` or ``KPI_DEBUG=1``."""
    use_returning_allocator()
    try:
        cli.main(args=list(args) if args is not None else None, prog_name="kpi")
    except BrokenPipeError:
        # the reader went away (kpi compute | head): not a failure worth a message
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_DATA_ERROR)
    except Exception as e:
        report_unexpected(e)
        sys.exit(EXIT_DATA_ERROR)
