//! The runs table of one or several experiments: MLflow's search grammar in the filter box (errors
//! shown inline), sort by any column, columns picked from the runs' params, metrics and tags,
//! paging, nested runs under their parents, and selection for compare and charts.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use askama::Template;
use axum::extract::{RawQuery, State};
use cairn_core::entities::{Run, ViewType};
use cairn_core::search::{
    decode_page_token, encode_page_token, parse_filter, parse_order_by, SearchKind,
};
use cairn_store::{PageRequest, SearchRuns};

use crate::view::{format_duration, format_time, format_value, query_string};
use crate::{render, PageResult, Query, UiState};

const DEFAULT_PAGE: u64 = 50;
const MAX_PAGE: u64 = 1000;
const PARENT_TAG: &str = "mlflow.parentRunId";
const SOURCE_TAG: &str = "mlflow.source.name";

/// The columns every table shows, in order: (column, header, sortable).
const FIXED_COLUMNS: &[(&str, &str, bool)] = &[
    ("attributes.run_name", "Run", true),
    ("attributes.status", "Status", true),
    ("attributes.user_id", "User", true),
    ("attributes.start_time", "Started", true),
    ("attributes.duration", "Duration", false),
    ("tags.mlflow.source.name", "Source", true),
];

pub(crate) struct Column {
    pub id: String,
    pub header: String,
    /// The link that sorts by this column (toggling the direction), if it can be sorted.
    pub sort_link: Option<String>,
    /// "▲" / "▼" when the table is sorted by it.
    pub sorted: &'static str,
    pub numeric: bool,
}

struct Cell {
    column: String,
    text: String,
    link: Option<String>,
    numeric: bool,
    class: String,
}

struct Row {
    run_id: String,
    parent_id: String,
    child: bool,
    cells: Vec<Cell>,
}

struct Choice {
    value: String,
    checked: bool,
}

#[derive(Template)]
#[template(path = "runs.html")]
struct RunsPage {
    title: String,
    experiments: Vec<(String, String)>,
    experiment_ids: Vec<String>,
    filter: String,
    filter_error: String,
    order: String,
    columns_param: String,
    max_results: u64,
    columns: Vec<Column>,
    rows: Vec<Row>,
    choices: Vec<Choice>,
    next_link: String,
    prev_link: String,
    first_row: u64,
    chart_key: String,
}

/// `params.lr` → `params.lr`; keys outside `[A-Za-z0-9_.]` are backquoted as MLflow's grammar wants.
pub(crate) fn search_identifier(column: &str) -> String {
    match column.split_once('.') {
        Some((kind, key))
            if kind != "attributes"
                && !key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') =>
        {
            format!("{kind}.`{key}`")
        }
        _ => column.to_owned(),
    }
}

fn cell_for(run: &Run, column: &str) -> Cell {
    let (kind, key) = column.split_once('.').unwrap_or(("", column));
    let mut cell = Cell {
        column: column.to_owned(),
        text: String::new(),
        link: None,
        numeric: false,
        class: String::new(),
    };
    match (kind, key) {
        ("attributes", "run_name") => {
            cell.text = if run.info.run_name.is_empty() {
                run.info.run_id.clone()
            } else {
                run.info.run_name.clone()
            };
            cell.link = Some(format!("/runs/{}", run.info.run_id));
            cell.class = "name".into();
        }
        ("attributes", "status") => {
            cell.text = run.info.status.as_str().to_owned();
            cell.class = format!("status-{}", cell.text);
        }
        ("attributes", "user_id") => cell.text = run.info.user_id.clone(),
        ("attributes", "start_time") => cell.text = format_time(run.info.start_time),
        ("attributes", "duration") => {
            cell.text = match run.info.end_time {
                Some(end) => format_duration(end - run.info.start_time),
                None => String::new(),
            };
            cell.numeric = true;
        }
        ("metrics", key) => {
            if let Some(metric) = run.data.metrics.iter().find(|metric| metric.key == key) {
                cell.text = format_value(metric.value);
            }
            cell.numeric = true;
        }
        ("params", key) => {
            if let Some(param) = run.data.params.iter().find(|param| param.key == key) {
                cell.text = param.value.clone();
            }
        }
        ("tags", key) => {
            if let Some(tag) = run.data.tags.iter().find(|tag| tag.key == key) {
                cell.text = if key == SOURCE_TAG {
                    tag.value.rsplit('/').next().unwrap_or_default().to_owned()
                } else {
                    tag.value.clone()
                };
            }
        }
        _ => {}
    }
    cell
}

fn parent_of(run: &Run) -> Option<&str> {
    run.data
        .tags
        .iter()
        .find(|tag| tag.key == PARENT_TAG)
        .map(|tag| tag.value.as_str())
}

/// Page order, except that a child whose parent is on the page follows it (depth-first).
fn nest(runs: Vec<Arc<Run>>) -> Vec<(Arc<Run>, bool)> {
    let on_page: BTreeSet<String> = runs.iter().map(|run| run.info.run_id.clone()).collect();
    let mut children: HashMap<String, Vec<Arc<Run>>> = HashMap::new();
    let mut roots = Vec::new();
    for run in runs {
        match parent_of(&run).filter(|parent| on_page.contains(*parent)) {
            Some(parent) => children.entry(parent.to_owned()).or_default().push(run),
            None => roots.push(run),
        }
    }
    fn visit(
        run: Arc<Run>,
        child: bool,
        children: &mut HashMap<String, Vec<Arc<Run>>>,
        out: &mut Vec<(Arc<Run>, bool)>,
    ) {
        let kids = children.remove(&run.info.run_id).unwrap_or_default();
        out.push((run, child));
        for kid in kids {
            visit(kid, true, children, out);
        }
    }
    let mut out = Vec::new();
    for run in roots {
        visit(run, false, &mut children, &mut out);
    }
    // A cycle of parent tags would leave runs behind: list them too.
    for (_, rest) in children {
        out.extend(rest.into_iter().map(|run| (run, true)));
    }
    out
}

pub async fn page(State(state): State<UiState>, raw: RawQuery) -> PageResult {
    let query = Query::from(raw);
    let mut experiment_ids = query.all("experiment");
    if experiment_ids.is_empty() {
        experiment_ids.push("0".into());
    }
    let mut experiments = Vec::new();
    for id in &experiment_ids {
        let experiment = state.store.get_experiment(id).await?;
        experiments.push((experiment.experiment_id, experiment.name));
    }
    let filter_text = query.get("filter").unwrap_or_default().to_owned();
    let order = query.get("order").unwrap_or_default().to_owned();
    let picked = query.all("columns");
    let max_results = query
        .get("max_results")
        .and_then(|text| text.parse::<u64>().ok())
        .unwrap_or(DEFAULT_PAGE)
        .clamp(1, MAX_PAGE);

    let mut filter_error = String::new();
    let filter = match parse_filter(SearchKind::Runs, &filter_text) {
        Ok(filter) => Some(filter),
        Err(error) => {
            filter_error = error.message;
            None
        }
    };
    let order_by = if order.is_empty() {
        Vec::new()
    } else {
        let (column, direction) = order.rsplit_once(' ').unwrap_or((order.as_str(), "ASC"));
        match parse_order_by(
            SearchKind::Runs,
            &[format!("{} {direction}", search_identifier(column))],
        ) {
            Ok(order_by) => order_by,
            Err(error) => {
                if filter_error.is_empty() {
                    filter_error = error.message;
                }
                Vec::new()
            }
        }
    };
    let offset = decode_page_token(query.get("page_token")).unwrap_or(0);
    let (runs, next_token) = match filter {
        Some(filter) => {
            let page = state
                .store
                .search_runs(SearchRuns {
                    experiment_ids: experiment_ids.clone(),
                    filter,
                    view_type: ViewType::ActiveOnly,
                    order_by,
                    page: PageRequest {
                        max_results,
                        offset,
                    },
                })
                .await;
            match page {
                Ok(page) => (page.items, page.next_page_token),
                Err(error) if error.kind == cairn_core::ErrorKind::InvalidParameterValue => {
                    filter_error = error.message;
                    (Vec::new(), None)
                }
                Err(error) => return Err(error.into()),
            }
        }
        None => (Vec::new(), None),
    };

    // Columns the picker offers: every param, metric and tag key on this page.
    let mut offered: BTreeSet<String> = BTreeSet::new();
    for run in &runs {
        offered.extend(run.data.params.iter().map(|p| format!("params.{}", p.key)));
        offered.extend(
            run.data
                .metrics
                .iter()
                .map(|m| format!("metrics.{}", m.key)),
        );
        offered.extend(
            run.data
                .tags
                .iter()
                .filter(|t| !t.key.starts_with("mlflow."))
                .map(|t| format!("tags.{}", t.key)),
        );
    }
    offered.extend(picked.iter().cloned());
    let choices = offered
        .into_iter()
        .map(|value| Choice {
            checked: picked.contains(&value),
            value,
        })
        .collect();

    let columns_param = picked.join(",");
    let link = |order: &str, token: &str| {
        let mut pairs: Vec<(&str, &str)> = experiment_ids
            .iter()
            .map(|id| ("experiment", id.as_str()))
            .collect();
        pairs.push(("filter", filter_text.as_str()));
        pairs.push(("order", order));
        pairs.push(("columns", columns_param.as_str()));
        let max = max_results.to_string();
        if max_results != DEFAULT_PAGE {
            pairs.push(("max_results", max.as_str()));
        }
        pairs.push(("page_token", token));
        format!("/runs{}", query_string(pairs))
    };
    let mut columns: Vec<Column> = Vec::new();
    let all_columns = FIXED_COLUMNS
        .iter()
        .map(|(id, header, sortable)| ((*id).to_owned(), (*header).to_owned(), *sortable))
        .chain(picked.iter().map(|id| {
            let header = id
                .split_once('.')
                .map_or(id.as_str(), |(_, key)| key)
                .to_owned();
            (id.clone(), header, true)
        }));
    for (id, header, sortable) in all_columns {
        let (sorted, next_direction) = match order.rsplit_once(' ') {
            Some((column, "DESC")) if column == id => ("▼", "ASC"),
            Some((column, _)) if column == id => ("▲", "DESC"),
            _ => (
                "",
                if id.starts_with("metrics.") || id == "attributes.start_time" {
                    "DESC"
                } else {
                    "ASC"
                },
            ),
        };
        columns.push(Column {
            sort_link: sortable.then(|| link(&format!("{id} {next_direction}"), "")),
            sorted,
            numeric: id.starts_with("metrics.") || id == "attributes.duration",
            header,
            id,
        });
    }
    let chart_key = picked
        .iter()
        .find_map(|id| id.strip_prefix("metrics."))
        .map(str::to_owned)
        .or_else(|| {
            runs.iter()
                .flat_map(|run| run.data.metrics.first())
                .map(|metric| metric.key.clone())
                .next()
        })
        .unwrap_or_default();
    let rows = nest(runs)
        .into_iter()
        .map(|(run, child)| Row {
            cells: columns
                .iter()
                .map(|column| cell_for(&run, &column.id))
                .collect(),
            parent_id: parent_of(&run).unwrap_or_default().to_owned(),
            child,
            run_id: run.info.run_id.clone(),
        })
        .collect();
    let next_link = next_token
        .map(|token| link(&order, &token))
        .unwrap_or_default();
    let prev_link = if offset > 0 {
        link(
            &order,
            &encode_page_token(offset.saturating_sub(max_results)),
        )
    } else {
        String::new()
    };
    let title = experiments
        .iter()
        .map(|(_, name)| name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    Ok(render(&RunsPage {
        title,
        experiments,
        experiment_ids,
        filter: filter_text,
        filter_error,
        order,
        columns_param,
        max_results,
        columns,
        rows,
        choices,
        next_link,
        prev_link,
        first_row: offset + 1,
        chart_key,
    }))
}
