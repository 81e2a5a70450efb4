"""An installed ``kpi`` runs from any directory: the wheel carries its definitions and benchmarks.

Issue 13: installed with pip, ``kpi`` looked for the definition sets beside the source tree and
reported "no such definition set"; the crontab line in docs/cron.md failed. Here the wheel is
built from a copy of the source, installed into a fresh virtual environment and run from an
empty directory. The environment reuses this one's installed dependencies (a ``.pth`` line
pointing at its site-packages) and the wheel is built without build isolation, so the test
needs no network.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"


def run(
    *args: str | Path, cwd: Path | None = None, expect: int = 0
) -> subprocess.CompletedProcess[str]:
    # as a user runs it: the cache in the default place, under XDG_CACHE_HOME, which
    # conftest.py points at a folder of the test run's
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KPI_", "PYTHON"))}
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == expect, (args, result.stdout[-2000:], result.stderr[-2000:])
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin folder of a fresh environment with the wheel installed in it."""
    work = tmp_path_factory.mktemp("install")
    source = work / "source"
    shutil.copytree(
        ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    python = sys.executable
    run(python, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
        work / "dist", source)  # fmt: skip
    (wheel,) = (work / "dist").glob("kpi_engine-*.whl")
    venv = work / "venv"
    run(python, "-m", "venv", "--without-pip", venv)
    target = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    # the project's dependencies, not the project: that comes from the wheel
    (target / "project-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    run(python, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q", "--no-deps",
        "--ignore-installed", "--no-index", wheel)  # fmt: skip
    return venv / "bin"


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    folder = tmp_path / "anywhere"
    folder.mkdir()
    return folder


@pytest.mark.slow
def test_the_installed_package_is_the_wheel(installed: Path, elsewhere: Path) -> None:
    where = run(
        installed / "python", "-c", "import kpi_engine; print(kpi_engine.__file__)", cwd=elsewhere
    )
    assert str(installed.parent) in where.stdout  # not the source tree


@pytest.mark.slow
def test_kpi_list_finds_the_shipped_sets(installed: Path, elsewhere: Path) -> None:
    listed = run(installed / "kpi", "list", "--format", "csv", cwd=elsewhere)
    ids = [row["id"] for row in csv.DictReader(listed.stdout.splitlines())]
    assert len(ids) == 23 and ids[0] == "A1" and "CARE-LADDER" in ids  # contract-2016-17
    corporate = run(installed / "kpi", "list", "--set", "corporate-scorecard", cwd=elsewhere)
    assert "corporate-scorecard: 36 indicators" in corporate.stdout


@pytest.mark.slow
def test_kpi_compute_runs_from_another_directory(installed: Path, elsewhere: Path) -> None:
    computed = run(installed / "kpi", "compute", "--extracts", SAMPLE, cwd=elsewhere)
    rows = list(csv.DictReader(computed.stdout.splitlines()))
    assert {r["period"] for r in rows} == {"2016-03"}  # the sample's latest complete month
    a1 = next(r for r in rows if r["indicator_id"] == "A1")
    assert (a1["numerator"], a1["denominator"], a1["value"]) == ("1004", "4388", "23")
    # an installed kpi has no sample beside it: it says how to name an extract
    bare = run(installed / "kpi", "compute", cwd=elsewhere, expect=2)
    assert "give --extracts DIR, or set KPI_EXTRACTS" in bare.stderr


@pytest.mark.slow
def test_kpi_scorecard_fills_the_benchmark_column(installed: Path, elsewhere: Path) -> None:
    run(installed / "kpi", "scorecard", "--extracts", SAMPLE, "--output", "x.csv", "--quiet",
        cwd=elsewhere)  # fmt: skip
    rows = list(csv.DictReader((elsewhere / "x.csv").open()))
    national = [r for r in rows if r["benchmark_source"].startswith("England")]
    assert national, "no national benchmark: the shipped national_benchmarks.csv was not found"
    a1 = next(r for r in rows if r["indicator_id"] == "A1")
    assert a1["benchmark"] and a1["benchmark_source"].startswith("England ")
