"""The board report: one self-contained HTML page, and the SPC judgements behind it.

Public calls:

- :func:`report_run` loads an extract and builds the :class:`~kpi_engine.report.data.Report`
  (a scorecard, each measure's monthly series and SPC chart, benchmarks, data provenance);
  :func:`render_html` turns it into the page; :func:`write_report` writes it atomically.
- :func:`compute_assessed` and :func:`add_assessment`: engine results with the ``variation``
  and ``assurance`` columns, used by ``kpi compute``, ``kpi scorecard`` and the report alike.
- :func:`~kpi_engine.report.spc.judge`: the XmR chart, special-cause rules and icons of a series.
"""

from __future__ import annotations

from kpi_engine.report.assess import SPC_MONTHS, add_assessment, compute_assessed
from kpi_engine.report.spc import Assurance, Variation, judge

__all__ = [
    "SPC_MONTHS",
    "Assurance",
    "Variation",
    "add_assessment",
    "compute_assessed",
    "judge",
]
