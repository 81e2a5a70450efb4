"""Publication mode (kpi_engine.suppression): primary and secondary suppression, hand-worked,
then a property: no suppressed small count can be worked out from a total and its breakdown."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.test_engine import definition

from kpi_engine import engine
from kpi_engine.cli import cli
from kpi_engine.suppression import MARK, NOTE, publish_frame

COUNT = definition(
    unit="count",
    rounding=0,
    numerator={"table": "cp_plans", "start": "start_date", "end": "end_date"},
    denominator=None,
    rating={"target": 10, "tolerance": 12},
    breakdown={"column": "category"},
)
PERCENT = definition(breakdown={"column": "category"})
SHARE = definition(breakdown={"column": "category", "denominator": "total"})
SUM = definition(
    unit="currency",
    rounding=0,
    numerator={"table": "cp_plans", "start": "start_date", "end": "end_date", "sum": "1"},
    denominator=None,
    rating={"no_target": "none"},
)


def frame(d, rows: list[tuple[str, float, float]], period: str = "2015-12") -> pd.DataFrame:
    """Result rows of ``d``: (breakdown, numerator, denominator); value as the engine makes it."""
    records = []
    for breakdown, num, den in rows:
        value = num if not d.unit.has_denominator else (num / den * 100 if den else np.nan)
        records.append(
            {
                **dict.fromkeys(engine.OUTPUT_COLUMNS, ""),
                "indicator_id": d.id,
                "definition_hash": d.content_hash(),
                "breakdown": breakdown,
                "period": period,
                "numerator": float(num),
                "denominator": float(den),
                "value": float(round(value)) if value == value else np.nan,
                "target": 10.0,
                "tolerance": 12.0,
            }
        )
    return pd.DataFrame.from_records(records, columns=engine.OUTPUT_COLUMNS)


def hidden(out: pd.DataFrame, column: str) -> list[str]:
    return [str(b) for b, v in zip(out.breakdown, out[column], strict=True) if v == MARK]


# --- primary ------------------------------------------------------------------------------------


def test_counts_one_to_five_are_suppressed_zero_and_six_are_not():
    rows = [("", n, np.nan) for n in (0, 1, 5, 6)]
    plain = COUNT.model_copy(update={"breakdown": None})
    out = publish_frame(frame(plain, rows), [plain])
    assert list(out.numerator) == [0, MARK, MARK, 6]
    assert list(out.value) == [0, MARK, MARK, 6]  # a count's value is its numerator
    assert list(out.note) == ["", NOTE, NOTE, ""]


def test_sums_are_not_counts():
    out = publish_frame(frame(SUM, [("", 3, np.nan)]), [SUM])
    assert list(out.numerator) == [3] and list(out.value) == [3]


def test_a_rate_from_a_suppressed_count_is_suppressed():
    d = PERCENT.model_copy(update={"breakdown": None})
    out = publish_frame(frame(d, [("", 3, 40), ("", 30, 4), ("", 30, 40)]), [d])
    assert list(out.numerator) == [MARK, 30, 30]
    assert list(out.denominator) == [40, MARK, 40]
    assert list(out.value) == [MARK, MARK, 75]  # 30/40: shown


def test_without_publish_nothing_changes():
    result = CliRunner().invoke(
        cli, ["compute", "--period", "2016-03", "--indicators", "A5", "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    assert MARK not in result.stdout


# --- secondary ------------------------------------------------------------------------------------


def test_one_suppressed_part_hides_the_next_smallest_non_zero_part():
    # total 20 = 3 + 0 + 8 + 9: 3 is small; 20 - 0 - 8 - 9 would give it back, so 8 (the
    # smallest non-zero shown part) is suppressed too; 0 identifies nobody and stays
    rows = [
        ("", 20, np.nan),
        ("a", 3, np.nan),
        ("b", 0, np.nan),
        ("c", 8, np.nan),
        ("d", 9, np.nan),
    ]
    out = publish_frame(frame(COUNT, rows), [COUNT])
    assert hidden(out, "numerator") == ["a", "c"]
    assert list(out.numerator) == [20, MARK, 0, MARK, 9]


def test_two_suppressed_parts_need_nothing_more():
    rows = [("", 16, np.nan), ("a", 3, np.nan), ("b", 4, np.nan), ("c", 9, np.nan)]
    out = publish_frame(frame(COUNT, rows), [COUNT])
    assert hidden(out, "numerator") == ["a", "b"]


def test_a_suppressed_total_with_one_part_hides_the_part():
    # total 4 (small) with a single part 4: the part equals the total, both hidden already;
    # total 7 with parts 7 and 0 is never small; total 3 = 3 + 0: 3 hidden, total hidden
    out = publish_frame(
        frame(COUNT, [("", 3, np.nan), ("a", 3, np.nan), ("b", 0, np.nan)]), [COUNT]
    )
    assert list(out.numerator) == [MARK, MARK, 0]


def test_a_part_suppressed_when_only_the_total_is_left_hides_the_total():
    # parts 2 and 0; the total 2 is small too; with total 12 = 2 + 10: 10 hidden
    out = publish_frame(
        frame(COUNT, [("", 12, np.nan), ("a", 2, np.nan), ("b", 10, np.nan)]), [COUNT]
    )
    assert list(out.numerator) == [12, MARK, MARK]


def test_denominators_of_a_per_group_breakdown_are_protected_too():
    # denominators 30 = 4 + 26: 4 is small; 26 is hidden with it; values with them
    rows = [("", 15, 30), ("a", 2, 4), ("b", 13, 26)]
    out = publish_frame(frame(PERCENT, rows), [PERCENT])
    assert list(out.denominator) == [30, MARK, MARK]
    assert list(out.numerator) == [15, MARK, MARK]
    assert list(out.value) == [50, MARK, MARK]


def test_a_share_breakdown_adds_up_to_the_denominator_and_hides_its_total_numerator():
    # A3-like: 27 audits = good 12 + inadequate 3 + outstanding 0 + requires improvement 12;
    # the total numerator (24, the grades the filter keeps) would give 3 back as 27 - 24
    rows = [("", 24, 27), ("good", 12, 27), ("inadequate", 3, 27), ("outstanding", 0, 27)]
    rows.append(("requires_improvement", 12, 27))
    out = publish_frame(frame(SHARE, rows), [SHARE])
    assert hidden(out, "numerator") == ["", "good", "inadequate"]
    assert hidden(out, "value") == ["", "good", "inadequate"]
    assert MARK not in list(out.denominator)


# --- the property ---------------------------------------------------------------------------------


def solutions(total: int | None, parts: list[int | None], limit: int) -> list[tuple[int, ...]]:
    """Every way to fill the hidden cells (None) with whole numbers 0..limit so that
    total = sum(parts): what someone holding the published table could work out."""
    unknown = [i for i, p in enumerate([total, *parts]) if p is None]
    found = []
    for guess in itertools.product(range(limit + 1), repeat=len(unknown)):
        cells = [total, *parts]
        for i, g in zip(unknown, guess, strict=True):
            cells[i] = g
        if cells[0] == sum(cells[1:]):  # type: ignore[arg-type]
            found.append(guess)
    return found


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 12), min_size=1, max_size=4))
def test_no_suppressed_count_can_be_recovered_from_the_total(parts):
    total = sum(parts)
    rows = [("", total, np.nan)] + [(f"g{i}", p, np.nan) for i, p in enumerate(parts)]
    out = publish_frame(frame(COUNT, rows), [COUNT])
    cells = [None if v == MARK else int(v) for v in out.numerator]
    # every small count is hidden
    for v, shown in zip([total, *parts], cells, strict=True):
        if 1 <= v <= 5:
            assert shown is None
    hidden_positions = [i for i, c in enumerate(cells) if c is None]
    if not hidden_positions:
        return
    found = solutions(cells[0], cells[1:], limit=total)
    for k, position in enumerate(hidden_positions):
        values = {guess[k] for guess in found}
        assert len(values) >= 2, (rows, cells, position)


def test_compute_and_scorecard_publish_name_the_rule():
    runner = CliRunner()
    args = ["compute", "--definitions", "corporate-scorecard", "--period", "2016-03"]
    result = runner.invoke(cli, [*args, "--indicators", "A5,A6", "--format", "csv", "--publish"])
    assert result.exit_code == 0, result.output
    assert MARK in result.stdout and NOTE in result.stdout
    result = runner.invoke(
        cli, ["scorecard", "--period", "2016-03", "--format", "csv", "--publish"]
    )
    assert result.exit_code == 0, result.output
    assert MARK in result.stdout and NOTE in result.stdout


@pytest.mark.parametrize("fmt", ["table", "parquet"])
def test_publish_refuses_formats_that_cannot_hold_the_mark(fmt, tmp_path):
    args = ["compute", "--publish", "--format", fmt]
    if fmt == "parquet":
        args += ["--output", str(tmp_path / "x.parquet")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert "--publish" in result.output
