"""More everyday client flows: sklearn autolog, resuming runs, async logging, tables."""

import mlflow
import numpy as np
from sklearn.linear_model import LogisticRegression


def test_sklearn_autolog(experiment, client):
    X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0], [0.5, 0.5], [2.5, 2.0], [1.5, 3.0], [3.5, 1.0]])
    y = np.array([0, 0, 1, 1, 0, 1, 0, 1])
    mlflow.sklearn.autolog(log_input_examples=False, log_model_signatures=True, silent=True)
    try:
        with mlflow.start_run() as run:
            model = LogisticRegression(C=0.5, max_iter=200).fit(X, y)
    finally:
        mlflow.sklearn.autolog(disable=True)
    r = client.get_run(run.info.run_id)
    assert r.data.params["C"] == "0.5"
    assert r.data.params["max_iter"] == "200"
    assert "training_accuracy_score" in r.data.metrics
    assert r.data.metrics["training_accuracy_score"] == model.score(X, y)
    assert r.data.tags.get("estimator_name") == "LogisticRegression"
    models = mlflow.search_logged_models(experiment_ids=[experiment], output_format="list")
    assert len(models) == 1 and models[0].source_run_id == run.info.run_id
    loaded = mlflow.pyfunc.load_model(f"models:/{models[0].model_id}")
    assert list(loaded.predict(X)) == list(model.predict(X))


def test_resume_finished_run(experiment, client):
    with mlflow.start_run(run_name="resumable") as run:
        mlflow.log_metric("m", 1.0, step=0)
    rid = run.info.run_id
    assert client.get_run(rid).info.status == "FINISHED"
    with mlflow.start_run(run_id=rid):
        assert client.get_run(rid).info.status == "RUNNING"
        mlflow.log_metric("m", 2.0, step=1)
    r = client.get_run(rid)
    assert r.info.status == "FINISHED"
    assert r.info.run_name == "resumable"
    assert [m.value for m in sorted(client.get_metric_history(rid, "m"), key=lambda m: m.step)] == [1.0, 2.0]


def test_get_parent_run(experiment):
    with mlflow.start_run() as parent:
        with mlflow.start_run(nested=True) as child:
            pass
    got = mlflow.get_parent_run(child.info.run_id)
    assert got is not None and got.info.run_id == parent.info.run_id
    assert mlflow.get_parent_run(parent.info.run_id) is None


def test_async_logging(experiment, client):
    with mlflow.start_run() as run:
        for step in range(200):
            mlflow.log_metric("async_m", float(step), step=step, synchronous=False)
        mlflow.log_params({f"ap{i}": i for i in range(5)}, synchronous=False)
        mlflow.set_tag("async_tag", "yes", synchronous=False)
        mlflow.flush_async_logging()
    r = client.get_run(run.info.run_id)
    assert r.data.params == {f"ap{i}": str(i) for i in range(5)}
    assert r.data.tags["async_tag"] == "yes"
    hist = client.get_metric_history(run.info.run_id, "async_m")
    assert sorted((m.step, m.value) for m in hist) == [(s, float(s)) for s in range(200)]


def test_log_table_and_load(experiment, client):
    data = {"prompt": ["a", "b", "c"], "score": [0.5, 0.25, 1.0]}
    with mlflow.start_run() as run:
        mlflow.log_table(data=data, artifact_file="tables/eval.json")
    df = mlflow.load_table("tables/eval.json", run_ids=[run.info.run_id])
    assert list(df["prompt"]) == ["a", "b", "c"]
    assert list(df["score"]) == [0.5, 0.25, 1.0]
    assert "tables/eval.json" in client.get_run(run.info.run_id).data.tags.get("mlflow.loggedArtifacts", "")


def test_search_runs_after_many_logs_to_one_key(experiment):
    """Run-level metric is the latest by step even when it arrives in different requests."""
    with mlflow.start_run() as run:
        for step in [5, 1, 9, 3]:
            mlflow.log_metric("acc", step / 10, step=step)
    df = mlflow.search_runs([experiment], filter_string="metrics.acc = 0.9")
    assert list(df["run_id"]) == [run.info.run_id]
    assert len(mlflow.search_runs([experiment], filter_string="metrics.acc = 0.3")) == 0
