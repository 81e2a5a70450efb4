"""Statutory returns in: the SSDA903 and the children in need census, read into an extract.

Public calls: :func:`import_paths` (read returns and write one extract: what ``kpi import``
does), :func:`read_ssda903` (one year's 903, a CSV folder or the XML file),
``cin_census.read_cin_census`` (one year's census file) and :func:`import_returns` (stack the
years read and write one extract). See docs/importing.md.
"""

from __future__ import annotations

from kpi_engine.importers._common import (
    ImportFailure,
    ImportReport,
    Rejection,
    ReturnRead,
    import_returns,
)
from kpi_engine.importers._run import import_paths
from kpi_engine.importers.ssda903 import read_ssda903

__all__ = [
    "ImportFailure",
    "ImportReport",
    "Rejection",
    "ReturnRead",
    "import_paths",
    "import_returns",
    "read_ssda903",
]
