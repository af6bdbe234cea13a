//! Reading both datasets for drift: one streaming pass each (the two run side by side), keeping
//! the finite values of numeric columns and value counts of the others.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use xxhash_rust::xxh3::Xxh3Default;

use crate::error::{DataError, Result};
use crate::source::ChunkSource;
use crate::table::{CellKind, Chunk, Needs};

/// Value counts keyed by the cell's text.
pub type Counts = HashMap<String, u64, BuildHasherDefault<Xxh3Default>>;

/// What one dataset holds in one column.
#[derive(Debug, Default)]
pub struct ColumnSample {
    /// True while every non-null cell is an int or a float.
    pub numeric: bool,
    /// True while every cell is an int (no null): NumPy would see an integer array.
    pub integer: bool,
    /// Numeric columns: the values in row order, NaN for a null or non-finite cell when rows are
    /// kept ([`Collector::keep_rows`]), else only the finite values.
    pub values: Vec<f64>,
    /// Categorical columns: count of each value (nulls left out).
    pub counts: Counts,
    pub rows: u64,
    /// Null cells (and, for numeric columns, infinities: Evidently drops both).
    pub nulls: u64,
}

impl ColumnSample {
    fn new() -> ColumnSample {
        ColumnSample {
            numeric: true,
            integer: true,
            ..ColumnSample::default()
        }
    }

    /// Turns a numeric column categorical: earlier values are counted by their shortest rendering.
    pub fn make_categorical(&mut self) {
        if !self.numeric {
            return;
        }
        self.numeric = false;
        self.integer = false;
        for value in std::mem::take(&mut self.values) {
            if value.is_nan() {
                continue;
            }
            *self.counts.entry(render_number(value)).or_insert(0) += 1;
        }
    }

    /// Non-null values counted.
    pub fn n_values(&self) -> u64 {
        self.rows - self.nulls
    }
}

/// Renders a number the way it would have been written (`3`, `1.5`).
pub fn render_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value}")
    }
}

/// Where current rows come from, to name an outlier's row.
#[derive(Debug, Default)]
pub struct RowPlaces {
    /// Line of each row in its file.
    pub lines: Vec<u64>,
    /// `(first row, file index)` at each change of file.
    pub files: Vec<(u64, usize)>,
}

impl RowPlaces {
    /// The file index and line of `row`.
    pub fn place(&self, row: u64) -> (usize, u64) {
        let position = self.files.partition_point(|(first, _)| *first <= row);
        let file = if position == 0 {
            0
        } else {
            self.files[position - 1].1
        };
        (file, self.lines.get(row as usize).copied().unwrap_or(0))
    }
}

/// One dataset read for drift.
#[derive(Debug, Default)]
pub struct Collected {
    pub columns: Vec<ColumnSample>,
    pub rows: u64,
    pub places: RowPlaces,
    pub files: Vec<String>,
}

/// Reads the selected columns (`selected[i]` = index in the source) of one source.
pub struct Collector {
    pub selected: Vec<usize>,
    /// Keep row positions (NaN for nulls) so outliers can name their rows.
    pub keep_rows: bool,
}

impl Collector {
    pub fn collect(&self, source: &mut dyn ChunkSource) -> Result<Collected> {
        let n_columns = source.columns().len();
        let mut needs = vec![Needs::default(); n_columns];
        for &index in &self.selected {
            needs[index] = Needs {
                kinds: true,
                numbers: true,
            };
        }
        source.set_needs(needs);
        let mut collected = Collected {
            columns: self.selected.iter().map(|_| ColumnSample::new()).collect(),
            files: source.files().to_vec(),
            ..Collected::default()
        };
        while let Some(chunk) = source.next_chunk()? {
            self.add_chunk(&chunk, &mut collected)?;
        }
        Ok(collected)
    }

    fn add_chunk(&self, chunk: &Chunk, collected: &mut Collected) -> Result<()> {
        if self.keep_rows {
            if collected.places.files.last().map(|(_, file)| *file) != Some(chunk.file_index) {
                collected
                    .places
                    .files
                    .push((chunk.first_row, chunk.file_index));
            }
            collected.places.lines.extend_from_slice(&chunk.lines);
        }
        collected.rows += chunk.n_rows as u64;
        for (sample, &index) in collected.columns.iter_mut().zip(&self.selected) {
            let column = chunk
                .columns
                .get(index)
                .ok_or_else(|| DataError::input("a chunk lacks a selected column"))?;
            let kinds = column.kinds();
            sample.rows += kinds.len() as u64;
            if sample.numeric
                && kinds
                    .iter()
                    .any(|kind| matches!(kind, CellKind::Text | CellKind::Bool))
            {
                sample.make_categorical();
            }
            if sample.numeric {
                if !column.has_numbers() {
                    return Err(DataError::input("the reader returned no numbers"));
                }
                if sample.integer && kinds.iter().any(|kind| *kind != CellKind::Int) {
                    sample.integer = false;
                }
                for &value in column.numbers() {
                    if value.is_finite() {
                        sample.values.push(value);
                    } else {
                        sample.nulls += 1;
                        if self.keep_rows {
                            sample.values.push(f64::NAN);
                        }
                    }
                }
            } else {
                for (text, kind) in column.texts().zip(kinds) {
                    let key = match kind {
                        CellKind::Null => {
                            sample.nulls += 1;
                            continue;
                        }
                        CellKind::Bool => match text.trim() {
                            "True" | "true" | "TRUE" => "True",
                            _ => "False",
                        },
                        _ => text,
                    };
                    if let Some(count) = sample.counts.get_mut(key) {
                        *count += 1;
                    } else {
                        sample.counts.insert(key.to_owned(), 1);
                    }
                }
            }
        }
        Ok(())
    }
}
