//! The behavioural test suite every `MetadataStore` backend must pass (STYLE.md rule 8).
//!
//! Each test is a function over a fresh, empty store (`Store`); a backend's test file instantiates them
//! all with `store_test_suite!(factory)`, where `factory().await` returns `(Store, guard)` and the guard
//! keeps the backend's resources (a temp dir, a database) alive for the test.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::HashSet;
use std::sync::Arc;

use cairn_core::entities::Alias;
use cairn_core::entities::{
    Dataset, DatasetInput, KeyValue, LifecycleStage, LoggedModelStatus, Metric, ModelInput,
    ModelOutput, PromotionTarget, RunStatus, Stage, ViewType, WebhookDeliveryStatus, WebhookEvent,
    WebhookStatus,
};
use cairn_core::search::{
    decode_history_token, decode_page_token, parse_filter, parse_order_by, Filter, OrderBy,
    SearchKind,
};
use cairn_core::ErrorKind;
use cairn_store::{
    ClaimWebhookDeliveries, CreateExperiment, CreateLoggedModel, CreateModelVersion, CreateRun,
    CreateWebhook, DeliveryNext, HistoryInterval, HistoryPage, ImportExperiment, ImportLoggedModel,
    ImportModelVersion, ImportRegisteredModel, ImportRun, LogBatch, MetadataStore,
    NewPolicyDecision, PageRequest, Search, SearchLoggedModels, SearchRuns, SeriesRequest,
    UpdateRun, UpdateWebhook, WebhookAttemptOutcome,
};

pub type Store = Arc<dyn MetadataStore>;

/// Instantiates every suite test for a backend. `$factory` is an async fn returning `(Store, guard)`.
macro_rules! store_test_suite {
    ($factory:path) => {
        store_test_suite!(@tests $factory;
            default_experiment_exists,
            experiment_crud_and_errors,
            experiment_delete_hides_runs,
            experiment_search_filter_order_paging,
            run_create_names_and_artifact_uri,
            run_name_tag_stays_in_sync,
            run_update_delete_restore,
            run_tags_and_deleted_run_writes,
            create_run_in_deleted_experiment_is_refused,
            params_are_immutable,
            metrics_nan_inf_round_trip,
            latest_metric_rules,
            metric_dedup_and_history_paging,
            metric_extra_fields_are_kept,
            large_history_round_trip,
            history_bulk_interval,
            metric_series_min_max_buckets,
            experiment_run_stats_count_active_runs,
            inputs_and_outputs,
            search_runs_filters,
            search_runs_order_nan_and_missing_last,
            search_runs_paging_and_view_type,
            search_after_every_kind_of_write_sees_it,
            logged_model_lifecycle,
            logged_model_metrics_and_search,
            registered_model_crud,
            model_versions_and_stages,
            aliases,
            registry_rename_and_delete_cascade,
            registry_search,
            concurrent_version_registration,
            concurrent_log_batches,
            policy_revisions,
            policy_decisions_audit_log,
            runs_consuming_model,
            webhook_crud,
            webhook_list_paging_and_mlflow_view,
            webhook_outbox_claim_retry_and_log,
            webhook_outbox_disabled_deleted_and_release,
            import_experiment_keeps_free_ids_and_matches_names,
            import_run_keeps_ids_history_and_is_idempotent,
            import_logged_model_and_registry_keep_ids,
        );
    };
    (@tests $factory:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let (store, _guard) = $factory().await;
                suite::$name(store).await;
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------------------
// Helpers

fn filter(kind: SearchKind, text: &str) -> Filter {
    parse_filter(kind, text).unwrap_or_else(|error| panic!("filter {text:?}: {error:?}"))
}

fn order(kind: SearchKind, entries: &[&str]) -> Vec<OrderBy> {
    let entries: Vec<String> = entries.iter().map(|entry| entry.to_string()).collect();
    parse_order_by(kind, &entries).unwrap()
}

fn page(max_results: u64) -> PageRequest {
    PageRequest {
        max_results,
        offset: 0,
    }
}

fn search(kind: SearchKind, filter_text: &str, order_by: &[&str], max_results: u64) -> Search {
    Search {
        filter: filter(kind, filter_text),
        order_by: order(kind, order_by),
        page: page(max_results),
    }
}

fn assert_error<T: std::fmt::Debug>(result: cairn_core::Result<T>, kind: ErrorKind, message: &str) {
    let error = result.expect_err("expected an error");
    assert_eq!(error.kind, kind, "{error:?}");
    assert_eq!(error.message, message);
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue::new(key, value)
}

async fn experiment(store: &Store, name: &str) -> String {
    store
        .create_experiment(CreateExperiment {
            name: name.into(),
            artifact_location: None,
            tags: vec![],
        })
        .await
        .unwrap()
}

async fn run_at(store: &Store, experiment_id: &str, name: &str, start_time: i64) -> String {
    store
        .create_run(CreateRun {
            experiment_id: experiment_id.into(),
            user_id: "u".into(),
            run_name: name.into(),
            start_time,
            tags: vec![],
        })
        .await
        .unwrap()
        .info
        .run_id
}

async fn run(store: &Store, experiment_id: &str, name: &str) -> String {
    run_at(store, experiment_id, name, 1_000).await
}

async fn log_metrics(store: &Store, run_id: &str, metrics: Vec<Metric>) {
    store
        .log_batch(
            run_id,
            LogBatch {
                metrics,
                ..LogBatch::default()
            },
        )
        .await
        .unwrap();
}

async fn search_runs(
    store: &Store,
    experiment_ids: &[&str],
    filter_text: &str,
    order_by: &[&str],
) -> Vec<String> {
    store
        .search_runs(SearchRuns {
            experiment_ids: experiment_ids.iter().map(|id| id.to_string()).collect(),
            filter: filter(SearchKind::Runs, filter_text),
            view_type: ViewType::ActiveOnly,
            order_by: order(SearchKind::Runs, order_by),
            page: page(1000),
        })
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|run| run.info.run_name.clone())
        .collect()
}

fn metric_value(run: &cairn_core::entities::Run, key: &str) -> Option<f64> {
    run.data
        .metrics
        .iter()
        .find(|metric| metric.key == key)
        .map(|metric| metric.value)
}

fn tag<'a>(tags: &'a [KeyValue], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|tag| tag.key == key)
        .map(|tag| tag.value.as_str())
}

// ---------------------------------------------------------------------------------------------------
// Experiments

pub async fn default_experiment_exists(store: Store) {
    let default = store.get_experiment("0").await.unwrap();
    assert_eq!(default.name, "Default");
    assert_eq!(default.artifact_location, "mlflow-artifacts:/0");
    assert_eq!(default.lifecycle_stage, LifecycleStage::Active);
    assert_eq!(
        store.get_experiment_by_name("Default").await.unwrap(),
        default
    );
    // The first created experiment is "1".
    assert_eq!(experiment(&store, "first").await, "1");
}

pub async fn experiment_crud_and_errors(store: Store) {
    let id = store
        .create_experiment(CreateExperiment {
            name: "exp".into(),
            artifact_location: None,
            tags: vec![kv("k", "v")],
        })
        .await
        .unwrap();
    let created = store.get_experiment(&id).await.unwrap();
    assert_eq!(created.name, "exp");
    assert_eq!(created.artifact_location, format!("mlflow-artifacts:/{id}"));
    assert_eq!(created.tags, vec![kv("k", "v")]);
    assert!(created.creation_time > 0);

    let custom = store
        .create_experiment(CreateExperiment {
            name: "custom".into(),
            artifact_location: Some("s3://bucket/path".into()),
            tags: vec![],
        })
        .await
        .unwrap();
    assert_eq!(
        store
            .get_experiment(&custom)
            .await
            .unwrap()
            .artifact_location,
        "s3://bucket/path"
    );

    assert_error(
        store
            .create_experiment(CreateExperiment {
                name: "exp".into(),
                artifact_location: None,
                tags: vec![],
            })
            .await,
        ErrorKind::ResourceAlreadyExists,
        "Experiment(name=exp) already exists.",
    );
    assert_error(
        store.get_experiment("999").await,
        ErrorKind::ResourceDoesNotExist,
        "No Experiment with id=999 exists",
    );
    assert_error(
        store.get_experiment("not-a-number").await,
        // Ids are integers here; stock MLflow's SQL store answers a malformed one with a 400 too.
        ErrorKind::InvalidParameterValue,
        "Invalid value 'not-a-number' for parameter 'experiment_id': experiment ids are integers",
    );
    assert_error(
        store.get_experiment_by_name("nope").await,
        ErrorKind::ResourceDoesNotExist,
        "Could not find experiment with name 'nope'",
    );

    // Rename keeps names unique.
    assert_error(
        store.rename_experiment(&id, "custom").await,
        ErrorKind::ResourceAlreadyExists,
        "Experiment(name=custom) already exists.",
    );
    store.rename_experiment(&id, "renamed").await.unwrap();
    let renamed = store.get_experiment_by_name("renamed").await.unwrap();
    assert_eq!(renamed.experiment_id, id);
    assert!(renamed.last_update_time >= created.last_update_time);
    assert!(store.get_experiment_by_name("exp").await.is_err());

    // Tags.
    store.set_experiment_tag(&id, kv("k", "v2")).await.unwrap();
    store
        .set_experiment_tag(&id, kv("other", "x"))
        .await
        .unwrap();
    assert_eq!(
        store.get_experiment(&id).await.unwrap().tags,
        vec![kv("k", "v2"), kv("other", "x")]
    );
    store.delete_experiment_tag(&id, "k").await.unwrap();
    assert_eq!(
        store.get_experiment(&id).await.unwrap().tags,
        vec![kv("other", "x")]
    );
    assert_eq!(
        store
            .delete_experiment_tag(&id, "k")
            .await
            .unwrap_err()
            .kind,
        ErrorKind::ResourceDoesNotExist
    );
    assert_eq!(
        store
            .set_experiment_tag("424242", kv("a", "b"))
            .await
            .unwrap_err()
            .kind,
        ErrorKind::ResourceDoesNotExist
    );
}

pub async fn experiment_delete_hides_runs(store: Store) {
    let id = experiment(&store, "doomed").await;
    let run_id = run(&store, &id, "r").await;
    store.delete_experiment(&id).await.unwrap();
    let deleted = store.get_experiment(&id).await.unwrap();
    assert_eq!(deleted.lifecycle_stage, LifecycleStage::Deleted);
    // The name stays reserved.
    assert_eq!(
        store
            .create_experiment(CreateExperiment {
                name: "doomed".into(),
                artifact_location: None,
                tags: vec![],
            })
            .await
            .unwrap_err()
            .kind,
        ErrorKind::ResourceAlreadyExists
    );
    assert!(search_runs(&store, &[&id], "", &[]).await.is_empty());
    let all = store
        .search_runs(SearchRuns {
            experiment_ids: vec![id.clone()],
            filter: Filter::default(),
            view_type: ViewType::All,
            order_by: vec![],
            page: page(10),
        })
        .await
        .unwrap();
    assert_eq!(all.items.len(), 1);
    assert_eq!(
        store.get_run(&run_id).await.unwrap().info.lifecycle_stage,
        LifecycleStage::Deleted
    );

    // Deleted experiments are not listed by default.
    let active = store
        .search_experiments(
            ViewType::ActiveOnly,
            search(SearchKind::Experiments, "", &[], 100),
        )
        .await
        .unwrap();
    assert!(active.items.iter().all(|e| e.experiment_id != id));
    let deleted_only = store
        .search_experiments(
            ViewType::DeletedOnly,
            search(SearchKind::Experiments, "", &[], 100),
        )
        .await
        .unwrap();
    assert_eq!(deleted_only.items.len(), 1);

    // As MLflow: deleting a deleted experiment or renaming it is refused.
    assert_error(
        store.delete_experiment(&id).await,
        ErrorKind::ResourceDoesNotExist,
        &format!("No Experiment with id={id} exists"),
    );
    assert_error(
        store.rename_experiment(&id, "other-name").await,
        ErrorKind::InvalidState,
        "Cannot rename a non-active experiment.",
    );

    store.restore_experiment(&id).await.unwrap();
    assert_eq!(
        store.get_experiment(&id).await.unwrap().lifecycle_stage,
        LifecycleStage::Active
    );
    assert_error(
        store.restore_experiment(&id).await,
        ErrorKind::ResourceDoesNotExist,
        &format!("No Experiment with id={id} exists"),
    );
    assert_eq!(search_runs(&store, &[&id], "", &[]).await, vec!["r"]);
}

pub async fn experiment_search_filter_order_paging(store: Store) {
    for name in ["alpha", "Beta", "gamma", "alphabet"] {
        let id = experiment(&store, name).await;
        if name.starts_with("alpha") {
            store
                .set_experiment_tag(&id, kv("team", "vision"))
                .await
                .unwrap();
        }
    }
    let names =
        |page: cairn_core::entities::Page<cairn_core::entities::Experiment>| -> Vec<String> {
            page.items.into_iter().map(|e| e.name).collect()
        };
    let found = store
        .search_experiments(
            ViewType::ActiveOnly,
            search(
                SearchKind::Experiments,
                "name LIKE 'alpha%'",
                &["name ASC"],
                10,
            ),
        )
        .await
        .unwrap();
    assert_eq!(names(found), vec!["alpha", "alphabet"]);
    // LIKE is case-sensitive, ILIKE is not.
    let found = store
        .search_experiments(
            ViewType::ActiveOnly,
            search(SearchKind::Experiments, "name LIKE 'beta'", &[], 10),
        )
        .await
        .unwrap();
    assert!(found.items.is_empty());
    let found = store
        .search_experiments(
            ViewType::ActiveOnly,
            search(SearchKind::Experiments, "name ILIKE 'beta'", &[], 10),
        )
        .await
        .unwrap();
    assert_eq!(names(found), vec!["Beta"]);
    let found = store
        .search_experiments(
            ViewType::ActiveOnly,
            search(
                SearchKind::Experiments,
                "tags.team = 'vision'",
                &["name DESC"],
                10,
            ),
        )
        .await
        .unwrap();
    assert_eq!(names(found), vec!["alphabet", "alpha"]);

    // Default order: creation_time DESC, experiment_id ASC. Same-millisecond creations fall back to
    // the id, so check the id order among equal times only loosely: every experiment is listed once.
    let all = store
        .search_experiments(
            ViewType::ActiveOnly,
            search(SearchKind::Experiments, "", &[], 100),
        )
        .await
        .unwrap();
    assert_eq!(all.items.len(), 5);
    for pair in all.items.windows(2) {
        assert!(pair[0].creation_time >= pair[1].creation_time);
    }

    // Paging.
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let page = store
            .search_experiments(
                ViewType::ActiveOnly,
                Search {
                    filter: Filter::default(),
                    order_by: order(SearchKind::Experiments, &["name ASC"]),
                    page: PageRequest {
                        max_results: 2,
                        offset,
                    },
                },
            )
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|e| e.name.clone()));
        match page.next_page_token {
            Some(token) => offset = decode_page_token(Some(&token)).unwrap(),
            None => break,
        }
    }
    assert_eq!(seen, vec!["Beta", "Default", "alpha", "alphabet", "gamma"]);
}

// ---------------------------------------------------------------------------------------------------
// Runs

pub async fn run_create_names_and_artifact_uri(store: Store) {
    let id = experiment(&store, "runs").await;
    let created = store
        .create_run(CreateRun {
            experiment_id: id.clone(),
            user_id: "u".into(),
            run_name: "r1".into(),
            start_time: 123,
            tags: vec![kv("mlflow.user", "u")],
        })
        .await
        .unwrap();
    let info = &created.info;
    assert_eq!(info.run_id.len(), 32);
    assert!(info.run_id.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(info.experiment_id, id);
    assert_eq!(info.run_name, "r1");
    assert_eq!(info.status, RunStatus::Running);
    assert_eq!(info.start_time, 123);
    assert_eq!(info.end_time, None);
    assert_eq!(
        info.artifact_uri,
        format!("mlflow-artifacts:/{id}/{}/artifacts", info.run_id)
    );
    assert_eq!(
        created.data.tags,
        vec![kv("mlflow.user", "u"), kv("mlflow.runName", "r1")]
    );
    assert_eq!(store.get_run(&info.run_id).await.unwrap(), created);

    // An empty name is generated: adjective-noun-number.
    let generated = store
        .create_run(CreateRun {
            experiment_id: id.clone(),
            user_id: "u".into(),
            run_name: String::new(),
            start_time: 1,
            tags: vec![],
        })
        .await
        .unwrap();
    let parts: Vec<&str> = generated.info.run_name.split('-').collect();
    assert_eq!(parts.len(), 3, "{}", generated.info.run_name);
    assert!(parts[2].parse::<u32>().unwrap() < 1000);
    assert_eq!(
        tag(&generated.data.tags, "mlflow.runName"),
        Some(generated.info.run_name.as_str())
    );

    // A name given only as the tag is used.
    let from_tag = store
        .create_run(CreateRun {
            experiment_id: id.clone(),
            user_id: "u".into(),
            run_name: String::new(),
            start_time: 1,
            tags: vec![kv("mlflow.runName", "tagged")],
        })
        .await
        .unwrap();
    assert_eq!(from_tag.info.run_name, "tagged");
    assert_error(
        store
            .create_run(CreateRun {
                experiment_id: id.clone(),
                user_id: "u".into(),
                run_name: "a".into(),
                start_time: 1,
                tags: vec![kv("mlflow.runName", "b")],
            })
            .await,
        ErrorKind::InvalidParameterValue,
        "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values \
         (run_name='a', mlflow.runName='b').",
    );
    // An empty experiment id means the Default experiment, as in MLflow.
    let in_default = store
        .create_run(CreateRun {
            experiment_id: String::new(),
            user_id: "u".into(),
            run_name: "d".into(),
            start_time: 1,
            tags: vec![],
        })
        .await
        .unwrap();
    assert_eq!(in_default.info.experiment_id, "0");

    assert_error(
        store.get_run("0123456789abcdef0123456789abcdef").await,
        ErrorKind::ResourceDoesNotExist,
        "Run with id=0123456789abcdef0123456789abcdef not found",
    );
    assert_error(
        store
            .create_run(CreateRun {
                experiment_id: "777".into(),
                user_id: "u".into(),
                run_name: "x".into(),
                start_time: 1,
                tags: vec![],
            })
            .await,
        ErrorKind::ResourceDoesNotExist,
        "No Experiment with id=777 exists",
    );
}

pub async fn run_name_tag_stays_in_sync(store: Store) {
    let id = experiment(&store, "names").await;
    let run_id = run(&store, &id, "before").await;
    store
        .update_run(UpdateRun {
            run_id: run_id.clone(),
            status: None,
            end_time: None,
            run_name: Some("after".into()),
        })
        .await
        .unwrap();
    let fetched = store.get_run(&run_id).await.unwrap();
    assert_eq!(fetched.info.run_name, "after");
    assert_eq!(tag(&fetched.data.tags, "mlflow.runName"), Some("after"));

    store
        .set_run_tag(&run_id, kv("mlflow.runName", "by-tag"))
        .await
        .unwrap();
    let fetched = store.get_run(&run_id).await.unwrap();
    assert_eq!(fetched.info.run_name, "by-tag");
    assert_eq!(tag(&fetched.data.tags, "mlflow.runName"), Some("by-tag"));

    store
        .log_batch(
            &run_id,
            LogBatch {
                tags: vec![kv("mlflow.runName", "by-batch")],
                ..LogBatch::default()
            },
        )
        .await
        .unwrap();
    let fetched = store.get_run(&run_id).await.unwrap();
    assert_eq!(fetched.info.run_name, "by-batch");
    assert_eq!(
        fetched
            .data
            .tags
            .iter()
            .filter(|tag| tag.key == "mlflow.runName")
            .count(),
        1
    );
}

pub async fn run_update_delete_restore(store: Store) {
    let id = experiment(&store, "update").await;
    let run_id = run(&store, &id, "r").await;
    let info = store
        .update_run(UpdateRun {
            run_id: run_id.clone(),
            status: Some(RunStatus::Finished),
            end_time: Some(5_000),
            run_name: None,
        })
        .await
        .unwrap();
    assert_eq!(info.status, RunStatus::Finished);
    assert_eq!(info.end_time, Some(5_000));
    assert_eq!(info.run_name, "r");

    // Logging to a finished run is allowed.
    log_metrics(&store, &run_id, vec![Metric::new("after", 1.0, 1, 0)]).await;

    store.delete_run(&run_id).await.unwrap();
    assert_eq!(
        store.get_run(&run_id).await.unwrap().info.lifecycle_stage,
        LifecycleStage::Deleted
    );
    store.restore_run(&run_id).await.unwrap();
    assert_eq!(
        store.get_run(&run_id).await.unwrap().info.lifecycle_stage,
        LifecycleStage::Active
    );
    assert_error(
        store.delete_run("missing").await,
        ErrorKind::ResourceDoesNotExist,
        "Run with id=missing not found",
    );
    assert_error(
        store
            .update_run(UpdateRun {
                run_id: "missing".into(),
                status: None,
                end_time: None,
                run_name: None,
            })
            .await,
        ErrorKind::ResourceDoesNotExist,
        "Run with id=missing not found",
    );
}

pub async fn run_tags_and_deleted_run_writes(store: Store) {
    let id = experiment(&store, "tags").await;
    let run_id = run(&store, &id, "r").await;
    store.set_run_tag(&run_id, kv("t", "1")).await.unwrap();
    store.set_run_tag(&run_id, kv("t", "2")).await.unwrap();
    assert_eq!(
        tag(&store.get_run(&run_id).await.unwrap().data.tags, "t"),
        Some("2")
    );
    store.delete_run_tag(&run_id, "t").await.unwrap();
    assert_eq!(
        tag(&store.get_run(&run_id).await.unwrap().data.tags, "t"),
        None
    );
    assert_error(
        store.delete_run_tag(&run_id, "t").await,
        ErrorKind::ResourceDoesNotExist,
        &format!("No tag with name: t in run with id {run_id}"),
    );

    store.delete_run(&run_id).await.unwrap();
    let message =
        format!("The run {run_id} must be in the 'active' state. Current state is deleted.");
    assert_error(
        store
            .log_batch(
                &run_id,
                LogBatch {
                    metrics: vec![Metric::new("x", 1.0, 1, 0)],
                    ..LogBatch::default()
                },
            )
            .await,
        ErrorKind::InvalidParameterValue,
        &message,
    );
    assert_error(
        store.set_run_tag(&run_id, kv("a", "b")).await,
        ErrorKind::InvalidParameterValue,
        &message,
    );
    assert_error(
        store.delete_run_tag(&run_id, "a").await,
        ErrorKind::InvalidParameterValue,
        &message,
    );
    assert_error(
        store.log_inputs(&run_id, vec![], vec![]).await,
        ErrorKind::InvalidParameterValue,
        &message,
    );
    assert_error(
        store.log_outputs(&run_id, vec![]).await,
        ErrorKind::InvalidParameterValue,
        &message,
    );
    assert_error(
        store
            .update_run(UpdateRun {
                run_id: run_id.clone(),
                status: Some(RunStatus::Failed),
                end_time: None,
                run_name: None,
            })
            .await,
        ErrorKind::InvalidParameterValue,
        &message,
    );
    assert_error(
        store.log_batch("nope", LogBatch::default()).await,
        ErrorKind::ResourceDoesNotExist,
        "Run with id=nope not found",
    );
}

pub async fn create_run_in_deleted_experiment_is_refused(store: Store) {
    let id = experiment(&store, "gone").await;
    store.delete_experiment(&id).await.unwrap();
    assert_error(
        store
            .create_run(CreateRun {
                experiment_id: id.clone(),
                user_id: "u".into(),
                run_name: "r".into(),
                start_time: 1,
                tags: vec![],
            })
            .await,
        ErrorKind::InvalidParameterValue,
        &format!("The experiment {id} must be in the 'active' state. Current state is deleted."),
    );
}

pub async fn params_are_immutable(store: Store) {
    let id = experiment(&store, "params").await;
    let run_id = run(&store, &id, "r").await;
    let params = |pairs: &[(&str, &str)]| LogBatch {
        params: pairs.iter().map(|(k, v)| kv(k, v)).collect(),
        ..LogBatch::default()
    };
    store
        .log_batch(&run_id, params(&[("p", "x"), ("q", "1")]))
        .await
        .unwrap();
    // The same value again is fine.
    store
        .log_batch(&run_id, params(&[("p", "x")]))
        .await
        .unwrap();
    assert_error(
        store.log_batch(&run_id, params(&[("p", "z")])).await,
        ErrorKind::InvalidParameterValue,
        &format!(
            "Changing param values is not allowed. Param with key='p' was already logged with value='x' \
             for run ID='{run_id}'. Attempted logging new value 'z'."
        ),
    );
    let error = store
        .log_batch(&run_id, params(&[("p", "z"), ("new", "n")]))
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidParameterValue);
    assert!(error
        .message
        .starts_with("Changing param values is not allowed."));
    // All or nothing: "new" was not logged with the failing batch.
    let fetched = store.get_run(&run_id).await.unwrap();
    assert_eq!(fetched.data.params, vec![kv("p", "x"), kv("q", "1")]);
}

pub async fn metrics_nan_inf_round_trip(store: Store) {
    let id = experiment(&store, "nan").await;
    let run_id = run(&store, &id, "r").await;
    log_metrics(
        &store,
        &run_id,
        vec![
            Metric::new("nan", f64::NAN, 1, 0),
            Metric::new("inf", f64::INFINITY, 1, 0),
            Metric::new("ninf", f64::NEG_INFINITY, 1, 0),
            Metric::new("zero", 0.0, 1, 0),
        ],
    )
    .await;
    let fetched = store.get_run(&run_id).await.unwrap();
    assert!(metric_value(&fetched, "nan").unwrap().is_nan());
    assert_eq!(metric_value(&fetched, "inf"), Some(f64::INFINITY));
    assert_eq!(metric_value(&fetched, "ninf"), Some(f64::NEG_INFINITY));
    assert_eq!(metric_value(&fetched, "zero"), Some(0.0));
    let history = store
        .get_metric_history(&run_id, "nan", None)
        .await
        .unwrap();
    assert_eq!(history.items.len(), 1);
    assert!(history.items[0].value.is_nan());
    // A NaN point and a 0.0 point at the same step/timestamp are different points.
    log_metrics(&store, &run_id, vec![Metric::new("nan", 0.0, 1, 0)]).await;
    log_metrics(&store, &run_id, vec![Metric::new("nan", f64::NAN, 1, 0)]).await;
    let history = store
        .get_metric_history(&run_id, "nan", None)
        .await
        .unwrap();
    assert_eq!(history.items.len(), 2);
    let history = store
        .get_metric_history(&run_id, "inf", None)
        .await
        .unwrap();
    assert_eq!(history.items[0].value, f64::INFINITY);
}

pub async fn latest_metric_rules(store: Store) {
    let id = experiment(&store, "latest").await;
    let run_id = run(&store, &id, "r").await;
    // Max step wins even with an older timestamp and a smaller value.
    log_metrics(
        &store,
        &run_id,
        vec![
            Metric::new("a", 5.0, 100, 1),
            Metric::new("a", 1.0, 50, 2),
            Metric::new("a", 9.0, 200, 1),
        ],
    )
    .await;
    let fetched = store.get_run(&run_id).await.unwrap();
    assert_eq!(metric_value(&fetched, "a"), Some(1.0));
    // Same step: max timestamp wins.
    log_metrics(&store, &run_id, vec![Metric::new("a", 0.5, 60, 2)]).await;
    assert_eq!(
        metric_value(&store.get_run(&run_id).await.unwrap(), "a"),
        Some(0.5)
    );
    // Same step and timestamp: max value wins, across batches.
    log_metrics(&store, &run_id, vec![Metric::new("a", 0.7, 60, 2)]).await;
    log_metrics(&store, &run_id, vec![Metric::new("a", 0.6, 60, 2)]).await;
    let latest = store.get_run(&run_id).await.unwrap();
    let metric = latest.data.metrics.iter().find(|m| m.key == "a").unwrap();
    assert_eq!((metric.value, metric.timestamp, metric.step), (0.7, 60, 2));
    // An older point does not replace it.
    log_metrics(&store, &run_id, vec![Metric::new("a", 100.0, 1, 0)]).await;
    assert_eq!(
        metric_value(&store.get_run(&run_id).await.unwrap(), "a"),
        Some(0.7)
    );
    assert_eq!(
        store
            .get_metric_history(&run_id, "a", None)
            .await
            .unwrap()
            .items
            .len(),
        7
    );
}

pub async fn metric_dedup_and_history_paging(store: Store) {
    let id = experiment(&store, "history").await;
    let run_id = run(&store, &id, "r").await;
    let points: Vec<Metric> = (0..10)
        .map(|step| Metric::new("m", step as f64 / 10.0, 1_000 + step, step))
        .collect();
    log_metrics(&store, &run_id, points.clone()).await;
    // Identical points are deduplicated (within a batch and across batches).
    log_metrics(&store, &run_id, points.clone()).await;
    log_metrics(&store, &run_id, vec![points[0].clone(), points[0].clone()]).await;
    let history = store.get_metric_history(&run_id, "m", None).await.unwrap();
    assert_eq!(history.items.len(), 10);
    assert_eq!(history.next_page_token, None);
    let steps: Vec<i64> = history.items.iter().map(|m| m.step).collect();
    assert_eq!(steps, (0..10).collect::<Vec<i64>>());
    assert!(history.items.iter().all(|m| m.key == "m"));

    let first = store
        .get_metric_history(
            &run_id,
            "m",
            Some(HistoryPage {
                max_results: 4,
                offset: 0,
                after: None,
            }),
        )
        .await
        .unwrap();
    assert_eq!(first.items.len(), 4);
    let (offset, after) = decode_history_token(first.next_page_token.as_deref()).unwrap();
    assert_eq!(offset, 4);
    assert_eq!(after.map(|cursor| cursor.step), Some(3));
    // The token's cursor, and the bare offset of an MLflow-style token, give the same next page.
    for after in [after, None] {
        let rest = store
            .get_metric_history(
                &run_id,
                "m",
                Some(HistoryPage {
                    max_results: 100,
                    offset,
                    after,
                }),
            )
            .await
            .unwrap();
        assert_eq!(rest.items.len(), 6);
        assert_eq!(rest.next_page_token, None);
        assert_eq!(rest.items[0].step, 4);
    }

    // Paging one point at a time through ties (same step, same timestamp, NaN, -inf) yields
    // exactly the whole history, in order.
    let mut tied = Vec::new();
    for (timestamp, value) in [
        (5, 1.0),
        (5, f64::NAN),
        (5, -1.0),
        (5, f64::NEG_INFINITY),
        (4, 9.0),
        (6, 0.0),
    ] {
        tied.push(Metric::new("tied", value, timestamp, 7));
        tied.push(Metric::new("tied", value, timestamp, -2));
    }
    log_metrics(&store, &run_id, tied.clone()).await;
    let whole = store
        .get_metric_history(&run_id, "tied", None)
        .await
        .unwrap()
        .items;
    assert_eq!(whole.len(), tied.len());
    let mut paged = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let (offset, after) = decode_history_token(token.as_deref()).unwrap();
        let page = store
            .get_metric_history(
                &run_id,
                "tied",
                Some(HistoryPage {
                    max_results: 1,
                    offset,
                    after,
                }),
            )
            .await
            .unwrap();
        paged.extend(page.items);
        token = page.next_page_token;
        if token.is_none() {
            break;
        }
        assert!(paged.len() <= tied.len(), "paging does not end");
    }
    let describe = |points: &[Metric]| -> Vec<(i64, i64, u64)> {
        points
            .iter()
            .map(|m| (m.step, m.timestamp, m.value.to_bits()))
            .collect()
    };
    assert_eq!(describe(&paged), describe(&whole));

    assert!(store
        .get_metric_history(&run_id, "missing", None)
        .await
        .unwrap()
        .items
        .is_empty());
}

pub async fn metric_extra_fields_are_kept(store: Store) {
    let id = experiment(&store, "fields").await;
    let run_id = run(&store, &id, "r").await;
    let mut metric = Metric::new("acc", 0.9, 10, 1);
    metric.model_id = Some("m-123".into());
    metric.dataset_name = Some("train".into());
    metric.dataset_digest = Some("abc".into());
    log_metrics(&store, &run_id, vec![metric.clone()]).await;
    let history = store
        .get_metric_history(&run_id, "acc", None)
        .await
        .unwrap();
    assert_eq!(history.items, vec![metric.clone()]);
    let fetched = store.get_run(&run_id).await.unwrap();
    assert_eq!(fetched.data.metrics, vec![metric]);
}

pub async fn large_history_round_trip(store: Store) {
    let id = experiment(&store, "large").await;
    let run_id = run(&store, &id, "r").await;
    let mut expected = Vec::new();
    for chunk in 0..20_i64 {
        // Logged newest first, to check the history order does not depend on insertion order.
        let metrics: Vec<Metric> = (0..1000_i64)
            .rev()
            .map(|index| {
                let step = (19 - chunk) * 1000 + index;
                let mut metric = Metric::new("loss", 1.0 / (step as f64 + 3.0), 7 * step, step);
                if step % 997 == 0 {
                    metric.value = f64::NAN;
                    metric.model_id = Some(format!("m-{step}"));
                    metric.dataset_digest = Some("d,;~".into());
                }
                metric
            })
            .collect();
        expected.extend(metrics.iter().cloned());
        log_metrics(&store, &run_id, metrics).await;
    }
    expected.sort_by_key(|metric| metric.step);
    let history = store
        .get_metric_history(&run_id, "loss", None)
        .await
        .unwrap();
    assert_eq!(history.items.len(), 20_000);
    for (got, want) in history.items.iter().zip(&expected) {
        assert_eq!((got.step, got.timestamp), (want.step, want.timestamp));
        assert!(got.value == want.value || (got.value.is_nan() && want.value.is_nan()));
        assert_eq!(got.model_id, want.model_id);
        assert_eq!(got.dataset_name, want.dataset_name);
        assert_eq!(got.dataset_digest, want.dataset_digest);
    }
    // A page big enough to be read in two halves at once, then the rest through its token.
    let paged = store
        .get_metric_history(
            &run_id,
            "loss",
            Some(HistoryPage {
                max_results: 16_500,
                offset: 2_000,
                after: None,
            }),
        )
        .await
        .unwrap();
    assert_eq!(paged.items.len(), 16_500);
    assert_eq!(paged.items[0].step, 2_000);
    let (offset, after) = decode_history_token(paged.next_page_token.as_deref()).unwrap();
    assert_eq!(offset, 18_500);
    let rest = store
        .get_metric_history(
            &run_id,
            "loss",
            Some(HistoryPage {
                max_results: 16_500,
                offset,
                after,
            }),
        )
        .await
        .unwrap();
    assert_eq!(rest.next_page_token, None);
    let steps: Vec<i64> = paged
        .items
        .iter()
        .chain(&rest.items)
        .map(|m| m.step)
        .collect();
    assert_eq!(steps, (2_000..20_000).collect::<Vec<i64>>());
}

pub async fn metric_series_min_max_buckets(store: Store) {
    let id = experiment(&store, "series").await;
    let run_id = run(&store, &id, "r").await;
    // 10,000 points of a smooth curve with one spike and one dip, logged out of order.
    let mut points: Vec<Metric> = (0..10_000_i64)
        .map(|step| Metric::new("loss", (step as f64 / 500.0).sin(), step * 10, step))
        .collect();
    points[4_321].value = 50.0;
    points[8_765].value = -40.0;
    points[100].value = f64::NAN;
    points.reverse();
    for chunk in points.chunks(1_000) {
        log_metrics(&store, &run_id, chunk.to_vec()).await;
    }
    let request = |steps, buckets| SeriesRequest {
        run_id: run_id.clone(),
        metric_key: "loss".into(),
        steps,
        buckets,
    };
    let series = store.metric_series(request(None, 100)).await.unwrap();
    assert!(
        series.len() <= 200 && series.len() >= 100,
        "{}",
        series.len()
    );
    assert!(series.windows(2).all(|pair| pair[0].step <= pair[1].step));
    assert!(series.iter().any(|m| m.step == 4_321 && m.value == 50.0));
    assert!(series.iter().any(|m| m.step == 8_765 && m.value == -40.0));
    assert!(series.iter().all(|m| !m.value.is_nan()));
    assert!(series.iter().all(|m| m.timestamp == m.step * 10));
    // Buckets wider than a 256-step block: read from the stored block extremes (SQLite), with the
    // blocks a range cuts read point by point. Same answer: extremes kept, range respected.
    let coarse = store.metric_series(request(None, 10)).await.unwrap();
    assert!(coarse.len() <= 20, "{}", coarse.len());
    assert!(coarse.iter().any(|m| m.step == 4_321 && m.value == 50.0));
    assert!(coarse.iter().any(|m| m.step == 8_765 && m.value == -40.0));
    assert!(coarse.windows(2).all(|pair| pair[0].step <= pair[1].step));
    let cut = store
        .metric_series(request(Some((4_000, 9_100)), 10))
        .await
        .unwrap();
    assert!(
        cut.iter().all(|m| (4_000..=9_100).contains(&m.step)),
        "{cut:?}"
    );
    assert!(cut.iter().any(|m| m.step == 8_765 && m.value == -40.0));
    assert!(cut.iter().any(|m| m.step == 4_321 && m.value == 50.0));
    let edge = store
        .metric_series(request(Some((4_322, 9_000)), 10))
        .await
        .unwrap();
    assert!(
        edge.iter().all(|m| m.step != 4_321),
        "a cut block's outside point leaked"
    );
    // A narrow range with fewer points than buckets: every point, exactly.
    let window = store
        .metric_series(request(Some((4_300, 4_349)), 100))
        .await
        .unwrap();
    assert_eq!(window.len(), 50);
    assert_eq!(window[21].value, 50.0);
    assert_eq!(window[0].step, 4_300);
    let empty = store.metric_series(SeriesRequest {
        metric_key: "missing".into(),
        ..request(None, 100)
    });
    assert!(empty.await.unwrap().is_empty());
    // A metric logged without steps (all at step 0): buckets over time, the spike kept.
    let flat: Vec<Metric> = (0..5_000_i64)
        .map(|ts| {
            Metric::new(
                "flat",
                if ts == 1_234 { 9.0 } else { (ts % 7) as f64 },
                ts,
                0,
            )
        })
        .collect();
    for chunk in flat.chunks(1_000) {
        log_metrics(&store, &run_id, chunk.to_vec()).await;
    }
    let over_time = store
        .metric_series(SeriesRequest {
            metric_key: "flat".into(),
            ..request(None, 100)
        })
        .await
        .unwrap();
    assert!(
        over_time.len() >= 100 && over_time.len() <= 200,
        "{}",
        over_time.len()
    );
    assert!(over_time
        .iter()
        .any(|m| m.timestamp == 1_234 && m.value == 9.0));
    assert!(over_time
        .windows(2)
        .all(|pair| pair[0].timestamp <= pair[1].timestamp));
    assert!(over_time.first().is_some_and(|m| m.timestamp < 50));
    assert!(over_time.last().is_some_and(|m| m.timestamp > 4_950));
    // Steps at the ends of i64, open-ended ranges: buckets without overflow.
    let extremes: Vec<Metric> = [i64::MIN, -1, 0, 1, i64::MAX]
        .iter()
        .enumerate()
        .map(|(index, step)| Metric::new("wide", index as f64, 5, *step))
        .collect();
    log_metrics(&store, &run_id, extremes).await;
    let wide = |steps| SeriesRequest {
        metric_key: "wide".into(),
        ..request(steps, 2)
    };
    let all = store.metric_series(wide(None)).await.unwrap();
    assert!(all.iter().any(|m| m.step == i64::MIN) && all.iter().any(|m| m.step == i64::MAX));
    let left = store
        .metric_series(wide(Some((i64::MIN, 0))))
        .await
        .unwrap();
    assert!(left.iter().all(|m| m.step <= 0) && !left.is_empty());
}

pub async fn experiment_run_stats_count_active_runs(store: Store) {
    let id = experiment(&store, "stats").await;
    let other = experiment(&store, "stats-empty").await;
    let first = run(&store, &id, "a").await;
    run(&store, &id, "b").await;
    let deleted = run(&store, &id, "c").await;
    store.delete_run(&deleted).await.unwrap();
    let stats = store
        .experiment_run_stats(&[id.clone(), other.clone(), "not-a-number".into()])
        .await
        .unwrap();
    assert_eq!(stats.len(), 1);
    assert_eq!(stats[0].experiment_id, id);
    assert_eq!(stats[0].active_runs, 2);
    let started = store.get_run(&first).await.unwrap().info.start_time;
    assert!(stats[0].last_run_start >= Some(started));
}

pub async fn history_bulk_interval(store: Store) {
    let id = experiment(&store, "bulk").await;
    let first = run(&store, &id, "a").await;
    let second = run(&store, &id, "b").await;
    log_metrics(
        &store,
        &first,
        (0..100)
            .map(|s| Metric::new("loss", s as f64, s, s))
            .collect(),
    )
    .await;
    log_metrics(
        &store,
        &second,
        (0..50)
            .map(|s| Metric::new("loss", s as f64, s, s * 2))
            .collect(),
    )
    .await;
    let all = store
        .get_metric_history_bulk_interval(HistoryInterval {
            run_ids: vec![second.clone(), first.clone()],
            metric_key: "loss".into(),
            start_step: None,
            end_step: None,
            max_results: 1000,
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 150);
    // Grouped by run in the order asked, each run by step.
    assert_eq!(all[0].run_id.as_deref(), Some(second.as_str()));
    assert_eq!(all[149].run_id.as_deref(), Some(first.as_str()));
    let sampled = store
        .get_metric_history_bulk_interval(HistoryInterval {
            run_ids: vec![first.clone()],
            metric_key: "loss".into(),
            start_step: Some(10),
            end_step: Some(50),
            max_results: 5,
        })
        .await
        .unwrap();
    let steps: Vec<i64> = sampled.iter().map(|m| m.step).collect();
    assert!(steps.len() <= 5 && steps.len() >= 2, "{steps:?}");
    assert_eq!(steps.first(), Some(&10));
    assert_eq!(steps.last(), Some(&50));
}

pub async fn inputs_and_outputs(store: Store) {
    let id = experiment(&store, "inputs").await;
    let first = run(&store, &id, "a").await;
    let second = run(&store, &id, "b").await;
    let dataset = Dataset {
        name: "d".into(),
        digest: "abc".into(),
        source_type: "local".into(),
        source: "{\"uri\": \"/data/x\"}".into(),
        schema: Some(String::new()),
        profile: None,
    };
    let input = DatasetInput {
        dataset: dataset.clone(),
        tags: vec![kv("mlflow.data.context", "training")],
    };
    store
        .log_inputs(
            &first,
            vec![input.clone()],
            vec![ModelInput {
                model_id: "m-1".into(),
            }],
        )
        .await
        .unwrap();
    // Logging the same input again changes nothing.
    store
        .log_inputs(&first, vec![input.clone()], vec![])
        .await
        .unwrap();
    store
        .log_inputs(
            &second,
            vec![DatasetInput {
                dataset: dataset.clone(),
                tags: vec![kv("mlflow.data.context", "eval")],
            }],
            vec![],
        )
        .await
        .unwrap();
    store
        .log_outputs(
            &first,
            vec![ModelOutput {
                model_id: "m-2".into(),
                step: 3,
            }],
        )
        .await
        .unwrap();
    let fetched = store.get_run(&first).await.unwrap();
    assert_eq!(fetched.inputs.dataset_inputs, vec![input]);
    assert_eq!(
        fetched.inputs.model_inputs,
        vec![ModelInput {
            model_id: "m-1".into()
        }]
    );
    assert_eq!(
        fetched.outputs.model_outputs,
        vec![ModelOutput {
            model_id: "m-2".into(),
            step: 3
        }]
    );
    assert_eq!(
        search_runs(
            &store,
            &[&id],
            "datasets.name = 'd'",
            &["attributes.run_name ASC"]
        )
        .await,
        vec!["a", "b"]
    );
    assert_eq!(
        search_runs(&store, &[&id], "datasets.context = 'eval'", &[]).await,
        vec!["b"]
    );
    assert_eq!(
        search_runs(
            &store,
            &[&id],
            "datasets.digest IN ('abc', 'zzz')",
            &["attributes.run_name DESC"]
        )
        .await,
        vec!["b", "a"]
    );
}

/// Three runs with metrics, params and tags for the search tests.
async fn search_fixture(store: &Store) -> String {
    let id = experiment(store, "search").await;
    let rows: [(&str, i64, Option<f64>, &str, &str); 4] = [
        ("r1", 1_000, Some(0.5), "x", "Alpha"),
        ("r2", 2_000, Some(0.9), "y", "beta"),
        ("r3", 3_000, None, "x", "alphabet"),
        ("r4", 4_000, Some(f64::NAN), "z", "gamma"),
    ];
    for (name, start, metric, param, tag_value) in rows {
        let run_id = run_at(store, &id, name, start).await;
        store
            .log_batch(
                &run_id,
                LogBatch {
                    metrics: metric
                        .map(|value| vec![Metric::new("m", value, start, 0)])
                        .unwrap_or_default(),
                    params: vec![kv("p", param)],
                    tags: vec![kv("t", tag_value)],
                },
            )
            .await
            .unwrap();
    }
    id
}

/// Every run of experiment `id` as a search returns it (through the run cache), checked against
/// `get_run` (which never uses it).
async fn searched_runs(store: &Store, id: &str) -> Vec<Arc<cairn_core::entities::Run>> {
    let runs = store
        .search_runs(SearchRuns {
            experiment_ids: vec![id.to_owned()],
            filter: filter(SearchKind::Runs, ""),
            view_type: ViewType::ActiveOnly,
            order_by: order(SearchKind::Runs, &["attributes.run_name ASC"]),
            page: page(1000),
        })
        .await
        .unwrap()
        .items;
    for run in &runs {
        assert_eq!(**run, store.get_run(&run.info.run_id).await.unwrap());
    }
    runs
}

/// A search after a search (whose runs are cached) sees every kind of write made between them:
/// metrics (new key, newer point, older point), params, tags set and deleted, the name, status and
/// end time, dataset and model inputs, model outputs; `writer` may be a second store on the same database
/// (another process or replica), whose writes this store's cache never hears about.
pub async fn search_sees_writes(store: Store, writer: Store) {
    let id = experiment(&store, "cached").await;
    let first = run(&store, &id, "a").await;
    let second = run(&store, &id, "b").await;
    let before = searched_runs(&store, &id).await;
    assert_eq!(before.len(), 2);
    assert!(before[0].data.metrics.is_empty());

    type Check = fn(&cairn_core::entities::Run) -> bool;
    let checks: [(&str, Check); 12] = [
        ("new metric", |r| metric_value(r, "m") == Some(1.0)),
        ("newer point", |r| metric_value(r, "m") == Some(2.0)),
        ("older point", |r| metric_value(r, "m") == Some(2.0)),
        ("param", |r| r.data.params == vec![kv("p", "x")]),
        ("tag", |r| tag(&r.data.tags, "t") == Some("v")),
        ("tag again", |r| tag(&r.data.tags, "t") == Some("w")),
        ("tag deleted", |r| tag(&r.data.tags, "t").is_none()),
        ("renamed", |r| {
            r.info.run_name == "a2" && tag(&r.data.tags, "mlflow.runName") == Some("a2")
        }),
        ("finished", |r| {
            r.info.status == RunStatus::Finished && r.info.end_time == Some(9)
        }),
        ("dataset", |r| r.inputs.dataset_inputs.len() == 1),
        ("model input", |r| r.inputs.model_inputs.len() == 1),
        ("model output", |r| r.outputs.model_outputs.len() == 1),
    ];
    for (what, check) in checks {
        match what {
            "new metric" => log_metrics(&writer, &first, vec![Metric::new("m", 1.0, 5, 1)]).await,
            "newer point" => log_metrics(&writer, &first, vec![Metric::new("m", 2.0, 5, 2)]).await,
            "older point" => log_metrics(&writer, &first, vec![Metric::new("m", 9.0, 5, 0)]).await,
            "param" => writer
                .log_batch(
                    &first,
                    LogBatch {
                        params: vec![kv("p", "x")],
                        ..LogBatch::default()
                    },
                )
                .await
                .unwrap(),
            "tag" => writer.set_run_tag(&first, kv("t", "v")).await.unwrap(),
            "tag again" => writer
                .log_batch(
                    &first,
                    LogBatch {
                        tags: vec![kv("t", "w")],
                        ..LogBatch::default()
                    },
                )
                .await
                .unwrap(),
            "tag deleted" => writer.delete_run_tag(&first, "t").await.unwrap(),
            "renamed" => {
                writer
                    .update_run(UpdateRun {
                        run_id: first.clone(),
                        status: None,
                        end_time: None,
                        run_name: Some("a2".into()),
                    })
                    .await
                    .unwrap();
            }
            "finished" => {
                writer
                    .update_run(UpdateRun {
                        run_id: first.clone(),
                        status: Some(RunStatus::Finished),
                        end_time: Some(9),
                        run_name: None,
                    })
                    .await
                    .unwrap();
            }
            "dataset" => writer
                .log_inputs(
                    &first,
                    vec![DatasetInput {
                        dataset: Dataset {
                            name: "d".into(),
                            digest: "abc".into(),
                            source_type: "local".into(),
                            source: "{}".into(),
                            schema: None,
                            profile: None,
                        },
                        tags: vec![kv("mlflow.data.context", "training")],
                    }],
                    vec![],
                )
                .await
                .unwrap(),
            "model input" => writer
                .log_inputs(
                    &first,
                    vec![],
                    vec![ModelInput {
                        model_id: "m-1".into(),
                    }],
                )
                .await
                .unwrap(),
            "model output" => writer
                .log_outputs(
                    &first,
                    vec![ModelOutput {
                        model_id: "m-2".into(),
                        step: 1,
                    }],
                )
                .await
                .unwrap(),
            other => unreachable!("{other}"),
        }
        let runs = searched_runs(&store, &id).await;
        let changed = runs
            .iter()
            .find(|r| r.info.run_id == first)
            .expect("the written run is found");
        assert!(check(changed), "{what}: the search shows {changed:?}");
        // The other run's cached parts are still right.
        let untouched = runs.iter().find(|r| r.info.run_id == second).unwrap();
        assert_eq!(untouched, &before[1], "{what}");
    }
}

pub async fn search_after_every_kind_of_write_sees_it(store: Store) {
    search_sees_writes(store.clone(), store).await;
}

pub async fn search_runs_filters(store: Store) {
    let id = search_fixture(&store).await;
    let check = |filter: &'static str, expected: &'static [&'static str]| {
        let store = store.clone();
        let id = id.clone();
        async move {
            let found = search_runs(&store, &[&id], filter, &["attributes.run_name ASC"]).await;
            assert_eq!(found, expected, "filter: {filter}");
        }
    };
    check("", &["r1", "r2", "r3", "r4"]).await;
    check("metrics.m > 0.1", &["r1", "r2"]).await;
    check("metrics.m > 0.1 and params.p = 'x'", &["r1"]).await;
    check("metrics.m = 0.9", &["r2"]).await;
    check("metrics.m <= 0.5", &["r1"]).await;
    check("params.p != 'x'", &["r2", "r4"]).await;
    check("params.p IN ('y', 'z')", &["r2", "r4"]).await;
    check("tags.t LIKE 'alpha%'", &["r3"]).await;
    check("tags.t ILIKE 'alpha%'", &["r1", "r3"]).await;
    check("tags.t LIKE '%a'", &["r1", "r2", "r4"]).await;
    check("tags.missing IS NULL", &["r1", "r2", "r3", "r4"]).await;
    check("tags.t IS NOT NULL", &["r1", "r2", "r3", "r4"]).await;
    check("attributes.run_name = 'r2'", &["r2"]).await;
    check("attributes.run_name ILIKE 'R%'", &["r1", "r2", "r3", "r4"]).await;
    check("attributes.start_time >= 3000", &["r3", "r4"]).await;
    check("attributes.status = 'RUNNING'", &["r1", "r2", "r3", "r4"]).await;
    check("params.p = 'x' and attributes.start_time < 2000", &["r1"]).await;
    // Values are bound, never spliced into SQL.
    check("params.p = 'x'' OR ''1''=''1'", &[]).await;
    check("tags.t = 'Alpha''; DROP TABLE runs; --'", &[]).await;

    let first = search_runs(&store, &[&id], "attributes.run_name = 'r1'", &[]).await;
    assert_eq!(first, vec!["r1"]);
    let all = store
        .search_runs(SearchRuns {
            experiment_ids: vec![id.clone()],
            filter: Filter::default(),
            view_type: ViewType::ActiveOnly,
            order_by: vec![],
            page: page(10),
        })
        .await
        .unwrap();
    let run_id = all.items[0].info.run_id.clone();
    let by_id = store
        .search_runs(SearchRuns {
            experiment_ids: vec![id.clone()],
            filter: filter(
                SearchKind::Runs,
                &format!("attributes.run_id IN ('{run_id}')"),
            ),
            view_type: ViewType::ActiveOnly,
            order_by: vec![],
            page: page(10),
        })
        .await
        .unwrap();
    assert_eq!(by_id.items.len(), 1);
    // Runs carry their data.
    let r2 = &search_runs_full(&store, &id, "attributes.run_name = 'r2'").await[0];
    assert_eq!(metric_value(r2, "m"), Some(0.9));
    assert_eq!(r2.data.params, vec![kv("p", "y")]);
    assert_eq!(tag(&r2.data.tags, "t"), Some("beta"));
    // Another experiment's runs are not returned.
    let other = experiment(&store, "other").await;
    assert!(search_runs(&store, &[&other], "", &[]).await.is_empty());
}

async fn search_runs_full(
    store: &Store,
    experiment_id: &str,
    filter_text: &str,
) -> Vec<Arc<cairn_core::entities::Run>> {
    store
        .search_runs(SearchRuns {
            experiment_ids: vec![experiment_id.to_string()],
            filter: filter(SearchKind::Runs, filter_text),
            view_type: ViewType::ActiveOnly,
            order_by: vec![],
            page: page(100),
        })
        .await
        .unwrap()
        .items
}

pub async fn search_runs_order_nan_and_missing_last(store: Store) {
    let id = search_fixture(&store).await;
    // Values first, then NaN, then missing: in both directions.
    assert_eq!(
        search_runs(&store, &[&id], "", &["metrics.m DESC"]).await,
        vec!["r2", "r1", "r4", "r3"]
    );
    assert_eq!(
        search_runs(&store, &[&id], "", &["metrics.m ASC"]).await,
        vec!["r1", "r2", "r4", "r3"]
    );
    // Default order: start_time DESC.
    assert_eq!(
        search_runs(&store, &[&id], "", &[]).await,
        vec!["r4", "r3", "r2", "r1"]
    );
    assert_eq!(
        search_runs(&store, &[&id], "", &["attributes.start_time ASC"]).await,
        vec!["r1", "r2", "r3", "r4"]
    );
    // Params: ties broken by start_time DESC.
    assert_eq!(
        search_runs(&store, &[&id], "", &["params.p ASC"]).await,
        vec!["r3", "r1", "r2", "r4"]
    );
    assert_eq!(
        search_runs(&store, &[&id], "", &["tags.t DESC"]).await,
        vec!["r4", "r2", "r3", "r1"]
    );
    assert_eq!(
        search_runs(&store, &[&id], "metrics.m > 0", &["metrics.m DESC"]).await,
        vec!["r2", "r1"]
    );
}

pub async fn search_runs_paging_and_view_type(store: Store) {
    let id = experiment(&store, "paging").await;
    for index in 0..7 {
        run_at(&store, &id, &format!("r{index}"), 1_000 + index).await;
    }
    let mut names = Vec::new();
    let mut offset = 0;
    let mut pages = 0;
    loop {
        let found = store
            .search_runs(SearchRuns {
                experiment_ids: vec![id.clone()],
                filter: Filter::default(),
                view_type: ViewType::ActiveOnly,
                order_by: vec![],
                page: PageRequest {
                    max_results: 3,
                    offset,
                },
            })
            .await
            .unwrap();
        pages += 1;
        names.extend(found.items.into_iter().map(|run| run.info.run_name.clone()));
        match found.next_page_token {
            Some(token) => offset = decode_page_token(Some(&token)).unwrap(),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names, vec!["r6", "r5", "r4", "r3", "r2", "r1", "r0"]);

    // Exactly one page: no token.
    let exact = store
        .search_runs(SearchRuns {
            experiment_ids: vec![id.clone()],
            filter: Filter::default(),
            view_type: ViewType::ActiveOnly,
            order_by: vec![],
            page: page(7),
        })
        .await
        .unwrap();
    assert_eq!(exact.items.len(), 7);
    assert_eq!(exact.next_page_token, None);

    let deleted = exact.items[0].info.run_id.clone();
    store.delete_run(&deleted).await.unwrap();
    let view = |view_type| SearchRuns {
        experiment_ids: vec![id.clone()],
        filter: Filter::default(),
        view_type,
        order_by: vec![],
        page: page(100),
    };
    assert_eq!(
        store
            .search_runs(view(ViewType::ActiveOnly))
            .await
            .unwrap()
            .items
            .len(),
        6
    );
    let deleted_only = store
        .search_runs(view(ViewType::DeletedOnly))
        .await
        .unwrap();
    assert_eq!(deleted_only.items.len(), 1);
    assert_eq!(deleted_only.items[0].info.run_id, deleted);
    assert_eq!(
        store
            .search_runs(view(ViewType::All))
            .await
            .unwrap()
            .items
            .len(),
        7
    );
}

// ---------------------------------------------------------------------------------------------------
// Logged models

fn create_model(experiment_id: &str, name: &str) -> CreateLoggedModel {
    CreateLoggedModel {
        experiment_id: experiment_id.into(),
        name: name.into(),
        model_type: Some(String::new()),
        source_run_id: None,
        params: vec![kv("lr", "0.1")],
        tags: vec![kv("mlflow.user", "u")],
    }
}

pub async fn logged_model_lifecycle(store: Store) {
    let id = experiment(&store, "models").await;
    let run_id = run(&store, &id, "r").await;
    let mut request = create_model(&id, "model");
    request.source_run_id = Some(run_id.clone());
    let created = store.create_logged_model(request).await.unwrap();
    assert!(created.model_id.starts_with("m-"));
    assert_eq!(created.model_id.len(), 34);
    assert_eq!(created.status, LoggedModelStatus::Pending);
    assert_eq!(created.name, "model");
    assert_eq!(created.model_type.as_deref(), Some(""));
    assert_eq!(created.source_run_id.as_deref(), Some(run_id.as_str()));
    assert_eq!(
        created.artifact_uri,
        format!(
            "mlflow-artifacts:/{id}/models/{}/artifacts",
            created.model_id
        )
    );
    assert_eq!(created.params, vec![kv("lr", "0.1")]);
    assert_eq!(created.tags, vec![kv("mlflow.user", "u")]);
    assert_eq!(
        store.get_logged_model(&created.model_id).await.unwrap(),
        created
    );

    let ready = store
        .finalize_logged_model(&created.model_id, LoggedModelStatus::Ready)
        .await
        .unwrap();
    assert_eq!(ready.status, LoggedModelStatus::Ready);
    assert!(ready.last_updated_timestamp_ms >= created.last_updated_timestamp_ms);

    let tagged = store
        .set_logged_model_tags(
            &created.model_id,
            vec![kv("a", "1"), kv("mlflow.user", "v")],
        )
        .await
        .unwrap();
    assert_eq!(tagged.tags, vec![kv("mlflow.user", "v"), kv("a", "1")]);
    store
        .delete_logged_model_tag(&created.model_id, "a")
        .await
        .unwrap();
    assert!(store
        .delete_logged_model_tag(&created.model_id, "a")
        .await
        .is_err());
    store
        .log_logged_model_params(&created.model_id, vec![kv("epochs", "3")])
        .await
        .unwrap();
    let fetched = store.get_logged_model(&created.model_id).await.unwrap();
    assert_eq!(fetched.params, vec![kv("lr", "0.1"), kv("epochs", "3")]);
    assert_eq!(fetched.tags, vec![kv("mlflow.user", "v")]);

    // A generated name when none is given.
    let unnamed = store
        .create_logged_model(create_model(&id, ""))
        .await
        .unwrap();
    assert!(!unnamed.name.is_empty());

    store.delete_logged_model(&created.model_id).await.unwrap();
    let message = format!("Logged model with ID '{}' not found.", created.model_id);
    assert_error(
        store.get_logged_model(&created.model_id).await,
        ErrorKind::ResourceDoesNotExist,
        &message,
    );
    assert_error(
        store.get_logged_model("m-nope").await,
        ErrorKind::ResourceDoesNotExist,
        "Logged model with ID 'm-nope' not found.",
    );
    assert_eq!(
        store
            .create_logged_model(create_model("9999", "x"))
            .await
            .unwrap_err()
            .kind,
        ErrorKind::ResourceDoesNotExist
    );
}

pub async fn logged_model_metrics_and_search(store: Store) {
    let id = experiment(&store, "model-search").await;
    let run_id = run(&store, &id, "r").await;
    let first = store
        .create_logged_model(create_model(&id, "first"))
        .await
        .unwrap();
    let second = store
        .create_logged_model(create_model(&id, "second"))
        .await
        .unwrap();
    let mut metric = Metric::new("acc", 0.8, 10, 0);
    metric.model_id = Some(first.model_id.clone());
    metric.dataset_name = Some("eval".into());
    let mut other = Metric::new("acc", 0.6, 10, 0);
    other.model_id = Some(second.model_id.clone());
    log_metrics(
        &store,
        &run_id,
        vec![metric.clone(), other, Metric::new("plain", 1.0, 1, 0)],
    )
    .await;
    let fetched = store.get_logged_model(&first.model_id).await.unwrap();
    assert_eq!(fetched.metrics.len(), 1);
    assert_eq!(fetched.metrics[0].key, "acc");
    assert_eq!(fetched.metrics[0].value, 0.8);
    assert_eq!(fetched.metrics[0].run_id.as_deref(), Some(run_id.as_str()));
    assert_eq!(fetched.metrics[0].dataset_name.as_deref(), Some("eval"));

    let search = |filter_text: &str, order_by: &[&str]| SearchLoggedModels {
        experiment_ids: vec![id.clone()],
        filter: filter(SearchKind::LoggedModels, filter_text),
        order_by: order(SearchKind::LoggedModels, order_by),
        page: page(100),
    };
    let names =
        |page: cairn_core::entities::Page<cairn_core::entities::LoggedModel>| -> Vec<String> {
            page.items.into_iter().map(|model| model.name).collect()
        };
    assert_eq!(
        names(
            store
                .search_logged_models(search("name = 'first'", &[]))
                .await
                .unwrap()
        ),
        vec!["first"]
    );
    assert_eq!(
        names(
            store
                .search_logged_models(search("metrics.acc > 0.7", &[]))
                .await
                .unwrap()
        ),
        vec!["first"]
    );
    assert_eq!(
        names(
            store
                .search_logged_models(search("", &["metrics.acc ASC"]))
                .await
                .unwrap()
        ),
        vec!["second", "first"]
    );
    assert_eq!(
        names(
            store
                .search_logged_models(search("params.lr = '0.1'", &["name DESC"]))
                .await
                .unwrap()
        ),
        vec!["second", "first"]
    );
    store.delete_logged_model(&second.model_id).await.unwrap();
    assert_eq!(
        names(store.search_logged_models(search("", &[])).await.unwrap()),
        vec!["first"]
    );
}

// ---------------------------------------------------------------------------------------------------
// Registry

fn version_request(name: &str, source: &str) -> CreateModelVersion {
    CreateModelVersion {
        name: name.into(),
        source: source.into(),
        run_id: None,
        run_link: None,
        description: None,
        model_id: None,
        tags: vec![],
    }
}

pub async fn registered_model_crud(store: Store) {
    let created = store
        .create_registered_model("model", vec![kv("k", "v")], None)
        .await
        .unwrap();
    assert_eq!(created.name, "model");
    assert_eq!(created.description, None);
    assert_eq!(created.tags, vec![kv("k", "v")]);
    assert!(created.latest_versions.is_empty());
    assert_eq!(created.creation_timestamp, created.last_updated_timestamp);
    assert_error(
        store.create_registered_model("model", vec![], None).await,
        ErrorKind::ResourceAlreadyExists,
        "Registered Model (name=model) already exists.",
    );
    assert_error(
        store.get_registered_model("nope").await,
        ErrorKind::ResourceDoesNotExist,
        "Registered Model with name=nope not found",
    );
    let updated = store
        .update_registered_model("model", Some("about".into()))
        .await
        .unwrap();
    assert_eq!(updated.description.as_deref(), Some("about"));
    store
        .set_registered_model_tag("model", kv("k", "v2"))
        .await
        .unwrap();
    store
        .set_registered_model_tag("model", kv("x", "y"))
        .await
        .unwrap();
    store
        .delete_registered_model_tag("model", "x")
        .await
        .unwrap();
    assert_eq!(
        store.get_registered_model("model").await.unwrap().tags,
        vec![kv("k", "v2")]
    );
    assert_eq!(
        store
            .set_registered_model_tag("nope", kv("a", "b"))
            .await
            .unwrap_err()
            .kind,
        ErrorKind::ResourceDoesNotExist
    );
}

pub async fn model_versions_and_stages(store: Store) {
    let model = store
        .create_registered_model("m", vec![], None)
        .await
        .unwrap();
    let mut request = version_request("m", "models:/m-1");
    request.run_id = Some("run".into());
    request.model_id = Some("m-1".into());
    request.tags = vec![kv("t", "1")];
    let v1 = store.create_model_version(request).await.unwrap();
    assert_eq!(v1.version, 1);
    assert_eq!(v1.status, "READY");
    assert_eq!(v1.current_stage, Stage::None);
    assert_eq!(v1.description, "");
    assert_eq!(v1.run_link, "");
    assert_eq!(v1.source, "models:/m-1");
    assert_eq!(v1.run_id.as_deref(), Some("run"));
    assert_eq!(v1.model_id.as_deref(), Some("m-1"));
    assert_eq!(v1.tags, vec![kv("t", "1")]);
    let after_create = store.get_registered_model("m").await.unwrap();
    assert!(after_create.last_updated_timestamp >= model.last_updated_timestamp);
    assert_eq!(after_create.last_updated_timestamp, v1.creation_timestamp);
    assert_eq!(after_create.latest_versions.len(), 1);

    let v2 = store
        .create_model_version(version_request("m", "s2"))
        .await
        .unwrap();
    let v3 = store
        .create_model_version(version_request("m", "s3"))
        .await
        .unwrap();
    assert_eq!((v2.version, v3.version), (2, 3));
    assert_eq!(store.get_model_version("m", 2).await.unwrap().source, "s2");
    assert_error(
        store.get_model_version("m", 42).await,
        ErrorKind::ResourceDoesNotExist,
        "Model Version (name=m, version=42) not found",
    );
    assert_error(
        store
            .create_model_version(version_request("ghost", "s"))
            .await,
        ErrorKind::ResourceDoesNotExist,
        "Registered Model with name=ghost not found",
    );

    let updated = store
        .update_model_version("m", 2, Some("second".into()))
        .await
        .unwrap();
    assert_eq!(updated.description, "second");

    // Stages.
    store
        .transition_model_version_stage("m", 1, Stage::Production, false)
        .await
        .unwrap();
    store
        .transition_model_version_stage("m", 2, Stage::Staging, false)
        .await
        .unwrap();
    let latest = store.get_latest_versions("m", vec![]).await.unwrap();
    let summary: Vec<(i64, Stage)> = latest
        .iter()
        .map(|v| (v.version, v.current_stage))
        .collect();
    assert_eq!(
        summary.iter().copied().collect::<HashSet<_>>(),
        HashSet::from([
            (1, Stage::Production),
            (2, Stage::Staging),
            (3, Stage::None)
        ])
    );
    let production = store
        .get_latest_versions("m", vec![Stage::Production])
        .await
        .unwrap();
    assert_eq!(production.len(), 1);
    assert_eq!(production[0].version, 1);

    // archive_existing_versions moves the other Production versions to Archived.
    let promoted = store
        .transition_model_version_stage("m", 3, Stage::Production, true)
        .await
        .unwrap();
    assert_eq!(promoted.current_stage, Stage::Production);
    assert_eq!(
        store.get_model_version("m", 1).await.unwrap().current_stage,
        Stage::Archived
    );
    assert_eq!(
        store.get_model_version("m", 2).await.unwrap().current_stage,
        Stage::Staging
    );
    let error = store
        .transition_model_version_stage("m", 1, Stage::Archived, true)
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidParameterValue);

    // Tags.
    store
        .set_model_version_tag("m", 2, kv("a", "b"))
        .await
        .unwrap();
    assert_eq!(
        store.get_model_version("m", 2).await.unwrap().tags,
        vec![kv("a", "b")]
    );
    store.delete_model_version_tag("m", 2, "a").await.unwrap();
    assert!(store
        .get_model_version("m", 2)
        .await
        .unwrap()
        .tags
        .is_empty());

    // Delete: the number is never reused.
    store.delete_model_version("m", 3).await.unwrap();
    assert_eq!(
        store.get_model_version("m", 3).await.unwrap_err().kind,
        ErrorKind::ResourceDoesNotExist
    );
    let v4 = store
        .create_model_version(version_request("m", "s4"))
        .await
        .unwrap();
    assert_eq!(v4.version, 4);
    assert!(store
        .get_latest_versions("m", vec![Stage::Production])
        .await
        .unwrap()
        .is_empty());
}

pub async fn aliases(store: Store) {
    store
        .create_registered_model("m", vec![], None)
        .await
        .unwrap();
    for source in ["s1", "s2"] {
        store
            .create_model_version(version_request("m", source))
            .await
            .unwrap();
    }
    store
        .set_registered_model_alias("m", "champion", 1)
        .await
        .unwrap();
    let by_alias = store
        .get_model_version_by_alias("m", "champion")
        .await
        .unwrap();
    assert_eq!(by_alias.version, 1);
    assert_eq!(by_alias.aliases, vec!["champion".to_string()]);
    assert_eq!(
        store.get_model_version("m", 1).await.unwrap().aliases,
        vec!["champion".to_string()]
    );
    // Setting moves the alias.
    store
        .set_registered_model_alias("m", "champion", 2)
        .await
        .unwrap();
    store
        .set_registered_model_alias("m", "backup", 1)
        .await
        .unwrap();
    assert_eq!(
        store
            .get_model_version_by_alias("m", "champion")
            .await
            .unwrap()
            .version,
        2
    );
    let model = store.get_registered_model("m").await.unwrap();
    let aliases: HashSet<(String, i64)> = model
        .aliases
        .iter()
        .map(|alias| (alias.alias.clone(), alias.version))
        .collect();
    assert_eq!(
        aliases,
        HashSet::from([("champion".to_string(), 2), ("backup".to_string(), 1)])
    );
    assert_eq!(store.list_aliases("m").await.unwrap().len(), 2);
    assert_error(
        store.set_registered_model_alias("m", "x", 9).await,
        ErrorKind::ResourceDoesNotExist,
        "Model Version (name=m, version=9) not found",
    );

    store
        .delete_registered_model_alias("m", "backup")
        .await
        .unwrap();
    // MLflow answers INVALID_PARAMETER_VALUE for an unknown alias.
    assert_error(
        store.get_model_version_by_alias("m", "backup").await,
        ErrorKind::InvalidParameterValue,
        "Registered model alias backup not found.",
    );
    // Deleting a version drops its aliases.
    store.delete_model_version("m", 2).await.unwrap();
    assert!(store
        .get_model_version_by_alias("m", "champion")
        .await
        .is_err());
    assert!(store.list_aliases("m").await.unwrap().is_empty());
}

pub async fn registry_rename_and_delete_cascade(store: Store) {
    store
        .create_registered_model("old", vec![kv("k", "v")], None)
        .await
        .unwrap();
    let mut request = version_request("old", "s1");
    request.tags = vec![kv("vt", "1")];
    store.create_model_version(request).await.unwrap();
    store
        .set_registered_model_alias("old", "prod", 1)
        .await
        .unwrap();
    store
        .create_registered_model("taken", vec![], None)
        .await
        .unwrap();
    assert_error(
        store.rename_registered_model("old", "taken").await,
        ErrorKind::ResourceAlreadyExists,
        "Registered Model (name=taken) already exists.",
    );
    let renamed = store.rename_registered_model("old", "new").await.unwrap();
    assert_eq!(renamed.name, "new");
    assert_eq!(renamed.tags, vec![kv("k", "v")]);
    assert_eq!(renamed.latest_versions.len(), 1);
    assert_eq!(renamed.latest_versions[0].name, "new");
    let version = store.get_model_version("new", 1).await.unwrap();
    assert_eq!(version.tags, vec![kv("vt", "1")]);
    assert_eq!(version.aliases, vec!["prod".to_string()]);
    assert!(store.get_registered_model("old").await.is_err());
    assert!(store.get_model_version("old", 1).await.is_err());
    // The next version continues the numbering.
    assert_eq!(
        store
            .create_model_version(version_request("new", "s2"))
            .await
            .unwrap()
            .version,
        2
    );

    store.delete_registered_model("new").await.unwrap();
    assert!(store.get_registered_model("new").await.is_err());
    assert!(store.get_model_version("new", 1).await.is_err());
    // A model with the same name starts again at version 1.
    store
        .create_registered_model("new", vec![], None)
        .await
        .unwrap();
    assert_eq!(
        store
            .create_model_version(version_request("new", "s"))
            .await
            .unwrap()
            .version,
        1
    );
    assert!(store.list_aliases("new").await.unwrap().is_empty());
    assert_error(
        store.delete_registered_model("ghost").await,
        ErrorKind::ResourceDoesNotExist,
        "Registered Model with name=ghost not found",
    );
}

pub async fn registry_search(store: Store) {
    for name in ["alpha", "beta", "Alphonse", "prompt"] {
        store
            .create_registered_model(name, vec![], None)
            .await
            .unwrap();
    }
    store
        .set_registered_model_tag("prompt", kv("mlflow.prompt.is_prompt", "true"))
        .await
        .unwrap();
    store
        .set_registered_model_tag("beta", kv("team", "x"))
        .await
        .unwrap();
    let names =
        |page: cairn_core::entities::Page<cairn_core::entities::RegisteredModel>| -> Vec<String> {
            page.items.into_iter().map(|model| model.name).collect()
        };
    let models = |filter_text: &str, order_by: &[&str], max: u64| {
        search(SearchKind::RegisteredModels, filter_text, order_by, max)
    };
    let found = |filter_text: &'static str, order_by: &'static [&'static str]| {
        let store = store.clone();
        async move {
            names(
                store
                    .search_registered_models(models(filter_text, order_by, 100))
                    .await
                    .unwrap(),
            )
        }
    };
    // Prompts are left out unless asked for (MLflow's rule); the client always sends the `!=` form.
    assert_eq!(found("", &[]).await, vec!["Alphonse", "alpha", "beta"]);
    assert_eq!(
        found("tags.`mlflow.prompt.is_prompt` != 'true'", &[]).await,
        vec!["Alphonse", "alpha", "beta"]
    );
    assert_eq!(
        found("tags.`mlflow.prompt.is_prompt` = 'true'", &[]).await,
        vec!["prompt"]
    );
    assert_eq!(found("name LIKE 'alpha%'", &[]).await, vec!["alpha"]);
    assert_eq!(
        found("name ILIKE 'alph%'", &["name DESC"]).await,
        vec!["alpha", "Alphonse"]
    );
    // Other tags: `!=` needs the tag to exist, as for runs.
    assert_eq!(found("tags.team != 'y'", &[]).await, vec!["beta"]);
    assert_eq!(found("tags.team = 'x'", &[]).await, vec!["beta"]);

    let first = store
        .search_registered_models(models("", &[], 2))
        .await
        .unwrap();
    assert_eq!(first.items.len(), 2);
    let offset = decode_page_token(first.next_page_token.as_deref()).unwrap();
    let second = store
        .search_registered_models(Search {
            filter: Filter::default(),
            order_by: vec![],
            page: PageRequest {
                max_results: 2,
                offset,
            },
        })
        .await
        .unwrap();
    assert_eq!(second.next_page_token, None);
    assert_eq!(names(second), vec!["beta"]);

    // Versions.
    for (name, source) in [("alpha", "a1"), ("alpha", "a2"), ("beta", "b1")] {
        let mut request = version_request(name, source);
        request.run_id = Some(format!("run-{source}"));
        store.create_model_version(request).await.unwrap();
    }
    store
        .set_model_version_tag("alpha", 2, kv("stage", "best"))
        .await
        .unwrap();
    let versions = |filter_text: &str, order_by: &[&str]| {
        search(SearchKind::ModelVersions, filter_text, order_by, 100)
    };
    let keys = |page: cairn_core::entities::Page<cairn_core::entities::ModelVersion>| -> Vec<(String, i64)> {
        page.items
            .into_iter()
            .map(|version| (version.name, version.version))
            .collect()
    };
    assert_eq!(
        keys(
            store
                .search_model_versions(versions("name = 'alpha'", &[]))
                .await
                .unwrap()
        ),
        vec![("alpha".into(), 2), ("alpha".into(), 1)]
    );
    assert_eq!(
        keys(
            store
                .search_model_versions(versions("run_id IN ('run-b1', 'run-a1')", &["name DESC"]))
                .await
                .unwrap()
        ),
        vec![("beta".into(), 1), ("alpha".into(), 1)]
    );
    assert_eq!(
        keys(
            store
                .search_model_versions(versions("tags.stage = 'best'", &[]))
                .await
                .unwrap()
        ),
        vec![("alpha".into(), 2)]
    );
    assert_eq!(
        keys(
            store
                .search_model_versions(versions("version_number >= 2", &[]))
                .await
                .unwrap()
        ),
        vec![("alpha".into(), 2)]
    );
}

pub async fn concurrent_version_registration(store: Store) {
    store
        .create_registered_model("busy", vec![], None)
        .await
        .unwrap();
    let mut handles = Vec::new();
    for index in 0..20 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            store
                .create_model_version(version_request("busy", &format!("s{index}")))
                .await
                .unwrap()
                .version
        }));
    }
    let mut versions = Vec::new();
    for handle in handles {
        versions.push(handle.await.unwrap());
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=20).collect::<Vec<i64>>());
}

pub async fn concurrent_log_batches(store: Store) {
    let id = experiment(&store, "concurrent").await;
    let run_id = run(&store, &id, "r").await;
    let mut handles = Vec::new();
    for writer in 0..10_i64 {
        let store = store.clone();
        let run_id = run_id.clone();
        handles.push(tokio::spawn(async move {
            for batch in 0..5_i64 {
                let step = writer * 100 + batch;
                store
                    .log_batch(
                        &run_id,
                        LogBatch {
                            metrics: vec![Metric::new("m", step as f64, step, step)],
                            params: vec![KeyValue::new(format!("p{writer}"), "v")],
                            tags: vec![KeyValue::new(format!("t{writer}"), batch.to_string())],
                        },
                    )
                    .await
                    .unwrap();
                // Reads go on while others write.
                store.get_run(&run_id).await.unwrap();
            }
        }));
    }
    for handle in handles {
        handle.await.unwrap();
    }
    let fetched = store.get_run(&run_id).await.unwrap();
    assert_eq!(fetched.data.params.len(), 10);
    assert_eq!(metric_value(&fetched, "m"), Some(904.0));
    assert_eq!(
        store
            .get_metric_history(&run_id, "m", None)
            .await
            .unwrap()
            .items
            .len(),
        50
    );
}

pub async fn policy_revisions(store: Store) {
    assert_eq!(store.current_policy().await.unwrap(), None);
    let first = store.put_policy("alice", "{\"version\":1}").await.unwrap();
    let second = store
        .put_policy("bob", "{\"version\":1,\"default\":{}}")
        .await
        .unwrap();
    assert!(second.revision > first.revision);
    let current = store.current_policy().await.unwrap().unwrap();
    assert_eq!(current, second);
    assert_eq!(current.author, "bob");
}

pub async fn policy_decisions_audit_log(store: Store) {
    let decision = |model: &str, version: i64, allowed: bool| NewPolicyDecision {
        model_name: model.into(),
        version,
        target_kind: PromotionTarget::Alias,
        target: "champion".into(),
        action: "set_alias".into(),
        allowed,
        user: "carol".into(),
        policy_revision: Some(3),
        outcomes_json: format!("[{{\"passed\":{allowed}}}]"),
    };
    let first = store
        .record_policy_decision(decision("m", 1, false))
        .await
        .unwrap();
    let second = store
        .record_policy_decision(decision("other", 1, true))
        .await
        .unwrap();
    let third = store
        .record_policy_decision(decision("m", 2, true))
        .await
        .unwrap();
    assert!(first < second && second < third);

    let for_m = store
        .list_policy_decisions(Some("m"), page(10))
        .await
        .unwrap();
    let ids: Vec<i64> = for_m.items.iter().map(|d| d.id).collect();
    assert_eq!(ids, vec![third, first], "newest first, one model only");
    assert_eq!(for_m.next_page_token, None);
    let newest = &for_m.items[0];
    assert_eq!(newest.version, 2);
    assert!(newest.allowed);
    assert_eq!(newest.target_kind, PromotionTarget::Alias);
    assert_eq!(newest.user, "carol");
    assert_eq!(newest.policy_revision, Some(3));
    assert_eq!(newest.outcomes_json, "[{\"passed\":true}]");
    assert!(newest.time_ms > 0);

    let all = store.list_policy_decisions(None, page(2)).await.unwrap();
    assert_eq!(all.items.len(), 2);
    assert!(all.next_page_token.is_some());
}

pub async fn runs_consuming_model(store: Store) {
    let id = experiment(&store, "consumers").await;
    let first = run(&store, &id, "a").await;
    let second = run(&store, &id, "b").await;
    for run_id in [&first, &second] {
        store
            .log_inputs(
                run_id,
                vec![],
                vec![ModelInput {
                    model_id: "m-shared".into(),
                }],
            )
            .await
            .unwrap();
    }
    let mut expected = vec![first.clone(), second.clone()];
    expected.sort();
    assert_eq!(
        store.runs_consuming_model("m-shared").await.unwrap(),
        expected
    );
    assert!(store
        .runs_consuming_model("m-none")
        .await
        .unwrap()
        .is_empty());
}

// ---------------------------------------------------------------------------------------------------
// Webhooks

fn event(text: &str) -> WebhookEvent {
    WebhookEvent::parse(text).unwrap()
}

fn new_webhook(name: &str, events: &[&str]) -> CreateWebhook {
    CreateWebhook {
        name: name.into(),
        description: None,
        url: format!("https://example.com/{name}"),
        events: events.iter().map(|text| event(text)).collect(),
        secret: None,
        status: WebhookStatus::Active,
    }
}

fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

pub async fn webhook_crud(store: Store) {
    let mut request = new_webhook(
        "hook",
        &[
            "registered_model.created",
            "model_version_tag.set",
            "registered_model.created",
        ],
    );
    request.secret = Some("s3cret".into());
    request.description = Some("first".into());
    let created = store.create_webhook(request).await.unwrap();
    assert_eq!(created.webhook_id.len(), 36, "a dashed uuid");
    let shown: Vec<String> = created.events.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        ["model_version_tag.set", "registered_model.created"],
        "deduplicated, sorted as MLflow lists them"
    );
    assert_eq!(created.secret.as_deref(), Some("s3cret"));
    assert_eq!(created.status, WebhookStatus::Active);
    assert_eq!(created.creation_timestamp, created.last_updated_timestamp);
    assert_eq!(
        store.get_webhook(&created.webhook_id).await.unwrap(),
        created
    );

    let missing = store.get_webhook("nope").await.unwrap_err();
    assert_eq!(missing.kind, ErrorKind::ResourceDoesNotExist);
    assert_eq!(missing.message, "Webhook with ID nope not found.");

    // A partial update leaves the rest alone.
    let renamed = store
        .update_webhook(UpdateWebhook {
            webhook_id: created.webhook_id.clone(),
            name: Some("renamed".into()),
            ..UpdateWebhook::default()
        })
        .await
        .unwrap();
    assert_eq!(renamed.name, "renamed");
    assert_eq!(renamed.description.as_deref(), Some("first"));
    assert_eq!(renamed.secret.as_deref(), Some("s3cret"));
    assert_eq!(renamed.events, created.events);
    assert!(renamed.last_updated_timestamp >= created.last_updated_timestamp);

    let updated = store
        .update_webhook(UpdateWebhook {
            webhook_id: created.webhook_id.clone(),
            description: Some(String::new()),
            url: Some("https://example.com/other".into()),
            events: Some(vec![event("model_version_stage.updated")]),
            secret: Some("rotated".into()),
            status: Some(WebhookStatus::Disabled),
            ..UpdateWebhook::default()
        })
        .await
        .unwrap();
    assert_eq!(updated.description.as_deref(), Some(""));
    assert_eq!(updated.url, "https://example.com/other");
    assert_eq!(updated.events, vec![event("model_version_stage.updated")]);
    assert_eq!(updated.secret.as_deref(), Some("rotated"));
    assert_eq!(updated.status, WebhookStatus::Disabled);

    let unknown = store
        .update_webhook(UpdateWebhook {
            webhook_id: "nope".into(),
            ..UpdateWebhook::default()
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.kind, ErrorKind::ResourceDoesNotExist);

    store.delete_webhook(&created.webhook_id).await.unwrap();
    assert_eq!(
        store
            .get_webhook(&created.webhook_id)
            .await
            .unwrap_err()
            .kind,
        ErrorKind::ResourceDoesNotExist
    );
    assert_eq!(
        store
            .delete_webhook(&created.webhook_id)
            .await
            .unwrap_err()
            .kind,
        ErrorKind::ResourceDoesNotExist
    );
    assert!(store
        .list_webhooks(page(10), false)
        .await
        .unwrap()
        .items
        .is_empty());
}

pub async fn webhook_list_paging_and_mlflow_view(store: Store) {
    let first = store
        .create_webhook(new_webhook("a", &["model_version.created"]))
        .await
        .unwrap();
    let extension_only = store
        .create_webhook(new_webhook("b", &["model_version_promotion.refused"]))
        .await
        .unwrap();
    let mixed = store
        .create_webhook(new_webhook(
            "c",
            &["model_version_stage.updated", "model_version_alias.created"],
        ))
        .await
        .unwrap();

    let all = store.list_webhooks(page(10), false).await.unwrap();
    let ids: Vec<&str> = all.items.iter().map(|w| w.webhook_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            mixed.webhook_id.as_str(),
            extension_only.webhook_id.as_str(),
            first.webhook_id.as_str()
        ],
        "newest first"
    );
    assert_eq!(all.next_page_token, None);

    let first_page = store.list_webhooks(page(2), false).await.unwrap();
    assert_eq!(first_page.items.len(), 2);
    let offset = decode_page_token(first_page.next_page_token.as_deref()).unwrap();
    let second_page = store
        .list_webhooks(
            PageRequest {
                max_results: 2,
                offset,
            },
            false,
        )
        .await
        .unwrap();
    assert_eq!(second_page.items.len(), 1);
    assert_eq!(second_page.items[0].webhook_id, first.webhook_id);
    assert_eq!(second_page.next_page_token, None);

    // MLflow's view leaves out webhooks its clients could not read (extension events only);
    // events are not filtered by the store.
    let mlflow = store.list_webhooks(page(10), true).await.unwrap();
    let ids: Vec<&str> = mlflow.items.iter().map(|w| w.webhook_id.as_str()).collect();
    assert_eq!(ids, [mixed.webhook_id.as_str(), first.webhook_id.as_str()]);
    assert_eq!(mlflow.items[0].events.len(), 2);
}

pub async fn webhook_outbox_claim_retry_and_log(store: Store) {
    let created = event("model_version.created");
    assert!(!store.webhook_subscribed(&[created]).await.unwrap());
    assert_eq!(
        store.enqueue_webhook_event(created, "{}").await.unwrap(),
        0,
        "nobody subscribed"
    );

    let mut signed = new_webhook("signed", &["model_version.created"]);
    signed.secret = Some("key".into());
    let signed = store.create_webhook(signed).await.unwrap();
    let plain = store
        .create_webhook(new_webhook(
            "plain",
            &["model_version.created", "registered_model.created"],
        ))
        .await
        .unwrap();
    let mut disabled = new_webhook("off", &["model_version.created"]);
    disabled.status = WebhookStatus::Disabled;
    store.create_webhook(disabled).await.unwrap();
    store
        .create_webhook(new_webhook("other", &["model_version_tag.set"]))
        .await
        .unwrap();

    assert!(store.webhook_subscribed(&[created]).await.unwrap());
    assert!(store
        .webhook_subscribed(&[event("prompt.created"), event("registered_model.created")])
        .await
        .unwrap());
    assert!(!store
        .webhook_subscribed(&[event("prompt.created")])
        .await
        .unwrap());

    let payload = r#"{"entity": "model_version", "action": "created"}"#;
    assert_eq!(
        store.enqueue_webhook_event(created, payload).await.unwrap(),
        2,
        "active subscribers only"
    );

    let now = wall_clock_ms() + 1;
    let lease_ms = 60_000;
    let claim = |now_ms: i64, limit: u32| ClaimWebhookDeliveries {
        now_ms,
        limit,
        lease_ms,
    };
    let first = store.claim_webhook_deliveries(claim(now, 1)).await.unwrap();
    assert_eq!(first.jobs.len(), 1);
    let second = store.claim_webhook_deliveries(claim(now, 5)).await.unwrap();
    assert_eq!(
        second.jobs.len(),
        1,
        "a claimed delivery is not claimed twice"
    );
    assert_eq!(second.next_due_ms, Some(now + lease_ms), "both leased");
    let none = store.claim_webhook_deliveries(claim(now, 5)).await.unwrap();
    assert!(none.jobs.is_empty());
    assert_eq!(none.next_due_ms, Some(now + lease_ms));

    let mut jobs = [first.jobs[0].clone(), second.jobs[0].clone()];
    jobs.sort_by(|a, b| a.url.cmp(&b.url));
    let (plain_job, signed_job) = (&jobs[0], &jobs[1]);
    assert_eq!(signed_job.webhook_id, signed.webhook_id);
    assert_eq!(signed_job.secret.as_deref(), Some("key"));
    assert_eq!(signed_job.url, signed.url);
    assert_eq!(signed_job.event, created);
    assert_eq!(signed_job.payload, payload);
    assert_eq!(signed_job.attempts, 0);
    assert_eq!(plain_job.webhook_id, plain.webhook_id);
    assert_eq!(plain_job.secret, None);
    assert_ne!(plain_job.delivery_id, signed_job.delivery_id);
    assert_eq!(signed_job.delivery_id.len(), 36);

    // The signed one fails once (retry later), then succeeds; the plain one gives up.
    store
        .record_webhook_attempt(WebhookAttemptOutcome {
            delivery_id: signed_job.delivery_id.clone(),
            time_ms: now,
            duration_ms: 12,
            status_code: Some(500),
            error: Some("HTTP 500: boom".into()),
            next: DeliveryNext::RetryAt(now + 1_000),
        })
        .await
        .unwrap();
    store
        .record_webhook_attempt(WebhookAttemptOutcome {
            delivery_id: plain_job.delivery_id.clone(),
            time_ms: now,
            duration_ms: 3,
            status_code: None,
            error: Some("connection refused".into()),
            next: DeliveryNext::Failed,
        })
        .await
        .unwrap();
    let early = store
        .claim_webhook_deliveries(claim(now + 999, 5))
        .await
        .unwrap();
    assert!(early.jobs.is_empty(), "not due before its retry time");
    assert_eq!(early.next_due_ms, Some(now + 1_000));
    let retry = store
        .claim_webhook_deliveries(claim(now + 1_000, 5))
        .await
        .unwrap();
    assert_eq!(retry.jobs.len(), 1);
    assert_eq!(retry.jobs[0].delivery_id, signed_job.delivery_id);
    assert_eq!(retry.jobs[0].attempts, 1);
    store
        .record_webhook_attempt(WebhookAttemptOutcome {
            delivery_id: signed_job.delivery_id.clone(),
            time_ms: now + 1_001,
            duration_ms: 5,
            status_code: Some(200),
            error: None,
            next: DeliveryNext::Succeeded,
        })
        .await
        .unwrap();
    let drained = store
        .claim_webhook_deliveries(claim(now + 100_000, 5))
        .await
        .unwrap();
    assert!(drained.jobs.is_empty());
    assert_eq!(drained.next_due_ms, None, "nothing pending");

    let log = store
        .list_webhook_deliveries(&signed.webhook_id, page(10))
        .await
        .unwrap();
    assert_eq!(log.items.len(), 1);
    let delivery = &log.items[0];
    assert_eq!(delivery.status, WebhookDeliveryStatus::Succeeded);
    assert_eq!(delivery.attempts, 2);
    assert_eq!(delivery.last_status_code, Some(200));
    assert_eq!(delivery.last_error, None);
    assert_eq!(delivery.next_attempt_time_ms, None);
    assert_eq!(delivery.completed_time_ms, Some(now + 1_001));
    assert_eq!(delivery.payload, payload);
    assert_eq!(delivery.event, created);
    let codes: Vec<Option<i64>> = delivery.attempt_log.iter().map(|a| a.status_code).collect();
    assert_eq!(codes, [Some(500), Some(200)]);
    assert_eq!(delivery.attempt_log[0].attempt, 1);
    assert_eq!(delivery.attempt_log[0].duration_ms, 12);
    assert_eq!(
        delivery.attempt_log[0].error.as_deref(),
        Some("HTTP 500: boom")
    );

    let failed = store
        .list_webhook_deliveries(&plain.webhook_id, page(10))
        .await
        .unwrap();
    assert_eq!(failed.items[0].status, WebhookDeliveryStatus::Failed);
    assert_eq!(failed.items[0].last_status_code, None);
    assert_eq!(
        failed.items[0].last_error.as_deref(),
        Some("connection refused")
    );

    // Newest first, paged.
    for _ in 0..2 {
        store
            .enqueue_webhook_event(event("registered_model.created"), "{}")
            .await
            .unwrap();
    }
    let newest = store
        .list_webhook_deliveries(&plain.webhook_id, page(2))
        .await
        .unwrap();
    assert_eq!(newest.items.len(), 2);
    assert!(newest
        .items
        .iter()
        .all(|d| d.event == event("registered_model.created")
            && d.status == WebhookDeliveryStatus::Pending
            && d.attempts == 0));
    assert!(newest.next_page_token.is_some());

    assert_eq!(
        store
            .list_webhook_deliveries("nope", page(10))
            .await
            .unwrap_err()
            .kind,
        ErrorKind::ResourceDoesNotExist
    );
    assert_eq!(
        store
            .record_webhook_attempt(WebhookAttemptOutcome {
                delivery_id: "nope".into(),
                time_ms: now,
                duration_ms: 0,
                status_code: None,
                error: None,
                next: DeliveryNext::Failed,
            })
            .await
            .unwrap_err()
            .kind,
        ErrorKind::ResourceDoesNotExist
    );
}

pub async fn webhook_outbox_disabled_deleted_and_release(store: Store) {
    let created = event("model_version.created");
    let kept = store
        .create_webhook(new_webhook("kept", &["model_version.created"]))
        .await
        .unwrap();
    let paused = store
        .create_webhook(new_webhook("paused", &["model_version.created"]))
        .await
        .unwrap();
    let removed = store
        .create_webhook(new_webhook("removed", &["model_version.created"]))
        .await
        .unwrap();
    assert_eq!(store.enqueue_webhook_event(created, "{}").await.unwrap(), 3);

    // Disabled after the event: its delivery fails when it comes due instead of being sent.
    store
        .update_webhook(UpdateWebhook {
            webhook_id: paused.webhook_id.clone(),
            status: Some(WebhookStatus::Disabled),
            ..UpdateWebhook::default()
        })
        .await
        .unwrap();
    // Deleted: its pending deliveries fail at once.
    store.delete_webhook(&removed.webhook_id).await.unwrap();

    let now = wall_clock_ms() + 1;
    let claimed = store
        .claim_webhook_deliveries(ClaimWebhookDeliveries {
            now_ms: now,
            limit: 10,
            lease_ms: 60_000,
        })
        .await
        .unwrap();
    assert_eq!(claimed.jobs.len(), 1);
    assert_eq!(claimed.jobs[0].webhook_id, kept.webhook_id);
    let paused_log = store
        .list_webhook_deliveries(&paused.webhook_id, page(10))
        .await
        .unwrap();
    assert_eq!(paused_log.items[0].status, WebhookDeliveryStatus::Failed);
    assert_eq!(
        paused_log.items[0].last_error.as_deref(),
        Some("webhook disabled before delivery")
    );
    assert_eq!(paused_log.items[0].attempts, 0);

    // A stopping worker releases its claim: due again at once, no attempt counted.
    store
        .release_webhook_deliveries(&[claimed.jobs[0].delivery_id.clone()])
        .await
        .unwrap();
    let again = store
        .claim_webhook_deliveries(ClaimWebhookDeliveries {
            now_ms: wall_clock_ms() + 1,
            limit: 10,
            lease_ms: 60_000,
        })
        .await
        .unwrap();
    assert_eq!(again.jobs.len(), 1);
    assert_eq!(again.jobs[0].delivery_id, claimed.jobs[0].delivery_id);
    assert_eq!(again.jobs[0].attempts, 0);

    // An attempt that finishes after its webhook was deleted is logged; the delivery stays failed.
    store.delete_webhook(&kept.webhook_id).await.unwrap();
    store
        .record_webhook_attempt(WebhookAttemptOutcome {
            delivery_id: again.jobs[0].delivery_id.clone(),
            time_ms: now,
            duration_ms: 1,
            status_code: Some(200),
            error: None,
            next: DeliveryNext::Succeeded,
        })
        .await
        .unwrap();
    let nothing = store
        .claim_webhook_deliveries(ClaimWebhookDeliveries {
            now_ms: wall_clock_ms() + 120_000,
            limit: 10,
            lease_ms: 60_000,
        })
        .await
        .unwrap();
    assert!(nothing.jobs.is_empty());
    assert_eq!(nothing.next_due_ms, None);
}

// ---------------------------------------------------------------------------------------------------
// Import (id-preserving inserts)

fn import_experiment_request(name: &str, preferred_id: i64) -> ImportExperiment {
    ImportExperiment {
        preferred_id: Some(preferred_id),
        name: name.into(),
        lifecycle_stage: LifecycleStage::Active,
        creation_time: 1_000,
        last_update_time: 2_000,
        tags: vec![kv("team", "a")],
    }
}

pub async fn import_experiment_keeps_free_ids_and_matches_names(store: Store) {
    let kept = store
        .import_experiment(import_experiment_request("imported", 7))
        .await
        .unwrap();
    assert!(kept.created);
    assert_eq!(kept.id, "7");
    assert_eq!(kept.artifact_uri, "mlflow-artifacts:/7");
    let experiment = store.get_experiment("7").await.unwrap();
    assert_eq!(experiment.name, "imported");
    assert_eq!(
        (experiment.creation_time, experiment.last_update_time),
        (1_000, 2_000)
    );
    assert_eq!(experiment.tags, vec![kv("team", "a")]);

    // Id 7 is taken: the next free one. The same name again: the existing one, untouched.
    let moved = store
        .import_experiment(import_experiment_request("other", 7))
        .await
        .unwrap();
    assert!(moved.created);
    assert_eq!(moved.id, "8");
    let again = store
        .import_experiment(ImportExperiment {
            tags: vec![kv("team", "b")],
            ..import_experiment_request("imported", 3)
        })
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.id, "7");
    assert_eq!(
        store.get_experiment("7").await.unwrap().tags,
        vec![kv("team", "a")]
    );
    let default = store
        .import_experiment(import_experiment_request("Default", 0))
        .await
        .unwrap();
    assert_eq!((default.created, default.id.as_str()), (false, "0"));
}

fn import_run_request(experiment_id: &str, run_id: &str) -> ImportRun {
    let mut metrics: Vec<Metric> = (0..2500)
        .map(|step| {
            Metric::new(
                "loss",
                1.0 / f64::from(step + 1),
                10 + i64::from(step),
                i64::from(step),
            )
        })
        .collect();
    metrics.push(Metric::new("odd", f64::NAN, 5, 0));
    metrics.push(Metric::new("odd", -1.5, 6, 1));
    ImportRun {
        run_id: run_id.into(),
        experiment_id: experiment_id.into(),
        run_name: "imported-run".into(),
        user_id: "ana".into(),
        status: RunStatus::Finished,
        start_time: 100,
        end_time: Some(200),
        lifecycle_stage: LifecycleStage::Deleted,
        deleted_time: Some(300),
        params: vec![kv("lr", "0.1")],
        tags: vec![kv("mlflow.runName", "imported-run"), kv("owner", "ana")],
        metrics,
        dataset_inputs: vec![DatasetInput {
            dataset: Dataset {
                name: "train".into(),
                digest: "abc".into(),
                source_type: "local".into(),
                source: "{}".into(),
                schema: None,
                profile: None,
            },
            tags: vec![kv("mlflow.data.context", "training")],
        }],
        model_inputs: vec![ModelInput {
            model_id: "m-in".into(),
        }],
        model_outputs: vec![ModelOutput {
            model_id: "m-out".into(),
            step: 3,
        }],
    }
}

pub async fn import_run_keeps_ids_history_and_is_idempotent(store: Store) {
    let experiment_id = experiment(&store, "import-runs").await;
    let run_id = "0123456789abcdef0123456789abcdef";
    let imported = store
        .import_run(import_run_request(&experiment_id, run_id))
        .await
        .unwrap();
    assert!(imported.created);
    assert_eq!(
        imported.artifact_uri,
        format!("mlflow-artifacts:/{experiment_id}/{run_id}/artifacts")
    );
    let run = store.get_run(run_id).await.unwrap();
    assert_eq!(run.info.run_name, "imported-run");
    assert_eq!(run.info.status, RunStatus::Finished);
    assert_eq!((run.info.start_time, run.info.end_time), (100, Some(200)));
    assert_eq!(run.info.lifecycle_stage, LifecycleStage::Deleted);
    assert_eq!(run.info.artifact_uri, imported.artifact_uri);
    assert_eq!(run.data.params, vec![kv("lr", "0.1")]);
    assert_eq!(run.data.tags.len(), 2);
    let latest: Vec<(String, i64)> = run
        .data
        .metrics
        .iter()
        .map(|metric| (metric.key.clone(), metric.step))
        .collect();
    assert_eq!(
        latest,
        vec![("loss".to_owned(), 2499), ("odd".to_owned(), 1)]
    );
    assert_eq!(run.inputs.dataset_inputs.len(), 1);
    assert_eq!(
        run.inputs.dataset_inputs[0].tags,
        vec![kv("mlflow.data.context", "training")]
    );
    assert_eq!(
        run.inputs.model_inputs,
        vec![ModelInput {
            model_id: "m-in".into()
        }]
    );
    assert_eq!(run.outputs.model_outputs[0].step, 3);
    let history = store
        .get_metric_history(run_id, "loss", None)
        .await
        .unwrap();
    assert_eq!(history.items.len(), 2500);
    let odd = store.get_metric_history(run_id, "odd", None).await.unwrap();
    assert!(odd.items[0].value.is_nan());

    // Again: nothing written, no duplicated points, the run as it was.
    let again = store
        .import_run(ImportRun {
            run_name: "changed".into(),
            ..import_run_request(&experiment_id, run_id)
        })
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.artifact_uri, imported.artifact_uri);
    assert_eq!(
        store
            .get_metric_history(run_id, "loss", None)
            .await
            .unwrap()
            .items
            .len(),
        2500
    );
    assert_eq!(
        store.get_run(run_id).await.unwrap().info.run_name,
        "imported-run"
    );

    let missing = store
        .import_run(import_run_request(
            "424242",
            "fedcba9876543210fedcba9876543210",
        ))
        .await;
    assert_eq!(missing.unwrap_err().kind, ErrorKind::ResourceDoesNotExist);
}

pub async fn import_logged_model_and_registry_keep_ids(store: Store) {
    let experiment_id = experiment(&store, "import-models").await;
    let mut metric = Metric::new("auc", 0.9, 5, 0);
    metric.run_id = Some("r1".into());
    let request = ImportLoggedModel {
        model_id: "m-0123".into(),
        experiment_id: experiment_id.clone(),
        name: "model".into(),
        status: LoggedModelStatus::Ready,
        status_message: None,
        model_type: None,
        source_run_id: Some("r1".into()),
        lifecycle_stage: LifecycleStage::Active,
        creation_timestamp_ms: 10,
        last_updated_timestamp_ms: 20,
        params: vec![kv("alpha", "1")],
        tags: vec![kv("t", "v")],
        metrics: vec![metric],
    };
    let imported = store.import_logged_model(request.clone()).await.unwrap();
    assert!(imported.created);
    assert_eq!(
        imported.artifact_uri,
        format!("mlflow-artifacts:/{experiment_id}/models/m-0123/artifacts")
    );
    let model = store.get_logged_model("m-0123").await.unwrap();
    assert_eq!(model.status, LoggedModelStatus::Ready);
    assert_eq!(model.creation_timestamp_ms, 10);
    assert_eq!(model.params, vec![kv("alpha", "1")]);
    assert_eq!(model.metrics.len(), 1);
    assert!(!store.import_logged_model(request).await.unwrap().created);

    let registered = ImportRegisteredModel {
        name: "imported-model".into(),
        creation_timestamp: 1,
        last_updated_timestamp: 2,
        description: Some("d".into()),
        user_id: None,
        tags: vec![kv("domain", "fraud")],
    };
    assert!(store
        .import_registered_model(registered.clone())
        .await
        .unwrap());
    assert!(!store.import_registered_model(registered).await.unwrap());
    let version = |number: i64, stage: Option<Stage>| ImportModelVersion {
        name: "imported-model".into(),
        version: number,
        creation_timestamp: 3,
        last_updated_timestamp: 4,
        description: None,
        user_id: None,
        current_stage: stage,
        source: "models:/m-0123".into(),
        run_id: Some("r1".into()),
        run_link: None,
        status: "READY".into(),
        status_message: None,
        model_id: Some("m-0123".into()),
        tags: vec![kv("validated", "yes")],
    };
    // Numbers are kept, gaps included; a deleted version keeps its number.
    assert!(store
        .import_model_version(version(2, Some(Stage::Staging)))
        .await
        .unwrap());
    assert!(store
        .import_model_version(version(5, Some(Stage::None)))
        .await
        .unwrap());
    assert!(store.import_model_version(version(3, None)).await.unwrap());
    assert!(!store
        .import_model_version(version(2, Some(Stage::Production)))
        .await
        .unwrap());
    let two = store.get_model_version("imported-model", 2).await.unwrap();
    assert_eq!(two.current_stage, Stage::Staging);
    assert_eq!(two.tags, vec![kv("validated", "yes")]);
    assert_eq!(two.model_id.as_deref(), Some("m-0123"));
    assert!(store.get_model_version("imported-model", 3).await.is_err());
    let aliases = vec![Alias {
        alias: "champion".into(),
        version: 2,
    }];
    assert_eq!(
        store
            .import_aliases("imported-model", aliases.clone())
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .import_aliases(
                "imported-model",
                vec![Alias {
                    alias: "champion".into(),
                    version: 5
                }]
            )
            .await
            .unwrap(),
        0
    );
    assert_eq!(store.list_aliases("imported-model").await.unwrap(), aliases);
    let next = store
        .create_model_version(CreateModelVersion {
            name: "imported-model".into(),
            source: "s".into(),
            run_id: None,
            run_link: None,
            description: None,
            model_id: None,
            tags: vec![],
        })
        .await
        .unwrap();
    assert_eq!(next.version, 6);
    let missing = store.import_model_version(ImportModelVersion {
        name: "nope".into(),
        ..version(1, None)
    });
    assert_eq!(
        missing.await.unwrap_err().kind,
        ErrorKind::ResourceDoesNotExist
    );
}
