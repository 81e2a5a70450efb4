"""Writing the returns an authority would have sent, from a small hand-made extract.

Three children over collection years 2014-15 and 2015-16. K1 is referred in May 2014 (closed
June 2015), assessed, on a CIN plan (to May 2015) and a CP plan (open), and looked after from
November 2014 (a move in April 2015); K2 is a care leaver whose 19th and 20th birthdays fall in
the two years; K3 is referred (NFA) in February 2016. The rules come from
/work/shared/docs/statutory-returns.md: a return holds every record open at any time in its
year, and only what was known on 31 March.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from kpi_engine.cli import cli
from kpi_engine.importers import read_ssda903
from kpi_engine.importers.cin_census import read_cin_census
from kpi_engine.importers.returns_writer import (
    CollectionYear,
    ReturnsError,
    _census_source,
    _empty,
    census_xml,
    collection_years,
    write_returns,
)

EXTRACT = {
    "children": [
        ("child_id", "date_of_birth", "sex", "ethnicity", "disabled"),
        ("K1", "2004-06-15", "M", "WBRI", "false"),
        ("K2", "1995-05-20", "F", "WBRI", ""),
        ("K3", "2010-01-01", "U", "NOBT", "true"),
    ],
    "referrals": [
        ("referral_id", "child_id", "referral_date", "source", "outcome", "closure_date"),
        ("R1", "K1", "2014-05-01", "1A", "assessment", "2015-06-30"),
        ("R2", "K1", "2013-01-10", "2A", "early_help", "2013-01-20"),
        ("R3", "K3", "2016-02-01", "5A", "nfa", "2016-02-02"),
    ],
    "assessments": [
        ("assessment_id", "child_id", "referral_id", "start_date", "completed_date"),
        ("A1", "K1", "R1", "2014-05-02", "2014-06-10"),
    ],
    "cin_plans": [
        ("cin_plan_id", "child_id", "start_date", "end_date"),
        ("N1", "K1", "2014-06-12", "2015-05-01"),
    ],
    "cp_plans": [
        ("cp_plan_id", "child_id", "start_date", "end_date", "category"),
        ("P0", "K1", "2012-01-01", "2012-06-01", "physical"),  # before any referral
        ("P1", "K1", "2014-10-01", "", "neglect"),
    ],
    "cla_episodes": [
        (
            "episode_id",
            "child_id",
            "start_date",
            "end_date",
            "reason_new_episode",
            "legal_status",
            "placement_type",
            "placement_provider",
            "reason_ceased",
        ),
        ("E1", "K1", "2014-11-01", "2015-04-10", "S", "C2", "U4", "PR1", "X1"),
        ("E2", "K1", "2015-04-10", "", "P", "C2", "U5", "PR4", ""),
    ],
    "cla_reviews": [
        ("review_id", "child_id", "review_date", "due_date", "child_participated"),
        ("V1", "K1", "2014-12-01", "2014-12-01", "true"),
        ("V2", "K1", "2015-03-31", "2015-04-01", ""),
        ("V3", "K1", "2015-06-01", "2015-06-01", "false"),
    ],
    "missing_episodes": [
        ("missing_id", "child_id", "start_datetime", "end_datetime", "looked_after"),
        ("M1", "K1", "2015-01-05 22:00:00", "2015-01-06 03:00:00", "true"),
        ("M2", "K3", "2016-02-01 10:00:00", "2016-02-01 20:00:00", "false"),
    ],
    "care_leavers": [
        ("child_id", "date_of_birth", "qualifying"),
        ("K2", "1995-05-20", "true"),
    ],
    "care_leaver_contacts": [
        (
            "contact_id",
            "child_id",
            "contact_date",
            "in_touch",
            "activity",
            "accommodation_suitable",
        ),
        ("C1", "K2", "2014-05-01", "true", "F1", "true"),
    ],
}


@pytest.fixture(scope="module")
def extract(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("extract")
    for name, table in EXTRACT.items():
        pd.DataFrame(table[1:], columns=table[0]).to_csv(folder / f"{name}.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def returns(tmp_path_factory: pytest.TempPathFactory, extract: Path) -> Path:
    out = tmp_path_factory.mktemp("returns") / "returns"
    written = write_returns(extract, out, [2015, 2016], authority="888")
    assert written.not_carried == {"cp_plans": 1}  # P0 began before any referral of K1
    return out


def csv(returns: Path, year: int, name: str) -> list[list[str]]:
    frame = pd.read_csv(returns / f"ssda903-{year}" / name, dtype=str, keep_default_na=False)
    return [list(frame.columns), *frame.to_numpy().tolist()]


def test_collection_years_lie_wholly_inside_the_range() -> None:
    assert collection_years("2010-04", "2016-03") == [2011, 2012, 2013, 2014, 2015, 2016]
    assert collection_years("2010-05", "2016-02") == [2012, 2013, 2014, 2015]
    assert collection_years("2015-05", "2016-02") == []


def test_files_written(returns: Path) -> None:
    names = sorted(p.name for p in returns.iterdir())
    assert names == [
        "cin-census-2015.xml", "cin-census-2016.xml", "returns.yaml",
        "ssda903-2015", "ssda903-2015.xml", "ssda903-2016", "ssda903-2016.xml",
    ]  # fmt: skip
    assert sorted(p.name for p in (returns / "ssda903-2015").iterdir()) == [
        "ad1.csv", "episodes.csv", "header.csv", "missing.csv", "oc3.csv",
        "placed_for_adoption.csv", "reviews.csv",
    ]  # fmt: skip


def test_episodes_open_in_the_year_with_ends_known_by_31_march(returns: Path) -> None:
    blank = ["", "", "", ""]  # REASON_PLACE_CHANGE, HOME_POST, PL_POST, URN: not in the extract
    header = ["CHILD", "DECOM", "RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "DEC", "REC",
              "REASON_PLACE_CHANGE", "HOME_POST", "PL_POST", "URN"]  # fmt: skip
    # 2014-15: E1 is open on 31 March 2015 (it ended 10 April): no DEC, no REC yet
    assert csv(returns, 2015, "episodes.csv") == [
        header,
        ["K1", "01/11/2014", "S", "C2", "", "U4", "PR1", "", "", *blank],
    ]
    # 2015-16: E1 again (open on 1 April 2015), now ended; and E2
    assert csv(returns, 2016, "episodes.csv") == [
        header,
        ["K1", "01/11/2014", "S", "C2", "", "U4", "PR1", "10/04/2015", "X1", *blank],
        ["K1", "10/04/2015", "P", "C2", "", "U5", "PR4", "", "", *blank],
    ]


def test_header_reviews_missing_and_oc3(returns: Path) -> None:
    assert csv(returns, 2015, "header.csv") == [
        ["CHILD", "SEX", "DOB", "ETHNIC", "UPN", "MOTHER", "MC_DOB"],
        ["K1", "1", "15/06/2004", "WBRI", "", "", ""],
        ["K2", "2", "20/05/1995", "WBRI", "", "", ""],  # in OC3 only
    ]
    reviews = csv(returns, 2015, "reviews.csv")
    assert [row[:3] for row in reviews[1:]] == [
        ["K1", "15/06/2004", "01/12/2014"],
        ["K1", "15/06/2004", "31/03/2015"],
    ]
    # took part: one of PN1-PN6; participation not recorded (under 4): PN0; did not: PN7
    assert reviews[1][3] in ("PN1", "PN2", "PN3", "PN4", "PN5", "PN6")
    assert reviews[2][3] == "PN0"
    assert csv(returns, 2016, "reviews.csv")[1] == ["K1", "15/06/2004", "01/06/2015", "PN7"]
    # only looked-after children's missing episodes, and as dates
    assert csv(returns, 2015, "missing.csv") == [
        ["CHILD", "DOB", "MISSING", "MIS_START", "MIS_END"],
        ["K1", "15/06/2004", "M", "05/01/2015", "06/01/2015"],
    ]
    assert csv(returns, 2016, "missing.csv") == [
        ["CHILD", "DOB", "MISSING", "MIS_START", "MIS_END"]
    ]
    # K2's 19th birthday (20 May 2014): the contact of 1 May 2014; the 20th: no contact near it
    oc3_2015 = csv(returns, 2015, "oc3.csv")
    assert oc3_2015[1][:4] == ["K2", "20/05/1995", "YES", "F1"]
    assert oc3_2015[1][4][1] == "1"  # suitable accommodation: a letter and 1
    assert csv(returns, 2016, "oc3.csv")[1] == ["K2", "20/05/1995", "NO", "", ""]


def census(returns: Path, year: int) -> ET.Element:
    return ET.parse(returns / f"cin-census-{year}.xml").getroot()


def test_census_header_children_and_referrals(returns: Path) -> None:
    root = census(returns, 2015)
    assert root.findtext("Header/CollectionDetails/Year") == "2015"
    assert root.findtext("Header/CollectionDetails/ReferenceDate") == "2015-03-31"
    assert root.findtext("Header/Source/LEA") == "888"
    children = root.findall("Children/Child")
    assert [c.findtext("ChildIdentifiers/LAchildID") for c in children] == ["K1"]
    k1 = children[0]
    assert k1.findtext("ChildIdentifiers/Sex") == "1"
    assert k1.findtext("ChildCharacteristics/Disabilities/Disability") == "NONE"
    (details,) = k1.findall("CINdetails")  # R2 closed in 2013: not in 2014-15
    assert details.findtext("CINreferralDate") == "2014-05-01"
    assert details.find("CINclosureDate") is None  # closed 30 June 2015: not known yet
    assert details.findtext("ReferralNFA") == "false"
    assert details.findtext("Assessments/AssessmentAuthorisationDate") == "2014-06-10"
    assert details.find("CINPlanDates/CINPlanEndDate") is None
    plan = details.find("ChildProtectionPlans")
    assert plan is not None
    fields = ("CPPstartDate", "LatestCategoryOfAbuse", "NumberOfPreviousCPP")
    assert [plan.findtext(n) for n in fields] == ["2014-10-01", "NEG", "1"]


def test_census_next_year_repeats_what_is_still_open(returns: Path) -> None:
    children = census(returns, 2016).findall("Children/Child")
    assert [c.findtext("ChildIdentifiers/LAchildID") for c in children] == ["K1", "K3"]
    details = children[0].find("CINdetails")
    assert details is not None
    assert details.findtext("CINclosureDate") == "2015-06-30"
    assert details.find("Assessments") is None  # completed June 2014: in 2014-15's only
    assert details.findtext("CINPlanDates/CINPlanEndDate") == "2015-05-01"
    k3 = children[1]
    assert k3.findtext("ChildIdentifiers/Sex") == "0"
    assert k3.findtext("ChildCharacteristics/Disabilities/Disability") == "DDA"
    assert k3.findtext("CINdetails/ReferralNFA") == "true"


def test_the_census_written_reads_back(returns: Path) -> None:
    read = read_cin_census(returns / "cin-census-2016.xml")
    assert read.rejections == []
    referrals = read.tables["referrals"]
    assert list(referrals["referral_id"]) == ["K1/2014-05-01", "K3/2016-02-01"]
    assert list(referrals["outcome"]) == ["assessment", "nfa"]
    assert list(read.tables["cp_plans"]["category"]) == ["neglect"]


def test_both_forms_of_the_903_read_back_the_same(returns: Path) -> None:
    # The XML form carries a child's date of birth once, in HEADER (the CSV repeats it in
    # OC3's rows): the care leavers read from it are the same all the same
    for year in (2015, 2016):
        from_csv = read_ssda903(returns / f"ssda903-{year}", year=year)
        from_xml = read_ssda903(returns / f"ssda903-{year}.xml", year=year)
        assert from_csv.rejections == from_xml.rejections == []
        assert set(from_csv.tables) == set(from_xml.tables)
        assert set(from_csv.tables) >= {
            "children", "cla_episodes", "cla_reviews", "care_leavers", "care_leaver_contacts"
        }  # fmt: skip
        assert from_csv.records_read == from_xml.records_read
        leavers = from_xml.tables["care_leavers"]
        assert list(leavers["date_of_birth"]) == [pd.Timestamp("1995-05-20")]  # K2's HEADER DOB
        for name in from_csv.tables:
            frame = from_csv.tables[name]
            columns = [c for c in frame.columns if not c.startswith("_")]
            pd.testing.assert_frame_equal(
                frame[columns].reset_index(drop=True),
                from_xml.tables[name][columns].reset_index(drop=True),
                check_dtype=False,
            )


def test_never_replaces_a_folder_it_did_not_write(tmp_path: Path, extract: Path) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ReturnsError, match="does not hold returns written by kpi"):
        write_returns(extract, foreign, [2016])
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]  # no staging folder left behind


def test_writing_again_replaces_its_own_returns_whole(tmp_path: Path, extract: Path) -> None:
    out = tmp_path / "returns"
    write_returns(extract, out, [2015, 2016])
    write_returns(extract, out, [2016])
    assert sorted(p.name for p in out.iterdir()) == [
        "cin-census-2016.xml", "returns.yaml", "ssda903-2016", "ssda903-2016.xml",
    ]  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["returns"]


def test_kpi_sample_data_writes_the_returns_of_an_extract(tmp_path: Path, extract: Path) -> None:
    out = tmp_path / "returns"
    args = ["sample-data", "--extracts", str(extract), "--returns", str(out)]
    result = CliRunner().invoke(cli, [*args, "--start", "2014-04", "--end", "2016-03"])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"wrote the returns of 2 collection years (2014-15 to 2015-16) to {out}\n"
    )
    assert (out / "cin-census-2016.xml").is_file()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--start", "2015-05", "--end", "2016-02"], "no collection year to write"),
        (["--output", "x"], "give --returns and not --output"),
    ],
)
def test_kpi_sample_data_returns_usage_errors(
    tmp_path: Path, extract: Path, extra: list[str], message: str
) -> None:
    args = ["sample-data", "--extracts", str(extract), "--returns", str(tmp_path / "r")]
    result = CliRunner().invoke(cli, [*args, *extra])
    assert result.exit_code == 2
    assert message in result.stderr


_DAY = st.integers(min_value=0, max_value=4 * 365)  # days after 1 April 2012
_REFERRAL = st.tuples(
    st.sampled_from(["K1", "K2", "K3"]),
    _DAY,
    st.one_of(st.none(), st.integers(min_value=0, max_value=400)),  # open, or days to closure
    st.sampled_from(["assessment", "nfa", "early_help"]),
)


@settings(max_examples=40, deadline=None)
@given(referrals=st.lists(_REFERRAL, max_size=12), year=st.integers(2013, 2016))
def test_a_census_written_reads_back_as_the_referrals_open_in_its_year(
    tmp_path_factory: pytest.TempPathFactory,
    referrals: list[tuple[str, int, int | None, str]],
    year: int,
) -> None:
    """Property: whatever the referrals, the census of a year reads back as exactly those open
    in the year, closures after 31 March blank, NFA for early help and no further action."""
    start = pd.Timestamp("2012-04-01")
    frame = pd.DataFrame(referrals, columns=["child_id", "day", "days", "outcome"])
    frame = frame.drop_duplicates(["child_id", "day"])  # the census's key: child and date
    opened = start + pd.to_timedelta(frame["day"], unit="D")
    closed = opened + pd.to_timedelta(frame["days"].astype(float), unit="D")
    tables = {
        "children": pd.DataFrame(
            {
                "child_id": ["K1", "K2", "K3"],
                "date_of_birth": pd.to_datetime(["2005-01-01"] * 3),
                "sex": ["M", "F", "U"],
                "ethnicity": ["WBRI", None, "NOBT"],
                "disabled": pd.array([True, False, None], dtype="boolean"),
            }
        ),
        "referrals": pd.DataFrame(
            {
                "referral_id": [f"R{i}" for i in range(len(frame))],
                "child_id": frame["child_id"].to_numpy(),
                "referral_date": opened.to_numpy(),
                "source": "1A",
                "outcome": frame["outcome"].to_numpy(),
                "closure_date": closed.to_numpy(),
            }
        ),
        **{name: _empty(name) for name in ("assessments", "cin_plans", "cp_plans")},
    }
    cy = CollectionYear(year)
    text, _ = census_xml(tables, _census_source(tables), cy, "999")
    path = tmp_path_factory.mktemp("census") / f"cin-census-{year}.xml"
    path.write_text(text, encoding="utf-8")
    read = read_cin_census(path)
    assert read.rejections == []
    r = tables["referrals"]
    open_in_year = (r["referral_date"] < cy.stop) & (
        r["closure_date"].isna() | (r["closure_date"] >= cy.start)
    )
    expected = r.assign(
        closure_date=r["closure_date"].where(r["closure_date"] < cy.stop),
        outcome=r["outcome"].replace("early_help", "nfa"),
    )[open_in_year]
    got = read.tables["referrals"]

    def keyed(f: pd.DataFrame) -> list[tuple[object, ...]]:
        return sorted(
            (c, str(d.date()), "" if pd.isna(e) else str(e.date()), o)
            for c, d, e, o in zip(
                f["child_id"], f["referral_date"], f["closure_date"], f["outcome"], strict=True
            )
        )

    assert keyed(got) == keyed(expected)
    assert set(read.tables["children"]["child_id"]) == set(expected["child_id"])
