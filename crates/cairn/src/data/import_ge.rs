//! `cairn data import-ge` (to be built).

use std::path::PathBuf;

use clap::Args;

use super::Outcome;

#[derive(Debug, Args)]
pub struct ImportGeArgs {
    /// The Great Expectations suite (JSON).
    suite: PathBuf,
}

pub fn run(_args: ImportGeArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("cairn data import-ge is not built yet")
}
