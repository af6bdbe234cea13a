"""Run search through the real client: mlflow.search_runs (pandas) and MlflowClient.search_runs paging (flows 18, 19)."""

import time

import mlflow
import pytest
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from cairn_helpers import unique

# name, metric m, metric loss, param p, tag grp, status
ROWS = [
    ("r0", 0.5, 9.0, "a", "even", "FINISHED"),
    ("r1", 1.5, 8.0, "b", "odd", "FINISHED"),
    ("r2", 2.5, 7.0, "a", "even", "FAILED"),
    ("r3", 3.5, 6.0, "b", "odd", "FINISHED"),
    ("r4", 4.5, 5.0, "a", "even", "RUNNING"),
]


@pytest.fixture(scope="module")
def populated(server):
    from mlflow import MlflowClient

    client = MlflowClient(server.url)
    eid = client.create_experiment(unique("search-runs"))
    ids = {}
    ts = int(time.time() * 1000)
    for i, (name, m, loss, p, grp, status) in enumerate(ROWS):
        run = client.create_run(eid, run_name=name, start_time=ts + i)
        rid = run.info.run_id
        client.log_batch(
            rid,
            metrics=[Metric("m", m, ts, 0), Metric("loss", loss, ts, 0)],
            params=[Param("p", p)],
            tags=[RunTag("grp", grp)],
        )
        if status != "RUNNING":
            client.set_terminated(rid, status=status)
        ids[name] = rid
    return eid, ids


def names(df):
    return list(df["tags.mlflow.runName"])


def test_pandas_search_runs_columns_and_values(populated):
    eid, ids = populated
    df = mlflow.search_runs([eid], order_by=["metrics.m DESC"])
    assert names(df) == ["r4", "r3", "r2", "r1", "r0"]
    assert list(df["metrics.m"]) == [4.5, 3.5, 2.5, 1.5, 0.5]
    assert list(df["params.p"]) == ["a", "b", "a", "b", "a"]
    assert list(df["tags.grp"]) == ["even", "odd", "even", "odd", "even"]
    assert list(df["status"]) == ["RUNNING", "FINISHED", "FAILED", "FINISHED", "FINISHED"]
    assert list(df["run_id"]) == [ids[n] for n in ["r4", "r3", "r2", "r1", "r0"]]
    assert set(df["experiment_id"]) == {eid}


def test_search_runs_order_by_metric_asc(populated):
    eid, _ = populated
    df = mlflow.search_runs([eid], order_by=["metrics.loss ASC"])
    assert names(df) == ["r4", "r3", "r2", "r1", "r0"]


@pytest.mark.parametrize(
    "filter_string, expected",
    [
        ("metrics.m > 2", ["r4", "r3", "r2"]),
        ("metrics.m >= 1.5 and metrics.m < 3.5", ["r2", "r1"]),
        ("metrics.loss <= 6", ["r4", "r3"]),
        ("metrics.m = 0.5", ["r0"]),
        ("metrics.m != 0.5", ["r4", "r3", "r2", "r1"]),
        ("params.p = 'a'", ["r4", "r2", "r0"]),
        ("params.p != 'a'", ["r3", "r1"]),
        ("params.p = 'b' and metrics.m > 2", ["r3"]),
        ("tags.grp = 'odd'", ["r3", "r1"]),
        ("tags.grp LIKE 'ev%'", ["r4", "r2", "r0"]),
        ("tags.`grp` = 'even' and params.`p` = 'a' and metrics.`m` < 1", ["r0"]),
        ("attributes.status = 'FINISHED'", ["r3", "r1", "r0"]),
        ("attributes.status != 'FINISHED'", ["r4", "r2"]),
        ("attributes.run_name = 'r2'", ["r2"]),
        ("run_name = 'r3'", ["r3"]),
        ("attributes.run_name LIKE 'r%'", ["r4", "r3", "r2", "r1", "r0"]),
        ("attributes.run_name ILIKE 'R1'", ["r1"]),
        ("metrics.missing > 0", []),
    ],
)
def test_search_runs_filters(populated, filter_string, expected):
    eid, _ = populated
    df = mlflow.search_runs([eid], filter_string=filter_string, order_by=["metrics.m DESC"])
    if expected:
        assert names(df) == expected
    else:
        assert len(df) == 0, df


def test_search_runs_filter_by_run_id_and_start_time(populated):
    eid, ids = populated
    df = mlflow.search_runs([eid], filter_string=f"attributes.run_id = '{ids['r1']}'")
    assert list(df["run_id"]) == [ids["r1"]]
    df = mlflow.search_runs([eid], filter_string=f"attributes.run_id IN ('{ids['r1']}', '{ids['r3']}')", order_by=["metrics.m ASC"])
    assert list(df["run_id"]) == [ids["r1"], ids["r3"]]
    client = mlflow.MlflowClient()
    t0 = client.get_run(ids["r2"]).info.start_time
    df = mlflow.search_runs([eid], filter_string=f"attributes.start_time >= {t0}", order_by=["attributes.start_time ASC"])
    assert names(df) == ["r2", "r3", "r4"]


def test_search_runs_default_order_is_start_time_desc(populated):
    eid, _ = populated
    df = mlflow.search_runs([eid])
    assert names(df) == ["r4", "r3", "r2", "r1", "r0"]


def test_search_runs_by_experiment_name(populated):
    eid, _ = populated
    exp_name = mlflow.MlflowClient().get_experiment(eid).name
    df = mlflow.search_runs(experiment_names=[exp_name], filter_string="params.p = 'b'", order_by=["metrics.m DESC"])
    assert names(df) == ["r3", "r1"]


def test_search_runs_as_list(populated):
    eid, ids = populated
    runs = mlflow.search_runs([eid], filter_string="metrics.m > 4", output_format="list")
    assert len(runs) == 1
    r = runs[0]
    assert r.info.run_id == ids["r4"]
    assert r.data.metrics == {"m": 4.5, "loss": 5.0}
    assert r.data.params == {"p": "a"}


@pytest.mark.parametrize("order_by", [None, ["metrics.m DESC"], ["params.p ASC", "metrics.m ASC"], ["attributes.run_name DESC"]])
def test_client_search_runs_pagination(populated, order_by):
    eid, ids = populated
    client = mlflow.MlflowClient()
    full = client.search_runs([eid], order_by=order_by, max_results=100)
    assert len(full) == len(ROWS)
    seen, token, pages = [], None, 0
    while True:
        page = client.search_runs([eid], order_by=order_by, max_results=2, page_token=token)
        pages += 1
        assert len(page) <= 2
        seen.extend(r.info.run_id for r in page)
        token = page.token
        if not token:
            break
        assert pages < 10, "page tokens never end"
    assert sorted(seen) == sorted(ids.values()), "every run exactly once"
    assert len(seen) == len(set(seen))
    assert pages == 3
    assert seen == [r.info.run_id for r in full], "paging must keep the same order"


def test_search_runs_bad_filter_raises(populated):
    eid, _ = populated
    with pytest.raises(MlflowException) as exc:
        mlflow.search_runs([eid], filter_string="metrics.m >> 1")
    assert exc.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as exc:
        mlflow.search_runs([eid], filter_string="attributes.foo = 'x'")
    assert exc.value.error_code == "INVALID_PARAMETER_VALUE"


def test_search_runs_over_several_experiments(server):
    client = mlflow.MlflowClient()
    e1 = client.create_experiment(unique("multi"))
    e2 = client.create_experiment(unique("multi"))
    r1 = client.create_run(e1).info.run_id
    r2 = client.create_run(e2).info.run_id
    client.log_metric(r1, "score", 1.0)
    client.log_metric(r2, "score", 2.0)
    df = mlflow.search_runs([e1, e2], order_by=["metrics.score DESC"])
    assert list(df["run_id"]) == [r2, r1]
