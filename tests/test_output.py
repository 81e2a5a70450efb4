"""Writing results: permissions, the format a name says, the types read back, atomic groups,
and the Excel workbook read back with openpyxl."""

from __future__ import annotations

import errno
import io
import json
import os
import stat
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from openpyxl.utils import get_column_letter

from kpi_engine._text import TEXT
from kpi_engine.engine import OUTPUT_COLUMNS
from kpi_engine.excel import Sheet, workbook
from kpi_engine.output import (
    FormatError,
    WriteError,
    frame_bytes,
    output_format,
    publish,
    render_text,
    stale_temporaries,
    write_frame,
)

COMPUTE = ("csv", "json", "parquet", "markdown", "xlsx")


def results() -> pd.DataFrame:
    """Three result rows as the engine makes them: a percentage (A3, 3 of 4 audits = 75%, Red
    against 95%), one of its breakdown rows (not rated), and a count with no data."""
    rows = [
        ["A3", "Audits RI or better", "children_in_need", True, "", "2015-12", "2015-12-01",
         "2015-12-31", 3.0, 4.0, 75.0, "percent", "higher_is_better", 95.0, 90.0, "OFF TARGET",
         "Red", "mini", "c6e3421bd695", "", False, "common cause", "consistently missed"],
        ["A3", "Audits RI or better", "children_in_need", True, "good", "2015-12", "2015-12-01",
         "2015-12-31", 1.0, 4.0, 25.0, "percent", "higher_is_better", 95.0, 90.0,
         "NO TARGET SET", "", "mini", "c6e3421bd695", "", False, "", ""],
        ["F2", "Agency social workers", "workforce", False, "", "2015-12", "2015-10-01",
         "2015-12-31", float("nan"), float("nan"), float("nan"), "count", "lower_is_better",
         float("nan"), float("nan"), "NO DATA", "", "mini", "0123456789ab",
         "=needs table staff, absent from the extract", False, "", ""],
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=OUTPUT_COLUMNS)


# --- permissions --------------------------------------------------------------------------------


@pytest.fixture
def umask():
    previous = os.umask(0o022)
    yield os.umask
    os.umask(previous)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
@pytest.mark.parametrize("fmt", ["csv", "parquet", "xlsx"])
def test_a_new_file_gets_the_umasks_permissions(tmp_path, umask, mask, fmt):
    umask(mask)
    out = tmp_path / f"out.{fmt}"
    write_frame(results(), out, fmt)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~mask  # 0644, 0600, 0664


@pytest.mark.parametrize("mask", [0o022, 0o002])
def test_replacing_a_file_gives_the_umasks_permissions_again(tmp_path, umask, mask):
    # a file an earlier version left owner-only is readable by the BI tool's user again
    umask(mask)
    out = tmp_path / "out.csv"
    out.write_text("old\n")
    out.chmod(0o600)
    write_frame(results(), out, "csv")
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~mask


# --- which format a name says -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("a.csv", "csv"), ("a.CSV", "csv"), ("a.json", "json"), ("a.parquet", "parquet"),
     ("a.md", "markdown"), ("a.markdown", "markdown"), ("a.xlsx", "xlsx")],
)  # fmt: skip
def test_the_suffix_names_the_format(name, fmt):
    assert output_format(Path(name), None, COMPUTE) == fmt
    assert output_format(Path(name), fmt, COMPUTE) == fmt  # an agreeing --format is fine


@pytest.mark.parametrize(
    ("name", "what"),
    [("report.html", "a .html file"), ("a.txt", "a .txt file"), ("scorecard", "a file without a "
     "suffix"), ("a.xls", "a .xls file")],
)  # fmt: skip
def test_a_suffix_the_tool_does_not_write_is_refused_naming_the_formats(name, what):
    with pytest.raises(FormatError) as info:
        output_format(Path(name), None, COMPUTE)
    assert str(info.value) == (
        f"cannot write {what} ({name}); name the output for its format: csv (.csv), "
        "json (.json), parquet (.parquet), markdown (.md or .markdown), xlsx (.xlsx)"
    )


def test_xlsx_is_refused_where_a_command_does_not_write_it():
    with pytest.raises(FormatError, match=r"cannot write a \.xlsx file"):
        output_format(Path("a.xlsx"), None, ("csv", "json"))


def test_a_format_that_disagrees_with_the_suffix_is_refused():
    with pytest.raises(FormatError) as info:
        output_format(Path("out/year.csv"), "json", COMPUTE)
    assert str(info.value) == (
        "--format json does not match year.csv (a .csv file is csv); give --output year.json, "
        "or leave --format out"
    )


# --- the types, read back -----------------------------------------------------------------------


def test_json_keeps_the_types_empty_text_is_null():
    records = json.loads(frame_bytes(results(), "json"))
    a3, good, f2 = records
    assert a3["breakdown"] is None and a3["note"] is None  # not ""
    assert good["rag"] is None and good["breakdown"] == "good"
    assert a3["contract"] is True and f2["contract"] is False
    assert a3["numerator"] == 3 and isinstance(a3["value"], float) and a3["value"] == 75
    assert f2["value"] is None and f2["target"] is None  # NaN is null
    assert a3["period_start"] == "2015-12-01" and f2["period_start"] == "2015-10-01"


def test_parquet_keeps_the_types_dates_are_dates_empty_text_is_null():
    table = pq.read_table(io.BytesIO(frame_bytes(results(), "parquet")))
    types = {f.name: f.type for f in table.schema}
    assert types["period_start"] == pa.date32() and types["period_end"] == pa.date32()
    assert types["contract"] == pa.bool_()
    for number in ("numerator", "denominator", "value", "target", "tolerance"):
        assert types[number] == pa.float64()
    assert pa.types.is_string(types["note"]) or pa.types.is_large_string(types["note"])
    rows = table.to_pylist()
    assert rows[0]["period_start"].isoformat() == "2015-12-01"
    assert rows[2]["period_start"].isoformat() == "2015-10-01"  # a quarter's first day
    assert rows[0]["breakdown"] is None and rows[1]["breakdown"] == "good"
    assert rows[1]["rag"] is None and rows[0]["rag"] == "Red"
    assert rows[2]["value"] is None and rows[0]["value"] == 75.0


def test_csv_writes_empty_cells_for_nulls():
    lines = frame_bytes(results(), "csv").decode().splitlines()
    assert lines[0] == ",".join(OUTPUT_COLUMNS)
    assert lines[1].split(",")[4] == ""  # breakdown
    assert ",3,4,75,percent," in lines[1]


# --- publishing ---------------------------------------------------------------------------------


def test_a_group_is_published_together(tmp_path):
    meta, data = tmp_path / "s.csv.meta.json", tmp_path / "s.csv"
    publish([(meta, b"new meta"), (data, b"new data")])
    assert (meta.read_bytes(), data.read_bytes()) == (b"new meta", b"new data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv", "s.csv.meta.json"]


def test_a_failed_second_rename_puts_the_first_file_back(tmp_path, monkeypatch):
    meta, data = tmp_path / "s.csv.meta.json", tmp_path / "s.csv"
    meta.write_bytes(b"old meta")
    data.write_bytes(b"old data")
    real = os.replace

    def failing(src, dst):
        if Path(dst) == data:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real(src, dst)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(WriteError) as info:
        publish([(meta, b"new meta"), (data, b"new data")])
    assert str(info.value) == f"cannot write {data}: Input/output error"
    assert (meta.read_bytes(), data.read_bytes()) == (b"old meta", b"old data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv", "s.csv.meta.json"]


def test_a_failed_second_rename_removes_a_first_file_that_was_not_there(tmp_path, monkeypatch):
    meta, data = tmp_path / "s.csv.meta.json", tmp_path / "s.csv"
    real = os.replace

    def failing(src, dst):
        if Path(dst) == data:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real(src, dst)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(WriteError):
        publish([(meta, b"new meta"), (data, b"new data")])
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_while_writing_changes_nothing_and_leaves_no_temporary(tmp_path, monkeypatch):
    meta, data = tmp_path / "s.csv.meta.json", tmp_path / "s.csv"
    meta.write_bytes(b"old meta")
    data.write_bytes(b"old data")
    calls = []

    def full(fd):  # the second temporary does not fit
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(WriteError) as info:
        publish([(meta, b"new meta"), (data, b"new data")])
    assert str(info.value) == f"cannot write {data}: No space left on device"
    assert (meta.read_bytes(), data.read_bytes()) == (b"old meta", b"old data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv", "s.csv.meta.json"]


def test_a_folder_in_the_outputs_place_is_refused(tmp_path):
    (tmp_path / "s.csv").mkdir()
    with pytest.raises(WriteError) as info:
        write_frame(results(), tmp_path / "s.csv", "csv")
    assert str(info.value) == f"cannot write {tmp_path / 's.csv'}: it is a folder"


def test_a_parent_that_cannot_be_made_is_a_write_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(WriteError) as info:
        write_frame(results(), blocker / "sub" / "s.csv", "csv")
    assert str(info.value) == (
        f"cannot write {blocker / 'sub' / 's.csv'}: cannot create folder {blocker / 'sub'}: "
        "Not a directory"
    )


def test_stale_temporaries_are_the_outputs_and_its_metadatas_only(tmp_path):
    names = [".s.csv.1a2b3c4d.tmp", ".s.csv.meta.json.0f0f0f0f.tmp", ".s.csv.k3j_x9q2.tmp"]
    others = [".s.csv.x.csv.1a2b3c4d.tmp", ".t.csv.1a2b3c4d.tmp", "s.csv", ".s.csv.lock"]
    for name in names + others:
        (tmp_path / name).write_text("x")
    assert [p.name for p in stale_temporaries(tmp_path / "s.csv")] == sorted(names)


# --- Excel --------------------------------------------------------------------------------------


def read_xlsx(data: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(data))


def test_xlsx_cells_are_typed():
    sheet = read_xlsx(frame_bytes(results(), "xlsx"))["results"]
    header = [c.value for c in sheet[1]]
    assert header == OUTPUT_COLUMNS
    a3 = {h: c for h, c in zip(header, sheet[2], strict=True)}
    # 75% is stored as the fraction with a percentage format: Excel shows 75% and sums it
    assert a3["value"].value == 0.75 and a3["value"].number_format == "0%"
    assert a3["target"].value == 0.95 and a3["tolerance"].number_format == "0%"
    assert a3["numerator"].value == 3 and isinstance(a3["numerator"].value, int)
    assert a3["numerator"].number_format == "#,##0"
    assert a3["period_start"].is_date and a3["period_start"].value.date().isoformat() == (
        "2015-12-01"
    )
    assert a3["period_start"].number_format == "yyyy-mm-dd"
    assert a3["contract"].data_type == "b" and a3["contract"].value is True
    assert a3["breakdown"].value is None  # empty text is a blank cell
    f2 = {h: c for h, c in zip(header, sheet[4], strict=True)}
    assert f2["value"].value is None and f2["numerator"].value is None  # NaN is blank
    # text is text: a note starting with "=" is not a formula
    assert f2["note"].data_type == "s" and f2["note"].value.startswith("=needs")


def test_xlsx_percent_figures_keep_their_reported_decimals():
    frame = results().iloc[:1].assign(value=[2.3])
    sheet = read_xlsx(frame_bytes(frame, "xlsx"))["results"]
    cell = sheet.cell(row=2, column=OUTPUT_COLUMNS.index("value") + 1)
    assert cell.value == pytest.approx(0.023) and cell.number_format == "0.0%"


def test_xlsx_sheet_has_frozen_header_autofilter_fitted_widths_and_rag_formats():
    sheet = read_xlsx(frame_bytes(results(), "xlsx"))["results"]
    assert sheet.freeze_panes == "B2"  # the header row and the id column
    assert sheet.auto_filter.ref == f"A1:{get_column_letter(len(OUTPUT_COLUMNS))}4"
    widths = {c: sheet.column_dimensions[c].width for c in "ABEQ"}
    assert widths["A"] >= len("indicator_id") and widths["B"] >= len("Audits RI or better")
    assert widths["Q"] < widths["B"]  # fitted, not one width for all
    rules = {
        str(cf.sqref): [
            (r.type, r.operator, r.formula[0], r.dxf.fill.bgColor.rgb) for r in cf.rules
        ]
        for cf in sheet.conditional_formatting
    }
    rag_column = "Q"  # rag; status is P
    assert rules[f"{rag_column}2:{rag_column}4"] == [
        ("cellIs", "equal", '"Green"', "FFC6EFCE"),
        ("cellIs", "equal", '"Amber"', "FFFFEB9C"),
        ("cellIs", "equal", '"Red"', "FFFFC7CE"),
    ]
    assert [r[2] for r in rules["P2:P4"]] == ['"ON TARGET"', '"IN TOLERANCE"', '"OFF TARGET"']


def test_xlsx_bytes_are_the_same_for_the_same_figures():
    assert frame_bytes(results(), "xlsx") == frame_bytes(results(), "xlsx")


def test_a_workbook_holds_one_sheet_per_output_in_order():
    book = read_xlsx(
        workbook([Sheet("scorecard", results()), Sheet("metadata", pd.DataFrame({"field": ["a"],
         "value": [1]}))])
    )  # fmt: skip
    assert book.sheetnames == ["scorecard", "metadata"]
    assert book["metadata"]["B2"].value == 1


def test_without_hard_links_the_previous_file_is_kept_as_a_copy(tmp_path, monkeypatch):
    meta, data = tmp_path / "s.csv.meta.json", tmp_path / "s.csv"
    meta.write_bytes(b"old meta")
    data.write_bytes(b"old data")

    def no_links(src, dst):
        raise OSError(errno.EPERM, os.strerror(errno.EPERM))

    real = os.replace

    def failing(src, dst):
        if Path(dst) == data:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real(src, dst)

    monkeypatch.setattr(os, "link", no_links)
    publish([(meta, b"new meta"), (data, b"new data")])  # a file system without hard links
    assert (meta.read_bytes(), data.read_bytes()) == (b"new meta", b"new data")
    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(WriteError):
        publish([(meta, b"newer meta"), (data, b"newer data")])
    assert (meta.read_bytes(), data.read_bytes()) == (b"new meta", b"new data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv", "s.csv.meta.json"]


def test_a_roll_back_that_fails_too_is_said(tmp_path, monkeypatch):
    meta, data = tmp_path / "s.csv.meta.json", tmp_path / "s.csv"
    meta.write_bytes(b"old meta")
    data.write_bytes(b"old data")
    real = os.replace
    renames: list[Path] = []

    def failing(src, dst):  # the metadata goes in, the file fails, and so does the roll-back
        renames.append(Path(dst))
        if len(renames) > 1:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real(src, dst)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(WriteError) as info:
        publish([(meta, b"new meta"), (data, b"new data")])
    assert str(info.value) == (
        f"cannot write {data}: Input/output error; and {meta} could not be put back "
        "(Input/output error)"
    )
    assert renames == [meta, data, meta]


# --- CSV text (the output of kpi explain on Arrow-backed columns) ---------------------------------


def test_csv_writes_arrow_text_categorical_ids_and_gaps_as_plain_cells():
    frame = pd.DataFrame(
        {
            "referral_id": pd.Series(["r1", None, "r, 3"], dtype=TEXT),
            "child_id": pd.Series(["c1", "c2", None], dtype=TEXT).astype("category"),
            "rate": [0.5, np.nan, 1 / 3],
            "in_numerator": [True, False, True],
        }
    )
    assert render_text(frame, "csv") == (
        "referral_id,child_id,rate,in_numerator\n"
        "r1,c1,0.5,True\n"
        ",c2,,False\n"
        '"r, 3",,0.3333333333,True\n'
    )
