//! PostgreSQL: MLflow 3 logged models: params, tags, metrics (attached through `log_batch`), status,
//! soft delete.

use crate::targets::LOGGED_MODELS;
use std::collections::HashMap;

use cairn_core::entities::{
    KeyValue, LifecycleStage, LoggedModel, LoggedModelStatus, Metric, Page,
};
use cairn_core::{Error, Result};
use sqlx::{PgConnection, PgExecutor};

use super::experiments::{active_experiment, parse_experiment_id};
use super::registry::{stored_pairs, zip_pairs};
use super::runs::last_values;
use super::{
    db_error, finish_page, load_value, logged_model_artifact_uri, new_uuid_hex, now_ms,
    parse_column, PgStore,
};
use crate::filter::{self, Bind, Sql};
use crate::{CreateLoggedModel, SearchLoggedModels};

/// The columns of a [`LoggedModelRow`] over `logged_models lm`, params and tags in insertion order.
macro_rules! logged_model_columns {
    () => {
        "lm.model_id, lm.experiment_id, lm.name, lm.artifact_uri, lm.creation_timestamp, \
         lm.last_updated_timestamp, lm.status, lm.status_message, lm.model_type, lm.source_run_id, \
         lm.lifecycle_stage, \
         ARRAY(SELECT p.key FROM logged_model_params p WHERE p.model_id = lm.model_id ORDER BY p.seq) AS param_keys, \
         ARRAY(SELECT p.value FROM logged_model_params p WHERE p.model_id = lm.model_id ORDER BY p.seq) AS param_values, \
         ARRAY(SELECT t.key FROM logged_model_tags t WHERE t.model_id = lm.model_id ORDER BY t.seq) AS tag_keys, \
         ARRAY(SELECT t.value FROM logged_model_tags t WHERE t.model_id = lm.model_id ORDER BY t.seq) AS tag_values"
    };
}

fn model_not_found(model_id: &str) -> Error {
    Error::not_found(format!("Logged model with ID '{model_id}' not found."))
}

/// A row of `logged_model_columns!`.
#[derive(sqlx::FromRow)]
struct LoggedModelRow {
    model_id: String,
    experiment_id: i64,
    name: String,
    artifact_uri: String,
    creation_timestamp: i64,
    last_updated_timestamp: i64,
    status: String,
    status_message: Option<String>,
    model_type: Option<String>,
    source_run_id: Option<String>,
    lifecycle_stage: String,
    param_keys: Vec<String>,
    param_values: Vec<String>,
    tag_keys: Vec<String>,
    tag_values: Vec<String>,
}

type ModelMetricRow = (
    String,
    String,
    i64,
    i64,
    f64,
    bool,
    String,
    Option<String>,
    Option<String>,
);

/// The logged models of `rows` (in their order) with their metrics: one query for all.
async fn with_metrics(
    executor: impl PgExecutor<'_>,
    rows: Vec<LoggedModelRow>,
) -> Result<Vec<LoggedModel>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = rows.iter().map(|row| row.model_id.as_str()).collect();
    let metric_rows: Vec<ModelMetricRow> = sqlx::query_as(
        "SELECT model_id, key, step, timestamp, value, is_nan, run_uuid, dataset_name, dataset_digest \
         FROM logged_model_metrics WHERE model_id = ANY($1) \
         ORDER BY model_id, key, step, timestamp, value",
    )
    .bind(&ids)
    .fetch_all(executor)
    .await
    .map_err(db_error)?;
    let mut metrics: HashMap<String, Vec<Metric>> = HashMap::new();
    for (model_id, key, step, timestamp, value, is_nan, run_id, dataset_name, dataset_digest) in
        metric_rows
    {
        metrics.entry(model_id.clone()).or_default().push(Metric {
            key,
            value: load_value(value, is_nan),
            timestamp,
            step,
            model_id: Some(model_id),
            dataset_name,
            dataset_digest,
            run_id: Some(run_id),
        });
    }
    rows.into_iter()
        .map(|row| {
            Ok(LoggedModel {
                metrics: metrics.remove(&row.model_id).unwrap_or_default(),
                status: parse_column(&row.status)?,
                lifecycle_stage: parse_column(&row.lifecycle_stage)?,
                model_id: row.model_id,
                experiment_id: row.experiment_id.to_string(),
                name: row.name,
                artifact_uri: row.artifact_uri,
                creation_timestamp_ms: row.creation_timestamp,
                last_updated_timestamp_ms: row.last_updated_timestamp,
                status_message: row.status_message,
                model_type: row.model_type,
                source_run_id: row.source_run_id,
                tags: zip_pairs(row.tag_keys, row.tag_values),
                params: zip_pairs(row.param_keys, row.param_values),
            })
        })
        .collect()
}

/// One logged model, deleted ones included.
async fn load_model(conn: &mut PgConnection, model_id: &str) -> Result<LoggedModel> {
    let row: Option<LoggedModelRow> = sqlx::query_as(concat!(
        "SELECT ",
        logged_model_columns!(),
        " FROM logged_models lm WHERE lm.model_id = $1"
    ))
    .bind(model_id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    let row = row.ok_or_else(|| model_not_found(model_id))?;
    with_metrics(&mut *conn, vec![row])
        .await?
        .pop()
        .ok_or_else(|| model_not_found(model_id))
}

/// The model must exist; deleted ones count (as MLflow's writes use `session.get`).
async fn require_model(executor: impl PgExecutor<'_>, model_id: &str) -> Result<()> {
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM logged_models WHERE model_id = $1")
        .bind(model_id)
        .fetch_optional(executor)
        .await
        .map_err(db_error)?;
    found.map(|_| ()).ok_or_else(|| model_not_found(model_id))
}

impl PgStore {
    pub(super) async fn create_logged_model_impl(
        &self,
        request: CreateLoggedModel,
    ) -> Result<LoggedModel> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        // Checked, then written by one statement: an experiment deleted in between (a soft delete)
        // still holds the model, as with MLflow's own SQL store.
        let (experiment_id, artifact_location) =
            active_experiment(&mut conn, &request.experiment_id).await?;
        let model_id = format!("m-{}", new_uuid_hex());
        let name = if request.name.is_empty() {
            crate::names::random_run_name()
        } else {
            request.name
        };
        let artifact_uri = logged_model_artifact_uri(&artifact_location, &model_id);
        let now = now_ms();
        let status = LoggedModelStatus::Pending;
        let (param_keys, param_values) = last_values(&request.params);
        let (tag_keys, tag_values) = last_values(&request.tags);
        sqlx::query(
            "WITH model AS (\
               INSERT INTO logged_models (model_id, experiment_id, name, artifact_uri, creation_timestamp, \
               last_updated_timestamp, status, status_message, model_type, source_run_id, lifecycle_stage) \
               VALUES ($1, $2, $3, $4, $5, $5, $6, NULL, $7, $8, 'active') RETURNING model_id), \
             params AS (\
               INSERT INTO logged_model_params (model_id, key, value) \
               SELECT model.model_id, pair.key, pair.value \
               FROM model, unnest($9::text[], $10::text[]) AS pair (key, value)) \
             INSERT INTO logged_model_tags (model_id, key, value) \
             SELECT model.model_id, pair.key, pair.value \
             FROM model, unnest($11::text[], $12::text[]) AS pair (key, value)",
        )
        .bind(&model_id)
        .bind(experiment_id)
        .bind(&name)
        .bind(&artifact_uri)
        .bind(now)
        .bind(status.as_str())
        .bind(&request.model_type)
        .bind(&request.source_run_id)
        .bind(&param_keys)
        .bind(&param_values)
        .bind(&tag_keys)
        .bind(&tag_values)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
        Ok(LoggedModel {
            model_id,
            experiment_id: experiment_id.to_string(),
            name,
            artifact_uri,
            creation_timestamp_ms: now,
            last_updated_timestamp_ms: now,
            status,
            status_message: None,
            model_type: request.model_type,
            source_run_id: request.source_run_id,
            lifecycle_stage: LifecycleStage::Active,
            tags: stored_pairs(&tag_keys, &tag_values),
            params: stored_pairs(&param_keys, &param_values),
            metrics: Vec::new(),
        })
    }

    pub(super) async fn get_logged_model_impl(&self, model_id: &str) -> Result<LoggedModel> {
        let mut tx = self.read().await?;
        let model = load_model(&mut tx, model_id).await?;
        if model.lifecycle_stage != LifecycleStage::Active {
            return Err(model_not_found(model_id));
        }
        Ok(model)
    }

    pub(super) async fn finalize_logged_model_impl(
        &self,
        model_id: &str,
        status: LoggedModelStatus,
    ) -> Result<LoggedModel> {
        let row: Option<LoggedModelRow> = sqlx::query_as(concat!(
            "UPDATE logged_models lm SET status = $2, last_updated_timestamp = $3 \
             WHERE lm.model_id = $1 RETURNING ",
            logged_model_columns!()
        ))
        .bind(model_id)
        .bind(status.as_str())
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        let row = row.ok_or_else(|| model_not_found(model_id))?;
        // Metrics are only ever added: reading them after the update returns the model as it stands.
        with_metrics(&self.pool, vec![row])
            .await?
            .pop()
            .ok_or_else(|| model_not_found(model_id))
    }

    pub(super) async fn delete_logged_model_impl(&self, model_id: &str) -> Result<()> {
        let deleted = sqlx::query(
            "UPDATE logged_models SET lifecycle_stage = 'deleted', last_updated_timestamp = $2 \
             WHERE model_id = $1",
        )
        .bind(model_id)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        if deleted.rows_affected() == 0 {
            return Err(model_not_found(model_id));
        }
        Ok(())
    }

    pub(super) async fn set_logged_model_tags_impl(
        &self,
        model_id: &str,
        tags: Vec<KeyValue>,
    ) -> Result<LoggedModel> {
        let (keys, values) = last_values(&tags);
        let mut tx = self.write().await?;
        // Writes nothing for a missing model; loading it then says so.
        sqlx::query(
            "INSERT INTO logged_model_tags (model_id, key, value) \
             SELECT lm.model_id, pair.key, pair.value \
             FROM logged_models lm, unnest($2::text[], $3::text[]) AS pair (key, value) \
             WHERE lm.model_id = $1 \
             ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value",
        )
        .bind(model_id)
        .bind(&keys)
        .bind(&values)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let model = load_model(&mut tx, model_id).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(model)
    }

    pub(super) async fn delete_logged_model_tag_impl(
        &self,
        model_id: &str,
        key: &str,
    ) -> Result<()> {
        let deleted = sqlx::query("DELETE FROM logged_model_tags WHERE model_id = $1 AND key = $2")
            .bind(model_id)
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        if deleted.rows_affected() == 0 {
            require_model(&self.pool, model_id).await?;
            return Err(Error::not_found(format!(
                "No tag with key '{key}' found for model with ID '{model_id}'."
            )));
        }
        Ok(())
    }

    pub(super) async fn log_logged_model_params_impl(
        &self,
        model_id: &str,
        params: Vec<KeyValue>,
    ) -> Result<()> {
        let (keys, values) = last_values(&params);
        let written = sqlx::query(
            "INSERT INTO logged_model_params (model_id, key, value) \
             SELECT lm.model_id, pair.key, pair.value \
             FROM logged_models lm, unnest($2::text[], $3::text[]) AS pair (key, value) \
             WHERE lm.model_id = $1 \
             ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value",
        )
        .bind(model_id)
        .bind(&keys)
        .bind(&values)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        // Nothing written: no params, or no model.
        if written.rows_affected() == 0 {
            require_model(&self.pool, model_id).await?;
        }
        Ok(())
    }

    pub(super) async fn search_logged_models_impl(
        &self,
        request: SearchLoggedModels,
    ) -> Result<Page<LoggedModel>> {
        let compiled = filter::compile(&LOGGED_MODELS, &request.filter, &request.order_by)?;
        // As the SQLite backend: ids that are not integers are dropped (none left: no restriction).
        let experiment_ids: Vec<String> = request
            .experiment_ids
            .iter()
            .filter_map(|id| parse_experiment_id(id))
            .map(|id| id.to_string())
            .collect();
        let mut order = compiled.order;
        if order.text.is_empty() {
            order.push("lm.creation_timestamp DESC, ");
        } else {
            order.push(", ");
        }
        order.push("lm.model_id ASC");
        // The page and its rows in one statement: `ord` carries the search order out of the page.
        let mut sql = Sql::new("WITH page AS (SELECT lm.model_id, row_number() OVER (ORDER BY ");
        sql.append(order.clone());
        sql.push(") AS ord FROM logged_models lm");
        sql.append(compiled.joins);
        sql.push(" WHERE lm.lifecycle_stage = 'active'");
        if !experiment_ids.is_empty() {
            // One array parameter (a literal of integers) whatever the number of experiments.
            sql.push(" AND lm.experiment_id = ANY(CAST(")
                .bind(Bind::Text(format!("{{{}}}", experiment_ids.join(","))))
                .push(" AS BIGINT[]))");
        }
        sql.append(compiled.conditions);
        sql.push(" ORDER BY ");
        sql.append(order);
        sql.push_page(request.page);
        sql.push(concat!(
            ") SELECT ",
            logged_model_columns!(),
            " FROM page JOIN logged_models lm ON lm.model_id = page.model_id ORDER BY page.ord"
        ));
        let text = sql.pg_text();
        let mut tx = self.read().await?;
        let rows: Vec<LoggedModelRow> = sql
            .pg_query_as(&text)?
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?;
        let models = with_metrics(&mut *tx, rows).await?;
        Ok(finish_page(models, request.page))
    }
}
