"""Derived fields and tables against hand-worked histories, one statutory rule at a time.

Each case is small enough to check with a calendar; the rule is quoted from
../shared/docs/indicators.md (DfE definitions) or derived.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpi_engine import calendar, derivations, derived, intervals

D = pd.to_datetime
NaT = pd.NaT


def episodes(rows: list[tuple[str, str, str | None, str, str, str, str | None]]) -> pd.DataFrame:
    """(child, start, end, reason_new_episode, legal_status, placement_type, provider)."""
    return pd.DataFrame(
        {
            "episode_id": [f"e{i:02d}" for i in range(len(rows))],
            "child_id": [r[0] for r in rows],
            "start_date": D([r[1] for r in rows]),
            "end_date": D([r[2] for r in rows]),
            "reason_new_episode": [r[3] for r in rows],
            "legal_status": [r[4] for r in rows],
            "placement_type": [r[5] for r in rows],
            "placement_provider": [r[6] for r in rows],
            "reason_ceased": [None] * len(rows),
        }
    )


HISTORY = list(derivations._EPISODE_HISTORY)


def spans_of(frame: pd.DataFrame) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    return list(zip(frame["start_date"], frame["end_date"], strict=True))


def history(frame: pd.DataFrame) -> pd.DataFrame:
    return derivations.add_derived_fields("cla_episodes", frame, {}, HISTORY)


# --- calendar ---------------------------------------------------------------------------------


def test_working_days_skip_weekends_and_england_bank_holidays():
    start = pd.Series(D(["2015-12-24", "2016-03-24", "2015-06-05", "2015-06-01", None]))
    end = pd.Series(D(["2015-12-29", "2016-03-29", "2015-06-08", "2015-06-01", "2015-06-02"]))
    got = calendar.working_days_between(start, end).tolist()
    # Christmas Day (Fri), Boxing Day substitute (Mon 28th); Good Friday and Easter Monday 2016;
    # Friday to Monday is one working day; the same day is 0; a null date gives null.
    assert got[:4] == [1.0, 1.0, 1.0, 0.0]
    assert np.isnan(got[4])


def test_45_working_days_from_a_referral_over_christmas():
    # From Tue 1 Dec 2015: 20 working days in the rest of December (not 25th or 28th), 20 in
    # January (not New Year's Day), so the 45th is Fri 5 Feb 2016 and Mon 8 Feb is the 46th.
    start = pd.Series(D(["2015-12-01", "2015-12-01"]))
    end = pd.Series(D(["2016-02-05", "2016-02-08"]))
    assert calendar.working_days_between(start, end).tolist() == [45.0, 46.0]


def test_add_months_clips_to_month_end_and_keeps_nulls():
    dates = pd.Series(D(["2015-01-31", "2016-01-31", "2015-08-31", None]))
    assert calendar.add_months(dates, 1).tolist()[:3] == list(
        D(["2015-02-28", "2016-02-29", "2015-09-30"])
    )
    assert calendar.add_months(dates, -12).tolist()[:3] == list(
        D(["2014-01-31", "2015-01-31", "2014-08-31"])
    )
    assert pd.isna(calendar.add_months(dates, 1).iloc[3])


@given(
    st.dates(
        min_value=pd.Timestamp("1990-01-01").date(), max_value=pd.Timestamp("2050-12-31").date()
    ),
    st.integers(min_value=-240, max_value=240),
)
def test_add_months_agrees_with_pandas_dateoffset(day, months):
    got = calendar.add_months(pd.Series([pd.Timestamp(day)]), months).iloc[0]
    assert got == pd.Timestamp(day) + pd.DateOffset(months=months)


@given(
    st.lists(
        st.none()
        | st.datetimes(
            min_value=pd.Timestamp("1950-01-01").to_pydatetime(),
            max_value=pd.Timestamp("2060-12-31").to_pydatetime(),
        ),
        max_size=30,
    ),
    st.integers(min_value=-400, max_value=400),
)
def test_add_months_of_one_number_moves_each_row_as_its_own_count_would(stamps, months):
    # a whole column moved by one number takes a table of the days it spans; a column of
    # counts goes row by row: the two agree, times of day kept, nulls null, on every date
    dates = pd.Series(pd.to_datetime(stamps), dtype="datetime64[ns]")
    one = calendar.add_months(dates, months)
    each = calendar.add_months(dates, pd.Series([months] * len(dates), dtype=float))
    assert one.isna().tolist() == dates.isna().tolist()
    assert one.equals(each)
    for day, got in zip(dates, one, strict=True):
        if not pd.isna(day):
            assert got == day + pd.DateOffset(months=months)


# --- referrals and plans ----------------------------------------------------------------------


def test_previous_referral_date_is_the_same_childs_latest_earlier_referral():
    referrals = pd.DataFrame(
        {
            "referral_id": ["r3", "r1", "r2", "r4"],
            "child_id": ["a", "a", "b", "a"],
            "referral_date": D(["2015-06-01", "2014-01-10", "2015-01-01", "2015-09-01"]),
        }
    )
    out = derivations.add_derived_fields("referrals", referrals, {}, ["previous_referral_date"])
    assert out["previous_referral_date"].tolist() == [
        pd.Timestamp("2014-01-10"),
        NaT,
        NaT,
        pd.Timestamp("2015-06-01"),
    ]


def test_previous_plan_dates():
    plans = pd.DataFrame(
        {
            "cp_plan_id": ["p2", "p1", "p3"],
            "child_id": ["a", "a", "b"],
            "start_date": D(["2015-03-01", "2012-05-01", "2015-01-01"]),
            "end_date": D([None, "2013-02-01", None]),
        }
    )
    out = derivations.add_derived_fields(
        "cp_plans", plans, {}, ["previous_plan_end_date", "previous_plan_start_date"]
    )
    assert out["previous_plan_end_date"].tolist() == [pd.Timestamp("2013-02-01"), NaT, NaT]
    assert out["previous_plan_start_date"].tolist() == [pd.Timestamp("2012-05-01"), NaT, NaT]


def test_previous_visit_is_within_the_same_plan_or_its_start():
    plans = pd.DataFrame(
        {
            "cp_plan_id": ["p1", "p2"],
            "child_id": ["a", "a"],
            "start_date": D(["2015-01-01", "2015-06-01"]),
            "end_date": D(["2015-03-01", None]),
        }
    )
    visits = pd.DataFrame(
        {
            "visit_id": ["v1", "v2", "v3", "v4"],
            "child_id": ["a"] * 4,
            "visit_date": D(["2015-01-10", "2015-01-20", "2015-04-01", "2015-06-05"]),
            "child_seen": [True] * 4,
        }
    )
    out = derivations.add_derived_fields(
        "cp_visits", visits, {"cp_plans": plans}, ["previous_visit_date"]
    )
    assert out["previous_visit_date"].tolist() == [
        pd.Timestamp("2015-01-01"),  # first visit: measured from the plan's start
        pd.Timestamp("2015-01-10"),
        NaT,  # between plans
        pd.Timestamp("2015-06-01"),  # first visit of the second plan
    ]


def test_a_field_needing_an_absent_table_raises_missing_table():
    visits = pd.DataFrame({"visit_id": [], "child_id": [], "visit_date": D([]), "child_seen": []})
    with pytest.raises(derivations.MissingTableError) as e:
        derivations.add_derived_fields("cp_visits", visits, {}, ["previous_visit_date"])
    assert e.value.table == "cp_plans"


# --- NI 62: placements --------------------------------------------------------------------------


def test_ni62_counts_new_placements_by_the_statutory_rules():
    frame = episodes(
        [
            ("a", "2015-01-05", "2015-03-01", "S", "C2", "U4", "PR1"),  # 1st placement
            ("a", "2015-03-01", "2015-04-01", "L", "C1", "U4", "PR1"),  # legal change: same
            ("a", "2015-04-01", "2015-04-08", "P", "C1", "T1", "PR1"),  # holiday: absence
            ("a", "2015-04-08", "2015-06-01", "P", "C1", "U4", "PR1"),  # return: same
            ("a", "2015-06-01", "2015-06-01", "P", "C1", "U5", "PR4"),  # under 24 hours
            ("a", "2015-06-01", "2015-09-01", "P", "C1", "K2", "PR4"),  # 2nd placement
            ("a", "2015-09-01", "2015-10-01", "T", "C1", "K2", "PR4"),  # same carer
            ("a", "2015-10-01", "2016-01-01", "P", "E1", "U4", "PR1"),  # 3rd placement
            ("a", "2016-01-01", None, "P", "E1", "A3", "PR1"),  # adopted by carer: same
        ]
    )
    out = history(frame)
    assert out["new_placement"].tolist() == [
        True,
        False,
        False,
        False,
        False,
        True,
        False,
        True,
        False,
    ]
    assert out["placement_start_date"].tolist() == list(
        D(["2015-01-05"] * 5 + ["2015-06-01"] * 2 + ["2015-10-01"] * 2)
    )
    # The placement two before the third is the first, which ended on 1 June 2015 (it took in
    # the absence, the return and the under-24-hour move): 3 placements in the 12 months to
    # any period end before 1 June 2016.
    assert (
        out["placement_before_previous_end_date"].tolist()
        == [NaT] * 7 + [pd.Timestamp("2015-06-01")] * 2
    )
    assert out["period_of_care_start_date"].nunique() == 1


def test_ni62_placements_count_across_periods_of_care():
    frame = episodes(
        [
            ("b", "2014-01-01", "2014-06-01", "S", "C2", "U4", "PR1"),
            ("b", "2014-09-01", "2015-02-01", "S", "C2", "U4", "PR1"),  # new period of care
            ("b", "2015-02-01", None, "P", "C2", "U5", "PR1"),
        ]
    )
    out = history(frame)
    assert out["new_placement"].tolist() == [True, True, True]
    assert out["period_of_care_start_date"].tolist() == list(
        D(["2014-01-01", "2014-09-01", "2014-09-01"])
    )
    assert out["placement_before_previous_end_date"].iloc[2] == pd.Timestamp("2014-06-01")


# --- NI 63: continuity and stability ------------------------------------------------------------


def test_ni63_short_breaks_break_the_spell_and_adoption_joins_the_previous_placement():
    frame = episodes(
        [
            ("c", "2010-01-01", "2011-01-01", "S", "V3", "U4", "PR1"),  # short breaks
            ("c", "2011-01-01", "2012-01-01", "L", "C2", "U4", "PR1"),  # full care from here
            ("c", "2012-01-01", "2013-06-01", "P", "C2", "U5", "PR1"),
            ("c", "2013-06-01", None, "P", "E1", "A4", "PR1"),  # placed for adoption
        ]
    )
    out = history(frame)
    assert pd.isna(out["care_spell_start_date"].iloc[0])  # a short break is never the spell
    assert out["care_spell_start_date"].iloc[1:].tolist() == [pd.Timestamp("2011-01-01")] * 3
    assert out["placement_start_date"].iloc[3] == pd.Timestamp("2013-06-01")
    # Adoptive and previous placement together: stability runs from the placement before.
    assert out["stability_start_date"].iloc[3] == pd.Timestamp("2012-01-01")
    assert out["stability_start_date"].iloc[2] == pd.Timestamp("2012-01-01")


def test_care_ladder_categories():
    frame = episodes(
        [
            ("d", "2015-01-01", None, "S", "C2", "K2", "PR4"),
            ("e", "2015-01-01", None, "S", "C2", "R1", "PR1"),
            ("f", "2015-01-01", None, "S", "C2", "U4", "PR5"),
            ("g", "2015-01-01", None, "S", "C2", "U1", "PR1"),
            ("h", "2015-01-01", None, "S", "C2", "P1", "PR0"),
        ]
    )
    out = derivations.add_derived_fields("cla_episodes", frame, {}, ["care_ladder_category"])
    assert out["care_ladder_category"].tolist() == [
        "out_of_authority_residential",
        "internal_residential",
        "independent_fostering",
        "trust_foster_carers",
        "other",
    ]


def test_care_ladder_adds_special_guardianship_until_eighteen():
    frame = episodes([("s", "2012-01-01", "2014-03-01", "S", "C2", "U4", "PR1")])
    frame["reason_ceased"] = ["E45"]
    children = pd.DataFrame({"child_id": ["s"], "date_of_birth": D(["2005-07-15"])})
    ladder = derivations.build_derived_table(
        "care_ladder", {"cla_episodes": frame, "children": children}
    )
    sgo = ladder[ladder["category"] == "special_guardianship"]
    assert spans_of(sgo) == [tuple(D(["2014-03-01", "2023-07-15"]))]


# --- care leavers -----------------------------------------------------------------------------


def test_care_leaver_status_from_the_contact_nearest_the_birthday():
    leavers = pd.DataFrame(
        {
            "child_id": ["k", "m"],
            "date_of_birth": D(["1996-10-15", "1996-11-01"]),
            "qualifying": [True, True],
        }
    )
    contacts = pd.DataFrame(
        {
            "contact_id": ["c1", "c2", "c3", "c4"],
            "child_id": ["k", "k", "k", "m"],
            # k's 19th birthday is 15 Oct 2015: window 15 Jul to 15 Nov 2015
            "contact_date": D(["2015-07-01", "2015-09-01", "2015-11-10", "2016-03-01"]),
            "in_touch": [True, True, True, True],
            "activity": ["eet", "neet", "F1", "eet"],
            "accommodation_suitable": [True, False, True, True],
        }
    )
    table = derivations.build_derived_table(
        "care_leaver_birthdays", {"care_leavers": leavers, "care_leaver_contacts": contacts}
    )
    k19 = table[(table.child_id == "k") & (table.age == 19)].iloc[0]
    # c1 is outside the window; c3 (26 days after) is nearer than c2 (44 days before).
    assert (k19.contact_date, k19.in_touch, k19.eet, k19.accommodation_suitable) == (
        pd.Timestamp("2015-11-10"),
        True,
        True,
        True,
    )
    m19 = table[(table.child_id == "m") & (table.age == 19)].iloc[0]
    # m's only contact is 4 months after the birthday: not in touch, kept in the denominator.
    assert (bool(m19.in_touch), bool(m19.eet), bool(m19.qualifying)) == (False, False, True)
    assert len(table) == 6  # 19th, 20th and 21st birthdays for each leaver


# --- spells -----------------------------------------------------------------------------------


def cp_history() -> dict[str, pd.DataFrame]:
    plans = pd.DataFrame(
        {
            "cp_plan_id": ["p"],
            "child_id": ["a"],
            "start_date": D(["2015-01-01"]),
            "end_date": D(["2015-04-01"]),
        }
    )
    visits = pd.DataFrame(
        {
            "visit_id": ["v1", "v2", "v3"],
            "child_id": ["a"] * 3,
            "visit_date": D(["2015-01-10", "2015-02-20", "2015-03-01"]),
            "child_seen": [True, True, False],  # a visit that did not see the child
        }
    )
    return {"cp_plans": plans, "cp_visits": visits}


def test_cp_unvisited_spells_start_after_14_days_without_a_visit_past_day_28():
    spells = derivations.build_derived_table("cp_unvisited_spells", cp_history())
    # After the 10 Jan visit the child is overdue from 25 Jan, but not before day 29 of the
    # plan (30 Jan), until the 20 Feb visit. Year 1 counts the 1 March visit although it did
    # not see the child (seed 001 lines 1981, 1985): overdue from 16 Mar until the plan ends.
    assert spans_of(spells) == [
        tuple(D(["2015-01-30", "2015-02-20"])),
        tuple(D(["2015-03-16", "2015-04-01"])),
    ]


def test_cp_visited_spells_are_the_rest_of_the_plan_after_day_28():
    spells = derivations.build_derived_table("cp_visited_spells", cp_history())
    # from day 29 (30 Jan) the child is in timescale for the visit day and 14 days after it:
    # 20 Feb to 6 Mar (joined with 1 Mar to 15 Mar); the complement of cp_unvisited_spells
    # within the plan's open days after day 28
    assert spans_of(spells) == [tuple(D(["2015-02-20", "2015-03-16"]))]
    unvisited = derivations.build_derived_table("cp_unvisited_spells", cp_history())
    days = set()
    for start, end in spans_of(spells) + spans_of(unvisited):
        span = set(pd.date_range(start, end - pd.Timedelta(days=1)))
        assert not days & span
        days |= span
    assert days == set(pd.date_range("2015-01-30", "2015-03-31"))


def test_assessed_cin_cases_start_when_the_assessment_completes():
    referrals = pd.DataFrame(
        {
            "referral_id": ["r1", "r2", "r3", "r4"],
            "child_id": ["a", "a", "b", "c"],
            "referral_date": D(["2015-01-01", "2015-02-01", "2015-03-01", "2015-04-01"]),
            "outcome": ["assessment", "nfa", "assessment", "assessment"],
            "closure_date": D(["2015-12-01", "2015-02-02", None, "2015-04-20"]),
        }
    )
    assessments = pd.DataFrame(
        {
            "assessment_id": ["s1", "s2", "s3", "s4"],
            "child_id": ["a", "a", "b", "c"],
            "referral_id": ["r1", "r1", "r3", "r4"],
            "start_date": D(["2015-01-02", "2015-05-01", "2015-03-02", "2015-04-02"]),
            # a's first completed assessment counts; b's is still open; c's case closed the
            # day its assessment completed (no further action)
            "completed_date": D(["2015-02-10", "2015-06-01", None, "2015-04-20"]),
        }
    )
    cin = pd.DataFrame(
        {
            "cin_plan_id": ["n"],
            "child_id": ["a"],
            "start_date": D(["2015-03-01"]),
            "end_date": D([None]),
        }
    )
    empty_plans = pd.DataFrame(
        {"cp_plan_id": [], "child_id": [], "start_date": D([]), "end_date": D([])}
    )
    tables = {
        "referrals": referrals,
        "assessments": assessments,
        "cin_plans": cin,
        "cp_plans": empty_plans,
        "cla_episodes": episodes([]),
    }
    cases = derivations.build_derived_table("cin_cases", tables)
    assert len(cases) == 3  # from referral: a, b and c
    assessed = derivations.build_derived_table("assessed_cin_cases", tables)
    assert spans_of(assessed) == [tuple(D(["2015-02-10", "2015-12-01"]))]
    with_plan = derivations.build_derived_table("assessed_cin_cases_with_plan", tables)
    assert spans_of(with_plan) == [tuple(D(["2015-03-01", "2015-12-01"]))]


def test_care_leaver_19th_birthdays_take_those_looked_after_on_1_april_at_16():
    # seed 001 lines 2084 and 2107: "looked after under any legal status (other than V3 or V4)
    # on 1 April in their 17th year": the 1 April on which the young person is 16
    leavers = pd.DataFrame(
        {
            "child_id": ["a", "b", "c", "d", "e"],
            "date_of_birth": D(
                ["1996-04-01", "1996-04-02", "1996-03-31", "1996-06-01", "1996-06-01"]
            ),
            "qualifying": [False, True, True, True, True],
        }
    )
    contacts = pd.DataFrame(
        {
            "contact_id": ["k1"],
            "child_id": ["a"],
            "contact_date": D(["2015-04-01"]),
            "in_touch": [True],
            "activity": ["eet"],
            "accommodation_suitable": [True],
        }
    )
    looked_after = episodes(
        [
            # a is 16 on 1 April 2012 (the birthday itself): in care that day
            ("a", "2012-01-01", "2012-04-02", "S", "C2", "U4", "PR1"),
            # b turns 16 on 2 April 2012, so its 1 April is 2013: the episode ended before it
            ("b", "2012-01-01", "2013-01-01", "S", "C2", "U4", "PR1"),
            # c turns 16 on 31 March 2012: 1 April 2012, the day the episode ended (not open)
            ("c", "2011-01-01", "2012-04-01", "S", "C2", "U4", "PR1"),
            # d: 1 April 2013, under short breaks only
            ("d", "2013-01-01", None, "S", "V3", "U4", "PR1"),
            # e: 1 April 2013, in care
            ("e", "2012-06-01", "2014-01-01", "S", "C2", "U4", "PR1"),
        ]
    )
    tables = {
        "care_leavers": leavers,
        "care_leaver_contacts": contacts,
        "cla_episodes": looked_after,
    }
    table = derivations.build_derived_table("care_leaver_19th_birthdays", tables)
    assert list(table.child_id) == ["a", "e"]
    assert list(table.birthday) == list(D(["2015-04-01", "2015-06-01"]))
    assert list(table.accommodation_suitable) == [True, False]  # e not in touch: stays in


def test_every_declared_derived_name_is_computed():
    for field in derived.DERIVED_FIELDS:
        assert (field.table, field.name) in derivations._FIELDS
    assert set(derived.DERIVED_TABLES) == set(derivations._TABLES)


# --- interval algebra, against a day-by-day reference ----------------------------------------

_DAY0 = pd.Timestamp("2015-01-01")


def _days_inside(frame: pd.DataFrame, horizon: int) -> set[tuple[str, int]]:
    out = set()
    for child, start, end in frame[["child_id", "start_date", "end_date"]].itertuples(index=False):
        last = horizon if pd.isna(end) else (end - _DAY0).days
        out.update((child, d) for d in range((start - _DAY0).days, last))
    return out


spans = st.lists(
    st.tuples(
        st.sampled_from(["a", "b"]),
        st.integers(0, 40),
        st.one_of(st.none(), st.integers(0, 15)),
    ),
    max_size=8,
)


def _frame(rows: list[tuple[str, int, int | None]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "child_id": [r[0] for r in rows],
            "start_date": [_DAY0 + pd.Timedelta(days=r[1]) for r in rows],
            "end_date": [
                NaT if r[2] is None else _DAY0 + pd.Timedelta(days=r[1] + r[2]) for r in rows
            ],
        },
        columns=intervals.COLUMNS,
    ).astype({"start_date": "datetime64[ns]", "end_date": "datetime64[ns]"})


@settings(max_examples=150, deadline=None)
@given(spans, spans)
def test_merge_and_intersect_cover_the_same_days_as_a_day_by_day_count(a, b):
    fa, fb = _frame(a), _frame(b)
    horizon = 80
    merged = intervals.merge(intervals.from_frame(fa)).frame()
    assert _days_inside(merged, horizon) == _days_inside(fa, horizon)
    # merged spells are disjoint and not adjacent: each child's next start is after its end
    for _, g in merged.groupby("child_id"):
        ends = g["end_date"].iloc[:-1].to_numpy()
        starts = g["start_date"].iloc[1:].to_numpy()
        assert (starts > ends).all()
    both = intervals.intersect(intervals.from_frame(fa), intervals.from_frame(fb)).frame()
    assert _days_inside(both, horizon) == _days_inside(fa, horizon) & _days_inside(fb, horizon)
    # spells merged already (a derived table read back) are recognised, not sorted again
    again = intervals.from_frame(merged)
    assert intervals.merge(again) is again or not len(merged)
    pre_merged = intervals.intersect(again, intervals.merge(intervals.from_frame(fb))).frame()
    assert pre_merged.equals(both)


@settings(max_examples=100, deadline=None)
@given(
    pairs=st.lists(
        st.tuples(
            st.integers(min_value=-1, max_value=3_000_000),
            st.integers(min_value=intervals.EARLIEST_DAY, max_value=intervals.OPEN_DAY),
        ),
        min_size=1,
    )
)
def test_a_packed_key_is_the_group_and_day_side_by_side_and_sorts_as_they_do(pairs):
    # intervals.pack adds the offset day where the definition ORs it in: the same number
    group = np.array([g for g, _ in pairs], dtype=np.int32)
    day = np.array([d for _, d in pairs], dtype=np.int64)
    key = intervals.pack(group, day)
    assert (key == ((group.astype(np.int64) << 20) | (day + (1 << 19)))).all()
    assert list(np.argsort(key, kind="stable")) == list(np.lexsort((day, group)))
