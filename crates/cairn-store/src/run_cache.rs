//! The run cache: whole runs (info, metrics, params, tags, inputs, outputs) that searches loaded,
//! kept by run id with the run's `rev` at the time.
//!
//! Every change to a run or its parts changes `runs.rev` (triggers: migration 0008 on SQLite, 0002
//! on PostgreSQL), and a search's page query reads it with the run's id. An entry is used only
//! while the two values are equal, so the cache never serves a run older than the search's own
//! snapshot, whoever wrote to the database: this process, another process or replica, an import.
//!
//! Runs missing from the cache are read after the page (a second statement), so an entry can hold a
//! run newer than its value: the next search sees a newer value and reloads, which is safe. The
//! reverse cannot happen, because the second statement's snapshot is never older than the first's.
//!
//! Bounded by the bytes its entries hold (estimated), least recently used out first.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use cairn_core::entities::{KeyValue, Run};
use cairn_core::Result;
use hashlink::LinkedHashMap;

/// The cache's default size: about 64 MiB of runs (~100,000 runs of the usual shape).
pub const DEFAULT_RUN_CACHE_BYTES: usize = 64 << 20;

/// Roughly the heap bytes a run holds.
fn weight(run: &Run) -> usize {
    const ITEM: usize = 48;
    let pairs = |items: &[KeyValue]| -> usize {
        items
            .iter()
            .map(|item| item.key.len() + item.value.len() + ITEM)
            .sum()
    };
    let info = &run.info;
    let metrics: usize = run
        .data
        .metrics
        .iter()
        .map(|metric| {
            metric.key.len()
                + metric.model_id.as_ref().map_or(0, String::len)
                + metric.dataset_name.as_ref().map_or(0, String::len)
                + metric.dataset_digest.as_ref().map_or(0, String::len)
                + 2 * ITEM
        })
        .sum();
    let datasets: usize = run
        .inputs
        .dataset_inputs
        .iter()
        .map(|input| {
            let dataset = &input.dataset;
            dataset.name.len()
                + dataset.digest.len()
                + dataset.source_type.len()
                + dataset.source.len()
                + dataset.schema.as_ref().map_or(0, String::len)
                + dataset.profile.as_ref().map_or(0, String::len)
                + pairs(&input.tags)
                + 4 * ITEM
        })
        .sum();
    let models: usize = run
        .inputs
        .model_inputs
        .iter()
        .map(|input| input.model_id.len() + ITEM)
        .chain(
            run.outputs
                .model_outputs
                .iter()
                .map(|output| output.model_id.len() + ITEM),
        )
        .sum();
    2 * info.run_id.len()
        + info.experiment_id.len()
        + info.run_name.len()
        + info.user_id.len()
        + info.artifact_uri.len()
        + 8 * ITEM
        + metrics
        + pairs(&run.data.params)
        + pairs(&run.data.tags)
        + datasets
        + models
}

#[derive(Debug, Default)]
struct Entries {
    map: LinkedHashMap<String, Entry>,
    bytes: usize,
}

#[derive(Debug)]
struct Entry {
    rev: i64,
    weight: usize,
    run: Arc<Run>,
}

/// See the module docs. Cloning shares the cache.
#[derive(Debug, Clone)]
pub(crate) struct RunCache {
    entries: Arc<Mutex<Entries>>,
    capacity: usize,
}

impl RunCache {
    /// A cache holding at most about `capacity` bytes of runs; 0 turns it off.
    pub fn new(capacity: usize) -> RunCache {
        RunCache {
            entries: Arc::default(),
            capacity,
        }
    }

    /// For each `(run id, rev)`, the cached run if it is of that revision.
    fn lookup<'a>(&self, keys: impl Iterator<Item = (&'a str, i64)>) -> Vec<Option<Arc<Run>>> {
        if self.capacity == 0 {
            return keys.map(|_| None).collect();
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        keys.map(|(run_id, rev)| {
            let entry = entries.map.to_back(run_id)?;
            (entry.rev == rev).then(|| Arc::clone(&entry.run))
        })
        .collect()
    }

    /// Keeps freshly loaded runs, each under the `rev` its search read.
    fn store<'a>(&self, runs: impl Iterator<Item = (&'a Arc<Run>, i64)>) {
        if self.capacity == 0 {
            return;
        }
        let fresh: Vec<(String, Entry)> = runs
            .filter_map(|(run, rev)| {
                let weight = weight(run);
                // A run too large for a quarter of the cache is not kept.
                (weight <= self.capacity / 4).then(|| {
                    let entry = Entry {
                        rev,
                        weight,
                        run: Arc::clone(run),
                    };
                    (run.info.run_id.clone(), entry)
                })
            })
            .collect();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        for (run_id, entry) in fresh {
            entries.bytes += entry.weight;
            if let Some(old) = entries.map.insert(run_id, entry) {
                entries.bytes -= old.weight;
            }
        }
        while entries.bytes > self.capacity {
            match entries.map.pop_front() {
                Some((_, old)) => entries.bytes -= old.weight,
                None => break,
            }
        }
    }

    /// The runs of a search's page (`(run id, rev)`, in order): from the cache where the revision
    /// matches, the rest from `load` (given their ids; it returns whole runs in any order and skips
    /// ids it cannot find), which are then cached. A run `load` does not return (deleted since the
    /// page was read) is left out. Runs are shared with the cache, not copied.
    pub async fn runs_of_page<F, Fut>(
        &self,
        page: &[(String, i64)],
        load: F,
    ) -> Result<Vec<Arc<Run>>>
    where
        F: FnOnce(Vec<String>) -> Fut,
        Fut: Future<Output = Result<Vec<Run>>>,
    {
        let cached = self.lookup(page.iter().map(|(run_id, rev)| (run_id.as_str(), *rev)));
        let missing: Vec<String> = page
            .iter()
            .zip(&cached)
            .filter(|(_, hit)| hit.is_none())
            .map(|((run_id, _), _)| run_id.clone())
            .collect();
        let mut loaded: HashMap<String, Run> = if missing.is_empty() {
            HashMap::new()
        } else {
            load(missing)
                .await?
                .into_iter()
                .map(|run| (run.info.run_id.clone(), run))
                .collect()
        };
        let mut runs = Vec::with_capacity(page.len());
        let mut fresh = Vec::new();
        for ((run_id, rev), hit) in page.iter().zip(cached) {
            match hit {
                Some(run) => runs.push(run),
                None => {
                    if let Some(run) = loaded.remove(run_id) {
                        fresh.push((runs.len(), *rev));
                        runs.push(Arc::new(run));
                    }
                }
            }
        }
        self.store(fresh.iter().map(|&(position, rev)| (&runs[position], rev)));
        Ok(runs)
    }

    #[cfg(test)]
    fn len_and_bytes(&self) -> (usize, usize) {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        (entries.map.len(), entries.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::entities::{
        LifecycleStage, Metric, RunData, RunInfo, RunInputs, RunOutputs, RunStatus,
    };

    fn run(run_id: &str, tag: &str) -> Run {
        Run {
            info: RunInfo {
                run_id: run_id.into(),
                experiment_id: "1".into(),
                run_name: "r".into(),
                user_id: "u".into(),
                status: RunStatus::Running,
                start_time: 1,
                end_time: None,
                artifact_uri: "a".into(),
                lifecycle_stage: LifecycleStage::Active,
            },
            data: RunData {
                metrics: vec![Metric::new("m", 0.5, 1, 2)],
                params: vec![KeyValue::new("p", "x")],
                tags: vec![KeyValue::new("t", tag)],
            },
            inputs: RunInputs::default(),
            outputs: RunOutputs::default(),
        }
    }

    #[test]
    fn entries_serve_only_their_revision() {
        let cache = RunCache::new(1 << 20);
        cache.store([(&Arc::new(run("a", "v1")), 7)].into_iter());
        let hit = cache.lookup([("a", 7)].into_iter());
        let cached = hit[0].as_ref().expect("a hit at the stored revision");
        assert_eq!(cached.as_ref(), &run("a", "v1"));
        assert!(cache.lookup([("a", 8), ("b", 7)].into_iter())[0].is_none());
        assert!(cache.lookup([("b", 7)].into_iter())[0].is_none());
        cache.store([(&Arc::new(run("a", "v2")), 8)].into_iter());
        let hits = cache.lookup([("a", 7), ("a", 8)].into_iter());
        assert!(hits[0].is_none());
        assert_eq!(hits[1].as_ref().unwrap().data.tags[0].value, "v2");
        assert_eq!(cache.len_and_bytes().0, 1);
    }

    #[test]
    fn least_recently_used_runs_leave_first_and_bytes_stay_bounded() {
        let one = weight(&run("r0", "v"));
        let cache = RunCache::new(one * 4);
        let runs: Vec<Arc<Run>> = (0..4)
            .map(|i| Arc::new(run(&format!("r{i}"), "v")))
            .collect();
        cache.store(runs.iter().map(|run| (run, 1)));
        // r0 used, so r1 is the least recent when r4 comes in.
        assert!(cache.lookup([("r0", 1)].into_iter())[0].is_some());
        cache.store([(&Arc::new(run("r4", "v")), 1)].into_iter());
        let hits = cache.lookup(["r0", "r1", "r2", "r3", "r4"].into_iter().map(|id| (id, 1)));
        let present: Vec<bool> = hits.iter().map(Option::is_some).collect();
        assert_eq!(present, [true, false, true, true, true]);
        let (len, bytes) = cache.len_and_bytes();
        assert_eq!(len, 4);
        assert!(bytes <= one * 4);
        // A run larger than a quarter of the cache is not kept.
        let mut big = run("big", "v");
        big.data
            .tags
            .push(KeyValue::new("long", "x".repeat(one * 2)));
        cache.store([(&Arc::new(big), 1)].into_iter());
        assert!(cache.lookup([("big", 1)].into_iter())[0].is_none());
    }

    #[test]
    fn a_zero_capacity_cache_keeps_nothing() {
        let cache = RunCache::new(0);
        cache.store([(&Arc::new(run("a", "v")), 1)].into_iter());
        assert!(cache.lookup([("a", 1)].into_iter())[0].is_none());
        assert_eq!(cache.len_and_bytes(), (0, 0));
    }
}
