//! Parquet files, read with the `parquet` crate's column readers (no Arrow).
//!
//! The table's columns are the top-level fields of the schema. A primitive top-level field is read
//! with its typed column reader, a page at a time, and rendered cell by cell; a group (struct, list,
//! map) or repeated field is read through the crate's record reader and rendered as JSON text. Row
//! groups are read in order and chunks may span them (never files), so memory stays flat in the size
//! of the file: one page per column plus one chunk.
//!
//! Cells follow what pandas makes of the file: integers are `Int`, floats `Float` (NaN is null),
//! decimals `Float` (text as written, `1.50`), booleans `Bool` (`True`/`False`), strings and binary
//! `Text` (binary that is not UTF-8 as `0x` and hex digits), dates, times and timestamps `Text` in ISO
//! 8601 (`2024-01-31`, `2024-01-31T12:00:00.250000`, `+00:00` when adjusted to UTC).

use std::fmt::Write as _;
use std::fs::File;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::basic::{ConvertedType, LogicalType, TimeUnit, Type as PhysicalType};
use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::data_type::{
    BoolType, ByteArray, ByteArrayType, DataType, DoubleType, FixedLenByteArray,
    FixedLenByteArrayType, FloatType, Int32Type, Int64Type, Int96, Int96Type,
};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::reader::RowIter;
use parquet::record::{Field, Row};
use parquet::schema::types::{ColumnDescriptor, SchemaDescriptor, Type as SchemaType};

use super::{display_names, remote, ChunkSource, Progress, ReadOptions, ResolvedInput};
use crate::error::{DataError, Result};
use crate::table::{CellKind, Chunk, Column, Needs};

/// The reading state: files, row groups and column readers.
struct ParquetReader {
    input: ResolvedInput,
    options: ReadOptions,
    files: Vec<String>,
    columns: Vec<String>,
    needs: Vec<Needs>,
    progress: Arc<Progress>,
    rows_hint: u64,
    next_file: usize,
    next_row: u64,
    /// The file being read; `None` before the first chunk and after the last file.
    current: Option<OpenFile>,
    /// The first file, opened to learn the columns, handed over at the first chunk.
    first: Option<OpenFile>,
    /// Whether `progress` counts row groups as they are read (local files); remote objects are
    /// counted as they are downloaded.
    count_row_groups: bool,
}

/// Which table column a top-level field becomes and how it is read.
#[derive(Debug, Clone)]
enum Plan {
    /// A primitive field: its leaf column and how values render.
    Flat { leaf: usize, render: Render },
    /// A group or repeated field, read with the record reader.
    Nested,
}

/// How the values of a primitive column become cells.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Render {
    Bool,
    /// Signed or unsigned integer of the physical width.
    Int {
        unsigned: bool,
    },
    Float,
    Float16,
    /// Unscaled integer (INT32, INT64, or big-endian bytes) with a scale.
    Decimal {
        scale: i32,
    },
    Date,
    Time(TimeUnit),
    Timestamp {
        unit: TimeUnit,
        utc: bool,
    },
    /// INT96 legacy timestamps (nanoseconds).
    Int96,
    /// Text when UTF-8, else hex.
    Text,
    Uuid,
}

struct OpenFile {
    index: usize,
    reader: Arc<SerializedFileReader<File>>,
    plans: Vec<Plan>,
    /// Where the file is on disk (a temporary copy for a remote object), to open it again for the
    /// record reader.
    path: PathBuf,
    _download: Option<tempfile::TempPath>,
    next_group: usize,
    group_rows_left: u64,
    flat: Vec<Option<FlatReader>>,
    nested: Option<RowIter<'static>>,
    /// Bytes of the file counted in `progress` so far.
    counted: u64,
    size: u64,
}

struct FlatReader {
    values: Values,
    levels: Vec<i16>,
    max_def: i16,
    render: Render,
}

enum Values {
    Bool(ColumnReaderImpl<BoolType>, Vec<bool>),
    Int32(ColumnReaderImpl<Int32Type>, Vec<i32>),
    Int64(ColumnReaderImpl<Int64Type>, Vec<i64>),
    Int96(ColumnReaderImpl<Int96Type>, Vec<Int96>),
    Float(ColumnReaderImpl<FloatType>, Vec<f32>),
    Double(ColumnReaderImpl<DoubleType>, Vec<f64>),
    Bytes(ColumnReaderImpl<ByteArrayType>, Vec<ByteArray>),
    Fixed(
        ColumnReaderImpl<FixedLenByteArrayType>,
        Vec<FixedLenByteArray>,
    ),
}

impl ParquetReader {
    fn open(
        input: ResolvedInput,
        options: ReadOptions,
        progress: Arc<Progress>,
    ) -> Result<ParquetReader> {
        let files = display_names(&input.files);
        let remote = input.files.iter().any(|file| remote::is_remote_path(file));
        let mut source = ParquetReader {
            files,
            columns: Vec::new(),
            needs: Vec::new(),
            progress,
            rows_hint: 0,
            next_file: 0,
            next_row: 0,
            current: None,
            first: None,
            count_row_groups: !remote,
            input,
            options,
        };
        let first = source.open_file(0)?;
        source.columns = field_names(first.reader.metadata().file_metadata().schema_descr());
        let first_rows = rows_of(&first.reader);
        if remote {
            // Only the first object is here yet: estimate the rest from its bytes per row.
            let total = source.progress.read().1;
            source.rows_hint = if first.size > 0 {
                (first_rows as f64 * total as f64 / first.size as f64) as u64
            } else {
                first_rows
            };
        } else {
            // Check every file's columns now (as CSV checks headers) and count the rows.
            source.rows_hint = first_rows;
            for index in 1..source.input.files.len() {
                let reader = source.read_footer(index, &source.input.files[index])?;
                source.check_columns(index, &reader)?;
                source.rows_hint += rows_of(&reader);
            }
        }
        source.first = Some(first);
        source.next_file = 1;
        Ok(source)
    }

    fn read_footer(&self, index: usize, path: &Path) -> Result<SerializedFileReader<File>> {
        let name = &self.files[index];
        let file = File::open(path).map_err(|error| DataError::io(name.clone(), error))?;
        guarded(name, || {
            SerializedFileReader::new(file).map_err(|error| not_parquet(name, &error))
        })
    }

    fn check_columns(&self, index: usize, reader: &SerializedFileReader<File>) -> Result<()> {
        let names = field_names(reader.metadata().file_metadata().schema_descr());
        if names != self.columns {
            return Err(DataError::Input(format!(
                "{}: its columns ({}) differ from those of {} ({})",
                self.files[index],
                names.join(", "),
                self.files[0],
                self.columns.join(", ")
            )));
        }
        Ok(())
    }

    /// Opens file `index` (downloading it first when it is remote) and plans its columns.
    fn open_file(&mut self, index: usize) -> Result<OpenFile> {
        let name = self.files[index].clone();
        let spec = self.input.files[index].clone();
        let (path, download) = if remote::is_remote_path(&spec) {
            let temp = remote::download(&spec, &name, &self.progress)?;
            (temp.to_path_buf(), Some(temp))
        } else {
            (spec, None)
        };
        let reader = self.read_footer(index, &path)?;
        if index > 0 {
            self.check_columns(index, &reader)?;
        }
        let plans = plan_columns(&name, reader.metadata().file_metadata().schema_descr())?;
        let size = std::fs::metadata(&path).map_or(0, |meta| meta.len());
        Ok(OpenFile {
            index,
            reader: Arc::new(reader),
            plans,
            path,
            _download: download,
            next_group: 0,
            group_rows_left: 0,
            flat: Vec::new(),
            nested: None,
            counted: 0,
            size,
        })
    }

    /// Moves to the next file that has rows; `false` after the last one.
    fn advance(&mut self) -> Result<bool> {
        if let Some(done) = self.current.take() {
            self.finish_file(&done);
        }
        if let Some(first) = self.first.take() {
            self.current = Some(first);
            return Ok(true);
        }
        if self.next_file >= self.input.files.len() {
            return Ok(false);
        }
        let index = self.next_file;
        self.next_file += 1;
        self.current = Some(self.open_file(index)?);
        Ok(true)
    }

    fn finish_file(&self, file: &OpenFile) {
        if self.count_row_groups && file.size > file.counted {
            self.progress.add(file.size - file.counted);
        }
    }

    /// Reads up to `wanted` rows of the current file into `chunk`; returns how many were read
    /// (fewer only at the end of the file).
    fn fill(&mut self, chunk: &mut Chunk, wanted: usize) -> Result<usize> {
        let numbers: Vec<bool> = (0..self.columns.len())
            .map(|i| self.needs.get(i).is_some_and(|n| n.numbers))
            .collect();
        let Some(file) = self.current.as_mut() else {
            return Ok(0);
        };
        let name = self.files[file.index].clone();
        let columns = &self.columns;
        let read = guarded(&name, || {
            let mut read = 0usize;
            while read < wanted {
                if file.group_rows_left == 0 && !file.open_group(&name, columns)? {
                    break;
                }
                let take = (wanted - read).min(file.group_rows_left as usize);
                file.read_rows(&name, columns, chunk, take, &numbers)?;
                file.group_rows_left -= take as u64;
                read += take;
            }
            Ok(read)
        })?;
        if self.count_row_groups {
            // Local files count as their row groups are opened (the footer with the first).
            let done = file.groups_done_bytes();
            if done > file.counted {
                self.progress.add(done - file.counted);
                file.counted = done;
            }
        }
        Ok(read)
    }
}

impl OpenFile {
    /// Opens the next row group with rows; `false` at the end of the file.
    fn open_group(&mut self, name: &str, columns: &[String]) -> Result<bool> {
        loop {
            let metadata = self.reader.metadata();
            if self.next_group >= metadata.num_row_groups() {
                return Ok(false);
            }
            let index = self.next_group;
            self.next_group += 1;
            let rows = metadata.row_group(index).num_rows().max(0) as u64;
            if rows == 0 {
                continue;
            }
            let group = self
                .reader
                .get_row_group(index)
                .map_err(|error| group_error(name, index, &error))?;
            let schema = metadata.file_metadata().schema_descr();
            let mut flat = Vec::with_capacity(self.plans.len());
            for plan in &self.plans {
                flat.push(match plan {
                    Plan::Flat { leaf, render } => {
                        let reader = group
                            .get_column_reader(*leaf)
                            .map_err(|error| group_error(name, index, &error))?;
                        Some(FlatReader {
                            values: Values::new(reader),
                            levels: Vec::new(),
                            max_def: schema.column(*leaf).max_def_level(),
                            render: *render,
                        })
                    }
                    Plan::Nested => None,
                });
            }
            self.flat = flat;
            if self.nested.is_none() && self.plans.iter().any(|p| matches!(p, Plan::Nested)) {
                self.nested = Some(self.nested_rows(name, columns)?);
            }
            self.group_rows_left = rows;
            return Ok(true);
        }
    }

    /// A record reader over the nested fields of the whole file (its own file handle).
    fn nested_rows(&self, name: &str, columns: &[String]) -> Result<RowIter<'static>> {
        let schema = self.reader.metadata().file_metadata().schema_descr();
        let root = schema.root_schema();
        let fields: Vec<Arc<SchemaType>> = self
            .plans
            .iter()
            .enumerate()
            .filter(|(_, plan)| matches!(plan, Plan::Nested))
            .filter_map(|(position, _)| root.get_fields().get(position).cloned())
            .collect();
        let projection = SchemaType::group_type_builder(root.name())
            .with_fields(fields)
            .build()
            .map_err(|error| DataError::input(format!("{name}: {error}")))?;
        let file = File::open(&self.path).map_err(|error| DataError::io(name, error))?;
        let reader = SerializedFileReader::new(file).map_err(|error| not_parquet(name, &error))?;
        RowIter::from_file_into(Box::new(reader))
            .project(Some(projection))
            .map_err(|error| {
                DataError::input(format!(
                    "{name}: cannot read the nested columns ({}): {error}",
                    columns.join(", ")
                ))
            })
    }

    /// Compressed bytes of the row groups opened so far.
    fn groups_done_bytes(&self) -> u64 {
        let footer = self.size.saturating_sub(groups_bytes(&self.reader));
        let groups: u64 = self
            .reader
            .metadata()
            .row_groups()
            .iter()
            .take(self.next_group)
            .map(|group| group.compressed_size().max(0) as u64)
            .sum();
        (footer + groups).min(self.size)
    }

    fn read_rows(
        &mut self,
        name: &str,
        columns: &[String],
        chunk: &mut Chunk,
        rows: usize,
        numbers: &[bool],
    ) -> Result<()> {
        let mut text = String::new();
        for (position, flat) in self.flat.iter_mut().enumerate() {
            let Some(flat) = flat else { continue };
            flat.read(
                rows,
                &mut chunk.columns[position],
                numbers[position],
                &mut text,
            )
            .map_err(|error| {
                DataError::input(format!("{name}: column {:?}: {error}", columns[position]))
            })?;
        }
        let Some(nested) = self.nested.as_mut() else {
            return Ok(());
        };
        let positions: Vec<usize> = self
            .plans
            .iter()
            .enumerate()
            .filter(|(_, plan)| matches!(plan, Plan::Nested))
            .map(|(position, _)| position)
            .collect();
        for _ in 0..rows {
            let row = match nested.next() {
                Some(Ok(row)) => row,
                Some(Err(error)) => {
                    return Err(DataError::input(format!(
                        "{name}: cannot read the nested columns: {}",
                        parquet_message(&error)
                    )))
                }
                None => {
                    return Err(DataError::input(format!(
                        "{name}: the nested columns have fewer rows than the file"
                    )))
                }
            };
            for ((_, field), position) in row.into_columns().into_iter().zip(&positions) {
                let column = &mut chunk.columns[*position];
                if matches!(field, Field::Null) {
                    column.push_typed("", CellKind::Null, f64::NAN, numbers[*position]);
                } else {
                    let json = field_json(&field).to_string();
                    column.push_typed(&json, CellKind::Text, f64::NAN, numbers[*position]);
                }
            }
        }
        Ok(())
    }
}

impl Values {
    fn new(reader: ColumnReader) -> Values {
        match reader {
            ColumnReader::BoolColumnReader(r) => Values::Bool(r, Vec::new()),
            ColumnReader::Int32ColumnReader(r) => Values::Int32(r, Vec::new()),
            ColumnReader::Int64ColumnReader(r) => Values::Int64(r, Vec::new()),
            ColumnReader::Int96ColumnReader(r) => Values::Int96(r, Vec::new()),
            ColumnReader::FloatColumnReader(r) => Values::Float(r, Vec::new()),
            ColumnReader::DoubleColumnReader(r) => Values::Double(r, Vec::new()),
            ColumnReader::ByteArrayColumnReader(r) => Values::Bytes(r, Vec::new()),
            ColumnReader::FixedLenByteArrayColumnReader(r) => Values::Fixed(r, Vec::new()),
        }
    }
}

/// Reads exactly `rows` records of a flat column: definition levels (when nullable) and values.
fn read_exact<T: DataType>(
    reader: &mut ColumnReaderImpl<T>,
    rows: usize,
    levels: &mut Vec<i16>,
    values: &mut Vec<T::T>,
) -> std::result::Result<(), String> {
    levels.clear();
    values.clear();
    let mut read = 0;
    while read < rows {
        let (records, _, _) = reader
            .read_records(rows - read, Some(levels), None, values)
            .map_err(|error| parquet_message(&error))?;
        if records == 0 {
            return Err(format!(
                "the column chunk ends {} rows before its row group",
                rows - read
            ));
        }
        read += records;
    }
    Ok(())
}

impl FlatReader {
    fn read(
        &mut self,
        rows: usize,
        column: &mut Column,
        numbers: bool,
        text: &mut String,
    ) -> std::result::Result<(), String> {
        let render = self.render;
        let levels = &mut self.levels;
        let max_def = self.max_def;
        match &mut self.values {
            Values::Bool(reader, values) => {
                read_exact(reader, rows, levels, values)?;
                emit(
                    column,
                    levels,
                    max_def,
                    values,
                    numbers,
                    text,
                    |flag, text| {
                        text.push_str(if *flag { "True" } else { "False" });
                        (CellKind::Bool, f64::from(u8::from(*flag)))
                    },
                );
            }
            Values::Int32(reader, values) => {
                read_exact(reader, rows, levels, values)?;
                emit(column, levels, max_def, values, numbers, text, |v, text| {
                    render_i64(render, i64::from(*v), u64::from(*v as u32), text)
                });
            }
            Values::Int64(reader, values) => {
                read_exact(reader, rows, levels, values)?;
                emit(column, levels, max_def, values, numbers, text, |v, text| {
                    render_i64(render, *v, *v as u64, text)
                });
            }
            Values::Int96(reader, values) => {
                read_exact(reader, rows, levels, values)?;
                emit(column, levels, max_def, values, numbers, text, |v, text| {
                    let nanos = v.to_nanos();
                    write_timestamp(text, nanos, TimeUnit::NANOS, false);
                    (CellKind::Text, f64::NAN)
                });
            }
            Values::Float(reader, values) => {
                read_exact(reader, rows, levels, values)?;
                emit(column, levels, max_def, values, numbers, text, |v, text| {
                    float_cell(f64::from(*v), Some(*v), text)
                });
            }
            Values::Double(reader, values) => {
                read_exact(reader, rows, levels, values)?;
                emit(column, levels, max_def, values, numbers, text, |v, text| {
                    float_cell(*v, None, text)
                });
            }
            Values::Bytes(reader, values) => {
                read_exact(reader, rows, levels, values)?;
                emit(column, levels, max_def, values, numbers, text, |v, text| {
                    render_bytes(render, v.data(), text)
                });
            }
            Values::Fixed(reader, values) => {
                read_exact(reader, rows, levels, values)?;
                emit(column, levels, max_def, values, numbers, text, |v, text| {
                    render_bytes(render, v.data(), text)
                });
            }
        }
        Ok(())
    }
}

/// Walks definition levels (a level below `max_def` is a null, else the next value) and pushes
/// cells: `render` writes a value's text and gives its kind and number.
fn emit<V>(
    column: &mut Column,
    levels: &[i16],
    max_def: i16,
    values: &[V],
    numbers: bool,
    text: &mut String,
    render: impl Fn(&V, &mut String) -> (CellKind, f64),
) {
    let mut push = |value: &V, column: &mut Column| {
        text.clear();
        let (kind, number) = render(value, text);
        if kind == CellKind::Null {
            column.push_typed("", CellKind::Null, f64::NAN, numbers);
        } else {
            column.push_typed(text, kind, number, numbers);
        }
    };
    if max_def == 0 {
        for value in values {
            push(value, column);
        }
        return;
    }
    let mut next = values.iter();
    for level in levels {
        match (*level >= max_def).then(|| next.next()).flatten() {
            Some(value) => push(value, column),
            None => column.push_typed("", CellKind::Null, f64::NAN, numbers),
        }
    }
}

fn render_i64(render: Render, signed: i64, unsigned: u64, text: &mut String) -> (CellKind, f64) {
    match render {
        Render::Int { unsigned: true } => {
            // `unsigned` holds the bits as written (an INT32 widened without sign).
            let value = if unsigned > u64::from(u32::MAX) {
                signed as u64
            } else {
                unsigned
            };
            push_padded(text, value, 1);
            let kind = if value <= i64::MAX as u64 {
                CellKind::Int
            } else {
                CellKind::Float
            };
            (kind, value as f64)
        }
        Render::Decimal { scale } => decimal_cell(i128::from(signed), scale, text),
        Render::Date => {
            write_date(text, signed);
            (CellKind::Text, f64::NAN)
        }
        Render::Time(unit) => {
            let nanos = signed.saturating_mul(unit_nanos(unit));
            write_time_of_day(text, nanos.rem_euclid(NANOS_PER_DAY));
            (CellKind::Text, f64::NAN)
        }
        Render::Timestamp { unit, utc } => {
            write_timestamp(text, signed, unit, utc);
            (CellKind::Text, f64::NAN)
        }
        _ => {
            push_i64(text, signed);
            (CellKind::Int, signed as f64)
        }
    }
}

fn render_bytes(render: Render, bytes: &[u8], text: &mut String) -> (CellKind, f64) {
    match render {
        Render::Decimal { scale } => match decimal_unscaled(bytes) {
            Some(unscaled) => decimal_cell(unscaled, scale, text),
            None => {
                write_hex(text, bytes);
                (CellKind::Text, f64::NAN)
            }
        },
        Render::Float16 if bytes.len() == 2 => {
            let value = f16_to_f64(u16::from_le_bytes([bytes[0], bytes[1]]));
            float_cell(value, None, text)
        }
        Render::Uuid if bytes.len() == 16 => {
            for (position, byte) in bytes.iter().enumerate() {
                if matches!(position, 4 | 6 | 8 | 10) {
                    text.push('-');
                }
                let _ = write!(text, "{byte:02x}");
            }
            (CellKind::Text, f64::NAN)
        }
        _ => {
            match std::str::from_utf8(bytes) {
                Ok(utf8) => text.push_str(utf8),
                Err(_) => write_hex(text, bytes),
            }
            (CellKind::Text, f64::NAN)
        }
    }
}

fn write_hex(text: &mut String, bytes: &[u8]) {
    text.push_str("0x");
    for byte in bytes {
        let _ = write!(text, "{byte:02x}");
    }
}

/// A float cell: NaN is null (pandas), the text is Python's `repr` (of the `f32` when there is one).
fn float_cell(value: f64, single: Option<f32>, text: &mut String) -> (CellKind, f64) {
    if value.is_nan() {
        return (CellKind::Null, f64::NAN);
    }
    if value.is_infinite() {
        text.push_str(if value > 0.0 { "inf" } else { "-inf" });
        return (CellKind::Float, value);
    }
    let mut buffer = ryu::Buffer::new();
    let shortest = match single {
        Some(single) => buffer.format_finite(single),
        None => buffer.format_finite(value),
    };
    write_python_float(text, shortest);
    (CellKind::Float, value)
}

/// Writes a finite float the way Python's `repr` does, from a shortest round-trip rendering
/// (`ryu`'s `1.5`, `1e16`, `1.5e-7`, or Rust's `{:e}`): positional between 1e-4 and 1e16 (`0.001`,
/// `3.0`), else scientific (`1e+16`, `1.5e-07`).
fn write_python_float(text: &mut String, shortest: &str) {
    let (mantissa, exponent) = shortest.split_once(['e', 'E']).unwrap_or((shortest, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, mantissa),
    };
    let integer_digits = mantissa.find('.').unwrap_or(mantissa.len()) as i32;
    // The significant digits, without the point and leading or trailing zeros.
    let mut digits = [0u8; 40];
    let mut count = 0usize;
    let mut leading = 0i32;
    for byte in mantissa.bytes().filter(u8::is_ascii_digit) {
        if count == 0 && byte == b'0' {
            leading += 1;
        } else if count < digits.len() {
            digits[count] = byte;
            count += 1;
        }
    }
    while count > 0 && digits[count - 1] == b'0' {
        count -= 1;
    }
    if negative {
        text.push('-');
    }
    if count == 0 {
        text.push_str("0.0");
        return;
    }
    let digits = std::str::from_utf8(&digits[..count]).unwrap_or("0");
    // The exponent of the first significant digit: d.ddd × 10^exponent.
    let exponent = exponent + integer_digits - 1 - leading;
    if (-4..16).contains(&exponent) {
        let point = exponent + 1;
        if point <= 0 {
            text.push_str("0.");
            for _ in 0..(-point) {
                text.push('0');
            }
            text.push_str(digits);
        } else {
            let point = point as usize;
            if digits.len() <= point {
                text.push_str(digits);
                for _ in digits.len()..point {
                    text.push('0');
                }
                text.push_str(".0");
            } else {
                text.push_str(&digits[..point]);
                text.push('.');
                text.push_str(&digits[point..]);
            }
        }
    } else {
        text.push_str(&digits[..1]);
        if digits.len() > 1 {
            text.push('.');
            text.push_str(&digits[1..]);
        }
        text.push('e');
        text.push(if exponent < 0 { '-' } else { '+' });
        push_padded(text, u64::from(exponent.unsigned_abs()), 2);
    }
}

/// Two-digit strings "00" to "99", back to back.
const PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Appends the decimal digits of `value`, zero-padded to at least `width` digits.
fn push_padded(text: &mut String, mut value: u64, width: usize) {
    let mut buffer = [b'0'; 20];
    let mut at = buffer.len();
    while value >= 100 {
        let pair = (value % 100) as usize * 2;
        value /= 100;
        at -= 2;
        buffer[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if value >= 10 {
        let pair = value as usize * 2;
        at -= 2;
        buffer[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        at -= 1;
        buffer[at] = b'0' + value as u8;
    }
    let at = at.min(buffer.len().saturating_sub(width));
    text.extend(buffer[at..].iter().map(|&digit| char::from(digit)));
}

fn push_i64(text: &mut String, value: i64) {
    if value < 0 {
        text.push('-');
    }
    push_padded(text, value.unsigned_abs(), 1);
}

/// A decimal cell: the text with `scale` digits after the point (`1.50`), the value as a float.
fn decimal_cell(unscaled: i128, scale: i32, text: &mut String) -> (CellKind, f64) {
    let digits = unscaled.unsigned_abs().to_string();
    if unscaled < 0 {
        text.push('-');
    }
    if scale <= 0 {
        text.push_str(&digits);
        if unscaled != 0 {
            for _ in 0..(-scale) {
                text.push('0');
            }
        }
    } else {
        let scale = scale as usize;
        if digits.len() <= scale {
            text.push_str("0.");
            for _ in digits.len()..scale {
                text.push('0');
            }
            text.push_str(&digits);
        } else {
            let point = digits.len() - scale;
            text.push_str(&digits[..point]);
            text.push('.');
            text.push_str(&digits[point..]);
        }
    }
    let value: f64 = text.parse().unwrap_or(f64::NAN);
    (CellKind::Float, value)
}

/// A big-endian two's complement integer of at most 16 bytes.
fn decimal_unscaled(bytes: &[u8]) -> Option<i128> {
    if bytes.is_empty() || bytes.len() > 16 {
        return None;
    }
    let fill = if bytes[0] & 0x80 != 0 { 0xff } else { 0 };
    let mut buffer = [fill; 16];
    buffer[16 - bytes.len()..].copy_from_slice(bytes);
    Some(i128::from_be_bytes(buffer))
}

fn f16_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from((bits >> 10) & 0x1f);
    let fraction = f64::from(bits & 0x3ff);
    match exponent {
        0 => sign * fraction * 2f64.powi(-24),
        31 if fraction == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        _ => sign * (1.0 + fraction / 1024.0) * 2f64.powi(exponent - 15),
    }
}

const NANOS_PER_SECOND: i64 = 1_000_000_000;
const NANOS_PER_DAY: i64 = 86_400 * NANOS_PER_SECOND;

fn unit_nanos(unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::MILLIS => 1_000_000,
        TimeUnit::MICROS => 1_000,
        TimeUnit::NANOS => 1,
    }
}

/// `YYYY-MM-DD` of a day count from 1970-01-01 (proleptic Gregorian, H. Hinnant's algorithm).
fn write_date(text: &mut String, days: i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if (0..=9999).contains(&year) {
        push_padded(text, year as u64, 4);
    } else {
        push_i64(text, year);
    }
    text.push('-');
    push_padded(text, month as u64, 2);
    text.push('-');
    push_padded(text, day as u64, 2);
}

/// `HH:MM:SS`, with `.ffffff` (or nine digits when nanoseconds are set) when not whole seconds.
fn write_time_of_day(text: &mut String, nanos: i64) {
    let seconds = nanos / NANOS_PER_SECOND;
    let fraction = nanos % NANOS_PER_SECOND;
    push_padded(text, (seconds / 3600) as u64, 2);
    text.push(':');
    push_padded(text, (seconds / 60 % 60) as u64, 2);
    text.push(':');
    push_padded(text, (seconds % 60) as u64, 2);
    if fraction != 0 {
        text.push('.');
        if fraction % 1000 == 0 {
            push_padded(text, (fraction / 1000) as u64, 6);
        } else {
            push_padded(text, fraction as u64, 9);
        }
    }
}

/// ISO 8601 date and time of `value` units from the epoch; `+00:00` when adjusted to UTC.
fn write_timestamp(text: &mut String, value: i64, unit: TimeUnit, utc: bool) {
    let per_second = NANOS_PER_SECOND / unit_nanos(unit);
    let seconds = value.div_euclid(per_second);
    let sub = value.rem_euclid(per_second) * unit_nanos(unit);
    let days = seconds.div_euclid(86_400);
    let in_day = seconds.rem_euclid(86_400);
    write_date(text, days);
    text.push('T');
    write_time_of_day(text, in_day * NANOS_PER_SECOND + sub);
    if utc {
        text.push_str("+00:00");
    }
}

/// A nested value as JSON (dates and times as ISO text, decimals as text, binary as UTF-8 or hex).
fn field_json(field: &Field) -> serde_json::Value {
    use serde_json::Value;
    let text = |write: &dyn Fn(&mut String)| {
        let mut text = String::new();
        write(&mut text);
        Value::String(text)
    };
    let float = |value: f64| {
        serde_json::Number::from_f64(value)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    };
    match field {
        Field::Null => Value::Null,
        Field::Bool(flag) => Value::Bool(*flag),
        Field::Byte(n) => Value::from(*n),
        Field::Short(n) => Value::from(*n),
        Field::Int(n) => Value::from(*n),
        Field::Long(n) => Value::from(*n),
        Field::UByte(n) => Value::from(*n),
        Field::UShort(n) => Value::from(*n),
        Field::UInt(n) => Value::from(*n),
        Field::ULong(n) => Value::from(*n),
        Field::Float16(n) => float(f64::from(*n)),
        Field::Float(n) => float(f64::from(*n)),
        Field::Double(n) => float(*n),
        Field::Decimal(decimal) => text(&|out| match decimal_unscaled(decimal.data()) {
            Some(unscaled) => {
                decimal_cell(unscaled, decimal.scale(), out);
            }
            None => write_hex(out, decimal.data()),
        }),
        Field::Str(s) => Value::String(s.clone()),
        Field::Bytes(bytes) => text(&|out| {
            render_bytes(Render::Text, bytes.data(), out);
        }),
        Field::Date(days) => text(&|out| write_date(out, i64::from(*days))),
        Field::TimeMillis(t) => text(&|out| {
            write_time_of_day(out, (i64::from(*t) * 1_000_000).rem_euclid(NANOS_PER_DAY))
        }),
        Field::TimeMicros(t) => {
            text(&|out| write_time_of_day(out, t.saturating_mul(1000).rem_euclid(NANOS_PER_DAY)))
        }
        Field::TimestampMillis(t) => text(&|out| write_timestamp(out, *t, TimeUnit::MILLIS, false)),
        Field::TimestampMicros(t) => text(&|out| write_timestamp(out, *t, TimeUnit::MICROS, false)),
        Field::Group(row) => row_json(row),
        Field::ListInternal(list) => Value::Array(list.elements().iter().map(field_json).collect()),
        Field::MapInternal(map) => Value::Object(
            map.entries()
                .iter()
                .map(|(key, value)| {
                    let key = match field_json(key) {
                        Value::String(text) => text,
                        other => other.to_string(),
                    };
                    (key, field_json(value))
                })
                .collect(),
        ),
    }
}

fn row_json(row: &Row) -> serde_json::Value {
    serde_json::Value::Object(
        row.get_column_iter()
            .map(|(name, field)| (name.clone(), field_json(field)))
            .collect(),
    )
}

/// The table's column names: the schema's top-level fields.
fn field_names(schema: &SchemaDescriptor) -> Vec<String> {
    schema
        .root_schema()
        .get_fields()
        .iter()
        .map(|field| field.name().to_string())
        .collect()
}

/// How each top-level field is read; an unsupported type is an error naming the column.
fn plan_columns(name: &str, schema: &SchemaDescriptor) -> Result<Vec<Plan>> {
    let fields = schema.root_schema().get_fields();
    let mut plans = Vec::with_capacity(fields.len());
    for (position, field) in fields.iter().enumerate() {
        let repeated = field.get_basic_info().has_repetition()
            && field.get_basic_info().repetition() == parquet::basic::Repetition::REPEATED;
        if field.is_primitive() && !repeated {
            let leaf = (0..schema.num_columns())
                .find(|leaf| schema.get_column_root_idx(*leaf) == position)
                .ok_or_else(|| {
                    DataError::input(format!(
                        "{name}: column {:?} has no values in the schema",
                        field.name()
                    ))
                })?;
            let render = render_of(&schema.column(leaf)).map_err(|kind| {
                DataError::input(format!(
                    "{name}: column {:?} has parquet type {kind}, which cairn cannot read",
                    field.name()
                ))
            })?;
            plans.push(Plan::Flat { leaf, render });
        } else {
            plans.push(Plan::Nested);
        }
    }
    Ok(plans)
}

/// The rendering of a primitive column from its physical and logical (or legacy converted) type.
fn render_of(column: &ColumnDescriptor) -> std::result::Result<Render, String> {
    let physical = column.physical_type();
    let scale = column.type_scale();
    if let Some(logical) = column.logical_type_ref() {
        let render = match logical {
            LogicalType::Integer(int) => {
                if !matches!(int.bit_width, 8 | 16 | 32 | 64) {
                    return Err(format!("INTEGER({})", int.bit_width));
                }
                Render::Int {
                    unsigned: !int.is_signed,
                }
            }
            LogicalType::Decimal(decimal) => Render::Decimal {
                scale: decimal.scale,
            },
            LogicalType::Date => Render::Date,
            LogicalType::Time(time) => Render::Time(time.unit),
            LogicalType::Timestamp(stamp) => Render::Timestamp {
                unit: stamp.unit,
                utc: stamp.is_adjusted_to_u_t_c,
            },
            LogicalType::Float16 => Render::Float16,
            LogicalType::Uuid => Render::Uuid,
            LogicalType::String
            | LogicalType::Enum
            | LogicalType::Json
            | LogicalType::Bson
            | LogicalType::Geometry(_)
            | LogicalType::Geography(_) => Render::Text,
            // The null type (every value null): any rendering does.
            LogicalType::Unknown => default_render(physical),
            other => return Err(format!("{other:?}")),
        };
        return Ok(render);
    }
    let render = match column.converted_type() {
        ConvertedType::NONE
        | ConvertedType::UTF8
        | ConvertedType::ENUM
        | ConvertedType::JSON
        | ConvertedType::BSON
        | ConvertedType::INT_8
        | ConvertedType::INT_16
        | ConvertedType::INT_32
        | ConvertedType::INT_64 => default_render(physical),
        ConvertedType::UINT_8
        | ConvertedType::UINT_16
        | ConvertedType::UINT_32
        | ConvertedType::UINT_64 => Render::Int { unsigned: true },
        ConvertedType::DECIMAL => Render::Decimal { scale },
        ConvertedType::DATE => Render::Date,
        ConvertedType::TIME_MILLIS => Render::Time(TimeUnit::MILLIS),
        ConvertedType::TIME_MICROS => Render::Time(TimeUnit::MICROS),
        ConvertedType::TIMESTAMP_MILLIS => Render::Timestamp {
            unit: TimeUnit::MILLIS,
            utc: true,
        },
        ConvertedType::TIMESTAMP_MICROS => Render::Timestamp {
            unit: TimeUnit::MICROS,
            utc: true,
        },
        other => return Err(other.to_string()),
    };
    // The physical type decides when the annotation does not fit it.
    Ok(match (physical, render) {
        (PhysicalType::BOOLEAN, _) => Render::Bool,
        (PhysicalType::FLOAT | PhysicalType::DOUBLE, _) => Render::Float,
        (PhysicalType::INT96, _) => Render::Int96,
        (_, render) => render,
    })
}

fn default_render(physical: PhysicalType) -> Render {
    match physical {
        PhysicalType::BOOLEAN => Render::Bool,
        PhysicalType::INT32 | PhysicalType::INT64 => Render::Int { unsigned: false },
        PhysicalType::INT96 => Render::Int96,
        PhysicalType::FLOAT | PhysicalType::DOUBLE => Render::Float,
        PhysicalType::BYTE_ARRAY | PhysicalType::FIXED_LEN_BYTE_ARRAY => Render::Text,
    }
}

fn rows_of(reader: &SerializedFileReader<File>) -> u64 {
    reader.metadata().file_metadata().num_rows().max(0) as u64
}

/// Compressed bytes of all the row groups of a file.
fn groups_bytes(reader: &SerializedFileReader<File>) -> u64 {
    reader
        .metadata()
        .row_groups()
        .iter()
        .map(|group| group.compressed_size().max(0) as u64)
        .sum()
}

fn not_parquet(name: &str, error: &parquet::errors::ParquetError) -> DataError {
    DataError::input(format!(
        "{name}: not a readable parquet file: {}",
        parquet_message(error)
    ))
}

fn group_error(name: &str, group: usize, error: &parquet::errors::ParquetError) -> DataError {
    DataError::input(format!(
        "{name}: row group {group}: {}",
        parquet_message(error)
    ))
}

/// The crate's message without its "Parquet error: " prefix.
fn parquet_message(error: &parquet::errors::ParquetError) -> String {
    let message = error.to_string();
    let message = match message.strip_prefix("Parquet error: ") {
        Some(rest) => rest.to_string(),
        None => message,
    };
    if let Some(codec) = message.strip_prefix("Disabled feature at compile time: ") {
        let hint = if codec == "zstd" {
            " (build cairn with the cargo feature `cairn-data/zstd`)"
        } else {
            ""
        };
        return format!("compressed with {codec}, which this cairn cannot read{hint}");
    }
    message
}

/// Runs parquet code that may panic on a corrupt file (the crate asserts in places): a panic becomes
/// an error naming the file, and its message is not printed.
fn guarded<T>(name: &str, work: impl FnOnce() -> Result<T>) -> Result<T> {
    quiet_panics_in_guards();
    let was = GUARDED.with(|guarded| guarded.replace(true));
    let outcome = catch_unwind(AssertUnwindSafe(work));
    GUARDED.with(|guarded| guarded.set(was));
    match outcome {
        Ok(result) => result,
        Err(panic) => {
            let reason = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("the parquet reader failed");
            Err(DataError::input(format!(
                "{name}: cannot read the parquet file (corrupt?): {reason}"
            )))
        }
    }
}

thread_local! {
    /// Whether this thread runs parquet code under [`guarded`].
    static GUARDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Installs (once) a panic hook that stays silent for panics [`guarded`] turns into errors and
/// hands every other panic to the hook that was there before.
fn quiet_panics_in_guards() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !GUARDED.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
}

impl ParquetReader {
    fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        let chunk_rows = self.options.chunk_rows.max(1);
        loop {
            if self.current.is_none() && !self.advance()? {
                return Ok(None);
            }
            let Some(file_index) = self.current.as_ref().map(|file| file.index) else {
                return Ok(None);
            };
            let mut chunk = Chunk {
                first_row: self.next_row,
                file_index,
                lines: Vec::new(),
                columns: (0..self.columns.len())
                    .map(|i| {
                        Column::with_capacity(
                            chunk_rows.min(1 << 16),
                            0,
                            self.needs.get(i).is_some_and(|n| n.numbers),
                        )
                    })
                    .collect(),
                n_rows: 0,
                rows_hint: self.rows_hint,
            };
            let read = self.fill(&mut chunk, chunk_rows)?;
            chunk.n_rows = read;
            if read < chunk_rows {
                // This file is done; the next one opens at the next call.
                if let Some(done) = self.current.take() {
                    self.finish_file(&done);
                }
            }
            if read > 0 {
                self.next_row += read as u64;
                return Ok(Some(chunk));
            }
        }
    }
}

/// Chunks decoded ahead by the reading thread.
const CHUNKS_AHEAD: usize = 2;

/// A [`ChunkSource`] over Parquet files: a thread decodes chunks ahead of the consumer (up to
/// [`CHUNKS_AHEAD`]), so that decoding and checking overlap.
pub(crate) struct ParquetSource {
    columns: Vec<String>,
    files: Vec<String>,
    progress: Arc<Progress>,
    /// The reader until the first chunk is asked for; then it runs on its thread.
    reader: Option<ParquetReader>,
    chunks: Option<std::sync::mpsc::Receiver<Result<Option<Chunk>>>>,
    thread: Option<std::thread::JoinHandle<()>>,
    finished: bool,
}

impl ParquetSource {
    pub(crate) fn open(
        input: ResolvedInput,
        options: ReadOptions,
        progress: Arc<Progress>,
    ) -> Result<ParquetSource> {
        let reader = ParquetReader::open(input, options, progress)?;
        Ok(ParquetSource {
            columns: reader.columns.clone(),
            files: reader.files.clone(),
            progress: Arc::clone(&reader.progress),
            reader: Some(reader),
            chunks: None,
            thread: None,
            finished: false,
        })
    }

    fn start(&mut self) {
        let Some(mut reader) = self.reader.take() else {
            return;
        };
        let (sender, receiver) = std::sync::mpsc::sync_channel(CHUNKS_AHEAD);
        self.thread = Some(std::thread::spawn(move || loop {
            let next = reader.next_chunk();
            let last = !matches!(next, Ok(Some(_)));
            if sender.send(next).is_err() || last {
                return;
            }
        }));
        self.chunks = Some(receiver);
    }
}

impl ChunkSource for ParquetSource {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn files(&self) -> &[String] {
        &self.files
    }

    fn set_needs(&mut self, needs: Vec<Needs>) {
        if let Some(reader) = self.reader.as_mut() {
            reader.needs = needs;
        }
    }

    fn progress(&self) -> Arc<Progress> {
        Arc::clone(&self.progress)
    }

    fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        if self.finished {
            return Ok(None);
        }
        self.start();
        let Some(chunks) = self.chunks.as_ref() else {
            return Ok(None);
        };
        let next = chunks
            .recv()
            .unwrap_or_else(|_| Err(DataError::input("the parquet reader stopped unexpectedly")));
        if !matches!(next, Ok(Some(_))) {
            self.finished = true;
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{open, ReadOptions};
    use parquet::basic::Compression;
    use parquet::data_type::{ByteArray, FixedLenByteArray, Int96};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;

    /// One leaf column's values with its definition (and repetition) levels.
    enum Data {
        Bool(Vec<bool>),
        I32(Vec<i32>),
        I64(Vec<i64>),
        I96(Vec<Int96>),
        F32(Vec<f32>),
        F64(Vec<f64>),
        Bytes(Vec<ByteArray>),
        Fixed(Vec<FixedLenByteArray>),
    }

    struct Leaf {
        data: Data,
        defs: Option<Vec<i16>>,
        reps: Option<Vec<i16>>,
    }

    fn leaf(data: Data, defs: Option<Vec<i16>>) -> Leaf {
        Leaf {
            data,
            defs,
            reps: None,
        }
    }

    fn text(values: &[&str]) -> Data {
        Data::Bytes(values.iter().map(|v| ByteArray::from(*v)).collect())
    }

    /// Writes a Parquet file: one entry of `groups` per row group, one leaf per leaf column.
    fn write(path: &Path, schema: &str, compression: Compression, groups: Vec<Vec<Leaf>>) {
        let schema = Arc::new(parse_message_type(schema).unwrap());
        let props = Arc::new(
            WriterProperties::builder()
                .set_compression(compression)
                .set_data_page_row_count_limit(2)
                .set_write_batch_size(2)
                .build(),
        );
        let file = File::create(path).unwrap();
        let mut writer = SerializedFileWriter::new(file, schema, props).unwrap();
        for group in groups {
            let mut row_group = writer.next_row_group().unwrap();
            for leaf in group {
                let mut column = row_group.next_column().unwrap().unwrap();
                let defs = leaf.defs.as_deref();
                let reps = leaf.reps.as_deref();
                match &leaf.data {
                    Data::Bool(v) => column.typed::<BoolType>().write_batch(v, defs, reps),
                    Data::I32(v) => column.typed::<Int32Type>().write_batch(v, defs, reps),
                    Data::I64(v) => column.typed::<Int64Type>().write_batch(v, defs, reps),
                    Data::I96(v) => column.typed::<Int96Type>().write_batch(v, defs, reps),
                    Data::F32(v) => column.typed::<FloatType>().write_batch(v, defs, reps),
                    Data::F64(v) => column.typed::<DoubleType>().write_batch(v, defs, reps),
                    Data::Bytes(v) => column.typed::<ByteArrayType>().write_batch(v, defs, reps),
                    Data::Fixed(v) => column
                        .typed::<FixedLenByteArrayType>()
                        .write_batch(v, defs, reps),
                }
                .unwrap();
                column.close().unwrap();
            }
            row_group.close().unwrap();
        }
        writer.close().unwrap();
    }

    type Cell = (String, CellKind);

    /// Every cell of the input as (text, kind), column by column, plus the chunks' first rows.
    fn read_all(spec: &str, chunk_rows: usize) -> Result<(Vec<String>, Vec<Vec<Cell>>)> {
        let options = ReadOptions {
            chunk_rows,
            ..ReadOptions::default()
        };
        let mut source = open(spec, &options)?;
        let n = source.columns().len();
        source.set_needs(vec![
            Needs {
                kinds: true,
                numbers: true
            };
            n
        ]);
        let mut cells = vec![Vec::new(); n];
        let mut next_row = 0;
        while let Some(chunk) = source.next_chunk()? {
            assert_eq!(chunk.first_row, next_row);
            assert!(chunk.lines.is_empty());
            assert!(chunk.n_rows <= chunk_rows);
            next_row += chunk.n_rows as u64;
            for (index, column) in chunk.columns.iter().enumerate() {
                assert_eq!(column.len(), chunk.n_rows);
                assert!(column.has_numbers());
                for row in 0..chunk.n_rows {
                    cells[index].push((column.text(row).to_string(), column.kind(row)));
                }
            }
        }
        Ok((source.columns().to_vec(), cells))
    }

    fn cells(expected: &[(&str, CellKind)]) -> Vec<(String, CellKind)> {
        expected
            .iter()
            .map(|(text, kind)| (text.to_string(), *kind))
            .collect()
    }

    use CellKind::{Bool as B, Float as F, Int as I, Null as N, Text as T};

    const ALL_TYPES: &str = "
        message table {
            REQUIRED INT64 id;
            OPTIONAL INT32 small (INTEGER(8,true));
            OPTIONAL INT32 count (INTEGER(32,false));
            OPTIONAL INT64 big (INTEGER(64,false));
            OPTIONAL DOUBLE x;
            OPTIONAL FLOAT f;
            OPTIONAL BOOLEAN flag;
            OPTIONAL BYTE_ARRAY name (STRING);
            OPTIONAL BYTE_ARRAY raw;
            OPTIONAL INT32 day (DATE);
            OPTIONAL INT64 at (TIMESTAMP(MICROS,false));
            OPTIONAL INT64 at_utc (TIMESTAMP(MILLIS,true));
            OPTIONAL INT64 at_ns (TIMESTAMP(NANOS,false));
            OPTIONAL INT96 legacy;
            OPTIONAL INT32 clock (TIME(MILLIS,false));
            OPTIONAL INT32 price (DECIMAL(9,2));
            OPTIONAL FIXED_LEN_BYTE_ARRAY (16) wide (DECIMAL(30,3));
            OPTIONAL FIXED_LEN_BYTE_ARRAY (16) key (UUID);
            OPTIONAL FIXED_LEN_BYTE_ARRAY (2) half (FLOAT16);
            OPTIONAL group tags (LIST) {
                REPEATED group list {
                    OPTIONAL BYTE_ARRAY element (STRING);
                }
            }
            OPTIONAL group point {
                REQUIRED DOUBLE x;
                REQUIRED DOUBLE y;
            }
        }";

    fn int96(nanos_of_day: u64, julian_day: u32) -> Int96 {
        let mut value = Int96::new();
        value.set_data(nanos_of_day as u32, (nanos_of_day >> 32) as u32, julian_day);
        value
    }

    fn fixed(bytes: &[u8]) -> FixedLenByteArray {
        FixedLenByteArray::from(bytes.to_vec())
    }

    /// Three rows: typical values, nulls everywhere, edge values.
    fn all_types_rows() -> Vec<Leaf> {
        let full = Some(vec![1, 0, 1]);
        let mut wide = [0u8; 16];
        wide[15] = 0x39;
        wide[14] = 0x30; // 12345 → 12.345
        vec![
            leaf(Data::I64(vec![1, 2, 3]), None),
            leaf(Data::I32(vec![-5, 127]), full.clone()),
            leaf(Data::I32(vec![-1, 7]), full.clone()), // u32::MAX
            leaf(Data::I64(vec![-1, 5]), full.clone()), // u64::MAX
            leaf(Data::F64(vec![1.5, f64::NAN]), full.clone()),
            leaf(Data::F32(vec![0.1, 3.0]), full.clone()),
            leaf(Data::Bool(vec![true, false]), full.clone()),
            leaf(text(&["héllo", ""]), full.clone()),
            leaf(
                Data::Bytes(vec![
                    ByteArray::from("abc"),
                    ByteArray::from(vec![0xff, 0x00]),
                ]),
                full.clone(),
            ),
            leaf(Data::I32(vec![19_723, -1]), full.clone()),
            leaf(Data::I64(vec![1_704_067_200_250_000, 0]), full.clone()),
            leaf(Data::I64(vec![1_704_067_200_000, -1]), full.clone()),
            leaf(Data::I64(vec![1_704_067_200_000_000_001, 0]), full.clone()),
            leaf(
                Data::I96(vec![
                    int96(3_600_000_000_000, 2_460_311),
                    int96(0, 2_440_588),
                ]),
                full.clone(),
            ),
            leaf(Data::I32(vec![45_296_500, 0]), full.clone()),
            leaf(Data::I32(vec![150, -5]), full.clone()),
            leaf(
                Data::Fixed(vec![fixed(&wide), fixed(&[0xff; 16])]),
                full.clone(),
            ),
            leaf(
                Data::Fixed(vec![
                    fixed(&[
                        0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78,
                        0x9a, 0xbc, 0xde, 0xf0,
                    ]),
                    fixed(&[0; 16]),
                ]),
                full.clone(),
            ),
            leaf(
                Data::Fixed(vec![fixed(&[0x00, 0x3e]), fixed(&[0x00, 0x7c])]),
                full.clone(),
            ),
            // tags: ["a", "b"], null, [null]
            Leaf {
                data: text(&["a", "b"]),
                defs: Some(vec![3, 3, 0, 2]),
                reps: Some(vec![0, 1, 0, 0]),
            },
            // point: {1, 2}, null, {-0.5, 3}
            leaf(Data::F64(vec![1.0, -0.5]), full.clone()),
            leaf(Data::F64(vec![2.0, 3.0]), full),
        ]
    }

    #[test]
    fn every_type_renders_like_pandas() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("all.parquet");
        write(
            &path,
            ALL_TYPES,
            Compression::SNAPPY,
            vec![all_types_rows()],
        );
        let (columns, cells_read) = read_all(path.to_str().unwrap(), 100).unwrap();
        assert_eq!(
            columns,
            [
                "id", "small", "count", "big", "x", "f", "flag", "name", "raw", "day", "at",
                "at_utc", "at_ns", "legacy", "clock", "price", "wide", "key", "half", "tags",
                "point"
            ]
        );
        let check = |name: &str, expected: &[(&str, CellKind)]| {
            let index = columns.iter().position(|c| c == name).unwrap();
            assert_eq!(cells_read[index], cells(expected), "column {name}");
        };
        check("id", &[("1", I), ("2", I), ("3", I)]);
        check("small", &[("-5", I), ("", N), ("127", I)]);
        check("count", &[("4294967295", I), ("", N), ("7", I)]);
        check("big", &[("18446744073709551615", F), ("", N), ("5", I)]);
        check("x", &[("1.5", F), ("", N), ("", N)]);
        check("f", &[("0.1", F), ("", N), ("3.0", F)]);
        check("flag", &[("True", B), ("", N), ("False", B)]);
        check("name", &[("héllo", T), ("", N), ("", T)]);
        check("raw", &[("abc", T), ("", N), ("0xff00", T)]);
        check("day", &[("2024-01-01", T), ("", N), ("1969-12-31", T)]);
        check(
            "at",
            &[
                ("2024-01-01T00:00:00.250000", T),
                ("", N),
                ("1970-01-01T00:00:00", T),
            ],
        );
        check(
            "at_utc",
            &[
                ("2024-01-01T00:00:00+00:00", T),
                ("", N),
                ("1969-12-31T23:59:59.999000+00:00", T),
            ],
        );
        check(
            "at_ns",
            &[
                ("2024-01-01T00:00:00.000000001", T),
                ("", N),
                ("1970-01-01T00:00:00", T),
            ],
        );
        check(
            "legacy",
            &[
                ("2024-01-01T01:00:00", T),
                ("", N),
                ("1970-01-01T00:00:00", T),
            ],
        );
        check("clock", &[("12:34:56.500000", T), ("", N), ("00:00:00", T)]);
        check("price", &[("1.50", F), ("", N), ("-0.05", F)]);
        check("wide", &[("12.345", F), ("", N), ("-0.001", F)]);
        check(
            "key",
            &[
                ("12345678-9abc-def0-1234-56789abcdef0", T),
                ("", N),
                ("00000000-0000-0000-0000-000000000000", T),
            ],
        );
        check("half", &[("1.5", F), ("", N), ("inf", F)]);
        check("tags", &[(r#"["a","b"]"#, T), ("", N), ("[null]", T)]);
        check(
            "point",
            &[
                (r#"{"x":1.0,"y":2.0}"#, T),
                ("", N),
                (r#"{"x":-0.5,"y":3.0}"#, T),
            ],
        );
    }

    #[test]
    fn numbers_follow_the_kinds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("all.parquet");
        write(
            &path,
            ALL_TYPES,
            Compression::UNCOMPRESSED,
            vec![all_types_rows()],
        );
        let mut source = open(path.to_str().unwrap(), &ReadOptions::default()).unwrap();
        let n = source.columns().len();
        let mut needs = vec![Needs::default(); n];
        needs[4].numbers = true; // x
        needs[6].numbers = true; // flag
        needs[15].numbers = true; // price
        source.set_needs(needs);
        let chunk = source.next_chunk().unwrap().unwrap();
        assert_eq!(chunk.rows_hint, 3);
        let x = chunk.column(4).numbers();
        assert_eq!(x[0], 1.5);
        assert!(x[1].is_nan() && x[2].is_nan());
        assert_eq!(chunk.column(6).numbers()[0], 1.0);
        assert_eq!(chunk.column(6).numbers()[2], 0.0);
        assert_eq!(chunk.column(15).numbers()[0], 1.5);
        assert_eq!(chunk.column(15).numbers()[2], -0.05);
        assert!(chunk.column(0).numbers().is_empty());
        assert!(source.next_chunk().unwrap().is_none());
    }

    const SIMPLE: &str = "
        message table {
            REQUIRED INT64 id;
            OPTIONAL BYTE_ARRAY name (STRING);
        }";

    fn simple_group(first: i64, rows: usize) -> Vec<Leaf> {
        let ids: Vec<i64> = (first..first + rows as i64).collect();
        let defs: Vec<i16> = ids.iter().map(|id| i16::from(id % 3 != 0)).collect();
        let names: Vec<String> = ids
            .iter()
            .filter(|id| *id % 3 != 0)
            .map(|id| format!("n{id}"))
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        vec![leaf(Data::I64(ids), None), leaf(text(&names), Some(defs))]
    }

    #[test]
    fn row_groups_and_files_stream_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("parts");
        std::fs::create_dir(&folder).unwrap();
        // part-0: row groups of 4, 0 (empty) and 5 rows; part-1: 3 rows (gzip); part-2: lz4.
        write(
            &folder.join("part-0.parquet"),
            SIMPLE,
            Compression::SNAPPY,
            vec![simple_group(0, 4), simple_group(4, 0), simple_group(4, 5)],
        );
        write(
            &folder.join("part-1.parquet"),
            SIMPLE,
            Compression::GZIP(Default::default()),
            vec![simple_group(9, 3)],
        );
        write(
            &folder.join("part-2.parquet"),
            SIMPLE,
            Compression::LZ4_RAW,
            vec![simple_group(12, 2)],
        );
        std::fs::write(folder.join("_SUCCESS"), "").unwrap();
        for chunk_rows in [1, 3, 4, 100] {
            let (columns, cells_read) = read_all(folder.to_str().unwrap(), chunk_rows).unwrap();
            assert_eq!(columns, ["id", "name"]);
            let ids: Vec<String> = cells_read[0].iter().map(|(t, _)| t.clone()).collect();
            let expected: Vec<String> = (0..14).map(|i| i.to_string()).collect();
            assert_eq!(ids, expected, "chunk_rows {chunk_rows}");
            let names: Vec<&str> = cells_read[1].iter().map(|(t, _)| t.as_str()).collect();
            assert_eq!(&names[..5], ["", "n1", "n2", "", "n4"]);
            assert_eq!(cells_read[1][12].1, N);
            assert_eq!(cells_read[1][13], ("n13".to_string(), T));
        }
        // Chunks never span files; the progress reaches the total.
        let mut source = open(folder.to_str().unwrap(), &ReadOptions::default()).unwrap();
        let mut files = Vec::new();
        while let Some(chunk) = source.next_chunk().unwrap() {
            assert_eq!(chunk.rows_hint, 14);
            files.push((chunk.file_index, chunk.n_rows));
        }
        assert_eq!(files, [(0, 9), (1, 3), (2, 2)]);
        let (read, total) = source.progress().read();
        assert_eq!(read, total);
        assert_eq!(source.files().len(), 3);
    }

    #[test]
    fn bad_inputs_are_errors_naming_the_file_or_column() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.parquet");
        write(
            &good,
            SIMPLE,
            Compression::SNAPPY,
            vec![simple_group(0, 50), simple_group(50, 50)],
        );
        let bytes = std::fs::read(&good).unwrap();
        let error_of = |name: &str, content: &[u8]| -> String {
            let path = dir.path().join(name);
            std::fs::write(&path, content).unwrap();
            let result = read_all(path.to_str().unwrap(), 7);
            let message = result.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(message.contains(name), "{name}: {message}");
            message
        };
        error_of("empty.parquet", b"");
        error_of("text.parquet", b"id,name\n1,a\n");
        error_of("truncated.parquet", &bytes[..bytes.len() / 2]);
        error_of("no-footer.parquet", &bytes[..bytes.len() - 3]);
        // Data pages damaged in place (the footer intact).
        let mut damaged = bytes.clone();
        for byte in damaged.iter_mut().skip(4).take(bytes.len() / 3) {
            *byte = 0xAB;
        }
        error_of("damaged.parquet", &damaged);

        // A codec left out of the build (the writer cannot make such a file here).
        let message = parquet_message(&parquet::errors::ParquetError::General(
            "Disabled feature at compile time: zstd".into(),
        ));
        assert!(
            message.contains("compressed with zstd") && message.contains("cairn-data/zstd"),
            "{message}"
        );

        let interval = dir.path().join("interval.parquet");
        write(
            &interval,
            "message t { OPTIONAL FIXED_LEN_BYTE_ARRAY (12) span (INTERVAL); }",
            Compression::UNCOMPRESSED,
            vec![vec![leaf(
                Data::Fixed(vec![fixed(&[0; 12])]),
                Some(vec![1]),
            )]],
        );
        let message = read_all(interval.to_str().unwrap(), 10)
            .err()
            .unwrap()
            .to_string();
        assert!(
            message.contains("\"span\"") && message.contains("INTERVAL"),
            "{message}"
        );

        let other = dir.path().join("mixed");
        std::fs::create_dir(&other).unwrap();
        std::fs::copy(&good, other.join("a.parquet")).unwrap();
        write(
            &other.join("b.parquet"),
            "message t { REQUIRED INT64 id; OPTIONAL BYTE_ARRAY label (STRING); }",
            Compression::UNCOMPRESSED,
            vec![simple_group(0, 2)],
        );
        let message = read_all(other.to_str().unwrap(), 10)
            .err()
            .unwrap()
            .to_string();
        assert!(
            message.contains("b.parquet") && message.contains("differ"),
            "{message}"
        );
    }

    #[test]
    fn damaged_files_are_errors_never_panics() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.parquet");
        write(
            &good,
            ALL_TYPES,
            Compression::SNAPPY,
            vec![all_types_rows(), all_types_rows()],
        );
        let bytes = std::fs::read(&good).unwrap();
        let path = dir.path().join("bad.parquet");
        let mut errors = 0;
        for position in (0..bytes.len()).step_by(13) {
            for value in [0u8, 0xff] {
                let mut damaged = bytes.clone();
                damaged[position] = value;
                std::fs::write(&path, &damaged).unwrap();
                if let Err(error) = read_all(path.to_str().unwrap(), 2) {
                    assert!(error.to_string().contains("bad.parquet"), "{error}");
                    errors += 1;
                }
            }
        }
        assert!(errors > 50, "{errors}");
    }

    #[test]
    fn floats_render_like_python_repr() {
        let check = |value: f64, expected: &str| {
            if value.is_finite() {
                let mut text = String::new();
                write_python_float(&mut text, &format!("{value:e}"));
                assert_eq!(text, expected, "{value} from {{:e}}");
            }
            let mut text = String::new();
            float_cell(value, None, &mut text);
            assert_eq!(text, expected, "{value} from ryu");
        };
        check(1.5, "1.5");
        check(3.0, "3.0");
        check(-0.0, "-0.0");
        check(0.0001, "0.0001");
        check(0.00001, "1e-05");
        check(1.5e-7, "1.5e-07");
        check(123456.789, "123456.789");
        check(1e15, "1000000000000000.0");
        check(1e16, "1e+16");
        check(1.2345678901234568e17, "1.2345678901234568e+17");
        check(f64::INFINITY, "inf");
        check(f64::NEG_INFINITY, "-inf");
        check(0.1 + 0.2, "0.30000000000000004");
        check(5e-324, "5e-324");
        check(1.7976931348623157e308, "1.7976931348623157e+308");
        check(100.0, "100.0");
        check(-12.5e-5, "-0.000125");
        let mut text = String::new();
        float_cell(0.1, Some(0.1f32), &mut text);
        assert_eq!(text, "0.1");
    }

    #[test]
    fn dates_and_decimals_render_exactly() {
        let date = |days: i64| {
            let mut text = String::new();
            write_date(&mut text, days);
            text
        };
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(19_723), "2024-01-01");
        assert_eq!(date(-1), "1969-12-31");
        assert_eq!(date(-719_528), "0000-01-01");
        assert_eq!(date(11_016), "2000-02-29");
        let padded = |value: u64, width: usize| {
            let mut text = String::new();
            push_padded(&mut text, value, width);
            text
        };
        assert_eq!(padded(0, 1), "0");
        assert_eq!(padded(7, 2), "07");
        assert_eq!(padded(42, 1), "42");
        assert_eq!(padded(100, 6), "000100");
        assert_eq!(padded(12_345, 2), "12345");
        assert_eq!(padded(u64::MAX, 1), "18446744073709551615");
        let mut text = String::new();
        push_i64(&mut text, i64::MIN);
        assert_eq!(text, "-9223372036854775808");
        let decimal = |unscaled: i128, scale: i32| {
            let mut text = String::new();
            let (_, value) = decimal_cell(unscaled, scale, &mut text);
            (text, value)
        };
        assert_eq!(decimal(150, 2), ("1.50".to_string(), 1.5));
        assert_eq!(decimal(-5, 3), ("-0.005".to_string(), -0.005));
        assert_eq!(decimal(42, 0), ("42".to_string(), 42.0));
        assert_eq!(decimal(42, -2), ("4200".to_string(), 4200.0));
        assert_eq!(decimal_unscaled(&[0xff, 0xfe]), Some(-2));
        assert_eq!(decimal_unscaled(&[0x01, 0x00]), Some(256));
        assert_eq!(decimal_unscaled(&[0; 17]), None);
    }
}
