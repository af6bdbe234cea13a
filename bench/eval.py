#!/usr/bin/env python3
"""`cairn eval` vs scikit-learn: the same binary predictions with probabilities and a 5-value slice
column, the same metrics overall and per slice, in one run on one machine.

    .venv/bin/python bench/eval.py                  # 10,000,000 rows (~0.3 GB of CSV)
    .venv/bin/python bench/eval.py --rows 1000000   # quick run
    .venv/bin/python bench/eval.py --cairn-bin /path/to/cairn --repeat 3

It generates (numpy, seeded, in blocks of 1,000,000 rows; cached under /tmp/cairn-bench-eval) a CSV of
predictions: `label` (0/1), `prediction` (0/1), `proba` (the positive class' probability, full float64
precision, a fifth of them rounded to 3 decimals so there are ties) and `segment` (5 values); then runs,
each as its own process on a warm page cache:

  * scikit-learn 1.9 (this venv): `pandas.read_csv`, then overall and for each segment (a boolean mask,
    as a user would write it): accuracy_score, balanced_accuracy_score, precision_recall_fscore_support
    (binary, macro, micro, weighted), confusion_matrix, roc_auc_score, average_precision_score,
    log_loss, brier_score_loss, calibration_curve (10 uniform bins) and the expected calibration error
    from it; the whole process is timed (import + read + metrics) and the worker reports its phases;
  * `cairn eval DATA --label-col label --prediction-col prediction --proba-col proba --slice-by segment
    --json out.json --quiet`.

It prints wall time, CPU time and peak RSS (the child's `ru_maxrss` from wait4) of each and the ratios,
and CHECKS that every value agrees to 1e-9 relative (exit 1 otherwise). Results go to
bench/results/eval-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
CACHE = Path("/tmp/cairn-bench-eval")
SEED = 20261123
GENERATOR_VERSION = 1
BLOCK = 1_000_000
SEGMENTS = ["north", "south", "east", "west", "centre"]
SPEED_TARGET = 20.0
REL = 1e-9


# ---------------------------------------------------------------------------------------------------------
# Data.

def generate(path: Path, rows: int) -> None:
    import numpy as np
    import pandas as pd

    marker = path.with_suffix(".done")
    stamp = f"{rows} v{GENERATOR_VERSION}"
    if path.exists() and marker.exists() and marker.read_text().strip() == stamp:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with open(partial, "w", newline="") as out:
        first = 0
        index = 0
        while first < rows:
            n = min(BLOCK, rows - first)
            rng = np.random.default_rng([SEED, index])
            segment = rng.choice(len(SEGMENTS), n, p=[0.3, 0.25, 0.2, 0.15, 0.1])
            # Segments differ in base rate and in how well the model separates them.
            base = np.array([0.3, 0.4, 0.5, 0.2, 0.35])[segment]
            label = (rng.random(n) < base).astype(np.int64)
            signal = np.array([1.5, 1.2, 1.0, 0.8, 2.0])[segment]
            logit = np.log(base / (1 - base)) + signal * (2 * label - 1) + rng.normal(0, 1, n)
            proba = 1 / (1 + np.exp(-logit))
            tied = rng.random(n) < 0.2
            proba[tied] = np.round(proba[tied], 3)
            prediction = (proba >= 0.5).astype(np.int64)
            frame = pd.DataFrame({
                "label": label,
                "prediction": prediction,
                "proba": proba,
                "segment": np.array(SEGMENTS, dtype=object)[segment],
            })
            frame.to_csv(out, index=False, header=(index == 0), lineterminator="\n")
            first += n
            index += 1
            print(f"  generated {first:,} / {rows:,} rows", file=sys.stderr)
    partial.replace(path)
    marker.write_text(stamp)


# ---------------------------------------------------------------------------------------------------------
# The scikit-learn side, run as `python eval.py --sklearn-worker DATA OUT`.

def sklearn_metrics(y, y_pred, p) -> dict:
    import numpy as np
    from sklearn import metrics as skm
    from sklearn.calibration import calibration_curve

    out = {
        "example_count": float(len(y)),
        "accuracy_score": skm.accuracy_score(y, y_pred),
        "balanced_accuracy_score": skm.balanced_accuracy_score(y, y_pred),
    }
    precision, recall, f1, _ = skm.precision_recall_fscore_support(y, y_pred, average="binary")
    out.update(precision_score=precision, recall_score=recall, f1_score=f1)
    for average in ("macro", "micro", "weighted"):
        precision, recall, f1, _ = skm.precision_recall_fscore_support(y, y_pred, average=average)
        out[f"precision_{average}"] = precision
        out[f"recall_{average}"] = recall
        out[f"f1_{average}"] = f1
    tn, fp, fn, tp = skm.confusion_matrix(y, y_pred).ravel()
    out.update(true_negatives=tn, false_positives=fp, false_negatives=fn, true_positives=tp)
    out["roc_auc"] = skm.roc_auc_score(y, p)
    out["precision_recall_auc"] = skm.average_precision_score(y, p)
    out["log_loss"] = skm.log_loss(y, p)
    out["brier_score_loss"] = skm.brier_score_loss(y, p)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy="uniform")
    counts = np.bincount(np.searchsorted(np.linspace(0, 1, 11)[1:-1], p), minlength=10)
    counts = counts[counts > 0]
    out["expected_calibration_error"] = float(np.sum(counts / len(p) * np.abs(prob_true - prob_pred)))
    return {key: float(value) for key, value in out.items()}


def sklearn_worker(data: str, out: str) -> int:
    t0 = time.monotonic()
    import pandas as pd
    import sklearn.metrics  # noqa: F401

    t_import = time.monotonic()
    df = pd.read_csv(data)
    t_read = time.monotonic()
    y = df["label"].to_numpy()
    y_pred = df["prediction"].to_numpy()
    p = df["proba"].to_numpy()
    segment = df["segment"].to_numpy()
    result = {"overall": sklearn_metrics(y, y_pred, p), "slices": {}}
    for value in sorted(df["segment"].unique()):
        mask = segment == value
        result["slices"][value] = sklearn_metrics(y[mask], y_pred[mask], p[mask])
    t_metrics = time.monotonic()
    result["phases_s"] = {"import": t_import - t0, "read_csv": t_read - t_import, "metrics": t_metrics - t_read}
    Path(out).write_text(json.dumps(result))
    return 0


# ---------------------------------------------------------------------------------------------------------
# Running and comparing.

def measure(cmd: list[str], log: Path) -> dict:
    """Runs cmd to completion: wall seconds, CPU seconds, peak RSS (MB, the child's ru_maxrss)."""
    with open(log, "wb") as out:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - started
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "exit_code": os.waitstatus_to_exitcode(status),
    }


def warm_cache(path: Path) -> None:
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def cairn_binary(explicit: str | None) -> str:
    if explicit:
        return explicit
    if os.environ.get("CAIRN_BIN"):
        return os.environ["CAIRN_BIN"]
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return str(target / "release" / "cairn")


def compare(sk: dict, cairn: dict) -> list[str]:
    problems = []

    def check(where: str, expected: dict, actual: dict) -> None:
        for name, value in expected.items():
            got = actual.get(name)
            if got is None or abs(got - value) > REL * max(1.0, abs(value)):
                problems.append(f"{where} {name}: scikit-learn {value!r} cairn {got!r}")

    check("overall", sk["overall"], cairn["overall"]["metrics"])
    slices = {s["value"]: s["metrics"] for s in cairn["slices"][0]["slices"]}
    if sorted(slices) != sorted(sk["slices"]):
        problems.append(f"slices: scikit-learn {sorted(sk['slices'])} cairn {sorted(slices)}")
    for value, expected in sk["slices"].items():
        check(f"segment={value}", expected, slices.get(value, {}))
    # The gaps cairn reports against the spread of scikit-learn's per-slice values.
    for name, gap in cairn["slices"][0]["gaps"].items():
        values = [s[name] for s in sk["slices"].values() if name in s]
        if values and abs(gap["gap"] - (max(values) - min(values))) > REL * max(1.0, max(map(abs, values))):
            problems.append(f"gap {name}: scikit-learn {max(values) - min(values)!r} cairn {gap['gap']!r}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each tool (the median is reported)")
    parser.add_argument("--cairn-bin")
    parser.add_argument("--only", choices=["cairn", "sklearn"])
    parser.add_argument("--sklearn-worker", nargs=2, metavar=("DATA", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sklearn_worker:
        return sklearn_worker(*args.sklearn_worker)

    data = CACHE / f"predictions-{args.rows}.csv"
    generate(data, args.rows)
    work = CACHE / "work"
    work.mkdir(parents=True, exist_ok=True)
    warm_cache(data)
    cairn = cairn_binary(args.cairn_bin)
    cairn_json, sk_json = work / "cairn.json", work / "sklearn.json"
    runs: dict[str, list[dict]] = {"cairn": [], "sklearn": []}
    for _ in range(args.repeat):
        if args.only != "sklearn":
            cmd = [cairn, "eval", str(data), "--label-col", "label", "--prediction-col", "prediction",
                   "--proba-col", "proba", "--slice-by", "segment", "--json", str(cairn_json), "--quiet"]
            run = measure(cmd, work / "cairn.log")
            if run["exit_code"] != 0:
                print((work / "cairn.log").read_text(), file=sys.stderr)
                return 1
            runs["cairn"].append(run)
        if args.only != "cairn":
            cmd = [sys.executable, str(Path(__file__).resolve()), "--sklearn-worker", str(data), str(sk_json)]
            run = measure(cmd, work / "sklearn.log")
            if run["exit_code"] != 0:
                print((work / "sklearn.log").read_text(), file=sys.stderr)
                return 1
            runs["sklearn"].append(run)

    def median(tool: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[tool]) if runs[tool] else float("nan")

    size_mb = data.stat().st_size / 1e6
    print(f"\n{args.rows:,} predictions (binary, probabilities, 5 slices), {size_mb:,.0f} MB CSV, "
          f"{os.cpu_count()} cores, median of {args.repeat}")
    print(f"{'':24}{'cairn':>12}{'scikit-learn':>14}{'ratio':>10}")
    for key, unit in (("wall_s", "s"), ("cpu_s", "s"), ("peak_rss_mb", "MB")):
        c, s = median("cairn", key), median("sklearn", key)
        print(f"{key.replace('_s', '').replace('_mb', '') + ' (' + unit + ')':24}{c:>12.2f}{s:>14.2f}{s / c:>9.1f}x")
    problems: list[str] = []
    result = {"rows": args.rows, "runs": runs, "host": platform.platform(), "cores": os.cpu_count()}
    if runs["cairn"] and runs["sklearn"]:
        sk = json.loads(sk_json.read_text())
        print(f"scikit-learn phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in sk["phases_s"].items()))
        problems = compare(sk, json.loads(cairn_json.read_text()))
        compared = len(sk["overall"]) * (1 + len(sk["slices"]))
        speedup = median("sklearn", "wall_s") / median("cairn", "wall_s")
        print(f"CHECK: {compared} values compared (overall and per slice), "
              f"{'all agree to 1e-9' if not problems else f'{len(problems)} disagree'}")
        for line in problems:
            print("  " + line)
        print(f"speed-up {speedup:.1f}x (target >= {SPEED_TARGET:.0f}x): {'met' if speedup >= SPEED_TARGET else 'NOT met'}")
        result.update(speedup=speedup, problems=problems, sklearn_phases_s=sk["phases_s"])
    results = BENCH / "results"
    results.mkdir(exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    (results / f"eval-{stamp}.json").write_text(json.dumps(result, indent=2))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
