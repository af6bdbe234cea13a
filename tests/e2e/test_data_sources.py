"""`cairn data` over Parquet files and `s3://` objects, against pandas.

pyarrow writes the Parquet files (several row groups; a folder of three files); `cairn data validate`
and `cairn data profile` read them and their numbers are compared with pandas' own. The same files,
and a CSV rendering, are then uploaded to a real S3-compatible server (moto in server mode, a
subprocess) and validated as `s3://...`: the results must be those of the local files.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import time

import numpy as np
import pandas as pd
import pytest
import yaml

from cairn_helpers import MOTO_CREDENTIALS, cairn_bin, free_port, moto_s3

ROWS = 20_000
ROW_GROUP = 3_000
BUCKET = "cairn-data"
CREDENTIALS = MOTO_CREDENTIALS
CITIES = ["paris", "oslo", "lima"]


def run(*args: str, env: dict | None = None, check_rc: int | None = 0) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [cairn_bin(), "data", *args], capture_output=True, text=True, timeout=300, env=full_env
    )
    if check_rc is not None:
        assert proc.returncode == check_rc, (
            f"rc={proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
        )
    assert "panicked" not in proc.stderr
    return proc


def make_frame(n: int, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "id": np.arange(n, dtype="int64"),
            "qty": pd.array(rng.integers(-20, 60, n), dtype="Int64"),
            "price": rng.gamma(2.0, 40.0, n).round(3),
            "city": rng.choice(CITIES + ["rome"], n, p=[0.3, 0.3, 0.3, 0.1]).astype(object),
            "ok": rng.choice([True, False], n),
            "at": pd.Timestamp("2023-01-01")
            + pd.to_timedelta(rng.integers(0, 400 * 86_400, n), unit="s")
            + pd.to_timedelta(rng.choice([0, 250_000], n), unit="us"),
        }
    )
    frame.loc[rng.random(n) < 0.05, "qty"] = pd.NA
    frame.loc[rng.random(n) < 0.04, "price"] = np.nan
    frame.loc[rng.random(n) < 0.03, "city"] = None
    frame.loc[rng.random(n) < 0.02, "at"] = pd.NaT
    return frame


SUITE = {
    "version": 1,
    "name": "parquet",
    "expectations": [
        {"type": "expect_column_values_to_not_be_null", "column": "id"},
        {"type": "expect_column_values_to_not_be_null", "column": "city"},
        {"type": "expect_column_values_to_not_be_null", "column": "at"},
        {"type": "expect_column_values_to_be_between", "column": "qty", "min_value": -10, "max_value": 40},
        {"type": "expect_column_values_to_be_between", "column": "price", "min_value": 1, "max_value": 200},
        {"type": "expect_column_values_to_be_in_set", "column": "city", "value_set": CITIES},
        {"type": "expect_column_values_to_be_unique", "column": "id"},
        {"type": "expect_column_values_to_be_unique", "column": "qty"},
        {"type": "expect_column_mean_to_be_between", "column": "price", "min_value": 0, "max_value": 1000},
        {"type": "expect_column_mean_to_be_between", "column": "qty", "min_value": 0, "max_value": 10},
    ],
}


def expected_unexpected(frame: pd.DataFrame) -> list[int | None]:
    """pandas' count of failing rows for each expectation of SUITE (None for aggregates)."""
    qty, price, city = frame["qty"].dropna(), frame["price"].dropna(), frame["city"].dropna()
    return [
        int(frame["id"].isna().sum()),
        int(frame["city"].isna().sum()),
        int(frame["at"].isna().sum()),
        int(((qty < -10) | (qty > 40)).sum()),
        int(((price < 1) | (price > 200)).sum()),
        int((~city.isin(CITIES)).sum()),
        int(frame["id"].dropna().duplicated(keep=False).sum()),
        int(qty.duplicated(keep=False).sum()),
        None,
        None,
    ]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sources")
    frame = make_frame(ROWS)
    single = folder / "data.parquet"
    frame.to_parquet(single, engine="pyarrow", index=False, row_group_size=ROW_GROUP)
    parts = folder / "parts"
    parts.mkdir()
    bounds = [0, 7_000, 7_001, ROWS]  # one file of a single row
    for number, (start, end) in enumerate(zip(bounds, bounds[1:])):
        frame.iloc[start:end].to_parquet(
            parts / f"part-{number}.parquet",
            engine="pyarrow",
            index=False,
            row_group_size=ROW_GROUP,
            compression=["snappy", "gzip", "lz4"][number],
        )
    (parts / "_SUCCESS").write_text("")
    csv = folder / "data.csv"
    frame.to_csv(csv, index=False)
    suite = folder / "suite.yaml"
    suite.write_text(yaml.safe_dump(SUITE, sort_keys=False))
    return {"frame": frame, "single": single, "parts": parts, "csv": csv, "suite": suite}


def validate(data: dict, target: str, env: dict | None = None, rc: int = 1) -> dict:
    proc = run("validate", "--suite", str(data["suite"]), target, "--json", "-", "-q", env=env, check_rc=rc)
    return json.loads(proc.stdout)


def summary(report: dict) -> list[tuple]:
    """What must not depend on where the rows came from."""
    return [
        (
            r["expectation_type"],
            r["kwargs"].get("column"),
            r["success"],
            r["result"].get("unexpected_count"),
            r["result"].get("element_count"),
            r["result"].get("missing_count"),
            json.dumps(r["result"].get("observed_value")),
            r["result"].get("partial_unexpected_index_list"),
        )
        for r in report["results"]
    ]


def check_against_pandas(report: dict, frame: pd.DataFrame) -> None:
    assert report["row_count"] == len(frame)
    assert report["columns"] == list(frame.columns)
    results = report["results"]
    assert [r["expectation_type"] for r in results] == [e["type"] for e in SUITE["expectations"]]
    for result, want in zip(results, expected_unexpected(frame)):
        assert result["exception_info"]["raised_exception"] is False, result
        if want is not None:
            assert result["result"]["unexpected_count"] == want, result
            assert result["success"] == (want == 0), result
    # The first rows failing not_null(city) are pandas' first null rows (row numbers across files).
    nulls = frame.index[frame["city"].isna()].tolist()
    listed = results[1]["result"]["partial_unexpected_index_list"]
    assert listed == nulls[: len(listed)] and listed
    assert math.isclose(results[8]["result"]["observed_value"], frame["price"].mean(), rel_tol=1e-12)
    assert math.isclose(results[9]["result"]["observed_value"], frame["qty"].astype(float).mean(), rel_tol=1e-12)
    assert results[8]["success"] is True
    assert results[9]["success"] == (0 <= frame["qty"].astype(float).mean() <= 10)


def test_validate_parquet_matches_pandas(data):
    frame = pd.read_parquet(data["single"])
    report = validate(data, str(data["single"]))
    assert report["success"] is False
    check_against_pandas(report, frame)
    assert report["files"] == [str(data["single"])]


def test_validate_parquet_folder_and_glob(data):
    frame = pd.concat(
        [pd.read_parquet(p) for p in sorted(data["parts"].glob("*.parquet"))], ignore_index=True
    )
    whole = validate(data, str(data["single"]))
    for target in [str(data["parts"]), str(data["parts"] / "part-*.parquet")]:
        report = validate(data, target)
        check_against_pandas(report, frame)
        assert len(report["files"]) == 3
        assert summary(report) == summary(whole)


def test_parquet_and_csv_give_the_same_counts(data):
    parquet = validate(data, str(data["single"]))
    csv = validate(data, str(data["csv"]))
    counts = lambda report: [
        (r["success"], r["result"].get("unexpected_count"), r["result"].get("partial_unexpected_index_list"))
        for r in report["results"]
    ]
    assert counts(parquet) == counts(csv)


def test_profile_parquet_matches_pandas(data):
    frame = pd.read_parquet(data["single"])
    proc = run("profile", str(data["single"]), "--json", "-")
    profile = json.loads(proc.stdout)
    assert profile["rows"] == len(frame)
    columns = {column["name"]: column for column in profile["columns"]}
    assert list(columns) == list(frame.columns)
    for name in frame.columns:
        series = frame[name]
        got = columns[name]
        assert got["count"] == int(series.count()), name
        assert got["nulls"] == int(series.isna().sum()), name
        assert got["distinct"] == int(series.nunique()), name
        if name in ("id", "qty", "price"):
            values = series.dropna().astype(float)
            assert math.isclose(got["min"], values.min()), name
            assert math.isclose(got["max"], values.max()), name
            assert math.isclose(got["mean"], values.mean(), rel_tol=1e-12), name
            assert math.isclose(got["std"], values.std(), rel_tol=1e-9), name
    assert columns["id"]["inferred_type"] == "int"
    assert columns["qty"]["inferred_type"] == "int"
    assert columns["price"]["inferred_type"] == "float"
    assert columns["ok"]["inferred_type"] == "bool"
    assert columns["city"]["inferred_type"] == "string"
    counts = frame["ok"].value_counts()
    assert {v["value"]: v["count"] for v in columns["ok"]["top_values"]} == {
        str(k): int(v) for k, v in counts.items()
    }
    # Timestamps are ISO 8601 text: the smallest and largest are pandas' own.
    stamps = frame["at"].dropna()
    assert columns["at"]["min"] == stamps.min().isoformat()
    assert columns["at"]["max"] == stamps.max().isoformat()


def test_corrupt_parquet_is_an_error_naming_the_file(data, tmp_path):
    raw = data["single"].read_bytes()
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(raw[: len(raw) // 2])
    proc = run("validate", "--suite", str(data["suite"]), str(broken), check_rc=2)
    assert "broken.parquet" in proc.stderr
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "a.parquet").write_bytes(raw)
    pd.DataFrame({"other": [1, 2]}).to_parquet(mixed / "b.parquet")
    proc = run("profile", str(mixed), check_rc=2)
    assert "b.parquet" in proc.stderr and "differ" in proc.stderr


# ---------------------------------------------------------------------------------------------------
# S3 (moto in server mode)


@pytest.fixture(scope="module")
def moto(data, tmp_path_factory):
    """moto's S3 on a free port, the bucket holding the test files; yields the cairn environment."""
    with moto_s3(tmp_path_factory.mktemp("moto"), BUCKET) as (endpoint, s3):
        s3.upload_file(str(data["single"]), BUCKET, "tables/data.parquet")
        s3.upload_file(str(data["csv"]), BUCKET, "tables/data.csv")
        for part in sorted(data["parts"].iterdir()):
            s3.upload_file(str(part), BUCKET, f"parts/{part.name}")
        s3.put_object(Bucket=BUCKET, Key="parts/nested/ignored.parquet", Body=b"not parquet")
        yield {**CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}


def test_s3_objects_validate_like_local_files(data, moto):
    local_parquet = validate(data, str(data["single"]))
    local_csv = validate(data, str(data["csv"]))
    remote_parquet = validate(data, f"s3://{BUCKET}/tables/data.parquet", env=moto)
    assert summary(remote_parquet) == summary(local_parquet)
    assert remote_parquet["files"] == [f"s3://{BUCKET}/tables/data.parquet"]
    remote_csv = validate(data, f"s3://{BUCKET}/tables/data.csv", env=moto)
    assert summary(remote_csv) == summary(local_csv)
    check_against_pandas(remote_csv, pd.read_csv(data["csv"], parse_dates=["at"]))


def test_s3_prefix_and_glob_validate_like_the_local_folder(data, moto):
    local = validate(data, str(data["parts"]))
    for target in [f"s3://{BUCKET}/parts/", f"s3://{BUCKET}/parts", f"s3://{BUCKET}/parts/part-*.parquet"]:
        remote = validate(data, target, env=moto)
        assert summary(remote) == summary(local), target
        assert remote["files"] == [f"s3://{BUCKET}/parts/part-{n}.parquet" for n in range(3)], target


def test_s3_profile_streams_csv(data, moto):
    local = json.loads(run("profile", str(data["csv"]), "--json", "-").stdout)
    remote = json.loads(run("profile", f"s3://{BUCKET}/tables/data.csv", "--json", "-", env=moto).stdout)
    for key in ("rows",):
        assert remote[key] == local[key]
    strip = lambda profile: [{k: v for k, v in c.items() if k != "elapsed_seconds"} for c in profile["columns"]]
    assert strip(remote) == strip(local)


def test_s3_missing_object_and_unreachable_endpoint_exit_2(data, moto):
    proc = run("validate", "--suite", str(data["suite"]), f"s3://{BUCKET}/tables/missing.parquet", env=moto, check_rc=2)
    assert "missing.parquet" in proc.stderr and "no such object" in proc.stderr
    proc = run("profile", f"s3://{BUCKET}/empty-prefix/*.csv", env=moto, check_rc=2)
    assert "matches no object" in proc.stderr
    dead = {**CREDENTIALS, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    started = time.monotonic()
    proc = run("validate", "--suite", str(data["suite"]), f"s3://{BUCKET}/tables/data.csv", env=dead, check_rc=2)
    assert "cannot reach the object store" in proc.stderr, proc.stderr
    assert dead["AWS_ENDPOINT_URL"] in proc.stderr
    assert time.monotonic() - started < 60
