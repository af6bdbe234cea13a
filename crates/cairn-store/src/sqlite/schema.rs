//! The schema's migration state: what the database has applied, what this build knows, and what
//! is pending. `cairn db status` and `cairn db upgrade` read it; the server refuses to open a
//! database migrated by a newer cairn.

use cairn_core::Result;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, SqliteConnection};

use super::{database_path, db_error, MIGRATOR};

use crate::schema::{check_not_newer, known_migrations};
pub use crate::schema::{Migration, SchemaStatus};

/// Reads the applied migrations over an open connection (none when the table is absent).
pub(super) async fn applied_migrations(conn: &mut SqliteConnection) -> Result<Vec<Migration>> {
    let has_table: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(db_error)?;
    if !has_table {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT version, description FROM _sqlx_migrations WHERE success ORDER BY version",
    )
    .fetch_all(&mut *conn)
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

/// The schema state of the database at `uri`, read without changing (or creating) it.
pub async fn schema_status(uri: &str) -> Result<SchemaStatus> {
    let path = database_path(uri)?;
    let known = known_migrations(&MIGRATOR);
    if !path.exists() {
        return Ok(SchemaStatus {
            database: path.display().to_string(),
            exists: false,
            applied: Vec::new(),
            known,
        });
    }
    let mut conn = SqliteConnectOptions::new()
        .filename(&path)
        .read_only(true)
        .connect()
        .await
        .map_err(db_error)?;
    let applied = applied_migrations(&mut conn).await?;
    Ok(SchemaStatus {
        database: path.display().to_string(),
        exists: true,
        applied,
        known,
    })
}

/// Refuses a database migrated by a newer cairn, before anything runs against it.
pub(super) async fn refuse_newer(conn: &mut SqliteConnection, database: String) -> Result<()> {
    check_not_newer(&SchemaStatus {
        database,
        exists: true,
        applied: applied_migrations(conn).await?,
        known: known_migrations(&MIGRATOR),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn migration(version: i64) -> Migration {
        Migration {
            version,
            description: format!("m{version}"),
        }
    }

    #[test]
    fn pending_unknown_and_versions() {
        let status = SchemaStatus {
            database: "x.db".to_owned(),
            exists: true,
            applied: vec![migration(1), migration(2), migration(9)],
            known: vec![migration(1), migration(2), migration(3)],
        };
        assert_eq!(status.pending(), vec![&migration(3)]);
        assert_eq!(status.unknown(), vec![&migration(9)]);
        assert_eq!(status.current_version(), 9);
        assert_eq!(status.latest_known(), 3);
        let error = status.newer_schema_error().unwrap();
        assert!(
            error.message.contains("schema version 9"),
            "{}",
            error.message
        );
        assert!(error.message.contains("up to 3"), "{}", error.message);
        assert!(error.message.contains("9 (m9)"), "{}", error.message);

        let fresh = SchemaStatus {
            applied: Vec::new(),
            ..status
        };
        assert_eq!(fresh.pending().len(), 3);
        assert_eq!(fresh.current_version(), 0);
        assert!(fresh.newer_schema_error().is_none());
    }
}
