//! PostgreSQL: governance (stubs until ported).
#![allow(unused_imports)]

use cairn_core::entities::*;
use cairn_core::Result;

use super::{not_yet, PgStore};
use crate::*;

impl PgStore {
    pub(super) async fn put_policy_impl(&self, author: &str, text: &str) -> Result<PolicyRevision> {
        let _ = author;
        let _ = text;
        Err(not_yet("put_policy_impl"))
    }

    pub(super) async fn current_policy_impl(&self) -> Result<Option<PolicyRevision>> {
        Err(not_yet("current_policy_impl"))
    }

    pub(super) async fn record_policy_decision_impl(
        &self,
        decision: NewPolicyDecision,
    ) -> Result<i64> {
        let _ = decision;
        Err(not_yet("record_policy_decision_impl"))
    }

    pub(super) async fn list_policy_decisions_impl(
        &self,
        model_name: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<PolicyDecision>> {
        let _ = model_name;
        let _ = page;
        Err(not_yet("list_policy_decisions_impl"))
    }

    pub(super) async fn runs_consuming_model_impl(&self, model_id: &str) -> Result<Vec<String>> {
        let _ = model_id;
        Err(not_yet("runs_consuming_model_impl"))
    }
}
