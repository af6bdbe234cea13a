"""`cairn serve` against `mlflow models serve` (the venv's mlflow, --env-manager local) on the same
1-row logistic regression: wrk at concurrency 1 and 32; req/s, p50, p99 and the ratio.

    .venv/bin/python bench/serve.py [--duration 10] [--cairn-bin PATH]

Needs `wrk` (apt-get install wrk). The model is trained on iris, converted with skl2onnx and saved with
mlflow.onnx.save_model; both servers load that one folder (MLflow through its onnx pyfunc flavor).
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


def run_wrk(url: str, body: str, connections: int, duration: int, workdir: Path) -> dict:
    script = workdir / "post.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(body)}\n"
    )
    threads = min(connections, 2)
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script),
         f"{url}/invocations"],
        capture_output=True, text=True, check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = to_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = to_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99, "non2xx": int(errors.group(1)) if errors else 0}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--cairn-bin", default=os.environ.get("CAIRN_BIN") or str(
        Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "cairn"))
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install wrk")

    import mlflow.onnx
    from mlflow.models import infer_signature
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    workdir = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    features, target = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=500).fit(features, target)
    onnx_model = convert_sklearn(model, initial_types=[("float_input", FloatTensorType([None, 4]))])
    folder = workdir / "model"
    mlflow.onnx.save_model(onnx_model, str(folder), signature=infer_signature(features, model.predict(features)))
    body = json.dumps({"dataframe_split": features.iloc[:1].to_dict(orient="split", index=False)})

    servers = {
        "cairn serve": lambda port: [args.cairn_bin, "serve", str(folder), "--port", str(port)],
        "mlflow models serve": lambda port: [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(folder),
                                             "--env-manager", "local", "--port", str(port), "--host", "127.0.0.1"],
    }
    # mlflow models serve runs `uvicorn` from PATH: the venv's bin first.
    env = dict(os.environ, VIRTUAL_ENV=sys.prefix, CAIRN_LOG="warn",
               PATH=f"{Path(sys.prefix) / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    results: dict[str, dict[int, dict]] = {}
    for name, command in servers.items():
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen(command(port), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            wait(url, proc)
            assert requests.post(f"{url}/invocations", data=body, headers={"Content-Type": "application/json"},
                                 timeout=10).status_code == 200
            results[name] = {}
            for connections in (1, 32):
                run_wrk(url, body, connections, 2, workdir)  # warm-up
                results[name][connections] = run_wrk(url, body, connections, args.duration, workdir)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)

    print(f"{'server':<22}{'conc':>5}{'req/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}")
    for name, by_concurrency in results.items():
        for connections, figures in by_concurrency.items():
            print(f"{name:<22}{connections:>5}{figures['rps']:>11.0f}{figures['p50_ms']:>9.2f}"
                  f"{figures['p99_ms']:>9.2f}{figures['non2xx']:>9}")
    for connections in (1, 32):
        ratio = results["cairn serve"][connections]["rps"] / results["mlflow models serve"][connections]["rps"]
        print(f"cairn / mlflow req/s at concurrency {connections}: {ratio:.1f}x")


if __name__ == "__main__":
    main()
