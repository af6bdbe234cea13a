//! Gathering a gate's evidence through the MLflow REST API, so `cairn gate check` works against a
//! cairn server or a stock MLflow one: the candidate (a run, a model version or a logged model), its
//! datasets' first use and latest validations, the baseline and the benchmark run.

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use cairn_core::governance::{
    Baseline, BenchmarkEvidence, DatasetEvidence, Evidence, ValidationEvidence,
};
use serde_json::{json, Value};

use crate::client::Client;

const API: &str = "/api/2.0/mlflow";
const DATASET_CONTEXT_TAG: &str = "mlflow.data.context";

/// What is being gated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Candidate {
    Run(String),
    ModelVersion { model: String, version: String },
    ModelAlias { model: String, alias: String },
    LoggedModel(String),
}

impl Candidate {
    /// `models:/name/3`, `models:/name@alias`, `models:/m-<id>` (a logged model) or `runs:/<id>`.
    pub fn from_uri(uri: &str) -> anyhow::Result<Candidate> {
        if let Some(run) = uri.strip_prefix("runs:/") {
            let run = run.split('/').next().unwrap_or_default();
            if run.is_empty() {
                bail!("'{uri}': expected runs:/<run_id>");
            }
            return Ok(Candidate::Run(run.to_owned()));
        }
        let Some(rest) = uri.strip_prefix("models:/") else {
            bail!("'{uri}': expected models:/<name>/<version>, models:/<name>@<alias>, models:/<model_id> or runs:/<run_id>");
        };
        let rest = rest.trim_end_matches('/');
        if let Some((model, alias)) = rest.rsplit_once('@') {
            if model.is_empty() || alias.is_empty() {
                bail!("'{uri}': expected models:/<name>@<alias>");
            }
            return Ok(Candidate::ModelAlias {
                model: model.to_owned(),
                alias: alias.to_owned(),
            });
        }
        if let Some((model, version)) = rest.rsplit_once('/') {
            if model.is_empty() || version.parse::<u64>().is_err() {
                bail!("'{uri}': the version must be a number (models:/<name>/<version>)");
            }
            return Ok(Candidate::ModelVersion {
                model: model.to_owned(),
                version: version.to_owned(),
            });
        }
        if rest.starts_with("m-") {
            return Ok(Candidate::LoggedModel(rest.to_owned()));
        }
        bail!("'{uri}': expected models:/<name>/<version>, models:/<name>@<alias>, models:/<model_id> or runs:/<run_id>")
    }
}

/// The candidate's evidence, where the verdict is recorded, and how to name it.
pub struct Gathered {
    pub evidence: Evidence,
    /// The run the verdict's JSON artifact goes to (the candidate run or the source run).
    pub artifact_run: Option<(String, String)>,
    pub described: String,
    /// Where the verdict's tags go.
    pub target: TagTarget,
}

pub enum TagTarget {
    Run(String),
    ModelVersion { model: String, version: String },
    LoggedModel(String),
}

fn metrics_of(run: &Value) -> BTreeMap<String, f64> {
    run["data"]["metrics"]
        .as_array()
        .map(|metrics| {
            metrics
                .iter()
                .filter_map(|metric| {
                    Some((
                        metric["key"].as_str()?.to_owned(),
                        number(&metric["value"])?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A metric value as MLflow's JSON writes it: a number, or "NaN"/"Infinity"/"-Infinity".
fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => match text.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            other => other.parse().ok(),
        },
        _ => None,
    }
}

fn key_values(list: &Value) -> BTreeMap<String, String> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| {
                    Some((
                        item["key"].as_str()?.to_owned(),
                        item["value"].as_str().unwrap_or_default().to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => number.as_i64(),
        Value::String(text) => text.parse().ok(),
        _ => None,
    }
}

async fn get_run(client: &Client, run_id: &str) -> anyhow::Result<Value> {
    let answer = client
        .get(
            &format!("{API}/runs/get"),
            &[("run_id", run_id.to_owned())],
            &format!("run {run_id}"),
        )
        .await?;
    Ok(answer["run"].clone())
}

/// Evidence from a run (`runs/get`): latest metrics, tags, times, dataset inputs.
fn run_evidence(run: &Value) -> Evidence {
    let info = &run["info"];
    let datasets = run["inputs"]["dataset_inputs"]
        .as_array()
        .map(|inputs| {
            inputs
                .iter()
                .map(|input| DatasetEvidence {
                    name: input["dataset"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    digest: input["dataset"]["digest"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    context: key_values(&input["tags"]).remove(DATASET_CONTEXT_TAG),
                    first_seen_ms: None,
                })
                .collect()
        })
        .unwrap_or_default();
    Evidence {
        run_id: info["run_id"].as_str().map(str::to_owned),
        metrics: metrics_of(run),
        tags: key_values(&run["data"]["tags"]),
        run_start_time_ms: integer(&info["start_time"]),
        run_end_time_ms: integer(&info["end_time"]),
        datasets,
        ..Evidence::default()
    }
}

async fn model_version(client: &Client, model: &str, version: &str) -> anyhow::Result<Value> {
    let answer = client
        .get(
            &format!("{API}/model-versions/get"),
            &[("name", model.to_owned()), ("version", version.to_owned())],
            &format!("model version {model}/{version}"),
        )
        .await?;
    Ok(answer["model_version"].clone())
}

async fn alias_version(client: &Client, model: &str, alias: &str) -> anyhow::Result<Option<Value>> {
    let answer = client
        .get(
            &format!("{API}/registered-models/alias"),
            &[("name", model.to_owned()), ("alias", alias.to_owned())],
            &format!("alias {model}@{alias}"),
        )
        .await;
    match answer {
        Ok(answer) => Ok(Some(answer["model_version"].clone())),
        // A missing model is RESOURCE_DOES_NOT_EXIST; a model without that alias is MLflow's
        // INVALID_PARAMETER_VALUE "Registered model alias ... not found".
        Err(error)
            if error.to_string().contains("RESOURCE_DOES_NOT_EXIST")
                || (error.to_string().contains("INVALID_PARAMETER_VALUE")
                    && error.to_string().contains("not found")) =>
        {
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

/// A model version's evidence: its source run's, with the version's own tags laid over the run's.
/// Also returns the source run's artifact URI (empty without a run), read from the same `runs/get`.
async fn version_evidence(client: &Client, version: &Value) -> anyhow::Result<(Evidence, String)> {
    let run_id = version["run_id"].as_str().unwrap_or_default();
    let (mut evidence, artifact_uri) = if run_id.is_empty() {
        (Evidence::default(), String::new())
    } else {
        let run = get_run(client, run_id).await?;
        let uri = run["info"]["artifact_uri"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        (run_evidence(&run), uri)
    };
    evidence.model_name = version["name"].as_str().unwrap_or_default().to_owned();
    evidence.version = match &version["version"] {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    evidence.tags.extend(key_values(&version["tags"]));
    Ok((evidence, artifact_uri))
}

pub async fn candidate(client: &Client, candidate: &Candidate) -> anyhow::Result<Gathered> {
    match candidate {
        Candidate::Run(run_id) => {
            let run = get_run(client, run_id).await?;
            let artifact_uri = run["info"]["artifact_uri"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            Ok(Gathered {
                evidence: run_evidence(&run),
                artifact_run: Some((run_id.clone(), artifact_uri)),
                described: format!("run {run_id}"),
                target: TagTarget::Run(run_id.clone()),
            })
        }
        Candidate::ModelVersion { model, version } => {
            let found = model_version(client, model, version).await?;
            version_gathered(client, &found, format!("models:/{model}/{version}")).await
        }
        Candidate::ModelAlias { model, alias } => {
            let Some(found) = alias_version(client, model, alias).await? else {
                bail!("no version of model '{model}' holds the alias '{alias}'");
            };
            version_gathered(client, &found, format!("models:/{model}@{alias}")).await
        }
        Candidate::LoggedModel(model_id) => {
            let answer = client
                .get(
                    &format!("{API}/logged-models/{model_id}"),
                    &[],
                    &format!("logged model {model_id}"),
                )
                .await?;
            let model = &answer["model"];
            let source_run = model["info"]["source_run_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let (mut evidence, artifact_run) = if source_run.is_empty() {
                (Evidence::default(), None)
            } else {
                let run = get_run(client, &source_run).await?;
                let artifact_uri = run["info"]["artifact_uri"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                (run_evidence(&run), Some((source_run.clone(), artifact_uri)))
            };
            // The logged model's own metrics and tags win over its source run's.
            evidence.metrics.extend(metrics_of(model));
            evidence.tags.extend(key_values(&model["info"]["tags"]));
            evidence.model_name = model["info"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            Ok(Gathered {
                evidence,
                artifact_run,
                described: format!("logged model {model_id}"),
                target: TagTarget::LoggedModel(model_id.clone()),
            })
        }
    }
}

async fn version_gathered(
    client: &Client,
    version: &Value,
    described: String,
) -> anyhow::Result<Gathered> {
    let (evidence, artifact_uri) = version_evidence(client, version).await?;
    let model = evidence.model_name.clone();
    let number = evidence.version.clone();
    let artifact_run = evidence.run_id.clone().map(|run_id| (run_id, artifact_uri));
    Ok(Gathered {
        evidence,
        artifact_run,
        described: format!("{described} (version {number})"),
        target: TagTarget::ModelVersion {
            model,
            version: number,
        },
    })
}

/// Every experiment id (active and deleted runs live in both), for searches across the store.
async fn experiment_ids(client: &Client) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({"max_results": 1000, "view_type": "ALL"});
        if let Some(token) = &token {
            body["page_token"] = json!(token);
        }
        let answer = client
            .post(
                &format!("{API}/experiments/search"),
                &body,
                "list experiments",
            )
            .await?;
        for experiment in answer["experiments"].as_array().into_iter().flatten() {
            if let Some(id) = experiment["experiment_id"].as_str() {
                ids.push(id.to_owned());
            }
        }
        match answer["next_page_token"].as_str() {
            Some(next) if !next.is_empty() => token = Some(next.to_owned()),
            _ => return Ok(ids),
        }
    }
}

/// Quotes a value for MLflow's filter grammar.
fn quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', "\\'"))
}

async fn first_run(
    client: &Client,
    experiments: &[String],
    filter: &str,
    order: &str,
) -> anyhow::Result<Option<Value>> {
    let answer = client
        .post(
            &format!("{API}/runs/search"),
            &json!({
                "experiment_ids": experiments,
                "filter": filter,
                "order_by": [order],
                "max_results": 1,
                "run_view_type": "ACTIVE_ONLY",
            }),
            "search runs",
        )
        .await?;
    Ok(answer["runs"]
        .as_array()
        .and_then(|runs| runs.first())
        .cloned())
}

/// Fills each dataset's first use and, for `data_validation`, the latest validation of each
/// digest (runs tagged `validation.status` by `cairn data validate` that logged the same digest).
pub async fn datasets(
    client: &Client,
    evidence: &mut Evidence,
    validations: bool,
    ages: bool,
) -> anyhow::Result<()> {
    if evidence.datasets.is_empty() || !(validations || ages) {
        return Ok(());
    }
    let experiments = experiment_ids(client).await?;
    let mut seen_digests = Vec::new();
    for index in 0..evidence.datasets.len() {
        let dataset = evidence.datasets[index].clone();
        if dataset.digest.is_empty() {
            continue;
        }
        let digest = format!("datasets.digest = {}", quoted(&dataset.digest));
        if ages {
            let first =
                first_run(client, &experiments, &digest, "attributes.start_time ASC").await?;
            evidence.datasets[index].first_seen_ms =
                first.and_then(|run| integer(&run["info"]["start_time"]));
        }
        if validations && !seen_digests.contains(&dataset.digest) {
            seen_digests.push(dataset.digest.clone());
            let mut latest: Option<(i64, String, bool)> = None;
            for status in ["passed", "failed"] {
                let filter = format!("{digest} and tags.`validation.status` = '{status}'");
                if let Some(run) =
                    first_run(client, &experiments, &filter, "attributes.start_time DESC").await?
                {
                    let start = integer(&run["info"]["start_time"]).unwrap_or(0);
                    let run_id = run["info"]["run_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    if latest.as_ref().is_none_or(|(time, _, _)| start > *time) {
                        latest = Some((start, run_id, status == "passed"));
                    }
                }
            }
            if let Some((_, run_id, passed)) = latest {
                evidence.validations.push(ValidationEvidence {
                    dataset: dataset.name.clone(),
                    digest: dataset.digest.clone(),
                    run_id,
                    passed,
                });
            }
        }
    }
    Ok(())
}

/// The baseline's evidence, or `None` when it does not exist yet (no alias holder, no runs).
pub async fn baseline(
    client: &Client,
    baseline: &Baseline,
    candidate_run: Option<&str>,
) -> anyhow::Result<Option<Evidence>> {
    match baseline {
        Baseline::Alias { model, alias } => {
            let Some(version) = alias_version(client, model, alias).await? else {
                return Ok(None);
            };
            let (mut evidence, _) = version_evidence(client, &version).await?;
            evidence.label = Some(format!(
                "baseline {model}@{alias} (version {})",
                evidence.version
            ));
            Ok(Some(evidence))
        }
        Baseline::Version { model, version } => {
            let found = model_version(client, model, version).await?;
            let (mut evidence, _) = version_evidence(client, &found).await?;
            evidence.label = Some(format!("baseline {model} version {version}"));
            Ok(Some(evidence))
        }
        Baseline::Run(run) => {
            // A run id, else a run name: the latest run of that name in any experiment.
            let found = match get_run(client, run).await {
                Ok(found) => found,
                Err(error) if error.to_string().contains("RESOURCE_DOES_NOT_EXIST") => {
                    let experiments = experiment_ids(client).await?;
                    let filter = format!("attributes.run_name = {}", quoted(run));
                    first_run(client, &experiments, &filter, "attributes.start_time DESC")
                        .await?
                        .with_context(|| format!("baseline: no run has the id or name '{run}'"))?
                }
                Err(error) => return Err(error),
            };
            let mut evidence = run_evidence(&found);
            let run_id = evidence.run_id.clone().unwrap_or_default();
            evidence.label = Some(if &run_id == run {
                format!("baseline run {run_id}")
            } else {
                format!("baseline run '{run}' ({run_id})")
            });
            Ok(Some(evidence))
        }
        Baseline::RecentRuns { experiment, last } => {
            let found = client
                .get(
                    &format!("{API}/experiments/get-by-name"),
                    &[("experiment_name", experiment.clone())],
                    &format!("baseline experiment '{experiment}'"),
                )
                .await?;
            let experiment_id = found["experiment"]["experiment_id"]
                .as_str()
                .context("the experiment has no id")?
                .to_owned();
            let answer = client
                .post(
                    &format!("{API}/runs/search"),
                    &json!({
                        "experiment_ids": [experiment_id],
                        "filter": "attributes.status = 'FINISHED'",
                        "order_by": ["attributes.start_time DESC"],
                        "max_results": last + 1,
                        "run_view_type": "ACTIVE_ONLY",
                    }),
                    "search the baseline runs",
                )
                .await?;
            let runs: Vec<&Value> = answer["runs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|run| run["info"]["run_id"].as_str() != candidate_run)
                .take(*last as usize)
                .collect();
            if runs.is_empty() {
                return Ok(None);
            }
            let mut sums: BTreeMap<String, (f64, usize)> = BTreeMap::new();
            for run in &runs {
                for (key, value) in metrics_of(run) {
                    let entry = sums.entry(key).or_insert((0.0, 0));
                    entry.0 += value;
                    entry.1 += 1;
                }
            }
            Ok(Some(Evidence {
                metrics: sums
                    .into_iter()
                    .map(|(key, (sum, count))| (key, sum / count as f64))
                    .collect(),
                label: Some(format!(
                    "baseline mean of the last {} finished runs of '{experiment}'",
                    runs.len()
                )),
                ..Evidence::default()
            }))
        }
    }
}

pub async fn benchmark(client: &Client, run_id: &str) -> anyhow::Result<BenchmarkEvidence> {
    let run = get_run(client, run_id).await?;
    Ok(BenchmarkEvidence {
        run_id: run_id.to_owned(),
        metrics: metrics_of(&run),
    })
}
