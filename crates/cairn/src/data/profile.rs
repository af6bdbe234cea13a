//! `cairn data profile` and `cairn data suggest` (to be built).

use clap::Args;

use super::{Outcome, ReadArgs};

#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// The dataset: a file, a folder or a glob.
    data: String,
    #[command(flatten)]
    read: ReadArgs,
}

#[derive(Debug, Args)]
pub struct SuggestArgs {
    /// The reference dataset.
    data: String,
    #[command(flatten)]
    read: ReadArgs,
}

pub fn profile(_args: ProfileArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("cairn data profile is not built yet")
}

pub fn suggest(_args: SuggestArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("cairn data suggest is not built yet")
}
