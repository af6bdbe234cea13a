//! `cairn data drift`: compare a current dataset with a reference one, column by column, as
//! Evidently's `DataDriftPreset` does; exit 1 when the dataset drifts.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use cairn_data::drift::{self, render, DriftOptions, Method};
use cairn_data::source::{self, Progress};
use clap::Args;

use super::{write_output, Outcome, ProgressDisplay, ReadArgs, ReportArgs};

#[derive(Debug, Args)]
pub struct DriftArgs {
    /// The reference dataset: a file, a folder or a glob.
    #[arg(long)]
    reference: String,
    /// The current dataset: a file, a folder or a glob.
    #[arg(long)]
    current: String,
    /// Use this test for every column: ks, chisquare, z, wasserstein, jensenshannon, psi, kl_div,
    /// hellinger (default: Evidently's choice per column).
    #[arg(long, value_name = "NAME")]
    method: Option<String>,
    /// Use a test for one column (repeatable), e.g. `--column-method age=psi`.
    #[arg(long = "column-method", value_name = "COLUMN=NAME")]
    column_methods: Vec<String>,
    /// Threshold for every column (default: 0.05 for p-values, 0.1 for distances).
    #[arg(long, value_name = "X")]
    threshold: Option<f64>,
    /// The dataset drifts when at least this share of columns drift.
    #[arg(long, value_name = "X", default_value_t = 0.5)]
    drift_share: f64,
    /// Compare only these columns (comma-separated).
    #[arg(long, value_name = "A,B", value_delimiter = ',')]
    columns: Option<Vec<String>>,
    #[command(flatten)]
    read: ReadArgs,
    #[command(flatten)]
    report: ReportArgs,
}

fn options(args: &DriftArgs) -> anyhow::Result<DriftOptions> {
    let method = args.method.as_deref().map(Method::parse).transpose()?;
    let mut column_methods = HashMap::new();
    for entry in &args.column_methods {
        let (column, name) = entry
            .rsplit_once('=')
            .with_context(|| format!("--column-method takes COLUMN=NAME, not {entry:?}"))?;
        column_methods.insert(column.to_string(), Method::parse(name)?);
    }
    if let Some(threshold) = args.threshold {
        anyhow::ensure!(
            threshold.is_finite() && threshold >= 0.0,
            "--threshold must be a number at least 0, not {threshold}"
        );
    }
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.drift_share),
        "--drift-share must be between 0 and 1, not {}",
        args.drift_share
    );
    Ok(DriftOptions {
        columns: args.columns.clone(),
        method,
        column_methods,
        threshold: args.threshold,
        drift_share: args.drift_share,
        ..DriftOptions::default()
    })
}

/// Sums the progress of both readers into one bar.
struct CombinedProgress {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CombinedProgress {
    fn start(parts: [Arc<Progress>; 2], combined: Arc<Progress>) -> CombinedProgress {
        let total: u64 = parts.iter().map(|p| p.read().1).sum();
        combined.bytes_total.store(total, Ordering::Relaxed);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let read: u64 = parts.iter().map(|p| p.read().0).sum();
                    combined.bytes_read.store(read, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
        };
        CombinedProgress {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for CombinedProgress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub fn run(args: DriftArgs) -> anyhow::Result<Outcome> {
    let options = options(&args)?;
    let read_options = args.read.options()?;
    let reference = source::open(&args.reference, &read_options)?;
    let current = source::open(&args.current, &read_options)?;
    let combined = Arc::new(Progress::default());
    let report = {
        let _sum = CombinedProgress::start(
            [reference.progress(), current.progress()],
            Arc::clone(&combined),
        );
        let _bar = ProgressDisplay::start("drift", combined);
        drift::run(reference, current, &args.reference, &args.current, &options)?
    };
    let mut printed_to_stdout = false;
    if let Some(path) = &args.report.json {
        let text = serde_json::to_string_pretty(&report)? + "\n";
        write_output(path, &text)?;
        printed_to_stdout |= path.as_os_str() == "-";
    }
    if let Some(path) = &args.report.html {
        write_output(path, &render::html(&report))?;
        printed_to_stdout |= path.as_os_str() == "-";
    }
    if let Some(path) = &args.report.markdown {
        write_output(path, &render::markdown(&report))?;
        printed_to_stdout |= path.as_os_str() == "-";
    }
    if let Some(path) = &args.report.junit {
        write_output(path, &render::junit(&report))?;
        printed_to_stdout |= path.as_os_str() == "-";
    }
    let table = render::text(&report);
    if printed_to_stdout {
        eprint!("{table}");
    } else {
        write_output(std::path::Path::new("-"), &table)?;
    }
    Ok(if report.dataset_drift {
        Outcome::Failed
    } else {
        Outcome::Passed
    })
}
