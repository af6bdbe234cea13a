"""Artifact proxy path traversal: no form of path may read, write, list or delete outside the artifact root.

Paths are sent byte-for-byte with http.client (requests/urllib3 would normalise `..`).
A sentinel file sits next to the artifact root; it must never be read, overwritten or deleted,
and nothing new may appear outside the root.
"""

import os
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

from cairn_helpers import json_or_none, raw_request

API = "/api/2.0/mlflow-artifacts/artifacts"
AJAX = "/ajax-api/2.0/mlflow-artifacts/artifacts"
SECRET = f"SENTINEL-{uuid.uuid4().hex}".encode()
REJECT = (400, 404)


@pytest.fixture(scope="module")
def outside(server):
    """Sentinel files outside the artifact root (the root is <workdir>/artifacts)."""
    workdir = server.artifact_root.parent
    sentinel = workdir / "sentinel.txt"
    sentinel.write_bytes(SECRET)
    secret_dir = workdir / "secret-dir"
    secret_dir.mkdir(exist_ok=True)
    (secret_dir / "sentinel.txt").write_bytes(SECRET)
    # a real file inside the root so that prefixes like 0/... exist
    status, body = raw_request(server.url, "PUT", f"{API}/trav/inside.txt", b"inside")
    assert status == 200, body
    return {"workdir": workdir, "sentinel": sentinel, "secret_dir": secret_dir}


def snapshot_outside(workdir: Path, root: Path) -> dict[str, bytes]:
    """Every file under the server's workdir except the artifact root, the DB and the log."""
    out = {}
    for p in workdir.rglob("*"):
        if root in p.parents or p == root or not p.is_file() or p.is_symlink():
            continue
        if p.name.startswith("cairn.db") or p.name == "server.log":
            continue
        out[str(p)] = p.read_bytes()
    # also the directory that holds the workdir
    for p in workdir.parent.iterdir():
        if p.is_file():
            out[str(p)] = p.read_bytes()
    return out


def assert_rejected(status: int, body: bytes, what: str):
    assert status in REJECT, f"{what}: expected 400/404, got {status}: {body[:300]!r}"
    assert SECRET not in body, f"{what}: sentinel content leaked"
    data = json_or_none(body)
    assert not (isinstance(data, dict) and data.get("files")), f"{what}: listed files: {body[:300]!r}"
    if status == 400:
        err = json_or_none(body)
        assert err and err.get("error_code") == "INVALID_PARAMETER_VALUE", f"{what}: {body[:300]!r}"


def traversal_paths(server_root: Path, sentinel: Path) -> list[str]:
    rel = "sentinel.txt"
    abs_sentinel = str(sentinel)
    return [
        f"../{rel}",
        f"trav/../../{rel}",
        f"trav/../../../{sentinel.parent.name}/{rel}",
        f"%2e%2e/{rel}",
        f"%2E%2E/{rel}",
        f"%2e%2e%2f{rel}",
        f"trav%2f..%2f..%2f{rel}",
        f"%252e%252e/{rel}",
        f"%252e%252e%252f{rel}",
        f"..%5c{rel}",
        f"..\\{rel}",
        f"trav\\..\\..\\{rel}",
        f"/{abs_sentinel.lstrip('/')}",  # double slash -> absolute
        quote(abs_sentinel, safe=""),  # %2F...: absolute after decoding
        f"..%00/{rel}",
        f"trav/%2e%2e/%2e%2e/{rel}",
        f".../{rel}/../../{rel}",
    ]


PREFIXES = [API, AJAX]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_get_traversal(server, outside, prefix):
    for p in traversal_paths(server.artifact_root, outside["sentinel"]):
        status, body = raw_request(server.url, "GET", f"{prefix}/{p}")
        assert_rejected(status, body, f"GET {prefix}/{p}")


@pytest.mark.parametrize("prefix", PREFIXES)
def test_list_traversal(server, outside, prefix):
    sentinel_dir = str(outside["sentinel"].parent)
    queries = [
        "..",
        "../",
        "trav/../..",
        "%2e%2e",
        "%252e%252e",
        "..%5c",
        "..\\",
        quote(sentinel_dir, safe=""),
        "/" + sentinel_dir.lstrip("/"),
        "trav/%2e%2e/%2e%2e",
    ]
    for q in queries:
        status, body = raw_request(server.url, "GET", f"{prefix}?path={q}")
        # listing a non-existent or invalid directory may be 400, 404 -- or 200 {} for the literal
        # double-encoded name; anything listed must come from inside the root
        if status == 200:
            data = json_or_none(body)
            assert data == {}, f"list {q!r} returned {body[:300]!r}"
        else:
            assert_rejected(status, body, f"list path={q}")


def test_put_traversal(server, outside):
    before = snapshot_outside(outside["workdir"], server.artifact_root)
    payload = b"PWNED-" + uuid.uuid4().hex.encode()
    for p in traversal_paths(server.artifact_root, outside["sentinel"]):
        status, body = raw_request(server.url, "PUT", f"{API}/{p}", payload)
        assert status in REJECT, f"PUT {p}: expected 400/404, got {status}: {body[:300]!r}"
    # a new file name outside the root, too
    for p in ["../created-by-put.txt", "%2e%2e/created-by-put.txt", "..%5ccreated-by-put.txt"]:
        status, body = raw_request(server.url, "PUT", f"{API}/{p}", payload)
        assert status in REJECT, f"PUT {p}: expected 400/404, got {status}: {body[:300]!r}"
    assert outside["sentinel"].read_bytes() == SECRET
    assert snapshot_outside(outside["workdir"], server.artifact_root) == before
    assert not (outside["workdir"] / "created-by-put.txt").exists()


def test_delete_traversal(server, outside):
    for p in traversal_paths(server.artifact_root, outside["sentinel"]):
        status, body = raw_request(server.url, "DELETE", f"{API}/{p}")
        assert status in REJECT, f"DELETE {p}: expected 400/404, got {status}: {body[:300]!r}"
    assert outside["sentinel"].read_bytes() == SECRET
    assert (outside["secret_dir"] / "sentinel.txt").read_bytes() == SECRET


@pytest.fixture(scope="module")
def planted(server, outside):
    """Symlinks planted inside the artifact root that point outside it."""
    root = server.artifact_root
    (root / "trav").mkdir(exist_ok=True)
    dir_link = root / "trav" / "evil-dir"
    file_link = root / "trav" / "evil-file"
    top_link = root / "evil-top"
    for link, target in [(dir_link, outside["secret_dir"]), (file_link, outside["sentinel"]), (top_link, outside["workdir"])]:
        if link.is_symlink():
            link.unlink()
        os.symlink(target, link)
    return {"dir": dir_link, "file": file_link}


SYMLINK_REJECT = (400, 403, 404)


def test_symlink_get(server, outside, planted):
    for p in ["trav/evil-dir/sentinel.txt", "trav/evil-file", "evil-top/sentinel.txt", "evil-top/secret-dir/sentinel.txt"]:
        status, body = raw_request(server.url, "GET", f"{API}/{p}")
        assert status in SYMLINK_REJECT, f"GET {p} through a symlink: got {status}: {body[:200]!r}"
        assert SECRET not in body, f"GET {p}: sentinel leaked through a symlink"


def test_symlink_list(server, outside, planted):
    for p in ["trav/evil-dir", "evil-top", "evil-top/secret-dir"]:
        status, body = raw_request(server.url, "GET", f"{API}?path={quote(p)}")
        assert b"sentinel.txt" not in body, f"list {p} shows files outside the root: {body[:300]!r}"
        assert status in (200, *SYMLINK_REJECT), f"list {p}: {status} {body[:200]!r}"
        if status == 200:
            assert json_or_none(body) == {}, f"list {p}: {body[:300]!r}"


def test_symlink_put(server, outside, planted):
    payload = b"OVERWRITTEN-" + uuid.uuid4().hex.encode()
    for p in ["trav/evil-file", "trav/evil-dir/sentinel.txt", "trav/evil-dir/new-file.txt", "evil-top/new-file.txt"]:
        status, body = raw_request(server.url, "PUT", f"{API}/{p}", payload)
        assert status in SYMLINK_REJECT, f"PUT {p} through a symlink: got {status}: {body[:200]!r}"
    assert outside["sentinel"].read_bytes() == SECRET
    assert (outside["secret_dir"] / "sentinel.txt").read_bytes() == SECRET
    assert not (outside["secret_dir"] / "new-file.txt").exists()
    assert not (outside["workdir"] / "new-file.txt").exists()


def test_symlink_delete(server, outside, planted):
    for p in ["trav/evil-dir/sentinel.txt", "trav/evil-dir", "evil-top/sentinel.txt"]:
        status, body = raw_request(server.url, "DELETE", f"{API}/{p}")
        assert status in (200, *SYMLINK_REJECT), f"DELETE {p}: {status} {body[:200]!r}"
    assert outside["sentinel"].read_bytes() == SECRET
    assert (outside["secret_dir"] / "sentinel.txt").read_bytes() == SECRET


def test_inside_file_still_served(server, outside):
    status, body = raw_request(server.url, "GET", f"{API}/trav/inside.txt")
    assert (status, body) == (200, b"inside")
