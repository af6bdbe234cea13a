//! Parallel CSV reading: one thread cuts the files into blocks that end on a record boundary (a
//! newline outside quotes), worker threads parse blocks into chunks, and chunks are handed out in
//! file order. Used unless an escape character is set (then quote parity cannot find boundaries).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::Progress;
use crate::error::{DataError, Result};
use csv_core::ReadFieldResult;

use crate::table::{read_cell, CellKind, CellReading, Chunk, Column, Needs};

/// Bytes per block (a block becomes one chunk).
const BLOCK: usize = 1 << 20;

/// How workers parse blocks.
#[derive(Clone)]
pub(crate) struct BlockSettings {
    pub(crate) delimiter: u8,
    pub(crate) quote: u8,
    pub(crate) cells: CellReading,
    pub(crate) n_columns: usize,
    pub(crate) column_names: Arc<Vec<String>>,
    pub(crate) needs: Arc<Vec<Needs>>,
    pub(crate) has_header: bool,
}

/// A piece of one file that holds whole records.
struct Block {
    sequence: u64,
    file_index: usize,
    file_name: Arc<str>,
    /// Line of the block's first byte (1-based).
    first_line: u64,
    /// Bytes of all the input, to estimate its rows from this block's.
    total_bytes: u64,
    bytes: Vec<u8>,
}

pub(crate) struct BlockReader {
    results: Receiver<(u64, Result<Chunk>)>,
    pending: BTreeMap<u64, Result<Chunk>>,
    next_sequence: u64,
    next_row: u64,
    threads: Vec<JoinHandle<()>>,
}

impl BlockReader {
    pub(crate) fn start(
        files: Vec<PathBuf>,
        names: Vec<String>,
        settings: BlockSettings,
        workers: usize,
        progress: Arc<Progress>,
    ) -> BlockReader {
        let workers = workers.max(1);
        let (block_sender, block_receiver) = mpsc::sync_channel::<Block>(workers);
        let (result_sender, results) = mpsc::sync_channel::<(u64, Result<Chunk>)>(workers);
        let mut threads = Vec::new();
        {
            let result_sender = result_sender.clone();
            let settings = settings.clone();
            threads.push(std::thread::spawn(move || {
                split_files(
                    &files,
                    &names,
                    &settings,
                    &block_sender,
                    &result_sender,
                    &progress,
                );
            }));
        }
        let shared_blocks = Arc::new(Mutex::new(block_receiver));
        for _ in 0..workers {
            let blocks = Arc::clone(&shared_blocks);
            let sender = result_sender.clone();
            let settings = settings.clone();
            threads.push(std::thread::spawn(move || loop {
                let block = {
                    let Ok(receiver) = blocks.lock() else { return };
                    match receiver.recv() {
                        Ok(block) => block,
                        Err(_) => return,
                    }
                };
                let sequence = block.sequence;
                let chunk = parse_block(&block, &settings);
                if sender.send((sequence, chunk)).is_err() {
                    return;
                }
            }));
        }
        BlockReader {
            results,
            pending: BTreeMap::new(),
            next_sequence: 0,
            next_row: 0,
            threads,
        }
    }

    pub(crate) fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        loop {
            if let Some(result) = self.pending.remove(&self.next_sequence) {
                self.next_sequence += 1;
                let mut chunk = result?;
                if chunk.n_rows == 0 {
                    continue;
                }
                chunk.first_row = self.next_row;
                self.next_row += chunk.n_rows as u64;
                return Ok(Some(chunk));
            }
            match self.results.recv() {
                Ok((sequence, result)) => {
                    self.pending.insert(sequence, result);
                }
                Err(_) => {
                    // Every sender is gone: the splitter and the workers are done.
                    if self.pending.is_empty() {
                        for thread in self.threads.drain(..) {
                            let _ = thread.join();
                        }
                        return Ok(None);
                    }
                    // A gap means a block was lost: a worker died.
                    return Err(DataError::input("a reader thread stopped unexpectedly"));
                }
            }
        }
    }
}

/// Cuts every file into blocks; errors (I/O, an unterminated quote) go out in sequence.
fn split_files(
    files: &[PathBuf],
    names: &[String],
    settings: &BlockSettings,
    blocks: &SyncSender<Block>,
    results: &SyncSender<(u64, Result<Chunk>)>,
    progress: &Progress,
) {
    let mut sequence = 0u64;
    for (file_index, path) in files.iter().enumerate() {
        let name: Arc<str> = Arc::from(names[file_index].as_str());
        if let Err(error) = split_file(
            path,
            file_index,
            &name,
            settings,
            blocks,
            progress,
            &mut sequence,
        ) {
            let _ = results.send((sequence, Err(error)));
            return;
        }
    }
}

fn split_file(
    path: &Path,
    file_index: usize,
    name: &Arc<str>,
    settings: &BlockSettings,
    blocks: &SyncSender<Block>,
    progress: &Progress,
    sequence: &mut u64,
) -> Result<()> {
    let mut file = super::open_file(path, name)?;
    let mut carry: Vec<u8> = Vec::new();
    let mut line = 1u64;
    let mut header_pending = settings.has_header;
    let mut at_end = false;
    while !at_end {
        let mut buffer = std::mem::take(&mut carry);
        let start = buffer.len();
        buffer.resize(start + BLOCK, 0);
        let mut filled = start;
        while filled < buffer.len() {
            let read = file
                .read(&mut buffer[filled..])
                .map_err(|error| DataError::io(name.to_string(), error))?;
            if read == 0 {
                at_end = true;
                break;
            }
            filled += read;
        }
        buffer.truncate(filled);
        progress.add((filled - start) as u64);
        let mut body_start = 0;
        if header_pending {
            // Skip the header record (read and checked when the source was opened).
            match record_end(&buffer, settings.quote, 1) {
                Some(end) => {
                    line += memchr::memchr_iter(b'\n', &buffer[..end]).count() as u64;
                    body_start = end;
                    header_pending = false;
                }
                None if at_end => return Ok(()),
                None => {
                    carry = buffer;
                    continue;
                }
            }
        }
        let cut = if at_end {
            if quotes_open(&buffer[body_start..], settings.quote) {
                return Err(DataError::Malformed {
                    file: name.to_string(),
                    line: line + unterminated_line(&buffer[body_start..], settings.quote),
                    message: "a quoted field is never closed (unbalanced quote)".into(),
                });
            }
            buffer.len()
        } else {
            match last_record_end(&buffer[body_start..], settings.quote) {
                Some(end) => body_start + end,
                None => {
                    // No boundary in a whole block: one record longer than a block, read on.
                    carry = buffer;
                    continue;
                }
            }
        };
        carry = buffer[cut..].to_vec();
        buffer.truncate(cut);
        let bytes = buffer.split_off(body_start);
        let lines_in_block = memchr::memchr_iter(b'\n', &bytes).count() as u64;
        let total_bytes = progress.read().1;
        let block = Block {
            sequence: *sequence,
            file_index,
            file_name: Arc::clone(name),
            first_line: line,
            total_bytes,
            bytes,
        };
        line += lines_in_block;
        *sequence += 1;
        if blocks.send(block).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// The end (after the newline) of the `n`th record, if the buffer holds it.
fn record_end(buffer: &[u8], quote: u8, n: usize) -> Option<usize> {
    let mut in_quotes = false;
    let mut seen = 0;
    for position in memchr::memchr2_iter(quote, b'\n', buffer) {
        if buffer[position] == quote {
            in_quotes = !in_quotes;
        } else if !in_quotes {
            seen += 1;
            if seen == n {
                return Some(position + 1);
            }
        }
    }
    None
}

/// The end (after the newline) of the last complete record in the buffer.
fn last_record_end(buffer: &[u8], quote: u8) -> Option<usize> {
    let mut in_quotes = false;
    let mut last = None;
    for position in memchr::memchr2_iter(quote, b'\n', buffer) {
        if buffer[position] == quote {
            in_quotes = !in_quotes;
        } else if !in_quotes {
            last = Some(position + 1);
        }
    }
    last
}

fn quotes_open(buffer: &[u8], quote: u8) -> bool {
    memchr::memchr_iter(quote, buffer).count() % 2 == 1
}

/// Lines before the record that holds the unclosed quote (0-based, from the buffer's start).
fn unterminated_line(buffer: &[u8], quote: u8) -> u64 {
    let mut in_quotes = false;
    let mut record_start_line = 0u64;
    let mut line = 0u64;
    for position in memchr::memchr2_iter(quote, b'\n', buffer) {
        if buffer[position] == quote {
            in_quotes = !in_quotes;
        } else {
            line += 1;
            if !in_quotes {
                record_start_line = line;
            }
        }
    }
    record_start_line
}

/// The line of every record of a block without quotes (blank lines are not records).
fn record_lines(bytes: &[u8], first_line: u64) -> Vec<u64> {
    let mut lines = Vec::with_capacity(bytes.len() / 64 + 1);
    let mut start = 0usize;
    let ends = memchr::memchr_iter(b'\n', bytes).chain(std::iter::once(bytes.len()));
    for (line, end) in (first_line..).zip(ends) {
        if start >= bytes.len() {
            break;
        }
        let text = &bytes[start..end];
        if !(text.is_empty() || text == b"\r") {
            lines.push(line);
        }
        start = end + 1;
    }
    lines
}

/// Walks records the way the csv crate reads them (blank lines skipped, newlines inside quotes kept)
/// to know the line each record starts on.
struct LineTracker<'a> {
    bytes: &'a [u8],
    quote: u8,
    cursor: usize,
    line: u64,
}

impl LineTracker<'_> {
    /// The line of the next record; moves past it.
    fn next_record(&mut self) -> u64 {
        loop {
            let rest = &self.bytes[self.cursor.min(self.bytes.len())..];
            if rest.starts_with(b"\n") {
                self.cursor += 1;
            } else if rest.starts_with(b"\r\n") {
                self.cursor += 2;
            } else {
                break;
            }
            self.line += 1;
        }
        let start = self.cursor.min(self.bytes.len());
        let line = self.line;
        let rest = &self.bytes[start..];
        let end = record_end(rest, self.quote, 1).unwrap_or(rest.len());
        self.line += memchr::memchr_iter(b'\n', &rest[..end]).count() as u64;
        self.cursor = start + end;
        line
    }
}

/// One column being filled from a block: cell bytes written straight by the CSV parser.
struct ColumnBuilder {
    data: Vec<u8>,
    written: usize,
    ends: Vec<u32>,
    kinds: Vec<CellKind>,
    numbers: Vec<f64>,
    need: Needs,
}

impl ColumnBuilder {
    /// Ends the cell written since the previous one: reads it and records where it ends.
    fn end_cell(&mut self, cells: &CellReading) {
        let start = self.ends.last().map_or(0, |end| *end as usize);
        let bytes = &self.data[start..self.written];
        let (kind, value) = read_cell(bytes, cells, self.need.kinds || self.need.numbers);
        self.ends.push(self.written as u32);
        self.kinds.push(kind);
        if self.need.numbers {
            self.numbers.push(value);
        }
    }

    /// Appends a whole field and ends the cell.
    fn push_field(&mut self, bytes: &[u8], cells: &CellReading) {
        let end = self.written + bytes.len();
        if end > self.data.len() {
            self.data.resize(end * 2 + 64, 0);
        }
        self.data[self.written..end].copy_from_slice(bytes);
        self.written = end;
        self.end_cell(cells);
    }

    fn last_cell_is_empty(&self) -> bool {
        let previous = self.ends.len().checked_sub(2).map_or(0, |i| self.ends[i]);
        self.ends.last().is_some_and(|end| *end == previous)
    }

    /// Forgets the last cell (a blank line read as one empty field).
    fn drop_last_cell(&mut self) {
        self.ends.pop();
        self.kinds.pop();
        if self.need.numbers {
            self.numbers.pop();
        }
        self.written = self.ends.last().map_or(0, |end| *end as usize);
    }
}

/// Parses a block with `csv_core`, each field written directly into its column's buffer (no record
/// buffer, one UTF-8 check per column).
fn parse_block(block: &Block, settings: &BlockSettings) -> Result<Chunk> {
    let n_columns = settings.n_columns.max(1);
    let mut reader = csv_core::ReaderBuilder::new()
        .delimiter(settings.delimiter)
        .quote(settings.quote)
        .build();
    let estimated_rows = block.bytes.len() / (n_columns * 8) + 16;
    let per_column = block.bytes.len() / n_columns + 64;
    let mut builders: Vec<ColumnBuilder> = (0..n_columns)
        .map(|i| {
            let need = settings.needs.get(i).copied().unwrap_or_default();
            ColumnBuilder {
                data: vec![0; per_column],
                written: 0,
                ends: Vec::with_capacity(estimated_rows),
                kinds: Vec::with_capacity(estimated_rows),
                numbers: if need.numbers {
                    Vec::with_capacity(estimated_rows)
                } else {
                    Vec::new()
                },
                need,
            }
        })
        .collect();
    // Fields past the last column go here, only to be counted.
    let mut overflow = vec![0u8; 1024];
    let mut chunk_lines: Vec<u64> = Vec::with_capacity(estimated_rows);
    // Physical lines: found by walking the same record boundaries (csv counts records, not lines).
    // Without any quote in the block, every non-blank line is one record: one pass finds them all.
    let quote_free = memchr::memchr(settings.quote, &block.bytes).is_none();
    if quote_free && n_columns > 1 && carriage_returns_end_lines(&block.bytes) {
        // No quote, no lone carriage return: fields are the bytes between delimiters, records the
        // non-blank lines, exactly what csv_core would read, without its per-byte state machine.
        let mut line = block.first_line;
        let mut n_rows = 0usize;
        let bytes: &[u8] = &block.bytes;
        let mut start = 0usize;
        while start < bytes.len() {
            let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |at| start + at);
            let record = match &bytes[start..end] {
                [rest @ .., b'\r'] => rest,
                whole => whole,
            };
            if !record.is_empty() {
                let mut field = 0usize;
                let mut field_start = 0usize;
                let ends = memchr::memchr_iter(settings.delimiter, record)
                    .chain(std::iter::once(record.len()));
                for field_end in ends {
                    if let Some(builder) = builders.get_mut(field) {
                        builder.push_field(&record[field_start..field_end], &settings.cells);
                    }
                    field += 1;
                    field_start = field_end + 1;
                }
                if field != n_columns {
                    return Err(DataError::Malformed {
                        file: block.file_name.to_string(),
                        line,
                        message: format!("expected {n_columns} fields, found {field}"),
                    });
                }
                chunk_lines.push(line);
                n_rows += 1;
            }
            line += 1;
            start = end + 1;
        }
        return finish_block(block, settings, builders, chunk_lines, n_rows, line);
    }
    let mut simple_lines =
        quote_free.then(|| record_lines(&block.bytes, block.first_line).into_iter());
    let mut lines = LineTracker {
        bytes: &block.bytes,
        quote: settings.quote,
        cursor: 0,
        line: block.first_line,
    };
    let mut next_line = move || match simple_lines.as_mut() {
        Some(simple) => simple.next().unwrap_or(lines.line),
        None => lines.next_record(),
    };
    let mut input: &[u8] = &block.bytes;
    let mut field = 0usize;
    let mut line = next_line();
    let mut n_rows = 0usize;
    loop {
        let (result, read, wrote) = if field < n_columns {
            let builder = &mut builders[field];
            let (result, read, wrote) =
                reader.read_field(input, &mut builder.data[builder.written..]);
            builder.written += wrote;
            (result, read, wrote)
        } else {
            reader.read_field(input, &mut overflow)
        };
        input = &input[read..];
        match result {
            ReadFieldResult::InputEmpty => {}
            ReadFieldResult::OutputFull => {
                if field < n_columns {
                    let builder = &mut builders[field];
                    let grown = builder.data.len() * 2 + 64;
                    builder.data.resize(grown, 0);
                } else if wrote == 0 {
                    let grown = overflow.len() * 2;
                    overflow.resize(grown, 0);
                }
            }
            ReadFieldResult::Field { record_end } => {
                if field < n_columns {
                    builders[field].end_cell(&settings.cells);
                }
                field += 1;
                if record_end {
                    if field == 1 && n_columns > 1 && builders[0].last_cell_is_empty() {
                        // A blank line (csv reads it as one empty field): pandas skips it.
                        builders[0].drop_last_cell();
                        field = 0;
                        line = next_line();
                        continue;
                    }
                    if field != n_columns {
                        return Err(DataError::Malformed {
                            file: block.file_name.to_string(),
                            line,
                            message: format!("expected {n_columns} fields, found {field}"),
                        });
                    }
                    chunk_lines.push(line);
                    n_rows += 1;
                    field = 0;
                    line = next_line();
                }
            }
            ReadFieldResult::End => break,
        }
    }
    finish_block(block, settings, builders, chunk_lines, n_rows, line)
}

/// Whether every carriage return in `bytes` ends a line (`\r\n`): csv_core also ends records at a
/// lone `\r`, which the quote-free split does not.
fn carriage_returns_end_lines(bytes: &[u8]) -> bool {
    memchr::memchr_iter(b'\r', bytes).all(|at| bytes.get(at + 1) == Some(&b'\n'))
}

/// The chunk of a parsed block: the columns (checked to be UTF-8) and the rows' lines.
fn finish_block(
    block: &Block,
    settings: &BlockSettings,
    builders: Vec<ColumnBuilder>,
    chunk_lines: Vec<u64>,
    n_rows: usize,
    line: u64,
) -> Result<Chunk> {
    let n_columns = builders.len();
    let mut columns = Vec::with_capacity(n_columns);
    for (index, mut builder) in builders.into_iter().enumerate() {
        builder.data.truncate(builder.written);
        let column = Column::from_parts(builder.data, builder.ends, builder.kinds, builder.numbers)
            .map_err(|row| DataError::Malformed {
                file: block.file_name.to_string(),
                line: chunk_lines.get(row).copied().unwrap_or(line),
                message: format!(
                    "column {:?} is not valid UTF-8",
                    settings.column_names.get(index).map_or("?", String::as_str)
                ),
            })?;
        columns.push(column);
    }
    let rows_hint = if block.bytes.is_empty() {
        0
    } else {
        (block.total_bytes as f64 * n_rows as f64 / block.bytes.len() as f64) as u64
    };
    Ok(Chunk {
        first_row: 0,
        file_index: block.file_index,
        lines: chunk_lines,
        columns,
        n_rows,
        rows_hint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_boundaries_respect_quotes() {
        let data = b"a,b\n\"x\ny\",1\nz,2\n\"open";
        assert_eq!(record_end(data, b'"', 1), Some(4));
        assert_eq!(record_end(data, b'"', 2), Some(12));
        assert_eq!(last_record_end(data, b'"'), Some(16));
        assert!(quotes_open(data, b'"'));
        assert_eq!(unterminated_line(data, b'"'), 4);
    }
}
