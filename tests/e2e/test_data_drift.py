"""`cairn data drift` against SciPy/NumPy computations of Evidently's drift tests.

Datasets are generated with numpy, written as CSV, compared by the real binary (`--json -`); each
score is recomputed here the way Evidently's `stattests` compute it (scipy.stats.ks_2samp,
scipy.stats.chisquare, wasserstein_distance / std, Evidently's bins for PSI/KL/Jensen-Shannon...).
"""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from cairn_helpers import cairn_bin

REL = 1e-9
REL_P = 1e-6


def run_drift(reference: Path, current: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [cairn_bin(), "data", "drift", "--reference", str(reference), "--current", str(current), *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )


def drift_json(reference: Path, current: Path, *extra: str) -> tuple[int, dict]:
    done = run_drift(reference, current, "--json", "-", *extra)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def by_column(report: dict) -> dict:
    return {c["column"]: c for c in report["columns"]}


def assert_close(actual, expected, rel=REL):
    assert actual == pytest.approx(expected, rel=rel, abs=1e-300), (actual, expected)


# --- Evidently's definitions, in NumPy/SciPy -------------------------------------------------


def binned(ref: pd.Series, cur: pd.Series, numerical: bool, fill: bool):
    if numerical and ref.nunique() > 20:
        bins = np.histogram_bin_edges(np.asarray(pd.concat([ref, cur]).values), bins="sturges")
        r = np.histogram(ref, bins)[0] / len(ref)
        c = np.histogram(cur, bins)[0] / len(cur)
    else:
        keys = list(set(ref.unique()) | set(cur.unique()))
        rc, cc = ref.value_counts(), cur.value_counts()
        r = np.array([rc.get(k, 0) / len(ref) for k in keys])
        c = np.array([cc.get(k, 0) / len(cur) for k in keys])
    if fill:
        for p in (r, c):
            m = p[p != 0].min()
            np.place(p, p == 0, m / 10**6 if m <= 0.0001 else 0.0001)
    return r, c


def expected_score(method: str, ref: pd.Series, cur: pd.Series, numerical: bool):
    """(statistic, p-value or None) as Evidently computes them."""
    ref, cur = ref.dropna(), cur.dropna()
    if method == "ks":
        result = stats.ks_2samp(ref, cur)
        return result.statistic, result.pvalue
    if method == "wasserstein":
        return stats.wasserstein_distance(ref, cur) / max(float(np.std(ref)), 0.001), None
    if method == "chisquare":
        keys = list(set(ref.unique()) | set(cur.unique()))
        rc, cc = ref.value_counts(), cur.value_counts()
        k = len(cur) / len(ref)
        result = stats.chisquare([cc.get(key, 0) for key in keys], [rc.get(key, 0) * k for key in keys])
        return result.statistic, result.pvalue
    if method == "z":
        keys = sorted(set(ref.unique()) | set(cur.unique()))
        a = (ref != keys[0]).astype(int)
        b = (cur != keys[0]).astype(int)
        n1, n2 = len(a), len(b)
        p1, p2 = a.sum() / n1, b.sum() / n2
        pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        return z, 2 * (1 - stats.norm.cdf(abs(z)))
    if method == "psi":
        r, c = binned(ref, cur, numerical, True)
        return float(np.sum((r - c) * np.log(r / c))), None
    if method == "kl_div":
        r, c = binned(ref, cur, numerical, True)
        return float(stats.entropy(r, c)), None
    if method == "jensenshannon":
        r, c = binned(ref, cur, numerical, False)
        return float(distance.jensenshannon(r, c)), None
    if method == "hellinger":
        if not numerical:
            rp, cp = ref.value_counts() / len(ref), cur.value_counts() / len(cur)
            keys = set(rp.index) | set(cp.index)
            s = sum(np.sqrt(rp.get(k, 0) * cp.get(k, 0)) for k in keys)
            return float(np.sqrt(1 - np.clip(s, 0, 1))), None
        keys = list(set(ref.unique()) | set(cur.unique()))
        bins = np.histogram_bin_edges(keys, bins="sturges")
        h1 = np.histogram(ref.to_numpy(), bins=bins, density=True)[0]
        h2 = np.histogram(cur.to_numpy(), bins=bins, density=True)[0]
        width = (max(bins) - min(bins)) / (len(bins) - 1)
        s = sum(np.sqrt(h1[i] * h2[i]) * width for i in range(len(h1)))
        return float(np.sqrt(1 - np.clip(s, 0, 1))), None
    raise AssertionError(method)


# --- data -------------------------------------------------------------------------------------


def write_pair(tmp_path: Path, reference: pd.DataFrame, current: pd.DataFrame) -> tuple[Path, Path]:
    ref_path, cur_path = tmp_path / "reference.csv", tmp_path / "current.csv"
    reference.to_csv(ref_path, index=False)
    current.to_csv(cur_path, index=False)
    return ref_path, cur_path


def frames(n_ref: int, n_cur: int, seed: int = 0, shift: float = 0.3):
    rng = np.random.default_rng(seed)

    def make(n, drift):
        num = rng.normal(drift, 1.0 + drift / 2, n)
        num[rng.random(n) < 0.02] = np.nan
        return pd.DataFrame(
            {
                "num": num,
                "count": rng.poisson(4 + 3 * drift, n),
                "few": rng.integers(0, 3 + (drift > 0), n),
                "cat": rng.choice(["red", "green", "blue", "grey"], n, p=[0.4, 0.3, 0.2, 0.1] if not drift else [0.3, 0.3, 0.25, 0.15]),
                "flag": rng.choice(["yes", "no"], n, p=[0.5, 0.5] if not drift else [0.4, 0.6]),
            }
        )

    return make(n_ref, 0.0), make(n_cur, shift)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("drift_small")
    reference, current = frames(800, 650, seed=1)
    return write_pair(tmp, reference, current), reference, current


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("drift_large")
    reference, current = frames(12000, 15000, seed=2, shift=0.05)
    return write_pair(tmp, reference, current), reference, current


NUMERIC = ["num", "count", "few"]


@pytest.mark.parametrize(
    "method,columns",
    [
        ("ks", ["num", "count", "few"]),
        ("wasserstein", ["num", "count", "few"]),
        ("psi", ["num", "count", "few", "cat", "flag"]),
        ("kl_div", ["num", "count", "few", "cat", "flag"]),
        ("jensenshannon", ["num", "count", "few", "cat", "flag"]),
        ("hellinger", ["num", "count", "few", "cat", "flag"]),
        ("chisquare", ["count", "few", "cat", "flag"]),
        ("z", ["flag"]),
    ],
)
@pytest.mark.parametrize("size", ["small", "large"])
def test_statistics_match_scipy(method, columns, size, request):
    (ref_path, cur_path), reference, current = request.getfixturevalue(size)
    _, report = drift_json(ref_path, cur_path, "--method", method, "--columns", ",".join(columns))
    got = by_column(report)
    assert list(got) == columns
    for column in columns:
        entry = got[column]
        numerical = column in NUMERIC
        assert entry["column_type"] == ("numerical" if numerical else "categorical")
        assert entry["method"] == method
        statistic, p_value = expected_score(method, reference[column], current[column], numerical)
        if np.isinf(statistic):  # a value only in the current data: JSON has no infinity
            assert entry["statistic"] is None
        else:
            assert_close(entry["statistic"], statistic)
        if p_value is None:
            assert entry["p_value"] is None
            assert entry["score"] == entry["statistic"]
            assert entry["drifted"] == (statistic >= 0.1)
        else:
            assert_close(entry["p_value"], p_value, REL_P)
            assert entry["threshold"] == 0.05
            drifted = p_value <= 0.05 if method == "ks" else p_value < 0.05
            assert entry["drifted"] == drifted, (column, p_value)


def test_default_methods_follow_evidently(small, large):
    (ref_path, cur_path), reference, _ = small
    _, report = drift_json(ref_path, cur_path)
    methods = {c["column"]: c["method"] for c in report["columns"]}
    # <= 1000 reference rows: K-S for numeric with > 5 values, chi-square (> 2 values) or Z.
    assert methods == {"num": "ks", "count": "ks", "few": "chisquare", "cat": "chisquare", "flag": "z"}
    (ref_path, cur_path), _, _ = large
    _, report = drift_json(ref_path, cur_path)
    methods = {c["column"]: c["method"] for c in report["columns"]}
    # > 1000 rows: Wasserstein for numeric with > 5 values, else Jensen-Shannon.
    assert methods == {
        "num": "wasserstein",
        "count": "wasserstein",
        "few": "jensenshannon",
        "cat": "jensenshannon",
        "flag": "jensenshannon",
    }
    assert report["reference_rows"] == 12000 and report["current_rows"] == 15000


def test_dataset_verdict_and_exit_codes(tmp_path):
    reference, _ = frames(3000, 10, seed=3)
    same, drifted = frames(3000, 3000, seed=4, shift=1.0)
    ref_path, same_path = write_pair(tmp_path, reference, same)
    drifted_path = tmp_path / "drifted.csv"
    drifted.to_csv(drifted_path, index=False)

    code, report = drift_json(ref_path, same_path)
    assert code == 0 and report["dataset_drift"] is False and report["n_drifted"] == 0

    code, report = drift_json(ref_path, drifted_path)
    assert code == 1 and report["dataset_drift"] is True
    assert report["n_columns"] == 5
    assert report["n_drifted"] == sum(c["drifted"] for c in report["columns"]) >= 3
    assert report["share_drifted"] == report["n_drifted"] / 5

    # One forced drifted column out of five is below the default share, above 0.2.
    code, report = drift_json(ref_path, same_path, "--column-method", "num=psi", "--threshold", "0")
    assert report["n_drifted"] == 5 and code == 1
    code, _ = drift_json(ref_path, drifted_path, "--columns", "num", "--drift-share", "1")
    assert code == 1
    code, report = drift_json(ref_path, drifted_path, "--columns", "cat,flag", "--threshold", "0.9")
    assert code == 0 and report["n_columns"] == 2 and report["n_drifted"] == 0
    code, report = drift_json(ref_path, same_path, "--column-method", "cat=chisquare")
    assert by_column(report)["cat"]["method"] == "chisquare"
    assert by_column(report)["num"]["method"] == "wasserstein"


def test_outliers_of_current_numeric_columns(tmp_path):
    rng = np.random.default_rng(5)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 2000)})
    x = rng.normal(0, 1, 2000)
    x[[3, 500, 1999]] = [25.0, -30.0, 12.0]
    x[7] = np.nan
    ref_path, cur_path = write_pair(tmp_path, reference, pd.DataFrame({"x": x}))
    _, report = drift_json(ref_path, cur_path)
    outliers = by_column(report)["x"]["outliers"]
    values = pd.Series(x)
    finite = values.dropna()
    q1, q3 = finite.quantile(0.25), finite.quantile(0.75)
    iqr_mask = (values < q1 - 1.5 * (q3 - q1)) | (values > q3 + 1.5 * (q3 - q1))
    z_mask = ((values - finite.mean()) / finite.std(ddof=0)).abs() > 3
    median = finite.median()
    mad = (finite - median).abs().median()
    mod_mask = (0.6745 * (values - median) / mad).abs() > 3.5
    for name, mask in [("iqr", iqr_mask), ("zscore", z_mask), ("modified_zscore", mod_mask)]:
        rule = outliers[name]
        assert rule["count"] == int(mask.sum()), name
        rows = list(values[mask].index[:5])
        assert [e["row"] for e in rule["examples"]] == rows, name
        assert [e["value"] for e in rule["examples"]] == list(values[mask].iloc[:5]), name
        # Line = row + 2 (header on line 1).
        assert [e["line"] for e in rule["examples"]] == [r + 2 for r in rows]
    assert outliers["zscore"]["examples"][0]["row"] == 3


def test_reports_in_every_format(small, tmp_path):
    (ref_path, cur_path), _, _ = small
    html, md, junit = tmp_path / "r.html", tmp_path / "r.md", tmp_path / "r.xml"
    done = run_drift(ref_path, cur_path, "--html", str(html), "--markdown", str(md), "--junit", str(junit))
    assert done.returncode in (0, 1), done.stderr
    assert "num" in done.stdout and "dataset drift" in done.stdout
    page = html.read_text()
    assert page.count("<svg") == 5 and "<script" not in page and "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "| num | numerical | K-S p_value |" in md.read_text()
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and int(suite.get("tests")) == 6
    failed = [case.get("name") for case in suite.iter("testcase") if case.find("failure") is not None]
    _, report = drift_json(ref_path, cur_path)
    expected = [c["column"] for c in report["columns"] if c["drifted"]] + (["dataset"] if report["dataset_drift"] else [])
    assert failed == expected


def test_missing_column_is_an_error(tmp_path):
    reference, current = frames(100, 100, seed=6)
    ref_path, cur_path = write_pair(tmp_path, reference, current.drop(columns=["cat"]))
    done = run_drift(ref_path, cur_path)
    assert done.returncode == 2
    assert "the current data lacks column(s) cat" in done.stderr
    done = run_drift(ref_path, cur_path, "--columns", "num,nope")
    assert done.returncode == 2 and "nope" in done.stderr
    done = run_drift(ref_path, cur_path, "--columns", "num,count")
    assert done.returncode in (0, 1), done.stderr


def test_bad_input_is_an_error_with_file_and_line(tmp_path):
    reference, current = frames(50, 50, seed=7)
    ref_path, cur_path = write_pair(tmp_path, reference, current)
    lines = cur_path.read_text().splitlines()
    lines[9] += ",extra"
    cur_path.write_text("\n".join(lines) + "\n")
    done = run_drift(ref_path, cur_path)
    assert done.returncode == 2
    assert f"{cur_path}:10:" in done.stderr, done.stderr
    done = run_drift(ref_path, cur_path.with_name("absent.csv"))
    assert done.returncode == 2 and "absent.csv" in done.stderr
    done = run_drift(ref_path, ref_path, "--method", "nope")
    assert done.returncode == 2 and "unknown drift method" in done.stderr
    done = run_drift(ref_path, ref_path, "--method", "ks", "--columns", "cat")
    assert done.returncode == 2 and "numerical" in done.stderr
