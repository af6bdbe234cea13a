//! Whole runs assembled from their parts, each part one JSON array of rows built by the database
//! (`json_group_array`): a page of 1,000 runs is one value per part instead of one sqlx row per
//! param, tag and metric (an allocation per column and a hop from sqlx's worker thread).
//!
//! SQLite uses it. PostgreSQL does not: there the same parts built with `json_agg` cost the
//! server ~2 ms more per 500-run page than the rows sqlx decodes (measured: backend CPU per
//! search, 23 Nov 2026), so the PostgreSQL store reads rows and shares only [`info_from_row`].
//!
//! Row shapes (`seq` is the insertion order: SQLite's rowid, PostgreSQL's `seq` column):
//! - metrics: `[run_id, key, step, timestamp, value_bits|null, value_text|null, is_nan 0/1,
//!   model_id, dataset_name, dataset_digest]`; values travel as their IEEE-754 bits;
//! - params, tags: `[seq, run_id, key, value]`;
//! - datasets: `[seq, run_id, dataset_uuid, name, digest, source_type, source, schema, profile]`;
//! - dataset input tags: `[seq, run_id, dataset_uuid, key, value]`;
//! - model inputs: `[seq, run_id, model_id]`; model outputs: `[seq, run_id, model_id, step]`.

use std::collections::HashMap;

use cairn_core::entities::{
    Dataset, DatasetInput, KeyValue, Metric, ModelInput, ModelOutput, Run, RunData, RunInfo,
    RunInputs, RunOutputs,
};
use cairn_core::{Error, Result};

use crate::shared::parse_column;

/// A run's info as its columns: id, experiment id, name, user, status, start, end, artifact URI,
/// lifecycle stage.
pub(crate) type InfoRow = (
    String,
    i64,
    String,
    String,
    String,
    i64,
    Option<i64>,
    String,
    String,
);

pub(crate) fn info_from_row(row: InfoRow) -> Result<RunInfo> {
    let (
        run_id,
        experiment_id,
        run_name,
        user_id,
        status,
        start_time,
        end_time,
        artifact_uri,
        stage,
    ) = row;
    Ok(RunInfo {
        run_id,
        experiment_id: experiment_id.to_string(),
        run_name,
        user_id,
        status: parse_column(&status)?,
        start_time,
        end_time,
        artifact_uri,
        lifecycle_stage: parse_column(&stage)?,
    })
}

/// The packed parts of a set of runs, as the database returned them (see the module docs).
#[derive(Debug, Default, sqlx::FromRow)]
pub(crate) struct RunParts {
    pub metrics: String,
    pub params: String,
    pub tags: String,
    pub datasets: String,
    pub input_tags: String,
    pub model_inputs: String,
    pub model_outputs: String,
}

type PackedMetric = (
    String,
    String,
    i64,
    i64,
    Option<i64>,
    Option<String>,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
);

type PackedDataset = (
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

pub(crate) fn unpack<T: serde::de::DeserializeOwned>(json: &str) -> Result<Vec<T>> {
    serde_json::from_str(json)
        .map_err(|error| Error::internal(format!("unreadable packed rows: {error}")))
}

/// A metric value from its bits, or from its text for rows written before `value_bits` existed.
pub(crate) fn unpack_value(bits: Option<i64>, text: Option<&str>, is_nan: bool) -> Result<f64> {
    if is_nan {
        return Ok(f64::NAN);
    }
    match (bits, text) {
        (Some(bits), _) => Ok(f64::from_bits(bits as u64)),
        (None, Some(text)) => text
            .parse::<f64>()
            .map_err(|_| Error::internal(format!("unreadable metric value '{text}'"))),
        (None, None) => Err(Error::internal("metric without a value")),
    }
}

/// Runs with these infos (in this order) and no data yet.
pub(crate) fn empty_runs(infos: Vec<RunInfo>) -> Vec<Run> {
    infos
        .into_iter()
        .map(|info| Run {
            info,
            data: RunData::default(),
            inputs: RunInputs::default(),
            outputs: RunOutputs::default(),
        })
        .collect()
}

/// Fills `runs` (infos only) with their parts: metrics by key (byte order), params, tags, inputs
/// and outputs in the order they were written. Rows of runs not in `runs` are ignored.
pub(crate) fn assemble(mut runs: Vec<Run>, parts: &RunParts) -> Result<Vec<Run>> {
    let positions: HashMap<String, usize> = runs
        .iter()
        .enumerate()
        .map(|(position, run)| (run.info.run_id.clone(), position))
        .collect();
    let position = |run_id: &str| positions.get(run_id).copied();

    let mut metrics: Vec<PackedMetric> = unpack(&parts.metrics)?;
    metrics.sort_unstable_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    for (
        run_id,
        key,
        step,
        timestamp,
        bits,
        text,
        is_nan,
        model_id,
        dataset_name,
        dataset_digest,
    ) in metrics
    {
        if let Some(index) = position(&run_id) {
            runs[index].data.metrics.push(Metric {
                key,
                value: unpack_value(bits, text.as_deref(), is_nan != 0)?,
                timestamp,
                step,
                model_id,
                dataset_name,
                dataset_digest,
                run_id: None,
            });
        }
    }

    for (json, is_param) in [(&parts.params, true), (&parts.tags, false)] {
        let mut rows: Vec<(i64, String, String, String)> = unpack(json)?;
        rows.sort_unstable_by_key(|row| row.0);
        for (_, run_id, key, value) in rows {
            if let Some(index) = position(&run_id) {
                let data = &mut runs[index].data;
                let target = if is_param {
                    &mut data.params
                } else {
                    &mut data.tags
                };
                target.push(KeyValue { key, value });
            }
        }
    }

    let mut datasets: Vec<PackedDataset> = unpack(&parts.datasets)?;
    if !datasets.is_empty() {
        datasets.sort_unstable_by_key(|row| row.0);
        let mut input_tags: Vec<(i64, String, String, String, String)> = unpack(&parts.input_tags)?;
        input_tags.sort_unstable_by_key(|row| row.0);
        let mut tags: HashMap<(String, String), Vec<KeyValue>> = HashMap::new();
        for (_, run_id, dataset_uuid, key, value) in input_tags {
            tags.entry((run_id, dataset_uuid))
                .or_default()
                .push(KeyValue { key, value });
        }
        for (_, run_id, dataset_uuid, name, digest, source_type, source, schema, profile) in
            datasets
        {
            let Some(index) = position(&run_id) else {
                continue;
            };
            let input_tags = tags.remove(&(run_id, dataset_uuid)).unwrap_or_default();
            runs[index].inputs.dataset_inputs.push(DatasetInput {
                dataset: Dataset {
                    name,
                    digest,
                    source_type,
                    source,
                    schema,
                    profile,
                },
                tags: input_tags,
            });
        }
    }

    let mut model_inputs: Vec<(i64, String, String)> = unpack(&parts.model_inputs)?;
    model_inputs.sort_unstable_by_key(|row| row.0);
    for (_, run_id, model_id) in model_inputs {
        if let Some(index) = position(&run_id) {
            runs[index]
                .inputs
                .model_inputs
                .push(ModelInput { model_id });
        }
    }
    let mut model_outputs: Vec<(i64, String, String, i64)> = unpack(&parts.model_outputs)?;
    model_outputs.sort_unstable_by_key(|row| row.0);
    for (_, run_id, model_id, step) in model_outputs {
        if let Some(index) = position(&run_id) {
            runs[index]
                .outputs
                .model_outputs
                .push(ModelOutput { model_id, step });
        }
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::entities::{LifecycleStage, RunStatus};

    fn info(run_id: &str) -> RunInfo {
        RunInfo {
            run_id: run_id.into(),
            experiment_id: "1".into(),
            run_name: "r".into(),
            user_id: "u".into(),
            status: RunStatus::Running,
            start_time: 1,
            end_time: None,
            artifact_uri: "a".into(),
            lifecycle_stage: LifecycleStage::Active,
        }
    }

    #[test]
    fn parts_land_on_their_runs_in_order() {
        let parts = RunParts {
            metrics: format!(
                r#"[["b","z",1,2,{},null,0,null,null,null],["a","m",0,0,null,"0.5",0,null,null,null],
                    ["a","k",0,0,null,null,1,null,null,null],["gone","m",0,0,null,"1",0,null,null,null]]"#,
                (2.5f64).to_bits() as i64
            ),
            params: r#"[[7,"a","p2","y"],[3,"a","p1","x"]]"#.into(),
            tags: r#"[[1,"b","t","v"]]"#.into(),
            datasets: r#"[[2,"a","d1","n","dg","local","s",null,"{}"]]"#.into(),
            input_tags: r#"[[1,"a","d1","mlflow.data.context","train"]]"#.into(),
            model_inputs: "[]".into(),
            model_outputs: r#"[[5,"b","m-1",3]]"#.into(),
        };
        let runs = assemble(empty_runs(vec![info("a"), info("b")]), &parts).unwrap();
        assert_eq!(runs[0].info.run_id, "a");
        let keys: Vec<&str> = runs[0]
            .data
            .metrics
            .iter()
            .map(|m| m.key.as_str())
            .collect();
        assert_eq!(keys, ["k", "m"]);
        assert!(runs[0].data.metrics[0].value.is_nan());
        assert_eq!(runs[0].data.metrics[1].value, 0.5);
        assert_eq!(runs[1].data.metrics[0].value, 2.5);
        let params: Vec<&str> = runs[0].data.params.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(params, ["p1", "p2"]);
        assert_eq!(runs[1].data.tags[0].value, "v");
        assert_eq!(runs[0].inputs.dataset_inputs[0].tags[0].value, "train");
        assert_eq!(runs[1].outputs.model_outputs[0].step, 3);
    }

    #[test]
    fn unreadable_parts_are_errors_not_panics() {
        let parts = RunParts {
            metrics: "[[".into(),
            ..RunParts::default()
        };
        assert!(assemble(empty_runs(vec![info("a")]), &parts).is_err());
    }
}
