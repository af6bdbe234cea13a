//! `cairn gate check`: holds a candidate (a run, a model version or a logged model) against a gate
//! file's rules in CI, prints rule / actual / required / verdict, records the verdict on the
//! candidate (tags `cairn.gate.<name>` and `cairn.gate.status`, artifact `gate/<name>.json`) and
//! exits 0 (passed), 1 (a rule failed) or 2 (the check could not run: say which input is wrong).

mod evidence;
mod render;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use cairn_core::governance::{evaluate, Evaluation, GateFile, Rule};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;

use crate::client::{block_on, Client, ServerConnection};
use evidence::{Candidate, TagTarget};

#[derive(Debug, Subcommand)]
pub enum GateCommand {
    /// Check a candidate against a gate file (exit 0: passed, 1: a rule failed, 2: error).
    Check(CheckArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Junit,
    Markdown,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The gate file (YAML, `version: 1`).
    gate: PathBuf,
    /// The candidate: a run.
    #[arg(long, value_name = "RUN_ID", group = "candidate")]
    run_id: Option<String>,
    /// The candidate: `models:/name/3`, `models:/name@alias`, `models:/m-<id>` or `runs:/<id>`.
    #[arg(long, value_name = "URI", group = "candidate")]
    model_uri: Option<String>,
    /// The serving benchmark run `latency_budget` rules read (overrides the gate file's).
    #[arg(long, value_name = "RUN_ID")]
    benchmark_run: Option<String>,
    /// Output format on stdout (or in --output).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Write the report here instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Check only: record nothing on the candidate.
    #[arg(long)]
    no_record: bool,
    #[command(flatten)]
    connection: ServerConnection,
}

pub fn run(command: GateCommand) -> ExitCode {
    let GateCommand::Check(args) = command;
    match check(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The whole result, as the JSON report and the recorded artifact show it.
pub struct Verdict {
    pub gate: String,
    pub candidate: String,
    pub baseline: Option<String>,
    pub checked_at_ms: i64,
    pub evaluation: Evaluation,
    pub kinds: Vec<&'static str>,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.evaluation.allowed()
    }
}

fn check(args: &CheckArgs) -> anyhow::Result<bool> {
    let text = std::fs::read_to_string(&args.gate)
        .with_context(|| format!("reading the gate file {}", args.gate.display()))?;
    let default_name = args
        .gate
        .file_stem()
        .and_then(|stem| stem.to_str())
        .filter(|stem| !stem.is_empty())
        .unwrap_or("gate");
    let gate = GateFile::from_yaml(&text, default_name)
        .with_context(|| format!("{}", args.gate.display()))?;
    let candidate = match (&args.run_id, &args.model_uri) {
        (Some(run_id), None) => Candidate::Run(run_id.clone()),
        (None, Some(uri)) => Candidate::from_uri(uri)?,
        _ => {
            anyhow::bail!("name the candidate: --run-id RUN_ID or --model-uri models:/name/version")
        }
    };
    let client = Client::new(&args.connection)?;
    let mut passed = false;
    block_on(async {
        let mut gathered = evidence::candidate(&client, &candidate).await?;
        let wants = |test: fn(&Rule) -> bool| gate.rules.iter().any(test);
        evidence::datasets(
            &client,
            &mut gathered.evidence,
            wants(|rule| matches!(rule, Rule::DataValidation)),
            wants(|rule| matches!(rule, Rule::MaxDatasetAge(_))),
        )
        .await?;
        if let Some(run_id) = args.benchmark_run.as_ref().or(gate.benchmark_run.as_ref()) {
            gathered.evidence.benchmark = Some(evidence::benchmark(&client, run_id).await?);
        }
        let baseline = match &gate.baseline {
            Some(baseline) => {
                evidence::baseline(&client, baseline, gathered.evidence.run_id.as_deref()).await?
            }
            None => None,
        };
        let checked_at_ms = now_ms();
        let verdict = Verdict {
            gate: gate.name.clone(),
            candidate: gathered.described.clone(),
            baseline: gate.baseline.as_ref().map(|named| match &baseline {
                Some(_) => named.to_string(),
                None => format!("{named} (not found: nothing to compare with)"),
            }),
            checked_at_ms,
            evaluation: evaluate(
                &gate.rules,
                &gathered.evidence,
                baseline.as_ref(),
                checked_at_ms,
            ),
            kinds: gate.rules.iter().map(Rule::kind).collect(),
        };
        let report = match args.format {
            Format::Text => render::text(&verdict),
            Format::Json => render::json(&verdict),
            Format::Junit => render::junit(&verdict),
            Format::Markdown => render::markdown(&verdict),
        };
        match &args.output {
            Some(path) => std::fs::write(path, &report)
                .with_context(|| format!("writing {}", path.display()))?,
            None => print!("{report}"),
        }
        if !args.no_record {
            record(&client, &gathered, &verdict).await?;
        }
        passed = verdict.passed();
        Ok(())
    })?;
    Ok(passed)
}

/// Tags on the candidate and the JSON verdict as an artifact of its run, so the registry's
/// promotion policy (`tag: "cairn.gate.release = passed"`) and the UI can show it.
async fn record(
    client: &Client,
    gathered: &evidence::Gathered,
    verdict: &Verdict,
) -> anyhow::Result<()> {
    let status = if verdict.passed() { "passed" } else { "failed" };
    let tags = [
        (format!("cairn.gate.{}", verdict.gate), status.to_owned()),
        ("cairn.gate.status".to_owned(), status.to_owned()),
    ];
    const API: &str = "/api/2.0/mlflow";
    match &gathered.target {
        TagTarget::Run(run_id) => {
            let tags: Vec<_> = tags
                .iter()
                .map(|(key, value)| json!({"key": key, "value": value}))
                .collect();
            client
                .post(
                    &format!("{API}/runs/log-batch"),
                    &json!({"run_id": run_id, "tags": tags}),
                    "record the verdict",
                )
                .await?;
        }
        TagTarget::ModelVersion { model, version } => {
            for (key, value) in &tags {
                client
                    .post(
                        &format!("{API}/model-versions/set-tag"),
                        &json!({"name": model, "version": version, "key": key, "value": value}),
                        "record the verdict",
                    )
                    .await?;
            }
        }
        TagTarget::LoggedModel(model_id) => {
            let tags: Vec<_> = tags
                .iter()
                .map(|(key, value)| json!({"key": key, "value": value}))
                .collect();
            client
                .patch(
                    &format!("{API}/logged-models/{model_id}/tags"),
                    &json!({"tags": tags}),
                    "record the verdict",
                )
                .await?;
        }
    }
    if let Some((_, artifact_uri)) = &gathered.artifact_run {
        if let Some(root) = artifact_uri.strip_prefix("mlflow-artifacts:") {
            let root = root.trim_start_matches('/').trim_end_matches('/');
            let path = format!(
                "/api/2.0/mlflow-artifacts/artifacts/{root}/gate/{}.json",
                verdict.gate
            );
            client
                .put_bytes(
                    &path,
                    render::json(verdict).into_bytes(),
                    "upload the verdict",
                )
                .await?;
        } else {
            eprintln!("note: the run's artifacts ({artifact_uri}) are not served by the tracking server; the verdict is recorded as tags only");
        }
    }
    Ok(())
}
