//! PostgreSQL: experiments and their tags.

pub(super) use crate::shared::{experiment_not_found, invalid_experiment_id, parse_experiment_id};
use crate::targets::EXPERIMENTS;
use std::collections::HashMap;

use cairn_core::entities::{Experiment, KeyValue, LifecycleStage, Page, ViewType};
use cairn_core::{Error, ErrorKind, Result};
use sqlx::PgConnection;

use super::{db_error, finish_page, is_unique_violation, now_ms, parse_column, PgStore};
use crate::filter::{self, Sql};
use crate::{CreateExperiment, ExperimentRunStats, Search};

type ExperimentRow = (i64, String, String, String, i64, i64);

fn name_taken(name: &str) -> Error {
    Error::already_exists(format!("Experiment(name={name}) already exists."))
}

/// (id, artifact_location, lifecycle_stage) of an experiment, or not found.
pub(super) async fn experiment_header(
    conn: &mut PgConnection,
    experiment_id: &str,
) -> Result<(i64, String, LifecycleStage)> {
    let id =
        parse_experiment_id(experiment_id).ok_or_else(|| invalid_experiment_id(experiment_id))?;
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT artifact_location, lifecycle_stage FROM experiments WHERE experiment_id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    let (artifact_location, stage) = row.ok_or_else(|| experiment_not_found(experiment_id))?;
    Ok((id, artifact_location, parse_column(&stage)?))
}

/// Like [`experiment_header`], but the experiment must be active: (id, artifact_location).
pub(super) async fn active_experiment(
    conn: &mut PgConnection,
    experiment_id: &str,
) -> Result<(i64, String)> {
    let (id, artifact_location, stage) = experiment_header(conn, experiment_id).await?;
    if stage != LifecycleStage::Active {
        return Err(Error::invalid(format!(
            "The experiment {experiment_id} must be in the 'active' state. Current state is {stage}."
        )));
    }
    Ok((id, artifact_location))
}

/// The ` AND ...` condition on a `lifecycle_stage` column that a view type asks for.
pub(super) fn view_condition(column: &str, view_type: ViewType) -> String {
    match view_type {
        ViewType::ActiveOnly => format!(" AND {column} = 'active'"),
        ViewType::DeletedOnly => format!(" AND {column} = 'deleted'"),
        ViewType::All => String::new(),
    }
}

/// Loads experiments with their tags, in the order of `ids` (missing ids are skipped).
async fn load_experiments(conn: &mut PgConnection, ids: &[i64]) -> Result<Vec<Experiment>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<ExperimentRow> = sqlx::query_as(
        "SELECT experiment_id, name, artifact_location, lifecycle_stage, creation_time, \
         last_update_time FROM experiments WHERE experiment_id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    let tag_rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT experiment_id, key, value FROM experiment_tags \
         WHERE experiment_id = ANY($1) ORDER BY seq",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    let mut tags: HashMap<i64, Vec<KeyValue>> = HashMap::new();
    for (id, key, value) in tag_rows {
        tags.entry(id).or_default().push(KeyValue { key, value });
    }
    let mut by_id: HashMap<i64, Experiment> = HashMap::with_capacity(rows.len());
    for (id, name, artifact_location, stage, creation_time, last_update_time) in rows {
        by_id.insert(
            id,
            Experiment {
                experiment_id: id.to_string(),
                name,
                artifact_location,
                lifecycle_stage: parse_column(&stage)?,
                creation_time,
                last_update_time,
                tags: tags.remove(&id).unwrap_or_default(),
            },
        );
    }
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// Upserts experiment tags in one statement; a key given twice keeps its last value.
async fn upsert_tags(conn: &mut PgConnection, id: i64, tags: &[KeyValue]) -> Result<()> {
    if tags.is_empty() {
        return Ok(());
    }
    let (keys, values) = super::runs::last_values(tags);
    sqlx::query(
        "INSERT INTO experiment_tags (experiment_id, key, value) \
         SELECT $1, key, value FROM UNNEST($2::text[], $3::text[]) AS input(key, value) \
         ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value",
    )
    .bind(id)
    .bind(keys)
    .bind(values)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Inserts a new active experiment with the next id of `experiments_id_seq`; `None` if that id is
/// already taken (an import may have given it out).
async fn insert_experiment(
    conn: &mut PgConnection,
    name: &str,
    artifact_location: Option<&str>,
) -> Result<Option<i64>> {
    let now = now_ms();
    sqlx::query_scalar(
        "INSERT INTO experiments \
         (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time) \
         SELECT next.id, $1, COALESCE($2, 'mlflow-artifacts:/' || next.id), 'active', $3, $3 \
         FROM (SELECT nextval('experiments_id_seq') AS id) AS next \
         ON CONFLICT (experiment_id) DO NOTHING RETURNING experiment_id",
    )
    .bind(name)
    .bind(artifact_location)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await
    .map_err(|error| {
        // Another writer created the same name since the check.
        if is_unique_violation(&error) {
            name_taken(name)
        } else {
            db_error(error)
        }
    })
}

impl PgStore {
    pub(super) async fn create_experiment_impl(&self, request: CreateExperiment) -> Result<String> {
        let mut tx = self.write().await?;
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT experiment_id FROM experiments WHERE name = $1")
                .bind(&request.name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
        if exists.is_some() {
            return Err(name_taken(&request.name));
        }
        let artifact_location = request
            .artifact_location
            .as_deref()
            .filter(|location| !location.is_empty());
        let id = match insert_experiment(&mut tx, &request.name, artifact_location).await? {
            Some(id) => id,
            None => {
                // Imported experiments keep their own ids, which the sequence does not know of: move
                // it past them, and take the next.
                sqlx::query(
                    "SELECT setval('experiments_id_seq', \
                     GREATEST((SELECT MAX(experiment_id) FROM experiments), 1))",
                )
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                insert_experiment(&mut tx, &request.name, artifact_location)
                    .await?
                    .ok_or_else(|| Error::internal("no free experiment id"))?
            }
        };
        upsert_tags(&mut tx, id, &request.tags).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(id.to_string())
    }

    pub(super) async fn get_experiment_impl(&self, experiment_id: &str) -> Result<Experiment> {
        let id = parse_experiment_id(experiment_id)
            .ok_or_else(|| invalid_experiment_id(experiment_id))?;
        let mut tx = self.read().await?;
        let experiment = load_experiments(&mut tx, &[id])
            .await?
            .pop()
            .ok_or_else(|| experiment_not_found(experiment_id))?;
        tx.commit().await.map_err(db_error)?;
        Ok(experiment)
    }

    pub(super) async fn get_experiment_by_name_impl(&self, name: &str) -> Result<Experiment> {
        let not_found =
            || Error::not_found(format!("Could not find experiment with name '{name}'"));
        let mut tx = self.read().await?;
        let id: Option<i64> =
            sqlx::query_scalar("SELECT experiment_id FROM experiments WHERE name = $1")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
        let id = id.ok_or_else(not_found)?;
        let experiment = load_experiments(&mut tx, &[id])
            .await?
            .pop()
            .ok_or_else(not_found)?;
        tx.commit().await.map_err(db_error)?;
        Ok(experiment)
    }

    pub(super) async fn experiment_run_stats_impl(
        &self,
        experiment_ids: &[String],
    ) -> Result<Vec<ExperimentRunStats>> {
        let ids: Vec<i64> = experiment_ids
            .iter()
            .filter_map(|id| parse_experiment_id(id))
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(i64, i64, Option<i64>)> = sqlx::query_as(
            "SELECT experiment_id, count(*), max(start_time) FROM runs \
             WHERE experiment_id = ANY($1) AND lifecycle_stage = 'active' GROUP BY experiment_id",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|(id, runs, last)| ExperimentRunStats {
                experiment_id: id.to_string(),
                active_runs: u64::try_from(runs).unwrap_or(0),
                last_run_start: last,
            })
            .collect())
    }

    pub(super) async fn search_experiments_impl(
        &self,
        view_type: ViewType,
        search: Search,
    ) -> Result<Page<Experiment>> {
        let compiled = filter::compile(&EXPERIMENTS, &search.filter, &search.order_by)?;
        let mut sql = Sql::new("SELECT e.experiment_id FROM experiments e");
        sql.append(compiled.joins);
        sql.push(" WHERE TRUE");
        sql.push(&view_condition("e.lifecycle_stage", view_type));
        sql.append(compiled.conditions);
        sql.push(" ORDER BY ");
        if search.order_by.is_empty() {
            sql.push("e.creation_time DESC, e.experiment_id ASC");
        } else {
            sql.append(compiled.order);
            sql.push(", e.experiment_id ASC");
        }
        sql.push_page(search.page);
        let text = sql.pg_text();
        let mut tx = self.read().await?;
        let ids: Vec<(i64,)> = sql
            .pg_query_as(&text)?
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?;
        let ids: Vec<i64> = ids.into_iter().map(|(id,)| id).collect();
        let experiments = load_experiments(&mut tx, &ids).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(finish_page(experiments, search.page))
    }

    pub(super) async fn set_experiment_lifecycle(
        &self,
        experiment_id: &str,
        delete: bool,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        let (id, _, stage) = experiment_header(&mut tx, experiment_id).await?;
        // As MLflow: delete looks among active experiments, restore among deleted ones.
        let wanted = if delete {
            LifecycleStage::Active
        } else {
            LifecycleStage::Deleted
        };
        if stage != wanted {
            return Err(experiment_not_found(experiment_id));
        }
        let now = now_ms();
        let (new_stage, deleted_time) = if delete {
            (LifecycleStage::Deleted, Some(now))
        } else {
            (LifecycleStage::Active, None)
        };
        // As MLflow: deleting an experiment deletes its runs; restoring restores them.
        sqlx::query(
            "WITH experiment AS (UPDATE experiments SET lifecycle_stage = $2, last_update_time = $3 \
             WHERE experiment_id = $1) \
             UPDATE runs SET lifecycle_stage = $2, deleted_time = $4 WHERE experiment_id = $1",
        )
        .bind(id)
        .bind(new_stage.as_str())
        .bind(now)
        .bind(deleted_time)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    pub(super) async fn rename_experiment_impl(
        &self,
        experiment_id: &str,
        new_name: &str,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        let (id, _, stage) = experiment_header(&mut tx, experiment_id).await?;
        if stage != LifecycleStage::Active {
            return Err(Error::new(
                ErrorKind::InvalidState,
                "Cannot rename a non-active experiment.",
            ));
        }
        let clash: Option<i64> =
            sqlx::query_scalar("SELECT experiment_id FROM experiments WHERE name = $1")
                .bind(new_name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
        if clash.is_some_and(|other| other != id) {
            return Err(name_taken(new_name));
        }
        sqlx::query(
            "UPDATE experiments SET name = $1, last_update_time = $2 WHERE experiment_id = $3",
        )
        .bind(new_name)
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|error| {
            // Another writer took the name since the check.
            if is_unique_violation(&error) {
                name_taken(new_name)
            } else {
                db_error(error)
            }
        })?;
        tx.commit().await.map_err(db_error)
    }

    pub(super) async fn set_experiment_tag_impl(
        &self,
        experiment_id: &str,
        tag: KeyValue,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        let (id, _) = active_experiment(&mut tx, experiment_id).await?;
        upsert_tags(&mut tx, id, std::slice::from_ref(&tag)).await?;
        tx.commit().await.map_err(db_error)
    }

    pub(super) async fn delete_experiment_tag_impl(
        &self,
        experiment_id: &str,
        key: &str,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        let (id, _) = active_experiment(&mut tx, experiment_id).await?;
        let deleted =
            sqlx::query("DELETE FROM experiment_tags WHERE experiment_id = $1 AND key = $2")
                .bind(id)
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?
                .rows_affected();
        if deleted == 0 {
            return Err(Error::not_found(format!(
                "No tag with name: {key} in experiment with id {experiment_id}"
            )));
        }
        tx.commit().await.map_err(db_error)
    }
}
