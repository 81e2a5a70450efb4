"""``kpi explain``: its numerator and denominator are ``kpi compute``'s, and its rows are what the
help says they are.

Issue 13: on CARE-LADDER explain said 631 in the numerator and compute 618, because explain
counted rows (placements) and compute distinct children; summed figures (B8's weeks, C14's FTE,
a rate's population) were counted as rows too.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result

from kpi_engine import engine, load_definitions
from kpi_engine.cli import cli
from kpi_engine.explain import explain
from kpi_engine.extract import Extract, load_extract
from kpi_engine.periods import parse_month

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
MARCH = parse_month("2016-03")


@pytest.fixture(scope="module")
def extract() -> Extract:
    return load_extract(SAMPLE)


@pytest.fixture(scope="module")
def computed(extract: Extract) -> pd.DataFrame:
    frame = engine.compute(extract, load_definitions("contract-2016-17"), [MARCH])
    return frame[frame.breakdown == ""].set_index("indicator_id")


@pytest.mark.parametrize("indicator", load_definitions("contract-2016-17").ids)
def test_explain_counts_equal_compute_for_every_indicator(
    extract: Extract, computed: pd.DataFrame, indicator: str
) -> None:
    d = load_definitions("contract-2016-17").get(indicator)
    row = computed.loc[indicator]
    try:
        found = explain(extract, d, MARCH)
    except engine.NoData:
        assert row["status"] == "NO DATA"  # D17d-2016: no data source in the contract
        return
    assert np.isclose(found.numerator.value, row["numerator"])
    if found.denominator is None:
        assert np.isnan(row["denominator"])
    else:
        assert np.isclose(found.denominator.value, row["denominator"])


def test_care_ladder_counts_children_not_placements(extract: Extract) -> None:
    d = load_definitions("contract-2016-17").get("CARE-LADDER")
    found = explain(extract, d, MARCH)
    children = found.records.loc[found.records.in_numerator, "child_id"]
    assert found.numerator.records == len(children)
    assert found.numerator.value == children.nunique()  # `count: distinct` in CARE-LADDER.yaml
    assert found.numerator.records > found.numerator.value  # some children hold two placements
    assert found.numerator.counted == "distinct child_id"


def test_a_summed_figure_lists_what_each_record_adds(extract: Extract) -> None:
    # B8: "sum: days_between(issue_date, final_order_date) / 7" over the cases it counts
    d = load_definitions("contract-2016-17").get("B8")
    found = explain(extract, d, MARCH)
    rows = found.records
    weeks = (pd.to_datetime(rows.final_order_date) - pd.to_datetime(rows.issue_date)).dt.days / 7
    assert np.allclose(rows.numerator_adds, weeks)
    assert np.isclose(rows.numerator_adds.sum(), found.numerator.value)
    assert found.denominator is not None and found.denominator.value == len(rows)


def test_rows_are_what_the_help_says(extract: Extract) -> None:
    year2 = load_definitions("contract-2016-17")
    # a subset numerator: each denominator record once, flagged if also in the numerator
    a1 = explain(extract, year2.get("A1"), MARCH).records
    assert a1.in_denominator.all() and a1.referral_id.is_unique
    # different tables: each table's records, flagged by the part they count in
    custody = explain(extract, year2.get("YOS-CUSTODY"), MARCH)
    rows = custody.records
    assert not (rows.in_numerator & rows.in_denominator).any()
    assert rows.in_numerator.sum() == custody.numerator.records
    assert np.isclose(rows.denominator_adds.sum(), custody.denominator.value)  # type: ignore[union-attr]
    help_text = CliRunner().invoke(cli, ["explain", "--help"]).output
    assert "flagged if it is also in the numerator" in " ".join(help_text.split())
    assert "each table's records are listed" in " ".join(help_text.split())


def test_the_cli_summary_is_computes_figure() -> None:
    run = CliRunner().invoke(
        cli, ["explain", "CARE-LADDER", "--period", "2016-03", "--extracts", str(SAMPLE)]
    )
    assert run.exit_code == 0, run.output
    records = run.stdout.splitlines()[1:]
    summary = run.stderr.splitlines()[0]  # then the personal-data notice
    assert summary.startswith("CARE-LADDER: ") and summary.endswith("no denominator (2016-03)")
    assert f"(distinct child_id over {len(records)} records) in the numerator" in summary
    computed = CliRunner().invoke(
        cli,
        ["compute", "--indicators", "CARE-LADDER", "--period", "2016-03", "--format", "json"],
    )
    figure = next(r for r in json.loads(computed.stdout) if not r["breakdown"])
    assert f"CARE-LADDER: {figure['numerator']:,.0f} (distinct" in summary


# --- issue 14: the listing is personal data; issue 13: files named for their format ---------------


def explain_cli(*args: str) -> Result:
    return CliRunner().invoke(cli, ["explain", "A1", "--extracts", str(SAMPLE), *args])


def test_every_listing_is_marked_as_personal_data() -> None:
    csv = explain_cli("--period", "2015-12")
    assert csv.exit_code == 0
    assert "kpi: personal data: these records identify children" in csv.stderr
    assert csv.stdout.startswith("indicator_id,")  # the CSV keeps its shape for tools
    markdown = explain_cli("--period", "2015-12", "--format", "markdown")
    assert markdown.stdout.startswith("**personal data: these records identify children")


def test_a_markdown_file_is_marked_too(tmp_path: Path) -> None:
    out = tmp_path / "a1.md"
    assert explain_cli("--period", "2015-12", "--output", str(out)).exit_code == 0
    assert out.read_text(encoding="utf-8").startswith("**personal data:")


@pytest.mark.parametrize("name", ["a1.txt", "a1.html", "a1"])
def test_a_file_not_named_for_a_format_is_a_usage_error(tmp_path: Path, name: str) -> None:
    result = explain_cli("--output", str(tmp_path / name))
    assert result.exit_code == 2
    assert "name the output for its format" in result.stderr
    assert not (tmp_path / name).exists()


def test_a_file_that_cannot_be_written_is_one_line_and_exit_1(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    result = explain_cli("--output", str(blocked / "a1.csv"))  # its folder is a file
    assert result.exit_code == 1
    assert "kpi: error: cannot write" in result.stderr and "nothing written" in result.stderr
    assert "Traceback" not in result.output
