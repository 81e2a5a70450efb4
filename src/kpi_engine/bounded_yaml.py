"""YAML read within limits: a hostile definition file is refused before it is built.

A YAML file is small on disk but its *expansion* need not be: aliases (``*a``) refer to nodes
anchored elsewhere, so nine anchors of nine aliases each ("billion laughs") expand to 9⁹ nodes,
and an alias inside its own anchor (``extra: &e [*e]``) expands forever. PyYAML's composer and
constructor are also recursive, so a document nested a few thousand levels deep ends in a
``RecursionError``. The idea: compose the node graph (aliases stay shared references, so this
is as cheap as the text), counting nodes, aliases and depth as they are read and stopping at
the first limit passed; then walk the graph once, without recursion, to measure what it would
expand to (cycles included) before anything is constructed. Only a document within every
limit is built into Python data. Each refusal names the limit and where it was passed.

Reading is libyaml's where PyYAML has it: its C parser gives the same events as PyYAML's own,
six times faster (23 definitions: 0.15 s of every run's start, 0.02 s with it), and the same
counting composer builds the graph from them. Anything it cannot read is read again by
PyYAML's Python parser, whose messages (with the line quoted) are the ones a user sees.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.composer import Composer

try:
    from yaml._yaml import CParser
except ImportError:  # PyYAML built without libyaml: its own parser does it all
    CParser = None  # type: ignore[assignment, misc]


@dataclass(frozen=True)
class Limits:
    """What a definition file may hold. Real definitions are a few KB, depth 4, no aliases."""

    max_bytes: int = 256 * 1024
    """File size, before anything is parsed."""
    max_depth: int = 32
    """Nesting of mappings and sequences, counted through aliases."""
    max_nodes: int = 20_000
    """Nodes once every alias is expanded."""
    max_aliases: int = 100
    """Alias references (``*name``) in the file."""


DEFINITION_LIMITS = Limits()


class LimitError(yaml.MarkedYAMLError):
    """A document over one of the :class:`Limits`, with the mark where the limit was passed."""


class _Counting(Composer):
    """PyYAML's composer, counting as it composes (the parser below it is not recursive)."""

    limits: Limits = DEFINITION_LIMITS
    _depth = 0
    _nodes = 0
    _aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event: Any = self.peek_event()  # type: ignore[attr-defined]
        mark: Any = event.start_mark
        if isinstance(event, yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > self.limits.max_aliases:
                raise LimitError(
                    problem=f"more than {self.limits.max_aliases} aliases (limit max_aliases)",
                    problem_mark=mark,
                )
            return super().compose_node(parent, index)
        self._nodes += 1
        if self._nodes > self.limits.max_nodes:
            raise LimitError(
                problem=f"more than {self.limits.max_nodes} nodes (limit max_nodes)",
                problem_mark=mark,
            )
        self._depth += 1
        try:
            if self._depth > self.limits.max_depth:
                raise LimitError(
                    problem=f"nested deeper than {self.limits.max_depth} levels (limit max_depth)",
                    problem_mark=mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _CountingLoader(_Counting, yaml.SafeLoader):
    """PyYAML's safe loader (its Python reader, scanner and parser), counting."""


def _c_loader() -> type | None:
    if CParser is None:
        return None

    class _FastCountingLoader(_Counting, CParser, yaml.resolver.Resolver):
        """libyaml's parser under the counting composer: the events are the same, so is the
        graph, but for a plain scalar's style ("" where PyYAML's is None)."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            Composer.__init__(self)
            yaml.resolver.Resolver.__init__(self)

    return _FastCountingLoader


_FAST_LOADER = _c_loader()
_KNOWN_TO_DIFFER = re.compile("[\t\ufeff]|" + yaml.reader.Reader.NON_PRINTABLE.pattern)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def check_expansion(root: yaml.Node, limits: Limits) -> None:
    """Refuse a graph that is cyclic or would expand past ``limits`` (raises LimitError).

    Post-order over the graph with an explicit stack: each distinct node's expanded size and
    depth are computed once, so a billion laughs costs its composed size, not its expansion.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            on_path.discard(key)
            if size[key] > limits.max_nodes:
                raise LimitError(
                    problem=f"expands to more than {limits.max_nodes} nodes through aliases "
                    "(limit max_nodes)",
                    problem_mark=node.start_mark,
                )
            if depth[key] > limits.max_depth:
                raise LimitError(
                    problem=f"expands to more than {limits.max_depth} levels through aliases "
                    "(limit max_depth)",
                    problem_mark=node.start_mark,
                )
            continue
        if key in size:
            continue
        on_path.add(key)
        stack.append((node, True))
        for kid in _children(node):
            if id(kid) in on_path:
                raise LimitError(
                    problem="recursive alias: a node contains itself", problem_mark=kid.start_mark
                )
            if id(kid) not in size:
                stack.append((kid, False))


def compose(text: str, limits: Limits = DEFINITION_LIMITS) -> yaml.Node | None:
    """The node graph of ``text`` (one document), within ``limits``; YAML errors propagate."""
    size = len(text.encode("utf-8"))
    if size > limits.max_bytes:
        raise LimitError(
            problem=f"the file is {size:,} bytes; definitions are limited to "
            f"{limits.max_bytes:,} (limit max_bytes)"
        )
    node = _fast_compose(text, limits)
    return node if node is not None else _python_compose(text, limits)


def _checked(loader_class: type, text: str, limits: Limits) -> yaml.Node | None:
    loader = type("_Loader", (loader_class,), {"limits": limits})(text)
    try:
        node: yaml.Node | None = loader.get_single_node()
    finally:
        loader.dispose()
    if node is not None:
        check_expansion(node, limits)
    return node


def _python_compose(text: str, limits: Limits) -> yaml.Node | None:
    """The graph by PyYAML's own reader, scanner and parser: its errors are the ones raised."""
    return _checked(_CountingLoader, text, limits)


def _fast_compose(text: str, limits: Limits) -> yaml.Node | None:
    """The graph by libyaml, or None where PyYAML must read it: any problem (its messages are
    the ones reported), an empty document, or text where the two are known to differ: a
    character PyYAML refuses, a tab (PyYAML refuses some that libyaml takes into a value), a
    byte-order mark (columns after it differ), no final newline (libyaml then marks an empty
    value on the line after the last). tests/test_bounded_yaml.py looks for more."""
    if _FAST_LOADER is None or not text.endswith("\n") or _KNOWN_TO_DIFFER.search(text):
        return None
    try:
        return _checked(_FAST_LOADER, text, limits)
    except yaml.YAMLError:
        return None


def construct(node: yaml.Node) -> Any:
    """Python data from a graph :func:`compose` accepted (safe constructors only)."""
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()
