"""Loading definition files and sets, with every problem located (file, line, column, field).

Like pandera's lazy validation, nothing stops at the first problem: a whole folder is read,
every problem is collected as a :class:`Problem`, and the caller decides what to do with them.
YAML is read with the safe loader only, so a tag that would construct a Python object is an
error, never an object, and within limits (``kpi_engine.bounded_yaml``: size, nodes, aliases,
depth), so a hostile file is refused before it is built.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from kpi_engine import bounded_yaml, derived, expressions
from kpi_engine.definitions import (
    Count,
    Definition,
    DefinitionSet,
    Polarity,
    SetInfo,
    Status,
    WindowType,
)

SET_FILE = "set.yaml"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a definition (or extract), located as precisely as known."""

    file: str
    line: int | None
    column: int | None
    field: str
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "field": self.field,
            "message": self.message,
            "severity": self.severity,
        }


class DefinitionError(Exception):
    """Raised by the loading API when definitions have problems; carries them all."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The nearest valid word, for 'did you mean' hints."""
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


# --- YAML with positions -----------------------------------------------------------------------


class _Document:
    """A parsed YAML file that can say where any field path is."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.node = bounded_yaml.compose(text)
        self.data: Any = bounded_yaml.construct(self.node) if self.node is not None else None

    def locate(self, loc: Sequence[str | int]) -> tuple[int | None, int | None, yaml.Node | None]:
        """Line, column (1-based) and node of ``loc``; the nearest enclosing key if it is absent."""
        node = self.node
        line, col = (
            (1, 1) if node is None else (node.start_mark.line + 1, node.start_mark.column + 1)
        )
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    if key.value == part:
                        line, col = key.start_mark.line + 1, key.start_mark.column + 1
                        node = value
                        break
                else:
                    return line, col, None
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if part >= len(node.value):
                    return line, col, None
                node = node.value[part]
                line, col = node.start_mark.line + 1, node.start_mark.column + 1
            else:
                return line, col, None
        return line, col, node


def _duplicate_keys(node: yaml.Node | None, path: str) -> list[Problem]:
    problems: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if key.value in seen:
                problems.append(
                    Problem(
                        path,
                        key.start_mark.line + 1,
                        key.start_mark.column + 1,
                        str(key.value),
                        "duplicate key (the later value would silently win)",
                    )
                )
            seen.add(key.value)
            problems.extend(_duplicate_keys(value, path))
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            problems.extend(_duplicate_keys(item, path))
    return problems


def _at_mark(shown: str, mark: yaml.Mark | None, message: str) -> Problem:
    """A YAML problem at the parser's mark (1-based line and column), where it has one."""
    return Problem(
        shown, mark.line + 1 if mark else None, mark.column + 1 if mark else None, "yaml", message
    )


def _read_yaml(path: Path) -> tuple[_Document | None, list[Problem]]:
    shown = str(path)
    limit = bounded_yaml.DEFINITION_LIMITS.max_bytes
    try:
        size = path.stat().st_size
    except OSError as e:
        return None, [Problem(shown, None, None, "", f"cannot read: {e.strerror}")]
    if size > limit:  # refused unread: a 50 MB file costs nothing
        message = f"refused: the file is {size:,} bytes; definitions are limited to {limit:,}"
        return None, [Problem(shown, None, None, "yaml", message + " (limit max_bytes)")]
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        return None, [Problem(shown, None, None, "", f"not UTF-8 text ({e.reason})")]
    except OSError as e:
        return None, [Problem(shown, None, None, "", f"cannot read: {e.strerror}")]
    try:
        doc = _Document(path, text)
    except yaml.constructor.ConstructorError as e:
        tag = (e.problem or "").split("'")[1] if "'" in (e.problem or "") else "?"
        message = f"tag {tag!r} is not allowed: definitions are data and never construct objects"
        return None, [_at_mark(shown, e.problem_mark, message)]
    except bounded_yaml.LimitError as e:
        return None, [_at_mark(shown, e.problem_mark, f"refused: {e.problem}")]
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        what = " ".join(x for x in (e.context, e.problem) if x)
        return None, [
            Problem(
                shown,
                mark.line + 1 if mark else None,
                mark.column + 1 if mark else None,
                "yaml",
                f"malformed YAML: {what}",
            )
        ]
    except yaml.YAMLError as e:
        return None, [Problem(shown, None, None, "yaml", f"malformed YAML: {e}")]
    problems = _duplicate_keys(doc.node, shown)
    if doc.data is None:
        problems.append(Problem(shown, 1, 1, "", "the file is empty"))
        return None, problems
    if not isinstance(doc.data, dict):
        problems.append(Problem(shown, 1, 1, "", "expected a mapping of fields at the top level"))
        return None, problems
    return doc, problems


# --- schema errors, located ---------------------------------------------------------------------


def _fields_of(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The valid field names at ``loc`` (for 'did you mean' on unknown keys)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        annotation = field.annotation
        args = getattr(annotation, "__args__", (annotation,))
        current = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if current is None:
            return []
    return list(getattr(current, "model_fields", {}))


def _schema_problems(
    doc: _Document, error: ValidationError, model: type[BaseModel]
) -> list[Problem]:
    problems = []
    for e in error.errors():
        loc = [p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        # union members add their type name to the path: drop those
        loc = [p for p in loc if not (isinstance(p, str) and p[:1].isupper())]
        line, col, _ = doc.locate(loc)
        field = ".".join(str(p) for p in loc)
        message = e["msg"].removeprefix("Value error, ")
        got = e.get("input")
        if e["type"] == "extra_forbidden":
            hint = closest(str(loc[-1]), _fields_of(model, loc[:-1]))
            message = "unknown field" + (f"; did you mean '{hint}'?" if hint else "")
        elif e["type"] in ("enum", "literal_error"):
            expected = e.get("ctx", {}).get("expected", "")
            options = [o.strip(" '") for o in expected.replace(" or ", ",").split(",") if o.strip()]
            hint = closest(str(got), options)
            message = f"{message} (got {got!r}" + (f"; did you mean '{hint}'?)" if hint else ")")
        elif e["type"] == "missing":
            message = "required field is missing"
        elif not isinstance(got, dict | list):
            message = f"{message} (got {got!r})"
        problems.append(Problem(str(doc.path), line, col, field, message))
    return problems


# --- semantic checks ---------------------------------------------------------------------------


def _expression_problems(
    doc: _Document, loc: Sequence[str | int], text: str, errors: list[expressions.ExpressionError]
) -> list[Problem]:
    line, col, node = doc.locate(loc)
    problems = []
    for err in errors:
        line_at, col_at = line, col
        if isinstance(node, yaml.ScalarNode) and node.style in (None, "", "'", '"'):
            # a one-line scalar: point into the expression itself
            line_at = node.start_mark.line + 1
            quote = 1 if node.style in ("'", '"') else 0
            col_at = node.start_mark.column + 1 + quote + err.position - 1
        problems.append(
            Problem(
                str(doc.path),
                line_at,
                col_at,
                ".".join(map(str, loc)),
                f"{err.message} in {text!r}",
            )
        )
    return problems


def _check_count(
    doc: _Document,
    d: Definition,
    part: str,
    spec: Count,
    base: Count | None,
) -> list[Problem]:
    """Check one numerator / denominator: table, window fields, expressions."""
    path = str(doc.path)
    problems: list[Problem] = []
    table = spec.table if spec.table is not None else (base.table if base else None)
    if table is None:
        return problems
    columns = derived.columns_of(table)
    if columns is None:
        line, col, _ = doc.locate([part, "table"])
        hint = closest(table, derived.table_names())
        problems.append(
            Problem(
                path,
                line,
                col,
                f"{part}.table",
                f"unknown table (got {table!r}" + (f"; did you mean '{hint}'?)" if hint else ")"),
            )
        )
        return problems
    for name in d.parameters:
        if name in columns:
            line, col, _ = doc.locate(["parameters", name])
            problems.append(
                Problem(
                    path,
                    line,
                    col,
                    f"parameters.{name}",
                    f"{name!r} is a column of table {table}; name the parameter otherwise",
                )
            )
    # parameters are numbers in expressions (the engine writes their values in)
    typed: dict[str, expressions.ValueType] = {
        **{name: "number" for name in d.parameters},
        **columns,
    }

    def check_filter(field: str, text: str) -> None:
        try:
            tree = expressions.parse(text)
        except expressions.ExpressionError as e:
            problems.extend(_expression_problems(doc, [part, field], text, [e]))
            return
        errs = expressions.check(tree, text, typed, closest=closest)
        problems.extend(_expression_problems(doc, [part, field], text, errs))

    def check_value(field: str, text: str, want: tuple[expressions.ValueType, ...]) -> None:
        try:
            tree = expressions.parse(text)
        except expressions.ExpressionError as e:
            problems.extend(_expression_problems(doc, [part, field], text, [e]))
            return
        errs = expressions.check_value(tree, text, typed, want, closest=closest)
        problems.extend(_expression_problems(doc, [part, field], text, errs))

    def check_column(field: str, name: str, want: tuple[expressions.ValueType, ...]) -> None:
        line, col, _ = doc.locate([part, field])
        if name not in columns:
            hint = closest(name, list(columns))
            problems.append(
                Problem(
                    path,
                    line,
                    col,
                    f"{part}.{field}",
                    f"no column {name!r} in table {table}"
                    + (f"; did you mean '{hint}'?" if hint else ""),
                )
            )
        elif columns[name] not in want:
            problems.append(
                Problem(
                    path,
                    line,
                    col,
                    f"{part}.{field}",
                    f"column {name!r} is {columns[name]}, expected {' or '.join(want)}",
                )
            )

    if spec.filter is not None:
        check_filter("filter", spec.filter)
    if spec.sum is not None:
        check_value("sum", spec.sum, ("number",))
    if spec.key is not None:
        check_column("key", spec.key, ("string",))
    elif spec.count == "distinct" and "child_id" not in columns:
        line, col, _ = doc.locate([part, "count"])
        problems.append(
            Problem(
                path, line, col, f"{part}.key", f"table {table} has no child_id: name the 'key'"
            )
        )

    if spec.is_subset:
        for field in ("window", "date", "start", "end", "year"):
            if getattr(spec, field) is not None:
                line, col, _ = doc.locate([part, field])
                problems.append(
                    Problem(
                        path,
                        line,
                        col,
                        f"{part}.{field}",
                        "a numerator without 'table' is a subset of the denominator and takes "
                        "its window from it",
                    )
                )
        return problems

    window = spec.window or d.window
    if window is None:
        return problems
    wtype = window.type
    line, col, _ = doc.locate([part])
    need: dict[WindowType, tuple[str, ...]] = {
        WindowType.in_period: ("date",),
        WindowType.rolling: ("date",),
        WindowType.financial_year_to_date: ("date",),
        WindowType.open_at_end: ("start", "end"),
        WindowType.latest_year: ("year",),
    }
    for field in ("date", "start", "end", "year"):
        given = getattr(spec, field)
        if field in need[wtype] and given is None:
            problems.append(
                Problem(
                    path, line, col, f"{part}.{field}", f"a {wtype.value} window needs '{field}'"
                )
            )
        elif field not in need[wtype] and given is not None:
            fl, fc, _ = doc.locate([part, field])
            problems.append(
                Problem(
                    path,
                    fl,
                    fc,
                    f"{part}.{field}",
                    f"'{field}' does not apply to a {wtype.value} window",
                )
            )
    if spec.date is not None:
        check_value("date", spec.date, ("date", "datetime"))
    if spec.start is not None:
        check_column("start", spec.start, ("date", "datetime"))
    if spec.end is not None:
        check_column("end", spec.end, ("date", "datetime"))
    if spec.year is not None:
        check_column("year", spec.year, ("number",))
    return problems


def _check_rating(doc: _Document, d: Definition) -> list[Problem]:
    r = d.rating
    path = str(doc.path)

    def better(a: float, b: float) -> bool:
        return a >= b if d.polarity is Polarity.higher_is_better else a <= b

    word = "higher" if d.polarity is Polarity.higher_is_better else "lower"
    problems = []
    if r.target is not None and r.tolerance is not None and not better(r.target, r.tolerance):
        line, col, _ = doc.locate(["rating", "tolerance"])
        problems.append(
            Problem(
                path,
                line,
                col,
                "rating.tolerance",
                f"tolerance {r.tolerance:g} is better than target {r.target:g} although "
                f"{word} is better",
            )
        )
    if r.lower_bound is not None and r.target is not None and r.lower_bound >= r.target:
        line, col, _ = doc.locate(["rating", "lower_bound"])
        problems.append(
            Problem(
                path,
                line,
                col,
                "rating.lower_bound",
                f"lower bound {r.lower_bound:g} must be below the target {r.target:g}",
            )
        )
    if r.green is not None and r.amber is not None and not better(r.green, r.amber):
        line, col, _ = doc.locate(["rating", "amber"])
        problems.append(
            Problem(
                path,
                line,
                col,
                "rating.amber",
                f"amber threshold {r.amber:g} is better than green {r.green:g} although "
                f"{word} is better",
            )
        )
    return problems


def _unused_parameters(doc: _Document, d: Definition) -> list[Problem]:
    used: set[str] = set()
    for spec in (d.numerator, d.denominator):
        for text in (spec.filter, spec.sum, spec.date) if spec is not None else ():
            if text is not None:
                try:
                    tree = expressions.parse(text)
                except expressions.ExpressionError:
                    return []  # reported with the expression, the cause of anything unused
                used |= {n.name for n in tree.walk() if isinstance(n, expressions.Name)}
    problems = []
    for name in d.parameters:
        if name not in used:
            line, col, _ = doc.locate(["parameters", name])
            problems.append(
                Problem(
                    str(doc.path),
                    line,
                    col,
                    f"parameters.{name}",
                    "declared but no filter, sum or date uses it",
                )
            )
    return problems


def _check_definition(doc: _Document, d: Definition) -> list[Problem]:
    problems = _check_rating(doc, d)
    if d.replaces == d.id:
        line, col, _ = doc.locate(["replaces"])
        problems.append(
            Problem(
                str(doc.path),
                line,
                col,
                "replaces",
                f"{d.id} replaces itself (got {d.replaces!r}); a retained measure keeps its id "
                "and names nothing",
            )
        )
    if d.status is not Status.active:
        return problems
    if d.denominator is not None:
        problems += _check_count(doc, d, "denominator", d.denominator, None)
    if d.numerator is not None:
        problems += _check_count(doc, d, "numerator", d.numerator, d.denominator)
    if d.breakdown is not None:
        spec = d.denominator or d.numerator
        table = spec.table if spec else None
        cols = derived.columns_of(table) if table else None
        if cols is not None and d.breakdown.column not in cols:
            line, col, _ = doc.locate(["breakdown", "column"])
            hint = closest(d.breakdown.column, list(cols))
            problems.append(
                Problem(
                    str(doc.path),
                    line,
                    col,
                    "breakdown.column",
                    f"no column {d.breakdown.column!r} in table {table}"
                    + (f"; did you mean '{hint}'?" if hint else ""),
                )
            )
    return problems + _unused_parameters(doc, d)


# --- files and sets ----------------------------------------------------------------------------


def load_definition_file(path: Path) -> tuple[Definition | None, list[Problem]]:
    """Read and check one definition file; the definition is None if its schema is wrong."""
    doc, problems = _read_yaml(path)
    if doc is None:
        return None, problems
    try:
        d = Definition.model_validate(doc.data)
    except ValidationError as e:
        return None, problems + _schema_problems(doc, e, Definition)
    problems += _check_definition(doc, d)
    stem = path.stem
    if d.id != stem:
        line, col, _ = doc.locate(["id"])
        problems.append(
            Problem(
                str(path), line, col, "id", f"id {d.id!r} does not match the file name {stem!r}"
            )
        )
    return d, problems


def load_set_info(path: Path) -> tuple[SetInfo | None, list[Problem]]:
    doc, problems = _read_yaml(path)
    if doc is None:
        return None, problems
    try:
        return SetInfo.model_validate(doc.data), problems
    except ValidationError as e:
        return None, problems + _schema_problems(doc, e, SetInfo)


def definition_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.yaml") if p.name != SET_FILE) + sorted(
        folder.glob("*.yml")
    )


def load_folder(folder: Path) -> tuple[DefinitionSet | None, list[Problem]]:
    """Read a definition set folder: ``set.yaml`` and one file per indicator."""
    problems: list[Problem] = []
    info: SetInfo | None
    set_path = folder / SET_FILE
    if set_path.exists():
        info, problems = load_set_info(set_path)
    else:
        info = SetInfo(name=folder.name.lower(), title=folder.name)
    definitions: list[Definition] = []
    seen: dict[str, Path] = {}
    for path in definition_files(folder):
        d, file_problems = load_definition_file(path)
        problems += file_problems
        if d is None:
            continue
        if d.id in seen:
            problems.append(
                Problem(str(path), 1, 1, "id", f"duplicate id {d.id!r} (also in {seen[d.id]})")
            )
            continue
        seen[d.id] = path
        definitions.append(d)
    if info is None:
        return None, problems
    for ref in info.order:
        if ref not in seen:
            hint = closest(ref, list(seen))
            problems.append(
                Problem(
                    str(set_path),
                    None,
                    None,
                    "order",
                    f"no definition with id {ref!r} in {folder}"
                    + (f"; did you mean '{hint}'?" if hint else ""),
                )
            )
    problems += _lineage_cycles(definitions, seen)
    if info.min_count is not None:  # the set's small-number threshold, where a file names none
        definitions = [
            d if d.min_count is not None else d.model_copy(update={"min_count": info.min_count})
            for d in definitions
        ]
    rank = {ref: i for i, ref in enumerate(info.order)}
    definitions.sort(key=lambda d: (rank.get(d.id, len(rank)), d.id))
    return DefinitionSet(info=info, definitions=tuple(definitions), path=str(folder)), problems


def _top_level_line(path: Path, key: str) -> int | None:
    """The line of a top-level ``key:`` in an already-read (small) definition file."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith(f"{key}:"):
            return number
    return None


def _lineage_cycles(definitions: Sequence[Definition], files: dict[str, Path]) -> list[Problem]:
    """Measures of one set that replace each other in a ring (A replaces B replaces A).

    A measure replacing itself is reported by its own file's checks.
    """
    replaces = {d.id: d.replaces for d in definitions if d.replaces and d.replaces != d.id}
    problems: list[Problem] = []
    reported: set[str] = set()
    for start in sorted(replaces):
        ring = [start]
        current = replaces.get(start)
        while current is not None and current not in ring and current in replaces:
            ring.append(current)
            current = replaces[current]
        if current != start or start in reported:
            continue
        reported.update(ring)
        path = " -> ".join([*ring, start])
        problems.append(
            Problem(
                str(files[start]),
                _top_level_line(files[start], "replaces"),
                1,
                "replaces",
                f"measures replace each other in a cycle ({path}); lineage must lead back "
                "to the previous set",
            )
        )
    return problems


def validate_paths(paths: Sequence[Path]) -> tuple[list[DefinitionSet], list[Problem]]:
    """Check files and folders (a folder of sets, a set folder, or single files)."""
    sets: list[DefinitionSet] = []
    problems: list[Problem] = []
    for path in paths:
        if not path.exists():
            problems.append(Problem(str(path), None, None, "", "no such file or folder"))
        elif path.is_file():
            _, file_problems = (
                load_set_info(path) if path.name == SET_FILE else load_definition_file(path)
            )
            problems += file_problems
        else:
            subsets = [p for p in sorted(path.iterdir()) if (p / SET_FILE).exists()]
            for folder in subsets or [path]:
                s, set_problems = load_folder(folder)
                problems += set_problems
                if s is not None:
                    sets.append(s)
    return sets, problems
