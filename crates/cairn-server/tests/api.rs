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
