"""Artifacts on S3: a real `cairn server --artifacts-destination s3://...` against a real S3-compatible
server (moto in server mode, a subprocess), driven by the real mlflow client.

The AWS_* settings go to the cairn process only; the mlflow client talks to cairn's artifact proxy.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time

import mlflow
import psutil
import pytest
import requests
from mlflow import MlflowClient

from cairn_helpers import MOTO_CREDENTIALS, CairnServer, assert_error, free_port, moto_s3, unique

BUCKET = "cairn-artifacts"
PREFIX = "team/mlflow"
CREDENTIALS = MOTO_CREDENTIALS
# The streamed artifact: 1 GiB unless overridden (CAIRN_E2E_S3_BIG_MB) on a slow machine.
BIG_MB = int(os.environ.get("CAIRN_E2E_S3_BIG_MB", "1024"))
# The server's resident memory must stay far below the artifact's size.
PEAK_RSS_LIMIT = 300 * 1024 * 1024


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    """moto's S3 in server mode on a free port, with the bucket created."""
    with moto_s3(tmp_path_factory.mktemp("moto"), BUCKET) as (endpoint, s3):
        yield endpoint, s3


def _start(workdir, destination: str, env: dict[str, str]) -> CairnServer:
    srv = CairnServer(workdir, artifacts_destination=destination, env={**CREDENTIALS, **env})
    srv.start()
    return srv


def _stop(srv: CairnServer) -> None:
    rc = srv.stop()
    assert "panicked" not in srv.log_text()
    assert rc == 0


@pytest.fixture(scope="module")
def s3_server(moto, tmp_path_factory):
    """A cairn server whose artifacts live in s3://BUCKET/PREFIX on moto (MLflow's endpoint variable)."""
    endpoint, _ = moto
    srv = _start(
        tmp_path_factory.mktemp("cairn-s3"),
        f"s3://{BUCKET}/{PREFIX}",
        {"MLFLOW_S3_ENDPOINT_URL": endpoint},
    )
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(srv.url)
    mlflow.set_registry_uri(srv.url)
    try:
        yield srv
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(previous)
        mlflow.set_registry_uri(previous)
        _stop(srv)


def _keys(s3, prefix: str) -> set[str]:
    keys = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        keys.update(item["Key"] for item in page.get("Contents", []))
    return keys


def _run_prefix(run) -> str:
    """The bucket key prefix of a run's artifacts (its artifact URI is mlflow-artifacts:/<path>)."""
    uri = run.info.artifact_uri
    assert uri.startswith("mlflow-artifacts:"), uri
    return f"{PREFIX}/{uri.split(':', 1)[1].lstrip('/')}"


def test_log_list_download_delete(s3_server, moto, tmp_path):
    _, s3 = moto
    client = MlflowClient(s3_server.url)
    mlflow.set_experiment(unique("s3"))
    source = tmp_path / "src"
    (source / "dir" / "nested").mkdir(parents=True)
    (source / "file.txt").write_text("hello s3\n")
    (source / "dir" / "a.json").write_text('{"a": 1}')
    (source / "dir" / "nested" / "b.bin").write_bytes(bytes(range(256)) * 10)
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(source / "file.txt"))
        mlflow.log_artifacts(str(source / "dir"), artifact_path="dir")
        mlflow.log_text("some text", "notes/readme.md")
        mlflow.log_dict({"k": [1, 2]}, "notes/config.json")

    top = {f.path: f for f in client.list_artifacts(run.info.run_id)}
    assert set(top) == {"file.txt", "dir", "notes"}
    assert top["dir"].is_dir and not top["file.txt"].is_dir
    assert top["file.txt"].file_size == len("hello s3\n")
    assert {f.path for f in client.list_artifacts(run.info.run_id, "dir")} == {"dir/a.json", "dir/nested"}
    assert client.list_artifacts(run.info.run_id, "file.txt") == []

    out = tmp_path / "out"
    local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, dst_path=str(out))
    assert (out / "file.txt").read_text() == "hello s3\n"
    assert (out / "dir" / "nested" / "b.bin").read_bytes() == bytes(range(256)) * 10
    assert mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/notes/readme.md") == "some text"
    assert mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/notes/config.json") == {"k": [1, 2]}
    assert os.path.isdir(local)

    # The objects really are in the bucket, under the configured prefix.
    run_prefix = _run_prefix(run)
    assert _keys(s3, run_prefix) == {
        f"{run_prefix}/file.txt",
        f"{run_prefix}/dir/a.json",
        f"{run_prefix}/dir/nested/b.bin",
        f"{run_prefix}/notes/readme.md",
        f"{run_prefix}/notes/config.json",
    }
    body = s3.get_object(Bucket=BUCKET, Key=f"{run_prefix}/file.txt")["Body"].read()
    assert body == b"hello s3\n"
    assert not any(not key.startswith(PREFIX + "/") for key in _keys(s3, ""))

    # Delete a directory, then a file, through the artifact proxy.
    relative = run_prefix[len(PREFIX) + 1 :]
    proxy = f"{s3_server.url}/api/2.0/mlflow-artifacts/artifacts/{relative}"
    assert requests.delete(f"{proxy}/dir", timeout=30).status_code == 200
    assert requests.delete(f"{proxy}/file.txt", timeout=30).status_code == 200
    assert _keys(s3, run_prefix) == {f"{run_prefix}/notes/readme.md", f"{run_prefix}/notes/config.json"}
    assert {f.path for f in client.list_artifacts(run.info.run_id)} == {"notes"}
    assert_error(requests.get(f"{proxy}/file.txt", timeout=30), 404, "RESOURCE_DOES_NOT_EXIST")
    assert_error(requests.delete(f"{proxy}/file.txt", timeout=30), 404, "RESOURCE_DOES_NOT_EXIST")


def test_sklearn_model_round_trip(s3_server, moto):
    _, s3 = moto
    from sklearn.linear_model import LogisticRegression

    import numpy as np

    X = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.9], [0.9, 0.1]])
    y = [0, 1, 0, 1]
    model = LogisticRegression().fit(X, y)
    mlflow.set_experiment(unique("s3-model"))
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(model, name="model", input_example=X[:1])
    loaded = mlflow.pyfunc.load_model(info.model_uri)
    assert list(loaded.predict(X)) == list(model.predict(X))
    # The model's files landed in the bucket under the prefix (logged models live under models/).
    keys = _keys(s3, PREFIX + "/")
    assert any(key.endswith("/MLmodel") for key in keys), sorted(keys)[:20]
    # The serialized estimator (model.skops or model.pkl, depending on mlflow's default format).
    assert any(key.rsplit("/", 1)[-1].startswith("model.") for key in keys), sorted(keys)[:20]
    assert run.info.run_id


class _PeakRss:
    """Samples a process's resident memory in a thread; `peak` is the largest value seen."""

    def __init__(self, pid: int, interval: float = 0.02):
        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak = self.process.memory_info().rss
        self.baseline = self.peak
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.Error:
                return
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)


def test_large_artifact_streams_through(s3_server, moto):
    """A BIG_MB artifact goes up and comes back through the proxy; the server never holds it."""
    _, s3 = moto
    run = MlflowClient(s3_server.url).create_run(
        MlflowClient(s3_server.url).create_experiment(unique("s3-big"))
    )
    relative = _run_prefix(run)[len(PREFIX) + 1 :] + "/big.bin"
    url = f"{s3_server.url}/api/2.0/mlflow-artifacts/artifacts/{relative}"
    chunk_size = 1024 * 1024
    total = BIG_MB * chunk_size
    sent = hashlib.sha256()

    def generate():
        # Varying content, generated as it is sent (never the whole artifact in Python memory).
        block = os.urandom(chunk_size)
        for index in range(BIG_MB):
            chunk = index.to_bytes(8, "little") + block[8:]
            sent.update(chunk)
            yield chunk

    with _PeakRss(s3_server.proc.pid) as rss:
        started = time.monotonic()
        response = requests.put(url, data=generate(), timeout=600)
        upload_s = time.monotonic() - started
        assert response.status_code == 200, response.text[:500]

        head = s3.head_object(Bucket=BUCKET, Key=f"{PREFIX}/{relative}")
        assert head["ContentLength"] == total

        received = hashlib.sha256()
        size = 0
        started = time.monotonic()
        with requests.get(url, stream=True, timeout=600) as download:
            assert download.status_code == 200
            assert int(download.headers["Content-Length"]) == total
            for chunk in download.iter_content(chunk_size):
                received.update(chunk)
                size += len(chunk)
        download_s = time.monotonic() - started
    assert size == total
    assert received.hexdigest() == sent.hexdigest()
    mib = total / (1024 * 1024)
    print(
        f"\n[s3 streaming] {mib:.0f} MiB: upload {upload_s:.1f} s ({mib / upload_s:.0f} MiB/s), "
        f"download {download_s:.1f} s ({mib / download_s:.0f} MiB/s); "
        f"server RSS baseline {rss.baseline / 2**20:.0f} MiB, peak {rss.peak / 2**20:.0f} MiB"
    )
    assert rss.peak < PEAK_RSS_LIMIT, f"server peak RSS {rss.peak / 2**20:.0f} MiB"
    assert rss.peak < total / 2
    # Free moto's memory for the other tests.
    s3.delete_object(Bucket=BUCKET, Key=f"{PREFIX}/{relative}")


def test_unreachable_store_fails_artifact_calls_not_metadata(tmp_path):
    """An object store nobody answers at: artifact calls fail fast with a clear 503, metadata works."""
    dead = f"http://127.0.0.1:{free_port()}"
    srv = _start(tmp_path / "dead", f"s3://{BUCKET}/{PREFIX}", {"AWS_ENDPOINT_URL": dead})
    try:
        client = MlflowClient(srv.url)
        experiment_id = client.create_experiment(unique("s3-dead"))
        run = client.create_run(experiment_id)
        client.log_metric(run.info.run_id, "loss", 0.5)
        client.log_param(run.info.run_id, "p", "1")
        assert client.get_run(run.info.run_id).data.metrics == {"loss": 0.5}

        relative = f"{experiment_id}/{run.info.run_id}/artifacts/a.txt"
        proxy = f"{srv.url}/api/2.0/mlflow-artifacts/artifacts"
        for method, url, kwargs in [
            ("PUT", f"{proxy}/{relative}", {"data": b"x"}),
            ("GET", f"{proxy}/{relative}", {}),
            ("GET", proxy, {"params": {"path": relative.rsplit("/", 1)[0]}}),
            ("DELETE", f"{proxy}/{relative}", {}),
        ]:
            started = time.monotonic()
            response = requests.request(method, url, timeout=60, **kwargs)
            elapsed = time.monotonic() - started
            # assert_error refuses every 5xx; this one is the intended, retryable outage answer.
            assert response.status_code == 503, f"{method} {url}: {response.status_code} {response.text[:300]}"
            body = response.json()
            assert body["error_code"] == "TEMPORARILY_UNAVAILABLE", body
            assert "unavailable" in body["message"], body
            assert elapsed < 20, f"{method} took {elapsed:.1f} s"

        # The real client sees the failure as an exception, quickly (retries are off in these tests).
        started = time.monotonic()
        with pytest.raises(Exception, match="503|TEMPORARILY_UNAVAILABLE|unavailable"):
            client.log_text(run.info.run_id, "text", "notes.txt")
        assert time.monotonic() - started < 20
        # ...and metadata calls keep working after the artifact failures.
        client.log_metric(run.info.run_id, "loss", 0.25, step=1)
        client.set_terminated(run.info.run_id)
        assert client.get_run(run.info.run_id).info.status == "FINISHED"
    finally:
        _stop(srv)
