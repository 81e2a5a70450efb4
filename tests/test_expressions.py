"""The expression language's limits and parameter substitution (kpi_engine.expressions)."""

from __future__ import annotations

import pytest

from kpi_engine.expressions import (
    MAX_DEPTH,
    ExpressionError,
    Literal_,
    depth,
    normalise,
    parse,
    substitute,
)


def test_parameters_are_written_in_token_by_token():
    text = "start_date <= add_years(previous_plan_end_date, lookback_years)"
    assert substitute(text, {"lookback_years": 2.0}) == (
        "start_date <= add_years(previous_plan_end_date, 2)"
    )
    # a name that merely contains the parameter's name, and a quoted word, are left alone
    assert substitute("lookback_years_2 == 'lookback_years'", {"lookback_years": 2.0}) == (
        "lookback_years_2 == 'lookback_years'"
    )
    # numbers as the language writes them: no exponent
    assert substitute("x > n", {"n": 0.00001}) == "x > 0.00001"
    assert substitute("x > n", {"n": -1.5}) == "x > -1.5"


def test_a_substituted_parameter_parses_as_the_literal():
    tree = parse(substitute("add_months(d, lookback_months)", {"lookback_months": 12.0}))
    assert normalise(tree) == "add_months(d, 12.0)"
    assert any(isinstance(n, Literal_) and n.value == 12.0 for n in tree.walk())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "(" * (MAX_DEPTH + 1) + "x" + ")" * (MAX_DEPTH + 1) + " > 1",
            "column 41: nested more than",
        ),
        ("not " * (MAX_DEPTH + 1) + "x", "column 161: nested more than 40 levels deep"),
        # the 39th '+' would make the tree 41 levels deep (comparison, 39 sums, a name)
        (" + ".join(["x"] * 40) + " > 1", "column 155: nested more than 40 levels deep, each"),
        ("x" * 4_001, "column 1: the expression is 4,001 characters long (limit 4,000)"),
    ],
    ids=["brackets", "not", "chain", "length"],
)
def test_past_a_limit_is_an_error_at_its_column(text, message):
    with pytest.raises(ExpressionError) as e:
        parse(text)
    assert str(e.value).startswith(message)


def test_within_the_limits_a_long_flat_filter_parses():
    text = " and ".join([f"x{i} > {i}" for i in range(150)])  # `and` is flat: one level
    assert depth(parse(text)) == 3
    chain = " + ".join(["x"] * 39) + " > 1"  # 38 operators: exactly the limit
    assert depth(parse(chain)) == MAX_DEPTH


def test_a_date_shift_beyond_a_hundred_years_is_an_error_or_null():
    from kpi_engine.expressions import check

    columns = {"d": "date", "n": "number"}
    text = "add_days(d, 99999) > d and add_years(d, -101) < d and add_months(d, n) > d"
    errors = [str(e) for e in check(parse(text), text, columns)]  # type: ignore[arg-type]
    assert errors == [
        "column 13: add_days() moves a date at most 36,600 days (got 99999)",
        "column 42: add_years() moves a date at most 100 years (got 101)",
    ]
    # from a column it cannot be checked before the run: such a date is null, never garbage
    import pandas as pd

    from kpi_engine.evaluate import evaluate

    frame = pd.DataFrame({"d": pd.to_datetime(["2015-01-31", "2015-01-31"]), "n": [1.0, 1e9]})
    shifted = evaluate(parse("add_months(d, n)"), frame)
    assert shifted.iloc[0] == pd.Timestamp("2015-02-28") and pd.isna(shifted.iloc[1])
    assert pd.isna(evaluate(parse("1 / 0"), frame))  # numpy's division: null, not a crash


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("d > date('2015-13-45')", "column 10: date() needs a real date from 1900 to 2250"),
        ("d > date('0001-01-01')", "column 10: date() needs a real date from 1900 to 2250"),
        ("coalesce(d, 1) > d", "column 1: coalesce() gives date or number: both values"),
        ("if_else(n > 1, 'a', 2) == 'a'", "column 1: if_else() gives string or number: both"),
    ],
)
def test_values_that_would_fail_at_run_time_are_definition_errors(text, message):
    from kpi_engine.expressions import check

    errors = [str(e) for e in check(parse(text), text, {"d": "date", "n": "number"})]
    assert any(e.startswith(message) for e in errors), errors
