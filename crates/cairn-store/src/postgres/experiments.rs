//! PostgreSQL: experiments (stubs until ported).
#![allow(unused_imports)]

use cairn_core::entities::*;
use cairn_core::Result;

use super::{not_yet, PgStore};
use crate::*;

impl PgStore {
    pub(super) async fn create_experiment_impl(&self, request: CreateExperiment) -> Result<String> {
        let _ = request;
        Err(not_yet("create_experiment_impl"))
    }

    pub(super) async fn get_experiment_impl(&self, experiment_id: &str) -> Result<Experiment> {
        let _ = experiment_id;
        Err(not_yet("get_experiment_impl"))
    }

    pub(super) async fn get_experiment_by_name_impl(&self, name: &str) -> Result<Experiment> {
        let _ = name;
        Err(not_yet("get_experiment_by_name_impl"))
    }

    pub(super) async fn search_experiments_impl(
        &self,
        view_type: ViewType,
        search: Search,
    ) -> Result<Page<Experiment>> {
        let _ = view_type;
        let _ = search;
        Err(not_yet("search_experiments_impl"))
    }

    pub(super) async fn set_experiment_lifecycle(
        &self,
        experiment_id: &str,
        delete: bool,
    ) -> Result<()> {
        let _ = experiment_id;
        let _ = delete;
        Err(not_yet("set_experiment_lifecycle"))
    }

    pub(super) async fn rename_experiment_impl(
        &self,
        experiment_id: &str,
        new_name: &str,
    ) -> Result<()> {
        let _ = experiment_id;
        let _ = new_name;
        Err(not_yet("rename_experiment_impl"))
    }

    pub(super) async fn set_experiment_tag_impl(
        &self,
        experiment_id: &str,
        tag: KeyValue,
    ) -> Result<()> {
        let _ = experiment_id;
        let _ = tag;
        Err(not_yet("set_experiment_tag_impl"))
    }

    pub(super) async fn delete_experiment_tag_impl(
        &self,
        experiment_id: &str,
        key: &str,
    ) -> Result<()> {
        let _ = experiment_id;
        let _ = key;
        Err(not_yet("delete_experiment_tag_impl"))
    }
}
