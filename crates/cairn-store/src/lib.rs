//! The metadata store: everything cairn knows about experiments, runs, models and the registry.
//!
//! [`MetadataStore`] is the one interface the server, the CLI and the importers use. [`sqlite`] is the
//! embedded default; [`postgres`] serves teams (several replicas on one database). [`connect`] picks
//! the backend from the URI. Search filters compile to SQL once, in `filter`, for both.
//!
//! Contract for implementations:
//! - Inputs are already validated by `cairn_core::validation` (keys, lengths, limits); the store enforces
//!   what needs data: existence, uniqueness, param immutability, lifecycle state.
//! - A method that returns `Ok` has made its write durable.
//! - Errors are `cairn_core::Error` with the kind and MLflow's wording.
//! - Behaviour is pinned by the shared suite in `tests/suite/mod.rs` (`store_test_suite!`): a new backend
//!   instantiates it with its own factory, as `tests/sqlite.rs` does.
//!
//! Schema changes are versioned migrations under `migrations/<backend>/`, embedded in the binary and
//! applied on connect; an applied migration is never edited, a change is a new file.

mod filter;
mod forward;
mod names;
pub mod postgres;
mod run_cache;
mod run_parts;
pub mod schema;
mod shared;
pub mod sqlite;
mod targets;

pub use postgres::PgStore;
pub use run_cache::DEFAULT_RUN_CACHE_BYTES;
pub use sqlite::SqliteStore;

use async_trait::async_trait;
use cairn_core::entities::{
    Alias, DatasetInput, Experiment, KeyValue, LifecycleStage, LoggedModel, LoggedModelStatus,
    Metric, ModelInput, ModelOutput, ModelVersion, Page, PolicyDecision, PolicyRevision,
    PromotionTarget, RegisteredModel, Run, RunInfo, RunStatus, Stage, ViewType, Webhook,
    WebhookDelivery, WebhookDeliveryJob, WebhookEvent, WebhookStatus,
};
use cairn_core::search::{Filter, OrderBy};
use cairn_core::Result;

/// How to open a store, per backend; [`open`] uses the part for the URI's backend.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreOptions {
    pub sqlite: sqlite::SqliteOptions,
    pub postgres: postgres::PgOptions,
}

/// Opens (creating and migrating as needed) the store at `uri`: `postgresql://...` (also
/// `postgres://`, `postgresql+psycopg2://`) is PostgreSQL, anything else SQLite.
pub async fn open(uri: &str, options: StoreOptions) -> Result<std::sync::Arc<dyn MetadataStore>> {
    Ok(if postgres::is_postgres_uri(uri) {
        std::sync::Arc::new(postgres::PgStore::connect_with(uri, options.postgres).await?)
    } else {
        std::sync::Arc::new(sqlite::SqliteStore::connect_with(uri, options.sqlite).await?)
    })
}

/// The schema state of the database at `uri`, read without changing it (see [`schema`]).
pub async fn schema_status(uri: &str) -> Result<schema::SchemaStatus> {
    if postgres::is_postgres_uri(uri) {
        postgres::schema::schema_status(uri).await
    } else {
        sqlite::schema::schema_status(uri).await
    }
}

/// `uri` as it may be shown in logs and messages: a PostgreSQL password is replaced by `***`.
pub fn display_uri(uri: &str) -> String {
    if postgres::is_postgres_uri(uri) {
        postgres::redact_uri(uri)
    } else {
        uri.to_owned()
    }
}

/// Paging of a search: at most `max_results` items after skipping `offset`.
/// A page of one metric's history: `offset` points in, or right after `after` when the previous
/// page's token said where it ended (then `offset` is only carried on into the next token).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistoryPage {
    pub max_results: u64,
    pub offset: u64,
    pub after: Option<cairn_core::search::HistoryCursor>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub max_results: u64,
    pub offset: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreateExperiment {
    pub name: String,
    /// `None`: the store derives `mlflow-artifacts:/<id>` from the new id.
    pub artifact_location: Option<String>,
    pub tags: Vec<KeyValue>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreateRun {
    pub experiment_id: String,
    pub user_id: String,
    /// Empty: the store generates a name (and the `mlflow.runName` tag), as MLflow does.
    pub run_name: String,
    pub start_time: i64,
    pub tags: Vec<KeyValue>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UpdateRun {
    pub run_id: String,
    pub status: Option<RunStatus>,
    pub end_time: Option<i64>,
    pub run_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogBatch {
    pub metrics: Vec<Metric>,
    pub params: Vec<KeyValue>,
    pub tags: Vec<KeyValue>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SearchRuns {
    pub experiment_ids: Vec<String>,
    pub filter: Filter,
    pub view_type: ViewType,
    pub order_by: Vec<OrderBy>,
    pub page: PageRequest,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    pub filter: Filter,
    pub order_by: Vec<OrderBy>,
    pub page: PageRequest,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreateLoggedModel {
    pub experiment_id: String,
    /// Empty: the store generates one.
    pub name: String,
    pub model_type: Option<String>,
    pub source_run_id: Option<String>,
    pub params: Vec<KeyValue>,
    pub tags: Vec<KeyValue>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SearchLoggedModels {
    pub experiment_ids: Vec<String>,
    pub filter: Filter,
    pub order_by: Vec<OrderBy>,
    pub page: PageRequest,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreateModelVersion {
    pub name: String,
    pub source: String,
    pub run_id: Option<String>,
    pub run_link: Option<String>,
    pub description: Option<String>,
    pub model_id: Option<String>,
    pub tags: Vec<KeyValue>,
}

/// Active runs and the latest run start of one experiment (the UI's experiment list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExperimentRunStats {
    pub experiment_id: String,
    pub active_runs: u64,
    pub last_run_start: Option<i64>,
}

/// A chart's request for one metric of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesRequest {
    pub run_id: String,
    pub metric_key: String,
    /// Inclusive step range; `None`: all steps.
    pub steps: Option<(i64, i64)>,
    /// At most this many points are returned whole; past it, per step bucket (this many buckets)
    /// the points holding the bucket's minimum and maximum value.
    pub buckets: u32,
}

/// Metric history points for bulk/interval reads.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryInterval {
    pub run_ids: Vec<String>,
    pub metric_key: String,
    pub start_step: Option<i64>,
    pub end_step: Option<i64>,
    pub max_results: u64,
}

#[async_trait]
pub trait MetadataStore: Send + Sync + 'static {
    /// Closes the store's connections (for a clean exit); later calls fail.
    async fn close(&self);

    // Experiments
    async fn create_experiment(&self, request: CreateExperiment) -> Result<String>;
    async fn get_experiment(&self, experiment_id: &str) -> Result<Experiment>;
    async fn get_experiment_by_name(&self, name: &str) -> Result<Experiment>;
    async fn search_experiments(
        &self,
        view_type: ViewType,
        search: Search,
    ) -> Result<Page<Experiment>>;
    async fn delete_experiment(&self, experiment_id: &str) -> Result<()>;
    async fn restore_experiment(&self, experiment_id: &str) -> Result<()>;
    async fn rename_experiment(&self, experiment_id: &str, new_name: &str) -> Result<()>;
    async fn set_experiment_tag(&self, experiment_id: &str, tag: KeyValue) -> Result<()>;
    async fn delete_experiment_tag(&self, experiment_id: &str, key: &str) -> Result<()>;

    // Runs
    async fn create_run(&self, request: CreateRun) -> Result<Run>;
    async fn get_run(&self, run_id: &str) -> Result<Run>;
    async fn update_run(&self, request: UpdateRun) -> Result<RunInfo>;
    async fn delete_run(&self, run_id: &str) -> Result<()>;
    async fn restore_run(&self, run_id: &str) -> Result<()>;
    async fn set_run_tag(&self, run_id: &str, tag: KeyValue) -> Result<()>;
    async fn delete_run_tag(&self, run_id: &str, key: &str) -> Result<()>;
    /// Metrics, params and tags in one transaction: all or nothing.
    async fn log_batch(&self, run_id: &str, batch: LogBatch) -> Result<()>;
    async fn log_inputs(
        &self,
        run_id: &str,
        datasets: Vec<DatasetInput>,
        models: Vec<ModelInput>,
    ) -> Result<()>;
    async fn log_outputs(&self, run_id: &str, models: Vec<ModelOutput>) -> Result<()>;
    /// All points of one metric of one run, ordered by (step, timestamp, value).
    async fn get_metric_history(
        &self,
        run_id: &str,
        metric_key: &str,
        page: Option<HistoryPage>,
    ) -> Result<Page<Metric>>;
    async fn get_metric_history_bulk_interval(
        &self,
        request: HistoryInterval,
    ) -> Result<Vec<Metric>>;
    /// Runs come shared with the store's run cache (`run_cache`): a repeated search copies nothing.
    async fn search_runs(&self, request: SearchRuns) -> Result<Page<std::sync::Arc<Run>>>;
    /// A chart's points of one metric: all of them when there are at most `buckets`, else the
    /// min/max candidates of each step bucket (MinMaxLTTB's preselection; the caller runs
    /// `cairn_core::downsample::lttb` on them). Step order; NaN points are left out of buckets.
    async fn metric_series(&self, request: SeriesRequest) -> Result<Vec<Metric>>;
    /// Active-run counts and latest run starts of these experiments (missing ones are left out).
    async fn experiment_run_stats(
        &self,
        experiment_ids: &[String],
    ) -> Result<Vec<ExperimentRunStats>>;

    // Logged models (MLflow 3)
    async fn create_logged_model(&self, request: CreateLoggedModel) -> Result<LoggedModel>;
    async fn get_logged_model(&self, model_id: &str) -> Result<LoggedModel>;
    async fn finalize_logged_model(
        &self,
        model_id: &str,
        status: LoggedModelStatus,
    ) -> Result<LoggedModel>;
    async fn delete_logged_model(&self, model_id: &str) -> Result<()>;
    async fn set_logged_model_tags(
        &self,
        model_id: &str,
        tags: Vec<KeyValue>,
    ) -> Result<LoggedModel>;
    async fn delete_logged_model_tag(&self, model_id: &str, key: &str) -> Result<()>;
    async fn log_logged_model_params(&self, model_id: &str, params: Vec<KeyValue>) -> Result<()>;
    async fn search_logged_models(&self, request: SearchLoggedModels) -> Result<Page<LoggedModel>>;

    // Registry: registered models
    async fn create_registered_model(
        &self,
        name: &str,
        tags: Vec<KeyValue>,
        description: Option<String>,
    ) -> Result<RegisteredModel>;
    async fn get_registered_model(&self, name: &str) -> Result<RegisteredModel>;
    async fn rename_registered_model(&self, name: &str, new_name: &str) -> Result<RegisteredModel>;
    async fn update_registered_model(
        &self,
        name: &str,
        description: Option<String>,
    ) -> Result<RegisteredModel>;
    async fn delete_registered_model(&self, name: &str) -> Result<()>;
    async fn search_registered_models(&self, search: Search) -> Result<Page<RegisteredModel>>;
    /// The latest version per stage (all stages when `stages` is empty).
    async fn get_latest_versions(
        &self,
        name: &str,
        stages: Vec<Stage>,
    ) -> Result<Vec<ModelVersion>>;
    async fn set_registered_model_tag(&self, name: &str, tag: KeyValue) -> Result<()>;
    async fn delete_registered_model_tag(&self, name: &str, key: &str) -> Result<()>;

    // Registry: versions
    /// Allocates the next version number atomically (no duplicates, no gaps under concurrency).
    async fn create_model_version(&self, request: CreateModelVersion) -> Result<ModelVersion>;
    async fn get_model_version(&self, name: &str, version: i64) -> Result<ModelVersion>;
    async fn update_model_version(
        &self,
        name: &str,
        version: i64,
        description: Option<String>,
    ) -> Result<ModelVersion>;
    async fn delete_model_version(&self, name: &str, version: i64) -> Result<()>;
    async fn search_model_versions(&self, search: Search) -> Result<Page<ModelVersion>>;
    async fn transition_model_version_stage(
        &self,
        name: &str,
        version: i64,
        stage: Stage,
        archive_existing_versions: bool,
    ) -> Result<ModelVersion>;
    async fn set_model_version_tag(&self, name: &str, version: i64, tag: KeyValue) -> Result<()>;
    async fn delete_model_version_tag(&self, name: &str, version: i64, key: &str) -> Result<()>;

    // Registry: aliases
    async fn set_registered_model_alias(&self, name: &str, alias: &str, version: i64)
        -> Result<()>;
    async fn delete_registered_model_alias(&self, name: &str, alias: &str) -> Result<()>;
    async fn get_model_version_by_alias(&self, name: &str, alias: &str) -> Result<ModelVersion>;
    async fn list_aliases(&self, name: &str) -> Result<Vec<Alias>>;

    // Governance: policy revisions and the promotion audit log
    /// Stores `text` as the newest policy revision and returns it.
    async fn put_policy(&self, author: &str, text: &str) -> Result<PolicyRevision>;
    /// The policy in force: the newest revision, if any was ever stored.
    async fn current_policy(&self) -> Result<Option<PolicyRevision>>;
    /// Appends a decision to the audit log; returns its id.
    async fn record_policy_decision(&self, decision: NewPolicyDecision) -> Result<i64>;
    /// Decisions, newest first, for one model or all.
    async fn list_policy_decisions(
        &self,
        model_name: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<PolicyDecision>>;

    // Lineage
    /// Ids of the runs that logged `model_id` as an input (`log_inputs` models).
    async fn runs_consuming_model(&self, model_id: &str) -> Result<Vec<String>>;

    // Webhooks: registrations and the durable delivery outbox
    async fn create_webhook(&self, request: CreateWebhook) -> Result<Webhook>;
    /// A live (not deleted) webhook; `RESOURCE_DOES_NOT_EXIST` otherwise.
    async fn get_webhook(&self, webhook_id: &str) -> Result<Webhook>;
    /// Live webhooks, newest first. `mlflow_events_only`: only webhooks subscribed to at least one
    /// event of MLflow's vocabulary (what MLflow's clients can read).
    async fn list_webhooks(
        &self,
        page: PageRequest,
        mlflow_events_only: bool,
    ) -> Result<Page<Webhook>>;
    async fn update_webhook(&self, request: UpdateWebhook) -> Result<Webhook>;
    /// Soft-deletes the webhook; its pending deliveries fail at once.
    async fn delete_webhook(&self, webhook_id: &str) -> Result<()>;
    /// Whether any active webhook subscribes to one of `events` (a cheap read, to skip building
    /// payloads nobody receives).
    async fn webhook_subscribed(&self, events: &[WebhookEvent]) -> Result<bool>;
    /// Queues `payload` for every active webhook subscribed to `event`, in one write; returns how
    /// many deliveries were queued (due at once).
    async fn enqueue_webhook_event(&self, event: WebhookEvent, payload: &str) -> Result<u64>;
    /// Claims up to `limit` due deliveries for one worker: each is leased (not due again) until
    /// `now + lease_ms`, so that another worker sharing the store does not send it too, and a worker
    /// that dies mid-attempt leaves it due again. Deliveries of deleted or disabled webhooks fail
    /// here instead of being claimed.
    async fn claim_webhook_deliveries(
        &self,
        request: ClaimWebhookDeliveries,
    ) -> Result<ClaimedWebhookDeliveries>;
    /// Records one attempt's outcome and what follows it (done, retry at a time, or given up).
    async fn record_webhook_attempt(&self, outcome: WebhookAttemptOutcome) -> Result<()>;
    /// Makes claimed deliveries due now again without counting an attempt (a worker stopping).
    async fn release_webhook_deliveries(&self, delivery_ids: &[String]) -> Result<()>;
    /// Deliveries of a webhook, newest first, each with its attempt log.
    async fn list_webhook_deliveries(
        &self,
        webhook_id: &str,
        page: PageRequest,
    ) -> Result<Page<WebhookDelivery>>;

    // Import (`cairn import`): id-preserving inserts of things another tracking store created.
    // Each is one transaction and never overwrites: what already exists is reported, not changed.
    /// The experiment named `name`, created (with `preferred_id` when that id is free) unless one by
    /// that name exists. `id` is the cairn experiment id, `artifact_uri` its artifact location.
    async fn import_experiment(&self, request: ImportExperiment) -> Result<Imported>;
    /// A run with its own id, times, status, lifecycle, params, tags, full metric history and
    /// inputs/outputs, all in one transaction; `created: false` (nothing written) when the id exists.
    async fn import_run(&self, request: ImportRun) -> Result<Imported>;
    /// A logged model with its own id, times and status, its params, tags and metrics.
    async fn import_logged_model(&self, request: ImportLoggedModel) -> Result<Imported>;
    /// A registered model with its times and tags; `created: false` when the name exists.
    async fn import_registered_model(&self, request: ImportRegisteredModel) -> Result<bool>;
    /// A model version with its own number, stage (or deleted state), times and tags;
    /// `created: false` when (name, version) exists. The registered model must exist.
    async fn import_model_version(&self, request: ImportModelVersion) -> Result<bool>;
    /// Sets the aliases that are not set yet (never moves an existing one); returns how many were set.
    async fn import_aliases(&self, name: &str, aliases: Vec<Alias>) -> Result<u64>;
}

/// The outcome of an import call: whether it wrote anything, and the thing's cairn id and
/// artifact location (the existing ones when nothing was written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub created: bool,
    pub id: String,
    pub artifact_uri: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImportExperiment {
    pub preferred_id: Option<i64>,
    pub name: String,
    pub lifecycle_stage: LifecycleStage,
    pub creation_time: i64,
    pub last_update_time: i64,
    pub tags: Vec<KeyValue>,
}

/// A run as another store recorded it. `artifact_uri` is derived by the store from the experiment's
/// location, as for [`MetadataStore::create_run`].
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRun {
    pub run_id: String,
    pub experiment_id: String,
    pub run_name: String,
    pub user_id: String,
    pub status: RunStatus,
    pub start_time: i64,
    pub end_time: Option<i64>,
    pub lifecycle_stage: LifecycleStage,
    pub deleted_time: Option<i64>,
    pub params: Vec<KeyValue>,
    pub tags: Vec<KeyValue>,
    /// Every point of every metric (the whole history; duplicates are dropped).
    pub metrics: Vec<Metric>,
    pub dataset_inputs: Vec<DatasetInput>,
    pub model_inputs: Vec<ModelInput>,
    pub model_outputs: Vec<ModelOutput>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImportLoggedModel {
    pub model_id: String,
    pub experiment_id: String,
    pub name: String,
    pub status: LoggedModelStatus,
    pub status_message: Option<String>,
    pub model_type: Option<String>,
    pub source_run_id: Option<String>,
    pub lifecycle_stage: LifecycleStage,
    pub creation_timestamp_ms: i64,
    pub last_updated_timestamp_ms: i64,
    pub params: Vec<KeyValue>,
    pub tags: Vec<KeyValue>,
    /// Each with `run_id` set (the run that logged it).
    pub metrics: Vec<Metric>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImportRegisteredModel {
    pub name: String,
    pub creation_timestamp: i64,
    pub last_updated_timestamp: i64,
    pub description: Option<String>,
    pub user_id: Option<String>,
    pub tags: Vec<KeyValue>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImportModelVersion {
    pub name: String,
    pub version: i64,
    pub creation_timestamp: i64,
    pub last_updated_timestamp: i64,
    pub description: Option<String>,
    pub user_id: Option<String>,
    /// `None`: a deleted version (kept so that its number is never reused).
    pub current_stage: Option<Stage>,
    pub source: String,
    pub run_id: Option<String>,
    pub run_link: Option<String>,
    pub status: String,
    pub status_message: Option<String>,
    pub model_id: Option<String>,
    pub tags: Vec<KeyValue>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateWebhook {
    pub name: String,
    pub description: Option<String>,
    pub url: String,
    /// Deduplicated by the store.
    pub events: Vec<WebhookEvent>,
    pub secret: Option<String>,
    pub status: WebhookStatus,
}

/// A partial update: `None` leaves the field as it is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpdateWebhook {
    pub webhook_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub url: Option<String>,
    /// Replaces the whole subscription.
    pub events: Option<Vec<WebhookEvent>>,
    pub secret: Option<String>,
    pub status: Option<WebhookStatus>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimWebhookDeliveries {
    pub now_ms: i64,
    pub limit: u32,
    pub lease_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClaimedWebhookDeliveries {
    pub jobs: Vec<WebhookDeliveryJob>,
    /// The earliest time a pending delivery (claimed ones included) is due, if any is pending.
    pub next_due_ms: Option<i64>,
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryNext {
    Succeeded,
    RetryAt(i64),
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookAttemptOutcome {
    pub delivery_id: String,
    pub time_ms: i64,
    pub duration_ms: i64,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub next: DeliveryNext,
}

/// A decision to append to the audit log (see [`PolicyDecision`]).
#[derive(Debug, Clone)]
pub struct NewPolicyDecision {
    pub model_name: String,
    pub version: i64,
    pub target_kind: PromotionTarget,
    pub target: String,
    pub action: String,
    pub allowed: bool,
    pub user: String,
    pub policy_revision: Option<i64>,
    pub outcomes_json: String,
}
