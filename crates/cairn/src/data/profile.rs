//! `cairn data profile` and `cairn data suggest`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use cairn_data::profile::{self, render, ProfileOptions, TableProfile};
use cairn_data::source;
use clap::Args;

use super::{write_output, MemoryArgs, Outcome, ProgressDisplay, ReadArgs, ReportArgs};

/// Per-column memory budgets: past them, results are estimates and say so.
#[derive(Debug, Clone, Args)]
pub struct BudgetArgs {
    /// Distinct values counted exactly per column (8 to 24 bytes each) before a HyperLogLog
    /// estimate. A column whose values all fit the most-frequent-values counter (100,000) is
    /// counted exactly whatever this says.
    #[arg(long, value_name = "N", default_value_t = ProfileOptions::default().distinct_limit)]
    pub exact_distinct: usize,
    /// Numbers kept per column for exact quantiles and histogram (8 bytes each, in memory within
    /// --memory-budget, then on disk) before a uniform sample (as many as the memory budget's share
    /// holds) stands in for them.
    #[arg(long, value_name = "N", default_value_t = ProfileOptions::default().sample_budget)]
    pub exact_numbers: usize,
    #[command(flatten)]
    pub memory: MemoryArgs,
}

impl BudgetArgs {
    fn options(&self) -> ProfileOptions {
        ProfileOptions {
            distinct_limit: self.exact_distinct,
            sample_budget: self.exact_numbers,
            memory_budget: self.memory.budget().bytes,
            ..ProfileOptions::default()
        }
    }
}

#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// The dataset: a file, a folder or a glob.
    data: String,
    #[command(flatten)]
    read: ReadArgs,
    #[command(flatten)]
    report: ReportArgs,
    #[command(flatten)]
    budgets: BudgetArgs,
}

#[derive(Debug, Args)]
pub struct SuggestArgs {
    /// The reference dataset.
    data: String,
    #[command(flatten)]
    read: ReadArgs,
    /// Write the suite here (default: print it).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// The suite's name (default: the data's file name without extension).
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    budgets: BudgetArgs,
}

/// Reads and profiles DATA, with a progress bar.
fn run_profile(data: &str, read: &ReadArgs, budgets: &BudgetArgs) -> anyhow::Result<TableProfile> {
    let options = read.options()?;
    let mut input = source::open(data, &options)?;
    let threads = if read.threads == 0 {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        read.threads
    };
    let _progress = ProgressDisplay::start("profiling", input.progress());
    Ok(profile::profile_source(
        input.as_mut(),
        data,
        budgets.options(),
        budgets.memory.temp_dir.clone(),
        threads,
    )?)
}

pub fn profile(args: ProfileArgs) -> anyhow::Result<Outcome> {
    if args.report.junit.is_some() {
        anyhow::bail!(
            "--junit is for checks (validate, drift); profile writes --json, --html or --markdown"
        );
    }
    let table = run_profile(&args.data, &args.read, &args.budgets)?;
    let reports = [
        args.report.json.as_deref(),
        args.report.html.as_deref(),
        args.report.markdown.as_deref(),
    ];
    let stdout_taken = reports.iter().flatten().any(|path| *path == Path::new("-"));
    if let Some(path) = &args.report.json {
        let mut text = serde_json::to_string_pretty(&table).context("cannot encode the profile")?;
        text.push('\n');
        write_output(path, &text)?;
    }
    if let Some(path) = &args.report.html {
        write_output(path, &render::html(&table))?;
    }
    if let Some(path) = &args.report.markdown {
        write_output(path, &render::markdown(&table))?;
    }
    if !stdout_taken {
        write_output(Path::new("-"), &render::text(&table))?;
    }
    Ok(Outcome::Passed)
}

pub fn suggest(args: SuggestArgs) -> anyhow::Result<Outcome> {
    let table = run_profile(&args.data, &args.read, &args.budgets)?;
    let name = args.name.clone().unwrap_or_else(|| suite_name(&args.data));
    let suite = cairn_data::suggest::suggest(&table, &name);
    let yaml = suite.to_yaml();
    match &args.output {
        Some(path) => {
            write_output(path, &yaml)?;
            eprintln!(
                "wrote {} expectations to {}",
                suite.expectations.len(),
                path.display()
            );
        }
        None => write_output(Path::new("-"), &yaml)?,
    }
    Ok(Outcome::Passed)
}

/// The data's file (or folder) name without its extensions.
fn suite_name(data: &str) -> String {
    let name = Path::new(data)
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or("suite");
    let stem = name.split('.').next().unwrap_or(name);
    if stem.is_empty() || stem.contains(['*', '?', '[']) {
        "suite".to_string()
    } else {
        stem.to_string()
    }
}
