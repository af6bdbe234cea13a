//! `cairn data validate --suite suite.yaml DATA`: exit 0 when every expectation holds, 1 when one
//! fails, 2 on a usage or input error.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use cairn_data::report::validation as report;
use cairn_data::suite::Suite;
use clap::Args;

use super::tracking::{self, check_metric_key, Record, TrackingArgs};
use super::{dataset_digest, write_output, Outcome, ProgressDisplay, ReadArgs, ReportArgs};

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
    tracking: TrackingArgs,
    #[command(flatten)]
    postgres: super::pushdown::PostgresArgs,
    #[command(flatten)]
    memory: super::MemoryArgs,
    /// Print nothing on the terminal but errors (reports are still written).
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(args: ValidateArgs) -> anyhow::Result<Outcome> {
    let text = std::fs::read_to_string(&args.suite)
        .with_context(|| format!("cannot read the suite {}", args.suite.display()))?;
    let suite = Suite::parse(&text, &args.suite.display().to_string())?;
    let with_profile = args.report.html.is_some() || args.tracking.wanted();
    let validation = if super::pushdown::applies(&args.data, &args.postgres)? {
        super::pushdown::validate(&suite, &args.data, &args.postgres, &args.memory.budget())?
    } else {
        let options = args.read.options()?;
        let source = cairn_data::source::open(&args.data, &options)?;
        let progress = (!args.quiet && std::io::stderr().is_terminal())
            .then(|| ProgressDisplay::start("validating", source.progress()));
        let validation = cairn_data::validate::validate(
            &suite,
            &args.data,
            source,
            with_profile,
            &args.memory.budget(),
        );
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
        write_output(path, &report::html(&validation))?;
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
    if args.tracking.wanted() {
        let run_id = tracking::log(&args.tracking, record(&validation, &text))?;
        if !args.quiet {
            eprintln!("logged to run {run_id}");
        }
    }
    Ok(if validation.success() {
        Outcome::Passed
    } else {
        Outcome::Failed
    })
}

/// The run record of a validation: a metric per expectation (1 passed, 0 failed), the reports.
fn record(validation: &cairn_data::validate::Validation, suite_text: &str) -> Record {
    let mut metrics: Vec<(String, f64)> = validation
        .results
        .iter()
        .enumerate()
        .map(|(index, result)| {
            let column = result.kwargs.get("column").and_then(|c| c.as_str());
            let key = check_metric_key("validation", index, &result.expectation_type, column);
            (key, if result.success { 1.0 } else { 0.0 })
        })
        .collect();
    let total = validation.results.len().max(1) as f64;
    metrics.push((
        "validation/success_percent".into(),
        validation.successful() as f64 / total * 100.0,
    ));
    metrics.push(("validation/row_count".into(), validation.row_count as f64));
    let json = serde_json::to_string_pretty(&report::json(validation)).unwrap_or_default();
    let name = std::path::Path::new(&validation.data)
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or(&validation.data)
        .to_owned();
    Record {
        default_run_name: format!("validate {} on {name}", validation.suite_name),
        dataset_name: name,
        dataset_digest: dataset_digest(&validation.files, &validation.columns),
        dataset_source: validation.data.clone(),
        rows: validation.row_count,
        columns: validation.columns.clone(),
        metrics,
        tags: vec![("validation.suite".into(), validation.suite_name.clone())],
        passed: Some(validation.success()),
        models: Vec::new(),
        artifacts: vec![
            ("validation.json".into(), json.into_bytes()),
            (
                "validation.html".into(),
                report::html(validation).into_bytes(),
            ),
            (
                "validation.md".into(),
                report::markdown(validation).into_bytes(),
            ),
            (
                "validation.junit.xml".into(),
                report::junit(validation).into_bytes(),
            ),
            ("suite.yaml".into(), suite_text.as_bytes().to_vec()),
        ],
        kind: "validation",
        source_name: "cairn data validate".into(),
    }
}
