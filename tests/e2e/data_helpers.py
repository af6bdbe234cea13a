"""Helpers for the `cairn data` end-to-end tests: running the binary on a suite, and reference results
computed with pandas/numpy the way Great Expectations' pandas backend computes them (GE itself is not
installed in the test venv; the definitions below follow GE 1.x's pandas metrics):

* a map expectation looks at the non-null values only: `element_count` = all rows, `missing_count` =
  null rows, `unexpected_count` = non-null rows failing the condition, `unexpected_percent` =
  unexpected / non-null * 100, success = no non-null rows, or (non-null - unexpected) / non-null >=
  `mostly` (default 1); `partial_unexpected_list` / `_index_list` = the first 20 failing values and
  their 0-based row numbers, in row order;
* aggregates use pandas on the non-null values: mean, median (midpoint of the two middle values),
  `std()` (ddof=1), quantiles with `interpolation="nearest"` (GE's default on pandas), `mode()`...
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cairn_helpers import cairn_bin

PARTIAL = 20


@dataclass
class Validation:
    code: int
    stdout: str
    stderr: str
    doc: dict | None  # the --json report, when written

    def result(self, n: int = 0) -> dict:
        assert self.doc is not None, f"no JSON report (exit {self.code}): {self.stderr}"
        return self.doc["results"][n]


def suite_yaml(expectations: list[dict], name: str = "tests") -> str:
    """A cairn suite: expectations as {"type": ..., **kwargs} (JSON values are valid YAML)."""
    lines = ["version: 1", f"name: {json.dumps(name)}", "expectations:"]
    for exp in expectations:
        exp = dict(exp)
        lines.append(f"  - type: {exp.pop('type')}")
        for key, value in exp.items():
            lines.append(f"    {key}: {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def run_cairn(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([cairn_bin(), *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def validate(tmp: Path, data: str | Path, expectations: list[dict], *extra: str, name: str = "tests") -> Validation:
    """Runs `cairn data validate --suite S DATA --json J` and returns the exit code, output and JSON."""
    suite = tmp / "suite.yaml"
    suite.write_text(suite_yaml(expectations, name))
    report = tmp / "report.json"
    if report.exists():
        report.unlink()
    done = run_cairn(["data", "validate", "--suite", str(suite), str(data), "--json", str(report), *extra])
    assert "panicked" not in done.stderr, done.stderr
    doc = json.loads(report.read_text()) if report.exists() else None
    return Validation(done.returncode, done.stdout, done.stderr, doc)


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False, lineterminator="\n")
    return path


# ---------------------------------------------------------------------------------------------------------
# Reference results (GE's pandas definitions).

def _plain(value):
    """A pandas/numpy scalar as a JSON-like Python value."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        value = value.item()
        if isinstance(value, float) and math.isnan(value):
            return None
    return value


def map_reference(series: pd.Series, ok, mostly: float | None = None, max_unexpected_count: int | None = None,
                  nulls_considered: bool = False) -> dict:
    """A column map expectation: `ok(non_null_values) -> bool Series` says which values pass.

    With `nulls_considered` (expect_column_values_to_(not_)be_null) every row is looked at and no
    missing count is reported."""
    total = len(series)
    considered = series if nulls_considered else series[series.notna()]
    passed = ok(considered).astype(bool)
    bad = considered[~passed.to_numpy()]
    unexpected = len(bad)
    n = len(considered)
    if n == 0:
        success = True
    else:
        success = (n - unexpected) / n >= (1.0 if mostly is None else mostly)
    if max_unexpected_count is not None:
        success = success and unexpected <= max_unexpected_count
    ref = {
        "success": bool(success),
        "element_count": total,
        "unexpected_count": unexpected,
        "unexpected_percent": (unexpected / n * 100) if n else None,
        "partial_unexpected_list": [_plain(v) for v in bad.iloc[:PARTIAL]],
        "partial_unexpected_index_list": [int(i) for i in bad.index[:PARTIAL]],
    }
    if not nulls_considered:
        ref["missing_count"] = total - n
        ref["missing_percent"] = (total - n) / total * 100 if total else None
        ref["unexpected_percent_nonmissing"] = ref["unexpected_percent"]
    return ref


def between_ok(min_value=None, max_value=None, strict_min=False, strict_max=False):
    def ok(values: pd.Series) -> pd.Series:
        numbers = pd.to_numeric(values, errors="coerce")  # non-numeric text fails (cairn's rule)
        result = numbers.notna()
        if min_value is not None:
            result &= (numbers > min_value) if strict_min else (numbers >= min_value)
        if max_value is not None:
            result &= (numbers < max_value) if strict_max else (numbers <= max_value)
        return result
    return ok


def aggregate_reference(success: bool, observed) -> dict:
    if isinstance(observed, list):
        observed = [_plain(v) for v in observed]
    elif not isinstance(observed, dict):
        observed = _plain(observed)
    return {"success": bool(success), "observed_value": observed}


def within(value, min_value=None, max_value=None, strict_min=False, strict_max=False) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if min_value is not None and (value <= min_value if strict_min else value < min_value):
        return False
    if max_value is not None and (value >= max_value if strict_max else value > max_value):
        return False
    return True


def nonnull(series: pd.Series) -> pd.Series:
    return series[series.notna()]


def quantiles_nearest(series: pd.Series, quantiles: list[float]) -> list[float]:
    return [_plain(v) for v in nonnull(series).quantile(quantiles, interpolation="nearest").tolist()]


def most_common(series: pd.Series) -> list:
    return [_plain(v) for v in nonnull(series).mode().tolist()]


# ---------------------------------------------------------------------------------------------------------
# Comparison.

def _norm(value):
    """Numbers as floats (text that reads as a number too): GE gives 12 where a text engine may give "12"."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def same(expected, actual, rel: float = 1e-9) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected == actual
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        if isinstance(expected, float) and math.isnan(expected):
            return isinstance(actual, float) and math.isnan(actual)
        return expected == actual or abs(expected - actual) <= rel * max(abs(expected), abs(actual))
    if isinstance(expected, (list, tuple)) and isinstance(actual, (list, tuple)):
        return len(expected) == len(actual) and all(same(a, b, rel) for a, b in zip(expected, actual))
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() <= actual.keys() and all(same(expected[k], actual[k], rel) for k in expected)
    return expected == actual


def assert_result(entry: dict, expected: dict) -> None:
    """cairn's result entry agrees with the reference on every key the reference names."""
    assert entry["exception_info"]["raised_exception"] is False, entry["exception_info"]
    problems = []
    if entry["success"] != expected["success"]:
        problems.append(f"success: expected {expected['success']}, cairn {entry['success']}")
    result = entry.get("result") or {}
    for key, want in expected.items():
        if key == "success":
            continue
        got = result.get(key, "<absent>")
        if key in ("partial_unexpected_list",):
            ok = same([_norm(v) for v in want], [_norm(v) for v in got] if isinstance(got, list) else got)
        else:
            ok = same(want, got)
        if not ok:
            problems.append(f"{key}: expected {want!r}, cairn {got!r}")
    assert not problems, f"{entry['expectation_type']} {entry.get('kwargs')}:\n  " + "\n  ".join(problems)


def env_without_color() -> dict:
    return dict(os.environ, NO_COLOR="1")
