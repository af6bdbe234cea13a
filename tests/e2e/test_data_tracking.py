"""`cairn data validate --tracking-uri --experiment`: the validation is logged as a run the real mlflow
client reads back: the dataset as input, one metric per expectation, the reports as artifacts and
`validation.status`, so a promotion policy can require a passed validation."""

from __future__ import annotations

import json
import subprocess

import pytest
from mlflow import MlflowClient

from cairn_helpers import cairn_bin, unique

DATA = "id,amount,kind\n1,10.5,a\n2,20,b\n3,-1,a\n4,,c\n"
FAILING = """version: 1
name: orders
expectations:
  - {type: expect_column_values_to_be_unique, column: id}
  - {type: expect_column_values_to_be_between, column: amount, min_value: 0, max_value: 100}
  - {type: expect_column_values_to_be_in_set, column: kind, value_set: [a, b]}
"""
PASSING = """version: 1
name: orders-lenient
expectations:
  - {type: expect_column_values_to_be_unique, column: id}
  - {type: expect_table_row_count_to_be_between, min_value: 1, max_value: 10}
"""


def validate(tmp_path, suite: str, *extra: str) -> subprocess.CompletedProcess:
    (tmp_path / "orders.csv").write_text(DATA)
    (tmp_path / "suite.yaml").write_text(suite)
    return subprocess.run(
        [cairn_bin(), "data", "validate", "--suite", str(tmp_path / "suite.yaml"), str(tmp_path / "orders.csv"), *extra],
        capture_output=True,
        text=True,
        timeout=60,
    )


def logged_run_id(result: subprocess.CompletedProcess) -> str:
    for line in result.stderr.splitlines():
        if line.startswith("logged to run "):
            return line.removeprefix("logged to run ").strip()
    raise AssertionError(f"no run id in stderr:\n{result.stderr}")


def test_a_failed_validation_is_logged_as_a_run(server, tmp_path):
    experiment = unique("data-validation")
    result = validate(tmp_path, FAILING, "--tracking-uri", server.url, "--experiment", experiment)
    assert result.returncode == 1, result.stderr
    run_id = logged_run_id(result)
    client = MlflowClient(server.url)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.info.experiment_id == client.get_experiment_by_name(experiment).experiment_id
    assert run.data.tags["validation.status"] == "failed"
    assert run.data.tags["validation.suite"] == "orders"
    assert run.data.tags["mlflow.source.name"] == "cairn data validate"
    metrics = run.data.metrics
    assert metrics["validation/01_column_values_to_be_unique.id"] == 1.0
    assert metrics["validation/02_column_values_to_be_between.amount"] == 0.0
    assert metrics["validation/03_column_values_to_be_in_set.kind"] == 0.0
    assert metrics["validation/row_count"] == 4
    assert metrics["validation/success_percent"] == pytest.approx(100 / 3)
    # The dataset is the run's input, with a digest and its source.
    inputs = run.inputs.dataset_inputs
    assert len(inputs) == 1
    dataset = inputs[0].dataset
    assert dataset.name == "orders"
    assert len(dataset.digest) == 16
    assert json.loads(dataset.source)["uri"].endswith("/orders.csv")
    assert json.loads(dataset.profile)["num_rows"] == 4
    assert {tag.key: tag.value for tag in inputs[0].tags}["mlflow.data.context"] == "validation"
    # The reports are artifacts, readable through the client.
    names = sorted(f.path for f in client.list_artifacts(run_id, "validation"))
    assert names == [
        "validation/suite.yaml",
        "validation/validation.html",
        "validation/validation.json",
        "validation/validation.junit.xml",
        "validation/validation.md",
    ]
    local = client.download_artifacts(run_id, "validation/validation.json", str(tmp_path))
    report = json.loads(open(local).read())
    assert report["success"] is False
    assert [r["success"] for r in report["results"]] == [True, False, False]
    html = open(client.download_artifacts(run_id, "validation/validation.html", str(tmp_path))).read()
    assert "<svg" in html and "amount" in html


def test_a_passed_validation_and_logging_into_an_existing_run(server, tmp_path):
    client = MlflowClient(server.url)
    experiment_id = client.create_experiment(unique("training"))
    training = client.create_run(experiment_id)
    result = validate(tmp_path, PASSING, "--tracking-uri", server.url, "--run-id", training.info.run_id)
    assert result.returncode == 0, result.stderr
    assert logged_run_id(result) == training.info.run_id
    run = client.get_run(training.info.run_id)
    assert run.data.tags["validation.status"] == "passed"
    assert run.info.status == "RUNNING", "a run the user owns is not ended"
    assert run.data.metrics["validation/success_percent"] == 100.0


def test_logging_needs_a_server_and_reports_its_errors(server, tmp_path):
    no_server = validate(tmp_path, PASSING, "--experiment", "x", "--tracking-uri", "http://127.0.0.1:9")
    assert no_server.returncode == 2
    assert "cannot reach the server" in no_server.stderr
    unknown_run = validate(tmp_path, PASSING, "--tracking-uri", server.url, "--run-id", "0" * 32)
    assert unknown_run.returncode == 2
    assert "RESOURCE_DOES_NOT_EXIST" in unknown_run.stderr
