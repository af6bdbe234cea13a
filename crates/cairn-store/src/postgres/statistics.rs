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
//! also counts what it writes ([`Activity`]): a burst of new runs (200, plus 10% of the runs there
//! were at the last analyze) or of metric points (20,000 plus 10%) wakes the task at once to
//! analyze those tables.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::Notify;

/// Rows of one kind written by this process since their tables were last analyzed.
#[derive(Debug)]
struct Burst {
    written: AtomicU64,
    /// Rows that trigger the next analyze: `base` plus 10% of the table at the last one.
    threshold: AtomicU64,
    base: u64,
    /// The table whose size scales the threshold.
    counted: &'static str,
    /// What is analyzed (constant text: only these names reach SQL).
    tables: &'static str,
}

impl Burst {
    fn new(base: u64, counted: &'static str, tables: &'static str) -> Burst {
        Burst {
            written: AtomicU64::new(0),
            threshold: AtomicU64::new(base),
            base,
            counted,
            tables,
        }
    }

    /// Counts `rows`; whether the burst is now large enough to analyze.
    fn add(&self, rows: u64) -> bool {
        let written = self.written.fetch_add(rows, Ordering::Relaxed) + rows;
        written >= self.threshold.load(Ordering::Relaxed)
    }

    fn due(&self) -> bool {
        self.written.load(Ordering::Relaxed) >= self.threshold.load(Ordering::Relaxed)
    }

    /// Analyzes the tables and sets the next threshold.
    async fn analyze(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        self.written.store(0, Ordering::Relaxed);
        sqlx::query(&format!("ANALYZE {}", self.tables))
            .execute(pool)
            .await?;
        let rows: f32 =
            sqlx::query_scalar("SELECT reltuples FROM pg_class WHERE oid = CAST($1 AS regclass)")
                .bind(self.counted)
                .fetch_one(pool)
                .await?;
        // `reltuples` is an estimate (a float); a negative one means never counted.
        let tenth = if rows.is_finite() && rows > 0.0 {
            (rows / 10.0) as u64
        } else {
            0
        };
        self.threshold.store(self.base + tenth, Ordering::Relaxed);
        Ok(())
    }
}

/// What this process wrote lately, and the wake-up call for the task.
#[derive(Debug)]
pub(super) struct Activity {
    /// New runs: the tables a run search reads.
    runs: Burst,
    /// Metric points: the history table.
    points: Burst,
    wake: Notify,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            runs: Burst::new(200, "runs", "runs, params, tags, latest_metrics"),
            points: Burst::new(20_000, "metrics", "metrics"),
            wake: Notify::new(),
        }
    }

    /// Counts `runs` new runs.
    pub(super) fn created_runs(&self, runs: u64) {
        if self.runs.add(runs) {
            self.wake.notify_one();
        }
    }

    /// Counts `points` new metric points.
    pub(super) fn logged_points(&self, points: u64) {
        if self.points.add(points) {
            self.wake.notify_one();
        }
    }
}

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

/// Starts the task (it runs until the pool closes); returns the counters the store feeds.
pub(super) fn spawn(pool: PgPool) -> Arc<Activity> {
    let activity = Arc::new(Activity::new());
    let counter = Arc::clone(&activity);
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(TICK);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                () = counter.wake.notified() => {}
            }
            if pool.is_closed() {
                return;
            }
            // Failures (the database restarting) are retried on the next tick or burst.
            for burst in [&counter.runs, &counter.points] {
                if burst.due() {
                    let _ = burst.analyze(&pool).await;
                }
            }
            let _ = analyze_changed(&pool).await;
        }
    });
    activity
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
