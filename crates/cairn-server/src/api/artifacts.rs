//! The artifact proxy (`/api/2.0/mlflow-artifacts/artifacts/...`) and the run/model artifact reads.
//!
//! Every path from a client goes through `ArtifactPath::parse` before a store sees it.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cairn_core::artifact_path::ArtifactPath;
use futures::TryStreamExt;
use serde_json::{json, Value};

use super::error::ApiResult;
use super::params::Params;
use super::{registry, wire, AppState};

pub use cairn_core::artifact_path::proxied_path;

/// The type a browser or client expects: text as UTF-8 (`MLmodel` is YAML without an extension).
fn content_type_of(path: &ArtifactPath) -> HeaderValue {
    if path.as_str().ends_with("MLmodel") {
        return HeaderValue::from_static("text/plain; charset=utf-8");
    }
    let guessed = mime_guess::from_path(path.as_str()).first_or_octet_stream();
    let value =
        if guessed.type_() == mime_guess::mime::TEXT && guessed.get_param("charset").is_none() {
            format!("{guessed}; charset=utf-8")
        } else {
            guessed.to_string()
        };
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("application/octet-stream"))
}

async fn stream_file(state: &AppState, path: &ArtifactPath) -> ApiResult<Response> {
    let download = state.artifacts.get(path).await?;
    let body = Body::from_stream(download.stream.map_err(std::io::Error::other));
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type_of(path));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(download.size));
    Ok(response)
}

pub async fn upload(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let path = ArtifactPath::parse(&raw)?;
    // Naming rules judge the path inside the run or model (`<experiment>/<run>/artifacts/<path>`).
    let relative = path
        .as_str()
        .split_once("/artifacts/")
        .map_or(path.as_str(), |(_, relative)| relative);
    state
        .governance
        .naming()
        .check(cairn_core::governance::NamedThing::ArtifactPath, relative)?;
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    state.artifacts.put_stream(&path, Box::pin(stream)).await?;
    Ok(Json(json!({})))
}

pub async fn download(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> ApiResult<Response> {
    let path = ArtifactPath::parse(&raw)?;
    stream_file(&state, &path).await
}

pub async fn delete(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> ApiResult<Json<Value>> {
    let path = ArtifactPath::parse(&raw)?;
    state.artifacts.delete(&path).await?;
    Ok(Json(json!({})))
}

/// `GET /mlflow-artifacts/artifacts?path=dir`: the children of `dir`, named relative to it.
pub async fn list(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let path = ArtifactPath::parse(&params.string("path")?.unwrap_or_default())?;
    let files = state.artifacts.list(&path).await?.unwrap_or_default();
    Ok(Json(wire::page(
        "files",
        files.iter().map(wire::file_info).collect(),
        None,
    )))
}

/// The children of `root/directory`, named relative to `root` (the non-proxy listing format).
pub async fn list_relative_to_root(
    state: &AppState,
    root: &ArtifactPath,
    directory: &ArtifactPath,
) -> ApiResult<Vec<Value>> {
    let files = state
        .artifacts
        .list(&root.join(directory))
        .await?
        .unwrap_or_default();
    Ok(files
        .into_iter()
        .map(|mut file| {
            if !directory.is_root() {
                file.path = format!("{directory}/{}", file.path);
            }
            wire::file_info(&file)
        })
        .collect())
}

/// `GET /api/2.0/mlflow/artifacts/list?run_id=..&path=..`.
pub async fn list_run_artifacts(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let run = state.store.get_run(&params.run_id()?).await?;
    let root = proxied_path(&run.info.artifact_uri)?;
    let directory = ArtifactPath::parse(&params.string("path")?.unwrap_or_default())?;
    let files = list_relative_to_root(&state, &root, &directory).await?;
    let mut response = serde_json::Map::new();
    response.insert("root_uri".into(), run.info.artifact_uri.clone().into());
    if !files.is_empty() {
        response.insert("files".into(), Value::Array(files));
    }
    Ok(Json(Value::Object(response)))
}

/// `GET /get-artifact?run_id=..&path=..` (the UI's download).
pub async fn get_run_artifact(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<Response> {
    let run = state.store.get_run(&params.run_id()?).await?;
    let root = proxied_path(&run.info.artifact_uri)?;
    let path = ArtifactPath::parse(&params.required_string("path")?)?;
    stream_file(&state, &root.join(&path)).await
}

/// `GET /model-versions/get-artifact?name=..&version=..&path=..`.
pub async fn get_model_version_artifact(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<Response> {
    let name = params.required_string("name")?;
    let version = cairn_core::validation::parse_version(&params.required_string("version")?)?;
    let model_version = state.store.get_model_version(&name, version).await?;
    let root = proxied_path(&registry::download_uri(&state, &model_version).await?)?;
    let path = ArtifactPath::parse(&params.required_string("path")?)?;
    stream_file(&state, &root.join(&path)).await
}

/// `GET /ajax-api/2.0/mlflow/logged-models/<id>/artifacts/files?artifact_file_path=..`.
pub async fn get_logged_model_artifact(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let model = state.store.get_logged_model(&model_id).await?;
    let root = proxied_path(&model.artifact_uri)?;
    let path = ArtifactPath::parse(&params.required_string("artifact_file_path")?)?;
    stream_file(&state, &root.join(&path)).await
}

/// What an unknown route answers: Flask's HTML 404, which the client treats as "endpoint not found".
pub async fn not_found() -> impl IntoResponse {
    let body = "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n";
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
}
