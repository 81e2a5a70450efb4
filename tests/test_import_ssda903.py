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


def test_adoption_milestones_come_from_episodes_and_ad1(stacked: Path) -> None:
    adoptions = pd.read_csv(stacked / "adoptions.csv", dtype=str, keep_default_na=False)
    for column in adoptions.columns[1:]:
        adoptions[column] = pd.to_datetime(adoptions[column])
    assert "adoptions" not in read("2016").tables  # worked out once the years are stacked
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
        ("header.csv", "line 3", "SEX", "3",
         "not a SEX code (expected 1 male or 2 female, or blank: not known)"),
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


# --- the round trip's four findings, each worked by hand --------------------------------------

HEADER = "CHILD,SEX,DOB,ETHNIC\n"
EPISODES = "CHILD,DECOM,RNE,LS,PLACE,PLACE_PROVIDER,DEC,REC\n"


def write_return(folder: Path, **tables: str) -> Path:
    folder.mkdir()
    for name, text in tables.items():
        (folder / f"{name}.csv").write_text(text)
    return folder


def test_an_adoption_is_dated_by_the_care_that_began_in_an_earlier_return(
    tmp_path: Path,
) -> None:
    # D1 came into care on 1 June 2014 (RNE S); that episode ended in 2014-15, so only the 2015
    # return holds it. The 2016 return holds the placement for adoption (A4, 1 September 2015)
    # and AD1's match. The adoption is worked out once the years are stacked.
    y2015 = write_return(
        tmp_path / "2015",
        header=HEADER + "D1,1,01/02/2013,WBRI\n",
        episodes=EPISODES
        + "D1,01/06/2014,S,C2,U4,PR1,01/01/2015,X1\nD1,01/01/2015,P,C2,U5,PR1,,\n",
    )
    y2016 = write_return(
        tmp_path / "2016",
        header=HEADER + "D1,1,01/02/2013,WBRI\n",
        episodes=EPISODES
        + "D1,01/01/2015,P,C2,U5,PR1,01/09/2015,X1\nD1,01/09/2015,P,E1,A4,PR1,,\n",
        ad1="CHILD,DOB,DATE_INT,DATE_MATCH\nD1,01/02/2013,01/05/2015,15/08/2015\n",
    )
    out = tmp_path / "extract"
    report = import_returns([read_ssda903(y2015), read_ssda903(y2016)], out)
    adoptions = pd.read_csv(out / "adoptions.csv", dtype=str, keep_default_na=False)
    assert adoptions.to_dict("records") == [
        {
            "child_id": "D1",
            "entered_care_date": "2014-06-01",  # the S episode, in the 2015 return only
            "placement_order_date": "2015-09-01",  # the first E1 episode
            "matched_date": "2015-08-15",  # AD1 DATE_MATCH
            "placed_date": "2015-09-01",  # the A4 episode
            "adoption_order_date": "",  # not adopted yet
        }
    ]
    count = report.counts["adoptions"]
    assert (count.read, count.imported, count.rejected, count.merged) == (1, 1, 0, 0)
    # ADOPTION-DAYS at March 2016: 1 June 2014 to 1 September 2015 = 365 + 92 = 457 days
    # (the two returns hold no adoption before September 2015: the year to date is read as far
    # as the records reach, kpi_engine.coverage)
    result = compute(out, "corporate-scorecard", ["2016-03"], partial_windows=True)
    result = result.set_index("indicator_id")
    assert result.loc["ADOPTION-DAYS", ["numerator", "denominator"]].tolist() == [457, 1]
    # the 2016 return alone cannot say when D1's care began: rejected, with the reason
    alone = import_returns([read_ssda903(y2016)], tmp_path / "alone")
    assert [(r.table, r.field, r.value, r.reason) for r in alone.rejections] == [
        ("adoptions", "CHILD", "D1",
         "the period of care began before the returns imported (no RNE S episode)"),
    ]  # fmt: skip
    assert alone.rejections[0].location == "line 3"  # the A4 episode's line


def test_a_child_with_sex_blank_keeps_every_record_with_sex_not_known(tmp_path: Path) -> None:
    # E1's SEX is blank in both years (the 903 has no "not known" code), E2's in 2016 only;
    # E3 is a care leaver with SEX blank. None of them loses a record.
    y2015 = write_return(
        tmp_path / "2015",
        header=HEADER + "E1,,01/02/2010,WBRI\nE2,2,01/03/2009,WBRI\n",
        episodes=EPISODES + "E1,01/05/2014,S,C2,U4,PR1,,\nE2,01/06/2014,S,C2,U4,PR1,,\n",
    )
    y2016 = write_return(
        tmp_path / "2016",
        header=HEADER + "E1,,01/02/2010,WBRI\nE2, ,01/03/2009,WBRI\nE3,,10/05/1996,WBRI\n",
        episodes=EPISODES + "E1,01/05/2014,S,C2,U4,PR1,,\nE2,01/06/2014,S,C2,U4,PR1,,\n",
        reviews="CHILD,DOB,REVIEW,REVIEW_CODE\nE1,01/02/2010,20/05/2015,PN1\n",
        oc3="CHILD,DOB,IN_TOUCH,ACTIV,ACCOM\nE3,10/05/1996,YES,F2,B1\n",
    )
    read = read_ssda903(y2016)
    assert read.rejections == []
    assert rows(read.tables["children"], "child_id", "sex") == [
        ("E1", "U"), ("E2", "U"), ("E3", "U")
    ]  # fmt: skip
    assert [(f.record, f.field, f.earlier, f.later) for f in read.findings] == [
        ("E1", "sex", "", "U"), ("E2", "sex", "", "U"), ("E3", "sex", "", "U")
    ]  # fmt: skip
    assert read.findings[0].message == (
        f"{y2016 / 'header.csv'}: line 2: SEX blank (the 903 has no code for not known): "
        "imported as U, not known"
    )
    assert len(read.tables["cla_reviews"]) == len(read.tables["care_leaver_contacts"]) == 1
    out = tmp_path / "extract"
    report = import_returns([read_ssda903(y2015), read], out)
    children = pd.read_csv(out / "children.csv", dtype=str).set_index("child_id")["sex"]
    # a later return's "not known" erases no known sex, and is no change between returns
    assert children.to_dict() == {"E1": "U", "E2": "F", "E3": "U"}
    assert sorted(f.message.split(": SEX")[0] for f in report.findings) == [
        f"{y2015 / 'header.csv'}: line 2",  # E1 in 2015
        f"{y2016 / 'header.csv'}: line 2",  # E1, E2 and E3 in 2016
        f"{y2016 / 'header.csv'}: line 3",
        f"{y2016 / 'header.csv'}: line 4",
    ]
    assert report.rejections == []
    assert len(pd.read_csv(out / "cla_episodes.csv")) == 2
    assert len(pd.read_csv(out / "care_leavers.csv")) == 1


def test_care_leavers_of_the_xml_form_take_their_date_of_birth_from_header(
    tmp_path: Path,
) -> None:
    path = tmp_path / "903.xml"
    path.write_text(
        "<EXPSSDA903><CHILD>"
        "<HEADER><CHILDID>F1</CHILDID><SEX>2</SEX><DOB>10/05/1996</DOB><ETHNIC>WBRI</ETHNIC>"
        "<OC3><IN_TOUCH>YES</IN_TOUCH><ACTIV>F2</ACTIV><ACCOM>B1</ACCOM></OC3></HEADER>"
        "</CHILD></EXPSSDA903>"
    )
    read = read_ssda903(path, year=2016)
    assert read.rejections == []
    assert rows(read.tables["care_leavers"], "child_id", "date_of_birth") == [
        ("F1", pd.Timestamp("1996-05-10"))
    ]
    # the contact is F1's birthday in 2015-16: her 19th, 10 May 2015
    assert rows(read.tables["care_leaver_contacts"], "contact_id", "in_touch", "activity") == [
        ("F1/2015-05-10", True, "F2")
    ]


def test_missing_from_home_is_no_data_on_an_imported_extract(stacked: Path) -> None:
    # the 903 holds looked-after children's missing episodes only: C1's, 5 to 8 January 2015
    # (3 days: over 24 hours) counts for children in care; missing from home is not known
    result = compute(stacked, "corporate-scorecard", ["2015-03"]).set_index("indicator_id")
    assert result.loc["MISSING-CIC", "numerator"] == 1
    assert result.loc["MISSING-CHILDREN", "status"] == "NO DATA"
    assert result.loc["MISSING-CHILDREN", "note"] == (
        "missing_episodes holds only rows where looked_after: the statutory returns carry "
        "missing episodes of looked-after children only (the SSDA903's); missing from home is "
        "in neither"
    )
    manifest = (stacked / "manifest.yaml").read_text()
    assert "partial_tables:\n  missing_episodes:\n    holds_only: looked_after\n" in manifest


def test_an_extract_holding_missing_from_home_keeps_it_after_an_import(tmp_path: Path) -> None:
    # the sample holds missing episodes of children not looked after: imported into, the
    # extract still holds the whole table, and MISSING-CHILDREN is computed as before
    sample = Path(__file__).parent.parent / "sample_data"
    out = tmp_path / "extract"
    import_returns([read("2016")], out, into=sample)
    assert "partial_tables" not in (out / "manifest.yaml").read_text()
    result = compute(out, "corporate-scorecard", ["2015-12"]).set_index("indicator_id")
    before = compute(sample, "corporate-scorecard", ["2015-12"]).set_index("indicator_id")
    assert result.loc["MISSING-CHILDREN", "status"] != "NO DATA"
    assert (
        result.loc["MISSING-CHILDREN", "numerator"] == before.loc["MISSING-CHILDREN", "numerator"]
    )
