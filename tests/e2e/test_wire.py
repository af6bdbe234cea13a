"""Wire details the real client (and the UI) depend on, checked on raw responses (wire_examples.md)."""

import json
import math

import pytest
import requests

from cairn_helpers import assert_error, now_ms, unique

API = "/api/2.0/mlflow"


def strict_json(text: str):
    """Parse like a strict (non-Python) JSON parser: bare NaN/Infinity are not JSON."""

    def reject(token):
        raise ValueError(f"non-standard JSON token {token!r}")

    return json.loads(text, parse_constant=reject)


def test_create_run_response_shape(api, experiment):
    start = now_ms()
    r = api.post(
        f"{API}/runs/create",
        {"experiment_id": experiment, "run_name": "wire", "start_time": start, "user_id": "u",
         "tags": [{"key": "mlflow.user", "value": "u"}]},
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    run = r.json()["run"]
    info = run["info"]
    rid = info["run_id"]
    assert info["run_uuid"] == rid
    assert info["experiment_id"] == experiment
    assert info["run_name"] == "wire"
    assert info["user_id"] == "u"
    assert info["status"] == "RUNNING"
    assert info["start_time"] == start and isinstance(info["start_time"], int)
    assert info["artifact_uri"] == f"mlflow-artifacts:/{experiment}/{rid}/artifacts"
    assert info["lifecycle_stage"] == "active"
    assert "end_time" not in info, "a running run has no end_time (proto2 presence)"
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert tags == {"mlflow.user": "u", "mlflow.runName": "wire"}
    assert "metrics" not in run["data"] and "params" not in run["data"], "empty repeated fields are left out"


def test_update_run_response(api, run_id):
    end = now_ms()
    info = api.ok("POST", f"{API}/runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": end})["run_info"]
    assert info["status"] == "FINISHED" and info["end_time"] == end and info["run_id"] == run_id


def test_run_uuid_accepted_instead_of_run_id(api, run_id):
    api.ok("POST", f"{API}/runs/log-metric", {"run_uuid": run_id, "key": "legacy", "value": 1.5, "timestamp": now_ms()})
    api.ok("POST", f"{API}/runs/log-parameter", {"run_uuid": run_id, "key": "lp", "value": "v"})
    run = api.ok("GET", f"{API}/runs/get", params={"run_uuid": run_id})["run"]
    assert {m["key"]: m["value"] for m in run["data"]["metrics"]} == {"legacy": 1.5}
    hist = api.ok("GET", f"{API}/metrics/get-history", params={"run_uuid": run_id, "metric_key": "legacy"})
    assert [m["value"] for m in hist["metrics"]] == [1.5]


def test_non_finite_values_are_strict_json(api, run_id):
    ts = now_ms()
    api.ok(
        "POST",
        f"{API}/runs/log-batch",
        {"run_id": run_id, "metrics": [
            {"key": "nan", "value": "NaN", "timestamp": ts, "step": 0},
            {"key": "pinf", "value": "Infinity", "timestamp": ts, "step": 0},
            {"key": "ninf", "value": "-Infinity", "timestamp": ts, "step": 0},
        ]},
    )
    r = api.get(f"{API}/runs/get", params={"run_id": run_id})
    data = strict_json(r.text)
    values = {m["key"]: m["value"] for m in data["run"]["data"]["metrics"]}
    assert values["nan"] == "NaN"
    assert values["pinf"] == "Infinity"
    assert values["ninf"] == "-Infinity"
    for key, expected in [("nan", "NaN"), ("pinf", "Infinity"), ("ninf", "-Infinity")]:
        h = api.get(f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": key})
        assert [m["value"] for m in strict_json(h.text)["metrics"]] == [expected]


def test_int64_as_strings_accepted(api, run_id):
    ts = now_ms()
    api.ok("POST", f"{API}/runs/log-metric", {"run_id": run_id, "key": "s", "value": 2.0, "timestamp": str(ts), "step": "3"})
    h = api.ok("GET", f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": "s"})["metrics"]
    assert h == [{"key": "s", "value": 2.0, "timestamp": ts, "step": 3}]


def test_identical_metric_is_deduplicated(api, run_id):
    body = {"run_id": run_id, "key": "dedup", "value": 1.0, "timestamp": 1000, "step": 1}
    api.ok("POST", f"{API}/runs/log-metric", body)
    api.ok("POST", f"{API}/runs/log-metric", body)
    api.ok("POST", f"{API}/runs/log-metric", {**body, "value": 2.0})
    hist = api.metric_history(run_id, "dedup")
    assert sorted(m["value"] for m in hist) == [1.0, 2.0]


def test_latest_metric_tie_break(api, run_id):
    # same step: the later timestamp wins; same step and timestamp: the larger value wins
    api.ok("POST", f"{API}/runs/log-metric", {"run_id": run_id, "key": "t", "value": 5.0, "timestamp": 100, "step": 2})
    api.ok("POST", f"{API}/runs/log-metric", {"run_id": run_id, "key": "t", "value": 1.0, "timestamp": 200, "step": 2})
    api.ok("POST", f"{API}/runs/log-metric", {"run_id": run_id, "key": "v", "value": 1.0, "timestamp": 100, "step": 2})
    api.ok("POST", f"{API}/runs/log-metric", {"run_id": run_id, "key": "v", "value": 3.0, "timestamp": 100, "step": 2})
    api.ok("POST", f"{API}/runs/log-metric", {"run_id": run_id, "key": "v", "value": 2.0, "timestamp": 100, "step": 2})
    latest = {m["key"]: m for m in api.get_run(run_id)["data"]["metrics"]}
    assert (latest["t"]["value"], latest["t"]["timestamp"]) == (1.0, 200)
    assert latest["v"]["value"] == 3.0


def test_step_defaults_to_zero(api, run_id):
    api.ok("POST", f"{API}/runs/log-metric", {"run_id": run_id, "key": "nostep", "value": 1.0, "timestamp": now_ms()})
    assert [m["step"] for m in api.metric_history(run_id, "nostep")] == [0]


def test_get_history_without_max_results_returns_everything(api, run_id):
    ts = now_ms()
    for start in range(0, 3000, 1000):
        api.ok("POST", f"{API}/runs/log-batch", {"run_id": run_id, "metrics": [
            {"key": "all", "value": float(i), "timestamp": ts, "step": i} for i in range(start, start + 1000)]})
    data = api.ok("GET", f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": "all"})
    assert len(data["metrics"]) == 3000
    assert not data.get("next_page_token")


def test_get_experiment_shape(api):
    name = unique("shape")
    eid = api.ok("POST", f"{API}/experiments/create", {"name": name, "tags": [{"key": "k", "value": "v"}]})["experiment_id"]
    assert isinstance(eid, str) and eid.isdigit()
    exp = api.ok("GET", f"{API}/experiments/get", params={"experiment_id": eid})["experiment"]
    assert exp["experiment_id"] == eid
    assert exp["name"] == name
    assert exp["artifact_location"] == f"mlflow-artifacts:/{eid}"
    assert exp["lifecycle_stage"] == "active"
    assert isinstance(exp["creation_time"], int) and isinstance(exp["last_update_time"], int)
    assert exp["tags"] == [{"key": "k", "value": "v"}]
    by_name = api.ok("GET", f"{API}/experiments/get-by-name", params={"experiment_name": name})["experiment"]
    assert by_name["experiment_id"] == eid


def test_experiments_search_get_and_post(api):
    prefix = unique("gp")
    for i in range(3):
        api.create_experiment(f"{prefix}-{i}")
    post = api.ok("POST", f"{API}/experiments/search", {"filter": f"name LIKE '{prefix}%'", "order_by": ["name DESC"], "max_results": 10})
    get = api.ok("GET", f"{API}/experiments/search", params={"filter": f"name LIKE '{prefix}%'", "order_by": "name DESC", "max_results": 10})
    assert [e["name"] for e in post["experiments"]] == [f"{prefix}-2", f"{prefix}-1", f"{prefix}-0"]
    assert [e["name"] for e in get["experiments"]] == [e["name"] for e in post["experiments"]]


def test_model_version_create_is_ready_and_download_uri(api, run_id):
    """An MLflow 2.x-style version: source under the run's artifacts, no model_id."""
    name = unique("wire-model")
    run = api.get_run(run_id)
    source = run["info"]["artifact_uri"] + "/model"
    rm = api.ok("POST", f"{API}/registered-models/create", {"name": name})["registered_model"]
    assert rm["name"] == name and isinstance(rm["creation_timestamp"], int)
    mv = api.ok("POST", f"{API}/model-versions/create", {"name": name, "source": source, "run_id": run_id})["model_version"]
    assert mv["version"] == "1"
    assert mv["status"] == "READY"
    assert mv["current_stage"] == "None"
    assert mv["source"] == source
    assert mv["run_id"] == run_id
    uri = api.ok("GET", f"{API}/model-versions/get-download-uri", params={"name": name, "version": "1"})
    assert uri == {"artifact_uri": source}
    latest = api.ok("POST", f"{API}/registered-models/get-latest-versions", {"name": name})["model_versions"]
    assert [v["version"] for v in latest] == ["1"]


def test_runs_log_model_for_2x_clients(api, run_id):
    """mlflow 2.x log_model calls runs/log-model; it appends to the mlflow.log-model.history tag."""
    model_json = json.dumps({"artifact_path": "model", "run_id": run_id, "flavors": {"python_function": {}},
                             "utc_time_created": "2026-01-01 00:00:00.000000"})
    api.ok("POST", f"{API}/runs/log-model", {"run_id": run_id, "model_json": model_json})
    tags = {t["key"]: t["value"] for t in api.get_run(run_id)["data"]["tags"]}
    history = json.loads(tags["mlflow.log-model.history"])
    assert isinstance(history, list) and len(history) == 1
    assert history[0]["artifact_path"] == "model" and history[0]["run_id"] == run_id


def test_logged_model_rest_roundtrip(api, experiment, run_id):
    created = api.ok("POST", f"{API}/logged-models", {
        "experiment_id": experiment, "name": "raw-model", "source_run_id": run_id,
        "params": [{"key": "lr", "value": "0.1"}], "tags": [{"key": "t", "value": "1"}], "model_type": "",
    })["model"]
    info = created["info"]
    mid = info["model_id"]
    assert mid.startswith("m-") and len(mid) == 34
    assert info["status"] == "LOGGED_MODEL_PENDING"
    assert info["artifact_uri"] == f"mlflow-artifacts:/{experiment}/models/{mid}/artifacts"
    assert info["source_run_id"] == run_id
    assert created["data"]["params"] == [{"key": "lr", "value": "0.1"}]
    api.ok("POST", f"{API}/runs/outputs", {"run_id": run_id, "models": [{"model_id": mid, "step": 0}]})
    fin = api.ok("PATCH", f"{API}/logged-models/{mid}", {"model_id": mid, "status": "LOGGED_MODEL_READY"})["model"]
    assert fin["info"]["status"] == "LOGGED_MODEL_READY"
    assert fin["info"]["last_updated_timestamp_ms"] >= info["creation_timestamp_ms"]
    got = api.ok("GET", f"{API}/logged-models/{mid}")["model"]
    assert got["info"]["status"] == "LOGGED_MODEL_READY"
    found = api.ok("POST", f"{API}/logged-models/search", {"experiment_ids": [experiment], "filter": "name = 'raw-model'"})
    assert [m["info"]["model_id"] for m in found["models"]] == [mid]
    run = api.get_run(run_id)
    assert [o["model_id"] for o in run.get("outputs", {}).get("model_outputs", [])] == [mid]


def test_error_content_type_is_json(api):
    r = api.get(f"{API}/runs/get", params={"run_id": "e" * 32})
    assert r.headers["content-type"].startswith("application/json")
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST")


@pytest.mark.parametrize("value", [0.1, -2.5, 1e-300, 123456789.125, 2**53 + 0.0, 3.2800000000000002, 0.1 + 0.2, 1 / 3, 5e-324])
def test_float_values_roundtrip_exactly(api, run_id, value):
    api.ok("POST", f"{API}/runs/log-metric", {"run_id": run_id, "key": "exact", "value": value, "timestamp": 1, "step": 0})
    got = api.metric_history(run_id, "exact")[0]["value"]
    assert got == value and math.copysign(1, got) == math.copysign(1, value)


def test_unicode_roundtrip(api, run_id):
    value = "h\u00e9llo \u2603 \U0001F680 \u4e2d\u6587"
    api.ok("POST", f"{API}/runs/set-tag", {"run_id": run_id, "key": "uni", "value": value})
    api.ok("POST", f"{API}/runs/log-parameter", {"run_id": run_id, "key": "uni", "value": value})
    run = api.get_run(run_id)
    assert {t["key"]: t["value"] for t in run["data"]["tags"]}["uni"] == value
    assert {p["key"]: p["value"] for p in run["data"]["params"]}["uni"] == value


def test_tag_value_truncated_to_8000(api, run_id):
    api.ok("POST", f"{API}/runs/set-tag", {"run_id": run_id, "key": "long", "value": "t" * 9000})
    tags = {t["key"]: t["value"] for t in api.get_run(run_id)["data"]["tags"]}
    assert tags["long"] == "t" * 8000


def test_search_runs_max_results_limit(api, experiment):
    api.ok("POST", f"{API}/runs/search", {"experiment_ids": [experiment], "max_results": 50000})
    r = api.post(f"{API}/runs/search", {"experiment_ids": [experiment], "max_results": 50001})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")


def test_log_batch_changing_param_rejected_atomically(api, run_id):
    api.ok("POST", f"{API}/runs/log-parameter", {"run_id": run_id, "key": "fixed", "value": "1"})
    r = api.post(f"{API}/runs/log-batch", {"run_id": run_id,
                                           "metrics": [{"key": "side", "value": 1.0, "timestamp": 1, "step": 0}],
                                           "params": [{"key": "fixed", "value": "2"}, {"key": "new", "value": "n"}]})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", "Changing param values is not allowed")
    run = api.get_run(run_id)
    assert {p["key"]: p["value"] for p in run["data"]["params"]} == {"fixed": "1"}
    assert "metrics" not in run["data"], "a rejected batch must not be partly applied"


def test_requests_to_deleted_experiment_runs(api):
    eid = api.create_experiment(unique("delexp"))
    rid = api.create_run(eid)["info"]["run_id"]
    api.ok("POST", f"{API}/experiments/delete", {"experiment_id": eid})
    r = api.post(f"{API}/runs/create", {"experiment_id": eid, "start_time": now_ms()})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    assert api.get_run(rid)["info"]["lifecycle_stage"] == "deleted"
    r = requests.post(api.url(f"{API}/runs/log-metric"), json={"run_id": rid, "key": "x", "value": 1, "timestamp": 1}, timeout=30)
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")
