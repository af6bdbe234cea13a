"""Helpers shared by the e2e tests: starting/stopping a `cairn server`, raw REST calls, error checks."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]

# Seconds to wait for /health after starting the server (the brief: 20 s).
START_TIMEOUT = float(os.environ.get("CAIRN_E2E_START_TIMEOUT", "20"))
# Seconds a SIGTERM'd server has to exit.
STOP_TIMEOUT = float(os.environ.get("CAIRN_E2E_STOP_TIMEOUT", "10"))


def cairn_bin() -> str:
    """The binary under test: $CAIRN_BIN, else <target>/release/cairn."""
    explicit = os.environ.get("CAIRN_BIN")
    if explicit:
        path = Path(explicit)
    else:
        target = Path(os.environ.get("CARGO_TARGET_DIR", REPO_ROOT / "target"))
        if not target.is_absolute():
            target = REPO_ROOT / target
        path = target / "release" / "cairn"
    if not path.is_file() or not os.access(path, os.X_OK):
        raise RuntimeError(
            f"cairn binary not found or not executable at {path}; "
            "build it with `cargo build --release -p cairn` or set CAIRN_BIN"
        )
    return str(path)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def e2e_backend() -> str:
    """The metadata backend e2e servers use: `sqlite` (default) or `postgres` (CAIRN_E2E_BACKEND)."""
    return os.environ.get("CAIRN_E2E_BACKEND", "sqlite")


def postgres_admin_url() -> str:
    url = os.environ.get("CAIRN_TEST_POSTGRES_URL")
    if not url:
        raise RuntimeError(
            "CAIRN_E2E_BACKEND=postgres needs CAIRN_TEST_POSTGRES_URL (scripts/test sets both; "
            "scripts/postgres-up starts a server and prints the URL)"
        )
    return url


def fresh_postgres_database(prefix: str = "cairn_e2e") -> str:
    """Creates an empty database on the test PostgreSQL (with psql) and returns its URL."""
    admin = postgres_admin_url()
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    subprocess.run(
        ["psql", admin, "-v", "ON_ERROR_STOP=1", "-q", "-X", "-c", f"CREATE DATABASE {name}"],
        check=True, capture_output=True, text=True, timeout=60,
    )
    base, _, query = admin.partition("?")
    root = base.rsplit("/", 1)[0]
    return f"{root}/{name}" + (f"?{query}" if query else "")


@dataclass
class CairnServer:
    """One `cairn server` process over a metadata store and an artifact folder.

    The store is a SQLite file in `workdir` unless the suite runs on PostgreSQL
    (CAIRN_E2E_BACKEND=postgres), where each server gets a fresh database; `sqlite_only=True` keeps
    SQLite for tests about SQLite itself.
    """

    workdir: Path
    port: int = 0
    db_path: Path = field(init=False)
    artifact_root: Path = field(init=False)
    log_path: Path = field(init=False)
    proc: subprocess.Popen | None = None
    starts: int = 0
    extra_args: list[str] = field(default_factory=list)
    # Extra environment for the server process only (e.g. AWS_* for an s3:// destination).
    env: dict[str, str] = field(default_factory=dict)
    # `--artifacts-destination` instead of the local artifact folder (e.g. "s3://bucket/prefix").
    artifacts_destination: str | None = None
    # `--backend-store-uri`; derived in __post_init__ when not given.
    backend_store_uri: str | None = None
    sqlite_only: bool = False

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.workdir / "cairn.db"
        self.artifact_root = self.workdir / "artifacts"
        self.artifact_root.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "server.log"
        if not self.port:
            self.port = free_port()
        if self.backend_store_uri is None:
            if e2e_backend() == "postgres" and not self.sqlite_only:
                self.backend_store_uri = fresh_postgres_database()
            else:
                self.backend_store_uri = f"sqlite:///{self.db_path}"

    @property
    def on_sqlite(self) -> bool:
        return self.backend_store_uri.startswith("sqlite:")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            cairn_bin(),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--backend-store-uri",
            self.backend_store_uri,
            "--artifacts-destination",
            self.artifacts_destination or str(self.artifact_root),
            *self.extra_args,
        ]

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "<no server log>"

    def start(self, timeout: float = START_TIMEOUT) -> float:
        """Start the process and wait for GET /health; returns seconds until healthy."""
        assert self.proc is None or self.proc.poll() is not None, "server already running"
        self.starts += 1
        log = open(self.log_path, "ab")
        log.write(f"\n===== start #{self.starts}: {' '.join(self.command())}\n".encode())
        log.flush()
        t0 = time.monotonic()
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "info")
        env.setdefault("NO_COLOR", "1")
        env.update(self.env)
        self.proc = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        log.close()
        deadline = t0 + timeout
        last_err = "no attempt"
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                raise RuntimeError(
                    f"cairn server exited with code {rc} before becoming healthy.\n"
                    f"--- server log ({self.log_path}) ---\n{self.log_text()}"
                )
            try:
                r = requests.get(self.url + "/health", timeout=1)
                if r.status_code == 200:
                    return time.monotonic() - t0
                last_err = f"HTTP {r.status_code}: {r.text[:200]}"
            except requests.RequestException as e:
                last_err = repr(e)
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(
            f"cairn server not healthy within {timeout:.0f} s (last error: {last_err}).\n"
            f"--- server log ({self.log_path}) ---\n{self.log_text()}"
        )

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM and wait; returns the exit code, or None if it had to be SIGKILLed."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self) -> None:
        """SIGKILL the whole process group (no chance to flush anything)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)


class Api:
    """Thin raw-REST client (requests) for the tests that look at the wire."""

    def __init__(self, base_url: str):
        self.base = base_url
        self.s = requests.Session()

    def url(self, path: str) -> str:
        return self.base + path

    def get(self, path: str, params=None, **kw) -> requests.Response:
        return self.s.get(self.url(path), params=params, timeout=kw.pop("timeout", 30), **kw)

    def post(self, path: str, body=None, **kw) -> requests.Response:
        return self.s.post(self.url(path), json=body, timeout=kw.pop("timeout", 30), **kw)

    def patch(self, path: str, body=None, **kw) -> requests.Response:
        return self.s.patch(self.url(path), json=body, timeout=kw.pop("timeout", 30), **kw)

    def ok(self, method: str, path: str, body=None, params=None) -> dict:
        """Send and require 200 with a JSON object body."""
        r = self.s.request(method, self.url(path), json=body, params=params, timeout=30)
        assert r.status_code == 200, f"{method} {path} -> {r.status_code}: {r.text[:500]}"
        data = r.json()
        assert isinstance(data, dict), f"{method} {path} -> non-object JSON {data!r}"
        return data

    # convenience wrappers over the 2.0 API
    def create_experiment(self, name: str | None = None) -> str:
        return self.ok("POST", "/api/2.0/mlflow/experiments/create", {"name": name or unique("exp")})[
            "experiment_id"
        ]

    def create_run(self, experiment_id: str, run_name: str = "r") -> dict:
        body = {"experiment_id": experiment_id, "run_name": run_name, "start_time": now_ms(), "user_id": "e2e"}
        return self.ok("POST", "/api/2.0/mlflow/runs/create", body)["run"]

    def get_run(self, run_id: str) -> dict:
        return self.ok("GET", "/api/2.0/mlflow/runs/get", params={"run_id": run_id})["run"]

    def metric_history(self, run_id: str, key: str) -> list[dict]:
        out: list[dict] = []
        token = None
        while True:
            params = {"run_id": run_id, "metric_key": key, "max_results": 25000}
            if token:
                params["page_token"] = token
            data = self.ok("GET", "/api/2.0/mlflow/metrics/get-history", params=params)
            out.extend(data.get("metrics", []))
            token = data.get("next_page_token")
            if not token:
                return out


def now_ms() -> int:
    return int(time.time() * 1000)


def assert_error(resp: requests.Response, status: int | tuple[int, ...], code=None, message_contains=None) -> dict:
    """Check an MLflow-style JSON error: status, error_code, message; never a 5xx."""
    statuses = (status,) if isinstance(status, int) else tuple(status)
    assert resp.status_code < 500, f"server error {resp.status_code} for {resp.request.method} {resp.request.url}: {resp.text[:500]}"
    assert resp.status_code in statuses, (
        f"expected HTTP {statuses}, got {resp.status_code} for {resp.request.method} {resp.request.url}: {resp.text[:500]}"
    )
    try:
        body = resp.json()
    except ValueError as e:
        raise AssertionError(f"error body is not JSON ({resp.status_code}): {resp.text[:500]!r}") from e
    assert isinstance(body, dict), f"error body is not a JSON object: {body!r}"
    assert isinstance(body.get("error_code"), str) and body["error_code"], f"no error_code in {body!r}"
    assert isinstance(body.get("message"), str) and body["message"], f"no message in {body!r}"
    if code is not None:
        codes = (code,) if isinstance(code, str) else tuple(code)
        assert body["error_code"] in codes, f"expected error_code {codes}, got {body!r}"
    if message_contains is not None:
        assert message_contains in body["message"], f"expected {message_contains!r} in message {body['message']!r}"
    return body


def raw_request(base_url: str, method: str, raw_path: str, body: bytes | None = None, headers=None):
    """Send a request with the path exactly as given (no normalisation). Returns (status, body bytes)."""
    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        hdrs = {"Content-Length": str(len(body or b""))}
        hdrs.update(headers or {})
        conn.putrequest(method, raw_path, skip_host=False, skip_accept_encoding=True)
        for k, v in hdrs.items():
            conn.putheader(k, v)
        conn.endheaders()
        if body:
            conn.send(body)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, data
    finally:
        conn.close()


def json_or_none(data: bytes):
    try:
        return json.loads(data)
    except ValueError:
        return None


# Credentials moto accepts; tests pass them to boto3 and to cairn.
MOTO_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
}


@contextmanager
def moto_s3(log_dir: Path, bucket: str):
    """moto's S3 in server mode on a free port with `bucket` created; yields (endpoint, boto3 client)."""
    import boto3

    port = free_port()
    with open(Path(log_dir) / "moto.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"moto server exited with code {proc.returncode}")
            try:
                requests.get(endpoint, timeout=1)
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise RuntimeError("moto server not up within 30 s") from None
                time.sleep(0.1)
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=MOTO_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=MOTO_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=MOTO_CREDENTIALS["AWS_REGION"],
        )
        s3.create_bucket(Bucket=bucket)
        yield endpoint, s3
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
