"""One writer per output file: an exclusive ``flock`` on ``FILE.lock`` beside the output.

Two cron runs (a slow run overtaken by the next, or a manual run during the nightly one) must
never write the same scorecard at once. The lock is advisory and per open file, so it is
released by the kernel when the holder exits for any reason, SIGKILL included: a crashed run
never leaves a stale lock behind: a ``.lock`` file left by a killed run (its pid inside) does
not block the next. The ``.lock`` file itself stays on disk (removing it would let a third
process lock a different inode while a second still waits on the old one); it holds the holder's
pid, for the message a waiting run prints, written when it can be (on a full disk the lock still
holds without it). It is created with mode 0666 less the umask, like the outputs.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from kpi_engine.output import WriteError, check_destination, make_parent, stale_temporaries

POLL_SECONDS = 0.1
"""How often a waiting run retries the lock."""


class LockHeld(Exception):
    """Another process holds the output's lock (after waiting, if asked to wait)."""

    def __init__(self, lock_path: Path, holder: str | None, waited: float) -> None:
        self.lock_path = lock_path
        self.holder = holder
        """The holder's pid as it wrote it, if readable."""
        self.waited = waited
        """Seconds this run was prepared to wait."""
        by = f" by pid {holder}" if holder else ""
        after = f" after waiting {waited:g}s" if waited > 0 else ""
        super().__init__(f"{lock_path} is held{by}{after}: another run is writing this output")


def lock_path_for(output: Path) -> Path:
    """``scorecard.csv`` → ``scorecard.csv.lock``, in the same folder."""
    return output.with_name(output.name + ".lock")


class OutputLock:
    """An exclusive, non-blocking lock on ``FILE.lock``, retried for up to ``wait`` seconds.

    Use as a context manager::

        with OutputLock(Path("scorecard.csv"), wait=60):
            ...  # the only writer of scorecard.csv
    """

    def __init__(
        self,
        output: Path,
        wait: float = 0.0,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if wait < 0:
            raise ValueError(f"invalid wait {wait!r}, expected seconds >= 0")
        self.output = Path(output)
        """The output it guards."""
        self.path = lock_path_for(self.output)
        """The lock file."""
        self.wait = wait
        """Seconds to keep retrying before giving up (0: try once)."""
        self._sleep = sleep
        self._clock = clock
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def _try(self, fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _holder(self) -> str | None:
        try:
            text = self.path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return text or None

    def _open(self) -> int:
        """The lock file, opened (with its folder made if need be); WriteError if it cannot be."""
        make_parent(self.output)
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as e:
            reason = f"cannot create its lock {self.path}: {e.strerror}"
            raise WriteError(self.output, reason) from e

    def acquire(self) -> None:
        """Take the lock, retrying every POLL_SECONDS until ``wait`` runs out; or raise LockHeld
        (another run holds it) or WriteError (the lock file cannot be made: no run could write
        the output there)."""
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already held by this lock object")
        fd = self._open()
        try:
            deadline = self._clock() + self.wait
            while not self._try(fd):
                remaining = deadline - self._clock()
                if remaining <= 0:
                    raise LockHeld(self.path, self._holder(), self.wait)
                self._sleep(min(POLL_SECONDS, remaining))
            self._write_pid(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    @staticmethod
    def _write_pid(fd: int) -> None:
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        except OSError:
            pass  # a full disk: the flock holds all the same, only the message loses the pid

    def release(self) -> None:
        """Let the next run in (closing the descriptor drops the flock)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass  # the pid stays behind: harmless, the flock is what counts
        finally:
            os.close(fd)

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


@contextmanager
def exclusive_output(output: Path, wait: float = 0.0) -> Iterator[list[Path]]:
    """Be the only run writing ``output`` for the duration of the block.

    Checks first that nothing is in the output's place (WriteError), takes its lock (LockHeld
    after ``wait`` seconds), then removes the temporaries a killed run left beside it, which
    only the lock holder may do; yields those it removed, for the log.
    """
    check_destination(output)
    with OutputLock(output, wait):
        removed = []
        for stale in stale_temporaries(output):
            try:
                stale.unlink(missing_ok=True)
                removed.append(stale)
            except OSError:
                pass  # a read-only folder: the write will fail and say why
        yield removed
