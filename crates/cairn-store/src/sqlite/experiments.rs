//! Experiments and their tags.

pub(super) use crate::shared::{experiment_not_found, invalid_experiment_id, parse_experiment_id};
use crate::targets::EXPERIMENTS;
use std::collections::HashMap;

use cairn_core::entities::{Experiment, KeyValue, LifecycleStage, Page, ViewType};
use cairn_core::{Error, ErrorKind, Result};
use sqlx::SqliteConnection;

use super::{db_error, finish_page, now_ms, parse_column, SqliteStore};
use crate::filter::{self, Sql};
use crate::{CreateExperiment, ExperimentRunStats, Search};

type ExperimentRow = (i64, String, String, String, i64, i64);

const EXPERIMENT_COLUMNS: &str =
    "e.experiment_id, e.name, e.artifact_location, e.lifecycle_stage, e.creation_time, e.last_update_time";

/// (id, artifact_location, lifecycle_stage) of an experiment, or not found.
pub(super) async fn experiment_header(
    conn: &mut SqliteConnection,
    experiment_id: &str,
) -> Result<(i64, String, LifecycleStage)> {
    let id =
        parse_experiment_id(experiment_id).ok_or_else(|| invalid_experiment_id(experiment_id))?;
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT artifact_location, lifecycle_stage FROM experiments WHERE experiment_id = ?",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    let (artifact_location, stage) = row.ok_or_else(|| experiment_not_found(experiment_id))?;
    Ok((id, artifact_location, parse_column(&stage)?))
}

/// Like [`experiment_header`], but the experiment must be active.
pub(super) async fn active_experiment(
    conn: &mut SqliteConnection,
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

fn json_ids(ids: &[i64]) -> String {
    serde_json::Value::Array(ids.iter().map(|id| serde_json::Value::from(*id)).collect())
        .to_string()
}

/// Loads experiments with their tags, in the order of `ids` (missing ids are skipped).
async fn load_experiments(conn: &mut SqliteConnection, ids: &[i64]) -> Result<Vec<Experiment>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = json_ids(ids);
    let rows: Vec<ExperimentRow> = sqlx::query_as(&format!(
        "SELECT {EXPERIMENT_COLUMNS} FROM experiments e \
         WHERE e.experiment_id IN (SELECT value FROM json_each(?))"
    ))
    .bind(&list)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    let tag_rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT experiment_id, key, value FROM experiment_tags \
         WHERE experiment_id IN (SELECT value FROM json_each(?)) ORDER BY rowid",
    )
    .bind(&list)
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

pub(super) fn view_condition(column: &str, view_type: ViewType) -> String {
    match view_type {
        ViewType::ActiveOnly => format!(" AND {column} = 'active'"),
        ViewType::DeletedOnly => format!(" AND {column} = 'deleted'"),
        ViewType::All => String::new(),
    }
}

impl SqliteStore {
    pub(super) async fn create_experiment_impl(&self, request: CreateExperiment) -> Result<String> {
        let mut tx = self.write().await?;
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT experiment_id FROM experiments WHERE name = ?")
                .bind(&request.name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
        if exists.is_some() {
            return Err(Error::already_exists(format!(
                "Experiment(name={}) already exists.",
                request.name
            )));
        }
        let id: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(experiment_id), -1) + 1 FROM experiments")
                .fetch_one(&mut *tx)
                .await
                .map_err(db_error)?;
        let artifact_location = request
            .artifact_location
            .filter(|location| !location.is_empty())
            .unwrap_or_else(|| format!("mlflow-artifacts:/{id}"));
        let now = now_ms();
        sqlx::query(
            "INSERT INTO experiments \
             (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time) \
             VALUES (?, ?, ?, 'active', ?, ?)",
        )
        .bind(id)
        .bind(&request.name)
        .bind(&artifact_location)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        for tag in &request.tags {
            upsert_tag(&mut tx, id, tag).await?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(id.to_string())
    }

    pub(super) async fn get_experiment_impl(&self, experiment_id: &str) -> Result<Experiment> {
        let id = parse_experiment_id(experiment_id)
            .ok_or_else(|| invalid_experiment_id(experiment_id))?;
        let mut tx = self.read().await?;
        load_experiments(&mut tx, &[id])
            .await?
            .pop()
            .ok_or_else(|| experiment_not_found(experiment_id))
    }

    pub(super) async fn get_experiment_by_name_impl(&self, name: &str) -> Result<Experiment> {
        let mut tx = self.read().await?;
        let id: Option<i64> =
            sqlx::query_scalar("SELECT experiment_id FROM experiments WHERE name = ?")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
        let not_found =
            || Error::not_found(format!("Could not find experiment with name '{name}'"));
        let id = id.ok_or_else(not_found)?;
        load_experiments(&mut tx, &[id])
            .await?
            .pop()
            .ok_or_else(not_found)
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
            "SELECT r.experiment_id, count(*), max(r.start_time) FROM runs r \
             WHERE r.experiment_id IN (SELECT value FROM json_each(?)) AND r.lifecycle_stage = 'active' \
             GROUP BY r.experiment_id",
        )
        .bind(serde_json::Value::from(ids).to_string())
        .fetch_all(&mut *self.reader().await?)
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
        sql.push(" WHERE 1 = 1");
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
        let mut tx = self.read().await?;
        let ids: Vec<(i64,)> = sql
            .query_as()?
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?;
        let ids: Vec<i64> = ids.into_iter().map(|(id,)| id).collect();
        let experiments = load_experiments(&mut tx, &ids).await?;
        Ok(finish_page(experiments, search.page))
    }

    pub(super) async fn set_experiment_lifecycle(
        &self,
        experiment_id: &str,
        delete: bool,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        let (id, _, stage) = experiment_header(&mut tx, experiment_id).await?;
        let now = now_ms();
        // As MLflow: delete looks among active experiments, restore among deleted ones.
        let wanted = if delete {
            LifecycleStage::Active
        } else {
            LifecycleStage::Deleted
        };
        if stage != wanted {
            return Err(experiment_not_found(experiment_id));
        }
        let (new_stage, deleted_time) = if delete {
            ("deleted", Some(now))
        } else {
            ("active", None)
        };
        sqlx::query(
            "UPDATE experiments SET lifecycle_stage = ?, last_update_time = ? WHERE experiment_id = ?",
        )
        .bind(new_stage)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        // As MLflow: deleting an experiment deletes its runs; restoring restores them.
        sqlx::query(
            "UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE experiment_id = ?",
        )
        .bind(new_stage)
        .bind(deleted_time)
        .bind(id)
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
            sqlx::query_scalar("SELECT experiment_id FROM experiments WHERE name = ?")
                .bind(new_name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
        match clash {
            Some(other) if other != id => {
                return Err(Error::already_exists(format!(
                    "Experiment(name={new_name}) already exists."
                )))
            }
            _ => {}
        }
        sqlx::query(
            "UPDATE experiments SET name = ?, last_update_time = ? WHERE experiment_id = ?",
        )
        .bind(new_name)
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    pub(super) async fn set_experiment_tag_impl(
        &self,
        experiment_id: &str,
        tag: KeyValue,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        let (id, _) = active_experiment(&mut tx, experiment_id).await?;
        upsert_tag(&mut tx, id, &tag).await?;
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
            sqlx::query("DELETE FROM experiment_tags WHERE experiment_id = ? AND key = ?")
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

async fn upsert_tag(conn: &mut SqliteConnection, id: i64, tag: &KeyValue) -> Result<()> {
    sqlx::query(
        "INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?, ?, ?) \
         ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value",
    )
    .bind(id)
    .bind(&tag.key)
    .bind(&tag.value)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}
