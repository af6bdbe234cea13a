//! PostgreSQL: runs: lifecycle, params, tags, metrics, inputs/outputs, history and search.
//!
//! Writes send each kind of row as one set of arrays (`UNNEST($1::text[], ...)`), so a batch costs
//! one statement per kind whatever its size, and every statement text is static (prepared once per
//! connection). Reads load a set of runs by id (`run_uuid = ANY($1)`): the infos, then the metrics,
//! params and tags in one statement (`PARTS_OF`), then the parts few runs have (dataset and model
//! inputs, model outputs) only when one of the runs has them.
//! A search selects its page (run ids and `rev`s), takes what it can from the run cache
//! (`run_cache.rs`), and loads the rest like any set of runs.

use crate::targets::{run_attribute, RUNS};
use std::collections::hash_map::Entry;
use std::collections::HashMap;

use cairn_core::entities::{
    Dataset, DatasetInput, KeyValue, LifecycleStage, Metric, ModelInput, ModelOutput, Page, Run,
    RunData, RunInfo, RunInputs, RunOutputs, RunStatus,
};
use cairn_core::{Error, Result};
use sqlx::PgConnection;

use super::experiments::{active_experiment, parse_experiment_id, view_condition};
use super::{
    db_error, finish_page, load_value, new_uuid_hex, now_ms, parse_column, run_artifact_uri,
    store_value, PgStore,
};
use crate::filter::{self, Bind, Sql};
use crate::shared::{finish_history_page, history_limit};
use crate::{
    CreateRun, HistoryInterval, HistoryPage, LogBatch, SearchRuns, SeriesRequest, UpdateRun,
};

// `postgres/mod.rs` does not declare the name generator; it is this module's alone.

/// The tag MLflow keeps equal to the run name.
const RUN_NAME_TAG: &str = "mlflow.runName";

fn run_not_found(run_id: &str) -> Error {
    Error::not_found(format!("Run with id={run_id} not found"))
}

/// (experiment_id, lifecycle_stage) of a run, or not found.
async fn run_header(conn: &mut PgConnection, run_id: &str) -> Result<(i64, LifecycleStage)> {
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT experiment_id, lifecycle_stage FROM runs WHERE run_uuid = $1")
            .bind(run_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_error)?;
    let (experiment_id, stage) = row.ok_or_else(|| run_not_found(run_id))?;
    Ok((experiment_id, parse_column(&stage)?))
}

fn run_not_active(run_id: &str, stage: LifecycleStage) -> Error {
    Error::invalid(format!(
        "The run {run_id} must be in the 'active' state. Current state is {stage}."
    ))
}

/// The run must exist and be active; returns its experiment id.
async fn active_run(conn: &mut PgConnection, run_id: &str) -> Result<i64> {
    let (experiment_id, stage) = run_header(conn, run_id).await?;
    if stage != LifecycleStage::Active {
        return Err(run_not_active(run_id, stage));
    }
    Ok(experiment_id)
}

/// The columns of a run's info, in the order of [`InfoRow`], for a `runs` table aliased `r`.
macro_rules! info_columns {
    () => {
        "r.run_uuid, r.experiment_id, r.name, r.user_id, r.status, r.start_time, r.end_time, \
         r.artifact_uri, r.lifecycle_stage"
    };
}

/// [`InfoRow`] and whether the run has dataset inputs, model inputs, model outputs.
type InfoPartsRow = (
    String,
    i64,
    String,
    String,
    String,
    i64,
    Option<i64>,
    String,
    String,
    bool,
    bool,
    bool,
);

use crate::run_parts::{info_from_row, InfoRow};
use crate::shared::MetricRow;

/// A point of one metric's history: (step, timestamp, value, is_nan, model_id, dataset_name,
/// dataset_digest).
/// A history as columns: one row of arrays instead of a row per point, which sqlx decodes several
/// times faster (a 100,000-point history is one message, not 100,000).
type HistoryColumns = (
    Vec<i64>,
    Vec<i64>,
    Vec<f64>,
    Vec<bool>,
    Vec<Option<String>>,
    Vec<Option<String>>,
    Vec<Option<String>>,
);

type DatasetRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

fn empty_run(info: RunInfo) -> Run {
    Run {
        info,
        data: RunData::default(),
        inputs: RunInputs::default(),
        outputs: RunOutputs::default(),
    }
}

/// Which of the seldom used parts have rows for at least one run of a set.
#[derive(Debug, Default, Clone, Copy)]
struct PresentParts {
    dataset_inputs: bool,
    model_inputs: bool,
    model_outputs: bool,
}

impl PresentParts {
    fn or(self, other: PresentParts) -> PresentParts {
        PresentParts {
            dataset_inputs: self.dataset_inputs || other.dataset_inputs,
            model_inputs: self.model_inputs || other.model_inputs,
            model_outputs: self.model_outputs || other.model_outputs,
        }
    }
}

/// Loads whole runs, in the order of `run_ids` (missing ids are skipped).
async fn load_runs(conn: &mut PgConnection, run_ids: &[String]) -> Result<Vec<Run>> {
    if run_ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<InfoPartsRow> = sqlx::query_as(concat!(
        "SELECT ",
        info_columns!(),
        ", EXISTS (SELECT 1 FROM run_dataset_inputs i WHERE i.run_uuid = r.run_uuid), \
         EXISTS (SELECT 1 FROM run_model_inputs i WHERE i.run_uuid = r.run_uuid), \
         EXISTS (SELECT 1 FROM run_model_outputs o WHERE o.run_uuid = r.run_uuid) \
         FROM runs r WHERE r.run_uuid = ANY($1)"
    ))
    .bind(run_ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    let mut present = PresentParts::default();
    let mut by_id: HashMap<String, Run> = HashMap::with_capacity(rows.len());
    for row in rows {
        let (a, b, c, d, e, f, g, h, i, dataset_inputs, model_inputs, model_outputs) = row;
        present = present.or(PresentParts {
            dataset_inputs,
            model_inputs,
            model_outputs,
        });
        let info = info_from_row((a, b, c, d, e, f, g, h, i))?;
        by_id.insert(info.run_id.clone(), empty_run(info));
    }
    let mut runs: Vec<Run> = run_ids.iter().filter_map(|id| by_id.remove(id)).collect();
    load_run_data(conn, &mut runs, present).await?;
    Ok(runs)
}

/// The runs' ids, in order.
fn run_ids(runs: &[Run]) -> Vec<String> {
    runs.iter().map(|run| run.info.run_id.clone()).collect()
}

/// Each id's position in `ids`.
fn positions(ids: &[String]) -> HashMap<&str, usize> {
    ids.iter()
        .enumerate()
        .map(|(position, id)| (id.as_str(), position))
        .collect()
}

/// Fills the data, inputs and outputs of `runs` (which hold their infos only): one query per part.
async fn load_run_data(
    conn: &mut PgConnection,
    runs: &mut [Run],
    present: PresentParts,
) -> Result<()> {
    if runs.is_empty() {
        return Ok(());
    }
    let ids = run_ids(runs);
    let index = positions(&ids);
    let run_for = |run_id: &str| index.get(run_id).copied();

    let rows: Vec<PartRow> = sqlx::query_as(PARTS_OF)
        .bind(&ids)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
    fill_parts(runs, rows)?;

    load_rare_parts(conn, runs, present, &ids, &run_for).await
}

/// The parts few runs have (dataset inputs, model inputs and outputs), each only when `present`
/// says some run of the set has it. `run_for` maps a run id to its position in `runs`.
async fn load_rare_parts(
    conn: &mut PgConnection,
    runs: &mut [Run],
    present: PresentParts,
    ids: &[String],
    run_for: &(dyn Fn(&str) -> Option<usize> + Sync),
) -> Result<()> {
    if present.dataset_inputs {
        let datasets: Vec<DatasetRow> = sqlx::query_as(
            "SELECT i.run_uuid, d.dataset_uuid, d.name, d.digest, d.source_type, d.source, \
             d.schema, d.profile FROM run_dataset_inputs i \
             JOIN datasets d ON d.dataset_uuid = i.dataset_uuid \
             WHERE i.run_uuid = ANY($1) ORDER BY i.seq",
        )
        .bind(ids)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
        let input_tags: Vec<(String, String, String, String)> = sqlx::query_as(
            "SELECT run_uuid, dataset_uuid, key, value FROM run_dataset_input_tags \
             WHERE run_uuid = ANY($1) ORDER BY seq",
        )
        .bind(ids)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
        let mut tags: HashMap<(String, String), Vec<KeyValue>> = HashMap::new();
        for (run_id, dataset_uuid, key, value) in input_tags {
            tags.entry((run_id, dataset_uuid))
                .or_default()
                .push(KeyValue { key, value });
        }
        for (run_id, dataset_uuid, name, digest, source_type, source, schema, profile) in datasets {
            let Some(position) = run_for(&run_id) else {
                continue;
            };
            let input_tags = tags.remove(&(run_id, dataset_uuid)).unwrap_or_default();
            runs[position].inputs.dataset_inputs.push(DatasetInput {
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

    if present.model_inputs {
        let inputs: Vec<(String, String)> = sqlx::query_as(
            "SELECT run_uuid, model_id FROM run_model_inputs WHERE run_uuid = ANY($1) ORDER BY seq",
        )
        .bind(ids)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
        for (run_id, model_id) in inputs {
            if let Some(position) = run_for(&run_id) {
                runs[position]
                    .inputs
                    .model_inputs
                    .push(ModelInput { model_id });
            }
        }
    }

    if present.model_outputs {
        let outputs: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT run_uuid, model_id, step FROM run_model_outputs WHERE run_uuid = ANY($1) \
             ORDER BY seq",
        )
        .bind(ids)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
        for (run_id, model_id, step) in outputs {
            if let Some(position) = run_for(&run_id) {
                runs[position]
                    .outputs
                    .model_outputs
                    .push(ModelOutput { model_id, step });
            }
        }
    }
    Ok(())
}

/// The latest metrics (part 1), params (2) and tags (3) of the runs `$1`, in one statement (one
/// round trip and one id array instead of two), in the columns of [`PartRow`]. Rows of one part
/// come in any order: `seq` orders the params and tags.
const PARTS_OF: &str = "\
    WITH page AS (SELECT run_uuid FROM unnest($1::text[]) AS ids(run_uuid)) \
    SELECT 1, m.run_uuid, m.step, m.timestamp, m.key, m.model_id, m.dataset_name, \
           m.dataset_digest, m.value, m.is_nan \
      FROM page JOIN latest_metrics m ON m.run_uuid = page.run_uuid \
    UNION ALL SELECT 2, p.run_uuid, p.seq, NULL, p.key, p.value, NULL, NULL, NULL, NULL \
      FROM page JOIN params p ON p.run_uuid = page.run_uuid \
    UNION ALL SELECT 3, t.run_uuid, t.seq, NULL, t.key, t.value, NULL, NULL, NULL, NULL \
      FROM page JOIN tags t ON t.run_uuid = page.run_uuid";

/// A row of [`PARTS_OF`]: (part, run_uuid, two integers, four texts, a number, a boolean); which
/// column holds what depends on the part.
type PartRow = (
    i32,
    String,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<f64>,
    Option<bool>,
);

fn missing_column(part: i32) -> Error {
    Error::internal(format!("search row of part {part} lacks a column"))
}

/// Fills `runs` (infos only) with the metrics, params and tags in the rows of [`PARTS_OF`].
fn fill_parts(runs: &mut [Run], rows: Vec<PartRow>) -> Result<()> {
    let index: HashMap<String, usize> = runs
        .iter()
        .enumerate()
        .map(|(position, run)| (run.info.run_id.clone(), position))
        .collect();
    let mut pairs: Vec<(i32, i64, usize, String, String)> = Vec::new();
    for (part, run_uuid, n1, n2, t1, t2, t3, t4, number, is_nan) in rows {
        let Some(&position) = index.get(&run_uuid) else {
            continue;
        };
        let key = t1.ok_or_else(|| missing_column(part))?;
        let seq_or_step = n1.ok_or_else(|| missing_column(part))?;
        if part == 1 {
            let value = number.ok_or_else(|| missing_column(part))?;
            runs[position].data.metrics.push(Metric {
                key,
                value: load_value(value, is_nan.unwrap_or(false)),
                timestamp: n2.ok_or_else(|| missing_column(part))?,
                step: seq_or_step,
                model_id: t2,
                dataset_name: t3,
                dataset_digest: t4,
                run_id: None,
            });
        } else {
            let value = t2.ok_or_else(|| missing_column(part))?;
            pairs.push((part, seq_or_step, position, key, value));
        }
    }
    // Params and tags in insertion order; metrics by key, in byte order whatever the collation.
    pairs.sort_unstable_by_key(|(part, seq, ..)| (*part, *seq));
    for (part, _, position, key, value) in pairs {
        let data = &mut runs[position].data;
        let list = if part == 2 {
            &mut data.params
        } else {
            &mut data.tags
        };
        list.push(KeyValue { key, value });
    }
    for run in runs.iter_mut() {
        run.data
            .metrics
            .sort_unstable_by(|left, right| left.key.cmp(&right.key));
    }
    Ok(())
}

/// Key/value pairs as two columns, one row per key: a key given twice keeps its first position and
/// its last value (what a row-by-row upsert would leave). PostgreSQL refuses to upsert one row twice
/// in a statement, so upserts go through this.
pub(super) fn last_values(items: &[KeyValue]) -> (Vec<&str>, Vec<&str>) {
    let mut positions: HashMap<&str, usize> = HashMap::with_capacity(items.len());
    let mut keys = Vec::with_capacity(items.len());
    let mut values = Vec::with_capacity(items.len());
    for item in items {
        match positions.entry(item.key.as_str()) {
            Entry::Occupied(entry) => values[*entry.get()] = item.value.as_str(),
            Entry::Vacant(entry) => {
                entry.insert(keys.len());
                keys.push(item.key.as_str());
                values.push(item.value.as_str());
            }
        }
    }
    (keys, values)
}

/// Upserts run tags in one statement (a key given twice keeps its last value). The run's name is
/// left as it is: callers that follow MLflow's `mlflow.runName` rule use [`sync_run_name`] too.
pub(super) async fn insert_tags(
    conn: &mut PgConnection,
    run_id: &str,
    tags: &[KeyValue],
) -> Result<()> {
    if tags.is_empty() {
        return Ok(());
    }
    let (keys, values) = last_values(tags);
    sqlx::query(
        "INSERT INTO tags (run_uuid, key, value) \
         SELECT $1, key, value FROM UNNEST($2::text[], $3::text[]) AS input(key, value) \
         ON CONFLICT (run_uuid, key) DO UPDATE SET value = excluded.value",
    )
    .bind(run_id)
    .bind(keys)
    .bind(values)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Sets the run's name to the last `mlflow.runName` among `tags`, if any.
async fn sync_run_name(conn: &mut PgConnection, run_id: &str, tags: &[KeyValue]) -> Result<()> {
    let Some(name_tag) = tags.iter().rev().find(|tag| tag.key == RUN_NAME_TAG) else {
        return Ok(());
    };
    sqlx::query("UPDATE runs SET name = $1 WHERE run_uuid = $2")
        .bind(&name_tag.value)
        .bind(run_id)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Inserts params, refusing changed values (MLflow's wording). Safe against concurrent writers of
/// the same key: the insert skips keys that exist (waiting for an uncommitted writer of the key to
/// finish), and only then are the stored values compared, in a statement that sees them.
pub(super) async fn insert_params(
    conn: &mut PgConnection,
    run_id: &str,
    params: &[KeyValue],
) -> Result<()> {
    if params.is_empty() {
        return Ok(());
    }
    let keys: Vec<&str> = params.iter().map(|param| param.key.as_str()).collect();
    let values: Vec<&str> = params.iter().map(|param| param.value.as_str()).collect();
    let inserted = sqlx::query(
        "INSERT INTO params (run_uuid, key, value) \
         SELECT $1, key, value FROM UNNEST($2::text[], $3::text[]) AS input(key, value) \
         ON CONFLICT (run_uuid, key) DO NOTHING",
    )
    .bind(run_id)
    .bind(&keys)
    .bind(&values)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?
    .rows_affected();
    if usize::try_from(inserted).is_ok_and(|inserted| inserted == params.len()) {
        return Ok(());
    }
    let stored: Vec<(String, String)> =
        sqlx::query_as("SELECT key, value FROM params WHERE run_uuid = $1 AND key = ANY($2)")
            .bind(run_id)
            .bind(&keys)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_error)?;
    let stored: HashMap<String, String> = stored.into_iter().collect();
    let conflicts: Vec<(&KeyValue, &String)> = params
        .iter()
        .filter_map(|param| {
            stored
                .get(&param.key)
                .filter(|old| **old != param.value)
                .map(|old| (param, old))
        })
        .collect();
    if let ([(param, old)], 1) = (conflicts.as_slice(), params.len()) {
        return Err(Error::invalid(format!(
            "Changing param values is not allowed. Param with key='{}' was already logged with value='{}' \
             for run ID='{run_id}'. Attempted logging new value '{}'.",
            param.key, old, param.value
        )));
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
    Ok(())
}

/// Metric points as columns, for `UNNEST`. NaN travels as (0, is_nan), as it is stored.
#[derive(Default)]
struct MetricColumns<'a> {
    keys: Vec<&'a str>,
    steps: Vec<i64>,
    timestamps: Vec<i64>,
    values: Vec<f64>,
    is_nan: Vec<bool>,
    model_ids: Vec<Option<&'a str>>,
    dataset_names: Vec<Option<&'a str>>,
    dataset_digests: Vec<Option<&'a str>>,
}

impl<'a> MetricColumns<'a> {
    /// `$1` the run id, `$2..$9` the columns, as [`metric_writes`] numbers them.
    fn arguments(&self, run_id: &str) -> Result<sqlx::postgres::PgArguments> {
        use sqlx::Arguments as _;
        let mut arguments = sqlx::postgres::PgArguments::default();
        let bind_error = |error| Error::internal(format!("cannot bind metric columns: {error}"));
        arguments.add(run_id).map_err(bind_error)?;
        arguments.add(&self.keys).map_err(bind_error)?;
        arguments.add(&self.steps).map_err(bind_error)?;
        arguments.add(&self.timestamps).map_err(bind_error)?;
        arguments.add(&self.values).map_err(bind_error)?;
        arguments.add(&self.is_nan).map_err(bind_error)?;
        arguments.add(&self.model_ids).map_err(bind_error)?;
        arguments.add(&self.dataset_names).map_err(bind_error)?;
        arguments.add(&self.dataset_digests).map_err(bind_error)?;
        Ok(arguments)
    }

    fn new<'m: 'a>(metrics: impl Iterator<Item = &'m Metric>) -> MetricColumns<'a> {
        let mut columns = MetricColumns::default();
        for metric in metrics {
            let (value, is_nan) = store_value(metric.value);
            columns.keys.push(&metric.key);
            columns.steps.push(metric.step);
            columns.timestamps.push(metric.timestamp);
            columns.values.push(value);
            columns.is_nan.push(is_nan);
            columns.model_ids.push(metric.model_id.as_deref());
            columns.dataset_names.push(metric.dataset_name.as_deref());
            columns
                .dataset_digests
                .push(metric.dataset_digest.as_deref());
        }
        columns
    }
}

/// The metric writes of [`insert_metrics`] as `WITH` parts (`point`, `history`, `latest`), to be
/// followed by a `SELECT`. `$guard` is a condition on the points (empty, or a `WHERE`).
macro_rules! metric_writes {
    ($guard:literal) => {
        metric_writes!($guard, "ON CONFLICT DO NOTHING")
    };
    ($guard:literal, $on_conflict:literal) => {
        concat!(
            "WITH point AS MATERIALIZED ( \
                 SELECT * FROM UNNEST($2::text[], $3::bigint[], $4::bigint[], $5::float8[], \
                     $6::boolean[], $7::text[], $8::text[], $9::text[]) WITH ORDINALITY \
                 AS point(key, step, timestamp, value, is_nan, model_id, dataset_name, dataset_digest, \
                     ordinal) ",
            $guard,
            "), \
             history AS ( \
                 INSERT INTO metrics (run_uuid, key, step, timestamp, value, is_nan, model_id, \
                     dataset_name, dataset_digest) \
                 SELECT $1, key, step, timestamp, value, is_nan, model_id, dataset_name, dataset_digest \
                 FROM point ORDER BY key, step, timestamp, value, is_nan ",
            $on_conflict,
            "), \
             latest AS ( \
                 INSERT INTO latest_metrics (run_uuid, key, step, timestamp, value, is_nan, model_id, \
                     dataset_name, dataset_digest) \
                 SELECT DISTINCT ON (key) $1, key, step, timestamp, value, is_nan, model_id, dataset_name, \
                     dataset_digest \
                 FROM point ORDER BY key, step DESC, timestamp DESC, value DESC, ordinal \
                 ON CONFLICT (run_uuid, key) DO UPDATE SET step = excluded.step, \
                     timestamp = excluded.timestamp, value = excluded.value, is_nan = excluded.is_nan, \
                     model_id = excluded.model_id, dataset_name = excluded.dataset_name, \
                     dataset_digest = excluded.dataset_digest \
                 WHERE (excluded.step, excluded.timestamp, excluded.value) \
                     > (latest_metrics.step, latest_metrics.timestamp, latest_metrics.value)) "
        )
    };
}

/// A run's metric points (identical points collapse on the primary key) and, per key, the latest
/// point: the batch's greatest by (step, timestamp, value), the first of equals, kept only if greater
/// than the one stored (NaN counts as 0, as stored). One statement; concurrent writers of a key
/// serialize on its `latest_metrics` row, and the greater point wins whatever the order. Rows are
/// written in key order, so two batches that share keys wait for each other instead of deadlocking.
pub(super) async fn insert_metrics(
    conn: &mut PgConnection,
    run_id: &str,
    metrics: &[Metric],
) -> Result<()> {
    if metrics.is_empty() {
        return Ok(());
    }
    let columns = MetricColumns::new(metrics.iter());
    sqlx::query_with(
        concat!(metric_writes!(""), "SELECT 1"),
        columns.arguments(run_id)?,
    )
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// A batch of metrics only (no params, tags or logged models), in one statement without a
/// transaction: the points are written only if the run is active, and the statement returns the
/// run's lifecycle stage to tell the caller which error applies otherwise. One round trip instead
/// of five: this is `log-metric`'s whole cost.
///
/// The points go in with a plain INSERT first: `ON CONFLICT DO NOTHING` costs PostgreSQL a
/// speculative insertion per row (1,000 points: ~12 ms against ~8.6 ms on the development VM). A
/// batch that repeats a stored point (a client's retry) fails as a whole on the primary key and is
/// written again with the conflict clause; nothing of the failed statement remains.
async fn log_metrics_only(pool: &sqlx::PgPool, run_id: &str, metrics: &[Metric]) -> Result<()> {
    /// The statement; `$on_conflict` follows the points' INSERT (none given: `ON CONFLICT DO
    /// NOTHING`, as in `metric_writes!`).
    macro_rules! metrics_only {
        ($($on_conflict:literal)?) => {
            concat!(
                metric_writes!(
                    "WHERE EXISTS (SELECT 1 FROM runs WHERE run_uuid = $1 AND lifecycle_stage = 'active')"
                    $(, $on_conflict)?
                ),
                "SELECT lifecycle_stage FROM runs WHERE run_uuid = $1"
            )
        };
    }
    let columns = MetricColumns::new(metrics.iter());
    let run = |text: &'static str| -> Result<_> {
        Ok(sqlx::query_as_with(text, columns.arguments(run_id)?).fetch_optional(pool))
    };
    let stage: Option<(String,)> = match run(metrics_only!(""))?.await {
        Err(sqlx::Error::Database(error)) if error.constraint() == Some("metrics_pkey") => {
            run(metrics_only!())?.await.map_err(db_error)?
        }
        other => other.map_err(db_error)?,
    };
    let (stage,) = stage.ok_or_else(|| run_not_found(run_id))?;
    let stage: LifecycleStage = parse_column(&stage)?;
    if stage != LifecycleStage::Active {
        return Err(run_not_active(run_id, stage));
    }
    Ok(())
}

/// Metrics that name a logged model are attached to it too (unknown models are skipped).
async fn attach_model_metrics(
    conn: &mut PgConnection,
    run_id: &str,
    metrics: &[Metric],
) -> Result<()> {
    if metrics.iter().all(|metric| metric.model_id.is_none()) {
        return Ok(());
    }
    let columns = MetricColumns::new(metrics.iter().filter(|metric| metric.model_id.is_some()));
    sqlx::query(
        "INSERT INTO logged_model_metrics (model_id, key, step, timestamp, value, is_nan, run_uuid, \
             dataset_name, dataset_digest) \
         SELECT point.model_id, point.key, point.step, point.timestamp, point.value, point.is_nan, \
             $1, point.dataset_name, point.dataset_digest \
         FROM UNNEST($2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::float8[], \
             $7::boolean[], $8::text[], $9::text[]) \
         AS point(model_id, key, step, timestamp, value, is_nan, dataset_name, dataset_digest) \
         WHERE EXISTS (SELECT 1 FROM logged_models m WHERE m.model_id = point.model_id) \
         ON CONFLICT DO NOTHING",
    )
    .bind(run_id)
    .bind(&columns.model_ids)
    .bind(&columns.keys)
    .bind(&columns.steps)
    .bind(&columns.timestamps)
    .bind(&columns.values)
    .bind(&columns.is_nan)
    .bind(&columns.dataset_names)
    .bind(&columns.dataset_digests)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// A run's dataset inputs: each dataset once per experiment (by name and digest; an existing one is
/// kept as it is), the input links in the order given, and their tags (upserted). Two statements
/// whatever the number of inputs.
pub(super) async fn insert_dataset_inputs(
    conn: &mut PgConnection,
    experiment_id: i64,
    run_id: &str,
    datasets: &[DatasetInput],
) -> Result<()> {
    if datasets.is_empty() {
        return Ok(());
    }
    let uuids: Vec<String> = datasets.iter().map(|_| new_uuid_hex()).collect();
    let column = |field: fn(&Dataset) -> &str| -> Vec<&str> {
        datasets.iter().map(|input| field(&input.dataset)).collect()
    };
    let names = column(|dataset| &dataset.name);
    let digests = column(|dataset| &dataset.digest);
    let source_types = column(|dataset| &dataset.source_type);
    let sources = column(|dataset| &dataset.source);
    let optional_column = |field: fn(&Dataset) -> Option<&str>| -> Vec<Option<&str>> {
        datasets.iter().map(|input| field(&input.dataset)).collect()
    };
    let schemas = optional_column(|dataset| dataset.schema.as_deref());
    let profiles = optional_column(|dataset| dataset.profile.as_deref());
    sqlx::query(
        "INSERT INTO datasets (dataset_uuid, experiment_id, name, digest, source_type, source, \
             schema, profile) \
         SELECT input.dataset_uuid, $1, input.name, input.digest, input.source_type, input.source, \
             input.schema, input.profile \
         FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
             $8::text[]) \
         AS input(dataset_uuid, name, digest, source_type, source, schema, profile) \
         ON CONFLICT (experiment_id, name, digest) DO NOTHING",
    )
    .bind(experiment_id)
    .bind(&uuids)
    .bind(&names)
    .bind(&digests)
    .bind(&source_types)
    .bind(&sources)
    .bind(&schemas)
    .bind(&profiles)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;

    // Input tags, one row per (dataset, key): the last value given wins, as with row-by-row upserts.
    let mut positions: HashMap<(&str, &str, &str), usize> = HashMap::new();
    let mut tag_names: Vec<&str> = Vec::new();
    let mut tag_digests: Vec<&str> = Vec::new();
    let mut tag_keys: Vec<&str> = Vec::new();
    let mut tag_values: Vec<&str> = Vec::new();
    for input in datasets {
        let (name, digest) = (input.dataset.name.as_str(), input.dataset.digest.as_str());
        for tag in &input.tags {
            match positions.entry((name, digest, tag.key.as_str())) {
                Entry::Occupied(entry) => tag_values[*entry.get()] = tag.value.as_str(),
                Entry::Vacant(entry) => {
                    entry.insert(tag_keys.len());
                    tag_names.push(name);
                    tag_digests.push(digest);
                    tag_keys.push(tag.key.as_str());
                    tag_values.push(tag.value.as_str());
                }
            }
        }
    }
    // A new statement: it sees the datasets above, and those that concurrent writers committed.
    sqlx::query(
        "WITH input AS ( \
             SELECT name, digest, MIN(ordinal) AS ordinal \
             FROM UNNEST($3::text[], $4::text[]) WITH ORDINALITY AS input(name, digest, ordinal) \
             GROUP BY name, digest), \
         linked AS ( \
             INSERT INTO run_dataset_inputs (run_uuid, dataset_uuid) \
             SELECT $2, d.dataset_uuid FROM input \
             JOIN datasets d ON d.experiment_id = $1 AND d.name = input.name \
                 AND d.digest = input.digest \
             ORDER BY input.ordinal \
             ON CONFLICT DO NOTHING) \
         INSERT INTO run_dataset_input_tags (run_uuid, dataset_uuid, key, value) \
         SELECT $2, d.dataset_uuid, tag.key, tag.value \
         FROM UNNEST($5::text[], $6::text[], $7::text[], $8::text[]) WITH ORDINALITY \
             AS tag(name, digest, key, value, ordinal) \
         JOIN datasets d ON d.experiment_id = $1 AND d.name = tag.name AND d.digest = tag.digest \
         ORDER BY tag.ordinal \
         ON CONFLICT (run_uuid, dataset_uuid, key) DO UPDATE SET value = excluded.value",
    )
    .bind(experiment_id)
    .bind(run_id)
    .bind(&names)
    .bind(&digests)
    .bind(&tag_names)
    .bind(&tag_digests)
    .bind(&tag_keys)
    .bind(&tag_values)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

impl PgStore {
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
        let artifact_uri = run_artifact_uri(&artifact_location, &run_id);
        sqlx::query(
            "INSERT INTO runs (run_uuid, experiment_id, name, user_id, status, start_time, end_time, \
             artifact_uri, lifecycle_stage) VALUES ($1, $2, $3, $4, 'RUNNING', $5, NULL, $6, 'active')",
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
        insert_tags(&mut tx, &run_id, &tags).await?;
        tx.commit().await.map_err(db_error)?;
        self.activity.created_runs(1);

        // What the database now holds for the new run, without reading it back.
        let (keys, values) = last_values(&tags);
        let stored_tags = keys
            .into_iter()
            .zip(values)
            .map(|(key, value)| KeyValue::new(key, value))
            .collect();
        let mut run = empty_run(RunInfo {
            run_id,
            experiment_id: experiment_id.to_string(),
            run_name,
            user_id: request.user_id,
            status: RunStatus::Running,
            start_time: request.start_time,
            end_time: None,
            artifact_uri,
            lifecycle_stage: LifecycleStage::Active,
        });
        run.data.tags = stored_tags;
        Ok(run)
    }

    pub(super) async fn get_run_impl(&self, run_id: &str) -> Result<Run> {
        let mut tx = self.read().await?;
        let run = load_runs(&mut tx, &[run_id.to_owned()])
            .await?
            .pop()
            .ok_or_else(|| run_not_found(run_id))?;
        tx.commit().await.map_err(db_error)?;
        Ok(run)
    }

    pub(super) async fn update_run_impl(&self, request: UpdateRun) -> Result<RunInfo> {
        let run_name = request.run_name.filter(|name| !name.is_empty());
        // One statement: the update (of an active run only) and, with a new name, its tag.
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        let row: Option<InfoRow> = sqlx::query_as(concat!(
            "WITH updated AS (UPDATE runs r SET status = COALESCE($2, r.status), \
             end_time = COALESCE($3, r.end_time), name = COALESCE($4, r.name) \
             WHERE r.run_uuid = $1 AND r.lifecycle_stage = 'active' RETURNING ",
            info_columns!(),
            "), name_tag AS (INSERT INTO tags (run_uuid, key, value) \
             SELECT run_uuid, $5, $4 FROM updated WHERE $4 IS NOT NULL \
             ON CONFLICT (run_uuid, key) DO UPDATE SET value = excluded.value) \
             SELECT * FROM updated"
        ))
        .bind(&request.run_id)
        .bind(request.status.map(|status| status.as_str()))
        .bind(request.end_time)
        .bind(run_name.as_deref())
        .bind(RUN_NAME_TAG)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
        match row {
            Some(row) => info_from_row(row),
            None => {
                let (_, stage) = run_header(&mut conn, &request.run_id).await?;
                Err(run_not_active(&request.run_id, stage))
            }
        }
    }

    pub(super) async fn set_run_lifecycle(&self, run_id: &str, delete: bool) -> Result<()> {
        let (stage, deleted_time) = if delete {
            (LifecycleStage::Deleted, Some(now_ms()))
        } else {
            (LifecycleStage::Active, None)
        };
        let updated = sqlx::query(
            "UPDATE runs SET lifecycle_stage = $1, deleted_time = $2 WHERE run_uuid = $3",
        )
        .bind(stage.as_str())
        .bind(deleted_time)
        .bind(run_id)
        .execute(&self.pool)
        .await
        .map_err(db_error)?
        .rows_affected();
        if updated == 0 {
            return Err(run_not_found(run_id));
        }
        Ok(())
    }

    pub(super) async fn delete_run_tag_impl(&self, run_id: &str, key: &str) -> Result<()> {
        let mut tx = self.write().await?;
        active_run(&mut tx, run_id).await?;
        let deleted = sqlx::query("DELETE FROM tags WHERE run_uuid = $1 AND key = $2")
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
            && !batch.metrics.is_empty()
            && batch.metrics.iter().all(|metric| metric.model_id.is_none())
        {
            log_metrics_only(&self.pool, run_id, &batch.metrics).await?;
            self.activity
                .logged_points(u64::try_from(batch.metrics.len()).unwrap_or(u64::MAX));
            return Ok(());
        }
        let mut tx = self.write().await?;
        active_run(&mut tx, run_id).await?;
        insert_params(&mut tx, run_id, &batch.params).await?;
        insert_metrics(&mut tx, run_id, &batch.metrics).await?;
        attach_model_metrics(&mut tx, run_id, &batch.metrics).await?;
        insert_tags(&mut tx, run_id, &batch.tags).await?;
        sync_run_name(&mut tx, run_id, &batch.tags).await?;
        tx.commit().await.map_err(db_error)?;
        self.activity
            .logged_points(u64::try_from(batch.metrics.len()).unwrap_or(u64::MAX));
        Ok(())
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
        if !models.is_empty() {
            let model_ids: Vec<&str> = models.iter().map(|model| model.model_id.as_str()).collect();
            sqlx::query(
                "INSERT INTO run_model_inputs (run_uuid, model_id) \
                 SELECT $1, model_id FROM UNNEST($2::text[]) AS input(model_id) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(run_id)
            .bind(&model_ids)
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
        if !models.is_empty() {
            let model_ids: Vec<&str> = models.iter().map(|model| model.model_id.as_str()).collect();
            let steps: Vec<i64> = models.iter().map(|model| model.step).collect();
            sqlx::query(
                "INSERT INTO run_model_outputs (run_uuid, model_id, step) \
                 SELECT $1, model_id, step FROM UNNEST($2::text[], $3::bigint[]) \
                 AS output(model_id, step) ON CONFLICT DO NOTHING",
            )
            .bind(run_id)
            .bind(&model_ids)
            .bind(&steps)
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
        // No page: the whole history (`LIMIT NULL` is no limit). A page whose token says where the
        // previous one ended starts right after that point (an index seek, not an OFFSET skip).
        let (limit, offset) = match page {
            Some(page) if page.after.is_some() => (Some(history_limit(page)), 0),
            Some(page) => (
                Some(history_limit(page)),
                i64::try_from(page.offset).unwrap_or(i64::MAX),
            ),
            None => (None, 0),
        };
        let after = page.and_then(|page| page.after);
        let seek = if after.is_some() {
            "AND (step, timestamp, value, is_nan) > ($5, $6, $7, $8) "
        } else {
            ""
        };
        let sql = format!(
            "SELECT COALESCE(array_agg(step), '{{}}'), COALESCE(array_agg(timestamp), '{{}}'), \
                 COALESCE(array_agg(value), '{{}}'), COALESCE(array_agg(is_nan), '{{}}'), \
                 COALESCE(array_agg(model_id), '{{}}'), COALESCE(array_agg(dataset_name), '{{}}'), \
                 COALESCE(array_agg(dataset_digest), '{{}}') \
             FROM (SELECT step, timestamp, value, is_nan, model_id, dataset_name, dataset_digest \
                 FROM metrics WHERE run_uuid = $1 AND key = $2 {seek}\
                 ORDER BY step, timestamp, value, is_nan LIMIT $3 OFFSET $4) AS page"
        );
        let mut query = sqlx::query_as(&sql)
            .bind(run_id)
            .bind(metric_key)
            .bind(limit)
            .bind(offset);
        if let Some(after) = after {
            query = query
                .bind(after.step)
                .bind(after.timestamp)
                .bind(after.value)
                .bind(after.is_nan);
        }
        let (steps, timestamps, values, is_nan, model_ids, dataset_names, dataset_digests): HistoryColumns =
            query.fetch_one(&self.pool).await.map_err(db_error)?;
        let mut metrics: Vec<Metric> = steps
            .into_iter()
            .zip(timestamps)
            .zip(values.into_iter().zip(is_nan))
            .zip(
                model_ids
                    .into_iter()
                    .zip(dataset_names)
                    .zip(dataset_digests),
            )
            .map(
                |(
                    ((step, timestamp), (value, is_nan)),
                    ((model_id, dataset_name), dataset_digest),
                )| {
                    Metric {
                        key: metric_key.to_owned(),
                        value: load_value(value, is_nan),
                        timestamp,
                        step,
                        model_id,
                        dataset_name,
                        dataset_digest,
                        run_id: None,
                    }
                },
            )
            .collect();
        // `array_agg` keeps the subquery's order in practice, but SQL does not promise it: sort
        // (linear on input that is already in order). NaN is stored as 0, as the key orders it.
        metrics.sort_by(|a, b| {
            let key = |m: &Metric| (m.step, m.timestamp, store_value(m.value));
            let (left, right) = (key(a), key(b));
            left.0
                .cmp(&right.0)
                .then(left.1.cmp(&right.1))
                .then(left.2 .0.total_cmp(&right.2 .0))
                .then(left.2 .1.cmp(&right.2 .1))
        });
        Ok(match page {
            Some(page) => finish_history_page(metrics, page),
            None => Page {
                items: metrics,
                next_page_token: None,
            },
        })
    }

    pub(super) async fn metric_series_impl(&self, request: SeriesRequest) -> Result<Vec<Metric>> {
        let key = request.metric_key.as_str();
        // The steps that hold points, within the requested range.
        let (low, high) = request.steps.unwrap_or((i64::MIN, i64::MAX));
        let (first, last): (Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT min(step), max(step) FROM metrics WHERE run_uuid = $1 AND key = $2 \
             AND step BETWEEN $3 AND $4",
        )
        .bind(&request.run_id)
        .bind(key)
        .bind(low)
        .bind(high)
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        let (Some(first), Some(last)) = (first, last) else {
            return Ok(Vec::new());
        };
        let buckets = request.buckets.max(1);
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT 1 FROM metrics WHERE run_uuid = $1 AND key = $2 \
             AND step BETWEEN $3 AND $4 LIMIT $5) AS probe",
        )
        .bind(&request.run_id)
        .bind(key)
        .bind(first)
        .bind(last)
        .bind(i64::from(buckets) + 1)
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        if count <= i64::from(buckets) {
            let points: Vec<(i64, i64, f64, bool)> = sqlx::query_as(
                "SELECT step, timestamp, value, is_nan FROM metrics WHERE run_uuid = $1 AND key = $2 \
                 AND step BETWEEN $3 AND $4 ORDER BY step, timestamp, value, is_nan",
            )
            .bind(&request.run_id)
            .bind(key)
            .bind(first)
            .bind(last)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
            return Ok(points
                .into_iter()
                .map(|(step, timestamp, value, is_nan)| {
                    Metric::new(key, load_value(value, is_nan), timestamp, step)
                })
                .collect());
        }
        // Per bucket, the points holding its least and greatest value (the first of each, by step).
        // Every point on one step (a metric logged without steps): buckets over time within it.
        let on_step = first == last;
        let (first_x, last_x) = if on_step {
            let (low, high): (Option<i64>, Option<i64>) = sqlx::query_as(
                "SELECT min(timestamp), max(timestamp) FROM metrics \
                 WHERE run_uuid = $1 AND key = $2 AND step = $3",
            )
            .bind(&request.run_id)
            .bind(key)
            .bind(first)
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
            (low.unwrap_or(0), high.unwrap_or(0))
        } else {
            (first, last)
        };
        let x = if on_step { "timestamp" } else { "step" };
        let (origin, width) = cairn_core::downsample::step_buckets(first_x, last_x, buckets);
        let sql = format!(
            "WITH p AS (SELECT floor(({x}::numeric - $3) / $4)::bigint AS b, step, timestamp, value \
                 FROM metrics WHERE run_uuid = $1 AND key = $2 AND step BETWEEN $5 AND $6 AND NOT is_nan), \
             a AS (SELECT b, min(value) AS lo, max(value) AS hi FROM p GROUP BY b) \
             SELECT p.b, p.step, p.timestamp, p.value FROM p JOIN a ON p.b = a.b \
                 AND (p.value = a.lo OR p.value = a.hi) ORDER BY p.step, p.timestamp"
        );
        let rows: Vec<(i64, i64, i64, f64)> = sqlx::query_as(&sql)
            .bind(&request.run_id)
            .bind(key)
            .bind(origin)
            .bind(width)
            .bind(first)
            .bind(last)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        let mut seen: HashMap<(i64, u64), ()> = HashMap::new();
        Ok(rows
            .into_iter()
            .filter(|(bucket, _, _, value)| seen.insert((*bucket, value.to_bits()), ()).is_none())
            .map(|(_, step, timestamp, value)| Metric::new(key, value, timestamp, step))
            .collect())
    }

    pub(super) async fn get_metric_history_bulk_interval_impl(
        &self,
        request: HistoryInterval,
    ) -> Result<Vec<Metric>> {
        if request.run_ids.is_empty() || request.max_results == 0 {
            return Ok(Vec::new());
        }
        let start_step = request.start_step.unwrap_or(i64::MIN);
        let end_step = request.end_step.unwrap_or(i64::MAX);
        let mut tx = self.read().await?;
        let steps: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT step FROM metrics WHERE run_uuid = ANY($1) AND key = $2 \
             AND step BETWEEN $3 AND $4 ORDER BY step",
        )
        .bind(&request.run_ids)
        .bind(&request.metric_key)
        .bind(start_step)
        .bind(end_step)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        let sampled = crate::shared::sample_steps(
            &steps,
            usize::try_from(request.max_results).unwrap_or(usize::MAX),
        );
        let rows: Vec<MetricRow> = sqlx::query_as(
            "SELECT run_uuid, key, step, timestamp, value, is_nan, model_id, dataset_name, \
             dataset_digest FROM metrics WHERE run_uuid = ANY($1) AND key = $2 AND step = ANY($3) \
             ORDER BY run_uuid, step, timestamp, value, is_nan",
        )
        .bind(&request.run_ids)
        .bind(&request.metric_key)
        .bind(&sampled)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(crate::shared::metrics_by_run(rows, &request.run_ids))
    }

    pub(super) async fn search_runs_impl(
        &self,
        request: SearchRuns,
    ) -> Result<Page<std::sync::Arc<Run>>> {
        let compiled = filter::compile(&RUNS, &request.filter, &request.order_by)?;
        // The experiment ids as a PostgreSQL array literal of integers, bound as one parameter.
        let experiment_ids: Vec<String> = request
            .experiment_ids
            .iter()
            .filter_map(|id| parse_experiment_id(id))
            .map(|id| id.to_string())
            .collect();
        // The page: each run's id and `rev`, in search order.
        let mut sql = Sql::new("SELECT r.run_uuid, r.rev FROM runs r");
        sql.append(compiled.joins);
        sql.push(" WHERE r.experiment_id = ANY(CAST(")
            .bind(Bind::Text(format!("{{{}}}", experiment_ids.join(","))))
            .push(" AS BIGINT[]))");
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
        let text = sql.pg_text();
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        let page: Vec<(String, i64)> = sql
            .pg_query_as(&text)?
            .fetch_all(&mut *conn)
            .await
            .map_err(db_error)?;
        // Runs from the run cache where their `rev` is the one cached; the rest loaded and cached.
        let runs = self
            .runs
            .runs_of_page(&page, |missing| async move {
                load_runs(&mut conn, &missing).await
            })
            .await?;
        Ok(finish_page(runs, request.page))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upserts_keep_first_position_and_last_value() {
        let items = [
            KeyValue::new("a", "1"),
            KeyValue::new("b", "2"),
            KeyValue::new("a", "3"),
        ];
        assert_eq!(last_values(&items), (vec!["a", "b"], vec!["3", "2"]));
    }
}
