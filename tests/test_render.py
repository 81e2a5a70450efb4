"""The terminal scorecard (``kpi compute`` on a terminal) reads at 80 and 120 columns.

Rendered as rich renders to a terminal: ``Console(width=…, file=StringIO(), color_system=None)``.
Before: the 2015-16 set ran to 642 lines at 80 columns, "target" printed a letter per line and
breakdown rows lost their labels. Now every row is one line, no heading wraps, the columns that
do not fit are named under the table with how to see them (``--format csv``).
"""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from kpi_engine import load_definitions
from kpi_engine.definitions import Definition
from kpi_engine.render import scorecard_table, short_rating
from kpi_engine.run import RunResult, compute_run

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"


def render(renderable: object, width: int) -> list[str]:
    console = Console(width=width, file=StringIO(), color_system=None)
    console.print(renderable)
    output = console.file.getvalue()  # type: ignore[attr-defined]
    return [line.rstrip() for line in output.splitlines()]


def definition(**fields: object) -> Definition:
    base: dict[str, object] = {
        "id": "A1",
        "name": "Percentage of re-referrals in the last 12 months",
        "group": "children_in_need",
        "contract": True,
        "description": "Referrals in the year within 12 months of the previous one.",
        "source": "Seed 001 Indicator Review A1.",
        "unit": "percent",
        "rounding": 0,
        "polarity": "lower_is_better",
        "frequency": "monthly",
        "window": {"type": "in_period"},
        "denominator": {"table": "referrals", "date": "referral_date"},
        "numerator": {"filter": "outcome == 'nfa'"},
        "rating": {"target": 25, "tolerance": 30},
    }
    return Definition.model_validate(base | fields)


# --- the rating rule in a few characters ----------------------------------------------------------


def test_short_rating_puts_the_tolerance_or_amber_in_brackets() -> None:
    assert short_rating(definition()) == "<=25% (<=30%)"
    green = definition(rating={"green": 92, "amber": 90}, polarity="higher_is_better")
    assert short_rating(green) == ">=92% (>=90%)"
    # A5: a two-sided band, 'between 5 and 20%' is in tolerance (seed 001 Indicator Review)
    assert short_rating(definition(rating={"target": 15, "tolerance": 20, "lower_bound": 5})) == (
        "<=15% (5%-20%)"
    )
    weeks = definition(unit="mean", unit_label="weeks", rating={"target": 26, "tolerance": 30})
    assert short_rating(weeks) == "<=26 weeks (<=30)"  # the unit once, beside the target
    assert short_rating(definition(rating={"target": 99})) == "<=99%"
    assert short_rating(definition(rating={"no_target": "TBC"})) == "none"


# --- a hand-made scorecard, exactly ---------------------------------------------------------------


def _frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    defaults = {"breakdown": "", "period": "2015-12", "note": "", "group": "children_in_need"}
    return pd.DataFrame([defaults | r for r in rows])


def test_a_small_scorecard_at_64_and_110_columns_exactly() -> None:
    a1 = definition()
    a3 = definition(
        id="A3",
        name="Monthly case file audits rated 'requires improvement' or better",
        polarity="higher_is_better",
        rating={"target": 95, "tolerance": 90},
        breakdown={"column": "grade", "denominator": "total"},
    )
    frame = _frame(
        [
            {"indicator_id": "A1", "numerator": 1, "denominator": 4, "value": 25.0,
             "status": "ON TARGET"},
            {"indicator_id": "A3", "numerator": 3, "denominator": 4, "value": 75.0,
             "status": "OFF TARGET"},
            {"indicator_id": "A3", "breakdown": "requires_improvement", "numerator": 1,
             "denominator": 4, "value": 25.0, "status": "NO TARGET SET"},
        ]
    )  # fmt: skip
    assert render(scorecard_table(frame, [a1, a3], "Mini — 2015-12", width=64), 64) == [
        "Mini — 2015-12",
        "id  indicator                value  target (tol.)  rating",
        "─" * 64,
        "Children in need pathway",
        "A1  Percentage of re-refer…    25%  <=25% (<=30%)  ON TARGET",
        "A3  Monthly case file audi…    75%  >=95% (>=90%)  OFF TARGET",
        "    └ requires_improvement     25%                 NO TARGET SET",
        "Not shown at 64 columns: num / den, the rating rule in words,",
        "full names; --format csv (or a wider terminal) shows everything.",
    ]
    # wider: the counts come back, then the rule in words; names are cut last
    assert render(scorecard_table(frame, [a1, a3], "Mini — 2015-12", width=110), 110) == [
        "Mini — 2015-12",
        "id  indicator                                   num / den  value  target"
        "                         rating",
        "─" * 110,
        "Children in need pathway",
        "A1  Percentage of re-referrals in the last 12…      1 / 4    25%  target <=25%, "
        "tolerance <=30%  ON TARGET",
        "A3  Monthly case file audits rated 'requires …      3 / 4    75%  target >=95%, "
        "tolerance >=90%  OFF TARGET",
        "    └ requires_improvement                          1 / 4    25%"
        "                                 NO TARGET SET",
        "Not shown at 110 columns: full names; --format csv (or a wider terminal) shows "
        "everything.",
    ]


# --- the shipped sets on the sample, at 80 and 120 columns ----------------------------------------


@pytest.fixture(scope="module", params=["contract-2015-16", "contract-2016-17"])
def run(request: pytest.FixtureRequest) -> RunResult:
    return compute_run(SAMPLE, load_definitions(request.param), period="2016-03")


@pytest.mark.parametrize("width", [80, 120])
def test_each_row_is_one_line_and_no_heading_wraps(run: RunResult, width: int) -> None:
    lines = render(scorecard_table(run.results, run.definitions, "title", width), width)
    assert all(len(line) <= width for line in lines)
    header = lines[1].split()
    assert header[:2] == ["id", "indicator"] and header[-1] == "rating"
    assert "value" in header and ("target" in header or "(tol.)" in header or "(amber)" in header)
    for d in run.definitions:
        rows = [line for line in lines if line.split()[:1] == [d.id]]
        assert len(rows) == 1, (d.id, rows)  # one line, with its rating on it
        status = run.results.loc[
            (run.results.indicator_id == d.id) & (run.results.breakdown == ""), "status"
        ].iloc[0]
        assert status in rows[0]


@pytest.mark.parametrize("width", [80, 120])
def test_breakdown_rows_keep_their_labels(run: RunResult, width: int) -> None:
    lines = render(scorecard_table(run.results, run.definitions, "title", width), width)
    labels = [b for b in run.results.breakdown if b]
    assert labels
    for label in labels:
        # in full, or cut with an ellipsis after at least its first 12 characters (the id
        # column is as wide as the longest id, CARE-LADDER-COST, so the names get the rest)
        assert any(f"└ {label} " in f"{line} " or f"└ {label[:12]}" in line for line in lines)
    if width == 120:
        assert all(any(f"└ {label} " in f"{line} " for line in lines) for label in labels)


def test_at_80_columns_the_table_says_how_to_see_everything(run: RunResult) -> None:
    lines = render(scorecard_table(run.results, run.definitions, "title", 80), 80)
    text = " ".join(lines)
    assert "Not shown at 80 columns: num / den" in text
    assert "--format csv" in text
    # 2015-16: 22 measures, 3 grades, 5 group headings, 3 header lines, 3 NO DATA notes:
    # at most ~45 lines, where the table wrapped to 642 before
    assert len(lines) < 60


def test_a_wide_terminal_shows_every_column_and_no_hint(run: RunResult) -> None:
    lines = render(scorecard_table(run.results, run.definitions, "title", 250), 250)
    assert "num / den" in lines[1] and "target" in lines[1].split()
    assert not any("Not shown" in line for line in lines)
    assert any("target <=25%, tolerance <=30%" in line or "green <=24%, amber <=28%" in line
               for line in lines)  # fmt: skip


def test_several_periods_show_the_period_column() -> None:
    result = compute_run(
        SAMPLE, load_definitions("contract-2015-16"), first="2016-01", last="2016-03"
    )
    lines = render(scorecard_table(result.results, result.definitions, "title", 80), 80)
    assert "period" in lines[1].split()
    a1 = [line for line in lines if line.startswith("A1 ")]
    assert len(a1) == 3 and all(p in " ".join(a1) for p in ("2016-01", "2016-02", "2016-03"))
