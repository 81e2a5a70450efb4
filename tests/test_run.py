"""A run loads only the columns its definitions read, and gets the figures a full load gets."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import kpi_engine
from kpi_engine import contract, derivations, derived, engine, run
from kpi_engine.extract import Extract, load_extract
from kpi_engine.periods import month_range
from kpi_engine.report import compute_assessed

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
SETS = ["contract-2015-16", "contract-2016-17", "corporate-scorecard"]


@pytest.fixture(scope="module")
def full() -> Extract:
    return load_extract(SAMPLE)


def _plain(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The tables with people ids as plain text: the path a hand-built frame takes."""
    out = {}
    for name, frame in tables.items():
        frame = frame.copy()
        for column in contract.SHARED_KEYS:
            if column in frame:
                frame[column] = frame[column].astype("str")
        out[name] = frame
    return out


def _values(series: pd.Series) -> list[object]:
    return [None if pd.isna(v) else v for v in series.astype(object)]


def _rows(frame: pd.DataFrame) -> list[tuple[str, ...]]:
    """The rows as text, in sorted order (spells come in the order of their id codes)."""
    columns = [[str(v) for v in _values(frame[c])] for c in frame.columns]
    return sorted(zip(*columns, strict=True))


@pytest.mark.parametrize("field", derived.DERIVED_FIELDS, ids=lambda f: f"{f.table}.{f.name}")
def test_each_derived_field_computes_from_the_columns_it_declares(full, field):
    columns = run.with_keys(derived.columns_read(field.table, {field.name}))
    columns.setdefault(field.table, set())
    pruned = load_extract(SAMPLE, columns=columns).tables
    got = derivations.add_derived_fields(field.table, pruned[field.table], pruned, [field.name])[
        field.name
    ]
    expected = derivations.add_derived_fields(
        field.table, full.tables[field.table], full.tables, [field.name]
    )[field.name]
    assert _values(got) == _values(expected)
    assert got.notna().any(), "the sample extract should exercise the field"
    plain = _plain(full.tables)
    by_text = derivations.add_derived_fields(field.table, plain[field.table], plain, [field.name])
    assert _values(by_text[field.name]) == _values(expected)


@pytest.mark.parametrize("name", sorted(derived.DERIVED_TABLES))
def test_each_derived_table_builds_from_the_columns_it_declares(full, name):
    columns = run.with_keys(derived.columns_read(name, set()))
    pruned = load_extract(SAMPLE, columns=columns).tables
    got = derivations.build_derived_table(name, pruned)
    expected = derivations.build_derived_table(name, full.tables)
    assert len(expected) > 0, "the sample extract should exercise the table"
    # the id lists behind the codes depend on the tables loaded; the rows themselves may not
    assert _rows(got) == _rows(expected)
    assert _rows(derivations.build_derived_table(name, _plain(full.tables))) == _rows(expected)


@pytest.mark.parametrize("set_name", SETS)
def test_a_run_gets_the_figures_of_a_full_load(full, set_name):
    definition_set = kpi_engine.load_definitions(set_name)
    result = run.compute_run(SAMPLE, definition_set, first="2015-04", last="2016-03")
    # the run computes the SPC history months too (report.assess): the same figures and icons
    expected = compute_assessed(
        full,
        definition_set,
        month_range("2015-04", "2016-03"),
        definition_set=definition_set.name,
    )
    pd.testing.assert_frame_equal(result.results, expected)
    plain = engine.compute(full, definition_set, month_range("2015-04", "2016-03"))
    figures = [c for c in engine.OUTPUT_COLUMNS if c not in ("variation", "assurance")]
    pd.testing.assert_frame_equal(result.results[figures], plain[figures])
    loaded = {t: set(f.columns) for t, f in result.extract.tables.items()}
    assert loaded == run.columns_needed(list(definition_set.definitions))
    assert loaded["children"] < set(contract.TABLES["children"].column_names)


def test_computing_on_several_threads_gives_the_figures_of_one(full, monkeypatch):
    definition_set = kpi_engine.load_definitions("corporate-scorecard")
    months = month_range("2015-01", "2016-03")
    monkeypatch.setenv("KPI_THREADS", "1")
    alone = engine.compute(full, definition_set, months)
    monkeypatch.setenv("KPI_THREADS", "3")
    together = engine.compute(full, definition_set, months)
    pd.testing.assert_frame_equal(alone, together)


def test_a_run_asks_for_partial_windows_and_reads_the_extract_date_from_the_manifest():
    corporate = kpi_engine.load_definitions("corporate-scorecard")
    year_2 = kpi_engine.load_definitions("contract-2016-17")
    # YOS-REOFFEND looks back over the cohort of the year before; the sample's youth offending
    # cohort starts in April 2009, so the window to June 2010 (from July 2008) reaches back
    # before it
    strict = run.compute_run(SAMPLE, year_2, indicators=["YOS-REOFFEND"], period="2010-06")
    note = strict.results.iloc[0]["note"]
    assert note.startswith(
        "its 12-month window from 2008-07 starts before the first record in yos_cohort (2009-04)"
    )
    partial = run.compute_run(
        SAMPLE, year_2, indicators=["YOS-REOFFEND"], period="2010-06", partial_windows=True
    )
    assert partial.results.iloc[0]["status"] != "NO DATA"
    # the manifest says 2016-04-01: April 2016 is incomplete
    late = run.compute_run(SAMPLE, corporate, indicators=["A1"], period="2016-04")
    assert late.results.iloc[0]["note"] == (
        "period 2016-04 ends after the extract date 2016-04-01 (incomplete)"
    )
