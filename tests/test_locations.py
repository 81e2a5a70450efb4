"""Where kpi finds things (the environment variables), and the Python API's located errors.

Issue 13: the environment variables the code reads are documented in ``kpi --help`` and the
README; a benchmarks file that cannot be found is a warning on stderr, not a silent drop; shell
completion works; the Python API raises exceptions whose text is the command line's message,
with the problems attached.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import kpi_engine
from kpi_engine.cli import cli
from kpi_engine.extract import ExtractError
from kpi_engine.locations import UnknownSetError, definitions_root

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
ENVIRONMENT = ("KPI_DEFINITIONS", "KPI_EXTRACTS", "KPI_BENCHMARKS", "KPI_THREADS", "NO_COLOR")


# --- the Python API's errors ----------------------------------------------------------------------


def test_an_unknown_set_raises_a_definition_error_with_the_cli_message() -> None:
    with pytest.raises(kpi_engine.DefinitionError) as caught:
        kpi_engine.load_definitions("contract-2015-17")
    assert isinstance(caught.value, UnknownSetError)
    (problem,) = caught.value.problems
    assert str(caught.value) == str(problem)
    assert "no definition set 'contract-2015-17'; did you mean" in str(caught.value)


def test_a_broken_definition_raises_with_every_located_problem(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    shutil.copytree(definitions_root() / "contract-2015-16", folder)
    a1 = folder / "A1.yaml"
    a1.write_text(a1.read_text().replace("polarity:", "polarty:"))
    with pytest.raises(kpi_engine.DefinitionError) as caught:
        kpi_engine.compute(SAMPLE, folder, ["2016-01"])
    assert f"{a1}:" in str(caught.value)  # FILE:LINE:COLUMN as kpi validate prints it
    assert "polarty" in str(caught.value)
    assert [str(p) for p in caught.value.problems] == str(caught.value).splitlines()


def test_an_extract_error_carries_the_located_problems(tmp_path: Path) -> None:
    (tmp_path / "case_audits.csv").write_text(
        "audit_id,child_id,audit_date,grade,audit_type\na1,c1,2015-13-01,good,routine\n"
    )
    with pytest.raises(ExtractError) as caught:
        kpi_engine.compute(tmp_path, "contract-2015-16", ["2015-12"])
    text = str(caught.value)
    assert text.startswith("the extract has 1 error(s):")
    assert f"{tmp_path / 'case_audits.csv'}:2: audit_date: not a date (got '2015-13-01'" in text
    with pytest.raises(ExtractError) as missing:
        kpi_engine.compute(tmp_path / "nowhere", None, [])
    assert "nowhere: no such extract folder" in str(missing.value)


# --- environment variables ---------------------------------------------------------------------


def test_kpi_help_documents_the_environment_and_completion() -> None:
    text = CliRunner().invoke(cli, ["--help"]).output
    for name in ENVIRONMENT:
        assert name in text, name
    assert "_KPI_COMPLETE=bash_source kpi" in text
    readme = (ROOT / "README.md").read_text()
    for name in (*ENVIRONMENT, "_KPI_COMPLETE=bash_source", "docs/extract-contract.md"):
        assert name in readme, name


def test_kpi_definitions_points_at_another_folder_of_sets(tmp_path: Path) -> None:
    shutil.copytree(definitions_root() / "contract-2015-16", tmp_path / "ours")
    set_yaml = tmp_path / "ours" / "set.yaml"
    set_yaml.write_text(set_yaml.read_text().replace("name: contract-2015-16", "name: ours"))
    runner = CliRunner(env={"KPI_DEFINITIONS": str(tmp_path)})
    listed = runner.invoke(cli, ["list", "--set", "ours", "--format", "csv"])
    assert listed.exit_code == 0 and listed.stdout.count("\n") == 23  # header + 22 measures
    default = runner.invoke(cli, ["list"])  # contract-2016-17 is not in that folder
    assert default.exit_code == 2
    assert "no definition set 'contract-2016-17'" in default.stderr
    assert "(sets: ours;" in default.stderr


def test_kpi_extracts_is_the_default_extract(tmp_path: Path) -> None:
    runner = CliRunner(env={"KPI_EXTRACTS": str(tmp_path / "none")})
    result = runner.invoke(cli, ["compute", "--format", "csv"])
    assert result.exit_code == 2
    assert f"no extract folder at {tmp_path / 'none'}" in result.stderr


def test_a_benchmarks_file_that_is_not_there_is_a_warning(tmp_path: Path) -> None:
    nowhere = tmp_path / "benchmarks.csv"
    out = tmp_path / "scorecard.csv"
    result = CliRunner(env={"KPI_BENCHMARKS": str(nowhere)}).invoke(
        cli, ["scorecard", "--extracts", str(SAMPLE), "--output", str(out), "--quiet"]
    )
    assert result.exit_code == 0, result.stderr
    assert f"WARNING national benchmarks file {nowhere} (KPI_BENCHMARKS) not found" in (
        result.stderr
    )
    assert out.exists()


def test_shell_completion_offers_the_set_names() -> None:
    result = CliRunner(
        env={"_KPI_COMPLETE": "bash_complete", "COMP_WORDS": "kpi list --set co", "COMP_CWORD": "3"}
    ).invoke(cli, [], prog_name="kpi")
    assert result.exit_code == 0
    offered = result.stdout.splitlines()
    for name in ("contract-2015-16", "contract-2016-17", "corporate-scorecard"):
        assert f"plain,{name}" in offered
