"""``kpi scorecard``: what the cron job relies on.

Exit codes, the written file and its metadata, byte-identical reruns, the lock, logs on stderr,
and the kill test: a run killed at any moment leaves the previous file or the complete new one.
Most tests use a small extract and definition set written to a temporary folder; the last ones
run the shipped sample data and the corporate-scorecard set.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from openpyxl.utils import get_column_letter
from tests.test_scorecard import DEFINITIONS, ORDER

from kpi_engine import load_definitions
from kpi_engine.cli import cli
from kpi_engine.locations import SCORECARD_SET, sample_data_dir
from kpi_engine.lock import OutputLock, lock_path_for
from kpi_engine.scorecard import WIDE_COLUMNS, meta_path_for

REPO = Path(__file__).resolve().parents[1]
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} (INFO|WARNING|ERROR) ")


def write_extract(folder: Path, seed: int = 7, n: int = 600) -> Path:
    """A small extract in the contract's CSV layout, taken on 5 January 2016."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    start = pd.Timestamp("2013-01-01") + pd.to_timedelta(rng.integers(0, 1100, n), unit="D")
    children = [f"c{i % 200:04d}" for i in range(n)]
    pd.DataFrame(
        {
            "child_id": sorted(set(children)),
            "date_of_birth": "2008-05-01",
            "sex": "F",
        }
    ).to_csv(folder / "children.csv", index=False)
    pd.DataFrame(
        {
            "assessment_id": [f"a{i}" for i in range(n)],
            "child_id": children,
            "referral_id": "",
            "start_date": start.strftime("%Y-%m-%d"),
            "completed_date": (start + pd.to_timedelta(rng.integers(5, 70, n), unit="D")).strftime(
                "%Y-%m-%d"
            ),
        }
    ).to_csv(folder / "assessments.csv", index=False)
    pd.DataFrame(
        {
            "cp_plan_id": [f"p{i}" for i in range(n)],
            "child_id": children,
            "start_date": start.strftime("%Y-%m-%d"),
            "end_date": (start + pd.to_timedelta(rng.integers(30, 1000, n), unit="D")).strftime(
                "%Y-%m-%d"
            ),
            "category": "neglect",
        }
    ).to_csv(folder / "cp_plans.csv", index=False)
    (folder / "manifest.yaml").write_text(
        "authority: Test borough\nextract_date: 2016-01-05\nsource_system: tests\n"
    )
    return folder


def write_definitions(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "set.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "test-scorecard",
                "title": "Test scorecard",
                "order": list(ORDER),
                "baseline_period": "2014-03",
            }
        )
    )
    for d in DEFINITIONS:
        data = d.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
        (folder / f"{d.id}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return folder


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("scorecard")
    write_extract(root / "extract")
    write_definitions(root / "defs")
    return root


def args(workspace: Path, *extra: str) -> list[str]:
    return [
        "scorecard",
        "--extracts",
        str(workspace / "extract"),
        "--definitions",
        str(workspace / "defs"),
        *extra,
    ]


def invoke(argv: list[str], **env: str):
    return CliRunner(env=env or None).invoke(cli, argv, catch_exceptions=False)


# --- writing ------------------------------------------------------------------------------------


def test_help_has_an_example_and_the_exit_codes():
    result = invoke(["scorecard", "--help"])
    assert result.exit_code == 0
    assert "kpi scorecard --extracts" in result.output
    assert "3 another run holds the output's lock" in " ".join(result.output.split())
    for option in ("--extracts", "--definitions", "--period", "--output", "--format"):
        assert option in result.output
    for option in ("--layout", "--wait", "--quiet"):
        assert option in result.output


def test_writes_the_scorecard_and_its_metadata(workspace, tmp_path):
    out = tmp_path / "scorecard.csv"
    result = invoke(args(workspace, "--output", str(out)))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""  # results go to the file, diagnostics to stderr
    text = out.read_text()
    lines = text.splitlines()
    assert lines[0] == ",".join(WIDE_COLUMNS)
    assert [line.split(",")[0] for line in lines[1:]] == list(ORDER)
    meta = json.loads(meta_path_for(out).read_text())
    assert meta["period"] == "2015-12"  # the month before the manifest's extract_date
    assert meta["baseline_period"] == "2014-03"
    assert [q["label"] for q in meta["quarters"]] == [
        "2014-15 Q3",
        "2014-15 Q4",
        "2015-16 Q1",
        "2015-16 Q2",
    ]
    assert meta["output"]["sha256"] == __import__("hashlib").sha256(out.read_bytes()).hexdigest()
    assert meta["output"]["columns"] == WIDE_COLUMNS
    assert meta["output"]["rows"] == len(ORDER)
    assert meta["definition_set"]["name"] == "test-scorecard"
    ids = [d["id"] for d in meta["definition_set"]["definitions"]]
    assert ids == list(ORDER)
    flow = next(d for d in meta["definition_set"]["definitions"] if d["id"] == "T1")
    assert flow["quarter_basis"] == "flow" and len(flow["quarter_hash"]) == 12
    assert meta["extract"]["manifest"]["authority"] == "Test borough"
    assert meta["tool"]["name"] == "kpi-engine" and meta["tool"]["version"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", meta["generated_at"])
    assert f"wrote {len(ORDER)} rows to {out}" in result.stderr


def test_two_runs_give_byte_identical_files(workspace, tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    for out in (a, b):
        assert invoke(args(workspace, "--output", str(out))).exit_code == 0
    assert a.read_bytes() == b.read_bytes()
    first = a.read_bytes()
    assert invoke(args(workspace, "--output", str(a))).exit_code == 0  # over itself
    assert a.read_bytes() == first
    meta_a = json.loads(meta_path_for(a).read_text())
    meta_b = json.loads(meta_path_for(b).read_text())
    for meta in (meta_a, meta_b):
        del meta["generated_at"], meta["output"]["file"]
    assert meta_a == meta_b


def test_long_layout_and_markdown(workspace, tmp_path):
    long = tmp_path / "long.csv"
    assert invoke(args(workspace, "--layout", "long", "--output", str(long))).exit_code == 0
    header = long.read_text().splitlines()[0]
    from kpi_engine.engine import OUTPUT_COLUMNS

    assert header == ",".join(OUTPUT_COLUMNS)
    md = tmp_path / "scorecard.md"
    assert invoke(args(workspace, "--output", str(md))).exit_code == 0
    assert md.read_text().startswith("# Test scorecard — 2015-12")
    assert json.loads(meta_path_for(md).read_text())["output"]["format"] == "markdown"


def test_without_output_csv_goes_to_stdout_off_a_terminal(workspace):
    result = invoke(args(workspace, "--period", "2015-11"))
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == ",".join(WIDE_COLUMNS)
    assert ",2015-11," in result.stdout


def test_table_format_prints_the_grouped_scorecard(workspace):
    result = invoke(args(workspace, "--format", "table"), COLUMNS="220")
    assert result.exit_code == 0
    assert "2015-16 Q2" in result.stdout and "Children in need pathway" in result.stdout
    assert "\x1b[" not in result.stdout  # no colour off a terminal


def test_the_table_fits_80_columns_one_line_a_measure(workspace):
    # readable in an 80-column terminal: each measure one line, the latest month, target and
    # rating always there, and the caption saying what was left out and how to see it
    def table(columns: str) -> tuple[list[str], list[str]]:
        result = invoke(args(workspace, "--format", "table"), COLUMNS=columns)
        assert result.exit_code == 0
        lines = result.stdout.splitlines()
        cut = next((i for i, line in enumerate(lines) if line.startswith("Not shown")), None)
        return lines[:cut], lines[cut:] if cut is not None else []

    narrow, caption = table("80")
    wide, wide_caption = table("220")
    assert max(len(line.rstrip()) for line in narrow + caption) <= 80
    header = narrow[1].split()
    assert {"Target", "Rating", "2015-12"} <= set(header) and "Baseline" not in header
    assert len(narrow) == len(wide)  # nothing wraps: a line a measure, as on a wide terminal
    text = " ".join(caption)
    assert text.startswith("Not shown at 80 columns: Baseline 2014-03")
    assert "Benchmark" in text and "kpi scorecard --format csv" in text
    assert "Baseline 2014-03" in wide[1] and "Benchmark" in wide[1]
    assert not wide_caption or " ".join(wide_caption).startswith("Not shown at 220 columns: full")


def test_logs_are_timestamped_and_quiet_silences_info(workspace, tmp_path):
    out = tmp_path / "s.csv"
    loud = invoke(args(workspace, "--output", str(out)))
    lines = loud.stderr.splitlines()
    assert lines and all(TIMESTAMP.match(line) for line in lines), loud.stderr
    quiet = invoke(args(workspace, "--output", str(out), "--quiet"))
    assert quiet.exit_code == 0
    assert " INFO " not in quiet.stderr


def test_temporaries_left_by_a_killed_run_are_removed(workspace, tmp_path):
    out = tmp_path / "s.csv"
    stale = tmp_path / ".s.csv.abc123.tmp"
    stale.write_text("half a scorec")
    other = tmp_path / ".other.csv.abc123.tmp"  # not ours
    other.write_text("x")
    assert invoke(args(workspace, "--output", str(out))).exit_code == 0
    assert not stale.exists() and other.exists()


# --- exit codes ---------------------------------------------------------------------------------

PREVIOUS = "the previous scorecard\n"


@pytest.fixture
def previous(tmp_path) -> Path:
    out = tmp_path / "scorecard.csv"
    out.write_text(PREVIOUS)
    return out


def test_exit_1_for_a_broken_definition_set_and_nothing_written(workspace, tmp_path, previous):
    broken = write_definitions(tmp_path / "broken")
    (broken / "T1.yaml").write_text((broken / "T1.yaml").read_text() + "polarty: lower\n")
    result = invoke(
        [
            "scorecard",
            "--extracts",
            str(workspace / "extract"),
            "--definitions",
            str(broken),
            "--output",
            str(previous),
        ]
    )
    assert result.exit_code == 1
    assert "polarty" in result.stderr and "has problems" in result.stderr
    assert previous.read_text() == PREVIOUS
    assert not meta_path_for(previous).exists()


def test_exit_1_for_a_bad_extract_and_nothing_written(workspace, tmp_path, previous):
    bad = write_extract(tmp_path / "bad")
    plans = (bad / "cp_plans.csv").read_text().splitlines()
    plans[1] = plans[1].replace(plans[1].split(",")[2], "2015-13-45")
    (bad / "cp_plans.csv").write_text("\n".join(plans) + "\n")
    result = invoke(
        [
            "scorecard",
            "--extracts",
            str(bad),
            "--definitions",
            str(workspace / "defs"),
            "--output",
            str(previous),
        ]
    )
    assert result.exit_code == 1
    assert "2015-13-45" in result.stderr
    assert "nothing written" in result.stderr
    assert previous.read_text() == PREVIOUS


def test_extract_warnings_are_logged_and_the_scorecard_still_written(tmp_path):
    odd = tmp_path / "odd"
    shutil.copytree(sample_data_dir(), odd)
    plans = pd.read_parquet(odd / "cp_plans.parquet")
    plans.loc[0, "child_id"] = "NOBODY"  # a child the children table lacks: a warning
    plans.to_parquet(odd / "cp_plans.parquet", index=False)
    out = tmp_path / "scorecard.csv"
    result = invoke(
        ["scorecard", "--extracts", str(odd), "--period", "2015-12", "--output", str(out),
         "--quiet"]
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    warning = next(line for line in result.stderr.splitlines() if "NOBODY" in line)
    assert TIMESTAMP.match(warning) and "WARNING" in warning
    assert "cp_plans.parquet:1: child_id: no such child_id in children (got 'NOBODY')" in warning
    assert out.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--period", "Dec-15"], "expected a month as YYYY-MM"),
        (["--format", "table", "--output", "x.csv"], "--format table prints to the terminal"),
        (["--layout", "tall"], "Invalid value for '--layout'"),
        (["--wait", "-1"], "Invalid value for '--wait'"),
    ],
)
def test_exit_2_for_usage_errors(workspace, extra, message):
    result = invoke(args(workspace, *extra))
    assert result.exit_code == 2
    assert message in result.stderr


def test_exit_2_for_a_missing_extract_folder(workspace, tmp_path):
    result = invoke(
        ["scorecard", "--extracts", str(tmp_path / "nowhere"), "--definitions", str(workspace)]
    )
    assert result.exit_code in (1, 2)  # the set is checked first: an invalid set is a 1
    result = invoke(
        [
            "scorecard",
            "--extracts",
            str(tmp_path / "nowhere"),
            "--definitions",
            str(workspace / "defs"),
        ]
    )
    assert result.exit_code == 2
    assert "no extract folder" in result.stderr


def test_exit_3_while_another_run_holds_the_lock(workspace, previous):
    with OutputLock(previous):
        result = invoke(args(workspace, "--output", str(previous)))
        assert result.exit_code == 3
        assert "another run is writing this output" in result.stderr
        assert str(lock_path_for(previous)) in result.stderr
        waited = invoke(args(workspace, "--output", str(previous), "--wait", "0.3", "--quiet"))
        assert waited.exit_code == 3
        assert "after waiting 0.3s" in waited.stderr  # --quiet still reports errors
    assert previous.read_text() == PREVIOUS
    assert invoke(args(workspace, "--output", str(previous))).exit_code == 0  # released


# --- the kill test ------------------------------------------------------------------------------


def kill_test(argv: list[str], out: Path, cwd: Path) -> None:
    """Run ``python -m kpi_engine`` and SIGKILL it at moments spread over a whole run.

    After each kill the output is the previous content or the complete new one; anything else
    left in the folder is a hidden temporary, never the output itself.
    """
    command = [sys.executable, "-m", "kpi_engine", *argv, "--output", str(out), "--quiet"]
    reference = out.parent / "reference" / out.name  # the complete file, from an unkilled run
    started = time.monotonic()
    subprocess.run(
        [*command[:-3], "--output", str(reference), "--quiet"], check=True, cwd=cwd, timeout=600
    )
    duration = time.monotonic() - started  # only to spread the kills; nothing asserts on time
    complete = reference.read_bytes()
    old = b"the previous scorecard\n"
    outcomes = set()
    moments = [0.05, 0.2, 0.5] + [duration * f for f in (0.3, 0.6, 0.8, 0.9, 0.95, 1.0, 1.1)]
    for moment in moments:
        out.write_bytes(old)
        child = subprocess.Popen(command, cwd=cwd, stderr=subprocess.DEVNULL)
        try:
            child.wait(timeout=moment)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGKILL)
            child.wait()
        content = out.read_bytes()
        assert content in (old, complete), f"killed at {moment:.2f}s: {len(content)} bytes"
        outcomes.add(content == complete)
        expected = {out.name, lock_path_for(out).name, meta_path_for(out).name, "reference"}
        for leftover in out.parent.iterdir():
            if leftover.name not in expected:
                assert re.fullmatch(rf"\.{re.escape(out.name)}\..+\.tmp", leftover.name), leftover
    assert False in outcomes  # at least one kill landed before the rename


def test_a_killed_run_leaves_the_old_file_or_the_complete_new_one(workspace, tmp_path):
    kill_test(args(workspace), tmp_path / "f.csv", cwd=REPO)


# --- the shipped sample data --------------------------------------------------------------------


def test_the_sample_scorecard_follows_the_seeds_order(tmp_path):
    out = tmp_path / "scorecard.csv"
    result = invoke(["scorecard", "--period", "2015-12", "--output", str(out)])
    assert result.exit_code == 0, result.stderr
    frame = pd.read_csv(out, keep_default_na=False)
    assert list(frame.columns) == WIDE_COLUMNS
    expected = load_definitions(SCORECARD_SET)
    assert list(frame.indicator_id) == [d.id for d in expected.definitions]
    assert list(frame.indicator_id)[: len(expected.info.order)] == list(expected.info.order)
    contract = {d.id for d in expected.definitions if d.contract}
    for row in frame.itertuples():
        assert row.measure.endswith(" ©") == (row.indicator_id in contract)


@pytest.mark.slow
def test_the_sample_scorecard_survives_being_killed(tmp_path):
    kill_test(["scorecard", "--period", "2015-12"], tmp_path / "f.csv", cwd=REPO)


# --- the file and its metadata: together or not at all ------------------------------------------


def _stamp(out: Path) -> dict[str, bytes]:
    """Every file in the output's folder and its bytes."""
    return {p.name: p.read_bytes() for p in sorted(out.parent.iterdir()) if p.is_file()}


@pytest.fixture
def published(workspace, tmp_path) -> Path:
    """A folder with a good scorecard and its metadata from an earlier run (November)."""
    out = tmp_path / "scorecard.csv"
    assert invoke(args(workspace, "--period", "2015-11", "--output", str(out))).exit_code == 0
    return out


def test_a_failed_rename_of_the_file_puts_the_previous_metadata_back(
    workspace, published, monkeypatch
):
    before = _stamp(published)
    real = os.replace

    def failing(src, dst):
        if Path(dst) == published:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real(src, dst)

    monkeypatch.setattr(os, "replace", failing)
    result = invoke(args(workspace, "--output", str(published), "--quiet"))
    assert result.exit_code == 1
    assert result.stderr.endswith(
        f"ERROR kpi scorecard: cannot write {published}: Input/output error; the previous "
        "scorecard.csv is intact\n"
    )
    assert _stamp(published) == before  # byte-identical pair, no temporary left


def test_a_full_disk_at_the_second_file_publishes_neither(workspace, published, monkeypatch):
    # the case: a new CSV published without its metadata; now neither is
    before = _stamp(published)
    calls = []

    def full(fd):
        calls.append(fd)
        if len(calls) == 2:  # the metadata's temporary fits, the scorecard's does not
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    result = invoke(args(workspace, "--output", str(published), "--quiet"))
    assert result.exit_code == 1
    assert result.stderr.endswith(
        f"cannot write {published}: No space left on device; the previous scorecard.csv is intact\n"
    )
    assert _stamp(published) == before


def test_the_metadata_is_published_first(workspace, tmp_path, monkeypatch):
    renamed = []
    real = os.replace

    def recording(src, dst):
        renamed.append(Path(dst).name)
        real(src, dst)

    monkeypatch.setattr(os, "replace", recording)
    out = tmp_path / "s.csv"
    assert invoke(args(workspace, "--output", str(out))).exit_code == 0
    assert renamed == ["s.csv.meta.json", "s.csv"]  # a new file never beside old metadata


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_the_scorecard_and_metadata_get_the_umasks_permissions(workspace, tmp_path, mask):
    out = tmp_path / "s.csv"
    previous = os.umask(mask)
    try:
        assert invoke(args(workspace, "--output", str(out))).exit_code == 0
        out.chmod(0o600)  # as an earlier version left it: the next run gives the umask's again
        assert invoke(args(workspace, "--output", str(out))).exit_code == 0
    finally:
        os.umask(previous)
    for path in (out, meta_path_for(out), lock_path_for(out)):
        assert path.stat().st_mode & 0o777 == 0o666 & ~mask, path


def test_an_output_that_is_a_folder_is_exit_1(workspace, tmp_path):
    out = tmp_path / "scorecard.csv"
    out.mkdir()
    result = invoke(args(workspace, "--output", str(out)))
    assert result.exit_code == 1
    assert result.stderr.endswith(
        f"ERROR kpi scorecard: cannot write {out}: it is a folder; nothing written\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scorecard.csv"]


@pytest.mark.parametrize(
    ("name", "extra", "message"),
    [
        ("s.json", [], "cannot write a .json file ({out}); name the output for its format: csv "
         "(.csv), markdown (.md or .markdown), xlsx (.xlsx)"),
        ("s.html", [], "cannot write a .html file ({out})"),
        ("s.md", ["--format", "csv"], "--format csv does not match s.md (a .md file is "
         "markdown); give --output s.csv, or leave --format out"),
        (None, ["--format", "xlsx"], "--format xlsx needs --output FILE"),
    ],
)  # fmt: skip
def test_an_output_name_that_does_not_say_the_format_is_exit_2(
    workspace, tmp_path, name, extra, message
):
    out = tmp_path / name if name else None
    result = invoke(args(workspace, *extra, *(["--output", str(out)] if out else [])))
    assert result.exit_code == 2
    assert f"ERROR kpi scorecard: {message.format(out=out)}" in result.stderr
    assert list(tmp_path.iterdir()) == []


# --- nothing published short of the whole set ---------------------------------------------------


def test_an_empty_definition_folder_fails_and_keeps_the_previous_scorecard(
    workspace, tmp_path, published
):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "set.yaml").write_text("name: empty\ntitle: Nothing in it\n")
    before = _stamp(published)
    result = invoke(
        ["scorecard", "--extracts", str(workspace / "extract"), "--definitions", str(empty),
         "--output", str(published)]
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.endswith(
        f"ERROR kpi scorecard: definition set 'empty' ({empty}) has no definitions: an empty "
        "scorecard is not published; the previous scorecard.csv is intact\n"
    )
    assert _stamp(published) == before


def test_a_scorecard_missing_a_declared_measure_is_not_published(workspace, published):
    from dataclasses import replace

    from kpi_engine.scorecard import IncompleteScorecard, scorecard_run, write_scorecard

    run = scorecard_run(
        workspace / "extract", load_definitions(str(workspace / "defs")), period="2015-12"
    )
    wide = run.scorecard.wide
    short = replace(run, scorecard=replace(run.scorecard, wide=wide[wide.indicator_id != "T4"]))
    before = _stamp(published)
    with pytest.raises(IncompleteScorecard) as info:
        write_scorecard(short, published, layout="wide", fmt="csv", generated_at="now")
    assert str(info.value) == (
        f"the scorecard has 4 of the 5 measures definition set 'test-scorecard' "
        f"({workspace / 'defs'}) declares (missing: T4): a partial scorecard is not published"
    )
    assert _stamp(published) == before


def test_a_definition_file_counts_as_declared(workspace, tmp_path):
    from kpi_engine.scorecard import declared_ids

    folder = write_definitions(tmp_path / "defs")
    ids = declared_ids(load_definitions(str(folder)))
    assert sorted(ids) == sorted(ORDER)
    (folder / "T9.yaml").unlink(missing_ok=True)
    ds = load_definitions(str(folder))
    (folder / "T9.yaml").write_text("id: T9\n")  # a file that appeared after loading
    assert declared_ids(ds)[-1] == "T9"


# --- the metadata: validated manifest fields only -----------------------------------------------


def test_the_metadata_holds_only_the_manifests_validated_fields(workspace, tmp_path):
    out = tmp_path / "s.csv"
    assert invoke(args(workspace, "--output", str(out))).exit_code == 0
    manifest = json.loads(meta_path_for(out).read_text())["extract"]["manifest"]
    assert manifest == {
        "authority": "Test borough",
        "extract_date": "2016-01-05",
        "source_system": "tests",
        "column_map": {},
    }


def test_unknown_manifest_content_is_never_copied():
    from types import SimpleNamespace

    from kpi_engine.scorecard import describe_manifest

    looped: list[object] = []
    looped.append(looped)  # what a recursive YAML alias makes: json.dumps would die on it
    manifest = SimpleNamespace(
        authority="A",
        extract_date=None,
        source_system=None,
        column_map={"children": {"dob": "date_of_birth"}},
        extra={"notes": looped},
    )
    described = describe_manifest(manifest)
    assert described == {
        "authority": "A",
        "extract_date": None,
        "source_system": None,
        "column_map": {"children": {"dob": "date_of_birth"}},
    }
    json.dumps(described)


# --- Excel --------------------------------------------------------------------------------------


def test_xlsx_scorecard_has_its_sheet_and_a_metadata_sheet(workspace, tmp_path):
    import openpyxl

    out = tmp_path / "scorecard.xlsx"
    result = invoke(args(workspace, "--output", str(out)))
    assert result.exit_code == 0, result.stderr
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["scorecard", "metadata"]
    sheet = book["scorecard"]
    assert [c.value for c in sheet[1]] == WIDE_COLUMNS
    assert [sheet.cell(row=r, column=1).value for r in range(2, 2 + len(ORDER))] == list(ORDER)
    assert sheet.freeze_panes == "B2" and sheet.auto_filter.ref == (
        f"A1:{get_column_letter(len(WIDE_COLUMNS))}{1 + len(ORDER)}"
    )
    rag = get_column_letter(WIDE_COLUMNS.index("rag") + 1)
    assert f"{rag}2:{rag}{1 + len(ORDER)}" in {str(cf.sqref) for cf in sheet.conditional_formatting}
    fields = dict(book["metadata"].iter_rows(min_row=2, values_only=True))
    assert fields["period"] == "2015-12" and fields["output.rows"] == len(ORDER)
    assert fields["quarters.q_latest.label"] == "2015-16 Q2"
    assert fields["extract.manifest.authority"] == "Test borough"
    assert "generated_at" not in fields  # the time is in the sidecar: reruns are identical
    meta = json.loads(meta_path_for(out).read_text())
    assert meta["output"]["format"] == "xlsx"
    assert meta["output"]["sha256"] == __import__("hashlib").sha256(out.read_bytes()).hexdigest()
    first = out.read_bytes()
    assert invoke(args(workspace, "--output", str(out))).exit_code == 0
    assert out.read_bytes() == first
