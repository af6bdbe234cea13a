//! cairn's web UI, served by `cairn server` at `/`.
//!
//! Pages are rendered on the server from askama templates (`templates/`) over the same
//! `MetadataStore` and `ArtifactStore` the REST API uses; small hand-written JavaScript modules
//! (`assets/`) add what needs a browser: charts (hover, zoom, smoothing), row selection, and the
//! experiment actions (which call MLflow's own REST API). Everything is embedded in the binary: no
//! Node.js, no bundler, no third-party script.
//!
//! Every view is a URL: filters, sort order, columns, selected runs and chart settings live in the
//! query string, so a view can be shared by copying the address.
//!
//! Modules: [`experiments`] (list, create/rename/delete/restore), [`runs`] (the runs table),
//! [`run`] (one run and its artifact browser), [`charts`] (metric charts and the downsampled series
//! endpoint), [`compare`] (runs side by side, scatter, parallel coordinates), [`registry`] (models,
//! versions, lineage), [`view`] (formatting shared by the pages).

mod charts;
mod compare;
mod experiments;
mod registry;
mod run;
mod runs;
mod svg;
mod view;

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, RawQuery};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use cairn_artifacts::ArtifactStore;
use cairn_core::{Error, ErrorKind};
use cairn_store::MetadataStore;

/// What the pages read from.
#[derive(Clone)]
pub struct UiState {
    pub store: Arc<dyn MetadataStore>,
    pub artifacts: Arc<dyn ArtifactStore>,
}

/// The UI's routes: the pages, their assets under `/static/`, and the chart series endpoint under
/// `/api/2.0/cairn/`.
pub fn router(state: UiState) -> Router {
    Router::new()
        .route("/", get(experiments::page))
        .route("/experiments", get(experiments::page))
        .route("/runs", get(runs::page))
        .route("/runs/{run_id}", get(run::page))
        .route("/charts", get(charts::page))
        .route("/compare", get(compare::page))
        .route("/models", get(registry::models_page))
        .route("/models/{name}", get(registry::model_page))
        .route(
            "/models/{name}/versions/{version}",
            get(registry::version_page),
        )
        .route("/api/2.0/cairn/metrics/series", get(charts::series))
        .route("/ajax-api/2.0/cairn/metrics/series", get(charts::series))
        .route("/static/{file}", get(asset))
        .route("/experiments/{id}", get(experiment_redirect))
        .with_state(state)
}

/// `/experiments/ID` is the runs table of that experiment.
async fn experiment_redirect(Path(id): Path<String>) -> Redirect {
    Redirect::to(&format!("/runs?experiment={}", view::url_encode(&id)))
}

const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../assets/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/app.js"),
    ),
    (
        "chart.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/chart.js"),
    ),
];

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            ],
            *body,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A page that could not be shown: rendered as the error page with the status the error calls for
/// (a missing run is a 404, a bad filter a 400, never a 500 for what a user typed).
#[derive(Debug)]
pub(crate) struct PageError(pub Error);

impl From<Error> for PageError {
    fn from(error: Error) -> Self {
        PageError(error)
    }
}

impl From<cairn_artifacts::ArtifactError> for PageError {
    fn from(error: cairn_artifacts::ArtifactError) -> Self {
        PageError(match error {
            cairn_artifacts::ArtifactError::NotFound(message) => Error::not_found(message),
            cairn_artifacts::ArtifactError::Unavailable(message) => {
                Error::new(ErrorKind::Unavailable, message)
            }
            other => Error::internal(other.to_string()),
        })
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}

/// The HTTP status and MLflow `error_code` of an error, for the UI's pages and its JSON endpoint
/// (the REST API's own table is `cairn-server`'s `api/error.rs`; the UI answers only these four).
pub(crate) fn status_and_code(kind: ErrorKind) -> (StatusCode, &'static str) {
    match kind {
        ErrorKind::ResourceDoesNotExist => (StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST"),
        ErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "TEMPORARILY_UNAVAILABLE"),
        ErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR"),
        _ => (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE"),
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, _) = status_and_code(self.0.kind);
        if status.is_server_error() {
            tracing::warn!(error = %self.0.message, "UI page failed");
        }
        let title = status.canonical_reason().unwrap_or("Error");
        let page = ErrorPage {
            title,
            message: &self.0.message,
        };
        (status, render(&page)).into_response()
    }
}

/// Renders a template; a template that fails to render (a bug) is a plain 500 page.
pub(crate) fn render<T: Template>(page: &T) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            tracing::error!(%error, "UI template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

pub(crate) type PageResult = Result<Response, PageError>;

/// The query string as ordered pairs (repeated keys kept: `run=a&run=b`).
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<String>) -> Query {
        Query(serde_urlencoded::from_str(raw.as_deref().unwrap_or_default()).unwrap_or_default())
    }

    /// The last non-empty value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(name, value)| name == key && !value.is_empty())
            .map(|(_, value)| value.as_str())
    }

    /// Every non-empty value of `key`, comma-separated values split, in order, without repeats.
    pub fn all(&self, key: &str) -> Vec<String> {
        let mut values: Vec<String> = Vec::new();
        for (_, value) in self.0.iter().filter(|(name, _)| name == key) {
            for part in value
                .split(',')
                .map(str::trim)
                .filter(|part| !part.is_empty())
            {
                if !values.iter().any(|seen| seen == part) {
                    values.push(part.to_owned());
                }
            }
        }
        values
    }
}

impl From<RawQuery> for Query {
    fn from(RawQuery(raw): RawQuery) -> Self {
        Query::parse(raw)
    }
}
