//! PostgreSQL: runs (stubs until ported).
#![allow(unused_imports)]

use cairn_core::entities::*;
use cairn_core::Result;

use super::{not_yet, PgStore};
use crate::*;

impl PgStore {
    pub(super) async fn create_run_impl(&self, request: CreateRun) -> Result<Run> {
        let _ = request;
        Err(not_yet("create_run_impl"))
    }

    pub(super) async fn get_run_impl(&self, run_id: &str) -> Result<Run> {
        let _ = run_id;
        Err(not_yet("get_run_impl"))
    }

    pub(super) async fn update_run_impl(&self, request: UpdateRun) -> Result<RunInfo> {
        let _ = request;
        Err(not_yet("update_run_impl"))
    }

    pub(super) async fn set_run_lifecycle(&self, run_id: &str, delete: bool) -> Result<()> {
        let _ = run_id;
        let _ = delete;
        Err(not_yet("set_run_lifecycle"))
    }

    pub(super) async fn delete_run_tag_impl(&self, run_id: &str, key: &str) -> Result<()> {
        let _ = run_id;
        let _ = key;
        Err(not_yet("delete_run_tag_impl"))
    }

    pub(super) async fn log_batch_impl(&self, run_id: &str, batch: LogBatch) -> Result<()> {
        let _ = run_id;
        let _ = batch;
        Err(not_yet("log_batch_impl"))
    }

    pub(super) async fn log_inputs_impl(
        &self,
        run_id: &str,
        datasets: Vec<DatasetInput>,
        models: Vec<ModelInput>,
    ) -> Result<()> {
        let _ = run_id;
        let _ = datasets;
        let _ = models;
        Err(not_yet("log_inputs_impl"))
    }

    pub(super) async fn log_outputs_impl(
        &self,
        run_id: &str,
        models: Vec<ModelOutput>,
    ) -> Result<()> {
        let _ = run_id;
        let _ = models;
        Err(not_yet("log_outputs_impl"))
    }

    pub(super) async fn get_metric_history_impl(
        &self,
        run_id: &str,
        metric_key: &str,
        page: Option<PageRequest>,
    ) -> Result<Page<Metric>> {
        let _ = run_id;
        let _ = metric_key;
        let _ = page;
        Err(not_yet("get_metric_history_impl"))
    }

    pub(super) async fn get_metric_history_bulk_interval_impl(
        &self,
        request: HistoryInterval,
    ) -> Result<Vec<Metric>> {
        let _ = request;
        Err(not_yet("get_metric_history_bulk_interval_impl"))
    }

    pub(super) async fn search_runs_impl(&self, request: SearchRuns) -> Result<Page<Run>> {
        let _ = request;
        Err(not_yet("search_runs_impl"))
    }
}
