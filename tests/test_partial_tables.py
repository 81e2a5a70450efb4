"""Tables an extract holds in part (kpi_engine.partial_tables): counts needing the rest: NO DATA.

An extract imported from the statutory returns holds looked-after children's missing episodes
only; its manifest says so. MISSING-CIC (looked-after) is computed, MISSING-CHILDREN (not
looked after) is NO DATA; an extract whose manifest says nothing is read whole, as before.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from kpi_engine import load_definitions, partial_tables
from kpi_engine.definitions import Definition
from kpi_engine.extract import Extract
from kpi_engine.manifest import Manifest, Partial

HELD = {"missing_episodes": Partial("looked_after", "only the 903's")}


def definition(filter_text: str | None) -> Definition:
    base = load_definitions("corporate-scorecard").get("MISSING-CIC")
    assert base.numerator is not None
    numerator = base.numerator.model_copy(update={"filter": filter_text})
    return base.model_copy(update={"numerator": numerator})


@pytest.mark.parametrize(
    ("filter_text", "computed"),
    [
        ("looked_after", True),
        ("looked_after and end_datetime is null", True),
        ("(end_datetime is null)   and looked_after", True),  # written anywhere, any spacing
        ("not looked_after", False),
        ("not looked_after and end_datetime is null", False),
        ("looked_after or end_datetime is null", False),  # may count rows not held
        (None, False),  # every row: the ones not held too
    ],
)
def test_a_count_is_computed_only_when_its_filter_keeps_to_the_rows_held(
    filter_text: str | None, computed: bool
) -> None:
    why = partial_tables.not_carried(HELD, definition(filter_text))
    assert (why is None) is computed
    if not computed:
        assert why == "missing_episodes holds only rows where looked_after: only the 903's"


def test_the_manifest_declares_it_and_a_plain_extract_is_read_whole() -> None:
    extract = Extract(Path("x"), {}, Manifest(partial_tables=HELD))
    assert partial_tables.declared(extract) == HELD
    assert partial_tables.declared(Extract(Path("x"), {}, Manifest())) == {}
    assert partial_tables.declared({"missing_episodes": pd.DataFrame()}) == {}
    # MISSING-CHILDREN itself, as shipped, is NO DATA on such an extract
    children = load_definitions("corporate-scorecard").get("MISSING-CHILDREN")
    assert partial_tables.not_carried(HELD, children) is not None
    assert partial_tables.not_carried({}, children) is None


def test_a_declaration_the_engine_cannot_read_computes_nothing_on_that_table() -> None:
    held = {"missing_episodes": Partial("looked_after and (", "?")}
    assert partial_tables.not_carried(held, definition("looked_after")) is not None
