"""Shared builders for the adversarial suite: hostile extracts made from the shipped sample.

Each case copies a few small sample tables into a temporary folder (Parquet as shipped, or
rewritten as CSV), damages one thing, runs ``kpi`` in-process through ``main`` (the same path
as the installed command, last-resort handler included) and checks three things: the exact
exit code, the located message, and that nothing was written (the previous output is byte
for byte what it was, and no file was left beside it). Nothing large is committed: a 5 GB
file is sparse, made at run time.

Slow cases carry ``@pytest.mark.adversarial``: ``make test`` skips them, ``make adversarial``
runs every case.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from kpi_engine.cli import main

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"

SMALL_TABLES = (
    "staff",
    "supervisions",
    "population",
    "yos_cohort",
    "yos_disposals",
    "finance",
    "care_leavers",
    "care_leaver_contacts",
    "sickness_absence",
    "care_proceedings",
)
"""Sample tables of a few thousand rows at most: each copy costs milliseconds."""

READER = {
    "staff": "C14",
    "supervisions": "C16-2016",
    "population": "YOS-CUSTODY",
    "yos_disposals": "YOS-CUSTODY",
    "yos_cohort": "YOS-EET",
    "finance": "D17a",
    "care_leavers": "B11-2016",
    "care_leaver_contacts": "B11-2016",
}
"""A contract-2016-17 indicator reading each table (and no large table)."""

PREVIOUS = b"indicator,period,value\nPREVIOUS,2015-12,1\n"
"""What a previous good run left in the output file; a failed run must leave it so."""


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def kpi(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run ``kpi ARGS...`` in-process; its exit code and output."""

    def run(*args: str) -> Result:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


class Extract:
    """A hostile extract under construction, in a temporary folder."""

    def __init__(self, folder: Path, tables: Sequence[str], fmt: str = "parquet") -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.fmt = fmt
        for name in tables:
            if fmt == "parquet":
                shutil.copyfile(SAMPLE / f"{name}.parquet", folder / f"{name}.parquet")
            else:
                self.write_csv(name, sample(name))
        self.manifest: dict[str, object] = {
            "authority": "Synthetic Borough",
            "extract_date": "2016-04-01",
            "source_system": "adversarial suite",
            "contract_version": "1",
            "rows": {name: len(sample(name)) for name in tables},
        }
        self.write_manifest()

    def path(self, table: str) -> Path:
        return self.folder / f"{table}.{self.fmt}"

    def write_manifest(self, text: str | None = None) -> Path:
        path = self.folder / "manifest.yaml"
        if text is None:
            text = yaml.safe_dump(self.manifest, sort_keys=False)
        path.write_text(text, encoding="utf-8")
        return path

    def write_csv(self, table: str, frame: pd.DataFrame) -> Path:
        path = self.folder / f"{table}.csv"
        text = frame.copy()
        for column in text.columns:
            if pd.api.types.is_datetime64_any_dtype(text[column]):
                text[column] = text[column].dt.strftime("%Y-%m-%d")
        text.to_csv(path, index=False, lineterminator="\n")
        return path

    def set_value(self, table: str, column: str, row: int, value: object) -> Path:
        """Put ``value`` in ``column`` of data row ``row`` (0-based) of ``table``."""
        if self.fmt == "csv":
            frame = pd.read_csv(self.path(table), dtype=str, keep_default_na=False)
            frame[column] = frame[column].astype(object)
            frame.loc[row, column] = str(value)
            frame.to_csv(self.path(table), index=False, lineterminator="\n")
            return self.path(table)
        arrow = pq.read_table(self.path(table))
        values = arrow.column(column).to_pylist()
        values[row] = value
        index = arrow.schema.get_field_index(column)
        arrow = arrow.set_column(index, column, pa.array(values, arrow.schema.field(index).type))
        pq.write_table(arrow, self.path(table))
        return self.path(table)


def sample(table: str) -> pd.DataFrame:
    """The shipped sample table, dates as timestamps."""
    return pq.read_table(SAMPLE / f"{table}.parquet").to_pandas()


@pytest.fixture
def build(tmp_path: Path) -> Callable[..., Extract]:
    """``build(tables, fmt)``: a copy of those sample tables (and a manifest) to damage."""

    def make(tables: Sequence[str] = ("staff",), fmt: str = "parquet") -> Extract:
        return Extract(tmp_path / "extract", tables, fmt)

    return make


@pytest.fixture
def output(tmp_path: Path) -> Iterator[Path]:
    """An output file a previous run wrote; after the case, it and its folder are unchanged."""
    folder = tmp_path / "out"
    folder.mkdir()
    path = folder / "scorecard.csv"
    path.write_bytes(PREVIOUS)
    yield path


def unchanged(output: Path) -> bool:
    """The previous output is byte-identical and nothing was left beside it (but the lock
    file ``kpi scorecard`` keeps beside its output, docs/cron.md)."""
    beside = sorted(p for p in output.parent.iterdir() if p.name != f"{output.name}.lock")
    return output.read_bytes() == PREVIOUS and beside == [output]


def compute_args(extract: Path, table: str, output: Path, *more: str) -> list[str]:
    """``kpi compute`` of the indicator that reads ``table``, into ``output``."""
    return [
        "compute",
        "--extracts",
        str(extract),
        "--definitions",
        "contract-2016-17",
        "--indicators",
        READER[table],
        "--period",
        "2015-12",
        "--output",
        str(output),
        "--format",
        "csv",
        *more,
    ]
