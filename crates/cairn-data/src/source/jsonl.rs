//! JSON lines: one object per line; columns are the keys, in the order first seen in the first line
//! (later lines may omit keys: null; keys the first line lacks are an error naming the line).

use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

use super::{display_names, ChunkSource, Progress, ReadOptions, ResolvedInput};
use crate::error::{DataError, Result};
use crate::table::{CellKind, Chunk, Column, Needs};

pub(crate) struct JsonLinesSource {
    input: ResolvedInput,
    options: ReadOptions,
    files: Vec<String>,
    columns: Vec<String>,
    needs: Vec<Needs>,
    progress: Arc<Progress>,
    current: Option<(usize, BufReader<Box<dyn Read + Send>>)>,
    /// The first object of the first file, read to learn the columns.
    pending: Option<(u64, serde_json::Map<String, serde_json::Value>)>,
    line: u64,
    next_file: usize,
    next_row: u64,
}

impl JsonLinesSource {
    pub(crate) fn open(
        input: ResolvedInput,
        options: ReadOptions,
        progress: Arc<Progress>,
    ) -> Result<JsonLinesSource> {
        let files = display_names(&input.files);
        let mut source = JsonLinesSource {
            files,
            columns: Vec::new(),
            needs: Vec::new(),
            progress,
            current: None,
            pending: None,
            line: 0,
            next_file: 0,
            next_row: 0,
            input,
            options,
        };
        source.open_next()?;
        let Some(object) = source.read_object()? else {
            return Err(DataError::Malformed {
                file: source.files[0].clone(),
                line: 1,
                message: "the file is empty (no JSON object)".into(),
            });
        };
        source.columns = object.1.keys().cloned().collect();
        source.pending = Some(object);
        Ok(source)
    }

    fn open_next(&mut self) -> Result<()> {
        self.current = None;
        let Some(path) = self.input.files.get(self.next_file) else {
            return Ok(());
        };
        let index = self.next_file;
        self.next_file += 1;
        self.line = 0;
        let file = super::open_file(path, &self.files[index])?;
        self.current = Some((index, BufReader::with_capacity(1 << 20, file)));
        Ok(())
    }

    /// The next object of the current file with its line, skipping blank lines; `None` at its end.
    fn read_object(&mut self) -> Result<Option<(u64, serde_json::Map<String, serde_json::Value>)>> {
        let Some((index, reader)) = self.current.as_mut() else {
            return Ok(None);
        };
        let mut buffer = Vec::new();
        loop {
            buffer.clear();
            let read = reader
                .read_until(b'\n', &mut buffer)
                .map_err(|error| DataError::io(self.files[*index].clone(), error))?;
            if read == 0 {
                return Ok(None);
            }
            self.progress.add(read as u64);
            self.line += 1;
            if buffer.trim_ascii().is_empty() {
                continue;
            }
            let file = &self.files[*index];
            let value: serde_json::Value =
                serde_json::from_slice(&buffer).map_err(|error| DataError::Malformed {
                    file: file.clone(),
                    line: self.line,
                    message: format!("not valid JSON: {error}"),
                })?;
            let serde_json::Value::Object(object) = value else {
                return Err(DataError::Malformed {
                    file: file.clone(),
                    line: self.line,
                    message: "expected a JSON object per line".into(),
                });
            };
            return Ok(Some((self.line, object)));
        }
    }
}

/// Renders a JSON value as a cell: its text, kind and numeric value.
fn push_value(column: &mut Column, value: Option<&serde_json::Value>, numbers: bool) {
    use serde_json::Value;
    match value {
        None | Some(Value::Null) => column.push_typed("", CellKind::Null, f64::NAN, numbers),
        Some(Value::Bool(flag)) => column.push_typed(
            if *flag { "True" } else { "False" },
            CellKind::Bool,
            f64::from(u8::from(*flag)),
            numbers,
        ),
        Some(Value::Number(number)) => {
            let kind = if number.is_i64() || number.is_u64() {
                CellKind::Int
            } else {
                CellKind::Float
            };
            let value = number.as_f64().unwrap_or(f64::NAN);
            column.push_typed(&number.to_string(), kind, value, numbers);
        }
        Some(Value::String(text)) => column.push_typed(text, CellKind::Text, f64::NAN, numbers),
        Some(other) => column.push_typed(&other.to_string(), CellKind::Text, f64::NAN, numbers),
    }
}

impl ChunkSource for JsonLinesSource {
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
        let chunk_rows = self.options.chunk_rows.max(1);
        loop {
            let Some((file_index, _)) = self.current.as_ref() else {
                return Ok(None);
            };
            let file_index = *file_index;
            let mut chunk = Chunk {
                first_row: self.next_row,
                file_index,
                lines: Vec::new(),
                columns: (0..self.columns.len())
                    .map(|i| {
                        Column::with_capacity(0, 0, self.needs.get(i).is_some_and(|n| n.numbers))
                    })
                    .collect(),
                n_rows: 0,
                rows_hint: 0,
            };
            while chunk.n_rows < chunk_rows {
                let next = match self.pending.take() {
                    Some(object) => Some(object),
                    None => self.read_object()?,
                };
                let Some((line, object)) = next else { break };
                if let Some(extra) = object.keys().find(|key| !self.columns.contains(key)) {
                    return Err(DataError::Malformed {
                        file: self.files[file_index].clone(),
                        line,
                        message: format!(
                            "key {extra:?} is not a column of the first line ({})",
                            self.columns.join(", ")
                        ),
                    });
                }
                for (index, name) in self.columns.iter().enumerate() {
                    let numbers = self.needs.get(index).is_some_and(|n| n.numbers);
                    push_value(&mut chunk.columns[index], object.get(name), numbers);
                }
                chunk.lines.push(line);
                chunk.n_rows += 1;
            }
            if chunk.n_rows == chunk_rows {
                self.next_row += chunk.n_rows as u64;
                return Ok(Some(chunk));
            }
            self.open_next()?;
            if chunk.n_rows > 0 {
                self.next_row += chunk.n_rows as u64;
                return Ok(Some(chunk));
            }
        }
    }
}
