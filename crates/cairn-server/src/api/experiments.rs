//! Experiments: create, get, get-by-name, search, delete, restore, rename, tags.

use axum::extract::State;
use axum::Json;
use cairn_core::entities::{KeyValue, ViewType};
use cairn_core::governance::NamedThing;
use cairn_core::search::{decode_page_token, parse_filter, parse_order_by, SearchKind};
use cairn_core::validation;
use cairn_store::{CreateExperiment, PageRequest, Search};
use serde_json::{json, Value};

use super::error::ApiResult;
use super::params::Params;
use super::{empty, wire, AppState};

pub async fn create(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let name = params.required_string("name")?;
    validation::validate_experiment_name(&name)?;
    let artifact_location = params
        .string("artifact_location")?
        .filter(|location| !location.is_empty());
    if let Some(location) = &artifact_location {
        if location.starts_with("runs:") {
            return Err(super::error::ApiError::invalid(format!(
                "Invalid artifact location '{location}': an experiment's artifact location must not be a runs:/ URI"
            )));
        }
    }
    let tags = params.key_values("tags")?;
    let naming = state.governance.naming();
    naming.check(NamedThing::ExperimentName, &name)?;
    naming.check_tag_keys(tags.iter().map(|tag| tag.key.as_str()))?;
    for tag in &tags {
        validation::validate_experiment_tag(tag)?;
    }
    let experiment_id = state
        .store
        .create_experiment(CreateExperiment {
            name,
            artifact_location,
            tags,
        })
        .await?;
    Ok(Json(json!({ "experiment_id": experiment_id })))
}

pub async fn get(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let experiment_id = params.required_string("experiment_id")?;
    let experiment = state.store.get_experiment(&experiment_id).await?;
    Ok(Json(json!({ "experiment": wire::experiment(&experiment) })))
}

pub async fn get_by_name(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let name = params.required_string("experiment_name")?;
    let experiment = state.store.get_experiment_by_name(&name).await?;
    Ok(Json(json!({ "experiment": wire::experiment(&experiment) })))
}

pub async fn search(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let max_results = validation::max_results(
        params.i64("max_results")?,
        validation::SEARCH_MAX_RESULTS_DEFAULT,
        validation::SEARCH_MAX_RESULTS_THRESHOLD,
    )?;
    let offset = decode_page_token(params.string("page_token")?.as_deref())?;
    let filter = parse_filter(
        SearchKind::Experiments,
        &params.string("filter")?.unwrap_or_default(),
    )?;
    let order_by = parse_order_by(SearchKind::Experiments, &params.string_list("order_by")?)?;
    let view = params
        .enumeration("view_type", wire::VIEW_TYPES)?
        .unwrap_or(ViewType::ActiveOnly);
    let page = state
        .store
        .search_experiments(
            view,
            Search {
                filter,
                order_by,
                page: PageRequest {
                    max_results,
                    offset,
                },
            },
        )
        .await?;
    let items = page.items.iter().map(wire::experiment).collect();
    Ok(Json(wire::page("experiments", items, page.next_page_token)))
}

pub async fn delete(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let experiment_id = params.required_string("experiment_id")?;
    state.store.delete_experiment(&experiment_id).await?;
    Ok(empty())
}

pub async fn restore(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let experiment_id = params.required_string("experiment_id")?;
    state.store.restore_experiment(&experiment_id).await?;
    Ok(empty())
}

pub async fn update(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let experiment_id = params.required_string("experiment_id")?;
    let new_name = params.required_string("new_name")?;
    validation::validate_experiment_name(&new_name)?;
    state
        .governance
        .naming()
        .check(NamedThing::ExperimentName, &new_name)?;
    state
        .store
        .rename_experiment(&experiment_id, &new_name)
        .await?;
    Ok(empty())
}

pub async fn set_tag(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let experiment_id = params.required_string("experiment_id")?;
    let tag = KeyValue {
        key: params.required_string("key")?,
        value: params.required_string_allow_empty("value")?,
    };
    validation::validate_experiment_tag(&tag)?;
    state
        .governance
        .naming()
        .check_tag_keys([tag.key.as_str()])?;
    state.store.set_experiment_tag(&experiment_id, tag).await?;
    Ok(empty())
}

pub async fn delete_tag(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let experiment_id = params.required_string("experiment_id")?;
    let key = params.required_string("key")?;
    state
        .store
        .delete_experiment_tag(&experiment_id, &key)
        .await?;
    Ok(empty())
}
