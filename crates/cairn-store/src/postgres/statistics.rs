//! Keeps the planner's statistics fresh for the tables searches and history reads use.
//!
//! PostgreSQL plans from statistics that autovacuum refreshes at most once a minute per database
//! (`autovacuum_naptime`), after 10% of a table changed. A team that logs a few thousand runs and
//! searches them right away gets plans made for empty tables: nested loops that compare every run
//! with every other (a 2,000-run search took 250 ms instead of 15 ms). This task checks every few
//! seconds which search tables changed by more than a threshold since their last analyze and runs
//! `ANALYZE` on those: one cheap catalog query per tick, an `ANALYZE` (milliseconds on small
//! tables, a fixed-size sample on large ones) only after real change. Several replicas may each do
//! it; PostgreSQL serializes them and the work is idempotent.
//!
//! PostgreSQL's change counters reach `pg_stat_user_tables` a second or more late, so the store
//! also counts the runs it creates ([`Activity`]): a burst of new runs (200, plus 10% of the runs
//! there were at the last analyze) wakes the task at once to analyze the run tables.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::Notify;

/// Runs created by this process since the run tables were last analyzed, and the wake-up call.
#[derive(Debug, Default)]
pub(super) struct Activity {
    created_runs: AtomicU64,
    /// Runs created since the last analyze that trigger the next one.
    threshold: AtomicU64,
    wake: Notify,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            threshold: AtomicU64::new(200),
            ..Activity::default()
        }
    }

    /// Counts `runs` new runs; wakes the task when the burst is large enough.
    pub(super) fn created_runs(&self, runs: u64) {
        let created = self.created_runs.fetch_add(runs, Ordering::Relaxed) + runs;
        if created >= self.threshold.load(Ordering::Relaxed) {
            self.wake.notify_one();
        }
    }
}

/// The tables a run's search reads, analyzed together after a burst of new runs.
const RUN_TABLES: &str = "runs, params, tags, latest_metrics";

/// Tables whose statistics searches and history reads depend on (without them a 100,000-point
/// history was read through a bitmap scan and an on-disk sort instead of the primary key's order).
const ANALYZED_TABLES: &[&str] = &[
    "experiments",
    "experiment_tags",
    "runs",
    "params",
    "tags",
    "latest_metrics",
    "metrics",
    "datasets",
    "run_dataset_inputs",
    "logged_models",
    "logged_model_params",
    "logged_model_tags",
    "logged_model_metrics",
    "registered_models",
    "registered_model_tags",
    "model_versions",
    "model_version_tags",
    "registered_model_aliases",
];

/// How often the task looks.
const TICK: Duration = Duration::from_secs(3);

/// Starts the task (it runs until the pool closes); returns the counter the store feeds.
pub(super) fn spawn(pool: PgPool) -> Arc<Activity> {
    let activity = Arc::new(Activity::new());
    let counter = Arc::clone(&activity);
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(TICK);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                () = counter.wake.notified() => {
                    // A failure (the database restarting) is retried after the next burst.
                    let _ = analyze_run_tables(&pool, &counter).await;
                }
            }
            if pool.is_closed() {
                return;
            }
            // A failure (the database restarting) is retried on the next tick.
            let _ = analyze_changed(&pool).await;
        }
    });
    activity
}

/// Analyzes the run tables after a burst and sets the next threshold: 200 runs plus 10% of the
/// runs there are now.
async fn analyze_run_tables(pool: &PgPool, activity: &Activity) -> Result<(), sqlx::Error> {
    activity.created_runs.store(0, Ordering::Relaxed);
    sqlx::query(&format!("ANALYZE {RUN_TABLES}"))
        .execute(pool)
        .await?;
    let runs: f32 =
        sqlx::query_scalar("SELECT reltuples FROM pg_class WHERE oid = 'runs'::regclass")
            .fetch_one(pool)
            .await?;
    // `reltuples` is an estimate (a float); a negative one means never counted.
    let tenth = if runs.is_finite() && runs > 0.0 {
        (runs / 10.0) as u64
    } else {
        0
    };
    activity.threshold.store(200 + tenth, Ordering::Relaxed);
    Ok(())
}

/// Analyzes each of those tables changed by more than 200 rows plus 10% since its last analyze.
async fn analyze_changed(pool: &PgPool) -> Result<(), sqlx::Error> {
    let stale: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(relname AS TEXT) FROM pg_stat_user_tables \
         WHERE schemaname = current_schema() AND relname = ANY($1) \
           AND n_mod_since_analyze > 200 + n_live_tup / 10",
    )
    .bind(ANALYZED_TABLES)
    .fetch_all(pool)
    .await?;
    for table in stale {
        // Only names from the constant list reach the statement text.
        if let Some(known) = ANALYZED_TABLES.iter().find(|known| **known == table) {
            sqlx::query(&format!("ANALYZE {known}"))
                .execute(pool)
                .await?;
        }
    }
    Ok(())
}
