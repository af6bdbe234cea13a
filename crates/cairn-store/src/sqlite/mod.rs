//! The embedded SQLite store.
//!
//! Layout:
//! - one **writer** connection: every write is a `BEGIN IMMEDIATE` transaction on it, so
//!   writers queue in-process instead of failing with `SQLITE_BUSY`, and "max + 1" allocations (experiment
//!   ids, model version numbers) are atomic;
//! - a pool of **reader** connections (`query_only`): WAL lets them read while the writer writes.
//!
//! Both are [`connections::Connections`], not sqlx's pool: see that module for why.
//!
//! Durability: WAL with `synchronous = FULL`, so a write that returned `Ok` has been fsynced.
//!
//! Submodules: [`experiments`], [`runs`], [`logged_models`], [`registry`], [`governance`], [`webhooks`], [`import`]; [`filter`] compiles the search
//! AST to SQL; `crate::names` generates run names.

mod connections;
mod experiments;
mod governance;
mod import;
mod logged_models;
mod packed;
mod registry;
mod runs;
pub mod schema;
mod statistics;
mod webhooks;

use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn_core::{Error, Result};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};

use crate::run_cache::RunCache;
use connections::{Connections, Pooled, Tx};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Tuning knobs of [`SqliteStore::connect_with`]; the defaults are what `connect` uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteOptions {
    /// `synchronous = FULL` (default): an acknowledged write survives power loss. `false` selects
    /// `NORMAL`: in WAL mode the database stays consistent, but the last commits before a power cut
    /// (not a process crash) may be lost.
    pub synchronous_full: bool,
    /// The most reader connections kept open.
    pub max_readers: u32,
    /// About how many bytes of run parts searches keep for reuse (see `run_cache`); 0: none.
    pub run_cache_bytes: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous_full: true,
            max_readers: 8,
            run_cache_bytes: crate::run_cache::DEFAULT_RUN_CACHE_BYTES,
        }
    }
}

/// The SQLite implementation of [`crate::MetadataStore`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    reader: Connections,
    writer: Connections,
    path: PathBuf,
    /// Runs that searches loaded, by `rev` (see `run_cache`).
    runs: RunCache,
    /// What the planner-statistics task needs to hear about (see `statistics`).
    activity: std::sync::Arc<statistics::Activity>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `uri` and migrates it.
    ///
    /// `uri` is MLflow-style `sqlite:///relative/path.db`, `sqlite:////absolute/path.db`, or a plain path.
    /// The Default experiment ("0") is created if missing.
    pub async fn connect(uri: &str) -> Result<SqliteStore> {
        Self::connect_with(uri, SqliteOptions::default()).await
    }

    /// [`SqliteStore::connect`] with explicit options.
    pub async fn connect_with(uri: &str, store_options: SqliteOptions) -> Result<SqliteStore> {
        let path = database_path(uri)?;
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            tokio::fs::create_dir_all(parent).await.map_err(|error| {
                Error::internal(format!("cannot create {}: {error}", parent.display()))
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if store_options.synchronous_full {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            })
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30))
            .pragma("case_sensitive_like", "ON")
            .pragma("temp_store", "MEMORY")
            .pragma("cache_size", "-32768")
            .pragma("analysis_limit", statistics::ANALYSIS_LIMIT)
            // Reads map the file instead of copying pages into each connection's cache: a chart over
            // a million points scans ~100 MB, more than the page cache holds.
            .pragma("mmap_size", "1073741824")
            .statement_cache_capacity(256);
        let writer = Connections::open(options.clone(), 1)
            .await
            .map_err(db_error)?;
        {
            let mut conn = writer.acquire().await.map_err(db_error)?;
            schema::refuse_newer(&mut conn, path.display().to_string()).await?;
            MIGRATOR
                .run(&mut *conn)
                .await
                .map_err(|error| Error::internal(format!("sqlite migration failed: {error}")))?;
        }
        let reader = Connections::open(
            options.pragma("query_only", "ON"),
            store_options.max_readers,
        )
        .await
        .map_err(db_error)?;
        let activity = statistics::spawn(writer.clone(), reader.clone());
        let store = SqliteStore {
            reader,
            writer,
            path,
            runs: RunCache::new(store_options.run_cache_bytes),
            activity,
        };
        store.ensure_default_experiment().await?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes both pools (checkpointing the WAL). Later calls fail.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    /// A write transaction: `BEGIN IMMEDIATE` on the single writer connection.
    async fn write(&self) -> Result<Tx> {
        self.writer.begin("BEGIN IMMEDIATE").await.map_err(db_error)
    }

    /// A read transaction on a reader: one consistent snapshot for multi-query reads.
    async fn read(&self) -> Result<Tx> {
        self.reader.begin("BEGIN").await.map_err(db_error)
    }

    /// A reader connection for statements that need no shared snapshot.
    async fn reader(&self) -> Result<Pooled> {
        self.reader.acquire().await.map_err(db_error)
    }

    async fn ensure_default_experiment(&self) -> Result<()> {
        let mut tx = self.write().await?;
        let now = now_ms();
        sqlx::query(
            "INSERT OR IGNORE INTO experiments \
             (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time) \
             VALUES (0, 'Default', 'mlflow-artifacts:/0', 'active', ?, ?)",
        )
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }
}

/// Resolves `sqlite:///rel`, `sqlite:////abs` and plain paths to a file path.
fn database_path(uri: &str) -> Result<PathBuf> {
    let without_query = uri.split('?').next().unwrap_or(uri);
    let path = match without_query.strip_prefix("sqlite://") {
        // `sqlite:///x.db` → `/x.db` → relative `x.db`; `sqlite:////abs/x.db` → `//abs/x.db` → `/abs/x.db`.
        Some(rest) => rest.strip_prefix('/').unwrap_or(rest),
        None => without_query
            .strip_prefix("sqlite:")
            .unwrap_or(without_query),
    };
    if path.is_empty() || path == ":memory:" {
        return Err(Error::invalid(format!(
            "unsupported sqlite uri '{uri}': an in-memory database is not supported, give a file path"
        )));
    }
    Ok(PathBuf::from(path))
}

pub(crate) fn db_error(error: sqlx::Error) -> Error {
    Error::internal(format!("sqlite error: {error}"))
}

pub(crate) use crate::shared::{
    finish_page, json_list, limit_offset, load_value, logged_model_artifact_uri, new_uuid_hex,
    now_ms, parse_column, run_artifact_uri, store_value,
};

crate::forward::forward_metadata_store!(SqliteStore);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_forms() {
        let check = |uri: &str, expected: &str| {
            assert_eq!(
                database_path(uri).unwrap(),
                PathBuf::from(expected),
                "{uri}"
            );
        };
        check("sqlite:///mlruns.db", "mlruns.db");
        check("sqlite:///dir/mlruns.db", "dir/mlruns.db");
        check("sqlite:////tmp/x/mlruns.db", "/tmp/x/mlruns.db");
        check("/tmp/plain.db", "/tmp/plain.db");
        check("plain.db", "plain.db");
        check("sqlite:///a.db?mode=rwc", "a.db");
        assert!(database_path("sqlite://").is_err());
        assert!(database_path("sqlite:///:memory:").is_err());
    }

    #[test]
    fn nan_round_trip_encoding() {
        let (value, is_nan) = store_value(f64::NAN);
        assert!(load_value(value, is_nan).is_nan());
        let (value, is_nan) = store_value(f64::INFINITY);
        assert_eq!(load_value(value, is_nan), f64::INFINITY);
    }
}
