"""`cairn db status|upgrade` and the server's refusal to open a schema newer than it knows."""

from __future__ import annotations

import sqlite3
import subprocess

import pytest

from cairn_helpers import CairnServer, cairn_bin


def db(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([cairn_bin(), "db", *args], capture_output=True, text=True, timeout=60)


def test_status_upgrade_and_newer_schema(tmp_path, server):
    path = tmp_path / "cairn.db"
    uri = f"sqlite:///{path}"

    status = db("status", "--backend-store-uri", uri)
    assert status.returncode == 1
    assert "does not exist yet" in status.stdout and "pending" in status.stdout
    assert not path.exists()

    upgrade = db("upgrade", "--backend-store-uri", uri)
    assert upgrade.returncode == 0, upgrade.stderr
    assert "applied 1 initial" in upgrade.stdout
    status = db("status", "--backend-store-uri", uri)
    assert status.returncode == 0 and "status: up to date" in status.stdout
    again = db("upgrade", "--backend-store-uri", uri)
    assert again.returncode == 0 and "already at schema version" in again.stdout

    # A newer cairn migrated this database: status says so, the server will not start on it.
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) "
            "VALUES (9999, 'from the future', 1, x'00', 0)"
        )
    status = db("status", "--backend-store-uri", uri)
    assert status.returncode == 1 and "newer than this cairn" in status.stdout
    srv = CairnServer(tmp_path / "srv", backend_store_uri=uri)
    with pytest.raises(RuntimeError) as info:
        srv.start(timeout=20)
    log = srv.log_text()
    assert "newer than this cairn knows" in log and "9999 (from the future)" in log, log
    assert "panicked" not in log
    assert "exited with code" in str(info.value)
