//! The delivery worker: one task that drains the outbox.
//!
//! It claims due deliveries (leased, so another server sharing the store does not send them too),
//! sends each in its own task (at most `max_in_flight` at once, so a slow receiver delays only its
//! own deliveries), records every attempt, and sleeps until the next delivery is due, a handler
//! wakes it, or `poll_interval` passes. Pending deliveries survive restarts: they are in the store.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cairn_core::entities::WebhookDeliveryJob;
use cairn_store::{ClaimWebhookDeliveries, DeliveryNext, MetadataStore, WebhookAttemptOutcome};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::Webhooks;

/// How long in-flight deliveries may finish after shutdown is asked for; the rest are released.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// The wait after a store error before trying again.
const STORE_ERROR_PAUSE: Duration = Duration::from_secs(1);
/// The least wait between claims when due deliveries could not be claimed.
const MIN_PAUSE: Duration = Duration::from_millis(50);

/// A running worker; [`WorkerHandle::stop`] ends it.
pub struct WorkerHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl WorkerHandle {
    /// Stops claiming, lets in-flight deliveries finish for a moment, releases the others (due
    /// again at once on the next start, no attempt counted) and returns.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.task.await {
            tracing::error!(%error, "the webhook worker ended abnormally");
        }
    }
}

/// Starts the worker on the current runtime.
pub fn spawn(store: Arc<dyn MetadataStore>, webhooks: Arc<Webhooks>) -> WorkerHandle {
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(run(store, webhooks, stopped));
    WorkerHandle { stop, task }
}

fn now_ms() -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

async fn run(
    store: Arc<dyn MetadataStore>,
    webhooks: Arc<Webhooks>,
    mut stopped: watch::Receiver<bool>,
) {
    let settings = webhooks.settings().clone();
    // A claim outlives the longest attempt, so it is not sent twice while still in flight.
    let lease_ms = millis(settings.timeout).saturating_add(30_000);
    let mut in_flight: JoinSet<String> = JoinSet::new();
    let mut claimed: HashSet<String> = HashSet::new();
    loop {
        let capacity = settings
            .max_in_flight
            .saturating_sub(u32::try_from(in_flight.len()).unwrap_or(u32::MAX));
        let now = now_ms();
        let mut wait = settings.poll_interval;
        if capacity > 0 {
            let request = ClaimWebhookDeliveries {
                now_ms: now,
                limit: capacity,
                lease_ms,
            };
            match store.claim_webhook_deliveries(request).await {
                Ok(batch) => {
                    let claimed_any = !batch.jobs.is_empty();
                    for job in batch.jobs {
                        claimed.insert(job.delivery_id.clone());
                        in_flight.spawn(deliver(store.clone(), webhooks.clone(), job));
                    }
                    if let Some(due) = batch.next_due_ms {
                        let until_due = Duration::from_millis(
                            u64::try_from(due.saturating_sub(now)).unwrap_or(0),
                        );
                        wait = wait.min(until_due);
                        if !claimed_any {
                            wait = wait.max(MIN_PAUSE);
                        }
                    }
                }
                Err(error) => {
                    tracing::error!(error = %error.message, "cannot claim webhook deliveries");
                    wait = STORE_ERROR_PAUSE;
                }
            }
        }
        tokio::select! {
            _ = stopped.changed() => break,
            () = webhooks.woken() => {}
            Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                if let Ok(delivery_id) = done {
                    claimed.remove(&delivery_id);
                }
            }
            () = tokio::time::sleep(wait) => {}
        }
    }
    // Shutdown: a short grace for in-flight attempts, then abort and release the rest.
    let drain = async {
        while let Some(done) = in_flight.join_next().await {
            if let Ok(delivery_id) = done {
                claimed.remove(&delivery_id);
            }
        }
    };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        in_flight.shutdown().await;
    }
    if !claimed.is_empty() {
        let unfinished: Vec<String> = claimed.into_iter().collect();
        match store.release_webhook_deliveries(&unfinished).await {
            Ok(()) => tracing::info!(
                deliveries = unfinished.len(),
                "webhook deliveries left pending for the next start"
            ),
            Err(error) => tracing::warn!(
                error = %error.message,
                "cannot release webhook deliveries; they are due again when their claim expires"
            ),
        }
    }
}

/// Sends one attempt and records it; returns the delivery id.
async fn deliver(
    store: Arc<dyn MetadataStore>,
    webhooks: Arc<Webhooks>,
    job: WebhookDeliveryJob,
) -> String {
    let settings = webhooks.settings();
    let time_ms = now_ms();
    let (answer, elapsed) = webhooks.attempt(&job).await;
    let attempt = u32::try_from(job.attempts.saturating_add(1)).unwrap_or(u32::MAX);
    let (status_code, error, retry_after) = match &answer {
        Ok(answer) if (200..300).contains(&answer.status) => (Some(answer.status), None, None),
        Ok(answer) => {
            let snippet: String = answer.body.chars().take(200).collect();
            (
                Some(answer.status),
                Some(format!("HTTP {}: {snippet}", answer.status)),
                answer.retry_after,
            )
        }
        Err(error) => (None, Some(error.clone()), None),
    };
    let next = if error.is_none() {
        DeliveryNext::Succeeded
    } else if attempt >= settings.max_attempts {
        DeliveryNext::Failed
    } else {
        let wait = settings.backoff(attempt, retry_after);
        DeliveryNext::RetryAt(now_ms().saturating_add(millis(wait)))
    };
    match (&next, &error) {
        (DeliveryNext::Succeeded, _) => tracing::debug!(
            delivery_id = %job.delivery_id, event = %job.event, attempt, "webhook delivered"
        ),
        (DeliveryNext::RetryAt(_), Some(error)) => tracing::info!(
            delivery_id = %job.delivery_id, event = %job.event, attempt, %error,
            "webhook attempt failed; will retry"
        ),
        (_, error) => tracing::warn!(
            delivery_id = %job.delivery_id, event = %job.event, attempt,
            error = error.as_deref().unwrap_or_default(), "webhook delivery failed; giving up"
        ),
    }
    let outcome = WebhookAttemptOutcome {
        delivery_id: job.delivery_id.clone(),
        time_ms,
        duration_ms: millis(elapsed),
        status_code: status_code.map(i64::from),
        error,
        next,
    };
    if let Err(error) = store.record_webhook_attempt(outcome).await {
        tracing::error!(
            delivery_id = %job.delivery_id, error = %error.message,
            "cannot record a webhook attempt; the delivery is due again when its claim expires"
        );
    }
    job.delivery_id
}
