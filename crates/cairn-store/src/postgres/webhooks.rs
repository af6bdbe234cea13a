//! PostgreSQL: webhooks and their delivery outbox.
//!
//! Webhooks are soft-deleted (as MLflow does). A delivery is one event queued for one webhook. The
//! outbox is drained by workers in every server replica: a claim locks due rows with
//! `FOR UPDATE SKIP LOCKED` and pushes them forward by a lease in the same statement, so each due
//! delivery goes to exactly one claimer and concurrent claimers never wait on each other. The
//! `webhook_deliveries_due` partial index covers only pending rows, so the due lookup stays small
//! however long the delivery log grows. Delivery ids come from `gen_random_uuid()` (PostgreSQL 13+).

use std::collections::{BTreeSet, HashMap};

use cairn_core::entities::{
    Page, Webhook, WebhookDelivery, WebhookDeliveryAttempt, WebhookDeliveryJob,
    WebhookDeliveryStatus, WebhookEntity, WebhookEvent,
};
use cairn_core::{Error, Result};
use sqlx::PgConnection;

use super::{db_error, finish_page, limit_offset, now_ms, parse_column, PgStore};
use crate::{
    ClaimWebhookDeliveries, ClaimedWebhookDeliveries, CreateWebhook, DeliveryNext, PageRequest,
    UpdateWebhook, WebhookAttemptOutcome,
};

/// A webhook's columns (alias `w`) and its subscribed events as `entity.action` texts.
const WEBHOOK_COLUMNS: &str = "w.webhook_id, w.name, w.description, w.url, w.status, w.secret, \
     w.creation_timestamp, w.last_updated_timestamp, \
     ARRAY(SELECT e.entity || '.' || e.action FROM webhook_events e \
           WHERE e.webhook_id = w.webhook_id) AS events";

type WebhookRow = (
    String,
    String,
    Option<String>,
    String,
    String,
    Option<String>,
    i64,
    i64,
    Vec<String>,
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

/// Events stored as `entity.action` texts, sorted by (entity, action) text as MLflow lists them.
fn events_of(texts: &[String]) -> Result<Vec<WebhookEvent>> {
    let mut events = texts
        .iter()
        .map(|text| {
            let (entity, action) = text.split_once('.').ok_or_else(|| {
                Error::internal(format!("corrupt value in database: webhook event '{text}'"))
            })?;
            event_of(entity, action)
        })
        .collect::<Result<Vec<_>>>()?;
    events.sort();
    Ok(events)
}

fn webhook_from_row(row: WebhookRow) -> Result<Webhook> {
    let (
        webhook_id,
        name,
        description,
        url,
        status,
        secret,
        creation_timestamp,
        last_updated_timestamp,
        events,
    ) = row;
    Ok(Webhook {
        webhook_id,
        name,
        description,
        url,
        events: events_of(&events)?,
        status: parse_column(&status)?,
        secret,
        creation_timestamp,
        last_updated_timestamp,
    })
}

/// A live (not deleted) webhook with its events.
async fn load_webhook(connection: &mut PgConnection, webhook_id: &str) -> Result<Webhook> {
    let row: Option<WebhookRow> = sqlx::query_as(&format!(
        "SELECT {WEBHOOK_COLUMNS} FROM webhooks w \
         WHERE w.webhook_id = $1 AND w.deleted_timestamp IS NULL"
    ))
    .bind(webhook_id)
    .fetch_optional(&mut *connection)
    .await
    .map_err(db_error)?;
    webhook_from_row(row.ok_or_else(|| not_found(webhook_id))?)
}

/// Subscribes `webhook_id` to `events` (deduplicated), in one statement.
async fn insert_events(
    connection: &mut PgConnection,
    webhook_id: &str,
    events: &[WebhookEvent],
) -> Result<()> {
    let unique: BTreeSet<WebhookEvent> = events.iter().copied().collect();
    let (entities, actions): (Vec<&str>, Vec<&str>) = unique
        .iter()
        .map(|event| (event.entity.as_str(), event.action.as_str()))
        .unzip();
    sqlx::query(
        "INSERT INTO webhook_events (webhook_id, entity, action) \
         SELECT $1, entity, action FROM UNNEST($2::text[], $3::text[]) AS u (entity, action)",
    )
    .bind(webhook_id)
    .bind(&entities)
    .bind(&actions)
    .execute(&mut *connection)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// The entities of MLflow's vocabulary (as opposed to cairn's extensions).
fn mlflow_entities() -> Vec<&'static str> {
    WebhookEntity::ALL
        .iter()
        .filter(|entity| entity.is_mlflow())
        .map(|entity| entity.as_str())
        .collect()
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

fn job_from_row(row: JobRow) -> Result<WebhookDeliveryJob> {
    let (delivery_id, webhook_id, entity, action, payload, attempts, url, secret) = row;
    Ok(WebhookDeliveryJob {
        delivery_id,
        webhook_id,
        url,
        secret,
        event: event_of(&entity, &action)?,
        payload,
        attempts,
    })
}

/// The earliest time a pending delivery is due, if any is pending.
async fn next_due(connection: &mut PgConnection) -> Result<Option<i64>> {
    sqlx::query_scalar(
        "SELECT MIN(next_attempt_time) FROM webhook_deliveries WHERE status = 'pending'",
    )
    .fetch_one(&mut *connection)
    .await
    .map_err(db_error)
}

impl PgStore {
    /// Registers a webhook under a fresh dashed uuid4, with its deduplicated events.
    pub(super) async fn create_webhook_impl(&self, request: CreateWebhook) -> Result<Webhook> {
        let webhook_id = uuid::Uuid::new_v4().to_string();
        let now = now_ms();
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO webhooks (webhook_id, name, description, url, status, secret, \
             creation_timestamp, last_updated_timestamp) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(&webhook_id)
        .bind(&request.name)
        .bind(&request.description)
        .bind(&request.url)
        .bind(request.status.as_str())
        .bind(&request.secret)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        insert_events(&mut tx, &webhook_id, &request.events).await?;
        let webhook = load_webhook(&mut tx, &webhook_id).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(webhook)
    }

    /// A live webhook, or not found.
    pub(super) async fn get_webhook_impl(&self, webhook_id: &str) -> Result<Webhook> {
        let mut connection = self.pool.acquire().await.map_err(db_error)?;
        load_webhook(&mut connection, webhook_id).await
    }

    /// Live webhooks, newest first (ties in creation order reversed).
    pub(super) async fn list_webhooks_impl(
        &self,
        page: PageRequest,
        mlflow_events_only: bool,
    ) -> Result<Page<Webhook>> {
        let (limit, offset) = limit_offset(page);
        let rows: Vec<WebhookRow> = sqlx::query_as(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks w WHERE w.deleted_timestamp IS NULL \
             AND (NOT $1 OR EXISTS (SELECT 1 FROM webhook_events e \
                  WHERE e.webhook_id = w.webhook_id AND e.entity = ANY($2))) \
             ORDER BY w.creation_timestamp DESC, w.seq DESC LIMIT $3 OFFSET $4"
        ))
        .bind(mlflow_events_only)
        .bind(mlflow_entities())
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        let webhooks = rows
            .into_iter()
            .map(webhook_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(finish_page(webhooks, page))
    }

    /// Changes the fields given; `events` replaces the whole subscription.
    pub(super) async fn update_webhook_impl(&self, request: UpdateWebhook) -> Result<Webhook> {
        let mut tx = self.write().await?;
        let updated = sqlx::query(
            "UPDATE webhooks SET name = COALESCE($1, name), \
             description = COALESCE($2, description), url = COALESCE($3, url), \
             status = COALESCE($4, status), secret = COALESCE($5, secret), \
             last_updated_timestamp = $6 \
             WHERE webhook_id = $7 AND deleted_timestamp IS NULL",
        )
        .bind(&request.name)
        .bind(&request.description)
        .bind(&request.url)
        .bind(request.status.map(|status| status.as_str()))
        .bind(&request.secret)
        .bind(now_ms())
        .bind(&request.webhook_id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected();
        if updated == 0 {
            return Err(not_found(&request.webhook_id));
        }
        if let Some(events) = &request.events {
            sqlx::query("DELETE FROM webhook_events WHERE webhook_id = $1")
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

    /// Soft-deletes the webhook and fails its pending deliveries, in one statement.
    pub(super) async fn delete_webhook_impl(&self, webhook_id: &str) -> Result<()> {
        let deleted: i64 = sqlx::query_scalar(
            "WITH deleted AS ( \
                 UPDATE webhooks SET deleted_timestamp = $1, last_updated_timestamp = $1 \
                 WHERE webhook_id = $2 AND deleted_timestamp IS NULL RETURNING webhook_id), \
             failed AS ( \
                 UPDATE webhook_deliveries SET status = 'failed', next_attempt_time = NULL, \
                 completed_time = $1, last_error = 'webhook deleted before delivery' \
                 WHERE status = 'pending' AND webhook_id IN (SELECT webhook_id FROM deleted)) \
             SELECT COUNT(*) FROM deleted",
        )
        .bind(now_ms())
        .bind(webhook_id)
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        if deleted == 0 {
            return Err(not_found(webhook_id));
        }
        Ok(())
    }

    /// Whether an active webhook subscribes to one of `events`.
    pub(super) async fn webhook_subscribed_impl(&self, events: &[WebhookEvent]) -> Result<bool> {
        let (entities, actions): (Vec<&str>, Vec<&str>) = events
            .iter()
            .map(|event| (event.entity.as_str(), event.action.as_str()))
            .unzip();
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM webhook_events e \
             JOIN webhooks w ON w.webhook_id = e.webhook_id \
             JOIN UNNEST($1::text[], $2::text[]) AS u (entity, action) \
               ON u.entity = e.entity AND u.action = e.action \
             WHERE w.deleted_timestamp IS NULL AND w.status = 'ACTIVE')",
        )
        .bind(&entities)
        .bind(&actions)
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)
    }

    /// Queues `payload` for every active subscriber of `event` in one statement (no subscriber: no
    /// row, no lock beyond the table's shared one).
    pub(super) async fn enqueue_webhook_event_impl(
        &self,
        event: WebhookEvent,
        payload: &str,
    ) -> Result<u64> {
        let queued = sqlx::query(
            "INSERT INTO webhook_deliveries (delivery_id, webhook_id, entity, action, payload, \
             status, attempts, next_attempt_time, created_time) \
             SELECT gen_random_uuid()::text, w.webhook_id, e.entity, e.action, $3, 'pending', 0, \
             $4, $4 \
             FROM webhooks w JOIN webhook_events e ON e.webhook_id = w.webhook_id \
             WHERE e.entity = $1 AND e.action = $2 AND w.deleted_timestamp IS NULL \
             AND w.status = 'ACTIVE'",
        )
        .bind(event.entity.as_str())
        .bind(event.action.as_str())
        .bind(payload)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(db_error)?
        .rows_affected();
        Ok(queued)
    }

    /// Leases up to `limit` due deliveries of active webhooks to this caller (rows other claimers
    /// hold are skipped, not waited for); due deliveries of disabled or deleted webhooks fail.
    pub(super) async fn claim_webhook_deliveries_impl(
        &self,
        request: ClaimWebhookDeliveries,
    ) -> Result<ClaimedWebhookDeliveries> {
        let now = request.now_ms;
        {
            // A read first: an idle outbox (the common case between events) costs no write.
            let mut connection = self.pool.acquire().await.map_err(db_error)?;
            let next_due_ms = next_due(&mut connection).await?;
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
             completed_time = $1, last_error = 'webhook disabled before delivery' \
             WHERE seq IN ( \
                 SELECT d.seq FROM webhook_deliveries d \
                 JOIN webhooks w ON w.webhook_id = d.webhook_id \
                 WHERE d.status = 'pending' AND d.next_attempt_time <= $1 \
                 AND (w.status <> 'ACTIVE' OR w.deleted_timestamp IS NOT NULL) \
                 FOR UPDATE OF d SKIP LOCKED)",
        )
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let rows: Vec<JobRow> = sqlx::query_as(
            "WITH due AS ( \
                 SELECT d.seq, d.next_attempt_time FROM webhook_deliveries d \
                 JOIN webhooks w ON w.webhook_id = d.webhook_id \
                 WHERE d.status = 'pending' AND d.next_attempt_time <= $1 \
                 AND w.status = 'ACTIVE' AND w.deleted_timestamp IS NULL \
                 ORDER BY d.next_attempt_time, d.seq LIMIT $2 \
                 FOR UPDATE OF d SKIP LOCKED), \
             leased AS ( \
                 UPDATE webhook_deliveries d SET next_attempt_time = $3 FROM due \
                 WHERE d.seq = due.seq \
                 RETURNING d.seq, d.delivery_id, d.webhook_id, d.entity, d.action, d.payload, \
                 d.attempts) \
             SELECT l.delivery_id, l.webhook_id, l.entity, l.action, l.payload, l.attempts, \
             w.url, w.secret \
             FROM leased l JOIN due ON due.seq = l.seq \
             JOIN webhooks w ON w.webhook_id = l.webhook_id \
             ORDER BY due.next_attempt_time, due.seq",
        )
        .bind(now)
        .bind(i64::from(request.limit))
        .bind(now.saturating_add(request.lease_ms))
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        let next_due_ms = next_due(&mut tx).await?;
        tx.commit().await.map_err(db_error)?;
        let jobs = rows
            .into_iter()
            .map(job_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(ClaimedWebhookDeliveries { jobs, next_due_ms })
    }

    /// Records one attempt and what follows it, in one statement. A delivery that stopped being
    /// pending meanwhile (its webhook was deleted) keeps its state; the attempt is still logged.
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
        // SET expressions all read the row as it was.
        let logged: Option<i64> = sqlx::query_scalar(
            "WITH updated AS ( \
                 UPDATE webhook_deliveries SET attempts = attempts + 1, \
                 last_status_code = CASE WHEN status = 'pending' THEN $1 ELSE last_status_code END, \
                 last_error = CASE WHEN status = 'pending' THEN $2 ELSE last_error END, \
                 next_attempt_time = \
                     CASE WHEN status = 'pending' THEN $3 ELSE next_attempt_time END, \
                 completed_time = CASE WHEN status = 'pending' THEN $4 ELSE completed_time END, \
                 status = CASE WHEN status = 'pending' THEN $5 ELSE status END \
                 WHERE delivery_id = $6 RETURNING seq, attempts) \
             INSERT INTO webhook_delivery_attempts (delivery_seq, attempt, time, duration_ms, \
             status_code, error) \
             SELECT seq, attempts, $7, $8, $1, $2 FROM updated RETURNING delivery_seq",
        )
        .bind(outcome.status_code)
        .bind(&outcome.error)
        .bind(next_attempt_time)
        .bind(completed_time)
        .bind(status.as_str())
        .bind(&outcome.delivery_id)
        .bind(outcome.time_ms)
        .bind(outcome.duration_ms)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        if logged.is_none() {
            return Err(Error::not_found(format!(
                "Webhook delivery {} not found.",
                outcome.delivery_id
            )));
        }
        Ok(())
    }

    /// Makes claimed deliveries due now again, without counting an attempt.
    pub(super) async fn release_webhook_deliveries_impl(
        &self,
        delivery_ids: &[String],
    ) -> Result<()> {
        if delivery_ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE webhook_deliveries SET next_attempt_time = $1 \
             WHERE status = 'pending' AND delivery_id = ANY($2)",
        )
        .bind(now_ms())
        .bind(delivery_ids)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    /// Deliveries of a live webhook, newest first, each with its attempt log (one snapshot).
    pub(super) async fn list_webhook_deliveries_impl(
        &self,
        webhook_id: &str,
        page: PageRequest,
    ) -> Result<Page<WebhookDelivery>> {
        let (limit, offset) = limit_offset(page);
        let mut tx = self.read().await?;
        let live: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM webhooks WHERE webhook_id = $1 AND deleted_timestamp IS NULL",
        )
        .bind(webhook_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        if live.is_none() {
            return Err(not_found(webhook_id));
        }
        let rows: Vec<DeliveryRow> = sqlx::query_as(
            "SELECT seq, delivery_id, webhook_id, entity, action, payload, status, attempts, \
             next_attempt_time, last_status_code, last_error, created_time, completed_time \
             FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY seq DESC LIMIT $2 OFFSET $3",
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
             FROM webhook_delivery_attempts WHERE delivery_seq = ANY($1) \
             ORDER BY delivery_seq, attempt",
        )
        .bind(&seqs)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
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
