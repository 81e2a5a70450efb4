"""Where the shipped definition sets and sample data live, and how a set name is resolved."""

from __future__ import annotations

import difflib
import os
from importlib.resources import files
from pathlib import Path

from kpi_engine.validation import DefinitionError, Problem

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


def no_extract_folder(folder: Path) -> str:
    """Why ``folder`` cannot be read, and how to name another (an installed ``kpi`` has no
    sample beside it)."""
    return f"no extract folder at {folder} (give --extracts DIR, or set KPI_EXTRACTS)"


LATEST_CONTRACT_SET = "contract-2016-17"
SCORECARD_SET = "corporate-scorecard"


class UnknownSetError(DefinitionError):
    """A set name that is neither a folder nor a set under the definitions root.

    A :class:`DefinitionError` (so callers catching that still do), kept apart because the
    command line calls it a usage error (exit 2): the user mistyped a name.
    """


def resolve_set(name_or_path: str | Path | None) -> Path:
    """A definition set folder from a path, or from a set name under the definitions root.

    Raises :class:`UnknownSetError` naming the sets there and the closest to ``name_or_path``.
    """
    if name_or_path is None:
        name_or_path = LATEST_CONTRACT_SET
    path = Path(name_or_path)
    if path.is_dir():
        return path
    folder = definitions_root() / str(name_or_path)
    if folder.is_dir():
        return folder
    root = definitions_root()
    raise UnknownSetError([Problem(str(root), None, None, "", unknown_set(str(name_or_path)))])


def unknown_set(name: str, what: str = "definition set") -> str:
    """'no definition set 'x'; did you mean 'y'? (sets: a, b; or a folder of definitions)'."""
    sets = available_sets()
    hints = _closest(name, sets)
    text = f"no {what} {name!r}"
    if hints:
        text += f"; did you mean {' or '.join(repr(h) for h in hints)}?"
    listed = f"sets: {', '.join(sets)}; " if sets else "no sets there; "
    return f"{text} ({listed}or give a folder of definitions)"


def _closest(word: str, choices: list[str]) -> list[str]:
    """The choices nearest ``word``, all of them when several are as near ('2015-17')."""
    ratios = {c: difflib.SequenceMatcher(None, word, c).ratio() for c in choices}
    best = max(ratios.values(), default=0.0)
    return [c for c, r in ratios.items() if r == best and r >= 0.6]


def available_sets() -> list[str]:
    root = definitions_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "set.yaml").exists())
