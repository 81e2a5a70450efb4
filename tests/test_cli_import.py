"""``kpi import`` through the CLI, on the hand-written SSDA903 fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kpi_engine.cli import cli

FIXTURES = Path(__file__).parent / "fixtures" / "ssda903"


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(FIXTURES)  # paths in the report as given: short and stable
    return CliRunner()


def test_text_report_reconciles_and_lists_findings(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "extract"
    result = runner.invoke(cli, ["import", "ssda903", "2015", "2016", "2017.xml", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"{out} holds 3 return(s):\n"
        "  ssda903 2015: 2015\n"
        "  ssda903 2016: 2016\n"
        "  ssda903 2017: 2017.xml\n"
        "table                      read  imported  rejected   merged\n"
        "children                     13         6         0        7\n"
        "cla_episodes                 18        11         0        7\n"
        "cla_reviews                   6         6         0        0\n"
        "missing_episodes              2         2         0        0\n"
        "adoptions                     1         1         0        0\n"
        "care_leavers                  2         2         0        0\n"
        "care_leaver_contacts          2         2         0        0\n"
        "read = imported + rejected + merged holds for every table\n"
        f"2 finding(s) (imported, worth a look), all in {out / 'import_findings.csv'}:\n"
        "  children C2: date_of_birth: 2005-02-01 -> 2005-02-02\n"
        "    changed between returns (the later kept)\n"
        "  cla_episodes C2/2012-03-12: start_date: 2012-03-10 -> 2012-03-12\n"
        "    start date changed between returns (the later kept)\n"
    )
    assert "note: no population given" in result.stderr
    validated = runner.invoke(cli, ["validate", "--extracts", str(out)])
    assert validated.exit_code == 0, validated.output


def test_json_report(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "extract"
    result = runner.invoke(
        cli, ["import", "ssda903", "bad", "--year", "2016", "-o", str(out), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["reconciles"] is True
    assert report["tables"]["cla_episodes"] == {
        "read": 8,
        "imported": 2,
        "rejected": 6,
        "merged": 0,
        "existing": 0,
        "replaced": 0,
        "written": 2,
    }
    assert report["rejections"][0] == {
        "table": "cla_episodes",
        "file": "bad/episodes.csv",
        "location": "line 2",
        "field": "DEC",
        "value": "01/03/2015",
        "reason": "ends before it starts (start_date is later)",
    }
    assert [s["year"] for s in report["sources"]] == [2016]


def test_strict_exits_1_and_writes_nothing(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "extract"
    result = runner.invoke(
        cli, ["import", "ssda903", "bad", "--year", "2016", "-o", str(out), "--strict"]
    )
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("kpi: error: 9 record(s) rejected and --strict given")
    assert not out.exists()


def test_not_a_903_is_one_line_and_exit_1(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["import", "ssda903", "not903.xml", "-o", str(tmp_path / "x")])
    assert result.exit_code == 1
    assert result.stderr == (
        "kpi: error: not903.xml: not an SSDA903 return (root element 'Foo'; "
        "expected 'EXPSSDA903')\n"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["import", "ssda903", "2015"],  # neither --output nor --into
        ["import", "ssda903", "2015", "2016", "--year", "2016", "-o", "x"],
        ["import", "ssda903", "no-such-folder", "-o", "x"],
    ],
)
def test_usage_errors_exit_2(runner: CliRunner, args: list[str]) -> None:
    result = runner.invoke(cli, args)
    assert result.exit_code == 2
    assert result.stdout == ""


def test_into_adds_a_year_to_an_extract(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "extract"
    assert runner.invoke(cli, ["import", "ssda903", "2015", "-o", str(out)]).exit_code == 0
    population = tmp_path / "pop.csv"
    population.write_text("year,age,count\n2015,0,1000\n")
    result = runner.invoke(
        cli, ["import", "ssda903", "2016", "--into", str(out), "--population", str(population)]
    )
    assert result.exit_code == 0, result.output
    assert "    and 4 already there (4 replaced)" in result.stdout  # children C1-C4
    assert "note:" not in result.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "adoptions.csv",
        "care_leaver_contacts.csv",
        "care_leavers.csv",
        "children.csv",
        "cla_episodes.csv",
        "cla_reviews.csv",
        "import_findings.csv",
        "manifest.yaml",
        "missing_episodes.csv",
        "population.csv",
        "rejected_rows.csv",
    ]


@pytest.mark.parametrize("command", [["import"], ["import", "ssda903"], ["import", "cin-census"]])
def test_every_import_command_has_help_with_an_example(command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.stdout
