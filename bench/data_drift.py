"""`cairn data drift` against Evidently's DataDriftPreset on the same CSV files, side by side.

Generates reference and current datasets (default 1,000,000 rows each, 10 columns: 6 numeric,
4 categorical, some drifted), then runs, one after the other on the same machine:

- `cairn data drift --reference R --current C --json OUT`
- a Python script (in the Evidently venv) that reads both files with pandas and runs
  `Report([DataDriftPreset()])` with the same column types, writing each column's score.

Each run is wrapped in `/usr/bin/time -v`: wall time and peak RSS of the process. The script then
checks that every column gets the same method, the same score (relative 1e-6) and the same verdict.

    # once: a separate venv for Evidently (it needs pandas < 3)
    python3 -m venv bench/.venv && bench/.venv/bin/pip install evidently "pandas<3" psutil
    .venv/bin/python bench/data_drift.py [--rows N] [--cairn-bin PATH] [--evidently-python PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
NUMERIC = ["n_normal", "n_shifted", "n_lognormal", "n_scaled", "n_poisson", "n_nulls"]
CATEGORICAL = ["c_fifty", "c_changed", "c_binary", "c_many"]

EVIDENTLY_SCRIPT = r"""
import json, sys, time
import pandas as pd
from evidently import Report, Dataset, DataDefinition
from evidently.presets import DataDriftPreset

reference_path, current_path, out_path, numeric, categorical = sys.argv[1:6]
numeric, categorical = numeric.split(","), categorical.split(",")
start = time.perf_counter()
dtypes = {name: "string" for name in categorical}
reference = pd.read_csv(reference_path, dtype=dtypes)
current = pd.read_csv(current_path, dtype=dtypes)
read_s = time.perf_counter() - start
definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
snapshot = Report([DataDriftPreset()]).run(
    Dataset.from_pandas(current, data_definition=definition),
    Dataset.from_pandas(reference, data_definition=definition),
)
result = {"columns": {}, "read_s": read_s, "total_s": time.perf_counter() - start}
for metric in snapshot.dict()["metrics"]:
    config = metric.get("config", {})
    if config.get("type", "").endswith("ValueDrift"):
        result["columns"][config["column"]] = {
            "method": config["method"], "score": metric["value"], "threshold": config["threshold"],
        }
    elif config.get("type", "").endswith("DriftedColumnsCount"):
        result["drifted_count"] = metric["value"]["count"]
        result["drift_share"] = metric["value"]["share"]
json.dump(result, open(out_path, "w"))
"""


def generate(path: Path, rows: int, seed: int, drift: bool) -> None:
    rng = np.random.default_rng(seed)
    shift = 1.0 if drift else 0.0
    nulls = rng.normal(0.05 * shift, 1.0, rows)
    nulls[rng.random(rows) < 0.01] = np.nan
    fifty = [f"v{i:02d}" for i in range(50)]
    changed_p = np.array([0.4, 0.3, 0.2, 0.1]) if not drift else np.array([0.25, 0.25, 0.25, 0.25])
    frame = pd.DataFrame(
        {
            "n_normal": rng.normal(0.0, 1.0, rows),
            "n_shifted": rng.normal(0.3 * shift, 1.0, rows),
            "n_lognormal": rng.lognormal(0.0, 0.5, rows),
            "n_scaled": rng.uniform(0.0, 10.0 * (1.0 + 0.5 * shift), rows),
            "n_poisson": rng.poisson(20.0, rows),
            "n_nulls": nulls,
            "c_fifty": rng.choice(fifty, rows),
            "c_changed": rng.choice(["alpha", "beta", "gamma", "delta"], rows, p=changed_p),
            "c_binary": rng.choice(["yes", "no"], rows),
            "c_many": np.char.add("id", rng.integers(0, 1000, rows).astype(str)),
        }
    )
    frame.to_csv(path, index=False, float_format="%.6f")


def timed(command: list[str]) -> tuple[float, float, int, str]:
    """Runs a command under /usr/bin/time -v: (wall s, peak RSS MB, exit code, stderr)."""
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True)
    wall = time.perf_counter() - start
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    rss_mb = int(match.group(1)) / 1024 if match else float("nan")
    return wall, rss_mb, done.returncode, done.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/cairn-drift-bench"))
    parser.add_argument("--cairn-bin", default=os.environ.get("CAIRN_BIN"))
    parser.add_argument("--evidently-python", default=str(ROOT / "bench" / ".venv" / "bin" / "python"))
    args = parser.parse_args()
    cairn = args.cairn_bin or str(Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "cairn")
    args.workdir.mkdir(parents=True, exist_ok=True)
    reference = args.workdir / f"reference-{args.rows}.csv"
    current = args.workdir / f"current-{args.rows}.csv"
    for path, seed, drift in [(reference, 1, False), (current, 2, True)]:
        if not path.exists():
            print(f"generating {path} ({args.rows:,} rows)...", file=sys.stderr)
            generate(path, args.rows, seed, drift)
    sizes = reference.stat().st_size + current.stat().st_size

    cairn_out = args.workdir / "cairn.json"
    cairn_wall, cairn_rss, cairn_code, cairn_err = timed(
        [cairn, "data", "drift", "--reference", str(reference), "--current", str(current), "--json", str(cairn_out)]
    )
    if cairn_code not in (0, 1):
        print(cairn_err, file=sys.stderr)
        return 2
    cairn_report = json.loads(cairn_out.read_text())

    evidently_out = args.workdir / "evidently.json"
    script = args.workdir / "run_evidently.py"
    script.write_text(EVIDENTLY_SCRIPT)
    if not Path(args.evidently_python).exists():
        print(f"no Evidently venv at {args.evidently_python}; see the docstring", file=sys.stderr)
        return 2
    ev_wall, ev_rss, ev_code, ev_err = timed(
        [args.evidently_python, str(script), str(reference), str(current), str(evidently_out),
         ",".join(NUMERIC), ",".join(CATEGORICAL)]
    )
    if ev_code != 0:
        print(ev_err[-3000:], file=sys.stderr)
        return 2
    evidently = json.loads(evidently_out.read_text())

    print(f"\n{args.rows:,} vs {args.rows:,} rows x 10 columns ({sizes / 1e6:.0f} MB of CSV), {os.cpu_count()} cores\n")
    print(f"{'column':<12} {'method':<32} {'cairn score':>14} {'evidently':>14} {'rel diff':>9}  drift (cairn/evidently)")
    agree = True
    for column in cairn_report["columns"]:
        name = column["column"]
        other = evidently["columns"][name]
        score, other_score = column["score"], other["score"]
        rel = abs(score - other_score) / max(abs(other_score), 1e-300)
        p_value = column["method"] in ("ks", "chisquare", "z")
        if column["method"] == "ks":
            other_drift = other_score <= other["threshold"]
        elif p_value:
            other_drift = other_score < other["threshold"]
        else:
            other_drift = other_score >= other["threshold"]
        same = column["method_name"] == other["method"] and column["drifted"] == other_drift and rel <= 1e-6
        agree &= same
        print(
            f"{name:<12} {column['method_name']:<32} {score:>14.8g} {other_score:>14.8g} {rel:>9.1e}  "
            f"{'yes' if column['drifted'] else 'no'}/{'yes' if other_drift else 'no'}{'' if same else '  MISMATCH'}"
        )
    print(
        f"\ndrifted columns: cairn {cairn_report['n_drifted']}, evidently {evidently.get('drifted_count')}; "
        f"dataset drift: cairn {cairn_report['dataset_drift']} (exit {cairn_code})"
    )
    print(f"\n{'':<28} {'cairn':>10} {'evidently':>10} {'ratio':>8}")
    print(f"{'wall time (s)':<28} {cairn_wall:>10.2f} {ev_wall:>10.2f} {ev_wall / cairn_wall:>7.1f}x")
    print(f"{'  of which evidently reading CSV':<28} {'':>10} {evidently['read_s']:>10.2f}")
    print(f"{'peak RSS (MB)':<28} {cairn_rss:>10.0f} {ev_rss:>10.0f} {ev_rss / cairn_rss:>7.1f}x")
    print(f"\nverdicts and scores agree: {'yes' if agree else 'NO'}")
    results = {
        "rows": args.rows,
        "csv_bytes": sizes,
        "host": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "cairn": {"wall_s": cairn_wall, "peak_rss_mb": cairn_rss, "exit": cairn_code},
        "evidently": {"wall_s": ev_wall, "peak_rss_mb": ev_rss, "read_s": evidently["read_s"]},
        "speedup": ev_wall / cairn_wall,
        "memory_ratio": ev_rss / cairn_rss,
        "agree": agree,
    }
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    (out_dir / f"data-drift-{stamp}.json").write_text(json.dumps(results, indent=2))
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
