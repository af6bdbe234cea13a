//! `cairn webhooks ...`: registry webhooks through a running server's `/api/2.0/cairn/webhooks`
//! API, which (unlike MLflow's) takes cairn's extension events and shows the delivery log.

use std::io::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::client::{block_on, Client, ServerConnection};

const WEBHOOKS_API: &str = "/api/2.0/cairn/webhooks";

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Register a webhook for registry events.
    Create(CreateArgs),
    /// List the webhooks, newest first.
    List(ListArgs),
    /// Delete a webhook; its pending deliveries are given up.
    Delete(DeleteArgs),
    /// A webhook's deliveries, newest first, with each attempt's outcome.
    Deliveries(DeliveriesArgs),
    /// Send an example payload now and show the receiver's answer. Exits with 1 on failure.
    Test(TestArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// A name: letters, digits, `.`, `_`, `-`, starting and ending with a letter or digit.
    #[arg(long)]
    name: String,
    /// Where to POST deliveries.
    #[arg(long)]
    url: String,
    /// An event to subscribe to, as `entity.action`; repeat for more. MLflow's events
    /// (`registered_model.created`, `model_version.created`, `model_version_tag.set`,
    /// `model_version_tag.deleted`, `model_version_alias.created`, `model_version_alias.deleted`,
    /// the `prompt*` ones) and cairn's (`model_version_stage.updated`,
    /// `model_version_promotion.refused`).
    #[arg(long = "event", required = true, value_name = "EVENT")]
    events: Vec<String>,
    /// The HMAC secret that signs deliveries (`X-MLflow-Signature`); never shown again.
    #[arg(long, env = "CAIRN_WEBHOOK_SECRET", hide_env_values = true)]
    secret: Option<String>,
    #[arg(long)]
    description: Option<String>,
    /// Register it disabled (no deliveries until enabled).
    #[arg(long)]
    disabled: bool,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    connection: ServerConnection,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// The most webhooks to show.
    #[arg(long, default_value_t = 100)]
    max_results: u32,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    connection: ServerConnection,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The webhook's id.
    webhook_id: String,
    #[command(flatten)]
    connection: ServerConnection,
}

#[derive(Debug, Args)]
pub struct DeliveriesArgs {
    /// The webhook's id.
    webhook_id: String,
    /// The most deliveries to show.
    #[arg(long, default_value_t = 50)]
    max_results: u32,
    /// Print the API's JSON (payloads and every attempt included).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    connection: ServerConnection,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The webhook's id.
    webhook_id: String,
    /// The event whose example payload to send (default: the webhook's first event).
    #[arg(long)]
    event: Option<String>,
    #[command(flatten)]
    connection: ServerConnection,
}

/// Whether the command succeeded in the CLI sense (a failed test is a failure exit code).
pub fn run(command: WebhooksCommand) -> anyhow::Result<bool> {
    match command {
        WebhooksCommand::Create(args) => create(args).map(|()| true),
        WebhooksCommand::List(args) => list(args).map(|()| true),
        WebhooksCommand::Delete(args) => delete(args).map(|()| true),
        WebhooksCommand::Deliveries(args) => deliveries(args).map(|()| true),
        WebhooksCommand::Test(args) => test(args),
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

fn time(value: &Value) -> String {
    match value.as_u64() {
        Some(ms) => {
            let shown = cairn_server::webhooks::payload::isoformat_utc(
                UNIX_EPOCH + Duration::from_millis(ms),
            );
            // Seconds are enough here.
            format!("{}Z", shown.get(..19).unwrap_or(&shown))
        }
        None => "-".to_owned(),
    }
}

fn events_of(webhook: &Value) -> String {
    webhook["events"]
        .as_array()
        .map(|events| events.iter().map(text).collect::<Vec<_>>().join(","))
        .unwrap_or_default()
}

fn create(args: CreateArgs) -> anyhow::Result<()> {
    block_on(async {
        let client = Client::new(&args.connection)?;
        let mut body = json!({
            "name": args.name,
            "url": args.url,
            "events": args.events,
            "status": if args.disabled { "DISABLED" } else { "ACTIVE" },
        });
        if let Some(secret) = &args.secret {
            body["secret"] = json!(secret);
        }
        if let Some(description) = &args.description {
            body["description"] = json!(description);
        }
        let answer = client.post(WEBHOOKS_API, &body, "create webhook").await?;
        let mut out = std::io::stdout().lock();
        if args.json {
            writeln!(out, "{}", serde_json::to_string_pretty(&answer)?)?;
            return Ok(());
        }
        let webhook = &answer["webhook"];
        writeln!(
            out,
            "created webhook {} '{}' -> {} [{}] events: {}{}",
            text(&webhook["webhook_id"]),
            text(&webhook["name"]),
            text(&webhook["url"]),
            text(&webhook["status"]),
            events_of(webhook),
            if webhook["has_secret"].as_bool() == Some(true) {
                " (signed)"
            } else {
                ""
            }
        )?;
        Ok(())
    })
}

fn list(args: ListArgs) -> anyhow::Result<()> {
    block_on(async {
        let client = Client::new(&args.connection)?;
        let answer = client
            .get(
                WEBHOOKS_API,
                &[("max_results", args.max_results.to_string())],
                "list webhooks",
            )
            .await?;
        let mut out = std::io::stdout().lock();
        if args.json {
            writeln!(out, "{}", serde_json::to_string_pretty(&answer)?)?;
            return Ok(());
        }
        let webhooks = answer["webhooks"].as_array().cloned().unwrap_or_default();
        if webhooks.is_empty() {
            writeln!(out, "no webhooks")?;
            return Ok(());
        }
        writeln!(
            out,
            "{:<36}  {:<20}  {:<8}  {:<6}  {:<40}  EVENTS",
            "ID", "NAME", "STATUS", "SIGNED", "URL"
        )?;
        for webhook in &webhooks {
            writeln!(
                out,
                "{:<36}  {:<20}  {:<8}  {:<6}  {:<40}  {}",
                text(&webhook["webhook_id"]),
                text(&webhook["name"]),
                text(&webhook["status"]),
                if webhook["has_secret"].as_bool() == Some(true) {
                    "yes"
                } else {
                    "no"
                },
                text(&webhook["url"]),
                events_of(webhook),
            )?;
        }
        Ok(())
    })
}

fn delete(args: DeleteArgs) -> anyhow::Result<()> {
    block_on(async {
        let client = Client::new(&args.connection)?;
        client
            .delete(
                &format!("{WEBHOOKS_API}/{}", args.webhook_id),
                "delete webhook",
            )
            .await?;
        writeln!(std::io::stdout(), "deleted webhook {}", args.webhook_id)?;
        Ok(())
    })
}

fn deliveries(args: DeliveriesArgs) -> anyhow::Result<()> {
    block_on(async {
        let client = Client::new(&args.connection)?;
        let answer = client
            .get(
                &format!("{WEBHOOKS_API}/{}/deliveries", args.webhook_id),
                &[("max_results", args.max_results.to_string())],
                "list deliveries",
            )
            .await?;
        let mut out = std::io::stdout().lock();
        if args.json {
            writeln!(out, "{}", serde_json::to_string_pretty(&answer)?)?;
            return Ok(());
        }
        let deliveries = answer["deliveries"].as_array().cloned().unwrap_or_default();
        if deliveries.is_empty() {
            writeln!(out, "no deliveries for webhook {}", args.webhook_id)?;
            return Ok(());
        }
        writeln!(
            out,
            "{:<20}  {:<32}  {:<9}  {:>8}  {:<36}  LAST ANSWER",
            "CREATED", "EVENT", "STATUS", "ATTEMPTS", "DELIVERY ID"
        )?;
        for delivery in &deliveries {
            let last = match (&delivery["last_status_code"], &delivery["last_error"]) {
                (_, Value::String(error)) => error.lines().next().unwrap_or_default().to_owned(),
                (Value::Number(code), _) => format!("HTTP {code}"),
                _ => "-".to_owned(),
            };
            let next =
                if delivery["status"] == "pending" && !delivery["next_attempt_time"].is_null() {
                    format!(" (next attempt {})", time(&delivery["next_attempt_time"]))
                } else {
                    String::new()
                };
            writeln!(
                out,
                "{:<20}  {:<32}  {:<9}  {:>8}  {:<36}  {last}{next}",
                time(&delivery["created_time"]),
                text(&delivery["event"]),
                text(&delivery["status"]),
                text(&delivery["attempts"]),
                text(&delivery["delivery_id"]),
            )?;
        }
        Ok(())
    })
}

fn test(args: TestArgs) -> anyhow::Result<bool> {
    let mut success = false;
    block_on(async {
        let client = Client::new(&args.connection)?;
        let body = match &args.event {
            Some(event) => json!({ "event": event }),
            None => json!({}),
        };
        let answer = client
            .post(
                &format!("{WEBHOOKS_API}/{}/test", args.webhook_id),
                &body,
                "test webhook",
            )
            .await?;
        let result = &answer["result"];
        success = result["success"].as_bool() == Some(true);
        let mut out = std::io::stdout().lock();
        match &result["error_message"] {
            Value::String(error) => writeln!(out, "failed: {error}")?,
            _ => writeln!(
                out,
                "{}: HTTP {} {}",
                if success { "ok" } else { "failed" },
                text(&result["response_status"]),
                text(&result["response_body"])
                    .chars()
                    .take(300)
                    .collect::<String>()
            )?,
        }
        Ok(())
    })?;
    Ok(success)
}
