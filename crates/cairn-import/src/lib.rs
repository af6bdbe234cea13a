//! Importers: bring another tracking store into cairn.
//!
//! [`mlflow`] reads MLflow's SQL schema; [`import_mlflow`] copies what it reads through the
//! [`MetadataStore`] import methods (id-preserving, one transaction per thing, never overwriting) and
//! the run and logged-model artifact folders through [`ArtifactStore::put_stream`].
//!
//! Ids:
//! - run ids, logged model ids, registered model names and version numbers are kept as they are;
//! - experiments are matched by name (MLflow's "Default" is cairn's "0"); a new one keeps MLflow's
//!   id when cairn has no experiment with that id, and gets the next free id otherwise. The mapping
//!   is in [`Summary::experiment_ids`];
//! - artifact locations become cairn's own (`mlflow-artifacts:/<experiment>/<run>/artifacts`,
//!   `.../models/<model id>/artifacts`), and a model version's `source` under an old run or model
//!   location is rewritten to the new one (`models:/` and `runs:/` sources stay as they are).
//!
//! Re-running is safe: what exists (same run id, model id, name, version) is skipped and counted.

pub mod artifacts;
pub mod mlflow;

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_artifacts::ArtifactStore;
use cairn_core::entities::{Alias, LifecycleStage, LoggedModelStatus, RunStatus, Stage};
use cairn_store::{
    ImportExperiment, ImportLoggedModel, ImportModelVersion, ImportRegisteredModel, ImportRun,
    MetadataStore,
};

use crate::artifacts::{copy_folder, local_source, CopyStats};
use crate::mlflow::{MlflowReader, MlflowRun, MlflowRunParts};

/// Runs read from MLflow ahead of the one being written.
const RUNS_READ_AHEAD: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(
        "unsupported source '{0}': cairn imports MLflow databases on SQLite (sqlite:///path) \
         and PostgreSQL (postgresql://...), not MySQL or others"
    )]
    UnsupportedSource(String),
    #[error("reading the MLflow database ({what}): {reason}")]
    Source { what: &'static str, reason: String },
    #[error("writing {what} to the cairn store: {source}")]
    Store {
        what: String,
        source: cairn_core::Error,
    },
    #[error("copying artifacts of {what}: {reason}")]
    Artifacts { what: String, reason: String },
    #[error("invalid value in the MLflow database: {0}")]
    Invalid(String),
}

type Result<T, E = ImportError> = std::result::Result<T, E>;

fn store_error(what: impl Into<String>) -> impl FnOnce(cairn_core::Error) -> ImportError {
    let what = what.into();
    move |source| ImportError::Store { what, source }
}

/// Where the progress of an import is shown (the CLI draws a bar; tests ignore it).
pub trait Progress: Send + Sync {
    /// A new phase with `total` items.
    fn phase(&self, name: &str, total: u64);
    fn advance(&self, items: u64);
    fn warn(&self, message: &str);
}

/// A [`Progress`] that shows nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn phase(&self, _name: &str, _total: u64) {}
    fn advance(&self, _items: u64) {}
    fn warn(&self, _message: &str) {}
}

/// Copied and skipped (already there) counts of one kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count {
    pub copied: u64,
    pub skipped: u64,
}

impl Count {
    fn add(&mut self, created: bool) {
        if created {
            self.copied += 1;
        } else {
            self.skipped += 1;
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub experiments: Count,
    pub runs: Count,
    /// Metric points of the copied runs (the whole history).
    pub metric_points: u64,
    pub params: u64,
    pub tags: u64,
    pub dataset_inputs: u64,
    pub logged_models: Count,
    pub registered_models: Count,
    pub model_versions: Count,
    pub aliases: Count,
    pub artifact_files: u64,
    pub artifact_bytes: u64,
    /// Runs and models whose artifacts could not be located (no `--artifacts`, or a remote URI).
    pub artifacts_not_found: u64,
    /// MLflow traces: not imported (cairn does not serve traces).
    pub traces_not_imported: u64,
    /// MLflow experiment id → cairn experiment id.
    pub experiment_ids: Vec<(i64, String)>,
    pub elapsed: Duration,
}

/// What to import from where.
#[derive(Debug, Clone)]
pub struct MlflowImport {
    /// `sqlite:///path/to/mlflow.db`.
    pub source_uri: String,
    /// MLflow's artifact root folder (`--artifacts-destination` of `mlflow server`, or `./mlruns`):
    /// where `mlflow-artifacts:/` URIs point. Without it only `file:` locations are copied.
    pub artifacts_root: Option<PathBuf>,
}

fn parse<T: FromStr>(what: &str, text: &str) -> Result<T> {
    T::from_str(text).map_err(|_| ImportError::Invalid(format!("{what} '{text}'")))
}

fn logged_model_status(status: i64) -> LoggedModelStatus {
    match status {
        1 => LoggedModelStatus::Pending,
        2 => LoggedModelStatus::Ready,
        3 => LoggedModelStatus::UploadFailed,
        _ => LoggedModelStatus::Unspecified,
    }
}

/// The artifact key under cairn's artifact root of an `mlflow-artifacts:/<key>` location.
fn cairn_key(artifact_uri: &str) -> Result<String> {
    artifact_uri
        .strip_prefix("mlflow-artifacts:/")
        .map(|key| key.trim_start_matches('/').to_owned())
        .ok_or_else(|| ImportError::Artifacts {
            what: artifact_uri.to_owned(),
            reason: "the cairn store gave a location outside mlflow-artifacts:/".to_owned(),
        })
}

/// Rewrites `source` when it lies under `old` (an MLflow artifact location) to lie under `new`.
fn rebase(source: &str, old: &str, new: &str) -> Option<String> {
    let old = old.trim_end_matches('/');
    if source == old {
        return Some(new.to_owned());
    }
    source
        .strip_prefix(old)
        .filter(|rest| rest.starts_with('/'))
        .map(|rest| format!("{}{rest}", new.trim_end_matches('/')))
}

/// The logged model a `models:/<model id>` source names (MLflow 3 ids start with `m-`).
fn model_id_of(source: &str) -> Option<String> {
    let rest = source.strip_prefix("models:/")?;
    (rest.starts_with("m-") && !rest.contains('/')).then(|| rest.to_owned())
}

struct Importer<'a> {
    store: Arc<dyn MetadataStore>,
    artifacts: Arc<dyn ArtifactStore>,
    artifacts_root: Option<PathBuf>,
    progress: &'a dyn Progress,
    summary: Summary,
    warned_no_root: bool,
}

impl Importer<'_> {
    /// Copies the folder behind an MLflow artifact location to `cairn_uri`.
    async fn copy_artifacts(&mut self, mlflow_uri: Option<&str>, cairn_uri: &str) -> Result<()> {
        let Some(mlflow_uri) = mlflow_uri.filter(|uri| !uri.is_empty()) else {
            return Ok(());
        };
        let Some(folder) = local_source(mlflow_uri, self.artifacts_root.as_deref()) else {
            self.summary.artifacts_not_found += 1;
            if mlflow_uri.starts_with("mlflow-artifacts:") && self.artifacts_root.is_none() {
                if !self.warned_no_root {
                    self.warned_no_root = true;
                    self.progress.warn(
                        "artifacts are not copied: give --artifacts <MLflow's artifact root folder>",
                    );
                }
            } else {
                self.progress.warn(&format!(
                    "artifacts at {mlflow_uri} are not copied: not a local folder"
                ));
            }
            return Ok(());
        };
        let CopyStats { files, bytes } =
            copy_folder(&folder, self.artifacts.as_ref(), &cairn_key(cairn_uri)?).await?;
        self.summary.artifact_files += files;
        self.summary.artifact_bytes += bytes;
        Ok(())
    }
}

/// Imports everything `request` names into `store` and `artifacts`.
pub async fn import_mlflow(
    request: &MlflowImport,
    store: Arc<dyn MetadataStore>,
    artifacts: Arc<dyn ArtifactStore>,
    progress: &dyn Progress,
) -> Result<Summary> {
    let started = Instant::now();
    let reader = Arc::new(MlflowReader::open(&request.source_uri).await?);
    let mut importer = Importer {
        store,
        artifacts,
        artifacts_root: request.artifacts_root.clone(),
        progress,
        summary: Summary::default(),
        warned_no_root: false,
    };

    // Experiments.
    let experiments = reader.experiments().await?;
    progress.phase("experiments", experiments.len() as u64);
    let mut experiment_map: HashMap<i64, (String, String)> = HashMap::new();
    for experiment in experiments {
        let tags = reader.experiment_tags(experiment.experiment_id).await?;
        let imported = importer
            .store
            .import_experiment(ImportExperiment {
                preferred_id: Some(experiment.experiment_id),
                name: experiment.name.clone(),
                lifecycle_stage: parse("lifecycle stage", &experiment.lifecycle_stage)?,
                creation_time: experiment.creation_time,
                last_update_time: experiment.last_update_time,
                tags,
            })
            .await
            .map_err(store_error(format!("experiment '{}'", experiment.name)))?;
        importer.summary.experiments.add(imported.created);
        importer
            .summary
            .experiment_ids
            .push((experiment.experiment_id, imported.id.clone()));
        experiment_map.insert(
            experiment.experiment_id,
            (imported.id, imported.artifact_uri),
        );
        progress.advance(1);
    }
    let experiment_of = |mlflow_id: i64| {
        experiment_map
            .get(&mlflow_id)
            .cloned()
            .ok_or_else(|| ImportError::Invalid(format!("unknown experiment id {mlflow_id}")))
    };

    // Runs: run id → (MLflow artifact uri, cairn artifact uri), for rewriting version sources.
    let runs = reader.runs().await?;
    progress.phase("runs", runs.len() as u64);
    let mut run_locations: HashMap<String, (String, String)> = HashMap::new();
    let mut to_import = Vec::new();
    for run in runs {
        match importer.store.get_run(&run.run_id).await {
            Ok(existing) => {
                importer.summary.runs.skipped += 1;
                if let Some(old) = run.artifact_uri {
                    run_locations.insert(run.run_id, (old, existing.info.artifact_uri));
                }
                progress.advance(1);
            }
            Err(_) => to_import.push(run),
        }
    }
    // Reading a run's parts from MLflow overlaps with writing the previous one to cairn.
    let (sender, mut receiver) =
        tokio::sync::mpsc::channel::<Result<(MlflowRun, MlflowRunParts)>>(RUNS_READ_AHEAD);
    let producer_reader = Arc::clone(&reader);
    let producer = tokio::spawn(async move {
        for run in to_import {
            let parts = producer_reader.run_parts(&run.run_id).await;
            let failed = parts.is_err();
            if sender.send(parts.map(|parts| (run, parts))).await.is_err() || failed {
                break;
            }
        }
    });
    while let Some(item) = receiver.recv().await {
        let (run, parts) = item?;
        let (experiment_id, experiment_location) = experiment_of(run.experiment_id)?;
        let cairn_uri = format!(
            "{}/{}/artifacts",
            experiment_location.trim_end_matches('/'),
            run.run_id
        );
        // Artifacts first: a run that exists in cairn has all its artifacts.
        importer
            .copy_artifacts(run.artifact_uri.as_deref(), &cairn_uri)
            .await?;
        let points = parts.metrics.len() as u64;
        let params = parts.params.len() as u64;
        let tags = parts.tags.len() as u64;
        let dataset_inputs = parts.dataset_inputs.len() as u64;
        let imported = importer
            .store
            .import_run(ImportRun {
                run_id: run.run_id.clone(),
                experiment_id,
                run_name: run.name,
                user_id: run.user_id,
                status: parse::<RunStatus>("run status", &run.status)?,
                start_time: run.start_time,
                end_time: run.end_time,
                lifecycle_stage: parse("lifecycle stage", &run.lifecycle_stage)?,
                deleted_time: run.deleted_time,
                params: parts.params,
                tags: parts.tags,
                metrics: parts.metrics,
                dataset_inputs: parts.dataset_inputs,
                model_inputs: parts.model_inputs,
                model_outputs: parts.model_outputs,
            })
            .await
            .map_err(store_error(format!("run {}", run.run_id)))?;
        importer.summary.runs.add(imported.created);
        if imported.created {
            importer.summary.metric_points += points;
            importer.summary.params += params;
            importer.summary.tags += tags;
            importer.summary.dataset_inputs += dataset_inputs;
        }
        if let Some(old) = run.artifact_uri {
            run_locations.insert(run.run_id, (old, imported.artifact_uri));
        }
        progress.advance(1);
    }
    producer.await.map_err(|error| ImportError::Source {
        what: "runs",
        reason: format!("reader task failed: {error}"),
    })?;

    // Logged models (MLflow 3).
    let models = reader.logged_models().await?;
    progress.phase("logged models", models.len() as u64);
    let mut model_locations: HashMap<String, (String, String)> = HashMap::new();
    for model in models {
        let (experiment_id, experiment_location) = experiment_of(model.experiment_id)?;
        let cairn_uri = format!(
            "{}/models/{}/artifacts",
            experiment_location.trim_end_matches('/'),
            model.model_id
        );
        let exists = importer
            .store
            .get_logged_model(&model.model_id)
            .await
            .is_ok();
        if !exists {
            importer
                .copy_artifacts(Some(&model.artifact_location), &cairn_uri)
                .await?;
        }
        let imported = importer
            .store
            .import_logged_model(ImportLoggedModel {
                model_id: model.model_id.clone(),
                experiment_id,
                name: model.name,
                status: logged_model_status(model.status),
                status_message: model.status_message,
                model_type: model.model_type,
                source_run_id: model.source_run_id,
                lifecycle_stage: parse::<LifecycleStage>(
                    "lifecycle stage",
                    &model.lifecycle_stage,
                )?,
                creation_timestamp_ms: model.creation_timestamp_ms,
                last_updated_timestamp_ms: model.last_updated_timestamp_ms,
                params: model.params,
                tags: model.tags,
                metrics: model.metrics,
            })
            .await
            .map_err(store_error(format!("logged model {}", model.model_id)))?;
        importer.summary.logged_models.add(imported.created);
        model_locations.insert(
            model.model_id,
            (model.artifact_location, imported.artifact_uri),
        );
        progress.advance(1);
    }

    // The registry.
    let registered = reader.registered_models().await?;
    let n_versions: usize = registered.iter().map(|model| model.versions.len()).sum();
    progress.phase("registry", (registered.len() + n_versions) as u64);
    for model in registered {
        let created = importer
            .store
            .import_registered_model(ImportRegisteredModel {
                name: model.name.clone(),
                creation_timestamp: model.creation_time,
                last_updated_timestamp: model.last_updated_time,
                description: model.description,
                user_id: None,
                tags: model.tags,
            })
            .await
            .map_err(store_error(format!("registered model '{}'", model.name)))?;
        importer.summary.registered_models.add(created);
        progress.advance(1);
        for version in model.versions {
            let model_id = model_id_of(&version.source);
            let rewritten = version
                .run_id
                .as_ref()
                .and_then(|run_id| run_locations.get(run_id))
                .and_then(|(old, new)| rebase(&version.source, old, new))
                .or_else(|| {
                    model_locations
                        .values()
                        .find_map(|(old, new)| rebase(&version.source, old, new))
                });
            let current_stage = if version.current_stage == "Deleted_Internal" {
                None
            } else {
                Some(Stage::parse_lenient(&version.current_stage).map_err(|_| {
                    ImportError::Invalid(format!("stage '{}'", version.current_stage))
                })?)
            };
            let created = importer
                .store
                .import_model_version(ImportModelVersion {
                    name: model.name.clone(),
                    version: version.version,
                    creation_timestamp: version.creation_time,
                    last_updated_timestamp: version.last_updated_time,
                    description: version.description,
                    user_id: version.user_id,
                    current_stage,
                    source: rewritten.unwrap_or(version.source),
                    run_id: version.run_id,
                    run_link: version.run_link,
                    status: version.status,
                    status_message: version.status_message,
                    model_id,
                    tags: version.tags,
                })
                .await
                .map_err(store_error(format!(
                    "model version {} of '{}'",
                    version.version, model.name
                )))?;
            importer.summary.model_versions.add(created);
            progress.advance(1);
        }
        let n_aliases = model.aliases.len() as u64;
        let set = importer
            .store
            .import_aliases(
                &model.name,
                model
                    .aliases
                    .into_iter()
                    .map(|(alias, version)| Alias { alias, version })
                    .collect(),
            )
            .await
            .map_err(store_error(format!("aliases of '{}'", model.name)))?;
        importer.summary.aliases.copied += set;
        importer.summary.aliases.skipped += n_aliases.saturating_sub(set);
    }

    importer.summary.traces_not_imported = reader.trace_count().await?;
    reader.close().await;
    importer.summary.elapsed = started.elapsed();
    Ok(importer.summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebasing_sources() {
        let check = |source: &str, old: &str, new: &str, expected: Option<&str>| {
            assert_eq!(rebase(source, old, new).as_deref(), expected, "{source}");
        };
        check(
            "mlflow-artifacts:/1/abc/artifacts/model",
            "mlflow-artifacts:/1/abc/artifacts",
            "mlflow-artifacts:/3/abc/artifacts",
            Some("mlflow-artifacts:/3/abc/artifacts/model"),
        );
        check(
            "file:///data/mlruns/1/abc/artifacts",
            "file:///data/mlruns/1/abc/artifacts/",
            "mlflow-artifacts:/1/abc/artifacts",
            Some("mlflow-artifacts:/1/abc/artifacts"),
        );
        check(
            "mlflow-artifacts:/1/abcdef/artifacts",
            "mlflow-artifacts:/1/abc",
            "x",
            None,
        );
        check("models:/m-123", "mlflow-artifacts:/1", "x", None);
    }

    #[test]
    fn model_ids_of_sources() {
        assert_eq!(model_id_of("models:/m-abc").as_deref(), Some("m-abc"));
        assert_eq!(model_id_of("models:/name/1"), None);
        assert_eq!(model_id_of("runs:/abc/model"), None);
    }

    #[test]
    fn logged_model_statuses() {
        assert_eq!(logged_model_status(2), LoggedModelStatus::Ready);
        assert_eq!(logged_model_status(3), LoggedModelStatus::UploadFailed);
        assert_eq!(logged_model_status(42), LoggedModelStatus::Unspecified);
    }
}
