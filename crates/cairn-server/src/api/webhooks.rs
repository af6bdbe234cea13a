//! Webhooks over HTTP: MLflow's six routes (`/api/2.0/mlflow/webhooks...`, protobuf JSON, events as
//! `{"entity": "MODEL_VERSION", "action": "CREATED"}`), cairn's own routes
//! (`/api/2.0/cairn/webhooks...`, events as `"model_version.created"` strings, extension events
//! allowed, delivery log), and the helpers the registry handlers call to emit events.
//!
//! MLflow's clients read events as protobuf enums and fail on names they do not know, so MLflow's
//! routes never show cairn's extension events (`model_version_stage.updated`,
//! `model_version_promotion.refused`): a webhook's events are filtered, a webhook subscribed to
//! extension events only is left out of MLflow's list, and an MLflow update of the events keeps the
//! extension ones. The webhook shapes live here rather than in `wire` because they exist only for
//! these routes.

use axum::extract::{Path, State};
use axum::Json;
use cairn_core::entities::{
    KeyValue, Webhook, WebhookAction, WebhookDelivery, WebhookEntity, WebhookEvent, WebhookStatus,
};
use cairn_core::search::decode_page_token;
use cairn_core::Error;
use cairn_store::{CreateWebhook, PageRequest, UpdateWebhook};
use serde_json::{json, Map, Value};

use super::error::ApiResult;
use super::params::Params;
use super::{empty, AppState};
use crate::governance::{Promotion, PromotionCheck};
use crate::webhooks::payload::{self, FailedRule, Payload, PromotionRefused};

/// Which API a request came through: how events are read and shown, and which are visible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Mlflow,
    Cairn,
}

/// MLflow's `WebhookEntity` proto enum: number, name, entity.
const MLFLOW_ENTITIES: &[(i64, &str, WebhookEntity)] = &[
    (1, "REGISTERED_MODEL", WebhookEntity::RegisteredModel),
    (2, "MODEL_VERSION", WebhookEntity::ModelVersion),
    (3, "MODEL_VERSION_TAG", WebhookEntity::ModelVersionTag),
    (4, "MODEL_VERSION_ALIAS", WebhookEntity::ModelVersionAlias),
    (5, "PROMPT", WebhookEntity::Prompt),
    (6, "PROMPT_VERSION", WebhookEntity::PromptVersion),
    (7, "PROMPT_TAG", WebhookEntity::PromptTag),
    (8, "PROMPT_VERSION_TAG", WebhookEntity::PromptVersionTag),
    (9, "PROMPT_ALIAS", WebhookEntity::PromptAlias),
    (10, "BUDGET_POLICY", WebhookEntity::BudgetPolicy),
];

/// MLflow's `WebhookAction` proto enum.
const MLFLOW_ACTIONS: &[(i64, &str, WebhookAction)] = &[
    (1, "CREATED", WebhookAction::Created),
    (2, "UPDATED", WebhookAction::Updated),
    (3, "DELETED", WebhookAction::Deleted),
    (4, "SET", WebhookAction::Set),
    (5, "EXCEEDED", WebhookAction::Exceeded),
];

const WEBHOOK_STATUSES: &[(i64, WebhookStatus)] =
    &[(1, WebhookStatus::Active), (2, WebhookStatus::Disabled)];

const IS_PROMPT_TAG: &str = "mlflow.prompt.is_prompt";
const PROMPT_TYPE_TAG: &str = "_mlflow_prompt_type";
const PROMPT_TEXT_TAG: &str = "mlflow.prompt.text";

/// A proto enum field by name or number.
fn proto_enum<T: Copy>(item: &Params, field: &str, table: &[(i64, &str, T)]) -> Result<T, Error> {
    let found = match item.get_raw(field) {
        None => return Err(Error::missing(field)),
        Some(Value::Number(number)) => number
            .as_i64()
            .and_then(|wanted| table.iter().find(|(n, _, _)| *n == wanted)),
        Some(Value::String(name)) => table.iter().find(|(_, known, _)| known == name),
        Some(_) => None,
    };
    found.map(|(_, _, value)| *value).ok_or_else(|| {
        let shown = item
            .get_raw(field)
            .map(|value| match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            })
            .unwrap_or_default();
        let names: Vec<&str> = table.iter().map(|(_, name, _)| *name).collect();
        Error::invalid(format!(
            "Invalid value {shown} for parameter '{field}' supplied: expected one of {}",
            names.join(", ")
        ))
    })
}

fn mlflow_event(item: &Params) -> Result<WebhookEvent, Error> {
    let entity = proto_enum(item, "entity", MLFLOW_ENTITIES)?;
    let action = proto_enum(item, "action", MLFLOW_ACTIONS)?;
    WebhookEvent::new(entity, action)
}

fn mlflow_event_json(event: WebhookEvent) -> Option<Value> {
    let entity = MLFLOW_ENTITIES
        .iter()
        .find(|(_, _, entity)| *entity == event.entity)?;
    let action = MLFLOW_ACTIONS
        .iter()
        .find(|(_, _, action)| *action == event.action)?;
    Some(json!({"entity": entity.1, "action": action.1}))
}

/// The `events` field: `None` when absent (or, for MLflow, an empty list: "no change" on update).
fn events_of(params: &Params, dialect: Dialect) -> Result<Option<Vec<WebhookEvent>>, Error> {
    if !params.has("events") {
        return Ok(None);
    }
    let events = match dialect {
        Dialect::Mlflow => params
            .objects("events")?
            .iter()
            .map(mlflow_event)
            .collect::<Result<Vec<_>, _>>()?,
        Dialect::Cairn => params
            .string_list("events")?
            .iter()
            .map(|text| WebhookEvent::parse(text))
            .collect::<Result<Vec<_>, _>>()?,
    };
    Ok(Some(events))
}

fn event_param(params: &Params, dialect: Dialect) -> Result<Option<WebhookEvent>, Error> {
    match dialect {
        Dialect::Mlflow => params
            .object("event")?
            .map(|item| mlflow_event(&item))
            .transpose(),
        Dialect::Cairn => params
            .string("event")?
            .map(|text| WebhookEvent::parse(&text))
            .transpose(),
    }
}

/// MLflow's `_validate_webhook_name`.
fn validate_name(name: &str) -> Result<(), Error> {
    let characters: Vec<char> = name.chars().collect();
    let edge_ok = |c: &char| c.is_ascii_alphanumeric();
    let valid = (1..=63).contains(&characters.len())
        && characters.first().is_some_and(edge_ok)
        && characters.last().is_some_and(edge_ok)
        && characters
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "Webhook name {} is invalid. It must start and end with a letter or digit, be less than 63 characters long, and contain only letters, digits, dots (.), underscores (_), and hyphens (-).",
        crate::webhooks::url::py_repr(name)
    )))
}

fn validate_events(events: &[WebhookEvent]) -> Result<(), Error> {
    if events.is_empty() {
        return Err(Error::invalid(
            "Webhook events must be a non-empty list of WebhookEvent objects: [].",
        ));
    }
    Ok(())
}

fn visible(event: WebhookEvent, dialect: Dialect) -> bool {
    dialect == Dialect::Cairn || event.is_mlflow()
}

fn webhook_json(webhook: &Webhook, dialect: Dialect) -> Value {
    let mut object = Map::new();
    object.insert("webhook_id".into(), webhook.webhook_id.clone().into());
    object.insert("name".into(), webhook.name.clone().into());
    // MLflow leaves an empty description out.
    if let Some(description) = webhook.description.as_ref().filter(|d| !d.is_empty()) {
        object.insert("description".into(), description.clone().into());
    }
    object.insert("url".into(), webhook.url.clone().into());
    let events: Vec<Value> = webhook
        .events
        .iter()
        .filter(|event| visible(**event, dialect))
        .filter_map(|event| match dialect {
            Dialect::Mlflow => mlflow_event_json(*event),
            Dialect::Cairn => Some(Value::String(event.to_string())),
        })
        .collect();
    if !events.is_empty() {
        object.insert("events".into(), Value::Array(events));
    }
    object.insert("status".into(), webhook.status.as_str().into());
    if dialect == Dialect::Cairn {
        // The secret itself is write-only.
        let has_secret = webhook.secret.as_ref().is_some_and(|s| !s.is_empty());
        object.insert("has_secret".into(), has_secret.into());
    }
    object.insert(
        "creation_timestamp".into(),
        webhook.creation_timestamp.into(),
    );
    object.insert(
        "last_updated_timestamp".into(),
        webhook.last_updated_timestamp.into(),
    );
    Value::Object(object)
}

fn webhook_response(webhook: &Webhook, dialect: Dialect) -> Json<Value> {
    Json(json!({ "webhook": webhook_json(webhook, dialect) }))
}

fn page_of(params: &Params) -> Result<PageRequest, Error> {
    // MLflow: `max_results or 100`, then 1..=1000.
    let max_results = params
        .i64("max_results")?
        .filter(|n| *n != 0)
        .unwrap_or(100);
    if !(1..=1000).contains(&max_results) {
        return Err(Error::invalid("max_results must be between 1 and 1000."));
    }
    Ok(PageRequest {
        max_results: max_results as u64,
        offset: decode_page_token(params.string("page_token")?.as_deref())?,
    })
}

async fn create(state: &AppState, params: &Params, dialect: Dialect) -> ApiResult<Json<Value>> {
    let name = params.required_string("name")?;
    let url = params.required_string("url")?;
    let Some(events) = events_of(params, dialect)? else {
        return Err(Error::missing("events").into());
    };
    let description = params.string("description")?.filter(|d| !d.is_empty());
    let secret = params.string("secret")?.filter(|s| !s.is_empty());
    let status = params
        .enumeration("status", WEBHOOK_STATUSES)?
        .unwrap_or(WebhookStatus::Active);
    validate_name(&name)?;
    state.webhooks.validate_url(&url).await?;
    validate_events(&events)?;
    let webhook = state
        .store
        .create_webhook(CreateWebhook {
            name,
            description,
            url,
            events,
            secret,
            status,
        })
        .await?;
    Ok(webhook_response(&webhook, dialect))
}

async fn update(
    state: &AppState,
    webhook_id: String,
    params: &Params,
    dialect: Dialect,
) -> ApiResult<Json<Value>> {
    let name = params.string("name")?.filter(|name| !name.is_empty());
    let url = params.string("url")?.filter(|url| !url.is_empty());
    let events = events_of(params, dialect)?.filter(|events| !events.is_empty());
    let description = params.string("description")?;
    let secret = params.string("secret")?;
    let status = params.enumeration("status", WEBHOOK_STATUSES)?;
    let current = state.store.get_webhook(&webhook_id).await?;
    if let Some(name) = &name {
        validate_name(name)?;
    }
    if let Some(url) = &url {
        state.webhooks.validate_url(url).await?;
    }
    // Through MLflow's route only MLflow's events are seen, so only they are replaced.
    let events = events.map(|mut events| {
        if dialect == Dialect::Mlflow {
            events.extend(current.events.iter().filter(|event| !event.is_mlflow()));
        }
        events
    });
    let webhook = state
        .store
        .update_webhook(UpdateWebhook {
            webhook_id,
            name,
            description,
            url,
            events,
            secret,
            status,
        })
        .await?;
    Ok(webhook_response(&webhook, dialect))
}

async fn list(state: &AppState, params: &Params, dialect: Dialect) -> ApiResult<Json<Value>> {
    let page = page_of(params)?;
    let webhooks = state
        .store
        .list_webhooks(page, dialect == Dialect::Mlflow)
        .await?;
    let mut answer = Map::new();
    if !webhooks.items.is_empty() {
        let items = webhooks
            .items
            .iter()
            .map(|webhook| webhook_json(webhook, dialect))
            .collect();
        answer.insert("webhooks".into(), Value::Array(items));
    }
    if let Some(token) = webhooks.next_page_token {
        answer.insert("next_page_token".into(), token.into());
    }
    Ok(Json(Value::Object(answer)))
}

/// Sends an example payload at once and reports the receiver's answer (MLflow's
/// `WebhookTestResult`); nothing is queued or logged.
async fn test(
    state: &AppState,
    webhook_id: &str,
    params: &Params,
    dialect: Dialect,
) -> ApiResult<Json<Value>> {
    let requested = event_param(params, dialect)?;
    let webhook = state.store.get_webhook(webhook_id).await?;
    let event = requested
        .or_else(|| {
            webhook
                .events
                .iter()
                .copied()
                .find(|event| visible(*event, dialect))
        })
        .or_else(|| webhook.events.first().copied())
        .ok_or_else(|| Error::invalid("The webhook has no events to test"))?;
    let body = payload::body(
        event,
        &payload::example(event),
        std::time::SystemTime::now(),
    );
    let delivery_id = uuid::Uuid::new_v4().to_string();
    let result = match state
        .webhooks
        .send(&webhook.url, webhook.secret.as_deref(), &delivery_id, &body)
        .await
    {
        Ok(answer) => json!({
            "success": answer.status < 400,
            "response_status": answer.status,
            "response_body": answer.body,
        }),
        Err(error) => json!({
            "success": false,
            "error_message": format!("Failed to test webhook: {error}"),
        }),
    };
    Ok(Json(json!({ "result": result })))
}

// ------------------------------------------------------------------------------------------------
// MLflow's routes

/// `POST /api/2.0/mlflow/webhooks`
pub async fn mlflow_create(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<Json<Value>> {
    create(&state, &params, Dialect::Mlflow).await
}

/// `GET /api/2.0/mlflow/webhooks`
pub async fn mlflow_list(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    list(&state, &params, Dialect::Mlflow).await
}

/// `GET /api/2.0/mlflow/webhooks/{webhook_id}`
pub async fn mlflow_get(
    State(state): State<AppState>,
    Path(webhook_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let webhook = state.store.get_webhook(&webhook_id).await?;
    Ok(webhook_response(&webhook, Dialect::Mlflow))
}

/// `PATCH /api/2.0/mlflow/webhooks/{webhook_id}`
pub async fn mlflow_update(
    State(state): State<AppState>,
    Path(webhook_id): Path<String>,
    params: Params,
) -> ApiResult<Json<Value>> {
    update(&state, webhook_id, &params, Dialect::Mlflow).await
}

/// `DELETE /api/2.0/mlflow/webhooks/{webhook_id}` (and cairn's, the same).
pub async fn delete(
    State(state): State<AppState>,
    Path(webhook_id): Path<String>,
) -> ApiResult<Json<Value>> {
    state.store.delete_webhook(&webhook_id).await?;
    Ok(empty())
}

/// `POST /api/2.0/mlflow/webhooks/{webhook_id}/test`
pub async fn mlflow_test(
    State(state): State<AppState>,
    Path(webhook_id): Path<String>,
    params: Params,
) -> ApiResult<Json<Value>> {
    test(&state, &webhook_id, &params, Dialect::Mlflow).await
}

// ------------------------------------------------------------------------------------------------
// cairn's routes

/// `POST /api/2.0/cairn/webhooks` `{name, url, events: ["model_version_stage.updated", ...],
/// description, secret, status}`
pub async fn cairn_create(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    create(&state, &params, Dialect::Cairn).await
}

/// `GET /api/2.0/cairn/webhooks`: every webhook, extension events included.
pub async fn cairn_list(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    list(&state, &params, Dialect::Cairn).await
}

/// `GET /api/2.0/cairn/webhooks/{webhook_id}`
pub async fn cairn_get(
    State(state): State<AppState>,
    Path(webhook_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let webhook = state.store.get_webhook(&webhook_id).await?;
    Ok(webhook_response(&webhook, Dialect::Cairn))
}

/// `PATCH /api/2.0/cairn/webhooks/{webhook_id}` (events replace the whole subscription).
pub async fn cairn_update(
    State(state): State<AppState>,
    Path(webhook_id): Path<String>,
    params: Params,
) -> ApiResult<Json<Value>> {
    update(&state, webhook_id, &params, Dialect::Cairn).await
}

/// `POST /api/2.0/cairn/webhooks/{webhook_id}/test` `{event: "model_version.created"}`
pub async fn cairn_test(
    State(state): State<AppState>,
    Path(webhook_id): Path<String>,
    params: Params,
) -> ApiResult<Json<Value>> {
    test(&state, &webhook_id, &params, Dialect::Cairn).await
}

fn delivery_json(delivery: &WebhookDelivery) -> Value {
    let payload: Value = serde_json::from_str(&delivery.payload)
        .unwrap_or_else(|_| Value::String(delivery.payload.clone()));
    let attempt_log: Vec<Value> = delivery
        .attempt_log
        .iter()
        .map(|attempt| {
            json!({
                "attempt": attempt.attempt,
                "time": attempt.time_ms,
                "duration_ms": attempt.duration_ms,
                "status_code": attempt.status_code,
                "error": attempt.error,
            })
        })
        .collect();
    json!({
        "delivery_id": delivery.delivery_id,
        "webhook_id": delivery.webhook_id,
        "event": delivery.event.to_string(),
        "status": delivery.status.as_str(),
        "attempts": delivery.attempts,
        "next_attempt_time": delivery.next_attempt_time_ms,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_time": delivery.created_time_ms,
        "completed_time": delivery.completed_time_ms,
        "payload": payload,
        "attempt_log": attempt_log,
    })
}

/// `GET /api/2.0/cairn/webhooks/{webhook_id}/deliveries?max_results=&page_token=`: newest first.
pub async fn cairn_deliveries(
    State(state): State<AppState>,
    Path(webhook_id): Path<String>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let page = page_of(&params)?;
    let deliveries = state
        .store
        .list_webhook_deliveries(&webhook_id, page)
        .await?;
    let mut answer = json!({
        "deliveries": deliveries.items.iter().map(delivery_json).collect::<Vec<_>>(),
    });
    if let Some(token) = deliveries.next_page_token {
        answer["next_page_token"] = json!(token);
    }
    Ok(Json(answer))
}

// ------------------------------------------------------------------------------------------------
// Emitting events from the registry handlers

fn event(entity: WebhookEntity, action: WebhookAction) -> WebhookEvent {
    WebhookEvent { entity, action }
}

/// MLflow's `_is_prompt_request`: the last `mlflow.prompt.is_prompt` tag says `true`.
pub(crate) fn is_prompt_request(tags: &[KeyValue]) -> bool {
    payload::Tags::new(tags)
        .get(IS_PROMPT_TAG)
        .is_some_and(|value| value.eq_ignore_ascii_case("true"))
}

/// Emits `model_event`, or `prompt_event` when the registered model `name` is a prompt (MLflow's
/// handlers do the same). The model is read only when someone subscribes to either.
async fn emit_for_model(
    state: &AppState,
    name: &str,
    model_event: Option<WebhookEvent>,
    prompt_event: WebhookEvent,
    data: Payload,
) {
    let candidates: Vec<WebhookEvent> = model_event.into_iter().chain([prompt_event]).collect();
    if !state.webhooks.subscribed(&*state.store, &candidates).await {
        return;
    }
    let is_prompt = match state.store.get_registered_model(name).await {
        Ok(model) => is_prompt_request(&model.tags),
        Err(_) => false,
    };
    let chosen = if is_prompt {
        Some(prompt_event)
    } else {
        model_event
    };
    if let Some(chosen) = chosen {
        state.webhooks.emit(&*state.store, chosen, &data).await;
    }
}

/// `registered_model.created` (or `prompt.created`), from the request's fields as MLflow sends them.
pub(crate) async fn registered_model_created(
    state: &AppState,
    name: &str,
    tags: &[KeyValue],
    description: Option<&str>,
) {
    let mut payload_tags = payload::Tags::new(tags);
    let created = if is_prompt_request(tags) {
        payload_tags.take(IS_PROMPT_TAG);
        payload_tags.take(PROMPT_TYPE_TAG);
        event(WebhookEntity::Prompt, WebhookAction::Created)
    } else {
        event(WebhookEntity::RegisteredModel, WebhookAction::Created)
    };
    let data = Payload::ModelCreated(payload::ModelCreated {
        name: name.to_owned(),
        tags: payload_tags,
        description: description.unwrap_or_default().to_owned(),
    });
    state.webhooks.emit(&*state.store, created, &data).await;
}

/// `model_version.created` (or `prompt_version.created`).
pub(crate) async fn model_version_created(
    state: &AppState,
    version: &cairn_core::entities::ModelVersion,
    request_tags: &[KeyValue],
    description: Option<&str>,
) {
    let mut tags = payload::Tags::new(request_tags);
    let description = description.filter(|d| !d.is_empty()).map(str::to_owned);
    let (created, data) = if is_prompt_request(request_tags) {
        let template = tags.take(PROMPT_TEXT_TAG);
        tags.take(IS_PROMPT_TAG);
        tags.take(PROMPT_TYPE_TAG);
        (
            event(WebhookEntity::PromptVersion, WebhookAction::Created),
            Payload::PromptVersionCreated(payload::PromptVersionCreated {
                name: version.name.clone(),
                version: version.version.to_string(),
                template,
                tags,
                description,
            }),
        )
    } else {
        (
            event(WebhookEntity::ModelVersion, WebhookAction::Created),
            Payload::VersionCreated(payload::VersionCreated {
                name: version.name.clone(),
                version: version.version.to_string(),
                source: version.source.clone(),
                run_id: version.run_id.clone().filter(|id| !id.is_empty()),
                tags,
                description,
            }),
        )
    };
    state.webhooks.emit(&*state.store, created, &data).await;
}

/// `model_version_tag.set` (or `prompt_version_tag.set`).
pub(crate) async fn version_tag_set(state: &AppState, name: &str, version: i64, tag: &KeyValue) {
    let data = Payload::VersionTagSet(payload::VersionTagSet {
        name: name.to_owned(),
        version: version.to_string(),
        key: tag.key.clone(),
        value: tag.value.clone(),
    });
    emit_for_model(
        state,
        name,
        Some(event(WebhookEntity::ModelVersionTag, WebhookAction::Set)),
        event(WebhookEntity::PromptVersionTag, WebhookAction::Set),
        data,
    )
    .await;
}

/// `model_version_tag.deleted` (or `prompt_version_tag.deleted`).
pub(crate) async fn version_tag_deleted(state: &AppState, name: &str, version: i64, key: &str) {
    let data = Payload::VersionTagDeleted(payload::VersionTagDeleted {
        name: name.to_owned(),
        version: version.to_string(),
        key: key.to_owned(),
    });
    emit_for_model(
        state,
        name,
        Some(event(
            WebhookEntity::ModelVersionTag,
            WebhookAction::Deleted,
        )),
        event(WebhookEntity::PromptVersionTag, WebhookAction::Deleted),
        data,
    )
    .await;
}

/// `prompt_tag.set` (a registered model's tag makes an event only for prompts, as in MLflow).
pub(crate) async fn registered_model_tag_set(state: &AppState, name: &str, tag: &KeyValue) {
    let data = Payload::TagSet(payload::TagSet {
        name: name.to_owned(),
        key: tag.key.clone(),
        value: tag.value.clone(),
    });
    emit_for_model(
        state,
        name,
        None,
        event(WebhookEntity::PromptTag, WebhookAction::Set),
        data,
    )
    .await;
}

/// `prompt_tag.deleted`.
pub(crate) async fn registered_model_tag_deleted(state: &AppState, name: &str, key: &str) {
    let data = Payload::TagDeleted(payload::TagDeleted {
        name: name.to_owned(),
        key: key.to_owned(),
    });
    emit_for_model(
        state,
        name,
        None,
        event(WebhookEntity::PromptTag, WebhookAction::Deleted),
        data,
    )
    .await;
}

/// `model_version_alias.created` (or `prompt_alias.created`).
pub(crate) async fn alias_created(state: &AppState, name: &str, alias: &str, version: i64) {
    let data = Payload::AliasCreated(payload::AliasCreated {
        name: name.to_owned(),
        alias: alias.to_owned(),
        version: version.to_string(),
    });
    emit_for_model(
        state,
        name,
        Some(event(
            WebhookEntity::ModelVersionAlias,
            WebhookAction::Created,
        )),
        event(WebhookEntity::PromptAlias, WebhookAction::Created),
        data,
    )
    .await;
}

/// `model_version_alias.deleted` (or `prompt_alias.deleted`).
pub(crate) async fn alias_deleted(state: &AppState, name: &str, alias: &str) {
    let data = Payload::AliasDeleted(payload::AliasDeleted {
        name: name.to_owned(),
        alias: alias.to_owned(),
    });
    emit_for_model(
        state,
        name,
        Some(event(
            WebhookEntity::ModelVersionAlias,
            WebhookAction::Deleted,
        )),
        event(WebhookEntity::PromptAlias, WebhookAction::Deleted),
        data,
    )
    .await;
}

const STAGE_UPDATED: WebhookEvent = WebhookEvent {
    entity: WebhookEntity::ModelVersionStage,
    action: WebhookAction::Updated,
};

/// The stage a version is in before a transition, read only when someone subscribes to cairn's
/// `model_version_stage.updated`.
pub(crate) async fn stage_before(state: &AppState, name: &str, version: i64) -> Option<String> {
    if !state
        .webhooks
        .subscribed(&*state.store, &[STAGE_UPDATED])
        .await
    {
        return None;
    }
    let current = state.store.get_model_version(name, version).await.ok()?;
    Some(current.current_stage.as_str().to_owned())
}

/// cairn's `model_version_stage.updated`.
pub(crate) async fn stage_updated(
    state: &AppState,
    version: &cairn_core::entities::ModelVersion,
    from_stage: Option<String>,
    archive_existing_versions: bool,
) {
    let data = Payload::StageUpdated(payload::StageUpdated {
        name: version.name.clone(),
        version: version.version.to_string(),
        from_stage,
        to_stage: version.current_stage.as_str().to_owned(),
        archive_existing_versions,
    });
    state
        .webhooks
        .emit(&*state.store, STAGE_UPDATED, &data)
        .await;
}

const PROMOTION_REFUSED: WebhookEvent = WebhookEvent {
    entity: WebhookEntity::ModelVersionPromotion,
    action: WebhookAction::Refused,
};

/// `Governance::authorize`, plus cairn's `model_version_promotion.refused` event when the policy
/// refuses (`PERMISSION_DENIED`). The error is returned unchanged.
pub(crate) async fn authorize_promotion(
    state: &AppState,
    name: &str,
    version: i64,
    promotion: &Promotion,
    action: &str,
    user: &str,
) -> Result<PromotionCheck, Error> {
    let check = state
        .governance
        .judge(name, version, promotion, action, user)
        .await?;
    let Some(refusal) = check.refusal(name, version, promotion) else {
        return Ok(check);
    };
    if state
        .webhooks
        .subscribed(&*state.store, &[PROMOTION_REFUSED])
        .await
    {
        // The decision's rule-by-rule outcome, for the payload (the refusal carries it as text).
        let failed_rules: Vec<FailedRule> = check
            .evaluation
            .failures()
            .into_iter()
            .map(|outcome| FailedRule {
                rule: outcome.rule.clone(),
                actual: outcome.actual.clone(),
                required: outcome.required.clone(),
            })
            .collect();
        let summary = check.evaluation.summary();
        let data = Payload::PromotionRefused(PromotionRefused {
            name: name.to_owned(),
            version: version.to_string(),
            target_kind: promotion.kind().as_str().to_owned(),
            target: promotion.target(),
            action: action.to_owned(),
            user: user.to_owned(),
            policy_revision: check.policy_revision,
            summary,
            failed_rules,
        });
        state
            .webhooks
            .emit(&*state.store, PROMOTION_REFUSED, &data)
            .await;
    }
    Err(refusal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_names() {
        for good in ["a", "A1", "my-hook.v2_x", &"x".repeat(63)] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in ["", "-a", "a-", "a b", "é", &"x".repeat(64)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        assert_eq!(
            validate_name("-bad").unwrap_err().message,
            "Webhook name '-bad' is invalid. It must start and end with a letter or digit, be less than 63 characters long, and contain only letters, digits, dots (.), underscores (_), and hyphens (-)."
        );
    }

    #[test]
    fn extension_events_stay_out_of_mlflows_shape() {
        let webhook = Webhook {
            webhook_id: "id".into(),
            name: "n".into(),
            description: Some(String::new()),
            url: "https://example.com".into(),
            events: vec![
                WebhookEvent::parse("model_version.created").unwrap(),
                WebhookEvent::parse("model_version_stage.updated").unwrap(),
            ],
            status: WebhookStatus::Active,
            secret: Some("s".into()),
            creation_timestamp: 1,
            last_updated_timestamp: 2,
        };
        assert_eq!(
            webhook_json(&webhook, Dialect::Mlflow),
            json!({
                "webhook_id": "id", "name": "n", "url": "https://example.com",
                "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}],
                "status": "ACTIVE", "creation_timestamp": 1, "last_updated_timestamp": 2,
            })
        );
        let cairn = webhook_json(&webhook, Dialect::Cairn);
        assert_eq!(
            cairn["events"],
            json!(["model_version.created", "model_version_stage.updated"])
        );
        assert_eq!(cairn["has_secret"], json!(true));
        assert!(!cairn.to_string().contains("\"s\""));
    }
}
