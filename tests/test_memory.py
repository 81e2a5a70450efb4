"""The command line's choice of Arrow allocator."""

from __future__ import annotations

import pyarrow as pa
import pytest

from kpi_engine._memory import use_returning_allocator


@pytest.fixture
def restore_pool():
    before = pa.default_memory_pool()
    yield
    pa.set_memory_pool(before)


def _jemalloc_built() -> bool:
    try:
        pa.jemalloc_memory_pool()
    except NotImplementedError:
        return False
    return True


def test_the_command_line_uses_jemalloc_where_arrow_has_it(restore_pool, monkeypatch):
    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    pa.set_memory_pool(pa.system_memory_pool())
    use_returning_allocator()
    expected = "jemalloc" if _jemalloc_built() else "system"
    assert pa.default_memory_pool().backend_name == expected


def test_the_users_own_choice_stands(restore_pool, monkeypatch):
    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "system")
    pa.set_memory_pool(pa.system_memory_pool())
    use_returning_allocator()
    assert pa.default_memory_pool().backend_name == "system"
