"""`cairn serve --prediction-log`: every sampled prediction lands in rotating Parquet files, one row
per predicted row with the request id, the inputs under the signature's column names and the outputs
the client got; the files are complete after SIGTERM, sampling takes the share asked for, and the log
is a dataset `cairn data drift` reads as it is."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess

import mlflow
import numpy as np
import pandas as pd
import pytest
import requests
from mlflow.models import infer_signature

from cairn_helpers import MOTO_CREDENTIALS, cairn_bin, free_port, moto_s3

onnx = pytest.importorskip("onnxruntime")
pytest.importorskip("skl2onnx")

from sklearn.datasets import load_iris  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from skl2onnx import convert_sklearn  # noqa: E402
from skl2onnx.common.data_types import FloatTensorType  # noqa: E402

from test_serve import _dylib, _wait_ready  # noqa: E402


@pytest.fixture(scope="module")
def iris_model(tmp_path_factory):
    data = load_iris(as_frame=True)
    features, target = data.data, data.target
    model = LogisticRegression(max_iter=500).fit(features, target)
    onnx_model = convert_sklearn(model, initial_types=[("float_input", FloatTensorType([None, 4]))])
    folder = tmp_path_factory.mktemp("predlog") / "model"
    mlflow.onnx.save_model(onnx_model, str(folder), signature=infer_signature(features, model.predict(features)))
    return folder, features


def _serve(tmp_path, folder, *extra, env_extra=None):
    port = free_port()
    log_path = tmp_path / f"serve-{port}.log"
    env = dict(os.environ, ORT_DYLIB_PATH=_dylib(), **(env_extra or {}))
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([cairn_bin(), "serve", str(folder), "--port", str(port), "--name", "iris", *extra],
                                stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    _wait_ready(url, proc, log_path)
    return url, proc, log_path


def _stop(proc, log_path):
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0, log_path.read_text()


def _read_log(folder) -> pd.DataFrame:
    files = sorted(glob.glob(str(folder / "iris" / "*" / "*.parquet")))
    assert files, f"no prediction log files under {folder}"
    return pd.concat([pd.read_parquet(path) for path in files], ignore_index=True)


def test_log_holds_every_row_with_ids_inputs_and_outputs(tmp_path, iris_model):
    folder, features = iris_model
    log_dir = tmp_path / "log"
    url, proc, log_path = _serve(tmp_path, folder, "--prediction-log", str(log_dir),
                                 "--prediction-log-rotate-rows", "40")
    sent = {}
    answers = {}
    try:
        for i in range(10):
            rows = features.iloc[i * 10:(i + 1) * 10]
            response = requests.post(f"{url}/invocations", headers={"X-Request-Id": f"req-{i}"},
                                     json={"dataframe_split": rows.to_dict(orient="split", index=False)}, timeout=10)
            assert response.status_code == 200, response.text
            assert response.headers["X-Request-Id"] == f"req-{i}"
            sent[f"req-{i}"] = rows
            answers[f"req-{i}"] = response.json()["predictions"]
        for i in range(3):
            rows = features.iloc[100 + i * 5:105 + i * 5]
            body = {"id": f"v2-{i}", "inputs": [{"name": "float_input", "shape": [5, 4], "datatype": "FP32",
                                                "data": rows.values.astype(np.float32).ravel().tolist()}]}
            response = requests.post(f"{url}/v2/models/iris/infer", json=body, timeout=10)
            assert response.status_code == 200, response.text
            assert response.headers["X-Request-Id"] == f"v2-{i}"
            outputs = {output["name"]: output for output in response.json()["outputs"]}
            probabilities = np.array(outputs["output_probability"]["data"]).reshape(5, 3)
            sent[f"v2-{i}"] = rows
            answers[f"v2-{i}"] = [{"output_label": label, "output_probability": dict(enumerate(p))}
                                  for label, p in zip(outputs["output_label"]["data"], probabilities)]
        # A request without an id gets one back; a failed request is not logged.
        plain = requests.post(f"{url}/invocations", json={"instances": features.values[:2].tolist()}, timeout=10)
        assert plain.status_code == 200 and len(plain.headers["X-Request-Id"]) >= 16
        bad = requests.post(f"{url}/invocations", json={"instances": [[1.0, 2.0]]}, timeout=10)
        assert bad.status_code == 400
        metrics = requests.get(f"{url}/metrics", timeout=5).text
        assert "cairn_serve_prediction_log_rows_total" in metrics
    finally:
        _stop(proc, log_path)

    files = glob.glob(str(log_dir / "iris" / "*" / "*.parquet"))
    assert len(files) == 3, files  # 40 + 40 + the rest, closed at SIGTERM
    log = _read_log(log_dir)
    assert len(log) == 100 + 15 + 2
    columns = list(log.columns)
    assert columns[:3] == ["request_id", "timestamp", "row"]
    assert columns[3:7] == list(features.columns)  # the signature's names
    assert "output_label" in columns and "output_probability_2" in columns
    for request_id, rows in sent.items():
        part = log[log.request_id == request_id].sort_values("row")
        assert part["row"].tolist() == list(range(len(rows)))
        np.testing.assert_allclose(part[list(features.columns)].to_numpy(),
                                   rows.to_numpy().astype(np.float32), rtol=0, atol=0)
        assert part["output_label"].tolist() == [answer["output_label"] for answer in answers[request_id]]
        for klass in range(3):
            np.testing.assert_allclose(
                part[f"output_probability_{klass}"].to_numpy(),
                [float(answer["output_probability"][klass if request_id.startswith("v2") else str(klass)])
                 for answer in answers[request_id]],
                rtol=0, atol=1e-6,
            )
    assert (log["timestamp"].dt.year >= 2026).all()
    assert not log["request_id"].isin(["bad"]).any()


def test_sampling_takes_the_share_asked_for(tmp_path, iris_model):
    folder, features = iris_model
    log_dir = tmp_path / "log"
    url, proc, log_path = _serve(tmp_path, folder, "--prediction-log", str(log_dir),
                                 "--prediction-log-sample", "0.25")
    try:
        for i in range(20):
            response = requests.post(f"{url}/invocations", headers={"X-Request-Id": f"s-{i}"},
                                     json={"instances": features.values[i:i + 3].tolist()}, timeout=10)
            assert response.status_code == 200, response.text
    finally:
        _stop(proc, log_path)
    log = _read_log(log_dir)
    assert log["request_id"].nunique() == 5
    assert len(log) == 15


def test_bad_settings_are_refused(tmp_path, iris_model):
    folder, _ = iris_model
    result = subprocess.run([cairn_bin(), "serve", str(folder), "--port", str(free_port()), "--prediction-log",
                             str(tmp_path / "log"), "--prediction-log-sample", "1.5"],
                            env=dict(os.environ, ORT_DYLIB_PATH=_dylib()), capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "--prediction-log-sample" in result.stderr, result.stderr


def test_drift_reads_the_log_as_it_is(tmp_path, iris_model):
    """The monitoring loop: the prediction log is the current dataset of `cairn data drift`."""
    folder, features = iris_model
    log_dir = tmp_path / "log"
    url, proc, log_path = _serve(tmp_path, folder, "--prediction-log", str(log_dir))
    shifted = features.copy()
    shifted["petal length (cm)"] = shifted["petal length (cm)"] + 3.0
    try:
        for start in range(0, 150, 25):
            rows = shifted.iloc[start:start + 25]
            response = requests.post(f"{url}/invocations",
                                     json={"dataframe_split": rows.to_dict(orient="split", index=False)}, timeout=10)
            assert response.status_code == 200, response.text
    finally:
        _stop(proc, log_path)
    reference = tmp_path / "train.csv"
    features.to_csv(reference, index=False)
    report = tmp_path / "drift.json"
    result = subprocess.run([cairn_bin(), "data", "drift", "--reference", str(reference), "--current",
                             str(log_dir / "iris" / "*" / "*.parquet"), "--columns", ",".join(features.columns),
                             "--json", str(report)], capture_output=True, text=True, timeout=60)
    assert result.returncode in (0, 1), result.stderr
    columns = {column["column"]: column for column in json.loads(report.read_text())["columns"]}
    assert columns["petal length (cm)"]["drifted"] is True
    assert columns["sepal width (cm)"]["drifted"] is False


def test_log_to_s3(tmp_path, iris_model):
    """The same files on S3-compatible storage (moto), read back with boto3."""
    import io

    folder, features = iris_model
    with moto_s3(tmp_path, "predlog") as (endpoint, s3):
        url, proc, log_path = _serve(tmp_path, folder, "--prediction-log", "s3://predlog/serving/prod",
                                     env_extra={**MOTO_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint})
        try:
            for i in range(4):
                response = requests.post(f"{url}/invocations", headers={"X-Request-Id": f"s3-{i}"},
                                         json={"instances": features.values[i * 5:i * 5 + 5].tolist()}, timeout=10)
                assert response.status_code == 200, response.text
        finally:
            _stop(proc, log_path)
        keys = [item["Key"] for item in s3.list_objects_v2(Bucket="predlog", Prefix="serving/prod/")["Contents"]]
        assert keys and all(key.startswith("serving/prod/iris/1/predictions-") for key in keys), keys
        frames = [pd.read_parquet(io.BytesIO(s3.get_object(Bucket="predlog", Key=key)["Body"].read())) for key in keys]
        log = pd.concat(frames, ignore_index=True)
        assert sorted(log["request_id"].unique()) == [f"s3-{i}" for i in range(4)]
        assert len(log) == 20
        np.testing.assert_allclose(log.sort_values(["request_id", "row"])[list(features.columns)].to_numpy(),
                                   features.values[:20].astype(np.float32), rtol=0, atol=0)
