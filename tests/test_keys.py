"""People ids coded once per extract (kpi_engine.keys): same answers as hashing the strings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpi_engine import keys
from kpi_engine.extract import ExtractError, load_extract

CHILDREN = "child_id,date_of_birth,sex,ethnicity,disabled\n"
PLANS = "cp_plan_id,child_id,start_date,end_date,category\n"
REFERRALS = "referral_id,child_id,referral_date,source,outcome,closure_date\n"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_every_table_codes_a_child_over_one_shared_list(tmp_path):
    write(tmp_path, "children.csv", CHILDREN + "c1,2010-01-01,F,,\nc2,2011-01-01,M,,\n")
    write(
        tmp_path, "cp_plans.csv", PLANS + "p1,c2,2015-01-05,,neglect\np2,c1,2015-02-05,,neglect\n"
    )
    write(
        tmp_path,
        "referrals.csv",
        REFERRALS + "r1,c2,2015-01-01,police,assessment,\nr2,c2,2015-03-01,police,nfa,\n",
    )
    tables = load_extract(tmp_path).tables
    ids = [tables[t]["child_id"] for t in ("children", "cp_plans", "referrals")]
    assert keys.shared_categories(*ids) is not None
    # every reference resolves: the union is the children table's own list, in its order
    assert list(ids[0].cat.categories) == ["c1", "c2"]
    assert [list(i.cat.codes) for i in ids] == [[0, 1], [1, 0], [1, 1]]
    assert list(ids[1]) == ["c2", "c1"]  # the values read are still the ids


def test_a_dangling_id_keeps_its_own_code_and_is_still_a_warning(tmp_path):
    write(tmp_path, "children.csv", CHILDREN + "c1,2010-01-01,F,,\n")
    plans = write(tmp_path, "cp_plans.csv", PLANS + "p1,c9,2015-01-05,,neglect\n")
    extract = load_extract(tmp_path)
    children, cp = extract.tables["children"]["child_id"], extract.tables["cp_plans"]["child_id"]
    assert keys.shared_categories(children, cp) is not None
    assert list(cp) == ["c9"] and list(children) == ["c1"]
    assert keys.positions(cp, children).tolist() == [-1]
    assert [str(p) for p in extract.problems] == [
        f"{plans}:2: child_id: no such child_id in children (got 'c9')"
    ]


def test_ids_are_trimmed_before_they_are_coded_and_an_empty_id_is_missing(tmp_path):
    write(tmp_path, "children.csv", CHILDREN + "c1,2010-01-01,F,,\n")
    plans = write(
        tmp_path,
        "cp_plans.csv",
        PLANS
        + "p1, c1 ,2015-01-05,,neglect\np2,c1,2015-02-05,,neglect\np3,  ,2015-03-05,,neglect\n",
    )
    with pytest.raises(ExtractError) as e:
        load_extract(tmp_path)
    assert [str(p) for p in e.value.problems] == [
        f"{plans}:4: child_id: a value is required (got '  ')"
    ]
    extract = load_extract(tmp_path, strict=False)
    cp = extract.tables["cp_plans"]["child_id"]
    assert cp.iloc[0] == cp.iloc[1] == "c1" and pd.isna(cp.iloc[2])
    codes = cp.cat.codes.tolist()
    assert codes[0] == codes[1] == extract.tables["children"]["child_id"].cat.codes[0]
    assert codes[2] == -1


def test_numeric_ids_in_parquet_are_text(tmp_path):
    pq.write_table(
        pa.table(
            {
                "cp_plan_id": ["p1", "p2"],
                "child_id": pa.array([1001, 1002], pa.int64()),
                "start_date": pa.array([pd.Timestamp("2015-01-05")] * 2, pa.date32()),
                "end_date": pa.array([None, None], pa.date32()),
                "category": ["neglect", "physical"],
            }
        ),
        tmp_path / "cp_plans.parquet",
    )
    child = load_extract(tmp_path).tables["cp_plans"]["child_id"]
    assert list(child) == ["1001", "1002"]


def test_a_repeated_coded_key_is_a_located_duplicate(tmp_path):
    path = write(tmp_path, "children.csv", CHILDREN + "c1,2010-01-01,F,,\nc1,2011-01-01,M,,\n")
    with pytest.raises(ExtractError) as e:
        load_extract(tmp_path)
    assert [str(p) for p in e.value.problems] == [
        f"{path}:3: child_id: duplicate key (got 'c1'; keys must be unique)"
    ]


ids = st.lists(st.sampled_from(["a", "b", "c", "d", None]), max_size=12)


@settings(max_examples=150, deadline=None)
@given(values=ids, key_list=st.lists(st.sampled_from(["a", "b", "c", "e"]), max_size=6))
def test_coded_lookups_agree_with_hashing_the_strings(values, key_list):
    plain = {
        "children": pd.DataFrame({"child_id": pd.Series(key_list, dtype="str")}),
        "cp_plans": pd.DataFrame({"child_id": pd.Series(values, dtype="str")}),
    }
    coded = keys.as_shared(plain)
    a, b = plain["cp_plans"]["child_id"], plain["children"]["child_id"]
    ca, cb = coded["cp_plans"]["child_id"], coded["children"]["child_id"]
    assert keys.shared_categories(ca, cb) is not None
    assert keys.positions(ca, cb).tolist() == keys.positions(a, b).tolist()
    # codes may differ; which rows share an id may not
    plain_codes, coded_codes = keys.codes(a, b), keys.codes(ca, cb)
    joined_plain = np.concatenate(plain_codes)
    joined_coded = np.concatenate(coded_codes)
    same_plain = joined_plain[:, None] == joined_plain[None, :]
    same_coded = joined_coded[:, None] == joined_coded[None, :]
    assert (same_plain == same_coded).all()
    assert ((joined_plain == -1) == (joined_coded == -1)).all()
    assert list(ca.astype(object).where(ca.notna(), None)) == values


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=12),
    st.lists(st.sampled_from(["a", "b", "c", "e", None]), max_size=12),
)
def test_text_keys_are_found_at_their_first_row(key_list, value_list):
    # the Arrow lookup for text columns (referral ids) against a plain reading of the rule:
    # each value's first equal key, -1 for none and for a missing value
    keys_ = pd.Series(key_list, dtype="str")
    values = pd.Series(value_list, dtype="str")
    expected = [key_list.index(v) if v in key_list else -1 for v in value_list]
    assert keys.positions(values, keys_).tolist() == expected


def test_rows_joined_by_codes_are_those_pandas_joins():
    # keys.concat_rows joins a column coded over one shared list as its codes (pandas would
    # hash the list to check it is shared); every other column, and frames whose columns
    # differ, as pandas does
    dtype = keys.distinct_dtype(pd.Index(["c1", "c2", "c3"], dtype="str"))
    first = pd.DataFrame(
        {
            "n": [1, 2],
            "child_id": pd.Categorical.from_codes([0, 2], dtype=dtype),
            "day": pd.to_datetime(["2016-01-01", None]),
        },
        index=[5, 9],
    )
    second = pd.DataFrame(
        {"n": [3], "child_id": pd.Categorical.from_codes([-1], dtype=dtype), "day": [pd.NaT]}
    )
    joined = keys.concat_rows([first, second])
    pd.testing.assert_frame_equal(joined, pd.concat([first, second], ignore_index=True))
    assert joined["child_id"].dtype is dtype
    assert joined["child_id"].tolist()[:2] == ["c1", "c3"] and pd.isna(joined["child_id"][2])
    other = second.drop(columns="day")
    pd.testing.assert_frame_equal(
        keys.concat_rows([first, other]), pd.concat([first, other], ignore_index=True)
    )
