//! PostgreSQL: webhooks (stubs until ported).
#![allow(unused_imports)]

use cairn_core::entities::*;
use cairn_core::Result;

use super::{not_yet, PgStore};
use crate::*;

impl PgStore {
    pub(super) async fn create_webhook_impl(&self, request: CreateWebhook) -> Result<Webhook> {
        let _ = request;
        Err(not_yet("create_webhook_impl"))
    }

    pub(super) async fn get_webhook_impl(&self, webhook_id: &str) -> Result<Webhook> {
        let _ = webhook_id;
        Err(not_yet("get_webhook_impl"))
    }

    pub(super) async fn list_webhooks_impl(
        &self,
        page: PageRequest,
        mlflow_events_only: bool,
    ) -> Result<Page<Webhook>> {
        let _ = page;
        let _ = mlflow_events_only;
        Err(not_yet("list_webhooks_impl"))
    }

    pub(super) async fn update_webhook_impl(&self, request: UpdateWebhook) -> Result<Webhook> {
        let _ = request;
        Err(not_yet("update_webhook_impl"))
    }

    pub(super) async fn delete_webhook_impl(&self, webhook_id: &str) -> Result<()> {
        let _ = webhook_id;
        Err(not_yet("delete_webhook_impl"))
    }

    pub(super) async fn webhook_subscribed_impl(&self, events: &[WebhookEvent]) -> Result<bool> {
        let _ = events;
        Err(not_yet("webhook_subscribed_impl"))
    }

    pub(super) async fn enqueue_webhook_event_impl(
        &self,
        event: WebhookEvent,
        payload: &str,
    ) -> Result<u64> {
        let _ = event;
        let _ = payload;
        Err(not_yet("enqueue_webhook_event_impl"))
    }

    pub(super) async fn claim_webhook_deliveries_impl(
        &self,
        request: ClaimWebhookDeliveries,
    ) -> Result<ClaimedWebhookDeliveries> {
        let _ = request;
        Err(not_yet("claim_webhook_deliveries_impl"))
    }

    pub(super) async fn record_webhook_attempt_impl(
        &self,
        outcome: WebhookAttemptOutcome,
    ) -> Result<()> {
        let _ = outcome;
        Err(not_yet("record_webhook_attempt_impl"))
    }

    pub(super) async fn release_webhook_deliveries_impl(
        &self,
        delivery_ids: &[String],
    ) -> Result<()> {
        let _ = delivery_ids;
        Err(not_yet("release_webhook_deliveries_impl"))
    }

    pub(super) async fn list_webhook_deliveries_impl(
        &self,
        webhook_id: &str,
        page: PageRequest,
    ) -> Result<Page<WebhookDelivery>> {
        let _ = webhook_id;
        let _ = page;
        Err(not_yet("list_webhook_deliveries_impl"))
    }
}
