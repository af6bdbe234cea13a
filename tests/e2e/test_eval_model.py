"""`cairn eval --model`: scikit-learn models converted with skl2onnx, logged and aliased with the real
mlflow client, scored by cairn on ONNX Runtime over a CSV or Parquet dataset. Every metric is checked
against scikit-learn computed on the predictions onnxruntime's Python API gives for the same ONNX
model (the same float32 arithmetic, one thread per session: 1e-9), the labels against scikit-learn's
own predict (exactly), the probabilities against predict_proba (1e-5); slices, --predictions-out,
the run record and the exit-2 messages."""

from __future__ import annotations

import json
import os
import subprocess

import mlflow
import numpy as np
import pandas as pd
import pytest
import requests
from mlflow import MlflowClient
from mlflow.models import infer_signature
from sklearn import metrics as skm

from cairn_helpers import cairn_bin, unique
from eval_helpers import Evaluation, assert_metrics, binary_metrics, close, ece, label_metrics, regression_metrics

onnxruntime = pytest.importorskip("onnxruntime")
pytest.importorskip("skl2onnx")

from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris  # noqa: E402
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from skl2onnx import convert_sklearn  # noqa: E402
from skl2onnx.common.data_types import FloatTensorType  # noqa: E402

SITES = ["north", "south", "east"]


def _dylib() -> str:
    capi = os.path.join(os.path.dirname(onnxruntime.__file__), "capi")
    return os.path.join(capi, sorted(f for f in os.listdir(capi) if f.startswith("libonnxruntime.so"))[0])


def cairn_eval_model(model_uri: str, data, *args: str, env: dict | None = None) -> Evaluation:
    """`cairn eval --model MODEL_URI DATA --json - ARGS`, ONNX Runtime from the test venv."""
    environment = dict(os.environ, ORT_DYLIB_PATH=_dylib()) if env is None else env
    result = subprocess.run(
        [cairn_bin(), "eval", "--model", model_uri, str(data), "--json", "-", *args],
        capture_output=True, text=True, timeout=300, env=environment, stdin=subprocess.DEVNULL,
    )
    return Evaluation(result.returncode, result.stdout, result.stderr)


def ort_outputs(onnx_model, features: pd.DataFrame) -> list:
    """What onnxruntime's Python API predicts for `features` (as float32, the model's input type).

    One thread per session, as cairn's sessions run: a tree ensemble summed by several threads adds
    its trees in another order, which moves a float32 probability by an ulp."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        onnx_model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    [model_input] = session.get_inputs()
    return session.run(None, {model_input.name: features.to_numpy().astype(np.float32)})


def zipmap_matrix(maps: list[dict], classes) -> np.ndarray:
    """ZipMap's per-row dicts as a matrix, clipped to [0, 1] as cairn clips them: a forest's float32
    vote average can come out one ulp above 1 (1.0000001), which scikit-learn's metrics refuse."""
    matrix = np.array([[row[c] for c in classes] for row in maps], dtype=np.float64)
    assert matrix.min() >= -1e-6 and matrix.max() <= 1 + 1e-6
    return np.clip(matrix, 0.0, 1.0)


def register(onnx_model, name: str, signature=None) -> tuple[str, str, str]:
    """Logs `onnx_model` with mlflow.onnx.log_model, registers it as `name`, aliases version @champion;
    returns (version, the run that logged it, the logged model's id)."""
    client = MlflowClient()
    with mlflow.start_run() as run:
        info = mlflow.onnx.log_model(onnx_model, name="model", signature=signature, registered_model_name=name)
    version = str(info.registered_model_version)
    client.set_registered_model_alias(name, "champion", version)
    return version, run.info.run_id, info.model_id


def with_sites(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = frame.reset_index(drop=True).copy()
    out["site"] = rng.choice(SITES, len(out))
    return out


@pytest.fixture(scope="module")
def binary(server):
    """A scaled logistic regression on breast cancer (30 numeric features whose names hold spaces),
    logged with a column signature and aliased @champion; the held-out half is the eval set."""
    mlflow.set_experiment(unique("eval-model"))
    data = load_breast_cancer(as_frame=True)
    x_train, x_test, y_train, y_test = train_test_split(data.data, data.target, test_size=0.5, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(x_train, y_train)
    onnx_model = convert_sklearn(model, initial_types=[("float_input", FloatTensorType([None, x_train.shape[1]]))])
    name = unique("cancer-lr")
    version, run_id, model_id = register(onnx_model, name, infer_signature(x_train, model.predict(x_train)))
    frame = with_sites(x_test.assign(target=y_test.to_numpy()), 1)
    return {"name": name, "version": version, "run_id": run_id, "model_id": model_id, "model": model,
            "onnx": onnx_model, "frame": frame, "features": list(x_train.columns)}


@pytest.fixture(scope="module")
def multiclass(server):
    """A shallow random forest on iris with string labels, logged with a signature."""
    data = load_iris(as_frame=True)
    species = data.target_names[data.target.to_numpy()]
    x_train, x_test, y_train, y_test = train_test_split(data.data, species, test_size=0.5, random_state=3)
    model = RandomForestClassifier(n_estimators=10, max_depth=2, random_state=0).fit(x_train, y_train)
    onnx_model = convert_sklearn(model, initial_types=[("float_input", FloatTensorType([None, 4]))])
    name = unique("iris-rf")
    version, _, _ = register(onnx_model, name, infer_signature(x_train, model.predict(x_train)))
    frame = with_sites(x_test.assign(species=y_test), 2)
    return {"name": name, "version": version, "model": model, "onnx": onnx_model, "frame": frame,
            "features": list(x_train.columns)}


@pytest.fixture(scope="module")
def regression(server):
    """Gradient boosting on diabetes, logged without a signature (a bare [N, 10] float input)."""
    data = load_diabetes(as_frame=True)
    x_train, x_test, y_train, y_test = train_test_split(data.data, data.target, test_size=0.5, random_state=0)
    model = GradientBoostingRegressor(n_estimators=60, max_depth=3, random_state=0).fit(x_train, y_train)
    onnx_model = convert_sklearn(model, initial_types=[("float_input", FloatTensorType([None, 10]))])
    name = unique("diabetes-gb")
    version, _, _ = register(onnx_model, name)
    frame = with_sites(x_test.assign(progression=y_test.to_numpy()), 3)
    return {"name": name, "version": version, "model": model, "onnx": onnx_model, "frame": frame,
            "features": list(x_train.columns)}


def test_binary_model_matches_scikit_learn_overall_and_per_slice(binary, server, tmp_path):
    frame = binary["frame"]
    path = tmp_path / "holdout.csv"
    frame.to_csv(path, index=False)
    # Small batches: many model calls, spread over the sessions, accumulated in row order.
    doc = cairn_eval_model(
        f"models:/{binary['name']}@champion", path, "--label-col", "target", "--slice-by", "site",
        "--tracking-uri", server.url, "--batch-rows", "64",
    ).doc
    labels, maps = ort_outputs(binary["onnx"], frame[binary["features"]])
    proba = zipmap_matrix(maps, [0, 1])
    # onnxruntime agrees with scikit-learn: labels exactly, probabilities to float32 precision.
    features = frame[binary["features"]]
    assert labels.tolist() == binary["model"].predict(features).tolist()
    np.testing.assert_allclose(proba, binary["model"].predict_proba(features), atol=1e-5, rtol=0)
    y = frame["target"].to_numpy()
    assert doc["task"] == "classification" and doc["classes"] == ["0", "1"] and doc["pos_label"] == "1"
    overall = doc["overall"]
    assert_metrics(overall["metrics"], binary_metrics(y, labels, proba[:, 1], 1))
    assert overall["confusion_matrix"] == skm.confusion_matrix(y, labels).tolist()
    [column] = doc["slices"]
    assert column["column"] == "site" and [s["value"] for s in column["slices"]] == sorted(SITES)
    sites = frame["site"].to_numpy()
    for slice_ in column["slices"]:
        mask = sites == slice_["value"]
        assert slice_["rows"] == int(mask.sum())
        expected = binary_metrics(y[mask], labels[mask], proba[mask, 1], 1)
        assert_metrics(slice_["metrics"], expected, f"site={slice_['value']}")
    # One call per batch of 8192 (the default) gives the same document.
    again = cairn_eval_model(
        f"models:/{binary['name']}@champion", path, "--label-col", "target", "--slice-by", "site",
        "--tracking-uri", server.url,
    ).doc
    assert again == doc


def test_predictions_out_holds_what_was_evaluated(binary, server, tmp_path):
    frame = binary["frame"]
    path = tmp_path / "holdout.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "scored.csv"
    result = cairn_eval_model(
        f"models:/{binary['name']}@champion", path, "--label-col", "target", "--slice-by", "site",
        "--predictions-out", str(out), "--tracking-uri", server.url,
    )
    doc = result.doc
    assert f"({binary['name']} version {binary['version']})" in result.stderr
    scored = pd.read_csv(out)
    assert list(scored.columns) == ["target", "site", "prediction", "proba_0", "proba_1"]
    labels, maps = ort_outputs(binary["onnx"], frame[binary["features"]])
    proba = zipmap_matrix(maps, [0, 1])
    assert scored["target"].tolist() == frame["target"].tolist()
    assert scored["site"].tolist() == frame["site"].tolist()
    assert scored["prediction"].tolist() == labels.tolist()
    # Written as the float32 values widened to float64, shortest round-trip: read back exactly.
    assert np.array_equal(scored[["proba_0", "proba_1"]].to_numpy(), proba)
    # Evaluating the written predictions as a predictions file gives the same document.
    from eval_helpers import cairn_eval

    replay = cairn_eval(out, "--label-col", "target", "--prediction-col", "prediction", "--proba-col", "proba_1",
                        "--slice-by", "site").doc
    assert replay == doc


def test_multiclass_forest_on_parquet_matches_scikit_learn(multiclass, server, tmp_path):
    pytest.importorskip("pyarrow")
    frame = multiclass["frame"]
    path = tmp_path / "iris.parquet"
    frame.to_parquet(path, index=False)
    doc = cairn_eval_model(
        f"models:/{multiclass['name']}@champion", path, "--label-col", "species", "--slice-by", "site",
        "--tracking-uri", server.url,
    ).doc
    classes = np.array(sorted(frame["species"].unique()))
    features = frame[multiclass["features"]]
    labels, maps = ort_outputs(multiclass["onnx"], features)
    assert list(maps[0]) == list(classes)
    proba = zipmap_matrix(maps, classes)
    assert labels.tolist() == multiclass["model"].predict(features).tolist()
    np.testing.assert_allclose(proba, multiclass["model"].predict_proba(features), atol=1e-5, rtol=0)
    assert doc["classes"] == list(classes) and "pos_label" not in doc
    y = frame["species"].to_numpy()

    def expected_metrics(mask):
        y_, labels_, proba_ = y[mask], labels[mask], proba[mask]
        expected = label_metrics(y_, labels_)
        if len(np.unique(y_)) == len(classes):  # the curves need every class present
            expected.update(
                roc_auc=skm.roc_auc_score(y_, proba_, multi_class="ovr", labels=classes),
                roc_auc_weighted=skm.roc_auc_score(y_, proba_, multi_class="ovr", average="weighted", labels=classes),
                precision_recall_auc=skm.average_precision_score(y_, proba_),
                precision_recall_auc_weighted=skm.average_precision_score(y_, proba_, average="weighted"),
            )
        expected.update(
            log_loss=skm.log_loss(y_, proba_, labels=classes),
            brier_score_loss=skm.brier_score_loss(y_, proba_, labels=classes),
            expected_calibration_error=ece((classes[proba_.argmax(axis=1)] == y_).astype(int), proba_.max(axis=1)),
        )
        return expected

    everything = np.ones(len(y), dtype=bool)
    assert_metrics(doc["overall"]["metrics"], expected_metrics(everything))
    assert doc["overall"]["confusion_matrix"] == skm.confusion_matrix(y, labels, labels=classes).tolist()
    per_class_auc = skm.roc_auc_score(y, proba, multi_class="ovr", average=None, labels=classes)
    for index, row in enumerate(doc["overall"]["per_class"]):
        assert row["class"] == classes[index]
        close(row["roc_auc"], per_class_auc[index], f"roc_auc {row['class']}")
    sites = frame["site"].to_numpy()
    for slice_ in doc["slices"][0]["slices"]:
        assert_metrics(slice_["metrics"], expected_metrics(sites == slice_["value"]), f"site={slice_['value']}")
    # The same rows as CSV give the same document.
    frame.to_csv(tmp_path / "iris.csv", index=False)
    from_csv = cairn_eval_model(
        f"models:/{multiclass['name']}@champion", tmp_path / "iris.csv", "--label-col", "species",
        "--slice-by", "site", "--tracking-uri", server.url,
    ).doc
    assert from_csv == doc


def test_regression_without_signature_feeds_every_other_column(regression, server, tmp_path):
    frame = regression["frame"]
    path = tmp_path / "diabetes.csv"
    frame.to_csv(path, index=False)
    uri = f"models:/{regression['name']}/{regression['version']}"
    doc = cairn_eval_model(uri, path, "--label-col", "progression", "--slice-by", "site",
                           "--tracking-uri", server.url).doc
    features = frame[regression["features"]]
    [predicted] = ort_outputs(regression["onnx"], features)
    predicted = predicted.ravel().astype(np.float64)
    np.testing.assert_allclose(predicted, regression["model"].predict(features), rtol=1e-4)
    y = frame["progression"].to_numpy()
    assert doc["task"] == "regression"
    assert_metrics(doc["overall"]["metrics"], regression_metrics(y, predicted))
    sites = frame["site"].to_numpy()
    for slice_ in doc["slices"][0]["slices"]:
        mask = sites == slice_["value"]
        assert_metrics(slice_["metrics"], regression_metrics(y[mask], predicted[mask]), f"site={slice_['value']}")
    # An extra column: the default no longer fits the [N, 10] input, --feature-cols picks the ten.
    frame.assign(row_id=np.arange(len(frame))).to_csv(tmp_path / "with_id.csv", index=False)
    refused = cairn_eval_model(uri, tmp_path / "with_id.csv", "--label-col", "progression",
                               "--slice-by", "site", "--tracking-uri", server.url)
    assert refused.code == 2, refused.stderr
    assert "takes 10 features per row, the data has 11 columns" in refused.stderr
    assert "--feature-cols" in refused.stderr
    picked = cairn_eval_model(uri, tmp_path / "with_id.csv", "--label-col", "progression", "--slice-by", "site",
                              "--feature-cols", ",".join(regression["features"]), "--tracking-uri", server.url).doc
    assert picked["overall"] == doc["overall"]


def test_local_onnx_file_with_feature_columns(regression, tmp_path):
    frame = regression["frame"]
    model_path = tmp_path / "model.onnx"
    model_path.write_bytes(regression["onnx"].SerializeToString())
    # Columns in another order in the file: --feature-cols gives the model's order.
    shuffled = frame[["progression", "site", *reversed(regression["features"])]]
    shuffled.to_csv(tmp_path / "shuffled.csv", index=False)
    doc = cairn_eval_model(str(model_path), tmp_path / "shuffled.csv", "--label-col", "progression",
                           "--feature-cols", ",".join(regression["features"]), "--task", "regression").doc
    [predicted] = ort_outputs(regression["onnx"], frame[regression["features"]])
    assert_metrics(doc["overall"]["metrics"], regression_metrics(frame["progression"].to_numpy(),
                                                                 predicted.ravel().astype(np.float64)))


def test_the_run_records_the_model(binary, server, tmp_path):
    frame = binary["frame"]
    path = tmp_path / "holdout.csv"
    frame.to_csv(path, index=False)
    experiment = unique("eval-model-run")
    uri = f"models:/{binary['name']}@champion"
    result = cairn_eval_model(uri, path, "--label-col", "target", "--slice-by", "site",
                              "--tracking-uri", server.url, "--experiment", experiment)
    doc = result.doc
    run_id = next(line.removeprefix("logged to run ").strip() for line in result.stderr.splitlines()
                  if line.startswith("logged to run "))
    client = MlflowClient(server.url)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == f"eval of {binary['name']} v{binary['version']} on holdout"
    metrics = run.data.metrics
    for name, value in doc["overall"]["metrics"].items():
        if value is not None:
            assert metrics[name] == value, name
    slices = {s["value"]: s for s in doc["slices"][0]["slices"]}
    assert metrics["slice/site:north/roc_auc"] == slices["north"]["metrics"]["roc_auc"]
    tags = run.data.tags
    version = client.get_model_version(binary["name"], binary["version"])
    assert tags["eval.model_uri"] == uri
    assert tags["eval.model_name"] == binary["name"]
    assert tags["eval.model_version"] == binary["version"]
    assert tags["eval.model_run_id"] == binary["run_id"] == version.run_id
    assert tags["eval.task"] == "classification" and tags["eval.label_col"] == "target"
    [dataset_input] = run.inputs.dataset_inputs
    assert dataset_input.dataset.name == "holdout"
    assert json.loads(dataset_input.dataset.profile)["num_rows"] == len(frame)
    # The logged model behind the version is the run's model input (lineage: model -> eval run).
    # (mlflow's ModelVersion entity drops model_id; the version's source names it.)
    model_id = binary["model_id"]
    assert version.source == f"models:/{model_id}"
    assert tags["eval.model_id"] == model_id
    assert [m.model_id for m in run.inputs.model_inputs] == [model_id]
    lineage = requests.get(f"{server.url}/api/2.0/cairn/lineage",
                           params={"uri": uri, "direction": "downstream"}, timeout=30).json()
    assert run_id in [n["attributes"].get("run_id") for n in lineage["nodes"] if n["type"] == "run"]
    names = {f.path for f in client.list_artifacts(run_id, "eval")}
    assert {"eval/eval.json", "eval/roc_curve.svg", "eval/slices_site.csv"} <= names


def test_a_local_model_is_recorded_by_its_path(binary, server, tmp_path):
    frame = binary["frame"]
    frame.to_csv(tmp_path / "holdout.csv", index=False)
    model_path = tmp_path / "lr.onnx"
    model_path.write_bytes(binary["onnx"].SerializeToString())
    run_id = MlflowClient(server.url).create_run(
        mlflow.set_experiment(unique("eval-model-local")).experiment_id).info.run_id
    result = cairn_eval_model(str(model_path), tmp_path / "holdout.csv", "--label-col", "target",
                              "--feature-cols", ",".join(binary["features"]),
                              "--tracking-uri", server.url, "--run-id", run_id)
    assert result.code == 0, result.stderr
    tags = MlflowClient(server.url).get_run(run_id).data.tags
    assert tags["eval.model_uri"] == str(model_path)
    assert "eval.model_name" not in tags and "eval.model_id" not in tags


def test_errors_exit_2_with_a_plain_message(binary, server, tmp_path):
    frame = binary["frame"]
    uri = f"models:/{binary['name']}@champion"
    missing = binary["features"][3]
    frame.drop(columns=[missing]).to_csv(tmp_path / "missing.csv", index=False)
    frame.to_csv(tmp_path / "holdout.csv", index=False)
    bad_cell = frame.astype({missing: object})
    bad_cell.loc[5, missing] = "n/a?"
    bad_cell.to_csv(tmp_path / "bad_cell.csv", index=False)
    (tmp_path / "empty.csv").write_text(",".join(frame.columns) + "\n")
    not_onnx = tmp_path / "sklearn-model"
    import mlflow.sklearn

    mlflow.sklearn.save_model(binary["model"], str(not_onnx))
    holdout = tmp_path / "holdout.csv"
    tracking = ("--tracking-uri", server.url)
    cases = [
        # The signature names a column the data lacks.
        (uri, tmp_path / "missing.csv", tracking, f'the model takes column "{missing}", which the data lacks'),
        (uri, holdout, ("--feature-cols", "nope", *tracking), '--feature-cols "nope": no such column'),
        (uri, tmp_path / "bad_cell.csv", tracking, f'bad_cell.csv:7: column "{missing}": not a number: "n/a?"'),
        (uri, holdout, ("--slice-by", "nope", *tracking), '--slice-by "nope": no such column'),
        (uri, tmp_path / "empty.csv", tracking, "the data holds no row"),
        (str(tmp_path / "nowhere.onnx"), holdout, (), f"{tmp_path / 'nowhere.onnx'} is neither a model URI"),
        (str(not_onnx), holdout, (), "has no `onnx` flavor"),
        (f"models:/{unique('absent')}@champion", holdout, tracking, "resolving models:/absent-"),
        (uri, holdout, (), "needs a tracking server: pass --tracking-uri or set MLFLOW_TRACKING_URI"),
        (uri, holdout, ("--pos-label", "7", *tracking), '--pos-label "7" is not a class of the model'),
    ]
    env = dict(os.environ, ORT_DYLIB_PATH=_dylib())
    env.pop("MLFLOW_TRACKING_URI", None)
    for model, data, extra, message in cases:
        result = cairn_eval_model(model, data, "--label-col", "target", *extra, env=env)
        assert result.code == 2, (model, extra, result.code, result.stderr)
        assert message in result.stderr, (model, extra, result.stderr)
        assert "panicked" not in result.stderr
        assert result.stdout == ""
    # --model takes no predictions columns.
    clash = subprocess.run([cairn_bin(), "eval", "--model", uri, str(holdout), "--label-col", "target",
                            "--prediction-col", "p"], capture_output=True, text=True, timeout=30)
    assert clash.returncode == 2 and "--prediction-col" in clash.stderr


def test_missing_onnx_runtime_says_how_to_get_it(binary, tmp_path):
    model_path = tmp_path / "lr.onnx"
    model_path.write_bytes(binary["onnx"].SerializeToString())
    binary["frame"].to_csv(tmp_path / "holdout.csv", index=False)
    env = dict(os.environ, CAIRN_SERVE_NO_PYTHON_LOOKUP="1")
    env.pop("ORT_DYLIB_PATH", None)
    result = cairn_eval_model(str(model_path), tmp_path / "holdout.csv", "--label-col", "target", env=env)
    assert result.code == 2, result.stderr
    assert "ONNX Runtime not found" in result.stderr
    assert "pip install onnxruntime" in result.stderr and "ORT_DYLIB_PATH" in result.stderr
    assert result.stdout == ""
