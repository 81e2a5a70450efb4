"""Turning definitions and results into words and tables for people."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich import box
from rich.cells import cell_len
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from kpi_engine.definitions import Definition, Polarity, Unit, WindowType

if TYPE_CHECKING:  # only named here: kpi list and show need not import pandas
    import pandas as pd


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


def short_rating(d: Definition) -> str:
    """The rating rule in a few characters: target, then tolerance (or green, then amber).

    '<=25% (<=30%)', '<=15% (5%-20%)', '>=92% (>=90%)', 'none': what fits a narrow terminal.
    """
    r = d.rating
    op = ">=" if d.polarity is Polarity.higher_is_better else "<="
    first, second = (r.green, r.amber) if r.green is not None else (r.target, r.tolerance)
    if first is None:
        return "none"
    text = f"{op}{_fmt(first, d)}"
    if r.lower_bound is not None:
        upper = second if second is not None else first
        return f"{text} ({_bare(r.lower_bound, d)}-{_bare(upper, d)})"
    if second is not None and second != first:
        text += f" ({op}{_bare(second, d)})"
    return text


def _bare(value: float, d: Definition) -> str:
    """A threshold without its unit label ('30', not '30 weeks'): the target beside it has it."""
    text = _fmt(value, d)
    return text.removesuffix(f" {d.unit_label}") if d.unit_label else text


@dataclass(frozen=True)
class _Line:
    """One scorecard row, each column already text."""

    cells: dict[str, str]
    rating: Text
    heading: bool = False
    """A group heading ('Children in care and care leavers'), in bold, no figures."""


_HEADINGS = {
    "id": "id",
    "name": "indicator",
    "period": "period",
    "counts": "num / den",
    "value": "value",
    "target": "target",
    "short": "target (tol.)",
    "rating": "rating",
}
_RIGHT = ("counts", "value", "short")
_NAME_COMFORT = 36
"""Names cut shorter than this read worse than a hidden column: drop columns first."""
_NAME_MIN = 12
_GAP = 2
"""Characters between columns (one of padding, one of the box's blank rule)."""


def scorecard_table(
    frame: pd.DataFrame, definitions: Sequence[Definition], title: str, width: int = 120
) -> Group:
    """A computed scorecard for a terminal ``width`` characters wide, grouped as the set is.

    Every row is one line and no heading wraps. The id, name, value, target and rating always
    show; the period (when there are several), the counts and the rating rule in words show
    when they fit, and names are cut (…) to fit. The caption says what was left out and how
    to see everything. Each group is its own table under a full-width heading, every table
    with the same column widths, so the columns line up as one.
    """
    mixed = len({d.contract for d in definitions}) > 1  # © says something only in a mixed set
    lines = _lines(frame, {d.id: d for d in definitions}, mixed)
    rows = [x for x in lines if not x.heading]
    headings = dict(_HEADINGS)
    if any(d.rating.green is not None for d in definitions):
        headings["short"] = "green (amber)"
    widths = _widths(headings, [x.cells for x in rows])
    widths["rating"] = max([widths["rating"], *(x.rating.cell_len for x in rows)])
    period = ["period"] if frame["period"].nunique() > 1 else []  # one period is in the title
    layouts = [
        ["id", "name", *period, "counts", "value", "target", "rating"],
        ["id", "name", *period, "counts", "value", "short", "rating"],
        ["id", "name", *period, "value", "short", "rating"],
    ]
    keys, name_width = _fit(widths, width, layouts)
    names_cut = name_width < widths["name"]
    widths["name"] = name_width
    parts: list[RenderableType] = [Text(title, style="table.title"), _table(keys, widths, headings)]
    for line in lines:
        if line.heading:
            parts += [Text(line.cells["name"], style="bold"), _table(keys, widths)]
        else:
            table = parts[-1]
            assert isinstance(table, Table)
            table.add_row(*(line.rating if k == "rating" else Text(line.cells[k]) for k in keys))
    caption = _caption(lines, keys, names_cut, width)
    return Group(*parts, *([Text(caption, style="table.caption")] if caption else []))


def _table(
    keys: list[str],
    widths: dict[str, int],
    headings: dict[str, str] | None = None,
    **options: Any,
) -> Table:
    """An empty table of the chosen columns; with ``headings``, the one that shows them."""
    table = Table(
        **options,
        box=box.SIMPLE_HEAD,
        show_header=headings is not None,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    for k in keys:
        table.add_column(
            headings[k] if headings else "",
            justify="right" if k in _RIGHT else "left",
            no_wrap=True,
            overflow="ellipsis",
            width=widths[k],
        )
    return table


def _fit(widths: dict[str, int], width: int, layouts: list[list[str]]) -> tuple[list[str], int]:
    """The columns to show and the names' width: the widest layout that leaves names room."""
    for keys in layouts:
        room = width - sum(widths[k] for k in keys if k != "name") - _GAP * (len(keys) - 1)
        if room >= min(widths["name"], _NAME_COMFORT):
            break
    return keys, max(_NAME_MIN, min(room, widths["name"]))


def _widths(headings: dict[str, str], rows: Sequence[dict[str, str]]) -> dict[str, int]:
    """Each column's natural width: its longest cell or heading."""
    return {
        k: max([cell_len(h), *(cell_len(r.get(k, "")) for r in rows)]) for k, h in headings.items()
    }


def hint(hidden: list[str], width: int, command: str = "") -> str:
    """The caption line saying what a table left out at ``width`` and how to see it."""
    return (
        f"Not shown at {width} columns: {', '.join(hidden)}; "
        f"{command}--format csv (or a wider terminal) shows everything."
    )


def _caption(lines: list[_Line], keys: list[str], names_cut: bool, width: int) -> str | None:
    """The NO DATA reasons, numbered, then what did not fit and how to see it."""
    notes = [line.cells["note"] for line in lines if line.cells.get("note")]
    caption = [f"[{i}] {n}" for i, n in enumerate(notes, 1)]
    hidden = ["num / den"] if "counts" not in keys else []
    hidden += ["the rating rule in words"] if "short" in keys else []
    hidden += ["full names"] if names_cut else []
    if hidden:
        caption.append(hint(hidden, width))
    return "\n".join(caption) or None


def _lines(frame: pd.DataFrame, by_id: dict[str, Definition], mixed: bool) -> list[_Line]:
    lines: list[_Line] = []
    group = None
    notes = 0
    for row in frame.to_dict(orient="records"):
        d = by_id.get(str(row["indicator_id"]))
        if d is None:
            continue
        if row["group"] != group:
            group = row["group"]
            lines.append(_Line({"name": d.group.label}, Text(""), heading=True))
        is_breakdown = bool(row["breakdown"])
        den = "" if not d.unit.has_denominator else f" / {_count_text(float(row['denominator']))}"
        status = str(row["status"])
        rating = Text(status, style=_STATUS_STYLE.get(status, ""))
        cells = {
            "id": "" if is_breakdown else d.id + (" ©" if mixed and d.contract else ""),
            "name": f"└ {row['breakdown']}" if is_breakdown else d.name,
            "period": str(row["period"]),
            "counts": f"{_count_text(float(row['numerator']))}{den}",
            "value": format_value(float(row["value"]), d.unit.value, d.rounding, d.unit_label),
            "target": "" if is_breakdown else describe_rating(d),
            "short": "" if is_breakdown else short_rating(d),
        }
        if row["note"] and (status == "NO DATA" or row.get("low_count")):
            # the reason (or a low count's caveat) goes under the table: the column stays narrow
            notes += 1
            cells["note"] = f"{row['indicator_id']}: {row['note']}"
            rating.append(f" [{notes}]", style="dim")
        lines.append(_Line(cells, rating))
    return lines


# --- definitions: kpi list and kpi show -------------------------------------------------------


def definition_row(d: Definition) -> dict[str, str]:
    """One definition as ``kpi list`` gives it (the JSON and CSV fields, all text)."""
    return {
        "id": d.id,
        "name": d.name,
        "group": d.group.value,
        "contract": "true" if d.contract else "false",
        "status": d.status.value,
        "frequency": d.frequency.value,
        "unit": d.unit.value,
        "unit_label": d.unit_label or "",
        "polarity": d.polarity.value,
        "rating": describe_rating(d),
        "replaces": d.replaces or "",
        "hash": d.content_hash(),
    }


_LIST_HEADINGS = {
    "id": "id",
    "name": "name",
    "group": "group",
    "frequency": "frequency",
    "unit": "unit",
    "polarity": "polarity",
    "rating": "rating",
    "short": "target (tol.)",
}


def definitions_table(definitions: Sequence[Definition], title: str, width: int = 120) -> Table:
    """``kpi list`` on a terminal: one line per definition, columns chosen by ``width``."""
    mixed = len({d.contract for d in definitions}) > 1
    rows = [
        {
            "id": d.id + (" ©" if mixed and d.contract else ""),
            "name": d.name + ("" if d.status.value == "active" else f" [{d.status.value}]"),
            "group": d.group.label,
            "frequency": d.frequency.value,
            "unit": d.unit_label or d.unit.value,
            "polarity": "higher" if d.polarity is Polarity.higher_is_better else "lower",
            "rating": describe_rating(d),
            "short": short_rating(d),
        }
        for d in definitions
    ]
    headings = dict(_LIST_HEADINGS)
    if any(d.rating.green is not None for d in definitions):
        headings["short"] = "green (amber)"
    widths = _widths(headings, rows)
    layouts = [
        ["id", "name", "group", "frequency", "unit", "polarity", "rating"],
        ["id", "name", "frequency", "unit", "polarity", "rating"],
        ["id", "name", "frequency", "unit", "short"],
        ["id", "name", "short"],
    ]
    keys, name_width = _fit(widths, width, layouts)
    hidden = [headings[k] for k in ("group", "frequency", "unit", "polarity") if k not in keys]
    hidden += ["the rating rule in words"] if "short" in keys else []
    hidden += ["full names"] if name_width < widths["name"] else []
    widths["name"] = name_width
    caption = hint(hidden, width, "kpi list ") if hidden else None
    table = _table(keys, widths, headings, title=title, title_justify="left")
    table.caption, table.caption_justify = caption, "left"
    for row in rows:
        table.add_row(*(row[k] for k in keys))
    return table


def definition_details(d: Definition) -> list[tuple[str, str]]:
    """``kpi show``: (label, text) pairs; counts and filters as the YAML file writes them."""
    rows = [
        ("group", d.group.label),
        ("contract measure", "yes" if d.contract else "no"),
        ("status", d.status.value + (f": {d.status_note}" if d.status_note else "")),
        ("unit", d.unit.value + (f" ({d.unit_label})" if d.unit_label else "")),
        ("rounding", f"{d.rounding} decimal place(s)"),
        ("polarity", d.polarity.value.replace("_", " ")),
        ("frequency", d.frequency.value),
        ("window", describe_window(d)),
        ("rating", describe_rating(d)),
    ]
    for part in ("denominator", "numerator"):
        spec = getattr(d, part)
        if spec is not None:
            fields = spec.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
            rows.append((part, "\n".join(_yaml_field(k, v) for k, v in fields.items())))
    if d.breakdown:
        rows.append(("breakdown", f"by {d.breakdown.column} ({d.breakdown.denominator})"))
    if d.replaces:
        rows.append(("replaces", d.replaces))
    if d.parameters:
        rows.append(("parameters", ", ".join(f"{k} = {v:g}" for k, v in d.parameters.items())))
    if d.min_count is not None:
        rows.append(("min_count", str(d.min_count)))
    rows += [("description", " ".join(d.description.split()))]
    rows += [("source", " ".join(d.source.split())), ("hash", d.content_hash())]
    return rows


def _yaml_field(key: str, value: object) -> str:
    """``key: value`` as in the definition file; expressions as written, not re-printed."""
    if isinstance(value, dict):
        inner = ", ".join(f"{k}: {v}" for k, v in value.items())
        return f"{key}: {{{inner}}}"
    if isinstance(value, str):
        return f"{key}: {' '.join(value.split())}"
    return f"{key}: {value}"


def definition_json(d: Definition, set_name: str) -> dict[str, Any]:
    """``kpi show --format json``: the definition as its file holds it, with set and hash."""
    fields = d.model_dump(mode="json", exclude_none=True)
    return {"set": set_name, **fields, "hash": d.content_hash()}
