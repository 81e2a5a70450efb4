"""Tables an extract holds only in part, as its manifest says: counts needing the rest are NO DATA.

(Apart from kpi_engine.coverage, which is about the periods an extract covers.)

An extract imported from the statutory returns holds the missing episodes of looked-after
children only (the SSDA903's); missing from home is in neither return. Counting episodes of
children not looked after on it would give 0, where the truth is "no data". The importer says
so in ``manifest.yaml``::

    partial_tables:
      missing_episodes:
        holds_only: looked_after
        reason: the statutory returns carry missing episodes of looked-after children only

A count on such a table is computed only when its filter keeps to those rows: one of the
filter's top-level ``and`` terms is the ``holds_only`` condition itself. Any other count on it
is NO DATA with the reason. An extract whose manifest says nothing is read whole, as before.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from kpi_engine.definitions import Count, Definition
from kpi_engine.expressions import ExpressionError, Logical, Node, parse
from kpi_engine.manifest import Partial

__all__ = ["Partial", "declared", "not_carried"]


def declared(extract: Any) -> dict[str, Partial]:
    """What ``extract``'s manifest declares held in part (none for a plain mapping of tables)."""
    manifest = getattr(extract, "manifest", None)
    return dict(getattr(manifest, "partial_tables", {}) or {})


def not_carried(partial: Mapping[str, Partial], d: Definition) -> str | None:
    """Why ``d`` cannot be computed on an extract holding ``partial`` tables (None: it can).

    A numerator that is a subset of the denominator reads the denominator's rows: only counts
    naming their own table are judged.
    """
    counts = [c for c in (d.denominator, d.numerator) if c is not None and c.table is not None]
    for count in counts:
        held = partial.get(str(count.table))
        if held is not None and not _keeps_to(count, held):
            return f"{count.table} holds only rows where {held.holds_only}: {held.reason}"
    return None


def _keeps_to(count: Count, held: Partial) -> bool:
    if count.filter is None:
        return False
    try:
        wanted = _shape(parse(held.holds_only))
    except ExpressionError:
        return False  # a declaration the engine cannot read keeps nothing computable
    return any(_shape(term) == wanted for term in _terms(parse(count.filter)))


def _terms(node: Node) -> list[Node]:
    if isinstance(node, Logical) and node.op == "and":
        return [t for o in node.operands for t in _terms(o)]
    return [node]


def _shape(node: Node) -> object:
    """The expression tree without source positions: the same condition written anywhere."""
    values: list[object] = [type(node).__name__]
    for f in dataclasses.fields(node):
        if f.name == "position":
            continue
        value = getattr(node, f.name)
        if isinstance(value, Node):
            value = _shape(value)
        elif isinstance(value, tuple):
            value = tuple(_shape(v) if isinstance(v, Node) else v for v in value)
        values.append(value)
    return tuple(values)
