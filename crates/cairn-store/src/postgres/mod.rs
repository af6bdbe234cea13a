//! The PostgreSQL store: for teams, and for several `cairn server` replicas on one database.
//!
//! Layout: one connection pool shared by reads and writes. Every multi-statement write is one
//! transaction; allocations that MLflow numbers ("max + 1" model versions) lock the parent row
//! (`SELECT ... FOR UPDATE`), so replicas never hand out the same number or skip one.
//!
//! Durability: a transaction that committed is on disk (PostgreSQL's default `synchronous_commit`).
//!
//! Faults: when the database cannot be reached (restarting, network gone), calls fail fast with
//! [`cairn_core::ErrorKind::Unavailable`] (HTTP 503, which MLflow's client retries); broken
//! connections are dropped when released and the pool reconnects by itself once the database is
//! back.
//!
//! Planner statistics: `statistics` analyzes the searched tables soon after they change a lot, so
//! that a search right after a burst of logging is not planned for empty tables.
//!
//! Submodules mirror the SQLite backend's: [`experiments`], [`runs`], [`logged_models`],
//! [`registry`], [`governance`], [`webhooks`], [`import`], [`statistics`]. Search filters compile through the shared
//! `crate::filter`, rendered with PostgreSQL's placeholders.

mod experiments;
mod governance;
mod import;
mod logged_models;
mod registry;
mod runs;
pub mod schema;
mod statistics;
mod webhooks;

use std::str::FromStr;
use std::time::Duration;

use cairn_core::{Error, Result};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

#[allow(unused_imports)]
pub(crate) use crate::shared::{
    finish_page, json_list, limit_offset, load_value, logged_model_artifact_uri, new_uuid_hex,
    now_ms, parse_column, run_artifact_uri, store_value,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Tuning knobs of [`PgStore::connect_with`]; the defaults are what `connect` uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// The most connections this process holds (PostgreSQL's own limit is shared by all replicas).
    pub max_connections: u32,
    /// How long a call waits for a connection before it fails as unavailable.
    pub acquire_timeout: Duration,
    /// About how many bytes of run parts searches keep for reuse (see `run_cache`); 0: none.
    pub run_cache_bytes: usize,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            run_cache_bytes: crate::run_cache::DEFAULT_RUN_CACHE_BYTES,
        }
    }
}

/// The PostgreSQL implementation of [`crate::MetadataStore`].
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// What the statistics task needs to hear about (see `statistics`).
    activity: std::sync::Arc<statistics::Activity>,
    /// Parts of runs that searches loaded, by `data_rev` (see `run_cache`).
    runs: crate::run_cache::RunCache,
}

/// Whether `uri` names a PostgreSQL database (`postgresql://` or `postgres://`).
pub fn is_postgres_uri(uri: &str) -> bool {
    uri.starts_with("postgresql://")
        || uri.starts_with("postgres://")
        || uri.starts_with("postgresql+psycopg2://")
}

/// `uri` as sqlx takes it: SQLAlchemy's driver suffix (`postgresql+psycopg2://`, which MLflow users
/// write) is dropped.
fn connect_options(uri: &str) -> Result<PgConnectOptions> {
    let uri = match uri.strip_prefix("postgresql+psycopg2://") {
        Some(rest) => format!("postgresql://{rest}"),
        None => uri.to_owned(),
    };
    PgConnectOptions::from_str(&uri).map_err(|error| {
        Error::invalid(format!(
            "invalid PostgreSQL uri '{}': {error}",
            redact_uri(&uri)
        ))
    })
}

/// `uri` with any password replaced by `***`, for messages and logs.
pub fn redact_uri(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return uri.to_owned();
    };
    let (authority, tail) = match rest.find('/') {
        Some(index) => rest.split_at(index),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => uri.to_owned(),
        },
        None => uri.to_owned(),
    }
}

impl PgStore {
    /// Connects to the database at `uri` (`postgresql://user:password@host:port/db`) and migrates it.
    /// The Default experiment ("0") is created if missing. Several processes may do this at once:
    /// migrations take an advisory lock.
    pub async fn connect(uri: &str) -> Result<PgStore> {
        Self::connect_with(uri, PgOptions::default()).await
    }

    /// [`PgStore::connect`] with explicit options.
    pub async fn connect_with(uri: &str, store_options: PgOptions) -> Result<PgStore> {
        let options = connect_options(uri)?.application_name("cairn");
        let pool = PgPoolOptions::new()
            .max_connections(store_options.max_connections.max(1))
            .min_connections(1)
            .acquire_timeout(store_options.acquire_timeout)
            // No ping before each use (a round trip on every call): sqlx pings a connection when it
            // is released instead and drops it if broken. After a database restart, a call on a
            // connection that was idle meanwhile fails once as Unavailable (503, which clients
            // retry) and that connection is replaced.
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(|error| {
                Error::unavailable(format!(
                    "cannot connect to PostgreSQL at {}: {error}",
                    redact_uri(uri)
                ))
            })?;
        schema::refuse_newer(&pool, &redact_uri(uri)).await?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|error| Error::internal(format!("postgresql migration failed: {error}")))?;
        let activity = statistics::spawn(pool.clone());
        let store = PgStore {
            pool,
            activity,
            runs: crate::run_cache::RunCache::new(store_options.run_cache_bytes),
        };
        store.ensure_default_experiment().await?;
        Ok(store)
    }

    /// Closes the pool. Later calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A write transaction (READ COMMITTED; row locks where a method needs more).
    #[allow(dead_code)]
    async fn write(&self) -> Result<Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(db_error)
    }

    /// A read transaction: one consistent snapshot for multi-query reads.
    #[allow(dead_code)]
    async fn read(&self) -> Result<Transaction<'static, Postgres>> {
        self.pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await
            .map_err(db_error)
    }

    async fn ensure_default_experiment(&self) -> Result<()> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO experiments \
             (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time) \
             VALUES (0, 'Default', 'mlflow-artifacts:/0', 'active', $1, $1) ON CONFLICT DO NOTHING",
        )
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }
}

/// A stub's error, until the method is ported.
#[allow(dead_code)]
pub(crate) fn not_yet(method: &str) -> Error {
    Error::internal(format!("postgresql store: {method} is not implemented yet"))
}

/// Maps a sqlx error to the domain: the database out of reach (connection refused or lost, pool
/// exhausted, server shutting down, a serialization conflict to retry) is `Unavailable`; anything
/// else is a server fault.
pub(crate) fn db_error(error: sqlx::Error) -> Error {
    if is_transient(&error) {
        return Error::unavailable(format!("the database is unavailable: {error}"));
    }
    if let sqlx::Error::Database(database) = &error {
        // 22021: a NUL character (PostgreSQL text cannot hold U+0000); 22P05: untranslatable.
        if matches!(database.code().as_deref(), Some("22021" | "22P05")) {
            return Error::invalid(
                "Invalid value: text containing a NUL character (U+0000) cannot be stored",
            );
        }
    }
    Error::internal(format!("postgresql error: {error}"))
}

fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(database) => database.code().is_some_and(|code| {
            // 08: connection exception; 57P01-57P03: admin/crash shutdown, cannot connect now;
            // 40001/40P01: serialization failure, deadlock (the transaction was rolled back).
            code.starts_with("08")
                || matches!(&*code, "57P01" | "57P02" | "57P03" | "40001" | "40P01")
        }),
        _ => false,
    }
}

/// Whether `error` is a unique-constraint violation (SQLSTATE 23505).
#[allow(dead_code)]
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(database) if database.code().as_deref() == Some("23505"))
}

crate::forward::forward_metadata_store!(PgStore);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_uri("postgresql://cairn:secret@db:5432/cairn"),
            "postgresql://cairn:***@db:5432/cairn"
        );
        assert_eq!(
            redact_uri("postgresql://cairn@db/cairn"),
            "postgresql://cairn@db/cairn"
        );
    }

    #[test]
    fn uris_are_recognised() {
        assert!(is_postgres_uri("postgresql://u@h/d"));
        assert!(is_postgres_uri("postgres://u@h/d"));
        assert!(!is_postgres_uri("sqlite:///x.db"));
        assert!(connect_options("postgresql+psycopg2://u:p@h:5433/d").is_ok());
    }
}
