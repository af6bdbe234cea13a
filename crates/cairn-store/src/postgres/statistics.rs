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

use std::time::Duration;

use sqlx::PgPool;

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

/// Runs until the pool closes.
pub(super) fn spawn(pool: PgPool) {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(TICK);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            if pool.is_closed() {
                return;
            }
            // A failure (the database restarting) is retried on the next tick.
            let _ = analyze_changed(&pool).await;
        }
    });
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
