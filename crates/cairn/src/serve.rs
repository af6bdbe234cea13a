//! `cairn serve`: flags, finding ONNX Runtime, resolving and loading models, running the server.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use cairn_serve::batch::BatchConfig;
use cairn_serve::http::{Limits, ServeState};
use cairn_serve::model::LoadedModel;
use cairn_serve::predlog::{LogSettings, PredictionLog};
use cairn_serve::reload::Watch;
use clap::Args;
use tracing_subscriber::EnvFilter;

/// Serve ONNX models over MLflow's scoring protocol and the Open Inference Protocol v2.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The model: models:/name@alias, models:/name/3, models:/m-<id>, runs:/<run_id>/<path>, a folder
    /// with an MLmodel file (onnx flavor) or an .onnx file. It answers /invocations.
    #[arg(value_name = "MODEL_URI")]
    pub model_uri: String,
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// More models, served by name under /v2/models/NAME (repeatable).
    #[arg(long = "model", value_name = "NAME=URI")]
    pub models: Vec<String>,
    /// Name of the main model under /v2/models/ (default: the registered model's name, else "model").
    #[arg(long)]
    pub name: Option<String>,
    /// Tracking server for models:/ and runs:/ URIs.
    #[arg(long, env = "MLFLOW_TRACKING_URI", value_name = "URI")]
    pub tracking_uri: Option<String>,
    /// The ONNX Runtime shared library (else ORT_DYLIB_PATH, else the Python environment's onnxruntime).
    #[arg(long, value_name = "PATH")]
    pub ort_dylib: Option<PathBuf>,
    /// ONNX Runtime sessions per model (one call runs single-threaded on one session).
    #[arg(long, default_value_t = default_sessions())]
    pub sessions: usize,
    /// Larger request bodies get 413.
    #[arg(long, default_value_t = 16 * 1024 * 1024, value_name = "BYTES")]
    pub max_body_bytes: usize,
    /// Requests in flight beyond this get 503 with Retry-After.
    #[arg(long, default_value_t = 256)]
    pub max_in_flight: usize,
    /// A prediction taking longer gets 504.
    #[arg(long, default_value_t = 30_000, value_name = "MS")]
    pub request_timeout_ms: u64,
    /// Micro-batching: while a model is busy, requests arriving for it wait up to this many
    /// microseconds to share one model call (a request arriving at an idle model runs at once).
    /// 0 turns batching off.
    #[arg(long, default_value_t = 200, value_name = "MICROSECONDS")]
    pub batch_wait_us: u64,
    /// ... and a shared call closes at this many rows.
    #[arg(long, default_value_t = 64, value_name = "ROWS")]
    pub batch_max_rows: usize,
    /// Write a sampled prediction log (one Parquet row per predicted row: request id, time, inputs,
    /// outputs) under this folder or s3://bucket/prefix, in <model>/<version>/ files.
    #[arg(long, value_name = "FOLDER_OR_URL")]
    pub prediction_log: Option<String>,
    /// The share of requests the prediction log records (0 to 1).
    #[arg(long, default_value_t = 1.0, value_name = "SHARE")]
    pub prediction_log_sample: f64,
    /// A prediction log file is closed at this many rows...
    #[arg(long, default_value_t = 100_000, value_name = "ROWS")]
    pub prediction_log_rotate_rows: usize,
    /// ... or this many seconds after its first row.
    #[arg(long, default_value_t = 300.0, value_name = "SECONDS")]
    pub prediction_log_rotate_secs: f64,
    /// Seconds between asking the registry which version each models:/NAME@ALIAS model's alias
    /// names (fractions allowed, e.g. 0.5). When it names another version, that version is loaded
    /// in the background and serves new requests once ready; requests in flight finish on the old
    /// one, and a version that fails to load leaves the old one serving. 0 turns this off.
    #[arg(long, default_value = "10", value_name = "SECONDS", value_parser = parse_seconds)]
    pub reload_interval: Duration,
    /// Log filter (tracing's EnvFilter syntax).
    #[arg(long, env = "CAIRN_LOG", default_value = "info")]
    pub log: String,
    /// Log one line per prediction request (target `access`: request id, protocol, model, version,
    /// status, rows, duration).
    #[arg(long, env = "CAIRN_ACCESS_LOG")]
    pub access_log: bool,
    /// `text` for people, `json` (one object per line) for log pipelines.
    #[arg(long, env = "CAIRN_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Seconds as a duration: a finite number, zero or more.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("expected a number of seconds, got {text:?}"))?;
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(format!("expected zero or more seconds, got {text:?}"));
    }
    Duration::try_from_secs_f64(seconds).map_err(|error| format!("{text:?}: {error}"))
}

fn default_sessions() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let access = if args.access_log {
        "access=info"
    } else {
        "access=off"
    };
    let filter = EnvFilter::try_new(&args.log)
        .context("invalid --log filter")?
        .add_directive(access.parse().context("the access log filter")?);
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    match args.log_format {
        LogFormat::Text => logs.with_target(false).init(),
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
    }
    let found = cairn_serve::runtime::find(args.ort_dylib.as_deref())?;
    let environment = cairn_serve::runtime::load(&found)?;
    tracing::info!(path = %found.path.display(), how = found.how, "ONNX Runtime loaded");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(serve(args, environment))
}

/// The registered model's name in a `models:/name...` URI.
fn default_name(uri: &str) -> String {
    uri.strip_prefix("models:/")
        .map(|rest| rest.split(['@', '/']).next().unwrap_or(rest))
        .filter(|name| !name.is_empty() && !name.starts_with("m-"))
        .unwrap_or("model")
        .to_owned()
}

async fn serve(args: ServeArgs, environment: ort::environment::Environment) -> anyhow::Result<()> {
    let mut wanted = vec![(
        args.name
            .clone()
            .unwrap_or_else(|| default_name(&args.model_uri)),
        args.model_uri.clone(),
    )];
    for spec in &args.models {
        let Some((name, uri)) = spec.split_once('=') else {
            bail!("--model takes NAME=URI, got {spec:?}");
        };
        if wanted.iter().any(|(taken, _)| taken == name) {
            bail!("two models are named {name:?}");
        }
        wanted.push((name.to_owned(), uri.to_owned()));
    }
    let mut models = Vec::with_capacity(wanted.len());
    for (name, uri) in &wanted {
        let local = cairn_serve::resolve::resolve(uri, args.tracking_uri.as_deref())
            .await
            .with_context(|| format!("resolving {uri}"))?;
        let model = LoadedModel::load_local(&environment, name, local, args.sessions)
            .await
            .with_context(|| format!("loading {uri}"))?;
        let files = model
            .download_path()
            .map(|path| path.display().to_string())
            .unwrap_or_default();
        tracing::info!(model = %model.name, version = %model.version, %uri, %files, "model loaded");
        models.push(Arc::new(model));
    }
    let limits = Limits {
        max_body_bytes: args.max_body_bytes,
        max_in_flight: args.max_in_flight,
        request_timeout: Duration::from_millis(args.request_timeout_ms),
        batch: BatchConfig {
            max_rows: args.batch_max_rows,
            wait: Duration::from_micros(args.batch_wait_us),
        },
    };
    let log = match &args.prediction_log {
        Some(destination) => Some(prediction_log(destination, &args)?),
        None => None,
    };
    let state = ServeState::new(models, limits, log);
    let watchers = start_watchers(&args, &wanted, &state, &environment)?;
    let address = format!("{}:{}", args.host, args.port);
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .with_context(|| format!("binding {address}"))?;
    tracing::info!(%address, "cairn serve listening");
    let served = cairn_serve::http::serve(
        listener,
        Arc::clone(&state),
        crate::server::shutdown_signal(),
    )
    .await;
    for watcher in &watchers {
        watcher.abort();
    }
    if let Some(log) = &state.log {
        log.flush().await;
        tracing::info!(destination = %log.root(), "prediction log flushed");
    }
    served.context("serving")?;
    tracing::info!("stopped");
    Ok(())
}

/// Opens the prediction log's destination and starts its writer.
fn prediction_log(destination: &str, args: &ServeArgs) -> anyhow::Result<PredictionLog> {
    if !(0.0..=1.0).contains(&args.prediction_log_sample) {
        bail!(
            "--prediction-log-sample takes a share between 0 and 1, got {}",
            args.prediction_log_sample
        );
    }
    if !(args.prediction_log_rotate_secs.is_finite() && args.prediction_log_rotate_secs > 0.0) {
        bail!("--prediction-log-rotate-secs must be a positive number of seconds");
    }
    let store = cairn_artifacts::ObjectArtifactStore::open(destination)
        .with_context(|| format!("opening the prediction log destination {destination}"))?;
    let settings = LogSettings {
        sample: args.prediction_log_sample,
        rotate_rows: args.prediction_log_rotate_rows.max(1),
        rotate_after: Duration::from_secs_f64(args.prediction_log_rotate_secs),
        ..LogSettings::default()
    };
    let log = PredictionLog::start(Arc::new(store), settings);
    tracing::info!(destination = %log.root(), sample = args.prediction_log_sample, "prediction log on");
    Ok(log)
}

/// One hot reload watcher per `models:/name@alias` model, unless `--reload-interval 0`.
fn start_watchers(
    args: &ServeArgs,
    wanted: &[(String, String)],
    state: &Arc<ServeState>,
    environment: &ort::environment::Environment,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut watchers = Vec::new();
    if args.reload_interval.is_zero() {
        return Ok(watchers);
    }
    for (name, uri) in wanted {
        let Some((registered_name, alias)) = cairn_serve::resolve::registry_alias(uri) else {
            continue;
        };
        // A models:/ URI resolved above, so the tracking URI is there and valid.
        let tracking_uri = args
            .tracking_uri
            .as_deref()
            .context("hot reload needs --tracking-uri")?;
        let tracking = cairn_serve::resolve::Tracking::new(tracking_uri)?;
        let watch = Watch {
            name: name.clone(),
            registered_name: registered_name.to_owned(),
            alias: alias.to_owned(),
            interval: args.reload_interval,
            sessions: args.sessions,
        };
        tracing::info!(model = %name, %uri, every = ?args.reload_interval, "watching the alias for new versions");
        watchers.push(tokio::spawn(cairn_serve::reload::watch(
            state.clone(),
            tracking,
            environment.clone(),
            watch,
        )));
    }
    Ok(watchers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_reload_interval() {
        let cases: [(&str, Option<Duration>); 7] = [
            ("10", Some(Duration::from_secs(10))),
            ("0.2", Some(Duration::from_millis(200))),
            ("0", Some(Duration::ZERO)),
            ("-1", None),
            ("nan", None),
            ("inf", None),
            ("ten", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_seconds(text).ok(), expected, "{text}");
        }
    }
}
