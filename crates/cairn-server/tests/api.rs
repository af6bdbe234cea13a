//! The HTTP layer against the real SQLite store and local artifact folder, in process.
//!
//! The Python suite (`tests/e2e`) drives the real binary with the real `mlflow` client; these tests pin the
//! server's own contract: MLflow's error format and statuses, field reading, and path safety.

#![allow(clippy::unwrap_used)] // a test helper that fails is a failed test

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use cairn_artifacts::ObjectArtifactStore;
use cairn_server::api::router;
use cairn_server::AppState;
use cairn_store::sqlite::SqliteStore;
use serde_json::{json, Value};
use tower::ServiceExt;

struct TestServer {
    app: Router,
    _folder: tempfile::TempDir,
}

async fn server() -> TestServer {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("cairn.db");
    let store = SqliteStore::connect(&format!("sqlite:///{}", db.display()))
        .await
        .unwrap();
    let artifacts =
        ObjectArtifactStore::open(folder.path().join("artifacts").to_str().unwrap()).unwrap();
    let app = router(
        AppState::new(Arc::new(store), Arc::new(artifacts))
            .await
            .unwrap(),
    );
    TestServer {
        app,
        _folder: folder,
    }
}

impl TestServer {
    async fn send(&self, method: &str, uri: &str, body: Body) -> (StatusCode, Vec<u8>) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .body(body)
            .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, bytes.to_vec())
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (status, bytes) = self
            .send(
                "POST",
                &format!("/api/2.0/mlflow{path}"),
                Body::from(body.to_string()),
            )
            .await;
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn get(&self, path_and_query: &str) -> (StatusCode, Value) {
        let (status, bytes) = self
            .send(
                "GET",
                &format!("/api/2.0/mlflow{path_and_query}"),
                Body::empty(),
            )
            .await;
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn create_run(&self) -> String {
        let (status, body) = self
            .post(
                "/runs/create",
                json!({"experiment_id": "0", "start_time": 1}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["run"]["info"]["run_id"].as_str().unwrap().to_owned()
    }
}

fn assert_error(
    status: StatusCode,
    body: &Value,
    expected_status: StatusCode,
    code: &str,
    message_part: &str,
) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["error_code"], code, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(message_part),
        "message {message:?} lacks {message_part:?}"
    );
}

#[tokio::test]
async fn malformed_json_is_a_400() {
    let server = server().await;
    let (status, bytes) = server
        .send(
            "POST",
            "/api/2.0/mlflow/experiments/create",
            Body::from("{not json"),
        )
        .await;
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
        "Malformed JSON",
    );
    let (status, bytes) = server
        .send(
            "POST",
            "/api/2.0/mlflow/experiments/create",
            Body::from("[1, 2]"),
        )
        .await;
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
        "JSON object",
    );
}

#[tokio::test]
async fn wrong_types_and_missing_fields_use_mlflow_wording() {
    let server = server().await;
    let (status, body) = server
        .post("/experiments/create", json!({"name": 123}))
        .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
        "Invalid value 123 for parameter 'name' supplied:  Hint: Value was of type 'int'.",
    );
    let run_id = server.create_run().await;
    let (status, body) = server
        .post(
            "/runs/log-metric",
            json!({"run_id": run_id, "key": "m", "value": 1}),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
        "Missing value for required parameter 'timestamp'",
    );
    let (status, body) = server
        .post(
            "/runs/log-metric",
            json!({"run_id": run_id, "key": "m", "value": "abc", "timestamp": 1}),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
        "parameter 'value'",
    );
}

#[tokio::test]
async fn unknown_ids_are_404_and_unknown_routes_are_html() {
    let server = server().await;
    let (status, body) = server
        .get("/runs/get?run_id=0123456789abcdef0123456789abcdef")
        .await;
    assert_error(
        status,
        &body,
        StatusCode::NOT_FOUND,
        "RESOURCE_DOES_NOT_EXIST",
        "0123456789abcdef0123456789abcdef",
    );
    let (status, body) = server
        .get("/experiments/get-by-name?experiment_name=nope")
        .await;
    assert_error(
        status,
        &body,
        StatusCode::NOT_FOUND,
        "RESOURCE_DOES_NOT_EXIST",
        "nope",
    );
    let (status, bytes) = server
        .send("GET", "/api/2.0/mlflow/nope", Body::empty())
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(String::from_utf8_lossy(&bytes).contains("<title>404 Not Found</title>"));
}

#[tokio::test]
async fn nan_and_infinities_round_trip_as_strings() {
    let server = server().await;
    let run_id = server.create_run().await;
    let metrics: Vec<Value> = ["NaN", "Infinity", "-Infinity"]
        .iter()
        .enumerate()
        .map(|(step, value)| json!({"key": "odd", "value": value, "timestamp": 5, "step": step}))
        .collect();
    let (status, body) = server
        .post(
            "/runs/log-batch",
            json!({"run_id": run_id, "metrics": metrics}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = server
        .get(&format!(
            "/metrics/get-history?run_id={run_id}&metric_key=odd"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let values: Vec<Value> = body["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|metric| metric["value"].clone())
        .collect();
    assert_eq!(
        values,
        vec![json!("NaN"), json!("Infinity"), json!("-Infinity")]
    );
}

#[tokio::test]
async fn batch_limits_and_param_immutability() {
    let server = server().await;
    let run_id = server.create_run().await;
    let metrics: Vec<Value> = (0..1001)
        .map(|step| json!({"key": "b", "value": 1, "timestamp": 1, "step": step}))
        .collect();
    let (status, body) = server
        .post(
            "/runs/log-batch",
            json!({"run_id": run_id, "metrics": metrics}),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
        "at most 1000 metrics. Got 1001 metrics",
    );

    let (status, _) = server
        .post(
            "/runs/log-parameter",
            json!({"run_id": run_id, "key": "p", "value": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .post(
            "/runs/log-parameter",
            json!({"run_id": run_id, "key": "p", "value": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server
        .post(
            "/runs/log-parameter",
            json!({"run_id": run_id, "key": "p", "value": "z"}),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
        "Changing param values is not allowed",
    );
    let (status, body) = server
        .post(
            "/runs/log-parameter",
            json!({"run_id": run_id, "key": "bad*key", "value": "1"}),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
        "Names may only contain",
    );
}

#[tokio::test]
async fn artifact_traversal_is_refused() {
    let server = server().await;
    let (status, _) = server
        .send(
            "PUT",
            "/api/2.0/mlflow-artifacts/artifacts/0/ok.txt",
            Body::from("fine"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for uri in [
        "/api/2.0/mlflow-artifacts/artifacts/../escape.txt",
        "/api/2.0/mlflow-artifacts/artifacts/0/../../escape.txt",
        "/api/2.0/mlflow-artifacts/artifacts/%2e%2e/escape.txt",
        "/api/2.0/mlflow-artifacts/artifacts/%252e%252e/escape.txt",
        "/api/2.0/mlflow-artifacts/artifacts/0/..%5cescape.txt",
        "/api/2.0/mlflow-artifacts/artifacts//etc/passwd",
    ] {
        for method in ["PUT", "GET", "DELETE"] {
            let (status, bytes) = server.send(method, uri, Body::from("pwned")).await;
            assert!(
                status == StatusCode::BAD_REQUEST || status == StatusCode::NOT_FOUND,
                "{method} {uri} -> {status}"
            );
            if status == StatusCode::BAD_REQUEST {
                let body: Value = serde_json::from_slice(&bytes).unwrap();
                assert_eq!(body["message"], "Invalid path", "{method} {uri}");
            }
        }
    }
    let (status, bytes) = server
        .send(
            "GET",
            "/api/2.0/mlflow-artifacts/artifacts?path=../etc",
            Body::empty(),
        )
        .await;
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
        "Invalid path",
    );
    let (status, bytes) = server
        .send(
            "GET",
            "/api/2.0/mlflow-artifacts/artifacts?path=..%2Fetc",
            Body::empty(),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "{}",
        String::from_utf8_lossy(&bytes)
    );
}

#[tokio::test]
async fn log_batch_over_one_megabyte_is_refused() {
    let server = server().await;
    let run_id = server.create_run().await;
    // 100 tags of 12 kB: within the entity limits, over MLflow's 1,000,000-byte request limit.
    let tags: Vec<Value> = (0..100)
        .map(|index| json!({"key": format!("t{index}"), "value": "x".repeat(12_000)}))
        .collect();
    let (status, body) = server
        .post("/runs/log-batch", json!({"run_id": run_id, "tags": tags}))
        .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
        "Batched logging API requests must be at most 1000000 bytes",
    );
    let (status, body) = server.get(&format!("/runs/get?run_id={run_id}")).await;
    assert_eq!(status, StatusCode::OK);
    let tags = body["run"]["data"]["tags"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        tags.iter()
            .all(|tag| !tag["key"].as_str().unwrap_or_default().starts_with('t')),
        "nothing was written"
    );
}

#[tokio::test]
async fn enums_are_read_by_name_or_by_protobuf_number() {
    let server = server().await;
    let run_id = server.create_run().await;
    let (status, body) = server
        .post(
            "/runs/update",
            json!({"run_id": run_id, "status": 3, "end_time": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["run_info"]["status"], "FINISHED");
    let (status, body) = server.post("/runs/delete", json!({"run_id": run_id})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for view in [json!(2), json!("DELETED_ONLY")] {
        let (status, body) = server
            .post(
                "/runs/search",
                json!({"experiment_ids": ["0"], "run_view_type": view}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body["runs"][0]["info"]["run_id"],
            run_id.as_str(),
            "view {view}"
        );
    }
    let (status, body) = server
        .post("/runs/update", json!({"run_id": run_id, "status": 9}))
        .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
        "parameter 'status'",
    );
}

#[tokio::test]
async fn bulk_history_returns_each_runs_points_tagged_with_its_run() {
    let server = server().await;
    let first = server.create_run().await;
    let second = server.create_run().await;
    for (run_id, offset) in [(&first, 0.0), (&second, 10.0)] {
        let metrics: Vec<Value> = (0..3)
            .map(|step| json!({"key": "m", "value": offset + f64::from(step), "timestamp": 1, "step": step}))
            .collect();
        let (status, body) = server
            .post(
                "/runs/log-batch",
                json!({"run_id": run_id, "metrics": metrics}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = server
        .get(&format!(
            "/metrics/get-history-bulk?run_id={first}&run_id={second}&metric_key=m"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let points: Vec<(String, f64)> = body["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|metric| {
            (
                metric["run_id"].as_str().unwrap().to_owned(),
                metric["value"].as_f64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, f64)> = [
        (&first, 0.0),
        (&first, 1.0),
        (&first, 2.0),
        (&second, 10.0),
        (&second, 11.0),
        (&second, 12.0),
    ]
    .iter()
    .map(|(run_id, value)| ((*run_id).clone(), *value))
    .collect();
    assert_eq!(points, expected);
}

// ---------------------------------------------------------------------------------------------------
// Webhooks

/// Webhook settings for tests: loopback receivers over plain HTTP, fast retries.
fn permissive_webhooks() -> cairn_server::webhooks::WebhookSettings {
    cairn_server::webhooks::WebhookSettings {
        allowed_schemes: vec!["http".into(), "https".into()],
        allow_private_ips: true,
        backoff_base: std::time::Duration::from_millis(20),
        max_attempts: 3,
        ..Default::default()
    }
}

async fn state_with(
    settings: cairn_server::webhooks::WebhookSettings,
) -> (AppState, tempfile::TempDir) {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("cairn.db");
    let store = SqliteStore::connect(&format!("sqlite:///{}", db.display()))
        .await
        .unwrap();
    let artifacts =
        ObjectArtifactStore::open(folder.path().join("artifacts").to_str().unwrap()).unwrap();
    let state = AppState::with_webhook_settings(Arc::new(store), Arc::new(artifacts), settings)
        .await
        .unwrap();
    (state, folder)
}

impl TestServer {
    async fn json(&self, method: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let (status, bytes) = self
            .send(
                method,
                &format!("/api/2.0{path}"),
                Body::from(body.to_string()),
            )
            .await;
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

fn hook(url: &str, events: Value) -> Value {
    json!({"name": "hook", "url": url, "events": events})
}

#[tokio::test]
async fn webhook_urls_are_checked_as_mlflow_checks_them() {
    let server = server().await;
    let events = json!([{"entity": "REGISTERED_MODEL", "action": "CREATED"}]);
    let (status, body) = server
        .post("/webhooks", hook("http://example.com/x", events.clone()))
        .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
        "Invalid webhook URL scheme: 'http'. Allowed schemes are: https.",
    );
    let (status, body) = server
        .post("/webhooks", hook("https://127.0.0.1:9/x", events))
        .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
        "Webhook URL must not resolve to a non-public IP address. '127.0.0.1' resolves to 127.0.0.1.",
    );
}

#[tokio::test]
async fn webhook_routes_follow_mlflow() {
    let (state, _folder) = state_with(permissive_webhooks()).await;
    let server = TestServer {
        app: router(state),
        _folder: tempfile::tempdir().unwrap(),
    };
    let url = "http://127.0.0.1:9/hook";
    let mut request = hook(
        url,
        json!([
            {"entity": "REGISTERED_MODEL", "action": "CREATED"},
            {"entity": 3, "action": 4},
        ]),
    );
    request["secret"] = json!("s3cret");
    request["description"] = json!("d");
    let (status, body) = server.post("/webhooks", request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let webhook = &body["webhook"];
    let id = webhook["webhook_id"].as_str().unwrap().to_owned();
    assert_eq!(
        webhook["events"],
        json!([
            {"entity": "MODEL_VERSION_TAG", "action": "SET"},
            {"entity": "REGISTERED_MODEL", "action": "CREATED"},
        ])
    );
    assert_eq!(webhook["status"], "ACTIVE");
    assert_eq!(webhook["description"], "d");
    assert!(
        !body.to_string().contains("s3cret"),
        "the secret is write-only"
    );

    let (status, body) = server.get(&format!("/webhooks/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["webhook"]["webhook_id"], id.as_str());
    let (status, body) = server.get("/webhooks/nope").await;
    assert_error(
        status,
        &body,
        StatusCode::NOT_FOUND,
        "RESOURCE_DOES_NOT_EXIST",
        "Webhook with ID nope not found.",
    );

    // Bad input: MLflow's messages, always a 400.
    let bad = [
        (
            hook(url, json!([{"entity": "REGISTERED_MODEL", "action": "DELETED"}])),
            "Invalid action 'deleted' for entity 'registered_model'. Valid actions are: ['created']",
        ),
        (
            hook(url, json!([{"entity": "MODEL_VERSION_STAGE", "action": "UPDATED"}])),
            "Invalid value MODEL_VERSION_STAGE for parameter 'entity'",
        ),
        (
            hook(url, json!([])),
            "Webhook events must be a non-empty list of WebhookEvent objects: [].",
        ),
        (
            json!({"name": "hook", "url": url}),
            "Missing value for required parameter 'events'.",
        ),
        (
            hook(url, json!({"entity": "REGISTERED_MODEL", "action": "CREATED"})),
            "for parameter 'events' supplied",
        ),
        (
            json!({"name": "-bad", "url": url, "events": [{"entity": 1, "action": 1}]}),
            "Webhook name '-bad' is invalid.",
        ),
        (
            json!({"name": "ok", "url": "ftp://x/y", "events": [{"entity": 1, "action": 1}]}),
            "Invalid webhook URL scheme: 'ftp'. Allowed schemes are: http, https.",
        ),
    ];
    for (request, message) in bad {
        let (status, body) = server.post("/webhooks", request.clone()).await;
        assert_error(
            status,
            &body,
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            message,
        );
    }
    let (status, body) = server.get("/webhooks?max_results=5000").await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
        "max_results must be between 1 and 1000.",
    );

    // cairn's API takes extension events; MLflow's routes never show them.
    let (status, body) = server
        .json(
            "POST",
            "/cairn/webhooks",
            json!({"name": "ext", "url": url, "events": ["model_version_promotion.refused"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let extension_only = body["webhook"]["webhook_id"].as_str().unwrap().to_owned();
    assert_eq!(body["webhook"]["has_secret"], false);
    let (status, body) = server
        .json(
            "PATCH",
            &format!("/cairn/webhooks/{id}"),
            json!({"events": ["registered_model.created", "model_version_stage.updated"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["webhook"]["has_secret"], true);
    let (_, body) = server.get("/webhooks").await;
    let listed: Vec<&str> = body["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|webhook| webhook["webhook_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        [id.as_str()],
        "extension-only webhooks are left out"
    );
    assert_eq!(
        body["webhooks"][0]["events"],
        json!([{"entity": "REGISTERED_MODEL", "action": "CREATED"}])
    );
    // An MLflow update of the events keeps the extension events it cannot see.
    let (status, body) = server
        .json(
            "PATCH",
            &format!("/mlflow/webhooks/{id}"),
            json!({"events": [{"entity": "MODEL_VERSION", "action": "CREATED"}], "status": "DISABLED", "description": ""}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["webhook"]["status"], "DISABLED");
    assert!(body["webhook"].get("description").is_none());
    let (_, body) = server
        .send(
            "GET",
            &format!("/api/2.0/cairn/webhooks/{id}"),
            Body::empty(),
        )
        .await;
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        body["webhook"]["events"],
        json!(["model_version.created", "model_version_stage.updated"])
    );
    let (_, body) = server
        .send("GET", "/api/2.0/cairn/webhooks", Body::empty())
        .await;
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["webhooks"].as_array().unwrap().len(), 2);

    for webhook_id in [&id, &extension_only] {
        let (status, body) = server
            .json(
                "DELETE",
                &format!("/mlflow/webhooks/{webhook_id}"),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, json!({}));
    }
    let (status, body) = server
        .json("DELETE", &format!("/mlflow/webhooks/{id}"), json!({}))
        .await;
    assert_error(
        status,
        &body,
        StatusCode::NOT_FOUND,
        "RESOURCE_DOES_NOT_EXIST",
        "not found",
    );
    let (status, body) = server
        .json(
            "PATCH",
            "/mlflow/webhooks/nope",
            json!({"status": "ACTIVE"}),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::NOT_FOUND,
        "RESOURCE_DOES_NOT_EXIST",
        "Webhook with ID nope not found.",
    );
    let (_, body) = server.get("/webhooks").await;
    assert_eq!(body, json!({}));
}

/// A receiver on a loopback port that answers 500 `failures` times, then 200, recording requests.
async fn receiver(
    failures: usize,
) -> (
    String,
    Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, String)>>>,
) {
    let seen: Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, String)>>> = Arc::default();
    let recorded = seen.clone();
    let app = Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: String| async move {
                let mut seen = recorded.lock().unwrap();
                seen.push((headers, body));
                if seen.len() <= failures {
                    (StatusCode::INTERNAL_SERVER_ERROR, "not yet")
                } else {
                    (StatusCode::OK, "thanks")
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}/hook"), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_deliveries_are_signed_retried_and_logged() {
    use base64::Engine as _;
    let (url, seen) = receiver(2).await;
    let (state, _folder) = state_with(permissive_webhooks()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/api/2.0", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(cairn_server::serve(listener, state, async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let created: Value = http
        .post(format!("{base}/mlflow/webhooks"))
        .json(&json!({
            "name": "signed",
            "url": url,
            "secret": "whsec",
            "events": [{"entity": "REGISTERED_MODEL", "action": "CREATED"}],
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["webhook"]["webhook_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = http
        .post(format!("{base}/mlflow/registered-models/create"))
        .json(&json!({"name": "m1", "tags": [{"key": "k", "value": "v"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), reqwest::StatusCode::OK);

    // 500, 500, then 200: three attempts of one delivery.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let deliveries = loop {
        let log: Value = http
            .get(format!("{base}/cairn/webhooks/{id}/deliveries"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if log["deliveries"][0]["status"] == "succeeded" {
            break log;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not delivered in time: {log}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let delivery = &deliveries["deliveries"][0];
    assert_eq!(delivery["attempts"], 3);
    assert_eq!(delivery["event"], "registered_model.created");
    assert_eq!(delivery["last_status_code"], 200);
    let codes: Vec<i64> = delivery["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|attempt| attempt["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [500, 500, 200]);
    assert_eq!(
        delivery["payload"]["data"],
        json!({"name": "m1", "tags": {"k": "v"}, "description": ""})
    );

    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 3);
    let ids: Vec<&str> = requests
        .iter()
        .map(|(headers, _)| headers["x-mlflow-delivery-id"].to_str().unwrap())
        .collect();
    assert!(
        ids.iter().all(|each| *each == delivery["delivery_id"]),
        "{ids:?}"
    );
    for (headers, body) in &requests {
        assert_eq!(headers["content-type"], "application/json");
        let timestamp = headers["x-mlflow-timestamp"].to_str().unwrap();
        let signed = format!("{}.{timestamp}.{body}", ids[0]);
        use hmac::Mac as _;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"whsec").unwrap();
        mac.update(signed.as_bytes());
        let expected = format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        );
        assert_eq!(headers["x-mlflow-signature"], expected.as_str());
        assert!(body
            .starts_with(r#"{"entity": "registered_model", "action": "created", "timestamp": ""#));
    }

    let _ = stop.send(());
    serving.await.unwrap().unwrap();
}
