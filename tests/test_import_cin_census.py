"""Reading the children in need census XML into extract tables, and computing from it.

The fixtures in tests/fixtures/cin_census are hand-written: 2015.xml (three children: two
referrals of C1, the second NFA; C2 open with an assessment and a CP plan, its elements out of
order and in the DfE namespace; C3 unborn), 2016.xml (C2 again, now closed; C4 new), 2024.xml
(GenderCurrent in place of Sex), bad.xml (every bad input, one per record) and files that are
not a census. Expected rows are worked by hand from them; the census layout and codes are those
of /work/shared/docs/statutory-returns.md ("Children in need census").
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from kpi_engine import compute
from kpi_engine.extract import load_extract
from kpi_engine.importers import ImportFailure, import_returns
from kpi_engine.importers.cin_census import read_cin_census

FIXTURES = Path(__file__).parent / "fixtures" / "cin_census"
CHILD = "/Message/Children/Child"
T = pd.Timestamp


def rows(frame: pd.DataFrame, *columns: str) -> list[tuple[object, ...]]:
    shown = frame[list(columns)].astype(object).where(frame[list(columns)].notna(), None)
    return [tuple(r) for r in shown.itertuples(index=False)]


def rejections(name: str) -> list[tuple[str, str, str, str, str]]:
    read = read_cin_census(FIXTURES / name)
    return sorted((r.table, r.location, r.field, r.value, r.reason) for r in read.rejections)


def test_header_gives_the_year_and_the_authority() -> None:
    read = read_cin_census(FIXTURES / "2015.xml")
    assert (read.kind, read.year, read.authority) == ("cin_census", 2015, "999")
    assert len(read.sha256) == 64
    assert read.records_read == {
        "children": 3,
        "referrals": 4,
        "assessments": 2,
        "cin_plans": 1,
        "cp_plans": 1,
    }
    assert read.rejections == []


def test_children_sex_ethnicity_disability_and_the_unborn() -> None:
    children = read_cin_census(FIXTURES / "2015.xml").tables["children"]
    assert rows(children, "child_id", "date_of_birth", "sex", "ethnicity", "disabled") == [
        ("C1", T("2005-03-10"), "M", "WBRI", False),  # Disability NONE
        ("C2", T("2010-07-01"), "F", "MWBC", True),  # NONE and AUT: a disability is named
        ("C3", T("2015-06-01"), "U", "NOBT", None),  # unborn: expected date; Sex 0; no element
    ]
    assert list(children["_location"]) == [f"{CHILD}[1]", f"{CHILD}[2]", f"{CHILD}[3]"]


def test_referrals_get_ids_from_child_and_referral_date() -> None:
    referrals = read_cin_census(FIXTURES / "2015.xml").tables["referrals"]
    columns = ("referral_id", "child_id", "referral_date", "source", "outcome", "closure_date")
    assert rows(referrals, *columns) == [
        ("C1/2014-05-01", "C1", T("2014-05-01"), "1A", "assessment", T("2015-02-20")),
        ("C1/2015-03-15", "C1", T("2015-03-15"), "5A", "nfa", T("2015-03-16")),  # NFA "1"
        ("C2/2014-09-01", "C2", T("2014-09-01"), "2A", "assessment", None),  # "FALSE", <x/>
        ("C3/2015-01-10", "C3", T("2015-01-10"), "3B", "nfa", T("2015-01-12")),  # "true"
    ]
    assert referrals["_location"][1] == f"{CHILD}[1]/CINdetails[2]"


def test_records_inside_a_referral_whatever_the_element_order() -> None:
    tables = read_cin_census(FIXTURES / "2015.xml").tables
    columns = ("assessment_id", "referral_id", "start_date", "completed_date")
    assert rows(tables["assessments"], *columns) == [
        ("C1/2014-05-02", "C1/2014-05-01", T("2014-05-02"), T("2014-06-10")),
        # C2's elements stand in no schema order; the start date has spaces around it
        ("C2/2014-09-03", "C2/2014-09-01", T("2014-09-03"), None),
    ]
    assert rows(tables["cin_plans"], "cin_plan_id", "child_id", "start_date", "end_date") == [
        ("C1/2014-06-12", "C1", T("2014-06-12"), T("2015-02-20"))
    ]
    # the latest category of abuse wins over the initial one
    assert rows(tables["cp_plans"], "cp_plan_id", "start_date", "end_date", "category") == [
        ("C2/2014-10-20", T("2014-10-20"), None, "neglect")
    ]
    assert tables["cp_plans"]["_location"][0] == f"{CHILD}[2]/CINdetails[1]/ChildProtectionPlans[1]"


def test_gender_current_replaces_sex_from_2023() -> None:
    read = read_cin_census(FIXTURES / "2024.xml")
    assert read.year == 2024
    assert rows(read.tables["children"], "child_id", "sex", "ethnicity", "disabled") == [
        ("C5", "F", "WBRI", None),
        ("C6", "U", None, None),  # 9: not stated; no ChildCharacteristics at all
    ]
    assert rows(read.tables["cin_plans"], "cin_plan_id", "end_date") == [("C5/2024-01-15", None)]


def test_every_bad_value_is_rejected_with_its_element_path() -> None:
    c1, c2, c3 = f"{CHILD}[1]", f"{CHILD}[2]", f"{CHILD}[3]"
    assert rejections("bad.xml") == sorted(
        [
            ("children", c1, "PersonBirthDate", "10/03/2005", "not a date (expected YYYY-MM-DD)"),
            ("children", c1, "Sex", "7",
             "not a sex code (expected 1 male, 2 female, 0 not known, 9 not stated)"),
            ("children", c2, "LAchildID", "", "missing: no child id"),
            ("children", c3, "PersonBirthDate", "", "missing (nor an ExpectedPersonBirthDate)"),
            ("children", c3, "Sex", "", "missing (required)"),
            ("referrals", f"{c1}/CINdetails[2]", "ReferralNFA", "maybe",
             "not true/false (expected true, false, 1 or 0)"),
            ("referrals", f"{c1}/CINdetails[3]", "CINreferralDate", "", "missing (required)"),
            ("referrals", f"{c1}/CINdetails[4]", "CINclosureDate", "2015-11-01",
             "closed before it started (CINreferralDate 2015-11-10)"),
            ("referrals", f"{c1}/CINdetails[5]", "CINreferralDate", "2016-04-02",
             "in the future (after the census reference date, 2016-03-31)"),
            ("referrals", f"{c2}/CINdetails[1]", "LAchildID", "", "the child has no LAchildID"),
            ("assessments", f"{c1}/CINdetails[1]/Assessments[1]", "AssessmentAuthorisationDate",
             "2015-05-03", "completed before it started (AssessmentActualStartDate 2015-05-10)"),
            ("cin_plans", f"{c1}/CINdetails[1]/CINPlanDates[1]", "CINPlanEndDate", "2017-01-01",
             "in the future (after the census reference date, 2016-03-31)"),
            ("cin_plans", f"{c2}/CINdetails[1]/CINPlanDates[1]", "LAchildID", "",
             "the child has no LAchildID"),
            ("cin_plans", f"{c2}/CINdetails[1]/CINPlanDates[1]", "CINPlanEndDate", "2015-04-01",
             "ended before it started (CINPlanStartDate 2015-05-01)"),
            ("cin_plans", f"{c3}/CINdetails[1]/CINPlanDates[1]", "CINPlanEndDate", "2015-04-01",
             "ended before it started (CINPlanStartDate 2015-05-01)"),
            ("cp_plans", f"{c1}/CINdetails[1]/ChildProtectionPlans[1]", "LatestCategoryOfAbuse",
             "XYZ", "not a category of abuse (expected NEG, PHY, EMO, SAB or MUL)"),
        ]
    )  # fmt: skip


def test_what_survives_a_bad_file_and_the_counts_reconcile() -> None:
    read = read_cin_census(FIXTURES / "bad.xml")
    tables = read.tables
    assert rows(tables["referrals"], "referral_id", "outcome") == [
        ("B1/2015-05-01", "assessment"),
        ("B3/2015-04-20", None),  # no ReferralNFA: outcome not known
    ]
    # the assessment of the rejected referral is kept, without the link to it
    assert rows(tables["assessments"], "assessment_id", "referral_id") == [("B1/2015-09-02", None)]
    assert tables["children"].empty and tables["cin_plans"].empty and tables["cp_plans"].empty
    rejected_rows = {
        (r.table, r.location) for r in read.rejections
    }  # a row may break several rules: counted once
    for name, frame in tables.items():
        lost = sum(1 for table, _ in rejected_rows if table == name)
        assert read.records_read[name] == len(frame) + lost, name


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("school_census.xml", "not a children in need census: /Message/Header[1]/"
         "CollectionDetails/Collection is 'SC', a census says 'CIN'"),
        ("ssda903.xml", "not a children in need census: its root element is <EXPSSDA903>, a "
         "census starts <Message> (an SSDA903 XML file: use kpi import ssda903)"),
        ("broken.xml", "broken.xml:5:4: not well-formed XML (mismatched tag)"),
        ("billion_laughs.xml", "refused: the file declares a DTD or entities"),
    ],
)  # fmt: skip
def test_a_file_that_is_not_a_census_gets_one_clear_message(name: str, message: str) -> None:
    began = time.perf_counter()
    with pytest.raises(ImportFailure) as failure:
        read_cin_census(FIXTURES / name)
    assert message in str(failure.value)
    assert str(FIXTURES / name) in str(failure.value)
    assert time.perf_counter() - began < 2  # a hostile file is refused, not expanded


@pytest.fixture(scope="module")
def stacked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("census") / "extract"
    report = import_returns(
        [read_cin_census(FIXTURES / "2015.xml"), read_cin_census(FIXTURES / "2016.xml")], out
    )
    return out, report


def test_two_years_stack_into_one_record_each(stacked: tuple[Path, object]) -> None:
    out, report = stacked
    referrals = load_extract(out, ["referrals"]).tables["referrals"]
    # C2's referral is in both years: once, with 2016's closure date
    assert sorted(referrals["referral_id"]) == [
        "C1/2014-05-01", "C1/2015-03-15", "C2/2014-09-01", "C3/2015-01-10", "C4/2015-06-01",
    ]  # fmt: skip
    c2 = referrals[referrals["referral_id"] == "C2/2014-09-01"]
    assert str(c2["closure_date"].iloc[0])[:10] == "2015-11-30"
    counts = report.counts  # type: ignore[attr-defined]
    assert (counts["referrals"].read, counts["referrals"].merged) == (6, 1)
    assert (counts["cp_plans"].read, counts["cp_plans"].imported) == (3, 2)
    # the plan's latest category changed between the years: reported, the later kept
    findings = [(f.table, f.record, f.field, f.earlier, f.later) for f in report.findings]  # type: ignore[attr-defined]
    assert findings == [("cp_plans", "C2/2014-10-20", "category", "neglect", "physical")]


def test_indicators_from_the_census_worked_by_hand(stacked: tuple[Path, object]) -> None:
    out, _ = stacked
    # a few hand-written children, no history before them: windows read as far as they reach
    got = compute(
        out, "contract-2016-17", ["2015-03", "2015-04", "2015-09"], partial_windows=True
    ).set_index(["indicator_id", "period"])

    def figure(indicator: str, period: str) -> tuple[float, float]:
        row = got.loc[(indicator, period)]
        return float(row["numerator"]), float(row["denominator"])

    # A1 (re-referrals, rolling 12 months): to March 2015 the referrals are C1 2014-05-01,
    # C2 2014-09-01, C3 2015-01-10 and C1 2015-03-15, the last within 12 months of C1's first
    assert figure("A1", "2015-03") == (1, 4)
    # to September 2015: C3, C1 (re-referral) and C4 2015-06-01
    assert figure("A1", "2015-09") == (1, 3)
    # A2: C2's assessment, 2014-09-03 to 2015-04-20, far beyond 45 working days
    assert figure("A2", "2015-04") == (0, 1)
    # A6: on a plan at the end of September 2015: C2 (since 2014-10-20, 345 days) and C4
    assert figure("A6", "2015-09") == (0, 2)
    # A5: C4's plan starting September 2015 is the child's first
    assert figure("A5", "2015-09") == (0, 1)
    # what the census cannot carry is NO DATA with the reason
    assert got.loc[("B10", "2015-09"), "status"] == "NO DATA"
    assert "cla_episodes" in got.loc[("B10", "2015-09"), "note"]
