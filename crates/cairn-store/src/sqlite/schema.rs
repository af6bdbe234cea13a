//! The schema's migration state: what the database has applied, what this build knows, and what
//! is pending. `cairn db status` and `cairn db upgrade` read it; the server refuses to open a
//! database migrated by a newer cairn.

use std::path::PathBuf;

use cairn_core::{Error, Result};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, SqliteConnection};

use super::{database_path, db_error, MIGRATOR};

/// One versioned migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub version: i64,
    pub description: String,
}

/// Where a database's schema stands against this build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaStatus {
    pub path: PathBuf,
    /// Whether the database file exists at all.
    pub exists: bool,
    /// Migrations the database has applied, oldest first.
    pub applied: Vec<Migration>,
    /// Migrations this build carries, oldest first.
    pub known: Vec<Migration>,
}

impl SchemaStatus {
    /// Known migrations the database has not applied yet.
    pub fn pending(&self) -> Vec<&Migration> {
        self.known
            .iter()
            .filter(|known| {
                !self
                    .applied
                    .iter()
                    .any(|applied| applied.version == known.version)
            })
            .collect()
    }

    /// Applied migrations this build does not know: the database was migrated by a newer cairn.
    pub fn unknown(&self) -> Vec<&Migration> {
        self.applied
            .iter()
            .filter(|applied| {
                !self
                    .known
                    .iter()
                    .any(|known| known.version == applied.version)
            })
            .collect()
    }

    /// The newest applied version (0 for a new database).
    pub fn current_version(&self) -> i64 {
        self.applied.iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// The newest version this build knows.
    pub fn latest_known(&self) -> i64 {
        self.known.iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// The error a server gives for a database it must not open, if any.
    pub fn newer_schema_error(&self) -> Option<Error> {
        let unknown = self.unknown();
        if unknown.is_empty() {
            return None;
        }
        let names: Vec<String> = unknown
            .iter()
            .map(|m| format!("{} ({})", m.version, m.description))
            .collect();
        Some(Error::invalid(format!(
            "the database {} has schema version {}, newer than this cairn knows (up to {}): it was \
             migrated by a newer cairn (unknown migrations: {}). Run that version of cairn, or \
             restore a backup taken before the upgrade",
            self.path.display(),
            self.current_version(),
            self.latest_known(),
            names.join(", ")
        )))
    }
}

/// The migrations this build carries.
fn known_migrations() -> Vec<Migration> {
    MIGRATOR
        .iter()
        .map(|migration| Migration {
            version: migration.version,
            description: migration.description.to_string(),
        })
        .collect()
}

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
    let known = known_migrations();
    if !path.exists() {
        return Ok(SchemaStatus {
            path,
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
        path,
        exists: true,
        applied,
        known,
    })
}

/// Refuses a database migrated by a newer cairn, before anything runs against it.
pub(super) async fn refuse_newer(conn: &mut SqliteConnection, path: PathBuf) -> Result<()> {
    let status = SchemaStatus {
        path,
        exists: true,
        applied: applied_migrations(conn).await?,
        known: known_migrations(),
    };
    match status.newer_schema_error() {
        Some(error) => Err(error),
        None => Ok(()),
    }
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
            path: PathBuf::from("x.db"),
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
