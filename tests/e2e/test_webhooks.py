"""Registry webhooks with the real mlflow client: MLflow's webhook API (create/list/get/update/delete/test),
deliveries signed as MLflow signs them (checked with MLflow's documented verification recipe), retries with
backoff, delivery that never slows the registry call, the durable outbox across a restart, cairn's
extension events (stage changed, promotion refused) and the `cairn webhooks` CLI.

A real HTTP receiver runs in the test process. The module's server allows plain-HTTP loopback receivers
(`--webhook-allowed-schemes http,https --webhook-allow-private-ips`, MLflow's
MLFLOW_WEBHOOK_ALLOWED_SCHEMES / MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS) and retries fast.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from mlflow import MlflowClient
from mlflow.entities.webhook import WebhookEvent, WebhookStatus
from mlflow.exceptions import MlflowException

from cairn_helpers import CairnServer, assert_error, cairn_bin, free_port, unique

SECRET = "whsec-e2e-5f1c"
BACKOFF_MS = 200
POLICY = """
version: 1
default:
  aliases:
    champion:
      - metric: "val_auc >= 0.9"
"""
REGISTRY_EVENTS = [
    "registered_model.created",
    "model_version.created",
    "model_version_alias.created",
    "model_version_alias.deleted",
    "model_version_tag.set",
    "model_version_tag.deleted",
]


# ---------------------------------------------------------------------------------------------- receiver


class Receiver:
    """An HTTP server in a thread that records every POST. Per path, `script` lists the statuses to answer
    in turn (then 200) and `delay` how long to wait before answering."""

    def __init__(self, port: int = 0):
        self.requests: list[dict] = []
        self.script: dict[str, list[int]] = {}
        self.delay: dict[str, float] = {}
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.cond:
                    receiver.requests.append(
                        # The message object: header names are case-insensitive (cairn's go out lowercase).
                        {"path": self.path, "headers": self.headers, "raw": raw, "time": time.time()}
                    )
                    receiver.cond.notify_all()
                    statuses = receiver.script.get(self.path, [])
                    status = statuses.pop(0) if statuses else 200
                    delay = receiver.delay.get(self.path, 0.0)
                time.sleep(delay)
                body = b"thanks" if status < 400 else b"try again"
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def at(self, path: str) -> list[dict]:
        with self.cond:
            return [r for r in self.requests if r["path"] == path]

    def wait(self, path: str, count: int, timeout: float = 15.0) -> list[dict]:
        deadline = time.time() + timeout
        with self.cond:
            while True:
                got = [r for r in self.requests if r["path"] == path]
                if len(got) >= count:
                    return got
                left = deadline - time.time()
                assert left > 0, f"expected {count} deliveries at {path}, got {len(got)}: {got}"
                self.cond.wait(left)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def verify_mlflow_webhook(payload: str, headers: dict, secret: str, max_age_seconds: int = 300) -> bool:
    """MLflow's documented receiver-side check ("Webhook security" in the MLflow docs), verbatim in spirit:
    v1 HMAC-SHA256 over "{delivery_id}.{timestamp}.{payload}", base64, constant-time compare, fresh timestamp."""
    signature = headers.get("X-MLflow-Signature")
    delivery_id = headers.get("X-MLflow-Delivery-Id")
    timestamp = headers.get("X-MLflow-Timestamp")
    if not signature or not delivery_id or not timestamp:
        return False
    if abs(int(time.time()) - int(timestamp)) > max_age_seconds:
        return False
    if not signature.startswith("v1,"):
        return False
    signed_content = f"{delivery_id}.{timestamp}.{payload}"
    expected = base64.b64encode(
        hmac.new(secret.encode("utf-8"), signed_content.encode("utf-8"), hashlib.sha256).digest()
    ).decode("utf-8")
    return hmac.compare_digest(signature.removeprefix("v1,"), expected)


def envelope(request: dict) -> dict:
    body = json.loads(request["raw"])
    assert set(body) == {"entity", "action", "timestamp", "data"}, body
    # MLflow's `datetime.now(timezone.utc).isoformat()`.
    stamp = datetime.fromisoformat(body["timestamp"])
    assert stamp.utcoffset().total_seconds() == 0
    assert abs(stamp.timestamp() - time.time()) < 120
    return body


def by_event(requests_: list[dict]) -> dict[str, dict]:
    out = {}
    for request in requests_:
        body = envelope(request)
        out[f"{body['entity']}.{body['action']}"] = {"body": body, "request": request}
    return out


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def receiver():
    recv = Receiver()
    yield recv
    recv.close()


def webhook_server(workdir, backoff_ms: int = BACKOFF_MS) -> CairnServer:
    workdir.mkdir(parents=True, exist_ok=True)
    policy = workdir / "policy.yaml"
    policy.write_text(POLICY)
    return CairnServer(
        workdir,
        extra_args=[
            "--policy-file",
            str(policy),
            "--webhook-allowed-schemes",
            "http,https",
            "--webhook-allow-private-ips",
            "--webhook-backoff-ms",
            str(backoff_ms),
            "--webhook-max-attempts",
            "4",
        ],
    )


@pytest.fixture(scope="module")
def hooks(tmp_path_factory):
    srv = webhook_server(tmp_path_factory.mktemp("cairn-webhooks"))
    srv.start()
    try:
        yield srv
    finally:
        rc = srv.stop()
        log = srv.log_text()
        assert "panicked" not in log, log[-3000:]
        assert rc == 0, f"no graceful shutdown (rc={rc})\n{log[-3000:]}"


@pytest.fixture(scope="module")
def hclient(hooks) -> MlflowClient:
    return MlflowClient(tracking_uri=hooks.url, registry_uri=hooks.url)


def deliveries(server: CairnServer, webhook_id: str) -> list[dict]:
    r = requests.get(f"{server.url}/api/2.0/cairn/webhooks/{webhook_id}/deliveries", timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["deliveries"]


def wait_deliveries(server, webhook_id, predicate, timeout=15.0) -> list[dict]:
    deadline = time.time() + timeout
    while True:
        got = deliveries(server, webhook_id)
        if predicate(got):
            return got
        assert time.time() < deadline, f"deliveries never matched: {json.dumps(got, indent=1)[:3000]}"
        time.sleep(0.05)


def cli(server, *args, check_rc=0):
    proc = subprocess.run(
        [cairn_bin(), "webhooks", *args, "--tracking-uri", server.url], capture_output=True, text=True, timeout=60
    )
    if check_rc is not None:
        assert proc.returncode == check_rc, f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


# ---------------------------------------------------------------------------------------------- tests


def test_registry_events_are_delivered_signed_with_mlflows_payloads(hooks, hclient, receiver):
    path = "/registry"
    webhook = hclient.create_webhook(
        name="registry-events",
        url=receiver.url(path),
        events=REGISTRY_EVENTS,
        description="e2e receiver",
        secret=SECRET,
    )
    assert webhook.status == WebhookStatus.ACTIVE
    assert sorted(str(e) for e in webhook.events) == sorted(REGISTRY_EVENTS)
    assert webhook.secret is None, "the secret is write-only"
    assert webhook.description == "e2e receiver"

    name = unique("wh-model")
    hclient.create_registered_model(name, tags={"team": "risk"}, description="fraud scorer")
    mv = hclient.create_model_version(name, "s3://bucket/models/fraud", tags={"stage": "candidate"}, description="v1")
    hclient.set_registered_model_alias(name, "shadow", mv.version)
    hclient.delete_registered_model_alias(name, "shadow")
    hclient.set_model_version_tag(name, mv.version, "validated", "yes")
    hclient.delete_model_version_tag(name, mv.version, "validated")

    got = receiver.wait(path, 6)
    assert len(got) == 6
    events = by_event(got)
    assert sorted(events) == sorted(REGISTRY_EVENTS)
    assert events["registered_model.created"]["body"]["data"] == {
        "name": name,
        "tags": {"team": "risk"},
        "description": "fraud scorer",
    }
    assert events["model_version.created"]["body"]["data"] == {
        "name": name,
        "version": "1",
        "source": "s3://bucket/models/fraud",
        "run_id": None,
        "tags": {"stage": "candidate"},
        "description": "v1",
    }
    assert events["model_version_alias.created"]["body"]["data"] == {"name": name, "alias": "shadow", "version": "1"}
    assert events["model_version_alias.deleted"]["body"]["data"] == {"name": name, "alias": "shadow"}
    assert events["model_version_tag.set"]["body"]["data"] == {
        "name": name,
        "version": "1",
        "key": "validated",
        "value": "yes",
    }
    assert events["model_version_tag.deleted"]["body"]["data"] == {"name": name, "version": "1", "key": "validated"}

    ids = set()
    for request in got:
        headers = request["headers"]
        assert headers["Content-Type"] == "application/json"
        assert verify_mlflow_webhook(request["raw"].decode("utf-8"), headers, SECRET), headers
        assert not verify_mlflow_webhook(request["raw"].decode("utf-8"), headers, "wrong-secret")
        # The body is what MLflow's json.dumps writes.
        assert request["raw"].decode() == json.dumps(json.loads(request["raw"]))
        ids.add(headers["X-MLflow-Delivery-Id"])
    assert len(ids) == 6, "one delivery id per delivery"

    # The delivery log agrees.
    log = wait_deliveries(hooks, webhook.webhook_id, lambda d: len(d) == 6 and all(x["status"] == "succeeded" for x in d))
    assert {d["delivery_id"] for d in log} == ids
    assert all(d["attempts"] == 1 and d["last_status_code"] == 200 for d in log)
    assert log[0]["created_time"] >= log[-1]["created_time"], "newest first"


def test_a_failing_receiver_gets_the_delivery_on_the_third_attempt(hooks, hclient, receiver):
    path = "/flaky"
    receiver.script[path] = [500, 500]
    webhook = hclient.create_webhook(
        name="flaky", url=receiver.url(path), events=["registered_model.created"], secret=SECRET
    )
    name = unique("wh-flaky")
    hclient.create_registered_model(name)
    got = receiver.wait(path, 3)
    assert len({r["headers"]["X-MLflow-Delivery-Id"] for r in got}) == 1, "retries keep the delivery id"
    assert all(verify_mlflow_webhook(r["raw"].decode(), r["headers"], SECRET) for r in got)
    gaps = [b["time"] - a["time"] for a, b in zip(got, got[1:])]
    # Exponential backoff: base, then twice the base (generous bounds).
    assert gaps[0] >= BACKOFF_MS / 1000 * 0.8, gaps
    assert gaps[1] >= 2 * BACKOFF_MS / 1000 * 0.8, gaps
    log = wait_deliveries(hooks, webhook.webhook_id, lambda d: d and d[0]["status"] == "succeeded")
    delivery = log[0]
    assert delivery["attempts"] == 3
    assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 500, 200]
    assert "HTTP 500" in delivery["attempt_log"][0]["error"]
    assert delivery["payload"]["data"]["name"] == name
    time.sleep(0.5)
    assert len(receiver.at(path)) == 3, "no attempt after success"


def test_a_receiver_that_never_answers_well_is_given_up_after_max_attempts(hooks, hclient, receiver):
    path = "/broken"
    receiver.script[path] = [503] * 10
    webhook = hclient.create_webhook(name="broken", url=receiver.url(path), events=["registered_model.created"])
    hclient.create_registered_model(unique("wh-broken"))
    log = wait_deliveries(hooks, webhook.webhook_id, lambda d: d and d[0]["status"] == "failed")
    assert log[0]["attempts"] == 4
    assert log[0]["last_status_code"] == 503
    assert len(receiver.at(path)) == 4
    assert "X-MLflow-Signature" not in receiver.at(path)[0]["headers"], "no secret, no signature"


def test_a_slow_receiver_does_not_slow_the_registry_call(hooks, hclient, receiver):
    path = "/slow"
    receiver.delay[path] = 3.0
    webhook = hclient.create_webhook(name="slow", url=receiver.url(path), events=["registered_model.created"])
    # Warm up the connection, then time the call that emits the event.
    hclient.search_registered_models(max_results=1)
    timings = []
    for _ in range(3):
        t0 = time.perf_counter()
        hclient.create_registered_model(unique("wh-slow"))
        timings.append(time.perf_counter() - t0)
    print(f"\ncreate_registered_model with a 3 s receiver subscribed: {[round(t * 1000, 1) for t in timings]} ms")
    assert max(timings) < 1.0, timings
    # The deliveries themselves take the receiver's 3 s, in parallel.
    receiver.wait(path, 3, timeout=20)
    wait_deliveries(
        hooks, webhook.webhook_id, lambda d: len(d) == 3 and all(x["status"] == "succeeded" for x in d), timeout=20
    )


def test_list_get_update_delete_and_test_through_the_mlflow_client(hooks, hclient, receiver):
    path = "/crud"
    created = hclient.create_webhook(
        name="crud", url=receiver.url(path), events=["model_version.created"], secret=SECRET
    )
    listed = hclient.list_webhooks()
    assert created.webhook_id in [w.webhook_id for w in listed]
    page = hclient.list_webhooks(max_results=1)
    assert len(page) == 1 and page.token

    got = hclient.get_webhook(created.webhook_id)
    assert got.name == "crud" and got.url == receiver.url(path)
    assert [str(e) for e in got.events] == ["model_version.created"]
    assert got.creation_timestamp == created.creation_timestamp

    updated = hclient.update_webhook(
        created.webhook_id,
        name="crud-renamed",
        description="now disabled",
        events=["model_version.created", "model_version_tag.set"],
        status="DISABLED",
    )
    assert updated.name == "crud-renamed"
    assert updated.description == "now disabled"
    assert updated.status == WebhookStatus.DISABLED
    assert sorted(str(e) for e in updated.events) == ["model_version.created", "model_version_tag.set"]
    assert updated.last_updated_timestamp >= created.last_updated_timestamp

    # Disabled: no delivery.
    name = unique("wh-crud")
    hclient.create_registered_model(name)
    hclient.create_model_version(name, "s3://bucket/crud")
    time.sleep(1.0)
    assert receiver.at(path) == []

    # `test` sends MLflow's example payload at once, signed, and reports the answer.
    result = hclient.test_webhook(created.webhook_id)
    assert result.success and result.response_status == 200 and result.response_body == "thanks"
    result = hclient.test_webhook(created.webhook_id, event=WebhookEvent.from_str("model_version_tag.set"))
    assert result.success
    sent = receiver.wait(path, 2)
    first, second = (envelope(r) for r in sent)
    assert (first["entity"], first["action"]) == ("model_version", "created")
    assert first["data"] == {
        "name": "example_model",
        "version": "1",
        "source": "models:/123",
        "run_id": "abcd1234abcd5678",
        "tags": {"example_key": "example_value"},
        "description": "An example model version",
    }
    assert second["data"] == {"name": "example_model", "version": "1", "key": "example_key", "value": "example_value"}
    assert all(verify_mlflow_webhook(r["raw"].decode(), r["headers"], SECRET) for r in sent)

    # A receiver that answers 5xx: the test reports it, it does not fail the call.
    receiver.script[path] = [500]
    result = hclient.test_webhook(created.webhook_id)
    assert not result.success and result.response_status == 500

    hclient.delete_webhook(created.webhook_id)
    with pytest.raises(MlflowException) as info:
        hclient.get_webhook(created.webhook_id)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert created.webhook_id not in [w.webhook_id for w in hclient.list_webhooks(max_results=1000)]


def test_bad_input_gets_mlflows_error_codes(hooks, hclient, server, client, receiver):
    def refused(call, code, fragment):
        with pytest.raises(MlflowException) as info:
            call()
        assert info.value.error_code == code, info.value
        assert fragment in info.value.message, info.value.message

    url = receiver.url("/never")
    refused(
        lambda: hclient.create_webhook(name="bad", url="ftp://example.com/x", events=["registered_model.created"]),
        "INVALID_PARAMETER_VALUE",
        "Invalid webhook URL scheme: 'ftp'. Allowed schemes are: http, https.",
    )
    refused(
        lambda: hclient.create_webhook(name="-bad", url=url, events=["registered_model.created"]),
        "INVALID_PARAMETER_VALUE",
        "Webhook name '-bad' is invalid",
    )
    for call in (
        lambda: hclient.get_webhook("no-such-webhook"),
        lambda: hclient.update_webhook("no-such-webhook", status="ACTIVE"),
        lambda: hclient.delete_webhook("no-such-webhook"),
        lambda: hclient.test_webhook("no-such-webhook"),
    ):
        refused(call, "RESOURCE_DOES_NOT_EXIST", "Webhook with ID no-such-webhook not found.")
    # The shared server runs with the defaults: https only, public addresses only (as MLflow).
    refused(
        lambda: client.create_webhook(name="local", url=url, events=["registered_model.created"]),
        "INVALID_PARAMETER_VALUE",
        "Invalid webhook URL scheme: 'http'. Allowed schemes are: https.",
    )
    refused(
        lambda: client.create_webhook(name="local", url="https://127.0.0.1/x", events=["registered_model.created"]),
        "INVALID_PARAMETER_VALUE",
        "must not resolve to a non-public IP address",
    )
    # Events the client would refuse itself, sent raw: MLflow's message, a 400 (never a 5xx).
    api = f"{hooks.url}/api/2.0/mlflow/webhooks"
    body = {"name": "raw", "url": url, "events": [{"entity": "REGISTERED_MODEL", "action": "DELETED"}]}
    assert_error(
        requests.post(api, json=body, timeout=30),
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid action 'deleted' for entity 'registered_model'. Valid actions are: ['created']",
    )
    body["events"] = [{"entity": "NOT_AN_ENTITY", "action": "CREATED"}]
    assert_error(requests.post(api, json=body, timeout=30), 400, "INVALID_PARAMETER_VALUE")
    body["events"] = []
    assert_error(requests.post(api, json=body, timeout=30), 400, "INVALID_PARAMETER_VALUE", "non-empty list")
    assert_error(
        requests.get(api, params={"max_results": 5000}, timeout=30),
        400,
        "INVALID_PARAMETER_VALUE",
        "max_results must be between 1 and 1000.",
    )
    # Both URL prefixes serve the routes.
    assert requests.get(f"{hooks.url}/ajax-api/2.0/mlflow/webhooks", timeout=30).status_code == 200


def test_prompts_get_mlflows_prompt_events_instead_of_model_events(hooks, hclient, receiver):
    path = "/prompts"
    hclient.create_webhook(
        name="prompts",
        url=receiver.url(path),
        events=[
            "prompt.created",
            "prompt_version.created",
            "prompt_alias.created",
            "prompt_version_tag.set",
            "registered_model.created",
            "model_version.created",
            "model_version_alias.created",
            "model_version_tag.set",
        ],
    )
    name = unique("wh-prompt")
    prompt = hclient.register_prompt(name=name, template="Hello {{name}}!", tags={"lang": "en"})
    hclient.set_prompt_alias(name, "prod", prompt.version)
    hclient.set_prompt_version_tag(name, prompt.version, "reviewed", "yes")
    got = receiver.wait(path, 4)
    time.sleep(0.5)
    events = by_event(receiver.at(path))
    assert sorted(events) == [
        "prompt.created",
        "prompt_alias.created",
        "prompt_version.created",
        "prompt_version_tag.set",
    ], "a prompt never fires the model events"
    assert events["prompt.created"]["body"]["data"]["tags"] == {"lang": "en"}, "internal prompt tags left out"
    version = events["prompt_version.created"]["body"]["data"]
    assert (version["name"], version["version"], version["template"]) == (name, "1", "Hello {{name}}!")
    assert "mlflow.prompt.text" not in version["tags"]
    assert events["prompt_alias.created"]["body"]["data"] == {"name": name, "alias": "prod", "version": "1"}
    assert events["prompt_version_tag.set"]["body"]["data"] == {
        "name": name,
        "version": "1",
        "key": "reviewed",
        "value": "yes",
    }
    assert len(got) >= 4


def test_stage_and_promotion_refused_events_through_cairns_api(hooks, hclient, receiver):
    path = "/governance"
    r = requests.post(
        f"{hooks.url}/api/2.0/cairn/webhooks",
        json={
            "name": "governance",
            "url": receiver.url(path),
            "events": ["model_version_stage.updated", "model_version_promotion.refused"],
            "secret": SECRET,
        },
        timeout=30,
    )
    assert r.status_code == 200, r.text
    webhook = r.json()["webhook"]
    assert webhook["events"] == ["model_version_promotion.refused", "model_version_stage.updated"]
    assert webhook["has_secret"] is True and "secret" not in webhook
    # MLflow's clients never see extension events (they would fail on unknown enum names).
    assert webhook["webhook_id"] not in [w.webhook_id for w in hclient.list_webhooks(max_results=1000)]
    assert_error(
        requests.post(
            f"{hooks.url}/api/2.0/cairn/webhooks",
            json={"name": "x", "url": receiver.url(path), "events": ["model_version_stage.deleted"]},
            timeout=30,
        ),
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid action 'deleted' for entity 'model_version_stage'. Valid actions are: ['updated']",
    )

    name = unique("wh-gov")
    hclient.create_registered_model(name)
    mv = hclient.create_model_version(name, "s3://bucket/gov")
    hclient.transition_model_version_stage(name, mv.version, "Staging")
    with pytest.raises(MlflowException) as info:
        hclient.set_registered_model_alias(name, "champion", mv.version)
    assert info.value.error_code == "PERMISSION_DENIED"
    promote = requests.post(
        f"{hooks.url}/api/2.0/cairn/registered-models/promote",
        json={"name": name, "version": mv.version, "alias": "champion"},
        timeout=30,
    )
    assert promote.status_code == 403, promote.text

    got = receiver.wait(path, 3)
    assert all(verify_mlflow_webhook(r["raw"].decode(), r["headers"], SECRET) for r in got)
    bodies = [envelope(r) for r in got]
    stage = [b for b in bodies if b["entity"] == "model_version_stage"]
    assert len(stage) == 1 and stage[0]["action"] == "updated"
    assert stage[0]["data"] == {
        "name": name,
        "version": "1",
        "from_stage": "None",
        "to_stage": "Staging",
        "archive_existing_versions": False,
    }
    refused = sorted(
        (b["data"] for b in bodies if b["entity"] == "model_version_promotion"), key=lambda d: d["action"]
    )
    assert [d["action"] for d in refused] == ["promote", "set_alias"]
    for data in refused:
        assert data["name"] == name and data["version"] == "1"
        assert (data["target_kind"], data["target"]) == ("alias", "champion")
        assert data["user"] == "anonymous"
        assert data["policy_revision"] >= 1
        assert "val_auc" in data["summary"]
        assert data["failed_rules"] and all(rule["rule"] and rule["required"] for rule in data["failed_rules"])


def test_cli_create_list_deliveries_delete(hooks, receiver):
    path = "/cli"
    out = cli(
        hooks,
        "create",
        "--name",
        "cli-hook",
        "--url",
        receiver.url(path),
        "--event",
        "registered_model.created",
        "--event",
        "model_version_stage.updated",
        "--secret",
        SECRET,
        "--json",
    )
    webhook = json.loads(out)["webhook"]
    webhook_id = webhook["webhook_id"]
    assert webhook["events"] == ["model_version_stage.updated", "registered_model.created"]
    assert SECRET not in out

    listing = cli(hooks, "list")
    assert webhook_id in listing and "cli-hook" in listing and "model_version_stage.updated" in listing

    name = unique("wh-cli")
    MlflowClient(tracking_uri=hooks.url, registry_uri=hooks.url).create_registered_model(name)
    receiver.wait(path, 1)
    wait_deliveries(hooks, webhook_id, lambda d: d and d[0]["status"] == "succeeded")
    table = cli(hooks, "deliveries", webhook_id)
    assert "registered_model.created" in table and "succeeded" in table and "HTTP 200" in table
    as_json = json.loads(cli(hooks, "deliveries", webhook_id, "--json"))
    assert as_json["deliveries"][0]["payload"]["data"]["name"] == name

    assert "ok: HTTP 200" in cli(hooks, "test", webhook_id)
    assert "INVALID_PARAMETER_VALUE" in cli(hooks, "test", webhook_id, "--event", "nope.created", check_rc=1)

    assert webhook_id in cli(hooks, "delete", webhook_id)
    assert webhook_id not in cli(hooks, "list")
    assert "RESOURCE_DOES_NOT_EXIST" in cli(hooks, "delete", webhook_id, check_rc=1)
    assert "RESOURCE_DOES_NOT_EXIST" in cli(hooks, "deliveries", webhook_id, check_rc=1)


def test_pending_deliveries_survive_a_restart(tmp_path):
    """The receiver is down when the event happens; the server restarts; the delivery still arrives."""
    port = free_port()
    srv = webhook_server(tmp_path / "restart", backoff_ms=1500)
    srv.start()
    receiver = None
    try:
        client = MlflowClient(tracking_uri=srv.url, registry_uri=srv.url)
        webhook = client.create_webhook(
            name="restart", url=f"http://127.0.0.1:{port}/late", events=["registered_model.created"], secret=SECRET
        )
        name = unique("wh-restart")
        client.create_registered_model(name)
        first = wait_deliveries(srv, webhook.webhook_id, lambda d: d and d[0]["attempts"] >= 1)
        assert first[0]["status"] == "pending" and first[0]["last_status_code"] is None
        assert first[0]["last_error"], first[0]
        assert srv.stop() == 0
        receiver = Receiver(port)
        srv.start()
        got = receiver.wait("/late", 1, timeout=20)
        assert verify_mlflow_webhook(got[0]["raw"].decode(), got[0]["headers"], SECRET)
        assert json.loads(got[0]["raw"])["data"]["name"] == name
        log = wait_deliveries(srv, webhook.webhook_id, lambda d: d and d[0]["status"] == "succeeded")
        assert log[0]["attempts"] == 2
        assert [a["status_code"] for a in log[0]["attempt_log"]] == [None, 200]
    finally:
        if receiver is not None:
            receiver.close()
        rc = srv.stop()
        assert "panicked" not in srv.log_text()
        assert rc == 0
