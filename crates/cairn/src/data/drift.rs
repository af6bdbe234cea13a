//! `cairn data drift` (to be built).

use clap::Args;

use super::{Outcome, ReadArgs};

#[derive(Debug, Args)]
pub struct DriftArgs {
    /// The reference dataset.
    #[arg(long)]
    reference: String,
    /// The current dataset.
    #[arg(long)]
    current: String,
    #[command(flatten)]
    read: ReadArgs,
}

pub fn run(_args: DriftArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("cairn data drift is not built yet")
}
