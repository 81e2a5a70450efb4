"""Streaming, safe reading of statutory-return XML.

A national-scale return is hundreds of megabytes of XML. It is read as a stream
(``iterparse``): each wanted element is handed over whole, then cleared and detached from its
parent, so memory holds one child's record at a time, never the whole tree.

Returns are never trusted. The prolog (everything before the root element's start tag, the only
place XML allows a document type declaration) is read by defusedxml's parser, which refuses any
DTD outright: a hostile file fails at its ``<!DOCTYPE``, before anything is expanded or fetched.
Entities can only be declared in a DTD, so a document without one can hold no "billion laughs"
expansion and no external entity (no reading local files, no network): the body is then
streamed by the standard library's C parser, several times faster than defusedxml's pure-Python
one, and an undeclared ``&name;`` there is simply not well-formed. Genuine returns never carry a
DTD.

Namespaces are dropped from tag names as they are read (``{urn:...}Child`` becomes ``Child``):
authorities' software writes the census both with and without the DfE's namespace.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from kpi_engine.importers._common import ImportFailure

__all__ = ["Element", "child_text", "iter_elements", "root_name"]


def _local(tag: str) -> str:
    return tag.rpartition("}")[2] if tag.startswith("{") else tag


def _refused(path: Path, error: DefusedXmlException) -> ImportFailure:
    return ImportFailure(
        f"{path}: refused: the file declares a DTD or entities ({type(error).__name__}); "
        "statutory returns never need one, and it could expand without limit or read other files"
    )


def _not_xml(path: Path, error: ParseError) -> ImportFailure:
    line, column = getattr(error, "position", (None, None))
    reason = str(error).split(":")[0]
    return ImportFailure(f"{path}:{line}:{column}: not well-formed XML ({reason})")


def iter_elements(path: Path, tag: str) -> Iterator[tuple[str, Element]]:
    """Each element called ``tag``, with its path (``/Message/Children/Child[3]``), streaming.

    The element is whole when yielded (its children and text read); it is cleared as soon as
    the caller asks for the next one, so take what you need before then. Raises
    :class:`ImportFailure` naming the file and line for XML that is not well-formed or that
    declares a DTD or entities.

    Only end events are read (half the events of start and end: the loop is the cost). The
    path's ancestors are those of the first element wanted, found while the prolog is checked;
    an end of its parent's name moves the count on to the next parent (``Children[2]``).
    Both returns keep their records under one parent, so this is exact for them.
    """
    ancestors = _ancestors(path, tag)
    parent_tag = ancestors[-1] if ancestors else None
    parents_seen, seen = 1, 0
    try:
        with path.open("rb") as stream:
            for _, element in ElementTree.iterparse(stream, events=("end",)):
                name = element.tag
                if name[:1] == "{":
                    name = element.tag = _local(name)
                if name == tag:
                    seen += 1
                    yield _path(ancestors, parents_seen, f"{tag}[{seen}]"), element
                    element.clear()
                elif name == parent_tag:
                    parents_seen, seen = parents_seen + 1, 0
    except ParseError as e:
        raise _not_xml(path, e) from None
    except OSError as e:
        raise ImportFailure(f"{path}: cannot be read ({e.strerror or e})") from None


def _path(ancestors: list[str], parent_number: int, last: str) -> str:
    parts = list(ancestors)
    if parts and parent_number > 1:
        parts[-1] = f"{parts[-1]}[{parent_number}]"
    return "/" + "/".join([*parts, last])


def _ancestors(path: Path, tag: str) -> list[str]:
    """The names of the first ``tag`` element's ancestors, read by defusedxml (refusing DTDs).

    The prolog, the only place a DTD can be, comes first: a file that declares one fails here.
    """
    names: list[str] = []
    try:
        with path.open("rb") as stream:
            events = iterparse(
                stream,
                events=("start", "end"),
                forbid_dtd=True,
                forbid_entities=True,
                forbid_external=True,
            )
            for event, element in events:
                name = _local(element.tag)
                if event == "end":
                    names.pop()
                    element.clear()
                elif name == tag:
                    return names
                else:
                    names.append(name)
    except DefusedXmlException as e:
        raise _refused(path, e) from None
    except ParseError as e:
        raise _not_xml(path, e) from None
    except OSError as e:
        raise ImportFailure(f"{path}: cannot be read ({e.strerror or e})") from None
    return names


def root_name(path: Path) -> str:
    """The name of the file's root element (namespace dropped), read safely.

    For the one clear message when a file is not the return it claims to be. Raises
    :class:`ImportFailure` for a file that is not XML at all.
    """
    try:
        with path.open("rb") as stream:
            events = iterparse(
                stream,
                events=("start",),
                forbid_dtd=True,
                forbid_entities=True,
                forbid_external=True,
            )
            for _, element in events:
                return _local(element.tag)
    except DefusedXmlException as e:
        raise _refused(path, e) from None
    except ParseError as e:
        raise _not_xml(path, e) from None
    except OSError as e:
        raise ImportFailure(f"{path}: cannot be read ({e.strerror or e})") from None
    raise ImportFailure(f"{path}: the file is empty (expected XML)")


def child_text(element: Element, name: str) -> str:
    """The trimmed text of ``element``'s first child called ``name``; "" when absent or empty.

    An empty element (``<UASC />``) and a missing one both mean no value in the returns.
    """
    found = element.find(name)
    if found is None or found.text is None:
        return ""
    return found.text.strip()
