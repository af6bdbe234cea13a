"""Page tokens under ties: every item exactly once, in the same order as one big page."""

import math

import pytest

from cairn_helpers import now_ms, unique

API = "/api/2.0/mlflow"
N_RUNS = 45


@pytest.fixture(scope="module")
def tied_runs(server):
    """Runs whose sort keys collide a lot: 3 metric values, NaN, missing metrics, equal start times."""
    from cairn_helpers import Api

    api = Api(server.url)
    eid = api.create_experiment(unique("ties"))
    ts = now_ms()
    for i in range(N_RUNS):
        rid = api.ok(
            "POST",
            f"{API}/runs/create",
            {"experiment_id": eid, "run_name": f"t{i % 4}", "start_time": ts + (i % 3)},
        )["run"]["info"]["run_id"]
        metrics = []
        if i % 5 != 0:
            metrics.append({"key": "m", "value": "NaN" if i % 7 == 0 else float(i % 3), "timestamp": ts, "step": 0})
        params = [{"key": "p", "value": "ab"[i % 2]}] if i % 6 != 0 else []
        api.ok("POST", f"{API}/runs/log-batch", {"run_id": rid, "metrics": metrics, "params": params})
    return api, eid


def page_through(api, path, body, items_key, page_size):
    seen, token, pages = [], None, 0
    while True:
        req = dict(body, max_results=page_size)
        if token:
            req["page_token"] = token
        data = api.ok("POST", path, req)
        items = data.get(items_key, [])
        assert len(items) <= page_size
        seen.extend(items)
        pages += 1
        token = data.get("next_page_token")
        if not token:
            return seen, pages
        assert pages < 1000, "page tokens never end"


@pytest.mark.parametrize(
    "order_by",
    [
        [],
        ["metrics.m DESC"],
        ["metrics.m ASC"],
        ["params.p ASC", "metrics.m DESC"],
        ["attributes.run_name ASC"],
        ["attributes.start_time ASC"],
        ["tags.`mlflow.runName` DESC"],
    ],
    ids=lambda o: ",".join(o) or "default",
)
@pytest.mark.parametrize("page_size", [1, 7, 44])
def test_search_runs_pages_with_ties(tied_runs, order_by, page_size):
    api, eid = tied_runs
    body = {"experiment_ids": [eid], "order_by": order_by}
    full = api.ok("POST", f"{API}/runs/search", dict(body, max_results=1000))["runs"]
    assert len(full) == N_RUNS
    paged, pages = page_through(api, f"{API}/runs/search", body, "runs", page_size)
    ids = [r["info"]["run_id"] for r in paged]
    assert len(ids) == len(set(ids)), "a run appeared on two pages"
    assert ids == [r["info"]["run_id"] for r in full], "paging changed the order or lost runs"
    assert pages == math.ceil(N_RUNS / page_size)


def test_search_runs_pages_with_filter(tied_runs):
    api, eid = tied_runs
    body = {"experiment_ids": [eid], "filter": "params.p = 'a'", "order_by": ["metrics.m DESC"]}
    full = api.ok("POST", f"{API}/runs/search", dict(body, max_results=1000))["runs"]
    paged, _ = page_through(api, f"{API}/runs/search", body, "runs", 4)
    assert [r["info"]["run_id"] for r in paged] == [r["info"]["run_id"] for r in full]
    assert all({p["key"]: p["value"] for p in r["data"]["params"]}["p"] == "a" for r in paged)


def test_metric_history_pages_with_same_step(api, run_id):
    """Many points on one step (different timestamps or values): paging must keep them all."""
    metrics = [{"key": "same", "value": float(v), "timestamp": 1000 + (v // 3), "step": 5} for v in range(30)]
    metrics += [{"key": "same", "value": float(v), "timestamp": 1, "step": s} for s in (0, 9) for v in range(3)]
    api.ok("POST", f"{API}/runs/log-batch", {"run_id": run_id, "metrics": metrics})
    seen, token = [], None
    for _ in range(100):
        params = {"run_id": run_id, "metric_key": "same", "max_results": 4}
        if token:
            params["page_token"] = token
        data = api.ok("GET", f"{API}/metrics/get-history", params=params)
        assert len(data.get("metrics", [])) <= 4
        seen.extend((m["step"], m["timestamp"], m["value"]) for m in data.get("metrics", []))
        token = data.get("next_page_token")
        if not token:
            break
    expected = sorted((m["step"], m["timestamp"], m["value"]) for m in metrics)
    assert sorted(seen) == expected
    assert len(seen) == len(set(seen)) == 36


def test_search_experiments_pages(api):
    prefix = unique("exp-pages")
    names = [f"{prefix}-{i % 3}-{i:02d}" for i in range(17)]
    for n in names:
        api.create_experiment(n)
    body = {"filter": f"name LIKE '{prefix}%'", "order_by": ["name DESC"]}
    paged, pages = page_through(api, f"{API}/experiments/search", body, "experiments", 5)
    assert [e["name"] for e in paged] == sorted(names, reverse=True)
    assert pages == 4


def test_search_registered_models_and_versions_pages(server, api, run_id):
    import requests

    prefix = unique("rm-pages")
    source = api.get_run(run_id)["info"]["artifact_uri"] + "/model"
    for i in range(7):
        api.ok("POST", f"{API}/registered-models/create", {"name": f"{prefix}-{i}"})
    for _ in range(9):
        api.ok("POST", f"{API}/model-versions/create", {"name": f"{prefix}-0", "source": source, "run_id": run_id})

    seen, token = [], None
    for _ in range(20):
        params = {"filter": f"name LIKE '{prefix}%'", "max_results": 3}
        if token:
            params["page_token"] = token
        r = requests.get(server.url + f"{API}/registered-models/search", params=params, timeout=30)
        assert r.status_code == 200, r.text
        seen.extend(m["name"] for m in r.json().get("registered_models", []))
        token = r.json().get("next_page_token")
        if not token:
            break
    assert sorted(seen) == [f"{prefix}-{i}" for i in range(7)]
    assert len(seen) == 7

    versions, token = [], None
    for _ in range(20):
        params = {"filter": f"name='{prefix}-0'", "max_results": 2}
        if token:
            params["page_token"] = token
        r = requests.get(server.url + f"{API}/model-versions/search", params=params, timeout=30)
        assert r.status_code == 200, r.text
        versions.extend(v["version"] for v in r.json().get("model_versions", []))
        token = r.json().get("next_page_token")
        if not token:
            break
    assert sorted(versions, key=int) == [str(v) for v in range(1, 10)]
    assert len(versions) == 9
