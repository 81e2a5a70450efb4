"""The prepared-extract cache: read, check and code an extract once; reuse it while it is unchanged.

Analysts run many commands on the same monthly extract (compute, explain, diff, the
scorecard), and each one used to pay the whole fixed cost again: parsing files, coercing every
column to the contract, checking every rule, coding the people ids. After a successful load
this module keeps what was loaded, exactly as the loader returned it, as uncompressed Arrow IPC
files that a later run memory-maps: text stays in place in the mapped file, numbers and dates
are one copy away, and nothing is parsed, checked or hashed again.

A cache that can be wrong is worse than none, so an entry is reused only when all of these are
equal to what it was built from:

- the content of every source file the load could read: for each requested table both
  ``<table>.parquet`` and ``<table>.csv`` (present or absent: adding one changes what is read),
  and ``manifest.yaml``; compared by size and a SHA-256 hash of the whole file, streamed. The
  modification time is recorded but decides nothing: an edit that restores it is still caught
  by the hash, and a file only touched (same bytes) reuses the entry, which is correct;
- the request: each table and column asked for (an entry holding more columns or tables serves
  a run that needs fewer), and whether dangling references were checked;
- the kpi version, the contract version and this cache's own format.

An entry also keeps the derived fields and tables runs on it have derived
(:class:`DerivedStore`): they depend on its tables alone, so the next run reads them instead
of deriving them again. Each is named by a hash of the derivation code, so code that derives
differently never reads them.

An entry is written into a temporary folder and renamed into place, so a crash leaves no
half-written entry; one that fails any check on reading (missing or truncated file, wrong
schema, row count or code range) is deleted and rebuilt, never used. Only loads without
errors are kept. Where entries live and how many are kept: :func:`cache_dir`,
:data:`ENTRIES`; ``KPI_CACHE=0`` or :func:`caching` (``--no-cache``) turns the cache off.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import hashlib
import json
import os
import shutil
import stat
import sys
import time
import uuid
from collections.abc import Collection, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from kpi_engine import __version__, _text, contract, keys, manifest, validation
from kpi_engine import extract as extract_module
from kpi_engine._text import TEXT, strings, to_index
from kpi_engine._threads import workers
from kpi_engine.extract import Extract, latest_of
from kpi_engine.manifest import FILE as MANIFEST
from kpi_engine.manifest import Manifest, read_manifest
from kpi_engine.validation import Problem

FORMAT = 4
"""This cache's own layout; an entry of another format is never read."""

ENTRIES = 4
"""Entries kept (the most recently used); ``KPI_CACHE_ENTRIES`` changes it."""

_META = "entry.json"
_TEMPORARY = ".tmp-"
HOLIDAYS_FOLDER = "bank-holidays"
"""Not an entry: the bank holidays kpi_engine.calendar keeps beside them (pruning leaves it)."""
_STALE_SECONDS = 3600
"""A temporary folder this old belongs to a run that died: it is removed."""

_KINDS = {"str", "datetime64[ns]", "boolean", "Int64", "float64", "int64", "bool"}
"""pandas types that survive the trip through Arrow exactly (categoricals go as codes)."""

_DATES = "datetime64[ns]"
"""The kind of a date column, stored as its integers (:func:`_to_arrow`)."""

_OBJECT_TEXT = "object:str"
"""The kind of a column of Python strings with none missing (a derived table's labels)."""

_enabled: contextvars.ContextVar[bool] = contextvars.ContextVar("kpi_cache", default=True)

Kinds = dict[str, Any]
"""Each stored column's kind: a pandas type's name, or ["category", list number, ordered]."""

Fingerprint = tuple[int, int, str] | None
"""A source file's size, modification time (ns) and hash; None when it does not exist."""


def cache_dir() -> Path:
    """Where entries live: ``$KPI_CACHE_DIR``, else ``$XDG_CACHE_HOME/kpi-engine``, else
    ``~/.cache/kpi-engine``."""
    if os.environ.get("KPI_CACHE_DIR"):
        return Path(os.environ["KPI_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kpi-engine"


def holidays_folder() -> Path | None:
    """Where kpi_engine.calendar keeps England's bank holidays, beside the entries (pruning
    leaves it), or None with the cache off."""
    return cache_dir() / HOLIDAYS_FOLDER if enabled() else None


def make_private(folder: Path) -> None:
    """``folder``, the cache folder or one in it, made where missing with the cache folder:
    readable by the user alone, as everything kept here is."""
    for path in dict.fromkeys((cache_dir(), folder)):
        path.mkdir(parents=True, exist_ok=True, mode=0o700)


def enabled() -> bool:
    """Whether loads use the cache: not under ``KPI_CACHE=0`` nor inside ``caching(False)``."""
    setting = os.environ.get("KPI_CACHE", "").strip().lower()
    return _enabled.get() and setting not in ("0", "false", "no", "off")


@contextlib.contextmanager
def caching(on: bool) -> Iterator[None]:
    """Loads inside the block use the cache only if ``on`` (the CLI's ``--no-cache``)."""
    token = _enabled.set(on)
    try:
        yield
    finally:
        _enabled.reset(token)


def load_extract(
    path: Path | str,
    tables: Iterable[str] | None = None,
    *,
    columns: Mapping[str, Collection[str]] | None = None,
    strict: bool = True,
    references: bool = True,
) -> Extract:
    """:func:`kpi_engine.extract.load_extract`, through the cache (same arguments, same result)."""
    folder = Path(path)
    tables = list(tables) if tables is not None else None
    request = _request(tables, columns)
    if (
        not enabled()
        or not folder.is_dir()
        or request is None
        or not _plain_files(folder, _source_names(request))
    ):
        return extract_module.load_extract(
            folder, tables, columns=columns, strict=strict, references=references
        )
    sources = _Sources(folder)
    root = cache_dir()
    identity = _identity(folder, references)
    for entry in _entries(root):
        try:
            if _serves(entry.meta, identity, request) and sources.match(entry.meta["sources"]):
                return _read(entry, folder, request)
        except Exception:  # whatever is wrong with an entry (its files, its JSON), it is unused
            shutil.rmtree(entry.path, ignore_errors=True)  # damaged: never trusted again
    names = _source_names(request)
    before = sources.fingerprints(names)
    loaded = extract_module.load_extract(
        folder, tables, columns=columns, strict=strict, references=references
    )
    unchanged = all(sources.stat(n) == (f[:2] if f else None) for n, f in before.items())
    if unchanged and not any(p.severity == "error" for p in loaded.problems):
        with contextlib.suppress(OSError, ValueError, TypeError, pa.ArrowException):
            # what this run derives is kept with the new entry for the runs after it
            store = _write(root, folder, request, references, before, loaded)
            return dataclasses.replace(loaded, derived=store)
    return loaded


# --- the key ------------------------------------------------------------------------------------


def _request(
    tables: list[str] | None, columns: Mapping[str, Collection[str]] | None
) -> dict[str, list[str]] | None:
    """Each table the load reads, in order, with the contract columns it keeps.

    None when the request names a table outside the contract: the loader reports that.
    """
    if columns is not None:
        wanted = [t for t in (tables if tables is not None else columns) if t in columns]
    else:
        wanted = tables if tables is not None else list(contract.TABLES)
    if any(t not in contract.TABLES for t in wanted):
        return None
    spec = contract.TABLES
    return {
        t: sorted(
            spec[t].column_names
            if columns is None
            else (c for c in spec[t].column_names if c in columns[t])
        )
        for t in wanted
    }


def _source_names(request: Mapping[str, Collection[str]]) -> list[str]:
    return [MANIFEST, *(f"{t}.{suffix}" for t in request for suffix in ("parquet", "csv"))]


def _plain_files(folder: Path, names: Iterable[str]) -> bool:
    """Whether every source present is a regular file the loader would read: a FIFO would block
    the hash, and a dangling link, a link loop, a folder or a file over the size limit must
    reach the loader, which reports it, never a cache entry made when the file was absent."""
    limit = extract_module.max_table_bytes()
    for name in names:
        path = folder / name
        if not os.path.lexists(path):
            continue
        try:
            info = path.stat()
        except OSError:
            return False
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return False
    return True


class _Sources:
    """The extract folder's files, each stat'ed and hashed at most once per load."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._known: dict[str, Fingerprint] = {}

    def stat(self, name: str) -> tuple[int, int] | None:
        try:
            info = (self.folder / name).stat()
        except FileNotFoundError:
            return None
        return info.st_size, info.st_mtime_ns

    def _fingerprint(self, name: str) -> Fingerprint:
        where = self.stat(name)
        if where is None:
            return None
        with open(self.folder / name, "rb") as f:
            # SHA-256 runs on the processor's SHA instructions where it has them: on this
            # project's machine 1.8 GB/s against BLAKE2b's 0.7, and every warm run hashes
            # every source file
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        return (*where, digest)

    def fingerprints(self, names: Iterable[str]) -> dict[str, Fingerprint]:
        """Each file's fingerprint; the large files are hashed side by side (hashlib frees the
        GIL)."""
        todo = [n for n in names if n not in self._known]
        with ThreadPoolExecutor(max_workers=workers()) as pool:
            for name, found in zip(todo, pool.map(self._fingerprint, todo), strict=True):
                self._known[name] = found
        return {n: self._known[n] for n in names}

    def match(self, recorded: Mapping[str, Any]) -> bool:
        """Whether every recorded file has the same size and content now (mtime aside)."""
        for name, was in recorded.items():
            now = self.stat(name)
            if (was is None) != (now is None) or (now is not None and now[0] != was[0]):
                return False  # cheap: a file appeared, vanished or changed size
        now_all = self.fingerprints(recorded)
        return all(
            was is None or (now is not None and now[2] == was[2])
            for was, now in zip(recorded.values(), now_all.values(), strict=True)
        )


@functools.cache
def _loader_code() -> str:
    """A hash of the code that shapes a load: a working copy edited without a new version
    number must not be served what the code before the edit loaded."""
    digest = hashlib.blake2b(digest_size=12)
    loader = (extract_module, manifest, keys, contract, _text, validation, sys.modules[__name__])
    for module in loader:
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()


def _identity(folder: Path, references: bool) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "kpi": __version__,
        "contract": contract.CONTRACT_VERSION,
        "loader": _loader_code(),
        "pandas": pd.__version__,
        "pyarrow": pa.__version__,
        "folder": str(folder.resolve()),
        "references": references,
    }


# --- finding entries ----------------------------------------------------------------------------


class _Entry:
    def __init__(self, path: Path, meta: dict[str, Any]) -> None:
        self.path = path
        self.meta = meta


def _entries(root: Path) -> list[_Entry]:
    """Every readable entry, most recently used first."""
    found = []
    try:
        folders = [p for p in root.iterdir() if not p.name.startswith(_TEMPORARY)]
    except OSError:
        return []
    for folder in folders:
        try:
            meta = json.loads((folder / _META).read_text(encoding="utf-8"))
            used = (folder / _META).stat().st_mtime
        except (OSError, ValueError):
            continue  # not an entry (or a damaged one: pruning removes it)
        if isinstance(meta, dict):
            found.append((used, _Entry(folder, meta)))
    found.sort(key=lambda pair: pair[0], reverse=True)
    return [entry for _, entry in found]


def _serves(
    meta: Mapping[str, Any], identity: Mapping[str, Any], request: Mapping[str, list[str]]
) -> bool:
    """Whether an entry was built from this folder, with these options and versions, and holds
    every table and column requested (its files are compared afterwards)."""
    if any(meta.get(k) != v for k, v in identity.items()):
        return False
    held = meta["request"]
    if identity["references"] and held != request:
        return False  # dangling-reference warnings depend on exactly what was loaded
    return all(t in held and set(c) <= set(held[t]) for t, c in request.items())


# --- writing ------------------------------------------------------------------------------------


def _shared_dtypes(tables: Mapping[str, pd.DataFrame]) -> list[pd.CategoricalDtype]:
    """Each distinct category list among the tables' coded columns, once (keys.share's lists)."""
    found: list[pd.CategoricalDtype] = []
    for frame in tables.values():
        for column in frame.columns:
            dtype = frame[column].dtype
            if isinstance(dtype, pd.CategoricalDtype) and not any(
                dtype.categories is d.categories or dtype.categories.is_(d.categories)
                for d in found
            ):
                found.append(dtype)
    return found


def _column_kind(series: pd.Series, shared: list[pd.CategoricalDtype]) -> Any:
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        if dtype.categories.dtype != TEXT:
            raise ValueError(f"categories of {dtype.categories.dtype} are not cached")
        at = next(
            (
                i
                for i, d in enumerate(shared)
                if dtype.categories is d.categories or dtype.categories.is_(d.categories)
            ),
            None,
        )
        if at is None:
            raise ValueError("a categorical over a list of its own is not cached")
        return ["category", at, bool(dtype.ordered)]
    if (
        pd.api.types.is_object_dtype(dtype)
        and pd.api.types.infer_dtype(series, skipna=False) == "string"
    ):
        return _OBJECT_TEXT  # Python strings, none missing: back exactly as they were
    if str(dtype) not in _KINDS:
        raise ValueError(f"columns of {dtype} are not cached")
    return str(dtype)


def _to_arrow(frame: pd.DataFrame, shared: list[pd.CategoricalDtype]) -> tuple[pa.Table, Kinds]:
    """``frame`` as an Arrow table, and each column's kind to read it back by.

    Coded columns go as their integer codes; their category lists are stored once. ValueError
    for a column whose type would not come back exactly.
    """
    kinds = {str(c): _column_kind(frame[c], shared) for c in frame.columns}
    # coded columns as their codes, dates as their integers (NaT included: read back without
    # a copy, where Arrow would make a missing date null); a frame built with copy=False, as
    # DataFrame.assign would copy every such column first (0.9 s for the 2016-17 set)
    plain = pd.DataFrame(
        {
            c: np.asarray(frame[c].cat.codes)
            if isinstance(kind, list)
            else frame[c].to_numpy().view(np.int64)
            if kind == _DATES
            else frame[c]
            for c, kind in kinds.items()
        },
        index=frame.index,
        copy=False,
    )
    return pa.Table.from_pandas(plain, preserve_index=False), kinds


def _from_arrow(
    stored: pa.Table, kinds: Kinds, kept: list[str], dtypes: list[pd.CategoricalDtype]
) -> pd.DataFrame:
    """The ``kept`` columns of a table :func:`_to_arrow` stored, each checked against its kind."""
    frame: pd.DataFrame = stored.select(kept).to_pandas(split_blocks=True)
    for column in kept:
        kind = kinds[column]
        if isinstance(kind, list):
            frame[column] = _categorical(frame[column].to_numpy(), dtypes[kind[1]])
        elif kind == _DATES and frame[column].dtype == np.int64:
            days = frame[column].to_numpy().view("datetime64[ns]")
            frame[column] = pd.Series(days, index=frame.index, copy=False)
        elif kind == _OBJECT_TEXT and frame[column].dtype == TEXT and frame[column].notna().all():
            frame[column] = frame[column].astype(object)
        elif str(frame[column].dtype) != kind:
            raise ValueError(f"{column} read back as {frame[column].dtype}")
    return frame


_PIECES = b"kpi_pieces"
"""Schema metadata of a table file: the positions of the columns kept in files of their own."""


def _write_ipc(path: Path, table: pa.Table, pieces: bool = False) -> None:
    """``table`` as one Arrow IPC file of one record batch: a column in one piece is read
    back without a copy, where one in the hundred pieces of the Parquet row groups it was
    read from would be joined into new memory by every run.

    ``pieces``: a column in pieces (text read from Parquet: half a gigabyte for the national
    2016-17 set) goes to a file of its own beside it (``<name>.<position>.arrow``), one record
    batch a piece: read back in those pieces without a copy, and never joined at all (joining
    took 1.2 s of each first run). Only for files renamed into place with their folder.
    """
    apart = [i for i, c in enumerate(table.columns) if c.num_chunks > 1] if pieces else []
    for i in apart:
        _write_batches(path.with_name(f"{path.stem}.{i}.arrow"), table.select([i]))
    kept = [i for i in range(table.num_columns) if i not in apart]
    metadata = dict(table.schema.metadata or {})
    if apart:
        metadata[_PIECES] = json.dumps(apart).encode()
    whole = pa.table(
        # numbers from numpy are in one piece already: only text in pieces is joined
        [c.combine_chunks() if c.num_chunks != 1 else c for c in table.select(kept).columns],
        schema=pa.schema([table.schema.field(i) for i in kept], metadata=metadata or None),
    )
    _write_batches(path, whole)


def _write_batches(path: Path, table: pa.Table) -> None:
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def _write(
    root: Path,
    folder: Path,
    request: Mapping[str, list[str]],
    references: bool,
    sources: Mapping[str, Fingerprint],
    loaded: Extract,
) -> DerivedStore:
    """Keep ``loaded`` as a new entry: written aside, then renamed into place; where the
    derivations of its tables are to be kept."""
    make_private(root)
    shared = _shared_dtypes(loaded.tables)
    meta: dict[str, Any] = {
        **_identity(folder, references),
        "request": dict(request),
        "sources": {n: list(f) if f else None for n, f in sources.items()},
        "categories": [len(d.categories) for d in shared],
        "tables": {},
        "problems": [_problem_out(p, folder) for p in loaded.problems],
    }
    temporary = root / f"{_TEMPORARY}{uuid.uuid4().hex}"
    temporary.mkdir(mode=0o700)
    try:
        for i, dtype in enumerate(shared):
            _write_ipc(
                temporary / f"categories-{i}.arrow", pa.table({"id": strings(dtype.categories)})
            )
        for name, frame in loaded.tables.items():
            table, kinds = _to_arrow(frame, shared)
            _write_ipc(temporary / f"{name}.arrow", table, pieces=True)
            meta["tables"][name] = {
                "rows": len(frame),
                "columns": kinds,
                # the latest date of each column, so that a read need not scan them again
                "latest": {
                    str(c): d.isoformat() for c, d in loaded.latest_dates.get(name, {}).items()
                },
            }
        (temporary / _META).write_text(json.dumps(meta), encoding="utf-8")
        key = hashlib.blake2b(
            json.dumps({k: v for k, v in meta.items() if k not in ("tables", "problems")}).encode(),
            digest_size=12,
        ).hexdigest()
        # if another run stored the same entry first, the rename fails: theirs is as good
        with contextlib.suppress(OSError):
            temporary.rename(root / key)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    _prune(root)
    return DerivedStore(root / key, shared)


def _problem_out(problem: Problem, folder: Path) -> dict[str, Any]:
    out = problem.as_dict()
    name = Path(problem.file).name
    # a file in the extract folder is named again from the folder the next run gives
    out["in_folder"] = problem.file == str(folder / name)
    if out["in_folder"]:
        out["file"] = name
    return out


def _prune(root: Path) -> None:
    """Keep the most recently used entries; remove temporary folders of runs that died."""
    setting = os.environ.get("KPI_CACHE_ENTRIES", "").strip()
    keep = int(setting) if setting.isdigit() else ENTRIES
    for entry in _entries(root)[max(keep, 1) :]:
        shutil.rmtree(entry.path, ignore_errors=True)
    now = time.time()
    with contextlib.suppress(OSError):
        for path in root.iterdir():
            if path.name == HOLIDAYS_FOLDER:
                continue
            named_entry = (path / _META).exists()
            old = now - path.stat().st_mtime > _STALE_SECONDS
            if old and (path.name.startswith(_TEMPORARY) or not named_entry):
                shutil.rmtree(path, ignore_errors=True)


# --- reading ------------------------------------------------------------------------------------


def _read_ipc(path: Path) -> pa.Table:
    """A table :func:`_write_ipc` wrote, memory-mapped, its columns in pieces put back."""
    table = _read_batches(path)
    metadata = dict(table.schema.metadata or {})
    if _PIECES not in metadata:
        return table
    columns, fields = list(table.columns), list(table.schema)
    for i in json.loads(metadata.pop(_PIECES)):  # ascending: each goes to its own place
        apart = _read_batches(path.with_name(f"{path.stem}.{i}.arrow"))
        columns.insert(i, apart.column(0))
        fields.insert(i, apart.schema.field(0))
    # ArrowInvalid when a column's length differs from the others': a damaged entry
    return pa.table(columns, schema=pa.schema(fields, metadata=metadata or None))


def _read_batches(path: Path) -> pa.Table:
    with pa.memory_map(str(path), "r") as source:
        table: pa.Table = pa.ipc.open_file(source).read_all()
    return table  # its buffers keep the mapping alive


def _read(entry: _Entry, folder: Path, request: Mapping[str, list[str]]) -> Extract:
    """The entry's tables (just the requested columns), checked before they are trusted."""
    meta = entry.meta
    dtypes = []
    for i, count in enumerate(meta["categories"]):
        ids = _read_ipc(entry.path / f"categories-{i}.arrow").column("id").combine_chunks()
        if len(ids) != count or ids.null_count:
            raise ValueError("category list of the wrong length")
        dtypes.append(keys.distinct_dtype(to_index(ids)))
    tables: dict[str, pd.DataFrame] = {}
    dates: dict[str, dict[str, pd.Timestamp]] = {}
    for name, wanted in request.items():
        info = meta["tables"].get(name)
        if info is None:
            continue  # the table's file was absent when the entry was made (and still is)
        kinds = info["columns"]
        stored = _read_ipc(entry.path / f"{name}.arrow")
        if stored.num_rows != info["rows"] or stored.column_names != list(kinds):
            raise ValueError("table of the wrong shape")
        kept = [c for c in kinds if c in wanted]
        tables[name] = _from_arrow(stored, kinds, kept, dtypes)
        dates[name] = {c: pd.Timestamp(d) for c, d in info["latest"].items() if c in kept}
    os.utime(entry.path / _META)  # most recently used: pruned last
    problems = tuple(_problem_in(p, folder) for p in meta["problems"] if _concerns(p, request))
    return Extract(
        folder,
        tables,
        _manifest(folder),
        problems,
        latest_of(dates),
        dates,
        derived=DerivedStore(entry.path, dtypes),
    )


def _categorical(codes: np.ndarray, dtype: pd.CategoricalDtype) -> pd.Categorical:
    if len(codes) and (codes.min() < -1 or codes.max() >= len(dtype.categories)):
        raise ValueError("codes outside their category list")
    return pd.Categorical.from_codes(codes, dtype=dtype)


def _concerns(problem: Mapping[str, Any], request: Mapping[str, Any]) -> bool:
    """Whether a stored warning is about a file of the requested tables (or the manifest)."""
    if not problem["in_folder"]:
        return True
    name = str(problem["file"])
    return name == MANIFEST or name.rsplit(".", 1)[0] in request


def _problem_in(stored: Mapping[str, Any], folder: Path) -> Problem:
    file = str(folder / stored["file"]) if stored["in_folder"] else str(stored["file"])
    return Problem(
        file,
        stored["line"],
        stored["column"],
        stored["field"],
        stored["message"],
        stored["severity"],
    )


def _manifest(folder: Path) -> Manifest:
    """The manifest, parsed again: a few milliseconds, and its bytes are part of the key, so
    the result is the loader's own (its warnings are among the stored problems)."""
    return read_manifest(folder, [])


# --- derived fields and tables ------------------------------------------------------------------


@functools.cache
def _derivation_code() -> str:
    """A hash of the code that derives fields and tables, and of the bank holidays it counts
    working days by: a derived column kept by other code is never read."""
    from importlib.metadata import version

    from kpi_engine import _sorting, calendar, derivations, derived, intervals

    digest = hashlib.blake2b(digest_size=8)
    for module in (derivations, derived, intervals, calendar, _sorting, keys, _text):
        digest.update(Path(str(module.__file__)).read_bytes())
    digest.update(f"{version('holidays')} {np.__version__} {pd.__version__}".encode())
    return digest.hexdigest()


class DerivedStore:
    """Derived fields and tables kept with a cache entry, for the next run on the same extract.

    A derived field or table is a function of the entry's tables alone (``kpi_engine.derivations``
    reads no period, definition or date of the run), so one computed from an entry is right for
    every run that entry serves. Each is one Arrow file named by what it is and by a hash of
    the derivation code (:func:`_derivation_code`), written aside and renamed into place; one
    that cannot be read back exactly (damaged, another shape) is deleted and derived again.
    """

    def __init__(self, entry: Path, shared: list[pd.CategoricalDtype]) -> None:
        self.entry = entry
        self.shared = shared

    def _path(self, key: str) -> Path:
        return self.entry / f"derived-{_derivation_code()}-{key}.arrow"

    def get(self, key: str, rows: int | None = None) -> pd.DataFrame | None:
        """What :meth:`put` kept under ``key`` (of ``rows`` rows, when given), or None."""
        path = self._path(key)
        try:
            stored = _read_ipc(path)
            kinds = json.loads(stored.schema.metadata[b"kpi-kinds"])
            if rows is not None and stored.num_rows != rows:
                raise ValueError("derived from another table")
            return _from_arrow(stored, kinds, list(kinds), self.shared)
        except FileNotFoundError:
            return None
        except Exception:  # damaged or foreign: never trusted, derived again
            with contextlib.suppress(OSError):
                path.unlink()
            return None

    def put(self, key: str, frame: pd.DataFrame) -> None:
        """Keep ``frame`` under ``key``; silently not when it cannot be kept exactly."""
        with contextlib.suppress(OSError, ValueError, TypeError, pa.ArrowException):
            table, kinds = _to_arrow(frame, self.shared)
            # beside pandas' own metadata, which brings nullable types back as they were
            metadata = {**(table.schema.metadata or {}), b"kpi-kinds": json.dumps(kinds).encode()}
            table = table.replace_schema_metadata(metadata)
            aside = self.entry / f"{_TEMPORARY}{uuid.uuid4().hex}.arrow"
            try:
                _write_ipc(aside, table)
                os.replace(aside, self._path(key))
                for older in self.entry.glob(f"derived-*-{key}.arrow"):
                    if older != self._path(key):  # kept by code since changed
                        older.unlink()
            finally:
                with contextlib.suppress(OSError):
                    aside.unlink()
