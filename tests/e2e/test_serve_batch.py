"""`cairn serve`'s micro-batching with real models: 32 threads post 1-row requests of different iris
rows (MLflow and v2 protocols mixed, so requests from both share calls); every answer equals
scikit-learn's prediction for that exact row, for a model with a ZipMap output and one without, and
`/metrics` shows model calls that carried several requests' rows. With `--batch-wait-us 0` every call
has one row."""

from __future__ import annotations

import re
import signal
import threading
import time

import numpy as np
import pytest
import requests

from test_serve import TOLERANCE, _serve_local

pytest.importorskip("onnxruntime")
pytest.importorskip("skl2onnx")

from sklearn.datasets import load_iris  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from skl2onnx import convert_sklearn  # noqa: E402
from skl2onnx.common.data_types import FloatTensorType  # noqa: E402

THREADS = 32
SECONDS = 3.0


@pytest.fixture(scope="module")
def iris():
    data = load_iris()
    return data.data.astype(np.float32), data.target


def _onnx(tmp_path, name, model, zipmap):
    options = None if zipmap else {id(model): {"zipmap": False}}
    onnx_model = convert_sklearn(model, initial_types=[("float_input", FloatTensorType([None, 4]))],
                                 options=options)
    path = tmp_path / f"{name}.onnx"
    path.write_bytes(onnx_model.SerializeToString())
    return path


def _answer(session, url, row, v2):
    """(label, probabilities) of one 1-row request."""
    if v2:
        body = {"inputs": [{"name": "float_input", "shape": [1, 4], "datatype": "FP32", "data": row.tolist()}]}
        response = session.post(f"{url}/v2/models/model/infer", json=body, timeout=30)
        assert response.status_code == 200, response.text
        outputs = {output["name"]: output for output in response.json()["outputs"]}
        label = outputs.get("output_label") or outputs["label"]
        probability = outputs.get("output_probability") or outputs["probabilities"]
        assert label["shape"] == [1] and probability["shape"] == [1, 3], outputs
        return label["data"][0], probability["data"]
    response = session.post(f"{url}/invocations", json={"instances": [row.tolist()]}, timeout=30)
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    label = predictions.get("output_label", predictions.get("label"))
    probability = predictions.get("output_probability", predictions.get("probabilities"))
    assert len(label) == 1 and len(probability) == 1, predictions
    row_probability = probability[0]
    if isinstance(row_probability, dict):
        row_probability = [row_probability[str(c)] for c in range(3)]
    return label[0], row_probability


def _hammer(url, features, labels, probabilities):
    """32 threads for a few seconds, each request a different row; returns the number of requests."""
    counts = [0] * THREADS
    failures: list[str] = []
    deadline = time.monotonic() + SECONDS

    def worker(index):
        session = requests.Session()
        iteration = 0
        try:
            while time.monotonic() < deadline:
                row_index = (index * 5 + iteration * 7) % len(features)
                label, probability = _answer(session, url, features[row_index], v2=(index + iteration) % 2 == 0)
                assert label == labels[row_index], (row_index, label, labels[row_index])
                np.testing.assert_allclose(probability, probabilities[row_index], atol=TOLERANCE, rtol=0)
                iteration += 1
                counts[index] += 1
        except Exception as error:  # noqa: BLE001 - reported below with its thread
            failures.append(f"thread {index}: {error!r}")

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[:3]
    return sum(counts)


def _batch_histogram(url):
    text = requests.get(f"{url}/metrics", timeout=5).text
    count = sum(int(value) for value in re.findall(r'^cairn_serve_batch_rows_count\{[^}]*\} (\d+)$', text, re.M))
    rows = sum(int(float(value)) for value in re.findall(r'^cairn_serve_batch_rows_sum\{[^}]*\} (\S+)$', text, re.M))
    return count, rows


@pytest.mark.parametrize("zipmap", [True, False], ids=["zipmap", "tensor"])
def test_concurrent_requests_share_calls_and_get_their_own_rows(tmp_path, iris, zipmap):
    features, target = iris
    model = (RandomForestClassifier(n_estimators=50, max_depth=8, random_state=0) if zipmap
             else LogisticRegression(max_iter=500)).fit(features, target)
    labels = model.predict(features)
    probabilities = model.predict_proba(features)
    onnx_file = _onnx(tmp_path, "model", model, zipmap)
    url, proc = _serve_local(tmp_path, onnx_file, "--sessions", "1", "--batch-wait-us", "2000")
    try:
        n_requests = _hammer(url, features, labels, probabilities)
        calls, rows = _batch_histogram(url)
        assert rows == n_requests, (rows, n_requests)
        assert 0 < calls < n_requests, (calls, n_requests)
        # A several-row request is answered whole (one entry per output, three rows each).
        response = requests.post(f"{url}/invocations", json={"instances": features[:3].tolist()}, timeout=10)
        assert response.status_code == 200, response.text
        assert [len(values) for values in response.json()["predictions"].values()] == [3, 3]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_batch_wait_zero_runs_every_request_alone(tmp_path, iris):
    features, target = iris
    model = LogisticRegression(max_iter=500).fit(features, target)
    onnx_file = _onnx(tmp_path, "model", model, zipmap=True)
    url, proc = _serve_local(tmp_path, onnx_file, "--sessions", "1", "--batch-wait-us", "0")
    try:
        n_requests = _hammer(url, features, model.predict(features), model.predict_proba(features))
        assert _batch_histogram(url) == (n_requests, n_requests)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
