"""Where the shipped definition sets and sample data live, and how a set name is resolved."""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

# A source checkout keeps the sample extract beside src/; an installed wheel has none.
_REPO_ROOT = Path(__file__).resolve().parents[2]


def shipped_path(*parts: str) -> Path:
    """A file shipped inside the package (definition sets, reference figures).

    Found through importlib.resources, so an installed wheel finds them wherever it is run
    from, not only a source checkout.
    """
    return Path(str(files("kpi_engine").joinpath(*parts)))


def definitions_root() -> Path:
    """The definition sets folder: $KPI_DEFINITIONS, ./indicator_definitions, or the shipped one."""
    env = os.environ.get("KPI_DEFINITIONS")
    if env:
        return Path(env)
    local = Path("indicator_definitions")
    return local if local.is_dir() else shipped_path("indicator_definitions")


def sample_data_dir() -> Path:
    """The default extract: $KPI_EXTRACTS, ./sample_data, or the shipped sample."""
    env = os.environ.get("KPI_EXTRACTS")
    if env:
        return Path(env)
    local = Path("sample_data")
    return local if local.is_dir() else _REPO_ROOT / "sample_data"


LATEST_CONTRACT_SET = "contract-2016-17"
SCORECARD_SET = "corporate-scorecard"


def resolve_set(name_or_path: str | Path | None) -> Path:
    """A definition set folder from a path, or from a set name under the definitions root."""
    if name_or_path is None:
        name_or_path = LATEST_CONTRACT_SET
    path = Path(name_or_path)
    if path.exists():
        return path
    return definitions_root() / str(name_or_path)


def available_sets() -> list[str]:
    root = definitions_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "set.yaml").exists())
