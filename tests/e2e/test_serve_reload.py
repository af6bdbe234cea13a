"""`cairn serve models:/name@champion` follows its alias: versions registered with the real mlflow client,
the alias moved with `MlflowClient().set_registered_model_alias` while client threads keep predicting.
Every request succeeds, the new version serves within a few polls, a version that cannot load leaves the
old one serving, an unreachable registry never stops serving, and /metrics shows all of it."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import numpy as np
import pytest
import requests
from mlflow import MlflowClient
from mlflow.models import infer_signature

from cairn_helpers import CairnServer, cairn_bin, free_port, unique

pytest.importorskip("onnxruntime")
pytest.importorskip("skl2onnx")

from sklearn.datasets import load_iris  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.tree import DecisionTreeClassifier  # noqa: E402
from skl2onnx import convert_sklearn  # noqa: E402
from skl2onnx.common.data_types import FloatTensorType  # noqa: E402

POLL = "0.2"  # --reload-interval in seconds
SWITCH_TIMEOUT = 15.0


@dataclass
class Versions:
    """A registered model with a good v1, a good v2 that predicts differently, and a broken v3."""

    name: str
    features: np.ndarray  # float32, all of iris
    labels: dict[str, list[int]]  # version -> the scikit-learn labels for `features`


def _model_folder(tmp: Path, key: str, model, features, target) -> Path:
    model.fit(features, target)
    onnx_model = convert_sklearn(model, initial_types=[("float_input", FloatTensorType([None, 4]))])
    folder = tmp / key
    mlflow.onnx.save_model(onnx_model, str(folder), signature=infer_signature(features, model.predict(features)))
    return folder


def _register(client: MlflowClient, experiment_id: str, name: str, folder: Path) -> str:
    """Logs `folder` as a run's `model` artifact and registers it as the next version of `name`."""
    run = client.create_run(experiment_id)
    client.log_artifacts(run.info.run_id, str(folder), "model")
    client.set_terminated(run.info.run_id)
    return client.create_model_version(name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id).version


def register_versions(tracking_url: str, tmp: Path) -> Versions:
    data = load_iris(as_frame=True)
    features, target = data.data, data.target
    client = MlflowClient(tracking_uri=tracking_url, registry_uri=tracking_url)
    experiment_id = client.create_experiment(unique("serve-reload"))
    name = unique("iris-reload")
    client.create_registered_model(name)
    v1 = LogisticRegression(max_iter=500)
    v2 = DecisionTreeClassifier(max_depth=1, random_state=0)  # two classes only: differs from v1 on 50 rows
    assert _register(client, experiment_id, name, _model_folder(tmp, "v1", v1, features, target)) == "1"
    assert _register(client, experiment_id, name, _model_folder(tmp, "v2", v2, features, target)) == "2"
    # v3: a well-formed MLmodel whose ONNX file is not a model.
    broken = tmp / "v3"
    shutil.copytree(tmp / "v1", broken)
    (broken / "model.onnx").write_bytes(b"this is not an ONNX model")
    assert _register(client, experiment_id, name, broken) == "3"
    client.set_registered_model_alias(name, "champion", "1")
    as_float32 = features.astype(np.float32)
    labels = {"1": v1.predict(as_float32).tolist(), "2": v2.predict(as_float32).tolist()}
    assert labels["1"] != labels["2"]
    return Versions(name=name, features=as_float32.values, labels=labels)


@pytest.fixture(scope="module")
def versions(server, tmp_path_factory) -> Versions:
    return register_versions(server.url, tmp_path_factory.mktemp("reload-models"))


@dataclass
class Serving:
    url: str
    proc: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=15)
        text = self.log()
        assert "panicked" not in text, text
        assert rc == 0, f"exit {rc} after SIGTERM:\n{text}"


def start_serving(tracking_url: str, name: str, log_dir: Path) -> Serving:
    port = free_port()
    log_path = log_dir / f"serve-{port}.log"
    args = [cairn_bin(), "serve", f"models:/{name}@champion", "--port", str(port), "--tracking-uri", tracking_url,
            "--reload-interval", POLL, "--sessions", "2"]
    env = dict(os.environ, VIRTUAL_ENV=sys.prefix, NO_COLOR="1")
    env.pop("ORT_DYLIB_PATH", None)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"cairn serve exited with {proc.returncode}:\n{log_path.read_text()}")
        try:
            if requests.get(f"{url}/ping", timeout=1).status_code == 200:
                return Serving(url, proc, log_path)
        except requests.RequestException:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"cairn serve did not answer /ping:\n{log_path.read_text()}")


@dataclass
class Load:
    """Client threads POSTing /invocations and /v2/models/NAME/infer until stopped.

    Each answer is kept as (protocol, status, version or None, labels or the error text)."""

    url: str
    name: str
    features: np.ndarray
    threads: int = 4
    answers: list[tuple[str, int, str | None, object]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        rows = self.features.tolist()
        self._mlflow_body = {"instances": rows}
        self._v2_body = {"inputs": [{"name": "float_input", "shape": list(self.features.shape), "datatype": "FP32",
                                     "data": self.features.ravel().tolist()}]}

    def _work(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            for protocol in ("mlflow", "v2"):
                try:
                    if protocol == "mlflow":
                        response = session.post(f"{self.url}/invocations", json=self._mlflow_body, timeout=30)
                        ok = response.status_code == 200
                        answer = (protocol, response.status_code, None,
                                  response.json()["predictions"]["output_label"] if ok else response.text)
                    else:
                        response = session.post(f"{self.url}/v2/models/{self.name}/infer", json=self._v2_body,
                                                timeout=30)
                        ok = response.status_code == 200
                        body = response.json() if ok else None
                        answer = (protocol, response.status_code, body["model_version"] if ok else None,
                                  next(o["data"] for o in body["outputs"] if o["name"] == "output_label") if ok
                                  else response.text)
                except Exception as error:  # a dropped connection is a failed request too
                    answer = (protocol, 0, None, repr(error))
                with self._lock:
                    self.answers.append(answer)

    def __enter__(self) -> "Load":
        for _ in range(self.threads):
            worker = threading.Thread(target=self._work, daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=60)

    def count(self) -> int:
        with self._lock:
            return len(self.answers)

    def run_for(self, seconds: float, n_more: int) -> None:
        """Lets the load run `seconds` and bring at least `n_more` answers."""
        time.sleep(seconds)
        self.wait_for(n_more)

    def wait_for(self, n_more: int, timeout: float = 30.0) -> None:
        target = self.count() + n_more
        deadline = time.monotonic() + timeout
        while self.count() < target:
            assert time.monotonic() < deadline, f"the load made no progress ({self.count()} answers)"
            time.sleep(0.02)


def metrics(url: str) -> dict[str, float]:
    """`name{labels}` -> value, from the Prometheus text."""
    text = requests.get(f"{url}/metrics", timeout=10).text
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            values[key] = float(value)
    return values


def serving_version(url: str, name: str) -> str:
    answer = requests.get(f"{url}/v2/models/{name}", timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["versions"][0]


def wait_until(condition, what: str, timeout: float = SWITCH_TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def predict_labels(url: str, features: np.ndarray) -> list[int]:
    response = requests.post(f"{url}/invocations", json={"instances": features.tolist()}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["predictions"]["output_label"]


def loaded_files(log: str) -> list[str]:
    """The download folders in the order versions were loaded (the first, then each switch)."""
    return re.findall(r"files=(\S+)", log)


def test_moving_the_alias_under_load_switches_versions_with_no_failed_request(server, versions, tmp_path):
    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    client.set_registered_model_alias(versions.name, "champion", "1")
    serving = start_serving(server.url, versions.name, tmp_path)
    try:
        assert serving_version(serving.url, versions.name) == "1"
        with Load(serving.url, versions.name, versions.features) as load:
            load.run_for(1.5, 40)
            client.set_registered_model_alias(versions.name, "champion", "2")
            wait_until(lambda: serving_version(serving.url, versions.name) == "2", "version 2 to serve")
            load.run_for(1.5, 40)
        answers = load.answers
        failed = [answer for answer in answers if answer[1] != 200]
        assert not failed, f"{len(failed)} of {len(answers)} requests failed: {failed[:5]}"
        # Every v2 answer names its version and carries exactly that version's predictions.
        v2_answers = [answer for answer in answers if answer[0] == "v2"]
        assert {answer[2] for answer in v2_answers} == {"1", "2"}
        for _, _, version, labels in v2_answers:
            assert labels == versions.labels[version], version
        # Every /invocations answer is one version's predictions, never a mix.
        for _, _, _, labels in answers:
            assert labels in (versions.labels["1"], versions.labels["2"])
        # After the switch: version 2, on both routes and in the metadata.
        assert predict_labels(serving.url, versions.features) == versions.labels["2"]
        assert requests.get(f"{serving.url}/v2/models/{versions.name}/versions/2/ready", timeout=5).json()["ready"]
        assert requests.get(f"{serving.url}/v2/models/{versions.name}/versions/1", timeout=5).status_code == 404

        values = metrics(serving.url)
        model = f'model="{versions.name}"'
        assert values[f"cairn_serve_reloads_total{{{model}}}"] == 1
        assert values[f"cairn_serve_reload_failures_total{{{model}}}"] == 0
        assert values[f'cairn_serve_model_version_info{{{model},version="2"}}'] == 1
        assert f'cairn_serve_model_version_info{{{model},version="1"}}' not in values
        for version in ("1", "2"):
            labels = f'{model},version="{version}"'
            assert values[f'cairn_serve_requests_total{{{labels},protocol="v2",code="200"}}'] > 0
            assert values[f"cairn_serve_request_errors_total{{{labels}}}"] == 0
            assert values[f'cairn_serve_batch_rows_bucket{{{labels},le="200"}}'] > 0
            assert values[f'cairn_serve_batch_rows_bucket{{{labels},le="100"}}'] == 0
        assert values["cairn_serve_in_flight"] == 0

        # The first version's downloaded files went with its last request; the second's are in use.
        first, second = loaded_files(serving.log())
        assert not Path(first).exists(), first
        assert Path(second).is_dir(), second
    finally:
        serving.stop()


def test_a_version_that_cannot_load_leaves_the_old_one_serving(server, versions, tmp_path):
    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    client.set_registered_model_alias(versions.name, "champion", "1")
    serving = start_serving(server.url, versions.name, tmp_path)
    failures = f'cairn_serve_reload_failures_total{{model="{versions.name}"}}'
    try:
        with Load(serving.url, versions.name, versions.features, threads=2) as load:
            load.wait_for(10)
            client.set_registered_model_alias(versions.name, "champion", "3")
            # Tried once per poll, and failing each time.
            wait_until(lambda: metrics(serving.url)[failures] >= 2, "two failed loads of version 3")
            load.wait_for(10)
        failed = [answer for answer in load.answers if answer[1] != 200]
        assert not failed, failed[:5]
        assert all(labels == versions.labels["1"] for _, _, _, labels in load.answers)
        assert serving_version(serving.url, versions.name) == "1"
        assert metrics(serving.url)[f'cairn_serve_reloads_total{{model="{versions.name}"}}'] == 0
        assert "cannot load the version the alias names" in serving.log()

        # A good version after the broken one: switched, and version 3 is not tried again.
        client.set_registered_model_alias(versions.name, "champion", "2")
        wait_until(lambda: serving_version(serving.url, versions.name) == "2", "version 2 to serve")
        assert predict_labels(serving.url, versions.features) == versions.labels["2"]
        after_switch = metrics(serving.url)[failures]
        time.sleep(3 * float(POLL))
        assert metrics(serving.url)[failures] == after_switch
    finally:
        serving.stop()


def test_an_unreachable_registry_never_stops_serving(tmp_path):
    registry = CairnServer(tmp_path / "registry")
    registry.start()
    try:
        versions = register_versions(registry.url, tmp_path / "models")
        serving = start_serving(registry.url, versions.name, tmp_path)
        check_errors = f'cairn_serve_reload_check_errors_total{{model="{versions.name}"}}'
        try:
            registry.stop()
            with Load(serving.url, versions.name, versions.features, threads=2) as load:
                wait_until(lambda: metrics(serving.url)[check_errors] >= 2, "two failed registry lookups")
                load.wait_for(10)
            assert all(answer[1] == 200 for answer in load.answers), load.answers[:5]
            assert serving_version(serving.url, versions.name) == "1"
            assert "cannot ask the registry which version the alias names" in serving.log()

            # The registry is back: the next move of the alias is followed.
            registry.start()
            MlflowClient(tracking_uri=registry.url, registry_uri=registry.url).set_registered_model_alias(
                versions.name, "champion", "2")
            wait_until(lambda: serving_version(serving.url, versions.name) == "2", "version 2 to serve")
            assert predict_labels(serving.url, versions.features) == versions.labels["2"]
        finally:
            serving.stop()
    finally:
        if registry.proc is not None and registry.proc.poll() is None:
            assert registry.stop() == 0


def test_metrics_report_process_cpu_and_memory(server, versions, tmp_path):
    MlflowClient(tracking_uri=server.url, registry_uri=server.url).set_registered_model_alias(
        versions.name, "champion", "1")
    serving = start_serving(server.url, versions.name, tmp_path)
    try:
        predict_labels(serving.url, versions.features)
        values = metrics(serving.url)
        assert values["process_resident_memory_bytes"] > 1_000_000
        assert values["process_virtual_memory_bytes"] >= values["process_resident_memory_bytes"]
        assert values["process_cpu_seconds_total"] > 0
        assert abs(values["process_start_time_seconds"] - time.time()) < 600
        assert values["process_open_fds"] > 3
        assert values["process_max_fds"] >= values["process_open_fds"]
        assert values["cairn_serve_max_in_flight"] == 256
        assert values[f'cairn_serve_model_version_info{{model="{versions.name}",version="1"}}'] == 1
    finally:
        serving.stop()
