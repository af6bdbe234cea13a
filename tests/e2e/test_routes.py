"""Plain routes: /health, /version, server-info, /ajax-api/ aliases, unknown routes."""

import re

import pytest
import requests

from cairn_helpers import now_ms, raw_request, unique


def test_health(server):
    r = requests.get(server.url + "/health", timeout=10)
    assert r.status_code == 200
    assert r.text.strip() == "OK"


def test_version_is_text(server):
    r = requests.get(server.url + "/version", timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/")
    assert re.fullmatch(r"\d+\.\d+(\.\d+)?([.\-+][0-9A-Za-z.\-+]*)?", r.text.strip()), r.text


@pytest.mark.parametrize("prefix", ["/api", "/ajax-api"])
def test_server_info(server, prefix):
    r = requests.get(server.url + prefix + "/3.0/mlflow/server-info", timeout=10)
    assert r.status_code == 200
    info = r.json()
    assert isinstance(info, dict)
    assert isinstance(info.get("store_type"), str) and info["store_type"]
    # multipart stays off unless the server really implements the mpu endpoints
    assert info.get("multipart_uploads_enabled", False) in (True, False)
    assert info.get("multipart_downloads_enabled", False) in (True, False)


def test_ajax_api_experiments_and_runs(server, api):
    exp_name = unique("ajax")
    eid = api.create_experiment(exp_name)
    s = requests.Session()
    r = s.get(server.url + "/ajax-api/2.0/mlflow/experiments/get", params={"experiment_id": eid}, timeout=10)
    assert r.status_code == 200
    assert r.json()["experiment"]["experiment_id"] == eid

    r = s.post(server.url + "/ajax-api/2.0/mlflow/runs/create", json={"experiment_id": eid, "start_time": now_ms()}, timeout=10)
    assert r.status_code == 200
    rid = r.json()["run"]["info"]["run_id"]
    r = s.post(
        server.url + "/ajax-api/2.0/mlflow/runs/log-metric",
        json={"run_id": rid, "key": "m", "value": 2.5, "timestamp": now_ms(), "step": 4},
        timeout=10,
    )
    assert r.status_code == 200 and r.json() == {}
    r = s.get(server.url + "/ajax-api/2.0/mlflow/metrics/get-history", params={"run_id": rid, "metric_key": "m"}, timeout=10)
    assert r.status_code == 200
    assert [(m["step"], m["value"]) for m in r.json()["metrics"]] == [(4, 2.5)]
    r = s.post(server.url + "/ajax-api/2.0/mlflow/runs/search", json={"experiment_ids": [eid]}, timeout=10)
    assert r.status_code == 200
    assert [x["info"]["run_id"] for x in r.json()["runs"]] == [rid]
    r = s.post(
        server.url + "/ajax-api/2.0/mlflow/experiments/search",
        json={"filter": f"name = '{exp_name}'", "max_results": 10},
        timeout=10,
    )
    assert r.status_code == 200
    assert [e["experiment_id"] for e in r.json()["experiments"]] == [eid]


def test_ajax_api_artifacts(server):
    status, _ = raw_request(server.url, "PUT", "/ajax-api/2.0/mlflow-artifacts/artifacts/ajax-check/f.txt", b"ajax!")
    assert status == 200
    status, body = raw_request(server.url, "GET", "/api/2.0/mlflow-artifacts/artifacts/ajax-check/f.txt")
    assert (status, body) == (200, b"ajax!")
    r = requests.get(server.url + "/ajax-api/2.0/mlflow-artifacts/artifacts", params={"path": "ajax-check"}, timeout=10)
    assert r.status_code == 200
    assert r.json() == {"files": [{"path": "f.txt", "is_dir": False, "file_size": 5}]}


def test_ajax_api_registry(server, api):
    name = unique("ajax-model")
    r = requests.post(server.url + "/ajax-api/2.0/mlflow/registered-models/create", json={"name": name}, timeout=10)
    assert r.status_code == 200
    assert r.json()["registered_model"]["name"] == name
    r = requests.get(server.url + "/ajax-api/2.0/mlflow/registered-models/get", params={"name": name}, timeout=10)
    assert r.status_code == 200 and r.json()["registered_model"]["name"] == name


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/api/2.0/mlflow/nope"),
        ("POST", "/api/2.0/mlflow/runs/nope"),
        ("GET", "/nope"),
        ("GET", "/api/9.9/mlflow/experiments/get?experiment_id=0"),
        ("GET", "/ajax-api/2.0/mlflow/definitely-not-a-route"),
    ],
)
def test_unknown_route_is_404(server, method, path):
    r = requests.request(method, server.url + path, timeout=10)
    assert r.status_code == 404, f"{method} {path} -> {r.status_code}: {r.text[:300]}"
