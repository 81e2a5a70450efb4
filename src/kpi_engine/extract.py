"""Loading a case-level extract: read each table, coerce it to the contract, check every rule.

An extract is a folder of ``<table>.csv`` or ``<table>.parquet`` files and an optional
``manifest.yaml`` (see docs/extract-contract.md and ``kpi_engine.contract``). Every problem is
collected before anything fails, each naming the file, the row (CSV: the file's line number,
header = line 1; Parquet: the 1-based row), the column and the value. Each rule reports up to
:data:`EXAMPLES_PER_RULE` rows, then one line with the count of the rest. All checks are
vectorised: a national extract of tens of millions of rows loads in seconds.
"""

from __future__ import annotations

import codecs
import datetime as dt
import io
import itertools
from collections.abc import Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from kpi_engine import contract, keys
from kpi_engine._reading import reading
from kpi_engine._text import ARROW_TYPES, TEXT, strings, trimmed
from kpi_engine._threads import workers
from kpi_engine.manifest import FILE as MANIFEST
from kpi_engine.manifest import FIRST_DATE as FIRST_PLAUSIBLE_DATE
from kpi_engine.manifest import LAST_DATE, Manifest, read_manifest
from kpi_engine.validation import Problem, closest

if TYPE_CHECKING:
    from kpi_engine.prepared import DerivedStore

EXAMPLES_PER_RULE = 10
"""Located rows reported per file, column and rule before a summary line."""


_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")


class ExtractError(Exception):
    """The extract has errors; ``problems`` lists every one (and the warnings)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        errors = sum(p.severity == "error" for p in self.problems)
        # the same located lines the command line prints, for callers of the Python API
        lines = [("warning: " if p.severity == "warning" else "") + str(p) for p in self.problems]
        super().__init__("\n".join([f"the extract has {errors} error(s):", *lines]))


@dataclass(frozen=True)
class Extract:
    """A loaded extract: contract-typed tables, its manifest and any warnings."""

    path: Path
    tables: dict[str, pd.DataFrame]
    manifest: Manifest
    problems: tuple[Problem, ...] = ()
    latest_date: pd.Timestamp | None = None
    """The latest date in the loaded tables that is not after the extract was taken (the
    manifest's extract_date, or today): what the default period is counted back from, so a
    stray future date cannot move it (docs/extract-validation.md)."""
    latest_dates: Mapping[str, Mapping[str, pd.Timestamp]] = field(default_factory=dict)
    """Each loaded date column's own latest such date, by table (the cache keeps them)."""
    derived: DerivedStore | None = None
    """Where derived fields and tables of these tables are kept between runs, for an extract
    loaded through the prepared-extract cache (``kpi_engine.prepared``)."""


# --- reading files ----------------------------------------------------------------------------

DEFAULT_MAX_TABLE_BYTES = 2 * 1024**3
"""A national CP-visits table is about 1 GB as CSV; twice that leaves room and still refuses
a file (or a sparse file claiming gigabytes) that would exhaust a 4 GB machine's memory."""
MAX_TABLE_BYTES_VARIABLE = "KPI_MAX_TABLE_BYTES"


def max_table_bytes() -> int:
    """The largest table file read, from ``KPI_MAX_TABLE_BYTES`` (bytes) or the default."""
    import os

    setting = os.environ.get(MAX_TABLE_BYTES_VARIABLE, "").strip().replace("_", "")
    if setting.isdigit() and int(setting) > 0:
        return int(setting)
    return DEFAULT_MAX_TABLE_BYTES


@dataclass
class _Raw:
    """A table as read: string (CSV) or native (Parquet) columns, and how rows are numbered."""

    file: str
    frame: pd.DataFrame
    first_row: int
    """The number of the first data row: 2 for CSV (after the header), 1 for Parquet."""
    parquet: bool
    header: tuple[str, ...] = ()
    """Every column the file holds, read or not (a run reads only the columns it needs)."""
    lines: np.ndarray | None = None
    """CSV: each row's physical line, where it is not ``first_row`` + its position (a quoted
    value over several lines, a blank line, a malformed row skipped)."""
    rows: int = 0
    """Every data row the file holds, whichever columns were read."""
    day_columns: frozenset[str] = frozenset()
    """Parquet date columns read straight into nanoseconds: whole days, each in range."""

    def line(self, position: int) -> int:
        if self.lines is not None:
            return int(self.lines[position])
        return position + self.first_row


def _decode(path: Path, data: bytes, problems: list[Problem]) -> bytes:
    """The file as UTF-8 bytes for Arrow (which skips a byte-order mark itself).

    UTF-8 is checked a chunk at a time: decoding a 2 GB file whole would hold a second copy.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    for start in range(0, len(data), _CHUNK_BYTES):
        try:
            decoder.decode(
                view[start : start + _CHUNK_BYTES], final=start + _CHUNK_BYTES >= len(data)
            )
        except UnicodeDecodeError as e:
            at = max(start + e.start, 0)
            break
    else:
        return data
    # Spreadsheets on Windows save "CSV" as cp1252 (Latin-1 plus curly quotes and €).
    problems.append(
        Problem(
            str(path),
            data.count(b"\n", 0, at) + 1,
            None,
            "",
            f"not UTF-8 (byte 0x{data[at]:02x}); read as Windows-1252 (Latin-1). "
            "Save the file as UTF-8 to silence this",
            severity="warning",
        )
    )
    return data.decode("cp1252", errors="replace").encode("utf-8")


_CHUNK_BYTES = 16 * 1024**2
_MAX_HEADER_BYTES = 64 * 1024


def _record_lines(data: bytes) -> np.ndarray:
    """The physical line each CSV record starts on (the header first; blank lines skipped).

    A newline ends a record unless it is inside quotes, that is after an odd number of quote
    characters (an escaped quote is two, which keeps the count's parity). The bytes are
    scanned a chunk at a time: the memory used is a few chunks, whatever the file's size.
    """
    buffer = np.frombuffer(data, dtype=np.uint8)
    separators, line_of_separator = [], []
    carry, newlines_before = 0, 0
    for start in range(0, len(buffer), _CHUNK_BYTES):
        chunk = buffer[start : start + _CHUNK_BYTES]
        parity = (np.cumsum(chunk == ord('"'), dtype=np.uint8) + carry) & 1  # uint8 wraps: parity
        newlines = np.flatnonzero(chunk == ord("\n"))
        outside = parity[newlines] == 0
        separators.append(newlines[outside] + start)
        line_of_separator.append(np.flatnonzero(outside) + newlines_before + 1)
        newlines_before += len(newlines)
        carry = int(parity[-1])
    ends = np.concatenate([*separators, [len(buffer)]]).astype(np.int64)
    lines = np.concatenate([[0], *line_of_separator]).astype(np.int64) + 1
    starts = np.concatenate([[0], ends[:-1] + 1])
    length = ends - starts
    first = buffer[np.minimum(starts, max(len(buffer) - 1, 0))] if len(buffer) else starts
    empty = (length == 0) | ((length == 1) & (first == ord("\r")))
    return np.asarray(lines[~empty])


def _bad_rows(path: Path, rows: list[Any], records: np.ndarray, problems: list[Problem]) -> None:
    """Rows with the wrong number of fields, each at its physical line."""
    for row in rows[:EXAMPLES_PER_RULE]:
        number = row.number
        line = int(records[number - 1]) if number is not None and number <= len(records) else None
        text = str(row.text)
        hint = ""
        if "\x00" in text:
            hint = " (NUL bytes: the file is damaged or was cut short)"
        elif row.actual_columns == 1 and ";" in text:
            hint = " (separated by ';'? kpi reads comma-separated files)"
        shown = text if len(text) <= 60 else text[:57] + "..."
        problems.append(
            Problem(
                str(path),
                line,
                None,
                "",
                f"expected {row.expected_columns} fields, found {row.actual_columns}"
                f"{hint}: {shown!r}",
            )
        )
    if len(rows) > EXAMPLES_PER_RULE:
        problems.append(
            Problem(
                str(path),
                None,
                None,
                "",
                f"... and {len(rows) - EXAMPLES_PER_RULE:,} more rows with the wrong "
                "number of fields",
            )
        )


def _read_csv(
    path: Path, problems: list[Problem], only: Collection[str] | None = None
) -> _Raw | None:
    data = _decode(path, path.read_bytes(), problems)
    if not data or data.isspace() or data == b"\xef\xbb\xbf":
        problems.append(
            Problem(str(path), 1, None, "", "the file is empty (expected a header row)")
        )
        return None
    # Read every column as text: types come from the contract, not from pyarrow's guesses.
    end = data.find(b"\n", 0, _MAX_HEADER_BYTES)
    if end < 0 and len(data) > _MAX_HEADER_BYTES:
        problems.append(
            Problem(str(path), 1, None, "", "no header line in the first 64 KiB: not a CSV table")
        )
        return None
    first_line = data[: end if end >= 0 else len(data)].decode("utf-8-sig", errors="replace")
    try:
        names = list(pd.read_csv(io.StringIO(first_line + "\n"), dtype=str).columns)
    except (ValueError, pd.errors.ParserError) as e:  # an unclosed quote, say
        message = str(e).strip().splitlines()[0]
        problems.append(
            Problem(str(path), 1, None, "", f"the header row cannot be read: {message}")
        )
        return None
    convert = pa_csv.ConvertOptions(
        column_types={n: pa.string() for n in names},
        strings_can_be_null=True,
        null_values=[""],
        include_columns=None if only is None else [n for n in names if n.strip() in only],
    )
    read = _arrow_csv(path, data, convert, problems)
    if read is None:
        return None
    table, bad = read
    lines = _row_lines(data, table.num_rows, bad)
    if bad:
        _bad_rows(path, bad, _record_lines(data), problems)
    frame = table.to_pandas(types_mapper=ARROW_TYPES.get)
    frame.columns = [str(c).strip() for c in frame.columns]
    header = tuple(str(n).strip() for n in names)
    # the malformed rows skipped are rows of the file all the same (manifest rows: compare)
    return _Raw(str(path), frame, 2, False, header, lines, table.num_rows + len(bad))


def _arrow_csv(
    path: Path, data: bytes, convert: pa_csv.ConvertOptions, problems: list[Problem]
) -> tuple[pa.Table, list[Any]] | None:
    """The file read by Arrow, and the rows with the wrong number of fields it skipped."""
    bad: list[Any] = []
    try:
        table = pa_csv.read_csv(
            io.BytesIO(data),
            convert_options=convert,
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        )
        return table, bad
    except pa.ArrowInvalid:
        pass

    # A row with the wrong number of fields: read again on one thread, where Arrow numbers
    # each such row, and skip them so that every other problem is still found.
    def skip(row: Any) -> str:
        bad.append(row)
        return "skip"

    try:
        table = pa_csv.read_csv(
            io.BytesIO(data),
            read_options=pa_csv.ReadOptions(use_threads=False),
            convert_options=convert,
            parse_options=pa_csv.ParseOptions(newlines_in_values=True, invalid_row_handler=skip),
        )
    except (pa.ArrowInvalid, pa.ArrowException) as e:
        problems.append(Problem(str(path), None, None, "", f"cannot be read as CSV: {e}"))
        return None
    return table, bad


def _row_lines(data: bytes, rows: int, bad: list[Any]) -> np.ndarray | None:
    """Each data row's physical line, or None when it is its position + 2 (the usual file)."""
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if not bad and b'"' not in data and lines == rows + 1:
        return None  # no quotes, so no value spans lines; no blank line either
    records = _record_lines(data)
    skipped = {row.number for row in bad if row.number is not None}
    numbers = np.arange(2, len(records) + 1)  # Arrow numbers records from the header, 1
    found = records[1:][~np.isin(numbers, np.fromiter(skipped, dtype=np.int64))]
    return found if len(found) == rows else None  # a layout Arrow read otherwise: positions


def _read_parquet(
    path: Path, problems: list[Problem], only: Collection[str] | None = None
) -> _Raw | None:
    try:
        header = tuple(pq.read_schema(path).names)
        wanted = None if only is None else [n for n in header if n in only]
        table = pq.read_table(path, columns=wanted)
    except (pa.ArrowException, OSError) as e:
        problems.append(Problem(str(path), None, None, "", f"cannot be read as Parquet: {e}"))
        return None
    # Dates arrive as date32, whose range (and that of a timestamp in seconds) is wider than
    # pandas' nanoseconds: a column within it is read straight into nanoseconds; any other
    # goes through microseconds, which hold any date the file can, for the range checks
    # before the conversion to nanoseconds (see _dates).
    columns, names, days = [], [], {}
    for name, col in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_date32(col.type) and (whole := _day_nanoseconds(col)) is not None:
            days[name] = whole  # the usual date column: one new array, no Arrow cast
            continue
        if pa.types.is_date(col.type) or pa.types.is_timestamp(col.type):
            col = _microseconds(col)
        elif pa.types.is_dictionary(col.type):
            # coded columns are often dictionary-encoded: decode in Arrow, not value by value
            col = col.cast(col.type.value_type)
        columns.append(col)
        names.append(name)
    rows, order = table.num_rows, table.column_names
    table = pa.table(columns, names=names)
    del columns  # the table holds the only references now
    # self_destruct frees each Arrow column as it is converted: no second copy of the table
    rest = table.to_pandas(types_mapper=ARROW_TYPES.get, self_destruct=True, split_blocks=True)
    del table
    index = pd.RangeIndex(rows)
    frame = pd.DataFrame(
        {n: pd.Series(days[n], index=index, copy=False) if n in days else rest[n] for n in order},
        index=index,
        copy=False,
    )
    return _Raw(str(path), frame, 1, True, header, None, rows, frozenset(days))


_NANOSECOND_DAYS = tuple(
    (d - dt.date(1970, 1, 1)).days for d in (dt.date(1678, 1, 1), dt.date(2262, 1, 1))
)
"""Day numbers that nanoseconds since 1970 hold (21 September 1677 to 11 April 2262)."""
_NAT = np.iinfo(np.int64).min


def _day_nanoseconds(column: pa.ChunkedArray) -> np.ndarray | None:
    """A date32 column as nanoseconds (NaT for null), or None when a date lies outside their
    range (9999-12-31, say: :func:`_microseconds` keeps it for the range checks to report).

    One new array, filled chunk by chunk from the day numbers in place, where a cast to
    microseconds, pandas' copy of it and a conversion to nanoseconds made three.
    """
    bounds = pc.min_max(column.cast(pa.int32()))  # day numbers: a date32 outruns datetime
    earliest, latest = bounds["min"].as_py(), bounds["max"].as_py()
    if earliest is not None and not (
        _NANOSECOND_DAYS[0] <= earliest and latest < _NANOSECOND_DAYS[1]
    ):
        return None
    out = np.empty(len(column), dtype=np.int64)
    at = 0
    for chunk in column.chunks:
        part = out[at : at + len(chunk)]
        at += len(chunk)
        data = chunk.buffers()[1]
        if data is None or chunk.null_count == len(chunk):
            part.fill(_NAT)
            continue
        day = np.frombuffer(data, dtype=np.int32, count=len(chunk), offset=chunk.offset * 4)
        np.multiply(day, 86_400 * 10**9, out=part, dtype=np.int64)
        if chunk.null_count:
            part[~chunk.is_valid().to_numpy(zero_copy_only=False)] = _NAT
    return out.view("datetime64[ns]")


_US_PER_UNIT = {"s": 10**6, "ms": 10**3, "us": 1, "ns": 1}


def _microseconds(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A date or timestamp column as microseconds, which hold any plausible date and far more.

    A date32 reaches 5.8 million years; one beyond microseconds' 292,000 is clipped to their
    edge (still an implausible date, reported as such) rather than wrapped into a plausible one.
    """
    try:
        return column.cast(pa.timestamp("us"))
    except pa.ArrowInvalid:
        pass
    if pa.types.is_date32(column.type):
        per, raw = 86_400 * 10**6, pc.cast(pc.cast(column, pa.int32()), pa.int64())
    elif pa.types.is_date64(column.type):
        per, raw = 10**3, pc.cast(column, pa.int64())
    else:
        per, raw = _US_PER_UNIT[column.type.unit], pc.cast(column, pa.int64())
    limit = 2**62 // per
    clipped = pc.min_element_wise(pc.max_element_wise(raw, -limit), limit)
    return pc.cast(pc.multiply(clipped, per), pa.timestamp("us"))


def _file_problem(path: Path) -> str | None:
    """Why the table file at ``path`` cannot be read, or None when it can (or is absent)."""
    import errno
    import os
    import stat

    try:
        status = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            return f"a broken symbolic link (to {os.readlink(path)!r}, which does not exist)"
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "a symbolic link that loops (it leads back to itself)"
        return f"cannot be read: {e.strerror}"
    if not stat.S_ISREG(status.st_mode):
        kind = "a folder" if stat.S_ISDIR(status.st_mode) else "not a regular file"
        return f"{kind}, not a table file"
    limit = max_table_bytes()
    if status.st_size > limit:
        return (
            f"refused: {status.st_size:,} bytes is over the limit of {limit:,} "
            f"(set {MAX_TABLE_BYTES_VARIABLE} to read larger tables)"
        )
    if not os.access(path, os.R_OK):
        return "cannot be read: permission denied"
    return None


def _exists(path: Path) -> bool:
    return path.is_symlink() or path.exists()


def _find(folder: Path, table: str, problems: list[Problem]) -> Path | None:
    """The table's file (Parquet before CSV), or None; a file that is there but cannot be
    read is an error, never taken for an absent table."""
    parquet, csv = folder / f"{table}.parquet", folder / f"{table}.csv"
    if _exists(parquet) and _exists(csv):
        problems.append(
            Problem(
                str(csv),
                None,
                None,
                "",
                f"both {csv.name} and {parquet.name} exist; reading {parquet.name}",
                severity="warning",
            )
        )
    path = parquet if _exists(parquet) else csv if _exists(csv) else None
    if path is None:
        return None
    problem = _file_problem(path)
    if problem is not None:
        problems.append(Problem(str(path), None, None, "", problem))
        return None
    return path


# --- coercion and checks -----------------------------------------------------------------------


class _Report:
    """Collects located problems for one file, capped per rule."""

    def __init__(self, raw: _Raw, problems: list[Problem], table: str) -> None:
        self.raw = raw
        self.problems = problems
        self.table = table

    def rows(
        self,
        column: str,
        bad: np.ndarray,
        message: str,
        values: pd.Series | None = None,
        severity: str = "error",
    ) -> None:
        """One problem per bad row (up to the cap); ``message`` is formatted with the value."""
        where = np.flatnonzero(bad)
        if not len(where):
            return
        for position in where[:EXAMPLES_PER_RULE]:
            value = values.iloc[position] if values is not None else None
            text = message.format(value=_show(value))
            self.problems.append(
                Problem(
                    self.raw.file,
                    self.raw.line(int(position)),
                    None,
                    column,
                    text,
                    severity,
                )
            )
        rest = len(where) - EXAMPLES_PER_RULE
        if rest > 0:
            self.problems.append(
                Problem(
                    self.raw.file,
                    None,
                    None,
                    column,
                    f"... and {rest:,} more rows with the same problem",
                    severity,
                )
            )

    def file(self, column: str, message: str, severity: str = "error") -> None:
        line = 1 if not self.raw.parquet else None  # the header row holds the column names
        self.problems.append(Problem(self.raw.file, line, None, column, message, severity))


def _show(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return "empty"
    if isinstance(value, pd.Timestamp):
        return repr(str(value.date()) if value == value.normalize() else value.isoformat())
    return repr(value if not isinstance(value, np.generic) else value.item())


def _all_distinct(keys: pd.Series) -> bool:
    """Whether the non-null ``keys`` are all different.

    Case-management exports usually list records in id order, and strictly increasing keys are
    distinct: one comparison of neighbours proves it (12.5 million CP visit ids in 0.1 s).
    Otherwise every key is hashed, which costs about twenty times as much. A coded key (a
    categorical, ``contract.SHARED_KEYS``) is distinct when no code repeats.
    """
    if isinstance(keys.dtype, pd.CategoricalDtype):
        codes = np.asarray(keys.cat.codes, dtype=np.int64)
        codes = codes[codes >= 0]
        return len(codes) == 0 or int(np.bincount(codes).max()) <= 1
    values = pc.drop_null(strings(keys))
    chunks = [c for c in values.chunks if len(c)]
    # each chunk in order, and each chunk's first key after the one before's last
    increasing = all(
        pc.all(pc.less(c.slice(0, len(c) - 1), c.slice(1))).as_py() is not False for c in chunks
    ) and all(pc.less(a[len(a) - 1], b[0]).as_py() for a, b in itertools.pairwise(chunks))
    return increasing or len(pc.unique(values)) == len(values)


@dataclass(frozen=True)
class DateRules:
    """Which dates an extract may hold (docs/extract-validation.md).

    A date before :data:`FIRST_PLAUSIBLE_DATE` is a null sentinel (1900-01-01 for an unknown
    date of birth) or a typing error, and one after :data:`LAST_DATE` a typing error (2200 for
    2020) or an open-end sentinel outside an end-date column: both are located errors, and the
    value is not read (either would silently change figures: a 116-year-old child, a referral
    no period can reach). A date later than the extract was taken plus :data:`FUTURE_MARGIN` is
    a located warning: a planned end date may be recorded ahead; it never moves the default
    period (``Extract.latest_date``). In a table's end-date column (``contract.Table.open_end``)
    the manifest's ``open_end_dates`` (default 9999-12-31) mean "still open": no end.
    """

    taken: dt.date
    """The manifest's extract_date, or today when there is no manifest."""
    open_end_dates: tuple[dt.date, ...]
    from_manifest: bool = True

    @property
    def last(self) -> dt.date:
        return self.taken + FUTURE_MARGIN

    def describe(self) -> str:
        taken = "the extract date" if self.from_manifest else "today (no manifest extract_date)"
        return f"after {self.last.isoformat()}, {taken} plus {FUTURE_MARGIN.days} days"

    @classmethod
    def of(cls, manifest: Manifest) -> DateRules:
        if manifest.extract_date is not None:
            return cls(manifest.extract_date, manifest.open_end_dates)
        return cls(dt.date.today(), manifest.open_end_dates, from_manifest=False)


FUTURE_MARGIN = dt.timedelta(days=366)
"""How far past the extract date a date may lie: an unborn child's expected date of birth
and the next review due are up to a year ahead."""


def _dates(
    column: contract.Column,
    parsed: pd.Series,
    rules: DateRules,
    open_end: bool,
    report: _Report,
    whole_days: bool = False,
) -> pd.Series:
    """Parsed dates (any resolution) checked against ``rules``, as nanosecond timestamps.

    The check runs before the conversion to nanoseconds, which cannot hold 9999-12-31.
    ``whole_days``: ``parsed`` is a Parquet date column read into nanoseconds already.
    """
    if whole_days:
        values = parsed.to_numpy()
        if _all_plausible(values, rules):  # the usual case: read, checked, not copied
            return parsed
        values = values.astype("datetime64[us]")
    else:
        values = parsed.to_numpy(dtype="datetime64[us]")
        if _all_plausible(values, rules):  # the usual case: two passes, not ten
            return pd.Series(values.astype("datetime64[ns]"), index=parsed.index, copy=False)
    day = values.astype("datetime64[D]")
    present = ~np.isnat(values)
    sentinel = np.isin(day, np.array(rules.open_end_dates, dtype="datetime64[D]")) & present
    if open_end:
        present &= ~sentinel
        values = np.where(sentinel, np.datetime64("NaT", "us"), values)
    first = np.datetime64(FIRST_PLAUSIBLE_DATE, "D")
    outside = present & ((day < first) | (day > np.datetime64(LAST_DATE, "D")))
    if outside.any():
        hint = ""
        if (outside & sentinel).any():
            hint = "; an open-end date means 'still open' only in an end-date column"
        report.rows(
            column.name,
            outside,
            f"implausible date (got {{value}}; expected {FIRST_PLAUSIBLE_DATE.isoformat()} "
            f"to {LAST_DATE.isoformat()}{hint})",
            _day_text(values, parsed.index),
        )
        values = np.where(outside, np.datetime64("NaT", "us"), values)
    late = present & ~outside & (day > np.datetime64(rules.last, "D"))
    if late.any():
        report.rows(
            column.name,
            late,
            f"a date in the future (got {{value}}; {rules.describe()})",
            _day_text(values, parsed.index),
            severity="warning",
        )
    return pd.Series(values.astype("datetime64[ns]"), index=parsed.index, copy=False)


def _all_plausible(values: np.ndarray, rules: DateRules) -> bool:
    """Whether every date present lies from :data:`FIRST_PLAUSIBLE_DATE` to the last date
    ``rules`` allow (and to :data:`LAST_DATE`), with no open-end date among them: nothing
    for :func:`_dates` to report or change. Read from the earliest and latest alone."""
    ticks = values.view(np.int64)
    # NaT (_NAT) is below every date, so the maximum never is one
    if not len(ticks) or (latest := int(ticks.max())) == _NAT:
        return True
    earliest = int(np.min(ticks, where=ticks != _NAT, initial=np.iinfo(np.int64).max))
    ends = np.array([earliest, latest], dtype=np.int64).view(values.dtype)  # in its unit
    first_day, last_day = ends.astype("datetime64[D]")
    allowed = min(np.datetime64(LAST_DATE, "D"), np.datetime64(rules.last, "D"))
    sentinels = np.array(rules.open_end_dates, dtype="datetime64[D]")
    return bool(
        first_day >= np.datetime64(FIRST_PLAUSIBLE_DATE, "D")
        and last_day <= allowed
        and not ((sentinels >= first_day) & (sentinels <= last_day)).any()
    )


def _day_text(values: np.ndarray, index: pd.Index) -> pd.Series:
    return pd.Series(values.astype("datetime64[D]").astype(str), index=index)


def _coerce(
    raw: _Raw, column: contract.Column, series: pd.Series, report: _Report, rules: DateRules
) -> pd.Series:
    """``series`` as the contract type; every value that does not convert is reported."""
    kind = column.type
    native = raw.parquet and not (
        pd.api.types.is_string_dtype(series.dtype) or series.dtype == object
    )
    if kind == "string":
        if native and not pd.api.types.is_integer_dtype(series.dtype):
            report.file(column.name, f"expected text, the file stores {series.dtype}")
            return pd.Series(np.nan, index=series.index, dtype="str")
        if column.name in contract.CODED_IDS:
            # coded later with the other tables' ids, in one pass (keys.share), which trims
            # each distinct id once rather than every row
            return series if series.dtype == TEXT else series.astype(TEXT)
        return trimmed(series)
    if kind in ("date", "datetime", "month"):
        return _coerce_dates(raw, column, series, report, rules, native)
    if kind == "bool":
        return _coerce_bool(column, series, report, native)
    return _coerce_number(column, series, report, native)


def _coerce_dates(
    raw: _Raw,
    column: contract.Column,
    series: pd.Series,
    report: _Report,
    rules: DateRules,
    native: bool,
) -> pd.Series:
    kind = column.type
    open_end = column.name == contract.TABLES[report.table].open_end
    if native:
        if not pd.api.types.is_datetime64_any_dtype(series.dtype):
            expected = {"date": "a date", "datetime": "a date-time", "month": "a month"}[kind]
            report.file(column.name, f"expected {expected}, the file stores {series.dtype}")
            return pd.Series(pd.NaT, index=series.index, dtype="datetime64[ns]")
        whole_days = column.name in raw.day_columns
        return _dates(column, series, rules, open_end, report, whole_days)
    text = trimmed(series)
    fmt = {"date": "%Y-%m-%d", "datetime": "ISO8601", "month": "%Y-%m"}[kind]
    parsed = pd.to_datetime(text, format=fmt, errors="coerce")
    if kind == "date":
        # ISO date-times in a date column keep their day (a common export format).
        retry = parsed.isna() & text.notna()
        if retry.any():
            parsed[retry] = pd.to_datetime(text[retry], format="ISO8601", errors="coerce")
    bad = (parsed.isna() & text.notna()).to_numpy()
    expected = {"date": "YYYY-MM-DD", "datetime": "YYYY-MM-DDTHH:MM", "month": "YYYY-MM"}[kind]
    report.rows(column.name, bad, f"not a {kind} (got {{value}}; expected {expected})", text)
    return _dates(column, parsed, rules, open_end, report)


def _coerce_bool(
    column: contract.Column, series: pd.Series, report: _Report, native: bool
) -> pd.Series:
    if native:
        if pd.api.types.is_bool_dtype(series.dtype):
            return series.astype("boolean")
        if pd.api.types.is_integer_dtype(series.dtype):
            values = series.astype("Int64")
            bad = (values.notna() & ~values.isin([0, 1])).fillna(False).to_numpy(dtype=bool)
            report.rows(column.name, bad, "not a boolean (got {value})", series)
            return values.map({1: True, 0: False}).astype("boolean")
        report.file(column.name, f"expected true/false, the file stores {series.dtype}")
        return pd.Series(pd.NA, index=series.index, dtype="boolean")
    text = trimmed(series).str.lower()
    out = pd.Series(pd.NA, index=series.index, dtype="boolean")
    out[text.isin(_TRUE).fillna(False).to_numpy(dtype=bool)] = True
    out[text.isin(_FALSE).fillna(False).to_numpy(dtype=bool)] = False
    bad = (out.isna() & text.notna()).to_numpy(dtype=bool)
    report.rows(
        column.name,
        bad,
        "not a boolean (got {value}; expected true/false, Y/N or 1/0)",
        trimmed(series),
    )
    return out


_LARGEST = 2.0**53
"""No extract means a number beyond this (9e15), and a float does not hold one exactly."""


def _coerce_number(
    column: contract.Column, series: pd.Series, report: _Report, native: bool
) -> pd.Series:
    """Numbers, finite and inside the contract's range; anything else is a located error and
    read as missing, so no figure is made from it."""
    if native:
        if not pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(
            series.dtype
        ):
            report.file(column.name, f"expected a number, the file stores {series.dtype}")
            return pd.Series(np.nan, index=series.index, dtype="float64")
        numbers = series.astype("float64")
        shown = series
    else:
        shown = trimmed(series)
        numbers = pd.to_numeric(shown, errors="coerce").astype("float64")
        bad = (numbers.isna() & shown.notna()).to_numpy(dtype=bool)
        report.rows(column.name, bad, "not a number (got {value})", shown)
    values = numbers.to_numpy(dtype="float64")
    infinite = np.isinf(values)
    report.rows(column.name, infinite, "not a finite number (got {value})", shown)
    low = max(column.minimum if column.minimum is not None else -_LARGEST, -_LARGEST)
    high = min(column.maximum if column.maximum is not None else _LARGEST, _LARGEST)
    with np.errstate(invalid="ignore"):
        outside = np.isfinite(values) & ((values < low) | (values > high))
    if outside.any():
        report.rows(
            column.name, outside, f"out of range (got {{value}}; {_range(low, high)})", shown
        )
    numbers = numbers.where(~(infinite | outside))
    if column.type == "int":
        fraction = (numbers.notna() & (numbers != np.floor(numbers))).to_numpy(dtype=bool)
        report.rows(column.name, fraction, "not a whole number (got {value})", numbers)
        return numbers.where(~fraction).round().astype("Int64")
    return numbers


def _range(low: float, high: float) -> str:
    def show(x: float) -> str:
        return f"{x:.0f}" if float(x).is_integer() else f"{x:g}"

    if low == -_LARGEST:
        return f"expected at most {show(high)}" if high < _LARGEST else "expected 2^53 at most"
    if high == _LARGEST:
        return f"expected {show(low)} or more"
    return f"expected {show(low)} to {show(high)}"


def _check_header(
    spec: contract.Table,
    raw: _Raw,
    manifest: Manifest,
    report: _Report,
    columns: list[contract.Column],
) -> bool:
    """Whether the file holds each of ``columns`` once (after the manifest's column map);
    problems with its row count and columns are reported."""
    declared = manifest.rows.get(spec.name)
    if declared is not None and declared != raw.rows:
        report.file(
            "",
            f"manifest.yaml declares {declared:,} rows; the file holds {raw.rows:,} "
            "(cut short or replaced in transit?)",
        )
    renames = manifest.column_map.get(spec.name, {})
    present = [renames.get(n, n) for n in raw.header] if raw.header else list(raw.frame.columns)
    repeated = sorted({p for p in present if present.count(p) > 1})
    for column in repeated:
        sources = [n for n in raw.header if renames.get(n, n) == column]
        report.file(
            column,
            f"{len(sources)} columns would be read as {column!r} "
            f"({', '.join(map(repr, sources))}): keep one, or map only one in column_map",
        )
    missing = [c for c in columns if c.name not in present]
    for c in missing:
        hint = closest(c.name, [p for p in present if p not in spec.column_names])
        report.file(
            c.name,
            "required column missing"
            + (
                f" (found {hint!r}: a typo, or map it in manifest.yaml column_map?)" if hint else ""
            ),
        )
    for extra in (p for p in present if p not in spec.column_names):
        report.file(str(extra), "not a column of the contract; ignored", severity="warning")
    return not repeated and not missing


def _check_table(
    name: str,
    raw: _Raw,
    manifest: Manifest,
    problems: list[Problem],
    only: Collection[str] | None = None,
) -> pd.DataFrame | None:
    """The table coerced to the contract, or None when a required column is missing.

    With ``only``, just those contract columns are required, coerced and checked.
    """
    spec = contract.TABLES[name]
    report = _Report(raw, problems, name)
    renames = manifest.column_map.get(name, {})
    columns = [c for c in spec.columns if only is None or c.name in only]
    if not _check_header(spec, raw, manifest, report, columns):
        return None
    frame = raw.frame.rename(columns=renames) if renames else raw.frame
    out: dict[str, pd.Series] = {}
    for c in columns:
        series = frame[c.name]
        value = _coerce(raw, c, series, report, DateRules.of(manifest))
        if not c.nullable:
            original_missing = (
                trimmed(series).isna() if not raw.parquet else series.isna()
            ).to_numpy(dtype=bool)
            report.rows(c.name, original_missing, "a value is required (got {value})", series)
        if c.codes is not None:
            text = value.astype("str")
            bad = (text.notna() & ~text.isin(c.codes)).fillna(False).to_numpy(dtype=bool)
            allowed = ", ".join(c.codes)
            report.rows(c.name, bad, f"not one of the codes {allowed} (got {{value}})", text)
        out[c.name] = value
    # the coerced columns are new or the file's own; gathering them into blocks would copy them
    table = pd.DataFrame(out, index=pd.RangeIndex(len(frame)), copy=False)
    if spec.key not in contract.CODED_IDS:  # an id keys.share codes is checked once coded
        _check_key(name, table, report)
    if spec.start_end is not None and all(c in table for c in spec.start_end):
        start, end = spec.start_end
        before = (table[end] < table[start]).fillna(False).to_numpy(dtype=bool)
        if before.any():
            rows = table.loc[before, [start, end]]
            shown = rows[start].dt.strftime("%Y-%m-%d") + " > " + rows[end].dt.strftime("%Y-%m-%d")
            full = pd.Series("", index=table.index, dtype=object)
            full[before] = shown.to_numpy()
            report.rows(end, before, f"ends before it starts ({start} {{value}})", full)
    return table


def _check_key(name: str, table: pd.DataFrame, report: _Report) -> None:
    """Each repeated key located; proving keys distinct is cheap, locating repeats is not."""
    key = contract.TABLES[name].key
    if key is None or key not in table:
        return
    key_values = table[key]
    if not _all_distinct(key_values):
        dupes = (key_values.duplicated(keep="first") & key_values.notna()).to_numpy(dtype=bool)
        report.rows(key, dupes, "duplicate key (got {value}; keys must be unique)", key_values)


def _check_references(
    tables: dict[str, pd.DataFrame], raws: dict[str, _Raw], problems: list[Problem]
) -> None:
    """Dangling references are warnings, listed (the contract says so), never dropped.

    Every column referring to the same table is looked up in one pass: building the hash set of
    a large key column (millions of children) costs more than probing it, so it is built once.
    """
    by_target: dict[str, list[tuple[str, str]]] = {}
    for name in tables:
        for c in contract.TABLES[name].columns:
            target = c.references
            if target is not None and target in tables and contract.TABLES[target].key:
                by_target.setdefault(target, []).append((name, c.name))
    for target, referrers in by_target.items():
        key = contract.TABLES[target].key
        assert key is not None
        columns = [tables[name][column] for name, column in referrers]
        for (name, column), values, inside in zip(
            referrers, columns, _found(tables[target][key], columns), strict=True
        ):
            dangling = values.notna().to_numpy(dtype=bool) & ~inside
            _Report(raws[name], problems, name).rows(
                column,
                dangling,
                f"no such {key} in {target} (got {{value}})",
                values,
                severity="warning",
            )


def _found(known: pd.Series, columns: list[pd.Series]) -> list[np.ndarray]:
    """For each column, which of its values are among ``known`` (nulls: not found)."""
    if keys.shared_categories(known, *columns) is not None:
        # people ids share their codes: a lookup by code, no string hashed
        return [keys.positions(values, known) >= 0 for values in columns]
    chunks = [chunk for values in columns for chunk in strings(values).chunks]
    known_values = strings(known).combine_chunks()
    found = pc.fill_null(
        pc.is_in(pa.chunked_array(chunks, pa.string()), value_set=known_values), False
    )
    hits = np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)
    out, at = [], 0
    for values in columns:
        out.append(hits[at : at + len(values)])
        at += len(values)
    return out


def load_extract(
    path: Path | str,
    tables: Iterable[str] | None = None,
    *,
    columns: Mapping[str, Collection[str]] | None = None,
    strict: bool = True,
    references: bool = True,
) -> Extract:
    """Load the extract in folder ``path``: only ``tables`` if given (absent ones are skipped).

    ``columns`` (table → contract column names) loads just those tables and columns, and
    checks only them: what a run that reads nothing else needs. Raises :class:`ExtractError`
    listing every problem when any is an error (``strict``), or returns them in
    ``Extract.problems`` (``strict=False``). ``references=False`` skips the dangling-reference
    warnings, which never change a figure (a run that only computes).
    """
    folder = Path(path)
    problems: list[Problem] = []
    if not folder.is_dir():
        raise ExtractError([Problem(str(folder), None, None, "", "no such extract folder")])
    with reading(folder / MANIFEST):
        manifest = read_manifest(folder, problems)
    if any(p.severity == "error" for p in problems):
        # nothing is read on a manifest that is wrong: its column map and dates steer the rest
        if strict:
            raise ExtractError(problems)
        return Extract(folder, {}, manifest, tuple(problems))
    if columns is not None:
        wanted = [t for t in (tables if tables is not None else columns) if t in columns]
    else:
        wanted = list(tables) if tables is not None else list(contract.TABLES)
    unknown = [t for t in wanted if t not in contract.TABLES]
    if unknown:
        raise ValueError(f"not extract tables: {', '.join(unknown)}")
    loaded: dict[str, pd.DataFrame] = {}
    raws: dict[str, _Raw] = {}
    found = {name: file for name in wanted if (file := _find(folder, name, problems))}
    problems.extend(_declared_but_absent(folder, manifest, [t for t in wanted if t not in found]))

    def read_and_check(name: str) -> tuple[pd.DataFrame | None, _Raw | None, list[Problem]]:
        own: list[Problem] = []
        path = found[name]
        only = None if columns is None else set(columns[name])
        # the file's own names for those columns, where the manifest maps a site's names
        renamed = manifest.column_map.get(name, {})
        in_file = None if only is None else only | {s for s, c in renamed.items() if c in only}
        with reading(path):
            try:
                if path.suffix == ".parquet":
                    raw = _read_parquet(path, own, in_file)
                else:
                    raw = _read_csv(path, own, in_file)
            except OSError as e:  # removed, or made unreadable, since it was found
                own.append(Problem(str(path), None, None, "", f"cannot be read: {e.strerror}"))
                raw = None
            if raw is None:
                return None, None, own
            table = _check_table(name, raw, manifest, own, only)
        # keep where rows are numbered, not the raw columns: they would double the memory
        kept = _Raw(raw.file, raw.frame.iloc[:0], raw.first_row, raw.parquet, lines=raw.lines)
        return table, kept, own

    # Tables are independent: Arrow and numpy release the GIL, so two cores load two tables.
    # Problems are gathered per table and reported in the tables' order, whatever finishes first.
    with ThreadPoolExecutor(max_workers=workers()) as pool:
        results = list(pool.map(read_and_check, found))
    for name, (table, raw, _) in zip(found, results, strict=True):
        if table is not None and raw is not None:
            loaded[name] = table
            raws[name] = raw
    keys.share(loaded)  # every person's id hashed once, whatever table it is in
    for name, (_, _, own) in zip(found, results, strict=True):
        problems.extend(own)
        if name in loaded and contract.TABLES[name].key in contract.CODED_IDS:
            _check_key(name, loaded[name], _Report(raws[name], problems, name))
    if references:
        _check_references(loaded, raws, problems)
    if strict and any(p.severity == "error" for p in problems):
        raise ExtractError(problems)
    dates = latest_dates(loaded, manifest)
    return Extract(folder, loaded, manifest, tuple(problems), latest_of(dates), dates)


def _declared_but_absent(folder: Path, manifest: Manifest, absent: Iterable[str]) -> list[Problem]:
    """Tables the manifest gives rows for that are not there (a broken file is reported
    where it was found)."""
    return [
        Problem(
            str(folder / MANIFEST),
            None,
            None,
            f"rows.{name}",
            f"declares {declared:,} rows of {name}, but the extract has no "
            f"{name}.csv or {name}.parquet",
        )
        for name in absent
        if (declared := manifest.rows.get(name))
        and not _exists(folder / f"{name}.csv")
        and not _exists(folder / f"{name}.parquet")
    ]


def latest_dates(
    tables: Mapping[str, pd.DataFrame], manifest: Manifest
) -> dict[str, dict[str, pd.Timestamp]]:
    """Each date column's latest date not after the extract was taken (a due date ahead is not
    data), by table and column; columns with none are left out: ``Extract.latest_dates``."""
    return {
        table: {
            name: day
            for name in frame.columns
            if (day := latest_in(frame[name], manifest)) is not None
        }
        for table, frame in tables.items()
    }


def latest_of(dates: Mapping[str, Mapping[str, pd.Timestamp]]) -> pd.Timestamp | None:
    """The latest of :func:`latest_dates`: ``Extract.latest_date``."""
    return max((day for columns in dates.values() for day in columns.values()), default=None)


def latest_in(column: pd.Series, manifest: Manifest) -> pd.Timestamp | None:
    """The latest date in ``column`` not after the extract was taken (None: none, or not
    dates): one column's part of :func:`latest_dates`."""
    if not pd.api.types.is_datetime64_any_dtype(column):
        return None
    limit = np.datetime64(DateRules.of(manifest).taken + dt.timedelta(days=1), "ns")
    values = column.to_numpy(dtype="datetime64[ns]")
    # NaT is the least integer: the greatest is the latest date, unless every one is NaT
    latest = int(values.view(np.int64).max(initial=_NAT))
    if latest == _NAT:
        return None
    if latest < limit.astype(np.int64):
        return pd.Timestamp(np.datetime64(latest, "ns"))  # the usual case: one pass, no copy
    values = values[~np.isnat(values) & (values < limit)]
    return pd.Timestamp(values.max()) if len(values) else None


def validate_extract_folder(path: Path | str) -> tuple[Extract | None, list[Problem]]:
    """Load every table of the extract in ``path`` and return it with all its problems."""
    folder = Path(path)
    if not folder.is_dir():
        return None, [Problem(str(folder), None, None, "", "no such extract folder")]
    extract = load_extract(folder, strict=False)
    problems = list(extract.problems)
    if not extract.tables and not any(p.severity == "error" for p in problems):
        problems.append(
            Problem(
                str(folder),
                None,
                None,
                "",
                "no extract tables found (expected <table>.csv or <table>.parquet files)",
            )
        )
    return extract, problems
