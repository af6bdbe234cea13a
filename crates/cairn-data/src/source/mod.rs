//! Where rows come from: files (CSV/TSV, JSON lines, Parquet), folders and globs of them.
//!
//! [`open`] resolves a DATA argument to a list of files and returns a [`ChunkSource`] that yields the
//! rows of all of them in order, as [`Chunk`]s of at most [`ReadOptions::chunk_rows`] rows. Files of
//! one input must share their columns (same names, same order).

mod csv;
mod csv_blocks;
mod jsonl;
mod parquet;
pub mod postgres;
mod remote;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::{DataError, Result};
use crate::table::{CellReading, Chunk, Needs};

/// File formats cairn reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Tsv,
    JsonLines,
    Parquet,
}

impl Format {
    pub fn parse(name: &str) -> Result<Format> {
        match name.to_ascii_lowercase().as_str() {
            "csv" => Ok(Format::Csv),
            "tsv" => Ok(Format::Tsv),
            "jsonl" | "ndjson" | "json" => Ok(Format::JsonLines),
            "parquet" => Ok(Format::Parquet),
            other => Err(DataError::usage(format!(
                "unknown format {other:?} (expected csv, tsv, jsonl or parquet)"
            ))),
        }
    }

    /// The format a file name implies, if any.
    pub fn from_path(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        let extension = name.rsplit('.').next()?;
        match extension {
            "csv" | "txt" => Some(Format::Csv),
            "tsv" | "tab" => Some(Format::Tsv),
            "jsonl" | "ndjson" | "json" => Some(Format::JsonLines),
            "parquet" | "pq" => Some(Format::Parquet),
            _ => None,
        }
    }
}

/// How to read the input.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Forced format; else taken from each file's extension.
    pub format: Option<Format>,
    /// Field delimiter for CSV (default `,`; `\t` for TSV).
    pub delimiter: Option<u8>,
    /// Whether CSV files start with a header row (default true). Without one, columns are named
    /// `column_1`, `column_2`...
    pub has_header: bool,
    /// Quote character for CSV (default `"`).
    pub quote: u8,
    /// Escape character inside quoted CSV fields (default: none, quotes are doubled).
    pub escape: Option<u8>,
    /// Which strings are null.
    pub cells: CellReading,
    /// Rows per chunk.
    pub chunk_rows: usize,
    /// Worker threads for parsing (0: one per core).
    pub threads: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            format: None,
            delimiter: None,
            has_header: true,
            quote: b'"',
            escape: None,
            cells: CellReading::default(),
            chunk_rows: 64 * 1024,
            threads: 0,
        }
    }
}

/// Bytes read so far and in total, shared with whoever draws a progress bar.
#[derive(Debug, Default)]
pub struct Progress {
    pub bytes_read: AtomicU64,
    pub bytes_total: AtomicU64,
}

impl Progress {
    pub fn add(&self, bytes: u64) {
        self.bytes_read.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn read(&self) -> (u64, u64) {
        (
            self.bytes_read.load(Ordering::Relaxed),
            self.bytes_total.load(Ordering::Relaxed),
        )
    }
}

/// A table being read, chunk by chunk, in row order.
pub trait ChunkSource: Send {
    /// Column names, in order.
    fn columns(&self) -> &[String];
    /// The files behind the source, as shown to people (index = [`Chunk::file_index`]).
    fn files(&self) -> &[String];
    /// What to compute per column; call before the first chunk (default: nothing beyond null flags).
    fn set_needs(&mut self, needs: Vec<Needs>);
    /// The next chunk, or `None` at the end.
    fn next_chunk(&mut self) -> Result<Option<Chunk>>;
    /// Read progress.
    fn progress(&self) -> Arc<Progress>;
}

/// An input named on the command line, resolved to files.
#[derive(Debug, Clone)]
pub struct ResolvedInput {
    /// The argument as given.
    pub spec: String,
    /// Local paths, or objects as `s3://bucket/key` (see [`open_file`]).
    pub files: Vec<PathBuf>,
    pub format: Format,
    /// Bytes of all the files (what the progress bar counts).
    pub total_bytes: u64,
}

/// Resolves DATA (a file, a folder, or a glob; local or `s3://bucket/...`) to the files it names,
/// sorted by path.
pub fn resolve(spec: &str, options: &ReadOptions) -> Result<ResolvedInput> {
    if remote::is_remote(spec) {
        return remote::resolve(spec, options);
    }
    let path = Path::new(spec);
    let mut files: Vec<PathBuf> = if path.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|error| DataError::io(spec, error))?;
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|error| DataError::io(spec, error))?;
            let file = entry.path();
            let hidden = file
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(['.', '_']));
            if file.is_file()
                && !hidden
                && (options.format.is_some() || Format::from_path(&file).is_some())
            {
                found.push(file);
            }
        }
        if found.is_empty() {
            return Err(DataError::input(format!(
                "{spec}: the folder holds no csv, tsv, jsonl or parquet file"
            )));
        }
        found
    } else if path.exists() {
        vec![path.to_path_buf()]
    } else if spec.contains(['*', '?', '[']) {
        let paths = glob::glob_with(
            spec,
            glob::MatchOptions {
                require_literal_leading_dot: true,
                ..glob::MatchOptions::new()
            },
        )
        .map_err(|error| DataError::usage(format!("{spec}: bad glob: {error}")))?;
        let mut found = Vec::new();
        for entry in paths {
            let file = entry.map_err(|error| DataError::input(format!("{spec}: {error}")))?;
            if file.is_file() {
                found.push(file);
            }
        }
        if found.is_empty() {
            return Err(DataError::input(format!(
                "{spec}: the glob matches no file"
            )));
        }
        found
    } else {
        return Err(DataError::input(format!("{spec}: no such file or folder")));
    };
    files.sort();
    let format = format_of(spec, &files, options)?;
    let total_bytes = files
        .iter()
        .filter_map(|file| std::fs::metadata(file).ok())
        .map(|m| m.len())
        .sum();
    Ok(ResolvedInput {
        spec: spec.to_string(),
        files,
        format,
        total_bytes,
    })
}

/// The format of an input's files: forced, or told by their (common) extension.
fn format_of(spec: &str, files: &[PathBuf], options: &ReadOptions) -> Result<Format> {
    if let Some(format) = options.format {
        return Ok(format);
    }
    let Some(first_file) = files.first() else {
        return Err(DataError::input(format!("{spec}: no file")));
    };
    let first = Format::from_path(first_file).ok_or_else(|| {
        DataError::usage(format!(
            "{}: cannot tell the format from the file name; pass --format csv|tsv|jsonl|parquet",
            first_file.display()
        ))
    })?;
    if let Some(other) = files
        .iter()
        .find(|file| Format::from_path(file) != Some(first))
    {
        return Err(DataError::input(format!(
            "{spec}: files of different formats ({} and {}); pass one format at a time",
            first_file.display(),
            other.display()
        )));
    }
    Ok(first)
}

/// Opens one file of an input for a sequential read: a local file, or an object (`s3://bucket/key`)
/// streamed from the store.
pub(crate) fn open_file(path: &Path, name: &str) -> Result<Box<dyn Read + Send>> {
    if remote::is_remote_path(path) {
        return remote::open_read(path, name);
    }
    let file = std::fs::File::open(path).map_err(|error| DataError::io(name, error))?;
    Ok(Box::new(file))
}

/// Opens DATA for reading.
pub fn open(spec: &str, options: &ReadOptions) -> Result<Box<dyn ChunkSource>> {
    let input = resolve(spec, options)?;
    open_resolved(input, options)
}

/// Opens an input resolved by [`resolve`].
pub fn open_resolved(input: ResolvedInput, options: &ReadOptions) -> Result<Box<dyn ChunkSource>> {
    let progress = Arc::new(Progress::default());
    progress
        .bytes_total
        .store(input.total_bytes, Ordering::Relaxed);
    match input.format {
        Format::Csv | Format::Tsv => Ok(Box::new(csv::CsvSource::open(
            input,
            options.clone(),
            progress,
        )?)),
        Format::JsonLines => Ok(Box::new(jsonl::JsonLinesSource::open(
            input,
            options.clone(),
            progress,
        )?)),
        Format::Parquet => Ok(Box::new(parquet::ParquetSource::open(
            input,
            options.clone(),
            progress,
        )?)),
    }
}

/// Display names of the files.
pub(crate) fn display_names(files: &[PathBuf]) -> Vec<String> {
    files
        .iter()
        .map(|file| file.display().to_string())
        .collect()
}

#[cfg(test)]
mod tests;
