//! The shared store suite against SQLite, plus what is SQLite's own: files, reopening, durability,
//! and timings (`cargo test -p cairn-store --release --test sqlite -- --ignored --nocapture timings`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod suite;

use std::sync::Arc;
use std::time::Instant;

use cairn_core::entities::{KeyValue, Metric, ViewType};
use cairn_core::search::{parse_filter, parse_order_by, SearchKind};
use cairn_store::sqlite::{SqliteOptions, SqliteStore};
use cairn_store::{CreateExperiment, CreateRun, LogBatch, MetadataStore, PageRequest, SearchRuns};
use tempfile::TempDir;

async fn fresh_store() -> (suite::Store, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mlflow.db");
    let store = SqliteStore::connect(path.to_str().unwrap()).await.unwrap();
    (Arc::new(store), dir)
}

store_test_suite!(fresh_store);

/// After a burst of new runs the store analyzes the database by itself, so that searches are planned
/// from statistics (see `sqlite/statistics.rs`).
#[tokio::test]
async fn a_burst_of_runs_gets_the_database_analyzed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stats.db");
    let store = SqliteStore::connect(path.to_str().unwrap()).await.unwrap();
    let experiment_id = store
        .create_experiment(CreateExperiment {
            name: "burst".into(),
            artifact_location: None,
            tags: vec![],
        })
        .await
        .unwrap();
    let analyzed_runs = || async {
        let pool = sqlx::SqlitePool::connect(path.to_str().unwrap())
            .await
            .unwrap();
        let stat: Option<String> =
            sqlx::query_scalar("SELECT stat FROM sqlite_stat1 WHERE tbl = 'runs' LIMIT 1")
                .fetch_optional(&pool)
                .await
                .unwrap_or(None);
        pool.close().await;
        stat.and_then(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
    };
    let create_runs = |runs: std::ops::Range<i64>| {
        let (store, experiment_id) = (&store, &experiment_id);
        async move {
            for i in runs {
                store
                    .create_run(CreateRun {
                        experiment_id: experiment_id.clone(),
                        user_id: "u".into(),
                        run_name: format!("r{i}"),
                        start_time: i,
                        tags: vec![],
                    })
                    .await
                    .unwrap();
            }
        }
    };
    create_runs(0..150).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(analyzed_runs().await, None, "below the burst: not analyzed");
    create_runs(150..260).await;
    let started = Instant::now();
    let mut counted = None;
    while started.elapsed() < std::time::Duration::from_secs(10) {
        counted = analyzed_runs().await;
        if counted.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let counted = counted.expect("sqlite_stat1 filled after the burst");
    assert!((200..=260).contains(&counted), "{counted}");
}

#[tokio::test]
async fn search_sees_writes_of_another_store_on_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let reader = SqliteStore::connect(path.to_str().unwrap()).await.unwrap();
    let writer = SqliteStore::connect(path.to_str().unwrap()).await.unwrap();
    suite::search_sees_writes(Arc::new(reader), Arc::new(writer)).await;
}

#[tokio::test]
async fn uri_forms_create_parent_folders() {
    let dir = tempfile::tempdir().unwrap();
    let absolute = dir.path().join("nested/deeper/db.sqlite");
    let uri = format!("sqlite:///{}", absolute.display());
    // `sqlite:////abs/path` (four slashes) is an absolute path.
    assert!(uri.starts_with("sqlite:////"));
    let store = SqliteStore::connect(&uri).await.unwrap();
    assert!(absolute.exists());
    assert_eq!(store.get_experiment("0").await.unwrap().name, "Default");
}

#[tokio::test]
async fn schema_status_and_newer_schema_is_refused() {
    use cairn_store::sqlite::schema::schema_status;
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("sqlite:///{}", dir.path().join("schema.db").display());
    let before = schema_status(&uri).await.unwrap();
    assert!(!before.exists);
    assert_eq!(before.pending().len(), before.known.len());
    assert!(
        !dir.path().join("schema.db").exists(),
        "status must not create the file"
    );

    let store = SqliteStore::connect(&uri).await.unwrap();
    store.close().await;
    let after = schema_status(&uri).await.unwrap();
    assert!(after.exists);
    assert!(after.pending().is_empty());
    assert_eq!(after.current_version(), after.latest_known());

    // A newer cairn applied a migration this build does not know: refuse to open, say why.
    {
        use sqlx::ConnectOptions;
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(dir.path().join("schema.db"))
            .connect()
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (9999, 'from the future', 1, x'00', 0)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
    }
    let status = schema_status(&uri).await.unwrap();
    assert_eq!(status.current_version(), 9999);
    assert_eq!(status.unknown().len(), 1);
    let error = SqliteStore::connect(&uri).await.err().unwrap();
    assert!(
        error.message.contains("newer than this cairn knows"),
        "{}",
        error.message
    );
    assert!(
        error.message.contains("9999 (from the future)"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn reopen_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("durable.db");
    let uri = path.to_str().unwrap().to_owned();
    let (experiment_id, run_id) = {
        let store = SqliteStore::connect(&uri).await.unwrap();
        let experiment_id = store
            .create_experiment(CreateExperiment {
                name: "kept".into(),
                artifact_location: None,
                tags: vec![KeyValue::new("k", "v")],
            })
            .await
            .unwrap();
        let run = store
            .create_run(CreateRun {
                experiment_id: experiment_id.clone(),
                user_id: "u".into(),
                run_name: "r".into(),
                start_time: 1,
                tags: vec![],
            })
            .await
            .unwrap();
        store
            .log_batch(
                &run.info.run_id,
                LogBatch {
                    metrics: vec![Metric::new("m", f64::NAN, 1, 0)],
                    params: vec![KeyValue::new("p", "1")],
                    tags: vec![],
                },
            )
            .await
            .unwrap();
        store
            .create_registered_model("model", vec![], None)
            .await
            .unwrap();
        // No close(): as after a crash, only what was acknowledged must survive.
        drop(store);
        (experiment_id, run.info.run_id)
    };
    let store = SqliteStore::connect(&uri).await.unwrap();
    assert_eq!(
        store.get_experiment(&experiment_id).await.unwrap().name,
        "kept"
    );
    let run = store.get_run(&run_id).await.unwrap();
    assert!(run.data.metrics[0].value.is_nan());
    assert_eq!(run.data.params, vec![KeyValue::new("p", "1")]);
    assert_eq!(
        store.get_registered_model("model").await.unwrap().name,
        "model"
    );
    // Ids continue after reopening; migrations are not re-applied.
    let next = store
        .create_experiment(CreateExperiment {
            name: "next".into(),
            artifact_location: None,
            tags: vec![],
        })
        .await
        .unwrap();
    assert_eq!(
        next.parse::<i64>().unwrap(),
        experiment_id.parse::<i64>().unwrap() + 1
    );
}

#[tokio::test]
async fn two_stores_on_one_file_do_not_deadlock() {
    let dir = tempfile::tempdir().unwrap();
    let uri = dir.path().join("shared.db").to_str().unwrap().to_owned();
    let first = Arc::new(SqliteStore::connect(&uri).await.unwrap());
    let second = Arc::new(SqliteStore::connect(&uri).await.unwrap());
    first
        .create_registered_model("m", vec![], None)
        .await
        .unwrap();
    let mut handles = Vec::new();
    for (index, store) in [first.clone(), second.clone()]
        .into_iter()
        .cycle()
        .take(10)
        .enumerate()
    {
        handles.push(tokio::spawn(async move {
            store
                .create_model_version(cairn_store::CreateModelVersion {
                    name: "m".into(),
                    source: format!("s{index}"),
                    run_id: None,
                    run_link: None,
                    description: None,
                    model_id: None,
                    tags: vec![],
                })
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
    assert_eq!(versions, (1..=10).collect::<Vec<i64>>());
}

/// The child half of `acknowledged_writes_survive_sigkill`: writes until killed, printing what was
/// acknowledged. Does nothing unless started by that test.
#[tokio::test]
#[ignore]
async fn crash_child() {
    let Ok(uri) = std::env::var("CAIRN_STORE_CRASH_DB") else {
        return;
    };
    let store = SqliteStore::connect(&uri).await.unwrap();
    let run_id = store
        .create_run(CreateRun {
            experiment_id: "0".into(),
            user_id: "u".into(),
            run_name: "crash".into(),
            start_time: 0,
            tags: vec![],
        })
        .await
        .unwrap()
        .info
        .run_id;
    println!("run {run_id}");
    let started = Instant::now();
    let mut step = 0_i64;
    while started.elapsed().as_secs() < 60 {
        let metrics = (0..10_i64)
            .map(|index| Metric::new("m", index as f64, step, step * 10 + index))
            .collect();
        store
            .log_batch(
                &run_id,
                LogBatch {
                    metrics,
                    params: vec![],
                    tags: vec![KeyValue::new("last", step.to_string())],
                },
            )
            .await
            .unwrap();
        println!("ack {step}");
        step += 1;
    }
}

/// A write that returned `Ok` survives the process being killed with SIGKILL mid-stream.
#[tokio::test]
async fn acknowledged_writes_survive_sigkill() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let uri = dir.path().join("crash.db").to_str().unwrap().to_owned();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "crash_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CAIRN_STORE_CRASH_DB", &uri)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut run_id = None;
    let mut last_ack = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        // libtest prints `test crash_child ... ` in front of the first line.
        if let Some((_, id)) = line.split_once("run ") {
            run_id = Some(id.trim().to_owned());
        } else if let Some(step) = line.strip_prefix("ack ") {
            let step: i64 = step.trim().parse().unwrap();
            last_ack = Some(step);
            if step >= 150 {
                // SIGKILL on Unix: no destructors, no checkpoint, the writer may be mid-transaction.
                child.kill().unwrap();
                break;
            }
        }
    }
    child.wait().unwrap();
    let run_id = run_id.expect("the child started");
    let last_ack = last_ack.expect("the child acknowledged writes");

    let store = SqliteStore::connect(&uri).await.unwrap();
    let run = store.get_run(&run_id).await.unwrap();
    let last_tag: i64 = run
        .data
        .tags
        .iter()
        .find(|tag| tag.key == "last")
        .unwrap()
        .value
        .parse()
        .unwrap();
    assert!(
        last_tag >= last_ack,
        "tag {last_tag} < acknowledged {last_ack}"
    );
    let history = store.get_metric_history(&run_id, "m", None).await.unwrap();
    let steps: std::collections::HashSet<i64> = history.items.iter().map(|m| m.step).collect();
    for step in 0..=last_ack {
        for index in 0..10 {
            assert!(
                steps.contains(&(step * 10 + index)),
                "lost step {}",
                step * 10 + index
            );
        }
    }
}

/// Measures the operations the speed targets name. Run in release mode:
/// `cargo test -p cairn-store --release --test sqlite -- --ignored --nocapture timings`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn timings() {
    let (store, _dir) = fresh_store().await;
    let experiment_id = store
        .create_experiment(CreateExperiment {
            name: "bench".into(),
            artifact_location: None,
            tags: vec![],
        })
        .await
        .unwrap();
    let new_run = |name: String, start_time: i64| CreateRun {
        experiment_id: experiment_id.clone(),
        user_id: "u".into(),
        run_name: name,
        start_time,
        tags: vec![],
    };

    // log_batch of 1000 metrics.
    let run_id = store
        .create_run(new_run("batch".into(), 0))
        .await
        .unwrap()
        .info
        .run_id;
    let mut samples = Vec::new();
    for round in 0..20_i64 {
        let metrics: Vec<Metric> = (0..1000_i64)
            .map(|index| {
                Metric::new(
                    format!("m{}", index % 10),
                    index as f64,
                    round * 1000 + index,
                    round * 1000 + index,
                )
            })
            .collect();
        let started = Instant::now();
        store
            .log_batch(
                &run_id,
                LogBatch {
                    metrics,
                    ..LogBatch::default()
                },
            )
            .await
            .unwrap();
        samples.push(started.elapsed());
    }
    samples.sort();
    println!(
        "log_batch 1000 metrics: median {:?}, min {:?}, max {:?}",
        samples[samples.len() / 2],
        samples[0],
        samples[samples.len() - 1]
    );

    // Single small writes (the fsync cost dominates).
    let started = Instant::now();
    for index in 0..50_i64 {
        store
            .log_batch(
                &run_id,
                LogBatch {
                    metrics: vec![Metric::new("single", 1.0, index, index)],
                    ..LogBatch::default()
                },
            )
            .await
            .unwrap();
    }
    println!(
        "log_batch 1 metric (synchronous=FULL): mean {:?}",
        started.elapsed() / 50
    );

    // The same with synchronous=NORMAL, to price durability.
    let normal_dir = tempfile::tempdir().unwrap();
    let normal = SqliteStore::connect_with(
        normal_dir.path().join("normal.db").to_str().unwrap(),
        SqliteOptions {
            synchronous_full: false,
            ..SqliteOptions::default()
        },
    )
    .await
    .unwrap();
    let normal_run = normal
        .create_run(CreateRun {
            experiment_id: "0".into(),
            user_id: "u".into(),
            run_name: "normal".into(),
            start_time: 0,
            tags: vec![],
        })
        .await
        .unwrap()
        .info
        .run_id;
    let started = Instant::now();
    for index in 0..50_i64 {
        normal
            .log_batch(
                &normal_run,
                LogBatch {
                    metrics: vec![Metric::new("single", 1.0, index, index)],
                    ..LogBatch::default()
                },
            )
            .await
            .unwrap();
    }
    println!(
        "log_batch 1 metric (synchronous=NORMAL): mean {:?}",
        started.elapsed() / 50
    );
    let mut samples = Vec::new();
    for round in 0..20_i64 {
        let metrics: Vec<Metric> = (0..1000_i64)
            .map(|index| {
                Metric::new(
                    format!("m{}", index % 10),
                    index as f64,
                    round * 1000 + index,
                    round * 1000 + index,
                )
            })
            .collect();
        let started = Instant::now();
        normal
            .log_batch(
                &normal_run,
                LogBatch {
                    metrics,
                    ..LogBatch::default()
                },
            )
            .await
            .unwrap();
        samples.push(started.elapsed());
    }
    samples.sort();
    println!(
        "log_batch 1000 metrics (synchronous=NORMAL): median {:?}",
        samples[samples.len() / 2]
    );

    // History of 100,000 points.
    let history_run = store
        .create_run(new_run("history".into(), 0))
        .await
        .unwrap()
        .info
        .run_id;
    for chunk in 0..100_i64 {
        let metrics: Vec<Metric> = (0..1000_i64)
            .map(|index| {
                let step = chunk * 1000 + index;
                Metric::new("loss", 1.0 / (step as f64 + 1.0), step, step)
            })
            .collect();
        store
            .log_batch(
                &history_run,
                LogBatch {
                    metrics,
                    ..LogBatch::default()
                },
            )
            .await
            .unwrap();
    }
    let mut samples = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let history = store
            .get_metric_history(&history_run, "loss", None)
            .await
            .unwrap();
        samples.push(started.elapsed());
        assert_eq!(history.items.len(), 100_000);
    }
    samples.sort();
    println!(
        "get_metric_history 100k: median {:?}, min {:?}",
        samples[2], samples[0]
    );

    // search_runs over 2,000 runs.
    let search_experiment = store
        .create_experiment(CreateExperiment {
            name: "search-bench".into(),
            artifact_location: None,
            tags: vec![],
        })
        .await
        .unwrap();
    for index in 0..2000_i64 {
        let run_id = store
            .create_run(CreateRun {
                experiment_id: search_experiment.clone(),
                user_id: "u".into(),
                run_name: format!("run-{index}"),
                start_time: index,
                tags: vec![],
            })
            .await
            .unwrap()
            .info
            .run_id;
        store
            .log_batch(
                &run_id,
                LogBatch {
                    metrics: vec![
                        Metric::new("accuracy", (index % 1000) as f64 / 1000.0, index, 0),
                        Metric::new("loss", index as f64, index, 0),
                    ],
                    params: vec![
                        KeyValue::new("model", if index % 4 == 0 { "cnn" } else { "mlp" }),
                        KeyValue::new("lr", "0.01"),
                    ],
                    tags: vec![KeyValue::new("team", "vision")],
                },
            )
            .await
            .unwrap();
    }
    let request = SearchRuns {
        experiment_ids: vec![search_experiment.clone()],
        filter: parse_filter(
            SearchKind::Runs,
            "metrics.accuracy > 0.9 and params.model = 'cnn'",
        )
        .unwrap(),
        view_type: ViewType::ActiveOnly,
        order_by: parse_order_by(SearchKind::Runs, &["metrics.accuracy DESC".to_string()]).unwrap(),
        page: PageRequest {
            max_results: 1000,
            offset: 0,
        },
    };
    let mut samples = Vec::new();
    let mut found = 0;
    for _ in 0..10 {
        let started = Instant::now();
        found = store
            .search_runs(request.clone())
            .await
            .unwrap()
            .items
            .len();
        samples.push(started.elapsed());
    }
    samples.sort();
    println!(
        "search_runs 2000 runs, metric+param filter, metric order ({found} hits): median {:?}, min {:?}",
        samples[5], samples[0]
    );
    let unfiltered = SearchRuns {
        filter: Default::default(),
        order_by: parse_order_by(SearchKind::Runs, &["metrics.loss ASC".to_string()]).unwrap(),
        ..request.clone()
    };
    let mut samples = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        found = store
            .search_runs(unfiltered.clone())
            .await
            .unwrap()
            .items
            .len();
        samples.push(started.elapsed());
    }
    samples.sort();
    println!(
        "search_runs 2000 runs, no filter, metric order, page of {found}: median {:?}",
        samples[2]
    );
    let small_page = SearchRuns {
        page: PageRequest {
            max_results: 100,
            offset: 0,
        },
        ..unfiltered.clone()
    };
    let mut samples = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        found = store
            .search_runs(small_page.clone())
            .await
            .unwrap()
            .items
            .len();
        samples.push(started.elapsed());
    }
    samples.sort();
    println!(
        "search_runs 2000 runs, no filter, metric order, page of {found}: median {:?}",
        samples[2]
    );
    let run_ids: Vec<String> = store
        .search_runs(small_page.clone())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|run| run.info.run_id.clone())
        .collect();
    let started = Instant::now();
    for run_id in &run_ids {
        store.get_run(run_id).await.unwrap();
    }
    println!(
        "get_run: mean {:?}",
        started.elapsed() / run_ids.len() as u32
    );
}

/// Compares ways of reading a 100k-point history straight from SQL (for choosing the read path).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn history_read_variants() {
    let (store, dir) = fresh_store().await;
    let run_id = store
        .create_run(CreateRun {
            experiment_id: "0".into(),
            user_id: "u".into(),
            run_name: "h".into(),
            start_time: 0,
            tags: vec![],
        })
        .await
        .unwrap()
        .info
        .run_id;
    for chunk in 0..100_i64 {
        let metrics: Vec<Metric> = (0..1000_i64)
            .map(|index| {
                let step = chunk * 1000 + index;
                Metric::new("loss", 1.0 / (step as f64 + 1.0), step, step)
            })
            .collect();
        store
            .log_batch(
                &run_id,
                LogBatch {
                    metrics,
                    ..LogBatch::default()
                },
            )
            .await
            .unwrap();
    }
    let pool = sqlx::SqlitePool::connect(dir.path().join("mlflow.db").to_str().unwrap())
        .await
        .unwrap();
    let variants = [
        ("rows7", "SELECT step, timestamp, value, is_nan, model_id, dataset_name, dataset_digest FROM metrics WHERE run_uuid = ? AND key = ? ORDER BY step, timestamp, value, is_nan"),
        ("rows3", "SELECT step, timestamp, value_bits FROM metrics WHERE run_uuid = ? AND key = ? ORDER BY step, timestamp, value, is_nan"),
        ("concat", "SELECT group_concat(step || ',' || timestamp || ',' || value_bits || ',' || is_nan, ';') FROM metrics WHERE run_uuid = ? AND key = ?"),
        ("printf", "SELECT group_concat(printf('%d,%d,%d,%d', step, timestamp, value_bits, is_nan), ';') FROM metrics WHERE run_uuid = ? AND key = ?"),
        ("count", "SELECT count(*) FROM metrics WHERE run_uuid = ? AND key = ?"),
        ("sum", "SELECT sum(step + timestamp + value_bits + is_nan) FROM metrics WHERE run_uuid = ? AND key = ?"),
    ];
    for (name, sql) in variants {
        let mut samples = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            if name.starts_with("rows") {
                let rows = sqlx::query(sql)
                    .bind(&run_id)
                    .bind("loss")
                    .fetch_all(&pool)
                    .await
                    .unwrap();
                assert_eq!(rows.len(), 100_000);
            } else {
                let _: Option<sqlx::sqlite::SqliteRow> = sqlx::query(sql)
                    .bind(&run_id)
                    .bind("loss")
                    .fetch_optional(&pool)
                    .await
                    .unwrap();
            }
            samples.push(started.elapsed());
        }
        samples.sort();
        println!("{name}: median {:?}", samples[2]);
    }
}
