"""Derived fields and tables kept with a prepared-extract entry (kpi_engine.prepared.DerivedStore).

A run on an extract the cache has seen reads the derived columns an earlier run kept instead of
deriving them again. Every figure of every shipped set must be the same either way, and a kept
derivation that is damaged, of another table or from other derivation code is never used.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import kpi_engine
from kpi_engine import derivations, engine, prepared, run
from kpi_engine import extract as extract_module
from kpi_engine.periods import parse_month

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
MONTHS = list(range(parse_month("2014-04"), parse_month("2016-03") + 1))


def derivations_run(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on, each derivation the engine runs is listed (and still runs)."""
    ran: list[str] = []
    fields, tables = derivations.add_derived_fields, derivations.build_derived_table

    def add_fields(table: str, frame: pd.DataFrame, all_tables: object, names: list[str]):
        ran.extend(f"{table}.{n}" for n in names)
        return fields(table, frame, all_tables, names)  # type: ignore[arg-type]

    def build(name: str, all_tables: object, built: object = None):
        ran.append(name)
        return tables(name, all_tables, built)  # type: ignore[arg-type]

    monkeypatch.setattr(derivations, "add_derived_fields", add_fields)
    monkeypatch.setattr(derivations, "build_derived_table", build)
    return ran


def figures(set_name: str, *, cached: bool) -> pd.DataFrame:
    definitions = kpi_engine.load_definitions(set_name)
    columns = run.columns_needed(definitions.definitions)
    load = prepared.load_extract if cached else extract_module.load_extract
    extract = load(SAMPLE, columns=columns, references=False)
    return engine.compute(extract, definitions, MONTHS)


@pytest.mark.parametrize(
    "set_name", ["contract-2015-16", "contract-2016-17", "corporate-scorecard"]
)
def test_every_figure_is_the_same_from_kept_derivations(set_name, cache, monkeypatch):
    fresh = figures(set_name, cached=False)
    filling = figures(set_name, cached=True)  # a new entry: derives, and keeps what it derived
    ran = derivations_run(monkeypatch)
    again = figures(set_name, cached=True)
    pd.testing.assert_frame_equal(fresh, filling)
    pd.testing.assert_frame_equal(fresh, again)
    assert ran == []  # every derived field and table came from the entry
    (entry,) = [p for p in cache.iterdir() if (p / "entry.json").exists()]
    assert list(entry.glob("derived-*-table.*.arrow")) or set_name == "contract-2015-16"
    assert list(entry.glob("derived-*-field.*.arrow"))


def kept_files(cache: Path) -> list[Path]:
    return sorted(cache.glob("*/derived-*.arrow"))


def test_a_damaged_kept_derivation_is_derived_again(cache, monkeypatch):
    fresh = figures("contract-2016-17", cached=False)
    figures("contract-2016-17", cached=True)
    files = kept_files(cache)
    damaged = files[0]
    damaged.write_bytes(damaged.read_bytes()[:100])  # truncated
    ran = derivations_run(monkeypatch)
    again = figures("contract-2016-17", cached=True)
    pd.testing.assert_frame_equal(fresh, again)
    assert len(ran) == 1  # that one derivation, and only it, was done again
    assert damaged.exists() and len(damaged.read_bytes()) > 100  # and kept again, whole


def test_a_kept_field_of_another_length_is_not_used(cache):
    figures("contract-2016-17", cached=True)
    entry = next(p for p in cache.iterdir() if (p / "entry.json").exists())
    store = prepared.DerivedStore(entry, [])
    field = next(entry.glob("derived-*-field.referrals.previous_referral_date.arrow"))
    key = field.name.split("-", 2)[2].removesuffix(".arrow")
    rows = len(store.get(key))
    assert store.get(key, rows=rows + 1) is None
    assert not field.exists()  # never trusted again


def test_derivations_kept_by_other_code_are_not_read(cache, monkeypatch):
    fresh = figures("contract-2016-17", cached=False)
    figures("contract-2016-17", cached=True)
    before = kept_files(cache)
    monkeypatch.setattr(prepared, "_derivation_code", lambda: "edited0000000000")
    ran = derivations_run(monkeypatch)
    again = figures("contract-2016-17", cached=True)
    pd.testing.assert_frame_equal(fresh, again)
    assert ran  # derived again by the code now running
    after = kept_files(cache)
    assert all("edited0000000000" in p.name for p in after)  # the old ones replaced
    assert len(after) == len(before)


def test_no_derivation_is_kept_without_the_cache(cache, monkeypatch):
    monkeypatch.setenv("KPI_CACHE", "0")
    figures("contract-2016-17", cached=True)
    assert not cache.exists() or not kept_files(cache)


def test_explain_reads_kept_derivations_too(cache, monkeypatch):
    # kpi explain lists the records behind a figure: its second run on an extract reads the
    # previous CP visit kept by the first, and lists the same records
    definitions = kpi_engine.load_definitions("contract-2016-17")
    a4 = definitions.get("A4-2016")
    tables = sorted(run.tables_needed([a4]))
    month = parse_month("2016-03")
    fresh = engine.members(extract_module.load_extract(SAMPLE, tables), a4, month)
    first = engine.members(prepared.load_extract(SAMPLE, tables), a4, month)
    ran = derivations_run(monkeypatch)
    again = engine.members(prepared.load_extract(SAMPLE, tables), a4, month)
    assert ran == []
    pd.testing.assert_frame_equal(fresh, first)
    pd.testing.assert_frame_equal(fresh, again)
