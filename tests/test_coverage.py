"""No rating without the data behind it (issue 11): coverage, sums that give no number, small
numbers and every declared breakdown category, each on a hand-worked extract.

The rules are in kpi_engine.coverage (periods the extract does not cover) and kpi_engine.engine
(not-computable sums, ``low_count``). Dates are chosen so every expected row can be checked on
a calendar.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from kpi_engine import engine, load_definitions
from kpi_engine.cli import cli
from kpi_engine.definitions import Definition
from kpi_engine.periods import parse_month
from kpi_engine.validation import load_folder

Y2 = load_definitions("contract-2016-17")


def referrals(dates: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "referral_id": [f"r{i}" for i in range(len(dates))],
            "child_id": [f"c{i}" for i in range(len(dates))],
            "referral_date": pd.to_datetime(dates),
        }
    )


def count_of_referrals(**window: object) -> Definition:
    return Definition.model_validate(
        {
            "id": "T1",
            "name": "Referrals in the last 12 months",
            "group": "children_in_need",
            "contract": False,
            "description": "A test count over a rolling window.",
            "source": "tests/test_coverage.py hand-worked case",
            "unit": "count",
            "rounding": 0,
            "polarity": "lower_is_better",
            "frequency": "monthly",
            "window": {"type": "rolling", "months": 12, **window},
            "numerator": {"table": "referrals", "date": "referral_date"},
        }
    )


# one referral a month, 10 January 2015 to 10 March 2016
MONTHLY = referrals([f"{y}-{m:02d}-10" for y, m in [(2015, m) for m in range(1, 13)]] + [
    "2016-01-10", "2016-02-10", "2016-03-10",
])  # fmt: skip


def one(out: pd.DataFrame, period: str) -> pd.Series:
    hit = out[(out.period == period) & (out.breakdown == "")]
    assert len(hit) == 1, out
    return hit.iloc[0]


def test_a_window_needing_history_before_the_first_record_is_no_data():
    months = [parse_month(p) for p in ("2015-11", "2015-12", "2016-03")]
    out = engine.compute({"referrals": MONTHLY}, [count_of_referrals()], months)
    nov = one(out, "2015-11")  # its window runs from December 2014: a month before the data
    assert (nov.status, np.isnan(nov.numerator)) == ("NO DATA", True)
    assert nov.note == (
        "its 12-month window from 2014-12 starts before the first record in referrals "
        "(2015-01); partial windows are off (window.partial, --partial-windows)"
    )
    assert one(out, "2015-12").numerator == 12  # January to December 2015: the whole window
    assert one(out, "2016-03").numerator == 12  # April 2015 to March 2016


def test_partial_windows_when_the_definition_or_the_run_asks():
    month = [parse_month("2015-11")]
    by_definition = engine.compute(
        {"referrals": MONTHLY}, [count_of_referrals(partial=True)], month
    )
    by_run = engine.compute(
        {"referrals": MONTHLY}, [count_of_referrals()], month, partial_windows=True
    )
    # January to November 2015: 11 referrals over the 11 months the extract holds
    assert one(by_definition, "2015-11").numerator == 11
    assert one(by_run, "2015-11").numerator == 11


def test_without_an_extract_date_a_period_after_the_last_record_is_no_data():
    out = engine.compute({"referrals": MONTHLY}, [count_of_referrals()], [parse_month("2016-05")])
    r = one(out, "2016-05")
    # the window (June 2015 to May 2016) starts before the last record: still counted ...
    assert (r.status, r.numerator) == ("NO TARGET SET", 10)
    late = engine.compute({"referrals": MONTHLY}, [count_of_referrals()], [parse_month("2017-04")])
    # ... but May 2016 to April 2017 holds nothing of the extract
    assert one(late, "2017-04").note == (
        "period 2017-04 is after the last record in referrals (2016-03)"
    )


def test_the_extract_date_cuts_off_incomplete_and_later_months():
    d = count_of_referrals()
    months = [parse_month(p) for p in ("2016-02", "2016-03", "2016-04")]
    out = engine.compute({"referrals": MONTHLY}, [d], months, extract_date=dt.date(2016, 3, 15))
    assert one(out, "2016-02").numerator == 12
    assert (
        one(out, "2016-03").note
        == "period 2016-03 ends after the extract date 2016-03-15 (incomplete)"
    )
    assert one(out, "2016-04").note == "period 2016-04 is after the extract date 2016-03-15"
    assert not out.low_count.any()


def test_compute_after_the_extract_date_prints_no_data_with_the_reason_and_exits_0():
    result = CliRunner().invoke(cli, ["compute", "--period", "2025-01", "--format", "csv"])
    assert result.exit_code == 0, result.output
    out = pd.read_csv(io.StringIO(result.stdout), keep_default_na=False)
    assert set(out.status) == {"NO DATA"}  # A6 was "100% OFF TARGET" on an empty window
    active = out[~out.note.str.startswith("no data source")]
    # quarterly measures report their last quarter, December 2024
    assert set(active.note) == {
        f"period {p} is after the extract date 2016-04-01" for p in ("2025-01", "2024-12")
    }
    assert (active.value == "").all() and (active.numerator == "").all()


def test_the_scorecard_never_judges_a_month_the_extract_does_not_cover(tmp_path: Path):
    output = tmp_path / "scorecard.csv"
    result = CliRunner().invoke(
        cli, ["scorecard", "--period", "2016-04", "--output", str(output), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    card = pd.read_csv(output, keep_default_na=False)
    referral_rate = card[card.indicator_id == "REFERRAL-RATE"].iloc[0]
    # was: latest 0 and "improving" (a month of one day's referrals against six whole months)
    assert (referral_rate.status, referral_rate.trend_6m, referral_rate.latest) == (
        "NO DATA",
        "",
        "",
    )
    meta = json.loads((tmp_path / "scorecard.csv.meta.json").read_text())
    assert any("have no figure for 2016-04" in w for w in meta["warnings"]), meta["warnings"]


# --- sums that give no number ------------------------------------------------------------------


def staff(fte: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "staff_id": [f"s{i}" for i in range(len(fte))],
            "frontline": [True] * len(fte),
            "employment_type": ["agency", "permanent"] * (len(fte) // 2)
            + ["agency"] * (len(fte) % 2),
            "fte": fte,
            "start_date": pd.to_datetime(["2014-01-01"] * len(fte)),
            "end_date": pd.to_datetime([None] * len(fte)),
        }
    )


@pytest.mark.parametrize(
    ("expression", "bad"),
    [
        ("fte / (fte - fte)", 2),  # both agency rows divide by zero (was ON TARGET, 0)
        ("fte / (fte - 1)", 1),  # the agency worker on 1.0 FTE divides by zero
        ("coalesce(fte, 0) / (fte - 0.25)", 0),  # every agency row computes
        ("fte * if_else(fte > 0.75, 1 / 0, 1)", 1),  # null where the 1.0 FTE row divides
    ],
)
def test_a_sum_with_rows_giving_no_number_is_no_data_with_the_reason(expression, bad):
    c14 = Y2.get("C14")
    d = c14.model_copy(
        update={"numerator": c14.numerator.model_copy(update={"sum": expression})}  # type: ignore[union-attr]
    )
    # agency (the numerator): 1.0 and 0.5 FTE; permanent: 0.5 and 0.5
    out = engine.compute(
        {"staff": staff([1.0, 0.5, 0.5, 0.5])},
        [d],
        [parse_month("2016-03")],
        extract_date=dt.date(2016, 3, 31),
    )
    r = one(out, "2016-03")
    if not bad:  # 1.0 / 0.75 + 0.5 / 0.25 = 3.33 over 2.5 FTE: 133%
        # FTE is a quantity, not cases: no small-number flag on a sum
        assert (r.status, r.value, r.note, r.low_count) == ("OFF TARGET", 133, "", False)
        return
    assert (r.status, r.rag, np.isnan(r.value)) == ("NO DATA", "", True)
    assert r.note == (
        f"numerator: {bad} row{'s' if bad > 1 else ''} not computable ({expression!r} gives "
        "no number: a null, or a division by zero)"
    )


def test_an_infinite_fte_is_no_data_not_a_red_100_percent():
    # issue 12: one `inf` FTE once made C14 "100%" Red (summed as 1.8e308)
    out = engine.compute(
        {"staff": staff([float("inf"), 0.5, 0.5, 0.5])},
        [Y2.get("C14")],
        [parse_month("2016-03")],
        extract_date=dt.date(2016, 3, 31),
    )
    r = one(out, "2016-03")
    assert (r.status, r.rag) == ("NO DATA", "")
    # the agency worker's row is in both: the numerator is named first
    assert r.note.startswith("numerator: 1 row not computable ('fte' gives no number")


# --- small numbers -----------------------------------------------------------------------------


def proceedings(rows: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "proceedings_id": [f"p{i}" for i in range(len(rows))],
            "child_id": [f"c{i}" for i in range(len(rows))],
            "issue_date": pd.to_datetime([r[0] for r in rows]),
            "final_order_date": pd.to_datetime([r[1] for r in rows]),
        }
    )


def test_b8_on_one_case_is_rated_with_the_low_count_caveat():
    # Seed 001 lines 2043-2044: B8's "averages can be based on very small numbers (<10)".
    # Quarter to March 2016, a month behind (lag 1): final orders December to February.
    # One case: issued 1 June 2015, final order 29 January 2016 = 242 days = 34.6 -> 35 weeks.
    # (A case completed in June 2015 is the history the window needs.)
    table = proceedings([("2015-01-05", "2015-06-10"), ("2015-06-01", "2016-01-29")])
    out = engine.compute(
        {"care_proceedings": table},
        [Y2.get("B8")],
        [parse_month("2016-03")],
        extract_date=dt.date(2016, 3, 31),
    )
    r = one(out, "2016-03")
    assert (r.denominator, r.value, r.status, r.rag) == (1, 35, "OFF TARGET", "Red")
    assert (r.low_count, r.note) == (True, "low count: 1 case (threshold 5)")


def test_the_threshold_comes_from_the_definition_else_the_set(tmp_path: Path):
    folder = tmp_path / "small"
    folder.mkdir()
    source = Path(Y2.path or "") / "B8.yaml"
    (folder / "B8.yaml").write_text(source.read_text())
    (folder / "A2.yaml").write_text(
        (Path(Y2.path or "") / "A2.yaml").read_text() + "min_count: 2\n"
    )
    (folder / "set.yaml").write_text("name: small\ntitle: Small\nmin_count: 10\n")
    loaded, problems = load_folder(folder)
    assert problems == [] and loaded is not None
    assert {d.id: d.min_count for d in loaded.definitions} == {"A2": 2, "B8": 10}
    # five cases: flagged under the set's 10, as the seed's "<10" reading would have it
    table = proceedings([("2015-01-05", "2015-06-10")] + [("2015-09-01", "2016-01-15")] * 5)
    out = engine.compute(
        {"care_proceedings": table},
        [loaded.get("B8")],
        [parse_month("2016-03")],
        extract_date=dt.date(2016, 3, 31),
    )
    assert one(out, "2016-03").note == "low count: 5 cases (threshold 10)"


# --- every declared category -------------------------------------------------------------------


def test_a3_reports_every_grade_zero_included():
    # Seed 001 "Contract Measures for Year 2", A3: "provide breakdown for each category".
    audits = pd.DataFrame(
        {
            "audit_id": ["a1", "a2", "a3", "a4"],
            "child_id": ["c1", "c2", "c3", "c4"],
            "audit_date": pd.to_datetime(["2016-02-03", "2016-03-02", "2016-03-09", "2016-03-30"]),
            "grade": ["good", "good", "requires_improvement", "inadequate"],
            "audit_type": ["routine"] * 4,
        }
    )
    out = engine.compute(
        {"case_audits": audits},
        [Y2.get("A3")],
        [parse_month("2016-03")],
        extract_date=dt.date(2016, 3, 31),
    )
    rows = out.set_index("breakdown")
    # March: 3 routine audits, good 1, requires improvement 1, inadequate 1, outstanding none
    assert list(rows.index) == ["", "outstanding", "good", "requires_improvement", "inadequate"]
    assert list(rows.numerator) == [2, 0, 1, 1, 1]
    assert list(rows.value) == [67, 0, 33, 33, 33]
    assert rows.loc["outstanding", "status"] == "NO TARGET SET"
    # the target (95%, seed 001) is the headline's: no grade's share is shown beside it
    assert rows.loc["", "target"] == 95
    assert rows.drop(index="")[["target", "tolerance"]].isna().all().all()
    # a share rests on the month's 3 audits: the whole figure and each grade carry the caveat
    assert rows.low_count.all()
