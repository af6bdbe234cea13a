//! cairn's own API (`/api/2.0/cairn/...`): the governance policy, promotions and their audit log,
//! and lineage. Errors use MLflow's shape (`error_code`, `message`) like every other route.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use cairn_core::entities::{PolicyDecision, PolicyRevision, Stage};
use cairn_core::governance::PolicyFile;
use cairn_core::lineage::Direction;
use cairn_core::search::decode_page_token;
use cairn_core::{validation, Error};
use cairn_store::PageRequest;
use serde_json::{json, Value};

use super::error::ApiResult;
use super::params::Params;
use super::{webhooks, AppState};
use crate::governance::lineage::{self, Start};
use crate::governance::{ActivePolicy, Promotion, PromotionCheck};

/// Who is asking: the HTTP Basic user (what `MLFLOW_TRACKING_USERNAME` sends), else `anonymous`.
pub fn request_user(headers: &HeaderMap) -> String {
    use base64::Engine as _;
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "))
        .and_then(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()
        })
        .and_then(|decoded| String::from_utf8(decoded).ok())
        .and_then(|pair| pair.split(':').next().map(str::to_owned))
        .filter(|user| !user.is_empty())
        .unwrap_or_else(|| "anonymous".to_owned())
}

fn revision_json(revision: Option<&PolicyRevision>) -> Value {
    match revision {
        Some(revision) => json!({
            "revision": revision.revision,
            "created_time": revision.created_time_ms,
            "author": revision.author,
        }),
        None => Value::Null,
    }
}

fn policy_response(active: &ActivePolicy) -> ApiResult<Json<Value>> {
    let policy = serde_json::to_value(&active.file)
        .map_err(|error| Error::internal(format!("cannot serialize the policy: {error}")))?;
    Ok(Json(json!({
        "revision": revision_json(active.revision.as_ref()),
        "policy": policy,
        "yaml": active.file.to_yaml(),
    })))
}

/// `GET /api/2.0/cairn/policy`: the policy in force.
pub async fn get_policy(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let active = state.governance.refresh().await?;
    policy_response(&active)
}

/// `PUT /api/2.0/cairn/policy` with `{"yaml": "..."}` or `{"policy": {...}}`: validates and stores a
/// new revision, in force at once.
pub async fn put_policy(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Params,
) -> ApiResult<Json<Value>> {
    let file = if let Some(yaml) = params.string("yaml")? {
        PolicyFile::from_yaml(&yaml)
    } else if let Some(policy) = params.get_raw("policy") {
        PolicyFile::from_json(&policy.to_string())
    } else {
        return Err(
            Error::invalid("Missing value for required parameter 'yaml' (or 'policy')").into(),
        );
    }
    .map_err(|error| Error::invalid(format!("Invalid policy: {error}")))?;
    let active = state
        .governance
        .replace_policy(&request_user(&headers), file)
        .await?;
    policy_response(&active)
}

fn promotion_of(params: &Params) -> Result<Promotion, Error> {
    match (params.string("alias")?, params.string("stage")?) {
        (Some(alias), None) => {
            validation::validate_alias(&alias)?;
            Ok(Promotion::Alias(alias))
        }
        (None, Some(stage)) => Ok(Promotion::Stage(Stage::parse_lenient(&stage)?)),
        _ => Err(Error::invalid(
            "Exactly one of 'alias' and 'stage' must be given",
        )),
    }
}

fn check_json(check: &PromotionCheck) -> ApiResult<Value> {
    let evaluation = serde_json::to_value(&check.evaluation)
        .map_err(|error| Error::internal(format!("cannot serialize an evaluation: {error}")))?;
    Ok(json!({
        "protected": check.protected,
        "allowed": check.allowed(),
        "policy_revision": check.policy_revision,
        "evaluation": evaluation,
    }))
}

/// `POST /api/2.0/cairn/registered-models/promote` `{name, version, alias|stage, dry_run}`: evaluates
/// the policy rule by rule; unless `dry_run`, applies the alias or stage when allowed (refusals are
/// `PERMISSION_DENIED`, recorded in the audit log like any registry call).
pub async fn promote(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Params,
) -> ApiResult<Json<Value>> {
    let name = params.required_string("name")?;
    validation::validate_model_name(&name)?;
    let version = match params.get_raw("version") {
        Some(Value::Number(number)) => number.to_string(),
        _ => params.required_string("version")?,
    };
    let version = validation::parse_version(&version)?;
    let promotion = promotion_of(&params)?;
    if params.bool("dry_run")?.unwrap_or(false) {
        let check = state
            .governance
            .check_promotion(&name, version, &promotion)
            .await?;
        let mut answer = check_json(&check)?;
        answer["applied"] = json!(false);
        return Ok(Json(answer));
    }
    let check = webhooks::authorize_promotion(
        &state,
        &name,
        version,
        &promotion,
        "promote",
        &request_user(&headers),
    )
    .await?;
    match &promotion {
        Promotion::Alias(alias) => {
            state
                .store
                .set_registered_model_alias(&name, alias, version)
                .await?;
            webhooks::alias_created(&state, &name, alias, version).await;
        }
        Promotion::Stage(stage) => {
            let from_stage = webhooks::stage_before(&state, &name, version).await;
            let updated = state
                .store
                .transition_model_version_stage(&name, version, *stage, false)
                .await?;
            webhooks::stage_updated(&state, &updated, from_stage, false).await;
        }
    }
    let mut answer = check_json(&check)?;
    answer["applied"] = json!(true);
    Ok(Json(answer))
}

fn decision_json(decision: &PolicyDecision) -> Value {
    let outcomes: Value = serde_json::from_str(&decision.outcomes_json)
        .unwrap_or(Value::String(decision.outcomes_json.clone()));
    json!({
        "id": decision.id,
        "time": decision.time_ms,
        "name": decision.model_name,
        "version": decision.version.to_string(),
        "target_kind": decision.target_kind.as_str(),
        "target": decision.target,
        "action": decision.action,
        "allowed": decision.allowed,
        "user": decision.user,
        "policy_revision": decision.policy_revision,
        "evaluation": outcomes,
    })
}

/// `GET /api/2.0/cairn/registered-models/audit?name=&max_results=&page_token=`: policy decisions,
/// newest first.
pub async fn audit(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let name = params.string("name")?.filter(|name| !name.is_empty());
    let max_results = params.i64("max_results")?.unwrap_or(100);
    if !(1..=1000).contains(&max_results) {
        return Err(Error::invalid(format!(
            "Invalid value {max_results} for parameter 'max_results': it must be between 1 and 1000"
        ))
        .into());
    }
    let page_token = params.string("page_token")?;
    let offset = decode_page_token(page_token.as_deref())?;
    let page = state
        .store
        .list_policy_decisions(
            name.as_deref(),
            PageRequest {
                max_results: max_results as u64,
                offset,
            },
        )
        .await?;
    let mut answer = json!({
        "decisions": page.items.iter().map(decision_json).collect::<Vec<_>>(),
    });
    if let Some(token) = page.next_page_token {
        answer["next_page_token"] = json!(token);
    }
    Ok(Json(answer))
}

/// `GET /api/2.0/cairn/lineage`: the graph around one of `uri` (`models:/name/3`,
/// `models:/name@alias`, `models:/m-...`), `name` + `version`|`alias`, `run_id` or `model_id`;
/// `direction` (upstream, downstream, both; default both) and `depth` (default 6, at most 20).
pub async fn lineage(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let start = if let Some(uri) = params.string("uri")?.filter(|uri| !uri.is_empty()) {
        Start::from_models_uri(&uri)?
    } else if let Some(run_id) = params.string("run_id")?.filter(|id| !id.is_empty()) {
        Start::Run(run_id)
    } else if let Some(model_id) = params.string("model_id")?.filter(|id| !id.is_empty()) {
        Start::LoggedModel(model_id)
    } else if let Some(name) = params.string("name")?.filter(|name| !name.is_empty()) {
        match (params.string("alias")?, params.string("version")?) {
            (Some(alias), _) => Start::ModelAlias { name, alias },
            (None, Some(version)) => Start::ModelVersion {
                name,
                version: validation::parse_version(&version)?,
            },
            (None, None) => {
                return Err(Error::invalid("Lineage by 'name' needs 'version' or 'alias'").into())
            }
        }
    } else {
        return Err(Error::invalid(
            "Missing value for required parameter: one of 'uri', 'run_id', 'model_id' or 'name' must be given",
        )
        .into());
    };
    let direction = match params.string("direction")? {
        Some(text) => Direction::parse(&text).ok_or_else(|| {
            Error::invalid(format!(
                "Invalid value '{text}' for parameter 'direction': expected upstream, downstream or both"
            ))
        })?,
        None => Direction::Both,
    };
    let depth = params.i64("depth")?.unwrap_or(6);
    if !(0..=i64::from(lineage::MAX_DEPTH)).contains(&depth) {
        return Err(Error::invalid(format!(
            "Invalid value {depth} for parameter 'depth': it must be between 0 and {}",
            lineage::MAX_DEPTH
        ))
        .into());
    }
    let graph = lineage::walk(&*state.store, &start, direction, depth as u32).await?;
    let graph = serde_json::to_value(&graph)
        .map_err(|error| Error::internal(format!("cannot serialize a lineage graph: {error}")))?;
    Ok(Json(graph))
}
