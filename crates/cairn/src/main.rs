//! The `cairn` command line. Parsing and wiring only: the work happens in the library crates.

mod client;
mod data;
mod db;
mod eval;
mod gate;
mod governance;
mod import;
mod lint;
mod serve;
mod server;
mod webhooks;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// cairn: experiment tracking, model registry and more, in one binary.
#[derive(Debug, Parser)]
#[command(name = "cairn", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the tracking server (MLflow REST API compatible).
    Server(server::ServerArgs),
    /// Show where a model, logged model or run came from and what came of it.
    Lineage(governance::LineageArgs),
    /// Registered models: policy-checked promotion and its audit log.
    #[command(subcommand)]
    Models(governance::ModelsCommand),
    /// The server's governance policy (promotion rules, naming conventions).
    #[command(subcommand)]
    Policy(governance::PolicyCommand),
    /// Check an existing store against the policy's naming conventions (exit code 1 on offenders).
    Lint(lint::LintArgs),
    /// The metadata store's schema: status and upgrade.
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Registry webhooks: register, list, delete, test, and their delivery log.
    #[command(subcommand)]
    Webhooks(webhooks::WebhooksCommand),
    /// Bring another tracking store into a cairn store (`cairn import mlflow --from sqlite:///...`).
    #[command(subcommand)]
    Import(import::ImportCommand),
    /// Data validation, profiling and drift (exit 0: passed, 1: a check failed, 2: error).
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Quality gates for CI: hold a run or model against a gate file (exit 0/1/2).
    #[command(subcommand)]
    Gate(gate::GateCommand),
    /// Evaluate predictions: classification and regression metrics, per slice (exit 0, 2: error).
    ///
    /// Classification: accuracy, balanced accuracy, precision / recall / F1 per class, macro, micro
    /// and weighted, ROC AUC, PR AUC, log loss, Brier score, confusion matrix, calibration.
    /// Regression: MAE, MSE, RMSE, R², MAPE, max error, residual quantiles. Overall and per slice,
    /// with the values scikit-learn gives.
    ///
    /// The input is a predictions file with a label column, a prediction column and, for
    /// classification, probability columns; or, with --model, an ONNX model (models:/name@alias,
    /// runs:/..., a folder or an .onnx file) and a dataset with a label column: cairn scores the
    /// model on ONNX Runtime and evaluates its predictions.
    Eval(Box<eval::EvalArgs>),
    /// Serve an ONNX model over MLflow's scoring protocol and the Open Inference Protocol v2.
    Serve(serve::ServeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Data(command) => return data::run(command),
        Command::Gate(command) => return gate::run(command),
        Command::Eval(args) => return eval::run(*args),
        Command::Server(args) => server::run(args).map(|()| true),
        Command::Serve(args) => serve::run(args).map(|()| true),
        Command::Lineage(args) => governance::lineage(args).map(|()| true),
        Command::Models(command) => governance::models(command),
        Command::Policy(command) => governance::policy(command).map(|()| true),
        Command::Webhooks(command) => webhooks::run(command),
        Command::Lint(args) => lint::run(args),
        Command::Import(command) => import::run(command).map(|()| true),
        Command::Db(command) => db::run(command),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            if is_broken_pipe(&error) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
