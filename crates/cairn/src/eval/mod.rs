//! `cairn eval PREDICTIONS`: model evaluation metrics over a predictions file (CSV/TSV, JSON lines,
//! Parquet; local, a folder, a glob or `s3://`), overall and per slice, as scikit-learn computes
//! them; or `cairn eval --model MODEL_URI DATA`: an ONNX model scored on a dataset first
//! (`score.rs`, on cairn-serve's runtime). Flags, reading and reports here; the metrics are in
//! `cairn-eval`.
//!
//! Exit codes: 0 success, 2 usage or input error (unknown column, a non-numeric probability at
//! `file:line`, a label without a probability column, a model that is not ONNX, no ONNX
//! Runtime...).

mod read;
mod record;
mod score;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use cairn_eval::classification::{ClassificationOptions, Probabilities};
use cairn_eval::report;
use cairn_eval::result::Task;
use cairn_serve::model::LoadedModel;
use clap::{Args, ValueEnum};

use crate::data::tracking::{self, TrackingArgs};
use crate::data::{write_output, ProgressDisplay, ReadArgs};

/// `cairn eval`'s flags (the command's help text is on `Command::Eval` in main.rs).
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  cairn eval preds.csv --label-col y --prediction-col y_hat --proba-col p_1 --slice-by region\n  cairn eval preds.parquet --label-col species --prediction-col predicted --proba-prefix proba_ --html eval.html\n  cairn eval preds.csv --task regression --label-col price --prediction-col predicted --json -\n\nExit codes: 0 success, 2 usage or input error."
)]
pub struct EvalArgs {
    /// The predictions (with --model: the data to score): a file, a folder of files, a glob (quote
    /// it), or s3://bucket/key.
    #[arg(value_name = "PREDICTIONS|DATA")]
    predictions: String,
    /// The true labels (classification) or target values (regression).
    #[arg(long, value_name = "COLUMN")]
    label_col: String,
    /// The predicted labels or values.
    #[arg(long, value_name = "COLUMN", required_unless_present = "model")]
    prediction_col: Option<String>,
    /// Binary classification: the positive class' probability.
    #[arg(long, value_name = "COLUMN", conflicts_with_all = ["proba_prefix", "model"])]
    proba_col: Option<String>,
    /// Multiclass: one probability column per class, named PREFIX<class> (e.g. proba_cat).
    #[arg(long, value_name = "PREFIX", conflicts_with = "model")]
    proba_prefix: Option<String>,
    /// Score this ONNX model on DATA and evaluate its predictions: models:/name@alias,
    /// models:/name/3, models:/m-<id>, runs:/<run_id>/<path> (through --tracking-uri), a folder with
    /// an MLmodel file (onnx flavor) or an .onnx file.
    #[arg(long, value_name = "MODEL_URI", conflicts_with = "prediction_col")]
    model: Option<String>,
    /// With --model: the columns to feed it, in order (default: the MLmodel signature's input
    /// columns, else every column but the label and slice columns). A model with one [N, F] input
    /// takes them as the F features of each row.
    #[arg(long, value_name = "COLUMN", value_delimiter = ',', requires = "model")]
    feature_cols: Vec<String>,
    /// With --model: the ONNX Runtime shared library (else ORT_DYLIB_PATH, else the Python
    /// environment's onnxruntime package).
    #[arg(long, value_name = "PATH", requires = "model")]
    ort_dylib: Option<PathBuf>,
    /// With --model: write each row's label, slice values, prediction and class probabilities
    /// (proba_<class>) to this CSV file.
    #[arg(long, value_name = "FILE", requires = "model")]
    predictions_out: Option<PathBuf>,
    /// With --model: rows per model call.
    #[arg(long, value_name = "N", default_value_t = 8192)]
    batch_rows: usize,
    /// classification or regression (default: classification with probability columns, else
    /// regression when the label column's first rows (one chunk) hold non-integer numbers, else
    /// classification; with --model: classification when the model gives class probabilities or
    /// integer/text labels, regression when it gives floats).
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
    if args.predictions_out.as_deref() == Some(Path::new("-")) {
        bail!("--predictions-out takes a file path (standard output carries the reports)");
    }
    let model = match &args.model {
        Some(uri) => Some(load_model(uri, &args)?),
        None => None,
    };
    let options = args.read.options()?;
    let source = cairn_data::source::open(&args.predictions, &options)?;
    let progress = (!args.quiet && std::io::stderr().is_terminal()).then(|| {
        ProgressDisplay::start(
            if model.is_some() {
                "scoring"
            } else {
                "evaluating"
            },
            source.progress(),
        )
    });
    let classification = ClassificationOptions {
        probabilities: Probabilities::None,
        pos_label: args.pos_label.clone(),
        calibration_bins: args.calibration_bins,
        slice_columns: args.slice_by.clone(),
    };
    let started = std::time::Instant::now();
    let outcome = match &model {
        Some(scorer) => score::evaluate(
            source,
            &scorer.model,
            score::ModelPlan {
                label: args.label_col.clone(),
                features: args.feature_cols.clone(),
                slices: args.slice_by.clone(),
                task,
                classification,
                batch_rows: args.batch_rows,
                threads: scorer.sessions,
                predictions_out: args.predictions_out.clone(),
            },
        ),
        None => {
            let Some(prediction) = args.prediction_col.clone() else {
                bail!("--prediction-col is required without --model");
            };
            let plan = read::Plan {
                label: args.label_col.clone(),
                prediction,
                slices: args.slice_by.clone(),
                task,
                probabilities: match (&args.proba_col, &args.proba_prefix) {
                    (Some(column), _) => read::ProbabilityColumns::Binary(column.clone()),
                    (None, Some(prefix)) => read::ProbabilityColumns::Prefix(prefix.clone()),
                    (None, None) => read::ProbabilityColumns::None,
                },
                classification,
            };
            read::evaluate(source, plan)
        }
    };
    drop(progress);
    let outcome = outcome?;
    if let (Some(scorer), false) = (&model, args.quiet) {
        let seconds = started.elapsed().as_secs_f64();
        eprintln!(
            "scored {} rows with {} in {seconds:.1} s ({:.0} rows/s)",
            outcome.rows,
            scorer.used.describe(),
            outcome.rows as f64 / seconds.max(1e-9)
        );
    }
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
        let record = record::record(
            &args.predictions,
            &outcome,
            &args.label_col,
            json,
            model.as_ref().map(|scorer| &scorer.used),
        );
        let run_id = tracking::log(&args.tracking, record)?;
        if !args.quiet {
            eprintln!("logged to run {run_id}");
        }
    }
    Ok(())
}

/// A model ready to score, with what the record says about it.
struct Scorer {
    model: LoadedModel,
    used: record::ModelUsed,
    /// Model calls in flight at once (one session each).
    sessions: usize,
    /// The runtime environment the sessions were built in, kept for as long as they are.
    _environment: ort::environment::Environment,
}

/// Finds ONNX Runtime, resolves `uri` (through the tracking server for models:/ and runs:/) and
/// loads the model into one session per core.
fn load_model(uri: &str, args: &EvalArgs) -> anyhow::Result<Scorer> {
    let found = cairn_serve::runtime::find(args.ort_dylib.as_deref())?;
    let environment = cairn_serve::runtime::load(&found)?;
    let tracking_uri = args.tracking.tracking_uri.clone();
    let mut resolved = None;
    crate::client::block_on(async {
        resolved = Some(cairn_serve::resolve::resolve(uri, tracking_uri.as_deref()).await?);
        Ok(())
    })
    .with_context(|| format!("resolving {uri}"))?;
    let Some(local) = resolved else {
        bail!("resolving {uri}: nothing resolved");
    };
    let sessions = std::thread::available_parallelism().map_or(1, usize::from);
    let model = LoadedModel::load(
        &environment,
        uri,
        &local.version,
        &local.onnx_path,
        local.mlmodel.inputs.as_ref(),
        sessions,
    )
    .with_context(|| format!("loading {uri}"))?;
    Ok(Scorer {
        model,
        used: record::ModelUsed {
            uri: uri.to_owned(),
            provenance: local.provenance,
        },
        sessions,
        _environment: environment,
    })
}
