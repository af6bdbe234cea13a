//! MLflow 3 logged models: params, tags, metrics (attached through `log_batch`), status, soft delete.

use crate::targets::LOGGED_MODELS;
use std::collections::HashMap;

use cairn_core::entities::{KeyValue, LoggedModel, LoggedModelStatus, Metric, Page};
use cairn_core::{Error, Result};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::experiments::{active_experiment, parse_experiment_id};
use super::{
    db_error, finish_page, json_list, load_value, new_uuid_hex, now_ms, parse_column, SqliteStore,
};
use crate::filter::{self, Bind, Sql};
use crate::{CreateLoggedModel, SearchLoggedModels};

fn model_not_found(model_id: &str) -> Error {
    Error::not_found(format!("Logged model with ID '{model_id}' not found."))
}

type ModelRow = (
    String,
    i64,
    String,
    String,
    i64,
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);

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

/// Loads logged models in the order of `ids` (missing ones skipped; deleted ones included).
async fn load_logged_models(
    conn: &mut SqliteConnection,
    ids: &[String],
) -> Result<Vec<LoggedModel>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = json_list(ids);
    let rows: Vec<ModelRow> = sqlx::query_as(
        "SELECT model_id, experiment_id, name, artifact_uri, creation_timestamp, last_updated_timestamp, \
         status, status_message, model_type, source_run_id, lifecycle_stage \
         FROM logged_models WHERE model_id IN (SELECT value FROM json_each(?))",
    )
    .bind(&list)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    let mut models: HashMap<String, LoggedModel> = HashMap::with_capacity(rows.len());
    for (
        model_id,
        experiment_id,
        name,
        artifact_uri,
        creation_timestamp_ms,
        last_updated_timestamp_ms,
        status,
        status_message,
        model_type,
        source_run_id,
        stage,
    ) in rows
    {
        models.insert(
            model_id.clone(),
            LoggedModel {
                model_id,
                experiment_id: experiment_id.to_string(),
                name,
                artifact_uri,
                creation_timestamp_ms,
                last_updated_timestamp_ms,
                status: parse_column(&status)?,
                status_message,
                model_type,
                source_run_id,
                lifecycle_stage: parse_column(&stage)?,
                tags: Vec::new(),
                params: Vec::new(),
                metrics: Vec::new(),
            },
        );
    }
    for (table, is_param) in [("logged_model_params", true), ("logged_model_tags", false)] {
        let rows: Vec<(String, String, String)> = sqlx::query_as(&format!(
            "SELECT model_id, key, value FROM {table} \
             WHERE model_id IN (SELECT value FROM json_each(?)) ORDER BY rowid"
        ))
        .bind(&list)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
        for (model_id, key, value) in rows {
            if let Some(model) = models.get_mut(&model_id) {
                let target = if is_param {
                    &mut model.params
                } else {
                    &mut model.tags
                };
                target.push(KeyValue { key, value });
            }
        }
    }
    let metrics: Vec<ModelMetricRow> = sqlx::query_as(
        "SELECT model_id, key, step, timestamp, value, is_nan, run_uuid, dataset_name, dataset_digest \
         FROM logged_model_metrics WHERE model_id IN (SELECT value FROM json_each(?)) \
         ORDER BY model_id, key, step, timestamp, value",
    )
    .bind(&list)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    for (model_id, key, step, timestamp, value, is_nan, run_id, dataset_name, dataset_digest) in
        metrics
    {
        if let Some(model) = models.get_mut(&model_id) {
            model.metrics.push(Metric {
                key,
                value: load_value(value, is_nan),
                timestamp,
                step,
                model_id: Some(model_id.clone()),
                dataset_name,
                dataset_digest,
                run_id: Some(run_id),
            });
        }
    }
    Ok(ids.iter().filter_map(|id| models.remove(id)).collect())
}

/// The model must exist and not be deleted.
async fn live_model(conn: &mut SqliteConnection, model_id: &str) -> Result<()> {
    let stage: Option<String> =
        sqlx::query_scalar("SELECT lifecycle_stage FROM logged_models WHERE model_id = ?")
            .bind(model_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_error)?;
    match stage.as_deref() {
        Some("active") => Ok(()),
        _ => Err(model_not_found(model_id)),
    }
}

/// The model must exist; deleted ones count (as MLflow's writes use `session.get`).
async fn existing_model(conn: &mut SqliteConnection, model_id: &str) -> Result<()> {
    let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM logged_models WHERE model_id = ?")
        .bind(model_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
    found.map(|_| ()).ok_or_else(|| model_not_found(model_id))
}

async fn load_one(conn: &mut SqliteConnection, model_id: &str) -> Result<LoggedModel> {
    load_logged_models(conn, &[model_id.to_owned()])
        .await?
        .pop()
        .ok_or_else(|| model_not_found(model_id))
}

async fn upsert_key_values(
    conn: &mut SqliteConnection,
    table: &str,
    model_id: &str,
    pairs: &[KeyValue],
) -> Result<()> {
    if pairs.is_empty() {
        return Ok(());
    }
    let mut insert: QueryBuilder<Sqlite> =
        QueryBuilder::new(format!("INSERT INTO {table} (model_id, key, value) "));
    insert.push_values(pairs, |mut row, pair| {
        row.push_bind(model_id)
            .push_bind(&pair.key)
            .push_bind(&pair.value);
    });
    insert.push(" ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value");
    insert.build().execute(&mut *conn).await.map_err(db_error)?;
    Ok(())
}

impl SqliteStore {
    pub(super) async fn create_logged_model_impl(
        &self,
        request: CreateLoggedModel,
    ) -> Result<LoggedModel> {
        let mut tx = self.write().await?;
        let (experiment_id, artifact_location) =
            active_experiment(&mut tx, &request.experiment_id).await?;
        let model_id = format!("m-{}", new_uuid_hex());
        let name = if request.name.is_empty() {
            crate::names::random_run_name()
        } else {
            request.name.clone()
        };
        let artifact_uri = super::logged_model_artifact_uri(&artifact_location, &model_id);
        let now = now_ms();
        sqlx::query(
            "INSERT INTO logged_models (model_id, experiment_id, name, artifact_uri, creation_timestamp, \
             last_updated_timestamp, status, status_message, model_type, source_run_id, lifecycle_stage) \
             VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, 'active')",
        )
        .bind(&model_id)
        .bind(experiment_id)
        .bind(&name)
        .bind(&artifact_uri)
        .bind(now)
        .bind(now)
        .bind(LoggedModelStatus::Pending.as_str())
        .bind(&request.model_type)
        .bind(&request.source_run_id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        upsert_key_values(&mut tx, "logged_model_params", &model_id, &request.params).await?;
        upsert_key_values(&mut tx, "logged_model_tags", &model_id, &request.tags).await?;
        let model = load_one(&mut tx, &model_id).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(model)
    }

    pub(super) async fn get_logged_model_impl(&self, model_id: &str) -> Result<LoggedModel> {
        let mut tx = self.read().await?;
        live_model(&mut tx, model_id).await?;
        load_one(&mut tx, model_id).await
    }

    pub(super) async fn finalize_logged_model_impl(
        &self,
        model_id: &str,
        status: LoggedModelStatus,
    ) -> Result<LoggedModel> {
        let mut tx = self.write().await?;
        existing_model(&mut tx, model_id).await?;
        sqlx::query(
            "UPDATE logged_models SET status = ?, last_updated_timestamp = ? WHERE model_id = ?",
        )
        .bind(status.as_str())
        .bind(now_ms())
        .bind(model_id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let model = load_one(&mut tx, model_id).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(model)
    }

    pub(super) async fn delete_logged_model_impl(&self, model_id: &str) -> Result<()> {
        let mut tx = self.write().await?;
        existing_model(&mut tx, model_id).await?;
        sqlx::query(
            "UPDATE logged_models SET lifecycle_stage = 'deleted', last_updated_timestamp = ? \
             WHERE model_id = ?",
        )
        .bind(now_ms())
        .bind(model_id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    pub(super) async fn set_logged_model_tags_impl(
        &self,
        model_id: &str,
        tags: Vec<KeyValue>,
    ) -> Result<LoggedModel> {
        let mut tx = self.write().await?;
        existing_model(&mut tx, model_id).await?;
        upsert_key_values(&mut tx, "logged_model_tags", model_id, &tags).await?;
        let model = load_one(&mut tx, model_id).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(model)
    }

    pub(super) async fn delete_logged_model_tag_impl(
        &self,
        model_id: &str,
        key: &str,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        existing_model(&mut tx, model_id).await?;
        let deleted = sqlx::query("DELETE FROM logged_model_tags WHERE model_id = ? AND key = ?")
            .bind(model_id)
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?
            .rows_affected();
        if deleted == 0 {
            return Err(Error::not_found(format!(
                "No tag with key '{key}' found for model with ID '{model_id}'."
            )));
        }
        tx.commit().await.map_err(db_error)
    }

    pub(super) async fn log_logged_model_params_impl(
        &self,
        model_id: &str,
        params: Vec<KeyValue>,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        existing_model(&mut tx, model_id).await?;
        upsert_key_values(&mut tx, "logged_model_params", model_id, &params).await?;
        tx.commit().await.map_err(db_error)
    }

    pub(super) async fn search_logged_models_impl(
        &self,
        request: SearchLoggedModels,
    ) -> Result<Page<LoggedModel>> {
        let compiled = filter::compile(&LOGGED_MODELS, &request.filter, &request.order_by)?;
        let experiment_ids: Vec<serde_json::Value> = request
            .experiment_ids
            .iter()
            .filter_map(|id| parse_experiment_id(id))
            .map(serde_json::Value::from)
            .collect();
        let mut sql = Sql::new("SELECT lm.model_id FROM logged_models lm");
        sql.append(compiled.joins);
        sql.push(" WHERE lm.lifecycle_stage = 'active'");
        if !experiment_ids.is_empty() {
            sql.push(" AND lm.experiment_id IN (SELECT value FROM json_each(")
                .bind(Bind::Text(
                    serde_json::Value::Array(experiment_ids).to_string(),
                ))
                .push("))");
        }
        sql.append(compiled.conditions);
        sql.push(" ORDER BY ");
        if !compiled.order.text.is_empty() {
            sql.append(compiled.order);
            sql.push(", ");
        } else {
            sql.push("lm.creation_timestamp DESC, ");
        }
        sql.push("lm.model_id ASC");
        sql.push_page(request.page);
        let mut tx = self.read().await?;
        let ids: Vec<(String,)> = sql
            .query_as()?
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?;
        let ids: Vec<String> = ids.into_iter().map(|(id,)| id).collect();
        let models = load_logged_models(&mut tx, &ids).await?;
        Ok(finish_page(models, request.page))
    }
}
