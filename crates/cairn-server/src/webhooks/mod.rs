//! Webhook delivery: MLflow's wire (headers, HMAC-SHA256 signature, payloads) over a durable outbox.
//!
//! A registry handler *emits* an event: it builds the body and queues one delivery per subscribed
//! active webhook (`MetadataStore::enqueue_webhook_event`, one write), then wakes the [`worker`]. The
//! worker, started by `cairn_server::serve`, claims due deliveries, POSTs them and records every
//! attempt; failures are retried with exponential backoff up to a bounded number of attempts. The
//! API call never waits on a receiver. Delivery is at-least-once: the `X-MLflow-Delivery-Id` header
//! is the same on every attempt of a delivery, so receivers can deduplicate.

pub mod payload;
pub mod url;
pub mod worker;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use cairn_core::entities::WebhookEvent;
use cairn_core::{Error, Result};
use cairn_store::MetadataStore;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::Notify;

pub use payload::Payload;

/// MLflow's header names (`mlflow/webhooks/constants.py`).
pub const SIGNATURE_HEADER: &str = "X-MLflow-Signature";
pub const TIMESTAMP_HEADER: &str = "X-MLflow-Timestamp";
pub const DELIVERY_ID_HEADER: &str = "X-MLflow-Delivery-Id";
const SIGNATURE_VERSION: &str = "v1";

/// The most of a receiver's answer kept (in a test result or an attempt's error).
const MAX_RESPONSE_BODY: usize = 64 * 1024;
/// The most of an error kept in the delivery log.
const MAX_ERROR_CHARS: usize = 1000;

/// How deliveries are made. The defaults follow MLflow's: 30 s timeout, 3 retries (4 attempts)
/// 1 s apart doubling up to 60 s, 10 concurrent requests, `https` only, public addresses only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    /// Attempts per delivery, the first included (at least 1).
    pub max_attempts: u32,
    /// The wait before the first retry; each later retry waits twice as long.
    pub backoff_base: Duration,
    /// The longest wait between attempts (also caps a receiver's `Retry-After`).
    pub backoff_max: Duration,
    /// The limit on one HTTP request, connect to last byte.
    pub timeout: Duration,
    /// Deliveries in flight at once.
    pub max_in_flight: u32,
    /// URL schemes a webhook may use (MLflow's `MLFLOW_WEBHOOK_ALLOWED_SCHEMES`).
    pub allowed_schemes: Vec<String>,
    /// Whether URLs may point at loopback, private or link-local addresses (MLflow's
    /// `MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS`); for development only.
    pub allow_private_ips: bool,
    /// How often the worker looks for due deliveries when nothing woke it (deliveries queued by
    /// another server sharing the store).
    pub poll_interval: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            max_attempts: 4,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
            max_in_flight: 10,
            allowed_schemes: vec!["https".to_owned()],
            allow_private_ips: false,
            poll_interval: Duration::from_secs(10),
        }
    }
}

impl WebhookSettings {
    /// The wait after failed attempt number `attempt` (1-based): `base * 2^(attempt - 1)`, or the
    /// receiver's `Retry-After`, at most `backoff_max`.
    pub fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exponential = self
            .backoff_base
            .checked_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
            .unwrap_or(self.backoff_max);
        retry_after.unwrap_or(exponential).min(self.backoff_max)
    }
}

/// `v1,<base64 HMAC-SHA256(secret, "{delivery_id}.{timestamp}.{payload}")>`, MLflow's scheme.
pub fn signature(secret: &str, delivery_id: &str, timestamp: &str, payload: &str) -> String {
    // HMAC accepts keys of any length.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(delivery_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(payload.as_bytes());
    let digest = mac.finalize().into_bytes();
    format!(
        "{SIGNATURE_VERSION},{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// A receiver's answer to one POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// The start of the body (at most 64 KiB), lossily decoded.
    pub body: String,
    pub retry_after: Option<Duration>,
}

/// The webhook machinery the handlers share: settings, the HTTP client, and the worker's wake-up.
pub struct Webhooks {
    settings: WebhookSettings,
    http: reqwest::Client,
    wake: Notify,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Webhooks {
    pub fn new(settings: WebhookSettings) -> Result<Webhooks> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("cairn/", env!("CARGO_PKG_VERSION")))
            .timeout(settings.timeout)
            // As MLflow: no proxies from the environment (the proxy would be the checked peer).
            .no_proxy()
            // A redirect could lead anywhere; a 3xx is an answer like any other.
            .redirect(reqwest::redirect::Policy::none());
        if !settings.allow_private_ips {
            builder = builder.dns_resolver(Arc::new(url::PublicOnlyResolver));
        }
        let http = builder.build().map_err(|error| {
            Error::internal(format!("cannot build the webhook client: {error}"))
        })?;
        Ok(Webhooks {
            settings,
            http,
            wake: Notify::new(),
        })
    }

    pub fn settings(&self) -> &WebhookSettings {
        &self.settings
    }

    /// Wakes the worker (a permit is kept if it is busy, so no wake-up is lost).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub(crate) async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Checks a webhook URL (scheme, host, public addresses) with MLflow's messages.
    pub async fn validate_url(&self, url: &str) -> Result<()> {
        url::validate(url, &self.settings).await
    }

    /// Whether any active webhook subscribes to one of `events`. A store error counts as "yes", so
    /// that the event is attempted (and the error logged) rather than silently skipped.
    pub async fn subscribed(&self, store: &dyn MetadataStore, events: &[WebhookEvent]) -> bool {
        store.webhook_subscribed(events).await.unwrap_or(true)
    }

    /// Queues `data` for every active webhook subscribed to `event` and wakes the worker. Never
    /// fails the caller: the registry change it reports has already been made, so a queueing error
    /// is logged (the event is then lost, as MLflow's fire-and-forget delivery would lose it).
    pub async fn emit(&self, store: &dyn MetadataStore, event: WebhookEvent, data: &Payload) {
        let body = payload::body(event, data, SystemTime::now());
        match store.enqueue_webhook_event(event, &body).await {
            Ok(0) => {}
            Ok(queued) => {
                tracing::debug!(%event, queued, "webhook deliveries queued");
                self.wake();
            }
            Err(error) => {
                tracing::error!(%event, error = %error.message, "cannot queue webhook deliveries");
            }
        }
    }

    /// POSTs `body` to `url` with MLflow's headers, signed when `secret` is non-empty. The URL is
    /// checked again first (settings may have changed, and names may resolve elsewhere now).
    pub async fn send(
        &self,
        url: &str,
        secret: Option<&str>,
        delivery_id: &str,
        body: &str,
    ) -> std::result::Result<Answer, String> {
        self.validate_url(url)
            .await
            .map_err(|error| error.message)?;
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
            .to_string();
        let mut request = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(DELIVERY_ID_HEADER, delivery_id)
            .header(TIMESTAMP_HEADER, &timestamp)
            .body(body.to_owned());
        if let Some(secret) = secret.filter(|secret| !secret.is_empty()) {
            request = request.header(
                SIGNATURE_HEADER,
                signature(secret, delivery_id, &timestamp, body),
            );
        }
        let mut response = request.send().await.map_err(|error| error_chain(&error))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let mut bytes = Vec::new();
        // A body that breaks off or times out still leaves the status: keep what came.
        while bytes.len() < MAX_RESPONSE_BODY {
            match response.chunk().await {
                Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        bytes.truncate(MAX_RESPONSE_BODY);
        Ok(Answer {
            status,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            retry_after,
        })
    }

    /// One attempt of a claimed delivery, timed.
    pub(crate) async fn attempt(
        &self,
        job: &cairn_core::entities::WebhookDeliveryJob,
    ) -> (std::result::Result<Answer, String>, Duration) {
        let started = Instant::now();
        let answer = self
            .send(
                &job.url,
                job.secret.as_deref(),
                &job.delivery_id,
                &job.payload,
            )
            .await;
        (answer, started.elapsed())
    }
}

/// An error with its causes, `a: b: c` (reqwest's own message names only the URL).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    truncate(text)
}

fn truncate(mut text: String) -> String {
    if let Some((index, _)) = text.char_indices().nth(MAX_ERROR_CHARS) {
        text.truncate(index);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_mlflows() {
        // Printed by mlflow.webhooks.delivery._generate_hmac_signature (MLflow 3.17.2).
        assert_eq!(
            signature(
                "whsec-test",
                "11111111-2222-4333-8444-555555555555",
                "1700000000",
                r#"{"entity": "model_version", "action": "created"}"#
            ),
            "v1,3JCrN8wpA+RNeMkAF6DHvCA89oeToTOoPgw8npqIiiI="
        );
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let settings = WebhookSettings {
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(500),
            ..WebhookSettings::default()
        };
        let waits: Vec<u128> = (1..=5)
            .map(|attempt| settings.backoff(attempt, None).as_millis())
            .collect();
        assert_eq!(waits, [100, 200, 400, 500, 500]);
        assert_eq!(
            settings.backoff(1, Some(Duration::from_secs(3))),
            Duration::from_millis(500),
            "Retry-After is capped too"
        );
        assert_eq!(
            settings.backoff(3, Some(Duration::ZERO)),
            Duration::ZERO,
            "Retry-After wins"
        );
        assert_eq!(
            WebhookSettings::default().backoff(200, None),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn long_errors_are_cut() {
        let cut = truncate("x".repeat(5000));
        assert_eq!(cut.chars().count(), MAX_ERROR_CHARS + 1);
    }
}
