"""The board report as one self-contained HTML page.

Everything is inline (styles, SVG charts): no script, no font, no image and no URL, so the file
opens the same on a council laptop with no network as in a browser online. Ratings carry a
shape and a label besides colour; every colour pair passes WCAG AA (ratios in :data:`COLOURS`);
tables have captions and header scopes; ``@page`` prints it on A4 landscape as a board pack.
"""

from __future__ import annotations

import math
import re
from html import escape

from kpi_engine import __version__
from kpi_engine.definitions import Definition, Frequency, Polarity
from kpi_engine.render import describe_rating, describe_window, format_value
from kpi_engine.report import charts, spc
from kpi_engine.report.assess import SPC_MONTHS
from kpi_engine.report.data import SECTIONS, STALE_YEARS, Measure, Report, number
from kpi_engine.scorecard import QUARTER_COLUMNS

COLOURS = {
    "text": ("#0b0c0c", 19.59),
    "muted": ("#505a5f", 7.07),
    "green": ("#00703c", 6.21),
    "amber": ("#b85c00", 4.60),
    "red": ("#b3261e", 6.54),
    "blue": ("#1d70b8", 5.17),
}
"""Name → (colour, its contrast ratio against white). Rating badges are white text on the
colour, so each ratio is the badge text's contrast too: all at least 4.5:1 (WCAG AA, normal
text); tests/test_report.py recomputes them from the WCAG formula."""

CSS = """
:root { color: #0b0c0c; background: #ffffff; }
body { font-family: Arial, Helvetica, sans-serif; font-size: 14px; margin: 16px 24px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 20px; border-bottom: 2px solid #0b0c0c; margin: 24px 0 8px; }
h3 { font-size: 15px; margin: 0 0 4px; }
p.meta, .muted { color: #505a5f; }
.notice { border-left: 6px solid #1d70b8; padding: 6px 10px; margin: 8px 0; }
table { border-collapse: collapse; width: 100%; }
caption { text-align: left; font-weight: bold; padding: 4px 0; }
th, td { border-bottom: 1px solid #b1b4b6; padding: 3px 6px; text-align: left;
  vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody th[scope=rowgroup] { background: #f3f2f1; font-size: 15px; }
.measures { display: grid; grid-template-columns: 1fr 1fr; gap: 12px 24px; }
.measure { break-inside: avoid; page-break-inside: avoid; border-top: 1px solid #b1b4b6;
  padding-top: 6px; }
.measure table th { width: 38%; font-weight: normal; color: #505a5f; }
.rating, .icon { white-space: nowrap; font-weight: bold; }
.rating { color: #ffffff; padding: 1px 6px; border-radius: 3px; }
.rating .shape, .icon .shape { width: 12px; height: 12px; vertical-align: -1px; }
.rating .shape * { fill: #ffffff; }
.rating .shape .hollow { fill: none; stroke: #ffffff; stroke-width: 1.5; }
.on-target { background: #00703c; }
.in-tolerance { background: #b85c00; }
.off-target { background: #b3261e; }
.no-target, .no-data { background: #505a5f; }
.icon .shape circle { fill: #505a5f; }
.icon .shape text { fill: #ffffff; font-size: 9px; font-weight: bold; }
.icon.improving .shape circle, .icon.met .shape circle { fill: #1d70b8; }
.icon.concerning .shape circle, .icon.missed .shape circle { fill: #b85c00; }
.icon.improving, .icon.met { color: #1d70b8; }
.icon.concerning, .icon.missed { color: #b85c00; }
.icon.common, .icon.hit-miss, .icon.none { color: #505a5f; }
.stale { color: #b3261e; font-weight: bold; }
svg.chart { width: 100%; height: auto; max-height: 150px; display: block; }
svg.chart .series { fill: none; stroke: #505a5f; stroke-width: 1.2; }
svg.chart .point { fill: #505a5f; }
svg.chart .special.improving { fill: #1d70b8; }
svg.chart .special.concerning { fill: #b85c00; }
svg.chart .mean { stroke: #0b0c0c; stroke-width: 1; }
svg.chart .limit { stroke: #505a5f; stroke-width: 1; stroke-dasharray: 4 3; }
svg.chart .target { stroke: #b3261e; stroke-width: 1.5; }
svg.chart .tolerance-band { fill: #f6d7b3; }
svg.chart .axis { stroke: #b1b4b6; fill: #505a5f; font-size: 9px; }
svg.chart text.axis { stroke: none; }
.chart-key { font-size: 12px; color: #505a5f; }
dl.definitions dt { font-weight: bold; margin-top: 8px; }
dl.definitions dd { margin: 2px 0 0 16px; }
@page { size: A4 landscape; margin: 12mm; }
@media print {
  body { margin: 0; font-size: 11px; }
  section.group, section.appendix { break-before: page; page-break-before: always; }
  h2 { break-after: avoid; }
  tr { break-inside: avoid; }
}
"""


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _value(value: object, d: Definition, period: str | None = None) -> str:
    if isinstance(value, str):
        return escape(value)  # [c]
    v = number(value)
    if math.isnan(v):
        return "–"
    text = format_value(v, d.unit.value, d.rounding, d.unit_label)
    return escape(text + (f" ({period})" if period else ""))


def _count(value: object) -> str:
    if isinstance(value, str):
        return escape(value)
    v = number(value)
    if math.isnan(v):
        return "–"
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}"


def _name(d: Definition) -> str:
    return escape(d.name) + (" ©" if d.contract else "")


def _benchmark(m: Measure) -> str:
    b = m.benchmark
    if b is None:
        return '<span class="muted">none published</span>'
    d = m.definition
    places = d.rounding if float(b.value).is_integer() else max(d.rounding, 1)
    text = escape(format_value(b.value, d.unit.value, places, d.unit_label))
    text += f' <span class="muted">({escape(b.source)})</span>'
    if b.quartile:
        text += f"; local figure in quartile {b.quartile} (A best)"
    if b.stale_years is not None:
        text += (
            f' <span class="stale">dated: {b.stale_years} years from this period, '
            "not a current comparison</span>"
        )
    return text


# --- the summary table ----------------------------------------------------------------------------


def _summary(report: Report) -> str:
    period = report.period
    head = (
        '<thead><tr><th scope="col">Measure (© contract)</th>'
        f'<th scope="col">{escape(period)}</th><th scope="col">Target</th>'
        '<th scope="col">Rating</th><th scope="col">6-month trend</th>'
        '<th scope="col">Variation</th><th scope="col">Assurance</th></tr></thead>'
    )
    bodies = []
    for section in SECTIONS:
        members = [m for m in report.measures if m.section == section]
        if not members:
            continue
        rows = [
            f'<tr><th scope="rowgroup" colspan="7">'
            f'<a href="#{_slug(section)}">{escape(section)}</a></th></tr>'
        ]
        for m in members:
            r, d = m.row, m.definition
            latest_period = None if r["latest_period"] == period else str(r["latest_period"])
            rows.append(
                f'<tr><th scope="row"><a href="#m-{_slug(d.id)}">{_name(d)}</a></th>'
                f'<td class="num">{_value(r["latest"], d, latest_period)}</td>'
                f'<td class="num">{_value(r["target"], d)}</td>'
                f"<td>{charts.rating_badge(str(r['status']))}</td>"
                f"<td>{escape(str(r['trend_6m']) or '–')}</td>"
                f"<td>{charts.icon('variation', str(r['variation']))}</td>"
                f"<td>{charts.icon('assurance', str(r['assurance']))}</td></tr>"
            )
        bodies.append("<tbody>" + "".join(rows) + "</tbody>")
    caption = (
        f"<caption>Summary: every measure at {escape(period)}, grouped as the corporate "
        "scorecard</caption>"
    )
    return f'<table class="summary">{caption}{head}{"".join(bodies)}</table>'


# --- one measure ----------------------------------------------------------------------------------


def _figures(m: Measure, report: Report) -> list[tuple[str, str]]:
    r, d = m.row, m.definition
    sc = report.scorecard
    rows = [
        (f"Latest ({escape(str(r['latest_period']))})", _value(r["latest"], d)),
        ("Target", escape(describe_rating(d))),
        ("Rating", charts.rating_badge(str(r["status"]))),
        ("6-month trend", escape(str(r["trend_6m"]) or "–")),
        ("Variation", charts.icon("variation", str(r["variation"]))),
        ("Assurance", charts.icon("assurance", str(r["assurance"]))),
    ]
    if m.latest is not None and d.unit.has_denominator:
        counts = f"{_count(m.latest['numerator'])} / {_count(m.latest['denominator'])}"
        rows.append(("Numerator / denominator", counts))
    elif m.latest is not None:
        rows.append(("Count or sum", _count(m.latest["numerator"])))
    quarters = ", ".join(
        f"{escape(q.label)}: {_value(r[c], d)}"
        for q, c in zip(sc.quarters, QUARTER_COLUMNS, strict=True)
    )
    rows.append(("Quarters", quarters))
    if r["baseline_period"]:
        rows.append((f"Baseline ({escape(str(r['baseline_period']))})", _value(r["baseline"], d)))
    rows.append(("National benchmark", _benchmark(m)))
    if r["note"]:
        rows.append(("Note", escape(str(r["note"]))))
    return rows


def _chart(m: Measure, report: Report) -> str:
    d = m.definition
    if not m.charted:
        return '<p class="muted">No chart: no figures for this measure.</p>'
    target = number(m.row["target"])
    tolerance = number(m.row["tolerance"])
    lines = charts.Lines(
        None if math.isnan(target) else target,
        None if math.isnan(tolerance) else tolerance,
        higher_is_better=d.polarity is Polarity.higher_is_better,
        join_gaps=d.frequency is not Frequency.monthly,
    )
    svg = charts.trend_chart(f"chart-{_slug(d.id)}", d.name, m.months, m.values, m.chart, lines)
    if m.chart is not None and m.chart.limits is not None:
        key = (
            f"Dots: monthly figures; squares: special cause (blue improving, orange concerning); "
            "solid black line: mean; dashed: "
            f"process limits over the last {SPC_MONTHS} months; red line: target; shaded: "
            "tolerance band."
        )
    else:
        key = _why_no_limits(m)
    return svg + f'<p class="chart-key">{escape(key)}</p>'


def _why_no_limits(m: Measure) -> str:
    if m.definition.frequency is not Frequency.monthly:
        return f"A {m.definition.frequency.value} measure: no SPC limits (monthly measures only)."
    if bool(m.suppressed.any()):
        return "No SPC limits shown: the series has suppressed months (publication mode)."
    return (
        f"No SPC limits: fewer than {spc.MIN_POINTS} monthly values in the last {SPC_MONTHS} "
        "months."
    )


def _measure(m: Measure, report: Report) -> str:
    d = m.definition
    body = "".join(f'<tr><th scope="row">{k}</th><td>{v}</td></tr>' for k, v in _figures(m, report))
    return (
        f'<article class="measure" id="m-{_slug(d.id)}"><h3>{escape(d.id)}: {_name(d)}</h3>'
        f'<table class="figures"><caption>{escape(d.id)} at {escape(report.period)}</caption>'
        f"{body}</table>{_chart(m, report)}</article>"
    )


def _sections(report: Report) -> str:
    out = []
    for section in SECTIONS:
        members = [m for m in report.measures if m.section == section]
        if not members:
            continue
        cards = "".join(_measure(m, report) for m in members)
        out.append(
            f'<section class="group" id="{_slug(section)}"><h2>{escape(section)}</h2>'
            f'<div class="measures">{cards}</div></section>'
        )
    return "".join(out)


# --- appendices -----------------------------------------------------------------------------------


def _definitions(report: Report) -> str:
    items = []
    for m in report.measures:
        d = m.definition
        what = f"{escape(d.description.strip())}"
        how = (
            f"Unit: {escape(d.unit.value.replace('_', ' '))}; {escape(d.frequency.value)}; "
            f"window: {escape(describe_window(d))}; {escape(describe_rating(d))}; "
            f"{escape(d.polarity.value.replace('_', ' '))}."
        )
        status = "" if d.status.value == "active" else f" Status: {escape(str(d.status_note))}"
        items.append(
            f"<dt>{escape(d.id)}: {_name(d)}</dt><dd>{what}</dd><dd>{how}{status}</dd>"
            f'<dd class="muted">Source: {escape(d.source.strip())}. '
            f"Definition hash {escape(d.content_hash())}.</dd>"
        )
    return (
        '<section class="appendix" id="definitions"><h2>Appendix A: definitions</h2>'
        f'<dl class="definitions">{"".join(items)}</dl></section>'
    )


def _table(caption: str, headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in headers)
    body = "".join(
        f'<tr><th scope="row">{escape(r[0])}</th>'
        + "".join(f'<td class="num">{escape(c)}</td>' for c in r[1:])
        + "</tr>"
        for r in rows
    )
    return (
        f"<table><caption>{escape(caption)}</caption><thead><tr>{head}</tr></thead>{body}</table>"
    )


def _data(report: Report) -> str:
    e, ds, sc = report.extract, report.definition_set, report.scorecard
    facts = [
        ("Extract", e.path),
        ("Authority", e.authority or "not stated"),
        ("Extract date", e.extract_date or "not stated in the manifest"),
        ("Period", f"{report.period} (charts: the last {report.months} months)"),
        ("Definition set", f"{ds.name}: {ds.info.title}"),
        ("Definition set hash", report.definition_set_hash),
        ("Benchmarks file", sc.benchmarks.sha256[:12] if sc.benchmarks is not None else "none"),
        ("Produced by", f"kpi-engine {__version__}, kpi report"),
    ]
    fact_rows = "".join(
        f'<tr><th scope="row">{escape(k)}</th><td>{escape(v)}</td></tr>' for k, v in facts
    )
    tables = _table(
        "Extract tables read and their row counts",
        ("table", "rows"),
        [(name, f"{n:,}") for name, n in e.tables.items()],
    )
    warnings: list[tuple[str, ...]] = [
        (f or "scorecard", field or "-", f"{n:,}") for f, field, n in e.warnings
    ]
    warning_html = (
        _table("Extract warnings (counted, not quoted)", ("file", "field", "warnings"), warnings)
        if warnings
        else "<p>Extract warnings: none.</p>"
    )
    scorecard_warnings = "".join(f"<li>{escape(w)}</li>" for w in e.scorecard_warnings)
    return (
        '<section class="appendix" id="data"><h2>Appendix B: data</h2>'
        f"<table><caption>Where these figures come from</caption>{fact_rows}</table>"
        f"{tables}{warning_html}"
        + (f"<p>Scorecard warnings:</p><ul>{scorecard_warnings}</ul>" if scorecard_warnings else "")
        + _method(report)
        + "</section>"
    )


def _method(report: Report) -> str:
    text = (
        "Statistical process control follows NHS England's Making Data Count: an XmR chart of "
        f"the last {SPC_MONTHS} months (mean, and process limits at the mean ± 2.66 times the "
        "mean moving range); a special cause is a point outside the limits, a run of "
        f"{spc.RUN_LENGTH} points on one side of the mean, a trend of {spc.TREND_LENGTH} points "
        "rising or falling, or two of three points beyond two sigma on one side. Variation "
        "judges the latest month by the measure's polarity; assurance places the target against "
        f"the limits. Measures with fewer than {spc.MIN_POINTS} monthly values get neither. "
        f"A benchmark {STALE_YEARS} or more years from the period's financial year is marked "
        "dated. The report holds aggregate figures only: no child is listed."
    )
    return f"<p>{escape(text)}</p>"


def render_html(report: Report) -> str:
    """The report page."""
    ds = report.definition_set
    title = f"{ds.info.title} — {report.period}"
    notice = (
        f'<p class="notice" id="publication-rule"><strong>{escape(report.suppression_rule)}'
        "</strong></p>"
        if report.suppression_rule
        else ""
    )
    authority = report.extract.authority or "the extract"
    nav = " · ".join(
        f'<a href="#{_slug(s)}">{escape(s)}</a>'
        for s in SECTIONS
        if any(m.section == s for m in report.measures)
    )
    return (
        '<!DOCTYPE html><html lang="en-GB"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{escape(title)}</h1>"
        f'<p class="meta">{escape(authority)}; extract of '
        f"{escape(report.extract.extract_date or 'unknown date')}; definition set "
        f"{escape(ds.name)} (hash {escape(report.definition_set_hash)}).</p>{notice}"
        f'<nav aria-label="Sections">{nav} · <a href="#definitions">Definitions</a> · '
        '<a href="#data">Data</a></nav></header>'
        f"<main>{_summary(report)}{_sections(report)}{_definitions(report)}{_data(report)}</main>"
        "</body></html>\n"
    )
