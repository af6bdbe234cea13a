"""Artifacts through the proxy with the real client (flows 10-12, 24-26)."""

import hashlib
import os
from pathlib import Path

import mlflow
import pytest
from mlflow.exceptions import MlflowException

from cairn_helpers import json_or_none, raw_request

BLOB = bytes(range(256)) * 7


def make_tree(root: Path) -> dict[str, bytes]:
    files = {
        "a.txt": b"alpha\n",
        "nested/b.txt": b"beta beta\n",
        "nested/deeper/c.bin": BLOB,
        "nested/deeper/empty.txt": b"",
        "with space/d e.txt": "unicod\u00e9 \u2603\n".encode(),
    }
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return files


def read_tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)).replace(os.sep, "/"): p.read_bytes() for p in root.rglob("*") if p.is_file()
    }


@pytest.fixture(scope="module")
def logged(server, tmp_path_factory):
    """One run with every kind of artifact logged by the fluent API."""
    src = tmp_path_factory.mktemp("artifact-src")
    hello = src / "hello.txt"
    hello.write_text("hello world")
    tree_root = src / "tree"
    tree = make_tree(tree_root)
    mlflow.set_experiment("e2e-artifacts")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(hello))
        mlflow.log_artifact(str(hello), artifact_path="sub/dir")
        mlflow.log_artifacts(str(tree_root), artifact_path="data")
        mlflow.log_dict({"a": 1, "b": [1, 2, 3], "c": {"d": None}}, "config/dict.json")
        mlflow.log_dict({"y": "aml"}, "config/conf.yaml")
        mlflow.log_text("some text\nsecond line\n", "notes/readme.txt")
    return {"run": run, "tree": tree, "exp_id": run.info.experiment_id}


def listing(client, run_id, path=None):
    # stock MLflow leaves file_size out for an empty file; treat that as 0
    return {
        (f.path, f.is_dir, None if f.is_dir else (f.file_size or 0)) for f in client.list_artifacts(run_id, path)
    }


def test_list_artifacts_root(logged, client):
    rid = logged["run"].info.run_id
    entries = listing(client, rid)
    assert entries == {
        ("hello.txt", False, 11),
        ("sub", True, None),
        ("data", True, None),
        ("config", True, None),
        ("notes", True, None),
    }


def test_list_artifacts_subdirs(logged, client):
    rid = logged["run"].info.run_id
    assert listing(client, rid, "data") == {
        ("data/a.txt", False, 6),
        ("data/nested", True, None),
        ("data/with space", True, None),
    }
    assert listing(client, rid, "data/nested/deeper") == {
        ("data/nested/deeper/c.bin", False, len(BLOB)),
        ("data/nested/deeper/empty.txt", False, 0),
    }
    assert listing(client, rid, "sub/dir") == {("sub/dir/hello.txt", False, 11)}
    # a file, or a path that does not exist, lists as empty
    assert listing(client, rid, "hello.txt") == set()
    assert listing(client, rid, "no/such/dir") == set()


def test_artifacts_on_disk_under_destination(logged, server):
    rid, eid = logged["run"].info.run_id, logged["exp_id"]
    on_disk = server.artifact_root / eid / rid / "artifacts"
    assert (on_disk / "hello.txt").read_text() == "hello world"
    assert (on_disk / "data" / "nested" / "deeper" / "c.bin").read_bytes() == BLOB


def test_download_artifacts_dir(logged, tmp_path):
    rid = logged["run"].info.run_id
    local = mlflow.artifacts.download_artifacts(run_id=rid, artifact_path="data", dst_path=str(tmp_path))
    assert Path(local).name == "data"
    assert read_tree(Path(local)) == logged["tree"]


def test_download_whole_run(logged, tmp_path):
    rid = logged["run"].info.run_id
    local = Path(mlflow.artifacts.download_artifacts(run_id=rid, dst_path=str(tmp_path)))
    got = read_tree(local)
    assert got["hello.txt"] == b"hello world"
    assert got["sub/dir/hello.txt"] == b"hello world"
    assert got["notes/readme.txt"] == b"some text\nsecond line\n"
    assert {k.removeprefix("data/"): v for k, v in got.items() if k.startswith("data/")} == logged["tree"]


def test_download_single_file_by_uri(logged, tmp_path):
    rid = logged["run"].info.run_id
    local = mlflow.artifacts.download_artifacts(artifact_uri=f"runs:/{rid}/data/nested/deeper/c.bin", dst_path=str(tmp_path))
    assert Path(local).read_bytes() == BLOB


def test_load_dict_and_text(logged):
    rid = logged["run"].info.run_id
    assert mlflow.artifacts.load_dict(f"runs:/{rid}/config/dict.json") == {"a": 1, "b": [1, 2, 3], "c": {"d": None}}
    assert mlflow.artifacts.load_text(f"runs:/{rid}/config/conf.yaml").strip() == "y: aml"
    assert mlflow.artifacts.load_text(f"runs:/{rid}/notes/readme.txt") == "some text\nsecond line\n"


def test_download_missing_artifact_fails(logged, tmp_path):
    rid = logged["run"].info.run_id
    with pytest.raises(MlflowException):
        mlflow.artifacts.download_artifacts(artifact_uri=f"runs:/{rid}/nope.txt", dst_path=str(tmp_path))


def test_large_artifact_roundtrip(server, experiment, tmp_path):
    data = os.urandom(6 * 1024 * 1024 + 123)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(src), artifact_path="blobs")
    out = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="blobs/big.bin", dst_path=str(tmp_path / "out"))
    assert hashlib.sha256(Path(out).read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()


def test_overwrite_artifact(server, experiment, tmp_path):
    f = tmp_path / "v.txt"
    with mlflow.start_run() as run:
        f.write_text("first version")
        mlflow.log_artifact(str(f))
        f.write_text("2nd")
        mlflow.log_artifact(str(f))
    assert mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/v.txt") == "2nd"


def test_raw_proxy_put_get_list_delete(server, api):
    base = "/api/2.0/mlflow-artifacts/artifacts"
    status, _ = raw_request(server.url, "PUT", f"{base}/raw-e2e/x/one.txt", b"1111", {"Content-Type": "text/plain"})
    assert status == 200
    status, body = raw_request(server.url, "GET", f"{base}/raw-e2e/x/one.txt")
    assert (status, body) == (200, b"1111")
    data = api.ok("GET", base, params={"path": "raw-e2e/x"})
    assert data == {"files": [{"path": "one.txt", "is_dir": False, "file_size": 4}]}
    data = api.ok("GET", base, params={"path": "raw-e2e"})
    assert data["files"] == [{"path": "x", "is_dir": True}]
    assert api.ok("GET", base, params={"path": "raw-e2e/x/one.txt"}) == {}
    assert api.ok("GET", base, params={"path": "raw-e2e/none"}) == {}
    status, body = raw_request(server.url, "DELETE", f"{base}/raw-e2e/x/one.txt")
    assert status == 200, body
    status, body = raw_request(server.url, "GET", f"{base}/raw-e2e/x/one.txt")
    assert status == 404
    err = json_or_none(body)
    assert err and err["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert not (server.artifact_root / "raw-e2e" / "x" / "one.txt").exists()
