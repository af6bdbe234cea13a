"""Run search semantics pinned to stock MLflow 3.17.2.

The expected lists below were captured by running the same data and searches against a stock
`mlflow server` (SQLite store): LIKE vs ILIKE case rules, `_` wildcards, NaN and missing-value
ordering, tie-breaks (start_time DESC, then run_id), status and attribute filters.
"""

import math

import pytest

from cairn_helpers import unique

API = "/api/2.0/mlflow"

# name, metrics, params, tags, status
RUNS = [
  ("alpha", {"m": 1.0, "loss": 0.5}, {"p": "a", "lr": "0.1"}, {"grp": "x", "Team": "Red"}, "FINISHED"),
  ("Beta", {"m": 2.0}, {"p": "b"}, {"grp": "y"}, "FAILED"),
  ("gamma", {"m": -1.0, "loss": 0.25}, {"p": "A", "lr": "0.01"}, {"grp": "x"}, "RUNNING"),
  ("delta", {}, {"p": "c"}, {}, "FINISHED"),
  ("eps_1", {"m": 2.0, "loss": math.nan}, {}, {"grp": "z", "Team": "blue"}, "KILLED"),
  ("eps%2", {"m": 10.0}, {"p": "a%"}, {"grp": "x_"}, "FINISHED"),
]

FILTERS = {
    '': ['eps%2', 'eps_1', 'delta', 'gamma', 'Beta', 'alpha'],
    'metrics.m > 0': ['eps%2', 'eps_1', 'Beta', 'alpha'],
    'metrics.m >= 2': ['eps%2', 'eps_1', 'Beta'],
    'metrics.m != 2': ['eps%2', 'gamma', 'alpha'],
    'metrics.loss < 1': ['gamma', 'alpha'],
    'metrics.loss > 0.3': ['alpha'],
    "params.p = 'a'": ['alpha'],
    "params.p != 'a'": ['eps%2', 'delta', 'gamma', 'Beta'],
    "params.p LIKE 'a%'": ['eps%2', 'alpha'],
    "params.p ILIKE 'a%'": ['eps%2', 'gamma', 'alpha'],
    "params.p LIKE '%\\%'": [],
    "tags.grp = 'x'": ['gamma', 'alpha'],
    "tags.grp LIKE 'x_'": ['eps%2'],
    "tags.grp LIKE 'x\\_'": [],
    "tags.Team ILIKE 'r%'": ['alpha'],
    "tags.Team != 'Red'": ['eps_1'],
    "attributes.run_name LIKE '%a'": ['delta', 'gamma', 'Beta', 'alpha'],
    "attributes.run_name ILIKE 'b%'": ['Beta'],
    "attributes.run_name = 'Beta'": ['Beta'],
    "attributes.status = 'FINISHED'": ['eps%2', 'delta', 'alpha'],
    "attributes.status != 'RUNNING'": ['eps%2', 'eps_1', 'delta', 'Beta', 'alpha'],
    "params.lr = '0.1' and metrics.m > 0": ['alpha'],
    "attributes.run_name IN ('alpha', 'gamma')": 'HTTP 400 INVALID_PARAMETER_VALUE',
    "attributes.run_name NOT IN ('alpha')": 'HTTP 400 INVALID_PARAMETER_VALUE',
    "tags.grp != 'x'": ['eps%2', 'eps_1', 'Beta'],
    "params.missing = 'q'": [],
    'metrics.m = 2.0': ['eps_1', 'Beta'],
    'metrics.loss != 0.5': ['eps_1', 'gamma'],
    'attributes.end_time > 0': ['eps%2', 'eps_1', 'delta', 'Beta', 'alpha'],
    "attributes.user_id = 'u'": ['eps%2', 'eps_1', 'delta', 'gamma', 'Beta', 'alpha'],
    "tags.`mlflow.runName` = 'delta'": ['delta'],
    'attributes.start_time > 1001': ['eps%2', 'eps_1', 'delta', 'gamma'],
    "run_name = 'delta'": ['delta'],
    "status = 'FAILED'": ['Beta'],
}

ORDERS = [
    ([], ['eps%2', 'eps_1', 'delta', 'gamma', 'Beta', 'alpha']),
    (['metrics.m DESC'], ['eps%2', 'eps_1', 'Beta', 'alpha', 'gamma', 'delta']),
    (['metrics.m ASC'], ['gamma', 'alpha', 'eps_1', 'Beta', 'eps%2', 'delta']),
    (['metrics.loss ASC'], ['gamma', 'alpha', 'eps_1', 'eps%2', 'delta', 'Beta']),
    (['metrics.loss DESC'], ['alpha', 'gamma', 'eps_1', 'eps%2', 'delta', 'Beta']),
    (['params.p ASC'], ['gamma', 'alpha', 'eps%2', 'Beta', 'delta', 'eps_1']),
    (['params.p DESC'], ['delta', 'Beta', 'eps%2', 'alpha', 'gamma', 'eps_1']),
    (['tags.grp ASC'], ['gamma', 'alpha', 'eps%2', 'Beta', 'eps_1', 'delta']),
    (['attributes.run_name ASC'], ['Beta', 'alpha', 'delta', 'eps%2', 'eps_1', 'gamma']),
    (['attributes.run_name DESC'], ['gamma', 'eps_1', 'eps%2', 'delta', 'alpha', 'Beta']),
    (['attributes.status ASC'], ['Beta', 'eps%2', 'delta', 'alpha', 'eps_1', 'gamma']),
    (['metrics.m DESC', 'attributes.run_name ASC'], ['eps%2', 'Beta', 'eps_1', 'alpha', 'gamma', 'delta']),
    (['attributes.start_time ASC'], ['alpha', 'Beta', 'gamma', 'delta', 'eps_1', 'eps%2']),
    (['attributes.end_time DESC'], ['eps%2', 'eps_1', 'delta', 'Beta', 'alpha', 'gamma']),
    (['params.lr DESC'], ['alpha', 'gamma', 'eps%2', 'eps_1', 'delta', 'Beta']),
]



@pytest.fixture(scope="module")
def golden_experiment(server):
    from cairn_helpers import Api

    api = Api(server.url)
    eid = api.create_experiment(unique("golden"))
    for i, (name, metrics, params, tags, status) in enumerate(RUNS):
        rid = api.ok(
            "POST",
            f"{API}/runs/create",
            {"experiment_id": eid, "run_name": name, "start_time": 1000 + i, "user_id": "u"},
        )["run"]["info"]["run_id"]
        api.ok(
            "POST",
            f"{API}/runs/log-batch",
            {
                "run_id": rid,
                "metrics": [
                    {"key": k, "value": "NaN" if math.isnan(v) else v, "timestamp": 5, "step": 0}
                    for k, v in metrics.items()
                ],
                "params": [{"key": k, "value": v} for k, v in params.items()],
                "tags": [{"key": k, "value": v} for k, v in tags.items()],
            },
        )
        if status != "RUNNING":
            api.ok("POST", f"{API}/runs/update", {"run_id": rid, "status": status, "end_time": 2000 + i})
    return api, eid


def search(api, eid, filter_string, order_by):
    r = api.post(
        f"{API}/runs/search",
        {"experiment_ids": [eid], "filter": filter_string, "order_by": order_by, "max_results": 100},
    )
    if r.status_code != 200:
        return f"HTTP {r.status_code} {r.json().get('error_code')}"
    return [x["info"]["run_name"] for x in r.json().get("runs", [])]


@pytest.mark.parametrize("filter_string, expected", list(FILTERS.items()), ids=list(FILTERS))
def test_filter_matches_stock_mlflow(golden_experiment, filter_string, expected):
    api, eid = golden_experiment
    assert search(api, eid, filter_string, []) == expected


@pytest.mark.parametrize("order_by, expected", ORDERS, ids=[",".join(o) or "default" for o, _ in ORDERS])
def test_order_matches_stock_mlflow(golden_experiment, order_by, expected):
    api, eid = golden_experiment
    assert search(api, eid, "", order_by) == expected
