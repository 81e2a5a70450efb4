"""``kpi import ssda903|cin-census``: statutory returns into an extract: the import report."""

from __future__ import annotations

import json
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kpi_engine.cli._common import EXIT_USAGE, fail

if TYPE_CHECKING:
    from kpi_engine.importers import ImportReport
    from kpi_engine.importers._run import Kind

# The importers (an XML parser among them) load when an import runs, not with every command.

SHOWN = 10
"""Rejections and findings listed in the text report; the files in the extract hold them all."""


def _options(command: Callable[..., None]) -> Callable[..., None]:
    decorators = [
        click.option(
            "--output",
            "-o",
            type=click.Path(file_okay=False, path_type=Path),
            help="New extract folder to write (must not exist, or be empty).",
        ),
        click.option(
            "--into",
            type=click.Path(exists=True, file_okay=False, path_type=Path),
            help="Existing extract to add these returns to (replaced whole; --output defaults "
            "to it).",
        ),
        click.option("--strict", is_flag=True, help="Any rejected record: exit 1, write nothing."),
        click.option(
            "--population",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="CSV of year, age, count (mid-year estimates, ages 0-17) for per-10,000 rates.",
        ),
        click.option(
            "--format",
            "fmt",
            type=click.Choice(["text", "json"]),
            default="text",
            show_default=True,
            help="Import report format (stdout).",
        ),
    ]
    for decorate in reversed(decorators):
        command = decorate(command)
    return command


@click.group("import")
def import_group() -> None:
    """Read statutory returns (SSDA903, children in need census) into an extract.

    \b
    Example:
      kpi import ssda903 returns/903_2015 returns/903_2016.xml --output extract
      kpi import cin-census returns/cin_2016.xml --into extract --population pop.csv
      kpi compute --extracts extract --period 2016-03

    Exit codes: 0 written (rejected records listed, and in rejected_rows.csv), 1 nothing
    written (not a return, hostile XML, --strict with rejections), 2 usage error.
    See docs/importing.md.
    """


@import_group.command("ssda903")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@_options
@click.option(
    "--year",
    type=int,
    help="Collection year by its end (2016 for 2015-16) of a single return; found from its "
    "dates otherwise.",
)
def ssda903(paths: tuple[Path, ...], year: int | None, **options: object) -> None:
    """Import SSDA903 returns: each PATH one year's CSV folder or XML file.

    CSV tables are found by their header rows, whatever the files are called. Several years
    stack into one extract; repeated records are merged and differences reported.

    \b
    Example:
      kpi import ssda903 903_2015/ 903_2016/ --output extract
      kpi import ssda903 903_2016.xml --output extract --format json
    """
    if year is not None and len(paths) > 1:
        fail("--year names the year of a single return; give one PATH with it", EXIT_USAGE)
    _run("ssda903", paths, year=year, **options)  # type: ignore[arg-type]


@import_group.command("cin-census")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@_options
def cin_census(paths: tuple[Path, ...], **options: object) -> None:
    """Import children in need census files: each FILE one year's XML.

    \b
    Example:
      kpi import cin-census cin_2015.xml cin_2016.xml --output extract
      kpi import cin-census cin_2016.xml --into extract
    """
    _run("cin_census", paths, **options)  # type: ignore[arg-type]


def _run(
    kind: Kind,
    paths: Sequence[Path],
    *,
    output: Path | None,
    into: Path | None,
    strict: bool,
    population: Path | None,
    fmt: str,
    year: int | None = None,
) -> None:
    target = output or into
    if target is None:
        fail("give --output NEW_FOLDER, or --into EXISTING_EXTRACT", EXIT_USAGE)
    began = time.perf_counter()
    live = sys.stderr.isatty()

    def progress(message: str) -> None:
        if live:
            click.echo(f"kpi import: {message} ({time.perf_counter() - began:.1f} s)", err=True)

    from kpi_engine.importers import ImportFailure, import_paths

    try:
        report = import_paths(
            kind,
            paths,
            target,
            into=into,
            strict=strict,
            population=population,
            year=year,
            progress=progress,
        )
    except ImportFailure as e:
        fail(str(e))
    except OSError as e:
        fail(f"cannot write {target}: {e}")
    if fmt == "json":
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        click.echo(render(report))
    for note in report.notes:
        click.echo(textwrap.fill(f"kpi import: note: {note}", 79, subsequent_indent="  "), err=True)


def render(report: ImportReport) -> str:
    from kpi_engine.importers._common import FINDINGS, REJECTED_ROWS

    """The text report: counts that reconcile, then the first rejections and findings."""
    lines = [f"{report.output} holds {len(report.sources)} return(s):"]
    for s in report.sources:
        lines.append(f"  {s.kind} {s.year}: {s.file}")
    lines.append(f"{'table':<22}{'read':>9}{'imported':>10}{'rejected':>10}{'merged':>9}")
    untouched = []
    for name, c in report.counts.items():
        if not c.read:
            untouched.append(f"{name} ({c.existing:,})")
            continue
        lines.append(f"{name:<22}{c.read:>9,}{c.imported:>10,}{c.rejected:>10,}{c.merged:>9,}")
        if c.existing:
            lines.append(f"{'':<4}and {c.existing:,} already there ({c.replaced:,} replaced)")
    verdict = "holds" if report.reconciles else "DOES NOT HOLD"
    lines.append(f"read = imported + rejected + merged {verdict} for every table")
    if untouched:
        kept = "kept as they were: " + ", ".join(untouched)
        lines.append(textwrap.fill(kept, width=78, subsequent_indent="  "))
    if report.rejections:
        where = report.output / REJECTED_ROWS
        lines.append(f"{len(report.rejections)} rejection(s), all in {where}:")
        for r in report.rejections[:SHOWN]:
            lines += [f"  {r.file}: {r.location}: {r.field}: got {r.value!r}", f"    {r.reason}"]
    if report.findings:
        where = report.output / FINDINGS
        lines.append(f"{len(report.findings)} finding(s) (imported, worth a look), all in {where}:")
        for f in report.findings[:SHOWN]:
            change = f"{f.earlier or 'empty'} -> {f.later or 'empty'}"
            lines += [f"  {f.table} {f.record}: {f.field}: {change}", f"    {f.message}"]
    shown = max(len(report.rejections), len(report.findings))
    if shown > SHOWN:
        lines.append(f"(the first {SHOWN} of each shown)")
    return "\n".join(lines)
