"""Streaming, safe reading of statutory-return XML.

A national-scale return is hundreds of megabytes of XML. It is read as a stream
(``iterparse``): each wanted element is handed over whole, then cleared and detached from its
parent, so memory holds one child's record at a time, never the whole tree.

Returns are never trusted: the parser is defusedxml's, which refuses any DTD outright. That
forbids entity declarations (no "billion laughs" expansion), external entities and external DTDs
(no reading local files, no network): a hostile file fails at its ``<!DOCTYPE``, before anything
is expanded or fetched. Genuine returns never carry a DTD.

Namespaces are dropped from tag names as they are read (``{urn:...}Child`` becomes ``Child``):
authorities' software writes the census both with and without the DfE's namespace.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
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

    The path names each ancestor (with ``[n]`` when it is not the first of its name) and the
    element with its position among its parent's elements of that name.

    The element is whole when yielded (its children and text read); it is cleared as soon as
    the caller asks for the next one, so take what you need before then. Raises
    :class:`ImportFailure` naming the file and line for XML that is not well-formed or that
    declares a DTD or entities.
    """
    names: list[str] = []  # the path of open elements, each as "Name[n]"
    counts: list[dict[str, int]] = [{}]  # per open element, how many of each child tag so far
    parents: list[Element] = []
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
                if event == "start":
                    element.tag = _local(element.tag)
                    seen = counts[-1].get(element.tag, 0) + 1
                    counts[-1][element.tag] = seen
                    names.append(f"{element.tag}[{seen}]")
                    counts.append({})
                    parents.append(element)
                    continue
                parents.pop()
                counts.pop()
                if element.tag == tag:
                    yield "/" + "/".join(_bare_first(names)), element
                    element.clear()
                    if parents:
                        # processed siblings go first in their parent, so removal is cheap
                        parents[-1].remove(element)
                names.pop()
    except DefusedXmlException as e:
        raise _refused(path, e) from None
    except ParseError as e:
        raise _not_xml(path, e) from None
    except OSError as e:
        raise ImportFailure(f"{path}: cannot be read ({e.strerror or e})") from None


def _bare_first(names: list[str]) -> list[str]:
    """Ancestors that are the first of their name go bare (``/Message/Children/Child[3]``)."""
    bare = [n[: -len("[1]")] if n.endswith("[1]") else n for n in names[:-1]]
    return [*bare, names[-1]]


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
