//! The PostgreSQL schema's migration state (see [`crate::schema`]).

use cairn_core::Result;
use sqlx::PgPool;

use super::{connect_options, db_error, redact_uri, MIGRATOR};
use crate::schema::{check_not_newer, known_migrations, Migration, SchemaStatus};

/// The applied migrations (none when the migrations table is absent).
async fn applied_migrations(pool: &PgPool) -> Result<Vec<Migration>> {
    let has_table: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(pool)
        .await
        .map_err(db_error)?;
    if !has_table {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT version, description FROM _sqlx_migrations WHERE success ORDER BY version",
    )
    .fetch_all(pool)
    .await
    .map_err(db_error)?;
    Ok(rows
        .into_iter()
        .map(|(version, description)| Migration {
            version,
            description,
        })
        .collect())
}

/// The schema state of the database at `uri`, read without changing it.
pub async fn schema_status(uri: &str) -> Result<SchemaStatus> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(connect_options(uri)?)
        .await
        .map_err(db_error)?;
    let applied = applied_migrations(&pool).await?;
    pool.close().await;
    Ok(SchemaStatus {
        database: redact_uri(uri),
        exists: true,
        applied,
        known: known_migrations(&MIGRATOR),
    })
}

/// Refuses a database migrated by a newer cairn, before anything runs against it.
pub(super) async fn refuse_newer(pool: &PgPool, database: &str) -> Result<()> {
    check_not_newer(&SchemaStatus {
        database: database.to_owned(),
        exists: true,
        applied: applied_migrations(pool).await?,
        known: known_migrations(&MIGRATOR),
    })
}
