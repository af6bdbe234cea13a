//! The model registry: models, one model's versions, aliases, tags and description, and one
//! version with its source run, lineage (from `/api/2.0/cairn/lineage`, drawn by `app.js`) and the
//! promotion-policy decisions recorded for it.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use cairn_core::search::{parse_filter, parse_order_by, SearchKind};
use cairn_core::Error;
use cairn_store::{PageRequest, Search};

use crate::view::{format_time, path_encode};
use crate::{render, PageResult, Query, UiState};

struct ModelRow {
    name: String,
    link: String,
    latest: String,
    aliases: String,
    updated: String,
    description: String,
}

#[derive(Template)]
#[template(path = "models.html")]
struct ModelsPage {
    q: String,
    rows: Vec<ModelRow>,
}

struct VersionRow {
    version: i64,
    link: String,
    stage: String,
    aliases: String,
    run_id: String,
    created: String,
    status: String,
}

#[derive(Template)]
#[template(path = "model.html")]
struct ModelPage {
    name: String,
    description: String,
    created: String,
    updated: String,
    aliases: Vec<(String, i64, String)>,
    tags: Vec<(String, String)>,
    versions: Vec<VersionRow>,
}

#[derive(Template)]
#[template(path = "version.html")]
struct VersionPage {
    name: String,
    model_link: String,
    version: i64,
    stage: String,
    status: String,
    aliases: Vec<String>,
    description: String,
    source: String,
    run_id: String,
    model_id: String,
    created: String,
    tags: Vec<(String, String)>,
    decisions: Vec<(String, String, String, bool, String)>,
}

fn model_link(name: &str) -> String {
    format!("/models/{}", path_encode(name))
}

/// A search string literal for a name (MLflow's grammar takes '...' or "...").
fn quoted(name: &str) -> Result<String, Error> {
    if !name.contains('\'') {
        Ok(format!("'{name}'"))
    } else if !name.contains('"') {
        Ok(format!("\"{name}\""))
    } else {
        Err(Error::invalid(format!(
            "Cannot search for the name {name:?}: it has both quote characters"
        )))
    }
}

pub async fn models_page(State(state): State<UiState>, raw: RawQuery) -> PageResult {
    let query = Query::from(raw);
    let q = query.get("q").unwrap_or_default().trim().to_owned();
    let filter = if q.is_empty() {
        Default::default()
    } else {
        parse_filter(
            SearchKind::RegisteredModels,
            &format!("name ILIKE {}", quoted(&format!("%{q}%"))?),
        )?
    };
    let models = state
        .store
        .search_registered_models(Search {
            filter,
            order_by: parse_order_by(SearchKind::RegisteredModels, &["name ASC".to_owned()])?,
            page: PageRequest {
                max_results: 1000,
                offset: 0,
            },
        })
        .await?
        .items;
    let rows = models
        .into_iter()
        .map(|model| ModelRow {
            link: model_link(&model.name),
            latest: model
                .latest_versions
                .iter()
                .map(|version| version.version)
                .max()
                .map(|version| version.to_string())
                .unwrap_or_default(),
            aliases: model
                .aliases
                .iter()
                .map(|alias| format!("@{} → v{}", alias.alias, alias.version))
                .collect::<Vec<_>>()
                .join(", "),
            updated: format_time(model.last_updated_timestamp),
            description: model.description.unwrap_or_default(),
            name: model.name,
        })
        .collect();
    Ok(render(&ModelsPage { q, rows }))
}

pub async fn model_page(State(state): State<UiState>, Path(name): Path<String>) -> PageResult {
    let model = state.store.get_registered_model(&name).await?;
    let versions = state
        .store
        .search_model_versions(Search {
            filter: parse_filter(
                SearchKind::ModelVersions,
                &format!("name = {}", quoted(&name)?),
            )?,
            order_by: parse_order_by(
                SearchKind::ModelVersions,
                &["version_number DESC".to_owned()],
            )
            .or_else(|_| parse_order_by(SearchKind::ModelVersions, &[]))?,
            page: PageRequest {
                max_results: 1000,
                offset: 0,
            },
        })
        .await?
        .items;
    let mut versions: Vec<VersionRow> = versions
        .into_iter()
        .map(|version| VersionRow {
            link: format!("{}/versions/{}", model_link(&name), version.version),
            stage: version.current_stage.as_str().to_owned(),
            aliases: version
                .aliases
                .iter()
                .map(|alias| format!("@{alias}"))
                .collect::<Vec<_>>()
                .join(" "),
            run_id: version.run_id.clone().unwrap_or_default(),
            created: format_time(version.creation_timestamp),
            status: version.status.clone(),
            version: version.version,
        })
        .collect();
    versions.sort_by_key(|row| std::cmp::Reverse(row.version));
    let mut tags: Vec<(String, String)> = model
        .tags
        .iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect();
    tags.sort();
    Ok(render(&ModelPage {
        aliases: model
            .aliases
            .iter()
            .map(|alias| {
                (
                    alias.alias.clone(),
                    alias.version,
                    format!("{}/versions/{}", model_link(&name), alias.version),
                )
            })
            .collect(),
        description: model.description.clone().unwrap_or_default(),
        created: format_time(model.creation_timestamp),
        updated: format_time(model.last_updated_timestamp),
        name: model.name,
        tags,
        versions,
    }))
}

pub async fn version_page(
    State(state): State<UiState>,
    Path((name, version)): Path<(String, String)>,
) -> PageResult {
    let number = cairn_core::validation::parse_version(&version)?;
    let version = state.store.get_model_version(&name, number).await?;
    let decisions = state
        .store
        .list_policy_decisions(
            Some(&name),
            PageRequest {
                max_results: 200,
                offset: 0,
            },
        )
        .await?
        .items
        .into_iter()
        .filter(|decision| decision.version == number)
        .take(20)
        .map(|decision| {
            (
                format_time(decision.time_ms),
                decision.action,
                decision.target,
                decision.allowed,
                decision.user,
            )
        })
        .collect();
    let mut tags: Vec<(String, String)> = version
        .tags
        .iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect();
    tags.sort();
    Ok(render(&VersionPage {
        model_link: model_link(&name),
        name,
        version: version.version,
        stage: version.current_stage.as_str().to_owned(),
        status: version.status.clone(),
        aliases: version.aliases.clone(),
        description: version.description.clone(),
        source: version.source.clone(),
        run_id: version.run_id.clone().unwrap_or_default(),
        model_id: version.model_id.clone().unwrap_or_default(),
        created: format_time(version.creation_timestamp),
        tags,
        decisions,
    }))
}
