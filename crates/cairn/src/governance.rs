//! `cairn lineage`, `cairn models ...` and `cairn policy ...`: governance from the command line,
//! through a running server's `/api/2.0/cairn` API.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{bail, Context};
use cairn_core::lineage::Graph;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value};

use crate::client::{block_on, Client, ServerConnection};

const CAIRN_API: &str = "/api/2.0/cairn";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LineageFormat {
    Tree,
    Json,
    Dot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LineageDirection {
    Upstream,
    Downstream,
    Both,
}

#[derive(Debug, Args)]
pub struct LineageArgs {
    /// What to start from: `models:/name@alias`, `models:/name/3`, `models:/m-<id>` or `runs:/<run_id>`.
    uri: String,
    /// Which way to walk.
    #[arg(long, value_enum, default_value_t = LineageDirection::Both)]
    direction: LineageDirection,
    /// How many hops each way (at most 20).
    #[arg(long, default_value_t = 6)]
    depth: u32,
    /// Output: a readable tree, the API's JSON, or Graphviz DOT.
    #[arg(long, value_enum, default_value_t = LineageFormat::Tree)]
    format: LineageFormat,
    #[command(flatten)]
    connection: ServerConnection,
}

pub fn lineage(args: LineageArgs) -> anyhow::Result<()> {
    block_on(async {
        let client = Client::new(&args.connection)?;
        let direction = match args.direction {
            LineageDirection::Upstream => "upstream",
            LineageDirection::Downstream => "downstream",
            LineageDirection::Both => "both",
        };
        let mut query = vec![
            ("direction", direction.to_owned()),
            ("depth", args.depth.to_string()),
        ];
        if let Some(run_id) = args.uri.strip_prefix("runs:/") {
            query.push(("run_id", run_id.trim_end_matches('/').to_owned()));
        } else {
            query.push(("uri", args.uri.clone()));
        }
        let answer = client
            .get(&format!("{CAIRN_API}/lineage"), &query, "lineage")
            .await?;
        let mut out = std::io::stdout().lock();
        match args.format {
            LineageFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&answer)?)?,
            LineageFormat::Tree | LineageFormat::Dot => {
                let graph: Graph = serde_json::from_value(answer)
                    .context("the server's lineage answer has an unexpected shape")?;
                let text = if args.format == LineageFormat::Tree {
                    graph.render_tree()
                } else {
                    graph.render_dot()
                };
                write!(out, "{text}")?;
            }
        }
        Ok(())
    })
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Register a model (`runs:/<run_id>/<path>` or `models:/m-<id>`) as a new version of a
    /// registered model, created when missing; prints the version number.
    Register(RegisterArgs),
    /// Evaluate the promotion policy for a version and, unless --dry-run, set the alias or stage.
    /// Exits with 1 when the policy refuses.
    Promote(PromoteArgs),
    /// The promotion audit log of a registered model: every decision, newest first.
    History(HistoryArgs),
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// Registered model name.
    name: String,
    /// Version number.
    version: u64,
    /// The alias to set (e.g. champion).
    #[arg(long, conflicts_with = "stage", required_unless_present = "stage")]
    alias: Option<String>,
    /// The stage to move to (Staging, Production, Archived).
    #[arg(long)]
    stage: Option<String>,
    /// Evaluate and print, change nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    connection: ServerConnection,
}

#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// What to register: `runs:/<run_id>/<artifact path>` or a logged model, `models:/m-<id>`.
    source: String,
    /// Registered model name.
    #[arg(long)]
    name: String,
    #[command(flatten)]
    connection: ServerConnection,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Registered model name.
    name: String,
    /// The most decisions to show.
    #[arg(long, default_value_t = 50)]
    max_results: u32,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    connection: ServerConnection,
}

/// Whether the command succeeded in the CLI sense (a refused promotion is a failure exit code).
pub fn models(command: ModelsCommand) -> anyhow::Result<bool> {
    match command {
        ModelsCommand::Register(args) => register(args).map(|()| true),
        ModelsCommand::Promote(args) => promote(args),
        ModelsCommand::History(args) => history(args).map(|()| true),
    }
}

fn str_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn print_evaluation(out: &mut impl std::io::Write, evaluation: &Value) -> std::io::Result<()> {
    let results = evaluation["results"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let width = results
        .iter()
        .map(|result| str_of(&result["rule"]).chars().count())
        .max()
        .unwrap_or(0);
    for result in &results {
        let verdict = if result["passed"].as_bool() == Some(true) {
            "PASS"
        } else {
            "FAIL"
        };
        writeln!(
            out,
            "  {verdict}  {:<width$}  actual: {}  required: {}",
            str_of(&result["rule"]),
            str_of(&result["actual"]),
            str_of(&result["required"]),
        )?;
    }
    Ok(())
}

fn register(args: RegisterArgs) -> anyhow::Result<()> {
    const API: &str = "/api/2.0/mlflow";
    let mut body = json!({"name": args.name, "source": args.source});
    if let Some(rest) = args.source.strip_prefix("runs:/") {
        let run_id = rest.split('/').next().unwrap_or_default();
        if run_id.is_empty() {
            bail!("'{}': expected runs:/<run_id>/<artifact path>", args.source);
        }
        body["run_id"] = json!(run_id);
    } else if let Some(model_id) = args.source.strip_prefix("models:/") {
        let model_id = model_id.trim_end_matches('/');
        if !model_id.starts_with("m-") || model_id.contains('/') {
            bail!("'{}': expected a logged model, models:/m-<id>", args.source);
        }
        body["model_id"] = json!(model_id);
    } else {
        bail!(
            "'{}': expected runs:/<run_id>/<artifact path> or models:/m-<id>",
            args.source
        );
    }
    block_on(async {
        let client = Client::new(&args.connection)?;
        let created = client
            .post(
                &format!("{API}/registered-models/create"),
                &json!({"name": args.name}),
                "create the registered model",
            )
            .await;
        if let Err(error) = created {
            if !error.to_string().contains("RESOURCE_ALREADY_EXISTS") {
                return Err(error);
            }
        }
        let answer = client
            .post(
                &format!("{API}/model-versions/create"),
                &body,
                "create the model version",
            )
            .await?;
        let version = str_of(&answer["model_version"]["version"]);
        if version.is_empty() {
            bail!("create the model version: no version in the answer");
        }
        println!("{version}");
        eprintln!(
            "registered {} as models:/{}/{version}",
            args.source, args.name
        );
        Ok(())
    })
}

fn promote(args: PromoteArgs) -> anyhow::Result<bool> {
    let mut allowed = false;
    block_on(async {
        let client = Client::new(&args.connection)?;
        let mut body = json!({
            "name": args.name,
            "version": args.version.to_string(),
            "dry_run": args.dry_run,
        });
        let target = match (&args.alias, &args.stage) {
            (Some(alias), _) => {
                body["alias"] = json!(alias);
                format!("alias '{alias}'")
            }
            (None, Some(stage)) => {
                body["stage"] = json!(stage);
                format!("stage '{stage}'")
            }
            (None, None) => bail!("give --alias or --stage"),
        };
        let mut out = std::io::stdout().lock();
        // A refusal (when not a dry run) comes back as an error; ask for the evaluation first so
        // that the rule-by-rule table prints either way.
        let mut dry = body.clone();
        dry["dry_run"] = json!(true);
        let evaluation = client
            .post(
                &format!("{CAIRN_API}/registered-models/promote"),
                &dry,
                "promote",
            )
            .await?;
        writeln!(out, "{} version {} -> {target}", args.name, args.version)?;
        if evaluation["protected"].as_bool() != Some(true) {
            writeln!(out, "  (not protected by the policy: no rules apply)")?;
        } else {
            print_evaluation(&mut out, &evaluation["evaluation"])?;
        }
        allowed = evaluation["allowed"].as_bool() == Some(true);
        if args.dry_run {
            writeln!(
                out,
                "result: {} (dry run: nothing changed)",
                if allowed { "allowed" } else { "refused" }
            )?;
            return Ok(());
        }
        if !allowed {
            // Ask for real anyway so the refusal is recorded in the audit log.
            let refusal = client
                .post(
                    &format!("{CAIRN_API}/registered-models/promote"),
                    &body,
                    "promote",
                )
                .await;
            writeln!(out, "result: refused")?;
            if let Err(error) = refusal {
                print_server_note(&mut out, &format!("{error:#}"))?;
            }
            return Ok(());
        }
        client
            .post(
                &format!("{CAIRN_API}/registered-models/promote"),
                &body,
                "promote",
            )
            .await?;
        writeln!(out, "result: allowed, {target} set")?;
        Ok(())
    })?;
    Ok(allowed)
}

fn print_server_note(out: &mut impl std::io::Write, text: &str) -> std::io::Result<()> {
    let first = text.lines().next().unwrap_or_default();
    writeln!(out, "  server: {first}")
}

fn history(args: HistoryArgs) -> anyhow::Result<()> {
    block_on(async {
        let client = Client::new(&args.connection)?;
        let answer = client
            .get(
                &format!("{CAIRN_API}/registered-models/audit"),
                &[
                    ("name", args.name.clone()),
                    ("max_results", args.max_results.to_string()),
                ],
                "history",
            )
            .await?;
        let mut out = std::io::stdout().lock();
        if args.json {
            writeln!(out, "{}", serde_json::to_string_pretty(&answer)?)?;
            return Ok(());
        }
        let decisions = answer["decisions"].as_array().cloned().unwrap_or_default();
        if decisions.is_empty() {
            writeln!(out, "no policy decisions recorded for '{}'", args.name)?;
            return Ok(());
        }
        for decision in &decisions {
            let time_ms = decision["time"].as_i64().unwrap_or_default();
            writeln!(
                out,
                "#{} {} version {} -> {} '{}': {} by {} via {} (policy revision {})",
                str_of(&decision["id"]),
                format_time(time_ms),
                str_of(&decision["version"]),
                str_of(&decision["target_kind"]),
                str_of(&decision["target"]),
                if decision["allowed"].as_bool() == Some(true) {
                    "ALLOWED"
                } else {
                    "REFUSED"
                },
                str_of(&decision["user"]),
                str_of(&decision["action"]),
                str_of(&decision["policy_revision"]),
            )?;
            print_evaluation(&mut out, &decision["evaluation"])?;
        }
        Ok(())
    })
}

/// `YYYY-MM-DD HH:MM:SS UTC` from epoch milliseconds.
fn format_time(time_ms: i64) -> String {
    format!("{} UTC", cairn_core::time::format_utc(time_ms))
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Print the policy in force.
    Show(PolicyShowArgs),
    /// Validate a policy file and put it in force on the server (a new revision).
    Set(PolicySetArgs),
}

#[derive(Debug, Args)]
pub struct PolicyShowArgs {
    /// Print the API's JSON instead of YAML.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    connection: ServerConnection,
}

#[derive(Debug, Args)]
pub struct PolicySetArgs {
    /// The policy file (YAML).
    file: PathBuf,
    #[command(flatten)]
    connection: ServerConnection,
}

pub fn policy(command: PolicyCommand) -> anyhow::Result<()> {
    block_on(async {
        let mut out = std::io::stdout().lock();
        match command {
            PolicyCommand::Show(args) => {
                let client = Client::new(&args.connection)?;
                let answer = client
                    .get(&format!("{CAIRN_API}/policy"), &[], "policy")
                    .await?;
                if args.json {
                    writeln!(out, "{}", serde_json::to_string_pretty(&answer)?)?;
                } else {
                    match answer["revision"].get("revision") {
                        Some(revision) => writeln!(
                            out,
                            "# revision {revision} set by {}",
                            str_of(&answer["revision"]["author"])
                        )?,
                        None => writeln!(out, "# no policy set: everything is allowed")?,
                    }
                    write!(out, "{}", str_of(&answer["yaml"]))?;
                }
            }
            PolicyCommand::Set(args) => {
                let text = std::fs::read_to_string(&args.file)
                    .with_context(|| format!("reading {}", args.file.display()))?;
                // Validate locally first: the same engine the server runs.
                cairn_core::governance::PolicyFile::from_yaml(&text)
                    .with_context(|| format!("invalid policy file {}", args.file.display()))?;
                let client = Client::new(&args.connection)?;
                let answer = client
                    .put(
                        &format!("{CAIRN_API}/policy"),
                        &json!({ "yaml": text }),
                        "policy",
                    )
                    .await?;
                writeln!(
                    out,
                    "policy revision {} in force",
                    str_of(&answer["revision"]["revision"])
                )?;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::format_time;

    #[test]
    fn times_format_as_utc() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_time(1_795_000_000_000), "2026-11-18 11:06:40 UTC");
        assert_eq!(format_time(951_782_400_000), "2000-02-29 00:00:00 UTC");
    }
}
