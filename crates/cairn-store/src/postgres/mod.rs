//! The PostgreSQL store: for teams, and for several `cairn server` replicas on one database.
//!
//! Layout: one connection pool shared by reads and writes. Every multi-statement write is one
//! transaction; allocations that MLflow numbers ("max + 1" model versions) lock the parent row
//! (`SELECT ... FOR UPDATE`), so replicas never hand out the same number or skip one.
//!
//! Durability: a transaction that committed is on disk (PostgreSQL's default `synchronous_commit`).
//!
//! Faults: when the database cannot be reached (restarting, network gone), calls fail fast with
//! [`cairn_core::ErrorKind::Unavailable`] (HTTP 503, which MLflow's client retries); broken
//! connections are dropped when released and the pool reconnects by itself once the database is
//! back.
//!
//! Planner statistics: `statistics` analyzes the searched tables soon after they change a lot, so
//! that a search right after a burst of logging is not planned for empty tables.
//!
//! Submodules mirror the SQLite backend's: [`experiments`], [`runs`], [`logged_models`],
//! [`registry`], [`governance`], [`webhooks`], [`import`], [`statistics`]. Search filters compile through the shared
//! `crate::filter`, rendered with PostgreSQL's placeholders.

mod experiments;
mod governance;
mod import;
mod logged_models;
mod registry;
mod runs;
pub mod schema;
mod statistics;
mod webhooks;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use cairn_core::entities::{
    Alias, DatasetInput, Experiment, KeyValue, LoggedModel, LoggedModelStatus, Metric, ModelInput,
    ModelOutput, ModelVersion, Page, PolicyDecision, PolicyRevision, RegisteredModel, Run, RunInfo,
    Stage, ViewType, Webhook, WebhookDelivery, WebhookEvent,
};
use cairn_core::{Error, Result};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use crate::{
    ClaimWebhookDeliveries, ClaimedWebhookDeliveries, CreateExperiment, CreateLoggedModel,
    CreateModelVersion, CreateRun, CreateWebhook, HistoryInterval, ImportExperiment,
    ImportLoggedModel, ImportModelVersion, ImportRegisteredModel, ImportRun, Imported, LogBatch,
    MetadataStore, NewPolicyDecision, PageRequest, Search, SearchLoggedModels, SearchRuns,
    UpdateRun, UpdateWebhook, WebhookAttemptOutcome,
};

#[allow(unused_imports)]
pub(crate) use crate::shared::{
    finish_page, json_list, limit_offset, load_value, logged_model_artifact_uri, new_uuid_hex,
    now_ms, parse_column, run_artifact_uri, store_value,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Tuning knobs of [`PgStore::connect_with`]; the defaults are what `connect` uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// The most connections this process holds (PostgreSQL's own limit is shared by all replicas).
    pub max_connections: u32,
    /// How long a call waits for a connection before it fails as unavailable.
    pub acquire_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// The PostgreSQL implementation of [`crate::MetadataStore`].
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// What the statistics task needs to hear about (see `statistics`).
    activity: std::sync::Arc<statistics::Activity>,
}

/// Whether `uri` names a PostgreSQL database (`postgresql://` or `postgres://`).
pub fn is_postgres_uri(uri: &str) -> bool {
    uri.starts_with("postgresql://")
        || uri.starts_with("postgres://")
        || uri.starts_with("postgresql+psycopg2://")
}

/// `uri` as sqlx takes it: SQLAlchemy's driver suffix (`postgresql+psycopg2://`, which MLflow users
/// write) is dropped.
fn connect_options(uri: &str) -> Result<PgConnectOptions> {
    let uri = match uri.strip_prefix("postgresql+psycopg2://") {
        Some(rest) => format!("postgresql://{rest}"),
        None => uri.to_owned(),
    };
    PgConnectOptions::from_str(&uri).map_err(|error| {
        Error::invalid(format!(
            "invalid PostgreSQL uri '{}': {error}",
            redact_uri(&uri)
        ))
    })
}

/// `uri` with any password replaced by `***`, for messages and logs.
pub fn redact_uri(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return uri.to_owned();
    };
    let (authority, tail) = match rest.find('/') {
        Some(index) => rest.split_at(index),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => uri.to_owned(),
        },
        None => uri.to_owned(),
    }
}

impl PgStore {
    /// Connects to the database at `uri` (`postgresql://user:password@host:port/db`) and migrates it.
    /// The Default experiment ("0") is created if missing. Several processes may do this at once:
    /// migrations take an advisory lock.
    pub async fn connect(uri: &str) -> Result<PgStore> {
        Self::connect_with(uri, PgOptions::default()).await
    }

    /// [`PgStore::connect`] with explicit options.
    pub async fn connect_with(uri: &str, store_options: PgOptions) -> Result<PgStore> {
        let options = connect_options(uri)?.application_name("cairn");
        let pool = PgPoolOptions::new()
            .max_connections(store_options.max_connections.max(1))
            .min_connections(1)
            .acquire_timeout(store_options.acquire_timeout)
            // No ping before each use (a round trip on every call): sqlx pings a connection when it
            // is released instead and drops it if broken. After a database restart, a call on a
            // connection that was idle meanwhile fails once as Unavailable (503, which clients
            // retry) and that connection is replaced.
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(|error| {
                Error::unavailable(format!(
                    "cannot connect to PostgreSQL at {}: {error}",
                    redact_uri(uri)
                ))
            })?;
        schema::refuse_newer(&pool, &redact_uri(uri)).await?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|error| Error::internal(format!("postgresql migration failed: {error}")))?;
        let activity = statistics::spawn(pool.clone());
        let store = PgStore { pool, activity };
        store.ensure_default_experiment().await?;
        Ok(store)
    }

    /// Closes the pool. Later calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A write transaction (READ COMMITTED; row locks where a method needs more).
    #[allow(dead_code)]
    async fn write(&self) -> Result<Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(db_error)
    }

    /// A read transaction: one consistent snapshot for multi-query reads.
    #[allow(dead_code)]
    async fn read(&self) -> Result<Transaction<'static, Postgres>> {
        self.pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await
            .map_err(db_error)
    }

    async fn ensure_default_experiment(&self) -> Result<()> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO experiments \
             (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time) \
             VALUES (0, 'Default', 'mlflow-artifacts:/0', 'active', $1, $1) ON CONFLICT DO NOTHING",
        )
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }
}

/// A stub's error, until the method is ported.
#[allow(dead_code)]
pub(crate) fn not_yet(method: &str) -> Error {
    Error::internal(format!("postgresql store: {method} is not implemented yet"))
}

/// Maps a sqlx error to the domain: the database out of reach (connection refused or lost, pool
/// exhausted, server shutting down, a serialization conflict to retry) is `Unavailable`; anything
/// else is a server fault.
pub(crate) fn db_error(error: sqlx::Error) -> Error {
    if is_transient(&error) {
        return Error::unavailable(format!("the database is unavailable: {error}"));
    }
    if let sqlx::Error::Database(database) = &error {
        // 22021: a NUL character (PostgreSQL text cannot hold U+0000); 22P05: untranslatable.
        if matches!(database.code().as_deref(), Some("22021" | "22P05")) {
            return Error::invalid(
                "Invalid value: text containing a NUL character (U+0000) cannot be stored",
            );
        }
    }
    Error::internal(format!("postgresql error: {error}"))
}

fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(database) => database.code().is_some_and(|code| {
            // 08: connection exception; 57P01-57P03: admin/crash shutdown, cannot connect now;
            // 40001/40P01: serialization failure, deadlock (the transaction was rolled back).
            code.starts_with("08")
                || matches!(&*code, "57P01" | "57P02" | "57P03" | "40001" | "40P01")
        }),
        _ => false,
    }
}

/// Whether `error` is a unique-constraint violation (SQLSTATE 23505).
#[allow(dead_code)]
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(database) if database.code().as_deref() == Some("23505"))
}

#[async_trait]
impl MetadataStore for PgStore {
    async fn close(&self) {
        PgStore::close(self).await
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
    fn passwords_are_redacted() {
        assert_eq!(
            redact_uri("postgresql://cairn:secret@db:5432/cairn"),
            "postgresql://cairn:***@db:5432/cairn"
        );
        assert_eq!(
            redact_uri("postgresql://cairn@db/cairn"),
            "postgresql://cairn@db/cairn"
        );
    }

    #[test]
    fn uris_are_recognised() {
        assert!(is_postgres_uri("postgresql://u@h/d"));
        assert!(is_postgres_uri("postgres://u@h/d"));
        assert!(!is_postgres_uri("sqlite:///x.db"));
        assert!(connect_options("postgresql+psycopg2://u:p@h:5433/d").is_ok());
    }
}
