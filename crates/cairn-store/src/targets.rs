//! What each search runs over, for both backends: the searchable attributes of experiments, runs,
//! logged models, registered models and model versions (as SQL column expressions over the aliases
//! the backends' queries use) and where their params, tags and metrics live. The expressions are
//! the same in SQLite and PostgreSQL.

use crate::filter::{ColumnType, KeyValueTable, MetricSource, Target};

pub(crate) fn experiment_attribute(key: &str) -> Option<(&'static str, ColumnType)> {
    match key {
        "name" => Some(("e.name", ColumnType::Text)),
        "experiment_id" => Some(("CAST(e.experiment_id AS TEXT)", ColumnType::Text)),
        "creation_time" => Some(("e.creation_time", ColumnType::Number)),
        "last_update_time" => Some(("e.last_update_time", ColumnType::Number)),
        "lifecycle_stage" => Some(("e.lifecycle_stage", ColumnType::Text)),
        "artifact_location" => Some(("e.artifact_location", ColumnType::Text)),
        _ => None,
    }
}

pub(crate) const EXPERIMENTS: Target = Target {
    what: "experiments",
    attribute: experiment_attribute,
    params: None,
    tags: Some(KeyValueTable {
        table: "experiment_tags",
        correlation: "{t}.experiment_id = e.experiment_id",
    }),
    metrics: None,
    datasets: None,
    prompt_exclusion: None,
};

pub(crate) fn run_attribute(key: &str) -> Option<(&'static str, ColumnType)> {
    match key {
        "run_id" | "run_uuid" => Some(("r.run_uuid", ColumnType::Text)),
        "run_name" => Some(("r.name", ColumnType::Text)),
        "status" => Some(("r.status", ColumnType::Text)),
        "user_id" => Some(("r.user_id", ColumnType::Text)),
        "artifact_uri" => Some(("r.artifact_uri", ColumnType::Text)),
        "lifecycle_stage" => Some(("r.lifecycle_stage", ColumnType::Text)),
        "start_time" | "created" | "Created" => Some(("r.start_time", ColumnType::Number)),
        "end_time" => Some(("r.end_time", ColumnType::Number)),
        _ => None,
    }
}

pub(crate) const RUNS: Target = Target {
    what: "runs",
    attribute: run_attribute,
    params: Some(KeyValueTable {
        table: "params",
        correlation: "{t}.run_uuid = r.run_uuid",
    }),
    tags: Some(KeyValueTable {
        table: "tags",
        correlation: "{t}.run_uuid = r.run_uuid",
    }),
    metrics: Some(MetricSource::Latest(KeyValueTable {
        table: "latest_metrics",
        correlation: "{t}.run_uuid = r.run_uuid",
    })),
    datasets: Some("{t}.run_uuid = r.run_uuid"),
    prompt_exclusion: None,
};

pub(crate) fn logged_model_attribute(key: &str) -> Option<(&'static str, ColumnType)> {
    match key {
        "name" => Some(("lm.name", ColumnType::Text)),
        "model_id" => Some(("lm.model_id", ColumnType::Text)),
        "model_type" => Some(("lm.model_type", ColumnType::Text)),
        "status" => Some(("lm.status", ColumnType::Text)),
        "source_run_id" => Some(("lm.source_run_id", ColumnType::Text)),
        "experiment_id" => Some(("CAST(lm.experiment_id AS TEXT)", ColumnType::Text)),
        "creation_timestamp" | "creation_time" | "creation_timestamp_ms" => {
            Some(("lm.creation_timestamp", ColumnType::Number))
        }
        "last_updated_timestamp" | "last_updated_time" | "last_updated_timestamp_ms" => {
            Some(("lm.last_updated_timestamp", ColumnType::Number))
        }
        _ => None,
    }
}

pub(crate) const LOGGED_MODELS: Target = Target {
    what: "logged models",
    attribute: logged_model_attribute,
    params: Some(KeyValueTable {
        table: "logged_model_params",
        correlation: "{t}.model_id = lm.model_id",
    }),
    tags: Some(KeyValueTable {
        table: "logged_model_tags",
        correlation: "{t}.model_id = lm.model_id",
    }),
    metrics: Some(MetricSource::History(KeyValueTable {
        table: "logged_model_metrics",
        correlation: "{t}.model_id = lm.model_id",
    })),
    datasets: None,
    prompt_exclusion: None,
};

pub(crate) fn registered_model_attribute(key: &str) -> Option<(&'static str, ColumnType)> {
    match key {
        "name" => Some(("rm.name", ColumnType::Text)),
        "creation_timestamp" | "timestamp" | "creation_time" => {
            Some(("rm.creation_time", ColumnType::Number))
        }
        "last_updated_timestamp" | "last_updated_time" => {
            Some(("rm.last_updated_time", ColumnType::Number))
        }
        "description" => Some(("rm.description", ColumnType::Text)),
        _ => None,
    }
}

pub(crate) fn model_version_attribute(key: &str) -> Option<(&'static str, ColumnType)> {
    match key {
        "name" => Some(("mv.name", ColumnType::Text)),
        "run_id" => Some(("mv.run_id", ColumnType::Text)),
        "source_path" | "source" => Some(("mv.source", ColumnType::Text)),
        "version_number" | "version" => Some(("mv.version", ColumnType::Number)),
        "current_stage" => Some(("mv.current_stage", ColumnType::Text)),
        "status" => Some(("mv.status", ColumnType::Text)),
        "user_id" => Some(("mv.user_id", ColumnType::Text)),
        "model_id" => Some(("mv.model_id", ColumnType::Text)),
        "creation_timestamp" | "timestamp" | "creation_time" => {
            Some(("mv.creation_time", ColumnType::Number))
        }
        "last_updated_timestamp" | "last_updated_time" => {
            Some(("mv.last_updated_time", ColumnType::Number))
        }
        _ => None,
    }
}

pub(crate) const REGISTERED_MODELS: Target = Target {
    what: "registered models",
    attribute: registered_model_attribute,
    params: None,
    tags: Some(KeyValueTable {
        table: "registered_model_tags",
        correlation: "{t}.name = rm.name",
    }),
    metrics: None,
    datasets: None,
    prompt_exclusion: Some(
        "NOT EXISTS (SELECT 1 FROM registered_model_tags p WHERE p.name = rm.name \
         AND p.key = 'mlflow.prompt.is_prompt' AND p.value = 'true')",
    ),
};

pub(crate) const MODEL_VERSIONS: Target = Target {
    what: "model versions",
    attribute: model_version_attribute,
    params: None,
    tags: Some(KeyValueTable {
        table: "model_version_tags",
        correlation: "{t}.name = mv.name AND {t}.version = mv.version",
    }),
    metrics: None,
    datasets: None,
    prompt_exclusion: Some(
        "NOT EXISTS (SELECT 1 FROM model_version_tags p WHERE p.name = mv.name \
         AND p.key = 'mlflow.prompt.is_prompt' AND p.value = 'true')",
    ),
};
