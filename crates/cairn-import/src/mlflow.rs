//! Reads MLflow's SQL tracking and registry schema (as MLflow's SQLAlchemy models and alembic
//! migrations define it, checked against MLflow 3.x) straight from the database, read-only.
//!
//! Tables that older MLflow versions lack (`datasets`/`inputs`/`input_tags`, `logged_models*`,
//! `registered_model_aliases`) are detected and read as empty. Columns are read with `Option` where
//! MLflow allows NULL, and defaulted the way MLflow's entities default them.
//!
//! Sources: SQLite files and PostgreSQL databases. The queries are written once, in SQLite's
//! dialect with `?` placeholders; [`postgres_sql`] renumbers the placeholders and reads SQLite's
//! insertion order (`rowid`) as PostgreSQL's physical order (`ctid`). Integer columns that MLflow
//! declares `INTEGER` (32-bit in PostgreSQL) are cast to `BIGINT` in the queries, so both drivers
//! decode the same row types.

use std::collections::HashSet;
use std::path::PathBuf;
use std::str::FromStr;

use cairn_core::entities::{Dataset, DatasetInput, KeyValue, Metric, ModelInput, ModelOutput};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::FromRow;

use crate::ImportError;

type Result<T, E = ImportError> = std::result::Result<T, E>;

fn source_error(what: &'static str) -> impl FnOnce(sqlx::Error) -> ImportError {
    move |error| ImportError::Source {
        what,
        reason: error.to_string(),
    }
}

/// An experiment row.
#[derive(Debug, Clone)]
pub struct MlflowExperiment {
    pub experiment_id: i64,
    pub name: String,
    pub artifact_location: Option<String>,
    pub lifecycle_stage: String,
    pub creation_time: i64,
    pub last_update_time: i64,
}

/// A run row (without its params, tags, metrics and inputs: see [`MlflowReader::run_parts`]).
#[derive(Debug, Clone)]
pub struct MlflowRun {
    pub run_id: String,
    pub experiment_id: i64,
    pub name: String,
    pub user_id: String,
    pub status: String,
    pub start_time: i64,
    pub end_time: Option<i64>,
    pub deleted_time: Option<i64>,
    pub lifecycle_stage: String,
    pub artifact_uri: Option<String>,
}

/// What hangs off a run.
#[derive(Debug, Clone, Default)]
pub struct MlflowRunParts {
    pub params: Vec<KeyValue>,
    pub tags: Vec<KeyValue>,
    pub metrics: Vec<Metric>,
    pub dataset_inputs: Vec<DatasetInput>,
    pub model_inputs: Vec<ModelInput>,
    pub model_outputs: Vec<ModelOutput>,
}

#[derive(Debug, Clone)]
pub struct MlflowLoggedModel {
    pub model_id: String,
    pub experiment_id: i64,
    pub name: String,
    pub artifact_location: String,
    pub creation_timestamp_ms: i64,
    pub last_updated_timestamp_ms: i64,
    /// MLflow's integer status: 0 unspecified, 1 pending, 2 ready, 3 failed.
    pub status: i64,
    pub lifecycle_stage: String,
    pub model_type: Option<String>,
    pub source_run_id: Option<String>,
    pub status_message: Option<String>,
    pub params: Vec<KeyValue>,
    pub tags: Vec<KeyValue>,
    /// Each with `run_id` set.
    pub metrics: Vec<Metric>,
}

#[derive(Debug, Clone)]
pub struct MlflowRegisteredModel {
    pub name: String,
    pub creation_time: i64,
    pub last_updated_time: i64,
    pub description: Option<String>,
    pub tags: Vec<KeyValue>,
    pub versions: Vec<MlflowModelVersion>,
    pub aliases: Vec<(String, i64)>,
}

#[derive(Debug, Clone)]
pub struct MlflowModelVersion {
    pub version: i64,
    pub creation_time: i64,
    pub last_updated_time: i64,
    pub description: Option<String>,
    pub user_id: Option<String>,
    pub current_stage: String,
    pub source: String,
    pub run_id: Option<String>,
    pub run_link: Option<String>,
    pub status: String,
    pub status_message: Option<String>,
    pub tags: Vec<KeyValue>,
}

/// The source database's pool.
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A bound parameter of a reader query.
#[derive(Clone, Copy)]
enum Bind<'a> {
    Text(&'a str),
    Int(i64),
}

/// A query written for SQLite, in PostgreSQL's dialect: `?` become `$1, $2, ...`, `rowid` becomes
/// `ctid`. No reader query has a `?` or the word `rowid` inside a string literal.
fn postgres_sql(sql: &str) -> String {
    let mut text = String::with_capacity(sql.len() + 8);
    let mut number = 0_usize;
    for character in sql.replace("rowid", "ctid").chars() {
        if character == '?' {
            number += 1;
            text.push('$');
            text.push_str(&number.to_string());
        } else {
            text.push(character);
        }
    }
    text
}

/// Whether `uri` names a PostgreSQL database (SQLAlchemy's `postgresql+psycopg2://` included).
pub fn is_postgres_uri(uri: &str) -> bool {
    uri.starts_with("postgresql://")
        || uri.starts_with("postgres://")
        || uri.starts_with("postgresql+")
}

/// Connects to an MLflow PostgreSQL database with read-only transactions; returns the pool and the
/// URI as messages may show it (no password).
async fn open_postgres(uri: &str) -> Result<(Pool, String)> {
    let shown = cairn_store::display_uri(uri);
    let url = match uri.split_once("://") {
        // SQLAlchemy's driver suffix (`postgresql+psycopg2://`), which MLflow users write.
        Some((scheme, rest)) if scheme.starts_with("postgresql+") => format!("postgresql://{rest}"),
        _ => uri.to_owned(),
    };
    let options = PgConnectOptions::from_str(&url)
        .map_err(|error| ImportError::Source {
            what: "open",
            reason: format!("invalid PostgreSQL uri {shown}: {error}"),
        })?
        .options([("default_transaction_read_only", "on")])
        .application_name("cairn-import");
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .map_err(|error| ImportError::Source {
            what: "open",
            reason: format!("cannot connect to {shown}: {error}"),
        })?;
    Ok((Pool::Postgres(pool), shown))
}

/// A read-only connection to an MLflow tracking database.
pub struct MlflowReader {
    pool: Pool,
    tables: HashSet<String>,
    /// Whether `inputs` has the `step` column (MLflow 3): only then does it hold model inputs/outputs.
    model_io: bool,
    /// The schema's alembic revision, when the database has one.
    pub schema_revision: Option<String>,
}

/// The file path of an MLflow `sqlite:///relative` or `sqlite:////absolute` URI.
pub fn sqlite_path(uri: &str) -> Result<PathBuf> {
    let unsupported = || ImportError::UnsupportedSource(uri.to_owned());
    if uri.contains("://") && !uri.starts_with("sqlite:") {
        return Err(unsupported());
    }
    let without_query = uri.split('?').next().unwrap_or(uri);
    let rest = without_query
        .strip_prefix("sqlite://")
        .ok_or_else(unsupported)?;
    let path = rest.strip_prefix('/').unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        return Err(unsupported());
    }
    Ok(PathBuf::from(path))
}

impl MlflowReader {
    /// Opens the database at `uri` (`sqlite:///...` or `postgresql://...`) read-only and checks that
    /// it looks like MLflow's.
    pub async fn open(uri: &str) -> Result<MlflowReader> {
        let (pool, shown) = if is_postgres_uri(uri) {
            open_postgres(uri).await?
        } else {
            let path = sqlite_path(uri)?;
            if !path.is_file() {
                return Err(ImportError::Source {
                    what: "open",
                    reason: format!("{} is not a file", path.display()),
                });
            }
            let options = SqliteConnectOptions::new()
                .filename(&path)
                .read_only(true)
                .immutable(false);
            let pool = SqlitePoolOptions::new()
                .max_connections(2)
                .connect_with(options)
                .await
                .map_err(source_error("open"))?;
            (Pool::Sqlite(pool), path.display().to_string())
        };
        let mut reader = MlflowReader {
            pool,
            tables: HashSet::new(),
            model_io: false,
            schema_revision: None,
        };
        let tables: Vec<(String,)> = reader.rows("schema", reader.tables_sql(), &[]).await?;
        reader.tables = tables.into_iter().map(|(name,)| name).collect();
        for required in ["experiments", "runs", "metrics", "params", "tags"] {
            if !reader.has(required) {
                return Err(ImportError::Source {
                    what: "schema",
                    reason: format!(
                        "{shown} has no '{required}' table: not an MLflow tracking database"
                    ),
                });
            }
        }
        if reader.has("alembic_version") {
            let revision: Vec<(String,)> = reader
                .rows(
                    "alembic_version",
                    "SELECT version_num FROM alembic_version LIMIT 1",
                    &[],
                )
                .await?;
            reader.schema_revision = revision.into_iter().next().map(|(revision,)| revision);
        }
        if reader.has("inputs") {
            let steps: Vec<(i64,)> = reader.rows("schema", reader.inputs_step_sql(), &[]).await?;
            reader.model_io = steps.first().is_some_and(|(count,)| *count > 0);
        }
        Ok(reader)
    }

    fn tables_sql(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => "SELECT name FROM sqlite_master WHERE type = 'table'",
            Pool::Postgres(_) => {
                "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
                 WHERE table_schema = current_schema()"
            }
        }
    }

    fn inputs_step_sql(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => {
                "SELECT COUNT(*) FROM pragma_table_info('inputs') WHERE name = 'step'"
            }
            Pool::Postgres(_) => {
                "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = \
                 current_schema() AND table_name = 'inputs' AND column_name = 'step'"
            }
        }
    }

    /// Runs one reader query (SQLite's dialect, see [`postgres_sql`]) and decodes every row.
    async fn rows<T>(&self, what: &'static str, sql: &str, binds: &[Bind<'_>]) -> Result<Vec<T>>
    where
        T: Send + Unpin + for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow>,
    {
        let fetched = match &self.pool {
            Pool::Sqlite(pool) => {
                let mut query = sqlx::query_as::<_, T>(sql);
                for bind in binds {
                    query = match *bind {
                        Bind::Text(text) => query.bind(text),
                        Bind::Int(int) => query.bind(int),
                    };
                }
                query.fetch_all(pool).await
            }
            Pool::Postgres(pool) => {
                let text = postgres_sql(sql);
                let mut query = sqlx::query_as::<_, T>(&text);
                for bind in binds {
                    query = match *bind {
                        Bind::Text(text) => query.bind(text),
                        Bind::Int(int) => query.bind(int),
                    };
                }
                query.fetch_all(pool).await
            }
        };
        fetched.map_err(source_error(what))
    }

    fn has(&self, table: &str) -> bool {
        self.tables.contains(table)
    }

    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }

    pub async fn experiments(&self) -> Result<Vec<MlflowExperiment>> {
        type Row = (
            i64,
            String,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<i64>,
        );
        let rows: Vec<Row> = self.rows("experiments", "SELECT CAST(experiment_id AS BIGINT), name, artifact_location, lifecycle_stage, creation_time, \
             last_update_time FROM experiments ORDER BY experiment_id", &[]).await?;
        Ok(rows
            .into_iter()
            .map(
                |(experiment_id, name, artifact_location, stage, created, updated)| {
                    MlflowExperiment {
                        experiment_id,
                        name,
                        artifact_location,
                        lifecycle_stage: stage.unwrap_or_else(|| "active".to_owned()),
                        creation_time: created.unwrap_or(0),
                        last_update_time: updated.or(created).unwrap_or(0),
                    }
                },
            )
            .collect())
    }

    pub async fn experiment_tags(&self, experiment_id: i64) -> Result<Vec<KeyValue>> {
        let rows: Vec<(String, Option<String>)> = self
            .rows(
                "experiment tags",
                "SELECT key, value FROM experiment_tags WHERE experiment_id = ? ORDER BY rowid",
                &[Bind::Int(experiment_id)],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|(key, value)| KeyValue {
                key,
                value: value.unwrap_or_default(),
            })
            .collect())
    }

    /// Every run, oldest first.
    pub async fn runs(&self) -> Result<Vec<MlflowRun>> {
        type Row = (
            String,
            i64,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<String>,
            Option<String>,
        );
        let rows: Vec<Row> = self.rows("runs", "SELECT run_uuid, CAST(experiment_id AS BIGINT), name, user_id, status, start_time, end_time, deleted_time, \
             lifecycle_stage, artifact_uri FROM runs ORDER BY start_time, run_uuid", &[]).await?;
        Ok(rows
            .into_iter()
            .map(
                |(
                    run_id,
                    experiment_id,
                    name,
                    user_id,
                    status,
                    start,
                    end,
                    deleted,
                    stage,
                    uri,
                )| {
                    MlflowRun {
                        run_id,
                        experiment_id,
                        name: name.unwrap_or_default(),
                        user_id: user_id.unwrap_or_default(),
                        status: status.unwrap_or_else(|| "SCHEDULED".to_owned()),
                        start_time: start.unwrap_or(0),
                        end_time: end,
                        deleted_time: deleted,
                        lifecycle_stage: stage.unwrap_or_else(|| "active".to_owned()),
                        artifact_uri: uri,
                    }
                },
            )
            .collect())
    }

    /// A run's params, tags, full metric history, dataset inputs (with their tags) and model
    /// inputs/outputs.
    pub async fn run_parts(&self, run_id: &str) -> Result<MlflowRunParts> {
        let params: Vec<(String, String)> = self
            .rows(
                "params",
                "SELECT key, value FROM params WHERE run_uuid = ? ORDER BY rowid",
                &[Bind::Text(run_id)],
            )
            .await?;
        let tags: Vec<(String, Option<String>)> = self
            .rows(
                "tags",
                "SELECT key, value FROM tags WHERE run_uuid = ? ORDER BY rowid",
                &[Bind::Text(run_id)],
            )
            .await?;
        let metrics: Vec<(String, f64, Option<i64>, i64, bool)> = self
            .rows(
                "metrics",
                "SELECT key, value, timestamp, step, is_nan FROM metrics WHERE run_uuid = ?",
                &[Bind::Text(run_id)],
            )
            .await?;
        let mut parts = MlflowRunParts {
            params: params
                .into_iter()
                .map(|(key, value)| KeyValue { key, value })
                .collect(),
            tags: tags
                .into_iter()
                .map(|(key, value)| KeyValue {
                    key,
                    value: value.unwrap_or_default(),
                })
                .collect(),
            metrics: metrics
                .into_iter()
                .map(|(key, value, timestamp, step, is_nan)| {
                    let value = if is_nan { f64::NAN } else { value };
                    Metric::new(key, value, timestamp.unwrap_or(0), step)
                })
                .collect(),
            ..MlflowRunParts::default()
        };
        if self.has("inputs") && self.has("datasets") {
            self.read_inputs(run_id, &mut parts).await?;
        }
        Ok(parts)
    }

    async fn read_inputs(&self, run_id: &str, parts: &mut MlflowRunParts) -> Result<()> {
        type DatasetRow = (
            String,
            String,
            String,
            String,
            String,
            Option<String>,
            Option<String>,
        );
        let datasets: Vec<DatasetRow> = self.rows("dataset inputs", "SELECT i.input_uuid, d.name, d.digest, d.dataset_source_type, d.dataset_source, \
             d.dataset_schema, d.dataset_profile FROM inputs i JOIN datasets d \
             ON d.dataset_uuid = i.source_id \
             WHERE i.source_type = 'DATASET' AND i.destination_type = 'RUN' AND i.destination_id = ? \
             ORDER BY i.rowid", &[Bind::Text(run_id)]).await?;
        for (input_uuid, name, digest, source_type, source, schema, profile) in datasets {
            let tags = if self.has("input_tags") {
                let rows: Vec<(String, String)> = self
                    .rows(
                        "input tags",
                        "SELECT name, value FROM input_tags WHERE input_uuid = ? ORDER BY rowid",
                        &[Bind::Text(&input_uuid)],
                    )
                    .await?;
                rows.into_iter()
                    .map(|(key, value)| KeyValue { key, value })
                    .collect()
            } else {
                Vec::new()
            };
            parts.dataset_inputs.push(DatasetInput {
                dataset: Dataset {
                    name,
                    digest,
                    source_type,
                    source,
                    schema,
                    profile,
                },
                tags,
            });
        }
        if !self.model_io {
            return Ok(());
        }
        let models: Vec<(String, String, i64)> = self.rows("model inputs and outputs", "SELECT source_type, destination_id, CAST(step AS BIGINT) FROM inputs WHERE source_id = ? AND \
             ((source_type = 'RUN_INPUT' AND destination_type = 'MODEL_INPUT') OR \
              (source_type = 'RUN_OUTPUT' AND destination_type = 'MODEL_OUTPUT')) ORDER BY rowid", &[Bind::Text(run_id)]).await?;
        for (source_type, model_id, step) in models {
            if source_type == "RUN_INPUT" {
                parts.model_inputs.push(ModelInput { model_id });
            } else {
                parts.model_outputs.push(ModelOutput { model_id, step });
            }
        }
        Ok(())
    }

    /// Every MLflow 3 logged model with its params, tags and metrics (none before MLflow 3).
    pub async fn logged_models(&self) -> Result<Vec<MlflowLoggedModel>> {
        if !self.has("logged_models") {
            return Ok(Vec::new());
        }
        type Row = (
            String,
            i64,
            String,
            String,
            i64,
            i64,
            i64,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let rows: Vec<Row> = self.rows("logged models", "SELECT model_id, CAST(experiment_id AS BIGINT), name, artifact_location, creation_timestamp_ms, \
             last_updated_timestamp_ms, CAST(status AS BIGINT), lifecycle_stage, model_type, source_run_id, \
             status_message FROM logged_models ORDER BY creation_timestamp_ms, model_id", &[]).await?;
        let mut models = Vec::with_capacity(rows.len());
        for (
            model_id,
            experiment_id,
            name,
            artifact_location,
            created,
            updated,
            status,
            stage,
            model_type,
            source_run_id,
            status_message,
        ) in rows
        {
            let params = self
                .model_key_values(
                    "logged_model_params",
                    "SELECT param_key, param_value FROM logged_model_params WHERE model_id = ? ORDER BY rowid",
                    &model_id,
                )
                .await?;
            let tags = self
                .model_key_values(
                    "logged_model_tags",
                    "SELECT tag_key, tag_value FROM logged_model_tags WHERE model_id = ? ORDER BY rowid",
                    &model_id,
                )
                .await?;
            let metrics = if self.has("logged_model_metrics") {
                type MetricRow = (
                    String,
                    i64,
                    i64,
                    Option<f64>,
                    String,
                    Option<String>,
                    Option<String>,
                );
                let rows: Vec<MetricRow> = self.rows("logged model metrics", "SELECT metric_name, metric_timestamp_ms, metric_step, metric_value, run_id, \
                     dataset_name, dataset_digest FROM logged_model_metrics WHERE model_id = ?", &[Bind::Text(&model_id)]).await?;
                rows.into_iter()
                    .map(
                        |(key, timestamp, step, value, run_id, dataset_name, dataset_digest)| {
                            let mut metric =
                                Metric::new(key, value.unwrap_or(f64::NAN), timestamp, step);
                            metric.model_id = Some(model_id.clone());
                            metric.run_id = Some(run_id);
                            metric.dataset_name = dataset_name;
                            metric.dataset_digest = dataset_digest;
                            metric
                        },
                    )
                    .collect()
            } else {
                Vec::new()
            };
            models.push(MlflowLoggedModel {
                model_id,
                experiment_id,
                name,
                artifact_location,
                creation_timestamp_ms: created,
                last_updated_timestamp_ms: updated,
                status,
                lifecycle_stage: stage.unwrap_or_else(|| "active".to_owned()),
                model_type,
                source_run_id,
                status_message,
                params,
                tags,
                metrics,
            });
        }
        Ok(models)
    }

    async fn model_key_values(
        &self,
        table: &str,
        sql: &str,
        model_id: &str,
    ) -> Result<Vec<KeyValue>> {
        if !self.has(table) {
            return Ok(Vec::new());
        }
        let rows: Vec<(String, String)> = self
            .rows("logged model params and tags", sql, &[Bind::Text(model_id)])
            .await?;
        Ok(rows
            .into_iter()
            .map(|(key, value)| KeyValue { key, value })
            .collect())
    }

    /// The registry: every registered model with its tags, versions (deleted ones included, with
    /// their tags) and aliases.
    pub async fn registered_models(&self) -> Result<Vec<MlflowRegisteredModel>> {
        if !self.has("registered_models") {
            return Ok(Vec::new());
        }
        type Row = (String, Option<i64>, Option<i64>, Option<String>);
        let rows: Vec<Row> = self.rows("registered models", "SELECT name, creation_time, last_updated_time, description FROM registered_models \
             ORDER BY creation_time, name", &[]).await?;
        let mut models = Vec::with_capacity(rows.len());
        for (name, created, updated, description) in rows {
            let tags = if self.has("registered_model_tags") {
                let rows: Vec<(String, Option<String>)> = self.rows("registered model tags", "SELECT key, value FROM registered_model_tags WHERE name = ? ORDER BY rowid", &[Bind::Text(&name)]).await?;
                rows.into_iter()
                    .map(|(key, value)| KeyValue {
                        key,
                        value: value.unwrap_or_default(),
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let versions = self.versions(&name).await?;
            let aliases = if self.has("registered_model_aliases") {
                self.rows("aliases", "SELECT alias, CAST(version AS BIGINT) FROM registered_model_aliases WHERE name = ? ORDER BY alias", &[Bind::Text(&name)]).await?
            } else {
                Vec::new()
            };
            models.push(MlflowRegisteredModel {
                name,
                creation_time: created.unwrap_or(0),
                last_updated_time: updated.or(created).unwrap_or(0),
                description,
                tags,
                versions,
                aliases,
            });
        }
        Ok(models)
    }

    async fn versions(&self, name: &str) -> Result<Vec<MlflowModelVersion>> {
        if !self.has("model_versions") {
            return Ok(Vec::new());
        }
        type Row = (
            i64,
            Option<i64>,
            Option<i64>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let rows: Vec<Row> = self.rows("model versions", "SELECT CAST(version AS BIGINT), creation_time, last_updated_time, description, user_id, current_stage, \
             source, run_id, run_link, status, status_message FROM model_versions WHERE name = ? \
             ORDER BY version", &[Bind::Text(name)]).await?;
        let mut versions = Vec::with_capacity(rows.len());
        for (
            version,
            created,
            updated,
            description,
            user_id,
            stage,
            source,
            run_id,
            run_link,
            status,
            status_message,
        ) in rows
        {
            let tags = if self.has("model_version_tags") {
                let rows: Vec<(String, Option<String>)> = self
                    .rows(
                        "model version tags",
                        "SELECT key, value FROM model_version_tags WHERE name = ? AND version = ? \
                     ORDER BY rowid",
                        &[Bind::Text(name), Bind::Int(version)],
                    )
                    .await?;
                rows.into_iter()
                    .map(|(key, value)| KeyValue {
                        key,
                        value: value.unwrap_or_default(),
                    })
                    .collect()
            } else {
                Vec::new()
            };
            versions.push(MlflowModelVersion {
                version,
                creation_time: created.unwrap_or(0),
                last_updated_time: updated.or(created).unwrap_or(0),
                description,
                user_id,
                current_stage: stage.unwrap_or_else(|| "None".to_owned()),
                source: source.unwrap_or_default(),
                run_id: run_id.filter(|id| !id.is_empty()),
                run_link: run_link.filter(|link| !link.is_empty()),
                status: status.unwrap_or_else(|| "READY".to_owned()),
                status_message,
                tags,
            });
        }
        Ok(versions)
    }

    /// How many traces the database holds (cairn does not import them).
    pub async fn trace_count(&self) -> Result<u64> {
        if !self.has("trace_info") {
            return Ok(0);
        }
        let count: Vec<(i64,)> = self
            .rows("traces", "SELECT COUNT(*) FROM trace_info", &[])
            .await?;
        Ok(count
            .first()
            .map_or(0, |(count,)| u64::try_from(*count).unwrap_or(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_uris() {
        let check = |uri: &str, expected: Option<&str>| {
            assert_eq!(sqlite_path(uri).ok(), expected.map(PathBuf::from), "{uri}");
        };
        check("sqlite:///mlflow.db", Some("mlflow.db"));
        check("sqlite:////tmp/x/mlflow.db", Some("/tmp/x/mlflow.db"));
        check("sqlite:///a.db?mode=ro", Some("a.db"));
        check("postgresql://user@host/db", None);
        check("mysql://user@host/db", None);
        check("sqlite:///:memory:", None);
        check("mlflow.db", None);
    }

    /// An MLflow 2.x-shaped database (inputs without `step`, no logged models): read without error.
    #[tokio::test]
    async fn reads_an_mlflow_2_schema() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("mlflow.db");
        let uri = format!("sqlite:///{}", path.display());
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let pool = SqlitePool::connect_with(options).await.unwrap();
        for statement in [
            "CREATE TABLE experiments (experiment_id INTEGER PRIMARY KEY, name TEXT, artifact_location TEXT, \
             lifecycle_stage TEXT, creation_time BIGINT, last_update_time BIGINT)",
            "CREATE TABLE runs (run_uuid TEXT, name TEXT, user_id TEXT, status TEXT, start_time BIGINT, \
             end_time BIGINT, deleted_time BIGINT, lifecycle_stage TEXT, artifact_uri TEXT, experiment_id INTEGER)",
            "CREATE TABLE metrics (key TEXT, value FLOAT, timestamp BIGINT, run_uuid TEXT, step BIGINT, is_nan BOOLEAN)",
            "CREATE TABLE params (key TEXT, value TEXT, run_uuid TEXT)",
            "CREATE TABLE tags (key TEXT, value TEXT, run_uuid TEXT)",
            "CREATE TABLE experiment_tags (key TEXT, value TEXT, experiment_id INTEGER)",
            "CREATE TABLE datasets (dataset_uuid TEXT, experiment_id INTEGER, name TEXT, digest TEXT, \
             dataset_source_type TEXT, dataset_source TEXT, dataset_schema TEXT, dataset_profile TEXT)",
            "CREATE TABLE inputs (input_uuid TEXT, source_type TEXT, source_id TEXT, destination_type TEXT, \
             destination_id TEXT)",
            "CREATE TABLE input_tags (input_uuid TEXT, name TEXT, value TEXT)",
            "INSERT INTO experiments VALUES (0, 'Default', 'mlflow-artifacts:/0', 'active', NULL, NULL)",
            "INSERT INTO runs VALUES ('r1', 'run', 'u', 'FINISHED', 5, 6, NULL, 'active', \
             'mlflow-artifacts:/0/r1/artifacts', 0)",
            "INSERT INTO metrics VALUES ('loss', 0, 1, 'r1', 0, 1), ('loss', 0.5, 2, 'r1', 1, 0)",
            "INSERT INTO params VALUES ('lr', '0.1', 'r1')",
            "INSERT INTO tags VALUES ('mlflow.runName', 'run', 'r1')",
            "INSERT INTO datasets VALUES ('d1', 0, 'train', 'abc', 'local', '{}', NULL, NULL)",
            "INSERT INTO inputs VALUES ('i1', 'DATASET', 'd1', 'RUN', 'r1')",
            "INSERT INTO input_tags VALUES ('i1', 'mlflow.data.context', 'training')",
        ] {
            sqlx::query(statement).execute(&pool).await.unwrap();
        }
        pool.close().await;

        let reader = MlflowReader::open(&uri).await.unwrap();
        let experiments = reader.experiments().await.unwrap();
        assert_eq!(experiments.len(), 1);
        assert_eq!(experiments[0].creation_time, 0);
        let runs = reader.runs().await.unwrap();
        assert_eq!(runs[0].run_id, "r1");
        let parts = reader.run_parts("r1").await.unwrap();
        assert_eq!(parts.metrics.len(), 2);
        assert!(parts.metrics.iter().any(|metric| metric.value.is_nan()));
        assert_eq!(parts.params, vec![KeyValue::new("lr", "0.1")]);
        assert_eq!(parts.dataset_inputs.len(), 1);
        assert_eq!(
            parts.dataset_inputs[0].tags,
            vec![KeyValue::new("mlflow.data.context", "training")]
        );
        assert!(parts.model_inputs.is_empty() && parts.model_outputs.is_empty());
        assert!(reader.logged_models().await.unwrap().is_empty());
        assert!(reader.registered_models().await.unwrap().is_empty());
        assert_eq!(reader.trace_count().await.unwrap(), 0);

        let missing = MlflowReader::open("sqlite:///nope/mlflow.db").await;
        assert!(missing.is_err());
    }
}
