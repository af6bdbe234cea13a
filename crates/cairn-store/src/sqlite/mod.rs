//! The embedded SQLite store.
//!
//! Layout:
//! - one **writer** connection (a pool of size 1): every write is a `BEGIN IMMEDIATE` transaction on it, so
//!   writers queue in-process instead of failing with `SQLITE_BUSY`, and "max + 1" allocations (experiment
//!   ids, model version numbers) are atomic;
//! - a pool of **reader** connections (`query_only`): WAL lets them read while the writer writes.
//!
//! Durability: WAL with `synchronous = FULL`, so a write that returned `Ok` has been fsynced.
//!
//! Submodules: [`experiments`], [`runs`], [`logged_models`], [`registry`], [`governance`], [`webhooks`], [`import`]; [`filter`] compiles the search
//! AST to SQL; `crate::names` generates run names.

mod experiments;
mod governance;
mod import;
mod logged_models;
mod packed;
mod registry;
mod runs;
pub mod schema;
mod webhooks;

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use cairn_core::entities::{
    Alias, DatasetInput, Experiment, KeyValue, LoggedModel, LoggedModelStatus, Metric, ModelInput,
    ModelOutput, ModelVersion, Page, PolicyDecision, PolicyRevision, RegisteredModel, Run, RunInfo,
    Stage, ViewType, Webhook, WebhookDelivery, WebhookEvent,
};
use cairn_core::{Error, Result};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use crate::{
    ClaimWebhookDeliveries, ClaimedWebhookDeliveries, CreateExperiment, CreateLoggedModel,
    CreateModelVersion, CreateRun, CreateWebhook, HistoryInterval, ImportExperiment,
    ImportLoggedModel, ImportModelVersion, ImportRegisteredModel, ImportRun, Imported, LogBatch,
    MetadataStore, NewPolicyDecision, PageRequest, Search, SearchLoggedModels, SearchRuns,
    UpdateRun, UpdateWebhook, WebhookAttemptOutcome,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Tuning knobs of [`SqliteStore::connect_with`]; the defaults are what `connect` uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteOptions {
    /// `synchronous = FULL` (default): an acknowledged write survives power loss. `false` selects
    /// `NORMAL`: in WAL mode the database stays consistent, but the last commits before a power cut
    /// (not a process crash) may be lost.
    pub synchronous_full: bool,
    /// The most reader connections kept open.
    pub max_readers: u32,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous_full: true,
            max_readers: 8,
        }
    }
}

/// The SQLite implementation of [`crate::MetadataStore`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    reader: SqlitePool,
    writer: SqlitePool,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `uri` and migrates it.
    ///
    /// `uri` is MLflow-style `sqlite:///relative/path.db`, `sqlite:////absolute/path.db`, or a plain path.
    /// The Default experiment ("0") is created if missing.
    pub async fn connect(uri: &str) -> Result<SqliteStore> {
        Self::connect_with(uri, SqliteOptions::default()).await
    }

    /// [`SqliteStore::connect`] with explicit options.
    pub async fn connect_with(uri: &str, store_options: SqliteOptions) -> Result<SqliteStore> {
        let path = database_path(uri)?;
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            tokio::fs::create_dir_all(parent).await.map_err(|error| {
                Error::internal(format!("cannot create {}: {error}", parent.display()))
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if store_options.synchronous_full {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            })
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30))
            .pragma("case_sensitive_like", "ON")
            .pragma("temp_store", "MEMORY")
            .pragma("cache_size", "-32768")
            .statement_cache_capacity(256);
        // `test_before_acquire(false)`: a local file has no connection to lose, and the ping costs a
        // round trip to sqlx's worker thread on every query.
        let writer = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await
            .map_err(db_error)?;
        {
            let mut conn = writer.acquire().await.map_err(db_error)?;
            schema::refuse_newer(&mut conn, path.display().to_string()).await?;
        }
        MIGRATOR
            .run(&writer)
            .await
            .map_err(|error| Error::internal(format!("sqlite migration failed: {error}")))?;
        let reader = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(store_options.max_readers.max(1))
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.pragma("query_only", "ON"))
            .await
            .map_err(db_error)?;
        let store = SqliteStore {
            reader,
            writer,
            path,
        };
        store.ensure_default_experiment().await?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes both pools (checkpointing the WAL). Later calls fail.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    /// A write transaction: `BEGIN IMMEDIATE` on the single writer connection.
    async fn write(&self) -> Result<Transaction<'static, Sqlite>> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)
    }

    /// A read transaction on a reader: one consistent snapshot for multi-query reads.
    async fn read(&self) -> Result<Transaction<'static, Sqlite>> {
        self.reader.begin().await.map_err(db_error)
    }

    async fn ensure_default_experiment(&self) -> Result<()> {
        let mut tx = self.write().await?;
        let now = now_ms();
        sqlx::query(
            "INSERT OR IGNORE INTO experiments \
             (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time) \
             VALUES (0, 'Default', 'mlflow-artifacts:/0', 'active', ?, ?)",
        )
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }
}

/// Resolves `sqlite:///rel`, `sqlite:////abs` and plain paths to a file path.
fn database_path(uri: &str) -> Result<PathBuf> {
    let without_query = uri.split('?').next().unwrap_or(uri);
    let path = match without_query.strip_prefix("sqlite://") {
        // `sqlite:///x.db` → `/x.db` → relative `x.db`; `sqlite:////abs/x.db` → `//abs/x.db` → `/abs/x.db`.
        Some(rest) => rest.strip_prefix('/').unwrap_or(rest),
        None => without_query
            .strip_prefix("sqlite:")
            .unwrap_or(without_query),
    };
    if path.is_empty() || path == ":memory:" {
        return Err(Error::invalid(format!(
            "unsupported sqlite uri '{uri}': an in-memory database is not supported, give a file path"
        )));
    }
    Ok(PathBuf::from(path))
}

pub(crate) fn db_error(error: sqlx::Error) -> Error {
    Error::internal(format!("sqlite error: {error}"))
}

pub(crate) use crate::shared::{
    finish_page, json_list, limit_offset, load_value, logged_model_artifact_uri, new_uuid_hex,
    now_ms, parse_column, run_artifact_uri, store_value,
};

#[async_trait]
impl MetadataStore for SqliteStore {
    async fn close(&self) {
        SqliteStore::close(self).await
    }

    async fn create_experiment(&self, request: CreateExperiment) -> Result<String> {
        self.create_experiment_impl(request).await
    }
    async fn get_experiment(&self, experiment_id: &str) -> Result<Experiment> {
        self.get_experiment_impl(experiment_id).await
    }
    async fn get_experiment_by_name(&self, name: &str) -> Result<Experiment> {
        self.get_experiment_by_name_impl(name).await
    }
    async fn search_experiments(
        &self,
        view_type: ViewType,
        search: Search,
    ) -> Result<Page<Experiment>> {
        self.search_experiments_impl(view_type, search).await
    }
    async fn delete_experiment(&self, experiment_id: &str) -> Result<()> {
        self.set_experiment_lifecycle(experiment_id, true).await
    }
    async fn restore_experiment(&self, experiment_id: &str) -> Result<()> {
        self.set_experiment_lifecycle(experiment_id, false).await
    }
    async fn rename_experiment(&self, experiment_id: &str, new_name: &str) -> Result<()> {
        self.rename_experiment_impl(experiment_id, new_name).await
    }
    async fn set_experiment_tag(&self, experiment_id: &str, tag: KeyValue) -> Result<()> {
        self.set_experiment_tag_impl(experiment_id, tag).await
    }
    async fn delete_experiment_tag(&self, experiment_id: &str, key: &str) -> Result<()> {
        self.delete_experiment_tag_impl(experiment_id, key).await
    }

    async fn create_run(&self, request: CreateRun) -> Result<Run> {
        self.create_run_impl(request).await
    }
    async fn get_run(&self, run_id: &str) -> Result<Run> {
        self.get_run_impl(run_id).await
    }
    async fn update_run(&self, request: UpdateRun) -> Result<RunInfo> {
        self.update_run_impl(request).await
    }
    async fn delete_run(&self, run_id: &str) -> Result<()> {
        self.set_run_lifecycle(run_id, true).await
    }
    async fn restore_run(&self, run_id: &str) -> Result<()> {
        self.set_run_lifecycle(run_id, false).await
    }
    async fn set_run_tag(&self, run_id: &str, tag: KeyValue) -> Result<()> {
        self.log_batch_impl(
            run_id,
            LogBatch {
                tags: vec![tag],
                ..LogBatch::default()
            },
        )
        .await
    }
    async fn delete_run_tag(&self, run_id: &str, key: &str) -> Result<()> {
        self.delete_run_tag_impl(run_id, key).await
    }
    async fn log_batch(&self, run_id: &str, batch: LogBatch) -> Result<()> {
        self.log_batch_impl(run_id, batch).await
    }
    async fn log_inputs(
        &self,
        run_id: &str,
        datasets: Vec<DatasetInput>,
        models: Vec<ModelInput>,
    ) -> Result<()> {
        self.log_inputs_impl(run_id, datasets, models).await
    }
    async fn log_outputs(&self, run_id: &str, models: Vec<ModelOutput>) -> Result<()> {
        self.log_outputs_impl(run_id, models).await
    }
    async fn get_metric_history(
        &self,
        run_id: &str,
        metric_key: &str,
        page: Option<PageRequest>,
    ) -> Result<Page<Metric>> {
        self.get_metric_history_impl(run_id, metric_key, page).await
    }
    async fn get_metric_history_bulk_interval(
        &self,
        request: HistoryInterval,
    ) -> Result<Vec<Metric>> {
        self.get_metric_history_bulk_interval_impl(request).await
    }
    async fn search_runs(&self, request: SearchRuns) -> Result<Page<Run>> {
        self.search_runs_impl(request).await
    }

    async fn create_logged_model(&self, request: CreateLoggedModel) -> Result<LoggedModel> {
        self.create_logged_model_impl(request).await
    }
    async fn get_logged_model(&self, model_id: &str) -> Result<LoggedModel> {
        self.get_logged_model_impl(model_id).await
    }
    async fn finalize_logged_model(
        &self,
        model_id: &str,
        status: LoggedModelStatus,
    ) -> Result<LoggedModel> {
        self.finalize_logged_model_impl(model_id, status).await
    }
    async fn delete_logged_model(&self, model_id: &str) -> Result<()> {
        self.delete_logged_model_impl(model_id).await
    }
    async fn set_logged_model_tags(
        &self,
        model_id: &str,
        tags: Vec<KeyValue>,
    ) -> Result<LoggedModel> {
        self.set_logged_model_tags_impl(model_id, tags).await
    }
    async fn delete_logged_model_tag(&self, model_id: &str, key: &str) -> Result<()> {
        self.delete_logged_model_tag_impl(model_id, key).await
    }
    async fn log_logged_model_params(&self, model_id: &str, params: Vec<KeyValue>) -> Result<()> {
        self.log_logged_model_params_impl(model_id, params).await
    }
    async fn search_logged_models(&self, request: SearchLoggedModels) -> Result<Page<LoggedModel>> {
        self.search_logged_models_impl(request).await
    }

    async fn create_registered_model(
        &self,
        name: &str,
        tags: Vec<KeyValue>,
        description: Option<String>,
    ) -> Result<RegisteredModel> {
        self.create_registered_model_impl(name, tags, description)
            .await
    }
    async fn get_registered_model(&self, name: &str) -> Result<RegisteredModel> {
        self.get_registered_model_impl(name).await
    }
    async fn rename_registered_model(&self, name: &str, new_name: &str) -> Result<RegisteredModel> {
        self.rename_registered_model_impl(name, new_name).await
    }
    async fn update_registered_model(
        &self,
        name: &str,
        description: Option<String>,
    ) -> Result<RegisteredModel> {
        self.update_registered_model_impl(name, description).await
    }
    async fn delete_registered_model(&self, name: &str) -> Result<()> {
        self.delete_registered_model_impl(name).await
    }
    async fn search_registered_models(&self, search: Search) -> Result<Page<RegisteredModel>> {
        self.search_registered_models_impl(search).await
    }
    async fn get_latest_versions(
        &self,
        name: &str,
        stages: Vec<Stage>,
    ) -> Result<Vec<ModelVersion>> {
        self.get_latest_versions_impl(name, stages).await
    }
    async fn set_registered_model_tag(&self, name: &str, tag: KeyValue) -> Result<()> {
        self.set_registered_model_tag_impl(name, tag).await
    }
    async fn delete_registered_model_tag(&self, name: &str, key: &str) -> Result<()> {
        self.delete_registered_model_tag_impl(name, key).await
    }

    async fn create_model_version(&self, request: CreateModelVersion) -> Result<ModelVersion> {
        self.create_model_version_impl(request).await
    }
    async fn get_model_version(&self, name: &str, version: i64) -> Result<ModelVersion> {
        self.get_model_version_impl(name, version).await
    }
    async fn update_model_version(
        &self,
        name: &str,
        version: i64,
        description: Option<String>,
    ) -> Result<ModelVersion> {
        self.update_model_version_impl(name, version, description)
            .await
    }
    async fn delete_model_version(&self, name: &str, version: i64) -> Result<()> {
        self.delete_model_version_impl(name, version).await
    }
    async fn search_model_versions(&self, search: Search) -> Result<Page<ModelVersion>> {
        self.search_model_versions_impl(search).await
    }
    async fn transition_model_version_stage(
        &self,
        name: &str,
        version: i64,
        stage: Stage,
        archive_existing_versions: bool,
    ) -> Result<ModelVersion> {
        self.transition_model_version_stage_impl(name, version, stage, archive_existing_versions)
            .await
    }
    async fn set_model_version_tag(&self, name: &str, version: i64, tag: KeyValue) -> Result<()> {
        self.set_model_version_tag_impl(name, version, tag).await
    }
    async fn delete_model_version_tag(&self, name: &str, version: i64, key: &str) -> Result<()> {
        self.delete_model_version_tag_impl(name, version, key).await
    }

    async fn set_registered_model_alias(
        &self,
        name: &str,
        alias: &str,
        version: i64,
    ) -> Result<()> {
        self.set_registered_model_alias_impl(name, alias, version)
            .await
    }
    async fn delete_registered_model_alias(&self, name: &str, alias: &str) -> Result<()> {
        self.delete_registered_model_alias_impl(name, alias).await
    }
    async fn get_model_version_by_alias(&self, name: &str, alias: &str) -> Result<ModelVersion> {
        self.get_model_version_by_alias_impl(name, alias).await
    }
    async fn list_aliases(&self, name: &str) -> Result<Vec<Alias>> {
        self.list_aliases_impl(name).await
    }

    async fn put_policy(&self, author: &str, text: &str) -> Result<PolicyRevision> {
        self.put_policy_impl(author, text).await
    }
    async fn current_policy(&self) -> Result<Option<PolicyRevision>> {
        self.current_policy_impl().await
    }
    async fn record_policy_decision(&self, decision: NewPolicyDecision) -> Result<i64> {
        self.record_policy_decision_impl(decision).await
    }
    async fn list_policy_decisions(
        &self,
        model_name: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<PolicyDecision>> {
        self.list_policy_decisions_impl(model_name, page).await
    }
    async fn runs_consuming_model(&self, model_id: &str) -> Result<Vec<String>> {
        self.runs_consuming_model_impl(model_id).await
    }

    async fn create_webhook(&self, request: CreateWebhook) -> Result<Webhook> {
        self.create_webhook_impl(request).await
    }
    async fn get_webhook(&self, webhook_id: &str) -> Result<Webhook> {
        self.get_webhook_impl(webhook_id).await
    }
    async fn list_webhooks(
        &self,
        page: PageRequest,
        mlflow_events_only: bool,
    ) -> Result<Page<Webhook>> {
        self.list_webhooks_impl(page, mlflow_events_only).await
    }
    async fn update_webhook(&self, request: UpdateWebhook) -> Result<Webhook> {
        self.update_webhook_impl(request).await
    }
    async fn delete_webhook(&self, webhook_id: &str) -> Result<()> {
        self.delete_webhook_impl(webhook_id).await
    }
    async fn webhook_subscribed(&self, events: &[WebhookEvent]) -> Result<bool> {
        self.webhook_subscribed_impl(events).await
    }
    async fn enqueue_webhook_event(&self, event: WebhookEvent, payload: &str) -> Result<u64> {
        self.enqueue_webhook_event_impl(event, payload).await
    }
    async fn claim_webhook_deliveries(
        &self,
        request: ClaimWebhookDeliveries,
    ) -> Result<ClaimedWebhookDeliveries> {
        self.claim_webhook_deliveries_impl(request).await
    }
    async fn record_webhook_attempt(&self, outcome: WebhookAttemptOutcome) -> Result<()> {
        self.record_webhook_attempt_impl(outcome).await
    }
    async fn release_webhook_deliveries(&self, delivery_ids: &[String]) -> Result<()> {
        self.release_webhook_deliveries_impl(delivery_ids).await
    }
    async fn list_webhook_deliveries(
        &self,
        webhook_id: &str,
        page: PageRequest,
    ) -> Result<Page<WebhookDelivery>> {
        self.list_webhook_deliveries_impl(webhook_id, page).await
    }

    async fn import_experiment(&self, request: ImportExperiment) -> Result<Imported> {
        self.import_experiment_impl(request).await
    }
    async fn import_run(&self, request: ImportRun) -> Result<Imported> {
        self.import_run_impl(request).await
    }
    async fn import_logged_model(&self, request: ImportLoggedModel) -> Result<Imported> {
        self.import_logged_model_impl(request).await
    }
    async fn import_registered_model(&self, request: ImportRegisteredModel) -> Result<bool> {
        self.import_registered_model_impl(request).await
    }
    async fn import_model_version(&self, request: ImportModelVersion) -> Result<bool> {
        self.import_model_version_impl(request).await
    }
    async fn import_aliases(&self, name: &str, aliases: Vec<Alias>) -> Result<u64> {
        self.import_aliases_impl(name, aliases).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_forms() {
        let check = |uri: &str, expected: &str| {
            assert_eq!(
                database_path(uri).unwrap(),
                PathBuf::from(expected),
                "{uri}"
            );
        };
        check("sqlite:///mlruns.db", "mlruns.db");
        check("sqlite:///dir/mlruns.db", "dir/mlruns.db");
        check("sqlite:////tmp/x/mlruns.db", "/tmp/x/mlruns.db");
        check("/tmp/plain.db", "/tmp/plain.db");
        check("plain.db", "plain.db");
        check("sqlite:///a.db?mode=rwc", "a.db");
        assert!(database_path("sqlite://").is_err());
        assert!(database_path("sqlite:///:memory:").is_err());
    }

    #[test]
    fn nan_round_trip_encoding() {
        let (value, is_nan) = store_value(f64::NAN);
        assert!(load_value(value, is_nan).is_nan());
        let (value, is_nan) = store_value(f64::INFINITY);
        assert_eq!(load_value(value, is_nan), f64::INFINITY);
    }
}
