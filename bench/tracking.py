#!/usr/bin/env python3
"""Tracking-server benchmark: cairn vs stock `mlflow server`, same work, same client.

    .venv/bin/python bench/tracking.py            # full run (a few minutes; stock MLflow is slow)
    .venv/bin/python bench/tracking.py --quick    # small sizes, for a smoke check
    .venv/bin/python bench/tracking.py --only cairn
    .venv/bin/python bench/tracking.py --backend postgres   # both servers on one PostgreSQL

Every server runs over a fresh database (SQLite in a temp dir, or with --backend postgres a fresh
database each on the PostgreSQL that scripts/postgres-up starts, or CAIRN_TEST_POSTGRES_URL) and
gets identical work: set-up through
a requests.Session, timed calls through a bare keep-alive http.client connection. Results go to stdout
(a table with how many times better cairn is) and to bench/results/tracking-<UTC timestamp>.json.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import http.client
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import psutil
import requests

REPO = Path(__file__).resolve().parents[1]
API = "/api/2.0/mlflow"

FULL = {
    "batches": 30,  # (a) log-batch calls of 1000 metrics
    "latency_calls": 300,  # (b) single log-metric calls
    "search_runs": 2000,  # (c) runs to search over
    "search_repeats": 10,
    "history_points": 100_000,  # (d) points in one metric
    "history_repeats": 3,
    "idle_settle_s": 3.0,  # (f) wait after healthy before reading RSS
}
QUICK = {
    "batches": 5,
    "latency_calls": 50,
    "search_runs": 200,
    "search_repeats": 3,
    "history_points": 10_000,
    "history_repeats": 2,
    "idle_settle_s": 1.0,
}

# (key, label, unit, better)
FIGURES = [
    ("log_batch_metrics_per_s", "(a) log-batch throughput, 1000 metrics/batch", "metrics/s", "higher"),
    ("log_metric_median_ms", "(b) log-metric latency, median", "ms", "lower"),
    ("log_metric_p95_ms", "    log-metric latency, p95", "ms", "lower"),
    ("search_runs_median_ms", "(c) search-runs filter+order over N runs, median", "ms", "lower"),
    ("search_runs_first_ms", "    search-runs, first call (cairn: run cache cold)", "ms", "lower"),
    ("search_runs_results", "    runs returned by that search", "runs", "same"),
    ("get_history_s", "(d) get-history, whole metric, median", "s", "lower"),
    ("startup_s", "(e) process start -> healthy", "s", "lower"),
    ("idle_rss_mb", "(f) idle RSS after startup (process tree)", "MB", "lower"),
]


def postgres_admin_url() -> str:
    """CAIRN_TEST_POSTGRES_URL, or the cluster scripts/postgres-up starts (and prints)."""
    url = os.environ.get("CAIRN_TEST_POSTGRES_URL")
    if url:
        return url
    done = subprocess.run([str(REPO / "scripts" / "postgres-up")], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def fresh_postgres_database(admin: str, name: str) -> str:
    """Creates database `name` (dropping an old one) with psql and returns its URL."""
    for sql in (f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}"):
        subprocess.run(["psql", admin, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True, capture_output=True)
    base, _, query = admin.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Server:
    name: str
    cmd: list[str]
    port: int
    workdir: Path
    proc: subprocess.Popen | None = None
    startup_s: float = 0.0
    log_path: Path = field(init=False)

    def __post_init__(self):
        self.log_path = self.workdir / f"{self.name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float) -> None:
        log = open(self.log_path, "wb")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            self.cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        log.close()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}")
            try:
                if requests.get(self.url + "/health", timeout=1).status_code == 200:
                    self.startup_s = time.monotonic() - t0
                    return
            except requests.RequestException:
                pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"{self.name} not healthy within {timeout} s:\n{self.log_path.read_text()[-3000:]}")

    def rss_mb(self) -> float:
        root = psutil.Process(self.proc.pid)
        procs = [root, *root.children(recursive=True)]
        total = 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total / (1024 * 1024)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)


class Client:
    """Set-up goes through `requests`; timed calls through `timed()`, a bare keep-alive `http.client`
    connection, so that what is measured is the server (request sent -> last byte received), not the
    ~1.5 ms that `requests` adds to every call or the client's JSON encoding and decoding. Both servers
    get exactly the same client and bytes."""

    def __init__(self, url: str):
        self.url = url
        self.s = requests.Session()
        host, port = url.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=600)

    def timed(self, method: str, path: str, body=None, params=None) -> tuple[float, dict]:
        """One call; returns (seconds from sending to the last byte of the answer, parsed answer)."""
        payload = json.dumps(body).encode() if body is not None else None
        target = API + path + ("?" + urllib.parse.urlencode(params) if params else "")
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        for attempt in range(2):
            try:
                t0 = time.perf_counter()
                self.conn.request(method, target, body=payload, headers=headers)
                response = self.conn.getresponse()
                raw = response.read()
                elapsed = time.perf_counter() - t0
                break
            except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
                # The server closed the idle keep-alive connection (uvicorn does after 5 s): reconnect
                # and time the retry alone.
                self.conn.close()
                if attempt == 1:
                    raise
        if response.status != 200:
            raise RuntimeError(f"{method} {path} -> {response.status}: {raw[:300]!r}")
        return elapsed, json.loads(raw)

    def call(self, method: str, path: str, body=None, params=None) -> dict:
        r = self.s.request(method, self.url + API + path, json=body, params=params, timeout=600)
        if r.status_code != 200:
            raise RuntimeError(f"{method} {path} -> {r.status_code}: {r.text[:300]}")
        return r.json()

    def experiment(self, name: str) -> str:
        return self.call("POST", "/experiments/create", {"name": name})["experiment_id"]

    def run(self, eid: str, name: str = "r") -> str:
        body = {"experiment_id": eid, "run_name": name, "start_time": now_ms(), "user_id": "bench"}
        return self.call("POST", "/runs/create", body)["run"]["info"]["run_id"]


def bench_log_batch(c: Client, eid: str, n_batches: int) -> dict:
    rid = c.run(eid, "throughput")
    ts = now_ms()
    bodies = [
        {
            "run_id": rid,
            "metrics": [
                {"key": f"tp_{b % 10}", "value": float(i), "timestamp": ts + i, "step": b * 1000 + i} for i in range(1000)
            ],
        }
        for b in range(n_batches)
    ]
    c.timed("POST", "/runs/log-batch", bodies[0])  # warm-up, not counted
    elapsed = sum(c.timed("POST", "/runs/log-batch", body)[0] for body in bodies[1:])
    return {"log_batch_metrics_per_s": (len(bodies) - 1) * 1000 / elapsed}


def bench_log_metric(c: Client, eid: str, n: int) -> dict:
    rid = c.run(eid, "latency")
    times = []
    for i in range(n + 5):
        body = {"run_id": rid, "key": "lat", "value": float(i), "timestamp": now_ms(), "step": i}
        elapsed, _ = c.timed("POST", "/runs/log-metric", body)
        if i >= 5:  # warm-up
            times.append(elapsed * 1000)
    times.sort()
    return {
        "log_metric_median_ms": statistics.median(times),
        "log_metric_p95_ms": times[int(len(times) * 0.95) - 1],
    }


def parallel(c: Client, fn, items, threads: int = 8) -> None:
    """Run set-up work (not measured) on several connections; stock MLflow is too slow otherwise."""
    local = threading.local()

    def call(item):
        if not hasattr(local, "client"):
            local.client = Client(c.url)
        fn(local.client, item)

    with ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(call, items):
            pass


def bench_search(c: Client, n_runs: int, repeats: int) -> dict:
    eid = c.experiment("search-bench")
    ts = now_ms()

    def make_run(cl: Client, i: int) -> None:
        rid = cl.run(eid, f"run-{i}")
        cl.call(
            "POST",
            "/runs/log-batch",
            {
                "run_id": rid,
                "metrics": [{"key": "m", "value": (i * 7919 % n_runs) / n_runs, "timestamp": ts, "step": 0}],
                "params": [{"key": "p", "value": "Y" if i % 2 == 0 else "N"}],
            },
        )

    parallel(c, make_run, range(n_runs))
    body = {
        "experiment_ids": [eid],
        "filter": "metrics.m > 0.5 and params.p = 'Y'",
        "order_by": ["metrics.m DESC"],
        "max_results": 1000,
        "run_view_type": "ACTIVE_ONLY",
    }
    times, count = [], 0
    # The first call is timed on its own: cairn loads every run of the page from the database (its
    # run cache is cold); the repeats that follow find the runs unchanged (`runs.rev`) and cached.
    first, _ = c.timed("POST", "/runs/search", body)
    for _ in range(repeats):
        elapsed, data = c.timed("POST", "/runs/search", body)
        times.append(elapsed * 1000)
        count = len(data.get("runs", []))
    return {
        "search_runs_median_ms": statistics.median(times),
        "search_runs_first_ms": first * 1000,
        "search_runs_results": count,
    }


def bench_history(c: Client, eid: str, points: int, repeats: int) -> dict:
    rid = c.run(eid, "history")
    ts = now_ms()

    def log_chunk(cl: Client, start: int) -> None:
        metrics = [
            {"key": "hist", "value": i * 0.001, "timestamp": ts + i, "step": i} for i in range(start, min(points, start + 1000))
        ]
        cl.call("POST", "/runs/log-batch", {"run_id": rid, "metrics": metrics})

    parallel(c, log_chunk, range(0, points, 1000), threads=4)
    times, got = [], 0
    for _ in range(repeats):
        total, got, token = 0.0, 0, None
        while True:  # page like the client does (max_results=25000)
            params = {"run_id": rid, "run_uuid": rid, "metric_key": "hist", "max_results": 25000}
            if token:
                params["page_token"] = token
            elapsed, data = c.timed("GET", "/metrics/get-history", params=params)
            total += elapsed
            got += len(data.get("metrics", []))
            token = data.get("next_page_token")
            if not token:
                break
        times.append(total)
    if got != points:
        raise RuntimeError(f"get-history returned {got} points, expected {points}")
    return {"get_history_s": statistics.median(times)}


def run_server_bench(server: Server, sizes: dict, start_timeout: float) -> dict:
    print(f"\n== {server.name}: starting ({' '.join(server.cmd[:2])} ...)", flush=True)
    server.start(start_timeout)
    res = {"startup_s": server.startup_s}
    try:
        print(f"   healthy after {server.startup_s:.2f} s", flush=True)
        time.sleep(sizes["idle_settle_s"])
        res["idle_rss_mb"] = server.rss_mb()
        c = Client(server.url)
        eid = c.experiment("bench")
        steps = [
            ("log-batch throughput", lambda: bench_log_batch(c, eid, sizes["batches"] + 1)),
            ("log-metric latency", lambda: bench_log_metric(c, eid, sizes["latency_calls"])),
            ("search-runs", lambda: bench_search(c, sizes["search_runs"], sizes["search_repeats"])),
            ("get-history", lambda: bench_history(c, eid, sizes["history_points"], sizes["history_repeats"])),
        ]
        for label, fn in steps:
            t0 = time.monotonic()
            out = fn()
            res.update(out)
            shown = ", ".join(f"{k}={v:.4g}" for k, v in out.items())
            print(f"   {label}: {shown}  ({time.monotonic() - t0:.1f} s)", flush=True)
    finally:
        server.stop()
    return res


def fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) >= 100):
        return f"{int(v):,}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 1:
        return f"{v:.2f}"
    return f"{v:.4f}"


def advantage(cairn_value, mlflow_value, better: str) -> str:
    """How many times better cairn is (>1 = cairn wins), whichever way the figure points."""
    if cairn_value is None or mlflow_value in (None, 0) or cairn_value == 0 or better == "same":
        return "-"
    factor = cairn_value / mlflow_value if better == "higher" else mlflow_value / cairn_value
    return f"{factor:.3g}x"


def print_table(results: dict, sizes: dict, backend: str) -> None:
    c, cn, m = results.get("cairn", {}), results.get("cairn-normal", {}), results.get("mlflow", {})
    rows = [("figure", "unit", "cairn", "cairn (sync=normal)", "mlflow", "cairn vs mlflow", "normal vs mlflow")]
    for key, label, unit, better in FIGURES:
        cv, cnv, mv = c.get(key), cn.get(key), m.get(key)
        label = label.replace("N runs", f"{sizes['search_runs']:,} runs")
        if key == "get_history_s":
            label += f" ({sizes['history_points']:,} points)"
        rows.append((label, unit, fmt(cv), fmt(cnv), fmt(mv), advantage(cv, mv, better), advantage(cnv, mv, better)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print()
    for n, r in enumerate(rows):
        print("  ".join(col.ljust(widths[i]) if i < 2 else col.rjust(widths[i]) for i, col in enumerate(r)))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    if backend == "postgres":
        print("\nBoth servers on the same PostgreSQL (a fresh database each, default settings: every commit")
        print("flushed). 'N x' = how many times better than stock mlflow server.")
    else:
        print("\n'cairn' is the default (--sqlite-synchronous full: every commit fsynced); 'sync=normal' survives a")
        print("process crash but not a power cut. 'N x' = how many times better than stock mlflow server.")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke check)")
    ap.add_argument("--only", choices=["cairn", "mlflow"], help="benchmark one server only")
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    ap.add_argument("--cairn-bin", default=os.environ.get("CAIRN_BIN", str(target / "release" / "cairn")))
    ap.add_argument("--mlflow-bin", default=str(REPO / ".venv" / "bin" / "mlflow"))
    ap.add_argument("--out", default=str(REPO / "bench" / "results"))
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite",
                    help="the metadata store of both servers (default: sqlite)")
    args = ap.parse_args()
    postgres_admin = postgres_admin_url() if args.backend == "postgres" else None

    def store_uri(directory: Path, file_name: str) -> str:
        if postgres_admin is None:
            return f"sqlite:///{directory / file_name}"
        return fresh_postgres_database(postgres_admin, f"cairn_bench_{directory.name.replace('-', '_')}")
    sizes = QUICK if args.quick else FULL

    tmp = Path(tempfile.mkdtemp(prefix="cairn-bench-"))
    servers = []
    if args.only in (None, "cairn"):
        if not os.access(args.cairn_bin, os.X_OK):
            ap.error(f"cairn binary not found at {args.cairn_bin} (cargo build --release -p cairn, or --cairn-bin)")
        variants = (("cairn", "full"), ("cairn-normal", "normal")) if postgres_admin is None else (("cairn", "full"),)
        for name, synchronous in variants:
            d = tmp / name
            d.mkdir()
            port = free_port()
            servers.append(
                Server(
                    name,
                    [args.cairn_bin, "server", "--host", "127.0.0.1", "--port", str(port),
                     "--backend-store-uri", store_uri(d, "cairn.db"), "--artifacts-destination", str(d / "art"),
                     "--sqlite-synchronous", synchronous],
                    port,
                    d,
                )
            )
    if args.only in (None, "mlflow"):
        if not os.access(args.mlflow_bin, os.X_OK):
            ap.error(f"mlflow not found at {args.mlflow_bin} (create .venv with scripts/test first, or --mlflow-bin)")
        d = tmp / "mlflow"
        d.mkdir()
        port = free_port()
        servers.append(
            Server(
                "mlflow",
                [args.mlflow_bin, "server", "--backend-store-uri",
                 store_uri(d, "mlflow.db").replace("postgresql://", "postgresql+psycopg2://", 1),
                 "--artifacts-destination", str(d / "mlart"), "--host", "127.0.0.1", "--port", str(port)],
                port,
                d,
            )
        )

    print(f"backend: {args.backend}")
    print(f"sizes: {json.dumps(sizes)}")
    print(f"work dir: {tmp}")
    results = {}
    t_all = time.monotonic()
    for srv in servers:
        results[srv.name] = run_server_bench(srv, sizes, start_timeout=30 if srv.name.startswith("cairn") else 180)
    print_table(results, sizes, args.backend)

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    ratios = {
        k: results["cairn"][k] / results["mlflow"][k]
        for k, *_ in FIGURES
        if "cairn" in results and "mlflow" in results and results["mlflow"].get(k)
        and results["cairn"].get(k) is not None
    }
    doc = {
        "timestamp_utc": stamp,
        "quick": args.quick,
        "backend": args.backend,
        "sizes": sizes,
        "host": {
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            "mem_gb": round(psutil.virtual_memory().total / 2**30, 1),
        },
        "figures": {k: {"label": label.strip(), "unit": unit, "better": better} for k, label, unit, better in FIGURES},
        "results": results,
        "ratio_cairn_over_mlflow": ratios,
        "wall_s": time.monotonic() - t_all,
    }
    suffix = ("-postgres" if args.backend == "postgres" else "") + ("-quick" if args.quick else "")
    path = out_dir / f"tracking-{stamp}{suffix}.json"
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"\nresults written to {path}  (total {doc['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
