"""`cairn serve` against real scikit-learn models converted with skl2onnx and logged with the real
mlflow client to a cairn server: both protocols, predictions equal scikit-learn's, bad requests get
clear 4xx answers while the server keeps serving, and a missing ONNX Runtime says how to get it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import mlflow
import numpy as np
import pandas as pd
import pytest
import requests
from mlflow import MlflowClient
from mlflow.models import infer_signature

from cairn_helpers import cairn_bin, free_port, unique

onnx = pytest.importorskip("onnxruntime")
skl2onnx = pytest.importorskip("skl2onnx")

from sklearn.datasets import load_iris  # noqa: E402
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from skl2onnx import convert_sklearn  # noqa: E402
from skl2onnx.common.data_types import FloatTensorType  # noqa: E402

TOLERANCE = 1e-5


def _models():
    return {
        "lr": (LogisticRegression(max_iter=500), True),
        "rf": (RandomForestClassifier(n_estimators=20, max_depth=5, random_state=0), False),
        "gb": (GradientBoostingClassifier(n_estimators=20, random_state=0), True),
        "mlp": (
            make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(16,), max_iter=800, random_state=0)),
            True,
        ),
    }


@pytest.fixture(scope="module")
def iris():
    data = load_iris(as_frame=True)
    return data.data, data.target


@pytest.fixture(scope="module")
def registered(server, iris):
    """Trains, converts, logs and registers each model with alias @champion; name -> (key, sklearn model)."""
    features, target = iris
    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    mlflow.set_experiment(unique("serve"))
    out = {}
    for key, (model, zipmap) in _models().items():
        model.fit(features, target)
        options = None if zipmap else {id(model): {"zipmap": False}}
        onnx_model = convert_sklearn(
            model,
            initial_types=[("float_input", FloatTensorType([None, features.shape[1]]))],
            options=options,
        )
        name = unique(f"iris-{key}")
        signature = infer_signature(features, model.predict(features))
        with mlflow.start_run():
            info = mlflow.onnx.log_model(onnx_model, name="model", signature=signature, registered_model_name=name)
        version = info.registered_model_version
        client.set_registered_model_alias(name, "champion", str(version))
        out[key] = (name, model)
    return out


def _wait_ready(url: str, proc: subprocess.Popen, log_path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"cairn serve exited with {proc.returncode}:\n{log_path.read_text()}")
        try:
            if requests.get(f"{url}/ping", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise AssertionError(f"cairn serve did not answer /ping:\n{log_path.read_text()}")


@pytest.fixture(scope="module")
def serving(server, registered, tmp_path_factory):
    """One `cairn serve` for all four models: lr at /invocations, every one under /v2/models/<key>."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("serve") / "serve.log"
    lr_name = registered["lr"][0]
    args = [cairn_bin(), "serve", f"models:/{lr_name}@champion", "--name", "lr", "--port", str(port),
            "--tracking-uri", server.url, "--max-body-bytes", "200000"]
    for key, (name, _) in registered.items():
        if key != "lr":
            args += ["--model", f"{key}=models:/{name}@champion"]
    # The Python lookup: the test venv as the active environment.
    env = dict(os.environ, VIRTUAL_ENV=sys.prefix)
    env.pop("ORT_DYLIB_PATH", None)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, log_path)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=10)
        text = log_path.read_text()
        assert "panicked" not in text, text
        assert rc == 0, f"exit {rc} after SIGTERM:\n{text}"


def _check_probabilities(actual_rows, expected):
    assert len(actual_rows) == len(expected)
    for row, want in zip(actual_rows, expected):
        got = [row[str(c)] for c in range(len(want))] if isinstance(row, dict) else row
        np.testing.assert_allclose(got, want, atol=TOLERANCE, rtol=0)


def test_mlflow_protocol_all_formats(serving, registered, iris):
    features, _ = iris
    model = registered["lr"][1]
    sample = features.iloc[::10]
    labels = model.predict(sample).tolist()
    probabilities = model.predict_proba(sample)
    bodies = [
        ("application/json", {"dataframe_split": sample.to_dict(orient="split", index=False)}),
        ("application/json", {"dataframe_records": sample.to_dict(orient="records")}),
        ("text/csv", sample.to_csv(index=False)),
    ]
    for content_type, body in bodies:
        data = body if isinstance(body, str) else None
        response = requests.post(f"{serving}/invocations", json=None if data else body, data=data,
                                 headers={"Content-Type": content_type}, timeout=10)
        assert response.status_code == 200, response.text
        predictions = response.json()["predictions"]
        assert [row["output_label"] for row in predictions] == labels
        _check_probabilities([row["output_probability"] for row in predictions], probabilities)
    # Tensor formats: one list per output.
    for key in ("instances", "inputs"):
        response = requests.post(f"{serving}/invocations", json={key: sample.values.tolist()}, timeout=10)
        assert response.status_code == 200, response.text
        predictions = response.json()["predictions"]
        assert predictions["output_label"] == labels
        _check_probabilities(predictions["output_probability"], probabilities)
    assert requests.get(f"{serving}/ping", timeout=5).status_code == 200
    assert requests.get(f"{serving}/health", timeout=5).status_code == 200
    assert requests.get(f"{serving}/version", timeout=5).text


@pytest.mark.parametrize("key", ["lr", "rf", "gb", "mlp"])
def test_v2_protocol_equals_sklearn(serving, registered, iris, key):
    features, _ = iris
    model = registered[key][1]
    body = {
        "id": "req-1",
        "inputs": [{"name": "float_input", "shape": list(features.shape), "datatype": "FP32",
                    "data": features.values.astype(np.float32).ravel().tolist()}],
    }
    response = requests.post(f"{serving}/v2/models/{key}/infer", json=body, timeout=10)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["model_name"] == key and answer["model_version"] == "1" and answer["id"] == "req-1"
    outputs = {output["name"]: output for output in answer["outputs"]}
    # skl2onnx names them output_label/output_probability (ZipMap) or label/probabilities (zipmap=False).
    zipmap = _models()[key][1]
    label, probability = (outputs["output_label"], outputs["output_probability"]) if zipmap else (
        outputs["label"], outputs["probabilities"])
    assert label["data"] == model.predict(features).tolist()
    assert probability["shape"] == [len(features), 3]
    np.testing.assert_allclose(
        np.array(probability["data"]).reshape(len(features), 3), model.predict_proba(features),
        atol=TOLERANCE, rtol=0,
    )
    metadata = requests.get(f"{serving}/v2/models/{key}", timeout=5).json()
    assert metadata["inputs"] == [{"name": "float_input", "datatype": "FP32", "shape": [-1, 4]}]
    assert requests.get(f"{serving}/v2/models/{key}/versions/1/ready", timeout=5).json()["ready"] is True
    assert requests.get(f"{serving}/v2/models/{key}/versions/9", timeout=5).status_code == 404


def test_v2_server_routes(serving):
    assert requests.get(f"{serving}/v2/health/live", timeout=5).json() == {"live": True}
    assert requests.get(f"{serving}/v2/health/ready", timeout=5).json() == {"ready": True}
    assert requests.get(f"{serving}/v2", timeout=5).json()["name"] == "cairn"
    missing = requests.get(f"{serving}/v2/models/nope", timeout=5)
    assert missing.status_code == 404 and "nope" in missing.json()["error"]


def test_bad_requests_get_clear_4xx_and_the_server_keeps_serving(serving, iris):
    features, _ = iris
    columns = list(features.columns)
    cases = [
        ("/invocations", "application/json", b"{not json", 400, "malformed JSON"),
        ("/invocations", "application/json", b"{}", 400, "exactly one of the keys"),
        ("/invocations", "application/json",
         json.dumps({"dataframe_split": {"columns": columns[:3], "data": [[1, 2, 3]]}}).encode(),
         400, f"missing column '{columns[3]}'"),
        ("/invocations", "application/json",
         json.dumps({"dataframe_records": [{c: "x" for c in columns}]}).encode(),
         400, f"column '{columns[0]}' (row 0): expected a number"),
        ("/invocations", "application/json", b'{"instances": [[1, 2, 3]]}', 400, "expects shape [-1, 4]"),
        ("/invocations", "application/json", b'{"instances": [[1, 2, 3, 4], [1]]}', 400, "ragged"),
        ("/invocations", "text/plain", b"hello", 415, "not supported"),
        ("/invocations", "application/json", b'{"instances": [' + b"[1,2,3,4]," * 30000 + b"[1,2,3,4]]}", 413, "larger than"),
        ("/v2/models/lr/infer", "application/json", b"[", 400, "malformed JSON"),
        ("/v2/models/lr/infer", "application/json",
         b'{"inputs": [{"name": "float_input", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}',
         400, "expects shape [-1, 4]"),
        ("/v2/models/lr/infer", "application/json",
         b'{"inputs": [{"name": "float_input", "shape": [2, 4], "datatype": "FP32", "data": [1, 2, 3]}]}',
         400, "needs 8 values, got 3"),
        ("/v2/models/lr/infer", "application/json",
         b'{"inputs": [{"name": "wrong", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}',
         400, "unknown input 'wrong'"),
    ]
    for path, content_type, body, status, fragment in cases:
        response = requests.post(f"{serving}{path}", data=body, headers={"Content-Type": content_type}, timeout=10)
        assert response.status_code == status, (path, body[:80], response.status_code, response.text)
        answer = response.json()
        message = answer["error"] if path.startswith("/v2") else answer["message"]
        assert fragment in message, (fragment, message)
        assert requests.post(f"{serving}/invocations", json={"instances": [[5.1, 3.5, 1.4, 0.2]]},
                             timeout=10).status_code == 200
    metrics = requests.get(f"{serving}/metrics", timeout=5).text
    assert 'cairn_serve_requests_total{model="lr",version="1",protocol="mlflow",code="400"}' in metrics
    assert 'cairn_serve_request_duration_seconds_count{model="lr",version="1"}' in metrics


def test_local_onnx_file_and_mlflow_folder(tmp_path, iris):
    features, target = iris
    model = LogisticRegression(max_iter=500).fit(features, target)
    onnx_model = convert_sklearn(model, initial_types=[("float_input", FloatTensorType([None, 4]))])
    folder = tmp_path / "model"
    mlflow.onnx.save_model(onnx_model, str(folder), signature=infer_signature(features, model.predict(features)))
    onnx_file = tmp_path / "model.onnx"
    onnx_file.write_bytes(onnx_model.SerializeToString())
    for source in (str(folder), str(onnx_file)):
        port = free_port()
        log_path = tmp_path / f"serve-{port}.log"
        env = dict(os.environ, ORT_DYLIB_PATH=_dylib())
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([cairn_bin(), "serve", source, "--port", str(port)], stdout=log,
                                    stderr=subprocess.STDOUT, env=env)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(url, proc, log_path)
            response = requests.post(f"{url}/invocations", json={"instances": features.values[:5].tolist()}, timeout=10)
            assert response.status_code == 200, response.text
            assert response.json()["predictions"]["output_label"] == model.predict(features.iloc[:5]).tolist()
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0


def _dylib() -> str:
    capi = os.path.join(os.path.dirname(onnx.__file__), "capi")
    return os.path.join(capi, sorted(f for f in os.listdir(capi) if f.startswith("libonnxruntime.so"))[0])


def test_missing_onnx_runtime_says_how_to_get_it(tmp_path):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"not used")
    for extra in ({"ORT_DYLIB_PATH": str(tmp_path / "missing.so")}, {}):
        env = dict(os.environ, CAIRN_SERVE_NO_PYTHON_LOOKUP="1", **extra)
        if not extra:
            env.pop("ORT_DYLIB_PATH", None)
        result = subprocess.run([cairn_bin(), "serve", str(model), "--port", str(free_port())], env=env,
                                capture_output=True, text=True, timeout=30)
        assert result.returncode != 0
        assert "pip install onnxruntime" in result.stderr and "ORT_DYLIB_PATH" in result.stderr, result.stderr


def _serve_local(tmp_path, source, *extra):
    port = free_port()
    log_path = tmp_path / f"serve-{port}.log"
    env = dict(os.environ, ORT_DYLIB_PATH=_dylib())
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([cairn_bin(), "serve", str(source), "--port", str(port), *extra], stdout=log,
                                stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    _wait_ready(url, proc, log_path)
    return url, proc


def test_overload_gets_503_with_retry_after_and_timeouts_504(tmp_path, iris):
    from concurrent.futures import ThreadPoolExecutor

    features, target = iris
    model = GradientBoostingClassifier(n_estimators=50, random_state=0).fit(features, target)
    onnx_file = tmp_path / "gb.onnx"
    onnx_file.write_bytes(convert_sklearn(model, initial_types=[("float_input", FloatTensorType([None, 4]))])
                          .SerializeToString())
    body = json.dumps({"instances": np.tile(features.values, (100, 1)).tolist()})  # 15,000 rows

    url, proc = _serve_local(tmp_path, onnx_file, "--max-in-flight", "1", "--sessions", "1")
    try:
        def post(_):
            return requests.post(f"{url}/invocations", data=body, headers={"Content-Type": "application/json"},
                                 timeout=60)
        with ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(post, range(48)))
        statuses = [response.status_code for response in responses]
        assert set(statuses) <= {200, 503}, statuses
        assert 200 in statuses and 503 in statuses, statuses
        refused = next(response for response in responses if response.status_code == 503)
        assert refused.headers["Retry-After"] == "1"
        assert refused.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
        assert post(0).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0

    url, proc = _serve_local(tmp_path, onnx_file, "--request-timeout-ms", "0")
    try:
        response = requests.post(f"{url}/invocations", data=body, headers={"Content-Type": "application/json"},
                                 timeout=60)
        assert response.status_code == 504, response.text
        assert "timed out" in response.json()["message"]
        assert requests.get(f"{url}/ping", timeout=5).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_sigterm_lets_requests_in_flight_finish(tmp_path, iris):
    """SIGTERM while requests are running and queued: each gets its full, correct answer, the process
    exits 0, and nothing is accepted afterwards."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    features, target = iris
    model = GradientBoostingClassifier(n_estimators=50, random_state=0).fit(features, target)
    onnx_file = tmp_path / "gb.onnx"
    onnx_file.write_bytes(convert_sklearn(model, initial_types=[("float_input", FloatTensorType([None, 4]))])
                          .SerializeToString())
    rows = np.tile(features.values, (200, 1))  # 30,000 rows per request
    body = json.dumps({"instances": rows.tolist()})
    expected = model.predict(rows).tolist()

    url, proc = _serve_local(tmp_path, onnx_file, "--sessions", "1")
    try:
        def post(_):
            return requests.post(f"{url}/invocations", data=body, headers={"Content-Type": "application/json"},
                                 timeout=120)
        with ThreadPoolExecutor(12) as pool:
            futures = [pool.submit(post, index) for index in range(12)]
            # Signal as soon as the first answer is back: the others are running or queued.
            wait(futures, return_when=FIRST_COMPLETED)
            unfinished = sum(not future.done() for future in futures)
            proc.send_signal(signal.SIGTERM)
            responses = [future.result() for future in futures]
        # The signal came while requests were still being served (else this test proves nothing).
        assert unfinished > 0
        for response in responses:
            assert response.status_code == 200, response.text
            assert response.json()["predictions"]["output_label"] == expected
        assert proc.wait(timeout=30) == 0
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{url}/ping", timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_access_log_lines_are_structured_json(tmp_path, iris):
    features, target = iris
    model = LogisticRegression(max_iter=500).fit(features, target)
    onnx_file = tmp_path / "lr.onnx"
    onnx_file.write_bytes(convert_sklearn(model, initial_types=[("float_input", FloatTensorType([None, 4]))])
                          .SerializeToString())
    good = json.dumps({"instances": features.values[:3].tolist()})

    def run(*flags):
        for old in tmp_path.glob("serve-*.log"):
            old.unlink()
        url, proc = _serve_local(tmp_path, onnx_file, *flags)
        try:
            assert requests.post(f"{url}/invocations", data=good, timeout=10,
                                 headers={"Content-Type": "application/json", "X-Request-Id": "req-1"}).status_code == 200
            assert requests.post(f"{url}/invocations", data="{not json", timeout=10,
                                 headers={"Content-Type": "application/json"}).status_code == 400
            assert requests.post(f"{url}/v2/models/model/infer", timeout=10, json={
                "id": "v2-7", "inputs": [{"name": "float_input", "shape": [1, 4], "datatype": "FP32",
                                          "data": features.values[0].tolist()}]}).status_code == 200
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        (log_path,) = tmp_path.glob("serve-*.log")
        return log_path.read_text()

    # Off by default.
    assert '"prediction"' not in run() and "prediction" not in run("--log-format", "json")

    lines = [json.loads(line) for line in run("--access-log", "--log-format", "json", "--log", "warn").splitlines()]
    access = [line for line in lines if line.get("target") == "access"]
    assert [(line["request_id"], line["protocol"], line["status"], line.get("rows")) for line in access] == [
        ("req-1", "mlflow", 200, 3), (access[1]["request_id"], "mlflow", 400, None), ("v2-7", "v2", 200, 1)]
    assert all(line["model"] == "model" and line["level"] == "INFO" and line["duration_ms"] > 0 for line in access)
    assert access[1]["request_id"], "a request without X-Request-Id gets a generated id"
