"""Hostile extracts (issue 12, "Extracts"): sentinel and implausible dates, out-of-contract and
huge numbers, broken files, CSV quirks, and the last-resort handler for tracebacks.

Rules: docs/extract-validation.md. Every failing case checks the exact exit code, the message
at its file, line or row, and column, and that the previous output is byte-identical.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from tests.adversarial.conftest import PREVIOUS, compute_args, sample, unchanged

SENTINEL = dt.date(9999, 12, 31)
ROW = 4
"""The data row damaged (0-based): CSV line 6 (header = line 1), Parquet row 5."""


def line_of(fmt: str, row: int = ROW) -> int:
    return row + 2 if fmt == "csv" else row + 1


def problems(kpi, folder: Path) -> tuple[int, list[dict]]:
    result = kpi("validate", "--extracts", str(folder), "--format", "json")
    assert "Traceback" not in result.stderr
    return result.code, json.loads(result.stdout)["problems"]


def located(found: list[dict], file: Path, line: int | None, column: str, text: str) -> bool:
    return any(
        p["file"] == str(file)
        and p["line"] == line
        and p["field"] == column
        and text in p["message"]
        and p["severity"] == "error"
        for p in found
    )


def refused(kpi, extract, table, column, line, text, output) -> None:
    """validate exits 1 with the located error; compute (when it reads the column) too, and
    writes nothing."""
    code, found = problems(kpi, extract.folder)
    assert code == 1
    assert located(found, extract.path(table), line, column, text), found
    if table in READS and (column == "" or column in READS[table]):
        result = kpi(*compute_args(extract.folder, table, output))
        assert result.code == 1
        where = f"{extract.path(table)}:{line}" if line is not None else str(extract.path(table))
        where += f": {column}: " if column else ": "
        assert f"{where}" in result.stderr and text in result.stderr, result.stderr
        assert unchanged(output)


READS = {
    "staff": {"staff_id", "start_date", "end_date", "fte", "employment_type", "frontline"},
    "population": {"year", "age", "count"},
    "finance": {"month", "line", "budget", "forecast_outturn"},
    "care_leavers": {"date_of_birth", "qualifying", "child_id"},
    "supervisions": {"supervision_date", "supervision_id", "staff_id"},
    "yos_disposals": {"disposal_type", "disposal_date", "disposal_id"},
}
"""The columns ``kpi compute`` of conftest.READER's indicator reads (only these are checked)."""


# --- sentinels in end-date columns: "still open", read as no end ----------------------------

OPEN_ENDS = [
    ("staff", "end_date", "parquet"),
    ("staff", "end_date", "csv"),
    ("sickness_absence", "end_date", "parquet"),
    ("sickness_absence", "end_date", "csv"),
    ("care_proceedings", "final_order_date", "parquet"),
    ("care_proceedings", "final_order_date", "csv"),
]


@pytest.mark.parametrize(("table", "column", "fmt"), OPEN_ENDS)
def test_an_open_end_sentinel_is_no_end(kpi, build, table, column, fmt):
    extract = build((table,), fmt)
    extract.set_value(table, column, ROW, SENTINEL if fmt == "parquet" else "9999-12-31")
    code, found = problems(kpi, extract.folder)
    assert code == 0, found
    assert not [p for p in found if p["field"] == column]


@pytest.mark.adversarial
@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_the_sentinel_counts_as_an_open_record(kpi, build, tmp_path, fmt):
    # C14 counts staff in post at month end: an open end (empty) and 9999-12-31 both count
    results = []
    for value in (None if fmt == "parquet" else "", SENTINEL if fmt == "parquet" else "9999-12-31"):
        extract = build(("staff",), fmt)
        extract.set_value("staff", "end_date", ROW, value)
        out = tmp_path / f"c14-{len(results)}.csv"
        assert kpi(*compute_args(extract.folder, "staff", out)).code == 0
        results.append(out.read_bytes())
    assert results[0] == results[1]


def test_a_site_sentinel_from_the_manifest(kpi, build):
    extract = build(("staff",))
    extract.set_value("staff", "end_date", ROW, dt.date(2099, 12, 31))
    extract.manifest["open_end_dates"] = ["2099-12-31"]
    extract.write_manifest()
    code, found = problems(kpi, extract.folder)
    assert code == 0 and not [p for p in found if p["field"] == "end_date"], found


# --- implausible dates: located errors ---------------------------------------------------------

IMPLAUSIBLE = [
    ("staff", "start_date", "parquet", SENTINEL, "only in an end-date column"),
    ("staff", "start_date", "csv", "9999-12-31", "only in an end-date column"),
    ("staff", "start_date", "csv", "0001-01-01", "expected 1900-01-02 to 2199-12-31"),
    ("staff", "end_date", "parquet", dt.date(1900, 1, 1), "expected 1900-01-02"),
    ("supervisions", "supervision_date", "parquet", SENTINEL, "only in an end-date column"),
    ("care_leavers", "date_of_birth", "parquet", dt.date(1900, 1, 1), "got '1900-01-01'"),
    ("care_leavers", "date_of_birth", "csv", "1900-01-01", "got '1900-01-01'"),
    ("yos_disposals", "disposal_date", "csv", "2200-01-01", "got '2200-01-01'"),
    ("finance", "month", "csv", "9999-12", "got '9999-12-01'"),
]


@pytest.mark.parametrize(("table", "column", "fmt", "value", "text"), IMPLAUSIBLE)
def test_an_implausible_date_is_a_located_error(
    kpi, build, output, table, column, fmt, value, text
):
    extract = build((table,), fmt)
    extract.set_value(table, column, ROW, value)
    refused(kpi, extract, table, column, line_of(fmt), "implausible date", output)
    refused(kpi, extract, table, column, line_of(fmt), text, output)


@pytest.mark.adversarial
def test_a_stray_future_date_does_not_move_the_default_period(kpi, build, tmp_path):
    # no manifest: the default period counts back from the latest date not after today
    outputs = []
    for stray in (False, True):
        extract = build(("staff", "supervisions"))
        (extract.folder / "manifest.yaml").unlink()
        if stray:
            extract.set_value("supervisions", "supervision_date", ROW, dt.date(2150, 1, 1))
        out = tmp_path / f"c16-{stray}.csv"
        args = compute_args(extract.folder, "supervisions", out)
        del args[args.index("--period") : args.index("--period") + 2]
        result = kpi(*args)
        assert result.code == 0, result.stderr
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    assert b",2016-02," in outputs[0]  # the sample's last event is in March 2016
    code, found = problems(kpi, extract.folder)
    assert code == 0
    assert any(
        p["severity"] == "warning" and "a date in the future (got '2150-01-01'" in p["message"]
        for p in found
    )


# --- out-of-contract numbers --------------------------------------------------------------------

OUT_OF_RANGE = [
    ("population", "age", "csv", "-1", "out of range (got '-1'; expected 0 to 17)"),
    ("population", "age", "csv", "18", "out of range (got '18'; expected 0 to 17)"),
    ("population", "year", "csv", "1800", "expected 1900 to 2199"),
    ("population", "count", "csv", "-5", "out of range (got '-5'; expected 0 or more)"),
    ("staff", "fte", "parquet", float("inf"), "not a finite number (got inf)"),
    ("staff", "fte", "csv", "-inf", "not a finite number (got '-inf')"),
    ("staff", "fte", "parquet", float("nan"), "a value is required"),
    ("staff", "fte", "csv", "nan", "not a number (got 'nan')"),
    ("staff", "fte", "csv", "-0.5", "expected 0 or more"),
    ("sickness_absence", "days_lost", "csv", "-1", "expected 0 or more"),
    ("finance", "budget", "parquet", float("inf"), "not a finite number"),
]


@pytest.mark.parametrize(("table", "column", "fmt", "value", "text"), OUT_OF_RANGE)
def test_an_out_of_contract_number_is_a_located_error(
    kpi, build, output, table, column, fmt, value, text
):
    extract = build((table,), fmt)
    extract.set_value(table, column, ROW, value)
    refused(kpi, extract, table, column, line_of(fmt), text, output)


HUGE = "99999999999999999999999"
NUMERIC_COLUMNS = [
    ("population", "year"),
    ("population", "age"),
    ("population", "count"),
    ("staff", "fte"),
    ("sickness_absence", "days_lost"),
    ("finance", "budget"),
    ("finance", "forecast_outturn"),
    ("finance", "actual_to_date"),
]


@pytest.mark.parametrize(("table", "column"), NUMERIC_COLUMNS)
def test_a_huge_number_is_a_located_error_not_a_crash(kpi, build, output, table, column):
    extract = build((table,), "csv")
    extract.set_value(table, column, ROW, HUGE)
    refused(kpi, extract, table, column, line_of("csv"), f"out of range (got '{HUGE}'", output)


def test_a_number_beyond_floats_is_not_finite(kpi, build, output):
    extract = build(("staff",), "csv")
    extract.set_value("staff", "fte", ROW, "1e400")
    refused(kpi, extract, "staff", "fte", line_of("csv"), "not a finite number", output)


# --- broken files ----------------------------------------------------------------------------


def _dangling(path: Path) -> None:
    path.unlink()
    path.symlink_to(path.parent / "nowhere.parquet")


def _loop(path: Path) -> None:
    path.unlink()
    path.symlink_to(path.name)


def _folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)  # reading it would block for ever


def _sparse(path: Path) -> None:
    with path.open("r+b") as f:
        f.truncate(5 * 1024**3)  # claims 5 GB, occupies almost nothing


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _garbage(path: Path) -> None:
    path.write_bytes(b"PAR1" + os.urandom(2000))


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


BROKEN = [
    ("dangling symlink", _dangling, "a broken symbolic link"),
    ("symlink loop", _loop, "a symbolic link that loops"),
    ("folder", _folder, "a folder, not a table file"),
    ("fifo", _fifo, "not a regular file"),
    ("sparse 5 GB", _sparse, "refused: 5,368,709,120 bytes is over the limit of 2,147,483,648"),
    ("empty", _empty, "cannot be read as Parquet"),
    ("garbage", _garbage, "cannot be read as Parquet"),
    ("truncated", _truncated, "cannot be read as Parquet"),
]


@pytest.mark.parametrize(("kind", "damage", "text"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_table_file_is_an_error_never_absent(kpi, build, output, kind, damage, text):
    extract = build(("staff",))
    damage(extract.path("staff"))
    refused(kpi, extract, "staff", "", None, text, output)


def test_the_size_limit_is_configurable(kpi, build, output, monkeypatch):
    extract = build(("staff",), "csv")
    size = extract.path("staff").stat().st_size
    monkeypatch.setenv("KPI_MAX_TABLE_BYTES", str(size - 1))
    refused(kpi, extract, "staff", "", None, "set KPI_MAX_TABLE_BYTES", output)
    monkeypatch.setenv("KPI_MAX_TABLE_BYTES", str(size))
    assert problems(kpi, extract.folder)[0] == 0


def test_an_unreadable_table_is_an_error(kpi, build, output, monkeypatch):
    # the suite may run as root, whom permissions do not stop: the check itself is tested
    extract = build(("staff",))
    target = str(extract.path("staff"))
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: str(p) != target and real_access(p, mode))
    refused(kpi, extract, "staff", "", None, "cannot be read: permission denied", output)


# --- CSV quirks: the file's physical line -----------------------------------------------------


def _staff_csv(extract, edit) -> Path:
    frame = sample("staff")
    for column in ("start_date", "end_date"):
        frame[column] = frame[column].astype("datetime64[ns]").dt.strftime("%Y-%m-%d")
    frame = frame.astype(object)  # any cell may take any text
    edit(frame)
    return extract.write_csv("staff", frame)


def test_a_bad_date_after_a_quoted_newline_is_at_its_physical_line(kpi, build, output):
    extract = build(("staff",), "csv")

    def edit(frame: pd.DataFrame) -> None:
        frame.loc[1, "job_title"] = "Social worker\n(senior)"  # one record over two lines
        frame.loc[9, "start_date"] = "2015-13-01"  # record 11, physical line 12

    _staff_csv(extract, edit)
    refused(kpi, extract, "staff", "start_date", 12, "not a date (got '2015-13-01'", output)


def test_blank_lines_do_not_shift_line_numbers(kpi, build, output):
    extract = build(("staff",), "csv")
    path = _staff_csv(extract, lambda f: None)
    lines = path.read_text().split("\n")
    lines[7] = lines[7].replace(lines[7].split(",")[7], "x", 1)  # fte of line 8
    path.write_text("\n".join([*lines[:3], "", *lines[3:]]))  # a blank line 4: fte now line 9
    refused(kpi, extract, "staff", "fte", 9, "not a number (got 'x')", output)


def test_crlf_and_a_quoted_newline(kpi, build, output):
    extract = build(("staff",), "csv")

    def edit(frame: pd.DataFrame) -> None:
        frame.loc[0, "team"] = "North\r\nEast"
        frame.loc[5, "start_date"] = "yesterday"  # record 7, physical line 8

    path = _staff_csv(extract, edit)
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n"))
    refused(kpi, extract, "staff", "start_date", 8, "not a date (got 'yesterday'", output)


def test_a_byte_order_mark_and_a_quoted_newline(kpi, build, output):
    extract = build(("staff",), "csv")

    def edit(frame: pd.DataFrame) -> None:
        frame.loc[2, "leaving_reason"] = "moved\n\nabroad"  # two extra lines
        frame.loc[3, "frontline"] = "perhaps"  # record 5, physical line 7

    path = _staff_csv(extract, edit)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    refused(kpi, extract, "staff", "frontline", 7, "not a boolean (got 'perhaps'", output)


def test_a_semicolon_separated_line_is_located(kpi, build, output):
    extract = build(("staff",), "csv")
    path = _staff_csv(extract, lambda f: None)
    lines = path.read_text().split("\n")
    lines[9] = lines[9].replace(",", ";")
    path.write_text("\n".join(lines))
    refused(kpi, extract, "staff", "", 10, "expected 11 fields, found 1 (separated by ';'", output)


@pytest.mark.adversarial
def test_a_tail_of_nul_bytes_is_located(kpi, build, output):
    extract = build(("staff",), "csv")
    path = _staff_csv(extract, lambda f: None)
    lines = path.read_bytes().count(b"\n")
    path.write_bytes(path.read_bytes() + b"\x00" * 4096)
    refused(kpi, extract, "staff", "", lines + 1, "NUL bytes", output)


def test_a_header_only_table_the_manifest_says_has_rows(kpi, build, output):
    extract = build(("staff",), "csv")
    path = extract.path("staff")
    path.write_text(path.read_text().split("\n")[0] + "\n")
    refused(kpi, extract, "staff", "", 1, "declares 1,628 rows; the file holds 0", output)


def test_a_truncated_table_the_manifest_says_has_more_rows(kpi, build, output):
    extract = build(("staff",), "csv")
    path = extract.path("staff")
    path.write_text("\n".join(path.read_text().split("\n")[:1001]) + "\n")
    refused(kpi, extract, "staff", "", 1, "declares 1,628 rows; the file holds 1,000", output)


# --- no traceback reaches the user ------------------------------------------------------------


def _explode(*args, **kwargs):
    raise RuntimeError("injected failure")


def test_an_unexpected_failure_is_one_line_naming_the_file(kpi, build, output, monkeypatch):
    extract = build(("staff",))
    monkeypatch.setattr("kpi_engine.extract._check_table", _explode)
    result = kpi(*compute_args(extract.folder, "staff", output))
    assert result.code == 1
    assert result.stderr == (
        f"kpi: error: unexpected failure while reading {extract.path('staff')}: "
        "RuntimeError: injected failure (run with kpi --debug for the traceback)\n"
    )
    assert output.read_bytes() == PREVIOUS


@pytest.mark.parametrize("how", ["--debug", "KPI_DEBUG=1"])
def test_the_traceback_only_on_request(kpi, build, output, monkeypatch, how):
    extract = build(("staff",))
    monkeypatch.setattr("kpi_engine.extract._check_table", _explode)
    args = compute_args(extract.folder, "staff", output)
    if how == "--debug":
        args = ["--debug", *args]
    else:
        monkeypatch.setenv("KPI_DEBUG", "1")
    result = kpi(*args)
    assert result.code == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "RuntimeError: injected failure" in result.stderr
    assert result.stderr.endswith(
        f"kpi: error: unexpected failure while reading {extract.path('staff')}: "
        "RuntimeError: injected failure\n"
    )


# --- the same refusals from kpi scorecard, the cron job's command -------------------------------


def _start_sentinel(extract) -> tuple[Path, int, str]:
    extract.set_value("staff", "start_date", ROW, SENTINEL)
    return extract.path("staff"), ROW + 1, "start_date: implausible date (got '9999-12-31'"


def _huge_year(extract) -> tuple[Path, int, str]:
    (extract.folder / "population.parquet").unlink()
    frame = sample("population").astype(object)
    frame.loc[ROW, "year"] = HUGE
    path = extract.write_csv("population", frame)
    return path, ROW + 2, f"year: out of range (got '{HUGE}'"


def _header_only(extract) -> tuple[Path, int, str]:
    path = extract.path("staff")
    extract.fmt = "csv"
    frame = sample("staff").iloc[:0]
    path.unlink()
    return (
        extract.write_csv("staff", frame),
        1,
        "manifest.yaml declares 1,628 rows; the file holds 0",
    )


SCORECARD = [
    ("sentinel start", _start_sentinel),
    ("huge year", _huge_year),
    ("header only", _header_only),
]


@pytest.mark.adversarial
@pytest.mark.parametrize("damage", [d for _, d in SCORECARD], ids=[i for i, _ in SCORECARD])
def test_scorecard_refuses_and_keeps_the_previous_file(kpi, build, output, damage):
    extract = build(("staff", "population"))
    path, line, text = damage(extract)
    result = kpi(
        "scorecard",
        "--extracts",
        str(extract.folder),
        "--definitions",
        "contract-2016-17",
        "--period",
        "2015-12",
        "--output",
        str(output),
    )
    assert result.code == 1
    assert f"{path}:{line}: {text}" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert unchanged(output)


@pytest.mark.parametrize("days", [2**31 - 1, -(2**31)])
def test_a_date32_beyond_any_calendar_is_a_located_error(kpi, build, output, days):
    # date32 reaches 5.8 million years: clipped to microseconds' edge, never wrapped
    extract = build(("staff",))
    arrow = pq.read_table(extract.path("staff"))
    index = arrow.schema.get_field_index("start_date")
    values = pc.cast(arrow.column(index), pa.int32()).to_pylist()
    values[ROW] = days
    arrow = arrow.set_column(index, "start_date", pa.array(values, pa.int32()).cast(pa.date32()))
    pq.write_table(arrow, extract.path("staff"))
    refused(kpi, extract, "staff", "start_date", ROW + 1, "implausible date (got '", output)


RAW_POPULATION = [
    ('year,"age,count\n2015,1,100\n', 1, "the header row cannot be read: "),
    ('year,age,count\n2015,1,100\n2015,"2,5\n2015,3,4\n', 3, "expected 3 fields, found 2"),
    ("year,age,count\n2015,1,100\n2015,2\n", 3, "expected 3 fields, found 2"),
    ("year,age,count\n2015,1,100,7\n", 2, "expected 3 fields, found 4"),
]


@pytest.mark.parametrize(("text", "line", "message"), RAW_POPULATION)
def test_a_malformed_csv_is_located(kpi, build, output, text, line, message):
    extract = build(("population",), "csv")
    extract.manifest["rows"] = {}
    extract.write_manifest()
    extract.path("population").write_text(text)
    refused(kpi, extract, "population", "", line, message, output)
