"""An extract's ``manifest.yaml``: read within limits, checked completely, held as plain data.

The manifest is read before any table, and a manifest with an error stops the run before
anything is computed or written. YAML lets a few hundred bytes stand for billions of nodes
(aliases of aliases: "billion laughs") or nest deeper than the parser's recursion, so the file
is first read as a stream of parser events, which costs memory in proportion to the file, and
the stream is held to limits on bytes, expanded nodes and depth. Only a manifest inside the
limits is built into Python values, and only known keys, each checked for its type, reach
:class:`Manifest`. docs/extract-validation.md lists the keys and the limits.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kpi_engine import contract
from kpi_engine.validation import Problem, closest

FILE = "manifest.yaml"

MAX_BYTES = 1024 * 1024
"""A manifest is a few hundred bytes; a megabyte leaves room for long provenance lists."""
MAX_NODES = 100_000
"""Values after expanding every alias: a bound on what building the manifest may cost."""
MAX_DEPTH = 20
"""Nesting levels; the deepest the format uses is four (sources, a source, a field)."""

FIRST_DATE = dt.date(1900, 1, 2)
LAST_DATE = dt.date(2199, 12, 31)
"""The dates an extract may be taken on: the supported months (kpi_engine.periods)."""

DEFAULT_OPEN_END_DATES = (dt.date(9999, 12, 31),)
"""What case-management systems write in an end-date column for "still open"."""

_SHA256 = re.compile(r"^[0-9a-f]{64}$")

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser where PyYAML was built with it: reaching the node limit takes 0.1 s, not 3."""


@dataclass(frozen=True)
class Source:
    """One file an importer turned into the extract (written by ``kpi import``)."""

    kind: str
    """The statutory return or system export the file was (e.g. ``ssda903``)."""
    file: str
    year: int | None = None
    authority: str | None = None
    sha256: str | None = None
    rows: dict[str, int] = field(default_factory=dict)
    """Per extract table, the rows this file gave it."""


@dataclass(frozen=True)
class Partial:
    """A table the extract holds only in part (kpi_engine.partial_tables): which rows, and why."""

    holds_only: str
    """The filter its rows all satisfy (``looked_after``)."""
    reason: str


@dataclass(frozen=True)
class Manifest:
    """What ``manifest.yaml`` says about the extract: validated plain data, every field optional."""

    authority: str | None = None
    extract_date: dt.date | None = None
    source_system: str | None = None
    contract_version: str | None = None
    generator: dict[str, str | int | float | bool | None] = field(default_factory=dict)
    """How a synthetic extract was generated (version, seed, scale, months)."""
    rows: dict[str, int] = field(default_factory=dict)
    """Per table, the rows the extract holds: a shorter table was truncated in transit."""
    column_map: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per table, the site's column name → the contract's column name."""
    open_end_dates: tuple[dt.date, ...] = DEFAULT_OPEN_END_DATES
    """Dates that mean "no end" in an end-date column (docs/extract-validation.md)."""
    sources: tuple[Source, ...] = ()
    partial_tables: dict[str, Partial] = field(default_factory=dict)
    """Tables holding only some rows (an import of the statutory returns says which)."""


class _Limits:
    """Counts parser events against the limits, tracking each anchor's expanded size."""

    def __init__(self) -> None:
        self.nodes = 0
        self.stack: list[tuple[str | None, int]] = []  # (anchor, nodes so far) per open node
        self.sizes: dict[str, int] = {}

    def add(self, event: yaml.Event) -> str | None:
        """Account for one event; a message when a limit is passed."""
        if isinstance(event, yaml.AliasEvent):
            if event.anchor not in self.sizes:
                opened = any(anchor == event.anchor for anchor, _ in self.stack)
                return "a recursive alias" if opened else f"an undefined alias *{event.anchor}"
            return self._count(self.sizes[event.anchor])
        if isinstance(event, yaml.ScalarEvent):
            if event.anchor is not None:
                self.sizes[event.anchor] = 1
            return self._count(1)
        if isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            self.stack.append((event.anchor, self.nodes))
            if len(self.stack) > MAX_DEPTH:
                return f"nested deeper than {MAX_DEPTH} levels"
            return self._count(1)
        if isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            anchor, before = self.stack.pop()
            if anchor is not None:
                self.sizes[anchor] = self.nodes - before
        return None

    def _count(self, nodes: int) -> str | None:
        self.nodes += nodes
        if self.nodes > MAX_NODES:
            return f"expands to more than {MAX_NODES:,} values (aliases included)"
        return None


def _parse(path: Path, text: str, problems: list[Problem]) -> yaml.Node | None:
    """The document's node graph, once its event stream is inside the limits."""
    limits = _Limits()
    try:
        for event in yaml.parse(text, Loader=_LOADER):
            exceeded = limits.add(event)
            if exceeded is not None:
                line = event.start_mark.line + 1 if event.start_mark else None
                problems.append(Problem(str(path), line, None, "", f"refused: {exceeded}"))
                return None
        node: yaml.Node | None = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = str(getattr(e, "problem", None) or e)
        if "nesting depth" in problem:  # libyaml's own limit (1,000), met while reading ahead
            message = f"refused: nested deeper than {MAX_DEPTH} levels"
        else:
            message = f"not valid YAML: {problem}"
        problems.append(Problem(str(path), line, None, "", message))
        return None
    return node


def read_manifest(folder: Path, problems: list[Problem]) -> Manifest:
    """The manifest of the extract in ``folder`` (defaults without one); problems appended."""
    path = folder / FILE
    if not path.exists():
        if path.is_symlink():
            problems.append(Problem(str(path), None, None, "", "a broken symbolic link"))
        return Manifest()
    if not path.is_file():
        problems.append(Problem(str(path), None, None, "", "not a regular file"))
        return Manifest()
    size = path.stat().st_size
    if size > MAX_BYTES:
        problems.append(
            Problem(
                str(path), None, None, "", f"refused: {size:,} bytes (the limit is {MAX_BYTES:,})"
            )
        )
        return Manifest()
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        problems.append(Problem(str(path), None, None, "", f"not UTF-8 text: {e.reason}"))
        return Manifest()
    except OSError as e:
        problems.append(Problem(str(path), None, None, "", f"cannot be read: {e.strerror}"))
        return Manifest()
    node = _parse(path, text, problems)
    if node is None:
        return Manifest()
    if not isinstance(node, yaml.MappingNode):
        line = node.start_mark.line + 1
        problems.append(Problem(str(path), line, None, "", "expected a mapping of fields"))
        return Manifest()
    return _Checker(path, problems).manifest(node)


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


class _Checker:
    """Turns the manifest's node graph into a :class:`Manifest`, one located problem per fault."""

    def __init__(self, path: Path, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems

    def problem(self, node: yaml.Node, name: str, message: str, severity: str = "error") -> None:
        self.problems.append(Problem(str(self.path), _line(node), None, name, message, severity))

    def manifest(self, root: yaml.MappingNode) -> Manifest:
        fields: dict[str, Any] = {}
        for name, node in self.pairs(root, ""):
            check = _FIELDS.get(name)
            if check is None:
                hint = closest(name, _FIELDS)
                self.problem(
                    node,
                    name,
                    "unknown manifest key; ignored"
                    + (f" (did you mean {hint!r}?)" if hint else ""),
                    severity="warning",
                )
                continue
            if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
                continue  # an empty field: the default
            value = check(self, node, name)
            if value is not None:
                fields[name] = value
        return Manifest(**fields)

    def pairs(self, node: yaml.Node, name: str) -> list[tuple[str, yaml.Node]]:
        """A mapping's (key, value node) pairs; a repeated or non-text key is an error."""
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, name, "expected a mapping")
            return []
        out: list[tuple[str, yaml.Node]] = []
        seen: set[str] = set()
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                self.problem(key, name, "expected a text key")
                continue
            if key.value in seen:
                self.problem(key, f"{name}.{key.value}".lstrip("."), "repeated key")
                continue
            seen.add(key.value)
            out.append((str(key.value), value))
        return out

    def value(self, node: yaml.Node) -> Any:
        """The node as a Python value (bounded: the limits have passed); a scalar that does
        not build (``2016-02-30`` looks like a date) stays its text."""
        try:
            return yaml.SafeLoader("").construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError):
            return node.value if isinstance(node, yaml.ScalarNode) else None

    def text(self, node: yaml.Node, name: str) -> str | None:
        value = self.value(node) if isinstance(node, yaml.ScalarNode) else None
        if not isinstance(value, str | int | float) or isinstance(value, bool) or value == "":
            self.problem(node, name, f"expected text (got {_show(node)})")
            return None
        return str(value)

    def count(self, node: yaml.Node, name: str) -> int | None:
        value = self.value(node) if isinstance(node, yaml.ScalarNode) else None
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            self.problem(node, name, f"expected a whole number of 0 or more (got {_show(node)})")
            return None
        return value

    def date(self, node: yaml.Node, name: str, bounded: bool = True) -> dt.date | None:
        value = self.value(node) if isinstance(node, yaml.ScalarNode) else None
        if isinstance(value, dt.datetime):
            value = value.date()
        if isinstance(value, str):
            try:
                value = dt.date.fromisoformat(value.strip())
            except ValueError:
                value = None
        if not isinstance(value, dt.date):
            self.problem(node, name, f"not a date (got {_show(node)}; expected YYYY-MM-DD)")
            return None
        if bounded and not FIRST_DATE <= value <= LAST_DATE:
            self.problem(
                node,
                name,
                f"{value.isoformat()} is outside the supported dates "
                f"{FIRST_DATE.isoformat()} to {LAST_DATE.isoformat()}",
            )
            return None
        return value


def _show(node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode):
        return "empty" if node.value == "" else repr(node.value[:60])
    return "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"


def _authority(c: _Checker, node: yaml.Node, name: str) -> str | None:
    return c.text(node, name)


def _extract_date(c: _Checker, node: yaml.Node, name: str) -> dt.date | None:
    return c.date(node, name)


def _contract_version(c: _Checker, node: yaml.Node, name: str) -> str | None:
    version = c.text(node, name)
    if version is not None and version != contract.CONTRACT_VERSION:
        c.problem(
            node,
            name,
            f"the extract follows contract version {version!r}; this kpi reads version "
            f"{contract.CONTRACT_VERSION!r}",
        )
        return None
    return version


def _generator(c: _Checker, node: yaml.Node, name: str) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    for key, value in c.pairs(node, name):
        item = c.value(value) if isinstance(value, yaml.ScalarNode) else None
        if isinstance(item, dt.date):
            item = item.isoformat()
        if not isinstance(value, yaml.ScalarNode) or not isinstance(
            item, str | int | float | bool | None
        ):
            c.problem(value, f"{name}.{key}", f"expected a single value (got {_show(value)})")
            continue
        out[key] = item
    return out


def _table(c: _Checker, node: yaml.Node, name: str, table: str) -> bool:
    if table in contract.TABLES:
        return True
    hint = closest(table, contract.TABLES)
    c.problem(
        node,
        f"{name}.{table}",
        f"unknown table (got {table!r})" + (f"; did you mean {hint!r}?" if hint else ""),
    )
    return False


def _rows(c: _Checker, node: yaml.Node, name: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for table, value in c.pairs(node, name):
        rows = c.count(value, f"{name}.{table}") if _table(c, value, name, table) else None
        if rows is not None:
            out[table] = rows
    return out


def _column_map(c: _Checker, node: yaml.Node, name: str) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for table, names in c.pairs(node, name):
        if not _table(c, names, name, table):
            continue
        valid = contract.TABLES[table].column_names
        renames: dict[str, str] = {}
        mapped_from: dict[str, str] = {}
        for site, target in c.pairs(names, f"{name}.{table}"):
            where = f"{name}.{table}.{site}"
            canonical = c.text(target, where)
            if canonical is None:
                continue
            if canonical not in valid:
                hint = closest(canonical, valid)
                c.problem(
                    target,
                    where,
                    f"not a column of {table} (got {canonical!r})"
                    + (f"; did you mean {hint!r}?" if hint else ""),
                )
                continue
            if canonical in mapped_from:
                c.problem(
                    target,
                    where,
                    f"{mapped_from[canonical]!r} is already mapped onto {canonical!r}: "
                    "one source column per contract column",
                )
                continue
            mapped_from[canonical] = site
            renames[site] = canonical
        out[table] = renames
    return out


def _open_end_dates(c: _Checker, node: yaml.Node, name: str) -> tuple[dt.date, ...] | None:
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    dates = [c.date(item, name, bounded=False) for item in items]
    if any(d is None for d in dates):
        return None
    return tuple(d for d in dates if d is not None)


def _sources(c: _Checker, node: yaml.Node, name: str) -> tuple[Source, ...] | None:
    if not isinstance(node, yaml.SequenceNode):
        c.problem(node, name, "expected a list of {kind, file, year, authority, sha256, rows}")
        return None
    out: list[Source] = []
    for index, item in enumerate(node.value):
        source = _source(c, item, f"{name}[{index}]")
        if source is not None:
            out.append(source)
    return tuple(out)


def _source(c: _Checker, node: yaml.Node, name: str) -> Source | None:
    given = dict(c.pairs(node, name))
    values: dict[str, Any] = {}
    for key, value in given.items():
        where = f"{name}.{key}"
        optional = key not in ("kind", "file")
        if optional and isinstance(value, yaml.ScalarNode) and value.tag == _NULL:
            continue  # an optional field left empty (a 903 names no authority)
        if key in ("kind", "file", "authority"):
            values[key] = c.text(value, where)
        elif key == "year":
            values[key] = c.count(value, where)
        elif key == "rows":
            values[key] = _rows(c, value, where)
        elif key == "sha256":
            digest = c.text(value, where)
            if digest is not None and not _SHA256.match(digest.lower()):
                c.problem(value, where, f"expected 64 hexadecimal digits (got {_show(value)})")
                digest = None
            values[key] = digest.lower() if digest else None
        else:
            hint = closest(key, ("kind", "file", "year", "authority", "sha256", "rows"))
            c.problem(
                value,
                where,
                "unknown source field; ignored" + (f" (did you mean {hint!r}?)" if hint else ""),
                severity="warning",
            )
    for required in ("kind", "file"):
        if required not in given:
            c.problem(node, name, f"{required} is required")
    if values.get("kind") is None or values.get("file") is None:
        return None
    return Source(**values)


def _partial_tables(c: _Checker, node: yaml.Node, name: str) -> dict[str, Partial] | None:
    out: dict[str, Partial] = {}
    for table, entry in c.pairs(node, name):
        where = f"{name}.{table}"
        if table not in contract.TABLES:
            c.problem(entry, where, f"unknown table (got {table!r})")
            continue
        fields = dict(c.pairs(entry, where))
        texts = {k: c.text(fields[k], f"{where}.{k}") if k in fields else None for k in _PARTIAL}
        for key in sorted(set(fields) - set(_PARTIAL)):
            c.problem(fields[key], f"{where}.{key}", "unknown field; ignored", severity="warning")
        missing = [k for k in _PARTIAL if texts[k] is None]
        for key in missing:
            if key not in fields:
                c.problem(entry, where, f"{key} is required")
        if not missing:
            out[table] = Partial(str(texts["holds_only"]), str(texts["reason"]))
    return out


_PARTIAL = ("holds_only", "reason")

_NULL = "tag:yaml.org,2002:null"

_FIELDS: Mapping[str, Any] = {
    "authority": _authority,
    "extract_date": _extract_date,
    "source_system": _authority,
    "contract_version": _contract_version,
    "generator": _generator,
    "rows": _rows,
    "column_map": _column_map,
    "open_end_dates": _open_end_dates,
    "sources": _sources,
    "partial_tables": _partial_tables,
}
"""Each known key and the check that turns its node into a value (None: an error, reported)."""
