"""``kpi diff``: the seed's year-2 overview reproduced, cosmetic edits ignored, each class found."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from kpi_engine import diff, engine, load_definitions
from kpi_engine.cli import cli
from kpi_engine.diff import Change, compare, impact
from kpi_engine.extract import load_extract
from kpi_engine.locations import definitions_root, sample_data_dir
from kpi_engine.periods import parse_month

# Seed 001, "Contract Measures - overview of changes for year 2 reporting period":
# Ref, Proposal, (the year-2 id of a replacement).
SEED_OVERVIEW = [
    ("A1", "A1", Change.retained),
    ("A2", "A2", Change.retained),
    ("A3", "A3", Change.retained),
    ("A4", "A4-2016", Change.replaced),
    ("A5", "A5", Change.revised),
    ("A6", "A6", Change.revised),
    ("A7", None, Change.dropped),
    ("B8", "B8", Change.revised),
    ("B9", "B9", Change.retained),
    ("B10", "B10", Change.retained),
    ("B11", "B11-2016", Change.replaced),
    ("B12", "B12-2016", Change.replaced),
    ("C14", "C14", Change.retained),
    ("C15", "C15-2016", Change.replaced),
    ("C16", "C16-2016", Change.replaced),
    ("D17a", "D17a", Change.retained),
    ("D17b", None, Change.dropped),
    ("D17c", None, Change.dropped),
    ("D17d", "D17d-2016", Change.replaced),
    ("D17e", None, Change.dropped),
    ("D19", "D19-2016", Change.replaced),
    ("D21", None, Change.dropped),
    # NEW: %CIN with an open plan, YOS %EET, YOS reoffending, YOS custody, care ladder
    (None, "CIN-PLAN", Change.new),
    (None, "YOS-EET", Change.new),
    (None, "YOS-REOFFEND", Change.new),
    (None, "YOS-CUSTODY", Change.new),
    (None, "CARE-LADDER", Change.new),
    (None, "CARE-LADDER-COST", Change.new),  # the care ladder row's budget / forecast half
]

YEAR_1 = definitions_root() / "contract-2015-16"
YEAR_2 = definitions_root() / "contract-2016-17"


def test_shipped_sets_reproduce_the_seed_overview_row_for_row():
    result = compare(load_definitions(YEAR_1), load_definitions(YEAR_2))
    assert [(e.old_id, e.new_id, e.change) for e in result.entries] == SEED_OVERVIEW


def test_a_changed_target_alone_is_retained_and_listed():
    result = compare(load_definitions(YEAR_1), load_definitions(YEAR_2))
    a1 = result.entries[0]
    assert a1.change is Change.retained and not a1.calculation
    assert [str(c) for c in a1.other if c.field == "rating"] == [
        "rating: target <=25%, tolerance <=30% → green <=24%, amber <=28%"
    ]
    b8 = next(e for e in result.entries if e.old_id == "B8")
    assert "frequency: monthly → quarterly" in [str(c) for c in b8.calculation]


def copy_set(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    shutil.copytree(YEAR_1, folder)
    text = (folder / "set.yaml").read_text()
    (folder / "set.yaml").write_text(text.replace("name: contract-2015-16", f"name: {name}"))
    return folder


def edit(folder: Path, indicator: str, old: str, new: str) -> None:
    path = folder / (indicator if indicator.endswith(".yaml") else f"{indicator}.yaml")
    text = path.read_text()
    assert old in text, (indicator, old)
    path.write_text(text.replace(old, new))


def test_cosmetic_edits_are_no_change(tmp_path):
    folder = copy_set(tmp_path, "cosmetic")
    # reorder an `and`, change quotes and spacing, add a comment
    edit(
        folder,
        "A1",
        "filter: previous_referral_date is not null and referral_date <= "
        "add_months(previous_referral_date, lookback_months)",
        "filter: referral_date<=add_months( previous_referral_date , lookback_months )   and "
        "previous_referral_date is not null  # re-referral: DfE rule",
    )
    edit(folder, "A3", "audit_type == 'routine'", 'audit_type == "routine"')
    result = compare(load_definitions(YEAR_1), load_definitions(folder))
    assert all(e.change is Change.retained and not e.changes for e in result.entries)
    assert not result.fails("any")
    run = CliRunner().invoke(cli, ["diff", str(YEAR_1), str(folder), "--fail-on", "any"])
    assert run.exit_code == 0, run.output


def test_each_class_is_detected(tmp_path):
    folder = copy_set(tmp_path, "changed")
    edit(folder, "A2", "<= 45", "<= 40")  # revised: a different calculation
    edit(folder, "A3", "description: >\n  Of the", "description: >\n  Among")  # wording only
    (folder / "A7.yaml").unlink()  # dropped
    b9 = (folder / "B9.yaml").read_text().replace("id: B9", "id: B9-NEW") + "replaces: B9\n"
    (folder / "B9.yaml").unlink()
    (folder / "B9-NEW.yaml").write_text(b9)  # replaced
    x1 = (folder / "A1.yaml").read_text().replace("id: A1", "id: X1")
    (folder / "X1.yaml").write_text(x1)  # new
    edit(
        folder,
        "set.yaml",
        "order: [A1, A2, A3, A4, A5, A6, A7,",
        "order: [A1, A2, A3, A4, A5, A6,",
    )
    edit(folder, "set.yaml", " B8, B9, B10,", " B8, B9-NEW, B10,")
    edit(folder, "set.yaml", "D21]", "D21, X1]")
    result = compare(load_definitions(YEAR_1), load_definitions(folder))
    by_old = {e.old_id: e for e in result.entries}
    assert by_old["A2"].change is Change.revised
    # shown as the files write it, not as the parsed tree ('(... <= 45.0)')
    assert [str(c) for c in by_old["A2"].calculation] == [
        "numerator filter: working_days_between(start_date, completed_date) <= 45 → "
        "working_days_between(start_date, completed_date) <= 40"
    ]
    assert by_old["A3"].change is Change.retained
    assert [c.field for c in by_old["A3"].changes] == ["description"]
    assert by_old["A7"].change is Change.dropped
    assert (by_old["B9"].change, by_old["B9"].new_id) == (Change.replaced, "B9-NEW")
    assert by_old[None].new_id == "X1" and by_old[None].change is Change.new
    assert result.fails("breaking") and result.fails("any") and not result.fails("none")


def test_impact_matches_kpi_compute_on_both_sets():
    old, new = load_definitions(YEAR_1), load_definitions(YEAR_2)
    extract = load_extract(sample_data_dir())
    month = parse_month("2016-03")
    result = compare(old, new)
    impacts = {(i.entry.old_id, i.entry.new_id): i for i in impact(result, extract, month)}
    old_frame = engine.compute(extract, old, [month])
    new_frame = engine.compute(extract, new, [month])

    def value(frame, indicator):
        row = frame[(frame.indicator_id == indicator) & (frame.breakdown == "")]
        return float(row["value"].iloc[-1])

    for (old_id, new_id), i in impacts.items():
        if old_id is not None:
            assert np.isclose(i.old_value, value(old_frame, old_id), equal_nan=True), old_id
        if new_id is not None:
            assert np.isclose(i.new_value, value(new_frame, new_id), equal_nan=True), new_id
    # A6 year 2 counts children on a plan at month end, year 1 plans ended in the month:
    # every child in the new denominator is one the old one did not hold, or was kept.
    a6 = impacts[("A6", "A6")]
    assert a6.denominator_in is not None and a6.denominator_in > 0
    # the same definition gives the same cases: no churn for a retained measure
    a1 = impacts[("A1", "A1")]
    assert (a1.numerator_in, a1.numerator_out, a1.denominator_in, a1.denominator_out) == (
        0,
        0,
        0,
        0,
    )


@pytest.mark.parametrize(("fail_on", "code"), [("breaking", 1), ("any", 1), ("none", 0)])
def test_cli_exit_codes(fail_on, code):
    run = CliRunner().invoke(
        cli, ["diff", str(YEAR_1), str(YEAR_2), "--format", "json", "--fail-on", fail_on]
    )
    assert run.exit_code == code, run.output
    assert '"change": "replaced"' in run.stdout


def test_cli_markdown_with_impact_and_usage_errors():
    runner = CliRunner()
    md = runner.invoke(
        cli,
        [
            "diff",
            "contract-2015-16",
            "contract-2016-17",
            "--period",
            "2016-03",
            "--format",
            "markdown",
        ],
    )
    assert md.exit_code == 1
    assert "| A4 → A4-2016 | replaced |" in md.stdout
    assert "### Impact on 2016-03" in md.stdout
    bad = runner.invoke(
        cli, ["diff", "contract-2015-16", "contract-2016-17", "--period", "2016-13"]
    )
    assert bad.exit_code == 2
    assert "Traceback" not in bad.output


def test_invalid_definitions_exit_1_with_located_problems(tmp_path):
    folder = copy_set(tmp_path, "broken")
    edit(folder, "A1", "unit: percent", "unit: percentage")
    run = CliRunner().invoke(cli, ["diff", str(YEAR_1), str(folder)])
    assert run.exit_code == 1
    assert "A1.yaml:" in run.stderr and "unit" in run.stderr


# --- issue 13: source text, units, the failing rule, sets sharing a name --------------------------


def test_expressions_are_shown_as_the_yaml_writes_them():
    run = CliRunner().invoke(
        cli, ["diff", "contract-2015-16", "contract-2016-17", "--format", "markdown"]
    )
    # A6.yaml (2015-16) and A6.yaml (2016-17): the numerator filters as the files write them
    assert (
        "numerator filter: days_between(start_date, end_date) + 1 > 729"
        " → period_end >= add_days(start_date, 729)" in run.stdout
    )
    assert "19.0" not in run.stdout and "== age" not in run.stdout


def test_no_subtraction_across_a_change_of_unit():
    old, new = load_definitions(YEAR_1), load_definitions(YEAR_2)
    result = compare(old, new)
    impacts = impact(result, load_extract(sample_data_dir()), parse_month("2016-03"))
    d19 = next(i for i in impacts if i.entry.old_id == "D19")
    # D19 reports £ of capital spend; D19-2016 a percentage of plan: no 8,000 - 0.3
    assert d19.units == ("currency", "percent")
    assert np.isnan(d19.change)
    row = next(r for r in diff.impact_rows(impacts) if r["old_id"] == "D19")
    assert (row["old_value"], row["new_value"]) == ("£8,000", "0.3%")
    assert row["change"] == "unit changed: currency → percent"
    b8 = next(r for r in diff.impact_rows(impacts) if r["old_id"] == "B8")
    assert (b8["old_value"], b8["new_value"], b8["change"]) == ("33 weeks", "31 weeks", "-2 weeks")


def test_a_failing_run_says_which_rule_failed_on_what(tmp_path):
    folder = copy_set(tmp_path, "changed")
    edit(folder, "A2", "<= 45", "<= 40")
    run = CliRunner().invoke(cli, ["diff", str(YEAR_1), str(folder)])
    assert run.exit_code == 1
    assert "--fail-on breaking fails on 1 revised (A2)" in run.stderr
    passing = CliRunner().invoke(cli, ["diff", str(YEAR_1), str(folder), "--fail-on", "none"])
    assert passing.exit_code == 0 and "fails on" not in passing.stderr


def test_two_folders_with_one_set_name_are_labelled_by_path(tmp_path):
    folder = tmp_path / "edited"
    shutil.copytree(YEAR_1, folder)  # set.yaml still says contract-2015-16
    run = CliRunner().invoke(cli, ["diff", str(YEAR_1), str(folder), "--format", "markdown"])
    assert f"## Definition changes: {YEAR_1} → {folder}" in run.stdout
    table = CliRunner(env={"COLUMNS": "200"}).invoke(cli, ["diff", str(YEAR_1), str(folder)])
    assert f"{YEAR_1} → {folder}" in table.stdout


def test_a_mistyped_set_is_a_usage_error_naming_the_sets():
    run = CliRunner().invoke(cli, ["diff", "contract-2015-17", "contract-2016-17"])
    assert run.exit_code == 2
    assert "no definition set 'contract-2015-17'" in run.stderr
    assert "did you mean 'contract-2015-16' or 'contract-2016-17'?" in run.stderr


def test_the_terminal_table_is_one_line_per_measure_at_80_columns():
    run = CliRunner(env={"COLUMNS": "80"}).invoke(
        cli, ["diff", "contract-2015-16", "contract-2016-17", "--period", "2016-03"]
    )
    lines = run.stdout.splitlines()
    assert all(len(line.rstrip()) <= 80 for line in lines)
    overview = [
        line for line in lines if line.split()[:2] in (["A5", "revised"], ["A7", "dropped"])
    ]
    assert len(overview) == 2
    assert "Not shown at 80 columns: num in/out, den in/out" in run.stdout
