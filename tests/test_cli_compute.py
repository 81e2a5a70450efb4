"""``kpi compute`` and ``kpi explain`` through the CLI, on a small hand-made extract."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from kpi_engine.cli import cli
from kpi_engine.engine import OUTPUT_COLUMNS
from kpi_engine.lock import OutputLock, lock_path_for

SET_YAML = """\
name: mini
title: Mini set
order: [A3, B8]
"""

A3 = """\
id: A3
name: Case file audits rated requires improvement or better
group: children_in_need
contract: true
description: Routine audits in the month rated RI or better.
source: Seed 001 Indicator Review A3 (target 95%, tolerance 90%).
unit: percent
rounding: 0
polarity: higher_is_better
frequency: monthly
window: {type: in_period}
denominator:
  table: case_audits
  date: audit_date
  filter: audit_type == 'routine'
numerator:
  filter: grade in ['outstanding', 'good', 'requires_improvement']
rating: {target: 95, tolerance: 90}
"""

B8 = """\
id: B8
name: Average length of care proceedings (weeks)
group: children_in_care
contract: true
description: Mean weeks from issue to final order, previous month's completions.
source: Seed 001 Indicator Review B8 (target 26 weeks, tolerance 30).
unit: mean
unit_label: weeks
rounding: 0
polarity: lower_is_better
frequency: monthly
window: {type: in_period, lag_months: 1}
denominator:
  table: care_proceedings
  date: final_order_date
numerator:
  sum: days_between(issue_date, final_order_date) / 7
rating: {target: 26, tolerance: 30}
"""


@pytest.fixture
def mini(tmp_path: Path) -> tuple[Path, Path]:
    definitions = tmp_path / "defs"
    definitions.mkdir()
    (definitions / "set.yaml").write_text(SET_YAML)
    (definitions / "A3.yaml").write_text(A3)
    (definitions / "B8.yaml").write_text(B8)
    extract = tmp_path / "extract"
    extract.mkdir()
    # December 2015: 4 routine audits, 3 RI or better (75%: OFF TARGET); 1 thematic ignored
    (extract / "case_audits.csv").write_text(
        "audit_id,child_id,audit_date,grade,audit_type\n"
        "a1,c1,2015-12-01,good,routine\n"
        "a2,c2,2015-12-02,inadequate,routine\n"
        "a3,c3,2015-12-03,requires_improvement,routine\n"
        "a4,c4,2015-12-04,outstanding,routine\n"
        "a5,c5,2015-12-05,inadequate,thematic\n"
    )
    # final orders in November 2015 (reported in December, one month's lag):
    # 182 days = 26 weeks and 224 days = 32 weeks: mean 29 weeks, IN TOLERANCE
    (extract / "care_proceedings.csv").write_text(
        "proceedings_id,child_id,issue_date,final_order_date\n"
        "p1,c1,2015-05-06,2015-11-04\n"
        "p2,c2,2015-04-08,2015-11-18\n"
        "p3,c3,2015-09-01,\n"
    )
    (extract / "manifest.yaml").write_text("authority: Test\nextract_date: 2016-01-05\n")
    return definitions, extract


def invoke(*args: str) -> object:
    # a wide terminal, as analysts use; rich reads COLUMNS
    return CliRunner(env={"COLUMNS": "160"}).invoke(cli, list(args), catch_exceptions=False)


def test_compute_csv_has_the_column_contract_and_hand_worked_figures(mini):
    definitions, extract = mini
    result = invoke(
        "compute", "--extracts", str(extract), "--definitions", str(definitions), "--format", "csv"
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == ",".join(OUTPUT_COLUMNS)
    rows = pd.read_csv(pd.io.common.StringIO(result.stdout), keep_default_na=False)
    a3 = rows[rows.indicator_id == "A3"].iloc[0]
    assert (a3.period, a3.numerator, a3.denominator, a3.value, a3.status, a3.rag) == (
        "2015-12",
        3,
        4,
        75,
        "OFF TARGET",
        "Red",
    )
    b8 = rows[rows.indicator_id == "B8"].iloc[0]
    assert (b8.numerator, b8.denominator, b8.value, b8.status) == (58, 2, 29, "IN TOLERANCE")


def test_default_period_is_the_latest_complete_month_of_the_extract(mini):
    definitions, extract = mini
    result = invoke(
        "compute", "--extracts", str(extract), "--definitions", str(definitions), "--format", "json"
    )
    records = json.loads(result.stdout)
    assert {r["period"] for r in records} == {"2015-12"}  # extract taken 5 Jan 2016


def test_compute_many_periods_and_atomic_output_file(mini, tmp_path):
    definitions, extract = mini
    out = tmp_path / "out" / "scorecard.parquet"
    result = invoke(
        "compute", "--extracts", str(extract), "--definitions", str(definitions),
        "--from", "2015-10", "--to", "2015-12", "--output", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(out)
    assert list(frame.columns) == OUTPUT_COLUMNS
    assert list(frame.period) == ["2015-10", "2015-11", "2015-12"] * 2
    # no temporary file left behind; the lock file stays, as for the scorecard (docs/cron.md)
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name, out.name + ".lock"]


def test_table_output_shows_ratings(mini):
    definitions, extract = mini
    result = invoke(
        "compute",
        "--extracts",
        str(extract),
        "--definitions",
        str(definitions),
        "--format",
        "table",
    )
    assert result.exit_code == 0
    assert "OFF TARGET" in result.stdout and "IN TOLERANCE" in result.stdout
    assert "29 weeks" in result.stdout


def test_piped_output_defaults_to_csv(mini):
    definitions, extract = mini
    result = invoke("compute", "--extracts", str(extract), "--definitions", str(definitions))
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == ",".join(OUTPUT_COLUMNS)


def test_usage_errors_exit_2(mini):
    definitions, extract = mini
    base = ["compute", "--extracts", str(extract), "--definitions", str(definitions)]
    bad_month = invoke(*base, "--period", "2015-13")
    assert bad_month.exit_code == 2
    assert "expected a month as YYYY-MM (got '2015-13')" in bad_month.stderr
    both = invoke(*base, "--period", "2015-12", "--from", "2015-01", "--to", "2015-02")
    assert both.exit_code == 2
    unknown = invoke(*base, "--indicators", "A33")
    assert unknown.exit_code == 2
    assert "no indicator 'A33' in set mini; did you mean 'A3'?" in unknown.stderr


def test_bad_extract_exits_1_with_located_message(mini):
    definitions, extract = mini
    (extract / "case_audits.csv").write_text(
        "audit_id,child_id,audit_date,grade,audit_type\na1,c1,2015-13-01,good,routine\n"
    )
    result = invoke("compute", "--extracts", str(extract), "--definitions", str(definitions))
    assert result.exit_code == 1
    assert "case_audits.csv" in result.stderr and "audit_date" in result.stderr
    assert "2015-13-01" in result.stderr
    assert "Traceback" not in result.output


def test_explain_lists_the_records_behind_the_figure(mini):
    definitions, extract = mini
    result = invoke(
        "explain", "A3", "--extracts", str(extract), "--definitions", str(definitions),
        "--period", "2015-12", "--format", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert sorted(r["child_id"] for r in records if r["in_numerator"]) == ["c1", "c3", "c4"]
    assert sorted(r["child_id"] for r in records) == ["c1", "c2", "c3", "c4"]
    assert "A3: 3 in the numerator, 4 in the denominator" in result.stderr


# --- output files -------------------------------------------------------------------------------


def compute_to(mini, out: Path, *extra: str):
    definitions, extract = mini
    return invoke(
        "compute", "--extracts", str(extract), "--definitions", str(definitions), "--output",
        str(out), *extra,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("name", "extra", "message"),
    [
        ("a.html", [], "kpi: error: cannot write a .html file ({out}); name the output for its "
         "format: csv (.csv), json (.json), parquet (.parquet), markdown (.md or .markdown), xlsx "
         "(.xlsx)"),
        ("a.txt", ["--format", "csv"], "kpi: error: cannot write a .txt file ({out}); name the "
         "output for its format: csv (.csv)"),
        ("a.csv", ["--format", "json"], "kpi: error: --format json does not match a.csv (a .csv "
         "file is csv); give --output a.json, or leave --format out"),
        ("a.csv", ["--format", "table"], "kpi: error: --format table prints to the terminal; "
         "give a file for another format"),
    ],
)  # fmt: skip
def test_an_output_name_that_does_not_say_the_format_is_a_usage_error(
    mini, tmp_path, name, extra, message
):
    out = tmp_path / name
    result = compute_to(mini, out, *extra)
    assert result.exit_code == 2
    assert result.stderr.startswith(message.format(out=out))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["defs", "extract"]  # nothing written


def test_binary_formats_need_an_output_file(mini):
    definitions, extract = mini
    for fmt in ("parquet", "xlsx"):
        result = invoke(
            "compute", "--extracts", str(extract), "--definitions", str(definitions), "--format",
            fmt,
        )  # fmt: skip
        assert result.exit_code == 2
        assert result.stderr == f"kpi: error: --format {fmt} needs --output FILE\n"


def test_xlsx_output_has_typed_cells_from_the_hand_worked_figures(mini, tmp_path):
    import openpyxl

    out = tmp_path / "figures.xlsx"
    result = compute_to(mini, out)
    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(out)["results"]
    header = [c.value for c in sheet[1]]
    a3 = {h: c for h, c in zip(header, sheet[2], strict=True)}
    # 3 of 4 routine audits rated RI or better: 75%, stored as 0.75 with a percentage format
    assert (a3["numerator"].value, a3["denominator"].value) == (3, 4)
    assert (a3["value"].value, a3["value"].number_format) == (0.75, "0%")
    assert a3["rag"].value == "Red" and a3["period_end"].is_date
    b8 = {h: c for h, c in zip(header, sheet[3], strict=True)}
    assert (b8["value"].value, b8["value"].number_format) == (29, "#,##0")  # weeks, a mean


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_the_output_gets_the_umasks_permissions(mini, tmp_path, mask):
    out = tmp_path / "figures.csv"
    previous = os.umask(mask)
    try:
        assert compute_to(mini, out).exit_code == 0
    finally:
        os.umask(previous)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask


PREVIOUS = b"the previous figures\n"


def test_a_full_disk_is_one_message_and_the_previous_file_intact(mini, tmp_path, monkeypatch):
    out = tmp_path / "figures.csv"
    out.write_bytes(PREVIOUS)

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    result = compute_to(mini, out)
    assert result.exit_code == 1
    assert result.stderr == (
        f"kpi: error: cannot write {out}: No space left on device; the previous figures.csv is "
        "intact\n"
    )
    assert out.read_bytes() == PREVIOUS
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["defs", "extract", "figures.csv", "figures.csv.lock"]
    )


def test_an_output_that_is_a_folder_is_exit_1_before_computing(mini, tmp_path):
    out = tmp_path / "figures.csv"
    out.mkdir()
    result = compute_to(mini, out)
    assert result.exit_code == 1
    assert result.stderr == f"kpi: error: cannot write {out}: it is a folder; nothing written\n"
    assert list(out.iterdir()) == []


def test_a_second_run_on_the_same_output_exits_3_or_waits(mini, tmp_path):
    out = tmp_path / "figures.csv"
    out.write_bytes(PREVIOUS)
    with OutputLock(out):
        result = compute_to(mini, out)
        assert result.exit_code == 3
        assert result.stderr == (
            f"kpi: error: {lock_path_for(out)} is held by pid {os.getpid()}: another run is "
            "writing this output; not written (retry later, or give --wait SECONDS)\n"
        )
        waited = compute_to(mini, out, "--wait", "0.2")
        assert waited.exit_code == 3 and "after waiting 0.2s" in waited.stderr
    assert out.read_bytes() == PREVIOUS
    assert compute_to(mini, out).exit_code == 0
