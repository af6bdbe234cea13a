//! Keeps SQLite's planner statistics (`sqlite_stat1`) in step with the runs table.
//!
//! Without statistics SQLite plans a run search by rules of thumb: for `metrics.m > 0.5 and
//! params.p = 'Y'` it seeks each candidate's run row before its param, through the `(run, key)`
//! constraint index plus a table lookup, where the covering `(run, key, value)` index and the param
//! first would do (2,000 runs: 3.2 ms against 2.3 ms for the page query). `ANALYZE` gives it the
//! numbers. This task runs it when the number of runs moved by more than 200 plus 10% since the
//! last one (at start, every half minute, and at once after a burst of 200 runs created here), with
//! `analysis_limit` so that each index costs at most a fixed sample whatever the table's size
//! (~6 ms on the writer). The last count analyzed is in `sqlite_stat1` itself, so other processes
//! and restarts are seen too.
//!
//! SQLite loads statistics with the schema: connections opened earlier keep planning with the old
//! numbers. After an analyze the reader pool replaces its idle connections as they are next taken
//! ([`Connections::renew`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::connections::Connections;

/// New runs (beyond 10% of those analyzed) that call for a fresh analyze.
const BURST: u64 = 200;

/// How often the task looks when nothing woke it.
const TICK: Duration = Duration::from_secs(30);

/// Rows per index `ANALYZE` reads (SQLite's `analysis_limit`, set on every connection).
pub(super) const ANALYSIS_LIMIT: &str = "1000";

/// Runs this process created since the task last looked, and its wake-up call.
#[derive(Debug, Default)]
pub(super) struct Activity {
    created: AtomicU64,
    wake: Notify,
}

impl Activity {
    /// Counts `runs` new runs; a burst wakes the task.
    pub(super) fn created_runs(&self, runs: u64) {
        let created = self.created.fetch_add(runs, Ordering::Relaxed) + runs;
        if created >= BURST && created - runs < BURST {
            self.wake.notify_one();
        }
    }
}

/// Starts the task (it ends when the pools close); returns the counter the store feeds.
pub(super) fn spawn(writer: Connections, reader: Connections) -> Arc<Activity> {
    let activity = Arc::new(Activity::default());
    let counter = Arc::clone(&activity);
    tokio::spawn(async move {
        loop {
            if writer.is_closed() {
                return;
            }
            counter.created.store(0, Ordering::Relaxed);
            // A busy or closing database fails: it is tried again on the next tick or burst.
            if let Ok(true) = refresh(&writer, &reader).await {
                reader.renew();
            }
            tokio::select! {
                () = tokio::time::sleep(TICK) => {}
                () = counter.wake.notified() => {}
            }
        }
    });
    activity
}

/// Analyzes when the runs table moved far enough from its last analyze; whether it did.
async fn refresh(writer: &Connections, reader: &Connections) -> Result<bool, sqlx::Error> {
    let (runs, analyzed) = {
        let mut conn = reader.acquire().await?;
        let (runs, has_statistics): (i64, bool) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM runs), \
             EXISTS (SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_stat1')",
        )
        .fetch_one(&mut *conn)
        .await?;
        // `sqlite_stat1` exists only after a first analyze; naming it before fails to prepare.
        let analyzed: Option<String> = if has_statistics {
            sqlx::query_scalar("SELECT stat FROM sqlite_stat1 WHERE tbl = 'runs' LIMIT 1")
                .fetch_optional(&mut *conn)
                .await?
        } else {
            None
        };
        (runs, analyzed)
    };
    // `stat` starts with the table's row count.
    let before: i64 = analyzed
        .as_deref()
        .and_then(|stat| stat.split_whitespace().next())
        .and_then(|count| count.parse().ok())
        .unwrap_or(0);
    if runs.abs_diff(before) < BURST + before.unsigned_abs() / 10 {
        return Ok(false);
    }
    // `analysis_limit` is set on every connection (`SqliteStore::connect_with`).
    sqlx::query("ANALYZE")
        .execute(&mut *writer.acquire().await?)
        .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_burst_wakes_the_task_once() {
        let activity = Activity::default();
        activity.created_runs(BURST - 1);
        let woken = tokio::time::timeout(Duration::from_millis(10), activity.wake.notified());
        assert!(woken.await.is_err(), "no wake-up below the burst");
        activity.created_runs(1);
        let woken = tokio::time::timeout(Duration::from_millis(10), activity.wake.notified());
        assert!(woken.await.is_ok(), "the burst wakes the task");
    }
}
