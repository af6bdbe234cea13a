"""`cairn data validate` end to end: the real binary against results computed with pandas the way Great
Expectations' pandas backend computes them (see data_helpers.py for the definitions), exit codes,
malformed input, multi-file inputs, other formats and the report files.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cairn_helpers import cairn_bin
from data_helpers import (
    aggregate_reference,
    assert_result,
    between_ok,
    map_reference,
    most_common,
    nonnull,
    quantiles_nearest,
    run_cairn,
    suite_yaml,
    validate,
    within,
    write_csv,
)

RNG_SEED = 7
TABLE_COLUMNS = ["id", "k", "x", "cat", "code", "day", "payload", "y", "dup"]


def frame_numbers(n: int = 200, seed: int = RNG_SEED) -> pd.DataFrame:
    """A small mixed table: ints, floats with nulls and outliers, strings, dates, JSON (first n of 200 rows)."""
    return _frame(200, seed).head(n)


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = np.round(rng.normal(10, 3, n), 3)
    x[rng.choice(n, 9, replace=False)] = np.nan
    x[5] = 95.5  # an outlier
    cats = np.array(["a", "b", "c", "d"], dtype=object)[rng.integers(0, 4, n)]
    cats[[3, 77]] = "zz"
    codes = [f"AB-{v:04d}" for v in rng.integers(0, 10_000, n)]
    codes[10] = "AB-12x4"
    codes[150] = "xAB-0001"
    days = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D")
    dates = [d.strftime("%Y-%m-%d") for d in days]
    dates[20] = "2024-13-01"
    dates[21] = "not a date"
    payload = [json.dumps({"k": int(v)}) for v in rng.integers(0, 9, n)]
    payload[33] = "{broken"
    ints = rng.integers(0, 50, n)
    return pd.DataFrame({
        "id": np.arange(n),
        "k": ints,
        "x": x,
        "cat": cats,
        "code": codes,
        "day": dates,
        "payload": payload,
        "y": np.round(x + rng.normal(0, 1, n), 3),
        "dup": ints % 37,
    })


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """The table written as CSV, and pandas' reading of it (what GE validates)."""
    path = tmp_path_factory.mktemp("data") / "table.csv"
    write_csv(frame_numbers(), path)
    return path, pd.read_csv(path)


# Each case: (id, expectation, reference(df) -> expected dict).
CASES = [
    # --- table
    ("row_count_between_pass", {"type": "expect_table_row_count_to_be_between", "min_value": 10, "max_value": 500},
     lambda df: aggregate_reference(True, len(df))),
    ("row_count_between_fail", {"type": "expect_table_row_count_to_be_between", "max_value": 100},
     lambda df: aggregate_reference(False, len(df))),
    ("row_count_equal", {"type": "expect_table_row_count_to_equal", "value": 200},
     lambda df: aggregate_reference(True, len(df))),
    ("row_count_equal_fail", {"type": "expect_table_row_count_to_equal", "value": 199},
     lambda df: aggregate_reference(False, len(df))),
    ("columns_match_set_exact_fail",
     {"type": "expect_table_columns_to_match_set", "column_set": ["id", "k", "x"], "exact_match": True},
     lambda df: aggregate_reference(False, sorted(df.columns))),
    ("columns_match_set_subset",
     {"type": "expect_table_columns_to_match_set", "column_set": ["id", "k", "x"], "exact_match": False},
     lambda df: aggregate_reference(True, sorted(df.columns))),
    ("columns_match_ordered_list",
     {"type": "expect_table_columns_to_match_ordered_list", "column_list": TABLE_COLUMNS},
     lambda df: aggregate_reference(True, list(df.columns))),
    ("columns_match_ordered_list_swapped",
     {"type": "expect_table_columns_to_match_ordered_list",
      "column_list": ["k", "id", *TABLE_COLUMNS[2:]]},
     lambda df: aggregate_reference(False, list(df.columns))),
    ("column_count_equal", {"type": "expect_table_column_count_to_equal", "value": 9},
     lambda df: aggregate_reference(True, 9)),
    ("column_count_equal_fail", {"type": "expect_table_column_count_to_equal", "value": 3},
     lambda df: aggregate_reference(False, 9)),
    ("column_to_exist", {"type": "expect_column_to_exist", "column": "code"}, lambda df: {"success": True}),
    ("column_to_exist_fail", {"type": "expect_column_to_exist", "column": "nope"}, lambda df: {"success": False}),
    # --- types (GE on pandas: the dtype's name)
    ("of_type_int", {"type": "expect_column_values_to_be_of_type", "column": "k", "type_": "int64"},
     lambda df: aggregate_reference(True, df["k"].dtype.type.__name__)),
    ("of_type_float_fail", {"type": "expect_column_values_to_be_of_type", "column": "x", "type_": "int64"},
     lambda df: aggregate_reference(False, df["x"].dtype.type.__name__)),
    ("in_type_list", {"type": "expect_column_values_to_be_in_type_list", "column": "x",
                      "type_list": ["int64", "float64"]},
     lambda df: aggregate_reference(True, df["x"].dtype.type.__name__)),
    # --- nulls
    ("not_null_fail", {"type": "expect_column_values_to_not_be_null", "column": "x"},
     lambda df: map_reference(df["x"], lambda s: s.notna(), nulls_considered=True)),
    ("not_null_mostly", {"type": "expect_column_values_to_not_be_null", "column": "x", "mostly": 0.95},
     lambda df: map_reference(df["x"], lambda s: s.notna(), mostly=0.95, nulls_considered=True)),
    ("be_null_fail", {"type": "expect_column_values_to_be_null", "column": "x"},
     lambda df: map_reference(df["x"], lambda s: s.isna(), nulls_considered=True)),
    # --- uniqueness
    ("unique_fail", {"type": "expect_column_values_to_be_unique", "column": "dup"},
     lambda df: map_reference(df["dup"], lambda s: ~s.duplicated(keep=False))),
    ("unique_pass", {"type": "expect_column_values_to_be_unique", "column": "id"},
     lambda df: map_reference(df["id"], lambda s: ~s.duplicated(keep=False))),
    ("unique_with_nulls", {"type": "expect_column_values_to_be_unique", "column": "x", "mostly": 0.5},
     lambda df: map_reference(df["x"], lambda s: ~s.duplicated(keep=False), mostly=0.5)),
    ("compound_unique", {"type": "expect_compound_columns_to_be_unique", "column_list": ["cat", "dup"]},
     lambda df: {k: v for k, v in map_reference(df["cat"] + "|" + df["dup"].astype(str),
                                                 lambda s: ~s.duplicated(keep=False)).items()
                 if k in ("success", "element_count", "unexpected_count", "partial_unexpected_index_list")}),
    # --- ranges and sets
    ("between", {"type": "expect_column_values_to_be_between", "column": "x", "min_value": 5, "max_value": 15},
     lambda df: map_reference(df["x"], between_ok(5, 15))),
    ("between_mostly", {"type": "expect_column_values_to_be_between", "column": "x", "min_value": 3,
                        "max_value": 17, "mostly": 0.9},
     lambda df: map_reference(df["x"], between_ok(3, 17), mostly=0.9)),
    ("between_strict", {"type": "expect_column_values_to_be_between", "column": "k", "min_value": 0,
                        "max_value": 49, "strict_min": True, "strict_max": True},
     lambda df: map_reference(df["k"], between_ok(0, 49, True, True))),
    ("between_min_only", {"type": "expect_column_values_to_be_between", "column": "k", "min_value": 10},
     lambda df: map_reference(df["k"], between_ok(10, None))),
    ("in_set", {"type": "expect_column_values_to_be_in_set", "column": "cat", "value_set": ["a", "b", "c", "d"]},
     lambda df: map_reference(df["cat"], lambda s: s.isin(["a", "b", "c", "d"]))),
    ("in_set_numbers", {"type": "expect_column_values_to_be_in_set", "column": "k", "value_set": list(range(0, 40))},
     lambda df: map_reference(df["k"], lambda s: s.isin(list(range(0, 40))))),
    ("not_in_set", {"type": "expect_column_values_to_not_be_in_set", "column": "cat", "value_set": ["zz", "b"]},
     lambda df: map_reference(df["cat"], lambda s: ~s.isin(["zz", "b"]))),
    ("match_regex", {"type": "expect_column_values_to_match_regex", "column": "code", "regex": r"^AB-\d{4}$"},
     lambda df: map_reference(df["code"], lambda s: s.astype(str).str.contains(r"^AB-\d{4}$"))),
    ("match_regex_is_a_search", {"type": "expect_column_values_to_match_regex", "column": "code", "regex": r"\d{4}"},
     lambda df: map_reference(df["code"], lambda s: s.astype(str).str.contains(r"\d{4}"))),
    ("not_match_regex", {"type": "expect_column_values_to_not_match_regex", "column": "code", "regex": "x"},
     lambda df: map_reference(df["code"], lambda s: ~s.astype(str).str.contains("x"))),
    ("lengths_between", {"type": "expect_column_value_lengths_to_be_between", "column": "cat",
                         "min_value": 1, "max_value": 1},
     lambda df: map_reference(df["cat"], lambda s: s.astype(str).str.len().between(1, 1))),
    ("lengths_equal", {"type": "expect_column_value_lengths_to_equal", "column": "code", "value": 7},
     lambda df: map_reference(df["code"], lambda s: s.astype(str).str.len() == 7)),
    # --- order (non-null values in row order)
    ("increasing_fail", {"type": "expect_column_values_to_be_increasing", "column": "x"},
     lambda df: map_reference(df["x"], lambda s: (s.diff() >= 0) | s.diff().isna())),
    ("increasing_pass", {"type": "expect_column_values_to_be_increasing", "column": "id", "strictly": True},
     lambda df: map_reference(df["id"], lambda s: (s.diff() > 0) | s.diff().isna())),
    ("decreasing_fail", {"type": "expect_column_values_to_be_decreasing", "column": "k"},
     lambda df: map_reference(df["k"], lambda s: (s.diff() <= 0) | s.diff().isna())),
    # --- parsing
    ("strftime", {"type": "expect_column_values_to_match_strftime_format", "column": "day",
                  "strftime_format": "%Y-%m-%d"},
     lambda df: map_reference(df["day"], lambda s: s.map(_strptime_ok("%Y-%m-%d")))),
    ("dateutil", {"type": "expect_column_values_to_be_dateutil_parseable", "column": "day"},
     lambda df: map_reference(df["day"], lambda s: s.map(_dateutil_ok))),
    ("json", {"type": "expect_column_values_to_be_json_parseable", "column": "payload"},
     lambda df: map_reference(df["payload"], lambda s: s.map(_json_ok))),
    # --- z-scores (mean and ddof=1 std of the non-null values)
    ("z_scores", {"type": "expect_column_value_z_scores_to_be_less_than", "column": "x", "threshold": 3,
                  "double_sided": True},
     lambda df: map_reference(df["x"], lambda s: ((s - s.mean()) / s.std()).abs() < 3)),
    ("z_scores_one_sided", {"type": "expect_column_value_z_scores_to_be_less_than", "column": "x",
                            "threshold": 1, "double_sided": False, "mostly": 0.5},
     lambda df: map_reference(df["x"], lambda s: ((s - s.mean()) / s.std()) < 1, mostly=0.5)),
    # --- column pairs (no nulls in these columns)
    ("pair_equal", {"type": "expect_column_pair_values_to_be_equal", "column_A": "k", "column_B": "dup"},
     lambda df: _pair(df, df["k"] == df["dup"])),
    ("pair_a_greater", {"type": "expect_column_pair_values_a_to_be_greater_than_b", "column_A": "k",
                        "column_B": "dup"},
     lambda df: _pair(df, df["k"] > df["dup"])),
    ("pair_a_greater_or_equal", {"type": "expect_column_pair_values_a_to_be_greater_than_b", "column_A": "k",
                                 "column_B": "dup", "or_equal": True},
     lambda df: _pair(df, df["k"] >= df["dup"])),
    # --- aggregates
    ("mean", {"type": "expect_column_mean_to_be_between", "column": "x", "min_value": 9, "max_value": 12},
     lambda df: aggregate_reference(within(nonnull(df["x"]).mean(), 9, 12), nonnull(df["x"]).mean())),
    ("mean_int_fail", {"type": "expect_column_mean_to_be_between", "column": "k", "max_value": 10},
     lambda df: aggregate_reference(False, df["k"].mean())),
    ("median_even", {"type": "expect_column_median_to_be_between", "column": "k", "min_value": 0, "max_value": 100},
     lambda df: aggregate_reference(True, float(df["k"].median()))),
    ("median_odd_nulls", {"type": "expect_column_median_to_be_between", "column": "x", "min_value": 0,
                          "max_value": 1},
     lambda df: aggregate_reference(False, nonnull(df["x"]).median())),
    ("quantiles", {"type": "expect_column_quantile_values_to_be_between", "column": "x",
                   "quantile_ranges": {"quantiles": [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0],
                                       "value_ranges": [[None, None]] * 6 + [[0, 50]]}},
     lambda df: aggregate_reference(False, {"quantiles": [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0],
                                            "values": quantiles_nearest(df["x"], [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0])})),
    ("stdev", {"type": "expect_column_stdev_to_be_between", "column": "x", "min_value": 1, "max_value": 100},
     lambda df: aggregate_reference(True, nonnull(df["x"]).std())),
    ("sum", {"type": "expect_column_sum_to_be_between", "column": "k", "min_value": 0, "max_value": 1000},
     lambda df: aggregate_reference(int(df["k"].sum()) <= 1000, int(df["k"].sum()))),
    ("min", {"type": "expect_column_min_to_be_between", "column": "x", "min_value": -100, "max_value": 100},
     lambda df: aggregate_reference(True, nonnull(df["x"]).min())),
    ("max_fail", {"type": "expect_column_max_to_be_between", "column": "x", "max_value": 50},
     lambda df: aggregate_reference(False, nonnull(df["x"]).max())),
    ("unique_value_count", {"type": "expect_column_unique_value_count_to_be_between", "column": "cat",
                            "min_value": 5, "max_value": 5},
     lambda df: aggregate_reference(True, int(df["cat"].nunique()))),
    ("proportion_unique", {"type": "expect_column_proportion_of_unique_values_to_be_between", "column": "dup",
                           "min_value": 0.5},
     lambda df: aggregate_reference(df["dup"].nunique() / df["dup"].notna().sum() >= 0.5,
                                    df["dup"].nunique() / df["dup"].notna().sum())),
    ("proportion_unique_nulls", {"type": "expect_column_proportion_of_unique_values_to_be_between", "column": "x",
                                 "min_value": 0.5},
     lambda df: aggregate_reference(True, df["x"].nunique() / df["x"].notna().sum())),
    ("most_common_in_set", {"type": "expect_column_most_common_value_to_be_in_set", "column": "cat",
                            "value_set": most_common(frame_numbers()["cat"])},
     lambda df: aggregate_reference(len(most_common(df["cat"])) == 1, most_common(df["cat"]))),
    ("most_common_not_in_set", {"type": "expect_column_most_common_value_to_be_in_set", "column": "cat",
                                "value_set": ["zz"]},
     lambda df: aggregate_reference(False, most_common(df["cat"]))),
    ("distinct_in_set_fail", {"type": "expect_column_distinct_values_to_be_in_set", "column": "cat",
                              "value_set": ["a", "b", "c", "d"]},
     lambda df: {"success": False}),
    ("distinct_contain_set", {"type": "expect_column_distinct_values_to_contain_set", "column": "cat",
                              "value_set": ["a", "zz"]},
     lambda df: {"success": True}),
    ("distinct_contain_set_fail", {"type": "expect_column_distinct_values_to_contain_set", "column": "cat",
                                   "value_set": ["a", "q"]},
     lambda df: {"success": False}),
    ("distinct_equal_set", {"type": "expect_column_distinct_values_to_equal_set", "column": "cat",
                            "value_set": ["a", "b", "c", "d", "zz"]},
     lambda df: {"success": True}),
    ("distinct_equal_set_fail", {"type": "expect_column_distinct_values_to_equal_set", "column": "cat",
                                 "value_set": ["a", "b", "c", "d"]},
     lambda df: {"success": False}),
]


def _strptime_ok(fmt: str):
    from datetime import datetime

    def ok(value) -> bool:
        try:
            datetime.strptime(str(value), fmt)
            return True
        except ValueError:
            return False
    return ok


def _dateutil_ok(value) -> bool:
    from dateutil.parser import parse

    try:
        parse(str(value))
        return True
    except (ValueError, OverflowError):
        return False


def _json_ok(value) -> bool:
    try:
        json.loads(value)
        return True
    except ValueError:
        return False


def _pair(df: pd.DataFrame, ok: pd.Series) -> dict:
    bad = ok[~ok]
    return {"success": bool(ok.all()), "element_count": len(df), "unexpected_count": int((~ok).sum()),
            "partial_unexpected_index_list": [int(i) for i in bad.index[:20]]}


@pytest.mark.parametrize("case_id,expectation,reference", CASES, ids=[c[0] for c in CASES])
def test_expectation_matches_pandas_reference(tmp_path, table, case_id, expectation, reference):
    path, df = table
    run = validate(tmp_path, path, [expectation])
    expected = reference(df)
    assert run.code == (0 if expected["success"] else 1), run.stderr
    assert run.doc["row_count"] == len(df)
    assert run.doc["success"] is expected["success"]
    entry = run.result(0)
    assert entry["expectation_type"] == expectation["type"]
    assert_result(entry, expected)


def test_whole_suite_statistics_and_order(tmp_path, table):
    """All cases in one suite: one result per expectation, in suite order, and GE's statistics block."""
    path, df = table
    expectations = [c[1] for c in CASES]
    run = validate(tmp_path, path, expectations, name="everything")
    expected = [c[2](df) for c in CASES]
    assert run.code == 1, run.stderr
    doc = run.doc
    assert doc["suite"] == "everything"
    assert doc["success"] is False
    assert [r["expectation_type"] for r in doc["results"]] == [e["type"] for e in expectations]
    for entry, want in zip(doc["results"], expected):
        assert_result(entry, want)
    n_ok = sum(1 for e in expected if e["success"])
    stats = doc["statistics"]
    assert stats["evaluated_expectations"] == len(expectations)
    assert stats["successful_expectations"] == n_ok
    assert stats["unsuccessful_expectations"] == len(expectations) - n_ok
    assert stats["success_percent"] == pytest.approx(n_ok / len(expectations) * 100, rel=1e-9)


# ---------------------------------------------------------------------------------------------------------
# mostly, max_unexpected_count, distinct-value results

def test_mostly_counts_non_null_values_only(tmp_path):
    """10 rows, 5 null, 1 of the 5 values out of range: 80 % of the non-null values pass (GE's
    definition), 90 % of all rows would; mostly=0.85 must fail, mostly=0.8 must pass."""
    path = tmp_path / "m.csv"
    path.write_text("v\n1\nNA\n2\nNA\n3\nNA\n4\nNA\n99\nNA\n")
    df = pd.read_csv(path)
    assert len(df) == 10 and df["v"].isna().sum() == 5
    fail = validate(tmp_path, path, [{"type": "expect_column_values_to_be_between", "column": "v",
                                      "min_value": 0, "max_value": 10, "mostly": 0.85}])
    assert fail.code == 1
    assert_result(fail.result(), map_reference(df["v"], between_ok(0, 10), mostly=0.85))
    r = fail.result()["result"]
    assert r["unexpected_percent"] == pytest.approx(20.0)
    assert r["missing_count"] == 5 and r["element_count"] == 10
    assert r["partial_unexpected_index_list"] == [8]
    ok = validate(tmp_path, path, [{"type": "expect_column_values_to_be_between", "column": "v",
                                    "min_value": 0, "max_value": 10, "mostly": 0.8}])
    assert ok.code == 0, ok.stderr
    assert ok.result()["success"] is True


def test_all_null_column_is_vacuously_true(tmp_path):
    path = tmp_path / "n.csv"
    path.write_text("v,w\n,1\nNA,2\nnull,3\n")
    run = validate(tmp_path, path, [{"type": "expect_column_values_to_be_between", "column": "v",
                                     "min_value": 0, "max_value": 1}])
    assert run.code == 0, run.stderr
    r = run.result()["result"]
    assert (r["element_count"], r["missing_count"], r["unexpected_count"]) == (3, 3, 0)


@pytest.mark.parametrize("limit,code", [(2, 1), (3, 0)])
def test_max_unexpected_count(tmp_path, limit, code):
    path = tmp_path / "u.csv"
    path.write_text("v\n" + "\n".join(str(v) for v in [1, 2, 50, 3, 60, 70, 4]) + "\n")
    run = validate(tmp_path, path, [{"type": "expect_column_values_to_be_between", "column": "v",
                                     "min_value": 0, "max_value": 10, "max_unexpected_count": limit}])
    assert run.code == code, run.stderr
    assert run.result()["result"]["unexpected_count"] == 3
    assert run.result()["result"]["partial_unexpected_index_list"] == [2, 4, 5]


@pytest.mark.parametrize("kind,value_set", [
    ("expect_column_distinct_values_to_be_in_set", ["a", "b", "c", "d"]),
    ("expect_column_distinct_values_to_be_in_set", ["a", "b", "c", "d", "zz", "q"]),
    ("expect_column_distinct_values_to_contain_set", ["a", "q", "r"]),
    ("expect_column_distinct_values_to_contain_set", ["a", "zz"]),
    ("expect_column_distinct_values_to_equal_set", ["a", "b", "c", "q"]),
    ("expect_column_distinct_values_to_equal_set", ["a", "b", "c", "d", "zz"]),
])
def test_distinct_value_sets_in_ge_1x_shape(tmp_path, table, kind, value_set):
    """GE 1.x (checked against 1.24.1) reports the distinct-value set expectations by their offending
    values: `unexpected_count` / `partial_unexpected_list` = distinct values outside the set (in_set,
    equal_set), `missing_count` / `partial_missing_list` = values of the set absent from the data
    (contain_set, equal_set); observed_value is None (older GE: the sorted distinct values; either is
    accepted). Partial lists are compared as sets (GE's order is a set's)."""
    path, df = table
    distinct = set(nonnull(df["cat"]).unique().tolist())
    outside = sorted(distinct - set(value_set))
    absent = sorted(set(value_set) - distinct)
    run = validate(tmp_path, path, [{"type": kind, "column": "cat", "value_set": value_set}])
    r = run.result()["result"]
    assert r.get("observed_value") in (None, sorted(distinct)), r
    problems = []
    in_set, contain, equal = (kind == f"expect_column_distinct_values_to_{k}_set" for k in ("be_in", "contain", "equal"))
    if in_set or equal:
        if r.get("unexpected_count") != len(outside):
            problems.append(f"unexpected_count: expected {len(outside)}, cairn {r.get('unexpected_count')!r}")
        if sorted(r.get("partial_unexpected_list") or []) != outside:
            problems.append(f"partial_unexpected_list: expected {outside}, cairn {r.get('partial_unexpected_list')!r}")
    if contain or equal:
        if r.get("missing_count") != len(absent):
            problems.append(f"missing_count: expected {len(absent)}, cairn {r.get('missing_count')!r}")
        if sorted(r.get("partial_missing_list") or []) != absent:
            problems.append(f"partial_missing_list: expected {absent}, cairn {r.get('partial_missing_list')!r}")
    success = not outside if in_set else not absent if contain else not outside and not absent
    if run.result()["success"] is not success:
        problems.append(f"success: expected {success}, cairn {run.result()['success']}")
    assert not problems, "\n".join(problems)


def test_partial_lists_hold_at_most_20_in_row_order(tmp_path):
    values = list(range(100))
    path = tmp_path / "p.csv"
    path.write_text("v\n" + "\n".join(map(str, values)) + "\n")
    run = validate(tmp_path, path, [{"type": "expect_column_values_to_be_between", "column": "v",
                                     "max_value": 49}])
    r = run.result()["result"]
    assert r["unexpected_count"] == 50
    assert r["partial_unexpected_index_list"] == list(range(50, 70))
    assert [float(v) for v in r["partial_unexpected_list"]] == [float(v) for v in range(50, 70)]


def test_outliers_iqr(tmp_path):
    """cairn's expect_column_values_to_not_be_outliers (IQR fences): one gross outlier among normal values."""
    rng = np.random.default_rng(3)
    v = np.round(rng.normal(0, 1, 400), 4)
    v[123] = 40.0
    v[321] = -35.0
    path = write_csv(pd.DataFrame({"v": v}), tmp_path / "o.csv")
    q1, q3 = np.percentile(v, [25, 75])
    fence_lo, fence_hi = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
    expected_rows = [i for i, value in enumerate(v) if value < fence_lo or value > fence_hi]
    assert 123 in expected_rows and 321 in expected_rows
    run = validate(tmp_path, path, [{"type": "expect_column_values_to_not_be_outliers", "column": "v",
                                     "method": "iqr"}])
    assert run.code == 1, run.stderr
    r = run.result()["result"]
    # Quartile interpolation may move a fence slightly; the gross outliers must be found, and not much more.
    assert {123, 321} <= set(r["partial_unexpected_index_list"])
    assert abs(r["unexpected_count"] - len(expected_rows)) <= 2, (r["unexpected_count"], expected_rows)


# ---------------------------------------------------------------------------------------------------------
# Exit codes and bad input

def test_exit_0_when_everything_holds(tmp_path, table):
    path, _ = table
    run = validate(tmp_path, path, [{"type": "expect_column_values_to_not_be_null", "column": "id"},
                                    {"type": "expect_table_row_count_to_equal", "value": 200}])
    assert run.code == 0, run.stderr
    assert run.doc["success"] is True
    assert run.doc["statistics"]["success_percent"] == pytest.approx(100.0)


def test_exit_2_on_missing_data_file(tmp_path):
    run = validate(tmp_path, tmp_path / "absent.csv", [{"type": "expect_table_row_count_to_equal", "value": 1}])
    assert run.code == 2
    assert "absent.csv" in run.stderr


@pytest.mark.parametrize("text,needle", [
    ("version: 1\nname: x\nexpectations:\n  - type: expect_column_values_to_be_between\n    column: [\n", "suite"),
    ("version: 1\nname: x\nexpectations:\n  - type: expect_nonsense_thing\n    column: a\n", "expect_nonsense_thing"),
    ("version: 7\nname: x\nexpectations: []\n", "version"),
])
def test_exit_2_on_bad_suite(tmp_path, text, needle):
    data = tmp_path / "d.csv"
    data.write_text("a\n1\n")
    suite = tmp_path / "bad.yaml"
    suite.write_text(text)
    done = run_cairn(["data", "validate", "--suite", str(suite), str(data)])
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert needle in done.stderr
    assert "panicked" not in done.stderr


def test_exit_2_on_missing_suite_file(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("a\n1\n")
    done = run_cairn(["data", "validate", "--suite", str(tmp_path / "nope.yaml"), str(data)])
    assert done.returncode == 2
    assert "nope.yaml" in done.stderr


@pytest.mark.parametrize("name,content,line,pandas_refuses", [
    ("ragged.csv", b"a,b\n1,2\n3,4,5\n6,7\n", 3, True),
    ("short.csv", b"a,b,c\n1,2,3\n4,5,6\n7,8\n", 4, False),  # pandas pads with NaN; cairn calls it ragged
    ("quote.csv", b"a,b\n1,2\n3,\"unterminated\n4,5\n", 3, True),
    ("latin1.csv", b"a,b\n1,ok\n2,caf\xe9\n", 3, True),
])
def test_malformed_rows_exit_2_naming_file_and_line(tmp_path, name, content, line, pandas_refuses):
    """Ragged rows, an unterminated quote, bytes that are not UTF-8: exit 2, naming file and line."""
    path = tmp_path / name
    path.write_bytes(content)
    if pandas_refuses:
        with pytest.raises(Exception):
            pd.read_csv(path, encoding="utf-8")  # the reference refuses the file too
    run = validate(tmp_path, path, [{"type": "expect_table_row_count_to_be_between", "min_value": 0}])
    assert run.code == 2, (run.code, run.stdout, run.stderr)
    assert f"{name}:{line}" in run.stderr, run.stderr


def test_empty_file_exit_2(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    run = validate(tmp_path, path, [{"type": "expect_table_row_count_to_be_between", "min_value": 0}])
    assert run.code == 2
    assert "empty.csv" in run.stderr


def test_header_only_is_a_table_of_zero_rows(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("a,b\n")
    assert len(pd.read_csv(path)) == 0
    run = validate(tmp_path, path, [
        {"type": "expect_table_row_count_to_equal", "value": 0},
        {"type": "expect_table_columns_to_match_ordered_list", "column_list": ["a", "b"]},
        {"type": "expect_column_values_to_not_be_null", "column": "a"},
        {"type": "expect_column_values_to_be_between", "column": "b", "min_value": 0},
    ])
    assert run.code == 0, run.stderr
    assert run.doc["row_count"] == 0
    assert run.result(0)["result"]["observed_value"] == 0
    assert run.result(2)["result"]["element_count"] == 0
    assert run.result(2)["result"]["unexpected_count"] == 0


def test_missing_column_is_a_failed_expectation_not_a_crash(tmp_path, table):
    path, _ = table
    run = validate(tmp_path, path, [
        {"type": "expect_column_values_to_not_be_null", "column": "no_such_column"},
        {"type": "expect_column_mean_to_be_between", "column": "also_missing", "min_value": 0},
        {"type": "expect_table_row_count_to_equal", "value": 200},
    ])
    assert run.code == 1, (run.code, run.stderr)
    for n, column in [(0, "no_such_column"), (1, "also_missing")]:
        entry = run.result(n)
        assert entry["success"] is False
        assert entry["exception_info"]["raised_exception"] is True
        assert column in entry["exception_info"]["exception_message"]
    assert run.result(2)["success"] is True
    assert run.doc["statistics"]["unsuccessful_expectations"] == 2


def test_mixed_types_in_a_numeric_column(tmp_path):
    """Non-numeric text in a numeric column: counted as unexpected by numeric checks, not an error."""
    path = tmp_path / "mixed.csv"
    path.write_text("v\n1\n2.5\nabc\n\n7\nx1\n100\n")
    df = pd.read_csv(path)
    run = validate(tmp_path, path, [{"type": "expect_column_values_to_be_between", "column": "v",
                                     "min_value": 0, "max_value": 10}])
    assert run.code == 1, run.stderr
    expected = map_reference(df["v"], between_ok(0, 10))
    assert expected["unexpected_count"] == 3  # abc, x1, 100
    assert_result(run.result(), expected)
    # The blank line is skipped, as pandas does: abc, x1 and 100 are rows 2, 4 and 5.
    assert run.result()["result"]["partial_unexpected_index_list"] == [2, 4, 5]


# ---------------------------------------------------------------------------------------------------------
# Several files, other formats

def _split_files(tmp_path: Path, frame: pd.DataFrame, sizes: list[int], folder: str = "parts") -> Path:
    d = tmp_path / folder
    d.mkdir()
    start = 0
    for n, size in enumerate(sizes):
        write_csv(frame.iloc[start:start + size], d / f"part-{n:02d}.csv")
        start += size
    return d


def test_folder_and_glob_read_as_one_table(tmp_path):
    df = pd.DataFrame({"id": np.arange(30), "v": [1] * 30})
    df.loc[[2, 11, 25], "v"] = 99  # rows in the 1st, 2nd and 3rd file
    folder = _split_files(tmp_path, df, [10, 10, 10])
    (folder / "_ignored.csv").write_text("id,v\n0,1000\n")  # hidden files are skipped
    exps = [{"type": "expect_column_values_to_be_between", "column": "v", "max_value": 10},
            {"type": "expect_table_row_count_to_equal", "value": 30},
            {"type": "expect_column_values_to_be_unique", "column": "id"},
            {"type": "expect_column_values_to_be_increasing", "column": "id", "strictly": True}]
    for spec in (folder, f"{folder}/part-*.csv"):
        run = validate(tmp_path, spec, exps)
        assert run.code == 1, run.stderr
        assert run.doc["row_count"] == 30
        r = run.result(0)["result"]
        assert r["unexpected_count"] == 3
        assert r["partial_unexpected_index_list"] == [2, 11, 25]
        assert [run.result(n)["success"] for n in range(1, 4)] == [True, True, True]


def test_malformed_row_in_second_file_names_that_file(tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    (d / "a.csv").write_text("x,y\n1,2\n3,4\n")
    (d / "b.csv").write_text("x,y\n5,6\n7\n")
    run = validate(tmp_path, d, [{"type": "expect_table_row_count_to_be_between", "min_value": 0}])
    assert run.code == 2
    assert "b.csv:3" in run.stderr, run.stderr


def test_tsv(tmp_path):
    df = frame_numbers(60)
    path = tmp_path / "t.tsv"
    df.to_csv(path, sep="\t", index=False)
    ref_df = pd.read_csv(path, sep="\t")
    exps = [c[1] for c in CASES if c[0] in ("between", "in_set", "match_regex", "mean", "median_odd_nulls", "stdev")]
    refs = [c[2] for c in CASES if c[0] in ("between", "in_set", "match_regex", "mean", "median_odd_nulls", "stdev")]
    run = validate(tmp_path, path, exps)
    assert run.code in (0, 1), run.stderr
    assert run.doc["row_count"] == 60
    for n, ref in enumerate(refs):
        assert_result(run.result(n), ref(ref_df))


def test_json_lines(tmp_path):
    rows = [{"id": i, "amount": float(i) * 1.5, "tag": "t" + str(i % 3)} for i in range(40)]
    rows[4]["amount"] = None  # null
    del rows[7]["amount"]  # missing key: null
    rows[9]["amount"] = -3.0
    rows[12]["tag"] = "bad"
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    df = pd.read_json(path, lines=True)
    run = validate(tmp_path, path, [
        {"type": "expect_column_values_to_be_between", "column": "amount", "min_value": 0},
        {"type": "expect_column_values_to_be_in_set", "column": "tag", "value_set": ["t0", "t1", "t2"]},
        {"type": "expect_column_mean_to_be_between", "column": "amount", "min_value": 0},
        {"type": "expect_table_row_count_to_equal", "value": 40},
    ])
    assert run.code == 1, run.stderr
    assert_result(run.result(0), map_reference(df["amount"], between_ok(0, None)))
    assert run.result(0)["result"]["missing_count"] == 2
    assert_result(run.result(1), map_reference(df["tag"], lambda s: s.isin(["t0", "t1", "t2"])))
    assert_result(run.result(2), aggregate_reference(True, nonnull(df["amount"]).mean()))
    assert run.result(3)["success"] is True


def test_json_lines_bad_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\n{"a": 2}\n{"a": \n')
    run = validate(tmp_path, path, [{"type": "expect_table_row_count_to_be_between", "min_value": 0}])
    assert run.code == 2
    assert "bad.jsonl:3" in run.stderr, run.stderr


# ---------------------------------------------------------------------------------------------------------
# Report files

REPORT_SUITE = [
    {"type": "expect_column_values_to_not_be_null", "column": "x"},
    {"type": "expect_column_values_to_be_between", "column": "k", "min_value": 0, "max_value": 100},
    {"type": "expect_column_mean_to_be_between", "column": "x", "min_value": 0, "max_value": 100},
    {"type": "expect_column_values_to_be_in_set", "column": "cat", "value_set": ["a", "b", "c", "d"]},
]


def _reports(tmp_path, table, *flags) -> tuple:
    path, _ = table
    outs = {flag: tmp_path / f"report.{flag.strip('-')}" for flag in flags}
    args = [a for flag, out in outs.items() for a in (flag, str(out))]
    run = validate(tmp_path, path, REPORT_SUITE, *args, name="report suite")
    assert run.code == 1, run.stderr
    return run, {flag: out.read_text() for flag, out in outs.items()}


def test_junit_is_valid_xml_with_one_case_per_expectation(tmp_path, table):
    run, texts = _reports(tmp_path, table, "--junit")
    root = ET.fromstring(texts["--junit"])
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    assert suites, texts["--junit"][:500]
    cases = [case for s in suites for case in s.findall("testcase")]
    assert len(cases) == len(REPORT_SUITE)
    failed = [c for c in cases if c.find("failure") is not None or c.find("error") is not None]
    assert len(failed) == 2  # x has nulls, cat has 'zz'
    declared = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    assert declared == 2
    assert int(sum(int(s.get("tests", 0)) for s in suites)) == len(REPORT_SUITE)


def test_markdown_has_a_table(tmp_path, table):
    run, texts = _reports(tmp_path, table, "--markdown")
    md = texts["--markdown"]
    assert re.search(r"^\|.*\|\s*$", md, re.M), md[:500]
    assert re.search(r"^\|\s*:?-{3,}", md, re.M), md[:500]
    for exp in REPORT_SUITE:
        assert exp["type"].removeprefix("expect_") in md


def test_html_is_one_self_contained_file(tmp_path, table):
    run, texts = _reports(tmp_path, table, "--html")
    html = texts["--html"]
    assert html.lstrip().lower().startswith("<!doctype html") or "<html" in html[:500].lower()
    assert "report suite" in html
    for exp in REPORT_SUITE:
        assert exp["type"].removeprefix("expect_") in html
    # No external resources: every src/href is a fragment or a data: URI.
    for attr, value in re.findall(r"""\b(src|href)\s*=\s*["']([^"']*)["']""", html, re.I):
        assert value.startswith("#") or value.startswith("data:"), f"external {attr}: {value}"
    assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", html, re.I)
    assert "<link" not in html.lower() or 'rel="stylesheet"' not in html.lower()


def test_all_reports_at_once_and_json_to_stdout(tmp_path, table):
    path, _ = table
    suite = tmp_path / "s.yaml"
    suite.write_text(suite_yaml(REPORT_SUITE))
    done = run_cairn(["data", "validate", "--suite", str(suite), str(path), "--json", "-",
                      "--junit", str(tmp_path / "j.xml"), "--markdown", str(tmp_path / "r.md"),
                      "--html", str(tmp_path / "r.html")])
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)  # with --json -, standard output holds the JSON and nothing else
    assert doc["statistics"]["evaluated_expectations"] == len(REPORT_SUITE)
    for name in ("j.xml", "r.md", "r.html"):
        assert (tmp_path / name).stat().st_size > 0


# ---------------------------------------------------------------------------------------------------------
# KL divergence, categorical partition (GE: scipy.stats.entropy(observed weights, expected weights))

def _kl_reference(series: pd.Series, values: list, weights: list, tail: float = 0.0) -> float | None:
    from scipy import stats

    observed = nonnull(series).value_counts() / nonnull(series).size
    expected = pd.Series(weights, index=values, name="expected")
    both = pd.concat([expected, observed.rename("count")], axis=1)
    pk = both["count"].fillna(0)
    unexpected_values = both["expected"].isna().sum()
    qk = both["expected"] * (1 - tail) if unexpected_values else both["expected"]
    if unexpected_values:
        qk = qk.fillna(tail / unexpected_values)
    kl = float(stats.entropy(pk, qk))
    return None if not np.isfinite(kl) else kl


@pytest.mark.parametrize("values,weights,tail,threshold", [
    (["a", "b", "c", "d", "zz"], [0.25, 0.25, 0.25, 0.24, 0.01], 0.0, 0.1),
    (["a", "b", "c", "d", "zz"], [0.1, 0.2, 0.3, 0.39, 0.01], 0.0, 0.05),
    (["a", "b", "c", "d"], [0.25, 0.25, 0.25, 0.25], 0.01, 0.5),  # 'zz' is outside: tail holdout
])
def test_kl_divergence_categorical(tmp_path, table, values, weights, tail, threshold):
    path, df = table
    exp = {"type": "expect_column_kl_divergence_to_be_less_than", "column": "cat",
           "partition_object": {"values": values, "weights": weights}, "threshold": threshold}
    if tail:
        exp["tail_weight_holdout"] = tail
    kl = _kl_reference(df["cat"], values, weights, tail)
    run = validate(tmp_path, path, [exp])
    assert run.code == (0 if kl is not None and kl <= threshold else 1), run.stderr
    assert_result(run.result(), {"success": kl is not None and kl <= threshold, "observed_value": kl})


def test_kl_divergence_value_outside_partition_without_holdout_is_infinite(tmp_path, table):
    path, df = table
    values, weights = ["a", "b", "c", "d"], [0.25, 0.25, 0.25, 0.25]
    assert _kl_reference(df["cat"], values, weights) is None  # infinite: GE reports None and fails
    run = validate(tmp_path, path, [{"type": "expect_column_kl_divergence_to_be_less_than", "column": "cat",
                                     "partition_object": {"values": values, "weights": weights}, "threshold": 10}])
    assert run.code == 1
    assert_result(run.result(), {"success": False, "observed_value": None})


def test_quoted_newlines_count_rows_not_lines(tmp_path):
    """A quoted field spanning lines is one row (row numbers as pandas counts them); an error after it
    names the physical line."""
    path = tmp_path / "q.csv"
    path.write_text('a,b\n1,"x\ny"\n2,"p,q"\n300,z\n')
    df = pd.read_csv(path)
    assert len(df) == 3
    run = validate(tmp_path, path, [{"type": "expect_column_values_to_be_between", "column": "a", "max_value": 10},
                                    {"type": "expect_column_value_lengths_to_be_between", "column": "b",
                                     "max_value": 1}])
    assert run.code == 1, run.stderr
    assert_result(run.result(0), map_reference(df["a"], between_ok(None, 10)))
    assert_result(run.result(1), map_reference(df["b"], lambda s: s.astype(str).str.len() <= 1))
    bad = tmp_path / "q2.csv"
    bad.write_text('a,b\n1,"x\ny"\n2,z\n3\n')
    run = validate(tmp_path, bad, [{"type": "expect_table_row_count_to_be_between", "min_value": 0}])
    assert run.code == 2
    assert "q2.csv:5" in run.stderr, run.stderr


# ---------------------------------------------------------------------------------------------------------
# Bounded memory: the checks that keep every value spill to disk past --memory-budget, and stay exact.

SPILL_EXPECTATIONS = [
    {"type": "expect_column_values_to_be_unique", "column": "id"},
    {"type": "expect_compound_columns_to_be_unique", "column_list": ["k", "x"]},
    {"type": "expect_column_unique_value_count_to_be_between", "column": "x", "min_value": 1},
    {"type": "expect_column_proportion_of_unique_values_to_be_between", "column": "id", "min_value": 0.5},
    {"type": "expect_column_median_to_be_between", "column": "x", "min_value": 0, "max_value": 100},
    {"type": "expect_column_quantile_values_to_be_between", "column": "x",
     "quantile_ranges": {"quantiles": [0.01, 0.25, 0.5, 0.75, 0.99],
                         "value_ranges": [[None, None], [None, None], [None, None], [None, None], [None, None]]}},
    {"type": "expect_column_value_z_scores_to_be_less_than", "column": "x", "threshold": 3, "mostly": 0.9},
    {"type": "expect_column_values_to_not_be_outliers", "column": "x", "method": "iqr", "mostly": 0.9},
    {"type": "expect_column_values_to_not_be_outliers", "column": "x", "method": "mad", "mostly": 0.9},
    # Counts per distinct value (index 9 on).
    {"type": "expect_column_distinct_values_to_be_in_set", "column": "k", "value_set": ["p", "q"]},
    {"type": "expect_column_distinct_values_to_equal_set", "column": "id", "value_set": [0, 999, -5]},
    {"type": "expect_column_most_common_value_to_be_in_set", "column": "k", "value_set": ["p"]},
    {"type": "expect_column_most_common_value_to_be_in_set", "column": "id", "value_set": [999]},
    {"type": "expect_column_kl_divergence_to_be_less_than", "column": "k",
     "partition_object": {"values": ["p", "q"], "weights": [0.5, 0.5]}, "threshold": 0.1,
     "tail_weight_holdout": 0.1},
]


@pytest.fixture(scope="module")
def spill_table(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """200,000 rows: ids with duplicates planted far apart (so a repeated value sits alone in each of
    several spilled runs) and next to each other, floats with ties and nulls, a text key."""
    rng = np.random.default_rng(11)
    n = 200_000
    ids = np.arange(n, dtype=np.int64)
    far = rng.choice(np.arange(100_000, n), 40, replace=False)
    ids[far] = far - 90_000
    ids[[1_000, 1_001]] = 999
    x = np.round(rng.lognormal(3.0, 0.8, n), 1)
    x[rng.choice(n, 2_000, replace=False)] = np.nan
    k = np.array(["p", "q", "r"], dtype=object)[rng.integers(0, 3, n)]
    path = tmp_path_factory.mktemp("spill") / "big.csv"
    write_csv(pd.DataFrame({"id": ids, "x": x, "k": k}), path)
    return path, pd.read_csv(path)


def _results_without_timing(run) -> list:
    assert run.doc is not None, run.stderr
    return run.doc["results"]


def test_a_tiny_memory_budget_spills_and_gives_the_default_results(tmp_path, spill_table):
    path, df = spill_table
    default = validate(tmp_path, path, SPILL_EXPECTATIONS)
    assert default.code == 1, default.stderr
    spill_dir = tmp_path / "spill"
    spill_dir.mkdir()
    tiny = validate(tmp_path, path, SPILL_EXPECTATIONS, "--memory-budget", "64K", "--temp-dir", str(spill_dir))
    assert tiny.code == 1, tiny.stderr
    assert _results_without_timing(tiny) == _results_without_timing(default)
    # Spill files are unlinked as soon as they are made: nothing is left behind.
    assert list(spill_dir.iterdir()) == []

    # The same budget from the environment.
    env_run = subprocess.run(
        [cairn_bin(), "data", "validate", "--suite", str(tmp_path / "suite.yaml"), str(path), "--json", "-", "-q"],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        env={**os.environ, "CAIRN_DATA_MEMORY_BUDGET": "64K", "CAIRN_DATA_TEMP_DIR": str(spill_dir)},
    )
    assert env_run.returncode == 1, env_run.stderr
    assert json.loads(env_run.stdout)["results"] == _results_without_timing(default)

    # Against pandas: duplicated(keep=False) for uniqueness, nunique, median, nearest quantiles.
    duplicated = df["id"].duplicated(keep=False)
    unique = tiny.result(0)["result"]
    assert unique["unexpected_count"] == int(duplicated.sum())
    assert int(duplicated.sum()) > 20
    assert unique["partial_unexpected_index_list"] == [int(i) for i in df.index[duplicated][:20]]
    assert [float(v) for v in unique["partial_unexpected_list"]] == [float(v) for v in df["id"][duplicated][:20]]
    pairs = df[["k", "x"]].dropna(how="all")
    compound = tiny.result(1)["result"]
    assert compound["unexpected_count"] == int(pairs.duplicated(keep=False).sum())
    assert tiny.result(2)["result"]["observed_value"] == df["x"].nunique()
    assert tiny.result(3)["result"]["observed_value"] == pytest.approx(df["id"].nunique() / len(df), rel=1e-12)
    assert tiny.result(4)["result"]["observed_value"] == df["x"].median()
    quantiles = [0.01, 0.25, 0.5, 0.75, 0.99]
    assert tiny.result(5)["result"]["observed_value"]["values"] == quantiles_nearest(df["x"], quantiles)

    # Distinct values: few (`k`) listed whole; many (`id`) listed up to 1,000, every count exact.
    in_set = tiny.result(9)["result"]
    assert in_set["observed_value"] == ["p", "q", "r"]
    assert in_set["details"]["value_counts"] == {k: int(c) for k, c in df["k"].value_counts().items()}
    assert in_set["unexpected_count"] == 1
    assert in_set["partial_unexpected_index_list"] == [int(df.index[df["k"] == "r"][0])]
    ids = sorted(int(i) for i in df["id"].unique())
    equal = tiny.result(10)["result"]
    assert equal["observed_value"] == ids[:1000]
    assert equal["details"]["distinct_values"] == len(ids)
    assert equal["details"]["observed_value_truncated"] is True
    assert len(equal["details"]["value_counts"]) == 1000
    assert equal["unexpected_count"] == len(ids) - 2  # 0 and 999 are in the set
    assert equal["partial_missing_list"] == [-5]
    first_rows = df.drop_duplicates("id").index
    assert equal["partial_unexpected_index_list"] == [int(i) for i in first_rows if df["id"][i] not in (0, 999)][:20]
    modes = df["k"].value_counts()
    assert tiny.result(11)["result"]["observed_value"] == sorted(modes.index[modes == modes.max()])
    # `id`: 999 is held by three rows, more than any other value.
    assert tiny.result(12)["success"] is True and tiny.result(12)["result"]["observed_value"] == [999]
    kl = tiny.result(13)["result"]
    shares = df["k"].value_counts(normalize=True)
    observed = [shares["p"], shares["q"], shares["r"]]
    expected = [0.45, 0.45, 0.1]
    assert kl["observed_value"] == pytest.approx(sum(p * math.log(p / q) for p, q in zip(observed, expected)), rel=1e-9)


def test_spilling_to_a_missing_temporary_directory_is_an_input_error(tmp_path, spill_table):
    path, _ = spill_table
    missing = tmp_path / "no-such-dir"
    run = validate(tmp_path, path, SPILL_EXPECTATIONS[:1], "--memory-budget", "64K", "--temp-dir", str(missing))
    assert run.code == 2
    assert "spill file" in run.stderr and str(missing) in run.stderr, run.stderr


@pytest.mark.parametrize("size", ["64", "1.5G", "lots"])
def test_memory_budget_takes_sizes(tmp_path, spill_table, size):
    path, _ = spill_table
    run = validate(tmp_path, path, SPILL_EXPECTATIONS[:1], "--memory-budget", size)
    if size == "64":
        assert run.code == 1, run.stderr
    else:
        assert run.code == 2 and "is not a size" in run.stderr, run.stderr
