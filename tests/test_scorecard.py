"""The corporate scorecard: quarters, baseline, latest, trend, benchmark, both layouts, idempotence.

Small hand-built extracts; each figure is checked against a separate ``engine.compute`` of the
same definition (or a quarterly copy of it) so the scorecard's bookkeeping is what is tested.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kpi_engine import engine, load_definitions, scorecard
from kpi_engine.definitions import Definition, DefinitionSet, Frequency, SetInfo
from kpi_engine.extract import load_extract
from kpi_engine.locations import sample_data_dir
from kpi_engine.periods import parse_month
from kpi_engine.scorecard import (
    LONG_COLUMNS,
    QUARTER_COLUMNS,
    WIDE_COLUMNS,
    QuarterBasis,
    build_scorecard,
    load_benchmarks,
    quarter_basis,
    render,
    scorecard_quarters,
)
from kpi_engine.trend import judge

D = pd.to_datetime
DEC = parse_month("2015-12")
REPO = Path(__file__).resolve().parents[1]


def definition(**overrides: object) -> Definition:
    base: dict[str, object] = {
        "id": "T1",
        "name": "Assessments in timescale",
        "group": "children_in_need",
        "contract": True,
        "description": "Assessments completed in the month within 45 days.",
        "source": "tests/test_scorecard.py",
        "unit": "percent",
        "rounding": 0,
        "polarity": "higher_is_better",
        "frequency": "monthly",
        "window": {"type": "in_period"},
        "denominator": {"table": "assessments", "date": "completed_date"},
        "numerator": {"filter": "days_between(start_date, completed_date) <= 45"},
        "rating": {"target": 95, "tolerance": 90},
    }
    base.update(overrides)
    return Definition.model_validate(base)


FLOW = definition()
SNAPSHOT = definition(
    id="T2",
    name="Children on a plan for 2 years or more",
    contract=False,
    polarity="lower_is_better",
    window={"type": "open_at_end"},
    denominator={"table": "cp_plans", "start": "start_date", "end": "end_date"},
    numerator={"filter": "period_end >= add_days(start_date, 729)"},
    rating={},
    benchmark={"national": "cpp_at_31mar_2yrs_plus"},
)
QUARTERLY = definition(
    id="T3",
    name="Plans started in the quarter",
    unit="count",
    frequency="quarterly",
    denominator=None,
    numerator={"table": "cp_plans", "date": "start_date"},
    rating={},
    benchmark={"seed_value": 547},
)
ROLLING = definition(
    id="T4",
    name="Plans started in a rolling 3 months",
    contract=False,
    unit="count",
    window={"type": "rolling", "months": 3},
    denominator=None,
    numerator={"table": "cp_plans", "date": "start_date"},
    rating={},
)
PENDING = definition(
    id="T5",
    name="Staff satisfaction",
    group="workforce",
    status="under_development",
    status_note="survey not yet designed",
)
DEFINITIONS = (ROLLING, FLOW, PENDING, SNAPSHOT, QUARTERLY)
ORDER = ("T2", "T1", "T4", "T3", "T5")  # the set's order, not the definitions' sequence


def the_set(baseline: str | None = "2014-03") -> DefinitionSet:
    by_id = {d.id: d for d in DEFINITIONS}
    return DefinitionSet(
        info=SetInfo(name="test-scorecard", title="Test", order=ORDER, baseline_period=baseline),
        definitions=tuple(by_id[i] for i in ORDER),
    )


def extract(seed: int = 7, n: int = 1500) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    start = D("2013-01-01") + pd.to_timedelta(rng.integers(0, 1100, n), unit="D")
    children = [f"c{i % 250}" for i in range(n)]
    return {
        "assessments": pd.DataFrame(
            {
                "assessment_id": [f"a{i}" for i in range(n)],
                "child_id": children,
                "start_date": start,
                "completed_date": start + pd.to_timedelta(rng.integers(5, 70, n), unit="D"),
            }
        ),
        "cp_plans": pd.DataFrame(
            {
                "cp_plan_id": [f"p{i}" for i in range(n)],
                "child_id": children,
                "start_date": start,
                "end_date": start + pd.to_timedelta(rng.integers(30, 1000, n), unit="D"),
            }
        ),
    }


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return extract()


@pytest.fixture(scope="module")
def card(tables) -> scorecard.Scorecard:
    return build_scorecard(tables, the_set(), DEC)


def wide_row(card: scorecard.Scorecard, indicator: str) -> pd.Series:
    hit = card.wide[card.wide.indicator_id == indicator]
    assert len(hit) == 1
    return hit.iloc[0]


def value_at(tables, d: Definition, month: str) -> float:
    out = engine.compute(tables, [d], [parse_month(month)])
    own = out[out.breakdown == ""]
    assert len(own) == 1
    return float(own.iloc[0].value)


# --- quarters -----------------------------------------------------------------------------------


def test_quarters_are_the_four_before_the_latest_months_quarter_as_in_the_seed():
    quarters = scorecard_quarters(DEC)
    assert [q.column for q in quarters] == list(QUARTER_COLUMNS)
    assert [q.label for q in quarters] == ["2014-15 Q3", "2014-15 Q4", "2015-16 Q1", "2015-16 Q2"]
    assert [q.period for q in quarters] == ["2014-12", "2015-03", "2015-06", "2015-09"]
    jan = scorecard_quarters(parse_month("2016-01"))
    assert (jan[-1].period, jan[-1].label) == ("2015-12", "2015-16 Q3")
    march = scorecard_quarters(parse_month("2016-03"))
    assert march[-1].period == "2015-12"
    april = scorecard_quarters(parse_month("2016-04"))
    assert (april[-1].period, april[-1].label) == ("2016-03", "2015-16 Q4")
    assert april[0].as_dict() == {
        "column": "q_minus_3",
        "period": "2015-06",
        "label": "2015-16 Q1",
        "start": "2015-04-01",
        "end": "2015-06-30",
    }


def test_quarter_basis_by_window():
    assert quarter_basis(FLOW) is QuarterBasis.flow
    assert quarter_basis(SNAPSHOT) is QuarterBasis.snapshot
    assert quarter_basis(ROLLING) is QuarterBasis.rolling
    assert quarter_basis(QUARTERLY) is QuarterBasis.flow
    assert quarter_basis(PENDING) is QuarterBasis.none
    ytd = definition(window={"type": "financial_year_to_date"})
    assert quarter_basis(ytd) is QuarterBasis.year_to_date
    assert quarter_basis(definition(frequency="annual")) is QuarterBasis.annual


def test_flow_quarter_pools_the_quarters_numerator_and_denominator(tables, card):
    months = ["2015-07", "2015-08", "2015-09"]
    out = engine.compute(tables, [FLOW], [parse_month(m) for m in months])
    pooled = 100 * out.numerator.sum() / out.denominator.sum()
    row = wide_row(card, "T1")
    assert row.quarter_basis == "flow"
    assert row.q_latest == round(pooled)
    quarterly = FLOW.model_copy(update={"frequency": Frequency.quarterly})
    for q in scorecard_quarters(DEC):
        assert row[q.column] == value_at(tables, quarterly, q.period)


def test_snapshot_and_rolling_quarters_are_the_quarter_end_values(tables, card):
    for d in (SNAPSHOT, ROLLING):
        row = wide_row(card, d.id)
        for q in scorecard_quarters(DEC):
            assert row[q.column] == value_at(tables, d, q.period), (d.id, q.period)
    assert wide_row(card, "T2").quarter_basis == "snapshot"
    assert wide_row(card, "T4").quarter_basis == "rolling"


def test_baseline_latest_rating_and_trend(tables, card):
    row = wide_row(card, "T1")
    assert (row.baseline_period, row.baseline) == ("2014-03", value_at(tables, FLOW, "2014-03"))
    assert (row.latest_period, row.latest) == ("2015-12", value_at(tables, FLOW, "2015-12"))
    out = engine.compute(tables, [FLOW], [DEC])
    assert (row.status, row.rag) == (out.status[0], out.rag[0])
    assert (row.target, row.tolerance) == (95, 90)
    previous = [value_at(tables, FLOW, f"2015-{m:02d}") for m in range(6, 12)]
    expected = judge(row.latest, previous, FLOW.unit, FLOW.polarity, FLOW.rounding)
    assert row.trend_6m == expected.value
    assert row.trend_6m in ("improving", "stable", "declining")


def test_a_quarterly_measure_reports_its_own_quarters(tables):
    nov = build_scorecard(tables, the_set(), parse_month("2015-11"))
    row = wide_row(nov, "T3")
    assert row.latest_period == "2015-09"  # November: the last quarter end is September
    assert row.latest == value_at(tables, QUARTERLY, "2015-09")
    assert row.baseline_period == "2014-03"
    for q in scorecard_quarters(parse_month("2015-11")):
        assert row[q.column] == value_at(tables, QUARTERLY, q.period)
    previous = [value_at(tables, QUARTERLY, m) for m in ("2015-03", "2015-06")]
    assert row.trend_6m == judge(row.latest, previous, QUARTERLY.unit, QUARTERLY.polarity, 0).value


def test_a_measure_under_development_keeps_its_row(card):
    row = wide_row(card, "T5")
    assert row.status == "NO DATA"
    assert row.note == "under development: survey not yet designed"
    assert row.quarter_basis == "" and row.trend_6m == ""
    assert all(math.isnan(row[c]) for c in ("baseline", *QUARTER_COLUMNS, "latest"))


def test_absent_table_is_no_data_not_an_error():
    card = build_scorecard({"assessments": extract()["assessments"]}, the_set(), DEC)
    row = wide_row(card, "T2")
    assert (row.status, row.note) == ("NO DATA", "needs table cp_plans, absent from the extract")
    assert row.trend_6m == ""


def test_no_baseline_period_leaves_the_baseline_empty(tables):
    card = build_scorecard(tables, the_set(baseline=None), DEC)
    assert set(card.wide.baseline_period) == {""}
    assert card.wide.baseline.isna().all()


# --- benchmarks ---------------------------------------------------------------------------------


def test_the_shipped_scorecards_baseline_is_2013_14():
    # The seed's "Baseline" column carries national ranks and the published 2013-14 figures
    # (seed 001 lines 1713-1740; not its "point of transfer" figures, lines 1213-1215): the
    # shipped set's baseline month is March 2014, and each computed row's baseline is the
    # definition's value there (a snapshot at 31 March 2014; a flow measure's March).
    shipped = load_definitions("corporate-scorecard")
    assert shipped.info.baseline_period == "2014-03"
    sample = load_extract(sample_data_dir())
    card = build_scorecard(sample, shipped, DEC)
    computed = card.wide[card.wide.quarter_basis != ""]
    assert set(computed.baseline_period) == {"2014-03"}
    for indicator in ("B10", "A5", "ADOPTION-DAYS"):
        d = shipped.get(indicator)
        out = engine.compute(sample, [d], [parse_month("2014-03")])
        expected = float(out[out.breakdown == ""].iloc[-1]["value"])
        assert wide_row(card, indicator).baseline == expected, indicator
    declared = card.wide[card.wide.quarter_basis == ""]
    assert declared.baseline.isna().all()  # NO DATA rows have no baseline either


def test_benchmark_is_the_latest_national_year_or_the_seed_value(tables, tmp_path):
    path = tmp_path / "bench.csv"
    path.write_text(
        "indicator,year,numerator,denominator,published_pct,source\n"
        "cpp_at_31mar_2yrs_plus,2024,1270,49900,2.6,x\n"
        "cpp_at_31mar_2yrs_plus,2025,1130,49420,2.3,x\n"
        "cpp_at_31mar_2yrs_plus,2023,1120,50780,2.2,x\n"
    )
    card = build_scorecard(tables, the_set(), DEC, benchmarks=load_benchmarks(path))
    assert (wide_row(card, "T2").benchmark, wide_row(card, "T2").benchmark_source) == (
        2.3,
        "England 2025",
    )
    assert (wide_row(card, "T3").benchmark, wide_row(card, "T3").benchmark_source) == (547, "seed")
    assert math.isnan(wide_row(card, "T1").benchmark)
    assert card.warnings == ()


def test_a_national_benchmark_missing_from_the_file_is_a_warning(tables, tmp_path):
    path = tmp_path / "bench.csv"
    path.write_text("indicator,year,numerator,denominator,published_pct,source\n")
    card = build_scorecard(tables, the_set(), DEC, benchmarks=load_benchmarks(path))
    assert math.isnan(wide_row(card, "T2").benchmark)
    assert card.warnings == (f"T2: national benchmark 'cpp_at_31mar_2yrs_plus' not found ({path})",)


def test_a_malformed_benchmarks_file_is_an_error(tmp_path):
    path = tmp_path / "bench.csv"
    path.write_text("indicator,year,published_pct\nx,2024,not-a-number\n")
    with pytest.raises(scorecard.BenchmarkError, match=r"bench.csv:2"):
        load_benchmarks(path)


def test_the_shared_national_benchmarks_file_reads():
    path = scorecard.default_benchmarks_path()
    assert path is not None  # shipped in docs/reference/
    bench = load_benchmarks(path)
    assert bench.latest["re_referrals_within_12m"].year == max(
        f.year for f in bench.latest.values()
    )


# --- layouts and their contracts ----------------------------------------------------------------


def test_wide_header_is_the_documented_contract(card):
    assert list(card.wide.columns) == WIDE_COLUMNS
    assert WIDE_COLUMNS == [
        "indicator_id",
        "measure",
        "contract",
        "group",
        "unit",
        "polarity",
        "quarter_basis",
        "baseline_period",
        "baseline",
        "q_minus_3",
        "q_minus_2",
        "q_minus_1",
        "q_latest",
        "latest_period",
        "latest",
        "target",
        "tolerance",
        "status",
        "rag",
        "trend_6m",
        "benchmark",
        "benchmark_source",
        "definition_set",
        "definition_hash",
        "note",
        "low_count",
        "variation",
        "assurance",
    ]
    header = render(card, "wide", "csv").splitlines()[0]
    assert header == ",".join(WIDE_COLUMNS)


def test_docs_list_the_wide_columns_in_order():
    text = (REPO / "docs" / "cron.md").read_text()
    section = text.split("### Wide layout", 1)[1].split("Figures are reported", 1)[0]
    documented: list[str] = []
    for line in section.splitlines():
        m = re.match(r"^\| ((?:`[a-z0-9_]+`(?:, )?)+) \|", line)
        if m:
            documented += re.findall(r"`([a-z0-9_]+)`", m.group(1))
    assert documented == WIDE_COLUMNS


def test_rows_follow_the_sets_order_with_the_contract_mark(card):
    assert list(card.wide.indicator_id) == list(ORDER)
    marks = dict(zip(card.wide.indicator_id, card.wide.measure, strict=True))
    assert marks["T1"] == "Assessments in timescale ©"
    assert marks["T2"] == "Children on a plan for 2 years or more"
    assert list(card.wide.contract) == [False, True, False, True, True]


def test_long_layout_has_the_compute_columns_and_every_figure_shown(card):
    long = card.long
    assert list(long.columns) == LONG_COLUMNS == engine.OUTPUT_COLUMNS
    assert list(dict.fromkeys(long.indicator_id)) == list(ORDER)
    flow = long[long.indicator_id == "T1"]
    quarter_rows = flow[flow.definition_hash == card.quarter_hashes["T1"]]
    assert list(quarter_rows.period) == ["2014-12", "2015-03", "2015-06", "2015-09"]
    assert list(quarter_rows.period_start) == [
        "2014-10-01",
        "2015-01-01",
        "2015-04-01",
        "2015-07-01",
    ]
    month_rows = flow[flow.definition_hash == FLOW.content_hash()]
    expected = ["2014-03", *[f"2015-{m:02d}" for m in range(6, 13)]]
    assert list(month_rows.period) == expected
    # at September the quarter row comes first, then the month row
    sept = flow[flow.period == "2015-09"]
    assert list(sept.period_start) == ["2015-07-01", "2015-09-01"]
    # every wide figure is in the long layout
    row = wide_row(card, "T1")
    assert row.latest == month_rows[month_rows.period == "2015-12"].value.iloc[0]
    assert row.q_latest == quarter_rows[quarter_rows.period == "2015-09"].value.iloc[0]


def test_all_periods_are_computed_in_one_engine_call(tables, monkeypatch):
    calls = []
    real = engine.compute

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "compute", counting)
    build_scorecard(tables, the_set(), DEC)
    assert len(calls) == 1


# --- idempotence --------------------------------------------------------------------------------


def test_the_same_extract_gives_byte_identical_csv(tables):
    first = render(build_scorecard(tables, the_set(), DEC), "wide", "csv").encode()
    second = render(build_scorecard(extract(), the_set(), DEC), "wide", "csv").encode()
    assert first == second
    long_a = render(build_scorecard(tables, the_set(), DEC), "long", "csv")
    long_b = render(build_scorecard(extract(), the_set(), DEC), "long", "csv")
    assert long_a == long_b


def test_row_order_of_the_extract_does_not_change_the_csv(tables):
    shuffled = {
        name: frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
        for name, frame in tables.items()
    }
    a = render(build_scorecard(tables, the_set(), DEC), "wide", "csv")
    b = render(build_scorecard(shuffled, the_set(), DEC), "wide", "csv")
    assert a == b


def test_csv_figures_are_written_plainly(card):
    lines = render(card, "wide", "csv").splitlines()
    t1 = next(line for line in lines if line.startswith("T1,"))
    fields = t1.split(",")
    latest = fields[WIDE_COLUMNS.index("latest")]
    assert re.fullmatch(r"\d+", latest)  # a whole percentage: no '.0', no exponent
    pending = next(line for line in lines if line.startswith("T5,")).split(",")
    assert pending[WIDE_COLUMNS.index("latest")] == ""  # NaN is an empty cell


def test_markdown_is_grouped_with_the_quarter_labels(card):
    text = render(card, "wide", "markdown")
    assert text.startswith("# Test — 2015-12\n")
    assert "## Children in need pathway" in text and "## Workforce" in text
    header = next(line for line in text.splitlines() if line.startswith("| Measure"))
    assert "| 2014-15 Q3 | 2014-15 Q4 | 2015-16 Q1 | 2015-16 Q2 | 2015-12 |" in header
    assert "Baseline 2014-03" in header


def test_an_unknown_layout_is_refused(card):
    with pytest.raises(ValueError, match="invalid layout 'tall'"):
        card.frame("tall")
