//! Runs: lifecycle, params, tags, metrics, inputs/outputs, history and search.

use crate::targets::{run_attribute, RUNS};
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use cairn_core::entities::{
    DatasetInput, KeyValue, LifecycleStage, Metric, ModelInput, ModelOutput, Page, Run, RunInfo,
};
use cairn_core::{Error, Result};
use sqlx::query_builder::Separated;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::connections::Connections;
use super::experiments::{active_experiment, parse_experiment_id, view_condition};
use super::packed::{parse_packed, PACKED_LINE};
use super::{
    db_error, finish_page, json_list, new_uuid_hex, now_ms, parse_column, store_value, SqliteStore,
};
use crate::filter::{self, Bind, Sql};
use crate::run_parts::{assemble, empty_runs, info_from_row, unpack, InfoRow, RunParts};
use crate::shared::MetricRow;
use crate::shared::{finish_history_page, history_limit};
use crate::{
    CreateRun, HistoryInterval, HistoryPage, LogBatch, SearchRuns, SeriesRequest, UpdateRun,
};
use cairn_core::search::HistoryCursor;

/// The tag MLflow keeps equal to the run name.
pub(super) const RUN_NAME_TAG: &str = "mlflow.runName";

/// Rows per multi-row INSERT (SQLite allows 32766 parameters per statement).
const METRIC_ROWS_PER_INSERT: usize = 1000;

/// Packed histories larger than this are parsed on the blocking pool.
const PARSE_INLINE_MAX_BYTES: usize = 256 * 1024;

/// Metrics-only batches up to this size go through the `metric_points` view in one statement.
const SMALL_METRIC_BATCH: usize = 64;

/// The message `metric_points`'s trigger aborts with (migration 0006).
const RUN_NOT_ACTIVE_ABORT: &str = "cairn: run is not active";

pub(super) fn run_not_found(run_id: &str) -> Error {
    Error::not_found(format!("Run with id={run_id} not found"))
}

/// (experiment_id, lifecycle_stage) of a run, or not found.
pub(super) async fn run_header(
    conn: &mut SqliteConnection,
    run_id: &str,
) -> Result<(i64, LifecycleStage)> {
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT experiment_id, lifecycle_stage FROM runs WHERE run_uuid = ?")
            .bind(run_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_error)?;
    let (experiment_id, stage) = row.ok_or_else(|| run_not_found(run_id))?;
    Ok((experiment_id, parse_column(&stage)?))
}

/// The run must exist and be active; returns its experiment id.
pub(super) async fn active_run(conn: &mut SqliteConnection, run_id: &str) -> Result<i64> {
    let (experiment_id, stage) = run_header(conn, run_id).await?;
    if stage != LifecycleStage::Active {
        return Err(Error::invalid(format!(
            "The run {run_id} must be in the 'active' state. Current state is {stage}."
        )));
    }
    Ok(experiment_id)
}

const INFO_COLUMNS: &str = "run_uuid, experiment_id, name, user_id, status, start_time, end_time, \
                            artifact_uri, lifecycle_stage";

async fn load_run_info(conn: &mut SqliteConnection, run_id: &str) -> Result<RunInfo> {
    let row: Option<InfoRow> = sqlx::query_as(&format!(
        "SELECT {INFO_COLUMNS} FROM runs WHERE run_uuid = ?"
    ))
    .bind(run_id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    info_from_row(row.ok_or_else(|| run_not_found(run_id))?)
}

/// The JSON array a run's info travels as (see [`LOAD_RUNS_PARTS`]).
macro_rules! run_info_json {
    () => {
        "json_array(r.run_uuid, r.experiment_id, r.name, r.user_id, r.status, r.start_time, \
         r.end_time, r.artifact_uri, r.lifecycle_stage)"
    };
}

/// Every part of [`LOAD_RUNS_PARTS`] but the infos.
macro_rules! load_run_data {
    () => {
        "(SELECT json_group_array(json_array(m.run_uuid, m.key, m.step, m.timestamp, m.value_bits, \
        CASE WHEN m.value_bits IS NULL THEN printf('%!.17g', m.value) END, m.is_nan, m.model_id, \
        m.dataset_name, m.dataset_digest)) \
     FROM ids CROSS JOIN latest_metrics m ON m.run_uuid = ids.run_uuid), \
    (SELECT json_group_array(json_array(p.rowid, p.run_uuid, p.key, p.value)) \
     FROM ids CROSS JOIN params p ON p.run_uuid = ids.run_uuid), \
    (SELECT json_group_array(json_array(t.rowid, t.run_uuid, t.key, t.value)) \
     FROM ids CROSS JOIN tags t ON t.run_uuid = ids.run_uuid), \
    (CASE WHEN EXISTS (SELECT 1 FROM run_dataset_inputs) THEN \
     (SELECT json_group_array(json_array(i.rowid, i.run_uuid, d.dataset_uuid, d.name, d.digest, \
        d.source_type, d.source, d.schema, d.profile)) \
     FROM ids CROSS JOIN run_dataset_inputs i ON i.run_uuid = ids.run_uuid \
     JOIN datasets d ON d.dataset_uuid = i.dataset_uuid) ELSE '[]' END), \
    (CASE WHEN EXISTS (SELECT 1 FROM run_dataset_input_tags) THEN \
     (SELECT json_group_array(json_array(g.rowid, g.run_uuid, g.dataset_uuid, g.key, g.value)) \
     FROM ids CROSS JOIN run_dataset_input_tags g ON g.run_uuid = ids.run_uuid) ELSE '[]' END), \
    (CASE WHEN EXISTS (SELECT 1 FROM run_model_inputs) THEN \
     (SELECT json_group_array(json_array(mi.rowid, mi.run_uuid, mi.model_id)) \
     FROM ids CROSS JOIN run_model_inputs mi ON mi.run_uuid = ids.run_uuid) ELSE '[]' END), \
    (CASE WHEN EXISTS (SELECT 1 FROM run_model_outputs) THEN \
     (SELECT json_group_array(json_array(mo.rowid, mo.run_uuid, mo.model_id, mo.step)) \
     FROM ids CROSS JOIN run_model_outputs mo ON mo.run_uuid = ids.run_uuid) ELSE '[]' END)"
    };
}

/// One query that returns every part of a set of runs, each part as a JSON array of rows
/// (`json_group_array`): one round trip and one value per part instead of one sqlx row per item, which
/// is what makes loading a 1000-run search page cheap. Metric values travel as their IEEE-754 bits.
/// The parts most stores leave empty (dataset and model inputs/outputs) are skipped with a
/// `CASE WHEN EXISTS` on the whole table: each part costs a pass over the id list even when the table
/// is empty (~0.2 ms for 500 ids). Each part walks `ids` and seeks its table (`ids CROSS JOIN`),
/// which is cheaper than `IN ids` (an ephemeral index built per part).
///
/// [`LOAD_RUNS_PARTS`] reads the ids from a CTE named `ids`, which [`load_runs`] fills from a bound
/// JSON list. A search selects only ids and `rev`s, takes what it can from the run cache
/// (`run_cache.rs`) and loads the rest with [`load_runs`].
const LOAD_RUNS_PARTS: &str = concat!(
    "(SELECT json_group_array(",
    run_info_json!(),
    ") FROM ids CROSS JOIN runs r ON r.run_uuid = ids.run_uuid), ",
    load_run_data!()
);

type PackedParts = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
);

/// Loads whole runs, in the order of `run_ids` (missing ids are skipped).
pub(super) async fn load_runs<'c, E>(executor: E, run_ids: &[String]) -> Result<Vec<Run>>
where
    E: sqlx::Executor<'c, Database = Sqlite>,
{
    if run_ids.is_empty() {
        return Ok(Vec::new());
    }
    let parts: PackedParts = sqlx::query_as(&format!(
        "WITH ids(run_uuid) AS (SELECT DISTINCT value FROM json_each(?1)) SELECT {LOAD_RUNS_PARTS}"
    ))
    .bind(json_list(run_ids))
    .fetch_one(executor)
    .await
    .map_err(db_error)?;
    decode_runs(parts, Some(run_ids))
}

/// Builds runs from the parts [`LOAD_RUNS_PARTS`] returns, in the order of `run_ids` (missing ids
/// are skipped), or in the order of the infos if `None`.
fn decode_runs(parts: PackedParts, run_ids: Option<&[String]>) -> Result<Vec<Run>> {
    let (infos, metrics, params, tags, datasets, input_tags, model_inputs, model_outputs) = parts;
    let infos: Vec<InfoRow> = unpack(&infos)?;
    let mut infos = infos
        .into_iter()
        .map(info_from_row)
        .collect::<Result<Vec<RunInfo>>>()?;
    if let Some(run_ids) = run_ids {
        let mut by_id: HashMap<String, RunInfo> = infos
            .into_iter()
            .map(|info| (info.run_id.clone(), info))
            .collect();
        infos = run_ids.iter().filter_map(|id| by_id.remove(id)).collect();
    }
    let parts = RunParts {
        metrics,
        params,
        tags,
        datasets,
        input_tags,
        model_inputs,
        model_outputs,
    };
    assemble(empty_runs(infos), &parts)
}

/// Upserts run tags (multi-row); keeps the run name in sync with `mlflow.runName`.
async fn upsert_run_tags(
    conn: &mut SqliteConnection,
    run_id: &str,
    tags: &[KeyValue],
) -> Result<()> {
    if tags.is_empty() {
        return Ok(());
    }
    let mut insert: QueryBuilder<Sqlite> =
        QueryBuilder::new("INSERT INTO tags (run_uuid, key, value) ");
    insert.push_values(tags, |mut row, tag| {
        row.push_bind(run_id)
            .push_bind(&tag.key)
            .push_bind(&tag.value);
    });
    insert.push(" ON CONFLICT (run_uuid, key) DO UPDATE SET value = excluded.value");
    insert.build().execute(&mut *conn).await.map_err(db_error)?;
    if let Some(name_tag) = tags.iter().rev().find(|tag| tag.key == RUN_NAME_TAG) {
        sqlx::query("UPDATE runs SET name = ? WHERE run_uuid = ?")
            .bind(&name_tag.value)
            .bind(run_id)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
    }
    Ok(())
}

/// Inserts params, refusing changed values (MLflow's wording).
async fn insert_params(
    conn: &mut SqliteConnection,
    run_id: &str,
    params: &[KeyValue],
) -> Result<()> {
    if params.is_empty() {
        return Ok(());
    }
    let keys: Vec<&str> = params.iter().map(|param| param.key.as_str()).collect();
    let existing: Vec<(String, String)> = sqlx::query_as(
        "SELECT key, value FROM params WHERE run_uuid = ? AND key IN (SELECT value FROM json_each(?))",
    )
    .bind(run_id)
    .bind(json_list(&keys))
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    if !existing.is_empty() {
        let existing: HashMap<String, String> = existing.into_iter().collect();
        let conflicts: Vec<(&KeyValue, &String)> = params
            .iter()
            .filter_map(|param| {
                existing
                    .get(&param.key)
                    .filter(|old| **old != param.value)
                    .map(|old| (param, old))
            })
            .collect();
        if let [(param, old)] = conflicts.as_slice() {
            if params.len() == 1 {
                return Err(Error::invalid(format!(
                    "Changing param values is not allowed. Param with key='{}' was already logged with value='{}' \
                     for run ID='{run_id}'. Attempted logging new value '{}'.",
                    param.key, old, param.value
                )));
            }
        }
        if !conflicts.is_empty() {
            let described: Vec<String> = conflicts
                .iter()
                .map(|(param, old)| {
                    format!(
                        "{{'key': '{}', 'old_value': '{}', 'new_value': '{}'}}",
                        param.key, old, param.value
                    )
                })
                .collect();
            return Err(Error::invalid(format!(
                "Changing param values is not allowed. Params were already logged='[{}]' for run ID='{run_id}'.",
                described.join(", ")
            )));
        }
    }
    let mut insert: QueryBuilder<Sqlite> =
        QueryBuilder::new("INSERT INTO params (run_uuid, key, value) ");
    insert.push_values(params, |mut row, param| {
        row.push_bind(run_id)
            .push_bind(&param.key)
            .push_bind(&param.value);
    });
    insert.push(" ON CONFLICT (run_uuid, key) DO NOTHING");
    insert.build().execute(&mut *conn).await.map_err(db_error)?;
    Ok(())
}

/// Orders metric points the way `latest_metrics` does: step, then timestamp, then (stored) value.
fn latest_order(a: &Metric, b: &Metric) -> Ordering {
    let (a_value, _) = store_value(a.value);
    let (b_value, _) = store_value(b.value);
    (a.step, a.timestamp)
        .cmp(&(b.step, b.timestamp))
        .then(a_value.partial_cmp(&b_value).unwrap_or(Ordering::Equal))
}

async fn insert_metrics(
    conn: &mut SqliteConnection,
    run_id: &str,
    metrics: &[Metric],
) -> Result<()> {
    if metrics.is_empty() {
        return Ok(());
    }
    insert_run_metric_rows(conn, run_id, metrics).await?;
    attach_model_metrics(conn, run_id, metrics).await
}

/// The columns [`push_metric_row`] binds, in its order (`metrics`, `latest_metrics`, `metric_points`).
const METRIC_ROW_COLUMNS: &str = "run_uuid, key, step, timestamp, value, is_nan, model_id, \
                                  dataset_name, dataset_digest, value_bits";

/// One metric point as a row of [`METRIC_ROW_COLUMNS`] (NaN as value 0 with `is_nan`; the exact
/// IEEE-754 bits alongside).
fn push_metric_row<'args>(
    mut row: Separated<'_, 'args, Sqlite, &'static str>,
    run_id: &'args str,
    metric: &'args Metric,
) {
    let (value, is_nan) = store_value(metric.value);
    row.push_bind(run_id)
        .push_bind(&metric.key)
        .push_bind(metric.step)
        .push_bind(metric.timestamp)
        .push_bind(value)
        .push_bind(is_nan)
        .push_bind(&metric.model_id)
        .push_bind(&metric.dataset_name)
        .push_bind(&metric.dataset_digest)
        .push_bind(metric.value.to_bits() as i64);
}

/// A run's metric points (identical points collapse on the primary key) and, per key, the latest
/// point, kept only if greater than the one stored (also used by the importer).
pub(super) async fn insert_run_metric_rows(
    conn: &mut SqliteConnection,
    run_id: &str,
    metrics: &[Metric],
) -> Result<()> {
    for chunk in metrics.chunks(METRIC_ROWS_PER_INSERT) {
        let mut insert: QueryBuilder<Sqlite> =
            QueryBuilder::new(format!("INSERT INTO metrics ({METRIC_ROW_COLUMNS}) "));
        insert.push_values(chunk, |row, metric| push_metric_row(row, run_id, metric));
        insert.push(" ON CONFLICT DO NOTHING");
        insert.build().execute(&mut *conn).await.map_err(db_error)?;
    }

    // The latest point per key within the batch, then one upsert that keeps the greater.
    let mut latest: HashMap<&str, &Metric> = HashMap::new();
    for metric in metrics {
        latest
            .entry(metric.key.as_str())
            .and_modify(|current| {
                if latest_order(metric, current) == Ordering::Greater {
                    *current = metric;
                }
            })
            .or_insert(metric);
    }
    let latest: Vec<&Metric> = latest.into_values().collect();
    for chunk in latest.chunks(METRIC_ROWS_PER_INSERT) {
        let mut upsert: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "INSERT INTO latest_metrics ({METRIC_ROW_COLUMNS}) "
        ));
        upsert.push_values(chunk, |row, metric| push_metric_row(row, run_id, metric));
        upsert.push(
            " ON CONFLICT (run_uuid, key) DO UPDATE SET step = excluded.step, timestamp = excluded.timestamp, \
             value = excluded.value, is_nan = excluded.is_nan, model_id = excluded.model_id, \
             dataset_name = excluded.dataset_name, dataset_digest = excluded.dataset_digest, \
             value_bits = excluded.value_bits \
             WHERE (excluded.step, excluded.timestamp, excluded.value) > \
                   (latest_metrics.step, latest_metrics.timestamp, latest_metrics.value)",
        );
        upsert.build().execute(&mut *conn).await.map_err(db_error)?;
    }
    upsert_metric_blocks(conn, run_id, metrics).await
}

/// Steps per row of `metric_blocks` (`step >> BLOCK_SHIFT`; migration 0006).
const BLOCK_SHIFT: u32 = 8;
const BLOCK_STEPS: i64 = 1 << BLOCK_SHIFT;

/// Keeps `metric_blocks` (per 256-step block, the least and greatest point) up to date with a batch:
/// the batch's own extremes per block, merged into the stored ones (a stored tie wins).
async fn upsert_metric_blocks(
    conn: &mut SqliteConnection,
    run_id: &str,
    metrics: &[Metric],
) -> Result<()> {
    let mut blocks: HashMap<(&str, i64), (&Metric, &Metric)> = HashMap::new();
    for metric in metrics.iter().filter(|metric| !metric.value.is_nan()) {
        blocks
            .entry((metric.key.as_str(), metric.step >> BLOCK_SHIFT))
            .and_modify(|(low, high)| {
                if metric.value < low.value {
                    *low = metric;
                }
                if metric.value > high.value {
                    *high = metric;
                }
            })
            .or_insert((metric, metric));
    }
    let blocks: Vec<_> = blocks.into_iter().collect();
    for chunk in blocks.chunks(METRIC_ROWS_PER_INSERT) {
        let mut upsert: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO metric_blocks (run_uuid, key, block, min_step, min_timestamp, min_value, \
             min_bits, max_step, max_timestamp, max_value, max_bits) ",
        );
        upsert.push_values(chunk, |mut row, ((key, block), (low, high))| {
            row.push_bind(run_id)
                .push_bind(*key)
                .push_bind(*block)
                .push_bind(low.step)
                .push_bind(low.timestamp)
                .push_bind(low.value)
                .push_bind(low.value.to_bits() as i64)
                .push_bind(high.step)
                .push_bind(high.timestamp)
                .push_bind(high.value)
                .push_bind(high.value.to_bits() as i64);
        });
        upsert.push(
            " ON CONFLICT (run_uuid, key, block) DO UPDATE SET \
             min_step = CASE WHEN excluded.min_value < min_value THEN excluded.min_step ELSE min_step END, \
             min_timestamp = CASE WHEN excluded.min_value < min_value THEN excluded.min_timestamp ELSE min_timestamp END, \
             min_bits = CASE WHEN excluded.min_value < min_value THEN excluded.min_bits ELSE min_bits END, \
             min_value = min(min_value, excluded.min_value), \
             max_step = CASE WHEN excluded.max_value > max_value THEN excluded.max_step ELSE max_step END, \
             max_timestamp = CASE WHEN excluded.max_value > max_value THEN excluded.max_timestamp ELSE max_timestamp END, \
             max_bits = CASE WHEN excluded.max_value > max_value THEN excluded.max_bits ELSE max_bits END, \
             max_value = max(max_value, excluded.max_value)",
        );
        upsert.build().execute(&mut *conn).await.map_err(db_error)?;
    }
    Ok(())
}

/// Metrics that name a logged model are attached to it too (unknown models are skipped).
async fn attach_model_metrics(
    conn: &mut SqliteConnection,
    run_id: &str,
    metrics: &[Metric],
) -> Result<()> {
    let model_ids: HashSet<&str> = metrics
        .iter()
        .filter_map(|metric| metric.model_id.as_deref())
        .collect();
    if model_ids.is_empty() {
        return Ok(());
    }
    let model_ids: Vec<&str> = model_ids.into_iter().collect();
    let known: Vec<(String,)> = sqlx::query_as(
        "SELECT model_id FROM logged_models WHERE model_id IN (SELECT value FROM json_each(?))",
    )
    .bind(json_list(&model_ids))
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    let known: HashSet<String> = known.into_iter().map(|(id,)| id).collect();
    let model_metrics: Vec<&Metric> = metrics
        .iter()
        .filter(|metric| {
            metric
                .model_id
                .as_ref()
                .is_some_and(|model_id| known.contains(model_id))
        })
        .collect();
    for chunk in model_metrics.chunks(METRIC_ROWS_PER_INSERT) {
        let mut insert: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO logged_model_metrics (model_id, key, step, timestamp, value, is_nan, run_uuid, \
             dataset_name, dataset_digest) ",
        );
        insert.push_values(chunk, |mut row, metric| {
            let (value, is_nan) = store_value(metric.value);
            row.push_bind(&metric.model_id)
                .push_bind(&metric.key)
                .push_bind(metric.step)
                .push_bind(metric.timestamp)
                .push_bind(value)
                .push_bind(is_nan)
                .push_bind(run_id)
                .push_bind(&metric.dataset_name)
                .push_bind(&metric.dataset_digest);
        });
        insert.push(" ON CONFLICT DO NOTHING");
        insert.build().execute(&mut *conn).await.map_err(db_error)?;
    }
    Ok(())
}

/// A run's dataset inputs: each dataset once per experiment (by name and digest), the input link,
/// and its tags (also used by the importer).
pub(super) async fn insert_dataset_inputs(
    conn: &mut SqliteConnection,
    experiment_id: i64,
    run_id: &str,
    inputs: &[DatasetInput],
) -> Result<()> {
    for input in inputs {
        let dataset = &input.dataset;
        let existing: Option<String> = sqlx::query_scalar(
            "SELECT dataset_uuid FROM datasets WHERE experiment_id = ? AND name = ? AND digest = ?",
        )
        .bind(experiment_id)
        .bind(&dataset.name)
        .bind(&dataset.digest)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
        let dataset_uuid = match existing {
            Some(dataset_uuid) => dataset_uuid,
            None => {
                let dataset_uuid = new_uuid_hex();
                sqlx::query(
                    "INSERT INTO datasets (dataset_uuid, experiment_id, name, digest, source_type, \
                     source, schema, profile) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(&dataset_uuid)
                .bind(experiment_id)
                .bind(&dataset.name)
                .bind(&dataset.digest)
                .bind(&dataset.source_type)
                .bind(&dataset.source)
                .bind(&dataset.schema)
                .bind(&dataset.profile)
                .execute(&mut *conn)
                .await
                .map_err(db_error)?;
                dataset_uuid
            }
        };
        sqlx::query(
            "INSERT INTO run_dataset_inputs (run_uuid, dataset_uuid) VALUES (?, ?) \
             ON CONFLICT DO NOTHING",
        )
        .bind(run_id)
        .bind(&dataset_uuid)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
        for tag in &input.tags {
            sqlx::query(
                "INSERT INTO run_dataset_input_tags (run_uuid, dataset_uuid, key, value) \
                 VALUES (?, ?, ?, ?) \
                 ON CONFLICT (run_uuid, dataset_uuid, key) DO UPDATE SET value = excluded.value",
            )
            .bind(run_id)
            .bind(&dataset_uuid)
            .bind(&tag.key)
            .bind(&tag.value)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
        }
    }
    Ok(())
}

/// How many step ranges a whole-history read is split into, and the smallest step span worth splitting.
const HISTORY_PARALLEL_RANGES: i64 = 4;
const HISTORY_PARALLEL_MIN_STEPS: i64 = 8192;

/// Splits the inclusive step range `[first, last]` into at most `parts` inclusive ranges.
fn step_ranges(first: i64, last: i64, parts: i64, min_span: i64) -> Vec<(i64, i64)> {
    let span = i128::from(last) - i128::from(first) + 1;
    if span < i128::from(min_span) || parts <= 1 {
        return vec![(first, last)];
    }
    let width = span / i128::from(parts);
    let mut ranges = Vec::new();
    let mut low = i128::from(first);
    for index in 0..parts {
        let high = if index == parts - 1 {
            i128::from(last)
        } else {
            low + width - 1
        };
        // Both ends lie within [first, last], so they fit an i64.
        ranges.push((
            i64::try_from(low).unwrap_or(first),
            i64::try_from(high).unwrap_or(last),
        ));
        low = high + 1;
    }
    ranges
}

/// Sorts before every point: the `after` of a read from the start.
const BEFORE_ALL: HistoryCursor = HistoryCursor {
    step: i64::MIN,
    timestamp: i64::MIN,
    value: f64::NEG_INFINITY,
    is_nan: false,
};

/// One part of a history read: the steps it covers (inclusive), the point it starts after, and
/// `LIMIT`/`OFFSET` from there.
#[derive(Debug, Clone, Copy)]
struct HistoryPart {
    steps: (i64, i64),
    after: HistoryCursor,
    limit: i64,
    offset: i64,
}

/// The packed points of one history part, in history order.
async fn packed_history(
    pool: &Connections,
    run_id: &str,
    metric_key: &str,
    part: HistoryPart,
) -> Result<Option<String>> {
    // `>=` on the key of BEFORE_ALL keeps a point that equals it (step and timestamp i64::MIN, -inf).
    let after = if part.after == BEFORE_ALL { ">=" } else { ">" };
    sqlx::query_scalar(&format!(
        "SELECT group_concat(line, ';') FROM (SELECT {PACKED_LINE} AS line FROM metrics \
         WHERE run_uuid = ? AND key = ? AND step BETWEEN ? AND ? \
         AND (step, timestamp, value, is_nan) {after} (?, ?, ?, ?) \
         ORDER BY step, timestamp, value, is_nan LIMIT ? OFFSET ?)"
    ))
    .bind(run_id)
    .bind(metric_key)
    .bind(part.steps.0)
    .bind(part.steps.1)
    .bind(part.after.step)
    .bind(part.after.timestamp)
    .bind(part.after.value)
    .bind(part.after.is_nan)
    .bind(part.limit)
    .bind(part.offset)
    .fetch_one(&mut *pool.acquire().await.map_err(db_error)?)
    .await
    .map_err(db_error)
}

/// Parses packed points; big ones off the async runtime (100k points: ~10-20 ms of CPU).
async fn parse_history(packed: Option<String>, metric_key: &str) -> Result<Vec<Metric>> {
    match packed {
        Some(packed) if packed.len() > PARSE_INLINE_MAX_BYTES => {
            let key = metric_key.to_owned();
            tokio::task::spawn_blocking(move || parse_packed(Some(&packed), &key))
                .await
                .map_err(|error| Error::internal(format!("history parse task failed: {error}")))?
        }
        packed => parse_packed(packed.as_deref(), metric_key),
    }
}

impl SqliteStore {
    pub(super) async fn create_run_impl(&self, request: CreateRun) -> Result<Run> {
        let tag_name = request
            .tags
            .iter()
            .rev()
            .find(|tag| tag.key == RUN_NAME_TAG)
            .map(|tag| tag.value.clone());
        let run_name = match (request.run_name.is_empty(), tag_name) {
            (true, Some(tag_name)) => tag_name,
            (true, None) => crate::names::random_run_name(),
            (false, Some(tag_name)) if tag_name != request.run_name => {
                return Err(Error::invalid(format!(
                    "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with \
                     different values (run_name='{}', mlflow.runName='{tag_name}').",
                    request.run_name
                )))
            }
            (false, _) => request.run_name.clone(),
        };
        // As MLflow: the given tags in their order, plus `mlflow.runName` if they lack it.
        let mut tags = request.tags;
        if !tags.iter().any(|tag| tag.key == RUN_NAME_TAG) {
            tags.push(KeyValue::new(RUN_NAME_TAG, run_name.clone()));
        }

        let mut tx = self.write().await?;
        let (experiment_id, artifact_location) =
            active_experiment(&mut tx, &request.experiment_id).await?;
        let run_id = new_uuid_hex();
        let artifact_uri = super::run_artifact_uri(&artifact_location, &run_id);
        sqlx::query(
            "INSERT INTO runs (run_uuid, experiment_id, name, user_id, status, start_time, end_time, \
             artifact_uri, lifecycle_stage) VALUES (?, ?, ?, ?, 'RUNNING', ?, NULL, ?, 'active')",
        )
        .bind(&run_id)
        .bind(experiment_id)
        .bind(&run_name)
        .bind(&request.user_id)
        .bind(request.start_time)
        .bind(&artifact_uri)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        upsert_run_tags(&mut tx, &run_id, &tags).await?;
        let run = load_runs(&mut *tx, std::slice::from_ref(&run_id))
            .await?
            .pop()
            .ok_or_else(|| Error::internal("created run vanished"))?;
        tx.commit().await.map_err(db_error)?;
        self.activity.created_runs(1);
        Ok(run)
    }

    pub(super) async fn get_run_impl(&self, run_id: &str) -> Result<Run> {
        load_runs(&mut *self.reader().await?, &[run_id.to_owned()])
            .await?
            .pop()
            .ok_or_else(|| run_not_found(run_id))
    }

    pub(super) async fn update_run_impl(&self, request: UpdateRun) -> Result<RunInfo> {
        let mut tx = self.write().await?;
        active_run(&mut tx, &request.run_id).await?;
        if let Some(status) = request.status {
            sqlx::query("UPDATE runs SET status = ? WHERE run_uuid = ?")
                .bind(status.as_str())
                .bind(&request.run_id)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        if let Some(end_time) = request.end_time {
            sqlx::query("UPDATE runs SET end_time = ? WHERE run_uuid = ?")
                .bind(end_time)
                .bind(&request.run_id)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        if let Some(run_name) = request.run_name.filter(|name| !name.is_empty()) {
            upsert_run_tags(
                &mut tx,
                &request.run_id,
                &[KeyValue::new(RUN_NAME_TAG, run_name)],
            )
            .await?;
        }
        let info = load_run_info(&mut tx, &request.run_id).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(info)
    }

    pub(super) async fn set_run_lifecycle(&self, run_id: &str, delete: bool) -> Result<()> {
        let mut tx = self.write().await?;
        run_header(&mut tx, run_id).await?;
        let (stage, deleted_time) = if delete {
            ("deleted", Some(now_ms()))
        } else {
            ("active", None)
        };
        sqlx::query("UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE run_uuid = ?")
            .bind(stage)
            .bind(deleted_time)
            .bind(run_id)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    pub(super) async fn delete_run_tag_impl(&self, run_id: &str, key: &str) -> Result<()> {
        let mut tx = self.write().await?;
        active_run(&mut tx, run_id).await?;
        let deleted = sqlx::query("DELETE FROM tags WHERE run_uuid = ? AND key = ?")
            .bind(run_id)
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?
            .rows_affected();
        if deleted == 0 {
            return Err(Error::not_found(format!(
                "No tag with name: {key} in run with id {run_id}"
            )));
        }
        tx.commit().await.map_err(db_error)
    }

    pub(super) async fn log_batch_impl(&self, run_id: &str, batch: LogBatch) -> Result<()> {
        if batch.params.is_empty()
            && batch.tags.is_empty()
            && (1..=SMALL_METRIC_BATCH).contains(&batch.metrics.len())
            && batch.metrics.iter().all(|metric| metric.model_id.is_none())
        {
            return self.log_small_metric_batch(run_id, &batch.metrics).await;
        }
        self.log_batch_long(run_id, batch).await
    }

    /// Any batch, as one `BEGIN IMMEDIATE` transaction.
    async fn log_batch_long(&self, run_id: &str, batch: LogBatch) -> Result<()> {
        let mut tx = self.write().await?;
        active_run(&mut tx, run_id).await?;
        insert_params(&mut tx, run_id, &batch.params).await?;
        insert_metrics(&mut tx, run_id, &batch.metrics).await?;
        upsert_run_tags(&mut tx, run_id, &batch.tags).await?;
        tx.commit().await.map_err(db_error)
    }

    /// A few metrics and nothing else (`log-metric`): one autocommit statement into the
    /// `metric_points` view, whose trigger checks the run and keeps the latest values (migration
    /// 0006). If the run is missing or not active the trigger aborts the statement, nothing is
    /// written, and reading the run tells which error applies.
    async fn log_small_metric_batch(&self, run_id: &str, metrics: &[Metric]) -> Result<()> {
        let mut insert: QueryBuilder<Sqlite> =
            QueryBuilder::new(format!("INSERT INTO metric_points ({METRIC_ROW_COLUMNS}) "));
        insert.push_values(metrics, |row, metric| push_metric_row(row, run_id, metric));
        match insert
            .build()
            .execute(&mut *self.writer.acquire().await.map_err(db_error)?)
            .await
        {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(error)) if error.message().contains(RUN_NOT_ACTIVE_ABORT) => {
                let mut conn = self.reader().await?;
                active_run(&mut conn, run_id).await?;
                // The run became active again in between: write the points the long way.
                self.log_batch_long(
                    run_id,
                    LogBatch {
                        metrics: metrics.to_vec(),
                        ..LogBatch::default()
                    },
                )
                .await
            }
            Err(error) => Err(db_error(error)),
        }
    }

    pub(super) async fn log_inputs_impl(
        &self,
        run_id: &str,
        datasets: Vec<DatasetInput>,
        models: Vec<ModelInput>,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        let experiment_id = active_run(&mut tx, run_id).await?;
        insert_dataset_inputs(&mut tx, experiment_id, run_id, &datasets).await?;
        for model in &models {
            sqlx::query(
                "INSERT INTO run_model_inputs (run_uuid, model_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
            )
            .bind(run_id)
            .bind(&model.model_id)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)
    }

    pub(super) async fn log_outputs_impl(
        &self,
        run_id: &str,
        models: Vec<ModelOutput>,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        active_run(&mut tx, run_id).await?;
        for model in &models {
            sqlx::query(
                "INSERT INTO run_model_outputs (run_uuid, model_id, step) VALUES (?, ?, ?) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(run_id)
            .bind(&model.model_id)
            .bind(model.step)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)
    }

    pub(super) async fn get_metric_history_impl(
        &self,
        run_id: &str,
        metric_key: &str,
        page: Option<HistoryPage>,
    ) -> Result<Page<Metric>> {
        if let Some(page) = page {
            // After the previous page's last point if the token says where that was, else from
            // the offset. A big page is read as two halves on two reader connections at once (each
            // half is its own snapshot, like each page is).
            let limit = history_limit(page);
            let first = match page.after {
                Some(after) => HistoryPart {
                    steps: (after.step, i64::MAX),
                    after,
                    limit,
                    offset: 0,
                },
                None => HistoryPart {
                    steps: (i64::MIN, i64::MAX),
                    after: BEFORE_ALL,
                    limit,
                    offset: i64::try_from(page.offset).unwrap_or(i64::MAX),
                },
            };
            let parts = if limit >= 2 * HISTORY_PARALLEL_MIN_STEPS {
                let half = limit / 2;
                vec![
                    HistoryPart {
                        limit: half,
                        ..first
                    },
                    HistoryPart {
                        limit: limit - half,
                        offset: first.offset.saturating_add(half),
                        ..first
                    },
                ]
            } else {
                vec![first]
            };
            let metrics = self.read_history_parts(run_id, metric_key, parts).await?;
            return Ok(finish_history_page(metrics, page));
        }
        // The whole history: split by step range over several reader connections, read and parse
        // the ranges in parallel, and join them in order. (Each range is its own snapshot; points are
        // only ever added, so a concurrent write shows up in some ranges only: a read a moment later.)
        let Some((first, last)) = self
            .step_bounds(run_id, metric_key, (i64::MIN, i64::MAX))
            .await?
        else {
            return Ok(Page {
                items: Vec::new(),
                next_page_token: None,
            });
        };
        let parts = step_ranges(
            first,
            last,
            HISTORY_PARALLEL_RANGES,
            HISTORY_PARALLEL_MIN_STEPS,
        )
        .into_iter()
        .map(|steps| HistoryPart {
            steps,
            after: BEFORE_ALL,
            limit: -1,
            offset: 0,
        })
        .collect();
        Ok(Page {
            items: self.read_history_parts(run_id, metric_key, parts).await?,
            next_page_token: None,
        })
    }

    /// The first and last step holding points of one metric within `[low, high]` (two index seeks).
    async fn step_bounds(
        &self,
        run_id: &str,
        metric_key: &str,
        (low, high): (i64, i64),
    ) -> Result<Option<(i64, i64)>> {
        let (first, last): (Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT (SELECT step FROM metrics WHERE run_uuid = ?1 AND key = ?2 AND step BETWEEN ?3 AND ?4 \
                     ORDER BY step LIMIT 1), \
                    (SELECT step FROM metrics WHERE run_uuid = ?1 AND key = ?2 AND step BETWEEN ?3 AND ?4 \
                     ORDER BY step DESC LIMIT 1)",
        )
        .bind(run_id)
        .bind(metric_key)
        .bind(low)
        .bind(high)
        .fetch_one(&mut *self.reader().await?)
        .await
        .map_err(db_error)?;
        Ok(first.zip(last))
    }

    /// Reads and parses parts of one metric's history at once,
    /// each on its own reader connection, and joins them in the order given.
    async fn read_history_parts(
        &self,
        run_id: &str,
        metric_key: &str,
        parts: Vec<HistoryPart>,
    ) -> Result<Vec<Metric>> {
        if let [part] = parts[..] {
            let packed = packed_history(&self.reader, run_id, metric_key, part).await?;
            return parse_history(packed, metric_key).await;
        }
        let mut tasks = tokio::task::JoinSet::new();
        for (index, part) in parts.into_iter().enumerate() {
            let pool = self.reader.clone();
            let run_id = run_id.to_owned();
            let key = metric_key.to_owned();
            tasks.spawn(async move {
                let packed = packed_history(&pool, &run_id, &key, part).await?;
                Ok::<_, Error>((index, parse_history(packed, &key).await?))
            });
        }
        let mut parts = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let part = joined
                .map_err(|error| Error::internal(format!("history read task failed: {error}")))??;
            parts.push(part);
        }
        parts.sort_by_key(|(index, _)| *index);
        let mut items = Vec::with_capacity(parts.iter().map(|(_, part)| part.len()).sum());
        for (_, part) in parts {
            items.extend(part);
        }
        Ok(items)
    }

    pub(super) async fn metric_series_impl(&self, request: SeriesRequest) -> Result<Vec<Metric>> {
        let key = request.metric_key.as_str();
        // The steps that hold points, within the requested range (two index seeks).
        let (low, high) = request.steps.unwrap_or((i64::MIN, i64::MAX));
        let Some((first, last)) = self.step_bounds(&request.run_id, key, (low, high)).await? else {
            return Ok(Vec::new());
        };
        let buckets = request.buckets.max(1);
        // Few enough points: all of them (the probe reads at most buckets + 1 rows).
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT 1 FROM metrics WHERE run_uuid = ? AND key = ? \
             AND step BETWEEN ? AND ? LIMIT ?)",
        )
        .bind(&request.run_id)
        .bind(key)
        .bind(first)
        .bind(last)
        .bind(i64::from(buckets) + 1)
        .fetch_one(&mut *self.reader().await?)
        .await
        .map_err(db_error)?;
        if count <= i64::from(buckets) {
            let part = HistoryPart {
                steps: (first, last),
                after: BEFORE_ALL,
                limit: -1,
                offset: 0,
            };
            return self
                .read_history_parts(&request.run_id, key, vec![part])
                .await;
        }
        // Every point on one step (a metric logged without steps, as `log_metric(key, value)` does):
        // buckets over time within that step instead.
        let on_step = (first == last).then_some(first);
        let (first_x, last_x) = match on_step {
            None => (first, last),
            Some(step) => {
                let (low, high): (Option<i64>, Option<i64>) = sqlx::query_as(
                    "SELECT (SELECT timestamp FROM metrics WHERE run_uuid = ?1 AND key = ?2 AND step = ?3 \
                             ORDER BY timestamp LIMIT 1), \
                            (SELECT timestamp FROM metrics WHERE run_uuid = ?1 AND key = ?2 AND step = ?3 \
                             ORDER BY timestamp DESC LIMIT 1)",
                )
                .bind(&request.run_id)
                .bind(key)
                .bind(step)
                .fetch_one(&mut *self.reader().await?)
                .await
                .map_err(db_error)?;
                (low.unwrap_or(0), high.unwrap_or(0))
            }
        };
        let buckets_at = cairn_core::downsample::step_buckets(first_x, last_x, buckets);
        let candidates = if on_step.is_none() && buckets_at.1 >= BLOCK_STEPS {
            // Buckets wider than a block: the blocks' stored extremes stand for their points, and
            // only blocks the requested range cuts are read point by point.
            self.block_extremes(&request.run_id, key, (first, last), (low, high))
                .await?
        } else {
            let bounds = cairn_core::downsample::bucket_bounds(first_x, last_x, buckets);
            self.range_extremes(&request.run_id, key, &bounds, on_step)
                .await?
        };
        // At most the least and the greatest point per bucket, in history order.
        let mut per_bucket: HashMap<i128, (Metric, Metric)> = HashMap::new();
        for point in candidates {
            let x = if on_step.is_some() {
                point.timestamp
            } else {
                point.step
            };
            let bucket = cairn_core::downsample::bucket_of(x, buckets_at);
            per_bucket
                .entry(bucket)
                .and_modify(|(low, high)| {
                    if point.value < low.value {
                        *low = point.clone();
                    }
                    if point.value > high.value {
                        *high = point.clone();
                    }
                })
                .or_insert_with(|| (point.clone(), point));
        }
        let mut points: Vec<Metric> = per_bucket
            .into_values()
            .flat_map(|(low, high)| [low, high])
            .collect();
        points.sort_by(|a, b| {
            (a.step, a.timestamp)
                .cmp(&(b.step, b.timestamp))
                .then(a.value.total_cmp(&b.value))
        });
        points
            .dedup_by(|a, b| a.step == b.step && a.timestamp == b.timestamp && a.value == b.value);
        Ok(points)
    }

    /// Per step range in `bounds` ([low, high] pairs; timestamp ranges within step `on_step` when
    /// given), the points holding its least and greatest value. Each range is an index range read by a correlated subquery (no sort: a GROUP BY over
    /// a step expression sorted every point and took 3x as long); SQLite takes the bare columns from
    /// the row min()/max() chose. The min and max passes run at once on two reader connections.
    async fn range_extremes(
        &self,
        run_id: &str,
        key: &str,
        bounds: &[[i64; 2]],
        on_step: Option<i64>,
    ) -> Result<Vec<Metric>> {
        let range = match on_step {
            None => "step BETWEEN b.value ->> 0 AND b.value ->> 1",
            Some(_) => "step = ?4 AND timestamp BETWEEN b.value ->> 0 AND b.value ->> 1",
        };
        let bounds = serde_json::to_string(bounds)
            .map_err(|error| Error::internal(format!("cannot encode step ranges: {error}")))?;
        let extreme = |aggregate: &'static str| {
            let pool = self.reader.clone();
            let bounds = bounds.clone();
            async move {
                let sql = format!(
                    "SELECT (SELECT json_array({aggregate}(value), step, timestamp, value_bits) FROM metrics \
                         WHERE run_uuid = ?1 AND key = ?2 AND is_nan = 0 AND {range}) \
                     FROM json_each(?3) b"
                );
                let mut query = sqlx::query_as(&sql).bind(run_id).bind(key).bind(&bounds);
                if let Some(step) = on_step {
                    query = query.bind(step);
                }
                let rows: Vec<(Option<String>,)> = query
                    .fetch_all(&mut *pool.acquire().await.map_err(db_error)?)
                    .await
                    .map_err(db_error)?;
                let mut points = Vec::with_capacity(rows.len());
                for (row,) in rows {
                    let Some(row) = row else { continue };
                    let (value, step, timestamp, bits): (
                        Option<f64>,
                        Option<i64>,
                        Option<i64>,
                        Option<i64>,
                    ) = serde_json::from_str(&row).map_err(|error| {
                        Error::internal(format!("unreadable series range '{row}': {error}"))
                    })?;
                    // An empty range (all NaN, or a gap in the steps) has no extreme.
                    let (Some(value), Some(step), Some(timestamp)) = (value, step, timestamp)
                    else {
                        continue;
                    };
                    let value = bits.map_or(value, |bits| f64::from_bits(bits as u64));
                    points.push(Metric::new(key, value, timestamp, step));
                }
                Ok::<_, Error>(points)
            }
        };
        let (lows, highs) = tokio::try_join!(extreme("min"), extreme("max"))?;
        Ok(lows.into_iter().chain(highs).collect())
    }

    /// The stored extremes of the blocks over `[first, last]` (the data's steps within the
    /// requested `range`); a block the range cuts is read point by point over its covered part.
    async fn block_extremes(
        &self,
        run_id: &str,
        key: &str,
        (first, last): (i64, i64),
        (low, high): (i64, i64),
    ) -> Result<Vec<Metric>> {
        type BlockRow = (i64, i64, i64, f64, Option<i64>, i64, i64, f64, Option<i64>);
        let packed: String = sqlx::query_scalar(
            "SELECT json_group_array(json_array(block, min_step, min_timestamp, min_value, min_bits, \
                    max_step, max_timestamp, max_value, max_bits)) \
             FROM metric_blocks WHERE run_uuid = ? AND key = ? AND block BETWEEN ? AND ?",
        )
        .bind(run_id)
        .bind(key)
        .bind(first >> BLOCK_SHIFT)
        .bind(last >> BLOCK_SHIFT)
        .fetch_one(&mut *self.reader().await?)
        .await
        .map_err(db_error)?;
        let rows: Vec<BlockRow> = serde_json::from_str(&packed)
            .map_err(|error| Error::internal(format!("unreadable metric blocks: {error}")))?;
        let exact =
            |value: f64, bits: Option<i64>| bits.map_or(value, |bits| f64::from_bits(bits as u64));
        let mut points = Vec::with_capacity(rows.len() * 2);
        let mut cut = Vec::new();
        for (block, min_step, min_ts, min_value, min_bits, max_step, max_ts, max_value, max_bits) in
            rows
        {
            let start = block.saturating_mul(BLOCK_STEPS);
            let end = start.saturating_add(BLOCK_STEPS - 1);
            if start < low || end > high {
                cut.push([start.max(first), end.min(last)]);
                continue;
            }
            points.push(Metric::new(
                key,
                exact(min_value, min_bits),
                min_ts,
                min_step,
            ));
            points.push(Metric::new(
                key,
                exact(max_value, max_bits),
                max_ts,
                max_step,
            ));
        }
        if !cut.is_empty() {
            points.extend(self.range_extremes(run_id, key, &cut, None).await?);
        }
        Ok(points)
    }

    pub(super) async fn get_metric_history_bulk_interval_impl(
        &self,
        request: HistoryInterval,
    ) -> Result<Vec<Metric>> {
        if request.run_ids.is_empty() || request.max_results == 0 {
            return Ok(Vec::new());
        }
        let mut tx = self.read().await?;
        let runs = json_list(&request.run_ids);
        let start_step = request.start_step.unwrap_or(i64::MIN);
        let end_step = request.end_step.unwrap_or(i64::MAX);
        let steps: Vec<(i64,)> = sqlx::query_as(
            "SELECT DISTINCT step FROM metrics WHERE run_uuid IN (SELECT value FROM json_each(?)) \
             AND key = ? AND step BETWEEN ? AND ? ORDER BY step",
        )
        .bind(&runs)
        .bind(&request.metric_key)
        .bind(start_step)
        .bind(end_step)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        let steps: Vec<i64> = steps.into_iter().map(|(step,)| step).collect();
        let sampled = crate::shared::sample_steps(
            &steps,
            usize::try_from(request.max_results).unwrap_or(usize::MAX),
        );
        let sampled: Vec<serde_json::Value> =
            sampled.into_iter().map(serde_json::Value::from).collect();
        let rows: Vec<MetricRow> = sqlx::query_as(
            "SELECT run_uuid, key, step, timestamp, value, is_nan, model_id, dataset_name, dataset_digest \
             FROM metrics WHERE run_uuid IN (SELECT value FROM json_each(?)) AND key = ? \
             AND step IN (SELECT value FROM json_each(?)) ORDER BY run_uuid, step, timestamp, value",
        )
        .bind(&runs)
        .bind(&request.metric_key)
        .bind(serde_json::Value::Array(sampled).to_string())
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        Ok(crate::shared::metrics_by_run(rows, &request.run_ids))
    }

    pub(super) async fn search_runs_impl(
        &self,
        request: SearchRuns,
    ) -> Result<Page<std::sync::Arc<Run>>> {
        let compiled = filter::compile(&RUNS, &request.filter, &request.order_by)?;
        let experiment_ids: Vec<serde_json::Value> = request
            .experiment_ids
            .iter()
            .filter_map(|id| parse_experiment_id(id))
            .map(serde_json::Value::from)
            .collect();
        // The page: each run's id and `rev`, in search order (`page` is materialized from the
        // ordered query and read back in insertion order).
        let mut sql = Sql::new(
            "WITH page(entry) AS MATERIALIZED (SELECT json_array(r.run_uuid, r.rev) FROM runs r",
        );
        sql.append(compiled.joins);
        sql.push(" WHERE r.experiment_id IN (SELECT value FROM json_each(")
            .bind(Bind::Text(
                serde_json::Value::Array(experiment_ids).to_string(),
            ))
            .push("))");
        sql.push(&view_condition("r.lifecycle_stage", request.view_type));
        sql.append(compiled.conditions);
        sql.push(" ORDER BY ");
        if !compiled.order.text.is_empty() {
            sql.append(compiled.order);
            sql.push(", ");
        }
        if !compiled
            .ordered_attributes
            .iter()
            .any(|key| run_attribute(key).map(|(column, _)| column) == Some("r.start_time"))
        {
            sql.push("r.start_time DESC, ");
        }
        sql.push("r.run_uuid ASC");
        sql.push_page(request.page);
        sql.push(") SELECT '[' || ifnull(group_concat(entry, ','), '') || ']' FROM page");
        let mut conn = self.reader().await?;
        let (page,): (String,) = sql
            .query_as()?
            .fetch_one(&mut *conn)
            .await
            .map_err(db_error)?;
        let page: Vec<(String, i64)> = unpack(&page)?;
        let runs = self
            .runs
            .runs_of_page(&page, |missing| async move {
                load_runs(&mut *conn, &missing).await
            })
            .await?;
        Ok(finish_page(runs, request.page))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_ranges_cover_exactly() {
        assert_eq!(step_ranges(0, 99, 4, 8192), vec![(0, 99)]);
        let ranges = step_ranges(0, 99_999, 4, 8192);
        assert_eq!(ranges.len(), 4);
        assert_eq!(ranges[0].0, 0);
        assert_eq!(ranges[3].1, 99_999);
        for pair in ranges.windows(2) {
            assert_eq!(pair[0].1 + 1, pair[1].0);
        }
        let extreme = step_ranges(i64::MIN, i64::MAX, 4, 8192);
        assert_eq!(extreme.first().unwrap().0, i64::MIN);
        assert_eq!(extreme.last().unwrap().1, i64::MAX);
        for pair in extreme.windows(2) {
            assert_eq!(pair[0].1 + 1, pair[1].0);
        }
    }

    #[test]
    fn latest_order_rules() {
        let point = |step, timestamp, value| Metric::new("m", value, timestamp, step);
        assert_eq!(
            latest_order(&point(2, 0, 0.0), &point(1, 9, 9.0)),
            Ordering::Greater
        );
        assert_eq!(
            latest_order(&point(1, 2, 0.0), &point(1, 1, 9.0)),
            Ordering::Greater
        );
        assert_eq!(
            latest_order(&point(1, 1, 2.0), &point(1, 1, 1.0)),
            Ordering::Greater
        );
    }
}
