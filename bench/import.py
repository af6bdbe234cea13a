#!/usr/bin/env python3
"""Import benchmark: `cairn import mlflow` over a generated MLflow database; prints runs/s and metrics/s.

    .venv/bin/python bench/import.py                      # 2,000 runs x 1,000 points
    .venv/bin/python bench/import.py --runs 200 --points 100   # smoke check

The schema is MLflow's own (created by the pinned MLflow's SqlAlchemyStore, alembic migrations
included); the rows are then written straight into it with sqlite3, which is much faster than
logging them through a server. Import timings include fsync per run (cairn's default durability).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def generate(db: Path, artifacts: Path, n_runs: int, n_points: int, n_params: int) -> int:
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(f"sqlite:///{db}", str(artifacts))
    experiment_id = store.create_experiment("bench-import")
    store.engine.dispose()
    con = sqlite3.connect(db)
    now = int(time.time() * 1000)
    total = 0
    for index in range(n_runs):
        run_id = uuid.uuid4().hex
        con.execute(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status, "
            "start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id) "
            "VALUES (?, ?, 'LOCAL', '', '', 'bench', 'FINISHED', ?, ?, '', 'active', ?, ?)",
            (run_id, f"run-{index}", now + index, now + index + 1000,
             f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts", int(experiment_id)),
        )
        con.executemany(
            "INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)",
            [(f"p{k}", str(k), run_id) for k in range(n_params)],
        )
        con.executemany(
            "INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
            [("mlflow.runName", f"run-{index}", run_id), ("mlflow.user", "bench", run_id)],
        )
        con.executemany(
            "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?, ?, ?, ?, ?, 0)",
            [("loss", 1.0 / (step + 1), now + step, run_id, step) for step in range(n_points)],
        )
        con.execute(
            "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) VALUES (?, ?, ?, ?, 0, ?)",
            ("loss", 1.0 / n_points, now + n_points - 1, n_points - 1, run_id),
        )
        total += n_points
    con.commit()
    con.close()
    return total


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--params", type=int, default=10)
    parser.add_argument("--cairn-bin", default=os.environ.get(
        "CAIRN_BIN", str(Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "release" / "cairn")))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cairn-bench-import-") as tmp:
        tmp = Path(tmp)
        started = time.monotonic()
        points = generate(tmp / "mlflow.db", tmp / "mlartifacts", args.runs, args.points, args.params)
        print(f"generated {args.runs} runs, {points} metric points in {time.monotonic() - started:.1f} s")
        cmd = [args.cairn_bin, "import", "mlflow", "--from", f"sqlite:///{tmp / 'mlflow.db'}",
               "--backend-store-uri", f"sqlite:///{tmp / 'cairn.db'}",
               "--artifacts-destination", str(tmp / "artifacts")]
        started = time.monotonic()
        done = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.monotonic() - started
        print(done.stdout, end="")
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return 1
        print(f"wall {wall:.2f} s: {args.runs / wall:.1f} runs/s, {points / wall:.0f} metrics/s")
        started = time.monotonic()
        subprocess.run(cmd, capture_output=True, text=True, check=True)
        print(f"re-import (everything skipped): {time.monotonic() - started:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
