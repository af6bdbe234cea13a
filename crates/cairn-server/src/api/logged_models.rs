//! MLflow 3 logged models.

use axum::extract::{Path, State};
use axum::Json;
use cairn_core::artifact_path::ArtifactPath;
use cairn_core::entities::KeyValue;
use cairn_core::search::{decode_page_token, parse_filter, parse_order_by, SearchKind};
use cairn_core::{validation, Error};
use cairn_store::{CreateLoggedModel, PageRequest, SearchLoggedModels};
use serde_json::{json, Value};

use super::error::ApiResult;
use super::params::Params;
use super::{artifacts, empty, wire, AppState};

fn tags_of(params: &Params) -> Result<Vec<KeyValue>, Error> {
    let tags = params.key_values("tags")?;
    for tag in &tags {
        validation::validate_key(&tag.key, "key")?;
    }
    Ok(tags)
}

pub async fn create(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let request = CreateLoggedModel {
        experiment_id: params.required_string("experiment_id")?,
        name: params.string("name")?.unwrap_or_default(),
        model_type: params.string("model_type")?,
        source_run_id: params.string("source_run_id")?.filter(|id| !id.is_empty()),
        params: params.key_values("params")?,
        tags: tags_of(&params)?,
    };
    let model = state.store.create_logged_model(request).await?;
    Ok(Json(json!({ "model": wire::logged_model(&model) })))
}

pub async fn get(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let model = state.store.get_logged_model(&model_id).await?;
    Ok(Json(json!({ "model": wire::logged_model(&model) })))
}

pub async fn finalize(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let status = params
        .enumeration("status", wire::LOGGED_MODEL_STATUSES)?
        .ok_or_else(|| Error::missing("status"))?;
    let model = state.store.finalize_logged_model(&model_id, status).await?;
    Ok(Json(json!({ "model": wire::logged_model(&model) })))
}

pub async fn delete(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
) -> ApiResult<Json<Value>> {
    state.store.delete_logged_model(&model_id).await?;
    Ok(empty())
}

pub async fn set_tags(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let model = state
        .store
        .set_logged_model_tags(&model_id, tags_of(&params)?)
        .await?;
    Ok(Json(json!({ "model": wire::logged_model(&model) })))
}

pub async fn delete_tag(
    State(state): State<AppState>,
    Path((model_id, tag_key)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    state
        .store
        .delete_logged_model_tag(&model_id, &tag_key)
        .await?;
    Ok(empty())
}

pub async fn log_params(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let model_params = params
        .key_values("params")?
        .into_iter()
        .map(validation::normalize_param)
        .collect::<Result<Vec<_>, _>>()?;
    state
        .store
        .log_logged_model_params(&model_id, model_params)
        .await?;
    Ok(empty())
}

/// `order_by` arrives as messages here: `{field_name, ascending, dataset_name, dataset_digest}`.
fn order_by_strings(params: &Params) -> Result<Vec<String>, Error> {
    params
        .objects("order_by")?
        .iter()
        .map(|entry| {
            let field = entry.required_string("field_name")?;
            let ascending = entry.bool("ascending")?.unwrap_or(true);
            Ok(format!(
                "{} {}",
                quote_ident(&field),
                if ascending { "ASC" } else { "DESC" }
            ))
        })
        .collect()
}

/// Back-quotes the key part of `metrics.some-key` so the order_by grammar reads it whole.
fn quote_ident(field: &str) -> String {
    match field.split_once('.') {
        Some((entity, key)) if !key.starts_with('`') => format!("{entity}.`{key}`"),
        _ => field.to_owned(),
    }
}

pub async fn search(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let max_results = validation::max_results(
        params.i64("max_results")?,
        validation::SEARCH_LOGGED_MODELS_DEFAULT,
        validation::SEARCH_MAX_RESULTS_THRESHOLD,
    )?;
    let request = SearchLoggedModels {
        experiment_ids: params.string_list("experiment_ids")?,
        filter: parse_filter(
            SearchKind::LoggedModels,
            &params.string("filter")?.unwrap_or_default(),
        )?,
        order_by: parse_order_by(SearchKind::LoggedModels, &order_by_strings(&params)?)?,
        page: PageRequest {
            max_results,
            offset: decode_page_token(params.string("page_token")?.as_deref())?,
        },
    };
    let page = state.store.search_logged_models(request).await?;
    let models = page.items.iter().map(wire::logged_model).collect();
    Ok(Json(wire::page("models", models, page.next_page_token)))
}

pub async fn list_artifacts(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let model = state.store.get_logged_model(&model_id).await?;
    let root = artifacts::proxied_path(&model.artifact_uri)?;
    let directory = ArtifactPath::parse(
        &params
            .string("artifact_directory_path")?
            .unwrap_or_default(),
    )?;
    let files = artifacts::list_relative_to_root(&state, &root, &directory).await?;
    let mut response = serde_json::Map::new();
    response.insert("root_uri".into(), model.artifact_uri.into());
    if !files.is_empty() {
        response.insert("files".into(), Value::Array(files));
    }
    Ok(Json(Value::Object(response)))
}
