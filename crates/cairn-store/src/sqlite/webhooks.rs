//! Webhooks and their delivery outbox.
//!
//! Webhooks are soft-deleted (as MLflow does). A delivery is one event queued for one webhook; the
//! server's worker claims due deliveries with a lease, sends them, and records each attempt. The
//! `webhook_deliveries_due` partial index covers only pending rows, so the due lookup stays small
//! however long the delivery log grows.

use std::collections::{BTreeSet, HashMap};

use cairn_core::entities::{
    Page, Webhook, WebhookDelivery, WebhookDeliveryAttempt, WebhookDeliveryJob,
    WebhookDeliveryStatus, WebhookEntity, WebhookEvent,
};
use cairn_core::{Error, Result};
use sqlx::SqliteConnection;

use super::{db_error, finish_page, json_list, limit_offset, now_ms, parse_column, SqliteStore};
use crate::{
    ClaimWebhookDeliveries, ClaimedWebhookDeliveries, CreateWebhook, DeliveryNext, PageRequest,
    UpdateWebhook, WebhookAttemptOutcome,
};

/// A random RFC 4122 version-4 UUID, in SQL, evaluated once per row.
const SQL_UUID4: &str = "lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || \
     substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) || \
     substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6)))";

const WEBHOOK_COLUMNS: &str = "webhook_id, name, description, url, status, secret, \
     creation_timestamp, last_updated_timestamp";

type WebhookRow = (
    String,
    String,
    Option<String>,
    String,
    String,
    Option<String>,
    i64,
    i64,
);

type DeliveryRow = (
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
    i64,
    Option<i64>,
);

type AttemptRow = (i64, i64, i64, i64, Option<i64>, Option<String>);

type JobRow = (
    i64,
    String,
    String,
    String,
    String,
    String,
    i64,
    String,
    Option<String>,
);

fn not_found(webhook_id: &str) -> Error {
    Error::not_found(format!("Webhook with ID {webhook_id} not found."))
}

fn event_of(entity: &str, action: &str) -> Result<WebhookEvent> {
    Ok(WebhookEvent {
        entity: parse_column(entity)?,
        action: parse_column(action)?,
    })
}

fn webhook_from_row(row: WebhookRow, events: Vec<WebhookEvent>) -> Result<Webhook> {
    let (
        webhook_id,
        name,
        description,
        url,
        status,
        secret,
        creation_timestamp,
        last_updated_timestamp,
    ) = row;
    Ok(Webhook {
        webhook_id,
        name,
        description,
        url,
        events,
        status: parse_column(&status)?,
        secret,
        creation_timestamp,
        last_updated_timestamp,
    })
}

/// The events of each webhook in `ids`, sorted by (entity, action) text.
async fn load_events(
    connection: &mut SqliteConnection,
    ids: &[String],
) -> Result<HashMap<String, Vec<WebhookEvent>>> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT webhook_id, entity, action FROM webhook_events \
         WHERE webhook_id IN (SELECT value FROM json_each(?)) ORDER BY webhook_id, entity, action",
    )
    .bind(json_list(ids))
    .fetch_all(&mut *connection)
    .await
    .map_err(db_error)?;
    let mut events: HashMap<String, Vec<WebhookEvent>> = HashMap::new();
    for (webhook_id, entity, action) in rows {
        events
            .entry(webhook_id)
            .or_default()
            .push(event_of(&entity, &action)?);
    }
    Ok(events)
}

async fn live_row(
    connection: &mut SqliteConnection,
    webhook_id: &str,
) -> Result<Option<WebhookRow>> {
    sqlx::query_as(&format!(
        "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE webhook_id = ? AND deleted_timestamp IS NULL"
    ))
    .bind(webhook_id)
    .fetch_optional(&mut *connection)
    .await
    .map_err(db_error)
}

async fn load_webhook(connection: &mut SqliteConnection, webhook_id: &str) -> Result<Webhook> {
    let row = live_row(connection, webhook_id)
        .await?
        .ok_or_else(|| not_found(webhook_id))?;
    let mut events = load_events(connection, &[webhook_id.to_owned()]).await?;
    webhook_from_row(row, events.remove(webhook_id).unwrap_or_default())
}

async fn insert_events(
    connection: &mut SqliteConnection,
    webhook_id: &str,
    events: &[WebhookEvent],
) -> Result<()> {
    let unique: BTreeSet<WebhookEvent> = events.iter().copied().collect();
    for event in unique {
        sqlx::query("INSERT INTO webhook_events (webhook_id, entity, action) VALUES (?, ?, ?)")
            .bind(webhook_id)
            .bind(event.entity.as_str())
            .bind(event.action.as_str())
            .execute(&mut *connection)
            .await
            .map_err(db_error)?;
    }
    Ok(())
}

fn mlflow_entities() -> String {
    let names: Vec<&str> = WebhookEntity::ALL
        .iter()
        .filter(|entity| entity.is_mlflow())
        .map(|entity| entity.as_str())
        .collect();
    json_list(&names)
}

fn delivery_from_row(
    row: DeliveryRow,
    attempt_log: Vec<WebhookDeliveryAttempt>,
) -> Result<WebhookDelivery> {
    let (
        _seq,
        delivery_id,
        webhook_id,
        entity,
        action,
        payload,
        status,
        attempts,
        next_attempt_time_ms,
        last_status_code,
        last_error,
        created_time_ms,
        completed_time_ms,
    ) = row;
    Ok(WebhookDelivery {
        delivery_id,
        webhook_id,
        event: event_of(&entity, &action)?,
        payload,
        status: parse_column::<WebhookDeliveryStatus>(&status)?,
        attempts,
        next_attempt_time_ms,
        last_status_code,
        last_error,
        created_time_ms,
        completed_time_ms,
        attempt_log,
    })
}

impl SqliteStore {
    pub(super) async fn create_webhook_impl(&self, request: CreateWebhook) -> Result<Webhook> {
        let webhook_id = uuid::Uuid::new_v4().to_string();
        let now = now_ms();
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO webhooks (webhook_id, name, description, url, status, secret, \
             creation_timestamp, last_updated_timestamp) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&webhook_id)
        .bind(&request.name)
        .bind(&request.description)
        .bind(&request.url)
        .bind(request.status.as_str())
        .bind(&request.secret)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        insert_events(&mut tx, &webhook_id, &request.events).await?;
        let webhook = load_webhook(&mut tx, &webhook_id).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(webhook)
    }

    pub(super) async fn get_webhook_impl(&self, webhook_id: &str) -> Result<Webhook> {
        let mut tx = self.read().await?;
        load_webhook(&mut tx, webhook_id).await
    }

    pub(super) async fn list_webhooks_impl(
        &self,
        page: PageRequest,
        mlflow_events_only: bool,
    ) -> Result<Page<Webhook>> {
        let (limit, offset) = limit_offset(page);
        let mut tx = self.read().await?;
        let rows: Vec<WebhookRow> = sqlx::query_as(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks w WHERE deleted_timestamp IS NULL \
             AND (NOT ?1 OR EXISTS (SELECT 1 FROM webhook_events e WHERE e.webhook_id = w.webhook_id \
             AND e.entity IN (SELECT value FROM json_each(?2)))) \
             ORDER BY creation_timestamp DESC, rowid DESC LIMIT ?3 OFFSET ?4"
        ))
        .bind(mlflow_events_only)
        .bind(mlflow_entities())
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        let ids: Vec<String> = rows.iter().map(|row| row.0.clone()).collect();
        let mut events = load_events(&mut tx, &ids).await?;
        let webhooks = rows
            .into_iter()
            .map(|row| {
                let subscribed = events.remove(&row.0).unwrap_or_default();
                webhook_from_row(row, subscribed)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(finish_page(webhooks, page))
    }

    pub(super) async fn update_webhook_impl(&self, request: UpdateWebhook) -> Result<Webhook> {
        let mut tx = self.write().await?;
        let current = load_webhook(&mut tx, &request.webhook_id).await?;
        sqlx::query(
            "UPDATE webhooks SET name = ?, description = ?, url = ?, status = ?, secret = ?, \
             last_updated_timestamp = ? WHERE webhook_id = ?",
        )
        .bind(request.name.unwrap_or(current.name))
        .bind(request.description.or(current.description))
        .bind(request.url.unwrap_or(current.url))
        .bind(request.status.unwrap_or(current.status).as_str())
        .bind(request.secret.or(current.secret))
        .bind(now_ms())
        .bind(&request.webhook_id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if let Some(events) = &request.events {
            sqlx::query("DELETE FROM webhook_events WHERE webhook_id = ?")
                .bind(&request.webhook_id)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            insert_events(&mut tx, &request.webhook_id, events).await?;
        }
        let webhook = load_webhook(&mut tx, &request.webhook_id).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(webhook)
    }

    pub(super) async fn delete_webhook_impl(&self, webhook_id: &str) -> Result<()> {
        let now = now_ms();
        let mut tx = self.write().await?;
        let deleted = sqlx::query(
            "UPDATE webhooks SET deleted_timestamp = ?1, last_updated_timestamp = ?1 \
             WHERE webhook_id = ?2 AND deleted_timestamp IS NULL",
        )
        .bind(now)
        .bind(webhook_id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected();
        if deleted == 0 {
            return Err(not_found(webhook_id));
        }
        sqlx::query(
            "UPDATE webhook_deliveries SET status = 'failed', next_attempt_time = NULL, \
             completed_time = ?1, last_error = 'webhook deleted before delivery' \
             WHERE webhook_id = ?2 AND status = 'pending'",
        )
        .bind(now)
        .bind(webhook_id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    pub(super) async fn webhook_subscribed_impl(&self, events: &[WebhookEvent]) -> Result<bool> {
        let names: Vec<String> = events.iter().map(ToString::to_string).collect();
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM webhook_events e JOIN webhooks w ON w.webhook_id = e.webhook_id \
             WHERE w.deleted_timestamp IS NULL AND w.status = 'ACTIVE' \
             AND e.entity || '.' || e.action IN (SELECT value FROM json_each(?)))",
        )
        .bind(json_list(&names))
        .fetch_one(&mut *self.reader().await?)
        .await
        .map_err(db_error)
    }

    pub(super) async fn enqueue_webhook_event_impl(
        &self,
        event: WebhookEvent,
        payload: &str,
    ) -> Result<u64> {
        // A read first: most registry writes have no subscriber, and then take no write lock.
        if !self.webhook_subscribed_impl(&[event]).await? {
            return Ok(0);
        }
        let mut tx = self.write().await?;
        let queued = sqlx::query(&format!(
            "INSERT INTO webhook_deliveries (delivery_id, webhook_id, entity, action, payload, status, \
             attempts, next_attempt_time, created_time) \
             SELECT {SQL_UUID4}, w.webhook_id, ?1, ?2, ?3, 'pending', 0, ?4, ?4 \
             FROM webhooks w JOIN webhook_events e ON e.webhook_id = w.webhook_id \
             WHERE e.entity = ?1 AND e.action = ?2 AND w.deleted_timestamp IS NULL \
             AND w.status = 'ACTIVE'"
        ))
        .bind(event.entity.as_str())
        .bind(event.action.as_str())
        .bind(payload)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected();
        tx.commit().await.map_err(db_error)?;
        Ok(queued)
    }

    async fn next_due(connection: &mut SqliteConnection) -> Result<Option<i64>> {
        sqlx::query_scalar(
            "SELECT MIN(next_attempt_time) FROM webhook_deliveries WHERE status = 'pending'",
        )
        .fetch_one(&mut *connection)
        .await
        .map_err(db_error)
    }

    pub(super) async fn claim_webhook_deliveries_impl(
        &self,
        request: ClaimWebhookDeliveries,
    ) -> Result<ClaimedWebhookDeliveries> {
        let now = request.now_ms;
        {
            let mut reader = self.reader().await?;
            let next_due_ms = Self::next_due(&mut reader).await?;
            if request.limit == 0 || next_due_ms.is_none_or(|due| due > now) {
                return Ok(ClaimedWebhookDeliveries {
                    jobs: Vec::new(),
                    next_due_ms,
                });
            }
        }
        let mut tx = self.write().await?;
        sqlx::query(
            "UPDATE webhook_deliveries SET status = 'failed', next_attempt_time = NULL, \
             completed_time = ?1, last_error = 'webhook disabled before delivery' \
             WHERE status = 'pending' AND next_attempt_time <= ?1 AND webhook_id IN \
             (SELECT webhook_id FROM webhooks WHERE status <> 'ACTIVE' OR deleted_timestamp IS NOT NULL)",
        )
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let rows: Vec<JobRow> = sqlx::query_as(
            "SELECT d.seq, d.delivery_id, d.webhook_id, d.entity, d.action, d.payload, d.attempts, \
             w.url, w.secret FROM webhook_deliveries d JOIN webhooks w ON w.webhook_id = d.webhook_id \
             WHERE d.status = 'pending' AND d.next_attempt_time <= ? \
             ORDER BY d.next_attempt_time, d.seq LIMIT ?",
        )
        .bind(now)
        .bind(i64::from(request.limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        let seqs: Vec<i64> = rows.iter().map(|row| row.0).collect();
        sqlx::query(
            "UPDATE webhook_deliveries SET next_attempt_time = ? \
             WHERE seq IN (SELECT value FROM json_each(?))",
        )
        .bind(now.saturating_add(request.lease_ms))
        .bind(serde_json::Value::from(seqs).to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let next_due_ms = Self::next_due(&mut tx).await?;
        tx.commit().await.map_err(db_error)?;
        let jobs = rows
            .into_iter()
            .map(
                |(
                    _seq,
                    delivery_id,
                    webhook_id,
                    entity,
                    action,
                    payload,
                    attempts,
                    url,
                    secret,
                )| {
                    Ok(WebhookDeliveryJob {
                        delivery_id,
                        webhook_id,
                        url,
                        secret,
                        event: event_of(&entity, &action)?,
                        payload,
                        attempts,
                    })
                },
            )
            .collect::<Result<Vec<_>>>()?;
        Ok(ClaimedWebhookDeliveries { jobs, next_due_ms })
    }

    pub(super) async fn record_webhook_attempt_impl(
        &self,
        outcome: WebhookAttemptOutcome,
    ) -> Result<()> {
        let (status, next_attempt_time, completed_time) = match outcome.next {
            DeliveryNext::Succeeded => (
                WebhookDeliveryStatus::Succeeded,
                None,
                Some(outcome.time_ms),
            ),
            DeliveryNext::Failed => (WebhookDeliveryStatus::Failed, None, Some(outcome.time_ms)),
            DeliveryNext::RetryAt(time) => (WebhookDeliveryStatus::Pending, Some(time), None),
        };
        let mut tx = self.write().await?;
        // A delivery that stopped being pending meanwhile (its webhook was deleted) keeps its state;
        // the attempt is still logged. SET expressions all read the row as it was.
        let updated: Option<(i64, i64)> = sqlx::query_as(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, \
             last_status_code = CASE WHEN status = 'pending' THEN ?1 ELSE last_status_code END, \
             last_error = CASE WHEN status = 'pending' THEN ?2 ELSE last_error END, \
             next_attempt_time = CASE WHEN status = 'pending' THEN ?3 ELSE next_attempt_time END, \
             completed_time = CASE WHEN status = 'pending' THEN ?4 ELSE completed_time END, \
             status = CASE WHEN status = 'pending' THEN ?5 ELSE status END \
             WHERE delivery_id = ?6 RETURNING seq, attempts",
        )
        .bind(outcome.status_code)
        .bind(&outcome.error)
        .bind(next_attempt_time)
        .bind(completed_time)
        .bind(status.as_str())
        .bind(&outcome.delivery_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let Some((seq, attempt)) = updated else {
            return Err(Error::not_found(format!(
                "Webhook delivery {} not found.",
                outcome.delivery_id
            )));
        };
        sqlx::query(
            "INSERT INTO webhook_delivery_attempts (delivery_seq, attempt, time, duration_ms, \
             status_code, error) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(seq)
        .bind(attempt)
        .bind(outcome.time_ms)
        .bind(outcome.duration_ms)
        .bind(outcome.status_code)
        .bind(&outcome.error)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    pub(super) async fn release_webhook_deliveries_impl(
        &self,
        delivery_ids: &[String],
    ) -> Result<()> {
        if delivery_ids.is_empty() {
            return Ok(());
        }
        let mut tx = self.write().await?;
        sqlx::query(
            "UPDATE webhook_deliveries SET next_attempt_time = ? WHERE status = 'pending' \
             AND delivery_id IN (SELECT value FROM json_each(?))",
        )
        .bind(now_ms())
        .bind(json_list(delivery_ids))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    pub(super) async fn list_webhook_deliveries_impl(
        &self,
        webhook_id: &str,
        page: PageRequest,
    ) -> Result<Page<WebhookDelivery>> {
        let (limit, offset) = limit_offset(page);
        let mut tx = self.read().await?;
        if live_row(&mut tx, webhook_id).await?.is_none() {
            return Err(not_found(webhook_id));
        }
        let rows: Vec<DeliveryRow> = sqlx::query_as(
            "SELECT seq, delivery_id, webhook_id, entity, action, payload, status, attempts, \
             next_attempt_time, last_status_code, last_error, created_time, completed_time \
             FROM webhook_deliveries WHERE webhook_id = ? ORDER BY seq DESC LIMIT ? OFFSET ?",
        )
        .bind(webhook_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        let seqs: Vec<i64> = rows.iter().map(|row| row.0).collect();
        let attempt_rows: Vec<AttemptRow> = sqlx::query_as(
            "SELECT delivery_seq, attempt, time, duration_ms, status_code, error \
             FROM webhook_delivery_attempts WHERE delivery_seq IN (SELECT value FROM json_each(?)) \
             ORDER BY delivery_seq, attempt",
        )
        .bind(serde_json::Value::from(seqs).to_string())
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        let mut attempts: HashMap<i64, Vec<WebhookDeliveryAttempt>> = HashMap::new();
        for (seq, attempt, time_ms, duration_ms, status_code, error) in attempt_rows {
            attempts
                .entry(seq)
                .or_default()
                .push(WebhookDeliveryAttempt {
                    attempt,
                    time_ms,
                    duration_ms,
                    status_code,
                    error,
                });
        }
        let deliveries = rows
            .into_iter()
            .map(|row| {
                let log = attempts.remove(&row.0).unwrap_or_default();
                delivery_from_row(row, log)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(finish_page(deliveries, page))
    }
}
