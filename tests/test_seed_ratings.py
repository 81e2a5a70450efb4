"""The seed's own figures, rated against the shipped definitions, give the status the seed implies.

Figures are quoted from seed 001 (scrutiny panel pack, Feb 2016): the Indicator Review's
"Performance" column, the Dec-15 Corporate Scorecard, and Appendix B's year-1 statuses. Where
Appendix B's status was taken at a different month than the review's figure, the test uses a
scorecard figure from a month that gives that status and says so.
"""

from __future__ import annotations

import pytest

from kpi_engine import load_definitions
from kpi_engine.rating import RatingStatus, rate

ON = RatingStatus.on_target
TOL = RatingStatus.in_tolerance
OFF = RatingStatus.off_target
NONE = RatingStatus.no_target

YEAR_1 = [
    # id, value, expected, where the figure comes from
    ("A1", 23, ON, "review performance 23%; Appendix B ON TARGET (target <25%)"),
    ("A2", 93, TOL, "scorecard 2015/16 Qtr1 93%; Appendix B IN TOLERANCE (95%, tol 90%)"),
    ("A2", 87, OFF, "review performance 87% is below the 90% tolerance"),
    ("A3", 88, OFF, "review performance 88%; Appendix B OFF TARGET (95%, tol 90%)"),
    ("A4", 3, ON, "review performance 3% against target <5%"),
    ("A5", 17, TOL, "scorecard 2014/15 Qtr4 17%; Appendix B IN TOLERANCE (target <15%, 5-20%)"),
    ("A5", 13, ON, "review performance 13% is within target and band"),
    ("A5", 4, OFF, "two-sided band: below 5% is a concern too"),
    ("A5", 23, OFF, "scorecard 2015/16 Qtr1 23% is above the 20% tolerance"),
    ("A6", 4, ON, "review performance 4%; Appendix B ON TARGET (target <10%)"),
    ("A7", 100, ON, "review performance 100%; Appendix B ON TARGET (target 99%)"),
    ("B8", 23, ON, "Dec-15 scorecard 23 weeks; Appendix B ON TARGET (target <26 weeks)"),
    ("B8", 28, TOL, "review performance 28 weeks: within the <30 weeks tolerance"),
    ("B9", 67, TOL, "review performance 67%; Appendix B IN TOLERANCE (>70%, tol >60%)"),
    ("B10", 10, TOL, "Dec-15 scorecard 10%; Appendix B IN TOLERANCE (<9%, tol <12%)"),
    ("B10", 7, ON, "review performance 7%"),
    ("B11", 96, ON, "review performance 96%; Appendix B ON TARGET (>90%)"),
    ("B12", 54, TOL, "review performance 54%; Appendix B IN TOLERANCE (>55%, tol >50%)"),
    ("C14", 10, TOL, "review performance 10%; Appendix B IN TOLERANCE (<8%, tol <12%)"),
    ("C15", 0, ON, "review performance 0%; Appendix B ON TARGET (<25%)"),
    ("C16", 76, NONE, "review performance 76%; Appendix B NO TARGET SET (TBC)"),
    ("D17b", 255, ON, "review performance 255%; Appendix B ON TARGET (99.5%)"),
    ("D17c", 98, OFF, "review performance 98% (42.3 / 43.1, plan over forecast); OFF TARGET"),
    ("D17c", 98.1, OFF, "42.3 / 43.1 to one place: below the 99.5% tolerance"),
    ("D17c", 101.9, ON, "42.3 / 41.5: an underspend is at or above target"),
    ("D17e", 2, ON, "review performance 2 against target >2: boundaries are inclusive"),
    ("D19", 0, NONE, "Appendix B NO TARGET SET"),
    ("D21", 66, NONE, "review performance 66%; Appendix B NO TARGET SET"),
]

YEAR_2 = [
    ("A1", 23, ON, "Dec-15 23% against green <=24%"),
    ("A1", 28, TOL, "amber <=28% is inclusive"),
    ("A1", 29, OFF, "red >28%"),
    ("A2", 88, OFF, "Dec-15 88% against red <90%"),
    ("A2", 90, TOL, "amber >=90% is inclusive"),
    ("A3", 97, ON, "Dec-15 97% against green >=95%"),
    ("A4-2016", 93, ON, "Dec-15 CP visits in timescale 93% against green >=80%"),
    ("A5", 15, ON, "Dec-15 15% against green <=16%"),
    ("B8", 28, TOL, "review performance 28 weeks against amber <=30wks"),
    ("B9", 68, TOL, "Dec-15 68% against green >=70%, amber >=60%"),
    ("B10", 10, TOL, "Dec-15 10% against green <=9%, amber <=12%"),
    ("B11-2016", 100, ON, "Dec-15 100% against green >=85%"),
    ("B12-2016", 54, ON, "Dec-15 54% against green >=45%"),
    ("C14", 12, TOL, "Dec-15 12% against amber <=12%: inclusive"),
    ("D17a", -1, TOL, "signed variance: amber >=-1% is inclusive"),
    ("D17a", -1.5, OFF, "signed variance: red <-1%"),
    ("D17a", 1, ON, "signed variance: green >=+1%"),
    ("YOS-CUSTODY", 0.42, ON, "green <=0.42 per 1,000"),
    ("YOS-CUSTODY", 0.8, OFF, "red >0.75 per 1,000"),
    ("C15-2016", 12, NONE, "TBC with HR"),
    ("CARE-LADDER", 40, NONE, "No target set, report will be against budget"),
]


SCORECARD = [
    ("CP-VISITS", 97, ON, "2015/16 Qtr2 97% = 100% - A4's 3%, against the 95% target"),
    ("CP-VISITS", 93, OFF, "Dec-15 93% against the 95% target"),
    ("ADOPTION-DAYS", 546, ON, "Qtr2 546 days against the 547 target (the national average)"),
]


@pytest.fixture(scope="module")
def year_1():
    return load_definitions("contract-2015-16")


@pytest.fixture(scope="module")
def year_2():
    return load_definitions("contract-2016-17")


@pytest.mark.parametrize(("indicator", "value", "expected", "why"), YEAR_1)
def test_year_1_seed_figures(year_1, indicator, value, expected, why):
    assert rate(value, year_1.get(indicator)) is expected, why


@pytest.mark.parametrize(("indicator", "value", "expected", "why"), YEAR_2)
def test_year_2_seed_figures(year_2, indicator, value, expected, why):
    assert rate(value, year_2.get(indicator)) is expected, why


@pytest.mark.parametrize(("indicator", "value", "expected", "why"), SCORECARD)
def test_scorecard_seed_figures(indicator, value, expected, why):
    assert rate(value, load_definitions("corporate-scorecard").get(indicator)) is expected, why


def test_rating_uses_the_reported_precision(year_1):
    # A1 is reported to whole percent: 25.4% is reported as 25% and meets the <=25% target
    assert rate(25.4, year_1.get("A1")) is ON
    assert rate(25.5, year_1.get("A1")) is TOL


def test_no_value_is_no_data(year_1):
    assert rate(None, year_1.get("A1")) is RatingStatus.no_data
