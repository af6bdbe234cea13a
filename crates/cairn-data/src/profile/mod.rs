//! Column profiles: what each column of a table holds, in one streaming pass.
//!
//! [`ColumnProfile`] is a pure accumulator: feed it every chunk's [`Column`] with
//! [`ColumnProfile::update`], then [`ColumnProfile::finish`] gives a [`ColumnSummary`]. Memory is flat in
//! the row count apart from three documented budgets per column ([`ProfileOptions`]):
//! - distinct values: exact while the most-frequent-values counter holds every value (its keys are
//!   the distinct values), then over sorted 64-bit xxh3 hashes up to `distinct_limit` values, then a
//!   HyperLogLog estimate (said "approximate");
//! - quantiles and histogram: every non-null number up to `sample_budget`, then a uniform reservoir
//!   sample of that many (said "approximate"); quantiles are selected, not sorted for;
//! - most frequent values and patterns: exact counts for up to `top_capacity` keys, then a purging
//!   Misra-Gries counter whose counts are lower bounds (said "approximate", with the bound), behind a
//!   doorkeeper that keeps values met once from reaching it.
//!
//! Per cell the work is one hash of the value (shared by the distinct counter and the frequent
//! values), the pattern built and hashed eight bytes at a time, and counter updates; the profile of
//! a 5,000,000-row table spends most of its time in the frequent-values table's cache misses.
//!
//! Numbers follow pandas: count is the non-null count, `std` is the sample standard deviation
//! (ddof = 1), quantiles interpolate linearly, and `pandas_dtype` is the dtype `read_csv` would give.
//! A numeric cell's identity (for distinct values and top values) is its value, so `1` and `1.0` are
//! one value as in a numeric pandas column.

pub mod render;
pub mod sketch;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

use std::path::PathBuf;
use std::sync::Arc;

use crate::error::Result;
use crate::source::ChunkSource;
use crate::spill::{key_f64, MemoryBudget, MemoryPool, DEFAULT_MEMORY_BUDGET};
use crate::table::{classify, CellKind, Column, Needs};
use sketch::{
    quantile_ranks, quantiles_at, quantiles_selected, DistinctCounter, FrequentItems, Numbers,
    NumbersHeld,
};

/// The quantiles every numeric column reports.
pub const QUANTILES: [f64; 5] = [0.05, 0.25, 0.5, 0.75, 0.95];
/// Bins of the numeric histogram.
pub const HISTOGRAM_BINS: usize = 20;
/// How many most frequent values and patterns are reported.
pub const TOP_VALUES: usize = 10;
pub const TOP_PATTERNS: usize = 5;
/// Patterns longer than this many characters are cut (and end in `…`). A multiple of 8 (see
/// `pattern_bytes`).
const PATTERN_CHARS: usize = 32;

/// Budgets: per column, what is counted exactly before estimates; for the whole table, the memory
/// the exact counts may hold before they spill to disk.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProfileOptions {
    /// Distinct values counted exactly (a 64-bit hash each, sorted) before switching to
    /// HyperLogLog; a column whose values all fit the `top_capacity` counter is exact regardless.
    pub distinct_limit: usize,
    /// Numbers kept for exact quantiles and histogram (8 bytes each) before sampling.
    pub sample_budget: usize,
    /// Keys counted exactly for top values and patterns before the bounded counter purges.
    pub top_capacity: usize,
    /// Bytes the columns' numbers and distinct hashes may hold together (an equal share each, half
    /// for numbers, half for hashes); past a share they are written to disk as sorted runs and
    /// merged at the end, so what is exact stays exact. A sample past `sample_budget` numbers
    /// holds as many as the share allows.
    #[serde(default = "default_memory_budget")]
    pub memory_budget: usize,
}

fn default_memory_budget() -> usize {
    DEFAULT_MEMORY_BUDGET
}

impl Default for ProfileOptions {
    fn default() -> Self {
        ProfileOptions {
            distinct_limit: 10_000_000,
            sample_budget: 10_000_000,
            top_capacity: 100_000,
            memory_budget: DEFAULT_MEMORY_BUDGET,
        }
    }
}

/// The accumulator for one column.
pub struct ColumnProfile {
    name: String,
    rows: u64,
    nulls: u64,
    /// Non-null cells by kind: int, float, bool, text.
    ints: u64,
    floats: u64,
    bools: u64,
    texts: u64,
    /// Text cells that read as an ISO date / an ISO date-time.
    dates: u64,
    datetimes: u64,
    // Over the numeric cells: the sum (Neumaier-compensated) for the mean, as pandas divides its
    // sum; Welford's running mean and squared deviations for the variance.
    numeric_count: u64,
    sum: f64,
    sum_compensation: f64,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
    numbers: Numbers,
    /// Lexicographic extremes of the non-numeric cells.
    text_min: Option<String>,
    text_max: Option<String>,
    length_min: u64,
    length_max: u64,
    length_sum: u64,
    /// Fed only once `top_values` is about to drop keys: until then its keys are the distinct
    /// values, counted exactly.
    distinct: DistinctCounter,
    distinct_fed: bool,
    top_values: FrequentItems,
    patterns: FrequentItems,
    pattern_buffer: Vec<u8>,
}

const SEED_NUMBER: u64 = 0x6e75_6d62;
const HASH_TRUE: u64 = 0x7472_7565_0000_0001;
const HASH_FALSE: u64 = 0x6661_6c73_0000_0002;

impl ColumnProfile {
    /// A column profiled alone, within `options.memory_budget` (spilling to the system's temporary
    /// directory).
    pub fn new(name: &str, options: &ProfileOptions) -> ColumnProfile {
        let pool = MemoryPool::new(MemoryBudget {
            bytes: options.memory_budget,
            temp_dir: None,
        });
        ColumnProfile::in_pool(name, options, &pool)
    }

    /// A column sharing `pool` with the table's other columns.
    pub(crate) fn in_pool(
        name: &str,
        options: &ProfileOptions,
        pool: &Arc<MemoryPool>,
    ) -> ColumnProfile {
        let allowance = pool.allowance().divided(2);
        ColumnProfile {
            name: name.to_string(),
            rows: 0,
            nulls: 0,
            ints: 0,
            floats: 0,
            bools: 0,
            texts: 0,
            dates: 0,
            datetimes: 0,
            numeric_count: 0,
            sum: 0.0,
            sum_compensation: 0.0,
            mean: 0.0,
            m2: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            numbers: Numbers::new(options.sample_budget, allowance.clone()),
            text_min: None,
            text_max: None,
            length_min: u64::MAX,
            length_max: 0,
            length_sum: 0,
            distinct: DistinctCounter::within(options.distinct_limit, allowance),
            distinct_fed: false,
            top_values: FrequentItems::new(options.top_capacity),
            patterns: FrequentItems::new(options.top_capacity),
            pattern_buffer: Vec::new(),
        }
    }

    /// What a source must compute for a profiled column: cell kinds and numbers.
    pub fn needs() -> Needs {
        Needs {
            kinds: true,
            numbers: true,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds a chunk's cells. The column should be read with [`ColumnProfile::needs`]; without
    /// numbers, cells are parsed here.
    pub fn update(&mut self, column: &Column) -> Result<()> {
        let numbers = column.has_numbers().then(|| column.numbers());
        let kinds = column.kinds();
        for (row, text) in column.texts().enumerate() {
            self.rows += 1;
            let mut kind = kinds[row];
            if kind == CellKind::Null {
                self.nulls += 1;
                continue;
            }
            let mut value = f64::NAN;
            match numbers {
                Some(numbers) => value = numbers[row],
                None => {
                    // Kinds may be only null/not null when the reader was not asked to classify.
                    if kind == CellKind::Text || kind == CellKind::Int || kind == CellKind::Float {
                        let (classified, number) = classify(text.as_bytes());
                        kind = classified;
                        value = number;
                    }
                }
            }
            let hash = match kind {
                CellKind::Int | CellKind::Float => {
                    if kind == CellKind::Int {
                        self.ints += 1;
                    } else {
                        self.floats += 1;
                    }
                    self.add_number(value)?;
                    // -0.0 and 0.0 are one value.
                    let bits = if value == 0.0 { 0u64 } else { value.to_bits() };
                    xxh3_64_with_seed(&bits.to_le_bytes(), SEED_NUMBER)
                }
                CellKind::Bool => {
                    self.bools += 1;
                    self.add_text_extremes(text);
                    if value == 1.0 || matches!(text, "True" | "true" | "TRUE") {
                        HASH_TRUE
                    } else {
                        HASH_FALSE
                    }
                }
                _ => {
                    self.texts += 1;
                    self.add_text_extremes(text);
                    if looks_like_date(text) {
                        self.dates += 1;
                    } else if looks_like_datetime(text) {
                        self.datetimes += 1;
                    }
                    xxh3_64(text.as_bytes())
                }
            };
            if (kind == CellKind::Text || kind == CellKind::Bool) && self.numbers.seen() > 0 {
                // The column is not numeric after all: stop keeping numbers.
                self.numbers.clear();
            }
            let length = if text.is_ascii() {
                text.len()
            } else {
                text.chars().count()
            } as u64;
            self.length_min = self.length_min.min(length);
            self.length_max = self.length_max.max(length);
            self.length_sum += length;
            if !self.distinct_fed && self.top_values.is_full() {
                // The counter of frequent values is about to drop keys: the distinct counter
                // takes over from the keys it holds.
                for key in self.top_values.keys() {
                    self.distinct.insert(key)?;
                }
                self.distinct_fed = true;
            }
            if self.distinct_fed {
                self.distinct.insert(hash)?;
            }
            let shown = match kind {
                CellKind::Bool if hash == HASH_TRUE => "True",
                CellKind::Bool => "False",
                _ => text,
            };
            self.top_values.add(hash, shown);
            let pattern_hash = pattern_bytes(text, &mut self.pattern_buffer);
            // The buffer holds UTF-8 (ASCII classes, or whole characters).
            self.patterns.add_utf8(pattern_hash, &self.pattern_buffer);
        }
        Ok(())
    }

    fn add_number(&mut self, value: f64) -> Result<()> {
        self.numeric_count += 1;
        let total = self.sum + value;
        self.sum_compensation += if self.sum.abs() >= value.abs() {
            (self.sum - total) + value
        } else {
            (value - total) + self.sum
        };
        self.sum = total;
        // The reciprocal does not depend on the running mean, so the division stays off the chain
        // of dependent operations from one cell to the next (it was most of the numeric cells' cost).
        let reciprocal = 1.0 / self.numeric_count as f64;
        let delta = value - self.mean;
        self.mean += delta * reciprocal;
        self.m2 += delta * (value - self.mean);
        if value < self.min {
            self.min = value;
        }
        if value > self.max {
            self.max = value;
        }
        if self.texts == 0 && self.bools == 0 {
            self.numbers.push(value)?;
        }
        Ok(())
    }

    fn add_text_extremes(&mut self, text: &str) {
        match &mut self.text_min {
            Some(min) if text < min.as_str() => text.clone_into(min),
            Some(_) => {}
            None => self.text_min = Some(text.to_string()),
        }
        match &mut self.text_max {
            Some(max) if text > max.as_str() => text.clone_into(max),
            Some(_) => {}
            None => self.text_max = Some(text.to_string()),
        }
    }

    /// The inferred type and the dtype pandas' `read_csv` would give.
    fn types(&self) -> (InferredType, &'static str) {
        let non_null = self.rows - self.nulls;
        let numeric = self.ints + self.floats;
        if non_null == 0 {
            return (InferredType::Null, "float64");
        }
        if self.texts == 0 && self.bools == 0 {
            return if self.floats == 0 {
                (
                    InferredType::Int,
                    if self.nulls == 0 { "int64" } else { "float64" },
                )
            } else {
                (InferredType::Float, "float64")
            };
        }
        if self.texts == 0 && numeric == 0 {
            return (
                InferredType::Bool,
                if self.nulls == 0 { "bool" } else { "object" },
            );
        }
        if numeric == 0 && self.bools == 0 {
            if self.dates == self.texts {
                return (InferredType::Date, "object");
            }
            if self.dates + self.datetimes == self.texts {
                return (InferredType::Datetime, "object");
            }
        }
        (InferredType::String, "object")
    }

    /// The summary.
    pub fn finish(mut self) -> Result<ColumnSummary> {
        let (inferred, dtype) = self.types();
        let non_null = self.rows - self.nulls;
        let (distinct, distinct_exact) = if self.distinct_fed {
            self.distinct.count()?
        } else {
            (self.top_values.len() as u64, true)
        };
        let numeric = matches!(inferred, InferredType::Int | InferredType::Float);
        let mut summary = ColumnSummary {
            name: self.name.clone(),
            inferred_type: inferred,
            pandas_dtype: dtype.to_string(),
            rows: self.rows,
            count: non_null,
            nulls: self.nulls,
            null_percent: if self.rows == 0 {
                0.0
            } else {
                self.nulls as f64 * 100.0 / self.rows as f64
            },
            distinct,
            distinct_approximate: !distinct_exact,
            unique: distinct_exact && non_null > 0 && distinct == non_null,
            min: None,
            max: None,
            mean: None,
            std: None,
            quantiles: Vec::new(),
            quantiles_approximate: false,
            histogram: None,
            top_values: self
                .top_values
                .top(TOP_VALUES)
                .into_iter()
                .map(|(value, count)| ValueCount { value, count })
                .collect(),
            top_values_error: self.top_values.max_error(),
            value_set: None,
            lengths: None,
            patterns: self
                .patterns
                .top(TOP_PATTERNS)
                .into_iter()
                .map(|(value, count)| ValueCount { value, count })
                .collect(),
            patterns_error: self.patterns.max_error(),
        };
        if self.top_values.is_exact() && distinct_exact && self.top_values.len() as u64 == distinct
        {
            let mut values: Vec<String> = self
                .top_values
                .items()
                .map(|(text, _)| text.to_string())
                .collect();
            if values.len() <= VALUE_SET_LIMIT {
                values.sort();
                summary.value_set = Some(values);
            }
        }
        if non_null > 0 {
            summary.lengths = Some(Lengths {
                min: self.length_min,
                mean: self.length_sum as f64 / non_null as f64,
                max: self.length_max,
            });
        }
        if numeric && self.numeric_count > 0 {
            let integral = inferred == InferredType::Int;
            summary.min = Some(number_value(self.min, integral));
            summary.max = Some(number_value(self.max, integral));
            // The compensation is NaN once the sum is infinite: the sum alone is the answer then.
            let sum = if self.sum_compensation.is_finite() {
                self.sum + self.sum_compensation
            } else {
                self.sum
            };
            summary.mean = Some(sum / self.numeric_count as f64);
            summary.std = (self.numeric_count > 1)
                .then(|| (self.m2 / (self.numeric_count - 1) as f64).max(0.0).sqrt());
            let seen = self.numbers.seen();
            let mut bins = Bins::new(self.min, self.max);
            let (quantiles, exact) = match self.numbers.into_held()? {
                NumbersHeld::Memory { mut values, exact } => {
                    for &value in &values {
                        bins.add(value);
                    }
                    let quantiles = quantiles_selected(&mut values, &QUANTILES);
                    bins.scale(seen, values.len(), exact);
                    (quantiles, exact)
                }
                NumbersHeld::Sorted(sorted) => {
                    // One pass over the merged runs: the histogram, and the ranks quantiles read.
                    let n = usize::try_from(seen).unwrap_or(usize::MAX);
                    let mut wanted = quantile_ranks(n, &QUANTILES).into_iter().peekable();
                    let mut selected = std::collections::BTreeMap::new();
                    for (rank, key) in sorted.enumerate() {
                        let value = key_f64(key?);
                        bins.add(value);
                        if wanted.peek() == Some(&rank) {
                            selected.insert(rank, value);
                            wanted.next();
                        }
                    }
                    (quantiles_at(n, &QUANTILES, &selected), true)
                }
            };
            summary.quantiles_approximate = !exact;
            summary.quantiles = QUANTILES
                .iter()
                .zip(quantiles)
                .filter_map(|(&q, value)| value.map(|value| Quantile { q, value }))
                .collect();
            summary.histogram = Some(bins.finish(exact));
        } else if non_null > 0 {
            summary.min = self.text_min.map(Value::String);
            summary.max = self.text_max.map(Value::String);
        }
        Ok(summary)
    }
}

/// Up to this many distinct values are kept in the summary as the column's value set.
pub const VALUE_SET_LIMIT: usize = 20;

fn number_value(value: f64, integral: bool) -> Value {
    if integral && value.abs() < 9.007_199_254_740_992e15 {
        Value::from(value as i64)
    } else {
        serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
    }
}

/// Equal-width bins between `min` and `max` (the last includes `max`), numpy's way. Counts from a
/// sample are scaled to the numbers seen.
struct Bins {
    low: f64,
    high: f64,
    width: f64,
    finite: bool,
    counts: Vec<u64>,
}

impl Bins {
    fn new(min: f64, max: f64) -> Bins {
        let (low, high) = if min < max {
            (min, max)
        } else {
            (min - 0.5, max + 0.5)
        };
        Bins {
            low,
            high,
            width: (high - low) / HISTOGRAM_BINS as f64,
            finite: low.is_finite() && high.is_finite(),
            counts: vec![0u64; HISTOGRAM_BINS],
        }
    }

    fn add(&mut self, value: f64) {
        if self.finite {
            let bin = (((value - self.low) / self.width) as usize).min(HISTOGRAM_BINS - 1);
            self.counts[bin] += 1;
        }
    }

    /// Scales counts from a sample of `sampled` numbers to the `seen` ones.
    fn scale(&mut self, seen: u64, sampled: usize, exact: bool) {
        if !exact && sampled > 0 {
            let scale = seen as f64 / sampled as f64;
            for count in &mut self.counts {
                *count = (*count as f64 * scale).round() as u64;
            }
        }
    }

    fn finish(self, exact: bool) -> Histogram {
        Histogram {
            low: self.low,
            high: self.high,
            counts: self.counts,
            approximate: !exact,
        }
    }
}

/// Whether text is an ISO date (`2024-01-31`).
pub fn looks_like_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return false;
    }
    let digits = |range: std::ops::Range<usize>| bytes[range].iter().all(u8::is_ascii_digit);
    if !(digits(0..4) && digits(5..7) && digits(8..10)) {
        return false;
    }
    let month = (bytes[5] - b'0') * 10 + (bytes[6] - b'0');
    let day = (bytes[8] - b'0') * 10 + (bytes[9] - b'0');
    (1..=12).contains(&month) && (1..=31).contains(&day)
}

/// Whether text is an ISO date-time (`2024-01-31T12:30`, `2024-01-31 12:30:05.123+02:00`, `...Z`).
pub fn looks_like_datetime(text: &str) -> bool {
    if text.len() < 16 || !text.is_char_boundary(10) || !looks_like_date(&text[..10]) {
        return false;
    }
    let rest = &text.as_bytes()[10..];
    if !matches!(rest[0], b'T' | b' ') {
        return false;
    }
    let time = &rest[1..];
    let two_digits =
        |at: usize| time.len() >= at + 2 && time[at..at + 2].iter().all(u8::is_ascii_digit);
    if !(two_digits(0) && time.get(2) == Some(&b':') && two_digits(3)) {
        return false;
    }
    let mut at = 5;
    if time.get(at) == Some(&b':') {
        if !two_digits(at + 1) {
            return false;
        }
        at += 3;
        if time.get(at) == Some(&b'.') {
            at += 1;
            let start = at;
            while time.get(at).is_some_and(u8::is_ascii_digit) {
                at += 1;
            }
            if at == start {
                return false;
            }
        }
    }
    match &time[at..] {
        [] | [b'Z'] => true,
        [b'+' | b'-', a, b, b':', c, d] | [b'+' | b'-', a, b, c, d] => {
            [a, b, c, d].iter().all(|digit| digit.is_ascii_digit())
        }
        _ => false,
    }
}

/// A value's shape: lowercase letters become `a`, uppercase `A`, digits `9`, the rest stays; cut at
/// [`PATTERN_CHARS`] characters.
pub fn pattern_of(text: &str, out: &mut String) {
    let mut bytes = Vec::new();
    pattern_bytes(text, &mut bytes);
    out.clear();
    out.push_str(std::str::from_utf8(&bytes).unwrap_or_default());
}

/// The class of each ASCII byte in a pattern.
const ASCII_CLASS: [u8; 128] = {
    let mut table = [0u8; 128];
    let mut byte = 0;
    while byte < 128 {
        table[byte] = match byte as u8 {
            b'0'..=b'9' => b'9',
            b'a'..=b'z' => b'a',
            b'A'..=b'Z' => b'A',
            other => other,
        };
        byte += 1;
    }
    table
};

/// [`pattern_of`] into bytes (UTF-8), returning the pattern's [`pattern_hash`].
///
/// ASCII text (the usual case) goes through a table eight bytes at a time: each group of classes
/// is assembled in a register, stored as one word and folded into the hash there. Hashing the bytes
/// after writing them one by one made the processor wait on every cell (a load cannot be served
/// from several smaller pending stores), which cost more than all the rest of the cell's work.
fn pattern_bytes(text: &str, out: &mut Vec<u8>) -> u64 {
    out.clear();
    if !text.is_ascii() {
        pattern_chars(text, out);
        return pattern_hash(out);
    }
    let bytes = text.as_bytes();
    let kept = &bytes[..bytes.len().min(PATTERN_CHARS)];
    let mut hash = PATTERN_SEED;
    for group in kept.chunks(8) {
        let word = match <[u8; 8]>::try_from(group) {
            Ok(eight) => classify_word(u64::from_le_bytes(eight)),
            Err(_) => group.iter().enumerate().fold(0u64, |word, (index, &byte)| {
                word | u64::from(ASCII_CLASS[usize::from(byte)]) << (8 * index)
            }),
        };
        out.extend_from_slice(&word.to_le_bytes()[..group.len()]);
        hash = pattern_fold(hash, word);
    }
    if bytes.len() > PATTERN_CHARS {
        // PATTERN_CHARS is a multiple of 8: the ellipsis is a word of its own.
        let ellipsis = "…".as_bytes();
        out.extend_from_slice(ellipsis);
        let mut word = [0u8; 8];
        word[..ellipsis.len()].copy_from_slice(ellipsis);
        hash = pattern_fold(hash, u64::from_le_bytes(word));
    }
    pattern_finish(hash, out.len())
}

/// `byte` in each of the eight lanes of a word.
const fn lanes(byte: u8) -> u64 {
    0x0101_0101_0101_0101 * byte as u64
}

/// 0xFF in the lanes of `word` (eight ASCII bytes) that lie within `low..=high`, 0 elsewhere. With
/// every byte below 0x80, adding `0x80 - low` sets a lane's top bit exactly when it is at least
/// `low`, and `0x80 + high` minus the lane has it set exactly when the lane is at most `high`;
/// neither carries into the next lane.
fn lanes_within(word: u64, low: u8, high: u8) -> u64 {
    let at_least = word.wrapping_add(lanes(0x80 - low));
    let at_most = lanes(0x80 + high).wrapping_sub(word);
    ((at_least & at_most & lanes(0x80)) >> 7) * 0xFF
}

/// The pattern classes of eight ASCII bytes at once ([`ASCII_CLASS`] lane by lane).
fn classify_word(word: u64) -> u64 {
    let mut classes = word;
    for (low, high, class) in [(b'0', b'9', b'9'), (b'a', b'z', b'a'), (b'A', b'Z', b'A')] {
        let mask = lanes_within(word, low, high);
        classes = (classes & !mask) | (lanes(class) & mask);
    }
    classes
}

const PATTERN_SEED: u64 = 0x7061_7474_6572_6e73;

/// A pattern's identity: its UTF-8 bytes read as little-endian 8-byte words (the last one padded
/// with zeros), folded multiplicatively, then mixed with the length.
fn pattern_hash(pattern: &[u8]) -> u64 {
    let mut hash = PATTERN_SEED;
    for group in pattern.chunks(8) {
        let mut word = [0u8; 8];
        word[..group.len()].copy_from_slice(group);
        hash = pattern_fold(hash, u64::from_le_bytes(word));
    }
    pattern_finish(hash, pattern.len())
}

fn pattern_fold(hash: u64, word: u64) -> u64 {
    (hash.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95)
}

/// MurmurHash3's 64-bit finalizer, so that every bit of the key depends on every bit of the input
/// (hash tables index by the low bits).
fn pattern_finish(hash: u64, len: usize) -> u64 {
    let mut key = hash ^ len as u64;
    key ^= key >> 33;
    key = key.wrapping_mul(0xff51_afd7_ed55_8ccd);
    key ^= key >> 33;
    key = key.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    key ^ (key >> 33)
}

/// The pattern of text with non-ASCII characters, character by character.
fn pattern_chars(text: &str, out: &mut Vec<u8>) {
    let mut buffer = [0u8; 4];
    for (index, c) in text.chars().enumerate() {
        if index == PATTERN_CHARS {
            out.extend_from_slice("…".as_bytes());
            break;
        }
        let class = if c.is_ascii_digit() {
            '9'
        } else if c.is_ascii_lowercase() {
            'a'
        } else if c.is_ascii_uppercase() {
            'A'
        } else if c.is_ascii() {
            c
        } else if c.is_lowercase() {
            'a'
        } else if c.is_uppercase() {
            'A'
        } else if c.is_numeric() {
            '9'
        } else {
            c
        };
        out.extend_from_slice(class.encode_utf8(&mut buffer).as_bytes());
    }
}

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InferredType {
    Int,
    Float,
    Bool,
    Date,
    Datetime,
    String,
    /// Every cell is null.
    Null,
}

impl InferredType {
    pub fn as_str(self) -> &'static str {
        match self {
            InferredType::Int => "int",
            InferredType::Float => "float",
            InferredType::Bool => "bool",
            InferredType::Date => "date",
            InferredType::Datetime => "datetime",
            InferredType::String => "string",
            InferredType::Null => "null",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueCount {
    pub value: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quantile {
    pub q: f64,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub low: f64,
    pub high: f64,
    pub counts: Vec<u64>,
    /// Counts scaled from a sample.
    pub approximate: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lengths {
    pub min: u64,
    pub mean: f64,
    pub max: u64,
}

/// What one column holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnSummary {
    pub name: String,
    pub inferred_type: InferredType,
    pub pandas_dtype: String,
    /// Rows, null or not.
    pub rows: u64,
    /// Non-null values (pandas' `count`).
    pub count: u64,
    pub nulls: u64,
    pub null_percent: f64,
    pub distinct: u64,
    pub distinct_approximate: bool,
    /// Every non-null value differs from the others (known exactly).
    pub unique: bool,
    /// Numbers for int/float columns; lexicographic text otherwise.
    pub min: Option<Value>,
    pub max: Option<Value>,
    pub mean: Option<f64>,
    /// Sample standard deviation (ddof = 1).
    pub std: Option<f64>,
    pub quantiles: Vec<Quantile>,
    pub quantiles_approximate: bool,
    pub histogram: Option<Histogram>,
    pub top_values: Vec<ValueCount>,
    /// How much a top value's count may be below the truth (0: exact).
    pub top_values_error: u64,
    /// Every distinct value, sorted as text, when there are at most [`VALUE_SET_LIMIT`].
    pub value_set: Option<Vec<String>>,
    /// Length in characters of the non-null values.
    pub lengths: Option<Lengths>,
    pub patterns: Vec<ValueCount>,
    pub patterns_error: u64,
}

/// The profile of a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableProfile {
    /// The DATA argument.
    pub source: String,
    pub files: Vec<String>,
    pub rows: u64,
    pub budgets: ProfileOptions,
    pub columns: Vec<ColumnSummary>,
}

/// Accumulates a whole table: one [`ColumnProfile`] per column, sharing
/// `options.memory_budget`.
pub struct TableProfiler {
    rows: u64,
    options: ProfileOptions,
    columns: Vec<ColumnProfile>,
}

impl TableProfiler {
    /// Spill files (past the memory budget) go to `temp_dir`, else the system's temporary
    /// directory.
    pub fn new(
        names: &[String],
        options: ProfileOptions,
        temp_dir: Option<PathBuf>,
    ) -> TableProfiler {
        let pool = MemoryPool::new(MemoryBudget {
            bytes: options.memory_budget,
            temp_dir,
        });
        TableProfiler {
            rows: 0,
            options,
            columns: names
                .iter()
                .map(|name| ColumnProfile::in_pool(name, &options, &pool))
                .collect(),
        }
    }

    /// Adds a chunk; columns are profiled on up to `threads` threads.
    pub fn update(&mut self, chunk: &crate::table::Chunk, threads: usize) -> Result<()> {
        self.rows += chunk.n_rows as u64;
        let threads = threads.clamp(1, self.columns.len().max(1));
        if threads == 1 {
            for (profile, column) in self.columns.iter_mut().zip(&chunk.columns) {
                profile.update(column)?;
            }
            return Ok(());
        }
        let per_thread = self.columns.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let workers: Vec<_> = self
                .columns
                .chunks_mut(per_thread)
                .zip(chunk.columns.chunks(per_thread))
                .map(|(profiles, columns)| {
                    scope.spawn(move || -> Result<()> {
                        for (profile, column) in profiles.iter_mut().zip(columns) {
                            profile.update(column)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            for worker in workers {
                match worker.join() {
                    Ok(outcome) => outcome?,
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            Ok(())
        })
    }

    pub fn finish(self, source: &str, files: &[String]) -> Result<TableProfile> {
        Ok(TableProfile {
            source: source.to_string(),
            files: files.to_vec(),
            rows: self.rows,
            budgets: self.options,
            columns: self
                .columns
                .into_iter()
                .map(ColumnProfile::finish)
                .collect::<Result<_>>()?,
        })
    }
}

/// Profiles everything a source yields. Reading runs on its own thread, one chunk ahead of
/// profiling, which spreads columns over `threads` threads.
pub fn profile_source(
    source: &mut dyn ChunkSource,
    spec: &str,
    options: ProfileOptions,
    temp_dir: Option<PathBuf>,
    threads: usize,
) -> Result<TableProfile> {
    let names = source.columns().to_vec();
    source.set_needs(vec![ColumnProfile::needs(); names.len()]);
    let mut profiler = TableProfiler::new(&names, options, temp_dir);
    let (sender, receiver) = std::sync::mpsc::sync_channel::<Result<crate::table::Chunk>>(1);
    std::thread::scope(|scope| {
        let reader = &mut *source;
        scope.spawn(move || loop {
            match reader.next_chunk() {
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
            profiler.update(&chunk?, threads)?;
        }
        Ok::<(), crate::DataError>(())
    })?;
    let files = source.files().to_vec();
    profiler.finish(spec, &files)
}

#[cfg(test)]
mod tests;
