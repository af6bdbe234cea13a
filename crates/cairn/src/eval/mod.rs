//! `cairn eval PREDICTIONS`: model evaluation metrics over a predictions file (CSV/TSV, JSON lines,
//! Parquet; local, a folder, a glob or `s3://`), overall and per slice, as scikit-learn computes
//! them. Flags, reading and reports here; the metrics are in `cairn-eval`.
//!
//! Exit codes: 0 success, 2 usage or input error (unknown column, a non-numeric probability at
//! `file:line`, a label without a probability column...).

mod read;
mod record;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::bail;
use cairn_eval::classification::{ClassificationOptions, Probabilities};
use cairn_eval::report;
use cairn_eval::result::Task;
use clap::{Args, ValueEnum};

use crate::data::tracking::{self, TrackingArgs};
use crate::data::{write_output, ProgressDisplay, ReadArgs};

/// `cairn eval`'s flags (the command's help text is on `Command::Eval` in main.rs).
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  cairn eval preds.csv --label-col y --prediction-col y_hat --proba-col p_1 --slice-by region\n  cairn eval preds.parquet --label-col species --prediction-col predicted --proba-prefix proba_ --html eval.html\n  cairn eval preds.csv --task regression --label-col price --prediction-col predicted --json -\n\nExit codes: 0 success, 2 usage or input error."
)]
pub struct EvalArgs {
    /// The predictions: a file, a folder of files, a glob (quote it), or s3://bucket/key.
    predictions: String,
    /// The true labels (classification) or target values (regression).
    #[arg(long, value_name = "COLUMN")]
    label_col: String,
    /// The predicted labels or values.
    #[arg(long, value_name = "COLUMN")]
    prediction_col: String,
    /// Binary classification: the positive class' probability.
    #[arg(long, value_name = "COLUMN", conflicts_with = "proba_prefix")]
    proba_col: Option<String>,
    /// Multiclass: one probability column per class, named PREFIX<class> (e.g. proba_cat).
    #[arg(long, value_name = "PREFIX")]
    proba_prefix: Option<String>,
    /// classification or regression (default: classification with probability columns, else
    /// regression when the label column's first rows (one chunk) hold non-integer numbers, else
    /// classification).
    #[arg(long, value_enum)]
    task: Option<TaskArg>,
    /// The positive class of a binary problem (default as scikit-learn: 1, else the greater label).
    #[arg(long, value_name = "LABEL")]
    pos_label: Option<String>,
    /// Compute every metric per value of these columns too, with the largest gap between values
    /// (several: `--slice-by a,b`, or `--slice-by a b` after PREDICTIONS).
    #[arg(long, value_name = "COLUMN", num_args = 1.., value_delimiter = ',')]
    slice_by: Vec<String>,
    /// Equal-width bins of the reliability curve and the expected calibration error.
    #[arg(long, value_name = "N", default_value_t = 10)]
    calibration_bins: usize,
    #[command(flatten)]
    read: ReadArgs,
    /// Write the results as JSON (`-`: standard output).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write a self-contained HTML report with SVG plots.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Write a Markdown summary (e.g. to $GITHUB_STEP_SUMMARY).
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    #[command(flatten)]
    tracking: TrackingArgs,
    /// Print nothing on the terminal but errors (reports are still written).
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TaskArg {
    Classification,
    Regression,
}

pub fn run(args: EvalArgs) -> ExitCode {
    match evaluate(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if crate::is_broken_pipe(&error) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn evaluate(args: EvalArgs) -> anyhow::Result<()> {
    if args.calibration_bins == 0 {
        bail!("--calibration-bins must be at least 1");
    }
    let task = match (args.task, &args.proba_col, &args.proba_prefix) {
        (Some(TaskArg::Regression), Some(_), _) | (Some(TaskArg::Regression), _, Some(_)) => {
            bail!("--proba-col and --proba-prefix are for classification, not --task regression")
        }
        (Some(TaskArg::Regression), None, None) => Some(Task::Regression),
        (Some(TaskArg::Classification), _, _) | (None, Some(_), _) | (None, _, Some(_)) => {
            Some(Task::Classification)
        }
        (None, None, None) => None,
    };
    if args.pos_label.is_some() && task == Some(Task::Regression) {
        bail!("--pos-label is for classification");
    }
    let options = args.read.options()?;
    let source = cairn_data::source::open(&args.predictions, &options)?;
    let progress = (!args.quiet && std::io::stderr().is_terminal())
        .then(|| ProgressDisplay::start("evaluating", source.progress()));
    let plan = read::Plan {
        label: args.label_col.clone(),
        prediction: args.prediction_col.clone(),
        slices: args.slice_by.clone(),
        task,
        probabilities: match (&args.proba_col, &args.proba_prefix) {
            (Some(column), _) => read::ProbabilityColumns::Binary(column.clone()),
            (None, Some(prefix)) => read::ProbabilityColumns::Prefix(prefix.clone()),
            (None, None) => read::ProbabilityColumns::None,
        },
        classification: ClassificationOptions {
            probabilities: Probabilities::None,
            pos_label: args.pos_label.clone(),
            calibration_bins: args.calibration_bins,
            slice_columns: args.slice_by.clone(),
        },
    };
    let outcome = read::evaluate(source, plan);
    drop(progress);
    let outcome = outcome?;
    let evaluation = &outcome.evaluation;
    let json = serde_json::to_string_pretty(evaluation)? + "\n";
    if let Some(path) = &args.json {
        write_output(path, &json)?;
    }
    if let Some(path) = &args.html {
        write_output(path, &report::html(evaluation))?;
    }
    if let Some(path) = &args.markdown {
        write_output(path, &report::markdown(evaluation))?;
    }
    let stdout_taken = [&args.json, &args.html, &args.markdown]
        .iter()
        .any(|path| path.as_deref() == Some(Path::new("-")));
    if !args.quiet {
        let summary = report::text(evaluation);
        if stdout_taken {
            eprint!("{summary}");
        } else {
            write_output(Path::new("-"), &summary)?;
        }
    }
    if args.tracking.wanted() {
        let record = record::record(&args.predictions, &outcome, &args.label_col, json);
        let run_id = tracking::log(&args.tracking, record)?;
        if !args.quiet {
            eprintln!("logged to run {run_id}");
        }
    }
    Ok(())
}
