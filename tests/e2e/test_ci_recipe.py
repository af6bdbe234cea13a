"""The CI recipe in examples/ci, end to end: `pipeline.sh` trains a scikit-learn model with plain
`mlflow`, validates the data, evaluates, gates, registers and promotes through cairn commands against
a server whose policy requires the passed gate. A model trained on shuffled labels is stopped at the
gate and nothing is registered."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mlflow import MlflowClient

from cairn_helpers import CairnServer, cairn_bin, unique

RECIPE = Path(__file__).resolve().parents[2] / "examples" / "ci"


def pipeline(server, data: Path, out: Path, model: str, *train_args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, MLFLOW_TRACKING_URI=server.url, CAIRN=cairn_bin(), PYTHON=sys.executable, MODEL=model)
    return subprocess.run(
        ["bash", str(RECIPE / "pipeline.sh"), str(data), str(out), *train_args],
        capture_output=True, text=True, timeout=300, env=env,
    )


def test_the_recipe_registers_a_good_model_and_stops_a_bad_one(tmp_path_factory, tmp_path):
    workdir = tmp_path_factory.mktemp("ci-recipe")
    srv = CairnServer(workdir, extra_args=["--policy-file", str(RECIPE / "policy.yaml")])
    srv.start()
    try:
        data = tmp_path / "churn.csv"
        subprocess.run([sys.executable, str(RECIPE / "make_data.py"), str(data)], check=True, timeout=60)
        model = unique("churn")
        good = pipeline(srv, data, tmp_path / "good", model, "--experiment", model)
        assert good.returncode == 0, good.stdout + good.stderr
        assert f"models:/{model}/1 is the champion" in good.stdout

        client = MlflowClient(srv.url, registry_uri=srv.url)
        champion = client.get_model_version_by_alias(model, "champion")
        run = client.get_run(champion.run_id)
        assert run.data.tags["validation.status"] == "passed"
        assert run.data.tags["cairn.gate.release"] == "passed"
        assert run.data.metrics["roc_auc"] > 0.7
        assert "slice_gap/region/accuracy_score" in run.data.metrics
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "gate")}
        assert artifacts == {"gate/release.json"}
        summary = (tmp_path / "good" / "summary.md").read_text()
        assert "### Gate `release`: ✅ passed" in summary

        bad = pipeline(srv, data, tmp_path / "bad", model, "--experiment", model, "--shuffle-labels")
        assert bad.returncode == 1, bad.stdout + bad.stderr
        assert "nothing registered" in bad.stderr
        assert "❌" in (tmp_path / "bad" / "gate.md").read_text()
        bad_run = (tmp_path / "bad" / "run_id").read_text()
        assert client.get_run(bad_run).data.tags["cairn.gate.release"] == "failed"
        assert [v.version for v in client.search_model_versions(f"name = '{model}'")] == ["1"]
        assert client.get_model_version_by_alias(model, "champion").version == "1"
    finally:
        srv.stop()
