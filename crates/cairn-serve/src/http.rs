//! The HTTP side: MLflow's scoring routes, the Open Inference Protocol v2 routes, `/metrics`, and
//! the limits (body size, in-flight requests, time per request).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use crate::batch::{BatchConfig, Batcher};
use crate::metrics::Snapshot;
use crate::model::{mlflow_predictions, LoadedModel};
use crate::predlog::{Entry, PredictionLog};
use crate::request::{parse_invocations, parse_v2_body, v2_payload, Payload};
use crate::ServeError;

/// Limits applied to every prediction request.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Larger bodies get 413.
    pub max_body_bytes: usize,
    /// Requests in flight beyond this get 503 with `Retry-After`.
    pub max_in_flight: usize,
    /// A prediction taking longer gets 504.
    pub request_timeout: Duration,
    /// Micro-batching of concurrent requests to one model version.
    pub batch: BatchConfig,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_body_bytes: 16 * 1024 * 1024,
            max_in_flight: 256,
            request_timeout: Duration::from_secs(30),
            batch: BatchConfig::default(),
        }
    }
}

/// One model served by name. Its version can change while serving (hot reload): a request takes
/// the model's `Arc` once, at its start, and keeps that version to its end, so a switch never
/// fails or delays a request; the old version is freed when the last request holding it is done.
pub struct ServedModel {
    pub name: String,
    current: RwLock<Arc<LoadedModel>>,
}

impl ServedModel {
    pub fn new(model: Arc<LoadedModel>) -> ServedModel {
        ServedModel {
            name: model.name.clone(),
            current: RwLock::new(model),
        }
    }

    /// The version serving now (a read lock held for one `Arc` clone).
    pub fn current(&self) -> Arc<LoadedModel> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Serves `model` from now on and hands back the one it replaces (drop it outside any lock).
    pub fn replace(&self, model: Arc<LoadedModel>) -> Arc<LoadedModel> {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *current, model)
    }
}

/// What the handlers share.
pub struct ServeState {
    /// The first model answers `/invocations`; all answer by name under `/v2/models/`.
    pub models: Vec<ServedModel>,
    pub limits: Limits,
    pub metrics: crate::metrics::Metrics,
    /// The prediction log, when `--prediction-log` is given.
    pub log: Option<PredictionLog>,
    in_flight: Arc<Semaphore>,
    /// Requests in flight seen by each arriving request, averaged (x1024, exponentially, over
    /// about the last eight arrivals).
    concurrency: AtomicU64,
}

impl ServeState {
    pub fn new(
        models: Vec<Arc<LoadedModel>>,
        limits: Limits,
        log: Option<PredictionLog>,
    ) -> Arc<ServeState> {
        Arc::new(ServeState {
            in_flight: Arc::new(Semaphore::new(limits.max_in_flight.max(1))),
            concurrency: AtomicU64::new(0),
            models: models.into_iter().map(ServedModel::new).collect(),
            limits,
            metrics: crate::metrics::Metrics::default(),
            log,
        })
    }

    /// The model served as `name`.
    pub fn served(&self, name: &str) -> Option<&ServedModel> {
        self.models.iter().find(|served| served.name == name)
    }

    /// (name, version) of every model, as serving now.
    pub fn serving(&self) -> Vec<(String, String)> {
        self.models
            .iter()
            .map(|served| (served.name.clone(), served.current().version.clone()))
            .collect()
    }

    fn model(&self, name: &str, version: Option<&str>) -> Result<Arc<LoadedModel>, ServeError> {
        let found = self
            .served(name)
            .ok_or_else(|| ServeError::NotFound(format!("model '{name}' is not served here")))?
            .current();
        if let Some(version) = version {
            if found.version != version {
                return Err(ServeError::NotFound(format!(
                    "model '{name}' version '{version}' is not served here (serving version '{}')",
                    found.version
                )));
            }
        }
        Ok(found)
    }

    fn in_flight(&self) -> usize {
        self.limits.max_in_flight.max(1) - self.in_flight.available_permits()
    }

    /// Called once per arriving request (holding its permit): whether it is the only request in
    /// flight and the recent ones were too. Under concurrent load a request now and then finds
    /// itself alone between two waves; the average keeps those on the usual path.
    fn serving_one_at_a_time(&self) -> bool {
        let now = u64::try_from(self.in_flight())
            .unwrap_or(u64::MAX)
            .saturating_mul(1024);
        let old = self.concurrency.load(Ordering::Relaxed);
        let average = old - old / 8 + now / 8;
        self.concurrency.store(average, Ordering::Relaxed);
        now == 1024 && average < 1536
    }
}

/// The router for `state`.
pub fn router(state: Arc<ServeState>) -> Router {
    Router::new()
        .route("/ping", get(ping))
        .route("/health", get(ping))
        .route("/version", get(version))
        .route("/invocations", post(invocations))
        .route("/metrics", get(metrics))
        .route("/v2", get(v2_server))
        .route("/v2/health/live", get(v2_live))
        .route("/v2/health/ready", get(v2_ready))
        .route("/v2/models/{name}", get(v2_model))
        .route("/v2/models/{name}/ready", get(v2_model_ready))
        .route("/v2/models/{name}/infer", post(v2_infer))
        .route(
            "/v2/models/{name}/versions/{version}",
            get(v2_model_version),
        )
        .route(
            "/v2/models/{name}/versions/{version}/ready",
            get(v2_model_version_ready),
        )
        .route(
            "/v2/models/{name}/versions/{version}/infer",
            post(v2_infer_version),
        )
        .fallback(not_found)
        .with_state(state)
}

/// Serves until `shutdown` resolves, then lets requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<ServeState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Which error shape to answer with.
#[derive(Clone, Copy)]
enum Protocol {
    Mlflow,
    V2,
}

impl Protocol {
    fn label(self) -> &'static str {
        match self {
            Protocol::Mlflow => "mlflow",
            Protocol::V2 => "v2",
        }
    }
}

fn error_response(protocol: Protocol, error: &ServeError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = error.to_string();
    if status.is_server_error()
        && !matches!(error, ServeError::Overloaded(_) | ServeError::Timeout(_))
    {
        tracing::error!(%message, "prediction failed");
    }
    let body = match protocol {
        Protocol::Mlflow => {
            let code = match status.as_u16() {
                400 | 413 | 415 => "BAD_REQUEST",
                404 => "RESOURCE_DOES_NOT_EXIST",
                503 | 504 => "TEMPORARILY_UNAVAILABLE",
                _ => "INTERNAL_ERROR",
            };
            json!({"error_code": code, "message": message})
        }
        Protocol::V2 => json!({"error": message}),
    };
    let mut response = (status, Json(body)).into_response();
    if matches!(error, ServeError::Overloaded(_)) {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

async fn not_found(request: Request) -> Response {
    let protocol = if request.uri().path().starts_with("/v2") {
        Protocol::V2
    } else {
        Protocol::Mlflow
    };
    error_response(
        protocol,
        &ServeError::NotFound(format!(
            "no route for {} {}",
            request.method(),
            request.uri().path()
        )),
    )
}

async fn ping() -> &'static str {
    "\n"
}

async fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

async fn metrics(State(state): State<Arc<ServeState>>) -> Response {
    // Reading /proc is file I/O: off the async threads.
    let process = tokio::task::spawn_blocking(crate::process::sample)
        .await
        .ok()
        .flatten();
    let snapshot = Snapshot {
        in_flight: state.in_flight(),
        max_in_flight: state.limits.max_in_flight.max(1),
        serving: state.serving(),
        process,
    };
    let mut text = state.metrics.render(&snapshot);
    if let Some(log) = &state.log {
        text.push_str(&log.render_metrics());
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// The request's id: the client's `X-Request-Id` when it sent one, else a new one. It goes back in
/// the response's `X-Request-Id` and into the prediction log.
fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty() && value.len() <= 200)
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_owned)
}

const REQUEST_ID: &str = "x-request-id";

fn with_request_id(mut response: Response, id: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// Reads the body up to the limit: a longer one is a 413 whether or not it declared its length.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ServeError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(ServeError::TooLarge { limit });
    }
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        let text = format!("{error:?}");
        if text.contains("LengthLimit") || error.to_string().contains("length limit") {
            ServeError::TooLarge { limit }
        } else {
            ServeError::BadRequest(format!("reading the request body: {error}"))
        }
    })
}

/// Parses, binds, runs and times one prediction; every outcome is counted.
async fn predict(
    state: &Arc<ServeState>,
    model: Arc<LoadedModel>,
    protocol: Protocol,
    request_id: &str,
    parse: impl FnOnce() -> Result<Payload, ServeError>,
) -> Result<(Payload, usize, Vec<(String, crate::model::Output)>), ServeError> {
    let Ok(permit) = state.in_flight.clone().try_acquire_owned() else {
        return Err(ServeError::Overloaded(format!(
            "{} requests in flight; retry later",
            state.limits.max_in_flight
        )));
    };
    let payload = parse()?;
    let (feeds, rows) = model.interface.bind(&payload)?;
    // A sampled request keeps a copy of its inputs for the prediction log.
    let logged = state
        .log
        .as_ref()
        .filter(|log| log.sample_next())
        .map(|_| feeds.clone());
    let timeout = state.limits.request_timeout;
    // Each model call (a request alone, or a batch of them) is counted with its rows.
    let on_call: Arc<dyn Fn(usize) + Send + Sync> = {
        let state = Arc::clone(state);
        let (name, version) = (model.name.clone(), model.version.clone());
        Arc::new(move |call_rows| state.metrics.observe_batch(&name, &version, call_rows))
    };
    let only_request = state.serving_one_at_a_time();
    let answer = Batcher::submit(
        &model,
        state.limits.batch,
        feeds,
        rows,
        Box::new(permit),
        on_call,
        only_request,
    );
    let outputs = match tokio::time::timeout(timeout, answer).await {
        Err(_) => return Err(ServeError::Timeout(timeout.as_millis() as u64)),
        Ok(Err(_)) => {
            return Err(ServeError::Runtime(
                "inference task ended without an answer".into(),
            ))
        }
        Ok(Ok(result)) => result?,
    };
    let _ = protocol;
    if let (Some(log), Some(inputs)) = (&state.log, logged) {
        log.record(Entry {
            request_id: request_id.to_owned(),
            timestamp_ms: now_ms(),
            model: model.name.clone(),
            version: model.version.clone(),
            column_names: model
                .interface
                .columns
                .as_ref()
                .map(|columns| columns.iter().map(|(name, ..)| name.clone()).collect()),
            rows,
            inputs,
            outputs: outputs.clone(),
        });
    }
    Ok((payload, rows, outputs))
}

async fn invocations(State(state): State<Arc<ServeState>>, request: Request) -> Response {
    let started = Instant::now();
    let Some(model) = state.models.first().map(ServedModel::current) else {
        return error_response(
            Protocol::Mlflow,
            &ServeError::NotFound("no model loaded".into()),
        );
    };
    let (parts, body) = request.into_parts();
    let id = request_id(&parts.headers);
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("application/json")
        .to_owned();
    let result = async {
        let bytes = read_body(&parts.headers, body, state.limits.max_body_bytes).await?;
        predict(&state, model.clone(), Protocol::Mlflow, &id, || {
            parse_invocations(&content_type, &bytes)
        })
        .await
    }
    .await;
    let rows = result.as_ref().ok().map(|(_, rows, _)| *rows);
    let response = match result {
        Ok((payload, rows, outputs)) => {
            #[derive(serde::Serialize)]
            struct Body<'a> {
                predictions: crate::model::MlflowPredictions<'a>,
            }
            Json(Body {
                predictions: mlflow_predictions(&outputs, rows, payload.is_frame()),
            })
            .into_response()
        }
        Err(error) => error_response(Protocol::Mlflow, &error),
    };
    finish(
        &state,
        &model,
        Protocol::Mlflow,
        &id,
        rows,
        started,
        response,
    )
}

async fn infer(
    state: Arc<ServeState>,
    name: String,
    version: Option<String>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let model = match state.model(&name, version.as_deref()) {
        Ok(model) => model,
        Err(error) => return error_response(Protocol::V2, &error),
    };
    let (parts, body) = request.into_parts();
    let mut id = request_id(&parts.headers);
    let result = async {
        let bytes = read_body(&parts.headers, body, state.limits.max_body_bytes).await?;
        let (value, request_id) = parse_v2_body(&bytes)?;
        // The protocol's own `id` names the request when the body has one.
        if let Some(Value::String(given)) = &request_id {
            if !given.is_empty() && given.len() <= 200 {
                id.clone_from(given);
            }
        }
        let (_, rows, outputs) = predict(&state, model.clone(), Protocol::V2, &id, || {
            v2_payload(&value)
        })
        .await?;
        Ok::<_, ServeError>((request_id, rows, outputs))
    }
    .await;
    let rows = result.as_ref().ok().map(|(_, rows, _)| *rows);
    let response = match result {
        Ok((request_id, _, outputs)) => {
            let mut body = json!({
                "model_name": model.name,
                "model_version": model.version,
                "outputs": outputs.iter().map(|(name, output)| output.to_v2(name)).collect::<Vec<_>>(),
            });
            if let Some(id) = request_id {
                body["id"] = id;
            }
            Json(body).into_response()
        }
        Err(error) => error_response(Protocol::V2, &error),
    };
    finish(&state, &model, Protocol::V2, &id, rows, started, response)
}

/// The end of a prediction request: its id on the response, its metrics, and its access log line
/// (target `access`, at info: `--access-log` turns it on).
fn finish(
    state: &ServeState,
    model: &LoadedModel,
    protocol: Protocol,
    id: &str,
    rows: Option<usize>,
    started: Instant,
    response: Response,
) -> Response {
    let response = with_request_id(response, id);
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    state.metrics.observe(
        &model.name,
        &model.version,
        protocol.label(),
        status,
        elapsed,
    );
    tracing::info!(
        target: "access",
        request_id = id,
        protocol = protocol.label(),
        model = model.name.as_str(),
        version = model.version.as_str(),
        status,
        rows,
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        "prediction"
    );
    response
}

async fn v2_infer(
    State(state): State<Arc<ServeState>>,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    infer(state, name, None, request).await
}

async fn v2_infer_version(
    State(state): State<Arc<ServeState>>,
    Path((name, version)): Path<(String, String)>,
    request: Request,
) -> Response {
    infer(state, name, Some(version), request).await
}

async fn v2_server() -> Json<Value> {
    Json(json!({"name": "cairn", "version": env!("CARGO_PKG_VERSION"), "extensions": []}))
}

async fn v2_live() -> Json<Value> {
    Json(json!({"live": true}))
}

async fn v2_ready(State(state): State<Arc<ServeState>>) -> Json<Value> {
    Json(json!({"ready": !state.models.is_empty()}))
}

fn metadata(model: &LoadedModel) -> Value {
    json!({
        "name": model.name,
        "versions": [model.version],
        "platform": "onnxruntime_onnx",
        "inputs": model.interface.inputs.iter().map(|input| json!({
            "name": input.name,
            "datatype": input.element.v2_name(),
            "shape": input.shape,
        })).collect::<Vec<_>>(),
        "outputs": model.interface.output_names.iter().map(|name| json!({"name": name})).collect::<Vec<_>>(),
    })
}

fn model_answer(state: &ServeState, name: &str, version: Option<&str>, ready: bool) -> Response {
    match state.model(name, version) {
        Ok(model) if ready => Json(json!({"name": model.name, "ready": true})).into_response(),
        Ok(model) => Json(metadata(&model)).into_response(),
        Err(error) => error_response(Protocol::V2, &error),
    }
}

async fn v2_model(State(state): State<Arc<ServeState>>, Path(name): Path<String>) -> Response {
    model_answer(&state, &name, None, false)
}

async fn v2_model_ready(
    State(state): State<Arc<ServeState>>,
    Path(name): Path<String>,
) -> Response {
    model_answer(&state, &name, None, true)
}

async fn v2_model_version(
    State(state): State<Arc<ServeState>>,
    Path((name, version)): Path<(String, String)>,
) -> Response {
    model_answer(&state, &name, Some(&version), false)
}

async fn v2_model_version_ready(
    State(state): State<Arc<ServeState>>,
    Path((name, version)): Path<(String, String)>,
) -> Response {
    model_answer(&state, &name, Some(&version), true)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}
