"""The shared import machinery: dates, safe XML, stacking years and writing the extract."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kpi_engine.extract import load_extract
from kpi_engine.importers import ImportFailure, ReturnRead, import_returns
from kpi_engine.importers._common import parse_dates
from kpi_engine.importers._xml import child_text, iter_elements, root_name

FORMATS = ("%d/%m/%Y", "%d/%m/%y")


# --- dates ----------------------------------------------------------------------------------------


def test_dates_as_they_really_come() -> None:
    raw = pd.Series(
        ["01/02/2015", " 1/2/15 ", "", None, "  ", "42461", "2015-02-01", "31/02/2015", "01/02/69"]
    )
    dates, bad = parse_dates(raw, FORMATS)
    assert list(dates) == [
        pd.Timestamp("2015-02-01"),
        pd.Timestamp("2015-02-01"),  # spaces dropped; two-digit year 15 is 2015
        pd.NaT,  # empty strings and None are missing, not errors
        pd.NaT,
        pd.NaT,
        pd.NaT,  # an Excel serial number
        pd.NaT,  # ISO, as Excel re-saves it: not a 903 date
        pd.NaT,  # no 31 February
        pd.Timestamp("1969-02-01"),  # 69-99 are the 1900s (the C library's pivot)
    ]
    assert list(bad) == [False, False, False, False, False, True, True, True, False]


def test_a_four_digit_format_never_reads_a_two_digit_year() -> None:
    dates, bad = parse_dates(pd.Series(["01/02/15"]), ("%d/%m/%Y",))
    assert dates.isna().all() and bad.all()


@given(
    st.dates(
        min_value=pd.Timestamp("1969-01-01").date(), max_value=pd.Timestamp("2068-12-31").date()
    )
)
def test_both_903_forms_of_a_date_read_back_to_it(day) -> None:  # type: ignore[no-untyped-def]
    raw = pd.Series([day.strftime("%d/%m/%Y"), day.strftime("%d/%m/%y")])
    dates, bad = parse_dates(raw, FORMATS)
    assert not bad.any()
    assert list(dates) == [pd.Timestamp(day)] * 2


# --- XML ------------------------------------------------------------------------------------------


def test_elements_are_streamed_with_their_paths(tmp_path: Path) -> None:
    path = tmp_path / "x.xml"
    path.write_text(
        '<Message xmlns="urn:dfe"><Header/><Children>'
        "<Child><Id> 1 </Id><Sex/></Child><Child><Id>2</Id></Child><Child><Id>3</Id></Child>"
        "</Children></Message>"
    )
    seen = [
        (where, child_text(e, "Id"), child_text(e, "Sex"))
        for where, e in iter_elements(path, "Child")
    ]
    assert seen == [
        ("/Message/Children/Child[1]", "1", ""),  # namespace dropped, text trimmed, empty = ""
        ("/Message/Children/Child[2]", "2", ""),
        ("/Message/Children/Child[3]", "3", ""),
    ]
    assert root_name(path) == "Message"


def test_xml_that_is_not_well_formed_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "x.xml"
    path.write_text("<Message>\n<Child>\n</Message>\n")
    with pytest.raises(ImportFailure, match=r"x\.xml:3:2: not well-formed XML \(mismatched tag\)"):
        list(iter_elements(path, "Child"))


# --- stacking and writing ------------------------------------------------------------------------


def _read(
    year: int, children: list[tuple[str, str]], episodes: list[tuple[str, str, str | None]]
) -> ReturnRead:
    """A hand-made read: children (id, DOB) and U4 episodes (child, start, end)."""
    kids = pd.DataFrame(
        {
            "child_id": [c for c, _ in children],
            "date_of_birth": pd.to_datetime([d for _, d in children]),
            "sex": "F",
            "_location": [f"line {n}" for n in range(2, len(children) + 2)],
        }
    )
    eps = pd.DataFrame(
        {
            "episode_id": [f"{c}/{s}" for c, s, _ in episodes],
            "child_id": [c for c, _, _ in episodes],
            "start_date": pd.to_datetime([s for _, s, _ in episodes]),
            "end_date": pd.to_datetime([e for _, _, e in episodes]),
            "reason_new_episode": "S",
            "legal_status": "C2",
            "placement_type": "U4",
            "_location": [f"line {n}" for n in range(2, len(episodes) + 2)],
        }
    )
    return ReturnRead(
        "ssda903",
        Path(f"903_{year}"),
        year,
        "873",
        hashlib.sha256(str(year).encode()).hexdigest(),  # a return file's digest
        {"children": kids, "cla_episodes": eps},
        {"children": len(kids), "cla_episodes": len(eps)},
        [],
    )


def test_repeats_merge_and_counts_reconcile(tmp_path: Path) -> None:
    first = _read(2015, [("A", "2010-01-01")], [("A", "2014-05-01", None)])
    second = _read(
        2016,
        [("A", "2010-01-01"), ("B", "2011-01-01"), ("B", "2011-01-01")],  # B twice, identical
        [("A", "2014-05-01", "2015-06-01"), ("B", "2015-07-01", None)],
    )
    report = import_returns([second, first], tmp_path / "out")  # order given does not matter
    counts = report.counts
    assert (counts["children"].read, counts["children"].imported, counts["children"].merged) == (
        4,
        2,
        2,
    )
    assert (counts["cla_episodes"].read, counts["cla_episodes"].imported) == (3, 2)
    assert counts["cla_episodes"].merged == 1
    assert report.reconciles and report.findings == []
    extract = load_extract(tmp_path / "out")
    episodes = extract.tables["cla_episodes"].set_index("episode_id")
    assert episodes.loc["A/2014-05-01", "end_date"] == pd.Timestamp("2015-06-01")  # the later year


def test_a_changed_start_date_is_one_record_and_a_finding(tmp_path: Path) -> None:
    first = _read(2015, [("A", "2010-01-01")], [("A", "2014-05-01", None)])
    second = _read(2016, [("A", "2010-01-02")], [("A", "2014-05-03", None)])
    report = import_returns([first, second], tmp_path / "out")
    assert [(f.table, f.record, f.field, f.earlier, f.later) for f in report.findings] == [
        ("children", "A", "date_of_birth", "2010-01-01", "2010-01-02"),
        ("cla_episodes", "A/2014-05-03", "start_date", "2014-05-01", "2014-05-03"),
    ]
    written = pd.read_csv(tmp_path / "out" / "cla_episodes.csv")
    assert list(written["episode_id"]) == ["A/2014-05-03"]
    assert report.counts["cla_episodes"].merged == 1 and report.reconciles


def test_manifest_records_every_source(tmp_path: Path) -> None:
    import_returns([_read(2015, [("A", "2010-01-01")], [])], tmp_path / "out")
    manifest = yaml.safe_load((tmp_path / "out" / "manifest.yaml").read_text())
    assert manifest["authority"] == "873"
    assert manifest["extract_date"] == "2015-04-01"  # the day after the latest 31 March
    assert manifest["sources"] == [
        {
            "kind": "ssda903",
            "file": "903_2015",
            "year": 2015,
            "authority": "873",
            "sha256": hashlib.sha256(b"2015").hexdigest(),
            "rows": {"children": 1, "cla_episodes": 0},
        }
    ]


def test_into_adds_returns_to_an_existing_extract(tmp_path: Path) -> None:
    out = tmp_path / "out"
    import_returns([_read(2015, [("A", "2010-01-01")], [("A", "2014-05-01", None)])], out)
    later = _read(
        2016, [("A", "2010-01-01"), ("B", "2011-01-01")], [("A", "2014-05-01", "2015-06-01")]
    )
    report = import_returns([later], out, into=out)
    children = report.counts["children"]
    assert (children.existing, children.replaced, children.imported, children.written) == (
        1,
        1,
        2,
        2,
    )
    manifest = yaml.safe_load((out / "manifest.yaml").read_text())
    assert [s["year"] for s in manifest["sources"]] == [2015, 2016]
    assert load_extract(out).tables["cla_episodes"]["end_date"].iloc[0] == pd.Timestamp(
        "2015-06-01"
    )
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_rows_that_break_the_contract_are_rejected_and_strict_writes_nothing(
    tmp_path: Path,
) -> None:
    read = _read(
        2016, [("A", "2010-01-01")], [("A", "2015-05-01", None), ("Z", "2015-05-01", None)]
    )
    with pytest.raises(ImportFailure, match="1 record\\(s\\) rejected and --strict given"):
        import_returns([read], tmp_path / "strict", strict=True)
    assert not (tmp_path / "strict").exists()
    report = import_returns([read], tmp_path / "out")
    assert [(r.table, r.location, r.field, r.value, r.reason) for r in report.rejections] == [
        (
            "cla_episodes",
            "line 3",
            "child_id",
            "Z",
            "no such child_id in children (the child has no header record)",
        )
    ]
    rejected = pd.read_csv(tmp_path / "out" / "rejected_rows.csv", dtype=str)
    assert list(rejected["value"]) == ["Z"]
    assert report.counts["cla_episodes"].rejected == 1 and report.reconciles


def test_an_existing_folder_is_never_overwritten_without_into(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ImportFailure, match="already exists and is not empty"):
        import_returns([_read(2015, [("A", "2010-01-01")], [])], out)
    assert (out / "keep.txt").read_text() == "mine"


def test_two_returns_for_one_year_are_refused(tmp_path: Path) -> None:
    one = _read(2015, [("A", "2010-01-01")], [])
    with pytest.raises(
        ImportFailure, match="a second ssda903 return for the year ending 31 March 2015"
    ):
        import_returns([one, one], tmp_path / "out")


def test_population_file_becomes_the_population_table(tmp_path: Path) -> None:
    population = tmp_path / "pop.csv"
    population.write_text("year,age,count\n2015,0,1000\n2015,1,990\n")
    report = import_returns(
        [_read(2015, [("A", "2010-01-01")], [])], tmp_path / "out", population=population
    )
    assert report.notes == []
    table = load_extract(tmp_path / "out").tables["population"]
    assert list(table["count"]) == [1000.0, 990.0]
    without = import_returns([_read(2015, [("A", "2010-01-01")], [])], tmp_path / "out2")
    assert "no population given" in without.notes[0]


def test_a_bad_population_file_names_line_and_column(tmp_path: Path) -> None:
    population = tmp_path / "pop.csv"
    population.write_text("year,age,count\n2015,0,1000\n2015,19,x\n")
    with pytest.raises(ImportFailure, match="line 3: age: got '19'; line 3: count: got 'x'"):
        import_returns(
            [_read(2015, [("A", "2010-01-01")], [])], tmp_path / "out", population=population
        )
    assert not (tmp_path / "out").exists()


def test_an_undeclared_entity_is_not_well_formed(tmp_path: Path) -> None:
    path = tmp_path / "x.xml"
    path.write_text("<Message>\n<Child>&secret;</Child>\n</Message>\n")
    with pytest.raises(ImportFailure, match=r"x\.xml:2:7: not well-formed XML \(undefined entity"):
        list(iter_elements(path, "Child"))


@settings(max_examples=10, deadline=None)
@given(st.randoms(use_true_random=False))
def test_the_order_of_a_returns_rows_does_not_matter(random) -> None:  # type: ignore[no-untyped-def]
    first = _read(2015, [("A", "2010-01-01"), ("B", "2011-01-01")], [("A", "2014-05-01", None)])
    second = _read(
        2016,
        [("A", "2010-01-01"), ("B", "2011-01-02"), ("C", "2012-01-01")],
        [("A", "2014-05-01", "2015-06-01"), ("B", "2015-07-01", None), ("C", "2015-08-01", None)],
    )
    shuffled = [
        ReturnRead(
            r.kind, r.path, r.year, r.authority, r.sha256,
            {n: f.sample(frac=1, random_state=random.randrange(1000)) for n, f in r.tables.items()},
            r.records_read, r.rejections,
        )
        for r in (first, second)
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as temp:
        plain = import_returns([first, second], Path(temp) / "a")
        mixed = import_returns(shuffled, Path(temp) / "b")
        for name in ("children", "cla_episodes"):
            a = pd.read_csv(Path(temp) / "a" / f"{name}.csv")
            b = pd.read_csv(Path(temp) / "b" / f"{name}.csv")
            pd.testing.assert_frame_equal(a, b)
    assert plain.counts == mixed.counts
    assert sorted(plain.findings, key=str) == sorted(mixed.findings, key=str)
