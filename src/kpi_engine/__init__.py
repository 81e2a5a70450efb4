"""kpi-engine: compute children's social care contract indicators from case-level extracts.

The public API is small; everything the ``kpi`` command does is one call here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kpi_engine.definitions import Definition, DefinitionSet
from kpi_engine.locations import resolve_set
from kpi_engine.validation import DefinitionError, Problem, load_folder

if TYPE_CHECKING:
    import pandas as pd

__version__ = "0.1.0"


def load_definitions(set_name_or_path: str | Path | None = None) -> DefinitionSet:
    """Load a definition set by name (``contract-2015-16``) or folder; raise on any problem."""
    folder = resolve_set(set_name_or_path)  # UnknownSetError (a DefinitionError) if none
    definition_set, problems = load_folder(folder)
    errors = [p for p in problems if p.severity == "error"]
    if errors or definition_set is None:
        raise DefinitionError(errors)
    return definition_set


def compute(
    extract: object,
    definitions: DefinitionSet | str | Path | None = None,
    periods: Sequence[str | int] = (),
    *,
    partial_windows: bool = False,
) -> pd.DataFrame:
    """Compute and rate ``definitions`` on ``extract`` for ``periods`` (``'2015-12'`` labels).

    ``extract`` is an extract folder, a loaded :class:`~kpi_engine.extract.Extract` or a mapping
    of table name to DataFrame; ``definitions`` a set name, folder or loaded set.
    ``partial_windows`` reports windows reaching back before a table's first record, as
    ``kpi compute --partial-windows`` does (by default they are NO DATA).
    """
    from kpi_engine.extract import load_extract
    from kpi_engine.periods import parse_month
    from kpi_engine.report import compute_assessed

    definition_set = (
        definitions if isinstance(definitions, DefinitionSet) else load_definitions(definitions)
    )
    if isinstance(extract, str | Path):
        extract = load_extract(Path(extract))
    months = [p if isinstance(p, int) else parse_month(p) for p in periods]
    return compute_assessed(extract, definition_set, months, partial_windows=partial_windows)


__all__ = [
    "Definition",
    "DefinitionError",
    "DefinitionSet",
    "Problem",
    "__version__",
    "compute",
    "load_definitions",
]
