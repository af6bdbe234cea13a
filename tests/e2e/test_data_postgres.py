"""`cairn data validate` on PostgreSQL (checks pushed down as SQL) agrees with the same data as CSV.

The same rows go into a table of a fresh database and into a CSV file; one suite that uses every
expectation type runs on both, and the JSON results must match: success, observed values (floats to
1e-9), element/missing/unexpected counts, examples and their row numbers (the PostgreSQL run passes
`--order-by id`, the CSV is written in id order). Bad inputs (unknown table, a quote in a name, no
such database, a wrong password) must end in exit 2 with a clear message and no password shown.

Skipped when no PostgreSQL answers at CAIRN_TEST_POSTGRES_URL
(default postgresql://cairn:cairn@127.0.0.1:5432/postgres; scripts/postgres-up starts one).
"""

import csv
import json
import math
import os
import random
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

CAIRN = os.environ.get("CAIRN_BIN", "/root/.cache/cairn-target/release/cairn")
ADMIN = os.environ.get("CAIRN_TEST_POSTGRES_URL", "postgresql://cairn:cairn@127.0.0.1:5432/postgres")
WEIRD = 'we"ird'


def psql(url, sql, check=True):
    return subprocess.run(
        ["psql", url, "-v", "ON_ERROR_STOP=1", "-q", "-X", "-A", "-t", "-c", sql],
        capture_output=True, text=True, timeout=60, check=check,
    )


def reachable():
    if shutil.which("psql") is None:
        return False
    try:
        return psql(ADMIN, "SELECT 1", check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


pytestmark = pytest.mark.skipif(not reachable(), reason=f"no PostgreSQL at {ADMIN}")


def database_url(name):
    base, _, query = ADMIN.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


COLUMNS = ["id", "amount", "qty", "name", "code", "flag", "category", "day", "payload", "a", "b", WEIRD]
SQL_TYPES = ["integer", "double precision", "integer", "text", "text", "boolean", "text", "text",
             "text", "bigint", "numeric", "text"]


def make_rows(n=240):
    rng = random.Random(7)
    rows = []
    for i in range(n):
        amount = None if i % 17 == 3 else round(rng.uniform(-5, 120), 3)
        if i == 11:
            amount = 80.0  # a float written without a fraction in PostgreSQL's rendering
        rows.append({
            "id": i + 1,
            "amount": amount,
            "qty": None if i % 5 == 0 else rng.randint(0, 40),
            "name": None if i % 23 == 0 else rng.choice(["alice", "bob", "carol", "dave", "eve", "mallory x"]),
            "code": rng.choice(["AB-123", "CD-456", "EF-7890", "bad code", "GH-000"]),
            "flag": rng.random() < 0.3,
            "category": rng.choice(["red", "green", "blue", "blue", "blue", "teal's"]),
            "day": rng.choice(["2024-01-05", "2024-02-29", "2023-12-31", "not a day", "2024-13-01"]),
            "payload": rng.choice(['{"k": 1}', "[1, 2]", "{broken", '"text"']),
            "a": rng.randint(0, 5),
            "b": None if i % 13 == 0 else rng.randint(0, 5),
            WEIRD: rng.choice(["x", "y", "it's", 'say "hi"']),
        })
    return rows


def csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float):
        return repr(value)
    return str(value)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("pgpush")
    name = f"cairn_e2e_pgpush_{uuid.uuid4().hex[:12]}"
    psql(ADMIN, f"CREATE DATABASE {name}")
    url = database_url(name)
    rows = make_rows()
    data = workdir / "data.csv"
    with open(data, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([csv_cell(row[c]) for c in COLUMNS])
    columns_sql = ", ".join(
        '"' + c.replace('"', '""') + '" ' + t for c, t in zip(COLUMNS, SQL_TYPES)
    )
    psql(url, f"CREATE TABLE public.orders ({columns_sql})")
    # Rows go in shuffled so that only --order-by id gives the CSV's order.
    shuffled = workdir / "shuffled.csv"
    lines = data.read_text().splitlines(keepends=True)
    body = lines[1:]
    random.Random(3).shuffle(body)
    shuffled.write_text(lines[0] + "".join(body))
    psql(url, f"\\copy public.orders FROM '{shuffled}' WITH (FORMAT csv, HEADER true)")
    yield {"workdir": workdir, "url": url, "csv": data, "rows": rows}
    psql(ADMIN, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", check=False)


def suite_entries():
    e = lambda kind, **kwargs: {"type": kind, **kwargs}  # noqa: E731
    return [
        e("expect_table_row_count_to_be_between", min_value=100, max_value=1000),
        e("expect_table_row_count_to_equal", value=240),
        e("expect_table_columns_to_match_set", column_set=COLUMNS[:-1], exact_match=True),
        e("expect_table_columns_to_match_ordered_list", column_list=COLUMNS),
        e("expect_table_column_count_to_equal", value=12),
        e("expect_table_column_count_to_be_between", min_value=1, max_value=5),
        e("expect_column_to_exist", column=WEIRD),
        e("expect_column_to_exist", column="nope"),
        e("expect_column_values_to_be_of_type", column="id", type_="int64"),
        e("expect_column_values_to_be_of_type", column="qty", type_="int64"),
        e("expect_column_values_to_be_of_type", column="flag", type_="bool"),
        e("expect_column_values_to_be_in_type_list", column="amount", type_list=["float", "int"]),
        e("expect_column_values_to_be_in_type_list", column="name", type_list=["int"]),
        e("expect_column_values_to_not_be_null", column="amount"),
        e("expect_column_values_to_not_be_null", column="id"),
        e("expect_column_values_to_be_null", column="qty", mostly=0.1),
        e("expect_column_values_to_be_unique", column="id"),
        e("expect_column_values_to_be_unique", column="category"),
        e("expect_compound_columns_to_be_unique", column_list=["category", "flag"]),
        e("expect_select_column_values_to_be_unique_within_record", column_list=["a", "b"]),
        e("expect_column_values_to_be_between", column="amount", min_value=0, max_value=100, mostly=0.8),
        e("expect_column_values_to_be_between", column="qty", min_value=5, strict_min=True),
        e("expect_column_values_to_be_between", column="name", min_value=0),
        e("expect_column_values_to_be_between", column="day", min_value="2024-01-01", max_value="2024-12-31"),
        e("expect_column_values_to_be_in_set", column="category", value_set=["red", "green", "blue"]),
        e("expect_column_values_to_be_in_set", column="qty", value_set=[1, 2, 3, "4"], max_unexpected_count=500),
        e("expect_column_values_to_not_be_in_set", column="flag", value_set=[True]),
        e("expect_column_values_to_match_regex", column="code", regex=r"^[A-Z]{2}-\d{3}$"),
        e("expect_column_values_to_not_match_regex", column=WEIRD, regex="'"),
        e("expect_column_values_to_match_regex_list", column="name", regex_list=["^a", "e$"], match_on="any"),
        e("expect_column_values_to_not_match_regex_list", column="code", regex_list=["^AB", "0$"]),
        e("expect_column_value_lengths_to_be_between", column="name", min_value=3, max_value=5),
        e("expect_column_value_lengths_to_equal", column="code", value=6),
        e("expect_column_values_to_be_increasing", column="id", strictly=True),
        e("expect_column_values_to_be_decreasing", column="amount"),
        e("expect_column_values_to_be_increasing", column="name"),
        e("expect_column_mean_to_be_between", column="amount", min_value=40, max_value=70),
        e("expect_column_median_to_be_between", column="qty", min_value=10, max_value=30),
        e("expect_column_quantile_values_to_be_between", column="amount",
          quantile_ranges={"quantiles": [0.0, 0.1, 0.25, 0.5, 0.75, 0.95, 1.0],
                           "value_ranges": [[-10, 0], [0, 20], [20, 40], [40, 70], [70, 100], [100, 130], [110, 130]]}),
        e("expect_column_stdev_to_be_between", column="amount", min_value=10),
        e("expect_column_sum_to_be_between", column="qty", min_value=0),
        e("expect_column_sum_to_be_between", column="flag", max_value=10),
        e("expect_column_min_to_be_between", column="amount", min_value=0),
        e("expect_column_max_to_be_between", column="b", max_value=5),
        e("expect_column_mean_to_be_between", column="name", min_value=0),
        e("expect_column_distinct_values_to_be_in_set", column="category", value_set=["red", "green", "blue"]),
        e("expect_column_distinct_values_to_contain_set", column="a", value_set=[0, 5]),
        e("expect_column_distinct_values_to_equal_set", column="flag", value_set=[True, False]),
        e("expect_column_unique_value_count_to_be_between", column="code", min_value=5, max_value=5),
        e("expect_column_proportion_of_unique_values_to_be_between", column="qty", max_value=0.5),
        e("expect_column_most_common_value_to_be_in_set", column="category", value_set=["blue"]),
        e("expect_column_pair_values_to_be_equal", column_A="a", column_B="b", mostly=0.1),
        e("expect_column_pair_values_a_to_be_greater_than_b", column_A="a", column_B="b", or_equal=True),
        e("expect_column_values_to_be_dateutil_parseable", column="day"),
        e("expect_column_values_to_match_strftime_format", column="day", strftime_format="%Y-%m-%d"),
        e("expect_column_values_to_be_json_parseable", column="payload"),
        e("expect_column_value_z_scores_to_be_less_than", column="amount", threshold=1.5),
        e("expect_column_values_to_not_be_outliers", column="qty"),
        e("expect_column_kl_divergence_to_be_less_than", column="category",
          partition_object={"values": ["red", "green", "blue"], "weights": [0.3, 0.3, 0.4]}, threshold=0.1),
    ]


KNOWN_TYPES = {
    "table_row_count_to_be_between", "table_row_count_to_equal", "table_columns_to_match_set",
    "table_columns_to_match_ordered_list", "table_column_count_to_equal",
    "table_column_count_to_be_between", "column_to_exist", "column_values_to_be_of_type",
    "column_values_to_be_in_type_list", "column_values_to_not_be_null", "column_values_to_be_null",
    "column_values_to_be_unique", "compound_columns_to_be_unique",
    "select_column_values_to_be_unique_within_record", "column_values_to_be_between",
    "column_values_to_be_in_set", "column_values_to_not_be_in_set", "column_values_to_match_regex",
    "column_values_to_not_match_regex", "column_values_to_match_regex_list",
    "column_values_to_not_match_regex_list", "column_value_lengths_to_be_between",
    "column_value_lengths_to_equal", "column_values_to_be_increasing", "column_values_to_be_decreasing",
    "column_mean_to_be_between", "column_median_to_be_between", "column_quantile_values_to_be_between",
    "column_stdev_to_be_between", "column_sum_to_be_between", "column_min_to_be_between",
    "column_max_to_be_between", "column_distinct_values_to_be_in_set",
    "column_distinct_values_to_contain_set", "column_distinct_values_to_equal_set",
    "column_unique_value_count_to_be_between", "column_proportion_of_unique_values_to_be_between",
    "column_most_common_value_to_be_in_set", "column_pair_values_to_be_equal",
    "column_pair_values_a_to_be_greater_than_b", "column_values_to_be_dateutil_parseable",
    "column_values_to_match_strftime_format", "column_values_to_be_json_parseable",
    "column_value_z_scores_to_be_less_than", "column_values_to_not_be_outliers",
    "column_kl_divergence_to_be_less_than",
}


def write_suite(workdir, entries, name="suite.json"):
    path = Path(workdir) / name
    path.write_text(json.dumps({"version": 1, "name": "orders", "expectations": entries}))
    return path


def cairn(*args, timeout=120):
    return subprocess.run([CAIRN, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def validate(workdir, suite, data, *extra, tag="run"):
    out = Path(workdir) / f"{tag}.json"
    proc = cairn("data", "validate", "--suite", suite, data, *extra, "--json", out, "--quiet")
    assert proc.returncode in (0, 1), proc.stderr
    return proc, json.loads(out.read_text())


def same(a, b, path="value"):
    if isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, (int, float)) and isinstance(b, (int, float)), f"{path}: {a!r} != {b!r}"
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), f"{path}: {a!r} != {b!r}"
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), f"{path}: keys {sorted(a)} != {sorted(b)}"
        for key in a:
            same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), f"{path}: {a!r} != {b!r}"
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


COMPARED = ["observed_value", "element_count", "missing_count", "unexpected_count", "unexpected_percent",
            "partial_unexpected_list", "partial_unexpected_index_list", "details"]


def assert_same_results(from_csv, from_pg):
    assert len(from_csv["results"]) == len(from_pg["results"])
    for index, (left, right) in enumerate(zip(from_csv["results"], from_pg["results"])):
        where = f"expectation {index + 1} ({left['expectation_type']})"
        assert left["success"] == right["success"], (where, left, right)
        assert left["exception_info"] == right["exception_info"], (where, left, right)
        for key in COMPARED:
            assert (key in left["result"]) == (key in right["result"]), (where, key, left, right)
            if key in left["result"]:
                same(left["result"][key], right["result"][key], f"{where}.{key}")
    assert from_csv["row_count"] == from_pg["row_count"]
    assert from_csv["columns"] == from_pg["columns"]
    assert from_csv["success"] == from_pg["success"]
    assert from_csv["statistics"] == from_pg["statistics"]


def test_suite_uses_every_expectation_type():
    used = {entry["type"].removeprefix("expect_") for entry in suite_entries()}
    assert used == KNOWN_TYPES


def test_table_results_equal_the_csv_results(world):
    suite = write_suite(world["workdir"], suite_entries())
    csv_proc, from_csv = validate(world["workdir"], suite, world["csv"], tag="csv")
    pg_proc, from_pg = validate(world["workdir"], suite, world["url"], "--table", "public.orders",
                                "--order-by", "id", tag="pg")
    assert csv_proc.returncode == pg_proc.returncode == 1
    assert_same_results(from_csv, from_pg)
    # The suite exercises both outcomes and real failures with examples.
    outcomes = [r["success"] for r in from_pg["results"]]
    assert any(outcomes) and not all(outcomes)
    assert sum(1 for r in from_pg["results"] if r["result"].get("partial_unexpected_list")) >= 10
    # The password never shows.
    assert "cairn:cairn@" not in json.dumps(from_pg) and ":***@" in from_pg["data"]


def test_query_results_equal_the_csv_results(world):
    entries = [e for e in suite_entries() if not e["type"].startswith("expect_table_row_count")]
    suite = write_suite(world["workdir"], entries, "query-suite.json")
    _, from_csv = validate(world["workdir"], suite, world["csv"], tag="csv-q")
    _, from_pg = validate(world["workdir"], suite, world["url"], "--query",
                          "SELECT * FROM public.orders;", "--order-by", "id", tag="pg-q")
    assert_same_results(from_csv, from_pg)


def test_without_order_monotonic_checks_say_why(world):
    entries = [
        {"type": "expect_column_values_to_be_increasing", "column": "id"},
        {"type": "expect_column_values_to_not_be_null", "column": "amount"},
    ]
    suite = write_suite(world["workdir"], entries, "order-suite.json")
    _, from_pg = validate(world["workdir"], suite, world["url"], "--table", "orders", tag="pg-order")
    first, second = from_pg["results"]
    assert first["success"] is False
    assert "--order-by" in first["exception_info"]["exception_message"]
    # Without an order, examples are the same values (in the server's order).
    expected_missing = sum(1 for row in world["rows"] if row["amount"] is None)
    assert second["result"]["unexpected_count"] == expected_missing
    assert second["result"]["partial_unexpected_list"] == [None] * min(20, expected_missing)


def test_pushdown_matches_pandas(world):
    """A few observed values straight from pandas, so both engines are tied to the reference."""
    pandas = pytest.importorskip("pandas")
    frame = pandas.read_csv(world["csv"])
    entries = [
        {"type": "expect_column_mean_to_be_between", "column": "amount", "min_value": 0},
        {"type": "expect_column_stdev_to_be_between", "column": "amount", "min_value": 0},
        {"type": "expect_column_median_to_be_between", "column": "qty", "min_value": 0},
        {"type": "expect_column_values_to_be_unique", "column": "category"},
    ]
    suite = write_suite(world["workdir"], entries, "pandas-suite.json")
    _, from_pg = validate(world["workdir"], suite, world["url"], "--table", "orders", tag="pg-pd")
    observed = [r["result"] for r in from_pg["results"]]
    assert math.isclose(observed[0]["observed_value"], frame["amount"].mean(), rel_tol=1e-12)
    assert math.isclose(observed[1]["observed_value"], frame["amount"].std(), rel_tol=1e-12)
    assert observed[2]["observed_value"] == frame["qty"].median()
    assert observed[3]["unexpected_count"] == int(frame["category"].duplicated(keep=False).sum())


def run_bad(world, *args):
    suite = write_suite(world["workdir"], [
        {"type": "expect_column_values_to_not_be_null", "column": "id"}], "bad-suite.json")
    return cairn("data", "validate", "--suite", suite, *args)


def test_unknown_table_is_an_input_error(world):
    proc = run_bad(world, world["url"], "--table", "public.no_such_table")
    assert proc.returncode == 2, proc.stderr
    assert "no_such_table" in proc.stderr and "does not exist" in proc.stderr


def test_a_quote_in_a_name_cannot_inject(world):
    # A table name built to close the quote and drop the table: it is just a name that does not exist.
    proc = run_bad(world, world["url"], "--table", 'orders"; DROP TABLE public.orders; --')
    assert proc.returncode == 2, proc.stderr
    assert "does not exist" in proc.stderr
    assert psql(world["url"], "SELECT count(*) FROM public.orders").stdout.strip() == "240"
    # A column with a quote in its name works (and a missing one fails that expectation only).
    suite = write_suite(world["workdir"], [
        {"type": "expect_column_values_to_be_in_set", "column": WEIRD, "value_set": ["x", "y", "it's"]},
        {"type": "expect_column_values_to_not_be_null", "column": 'x"; DROP TABLE public.orders; --'},
    ], "quote-suite.json")
    _, from_pg = validate(world["workdir"], suite, world["url"], "--table", "orders", "--order-by", "id",
                          tag="quote")
    _, from_csv = validate(world["workdir"], suite, world["csv"], tag="quote-csv")
    assert_same_results(from_csv, from_pg)
    assert from_pg["results"][0]["result"]["unexpected_count"] == sum(
        1 for row in world["rows"] if row[WEIRD] == 'say "hi"')
    assert psql(world["url"], "SELECT count(*) FROM public.orders").stdout.strip() == "240"


def test_no_such_database_and_wrong_password(world):
    missing = database_url(f"cairn_e2e_missing_{uuid.uuid4().hex[:8]}")
    proc = run_bad(world, missing, "--table", "orders")
    assert proc.returncode == 2, proc.stderr
    assert "does not exist" in proc.stderr and "cannot connect" in proc.stderr
    wrong = world["url"].replace("cairn:cairn@", "cairn:Wr0ngSecret@")
    assert wrong != world["url"]
    proc = run_bad(world, wrong, "--table", "orders")
    assert proc.returncode == 2, proc.stderr
    assert "password authentication failed" in proc.stderr
    assert "Wr0ngSecret" not in proc.stderr + proc.stdout
    assert ":***@" in proc.stderr


def test_flags_need_a_postgres_input(world):
    proc = run_bad(world, world["csv"], "--table", "orders")
    assert proc.returncode == 2
    assert "postgresql://" in proc.stderr
    proc = run_bad(world, world["url"])
    assert proc.returncode == 2
    assert "--table" in proc.stderr
