"""What every statutory-return importer shares: reads, rejections, dates and the stacking of years.

Each reader (``ssda903``, ``cin_census``) turns one year's return into a :class:`ReturnRead`:
contract-named tables plus the rows it had to reject, each located in the return. Everything
after that is the same for both returns and lives here.

Stacking years rests on one fact about the returns: each year's return repeats every record
still open at any time in that year, so consecutive returns overlap. Derived keys (an episode is
its child and start date) make the repeats of one record collide; the collisions are folded into
one row holding the latest year's values (a later year's empty value does not erase an earlier
year's: returns and the census carry different columns of the same child), and every value that
changed between years is reported as a :class:`Finding`, never silently overwritten. A record
whose start date changed between years gets a new key, so it is matched on what is left: the
same child, open at the end of the earlier year, absent from the later return, where the later
return has an unmatched record of that child that began before its year.

The written extract appears whole or not at all: it is built in a hidden sibling folder and
renamed into place.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from kpi_engine._text import strings

FILE = "_file"
LOCATION = "_location"
"""Optional columns of a read's tables: where each row came from (file, "line 12" or an XML
path). Rejections found while stacking name them; they are dropped before writing."""

REJECTED_ROWS = "rejected_rows.csv"
FINDINGS = "import_findings.csv"
MANIFEST = "manifest.yaml"

_YEAR = "_year"
_RANK = "_rank"  # order of precedence: existing extract first, then returns by year
_EXISTING = -1


class ImportFailure(Exception):
    """The import cannot go on; the message names the file and says why, in one line."""


@dataclass(frozen=True)
class Rejection:
    """A record of a return that cannot enter the extract, located in the return."""

    table: str
    """The extract table the record was meant for ("cla_episodes")."""
    file: str
    """The return file as given."""
    location: str
    """"line 12" (the CSV's physical line) or an XML element path."""
    field: str
    """The return's field ("DECOM", "AssessmentActualStartDate")."""
    value: str
    """The raw value ("" when missing)."""
    reason: str
    """Why, in words ("not a date (expected DD/MM/YYYY or DD/MM/YY)")."""


@dataclass(frozen=True)
class Finding:
    """A difference between years (or returns) about one record: reported, not an error."""

    table: str
    record: str
    """The record's key (an episode id, a child id)."""
    field: str
    """The extract column that differs."""
    earlier: str
    later: str
    """The values: the later one is imported."""
    earlier_file: str
    later_file: str
    message: str


@dataclass
class ReturnRead:
    """One year's return, read and mapped to contract tables."""

    kind: Literal["ssda903", "cin_census"]
    path: Path
    year: int
    """Collection year by its end: 2016 for 1 April 2015 - 31 March 2016."""
    authority: str | None
    """The authority's code where the return carries one."""
    sha256: str
    """Of the file (for a CSV folder: of its files in name order)."""
    tables: dict[str, pd.DataFrame]
    """Contract table name -> rows with contract column names (optionally ``_file`` and
    ``_location`` too, to locate rows rejected while stacking)."""
    records_read: dict[str, int]
    """Per extract table: records read = kept + rejected."""
    rejections: list[Rejection]
    findings: list[Finding] = field(default_factory=list)
    """What the reader noticed and imported anyway (a 903 child with no SEX: sex not known)."""
    pending: dict[str, pd.DataFrame] = field(default_factory=dict)
    """Per table worked out only once the years are stacked (the 903's adoptions, from every
    year's episodes), what this return adds to it (AD1's matching dates)."""


@dataclass(frozen=True)
class TableCount:
    """How one table's rows reconcile: ``read = imported + rejected + merged``."""

    read: int
    """Records read from the returns of this import."""
    rejected: int
    merged: int
    """Repeats of a record (the same record in several years' returns) folded into one."""
    imported: int
    existing: int = 0
    """Rows the extract given with ``into`` held before."""
    replaced: int = 0
    """Of those, rows superseded by a record of the returns."""

    @property
    def written(self) -> int:
        return self.imported + self.existing - self.replaced


@dataclass(frozen=True)
class Source:
    """One return the extract came from, as the manifest's ``sources`` records it."""

    kind: str
    file: str
    year: int
    authority: str | None
    sha256: str
    rows: dict[str, int]

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "file": self.file,
            "year": self.year,
            "authority": self.authority,
            "sha256": self.sha256,
            "rows": dict(self.rows),
        }


@dataclass
class ImportReport:
    """What an import did: per-table counts, the rejections, the findings and the sources."""

    output: Path
    counts: dict[str, TableCount]
    rejections: list[Rejection]
    findings: list[Finding]
    sources: list[Source]
    notes: list[str] = field(default_factory=list)
    """Things the user should know (no population: rates will be NO DATA)."""
    written: bool = True

    @property
    def reconciles(self) -> bool:
        """Whether every table's records read equal those imported, rejected and merged."""
        return all(c.read == c.imported + c.rejected + c.merged for c in self.counts.values())

    def as_dict(self) -> dict[str, object]:
        """The report as plain data (``kpi import --format json``)."""
        return {
            "output": str(self.output),
            "written": self.written,
            "reconciles": self.reconciles,
            "tables": {
                name: {
                    "read": c.read,
                    "imported": c.imported,
                    "rejected": c.rejected,
                    "merged": c.merged,
                    "existing": c.existing,
                    "replaced": c.replaced,
                    "written": c.written,
                }
                for name, c in self.counts.items()
            },
            "rejections": [dataclasses.asdict(r) for r in self.rejections],
            "findings": [dataclasses.asdict(f) for f in self.findings],
            "sources": [s.as_dict() for s in self.sources],
            "notes": list(self.notes),
        }


# --- dates ----------------------------------------------------------------------------------------

_FORMAT_PATTERNS = {
    "%d": r"\d{1,2}",
    "%m": r"\d{1,2}",
    "%Y": r"\d{4}",
    "%y": r"\d{2}",
    "%H": r"\d{1,2}",
    "%M": r"\d{2}",
    "%S": r"\d{2}",
}
_FORMAT_NAMES = {
    "%d": "DD",
    "%m": "MM",
    "%Y": "YYYY",
    "%y": "YY",
    "%H": "HH",
    "%M": "MM",
    "%S": "SS",
}


def _format_regex(fmt: str) -> str:
    parts = re.split(r"(%[a-zA-Z])", fmt)
    return "".join(_FORMAT_PATTERNS.get(p, re.escape(p)) for p in parts if p)


def date_reason(formats: Sequence[str]) -> str:
    """The rejection reason for a value in none of ``formats``, naming them as people write them."""
    names = []
    for fmt in formats:
        parts = re.split(r"(%[a-zA-Z])", fmt)
        names.append("".join(_FORMAT_NAMES.get(p, p) for p in parts if p))
    return f"not a date (expected {' or '.join(names)})"


def parse_dates(raw: pd.Series, formats: Sequence[str]) -> tuple[pd.Series, pd.Series]:
    """``raw`` text read as dates in the first of ``formats`` each value fits, vectorised.

    Returns the dates (``datetime64[ns]``, NaT where missing or unreadable) and a mask of the
    values present but unreadable. Spaces around a value are dropped; "" and None are missing.
    A value must match a format whole (``%Y`` four digits, ``%y`` two), so "01/02/15" never
    becomes the year 15. Two-digit years follow the C library's pivot: 00-68 are 2000-2068,
    69-99 are 1969-1999 (children and care leavers of the returns are all born after 1969).
    Dates outside 1900-2099 (a typing slip, an Excel serial number) are unreadable.
    """
    text = raw.astype("str").str.strip()
    present = raw.notna() & (text != "") & (text.str.lower() != "nan")
    result = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    todo = present.copy()
    for fmt in formats:
        if not todo.any():
            break
        fits = todo & text.str.fullmatch(_format_regex(fmt)).fillna(False).astype(bool)
        if not fits.any():
            continue
        parsed = pd.to_datetime(text[fits], format=fmt, errors="coerce")
        parsed = parsed.astype("datetime64[ns]")
        good = parsed.notna() & (parsed.dt.year >= 1900) & (parsed.dt.year <= 2099)
        result.loc[good[good].index] = parsed[good]
        todo.loc[good[good].index] = False
    return result, todo


def year_start(year: int) -> pd.Timestamp:
    """1 April that opens collection year ``year`` (2016: 1 April 2015)."""
    return pd.Timestamp(year - 1, 4, 1)


def year_end(year: int) -> pd.Timestamp:
    """31 March that closes collection year ``year``: the census's reference date."""
    return pd.Timestamp(year, 3, 31)


def reject_rows(
    table: str,
    file: str,
    locations: pd.Series,
    field_name: str,
    values: pd.Series,
    mask: pd.Series | np.ndarray,
    reason: str | pd.Series,
) -> list[Rejection]:
    """A rejection for each row where ``mask`` holds (only those rows are visited)."""
    chosen = np.flatnonzero(np.asarray(mask, dtype=bool))
    if not len(chosen):
        return []
    where = locations.iloc[chosen].astype("str").tolist()
    raw = values.iloc[chosen].astype("str").fillna("").tolist()
    raw = ["" if v in ("nan", "NaT", "<NA>", "None") else v for v in raw]
    reasons = (
        [reason] * len(chosen)
        if isinstance(reason, str)
        else reason.iloc[chosen].astype("str").tolist()
    )
    return [
        Rejection(table, file, loc, field_name, value, why)
        for loc, value, why in zip(where, raw, reasons, strict=True)
    ]


def member(values: pd.Series, known: pd.Series | pd.Index) -> np.ndarray:
    """Which ``values`` are among ``known`` (text; missing is never a member), in Arrow.

    pandas' ``isin`` on Arrow text turns the known values into Python objects one by one: a
    hundred thousand child ids cost seconds. Arrow's ``is_in`` hashes them in C.
    """
    found = pc.is_in(strings(values), value_set=pc.unique(strings(known)))
    return np.asarray(pc.fill_null(found, False).to_numpy(zero_copy_only=False), dtype=bool)


def sha256_of(paths: Iterable[Path]) -> str:
    """One hash over the files' bytes, in the order given."""
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as stream:
            for block in iter(lambda s=stream: s.read(1 << 20), b""):  # type: ignore[misc]
                digest.update(block)
    return digest.hexdigest()


def import_returns(
    reads: Sequence[ReturnRead],
    output: Path,
    *,
    into: Path | None = None,
    strict: bool = False,
    population: Path | None = None,
) -> ImportReport:
    """Stack the years ``reads`` hold into one extract written at ``output``, whole or not at all.

    Repeated records are merged (latest year's values) and their differences reported as
    findings; rows that break the extract contract go to ``rejected_rows.csv``. With ``into``, the
    existing extract's tables are merged in (the returns' records win) and it is replaced whole.
    ``strict``: any rejection raises :class:`ImportFailure` and nothing is written.
    ``population``: a CSV (year, age, count) for the per-10,000 rates.
    """
    from kpi_engine.importers._write import write_import

    return write_import(reads, output, into=into, strict=strict, population=population)
