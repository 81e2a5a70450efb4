"""Inline SVG: a measure's trend chart, and the small shapes that carry a rating or an icon.

Written as text, with no namespace URL and no external reference, so the page works offline as
an email attachment. Every chart is an ``<svg class="chart" role="img">`` with a ``<title>``
and a ``<desc>`` saying in words what it shows; coordinates are rounded to one decimal place,
so the drawing does not carry figures more precise than the page prints.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

import numpy as np

from kpi_engine.periods import month_label
from kpi_engine.report.spc import Chart

WIDTH, HEIGHT = 320.0, 120.0
LEFT, RIGHT, TOP, BOTTOM = 40.0, 8.0, 8.0, 18.0
"""The plot area's margins inside the viewBox (axis labels live in them)."""


@dataclass(frozen=True)
class Lines:
    """What a chart draws besides its points: the target line and tolerance band (None: not
    drawn), which side of the mean is better, and whether to join points across empty months
    (a quarterly measure has a value every third month)."""

    target: float | None = None
    tolerance: float | None = None
    higher_is_better: bool = True
    join_gaps: bool = False


def _fmt(v: float) -> str:
    return f"{v:.1f}"


def _label(v: float) -> str:
    """An axis label: few digits, thousands shortened (2.6M, 280k)."""
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.1f}M"
    if a >= 1e4:
        return f"{v / 1e3:.0f}k"
    return f"{v:.0f}" if a >= 100 or float(v).is_integer() else f"{v:.1f}"


def _range(values: Sequence[float]) -> tuple[float, float]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    low, high = min(finite), max(finite)
    if high == low:
        pad = abs(high) * 0.1 or 1.0
        return low - pad, high + pad
    pad = (high - low) * 0.08
    return low - pad, high + pad


def trend_chart(
    chart_id: str,
    name: str,
    months: Sequence[int],
    values: np.ndarray,
    spc: Chart | None,
    lines: Lines,
) -> str:
    """The chart of one measure: points, the SPC mean and process limits (the last
    ``len(spc.outside)`` months), the target line and the tolerance band between target and
    tolerance."""
    n = len(months)
    present = ~np.isnan(values)
    lim = spc.limits if spc is not None else None
    extra = [lines.target, lines.tolerance]
    if lim is not None:
        extra += [lim.lower, lim.upper]
    low, high = _range([*values[present].tolist(), *(e for e in extra if e is not None)])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: float) -> float:
        return LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return TOP + plot_h * (high - v) / (high - low)

    parts: list[str] = []
    first_spc = n - len(spc.outside) if spc is not None else n
    if lines.target is not None and lines.tolerance is not None:
        top, bottom = sorted((y(lines.target), y(lines.tolerance)))
        parts.append(
            f'<rect class="tolerance-band" x="{_fmt(LEFT)}" y="{_fmt(top)}" '
            f'width="{_fmt(plot_w)}" height="{_fmt(max(bottom - top, 0.5))}"/>'
        )
    if lines.target is not None:
        yt = _fmt(y(lines.target))
        x0, x1 = _fmt(LEFT), _fmt(LEFT + plot_w)
        parts.append(f'<line class="target" x1="{x0}" x2="{x1}" y1="{yt}" y2="{yt}"/>')
    if lim is not None:
        x0, x1 = _fmt(x(max(first_spc, 0))), _fmt(x(n - 1))  # a chart shorter than the window
        for cls, v in (("limit upper", lim.upper), ("mean", lim.mean), ("limit lower", lim.lower)):
            yv = _fmt(y(v))
            parts.append(f'<line class="{cls}" x1="{x0}" x2="{x1}" y1="{yv}" y2="{yv}"/>')
    parts.append(_path(values, x, y, lines.join_gaps))
    parts.append(_points(months, values, spc, first_spc, lines.higher_is_better, x, y))
    parts.append(_axes(months, low, high, x, y))
    desc = _describe(months, values, spc, lines)
    return (
        f'<svg class="chart" id="{chart_id}" role="img" viewBox="0 0 {WIDTH:g} {HEIGHT:g}" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d">'
        f'<title id="{chart_id}-t">{escape(name)}: last {n} months</title>'
        f'<desc id="{chart_id}-d">{escape(desc)}</desc>' + "".join(parts) + "</svg>"
    )


Scale = Callable[[float], float]


def _path(values: np.ndarray, fx: Scale, fy: Scale, join_gaps: bool) -> str:
    """The line through the points, broken at a missing month unless ``join_gaps``."""
    segments: list[str] = []
    pen_up = True
    for i, v in enumerate(values.tolist()):
        if math.isnan(v):
            pen_up = pen_up or not join_gaps
            continue
        segments.append(f"{'M' if pen_up else 'L'}{_fmt(fx(i))} {_fmt(fy(v))}")
        pen_up = False
    return f'<path class="series" d="{" ".join(segments)}"/>' if segments else ""


def _points(
    months: Sequence[int],
    values: np.ndarray,
    spc: Chart | None,
    first_spc: int,
    higher_is_better: bool,
    fx: Scale,
    fy: Scale,
) -> str:
    """A circle per month; a special-cause month a larger square (shape, not colour alone),
    improving or concerning by the side of the mean it is on, as the variation icon."""
    out: list[str] = []
    special = spc.special if spc is not None else np.zeros(0, dtype=bool)
    mean = spc.limits.mean if spc is not None and spc.limits is not None else None
    for i, v in enumerate(values.tolist()):
        if math.isnan(v):
            continue
        cx, cy = fx(i), fy(v)
        j = i - first_spc
        label = f"{month_label(months[i])}: {_label(v)}"
        if 0 <= j < len(special) and special[j]:
            better = mean is not None and v != mean and (v > mean) == higher_is_better
            side = "improving" if better else "concerning"
            out.append(
                f'<rect class="point special {side}" x="{_fmt(cx - 3)}" y="{_fmt(cy - 3)}" '
                f'width="6" height="6"><title>{escape(label)} (special cause)</title></rect>'
            )
        else:
            out.append(
                f'<circle class="point" cx="{_fmt(cx)}" cy="{_fmt(cy)}" r="2.2">'
                f"<title>{escape(label)}</title></circle>"
            )
    return "".join(out)


def _axes(months: Sequence[int], low: float, high: float, fx: Scale, fy: Scale) -> str:
    n = len(months)
    bottom = HEIGHT - BOTTOM
    ticks = [
        f'<text class="axis" x="{_fmt(LEFT - 3)}" y="{_fmt(fy(v) + 3)}" text-anchor="end">'
        f"{_label(v)}</text>"
        for v in (high, low)
    ]
    labels = [
        f'<text class="axis" x="{_fmt(fx(i))}" y="{_fmt(bottom + 12)}" text-anchor="{anchor}">'
        f"{month_label(months[i])}</text>"
        for i, anchor in ((0, "start"), (n - 1, "end"))
        if n
    ]
    left, right, top, base = _fmt(LEFT), _fmt(WIDTH - RIGHT), _fmt(TOP), _fmt(bottom)
    return (
        f'<line class="axis" x1="{left}" x2="{left}" y1="{top}" y2="{base}"/>'
        f'<line class="axis" x1="{left}" x2="{right}" y1="{base}" y2="{base}"/>'
        + "".join(ticks)
        + "".join(labels)
    )


def _describe(months: Sequence[int], values: np.ndarray, spc: Chart | None, lines: Lines) -> str:
    shown = int((~np.isnan(values)).sum())
    text = f"{shown} monthly values from {month_label(months[0])} to {month_label(months[-1])}."
    if spc is not None and spc.limits is not None:
        lim = spc.limits
        text += (
            f" Mean {_label(lim.mean)}, process limits {_label(lim.lower)} to {_label(lim.upper)}"
            f"; {int(spc.special.sum())} special-cause points."
        )
    if lines.target is not None:
        text += f" Target line at {_label(lines.target)}."
    return text


# --- small shapes: rating, variation, assurance ---------------------------------------------------

_RATING_SHAPES = {
    "ON TARGET": ("on-target", '<circle cx="6" cy="6" r="5"/>'),
    "IN TOLERANCE": ("in-tolerance", '<polygon points="6,1 11,11 1,11"/>'),
    "OFF TARGET": ("off-target", '<rect x="1.5" y="1.5" width="9" height="9"/>'),
    "NO TARGET SET": ("no-target", '<circle cx="6" cy="6" r="4.5" class="hollow"/>'),
    "NO DATA": ("no-data", '<rect x="1" y="5" width="10" height="2"/>'),
}
"""Each rating's class and shape: circle, triangle, square, hollow circle, dash."""


def rating_badge(status: str) -> str:
    """A rating as a shape and its label (never colour alone)."""
    cls, shape = _RATING_SHAPES.get(status, _RATING_SHAPES["NO DATA"])
    label = status or "NO DATA"
    return (
        f'<span class="rating {cls}"><svg class="shape" viewBox="0 0 12 12" aria-hidden="true">'
        f"{shape}</svg> {escape(label)}</span>"
    )


_VARIATION_MARKS = {
    "common cause": ("common", "~"),
    "special cause improving": ("improving", "+"),
    "special cause concerning": ("concerning", "!"),
}
_ASSURANCE_MARKS = {
    "consistently met": ("met", "P"),
    "consistently missed": ("missed", "F"),
    "hit and miss": ("hit-miss", "?"),
}


def icon(kind: str, value: str) -> str:
    """The variation or assurance icon: a lettered disc and the words (empty: a dash)."""
    marks = _VARIATION_MARKS if kind == "variation" else _ASSURANCE_MARKS
    if value not in marks:
        return '<span class="icon none">–</span>'
    cls, letter = marks[value]
    return (
        f'<span class="icon {kind} {cls}"><svg class="shape" viewBox="0 0 12 12" '
        f'aria-hidden="true"><circle cx="6" cy="6" r="5.5"/>'
        f'<text x="6" y="9" text-anchor="middle">{escape(letter)}</text></svg> '
        f"{escape(value)}</span>"
    )
