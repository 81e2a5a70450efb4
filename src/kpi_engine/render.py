"""Turning definitions and results into words and tables for people."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from rich.table import Table
from rich.text import Text

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


# --- scorecards on a terminal ------------------------------------------------------------------

_STATUS_STYLE = {
    "ON TARGET": "bold green",
    "IN TOLERANCE": "bold yellow",
    "OFF TARGET": "bold red",
    "NO TARGET SET": "dim",
    "NO DATA": "dim italic",
}


def format_value(value: float | None, unit: str, rounding: int, label: str | None = None) -> str:
    """A figure as the scorecard prints it: '23%', '£-350,000', '28 weeks'."""
    if value is None or value != value:  # NaN
        return "-"
    text = f"{value:,.{rounding}f}"
    if unit == "percent":
        return f"{text}%"
    if unit == "currency":
        return f"£{text}"
    if label:
        return f"{text} {label}"
    return text


def _count_text(value: float) -> str:
    if value != value:
        return "-"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def scorecard_table(frame: pd.DataFrame, definitions: Sequence[Definition], title: str) -> Table:
    """A rich table of a computed scorecard, grouped by indicator group, ratings coloured."""
    by_id = {d.id: d for d in definitions}
    table = Table(title=title, title_justify="left", show_lines=False)
    # Narrow terminals fold the words, never the figures or the rating.
    table.add_column("id", no_wrap=True)
    table.add_column("indicator", overflow="fold", min_width=16, max_width=48)
    table.add_column("period", no_wrap=True)
    table.add_column("num / den", justify="right", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("target", justify="right", overflow="fold", max_width=24)
    table.add_column("rating", no_wrap=True, min_width=13)  # "NO TARGET SET" never truncated
    notes: list[str] = []
    current_group = None
    for row in frame.to_dict(orient="records"):
        d = by_id.get(str(row["indicator_id"]))
        if d is None:
            continue
        if row["group"] != current_group:
            current_group = row["group"]
            table.add_section()
            table.add_row("", f"[bold]{d.group.label}[/bold]", "", "", "", "", "")
        is_breakdown = bool(row["breakdown"])
        den = "" if not d.unit.has_denominator else f" / {_count_text(float(row['denominator']))}"
        counts = f"{_count_text(float(row['numerator']))}{den}"
        status = str(row["status"])
        rating = Text(status, style=_STATUS_STYLE.get(status, ""))
        if row["note"] and (status == "NO DATA" or row.get("low_count")):
            # the reason (or a low count's caveat) goes under the table: the column stays narrow
            notes.append(f"{row['indicator_id']}: {row['note']}")
            rating.append(f" [{len(notes)}]", style="dim")
        table.add_row(
            "" if is_breakdown else d.id + (" ©" if d.contract else ""),
            f"  └ {row['breakdown']}" if is_breakdown else d.name,
            str(row["period"]),
            counts,
            format_value(float(row["value"]), d.unit.value, d.rounding, d.unit_label),
            "" if is_breakdown else describe_rating(d),
            rating,
        )
    if notes:
        table.caption = "\n".join(f"[{i}] {n}" for i, n in enumerate(notes, 1))
        table.caption_justify = "left"
    return table
