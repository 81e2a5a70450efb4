"""A naive reference implementation of the engine, for property tests only.

Everything the vectorised engine does with month ranges and difference arrays, this does the
obvious way: for each period, for each row, evaluate the window and the filter in plain Python
(``period_end`` substituted as a date) and count. It shares no code with the engine beyond the
parser, so agreement between the two is evidence that the one-pass trick is right.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as dt
import functools
import math
from typing import Any

import pandas as pd

from kpi_engine.definitions import Count, Definition, Unit, WindowType
from kpi_engine.expressions import (
    Binary,
    Call,
    InList,
    IsNull,
    Literal_,
    Logical,
    Name,
    Node,
    Unary,
)
from kpi_engine.expressions import parse as _parse

parse = functools.lru_cache(maxsize=None)(_parse)


def _month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, _calendar.monthrange(year, month)[1])


def _shift_month(year: int, month: int, by: int) -> tuple[int, int]:
    index = year * 12 + month - 1 + by
    return index // 12, index % 12 + 1


def _add_months(d: dt.date, n: int) -> dt.date:
    y, m = _shift_month(d.year, d.month, n)
    return dt.date(y, m, min(d.day, _calendar.monthrange(y, m)[1]))


def _to_date(v: Any) -> dt.date | dt.datetime | None:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT:
        return None
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime() if (v.hour or v.minute or v.second) else v.date()
    return v  # type: ignore[no-any-return]


def _is_null(v: Any) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v))


def _eval(node: Node, row: dict[str, Any], period_end: dt.date) -> Any:
    if isinstance(node, Literal_):
        return node.value
    if isinstance(node, Name):
        if node.name == "period_end":
            return period_end
        v = row[node.name]
        if isinstance(v, pd.Timestamp):
            return _to_date(v)
        return None if _is_null(v) else v
    if isinstance(node, Unary):
        v = _eval(node.operand, row, period_end)
        if node.op == "not":
            return not bool(v)
        return None if v is None else -v
    if isinstance(node, Logical):
        vals = [bool(_eval(o, row, period_end)) for o in node.operands]
        return all(vals) if node.op == "and" else any(vals)
    if isinstance(node, InList):
        v = _eval(node.operand, row, period_end)
        hit = v is not None and v in node.values
        return (not hit) if node.negated else hit
    if isinstance(node, IsNull):
        v = _eval(node.operand, row, period_end)
        return (v is not None) if node.negated else (v is None)
    if isinstance(node, Binary):
        a, b = _eval(node.left, row, period_end), _eval(node.right, row, period_end)
        if a is None or b is None:
            return False if node.op in ("==", "!=", "<", "<=", ">", ">=") else None
        if isinstance(a, dt.datetime) != isinstance(b, dt.datetime) and isinstance(a, dt.date):
            a = a.date() if isinstance(a, dt.datetime) else a
            b = b.date() if isinstance(b, dt.datetime) else b
        ops = {
            "==": lambda: a == b,
            "!=": lambda: a != b,
            "<": lambda: a < b,
            "<=": lambda: a <= b,
            ">": lambda: a > b,
            ">=": lambda: a >= b,
            "+": lambda: a + b,
            "-": lambda: a - b,
            "*": lambda: a * b,
            "/": lambda: None if b == 0 else a / b,
        }
        return ops[node.op]()
    if isinstance(node, Call):
        args = [_eval(a, row, period_end) for a in node.args]
        f = node.function
        if f == "date":
            return dt.date.fromisoformat(args[0])
        if any(a is None for a in args[:2]) and f != "coalesce":
            return None
        if f == "add_days":
            return args[0] + dt.timedelta(days=int(args[1]))
        if f == "add_months":
            return _add_months(args[0], int(args[1]))
        if f == "add_years":
            return _add_months(args[0], 12 * int(args[1]))
        if f == "days_between":
            return (args[1] - args[0]).days
        if f == "age_at":
            dob, at = args
            return at.year - dob.year - ((at.month, at.day) < (dob.month, dob.day))
        if f == "coalesce":
            return args[0] if args[0] is not None else args[1]
        if f == "if_else":
            return args[1] if args[0] else args[2]
        raise NotImplementedError(f)
    raise AssertionError(node)


def _in_window(
    row: dict[str, Any], spec: Count, wtype: WindowType, months: int | None, lag: int,
    freq_months: int, end_index: int, years: list[int],
) -> bool:  # fmt: skip
    y, m = divmod(end_index - lag, 12)
    m += 1
    p_end = _month_end(y, m)
    if wtype is WindowType.open_at_end:
        start, end = _to_date(row[spec.start]), _to_date(row[spec.end])  # type: ignore[index]
        return start is not None and start <= p_end and (end is None or end > p_end)
    if wtype is WindowType.latest_year:
        year = row[spec.year]  # type: ignore[index]
        eligible = [v for v in years if v <= p_end.year]
        return bool(eligible) and year == max(eligible)
    date = _eval(parse(spec.date), row, p_end)  # type: ignore[arg-type]
    if date is None:
        return False
    if isinstance(date, dt.datetime):
        date = date.date()
    span = {WindowType.in_period: freq_months, WindowType.rolling: months or 0}.get(wtype)
    if span is None:  # financial year to date
        fy_start_year = y if m >= 4 else y - 1
        first = dt.date(fy_start_year, 4, 1)
    else:
        fy, fm = _shift_month(y, m, -(span - 1))
        first = dt.date(fy, fm, 1)
    return first <= date <= p_end


def _rows(d: Definition, spec: Count, frame: pd.DataFrame, end_index: int) -> list[dict[str, Any]]:
    window = spec.window or d.window
    assert window is not None
    y, m = divmod(end_index, 12)
    period_end = _month_end(y, m + 1)
    years = sorted({int(v) for v in frame[spec.year]}) if spec.year else []
    out = []
    for row in frame.to_dict(orient="records"):
        if not _in_window(
            row, spec, window.type, window.months, window.lag_months,
            d.frequency.months, end_index, years,
        ):  # fmt: skip
            continue
        if spec.filter is None or bool(_eval(parse(spec.filter), row, period_end)):
            out.append(row)
    return out


def _tally(rows: list[dict[str, Any]], spec: Count, counting: Count, period_end: dt.date) -> float:
    if spec.sum is not None:
        total = 0.0
        for r in rows:
            v = _eval(parse(spec.sum), r, period_end)
            total += 0.0 if v is None else float(v)
        return total
    if counting.count == "distinct":
        return float(len({r[counting.key or "child_id"] for r in rows}))
    return float(len(rows))


def reference_value(
    d: Definition, tables: dict[str, pd.DataFrame], end_index: int
) -> tuple[float, float | None]:
    """(numerator, denominator) of ``d`` for the period ending in month ``end_index``."""
    d = d.bound()  # parameters written into the expressions
    y, m = divmod(end_index, 12)
    period_end = _month_end(y, m + 1)
    assert d.numerator is not None
    den = d.denominator
    den_rows = _rows(d, den, tables[den.table], end_index) if den and den.table else None
    num = d.numerator
    if num.is_subset:
        assert den_rows is not None and den is not None
        num_rows = [
            r
            for r in den_rows
            if num.filter is None or bool(_eval(parse(num.filter), r, period_end))
        ]
        counting = num if num.count is not None else den
    else:
        assert num.table is not None
        num_rows = _rows(d, num, tables[num.table], end_index)
        counting = num
    numerator = _tally(num_rows, num, counting, period_end)
    denominator = (
        _tally(den_rows, den, den, period_end) if den is not None and den_rows is not None else None
    )
    if d.unit in (Unit.count, Unit.currency):
        denominator = None
    return numerator, denominator


# --- coverage, not-computable sums and small numbers, the obvious way --------------------------


def _month_of(d: dt.date) -> int:
    return d.year * 12 + d.month - 1


def _record_months(spec: Count, wtype: WindowType, frame: pd.DataFrame) -> list[int]:
    """The month of every dated record of the table, by the dates ``spec`` counts it by."""
    months: list[int] = []
    for row in frame.to_dict(orient="records"):
        if wtype is WindowType.open_at_end:
            dates = [_to_date(row[spec.start]), _to_date(row[spec.end])]  # type: ignore[index]
            if dates[0] is None:
                continue
        else:
            dates = [_eval(parse(spec.date), row, dt.date(1900, 1, 1))]  # type: ignore[arg-type]
        months += [_month_of(x) for x in dates if x is not None]
    return months


def reference_gap(
    d: Definition,
    tables: dict[str, pd.DataFrame],
    end_index: int,
    extract_date: dt.date | None,
    partial: bool,
) -> bool:
    """Whether the period ending in ``end_index`` is outside what the extract covers."""
    d = d.bound()
    y, m = divmod(end_index, 12)
    if extract_date is not None and _month_end(y, m + 1) > extract_date:
        return True
    specs = [s for s in (d.denominator, d.numerator) if s is not None and s.table is not None]
    for spec in specs:
        window = spec.window or d.window
        assert window is not None and spec.table is not None
        if window.type is WindowType.latest_year:
            continue
        months = _record_months(spec, window.type, tables[spec.table])
        if not months:
            return True
        last = end_index - window.lag_months
        if window.type is WindowType.open_at_end:
            first = last
        elif window.type is WindowType.in_period:
            first = last - d.frequency.months + 1
        elif window.type is WindowType.rolling:
            first = last - (window.months or 0) + 1
        else:  # the April on or before the window's last month
            first = next(f for f in range(last, last - 12, -1) if f % 12 == 3)
        if extract_date is None and first > max(months):
            return True
        if first < min(months) and not (partial or window.partial):
            return True
    return False


def reference_not_computable(d: Definition, tables: dict[str, pd.DataFrame], end_index: int) -> int:
    """Rows in the period whose ``sum`` gives no number (the figure is then NO DATA)."""
    d = d.bound()
    y, m = divmod(end_index, 12)
    period_end = _month_end(y, m + 1)
    bad = 0
    for spec in (d.denominator, d.numerator):
        if spec is None or spec.sum is None:
            continue
        assert spec.table is not None
        for row in _rows(d, spec, tables[spec.table], end_index):
            v = _eval(parse(spec.sum), row, period_end)
            bad += v is None or not math.isfinite(float(v))
    return bad
