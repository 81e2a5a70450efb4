"""The definition language's bad inputs, each a located error with its exact message, and the
property that a definition survives being dumped to YAML and read back."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpi_engine.cli import cli
from kpi_engine.definitions import Definition
from kpi_engine.locations import definitions_root
from kpi_engine.validation import load_definition_file

A1 = (definitions_root() / "contract-2015-16" / "A1.yaml").read_text()
A1_FILTER = (
    "  filter: previous_referral_date is not null and referral_date <= "
    "add_months(previous_referral_date, lookback_months)\n"
)


def validate(tmp_path: Path, text: str) -> tuple[int, list[str]]:
    path = tmp_path / "A1.yaml"
    path.write_text(text)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert "Traceback" not in result.output
    lines = [line.replace(str(tmp_path) + "/", "") for line in result.stderr.splitlines()]
    return result.exit_code, lines[:-1]  # the last line is the summary


def with_filter(expression: str) -> str:
    assert A1_FILTER in A1
    # the filter replaced no longer uses A1's parameter: drop its declaration (the file's end)
    return A1.replace(A1_FILTER, f"  filter: {expression}\n").split("parameters:")[0]


BAD_INPUTS = [
    (
        "id: A1\nname: [unclosed\n",
        "A1.yaml:3:1: yaml: malformed YAML: while parsing a flow sequence expected ',' or ']', "
        "but got '<stream end>'",
    ),
    (
        A1.replace("rounding: 0", "rounding: two"),
        "A1.yaml:13:1: rounding: Input should be a valid integer, unable to parse string as an "
        "integer (got 'two')",
    ),
    (
        A1 + 'extra: !!python/object/apply:os.system ["echo hi"]\n',
        "A1.yaml:27:8: yaml: tag 'tag:yaml.org,2002:python/object/apply:os.system' is not "
        "allowed: definitions are data and never construct objects",
    ),
    (
        with_filter("referral_date.year > 2015"),
        "A1.yaml:22:24: numerator.filter: attribute access is not allowed (got '.') in "
        "'referral_date.year > 2015'",
    ),
    (
        with_filter("eval('1') == 1"),
        "A1.yaml:22:11: numerator.filter: 'eval' is not part of the filter language in "
        "\"eval('1') == 1\"",
    ),
    (
        with_filter("__import__('os') == 1"),
        "A1.yaml:22:11: numerator.filter: '__import__' is not part of the filter language in "
        "\"__import__('os') == 1\"",
    ),
    (
        with_filter("previous_referal_date is not null"),
        "A1.yaml:22:11: numerator.filter: unknown column or derived field "
        "'previous_referal_date'; did you mean 'previous_referral_date'? in "
        "'previous_referal_date is not null'",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD_INPUTS)
def test_each_bad_input_is_a_located_error(tmp_path, text, message):
    code, lines = validate(tmp_path, text)
    assert code == 1
    assert lines == [message]


def test_unknown_keys_are_all_reported_with_a_suggestion(tmp_path):
    code, lines = validate(tmp_path, A1.replace("rounding: 0", "roundin: 0"))
    assert code == 1
    assert lines == [
        "A1.yaml:1:1: rounding: required field is missing",
        "A1.yaml:13:1: roundin: unknown field; did you mean 'rounding'?",
    ]


def test_json_format_for_ci(tmp_path):
    path = tmp_path / "A1.yaml"
    path.write_text(with_filter("eval('1') == 1"))
    result = CliRunner().invoke(cli, ["validate", str(path), "--format", "json"])
    assert result.exit_code == 1
    assert '"field": "numerator.filter"' in result.stdout
    assert '"line": 22' in result.stdout


# --- dump and reload ----------------------------------------------------------------------------

FILTERS = [
    None,
    "outcome == 'assessment'",
    "source in ['police', 'school'] and closure_date is null",
    "working_days_between(referral_date, coalesce(closure_date, date('2016-03-31'))) <= 45",
    "not (outcome == 'nfa' or source is null) and period_end >= add_months(referral_date, 3)",
]


@st.composite
def definitions(draw: st.DrawFn) -> Definition:
    unit = draw(st.sampled_from(["percent", "rate_per_10000", "mean", "ratio", "count"]))
    polarity = draw(st.sampled_from(["higher_is_better", "lower_is_better"]))
    window = draw(
        st.sampled_from(
            [
                {"type": "in_period"},
                {"type": "rolling", "months": 12},
                {"type": "financial_year_to_date"},
                {"type": "in_period", "lag_months": 1},
            ]
        )
    )
    style = draw(st.sampled_from(["year1", "year2", "none"]))
    low, high = sorted(draw(st.lists(st.integers(0, 100), min_size=2, max_size=2)))
    better, worse = (high, low) if polarity == "higher_is_better" else (low, high)
    rating: dict[str, object] = {
        "year1": {"target": better, "tolerance": worse},
        "year2": {"green": better, "amber": worse},
        "none": {"no_target": draw(st.sampled_from(["TBC", "TBC with HR"]))},
    }[style]
    counted: dict[str, object] = {"table": "referrals", "date": "referral_date"}
    chosen = draw(st.sampled_from(FILTERS))
    if chosen:
        counted["filter"] = chosen
    data: dict[str, object] = {
        "id": draw(st.from_regex(r"[A-Z][A-Z0-9]{0,5}", fullmatch=True)),
        "name": draw(st.text("abcdefghij ", min_size=3, max_size=30)).strip() or "name",
        "group": draw(st.sampled_from(["children_in_need", "children_in_care", "workforce"])),
        "contract": draw(st.booleans()),
        "description": "A generated definition for the round-trip property.",
        "source": "tests/test_validation.py: generated",
        "unit": unit,
        "rounding": draw(st.integers(0, 2)),
        "polarity": polarity,
        "frequency": draw(st.sampled_from(["monthly", "quarterly"])),
        "window": window,
        "rating": rating,
    }
    if unit == "count":
        data["numerator"] = counted
    else:
        data["denominator"] = counted
        data["numerator"] = {"filter": "closure_date is not null"}
    if len(str(data["name"])) < 3:
        data["name"] = "generated"
    return Definition.model_validate(data)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(definitions())
def test_definitions_survive_dump_and_reload(tmp_path, d):
    path = tmp_path / f"{d.id}.yaml"
    path.write_text(yaml.safe_dump(d.model_dump(mode="json", exclude_none=True), sort_keys=False))
    loaded, problems = load_definition_file(path)
    assert problems == []
    assert loaded == d
    assert loaded.content_hash() == d.content_hash()


# --- parameters: readings an authority may choose differently ------------------------------------


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        (
            "parameters:\n  lookback_months: 12\n  spare: 3\n",
            "A1.yaml:27:3: parameters.spare: declared but no filter, sum or date uses it",
        ),
        (
            "parameters:\n  lookback_months: 12\n  referral_date: 3\n",
            "A1.yaml:27:3: parameters.referral_date: 'referral_date' is a column of table "
            "referrals; name the parameter otherwise",
        ),
        (
            "parameters:\n  lookback_months: twelve\n",
            "A1.yaml:26:3: parameters.lookback_months: Input should be a valid number, unable to "
            "parse string as a number (got 'twelve')",
        ),
        (
            "parameters:\n  lookback_months: 12\n  add_months: 1\n",
            "A1.yaml:25:1: parameters: parameter name 'add_months' must be a lower-case word "
            "(a-z, 0-9, _) that is not a keyword, a function or period_end",
        ),
    ],
    ids=["unused", "a-column", "not-a-number", "a-function"],
)
def test_bad_parameters_are_located_errors(tmp_path, parameters, message):
    text = A1.split("parameters:")[0] + parameters
    code, lines = validate(tmp_path, text)
    assert code == 1
    assert message in lines, lines


def test_the_lookback_is_a_parameter_with_the_seeds_reading(tmp_path):
    # DfE re-referral rule: within 12 months of the previous referral (seed 001, A1)
    d = load_definition_file(definitions_root() / "contract-2016-17" / "A1.yaml")[0]
    assert d is not None and d.parameters == {"lookback_months": 12}
    assert "add_months(previous_referral_date, 12)" in (d.bound().numerator.filter or "")
    # an authority reading 24 months changes one visible number, and the hash with it
    path = tmp_path / "A1.yaml"
    path.write_text(A1.replace("lookback_months: 12", "lookback_months: 24"))
    longer, problems = load_definition_file(path)
    assert problems == [] and longer is not None
    assert "add_months(previous_referral_date, 24)" in (longer.bound().numerator.filter or "")
    assert (
        longer.content_hash()
        != load_definition_file(definitions_root() / "contract-2015-16" / "A1.yaml")[
            0
        ].content_hash()
    )
