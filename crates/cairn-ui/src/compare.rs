//! Runs side by side: params with differences highlighted, latest metrics, a scatter of one column
//! against another, and parallel coordinates over params and metrics. The plots are SVG drawn here.

use std::fmt::Write;

use askama::Template;
use axum::extract::{RawQuery, State};
use cairn_core::entities::Run;
use cairn_core::Error;

use crate::svg::{escape, Axis};
use crate::view::format_value;
use crate::{render, PageResult, Query, UiState};

const MAX_RUNS: usize = 100;
const PALETTE: usize = 8;

struct Row {
    key: String,
    values: Vec<String>,
    differs: bool,
}

#[derive(Template)]
#[template(path = "compare.html")]
struct ComparePage {
    runs: Vec<(String, String)>,
    params: Vec<Row>,
    metrics: Vec<Row>,
    choices: Vec<String>,
    x: String,
    y: String,
    scatter: String,
    parallel: String,
    run_query: String,
}

/// The value of `params.k` / `metrics.k` / `tags.k` on a run, as text.
fn value_of(run: &Run, column: &str) -> Option<String> {
    let (kind, key) = column.split_once('.')?;
    match kind {
        "params" => run
            .data
            .params
            .iter()
            .find(|p| p.key == key)
            .map(|p| p.value.clone()),
        "metrics" => run
            .data
            .metrics
            .iter()
            .find(|m| m.key == key)
            .map(|m| m.value.to_string()),
        "tags" => run
            .data
            .tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.clone()),
        _ => None,
    }
}

fn rows(
    runs: &[Run],
    keys: Vec<String>,
    column: impl Fn(&Run, &str) -> Option<String>,
) -> Vec<Row> {
    keys.into_iter()
        .map(|key| {
            let values: Vec<Option<String>> = runs.iter().map(|run| column(run, &key)).collect();
            let differs = values.windows(2).any(|pair| pair[0] != pair[1]);
            Row {
                values: values.into_iter().map(Option::unwrap_or_default).collect(),
                differs,
                key,
            }
        })
        .collect()
}

fn short(text: &str) -> String {
    if text.chars().count() > 14 {
        format!("{}…", text.chars().take(13).collect::<String>())
    } else {
        text.to_owned()
    }
}

fn scatter(
    runs: &[(String, String)],
    xs: &[Option<String>],
    ys: &[Option<String>],
    x: &str,
    y: &str,
) -> String {
    let (width, height, left, bottom, top, right) = (520.0, 340.0, 70.0, 40.0, 14.0, 20.0);
    let (ax, ay) = (Axis::over(xs), Axis::over(ys));
    let mut out = format!(
        r#"<svg class="plot" viewBox="0 0 {width} {height}" role="img" aria-label="{} against {}">"#,
        escape(y),
        escape(x)
    );
    let _ = write!(
        out,
        r#"<line class="axis" x1="{left}" y1="{}" x2="{}" y2="{}"/><line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{}"/>"#,
        height - bottom,
        width - right,
        height - bottom,
        height - bottom
    );
    for (t, label) in ax.ticks() {
        let px = left + t * (width - left - right);
        let _ = write!(
            out,
            r#"<text x="{px:.1}" y="{}" text-anchor="middle">{}</text>"#,
            height - bottom + 16.0,
            escape(&short(&label))
        );
    }
    for (t, label) in ay.ticks() {
        let py = height - bottom - t * (height - top - bottom);
        let _ = write!(
            out,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            left - 6.0,
            py + 4.0,
            escape(&short(&label))
        );
    }
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        (left + width - right) / 2.0,
        height - 4.0,
        escape(x)
    );
    for (index, (run_id, name)) in runs.iter().enumerate() {
        let (Some(tx), Some(ty)) = (
            ax.position(xs[index].as_deref()),
            ay.position(ys[index].as_deref()),
        ) else {
            continue;
        };
        let px = left + tx * (width - left - right);
        let py = height - bottom - ty * (height - top - bottom);
        let _ = write!(
            out,
            r#"<circle class="point" cx="{px:.1}" cy="{py:.1}" r="5" data-run-id="{}"><title>{}: {} = {}, {} = {}</title></circle>"#,
            escape(run_id),
            escape(name),
            escape(x),
            escape(xs[index].as_deref().unwrap_or("")),
            escape(y),
            escape(ys[index].as_deref().unwrap_or("")),
        );
    }
    out.push_str("</svg>");
    out
}

fn parallel(runs: &[(String, String)], columns: &[(String, Vec<Option<String>>)]) -> String {
    let (width, height, top, bottom, side) = (760.0, 320.0, 28.0, 24.0, 60.0);
    let mut out = format!(
        r#"<svg class="plot" viewBox="0 0 {width} {height}" role="img" aria-label="Parallel coordinates">"#
    );
    if columns.len() < 2 {
        out.push_str(r#"<text x="20" y="40">Needs at least two params or metrics.</text></svg>"#);
        return out;
    }
    let axes: Vec<Axis> = columns
        .iter()
        .map(|(_, values)| Axis::over(values))
        .collect();
    let step = (width - 2.0 * side) / (columns.len() - 1) as f64;
    for (index, ((name, _), axis)) in columns.iter().zip(&axes).enumerate() {
        let x = side + step * index as f64;
        let _ = write!(
            out,
            r#"<line class="axis" x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{}"/><text x="{x:.1}" y="16" text-anchor="middle">{}</text>"#,
            height - bottom,
            escape(&short(name))
        );
        for (t, label) in axis.ticks() {
            let y = height - bottom - t * (height - top - bottom);
            let _ = write!(
                out,
                r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
                x + 4.0,
                y + 4.0,
                escape(&short(&label))
            );
        }
    }
    for (run_index, (run_id, name)) in runs.iter().enumerate() {
        let mut d = String::new();
        for (index, ((_, values), axis)) in columns.iter().zip(&axes).enumerate() {
            let Some(t) = axis.position(values[run_index].as_deref()) else {
                continue;
            };
            let x = side + step * index as f64;
            let y = height - bottom - t * (height - top - bottom);
            let _ = write!(d, "{}{x:.1},{y:.1}", if d.is_empty() { "M" } else { "L" });
        }
        let _ = write!(
            out,
            r#"<path class="line" d="{d}" stroke="var(--series-{})" data-run-id="{}"><title>{}</title></path>"#,
            run_index % PALETTE + 1,
            escape(run_id),
            escape(name)
        );
    }
    out.push_str("</svg>");
    out
}

pub async fn page(State(state): State<UiState>, raw: RawQuery) -> PageResult {
    let query = Query::from(raw);
    let mut run_ids = query.all("run");
    run_ids.truncate(MAX_RUNS);
    if run_ids.is_empty() {
        return Err(Error::invalid("Pick runs to compare: /compare?run=A&run=B").into());
    }
    let runs =
        futures::future::try_join_all(run_ids.iter().map(|id| state.store.get_run(id))).await?;
    let named: Vec<(String, String)> = runs
        .iter()
        .map(|run| {
            let name = if run.info.run_name.is_empty() {
                run.info.run_id.clone()
            } else {
                run.info.run_name.clone()
            };
            (run.info.run_id.clone(), name)
        })
        .collect();
    let mut param_keys: Vec<String> = runs
        .iter()
        .flat_map(|run| run.data.params.iter().map(|p| p.key.clone()))
        .collect();
    param_keys.sort();
    param_keys.dedup();
    let mut metric_keys: Vec<String> = runs
        .iter()
        .flat_map(|run| run.data.metrics.iter().map(|m| m.key.clone()))
        .collect();
    metric_keys.sort();
    metric_keys.dedup();
    let params = rows(&runs, param_keys.clone(), |run, key| {
        run.data
            .params
            .iter()
            .find(|p| p.key == key)
            .map(|p| p.value.clone())
    });
    let metrics = rows(&runs, metric_keys.clone(), |run, key| {
        run.data
            .metrics
            .iter()
            .find(|m| m.key == key)
            .map(|m| format_value(m.value))
    });
    let choices: Vec<String> = param_keys
        .iter()
        .map(|key| format!("params.{key}"))
        .chain(metric_keys.iter().map(|key| format!("metrics.{key}")))
        .collect();
    let first_differing = params
        .iter()
        .find(|row| row.differs)
        .map(|row| format!("params.{}", row.key));
    let x = query
        .get("x")
        .map(str::to_owned)
        .or(first_differing)
        .or_else(|| choices.first().cloned())
        .unwrap_or_default();
    let y = query
        .get("y")
        .map(str::to_owned)
        .or_else(|| metric_keys.first().map(|key| format!("metrics.{key}")))
        .unwrap_or_default();
    let xs: Vec<Option<String>> = runs.iter().map(|run| value_of(run, &x)).collect();
    let ys: Vec<Option<String>> = runs.iter().map(|run| value_of(run, &y)).collect();
    // Parallel coordinates: the params that differ (up to 6), then the metrics (up to 4).
    let columns: Vec<(String, Vec<Option<String>>)> = params
        .iter()
        .filter(|row| row.differs)
        .take(6)
        .map(|row| format!("params.{}", row.key))
        .chain(
            metric_keys
                .iter()
                .take(4)
                .map(|key| format!("metrics.{key}")),
        )
        .map(|column| {
            let values = runs.iter().map(|run| value_of(run, &column)).collect();
            (column, values)
        })
        .collect();
    Ok(render(&ComparePage {
        scatter: scatter(&named, &xs, &ys, &x, &y),
        parallel: parallel(&named, &columns),
        run_query: run_ids
            .iter()
            .map(|id| format!("run={}", crate::view::url_encode(id)))
            .collect::<Vec<_>>()
            .join("&"),
        runs: named,
        params,
        metrics,
        choices,
        x,
        y,
    }))
}
