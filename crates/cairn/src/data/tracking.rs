//! Logging a `cairn data` or `cairn eval` result to a tracking server (cairn or MLflow) as a run: the
//! dataset as an input, metrics (one per check, or the evaluation's), the reports as artifacts, and
//! for checks `validation.status` = passed|failed, so that a promotion policy can require a passed
//! validation.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::Args;
use serde_json::{json, Value};

use crate::client::{block_on, Client, ServerConnection};

/// Where to log a result (nothing is logged without `--experiment` or `--run-id`).
#[derive(Debug, Clone, Args)]
pub struct TrackingArgs {
    /// Tracking server to log the result to (also MLFLOW_TRACKING_URI).
    #[arg(long, env = "MLFLOW_TRACKING_URI", value_name = "URI")]
    pub tracking_uri: Option<String>,
    /// Log the result as a new run in this experiment (created when missing).
    #[arg(long, value_name = "NAME")]
    pub experiment: Option<String>,
    /// Log into this existing run instead (e.g. the training run the data feeds); it is not ended.
    #[arg(long, value_name = "RUN_ID", conflicts_with = "experiment")]
    pub run_id: Option<String>,
    /// Name of the new run.
    #[arg(long, value_name = "NAME", requires = "experiment")]
    pub run_name: Option<String>,
}

impl TrackingArgs {
    pub fn wanted(&self) -> bool {
        self.experiment.is_some() || self.run_id.is_some()
    }
}

/// What to log.
pub struct Record {
    pub default_run_name: String,
    /// Dataset input: name, digest, source URI, rows, column names.
    pub dataset_name: String,
    pub dataset_digest: String,
    pub dataset_source: String,
    pub rows: u64,
    pub columns: Vec<String>,
    /// `(key, value)` metrics.
    pub metrics: Vec<(String, f64)>,
    /// `(key, value)` tags, besides `<kind>.status`.
    pub tags: Vec<(String, String)>,
    /// Whether the check passed (tagged `<kind>.status`); `None` logs no status (an evaluation).
    pub passed: Option<bool>,
    /// `(file name, bytes)` artifacts, uploaded under `<kind>/`.
    pub artifacts: Vec<(String, Vec<u8>)>,
    /// What this was (`validation`, `drift`, `eval`): the status tag's prefix, the artifact folder
    /// and the dataset's `mlflow.data.context`.
    pub kind: &'static str,
    /// The new run's `mlflow.source.name` (`cairn data validate`, `cairn eval`).
    pub source_name: String,
    /// Logged models the run consumed (`cairn eval --model`), logged as the run's model inputs.
    pub models: Vec<String>,
}

/// Logs `record`; returns the run id.
pub fn log(args: &TrackingArgs, record: Record) -> anyhow::Result<String> {
    let Some(uri) = args.tracking_uri.clone() else {
        bail!("--experiment/--run-id need a tracking server: pass --tracking-uri or set MLFLOW_TRACKING_URI");
    };
    let connection = ServerConnection {
        tracking_uri: uri,
        username: std::env::var("MLFLOW_TRACKING_USERNAME").ok(),
        password: std::env::var("MLFLOW_TRACKING_PASSWORD").ok(),
    };
    let client = Client::new(&connection)?;
    let mut run_id = String::new();
    block_on(async {
        run_id = log_async(&client, args, record).await?;
        Ok(())
    })?;
    Ok(run_id)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The id of experiment `name`, created when missing.
async fn experiment_id(client: &Client, name: &str) -> anyhow::Result<String> {
    let found = client
        .get(
            "/api/2.0/mlflow/experiments/get-by-name",
            &[("experiment_name", name.to_owned())],
            "get experiment",
        )
        .await;
    if let Ok(answer) = found {
        if let Some(id) = answer["experiment"]["experiment_id"].as_str() {
            return Ok(id.to_owned());
        }
    }
    let created = client
        .post(
            "/api/2.0/mlflow/experiments/create",
            &json!({"name": name}),
            "create experiment",
        )
        .await?;
    created["experiment_id"]
        .as_str()
        .map(str::to_owned)
        .context("create experiment: no experiment_id in the answer")
}

async fn log_async(client: &Client, args: &TrackingArgs, record: Record) -> anyhow::Result<String> {
    let kind = record.kind;
    let (run_id, artifact_uri, own_run) = match (&args.run_id, &args.experiment) {
        (Some(run_id), _) => {
            let run = client
                .get(
                    "/api/2.0/mlflow/runs/get",
                    &[("run_id", run_id.clone())],
                    "get run",
                )
                .await?;
            let uri = run["run"]["info"]["artifact_uri"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            (run_id.clone(), uri, false)
        }
        (None, Some(experiment)) => {
            let experiment_id = experiment_id(client, experiment).await?;
            let name = args
                .run_name
                .clone()
                .unwrap_or_else(|| record.default_run_name.clone());
            let created = client
                .post(
                    "/api/2.0/mlflow/runs/create",
                    &json!({
                        "experiment_id": experiment_id,
                        "run_name": name,
                        "start_time": now_ms(),
                        "tags": [
                            {"key": "mlflow.runName", "value": name},
                            {"key": "mlflow.source.name", "value": record.source_name},
                            {"key": "mlflow.source.type", "value": "LOCAL"},
                        ],
                    }),
                    "create run",
                )
                .await?;
            let info = &created["run"]["info"];
            let run_id = info["run_id"]
                .as_str()
                .context("create run: no run_id in the answer")?
                .to_owned();
            (
                run_id,
                info["artifact_uri"].as_str().unwrap_or_default().to_owned(),
                true,
            )
        }
        (None, None) => bail!("nothing to log to: pass --experiment or --run-id"),
    };
    let source = if record.dataset_source.contains("://") {
        record.dataset_source.clone()
    } else {
        std::path::Path::new(&record.dataset_source)
            .canonicalize()
            .map_or_else(
                |_| record.dataset_source.clone(),
                |p| format!("file://{}", p.display()),
            )
    };
    let source_type = if source.starts_with("s3://") {
        "s3"
    } else if source.starts_with("postgresql://") || source.starts_with("postgres://") {
        "postgres"
    } else {
        "local"
    };
    let schema = json!({"mlflow_colspec": record.columns.iter().map(|c| json!({"name": c, "type": "string"})).collect::<Vec<_>>()});
    let mut inputs = json!({
        "run_id": run_id,
        "datasets": [{
            "dataset": {
                "name": record.dataset_name,
                "digest": record.dataset_digest,
                "source_type": source_type,
                "source": json!({"uri": source}).to_string(),
                "schema": schema.to_string(),
                "profile": json!({"num_rows": record.rows}).to_string(),
            },
            "tags": [{"key": "mlflow.data.context", "value": kind}],
        }],
    });
    if !record.models.is_empty() {
        inputs["models"] = record
            .models
            .iter()
            .map(|model_id| json!({"model_id": model_id}))
            .collect();
    }
    client
        .post("/api/2.0/mlflow/runs/log-inputs", &inputs, "log the inputs")
        .await?;
    let timestamp = now_ms();
    let mut tags: Vec<Value> = record
        .tags
        .iter()
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect();
    if let Some(passed) = record.passed {
        tags.push(json!({"key": format!("{kind}.status"), "value": if passed { "passed" } else { "failed" }}));
    }
    let metrics: Vec<Value> = record
        .metrics
        .iter()
        .filter(|(_, value)| value.is_finite())
        .map(|(key, value)| json!({"key": key, "value": value, "timestamp": timestamp, "step": 0}))
        .collect();
    // MLflow takes at most 1000 metrics and 100 tags per batch.
    for part in metrics.chunks(1000) {
        client
            .post(
                "/api/2.0/mlflow/runs/log-batch",
                &json!({"run_id": run_id, "metrics": part}),
                "log metrics",
            )
            .await?;
    }
    for part in tags.chunks(100) {
        client
            .post(
                "/api/2.0/mlflow/runs/log-batch",
                &json!({"run_id": run_id, "tags": part}),
                "log tags",
            )
            .await?;
    }
    if let Some(root) = artifact_uri.strip_prefix("mlflow-artifacts:") {
        let root = root.trim_start_matches('/').trim_end_matches('/');
        for (name, bytes) in record.artifacts {
            let path = format!("/api/2.0/mlflow-artifacts/artifacts/{root}/{kind}/{name}");
            client
                .put_bytes(&path, bytes, &format!("upload {name}"))
                .await?;
        }
    } else if !record.artifacts.is_empty() {
        eprintln!(
            "warning: the run's artifact location ({artifact_uri}) is not served through the tracking server's artifact proxy; reports were not uploaded"
        );
    }
    if own_run {
        client
            .post(
                "/api/2.0/mlflow/runs/update",
                &json!({"run_id": run_id, "status": "FINISHED", "end_time": now_ms()}),
                "end run",
            )
            .await?;
    }
    Ok(run_id)
}

/// A metric key for check `index`: `validation/03_column_values_to_be_between.age`, within
/// MLflow's allowed characters.
pub fn check_metric_key(
    kind: &str,
    index: usize,
    expectation_type: &str,
    column: Option<&str>,
) -> String {
    let mut key = format!(
        "{kind}/{:02}_{}",
        index + 1,
        expectation_type.trim_start_matches("expect_")
    );
    if let Some(column) = column {
        key.push('.');
        key.push_str(column);
    }
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ' | '/') {
                c
            } else {
                '_'
            }
        })
        .collect()
}
