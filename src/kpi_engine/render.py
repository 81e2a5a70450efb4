"""Turning definitions and results into words and tables for people."""

from __future__ import annotations

from kpi_engine.definitions import Definition, Polarity, Unit, WindowType


def _fmt(value: float, d: Definition) -> str:
    text = f"{value:,.{d.rounding}f}" if d.rounding else f"{value:,.0f}"
    if d.unit is Unit.percent:
        return f"{text}%"
    if d.unit is Unit.currency:
        return f"£{text}"
    if d.unit_label and d.unit in (Unit.mean, Unit.ratio):
        return f"{text} {d.unit_label}"
    return text


def describe_rating(d: Definition) -> str:
    """The rating rule in the seed's words: 'target <=25%, tolerance <=30%'."""
    r = d.rating
    op = ">=" if d.polarity is Polarity.higher_is_better else "<="
    if r.green is not None and r.amber is not None:
        return f"green {op}{_fmt(r.green, d)}, amber {op}{_fmt(r.amber, d)}"
    if r.target is not None:
        text = f"target {op}{_fmt(r.target, d)}"
        if r.lower_bound is not None:
            upper = r.tolerance if r.tolerance is not None else r.target
            return f"{text}, tolerance {_fmt(r.lower_bound, d)}-{_fmt(upper, d)}"
        if r.tolerance is not None and r.tolerance != r.target:
            text += f", tolerance {op}{_fmt(r.tolerance, d)}"
        return text
    return "no target" + (f" ({r.no_target})" if r.no_target else "")


def describe_window(d: Definition) -> str:
    w = d.window
    if w is None:
        return "-"
    words = {
        WindowType.in_period: f"in the {d.frequency.value.removesuffix('ly')}",
        WindowType.open_at_end: "open at period end",
        WindowType.rolling: f"rolling {w.months} months to period end",
        WindowType.financial_year_to_date: "financial year to date",
        WindowType.latest_year: "latest annual figure",
    }
    text = words[w.type].replace("in the month", "in the month").replace("annual", "year")
    if w.lag_months:
        text += f", lagged {w.lag_months} month(s)"
    return text
