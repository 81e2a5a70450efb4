"""The board report: one self-contained HTML page, and the SPC judgements behind it.

Public calls:

- :func:`report_run` loads an extract and builds the :class:`~kpi_engine.report.data.Report`
  (a scorecard, each measure's monthly series and SPC chart, benchmarks, data provenance);
  :func:`render_html` turns it into the page; :func:`write_report` does both and writes it
  atomically.
- :func:`compute_assessed` and :func:`add_assessment`: engine results with the ``variation``
  and ``assurance`` columns, used by ``kpi compute``, ``kpi scorecard`` and the report alike.
- :func:`~kpi_engine.report.spc.judge`: the XmR chart, special-cause rules and icons of a series.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from kpi_engine.report.assess import SPC_MONTHS, add_assessment, compute_assessed
from kpi_engine.report.spc import Assurance, Variation, judge

if TYPE_CHECKING:
    from kpi_engine.definitions import DefinitionSet
    from kpi_engine.report.data import Report

DEFAULT_MONTHS = 24
"""Months in each trend chart by default (the SPC window: two years)."""


def report_run(*args: Any, **kwargs: Any) -> Report:
    """See :func:`kpi_engine.report.data.report_run`."""
    # imported here: data needs the scorecard, which itself imports this package's assess
    from kpi_engine.report.data import report_run as run

    return run(*args, **kwargs)


def render_html(report: Report) -> str:
    """See :func:`kpi_engine.report.html.render_html`."""
    from kpi_engine.report.html import render_html as render

    page: str = render(report)
    return page


def write_report(
    extracts: Path,
    definition_set: DefinitionSet,
    output: Path,
    *,
    period: str | None = None,
    months: int = DEFAULT_MONTHS,
    publish: bool = False,
) -> Report:
    """Build the report and write its page to ``output`` atomically; return the report."""
    from kpi_engine.output import write_text_atomic

    report = report_run(extracts, definition_set, period=period, months=months, publish=publish)
    write_text_atomic(output, render_html(report))
    return report


__all__ = [
    "DEFAULT_MONTHS",
    "SPC_MONTHS",
    "Assurance",
    "Variation",
    "add_assessment",
    "compute_assessed",
    "judge",
    "render_html",
    "report_run",
    "write_report",
]
