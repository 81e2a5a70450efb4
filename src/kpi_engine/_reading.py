"""What was being read when something went wrong, for a one-line report instead of a traceback.

Library code wraps each file it opens in :func:`reading`. An exception escaping the block is
tagged with the file (the innermost one wins), so the command line's last-resort handler can say
``kpi: error: unexpected failure while reading staff.parquet: ...`` even when the exception
crossed a thread pool on its way up.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

_ATTRIBUTE = "kpi_reading"


@contextmanager
def reading(what: str | Path) -> Iterator[None]:
    """Tag any exception leaving the block with ``what`` (a file or folder), unless tagged."""
    try:
        yield
    except BaseException as e:
        if getattr(e, _ATTRIBUTE, None) is None:
            # an exception type without a __dict__ is reported untagged
            with suppress(AttributeError):
                setattr(e, _ATTRIBUTE, str(what))
        raise


def what_was_read(error: BaseException) -> str | None:
    """The file ``error`` (or an exception it came from) was raised while reading, if known."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        found = getattr(current, _ATTRIBUTE, None)
        if found is not None:
            return str(found)
        current = current.__cause__ or current.__context__
    return None
