"""Governance with the real mlflow client: promotion policies enforced by the server, the audit
log, naming conventions, lineage, and the `cairn` CLI commands over them.

One dedicated server, started with `--policy-file`, so the shared server's tests stay policy-free.
"""

from __future__ import annotations

import json
import subprocess
import time

import mlflow
import numpy as np
import pandas as pd
import pytest
import requests
from mlflow import MlflowClient
from mlflow.entities import LoggedModelInput
from mlflow.exceptions import MlflowException
from sklearn.linear_model import LogisticRegression

from cairn_helpers import CairnServer, cairn_bin

POLICY = """
version: 1
naming:
  registered_model_name:
    template: "{team}-{model}"
    chars: "a-z0-9"
  experiment_name:
    regex: "^gov-[a-z0-9-]+$"
    example: "gov-fraud"
  metric_key:
    regex: "^[a-z][a-z0-9_]*$"
default:
  aliases:
    champion:
      - metric: "val_auc >= 0.9"
      - vs_current: { metric: val_auc, max_drop: 0.01 }
      - tag: "validation.status = passed"
      - dataset_input: training
      - max_run_age: 7d
  stages:
    Production:
      - metric: "val_auc >= 0.85"
"""

MODEL = "risk-fraud"


@pytest.fixture(scope="module")
def gov(tmp_path_factory, server):
    """A second server with a policy file; the fluent API points at it for the module."""
    workdir = tmp_path_factory.mktemp("cairn-governance")
    policy_path = workdir / "policy.yaml"
    policy_path.write_text(POLICY)
    srv = CairnServer(workdir, extra_args=["--policy-file", str(policy_path)])
    srv.start()
    srv.policy_path = policy_path
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(srv.url)
    mlflow.set_registry_uri(srv.url)
    try:
        yield srv
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(previous)
        mlflow.set_registry_uri(previous)
        rc = srv.stop()
        assert "panicked" not in srv.log_text()
        assert rc == 0


@pytest.fixture(scope="module")
def gclient(gov) -> MlflowClient:
    return MlflowClient(tracking_uri=gov.url, registry_uri=gov.url)


def cli(gov, *args, check_rc=None):
    """Runs the cairn CLI against the governance server; returns (rc, stdout)."""
    proc = subprocess.run(
        [cairn_bin(), *args, "--tracking-uri", gov.url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check_rc is not None:
        assert proc.returncode == check_rc, f"rc={proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc.returncode, proc.stdout + proc.stderr


def train_version(val_auc: float, validated: bool = True, with_dataset: bool = True) -> tuple[str, str]:
    """Logs a training run the way a user would and registers its model; returns (run_id, version)."""
    X = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.9, 0.1]])
    y = np.array([0, 1, 0, 1])
    with mlflow.start_run() as run:
        if with_dataset:
            frame = pd.DataFrame(X, columns=["a", "b"]).assign(label=y)
            dataset = mlflow.data.from_pandas(frame, name="transactions", targets="label")
            mlflow.log_input(dataset, context="training")
        mlflow.log_metric("val_auc", val_auc)
        if validated:
            mlflow.set_tag("validation.status", "passed")
        model = LogisticRegression().fit(X, y)
        mlflow.sklearn.log_model(model, name="model", registered_model_name=MODEL)
    versions = MlflowClient().search_model_versions(f"name = '{MODEL}' and run_id = '{run.info.run_id}'")
    assert len(versions) == 1
    return run.info.run_id, versions[0].version


@pytest.fixture(scope="module")
def flow(gov, gclient):
    """The module's registry story: an experiment that follows the naming rule, then versions."""
    experiment_id = gclient.create_experiment("gov-fraud")
    mlflow.set_experiment(experiment_id=experiment_id)
    state = {"experiment_id": experiment_id}
    state["v1_run"], state["v1"] = train_version(0.95)
    return state


# ---------------------------------------------------------------- naming conventions


def test_experiment_name_violation_is_refused_with_rule_and_example(gov, gclient):
    with pytest.raises(MlflowException) as info:
        gclient.create_experiment("Fraud Experiments")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    message = info.value.message
    assert "Fraud Experiments" in message
    assert "^gov-[a-z0-9-]+$" in message
    assert "gov-fraud" in message


def test_registered_model_name_template(gov, gclient):
    with pytest.raises(MlflowException) as info:
        gclient.create_registered_model("FraudModel")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "{team}-{model}" in info.value.message
    assert "team-model" in info.value.message  # the generated example
    created = gclient.create_registered_model("ops-churn")
    assert created.name == "ops-churn"
    with pytest.raises(MlflowException) as info:
        gclient.rename_registered_model("ops-churn", "Ops_Churn")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_metric_key_rule_spares_system_keys(gov, gclient, flow):
    run = gclient.create_run(flow["experiment_id"])
    with pytest.raises(MlflowException) as info:
        gclient.log_metric(run.info.run_id, "Val-AUC", 0.5)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException):
        gclient.log_batch(run.info.run_id, metrics=[mlflow.entities.Metric("Bad Key", 1.0, 0, 0)])
    # Keys MLflow writes itself stay allowed under any rule.
    gclient.log_metric(run.info.run_id, "system/cpu_utilization_percentage", 12.0)
    gclient.log_metric(run.info.run_id, "good_key", 1.0)
    metrics = gclient.get_run(run.info.run_id).data.metrics
    assert metrics == {"system/cpu_utilization_percentage": 12.0, "good_key": 1.0}


# ---------------------------------------------------------------- promotion policies


def test_first_champion_is_allowed(gov, gclient, flow):
    gclient.set_registered_model_alias(MODEL, "champion", flow["v1"])
    assert gclient.get_model_version_by_alias(MODEL, "champion").version == flow["v1"]


def test_worse_than_champion_is_refused_with_each_failed_rule(gov, gclient, flow):
    _, v2 = train_version(0.93)  # 0.02 below the champion: more than max_drop 0.01
    with pytest.raises(MlflowException) as info:
        gclient.set_registered_model_alias(MODEL, "champion", v2)
    assert info.value.error_code == "PERMISSION_DENIED"
    message = info.value.message
    assert "champion" in message and f"version {v2}" in message
    assert "val_auc" in message and "0.93" in message and "0.95" in message
    # Rules that passed are not listed as failures.
    assert "validation.status" not in message
    assert gclient.get_model_version_by_alias(MODEL, "champion").version == flow["v1"]
    flow["v2"] = v2


def test_missing_evidence_fails_and_version_tags_count(gov, gclient, flow):
    _, v3 = train_version(0.96, validated=False, with_dataset=False)
    with pytest.raises(MlflowException) as info:
        gclient.set_registered_model_alias(MODEL, "champion", v3)
    assert info.value.error_code == "PERMISSION_DENIED"
    message = info.value.message
    assert "validation.status" in message
    assert "training" in message  # the dataset-input rule
    # A tag on the version itself is evidence too; the dataset rule still fails.
    gclient.set_model_version_tag(MODEL, v3, "validation.status", "passed")
    with pytest.raises(MlflowException) as info:
        gclient.set_registered_model_alias(MODEL, "champion", v3)
    assert "validation.status" not in info.value.message
    assert "training" in info.value.message
    flow["v3"] = v3


def test_better_version_takes_the_alias(gov, gclient, flow):
    _, v4 = train_version(0.97)
    gclient.set_registered_model_alias(MODEL, "champion", v4)
    assert gclient.get_model_version_by_alias(MODEL, "champion").version == v4
    # Unprotected aliases are never judged.
    gclient.set_registered_model_alias(MODEL, "challenger", flow["v2"])
    flow["v4"] = v4


def test_stage_rules(gov, gclient, flow):
    _, low = train_version(0.8)
    with pytest.raises(MlflowException) as info:
        gclient.transition_model_version_stage(MODEL, low, "Production")
    assert info.value.error_code == "PERMISSION_DENIED"
    assert "val_auc >= 0.85" in info.value.message
    assert gclient.get_model_version(MODEL, low).current_stage == "None"
    assert gclient.transition_model_version_stage(MODEL, low, "Staging").current_stage == "Staging"
    assert gclient.transition_model_version_stage(MODEL, flow["v4"], "production").current_stage == "Production"
    flow["low"] = low


def test_audit_log_records_every_decision(gov, flow):
    answer = requests.get(f"{gov.url}/api/2.0/cairn/registered-models/audit", params={"name": MODEL}, timeout=30)
    assert answer.status_code == 200, answer.text
    decisions = answer.json()["decisions"]
    summary = [(d["version"], d["target"], d["action"], d["allowed"]) for d in decisions]
    expected = [
        (flow["v4"], "Production", "transition_stage", True),
        (flow["low"], "Production", "transition_stage", False),
        (flow["v4"], "champion", "set_alias", True),
        (flow["v3"], "champion", "set_alias", False),
        (flow["v3"], "champion", "set_alias", False),
        (flow["v2"], "champion", "set_alias", False),
        (flow["v1"], "champion", "set_alias", True),
    ]
    assert summary == expected
    refused = decisions[1]
    assert refused["user"] == "anonymous"
    assert refused["policy_revision"] == 1
    results = refused["evaluation"]["results"]
    assert [r["passed"] for r in results] == [False]
    assert results[0]["actual"] == "0.8"
    ids = [d["id"] for d in decisions]
    assert ids == sorted(ids, reverse=True)


def test_cli_promote_dry_run_and_history(gov, gclient, flow):
    rc, out = cli(gov, "models", "promote", MODEL, flow["low"], "--alias", "champion", "--dry-run", check_rc=1)
    assert "FAIL" in out and "metrics.val_auc >= 0.9" in out
    assert "dry run" in out
    assert gclient.get_model_version_by_alias(MODEL, "champion").version == flow["v4"]

    rc, out = cli(gov, "models", "promote", MODEL, flow["v4"], "--alias", "champion", "--dry-run", check_rc=0)
    assert "PASS" in out and "FAIL" not in out

    rc, out = cli(gov, "models", "history", MODEL, check_rc=0)
    assert out.count("REFUSED") == 4 and out.count("ALLOWED") == 3
    assert "champion" in out and "Production" in out

    # A real promotion through the CLI (the holder re-asserted), recorded with the Basic-auth user.
    proc = subprocess.run(
        [cairn_bin(), "models", "promote", MODEL, flow["v4"], "--alias", "champion", "--tracking-uri", gov.url],
        capture_output=True, text=True, timeout=60,
        env={"MLFLOW_TRACKING_USERNAME": "dana", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "allowed" in proc.stdout
    newest = requests.get(
        f"{gov.url}/api/2.0/cairn/registered-models/audit", params={"name": MODEL, "max_results": 1}, timeout=30
    ).json()["decisions"][0]
    assert (newest["user"], newest["action"], newest["allowed"]) == ("dana", "promote", True)
    assert gclient.get_model_version_by_alias(MODEL, "champion").version == flow["v4"]


# ---------------------------------------------------------------- lineage


def test_lineage_answers_which_data_trained_the_champion(gov, gclient, flow):
    answer = requests.get(
        f"{gov.url}/api/2.0/cairn/lineage",
        params={"uri": f"models:/{MODEL}@champion", "direction": "upstream"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    graph = answer.json()
    nodes = {n["id"]: n for n in graph["nodes"]}
    root = nodes[graph["root"]]
    assert root["type"] == "model_version" and root["label"] == f"{MODEL} version {flow['v4']}"
    assert "champion" in root["attributes"]["aliases"]
    by_type = {}
    for node in graph["nodes"]:
        by_type.setdefault(node["type"], []).append(node)
    version = gclient.get_model_version(MODEL, flow["v4"])
    run = gclient.get_run(version.run_id)
    (logged_model,) = by_type["logged_model"]
    # The client drops ModelVersion.model_id; MLflow 3 registers from `models:/<model_id>`.
    assert version.source.startswith("models:/m-")
    assert logged_model["attributes"]["model_id"] == version.source.removeprefix("models:/")
    (run_node,) = by_type["run"]
    assert run_node["attributes"]["run_id"] == run.info.run_id
    (dataset,) = by_type["dataset"]
    logged_dataset = run.inputs.dataset_inputs[0].dataset
    assert dataset["label"] == "transactions"
    assert dataset["attributes"]["digest"] == logged_dataset.digest
    assert dataset["attributes"]["context"] == "training"
    (code,) = by_type["code"]
    assert code["attributes"]["source_name"] == run.data.tags["mlflow.source.name"]
    edges = {(e["source"], e["target"], e["relation"]) for e in graph["edges"]}
    assert edges == {
        (logged_model["id"], root["id"], "registered_as"),
        (run_node["id"], logged_model["id"], "produced"),
        (dataset["id"], run_node["id"], "input"),
        (code["id"], run_node["id"], "code_of"),
    }


def test_lineage_downstream_and_cli(gov, gclient, flow):
    version = gclient.get_model_version(MODEL, flow["v4"])
    model_id = version.source.removeprefix("models:/")
    consumer = gclient.create_run(flow["experiment_id"], run_name="scoring")
    gclient.log_inputs(consumer.info.run_id, models=[LoggedModelInput(model_id=model_id)])
    answer = requests.get(
        f"{gov.url}/api/2.0/cairn/lineage",
        params={"name": MODEL, "version": flow["v4"], "direction": "downstream"},
        timeout=30,
    ).json()
    consumers = [n for n in answer["nodes"] if n["type"] == "run"]
    assert [n["attributes"]["run_id"] for n in consumers] == [consumer.info.run_id]

    rc, out = cli(gov, "lineage", f"models:/{MODEL}@champion", check_rc=0)
    assert out.splitlines()[0].startswith(f"model_version {MODEL} version {flow['v4']}")
    assert "<- input: dataset transactions" in out
    assert "-> input: run scoring" in out
    rc, out = cli(gov, "lineage", f"models:/{MODEL}/{flow['v4']}", "--format", "dot", check_rc=0)
    assert out.startswith("digraph lineage {") and "registered_as" in out
    rc, out = cli(gov, "lineage", f"runs:/{consumer.info.run_id}", "--format", "json", check_rc=0)
    assert json.loads(out)["root"] == f"run:{consumer.info.run_id}"

    bad = requests.get(f"{gov.url}/api/2.0/cairn/lineage", params={"uri": "models:/x/notanumber"}, timeout=30)
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    missing = requests.get(f"{gov.url}/api/2.0/cairn/lineage", params={"run_id": "0" * 32}, timeout=30)
    assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    # An unknown alias answers as MLflow's get-by-alias does.
    missing = requests.get(f"{gov.url}/api/2.0/cairn/lineage", params={"uri": "models:/nope@champion"}, timeout=30)
    assert missing.status_code == 400 and "alias champion not found" in missing.json()["message"]


# ---------------------------------------------------------------- the policy API


def test_policy_api_revisions_and_bad_policies(gov, gclient, flow, tmp_path):
    current = requests.get(f"{gov.url}/api/2.0/cairn/policy", timeout=30).json()
    assert current["revision"]["revision"] == 1
    assert current["revision"]["author"].startswith("policy-file:")
    assert "champion" in current["policy"]["default"]["aliases"]

    bad = requests.put(f"{gov.url}/api/2.0/cairn/policy", json={"yaml": "version: 2\n"}, timeout=30)
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    bad = requests.put(
        f"{gov.url}/api/2.0/cairn/policy",
        json={"yaml": "version: 1\ndefault:\n  aliases:\n    champion:\n      - metric: 'val_auc ~ 3'\n"},
        timeout=30,
    )
    assert bad.status_code == 400 and "val_auc ~ 3" in bad.json()["message"]

    relaxed = tmp_path / "relaxed.yaml"
    relaxed.write_text("version: 1\ndefault:\n  aliases:\n    champion:\n      - metric: 'val_auc >= 0.5'\n")
    rc, out = cli(gov, "policy", "set", str(relaxed), check_rc=0)
    assert "revision 2" in out
    # Now the 0.8 version may become champion, and naming is off.
    gclient.set_registered_model_alias(MODEL, "champion", flow["low"])
    gclient.create_experiment(f"Any Name {time.time()}")
    rc, out = cli(gov, "policy", "show", check_rc=0)
    assert "revision 2" in out and "val_auc >= 0.5" in out


def test_restart_keeps_policy_and_audit(gov, flow):
    rc = gov.stop()
    assert rc == 0
    # Restarting with the original file puts it back in force as a new revision.
    gov.start()
    current = requests.get(f"{gov.url}/api/2.0/cairn/policy", timeout=30).json()
    assert current["revision"]["revision"] == 3
    decisions = requests.get(
        f"{gov.url}/api/2.0/cairn/registered-models/audit", params={"name": MODEL, "max_results": 2}, timeout=30
    ).json()
    assert len(decisions["decisions"]) == 2 and "next_page_token" in decisions
    # The same file again: nothing new.
    gov.stop()
    gov.start()
    current = requests.get(f"{gov.url}/api/2.0/cairn/policy", timeout=30).json()
    assert current["revision"]["revision"] == 3


# ---------------------------------------------------------------- cairn lint


def test_lint_lists_offenders_in_an_existing_store(gov, tmp_path):
    policy = tmp_path / "lint.yaml"
    policy.write_text(
        "version: 1\n"
        "naming:\n"
        "  experiment_name:\n"
        "    regex: '^(gov-[a-z0-9-]+|Default)$'\n"
        "  artifact_path:\n"
        "    regex: '^[a-z0-9_./-]+$'\n"
        "    example: model.pkl\n"
    )
    store = ["--backend-store-uri", gov.backend_store_uri]
    proc = subprocess.run(
        [cairn_bin(), "lint", *store, "--policy-file", str(policy), "--artifacts-destination", str(gov.artifact_root), "--json"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    offenses = [json.loads(line) for line in proc.stdout.splitlines()]
    experiments = [o["value"] for o in offenses if o["kind"] == "experiment_name"]
    # Made while the relaxed policy was in force (test_policy_api_revisions_and_bad_policies).
    assert len(experiments) == 1 and experiments[0].startswith("Any Name")
    artifacts = {o["value"] for o in offenses if o["kind"] == "artifact_path"}
    assert "MLmodel" in artifacts  # what mlflow.sklearn.log_model writes (at the logged model root)
    assert "model.pkl" not in artifacts
    assert all(o["kind"] in ("experiment_name", "artifact_path") for o in offenses)

    # A policy without naming rules: nothing to report, exit 0.
    empty = tmp_path / "empty.yaml"
    empty.write_text("version: 1\n")
    proc = subprocess.run([cairn_bin(), "lint", *store, "--policy-file", str(empty)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 offender(s)" in proc.stdout
