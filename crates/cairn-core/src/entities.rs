//! Domain entities. Wire shapes (MLflow's protobuf JSON) live in the server; these are the facts.
//!
//! Timestamps are milliseconds since the Unix epoch.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// A key/value pair: params, tags of every kind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

impl KeyValue {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(text: &str) -> Result<Self, Error> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err(Error::invalid(format!(
                        "Invalid value '{other}' for {}: expected one of {}",
                        stringify!($name),
                        [$($text),+].join(", ")
                    ))),
                }
            }
        }
    };
}

string_enum!(
    /// Whether a thing is live or soft-deleted.
    LifecycleStage { Active => "active", Deleted => "deleted" }
);

string_enum!(
    /// A run's execution status.
    RunStatus {
        Running => "RUNNING",
        Scheduled => "SCHEDULED",
        Finished => "FINISHED",
        Failed => "FAILED",
        Killed => "KILLED",
    }
);

string_enum!(
    /// Which lifecycle stages a search returns.
    ViewType { ActiveOnly => "ACTIVE_ONLY", DeletedOnly => "DELETED_ONLY", All => "ALL" }
);

string_enum!(
    /// The upload state of an MLflow 3 logged model.
    LoggedModelStatus {
        Unspecified => "LOGGED_MODEL_STATUS_UNSPECIFIED",
        Pending => "LOGGED_MODEL_PENDING",
        Ready => "LOGGED_MODEL_READY",
        UploadFailed => "LOGGED_MODEL_UPLOAD_FAILED",
    }
);

string_enum!(
    /// The registry's (deprecated but still used) deployment stages.
    Stage { None => "None", Staging => "Staging", Production => "Production", Archived => "Archived" }
);

impl Stage {
    /// MLflow accepts stages case-insensitively.
    pub fn parse_lenient(text: &str) -> Result<Self, Error> {
        Stage::ALL
            .iter()
            .copied()
            .find(|stage| stage.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| {
                Error::invalid(format!(
                    "Invalid Model Version stage: {text}. Value must be one of None, Staging, Production, Archived."
                ))
            })
    }
}

impl ViewType {
    pub fn includes(self, stage: LifecycleStage) -> bool {
        match self {
            ViewType::ActiveOnly => stage == LifecycleStage::Active,
            ViewType::DeletedOnly => stage == LifecycleStage::Deleted,
            ViewType::All => true,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Experiment {
    pub experiment_id: String,
    pub name: String,
    pub artifact_location: String,
    pub lifecycle_stage: LifecycleStage,
    pub creation_time: i64,
    pub last_update_time: i64,
    pub tags: Vec<KeyValue>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunInfo {
    pub run_id: String,
    pub experiment_id: String,
    pub run_name: String,
    pub user_id: String,
    pub status: RunStatus,
    pub start_time: i64,
    pub end_time: Option<i64>,
    pub artifact_uri: String,
    pub lifecycle_stage: LifecycleStage,
}

/// One metric observation. `value` may be NaN or ±Inf.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub key: String,
    pub value: f64,
    pub timestamp: i64,
    pub step: i64,
    /// MLflow 3: the logged model the value belongs to, and the dataset it was computed on.
    pub model_id: Option<String>,
    pub dataset_name: Option<String>,
    pub dataset_digest: Option<String>,
    /// Set where a metric is returned together with others runs' (bulk history).
    pub run_id: Option<String>,
}

impl Metric {
    pub fn new(key: impl Into<String>, value: f64, timestamp: i64, step: i64) -> Self {
        Self {
            key: key.into(),
            value,
            timestamp,
            step,
            model_id: None,
            dataset_name: None,
            dataset_digest: None,
            run_id: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    pub name: String,
    pub digest: String,
    pub source_type: String,
    pub source: String,
    pub schema: Option<String>,
    pub profile: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetInput {
    pub dataset: Dataset,
    pub tags: Vec<KeyValue>,
}

/// A model consumed (input) or produced (output) by a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInput {
    pub model_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelOutput {
    pub model_id: String,
    pub step: i64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunData {
    /// The latest value per key (max step, then max timestamp, then max value).
    pub metrics: Vec<Metric>,
    pub params: Vec<KeyValue>,
    pub tags: Vec<KeyValue>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunInputs {
    pub dataset_inputs: Vec<DatasetInput>,
    pub model_inputs: Vec<ModelInput>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunOutputs {
    pub model_outputs: Vec<ModelOutput>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub info: RunInfo,
    pub data: RunData,
    pub inputs: RunInputs,
    pub outputs: RunOutputs,
}

/// An MLflow 3 logged model: the model artifacts plus the params, tags and metrics attached to it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedModel {
    pub model_id: String,
    pub experiment_id: String,
    pub name: String,
    pub artifact_uri: String,
    pub creation_timestamp_ms: i64,
    pub last_updated_timestamp_ms: i64,
    pub status: LoggedModelStatus,
    pub status_message: Option<String>,
    pub model_type: Option<String>,
    pub source_run_id: Option<String>,
    pub lifecycle_stage: LifecycleStage,
    pub tags: Vec<KeyValue>,
    pub params: Vec<KeyValue>,
    pub metrics: Vec<Metric>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelVersion {
    pub name: String,
    pub version: i64,
    pub creation_timestamp: i64,
    pub last_updated_timestamp: i64,
    pub user_id: Option<String>,
    pub current_stage: Stage,
    pub description: String,
    pub source: String,
    pub run_id: Option<String>,
    pub run_link: String,
    pub status: String,
    pub status_message: Option<String>,
    pub model_id: Option<String>,
    pub tags: Vec<KeyValue>,
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    pub alias: String,
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RegisteredModel {
    pub name: String,
    pub creation_timestamp: i64,
    pub last_updated_timestamp: i64,
    pub description: Option<String>,
    pub user_id: Option<String>,
    /// The latest version in each stage.
    pub latest_versions: Vec<ModelVersion>,
    pub tags: Vec<KeyValue>,
    pub aliases: Vec<Alias>,
}

/// One page of a search: the items and, when more follow, the token of the next page.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page_token: Option<String>,
}

/// An artifact listing entry; `file_size` is absent for directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub path: String,
    pub is_dir: bool,
    pub file_size: Option<u64>,
}

/// One revision of the server's governance policy, as stored: the policy text (JSON of
/// `governance::PolicyFile`) with who set it and when. Revisions only grow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRevision {
    pub revision: i64,
    pub created_time_ms: i64,
    pub author: String,
    pub text: String,
}

/// What a policy decision was about: an alias or a stage of a model version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromotionTarget {
    Alias,
    Stage,
}

impl PromotionTarget {
    pub fn as_str(self) -> &'static str {
        match self {
            PromotionTarget::Alias => "alias",
            PromotionTarget::Stage => "stage",
        }
    }

    pub fn parse(text: &str) -> Option<PromotionTarget> {
        match text {
            "alias" => Some(PromotionTarget::Alias),
            "stage" => Some(PromotionTarget::Stage),
            _ => None,
        }
    }
}

/// One entry of the promotion audit log: a protected alias or stage was asked for, and the policy
/// allowed or refused it. `outcomes_json` is the rule-by-rule evaluation, as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDecision {
    pub id: i64,
    pub time_ms: i64,
    pub model_name: String,
    pub version: i64,
    pub target_kind: PromotionTarget,
    pub target: String,
    /// `set_alias`, `transition_stage` or `dry_run`.
    pub action: String,
    pub allowed: bool,
    pub user: String,
    pub policy_revision: Option<i64>,
    pub outcomes_json: String,
}
