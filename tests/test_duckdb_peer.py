"""kpi against an independent engine: the analyst's DuckDB SQL of scripts/duckdb_baseline.py.

The same five indicators over the shipped sample's 60 months. A1, A5, A6 and C14 must agree
exactly (C14 to floating-point summation order); B10 may differ only where NI 62's placement
rules apply, and then only upwards in the SQL (it counts every S/P/B episode as a placement).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import kpi_engine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import duckdb_baseline  # noqa: E402


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("peer") / "sql.csv"
    duckdb_baseline.run(ROOT / "sample_data", "2011-04", "2016-03", out)
    sql = pd.read_csv(out)
    months = [f"{y}-{m:02d}" for y in range(2011, 2017) for m in range(1, 13)]
    months = [m for m in months if "2011-04" <= m <= "2016-03"]
    ours = kpi_engine.compute(ROOT / "sample_data", "contract-2016-17", months)
    ours = ours[ours["indicator_id"].isin(duckdb_baseline.INDICATORS)]
    ours = ours[ours["breakdown"].isna() | (ours["breakdown"] == "")]
    ours = ours[["indicator_id", "period", "numerator", "denominator"]]
    merged = ours.merge(sql, on=["indicator_id", "period"], suffixes=("_kpi", "_sql"))
    assert len(merged) == len(sql) == 5 * 60
    return merged


@pytest.mark.parametrize("indicator", ["A1", "A5", "A6", "C14"])
def test_kpi_equals_the_sql(both: pd.DataFrame, indicator: str) -> None:
    rows = both[both["indicator_id"] == indicator]
    for column in ("numerator", "denominator"):
        np.testing.assert_allclose(
            rows[f"{column}_kpi"].astype(float), rows[f"{column}_sql"].astype(float), rtol=1e-12
        )


def test_b10_differs_only_by_ni62_placement_rules(both: pd.DataFrame) -> None:
    rows = both[both["indicator_id"] == "B10"]
    # the same children looked after at month end
    assert (rows["denominator_kpi"] == rows["denominator_sql"]).all()
    # NI 62 leaves out temporary, same-carer and under-24-hour placements: never more in kpi
    assert (rows["numerator_kpi"] <= rows["numerator_sql"]).all()
    assert "NI 62" in duckdb_baseline.KNOWN_DIFFERENCES["B10"]
