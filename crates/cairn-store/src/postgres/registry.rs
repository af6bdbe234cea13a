//! PostgreSQL: the model registry (registered models, versions, stages, tags, aliases).
//!
//! Deleted versions are kept with stage `Deleted_Internal` (as MLflow does) so that version numbers are
//! never reused; every read hides them.
//!
//! Concurrency (several replicas on one database): every write that changes which versions a model
//! has, their stages or its aliases first locks the model's `registered_models` row
//! ([`lock_registered_model`]) and then works in later statements of the same transaction. Under READ
//! COMMITTED each statement reads a fresh snapshot, so a statement that runs after the lock was granted
//! sees everything that earlier holders of the lock committed. That is what makes "max + 1" version
//! numbers, archive_existing_versions and "deleting a version drops its aliases" exact. The lock is
//! `FOR NO KEY UPDATE`: it serializes those writers (and conflicts with a rename) but lets the
//! foreign-key checks of unrelated writes (tags) through. Locks are always taken model row first, then
//! version rows, so these writers cannot deadlock one another.

use crate::targets::{MODEL_VERSIONS, REGISTERED_MODELS};
use std::collections::HashMap;

use cairn_core::entities::{Alias, KeyValue, ModelVersion, Page, RegisteredModel, Stage};
use cairn_core::{Error, Result};
use sqlx::{PgConnection, PgExecutor};

use super::runs::last_values;
use super::{db_error, finish_page, is_unique_violation, now_ms, parse_column, PgStore};
use crate::filter::{self, Sql};
use crate::{CreateModelVersion, Search};

/// The columns of a [`VersionRow`] over `model_versions mv`: the version, its tags in insertion order
/// and, `with_aliases`, its aliases (MLflow leaves them out of searches and of a model's latest
/// versions, so `without_aliases` yields an empty list).
macro_rules! version_columns {
    (with_aliases) => {
        concat!(
            version_columns!(base),
            "ARRAY(SELECT a.alias FROM registered_model_aliases a \
             WHERE a.name = mv.name AND a.version = mv.version ORDER BY a.seq) AS aliases"
        )
    };
    (without_aliases) => {
        concat!(version_columns!(base), "ARRAY[]::text[] AS aliases")
    };
    (base) => {
        "mv.name, mv.version, mv.creation_time, mv.last_updated_time, mv.description, mv.user_id, \
         mv.current_stage, mv.source, mv.run_id, mv.run_link, mv.status, mv.status_message, mv.model_id, \
         ARRAY(SELECT t.key FROM model_version_tags t \
               WHERE t.name = mv.name AND t.version = mv.version ORDER BY t.seq) AS tag_keys, \
         ARRAY(SELECT t.value FROM model_version_tags t \
               WHERE t.name = mv.name AND t.version = mv.version ORDER BY t.seq) AS tag_values, "
    };
}

/// The columns of a [`RegisteredModelRow`] over `registered_models rm`.
macro_rules! registered_model_columns {
    () => {
        "rm.name, rm.creation_time, rm.last_updated_time, rm.description, rm.user_id, \
         ARRAY(SELECT t.key FROM registered_model_tags t WHERE t.name = rm.name ORDER BY t.seq) AS tag_keys, \
         ARRAY(SELECT t.value FROM registered_model_tags t WHERE t.name = rm.name ORDER BY t.seq) AS tag_values, \
         ARRAY(SELECT a.alias FROM registered_model_aliases a WHERE a.name = rm.name ORDER BY a.seq) AS alias_names, \
         ARRAY(SELECT a.version FROM registered_model_aliases a WHERE a.name = rm.name ORDER BY a.seq) AS alias_versions"
    };
}

/// One live version, with its aliases.
const SELECT_VERSION: &str = concat!(
    "SELECT ",
    version_columns!(with_aliases),
    " FROM model_versions mv \
     WHERE mv.name = $1 AND mv.version = $2 AND mv.current_stage <> 'Deleted_Internal'"
);

/// The latest version in each of the stages `$2` of each model in `$1`, by model and version.
macro_rules! latest_versions {
    ($aliases:tt) => {
        concat!(
            "SELECT ",
            version_columns!($aliases),
            " FROM model_versions mv WHERE (mv.name, mv.version) IN \
             (SELECT name, MAX(version) FROM model_versions \
              WHERE name = ANY($1) AND current_stage = ANY($2) GROUP BY name, current_stage) \
             ORDER BY mv.name, mv.version"
        )
    };
}

/// MLflow's error for a registered model that does not exist.
pub(super) fn registered_model_not_found(name: &str) -> Error {
    Error::not_found(format!("Registered Model with name={name} not found"))
}

fn version_not_found(name: &str, version: i64) -> Error {
    Error::not_found(format!(
        "Model Version (name={name}, version={version}) not found"
    ))
}

fn registered_model_exists_error(name: &str) -> Error {
    Error::already_exists(format!("Registered Model (name={name}) already exists."))
}

/// The pairs that [`last_values`] stores, in their stored order.
pub(super) fn stored_pairs(keys: &[&str], values: &[&str]) -> Vec<KeyValue> {
    keys.iter()
        .zip(values)
        .map(|(key, value)| KeyValue::new(*key, *value))
        .collect()
}

/// Key/value pairs read back as two parallel arrays (`ARRAY(SELECT key ...)`, `ARRAY(SELECT value ...)`).
pub(super) fn zip_pairs(keys: Vec<String>, values: Vec<String>) -> Vec<KeyValue> {
    keys.into_iter()
        .zip(values)
        .map(|(key, value)| KeyValue { key, value })
        .collect()
}

/// A row of `version_columns!`.
#[derive(sqlx::FromRow)]
struct VersionRow {
    name: String,
    version: i64,
    creation_time: i64,
    last_updated_time: i64,
    description: Option<String>,
    user_id: Option<String>,
    current_stage: String,
    source: String,
    run_id: Option<String>,
    run_link: Option<String>,
    status: String,
    status_message: Option<String>,
    model_id: Option<String>,
    tag_keys: Vec<String>,
    tag_values: Vec<String>,
    aliases: Vec<String>,
}

impl VersionRow {
    fn into_version(self) -> Result<ModelVersion> {
        Ok(ModelVersion {
            current_stage: parse_column(&self.current_stage)?,
            name: self.name,
            version: self.version,
            creation_timestamp: self.creation_time,
            last_updated_timestamp: self.last_updated_time,
            user_id: self.user_id,
            description: self.description.unwrap_or_default(),
            source: self.source,
            run_id: self.run_id,
            run_link: self.run_link.unwrap_or_default(),
            status: self.status,
            status_message: self.status_message,
            model_id: self.model_id,
            tags: zip_pairs(self.tag_keys, self.tag_values),
            aliases: self.aliases,
        })
    }
}

fn into_versions(rows: Vec<VersionRow>) -> Result<Vec<ModelVersion>> {
    rows.into_iter().map(VersionRow::into_version).collect()
}

/// A row of `registered_model_columns!`.
#[derive(sqlx::FromRow)]
struct RegisteredModelRow {
    name: String,
    creation_time: i64,
    last_updated_time: i64,
    description: Option<String>,
    user_id: Option<String>,
    tag_keys: Vec<String>,
    tag_values: Vec<String>,
    alias_names: Vec<String>,
    alias_versions: Vec<i64>,
}

/// All stages a live version can be in.
fn all_stages() -> Vec<&'static str> {
    Stage::ALL.iter().map(|stage| stage.as_str()).collect()
}

/// The registered models of `rows` (in their order) with their latest versions: one query for all.
async fn with_latest_versions(
    conn: &mut PgConnection,
    rows: Vec<RegisteredModelRow>,
) -> Result<Vec<RegisteredModel>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<&str> = rows.iter().map(|row| row.name.as_str()).collect();
    // As MLflow's registered model: latest versions come without their aliases.
    let latest: Vec<VersionRow> = sqlx::query_as(latest_versions!(without_aliases))
        .bind(&names)
        .bind(all_stages())
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
    let mut latest_by_model: HashMap<String, Vec<ModelVersion>> = HashMap::new();
    for row in latest {
        let version = row.into_version()?;
        latest_by_model
            .entry(version.name.clone())
            .or_default()
            .push(version);
    }
    Ok(rows
        .into_iter()
        .map(|row| RegisteredModel {
            latest_versions: latest_by_model.remove(&row.name).unwrap_or_default(),
            name: row.name,
            creation_timestamp: row.creation_time,
            last_updated_timestamp: row.last_updated_time,
            description: row.description,
            user_id: row.user_id,
            tags: zip_pairs(row.tag_keys, row.tag_values),
            aliases: row
                .alias_names
                .into_iter()
                .zip(row.alias_versions)
                .map(|(alias, version)| Alias { alias, version })
                .collect(),
        })
        .collect())
}

async fn load_registered_model(conn: &mut PgConnection, name: &str) -> Result<RegisteredModel> {
    let row: Option<RegisteredModelRow> = sqlx::query_as(concat!(
        "SELECT ",
        registered_model_columns!(),
        " FROM registered_models rm WHERE rm.name = $1"
    ))
    .bind(name)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    let row = row.ok_or_else(|| registered_model_not_found(name))?;
    with_latest_versions(conn, vec![row])
        .await?
        .pop()
        .ok_or_else(|| registered_model_not_found(name))
}

async fn load_version(
    executor: impl PgExecutor<'_>,
    name: &str,
    version: i64,
) -> Result<ModelVersion> {
    let row: Option<VersionRow> = sqlx::query_as(SELECT_VERSION)
        .bind(name)
        .bind(version)
        .fetch_optional(executor)
        .await
        .map_err(db_error)?;
    row.ok_or_else(|| version_not_found(name, version))?
        .into_version()
}

async fn require_registered_model(executor: impl PgExecutor<'_>, name: &str) -> Result<()> {
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM registered_models WHERE name = $1")
        .bind(name)
        .fetch_optional(executor)
        .await
        .map_err(db_error)?;
    found
        .map(|_| ())
        .ok_or_else(|| registered_model_not_found(name))
}

async fn require_version(executor: impl PgExecutor<'_>, name: &str, version: i64) -> Result<()> {
    let found: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM model_versions WHERE name = $1 AND version = $2 \
         AND current_stage <> 'Deleted_Internal'",
    )
    .bind(name)
    .bind(version)
    .fetch_optional(executor)
    .await
    .map_err(db_error)?;
    found
        .map(|_| ())
        .ok_or_else(|| version_not_found(name, version))
}

/// Locks the model's row until the transaction ends (see the module comment); false if there is no
/// such model.
async fn lock_registered_model(conn: &mut PgConnection, name: &str) -> Result<bool> {
    let found: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM registered_models WHERE name = $1 FOR NO KEY UPDATE")
            .bind(name)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_error)?;
    Ok(found.is_some())
}

impl PgStore {
    pub(super) async fn create_registered_model_impl(
        &self,
        name: &str,
        tags: Vec<KeyValue>,
        description: Option<String>,
    ) -> Result<RegisteredModel> {
        let now = now_ms();
        let (keys, values) = last_values(&tags);
        // One statement: the tags are written only with a model that this call created.
        let created: i64 = sqlx::query_scalar(
            "WITH model AS (\
               INSERT INTO registered_models (name, creation_time, last_updated_time, description, user_id) \
               VALUES ($1, $2, $2, $3, NULL) ON CONFLICT (name) DO NOTHING RETURNING name), \
             tags AS (\
               INSERT INTO registered_model_tags (name, key, value) \
               SELECT model.name, pair.key, pair.value FROM model, unnest($4::text[], $5::text[]) AS pair (key, value)) \
             SELECT count(*) FROM model",
        )
        .bind(name)
        .bind(now)
        .bind(&description)
        .bind(&keys)
        .bind(&values)
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        if created == 0 {
            return Err(registered_model_exists_error(name));
        }
        Ok(RegisteredModel {
            name: name.to_owned(),
            creation_timestamp: now,
            last_updated_timestamp: now,
            description,
            user_id: None,
            latest_versions: Vec::new(),
            tags: stored_pairs(&keys, &values),
            aliases: Vec::new(),
        })
    }

    pub(super) async fn get_registered_model_impl(&self, name: &str) -> Result<RegisteredModel> {
        let mut tx = self.read().await?;
        load_registered_model(&mut tx, name).await
    }

    pub(super) async fn rename_registered_model_impl(
        &self,
        name: &str,
        new_name: &str,
    ) -> Result<RegisteredModel> {
        let mut tx = self.write().await?;
        let now = now_ms();
        // Versions, tags and aliases follow through ON UPDATE CASCADE. A missing model matches no row
        // (not found) before a taken name can clash (already exists), the order MLflow reports them in.
        let renamed = sqlx::query(
            "UPDATE registered_models SET name = $2, last_updated_time = $3 WHERE name = $1",
        )
        .bind(name)
        .bind(new_name)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match renamed {
            Ok(done) if done.rows_affected() == 0 => return Err(registered_model_not_found(name)),
            Ok(_) => {}
            Err(error) if is_unique_violation(&error) => {
                return Err(registered_model_exists_error(new_name))
            }
            Err(error) => return Err(db_error(error)),
        }
        sqlx::query("UPDATE model_versions SET last_updated_time = $1 WHERE name = $2")
            .bind(now)
            .bind(new_name)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        let model = load_registered_model(&mut tx, new_name).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(model)
    }

    pub(super) async fn update_registered_model_impl(
        &self,
        name: &str,
        description: Option<String>,
    ) -> Result<RegisteredModel> {
        let mut tx = self.write().await?;
        // As MLflow: the description is replaced, `None` clears it.
        let updated = sqlx::query(
            "UPDATE registered_models SET description = $2, last_updated_time = $3 WHERE name = $1",
        )
        .bind(name)
        .bind(description)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if updated.rows_affected() == 0 {
            return Err(registered_model_not_found(name));
        }
        let model = load_registered_model(&mut tx, name).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(model)
    }

    pub(super) async fn delete_registered_model_impl(&self, name: &str) -> Result<()> {
        // Versions, tags and aliases go with it (ON DELETE CASCADE).
        let deleted = sqlx::query("DELETE FROM registered_models WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        if deleted.rows_affected() == 0 {
            return Err(registered_model_not_found(name));
        }
        Ok(())
    }

    pub(super) async fn search_registered_models_impl(
        &self,
        search: Search,
    ) -> Result<Page<RegisteredModel>> {
        let compiled = filter::compile(&REGISTERED_MODELS, &search.filter, &search.order_by)?;
        let mut order = compiled.order;
        if !order.text.is_empty() {
            order.push(", ");
        }
        order.push("rm.name ASC");
        // The page and its rows in one statement: `ord` carries the search order out of the page.
        let mut sql = Sql::new("WITH page AS (SELECT rm.name, row_number() OVER (ORDER BY ");
        sql.append(order.clone());
        sql.push(") AS ord FROM registered_models rm");
        sql.append(compiled.joins);
        sql.push(" WHERE TRUE");
        sql.append(compiled.conditions);
        sql.push(" ORDER BY ");
        sql.append(order);
        sql.push_page(search.page);
        sql.push(concat!(
            ") SELECT ",
            registered_model_columns!(),
            " FROM page JOIN registered_models rm ON rm.name = page.name ORDER BY page.ord"
        ));
        let text = sql.pg_text();
        let mut tx = self.read().await?;
        let rows: Vec<RegisteredModelRow> = sql
            .pg_query_as(&text)?
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?;
        let models = with_latest_versions(&mut tx, rows).await?;
        Ok(finish_page(models, search.page))
    }

    pub(super) async fn get_latest_versions_impl(
        &self,
        name: &str,
        stages: Vec<Stage>,
    ) -> Result<Vec<ModelVersion>> {
        let stage_names: Vec<&str> = if stages.is_empty() {
            all_stages()
        } else {
            stages.iter().map(|stage| stage.as_str()).collect()
        };
        let rows: Vec<VersionRow> = sqlx::query_as(latest_versions!(with_aliases))
            .bind(&[name][..])
            .bind(&stage_names)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        // Versions exist only under an existing model; without any, tell "none" from "no model".
        if rows.is_empty() {
            require_registered_model(&self.pool, name).await?;
        }
        into_versions(rows)
    }

    pub(super) async fn set_registered_model_tag_impl(
        &self,
        name: &str,
        tag: KeyValue,
    ) -> Result<()> {
        let written = sqlx::query(
            "INSERT INTO registered_model_tags (name, key, value) \
             SELECT name, $2, $3 FROM registered_models WHERE name = $1 \
             ON CONFLICT (name, key) DO UPDATE SET value = excluded.value",
        )
        .bind(name)
        .bind(&tag.key)
        .bind(&tag.value)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        if written.rows_affected() == 0 {
            return Err(registered_model_not_found(name));
        }
        Ok(())
    }

    pub(super) async fn delete_registered_model_tag_impl(
        &self,
        name: &str,
        key: &str,
    ) -> Result<()> {
        let deleted = sqlx::query("DELETE FROM registered_model_tags WHERE name = $1 AND key = $2")
            .bind(name)
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        // A missing tag is fine; a missing model is not.
        if deleted.rows_affected() == 0 {
            require_registered_model(&self.pool, name).await?;
        }
        Ok(())
    }

    pub(super) async fn create_model_version_impl(
        &self,
        request: CreateModelVersion,
    ) -> Result<ModelVersion> {
        let mut tx = self.write().await?;
        // Numbering: the lock comes first, in a statement of its own, so that the next statement's
        // snapshot holds every version committed by whoever held the lock before (replicas included).
        // `MAX(version)` computed in the statement that waits for the lock would use a snapshot from
        // before the wait and hand out a number twice. Deleted versions stay in the table, so their
        // numbers count.
        if !lock_registered_model(&mut tx, &request.name).await? {
            return Err(registered_model_not_found(&request.name));
        }
        let now = now_ms();
        let description = request.description.unwrap_or_default();
        let run_link = request.run_link.unwrap_or_default();
        let (keys, values) = last_values(&request.tags);
        let version: i64 = sqlx::query_scalar(
            "WITH version AS (\
               INSERT INTO model_versions (name, version, creation_time, last_updated_time, description, \
               user_id, current_stage, source, run_id, run_link, status, status_message, model_id) \
               SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $2, $3, NULL, 'None', $4, $5, $6, 'READY', \
               NULL, $7 FROM model_versions WHERE name = $1 RETURNING version), \
             tags AS (\
               INSERT INTO model_version_tags (name, version, key, value) \
               SELECT $1, version.version, pair.key, pair.value \
               FROM version, unnest($8::text[], $9::text[]) AS pair (key, value)), \
             touched AS (UPDATE registered_models SET last_updated_time = $2 WHERE name = $1) \
             SELECT version FROM version",
        )
        .bind(&request.name)
        .bind(now)
        .bind(&description)
        .bind(&request.source)
        .bind(&request.run_id)
        .bind(&run_link)
        .bind(&request.model_id)
        .bind(&keys)
        .bind(&values)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
        let tags = stored_pairs(&keys, &values);
        tx.commit().await.map_err(db_error)?;
        Ok(ModelVersion {
            name: request.name,
            version,
            creation_timestamp: now,
            last_updated_timestamp: now,
            user_id: None,
            current_stage: Stage::None,
            description,
            source: request.source,
            run_id: request.run_id,
            run_link,
            status: "READY".to_owned(),
            status_message: None,
            model_id: request.model_id,
            tags,
            aliases: Vec::new(),
        })
    }

    pub(super) async fn get_model_version_impl(
        &self,
        name: &str,
        version: i64,
    ) -> Result<ModelVersion> {
        load_version(&self.pool, name, version).await
    }

    pub(super) async fn update_model_version_impl(
        &self,
        name: &str,
        version: i64,
        description: Option<String>,
    ) -> Result<ModelVersion> {
        // As MLflow: the description is replaced, `None` clears it.
        let row: Option<VersionRow> = sqlx::query_as(concat!(
            "UPDATE model_versions mv SET description = $3, last_updated_time = $4 \
             WHERE mv.name = $1 AND mv.version = $2 AND mv.current_stage <> 'Deleted_Internal' \
             RETURNING ",
            version_columns!(with_aliases)
        ))
        .bind(name)
        .bind(version)
        .bind(description)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.ok_or_else(|| version_not_found(name, version))?
            .into_version()
    }

    pub(super) async fn delete_model_version_impl(&self, name: &str, version: i64) -> Result<()> {
        let mut tx = self.write().await?;
        // Under the model lock, which alias writers take too: the statement below sees every alias
        // committed so far, and no new one can point at this version once it commits.
        if !lock_registered_model(&mut tx, name).await? {
            return Err(version_not_found(name, version));
        }
        let deleted: i64 = sqlx::query_scalar(
            "WITH deleted AS (\
               UPDATE model_versions SET current_stage = 'Deleted_Internal', last_updated_time = $3, \
               description = NULL, user_id = NULL, source = 'REDACTED-SOURCE-PATH', \
               run_id = 'REDACTED-RUN-ID', run_link = 'REDACTED-RUN-LINK', status_message = NULL \
               WHERE name = $1 AND version = $2 AND current_stage <> 'Deleted_Internal' \
               RETURNING version), \
             aliases AS (\
               DELETE FROM registered_model_aliases a USING deleted \
               WHERE a.name = $1 AND a.version = deleted.version), \
             touched AS (UPDATE registered_models SET last_updated_time = $3 WHERE name = $1) \
             SELECT count(*) FROM deleted",
        )
        .bind(name)
        .bind(version)
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
        if deleted == 0 {
            return Err(version_not_found(name, version));
        }
        tx.commit().await.map_err(db_error)
    }

    pub(super) async fn search_model_versions_impl(
        &self,
        search: Search,
    ) -> Result<Page<ModelVersion>> {
        let compiled = filter::compile(&MODEL_VERSIONS, &search.filter, &search.order_by)?;
        // As MLflow: by default `last_updated_timestamp DESC`; then name ASC, version DESC.
        let mut order = compiled.order;
        if order.text.is_empty() {
            order.push("mv.last_updated_time DESC, ");
        } else {
            order.push(", ");
        }
        order.push("mv.name ASC, mv.version DESC");
        // The page and its rows in one statement: `ord` carries the search order out of the page.
        let mut sql =
            Sql::new("WITH page AS (SELECT mv.name, mv.version, row_number() OVER (ORDER BY ");
        sql.append(order.clone());
        sql.push(") AS ord FROM model_versions mv");
        sql.append(compiled.joins);
        sql.push(" WHERE mv.current_stage <> 'Deleted_Internal'");
        sql.append(compiled.conditions);
        sql.push(" ORDER BY ");
        sql.append(order);
        sql.push_page(search.page);
        // As MLflow's search: versions come without their aliases.
        sql.push(concat!(
            ") SELECT ",
            version_columns!(without_aliases),
            " FROM page JOIN model_versions mv ON mv.name = page.name AND mv.version = page.version \
             ORDER BY page.ord"
        ));
        let text = sql.pg_text();
        let rows: Vec<VersionRow> = sql
            .pg_query_as(&text)?
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(finish_page(into_versions(rows)?, search.page))
    }

    pub(super) async fn transition_model_version_stage_impl(
        &self,
        name: &str,
        version: i64,
        stage: Stage,
        archive_existing_versions: bool,
    ) -> Result<ModelVersion> {
        let is_active_stage = matches!(stage, Stage::Staging | Stage::Production);
        if archive_existing_versions && !is_active_stage {
            return Err(Error::invalid(format!(
                "Model version transition cannot archive existing model versions because '{stage}' is \
                 not an Active stage. Valid stages are ['Staging', 'Production']"
            )));
        }
        let mut tx = self.write().await?;
        // Under the model lock, the archiving below sees every transition committed so far: two
        // concurrent promotions with archive_existing_versions leave one version in the stage.
        if !lock_registered_model(&mut tx, name).await? {
            return Err(version_not_found(name, version));
        }
        // The archived versions and the moved one are disjoint rows, so one statement updates both;
        // a missing version returns no row and the transaction is dropped (rolled back).
        let row: Option<VersionRow> = sqlx::query_as(concat!(
            "WITH archived AS (\
               UPDATE model_versions SET current_stage = 'Archived', last_updated_time = $4 \
               WHERE $5 AND name = $1 AND version <> $2 AND current_stage = $3), \
             touched AS (UPDATE registered_models SET last_updated_time = $4 WHERE name = $1) \
             UPDATE model_versions mv SET current_stage = $3, last_updated_time = $4 \
             WHERE mv.name = $1 AND mv.version = $2 AND mv.current_stage <> 'Deleted_Internal' \
             RETURNING ",
            version_columns!(with_aliases)
        ))
        .bind(name)
        .bind(version)
        .bind(stage.as_str())
        .bind(now_ms())
        .bind(archive_existing_versions)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let model_version = row
            .ok_or_else(|| version_not_found(name, version))?
            .into_version()?;
        tx.commit().await.map_err(db_error)?;
        Ok(model_version)
    }

    pub(super) async fn set_model_version_tag_impl(
        &self,
        name: &str,
        version: i64,
        tag: KeyValue,
    ) -> Result<()> {
        let written = sqlx::query(
            "INSERT INTO model_version_tags (name, version, key, value) \
             SELECT name, version, $3, $4 FROM model_versions \
             WHERE name = $1 AND version = $2 AND current_stage <> 'Deleted_Internal' \
             ON CONFLICT (name, version, key) DO UPDATE SET value = excluded.value",
        )
        .bind(name)
        .bind(version)
        .bind(&tag.key)
        .bind(&tag.value)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        if written.rows_affected() == 0 {
            return Err(version_not_found(name, version));
        }
        Ok(())
    }

    pub(super) async fn delete_model_version_tag_impl(
        &self,
        name: &str,
        version: i64,
        key: &str,
    ) -> Result<()> {
        let deleted = sqlx::query(
            "DELETE FROM model_version_tags t WHERE t.name = $1 AND t.version = $2 AND t.key = $3 \
             AND EXISTS (SELECT 1 FROM model_versions mv WHERE mv.name = $1 AND mv.version = $2 \
                         AND mv.current_stage <> 'Deleted_Internal')",
        )
        .bind(name)
        .bind(version)
        .bind(key)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        // A missing tag is fine; a missing (or deleted) version is not.
        if deleted.rows_affected() == 0 {
            require_version(&self.pool, name, version).await?;
        }
        Ok(())
    }

    pub(super) async fn set_registered_model_alias_impl(
        &self,
        name: &str,
        alias: &str,
        version: i64,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        // The model lock orders this against deleting the version (see delete_model_version_impl).
        if !lock_registered_model(&mut tx, name).await? {
            return Err(version_not_found(name, version));
        }
        let written = sqlx::query(
            "INSERT INTO registered_model_aliases (name, alias, version) \
             SELECT name, $2, version FROM model_versions \
             WHERE name = $1 AND version = $3 AND current_stage <> 'Deleted_Internal' \
             ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version",
        )
        .bind(name)
        .bind(alias)
        .bind(version)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if written.rows_affected() == 0 {
            return Err(version_not_found(name, version));
        }
        tx.commit().await.map_err(db_error)
    }

    pub(super) async fn delete_registered_model_alias_impl(
        &self,
        name: &str,
        alias: &str,
    ) -> Result<()> {
        let deleted =
            sqlx::query("DELETE FROM registered_model_aliases WHERE name = $1 AND alias = $2")
                .bind(name)
                .bind(alias)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
        // A missing alias is fine; a missing model is not.
        if deleted.rows_affected() == 0 {
            require_registered_model(&self.pool, name).await?;
        }
        Ok(())
    }

    pub(super) async fn get_model_version_by_alias_impl(
        &self,
        name: &str,
        alias: &str,
    ) -> Result<ModelVersion> {
        let row: Option<VersionRow> = sqlx::query_as(concat!(
            "SELECT ",
            version_columns!(with_aliases),
            " FROM registered_model_aliases ra JOIN model_versions mv \
              ON mv.name = ra.name AND mv.version = ra.version \
             WHERE ra.name = $1 AND ra.alias = $2 AND mv.current_stage <> 'Deleted_Internal'"
        ))
        .bind(name)
        .bind(alias)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        if let Some(row) = row {
            return row.into_version();
        }
        // Which error: no such alias, or (not normally left behind) an alias to a missing version.
        let version: Option<i64> = sqlx::query_scalar(
            "SELECT version FROM registered_model_aliases WHERE name = $1 AND alias = $2",
        )
        .bind(name)
        .bind(alias)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        match version {
            Some(version) => Err(version_not_found(name, version)),
            // MLflow answers INVALID_PARAMETER_VALUE here, not RESOURCE_DOES_NOT_EXIST.
            None => Err(Error::invalid(format!(
                "Registered model alias {alias} not found."
            ))),
        }
    }

    pub(super) async fn list_aliases_impl(&self, name: &str) -> Result<Vec<Alias>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT alias, version FROM registered_model_aliases WHERE name = $1 ORDER BY seq",
        )
        .bind(name)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        // Aliases exist only under an existing model; without any, tell "none" from "no model".
        if rows.is_empty() {
            require_registered_model(&self.pool, name).await?;
        }
        Ok(rows
            .into_iter()
            .map(|(alias, version)| Alias { alias, version })
            .collect())
    }
}
