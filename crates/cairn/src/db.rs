//! `cairn db status` and `cairn db upgrade`: the metadata store's schema migrations.

use std::io::Write as _;

use anyhow::Context;
use cairn_store::schema::SchemaStatus;
use cairn_store::schema_status;
use clap::{Args, Subcommand};

use crate::client::block_on;

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Show the schema version applied and the migrations pending (exit code 1 when the database
    /// is not at this cairn's version).
    Status(DbArgs),
    /// Apply the pending migrations (a new database is created and migrated).
    Upgrade(DbArgs),
}

#[derive(Debug, Args)]
pub struct DbArgs {
    /// The metadata store (as for `cairn server`) [default: sqlite:///cairn-data/cairn.db]
    #[arg(long, env = "CAIRN_BACKEND_STORE_URI")]
    backend_store_uri: Option<String>,
}

impl DbArgs {
    fn uri(&self) -> String {
        self.backend_store_uri
            .clone()
            .unwrap_or_else(|| "sqlite:///cairn-data/cairn.db".to_owned())
    }
}

fn print_status(out: &mut impl std::io::Write, status: &SchemaStatus) -> std::io::Result<()> {
    writeln!(out, "database: {}", status.database)?;
    if !status.exists {
        writeln!(
            out,
            "state: does not exist yet (`cairn db upgrade` or `cairn server` creates it)"
        )?;
    }
    writeln!(
        out,
        "schema version: {} (this cairn knows up to {})",
        status.current_version(),
        status.latest_known()
    )?;
    for migration in &status.applied {
        writeln!(
            out,
            "  applied  {:>4}  {}",
            migration.version, migration.description
        )?;
    }
    for migration in status.pending() {
        writeln!(
            out,
            "  pending  {:>4}  {}",
            migration.version, migration.description
        )?;
    }
    for migration in status.unknown() {
        writeln!(
            out,
            "  unknown  {:>4}  {} (applied by a newer cairn)",
            migration.version, migration.description
        )?;
    }
    Ok(())
}

/// Whether the database ends up at this cairn's schema version (the exit code).
pub fn run(command: DbCommand) -> anyhow::Result<bool> {
    let mut up_to_date = false;
    block_on(async {
        let mut out = std::io::stdout().lock();
        match command {
            DbCommand::Status(args) => {
                let uri = args.uri();
                let status = schema_status(&uri).await.with_context(|| {
                    format!("reading the schema of {}", cairn_store::display_uri(&uri))
                })?;
                print_status(&mut out, &status)?;
                up_to_date =
                    status.exists && status.pending().is_empty() && status.unknown().is_empty();
                let verdict = if up_to_date {
                    "up to date"
                } else if !status.unknown().is_empty() {
                    "newer than this cairn: this cairn will not open it"
                } else {
                    "upgrade needed: run `cairn db upgrade` (cairn server also upgrades on start)"
                };
                writeln!(out, "status: {verdict}")?;
            }
            DbCommand::Upgrade(args) => {
                let uri = args.uri();
                let before = schema_status(&uri).await.with_context(|| {
                    format!("reading the schema of {}", cairn_store::display_uri(&uri))
                })?;
                if let Some(error) = before.newer_schema_error() {
                    anyhow::bail!("{}", error.message);
                }
                let pending: Vec<String> = before
                    .pending()
                    .iter()
                    .map(|m| format!("{} {}", m.version, m.description))
                    .collect();
                let store = cairn_store::open(&uri, cairn_store::StoreOptions::default())
                    .await
                    .with_context(|| format!("upgrading {}", cairn_store::display_uri(&uri)))?;
                store.close().await;
                let after = schema_status(&uri).await?;
                if pending.is_empty() {
                    writeln!(
                        out,
                        "{}: already at schema version {}",
                        after.database,
                        after.current_version()
                    )?;
                } else {
                    for line in &pending {
                        writeln!(out, "applied {line}")?;
                    }
                    writeln!(
                        out,
                        "{}: schema version {} -> {}",
                        after.database,
                        before.current_version(),
                        after.current_version()
                    )?;
                }
                up_to_date = after.pending().is_empty();
            }
        }
        Ok(())
    })?;
    Ok(up_to_date)
}
