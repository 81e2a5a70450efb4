"""The prepared-extract cache (kpi_engine.prepared): reused only while the extract is unchanged.

Each test loads a small hand-made extract twice. "Reused" is proved by making the real loader
fail on the second load; "rebuilt" by the second load seeing the change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from kpi_engine import contract, keys, prepared
from kpi_engine import extract as extract_module
from kpi_engine.cli import cli
from kpi_engine.extract import ExtractError

CHILDREN = "child_id,date_of_birth,sex,ethnicity,disabled\nc1,2010-01-01,F,,\nc2,2011-01-01,M,,\n"
PLANS = "cp_plan_id,child_id,start_date,end_date,category\np1,c2,2015-01-05,,neglect\n"
REFERRALS = (
    "referral_id,child_id,referral_date,source,outcome,closure_date\n"
    "r1,c2,2015-01-01,police,assessment,\nr2,c1,2015-03-01,police,nfa,2015-03-02\n"
)
TABLES = ["children", "cp_plans", "referrals"]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    where = tmp_path / "extract"
    where.mkdir()
    (where / "children.csv").write_text(CHILDREN, encoding="utf-8")
    (where / "cp_plans.csv").write_text(PLANS, encoding="utf-8")
    (where / "referrals.csv").write_text(REFERRALS, encoding="utf-8")
    (where / "manifest.yaml").write_text("authority: Testshire\n", encoding="utf-8")
    return where


def entries(cache: Path) -> list[Path]:
    return [p for p in cache.iterdir() if (p / "entry.json").exists()] if cache.exists() else []


def no_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on, reading the extract's files fails: only the cache can answer."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the extract was read again")

    monkeypatch.setattr(extract_module, "load_extract", refuse)


def assert_same(a: extract_module.Extract, b: extract_module.Extract) -> None:
    assert list(a.tables) == list(b.tables)
    for name in a.tables:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name])
        assert list(a.tables[name].dtypes) == list(b.tables[name].dtypes)
    assert a.problems == b.problems
    assert a.manifest == b.manifest
    assert a.path == b.path
    # kept with the entry, column by column, rather than found again by scanning each date
    assert a.latest_date == b.latest_date
    assert a.latest_dates == b.latest_dates


def test_a_second_load_reuses_the_prepared_copy_exactly(folder, cache, monkeypatch):
    fresh = extract_module.load_extract(folder, TABLES)
    first = prepared.load_extract(folder, TABLES)
    assert len(entries(cache)) == 1
    no_loading(monkeypatch)
    again = prepared.load_extract(folder, TABLES)
    assert_same(fresh, first)
    assert_same(fresh, again)
    # the ids stay coded over one shared list across tables (kpi_engine.keys)
    ids = [again.tables[t]["child_id"] for t in TABLES]
    assert keys.shared_categories(*ids) is not None
    assert list(keys.codes(*ids)[1]) == list(keys.codes(*ids)[0][[1]])  # p1 is c2


def test_a_run_needing_fewer_columns_reuses_an_entry_holding_more(folder, cache, monkeypatch):
    prepared.load_extract(folder, TABLES, references=False)
    wanted = {"cp_plans": {"cp_plan_id", "child_id", "start_date"}, "children": {"child_id"}}
    fresh = extract_module.load_extract(folder, columns=wanted, references=False)
    no_loading(monkeypatch)
    subset = prepared.load_extract(folder, columns=wanted, references=False)
    assert_same(fresh, subset)
    assert subset.latest_date is not None  # from the columns read: start dates, not end dates
    assert list(subset.tables) == ["cp_plans", "children"]


def test_a_run_needing_more_columns_loads_them(folder, cache):
    prepared.load_extract(folder, columns={"cp_plans": {"cp_plan_id"}}, references=False)
    wider = prepared.load_extract(folder, columns={"cp_plans": {"cp_plan_id", "category"}})
    assert list(wider.tables["cp_plans"].columns) == ["cp_plan_id", "category"]
    assert len(entries(cache)) == 2


def test_an_edit_in_place_with_the_time_restored_is_caught_by_the_hash(folder, cache):
    prepared.load_extract(folder, TABLES)
    path = folder / "cp_plans.csv"
    before = path.stat()
    path.write_text(PLANS.replace("p1,c2", "p1,c1"), encoding="utf-8")  # same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    assert path.stat().st_mtime_ns == before.st_mtime_ns
    plans = prepared.load_extract(folder, TABLES).tables["cp_plans"]
    assert plans["child_id"].tolist() == ["c1"]


def test_a_file_only_touched_reuses_the_entry_as_its_content_is_the_same(
    folder, cache, monkeypatch
):
    first = prepared.load_extract(folder, TABLES)
    path = folder / "cp_plans.csv"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    no_loading(monkeypatch)
    assert_same(first, prepared.load_extract(folder, TABLES))


def test_a_replaced_file_is_read_again(folder, cache):
    prepared.load_extract(folder, TABLES)
    new = folder / "cp_plans.new"
    new.write_text(PLANS + "p2,c1,2015-02-01,,neglect\n", encoding="utf-8")
    new.replace(folder / "cp_plans.csv")
    assert len(prepared.load_extract(folder, TABLES).tables["cp_plans"]) == 2


def test_an_added_column_is_read_again_and_warned_about(folder, cache):
    prepared.load_extract(folder, TABLES)
    text = PLANS.replace("category\n", "category,notes\n").replace("neglect\n", "neglect,x\n")
    (folder / "cp_plans.csv").write_text(text, encoding="utf-8")
    again = prepared.load_extract(folder, TABLES)
    assert [p.field for p in again.problems] == ["notes"]
    assert again.problems == extract_module.load_extract(folder, TABLES).problems


def test_a_changed_manifest_is_read_again(folder, cache):
    prepared.load_extract(folder, TABLES)
    (folder / "manifest.yaml").write_text("authority: Otherton\n", encoding="utf-8")
    assert prepared.load_extract(folder, TABLES).manifest.authority == "Otherton"


def test_a_table_file_added_or_removed_is_noticed(folder, cache):
    wanted = [*TABLES, "cla_episodes"]
    assert "cla_episodes" not in prepared.load_extract(folder, wanted).tables
    episodes = ",".join(contract.TABLES["cla_episodes"].column_names) + "\n"
    (folder / "cla_episodes.csv").write_text(episodes, encoding="utf-8")
    assert "cla_episodes" in prepared.load_extract(folder, wanted).tables
    (folder / "cla_episodes.csv").unlink()
    assert "cla_episodes" not in prepared.load_extract(folder, wanted).tables


def test_a_parquet_file_beside_the_csv_is_noticed(folder, cache):
    prepared.load_extract(folder, TABLES)
    plans = pd.DataFrame({"cp_plan_id": ["p9"], "child_id": ["c1"], "category": ["neglect"]})
    plans["start_date"] = pd.Timestamp("2015-01-01")
    plans["end_date"] = pd.NaT
    plans.to_parquet(folder / "cp_plans.parquet")
    again = prepared.load_extract(folder, TABLES)
    assert again.tables["cp_plans"]["cp_plan_id"].tolist() == ["p9"]
    assert "both cp_plans.csv and cp_plans.parquet exist" in again.problems[0].message


@pytest.mark.parametrize("change", ["version", "loader code"])
def test_another_kpi_version_or_edited_loader_code_rebuilds(folder, cache, monkeypatch, change):
    prepared.load_extract(folder, TABLES)
    if change == "version":
        monkeypatch.setattr(prepared, "__version__", "99.0")
    else:
        monkeypatch.setattr(prepared, "_loader_code", lambda: "edited")
    prepared.load_extract(folder, TABLES)
    assert len(entries(cache)) == 2


def damage_table(entry: Path) -> None:
    path = entry / "cp_plans.arrow"
    path.write_bytes(path.read_bytes()[:-40])


def damage_meta(entry: Path) -> None:
    (entry / "entry.json").write_text('{"format": 1, "requ', encoding="utf-8")


def lose_a_file(entry: Path) -> None:
    (entry / "categories-0.arrow").unlink()


def wrong_shape(entry: Path) -> None:
    meta = json.loads((entry / "entry.json").read_text(encoding="utf-8"))
    meta["tables"]["cp_plans"]["rows"] = 5
    (entry / "entry.json").write_text(json.dumps(meta), encoding="utf-8")


def malformed_meta(entry: Path) -> None:
    meta = json.loads((entry / "entry.json").read_text(encoding="utf-8"))
    meta["request"], meta["tables"] = 5, []
    (entry / "entry.json").write_text(json.dumps(meta), encoding="utf-8")


def parquet_in_pieces(folder: Path) -> None:
    """Referrals as Parquet of one row a row group: its text columns are read in pieces."""
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    table = pa_csv.read_csv(folder / "referrals.csv")
    (folder / "referrals.csv").unlink()
    pq.write_table(table, folder / "referrals.parquet", row_group_size=1)


def test_text_in_pieces_is_kept_in_those_pieces_and_read_back_exactly(folder, cache, monkeypatch):
    parquet_in_pieces(folder)
    fresh = extract_module.load_extract(folder, TABLES)
    prepared.load_extract(folder, TABLES)
    (entry,) = entries(cache)
    # the uncoded text (referral_id: no assessments name it here; source, outcome) each in
    # a file of its own, never joined; the coded ids and the dates in referrals.arrow
    assert sorted(p.name for p in entry.glob("referrals.*.arrow")) == [
        "referrals.0.arrow",
        "referrals.3.arrow",
        "referrals.4.arrow",
    ]
    no_loading(monkeypatch)
    again = prepared.load_extract(folder, TABLES)
    assert_same(fresh, again)
    assert again.tables["referrals"]["outcome"].array.__arrow_array__().num_chunks == 2


def lose_a_piece(entry: Path) -> None:
    (entry / "referrals.4.arrow").unlink()


def shorten_a_piece(entry: Path) -> None:
    """A piece file of another length than the table's other columns."""
    import pyarrow as pa

    path = entry / "referrals.4.arrow"
    with pa.memory_map(str(path)) as source:
        column = pa.ipc.open_file(source).read_all().slice(0, 1)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, column.schema) as writer:
        writer.write_table(column)


def truncate_a_piece(entry: Path) -> None:
    path = entry / "referrals.3.arrow"
    path.write_bytes(path.read_bytes()[:-40])


@pytest.mark.parametrize(
    "damage",
    [
        damage_table,
        damage_meta,
        lose_a_file,
        wrong_shape,
        malformed_meta,
        # a text column kept in pieces (files of its own)
        lose_a_piece,
        shorten_a_piece,
        truncate_a_piece,
    ],
)
def test_a_damaged_entry_is_never_trusted_and_is_rebuilt(folder, cache, damage):
    pieces = "piece" in damage.__name__
    if pieces:
        parquet_in_pieces(folder)
    fresh = extract_module.load_extract(folder, TABLES)
    prepared.load_extract(folder, TABLES)
    (entry,) = entries(cache)
    damage(entry)
    assert_same(fresh, prepared.load_extract(folder, TABLES))
    (rebuilt,) = entries(cache)
    assert (rebuilt / ("referrals.4.arrow" if pieces else "cp_plans.arrow")).exists()


def test_a_half_written_entry_is_not_an_entry(folder, cache):
    prepared.load_extract(folder, TABLES)
    (entry,) = entries(cache)
    half = cache / ".tmp-interrupted"
    entry.rename(half)
    (half / "entry.json").unlink()  # the writer died before its last file and its rename
    assert len(prepared.load_extract(folder, TABLES).tables) == 3
    assert len(entries(cache)) == 1


def test_an_extract_with_errors_is_not_kept(folder, cache):
    (folder / "cp_plans.csv").write_text(PLANS.replace("2015-01-05", "soon"), encoding="utf-8")
    for _ in range(2):
        with pytest.raises(ExtractError):
            prepared.load_extract(folder, TABLES)
    assert entries(cache) == []


def test_warnings_name_the_folder_as_this_run_gives_it(folder, cache, monkeypatch):
    text = PLANS.replace("category\n", "category,x\n").replace("neglect\n", "neglect,1\n")
    (folder / "cp_plans.csv").write_text(text, encoding="utf-8")
    prepared.load_extract(folder, TABLES)
    (folder.parent / "elsewhere").mkdir()
    other = folder.parent / "elsewhere" / ".." / "extract"
    no_loading(monkeypatch)
    again = prepared.load_extract(other, TABLES)
    assert again.problems[0].file == str(other / "cp_plans.csv")
    assert again.path == other


@pytest.mark.parametrize("how", ["environment", "caching"])
def test_the_cache_can_be_turned_off(folder, cache, monkeypatch, how):
    if how == "environment":
        monkeypatch.setenv("KPI_CACHE", "0")
        prepared.load_extract(folder, TABLES)
    else:
        with prepared.caching(False):
            prepared.load_extract(folder, TABLES)
    assert entries(cache) == []


def test_only_the_most_recently_used_entries_are_kept(folder, cache, monkeypatch):
    monkeypatch.setenv("KPI_CACHE_ENTRIES", "2")
    for table in TABLES:
        prepared.load_extract(folder, [table])
    assert len(entries(cache)) == 2
    no_loading(monkeypatch)
    prepared.load_extract(folder, ["referrals"])  # the newest survived


def test_where_the_cache_lives(monkeypatch, tmp_path):
    monkeypatch.delenv("KPI_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert prepared.cache_dir() == tmp_path / "kpi-engine"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert prepared.cache_dir() == Path.home() / ".cache" / "kpi-engine"
    monkeypatch.setenv("KPI_CACHE_DIR", str(tmp_path / "mine"))
    assert prepared.cache_dir() == tmp_path / "mine"


def test_kpi_compute_no_cache_keeps_nothing(cache):
    runner = CliRunner()
    result = runner.invoke(cli, ["compute", "--indicators", "A1", "--format", "csv", "--no-cache"])
    assert result.exit_code == 0, result.output
    assert entries(cache) == []
    cached = runner.invoke(cli, ["compute", "--indicators", "A1", "--format", "csv"])
    assert cached.exit_code == 0, cached.output
    assert len(entries(cache)) == 1
    assert cached.stdout == result.stdout
