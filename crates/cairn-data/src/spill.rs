//! Bounded memory for the checks that must see every value before they can answer (uniqueness,
//! unique counts, medians, quantiles, outliers).
//!
//! A check keeps what it needs in memory up to its share of a [`MemoryBudget`]. Past it, it writes
//! what it holds as a sorted run of fixed-width records to an anonymous temporary file and carries
//! on with an empty buffer. Whenever [`FAN_IN`] runs of one level pile up they are merged into one
//! run of the next level, so open files stay bounded (`FAN_IN - 1` per level) on any input size. At
//! the end the runs (and what is still in memory) are merged k-way through a binary heap, at most
//! [`FAN_IN`] at a time, so answers stay exact: spilling changes where values wait, never what is
//! computed from them.
//!
//! Temporary files are unlinked as soon as they are created (`tempfile::tempfile_in`), so nothing is
//! left behind, even after a crash. This is the only file access in cairn-data's pure layers; the
//! directory and the budget come from the caller.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::error::{DataError, Result};
use crate::hashing::IdSet;

pub(crate) mod counts;

/// What one validation's checks may hold in memory together, unless told otherwise.
pub const DEFAULT_MEMORY_BUDGET: usize = 64 << 20;

/// Runs merged at once; more are merged in rounds first (bounds open files and read buffers).
pub const FAN_IN: usize = 64;
/// Read buffer per run while merging (so a merge holds at most `FAN_IN` x this).
const READ_BUFFER: usize = 64 << 10;
const WRITE_BUFFER: usize = 256 << 10;
/// The fewest records a buffer holds before it is written, so that a tiny budget still progresses.
const MIN_RECORDS: usize = 16;

/// How much memory the checks of one validation may hold, and where they spill past it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryBudget {
    /// Bytes shared equally by the checks that keep values (uniqueness, medians, quantiles,
    /// outliers). Merge buffers (at most 4 MB) come on top while a check finishes.
    pub bytes: usize,
    /// Where spill files go (default: the system's temporary directory, `TMPDIR`).
    pub temp_dir: Option<PathBuf>,
}

impl Default for MemoryBudget {
    fn default() -> Self {
        MemoryBudget {
            bytes: DEFAULT_MEMORY_BUDGET,
            temp_dir: None,
        }
    }
}

impl MemoryBudget {
    /// No limit (nothing is ever spilled).
    pub fn unlimited() -> MemoryBudget {
        MemoryBudget {
            bytes: usize::MAX,
            temp_dir: None,
        }
    }
}

/// A budget split between the checks that register with it: each gets an equal share, computed
/// when it is asked for (after every check of the suite has registered).
#[derive(Debug)]
pub(crate) struct MemoryPool {
    budget: MemoryBudget,
    holders: AtomicUsize,
}

impl MemoryPool {
    pub(crate) fn new(budget: MemoryBudget) -> Arc<MemoryPool> {
        Arc::new(MemoryPool {
            budget,
            holders: AtomicUsize::new(0),
        })
    }

    /// Registers one more check holding values and gives it its allowance.
    pub(crate) fn allowance(self: &Arc<Self>) -> Allowance {
        self.holders.fetch_add(1, Ordering::Relaxed);
        Allowance {
            pool: Arc::clone(self),
            divisor: 1,
        }
    }
}

/// One check's share of a [`MemoryPool`], and where it spills.
#[derive(Debug, Clone)]
pub(crate) struct Allowance {
    pool: Arc<MemoryPool>,
    /// This allowance is this part of the check's share (a check that keeps two things splits it).
    divisor: usize,
}

impl Allowance {
    /// An allowance of `bytes` that no other check shares (for tests and single collectors).
    #[cfg(test)]
    pub(crate) fn alone(bytes: usize) -> Allowance {
        MemoryPool::new(MemoryBudget {
            bytes,
            temp_dir: None,
        })
        .allowance()
    }

    /// Bytes this check (or this part of it) may hold.
    pub(crate) fn bytes(&self) -> usize {
        self.pool.budget.bytes / self.pool.holders.load(Ordering::Relaxed).max(1) / self.divisor
    }

    /// A part of this allowance (`1 / parts` of it), for a check that keeps two things.
    pub(crate) fn divided(&self, parts: usize) -> Allowance {
        Allowance {
            pool: Arc::clone(&self.pool),
            divisor: self.divisor * parts.max(1),
        }
    }

    /// A fresh anonymous temporary file.
    fn temp_file(&self) -> Result<File> {
        let created = match &self.pool.budget.temp_dir {
            Some(dir) => tempfile::tempfile_in(dir),
            None => tempfile::tempfile(),
        };
        created.map_err(|error| {
            let dir = self
                .pool
                .budget
                .temp_dir
                .clone()
                .unwrap_or_else(std::env::temp_dir);
            DataError::io(
                format!("cannot create a spill file in {}", dir.display()),
                error,
            )
        })
    }
}

fn spill_error(error: std::io::Error) -> DataError {
    DataError::io("cannot write or read a spill file", error)
}

/// A fixed-width record that can be written to a run; runs are sorted by `Ord`.
pub(crate) trait Record: Copy + Ord {
    /// Encoded size in bytes.
    const SIZE: usize;
    fn encode(&self, out: &mut [u8]);
    fn decode(bytes: &[u8]) -> Self;

    /// Sorts records in memory.
    fn sort(records: &mut [Self]) {
        records.sort_unstable();
    }
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

impl Record for u64 {
    const SIZE: usize = 8;

    fn encode(&self, out: &mut [u8]) {
        out[..8].copy_from_slice(&self.to_le_bytes());
    }

    fn decode(bytes: &[u8]) -> u64 {
        read_u64(bytes, 0)
    }
}

impl Record for (u64, u64, u64) {
    const SIZE: usize = 24;

    fn encode(&self, out: &mut [u8]) {
        out[..8].copy_from_slice(&self.0.to_le_bytes());
        out[8..16].copy_from_slice(&self.1.to_le_bytes());
        out[16..24].copy_from_slice(&self.2.to_le_bytes());
    }

    fn decode(bytes: &[u8]) -> (u64, u64, u64) {
        (read_u64(bytes, 0), read_u64(bytes, 8), read_u64(bytes, 16))
    }
}

/// A float as an unsigned key whose order is `f64::total_cmp`'s (negative NaN < -inf < ... < -0 <
/// +0 < ... < inf < NaN), so floats sort and merge as plain integers.
pub(crate) fn f64_key(value: f64) -> u64 {
    let bits = value.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

/// The float a [`f64_key`] came from.
pub(crate) fn key_f64(key: u64) -> f64 {
    f64::from_bits(if key >> 63 == 1 {
        key & !(1 << 63)
    } else {
        !key
    })
}

/// The next capacity of a buffer holding `len` records that may hold `limit`: doubled, at least
/// 1024, at most the limit.
fn grown(len: usize, limit: usize) -> usize {
    (len * 2).max(1024).min(limit).max(len + 1)
}

/// A sorted run on disk.
#[derive(Debug)]
struct Run {
    file: File,
    records: u64,
    /// 0 for a run written from memory, L + 1 for one merged from runs of level L.
    level: u32,
}

fn write_run<R: Record>(
    allowance: &Allowance,
    records: impl IntoIterator<Item = R>,
) -> Result<Run> {
    let file = allowance.temp_file()?;
    let mut writer = BufWriter::with_capacity(WRITE_BUFFER, file);
    let mut bytes = vec![0u8; R::SIZE];
    let mut count = 0u64;
    for record in records {
        record.encode(&mut bytes);
        writer.write_all(&bytes).map_err(spill_error)?;
        count += 1;
    }
    finish_run(writer, count)
}

/// Flushes a run's writer and rewinds its file for reading.
fn finish_run(writer: BufWriter<File>, records: u64) -> Result<Run> {
    let mut file = writer
        .into_inner()
        .map_err(|error| spill_error(error.into_error()))?;
    file.seek(SeekFrom::Start(0)).map_err(spill_error)?;
    Ok(Run {
        file,
        records,
        level: 0,
    })
}

/// Reads a run's records in order.
struct RunReader<R> {
    reader: BufReader<File>,
    left: u64,
    bytes: Vec<u8>,
    record: PhantomData<R>,
}

impl<R: Record> RunReader<R> {
    fn new(run: Run) -> RunReader<R> {
        RunReader {
            reader: BufReader::with_capacity(READ_BUFFER, run.file),
            left: run.records,
            bytes: vec![0u8; R::SIZE],
            record: PhantomData,
        }
    }

    fn next_record(&mut self) -> Result<Option<R>> {
        if self.left == 0 {
            return Ok(None);
        }
        self.reader
            .read_exact(&mut self.bytes)
            .map_err(spill_error)?;
        self.left -= 1;
        Ok(Some(R::decode(&self.bytes)))
    }
}

/// One input of a merge: a run on disk or the sorted records still in memory.
enum Source<R> {
    Run(RunReader<R>),
    Memory(std::vec::IntoIter<R>),
}

impl<R: Record> Source<R> {
    fn next_record(&mut self) -> Result<Option<R>> {
        match self {
            Source::Run(reader) => reader.next_record(),
            Source::Memory(records) => Ok(records.next()),
        }
    }
}

/// A k-way merge of sorted sources: the smallest head of each source waits in a min-heap.
struct Merge<R> {
    sources: Vec<Source<R>>,
    heap: BinaryHeap<Reverse<(R, usize)>>,
}

impl<R: Record> Merge<R> {
    fn new(mut sources: Vec<Source<R>>) -> Result<Merge<R>> {
        let mut heap = BinaryHeap::with_capacity(sources.len());
        for (index, source) in sources.iter_mut().enumerate() {
            if let Some(record) = source.next_record()? {
                heap.push(Reverse((record, index)));
            }
        }
        Ok(Merge { sources, heap })
    }

    fn next_record(&mut self) -> Result<Option<R>> {
        let Some(Reverse((record, index))) = self.heap.pop() else {
            return Ok(None);
        };
        if let Some(next) = self.sources[index].next_record()? {
            self.heap.push(Reverse((next, index)));
        }
        Ok(Some(record))
    }
}

/// Merges runs in rounds of [`FAN_IN`] until at most `keep` are left.
fn reduce_runs<R: Record>(
    allowance: &Allowance,
    mut runs: Vec<Run>,
    keep: usize,
) -> Result<Vec<Run>> {
    while runs.len() > keep.max(2) {
        let group: Vec<Run> = runs.drain(..FAN_IN.min(runs.len())).collect();
        runs.push(merge_runs::<R>(allowance, group)?);
    }
    Ok(runs)
}

/// Merges `group` into one run, a level above the highest of them.
fn merge_runs<R: Record>(allowance: &Allowance, group: Vec<Run>) -> Result<Run> {
    let level = group.iter().map(|run| run.level).max().unwrap_or(0) + 1;
    let mut merge = Merge::new(
        group
            .into_iter()
            .map(|run| Source::Run(RunReader::<R>::new(run)))
            .collect(),
    )?;
    let mut failure = None;
    let mut merged = write_run(
        allowance,
        std::iter::from_fn(|| match merge.next_record() {
            Ok(record) => record,
            Err(error) => {
                failure = Some(error);
                None
            }
        }),
    )?;
    if let Some(error) = failure {
        return Err(error);
    }
    merged.level = level;
    Ok(merged)
}

/// Records in sorted order, from memory or merged from runs.
pub(crate) struct Sorted<R: Record> {
    inner: SortedInner<R>,
}

enum SortedInner<R> {
    Memory(std::vec::IntoIter<R>),
    Merge(Merge<R>),
}

impl<R: Record> Iterator for Sorted<R> {
    type Item = Result<R>;

    fn next(&mut self) -> Option<Result<R>> {
        match &mut self.inner {
            SortedInner::Memory(records) => records.next().map(Ok),
            SortedInner::Merge(merge) => merge.next_record().transpose(),
        }
    }
}

/// An external sort: records are pushed in any order and come out sorted. Memory holds at most the
/// allowance (records of `size_of::<R>()` bytes); past it, sorted runs go to temporary files.
pub(crate) struct Sorter<R: Record> {
    allowance: Allowance,
    buffer: Vec<R>,
    runs: Vec<Run>,
    /// Drop repeated records within each run (the merge may still yield repeats across runs).
    dedup: bool,
}

impl<R: Record> Sorter<R> {
    pub(crate) fn new(allowance: Allowance, dedup: bool) -> Sorter<R> {
        Sorter {
            allowance,
            buffer: Vec::new(),
            runs: Vec::new(),
            dedup,
        }
    }

    /// Records held in memory before a run is written: two thirds of the allowance, so that the
    /// buffer's last growth (old and new allocations side by side) stays within it. (Sorting is in
    /// place.)
    fn limit(&self) -> usize {
        (self.allowance.bytes() / 3 * 2 / std::mem::size_of::<R>().max(1)).max(MIN_RECORDS)
    }

    /// Sizes the buffer for `expected` records at once (capped at the limit), rather than growing.
    pub(crate) fn reserve(&mut self, expected: u64) {
        let wanted = usize::try_from(expected)
            .unwrap_or(usize::MAX)
            .min(self.limit());
        if wanted > self.buffer.capacity() {
            self.buffer.reserve_exact(wanted - self.buffer.len());
        }
    }

    pub(crate) fn push(&mut self, record: R) -> Result<()> {
        if self.buffer.len() == self.buffer.capacity() {
            let limit = self.limit();
            let len = self.buffer.len();
            if len >= limit {
                self.spill()?;
            } else {
                self.buffer.reserve_exact(grown(len, limit) - len);
            }
        }
        self.buffer.push(record);
        Ok(())
    }

    /// Writes what memory holds as a sorted run.
    pub(crate) fn spill(&mut self) -> Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        R::sort(&mut self.buffer);
        if self.dedup {
            self.buffer.dedup();
        }
        let run = write_run(&self.allowance, self.buffer.drain(..))?;
        self.runs.push(run);
        self.compact()
    }

    /// Keeps open files bounded however long the input: whenever the newest [`FAN_IN`] runs share
    /// a level, they are merged into one run of the next level. Each record is rewritten once per
    /// level, and at most `FAN_IN - 1` runs per level stay open.
    fn compact(&mut self) -> Result<()> {
        while self.runs.len() >= FAN_IN {
            let newest = self.runs.len() - FAN_IN;
            let level = self.runs[newest].level;
            if self.runs[newest..].iter().any(|run| run.level != level) {
                break;
            }
            let group = self.runs.split_off(newest);
            let merged = merge_runs::<R>(&self.allowance, group)?;
            self.runs.push(merged);
        }
        Ok(())
    }

    /// Writes records the caller has already sorted (and held elsewhere) as one run.
    pub(crate) fn write_sorted_run(&mut self, records: impl IntoIterator<Item = R>) -> Result<()> {
        let run = write_run(&self.allowance, records)?;
        if run.records > 0 {
            self.runs.push(run);
        }
        self.compact()
    }

    /// Runs written so far.
    pub(crate) fn runs(&self) -> usize {
        self.runs.len()
    }

    /// The allowance this sorter holds records within.
    pub(crate) fn allowance(&self) -> &Allowance {
        &self.allowance
    }

    /// Bytes of the allowance.
    pub(crate) fn allowance_bytes(&self) -> usize {
        self.allowance.bytes()
    }

    /// The records pushed, unsorted, when none was written to disk (else the sorter is unchanged).
    pub(crate) fn take_memory(&mut self) -> Option<Vec<R>> {
        self.runs
            .is_empty()
            .then(|| std::mem::take(&mut self.buffer))
    }

    /// Every record pushed, sorted.
    pub(crate) fn finish(mut self) -> Result<Sorted<R>> {
        R::sort(&mut self.buffer);
        if self.dedup {
            self.buffer.dedup();
        }
        if self.runs.is_empty() {
            return Ok(Sorted {
                inner: SortedInner::Memory(std::mem::take(&mut self.buffer).into_iter()),
            });
        }
        let runs = reduce_runs::<R>(&self.allowance, std::mem::take(&mut self.runs), FAN_IN - 1)?;
        let mut sources: Vec<Source<R>> = runs
            .into_iter()
            .map(|run| Source::Run(RunReader::new(run)))
            .collect();
        sources.push(Source::Memory(std::mem::take(&mut self.buffer).into_iter()));
        Ok(Sorted {
            inner: SortedInner::Merge(Merge::new(sources)?),
        })
    }
}

impl Sorter<u64> {
    /// The values at the given ranks (0-based positions, in sorted order) of the [`f64_key`]s
    /// pushed: selected in place when they all are in memory (linear time, no sort), else read from
    /// the merged runs.
    pub(crate) fn values_at_ranks(
        mut self,
        ranks: impl IntoIterator<Item = usize>,
    ) -> Result<BTreeMap<usize, f64>> {
        if !self.runs.is_empty() {
            return values_at_ranks(self.finish()?, ranks);
        }
        let mut wanted: Vec<usize> = ranks.into_iter().collect();
        wanted.sort_unstable();
        wanted.dedup();
        let keys = &mut self.buffer;
        let mut found = BTreeMap::new();
        let mut start = 0;
        for rank in wanted {
            if rank >= keys.len() {
                break;
            }
            // Everything left of the previous rank is smaller: select in the part right of it.
            let (_, key, _) = keys[start..].select_nth_unstable(rank - start);
            found.insert(rank, key_f64(*key));
            start = rank + 1;
        }
        Ok(found)
    }
}

/// The values at the given ranks (0-based positions) of a sorted stream of [`f64_key`]s: how
/// quantiles are read from data that may not be in memory.
pub(crate) fn values_at_ranks(
    sorted: impl Iterator<Item = Result<u64>>,
    ranks: impl IntoIterator<Item = usize>,
) -> Result<BTreeMap<usize, f64>> {
    let mut wanted: Vec<usize> = ranks.into_iter().collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut found = BTreeMap::new();
    let mut next = wanted.into_iter().peekable();
    for (rank, key) in sorted.enumerate() {
        let Some(&target) = next.peek() else {
            break;
        };
        let key = key?;
        if rank == target {
            found.insert(rank, key_f64(key));
            next.next();
        }
    }
    Ok(found)
}

/// The most entries a hash table of `bucket_bytes`-byte buckets (key, value and control byte) may
/// hold so that the table, plus `extra` bytes per entry, stays within `bytes`.
pub(crate) fn table_entries(bytes: usize, bucket_bytes: usize, extra: usize) -> usize {
    let mut buckets = 16usize;
    while buckets * 2 * bucket_bytes + buckets * 2 / 8 * 7 * extra <= bytes {
        buckets *= 2;
    }
    buckets / 8 * 7
}

/// Distinct 64-bit hashes, counted exactly: a hash set while it fits the allowance, then sorted,
/// deduplicated runs of it on disk, merged at the end.
pub(crate) struct DistinctHashes {
    set: IdSet,
    /// Entries the set may hold: its buckets (9 bytes each) and the sorted copy written as a run
    /// with the radix sort's scratch (16 bytes per entry) fit the allowance.
    limit: usize,
    runs: Sorter<u64>,
}

impl DistinctHashes {
    pub(crate) fn new(allowance: Allowance) -> DistinctHashes {
        DistinctHashes {
            set: IdSet::default(),
            limit: 0,
            runs: Sorter::new(allowance, true),
        }
    }

    fn limit(&mut self) -> usize {
        if self.limit == 0 {
            self.limit = table_entries(self.runs.allowance.bytes(), 9, 16);
        }
        self.limit
    }

    pub(crate) fn insert(&mut self, hash: u64) -> Result<()> {
        if self.set.len() >= self.limit() && !self.set.contains(&hash) {
            self.spill()?;
        }
        self.set.insert(hash);
        Ok(())
    }

    fn spill(&mut self) -> Result<()> {
        let mut hashes: Vec<u64> = self.set.drain().collect();
        radsort::sort(&mut hashes);
        self.runs.write_sorted_run(hashes)
    }

    /// How many distinct hashes were inserted.
    pub(crate) fn count(mut self) -> Result<u64> {
        if self.runs.runs() == 0 {
            return Ok(self.set.len() as u64);
        }
        self.spill()?;
        let mut count = 0u64;
        let mut previous = None;
        for hash in self.runs.finish()? {
            let hash = hash?;
            if previous != Some(hash) {
                count += 1;
                previous = Some(hash);
            }
        }
        Ok(count)
    }
}

/// Records kept in arrival order (a column's values in row order, to be read again at the end):
/// in memory up to the allowance, then appended to a temporary file.
pub(crate) struct Log<R: Record> {
    allowance: Allowance,
    buffer: Vec<R>,
    file: Option<BufWriter<File>>,
    written: u64,
}

impl<R: Record> Log<R> {
    pub(crate) fn new(allowance: Allowance) -> Log<R> {
        Log {
            allowance,
            buffer: Vec::new(),
            file: None,
            written: 0,
        }
    }

    fn limit(&self) -> usize {
        (self.allowance.bytes() / 3 * 2 / std::mem::size_of::<R>().max(1)).max(MIN_RECORDS)
    }

    pub(crate) fn push(&mut self, record: R) -> Result<()> {
        if self.buffer.len() == self.buffer.capacity() {
            let limit = self.limit();
            let len = self.buffer.len();
            if len >= limit {
                self.flush()?;
            } else {
                self.buffer.reserve_exact(grown(len, limit) - len);
            }
        }
        self.buffer.push(record);
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.file.is_none() {
            self.file = Some(BufWriter::with_capacity(
                WRITE_BUFFER,
                self.allowance.temp_file()?,
            ));
        }
        if let Some(writer) = self.file.as_mut() {
            let mut bytes = vec![0u8; R::SIZE];
            for record in self.buffer.drain(..) {
                record.encode(&mut bytes);
                writer.write_all(&bytes).map_err(spill_error)?;
                self.written += 1;
            }
        }
        Ok(())
    }

    /// Whether part of the log is on disk.
    #[cfg(test)]
    pub(crate) fn spilled(&self) -> bool {
        self.file.is_some()
    }

    /// The log, ready to be read (as many times as needed).
    pub(crate) fn into_reader(self) -> Result<LogReader<R>> {
        let file = match self.file {
            Some(writer) => Some(
                writer
                    .into_inner()
                    .map_err(|error| spill_error(error.into_error()))?,
            ),
            None => None,
        };
        Ok(LogReader {
            file,
            written: self.written,
            buffer: self.buffer,
        })
    }
}

/// A finished [`Log`].
pub(crate) struct LogReader<R> {
    file: Option<File>,
    written: u64,
    buffer: Vec<R>,
}

impl<R: Record> LogReader<R> {
    /// Every record, in the order pushed.
    pub(crate) fn iter(&mut self) -> Result<impl Iterator<Item = Result<R>> + '_> {
        let mut on_disk = match self.file.as_mut() {
            Some(file) => {
                file.seek(SeekFrom::Start(0)).map_err(spill_error)?;
                Some(RunReader::<R> {
                    reader: BufReader::with_capacity(
                        READ_BUFFER,
                        file.try_clone().map_err(spill_error)?,
                    ),
                    left: self.written,
                    bytes: vec![0u8; R::SIZE],
                    record: PhantomData,
                })
            }
            None => None,
        };
        let disk = std::iter::from_fn(move || on_disk.as_mut()?.next_record().transpose());
        Ok(disk.chain(self.buffer.iter().copied().map(Ok)))
    }
}

/// Variable-length byte records kept in arrival order: in memory up to `limit` bytes, then
/// appended to a temporary file. Each record is written as its length (u32) and its bytes.
pub(crate) struct ByteLog {
    allowance: Allowance,
    limit: usize,
    buffer: Vec<u8>,
    file: Option<BufWriter<File>>,
}

impl ByteLog {
    pub(crate) fn new(allowance: Allowance, limit: usize) -> ByteLog {
        ByteLog {
            allowance,
            limit: limit.max(256),
            buffer: Vec::new(),
            file: None,
        }
    }

    /// Appends a record built by `write` (which appends its bytes to the given buffer).
    pub(crate) fn push_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> Result<()> {
        let start = self.buffer.len();
        self.buffer.extend_from_slice(&[0; 4]);
        write(&mut self.buffer);
        let length = u32::try_from(self.buffer.len() - start - 4).unwrap_or(u32::MAX);
        self.buffer[start..start + 4].copy_from_slice(&length.to_le_bytes());
        if self.buffer.len() >= self.limit {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.file.is_none() {
            self.file = Some(BufWriter::with_capacity(
                WRITE_BUFFER,
                self.allowance.temp_file()?,
            ));
        }
        if let Some(writer) = self.file.as_mut() {
            writer.write_all(&self.buffer).map_err(spill_error)?;
        }
        self.buffer.clear();
        Ok(())
    }

    /// Calls `visit` on every record, in the order pushed.
    pub(crate) fn for_each(self, mut visit: impl FnMut(&[u8])) -> Result<()> {
        if let Some(writer) = self.file {
            let mut file = writer
                .into_inner()
                .map_err(|error| spill_error(error.into_error()))?;
            file.seek(SeekFrom::Start(0)).map_err(spill_error)?;
            let mut reader = BufReader::with_capacity(READ_BUFFER, file);
            let mut length = [0u8; 4];
            let mut record = Vec::new();
            loop {
                match reader.read_exact(&mut length) {
                    Ok(()) => {}
                    Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => break,
                    Err(error) => return Err(spill_error(error)),
                }
                record.resize(u32::from_le_bytes(length) as usize, 0);
                reader.read_exact(&mut record).map_err(spill_error)?;
                visit(&record);
            }
        }
        let mut at = 0;
        while at + 4 <= self.buffer.len() {
            let mut length = [0u8; 4];
            length.copy_from_slice(&self.buffer[at..at + 4]);
            let end = (at + 4 + u32::from_le_bytes(length) as usize).min(self.buffer.len());
            visit(&self.buffer[at + 4..end]);
            at = end;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
