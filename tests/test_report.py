"""The board report (kpi_engine.report): the page's structure on the shipped sample extract.

Checks what the issue asks of the page: every measure present and grouped as the seed's
scorecard, charts with their points and limits, no external reference, table semantics, rating
by shape and label, WCAG AA colours, A4 landscape print CSS, the definitions and data
appendices, no child listed, and the same variation and assurance as the CSV outputs.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import kpi_engine
from kpi_engine.cli import cli
from kpi_engine.extract import load_extract
from kpi_engine.report import render_html, report_run
from kpi_engine.report.data import SECTIONS, benchmark_for, section_of
from kpi_engine.report.html import COLOURS
from kpi_engine.scorecard import load_benchmarks
from kpi_engine.suppression import MARK, RULE

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data"


class Page(HTMLParser):
    """The elements of a page as (tag, attributes, ancestors' tags), and its text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str], tuple[str, ...]]] = []
        self.stack: list[str] = []
        self.texts: list[tuple[str, tuple[str, ...]]] = []
        self.feed(text)

    VOID: ClassVar[set[str]] = {"meta", "br", "img", "input", "link", "hr"}

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, {k: v or "" for k, v in attrs}, tuple(self.stack)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, {k: v or "" for k, v in attrs}, tuple(self.stack)))

    def handle_endtag(self, tag):
        if tag in self.stack:
            while self.stack.pop() != tag:
                pass

    def handle_data(self, data):
        self.texts.append((data, tuple(self.stack)))

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [
            a
            for t, a, _ in self.elements
            if t == tag and all(a.get(k.rstrip("_")) == v for k, v in attrs.items())
        ]


@pytest.fixture(scope="module")
def definition_set():
    return kpi_engine.load_definitions("corporate-scorecard")


@pytest.fixture(scope="module")
def report(definition_set):
    return report_run(SAMPLE, definition_set, period="2016-03")


@pytest.fixture(scope="module")
def html(report):
    return render_html(report)


@pytest.fixture(scope="module")
def page(html):
    return Page(html)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# --- content ------------------------------------------------------------------------------------


def test_every_measure_has_a_card_and_a_summary_row(page, definition_set):
    cards = {a["id"] for a in page.find("article") if "measure" in a.get("class", "")}
    assert cards == {f"m-{slug(d.id)}" for d in definition_set.definitions}
    links = {a["href"] for a in page.find("a")}
    assert {f"#m-{slug(d.id)}" for d in definition_set.definitions} <= links


def test_grouped_as_the_seed_scorecard(page, html, report):
    headings = [text.strip() for text, stack in page.texts if stack[-1:] == ("h2",)]
    groups = [h for h in headings if h in SECTIONS]
    assert groups == list(SECTIONS)  # every section of the seed's scorecard, in order
    by_id = {m.definition.id: m.section for m in report.measures}
    # seed 001 lines 1650-1652 (child protection), 1664-1666 (care leavers), 1726 (youth)
    assert by_id["A5"] == by_id["A6"] == by_id["CPP-RATE"] == "Child protection"
    assert by_id["B11"] == by_id["B12"] == "Care leavers"
    assert by_id["YOS-EET"] == "Youth justice"
    assert by_id["CASELOAD"] == "Workforce" and by_id["FIN-PAY"] == "Finance"
    # each card sits inside its own section
    for m in report.measures:
        section = html.index(f'<section class="group" id="{slug(m.section)}">')
        card = html.index(f'id="m-{slug(m.definition.id)}"')
        later = [html.find('<section class="group"', section + 1), html.find("Appendix A")]
        assert section < card < min(p for p in later if p > 0)


def test_contract_years_sections_follow_the_same_rule():
    contract = kpi_engine.load_definitions("contract-2016-17")
    sections = {d.id: section_of(d) for d in contract.definitions}
    assert sections["A5"] == "Child protection" and sections["B12-2016"] == "Care leavers"
    assert sections["YOS-CUSTODY"] == "Youth justice" and sections["D17a"] == "Finance"


def test_each_card_shows_latest_target_rating_trend_benchmark_and_counts(page, html, report):
    a1 = html[html.index('id="m-a1"') :]
    a1 = a1[: a1.index("</article>")]
    for words in ("Latest (2016-03)", "23%", "target &lt;=25%", "ON TARGET", "6-month trend"):
        assert words in a1
    latest = next(m for m in report.measures if m.definition.id == "A1").latest
    assert f"{latest['numerator']:,.0f} / {latest['denominator']:,.0f}" in a1
    # the national figure beside the local one, with its year and source, and dated
    assert "22.6%" in a1 and "England 2025, dfe-analytical-services/CSC_outcomes_and_enablers" in a1
    assert "dated: 9 years from this period" in a1


# --- charts -------------------------------------------------------------------------------------


def test_one_chart_per_measure_with_figures(page, report):
    charts = [a for a in page.find("svg") if a.get("class") == "chart"]
    assert len(charts) == sum(m.charted for m in report.measures) > 25
    for a in charts:
        assert a["role"] == "img" and a["aria-labelledby"]


def test_a_chart_has_its_points_and_its_limits(html, report):
    m = next(m for m in report.measures if m.definition.id == "CIN-RATE")
    svg = html[html.index('<svg class="chart" id="chart-cin-rate"') :]
    svg = svg[: svg.index("</svg>") + 6]
    points = svg.count('class="point')
    assert points == int((~np.isnan(m.values)).sum()) == 24
    for line in ('class="limit upper"', 'class="mean"', 'class="limit lower"'):
        assert svg.count(line) == 1
    lim = m.chart.limits
    y = {
        cls: float(re.search(rf'class="{cls}"[^>]*y1="([0-9.]+)"', svg).group(1))
        for cls in ("limit upper", "mean", "limit lower")
    }
    # drawn in order, the mean half way between the limits (to the 0.1 the coordinates keep)
    assert y["limit upper"] < y["mean"] < y["limit lower"]
    assert y["mean"] == pytest.approx((y["limit upper"] + y["limit lower"]) / 2, abs=0.11)
    assert f"process limits {lim.lower:.0f} to {lim.upper:.0f}" in svg


def test_target_line_and_tolerance_band(html):
    svg = html[html.index('<svg class="chart" id="chart-a2"') :]
    svg = svg[: svg.index("</svg>")]
    assert 'class="target"' in svg and 'class="tolerance-band"' in svg


# --- self-contained, accessible, printable --------------------------------------------------------


def test_no_external_reference_anywhere(html):
    for pattern in ("http:", "https:", "//", "src=", "url(", "@import", "<script", "<link"):
        assert pattern not in html, pattern


def test_every_table_has_a_caption_and_every_header_a_scope(page, html):
    assert html.count("<table") == html.count("<caption>") > 5
    headers = page.find("th")
    assert headers and all(a.get("scope") in ("col", "row", "rowgroup") for a in headers)


def test_a_rating_is_a_shape_and_a_label(html):
    shapes = {}
    for status in ("ON TARGET", "OFF TARGET", "NO TARGET SET", "NO DATA"):
        found = re.search(rf'<svg class="shape"[^>]*>(<[a-z]+)[^<]*</svg> {status}</span>', html)
        assert found, status
        shapes[status] = found.group(1)
    assert shapes["ON TARGET"] == "<circle" and shapes["OFF TARGET"] == "<rect"


def wcag_ratio(a: str, b: str) -> float:
    def luminance(colour: str) -> float:
        c = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        c = [x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4 for x in c]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]

    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.parametrize("name", sorted(COLOURS))
def test_colours_pass_wcag_aa_against_white(name, html):
    colour, stated = COLOURS[name]
    ratio = wcag_ratio(colour, "#ffffff")
    assert ratio >= 4.5
    assert ratio == pytest.approx(stated, abs=0.01)
    assert colour in html


def test_prints_on_a4_landscape(html):
    assert re.search(r"@page \{ size: A4 landscape;", html)
    assert "@media print" in html and "break-inside: avoid" in html


# --- appendices ----------------------------------------------------------------------------------


def test_definitions_appendix_says_what_each_figure_counts(html, definition_set):
    appendix = html[html.index('id="definitions"') : html.index('id="data"')]
    for d in definition_set.definitions:
        assert f"<dt>{d.id}: " in appendix
        assert d.content_hash() in appendix


def test_data_section_makes_a_printed_copy_traceable(html, report):
    data = html[html.index('id="data"') :]
    assert "2016-04-01" in data  # the manifest's extract date
    extract = load_extract(SAMPLE, tables=["referrals"])
    assert (
        f'<th scope="row">referrals</th><td class="num">{len(extract.tables["referrals"]):,}'
        in data
    )
    assert report.definition_set_hash in data and re.fullmatch(
        r"[0-9a-f]{12}", report.definition_set_hash
    )
    assert "Extract warnings" in data


def test_nothing_in_the_report_lists_children(html):
    children = pd.read_parquet(SAMPLE / "children.parquet", columns=["child_id"])
    ids = set(children.child_id.astype(str))
    words = set(re.findall(r"[A-Za-z0-9_\-]+", html))
    assert not ids & words


# --- the same icons as the CSV -------------------------------------------------------------------


def test_variation_and_assurance_agree_with_kpi_compute(report):
    result = CliRunner().invoke(
        cli,
        [
            "compute",
            "--definitions",
            "corporate-scorecard",
            "--period",
            "2016-03",
            "--format",
            "csv",
        ],
    )
    assert result.exit_code == 0, result.output
    from io import StringIO

    csv = pd.read_csv(StringIO(result.stdout), keep_default_na=False, dtype=str)
    own = csv[(csv.breakdown == "") & (csv.period == "2016-03")].set_index("indicator_id")
    judged = 0
    for m in report.measures:
        d = m.definition
        if d.id not in own.index:
            continue
        assert m.row["variation"] == own.loc[d.id, "variation"], d.id
        assert m.row["assurance"] == own.loc[d.id, "assurance"], d.id
        if m.chart is not None and m.chart.limits is not None:
            assert m.chart.variation.value == m.row["variation"], d.id
            judged += 1
    assert judged > 20


# --- benchmarks ----------------------------------------------------------------------------------


def test_a_quartile_is_shown_where_the_file_gives_its_boundaries(tmp_path, report):
    path = tmp_path / "benchmarks.csv"
    path.write_text(
        "indicator,year,numerator,denominator,published_pct,source,lower_quartile,median,"
        "upper_quartile\nre_referrals_within_12m,2016,1,2,22.0,a/b@c:d.csv,18,22,26\n"
    )
    a1 = next(m for m in report.measures if m.definition.id == "A1")
    row = {**a1.row, "benchmark": 22.0, "benchmark_source": "England 2016", "latest": 23.0}
    b = benchmark_for(a1.definition, row, a1.months[-1], load_benchmarks(path))
    # lower is better: 23 is above the median 22 and below 26, the second-worst quarter
    assert b is not None and b.quartile == "C" and b.source == "England 2016, a/b"
    assert b.stale_years is None  # 2016 is the period's own financial year


# --- publication mode and the command ------------------------------------------------------------


def test_published_report_names_the_rule_and_hides_small_counts(definition_set):
    published = render_html(report_run(SAMPLE, definition_set, period="2016-03", publish=True))
    assert RULE in published and MARK in published
    a6 = published[published.index('id="m-a6"') :]
    a6 = a6[: a6.index("</article>")]
    assert "suppressed months" in a6 and 'class="limit' not in a6


def test_kpi_report_writes_the_page(tmp_path):
    out = tmp_path / "board.html"
    result = CliRunner().invoke(cli, ["report", "--period", "2016-03", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert "2016-03" in result.output


def test_kpi_report_usage_errors(tmp_path):
    runner = CliRunner()
    assert runner.invoke(cli, ["report", "--output", str(tmp_path / "x.csv")]).exit_code == 2
    bad = runner.invoke(
        cli, ["report", "--period", "2016-13", "--output", str(tmp_path / "x.html")]
    )
    assert bad.exit_code == 2 and "YYYY-MM" in bad.output
    assert runner.invoke(cli, ["report", "--months", "0", "--output", "x.html"]).exit_code == 2
    help_text = runner.invoke(cli, ["report", "--help"]).output
    assert "kpi report --output report.html" in help_text


def test_a_chart_shorter_than_the_spc_window_keeps_its_limits_inside(definition_set):
    short = render_html(report_run(SAMPLE, definition_set, period="2016-03", months=12))
    svg = short[short.index('<svg class="chart" id="chart-cin-rate"') :]
    svg = svg[: svg.index("</svg>")]
    assert svg.count('class="point') == 12
    # the limits (judged on 24 months, as the CSV) are drawn from the plot's left edge
    assert re.search(r'class="mean" x1="40.0"', svg)
