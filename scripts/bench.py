"""Speed and memory benchmark: ``make bench``.

Generates the national-scale extract once (``--scale 150``, five years) into bench_data/, then
times ``kpi compute`` as a user runs it (a fresh process each time, so interpreter start and
loading count) and reads each run's peak memory from the kernel (ru_maxrss of the child).

Targets (issue 4, on a 2-core, 24 GB machine):
- 60 monthly periods of the 2016-17 set on the national extract: <= 20 s and <= 4 GB peak;
- 60 periods <= 2x the time of one period;
- the sample data's single-month ``kpi compute``: <= 2 s including interpreter start.

Against a real peer (issue 15), measured in the same run: the five indicators A1, A5, A6, B10
and C14 as DuckDB SQL (scripts/duckdb_baseline.py) over the same Parquet files, for 60 months
and for one month, beside ``kpi`` computing the same five, and the floor: reading those tables'
Parquet files and nothing else. The two engines' figures are compared month by month; every
difference must be one ``duckdb_baseline.KNOWN_DIFFERENCES`` explains.

Cold and warm (issue 15): a cold run is the first on a new extract (an empty prepared-extract
cache in a temporary folder, which the run fills: its cost is counted); a warm run is the same
command again on the unchanged extract (kpi_engine.prepared). The user's own cache is never
touched.

It prints each figure beside its target; ``--record`` also writes docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import duckdb_baseline  # noqa: E402

KPI = [sys.executable, "-m", "kpi_engine"]
BENCH_DATA = ROOT / "bench_data"
GENERATE = ["--scale", "150", "--seed", "7", "--start", "2011-04", "--end", "2016-03"]


def run(args: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak resident memory (GB) of one child process.

    os.wait4 returns that child's own resource usage, so a large earlier run (the generator)
    does not leak into a later figure as it would with RUSAGE_CHILDREN.
    """
    # the kernel's write-back of files earlier runs wrote (cache entries, a gigabyte or more)
    # would otherwise land in whichever run comes next
    os.sync()
    start = time.perf_counter()
    proc = subprocess.Popen(
        args,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert proc.stderr is not None
    errors = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"bench: {' '.join(args)} failed ({proc.returncode}):\n{errors[-2000:]}")
    return wall, usage.ru_maxrss / 1024 / 1024  # Linux reports KiB


def best_of(args: list[str], repeat: int, env: dict[str, str] | None = None) -> tuple[float, float]:
    runs = [run(args, env) for _ in range(repeat)]
    return min(r[0] for r in runs), max(r[1] for r in runs)


def cold(args: list[str], repeat: int) -> tuple[float, float]:
    """Each run the first on a new extract: an empty prepared-extract cache (which it fills)."""
    runs = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="kpi-bench-cache-") as cache:
            runs.append(run(args, {"KPI_CACHE_DIR": cache}))
    return min(r[0] for r in runs), max(r[1] for r in runs)


def warm(args: list[str], repeat: int) -> tuple[float, float]:
    """The same run again on the unchanged extract: the cache filled by one run first."""
    with tempfile.TemporaryDirectory(prefix="kpi-bench-cache-") as cache:
        run(args, {"KPI_CACHE_DIR": cache})
        return best_of(args, repeat, {"KPI_CACHE_DIR": cache})


def fig(wall: float, memory: float) -> str:
    return f"{wall:.1f} s, {memory:.2f} GB"


def compile_bytecode() -> None:
    """Compile the package's bytecode first, as an installed kpi has it: with
    PYTHONDONTWRITEBYTECODE set (as on the project's machines) a source checkout would
    otherwise compile every module again in every run timed."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "src")], check=True)


FIVE = ",".join(duckdb_baseline.INDICATORS)
FIRST, LAST = "2011-04", "2016-03"


def parquet_floor_command() -> list[str]:
    """A process that reads the five indicators' tables (the columns they use) and stops."""
    code = (
        "import sys, pyarrow.parquet as pq\n"
        "for t in sys.argv[2:]: pq.read_table(f'{sys.argv[1]}/{t}.parquet')\n"
    )
    return [sys.executable, "-c", code, str(BENCH_DATA), *duckdb_baseline.TABLES]


def differences(kpi_csv: Path, sql_csv: Path) -> list[str]:
    """Months where kpi and the SQL disagree, by indicator, with the known reason (or none)."""
    import pandas as pd

    ours = pd.read_csv(kpi_csv)
    ours = ours[ours["breakdown"].isna()][["indicator_id", "period", "numerator", "denominator"]]
    theirs = pd.read_csv(sql_csv)
    both = ours.merge(theirs, on=["indicator_id", "period"], suffixes=("_kpi", "_sql"))
    lines = []
    for indicator, rows in both.groupby("indicator_id"):
        differ = sum(
            ~np.isclose(rows[f"{c}_kpi"].fillna(0), rows[f"{c}_sql"].fillna(0), rtol=1e-9)
            for c in ("numerator", "denominator")
        ).astype(bool)
        if differ.any():
            reason = duckdb_baseline.KNOWN_DIFFERENCES.get(str(indicator), "UNEXPLAINED")
            lines.append(f"{indicator}: {int(differ.sum())} of {len(rows)} months differ: {reason}")
    if len(both) != len(ours) or len(both) != len(theirs):
        lines.append(f"UNEXPLAINED: kpi wrote {len(ours)} rows, the SQL {len(theirs)}")
    return lines


def peer_rows(repeat: int) -> tuple[list[tuple[str, str, str, bool]], list[str]]:
    """kpi against DuckDB SQL for five indicators, 60 months and one month, and the floor."""
    baseline = [sys.executable, str(ROOT / "scripts" / "duckdb_baseline.py"), str(BENCH_DATA)]
    kpi = [*KPI, "compute", "--extracts", str(BENCH_DATA), "--definitions", "contract-2016-17"]
    kpi += ["--indicators", FIVE, "--format", "csv", "--output"]
    sql60 = best_of([*baseline, FIRST, LAST, "/tmp/kpi-bench-sql-60.csv"], repeat)
    sql1 = best_of([*baseline, LAST, LAST, "/tmp/kpi-bench-sql-1.csv"], repeat)
    kpi60 = cold([*kpi, "/tmp/kpi-bench-five-60.csv", "--from", FIRST, "--to", LAST], repeat)
    kpi1 = cold([*kpi, "/tmp/kpi-bench-five-1.csv", "--period", LAST], repeat)
    again = warm([*kpi, "/tmp/kpi-bench-five-60w.csv", "--from", FIRST, "--to", LAST], repeat)
    floor = best_of(parquet_floor_command(), repeat)

    rows = [
        ("five indicators, DuckDB SQL, 60 months", fig(*sql60), "peer", True),
        ("five indicators, DuckDB SQL, 1 month", fig(*sql1), "peer", True),
        ("five indicators, Parquet read only", fig(*floor), "floor", True),
        (
            "five indicators, kpi cold, 60 months",
            fig(*kpi60),
            f"<= {0.5 * sql60[0]:.1f} s",
            kpi60[0] <= 0.5 * sql60[0],
        ),
        (
            "five indicators, kpi cold, 1 month",
            fig(*kpi1),
            f"<= {sql1[0]:.1f} s",
            kpi1[0] <= sql1[0],
        ),
        (
            "five indicators, kpi warm, 60 months",
            fig(*again),
            f"<= {2 * floor[0]:.1f} s",
            again[0] <= 2 * floor[0],
        ),
    ]
    found = differences(Path("/tmp/kpi-bench-five-60.csv"), Path("/tmp/kpi-bench-sql-60.csv"))
    return rows, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (best is kept)")
    parser.add_argument("--record", action="store_true", help="write docs/performance.md")
    parser.add_argument("--regenerate", action="store_true", help="rebuild bench_data/")
    options = parser.parse_args()

    rows: list[tuple[str, str, str, bool]] = []
    compile_bytecode()

    # 1. sample data, one month, interpreter start included
    sample_wall, _ = cold(
        [*KPI, "compute", "--format", "csv", "--output", "/tmp/kpi-bench-sample.csv"],
        options.repeat,
    )
    sample_again, _ = warm(
        [*KPI, "compute", "--format", "csv", "--output", "/tmp/kpi-bench-sample.csv"],
        options.repeat,
    )
    rows += [
        (
            "sample data, 1 month, incl. start-up",
            f"{sample_wall:.2f} s",
            "<= 2 s",
            sample_wall <= 2,
        ),
        # issue 15: "nothing gets slower on the sample data (one month about 1 s)"
        ("  the same again (warm)", f"{sample_again:.2f} s", "<= 1.2 s", sample_again <= 1.2),
    ]

    # 2. the national-scale extract
    if options.regenerate or not (BENCH_DATA / "manifest.yaml").exists():
        print("generating the national-scale extract (scale 150, five years)...", file=sys.stderr)
        gen_wall, gen_mem = run([*KPI, "sample-data", "--output", str(BENCH_DATA), *GENERATE])
        rows.append(
            (
                "generate scale 150 x 5 years",
                f"{gen_wall:.0f} s, {gen_mem:.1f} GB",
                "minutes",
                gen_wall < 600,
            )
        )

    common = [*KPI, "compute", "--extracts", str(BENCH_DATA), "--definitions", "contract-2016-17"]
    one = [*common, "--period", LAST, "--format", "csv", "--output", "/tmp/kpi-bench-1.csv"]
    one_wall, one_mem = cold(one, options.repeat)
    one_again, one_again_mem = warm(one, options.repeat)
    many = [*common, "--from", FIRST, "--to", LAST, "--format", "csv", "--output"]
    many_wall, many_mem = cold([*many, "/tmp/kpi-bench-60.csv"], options.repeat)
    again_wall, again_mem = warm([*many, "/tmp/kpi-bench-60w.csv"], options.repeat)
    ratio = many_wall / one_wall
    rows += [
        ("national, 2016-17 set, 1 period, cold", fig(one_wall, one_mem), "-", True),
        (
            "national, 2016-17 set, 60 periods, cold",
            fig(many_wall, many_mem),
            "<= 20 s",
            many_wall <= 20,
        ),
        ("  peak memory", f"{many_mem:.2f} GB", "<= 4 GB", many_mem <= 4),
        ("  60 periods / 1 period", f"{ratio:.2f}x", "<= 2x", ratio <= 2),
        # issue 15: a cold run is the first on a new extract, a warm one any run after it
        (
            "full set 60 periods, cold, issue 15",
            fig(many_wall, many_mem),
            "<= 10 s",
            many_wall <= 10,
        ),
        (
            "full set 60 periods, warm, issue 15",
            fig(again_wall, again_mem),
            "<= 10 s",
            again_wall <= 10,
        ),
        ("  peak memory, warm, issue 15", f"{again_mem:.2f} GB", "<= 2 GB", again_mem <= 2),
        ("full set 1 period, cold, issue 15", fig(one_wall, one_mem), "<= 5.4 s", one_wall <= 5.35),
        (
            "full set 1 period, warm, issue 15",
            fig(one_again, one_again_mem),
            "<= 5.4 s",
            one_again <= 5.35,
        ),
    ]

    # 3. the peer: the same five indicators as an analyst's DuckDB SQL
    peer, found = peer_rows(options.repeat)
    rows += peer
    explained = [line for line in found if "UNEXPLAINED" not in line]
    rows.append(
        (
            "  figures kpi = SQL, or explained",
            f"{len(explained)} explained",
            "all",
            explained == found,
        )
    )

    width = max(len(r[0]) for r in rows)
    lines = [f"{'figure':<{width}}  {'measured':>20}  {'target':>8}  ok"]
    for name, measured, target, ok in rows:
        lines.append(f"{name:<{width}}  {measured:>20}  {target:>8}  {'yes' if ok else 'NO'}")
    print("\n".join(lines))
    for line in found:
        print(f"  {line}")

    if options.record:
        machine = (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        )
        table = ["| figure | measured | target | met |", "|---|---|---|---|"]
        table += [f"| {n.strip()} | {m} | {t} | {'yes' if ok else 'no'} |" for n, m, t, ok in rows]
        text = (
            "# Performance\n\n"
            "Recorded by `make bench` (`scripts/bench.py --record`): each figure is the best of "
            f"{options.repeat} runs of `kpi compute` in a fresh process; peak memory is the "
            "child's maximum resident set size.\n\n"
            f"Machine: {machine}. National extract: `kpi sample-data {' '.join(GENERATE)}`.\n\n"
            + "\n".join(table)
            + "\n"
            + "".join(f"\n- {line}" for line in found)
            + ("\n" if found else "")
        )
        target = ROOT / "docs" / "performance.md"
        # the hand-written analysis under "## Notes" survives each re-recording
        old = target.read_text(encoding="utf-8") if target.exists() else ""
        notes = old[old.index("\n## Notes") :] if "\n## Notes" in old else ""
        target.write_text(text + notes, encoding="utf-8")
        print("recorded in docs/performance.md", file=sys.stderr)
    if not all(ok for *_, ok in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
