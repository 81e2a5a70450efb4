"""Writing results: CSV, JSON, Parquet, Markdown and Excel, published atomically.

A reader (a BI tool, a web server, the next cron run) must never see a half-written file, and a
run that fails must leave the previous output exactly as it was. So a file is never written in
place: its bytes are made in full in memory, written to a temporary sibling
(``.NAME.1a2b3c4d.tmp``: the same folder, so the same file system), flushed to disk, and only
then renamed over the destination; ``os.replace`` is atomic on POSIX.

Files that belong together (the scorecard and its metadata) are published as a group: every
temporary is written first, then the renames run in the order given. If a rename fails, the
destinations already renamed are put back as they were (from hard links taken just before), so
the group is published whole or not at all. Only a SIGKILL between two renames can stop that
roll-back; callers order the group so that what a reader may then see is harmless (the
scorecard's metadata goes first: a new scorecard never appears beside old metadata).

Files get the permissions the user's umask gives (``0666 & ~umask``), like any other tool: the
temporary is created with mode 0666 and the kernel applies the umask.

The types follow docs/output.md: in JSON and Parquet an empty text cell is null, not ``""``;
Parquet stores ``period_start`` and ``period_end`` as dates (``date32``).
"""

from __future__ import annotations

import glob
import io
import json
import math
import os
import re
import secrets
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

FORMATS = ("csv", "json", "parquet", "markdown")
"""What ``kpi explain`` writes (to stdout or a file)."""

SUFFIXES = {
    "csv": (".csv",),
    "json": (".json",),
    "parquet": (".parquet",),
    "markdown": (".md", ".markdown"),
    "xlsx": (".xlsx",),
}
"""Each file format and the file name suffixes that say it."""

BINARY_FORMATS = ("parquet", "xlsx")
"""Formats that need ``--output FILE`` (they are not text for a terminal or a pipe)."""

DATE_COLUMNS = ("period_start", "period_end")
"""Columns holding ISO dates as text in the frames: dates in Parquet and Excel."""


class FormatError(ValueError):
    """The output's name and the format asked for do not fit (a usage error)."""


class WriteError(Exception):
    """An output could not be published; every destination is as it was before."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(path, reason)
        self.path = path
        self.reason = reason
        """Why, as the end of a sentence (grows if a roll-back also failed)."""

    def __str__(self) -> str:
        return f"cannot write {self.path}: {self.reason}"


def untouched(path: Path) -> str:
    """What a failed run left at ``path``, for the end of its error message."""
    path = Path(path)
    return f"the previous {path.name} is intact" if path.is_file() else "nothing written"


# --- which format -------------------------------------------------------------------------------


def _suffix_list(formats: Sequence[str]) -> str:
    return ", ".join(f"{f} ({' or '.join(SUFFIXES[f])})" for f in formats)


def chosen_format(
    fmt: str | None, output: Path | None, formats: Sequence[str], default: str
) -> str:
    """What a command writes: to a file, the format its suffix names among ``formats``
    (:func:`output_format`); to stdout, ``fmt`` or ``default``. A binary format to stdout, or
    the terminal table to a file, is a :class:`FormatError` (a usage error)."""
    if output is None:
        if fmt in BINARY_FORMATS:
            raise FormatError(f"--format {fmt} needs --output FILE")
        return fmt or default
    if fmt == "table":
        raise FormatError("--format table prints to the terminal; give a file for another format")
    return output_format(output, fmt, formats)


def output_format(output: Path, fmt: str | None, formats: Sequence[str]) -> str:
    """The format to write ``output`` in: the one its suffix names, among ``formats``.

    The file's name must say what it holds, so a BI tool or a person opening it is never
    misled: an unknown suffix (``.html``, ``.txt``, none) is an error naming the formats, and
    ``fmt``, when given, must agree with the suffix.
    """
    suffix = Path(output).suffix.lower()
    named = next((f for f in formats if suffix in SUFFIXES[f]), None)
    if named is None:
        what = f"a {suffix} file" if suffix else "a file without a suffix"
        raise FormatError(
            f"cannot write {what} ({output}); name the output for its format: "
            f"{_suffix_list(formats)}"
        )
    if fmt is not None and fmt != named:
        wanted = Path(output).with_suffix(SUFFIXES[fmt][0]).name if fmt in SUFFIXES else None
        hint = f"--output {wanted}" if wanted else "a file name for that format"
        raise FormatError(
            f"--format {fmt} does not match {Path(output).name} (a {suffix} file is {named}); "
            f"give {hint}, or leave --format out"
        )
    return named


# --- what the bytes are -------------------------------------------------------------------------


def _clean(value: object) -> object:
    """A cell as plain JSON: no NaN or NaT, empty text as null, dates as ISO text, numpy scalars
    as Python ones."""
    if value is None or value is pd.NaT or value is pd.NA or (isinstance(value, str) and not value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def to_records(frame: pd.DataFrame) -> list[dict[str, object]]:
    return [{str(k): _clean(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def render_text(frame: pd.DataFrame, fmt: str) -> str:
    """The frame as text in ``fmt`` (csv, json or markdown)."""
    if fmt == "csv":
        buffer = io.StringIO()
        # pandas writes Arrow-backed text chunk by chunk at a cost that grows with the whole
        # column (22 s for 666,000 explained referrals); as Python strings, once: 2 s, same bytes
        text = {
            c: object
            for c, t in frame.dtypes.items()
            if isinstance(t, pd.StringDtype)
            or (
                isinstance(t, pd.CategoricalDtype)
                and isinstance(t.categories.dtype, pd.StringDtype)
            )
        }
        frame = frame.astype(text) if text else frame
        frame.to_csv(buffer, index=False, lineterminator="\n", float_format="%.10g")
        return buffer.getvalue()
    if fmt == "json":
        return json.dumps(to_records(frame), indent=2, ensure_ascii=False) + "\n"
    if fmt == "markdown":
        return markdown_table(frame)
    raise ValueError(f"unknown text format {fmt!r}")


def markdown_table(frame: pd.DataFrame) -> str:
    def cell(v: object) -> str:
        v = _clean(v)
        if v is None:
            return ""
        if isinstance(v, float):
            return f"{v:g}"
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    """The frame as Parquet with the contract's types: empty text null, period dates date32."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    for i, name in enumerate(table.column_names):
        column = table.column(i)
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            continue
        column = pc.if_else(pc.equal(column, ""), pa.scalar(None, column.type), column)
        if name in DATE_COLUMNS:
            column = column.cast(pa.date32())
        table = table.set_column(i, name, column)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def frame_bytes(frame: pd.DataFrame, fmt: str, *, sheet: str = "results") -> bytes:
    """The whole file ``frame`` makes in ``fmt`` (csv, json, parquet, markdown or xlsx)."""
    if fmt == "parquet":
        return parquet_bytes(frame)
    if fmt == "xlsx":
        from kpi_engine.excel import Sheet, workbook

        return workbook([Sheet(sheet, frame)])
    return render_text(frame, fmt).encode("utf-8")


# --- publishing ---------------------------------------------------------------------------------


def _reason(e: OSError, path: Path) -> str:
    """An OSError as the end of a one-line message: what failed and why."""
    why = e.strerror or str(e)
    where = Path(e.filename) if isinstance(e.filename, str | os.PathLike) else None
    return why if where is None or where == path else f"{where}: {why}"


def _new_temporary(path: Path) -> tuple[int, Path]:
    """Create ``.NAME.XXXXXXXX.tmp`` beside ``path``, mode 0666 less the umask."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666), tmp
        except FileExistsError:
            continue


def _write_temporary(path: Path, data: bytes) -> Path:
    """``data`` in a flushed temporary beside ``path`` (removed again if anything fails)."""
    fd, tmp = _new_temporary(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _keep_previous(path: Path) -> Path | None:
    """A hidden copy of the file now at ``path`` (to put it back), or None if there is none.

    A hard link costs no space (the disk may be nearly full); where the file system has none,
    a copy (only the small metadata is ever kept this way)."""
    if not path.exists():
        return None
    while True:
        backup = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            os.link(path, backup)
            return backup
        except FileExistsError:
            continue
        except OSError:
            return _write_temporary(path, path.read_bytes())


def _sync_folder(folder: Path) -> None:
    """Make the renames themselves durable (a crash after publishing keeps the new files)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a folder; the renames are still atomic
    finally:
        os.close(fd)


def check_destination(path: Path) -> None:
    """Raise WriteError now if ``path`` can never be written (a folder is in its place)."""
    if Path(path).is_dir():
        raise WriteError(Path(path), "it is a folder")


def make_parent(path: Path) -> None:
    """Create the folder ``path`` goes in, if need be (WriteError if it cannot be made)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        folder = e.filename if e.filename else path.parent
        why = "a file is in its place" if isinstance(e, FileExistsError) else e.strerror
        raise WriteError(path, f"cannot create folder {folder}: {why}") from e


def publish(files: Sequence[tuple[Path, bytes]]) -> None:
    """Write each (path, bytes) atomically, as one group: all or none of them replaced.

    The renames run in the order given. Raises WriteError naming the file that failed; every
    destination is then as it was, and no temporary is left behind.
    """
    files = [(Path(p), data) for p, data in files]
    for path, _ in files:
        check_destination(path)
        make_parent(path)
    written: list[tuple[Path, Path]] = []
    try:
        for path, data in files:
            try:
                written.append((path, _write_temporary(path, data)))
            except OSError as e:
                # the temporary's name would only puzzle: it is gone, and the reason is the folder's
                raise WriteError(path, e.strerror or str(e)) from e
        _rename_all(written)
    finally:
        for _, tmp in written:
            tmp.unlink(missing_ok=True)
    for folder in {path.parent for path, _ in files}:
        _sync_folder(folder)


def _rename_all(written: Sequence[tuple[Path, Path]]) -> None:
    """Rename each temporary over its path; on a failure, put the earlier paths back."""
    done: list[tuple[Path, Path | None]] = []
    backups: list[Path] = []
    try:
        for i, (path, tmp) in enumerate(written):
            try:
                # the last file has no later rename that could fail: no need to keep its previous
                previous = _keep_previous(path) if i < len(written) - 1 else None
                if previous is not None:
                    backups.append(previous)
                os.replace(tmp, path)
            except OSError as e:
                failed = WriteError(path, _reason(e, path))
                _restore(done, failed)
                raise failed from e
            done.append((path, previous))
    finally:
        for backup in backups:
            backup.unlink(missing_ok=True)


def _restore(done: Sequence[tuple[Path, Path | None]], failed: WriteError) -> None:
    """Undo the renames in ``done`` (newest first): the previous file back, or none."""
    for path, previous in reversed(done):
        try:
            if previous is not None:
                os.replace(previous, path)
            else:
                path.unlink(missing_ok=True)
        except OSError as e:
            failed.reason += f"; and {path} could not be put back ({_reason(e, path)})"


def write_bytes_atomic(path: Path, data: bytes) -> None:
    publish([(Path(path), data)])


def write_text_atomic(path: Path, text: str) -> None:
    publish([(Path(path), text.encode("utf-8"))])


def write_frame(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    """Write ``frame`` to ``path`` in ``fmt``, atomically (raises WriteError)."""
    write_bytes_atomic(path, frame_bytes(frame, fmt))


def stale_temporaries(output: Path) -> list[Path]:
    """Temporaries a killed run left beside ``output`` (its own and its metadata's).

    Only safe to remove while holding the output's lock: no other run is writing.
    """
    output = Path(output)
    name = re.escape(output.name)
    # a token without dots: never another output's temporary (``.a.csv.x.csv.1234abcd.tmp``);
    # any letters and digits, as earlier versions named theirs
    pattern = re.compile(rf"\.{name}(\.meta\.json)?\.\w+\.tmp", re.ASCII)
    candidates = output.parent.glob(f".{glob.escape(output.name)}*.tmp")
    return sorted(p for p in candidates if pattern.fullmatch(p.name))


def format_from_suffix(path: Path) -> str | None:
    suffix = Path(path).suffix.lower()
    return next((f for f, names in SUFFIXES.items() if suffix in names), None)
