"""Runs, params, metrics, tags and datasets through the real mlflow client (flows 3-9, 13, 20-22)."""

import math
import time

import mlflow
import pandas as pd
import pytest
from mlflow.entities import Metric, Param, RunStatus, RunTag, ViewType
from mlflow.exceptions import MlflowException


def history(client, run_id, key):
    return [(m.step, m.value) for m in sorted(client.get_metric_history(run_id, key), key=lambda m: (m.step, m.timestamp))]


def test_fluent_run_params_metrics_tags(experiment, client):
    t_before = int(time.time() * 1000)
    with mlflow.start_run(run_name="parent-run") as run:
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"batch_size": 32, "optimizer": "adam"})
        for step, loss in enumerate([1.0, 0.5, 0.25]):
            mlflow.log_metric("loss", loss, step=step)
        mlflow.log_metrics({"acc": 0.9, "f1": 0.75}, step=7)
        mlflow.set_tag("stage", "dev")
        mlflow.set_tags({"owner": "e2e", "release": "1.0"})
    rid = run.info.run_id
    assert len(rid) == 32 and all(c in "0123456789abcdef" for c in rid)

    r = client.get_run(rid)
    assert r.info.run_id == rid
    assert r.info.experiment_id == experiment
    assert r.info.run_name == "parent-run"
    assert r.info.status == "FINISHED"
    assert r.info.lifecycle_stage == "active"
    assert r.info.start_time >= t_before - 5000
    assert r.info.end_time is not None and r.info.end_time >= r.info.start_time
    assert r.info.artifact_uri == f"mlflow-artifacts:/{experiment}/{rid}/artifacts"
    assert r.data.params == {"lr": "0.01", "batch_size": "32", "optimizer": "adam"}
    assert r.data.metrics == {"loss": 0.25, "acc": 0.9, "f1": 0.75}
    tags = r.data.tags
    assert tags["stage"] == "dev" and tags["owner"] == "e2e" and tags["release"] == "1.0"
    assert tags["mlflow.runName"] == "parent-run"
    assert tags.get("mlflow.user"), tags
    assert tags.get("mlflow.source.type") == "LOCAL"

    assert history(client, rid, "loss") == [(0, 1.0), (1, 0.5), (2, 0.25)]
    assert history(client, rid, "acc") == [(7, 0.9)]
    hist = client.get_metric_history(rid, "loss")
    assert all(m.key == "loss" and m.timestamp >= t_before - 5000 for m in hist)


def test_nested_runs_have_parent_tag(experiment, client):
    with mlflow.start_run(run_name="outer") as parent:
        with mlflow.start_run(run_name="inner-1", nested=True) as c1:
            mlflow.log_metric("x", 1)
        with mlflow.start_run(run_name="inner-2", nested=True) as c2:
            mlflow.log_metric("x", 2)
    pid = parent.info.run_id
    for child in (c1, c2):
        r = client.get_run(child.info.run_id)
        assert r.data.tags["mlflow.parentRunId"] == pid
        assert r.info.status == "FINISHED"
    assert "mlflow.parentRunId" not in client.get_run(pid).data.tags
    children = client.search_runs([experiment], filter_string=f"tags.mlflow.parentRunId = '{pid}'")
    assert sorted(r.info.run_name for r in children) == ["inner-1", "inner-2"]
    assert {r.data.metrics["x"] for r in children} == {1.0, 2.0}


def test_failed_run_status(experiment, client):
    with pytest.raises(ZeroDivisionError):
        with mlflow.start_run() as run:
            1 / 0  # noqa: B018
    assert client.get_run(run.info.run_id).info.status == "FAILED"

    r2 = client.create_run(experiment)
    assert r2.info.status == "RUNNING"
    assert r2.info.end_time is None
    client.set_terminated(r2.info.run_id, status="KILLED")
    got = client.get_run(r2.info.run_id)
    assert got.info.status == "KILLED"
    assert got.info.end_time is not None


def test_client_log_batch(experiment, client):
    run = client.create_run(experiment, run_name="batch")
    rid = run.info.run_id
    ts = int(time.time() * 1000)
    metrics = [Metric("m", float(i) / 10, ts + i, i) for i in range(50)]
    metrics += [Metric("other", 42.0, ts, 0)]
    params = [Param(f"p{i}", f"v{i}") for i in range(10)]
    tags = [RunTag("t1", "one"), RunTag("t2", "two")]
    client.log_batch(rid, metrics=metrics, params=params, tags=tags)
    r = client.get_run(rid)
    assert r.data.metrics == {"m": 4.9, "other": 42.0}
    assert r.data.params == {f"p{i}": f"v{i}" for i in range(10)}
    assert r.data.tags["t1"] == "one" and r.data.tags["t2"] == "two"
    assert history(client, rid, "m") == [(i, float(i) / 10) for i in range(50)]


def test_latest_metric_is_max_step_not_last_logged(experiment, client):
    rid = client.create_run(experiment).info.run_id
    ts = int(time.time() * 1000)
    client.log_metric(rid, "m", 5.0, timestamp=ts, step=10)
    client.log_metric(rid, "m", 1.0, timestamp=ts + 1000, step=3)  # later in time, earlier step
    assert client.get_run(rid).data.metrics["m"] == 5.0
    assert history(client, rid, "m") == [(3, 1.0), (10, 5.0)]


def test_metric_history_nan_and_infinities(experiment, client):
    rid = client.create_run(experiment).info.run_id
    client.log_metric(rid, "weird", float("nan"), step=0)
    client.log_metric(rid, "weird", float("inf"), step=1)
    client.log_metric(rid, "weird", float("-inf"), step=2)
    client.log_metric(rid, "weird", 1.5, step=3)
    client.log_metric(rid, "big", 1e308, step=0)
    client.log_metric(rid, "tiny", -5e-324, step=0)
    h = history(client, rid, "weird")
    assert [s for s, _ in h] == [0, 1, 2, 3]
    assert math.isnan(h[0][1])
    assert h[1][1] == math.inf
    assert h[2][1] == -math.inf
    assert h[3][1] == 1.5
    r = client.get_run(rid)
    assert r.data.metrics["weird"] == 1.5
    assert r.data.metrics["big"] == 1e308
    assert r.data.metrics["tiny"] == -5e-324

    rid2 = client.create_run(experiment).info.run_id
    client.log_metric(rid2, "last_nan", float("nan"), step=0)
    client.log_metric(rid2, "last_inf", float("-inf"), step=0)
    r2 = client.get_run(rid2)
    assert math.isnan(r2.data.metrics["last_nan"])
    assert r2.data.metrics["last_inf"] == -math.inf


def test_metric_history_many_points_pages(experiment, client, api):
    """More points than one 1000-metric batch; also exercises the server's page tokens."""
    rid = client.create_run(experiment).info.run_id
    ts = int(time.time() * 1000)
    n = 2500
    for start in range(0, n, 1000):
        client.log_batch(rid, metrics=[Metric("long", float(i), ts, i) for i in range(start, min(n, start + 1000))])
    h = client.get_metric_history(rid, "long")
    assert sorted((m.step, m.value) for m in h) == [(i, float(i)) for i in range(n)]

    # raw paging with a small page size: every point exactly once
    seen, token, pages = [], None, 0
    while True:
        params = {"run_id": rid, "metric_key": "long", "max_results": 1000}
        if token:
            params["page_token"] = token
        data = api.ok("GET", "/api/2.0/mlflow/metrics/get-history", params=params)
        pages += 1
        assert len(data.get("metrics", [])) <= 1000
        seen.extend(m["step"] for m in data.get("metrics", []))
        token = data.get("next_page_token")
        if not token:
            break
        assert pages < 10
    assert sorted(seen) == list(range(n))
    assert pages == 3


def test_get_metric_history_unknown_key_is_empty(run_id, client):
    assert client.get_metric_history(run_id, "never-logged") == []


def test_tags_can_be_overwritten_and_deleted(run_id, client):
    client.set_tag(run_id, "k", "v1")
    client.set_tag(run_id, "k", "v2")
    assert client.get_run(run_id).data.tags["k"] == "v2"
    client.delete_tag(run_id, "k")
    assert "k" not in client.get_run(run_id).data.tags


def test_param_same_value_is_idempotent_but_change_fails(run_id, client):
    client.log_param(run_id, "p", "x")
    client.log_param(run_id, "p", "x")
    with pytest.raises(MlflowException) as exc:
        client.log_param(run_id, "p", "y")
    assert exc.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "Changing param values is not allowed" in exc.value.message
    assert client.get_run(run_id).data.params == {"p": "x"}


def test_rename_run_via_update(run_id, client):
    client.update_run(run_id, name="renamed-run")
    r = client.get_run(run_id)
    assert r.info.run_name == "renamed-run"
    assert r.data.tags["mlflow.runName"] == "renamed-run"


def test_delete_and_restore_run_with_view_types(experiment, client):
    keep = client.create_run(experiment, run_name="keep").info.run_id
    gone = client.create_run(experiment, run_name="gone").info.run_id
    client.delete_run(gone)
    assert client.get_run(gone).info.lifecycle_stage == "deleted"

    def ids(view):
        return sorted(r.info.run_id for r in client.search_runs([experiment], run_view_type=view))

    assert ids(ViewType.ACTIVE_ONLY) == [keep]
    assert ids(ViewType.DELETED_ONLY) == [gone]
    assert ids(ViewType.ALL) == sorted([keep, gone])
    assert list(mlflow.search_runs([experiment])["run_id"]) == [keep]

    with pytest.raises(MlflowException) as exc:
        client.log_metric(gone, "m", 1.0)
    assert exc.value.error_code == "INVALID_PARAMETER_VALUE"

    client.restore_run(gone)
    assert client.get_run(gone).info.lifecycle_stage == "active"
    assert ids(ViewType.ACTIVE_ONLY) == sorted([keep, gone])
    assert ids(ViewType.DELETED_ONLY) == []
    client.log_metric(gone, "m", 1.0)
    assert client.get_run(gone).data.metrics == {"m": 1.0}


def test_log_to_finished_run_is_allowed(experiment, client):
    with mlflow.start_run() as run:
        pass
    client.log_metric(run.info.run_id, "late", 3.0)
    assert client.get_run(run.info.run_id).data.metrics["late"] == 3.0


def test_get_missing_run_raises_not_found(server, client):
    with pytest.raises(MlflowException) as exc:
        client.get_run("0" * 32)
    assert exc.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_log_input_dataset(experiment, client):
    df = pd.DataFrame({"x1": [1, 2, 3, 4], "x2": [0.5, 0.25, 0.125, 0.0], "y": [0, 1, 0, 1]})
    ds = mlflow.data.from_pandas(df, name="train-ds", targets="y")
    with mlflow.start_run() as run:
        mlflow.log_input(ds, context="training")
    r = client.get_run(run.info.run_id)
    inputs = r.inputs.dataset_inputs
    assert len(inputs) == 1
    d = inputs[0].dataset
    sent = ds._to_mlflow_entity()
    assert d.name == "train-ds"
    assert d.digest == ds.digest == sent.digest
    assert d.source_type == sent.source_type
    assert d.source == sent.source
    assert d.schema == sent.schema
    assert d.profile == sent.profile
    assert '"num_rows": 4' in d.profile
    assert {t.key: t.value for t in inputs[0].tags} == {"mlflow.data.context": "training"}

    # the same dataset logged by a second run is shared, not an error
    with mlflow.start_run() as run2:
        mlflow.log_input(ds, context="eval")
    r2 = client.get_run(run2.info.run_id)
    assert [i.dataset.digest for i in r2.inputs.dataset_inputs] == [ds.digest]
    assert {t.key: t.value for t in r2.inputs.dataset_inputs[0].tags} == {"mlflow.data.context": "eval"}


def test_run_status_enum_roundtrip(experiment, client):
    rid = client.create_run(experiment).info.run_id
    client.update_run(rid, status="SCHEDULED")
    assert client.get_run(rid).info.status == RunStatus.to_string(RunStatus.SCHEDULED)
