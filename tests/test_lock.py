"""The output lock: one writer at a time, a clear refusal, waiting without timing anything."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kpi_engine.lock import LockHeld, OutputLock, exclusive_output, lock_path_for
from kpi_engine.output import WriteError


def test_lock_file_sits_beside_the_output(tmp_path):
    assert lock_path_for(tmp_path / "scorecard.csv") == tmp_path / "scorecard.csv.lock"


def test_a_second_lock_on_the_same_output_fails_at_once(tmp_path):
    out = tmp_path / "scorecard.csv"
    with OutputLock(out) as first:
        assert first.held
        second = OutputLock(out)  # its own file descriptor: flock conflicts across them
        with pytest.raises(LockHeld) as info:
            second.acquire()
        assert not second.held
        assert info.value.holder == str(os.getpid())
        assert "another run is writing this output" in str(info.value)
        assert str(lock_path_for(out)) in str(info.value)
    # released: the next run gets it
    with OutputLock(out) as again:
        assert again.held


def test_waiting_gives_up_when_the_wait_runs_out(tmp_path):
    out = tmp_path / "scorecard.csv"
    now = [0.0]
    sleeps: list[float] = []

    def fake_sleep(seconds: float) -> None:  # a clock that moves only when the lock sleeps
        sleeps.append(seconds)
        now[0] += seconds

    with OutputLock(out):
        waiting = OutputLock(out, wait=1.0, sleep=fake_sleep, clock=lambda: now[0])
        with pytest.raises(LockHeld) as info:
            waiting.acquire()
    assert sum(sleeps) == pytest.approx(1.0)
    assert len(sleeps) >= 10  # it retried, it did not sleep once and give up
    assert "after waiting 1s" in str(info.value)


def test_waiting_succeeds_when_the_holder_lets_go(tmp_path):
    out = tmp_path / "scorecard.csv"
    holder = OutputLock(out)
    holder.acquire()
    calls = []

    def release_on_third_sleep(seconds: float) -> None:
        calls.append(seconds)
        if len(calls) == 3:
            holder.release()

    waiting = OutputLock(out, wait=60.0, sleep=release_on_third_sleep)
    waiting.acquire()
    assert waiting.held and not holder.held
    assert len(calls) == 3
    assert lock_path_for(out).read_text().strip() == str(os.getpid())
    waiting.release()


def test_another_process_is_refused_while_the_lock_is_held(tmp_path):
    out = tmp_path / "scorecard.csv"
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from kpi_engine.lock import LockHeld, OutputLock
        try:
            OutputLock(Path({str(out)!r})).acquire()
        except LockHeld as e:
            print(e.holder)
            sys.exit(3)
        print("acquired")
        """
    )
    holder = OutputLock(out)
    holder.acquire()
    refused = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert refused.returncode == 3, refused.stderr
    assert refused.stdout.strip() == str(os.getpid())
    holder.release()
    allowed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert (allowed.returncode, allowed.stdout.strip()) == (0, "acquired")


def test_a_killed_holder_never_leaves_a_stale_lock(tmp_path):
    out = tmp_path / "scorecard.csv"
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from kpi_engine.lock import OutputLock
        OutputLock(Path({str(out)!r})).acquire()
        print("acquired", flush=True)
        time.sleep(600)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "acquired"
        with pytest.raises(LockHeld):
            OutputLock(out).acquire()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    with OutputLock(out) as mine:  # the kernel dropped the dead process's lock
        assert mine.held


def test_the_lock_is_released_when_the_block_raises(tmp_path):
    out = tmp_path / "scorecard.csv"
    with pytest.raises(ZeroDivisionError), OutputLock(out):
        1 / 0  # noqa: B018
    with OutputLock(out) as again:
        assert again.held


def test_negative_wait_is_refused(tmp_path):
    with pytest.raises(ValueError, match="invalid wait -1"):
        OutputLock(Path(tmp_path / "x.csv"), wait=-1)


def test_a_lock_file_left_by_a_dead_run_does_not_block(tmp_path):
    out = tmp_path / "scorecard.csv"
    lock_path_for(out).write_text("999999\n")  # the pid of a run killed long ago
    with OutputLock(out) as mine:
        assert mine.held
        assert lock_path_for(out).read_text() == f"{os.getpid()}\n"


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_the_lock_file_gets_the_umasks_permissions(tmp_path, mask):
    previous = os.umask(mask)
    try:
        with OutputLock(tmp_path / "scorecard.csv"):
            pass
    finally:
        os.umask(previous)
    mode = lock_path_for(tmp_path / "scorecard.csv").stat().st_mode & 0o777
    assert mode == 0o666 & ~mask


def test_a_full_disk_does_not_stop_the_lock(tmp_path, monkeypatch):
    def full(fd, data, offset):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "pwrite", full)
    with OutputLock(tmp_path / "scorecard.csv") as lock:
        assert lock.held  # the flock holds; only the pid for the message is missing


def test_a_lock_that_cannot_be_created_is_a_write_error_naming_the_output(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    out = blocker / "scorecard.csv"
    with pytest.raises(WriteError) as info:
        OutputLock(out).acquire()
    assert (
        str(info.value)
        == f"cannot write {out}: cannot create folder {blocker}: a file is in its place"
    )


def test_exclusive_output_clears_stale_temporaries_under_the_lock(tmp_path):
    out = tmp_path / "scorecard.csv"
    stale = [tmp_path / ".scorecard.csv.1a2b3c4d.tmp", tmp_path / ".scorecard.csv.meta.json.x.tmp"]
    for path in stale:
        path.write_text("half")
    with exclusive_output(out) as removed:
        assert removed == sorted(stale)
        with pytest.raises(LockHeld):
            OutputLock(out).acquire()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scorecard.csv.lock"]


def test_exclusive_output_refuses_a_folder_before_locking(tmp_path):
    (tmp_path / "scorecard.csv").mkdir()
    with (
        pytest.raises(WriteError, match="it is a folder"),
        exclusive_output(tmp_path / "scorecard.csv"),
    ):
        pass
    assert not lock_path_for(tmp_path / "scorecard.csv").exists()
