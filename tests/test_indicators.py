"""Every shipped indicator against a hand-worked case: a few children, known dates, the expected
numerator, denominator and rating written out, with the rule each case turns on.

The reporting month is March 2016 (period end 31 March 2016) unless a test says otherwise.
Working days are counted on a calendar with England's bank holidays (Good Friday 25 March and
Easter Monday 28 March 2016).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from kpi_engine import contract, engine, load_definitions
from kpi_engine.periods import month_end, parse_month

Y1 = load_definitions("contract-2015-16")
Y2 = load_definitions("contract-2016-17")
SC = load_definitions("corporate-scorecard")


def frame(table: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A contract table from rows; absent columns are null, date columns parsed."""
    spec = contract.TABLES[table]
    data: dict[str, Any] = {}
    for c in spec.columns:
        values = [r.get(c.name) for r in rows]
        if c.type in ("date", "datetime", "month"):
            data[c.name] = pd.to_datetime(pd.Series(values, dtype=object), format="ISO8601")
        elif c.type in ("int", "number"):
            data[c.name] = pd.Series(values, dtype="float64")
        elif c.type == "bool":
            data[c.name] = pd.Series(values, dtype="boolean")
        else:
            data[c.name] = pd.Series(values, dtype=object)
    if spec.key and any(r.get(spec.key) is None for r in rows):
        data[spec.key] = pd.Series([f"{table}-{i}" for i in range(len(rows))], dtype=object)
    return pd.DataFrame(data)


def figures(
    defs: Any,
    indicator: str,
    tables: dict[str, pd.DataFrame],
    period: str = "2016-03",
    breakdown: str = "",
) -> tuple[float, float, float, str]:
    d = defs.get(indicator)
    # the hand-built tables hold the records that matter, not the history an extract has:
    # complete to the period's end (an extract date) and windows read as far as they reach
    out = engine.compute(
        tables,
        [d],
        [parse_month(period)],
        definition_set=defs.name,
        extract_date=month_end(parse_month(period)).date(),
        partial_windows=True,
    )
    row = out[out.breakdown == breakdown].iloc[-1]
    assert row["period"] == period, row
    return float(row["numerator"]), float(row["denominator"]), float(row["value"]), row["status"]


def same(got: tuple[float, float, float, str], expected: tuple[float, float, float, str]) -> None:
    assert np.allclose(got[:3], expected[:3], equal_nan=True) and got[3] == expected[3], got


ON, TOL, OFF, NONE = "ON TARGET", "IN TOLERANCE", "OFF TARGET", "NO TARGET SET"


# --- children in need -------------------------------------------------------------------------


def test_a1_re_referrals_within_12_months_over_a_rolling_year():
    referrals = frame(
        "referrals",
        [
            {"child_id": "a", "referral_date": "2014-10-01"},  # before the window
            {"child_id": "a", "referral_date": "2015-06-01"},  # 8 months after: re-referral
            {"child_id": "a", "referral_date": "2016-02-01"},  # 8 months after: re-referral
            {"child_id": "b", "referral_date": "2015-05-01"},  # first referral
            {"child_id": "c", "referral_date": "2013-01-01"},
            {"child_id": "c", "referral_date": "2015-07-01"},  # 2.5 years later: not a re-referral
        ],
    )
    # window April 2015 to March 2016: 4 referrals, 2 re-referrals = 50%
    same(figures(Y1, "A1", {"referrals": referrals}), (2, 4, 50, OFF))  # target 25, tol 30
    same(figures(Y2, "A1", {"referrals": referrals}), (2, 4, 50, OFF))  # red > 28%


def test_a2_assessments_within_45_working_days():
    assessments = frame(
        "assessments",
        [
            # Mon 4 Jan to Fri 4 Mar 2016: 19 + 21 + 4 = 44 working days
            {"child_id": "a", "start_date": "2016-01-04", "completed_date": "2016-03-04"},
            # to Tue 8 Mar: 46 working days
            {"child_id": "b", "start_date": "2016-01-04", "completed_date": "2016-03-08"},
            # completed in February: not in March's denominator
            {"child_id": "c", "start_date": "2016-01-04", "completed_date": "2016-02-29"},
            # Thu 24 to Tue 29 March over Easter: 1 working day
            {"child_id": "d", "start_date": "2016-03-24", "completed_date": "2016-03-29"},
        ],
    )
    same(figures(Y1, "A2", {"assessments": assessments}), (2, 3, 67, OFF))


def test_a3_audits_rated_ri_or_better_with_a_breakdown_by_grade():
    audits = frame(
        "case_audits",
        [
            {"child_id": "a", "audit_date": "2016-03-02", "grade": "good", "audit_type": "routine"},
            {"child_id": "b", "audit_date": "2016-03-03", "grade": "requires_improvement",
             "audit_type": "routine"},
            {"child_id": "c", "audit_date": "2016-03-04", "grade": "inadequate",
             "audit_type": "routine"},
            {"child_id": "d", "audit_date": "2016-03-05", "grade": "outstanding",
             "audit_type": "routine"},
            {"child_id": "e", "audit_date": "2016-03-06", "grade": "inadequate",
             "audit_type": "thematic"},  # not routine: outside the measure
            {"child_id": "f", "audit_date": "2016-02-26", "grade": "inadequate",
             "audit_type": "routine"},  # February
        ],
    )  # fmt: skip
    tables = {"case_audits": audits}
    same(figures(Y2, "A3", tables), (3, 4, 75, OFF))
    # grade lines inform, they are not rated
    same(figures(Y2, "A3", tables, breakdown="inadequate"), (1, 4, 25, NONE))


def cp_world() -> dict[str, pd.DataFrame]:
    plans = frame(
        "cp_plans",
        [
            {"cp_plan_id": "pa", "child_id": "a", "start_date": "2016-01-01"},
            {"cp_plan_id": "pb", "child_id": "b", "start_date": "2016-01-01"},
            {"cp_plan_id": "pc", "child_id": "c", "start_date": "2016-03-20"},  # under 29 days
            {"cp_plan_id": "pd", "child_id": "d", "start_date": "2016-01-01"},
            {"cp_plan_id": "pe", "child_id": "e", "start_date": "2016-02-20"},
        ],
    )
    visits = frame(
        "cp_visits",
        [
            {"child_id": "a", "visit_date": "2016-03-10", "child_seen": True},
            {"child_id": "b", "visit_date": "2016-03-25", "child_seen": True},
            {"child_id": "c", "visit_date": "2016-03-22", "child_seen": True},
            {"child_id": "d", "visit_date": "2016-03-01", "child_seen": True},
            {"child_id": "d", "visit_date": "2016-03-28", "child_seen": False},
            {"child_id": "e", "visit_date": "2016-03-01", "child_seen": True},
            {"child_id": "e", "visit_date": "2016-03-12", "child_seen": True},
        ],
    )
    return {"cp_plans": plans, "cp_visits": visits}


def test_a4_year_1_children_without_a_visit_in_the_last_2_weeks():
    # on a plan > 28 days at 31 March: a, b, d, e (c started 20 March). Last visit: a 10 Mar,
    # b 25 Mar, d 28 Mar (the child was not seen, but the visit took place), e 12 Mar. Year 1
    # counts visits, not sightings (seed 001 lines 1981 and 1985): a and e are unvisited.
    # (Counting only visits that saw the child, d would be unvisited too: 3 of 4.)
    same(figures(Y1, "A4", cp_world()), (2, 4, 50, OFF))  # target <5%, tolerance <10%


def test_a4_year_1_reaches_the_seeds_3_percent_where_unseen_visits_are_visits():
    # Seed 001 line 1980: performance 3%, target <5%. 33 children on a plan since 1 January;
    # 28 seen on 25 March, 4 visited on 25 March but not seen (say, asleep or at school), and
    # one last visited on 1 March: 1 of 33 without a 2-weekly visit = 3%, ON TARGET. Counting
    # only visits that saw the child would make it 5 of 33 = 15%, OFF TARGET.
    children = [f"c{i:02d}" for i in range(33)]
    plans = frame(
        "cp_plans",
        [{"cp_plan_id": f"p{c}", "child_id": c, "start_date": "2016-01-01"} for c in children],
    )
    visits = frame(
        "cp_visits",
        [
            {"child_id": c, "visit_date": "2016-03-01" if i == 0 else "2016-03-25",
             "child_seen": not 1 <= i <= 4}
            for i, c in enumerate(children)
        ],
    )  # fmt: skip
    tables = {"cp_plans": plans, "cp_visits": visits}
    same(figures(Y1, "A4", tables), (1, 33, 3, ON))
    # the corporate scorecard's row is its complement: 32 of 33 = 97%, as in 2015/16 Qtr2
    same(figures(SC, "CP-VISITS", tables), (32, 33, 97, ON))


def test_a4_year_2_visits_in_timescale_where_the_child_was_seen():
    # March visits, each measured from the previous visit or the plan's start:
    # a 69 days, b 84, c 2 (yes), d 60 and 27 unseen, e 10 (yes) and 11 (yes) -> 3 of 7
    same(figures(Y2, "A4-2016", cp_world()), (3, 7, 43, OFF))


def second_plans() -> dict[str, pd.DataFrame]:
    return {
        "cp_plans": frame(
            "cp_plans",
            [
                {"child_id": "a", "start_date": "2010-01-01", "end_date": "2011-01-01"},
                {"child_id": "a", "start_date": "2016-03-05"},  # second plan, 5 years later
                {"child_id": "b", "start_date": "2016-03-10"},  # first plan
                {"child_id": "c", "start_date": "2014-06-01", "end_date": "2015-01-01"},
                {"child_id": "c", "start_date": "2016-03-15"},  # second, within 2 years
            ],
        )
    }


def test_a5_second_or_subsequent_plan_any_time_then_within_2_years():
    same(figures(Y1, "A5", second_plans()), (2, 3, 67, OFF))  # year 1: irrespective of time
    same(figures(Y2, "A5", second_plans()), (1, 3, 33, OFF))  # year 2: only c, within 2 years


def test_a6_year_1_plans_ended_lasting_more_than_729_days_including_cessation():
    plans = frame(
        "cp_plans",
        [
            {"child_id": "a", "start_date": "2014-03-01", "end_date": "2016-03-01"},  # 732 days
            {"child_id": "b", "start_date": "2014-03-03", "end_date": "2016-03-01"},  # 730 days
            {"child_id": "c", "start_date": "2014-03-04", "end_date": "2016-03-01"},  # 729 days
            {"child_id": "d", "start_date": "2015-01-01", "end_date": "2016-03-15"},
        ],
    )
    same(figures(Y1, "A6", {"cp_plans": plans}), (2, 4, 50, OFF))


def test_a6_year_2_children_on_a_plan_for_2_years_at_month_end():
    plans = frame(
        "cp_plans",
        [
            {"child_id": "a", "start_date": "2014-04-01"},  # 730 days on 31 March 2016
            {"child_id": "b", "start_date": "2014-04-02"},  # day 730 is 31 March: included
            {"child_id": "c", "start_date": "2014-04-03"},
        ],
    )
    same(figures(Y2, "A6", {"cp_plans": plans}), (2, 3, 67, OFF))


def test_a7_children_on_cp_or_in_care_with_a_qualified_social_worker():
    tables = {
        "cp_plans": frame("cp_plans", [{"child_id": "a", "start_date": "2015-01-01"}]),
        "cla_episodes": frame(
            "cla_episodes",
            [
                {
                    "child_id": "b",
                    "start_date": "2015-01-01",
                    "reason_new_episode": "S",
                    "legal_status": "C2",
                    "placement_type": "U4",
                    "placement_provider": "PR1",
                }
            ],
        ),
        "allocations": frame(
            "allocations",
            [
                {"child_id": "a", "staff_id": "s1", "start_date": "2015-01-01"},
                {"child_id": "b", "staff_id": "s2", "start_date": "2015-01-01"},
            ],
        ),
        "staff": frame(
            "staff",
            [
                {"staff_id": "s1", "qualified_social_worker": True, "start_date": "2010-01-01"},
                {"staff_id": "s2", "qualified_social_worker": False, "start_date": "2010-01-01"},
            ],
        ),
    }
    same(figures(Y1, "A7", tables), (1, 2, 50, OFF))


def test_cin_plan_children_assessed_as_in_need_with_an_open_plan():
    # Ofsted recommendation 3 (seed 001 line 1849): "all children and young people assessed as
    # in need have a child in need plan". The denominator counts children from the completion
    # of their assessment; a child still being assessed (e) is in neither count.
    tables = {
        "referrals": frame(
            "referrals",
            [
                {"referral_id": "ra", "child_id": "a", "referral_date": "2016-01-01",
                 "outcome": "assessment"},
                {"referral_id": "rb", "child_id": "b", "referral_date": "2015-12-01",
                 "outcome": "assessment"},
                {"referral_id": "rc", "child_id": "c", "referral_date": "2016-02-01",
                 "outcome": "assessment"},
                {"referral_id": "rd", "child_id": "d", "referral_date": "2016-02-01",
                 "outcome": "nfa"},
                {"referral_id": "re", "child_id": "e", "referral_date": "2016-03-01",
                 "outcome": "assessment"},  # assessment still open at 31 March
            ],
        ),
        "assessments": frame(
            "assessments",
            [
                {"child_id": "a", "referral_id": "ra", "start_date": "2016-01-02",
                 "completed_date": "2016-01-08"},
                {"child_id": "b", "referral_id": "rb", "start_date": "2015-12-02",
                 "completed_date": "2016-01-20"},
                {"child_id": "c", "referral_id": "rc", "start_date": "2016-02-02",
                 "completed_date": "2016-02-09"},
                {"child_id": "e", "referral_id": "re", "start_date": "2016-03-02"},
            ],
        ),
        "cin_plans": frame("cin_plans", [{"child_id": "a", "start_date": "2016-01-10"}]),
        "cp_plans": frame("cp_plans", [{"child_id": "c", "start_date": "2016-02-10"}]),
        "cla_episodes": frame("cla_episodes", []),
    }  # fmt: skip
    # assessed as in need and open at 31 March: a, b, c; with a plan: a (CIN), c (CP) = 67%.
    # Counting from referral, e (not yet assessed, no plan) would pull it to 2 of 4 = 50%.
    same(figures(Y2, "CIN-PLAN", tables), (2, 3, 67, OFF))


# --- children in care and care leavers --------------------------------------------------------


def test_b8_care_proceedings_lag_a_month_then_report_quarterly():
    proceedings = frame(
        "care_proceedings",
        [
            {
                "child_id": "a",
                "issue_date": "2015-08-01",
                "final_order_date": "2016-02-06",
            },  # 27 wk
            {
                "child_id": "b",
                "issue_date": "2015-09-01",
                "final_order_date": "2016-02-23",
            },  # 25 wk
            {"child_id": "c", "issue_date": "2015-09-01", "final_order_date": "2016-03-10"},
            {"child_id": "d", "issue_date": "2015-06-01", "final_order_date": "2015-12-15"},
        ],
    )
    tables = {"care_proceedings": proceedings}
    # year 1, March's report: February's completions, (27 + 25) / 2 = 26 weeks
    same(figures(Y1, "B8", tables), (52, 2, 26, ON))
    # year 2, Q4 2015-16: December to February, (27 + 25 + 28.14) / 3 = 26.7 -> 27 weeks
    same(figures(Y2, "B8", tables), (80.142857, 3, 27, TOL))


def episode(
    child: str,
    start: str,
    end: str | None,
    reason: str,
    placement: str = "U4",
    legal: str = "C2",
    provider: str = "PR1",
    ceased: str | None = None,
) -> dict[str, Any]:
    return {
        "child_id": child, "start_date": start, "end_date": end, "reason_new_episode": reason,
        "legal_status": legal, "placement_type": placement, "placement_provider": provider,
        "reason_ceased": ceased,
    }  # fmt: skip


def test_b9_ni63_long_term_placement_stability():
    tables = {
        "cla_episodes": frame(
            "cla_episodes",
            [
                episode("u", "2012-01-01", "2013-06-01", "S"),
                episode("u", "2013-06-01", None, "P", "U5"),  # same placement since June 2013
                episode("v", "2013-01-01", "2015-01-01", "S"),
                episode("v", "2015-01-01", None, "P", "U5"),  # moved 15 months ago
                episode("w", "2010-01-01", None, "S"),  # 17 at period end: not under 16
                episode("x", "2014-01-01", None, "S"),  # looked after only 2.25 years
            ],
        ),
        "children": frame(
            "children",
            [
                {"child_id": "u", "date_of_birth": "2005-01-01", "sex": "F"},
                {"child_id": "v", "date_of_birth": "2004-01-01", "sex": "M"},
                {"child_id": "w", "date_of_birth": "1999-01-01", "sex": "M"},
                {"child_id": "x", "date_of_birth": "2006-01-01", "sex": "F"},
            ],
        ),
    }
    same(figures(Y1, "B9", tables), (1, 2, 50, OFF))  # target >70%, tolerance >60%


def test_b10_ni62_three_or_more_placements_in_12_months():
    tables = {
        "cla_episodes": frame(
            "cla_episodes",
            [
                episode("y", "2015-06-01", "2015-09-01", "S"),
                episode("y", "2015-09-01", "2016-01-01", "P", "U5"),
                episode("y", "2016-01-01", None, "P", "K2", provider="PR4"),  # 3 in the year
                episode("z", "2014-01-01", "2015-02-01", "S"),
                episode("z", "2015-02-01", "2015-06-01", "P", "U5"),
                episode("z", "2015-06-01", None, "P", "U6"),  # first ended over 12 months ago
                episode("q", "2015-01-01", None, "S", legal="V3"),  # short breaks: excluded
            ],
        )
    }
    same(figures(Y1, "B10", tables), (1, 2, 50, OFF))


def leavers_world() -> dict[str, pd.DataFrame]:
    leavers = frame(
        "care_leavers",
        [
            {"child_id": "k1", "date_of_birth": "1996-06-15", "qualifying": True},
            {"child_id": "k2", "date_of_birth": "1996-09-01", "qualifying": True},
            {"child_id": "k3", "date_of_birth": "1996-12-01", "qualifying": True},
            {"child_id": "k4", "date_of_birth": "1996-10-01", "qualifying": False},
            {"child_id": "k5", "date_of_birth": "1994-11-01", "qualifying": True},
            {"child_id": "k6", "date_of_birth": "1996-05-01", "qualifying": True},
        ],
    )
    contacts = frame(
        "care_leaver_contacts",
        [
            {"child_id": "k1", "contact_date": "2015-06-20", "in_touch": True, "activity": "F1",
             "accommodation_suitable": True},
            {"child_id": "k2", "contact_date": "2015-07-01", "in_touch": True, "activity": "neet",
             "accommodation_suitable": True},  # 2 months before the birthday: in the window
            {"child_id": "k4", "contact_date": "2015-10-01", "in_touch": True, "activity": "eet",
             "accommodation_suitable": True},
            {"child_id": "k5", "contact_date": "2015-11-05", "in_touch": True, "activity": "eet",
             "accommodation_suitable": True},
            {"child_id": "k6", "contact_date": "2015-05-01", "in_touch": True, "activity": "neet",
             "accommodation_suitable": False},
        ],
    )  # fmt: skip
    # Who was looked after on 1 April in their 17th year (aged 16): 1 April 2013 for k1-k4 and
    # k6, 1 April 2011 for k5.
    episodes = frame(
        "cla_episodes",
        [
            episode("k1", "2012-01-01", "2014-06-15", "S"),
            episode("k2", "2013-03-01", "2014-09-01", "S"),
            episode("k3", "2010-01-01", None, "S"),
            episode("k4", "2012-09-01", "2014-10-01", "S"),  # not qualifying, yet in the cohort
            episode("k5", "2010-01-01", "2012-11-01", "S"),
            episode("k6", "2013-02-01", "2013-06-01", "S", legal="V3"),  # short breaks only
        ],
    )
    return {"care_leavers": leavers, "care_leaver_contacts": contacts, "cla_episodes": episodes}


def test_b11_b12_year_1_the_cohort_looked_after_on_1_april_at_16():
    # Seed 001 lines 2084 and 2107: "young people aged 19 who were looked after under any legal
    # status (other than V3 or V4) on 1 April in their 17th year". 19th birthdays April 2015 -
    # March 2016 in that cohort: k1, k2, k3 (not in touch) and k4, whom the qualifying flag
    # would leave out; not k6 (short breaks on 1 April 2013). Suitably housed: k1, k2, k4 = 75%;
    # EET: k1, k4 = 50%. (By the qualifying flag: k1, k2, k3 and k6, 2 of 4 housed, 1 of 4 EET.)
    for defs in (Y1, SC):
        same(figures(defs, "B11", leavers_world()), (3, 4, 75, OFF))
        same(figures(defs, "B12", leavers_world()), (2, 4, 50, TOL if defs is Y1 else OFF))


def test_b11_b12_year_2_care_leavers_aged_19_to_21():
    # qualifying leavers' 19th-21st birthdays in the year: k1, k2, k3, k6 (19) and k5 (21st,
    # 1 November 2015, in touch, EET and suitably housed): housed k1, k2, k5; EET k1, k5
    same(figures(Y2, "B11-2016", leavers_world()), (3, 5, 60, OFF))  # red < 80%
    same(figures(Y2, "B12-2016", leavers_world()), (2, 5, 40, TOL))  # amber >= 40%


def test_care_ladder_counts_children_by_placement_type_and_sgo():
    tables = {
        "cla_episodes": frame(
            "cla_episodes",
            [
                episode("a", "2015-01-01", None, "S", "K2", provider="PR4"),
                episode("b", "2015-01-01", None, "S", "U4", provider="PR1"),
                episode("c", "2015-01-01", None, "S", "U4", provider="PR4"),
                episode("d", "2013-01-01", "2015-06-01", "S", ceased="E45"),  # left on an SGO
                episode("e", "2015-01-01", None, "S", "P1"),  # placed with parents: no rung
            ],
        ),
        "children": frame(
            "children",
            [{"child_id": "d", "date_of_birth": "2010-01-01", "sex": "F"}],
        ),
    }
    # the seed's five rungs (lines 1899, 1928); e, placed with parents, is on none of them
    same(figures(Y2, "CARE-LADDER", tables), (4, np.nan, 4, NONE))
    same(figures(Y2, "CARE-LADDER", tables, breakdown="special_guardianship"), (1, np.nan, 1, NONE))
    same(
        figures(Y2, "CARE-LADDER", tables, breakdown="out_of_authority_residential"),
        (1, np.nan, 1, NONE),
    )
    out = engine.compute(tables, [Y2.get("CARE-LADDER")], [parse_month("2016-03")])
    assert "other" not in set(out.breakdown)
    # "number and budget/forecast" (line 1927): the money half has no extract table
    cost = engine.compute(tables, [Y2.get("CARE-LADDER-COST")], [parse_month("2016-03")])
    assert list(cost.status) == ["NO DATA"]
    assert "no placement type" in cost.note.iloc[0]


# --- workforce --------------------------------------------------------------------------------


def staff_world() -> dict[str, pd.DataFrame]:
    people = [
        ("s1", True, True, "permanent", 1.0, "2010-01-01", None),
        ("s2", True, True, "permanent", 1.0, "2012-01-01", None),
        ("s3", True, True, "permanent", 1.0, "2014-01-01", None),
        ("s4", True, False, "agency", 0.5, "2015-01-01", None),
        ("s5", True, False, "agency", 0.5, "2015-06-01", None),
        ("s6", False, False, "agency", 1.0, "2015-01-01", None),  # not frontline
        ("s7", True, True, "permanent", 1.0, "2015-01-01", "2016-03-10"),  # left < 2 years
        ("s8", True, True, "permanent", 1.0, "2010-01-01", "2016-03-20"),  # left after 6 years
        ("s9", True, False, "agency", 0.5, "2015-01-01", "2016-03-15"),  # agency leaver
    ]
    staff = frame(
        "staff",
        [
            {"staff_id": s, "frontline": f, "caseholding": c, "employment_type": e, "fte": fte,
             "start_date": start, "end_date": end, "qualified_social_worker": c}
            for s, f, c, e, fte, start, end in people
        ],
    )  # fmt: skip
    supervisions = frame(
        "supervisions",
        [
            {"staff_id": "s1", "supervision_date": "2016-03-10"},  # 21 days before 31 March
            {"staff_id": "s2", "supervision_date": "2016-02-25"},  # 35 days before
            {"staff_id": "s3", "supervision_date": "2016-01-05"},  # 86 days before
        ],
    )
    return {"staff": staff, "supervisions": supervisions}


def test_c14_agency_share_of_frontline_fte():
    # frontline in post on 31 March: s1-s3 (3.0 FTE) and agency s4, s5 (1.0 FTE)
    same(figures(Y1, "C14", staff_world()), (1.0, 4.0, 25, OFF))


def test_c15_permanent_leavers_within_2_years_and_year_2_turnover():
    same(figures(Y1, "C15", staff_world()), (1, 2, 50, OFF))  # s7 of s7, s8
    # year 2, aligned to the DfE workforce return (seed 001 line 2140), which counts employed
    # staff: employed leavers' FTE in March (s7, s8: 2.0) over employed FTE in post at 31 March
    # (s1-s3: 3.0) = 66.7%. The agency worker s9 leaving (and the agency FTE in post) is not
    # turnover; counting agency workers would give 2.5 / 5.0 = 50%.
    same(figures(Y2, "C15-2016", staff_world()), (2.0, 3.0, 66.7, NONE))


def test_c16_supervision_up_to_date():
    # year 1: caseholding staff in post s1-s3; within 6 weeks: s1, s2
    same(figures(Y1, "C16", staff_world()), (2, 3, 67, NONE))
    # year 2: frontline staff in post s1-s6 less s6 (5); within 4 weeks: s1 only
    same(figures(Y2, "C16-2016", staff_world()), (1, 5, 20, OFF))


# --- finance ----------------------------------------------------------------------------------


def finance_world() -> dict[str, pd.DataFrame]:
    rows = []
    for month, core_exp_forecast in (("2016-02", 45_000_000), ("2016-03", 40_100_000)):
        rows += [
            {"month": month, "funding_stream": "core", "line": "income",
             "budget": 40_000_000, "forecast_outturn": 40_500_000, "actual_to_date": 0},
            {"month": month, "funding_stream": "core", "line": "expenditure",
             "budget": 40_000_000, "forecast_outturn": core_exp_forecast, "actual_to_date": 0},
            {"month": month, "funding_stream": "capital", "line": "income",
             "budget": 1_000_000, "forecast_outturn": 1_000_000, "actual_to_date": 0},
            {"month": month, "funding_stream": "capital", "line": "expenditure",
             "budget": 2_000_000, "forecast_outturn": 1_900_000, "actual_to_date": 0},
            {"month": month, "funding_stream": "troubled_families", "line": "expenditure",
             "budget": 1_000_000, "forecast_outturn": 1_050_000, "actual_to_date": 0},
        ]  # fmt: skip
    return {"finance": frame("finance", rows)}


def test_d17_finance_from_the_periods_last_management_accounts():
    # March: +0.5M income, -0.1M core, +0.1M capital, -0.05M troubled families = +0.45M
    # of 43M budgeted expenditure = +1.0%; February's copy of the full-year figures is ignored
    same(figures(Y2, "D17a", finance_world()), (450_000, 43_000_000, 1.0, ON))  # green >= +1%
    same(figures(Y1, "D17b", finance_world()), (41_500_000, 41_000_000, 101.2, ON))
    # D17c is plan over forecast: 40M / 40.1M = 99.75%, half away from zero: 99.8%
    same(figures(Y1, "D17c", finance_world()), (40_000_000, 40_100_000, 99.8, ON))
    same(figures(Y1, "D19", finance_world()), (100_000, np.nan, 100_000, NONE))


def test_d17c_an_overspend_is_off_target_as_the_seed_rates_it():
    # Seed 001: D17c performance 98%, OFF TARGET (lines 1823, 2184); the scorecard's expenditure
    # line is budget 42.3M, forecast 43.1M (line 1760): 42.3 / 43.1 = 98.1%, below the 99.5%
    # tolerance. Forecast over plan (the old reading) gave 101.9%, ON TARGET for an overspend.
    rows = [
        {"month": "2015-12", "funding_stream": "core", "line": "expenditure",
         "budget": 42_300_000, "forecast_outturn": 43_100_000, "actual_to_date": 0},
    ]  # fmt: skip
    tables = {"finance": frame("finance", rows)}
    same(figures(Y1, "D17c", tables, period="2015-12"), (42_300_000, 43_100_000, 98.1, OFF))
    # an underspend of the same size is over 100%: never worse than on plan
    rows[0]["forecast_outturn"] = 41_500_000
    tables = {"finance": frame("finance", rows)}
    same(figures(Y1, "D17c", tables, period="2015-12"), (42_300_000, 41_500_000, 101.9, ON))


def test_no_finance_measure_rates_an_overspend_well():
    # Every rated finance measure of every set, on one overspend: each expenditure line's
    # forecast 10% over its budget, income on budget. None may rate ON TARGET or Green.
    rows = [
        {"month": "2015-12", "funding_stream": stream, "line": line, "budget": 1_000_000,
         "forecast_outturn": 1_100_000 if line == "expenditure" else 1_000_000,
         "actual_to_date": 0}
        for stream in ("core", "capital", "troubled_families")
        for line in ("income", "expenditure")
    ]  # fmt: skip
    tables = {"finance": frame("finance", rows)}
    rated = 0
    for defs in (Y1, Y2, SC):
        for d in defs.definitions:
            if d.group.value != "finance" or d.window is None or d.rating.no_target:
                continue
            if d.numerator.table == "finance" and "income" in (d.numerator.filter or ""):
                continue  # an income measure (D17b): no expenditure in it
            # one month of accounts, not a history: the window is read as far as it reaches
            out = engine.compute(
                tables,
                [d],
                [parse_month("2015-12")],
                extract_date=month_end(parse_month("2015-12")).date(),
                partial_windows=True,
            )
            assert set(out.status) <= {"OFF TARGET", "IN TOLERANCE"}, (defs.name, d.id, out)
            assert "Green" not in set(out.rag), (defs.name, d.id)
            rated += 1
    assert rated == 4  # D17a and D17c (year 1), D17a and D19-2016 (year 2)


def test_year_1_finance_measures_are_quarterly():
    # "with the exception of financial measures that are delivered quarterly" (seed 001 line
    # 1459): asked for January, D17b reports the quarter to December from December's accounts
    rows = [
        {"month": month, "funding_stream": "core", "line": "income", "budget": 1_000_000,
         "forecast_outturn": forecast, "actual_to_date": 0}
        for month, forecast in (("2015-12", 1_010_000), ("2016-01", 900_000))
    ]  # fmt: skip
    d = Y1.get("D17b")
    out = engine.compute(
        {"finance": frame("finance", rows)},
        [d],
        [parse_month("2016-01")],
        extract_date=month_end(parse_month("2016-01")).date(),
        partial_windows=True,
    )
    row = out.iloc[-1]
    assert (row["period"], str(row["period_start"])[:10]) == ("2015-12", "2015-10-01")
    assert (row["value"], row["status"]) == (101.0, ON)
    for indicator in ("D17a", "D17b", "D17c", "D17d", "D17e", "D19", "D21"):
        assert Y1.get(indicator).frequency.value == "quarterly", indicator


def test_d19_year_2_each_additional_funding_stream():
    # capital +0.1M and troubled families -0.05M over 3M of their budgets = +1.7%
    same(figures(Y2, "D19-2016", finance_world()), (50_000, 3_000_000, 1.7, ON))
    # "Line against each funding stream", each rated on the same thresholds
    same(figures(Y2, "D19-2016", finance_world(), breakdown="capital"), (100_000, 2e6, 5.0, ON))
    same(
        figures(Y2, "D19-2016", finance_world(), breakdown="troubled_families"),
        (-50_000, 1e6, -5.0, OFF),
    )


def test_measures_without_a_data_source_are_no_data_with_the_reason():
    out = engine.compute({}, [Y1.get("D17d"), Y1.get("D21")], [parse_month("2016-03")])
    assert list(out.status) == ["NO DATA", "NO DATA"]
    assert out.note.str.startswith("no data source:").all()


# --- youth offending --------------------------------------------------------------------------


def test_yos_eet_reoffending_and_custody_rate():
    cohort = frame(
        "yos_cohort",
        [
            {"date_of_birth": "2000-01-01", "cohort_start": "2015-06-01", "eet": True},
            {"date_of_birth": "2000-01-01", "cohort_start": "2015-08-01", "eet": True},
            {"date_of_birth": "2000-01-01", "cohort_start": "2015-09-01", "eet": False},
            {"date_of_birth": "2000-01-01", "cohort_start": "2016-01-01", "eet": None},
            # tracked for 12 months: joined April 2014 - March 2015
            {"date_of_birth": "1999-01-01", "cohort_start": "2014-05-01", "reoffended_12m": True},
            {"date_of_birth": "1999-01-01", "cohort_start": "2014-09-01", "reoffended_12m": False},
            {"date_of_birth": "1999-01-01", "cohort_start": "2015-02-01", "reoffended_12m": False},
        ],
    )
    tables = {"yos_cohort": cohort}
    same(figures(Y2, "YOS-EET", tables), (2, 4, 50, OFF))  # red < 65%
    same(figures(Y2, "YOS-REOFFEND", tables), (1, 3, 33, TOL))  # amber <= 40%
    population = frame("population", [{"year": 2015, "age": a, "count": 1000} for a in range(18)])
    disposals = frame(
        "yos_disposals",
        [{"young_person_id": "y", "disposal_date": d, "disposal_type": t}
         for d, t in (("2015-05-01", "custody"), ("2015-09-01", "custody"),
                      ("2016-01-01", "custody"), ("2016-03-01", "custody"),
                      ("2016-03-02", "community"), ("2015-03-01", "custody"))]
    )  # fmt: skip
    # 4 custodial sentences in the 12 months per 1,000 of the 8,000 aged 10-17 = 0.5
    same(
        figures(Y2, "YOS-CUSTODY", {"population": population, "yos_disposals": disposals}),
        (4, 8000, 0.5, TOL),
    )


# --- corporate scorecard measures ---------------------------------------------------------------


def test_scorecard_rates_per_10000_children():
    population = frame("population", [{"year": 2015, "age": a, "count": 1000} for a in range(18)])
    tables = {
        "population": population,
        "cla_episodes": frame(
            "cla_episodes",
            [episode("a", "2015-01-01", None, "S"), episode("b", "2015-01-01", "2016-01-01", "S")],
        ),
        "cp_plans": frame(
            "cp_plans",
            [{"child_id": c, "start_date": "2016-01-01"} for c in ("a", "b", "c")],
        ),
    }
    same(figures(SC, "LAC-RATE", tables), (1, 18000, 1, NONE))  # 1 / 18,000 x 10,000 = 0.56
    same(figures(SC, "CPP-RATE", tables), (3, 18000, 2, NONE))  # 1.67


def test_scorecard_missing_reviews_adoption_caseload_and_sickness():
    missing = frame(
        "missing_episodes",
        [
            {"child_id": "a", "start_datetime": "2016-02-01T20:00",
             "end_datetime": "2016-02-03T09:00", "looked_after": True},  # 37 hours
            {"child_id": "b", "start_datetime": "2016-03-01T20:00",
             "end_datetime": "2016-03-02T19:00", "looked_after": True},  # 23 hours
            {"child_id": "c", "start_datetime": "2015-12-01T20:00",
             "end_datetime": "2015-12-05T09:00", "looked_after": True},  # before the 3 months
            {"child_id": "d", "start_datetime": "2016-03-05T08:00",
             "end_datetime": "2016-03-06T09:00", "looked_after": False},  # 25 hours, at home
        ],
    )  # fmt: skip
    same(figures(SC, "MISSING-CIC", {"missing_episodes": missing}), (1, np.nan, 1, NONE))
    same(figures(SC, "MISSING-CHILDREN", {"missing_episodes": missing}), (1, np.nan, 1, NONE))
    reviews = frame(
        "cla_reviews",
        [
            {"child_id": "a", "review_date": "2016-03-01", "due_date": "2016-03-05",
             "child_participated": True},
            {"child_id": "b", "review_date": "2016-03-10", "due_date": "2016-03-05",
             "child_participated": False},
        ],
    )  # fmt: skip
    same(figures(SC, "LAC-REVIEWS", {"cla_reviews": reviews}), (1, 2, 50, NONE))
    same(figures(SC, "LAC-PARTICIPATION", {"cla_reviews": reviews}), (1, 2, 50, NONE))
    adoptions = frame(
        "adoptions",
        [
            {"child_id": "a", "entered_care_date": "2014-01-01", "placed_date": "2015-07-01"},
            {"child_id": "b", "entered_care_date": "2013-06-01", "placed_date": "2014-06-01"},
            {"child_id": "c", "entered_care_date": "2010-01-01", "placed_date": "2012-06-01"},
        ],
    )
    # placed in the financial year to date, April 2015 to March 2016 (seed 001 line 2294: the
    # Adoption Leadership Board's "first half of the year" figure at Qtr2): a, 546 days,
    # against the 547 target. A 3-year average would add b (365 days): 456.
    same(figures(SC, "ADOPTION-DAYS", {"adoptions": adoptions}), (546, 1, 546, ON))
    world = staff_world()
    world["allocations"] = frame(
        "allocations",
        [{"child_id": f"c{i}", "staff_id": s, "start_date": "2016-01-01"}
         for i, s in enumerate(["s1"] * 5 + ["s2"] * 3 + ["s4"] * 2)],
    )  # fmt: skip
    # caseholding qualified workers in post: s1, s2, s3; their cases 5 + 3 = 8 -> 2.7
    same(figures(SC, "CASELOAD", world), (8, 3, 2.7, NONE))
    world["sickness_absence"] = frame(
        "sickness_absence",
        [
            {"staff_id": "s1", "start_date": "2015-06-01", "days_lost": 6},
            {"staff_id": "s2", "start_date": "2014-06-01", "days_lost": 20},  # over a year ago
        ],
    )
    # 6 days lost in the year over 5.0 FTE in post = 1.2 days
    same(figures(SC, "SICKNESS", world), (6, 5.0, 1.2, NONE))


def test_scorecard_referral_and_children_in_need_rates():
    population = frame("population", [{"year": 2015, "age": a, "count": 1000} for a in range(18)])
    referrals = frame(
        "referrals",
        [
            {"child_id": "a", "referral_date": "2016-03-02", "outcome": "assessment"},
            {"child_id": "b", "referral_date": "2016-03-09", "outcome": "nfa"},
            {"child_id": "c", "referral_date": "2016-02-09", "outcome": "assessment",
             "closure_date": "2016-03-20"},  # case closed before month end
            {"child_id": "d", "referral_date": "2015-11-09", "outcome": "assessment"},
        ],
    )  # fmt: skip
    tables = {"population": population, "referrals": referrals}
    # 2 referrals in March per 18,000 children x 10,000 = 1.1 -> 1
    same(figures(SC, "REFERRAL-RATE", tables), (2, 18000, 1, NONE))
    # open child in need cases at 31 March: a and d (b was not assessed, c closed)
    same(figures(SC, "CIN-RATE", tables), (2, 18000, 1, NONE))


def test_scorecard_lac_and_cp_visits():
    visits = frame(
        "cla_visits",
        [
            {"child_id": "a", "visit_date": "2016-03-01", "due_date": "2016-03-05"},
            {"child_id": "b", "visit_date": "2016-03-10", "due_date": "2016-03-05"},  # late
            {"child_id": "c", "visit_date": "2016-03-05", "due_date": "2016-03-05"},  # on the day
        ],
    )
    same(figures(SC, "LAC-VISITS", {"cla_visits": visits}), (2, 3, 67, NONE))
    # the scorecard's CP visits row is the complement of year-1 A4 (Qtr2 97% = 100% - 3%,
    # target 95% = 100% - 5%; seed 001 lines 1720 and 1980): of a, b, d, e (on a plan more
    # than 28 days), b and d had a visit in the last 14 days (d's did not see the child) = 50%
    same(figures(SC, "CP-VISITS", cp_world()), (2, 4, 50, OFF))
    same(figures(Y1, "A4", cp_world()), (2, 4, 50, OFF))


def test_scorecard_finance_lines():
    # Line 1 (seed 001 line 1760, budget 42.3M = D17c's plan) is core expenditure: March's
    # accounts forecast 40.1M against 40M. Lines 2 and 3 are placements and pay (section 7.6.9,
    # line 1484), which the extract's finance table cannot split: NO DATA with the reason.
    same(figures(SC, "FIN-EXPENDITURE", finance_world()), (100_000, np.nan, 100_000, NONE))
    out = engine.compute(
        finance_world(),
        [SC.get("FIN-PLACEMENTS"), SC.get("FIN-PAY"), SC.get("AUDIT-ASSURANCE")],
        [parse_month("2016-03")],
    )
    assert list(out.status) == ["NO DATA"] * 3
    assert out.note.str.startswith("no data source:").all()
    assert out.note.str.contains("no cost category").sum() == 2


def test_scorecard_young_offenders_in_eet_quarterly():
    cohort = frame(
        "yos_cohort",
        [
            {"date_of_birth": "2000-01-01", "cohort_start": "2015-06-01", "eet": True},
            {"date_of_birth": "2000-01-01", "cohort_start": "2016-02-01", "eet": False},
        ],
    )
    same(figures(SC, "YOS-EET", {"yos_cohort": cohort}), (1, 2, 50, NONE))
