"""kpi-engine: compute children's social care contract indicators from case-level extracts.

The public API is small; everything the ``kpi`` command does is one call here.
"""

from __future__ import annotations

from pathlib import Path

from kpi_engine.definitions import Definition, DefinitionSet
from kpi_engine.locations import resolve_set
from kpi_engine.validation import DefinitionError, Problem, load_folder

__version__ = "0.1.0"


def load_definitions(set_name_or_path: str | Path | None = None) -> DefinitionSet:
    """Load a definition set by name (``contract-2015-16``) or folder; raise on any problem."""
    folder = resolve_set(set_name_or_path)
    if not folder.is_dir():
        raise DefinitionError([Problem(str(folder), None, None, "", "no such definition set")])
    definition_set, problems = load_folder(folder)
    errors = [p for p in problems if p.severity == "error"]
    if errors or definition_set is None:
        raise DefinitionError(errors)
    return definition_set


__all__ = [
    "Definition",
    "DefinitionError",
    "DefinitionSet",
    "Problem",
    "__version__",
    "load_definitions",
]
