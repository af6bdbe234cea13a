//! Bounded-memory summaries behind a column profile: distinct counting (exact set of 64-bit hashes,
//! then HyperLogLog), frequent items (exact counts, then a purging Misra-Gries counter) and a sample of
//! numbers for quantiles (every value, then a uniform reservoir).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

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

/// Distinct values: an exact set of hashes up to `limit` entries, then HyperLogLog.
#[derive(Debug, Clone)]
pub struct DistinctCounter {
    limit: usize,
    exact: Option<HashSet<u64, HashKeyed>>,
    sketch: Option<HyperLogLog>,
}

impl DistinctCounter {
    pub fn new(limit: usize) -> DistinctCounter {
        DistinctCounter {
            limit,
            exact: Some(HashSet::default()),
            sketch: None,
        }
    }

    pub fn insert(&mut self, hash: u64) {
        if let Some(set) = self.exact.as_mut() {
            set.insert(hash);
            if set.len() > self.limit {
                let mut sketch = HyperLogLog::default();
                for &seen in set.iter() {
                    sketch.insert(seen);
                }
                self.exact = None;
                self.sketch = Some(sketch);
            }
        } else if let Some(sketch) = self.sketch.as_mut() {
            sketch.insert(hash);
        }
    }

    /// The count, and whether it is exact.
    pub fn count(&self) -> (u64, bool) {
        match (&self.exact, &self.sketch) {
            (Some(set), _) => (set.len() as u64, true),
            (None, Some(sketch)) => (sketch.estimate().round() as u64, false),
            (None, None) => (0, true),
        }
    }
}

/// Frequent items keyed by hash, holding the first text seen for each. Exact while at most `capacity`
/// keys are held; past that, the counter subtracts the median count from every entry and drops those
/// at zero (Misra-Gries in batches), so a count can be low by at most [`FrequentItems::max_error`].
#[derive(Debug, Clone)]
pub struct FrequentItems {
    capacity: usize,
    entries: HashMap<u64, (u64, SmallText), HashKeyed>,
    max_error: u64,
}

/// Text stored inline when short (most values), so counting new keys rarely allocates.
#[derive(Debug, Clone)]
pub enum SmallText {
    Inline { bytes: [u8; 22], len: u8 },
    Heap(Box<str>),
}

impl SmallText {
    pub fn new(text: &str) -> SmallText {
        if text.len() <= 22 {
            let mut bytes = [0u8; 22];
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            SmallText::Inline {
                bytes,
                len: text.len() as u8,
            }
        } else {
            SmallText::Heap(text.into())
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            // The bytes were copied from a whole `&str`.
            SmallText::Inline { bytes, len } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            SmallText::Heap(text) => text,
        }
    }
}

impl FrequentItems {
    pub fn new(capacity: usize) -> FrequentItems {
        FrequentItems {
            capacity: capacity.max(2),
            entries: HashMap::default(),
            max_error: 0,
        }
    }

    /// Counts one occurrence of the item with this hash; `text` is called only for a new key.
    pub fn add(&mut self, hash: u64, text: &str) {
        if let Some(entry) = self.entries.get_mut(&hash) {
            entry.0 += 1;
            return;
        }
        if self.entries.len() >= self.capacity {
            self.purge();
        }
        self.entries.insert(hash, (1, SmallText::new(text)));
    }

    fn purge(&mut self) {
        let mut counts: Vec<u64> = self.entries.values().map(|entry| entry.0).collect();
        let middle = counts.len() / 2;
        let (_, median, _) = counts.select_nth_unstable(middle);
        let cut = (*median).max(1);
        self.entries.retain(|_, entry| {
            if entry.0 > cut {
                entry.0 -= cut;
                true
            } else {
                false
            }
        });
        self.max_error += cut;
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
        let mut all: Vec<(&str, u64)> = self
            .entries
            .values()
            .map(|(count, text)| (text.as_str(), *count))
            .collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        all.into_iter()
            .take(n)
            .map(|(text, count)| (text.to_string(), count))
            .collect()
    }

    /// Every held item (for small exact sets).
    pub fn items(&self) -> impl Iterator<Item = (&str, u64)> + '_ {
        self.entries
            .values()
            .map(|(count, text)| (text.as_str(), *count))
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
                counter.insert(xxh3_64(&i.to_le_bytes()));
                counter.insert(xxh3_64(&i.to_le_bytes()));
            }
            let (count, is_exact) = counter.count();
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
