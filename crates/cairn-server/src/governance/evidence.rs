//! What the store knows about a model version, gathered for the policy engine.

use std::collections::BTreeMap;

use cairn_core::entities::ModelVersion;
use cairn_core::governance::{DatasetEvidence, Evidence};
use cairn_core::{ErrorKind, Result};
use cairn_store::MetadataStore;

use super::Promotion;

/// The dataset input tag MLflow uses for a dataset's role (`training`, `eval`, ...).
const DATASET_CONTEXT_TAG: &str = "mlflow.data.context";

/// Evidence for one version: its source run's latest metrics (then the logged model's metrics for
/// keys the run lacks), the run's tags overlaid by the version's own tags, the run's times and its
/// dataset inputs. A version whose run is gone (or that has none) has empty run evidence.
pub async fn gather(store: &dyn MetadataStore, version: &ModelVersion) -> Result<Evidence> {
    let mut evidence = Evidence {
        model_name: version.name.clone(),
        version: version.version.to_string(),
        run_id: version.run_id.clone(),
        metrics: BTreeMap::new(),
        tags: BTreeMap::new(),
        run_start_time_ms: None,
        run_end_time_ms: None,
        datasets: Vec::new(),
        // Quality gates (`cairn gate check`) look these up through the REST API; a promotion
        // check does not: `data_validation` reads the run's `validation.status` tag here.
        ..Evidence::default()
    };
    if let Some(run_id) = version.run_id.as_deref().filter(|id| !id.is_empty()) {
        match store.get_run(run_id).await {
            Ok(run) => {
                for metric in &run.data.metrics {
                    evidence.metrics.insert(metric.key.clone(), metric.value);
                }
                for tag in &run.data.tags {
                    evidence.tags.insert(tag.key.clone(), tag.value.clone());
                }
                evidence.run_start_time_ms = Some(run.info.start_time);
                evidence.run_end_time_ms = run.info.end_time;
                for input in &run.inputs.dataset_inputs {
                    let context = input
                        .tags
                        .iter()
                        .find(|tag| tag.key == DATASET_CONTEXT_TAG)
                        .map(|tag| tag.value.clone());
                    evidence.datasets.push(DatasetEvidence {
                        name: input.dataset.name.clone(),
                        digest: input.dataset.digest.clone(),
                        context,
                        first_seen_ms: None,
                    });
                }
            }
            Err(error) if error.kind == ErrorKind::ResourceDoesNotExist => {
                evidence.run_id = None;
            }
            Err(error) => return Err(error),
        }
    }
    if let Some(model_id) = version.model_id.as_deref().filter(|id| !id.is_empty()) {
        match store.get_logged_model(model_id).await {
            Ok(model) => {
                for metric in &model.metrics {
                    evidence
                        .metrics
                        .entry(metric.key.clone())
                        .or_insert(metric.value);
                }
            }
            Err(error) if error.kind == ErrorKind::ResourceDoesNotExist => {}
            Err(error) => return Err(error),
        }
    }
    for tag in &version.tags {
        evidence.tags.insert(tag.key.clone(), tag.value.clone());
    }
    Ok(evidence)
}

/// The version that holds the target now (the alias's version; the newest other version in the
/// stage), if any.
pub async fn current_holder(
    store: &dyn MetadataStore,
    name: &str,
    candidate: i64,
    promotion: &Promotion,
) -> Result<Option<ModelVersion>> {
    match promotion {
        Promotion::Alias(alias) => {
            // (An unknown alias is MLflow's INVALID_PARAMETER_VALUE, not a not-found: look it up.)
            let holder = store
                .list_aliases(name)
                .await?
                .into_iter()
                .find(|entry| &entry.alias == alias);
            match holder {
                Some(entry) => Ok(Some(store.get_model_version(name, entry.version).await?)),
                None => Ok(None),
            }
        }
        Promotion::Stage(stage) => Ok(store
            .get_latest_versions(name, vec![*stage])
            .await?
            .into_iter()
            .find(|version| version.version != candidate)),
    }
}
