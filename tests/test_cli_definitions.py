"""``kpi validate``, ``kpi list`` and ``kpi show``, and the same mistake's exit code everywhere.

Issue 13: a mistyped set name (``contract-2015-17``) is a usage error (exit 2) that lists the
sets and suggests the closest, in every command; an indicator id no set holds is a usage error
too (``kpi show Z9`` exited 1 while ``kpi explain Z9`` exited 2); ``kpi validate ONE.yaml``
checks that file (it said "checked 0 definition(s)"); ``kpi list`` and ``kpi show`` have
``--format json`` (and csv for list) and ``show`` prints filters as the YAML wrote them.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from kpi_engine import load_definitions
from kpi_engine.cli import cli
from kpi_engine.locations import definitions_root

YEAR_1 = definitions_root() / "contract-2015-16"
SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"


def kpi(*args: str, width: int = 200) -> Result:
    return CliRunner(env={"COLUMNS": str(width)}).invoke(cli, list(args), catch_exceptions=False)


# --- the same mistake, the same exit code -------------------------------------------------------

MISTYPED_SET = [
    ("list", "--set", "contract-2015-17"),
    ("show", "A1", "--set", "contract-2015-17"),
    ("validate", "contract-2015-17"),
    ("compute", "--definitions", "contract-2015-17", "--extracts", str(SAMPLE)),
    ("explain", "A1", "--definitions", "contract-2015-17", "--extracts", str(SAMPLE)),
    ("scorecard", "--definitions", "contract-2015-17", "--extracts", str(SAMPLE)),
    ("report", "--definitions", "contract-2015-17", "--output", "never-written.html"),
    ("diff", "contract-2015-17", "contract-2016-17"),
    ("diff", "contract-2015-16", "contract-2015-17"),
]


@pytest.mark.parametrize("args", MISTYPED_SET, ids=lambda a: " ".join(a[:2]))
def test_a_mistyped_set_is_a_usage_error_in_every_command(args: tuple[str, ...]) -> None:
    result = kpi(*args)
    assert result.exit_code == 2, result.output
    assert "definition set 'contract-2015-17'" in result.stderr  # validate: file, folder or set
    # both are one character away: both suggested, and every set listed
    assert "did you mean 'contract-2015-16' or 'contract-2016-17'?" in result.stderr
    assert "sets: contract-2015-16, contract-2016-17, corporate-scorecard" in result.stderr
    assert "kpi validate" not in result.stderr  # the old advice, wrong for a typo
    assert "Traceback" not in result.output


UNKNOWN_ID = [
    ("show", "Z9"),
    ("explain", "Z9", "--extracts", str(SAMPLE)),
    ("compute", "--indicators", "Z9", "--extracts", str(SAMPLE)),
]


@pytest.mark.parametrize("args", UNKNOWN_ID, ids=lambda a: a[0])
def test_an_unknown_indicator_id_is_a_usage_error_in_every_command(args: tuple[str, ...]) -> None:
    result = kpi(*args)
    assert result.exit_code == 2, result.output
    assert "no indicator 'Z9'" in result.stderr


def test_an_id_of_another_set_says_which() -> None:
    result = kpi("explain", "A7", "--extracts", str(SAMPLE))  # A7: year 1 only (dropped)
    assert result.exit_code == 2
    assert "no indicator 'A7' in contract-2016-17; it is in contract-2015-16" in result.stderr
    near = kpi("show", "A11")
    assert near.exit_code == 2 and "did you mean 'A1'?" in near.stderr


# --- kpi validate ------------------------------------------------------------------------------


def test_validate_one_file_checks_that_file(tmp_path: Path) -> None:
    result = kpi("validate", str(YEAR_1 / "A1.yaml"))
    assert result.exit_code == 0
    assert "checked 1 definition(s): no problems" in result.stderr
    broken = tmp_path / "A1.yaml"
    broken.write_text((YEAR_1 / "A1.yaml").read_text().replace("unit: percent", "unit: percnt"))
    bad = kpi("validate", str(broken))
    assert bad.exit_code == 1
    assert f"{broken}:" in bad.stderr and "unit" in bad.stderr
    assert "checked 1 definition(s): 1 problem(s)" in bad.stderr


def test_validate_takes_set_names() -> None:
    result = kpi("validate", "contract-2015-16")
    assert result.exit_code == 0
    assert "checked 22 definition(s) in 1 set(s): no problems" in result.stderr


# --- kpi list -------------------------------------------------------------------------------------


def test_list_json_has_every_indicator_in_order() -> None:
    result = kpi("list", "--set", "contract-2015-16", "--format", "json")
    assert result.exit_code == 0
    records = json.loads(result.stdout)
    assert [r["id"] for r in records] == load_definitions("contract-2015-16").ids
    a1 = records[0]
    assert a1 == a1 | {
        "id": "A1",
        "group": "children_in_need",
        "contract": "true",
        "frequency": "monthly",
        "unit": "percent",
        "polarity": "lower_is_better",
        "rating": "target <=25%, tolerance <=30%",  # seed 001 Indicator Review A1
    }
    assert len(a1["hash"]) == 12


def test_list_csv_reads_back() -> None:
    result = kpi("list", "--set", "corporate-scorecard", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["id"] for r in rows] == load_definitions("corporate-scorecard").ids
    assert rows[0].keys() >= {"id", "name", "rating", "hash"}


@pytest.mark.parametrize("width", [80, 120])
def test_list_is_one_line_per_indicator(width: int) -> None:
    result = kpi("list", "--set", "contract-2016-17", width=width)
    lines = result.stdout.splitlines()
    assert all(len(line.rstrip()) <= width for line in lines)
    for i in load_definitions("contract-2016-17").ids:
        assert sum(line.split()[:1] == [i] for line in lines) == 1, i
    if width == 80:
        assert "kpi list --format csv" in result.stdout


# --- kpi show -------------------------------------------------------------------------------------


def test_show_prints_filters_as_the_yaml_wrote_them() -> None:
    result = kpi("show", "B11-2016", "--set", "contract-2016-17")
    assert result.exit_code == 0
    # B11-2016.yaml's denominator and numerator, as written
    lines = [line.strip() for line in result.stdout.splitlines()]
    start = lines.index("denominator  table: care_leaver_birthdays")
    assert lines[start + 1 : start + 3] == [
        "date: birthday",
        "filter: age in [19, 20, 21] and qualifying",
    ]
    assert "numerator  filter: accommodation_suitable" in lines
    assert '{"' not in result.stdout and "19.0" not in result.stdout


def test_show_json_is_the_definition_with_its_set_and_hash() -> None:
    result = kpi("show", "B11-2016", "--set", "contract-2016-17", "--format", "json")
    (record,) = json.loads(result.stdout)
    d = load_definitions("contract-2016-17").get("B11-2016")
    assert record["set"] == "contract-2016-17" and record["hash"] == d.content_hash()
    assert record["denominator"]["filter"] == "age in [19, 20, 21] and qualifying"
    everywhere = json.loads(kpi("show", "A1", "--format", "json").stdout)
    assert [r["set"] for r in everywhere] == [
        "contract-2015-16",
        "contract-2016-17",
        "corporate-scorecard",
    ]


# --- commands reading no data start without the engine --------------------------------------

_IMPORTS = """
import contextlib, io, sys
from kpi_engine.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    main(sys.argv[1:])
print(sorted(m for m in ("pandas", "kpi_engine.engine", "kpi_engine.extract") if m in sys.modules))
"""


@pytest.mark.parametrize(
    "args",
    [
        ["validate"],
        ["list", "--format", "csv"],
        ["show", "A1"],
        ["--version"],
        ["diff", "contract-2015-16", "contract-2016-17", "--format", "json"],
    ],
)
def test_commands_reading_no_data_do_not_import_pandas_or_the_engine(args):
    # each command module is imported when its command runs (kpi_engine.cli): kpi validate in
    # CI took 1.0 s, 0.6 s of it importing pandas and the engine it never used; kpi diff
    # imports them for an impact (--extracts, --period) only (kpi --help imports every
    # command, for their descriptions)
    run = subprocess.run(
        [sys.executable, "-c", _IMPORTS, *args], capture_output=True, text=True, check=True
    )
    assert run.stdout.strip().splitlines()[-1] == "[]", run.stdout


def test_every_command_is_listed_and_found():
    listed = kpi("--help").output
    for name in cli.list_commands(None):  # type: ignore[arg-type]
        command = cli.get_command(None, name)  # type: ignore[arg-type]
        assert command is not None and command.name == name and f"  {name} " in listed
    assert cli.get_command(None, "no-such-command") is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("comput", "No such command 'comput'. Did you mean 'compute'?"),
        ("sample", "No such command 'sample'. Did you mean 'sample-data'?"),
        ("rport", "No such command 'rport'. (Did you mean one of: 'import', 'report'?)"),
        ("zzz", "No such command 'zzz'."),
    ],
)
def test_a_mistyped_command_is_a_usage_error_naming_the_closest(typed, said):
    # the commands are imported when used, so click (which suggests from those it holds) had
    # none to suggest: the group suggests from every command's name, in click's words
    result = kpi(typed)
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == f"Error: {said}"
