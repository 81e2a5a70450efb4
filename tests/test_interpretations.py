"""docs/interpretations.md and the shipped definitions agree.

Every measure id an entry lists under **Measures** exists in a shipped set; every definition
whose ``source:`` says "interpretation" is listed under some entry, and the entry title it
quotes is a heading of the register.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from kpi_engine import load_definitions

REGISTER = Path(__file__).resolve().parents[1] / "docs" / "interpretations.md"
SETS = ("contract-2015-16", "contract-2016-17", "corporate-scorecard")
FIELDS = ("Seed", "Chosen", "Measures", "Parameter")


@cache
def entries() -> dict[str, str]:
    """Each entry's text by its heading."""
    parts = re.split(r"^## (.+)$", REGISTER.read_text(encoding="utf-8"), flags=re.M)
    return {title.strip(): body for title, body in zip(parts[1::2], parts[2::2], strict=True)}


def listed_ids(body: str) -> set[str]:
    """The ids in backticks of an entry's **Measures** field (up to the next field)."""
    found = re.search(r"^- \*\*Measures\*\*:(.*?)(?=^- \*\*|\Z)", body, flags=re.M | re.S)
    return set(re.findall(r"`([^`]+)`", found.group(1))) if found else set()


@cache
def shipped() -> dict[str, list[tuple[str, str]]]:
    """Each shipped definition id -> (set, source) for every set it is in."""
    out: dict[str, list[tuple[str, str]]] = {}
    for name in SETS:
        for d in load_definitions(name).definitions:
            out.setdefault(d.id, []).append((name, d.source))
    return out


def test_every_entry_has_the_seeds_words_a_choice_its_measures_and_a_parameter_answer():
    register = entries()
    assert len(register) >= 20
    for title, body in register.items():
        for field in FIELDS:
            assert f"- **{field}**:" in body, (title, field)
        assert listed_ids(body), title


@pytest.mark.parametrize("title", sorted(entries()))
def test_every_listed_id_is_a_shipped_definition(title):
    missing = listed_ids(entries()[title]) - set(shipped())
    assert not missing, f"{title}: {sorted(missing)} in no shipped set"


def test_every_definition_citing_an_interpretation_is_listed_under_the_entry_it_quotes():
    register = entries()
    listed = {i for body in register.values() for i in listed_ids(body)}
    citing = 0
    for indicator, places in shipped().items():
        for set_name, source in places:
            if "interpretation" not in source.lower():
                continue
            citing += 1
            assert indicator in listed, f"{set_name}/{indicator} is in no entry"
            quoted = re.findall(r'interpretations\.md,\s+((?:"[^"]+"(?:\s+and\s+)?)+)', source)
            titles = re.findall(r'"([^"]+)"', " ".join(quoted))
            assert titles, f"{set_name}/{indicator}: source names no entry"
            for title in titles:
                assert title in register, f"{set_name}/{indicator}: no entry {title!r}"
                assert indicator in listed_ids(register[title]), (set_name, indicator, title)
    assert citing >= 30  # the corrected measures and the older readings both point here


def test_the_register_cites_seed_lines():
    for title, body in entries().items():
        assert re.search(r"lines? \d{3,4}", body) or "silent" in body, title
