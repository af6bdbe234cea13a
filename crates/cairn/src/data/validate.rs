//! `cairn data validate` (to be built).

use std::path::PathBuf;

use clap::Args;

use super::{Outcome, ReadArgs, ReportArgs};

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The suite (YAML).
    #[arg(long)]
    suite: PathBuf,
    /// The dataset: a file, a folder or a glob.
    data: String,
    #[command(flatten)]
    read: ReadArgs,
    #[command(flatten)]
    report: ReportArgs,
}

pub fn run(_args: ValidateArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("cairn data validate is not built yet")
}
