"""One writer per output file: an exclusive ``flock`` on ``FILE.lock`` beside the output.

Two cron runs (a slow run overtaken by the next, or a manual run during the nightly one) must
never write the same scorecard at once. The lock is advisory and per open file, so it is
released by the kernel when the holder exits for any reason, SIGKILL included: a crashed run
never leaves a stale lock behind. The ``.lock`` file itself stays on disk (removing it would
let a third process lock a different inode while a second still waits on the old one); it holds
the holder's pid, for the message a waiting run prints.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

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
        self.path = lock_path_for(Path(output))
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

    def acquire(self) -> None:
        """Take the lock, retrying every POLL_SECONDS until ``wait`` runs out; or raise LockHeld."""
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already held by this lock object")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            deadline = self._clock() + self.wait
            while not self._try(fd):
                remaining = deadline - self._clock()
                if remaining <= 0:
                    raise LockHeld(self.path, self._holder(), self.wait)
                self._sleep(min(POLL_SECONDS, remaining))
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        """Let the next run in (closing the descriptor drops the flock)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
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
