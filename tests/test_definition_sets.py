"""The shipped definition sets hold exactly the seed's measures, targets, thresholds and lineage.

Figures are quoted from seed 001 (scrutiny panel pack, Feb 2016): Appendix B, the Indicator
Review, "Contract Measures for Year 2", its "overview of changes", and Appendix A's scorecard.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from kpi_engine import load_definitions
from kpi_engine.cli import cli
from kpi_engine.definitions import Frequency, Polarity, Status

APPENDIX_B = [
    "A1", "A2", "A3", "A4", "A5", "A6", "A7", "B8", "B9", "B10", "B11", "B12",
    "C14", "C15", "C16", "D17a", "D17b", "D17c", "D17d", "D17e", "D19", "D21",
]  # fmt: skip

# Year-1 Indicator Review: target, tolerance
YEAR_1_TARGETS = {
    "A1": (25, 30), "A2": (95, 90), "A3": (95, 90), "A4": (5, 10), "A5": (15, 20),
    "A6": (10, 15), "A7": (99, 99), "B8": (26, 30), "B9": (70, 60), "B10": (9, 12),
    "B11": (90, 85), "B12": (55, 50), "C14": (8, 12), "C15": (25, 35),
    "D17b": (99.5, 99), "D17c": (99.5, 99.5), "D17d": (30, 15), "D17e": (2, 1),
}  # fmt: skip

# "Contract Measures for Year 2": id in the 2016-17 set -> (frequency, green, amber)
YEAR_2 = {
    "A1": ("monthly", 24, 28),
    "A2": ("monthly", 92, 90),
    "A3": ("monthly", 95, 90),
    "A4-2016": ("monthly", 80, 75),
    "A5": ("monthly", 16, 20),
    "A6": ("monthly", 3, 5),
    "B8": ("quarterly", 26, 30),
    "B9": ("monthly", 70, 60),
    "B10": ("monthly", 9, 12),
    "B11-2016": ("monthly", 85, 80),
    "B12-2016": ("monthly", 45, 40),
    "C14": ("monthly", 8, 12),
    "C15-2016": ("monthly", None, None),  # TBC with HR
    "C16-2016": ("monthly", 90, 80),
    "D17a": ("quarterly", 1, -1),
    "D17d-2016": ("quarterly", None, None),  # TBC
    "D19-2016": ("quarterly", 1, -1),
    "CIN-PLAN": ("monthly", 95, 90),
    "YOS-EET": ("monthly", 75, 65),
    "YOS-REOFFEND": ("monthly", 32, 40),
    "YOS-CUSTODY": ("monthly", 0.42, 0.75),
    "CARE-LADDER": ("quarterly", None, None),  # no target set, against budget
    "CARE-LADDER-COST": ("quarterly", None, None),  # the same row's budget / forecast
}

# the overview of changes for year 2
REPLACED = {"A4", "B11", "B12", "C15", "C16", "D17d", "D19"}
DROPPED = {"A7", "D17b", "D17c", "D17e", "D21"}
NEW = {"CIN-PLAN", "YOS-EET", "YOS-REOFFEND", "YOS-CUSTODY", "CARE-LADDER", "CARE-LADDER-COST"}


@pytest.fixture(scope="module")
def year_1():
    return load_definitions("contract-2015-16")


@pytest.fixture(scope="module")
def year_2():
    return load_definitions("contract-2016-17")


@pytest.fixture(scope="module")
def scorecard():
    return load_definitions("corporate-scorecard")


def test_year_1_is_appendix_b_in_order(year_1):
    assert [d.id for d in year_1.definitions] == APPENDIX_B
    assert all(d.contract for d in year_1.definitions)


@pytest.mark.parametrize(("indicator", "targets"), YEAR_1_TARGETS.items())
def test_year_1_targets_are_the_indicator_reviews(year_1, indicator, targets):
    rating = year_1.get(indicator).rating
    assert (rating.target, rating.tolerance) == targets


def test_year_1_special_cases(year_1):
    assert year_1.get("A5").rating.lower_bound == 5  # "between 5 and 20%"
    assert year_1.get("C16").rating.no_target == "TBC"
    for no_source in ("D17d", "D17e", "D21"):
        assert year_1.get(no_source).status is Status.no_data_source
    # "with the exception of financial measures that are delivered quarterly" (line 1459)
    for d in year_1.definitions:
        expected = Frequency.quarterly if d.group.value == "finance" else Frequency.monthly
        assert d.frequency is expected, d.id
    # D17c: plan over forecast, so that an overspend rates below 100% (line 2184: 98%)
    d17c = year_1.get("D17c")
    assert (d17c.numerator.sum, d17c.denominator.sum) == ("budget", "forecast_outturn")


def test_year_2_is_every_row_of_the_year_2_table(year_2):
    assert [d.id for d in year_2.definitions] == list(YEAR_2)


@pytest.mark.parametrize(("indicator", "row"), YEAR_2.items())
def test_year_2_thresholds_and_frequencies(year_2, indicator, row):
    frequency, green, amber = row
    d = year_2.get(indicator)
    assert d.frequency is Frequency(frequency)
    assert (d.rating.green, d.rating.amber) == (green, amber)
    if green is None:
        assert d.rating.no_target


def test_year_2_lineage_matches_the_overview_of_changes(year_1, year_2):
    old = {d.id for d in year_1.definitions}
    new = {d.id for d in year_2.definitions}
    replaced = {d.replaces for d in year_2.definitions if d.replaces}
    assert replaced == REPLACED
    assert replaced <= old
    assert old - new - replaced == DROPPED
    assert {d.id for d in year_2.definitions if d.id not in old and not d.replaces} == NEW


def test_revisions_the_review_proposes(year_1, year_2):
    assert year_1.get("B8").frequency is Frequency.monthly
    assert year_2.get("B8").frequency is Frequency.quarterly
    # the 2-year lookback is a parameter (lookback_years: 2), written in when computed
    assert "add_years(previous_plan_end_date, 2)" in (
        year_2.get("A5").bound().numerator.filter or ""
    )
    assert year_2.get("A6").window.type.value == "open_at_end"
    assert year_1.get("A6").window.type.value == "in_period"


def test_every_definition_cites_the_seed(year_1, year_2, scorecard):
    for s in (year_1, year_2, scorecard):
        for d in s.definitions:
            assert "Seed 001" in d.source, d.id


def test_the_corporate_scorecard_has_every_appendix_a_row(scorecard):
    ids = [d.id for d in scorecard.definitions]
    assert len(ids) == 36
    assert ids[:4] == ["CIN-RATE", "REFERRAL-RATE", "A1", "A2"]
    contract = {d.id for d in scorecard.definitions if d.contract}
    # the rows marked © in Appendix A
    assert contract == {
        "A1", "A2", "CP-VISITS", "A5", "A6", "A3", "B9", "B10", "B8", "B12", "B11", "C15", "C14",
    }  # fmt: skip
    # targets the scorecard shows (Dec-15 column "Target")
    shown = {"A1": 25, "A2": 95, "CP-VISITS": 95, "A5": 15, "A6": 10, "A3": 99, "B9": 70,
             "B10": 9, "ADOPTION-DAYS": 547, "B8": 26, "B12": 55, "B11": 90}  # fmt: skip
    for indicator, target in shown.items():
        assert scorecard.get(indicator).rating.target == target, indicator
    # the baseline column is the published 2013-14 outturn (national ranks), so March 2014
    assert scorecard.info.baseline_period == "2014-03"
    # the governance section's lines: expenditure, placements, pay, savings, audit opinions
    assert ids[-5:] == [
        "FIN-EXPENDITURE", "FIN-PLACEMENTS", "FIN-PAY", "FIN-SAVINGS", "AUDIT-ASSURANCE",
    ]  # fmt: skip
    assert scorecard.get("ADOPTION-DAYS").window.type.value == "financial_year_to_date"
    assert scorecard.get("LAC-PERMANENCE").status is Status.under_development
    assert scorecard.get("ADOPTION-DAYS").polarity is Polarity.lower_is_better


def test_kpi_list_shows_each_set(year_1, year_2):
    runner = CliRunner(env={"COLUMNS": "200"})
    for s in (year_1, year_2):
        result = runner.invoke(cli, ["list", "--set", s.name])
        assert result.exit_code == 0, result.output
        for d in s.definitions:
            assert d.id in result.stdout


def test_kpi_validate_passes_on_the_shipped_sets():
    result = CliRunner().invoke(cli, ["validate", "indicator_definitions"])
    assert result.exit_code == 0, result.output
    assert "81 definition(s) in 3 set(s): no problems" in result.stderr
