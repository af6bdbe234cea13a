"""MLflow 3 logged models and the model registry with the real client (flows 14-17, 30, 31)."""

import mlflow
import mlflow.sklearn
import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow.entities import LoggedModelStatus
from mlflow.exceptions import MlflowException
from sklearn.linear_model import LinearRegression

from cairn_helpers import unique

X = np.array([[1.0, 2.0], [2.0, 3.0], [3.0, 5.0], [4.0, 1.0], [0.5, 0.5], [6.0, 2.0]])
Y = X @ np.array([1.5, -2.0]) + 0.5


@pytest.fixture(scope="module")
def registered(server):
    """sklearn model logged with registered_model_name, then registered again (version 2)."""
    client = MlflowClient(server.url, server.url)
    model = LinearRegression().fit(X, Y)
    name = unique("M")
    exp = mlflow.set_experiment(unique("models"))
    with mlflow.start_run() as run:
        mlflow.log_param("fit_intercept", True)
        mlflow.log_metric("rmse", 0.125)
        info = mlflow.sklearn.log_model(model, name="model", input_example=X[:2], registered_model_name=name)
    rid = run.info.run_id
    mv2 = mlflow.register_model(f"runs:/{rid}/model", name)
    return {
        "client": client,
        "model": model,
        "name": name,
        "info": info,
        "run_id": rid,
        "exp_id": exp.experiment_id,
        "mv2": mv2,
    }


def test_log_model_creates_logged_model_and_version_1(registered):
    info, client = registered["info"], registered["client"]
    assert info.model_id.startswith("m-") and len(info.model_id) == 34
    assert str(info.registered_model_version) == "1"
    assert info.run_id == registered["run_id"]
    mv1 = client.get_model_version(registered["name"], "1")
    assert mv1.version == "1"
    assert mv1.status == "READY"
    assert mv1.source == f"models:/{info.model_id}"
    assert mv1.run_id == registered["run_id"]
    assert mv1.current_stage == "None"


def test_register_model_again_gives_version_2(registered):
    mv2 = registered["mv2"]
    assert mv2.name == registered["name"]
    assert mv2.version == "2"
    assert mv2.status == "READY"
    assert mv2.run_id == registered["run_id"]
    assert mv2.source == f"models:/{registered['info'].model_id}"


def test_get_logged_model(registered):
    client, info = registered["client"], registered["info"]
    lm = client.get_logged_model(info.model_id)
    assert lm.model_id == info.model_id
    assert lm.name == "model"
    assert lm.experiment_id == registered["exp_id"]
    assert lm.source_run_id == registered["run_id"]
    assert lm.status == LoggedModelStatus.READY
    assert lm.artifact_location == f"mlflow-artifacts:/{registered['exp_id']}/models/{info.model_id}/artifacts"
    assert lm.params.get("fit_intercept") == "True"
    assert {m.key: m.value for m in (lm.metrics or [])} == {"rmse": 0.125}
    # log_model/register_model record the registered versions on the logged model
    assert registered["name"] in lm.tags.get("mlflow.modelVersions", "")


def test_logged_model_artifacts(registered):
    client, info = registered["client"], registered["info"]
    location = client.get_logged_model(info.model_id).artifact_location
    files = {f.path.rsplit("/", 1)[-1] for f in mlflow.artifacts.list_artifacts(artifact_uri=location)}
    for expected in ("MLmodel", "model.skops", "requirements.txt", "python_env.yaml", "conda.yaml", "input_example.json"):
        assert expected in files, files
    mlmodel = mlflow.artifacts.load_text(f"{location}/MLmodel")
    assert info.model_id in mlmodel and "sklearn" in mlmodel


def test_search_logged_models(registered):
    info, exp_id = registered["info"], registered["exp_id"]
    models = mlflow.search_logged_models(experiment_ids=[exp_id], output_format="list")
    assert [m.model_id for m in models] == [info.model_id]
    by_name = mlflow.search_logged_models(experiment_ids=[exp_id], filter_string="name = 'model'", output_format="list")
    assert [m.model_id for m in by_name] == [info.model_id]
    none = mlflow.search_logged_models(experiment_ids=[exp_id], filter_string="name = 'other'", output_format="list")
    assert none == []
    df = mlflow.search_logged_models(experiment_ids=[exp_id])
    assert list(df["model_id"]) == [info.model_id]


def test_logged_model_tags(registered):
    client, mid = registered["client"], registered["info"].model_id
    client.set_logged_model_tags(mid, {"quality": "gold", "k": "v"})
    tags = client.get_logged_model(mid).tags
    assert tags["quality"] == "gold" and tags["k"] == "v"
    client.delete_logged_model_tag(mid, "k")
    assert "k" not in client.get_logged_model(mid).tags


def test_alias_and_load_model_prediction(registered):
    client, name, model = registered["client"], registered["name"], registered["model"]
    client.set_registered_model_alias(name, "champion", "2")
    mv = client.get_model_version_by_alias(name, "champion")
    assert mv.version == "2"
    assert "champion" in mv.aliases
    rm = client.get_registered_model(name)
    assert rm.aliases == {"champion": "2"}

    loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    np.testing.assert_allclose(np.asarray(loaded.predict(X)), model.predict(X), rtol=1e-12)
    v1 = mlflow.sklearn.load_model(f"models:/{name}/1")
    np.testing.assert_allclose(v1.predict(X), model.predict(X), rtol=1e-12)
    np.testing.assert_allclose(v1.coef_, model.coef_)


def test_reserved_alias_rejected(registered):
    client, name = registered["client"], registered["name"]
    for alias in ("v1", "V12", "latest"):
        with pytest.raises(MlflowException) as exc:
            client.set_registered_model_alias(name, alias, "1")
        assert exc.value.error_code == "INVALID_PARAMETER_VALUE", alias


def test_search_model_versions_and_registered_models(registered):
    name = registered["name"]
    versions = mlflow.search_model_versions(filter_string=f"name='{name}'")
    assert sorted(v.version for v in versions) == ["1", "2"]
    assert {v.run_id for v in versions} == {registered["run_id"]}
    assert {v.status for v in versions} == {"READY"}

    client = registered["client"]
    found = client.search_registered_models(filter_string=f"name='{name}'")
    assert [m.name for m in found] == [name]
    assert max(int(v.version) for v in found[0].latest_versions) == 2
    like = client.search_registered_models(filter_string=f"name LIKE '{name[:-3]}%'")
    assert name in [m.name for m in like]
    assert client.search_registered_models(filter_string="name='no-such-model-xyz'") == []


def test_transition_stage_and_latest_versions(registered):
    client, name = registered["client"], registered["name"]
    mv = client.transition_model_version_stage(name, "1", "Staging")
    assert mv.current_stage == "Staging"
    assert client.get_model_version(name, "1").current_stage == "Staging"
    latest = client.get_latest_versions(name, stages=["Staging"])
    assert [v.version for v in latest] == ["1"]
    client.transition_model_version_stage(name, "1", "Production")
    assert [v.version for v in client.get_latest_versions(name, stages=["Production"])] == ["1"]
    assert client.get_latest_versions(name, stages=["Staging"]) == []


def test_registered_model_and_version_tags_descriptions(registered):
    client, name = registered["client"], registered["name"]
    client.set_registered_model_tag(name, "team", "ml")
    client.set_registered_model_tag(name, "tmp", "x")
    client.update_registered_model(name, description="the best model")
    rm = client.get_registered_model(name)
    assert rm.tags == {"team": "ml", "tmp": "x"}
    assert rm.description == "the best model"
    client.delete_registered_model_tag(name, "tmp")
    assert client.get_registered_model(name).tags == {"team": "ml"}

    client.set_model_version_tag(name, "2", "validated", "yes")
    client.set_model_version_tag(name, "2", "tmp", "1")
    client.update_model_version(name, "2", description="version two")
    mv = client.get_model_version(name, "2")
    assert mv.tags == {"validated": "yes", "tmp": "1"}
    assert mv.description == "version two"
    client.delete_model_version_tag(name, "2", "tmp")
    assert client.get_model_version(name, "2").tags == {"validated": "yes"}
    found = client.search_model_versions(f"name='{name}' and tag.validated='yes'")
    assert [v.version for v in found] == ["2"]


def test_registry_lifecycle_rename_delete(server, tmp_path):
    """A separate model: create, version, alias, rename, delete version, delete alias, delete model."""
    client = MlflowClient(server.url, server.url)
    model = LinearRegression().fit(X, Y)
    name, new_name = unique("life"), unique("renamed")
    mlflow.set_experiment(unique("lifecycle"))
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="m", registered_model_name=name)
    client.create_model_version(name, f"models:/{info.model_id}", model_id=info.model_id)
    client.set_registered_model_alias(name, "prod", "2")

    client.rename_registered_model(name, new_name)
    assert client.get_registered_model(new_name).name == new_name
    with pytest.raises(MlflowException) as exc:
        client.get_registered_model(name)
    assert exc.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert sorted(v.version for v in client.search_model_versions(f"name='{new_name}'")) == ["1", "2"]
    assert client.get_model_version_by_alias(new_name, "prod").version == "2"
    pred = mlflow.pyfunc.load_model(f"models:/{new_name}@prod").predict(X)
    np.testing.assert_allclose(np.asarray(pred), model.predict(X))

    client.delete_registered_model_alias(new_name, "prod")
    with pytest.raises(MlflowException) as exc:
        client.get_model_version_by_alias(new_name, "prod")
    assert exc.value.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")

    client.delete_model_version(new_name, "1")
    assert [v.version for v in client.search_model_versions(f"name='{new_name}'")] == ["2"]
    with pytest.raises(MlflowException) as exc:
        client.get_model_version(new_name, "1")
    assert exc.value.error_code == "RESOURCE_DOES_NOT_EXIST"

    client.delete_registered_model(new_name)
    with pytest.raises(MlflowException) as exc:
        client.get_registered_model(new_name)
    assert exc.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert client.search_model_versions(f"name='{new_name}'") == []


def test_create_registered_model_twice(server):
    client = MlflowClient(server.url, server.url)
    name = unique("dup")
    rm = client.create_registered_model(name, tags={"a": "b"}, description="d")
    assert rm.name == name and rm.tags == {"a": "b"} and rm.description == "d"
    with pytest.raises(MlflowException) as exc:
        client.create_registered_model(name)
    assert exc.value.error_code == "RESOURCE_ALREADY_EXISTS"
