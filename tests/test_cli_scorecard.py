"""``kpi scorecard``: what the cron job relies on.

Exit codes, the written file and its metadata, byte-identical reruns, the lock, logs on stderr,
and the kill test: a run killed at any moment leaves the previous file or the complete new one.
Most tests use a small extract and definition set written to a temporary folder; the last ones
run the shipped sample data and the corporate-scorecard set.
"""

from __future__ import annotations

import json
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
