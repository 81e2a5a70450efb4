"""Extract loading: every bad input named in issue 3 gets a located message, never a traceback."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpi_engine import extract as extract_module
from kpi_engine import keys
from kpi_engine._text import needs_trimming as _needs_trimming
from kpi_engine.cli import cli
from kpi_engine.extract import EXAMPLES_PER_RULE, ExtractError, load_extract
from kpi_engine.manifest import Manifest
from kpi_engine.periods import PeriodError, parse_month

PLANS_HEADER = "cp_plan_id,child_id,start_date,end_date,category"


def write(folder: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


def messages(folder: Path) -> list[str]:
    with pytest.raises(ExtractError) as e:
        load_extract(folder)
    return [str(p) for p in e.value.problems if p.severity == "error"]


def test_good_csv_is_coerced_to_contract_types(tmp_path):
    write(tmp_path, "cp_plans.csv", f"{PLANS_HEADER}\np1,c1,2015-01-05,,neglect\n")
    extract = load_extract(tmp_path)
    plans = extract.tables["cp_plans"]
    assert str(plans["start_date"].dtype) == "datetime64[ns]"
    assert plans["start_date"].iloc[0] == pd.Timestamp("2015-01-05")
    assert pd.isna(plans["end_date"].iloc[0])  # empty = still open


def test_empty_file(tmp_path):
    path = write(tmp_path, "cp_plans.csv", "")
    assert messages(tmp_path) == [f"{path}:1: the file is empty (expected a header row)"]


def test_header_only_is_an_empty_table(tmp_path):
    write(tmp_path, "cp_plans.csv", PLANS_HEADER + "\n")
    assert len(load_extract(tmp_path).tables["cp_plans"]) == 0


def test_missing_column_suggests_the_near_miss(tmp_path):
    path = write(tmp_path, "cp_plans.csv", "cp_plan_id,child_id,start_dat,end_date,category\n")
    assert messages(tmp_path) == [
        f"{path}:1: start_date: required column missing "
        "(found 'start_dat': a typo, or map it in manifest.yaml column_map?)"
    ]


def test_column_map_in_the_manifest_renames_a_site_column(tmp_path):
    write(tmp_path, "cp_plans.csv", "cp_plan_id,child_id,plan_start,end_date,category\n")
    write(tmp_path, "manifest.yaml", "column_map:\n  cp_plans: {plan_start: start_date}\n")
    assert "cp_plans" in load_extract(tmp_path).tables


def test_duplicate_key(tmp_path):
    path = write(
        tmp_path,
        "cp_plans.csv",
        f"{PLANS_HEADER}\np1,c1,2015-01-05,,neglect\np1,c2,2015-02-05,,neglect\n",
    )
    assert messages(tmp_path) == [
        f"{path}:3: cp_plan_id: duplicate key (got 'p1'; keys must be unique)"
    ]


def test_bad_date_unknown_code_and_end_before_start_are_all_reported(tmp_path):
    path = write(
        tmp_path,
        "cp_plans.csv",
        f"{PLANS_HEADER}\n"
        "p1,c1,2015-13-01,,neglect\n"
        "p2,c1,2015-01-05,,negelct\n"
        "p3,c1,2015-06-01,2015-05-01,neglect\n",
    )
    assert messages(tmp_path) == [
        f"{path}:2: start_date: not a date (got '2015-13-01'; expected YYYY-MM-DD)",
        f"{path}:3: category: not one of the codes neglect, physical, emotional, sexual, "
        "multiple (got 'negelct')",
        f"{path}:4: end_date: ends before it starts (start_date '2015-06-01 > 2015-05-01')",
    ]


def test_a_rule_reports_its_first_rows_then_a_count(tmp_path):
    rows = "".join(f"p{i},c1,bad,,neglect\n" for i in range(EXAMPLES_PER_RULE + 5))
    path = write(tmp_path, "cp_plans.csv", f"{PLANS_HEADER}\n{rows}")
    found = messages(tmp_path)
    assert len(found) == EXAMPLES_PER_RULE + 1
    assert found[-1] == f"{path}: start_date: ... and 5 more rows with the same problem"


def test_bom_and_windows_line_endings(tmp_path):
    text = f"{PLANS_HEADER}\r\np1,c1,2015-01-05,,neglect\r\n"
    (tmp_path / "cp_plans.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    plans = load_extract(tmp_path).tables["cp_plans"]
    assert plans.columns[0] == "cp_plan_id"
    assert plans["category"].iloc[0] == "neglect"


def test_latin1_file_is_read_with_a_warning(tmp_path):
    write(
        tmp_path,
        "children.csv",
        "child_id,date_of_birth,sex,ethnicity,disabled\nc1,2010-01-01,F,Irish – Traveller é,N\n",
        encoding="cp1252",
    )
    extract = load_extract(tmp_path)
    assert extract.tables["children"]["ethnicity"].iloc[0] == "Irish – Traveller é"
    (warning,) = extract.problems
    assert warning.severity == "warning" and "not UTF-8" in warning.message


def test_quoted_field_with_the_delimiter(tmp_path):
    write(
        tmp_path,
        "children.csv",
        'child_id,date_of_birth,sex,ethnicity,disabled\nc1,2010-01-01,F,"White, other",N\n',
    )
    assert load_extract(tmp_path).tables["children"]["ethnicity"].iloc[0] == "White, other"


def test_parquet_with_a_wrong_type(tmp_path):
    table = pa.table(
        {
            "cp_plan_id": ["p1"],
            "child_id": ["c1"],
            "start_date": pa.array([3.5]),
            "end_date": pa.array([None], pa.date32()),
            "category": ["neglect"],
        }
    )
    path = tmp_path / "cp_plans.parquet"
    pq.write_table(table, path)
    assert messages(tmp_path) == [f"{path}: start_date: expected a date, the file stores float64"]


def test_dangling_reference_is_a_listed_warning(tmp_path):
    write(
        tmp_path,
        "children.csv",
        "child_id,date_of_birth,sex,ethnicity,disabled\nc1,2010-01-01,F,,\n",
    )
    write(tmp_path, "cp_plans.csv", f"{PLANS_HEADER}\np1,c9,2015-01-05,,neglect\n")
    extract = load_extract(tmp_path)
    assert [str(p) for p in extract.problems] == [
        f"{tmp_path / 'cp_plans.csv'}:2: child_id: no such child_id in children (got 'c9')"
    ]


def test_kpi_validate_extracts_exit_codes(tmp_path):
    runner = CliRunner()
    good = runner.invoke(cli, ["validate", "--extracts", "sample_data"])
    assert good.exit_code == 0, good.output
    assert "0 error(s)" in good.stderr
    write(tmp_path, "cp_plans.csv", f"{PLANS_HEADER}\np1,c1,2015-13-01,,neglect\n")
    bad = runner.invoke(cli, ["validate", "--extracts", str(tmp_path), "--format", "json"])
    assert bad.exit_code == 1
    assert '"2015-13-01"' not in bad.stdout  # values are quoted inside messages
    assert "not a date (got '2015-13-01'" in bad.stdout
    assert "Traceback" not in bad.output


@pytest.mark.parametrize(
    ("ids", "duplicate"),
    [
        (["p2", "p1", "p2"], (4, "p2")),  # out of order: the keys are hashed
        (["p1", "p2", "p3"], None),  # in order: one comparison of neighbours proves them distinct
        (["p1", "", "p1"], (4, "p1")),  # an empty key between two equal ones hides nothing
    ],
)
def test_duplicate_keys_are_found_in_any_order(tmp_path, ids, duplicate):
    rows = "".join(f"{i},c1,2015-01-05,,neglect\n" for i in ids)
    path = write(tmp_path, "cp_plans.csv", f"{PLANS_HEADER}\n{rows}")
    extract = load_extract(tmp_path, strict=False)
    found = [str(p) for p in extract.problems if "duplicate key" in p.message]
    if duplicate is None:
        assert found == []
    else:
        line, key = duplicate
        assert found == [
            f"{path}:{line}: cp_plan_id: duplicate key (got {key!r}; keys must be unique)"
        ]


def test_a_run_loads_and_checks_only_the_columns_it_reads(tmp_path):
    # category is bad, but a run that never reads it is not stopped by it
    write(tmp_path, "cp_plans.csv", f"{PLANS_HEADER}\np1,c1,2015-01-05,,negelct\n")
    columns = {"cp_plans": {"cp_plan_id", "child_id", "start_date", "end_date"}}
    plans = load_extract(tmp_path, columns=columns).tables["cp_plans"]
    assert list(plans.columns) == ["cp_plan_id", "child_id", "start_date", "end_date"]
    assert any("negelct" in m for m in messages(tmp_path))  # the full load still reports it


def test_a_column_a_run_reads_is_still_required_with_its_hint(tmp_path):
    path = write(tmp_path, "cp_plans.csv", "cp_plan_id,child_id,start_dat,end_date,category\n")
    with pytest.raises(ExtractError) as e:
        load_extract(tmp_path, columns={"cp_plans": {"cp_plan_id", "start_date"}})
    assert [str(p) for p in e.value.problems] == [
        f"{path}:1: start_date: required column missing "
        "(found 'start_dat': a typo, or map it in manifest.yaml column_map?)",
        f"{path}:1: start_dat: not a column of the contract; ignored",
    ]


def test_a_run_reads_a_site_column_through_the_manifest_map(tmp_path):
    pq.write_table(
        pa.table(
            {
                "PlanRef": ["p1"],
                "child_id": ["c1"],
                "plan_start": pa.array([pd.Timestamp("2015-01-05")], pa.date32()),
                "end_date": pa.array([None], pa.date32()),
                "category": ["neglect"],
            }
        ),
        tmp_path / "cp_plans.parquet",
    )
    write(
        tmp_path,
        "manifest.yaml",
        "column_map:\n  cp_plans: {plan_start: start_date, PlanRef: cp_plan_id}\n",
    )
    plans = load_extract(tmp_path, columns={"cp_plans": {"cp_plan_id", "start_date"}}).tables[
        "cp_plans"
    ]
    assert list(plans.columns) == ["cp_plan_id", "start_date"]
    assert plans["start_date"].iloc[0] == pd.Timestamp("2015-01-05")


@pytest.mark.parametrize(
    ("value", "read_as"),
    [
        ("c1", "c1"),
        (" c1", "c1"),
        ("c1\t", "c1"),
        ("\u00a0c1\u3000", "c1"),  # Unicode spaces at either end
        ("é1", "é1"),  # non-ASCII but not a space: kept as it is
        ("a b", "a b"),  # an inner space is part of the value
    ],
)
def test_text_is_trimmed_at_its_ends_only(tmp_path, value, read_as):
    # child_id is a people id (coded), ethnicity plain text: both are trimmed the same way
    write(
        tmp_path,
        "children.csv",
        f"child_id,date_of_birth,sex,ethnicity,disabled\n{value},2010-01-01,F,{value},N\n",
    )
    children = load_extract(tmp_path).tables["children"]
    assert (children["child_id"].iloc[0], children["ethnicity"].iloc[0]) == (read_as, read_as)


def test_trimming_is_checked_on_every_chunk_and_slice():
    # Arrow slices share their parent's buffers: each must be read at its own offset
    clean = pa.array(["a", " b", "c", "d"]).slice(2)
    assert not _needs_trimming(clean)
    assert _needs_trimming(pa.chunked_array([clean, pa.array(["e "])]))
    assert _needs_trimming(pa.chunked_array([clean, pa.array(["", None])]))
    assert not _needs_trimming(pa.chunked_array([clean, pa.array([None, "f"])]))


# --- issue 12: hostile input (the adversarial suite is tests/adversarial/) ---------------------


@pytest.mark.parametrize("chunk", [3, 16 * 1024**2])
def test_records_start_on_their_physical_line(monkeypatch, chunk):
    # line 1 header; a record over lines 2-3; blank line 4; line 5; blank CRLF line 6; line 7
    monkeypatch.setattr(extract_module, "_CHUNK_BYTES", chunk)  # quotes across chunk edges
    data = b'a,b\n1,"x\ny"\n\n2,3\r\n\r\n4,5'
    assert extract_module._record_lines(data).tolist() == [1, 2, 5, 7]


def test_an_escaped_quote_keeps_the_record_open():
    # "" inside quotes is one quote character: the newline after it is still inside the value
    data = b'a,b\n1,"say ""hi""\nthere"\n2,3\n'
    assert extract_module._record_lines(data).tolist() == [1, 2, 4]


def test_dates_at_the_edges_of_the_plausible_range(tmp_path):
    # docs/extract-validation.md: 1900-01-02 is the first plausible date, 2199-12-31 the last
    write(
        tmp_path,
        "children.csv",
        "child_id,date_of_birth,sex,ethnicity,disabled\n"
        "c1,1900-01-01,F,,\nc2,1900-01-02,F,,\nc3,2199-12-31,F,,\nc4,2200-01-01,F,,\n",
    )
    extract = load_extract(tmp_path, strict=False)
    errors = [(p.line, p.message) for p in extract.problems if p.severity == "error"]
    assert [line for line, _ in errors] == [2, 5]
    births = extract.tables["children"]["date_of_birth"]
    assert births.isna().tolist() == [True, False, False, True]  # refused values are not read


def test_the_latest_date_ignores_dates_after_the_extract_was_taken(tmp_path):
    write(tmp_path, "manifest.yaml", "extract_date: 2016-04-01\n")
    write(
        tmp_path,
        "cp_plans.csv",
        f"{PLANS_HEADER}\np1,c1,2016-03-20,,neglect\np2,c1,2016-03-21,2016-09-30,neglect\n",
    )
    # 2016-09-30 is ahead of the extract date (within the margin: no warning, not the latest)
    extract = load_extract(tmp_path)
    assert extract.latest_date == pd.Timestamp("2016-03-21")
    assert extract.problems == ()


def test_a_manifest_holds_only_checked_plain_data(tmp_path):
    write(tmp_path, "manifest.yaml", "authority: A\nextract_date: 2016-04-01\nnotes: hello\n")
    manifest = load_extract(tmp_path, strict=False).manifest
    assert manifest == Manifest(authority="A", extract_date=dt.date(2016, 4, 1))
    assert not hasattr(manifest, "extra")  # an unknown key is a warning, copied nowhere


def test_periods_outside_the_supported_months_are_refused():
    assert parse_month("1900-01") == 1900 * 12
    assert parse_month("2199-12") == 2199 * 12 + 11
    for text in ("1899-12", "2200-01", "0000-01", "9999-12"):
        with pytest.raises(PeriodError, match="outside the supported months 1900-01 to 2199-12"):
            parse_month(text)


_CELL = st.text(alphabet='ab,"\n ', max_size=6)


@given(rows=st.lists(st.lists(_CELL, min_size=2, max_size=2), min_size=1, max_size=8))
def test_record_lines_agree_with_the_csv_module(rows):
    # the csv module, record by record, is the naive reference for the vectorised scan
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([["h1", "h2"], *rows])
    text = out.getvalue()
    reader = csv.reader(io.StringIO(text))
    expected, consumed = [], 0
    for record in reader:
        if record:  # the csv module yields [] for a blank line, as Arrow skips it
            expected.append(consumed + 1)
        consumed = reader.line_num
    assert extract_module._record_lines(text.encode()).tolist() == expected


REFERRALS_HEADER = "referral_id,child_id,referral_date,source,outcome,closure_date"
ASSESSMENTS_HEADER = "assessment_id,child_id,referral_id,start_date,completed_date"


def test_a_referral_id_is_coded_with_the_assessments_that_name_it(tmp_path):
    # referral ids are coded over one list only when another loaded table refers to them;
    # an id with white space about it is the same referral once trimmed, as text always was
    write(
        tmp_path,
        "referrals.csv",
        f"{REFERRALS_HEADER}\nR2,c1,2015-01-05,,assessment,\n R1 ,c2,2015-02-05,,nfa,\n",
    )
    write(
        tmp_path,
        "assessments.csv",
        f"{ASSESSMENTS_HEADER}\na1,c2,R1,2015-02-06,\na2,c1,R2 ,2015-01-06,\n"
        "a3,c1,R9,2015-01-07,\n",
    )
    extract = load_extract(tmp_path, references=False)
    referrals = extract.tables["referrals"]
    assessments = extract.tables["assessments"]
    assert keys.shared_categories(referrals["referral_id"], assessments["referral_id"]) is not None
    assert referrals["referral_id"].astype(str).tolist() == ["R2", "R1"]
    assert keys.positions(assessments["referral_id"], referrals["referral_id"]).tolist() == [
        1,
        0,
        -1,
    ]
    alone = load_extract(tmp_path, ["referrals"]).tables["referrals"]["referral_id"]
    assert not isinstance(alone.dtype, pd.CategoricalDtype)  # nothing links to it: not hashed
    assert alone.tolist() == ["R2", "R1"]


def test_a_repeated_referral_id_is_reported_once_coded(tmp_path):
    path = write(
        tmp_path,
        "referrals.csv",
        f"{REFERRALS_HEADER}\nR1,c1,2015-01-05,,nfa,\nR1 ,c2,2015-02-05,,nfa,\n",
    )
    write(tmp_path, "assessments.csv", f"{ASSESSMENTS_HEADER}\na1,c2,R1,2015-02-06,\n")
    assert messages(tmp_path) == [
        f"{path}:3: referral_id: duplicate key (got 'R1'; keys must be unique)"
    ]
    with pytest.raises(ExtractError) as alone:
        load_extract(tmp_path, ["referrals"])
    assert [str(p) for p in alone.value.problems] == messages(tmp_path)


_DAY = st.one_of(
    st.none(),
    st.dates(min_value=dt.date(1890, 1, 1), max_value=dt.date(2030, 12, 31)),
    st.sampled_from([dt.date(9999, 12, 31), dt.date(1900, 1, 1), dt.date(2199, 12, 31)]),
)


def plans_with_dates(folder: Path, rows: list[tuple[Any, Any]], group: int | None = None) -> None:
    """cp_plans.parquet with these (start, end) date32 pairs, in row groups of ``group``."""
    write(folder, "manifest.yaml", "extract_date: 2016-04-01\n")
    plans = pa.table(
        {
            "cp_plan_id": [f"p{i}" for i in range(len(rows))],
            "child_id": ["c1"] * len(rows),
            "start_date": pa.array([r[0] for r in rows], pa.date32()),
            "end_date": pa.array([r[1] for r in rows], pa.date32()),
            "category": ["neglect"] * len(rows),
        }
    )
    pq.write_table(plans, folder / "cp_plans.parquet", row_group_size=group)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(st.tuples(_DAY, _DAY), min_size=1, max_size=12))
def test_dates_checked_from_their_extremes_read_as_when_checked_one_by_one(
    tmp_path_factory, monkeypatch, rows
):
    # extract._all_plausible lets a column whose earliest and latest dates are fine skip the
    # row-by-row checks: the tables and problems must be those the checks give
    folder = tmp_path_factory.mktemp("dates")
    plans_with_dates(folder, rows)
    quick = load_extract(folder, strict=False, references=False)
    monkeypatch.setattr(extract_module, "_all_plausible", lambda values, rules: False)
    checked = load_extract(folder, strict=False, references=False)
    pd.testing.assert_frame_equal(quick.tables["cp_plans"], checked.tables["cp_plans"])
    assert quick.problems == checked.problems


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(st.tuples(_DAY, _DAY), min_size=1, max_size=12),
    group=st.integers(min_value=1, max_value=5),
)
def test_parquet_days_read_straight_into_nanoseconds_as_through_microseconds(
    tmp_path_factory, monkeypatch, rows, group
):
    # extract._day_nanoseconds fills one nanosecond array from a date32 column's day numbers,
    # chunk by chunk (row groups of ``group`` rows), nulls as NaT; a column with a date
    # nanoseconds cannot hold (9999-12-31) takes the microsecond path, which reports it
    folder = tmp_path_factory.mktemp("days")
    plans_with_dates(folder, rows, group)
    straight = load_extract(folder, strict=False, references=False)
    monkeypatch.setattr(extract_module, "_day_nanoseconds", lambda column: None)
    cast = load_extract(folder, strict=False, references=False)
    pd.testing.assert_frame_equal(straight.tables["cp_plans"], cast.tables["cp_plans"])
    assert straight.problems == cast.problems
    assert straight.latest_dates == cast.latest_dates


@settings(max_examples=80, deadline=None)
@given(
    days=st.lists(
        st.one_of(st.none(), st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2030, 1, 1)))
    )
)
def test_a_columns_latest_date_is_the_latest_not_after_the_extract_was_taken(days):
    # extract.latest_in reads the greatest integer first (NaT is the least) and filters only
    # when that one is after the extract date
    taken = dt.date(2016, 4, 1)
    column = pd.Series(pd.to_datetime(pd.Series(days, dtype=object)), dtype="datetime64[ns]")
    found = extract_module.latest_in(column, Manifest(extract_date=taken))
    expected = max((d for d in days if d is not None and d <= taken), default=None)
    assert found == (pd.Timestamp(expected) if expected is not None else None)
