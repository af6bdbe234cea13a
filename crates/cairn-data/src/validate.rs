//! Runs a suite over a source: one streaming pass, the reader on its own thread, every expectation fed
//! each chunk in row order.

use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::error::{DataError, Result};
use crate::expect::{Check, ExpectationResult, Plan, TableFacts};
use crate::profile::{ColumnProfile, ProfileOptions, TableProfile, TableProfiler};
use crate::source::ChunkSource;
use crate::spill::MemoryBudget;
use crate::suite::Suite;
use crate::table::Chunk;

/// A finished validation.
#[derive(Debug, Clone)]
pub struct Validation {
    pub suite_name: String,
    /// The data argument as given.
    pub data: String,
    pub files: Vec<String>,
    pub columns: Vec<String>,
    pub row_count: u64,
    pub results: Vec<ExpectationResult>,
    pub elapsed: Duration,
    /// The columns' profile, when asked for (the HTML report plots each column from it).
    pub profile: Option<TableProfile>,
}

impl Validation {
    pub fn success(&self) -> bool {
        self.results.iter().all(|result| result.success)
    }

    pub fn successful(&self) -> usize {
        self.results.iter().filter(|result| result.success).count()
    }
}

/// Chunks in flight between the reader and the checks.
const QUEUE: usize = 2;

/// Threads the checks are spread over (each thread runs its checks on every chunk).
const CHECK_THREADS: usize = 2;

/// The budgets of the profile taken only to draw each column's distribution (`--html`, tracking):
/// a plot needs a sample and the most frequent values, not exact distinct counts or quantiles, so
/// memory stays flat (~1 MB per column) and the pass costs little beyond the checks.
const PLOT_PROFILE: ProfileOptions = ProfileOptions {
    distinct_limit: 10_000,
    sample_budget: 50_000,
    top_capacity: 1_000,
    // The limits above keep it small: it never spills.
    memory_budget: usize::MAX,
};

/// Validates everything `source` yields against `suite`; with `profile`, also profiles every column
/// in the same pass (for the HTML report's plots). The checks that keep values share `memory`.
pub fn validate(
    suite: &Suite,
    data: &str,
    mut source: Box<dyn ChunkSource>,
    profile: bool,
    memory: &MemoryBudget,
) -> Result<Validation> {
    let started = Instant::now();
    let columns = source.columns().to_vec();
    let files = source.files().to_vec();
    let mut plan = Plan::compile(suite, &columns, memory)?;
    let mut needs = plan.needs();
    let mut profiler = profile.then(|| {
        for need in &mut needs {
            let extra = ColumnProfile::needs();
            need.kinds |= extra.kinds;
            need.numbers |= extra.numbers;
        }
        TableProfiler::new(&columns, PLOT_PROFILE, None)
    });
    source.set_needs(needs);
    let mut row_count = 0u64;
    std::thread::scope(|scope| -> Result<()> {
        let (sender, receiver) = mpsc::sync_channel::<Result<Chunk>>(QUEUE);
        let reader = scope.spawn(move || loop {
            match source.next_chunk() {
                Ok(Some(chunk)) => {
                    if sender.send(Ok(chunk)).is_err() {
                        return;
                    }
                }
                Ok(None) => return,
                Err(error) => {
                    let _ = sender.send(Err(error));
                    return;
                }
            }
        });
        // The checks are spread over a few threads; each sees every chunk, in order.
        let checks = plan.checks_mut();
        let groups = CHECK_THREADS.min(checks.len()).max(1);
        let mut buckets: Vec<Vec<&mut Box<dyn Check>>> = (0..groups).map(|_| Vec::new()).collect();
        for (index, check) in checks.into_iter().enumerate() {
            buckets[index % groups].push(check);
        }
        let mut feeds = Vec::with_capacity(groups);
        let mut workers = Vec::with_capacity(groups);
        for mut bucket in buckets {
            let (feed, chunks) = mpsc::sync_channel::<Arc<Chunk>>(QUEUE);
            feeds.push(feed);
            // A check that fails (a spill file it cannot write) stops its thread; the error is
            // reported once the reader is stopped.
            workers.push(scope.spawn(move || -> Result<()> {
                for chunk in chunks {
                    for check in bucket.iter_mut() {
                        check.update(&chunk)?;
                    }
                }
                Ok(())
            }));
        }
        let mut fed = Ok(());
        for chunk in receiver {
            let chunk = match chunk {
                Ok(chunk) => Arc::new(chunk),
                Err(error) => {
                    fed = Err(error);
                    break;
                }
            };
            row_count += chunk.n_rows as u64;
            if feeds
                .iter()
                .any(|feed| feed.send(Arc::clone(&chunk)).is_err())
            {
                // A check thread ended early: its error is joined below.
                break;
            }
            if let Some(profiler) = profiler.as_mut() {
                if let Err(error) = profiler.update(&chunk, 1) {
                    fed = Err(error);
                    break;
                }
            }
        }
        drop(feeds);
        for worker in workers {
            worker
                .join()
                .map_err(|_| DataError::input("a check thread failed"))??;
        }
        fed?;
        reader
            .join()
            .map_err(|_| DataError::input("the reader thread failed"))?;
        Ok(())
    })?;
    let facts = TableFacts {
        columns: columns.clone(),
        row_count,
    };
    let results = plan.finish(&facts)?;
    let profile = match profiler {
        Some(profiler) => Some(profiler.finish(data, &files)?),
        None => None,
    };
    Ok(Validation {
        suite_name: suite.name.clone(),
        data: data.to_string(),
        columns,
        row_count,
        results,
        elapsed: started.elapsed(),
        profile,
        files,
    })
}
