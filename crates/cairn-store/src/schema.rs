//! The schema's migration state, as both backends report it: what the database has applied, what
//! this build knows, and what is pending.

use cairn_core::{Error, Result};

/// One versioned migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub version: i64,
    pub description: String,
}

/// Where a database's schema stands against this build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaStatus {
    /// The database, as messages name it (a file path, or a URI without its password).
    pub database: String,
    /// Whether the database exists at all.
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
            self.database,
            self.current_version(),
            self.latest_known(),
            names.join(", ")
        )))
    }
}

/// The migrations `migrator` carries.
pub(crate) fn known_migrations(migrator: &sqlx::migrate::Migrator) -> Vec<Migration> {
    migrator
        .iter()
        .map(|migration| Migration {
            version: migration.version,
            description: migration.description.to_string(),
        })
        .collect()
}

/// `Ok` unless the database was migrated by a newer cairn.
pub(crate) fn check_not_newer(status: &SchemaStatus) -> Result<()> {
    match status.newer_schema_error() {
        Some(error) => Err(error),
        None => Ok(()),
    }
}
