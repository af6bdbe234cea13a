//! One run: overview, params, latest metrics with sparklines, tags, dataset inputs, logged models,
//! and the artifact browser with previews (text, JSON, YAML, MLmodel, CSV as a table, images).

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use cairn_artifacts::ArtifactStore;
use cairn_core::artifact_path::{proxied_path, ArtifactPath};
use cairn_store::SeriesRequest;
use futures::StreamExt;

use crate::svg::sparkline;
use crate::view::{format_duration, format_time, format_value, path_encode, url_encode};
use crate::{render, PageResult, Query, UiState};

/// The most bytes of an artifact a preview reads.
const PREVIEW_BYTES: usize = 512 * 1024;
/// The most CSV rows a preview shows.
const PREVIEW_ROWS: usize = 200;

struct MetricRow {
    key: String,
    value: String,
    step: i64,
    sparkline: String,
    chart_link: String,
}

struct Entry {
    name: String,
    path: String,
    is_dir: bool,
    size: String,
    current: bool,
}

enum Preview {
    None,
    Text(String),
    Table {
        header: Vec<String>,
        rows: Vec<Vec<String>>,
        truncated: bool,
    },
    Image(String),
    Binary {
        size: u64,
        link: String,
    },
}

#[derive(Template)]
#[template(path = "run.html")]
struct RunPage {
    run_id: String,
    name: String,
    experiment_id: String,
    experiment_name: String,
    status: String,
    user: String,
    started: String,
    ended: String,
    duration: String,
    artifact_uri: String,
    lifecycle: String,
    parent: String,
    params: Vec<(String, String)>,
    metrics: Vec<MetricRow>,
    tags: Vec<(String, String)>,
    datasets: Vec<(String, String, String)>,
    models: Vec<(String, String)>,
    breadcrumbs: Vec<(String, String)>,
    entries: Vec<Entry>,
    artifact_error: String,
    preview_path: String,
    preview: Preview,
    charts_link: String,
}

fn human_size(size: u64) -> String {
    match size {
        0..=1023 => format!("{size} B"),
        1024..=1_048_575 => format!("{:.1} KB", size as f64 / 1024.0),
        _ => format!("{:.1} MB", size as f64 / 1_048_576.0),
    }
}

/// The first `PREVIEW_BYTES` of a file, and its full size.
async fn head(
    artifacts: &dyn ArtifactStore,
    path: &ArtifactPath,
) -> Result<(Vec<u8>, u64), crate::PageError> {
    let mut download = artifacts.get(path).await?;
    let mut bytes = Vec::new();
    while let Some(chunk) = download.stream.next().await {
        let chunk = chunk?;
        let room = PREVIEW_BYTES.saturating_sub(bytes.len());
        bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if bytes.len() >= PREVIEW_BYTES {
            break;
        }
    }
    Ok((bytes, download.size))
}

fn preview_of(name: &str, bytes: Vec<u8>, size: u64, link: String) -> Preview {
    let lower = name.to_ascii_lowercase();
    let extension = lower.rsplit_once('.').map(|(_, ext)| ext).unwrap_or("");
    if matches!(
        extension,
        "png" | "jpg" | "jpeg" | "gif" | "webp" | "svg" | "bmp"
    ) {
        return Preview::Image(link);
    }
    let Ok(text) = String::from_utf8(bytes) else {
        return Preview::Binary { size, link };
    };
    let truncated = size as usize > text.len();
    match extension {
        "csv" | "tsv" => {
            let delimiter = if extension == "tsv" { b'\t' } else { b',' };
            let mut reader = csv::ReaderBuilder::new()
                .delimiter(delimiter)
                .flexible(true)
                .from_reader(text.as_bytes());
            let header = reader
                .headers()
                .map(|h| h.iter().map(str::to_owned).collect())
                .unwrap_or_default();
            let mut rows = Vec::new();
            for record in reader.records().take(PREVIEW_ROWS) {
                match record {
                    Ok(record) => rows.push(record.iter().map(str::to_owned).collect()),
                    Err(_) => break, // a record cut by the preview limit
                }
            }
            Preview::Table {
                header,
                rows,
                truncated: truncated || rows_left(&text, PREVIEW_ROWS),
            }
        }
        "json" => match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(value) => Preview::Text(serde_json::to_string_pretty(&value).unwrap_or(text)),
            Err(_) => Preview::Text(text),
        },
        _ => Preview::Text(text),
    }
}

fn rows_left(text: &str, shown: usize) -> bool {
    text.lines().count() > shown + 1
}

pub async fn page(
    State(state): State<UiState>,
    Path(run_id): Path<String>,
    raw: RawQuery,
) -> PageResult {
    let query = Query::from(raw);
    let run = state.store.get_run(&run_id).await?;
    let experiment_name = state
        .store
        .get_experiment(&run.info.experiment_id)
        .await
        .map(|experiment| experiment.name)
        .unwrap_or_default();

    // Latest metrics with a sparkline each (their downsampled histories, read concurrently).
    let series = futures::future::join_all(run.data.metrics.iter().map(|metric| {
        state.store.metric_series(SeriesRequest {
            run_id: run_id.clone(),
            metric_key: metric.key.clone(),
            steps: None,
            buckets: 120,
        })
    }))
    .await;
    let mut metrics: Vec<MetricRow> = run
        .data
        .metrics
        .iter()
        .zip(series)
        .map(|(metric, series)| {
            let points: Vec<(f64, f64)> = series
                .unwrap_or_default()
                .iter()
                .map(|point| (point.step as f64, point.value))
                .collect();
            MetricRow {
                key: metric.key.clone(),
                value: format_value(metric.value),
                step: metric.step,
                sparkline: sparkline(&points),
                chart_link: format!(
                    "/charts?run={}&key={}",
                    url_encode(&run_id),
                    url_encode(&metric.key)
                ),
            }
        })
        .collect();
    metrics.sort_by(|a, b| a.key.cmp(&b.key));
    let mut params: Vec<(String, String)> = run
        .data
        .params
        .iter()
        .map(|p| (p.key.clone(), p.value.clone()))
        .collect();
    params.sort();
    let mut tags: Vec<(String, String)> = run
        .data
        .tags
        .iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect();
    tags.sort();
    let parent = run
        .data
        .tags
        .iter()
        .find(|tag| tag.key == "mlflow.parentRunId")
        .map(|tag| tag.value.clone())
        .unwrap_or_default();
    let datasets = run
        .inputs
        .dataset_inputs
        .iter()
        .map(|input| {
            (
                input.dataset.name.clone(),
                input.dataset.digest.clone(),
                input.dataset.source_type.clone(),
            )
        })
        .collect();
    let mut models: Vec<(String, String)> = run
        .outputs
        .model_outputs
        .iter()
        .map(|output| {
            (
                output.model_id.clone(),
                format!("output, step {}", output.step),
            )
        })
        .collect();
    models.extend(
        run.inputs
            .model_inputs
            .iter()
            .map(|input| (input.model_id.clone(), "input".to_owned())),
    );

    // The artifact browser: the folder of `?artifact=` (or its parent when it names a file).
    let mut entries = Vec::new();
    let mut artifact_error = String::new();
    let mut preview = Preview::None;
    let mut breadcrumbs = vec![("artifacts".to_owned(), String::new())];
    let selected = query.get("artifact").unwrap_or_default().to_owned();
    match proxied_path(&run.info.artifact_uri) {
        Err(error) => artifact_error = error.message,
        Ok(root) => {
            let relative = ArtifactPath::parse(&selected)?;
            let target = root.join(&relative);
            let (folder, file, files) = match state.artifacts.list(&target).await? {
                Some(files) => (relative.as_str().to_owned(), None, files),
                None if relative.is_root() => (String::new(), None, Vec::new()),
                None => {
                    // A file: list its folder and preview it.
                    let folder = relative
                        .as_str()
                        .rsplit_once('/')
                        .map(|(dir, _)| dir.to_owned())
                        .unwrap_or_default();
                    let folder_path = ArtifactPath::parse(&folder)?;
                    let files = state
                        .artifacts
                        .list(&root.join(&folder_path))
                        .await?
                        .unwrap_or_default();
                    (folder, Some(relative.clone()), files)
                }
            };
            let mut so_far = String::new();
            for part in folder.split('/').filter(|part| !part.is_empty()) {
                if !so_far.is_empty() {
                    so_far.push('/');
                }
                so_far.push_str(part);
                breadcrumbs.push((part.to_owned(), so_far.clone()));
            }
            for info in files {
                let path = if folder.is_empty() {
                    info.path.clone()
                } else {
                    format!("{folder}/{}", info.path)
                };
                entries.push(Entry {
                    current: file.as_ref().is_some_and(|file| file.as_str() == path),
                    size: info.file_size.map(human_size).unwrap_or_default(),
                    is_dir: info.is_dir,
                    name: info.path,
                    path,
                });
            }
            entries.sort_by(|a, b| b.is_dir.cmp(&a.is_dir).then(a.name.cmp(&b.name)));
            if let Some(file) = file {
                let full = root.join(&file);
                let link = format!(
                    "/ajax-api/2.0/mlflow-artifacts/artifacts/{}",
                    full.as_str()
                        .split('/')
                        .map(path_encode)
                        .collect::<Vec<_>>()
                        .join("/")
                );
                match head(state.artifacts.as_ref(), &full).await {
                    Ok((bytes, size)) => {
                        let name = file
                            .as_str()
                            .rsplit('/')
                            .next()
                            .unwrap_or_default()
                            .to_owned();
                        preview = preview_of(&name, bytes, size, link);
                    }
                    Err(error) => artifact_error = error.0.message,
                }
            }
        }
    }

    let info = &run.info;
    Ok(render(&RunPage {
        charts_link: format!(
            "/charts?run={}{}",
            url_encode(&run_id),
            metrics
                .iter()
                .take(4)
                .map(|m| format!("&key={}", url_encode(&m.key)))
                .collect::<String>()
        ),
        run_id: info.run_id.clone(),
        name: if info.run_name.is_empty() {
            info.run_id.clone()
        } else {
            info.run_name.clone()
        },
        experiment_id: info.experiment_id.clone(),
        experiment_name,
        status: info.status.as_str().to_owned(),
        user: info.user_id.clone(),
        started: format_time(info.start_time),
        ended: info.end_time.map(format_time).unwrap_or_default(),
        duration: info
            .end_time
            .map(|end| format_duration(end - info.start_time))
            .unwrap_or_else(|| "running".into()),
        artifact_uri: info.artifact_uri.clone(),
        lifecycle: info.lifecycle_stage.as_str().to_owned(),
        parent,
        params,
        metrics,
        tags,
        datasets,
        models,
        breadcrumbs,
        entries,
        artifact_error,
        preview_path: selected,
        preview,
    }))
}
