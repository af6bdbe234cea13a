//! Runs: lifecycle, tags, params, metrics, batches, inputs/outputs, search and metric history.

use std::collections::HashSet;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use cairn_core::entities::{
    Dataset, DatasetInput, KeyValue, Metric, ModelInput, ModelOutput, ViewType,
};
use cairn_core::governance::NamedThing;
use cairn_core::search::{
    decode_history_token, decode_page_token, parse_filter, parse_order_by, SearchKind,
};
use cairn_core::{validation, Error};
use cairn_store::{
    CreateRun, HistoryInterval, HistoryPage, LogBatch, PageRequest, SearchRuns, UpdateRun,
};
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::params::Params;
use super::{empty, now_ms, wire, AppState};

const RUN_NAME_TAG: &str = "mlflow.runName";
const LOG_MODEL_HISTORY_TAG: &str = "mlflow.log-model.history";

pub async fn create(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let experiment_id = params
        .string("experiment_id")?
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| "0".into());
    let tags = params
        .key_values("tags")?
        .into_iter()
        .map(validation::normalize_run_tag)
        .collect::<Result<Vec<_>, _>>()?;
    let mut run_name = params.string("run_name")?.unwrap_or_default();
    if run_name.is_empty() {
        if let Some(tag) = tags.iter().find(|tag| tag.key == RUN_NAME_TAG) {
            run_name = tag.value.clone();
        }
    }
    let naming = state.governance.naming();
    if !run_name.is_empty() {
        naming.check(NamedThing::RunName, &run_name)?;
    }
    naming.check_tag_keys(tags.iter().map(|tag| tag.key.as_str()))?;
    let request = CreateRun {
        experiment_id,
        user_id: params.string("user_id")?.unwrap_or_default(),
        run_name,
        start_time: params.i64("start_time")?.unwrap_or_else(now_ms),
        tags,
    };
    let run = state.store.create_run(request).await?;
    Ok(Json(json!({ "run": wire::run(&run) })))
}

pub async fn update(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let run_id = params.run_id()?;
    let status = params.enumeration("status", wire::RUN_STATUSES)?;
    let run_name = params.string("run_name")?.filter(|name| !name.is_empty());
    if let Some(run_name) = &run_name {
        state
            .governance
            .naming()
            .check(NamedThing::RunName, run_name)?;
    }
    let request = UpdateRun {
        run_id,
        status,
        end_time: params.i64("end_time")?,
        run_name,
    };
    let info = state.store.update_run(request).await?;
    Ok(Json(json!({ "run_info": wire::run_info(&info) })))
}

pub async fn get(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let run = state.store.get_run(&params.run_id()?).await?;
    Ok(Json(json!({ "run": wire::run(&run) })))
}

pub async fn delete(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    state.store.delete_run(&params.run_id()?).await?;
    Ok(empty())
}

pub async fn restore(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    state.store.restore_run(&params.run_id()?).await?;
    Ok(empty())
}

pub async fn set_tag(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let run_id = params.run_id()?;
    let tag = KeyValue {
        key: params.required_string("key")?,
        value: params.required_string_allow_empty("value")?,
    };
    let tag = validation::normalize_run_tag(tag)?;
    let naming = state.governance.naming();
    naming.check_tag_keys([tag.key.as_str()])?;
    if tag.key == RUN_NAME_TAG {
        naming.check(NamedThing::RunName, &tag.value)?;
    }
    state.store.set_run_tag(&run_id, tag).await?;
    Ok(empty())
}

pub async fn delete_tag(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let run_id = params.run_id()?;
    let key = params.required_string("key")?;
    state.store.delete_run_tag(&run_id, &key).await?;
    Ok(empty())
}

fn metric_from(params: &Params) -> Result<Metric, Error> {
    let key = params.required_string("key")?;
    let value = params
        .f64("value")?
        .ok_or_else(|| Error::missing("value"))?;
    let timestamp = params.required_i64("timestamp")?;
    let metric = Metric {
        key,
        value,
        timestamp,
        step: params.i64("step")?.unwrap_or(0),
        model_id: params.string("model_id")?.filter(|id| !id.is_empty()),
        dataset_name: params
            .string("dataset_name")?
            .filter(|name| !name.is_empty()),
        dataset_digest: params
            .string("dataset_digest")?
            .filter(|digest| !digest.is_empty()),
        run_id: None,
    };
    validation::validate_metric(&metric)?;
    Ok(metric)
}

pub async fn log_metric(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let run_id = params.run_id()?;
    let metric = metric_from(&params)?;
    state
        .governance
        .naming()
        .check_metric_keys([metric.key.as_str()])?;
    state
        .store
        .log_batch(
            &run_id,
            LogBatch {
                metrics: vec![metric],
                ..LogBatch::default()
            },
        )
        .await?;
    Ok(empty())
}

pub async fn log_param(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let run_id = params.run_id()?;
    let param = KeyValue {
        key: params.required_string("key")?,
        value: params.required_string_allow_empty("value")?,
    };
    let param = validation::normalize_param(param)?;
    state
        .governance
        .naming()
        .check_param_keys([param.key.as_str()])?;
    state
        .store
        .log_batch(
            &run_id,
            LogBatch {
                params: vec![param],
                ..LogBatch::default()
            },
        )
        .await?;
    Ok(empty())
}

pub async fn log_batch(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let body = body.map_err(|rejection| {
        ApiError::invalid(format!(
            "Batched logging API requests must be at most {} bytes: {rejection}",
            validation::MAX_BATCH_LOG_REQUEST_SIZE
        ))
    })?;
    if body.len() > validation::MAX_BATCH_LOG_REQUEST_SIZE {
        return Err(ApiError::invalid(format!(
            "Batched logging API requests must be at most {} bytes, got a request of size {} bytes.",
            validation::MAX_BATCH_LOG_REQUEST_SIZE,
            body.len()
        )));
    }
    let (run_id, batch) = match fast_batch::read(&body) {
        Some(read) => read,
        // The fast reader declined: read again field by field for MLflow's exact error messages.
        None => read_batch(&Params::from_json_body(&body)?)?,
    };
    validation::validate_batch_limits(batch.metrics.len(), batch.params.len(), batch.tags.len())?;
    let mut checked_keys = HashSet::new();
    for metric in &batch.metrics {
        if checked_keys.insert(metric.key.as_str()) {
            validation::validate_key(&metric.key, "key")?;
        }
        validation::validate_metric_timestamp(metric.timestamp)?;
    }
    let params = batch
        .params
        .into_iter()
        .map(validation::normalize_param)
        .collect::<Result<Vec<_>, _>>()?;
    validation::validate_no_duplicate_params(&params)?;
    let tags = batch
        .tags
        .into_iter()
        .map(validation::normalize_run_tag)
        .collect::<Result<Vec<_>, _>>()?;
    let naming = state.governance.naming();
    naming.check_metric_keys(checked_keys.iter().copied())?;
    naming.check_param_keys(params.iter().map(|param| param.key.as_str()))?;
    naming.check_tag_keys(tags.iter().map(|tag| tag.key.as_str()))?;
    state
        .store
        .log_batch(
            &run_id,
            LogBatch {
                metrics: batch.metrics,
                params,
                tags,
            },
        )
        .await?;
    Ok(empty())
}

/// The slow, exact reader of a log-batch body.
fn read_batch(params: &Params) -> Result<(String, LogBatch), Error> {
    let run_id = params.run_id()?;
    let metric_params = params.objects("metrics")?;
    let raw_params = params.key_values("params")?;
    let raw_tags = params.key_values("tags")?;
    validation::validate_batch_limits(metric_params.len(), raw_params.len(), raw_tags.len())?;
    let metrics = metric_params
        .iter()
        .map(metric_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((
        run_id,
        LogBatch {
            metrics,
            params: raw_params,
            tags: raw_tags,
        },
    ))
}

/// log-batch bodies read straight into types, without building a JSON tree: the hot path of every
/// training loop. It declines (returns `None`) on anything unusual, and the exact reader takes over.
mod fast_batch {
    use std::fmt;

    use cairn_core::entities::{KeyValue, Metric};
    use cairn_store::LogBatch;
    use serde::de::{self, Deserializer, Visitor};
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Body {
        run_id: Option<String>,
        run_uuid: Option<String>,
        #[serde(default)]
        metrics: Vec<WireMetric>,
        #[serde(default)]
        params: Vec<WireKeyValue>,
        #[serde(default)]
        tags: Vec<WireKeyValue>,
    }

    #[derive(Deserialize)]
    struct WireMetric {
        key: String,
        value: Double,
        timestamp: Int,
        step: Option<Int>,
        model_id: Option<String>,
        dataset_name: Option<String>,
        dataset_digest: Option<String>,
    }

    #[derive(Deserialize)]
    struct WireKeyValue {
        key: String,
        value: Option<String>,
    }

    /// A protobuf-JSON double: a number or "NaN" / "Infinity" / "-Infinity".
    struct Double(f64);
    /// A protobuf-JSON int64: an integral number or a decimal string.
    struct Int(i64);

    impl<'de> Deserialize<'de> for Double {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct DoubleVisitor;
            impl Visitor<'_> for DoubleVisitor {
                type Value = Double;
                fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                    formatter.write_str("a number")
                }
                fn visit_f64<E: de::Error>(self, value: f64) -> Result<Double, E> {
                    Ok(Double(value))
                }
                fn visit_i64<E: de::Error>(self, value: i64) -> Result<Double, E> {
                    Ok(Double(value as f64))
                }
                fn visit_u64<E: de::Error>(self, value: u64) -> Result<Double, E> {
                    Ok(Double(value as f64))
                }
                fn visit_str<E: de::Error>(self, value: &str) -> Result<Double, E> {
                    match value {
                        "NaN" => Ok(Double(f64::NAN)),
                        "Infinity" => Ok(Double(f64::INFINITY)),
                        "-Infinity" => Ok(Double(f64::NEG_INFINITY)),
                        _ => Err(E::custom("not a protobuf double")),
                    }
                }
            }
            deserializer.deserialize_any(DoubleVisitor)
        }
    }

    impl<'de> Deserialize<'de> for Int {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct IntVisitor;
            impl Visitor<'_> for IntVisitor {
                type Value = Int;
                fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                    formatter.write_str("an integer")
                }
                fn visit_i64<E: de::Error>(self, value: i64) -> Result<Int, E> {
                    Ok(Int(value))
                }
                fn visit_u64<E: de::Error>(self, value: u64) -> Result<Int, E> {
                    i64::try_from(value)
                        .map(Int)
                        .map_err(|_| E::custom("out of range"))
                }
                fn visit_str<E: de::Error>(self, value: &str) -> Result<Int, E> {
                    value
                        .parse()
                        .map(Int)
                        .map_err(|_| E::custom("not an int64"))
                }
            }
            deserializer.deserialize_any(IntVisitor)
        }
    }

    fn non_empty(value: Option<String>) -> Option<String> {
        value.filter(|text| !text.is_empty())
    }

    pub fn read(body: &[u8]) -> Option<(String, LogBatch)> {
        let body: Body = serde_json::from_slice(body).ok()?;
        let run_id = non_empty(body.run_id).or_else(|| non_empty(body.run_uuid))?;
        let mut metrics = Vec::with_capacity(body.metrics.len());
        for metric in body.metrics {
            if metric.key.is_empty() {
                return None;
            }
            metrics.push(Metric {
                key: metric.key,
                value: metric.value.0,
                timestamp: metric.timestamp.0,
                step: metric.step.map_or(0, |step| step.0),
                model_id: non_empty(metric.model_id),
                dataset_name: non_empty(metric.dataset_name),
                dataset_digest: non_empty(metric.dataset_digest),
                run_id: None,
            });
        }
        let key_values = |items: Vec<WireKeyValue>| -> Option<Vec<KeyValue>> {
            items
                .into_iter()
                .map(|item| {
                    (!item.key.is_empty()).then(|| KeyValue {
                        key: item.key,
                        value: item.value.unwrap_or_default(),
                    })
                })
                .collect()
        };
        let params = key_values(body.params)?;
        let tags = key_values(body.tags)?;
        Some((
            run_id,
            LogBatch {
                metrics,
                params,
                tags,
            },
        ))
    }
}

fn sized(value: String, field: &str, limit: usize) -> Result<String, Error> {
    validation::validate_length(&value, field, limit)?;
    Ok(value)
}

fn dataset_from(params: &Params) -> Result<Dataset, Error> {
    Ok(Dataset {
        name: sized(
            params.required_string("name")?,
            "name",
            validation::MAX_DATASET_NAME_SIZE,
        )?,
        digest: sized(
            params.required_string("digest")?,
            "digest",
            validation::MAX_DATASET_DIGEST_SIZE,
        )?,
        source_type: params.required_string("source_type")?,
        source: sized(
            params.required_string("source")?,
            "source",
            validation::MAX_DATASET_SOURCE_SIZE,
        )?,
        schema: params
            .string("schema")?
            .map(|schema| sized(schema, "schema", validation::MAX_DATASET_SCHEMA_SIZE))
            .transpose()?,
        profile: params
            .string("profile")?
            .map(|profile| sized(profile, "profile", validation::MAX_DATASET_PROFILE_SIZE))
            .transpose()?,
    })
}

pub async fn log_inputs(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let run_id = params.run_id()?;
    let inputs = params.objects("datasets")?;
    if inputs.len() > validation::MAX_DATASETS_PER_BATCH {
        return Err(ApiError::invalid(format!(
            "A batch logging request can contain at most {} datasets. Got {} datasets.",
            validation::MAX_DATASETS_PER_BATCH,
            inputs.len()
        )));
    }
    let mut datasets = Vec::with_capacity(inputs.len());
    for input in &inputs {
        let dataset = input
            .object("dataset")?
            .ok_or_else(|| Error::missing("dataset"))?;
        let tags = input.key_values("tags")?;
        for tag in &tags {
            validation::validate_length(&tag.key, "key", validation::MAX_INPUT_TAG_KEY_SIZE)?;
            validation::validate_length(&tag.value, "value", validation::MAX_INPUT_TAG_VALUE_SIZE)?;
        }
        datasets.push(DatasetInput {
            dataset: dataset_from(&dataset)?,
            tags,
        });
    }
    let models = params
        .objects("models")?
        .iter()
        .map(|model| {
            Ok(ModelInput {
                model_id: model.required_string("model_id")?,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    state.store.log_inputs(&run_id, datasets, models).await?;
    Ok(empty())
}

pub async fn log_outputs(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let run_id = params.run_id()?;
    let models = params
        .objects("models")?
        .iter()
        .map(|model| {
            Ok(ModelOutput {
                model_id: model.required_string("model_id")?,
                step: model.i64("step")?.unwrap_or(0),
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    state.store.log_outputs(&run_id, models).await?;
    Ok(empty())
}

/// MLflow 2.x `log_model`: appends the model's JSON to the run's `mlflow.log-model.history` tag.
pub async fn log_model(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let run_id = params.run_id()?;
    let model_json = params.required_string("model_json")?;
    let model: Value = serde_json::from_str(&model_json)
        .map_err(|error| ApiError::invalid(format!("Malformed model info JSON: {error}")))?;
    let run = state.store.get_run(&run_id).await?;
    let mut history: Vec<Value> = run
        .data
        .tags
        .iter()
        .find(|tag| tag.key == LOG_MODEL_HISTORY_TAG)
        .and_then(|tag| serde_json::from_str(&tag.value).ok())
        .unwrap_or_default();
    history.push(model);
    let tag = KeyValue {
        key: LOG_MODEL_HISTORY_TAG.into(),
        value: Value::Array(history).to_string(),
    };
    state.store.set_run_tag(&run_id, tag).await?;
    Ok(empty())
}

pub async fn search(State(state): State<AppState>, params: Params) -> ApiResult<Response> {
    let max_results = validation::max_results(
        params.i64("max_results")?,
        validation::SEARCH_MAX_RESULTS_DEFAULT,
        validation::SEARCH_MAX_RESULTS_THRESHOLD,
    )?;
    let request = SearchRuns {
        experiment_ids: params.string_list("experiment_ids")?,
        filter: parse_filter(
            SearchKind::Runs,
            &params.string("filter")?.unwrap_or_default(),
        )?,
        view_type: params
            .enumeration("run_view_type", wire::VIEW_TYPES)?
            .unwrap_or(ViewType::ActiveOnly),
        order_by: parse_order_by(SearchKind::Runs, &params.string_list("order_by")?)?,
        page: PageRequest {
            max_results,
            offset: decode_page_token(params.string("page_token")?.as_deref())?,
        },
    };
    let page = state.store.search_runs(request).await?;
    Ok(wire::run_page(&page.items, page.next_page_token.as_deref()))
}

pub async fn get_history(State(state): State<AppState>, params: Params) -> ApiResult<Response> {
    let run_id = params.run_id()?;
    let metric_key = params.required_string("metric_key")?;
    let page = match params.i64("max_results")? {
        None if !params.has("page_token") => None,
        requested => {
            let (offset, after) = decode_history_token(params.string("page_token")?.as_deref())?;
            Some(HistoryPage {
                max_results: validation::max_results(requested, u64::MAX, u64::MAX)?,
                offset,
                after,
            })
        }
    };
    let history = state
        .store
        .get_metric_history(&run_id, &metric_key, page)
        .await?;
    Ok(wire::metric_page(
        &history.items,
        history.next_page_token.as_deref(),
    ))
}

pub async fn get_history_bulk_interval(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<Response> {
    let run_ids = params.string_list("run_ids")?;
    if run_ids.is_empty() {
        return Err(Error::missing("run_ids").into());
    }
    if run_ids.len() > validation::HISTORY_BULK_MAX_RUN_IDS {
        return Err(ApiError::invalid(format!(
            "GetMetricHistoryBulkInterval request must specify at most {} run_ids. Received {} run_ids.",
            validation::HISTORY_BULK_MAX_RUN_IDS,
            run_ids.len()
        )));
    }
    let max_results = validation::max_results(
        params.i64("max_results")?,
        validation::HISTORY_BULK_MAX_RESULTS,
        validation::HISTORY_BULK_MAX_RESULTS,
    )?;
    let request = HistoryInterval {
        run_ids,
        metric_key: params.required_string("metric_key")?,
        start_step: params.i64("start_step")?,
        end_step: params.i64("end_step")?,
        max_results,
    };
    let metrics = state
        .store
        .get_metric_history_bulk_interval(request)
        .await?;
    Ok(wire::metric_page(&metrics, None))
}

/// The UI's `get-history-bulk`: the history of one key for up to 100 runs.
pub async fn get_history_bulk(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<Response> {
    let run_ids = params.string_list("run_id")?;
    if run_ids.is_empty() {
        return Err(Error::missing("run_id").into());
    }
    if run_ids.len() > validation::HISTORY_BULK_MAX_RUN_IDS {
        return Err(ApiError::invalid(format!(
            "GetMetricHistoryBulk request cannot specify more than {} run_ids. Received {} run_ids.",
            validation::HISTORY_BULK_MAX_RUN_IDS,
            run_ids.len()
        )));
    }
    let metric_key = params.required_string("metric_key")?;
    let max_results = validation::max_results(params.i64("max_results")?, 25_000, 25_000)?;
    let page = HistoryPage {
        max_results,
        offset: 0,
        after: None,
    };
    // The runs' histories are independent reads: fetch them concurrently over the reader pool.
    let histories = futures::future::try_join_all(run_ids.iter().map(|run_id| {
        state
            .store
            .get_metric_history(run_id, &metric_key, Some(page))
    }))
    .await?;
    let mut all = Vec::with_capacity(histories.iter().map(|history| history.items.len()).sum());
    for (run_id, history) in run_ids.iter().zip(histories) {
        all.extend(history.items.into_iter().map(|mut metric| {
            metric.run_id = Some(run_id.clone());
            metric
        }));
    }
    Ok(wire::metric_page(&all, None))
}
