"""The ``kpi`` command: a thin click layer over the library API.

Each command lives in its own module, parses options, calls one library function and renders
the result. Exit codes: 0 ok, 1 data or definition error, 2 usage error (3: lock held, for
``kpi scorecard``). Results go to stdout, diagnostics to stderr.
"""

from __future__ import annotations

import click

from kpi_engine import __version__
from kpi_engine._memory import use_returning_allocator
from kpi_engine.cli import (
    compute_cmds,
    definitions_cmds,
    diff_cmds,
    explain_cmds,
    extract_cmds,
    import_cmds,
    sample_cmds,
    scorecard_cmds,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="kpi")
def cli() -> None:
    """Compute children's social care performance indicators from case-level extracts.

    \b
    Example:
      kpi validate indicator_definitions/
      kpi list --set contract-2015-16
      kpi compute --period 2015-12

    Exit codes: 0 ok, 1 data or definition error, 2 usage error.
    """


for _module in (
    definitions_cmds,
    extract_cmds,
    sample_cmds,
    import_cmds,
    compute_cmds,
    explain_cmds,
    scorecard_cmds,
    diff_cmds,
):
    _module.register(cli)


def main() -> None:
    use_returning_allocator()
    cli(prog_name="kpi")
