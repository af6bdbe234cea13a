"""Durability: every log-batch the server acknowledged survives a SIGKILL mid-storm.

A separate server gets a storm of concurrent log-batch requests (each batch a unique metric key with
STEPS points). It is SIGKILLed while requests are in flight, restarted on the same DB, and then:
- every acknowledged (HTTP 200) batch must be fully present,
- no batch may be partly present (log-batch is atomic),
- the SQLite file must pass PRAGMA integrity_check.
"""

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from cairn_helpers import Api, CairnServer, now_ms

STEPS = 20
WORKERS = 12
MIN_ACKED_BEFORE_KILL = 200
MAX_STORM_SECONDS = 20


def batch_body(run_id: str, i: int) -> dict:
    ts = now_ms()
    return {
        "run_id": run_id,
        "metrics": [
            {"key": f"storm_{i}", "value": i * 1000 + s + 0.5, "timestamp": ts, "step": s} for s in range(STEPS)
        ],
        "params": [{"key": f"sp_{i}", "value": str(i)}],
    }


@pytest.mark.parametrize(
    "extra_args",
    [[], ["--sqlite-synchronous", "normal"]],
    ids=["default", "sync-normal"],
)
def test_acknowledged_batches_survive_sigkill(tmp_path, extra_args):
    """--sqlite-synchronous normal may lose commits on power loss, but never on a process kill."""
    srv = CairnServer(tmp_path / "durable", extra_args=extra_args)
    srv.start()
    try:
        api = Api(srv.url)
        eid = api.create_experiment("durability")
        run_id = api.create_run(eid, "storm")["info"]["run_id"]

        acked: set[int] = set()
        attempted: set[int] = set()
        lock = threading.Lock()
        stop = threading.Event()
        counter = iter(range(10**9))

        def worker():
            session = requests.Session()
            while not stop.is_set():
                with lock:
                    i = next(counter)
                    attempted.add(i)
                try:
                    r = session.post(
                        srv.url + "/api/2.0/mlflow/runs/log-batch", json=batch_body(run_id, i), timeout=10
                    )
                except requests.RequestException:
                    if stop.is_set():
                        return
                    time.sleep(0.01)
                    continue
                if r.status_code == 200:
                    with lock:
                        acked.add(i)
                elif not stop.is_set():
                    raise AssertionError(f"log-batch {i} failed before the kill: {r.status_code} {r.text[:300]}")

        with ThreadPoolExecutor(WORKERS) as pool:
            futures = [pool.submit(worker) for _ in range(WORKERS)]
            t0 = time.monotonic()
            while time.monotonic() - t0 < MAX_STORM_SECONDS:
                with lock:
                    n = len(acked)
                if n >= MIN_ACKED_BEFORE_KILL or any(f.done() for f in futures):
                    break
                time.sleep(0.05)
            # kill while requests are still in flight
            srv.kill()
            stop.set()
            for f in futures:
                f.result()

        assert len(acked) >= 20, f"only {len(acked)} batches acknowledged before the kill"

        srv.start()
        api = Api(srv.url)
        run = api.get_run(run_id)
        params = {p["key"]: p["value"] for p in run["data"].get("params", [])}
        latest = {m["key"]: m for m in run["data"].get("metrics", [])}

        missing, partial = [], []
        for i in sorted(attempted):
            hist = api.metric_history(run_id, f"storm_{i}")
            points = sorted((m["step"], m["value"]) for m in hist)
            if i in acked:
                expected = [(s, i * 1000 + s + 0.5) for s in range(STEPS)]
                if points != expected:
                    missing.append((i, len(points)))
                    continue
                assert params.get(f"sp_{i}") == str(i), f"acknowledged batch {i}: param missing"
                assert latest[f"storm_{i}"]["step"] == STEPS - 1
            elif len(points) not in (0, STEPS):
                partial.append((i, len(points)))
        assert not missing, f"acknowledged batches lost or incomplete after SIGKILL (batch, points): {missing[:20]}"
        assert not partial, f"unacknowledged batches partly stored (batch, points): {partial[:20]}"

        # the server still works on the recovered DB
        api.ok(
            "POST",
            "/api/2.0/mlflow/runs/log-metric",
            {"run_id": run_id, "key": "after_restart", "value": 1.0, "timestamp": now_ms()},
        )
        rc = srv.stop()
        assert rc == 0, f"graceful stop after restart failed: {rc}\n{srv.log_text()[-3000:]}"

        if srv.on_sqlite:
            con = sqlite3.connect(str(srv.db_path))
            try:
                assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            finally:
                con.close()
    finally:
        srv.kill()


def test_sigterm_under_load_is_graceful(tmp_path):
    """SIGTERM while log-batch requests are in flight: exit 0 within the stop timeout, acknowledged data kept."""
    srv = CairnServer(tmp_path / "graceful")
    srv.start()
    try:
        api = Api(srv.url)
        eid = api.create_experiment("graceful")
        run_id = api.create_run(eid, "load")["info"]["run_id"]
        acked: set[int] = set()
        lock = threading.Lock()
        stop = threading.Event()
        counter = iter(range(10**9))

        def worker():
            session = requests.Session()
            while not stop.is_set():
                with lock:
                    i = next(counter)
                try:
                    r = session.post(srv.url + "/api/2.0/mlflow/runs/log-batch", json=batch_body(run_id, i), timeout=10)
                except requests.RequestException:
                    return
                if r.status_code == 200:
                    with lock:
                        acked.add(i)
                elif r.status_code < 500 or stop.is_set():
                    return  # refusing new work while draining is fine; 5xx before shutdown is not
                else:
                    raise AssertionError(f"log-batch {i}: {r.status_code} {r.text[:300]}")

        with ThreadPoolExecutor(WORKERS) as pool:
            futures = [pool.submit(worker) for _ in range(WORKERS)]
            t0 = time.monotonic()
            while len(acked) < 100 and time.monotonic() - t0 < MAX_STORM_SECONDS and not any(f.done() for f in futures):
                time.sleep(0.05)
            rc = srv.stop()
            stop.set()
            for f in futures:
                f.result()
        assert rc == 0, f"SIGTERM under load: {'not stopped in time' if rc is None else f'exit code {rc}'}\n{srv.log_text()[-3000:]}"

        if srv.on_sqlite:
            con = sqlite3.connect(str(srv.db_path))
            try:
                assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            finally:
                con.close()
        srv.start()
        api = Api(srv.url)
        lost = [i for i in sorted(acked) if len(api.metric_history(run_id, f"storm_{i}")) != STEPS]
        assert not lost, f"acknowledged batches lost after a graceful stop: {lost[:20]}"
        assert srv.stop() == 0
    finally:
        srv.kill()
