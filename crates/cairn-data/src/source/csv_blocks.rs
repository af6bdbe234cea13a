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
use crate::table::{CellReading, Chunk, Column, Needs};

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

fn parse_block(block: &Block, settings: &BlockSettings) -> Result<Chunk> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(settings.delimiter)
        .quote(settings.quote)
        .has_headers(false)
        .flexible(true)
        .from_reader(block.bytes.as_slice());
    let estimated_rows = block.bytes.len() / (settings.n_columns * 8).max(1) + 16;
    let mut chunk = Chunk {
        first_row: 0,
        file_index: block.file_index,
        lines: Vec::with_capacity(estimated_rows),
        columns: (0..settings.n_columns)
            .map(|i| {
                let need = settings.needs.get(i).copied().unwrap_or_default();
                Column::with_capacity(
                    estimated_rows,
                    block.bytes.len() / settings.n_columns.max(1),
                    need.numbers,
                )
            })
            .collect(),
        n_rows: 0,
        rows_hint: 0,
    };
    let mut record = csv::ByteRecord::new();
    loop {
        let has_row = reader.read_byte_record(&mut record).map_err(|error| {
            let line = error.position().map_or(0, csv::Position::line);
            DataError::Malformed {
                file: block.file_name.to_string(),
                line: block.first_line + line.saturating_sub(1),
                message: error.to_string(),
            }
        })?;
        if !has_row {
            break;
        }
        let line = block.first_line + record.position().map_or(1, csv::Position::line) - 1;
        if record.len() != settings.n_columns {
            if record.len() == 1 && record.as_slice().is_empty() {
                continue;
            }
            return Err(DataError::Malformed {
                file: block.file_name.to_string(),
                line,
                message: format!(
                    "expected {} fields, found {}",
                    settings.n_columns,
                    record.len()
                ),
            });
        }
        let text = std::str::from_utf8(record.as_slice()).map_err(|error| {
            let bad = error.valid_up_to();
            let field = (0..record.len())
                .find(|&i| record.range(i).is_some_and(|r| r.end > bad))
                .unwrap_or(0);
            DataError::Malformed {
                file: block.file_name.to_string(),
                line,
                message: format!(
                    "column {:?} is not valid UTF-8",
                    settings.column_names.get(field).map_or("?", String::as_str)
                ),
            }
        })?;
        for index in 0..settings.n_columns {
            let range = record.range(index).unwrap_or(0..0);
            let need = settings.needs.get(index).copied().unwrap_or_default();
            chunk.columns[index].push_text(&text[range], &settings.cells, need.kinds, need.numbers);
        }
        chunk.lines.push(line);
        chunk.n_rows += 1;
    }
    if !block.bytes.is_empty() {
        chunk.rows_hint =
            (block.total_bytes as f64 * chunk.n_rows as f64 / block.bytes.len() as f64) as u64;
    }
    Ok(chunk)
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
