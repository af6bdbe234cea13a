//! Runs a suite over a source: one streaming pass, the reader on its own thread, every expectation fed
//! each chunk in row order.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::error::{DataError, Result};
use crate::expect::{ExpectationResult, Plan, TableFacts};
use crate::source::ChunkSource;
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

/// Validates everything `source` yields against `suite`.
pub fn validate(suite: &Suite, data: &str, mut source: Box<dyn ChunkSource>) -> Result<Validation> {
    let started = Instant::now();
    let columns = source.columns().to_vec();
    let files = source.files().to_vec();
    let mut plan = Plan::compile(suite, &columns)?;
    source.set_needs(plan.needs());
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
        for chunk in receiver {
            let chunk = chunk?;
            row_count += chunk.n_rows as u64;
            plan.update(&chunk);
        }
        reader
            .join()
            .map_err(|_| DataError::input("the reader thread failed"))?;
        Ok(())
    })?;
    let facts = TableFacts {
        columns: columns.clone(),
        row_count,
    };
    let results = plan.finish(&facts);
    Ok(Validation {
        suite_name: suite.name.clone(),
        data: data.to_string(),
        files,
        columns,
        row_count,
        results,
        elapsed: started.elapsed(),
    })
}
