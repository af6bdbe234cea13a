"""Experiments through the real mlflow client (client_trace.md flows 1, 2, 23, 32)."""

import mlflow
import pytest
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException

from cairn_helpers import unique


def test_default_experiment_exists(client):
    exp = client.get_experiment("0")
    assert exp.experiment_id == "0"
    assert exp.name == "Default"
    assert exp.lifecycle_stage == "active"
    assert client.get_experiment_by_name("Default").experiment_id == "0"


def test_create_experiment_with_tags(client):
    name = unique("exp")
    eid = client.create_experiment(name, tags={"team": "vision", "priority": "1"})
    assert eid and eid != "0"
    exp = client.get_experiment(eid)
    assert exp.experiment_id == eid
    assert exp.name == name
    assert exp.tags == {"team": "vision", "priority": "1"}
    assert exp.lifecycle_stage == "active"
    assert exp.artifact_location == f"mlflow-artifacts:/{eid}"
    assert exp.creation_time and exp.creation_time > 1_600_000_000_000
    assert exp.last_update_time >= exp.creation_time
    by_name = client.get_experiment_by_name(name)
    assert by_name is not None and by_name.experiment_id == eid and by_name.tags == exp.tags


def test_experiment_ids_are_distinct(client):
    ids = {client.create_experiment(unique("distinct")) for _ in range(3)}
    assert len(ids) == 3


def test_get_experiment_by_name_missing_returns_none(client):
    assert client.get_experiment_by_name(unique("does-not-exist")) is None


def test_set_experiment_get_or_create(server, client):
    name = unique("fluent")
    assert client.get_experiment_by_name(name) is None
    created = mlflow.set_experiment(name)
    assert created.name == name
    assert client.get_experiment_by_name(name).experiment_id == created.experiment_id
    again = mlflow.set_experiment(name)
    assert again.experiment_id == created.experiment_id
    by_id = mlflow.set_experiment(experiment_id=created.experiment_id)
    assert by_id.name == name
    # runs started now land in it
    with mlflow.start_run() as run:
        pass
    assert client.get_run(run.info.run_id).info.experiment_id == created.experiment_id


def test_search_experiments_filter_and_order(client):
    prefix = unique("search")
    names = [f"{prefix}-b", f"{prefix}-a", f"{prefix}-c"]
    ids = {}
    for i, n in enumerate(names):
        ids[n] = client.create_experiment(n, tags={"parity": "even" if i % 2 == 0 else "odd"})

    asc = client.search_experiments(filter_string=f"name LIKE '{prefix}%'", order_by=["name ASC"])
    assert [e.name for e in asc] == sorted(names)
    desc = client.search_experiments(filter_string=f"name LIKE '{prefix}%'", order_by=["name DESC"])
    assert [e.name for e in desc] == sorted(names, reverse=True)

    even = client.search_experiments(filter_string=f"name LIKE '{prefix}%' AND tags.parity = 'even'")
    assert sorted(e.name for e in even) == sorted([f"{prefix}-b", f"{prefix}-c"])

    exact = client.search_experiments(filter_string=f"name = '{prefix}-a'")
    assert [e.experiment_id for e in exact] == [ids[f"{prefix}-a"]]

    # paging: max_results=2 then the token
    page1 = client.search_experiments(
        filter_string=f"name LIKE '{prefix}%'", order_by=["name ASC"], max_results=2
    )
    assert [e.name for e in page1] == sorted(names)[:2]
    assert page1.token
    page2 = client.search_experiments(
        filter_string=f"name LIKE '{prefix}%'", order_by=["name ASC"], max_results=2, page_token=page1.token
    )
    assert [e.name for e in page2] == sorted(names)[2:]
    assert not page2.token


def test_rename_experiment(client):
    old, new = unique("old"), unique("new")
    eid = client.create_experiment(old)
    client.rename_experiment(eid, new)
    assert client.get_experiment(eid).name == new
    assert client.get_experiment_by_name(new).experiment_id == eid
    assert client.get_experiment_by_name(old) is None


def test_delete_and_restore_experiment(client):
    name = unique("del")
    eid = client.create_experiment(name)
    run = client.create_run(eid)
    client.delete_experiment(eid)
    exp = client.get_experiment(eid)
    assert exp.lifecycle_stage == "deleted"

    active = client.search_experiments(filter_string=f"name = '{name}'")
    assert [e.experiment_id for e in active] == []
    deleted = client.search_experiments(view_type=ViewType.DELETED_ONLY, filter_string=f"name = '{name}'")
    assert [e.experiment_id for e in deleted] == [eid]
    every = client.search_experiments(view_type=ViewType.ALL, filter_string=f"name = '{name}'")
    assert [e.experiment_id for e in every] == [eid]

    # the name stays reserved while the experiment is deleted
    with pytest.raises(MlflowException) as exc:
        client.create_experiment(name)
    assert exc.value.error_code == "RESOURCE_ALREADY_EXISTS"

    client.restore_experiment(eid)
    assert client.get_experiment(eid).lifecycle_stage == "active"
    assert client.get_run(run.info.run_id).info.lifecycle_stage == "active"
    assert [e.experiment_id for e in client.search_experiments(filter_string=f"name = '{name}'")] == [eid]


def test_experiment_tags_set_update_delete(client):
    eid = client.create_experiment(unique("tags"), tags={"a": "1"})
    client.set_experiment_tag(eid, "b", "2")
    client.set_experiment_tag(eid, "a", "overwritten")
    assert client.get_experiment(eid).tags == {"a": "overwritten", "b": "2"}
    client.delete_experiment_tag(eid, "a")
    assert client.get_experiment(eid).tags == {"b": "2"}


def test_fluent_experiment_tag(experiment, client):
    mlflow.set_experiment_tag("fluent.key", "fluent value")
    assert client.get_experiment(experiment).tags["fluent.key"] == "fluent value"


def test_get_missing_experiment_raises_not_found(client):
    with pytest.raises(MlflowException) as exc:
        client.get_experiment("987654321")
    assert exc.value.error_code == "RESOURCE_DOES_NOT_EXIST"
