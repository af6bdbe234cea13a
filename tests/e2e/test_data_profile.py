"""`cairn data profile`, `suggest` and `import-ge` against pandas on generated data.

The binary's numbers are compared with pandas' own: count, nulls, distinct (nunique), min, max,
mean, std (ddof=1) and quantiles (linear interpolation), and the dtype read_csv gives (with pandas'
classic `object` dtype for text: pandas 3's `str` inference is turned off for the comparison).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from cairn_helpers import cairn_bin

QUANTILES = [0.05, 0.25, 0.5, 0.75, 0.95]



def read_csv(path: Path) -> pd.DataFrame:
    """pandas' reading, with the classic `object` dtype for text (pandas 3 reads `str` by default;
    cairn reports `object`, as GE on pandas < 3 sees it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with pd.option_context("future.infer_string", False):
                return pd.read_csv(path)
        except (KeyError, pd.errors.OptionError):  # older pandas has no such option
            return pd.read_csv(path)


def run(*args: str, check_rc: int | None = 0) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [cairn_bin(), "data", *args], capture_output=True, text=True, timeout=300
    )
    if check_rc is not None:
        assert proc.returncode == check_rc, (
            f"rc={proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
        )
    return proc


def make_frame(n: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "id": np.arange(n),
            "amount": rng.normal(100.0, 25.0, n).round(4),
            "count": pd.array(rng.integers(-50, 50, n), dtype="Int64"),  # written as "-3", "" for nulls
            "score": rng.exponential(3.0, n),
            "city": rng.choice(["paris", "oslo", "lima", "Rome", "kyiv-2"], n),
            "flag": rng.choice([True, False], n),
            "day": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 2000, n), unit="D"),
            "code": [f"AB-{i % 977:04d}" for i in range(n)],
        }
    )
    frame["day"] = frame["day"].dt.strftime("%Y-%m-%d")
    frame.loc[rng.random(n) < 0.07, "amount"] = np.nan
    frame.loc[rng.random(n) < 0.02, "count"] = pd.NA
    frame.loc[rng.random(n) < 0.05, "city"] = None
    return frame


def profile_json(tmp_path: Path, data: Path, *extra: str) -> dict:
    out = tmp_path / "profile.json"
    run("profile", str(data), "--json", str(out), *extra)
    return json.loads(out.read_text())


def as_pandas_value(text: str, series: pd.Series):
    """A value as cairn prints it, as pandas holds it in `series`."""
    if series.dtype == bool:
        return text == "True"
    if series.dtype == object:
        return text
    return series.dtype.type(text)


def columns_by_name(profile: dict) -> dict:
    return {column["name"]: column for column in profile["columns"]}


def close(a: float, b: float, rel: float = 1e-9, abs_: float = 1e-9) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("profile")
    path = folder / "data.csv"
    # More rows than one chunk (65,536), so chunks and threads both matter.
    make_frame(150_000).to_csv(path, index=False)
    return path


def test_profile_matches_pandas(tmp_path, dataset):
    frame = read_csv(dataset)
    profile = profile_json(tmp_path, dataset)
    assert profile["rows"] == len(frame)
    columns = columns_by_name(profile)
    assert list(columns) == list(frame.columns)
    for name in frame.columns:
        series = frame[name]
        got = columns[name]
        assert got["pandas_dtype"] == str(series.dtype), name
        assert got["count"] == int(series.count()), name
        assert got["nulls"] == int(series.isna().sum()), name
        assert math.isclose(got["null_percent"], 100.0 * series.isna().mean(), rel_tol=1e-12)
        assert got["distinct"] == int(series.nunique()), name
        assert got["distinct_approximate"] is False
        assert got["unique"] == (series.nunique() == series.count()), name
        if pd.api.types.is_numeric_dtype(series) and series.dtype != bool:
            assert close(got["min"], float(series.min())), name
            assert close(got["max"], float(series.max())), name
            assert close(got["mean"], float(series.mean())), (name, got["mean"], series.mean())
            assert close(got["std"], float(series.std())), (name, got["std"], series.std())
            expected = series.quantile(QUANTILES).to_list()
            assert [q["q"] for q in got["quantiles"]] == QUANTILES
            for q, want in zip(got["quantiles"], expected):
                assert close(q["value"], want), (name, q, want)
            assert got["quantiles_approximate"] is False
            counts, edges = np.histogram(series.dropna(), bins=20)
            assert got["histogram"]["counts"] == counts.tolist(), name
            assert close(got["histogram"]["low"], edges[0]) and close(got["histogram"]["high"], edges[-1])
        top = series.value_counts(dropna=True)
        if got["top_values_error"] == 0:
            assert got["top_values"][0]["count"] == int(top.iloc[0]), name
            for item in got["top_values"]:
                assert item["count"] == int(top[as_pandas_value(item["value"], series)]), (name, item)
        else:
            # Past the exact counter: counts are lower bounds, low by at most the error.
            assert series.nunique() > 10_000, name
            for item in got["top_values"]:
                truth = int(top[float(item["value"])])
                assert item["count"] <= truth <= item["count"] + got["top_values_error"], (name, item, truth)
        lengths = series.dropna().astype(str).str.len()
        if series.dtype == object:
            assert got["min"] == series.dropna().min() and got["max"] == series.dropna().max()
            assert got["lengths"]["min"] == lengths.min() and got["lengths"]["max"] == lengths.max()
            assert close(got["lengths"]["mean"], lengths.mean())
    assert columns["id"]["inferred_type"] == "int" and columns["id"]["unique"]
    assert columns["count"]["inferred_type"] == "int"  # whole numbers with nulls: float64 in pandas
    assert columns["amount"]["inferred_type"] == "float"
    assert columns["flag"]["inferred_type"] == "bool"
    assert columns["day"]["inferred_type"] == "date"
    assert columns["city"]["inferred_type"] == "string"
    city_counts = frame["city"].value_counts()
    assert {v["value"]: v["count"] for v in columns["city"]["top_values"]} == city_counts.to_dict()
    assert columns["code"]["patterns"] == [{"value": "AA-9999", "count": len(frame)}]


def test_profile_past_the_budgets_is_approximate_and_says_so(tmp_path, dataset):
    frame = read_csv(dataset)
    profile = profile_json(
        tmp_path, dataset, "--exact-distinct", "1000", "--exact-numbers", "20000"
    )
    got = columns_by_name(profile)["score"]
    assert got["distinct_approximate"] is True
    assert abs(got["distinct"] - frame["score"].nunique()) / frame["score"].nunique() < 0.03
    assert got["quantiles_approximate"] is True
    expected = frame["score"].quantile(QUANTILES).to_list()
    spread = frame["score"].std()
    for q, want in zip(got["quantiles"], expected):
        assert abs(q["value"] - want) < 0.05 * spread, (q, want)
    # Moments stay exact whatever the budget.
    assert close(got["mean"], frame["score"].mean())
    text = run("profile", str(dataset), "--exact-distinct", "1000").stdout
    assert "approximate" in text and "~" in text


def test_profile_with_a_tiny_memory_budget_spills_and_gives_the_default_profile(tmp_path, dataset):
    frame = read_csv(dataset)
    default = profile_json(tmp_path, dataset)
    spill_dir = tmp_path / "spill"
    spill_dir.mkdir()
    # With ids past the frequent-values counter, distinct hashes are counted (and spilled) too.
    tiny = profile_json(tmp_path, dataset, "--memory-budget", "64K", "--temp-dir", str(spill_dir))
    assert tiny["budgets"]["memory_budget"] == 64 * 1024
    assert default["budgets"]["memory_budget"] == 64 * 1024 * 1024
    assert tiny["columns"] == default["columns"]
    # Spill files are unlinked as soon as they are made: nothing is left behind.
    assert list(spill_dir.iterdir()) == []
    got = columns_by_name(tiny)
    for name in ["id", "amount", "score"]:
        assert got[name]["quantiles_approximate"] is False
        expected = frame[name].quantile(QUANTILES).to_list()
        for q, want in zip(got[name]["quantiles"], expected):
            assert close(q["value"], want), (name, q, want)
        assert got[name]["histogram"]["approximate"] is False
        assert sum(got[name]["histogram"]["counts"]) == frame[name].count()
    assert got["id"]["distinct"] == len(frame) and got["id"]["distinct_approximate"] is False
    assert got["score"]["distinct"] == frame["score"].nunique()

    # The same budget from the environment; suggest takes it too.
    env = {**os.environ, "CAIRN_DATA_MEMORY_BUDGET": "64K", "CAIRN_DATA_TEMP_DIR": str(spill_dir)}
    out = tmp_path / "env.json"
    proc = subprocess.run([cairn_bin(), "data", "profile", str(dataset), "--json", str(out)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text()) == tiny
    suggested = subprocess.run([cairn_bin(), "data", "suggest", str(dataset)], capture_output=True, text=True,
                               timeout=300, env=env)
    assert suggested.returncode == 0, suggested.stderr
    plain = run("suggest", str(dataset))
    assert suggested.stdout == plain.stdout

    # Spilling into a missing folder is an input error naming it.
    missing = tmp_path / "no-such-dir"
    failed = run("profile", str(dataset), "--memory-budget", "64K", "--temp-dir", str(missing), check_rc=2)
    assert "spill file" in failed.stderr and str(missing) in failed.stderr, failed.stderr


def test_profile_text_html_and_markdown(tmp_path, dataset):
    html = tmp_path / "profile.html"
    markdown = tmp_path / "profile.md"
    proc = run("profile", str(dataset), "--html", str(html), "--markdown", str(markdown))
    assert "150000 rows, 8 columns" in proc.stdout
    for name in ["id", "amount", "city", "day"]:
        assert name in proc.stdout
    page = html.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") == 8  # one plot per column: histogram or most frequent values
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    md = markdown.read_text()
    assert "| column | type | dtype |" in md and "| city | string | object |" in md
    # A report on stdout replaces the text table.
    out = run("profile", str(dataset), "--json", "-").stdout
    assert json.loads(out)["rows"] == 150_000


def test_suggest_writes_a_suite_with_the_expected_expectations(tmp_path, dataset):
    frame = read_csv(dataset)
    suite_path = tmp_path / "suite.yaml"
    run("suggest", str(dataset), "-o", str(suite_path))
    suite = yaml.safe_load(suite_path.read_text())
    assert suite["version"] == 1 and suite["name"] == "data"
    assert "10%" in suite["description"]
    found = {}
    for expectation in suite["expectations"]:
        key = (expectation["type"], expectation.get("column"))
        found[key] = {k: v for k, v in expectation.items() if k not in ("type", "column")}
    assert found[("expect_table_columns_to_match_ordered_list", None)] == {
        "column_list": list(frame.columns)
    }
    assert found[("expect_table_row_count_to_be_between", None)] == {
        "min_value": 135_000,
        "max_value": 165_000,
    }
    for name in frame.columns:
        assert ("expect_column_to_exist", name) in found
        assert found[("expect_column_values_to_be_of_type", name)] == {"type_": str(frame[name].dtype)}
    assert found[("expect_column_values_to_not_be_null", "id")] == {}
    mostly = found[("expect_column_values_to_not_be_null", "amount")]["mostly"]
    assert mostly == math.floor(frame["amount"].notna().mean() * 100) / 100
    assert found[("expect_column_values_to_be_between", "amount")] == {
        "min_value": frame["amount"].min(),
        "max_value": frame["amount"].max(),
    }
    assert found[("expect_column_values_to_be_between", "id")] == {"min_value": 0, "max_value": 149_999}
    assert ("expect_column_values_to_be_unique", "id") in found
    assert ("expect_column_values_to_be_unique", "city") not in found
    assert sorted(found[("expect_column_values_to_be_in_set", "city")]["value_set"]) == sorted(
        frame["city"].dropna().unique()
    )
    assert sorted(found[("expect_column_values_to_be_in_set", "flag")]["value_set"]) == [False, True]
    assert ("expect_column_values_to_be_in_set", "code") not in found  # 977 distinct values
    lengths = frame["city"].dropna().str.len()
    assert found[("expect_column_value_lengths_to_be_between", "city")] == {
        "min_value": int(lengths.min()),
        "max_value": int(lengths.max()),
    }
    # Without -o the YAML goes to stdout.
    printed = yaml.safe_load(run("suggest", str(dataset), "--name", "orders").stdout)
    assert printed["name"] == "orders"
    assert len(printed["expectations"]) == len(suite["expectations"])


GE_0X = {
    "data_asset_type": None,
    "expectation_suite_name": "orders.warning",
    "expectations": [
        {
            "expectation_type": "expect_column_values_to_not_be_null",
            "kwargs": {"column": "id", "mostly": 0.99, "result_format": "BASIC"},
            "meta": {"owner": "ops"},
        },
        {
            "expectation_type": "expect_column_values_to_be_between",
            "kwargs": {
                "column": "amount",
                "min_value": 0,
                "max_value": 1000,
                "row_condition": 'city=="oslo"',
                "condition_parser": "pandas",
            },
            "meta": {},
        },
    ],
    "ge_cloud_id": None,
    "meta": {"great_expectations_version": "0.18.12"},
}

GE_1X = {
    "expectations": [
        {
            "id": "5f1e7b0c-2a3d-4c4e-9f60-1b2c3d4e5f60",
            "kwargs": {"column": "city", "value_set": ["oslo", "lima"]},
            "meta": {},
            "severity": "critical",
            "type": "expect_column_values_to_be_in_set",
        },
        {
            "id": "6a2f8c1d-3b4e-4d5f-8a71-2c3d4e5f6a71",
            "kwargs": {"column_list": ["id", "city"]},
            "meta": {},
            "type": "expect_table_columns_to_match_ordered_list",
        },
    ],
    "id": "0c0d0e0f-1a1b-4c1d-8e1f-2a2b2c2d2e2f",
    "meta": {"great_expectations_version": "1.3.5"},
    "name": "orders",
    "notes": None,
}


def test_import_ge_both_formats(tmp_path):
    old = tmp_path / "old.json"
    old.write_text(json.dumps(GE_0X, indent=2))
    out = tmp_path / "old.yaml"
    proc = run("import-ge", str(old), "-o", str(out))
    suite = yaml.safe_load(out.read_text())
    assert suite["version"] == 1 and suite["name"] == "orders.warning"
    assert suite["meta"] == {"great_expectations_version": "0.18.12"}
    assert suite["expectations"] == [
        {
            "type": "expect_column_values_to_not_be_null",
            "column": "id",
            "mostly": 0.99,
            "meta": {"owner": "ops"},
        },
        {
            "type": "expect_column_values_to_be_between",
            "column": "amount",
            "min_value": 0,
            "max_value": 1000,
        },
    ]
    assert "row_condition" in proc.stderr and "condition_parser" in proc.stderr
    assert "warning:" in proc.stderr and str(old) in proc.stderr

    new = tmp_path / "new.json"
    new.write_text(json.dumps(GE_1X, indent=2))
    proc = run("import-ge", str(new))
    suite = yaml.safe_load(proc.stdout)
    assert suite["name"] == "orders"
    assert suite["expectations"] == [
        {"type": "expect_column_values_to_be_in_set", "column": "city", "value_set": ["oslo", "lima"]},
        {"type": "expect_table_columns_to_match_ordered_list", "column_list": ["id", "city"]},
    ]
    assert "warning" not in proc.stderr


def test_bad_input_exits_2_naming_file_and_line(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    for command in ("profile", "suggest"):
        proc = run(command, str(empty), check_rc=2)
        assert f"{empty}:1" in proc.stderr, proc.stderr
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n1,2\n3,4\n5,6,7\n8,9\n")
    for command in ("profile", "suggest"):
        proc = run(command, str(ragged), check_rc=2)
        assert f"{ragged}:4" in proc.stderr and "expected 2 fields, found 3" in proc.stderr, proc.stderr
    missing = run("profile", str(tmp_path / "nope.csv"), check_rc=2)
    assert "nope.csv" in missing.stderr
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"name": "x",\n "expectations": [')
    proc = run("import-ge", str(bad_json), check_rc=2)
    assert f"{bad_json}:2" in proc.stderr, proc.stderr
    empty_json = tmp_path / "empty.json"
    empty_json.write_text("")
    proc = run("import-ge", str(empty_json), check_rc=2)
    assert "empty" in proc.stderr
