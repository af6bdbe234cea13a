#!/usr/bin/env python3
"""`cairn data validate` vs Great Expectations 1.x: same CSV, same 16 expectations, same machine.

    .venv/bin/python bench/data_validate.py                 # 5,000,000 rows (~0.5 GB), plus 1,000,000 for scaling
    .venv/bin/python bench/data_validate.py --rows 200000   # quick run
    .venv/bin/python bench/data_validate.py --scale-rows 1000000,2000000 --scale-ge
    .venv/bin/python bench/data_validate.py --only cairn --cairn-bin /path/to/cairn

It generates (numpy, seeded; reused when present) a CSV of orders: 10 columns (ids, ints, floats with
nulls, categories, patterned strings, ISO timestamps) with a few planted violations; writes the suite
once as a GE suite and once as a cairn suite (YAML); then runs, each as its own process on the same
file with a warm page cache:

  * Great Expectations (its own venv, bench/.venv-ge, created on first use with pip): ephemeral
    context, pandas datasource, CSV asset, whole-dataframe batch, `batch.validate(suite,
    result_format="SUMMARY")`; the whole process is timed (import + read_csv + validate) and the worker
    also reports its phases;
  * `cairn data validate --suite suite.yaml DATA --json out.json`.

Wall time and peak RSS (the child's ru_maxrss from wait4) of each; a table with the ratios; and a
CHECK that both agree expectation by expectation (success, observed_value, element/missing/unexpected
counts and percentages, partial unexpected values and row indices; floats to 1e-9 relative): any
disagreement is printed and the exit status is 1. With --scale-rows cairn (and with --scale-ge GE too)
also runs on smaller prefixes of the same data, to show how peak memory grows with the row count.
Results go to bench/results/data-validate-<UTC time>.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
GE_VENV = BENCH / ".venv-ge"
GE_REQUIREMENT = "great_expectations>=1.0,<2"
SPEED_TARGET = 20.0  # cairn at least this many times faster than GE
MEMORY_TARGET = 5.0  # cairn's peak RSS at most 1/this of GE's


# ---------------------------------------------------------------------------------------------------------
# The GE side, run inside GE's venv as `python data_validate.py --ge-worker DATA SUITE OUT`.

def ge_worker(data: str, suite_path: str, out: str, result_format: str) -> int:
    t0 = time.monotonic()
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    t_import = time.monotonic()
    spec = json.loads(Path(suite_path).read_text())
    context = gx.get_context(mode="ephemeral")
    asset = context.data_sources.add_pandas("pandas").add_csv_asset("data", filepath_or_buffer=data)
    batch_definition = asset.add_batch_definition_whole_dataframe("all")
    suite = gx.ExpectationSuite(name=spec["name"])
    for exp in spec["expectations"]:
        suite.add_expectation(ExpectationConfiguration(type=exp["type"], kwargs=exp["kwargs"]).to_domain_obj())
    batch = batch_definition.get_batch()
    t_read = time.monotonic()
    result = batch.validate(suite, result_format=result_format)
    t_validate = time.monotonic()
    doc = result.to_json_dict()
    doc["bench_phases_s"] = {
        "import": t_import - t0,
        "context_and_read_csv": t_read - t_import,
        "validate": t_validate - t_read,
    }

    def plain(value):
        return value.item() if hasattr(value, "item") else str(value)

    Path(out).write_text(json.dumps(doc, default=plain))
    return 0


# ---------------------------------------------------------------------------------------------------------
# The driver.

def ensure_ge_venv(python: Path) -> Path:
    if python.exists():
        return python
    print(f"creating {GE_VENV} and installing {GE_REQUIREMENT} (a few minutes, once)")
    subprocess.run([sys.executable, "-m", "venv", str(GE_VENV)], check=True)
    pip = [str(GE_VENV / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, GE_REQUIREMENT], check=True)
    return python


def measure(cmd: list[str], log: Path, env: dict | None = None) -> dict:
    """Runs cmd to completion: wall seconds, peak RSS (MB, the child's ru_maxrss) and exit code."""
    with open(log, "wb") as out:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "wall_s": wall,
        "peak_rss_mb": usage.ru_maxrss / 1024,  # KiB on Linux
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "exit_code": proc.returncode,
    }


def warm_cache(path: Path) -> None:
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def run_cairn(cairn: str, data: Path, suite_yaml: Path, out_json: Path, work: Path, repeat: int) -> dict:
    runs = []
    for n in range(repeat):
        if out_json.exists():
            out_json.unlink()
        m = measure([cairn, "data", "validate", "--suite", str(suite_yaml), str(data), "--json", str(out_json)],
                    work / f"cairn-{data.stem}-{n}.log")
        if m["exit_code"] not in (0, 1) or not out_json.exists():
            raise SystemExit(f"cairn failed (exit {m['exit_code']}):\n"
                             f"{(work / f'cairn-{data.stem}-{n}.log').read_text()[-3000:]}")
        runs.append(m)
    return summarize(runs)


def run_ge(python: Path, data: Path, suite_json: Path, out_json: Path, work: Path, repeat: int,
           result_format: str) -> tuple[dict, dict]:
    runs = []
    doc = {}
    env = dict(os.environ, GX_ANALYTICS_ENABLED="false", PYTHONUNBUFFERED="1")
    for n in range(repeat):
        log = work / f"ge-{data.stem}-{n}.log"
        m = measure([str(python), str(Path(__file__).resolve()), "--ge-worker", str(data), str(suite_json),
                     str(out_json), "--result-format", result_format], log, env=env)
        if m["exit_code"] != 0:
            raise SystemExit(f"GE failed (exit {m['exit_code']}):\n{log.read_text()[-3000:]}")
        doc = json.loads(out_json.read_text())
        m["phases_s"] = doc.get("bench_phases_s", {})
        runs.append(m)
    return summarize(runs), doc


def summarize(runs: list[dict]) -> dict:
    out = {
        "runs": runs,
        "wall_s": statistics.median(r["wall_s"] for r in runs),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "cpu_s": statistics.median(r["cpu_s"] for r in runs),
        "exit_code": runs[-1]["exit_code"],
    }
    if "phases_s" in runs[-1]:
        out["phases_s"] = runs[-1]["phases_s"]
    return out


def same_config_value(a, b) -> bool:
    """Equal kwargs, GE having turned some ints into floats (min_value 0 -> 0.0)."""
    def norm(v):
        if isinstance(v, bool) or v is None or isinstance(v, str):
            return v
        if isinstance(v, (int, float)):
            return float(v)
        if isinstance(v, (list, tuple)):
            return [norm(x) for x in v]
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        return v
    return norm(a) == norm(b)


def order_ge_results(ge_doc: dict, expectations: list[dict]) -> list[dict]:
    """GE returns results in its own order; put them back in suite order (matching type and kwargs)."""
    pool = list(ge_doc["results"])
    ordered = []
    for exp in expectations:
        for i, res in enumerate(pool):
            cfg = res["expectation_config"]
            if cfg["type"] == exp["type"] and all(
                same_config_value(cfg["kwargs"].get(k), v) for k, v in exp["kwargs"].items()
            ):
                ordered.append(pool.pop(i))
                break
        else:
            raise SystemExit(f"no GE result for {exp}")
    return ordered


def fmt(value, digits=3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}" if value < 1 else f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return f"{value:,}"


def print_table(rows: list[tuple]) -> None:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for n, r in enumerate(rows):
        print("  ".join(str(c).ljust(widths[i]) if i == 0 else str(c).rjust(widths[i]) for i, c in enumerate(r)))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ge-worker", nargs=3, metavar=("DATA", "SUITE", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("--result-format", default="SUMMARY", choices=["SUMMARY", "COMPLETE"],
                    help="GE's result_format (default SUMMARY)")
    ap.add_argument("--rows", type=int, default=5_000_000, help="rows of the main dataset (default 5,000,000)")
    ap.add_argument("--scale-rows", default=None,
                    help="comma-separated smaller row counts cairn also runs on (default: rows/5; 'none' to skip)")
    ap.add_argument("--scale-ge", action="store_true", help="run GE on the --scale-rows sizes too")
    ap.add_argument("--repeat", type=int, default=1, help="GE runs per size (median wall, max RSS; default 1)")
    ap.add_argument("--cairn-repeat", type=int, default=3, help="cairn runs per size (default 3)")
    ap.add_argument("--only", choices=["cairn", "ge"], help="run one tool only (no agreement check)")
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    ap.add_argument("--cairn-bin", default=os.environ.get("CAIRN_BIN", str(target / "release" / "cairn")))
    ap.add_argument("--ge-python", default=str(GE_VENV / "bin" / "python"),
                    help="python of a venv with great_expectations 1.x (created at bench/.venv-ge if missing)")
    ap.add_argument("--work-dir", default=str(Path(tempfile.gettempdir()) / "cairn-bench-data"),
                    help="where the generated data and outputs go (reused between runs)")
    ap.add_argument("--out", default=str(BENCH / "results"))
    args = ap.parse_args()

    if args.ge_worker:
        return ge_worker(*args.ge_worker, result_format=args.result_format)

    sys.path.insert(0, str(BENCH))
    import data_common as dc

    if args.only != "ge" and not os.access(args.cairn_bin, os.X_OK):
        ap.error(f"cairn binary not found at {args.cairn_bin} (cargo build --release -p cairn, or --cairn-bin)")
    ge_python = ensure_ge_venv(Path(args.ge_python)) if args.only != "cairn" else None

    if args.scale_rows is None:
        scale = [args.rows // 5] if args.rows >= 10 else []
    elif args.scale_rows.lower() == "none":
        scale = []
    else:
        scale = [int(x.replace("_", "")) for x in args.scale_rows.split(",") if x.strip()]
    scale = sorted({n for n in scale if 0 < n < args.rows})

    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    out_dir = work / "out"
    out_dir.mkdir(exist_ok=True)
    expectations = dc.suite(args.rows)
    suite_name = "orders"
    (work / "suite-ge.json").write_text(json.dumps({"name": suite_name, "expectations": expectations}, indent=1))
    (work / "suite.yaml").write_text(dc.cairn_suite_yaml(suite_name, expectations))

    sizes = {}
    for rows in [*scale, args.rows]:
        path = work / f"orders-{rows}.csv"
        started = time.monotonic()
        generated = dc.generate_csv(path, rows, log=lambda m: print(m, flush=True))
        took = time.monotonic() - started
        sizes[rows] = path
        print(f"data: {path} ({path.stat().st_size / 1e6:,.0f} MB, {rows:,} rows)"
              + (f", generated in {took:.1f} s" if generated else ", reused"))
    print(f"suite: {len(expectations)} expectations ({work / 'suite.yaml'}, {work / 'suite-ge.json'})")
    print(f"cairn: {args.cairn_bin}")
    if ge_python:
        ge_version = subprocess.run([str(ge_python), "-c", "import great_expectations as g, pandas as p; "
                                     "print(g.__version__, p.__version__)"], capture_output=True, text=True,
                                    env=dict(os.environ, GX_ANALYTICS_ENABLED="false")).stdout.split()
        print(f"great_expectations {ge_version[0]} on pandas {ge_version[1]} ({ge_python})")
    else:
        ge_version = ["-", "-"]

    load_before = os.getloadavg()
    print(f"load average before the runs: {load_before[0]:.2f} (1 min) on {os.cpu_count()} cores"
          + ("  -- the machine is busy, timings will be noisy" if load_before[0] > 0.5 * (os.cpu_count() or 1) else ""))
    results: dict[int, dict] = {}
    disagreements: list[str] = []
    for rows in [args.rows, *reversed(scale)]:
        data = sizes[rows]
        warm_cache(data)
        entry = {"rows": rows, "bytes": data.stat().st_size}
        cairn_json = out_dir / f"cairn-{rows}.json"
        ge_json = out_dir / f"ge-{rows}.json"
        if args.only != "ge":
            print(f"running cairn on {rows:,} rows ...", flush=True)
            entry["cairn"] = run_cairn(args.cairn_bin, data, work / "suite.yaml", cairn_json, out_dir,
                                       args.cairn_repeat)
        if ge_python and (rows == args.rows or args.scale_ge):
            print(f"running Great Expectations on {rows:,} rows ...", flush=True)
            entry["ge"], ge_doc = run_ge(ge_python, data, work / "suite-ge.json", ge_json, out_dir, args.repeat,
                                         args.result_format)
            if "cairn" in entry:
                cairn_doc = json.loads(cairn_json.read_text())
                ge_results = order_ge_results(ge_doc, expectations)
                problems = dc.compare_results(ge_results, cairn_doc.get("results", []))
                if ge_doc.get("success") != cairn_doc.get("success"):
                    problems.append(f"overall success GE={ge_doc.get('success')} cairn={cairn_doc.get('success')}")
                if cairn_doc.get("row_count") != rows:
                    problems.append(f"cairn row_count {cairn_doc.get('row_count')} != {rows}")
                entry["agreement"] = {"checked": len(ge_results), "disagreements": problems,
                                      "ge_success": ge_doc.get("success"), "cairn_success": cairn_doc.get("success"),
                                      "failed_expectations": [r["expectation_config"]["type"] + "(" +
                                                              str(r["expectation_config"]["kwargs"].get("column", "")) + ")"
                                                              for r in ge_results if not r["success"]]}
                disagreements += [f"[{rows:,} rows] {p}" for p in problems]
        results[rows] = entry

    # The table.
    main_entry = results[args.rows]
    c, g = main_entry.get("cairn"), main_entry.get("ge")
    print()
    table = [("figure", "unit", "cairn", "GE", "GE / cairn")]
    if c or g:
        def ratio(a, b):
            return f"{b / a:.1f}x" if a and b else "-"
        table.append((f"validate {args.rows:,} rows x 10 columns, 16 expectations: wall", "s",
                      fmt(c and c["wall_s"]), fmt(g and g["wall_s"]), ratio(c and c["wall_s"], g and g["wall_s"])))
        table.append(("    cpu time (user + system)", "s", fmt(c and c["cpu_s"]), fmt(g and g["cpu_s"]),
                      ratio(c and c["cpu_s"], g and g["cpu_s"])))
        table.append(("    peak RSS", "MB", fmt(c and c["peak_rss_mb"]), fmt(g and g["peak_rss_mb"]),
                      ratio(c and c["peak_rss_mb"], g and g["peak_rss_mb"])))
        if g and g.get("phases_s"):
            ph = g["phases_s"]
            table.append(("    GE phases: import / context+read_csv / validate", "s", "",
                          f"{ph['import']:.1f} / {ph['context_and_read_csv']:.1f} / {ph['validate']:.1f}", ""))
            if c:
                table.append(("    GE read_csv + validate only (no import) vs cairn", "s", fmt(c["wall_s"]),
                              fmt(ph["context_and_read_csv"] + ph["validate"]),
                              ratio(c["wall_s"], ph["context_and_read_csv"] + ph["validate"])))
    for rows in scale:
        e = results[rows]
        ce, ge_ = e.get("cairn"), e.get("ge")
        table.append((f"scaling: {rows:,} rows: wall", "s", fmt(ce and ce["wall_s"]), fmt(ge_ and ge_["wall_s"]), ""))
        table.append(("    peak RSS", "MB", fmt(ce and ce["peak_rss_mb"]), fmt(ge_ and ge_["peak_rss_mb"]), ""))
    print_table(table)

    targets = {}
    if c and g:
        speed = g["wall_s"] / c["wall_s"]
        memory = g["peak_rss_mb"] / c["peak_rss_mb"]
        targets = {"speed_ratio": speed, "memory_ratio": memory,
                   "speed_target": SPEED_TARGET, "memory_target": MEMORY_TARGET,
                   "speed_met": speed >= SPEED_TARGET, "memory_met": memory >= MEMORY_TARGET}
        print(f"\ntargets: >= {SPEED_TARGET:g}x faster: {'met' if targets['speed_met'] else 'MISSED'} ({speed:.1f}x); "
              f"<= 1/{MEMORY_TARGET:g} peak memory: {'met' if targets['memory_met'] else 'MISSED'} ({memory:.1f}x less)")
    if scale and c:
        small = results[scale[0]]["cairn"]["peak_rss_mb"]
        print(f"cairn peak RSS {fmt(small)} MB at {scale[0]:,} rows, {fmt(c['peak_rss_mb'])} MB at {args.rows:,} rows "
              f"({c['peak_rss_mb'] / small:.2f}x for {args.rows / scale[0]:.1f}x the rows)")
    cpus = os.cpu_count()
    print(f"(GE/pandas runs on one core; cairn parses with its default thread count on {cpus} cores.)")
    checked = main_entry.get("agreement")
    if checked:
        print(f"\nagreement: {checked['checked']} expectations compared (GE failed as planted: "
              f"{', '.join(checked['failed_expectations']) or 'none'})")
    if disagreements:
        print(f"\nDISAGREEMENTS between GE and cairn ({len(disagreements)}):")
        for d in disagreements:
            print(f"  {d}")
    elif checked:
        print("GE and cairn agree on every expectation (success, observed values, counts, partial lists)")

    out_dir_results = Path(args.out)
    out_dir_results.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    doc = {
        "timestamp_utc": stamp,
        "rows": args.rows,
        "scale_rows": scale,
        "columns": dc.COLUMNS,
        "expectations": expectations,
        "result_format": args.result_format,
        "great_expectations": ge_version[0],
        "pandas": ge_version[1],
        "cairn_bin": args.cairn_bin,
        "results": {str(k): v for k, v in results.items()},
        "targets": targets,
        "disagreements": disagreements,
        "host": {"platform": platform.platform(), "python": platform.python_version(), "cpus": cpus,
                 "load_average_before": load_before, "load_average_after": os.getloadavg()},
    }
    suffix = "" if args.rows == 5_000_000 else f"-{args.rows}"
    path = out_dir_results / f"data-validate-{stamp}{suffix}.json"
    path.write_text(json.dumps(doc, indent=1))
    print(f"\nresults: {path}")
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
