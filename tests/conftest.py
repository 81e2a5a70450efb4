"""Shared test settings."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def _session_cache(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("kpi-cache")


@pytest.fixture(autouse=True)
def _prepared_cache(_session_cache, monkeypatch):
    """The prepared-extract cache is on in tests, as for users, but never in the user's home.

    One folder for the session: a test that rewrites an extract another test loaded is one
    more check that the cache notices (KPI_CACHE=0 runs the suite without it).
    """
    monkeypatch.setenv("KPI_CACHE_DIR", str(_session_cache))


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache folder of the test's own, empty, with the cache on (whatever KPI_CACHE says)."""
    where = tmp_path / "cache"
    monkeypatch.setenv("KPI_CACHE_DIR", str(where))
    monkeypatch.delenv("KPI_CACHE", raising=False)
    return where
