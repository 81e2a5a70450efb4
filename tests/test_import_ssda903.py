"""Reading SSDA903 returns (CSV folders and XML) into extract tables, and computing from them.

The fixtures in tests/fixtures/ssda903 are hand-written: four children over three years
(2015 and 2016 as CSV folders with odd file names, 2017 as XML), care leavers and an adoption
in 2016, and a folder of every bad input. Expected rows and figures are worked by hand from
them; indicator rules from /work/shared/docs/indicators.md (NI 62, NI 63).
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pandas as pd
import pytest

from kpi_engine import compute
from kpi_engine.extract import validate_extract_folder
from kpi_engine.importers import ImportFailure, import_returns, read_ssda903

FIXTURES = Path(__file__).parent / "fixtures" / "ssda903"
TODAY = dt.date(2026, 1, 1)


def read(name: str, year: int | None = None):  # type: ignore[no-untyped-def]
    return read_ssda903(FIXTURES / name, year=year, today=TODAY)


def rows(frame: pd.DataFrame, *columns: str) -> list[tuple[object, ...]]:
    shown = frame[list(columns)].astype(object).where(frame[list(columns)].notna(), None)
    return sorted(tuple(r) for r in shown.itertuples(index=False))


@pytest.fixture(scope="module")
def stacked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("imported") / "extract"
    import_returns([read("2015"), read("2016"), read("2017.xml")], out)
    return out


def test_csv_tables_are_found_by_their_header_rows_not_their_names() -> None:
    got = read("2015")
    assert got.year == 2015  # every DEC and REVIEW date is in 2014-15
    assert got.records_read == {
        "children": 4,
        "cla_episodes": 7,
        "cla_reviews": 3,
        "missing_episodes": 1,  # the A (away) row is not a missing episode
    }
    assert got.rejections == []
    episodes = got.tables["cla_episodes"]
    assert rows(episodes, "episode_id", "start_date", "end_date", "placement_type")[:3] == [
        ("C1/2014-05-01", pd.Timestamp("2014-05-01"), pd.Timestamp("2014-08-01"), "U4"),
        ("C1/2014-08-01", pd.Timestamp("2014-08-01"), pd.Timestamp("2014-12-01"), "U5"),
        ("C1/2014-12-01", pd.Timestamp("2014-12-01"), None, "U4"),
    ]
    assert list(episodes["_location"][:2]) == ["line 2", "line 3"]
    children = got.tables["children"]
    assert rows(children, "child_id", "sex")[:2] == [("C1", "M"), ("C2", "F")]


def test_two_digit_years_spaces_care_leavers_and_review_codes() -> None:
    got = read("2016")
    reviews = got.tables["cla_reviews"]
    # 15/10/15 is 15 October 2015; PN0 (under 4) is neither, PN4 (attended) participated
    assert rows(reviews, "review_id", "child_participated") == [
        ("C1/2015-10-15", None),
        ("C2/2015-04-01", True),
    ]
    # " 01/06/2015 " (spaces) is read
    ended = got.tables["cla_episodes"].set_index("episode_id")["end_date"]
    assert ended["C1/2014-12-01"] == pd.Timestamp("2015-06-01")
    # OC3: the contact is the birthday in the year; ACCOM digit 1 suitable, Z unknown
    contacts = got.tables["care_leaver_contacts"]
    assert rows(contacts, "contact_id", "in_touch", "activity", "accommodation_suitable") == [
        ("C5/2015-05-10", True, "F2", True),
        ("C6/2016-03-01", False, "G6", None),
    ]
    assert rows(got.tables["care_leavers"], "child_id", "qualifying") == [
        ("C5", True),
        ("C6", True),
    ]


def test_adoption_milestones_come_from_episodes_and_ad1() -> None:
    adoptions = read("2016").tables["adoptions"]
    assert rows(
        adoptions,
        "child_id",
        "entered_care_date",
        "placement_order_date",
        "matched_date",
        "placed_date",
        "adoption_order_date",
    ) == [
        (
            "C3",
            pd.Timestamp("2014-06-03"),  # the S episode's DECOM
            pd.Timestamp("2015-06-20"),  # the first E1 episode
            pd.Timestamp("2015-06-10"),  # AD1 DATE_MATCH
            pd.Timestamp("2015-06-20"),  # the first A3-A6 placement
            pd.Timestamp("2016-02-15"),  # DEC of the episode ending E11
        )
    ]


def test_xml_form_reads_the_same_fields() -> None:
    got = read("2017.xml")
    assert got.year == 2017
    episodes = got.tables["cla_episodes"]
    assert rows(episodes, "episode_id", "placement_type", "end_date")[:3] == [
        ("C1/2015-06-01", "U6", pd.Timestamp("2016-09-01")),
        ("C1/2016-09-01", "U4", pd.Timestamp("2017-02-01")),
        ("C1/2017-02-01", "U5", None),
    ]
    assert episodes["_location"].iloc[0] == "/EXPSSDA903/CHILD[1]/EPISODE[1]"
    assert rows(got.tables["cla_reviews"], "review_id", "child_participated") == [
        ("C1/2016-10-10", True)
    ]
    missing = got.tables["missing_episodes"]
    assert rows(missing, "missing_id", "start_datetime", "end_datetime") == [
        ("C4/2016-12-01", pd.Timestamp("2016-12-01"), pd.Timestamp("2016-12-04"))
    ]


def test_every_bad_input_is_rejected_with_file_line_field_and_value() -> None:
    got = read("bad", year=2016)
    found = sorted(
        (Path(r.file).name, r.location, r.field, r.value, r.reason) for r in got.rejections
    )
    date = "not a date (expected DD/MM/YYYY or DD/MM/YY)"
    assert found == [
        ("episodes.csv", "line 2", "DEC", "01/03/2015",
         "ends before it starts (start_date is later)"),
        ("episodes.csv", "line 5", "DECOM", "01/06/2015",
         "overlaps another episode of the same child in this return"),
        ("episodes.csv", "line 6", "DECOM", "2015-06-01", date),
        ("episodes.csv", "line 7", "DEC", "01/01/2017",
         "in the future (after the year's end, 31/03/2016)"),
        ("episodes.csv", "line 8", "CHILD", "B9", "the child has no header record in this return"),
        ("episodes.csv", "line 9", "PLACE", "ZZ",
         "not a placement_type code (expected one of A3 ... Z1, 27 codes)"),
        ("header.csv", "line 3", "SEX", "3", "not a SEX code (expected 1 male or 2 female)"),
        ("header.csv", "line 4", "DOB", "42461", date),  # an Excel serial number
        ("reviews.csv", "line 2", "REVIEW", "01/13/2015", date),
    ]  # fmt: skip
    # " 05/05/10 ": spaces dropped, two-digit year 10 is 2010
    children = got.tables["children"].set_index("child_id")
    assert children.loc["B4", "date_of_birth"] == pd.Timestamp("2010-05-05")
    assert sorted(got.tables["cla_episodes"]["episode_id"]) == ["B1/2015-05-01", "B4/2015-09-01"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("not903", "not903: not an SSDA903 return (no file has the header row of a 903 table: "
         "staff.csv)"),
        ("not903.xml", "not903.xml: not an SSDA903 return (root element 'Foo'; expected "
         "'EXPSSDA903')"),
        ("broken.xml", "broken.xml:4:21: not well-formed XML (mismatched tag)"),
        ("billion_laughs.xml", "billion_laughs.xml: refused: the file declares a DTD"),
        ("external_entity.xml", "external_entity.xml: refused: the file declares a DTD"),
    ],
)  # fmt: skip
def test_a_file_that_is_not_a_903_gets_one_clear_message(name: str, message: str) -> None:
    began = time.perf_counter()
    with pytest.raises(ImportFailure) as caught:
        read(name)
    assert message in str(caught.value)
    assert time.perf_counter() - began < 2  # hostile XML fails at its DOCTYPE, expanding nothing


def test_stacked_years_keep_one_row_per_record_with_the_latest_values(stacked: Path) -> None:
    episodes = pd.read_csv(stacked / "cla_episodes.csv", dtype=str, keep_default_na=False)
    assert sorted(episodes["episode_id"]) == [
        "C1/2014-05-01", "C1/2014-08-01", "C1/2014-12-01", "C1/2015-06-01", "C1/2016-09-01",
        "C1/2017-02-01",
        "C2/2012-03-12",  # DECOM 10/03/2012 in 2015, 12/03/2012 later: one episode, the later
        "C3/2014-06-03", "C3/2015-06-20",
        "C4/2013-01-01", "C4/2014-10-01",
    ]  # fmt: skip
    closed = episodes.set_index("episode_id")["end_date"]
    assert closed["C1/2014-12-01"] == "2015-06-01"  # open in 2015's return, closed in 2016's
    children = pd.read_csv(stacked / "children.csv", dtype=str).set_index("child_id")
    assert children.loc["C2", "date_of_birth"] == "2005-02-02"  # the later year's DOB
    findings = pd.read_csv(stacked / "import_findings.csv", dtype=str)
    assert sorted(zip(findings["table"], findings["record"], findings["earlier"],
                      findings["later"], strict=True)) == [
        ("children", "C2", "2005-02-01", "2005-02-02"),
        ("cla_episodes", "C2/2012-03-12", "2012-03-10", "2012-03-12"),
    ]  # fmt: skip


def test_review_due_dates_follow_the_statutory_schedule(stacked: Path) -> None:
    reviews = pd.read_csv(stacked / "cla_reviews.csv", dtype=str).set_index("review_id")
    due = reviews["due_date"].to_dict()
    # C1 came into care on Thursday 1 May 2014: the 20th working day after it, skipping the
    # bank holidays of 5 and 26 May, is 2 June (2; 6-9; 12-16; 19-23; 27-30 May; 2 June)
    assert due["C1/2014-05-22"] == "2014-06-02"
    assert due["C1/2014-08-20"] == "2014-08-22"  # second: 3 months after the first
    assert due["C1/2015-10-15"] == "2015-02-20"  # later: 6 months after the one before
    # C2's care began in 2012, before the returns: its first review held has no predecessor
    assert due["C2/2014-10-01"] == "2014-10-01"
    assert due["C2/2015-04-01"] == "2015-04-01"  # 6 months after 01/10/2014


def test_the_imported_extract_validates_and_computes_ni62_and_ni63(stacked: Path) -> None:
    _, problems = validate_extract_folder(stacked)
    assert [p for p in problems if p.severity == "error"] == []
    result = compute(stacked, "contract-2016-17", ["2015-03", "2016-03", "2017-03"])
    got = {
        (r.indicator_id, r.period): (r.numerator, r.denominator)
        for r in result.itertuples()
        if r.indicator_id in ("B9", "B10")
    }
    assert got == {
        # NI 62: C1's third placement in 12 months at 31/03/2015 (of C1-C4 in care) and at
        # 31/03/2017 (of C1, C2, C4); none in 2016 (C3 adopted in February 2016)
        ("B10", "2015-03"): (1, 4),
        ("B10", "2016-03"): (0, 3),
        ("B10", "2017-03"): (1, 3),
        # NI 63: under 16, in care 2.5 years, of them 2 years in one placement: C2 in care
        # since 2012; C4 (since 2013) moved in October 2014, so counts from October 2016;
        # C1 (since May 2014) is in the denominator from November 2016 but moved in 2017
        ("B9", "2015-03"): (1, 1),
        ("B9", "2016-03"): (1, 2),
        ("B9", "2017-03"): (2, 3),
    }


def test_indicators_the_903_cannot_carry_are_no_data_with_the_reason(stacked: Path) -> None:
    result = compute(stacked, "contract-2016-17", ["2016-03"]).set_index("indicator_id")
    for indicator, table in (("A2", "assessments"), ("C14", "staff"), ("D17a", "finance")):
        assert result.loc[indicator, "status"] == "NO DATA"
        assert table in result.loc[indicator, "note"]


def test_the_year_is_where_most_in_year_dates_fall(tmp_path: Path) -> None:
    (tmp_path / "h.csv").write_text("CHILD,SEX,DOB,ETHNIC\nA,1,01/01/2010,WBRI\n")
    (tmp_path / "e.csv").write_text(
        "CHILD,DECOM,RNE,LS,PLACE,PLACE_PROVIDER,DEC,REC\n"
        "A,01/05/2015,S,C2,U4,PR1,01/06/2015,X1\n"
        "A,01/06/2015,P,C2,U4,PR1,01/07/2015,X1\n"
        "A,01/07/2015,P,C2,U4,PR1,01/08/2019,E13\n"  # a typing slip: 2019 for 2015
    )
    got = read_ssda903(tmp_path, today=TODAY)
    assert got.year == 2016
    assert [(r.field, r.value) for r in got.rejections] == [("DEC", "01/08/2019")]
