//! The model registry: registered models, versions, stages, tags and aliases.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use cairn_core::entities::{KeyValue, ModelVersion, Stage};
use cairn_core::governance::NamedThing;
use cairn_core::search::{decode_page_token, parse_filter, parse_order_by, SearchKind};
use cairn_core::{validation, Error};
use cairn_store::{CreateModelVersion, PageRequest, Search};
use serde_json::{json, Value};

use super::cairn::request_user;
use super::error::ApiResult;
use super::params::Params;
use super::{empty, webhooks, wire, AppState};
use crate::governance::Promotion;

fn name_of(params: &Params) -> Result<String, Error> {
    let name = params.required_string("name")?;
    validation::validate_model_name(&name)?;
    Ok(name)
}

fn version_of(params: &Params) -> Result<i64, Error> {
    let version = match params.get_raw("version") {
        Some(Value::Number(number)) => number.to_string(),
        _ => params.required_string("version")?,
    };
    validation::parse_version(&version)
}

fn registry_tags(params: &Params) -> Result<Vec<KeyValue>, Error> {
    let tags = params.key_values("tags")?;
    for tag in &tags {
        validation::validate_registry_tag(tag)?;
    }
    Ok(tags)
}

fn tag_of(params: &Params) -> Result<KeyValue, Error> {
    let tag = KeyValue {
        key: params.required_string("key")?,
        value: params.required_string_allow_empty("value")?,
    };
    validation::validate_registry_tag(&tag)?;
    Ok(tag)
}

fn search_of(
    params: &Params,
    kind: SearchKind,
    default: u64,
    maximum: u64,
) -> Result<Search, Error> {
    Ok(Search {
        filter: parse_filter(kind, &params.string("filter")?.unwrap_or_default())?,
        order_by: parse_order_by(kind, &params.string_list("order_by")?)?,
        page: PageRequest {
            max_results: validation::max_results(params.i64("max_results")?, default, maximum)?,
            offset: decode_page_token(params.string("page_token")?.as_deref())?,
        },
    })
}

fn registered_model_response(model: &cairn_core::entities::RegisteredModel) -> Json<Value> {
    Json(json!({ "registered_model": wire::registered_model(model) }))
}

fn model_version_response(version: &ModelVersion) -> Json<Value> {
    Json(json!({ "model_version": wire::model_version(version) }))
}

pub async fn create_registered_model(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let name = name_of(&params)?;
    let tags = registry_tags(&params)?;
    let naming = state.governance.naming();
    naming.check(NamedThing::RegisteredModelName, &name)?;
    naming.check_tag_keys(tags.iter().map(|tag| tag.key.as_str()))?;
    let description = params.string("description")?;
    let model = state
        .store
        .create_registered_model(&name, tags.clone(), description.clone())
        .await?;
    webhooks::registered_model_created(&state, &name, &tags, description.as_deref()).await;
    Ok(registered_model_response(&model))
}

pub async fn get_registered_model(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let model = state.store.get_registered_model(&name_of(&params)?).await?;
    Ok(registered_model_response(&model))
}

pub async fn rename_registered_model(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let name = name_of(&params)?;
    let new_name = params.required_string("new_name")?;
    validation::validate_model_name(&new_name)?;
    state
        .governance
        .naming()
        .check(NamedThing::RegisteredModelName, &new_name)?;
    let model = state
        .store
        .rename_registered_model(&name, &new_name)
        .await?;
    Ok(registered_model_response(&model))
}

pub async fn update_registered_model(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let name = name_of(&params)?;
    let model = state
        .store
        .update_registered_model(&name, params.string("description")?)
        .await?;
    Ok(registered_model_response(&model))
}

pub async fn delete_registered_model(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<Json<Value>> {
    state
        .store
        .delete_registered_model(&name_of(&params)?)
        .await?;
    Ok(empty())
}

pub async fn search_registered_models(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let search = search_of(
        &params,
        SearchKind::RegisteredModels,
        validation::SEARCH_REGISTERED_MODELS_DEFAULT,
        validation::SEARCH_REGISTERED_MODELS_MAX,
    )?;
    let page = state.store.search_registered_models(search).await?;
    let models = page.items.iter().map(wire::registered_model).collect();
    Ok(Json(wire::page(
        "registered_models",
        models,
        page.next_page_token,
    )))
}

pub async fn get_latest_versions(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let name = name_of(&params)?;
    let stages = params
        .string_list("stages")?
        .iter()
        .map(|stage| Stage::parse_lenient(stage))
        .collect::<Result<Vec<_>, _>>()?;
    let versions = state.store.get_latest_versions(&name, stages).await?;
    Ok(Json(wire::page(
        "model_versions",
        versions.iter().map(wire::model_version).collect(),
        None,
    )))
}

pub async fn set_registered_model_tag(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let name = name_of(&params)?;
    let tag = tag_of(&params)?;
    state
        .governance
        .naming()
        .check_tag_keys([tag.key.as_str()])?;
    state
        .store
        .set_registered_model_tag(&name, tag.clone())
        .await?;
    webhooks::registered_model_tag_set(&state, &name, &tag).await;
    Ok(empty())
}

pub async fn delete_registered_model_tag(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let name = name_of(&params)?;
    let key = params.required_string("key")?;
    state.store.delete_registered_model_tag(&name, &key).await?;
    webhooks::registered_model_tag_deleted(&state, &name, &key).await;
    Ok(empty())
}

pub async fn create_model_version(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let name = name_of(&params)?;
    let source = params.required_string("source")?;
    let model_id = params.string("model_id")?.filter(|id| !id.is_empty());
    let mut run_id = params.string("run_id")?.filter(|id| !id.is_empty());
    if let Some(model_id) = &model_id {
        // The logged model must exist; it also names the run when the client left it out.
        let model = state.store.get_logged_model(model_id).await?;
        run_id = run_id.or(model.source_run_id);
    }
    let description = params.string("description")?;
    let tags = registry_tags(&params)?;
    let request = CreateModelVersion {
        name,
        source,
        run_id,
        run_link: params.string("run_link")?,
        description: description.clone(),
        model_id,
        tags: tags.clone(),
    };
    let version = state.store.create_model_version(request).await?;
    webhooks::model_version_created(&state, &version, &tags, description.as_deref()).await;
    Ok(model_version_response(&version))
}

pub async fn get_model_version(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let version = state
        .store
        .get_model_version(&name_of(&params)?, version_of(&params)?)
        .await?;
    Ok(model_version_response(&version))
}

pub async fn update_model_version(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let name = name_of(&params)?;
    let version = version_of(&params)?;
    let updated = state
        .store
        .update_model_version(&name, version, params.string("description")?)
        .await?;
    Ok(model_version_response(&updated))
}

pub async fn delete_model_version(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<Json<Value>> {
    state
        .store
        .delete_model_version(&name_of(&params)?, version_of(&params)?)
        .await?;
    Ok(empty())
}

pub async fn search_model_versions(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let search = search_of(
        &params,
        SearchKind::ModelVersions,
        validation::SEARCH_MODEL_VERSIONS_DEFAULT,
        validation::SEARCH_MODEL_VERSIONS_MAX,
    )?;
    let page = state.store.search_model_versions(search).await?;
    let versions = page.items.iter().map(wire::model_version).collect();
    Ok(Json(wire::page(
        "model_versions",
        versions,
        page.next_page_token,
    )))
}

/// Where a version's files are: a logged model's artifact URI for `models:/<model_id>` sources, the
/// run's artifacts for `runs:/<run_id>/<path>`, or the source itself.
pub async fn get_download_uri(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let version = state
        .store
        .get_model_version(&name_of(&params)?, version_of(&params)?)
        .await?;
    let artifact_uri = download_uri(&state, &version).await?;
    Ok(Json(json!({ "artifact_uri": artifact_uri })))
}

pub async fn download_uri(state: &AppState, version: &ModelVersion) -> Result<String, Error> {
    if let Some(model_id) = version
        .source
        .strip_prefix("models:/")
        .filter(|rest| rest.starts_with("m-") && !rest.contains('/'))
    {
        return Ok(state.store.get_logged_model(model_id).await?.artifact_uri);
    }
    if let Some(rest) = version.source.strip_prefix("runs:/") {
        let (run_id, path) = rest.split_once('/').unwrap_or((rest, ""));
        let run = state.store.get_run(run_id).await?;
        return Ok(if path.is_empty() {
            run.info.artifact_uri
        } else {
            format!("{}/{path}", run.info.artifact_uri)
        });
    }
    Ok(version.source.clone())
}

pub async fn transition_stage(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Params,
) -> ApiResult<Json<Value>> {
    let name = name_of(&params)?;
    let version = version_of(&params)?;
    let stage = Stage::parse_lenient(&params.required_string("stage")?)?;
    let archive = params.bool("archive_existing_versions")?.unwrap_or(false);
    webhooks::authorize_promotion(
        &state,
        &name,
        version,
        &Promotion::Stage(stage),
        "transition_stage",
        &request_user(&headers),
    )
    .await?;
    let from_stage = webhooks::stage_before(&state, &name, version).await;
    let updated = state
        .store
        .transition_model_version_stage(&name, version, stage, archive)
        .await?;
    webhooks::stage_updated(&state, &updated, from_stage, archive).await;
    Ok(model_version_response(&updated))
}

pub async fn set_model_version_tag(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let name = name_of(&params)?;
    let version = version_of(&params)?;
    let tag = tag_of(&params)?;
    state
        .governance
        .naming()
        .check_tag_keys([tag.key.as_str()])?;
    state
        .store
        .set_model_version_tag(&name, version, tag.clone())
        .await?;
    webhooks::version_tag_set(&state, &name, version, &tag).await;
    Ok(empty())
}

pub async fn delete_model_version_tag(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let name = name_of(&params)?;
    let version = version_of(&params)?;
    let key = params.required_string("key")?;
    state
        .store
        .delete_model_version_tag(&name, version, &key)
        .await?;
    webhooks::version_tag_deleted(&state, &name, version, &key).await;
    Ok(empty())
}

pub async fn set_alias(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Params,
) -> ApiResult<Json<Value>> {
    let name = name_of(&params)?;
    let alias = params.required_string("alias")?;
    validation::validate_alias(&alias)?;
    let version = version_of(&params)?;
    let promotion = Promotion::Alias(alias.clone());
    webhooks::authorize_promotion(
        &state,
        &name,
        version,
        &promotion,
        "set_alias",
        &request_user(&headers),
    )
    .await?;
    state
        .store
        .set_registered_model_alias(&name, &alias, version)
        .await?;
    webhooks::alias_created(&state, &name, &alias, version).await;
    Ok(empty())
}

pub async fn delete_alias(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let name = name_of(&params)?;
    let alias = params.required_string("alias")?;
    state
        .store
        .delete_registered_model_alias(&name, &alias)
        .await?;
    webhooks::alias_deleted(&state, &name, &alias).await;
    Ok(empty())
}

pub async fn get_by_alias(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let name = name_of(&params)?;
    let version = state
        .store
        .get_model_version_by_alias(&name, &params.required_string("alias")?)
        .await?;
    Ok(model_version_response(&version))
}
