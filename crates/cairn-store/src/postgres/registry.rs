//! PostgreSQL: registry (stubs until ported).
#![allow(unused_imports)]

use cairn_core::entities::*;
use cairn_core::Result;

use super::{not_yet, PgStore};
use crate::*;

impl PgStore {
    pub(super) async fn create_registered_model_impl(
        &self,
        name: &str,
        tags: Vec<KeyValue>,
        description: Option<String>,
    ) -> Result<RegisteredModel> {
        let _ = name;
        let _ = tags;
        let _ = description;
        Err(not_yet("create_registered_model_impl"))
    }

    pub(super) async fn get_registered_model_impl(&self, name: &str) -> Result<RegisteredModel> {
        let _ = name;
        Err(not_yet("get_registered_model_impl"))
    }

    pub(super) async fn rename_registered_model_impl(
        &self,
        name: &str,
        new_name: &str,
    ) -> Result<RegisteredModel> {
        let _ = name;
        let _ = new_name;
        Err(not_yet("rename_registered_model_impl"))
    }

    pub(super) async fn update_registered_model_impl(
        &self,
        name: &str,
        description: Option<String>,
    ) -> Result<RegisteredModel> {
        let _ = name;
        let _ = description;
        Err(not_yet("update_registered_model_impl"))
    }

    pub(super) async fn delete_registered_model_impl(&self, name: &str) -> Result<()> {
        let _ = name;
        Err(not_yet("delete_registered_model_impl"))
    }

    pub(super) async fn search_registered_models_impl(
        &self,
        search: Search,
    ) -> Result<Page<RegisteredModel>> {
        let _ = search;
        Err(not_yet("search_registered_models_impl"))
    }

    pub(super) async fn get_latest_versions_impl(
        &self,
        name: &str,
        stages: Vec<Stage>,
    ) -> Result<Vec<ModelVersion>> {
        let _ = name;
        let _ = stages;
        Err(not_yet("get_latest_versions_impl"))
    }

    pub(super) async fn set_registered_model_tag_impl(
        &self,
        name: &str,
        tag: KeyValue,
    ) -> Result<()> {
        let _ = name;
        let _ = tag;
        Err(not_yet("set_registered_model_tag_impl"))
    }

    pub(super) async fn delete_registered_model_tag_impl(
        &self,
        name: &str,
        key: &str,
    ) -> Result<()> {
        let _ = name;
        let _ = key;
        Err(not_yet("delete_registered_model_tag_impl"))
    }

    pub(super) async fn create_model_version_impl(
        &self,
        request: CreateModelVersion,
    ) -> Result<ModelVersion> {
        let _ = request;
        Err(not_yet("create_model_version_impl"))
    }

    pub(super) async fn get_model_version_impl(
        &self,
        name: &str,
        version: i64,
    ) -> Result<ModelVersion> {
        let _ = name;
        let _ = version;
        Err(not_yet("get_model_version_impl"))
    }

    pub(super) async fn update_model_version_impl(
        &self,
        name: &str,
        version: i64,
        description: Option<String>,
    ) -> Result<ModelVersion> {
        let _ = name;
        let _ = version;
        let _ = description;
        Err(not_yet("update_model_version_impl"))
    }

    pub(super) async fn delete_model_version_impl(&self, name: &str, version: i64) -> Result<()> {
        let _ = name;
        let _ = version;
        Err(not_yet("delete_model_version_impl"))
    }

    pub(super) async fn search_model_versions_impl(
        &self,
        search: Search,
    ) -> Result<Page<ModelVersion>> {
        let _ = search;
        Err(not_yet("search_model_versions_impl"))
    }

    pub(super) async fn transition_model_version_stage_impl(
        &self,
        name: &str,
        version: i64,
        stage: Stage,
        archive_existing_versions: bool,
    ) -> Result<ModelVersion> {
        let _ = name;
        let _ = version;
        let _ = stage;
        let _ = archive_existing_versions;
        Err(not_yet("transition_model_version_stage_impl"))
    }

    pub(super) async fn set_model_version_tag_impl(
        &self,
        name: &str,
        version: i64,
        tag: KeyValue,
    ) -> Result<()> {
        let _ = name;
        let _ = version;
        let _ = tag;
        Err(not_yet("set_model_version_tag_impl"))
    }

    pub(super) async fn delete_model_version_tag_impl(
        &self,
        name: &str,
        version: i64,
        key: &str,
    ) -> Result<()> {
        let _ = name;
        let _ = version;
        let _ = key;
        Err(not_yet("delete_model_version_tag_impl"))
    }

    pub(super) async fn set_registered_model_alias_impl(
        &self,
        name: &str,
        alias: &str,
        version: i64,
    ) -> Result<()> {
        let _ = name;
        let _ = alias;
        let _ = version;
        Err(not_yet("set_registered_model_alias_impl"))
    }

    pub(super) async fn delete_registered_model_alias_impl(
        &self,
        name: &str,
        alias: &str,
    ) -> Result<()> {
        let _ = name;
        let _ = alias;
        Err(not_yet("delete_registered_model_alias_impl"))
    }

    pub(super) async fn get_model_version_by_alias_impl(
        &self,
        name: &str,
        alias: &str,
    ) -> Result<ModelVersion> {
        let _ = name;
        let _ = alias;
        Err(not_yet("get_model_version_by_alias_impl"))
    }

    pub(super) async fn list_aliases_impl(&self, name: &str) -> Result<Vec<Alias>> {
        let _ = name;
        Err(not_yet("list_aliases_impl"))
    }
}
