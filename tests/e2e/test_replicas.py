"""Two `cairn server` replicas on one PostgreSQL database and one S3 bucket, clients spread over both.

Runs in the PostgreSQL pass of the suite (CAIRN_E2E_BACKEND=postgres): concurrent log-batch into one
run, concurrent registration of versions of one model (no duplicate or skipped number), alias moves,
and every write visible from the other replica.
"""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from mlflow import MlflowClient

from cairn_helpers import Api, CairnServer, e2e_backend, fresh_postgres_database, now_ms, unique
from test_s3 import BUCKET, CREDENTIALS, moto  # noqa: F401  (moto is a fixture used below)

pytestmark = pytest.mark.skipif(
    e2e_backend() != "postgres", reason="replicas share a PostgreSQL database: runs in the postgres pass"
)

THREADS = 8


@pytest.fixture(scope="module")
def replicas(moto, tmp_path_factory):  # noqa: F811
    endpoint, _ = moto
    database = fresh_postgres_database("cairn_e2e_replicas")
    destination = f"s3://{BUCKET}/replicas"
    servers = []
    for name in ("a", "b"):
        srv = CairnServer(
            tmp_path_factory.mktemp(f"replica-{name}"),
            backend_store_uri=database,
            artifacts_destination=destination,
            env={**CREDENTIALS, "MLFLOW_S3_ENDPOINT_URL": endpoint},
        )
        srv.start()
        servers.append(srv)
    try:
        yield servers
    finally:
        for srv in servers:
            rc = srv.stop()
            assert "panicked" not in srv.log_text()
            assert rc == 0, srv.log_text()[-3000:]


def test_concurrent_log_batch_across_replicas(replicas):
    a, b = (Api(srv.url) for srv in replicas)
    experiment_id = a.create_experiment(unique("replicas"))
    run_id = a.create_run(experiment_id, "shared")["info"]["run_id"]
    batches = 80
    ts = now_ms()

    def send(i: int) -> None:
        api = (a, b)[i % 2]
        body = {
            "run_id": run_id,
            "metrics": [{"key": f"m{i}", "value": i + s / 10, "timestamp": ts, "step": s} for s in range(25)]
            + [{"key": "shared", "value": float(i), "timestamp": ts + i, "step": i}],
            "params": [{"key": f"p{i}", "value": str(i)}],
            "tags": [{"key": "last_writer", "value": "ab"[i % 2]}],
        }
        api.ok("POST", "/api/2.0/mlflow/runs/log-batch", body)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(send, range(batches)))

    for api in (a, b):
        run = api.get_run(run_id)
        params = {p["key"]: p["value"] for p in run["data"]["params"]}
        assert params == {f"p{i}": str(i) for i in range(batches)}
        latest = {m["key"]: m for m in run["data"]["metrics"]}
        assert len(latest) == batches + 1
        assert latest["shared"]["step"] == batches - 1
        for i in (0, batches // 2, batches - 1):
            history = api.metric_history(run_id, f"m{i}")
            assert sorted((m["step"], m["value"]) for m in history) == [(s, i + s / 10) for s in range(25)]
        assert len(api.metric_history(run_id, "shared")) == batches


def test_version_numbers_are_dense_under_concurrent_registration(replicas):
    clients = [MlflowClient(tracking_uri=srv.url, registry_uri=srv.url) for srv in replicas]
    name = unique("replicated-model")
    clients[0].create_registered_model(name)
    per_thread = 6
    numbers: list[int] = []
    lock = threading.Lock()

    def register(thread: int) -> None:
        client = clients[thread % 2]
        for _ in range(per_thread):
            version = client.create_model_version(name, f"s3://elsewhere/{thread}", description=f"t{thread}")
            with lock:
                numbers.append(int(version.version))

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(register, range(THREADS)))

    total = THREADS * per_thread
    assert sorted(numbers) == list(range(1, total + 1)), "duplicate or skipped version numbers"
    for client in clients:
        versions = client.search_model_versions(f"name = '{name}'", max_results=1000)
        assert sorted(int(v.version) for v in versions) == list(range(1, total + 1))


def test_alias_moves_from_both_replicas(replicas):
    clients = [MlflowClient(tracking_uri=srv.url, registry_uri=srv.url) for srv in replicas]
    name = unique("alias-model")
    clients[1].create_registered_model(name)
    for i in range(4):
        clients[i % 2].create_model_version(name, f"s3://elsewhere/{i}")
    moves = list(itertools.islice(itertools.cycle([1, 2, 3, 4]), 40))

    def move(i: int) -> None:
        clients[i % 2].set_registered_model_alias(name, "champion", moves[i])

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(move, range(len(moves))))

    seen = {int(client.get_model_version_by_alias(name, "champion").version) for client in clients}
    assert len(seen) == 1, f"the replicas disagree on the alias: {seen}"
    # The last move, done after every other one, wins on both.
    clients[0].set_registered_model_alias(name, "champion", 3)
    for client in clients:
        assert client.get_model_version_by_alias(name, "champion").version == "3"
        model = client.get_registered_model(name)
        assert model.aliases == {"champion": "3"}


def test_artifacts_written_through_one_replica_are_read_through_the_other(replicas, tmp_path):
    a, b = replicas
    api = Api(a.url)
    experiment_id = api.create_experiment(unique("replica-artifacts"))
    run_id = api.create_run(experiment_id, "art")["info"]["run_id"]
    payload = b"written by replica a\n" * 1000
    put = requests.put(
        f"{a.url}/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts/notes.txt",
        data=payload,
        timeout=30,
    )
    assert put.status_code == 200, put.text
    client = MlflowClient(tracking_uri=b.url)
    listed = [f.path for f in client.list_artifacts(run_id)]
    assert listed == ["notes.txt"]
    local = client.download_artifacts(run_id, "notes.txt", str(tmp_path))
    with open(local, "rb") as f:
        assert f.read() == payload
