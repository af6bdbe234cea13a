//! `cairn import mlflow`: copies an MLflow tracking store (its SQL database and artifact folder) into a
//! cairn store. The work is in `cairn-import`; this is flags, the progress bar and the summary.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use cairn_artifacts::ObjectArtifactStore;
use cairn_import::{Count, MlflowImport, Progress, Summary};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import an MLflow tracking store: experiments, runs (full metric history), datasets, logged
    /// models, the model registry, and the artifacts. Ids are kept; re-running skips what is there.
    Mlflow(MlflowArgs),
}

#[derive(Debug, Args)]
pub struct MlflowArgs {
    /// MLflow's backend store: sqlite:///path/to/mlflow.db (PostgreSQL and MySQL sources are not
    /// supported yet).
    #[arg(long = "from", value_name = "URI")]
    from: String,

    /// MLflow's artifact root folder (`mlflow server --artifacts-destination`, e.g. ./mlartifacts,
    /// or ./mlruns): where mlflow-artifacts:/ locations live. Without it only file: locations are
    /// copied.
    #[arg(long, value_name = "FOLDER")]
    artifacts: Option<PathBuf>,

    /// The cairn metadata store to import into (as for `cairn server`) [default: sqlite:///cairn-data/cairn.db]
    #[arg(long, env = "CAIRN_BACKEND_STORE_URI")]
    backend_store_uri: Option<String>,

    /// The cairn artifact root (as for `cairn server`) [default: cairn-data/artifacts]
    #[arg(long, env = "CAIRN_ARTIFACTS_DESTINATION")]
    artifacts_destination: Option<String>,
}

/// A progress bar per phase, on stderr (hidden when stderr is not a terminal).
struct Bar {
    bar: ProgressBar,
}

impl Progress for Bar {
    fn phase(&self, name: &str, total: u64) {
        self.bar.set_length(total);
        self.bar.set_position(0);
        self.bar.set_message(name.to_owned());
    }
    fn advance(&self, items: u64) {
        self.bar.inc(items);
    }
    fn warn(&self, message: &str) {
        self.bar.suspend(|| eprintln!("warning: {message}"));
    }
}

pub fn run(command: ImportCommand) -> anyhow::Result<()> {
    let ImportCommand::Mlflow(args) = command;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(import_mlflow(args))
}

async fn import_mlflow(args: MlflowArgs) -> anyhow::Result<()> {
    let backend_store_uri = args
        .backend_store_uri
        .unwrap_or_else(|| "sqlite:///cairn-data/cairn.db".to_owned());
    let artifacts_destination = args
        .artifacts_destination
        .unwrap_or_else(|| "cairn-data/artifacts".to_owned());
    if let Some(folder) = &args.artifacts {
        if !folder.is_dir() {
            anyhow::bail!("--artifacts {}: not a folder", folder.display());
        }
    }
    let store = cairn_store::open(&backend_store_uri, cairn_store::StoreOptions::default())
        .await
        .with_context(|| {
            format!(
                "opening the metadata store at {}",
                cairn_store::display_uri(&backend_store_uri)
            )
        })?;
    let artifacts = ObjectArtifactStore::open(&artifacts_destination)
        .with_context(|| format!("opening the artifact store at {artifacts_destination}"))?;
    let bar = Bar {
        bar: ProgressBar::new(0).with_style(
            ProgressStyle::with_template(
                "{spinner} {msg:>14} {pos}/{len} {wide_bar} {per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
    };
    let request = MlflowImport {
        source_uri: args.from.clone(),
        artifacts_root: args.artifacts.clone(),
    };
    let result =
        cairn_import::import_mlflow(&request, store.clone(), Arc::new(artifacts), &bar).await;
    bar.bar.finish_and_clear();
    store.close().await;
    let summary = result.with_context(|| format!("importing {}", args.from))?;
    print_summary(&args.from, &backend_store_uri, &summary);
    Ok(())
}

fn print_summary(from: &str, to: &str, summary: &Summary) {
    let line = |kind: &str, count: Count| {
        println!(
            "  {kind:<18} {:>9} copied {:>9} skipped (already there)",
            count.copied, count.skipped
        );
    };
    println!("imported {from} into {to}");
    line("experiments", summary.experiments);
    line("runs", summary.runs);
    line("logged models", summary.logged_models);
    line("registered models", summary.registered_models);
    line("model versions", summary.model_versions);
    line("aliases", summary.aliases);
    println!(
        "  {:<18} {:>9} metric points, {} params, {} tags, {} dataset inputs",
        "run data", summary.metric_points, summary.params, summary.tags, summary.dataset_inputs
    );
    println!(
        "  {:<18} {:>9} files, {} bytes",
        "artifacts", summary.artifact_files, summary.artifact_bytes
    );
    if summary.artifacts_not_found > 0 {
        println!(
            "  {:<18} {:>9} runs or models whose artifacts were not copied (see warnings)",
            "", summary.artifacts_not_found
        );
    }
    if summary.traces_not_imported > 0 {
        println!(
            "  {:<18} {:>9} traces not imported (cairn does not serve traces)",
            "", summary.traces_not_imported
        );
    }
    let remapped: Vec<String> = summary
        .experiment_ids
        .iter()
        .filter(|(mlflow_id, cairn_id)| mlflow_id.to_string() != *cairn_id)
        .map(|(mlflow_id, cairn_id)| format!("{mlflow_id}->{cairn_id}"))
        .collect();
    if !remapped.is_empty() {
        println!(
            "  experiment ids changed (MLflow->cairn): {}",
            remapped.join(", ")
        );
    }
    let seconds = summary.elapsed.as_secs_f64();
    let rate = |count: u64| {
        if seconds > 0.0 {
            count as f64 / seconds
        } else {
            0.0
        }
    };
    println!(
        "  elapsed {seconds:.2} s: {:.1} runs/s, {:.0} metrics/s",
        rate(summary.runs.copied),
        rate(summary.metric_points)
    );
}
