"""`cairn eval --tracking-uri`: the evaluation is logged to a run that the real mlflow client reads
back: metrics under mlflow.evaluate's names, per class and per slice, the reports, plots and slice
tables as artifacts under eval/, the predictions as the run's input."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pandas as pd
from mlflow import MlflowClient

from cairn_helpers import cairn_bin, unique


def predictions(tmp_path):
    rng = np.random.default_rng(21)
    n = 4000
    y = rng.integers(0, 2, n)
    p = np.clip(0.3 * y + rng.random(n) * 0.7, 0, 1)
    df = pd.DataFrame({"y": y, "pred": (p >= 0.5).astype(int), "p": p, "region": rng.choice(["eu-west", "us/east"], n)})
    path = tmp_path / "scored.csv"
    df.to_csv(path, index=False)
    return path


def run_eval(path, *extra):
    return subprocess.run(
        [cairn_bin(), "eval", str(path), "--label-col", "y", "--prediction-col", "pred", "--proba-col", "p",
         "--slice-by", "region", "--json", "-", *extra],
        capture_output=True, text=True, timeout=120,
    )


def logged_run_id(result) -> str:
    for line in result.stderr.splitlines():
        if line.startswith("logged to run "):
            return line.removeprefix("logged to run ").strip()
    raise AssertionError(f"no run id in stderr:\n{result.stderr}")


def test_an_evaluation_is_logged_as_a_new_run(server, tmp_path):
    experiment = unique("eval")
    result = run_eval(predictions(tmp_path), "--tracking-uri", server.url, "--experiment", experiment)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    run_id = logged_run_id(result)
    client = MlflowClient(server.url)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.source.name"] == "cairn eval"
    assert run.data.tags["eval.task"] == "classification"
    assert run.data.tags["eval.pos_label"] == "1"
    assert "eval.status" not in run.data.tags
    metrics = run.data.metrics
    for name in ["accuracy_score", "roc_auc", "precision_recall_auc", "log_loss", "f1_score", "brier_score_loss"]:
        assert metrics[name] == doc["overall"]["metrics"][name], name
    assert metrics["example_count"] == 4000
    # Per class and per slice, with the slice values sanitised for MLflow's key rules ("/" -> "_").
    assert metrics["class/1/recall"] == doc["overall"]["per_class"][1]["recall"]
    slices = {s["value"]: s for s in doc["slices"][0]["slices"]}
    assert metrics["slice/region:us_east/accuracy_score"] == slices["us/east"]["metrics"]["accuracy_score"]
    assert metrics["slice/region:eu-west/roc_auc"] == slices["eu-west"]["metrics"]["roc_auc"]
    assert metrics["slice_gap/region/accuracy_score"] == doc["slices"][0]["gaps"]["accuracy_score"]["gap"]
    # The predictions are the run's input, in the "eval" context (mlflow.evaluate's).
    [dataset_input] = run.inputs.dataset_inputs
    assert dataset_input.dataset.name == "scored"
    assert json.loads(dataset_input.dataset.profile)["num_rows"] == 4000
    assert {t.key: t.value for t in dataset_input.tags}["mlflow.data.context"] == "eval"
    names = sorted(f.path for f in client.list_artifacts(run_id, "eval"))
    assert names == [
        "eval/confusion_matrix.svg",
        "eval/eval.html",
        "eval/eval.json",
        "eval/eval.md",
        "eval/precision_recall_curve.svg",
        "eval/reliability_diagram.svg",
        "eval/roc_curve.svg",
        "eval/slices_region.csv",
    ]
    local = client.download_artifacts(run_id, "eval/eval.json", str(tmp_path / "download"))
    with open(local) as handle:
        assert json.load(handle) == doc
    table = client.download_artifacts(run_id, "eval/slices_region.csv", str(tmp_path / "download"))
    frame = pd.read_csv(table)
    assert list(frame["region"]) == ["eu-west", "us/east", "gap"]


def test_an_evaluation_is_logged_into_an_existing_run(server, tmp_path):
    client = MlflowClient(server.url)
    experiment_id = client.create_experiment(unique("eval-existing"))
    run = client.create_run(experiment_id)
    result = run_eval(predictions(tmp_path), "--tracking-uri", server.url, "--run-id", run.info.run_id)
    assert result.returncode == 0, result.stderr
    assert logged_run_id(result) == run.info.run_id
    logged = client.get_run(run.info.run_id)
    assert logged.info.status == "RUNNING"  # the caller's run is not ended
    assert logged.data.metrics["accuracy_score"] == json.loads(result.stdout)["overall"]["metrics"]["accuracy_score"]
