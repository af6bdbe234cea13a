"""Concurrent clients against one server (SQLite underneath): no 5xx, no lost writes, no duplicate ids."""

from concurrent.futures import ThreadPoolExecutor

import requests

from cairn_helpers import assert_error, now_ms, unique

API = "/api/2.0/mlflow"
THREADS = 12


def test_parallel_runs_each_log_everything(server, api):
    eid = api.create_experiment(unique("parallel"))

    def one(i: int) -> str:
        s = requests.Session()

        def post(path, body):
            r = s.post(server.url + API + path, json=body, timeout=60)
            assert r.status_code == 200, f"{path} -> {r.status_code}: {r.text[:300]}"
            return r.json()

        rid = post("/runs/create", {"experiment_id": eid, "run_name": f"w{i}", "start_time": now_ms()})["run"]["info"]["run_id"]
        for k in range(10):
            post("/runs/log-parameter", {"run_id": rid, "key": f"p{k}", "value": f"{i}-{k}"})
        for step in range(30):
            post("/runs/log-metric", {"run_id": rid, "key": "m", "value": i * 100 + step + 0.5, "timestamp": now_ms(), "step": step})
        post("/runs/set-tag", {"run_id": rid, "key": "worker", "value": str(i)})
        post("/runs/update", {"run_id": rid, "status": "FINISHED", "end_time": now_ms()})
        return rid

    with ThreadPoolExecutor(THREADS) as pool:
        ids = list(pool.map(one, range(THREADS)))
    assert len(set(ids)) == THREADS

    runs = api.ok("POST", f"{API}/runs/search", {"experiment_ids": [eid], "max_results": 100})["runs"]
    assert sorted(r["info"]["run_id"] for r in runs) == sorted(ids)
    for r in runs:
        i = int({t["key"]: t["value"] for t in r["data"]["tags"]}["worker"])
        assert r["info"]["status"] == "FINISHED"
        assert {p["key"]: p["value"] for p in r["data"]["params"]} == {f"p{k}": f"{i}-{k}" for k in range(10)}
        hist = api.metric_history(r["info"]["run_id"], "m")
        assert sorted((m["step"], m["value"]) for m in hist) == [(s, i * 100 + s + 0.5) for s in range(30)]


def test_same_experiment_name_raced(server):
    name = unique("race")

    def create(_):
        return requests.post(server.url + API + "/experiments/create", json={"name": name}, timeout=60)

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(create, range(8)))
    ok = [r for r in responses if r.status_code == 200]
    assert len(ok) == 1, [(r.status_code, r.text[:200]) for r in responses]
    for r in responses:
        if r.status_code != 200:
            assert_error(r, 400, "RESOURCE_ALREADY_EXISTS")


def test_model_versions_raced_get_distinct_numbers(server, api):
    name = unique("race-model")
    api.ok("POST", f"{API}/registered-models/create", {"name": name})
    eid = api.create_experiment(unique("race-mv"))
    run = api.create_run(eid)
    source = run["info"]["artifact_uri"] + "/model"

    def create(_):
        r = requests.post(
            server.url + API + "/model-versions/create",
            json={"name": name, "source": source, "run_id": run["info"]["run_id"]},
            timeout=60,
        )
        assert r.status_code == 200, f"{r.status_code}: {r.text[:300]}"
        return r.json()["model_version"]["version"]

    with ThreadPoolExecutor(8) as pool:
        versions = list(pool.map(create, range(8)))
    assert sorted(versions, key=int) == [str(v) for v in range(1, 9)]


def test_parallel_artifact_uploads(server, api):
    eid = api.create_experiment(unique("par-art"))
    run = api.create_run(eid)
    prefix = run["info"]["artifact_uri"].removeprefix("mlflow-artifacts:/")
    payloads = {f"f{i:02d}.bin": bytes([i]) * (1000 + i * 777) for i in range(24)}

    def put(item):
        name, data = item
        r = requests.put(f"{server.url}/api/2.0/mlflow-artifacts/artifacts/{prefix}/par/{name}", data=data, timeout=60)
        assert r.status_code == 200, f"{r.status_code}: {r.text[:200]}"

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(put, payloads.items()))
    listing = api.ok("GET", "/api/2.0/mlflow-artifacts/artifacts", params={"path": f"{prefix}/par"})["files"]
    assert {f["path"]: f["file_size"] for f in listing} == {k: len(v) for k, v in payloads.items()}
    for name, data in list(payloads.items())[:5]:
        r = requests.get(f"{server.url}/api/2.0/mlflow-artifacts/artifacts/{prefix}/par/{name}", timeout=60)
        assert r.content == data
