"""docs/extract-contract.md matches the contract the loader enforces, and its examples load.

Issue 13: the README pointed at an extract specification that was not in the repository. The
document's column tables are generated from ``kpi_engine.contract``; this test fails when the
committed document and the generator differ, so they never drift.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kpi_engine import contract, contract_doc
from kpi_engine.extract import load_extract

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "extract-contract.md"


def test_the_committed_document_is_what_the_generator_writes() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert contract_doc.updated(text) == text, (
        "docs/extract-contract.md is out of date: "
        "python -m kpi_engine.contract_doc --write docs/extract-contract.md"
    )


def test_every_table_and_column_is_in_the_document() -> None:
    text = DOC.read_text(encoding="utf-8")
    for table in contract.TABLES.values():
        assert f"### `{table.name}`" in text
        for column in table.columns:
            kind = contract_doc.TYPES[column.type]
            required = "optional" if column.nullable else "required"
            assert f"| `{column.name}` | {kind} | {required} |" in text, (table.name, column.name)
    # a coded column lists its codes: SSDA903 legal statuses, in the contract's order
    assert "`C1` `C2` `D1` `E1` `J1` `J2` `J3` `L1` `L2` `L3` `V2` `V3` `V4`" in text


def test_the_examples_have_exactly_the_contracts_columns() -> None:
    assert set(contract_doc.EXAMPLES) == set(contract.TABLES)
    for name, row in contract_doc.EXAMPLES.items():
        assert list(row) == list(contract.TABLES[name].column_names), name


@pytest.mark.parametrize("table", list(contract.TABLES))
def test_each_example_row_loads_without_error(tmp_path: Path, table: str) -> None:
    section = contract_doc.table_section(contract.TABLES[table])
    csv_text = section.split("```csv\n")[1].split("```")[0]
    (tmp_path / f"{table}.csv").write_text(csv_text, encoding="utf-8")
    extract = load_extract(tmp_path, strict=False)
    assert [p for p in extract.problems if p.severity == "error"] == []
    assert len(extract.tables[table]) == 1


def test_the_readme_points_at_the_document() -> None:
    assert "(docs/extract-contract.md)" in (ROOT / "README.md").read_text()


def test_the_generator_prints_and_rejects_stray_arguments(capsys: pytest.CaptureFixture[str]):
    assert contract_doc.main([]) == 0
    assert capsys.readouterr().out == contract_doc.markdown()
    assert contract_doc.main(["--bogus"]) == 2
