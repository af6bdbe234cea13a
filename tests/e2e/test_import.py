"""`cairn import mlflow`: a real `mlflow server` store, populated by the real client, imported into a
fresh cairn store; the mlflow client then finds the same things on `cairn server`.

In the PostgreSQL pass (CAIRN_E2E_BACKEND=postgres) the MLflow server keeps its store in a fresh
PostgreSQL database (through psycopg2), so the import reads MLflow's PostgreSQL schema.

The stock MLflow server takes 20-60 s to start here, so the module starts it once.
"""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import mlflow.pyfunc
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
import requests
from mlflow import MlflowClient
from mlflow.entities import Metric, ViewType
from sklearn.linear_model import LinearRegression

from cairn_helpers import CairnServer, cairn_bin, e2e_backend, free_port, fresh_postgres_database

MLFLOW_BIN = Path(sys.executable).parent / "mlflow"
MLFLOW_START_TIMEOUT = float(os.environ.get("CAIRN_E2E_MLFLOW_START_TIMEOUT", "180"))
MODEL = "imp-model"
HISTORY_POINTS = 3000


def mlflow_store_uri(workdir: Path) -> str:
    """Where the source MLflow server keeps its metadata: SQLite, or PostgreSQL in that pass."""
    marker = workdir / "mlflow-store-uri"
    if marker.exists():
        return marker.read_text()
    if e2e_backend() == "postgres":
        # SQLAlchemy's psycopg2 driver, named as MLflow users name it (cairn import reads the form too).
        uri = fresh_postgres_database("cairn_e2e_mlflow_source").replace("postgresql://", "postgresql+psycopg2://", 1)
    else:
        uri = f"sqlite:///{workdir / 'mlflow.db'}"
    marker.write_text(uri)
    return uri


def start_mlflow(workdir: Path) -> tuple[subprocess.Popen, str, Path]:
    port = free_port()
    log_path = workdir / "mlflow.log"
    log = open(log_path, "wb")
    cmd = [
        str(MLFLOW_BIN),
        "server",
        "--backend-store-uri",
        mlflow_store_uri(workdir),
        "--artifacts-destination",
        str(workdir / "mlartifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, cwd=workdir)
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + MLFLOW_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited:\n{log_path.read_text()[-3000:]}")
        try:
            if requests.get(url + "/health", timeout=1).status_code == 200:
                return proc, url, log_path
        except requests.RequestException:
            pass
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    raise RuntimeError(f"mlflow server not healthy in {MLFLOW_START_TIMEOUT} s:\n{log_path.read_text()[-3000:]}")


def stop_mlflow(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


def populate(url: str, workdir: Path) -> dict:
    """Writes the store the test imports; returns what it needs to know (ids, inputs)."""
    client = MlflowClient(tracking_uri=url, registry_uri=url)
    mlflow.set_tracking_uri(url)
    mlflow.set_registry_uri(url)
    exp_a = client.create_experiment("imp-exp-a", tags={"team": "fraud", "tier": "1"})
    exp_b = client.create_experiment("imp-exp-b")
    mlflow.set_experiment(experiment_id=exp_a)

    df = pd.DataFrame({"x1": np.arange(20.0), "x2": np.arange(20.0) ** 2, "y": np.arange(20.0) * 3})
    X, y = df[["x1", "x2"]], df["y"]
    with mlflow.start_run(run_name="parent") as parent:
        mlflow.log_params({"lr": "0.01", "layers": "3"})
        mlflow.set_tags({"owner": "ana", "purpose": "import test"})
        now = int(time.time() * 1000)
        points = [Metric("loss", 1.0 / (step + 1), now + step, step) for step in range(HISTORY_POINTS)]
        points += [Metric("acc", step / 500, now + step, step) for step in range(500)]
        points += [Metric("odd", float("nan"), now, 0), Metric("odd", float("inf"), now + 1, 1),
                   Metric("odd", -2.5, now + 2, 2)]
        for start in range(0, len(points), 1000):
            client.log_batch(parent.info.run_id, metrics=points[start:start + 1000])
        dataset = mlflow.data.from_pandas(df, name="train-set", targets="y")
        mlflow.log_input(dataset, context="training")
        mlflow.log_text("hello from mlflow\n", "notes/readme.txt")
        folder = workdir / "to-log"
        (folder / "sub").mkdir(parents=True)
        (folder / "a.csv").write_text("a,b\n1,2\n")
        (folder / "sub" / "b.json").write_text('{"k": 1}')
        mlflow.log_artifacts(str(folder), "data")
        with mlflow.start_run(run_name="child-1", nested=True) as child1:
            mlflow.log_metric("loss", 0.5, step=0)
            mlflow.log_param("fold", "1")
        with mlflow.start_run(run_name="child-2", nested=True) as child2:
            mlflow.log_metric("loss", 0.4, step=0)
            mlflow.log_param("fold", "2")

    infos = []
    for index in range(2):
        with mlflow.start_run(run_name=f"train-{index}"):
            model = LinearRegression().fit(X, y * (index + 1))
            mlflow.log_metric("r2", model.score(X, y * (index + 1)))
            info = mlflow.sklearn.log_model(model, name="model", input_example=X[:2],
                                            registered_model_name=MODEL)
            infos.append(info)
    client.set_registered_model_tag(MODEL, "domain", "fraud")
    client.update_registered_model(MODEL, description="imported model")
    client.set_model_version_tag(MODEL, "2", "validated", "yes")
    client.set_registered_model_alias(MODEL, "champion", "2")
    client.transition_model_version_stage(MODEL, "1", "Staging")

    deleted = client.create_run(exp_b, run_name="doomed")
    client.log_param(deleted.info.run_id, "p", "v")
    client.set_terminated(deleted.info.run_id)
    client.delete_run(deleted.info.run_id)
    mlflow.set_experiment(experiment_id="0")
    return {
        "experiments": [exp_a, exp_b],
        "parent": parent.info.run_id,
        "children": [child1.info.run_id, child2.info.run_id],
        "deleted": deleted.info.run_id,
        "X": X,
    }


def all_runs(client: MlflowClient, experiment_ids: list[str]) -> list:
    runs = client.search_runs(experiment_ids, run_view_type=ViewType.ALL, max_results=1000)
    return sorted(runs, key=lambda run: run.info.run_id)


def metric_tuple(metric) -> tuple:
    value = "nan" if math.isnan(metric.value) else metric.value
    return (metric.key, metric.step, metric.timestamp, value)


def snapshot(url: str, facts: dict) -> dict:
    client = MlflowClient(tracking_uri=url, registry_uri=url)
    experiment_ids = ["0", *facts["experiments"]]
    runs = all_runs(client, experiment_ids)
    shot = {"runs": {}, "histories": {}, "experiments": {}, "registry": {}, "artifacts": {}}
    for experiment_id in experiment_ids:
        experiment = client.get_experiment(experiment_id)
        shot["experiments"][experiment_id] = (experiment.name, experiment.lifecycle_stage,
                                              dict(experiment.tags), experiment.creation_time)
    for run in runs:
        info = run.info
        shot["runs"][info.run_id] = {
            "info": (info.experiment_id, info.run_name, info.user_id, info.status, info.start_time,
                     info.end_time, info.lifecycle_stage, info.artifact_uri),
            "params": dict(run.data.params),
            "tags": dict(run.data.tags),
            "metrics": {key: ("nan" if math.isnan(value) else value) for key, value in run.data.metrics.items()},
            "datasets": sorted(
                (d.dataset.name, d.dataset.digest, d.dataset.source_type, d.dataset.source, d.dataset.schema,
                 tuple(sorted((t.key, t.value) for t in d.tags)))
                for d in run.inputs.dataset_inputs
            ),
        }
        for key in run.data.metrics:
            history = client.get_metric_history(info.run_id, key)
            shot["histories"][(info.run_id, key)] = sorted(metric_tuple(m) for m in history)
    model = client.get_registered_model(MODEL)
    versions = client.search_model_versions(f"name = '{MODEL}'")
    shot["registry"] = {
        "model": (model.name, model.description, dict(model.tags), dict(model.aliases), model.creation_timestamp),
        "versions": sorted(
            (v.version, v.current_stage, v.run_id, v.source, dict(v.tags), tuple(sorted(v.aliases)),
             v.creation_timestamp, v.status)
            for v in versions
        ),
        "champion": client.get_model_version_by_alias(MODEL, "champion").version,
    }

    def walk(run_id: str, path: str | None = None) -> list:
        found = []
        for item in client.list_artifacts(run_id, path):
            found.append((item.path, item.is_dir, item.file_size))
            if item.is_dir:
                found.extend(walk(run_id, item.path))
        return found

    for run_id in runs_with_artifacts(facts, shot):
        shot["artifacts"][run_id] = sorted(walk(run_id))
    return shot


def runs_with_artifacts(facts: dict, shot: dict) -> list[str]:
    return [facts["parent"], *(run_id for run_id, run in shot["runs"].items() if run["info"][1].startswith("train-"))]


def run_import(source_uri: str, artifacts: Path, cairn_dir: Path, backend_store_uri: str) -> str:
    cmd = [
        cairn_bin(), "import", "mlflow",
        "--from", source_uri,
        "--artifacts", str(artifacts),
        "--backend-store-uri", backend_store_uri,
        "--artifacts-destination", str(cairn_dir / "artifacts"),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"import failed:\n{done.stdout}\n{done.stderr}"
    print(done.stdout)
    return done.stdout


def counts(summary: str, kind: str) -> tuple[int, int]:
    match = re.search(rf"^\s+{kind}\s+(\d+) copied\s+(\d+) skipped", summary, re.MULTILINE)
    assert match, f"no '{kind}' line in:\n{summary}"
    return int(match.group(1)), int(match.group(2))


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("mlflow-source")
    previous = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    proc, url, log_path = start_mlflow(workdir)
    try:
        facts = populate(url, workdir)
        original = snapshot(url, facts)
        model = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")
        original["prediction"] = list(model.predict(facts["X"]))
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])
        stop_mlflow(proc)

    cairn_dir = tmp_path_factory.mktemp("cairn-imported")
    server = CairnServer(cairn_dir)
    summary = run_import(mlflow_store_uri(workdir), workdir / "mlartifacts", cairn_dir,
                         server.backend_store_uri)
    server.start()
    try:
        yield {"server": server, "facts": facts, "original": original, "summary": summary,
               "source": workdir, "cairn_dir": cairn_dir}
    finally:
        rc = server.stop()
        assert "panicked" not in server.log_text()
        assert rc == 0


def test_summary_counts_and_rate(imported):
    summary = imported["summary"]
    original = imported["original"]
    assert counts(summary, "runs") == (len(original["runs"]), 0)
    assert counts(summary, "experiments") == (2, 1)  # Default exists in every cairn store
    assert counts(summary, "registered models") == (1, 0)
    assert counts(summary, "model versions") == (2, 0)
    assert counts(summary, "aliases") == (1, 0)
    assert counts(summary, "logged models") == (2, 0)
    points = int(re.search(r"(\d+) metric points", summary).group(1))
    assert points == sum(len(history) for history in original["histories"].values())
    assert re.search(r"runs/s, \d+ metrics/s", summary)


def test_runs_experiments_and_histories_match(imported):
    shot = snapshot(imported["server"].url, imported["facts"])
    original = imported["original"]
    assert shot["experiments"] == {k: v for k, v in original["experiments"].items() if k != "0"} | {
        "0": shot["experiments"]["0"]}
    assert shot["runs"] == original["runs"]
    assert len(shot["histories"][(imported["facts"]["parent"], "loss")]) == HISTORY_POINTS
    assert shot["histories"] == original["histories"]
    deleted = shot["runs"][imported["facts"]["deleted"]]
    assert deleted["info"][6] == "deleted"
    children = [shot["runs"][run_id]["tags"]["mlflow.parentRunId"] for run_id in imported["facts"]["children"]]
    assert children == [imported["facts"]["parent"]] * 2


def test_registry_matches(imported):
    shot = snapshot(imported["server"].url, imported["facts"])
    original = imported["original"]
    assert shot["registry"] == original["registry"]
    stages = {version[0]: version[1] for version in shot["registry"]["versions"]}
    assert stages == {"1": "Staging", "2": "None"}
    assert shot["registry"]["champion"] == "2"


def test_artifacts_match_and_download(imported, tmp_path):
    shot = snapshot(imported["server"].url, imported["facts"])
    assert shot["artifacts"] == imported["original"]["artifacts"]
    client = MlflowClient(tracking_uri=imported["server"].url)
    local = client.download_artifacts(imported["facts"]["parent"], "notes/readme.txt", str(tmp_path))
    assert Path(local).read_text() == "hello from mlflow\n"
    local = client.download_artifacts(imported["facts"]["parent"], "data/sub/b.json", str(tmp_path))
    assert Path(local).read_text() == '{"k": 1}'


def test_model_loads_by_alias_and_predicts(imported):
    url = imported["server"].url
    previous = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    mlflow.set_tracking_uri(url)
    mlflow.set_registry_uri(url)
    try:
        model = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")
        prediction = list(model.predict(imported["facts"]["X"]))
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])
    assert prediction == pytest.approx(imported["original"]["prediction"])


def test_reimport_skips_everything(imported):
    before = snapshot(imported["server"].url, imported["facts"])
    started = time.monotonic()
    summary = run_import(mlflow_store_uri(imported["source"]), imported["source"] / "mlartifacts",
                         imported["cairn_dir"], imported["server"].backend_store_uri)
    print(f"re-import took {time.monotonic() - started:.2f} s")
    original = imported["original"]
    assert counts(summary, "runs") == (0, len(original["runs"]))
    assert counts(summary, "experiments") == (0, 3)
    assert counts(summary, "logged models") == (0, 2)
    assert counts(summary, "registered models") == (0, 1)
    assert counts(summary, "model versions") == (0, 2)
    assert counts(summary, "aliases") == (0, 1)
    assert re.search(r"\b0 metric points", summary)
    after = snapshot(imported["server"].url, imported["facts"])
    assert after == before


def test_unsupported_source_says_so(tmp_path):
    done = subprocess.run(
        [cairn_bin(), "import", "mlflow", "--from", "mysql://user@localhost/mlflow",
         "--backend-store-uri", f"sqlite:///{tmp_path / 'c.db'}", "--artifacts-destination", str(tmp_path / "a")],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1
    assert "not MySQL or others" in done.stderr and "postgresql://" in done.stderr
