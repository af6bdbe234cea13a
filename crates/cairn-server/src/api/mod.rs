//! MLflow's REST API, wire-compatible with the `mlflow` 3.x client.
//!
//! Every route is served under `/api/` and, for the UI, `/ajax-api/`. Request fields are read by
//! [`params::Params`], responses shaped by [`wire`], errors mapped by [`error`].

pub mod artifacts;
pub mod cairn;
pub mod error;
pub mod experiments;
pub mod logged_models;
pub mod params;
pub mod registry;
pub mod runs;
pub mod webhooks;
pub mod wire;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use cairn_artifacts::ArtifactStore;
use cairn_store::MetadataStore;
use serde_json::{json, Value};

use crate::governance::Governance;
use crate::webhooks::{WebhookSettings, Webhooks};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn MetadataStore>,
    pub artifacts: Arc<dyn ArtifactStore>,
    pub governance: Arc<Governance>,
    pub webhooks: Arc<Webhooks>,
}

impl AppState {
    /// The state over two stores, with the governance policy stored in `store` in force and the
    /// default webhook settings.
    pub async fn new(
        store: Arc<dyn MetadataStore>,
        artifacts: Arc<dyn ArtifactStore>,
    ) -> cairn_core::Result<AppState> {
        Self::with_webhook_settings(store, artifacts, WebhookSettings::default()).await
    }

    /// [`AppState::new`] with explicit webhook settings.
    pub async fn with_webhook_settings(
        store: Arc<dyn MetadataStore>,
        artifacts: Arc<dyn ArtifactStore>,
        webhook_settings: WebhookSettings,
    ) -> cairn_core::Result<AppState> {
        let governance = Arc::new(Governance::load(store.clone()).await?);
        let webhooks = Arc::new(Webhooks::new(webhook_settings)?);
        Ok(AppState {
            store,
            artifacts,
            governance,
            webhooks,
        })
    }
}

pub fn empty() -> Json<Value> {
    Json(json!({}))
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or_default()
}

async fn server_info() -> Json<Value> {
    Json(json!({
        "store_type": "SqlStore",
        "workspaces_enabled": false,
        "trace_archival_enabled": false,
        "multipart_uploads_enabled": false,
        "multipart_downloads_enabled": false,
        "presigned_upload_run_id_supported": false,
        "presigned_upload_model_id_supported": false,
        "features_enabled": {"gateway": false},
        "server": "cairn",
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

/// The routes below `/api` (and `/ajax-api`).
fn api_routes() -> Router<AppState> {
    const M: &str = "/2.0/mlflow";
    let route = |path: &str| format!("{M}{path}");
    Router::new()
        // Experiments
        .route(&route("/experiments/create"), post(experiments::create))
        .route(&route("/experiments/get"), get(experiments::get))
        .route(
            &route("/experiments/get-by-name"),
            get(experiments::get_by_name),
        )
        .route(
            &route("/experiments/search"),
            get(experiments::search).post(experiments::search),
        )
        .route(&route("/experiments/delete"), post(experiments::delete))
        .route(&route("/experiments/restore"), post(experiments::restore))
        .route(&route("/experiments/update"), post(experiments::update))
        .route(
            &route("/experiments/set-experiment-tag"),
            post(experiments::set_tag),
        )
        .route(
            &route("/experiments/delete-experiment-tag"),
            post(experiments::delete_tag),
        )
        // Runs
        .route(&route("/runs/create"), post(runs::create))
        .route(&route("/runs/update"), post(runs::update))
        .route(&route("/runs/get"), get(runs::get))
        .route(&route("/runs/delete"), post(runs::delete))
        .route(&route("/runs/restore"), post(runs::restore))
        .route(&route("/runs/search"), post(runs::search).get(runs::search))
        .route(&route("/runs/set-tag"), post(runs::set_tag))
        .route(&route("/runs/delete-tag"), post(runs::delete_tag))
        .route(&route("/runs/log-metric"), post(runs::log_metric))
        .route(&route("/runs/log-parameter"), post(runs::log_param))
        .route(&route("/runs/log-batch"), post(runs::log_batch))
        .route(&route("/runs/log-inputs"), post(runs::log_inputs))
        .route(&route("/runs/outputs"), post(runs::log_outputs))
        .route(&route("/runs/log-model"), post(runs::log_model))
        .route(&route("/metrics/get-history"), get(runs::get_history))
        .route(
            &route("/metrics/get-history-bulk-interval"),
            get(runs::get_history_bulk_interval),
        )
        .route(
            &route("/metrics/get-history-bulk"),
            get(runs::get_history_bulk),
        )
        // Run artifacts (non-proxy reads)
        .route(
            &route("/artifacts/list"),
            get(artifacts::list_run_artifacts),
        )
        // Logged models
        .route(&route("/logged-models"), post(logged_models::create))
        .route(&route("/logged-models/search"), post(logged_models::search))
        .route(
            &route("/logged-models/{model_id}"),
            get(logged_models::get)
                .patch(logged_models::finalize)
                .delete(logged_models::delete),
        )
        .route(
            &route("/logged-models/{model_id}/tags"),
            axum::routing::patch(logged_models::set_tags),
        )
        .route(
            &route("/logged-models/{model_id}/tags/{tag_key}"),
            axum::routing::delete(logged_models::delete_tag),
        )
        .route(
            &route("/logged-models/{model_id}/params"),
            post(logged_models::log_params),
        )
        .route(
            &route("/logged-models/{model_id}/artifacts/directories"),
            get(logged_models::list_artifacts),
        )
        .route(
            &route("/logged-models/{model_id}/artifacts/files"),
            get(artifacts::get_logged_model_artifact),
        )
        // Registered models
        .route(
            &route("/registered-models/create"),
            post(registry::create_registered_model),
        )
        .route(
            &route("/registered-models/get"),
            get(registry::get_registered_model),
        )
        .route(
            &route("/registered-models/rename"),
            post(registry::rename_registered_model),
        )
        .route(
            &route("/registered-models/update"),
            axum::routing::patch(registry::update_registered_model),
        )
        .route(
            &route("/registered-models/delete"),
            axum::routing::delete(registry::delete_registered_model),
        )
        .route(
            &route("/registered-models/search"),
            get(registry::search_registered_models),
        )
        .route(
            &route("/registered-models/get-latest-versions"),
            get(registry::get_latest_versions).post(registry::get_latest_versions),
        )
        .route(
            &route("/registered-models/set-tag"),
            post(registry::set_registered_model_tag),
        )
        .route(
            &route("/registered-models/delete-tag"),
            axum::routing::delete(registry::delete_registered_model_tag),
        )
        .route(
            &route("/registered-models/alias"),
            post(registry::set_alias)
                .delete(registry::delete_alias)
                .get(registry::get_by_alias),
        )
        // Model versions
        .route(
            &route("/model-versions/create"),
            post(registry::create_model_version),
        )
        .route(
            &route("/model-versions/get"),
            get(registry::get_model_version),
        )
        .route(
            &route("/model-versions/update"),
            axum::routing::patch(registry::update_model_version),
        )
        .route(
            &route("/model-versions/delete"),
            axum::routing::delete(registry::delete_model_version),
        )
        .route(
            &route("/model-versions/search"),
            get(registry::search_model_versions),
        )
        .route(
            &route("/model-versions/get-download-uri"),
            get(registry::get_download_uri),
        )
        .route(
            &route("/model-versions/transition-stage"),
            post(registry::transition_stage),
        )
        .route(
            &route("/model-versions/set-tag"),
            post(registry::set_model_version_tag),
        )
        .route(
            &route("/model-versions/delete-tag"),
            axum::routing::delete(registry::delete_model_version_tag),
        )
        // cairn's own API: governance and lineage
        .route(
            "/2.0/cairn/policy",
            get(cairn::get_policy).put(cairn::put_policy),
        )
        .route("/2.0/cairn/registered-models/promote", post(cairn::promote))
        .route("/2.0/cairn/registered-models/audit", get(cairn::audit))
        .route("/2.0/cairn/lineage", get(cairn::lineage))
        // Webhooks: MLflow's routes, and cairn's (extension events, delivery log)
        .route(
            &route("/webhooks"),
            post(webhooks::mlflow_create).get(webhooks::mlflow_list),
        )
        .route(
            &route("/webhooks/{webhook_id}"),
            get(webhooks::mlflow_get)
                .patch(webhooks::mlflow_update)
                .delete(webhooks::delete),
        )
        .route(
            &route("/webhooks/{webhook_id}/test"),
            post(webhooks::mlflow_test),
        )
        .route(
            "/2.0/cairn/webhooks",
            post(webhooks::cairn_create).get(webhooks::cairn_list),
        )
        .route(
            "/2.0/cairn/webhooks/{webhook_id}",
            get(webhooks::cairn_get)
                .patch(webhooks::cairn_update)
                .delete(webhooks::delete),
        )
        .route(
            "/2.0/cairn/webhooks/{webhook_id}/test",
            post(webhooks::cairn_test),
        )
        .route(
            "/2.0/cairn/webhooks/{webhook_id}/deliveries",
            get(webhooks::cairn_deliveries),
        )
        // Server info
        .route("/3.0/mlflow/server-info", get(server_info))
        .layer(DefaultBodyLimit::max(params::MAX_JSON_BODY))
        // The artifact proxy streams bodies of any size.
        .route("/2.0/mlflow-artifacts/artifacts", get(artifacts::list))
        .route(
            "/2.0/mlflow-artifacts/artifacts/{*path}",
            put(artifacts::upload)
                .get(artifacts::download)
                .delete(artifacts::delete),
        )
}

/// The whole application: the API under both prefixes, plus health, version, UI downloads and the
/// web UI (`cairn-ui`) at `/`.
pub fn router(state: AppState) -> Router {
    let api = api_routes();
    let ui = cairn_ui::router(cairn_ui::UiState {
        store: state.store.clone(),
        artifacts: state.artifacts.clone(),
    });
    Router::new()
        .nest("/api", api.clone())
        .nest("/ajax-api", api)
        .route("/health", get(|| async { "OK" }))
        .route("/version", get(|| async { env!("CARGO_PKG_VERSION") }))
        .route("/get-artifact", get(artifacts::get_run_artifact))
        .route(
            "/model-versions/get-artifact",
            get(artifacts::get_model_version_artifact),
        )
        .fallback(artifacts::not_found)
        .with_state(state)
        .merge(ui)
}
