//! PostgreSQL: import, id-preserving inserts of what another tracking store (MLflow) created.
//!
//! Each call is one transaction and overwrites nothing: what exists is reported, not changed. Rows go
//! in as arrays (`INSERT ... SELECT FROM UNNEST(...)`), one statement per table and chunk, since an
//! import moves millions of metric points. Two importers racing on one id both succeed: the loser's
//! insert finds the winner's row (`ON CONFLICT DO NOTHING`) and reports it as existing.

use cairn_core::entities::{Alias, KeyValue, Metric};
use cairn_core::{Error, Result};
use sqlx::{PgConnection, Postgres};

use super::experiments::experiment_header;
use super::runs::{insert_dataset_inputs, insert_metrics, insert_params, insert_tags};
use super::{db_error, logged_model_artifact_uri, run_artifact_uri, store_value, PgStore};
use crate::{
    ImportExperiment, ImportLoggedModel, ImportModelVersion, ImportRegisteredModel, ImportRun,
    Imported,
};

/// Metric points per statement: bounds one statement's arrays (a few MB) on long histories.
const METRIC_ROWS_PER_INSERT: usize = 50_000;

/// The stage a deleted model version keeps (as MLflow and the registry module).
const DELETED_STAGE: &str = "Deleted_Internal";

/// The transaction advisory lock that serializes experiment imports ("cairn" and 1), so that two
/// importers never pick the same id or move `experiments_id_seq` backwards.
const EXPERIMENT_IMPORT_LOCK: i64 = 0x6361_6972_6e00_0001;

/// Inserts `items` as (`owner`, key, value) rows of `table`; keys already there are kept.
async fn insert_key_values<O>(
    conn: &mut PgConnection,
    table: &str,
    owner_column: &str,
    owner: O,
    items: &[KeyValue],
) -> Result<()>
where
    O: for<'q> sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres> + Send,
{
    if items.is_empty() {
        return Ok(());
    }
    let (keys, values): (Vec<&str>, Vec<&str>) = items
        .iter()
        .map(|item| (item.key.as_str(), item.value.as_str()))
        .unzip();
    sqlx::query(&format!(
        "INSERT INTO {table} ({owner_column}, key, value) \
         SELECT $1, key, value FROM UNNEST($2::text[], $3::text[]) AS kv (key, value) \
         ON CONFLICT DO NOTHING"
    ))
    .bind(owner)
    .bind(&keys)
    .bind(&values)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

fn missing_run_id(metric: &Metric) -> Error {
    Error::invalid(format!(
        "logged model metric '{}' has no run id",
        metric.key
    ))
}

/// The artifact uri of run `run_id`, if it exists.
async fn existing_run(conn: &mut PgConnection, run_id: &str) -> Result<Option<String>> {
    sqlx::query_scalar("SELECT artifact_uri FROM runs WHERE run_uuid = $1")
        .bind(run_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)
}

/// The artifact uri of logged model `model_id`, if it exists.
async fn existing_logged_model(conn: &mut PgConnection, model_id: &str) -> Result<Option<String>> {
    sqlx::query_scalar("SELECT artifact_uri FROM logged_models WHERE model_id = $1")
        .bind(model_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)
}

/// A row that a concurrent import inserted after this one looked for it, as not created.
fn lost_race(found: Option<String>, id: String, what: &str) -> Result<Imported> {
    let artifact_uri = found.ok_or_else(|| {
        Error::internal(format!(
            "{what} {id} was neither inserted nor found by the import"
        ))
    })?;
    Ok(Imported {
        created: false,
        id,
        artifact_uri,
    })
}

/// A logged model's metric points, each with the run that logged it; duplicates are dropped.
async fn insert_logged_model_metrics(
    conn: &mut PgConnection,
    model_id: &str,
    metrics: &[Metric],
) -> Result<()> {
    for chunk in metrics.chunks(METRIC_ROWS_PER_INSERT) {
        let mut keys = Vec::with_capacity(chunk.len());
        let mut steps = Vec::with_capacity(chunk.len());
        let mut timestamps = Vec::with_capacity(chunk.len());
        let mut values = Vec::with_capacity(chunk.len());
        let mut is_nans = Vec::with_capacity(chunk.len());
        let mut run_ids = Vec::with_capacity(chunk.len());
        let mut dataset_names = Vec::with_capacity(chunk.len());
        let mut dataset_digests = Vec::with_capacity(chunk.len());
        for metric in chunk {
            let (value, is_nan) = store_value(metric.value);
            keys.push(metric.key.as_str());
            steps.push(metric.step);
            timestamps.push(metric.timestamp);
            values.push(value);
            is_nans.push(is_nan);
            run_ids.push(
                metric
                    .run_id
                    .as_deref()
                    .ok_or_else(|| missing_run_id(metric))?,
            );
            dataset_names.push(metric.dataset_name.as_deref());
            dataset_digests.push(metric.dataset_digest.as_deref());
        }
        sqlx::query(
            "INSERT INTO logged_model_metrics (model_id, key, step, timestamp, value, is_nan, \
             run_uuid, dataset_name, dataset_digest) \
             SELECT $1, * FROM UNNEST($2::text[], $3::bigint[], $4::bigint[], \
             $5::double precision[], $6::boolean[], $7::text[], $8::text[], $9::text[]) \
             ON CONFLICT DO NOTHING",
        )
        .bind(model_id)
        .bind(&keys)
        .bind(&steps)
        .bind(&timestamps)
        .bind(&values)
        .bind(&is_nans)
        .bind(&run_ids)
        .bind(&dataset_names)
        .bind(&dataset_digests)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    }
    Ok(())
}

impl PgStore {
    /// The experiment named `request.name`, or a new one: under the preferred id when it is free
    /// (then `experiments_id_seq` is moved past it, so later creates do not collide), else under
    /// the sequence's next id.
    pub(super) async fn import_experiment_impl(
        &self,
        request: ImportExperiment,
    ) -> Result<Imported> {
        let mut tx = self.write().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(EXPERIMENT_IMPORT_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        let existing: Option<(i64, String)> = sqlx::query_as(
            "SELECT experiment_id, artifact_location FROM experiments WHERE name = $1",
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
                let taken: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM experiments WHERE experiment_id = $1)",
                )
                .bind(id)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_error)?;
                (!taken).then_some(id)
            }
            None => None,
        };
        let id: i64 = match preferred_free {
            Some(id) => {
                // Later creates draw from the sequence: move it past the id taken here.
                sqlx::query(
                    "SELECT setval('experiments_id_seq', $1) FROM experiments_id_seq \
                     WHERE $1 >= CASE WHEN is_called THEN last_value + 1 ELSE last_value END",
                )
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                id
            }
            None => sqlx::query_scalar("SELECT nextval('experiments_id_seq')")
                .fetch_one(&mut *tx)
                .await
                .map_err(db_error)?,
        };
        let artifact_location = format!("mlflow-artifacts:/{id}");
        sqlx::query(
            "INSERT INTO experiments \
             (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time) \
             VALUES ($1, $2, $3, $4, $5, $6)",
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
            id,
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

    /// A run with its own id, everything it logged, in one transaction; an existing id is kept.
    pub(super) async fn import_run_impl(&self, request: ImportRun) -> Result<Imported> {
        let mut tx = self.write().await?;
        if let Some(artifact_uri) = existing_run(&mut tx, &request.run_id).await? {
            return Ok(Imported {
                created: false,
                id: request.run_id,
                artifact_uri,
            });
        }
        let (experiment_id, artifact_location, _) =
            experiment_header(&mut tx, &request.experiment_id).await?;
        let run_id = request.run_id.as_str();
        let artifact_uri = run_artifact_uri(&artifact_location, run_id);
        let inserted = sqlx::query(
            "INSERT INTO runs (run_uuid, experiment_id, name, user_id, status, start_time, \
             end_time, artifact_uri, lifecycle_stage, deleted_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (run_uuid) DO NOTHING",
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
        .map_err(db_error)?
        .rows_affected();
        if inserted == 0 {
            let found = existing_run(&mut tx, run_id).await?;
            return lost_race(found, request.run_id, "run");
        }
        insert_params(&mut tx, run_id, &request.params).await?;
        insert_tags(&mut tx, run_id, &request.tags).await?;
        for chunk in request.metrics.chunks(METRIC_ROWS_PER_INSERT) {
            insert_metrics(&mut tx, run_id, chunk).await?;
        }
        insert_dataset_inputs(&mut tx, experiment_id, run_id, &request.dataset_inputs).await?;
        if !request.model_inputs.is_empty() {
            let model_ids: Vec<&str> = request
                .model_inputs
                .iter()
                .map(|input| input.model_id.as_str())
                .collect();
            sqlx::query(
                "INSERT INTO run_model_inputs (run_uuid, model_id) \
                 SELECT $1, model_id FROM UNNEST($2::text[]) AS i (model_id) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(run_id)
            .bind(&model_ids)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        if !request.model_outputs.is_empty() {
            let (model_ids, steps): (Vec<&str>, Vec<i64>) = request
                .model_outputs
                .iter()
                .map(|output| (output.model_id.as_str(), output.step))
                .unzip();
            sqlx::query(
                "INSERT INTO run_model_outputs (run_uuid, model_id, step) \
                 SELECT $1, model_id, step FROM UNNEST($2::text[], $3::bigint[]) AS o (model_id, step) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(run_id)
            .bind(&model_ids)
            .bind(&steps)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(Imported {
            created: true,
            id: request.run_id,
            artifact_uri,
        })
    }

    /// A logged model with its own id, params, tags and metrics; an existing id is kept.
    pub(super) async fn import_logged_model_impl(
        &self,
        request: ImportLoggedModel,
    ) -> Result<Imported> {
        let mut tx = self.write().await?;
        if let Some(artifact_uri) = existing_logged_model(&mut tx, &request.model_id).await? {
            return Ok(Imported {
                created: false,
                id: request.model_id,
                artifact_uri,
            });
        }
        let (experiment_id, artifact_location, _) =
            experiment_header(&mut tx, &request.experiment_id).await?;
        let model_id = request.model_id.as_str();
        let artifact_uri = logged_model_artifact_uri(&artifact_location, model_id);
        let inserted = sqlx::query(
            "INSERT INTO logged_models (model_id, experiment_id, name, artifact_uri, \
             creation_timestamp, last_updated_timestamp, status, status_message, model_type, \
             source_run_id, lifecycle_stage) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (model_id) DO NOTHING",
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
        .map_err(db_error)?
        .rows_affected();
        if inserted == 0 {
            let found = existing_logged_model(&mut tx, model_id).await?;
            return lost_race(found, request.model_id, "logged model");
        }
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
        insert_logged_model_metrics(&mut tx, model_id, &request.metrics).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(Imported {
            created: true,
            id: request.model_id,
            artifact_uri,
        })
    }

    /// A registered model with its times and tags; `false` when the name exists.
    pub(super) async fn import_registered_model_impl(
        &self,
        request: ImportRegisteredModel,
    ) -> Result<bool> {
        let mut tx = self.write().await?;
        let inserted = sqlx::query(
            "INSERT INTO registered_models \
             (name, creation_time, last_updated_time, description, user_id) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING",
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
            request.name.as_str(),
            &request.tags,
        )
        .await?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    /// A model version with its own number; `false` when (name, version) exists. The registered
    /// model's row is locked, as version allocation does, so a concurrent create sees this number.
    pub(super) async fn import_model_version_impl(
        &self,
        request: ImportModelVersion,
    ) -> Result<bool> {
        let mut tx = self.write().await?;
        let model: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM registered_models WHERE name = $1 FOR UPDATE")
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
            "INSERT INTO model_versions (name, version, creation_time, last_updated_time, \
             description, user_id, current_stage, source, run_id, run_link, status, \
             status_message, model_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (name, version) DO NOTHING",
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
        if !request.tags.is_empty() {
            let (keys, values): (Vec<&str>, Vec<&str>) = request
                .tags
                .iter()
                .map(|tag| (tag.key.as_str(), tag.value.as_str()))
                .unzip();
            sqlx::query(
                "INSERT INTO model_version_tags (name, version, key, value) \
                 SELECT $1, $2, key, value FROM UNNEST($3::text[], $4::text[]) AS kv (key, value) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&request.name)
            .bind(request.version)
            .bind(&keys)
            .bind(&values)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    /// Sets the aliases not set yet (an existing alias never moves), in one statement; returns how
    /// many were set (none when the registered model does not exist).
    pub(super) async fn import_aliases_impl(&self, name: &str, aliases: Vec<Alias>) -> Result<u64> {
        if aliases.is_empty() {
            return Ok(0);
        }
        let (names, versions): (Vec<&str>, Vec<i64>) = aliases
            .iter()
            .map(|alias| (alias.alias.as_str(), alias.version))
            .unzip();
        let set = sqlx::query(
            "INSERT INTO registered_model_aliases (name, alias, version) \
             SELECT $1, alias, version FROM UNNEST($2::text[], $3::bigint[]) AS a (alias, version) \
             WHERE EXISTS (SELECT 1 FROM registered_models WHERE name = $1) \
             ON CONFLICT DO NOTHING",
        )
        .bind(name)
        .bind(&names)
        .bind(&versions)
        .execute(&self.pool)
        .await
        .map_err(db_error)?
        .rows_affected();
        Ok(set)
    }
}
