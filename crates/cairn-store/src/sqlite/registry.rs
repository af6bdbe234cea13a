//! The model registry: registered models, versions, stages, tags and aliases.
//!
//! Deleted versions are kept with stage `Deleted_Internal` (as MLflow does) so that version numbers are
//! never reused; every read hides them.

use crate::targets::{MODEL_VERSIONS, REGISTERED_MODELS};
use std::collections::HashMap;

use cairn_core::entities::{Alias, KeyValue, ModelVersion, Page, RegisteredModel, Stage};
use cairn_core::{Error, Result};
use sqlx::SqliteConnection;

use super::{db_error, finish_page, json_list, now_ms, parse_column, SqliteStore};
use crate::filter::{self, Sql};
use crate::{CreateModelVersion, Search};

const DELETED_STAGE: &str = "Deleted_Internal";

pub(super) fn registered_model_not_found(name: &str) -> Error {
    Error::not_found(format!("Registered Model with name={name} not found"))
}

fn version_not_found(name: &str, version: i64) -> Error {
    Error::not_found(format!(
        "Model Version (name={name}, version={version}) not found"
    ))
}

type RegisteredModelRow = (String, i64, i64, Option<String>, Option<String>);

type VersionRow = (
    String,
    i64,
    i64,
    i64,
    Option<String>,
    Option<String>,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
);

const VERSION_COLUMNS: &str = "mv.name, mv.version, mv.creation_time, mv.last_updated_time, mv.description, \
     mv.user_id, mv.current_stage, mv.source, mv.run_id, mv.run_link, mv.status, mv.status_message, \
     mv.model_id";

fn json_version_keys(keys: &[(String, i64)]) -> String {
    serde_json::Value::Array(
        keys.iter()
            .map(|(name, version)| serde_json::json!([name, version]))
            .collect(),
    )
    .to_string()
}

/// Loads versions in the order of `keys` (missing or deleted ones skipped), with tags and optionally
/// their aliases.
async fn load_versions(
    conn: &mut SqliteConnection,
    keys: &[(String, i64)],
    with_aliases: bool,
) -> Result<Vec<ModelVersion>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let list = json_version_keys(keys);
    let rows: Vec<VersionRow> = sqlx::query_as(&format!(
        "SELECT {VERSION_COLUMNS} FROM json_each(?) j JOIN model_versions mv \
         ON mv.name = json_extract(j.value, '$[0]') AND mv.version = json_extract(j.value, '$[1]') \
         WHERE mv.current_stage != '{DELETED_STAGE}'"
    ))
    .bind(&list)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    let mut versions: HashMap<(String, i64), ModelVersion> = HashMap::with_capacity(rows.len());
    for (
        name,
        version,
        creation_timestamp,
        last_updated_timestamp,
        description,
        user_id,
        stage,
        source,
        run_id,
        run_link,
        status,
        status_message,
        model_id,
    ) in rows
    {
        versions.insert(
            (name.clone(), version),
            ModelVersion {
                name,
                version,
                creation_timestamp,
                last_updated_timestamp,
                user_id,
                current_stage: parse_column(&stage)?,
                description: description.unwrap_or_default(),
                source,
                run_id,
                run_link: run_link.unwrap_or_default(),
                status,
                status_message,
                model_id,
                tags: Vec::new(),
                aliases: Vec::new(),
            },
        );
    }
    let tags: Vec<(String, i64, String, String)> = sqlx::query_as(
        "SELECT t.name, t.version, t.key, t.value FROM json_each(?) j JOIN model_version_tags t \
         ON t.name = json_extract(j.value, '$[0]') AND t.version = json_extract(j.value, '$[1]') \
         ORDER BY t.rowid",
    )
    .bind(&list)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    for (name, version, key, value) in tags {
        if let Some(model_version) = versions.get_mut(&(name, version)) {
            model_version.tags.push(KeyValue { key, value });
        }
    }
    if with_aliases {
        let aliases: Vec<(String, i64, String)> = sqlx::query_as(
            "SELECT a.name, a.version, a.alias FROM json_each(?) j JOIN registered_model_aliases a \
             ON a.name = json_extract(j.value, '$[0]') AND a.version = json_extract(j.value, '$[1]') \
             ORDER BY a.rowid",
        )
        .bind(&list)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
        for (name, version, alias) in aliases {
            if let Some(model_version) = versions.get_mut(&(name, version)) {
                model_version.aliases.push(alias);
            }
        }
    }
    Ok(keys.iter().filter_map(|key| versions.remove(key)).collect())
}

async fn load_version(
    conn: &mut SqliteConnection,
    name: &str,
    version: i64,
) -> Result<ModelVersion> {
    load_versions(conn, &[(name.to_owned(), version)], true)
        .await?
        .pop()
        .ok_or_else(|| version_not_found(name, version))
}

/// The latest live version per stage of each model: (name, version), by version.
async fn latest_version_keys(
    conn: &mut SqliteConnection,
    names: &[String],
    stages: &[Stage],
) -> Result<Vec<(String, i64)>> {
    let stage_names: Vec<&str> = if stages.is_empty() {
        Stage::ALL.iter().map(|stage| stage.as_str()).collect()
    } else {
        stages.iter().map(|stage| stage.as_str()).collect()
    };
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT name, MAX(version) AS latest FROM model_versions \
         WHERE name IN (SELECT value FROM json_each(?)) AND current_stage IN (SELECT value FROM json_each(?)) \
         GROUP BY name, current_stage ORDER BY name, latest",
    )
    .bind(json_list(names))
    .bind(json_list(&stage_names))
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(rows)
}

/// Loads registered models in the order of `names` (missing ones skipped).
async fn load_registered_models(
    conn: &mut SqliteConnection,
    names: &[String],
) -> Result<Vec<RegisteredModel>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let list = json_list(names);
    let rows: Vec<RegisteredModelRow> = sqlx::query_as(
        "SELECT name, creation_time, last_updated_time, description, user_id FROM registered_models \
         WHERE name IN (SELECT value FROM json_each(?))",
    )
    .bind(&list)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    let mut models: HashMap<String, RegisteredModel> = HashMap::with_capacity(rows.len());
    for (name, creation_timestamp, last_updated_timestamp, description, user_id) in rows {
        models.insert(
            name.clone(),
            RegisteredModel {
                name,
                creation_timestamp,
                last_updated_timestamp,
                description,
                user_id,
                latest_versions: Vec::new(),
                tags: Vec::new(),
                aliases: Vec::new(),
            },
        );
    }
    let tags: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT name, key, value FROM registered_model_tags \
         WHERE name IN (SELECT value FROM json_each(?)) ORDER BY rowid",
    )
    .bind(&list)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    for (name, key, value) in tags {
        if let Some(model) = models.get_mut(&name) {
            model.tags.push(KeyValue { key, value });
        }
    }
    let aliases: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT name, alias, version FROM registered_model_aliases \
         WHERE name IN (SELECT value FROM json_each(?)) ORDER BY rowid",
    )
    .bind(&list)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    for (name, alias, version) in aliases {
        if let Some(model) = models.get_mut(&name) {
            model.aliases.push(Alias { alias, version });
        }
    }
    let latest_keys = latest_version_keys(conn, names, &[]).await?;
    // As MLflow's registered model: latest versions come without their aliases.
    for model_version in load_versions(conn, &latest_keys, false).await? {
        if let Some(model) = models.get_mut(&model_version.name) {
            model.latest_versions.push(model_version);
        }
    }
    Ok(names
        .iter()
        .filter_map(|name| models.remove(name))
        .collect())
}

async fn load_registered_model(conn: &mut SqliteConnection, name: &str) -> Result<RegisteredModel> {
    load_registered_models(conn, &[name.to_owned()])
        .await?
        .pop()
        .ok_or_else(|| registered_model_not_found(name))
}

async fn require_registered_model(conn: &mut SqliteConnection, name: &str) -> Result<()> {
    let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM registered_models WHERE name = ?")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
    found
        .map(|_| ())
        .ok_or_else(|| registered_model_not_found(name))
}

async fn require_version(conn: &mut SqliteConnection, name: &str, version: i64) -> Result<Stage> {
    let stage: Option<String> = sqlx::query_scalar(&format!(
        "SELECT current_stage FROM model_versions WHERE name = ? AND version = ? \
         AND current_stage != '{DELETED_STAGE}'"
    ))
    .bind(name)
    .bind(version)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    parse_column(&stage.ok_or_else(|| version_not_found(name, version))?)
}

async fn touch_registered_model(conn: &mut SqliteConnection, name: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE registered_models SET last_updated_time = ? WHERE name = ?")
        .bind(now)
        .bind(name)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

async fn upsert_registered_model_tag(
    conn: &mut SqliteConnection,
    name: &str,
    tag: &KeyValue,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO registered_model_tags (name, key, value) VALUES (?, ?, ?) \
         ON CONFLICT (name, key) DO UPDATE SET value = excluded.value",
    )
    .bind(name)
    .bind(&tag.key)
    .bind(&tag.value)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

async fn upsert_version_tag(
    conn: &mut SqliteConnection,
    name: &str,
    version: i64,
    tag: &KeyValue,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO model_version_tags (name, version, key, value) VALUES (?, ?, ?, ?) \
         ON CONFLICT (name, version, key) DO UPDATE SET value = excluded.value",
    )
    .bind(name)
    .bind(version)
    .bind(&tag.key)
    .bind(&tag.value)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

impl SqliteStore {
    pub(super) async fn create_registered_model_impl(
        &self,
        name: &str,
        tags: Vec<KeyValue>,
        description: Option<String>,
    ) -> Result<RegisteredModel> {
        let mut tx = self.write().await?;
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM registered_models WHERE name = ?")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
        if exists.is_some() {
            return Err(Error::already_exists(format!(
                "Registered Model (name={name}) already exists."
            )));
        }
        let now = now_ms();
        sqlx::query(
            "INSERT INTO registered_models (name, creation_time, last_updated_time, description, user_id) \
             VALUES (?, ?, ?, ?, NULL)",
        )
        .bind(name)
        .bind(now)
        .bind(now)
        .bind(&description)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        for tag in &tags {
            upsert_registered_model_tag(&mut tx, name, tag).await?;
        }
        let model = load_registered_model(&mut tx, name).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(model)
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
        require_registered_model(&mut tx, name).await?;
        if new_name != name {
            let clash: Option<i64> =
                sqlx::query_scalar("SELECT 1 FROM registered_models WHERE name = ?")
                    .bind(new_name)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_error)?;
            if clash.is_some() {
                return Err(Error::already_exists(format!(
                    "Registered Model (name={new_name}) already exists."
                )));
            }
        }
        let now = now_ms();
        // Versions, tags and aliases follow through ON UPDATE CASCADE.
        sqlx::query("UPDATE registered_models SET name = ?, last_updated_time = ? WHERE name = ?")
            .bind(new_name)
            .bind(now)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        sqlx::query("UPDATE model_versions SET last_updated_time = ? WHERE name = ?")
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
        require_registered_model(&mut tx, name).await?;
        let now = now_ms();
        // As MLflow: the description is replaced, `None` clears it.
        sqlx::query("UPDATE registered_models SET description = ? WHERE name = ?")
            .bind(description)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        touch_registered_model(&mut tx, name, now).await?;
        let model = load_registered_model(&mut tx, name).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(model)
    }

    pub(super) async fn delete_registered_model_impl(&self, name: &str) -> Result<()> {
        let mut tx = self.write().await?;
        require_registered_model(&mut tx, name).await?;
        // Versions, tags and aliases go with it (ON DELETE CASCADE).
        sqlx::query("DELETE FROM registered_models WHERE name = ?")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    pub(super) async fn search_registered_models_impl(
        &self,
        search: Search,
    ) -> Result<Page<RegisteredModel>> {
        let compiled = filter::compile(&REGISTERED_MODELS, &search.filter, &search.order_by)?;
        let mut sql = Sql::new("SELECT rm.name FROM registered_models rm");
        sql.append(compiled.joins);
        sql.push(" WHERE 1 = 1");
        sql.append(compiled.conditions);
        sql.push(" ORDER BY ");
        if !compiled.order.text.is_empty() {
            sql.append(compiled.order);
            sql.push(", ");
        }
        sql.push("rm.name ASC");
        sql.push_page(search.page);
        let mut tx = self.read().await?;
        let names: Vec<(String,)> = sql
            .query_as()?
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?;
        let names: Vec<String> = names.into_iter().map(|(name,)| name).collect();
        let models = load_registered_models(&mut tx, &names).await?;
        Ok(finish_page(models, search.page))
    }

    pub(super) async fn get_latest_versions_impl(
        &self,
        name: &str,
        stages: Vec<Stage>,
    ) -> Result<Vec<ModelVersion>> {
        let mut tx = self.read().await?;
        require_registered_model(&mut tx, name).await?;
        let keys = latest_version_keys(&mut tx, &[name.to_owned()], &stages).await?;
        load_versions(&mut tx, &keys, true).await
    }

    pub(super) async fn set_registered_model_tag_impl(
        &self,
        name: &str,
        tag: KeyValue,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        require_registered_model(&mut tx, name).await?;
        upsert_registered_model_tag(&mut tx, name, &tag).await?;
        tx.commit().await.map_err(db_error)
    }

    pub(super) async fn delete_registered_model_tag_impl(
        &self,
        name: &str,
        key: &str,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        require_registered_model(&mut tx, name).await?;
        sqlx::query("DELETE FROM registered_model_tags WHERE name = ? AND key = ?")
            .bind(name)
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    pub(super) async fn create_model_version_impl(
        &self,
        request: CreateModelVersion,
    ) -> Result<ModelVersion> {
        let mut tx = self.write().await?;
        require_registered_model(&mut tx, &request.name).await?;
        // Atomic: the writer connection serializes writes, and this runs inside BEGIN IMMEDIATE.
        let version: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE name = ?",
        )
        .bind(&request.name)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
        let now = now_ms();
        sqlx::query(
            "INSERT INTO model_versions (name, version, creation_time, last_updated_time, description, \
             user_id, current_stage, source, run_id, run_link, status, status_message, model_id) \
             VALUES (?, ?, ?, ?, ?, NULL, 'None', ?, ?, ?, 'READY', NULL, ?)",
        )
        .bind(&request.name)
        .bind(version)
        .bind(now)
        .bind(now)
        .bind(request.description.clone().unwrap_or_default())
        .bind(&request.source)
        .bind(&request.run_id)
        .bind(request.run_link.clone().unwrap_or_default())
        .bind(&request.model_id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        for tag in &request.tags {
            upsert_version_tag(&mut tx, &request.name, version, tag).await?;
        }
        touch_registered_model(&mut tx, &request.name, now).await?;
        let model_version = load_version(&mut tx, &request.name, version).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(model_version)
    }

    pub(super) async fn get_model_version_impl(
        &self,
        name: &str,
        version: i64,
    ) -> Result<ModelVersion> {
        let mut tx = self.read().await?;
        load_version(&mut tx, name, version).await
    }

    pub(super) async fn update_model_version_impl(
        &self,
        name: &str,
        version: i64,
        description: Option<String>,
    ) -> Result<ModelVersion> {
        let mut tx = self.write().await?;
        require_version(&mut tx, name, version).await?;
        let now = now_ms();
        // As MLflow: the description is replaced, `None` clears it.
        sqlx::query("UPDATE model_versions SET description = ? WHERE name = ? AND version = ?")
            .bind(description)
            .bind(name)
            .bind(version)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        sqlx::query(
            "UPDATE model_versions SET last_updated_time = ? WHERE name = ? AND version = ?",
        )
        .bind(now)
        .bind(name)
        .bind(version)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let model_version = load_version(&mut tx, name, version).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(model_version)
    }

    pub(super) async fn delete_model_version_impl(&self, name: &str, version: i64) -> Result<()> {
        let mut tx = self.write().await?;
        require_version(&mut tx, name, version).await?;
        let now = now_ms();
        sqlx::query(&format!(
            "UPDATE model_versions SET current_stage = '{DELETED_STAGE}', last_updated_time = ?, \
             description = NULL, user_id = NULL, source = 'REDACTED-SOURCE-PATH', \
             run_id = 'REDACTED-RUN-ID', run_link = 'REDACTED-RUN-LINK', status_message = NULL \
             WHERE name = ? AND version = ?"
        ))
        .bind(now)
        .bind(name)
        .bind(version)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        sqlx::query("DELETE FROM registered_model_aliases WHERE name = ? AND version = ?")
            .bind(name)
            .bind(version)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        touch_registered_model(&mut tx, name, now).await?;
        tx.commit().await.map_err(db_error)
    }

    pub(super) async fn search_model_versions_impl(
        &self,
        search: Search,
    ) -> Result<Page<ModelVersion>> {
        let compiled = filter::compile(&MODEL_VERSIONS, &search.filter, &search.order_by)?;
        let mut sql = Sql::new("SELECT mv.name, mv.version FROM model_versions mv");
        sql.append(compiled.joins);
        sql.push(&format!(" WHERE mv.current_stage != '{DELETED_STAGE}'"));
        sql.append(compiled.conditions);
        // As MLflow: by default `last_updated_timestamp DESC`; then name ASC, version DESC.
        sql.push(" ORDER BY ");
        if compiled.order.text.is_empty() {
            sql.push("mv.last_updated_time DESC, ");
        } else {
            sql.append(compiled.order);
            sql.push(", ");
        }
        sql.push("mv.name ASC, mv.version DESC");
        sql.push_page(search.page);
        let mut tx = self.read().await?;
        let keys: Vec<(String, i64)> = sql
            .query_as()?
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?;
        // As MLflow's search: versions come without their aliases.
        let versions = load_versions(&mut tx, &keys, false).await?;
        Ok(finish_page(versions, search.page))
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
        require_version(&mut tx, name, version).await?;
        let now = now_ms();
        if archive_existing_versions {
            sqlx::query(
                "UPDATE model_versions SET current_stage = 'Archived', last_updated_time = ? \
                 WHERE name = ? AND version != ? AND current_stage = ?",
            )
            .bind(now)
            .bind(name)
            .bind(version)
            .bind(stage.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        sqlx::query(
            "UPDATE model_versions SET current_stage = ?, last_updated_time = ? WHERE name = ? AND version = ?",
        )
        .bind(stage.as_str())
        .bind(now)
        .bind(name)
        .bind(version)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        touch_registered_model(&mut tx, name, now).await?;
        let model_version = load_version(&mut tx, name, version).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(model_version)
    }

    pub(super) async fn set_model_version_tag_impl(
        &self,
        name: &str,
        version: i64,
        tag: KeyValue,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        require_version(&mut tx, name, version).await?;
        upsert_version_tag(&mut tx, name, version, &tag).await?;
        tx.commit().await.map_err(db_error)
    }

    pub(super) async fn delete_model_version_tag_impl(
        &self,
        name: &str,
        version: i64,
        key: &str,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        require_version(&mut tx, name, version).await?;
        sqlx::query("DELETE FROM model_version_tags WHERE name = ? AND version = ? AND key = ?")
            .bind(name)
            .bind(version)
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    pub(super) async fn set_registered_model_alias_impl(
        &self,
        name: &str,
        alias: &str,
        version: i64,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        require_version(&mut tx, name, version).await?;
        sqlx::query(
            "INSERT INTO registered_model_aliases (name, alias, version) VALUES (?, ?, ?) \
             ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version",
        )
        .bind(name)
        .bind(alias)
        .bind(version)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    pub(super) async fn delete_registered_model_alias_impl(
        &self,
        name: &str,
        alias: &str,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        require_registered_model(&mut tx, name).await?;
        sqlx::query("DELETE FROM registered_model_aliases WHERE name = ? AND alias = ?")
            .bind(name)
            .bind(alias)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    pub(super) async fn get_model_version_by_alias_impl(
        &self,
        name: &str,
        alias: &str,
    ) -> Result<ModelVersion> {
        let mut tx = self.read().await?;
        let version: Option<i64> = sqlx::query_scalar(
            "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?",
        )
        .bind(name)
        .bind(alias)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        // MLflow answers INVALID_PARAMETER_VALUE here, not RESOURCE_DOES_NOT_EXIST.
        let version = version
            .ok_or_else(|| Error::invalid(format!("Registered model alias {alias} not found.")))?;
        load_version(&mut tx, name, version).await
    }

    pub(super) async fn list_aliases_impl(&self, name: &str) -> Result<Vec<Alias>> {
        let mut tx = self.read().await?;
        require_registered_model(&mut tx, name).await?;
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT alias, version FROM registered_model_aliases WHERE name = ? ORDER BY rowid",
        )
        .bind(name)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|(alias, version)| Alias { alias, version })
            .collect())
    }
}
