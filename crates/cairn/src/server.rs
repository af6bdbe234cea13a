//! `cairn server`: flags as `mlflow server` users know them, each also settable as `CAIRN_*`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use cairn_artifacts::ObjectArtifactStore;
use cairn_core::governance::PolicyFile;
use cairn_server::webhooks::WebhookSettings;
use cairn_server::AppState;
use cairn_store::postgres::PgOptions;
use cairn_store::sqlite::SqliteOptions;
use cairn_store::StoreOptions;
use clap::Args;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// The address to listen on.
    #[arg(long, env = "CAIRN_HOST", default_value = "127.0.0.1")]
    host: String,

    /// The port to listen on.
    #[arg(long, short = 'p', env = "CAIRN_PORT", default_value_t = 5000)]
    port: u16,

    /// Where metadata lives: `sqlite:///relative.db`, `sqlite:////absolute.db`, or
    /// `postgresql://user:password@host:port/database` (several replicas may share one)
    /// [default: sqlite:///cairn-data/cairn.db]
    #[arg(long, env = "CAIRN_BACKEND_STORE_URI")]
    backend_store_uri: Option<String>,

    /// Where artifacts live: a local folder (or `file://` URI), or `s3://bucket/prefix` (credentials,
    /// region and endpoint from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, and
    /// `MLFLOW_S3_ENDPOINT_URL` or `AWS_ENDPOINT_URL` for S3-compatible servers); `gs://` and `az://`
    /// in builds with the `gcs`/`azure` features [default: ./cairn-data/artifacts]
    #[arg(long, env = "CAIRN_ARTIFACTS_DESTINATION")]
    artifacts_destination: Option<String>,

    /// SQLite durability: `full` fsyncs every commit (an acknowledged write survives power loss);
    /// `normal` survives process crashes but may lose the last commits on power loss, for lower latency.
    #[arg(long, env = "CAIRN_SQLITE_SYNCHRONOUS", value_enum, default_value_t = Synchronous::Full)]
    sqlite_synchronous: Synchronous,

    /// Memory for the run cache: the metrics, params, tags, inputs and outputs of runs that searches
    /// returned, reused while the run is unchanged (every write to a run changes its `data_rev`;
    /// each search reads it). A size such as 64M or 1G; 0 turns the cache off.
    #[arg(long, env = "CAIRN_RUN_CACHE_SIZE", value_name = "SIZE", default_value = "64M",
          value_parser = crate::data::parse_size)]
    run_cache_size: u64,

    /// PostgreSQL: the most connections this server holds (all replicas share the database's
    /// `max_connections`).
    #[arg(long, env = "CAIRN_DB_MAX_CONNECTIONS", default_value_t = PgOptions::default().max_connections)]
    db_max_connections: u32,

    /// A governance policy (YAML: promotion rules, naming conventions) to put in force at start. It
    /// is stored as a new policy revision when it differs from the one in force; without it, the
    /// stored policy (set through `PUT /api/2.0/cairn/policy`) stays in force.
    #[arg(long, env = "CAIRN_POLICY_FILE")]
    policy_file: Option<PathBuf>,

    /// Log filter, in `tracing` syntax (e.g. `info`, `cairn_server=debug`).
    #[arg(long, env = "CAIRN_LOG", default_value = "info")]
    log: String,

    #[command(flatten)]
    webhooks: WebhookArgs,
}

/// Webhook delivery (defaults as MLflow's `MLFLOW_WEBHOOK_*` settings).
#[derive(Debug, Args)]
#[command(next_help_heading = "Webhooks")]
struct WebhookArgs {
    /// Attempts per delivery, the first included; then the delivery is marked failed.
    #[arg(long, env = "CAIRN_WEBHOOK_MAX_ATTEMPTS", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..))]
    webhook_max_attempts: u32,

    /// Milliseconds before the first retry; each later retry waits twice as long.
    #[arg(long, env = "CAIRN_WEBHOOK_BACKOFF_MS", default_value_t = 1000)]
    webhook_backoff_ms: u64,

    /// The longest wait between attempts, in milliseconds (also caps a receiver's Retry-After).
    #[arg(long, env = "CAIRN_WEBHOOK_BACKOFF_MAX_MS", default_value_t = 60_000)]
    webhook_backoff_max_ms: u64,

    /// Seconds one delivery request may take, connect to last byte.
    #[arg(long, env = "CAIRN_WEBHOOK_TIMEOUT", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..))]
    webhook_timeout: u64,

    /// Deliveries sent at once.
    #[arg(long, env = "CAIRN_WEBHOOK_MAX_IN_FLIGHT", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    webhook_max_in_flight: u32,

    /// URL schemes a webhook may use, comma-separated (MLflow: MLFLOW_WEBHOOK_ALLOWED_SCHEMES).
    #[arg(
        long,
        env = "CAIRN_WEBHOOK_ALLOWED_SCHEMES",
        value_delimiter = ',',
        default_value = "https"
    )]
    webhook_allowed_schemes: Vec<String>,

    /// Let webhooks reach loopback, private and link-local addresses (MLflow:
    /// MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS). For development only: it turns off SSRF protection.
    #[arg(long, env = "CAIRN_WEBHOOK_ALLOW_PRIVATE_IPS")]
    webhook_allow_private_ips: bool,
}

impl WebhookArgs {
    fn settings(&self) -> WebhookSettings {
        WebhookSettings {
            max_attempts: self.webhook_max_attempts,
            backoff_base: Duration::from_millis(self.webhook_backoff_ms),
            backoff_max: Duration::from_millis(self.webhook_backoff_max_ms),
            timeout: Duration::from_secs(self.webhook_timeout),
            max_in_flight: self.webhook_max_in_flight,
            allowed_schemes: self
                .webhook_allowed_schemes
                .iter()
                .map(|scheme| scheme.trim().to_ascii_lowercase())
                .filter(|scheme| !scheme.is_empty())
                .collect(),
            allow_private_ips: self.webhook_allow_private_ips,
            ..WebhookSettings::default()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Synchronous {
    Full,
    Normal,
}

const DATA_FOLDER: &str = "cairn-data";

pub fn run(args: ServerArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&args.log).context("invalid --log filter")?)
        .with_target(false)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(serve(args, started))
}

async fn serve(args: ServerArgs, started: Instant) -> anyhow::Result<()> {
    let backend_store_uri = args
        .backend_store_uri
        .unwrap_or_else(|| format!("sqlite:///{DATA_FOLDER}/cairn.db"));
    let artifacts_destination = args.artifacts_destination.unwrap_or_else(|| {
        PathBuf::from(DATA_FOLDER)
            .join("artifacts")
            .to_string_lossy()
            .into_owned()
    });

    let shown_uri = cairn_store::display_uri(&backend_store_uri);
    let run_cache_bytes = usize::try_from(args.run_cache_size).unwrap_or(usize::MAX);
    let options = StoreOptions {
        sqlite: SqliteOptions {
            synchronous_full: args.sqlite_synchronous == Synchronous::Full,
            run_cache_bytes,
            ..SqliteOptions::default()
        },
        postgres: PgOptions {
            max_connections: args.db_max_connections,
            run_cache_bytes,
            ..PgOptions::default()
        },
    };
    let store = cairn_store::open(&backend_store_uri, options)
        .await
        .with_context(|| format!("opening the metadata store at {shown_uri}"))?;
    let artifacts = ObjectArtifactStore::open(&artifacts_destination)
        .with_context(|| format!("opening the artifact store at {artifacts_destination}"))?;
    let webhook_settings = args.webhooks.settings();
    if webhook_settings.allow_private_ips {
        tracing::warn!("webhooks may reach private and loopback addresses (SSRF protection off)");
    }
    let state = AppState::with_webhook_settings(store, Arc::new(artifacts), webhook_settings)
        .await
        .context("loading the governance policy")?;
    if let Some(policy_file) = &args.policy_file {
        apply_policy_file(&state, policy_file).await?;
    }

    // (host, port) resolves names and takes IPv4 and IPv6 literals alike.
    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
        .await
        .with_context(|| format!("listening on {}:{}", args.host, args.port))?;
    let address = listener
        .local_addr()
        .context("reading the listening address")?;
    tracing::info!(
        %address,
        backend_store_uri = %shown_uri,
        artifacts = %artifacts_destination,
        startup_ms = started.elapsed().as_millis() as u64,
        "cairn server listening"
    );
    cairn_server::serve(listener, state, shutdown_signal())
        .await
        .context("serving")?;
    tracing::info!("cairn server stopped");
    Ok(())
}

/// Puts the policy in `path` in force, storing it as a new revision unless it is the one in force.
async fn apply_policy_file(state: &AppState, path: &std::path::Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the policy file {}", path.display()))?;
    let file = PolicyFile::from_yaml(&text)
        .with_context(|| format!("invalid policy file {}", path.display()))?;
    let active = state.governance.policy();
    if active.revision.is_some() && active.file == file {
        tracing::info!(policy_file = %path.display(), "policy file already in force");
        return Ok(());
    }
    let author = format!("policy-file:{}", path.display());
    let active = state
        .governance
        .replace_policy(&author, file)
        .await
        .context("storing the policy")?;
    tracing::info!(
        policy_file = %path.display(),
        revision = active.revision.as_ref().map(|revision| revision.revision),
        "policy file in force"
    );
    Ok(())
}

/// Resolves on SIGINT or SIGTERM; in-flight requests then finish before the process exits.
pub(crate) async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("interrupt received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}
