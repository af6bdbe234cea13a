"""Shared by the `cairn data` benchmarks: a seeded generator of a wide, realistic CSV (orders), the
validation suite used on it (GE's names and kwargs, written both as a GE suite and as a cairn suite),
and a comparison of GE results with cairn's JSON, expectation by expectation.

The generator writes in blocks of 500,000 rows, each from its own seed, so the file for N rows is the
first N rows of the file for any larger N (memory-scaling runs compare like with like).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

BLOCK = 500_000
GENERATOR_VERSION = 1  # bump when the generated data changes (cached files are regenerated)
SEED = 20261122

COLUMNS = [
    "order_id",  # 1..N, unique except a few planted duplicates
    "customer_id",  # int 1..200,000
    "email",  # user<customer_id>@<domain>, a few without '@'
    "amount",  # float, 2 decimals, log-normal, ~1 % null, a few negative
    "quantity",  # int 1..20
    "score",  # float ~ N(50, 10), 4 decimals
    "category",  # 8 names, a few 'unknown'
    "country",  # ISO-3166 alpha-2, a few alpha-3
    "sku",  # SKU-dddddd, a few malformed
    "created_at",  # 2024 timestamps, ISO 8601 without zone
]
CATEGORIES = ["books", "electronics", "garden", "grocery", "health", "home", "sports", "toys"]
COUNTRIES = ["AT", "BE", "BR", "CA", "CH", "DE", "DK", "ES", "FI", "FR", "GB", "IE", "IN", "IT", "JP", "NL",
             "NO", "PL", "SE", "US"]
DOMAINS = ["mail.example.com", "post.example.org", "corp.example.net", "shop.example.io"]
# Planted violations per block of 500,000 rows.
DUPLICATE_IDS = 3
NEGATIVE_AMOUNTS = 40
NULL_AMOUNT_RATE = 0.01
UNKNOWN_CATEGORIES = 25
BAD_EMAILS = 60
ALPHA3_COUNTRIES = 7
BAD_SKUS = 11
BAD_DATES = 5


def _block(index: int, first_row: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng([SEED, index])
    order_id = np.arange(first_row + 1, first_row + n + 1, dtype=np.int64)
    if n > 10:
        dup = rng.choice(np.arange(1, n), size=min(DUPLICATE_IDS, n - 1), replace=False)
        order_id[dup] = order_id[dup - 1]
    customer_id = rng.integers(1, 200_001, size=n)
    domain = np.array(DOMAINS)[rng.integers(0, len(DOMAINS), size=n)]
    email = pd.Series(customer_id.astype(str), dtype=object)
    email = "user" + email + "@" + pd.Series(domain, dtype=object)
    amount = np.round(rng.lognormal(mean=3.5, sigma=0.9, size=n), 2)
    amount = np.minimum(amount, 4999.99)
    quantity = rng.integers(1, 21, size=n)
    score = np.round(rng.normal(50.0, 10.0, size=n), 4)
    category = np.array(CATEGORIES, dtype=object)[rng.integers(0, len(CATEGORIES), size=n)]
    country = np.array(COUNTRIES, dtype=object)[rng.integers(0, len(COUNTRIES), size=n)]
    sku = pd.Series(rng.integers(0, 1_000_000, size=n)).map("SKU-{:06d}".format).to_numpy(dtype=object, copy=True)
    seconds = rng.integers(0, 366 * 86_400, size=n)
    created = np.datetime64("2024-01-01T00:00:00") + seconds.astype("timedelta64[s]")
    created_at = np.datetime_as_string(created, unit="s").astype(object)

    def pick(count: int) -> np.ndarray:
        return rng.choice(n, size=min(count, n), replace=False)

    amount[pick(NEGATIVE_AMOUNTS)] *= -1
    amount_series = pd.Series(amount)
    amount_series[rng.random(n) < NULL_AMOUNT_RATE] = np.nan
    category[pick(UNKNOWN_CATEGORIES)] = "unknown"
    bad = pick(BAD_EMAILS)
    email = email.to_numpy(dtype=object, copy=True)
    email[bad] = [e.replace("@", "-at-") for e in email[bad]]
    country[pick(ALPHA3_COUNTRIES)] = "USA"
    bad = pick(BAD_SKUS)
    sku[bad] = [s[:6] + "X" + s[7:] for s in sku[bad]]
    bad = pick(BAD_DATES)
    created_at[bad] = [d.replace("T", " ") for d in created_at[bad]]
    return pd.DataFrame(
        {
            "order_id": order_id,
            "customer_id": customer_id,
            "email": email,
            "amount": amount_series,
            "quantity": quantity,
            "score": score,
            "category": category,
            "country": country,
            "sku": sku,
            "created_at": created_at,
        },
        columns=COLUMNS,
    )


def generate_csv(path: Path, rows: int, log=print) -> bool:
    """Writes `rows` rows to `path`; False when a complete file of that size and generator version was
    already there (reused)."""
    done_marker = path.with_suffix(path.suffix + ".done")
    stamp = f"{rows} v{GENERATOR_VERSION}"
    if path.exists() and done_marker.exists() and done_marker.read_text().strip() == stamp:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".partial")
    with open(tmp, "w", newline="") as out:
        first = 0
        index = 0
        while first < rows:
            n = min(BLOCK, rows - first)
            frame = _block(index, first, n)
            frame.to_csv(out, index=False, header=(index == 0), lineterminator="\n")
            first += n
            index += 1
            log(f"  generated {first:,} / {rows:,} rows")
    tmp.replace(path)
    done_marker.write_text(stamp)
    return True


def suite(rows: int) -> list[dict]:
    """The 16 expectations, as {"type": ..., "kwargs": {...}} with GE's names and arguments."""
    def e(kind: str, **kwargs) -> dict:
        return {"type": kind, "kwargs": kwargs}

    return [
        e("expect_table_row_count_to_be_between", min_value=1, max_value=rows * 2),
        e("expect_table_columns_to_match_ordered_list", column_list=COLUMNS),
        e("expect_column_values_to_not_be_null", column="order_id"),
        e("expect_column_values_to_be_unique", column="order_id"),
        e("expect_column_values_to_be_between", column="amount", min_value=0, max_value=5000, mostly=0.999),
        e("expect_column_values_to_not_be_null", column="amount", mostly=0.95),
        e("expect_column_values_to_be_in_set", column="category", value_set=CATEGORIES),
        e("expect_column_values_to_match_regex", column="email", regex=r"^[a-z0-9.]+@[a-z0-9.-]+\.[a-z]{2,}$",
          mostly=0.99),
        e("expect_column_values_to_match_regex", column="sku", regex=r"^SKU-\d{6}$"),
        e("expect_column_values_to_be_between", column="quantity", min_value=1, max_value=20),
        e("expect_column_mean_to_be_between", column="score", min_value=49.5, max_value=50.5),
        e("expect_column_stdev_to_be_between", column="score", min_value=9.5, max_value=10.5),
        e("expect_column_median_to_be_between", column="amount", min_value=20, max_value=50),
        e("expect_column_quantile_values_to_be_between", column="amount",
          quantile_ranges={"quantiles": [0.05, 0.5, 0.95], "value_ranges": [[0, 15], [20, 50], [100, 200]]}),
        e("expect_column_distinct_values_to_be_in_set", column="country", value_set=COUNTRIES),
        e("expect_column_values_to_match_strftime_format", column="created_at", strftime_format="%Y-%m-%dT%H:%M:%S"),
    ]


def cairn_suite_yaml(name: str, expectations: list[dict]) -> str:
    """The same suite in cairn's format (YAML; JSON is YAML, so values are written as JSON)."""
    lines = ["version: 1", f"name: {json.dumps(name)}", "expectations:"]
    for exp in expectations:
        lines.append(f"  - type: {exp['type']}")
        for key, value in exp["kwargs"].items():
            lines.append(f"    {key}: {json.dumps(value)}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------------
# Comparing GE's validation result with cairn's JSON.

COMPARED_RESULT_KEYS = ["element_count", "missing_count", "unexpected_count"]


def _close(a, b, rel: float) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, float) and math.isnan(a):
            return isinstance(b, float) and math.isnan(b)
        return a == b or abs(a - b) <= rel * max(abs(a), abs(b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y, rel) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], rel) for k in a)
    return a == b


def _plain_list(values):
    """A partial list with numbers as floats (GE gives 12 or 12.5, a text-based engine may give "12")."""
    if not isinstance(values, list):
        return values
    out = []
    for v in values:
        if isinstance(v, str):
            try:
                v = float(v)
            except ValueError:
                pass
        elif isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        out.append(v)
    return out


def _short(values) -> str:
    text = repr(values)
    return text if len(text) < 200 else text[:200] + "..."


def compare_results(ge_results: list[dict], cairn_results: list[dict], rel: float = 1e-9) -> list[str]:
    """Disagreements, one line each: success, observed_value (where GE reports one) and the counts."""
    problems = []
    if len(ge_results) != len(cairn_results):
        problems.append(f"GE has {len(ge_results)} results, cairn {len(cairn_results)}")
    for n, (ge, ca) in enumerate(zip(ge_results, cairn_results)):
        kind = ge["expectation_config"]["type"]
        column = ge["expectation_config"]["kwargs"].get("column", "")
        label = f"#{n + 1} {kind}({column})"
        if ca.get("expectation_type") != kind:
            problems.append(f"{label}: cairn's result #{n + 1} is {ca.get('expectation_type')}")
            continue
        if ge["exception_info"].get("raised_exception"):
            problems.append(f"{label}: GE raised {ge['exception_info'].get('exception_message')}")
        if ca.get("exception_info", {}).get("raised_exception"):
            problems.append(f"{label}: cairn raised {ca['exception_info'].get('exception_message')}")
        if ge["success"] != ca.get("success"):
            problems.append(f"{label}: success GE={ge['success']} cairn={ca.get('success')}")
        ge_r, ca_r = ge.get("result") or {}, ca.get("result") or {}
        # GE 1.x reports observed_value None for the distinct-value set expectations (it gives the
        # offending values as unexpected_count / partial_unexpected_list instead): nothing to compare.
        if ge_r.get("observed_value") is not None and not _close(ge_r["observed_value"], ca_r.get("observed_value"), rel):
            problems.append(f"{label}: observed_value GE={ge_r['observed_value']!r} cairn={ca_r.get('observed_value')!r}")
        for key in COMPARED_RESULT_KEYS:
            if key in ge_r and ge_r[key] != ca_r.get(key):
                problems.append(f"{label}: {key} GE={ge_r[key]!r} cairn={ca_r.get(key)!r}")
        for key in ("unexpected_percent", "missing_percent", "unexpected_percent_nonmissing"):
            if key in ge_r and ge_r[key] is not None and not _close(ge_r[key], ca_r.get(key), rel):
                problems.append(f"{label}: {key} GE={ge_r[key]!r} cairn={ca_r.get(key)!r}")
        for key in ("partial_unexpected_list", "partial_unexpected_index_list"):
            if key in ge_r and not _close(_plain_list(ge_r[key]), _plain_list(ca_r.get(key)), rel):
                problems.append(f"{label}: {key} GE={_short(ge_r[key])} cairn={_short(ca_r.get(key))}")
    return problems
