//! The run record of an evaluation: the metrics under `mlflow.evaluate`'s names, per class and per
//! slice, and the reports, plots and slice tables as artifacts under `eval/`.

use cairn_eval::keys::metric_key_part;
use cairn_eval::report;
use cairn_serve::resolve::Provenance;

use super::read::Outcome;
use crate::data::dataset_digest;
use crate::data::tracking::Record;

/// Metric keys: overall `accuracy_score`; per class `class/<class>/precision`; per slice
/// `slice/<column>:<value>/<metric>` and the gap `slice_gap/<column>/<metric>`.
pub fn metrics(outcome: &Outcome) -> Vec<(String, f64)> {
    let evaluation = &outcome.evaluation;
    let mut metrics: Vec<(String, f64)> = evaluation
        .overall
        .metrics
        .iter()
        .filter_map(|(name, value)| Some((name.clone(), (*value)?)))
        .collect();
    for class in &evaluation.overall.per_class {
        let prefix = format!("class/{}", metric_key_part(&class.class));
        for (name, value) in [
            ("precision", Some(class.precision)),
            ("recall", Some(class.recall)),
            ("f1", Some(class.f1)),
            ("support", Some(class.support as f64)),
            ("roc_auc", class.roc_auc),
            ("average_precision", class.average_precision),
        ] {
            if let Some(value) = value {
                metrics.push((format!("{prefix}/{name}"), value));
            }
        }
    }
    for column in &evaluation.slices {
        let column_key = metric_key_part(&column.column);
        for slice in &column.slices {
            let prefix = format!("slice/{column_key}:{}", metric_key_part(&slice.value));
            for (name, value) in &slice.group.metrics {
                if let Some(value) = value {
                    metrics.push((format!("{prefix}/{name}"), *value));
                }
            }
        }
        for (name, gap) in &column.gaps {
            metrics.push((format!("slice_gap/{column_key}/{name}"), gap.gap));
        }
    }
    metrics
}

/// The model `cairn eval --model` scored, as the run records it.
pub struct ModelUsed {
    /// The URI as given.
    pub uri: String,
    pub provenance: Provenance,
}

impl ModelUsed {
    /// `name version 3` for a registry model, else the URI.
    pub fn describe(&self) -> String {
        match (&self.provenance.registered_model, &self.provenance.version) {
            (Some(name), Some(version)) => format!("{} ({name} version {version})", self.uri),
            _ => self.uri.clone(),
        }
    }

    /// Tags `eval.model_uri` and, where the tracking server said, `eval.model_name`,
    /// `eval.model_version`, `eval.model_run_id` (the run that logged it), `eval.model_id`.
    fn tags(&self) -> Vec<(String, String)> {
        let provenance = &self.provenance;
        let mut tags = vec![("eval.model_uri".to_owned(), self.uri.clone())];
        for (key, value) in [
            ("eval.model_name", &provenance.registered_model),
            ("eval.model_version", &provenance.version),
            ("eval.model_run_id", &provenance.run_id),
            ("eval.model_id", &provenance.model_id),
        ] {
            if let Some(value) = value {
                tags.push((key.to_owned(), value.clone()));
            }
        }
        tags
    }
}

pub fn record(
    predictions: &str,
    outcome: &Outcome,
    label_column: &str,
    json: String,
    model: Option<&ModelUsed>,
) -> Record {
    let evaluation = &outcome.evaluation;
    let name = std::path::Path::new(predictions)
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or(predictions)
        .to_owned();
    let mut tags = vec![
        ("eval.task".to_owned(), evaluation.task.name().to_owned()),
        ("eval.label_col".to_owned(), label_column.to_owned()),
    ];
    if let Some(positive) = &evaluation.pos_label {
        tags.push(("eval.pos_label".to_owned(), positive.clone()));
    }
    if let Some(model) = model {
        tags.extend(model.tags());
    }
    let mut artifacts = vec![
        ("eval.json".to_owned(), json.into_bytes()),
        (
            "eval.html".to_owned(),
            report::html(evaluation).into_bytes(),
        ),
        (
            "eval.md".to_owned(),
            report::markdown(evaluation).into_bytes(),
        ),
    ];
    for (file, svg) in report::plots(evaluation) {
        artifacts.push((file, svg.into_bytes()));
    }
    for (column, csv) in report::slice_csv(evaluation) {
        artifacts.push((
            format!("slices_{}.csv", metric_key_part(&column).replace(' ', "_")),
            csv.into_bytes(),
        ));
    }
    let default_run_name = match model.map(|model| &model.provenance) {
        Some(Provenance {
            registered_model: Some(model_name),
            version: Some(version),
            ..
        }) => format!("eval of {model_name} v{version} on {name}"),
        Some(_) => format!("eval of a model on {name}"),
        None => format!("eval on {name}"),
    };
    Record {
        default_run_name,
        // The model consumed (a lineage edge model -> this run), when it is a logged model.
        models: model
            .and_then(|model| model.provenance.model_id.clone())
            .into_iter()
            .collect(),
        dataset_name: name,
        dataset_digest: dataset_digest(&outcome.files, &outcome.columns),
        dataset_source: predictions.to_owned(),
        rows: outcome.rows,
        columns: outcome.columns.clone(),
        metrics: metrics(outcome),
        tags,
        passed: None,
        artifacts,
        kind: "eval",
        source_name: "cairn eval".into(),
    }
}
