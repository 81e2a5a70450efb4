"""Excel workbooks for people who sort, filter and sum: typed cells, written with XlsxWriter.

A figure in a spreadsheet must be a number Excel can compute with, shown as the scorecard shows
it. So each cell is written with its type and a number format, never as text:

- a percentage is stored as the fraction (75% is 0.75) with a percentage format (``0%``, or
  ``0.0%`` for a figure reported to one decimal), so Excel shows 75% and ``=A2*B2`` works;
- counts are whole numbers (``#,##0``), pounds ``£#,##0``, other figures (rates, means) with
  the decimals they were reported to;
- ``period_start`` / ``period_end`` are dates, ``contract`` a boolean, empty cells blank;
- the RAG rating (``rag`` and ``status``) is coloured by a conditional format, so the colour
  follows the text if someone edits a rating, and the rating still reads without colour.

Each sheet has a frozen header row and id column, an autofilter and columns as wide as their
content. The file holds no timestamp (its creation date is fixed): the same figures give a
byte-identical workbook, as they give a byte-identical CSV.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from kpi_engine.output import DATE_COLUMNS, FormatError

MAX_ROWS = 1_048_576
"""Excel's rows per sheet, the header included."""

FIGURE_COLUMNS = frozenset(
    {
        "value",
        "target",
        "tolerance",
        "baseline",
        "q_minus_3",
        "q_minus_2",
        "q_minus_1",
        "q_latest",
        "latest",
        "benchmark",
    }
)
"""Columns holding a figure in the row's ``unit`` (docs/output.md, docs/cron.md); other numbers
(numerator, denominator) are counts or sums and shown as such."""

RAG_COLOURS = {
    # Excel's own "Good", "Neutral" and "Bad" cell styles: fill, then text
    "Green": ("#C6EFCE", "#006100"),
    "Amber": ("#FFEB9C", "#9C5700"),
    "Red": ("#FFC7CE", "#9C0006"),
}
RAG_TEXT = {
    "rag": {"Green": "Green", "Amber": "Amber", "Red": "Red"},
    "status": {"Green": "ON TARGET", "Amber": "IN TOLERANCE", "Red": "OFF TARGET"},
}
"""The rating columns and the text each colour is given for."""

MAX_WIDTH = 60
"""Widest a fitted column gets (measure names run to 90 characters)."""

FIXED_CREATED = dt.datetime(2000, 1, 1)
"""The workbook's creation date property: fixed, so reruns give identical bytes."""


@dataclass(frozen=True)
class Sheet:
    """One worksheet: its name (at most 31 characters) and its rows."""

    name: str
    frame: pd.DataFrame


def _decimals(value: float) -> int:
    """How many decimals ``value`` was reported to (at most 4)."""
    for places in range(4):
        if math.isclose(round(value, places), value, rel_tol=0, abs_tol=1e-9):
            return places
    return 4


def _number_format(unit: str | None, value: float) -> tuple[str, float]:
    """(Excel number format, the number to store) for ``value`` in ``unit``."""
    places = _decimals(value)
    fraction = "." + "0" * places if places else ""
    if unit == "percent":
        return f"0{fraction}%", value / 100
    if unit == "currency":
        return f"£#,##0{fraction}", value
    return f"#,##0{fraction}", value


class _Writer:
    """Cell formats made once per workbook (Excel allows some 64,000)."""

    def __init__(self, book: Any) -> None:
        self.book = book
        self._formats: dict[str, Any] = {}
        self.header = book.add_format({"bold": True, "bottom": 1, "bg_color": "#D9D9D9"})
        self.rag = {
            name: book.add_format({"bg_color": fill, "font_color": text})
            for name, (fill, text) in RAG_COLOURS.items()
        }

    def number_format(self, pattern: str) -> Any:
        if pattern not in self._formats:
            self._formats[pattern] = self.book.add_format({"num_format": pattern})
        return self._formats[pattern]

    def cell(self, sheet: Any, row: int, col: int, value: Any, unit: str | None) -> int:
        """Write one cell; return how many characters it shows (for the column width)."""
        if value is None or value is pd.NA or value is pd.NaT:
            return 0
        if isinstance(value, bool):
            sheet.write_boolean(row, col, value)
            return 5
        if isinstance(value, dt.date):
            sheet.write_datetime(row, col, value, self.number_format("yyyy-mm-dd"))
            return 10
        if isinstance(value, int | float):
            if math.isnan(value) or math.isinf(value):
                return 0
            pattern, stored = _number_format(unit, float(value))
            number = int(stored) if float(stored).is_integer() and "." not in pattern else stored
            sheet.write_number(row, col, number, self.number_format(pattern))
            return len(f"{float(value):,.{_decimals(float(value))}f}") + (unit == "percent")
        text = str(value)
        if text:
            sheet.write_string(row, col, text)
        return len(text)


def _cells(frame: pd.DataFrame, column: str) -> list[Any]:
    """A column as Python values: dates as ``date``, numpy scalars as Python ones."""
    series = frame[column]
    if column in DATE_COLUMNS or pd.api.types.is_datetime64_any_dtype(series):
        dates = pd.to_datetime(series, errors="coerce")
        return [None if pd.isna(v) else v.date() for v in dates]
    return [None if pd.isna(v) else (v.item() if hasattr(v, "item") else v) for v in series]


def _write_sheet(writer: _Writer, spec: Sheet) -> None:
    frame = spec.frame
    if len(frame) + 1 > MAX_ROWS:
        raise FormatError(
            f"{len(frame):,} rows do not fit an Excel sheet ({MAX_ROWS - 1:,} at most); "
            "write csv or parquet"
        )
    sheet = writer.book.add_worksheet(spec.name)
    units = list(frame["unit"]) if "unit" in frame.columns else [None] * len(frame)
    for col, column in enumerate(frame.columns):
        sheet.write_string(0, col, str(column), writer.header)
        width = len(str(column)) + 2  # room for the autofilter's button
        in_unit = column in FIGURE_COLUMNS
        for row, value in enumerate(_cells(frame, str(column)), start=1):
            unit = units[row - 1] if in_unit else None
            width = max(width, writer.cell(sheet, row, col, value, unit))
        sheet.set_column(col, col, min(width + 1, MAX_WIDTH))
        if column in RAG_TEXT and len(frame):
            for colour, text in RAG_TEXT[str(column)].items():
                sheet.conditional_format(
                    1,
                    col,
                    len(frame),
                    col,
                    {
                        "type": "cell",
                        "criteria": "==",
                        "value": f'"{text}"',
                        "format": writer.rag[colour],
                    },
                )
    sheet.freeze_panes(1, 1)
    sheet.autofilter(0, 0, len(frame), max(len(frame.columns) - 1, 0))


def workbook(sheets: Sequence[Sheet]) -> bytes:
    """The workbook with ``sheets`` in order, as the bytes of an .xlsx file."""
    import xlsxwriter

    buffer = io.BytesIO()
    # text stays text: a note starting with "=" is not a formula, a code is not a number
    book = xlsxwriter.Workbook(
        buffer,
        {
            "in_memory": True,
            "strings_to_numbers": False,
            "strings_to_formulas": False,
            "strings_to_urls": False,
        },
    )
    book.set_properties({"created": FIXED_CREATED})
    writer = _Writer(book)
    for spec in sheets:
        _write_sheet(writer, spec)
    book.close()
    return buffer.getvalue()
