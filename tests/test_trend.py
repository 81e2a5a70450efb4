"""The 6-month trend rule on its edge cases (the rule is in kpi_engine.trend and docs/cron.md)."""

from __future__ import annotations

import math

import pytest

from kpi_engine.definitions import Frequency, Polarity, Unit
from kpi_engine.periods import parse_month
from kpi_engine.trend import Trend, band, judge, reference_periods, reference_value

HIGHER = Polarity.higher_is_better
LOWER = Polarity.lower_is_better
SIX = [20.0, 22.0, 24.0, 24.0, 22.0, 26.0]  # mean 23


def test_reference_is_the_mean_of_the_previous_six_values():
    assert reference_value(SIX) == pytest.approx(23.0)


@pytest.mark.parametrize(
    ("latest", "polarity", "expected"),
    [
        (26.0, HIGHER, Trend.improving),  # +3 points, higher is better
        (26.0, LOWER, Trend.declining),  # +3 points, lower is better
        (20.0, HIGHER, Trend.declining),
        (20.0, LOWER, Trend.improving),
        (24.0, HIGHER, Trend.stable),
        (23.0, LOWER, Trend.stable),
    ],
)
def test_direction_is_judged_by_polarity(latest, polarity, expected):
    assert judge(latest, SIX, Unit.percent, polarity, 0) is expected


def test_percentages_exactly_on_the_band_edge_are_stable():
    # 2 percentage points either side of a mean of 23 is still stable; beyond it is not
    assert judge(25.0, SIX, Unit.percent, HIGHER, 0) is Trend.stable
    assert judge(21.0, SIX, Unit.percent, HIGHER, 0) is Trend.stable
    assert judge(25.1, SIX, Unit.percent, HIGHER, 1) is Trend.improving
    assert judge(20.9, SIX, Unit.percent, HIGHER, 1) is Trend.declining


def test_band_edge_survives_binary_rounding():
    # 0.1 + 0.2 style error: 72.3 against a mean of 70.3 is exactly 2 points on paper
    previous = [70.1, 70.5, 70.3, 70.3, 70.2, 70.4]
    assert judge(72.3, previous, Unit.percent, LOWER, 1) is Trend.stable


def test_other_units_use_five_percent_of_the_reference():
    previous = [100.0] * 6
    assert band(Unit.rate_per_10000, 100.0, 0) == pytest.approx(5.0)
    assert judge(105.0, previous, Unit.rate_per_10000, HIGHER, 0) is Trend.stable  # on the edge
    assert judge(106.0, previous, Unit.rate_per_10000, HIGHER, 0) is Trend.improving
    assert judge(94.0, previous, Unit.mean, LOWER, 0) is Trend.improving  # weeks: fewer is better


def test_small_counts_need_more_than_one_reporting_step():
    # 5% of 3 is 0.15: the band is one reporting step (1) instead, so 3 -> 4 is noise
    previous = [3.0] * 6
    assert band(Unit.count, 3.0, 0) == 1.0
    assert judge(4.0, previous, Unit.count, LOWER, 0) is Trend.stable
    assert judge(5.0, previous, Unit.count, LOWER, 0) is Trend.declining
    assert band(Unit.mean, 3.0, 1) == pytest.approx(0.15)  # to one decimal: the step is 0.1


def test_zero_reference_and_zero_latest():
    zeros = [0.0] * 6
    assert judge(0.0, zeros, Unit.count, HIGHER, 0) is Trend.stable
    assert judge(1.0, zeros, Unit.count, HIGHER, 0) is Trend.stable  # within one step
    assert judge(2.0, zeros, Unit.count, HIGHER, 0) is Trend.improving
    assert judge(0.0, [3.0] * 6, Unit.percent, LOWER, 0) is Trend.improving
    assert judge(0.0, zeros, Unit.percent, LOWER, 0) is Trend.stable


def test_no_latest_value_is_blank():
    assert judge(None, SIX, Unit.percent, HIGHER, 0) is Trend.no_data
    assert judge(math.nan, SIX, Unit.percent, HIGHER, 0) is Trend.no_data
    assert Trend.no_data.value == ""


def test_missing_reference_values():
    # half present is enough (mean of those present); fewer than half is blank
    half = [None, math.nan, None, 22.0, 24.0, 23.0]
    assert reference_value(half) == pytest.approx(23.0)
    assert judge(30.0, half, Unit.percent, HIGHER, 0) is Trend.improving
    too_few = [None, math.nan, None, None, 24.0, 23.0]
    assert reference_value(too_few) is None
    assert judge(30.0, too_few, Unit.percent, HIGHER, 0) is Trend.no_data
    assert judge(30.0, [], Unit.percent, HIGHER, 0) is Trend.no_data


def test_reference_periods_by_frequency():
    dec = parse_month("2015-12")
    monthly = reference_periods(dec, Frequency.monthly)
    assert monthly == list(range(parse_month("2015-06"), parse_month("2015-11") + 1))
    # quarterly: the quarters ending in June and September
    assert reference_periods(dec, Frequency.quarterly) == [parse_month("2015-06"), dec - 3]
    assert reference_periods(parse_month("2016-03"), Frequency.annual) == []
