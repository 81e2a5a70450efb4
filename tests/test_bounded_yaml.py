"""Definitions are read by libyaml's parser where PyYAML has it (kpi_engine.bounded_yaml): the
same graph as PyYAML's own parser gives, and, for anything it cannot read, PyYAML's own error."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kpi_engine import bounded_yaml
from kpi_engine.bounded_yaml import DEFINITION_LIMITS, Limits, compose

SHIPPED = Path(bounded_yaml.__file__).parent / "indicator_definitions"


def _shape(node: yaml.Node | None) -> object:
    """A node graph as plain data: tags, values, styles and where each node starts and ends."""
    if node is None:
        return None
    where = (node.start_mark.line, node.start_mark.column, node.end_mark.line, node.end_mark.column)
    if isinstance(node, yaml.ScalarNode):
        # a plain scalar's style is "" from libyaml, None from PyYAML: both mean plain
        return (node.tag, node.value, node.style or None, where)
    if isinstance(node, yaml.SequenceNode):
        return (node.tag, [_shape(n) for n in node.value], where)
    return (node.tag, [(_shape(k), _shape(v)) for k, v in node.value], where)


def _outcome(read, text: str, limits: Limits = DEFINITION_LIMITS) -> object:
    try:
        return _shape(read(text, limits))
    except yaml.YAMLError as e:
        return (type(e).__name__, str(e))


def test_the_fast_parser_is_there():
    # PyYAML's wheels carry libyaml; without it every file is read by the slower parser
    assert bounded_yaml._FAST_LOADER is not None


@pytest.mark.parametrize(
    "path", sorted(SHIPPED.glob("*/*.yaml")), ids=lambda p: p.parent.name + "/" + p.name
)
def test_every_shipped_definition_reads_the_same_either_way(path):
    text = path.read_text(encoding="utf-8")
    fast = bounded_yaml._fast_compose(text, DEFINITION_LIMITS)
    assert fast is not None  # read by libyaml, not handed back
    assert _shape(fast) == _shape(bounded_yaml._python_compose(text, DEFINITION_LIMITS))
    assert bounded_yaml.construct(fast) == yaml.safe_load(text)


@pytest.mark.parametrize(
    "text",
    [
        "a: b: c\n",  # a scanner error
        "a: [1, 2\n",  # a parser error
        "x: *y\n",  # an undefined alias
        "\t- a\n",  # a tab where indentation is
        "a: \x07\n",  # a character PyYAML refuses
        "a: &x [*x]\n",  # a recursive alias
        "l: &a [1, 1]\n" + "".join(f"l{i}: &a{i} [*a, *a]\n" for i in range(1, 3)),
    ],
)
def test_a_file_libyaml_cannot_read_gets_pythons_message(text):
    limits = Limits(max_nodes=8)
    assert _outcome(compose, text, limits) == _outcome(bounded_yaml._python_compose, text, limits)


_PIECES = st.sampled_from(
    [
        "a", "b: ", "- ", "  ", "\n", ": ", "'q'", '"d\\n"', "[", "]", "{", "}", ", ", "&x ",
        "*x", "!!str ", "!!int ", "# c", "|\n", ">-\n", "---\n", "...\n", "\t", "1", "2016-04-01",
        "null", "~", "?", "é", "%YAML 1.1\n", "\r\n", "\ufeff", "'", '"', "\\", "#", ":",
        "|2\n", "    ", "!custom ", "&anchor_name ", "*anchor_name", "\u2028", "- [a, b]\n",
    ]
)  # fmt: skip


@settings(max_examples=1000, deadline=None)
@given(st.lists(_PIECES, max_size=24).map("".join))
def test_any_text_reads_as_pyyaml_reads_it(text):
    """Whatever the file, compose gives what PyYAML's own parser gives: the same graph, or the
    same error with the same message."""
    limits = Limits(max_nodes=30, max_depth=6, max_aliases=3)
    assert _outcome(compose, text, limits) == _outcome(bounded_yaml._python_compose, text, limits)
