"""`cairn serve` against `mlflow models serve` (the venv's mlflow, --env-manager local), side by side in one
run, with wrk: a logistic regression at 1 and 64 rows per request, concurrency 1 and 32; req/s, p50,
p99 and the ratio to MLflow. cairn runs twice, with micro-batching on (the default) and off
(`--batch-wait-us 0`). A random forest (100 trees, depth 10) at 1, 64 and 1000 rows, concurrency 1,
is set against raw ONNX Runtime measured in the same run on the same rows: onnxruntime's Python
`InferenceSession.run` on one single-threaded session, median over many calls (cairn's p50 includes
HTTP and JSON; raw does not). For one row the HTTP floor (the same server's `GET /ping` p50) is
measured too, and the prediction's time above it is set against raw. Results go to
`bench/results/serve-<UTC time>.json`.

    .venv/bin/python bench/serve.py [--duration 10] [--cairn-bin PATH]

Needs `wrk` (apt-get install wrk). The models are trained on iris, converted with skl2onnx and saved
with mlflow.onnx.save_model; every server loads the same folders (MLflow through its onnx pyfunc
flavor).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if requests.get(f"{url}/ping", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def to_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise SystemExit(f"cannot read wrk's latency {text!r}")
    value, unit = match.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(url: str, body: str | None, connections: int, duration: int, workdir: Path) -> dict:
    """POST `body` to /invocations, or GET /ping when `body` is None."""
    threads = min(connections, 2)
    if body is None:
        target = ["--latency", f"{url}/ping"]
    else:
        script = workdir / "post.lua"
        script.write_text(
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = {json.dumps(body)}\n"
        )
        target = ["--latency", "-s", str(script), f"{url}/invocations"]
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", *target],
        capture_output=True, text=True, check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = to_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = to_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99, "non2xx": int(errors.group(1)) if errors else 0}


def raw_onnxruntime_ms(onnx_bytes: bytes, row, calls: int = 5000) -> float:
    """Median ms of `InferenceSession.run` on one single-threaded session for one row."""
    import statistics

    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
    feed = {"float_input": row}
    for _ in range(200):
        session.run(None, feed)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--cairn-bin", default=os.environ.get("CAIRN_BIN") or str(
        Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "cairn"))
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install wrk")

    import mlflow.onnx
    import numpy as np
    from mlflow.models import infer_signature
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    workdir = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    features, target = load_iris(return_X_y=True, as_frame=True)
    folders = {}
    onnx_models = {}
    for key, model in {
        "lr": LogisticRegression(max_iter=500),
        "rf": RandomForestClassifier(n_estimators=100, max_depth=10, random_state=0),
    }.items():
        model.fit(features, target)
        onnx_models[key] = convert_sklearn(model, initial_types=[("float_input", FloatTensorType([None, 4]))])
        folders[key] = workdir / key
        mlflow.onnx.save_model(onnx_models[key], str(folders[key]),
                               signature=infer_signature(features, model.predict(features)))

    def body(n_rows: int) -> str:
        rows = features.sample(n=n_rows, replace=n_rows > len(features), random_state=0)
        return json.dumps({"dataframe_split": rows.to_dict(orient="split", index=False)})

    # (label, model, rows per request, concurrency)
    cases = [(f"{key} {rows}-row", key, rows, connections)
             for key, rows, connections in [("lr", 1, 1), ("lr", 1, 32), ("lr", 64, 1), ("lr", 64, 32),
                                            ("rf", 1, 1), ("rf", 64, 1), ("rf", 1000, 1)]]
    cairn = lambda *extra: lambda folder, port: [args.cairn_bin, "serve", str(folder), "--port", str(port), *extra]  # noqa: E731
    servers = {
        "cairn serve": (cairn(), ["lr", "rf"]),
        "cairn (batching off)": (cairn("--batch-wait-us", "0"), ["lr", "rf"]),
        "mlflow models serve": (
            lambda folder, port: [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(folder),
                                  "--env-manager", "local", "--port", str(port), "--host", "127.0.0.1"],
            ["lr"],
        ),
    }
    # mlflow models serve runs `uvicorn` from PATH: the venv's bin first.
    env = dict(os.environ, VIRTUAL_ENV=sys.prefix, CAIRN_LOG="warn",
               PATH=f"{Path(sys.prefix) / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    results: dict[tuple[str, str], dict] = {}
    load_before = os.getloadavg()[0]
    print(f"load average before the run: {load_before:.2f} (figures need a quiet machine)")
    for name, (command, keys) in servers.items():
        for key in keys:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            proc = subprocess.Popen(command(folders[key], port), env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, start_new_session=True)
            try:
                wait(url, proc)
                for label, case_key, rows, connections in cases:
                    if case_key != key:
                        continue
                    payload = body(rows)
                    assert requests.post(f"{url}/invocations", data=payload, timeout=10,
                                         headers={"Content-Type": "application/json"}).status_code == 200
                    run_wrk(url, payload, connections, 2, workdir)  # warm-up
                    results[(name, f"{label} c={connections}")] = run_wrk(url, payload, connections, args.duration,
                                                                         workdir)
                if name == "cairn serve" and key == "rf":
                    # The HTTP floor: the same server answering GET /ping, no model, no JSON.
                    run_wrk(url, None, 1, 2, workdir)
                    results[(name, "GET /ping c=1")] = run_wrk(url, None, 1, args.duration, workdir)
            finally:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)

    def rows_of(n_rows: int):
        return features.sample(n=n_rows, replace=n_rows > len(features), random_state=0).to_numpy(dtype=np.float32)

    rf_bytes = onnx_models["rf"].SerializeToString()
    raw_ms = raw_onnxruntime_ms(rf_bytes, rows_of(1))
    raw_batch_ms = {n_rows: raw_onnxruntime_ms(rf_bytes, rows_of(n_rows), calls=1000) for n_rows in (64, 1000)}

    print(f"{'server':<22}{'case':<18}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}{'vs mlflow':>11}")
    for (name, case), figures in results.items():
        mlflow_figures = results.get(("mlflow models serve", case))
        ratio = f"{figures['rps'] / mlflow_figures['rps']:.1f}x" if mlflow_figures else ""
        print(f"{name:<22}{case:<18}{figures['rps']:>10.0f}{figures['p50_ms']:>9.2f}{figures['p99_ms']:>9.2f}"
              f"{figures['non2xx']:>9}{ratio:>11}")
    cairn_rf = results[("cairn serve", "rf 1-row c=1")]["p50_ms"]
    floor = results[("cairn serve", "GET /ping c=1")]["p50_ms"]
    above = cairn_rf - floor
    print(f"random forest, 1 row: raw ONNX Runtime median {raw_ms:.3f} ms; cairn serve p50 {cairn_rf:.3f} ms "
          f"({cairn_rf / raw_ms:.2f}x raw); the HTTP floor (GET /ping p50) is {floor:.3f} ms, and above it "
          f"the prediction takes {above:.3f} ms ({above / raw_ms:.2f}x raw)")
    for n_rows, raw in raw_batch_ms.items():
        served = results[("cairn serve", f"rf {n_rows}-row c=1")]["p50_ms"]
        print(f"random forest, {n_rows} rows: raw ONNX Runtime median {raw:.3f} ms; cairn serve p50 {served:.3f} ms "
              f"({served / raw:.2f}x raw, HTTP and JSON included)")
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = out_dir / f"serve-{stamp}.json"
    path.write_text(json.dumps({
        "load_average_before": load_before,
        "duration_s": args.duration,
        "raw_onnxruntime_rf_ms": raw_ms,
        "raw_onnxruntime_rf_batch_ms": raw_batch_ms,
        "results": [{"server": name, "case": case, **figures} for (name, case), figures in results.items()],
    }, indent=2))
    print(f"results written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
