//! Bounded-memory summaries behind a column profile: distinct counting (exact over sorted 64-bit
//! hashes, then HyperLogLog), frequent items (exact counts, then a purging Misra-Gries counter) and a
//! sample of numbers for quantiles (every value, then a uniform reservoir).

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::error::Result;
use crate::spill::{f64_key, key_f64, Allowance, MemoryBudget, MemoryPool, Sorted, Sorter};

/// A hasher for keys that already are 64-bit hashes (xxh3): passes them through.
#[derive(Default, Clone, Copy)]
pub struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; fold anything else in.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

pub type HashKeyed = BuildHasherDefault<PassThroughHasher>;

/// HyperLogLog with 2^14 registers (standard error about 0.8%).
#[derive(Debug, Clone)]
pub struct HyperLogLog {
    registers: Vec<u8>,
}

const HLL_PRECISION: u32 = 14;

impl Default for HyperLogLog {
    fn default() -> Self {
        HyperLogLog {
            registers: vec![0; 1 << HLL_PRECISION],
        }
    }
}

impl HyperLogLog {
    pub fn insert(&mut self, hash: u64) {
        let index = (hash >> (64 - HLL_PRECISION)) as usize;
        let rest = hash << HLL_PRECISION;
        let rank = (rest.leading_zeros() + 1).min(64 - HLL_PRECISION + 1) as u8;
        if rank > self.registers[index] {
            self.registers[index] = rank;
        }
    }

    pub fn estimate(&self) -> f64 {
        let m = self.registers.len() as f64;
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let sum: f64 = self
            .registers
            .iter()
            .map(|&rank| (-f64::from(rank)).exp2())
            .sum();
        let raw = alpha * m * m / sum;
        let zeros = self.registers.iter().filter(|&&rank| rank == 0).count();
        if raw <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            raw
        }
    }
}

/// Shards of a [`DistinctCounter`] (hashes are split by their top byte).
const SHARDS: usize = 256;
/// New hashes a shard buffers before sorting them in, at least.
const SHARD_PENDING_MIN: usize = 1024;

/// Distinct values: exact up to `limit` distinct hashes, then HyperLogLog.
///
/// The exact count keeps the hashes sorted and deduplicated, split into 256 shards by their top
/// byte. A new hash is appended to its shard's buffer; once the buffer is as long as the shard's
/// sorted part (and at least [`SHARD_PENDING_MIN`]), it is radix sorted and merged in. Each hash is
/// so touched a logarithmic number of times, sequentially and within a shard small enough for the
/// processor's cache, instead of costing a cache miss into a hash table of millions of entries.
/// Memory is about 8 bytes per distinct value times 2 to 3 (sorted parts and buffers).
pub struct DistinctCounter {
    limit: usize,
    /// Empty until the first hash.
    shards: Vec<Shard>,
    /// Hashes in the shards' sorted parts.
    sorted: usize,
    sketch: Option<HyperLogLog>,
    /// Past the allowance, the shards are written as sorted runs here and emptied.
    runs: Sorter<u64>,
    /// Distinct hashes in the runs as of the last time they were merged, and hashes written since
    /// (a bound: they may repeat earlier ones).
    compacted: usize,
    written: usize,
}

#[derive(Debug, Clone, Default)]
struct Shard {
    sorted: Vec<u64>,
    pending: Vec<u64>,
}

/// Bytes the shards hold per hash in their sorted parts: the part, a buffer as long, and the
/// merged copy while a buffer is sorted in.
const SHARD_BYTES_PER_HASH: usize = 24;

impl DistinctCounter {
    /// A counter with no memory limit (it never spills).
    pub fn new(limit: usize) -> DistinctCounter {
        DistinctCounter::within(
            limit,
            MemoryPool::new(MemoryBudget::unlimited()).allowance(),
        )
    }

    pub(crate) fn within(limit: usize, allowance: Allowance) -> DistinctCounter {
        DistinctCounter {
            limit,
            shards: Vec::new(),
            sorted: 0,
            sketch: None,
            runs: Sorter::new(allowance, true),
            compacted: 0,
            written: 0,
        }
    }

    pub fn insert(&mut self, hash: u64) -> Result<()> {
        if let Some(sketch) = self.sketch.as_mut() {
            sketch.insert(hash);
            return Ok(());
        }
        if self.shards.is_empty() {
            self.shards = vec![Shard::default(); SHARDS];
        }
        let index = (hash >> 56) as usize;
        let shard = &mut self.shards[index];
        shard.pending.push(hash);
        if shard.pending.len() >= shard.sorted.len().max(SHARD_PENDING_MIN) {
            self.compact(index)?;
        }
        Ok(())
    }

    /// Sorts a shard's buffer into its sorted part; past the allowance, writes the shards as a run;
    /// past the limit, switches to HyperLogLog.
    fn compact(&mut self, index: usize) -> Result<()> {
        self.sort_in(index);
        if self.sorted * SHARD_BYTES_PER_HASH > self.runs.allowance_bytes() {
            self.spill()?;
        }
        let fresh = self.sorted + self.written;
        if self.compacted + fresh > self.limit && fresh * 4 >= self.compacted {
            // Perhaps past the limit: count exactly what was seen (runs may repeat hashes).
            self.merge_runs()?;
        }
        Ok(())
    }

    fn sort_in(&mut self, index: usize) {
        let shard = &mut self.shards[index];
        if shard.pending.is_empty() {
            return;
        }
        radsort::sort(&mut shard.pending);
        shard.pending.dedup();
        let before = shard.sorted.len();
        shard.sorted = merge_distinct(&shard.sorted, &shard.pending);
        shard.pending.clear();
        self.sorted += shard.sorted.len() - before;
    }

    /// Writes the shards (sorted by top byte, so in order end to end) as one run and empties them.
    fn spill(&mut self) -> Result<()> {
        for index in 0..self.shards.len() {
            self.sort_in(index);
        }
        if self.sorted == 0 {
            return Ok(());
        }
        let shards = std::mem::replace(&mut self.shards, vec![Shard::default(); SHARDS]);
        self.runs.write_sorted_run(
            shards
                .into_iter()
                .flat_map(|shard| shard.sorted.into_iter()),
        )?;
        self.written += self.sorted;
        self.sorted = 0;
        Ok(())
    }

    /// Merges every hash seen into one deduplicated run, counted; past the limit, the count
    /// becomes a HyperLogLog sketch of them.
    fn merge_runs(&mut self) -> Result<()> {
        if self.runs.runs() == 0 {
            if self.sorted > self.limit {
                let mut sketch = HyperLogLog::default();
                for shard in std::mem::take(&mut self.shards) {
                    for hash in shard.sorted.into_iter().chain(shard.pending) {
                        sketch.insert(hash);
                    }
                }
                self.sketch = Some(sketch);
            }
            return Ok(());
        }
        self.spill()?;
        let allowance = self.runs.allowance().clone();
        let runs = std::mem::replace(&mut self.runs, Sorter::new(allowance, true));
        let mut sketch = HyperLogLog::default();
        let mut count = 0usize;
        let mut previous = None;
        let mut failure = None;
        let mut merged = runs.finish()?;
        self.runs.write_sorted_run(std::iter::from_fn(|| loop {
            match merged.next()? {
                Ok(hash) if previous == Some(hash) => continue,
                Ok(hash) => {
                    previous = Some(hash);
                    count += 1;
                    sketch.insert(hash);
                    return Some(hash);
                }
                Err(error) => {
                    failure = Some(error);
                    return None;
                }
            }
        }))?;
        if let Some(error) = failure {
            return Err(error);
        }
        if count > self.limit {
            let allowance = self.runs.allowance().clone();
            self.runs = Sorter::new(allowance, true);
            self.shards = Vec::new();
            self.sketch = Some(sketch);
        }
        self.compacted = count;
        self.written = 0;
        Ok(())
    }

    /// The count, and whether it is exact.
    pub fn count(&mut self) -> Result<(u64, bool)> {
        for index in 0..self.shards.len() {
            self.sort_in(index);
        }
        if self.sketch.is_none() {
            self.merge_runs()?;
        }
        Ok(match &self.sketch {
            Some(sketch) => (sketch.estimate().round() as u64, false),
            None if self.runs.runs() > 0 => (self.compacted as u64, true),
            None => (self.sorted as u64, true),
        })
    }
}

/// The union of two sorted, deduplicated lists, sorted and deduplicated.
fn merge_distinct(left: &[u64], right: &[u64]) -> Vec<u64> {
    let mut merged = Vec::with_capacity(left.len() + right.len());
    let (mut i, mut j) = (0, 0);
    while i < left.len() && j < right.len() {
        let (a, b) = (left[i], right[j]);
        merged.push(a.min(b));
        i += usize::from(a <= b);
        j += usize::from(b <= a);
    }
    merged.extend_from_slice(&left[i..]);
    merged.extend_from_slice(&right[j..]);
    merged
}

/// Frequent items keyed by hash, holding the first text seen for each. Exact while at most `capacity`
/// keys are held; past that, the counter subtracts the median count from every entry and drops those
/// at zero (Misra-Gries in batches), so a count can be low by at most [`FrequentItems::max_error`].
///
/// Texts live end to end in one buffer (an entry holds its count and where its text is), so a new
/// key costs no allocation; a purge copies the surviving texts to a fresh buffer.
///
/// Once counts are estimates (after the first purge), a [`Doorkeeper`] stands before the table: an
/// occurrence whose key it has not met in the current epoch only sets the key's bit. Keys met once
/// (most of a column of identifiers or timestamps) then never reach the table, whose random
/// accesses were the profile's largest cost. A key loses at most one occurrence per epoch, and
/// [`FrequentItems::max_error`] grows by one per epoch, so it stays a bound.
#[derive(Debug, Clone)]
pub struct FrequentItems {
    capacity: usize,
    entries: HashMap<u64, Slot, HashKeyed>,
    doorkeeper: Option<Doorkeeper>,
    /// The entries' texts (UTF-8), end to end.
    texts: Vec<u8>,
    max_error: u64,
    /// Reused by purges.
    scratch: Vec<u64>,
}

/// A held item: its count and its text's place in [`FrequentItems::texts`].
#[derive(Debug, Clone, Copy)]
struct Slot {
    count: u64,
    start: usize,
    len: u32,
}

impl FrequentItems {
    pub fn new(capacity: usize) -> FrequentItems {
        FrequentItems {
            capacity: capacity.max(2),
            entries: HashMap::default(),
            doorkeeper: None,
            texts: Vec::new(),
            max_error: 0,
            scratch: Vec::new(),
        }
    }

    /// Counts one occurrence of the item with this hash; `text` is copied only for a new key.
    pub fn add(&mut self, hash: u64, text: &str) {
        self.add_utf8(hash, text.as_bytes());
    }

    /// [`FrequentItems::add`] for text given as bytes, which must be UTF-8.
    pub fn add_utf8(&mut self, hash: u64, text: &[u8]) {
        if let Some(doorkeeper) = self.doorkeeper.as_mut() {
            match doorkeeper.admit(hash) {
                Admission::Admitted => {}
                Admission::Held => return,
                Admission::HeldNewEpoch => {
                    self.max_error += 1;
                    return;
                }
            }
        }
        let full = self.entries.len() >= self.capacity;
        match self.entries.entry(hash) {
            Entry::Occupied(mut entry) => entry.get_mut().count += 1,
            Entry::Vacant(entry) if !full => {
                let start = self.texts.len();
                self.texts.extend_from_slice(text);
                entry.insert(Slot {
                    count: 1,
                    start,
                    len: text.len() as u32,
                });
            }
            Entry::Vacant(_) => {
                self.purge();
                let start = self.texts.len();
                self.texts.extend_from_slice(text);
                let slot = Slot {
                    count: 1,
                    start,
                    len: text.len() as u32,
                };
                self.entries.insert(hash, slot);
            }
        }
    }

    /// Whether the next new key will make the counter drop keys (and its counts inexact).
    pub fn is_full(&self) -> bool {
        self.entries.len() >= self.capacity
    }

    /// The hashes held.
    pub fn keys(&self) -> impl Iterator<Item = u64> + '_ {
        self.entries.keys().copied()
    }

    fn text(&self, slot: &Slot) -> &str {
        let bytes = &self.texts[slot.start..slot.start + slot.len as usize];
        // Only whole UTF-8 texts are copied in.
        std::str::from_utf8(bytes).unwrap_or_default()
    }

    fn purge(&mut self) {
        let mut counts = std::mem::take(&mut self.scratch);
        counts.clear();
        counts.extend(self.entries.values().map(|slot| slot.count));
        let middle = counts.len() / 2;
        let (_, median, _) = counts.select_nth_unstable(middle);
        let cut = (*median).max(1);
        self.scratch = counts;
        let mut texts = Vec::new();
        let old = std::mem::take(&mut self.texts);
        self.entries.retain(|_, slot| {
            if slot.count <= cut {
                return false;
            }
            slot.count -= cut;
            let start = texts.len();
            texts.extend_from_slice(&old[slot.start..slot.start + slot.len as usize]);
            slot.start = start;
            true
        });
        self.texts = texts;
        self.max_error += cut;
        if self.doorkeeper.is_none() {
            // Counts are estimates from now on: the first epoch of the doorkeeper begins.
            self.doorkeeper = Some(Doorkeeper::new());
            self.max_error += 1;
        }
    }

    /// Whether every count is exact (no purge happened).
    pub fn is_exact(&self) -> bool {
        self.max_error == 0
    }

    /// How much any reported count may be below the true one.
    pub fn max_error(&self) -> u64 {
        self.max_error
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The `n` most frequent items, most frequent first, ties by text; counts are lower bounds when
    /// the counter is not exact.
    pub fn top(&self, n: usize) -> Vec<(String, u64)> {
        let mut all: Vec<(&str, u64)> = self.items().collect();
        let order = |a: &(&str, u64), b: &(&str, u64)| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0));
        if all.len() > n && n > 0 {
            // Only the first n need sorting.
            all.select_nth_unstable_by(n - 1, order);
            all.truncate(n);
        }
        all.sort_by(order);
        all.into_iter()
            .take(n)
            .map(|(text, count)| (text.to_string(), count))
            .collect()
    }

    /// Every held item (for small exact sets).
    pub fn items(&self) -> impl Iterator<Item = (&str, u64)> + '_ {
        self.entries
            .values()
            .map(|slot| (self.text(slot), slot.count))
    }
}

/// Bits of a [`Doorkeeper`] (128 KB: stays in the processor's cache).
const DOORKEEPER_BITS: usize = 1 << 20;

/// A bit per key (by hash; keys may share a bit) saying whether it was met in the current epoch;
/// an epoch ends, and every bit is cleared, once half of them are set.
#[derive(Debug, Clone)]
struct Doorkeeper {
    words: Vec<u64>,
    set: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admission {
    /// The key was met before in this epoch: count it.
    Admitted,
    /// First meeting in this epoch: only its bit is set.
    Held,
    /// Held, and the epoch that follows has begun.
    HeldNewEpoch,
}

impl Doorkeeper {
    fn new() -> Doorkeeper {
        Doorkeeper {
            words: vec![0; DOORKEEPER_BITS / 64],
            set: 0,
        }
    }

    fn admit(&mut self, hash: u64) -> Admission {
        // Bits the hash tables do not index by (they use the low ones).
        let bit = (hash >> 32) as usize & (DOORKEEPER_BITS - 1);
        let (word, mask) = (bit / 64, 1u64 << (bit % 64));
        if self.words[word] & mask != 0 {
            return Admission::Admitted;
        }
        self.words[word] |= mask;
        self.set += 1;
        if self.set > DOORKEEPER_BITS / 2 {
            self.words.fill(0);
            self.set = 0;
            return Admission::HeldNewEpoch;
        }
        Admission::Held
    }
}

/// The non-null numbers of a column: all of them up to `budget`, then a uniform reservoir sample of
/// `budget` values (Algorithm R with a fixed seed, so profiles are reproducible).
#[derive(Debug, Clone)]
pub struct NumberSample {
    budget: usize,
    values: Vec<f64>,
    seen: u64,
    random: SplitMix64,
}

impl NumberSample {
    pub fn new(budget: usize) -> NumberSample {
        NumberSample {
            budget: budget.max(1),
            values: Vec::new(),
            seen: 0,
            random: SplitMix64(0x5eed_ca12_0000_0001),
        }
    }

    pub fn push(&mut self, value: f64) {
        self.seen += 1;
        if self.values.len() < self.budget {
            self.values.push(value);
            return;
        }
        let slot = self.random.below(self.seen);
        if slot < self.budget as u64 {
            self.values[slot as usize] = value;
        }
    }

    /// Whether the sample holds every value.
    pub fn is_exact(&self) -> bool {
        self.seen == self.values.len() as u64
    }

    pub fn seen(&self) -> u64 {
        self.seen
    }

    pub fn budget(&self) -> usize {
        self.budget
    }

    /// Drops the values (when the column turns out not to be numeric).
    pub fn clear(&mut self) {
        self.values = Vec::new();
        self.seen = 0;
    }

    pub fn into_values(self) -> Vec<f64> {
        self.values
    }
}

impl NumberSample {
    /// An empty sample of at most `budget` values, allocated at once.
    pub fn with_capacity(budget: usize) -> NumberSample {
        let mut sample = NumberSample::new(budget);
        sample.values.reserve_exact(sample.budget);
        sample
    }
}

/// The non-null numbers of a column, for quantiles and the histogram: every one of them up to
/// `exact_limit` (in memory within the allowance, past it as sorted runs on disk, so exact either
/// way); past the limit, a uniform reservoir sample of as many as the allowance holds (at least
/// 1,024), drawn from every number seen.
pub(crate) struct Numbers {
    exact_limit: u64,
    exact: Option<Sorter<u64>>,
    sample: Option<NumberSample>,
    seen: u64,
}

/// What [`Numbers`] holds at the end.
pub(crate) enum NumbersHeld {
    /// Every number (in no order), or a uniform sample of them (`exact` false).
    Memory { values: Vec<f64>, exact: bool },
    /// Every number, sorted, merged from runs on disk.
    Sorted(Sorted<u64>),
}

impl Numbers {
    pub(crate) fn new(exact_limit: usize, allowance: Allowance) -> Numbers {
        Numbers {
            exact_limit: exact_limit.max(1) as u64,
            exact: Some(Sorter::new(allowance, false)),
            sample: None,
            seen: 0,
        }
    }

    pub fn push(&mut self, value: f64) -> Result<()> {
        self.seen += 1;
        if self.seen > self.exact_limit && self.sample.is_none() {
            self.start_sampling()?;
        }
        if let Some(sample) = self.sample.as_mut() {
            sample.push(value);
            return Ok(());
        }
        match self.exact.as_mut() {
            Some(exact) => exact.push(f64_key(value)),
            None => Ok(()),
        }
    }

    /// Turns the exact numbers into a reservoir sample of them (Algorithm R picks positions at
    /// random, so reading them sorted still gives a uniform sample).
    fn start_sampling(&mut self) -> Result<()> {
        let Some(exact) = self.exact.take() else {
            return Ok(());
        };
        let size = (exact.allowance_bytes() / 8)
            .max(1024)
            .min(usize::try_from(self.exact_limit).unwrap_or(usize::MAX));
        let mut sample = NumberSample::with_capacity(size);
        for key in exact.finish()? {
            sample.push(key_f64(key?));
        }
        self.sample = Some(sample);
        Ok(())
    }

    /// Numbers pushed.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Drops the numbers (when the column turns out not to be numeric); nothing is kept after.
    pub fn clear(&mut self) {
        self.exact = None;
        self.sample = None;
        self.seen = 0;
        self.exact_limit = u64::MAX;
    }

    pub fn into_held(mut self) -> Result<NumbersHeld> {
        if let Some(sample) = self.sample.take() {
            let exact = sample.is_exact();
            return Ok(NumbersHeld::Memory {
                values: sample.into_values(),
                exact,
            });
        }
        let Some(mut exact) = self.exact.take() else {
            return Ok(NumbersHeld::Memory {
                values: Vec::new(),
                exact: true,
            });
        };
        if let Some(keys) = exact.take_memory() {
            // Same size and alignment: the keys' allocation is reused.
            let values: Vec<f64> = keys.into_iter().map(key_f64).collect();
            return Ok(NumbersHeld::Memory {
                values,
                exact: true,
            });
        }
        Ok(NumbersHeld::Sorted(exact.finish()?))
    }
}

/// The ranks (0-based positions among `n` sorted values) that linear-interpolation quantiles read.
pub fn quantile_ranks(n: usize, quantiles: &[f64]) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    let last = n - 1;
    let mut ranks: Vec<usize> = quantiles
        .iter()
        .flat_map(|q| {
            let position = q.clamp(0.0, 1.0) * last as f64;
            [position.floor() as usize, position.ceil() as usize]
        })
        .collect();
    ranks.sort_unstable();
    ranks.dedup();
    ranks
}

/// Linear-interpolation quantiles of `n` values from the values at their [`quantile_ranks`].
pub fn quantiles_at(
    n: usize,
    quantiles: &[f64],
    selected: &std::collections::BTreeMap<usize, f64>,
) -> Vec<Option<f64>> {
    if n == 0 {
        return vec![None; quantiles.len()];
    }
    let last = n - 1;
    quantiles
        .iter()
        .map(|&q| {
            let position = q.clamp(0.0, 1.0) * last as f64;
            let (low, high) = (position.floor() as usize, position.ceil() as usize);
            let fraction = position - low as f64;
            let (a, b) = (selected.get(&low).copied()?, selected.get(&high).copied()?);
            Some(if fraction == 0.0 || a == b {
                a
            } else {
                a + (b - a) * fraction
            })
        })
        .collect()
}

/// A small, fast, seeded pseudo-random generator.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (bound > 0), by multiply-shift.
    fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(bound)) >> 64) as u64
    }
}

/// Linear-interpolation quantiles (pandas' and numpy's default) of unsorted values, as
/// [`quantile_sorted`] gives them over the sorted values: the ranks they need are selected in place
/// (`select_nth_unstable`, linear time) rather than the whole slice sorted. `values` is reordered.
pub fn quantiles_selected(values: &mut [f64], quantiles: &[f64]) -> Vec<Option<f64>> {
    // Select each rank in the part right of the previous one (the left part is all smaller).
    let mut selected = std::collections::BTreeMap::new();
    let mut start = 0;
    for rank in quantile_ranks(values.len(), quantiles) {
        let (_, value, _) = values[start..].select_nth_unstable_by(rank - start, f64::total_cmp);
        selected.insert(rank, *value);
        start = rank + 1;
    }
    quantiles_at(values.len(), quantiles, &selected)
}

/// Linear-interpolation quantile of sorted values (pandas' and numpy's default).
pub fn quantile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let position = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let low = position.floor() as usize;
    let high = position.ceil() as usize;
    let fraction = position - low as f64;
    let (a, b) = (sorted[low], sorted[high]);
    if fraction == 0.0 || a == b {
        return Some(a);
    }
    Some(a + (b - a) * fraction)
}

#[cfg(test)]
mod tests {
    use super::*;
    use xxhash_rust::xxh3::xxh3_64;

    #[test]
    fn distinct_is_exact_under_the_limit_and_close_above() {
        let check = |n: u64, limit: usize, exact: bool, tolerance: f64| {
            let mut counter = DistinctCounter::new(limit);
            for i in 0..n {
                counter.insert(xxh3_64(&i.to_le_bytes())).unwrap();
                counter.insert(xxh3_64(&i.to_le_bytes())).unwrap();
            }
            let (count, is_exact) = counter.count().unwrap();
            assert_eq!(is_exact, exact, "n={n}");
            let error = (count as f64 - n as f64).abs() / n as f64;
            assert!(error <= tolerance, "n={n}: {count} (error {error})");
        };
        check(1000, 10_000, true, 0.0);
        check(10_000, 10_000, true, 0.0);
        check(200_000, 1000, false, 0.03);
        check(2_000, 1000, false, 0.03);
    }

    #[test]
    fn distinct_counts_stay_exact_across_merges_of_the_buffer() {
        // Far more values than one buffer holds, each seen several times in scattered order.
        let mut counter = DistinctCounter::new(10_000_000);
        let mut reference = std::collections::HashSet::new();
        let mut state = 1u64;
        for _ in 0..600_000 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            let value = (state >> 33) % 250_000;
            let hash = xxh3_64(&value.to_le_bytes());
            counter.insert(hash).unwrap();
            reference.insert(hash);
        }
        assert_eq!(counter.count().unwrap(), (reference.len() as u64, true));
        // Counting goes on after a count was taken.
        counter.insert(xxh3_64(b"one more")).unwrap();
        assert_eq!(counter.count().unwrap(), (reference.len() as u64 + 1, true));
    }

    #[test]
    fn selected_quantiles_equal_those_of_the_sorted_values() {
        let mut state = 7u64;
        for n in [1usize, 2, 3, 10, 101, 5_000] {
            let values: Vec<f64> = (0..n)
                .map(|_| {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1);
                    // Many ties, negative zeros and a spread of magnitudes.
                    match state >> 61 {
                        0 => -0.0,
                        1 => 0.0,
                        _ => ((state >> 40) % 97) as f64 * 0.25 - 10.0,
                    }
                })
                .collect();
            let quantiles = [0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0, 0.333];
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            let mut scratch = values.clone();
            let selected = quantiles_selected(&mut scratch, &quantiles);
            for (q, value) in quantiles.iter().zip(selected) {
                assert_eq!(
                    value.map(f64::to_bits),
                    quantile_sorted(&sorted, *q).map(f64::to_bits),
                    "n={n} q={q}"
                );
            }
        }
        assert_eq!(quantiles_selected(&mut [], &[0.5]), [None]);
    }

    #[test]
    fn frequent_items_are_exact_until_full_then_keep_heavy_hitters() {
        let mut items = FrequentItems::new(100);
        for i in 0..50u64 {
            for _ in 0..=i {
                items.add(i, &i.to_string());
            }
        }
        assert!(items.is_exact());
        assert_eq!(
            items.top(2),
            [("49".to_string(), 50), ("48".to_string(), 49)]
        );
        // A heavy hitter among many singletons survives the purges.
        let mut items = FrequentItems::new(64);
        for i in 0..100_000u64 {
            let key = if i % 3 == 0 { 7 } else { 1000 + i };
            items.add(key, &key.to_string());
        }
        assert!(!items.is_exact());
        let top = items.top(1);
        assert_eq!(top[0].0, "7");
        let true_count = 33_334;
        assert!(top[0].1 <= true_count && top[0].1 + items.max_error() >= true_count);
    }

    #[test]
    fn estimated_counts_stay_within_the_error_bound_across_doorkeeper_epochs() {
        // Enough once-seen keys for several doorkeeper epochs, among keys seen 2 to 400 times.
        let mut items = FrequentItems::new(1_000);
        let mut truth: HashMap<u64, u64> = HashMap::new();
        let mut unique = 1_000_000u64;
        for round in 0..1_400_000u64 {
            let key = if round % 5 == 0 {
                xxh3_64(&(round % 397).to_le_bytes())
            } else {
                unique += 1;
                xxh3_64(&unique.to_le_bytes())
            };
            *truth.entry(key).or_default() += 1;
            items.add(key, "k");
        }
        assert!(!items.is_exact());
        let error = items.max_error();
        assert!(error < 4_000, "{error}");
        let mut checked = 0;
        for (key, slot) in &items.entries {
            let true_count = truth[key];
            assert!(slot.count <= true_count, "overcounted");
            assert!(
                slot.count + error >= true_count,
                "{} + {error} < {true_count}",
                slot.count
            );
            checked += 1;
        }
        assert!(checked > 100);
        // Every key seen more often than the error bound is still held.
        for (key, count) in &truth {
            if *count > error {
                assert!(
                    items.entries.contains_key(key),
                    "lost a key seen {count} times"
                );
            }
        }
    }

    #[test]
    fn reservoir_keeps_everything_under_budget_and_a_fair_sample_above() {
        let mut sample = NumberSample::new(1000);
        for i in 0..1000 {
            sample.push(f64::from(i));
        }
        assert!(sample.is_exact());
        let mut sample = NumberSample::new(10_000);
        for i in 0..1_000_000 {
            sample.push(f64::from(i));
        }
        assert!(!sample.is_exact());
        let mut values = sample.into_values();
        values.sort_by(f64::total_cmp);
        let median = quantile_sorted(&values, 0.5).unwrap();
        assert!((median - 500_000.0).abs() < 20_000.0, "{median}");
    }

    #[test]
    fn quantiles_interpolate_linearly() {
        let check = |values: &[f64], q: f64, expected: Option<f64>| {
            assert_eq!(quantile_sorted(values, q), expected, "{values:?} q={q}");
        };
        check(&[], 0.5, None);
        check(&[3.0], 0.95, Some(3.0));
        check(&[1.0, 2.0, 3.0, 4.0], 0.5, Some(2.5));
        check(&[1.0, 2.0, 3.0, 4.0], 0.25, Some(1.75));
        check(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.95, Some(4.8));
        check(&[0.0, 10.0], 0.05, Some(0.5));
    }
}
