"""Cron faults (issue 12, "Cron"): a run killed at each stage, a file system that refuses the
write, two runs on one output. Each case asserts the exit code, the message, that the previous
output is byte-identical (or still absent) and what is left beside it.

How a kill lands exactly where it should: each run is a real process, forked from a server that
has imported kpi already (multiprocessing's forkserver), so a case costs a fraction of a second
instead of the seconds an import takes. Before running ``kpi`` the process wraps one function so
that it stops at its stage: it writes a marker file and waits; the test sees the marker and sends
SIGKILL. The stages, wrapped through public calls only:

- ``load``: inside the extract's loading, the first table read (``pyarrow`` read functions);
- ``compute``: inside ``engine.compute``, one indicator done (its ``progress`` callback);
- ``write``: the first temporary written, at its ``fsync``: nothing renamed yet;
- ``rename``: before the first rename into place: every temporary written, nothing published;
- ``publish`` (scorecard): between its two renames: the metadata published, the file not.

After a kill the output is the previous one (or still absent), the lock is free although the
dead run's pid is still in the lock file, only hidden temporaries are left, and a rerun succeeds,
removes them and writes the complete new file.

File-system faults are real: a small tmpfs, filled or remounted read-only, where the tests run as
root (CI does); otherwise a folder without write permission and, for a full disk, an ENOSPC
injected at the write.
"""

from __future__ import annotations

import errno
import hashlib
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.test_cli_scorecard import write_definitions, write_extract

from kpi_engine.cli import cli
from kpi_engine.lock import OutputLock, lock_path_for
from kpi_engine.output import stale_temporaries
from kpi_engine.scorecard import meta_path_for

NEW, OLD = "2015-12", "2015-11"
"""The period a case's run computes, and the one its previous output was made for."""

COMPUTE_FORMATS = ("csv", "json", "parquet", "md", "xlsx")
SCORECARD_FORMATS = ("csv", "md", "xlsx")
STAGES = {
    "compute": ("load", "compute", "write", "rename"),
    "scorecard": ("load", "compute", "write", "rename", "publish"),
}
ROWS = 5  # the test set's five measures (tests/test_scorecard.py)


# --- the runs -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cron")
    write_extract(root / "extract")
    write_definitions(root / "defs")
    return root


def argv(
    workspace: Path, command: str, out: Path, period: str = NEW, *extra: str, quiet: bool = True
) -> list[str]:
    """``kpi compute`` or ``kpi scorecard`` on the test extract (the scorecard ``--quiet``)."""
    quiet_flag = ["--quiet"] if command == "scorecard" and quiet else []
    return [
        command, "--extracts", str(workspace / "extract"), "--definitions",
        str(workspace / "defs"), "--period", period, "--output", str(out), *quiet_flag, *extra,
    ]  # fmt: skip


def run(args: list[str]):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


@pytest.fixture(scope="module")
def reference(workspace, tmp_path_factory):
    """The complete output of an unkilled run, by (command, format, period): the file's bytes,
    and the metadata's for the scorecard."""
    made: dict[tuple[str, str, str], tuple[bytes, bytes | None]] = {}

    def get(command: str, fmt: str, period: str = NEW) -> tuple[bytes, bytes | None]:
        key = (command, fmt, period)
        if key not in made:
            out = tmp_path_factory.mktemp("reference") / f"scorecard.{fmt}"
            result = run(argv(workspace, command, out, period))
            assert result.exit_code == 0, result.stderr
            meta = meta_path_for(out)
            made[key] = out.read_bytes(), meta.read_bytes() if meta.exists() else None
        return made[key]

    return get


def complete(reference, command: str, fmt: str, period: str = NEW) -> bytes:
    return reference(command, fmt, period)[0]


CHILD = """
import os, sys, time
from pathlib import Path

def stop():
    Path(MARKER).write_text(str(os.getpid()))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (HOLD and Path(HOLD).exists()):
        time.sleep(0.005)

def after_first(function):
    def wrapped(*args, **kwargs):
        result = function(*args, **kwargs)
        stop()
        return result
    return wrapped

if STAGE == "load":
    import pyarrow.csv, pyarrow.parquet
    pyarrow.csv.read_csv = after_first(pyarrow.csv.read_csv)
    pyarrow.parquet.read_table = after_first(pyarrow.parquet.read_table)
elif STAGE == "compute":
    from kpi_engine import engine
    real_compute = engine.compute
    def compute(*args, progress=None, **kwargs):
        def step(d):
            stop()
            if progress is not None:
                progress(d)
        return real_compute(*args, progress=step, **kwargs)
    engine.compute = compute
elif STAGE == "write":
    real_fsync = os.fsync
    def fsync(fd):
        stop()
        return real_fsync(fd)
    os.fsync = fsync
elif STAGE in ("rename", "publish"):
    real_replace = os.replace
    renames = []
    def replace(src, dst, **kwargs):
        if Path(dst).name in WATCHED:
            if len(renames) == (0 if STAGE == "rename" else 1):
                stop()
            renames.append(dst)
        return real_replace(src, dst, **kwargs)
    os.replace = replace

log = os.open(LOG, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.dup2(log, 1)
os.dup2(log, 2)
os.chdir(CWD)
# the files are read, not a prepared copy (kpi_engine.prepared tests its own atomicity), so
# the "load" stage is reached in every run
os.environ["KPI_CACHE"] = "0"
sys.argv = ["kpi", *ARGV]
from kpi_engine.cli import main
main()
"""


@pytest.fixture(scope="module")
def server():
    """A fork server with kpi imported: each run is a real process that starts at once."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(
        ["kpi_engine.cli", "pandas", "pyarrow.csv", "pyarrow.parquet", "xlsxwriter"]
    )
    return context


@dataclass
class Child:
    process: multiprocessing.process.BaseProcess
    marker: Path
    log: Path

    def wait_for_stage(self) -> None:
        deadline = time.monotonic() + 30
        while not self.marker.exists():
            assert self.process.is_alive(), f"finished before its stage: {self.log.read_text()}"
            assert time.monotonic() < deadline, "never reached its stage"
            time.sleep(0.005)

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.join(10)
        assert self.process.exitcode == -signal.SIGKILL

    def finish(self) -> int:
        self.process.join(30)
        assert self.process.exitcode is not None, "still running"
        return self.process.exitcode


def start(server, scratch: Path, args: list[str], stage: str | None, hold: Path | None = None):
    scratch.mkdir(parents=True, exist_ok=True)
    out = Path(args[args.index("--output") + 1])
    names = {
        "STAGE": stage,
        "MARKER": str(scratch / "stopped"),
        "HOLD": str(hold) if hold else None,
        "WATCHED": {out.name, meta_path_for(out).name},
        "LOG": str(scratch / "log"),
        "CWD": str(scratch),
        "ARGV": args,
    }
    process = server.Process(target=exec, args=(CHILD, names), daemon=True)
    process.start()
    return Child(process, scratch / "stopped", scratch / "log")


# --- what is left -------------------------------------------------------------------------------


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def suffix(fmt: str) -> str:
    return "md" if fmt == "markdown" else fmt


def place_previous(reference, command, fmt, out: Path) -> dict[str, bytes]:
    """The output (and metadata) an earlier, complete run left: made for the previous month."""
    data, meta = reference(command, fmt, OLD)
    assert data != complete(reference, command, fmt)
    out.write_bytes(data)
    if meta is not None:
        meta_path_for(out).write_bytes(meta)
    return files(out.parent)


# --- killed at each stage -----------------------------------------------------------------------

KILLS = [
    pytest.param(command, fmt, stage, previous, id=f"{command}-{fmt}-{stage}-{previous}")
    for command, formats in (("compute", COMPUTE_FORMATS), ("scorecard", SCORECARD_FORMATS))
    for fmt in formats
    for stage in STAGES[command]
    for previous in ("previous", "none")
    if previous == "previous" or fmt == "csv"
]


@pytest.mark.parametrize(("command", "fmt", "stage", "previous"), KILLS)
def test_a_run_killed_at_any_stage_leaves_the_previous_output(
    workspace, reference, server, tmp_path, command, fmt, stage, previous
):
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / f"scorecard.{fmt}"
    meta = meta_path_for(out)
    before = place_previous(reference, command, fmt, out) if previous == "previous" else {}

    child = start(server, tmp_path / "run", argv(workspace, command, out), stage)
    child.wait_for_stage()
    child.kill()

    after = files(folder)
    # the output is the previous one, byte for byte, or still absent
    assert after.get(out.name) == before.get(out.name)
    if stage == "publish":
        # killed between the renames: the new metadata is there, describing a file not yet in
        # place (its sha256 says so); never a new file beside old metadata
        described = json.loads(after[meta.name])["output"]["sha256"]
        assert described == sha(complete(reference, command, fmt)) != sha(after.get(out.name, b""))
    else:
        assert after.get(meta.name) == before.get(meta.name)
    # the dead run's pid is still in the lock file, and the lock is free all the same
    assert after[lock_path_for(out).name] == f"{child.process.pid}\n".encode()
    with OutputLock(out) as lock:
        assert lock.held
    leftovers = set(after) - {out.name, meta.name, lock_path_for(out).name}
    assert leftovers == {p.name for p in stale_temporaries(out)}
    assert bool(leftovers) == (stage in ("write", "rename", "publish"))

    rerun = run(argv(workspace, command, out, quiet=False))
    assert rerun.exit_code == 0, rerun.stderr
    if command == "compute":
        assert rerun.stderr.endswith(f"wrote {ROWS} rows to {out}\n")
    for name in sorted(leftovers):
        assert f"removed {folder / name}, left by an interrupted run\n" in rerun.stderr
    assert out.read_bytes() == complete(reference, command, fmt)
    expected = {out.name, lock_path_for(out).name} | (
        {meta.name} if command == "scorecard" else set()
    )
    assert set(files(folder)) == expected  # nothing left over
    if command == "scorecard":
        assert json.loads(meta.read_text())["output"]["sha256"] == sha(out.read_bytes())


# --- the file system refuses --------------------------------------------------------------------


def _can_mount() -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    probe = Path(f"/tmp/kpi-mount-probe-{os.getpid()}")
    probe.mkdir(exist_ok=True)
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)], capture_output=True
        )
        if mounted.returncode != 0:
            return False
        subprocess.run(["umount", str(probe)], check=True)
        return True
    finally:
        probe.rmdir()


REAL = _can_mount()
"""Faults made by the kernel (a tmpfs of our own); else permissions and an injected ENOSPC."""


@pytest.fixture
def small_fs(tmp_path) -> Iterator[Path]:
    folder = tmp_path / "fs"
    folder.mkdir()
    if REAL:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        if REAL:
            subprocess.run(["umount", "-l", str(folder)], check=True)
        else:
            folder.chmod(0o755)


def fill(folder: Path, leave_pages: int, monkeypatch) -> None:
    """Fill the file system, leaving ``leave_pages`` pages of 4 KiB (a tmpfs counts pages)."""
    if not REAL:
        fsyncs = []

        def full(fd):  # a write past the room left fails
            fsyncs.append(fd)
            if len(fsyncs) > leave_pages - 1:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(os, "fsync", full)
        return
    free = os.statvfs(folder).f_bavail * 4096
    (folder / "filler").write_bytes(b"\0" * (free - leave_pages * 4096))
    assert os.statvfs(folder).f_bavail == leave_pages


def read_only(folder: Path) -> str:
    """Make ``folder`` read-only; the reason a write there then fails."""
    if REAL:
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        return os.strerror(errno.EROFS)
    folder.chmod(0o555)
    return os.strerror(errno.EACCES)


FAULT_COMMANDS = [("compute", "csv"), ("compute", "xlsx"), ("scorecard", "csv"),
                  ("scorecard", "xlsx")]  # fmt: skip


def fault_case(workspace, reference, command, fmt, folder) -> tuple[Path, dict[str, bytes]]:
    out = folder / f"scorecard.{fmt}"
    before = place_previous(reference, command, fmt, out)
    return out, before


def assert_failed(result, command: str, message: str) -> None:
    assert result.exit_code == 1
    if command == "compute":
        assert result.stderr == f"kpi: error: {message}\n"
    else:
        assert result.stderr.splitlines()[-1].endswith(f" ERROR kpi scorecard: {message}")
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("command", "fmt"), FAULT_COMMANDS)
def test_a_full_disk_leaves_the_previous_output(
    workspace, reference, small_fs, monkeypatch, command, fmt
):
    out, before = fault_case(workspace, reference, command, fmt, small_fs)
    # one page for the lock's pid; then nothing: the first temporary does not fit
    fill(small_fs, 1, monkeypatch)
    result = run(argv(workspace, command, out))
    first = meta_path_for(out) if command == "scorecard" else out
    assert_failed(
        result, command, f"cannot write {first}: No space left on device; the previous "
        f"{out.name} is intact",
    )  # fmt: skip
    after = files(small_fs)
    assert set(after) == {*before, lock_path_for(out).name} | ({"filler"} if REAL else set())
    assert {name: after[name] for name in before} == before
    assert not stale_temporaries(out)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_room_for_the_metadata_but_not_the_scorecard_publishes_neither(
    workspace, reference, small_fs, monkeypatch, fmt
):
    # the case: on a full disk a new CSV was published without its metadata
    out, before = fault_case(workspace, reference, "scorecard", fmt, small_fs)
    fill(small_fs, 2, monkeypatch)  # the lock's pid and the metadata's temporary fit
    result = run(argv(workspace, "scorecard", out))
    assert_failed(
        result, "scorecard", f"cannot write {out}: No space left on device; the previous "
        f"{out.name} is intact",
    )  # fmt: skip
    after = files(small_fs)
    assert after[out.name] == before[out.name]
    assert after[meta_path_for(out).name] == before[meta_path_for(out).name]
    assert not stale_temporaries(out)


@pytest.mark.parametrize(("command", "fmt"), FAULT_COMMANDS)
def test_a_read_only_folder_leaves_the_previous_output(
    workspace, reference, small_fs, command, fmt
):
    out, before = fault_case(workspace, reference, command, fmt, small_fs)
    lock_path_for(out).write_bytes(b"")  # as the previous run left it
    before = files(small_fs)
    why = read_only(small_fs)
    result = run(argv(workspace, command, out))
    if REAL:  # the lock file cannot even be opened for writing
        reason = f"cannot create its lock {lock_path_for(out)}: {why}"
        first = out
    else:  # the lock opens; the temporary cannot be created
        reason = why
        first = meta_path_for(out) if command == "scorecard" else out
    assert_failed(
        result, command, f"cannot write {first}: {reason}; the previous {out.name} is intact"
    )
    assert files(small_fs) == before


@pytest.mark.parametrize(("command", "fmt"), FAULT_COMMANDS)
def test_a_missing_folder_that_cannot_be_made_writes_nothing(
    workspace, reference, small_fs, command, fmt
):
    why = read_only(small_fs)
    out = small_fs / "monthly" / f"scorecard.{fmt}"
    result = run(argv(workspace, command, out))
    assert_failed(
        result, command, f"cannot write {out}: cannot create folder {out.parent}: {why}; "
        "nothing written",
    )  # fmt: skip
    assert list(small_fs.iterdir()) == []


@pytest.mark.parametrize(("command", "fmt"), FAULT_COMMANDS)
def test_an_output_that_is_a_folder_writes_nothing(workspace, tmp_path, command, fmt):
    out = tmp_path / f"scorecard.{fmt}"
    out.mkdir()
    (out / "inside").write_text("kept")
    result = run(argv(workspace, command, out))
    assert_failed(result, command, f"cannot write {out}: it is a folder; nothing written")
    assert [p.name for p in tmp_path.iterdir()] == [out.name]
    assert (out / "inside").read_text() == "kept"


# --- two runs on one output ---------------------------------------------------------------------


@pytest.mark.parametrize("command", ["compute", "scorecard"])
@pytest.mark.parametrize("wait", [None, "0.3"])
def test_a_second_run_gives_up_with_exit_3(workspace, reference, server, tmp_path, command, wait):
    out = tmp_path / "out" / "scorecard.csv"
    out.parent.mkdir()
    before = place_previous(reference, command, "csv", out)
    hold = tmp_path / "release"
    first = start(server, tmp_path / "first", argv(workspace, command, out), "rename", hold)
    first.wait_for_stage()  # holding the lock, its temporaries written
    second = run(argv(workspace, command, out, NEW, *(["--wait", wait] if wait else [])))
    assert second.exit_code == 3
    waited = f" after waiting {wait}s" if wait else ""
    message = (
        f"{lock_path_for(out)} is held by pid {first.process.pid}{waited}: another run is "
        "writing this output; not written (retry later, or give --wait SECONDS)"
    )
    if command == "compute":
        assert second.stderr == f"kpi: error: {message}\n"
    else:
        assert second.stderr.splitlines()[-1].endswith(f" ERROR kpi scorecard: {message}")
    assert files(out.parent).get(out.name) == before[out.name]  # the second wrote nothing
    hold.touch()
    assert first.finish() == 0
    assert out.read_bytes() == complete(reference, command, "csv")
    assert not stale_temporaries(out)


@pytest.mark.parametrize("command", ["compute", "scorecard"])
def test_a_second_run_that_waits_writes_after_the_first_never_between(
    workspace, reference, server, tmp_path, command
):
    out = tmp_path / "out" / "scorecard.csv"
    hold = tmp_path / "release"
    first = start(server, tmp_path / "first", argv(workspace, command, out, OLD), "rename", hold)
    first.wait_for_stage()
    second = start(
        server, tmp_path / "second", argv(workspace, command, out, NEW, "--wait", "30"), None
    )
    time.sleep(0.3)
    assert second.process.is_alive()  # waiting for the lock
    assert not out.exists()
    hold.touch()
    assert first.finish() == 0
    assert second.finish() == 0, second.log.read_text()
    # the second run's file, whole, with its own metadata: the two never interleaved
    assert out.read_bytes() == complete(reference, command, "csv", NEW)
    if command == "scorecard":
        meta = json.loads(meta_path_for(out).read_text())
        assert meta["period"] == NEW and meta["output"]["sha256"] == sha(out.read_bytes())
    assert not stale_temporaries(out)
