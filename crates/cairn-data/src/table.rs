//! The in-memory shape every source produces: a [`Chunk`] of rows, column by column.
//!
//! A cell is its text (as written in the file, or rendered from a typed source) plus what it is:
//! null, a number, a boolean or other text. Nulls follow pandas' defaults (`read_csv`'s `na_values`),
//! so results agree with Great Expectations on pandas: an empty field, `NA`, `NaN`, `null`, `None`...
//! and a float NaN are all null.

/// What one cell holds, as far as validation cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum CellKind {
    Null = 0,
    /// Integral number (`12`, `-3`), within i64.
    Int = 1,
    /// Any other number (`1.5`, `1e3`, `inf`).
    Float = 2,
    /// `True`/`False` (pandas' spelling) or `true`/`false`.
    Bool = 3,
    /// Anything else.
    Text = 4,
}

/// The strings pandas' `read_csv` reads as NaN by default.
pub const PANDAS_NULLS: &[&str] = &[
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
];

/// How text cells are read: which strings are null.
#[derive(Debug, Clone)]
pub struct CellReading {
    null_tokens: Vec<Vec<u8>>,
    /// Quick rejection: the longest token, whether "" is null, and per first byte a bit per token
    /// length (bit 63: a token of 63 bytes or more), so most cells are rejected without a compare.
    longest: usize,
    empty_is_null: bool,
    lengths_by_first_byte: [u64; 256],
}

/// The bit of a token length in [`CellReading::lengths_by_first_byte`].
fn length_bit(length: usize) -> u64 {
    1u64 << length.min(63)
}

impl Default for CellReading {
    fn default() -> Self {
        CellReading::with_nulls(PANDAS_NULLS.iter().map(|token| token.to_string()))
    }
}

impl CellReading {
    pub fn with_nulls(tokens: impl IntoIterator<Item = String>) -> CellReading {
        let null_tokens: Vec<Vec<u8>> = tokens.into_iter().map(String::into_bytes).collect();
        let mut lengths_by_first_byte = [0u64; 256];
        for token in &null_tokens {
            if let Some(first) = token.first() {
                lengths_by_first_byte[*first as usize] |= length_bit(token.len());
            }
        }
        CellReading {
            longest: null_tokens.iter().map(Vec::len).max().unwrap_or(0),
            empty_is_null: null_tokens.iter().any(Vec::is_empty),
            lengths_by_first_byte,
            null_tokens,
        }
    }

    pub fn is_null(&self, cell: &[u8]) -> bool {
        match cell.first() {
            None => self.empty_is_null,
            Some(first)
                if cell.len() <= self.longest
                    && self.lengths_by_first_byte[*first as usize] & length_bit(cell.len())
                        != 0 =>
            {
                self.null_tokens
                    .iter()
                    .any(|token| token.as_slice() == cell)
            }
            Some(_) => false,
        }
    }
}

/// Reads a number the way pandas does for a numeric column (leading/trailing spaces allowed).
pub fn parse_number(cell: &[u8]) -> Option<(f64, bool)> {
    let trimmed = trim_ascii(cell);
    if trimmed.is_empty() {
        return None;
    }
    if let Some(int) = parse_int(trimmed) {
        return Some((int as f64, true));
    }
    if let Some(value) = parse_plain_decimal(trimmed) {
        return Some((value, false));
    }
    let text = std::str::from_utf8(trimmed).ok()?;
    let first = trimmed[0];
    // Rust accepts "infinity"/"inf"/"nan" in any case; pandas takes inf/Infinity too, but not "nan"
    // here (that is null) nor hex or underscores.
    if !(first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.' | b'i' | b'I')) {
        return None;
    }
    let value: f64 = text.parse().ok()?;
    if value.is_nan() {
        return None;
    }
    Some((value, false))
}

/// Powers of ten exactly representable as f64.
const POWERS_OF_TEN: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// `-12.345` with at most 15 digits: the digits as an integer divided by a power of ten, both exact,
/// so the one rounding of the division gives the correctly rounded value (Clinger's fast path).
fn parse_plain_decimal(text: &[u8]) -> Option<f64> {
    let (negative, body) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let dot = body.iter().position(|b| *b == b'.')?;
    let (whole, fraction) = (&body[..dot], &body[dot + 1..]);
    if whole.len() + fraction.len() > 15 || (whole.is_empty() && fraction.is_empty()) {
        return None;
    }
    let mut mantissa: u64 = 0;
    for digit in whole.iter().chain(fraction) {
        if !digit.is_ascii_digit() {
            return None;
        }
        mantissa = mantissa * 10 + u64::from(digit - b'0');
    }
    let value = mantissa as f64 / POWERS_OF_TEN[fraction.len()];
    Some(if negative { -value } else { value })
}

fn parse_int(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut value: i64 = 0;
    for digit in digits {
        value = value * 10 + i64::from(digit - b'0');
    }
    Some(if negative { -value } else { value })
}

fn trim_ascii(cell: &[u8]) -> &[u8] {
    cell.trim_ascii()
}

/// Reads one cell's bytes: null, or (when `classify_cells`) its kind and number, else `Text`.
pub fn read_cell(bytes: &[u8], reading: &CellReading, classify_cells: bool) -> (CellKind, f64) {
    if reading.is_null(bytes) {
        (CellKind::Null, f64::NAN)
    } else if classify_cells {
        classify(bytes)
    } else {
        (CellKind::Text, f64::NAN)
    }
}

/// Classifies a non-null cell.
pub fn classify(cell: &[u8]) -> (CellKind, f64) {
    if let Some((value, integral)) = parse_number(cell) {
        return (
            if integral {
                CellKind::Int
            } else {
                CellKind::Float
            },
            value,
        );
    }
    match cell {
        b"True" | b"true" | b"TRUE" => (CellKind::Bool, 1.0),
        b"False" | b"false" | b"FALSE" => (CellKind::Bool, 0.0),
        _ => (CellKind::Text, f64::NAN),
    }
}

/// One column of a chunk.
#[derive(Debug, Clone, Default)]
pub struct Column {
    /// Concatenated cell text (valid UTF-8).
    data: String,
    /// `ends[i]` is where cell `i` ends in `data`.
    ends: Vec<u32>,
    /// Cell kinds; `Null` for nulls. Always filled.
    kinds: Vec<CellKind>,
    /// Numeric value of each cell (NaN unless Int/Float/Bool). Filled when the reader was asked for
    /// numbers ([`Needs::numbers`]), else empty.
    numbers: Vec<f64>,
}

impl Column {
    pub fn with_capacity(rows: usize, bytes: usize, numbers: bool) -> Column {
        Column {
            data: String::with_capacity(bytes),
            ends: Vec::with_capacity(rows),
            kinds: Vec::with_capacity(rows),
            numbers: if numbers {
                Vec::with_capacity(rows)
            } else {
                Vec::new()
            },
        }
    }

    /// Appends a text cell read from a file: null detection and classification happen here.
    /// `classify_cells` false only tells null from not null (kind `Text`).
    pub fn push_text(
        &mut self,
        cell: &str,
        reading: &CellReading,
        classify_cells: bool,
        numbers: bool,
    ) {
        let (kind, value) = read_cell(cell.as_bytes(), reading, classify_cells || numbers);
        self.data.push_str(cell);
        self.ends.push(self.data.len() as u32);
        self.kinds.push(kind);
        if numbers {
            self.numbers.push(value);
        }
    }

    /// A column from its parts: cell text laid end to end (checked to be UTF-8), where each cell
    /// ends, the kinds, and the numbers (empty, or one per cell). On bytes that are not UTF-8, the
    /// error is the index of the first bad cell.
    pub fn from_parts(
        data: Vec<u8>,
        ends: Vec<u32>,
        kinds: Vec<CellKind>,
        numbers: Vec<f64>,
    ) -> Result<Column, usize> {
        let data = String::from_utf8(data).map_err(|error| {
            let bad = error.utf8_error().valid_up_to() as u32;
            ends.partition_point(|end| *end <= bad)
        })?;
        Ok(Column {
            data,
            ends,
            kinds,
            numbers,
        })
    }

    /// Appends a typed cell (from Parquet or JSON): `text` is its rendering.
    pub fn push_typed(&mut self, text: &str, kind: CellKind, value: f64, numbers: bool) {
        self.data.push_str(text);
        self.ends.push(self.data.len() as u32);
        self.kinds.push(kind);
        if numbers {
            self.numbers.push(value);
        }
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The text of cell `row` (empty for a null read from CSV).
    pub fn text(&self, row: usize) -> &str {
        let start = if row == 0 {
            0
        } else {
            self.ends[row - 1] as usize
        };
        &self.data[start..self.ends[row] as usize]
    }

    pub fn kind(&self, row: usize) -> CellKind {
        self.kinds[row]
    }

    pub fn kinds(&self) -> &[CellKind] {
        &self.kinds
    }

    pub fn is_null(&self, row: usize) -> bool {
        self.kinds[row] == CellKind::Null
    }

    /// Numeric values (NaN for null and non-numeric cells); empty unless numbers were requested.
    pub fn numbers(&self) -> &[f64] {
        &self.numbers
    }

    pub fn has_numbers(&self) -> bool {
        self.numbers.len() == self.ends.len()
    }

    /// Iterates `(row_in_chunk, text)` over the cells.
    pub fn texts(&self) -> impl Iterator<Item = &str> + '_ {
        let mut start = 0usize;
        self.ends.iter().map(move |&end| {
            let text = &self.data[start..end as usize];
            start = end as usize;
            text
        })
    }
}

/// What a reader must compute for one column beyond its text and null flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// Classify every cell (int/float/bool/text) rather than only null/not null.
    pub kinds: bool,
    /// Parse numbers into [`Column::numbers`].
    pub numbers: bool,
}

/// A run of consecutive rows of one table.
#[derive(Debug, Clone, Default)]
pub struct Chunk {
    /// Index of the first row in the whole table (0-based, across files).
    pub first_row: u64,
    /// Which input file the rows come from (index into the source's file list).
    pub file_index: usize,
    /// Physical line of each row in its file (1-based), when the source has lines.
    pub lines: Vec<u64>,
    pub columns: Vec<Column>,
    pub n_rows: usize,
    /// The reader's estimate of the rows in the whole input (0: unknown), so that checks keeping
    /// per-row state can size it once instead of growing (and briefly doubling) it.
    pub rows_hint: u64,
}

impl Chunk {
    pub fn column(&self, index: usize) -> &Column {
        &self.columns[index]
    }

    /// The line of row `row` (within the chunk), or 0 when the source has no lines.
    pub fn line(&self, row: usize) -> u64 {
        self.lines.get(row).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_like_pandas() {
        let check = |cell: &str, expected: Option<(f64, bool)>| {
            assert_eq!(parse_number(cell.as_bytes()), expected, "{cell:?}");
        };
        check("12", Some((12.0, true)));
        check("-3", Some((-3.0, true)));
        check(" 7 ", Some((7.0, true)));
        check("1.5", Some((1.5, false)));
        check("1e3", Some((1000.0, false)));
        check(".5", Some((0.5, false)));
        check("inf", Some((f64::INFINITY, false)));
        check("-Infinity", Some((f64::NEG_INFINITY, false)));
        check("nan", None);
        check("abc", None);
        check("0x10", None);
        check("1_000", None);
        check("", None);
        check(
            "12345678901234567890",
            Some((12345678901234567890.0, false)),
        );
    }

    #[test]
    fn the_decimal_fast_path_rounds_like_the_standard_parser() {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200_000 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let digits = 1 + (state >> 60) as usize % 15;
            let fraction = (state >> 56) as usize % (digits + 1);
            let mantissa = (state >> 8) % 10u64.pow(digits as u32);
            let text = format!("{mantissa:0digits$}");
            let text = format!(
                "{}.{}",
                &text[..digits - fraction],
                &text[digits - fraction..]
            );
            assert_eq!(
                parse_number(text.as_bytes()).map(|(v, _)| v),
                text.parse::<f64>().ok(),
                "{text}"
            );
        }
    }

    #[test]
    fn nulls_follow_pandas_defaults() {
        let reading = CellReading::default();
        for token in ["", "NA", "NaN", "null", "None", "N/A", "<NA>"] {
            assert!(reading.is_null(token.as_bytes()), "{token:?}");
        }
        for token in ["0", "none", "x", "NULLS", "1", "1.#IN", "north", "nan0"] {
            assert!(!reading.is_null(token.as_bytes()), "{token:?}");
        }
        for token in ["1.#IND", "1.#QNAN", "#N/A N/A", "-nan", "nan", "n/a"] {
            assert!(reading.is_null(token.as_bytes()), "{token:?}");
        }
        let long = "x".repeat(70);
        let custom = CellReading::with_nulls([long.clone(), "missing".to_owned()]);
        assert!(custom.is_null(long.as_bytes()));
        assert!(custom.is_null(b"missing"));
        assert!(!custom.is_null("x".repeat(69).as_bytes()));
        assert!(!custom.is_null(b""));
    }

    #[test]
    fn column_keeps_text_kinds_and_numbers() {
        let reading = CellReading::default();
        let mut column = Column::with_capacity(4, 16, true);
        for cell in ["1", "", "x", "2.5", "True"] {
            column.push_text(cell, &reading, true, true);
        }
        assert_eq!(column.len(), 5);
        assert_eq!(column.text(2), "x");
        assert_eq!(
            column.texts().collect::<Vec<_>>(),
            ["1", "", "x", "2.5", "True"]
        );
        assert_eq!(
            column.kinds(),
            [
                CellKind::Int,
                CellKind::Null,
                CellKind::Text,
                CellKind::Float,
                CellKind::Bool
            ]
        );
        assert_eq!(column.numbers()[3], 2.5);
        assert!(column.numbers()[1].is_nan());
    }
}
