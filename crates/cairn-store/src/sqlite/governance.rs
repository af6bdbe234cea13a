//! Policy revisions, the promotion audit log and lineage lookups.

use crate::shared::{decision_from_row, DecisionRow};
use cairn_core::entities::{Page, PolicyDecision, PolicyRevision};
use cairn_core::Result;

use super::{db_error, finish_page, limit_offset, now_ms, SqliteStore};
use crate::{NewPolicyDecision, PageRequest};

impl SqliteStore {
    pub(super) async fn put_policy_impl(&self, author: &str, text: &str) -> Result<PolicyRevision> {
        let mut tx = self.write().await?;
        let created_time_ms = now_ms();
        let revision: i64 = sqlx::query_scalar(
            "INSERT INTO policies (created_time, author, text) VALUES (?, ?, ?) RETURNING revision",
        )
        .bind(created_time_ms)
        .bind(author)
        .bind(text)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(PolicyRevision {
            revision,
            created_time_ms,
            author: author.to_owned(),
            text: text.to_owned(),
        })
    }

    pub(super) async fn current_policy_impl(&self) -> Result<Option<PolicyRevision>> {
        let row: Option<(i64, i64, String, String)> = sqlx::query_as(
            "SELECT revision, created_time, author, text FROM policies ORDER BY revision DESC LIMIT 1",
        )
        .fetch_optional(&mut *self.reader().await?)
        .await
        .map_err(db_error)?;
        Ok(
            row.map(|(revision, created_time_ms, author, text)| PolicyRevision {
                revision,
                created_time_ms,
                author,
                text,
            }),
        )
    }

    pub(super) async fn record_policy_decision_impl(
        &self,
        decision: NewPolicyDecision,
    ) -> Result<i64> {
        let mut tx = self.write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO policy_decisions (time, model_name, version, target_kind, target, action, \
             allowed, user_id, policy_revision, outcomes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             RETURNING id",
        )
        .bind(now_ms())
        .bind(&decision.model_name)
        .bind(decision.version)
        .bind(decision.target_kind.as_str())
        .bind(&decision.target)
        .bind(&decision.action)
        .bind(decision.allowed)
        .bind(&decision.user)
        .bind(decision.policy_revision)
        .bind(&decision.outcomes_json)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(id)
    }

    pub(super) async fn list_policy_decisions_impl(
        &self,
        model_name: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<PolicyDecision>> {
        let (limit, offset) = limit_offset(page);
        let rows: Vec<DecisionRow> = sqlx::query_as(
            "SELECT id, time, model_name, version, target_kind, target, action, allowed, user_id, \
             policy_revision, outcomes FROM policy_decisions \
             WHERE ?1 IS NULL OR model_name = ?1 ORDER BY id DESC LIMIT ?2 OFFSET ?3",
        )
        .bind(model_name)
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *self.reader().await?)
        .await
        .map_err(db_error)?;
        let decisions = rows
            .into_iter()
            .map(decision_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(finish_page(decisions, page))
    }

    pub(super) async fn runs_consuming_model_impl(&self, model_id: &str) -> Result<Vec<String>> {
        sqlx::query_scalar(
            "SELECT DISTINCT run_uuid FROM run_model_inputs WHERE model_id = ? ORDER BY run_uuid",
        )
        .bind(model_id)
        .fetch_all(&mut *self.reader().await?)
        .await
        .map_err(db_error)
    }
}
