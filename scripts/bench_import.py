"""Import benchmark: ``make bench-import`` (and part of ``make bench``).

Generates one synthetic national-scale SSDA903 year (about 100,000 looked-after children, as
England has) with numpy, in both forms (a CSV folder and the XML file), into a temporary
folder; then times ``kpi import ssda903`` on each as a user runs it (a fresh process, so
interpreter start counts) and reads its peak memory from the kernel (ru_maxrss of the child).

The children in need census of the same year at national scale (about 650,000 referrals) is
the sample authority's 2015-16 census (written by kpi_engine.importers.returns_writer) repeated
with each copy's children renamed, so its shape is a real authority's; it is timed alone and
then into the 903's extract (``--into``), which is a whole national year imported.

Target (issue 10, on a 2-core machine): each form, and the whole year, in under 60 s and
under 2 GB.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
KPI = [sys.executable, "-m", "kpi_engine"]
YEAR_START, YEAR_END = np.datetime64("2015-04-01"), np.datetime64("2016-03-31")
TARGET_SECONDS, TARGET_GB = 60.0, 2.0


def measured(args: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak memory (GB) of ``args`` run as a child.

    os.wait4 gives the child's own usage. CPU time is printed beside wall time because the
    machine may be shared: wall time is the target, CPU time says what the import itself cost.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    errors = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"bench-import: {' '.join(args)} failed ({code}):\n{errors[-2000:].decode()}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024 / 1024  # KiB


def _dates(values: np.ndarray) -> np.ndarray:
    text = pd.Series(values).dt.strftime("%d/%m/%Y").fillna("")
    return text.to_numpy(dtype=object)


def generate(children: int, seed: int) -> dict[str, pd.DataFrame]:
    """One 903 year's tables (return field names, text values), built whole-column."""
    rng = np.random.default_rng(seed)
    ids = np.char.add("C", np.arange(children).astype(str)).astype(object)
    born = np.datetime64("2000-01-01") + rng.integers(0, 5800, children).astype("timedelta64[D]")
    header = pd.DataFrame(
        {
            "CHILD": ids,
            "SEX": rng.integers(1, 3, children).astype(str),
            "DOB": _dates(born),
            "ETHNIC": rng.choice(["WBRI", "WIRI", "MWBC", "BAFR", "AIND"], children),
            "UPN": "",
            "MOTHER": "",
            "MC_DOB": "",
        }
    )
    # episodes: each child 1-5 contiguous ones from a start between 2012 and 2015
    counts = rng.integers(1, 6, children)
    child = np.repeat(np.arange(children), counts)
    first = np.r_[0, np.cumsum(counts)[:-1]]
    number = np.arange(len(child)) - np.repeat(first, counts)
    began = np.datetime64("2012-01-01") + rng.integers(0, 1400, children).astype("timedelta64[D]")
    length = rng.integers(20, 500, len(child))
    before = np.cumsum(length) - length  # days of all earlier episodes, across children
    offset = before - before[first][child]  # ... of the child's own earlier episodes
    start = began[child] + offset.astype("timedelta64[D]")
    end = start + length.astype("timedelta64[D]")
    last = number == counts[child] - 1
    end[last & (rng.random(len(child)) < 0.6)] = np.datetime64("NaT")
    end[end > YEAR_END] = np.datetime64("NaT")
    keep = (start <= YEAR_END) & (np.isnat(end) | (end >= YEAR_START))
    closed = ~np.isnat(end)
    episodes = pd.DataFrame(
        {
            "CHILD": ids[child],
            "DECOM": _dates(start),
            "RNE": np.where(number == 0, "S", "P"),
            "LS": rng.choice(["C2", "C1", "E1", "J2"], len(child), p=[0.7, 0.2, 0.05, 0.05]),
            "CIN": "N1",
            "PLACE": rng.choice(["U1", "U3", "U4", "U5", "U6", "K2", "R1", "P1"], len(child)),
            "PLACE_PROVIDER": rng.choice(["PR1", "PR2", "PR3", "PR4"], len(child)),
            "DEC": _dates(end),
            "REC": np.where(closed, np.where(last, "E13", "X1"), ""),
            "REASON_PLACE_CHANGE": "",
            "HOME_POST": "",
            "PL_POST": "",
            "URN": "",
        }
    )[keep]
    # two reviews a child in the year, one a half-year apart, and a missing episode for 10%
    spring = YEAR_START + rng.integers(0, 180, children).astype("timedelta64[D]")
    autumn = spring + rng.integers(150, 182, children).astype("timedelta64[D]")
    reviews = pd.DataFrame(
        {
            "CHILD": np.r_[ids, ids],
            "DOB": np.r_[_dates(born), _dates(born)],
            "REVIEW": np.r_[_dates(spring), _dates(autumn)],
            "REVIEW_CODE": rng.choice(["PN1", "PN2", "PN4", "PN7", "PN0"], 2 * children),
        }
    )
    gone = rng.random(children) < 0.1
    went = spring[gone] + rng.integers(1, 100, gone.sum()).astype("timedelta64[D]")
    missing = pd.DataFrame(
        {
            "CHILD": ids[gone],
            "DOB": _dates(born[gone]),
            "MISSING": "M",
            "MIS_START": _dates(went),
            "MIS_END": _dates(went + rng.integers(0, 5, gone.sum()).astype("timedelta64[D]")),
        }
    )
    return {"header": header, "episodes": episodes, "reviews": reviews, "missing": missing}


def write_csv(tables: dict[str, pd.DataFrame], folder: Path) -> None:
    folder.mkdir()
    for name, frame in tables.items():
        frame.to_csv(folder / f"903_{name}_2016.csv", index=False)


def write_xml(tables: dict[str, pd.DataFrame], path: Path) -> None:
    """The XML form: one CHILD element per child (text built per child: the generator's cost)."""

    def elements(frame: pd.DataFrame, tag: str, rename: dict[str, str]) -> pd.Series:
        fields = [c for c in frame.columns if c not in ("CHILD", "DOB")]
        text = pd.Series(f"<{tag}>", index=frame.index)
        for field in fields:
            name = rename.get(field, field)
            text = text + f"<{name}>" + frame[field].astype(str) + f"</{name}>"
        text = text + f"</{tag}>"
        return text.groupby(frame["CHILD"].to_numpy()).sum()

    header = tables["header"]
    reviews = elements(tables["reviews"], "AREVIEW", {})
    episodes = elements(tables["episodes"], "EPISODE", {"PLACE": "PL"})
    missing = elements(tables["missing"], "MISSING", {})
    head = (
        "<HEADER><CHILDID>" + header["CHILD"] + "</CHILDID><SEX>" + header["SEX"]
        + "</SEX><DOB>" + header["DOB"] + "</DOB><ETHNIC>" + header["ETHNIC"]
        + "</ETHNIC><UPN />" + header["CHILD"].map(reviews).fillna("") + "</HEADER>"
    )  # fmt: skip
    body = (
        "<CHILD>" + head + header["CHILD"].map(episodes).fillna("")
        + header["CHILD"].map(missing).fillna("") + "</CHILD>\n"
    )  # fmt: skip
    with path.open("w", encoding="utf-8") as stream:
        stream.write('<?xml version="1.0" encoding="UTF-8"?>\n<EXPSSDA903>\n')
        stream.writelines(body.tolist())
        stream.write("</EXPSSDA903>\n")


CENSUS_COPIES = 95
"""Copies of the sample's census: 95 x about 6,900 referrals is England's 650,000 a year."""


def write_census(path: Path, copies: int) -> int:
    """A national-scale census: the sample's 2015-16 census, its children repeated ``copies``
    times under new ids (``R7-C0000123``). Returns the referrals written."""
    from kpi_engine.importers.returns_writer import write_returns

    returns = path.parent / "sample-returns"
    write_returns(ROOT / "sample_data", returns, [2016])
    text = (returns / "cin-census-2016.xml").read_text(encoding="utf-8")
    start, end = text.index("<Children>") + len("<Children>"), text.index("</Children>")
    children = text[start:end]
    with path.open("w", encoding="utf-8") as out:
        out.write(text[:start])
        for copy in range(copies):
            out.write(children.replace("<LAchildID>", f"<LAchildID>R{copy}-"))
        out.write(text[end:])
    return children.count("<CINreferralDate>") * copies


def report(label: str, figures: tuple[float, float, float]) -> bool:
    wall, cpu, peak = figures
    fits = wall <= TARGET_SECONDS and peak <= TARGET_GB
    print(
        f"{label}: {wall:.1f} s (CPU {cpu:.1f} s; target < {TARGET_SECONDS:.0f} s), "
        f"peak {peak:.2f} GB (target < {TARGET_GB:.0f} GB): {'ok' if fits else 'MISSED'}"
    )
    return fits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=100_000, help="looked-after children")
    parser.add_argument("--seed", type=int, default=903)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kpi-bench-import-") as temp:
        folder = Path(temp)
        began = time.perf_counter()
        tables = generate(options.children, options.seed)
        write_csv(tables, folder / "csv")
        write_xml(tables, folder / "903_2016.xml")
        rows = {name: len(frame) for name, frame in tables.items()}
        print(
            f"generated {options.children:,} children: "
            + ", ".join(f"{n:,} {name}" for name, n in rows.items())
            + f" ({time.perf_counter() - began:.1f} s)"
        )
        ok = True
        for form, source in (("CSV folder", folder / "csv"), ("XML file", folder / "903_2016.xml")):
            out = folder / f"extract-{source.stem}"
            ok &= report(
                f"kpi import ssda903, {form}",
                measured(
                    [*KPI, "import", "ssda903", str(source), "--year", "2016", "--output", str(out)]
                ),
            )
        census = folder / "cin-census-2016.xml"
        referrals = write_census(census, CENSUS_COPIES)
        print(f"census: {referrals:,} referrals ({census.stat().st_size / 1e6:.0f} MB)")
        alone = measured([*KPI, "import", "cin-census", str(census), "--output", str(folder / "c")])
        ok &= report("kpi import cin-census", alone)
        into = measured(
            [*KPI, "import", "cin-census", str(census), "--into", str(folder / "extract-csv")]
        )
        ok &= report("kpi import cin-census --into the 903's extract", into)
        csv_wall = measured(
            [*KPI, "import", "ssda903", str(folder / "csv"), "--year", "2016",
             "--output", str(folder / "again")]
        )  # fmt: skip
        year = (csv_wall[0] + into[0], csv_wall[1] + into[1], max(csv_wall[2], into[2]))
        ok &= report("a national year: 903 (CSV) then the census into it", year)
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
