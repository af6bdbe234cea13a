#!/usr/bin/env python3
"""UI benchmark: cairn's runs page and chart page against the API calls MLflow's UI makes, on the
same data: 100,000 runs in one experiment and one run with 1,000,000 points of one metric.

    .venv/bin/python bench/ui.py                       # full size (generation + import take minutes)
    .venv/bin/python bench/ui.py --runs 5000 --points 100000   # smaller, quicker

The data is written once into an MLflow database (MLflow's own schema, rows inserted with sqlite3,
as bench/import.py does); stock `mlflow server` serves that file, and cairn serves a store made from
it by `cairn import mlflow` (so both hold exactly the same runs and points). Then, per server, the
median over repeated requests (request sent -> last byte, on one keep-alive connection):

- runs page: cairn's `GET /runs?experiment=ID` (the whole HTML page: search + render) against
  MLflow's UI call for its runs table, `POST /ajax-api/2.0/mlflow/runs/search` (100 runs,
  newest first); the target is < 300 ms for cairn;
- chart page: cairn's `GET /charts?run=ID&key=loss` (the page with the 1,000,000-point series
  downsampled to 1,000 points by MinMaxLTTB, shape kept) against MLflow's UI call for a chart,
  `GET /ajax-api/2.0/mlflow/metrics/get-history-bulk-interval` (its default 320 sampled points, which
  skip extremes), and against reading the whole history the way the client pages it
  (`get-history`, 25,000 a page), which is what a true shape needs from MLflow; target < 300 ms.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tracking import Server, free_port  # noqa: E402  (same start/stop/health logic)

REPO = Path(__file__).resolve().parents[1]


def generate(db: Path, artifacts: Path, n_runs: int, n_points: int) -> tuple[str, str]:
    """MLflow's schema (its own migrations), then rows straight into it. Returns (experiment id,
    id of the run holding the long metric)."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(f"sqlite:///{db}", str(artifacts))
    experiment_id = store.create_experiment("ui-bench")
    store.engine.dispose()
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode = WAL")
    now = int(time.time() * 1000) - n_runs * 1000
    runs, params, tags, latest = [], [], [], []
    for index in range(n_runs):
        run_id = uuid.uuid4().hex
        start = now + index * 1000
        runs.append((run_id, f"run-{index}", start, start + 500 + index % 977,
                     f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts", int(experiment_id)))
        params += [("lr", str(10 ** -(1 + index % 4)), run_id), ("depth", str(index % 12), run_id)]
        tags += [("mlflow.runName", f"run-{index}", run_id), ("mlflow.user", "bench", run_id),
                 ("mlflow.source.name", "train.py", run_id)]
        latest.append(("loss", ((index * 7919) % n_runs) / n_runs, start + 400, 10, 0, run_id))
    con.executemany(
        "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status, "
        "start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id) "
        "VALUES (?, ?, 'LOCAL', '', '', 'bench', 'FINISHED', ?, ?, '', 'active', ?, ?)", runs)
    con.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)", params)
    con.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)", tags)
    con.executemany("INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
                    "VALUES (?, ?, ?, ?, ?, ?)", latest)
    con.executemany("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?, ?, ?, ?, ?, 0)",
                    [(key, value, ts, run_id, step) for key, value, ts, step, _, run_id in latest])
    # The long run: a noisy decaying curve with rare spikes, so that a downsampler that skips
    # extremes shows a different shape.
    long_run = runs[-1][0]
    con.execute("DELETE FROM metrics WHERE run_uuid = ?", (long_run,))
    points = []
    for step in range(n_points):
        value = 1.0 / (1 + step / 1000) + ((step * 2654435761) % 1000) / 50000
        if step % 99_991 == 7:
            value += 5.0
        points.append(("loss", value, now + step, long_run, step))
        if len(points) == 200_000:
            con.executemany("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?, ?, ?, ?, ?, 0)", points)
            points.clear()
    con.executemany("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?, ?, ?, ?, ?, 0)", points)
    con.execute("UPDATE latest_metrics SET step = ?, value = ?, timestamp = ? WHERE run_uuid = ?",
                (n_points - 1, 1.0 / (1 + (n_points - 1) / 1000), now + n_points - 1, long_run))
    con.commit()
    con.close()
    return str(experiment_id), long_run


class Timer:
    def __init__(self, url: str):
        host, port = url.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=600)

    def once(self, method: str, target: str, body: dict | None = None) -> tuple[float, int, bytes]:
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if payload else {}
        t0 = time.perf_counter()
        self.conn.request(method, target, body=payload, headers=headers)
        response = self.conn.getresponse()
        raw = response.read()
        return time.perf_counter() - t0, response.status, raw

    def median_ms(self, method: str, target: str, body: dict | None = None, repeats: int = 7) -> float:
        elapsed, status, raw = self.once(method, target, body)  # warm-up
        if status != 200:
            raise RuntimeError(f"{method} {target} -> {status}: {raw[:300]!r}")
        times = []
        for _ in range(repeats):
            elapsed, status, raw = self.once(method, target, body)
            if status != 200:
                raise RuntimeError(f"{method} {target} -> {status}: {raw[:300]!r}")
            times.append(elapsed * 1000)
        return statistics.median(times)


def mlflow_full_history_ms(timer: Timer, run_id: str, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        total, token = 0.0, None
        while True:
            params = {"run_id": run_id, "run_uuid": run_id, "metric_key": "loss", "max_results": 25000}
            if token:
                params["page_token"] = token
            elapsed, status, raw = timer.once("GET", "/ajax-api/2.0/mlflow/metrics/get-history?" + urllib.parse.urlencode(params))
            if status != 200:
                raise RuntimeError(f"get-history -> {status}: {raw[:300]!r}")
            total += elapsed
            token = json.loads(raw).get("next_page_token")
            if not token:
                break
        times.append(total * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--cairn-bin", default=os.environ.get(
        "CAIRN_BIN", str(Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "release" / "cairn")))
    parser.add_argument("--mlflow-timeout", type=float, default=180)
    args = parser.parse_args()
    venv_bin = Path(sys.executable).parent
    with tempfile.TemporaryDirectory(prefix="cairn-bench-ui-") as tmp:
        tmp = Path(tmp)
        started = time.monotonic()
        experiment_id, long_run = generate(tmp / "mlflow.db", tmp / "mlartifacts", args.runs, args.points)
        print(f"generated {args.runs:,} runs and a {args.points:,}-point metric in {time.monotonic() - started:.0f} s", flush=True)
        started = time.monotonic()
        subprocess.run([args.cairn_bin, "import", "mlflow", "--from", f"sqlite:///{tmp / 'mlflow.db'}",
                        "--backend-store-uri", f"sqlite:///{tmp / 'cairn.db'}",
                        "--artifacts-destination", str(tmp / "artifacts")],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"cairn import mlflow: {time.monotonic() - started:.0f} s", flush=True)

        results: dict[str, dict[str, float]] = {}
        cairn = Server("cairn", [args.cairn_bin, "server", "--port", str(port := free_port()),
                                 "--backend-store-uri", f"sqlite:///{tmp / 'cairn.db'}",
                                 "--artifacts-destination", str(tmp / "artifacts")], port, tmp)
        cairn.start(30)
        try:
            timer = Timer(cairn.url)
            # What is timed must be the real thing: the runs page lists runs, the chart carries points.
            _, status, page = timer.once("GET", f"/runs?experiment={experiment_id}")
            rows = page.count(b'class="run-row')
            if status != 200 or rows != 50:
                raise RuntimeError(f"cairn's runs page answered {status} with {rows} runs, expected 50")
            _, status, page = timer.once("GET", f"/api/2.0/cairn/metrics/series?run_id={long_run}&metric_key=loss&max_points=1000")
            points = json.loads(page)["points"]
            if status != 200 or not 500 <= len(points) <= 1000 or max(p[2] for p in points) < 5.0:
                raise RuntimeError(f"cairn's series answered {status} with {len(points)} points, spikes missing?")
            # The import keeps MLflow's experiment id when it is free.
            results["cairn"] = {
                "runs_page_ms": timer.median_ms("GET", f"/runs?experiment={experiment_id}"),
                "runs_page_100_ms": timer.median_ms("GET", f"/runs?experiment={experiment_id}&max_results=100"),
                "chart_page_ms": timer.median_ms("GET", f"/charts?run={long_run}&key=loss"),
                "series_api_ms": timer.median_ms("GET", f"/api/2.0/cairn/metrics/series?run_id={long_run}&metric_key=loss&max_points=1000"),
            }
        finally:
            cairn.stop()
        print(f"cairn: {results['cairn']}", flush=True)

        mlflow = Server("mlflow", [str(venv_bin / "mlflow"), "server", "--port", str(port := free_port()),
                                   "--backend-store-uri", f"sqlite:///{tmp / 'mlflow.db'}",
                                   "--artifacts-destination", str(tmp / "mlartifacts")], port, tmp)
        mlflow.start(args.mlflow_timeout)
        try:
            timer = Timer(mlflow.url)
            search = {"experiment_ids": [experiment_id], "max_results": 100, "run_view_type": "ACTIVE_ONLY",
                      "order_by": ["attributes.start_time DESC"], "filter": ""}
            bulk = urllib.parse.urlencode({"run_ids": long_run, "metric_key": "loss", "max_results": 320})
            results["mlflow"] = {
                "runs_search_ms": timer.median_ms("POST", "/ajax-api/2.0/mlflow/runs/search", search),
                "bulk_interval_ms": timer.median_ms("GET", f"/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval?{bulk}", repeats=5),
                "full_history_ms": mlflow_full_history_ms(timer, long_run),
            }
        finally:
            mlflow.stop()
        print(f"mlflow: {results['mlflow']}", flush=True)

    c, m = results["cairn"], results["mlflow"]
    rows = [
        ("runs page (cairn HTML, 50 runs) vs MLflow UI runs/search (100 runs)", c["runs_page_ms"], m["runs_search_ms"]),
        ("runs page (cairn HTML, 100 runs) vs MLflow UI runs/search (100 runs)", c["runs_page_100_ms"], m["runs_search_ms"]),
        ("chart page (1,000 points, MinMaxLTTB) vs MLflow bulk-interval (320 sampled)", c["chart_page_ms"], m["bulk_interval_ms"]),
        ("chart page vs MLflow whole history (get-history pages)", c["chart_page_ms"], m["full_history_ms"]),
        ("series API (1,000 points) vs MLflow bulk-interval (320 sampled)", c["series_api_ms"], m["bulk_interval_ms"]),
    ]
    print(f"\n{args.runs:,} runs in one experiment; one run with {args.points:,} points of 'loss'")
    print(f"{'figure':78} {'cairn ms':>10} {'mlflow ms':>10} {'ratio':>8}")
    for label, cairn_ms, mlflow_ms in rows:
        print(f"{label:78} {cairn_ms:10.1f} {mlflow_ms:10.1f} {mlflow_ms / cairn_ms:7.1f}x")
    verdict = all(value < 300 for key, value in c.items() if key in ("runs_page_ms", "chart_page_ms"))
    print(f"\ntarget (< 300 ms server time for the runs page and the chart page): {'met' if verdict else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
