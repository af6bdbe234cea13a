//! `cairn data validate --suite suite.yaml DATA`: exit 0 when every expectation holds, 1 when one
//! fails, 2 on a usage or input error.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use cairn_data::report::validation as report;
use cairn_data::suite::Suite;
use clap::Args;

use super::{write_output, Outcome, ProgressDisplay, ReadArgs, ReportArgs};

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The suite (YAML; `cairn data suggest` writes one, `cairn data import-ge` converts one).
    #[arg(long, value_name = "FILE")]
    suite: PathBuf,
    /// The dataset: a file, a folder of files, a glob (quote it), or a postgresql:// URL (with
    /// --table or --query).
    data: String,
    #[command(flatten)]
    read: ReadArgs,
    #[command(flatten)]
    report: ReportArgs,
    #[command(flatten)]
    postgres: super::pushdown::PostgresArgs,
    /// Print nothing on the terminal but errors (reports are still written).
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(args: ValidateArgs) -> anyhow::Result<Outcome> {
    let text = std::fs::read_to_string(&args.suite)
        .with_context(|| format!("cannot read the suite {}", args.suite.display()))?;
    let suite = Suite::parse(&text, &args.suite.display().to_string())?;
    let validation = if super::pushdown::applies(&args.data, &args.postgres)? {
        super::pushdown::validate(&suite, &args.data, &args.postgres)?
    } else {
        let options = args.read.options()?;
        let source = cairn_data::source::open(&args.data, &options)?;
        let progress = (!args.quiet && std::io::stderr().is_terminal())
            .then(|| ProgressDisplay::start("validating", source.progress()));
        let validation = cairn_data::validate::validate(&suite, &args.data, source);
        drop(progress);
        validation?
    };
    if let Some(path) = &args.report.json {
        let body = serde_json::to_string_pretty(&report::json(&validation))?;
        write_output(path, &(body + "\n"))?;
    }
    if let Some(path) = &args.report.junit {
        write_output(path, &report::junit(&validation))?;
    }
    if let Some(path) = &args.report.markdown {
        write_output(path, &report::markdown(&validation))?;
    }
    if let Some(path) = &args.report.html {
        write_output(path, &report::html(&validation, ""))?;
    }
    let stdout_taken = [
        &args.report.json,
        &args.report.junit,
        &args.report.markdown,
        &args.report.html,
    ]
    .iter()
    .any(|path| path.as_deref() == Some(std::path::Path::new("-")));
    if !args.quiet {
        let summary = report::text(&validation);
        if stdout_taken {
            eprint!("{summary}");
        } else {
            print!("{summary}");
        }
    }
    Ok(if validation.success() {
        Outcome::Passed
    } else {
        Outcome::Failed
    })
}
