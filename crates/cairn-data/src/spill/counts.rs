//! Rows per distinct value (a column's value counts), exact in bounded memory.
//!
//! A hash table from each distinct text to its [`Tally`] (how many rows hold it and its first cell)
//! grows up to the allowance; past it, the table is written as a run sorted by text (variable-length
//! records) and emptied, keeping its buckets. At the end, the runs and what is left in memory are
//! merged k-way by text (at most [`FAN_IN`] at a time, more in rounds first), and a text met in
//! several runs comes out once with its counts summed and its earliest first cell: the same entries
//! the table alone would have held, in text order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{BufReader, BufWriter, Read, Write};

use super::{
    finish_run, spill_error, Allowance, Run, FAN_IN, MIN_RECORDS, READ_BUFFER, WRITE_BUFFER,
};
use crate::error::Result;
use crate::hashing::FastMap;
use crate::table::CellKind;

/// One distinct value's rows, and where and how it first appears.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Tally {
    /// Rows holding the value.
    pub(crate) count: u64,
    /// Its first row (0-based, in the whole table), that row's file and line.
    pub(crate) row: u64,
    pub(crate) file_index: usize,
    pub(crate) line: u64,
    /// The first cell's kind and parsed number (when the reader parsed numbers).
    pub(crate) kind: CellKind,
    pub(crate) number: Option<f64>,
}

impl Tally {
    /// Adds another part's tally of the same value (its rows, and the earlier first cell).
    fn absorb(&mut self, other: &Tally) {
        let count = self.count + other.count;
        if other.row < self.row {
            *self = *other;
        }
        self.count = count;
    }
}

/// Bytes of a record after its text: count, row, file, line (u64 each), kind, number flag, number.
const TALLY_BYTES: usize = 8 * 4 + 2 + 8;
/// Table bytes per entry: the bucket (key and tally), its control byte, and the 1/8 of buckets a
/// table keeps free.
const BUCKET_BYTES: usize = (std::mem::size_of::<(Box<str>, Tally)>() + 1) * 8 / 7;
/// Heap bytes a text's allocation costs beyond its length (allocator header and rounding), and
/// the sort's reference to each entry when a run is written.
const TEXT_OVERHEAD: usize = 24;
const SORT_BYTES: usize = std::mem::size_of::<(&str, &Tally)>();

fn kind_of(byte: u8) -> CellKind {
    match byte {
        0 => CellKind::Null,
        1 => CellKind::Int,
        2 => CellKind::Float,
        3 => CellKind::Bool,
        _ => CellKind::Text,
    }
}

fn encode(text: &str, tally: &Tally, out: &mut Vec<u8>) {
    out.clear();
    let length = u32::try_from(text.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(&text.as_bytes()[..length as usize]);
    out.extend_from_slice(&tally.count.to_le_bytes());
    out.extend_from_slice(&tally.row.to_le_bytes());
    out.extend_from_slice(&(tally.file_index as u64).to_le_bytes());
    out.extend_from_slice(&tally.line.to_le_bytes());
    out.push(tally.kind as u8);
    out.push(u8::from(tally.number.is_some()));
    out.extend_from_slice(&tally.number.unwrap_or(0.0).to_bits().to_le_bytes());
}

fn write_counts_run<'a>(
    allowance: &Allowance,
    entries: impl IntoIterator<Item = (&'a str, &'a Tally)>,
) -> Result<Run> {
    let file = allowance.temp_file()?;
    let mut writer = BufWriter::with_capacity(WRITE_BUFFER, file);
    let mut bytes = Vec::new();
    let mut records = 0u64;
    for (text, tally) in entries {
        encode(text, tally, &mut bytes);
        writer.write_all(&bytes).map_err(spill_error)?;
        records += 1;
    }
    finish_run(writer, records)
}

/// Reads a run of (text, tally) records in order.
struct CountsReader {
    reader: BufReader<std::fs::File>,
    left: u64,
}

impl CountsReader {
    fn new(run: Run) -> CountsReader {
        CountsReader {
            reader: BufReader::with_capacity(READ_BUFFER, run.file),
            left: run.records,
        }
    }

    fn next_entry(&mut self) -> Result<Option<(String, Tally)>> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let mut length = [0u8; 4];
        self.reader.read_exact(&mut length).map_err(spill_error)?;
        let mut text = vec![0u8; u32::from_le_bytes(length) as usize];
        self.reader.read_exact(&mut text).map_err(spill_error)?;
        let mut rest = [0u8; TALLY_BYTES];
        self.reader.read_exact(&mut rest).map_err(spill_error)?;
        let word = |at: usize| {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&rest[at..at + 8]);
            u64::from_le_bytes(bytes)
        };
        let tally = Tally {
            count: word(0),
            row: word(8),
            file_index: usize::try_from(word(16)).unwrap_or(usize::MAX),
            line: word(24),
            kind: kind_of(rest[32]),
            number: (rest[33] == 1).then(|| f64::from_bits(word(34))),
        };
        // Written from a `str`, so the bytes are UTF-8; a damaged file reads as replacement characters.
        let text = String::from_utf8(text)
            .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned());
        Ok(Some((text, tally)))
    }
}

enum CountsSource {
    Run(CountsReader),
    Memory(std::vec::IntoIter<(Box<str>, Tally)>),
}

impl CountsSource {
    fn next_entry(&mut self) -> Result<Option<(String, Tally)>> {
        match self {
            CountsSource::Run(reader) => reader.next_entry(),
            CountsSource::Memory(entries) => {
                Ok(entries.next().map(|(text, tally)| (text.into(), tally)))
            }
        }
    }
}

/// A k-way merge of sources sorted by text that sums the tallies of equal texts.
struct CountsMerge {
    sources: Vec<CountsSource>,
    /// Each source's next entry's tally, by source.
    heads: Vec<Option<Tally>>,
    heap: BinaryHeap<Reverse<(String, usize)>>,
}

impl CountsMerge {
    fn new(mut sources: Vec<CountsSource>) -> Result<CountsMerge> {
        let mut heads = vec![None; sources.len()];
        let mut heap = BinaryHeap::with_capacity(sources.len());
        for (index, source) in sources.iter_mut().enumerate() {
            if let Some((text, tally)) = source.next_entry()? {
                heads[index] = Some(tally);
                heap.push(Reverse((text, index)));
            }
        }
        Ok(CountsMerge {
            sources,
            heads,
            heap,
        })
    }

    /// The smallest head of source `index` is taken: its tally, and the source's next entry queued.
    fn take(&mut self, index: usize) -> Result<Option<Tally>> {
        let tally = self.heads[index].take();
        if let Some((text, next)) = self.sources[index].next_entry()? {
            self.heads[index] = Some(next);
            self.heap.push(Reverse((text, index)));
        }
        Ok(tally)
    }

    fn next_entry(&mut self) -> Result<Option<(String, Tally)>> {
        let Some(Reverse((text, index))) = self.heap.pop() else {
            return Ok(None);
        };
        let Some(mut tally) = self.take(index)? else {
            return Ok(None);
        };
        while self
            .heap
            .peek()
            .is_some_and(|Reverse((next, _))| *next == text)
        {
            let Some(Reverse((_, other))) = self.heap.pop() else {
                break;
            };
            if let Some(more) = self.take(other)? {
                tally.absorb(&more);
            }
        }
        Ok(Some((text, tally)))
    }
}

/// Counts rows per distinct text within an allowance, spilling sorted runs past it.
pub(crate) struct ValueCounts {
    allowance: Allowance,
    table: FastMap<Box<str>, Tally>,
    /// Heap bytes of the table's texts.
    text_bytes: usize,
    runs: Vec<Run>,
    /// Each run's level: how many merges its entries went through.
    levels: Vec<u32>,
}

impl ValueCounts {
    pub(crate) fn new(allowance: Allowance) -> ValueCounts {
        ValueCounts {
            allowance,
            table: FastMap::default(),
            text_bytes: 0,
            runs: Vec::new(),
            levels: Vec::new(),
        }
    }

    /// Counts one row holding `text`; `first` describes the cell when the text is new (to this
    /// run: the merge keeps the earliest).
    pub(crate) fn add(&mut self, text: &str, first: impl FnOnce() -> Tally) -> Result<()> {
        if let Some(tally) = self.table.get_mut(text) {
            tally.count += 1;
            return Ok(());
        }
        if self.table.len() >= MIN_RECORDS && self.would_exceed(text.len()) {
            self.spill()?;
        }
        self.text_bytes += text.len() + TEXT_OVERHEAD;
        self.table.insert(text.into(), first());
        Ok(())
    }

    /// Whether one more entry with a text of `length` bytes would take the table past the
    /// allowance (counting, when the table must grow, its old and new buckets side by side, and the
    /// references a run's sort needs).
    fn would_exceed(&self, length: usize) -> bool {
        let entries = self.table.len() + 1;
        let capacity = self.table.capacity();
        let buckets = if entries > capacity {
            capacity + (capacity * 2).max(4)
        } else {
            capacity
        };
        let held = buckets * BUCKET_BYTES
            + self.text_bytes
            + length
            + TEXT_OVERHEAD
            + entries * SORT_BYTES;
        held > self.allowance.bytes()
    }

    /// Writes the table as a run sorted by text and empties it (its buckets stay allocated).
    fn spill(&mut self) -> Result<()> {
        if self.table.is_empty() {
            return Ok(());
        }
        let mut entries: Vec<(&str, &Tally)> = self
            .table
            .iter()
            .map(|(text, tally)| (&**text, tally))
            .collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let run = write_counts_run(&self.allowance, entries)?;
        self.runs.push(run);
        self.levels.push(0);
        self.table.clear();
        self.text_bytes = 0;
        // Tiered merging bounds the open files (fewer than FAN_IN per level) while each entry is
        // rewritten once per level: FAN_IN runs of one level become one run of the next.
        while self.levels.len() >= FAN_IN
            && self.levels[self.levels.len() - FAN_IN..]
                .iter()
                .all(|level| *level == self.levels[self.levels.len() - 1])
        {
            let level = self.levels[self.levels.len() - 1];
            let group = self.runs.split_off(self.runs.len() - FAN_IN);
            self.levels.truncate(self.levels.len() - FAN_IN);
            let merged = reduce_counts_runs(&self.allowance, group, 1)?;
            self.levels.extend(merged.iter().map(|_| level + 1));
            self.runs.extend(merged);
        }
        Ok(())
    }

    /// Runs written so far.
    #[cfg(test)]
    pub(crate) fn runs(&self) -> usize {
        self.runs.len()
    }

    /// Every distinct text with its tally, in text (byte) order.
    pub(crate) fn finish(mut self) -> Result<Counted> {
        let mut entries: Vec<(Box<str>, Tally)> = self.table.drain().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let memory = CountsSource::Memory(entries.into_iter());
        if self.runs.is_empty() {
            return Ok(Counted {
                merge: CountsMerge::new(vec![memory])?,
            });
        }
        // Merge rounds of runs until the rest fits one merge with what memory holds.
        let runs = std::mem::take(&mut self.runs);
        let runs = reduce_counts_runs(&self.allowance, runs, FAN_IN - 1)?;
        let mut sources: Vec<CountsSource> = runs
            .into_iter()
            .map(|run| CountsSource::Run(CountsReader::new(run)))
            .collect();
        sources.push(memory);
        Ok(Counted {
            merge: CountsMerge::new(sources)?,
        })
    }
}

/// Merges runs (summing) in rounds of [`FAN_IN`] until at most `keep` are left.
fn reduce_counts_runs(allowance: &Allowance, mut runs: Vec<Run>, keep: usize) -> Result<Vec<Run>> {
    while runs.len() > keep.max(1) {
        let group: Vec<Run> = runs.drain(..FAN_IN.min(runs.len())).collect();
        let mut merge = CountsMerge::new(
            group
                .into_iter()
                .map(|run| CountsSource::Run(CountsReader::new(run)))
                .collect(),
        )?;
        let file = allowance.temp_file()?;
        let mut writer = BufWriter::with_capacity(WRITE_BUFFER, file);
        let mut bytes = Vec::new();
        let mut records = 0u64;
        while let Some((text, tally)) = merge.next_entry()? {
            encode(&text, &tally, &mut bytes);
            writer.write_all(&bytes).map_err(spill_error)?;
            records += 1;
        }
        runs.push(finish_run(writer, records)?);
    }
    Ok(runs)
}

/// The distinct texts of a [`ValueCounts`] with their tallies, in text order.
pub(crate) struct Counted {
    merge: CountsMerge,
}

impl Iterator for Counted {
    type Item = Result<(String, Tally)>;

    fn next(&mut self) -> Option<Result<(String, Tally)>> {
        self.merge.next_entry().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(row: u64) -> Tally {
        Tally {
            count: 1,
            row,
            file_index: 0,
            line: row + 2,
            kind: CellKind::Text,
            number: None,
        }
    }

    fn counted(bytes: usize, texts: &[String]) -> (Vec<(String, Tally)>, usize) {
        let mut counts = ValueCounts::new(Allowance::alone(bytes));
        for (row, text) in texts.iter().enumerate() {
            counts.add(text, || tally(row as u64)).unwrap();
        }
        let runs = counts.runs();
        let entries = counts
            .finish()
            .unwrap()
            .collect::<Result<Vec<_>>>()
            .unwrap();
        (entries, runs)
    }

    #[test]
    fn spilled_counts_merge_to_the_in_memory_ones() {
        // Texts repeated far apart and next to each other, of many lengths (one empty, one long).
        let texts: Vec<String> = (0..20_000u64)
            .map(|i| match i % 7 {
                0 => String::new(),
                1 => "é".repeat((i % 300) as usize),
                _ => format!("v{}", (i * 7_919) % 3_001),
            })
            .collect();
        let (in_memory, runs) = counted(usize::MAX, &texts);
        assert_eq!(runs, 0);
        let mut expected: std::collections::BTreeMap<&str, (u64, u64)> = Default::default();
        for (row, text) in texts.iter().enumerate() {
            let entry = expected.entry(text).or_insert((0, row as u64));
            entry.0 += 1;
        }
        let plain: Vec<(String, u64, u64)> = expected
            .into_iter()
            .map(|(text, (count, row))| (text.to_string(), count, row))
            .collect();
        let got: Vec<(String, u64, u64)> = in_memory
            .iter()
            .map(|(text, tally)| (text.clone(), tally.count, tally.row))
            .collect();
        assert_eq!(got, plain);
        // From a run every 16 texts (hundreds of runs: merged in rounds) to a few runs.
        for bytes in [0, 50_000, 400_000] {
            let (spilled, runs) = counted(bytes, &texts);
            assert!(runs > 0, "{bytes} bytes: no run written");
            assert!(runs < 3 * FAN_IN, "{bytes} bytes: {runs} runs open");
            assert_eq!(spilled, in_memory, "{bytes} bytes, {runs} runs");
        }
    }
}
