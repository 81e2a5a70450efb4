"""Hostile periods (issue 12, "Manifests and periods"): months outside 1900-01..2199-12.

A period option outside the supported range is a usage error (exit 2) before any work; a
manifest date outside it is a located error (exit 1, test_manifests.py). Supported range:
docs/extract-validation.md, ``kpi_engine.periods.FIRST_SUPPORTED``/``LAST_SUPPORTED``.
"""

from __future__ import annotations

import time

import pytest
from tests.adversarial.conftest import compute_args, unchanged

OUTSIDE = "is outside the supported months 1900-01 to 2199-12"

PERIODS = [
    ("0000-01", f"0000-01 {OUTSIDE}"),
    ("9999-12", f"9999-12 {OUTSIDE}"),
    ("1899-12", f"1899-12 {OUTSIDE}"),
    ("2200-01", f"2200-01 {OUTSIDE}"),
    ("2015-13", "expected a month as YYYY-MM (got '2015-13')"),
    ("15-12", "expected a month as YYYY-MM (got '15-12')"),
]


@pytest.mark.parametrize(("period", "message"), PERIODS)
def test_compute_refuses_a_period_outside_the_range(kpi, build, output, period, message):
    extract = build(("staff",))
    args = compute_args(extract.folder, "staff", output)
    args[args.index("--period") + 1] = period
    started = time.monotonic()
    result = kpi(*args)
    assert time.monotonic() - started < 10
    assert result.code == 2
    assert result.stderr.endswith(f"kpi: error: {message}\n")
    assert unchanged(output)


@pytest.mark.parametrize(("first", "last"), [("2199-06", "2200-01"), ("1899-12", "1900-02")])
def test_compute_refuses_a_range_reaching_outside(kpi, build, output, first, last):
    extract = build(("staff",))
    args = compute_args(extract.folder, "staff", output)
    at = args.index("--period")
    args[at : at + 2] = ["--from", first, "--to", last]
    result = kpi(*args)
    assert result.code == 2
    assert OUTSIDE in result.stderr
    assert unchanged(output)


@pytest.mark.parametrize("period", ["0000-01", "9999-12"])
def test_scorecard_refuses_a_period_outside_the_range(kpi, build, output, period):
    extract = build(("staff",))
    result = kpi(
        "scorecard", "--extracts", str(extract.folder), "--period", period, "--output", str(output)
    )
    assert result.code == 2
    assert f"{period} {OUTSIDE}" in result.stderr
    assert unchanged(output)


def test_explain_refuses_a_period_outside_the_range(kpi, build):
    extract = build(("staff",))
    result = kpi("explain", "C14", "--extracts", str(extract.folder), "--period", "9999-12")
    assert result.code == 2
    assert f"9999-12 {OUTSIDE}" in result.stderr


@pytest.mark.adversarial
def test_the_last_supported_extract_date_computes(kpi, build, tmp_path):
    # extract_date 2199-12-31 is a month end: the default period is 2199-12 itself
    extract = build(("staff",))
    extract.manifest["extract_date"] = "2199-12-31"
    extract.write_manifest()
    out = tmp_path / "c14.csv"
    args = compute_args(extract.folder, "staff", out)
    del args[args.index("--period") : args.index("--period") + 2]
    result = kpi(*args)
    assert result.code == 0, result.stderr
    assert b",2199-12," in out.read_bytes()
