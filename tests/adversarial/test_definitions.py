"""Hostile definitions (issue 12): each class generated in several sizes, each refused fast with
the limit and the place named, exit 1, no traceback; all-null sums NO DATA, never a rating.

Cases are built from the shipped A1 (year 1) and C14 (year 2) definitions. Every case runs
well under a second; the time bound is asserted where the case used to hang.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from kpi_engine.cli import cli
from kpi_engine.locations import definitions_root

A1 = (definitions_root() / "contract-2015-16" / "A1.yaml").read_text()
A1_FILTER = (
    "previous_referral_date is not null and referral_date <= "
    "add_months(previous_referral_date, lookback_months)"
)
FAST = 5.0  # seconds: these used to hang for over a minute


def validate(path: Path) -> tuple[int, str, float]:
    started = time.perf_counter()
    result = CliRunner().invoke(cli, ["validate", str(path)])
    elapsed = time.perf_counter() - started
    assert "Traceback" not in result.output
    return result.exit_code, result.stderr.replace(str(path.parent) + "/", ""), elapsed


def laughs(levels: int, fan: int) -> str:
    lines = ["laughs:", '  a0: &a0 ["lol"]']
    for i in range(1, levels + 1):
        lines.append(f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fan) + "]")
    return A1 + "\n".join(lines) + "\n"


BOMBS = [
    *[
        pytest.param(
            laughs(levels, fan), "expands to more than 20000 nodes", id=f"laughs-{levels}x{fan}"
        )
        for levels, fan in [(9, 9), (6, 10), (15, 2)]
    ],
    *[
        pytest.param(
            A1 + "extra: &l [1, 2, 3]\nmore: [" + ", ".join(["*l"] * n) + "]\n",
            "more than 100 aliases (limit max_aliases)",
            id=f"references-{n}",
        )
        for n in (101, 2_000, 24_000)
    ],
    *[
        pytest.param(A1 + text, "recursive alias: a node contains itself", id=f"recursive-{i}")
        for i, text in enumerate(
            [
                "extra: &e [*e]\n",
                "extra: &e {again: *e}\n",
                "extra: &e [1, [2, [3, *e]]]\n",
            ]
        )
    ],
    *[
        pytest.param(
            A1 + "extra: " + "[" * depth + "]" * depth + "\n",
            "nested deeper than 32 levels (limit max_depth)",
            id=f"flow-nesting-{depth}",
        )
        for depth in (40, 2_000, 20_000)
    ],
    *[
        pytest.param(
            A1
            + "extra:\n"
            + "".join("  " * i + f"k{i}:\n" for i in range(depth))
            + "  " * depth
            + "x\n",
            "nested deeper than 32 levels (limit max_depth)",
            id=f"block-nesting-{depth}",
        )
        for depth in (50, 200)
    ],
    pytest.param(
        A1 + "extra:\n" + "  - 1\n" * 25_000,
        "more than 20000 nodes (limit max_nodes)",
        id="many-nodes",
    ),
]


@pytest.mark.parametrize(("text", "message"), BOMBS)
def test_a_definition_that_would_expand_past_a_limit_is_refused_fast(tmp_path, text, message):
    path = tmp_path / "A1.yaml"
    path.write_text(text)
    code, stderr, elapsed = validate(path)
    assert code == 1
    first = stderr.splitlines()[0]
    assert first.startswith("A1.yaml:") and ": yaml: refused: " in first and message in first
    assert elapsed < FAST


@pytest.mark.parametrize("megabytes", [1, 50])
def test_a_huge_definition_file_is_refused_unread(tmp_path, megabytes):
    path = tmp_path / "A1.yaml"
    with path.open("wb") as f:  # sparse: costs no disk, and must cost no memory either
        f.write(A1.encode())
        f.seek(megabytes * 1024 * 1024)
        f.write(b"\n")
    code, stderr, elapsed = validate(path)
    assert code == 1
    size = path.stat().st_size
    assert stderr.splitlines()[0] == (
        f"A1.yaml: yaml: refused: the file is {size:,} bytes; definitions are limited to "
        "262,144 (limit max_bytes)"
    )
    assert elapsed < FAST


EXPRESSIONS = [
    *[
        pytest.param(
            "(" * n + "referral_date is not null" + ")" * n,
            "nested more than 40 levels",
            id=f"parens-{n}",
        )
        for n in (41, 500, 1_000)
    ],
    pytest.param(
        "(" * 3_000 + "x" + ")" * 3_000, "characters long (limit 4,000)", id="parens-3000"
    ),
    *[
        pytest.param(
            " + ".join(["days_between(referral_date, referral_date)"] * n) + " > 1",
            "nested more than 40 levels deep, each operator of a chain a level",
            id=f"sum-{n}",
        )
        for n in (42, 80)
    ],
    pytest.param(
        " + ".join(["x"] * 5_000) + " > 1", "characters long (limit 4,000)", id="sum-5000"
    ),
    *[
        pytest.param(
            "not " * n + "referral_date is null", "nested more than 40 levels", id=f"not-{n}"
        )
        for n in (41, 900)
    ],
]


@pytest.mark.parametrize(("expression", "message"), EXPRESSIONS)
def test_a_filter_past_the_parser_limits_is_a_located_error(tmp_path, expression, message):
    path = tmp_path / "A1.yaml"
    path.write_text(A1.replace(A1_FILTER, expression))
    code, stderr, elapsed = validate(path)
    assert code == 1
    first = stderr.splitlines()[0]
    assert first.startswith("A1.yaml:22:") and "numerator.filter: " in first and message in first
    assert elapsed < FAST


def lineage(tmp_path: Path, ring: list[str]) -> Path:
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "set.yaml").write_text("name: ring\ntitle: Ring\n")
    for i, measure in enumerate(ring):
        replaced = ring[(i + 1) % len(ring)]
        text = A1.replace("id: A1\n", f"id: {measure}\nreplaces: {replaced}\n")
        (folder / f"{measure}.yaml").write_text(text)
    return folder


@pytest.mark.parametrize(
    ("ring", "message"),
    [
        (["A1"], "A1.yaml:2:1: replaces: A1 replaces itself (got 'A1')"),
        (
            ["A1", "B1"],
            "A1.yaml:2:1: replaces: measures replace each other in a cycle (A1 -> B1 -> A1)",
        ),
        (
            ["A1", "B1", "C1"],
            "A1.yaml:2:1: replaces: measures replace each other in a cycle (A1 -> B1 -> C1 -> A1)",
        ),
    ],
    ids=["cycle-1", "cycle-2", "cycle-3"],
)
def test_a_measure_that_replaces_itself_or_a_ring_is_a_definition_error(tmp_path, ring, message):
    folder = lineage(tmp_path, ring)
    result = CliRunner().invoke(cli, ["validate", str(folder)])
    assert result.exit_code == 1
    shown = result.stderr.replace(str(folder) + "/", "")
    assert shown.splitlines()[0].startswith(message)


@pytest.mark.parametrize(
    "text",
    [laughs(9, 9), A1 + "extra: &e [*e]\n", A1 + "extra: " + "[" * 2_000 + "]" * 2_000 + "\n"],
    ids=["laughs", "recursive", "nesting"],
)
def test_compute_refuses_a_set_holding_a_hostile_definition(tmp_path, text):
    folder = tmp_path / "set"
    shutil.copytree(definitions_root() / "contract-2015-16", folder)
    (folder / "A1.yaml").write_text(text)
    started = time.perf_counter()
    result = CliRunner().invoke(cli, ["compute", "--definitions", str(folder), "--format", "csv"])
    assert time.perf_counter() - started < FAST
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stdout == ""
    assert "A1.yaml:" in result.stderr and ": yaml: refused: " in result.stderr


NULL_SUMS = [
    "fte / (fte - fte)",  # issue 12: was ON TARGET, Green, value 0
    "fte / 0",
    "if_else(fte > 0.1, fte / (fte - fte), fte)",
    "coalesce(null, fte) / (fte - fte)",
]


@pytest.mark.parametrize("expression", NULL_SUMS)
def test_a_sum_that_gives_no_number_is_no_data_on_the_sample(tmp_path, expression):
    folder = tmp_path / "set"
    shutil.copytree(definitions_root() / "contract-2016-17", folder)
    c14 = folder / "C14.yaml"
    c14.write_text(c14.read_text().replace("sum: fte", f"sum: {expression}", 1))
    result = CliRunner().invoke(
        cli,
        ["compute", "--definitions", str(folder), "--indicators", "C14", "--period", "2016-03",
         "--format", "csv"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    header, row = result.stdout.splitlines()[:2]
    fields = dict(
        zip(header.split(","), row.split(",", maxsplit=len(header.split(",")) - 1), strict=False)
    )
    assert fields["status"] == "NO DATA" and fields["value"] == ""
    assert "not computable" in row and "gives no number" in row
