//! Import: id-preserving inserts of what another tracking store (MLflow) created. Each call is one
//! `BEGIN IMMEDIATE` transaction; nothing that exists is overwritten.

use cairn_core::entities::{Alias, KeyValue, Metric};
use cairn_core::{Error, Result};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::experiments::experiment_header;
use super::runs::{insert_dataset_inputs, insert_run_metric_rows};
use super::{db_error, store_value, SqliteStore};
use crate::{
    ImportExperiment, ImportLoggedModel, ImportModelVersion, ImportRegisteredModel, ImportRun,
    Imported,
};

/// Rows per multi-row INSERT (at most 10 binds a row; SQLite allows 32766 per statement).
const ROWS_PER_INSERT: usize = 1000;

/// The stage a deleted model version keeps (as MLflow and the registry module).
const DELETED_STAGE: &str = "Deleted_Internal";

async fn insert_key_values(
    conn: &mut SqliteConnection,
    table: &str,
    owner_column: &str,
    owner: &str,
    items: &[KeyValue],
) -> Result<()> {
    for chunk in items.chunks(ROWS_PER_INSERT) {
        let mut insert: QueryBuilder<Sqlite> =
            QueryBuilder::new(format!("INSERT INTO {table} ({owner_column}, key, value) "));
        insert.push_values(chunk, |mut row, item| {
            row.push_bind(owner)
                .push_bind(&item.key)
                .push_bind(&item.value);
        });
        insert.push(" ON CONFLICT DO NOTHING");
        insert.build().execute(&mut *conn).await.map_err(db_error)?;
    }
    Ok(())
}

fn missing_run_id(metric: &Metric) -> Error {
    Error::invalid(format!(
        "logged model metric '{}' has no run id",
        metric.key
    ))
}

impl SqliteStore {
    pub(super) async fn import_experiment_impl(
        &self,
        request: ImportExperiment,
    ) -> Result<Imported> {
        let mut tx = self.write().await?;
        let existing: Option<(i64, String)> = sqlx::query_as(
            "SELECT experiment_id, artifact_location FROM experiments WHERE name = ?",
        )
        .bind(&request.name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        if let Some((id, artifact_location)) = existing {
            return Ok(Imported {
                created: false,
                id: id.to_string(),
                artifact_uri: artifact_location,
            });
        }
        let preferred_free = match request.preferred_id.filter(|id| *id >= 0) {
            Some(id) => {
                let taken: Option<i64> =
                    sqlx::query_scalar("SELECT 1 FROM experiments WHERE experiment_id = ?")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_error)?;
                taken.is_none().then_some(id)
            }
            None => None,
        };
        let id = match preferred_free {
            Some(id) => id,
            None => {
                sqlx::query_scalar("SELECT COALESCE(MAX(experiment_id), -1) + 1 FROM experiments")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_error)?
            }
        };
        let artifact_location = format!("mlflow-artifacts:/{id}");
        sqlx::query(
            "INSERT INTO experiments \
             (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(&request.name)
        .bind(&artifact_location)
        .bind(request.lifecycle_stage.as_str())
        .bind(request.creation_time)
        .bind(request.last_update_time)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        insert_key_values(
            &mut tx,
            "experiment_tags",
            "experiment_id",
            &id.to_string(),
            &request.tags,
        )
        .await?;
        tx.commit().await.map_err(db_error)?;
        Ok(Imported {
            created: true,
            id: id.to_string(),
            artifact_uri: artifact_location,
        })
    }

    pub(super) async fn import_run_impl(&self, request: ImportRun) -> Result<Imported> {
        let mut tx = self.write().await?;
        let existing: Option<String> =
            sqlx::query_scalar("SELECT artifact_uri FROM runs WHERE run_uuid = ?")
                .bind(&request.run_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
        if let Some(artifact_uri) = existing {
            return Ok(Imported {
                created: false,
                id: request.run_id,
                artifact_uri,
            });
        }
        let (experiment_id, artifact_location, _) =
            experiment_header(&mut tx, &request.experiment_id).await?;
        let run_id = request.run_id.as_str();
        let artifact_uri = super::run_artifact_uri(&artifact_location, run_id);
        sqlx::query(
            "INSERT INTO runs (run_uuid, experiment_id, name, user_id, status, start_time, end_time, \
             artifact_uri, lifecycle_stage, deleted_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(run_id)
        .bind(experiment_id)
        .bind(&request.run_name)
        .bind(&request.user_id)
        .bind(request.status.as_str())
        .bind(request.start_time)
        .bind(request.end_time)
        .bind(&artifact_uri)
        .bind(request.lifecycle_stage.as_str())
        .bind(request.deleted_time)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        insert_key_values(&mut tx, "params", "run_uuid", run_id, &request.params).await?;
        insert_key_values(&mut tx, "tags", "run_uuid", run_id, &request.tags).await?;
        insert_run_metric_rows(&mut tx, run_id, &request.metrics).await?;

        insert_dataset_inputs(&mut tx, experiment_id, run_id, &request.dataset_inputs).await?;
        for input in &request.model_inputs {
            sqlx::query(
                "INSERT INTO run_model_inputs (run_uuid, model_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
            )
            .bind(run_id)
            .bind(&input.model_id)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        for output in &request.model_outputs {
            sqlx::query(
                "INSERT INTO run_model_outputs (run_uuid, model_id, step) VALUES (?, ?, ?) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(run_id)
            .bind(&output.model_id)
            .bind(output.step)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        self.activity.created_runs(1);
        Ok(Imported {
            created: true,
            id: request.run_id,
            artifact_uri,
        })
    }

    pub(super) async fn import_logged_model_impl(
        &self,
        request: ImportLoggedModel,
    ) -> Result<Imported> {
        let mut tx = self.write().await?;
        let existing: Option<String> =
            sqlx::query_scalar("SELECT artifact_uri FROM logged_models WHERE model_id = ?")
                .bind(&request.model_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
        if let Some(artifact_uri) = existing {
            return Ok(Imported {
                created: false,
                id: request.model_id,
                artifact_uri,
            });
        }
        let (experiment_id, artifact_location, _) =
            experiment_header(&mut tx, &request.experiment_id).await?;
        let model_id = request.model_id.as_str();
        let artifact_uri = super::logged_model_artifact_uri(&artifact_location, model_id);
        sqlx::query(
            "INSERT INTO logged_models (model_id, experiment_id, name, artifact_uri, creation_timestamp, \
             last_updated_timestamp, status, status_message, model_type, source_run_id, lifecycle_stage) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(model_id)
        .bind(experiment_id)
        .bind(&request.name)
        .bind(&artifact_uri)
        .bind(request.creation_timestamp_ms)
        .bind(request.last_updated_timestamp_ms)
        .bind(request.status.as_str())
        .bind(&request.status_message)
        .bind(&request.model_type)
        .bind(&request.source_run_id)
        .bind(request.lifecycle_stage.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        insert_key_values(
            &mut tx,
            "logged_model_params",
            "model_id",
            model_id,
            &request.params,
        )
        .await?;
        insert_key_values(
            &mut tx,
            "logged_model_tags",
            "model_id",
            model_id,
            &request.tags,
        )
        .await?;
        if let Some(metric) = request
            .metrics
            .iter()
            .find(|metric| metric.run_id.is_none())
        {
            return Err(missing_run_id(metric));
        }
        for chunk in request.metrics.chunks(ROWS_PER_INSERT) {
            let mut insert: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO logged_model_metrics (model_id, key, step, timestamp, value, is_nan, \
                 run_uuid, dataset_name, dataset_digest) ",
            );
            insert.push_values(chunk, |mut row, metric| {
                let (value, is_nan) = store_value(metric.value);
                row.push_bind(model_id)
                    .push_bind(&metric.key)
                    .push_bind(metric.step)
                    .push_bind(metric.timestamp)
                    .push_bind(value)
                    .push_bind(is_nan)
                    .push_bind(metric.run_id.as_deref().unwrap_or_default())
                    .push_bind(&metric.dataset_name)
                    .push_bind(&metric.dataset_digest);
            });
            insert.push(" ON CONFLICT DO NOTHING");
            insert.build().execute(&mut *tx).await.map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(Imported {
            created: true,
            id: request.model_id,
            artifact_uri,
        })
    }

    pub(super) async fn import_registered_model_impl(
        &self,
        request: ImportRegisteredModel,
    ) -> Result<bool> {
        let mut tx = self.write().await?;
        let inserted = sqlx::query(
            "INSERT INTO registered_models (name, creation_time, last_updated_time, description, user_id) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(&request.name)
        .bind(request.creation_timestamp)
        .bind(request.last_updated_timestamp)
        .bind(&request.description)
        .bind(&request.user_id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected();
        if inserted == 0 {
            return Ok(false);
        }
        insert_key_values(
            &mut tx,
            "registered_model_tags",
            "name",
            &request.name,
            &request.tags,
        )
        .await?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    pub(super) async fn import_model_version_impl(
        &self,
        request: ImportModelVersion,
    ) -> Result<bool> {
        let mut tx = self.write().await?;
        let model: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM registered_models WHERE name = ?")
                .bind(&request.name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
        if model.is_none() {
            return Err(Error::not_found(format!(
                "Registered Model with name={} not found",
                request.name
            )));
        }
        let stage = request
            .current_stage
            .map_or(DELETED_STAGE, |stage| stage.as_str());
        let inserted = sqlx::query(
            "INSERT INTO model_versions (name, version, creation_time, last_updated_time, description, \
             user_id, current_stage, source, run_id, run_link, status, status_message, model_id) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(&request.name)
        .bind(request.version)
        .bind(request.creation_timestamp)
        .bind(request.last_updated_timestamp)
        .bind(&request.description)
        .bind(&request.user_id)
        .bind(stage)
        .bind(&request.source)
        .bind(&request.run_id)
        .bind(&request.run_link)
        .bind(&request.status)
        .bind(&request.status_message)
        .bind(&request.model_id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected();
        if inserted == 0 {
            return Ok(false);
        }
        for tag in &request.tags {
            sqlx::query(
                "INSERT INTO model_version_tags (name, version, key, value) VALUES (?, ?, ?, ?) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&request.name)
            .bind(request.version)
            .bind(&tag.key)
            .bind(&tag.value)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    pub(super) async fn import_aliases_impl(&self, name: &str, aliases: Vec<Alias>) -> Result<u64> {
        if aliases.is_empty() {
            return Ok(0);
        }
        let mut tx = self.write().await?;
        let mut set = 0;
        for alias in &aliases {
            set += sqlx::query(
                "INSERT INTO registered_model_aliases (name, alias, version) \
                 SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM registered_models WHERE name = ?1) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(name)
            .bind(&alias.alias)
            .bind(alias.version)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?
            .rows_affected();
        }
        tx.commit().await.map_err(db_error)?;
        Ok(set)
    }
}
