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

string_enum!(
    /// Whether a webhook is delivered to (MLflow's `WebhookStatus`).
    WebhookStatus { Active => "ACTIVE", Disabled => "DISABLED" }
);

string_enum!(
    /// What a webhook event is about. The first ten are MLflow's `WebhookEntity` vocabulary; the
    /// last two are cairn extensions, never shown through MLflow's webhook routes.
    WebhookEntity {
        RegisteredModel => "registered_model",
        ModelVersion => "model_version",
        ModelVersionTag => "model_version_tag",
        ModelVersionAlias => "model_version_alias",
        Prompt => "prompt",
        PromptVersion => "prompt_version",
        PromptTag => "prompt_tag",
        PromptVersionTag => "prompt_version_tag",
        PromptAlias => "prompt_alias",
        BudgetPolicy => "budget_policy",
        ModelVersionStage => "model_version_stage",
        ModelVersionPromotion => "model_version_promotion",
    }
);

string_enum!(
    /// What happened to the entity (MLflow's `WebhookAction`, plus cairn's `refused`).
    WebhookAction {
        Created => "created",
        Updated => "updated",
        Deleted => "deleted",
        Set => "set",
        Exceeded => "exceeded",
        Refused => "refused",
    }
);

impl WebhookEntity {
    /// Part of MLflow's vocabulary (as opposed to a cairn extension).
    pub fn is_mlflow(self) -> bool {
        !matches!(
            self,
            WebhookEntity::ModelVersionStage | WebhookEntity::ModelVersionPromotion
        )
    }

    /// The actions a webhook may subscribe to for this entity (MLflow's `VALID_ENTITY_ACTIONS`,
    /// plus the extensions).
    pub fn valid_actions(self) -> &'static [WebhookAction] {
        use WebhookAction as A;
        match self {
            WebhookEntity::RegisteredModel
            | WebhookEntity::ModelVersion
            | WebhookEntity::Prompt
            | WebhookEntity::PromptVersion => &[A::Created],
            WebhookEntity::ModelVersionTag
            | WebhookEntity::PromptTag
            | WebhookEntity::PromptVersionTag => &[A::Deleted, A::Set],
            WebhookEntity::ModelVersionAlias | WebhookEntity::PromptAlias => {
                &[A::Created, A::Deleted]
            }
            WebhookEntity::BudgetPolicy => &[A::Exceeded],
            WebhookEntity::ModelVersionStage => &[A::Updated],
            WebhookEntity::ModelVersionPromotion => &[A::Refused],
        }
    }
}

impl WebhookAction {
    pub fn is_mlflow(self) -> bool {
        self != WebhookAction::Refused
    }
}

/// One kind of event a webhook subscribes to: `entity.action`, e.g. `model_version.created`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WebhookEvent {
    pub entity: WebhookEntity,
    pub action: WebhookAction,
}

impl PartialOrd for WebhookEntity {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Ordered by the stored text, as MLflow lists a webhook's events.
impl Ord for WebhookEntity {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for WebhookAction {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for WebhookAction {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl WebhookEvent {
    /// A valid combination, or MLflow's `Invalid action '...' for entity '...'` error.
    pub fn new(entity: WebhookEntity, action: WebhookAction) -> Result<WebhookEvent, Error> {
        let valid = entity.valid_actions();
        if valid.contains(&action) {
            return Ok(WebhookEvent { entity, action });
        }
        let listed = valid
            .iter()
            .map(|action| format!("'{action}'"))
            .collect::<Vec<_>>()
            .join(", ");
        Err(Error::invalid(format!(
            "Invalid action '{action}' for entity '{entity}'. Valid actions are: [{listed}]"
        )))
    }

    /// Parses `entity.action`, with MLflow's `WebhookEvent.from_str` messages.
    pub fn parse(text: &str) -> Result<WebhookEvent, Error> {
        let parts: Vec<&str> = text.split('.').collect();
        let [entity, action] = parts.as_slice() else {
            return Err(Error::invalid(format!(
                "Invalid event string format: {text}. Expected format: 'entity.action' (e.g., 'registered_model.created')"
            )));
        };
        // Python's `ValueError` text for an unknown enum value, as MLflow's message embeds it.
        let unknown = |value: &str, kind: &str| {
            Error::invalid(format!(
                "Invalid entity or action in event string: {text}. Error: '{value}' is not a valid {kind}"
            ))
        };
        let entity =
            WebhookEntity::from_str(entity).map_err(|_| unknown(entity, "WebhookEntity"))?;
        let action =
            WebhookAction::from_str(action).map_err(|_| unknown(action, "WebhookAction"))?;
        WebhookEvent::new(entity, action)
    }

    /// Whether MLflow's clients know this event (both parts are MLflow vocabulary).
    pub fn is_mlflow(self) -> bool {
        self.entity.is_mlflow() && self.action.is_mlflow()
    }
}

impl fmt::Display for WebhookEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.entity, self.action)
    }
}

/// A registered webhook. `secret` is write-only for clients: it signs deliveries and is never
/// answered back; `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Webhook {
    pub webhook_id: String,
    pub name: String,
    pub description: Option<String>,
    pub url: String,
    /// Sorted by (entity, action) text, as MLflow lists them.
    pub events: Vec<WebhookEvent>,
    pub status: WebhookStatus,
    pub secret: Option<String>,
    pub creation_timestamp: i64,
    pub last_updated_timestamp: i64,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("webhook_id", &self.webhook_id)
            .field("name", &self.name)
            .field("description", &self.description)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("status", &self.status)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("creation_timestamp", &self.creation_timestamp)
            .field("last_updated_timestamp", &self.last_updated_timestamp)
            .finish()
    }
}

string_enum!(
    /// Where a delivery stands: waiting (first try or a retry), delivered, or given up.
    WebhookDeliveryStatus { Pending => "pending", Succeeded => "succeeded", Failed => "failed" }
);

/// One HTTP attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDeliveryAttempt {
    /// 1 for the first try.
    pub attempt: i64,
    pub time_ms: i64,
    pub duration_ms: i64,
    /// The receiver's HTTP status, absent when no answer came (connection error, timeout).
    pub status_code: Option<i64>,
    pub error: Option<String>,
}

/// One event queued for one webhook (the durable outbox), with every attempt made so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    /// Sent as `X-MLflow-Delivery-Id`; the same on every attempt, so receivers can deduplicate.
    pub delivery_id: String,
    pub webhook_id: String,
    pub event: WebhookEvent,
    /// The JSON body, exactly as sent (and signed).
    pub payload: String,
    pub status: WebhookDeliveryStatus,
    pub attempts: i64,
    /// When the next attempt is due (pending deliveries only).
    pub next_attempt_time_ms: Option<i64>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub created_time_ms: i64,
    pub completed_time_ms: Option<i64>,
    pub attempt_log: Vec<WebhookDeliveryAttempt>,
}

/// A delivery claimed by a worker: what it needs to send one attempt. `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookDeliveryJob {
    pub delivery_id: String,
    pub webhook_id: String,
    pub url: String,
    pub secret: Option<String>,
    pub event: WebhookEvent,
    pub payload: String,
    /// Attempts already made before this one.
    pub attempts: i64,
}

impl fmt::Debug for WebhookDeliveryJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookDeliveryJob")
            .field("delivery_id", &self.delivery_id)
            .field("webhook_id", &self.webhook_id)
            .field("url", &self.url)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("event", &self.event)
            .field("attempts", &self.attempts)
            .finish()
    }
}

#[cfg(test)]
mod webhook_tests {
    use super::*;

    #[test]
    fn webhook_event_strings() {
        let check = |text: &str, expected: Result<&str, &str>| match (
            WebhookEvent::parse(text),
            expected,
        ) {
            (Ok(event), Ok(shown)) => assert_eq!(event.to_string(), shown, "{text}"),
            (Err(error), Err(fragment)) => {
                assert!(
                    error.message.contains(fragment),
                    "{text}: {}",
                    error.message
                )
            }
            (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
        };
        check("registered_model.created", Ok("registered_model.created"));
        check("model_version_tag.deleted", Ok("model_version_tag.deleted"));
        check(
            "model_version_stage.updated",
            Ok("model_version_stage.updated"),
        );
        check(
            "model_version_promotion.refused",
            Ok("model_version_promotion.refused"),
        );
        check(
            "registered_model.deleted",
            Err("Invalid action 'deleted' for entity 'registered_model'. Valid actions are: ['created']"),
        );
        check(
            "model_version_tag.created",
            Err("Valid actions are: ['deleted', 'set']"),
        );
        check("nope.created", Err("'nope' is not a valid WebhookEntity"));
        check(
            "model_version.nope",
            Err("'nope' is not a valid WebhookAction"),
        );
        check(
            "model_version",
            Err("Invalid event string format: model_version."),
        );
        check("a.b.c", Err("Invalid event string format"));
    }

    #[test]
    fn vocabulary() {
        let mlflow: Vec<_> = WebhookEntity::ALL
            .iter()
            .filter(|e| e.is_mlflow())
            .collect();
        assert_eq!(mlflow.len(), 10);
        assert!(!WebhookEvent::parse("model_version_stage.updated")
            .unwrap()
            .is_mlflow());
        assert!(WebhookEvent::parse("prompt_alias.deleted")
            .unwrap()
            .is_mlflow());
        let mut events = [
            WebhookEvent::parse("registered_model.created").unwrap(),
            WebhookEvent::parse("model_version_tag.set").unwrap(),
            WebhookEvent::parse("model_version.created").unwrap(),
        ];
        events.sort();
        let shown: Vec<String> = events.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "model_version.created",
                "model_version_tag.set",
                "registered_model.created"
            ]
        );
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let webhook = Webhook {
            webhook_id: "id".into(),
            name: "n".into(),
            description: None,
            url: "https://example.com".into(),
            events: vec![],
            status: WebhookStatus::Active,
            secret: Some("hunter2".into()),
            creation_timestamp: 0,
            last_updated_timestamp: 0,
        };
        assert!(!format!("{webhook:?}").contains("hunter2"));
    }
}
