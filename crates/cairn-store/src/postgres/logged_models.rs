//! PostgreSQL: logged models (stubs until ported).
#![allow(unused_imports)]

use cairn_core::entities::*;
use cairn_core::Result;

use super::{not_yet, PgStore};
use crate::*;

impl PgStore {
    pub(super) async fn create_logged_model_impl(
        &self,
        request: CreateLoggedModel,
    ) -> Result<LoggedModel> {
        let _ = request;
        Err(not_yet("create_logged_model_impl"))
    }

    pub(super) async fn get_logged_model_impl(&self, model_id: &str) -> Result<LoggedModel> {
        let _ = model_id;
        Err(not_yet("get_logged_model_impl"))
    }

    pub(super) async fn finalize_logged_model_impl(
        &self,
        model_id: &str,
        status: LoggedModelStatus,
    ) -> Result<LoggedModel> {
        let _ = model_id;
        let _ = status;
        Err(not_yet("finalize_logged_model_impl"))
    }

    pub(super) async fn delete_logged_model_impl(&self, model_id: &str) -> Result<()> {
        let _ = model_id;
        Err(not_yet("delete_logged_model_impl"))
    }

    pub(super) async fn set_logged_model_tags_impl(
        &self,
        model_id: &str,
        tags: Vec<KeyValue>,
    ) -> Result<LoggedModel> {
        let _ = model_id;
        let _ = tags;
        Err(not_yet("set_logged_model_tags_impl"))
    }

    pub(super) async fn delete_logged_model_tag_impl(
        &self,
        model_id: &str,
        key: &str,
    ) -> Result<()> {
        let _ = model_id;
        let _ = key;
        Err(not_yet("delete_logged_model_tag_impl"))
    }

    pub(super) async fn log_logged_model_params_impl(
        &self,
        model_id: &str,
        params: Vec<KeyValue>,
    ) -> Result<()> {
        let _ = model_id;
        let _ = params;
        Err(not_yet("log_logged_model_params_impl"))
    }

    pub(super) async fn search_logged_models_impl(
        &self,
        request: SearchLoggedModels,
    ) -> Result<Page<LoggedModel>> {
        let _ = request;
        Err(not_yet("search_logged_models_impl"))
    }
}
