"""Bad input over the raw REST API: exact error codes, MLflow-style bodies, never a 5xx."""

import json

import pytest
import requests

from cairn_helpers import assert_error, now_ms, unique

API = "/api/2.0/mlflow"
MISSING_RUN = "f" * 32


def post_raw(server, path, data: bytes, content_type="application/json"):
    return requests.post(server.url + path, data=data, headers={"Content-Type": content_type}, timeout=30)


# ---------- malformed bodies and types ----------


@pytest.mark.parametrize("body", [b"{not json", b'{"name": "x"', b"[1, 2", b"\xff\xfe garbage", b'"just a string'])
def test_malformed_json_body(server, body):
    r = post_raw(server, f"{API}/experiments/create", body)
    assert_error(r, 400, ("INVALID_PARAMETER_VALUE", "BAD_REQUEST", "MALFORMED_REQUEST"))


def test_json_array_instead_of_object(server):
    r = post_raw(server, f"{API}/experiments/create", b'["name"]')
    assert_error(r, 400, ("INVALID_PARAMETER_VALUE", "BAD_REQUEST", "MALFORMED_REQUEST"))


def test_wrong_type_name_int(server, api):
    r = api.post(f"{API}/experiments/create", {"name": 123})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", "Invalid value 123 for parameter 'name' supplied")


@pytest.mark.parametrize(
    "path, body",
    [
        ("runs/log-metric", {"key": "m", "value": "not-a-number", "timestamp": 1}),
        ("runs/log-metric", {"key": "m", "value": 1.0, "timestamp": "yesterday"}),
        ("runs/log-metric", {"key": "m", "value": 1.0, "timestamp": 1, "step": "three"}),
        ("runs/log-parameter", {"key": ["k"], "value": "v"}),
        ("runs/log-batch", {"metrics": {"key": "m"}}),
        ("runs/set-tag", {"key": "k", "value": {"nested": 1}}),
    ],
)
def test_wrong_types_on_run_endpoints(api, run_id, path, body):
    r = api.post(f"{API}/{path}", {"run_id": run_id, **body})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")


def test_search_runs_wrong_type(api, experiment):
    r = api.post(f"{API}/runs/search", {"experiment_ids": experiment})  # must be a list
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    r = api.post(f"{API}/runs/search", {"experiment_ids": [experiment], "max_results": "lots"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")


# ---------- missing required fields ----------


def test_missing_experiment_name(api):
    r = api.post(f"{API}/experiments/create", {})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'name'")


def test_missing_metric_timestamp(api, run_id):
    r = api.post(f"{API}/runs/log-metric", {"run_id": run_id, "key": "m2", "value": 1})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'timestamp'")


def test_missing_metric_key(api, run_id):
    r = api.post(f"{API}/runs/log-metric", {"run_id": run_id, "value": 1, "timestamp": now_ms()})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", "'key'")


def test_missing_run_id(api):
    r = api.post(f"{API}/runs/log-parameter", {"key": "k", "value": "v"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    r = api.get(f"{API}/runs/get")
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")


def test_missing_history_metric_key(api, run_id):
    r = api.get(f"{API}/metrics/get-history", params={"run_id": run_id})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")


def test_missing_registered_model_name(api):
    r = api.post(f"{API}/registered-models/create", {})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")


def test_rename_experiment_requires_new_name(api):
    eid = api.create_experiment(unique("norename"))
    r = api.post(f"{API}/experiments/update", {"experiment_id": eid})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'new_name'")


def test_non_integer_experiment_id(api):
    # the SQL store's ids are integers; stock MLflow answers 400, not 404
    r = api.get(f"{API}/experiments/get", params={"experiment_id": "abc"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")


# ---------- unknown ids ----------


def test_unknown_run(api):
    r = api.get(f"{API}/runs/get", params={"run_id": MISSING_RUN})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST", MISSING_RUN)


@pytest.mark.parametrize(
    "path, body",
    [
        ("runs/log-metric", {"key": "m", "value": 1.0, "timestamp": 1}),
        ("runs/log-parameter", {"key": "p", "value": "v"}),
        ("runs/set-tag", {"key": "t", "value": "v"}),
        ("runs/log-batch", {"metrics": [{"key": "m", "value": 1.0, "timestamp": 1, "step": 0}]}),
        ("runs/update", {"status": "FINISHED"}),
        ("runs/delete", {}),
        ("runs/restore", {}),
    ],
)
def test_unknown_run_writes(api, path, body):
    r = api.post(f"{API}/{path}", {"run_id": MISSING_RUN, **body})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST")


def test_unknown_experiment(api):
    r = api.get(f"{API}/experiments/get", params={"experiment_id": "99999999"})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST")
    r = api.post(f"{API}/runs/create", {"experiment_id": "99999999", "start_time": now_ms()})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST")
    r = api.post(f"{API}/experiments/delete", {"experiment_id": "99999999"})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST")


def test_unknown_experiment_by_name(api):
    name = unique("nope")
    r = api.get(f"{API}/experiments/get-by-name", params={"experiment_name": name})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST", name)


def test_unknown_registered_model_and_version(api):
    r = api.get(f"{API}/registered-models/get", params={"name": unique("no-model")})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST")
    r = api.get(f"{API}/model-versions/get", params={"name": unique("no-model"), "version": "1"})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST")


def test_unknown_logged_model(api):
    r = api.get(f"{API}/logged-models/m-{'0' * 32}")
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST")


def test_model_version_must_be_integer(api):
    name = unique("mvint")
    api.ok("POST", f"{API}/registered-models/create", {"name": name})
    r = api.get(f"{API}/model-versions/get", params={"name": name, "version": "x"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")


# ---------- limits and key rules ----------


def test_log_batch_1001_metrics(api, run_id):
    ts = now_ms()
    metrics = [{"key": "b", "value": 1, "timestamp": ts, "step": i} for i in range(1001)]
    r = api.post(f"{API}/runs/log-batch", {"run_id": run_id, "metrics": metrics})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", "at most 1000 metrics")
    assert api.metric_history(run_id, "b") == [], "a rejected batch must not be partly stored"


def test_log_batch_1000_metrics_ok(api, run_id):
    ts = now_ms()
    metrics = [{"key": "b", "value": i, "timestamp": ts, "step": i} for i in range(1000)]
    api.ok("POST", f"{API}/runs/log-batch", {"run_id": run_id, "metrics": metrics})
    assert len(api.metric_history(run_id, "b")) == 1000


def test_log_batch_101_params(api, run_id):
    params = [{"key": f"p{i}", "value": "v"} for i in range(101)]
    r = api.post(f"{API}/runs/log-batch", {"run_id": run_id, "params": params})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", "at most 100 params")


def test_log_batch_duplicate_param_keys(api, run_id):
    params = [{"key": "dup", "value": "1"}, {"key": "dup", "value": "2"}]
    r = api.post(f"{API}/runs/log-batch", {"run_id": run_id, "params": params})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", "Duplicate parameter keys")


@pytest.mark.parametrize("key", ["bad*key", "a//b", "/abs", "../up", "a/./b", "q?x", "semi;colon"])
def test_bad_param_key(api, run_id, key):
    r = api.post(f"{API}/runs/log-parameter", {"run_id": run_id, "key": key, "value": "1"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    if key == "bad*key":
        assert "Names may only contain alphanumerics" in r.json()["message"]


def test_bad_metric_key_in_batch(api, run_id):
    r = api.post(
        f"{API}/runs/log-batch",
        {"run_id": run_id, "metrics": [{"key": "bad*key", "value": 1, "timestamp": now_ms(), "step": 0}]},
    )
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", "bad*key")


def test_key_too_long(api, run_id):
    r = api.post(f"{API}/runs/set-tag", {"run_id": run_id, "key": "k" * 251, "value": "v"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", "250")
    api.ok("POST", f"{API}/runs/set-tag", {"run_id": run_id, "key": "k" * 250, "value": "v"})


def test_change_param_value(api, run_id):
    api.ok("POST", f"{API}/runs/log-parameter", {"run_id": run_id, "key": "p", "value": "x"})
    api.ok("POST", f"{API}/runs/log-parameter", {"run_id": run_id, "key": "p", "value": "x"})
    r = api.post(f"{API}/runs/log-parameter", {"run_id": run_id, "key": "p", "value": "z"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", "Changing param values is not allowed")
    params = {p["key"]: p["value"] for p in api.get_run(run_id)["data"]["params"]}
    assert params == {"p": "x"}


def test_param_value_truncated_to_6000(api, run_id):
    value = "".join(chr(ord("a") + i % 26) for i in range(6001))
    api.ok("POST", f"{API}/runs/log-parameter", {"run_id": run_id, "key": "long", "value": value})
    params = {p["key"]: p["value"] for p in api.get_run(run_id)["data"]["params"]}
    assert params["long"] == value[:6000]
    assert len(params["long"]) == 6000


def test_log_to_deleted_run_refused(api, run_id):
    api.ok("POST", f"{API}/runs/delete", {"run_id": run_id})
    for path, body in [
        ("runs/log-metric", {"key": "x", "value": 1, "timestamp": now_ms()}),
        ("runs/log-parameter", {"key": "x", "value": "1"}),
        ("runs/set-tag", {"key": "x", "value": "1"}),
        ("runs/log-batch", {"metrics": [{"key": "x", "value": 1, "timestamp": now_ms(), "step": 0}]}),
    ]:
        r = api.post(f"{API}/{path}", {"run_id": run_id, **body})
        assert_error(r, 400, "INVALID_PARAMETER_VALUE", "must be in the 'active' state")
    run = api.get_run(run_id)
    assert "metrics" not in run["data"] and "params" not in run["data"]
    api.ok("POST", f"{API}/runs/restore", {"run_id": run_id})
    api.ok("POST", f"{API}/runs/log-metric", {"run_id": run_id, "key": "x", "value": 1, "timestamp": now_ms()})


def test_duplicate_experiment_name(api):
    name = unique("dup")
    api.create_experiment(name)
    r = api.post(f"{API}/experiments/create", {"name": name})
    assert_error(r, 400, "RESOURCE_ALREADY_EXISTS")


def test_duplicate_registered_model(api):
    name = unique("dupmodel")
    api.ok("POST", f"{API}/registered-models/create", {"name": name})
    r = api.post(f"{API}/registered-models/create", {"name": name})
    assert_error(r, 400, "RESOURCE_ALREADY_EXISTS")


@pytest.mark.parametrize("alias", ["v1", "V2", "latest", "LATEST", "bad alias", "a/b"])
def test_reserved_or_invalid_alias(api, run_id, alias):
    name = unique("alias")
    run = api.get_run(run_id)
    api.ok("POST", f"{API}/registered-models/create", {"name": name})
    api.ok(
        "POST",
        f"{API}/model-versions/create",
        {"name": name, "source": run["info"]["artifact_uri"] + "/model", "run_id": run_id},
    )
    r = api.post(f"{API}/registered-models/alias", {"name": name, "alias": alias, "version": "1"})
    body = assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    if alias == "v1":
        assert body["message"] == "Version alias name 'v1' is reserved."


def test_search_runs_max_results_too_large(api, experiment):
    r = api.post(f"{API}/runs/search", {"experiment_ids": [experiment], "max_results": 123456789})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", "max_results")


def test_search_runs_bad_filter(api, experiment):
    r = api.post(f"{API}/runs/search", {"experiment_ids": [experiment], "filter": "metrics.m >> 1"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    r = api.post(f"{API}/runs/search", {"experiment_ids": [experiment], "filter": "attributes.foo = 'x'"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    r = api.post(f"{API}/runs/search", {"experiment_ids": [experiment], "filter": "params.p = 'unterminated"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")


def test_bad_page_token(api, experiment):
    r = api.post(f"{API}/runs/search", {"experiment_ids": [experiment], "page_token": "!!not-a-token!!"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")


def test_negative_timestamp(api, run_id):
    r = api.post(f"{API}/runs/log-metric", {"run_id": run_id, "key": "m", "value": 1, "timestamp": -5})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")


# ---------- the whole surface: garbage never gives a 5xx, errors are always JSON ----------

SURFACE = [
    ("POST", "experiments/create"),
    ("GET", "experiments/get"),
    ("GET", "experiments/get-by-name"),
    ("POST", "experiments/search"),
    ("POST", "experiments/update"),
    ("POST", "experiments/delete"),
    ("POST", "experiments/restore"),
    ("POST", "experiments/set-experiment-tag"),
    ("POST", "runs/create"),
    ("POST", "runs/update"),
    ("GET", "runs/get"),
    ("POST", "runs/delete"),
    ("POST", "runs/restore"),
    ("POST", "runs/search"),
    ("POST", "runs/set-tag"),
    ("POST", "runs/delete-tag"),
    ("POST", "runs/log-metric"),
    ("POST", "runs/log-parameter"),
    ("POST", "runs/log-batch"),
    ("POST", "runs/log-inputs"),
    ("POST", "runs/outputs"),
    ("GET", "metrics/get-history"),
    ("POST", "logged-models"),
    ("POST", "logged-models/search"),
    ("POST", "registered-models/create"),
    ("GET", "registered-models/get"),
    ("POST", "registered-models/rename"),
    ("PATCH", "registered-models/update"),
    ("DELETE", "registered-models/delete"),
    ("GET", "registered-models/search"),
    ("POST", "registered-models/alias"),
    ("GET", "registered-models/alias"),
    ("POST", "model-versions/create"),
    ("GET", "model-versions/get"),
    ("GET", "model-versions/get-download-uri"),
    ("GET", "model-versions/search"),
    ("POST", "model-versions/transition-stage"),
]

GARBAGE = [
    None,
    {},
    {"run_id": 5, "experiment_id": [], "name": {}, "key": None, "value": [1], "version": -1},
    {"run_id": "x" * 300, "experiment_id": "-1", "name": "", "max_results": -1, "filter": "((("},
]


@pytest.mark.parametrize("method, route", SURFACE, ids=[f"{m} {r}" for m, r in SURFACE])
def test_garbage_never_5xx(server, method, route):
    url = f"{server.url}{API}/{route}"
    for body in GARBAGE:
        if method == "GET":
            params = {k: json.dumps(v) if not isinstance(v, str) else v for k, v in (body or {}).items()}
            r = requests.get(url, params=params, timeout=30)
        else:
            r = requests.request(method, url, json=body, timeout=30)
        assert r.status_code < 500, f"{method} {route} body={body!r} -> {r.status_code}: {r.text[:300]}"
        if r.status_code >= 400:
            assert_error(r, r.status_code)
    r = requests.request(method, url, data=b"{{{{", headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code < 500, f"{method} {route} malformed -> {r.status_code}: {r.text[:300]}"
    if r.status_code >= 400:
        assert_error(r, r.status_code)
