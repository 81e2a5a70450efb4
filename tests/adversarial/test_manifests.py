"""Hostile manifests (issue 12, "Manifests and periods"): alias bombs, deep nesting, oversized
files, unknown and mistyped keys, column maps onto one column, dates out of range.

The manifest is read within limits before any table (docs/extract-validation.md): every
refusal is fast, located at its line, exit 1, and nothing is written.
"""

from __future__ import annotations

import json
import time

import pytest
from tests.adversarial.conftest import compute_args, unchanged


def _laughs() -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    return "\n".join(lines) + "\n"


def _nested_block(levels: int) -> str:
    return "".join(f"{'  ' * i}a:\n" for i in range(levels)) + f"{'  ' * levels}b: 1\n"


BASE = "authority: Test\nextract_date: 2016-04-01\n"

REFUSED = [
    # (id, manifest text, line, field, message)
    ("billion laughs", _laughs(), 6, "", "refused: expands to more than 100,000 values"),
    ("recursive alias", "extra: &e [*e]\n", 1, "", "refused: a recursive alias"),
    ("undefined alias", BASE + "source_system: *nobody\n", 3, "", "an undefined alias *nobody"),
    ("nested 5,000 deep", "x: " + "[" * 5000 + "]" * 5000 + "\n", 1, "", "nested deeper than 20"),
    ("nested 30 deep", _nested_block(30), 21, "", "refused: nested deeper than 20 levels"),
    pytest.param(
        "200,000 values",
        "sources: [" + ", ".join(["1"] * 200_000) + "]\n",
        1,
        "",
        "refused: expands to more than 100,000 values",
        marks=pytest.mark.adversarial,
    ),
    (
        "column map two onto one",
        BASE + "column_map:\n  staff:\n    FTE: fte\n    hours: fte\n",
        6,
        "column_map.staff.hours",
        "'FTE' is already mapped onto 'fte': one source column per contract column",
    ),
    (
        "column map unknown table",
        BASE + "column_map:\n  stafff: {FTE: fte}\n",
        4,
        "column_map.stafff",
        "unknown table (got 'stafff'); did you mean 'staff'?",
    ),
    (
        "column map unknown column",
        BASE + "column_map:\n  staff: {FTE: ftee}\n",
        4,
        "column_map.staff.FTE",
        "not a column of staff (got 'ftee'); did you mean 'fte'?",
    ),
    ("year 10000", "extract_date: 10000-01-01\n", 1, "extract_date", "not a date"),
    (
        "before 1900",
        "extract_date: 1899-12-31\n",
        1,
        "extract_date",
        "1899-12-31 is outside the supported dates 1900-01-02 to 2199-12-31",
    ),
    ("after 2199", "extract_date: 2300-01-01\n", 1, "extract_date", "outside the supported"),
    ("30 February", "extract_date: 2016-02-30\n", 1, "extract_date", "not a date (got"),
    ("authority a list", "authority: [a, b]\n", 1, "authority", "expected text (got a list)"),
    ("rows negative", "rows: {staff: -1}\n", 1, "rows.staff", "expected a whole number"),
    ("rows text", "rows:\n  staff: many\n", 2, "rows.staff", "expected a whole number"),
    ("contract version 2", "contract_version: '2'\n", 1, "contract_version", "version '2'"),
    (
        "source digest",
        "sources:\n  - {kind: ssda903, file: a.csv, sha256: abc}\n",
        2,
        "sources[0].sha256",
        "expected 64 hexadecimal digits (got 'abc')",
    ),
    ("source without kind", "sources:\n  - {file: a.csv}\n", 2, "sources[0]", "kind is required"),
    ("not a mapping", "- authority\n- Test\n", 1, "", "expected a mapping of fields"),
    ("broken YAML", BASE + "rows: {staff: [\n", 4, "", "not valid YAML"),
    ("repeated key", BASE + "authority: Other\n", 3, "authority", "repeated key"),
    ("open end not a date", "open_end_dates: [nope]\n", 1, "open_end_dates", "not a date"),
]


def _case(row):
    """A REFUSED row as a parameter named by its first value (a pytest.param keeps its marks)."""
    if hasattr(row, "marks"):
        return pytest.param(*row.values[1:], id=row.values[0], marks=row.marks)
    return pytest.param(*row[1:], id=row[0])


@pytest.mark.parametrize(("text", "line", "field", "message"), [_case(r) for r in REFUSED])
def test_a_bad_manifest_is_refused_at_its_line(kpi, build, output, text, line, field, message):
    extract = build(("staff",))
    manifest = extract.write_manifest(text)
    started = time.monotonic()
    result = kpi("validate", "--extracts", str(extract.folder), "--format", "json")
    assert time.monotonic() - started < 5  # no bomb goes off
    assert result.code == 1, result.stdout
    found = json.loads(result.stdout)["problems"]
    assert any(
        p["file"] == str(manifest)
        and p["line"] == line
        and p["field"] == field
        and message in p["message"]
        for p in found
    ), found
    assert json.loads(result.stdout)["tables"] == {}  # no table read on a bad manifest
    computed = kpi(*compute_args(extract.folder, "staff", output))
    assert computed.code == 1
    where = f"{manifest}:{line}: " + (f"{field}: " if field else "")
    assert where in computed.stderr and message in computed.stderr, computed.stderr
    assert "Traceback" not in computed.stderr
    assert unchanged(output)


@pytest.mark.adversarial
def test_an_oversized_manifest_is_refused_before_reading(kpi, build, output):
    extract = build(("staff",))
    manifest = extract.write_manifest(BASE + "# padding\n" * 200_000)
    result = kpi(*compute_args(extract.folder, "staff", output))
    assert result.code == 1
    size = manifest.stat().st_size
    assert size > 1024**2
    assert f"{manifest}: refused: {size:,} bytes (the limit is 1,048,576)" in result.stderr
    assert unchanged(output)


def test_a_manifest_that_is_a_folder(kpi, build, output):
    extract = build(("staff",))
    manifest = extract.folder / "manifest.yaml"
    manifest.unlink()
    manifest.mkdir()
    result = kpi(*compute_args(extract.folder, "staff", output))
    assert result.code == 1
    assert f"{manifest}: not a regular file" in result.stderr
    assert unchanged(output)


def test_a_column_map_onto_a_column_the_file_also_has(kpi, build, output):
    # team -> fte while fte is there too: two columns would be read as one
    extract = build(("staff",))
    extract.manifest["column_map"] = {"staff": {"team": "fte"}}
    extract.write_manifest()
    result = kpi(*compute_args(extract.folder, "staff", output))
    assert result.code == 1
    assert (
        f"{extract.path('staff')}: fte: 2 columns would be read as 'fte' ('team', 'fte')"
        in result.stderr
    )
    assert unchanged(output)


UNKNOWN = [
    ("colour: blue\n", 3, "colour", "unknown manifest key; ignored"),
    ("extract_dat: 2016-04-01\n", 3, "extract_dat", "did you mean 'extract_date'?"),
    ("notes: {a: 1}\n", 3, "notes", "unknown manifest key; ignored"),
]


@pytest.mark.parametrize(("extra", "line", "field", "message"), UNKNOWN)
def test_an_unknown_key_is_a_warning_naming_it(kpi, build, tmp_path, extra, line, field, message):
    extract = build(("staff",))
    manifest = extract.write_manifest(BASE + extra)
    result = kpi("validate", "--extracts", str(extract.folder), "--format", "json")
    assert result.code == 0, result.stdout
    (warning,) = [p for p in json.loads(result.stdout)["problems"] if p["field"] == field]
    assert (warning["file"], warning["line"], warning["severity"]) == (
        str(manifest),
        line,
        "warning",
    )
    assert message in warning["message"]
    assert kpi(*compute_args(extract.folder, "staff", tmp_path / "c14.csv")).code == 0


def test_a_complete_manifest_is_plain_checked_data(build):
    from kpi_engine.extract import load_extract

    extract = build(("staff",))
    digest = "ab" * 32
    extract.write_manifest(
        BASE
        + "source_system: tests\ncontract_version: 1\nrows: {staff: 1628}\n"
        + "open_end_dates: 2099-12-31\ngenerator: {seed: 1, start: 2010-04}\n"
        + f"sources:\n  - {{kind: ssda903, file: a.csv, year: 2016, sha256: {digest.upper()},"
        + " rows: {referrals: 10}, authority: Test}\n"
    )
    manifest = load_extract(extract.folder).manifest
    assert manifest.contract_version == "1"
    assert manifest.rows == {"staff": 1628}
    assert [d.isoformat() for d in manifest.open_end_dates] == ["2099-12-31"]
    assert manifest.generator == {"seed": 1, "start": "2010-04"}
    (source,) = manifest.sources
    assert (source.kind, source.year, source.sha256, source.rows) == (
        "ssda903",
        2016,
        digest,
        {"referrals": 10},
    )
