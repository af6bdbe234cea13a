//! CSV and TSV files, read with the `csv` crate.

use std::io::{BufReader, Read};
use std::sync::Arc;

use super::csv_blocks::{BlockReader, BlockSettings};
use super::{display_names, ChunkSource, Format, Progress, ReadOptions, ResolvedInput};
use crate::error::{DataError, Result};
use crate::table::{Chunk, Column, Needs};

/// A file (or object) being read, buffered.
type FileReader = BufReader<Box<dyn Read + Send>>;

pub(crate) struct CsvSource {
    input: ResolvedInput,
    options: ReadOptions,
    files: Vec<String>,
    columns: Vec<String>,
    needs: Vec<Needs>,
    progress: Arc<Progress>,
    /// The file being read and its index.
    current: Option<(usize, csv::Reader<FileReader>)>,
    /// A data record already read (the first row of a file without header).
    pending: Option<csv::ByteRecord>,
    next_file: usize,
    next_row: u64,
    /// Bytes of the current file already counted in `progress`.
    counted: u64,
    /// The parallel reader, once started (see `csv_blocks`); `None` with an escape character.
    blocks: Option<BlockReader>,
    parallel: bool,
}

impl CsvSource {
    pub(crate) fn open(
        input: ResolvedInput,
        options: ReadOptions,
        progress: Arc<Progress>,
    ) -> Result<CsvSource> {
        let files = display_names(&input.files);
        let mut source = CsvSource {
            files,
            columns: Vec::new(),
            needs: Vec::new(),
            progress,
            current: None,
            pending: None,
            next_file: 0,
            next_row: 0,
            counted: 0,
            blocks: None,
            parallel: options.escape.is_none(),
            input,
            options,
        };
        source.open_next()?;
        if source.parallel {
            // Check every file's header now; the block reader skips them.
            while source.next_file < source.input.files.len() {
                source.open_next()?;
            }
            source.current = None;
            source.pending = None;
        }
        Ok(source)
    }

    fn delimiter(&self) -> u8 {
        self.options
            .delimiter
            .unwrap_or(if self.input.format == Format::Tsv {
                b'\t'
            } else {
                b','
            })
    }

    /// Opens the next file and reads its header; `current` stays `None` after the last file.
    fn open_next(&mut self) -> Result<()> {
        self.current = None;
        let Some(path) = self.input.files.get(self.next_file) else {
            return Ok(());
        };
        let index = self.next_file;
        self.next_file += 1;
        self.counted = 0;
        let name = self.files[index].clone();
        let file = super::open_file(path, &name)?;
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(self.delimiter())
            .quote(self.options.quote)
            .escape(self.options.escape)
            .double_quote(self.options.escape.is_none())
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(1 << 20)
            .from_reader(BufReader::with_capacity(1 << 20, file));
        let mut first = csv::ByteRecord::new();
        let has_row = reader
            .read_byte_record(&mut first)
            .map_err(|error| csv_error(&name, error))?;
        if !has_row {
            return Err(DataError::Malformed {
                file: name,
                line: 1,
                message: "the file is empty (no header row)".into(),
            });
        }
        let names: Vec<String> = if self.options.has_header {
            let mut names = Vec::with_capacity(first.len());
            for (position, field) in first.iter().enumerate() {
                let text = std::str::from_utf8(field).map_err(|_| DataError::Malformed {
                    file: name.clone(),
                    line: 1,
                    message: format!("column {} of the header is not valid UTF-8", position + 1),
                })?;
                names.push(text.trim_start_matches('\u{feff}').to_string());
            }
            dedupe_names(names)
        } else {
            (1..=first.len()).map(|n| format!("column_{n}")).collect()
        };
        if index == 0 {
            self.columns = names;
        } else if names != self.columns {
            return Err(DataError::Input(format!(
                "{name}: its columns ({}) differ from those of {} ({})",
                names.join(", "),
                self.files[0],
                self.columns.join(", ")
            )));
        }
        if !self.options.has_header {
            self.pending = Some(first);
        }
        self.current = Some((index, reader));
        Ok(())
    }

    fn count_progress(&mut self, position: u64) {
        if position > self.counted {
            self.progress.add(position - self.counted);
            self.counted = position;
        }
    }
}

/// Makes column names unique the way pandas does: the second `a` becomes `a.1`.
pub(crate) fn dedupe_names(names: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    names
        .into_iter()
        .map(|name| {
            if seen.insert(name.clone()) {
                return name;
            }
            let mut n = 1;
            loop {
                let candidate = format!("{name}.{n}");
                if seen.insert(candidate.clone()) {
                    return candidate;
                }
                n += 1;
            }
        })
        .collect()
}

fn csv_error(file: &str, error: csv::Error) -> DataError {
    let line = error.position().map_or(0, csv::Position::line);
    match error.into_kind() {
        csv::ErrorKind::Io(source) => DataError::io(file, source),
        other => DataError::Malformed {
            file: file.to_string(),
            line,
            message: format!("{other:?}"),
        },
    }
}

impl ChunkSource for CsvSource {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn files(&self) -> &[String] {
        &self.files
    }

    fn set_needs(&mut self, needs: Vec<Needs>) {
        self.needs = needs;
    }

    fn progress(&self) -> Arc<Progress> {
        Arc::clone(&self.progress)
    }

    fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        if self.parallel {
            if self.blocks.is_none() {
                let settings = BlockSettings {
                    delimiter: self.delimiter(),
                    quote: self.options.quote,
                    cells: self.options.cells.clone(),
                    n_columns: self.columns.len(),
                    column_names: Arc::new(self.columns.clone()),
                    needs: Arc::new(self.needs.clone()),
                    has_header: self.options.has_header,
                };
                let workers = match self.options.threads {
                    0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
                    n => n,
                };
                self.blocks = Some(BlockReader::start(
                    self.input.files.clone(),
                    self.files.clone(),
                    settings,
                    workers,
                    Arc::clone(&self.progress),
                ));
            }
            return match self.blocks.as_mut() {
                Some(blocks) => blocks.next_chunk(),
                None => Ok(None),
            };
        }
        let n_columns = self.columns.len();
        let chunk_rows = self.options.chunk_rows.max(1);
        let needs: Vec<Needs> = (0..n_columns)
            .map(|i| self.needs.get(i).copied().unwrap_or_default())
            .collect();
        loop {
            let Some((file_index, _)) = self.current.as_ref() else {
                return Ok(None);
            };
            let file_index = *file_index;
            let mut chunk = Chunk {
                first_row: self.next_row,
                file_index,
                lines: Vec::with_capacity(chunk_rows.min(1 << 16)),
                columns: needs
                    .iter()
                    .map(|need| Column::with_capacity(chunk_rows.min(1 << 16), 0, need.numbers))
                    .collect(),
                n_rows: 0,
                rows_hint: 0,
            };
            let mut record = csv::ByteRecord::new();
            let file_name = self.files[file_index].clone();
            while chunk.n_rows < chunk_rows {
                let has_row = if let Some(pending) = self.pending.take() {
                    record = pending;
                    true
                } else {
                    let Some((_, reader)) = self.current.as_mut() else {
                        break;
                    };
                    reader
                        .read_byte_record(&mut record)
                        .map_err(|error| csv_error(&file_name, error))?
                };
                if !has_row {
                    break;
                }
                let line = record.position().map_or(0, csv::Position::line);
                if record.len() != n_columns {
                    // A blank line reads as one empty field: pandas skips those.
                    if record.len() == 1 && record.as_slice().is_empty() {
                        continue;
                    }
                    return Err(DataError::Malformed {
                        file: file_name,
                        line,
                        message: format!("expected {n_columns} fields, found {}", record.len()),
                    });
                }
                for (index, field) in record.iter().enumerate() {
                    let text =
                        std::str::from_utf8(field).map_err(|error| DataError::Malformed {
                            file: file_name.clone(),
                            line,
                            message: format!(
                                "column {:?} is not valid UTF-8 (byte {} of the field)",
                                self.columns[index],
                                error.valid_up_to() + 1
                            ),
                        })?;
                    let need = needs[index];
                    chunk.columns[index].push_text(
                        text,
                        &self.options.cells,
                        need.kinds,
                        need.numbers,
                    );
                }
                chunk.lines.push(line);
                chunk.n_rows += 1;
            }
            let position = self
                .current
                .as_ref()
                .map_or(0, |(_, reader)| reader.position().byte());
            self.count_progress(position);
            if chunk.n_rows == chunk_rows {
                self.next_row += chunk.n_rows as u64;
                return Ok(Some(chunk));
            }
            // This file is done.
            self.open_next()?;
            if chunk.n_rows > 0 {
                self.next_row += chunk.n_rows as u64;
                return Ok(Some(chunk));
            }
        }
    }
}
