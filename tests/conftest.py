"""Shared test settings."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def _prepared_cache(tmp_path_factory: pytest.TempPathFactory):
    """The prepared-extract cache is on in tests, as for users, but never in the user's home.

    Set for the whole session, before any fixture runs: a module- or session-scoped fixture
    that loads an extract (or counts working days) comes before function-scoped ones, and
    wrote into ~/.cache/kpi-engine when this was one of them. One folder for the session: a
    test that rewrites an extract another test loaded is one more check that the cache
    notices (KPI_CACHE=0 runs the suite without it).
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KPI_CACHE_DIR", str(tmp_path_factory.mktemp("kpi-cache")))
        # and where a run without KPI_CACHE_DIR would look (~/.cache otherwise)
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        yield


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache folder of the test's own, empty, with the cache on (whatever KPI_CACHE says)."""
    where = tmp_path / "cache"
    monkeypatch.setenv("KPI_CACHE_DIR", str(where))
    monkeypatch.delenv("KPI_CACHE", raising=False)
    return where
