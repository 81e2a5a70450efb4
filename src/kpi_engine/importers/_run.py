"""One call for a whole import: read each return, then stack and write them (the CLI's call)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from kpi_engine.importers._common import ImportReport, ReturnRead, import_returns

Kind = Literal["ssda903", "cin_census"]


def import_paths(
    kind: Kind,
    paths: Sequence[Path],
    output: Path,
    *,
    into: Path | None = None,
    strict: bool = False,
    population: Path | None = None,
    year: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> ImportReport:
    """Read the returns at ``paths`` (one a year) and write them as one extract at ``output``.

    ``year`` names the collection year of a single 903 return whose dates cannot tell it.
    ``progress`` hears one line per step. Raises ``ImportFailure`` (nothing written).
    """
    say = progress or (lambda _: None)
    reads: list[ReturnRead] = []
    for number, path in enumerate(paths, 1):
        say(f"reading {path} ({number} of {len(paths)})")
        reads.append(_read(kind, path, year))
        say(f"read {path}: year ending 31 March {reads[-1].year}")
    say(f"stacking {len(reads)} return(s) and writing {output}")
    return import_returns(reads, output, into=into, strict=strict, population=population)


def _read(kind: Kind, path: Path, year: int | None) -> ReturnRead:
    if kind == "ssda903":
        from kpi_engine.importers.ssda903 import read_ssda903

        return read_ssda903(path, year=year)
    from kpi_engine.importers.cin_census import read_cin_census

    read: ReturnRead = read_cin_census(path)
    return read
