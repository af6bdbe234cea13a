"""`cairn gate check`: a candidate run, model version or logged model held against a gate file over
the REST API, the verdict printed (text, JSON, JUnit, Markdown), recorded on the candidate and read
back with the real `mlflow` client; and a promotion policy that requires a passed gate."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput, InputTag

from cairn_helpers import CairnServer, cairn_bin, unique


def gate(server, tmp_path, yaml: str, *args: str, name: str = "release") -> subprocess.CompletedProcess:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml)
    return subprocess.run(
        [cairn_bin(), "gate", "check", str(path), "--tracking-uri", server.url, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def training_run(client: MlflowClient, experiment: str, metrics: dict, tags: dict | None = None, **kwargs) -> str:
    experiment_id = client.get_experiment_by_name(experiment) or None
    experiment_id = experiment_id.experiment_id if experiment_id else client.create_experiment(experiment)
    run = client.create_run(experiment_id, tags=tags or {}, **kwargs)
    for key, value in metrics.items():
        client.log_metric(run.info.run_id, key, value)
    return run.info.run_id


def register(client: MlflowClient, model: str, run_id: str) -> str:
    try:
        client.create_registered_model(model)
    except Exception:
        pass
    return client.create_model_version(model, f"runs:/{run_id}/model", run_id=run_id).version


def test_a_passing_gate_is_recorded_on_the_run(server, tmp_path):
    client = MlflowClient(server.url)
    experiment = unique("gate")
    model = unique("gate-model")
    champion_run = training_run(client, experiment, {"roc_auc": 0.91, "log_loss": 0.30})
    client.set_terminated(champion_run)
    version = register(client, model, champion_run)
    client.set_registered_model_alias(model, "champion", version)
    candidate = training_run(
        client,
        experiment,
        {"roc_auc": 0.905, "log_loss": 0.31, "slice_gap/region/f1_score": 0.04, "slice_gap/age/f1_score": 0.02},
        tags={"owner": "ml-team"},
    )
    yaml = f"""version: 1
name: release
baseline: {{ model: {model}, alias: champion }}
rules:
  - metric: "roc_auc >= 0.9"
  - vs_baseline: {{ metric: roc_auc, max_drop: 0.01 }}
  - vs_baseline: {{ metric: log_loss, lower_is_better: true, max_increase_pct: 5 }}
  - max_slice_gap: "f1_score <= 0.05"
  - max_run_age: 1d
  - tag_present: owner
"""
    result = gate(server, tmp_path, yaml, "--run-id", candidate)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert f"gate 'release' on run {candidate}" in out
    assert f"baseline: models:/{model}@champion" in out
    assert "PASSED: 6 of 6 rules passed" in out
    assert f"0.905 (baseline {model}@champion (version {version}): 0.91)" in out
    assert "0.04 (slices of region)" in out

    run = client.get_run(candidate)
    assert run.data.tags["cairn.gate.release"] == "passed"
    assert run.data.tags["cairn.gate.status"] == "passed"
    local = client.download_artifacts(candidate, "gate/release.json", str(tmp_path))
    recorded = json.loads(open(local).read())
    assert recorded["passed"] is True
    assert [r["kind"] for r in recorded["results"]] == [
        "metric", "vs_baseline", "vs_baseline", "max_slice_gap", "max_run_age", "tag_present",
    ]


def test_a_failing_gate_exits_1_in_every_format(server, tmp_path):
    client = MlflowClient(server.url)
    experiment = unique("gate-fail")
    baseline_run = training_run(client, experiment, {"acc": 0.90})
    candidate = training_run(client, experiment, {"acc": 0.85, "slice_gap/region/acc": 0.2})
    yaml = f"""version: 1
name: ci
baseline: {{ run: {baseline_run} }}
rules:
  - vs_baseline: {{ metric: acc, max_drop: 0.01 }}
  - max_slice_gap: "acc <= 0.1"
  - metric: "missing_metric > 0"
  - tag_present: owner
"""
    text = gate(server, tmp_path, yaml, "--run-id", candidate, "--no-record", name="ci")
    assert text.returncode == 1, text.stderr
    assert "FAILED: 0 of 4 rules passed" in text.stdout
    assert "missing" in text.stdout

    as_json = gate(server, tmp_path, yaml, "--run-id", candidate, "--format", "json", "--no-record", name="ci")
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)
    assert report["passed"] is False
    first = report["results"][0]
    assert first["actual"] == f"0.85 (baseline run {baseline_run}: 0.9)" and first["required"] == ">= 0.89"

    junit = tmp_path / "gate.xml"
    result = gate(server, tmp_path, yaml, "--run-id", candidate, "--format", "junit", "-o", str(junit), name="ci")
    assert result.returncode == 1
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("tests") == "4" and suite.get("failures") == "4"

    markdown = gate(server, tmp_path, yaml, "--run-id", candidate, "--format", "markdown", "--no-record", name="ci")
    assert "### Gate `ci`: ❌ failed" in markdown.stdout
    assert markdown.stdout.count("| ❌ |") == 4
    # A baseline run may be named instead of given by id.
    client.set_tag(baseline_run, "mlflow.runName", "baseline-" + experiment)
    named = yaml.replace(f"run: {baseline_run}", f"run: baseline-{experiment}")
    as_json = gate(server, tmp_path, named, "--run-id", candidate, "--format", "json", "--no-record", name="ci")
    first = json.loads(as_json.stdout)["results"][0]
    assert first["actual"] == f"0.85 (baseline run 'baseline-{experiment}' ({baseline_run}): 0.9)"
    missing = named.replace(f"baseline-{experiment}", "no-such-run-name")
    result = gate(server, tmp_path, missing, "--run-id", candidate, "--no-record", name="ci")
    assert result.returncode == 2 and "no run has the id or name 'no-such-run-name'" in result.stderr
    # Recorded only by the run without --no-record.
    assert client.get_run(candidate).data.tags["cairn.gate.ci"] == "failed"


def test_data_validation_and_dataset_age(server, tmp_path):
    client = MlflowClient(server.url)
    experiment = unique("gate-data")
    (tmp_path / "train.csv").write_text("id,amount\n1,10\n2,20\n3,30\n")
    (tmp_path / "suite.yaml").write_text(
        "version: 1\nname: train\nexpectations:\n  - {type: expect_column_values_to_be_unique, column: id}\n"
    )
    validation = subprocess.run(
        [cairn_bin(), "data", "validate", "--suite", str(tmp_path / "suite.yaml"), str(tmp_path / "train.csv"),
         "--tracking-uri", server.url, "--experiment", unique("validations")],
        capture_output=True, text=True, timeout=60,
    )
    assert validation.returncode == 0, validation.stderr
    validation_run = next(
        line.removeprefix("logged to run ").strip()
        for line in validation.stderr.splitlines()
        if line.startswith("logged to run ")
    )
    dataset = client.get_run(validation_run).inputs.dataset_inputs[0].dataset

    # The training run logs the same data (same digest); it has no validation.status of its own.
    candidate = training_run(client, experiment, {"acc": 0.9})
    client.log_inputs(
        candidate,
        [DatasetInput(Dataset(dataset.name, dataset.digest, dataset.source_type, dataset.source),
                      [InputTag("mlflow.data.context", "training")])],
    )
    yaml = "version: 1\nrules:\n  - data_validation: passed\n  - max_dataset_age: 1h\n"
    result = gate(server, tmp_path, yaml, "--run-id", candidate, "--format", "json", name="data")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert f"passed (run {validation_run})" in report["results"][0]["actual"]
    assert report["results"][1]["passed"]

    # A run whose data was never validated fails the rule, and says so.
    bare = training_run(client, experiment, {"acc": 0.9})
    result = gate(server, tmp_path, yaml, "--run-id", bare, "--format", "json", "--no-record", name="data")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert "no validation" in report["results"][0]["actual"]
    assert report["results"][1]["actual"] == "no dataset inputs"


def test_a_baseline_alias_nobody_holds_yet_compares_with_nothing(server, tmp_path):
    client = MlflowClient(server.url)
    model = unique("gate-new-model")
    run = training_run(client, unique("gate-first"), {"auc": 0.7})
    register(client, model, run)  # the model exists, no version holds the alias yet
    for name in (model, unique("gate-no-model")):
        yaml = f"version: 1\nbaseline: {{model: {name}, alias: champion}}\nrules:\n  - vs_baseline: {{metric: auc, max_drop: 0}}\n"
        result = gate(server, tmp_path, yaml, "--run-id", run, "--format", "json", "--no-record", name="first")
        assert result.returncode == 0, result.stdout + result.stderr
        report = json.loads(result.stdout)
        assert report["results"][0]["actual"] == "no baseline"
        assert "not found: nothing to compare with" in report["baseline"]


def test_model_version_candidate_recent_runs_baseline_and_latency(server, tmp_path):
    client = MlflowClient(server.url)
    experiment = unique("gate-mv")
    for auc in (0.80, 0.90):
        run = training_run(client, experiment, {"auc": auc})
        client.set_terminated(run)
    candidate_run = training_run(client, experiment, {"auc": 0.86})
    model = unique("gate-mv-model")
    version = register(client, model, candidate_run)
    bench = training_run(client, unique("bench"), {"latency_p99_ms": 12.5})
    yaml = f"""version: 1
baseline: {{ experiment: {experiment}, last: 5 }}
rules:
  - vs_baseline: {{ metric: auc, max_drop: 0.0 }}
  - latency_budget: "latency_p99_ms <= 20"
"""
    result = gate(server, tmp_path, yaml, "--model-uri", f"models:/{model}/{version}",
                  "--benchmark-run", bench, "--format", "json", name="mv")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    # The mean of the two finished runs (0.85); the unfinished candidate run is left out.
    assert report["results"][0]["actual"] == f"0.86 (baseline mean of the last 2 finished runs of '{experiment}': 0.85)"
    assert report["results"][1]["actual"] == f"12.5 (benchmark run {bench})"
    tags = client.get_model_version(model, version).tags
    assert tags["cairn.gate.mv"] == "passed"


@pytest.mark.parametrize(
    "yaml,args,message",
    [
        ("rules: []\n", ["--run-id", "x"], "no version"),
        ("version: 1\nrules:\n  - metric: 'a >> 1'\n", ["--run-id", "x"], "unknown operator"),
        ("version: 1\nrules:\n  - metric: 'a > 1'\n", ["--run-id", "0" * 32], "RESOURCE_DOES_NOT_EXIST"),
        ("version: 1\nrules:\n  - metric: 'a > 1'\n", [], "--run-id"),
        ("version: 1\nrules:\n  - metric: 'a > 1'\n", ["--model-uri", "models:/x/latest"], "must be a number"),
        ("version: 1\nbaseline: {model: nope-model, version: 1}\nrules:\n  - vs_baseline: {metric: a, max_drop: 0}\n",
         ["--run-id", "RUN"], "nope-model"),
    ],
)
def test_errors_exit_2_and_say_what(server, tmp_path, yaml, args, message):
    client = MlflowClient(server.url)
    run = training_run(client, unique("gate-err"), {"a": 2.0})
    args = [run if a == "RUN" else a for a in args]
    result = gate(server, tmp_path, yaml, *args, name="err")
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr


POLICY = """version: 1
default:
  aliases:
    champion:
      - tag: "cairn.gate.release = passed"
"""


def test_a_promotion_policy_can_require_a_passed_gate(tmp_path_factory, tmp_path):
    workdir = tmp_path_factory.mktemp("gate-policy")
    (workdir / "policy.yaml").write_text(POLICY)
    srv = CairnServer(workdir, extra_args=["--policy-file", str(workdir / "policy.yaml")])
    srv.start()
    try:
        client = MlflowClient(srv.url, registry_uri=srv.url)
        run = training_run(client, unique("gate-policy"), {"auc": 0.95})
        model = unique("gated")
        version = register(client, model, run)
        with pytest.raises(mlflow.exceptions.MlflowException) as refused:
            client.set_registered_model_alias(model, "champion", version)
        assert "cairn.gate.release" in str(refused.value)
        yaml = "version: 1\nname: release\nrules:\n  - metric: 'auc >= 0.9'\n"
        result = gate(srv, tmp_path, yaml, "--model-uri", f"models:/{model}/{version}")
        assert result.returncode == 0, result.stdout + result.stderr
        client.set_registered_model_alias(model, "champion", version)
        assert client.get_model_version_by_alias(model, "champion").version == version
    finally:
        srv.stop()
