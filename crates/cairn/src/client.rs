//! A small client for a running cairn (or MLflow-compatible) server, for the CLI commands that
//! talk to one. Errors carry the server's MLflow-format `error_code` and `message`.

use anyhow::{bail, Context};
use clap::Args;
use serde_json::Value;

#[derive(Debug, Clone, Args)]
pub struct ServerConnection {
    /// The server to talk to (as MLflow clients name it).
    #[arg(
        long,
        env = "MLFLOW_TRACKING_URI",
        default_value = "http://127.0.0.1:5000"
    )]
    pub tracking_uri: String,

    /// User name sent with HTTP Basic auth; recorded by the server as who asked.
    #[arg(long, env = "MLFLOW_TRACKING_USERNAME")]
    pub username: Option<String>,

    /// Password for HTTP Basic auth.
    #[arg(long, env = "MLFLOW_TRACKING_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
}

pub struct Client {
    base: String,
    http: reqwest::Client,
    username: Option<String>,
    password: Option<String>,
}

impl Client {
    pub fn new(connection: &ServerConnection) -> anyhow::Result<Client> {
        let base = connection.tracking_uri.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            bail!(
                "the tracking URI must be an http(s):// server address, got '{}'",
                connection.tracking_uri
            );
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("cairn-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("creating the HTTP client")?;
        Ok(Client {
            base,
            http,
            username: connection.username.clone(),
            password: connection.password.clone(),
        })
    }

    async fn send(&self, request: reqwest::RequestBuilder, what: &str) -> anyhow::Result<Value> {
        let request = match &self.username {
            Some(user) => request.basic_auth(user, self.password.as_deref()),
            None => request,
        };
        let response = request
            .send()
            .await
            .with_context(|| format!("{what}: cannot reach the server at {}", self.base))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .with_context(|| format!("{what}: reading the answer"))?;
        let parsed: Option<Value> = serde_json::from_str(&body).ok();
        if status.is_success() {
            return parsed.with_context(|| format!("{what}: the server answered with non-JSON"));
        }
        match parsed {
            Some(error) if error.get("error_code").is_some() => bail!(
                "{what}: {} ({})",
                error["message"].as_str().unwrap_or_default(),
                error["error_code"].as_str().unwrap_or_default()
            ),
            _ => bail!(
                "{what}: HTTP {status}: {}",
                body.chars().take(300).collect::<String>()
            ),
        }
    }

    pub async fn get(
        &self,
        path: &str,
        query: &[(&str, String)],
        what: &str,
    ) -> anyhow::Result<Value> {
        let request = self.http.get(format!("{}{path}", self.base)).query(query);
        self.send(request, what).await
    }

    pub async fn post(&self, path: &str, body: &Value, what: &str) -> anyhow::Result<Value> {
        let request = self.http.post(format!("{}{path}", self.base)).json(body);
        self.send(request, what).await
    }

    pub async fn put(&self, path: &str, body: &Value, what: &str) -> anyhow::Result<Value> {
        let request = self.http.put(format!("{}{path}", self.base)).json(body);
        self.send(request, what).await
    }

    pub async fn patch(&self, path: &str, body: &Value, what: &str) -> anyhow::Result<Value> {
        let request = self.http.patch(format!("{}{path}", self.base)).json(body);
        self.send(request, what).await
    }

    /// Uploads raw bytes (the artifact proxy's PUT).
    pub async fn put_bytes(&self, path: &str, body: Vec<u8>, what: &str) -> anyhow::Result<()> {
        let request = self.http.put(format!("{}{path}", self.base)).body(body);
        let request = match &self.username {
            Some(user) => request.basic_auth(user, self.password.as_deref()),
            None => request,
        };
        let response = request
            .send()
            .await
            .with_context(|| format!("{what}: cannot reach the server at {}", self.base))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            bail!(
                "{what}: HTTP {status}: {}",
                body.chars().take(300).collect::<String>()
            );
        }
        Ok(())
    }

    pub async fn delete(&self, path: &str, what: &str) -> anyhow::Result<Value> {
        let request = self.http.delete(format!("{}{path}", self.base));
        self.send(request, what).await
    }
}

/// Runs one async CLI command on a small runtime.
pub fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(
    future: F,
) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?
        .block_on(future)
}
