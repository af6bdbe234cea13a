"""Hostile requests: the server answers with a 4xx (never a 5xx or a dropped connection) and stays up."""

import pytest
import requests

from cairn_helpers import raw_request

API = "/api/2.0/mlflow"


def assert_alive(server):
    r = requests.get(server.url + "/health", timeout=10)
    assert r.status_code == 200, "server stopped answering /health"
    assert server.proc.poll() is None, "server process died"


def post_bytes(server, path, data: bytes, content_type="application/json"):
    return requests.post(server.url + path, data=data, headers={"Content-Type": content_type}, timeout=60)


def test_huge_json_body(server, run_id):
    # 30 MB of metrics: far beyond any MLflow limit
    chunk = b'{"key": "m", "value": 1.0, "timestamp": 1, "step": 0},'
    body = b'{"run_id": "' + run_id.encode() + b'", "metrics": [' + chunk * (30_000_000 // len(chunk)) + b"{}]}"
    try:
        r = post_bytes(server, f"{API}/runs/log-batch", body)
        assert 400 <= r.status_code < 500, f"{r.status_code}: {r.text[:300]}"
    except requests.ConnectionError:
        # closing the connection on an oversized body is acceptable; crashing is not
        pass
    assert_alive(server)


def test_deeply_nested_json(server):
    body = b'{"name": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    r = post_bytes(server, f"{API}/experiments/create", body)
    assert 400 <= r.status_code < 500, f"{r.status_code}: {r.text[:300]}"
    assert_alive(server)


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "\xff\xfe"}',
        b'{"name": "\\ud800"}',
        b'{"name": "a\\u0000b"}',
        b'{"name": "ok", "name": 5}',
        b"",
        b"null",
        b"12345",
        b'{"name": 1e999}',
    ],
    ids=["invalid-utf8", "lone-surrogate", "nul-char", "duplicate-key", "empty", "null", "number", "huge-number"],
)
def test_odd_json(server, body):
    r = post_bytes(server, f"{API}/experiments/create", body)
    assert r.status_code < 500, f"{r.status_code}: {r.text[:300]}"
    if r.status_code >= 400:
        data = r.json()
        assert data.get("error_code") and data.get("message")
    assert_alive(server)


def test_wrong_content_type(server):
    r = post_bytes(server, f"{API}/experiments/create", b"name=x", content_type="application/x-www-form-urlencoded")
    assert r.status_code < 500, f"{r.status_code}: {r.text[:300]}"
    assert_alive(server)


def test_very_long_url(server):
    status, body = raw_request(server.url, "GET", f"{API}/runs/get?run_id=" + "a" * 60_000)
    assert status < 500 or status == 0, f"{status}: {body[:200]!r}"
    assert_alive(server)


def test_invalid_utf8_in_path_and_query(server):
    for path in [f"{API}/experiments/get-by-name?experiment_name=%ff%fe", "/api/2.0/mlflow-artifacts/artifacts/%ff%fe/x"]:
        status, body = raw_request(server.url, "GET", path)
        assert 400 <= status < 500, f"{path}: {status} {body[:200]!r}"
    assert_alive(server)


def test_nul_in_key(api, run_id, server):
    r = api.post(f"{API}/runs/set-tag", {"run_id": run_id, "key": "a\u0000b", "value": "v"})
    assert r.status_code == 400, r.text
    assert_alive(server)
