//! `cairn data import-ge`: a Great Expectations suite (JSON, 0.x or 1.x) to a cairn suite (YAML).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::{write_output, Outcome};

#[derive(Debug, Args)]
pub struct ImportGeArgs {
    /// The Great Expectations suite (JSON).
    suite: PathBuf,
    /// Write the cairn suite here (default: print it).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

pub fn run(args: ImportGeArgs) -> anyhow::Result<Outcome> {
    let origin = args.suite.display().to_string();
    let text =
        std::fs::read_to_string(&args.suite).with_context(|| format!("cannot read {origin}"))?;
    let imported = cairn_data::ge::import(&text, &origin)?;
    for warning in &imported.warnings {
        eprintln!("warning: {origin}: {warning}");
    }
    let yaml = imported.suite.to_yaml();
    match &args.output {
        Some(path) => {
            write_output(path, &yaml)?;
            eprintln!(
                "wrote {} expectations to {}",
                imported.suite.expectations.len(),
                path.display()
            );
        }
        None => write_output(Path::new("-"), &yaml)?,
    }
    Ok(Outcome::Passed)
}
