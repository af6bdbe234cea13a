//! The [`crate::MetadataStore`] implementation both backends share: every trait method forwards to
//! the backend's inherent `*_impl` method of the same name (a few map onto a shared one, e.g. tag
//! writes onto `log_batch_impl`). One definition, so the two backends cannot drift apart in how a
//! call reaches them.

/// Implements [`crate::MetadataStore`] for `$store` by forwarding to its `*_impl` methods.
macro_rules! forward_metadata_store {
    ($store:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use cairn_core::entities::{
                Alias, DatasetInput, Experiment, KeyValue, LoggedModel, LoggedModelStatus, Metric,
                ModelInput, ModelOutput, ModelVersion, Page, PolicyDecision, PolicyRevision,
                RegisteredModel, Run, RunInfo, Stage, ViewType, Webhook, WebhookDelivery,
                WebhookEvent,
            };
            use cairn_core::Result;

            use $crate::{
                ClaimWebhookDeliveries, ClaimedWebhookDeliveries, CreateExperiment,
                CreateLoggedModel, CreateModelVersion, CreateRun, CreateWebhook, HistoryInterval,
                ImportExperiment, ImportLoggedModel, ImportModelVersion, ImportRegisteredModel,
                ImportRun, Imported, LogBatch, MetadataStore, NewPolicyDecision, PageRequest,
                Search, SearchLoggedModels, SearchRuns, UpdateRun, UpdateWebhook,
                WebhookAttemptOutcome,
            };

            #[async_trait]
            impl MetadataStore for $store {
                async fn close(&self) {
                    Self::close(self).await
                }

                async fn create_experiment(&self, request: CreateExperiment) -> Result<String> {
                    self.create_experiment_impl(request).await
                }
                async fn get_experiment(&self, experiment_id: &str) -> Result<Experiment> {
                    self.get_experiment_impl(experiment_id).await
                }
                async fn get_experiment_by_name(&self, name: &str) -> Result<Experiment> {
                    self.get_experiment_by_name_impl(name).await
                }
                async fn search_experiments(
                    &self,
                    view_type: ViewType,
                    search: Search,
                ) -> Result<Page<Experiment>> {
                    self.search_experiments_impl(view_type, search).await
                }
                async fn delete_experiment(&self, experiment_id: &str) -> Result<()> {
                    self.set_experiment_lifecycle(experiment_id, true).await
                }
                async fn restore_experiment(&self, experiment_id: &str) -> Result<()> {
                    self.set_experiment_lifecycle(experiment_id, false).await
                }
                async fn rename_experiment(
                    &self,
                    experiment_id: &str,
                    new_name: &str,
                ) -> Result<()> {
                    self.rename_experiment_impl(experiment_id, new_name).await
                }
                async fn set_experiment_tag(
                    &self,
                    experiment_id: &str,
                    tag: KeyValue,
                ) -> Result<()> {
                    self.set_experiment_tag_impl(experiment_id, tag).await
                }
                async fn delete_experiment_tag(
                    &self,
                    experiment_id: &str,
                    key: &str,
                ) -> Result<()> {
                    self.delete_experiment_tag_impl(experiment_id, key).await
                }

                async fn create_run(&self, request: CreateRun) -> Result<Run> {
                    self.create_run_impl(request).await
                }
                async fn get_run(&self, run_id: &str) -> Result<Run> {
                    self.get_run_impl(run_id).await
                }
                async fn update_run(&self, request: UpdateRun) -> Result<RunInfo> {
                    self.update_run_impl(request).await
                }
                async fn delete_run(&self, run_id: &str) -> Result<()> {
                    self.set_run_lifecycle(run_id, true).await
                }
                async fn restore_run(&self, run_id: &str) -> Result<()> {
                    self.set_run_lifecycle(run_id, false).await
                }
                async fn set_run_tag(&self, run_id: &str, tag: KeyValue) -> Result<()> {
                    self.log_batch_impl(
                        run_id,
                        LogBatch {
                            tags: vec![tag],
                            ..LogBatch::default()
                        },
                    )
                    .await
                }
                async fn delete_run_tag(&self, run_id: &str, key: &str) -> Result<()> {
                    self.delete_run_tag_impl(run_id, key).await
                }
                async fn log_batch(&self, run_id: &str, batch: LogBatch) -> Result<()> {
                    self.log_batch_impl(run_id, batch).await
                }
                async fn log_inputs(
                    &self,
                    run_id: &str,
                    datasets: Vec<DatasetInput>,
                    models: Vec<ModelInput>,
                ) -> Result<()> {
                    self.log_inputs_impl(run_id, datasets, models).await
                }
                async fn log_outputs(&self, run_id: &str, models: Vec<ModelOutput>) -> Result<()> {
                    self.log_outputs_impl(run_id, models).await
                }
                async fn get_metric_history(
                    &self,
                    run_id: &str,
                    metric_key: &str,
                    page: Option<$crate::HistoryPage>,
                ) -> Result<Page<Metric>> {
                    self.get_metric_history_impl(run_id, metric_key, page).await
                }
                async fn get_metric_history_bulk_interval(
                    &self,
                    request: HistoryInterval,
                ) -> Result<Vec<Metric>> {
                    self.get_metric_history_bulk_interval_impl(request).await
                }
                async fn search_runs(
                    &self,
                    request: SearchRuns,
                ) -> Result<Page<std::sync::Arc<Run>>> {
                    self.search_runs_impl(request).await
                }
                async fn metric_series(
                    &self,
                    request: $crate::SeriesRequest,
                ) -> Result<Vec<Metric>> {
                    self.metric_series_impl(request).await
                }
                async fn experiment_run_stats(
                    &self,
                    experiment_ids: &[String],
                ) -> Result<Vec<$crate::ExperimentRunStats>> {
                    self.experiment_run_stats_impl(experiment_ids).await
                }

                async fn create_logged_model(
                    &self,
                    request: CreateLoggedModel,
                ) -> Result<LoggedModel> {
                    self.create_logged_model_impl(request).await
                }
                async fn get_logged_model(&self, model_id: &str) -> Result<LoggedModel> {
                    self.get_logged_model_impl(model_id).await
                }
                async fn finalize_logged_model(
                    &self,
                    model_id: &str,
                    status: LoggedModelStatus,
                ) -> Result<LoggedModel> {
                    self.finalize_logged_model_impl(model_id, status).await
                }
                async fn delete_logged_model(&self, model_id: &str) -> Result<()> {
                    self.delete_logged_model_impl(model_id).await
                }
                async fn set_logged_model_tags(
                    &self,
                    model_id: &str,
                    tags: Vec<KeyValue>,
                ) -> Result<LoggedModel> {
                    self.set_logged_model_tags_impl(model_id, tags).await
                }
                async fn delete_logged_model_tag(&self, model_id: &str, key: &str) -> Result<()> {
                    self.delete_logged_model_tag_impl(model_id, key).await
                }
                async fn log_logged_model_params(
                    &self,
                    model_id: &str,
                    params: Vec<KeyValue>,
                ) -> Result<()> {
                    self.log_logged_model_params_impl(model_id, params).await
                }
                async fn search_logged_models(
                    &self,
                    request: SearchLoggedModels,
                ) -> Result<Page<LoggedModel>> {
                    self.search_logged_models_impl(request).await
                }

                async fn create_registered_model(
                    &self,
                    name: &str,
                    tags: Vec<KeyValue>,
                    description: Option<String>,
                ) -> Result<RegisteredModel> {
                    self.create_registered_model_impl(name, tags, description)
                        .await
                }
                async fn get_registered_model(&self, name: &str) -> Result<RegisteredModel> {
                    self.get_registered_model_impl(name).await
                }
                async fn rename_registered_model(
                    &self,
                    name: &str,
                    new_name: &str,
                ) -> Result<RegisteredModel> {
                    self.rename_registered_model_impl(name, new_name).await
                }
                async fn update_registered_model(
                    &self,
                    name: &str,
                    description: Option<String>,
                ) -> Result<RegisteredModel> {
                    self.update_registered_model_impl(name, description).await
                }
                async fn delete_registered_model(&self, name: &str) -> Result<()> {
                    self.delete_registered_model_impl(name).await
                }
                async fn search_registered_models(
                    &self,
                    search: Search,
                ) -> Result<Page<RegisteredModel>> {
                    self.search_registered_models_impl(search).await
                }
                async fn get_latest_versions(
                    &self,
                    name: &str,
                    stages: Vec<Stage>,
                ) -> Result<Vec<ModelVersion>> {
                    self.get_latest_versions_impl(name, stages).await
                }
                async fn set_registered_model_tag(&self, name: &str, tag: KeyValue) -> Result<()> {
                    self.set_registered_model_tag_impl(name, tag).await
                }
                async fn delete_registered_model_tag(&self, name: &str, key: &str) -> Result<()> {
                    self.delete_registered_model_tag_impl(name, key).await
                }

                async fn create_model_version(
                    &self,
                    request: CreateModelVersion,
                ) -> Result<ModelVersion> {
                    self.create_model_version_impl(request).await
                }
                async fn get_model_version(
                    &self,
                    name: &str,
                    version: i64,
                ) -> Result<ModelVersion> {
                    self.get_model_version_impl(name, version).await
                }
                async fn update_model_version(
                    &self,
                    name: &str,
                    version: i64,
                    description: Option<String>,
                ) -> Result<ModelVersion> {
                    self.update_model_version_impl(name, version, description)
                        .await
                }
                async fn delete_model_version(&self, name: &str, version: i64) -> Result<()> {
                    self.delete_model_version_impl(name, version).await
                }
                async fn search_model_versions(
                    &self,
                    search: Search,
                ) -> Result<Page<ModelVersion>> {
                    self.search_model_versions_impl(search).await
                }
                async fn transition_model_version_stage(
                    &self,
                    name: &str,
                    version: i64,
                    stage: Stage,
                    archive_existing_versions: bool,
                ) -> Result<ModelVersion> {
                    self.transition_model_version_stage_impl(
                        name,
                        version,
                        stage,
                        archive_existing_versions,
                    )
                    .await
                }
                async fn set_model_version_tag(
                    &self,
                    name: &str,
                    version: i64,
                    tag: KeyValue,
                ) -> Result<()> {
                    self.set_model_version_tag_impl(name, version, tag).await
                }
                async fn delete_model_version_tag(
                    &self,
                    name: &str,
                    version: i64,
                    key: &str,
                ) -> Result<()> {
                    self.delete_model_version_tag_impl(name, version, key).await
                }

                async fn set_registered_model_alias(
                    &self,
                    name: &str,
                    alias: &str,
                    version: i64,
                ) -> Result<()> {
                    self.set_registered_model_alias_impl(name, alias, version)
                        .await
                }
                async fn delete_registered_model_alias(
                    &self,
                    name: &str,
                    alias: &str,
                ) -> Result<()> {
                    self.delete_registered_model_alias_impl(name, alias).await
                }
                async fn get_model_version_by_alias(
                    &self,
                    name: &str,
                    alias: &str,
                ) -> Result<ModelVersion> {
                    self.get_model_version_by_alias_impl(name, alias).await
                }
                async fn list_aliases(&self, name: &str) -> Result<Vec<Alias>> {
                    self.list_aliases_impl(name).await
                }

                async fn put_policy(&self, author: &str, text: &str) -> Result<PolicyRevision> {
                    self.put_policy_impl(author, text).await
                }
                async fn current_policy(&self) -> Result<Option<PolicyRevision>> {
                    self.current_policy_impl().await
                }
                async fn record_policy_decision(&self, decision: NewPolicyDecision) -> Result<i64> {
                    self.record_policy_decision_impl(decision).await
                }
                async fn list_policy_decisions(
                    &self,
                    model_name: Option<&str>,
                    page: PageRequest,
                ) -> Result<Page<PolicyDecision>> {
                    self.list_policy_decisions_impl(model_name, page).await
                }
                async fn runs_consuming_model(&self, model_id: &str) -> Result<Vec<String>> {
                    self.runs_consuming_model_impl(model_id).await
                }

                async fn create_webhook(&self, request: CreateWebhook) -> Result<Webhook> {
                    self.create_webhook_impl(request).await
                }
                async fn get_webhook(&self, webhook_id: &str) -> Result<Webhook> {
                    self.get_webhook_impl(webhook_id).await
                }
                async fn list_webhooks(
                    &self,
                    page: PageRequest,
                    mlflow_events_only: bool,
                ) -> Result<Page<Webhook>> {
                    self.list_webhooks_impl(page, mlflow_events_only).await
                }
                async fn update_webhook(&self, request: UpdateWebhook) -> Result<Webhook> {
                    self.update_webhook_impl(request).await
                }
                async fn delete_webhook(&self, webhook_id: &str) -> Result<()> {
                    self.delete_webhook_impl(webhook_id).await
                }
                async fn webhook_subscribed(&self, events: &[WebhookEvent]) -> Result<bool> {
                    self.webhook_subscribed_impl(events).await
                }
                async fn enqueue_webhook_event(
                    &self,
                    event: WebhookEvent,
                    payload: &str,
                ) -> Result<u64> {
                    self.enqueue_webhook_event_impl(event, payload).await
                }
                async fn claim_webhook_deliveries(
                    &self,
                    request: ClaimWebhookDeliveries,
                ) -> Result<ClaimedWebhookDeliveries> {
                    self.claim_webhook_deliveries_impl(request).await
                }
                async fn record_webhook_attempt(
                    &self,
                    outcome: WebhookAttemptOutcome,
                ) -> Result<()> {
                    self.record_webhook_attempt_impl(outcome).await
                }
                async fn release_webhook_deliveries(&self, delivery_ids: &[String]) -> Result<()> {
                    self.release_webhook_deliveries_impl(delivery_ids).await
                }
                async fn list_webhook_deliveries(
                    &self,
                    webhook_id: &str,
                    page: PageRequest,
                ) -> Result<Page<WebhookDelivery>> {
                    self.list_webhook_deliveries_impl(webhook_id, page).await
                }

                async fn import_experiment(&self, request: ImportExperiment) -> Result<Imported> {
                    self.import_experiment_impl(request).await
                }
                async fn import_run(&self, request: ImportRun) -> Result<Imported> {
                    self.import_run_impl(request).await
                }
                async fn import_logged_model(
                    &self,
                    request: ImportLoggedModel,
                ) -> Result<Imported> {
                    self.import_logged_model_impl(request).await
                }
                async fn import_registered_model(
                    &self,
                    request: ImportRegisteredModel,
                ) -> Result<bool> {
                    self.import_registered_model_impl(request).await
                }
                async fn import_model_version(&self, request: ImportModelVersion) -> Result<bool> {
                    self.import_model_version_impl(request).await
                }
                async fn import_aliases(&self, name: &str, aliases: Vec<Alias>) -> Result<u64> {
                    self.import_aliases_impl(name, aliases).await
                }
            }
        };
    };
}
pub(crate) use forward_metadata_store;
