"""SPC (kpi_engine.report.spc): XmR limits, the four special-cause rules, the two icons.

Every expected value is worked by hand below. The rule-by-rule cases marked "NHSRplotthedots"
are the published worked examples of the method's reference implementation (NHS-R Community,
tests/testthat/test-ptd_calculate_point_type.R and test-ptd_calculate_assurance_type.R), restated
with this module's choices: a run of 7 on one side of the mean, a trend of 7 points, and every
point of a run or trend marked (NHSRplotthedots marks the trigger point, then "part of" marks
the rest: the same points in the end).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.test_engine import SAMPLE, definition

from kpi_engine.definitions import Polarity
from kpi_engine.periods import parse_month
from kpi_engine.report import assess, spc
from kpi_engine.report.spc import Assurance, Limits, Variation

HIGHER, LOWER = Polarity.higher_is_better, Polarity.lower_is_better

ALTERNATING = np.array([10.0, 12.0] * 6)
"""12 points: mean 11, every moving range 2, so MR̄ = 2 and the limits are 11 ± 2.66 × 2."""


def marks(flags: np.ndarray) -> list[int]:
    return [int(i) for i in np.flatnonzero(flags)]


# --- limits ---------------------------------------------------------------------------------------


def test_limits_are_the_mean_plus_or_minus_2_66_mean_moving_ranges():
    lim = spc.limits(ALTERNATING)
    assert lim.mean == pytest.approx(11.0)
    assert lim.lower == pytest.approx(11 - 5.32)  # 5.68
    assert lim.upper == pytest.approx(11 + 5.32)  # 16.32
    assert lim.sigma == pytest.approx(5.32 / 3)


def test_a_moving_range_beyond_3_267_mean_ranges_is_screened_out():
    # 12 alternating points then 40: ranges 11 × 2 and 28; MR̄ = 50/12 = 4.17, and
    # 3.267 × 4.17 = 13.6 < 28, so 28 is dropped and MR̄ = 2 again
    lim = spc.limits(np.append(ALTERNATING, 40.0))
    mean = (132 + 40) / 13
    assert lim.mean == pytest.approx(mean)
    assert (lim.lower, lim.upper) == pytest.approx((mean - 5.32, mean + 5.32))


# --- rule 1: a point outside the limits -----------------------------------------------------------


def test_rule_1_a_point_above_the_upper_limit():
    # 12 alternating points then 20: ranges 11 × 2 and 8, MR̄ = 30/12 = 2.5 (8 < 3.267 × 2.5 =
    # 8.17 is kept); mean 152/13 = 11.69; upper limit 11.69 + 2.66 × 2.5 = 18.34 < 20
    chart = spc.judge(np.append(ALTERNATING, 20.0), HIGHER)
    assert chart.limits is not None
    assert chart.limits.upper == pytest.approx(152 / 13 + 6.65)
    assert marks(chart.outside) == [12]
    assert chart.variation is Variation.improving
    assert spc.judge(np.append(ALTERNATING, 20.0), LOWER).variation is Variation.concerning


def test_rule_1_a_point_below_the_lower_limit():
    # the mirror image: 12 alternating points then 2; mean 134/13 = 10.31, lower limit
    # 10.31 - 2.66 × 2.5 = 3.66 > 2
    chart = spc.judge(np.append(ALTERNATING, 2.0), LOWER)
    assert marks(chart.outside) == [12]
    assert chart.variation is Variation.improving
    assert spc.judge(np.append(ALTERNATING, 2.0), HIGHER).variation is Variation.concerning


def test_common_cause_when_no_rule_marks_the_latest_point():
    chart = spc.judge(ALTERNATING, HIGHER)
    assert not chart.special.any()
    assert chart.variation is Variation.common_cause


# --- rule 2: a shift of 7 on one side of the mean -------------------------------------------------


def test_rule_2_NHSRplotthedots_eight_above_then_one_below():
    # ptd_seven_point_one_side_mean(c(rep(1, 8), -1)): the run of 8 is marked, not the last
    x = np.array([1.0] * 8 + [-1.0])
    assert marks(spc.shift_points(x, 0.0)) == list(range(8))


def test_rule_2_NHSRplotthedots_six_is_not_a_run():
    assert marks(spc.shift_points(np.array([1.0] * 6 + [-1.0]), 0.0)) == []
    assert marks(spc.shift_points(np.array([-1.0] * 7), 0.0)) == list(range(7))


def test_rule_2_a_point_on_the_mean_breaks_the_run():
    x = np.array([1.0, 1, 1, 0, 1, 1, 1, 1])
    assert marks(spc.shift_points(x, 0.0)) == []


def test_rule_2_end_to_end():
    # 7 points alternating 9/11 (all below the mean) then 7 alternating 12/13 (all above):
    # mean 156/14 = 11.14; both halves are runs of 7; ranges 2 × 6, 3, 1 × 6: MR̄ = 21/13 = 1.62,
    # limits 11.14 ± 4.30 and 2 sigma 2.86: no point outside either, no trend
    x = np.array([9.0, 11, 9, 11, 9, 11, 9, 12, 13, 12, 13, 12, 13, 12])
    chart = spc.judge(x, LOWER)
    assert marks(chart.shift) == list(range(14))
    assert not (chart.outside | chart.trend | chart.near_limit).any()
    assert chart.variation is Variation.concerning  # 12 is above the mean; lower is better


# --- rule 3: a trend of 7 -------------------------------------------------------------------------


def test_rule_3_NHSRplotthedots_trends():
    assert marks(spc.trend_points(np.arange(1.0, 7))) == []  # 1:6, six points
    assert marks(spc.trend_points(np.arange(1.0, 8))) == list(range(7))  # 1:7
    assert marks(spc.trend_points(np.array([1.0, 2, 3, 3, 4, 5, 6]))) == []  # a tie breaks it
    assert marks(spc.trend_points(np.array([2.0, 1, 2, 3, 4, 5, 6, 7, 3]))) == list(range(1, 8))
    assert marks(spc.trend_points(np.arange(7.0, 0, -1))) == list(range(7))  # 7:1
    assert marks(spc.trend_points(np.array([2.0, 7, 6, 5, 4, 3, 2, 1, 3]))) == list(range(1, 8))


def test_rule_3_end_to_end_a_rising_trend_of_seven():
    # 6 alternating points, then 7 rising by 0.5 from 9 to 12 (the step from 12 to 9 breaks in)
    x = np.array([10.0, 12, 10, 12, 10, 12, 9, 9.5, 10, 10.5, 11, 11.5, 12])
    chart = spc.judge(x, HIGHER)
    assert marks(chart.trend) == list(range(6, 13))
    assert chart.variation is Variation.improving  # 12 is above the mean 10.77


# --- rule 4: two of three beyond 2 sigma ----------------------------------------------------------


def beyond(flags: list[int]) -> np.ndarray:
    """Mean 0, sigma 1: a flagged point at 3 is beyond 2 sigma, the others at 0 are not."""
    return np.array(flags, dtype=float) * 3


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ([1, 0, 1], [0, 2]),  # NHSRplotthedots: two_in_three(c(1, 0, 1)) then part_of: c(1, 0, 1)
        ([0, 1, 1], [1, 2]),
        ([1, 1, 0], [0, 1]),
        ([0, 0, 1, 0, 1, 0, 0], [2, 4]),
        ([0, 0, 1, 1, 0, 0, 0], [2, 3]),
        ([1, 0, 0, 1], []),  # three apart: never two in one window
        ([1, 0, 0, 1, 1], [3, 4]),
        ([0, 0, 0], []),
    ],
)
def test_rule_4_NHSRplotthedots_two_in_three(flags, expected):
    assert marks(spc.near_limit_points(beyond(flags), 0.0, 1.0)) == expected


def test_rule_4_needs_the_same_side():
    x = np.array([3.0, 0, -3])
    assert marks(spc.near_limit_points(x, 0.0, 1.0)) == []
    assert marks(spc.near_limit_points(-beyond([1, 1, 0]), 0.0, 1.0)) == [0, 1]


def test_rule_4_end_to_end():
    # ALTERNATING then 17, 11, 17: mean 177/15 = 11.8; ranges 2 × 11, 5, 6, 6: MR̄ = 39/14 = 2.786
    # (6 < 3.267 × 2.786 = 9.1: none screened); upper limit 11.8 + 2.66 × 2.786 = 19.21, 2 sigma
    # above the mean 11.8 + 2 × 2.786 / 1.128 = 16.74: both 17s beyond it, inside the limits
    x = np.append(ALTERNATING, [17.0, 11.0, 17.0])
    chart = spc.judge(x, HIGHER)
    assert chart.limits is not None
    assert chart.limits.upper == pytest.approx(11.8 + 2.66 * 39 / 14)
    assert marks(chart.near_limit) == [12, 14]
    assert not chart.outside.any()
    assert chart.variation is Variation.improving


# --- assurance ------------------------------------------------------------------------------------


def process(lower: float, upper: float) -> Limits:
    return Limits((lower + upper) / 2, lower, upper, (upper - lower) / 6)


@pytest.mark.parametrize(
    ("lower", "upper", "higher", "lower_better"),
    [
        # NHSRplotthedots test-ptd_calculate_assurance_type.R, target 4
        (1, 3, Assurance.missed, Assurance.met),
        (5, 7, Assurance.met, Assurance.missed),
        (1, 5, Assurance.hit_and_miss, Assurance.hit_and_miss),
        # boundaries are inclusive, as in rating: a limit on the target still meets it
        (4, 7, Assurance.met, Assurance.hit_and_miss),
        (1, 4, Assurance.hit_and_miss, Assurance.met),
    ],
)
def test_assurance_from_the_limits_against_the_target(lower, upper, higher, lower_better):
    assert spc.assurance_of(process(lower, upper), 4.0, HIGHER) is higher
    assert spc.assurance_of(process(lower, upper), 4.0, LOWER) is lower_better


def test_assurance_with_a_two_sided_band():
    # A5-style "between 5 and 20%", lower is better: the process must sit within [5, 20]
    assert spc.assurance_of(process(6, 19), 20.0, LOWER, lower_bound=5) is Assurance.met
    assert spc.assurance_of(process(1, 4), 20.0, LOWER, lower_bound=5) is Assurance.missed
    assert spc.assurance_of(process(3, 10), 20.0, LOWER, lower_bound=5) is Assurance.hit_and_miss


def test_no_target_no_assurance():
    assert spc.assurance_of(process(1, 3), None, HIGHER) is Assurance.none
    assert spc.assurance_of(process(1, 3), float("nan"), HIGHER) is Assurance.none


def test_judge_gives_assurance_from_its_own_limits():
    # ALTERNATING: limits 5.68 to 16.32
    assert spc.judge(ALTERNATING, HIGHER, target=5.0).assurance is Assurance.met
    assert spc.judge(ALTERNATING, HIGHER, target=17.0).assurance is Assurance.missed
    assert spc.judge(ALTERNATING, HIGHER, target=11.0).assurance is Assurance.hit_and_miss


# --- minimum history and gaps ---------------------------------------------------------------------


def test_fewer_than_twelve_values_are_not_judged():
    chart = spc.judge(ALTERNATING[:11], HIGHER, target=5.0)
    assert chart.limits is None
    assert chart.variation is Variation.none and chart.assurance is Assurance.none
    assert spc.judge(ALTERNATING, HIGHER).limits is not None


def test_missing_months_are_skipped_and_the_marks_keep_their_places():
    x = np.insert(np.append(ALTERNATING, 20.0), 3, np.nan)
    chart = spc.judge(x, HIGHER)
    assert len(chart.outside) == 14
    assert marks(chart.outside) == [13]
    short = np.insert(ALTERNATING[:11], 0, np.nan)  # 12 months, 11 values
    assert spc.judge(short, HIGHER).limits is None


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=12, max_size=40), st.floats(-1e6, 1e6))
def test_shifting_a_series_shifts_its_limits_and_keeps_its_marks(values, shift):
    x = np.array(values)
    a, b = spc.judge(x, HIGHER), spc.judge(x + shift, HIGHER)
    assert a.limits is not None and b.limits is not None
    assert b.limits.mean == pytest.approx(a.limits.mean + shift, abs=1e-6)
    assert (b.limits.upper - b.limits.lower) == pytest.approx(
        a.limits.upper - a.limits.lower, abs=1e-6
    )
    assert marks(a.trend) == marks(b.trend)


# --- the output columns ---------------------------------------------------------------------------

MONTHS = [parse_month(f"{y}-{m:02d}") for y in (2014, 2015) for m in range(1, 13)]


def test_one_month_assessed_alone_matches_the_same_month_in_a_range():
    d = definition()
    together = assess.compute_assessed({"cp_plans": SAMPLE}, [d], MONTHS)
    for month in (parse_month("2015-06"), parse_month("2015-12")):
        alone = assess.compute_assessed({"cp_plans": SAMPLE}, [d], [month])
        assert len(alone) == 1
        label = alone.period.iloc[0]
        same = together[together.period == label]
        pd.testing.assert_frame_equal(alone, same.reset_index(drop=True))


def test_the_columns_come_from_judge_on_the_24_months_ending_at_the_row():
    d = definition(
        unit="count",
        numerator={"table": "cp_plans", "start": "start_date", "end": "end_date"},
        denominator=None,
        rating={"target": 1, "tolerance": 2},
        polarity="lower_is_better",
    )
    # the plans run from January to December 2015: months outside them are NO DATA
    # (kpi_engine.coverage), which leaves the method's minimum of 12 values
    month = parse_month("2015-12")
    out = assess.compute_assessed({"cp_plans": SAMPLE}, [d], [month])
    history = assess.compute_assessed({"cp_plans": SAMPLE}, [d], assess.history_months([month]))
    assert len(history) == 24 and history.value.notna().sum() == 12
    chart = spc.judge(history.value.to_numpy(), LOWER, target=1.0)
    assert out.variation.iloc[0] == chart.variation.value != ""
    assert out.assurance.iloc[0] == chart.assurance.value != ""


def test_non_monthly_measures_are_not_judged():
    d = definition(frequency="quarterly")
    out = assess.compute_assessed({"cp_plans": SAMPLE}, [d], MONTHS)
    assert set(out.variation) == {""} and set(out.assurance) == {""}
