//! The experiments list: search by name, run counts, last activity; create, rename, delete and
//! restore (the buttons call MLflow's REST API from `app.js`, then reload).

use askama::Template;
use axum::extract::{RawQuery, State};
use cairn_core::entities::ViewType;
use cairn_core::search::parse_order_by;
use cairn_core::search::SearchKind;
use cairn_store::{PageRequest, Search};

use crate::view::{format_time, query_string};
use crate::{render, PageResult, Query, UiState};

/// The most experiments one page lists.
const MAX_EXPERIMENTS: u64 = 1000;

struct Row {
    id: String,
    name: String,
    runs: u64,
    last_activity: String,
    created: String,
    deleted: bool,
}

#[derive(Template)]
#[template(path = "experiments.html")]
struct ExperimentsPage {
    q: String,
    view: &'static str,
    rows: Vec<Row>,
    active_link: String,
    deleted_link: String,
}

pub async fn page(State(state): State<UiState>, raw: RawQuery) -> PageResult {
    let query = Query::from(raw);
    let q = query.get("q").unwrap_or_default().trim().to_owned();
    let (view, view_type) = match query.get("view") {
        Some("deleted") => ("deleted", ViewType::DeletedOnly),
        Some("all") => ("all", ViewType::All),
        _ => ("active", ViewType::ActiveOnly),
    };
    let order_by = parse_order_by(
        SearchKind::Experiments,
        &["last_update_time DESC".to_owned()],
    )?;
    let experiments = state
        .store
        .search_experiments(
            view_type,
            Search {
                filter: Default::default(),
                order_by,
                page: PageRequest {
                    max_results: MAX_EXPERIMENTS,
                    offset: 0,
                },
            },
        )
        .await?
        .items;
    let needle = q.to_lowercase();
    let experiments: Vec<_> = experiments
        .into_iter()
        .filter(|experiment| needle.is_empty() || experiment.name.to_lowercase().contains(&needle))
        .collect();
    let ids: Vec<String> = experiments
        .iter()
        .map(|experiment| experiment.experiment_id.clone())
        .collect();
    let stats = state.store.experiment_run_stats(&ids).await?;
    let mut rows: Vec<Row> = experiments
        .into_iter()
        .map(|experiment| {
            let stat = stats
                .iter()
                .find(|stat| stat.experiment_id == experiment.experiment_id);
            let last = stat
                .and_then(|stat| stat.last_run_start)
                .unwrap_or(0)
                .max(experiment.last_update_time);
            Row {
                runs: stat.map_or(0, |stat| stat.active_runs),
                last_activity: format_time(last),
                created: format_time(experiment.creation_time),
                deleted: experiment.lifecycle_stage != cairn_core::entities::LifecycleStage::Active,
                id: experiment.experiment_id,
                name: experiment.name,
            }
        })
        .collect();
    // Most recent activity first.
    rows.sort_by(|a, b| b.last_activity.cmp(&a.last_activity));
    Ok(render(&ExperimentsPage {
        active_link: format!("/{}", query_string([("q", q.as_str())])),
        deleted_link: format!(
            "/{}",
            query_string([("q", q.as_str()), ("view", "deleted")])
        ),
        q,
        view,
        rows,
    }))
}
