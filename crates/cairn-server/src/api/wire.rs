//! MLflow's protobuf-JSON shapes for cairn's entities. The only place that knows them.
//!
//! Proto2 presence rules: a set field appears (even when empty), an unset one is left out, and an empty
//! repeated field is left out. Non-finite doubles are the strings "NaN", "Infinity" and "-Infinity".

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use cairn_core::entities::{
    Alias, Dataset, DatasetInput, Experiment, FileInfo, KeyValue, LoggedModel, LoggedModelStatus,
    Metric, ModelVersion, RegisteredModel, Run, RunInfo, RunStatus, ViewType,
};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{json, Map, Value};

/// Protobuf enum numbers, for clients that send enums as numbers.
pub const VIEW_TYPES: &[(i64, ViewType)] = &[
    (1, ViewType::ActiveOnly),
    (2, ViewType::DeletedOnly),
    (3, ViewType::All),
];
pub const RUN_STATUSES: &[(i64, RunStatus)] = &[
    (1, RunStatus::Running),
    (2, RunStatus::Scheduled),
    (3, RunStatus::Finished),
    (4, RunStatus::Failed),
    (5, RunStatus::Killed),
];
pub const LOGGED_MODEL_STATUSES: &[(i64, LoggedModelStatus)] = &[
    (0, LoggedModelStatus::Unspecified),
    (1, LoggedModelStatus::Pending),
    (2, LoggedModelStatus::Ready),
    (3, LoggedModelStatus::UploadFailed),
];

/// Inserts `values` under `key` unless empty (proto2 leaves empty repeated fields out).
fn put_list(object: &mut Map<String, Value>, key: &str, values: Vec<Value>) {
    if !values.is_empty() {
        object.insert(key.to_owned(), Value::Array(values));
    }
}

/// Inserts a serialized list under `key` unless it is empty.
fn put_serialized<T: Serialize>(
    object: &mut Map<String, Value>,
    key: &str,
    is_empty: bool,
    value: T,
) {
    if !is_empty {
        object.insert(key.to_owned(), to_value(value));
    }
}

fn put_opt<T: Into<Value>>(object: &mut Map<String, Value>, key: &str, value: Option<T>) {
    if let Some(value) = value {
        object.insert(key.to_owned(), value.into());
    }
}

pub fn experiment(experiment: &Experiment) -> Value {
    let mut object = Map::new();
    object.insert(
        "experiment_id".into(),
        experiment.experiment_id.clone().into(),
    );
    object.insert("name".into(), experiment.name.clone().into());
    object.insert(
        "artifact_location".into(),
        experiment.artifact_location.clone().into(),
    );
    object.insert(
        "lifecycle_stage".into(),
        experiment.lifecycle_stage.as_str().into(),
    );
    object.insert(
        "last_update_time".into(),
        experiment.last_update_time.into(),
    );
    object.insert("creation_time".into(), experiment.creation_time.into());
    put_serialized(
        &mut object,
        "tags",
        experiment.tags.is_empty(),
        KeyValues(&experiment.tags),
    );
    Value::Object(object)
}

pub fn logged_model(model: &LoggedModel) -> Value {
    let mut info = Map::new();
    info.insert("model_id".into(), model.model_id.clone().into());
    info.insert("experiment_id".into(), model.experiment_id.clone().into());
    info.insert("name".into(), model.name.clone().into());
    info.insert(
        "creation_timestamp_ms".into(),
        model.creation_timestamp_ms.into(),
    );
    info.insert(
        "last_updated_timestamp_ms".into(),
        model.last_updated_timestamp_ms.into(),
    );
    info.insert("artifact_uri".into(), model.artifact_uri.clone().into());
    info.insert("status".into(), model.status.as_str().into());
    put_opt(&mut info, "status_message", model.status_message.clone());
    info.insert(
        "model_type".into(),
        model.model_type.clone().unwrap_or_default().into(),
    );
    put_opt(&mut info, "source_run_id", model.source_run_id.clone());
    put_serialized(
        &mut info,
        "tags",
        model.tags.is_empty(),
        KeyValues(&model.tags),
    );
    let mut data = Map::new();
    put_serialized(
        &mut data,
        "params",
        model.params.is_empty(),
        KeyValues(&model.params),
    );
    put_serialized(
        &mut data,
        "metrics",
        model.metrics.is_empty(),
        MetricList(&model.metrics),
    );
    json!({"info": info, "data": data})
}

pub fn model_version(version: &ModelVersion) -> Value {
    let mut object = Map::new();
    object.insert("name".into(), version.name.clone().into());
    object.insert("version".into(), version.version.to_string().into());
    object.insert(
        "creation_timestamp".into(),
        version.creation_timestamp.into(),
    );
    object.insert(
        "last_updated_timestamp".into(),
        version.last_updated_timestamp.into(),
    );
    put_opt(&mut object, "user_id", version.user_id.clone());
    object.insert(
        "current_stage".into(),
        version.current_stage.as_str().into(),
    );
    object.insert("description".into(), version.description.clone().into());
    object.insert("source".into(), version.source.clone().into());
    put_opt(&mut object, "run_id", version.run_id.clone());
    object.insert("status".into(), version.status.clone().into());
    put_opt(
        &mut object,
        "status_message",
        version.status_message.clone(),
    );
    object.insert("run_link".into(), version.run_link.clone().into());
    put_serialized(
        &mut object,
        "tags",
        version.tags.is_empty(),
        KeyValues(&version.tags),
    );
    put_list(
        &mut object,
        "aliases",
        version
            .aliases
            .iter()
            .map(|alias| Value::from(alias.clone()))
            .collect(),
    );
    put_opt(&mut object, "model_id", version.model_id.clone());
    Value::Object(object)
}

fn alias(alias: &Alias) -> Value {
    json!({"alias": alias.alias, "version": alias.version.to_string()})
}

pub fn registered_model(model: &RegisteredModel) -> Value {
    let mut object = Map::new();
    object.insert("name".into(), model.name.clone().into());
    object.insert("creation_timestamp".into(), model.creation_timestamp.into());
    object.insert(
        "last_updated_timestamp".into(),
        model.last_updated_timestamp.into(),
    );
    put_opt(&mut object, "description", model.description.clone());
    put_opt(&mut object, "user_id", model.user_id.clone());
    put_list(
        &mut object,
        "latest_versions",
        model.latest_versions.iter().map(model_version).collect(),
    );
    put_serialized(
        &mut object,
        "tags",
        model.tags.is_empty(),
        KeyValues(&model.tags),
    );
    put_list(
        &mut object,
        "aliases",
        model.aliases.iter().map(alias).collect(),
    );
    Value::Object(object)
}

pub fn file_info(file: &FileInfo) -> Value {
    let mut object = Map::new();
    object.insert("path".into(), file.path.clone().into());
    object.insert("is_dir".into(), file.is_dir.into());
    put_opt(&mut object, "file_size", file.file_size);
    Value::Object(object)
}

/// `{"<list_key>": [...], "next_page_token": ...}` with the usual omissions.
pub fn page(list_key: &str, items: Vec<Value>, next_page_token: Option<String>) -> Value {
    let mut object = Map::new();
    put_list(&mut object, list_key, items);
    put_opt(&mut object, "next_page_token", next_page_token);
    Value::Object(object)
}

/// A double as protobuf JSON writes it, serialized without building a `Value`.
struct Double(f64);

impl Serialize for Double {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let value = self.0;
        if value.is_nan() {
            serializer.serialize_str("NaN")
        } else if value == f64::INFINITY {
            serializer.serialize_str("Infinity")
        } else if value == f64::NEG_INFINITY {
            serializer.serialize_str("-Infinity")
        } else {
            serializer.serialize_f64(value)
        }
    }
}

/// One metric, serialized straight from the entity (metric histories reach millions of points).
struct MetricRef<'a>(&'a Metric);

impl Serialize for MetricRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let metric = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("key", &metric.key)?;
        map.serialize_entry("value", &Double(metric.value))?;
        map.serialize_entry("timestamp", &metric.timestamp)?;
        map.serialize_entry("step", &metric.step)?;
        if let Some(dataset_name) = &metric.dataset_name {
            map.serialize_entry("dataset_name", dataset_name)?;
        }
        if let Some(dataset_digest) = &metric.dataset_digest {
            map.serialize_entry("dataset_digest", dataset_digest)?;
        }
        if let Some(model_id) = &metric.model_id {
            map.serialize_entry("model_id", model_id)?;
        }
        if let Some(run_id) = &metric.run_id {
            map.serialize_entry("run_id", run_id)?;
        }
        map.end()
    }
}

struct MetricList<'a>(&'a [Metric]);

impl Serialize for MetricList<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for metric in self.0 {
            seq.serialize_element(&MetricRef(metric))?;
        }
        seq.end()
    }
}

/// `{"metrics": [...], "next_page_token": ...}`, written directly to bytes.
pub fn metric_page(metrics: &[Metric], next_page_token: Option<&str>) -> Response {
    struct Body<'a> {
        metrics: &'a [Metric],
        next_page_token: Option<&'a str>,
    }
    impl Serialize for Body<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut map = serializer.serialize_map(None)?;
            if !self.metrics.is_empty() {
                map.serialize_entry("metrics", &MetricList(self.metrics))?;
            }
            if let Some(token) = self.next_page_token {
                map.serialize_entry("next_page_token", token)?;
            }
            map.end()
        }
    }
    // ~64 bytes a point.
    json_bytes(
        &Body {
            metrics,
            next_page_token,
        },
        64 * metrics.len() + 64,
    )
}

/// A list of `{key, value}` messages.
struct KeyValues<'a>(&'a [KeyValue]);

impl Serialize for KeyValues<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Pair<'a>(&'a KeyValue);
        impl Serialize for Pair<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("key", &self.0.key)?;
                map.serialize_entry("value", &self.0.value)?;
                map.end()
            }
        }
        serializer.collect_seq(self.0.iter().map(Pair))
    }
}

struct RunInfoRef<'a>(&'a RunInfo);

impl Serialize for RunInfoRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let info = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("run_uuid", &info.run_id)?;
        map.serialize_entry("experiment_id", &info.experiment_id)?;
        map.serialize_entry("run_name", &info.run_name)?;
        map.serialize_entry("user_id", &info.user_id)?;
        map.serialize_entry("status", info.status.as_str())?;
        map.serialize_entry("start_time", &info.start_time)?;
        if let Some(end_time) = info.end_time {
            map.serialize_entry("end_time", &end_time)?;
        }
        map.serialize_entry("artifact_uri", &info.artifact_uri)?;
        map.serialize_entry("lifecycle_stage", info.lifecycle_stage.as_str())?;
        map.serialize_entry("run_id", &info.run_id)?;
        map.end()
    }
}

struct DatasetRef<'a>(&'a Dataset);

impl Serialize for DatasetRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let dataset = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("name", &dataset.name)?;
        map.serialize_entry("digest", &dataset.digest)?;
        map.serialize_entry("source_type", &dataset.source_type)?;
        map.serialize_entry("source", &dataset.source)?;
        if let Some(schema) = &dataset.schema {
            map.serialize_entry("schema", schema)?;
        }
        if let Some(profile) = &dataset.profile {
            map.serialize_entry("profile", profile)?;
        }
        map.end()
    }
}

struct DatasetInputs<'a>(&'a [DatasetInput]);

impl Serialize for DatasetInputs<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct One<'a>(&'a DatasetInput);
        impl Serialize for One<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(None)?;
                if !self.0.tags.is_empty() {
                    map.serialize_entry("tags", &KeyValues(&self.0.tags))?;
                }
                map.serialize_entry("dataset", &DatasetRef(&self.0.dataset))?;
                map.end()
            }
        }
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for input in self.0 {
            seq.serialize_element(&One(input))?;
        }
        seq.end()
    }
}

struct RunRef<'a>(&'a Run);

impl Serialize for RunRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Data<'a>(&'a Run);
        impl Serialize for Data<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let data = &self.0.data;
                let mut map = serializer.serialize_map(None)?;
                if !data.metrics.is_empty() {
                    map.serialize_entry("metrics", &MetricList(&data.metrics))?;
                }
                if !data.params.is_empty() {
                    map.serialize_entry("params", &KeyValues(&data.params))?;
                }
                if !data.tags.is_empty() {
                    map.serialize_entry("tags", &KeyValues(&data.tags))?;
                }
                map.end()
            }
        }
        struct Inputs<'a>(&'a Run);
        impl Serialize for Inputs<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let inputs = &self.0.inputs;
                let mut map = serializer.serialize_map(None)?;
                if !inputs.dataset_inputs.is_empty() {
                    map.serialize_entry("dataset_inputs", &DatasetInputs(&inputs.dataset_inputs))?;
                }
                if !inputs.model_inputs.is_empty() {
                    let models: Vec<Value> = inputs
                        .model_inputs
                        .iter()
                        .map(|input| json!({"model_id": input.model_id}))
                        .collect();
                    map.serialize_entry("model_inputs", &models)?;
                }
                map.end()
            }
        }
        struct Outputs<'a>(&'a Run);
        impl Serialize for Outputs<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let outputs = &self.0.outputs;
                let mut map = serializer.serialize_map(None)?;
                if !outputs.model_outputs.is_empty() {
                    let models: Vec<Value> = outputs
                        .model_outputs
                        .iter()
                        .map(|output| json!({"model_id": output.model_id, "step": output.step}))
                        .collect();
                    map.serialize_entry("model_outputs", &models)?;
                }
                map.end()
            }
        }
        let mut map = serializer.serialize_map(Some(4))?;
        map.serialize_entry("info", &RunInfoRef(&self.0.info))?;
        map.serialize_entry("data", &Data(self.0))?;
        map.serialize_entry("inputs", &Inputs(self.0))?;
        map.serialize_entry("outputs", &Outputs(self.0))?;
        map.end()
    }
}

fn to_value<T: Serialize>(value: T) -> Value {
    // Serializing these wrappers into a `Value` cannot fail: every key is a string.
    serde_json::to_value(value).unwrap_or(Value::Null)
}

pub fn run_info(info: &RunInfo) -> Value {
    to_value(RunInfoRef(info))
}

pub fn run(run: &Run) -> Value {
    to_value(RunRef(run))
}

/// `{"runs": [...], "next_page_token": ...}`, written directly to bytes: search pages hold thousands of runs.
pub fn run_page(runs: &[std::sync::Arc<Run>], next_page_token: Option<&str>) -> Response {
    struct Body<'a> {
        runs: &'a [std::sync::Arc<Run>],
        next_page_token: Option<&'a str>,
    }
    impl Serialize for Body<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            struct Runs<'a>(&'a [std::sync::Arc<Run>]);
            impl Serialize for Runs<'_> {
                fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                    let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
                    for run in self.0 {
                        seq.serialize_element(&RunRef(run))?;
                    }
                    seq.end()
                }
            }
            let mut map = serializer.serialize_map(None)?;
            if !self.runs.is_empty() {
                map.serialize_entry("runs", &Runs(self.runs))?;
            }
            if let Some(token) = self.next_page_token {
                map.serialize_entry("next_page_token", token)?;
            }
            map.end()
        }
    }
    json_bytes(
        &Body {
            runs,
            next_page_token,
        },
        512 * runs.len() + 64,
    )
}

/// A JSON response serialized straight to bytes.
fn json_bytes<T: Serialize>(body: &T, capacity: usize) -> Response {
    let mut bytes = Vec::with_capacity(capacity);
    match serde_json::to_writer(&mut bytes, body) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            bytes,
        )
            .into_response(),
        Err(error) => super::error::ApiError::from(cairn_core::Error::internal(error.to_string()))
            .into_response(),
    }
}
