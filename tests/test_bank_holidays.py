"""England's bank holidays kept in the cache folder (kpi_engine.calendar): the package's dates,
read back only when they are exactly what was written, and never with the cache off."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import holidays
import numpy as np
import pandas as pd

from kpi_engine import calendar, prepared


def _package(first: int, last: int) -> np.ndarray:
    found = holidays.country_holidays("GB", subdiv="ENG", years=range(first, last + 1))
    return np.array(sorted(found), dtype="datetime64[D]")


def _kept(cache):
    return sorted((cache / prepared.HOLIDAYS_FOLDER).glob("*.txt"))


def test_the_dates_kept_are_the_packages_and_read_back_the_same(cache):
    first = calendar._holidays(1990, 2060)
    (path,) = _kept(cache)
    assert path.name == f"GB-ENG-1990-2060-holidays-{calendar._package_version()}.txt"
    second = calendar._holidays(1990, 2060)  # from the file
    np.testing.assert_array_equal(first, _package(1990, 2060))
    np.testing.assert_array_equal(second, first)
    # 2016: New Year 1 Jan, Good Friday 25 Mar, Easter Monday 28 Mar, 2 May, 30 May, 29 Aug,
    # Christmas on a Sunday (the package lists the day and the Tuesday it is observed on)
    in_2016 = [str(d) for d in second if str(d).startswith("2016")]
    assert in_2016 == [
        "2016-01-01", "2016-03-25", "2016-03-28", "2016-05-02", "2016-05-30", "2016-08-29",
        "2016-12-25", "2016-12-26", "2016-12-27",
    ]  # fmt: skip


def test_a_cache_folder_made_for_them_is_private(cache):
    calendar._holidays(2014, 2016)
    for folder in (cache, cache / prepared.HOLIDAYS_FOLDER):
        assert folder.stat().st_mode & 0o077 == 0, oct(folder.stat().st_mode)


def test_a_later_process_counts_working_days_without_loading_the_package(cache):
    script = (
        "import sys, pandas as pd\n"
        "from kpi_engine.calendar import working_days_between\n"
        "n = working_days_between(pd.Series(pd.to_datetime(['2016-03-24'])),"
        " pd.Series(pd.to_datetime(['2016-03-29'])))\n"
        "print(int(n.iloc[0]), 'holidays' in sys.modules)\n"
    )
    env = {**os.environ, "KPI_CACHE_DIR": str(cache)}
    runs = [
        subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
        for _ in range(2)
    ]
    # Thursday 24 March 2016 to Tuesday 29th: Good Friday and Easter Monday are not counted
    assert [r.stdout.split() for r in runs] == [["1", "True"], ["1", "False"]], runs


def test_a_damaged_or_edited_file_is_computed_again_and_rewritten(cache):
    truth = calendar._holidays(2014, 2016)
    (path,) = _kept(cache)
    text = path.read_text()
    edits = [
        text.replace("2016-12-27", "2016-12-28"),  # a date changed, the hash not
        text[: len(text) // 2],  # cut short
        text.replace("# sha256 ", "# sha256 0"),  # the hash damaged
        "",  # emptied
        "\x00\xff garbage",
    ]
    for edited in edits:
        path.write_text(edited, encoding="latin-1")
        np.testing.assert_array_equal(calendar._holidays(2014, 2016), truth)
        assert path.read_text() == text  # written again, whole


def test_dates_outside_the_years_or_out_of_order_are_not_trusted(cache):
    truth = calendar._holidays(2014, 2016)
    (path,) = _kept(cache)
    for days in (truth[::-1], np.concatenate([truth, [np.datetime64("2017-01-02")]])):
        path.write_text(calendar._kept_text(days))  # a well-formed file of wrong dates
        np.testing.assert_array_equal(calendar._holidays(2014, 2016), truth)


def test_with_the_cache_off_nothing_is_read_or_written(cache, monkeypatch):
    monkeypatch.setenv("KPI_CACHE", "0")
    days = calendar._holidays(2014, 2016)
    np.testing.assert_array_equal(days, _package(2014, 2016))
    assert not cache.exists()


def test_a_cache_folder_that_cannot_be_written_still_gives_the_dates(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("KPI_CACHE_DIR", str(blocker))
    np.testing.assert_array_equal(calendar._holidays(2014, 2016), _package(2014, 2016))


def test_pruning_the_cache_leaves_the_bank_holidays(cache):
    calendar._holidays(2014, 2016)
    folder = cache / prepared.HOLIDAYS_FOLDER
    old = time.time() - 10 * 24 * 3600
    os.utime(folder, (old, old))  # as old as a run that died long ago would leave
    prepared._prune(cache)
    assert len(_kept(cache)) == 1


def test_bank_holidays_are_timestamps_in_order(cache):
    found = calendar.bank_holidays(2015, 2015)
    assert found[0] == pd.Timestamp("2015-01-01") and found[-1] == pd.Timestamp("2015-12-28")
    # Boxing Day 2015 was a Saturday: the 26th and the Monday it was observed on, the 28th
    assert found == sorted(found) and len(found) == 9
